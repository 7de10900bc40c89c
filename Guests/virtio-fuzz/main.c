/* virtio-fuzz: a seeded hostile driver for the virtio-blk device (1AF4:1042). Each round resets the
 * device, negotiates random features, sets up queue 0 with random sizes, vectors and (sometimes)
 * junk ring addresses, fills the descriptor table, an indirect area and the available ring with
 * random descriptors, lengths, flags, next indices and heads, and notifies (sometimes a queue that
 * does not exist). Then it resets the device, sets it up properly and reads one sector past the
 * range writes can reach: the device must still work, and that sector must be the host's.
 *
 * Confinement, so the host can check that the disk outside sectors 0..4095 is unchanged: every
 * device-readable buffer lies in R, a region holding only zeros and request headers (OUT to a
 * sector in 32..255, FLUSH, GET_ID, an unknown type), and every device-writable one in W; a
 * descriptor may also point outside RAM. Any header the device can assemble from R, even across
 * buffers, is then an OUT to sector <= 2303 or past the disk, and a chain carries at most
 * (256 + 1024) * 512 bytes, so writes end below sector 3584. Bootargs: seed=N rounds=N. */
#include "fdt.h"
#include "guest.h"
#include "io.h"
#include "pci.h"

#define RINGS 0x1000000ull   /* descriptor table; avail at +0x1000, used at +0x2000 */
#define INDIRECT 0x1004000ull /* 64 KiB of descriptors for indirect tables */
#define R_BASE 0x1400000ull  /* 64 KiB of zeros and headers */
#define R_SIZE 0x10000ull
#define W_BASE 0x1800000ull  /* 2 MiB the device may write */
#define W_SIZE 0x200000ull
#define MAX_LEN 512u
#define PATTERN_SECTOR 5000u

static uint64_t state;
static uint64_t rnd(void)
{
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t bar0, ram_size;
#define COMMON(off) (bar0 + (off))
#define NOTIFY(q) (bar0 + 0x3000 + 4 * (uint64_t)(q))

static void put_descriptor(uint64_t at, int in_indirect)
{
    /* NEXT 3 times in 4, WRITE 1 in 2, INDIRECT 1 in 8 (rarer inside a table). */
    uint16_t flags = (uint16_t)((rnd() % 4 ? 1 : 0) | (rnd() % 2 ? 2 : 0) | (rnd() % (in_indirect ? 32 : 8) == 0 ? 4 : 0));
    uint64_t address;
    uint32_t length = (uint32_t)(rnd() % (MAX_LEN + 1));
    switch (rnd() % 10) {
    case 0: address = ram_size + rnd() % 0x100000; break;              /* past RAM */
    case 1: address = ~0ull - rnd() % 64; break;                        /* wraps */
    case 2: address = (flags & 2) ? W_BASE : R_BASE; length = 0x8000000u + (uint32_t)(rnd() % 0x1000); break; /* longer than RAM */
    case 3: case 4: case 5: /* what requests are made of: a header, a sector, a status byte */
        if (flags & 2) {
            address = W_BASE + rnd() % (W_SIZE - MAX_LEN);
            length = rnd() % 2 ? 1 : 512;
        } else if (rnd() % 2) {
            address = R_BASE + 16 * (rnd() % (R_SIZE / 16 - 1));
            length = 16;
        } else {
            address = R_BASE + rnd() % (R_SIZE - MAX_LEN);
            length = 512;
        }
        break;
    default: address = (flags & 2) ? W_BASE + rnd() % (W_SIZE - MAX_LEN) : R_BASE + rnd() % (R_SIZE - MAX_LEN); break;
    }
    if (flags & 4) { /* an indirect table: in the indirect area, any length */
        address = INDIRECT + 16 * (rnd() % 2048);
        length = (rnd() & 1) ? 16u * (uint32_t)(1 + rnd() % 64) : (uint32_t)rnd();
        if (rnd() % 8 == 0)
            address = rnd();
    }
    mmio_write64(at, address);
    mmio_write32(at + 8, length);
    mmio_write16(at + 12, flags);
    mmio_write16(at + 14, (uint16_t)(rnd() % 300));
}

static void setup(uint64_t features, uint16_t size, int junk)
{
    mmio_write8(COMMON(0x14), 0);
    mmio_write8(COMMON(0x14), 1 | 2);
    mmio_write32(COMMON(0x08), 0);
    mmio_write32(COMMON(0x0C), (uint32_t)features);
    mmio_write32(COMMON(0x08), 1);
    mmio_write32(COMMON(0x0C), (uint32_t)(features >> 32));
    mmio_write8(COMMON(0x14), 1 | 2 | 8);
    mmio_write16(COMMON(0x16), junk && rnd() % 8 == 0 ? (uint16_t)rnd() : 0);
    mmio_write16(COMMON(0x18), size);
    mmio_write16(COMMON(0x1A), junk ? (uint16_t)(rnd() % 4 == 0 ? rnd() : rnd() % 3) : 0xFFFF);
    uint64_t areas[3] = {RINGS, RINGS + 0x1000, RINGS + 0x2000};
    for (unsigned i = 0; i < 3; i++) {
        uint64_t a = junk && rnd() % 8 == 0 ? rnd() : areas[i];
        mmio_write32(COMMON(0x20 + 8 * i), (uint32_t)a);
        mmio_write32(COMMON(0x24 + 8 * i), (uint32_t)(a >> 32));
    }
    mmio_write16(COMMON(0x1C), 1);
    mmio_write8(COMMON(0x14), 1 | 2 | 8 | 4);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    struct dtb tree;
    const char *args = "";
    uint64_t base, seed = 1, rounds = 100;
    if (dtb_open(&tree, fdt, DTB_SIZE_UNKNOWN) != DTB_OK || dtb_memory(&tree, &base, &ram_size) != DTB_OK)
        guest_fail("virtio-fuzz: no memory node in the device tree");
    (void)dtb_bootargs(&tree, &args);
    if (bootarg_number(args, "seed", UINT64_MAX, &seed) < 0 || bootarg_number(args, "rounds", UINT64_MAX, &rounds) < 0)
        guest_failf("virtio-fuzz: bootargs \"%s\": seed= and rounds= take a number (decimal or 0x hex)", args);
    if (ram_size < W_BASE + W_SIZE)
        guest_failf("virtio-fuzz: needs at least %u MiB of RAM", (unsigned)((W_BASE + W_SIZE) >> 20));
    state = seed;

    const char *err = pci_init(fdt);
    if (err)
        guest_failf("virtio-fuzz: %s", err);
    uint32_t bdf;
    if (pci_find_device(pci_default, 0x1AF4, 0x1042, 0, &bdf) != 0)
        guest_fail("virtio-fuzz: no virtio-blk device (1af4:1042) on bus 0");
    bar0 = pci_bar_address(pci_default, bdf, 0);
    pci_command_set(pci_default, bdf, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 1);

    /* R: zeros, with headers at 16-byte slots. */
    memset((void *)(uintptr_t)R_BASE, 0, R_SIZE);
    for (uint64_t at = R_BASE; at < R_BASE + R_SIZE; at += 16) {
        static const uint8_t types[] = {1, 1, 4, 8, 0x63};
        if (rnd() % 3)
            continue;
        uint8_t type = types[rnd() % sizeof types];
        *(volatile uint32_t *)(uintptr_t)at = type;
        if (type == 1)
            *(volatile uint64_t *)(uintptr_t)(at + 8) = 32 + rnd() % 224;
    }

    printf("virtio-fuzz: seed %lu, %lu rounds\n", (unsigned long)seed, (unsigned long)rounds);
    for (uint64_t round = 0; round < rounds; round++) {
        static const uint64_t bits[] = {1ull << 32, 1ull << 28, 1ull << 29, 1ull << 2, 1ull << 6, 1ull << 9};
        uint64_t features = 0;
        for (unsigned i = 0; i < 6; i++)
            if (rnd() % 4)
                features |= bits[i];
        if (rnd() % 16 == 0)
            features = rnd();
        uint16_t size = rnd() % 8 == 0 ? (uint16_t)rnd() : (uint16_t)(1u << (rnd() % 9));
        unsigned entries = size && size <= 256 ? size : 256;
        for (unsigned i = 0; i < entries; i++)
            put_descriptor(RINGS + 16ull * i, 0);
        for (unsigned i = 0; i < 256; i++)
            put_descriptor(INDIRECT + 16ull * (rnd() % 4096), 1);
        /* Half the rounds start with a well-formed request in descriptors 0-2 (a header slot of R,
         * whatever request it holds, a sector of data, the status byte), so that requests are
         * served before the random chains stop the device. */
        int crafted = entries >= 4 && rnd() % 2;
        if (crafted) {
            uint64_t header = R_BASE + 16 * (rnd() % (R_SIZE / 16 - 1));
            for (unsigned tries = 0; tries < 4 && *(volatile uint32_t *)(uintptr_t)header != 1; tries++)
                header = R_BASE + 16 * (rnd() % (R_SIZE / 16 - 1)); /* writes, mostly */
            int out = *(volatile uint32_t *)(uintptr_t)header == 1;
            mmio_write64(RINGS, header); mmio_write32(RINGS + 8, 16); mmio_write16(RINGS + 12, 1); mmio_write16(RINGS + 14, 1);
            mmio_write64(RINGS + 16, out ? R_BASE + rnd() % (R_SIZE - 512) : W_BASE + rnd() % (W_SIZE - 1024));
            mmio_write32(RINGS + 24, 512); mmio_write16(RINGS + 28, out ? 1 : 3); mmio_write16(RINGS + 30, 2);
            mmio_write64(RINGS + 32, W_BASE + W_SIZE - 1); mmio_write32(RINGS + 40, 1); mmio_write16(RINGS + 44, 2);
        }
        mmio_write16(RINGS + 0x1000, (uint16_t)(rnd() % 4 == 0));   /* flags: NO_INTERRUPT */
        mmio_write16(RINGS + 0x1000 + 2, 0);
        mmio_write16(RINGS + 0x2000 + 2, 0);
        setup(features, size, 1);
        uint16_t idx = 0;
        for (unsigned burst = 0, n = 1 + (unsigned)(rnd() % 4); burst < n; burst++) {
            for (unsigned k = 0, m = 1 + (unsigned)(rnd() % 8); k < m; k++) {
                uint16_t head = crafted && (idx == 0 || rnd() % 2) ? 0 : (uint16_t)(rnd() % (entries + 2));
                mmio_write16(RINGS + 0x1000 + 4 + 2 * (uint64_t)(idx % entries), head);
                idx++;
            }
            if (rnd() % 16 == 0)
                idx = (uint16_t)rnd();
            mmio_write16(RINGS + 0x1000 + 4 + 2 * (uint64_t)entries, (uint16_t)rnd()); /* used_event */
            mmio_write16(RINGS + 0x1000 + 2, idx);
            mmio_write16(NOTIFY(rnd() % 8 == 0 ? rnd() % 4 : 0), 0);
            for (unsigned spin = 0; spin < 20; spin++)
                cpu_pause();
        }
        if (round % 25 == 0)
            printf("virtio-fuzz: round %lu, device status 0x%x\n", (unsigned long)round, mmio_read8(COMMON(0x14)));
    }

    /* The device still works: reset, set up properly, read sector PATTERN_SECTOR. */
    uint64_t desc = RINGS, avail = RINGS + 0x1000, used = RINGS + 0x2000;
    memset((void *)(uintptr_t)RINGS, 0, 0x3000);
    memset((void *)(uintptr_t)W_BASE, 0, 1024);
    *(volatile uint32_t *)(uintptr_t)R_BASE = 0; /* IN */
    *(volatile uint64_t *)(uintptr_t)(R_BASE + 8) = PATTERN_SECTOR;
    mmio_write64(desc, R_BASE);      mmio_write32(desc + 8, 16);  mmio_write16(desc + 12, 1); mmio_write16(desc + 14, 1);
    mmio_write64(desc + 16, W_BASE); mmio_write32(desc + 24, 512); mmio_write16(desc + 28, 3); mmio_write16(desc + 30, 2);
    mmio_write64(desc + 32, W_BASE + 512); mmio_write32(desc + 40, 1); mmio_write16(desc + 44, 2);
    *(volatile uint8_t *)(uintptr_t)(W_BASE + 512) = 0xFF;
    setup(1ull << 32, 8, 0);
    if (mmio_read8(COMMON(0x14)) != (1 | 2 | 4 | 8))
        guest_failf("virtio-fuzz: after a reset the device status reads 0x%x, not 0xf", mmio_read8(COMMON(0x14)));
    mmio_write16(avail + 4, 0);
    mmio_write16(avail + 2, 1);
    mmio_write16(NOTIFY(0), 0);
    for (unsigned t = 0; t < 2000000 && mmio_read16(used + 2) != 1; t++)
        cpu_pause();
    if (mmio_read16(used + 2) != 1)
        guest_fail("virtio-fuzz: the device answered no request after the fuzz");
    uint8_t status = *(volatile uint8_t *)(uintptr_t)(W_BASE + 512);
    if (status != 0)
        guest_failf("virtio-fuzz: reading sector %u returned status %u", PATTERN_SECTOR, status);
    for (unsigned i = 0; i < 512; i++) {
        uint64_t byte = (uint64_t)PATTERN_SECTOR * 512 + i;
        uint8_t want = (uint8_t)(byte * 31 + byte / 512);
        uint8_t got = *(volatile uint8_t *)(uintptr_t)(W_BASE + i);
        if (got != want)
            guest_failf("virtio-fuzz: sector %u byte %u reads 0x%x, the host wrote 0x%x", PATTERN_SECTOR, i, got, want);
    }
    printf("virtio-fuzz: the device survived %lu rounds and still reads sector %u correctly\n", (unsigned long)rounds, PATTERN_SECTOR);
    guest_pass();
}
