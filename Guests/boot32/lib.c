#include "lib.h"

static inline void outb(u16 port, u8 value) { __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }
static inline void outl(u16 port, u32 value) { __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port)); }
static inline void outw(u16 port, u16 value) { __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

void put(const char *s)
{
    while (*s)
        outb(0x3F8, (u8)*s++);
}

void put_hex(u64 value)
{
    char text[19];
    int i = 18;
    text[i] = 0;
    do {
        text[--i] = "0123456789abcdef"[value & 0xF];
        value >>= 4;
    } while (value && i > 2);
    text[--i] = 'x';
    text[--i] = '0';
    put(&text[i]);
}

void put_dec(u32 value)
{
    char text[11];
    int i = 10;
    text[i] = 0;
    do {
        text[--i] = (char)('0' + value % 10);
        value /= 10;
    } while (value && i > 0);
    put(&text[i]);
}

void pass(void)
{
    put("PASS\n");
    outl(0xF4, 0);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void fail(const char *what)
{
    put("FAIL: ");
    put(what);
    put("\n");
    outl(0xF4, 1);
    for (;;)
        __asm__ volatile("cli; hlt");
}

unsigned str_len(const char *s)
{
    unsigned n = 0;
    while (s[n])
        n++;
    return n;
}

int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

int starts_with(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

const char *find(const char *haystack, const char *needle)
{
    for (; *haystack; haystack++)
        if (starts_with(haystack, needle))
            return haystack;
    return 0;
}

u32 cmdline_number(const char *cmdline, const char *key, u32 otherwise)
{
    const char *at = find(cmdline, key);
    if (!at)
        return otherwise;
    at += str_len(key);
    if (*at++ != '=')
        return otherwise;
    u32 value = 0;
    while (*at >= '0' && *at <= '9')
        value = value * 10 + (u32)(*at++ - '0');
    return value;
}

void check_common_entry(void)
{
    CHECK(entry.cr0 & 1, "CR0.PE is clear: not in protected mode");
    CHECK(!(entry.cr0 & 0x80000000u), "CR0.PG is set: paging must be off");
    CHECK(!(entry.eflags & (1u << 9)), "EFLAGS.IF is set: interrupts must be off");
    CHECK(!(entry.eflags & (1u << 8)), "EFLAGS.TF is set");
    CHECK(!(entry.eflags & (1u << 17)), "EFLAGS.VM is set");
    /* Flat data segments: a word written through DS reads back through ES, SS and FS at the
     * same linear address. */
    static volatile u32 probe;
    probe = 0x5EC0FFEE;
    u32 via_es, via_ss;
    __asm__ volatile("movl %%es:(%1), %0" : "=r"(via_es) : "r"(&probe));
    __asm__ volatile("movl %%ss:(%1), %0" : "=r"(via_ss) : "r"(&probe));
    CHECK(via_es == 0x5EC0FFEE && via_ss == 0x5EC0FFEE, "ES or SS is not a flat data segment");
    put("entry: cr0="); put_hex(entry.cr0); put(" cr4="); put_hex(entry.cr4); put(" eflags="); put_hex(entry.eflags);
    put(" cs="); put_hex(entry.cs); put(" ds="); put_hex(entry.ds); put("\n");
}

void check_module(unsigned index, u64 start, u64 size, const char *name, u64 ram)
{
    static const char prefix[] = "vmm-module-";
    CHECK((start & 0xFFF) == 0, "a module is not page-aligned");
    CHECK(start >= (u64)(unsigned long)kernel_end, "a module overlaps the kernel");
    CHECK(start + size <= ram, "a module runs past the end of RAM");
    CHECK(size == sizeof(prefix) + 1, "a module has the wrong size");
    const char *bytes = (const char *)(unsigned long)start;
    for (unsigned i = 0; i + 1 < sizeof(prefix); i++)
        CHECK(bytes[i] == prefix[i], "a module's contents differ from what the test wrote");
    CHECK(bytes[sizeof(prefix) - 1] == (char)('0' + index) && bytes[sizeof(prefix)] == '\n', "modules are out of order");
    CHECK(name && str_len(name) > 0, "a module has no string");
    put("module "); put_dec(index); put(": "); put_hex(start); put(" "); put_dec((u32)size); put(" bytes, "); put(name); put("\n");
}

static u64 fw_cfg(u16 key, int bytes)
{
    u64 value = 0;
    outw(0x510, key);
    for (int i = 0; i < bytes; i++)
        value |= (u64)inb(0x511) << (8 * i);
    return value;
}

void check_pc_machine(const char *cmdline, u32 ram_mib)
{
    if (!find(cmdline, "pc-check"))
        return;
    CHECK(fw_cfg(0x00, 4) == 0x554D4551, "fw_cfg signature is not QEMU");
    u32 cpus = cmdline_number(cmdline, "cpus", 1);
    CHECK(fw_cfg(0x05, 2) == cpus, "fw_cfg CPU count differs from the machine's");
    CHECK(fw_cfg(0x03, 8) == (u64)ram_mib << 20, "fw_cfg RAM size differs from the machine's");
    CHECK(fw_cfg(0x11, 8) == 0, "an unknown fw_cfg key does not read 0");
    outl(0xE0, 0x12345678);
    CHECK(inl(0xE0) == 0x12345678, "pc-testdev scratch register");
    CHECK(inb(0xE2) == 0x34, "pc-testdev scratch register byte lane");
    volatile u32 *iomem = (volatile u32 *)0xFF000000;
    iomem[3] = 0xCAFEF00D;
    CHECK(iomem[3] == 0xCAFEF00D, "pc-testdev iomem");
    u32 t0 = inl(0x608);
    for (volatile int i = 0; i < 2000; i++)
        ;
    u32 t1 = inl(0x608);
    CHECK(t1 != t0, "the ACPI PM timer does not count");
    CHECK((inb(0x3FD) & 0x60) == 0x60, "COM1 line status: transmitter not empty");
    put("pc machine: fw_cfg, pc-testdev, PM timer, COM1 answer\n");
}
