/* boot32: the tiny 32-bit runtime of the boot-protocol guests (Multiboot, PVH). They start in
 * protected mode without paging, as their protocols say, and report through the console at
 * 0x3F8 and the exit port at 0xF4 (0 = pass). No stack until the entry code sets one. */
#ifndef BOOT32_LIB_H
#define BOOT32_LIB_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

/* What the entry code saw, before it touched anything. */
struct entry_state {
    u32 eax, ebx, eflags, cr0, cr4, cs, ds, es, ss;
};
extern struct entry_state entry;
/* The first byte after the kernel image (end of its bss). */
extern char kernel_end[];

void put(const char *s);
void put_hex(u64 value);
void put_dec(u32 value);
void pass(void) __attribute__((noreturn));
void fail(const char *what) __attribute__((noreturn));
#define CHECK(cond, what) do { if (!(cond)) fail(what); } while (0)

int str_eq(const char *a, const char *b);
int starts_with(const char *s, const char *prefix);
const char *find(const char *haystack, const char *needle);
unsigned str_len(const char *s);
/* The number after "key=" in a command line, or `otherwise`. */
u32 cmdline_number(const char *cmdline, const char *key, u32 otherwise);

/* Checks the entry state every protocol shares: protected mode, paging off, interrupts, trap
 * and virtual-8086 mode off, flat 32-bit segments (the code runs, and data reads through DS,
 * ES and SS agree with each other). */
void check_common_entry(void);
/* Checks one module: page-aligned, after the kernel, inside RAM, holding "vmm-module-<index>\n". */
void check_module(unsigned index, u64 start, u64 size, const char *name, u64 ram);

/* With "pc-check" on the command line: the pc machine's devices answer as QEMU's do (fw_cfg
 * signature, CPU count and RAM size; the pc-testdev scratch register and iomem; the PM timer
 * counts; COM1's line status). */
void check_pc_machine(const char *cmdline, u32 ram_mib);

#endif
