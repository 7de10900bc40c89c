/* hostile: a seeded hostile-guest fuzzer. Every vCPU makes random port, MMIO and PCI config accesses
 * to everything the VMM exposes (README.md lists them); the host test checks that the VMM survives.
 * The guest must survive too, so it never touches RAM, the in-kernel LAPIC/IOAPIC, the exit port or
 * the console, and never leaves an MSI-X table entry that could send anything but a Fixed interrupt
 * on IDT vector 0x30..0xEF (INIT, SMI, NMI or an exception vector would wedge or fail this vCPU). */
#include "msix.h"

#define MAX_DEVS 8
#define MAX_FUNCS 32
#define FUZZERS MSIX_COUNTER_CPUS /* the runtime counts interrupts on the first 8 vCPUs */
#define VEC_FIRST 0x30u
#define VEC_COUNT 0xC0u   /* 0x30..0xEF, each with a counting handler */
#define STALL_TICKS 60u   /* 60 x 0.5 s without progress: the other vCPUs are stuck */
#define GENERIC_OPS 17u   /* ops[0..16] need no test device */

enum cat { CONFIG, BAR, MSIX, PORT, MMIO, NCAT };

struct tdev {
    struct msix_dev d;
    uint32_t bar0_home, bar1_home, bar1_size;
    uint16_t cmd_home;
};

static struct tdev devs[MAX_DEVS];
static unsigned ndevs, nfuncs, nfuzzers;
static uint32_t funcs[MAX_FUNCS]; /* BDFs of bus 0, so that config accesses often hit something */
static uint64_t seed, ram_base, ram_size;
static uint32_t accesses;
/* Taken by every write that can reach config space (and so move a BAR or toggle decode), and by a
 * USE write across its check that no MSI-X table is mapped under it. */
static spinlock_t layout_lock = SPINLOCK_INIT;
static volatile uint32_t started, finished, progress[FUZZERS];
static uint32_t counts[FUZZERS][NCAT];
static uint64_t rng[FUZZERS];

/* ---- PRNG: splitmix64 seeds one xorshift64* stream per vCPU ---------------------------------- */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t rnd(void)
{
    uint64_t *s = &rng[this_cpu()], x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- Sized accesses: one instruction each, so one exit of that size ------------------------ */
static uint64_t mmio_rd(uint64_t a, unsigned n)
{
    return n == 1 ? mmio_read8(a) : n == 2 ? mmio_read16(a) : n == 4 ? mmio_read32(a) : mmio_read64(a);
}

static void mmio_wr(uint64_t a, unsigned n, uint64_t v)
{
    switch (n) {
    case 1: mmio_write8(a, (uint8_t)v); break;
    case 2: mmio_write16(a, (uint16_t)v); break;
    case 4: mmio_write32(a, (uint32_t)v); break;
    default: mmio_write64(a, v); break;
    }
}

static uint32_t port_rd(uint16_t p, unsigned n) { return n == 1 ? inb(p) : n == 2 ? inw(p) : inl(p); }

static void port_wr(uint16_t p, unsigned n, uint32_t v)
{
    switch (n) {
    case 1: outb(p, (uint8_t)v); break;
    case 2: outw(p, (uint16_t)v); break;
    default: outl(p, v); break;
    }
}

/* ---- The guarded paths every fuzz access goes through ---------------------------------------- */
static int overlaps(uint64_t a, uint64_t n, uint64_t base, uint64_t size) { return a < base + size && base < a + n; }

/* RAM (the guest would corrupt itself), the in-kernel LAPIC and IOAPIC (a stray ICR or SVR write
 * resets or silences a vCPU: the guest's doing, not the VMM's), KVM's private TSS and identity-map
 * pages below 0xFFFC0000, and anything past the 4 GiB identity map (a page fault). */
static int forbidden(uint64_t a, unsigned n)
{
    return a + n > (1ull << 32) || a < 0x100000 || overlaps(a, n, ram_base, ram_size) ||
           overlaps(a, n, LAPIC_BASE, 0x1000) || overlaps(a, n, IOAPIC_BASE, 0x1000) || overlaps(a, n, 0xFFFBC000u, 0x4000);
}

/* A moved BAR may be left unmapped (the bus refuses overlaps) with another device's MSI-X table
 * mapped at its address, so any MMIO write may land in a table. Entries are 16-byte aligned:
 * fixing the data bytes by address keeps every entry legal (byte 8 an IDT vector in 0x30..0xEF,
 * byte 9 with delivery mode, bits 10:8, Fixed). Address and control bytes may be anything. */
static uint64_t table_safe(uint64_t a, unsigned n, uint64_t v)
{
    unsigned i8 = (unsigned)(8 - a) & 15, i9 = (unsigned)(9 - a) & 15;
    uint64_t b = (v >> (8 * (i8 & 7))) & 0xFF;
    if (i8 < n && b - VEC_FIRST >= VEC_COUNT)
        v = (v & ~(0xFFull << (8 * i8))) | (VEC_FIRST + b % VEC_COUNT) << (8 * i8);
    if (i9 < n)
        v &= ~(7ull << (8 * i9));
    return v;
}

static uint64_t mem_read(uint64_t a, unsigned n) { return forbidden(a, n) ? ~0ull : mmio_rd(a, n); }

/* ECAM is registered before any BAR, so no table can be mapped inside it and a config write keeps
 * its value; a write touching it reaches config space, so it holds the layout lock. */
static void mem_write(uint64_t a, unsigned n, uint64_t v)
{
    uint64_t e = pci_host.ecam_base, size = pci_host.ecam_size;
    if (forbidden(a, n))
        return;
    if (!overlaps(a, n, e, size)) {
        mmio_wr(a, n, table_safe(a, n, v));
        return;
    }
    spin_lock(&layout_lock);
    mmio_wr(a, n, a >= e && a + n <= e + size ? v : table_safe(a, n, v));
    spin_unlock(&layout_lock);
}

/* 0xF4..0xF7 would end the run and 0x3F8 print garbage; 0xCF8..0xCFF writes reach config space. */
static int port_forbidden(uint16_t p, unsigned n) { return (p + n > 0xF4 && p < 0xF8) || (p + n > 0x3F8 && p <= 0x3F8); }

static uint32_t io_read(uint16_t p, unsigned n) { return port_forbidden(p, n) ? ~0u : port_rd(p, n); }

static void io_write(uint16_t p, unsigned n, uint32_t v)
{
    int config = p + n > 0xCF8 && p < 0xD00;
    if (port_forbidden(p, n))
        return;
    if (config)
        spin_lock(&layout_lock);
    port_wr(p, n, v);
    if (config)
        spin_unlock(&layout_lock);
}

/* All ones (as for BAR sizing), zero, a small value or anything. */
static uint64_t any_value(uint64_t r)
{
    switch (r & 7) {
    case 0: return ~0ull;
    case 1: return 0;
    case 2: return (r >> 3) & 0xFF;
    default: return rnd();
    }
}

/* A read, or (bit 0 of r) a write of any value. */
static void mem_any(uint64_t a, unsigned n, uint64_t r)
{
    if (r & 1)
        mem_write(a, n, any_value(r >> 1));
    else
        (void)mem_read(a, n);
}

static void io_any(uint16_t p, unsigned n, uint64_t r)
{
    if (r & 1)
        io_write(p, n, (uint32_t)any_value(r >> 1));
    else
        (void)io_read(p, n);
}

/* ---- Random choices ------------------------------------------------------------------------ */
static unsigned mem_size(uint64_t r) { return 1u << (r & 3); }  /* 1, 2, 4, 8 */
static unsigned port_size(uint64_t r) { return 1u << (r % 3); } /* 1, 2, 4 */

/* A function that exists (host bridge, test devices), any slot of bus 0, or any bus at all. */
static uint32_t pick_bdf(uint64_t r)
{
    uint32_t w = (uint32_t)(r >> 2);
    return (r & 2) == 0 ? funcs[w % nfuncs] : (r & 1) ? w & 0xFFFF : w & 0xFF;
}

/* Header and MSI-X capability registers (now and then misaligned), else any offset. */
static unsigned pick_reg(uint64_t r)
{
    static const uint8_t hot[] = {0x00, 0x04, 0x06, 0x0C, 0x10, 0x14, 0x18, 0x24, 0x30, 0x34, 0x3C, 0x40, 0x42, 0x44, 0x48};
    if (r & 1)
        return (unsigned)(r >> 2) & ((r & 2) ? 0xFFu : 0xFFFu);
    unsigned reg = hot[(r >> 2) % sizeof hot];
    if (ndevs && reg >= 0x40)
        reg = reg - 0x40 + devs[0].d.cap; /* the capability, wherever the device has it */
    return reg + (((r >> 8) & 7) == 0 ? (unsigned)(r >> 11) & 3 : 0);
}

static const struct tdev *pick_dev(uint64_t r) { return &devs[r % ndevs]; }

/* A vector number for RAISE, USE, ...: mostly in range, else just past the end or anything. */
static uint32_t pick_vector(const struct tdev *t, uint64_t r)
{
    switch (r & 7) {
    case 4: return t->d.vectors + (uint32_t)((r >> 3) & 15);
    case 5: return (uint32_t)(r >> 3) & 0xFFF;
    case 6: return 0xFFFFFFFFu;
    case 7: return (uint32_t)(r >> 3);
    default: return (uint32_t)(r >> 3) % t->d.vectors;
    }
}

/* ---- Config space ---------------------------------------------------------------------------- */
static uint64_t ecam(uint32_t bdf, unsigned reg) { return pci_host.ecam_base + ((uint64_t)bdf << 12) + reg; }

/* Read through ECAM, which another vCPU cannot redirect (the CF8 latch it can). */
static uint32_t bar_reg(const struct tdev *t, unsigned i) { return (uint32_t)mem_read(ecam(t->d.bdf, PCI_BAR0 + 4 * i), 4); }

/* A config write through CF8/CFC or ECAM (bit 0 of r chooses). */
static void cfg_write(uint64_t r, uint32_t bdf, unsigned reg, unsigned n, uint32_t v)
{
    if (r & 1) {
        io_write(PCI_CONFIG_ADDRESS_PORT, 4, 0x80000000u | bdf << 8 | (reg & 0xFC));
        io_write((uint16_t)(PCI_CONFIG_DATA_PORT + (reg & 3)), n, v);
    } else {
        mem_write(ecam(bdf, reg), n, v);
    }
}

static enum cat op_ecam(uint64_t r)
{
    uint64_t a = ecam(pick_bdf(r), pick_reg(r >> 20));
    mem_any(a, mem_size(r >> 36), r >> 38);
    return CONFIG;
}

/* One time in four any size at 0xCF8..0xCFF (byte/word accesses to the address port, straddles);
 * else an address in CF8 (enable bit mostly set, reserved bits now and then) and a data access. */
static enum cat op_cf8(uint64_t r)
{
    uint16_t port = (uint16_t)(PCI_CONFIG_ADDRESS_PORT + ((r >> 2) & 7));
    if (r & 3) {
        uint32_t address = pick_bdf(r >> 5) << 8 | (pick_reg(r >> 25) & 0xFF);
        address |= ((r >> 40) & 7) ? 0x80000000u : 0;
        address |= ((r >> 43) & 15) ? 0 : (uint32_t)rnd() & 0x7F000000u;
        io_write(PCI_CONFIG_ADDRESS_PORT, 4, address);
        port = (uint16_t)(PCI_CONFIG_DATA_PORT + ((r >> 2) & 3));
    }
    io_any(port, port_size(r >> 48), r >> 50);
    return CONFIG;
}

/* ---- Ports and MMIO anywhere ------------------------------------------------------------------ */
static enum cat op_port(uint64_t r)
{
    static const uint16_t hot[] = {0xCF8, 0xCFC, 0xE0, 0x3F8, 0xF4, 0x20, 0xA0, 0x4D0, 0x40, 0x70, 0x80, 0x92, 0xC000};
    uint16_t p = (r & 3) ? (uint16_t)(r >> 2) : (uint16_t)(hot[(r >> 2) % (sizeof hot / 2)] + ((r >> 8) & 7) - 3);
    io_any(p, port_size(r >> 18), r >> 20);
    return PORT;
}

static enum cat op_mmio(uint64_t r)
{
    uint64_t w = r >> 8, a;
    switch (r & 7) {
    case 0: case 1: a = pci_host.mmio_base - 0x1000 + w % (pci_host.mmio_size + 0x2000); break; /* window, edges */
    case 2: a = pci_host.ecam_base + w % pci_host.ecam_size; break;
    case 3: a = PROBE_MMIO - 0x800 + (w & 0x1FFF); break;
    case 4: case 5: a = 0xE0000000u + w % (IOAPIC_BASE - 0xE0000000u); break; /* mostly unclaimed */
    default: a = (uint32_t)w; break;
    }
    mem_any(a, mem_size(r >> 40), r >> 42);
    return MMIO;
}

/* ---- BARs and the Command register ------------------------------------------------------------ */
static uint32_t bar_target(const struct tdev *t, unsigned bar, uint64_t r)
{
    uint32_t size = bar ? t->bar1_size : MSIXDEV_BAR0_SIZE;
    uint64_t w = r >> 4;
    switch (r & 15) {
    case 6: case 7: return (uint32_t)(pci_host.mmio_base + w % pci_host.mmio_size) & ~(size - 1);
    case 8: return (uint32_t)(pci_host.mmio_base + pci_host.mmio_size - size / 2); /* straddles the end */
    case 9: return bar_reg(pick_dev(w), (unsigned)(w >> 8) & 1) & ~0xFu;            /* onto another BAR */
    case 10: return (uint32_t)w;
    case 11: return 0;
    case 12: return 0xFFFFFFFFu; /* sizing: read back below; it decodes nowhere until the next move */
    case 13: return (w & 1) ? (uint32_t)PROBE_MMIO : (uint32_t)pci_host.ecam_base;
    case 14: return (w & 1) ? (uint32_t)LAPIC_BASE : (uint32_t)(ram_base + ram_size / 2);
    default: return bar ? t->bar1_home : t->bar0_home; /* home, so that the devices stay mostly reachable */
    }
}

static enum cat op_bar_move(uint64_t r)
{
    const struct tdev *t = pick_dev(r);
    unsigned bar = (unsigned)(r >> 8) & 1, reg = PCI_BAR0 + 4 * bar;
    uint32_t v = bar_target(t, bar, r >> 9);
    if ((r >> 40) & 3) {
        cfg_write(r >> 42, t->d.bdf, reg, 4, v);
    } else { /* two halves: the intermediate address decodes in between */
        cfg_write(r >> 42, t->d.bdf, reg, 2, v & 0xFFFF);
        cfg_write(r >> 43, t->d.bdf, reg + 2, 2, v >> 16);
    }
    (void)bar_reg(t, bar);
    return BAR;
}

static enum cat op_command(uint64_t r)
{
    const struct tdev *t = pick_dev(r);
    uint32_t cur = (uint32_t)mem_read(ecam(t->d.bdf, PCI_COMMAND), 2), v;
    switch ((r >> 8) & 7) {
    case 3: v = cur ^ PCI_COMMAND_MEMORY; break;
    case 4: v = cur ^ PCI_COMMAND_MASTER; break;
    case 5: v = cur ^ PCI_COMMAND_IO; break;
    case 6: v = (uint32_t)rnd(); break;
    default: v = t->cmd_home | PCI_COMMAND_MASTER; break;
    }
    unsigned n = ((r >> 11) & 3) == 0 ? 4 : ((r >> 11) & 3) == 1 ? 1 : 2; /* 4 bytes: Status too (RW1C) */
    cfg_write(r >> 13, t->d.bdf, PCI_COMMAND, n, v);
    return BAR;
}

/* ---- MSI-X: Message Control, table and PBA, device registers ---------------------------------- */
static enum cat op_control(uint64_t r)
{
    const struct tdev *t = pick_dev(r);
    unsigned cap = t->d.cap, reg = cap + MSIX_CAP_CONTROL, n = 2;
    uint32_t v = (uint32_t)(r >> 12) & 0xFFFF;
    switch ((r >> 8) & 7) {
    case 0: v = 0; break;
    case 1: case 2: case 3: v = MSIX_CONTROL_ENABLE; break; /* mostly enabled, so interrupts flow */
    case 4: v = MSIX_CONTROL_ENABLE | MSIX_CONTROL_MASKALL; break;
    case 5: reg = cap + 3, n = 1, v &= 0xFF; break;
    case 6: reg = cap, n = 4, v = (uint32_t)rnd(); break;
    default: break;
    }
    cfg_write(r >> 11, t->d.bdf, reg, n, v);
    return MSIX;
}

/* The bytes of a legal entry from byte `pos` on, repeating every 16. Address 0xFEE0_0000 | dest
 * << 12, dest vCPU 0, the last vCPU, one past it (no such APIC) or any ID (0xFF broadcasts), RH/DM
 * bits now and then; data a vector in 0x30..0xEF, delivery mode Fixed (trigger, level and reserved
 * bits now and then); control masked one time in four (reserved bits now and then). */
static uint64_t entry_bytes(uint64_t r, unsigned pos)
{
    uint64_t dest = (r & 2) ? ((r & 1) ? (r >> 2) & 0xFF : nfuzzers) : (r & 1) ? nfuzzers - 1 : 0;
    uint64_t lo = MSI_ADDRESS_BASE | dest << 12 | ((((r >> 10) & 7) == 0) ? (r >> 13) & 0xC : 0);
    uint64_t data = (VEC_FIRST + (r >> 16) % VEC_COUNT) | ((((r >> 24) & 7) == 0) ? (r >> 27) & 0xFFFFC000u : 0);
    uint64_t ctrl = (((r >> 58) & 3) == 0) | ((((r >> 60) & 7) == 0) ? rnd() & 0xFFFFFFFEu : 0);
    uint64_t hi = data | ctrl << 32, t = lo;
    if (pos >= 8)
        lo = hi, hi = t, pos -= 8;
    return pos ? lo >> (8 * pos) | hi << (64 - 8 * pos) : lo;
}

static enum cat op_table(uint64_t r)
{
    const struct tdev *t = pick_dev(r);
    uint64_t base = bar_reg(t, 1) & ~0xFull;
    uint32_t w = (uint32_t)(r >> 11), off;
    switch ((r >> 8) & 7) {
    case 5: case 6: off = t->d.pba_offset + w % ((t->d.vectors + 63) / 64 * 8 + 8); break; /* PBA, just past */
    case 7: off = w % t->bar1_size; break;
    default: off = (w % t->d.vectors) * MSIX_ENTRY_SIZE + ((r >> 40) & 15); break;
    }
    unsigned n = mem_size(r >> 44);
    if ((r >> 46) & 3)
        mem_write(base + off, n, entry_bytes(rnd(), (unsigned)(base + off) & 15));
    else
        (void)mem_read(base + off, n);
    return MSIX;
}

/* USE takes a vector number, seldom a legal MSI data byte. It goes out as it is only when no BAR1
 * register covers the address (so no table is mapped there), checked and written with config
 * writes held off; else it is fixed like any other write. */
static void write_use(uint64_t base, uint32_t v)
{
    uint64_t a = base + MSIXDEV_USE;
    int raw = 1;
    spin_lock(&layout_lock);
    for (unsigned i = 0; i < ndevs && raw; i++)
        raw = a - (bar_reg(&devs[i], 1) & ~0xFull) >= devs[i].bar1_size;
    if (!forbidden(a, 4))
        mmio_write32(a, raw ? v : (uint32_t)table_safe(a, 4, v));
    spin_unlock(&layout_lock);
}

static enum cat op_regs(uint64_t r)
{
    const struct tdev *t = pick_dev(r);
    uint64_t base = bar_reg(t, 0) & ~0xFull, off = (r >> 12) % MSIXDEV_BAR0_SIZE;
    uint32_t v = pick_vector(t, r >> 12);
    switch ((r >> 8) & 15) {
    case 0: case 1: case 2: mem_write(base + MSIXDEV_RAISE, 4, v); break;
    case 3: case 4: mem_write(base + MSIXDEV_RAISE_BACKEND, 4, v); break;
    case 5: case 6: write_use(base, v); break;
    case 7: mem_write(base + MSIXDEV_UNUSE, 4, v); break;
    case 8: case 9: mem_write(base + MSIXDEV_DOORBELL(v % 2048), 4, v); break;
    case 10: mem_write(base + MSIXDEV_RESET_COUNTS, 4, v); break;
    case 11: /* snapshot, reset, restore: costly with many vectors, so seldom */
        if (((r >> 44) & 7) == 0)
            mem_write(base + MSIXDEV_SAVE_RESTORE, 4, v);
        break;
    case 12: case 13: (void)mem_read(base + ((r >> 12) & 0x3C), 4); break;
    default: mem_any(base + off, mem_size(r >> 45), r >> 47); break;
    }
    return MSIX;
}

typedef enum cat (*op_fn)(uint64_t r);
/* BAR moves and decode toggles are few: each costs the VMM milliseconds (KVM_IOEVENTFD calls). */
static const op_fn ops[32] = {
    /* need no test device (the first GENERIC_OPS) */
    op_ecam, op_ecam, op_ecam, op_ecam, op_ecam, op_cf8, op_cf8, op_cf8, op_cf8, op_cf8, op_cf8,
    op_port, op_port, op_port, op_mmio, op_mmio, op_mmio,
    /* need one */
    op_table, op_table, op_table, op_table, op_table, op_regs, op_regs, op_regs, op_regs, op_regs,
    op_control, op_control, op_bar_move, op_bar_move, op_command,
};

/* Batches of 64; one in four with interrupts held off, so that they pile up and arrive together. */
static void fuzz(unsigned cpu, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        atomic_store32(&progress[cpu], i);
        if ((i & 63) == 0) {
            if (((i >> 6) & 3) == 3)
                cpu_cli();
            else
                cpu_sti();
        }
        uint64_t r = rnd();
        unsigned k = ndevs ? (unsigned)(r & 31) : (unsigned)(r & 31) % GENERIC_OPS;
        counts[cpu][ops[k](r >> 5)]++;
    }
    cpu_sti();
}

/* ---- Set-up ---------------------------------------------------------------------------------- */
static void read_tree(const void *fdt)
{
    struct dtb t;
    const char *args = "", *err;
    uint64_t n = 100000;
    unsigned cpus;
    if (dtb_open(&t, fdt, DTB_SIZE_UNKNOWN) != DTB_OK || dtb_memory(&t, &ram_base, &ram_size) != DTB_OK ||
        dtb_cpu_count(&t, &cpus) != DTB_OK)
        guest_fail("hostile: device tree unreadable (memory, cpus)");
    (void)dtb_bootargs(&t, &args);
    seed = 1;
    if (bootarg_number(args, "seed", UINT64_MAX, &seed) < 0 || bootarg_number(args, "accesses", UINT64_MAX, &n) < 0)
        guest_failf("hostile: bootargs \"%s\": seed= and accesses= take a number (decimal or 0x hex)", args);
    accesses = n > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)n;
    nfuzzers = cpus < FUZZERS ? cpus : FUZZERS;
    if ((err = pci_init(fdt)) != 0)
        guest_failf("hostile: %s", err);
}

/* Every table entry gets a legal message (masked) first: an entry left with data 0 would send IDT
 * vector 0, the guest's own #DE, once something unmasks and raises it. */
static void open_devices(const void *fdt)
{
    static struct pci_function f[MAX_FUNCS];
    unsigned total = pci_enumerate(PCI_ACCESS_ECAM, f, MAX_FUNCS);
    uint32_t bdf;
    for (nfuncs = 0; nfuncs < total && nfuncs < MAX_FUNCS; nfuncs++)
        funcs[nfuncs] = f[nfuncs].bdf;
    if (nfuncs == 0)
        funcs[nfuncs++] = 0;
    while (ndevs < MAX_DEVS && pci_find_device(PCI_ACCESS_ECAM, MSIXDEV_VENDOR, MSIXDEV_DEVICE, ndevs, &bdf) == 0) {
        struct tdev *t = &devs[ndevs];
        const char *err = msix_open(&t->d, fdt, ndevs);
        if (err)
            guest_failf("hostile: test device %u: %s", ndevs, err);
        t->bar0_home = (uint32_t)t->d.regs;
        t->bar1_home = (uint32_t)pci_bar_address(PCI_ACCESS_ECAM, t->d.bdf, 1);
        t->bar1_size = msixdev_bar1_size(t->d.vectors);
        t->cmd_home = pci_read16(t->d.bdf, PCI_COMMAND);
        for (unsigned v = 0; v < t->d.vectors; v++)
            msix_program64(&t->d, v, v % nfuzzers, (uint8_t)(VEC_FIRST + v % VEC_COUNT), 1);
        ndevs++;
    }
}

/* ---- After the fuzz: the VMM must still work ------------------------------------------------- */
static void wait_for_others(void)
{
    for (uint32_t last = ~0u, still = 0, sum; atomic_load32(&finished) != nfuzzers - 1; last = sum) {
        sum = 0;
        for (unsigned c = 1; c < nfuzzers; c++)
            sum += atomic_load32(&progress[c]);
        if ((still = sum == last ? still + 1 : 0) == STALL_TICKS)
            guest_failf("hostile: seed=%llu: the other vCPUs made no progress for 30 s (%u operations done)",
                        (unsigned long long)seed, sum);
        delay_us(500000);
    }
}

/* Every device back home with decode on (all decode off first, so that no BAR is in another's
 * way): IDs through CF8 and ECAM, MAGIC at BAR0, and one interrupt through device 0. */
static void check_devices(void)
{
    const uint32_t ids = (uint32_t)MSIXDEV_DEVICE << 16 | MSIXDEV_VENDOR;
    for (unsigned i = 0; i < ndevs; i++)
        pci_cfg_write(PCI_ACCESS_CF8, devs[i].d.bdf, PCI_COMMAND, 2, 0);
    for (unsigned i = 0; i < ndevs; i++) {
        pci_cfg_write(PCI_ACCESS_CF8, devs[i].d.bdf, PCI_BAR0, 4, devs[i].bar0_home);
        pci_cfg_write(PCI_ACCESS_CF8, devs[i].d.bdf, PCI_BAR0 + 4, 4, devs[i].bar1_home);
    }
    for (unsigned i = 0; i < ndevs; i++) {
        const struct msix_dev *d = &devs[i].d;
        pci_cfg_write(PCI_ACCESS_CF8, d->bdf, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        uint32_t a = pci_cfg_read(PCI_ACCESS_CF8, d->bdf, 0, 4), b = pci_cfg_read(PCI_ACCESS_ECAM, d->bdf, 0, 4);
        uint32_t magic = msixdev_read(d, MSIXDEV_MAGIC);
        if (a != ids || b != ids || magic != MSIXDEV_MAGIC_VALUE)
            guest_failf("hostile: seed=%llu: after the fuzz device %u reads IDs 0x%08x (CF8) 0x%08x (ECAM), MAGIC 0x%08x",
                        (unsigned long long)seed, i, a, b, magic);
    }
    if (!ndevs)
        return;
    const struct msix_dev *d = &devs[0].d;
    msix_program(d, 0, lapic_id(), VEC_FIRST); /* this vCPU (0), whatever APIC ID the machine gave it */
    msix_unmask(d, 0);
    pci_cfg_write(PCI_ACCESS_CF8, d->bdf, d->cap + MSIX_CAP_CONTROL, 2, MSIX_CONTROL_ENABLE);
    msix_use(d, 0); /* the fuzz may have left vector 0 unused, and RAISE drops unused vectors */
    uint32_t before = msix_count_on(0, VEC_FIRST);
    msix_raise(d, 0);
    if (!wait_until(msix_count_on(0, VEC_FIRST) > before, MSIX_WAIT_US))
        guest_failf("hostile: seed=%llu: after the fuzz a RAISE of device 0 vector 0 was not delivered",
                    (unsigned long long)seed);
}

/* The probe answers ~V truncated to the access size, at port 0xE0 and on its MMIO page. */
static void check_probe(void)
{
    for (unsigned n = 1; n <= 8; n <<= 1) {
        uint64_t v = rnd(), want = ~v & (n == 8 ? ~0ull : (1ull << (8 * n)) - 1), got;
        mmio_wr(PROBE_MMIO, n, v);
        if ((got = mmio_rd(PROBE_MMIO, n)) != want)
            guest_failf("hostile: after the fuzz the probe page read 0x%llx, expected 0x%llx (%u bytes)",
                        (unsigned long long)got, (unsigned long long)want, n);
        if (n == 8)
            break;
        port_wr(PROBE_PORT, n, (uint32_t)v);
        if ((got = port_rd(PROBE_PORT, n)) != want)
            guest_failf("hostile: after the fuzz probe port 0xE0 read 0x%llx, expected 0x%llx (%u bytes)",
                        (unsigned long long)got, (unsigned long long)want, n);
    }
}

static void report(void)
{
    uint32_t sum[NCAT] = {0}, irqs = 0;
    for (unsigned c = 0; c < nfuzzers; c++)
        for (unsigned k = 0; k < NCAT; k++)
            sum[k] += counts[c][k];
    for (unsigned c = 0; c < MSIX_COUNTER_CPUS; c++)
        for (unsigned v = VEC_FIRST; v < VEC_FIRST + VEC_COUNT; v++)
            irqs += atomic_load32(&msix_irq_count[c][v]);
    printf("hostile: seed=%llu accesses=%u config=%u bar=%u msix=%u port=%u mmio=%u interrupts=%u\n",
           (unsigned long long)seed, accesses, sum[CONFIG], sum[BAR], sum[MSIX], sum[PORT], sum[MMIO], irqs);
}

/* vCPU c's part of the N operations (vCPU 0 takes the remainder). */
static uint32_t share(unsigned c) { return accesses / nfuzzers + (c == 0 ? accesses % nfuzzers : 0); }

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0) {
        msix_setup_cpu();
        while (!wait_until(atomic_load32(&started), 1000000))
            ;
        if (cpu < nfuzzers) {
            fuzz(cpu, share(cpu));
            atomic_fetch_add32(&finished, 1);
        }
        cpu_halt_forever();
    }
    read_tree(fdt);
    msix_setup_cpu();
    for (unsigned v = VEC_FIRST; v < VEC_FIRST + VEC_COUNT; v++)
        msix_install_handler((uint8_t)v);
    open_devices(fdt);
    for (unsigned c = 0; c < nfuzzers; c++)
        rng[c] = splitmix64(seed + 0x9E3779B97F4A7C15ull * c) | 1; /* never 0: xorshift would stay 0 */
    printf("hostile: seed=%llu accesses=%u vcpus=%u devices=%u vectors=%u ram=0x%llx ecam=0x%llx window=0x%llx+0x%llx\n",
           (unsigned long long)seed, accesses, nfuzzers, ndevs, ndevs ? devs[0].d.vectors : 0,
           (unsigned long long)ram_size, (unsigned long long)pci_host.ecam_base, (unsigned long long)pci_host.mmio_base,
           (unsigned long long)pci_host.mmio_size);
    atomic_store32(&started, 1);
    fuzz(0, share(0));
    wait_for_others();
    check_devices();
    check_probe();
    report();
    guest_pass();
}
