/* pci-enum: bus 0 through CF8/CFC and ECAM, the test device's header, BARs, decode and capability
 * list. Every check is named; the first broken one fails the run. Only vCPU 0 runs. */
#include "guest.h"
#include "msix.h"
#include "pci.h"

#define MAX_FUNCTIONS 64

static void check(int ok, const char *what)
{
    if (!ok)
        guest_failf("pci-enum: %s", what);
}

static const char *mech_name(enum pci_access how) { return how == PCI_ACCESS_CF8 ? "CF8" : "ECAM"; }

static uint32_t window_end(void) { return (uint32_t)(pci_host.mmio_base + pci_host.mmio_size); }

static int in_window(uint64_t address, uint64_t size)
{
    return address >= pci_host.mmio_base && size <= pci_host.mmio_size &&
           address - pci_host.mmio_base <= pci_host.mmio_size - size;
}

/* The 64-byte header read as 16 dwords through both mechanisms must be identical; and byte and
 * word reads through each must agree with the dwords. */
static void compare_header(uint32_t bdf, const char *name)
{
    for (unsigned off = 0; off < 64; off += 4) {
        uint32_t a = pci_cfg_read(PCI_ACCESS_CF8, bdf, off, 4);
        uint32_t b = pci_cfg_read(PCI_ACCESS_ECAM, bdf, off, 4);
        if (a != b)
            guest_failf("pci-enum: %s header dword 0x%02x differs: CF8 0x%08x, ECAM 0x%08x", name, off, a, b);
    }
    for (unsigned m = 0; m < 2; m++) {
        enum pci_access how = m ? PCI_ACCESS_ECAM : PCI_ACCESS_CF8;
        for (unsigned off = 0; off < 16; off += 4) {
            uint32_t d = pci_cfg_read(how, bdf, off, 4);
            for (unsigned i = 0; i < 4; i++) {
                uint32_t byte = pci_cfg_read(how, bdf, off + i, 1);
                if (byte != ((d >> (8 * i)) & 0xFF))
                    guest_failf("pci-enum: %s %s byte read at 0x%02x is 0x%02x, dword says 0x%02x", name,
                                mech_name(how), off + i, byte, (d >> (8 * i)) & 0xFF);
            }
            for (unsigned i = 0; i < 4; i += 2) {
                uint32_t word = pci_cfg_read(how, bdf, off + i, 2);
                if (word != ((d >> (8 * i)) & 0xFFFF))
                    guest_failf("pci-enum: %s %s word read at 0x%02x is 0x%04x, dword says 0x%04x", name,
                                mech_name(how), off + i, word, (d >> (8 * i)) & 0xFFFF);
            }
        }
    }
    printf("pci-enum: %s: 64-byte header identical through CF8 and ECAM\n", name);
}

static void move_bar0(enum pci_access how, uint32_t bdf, uint64_t from, uint64_t to, const char *step)
{
    pci_bar_set_address(how, bdf, 0, to);
    uint32_t reg = pci_cfg_read(how, bdf, PCI_BAR0, 4);
    if (reg != (uint32_t)to)
        guest_failf("pci-enum: %s: BAR0 reads 0x%08x after writing 0x%08x", step, reg, (uint32_t)to);
    uint32_t magic = mmio_read32(to + MSIXDEV_MAGIC);
    if (magic != MSIXDEV_MAGIC_VALUE)
        guest_failf("pci-enum: %s: MAGIC at the new BAR0 address 0x%llx reads 0x%08x", step,
                    (unsigned long long)to, magic);
    uint32_t old = mmio_read32(from + MSIXDEV_MAGIC);
    if (old != 0xFFFFFFFFu)
        guest_failf("pci-enum: %s: the old BAR0 address 0x%llx still reads 0x%08x (expected all ones)", step,
                    (unsigned long long)from, old);
    printf("pci-enum: %s: BAR0 0x%llx -> 0x%llx, MAGIC follows, old address reads all ones\n", step,
           (unsigned long long)from, (unsigned long long)to);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();

    const char *err = pci_init(fdt);
    if (err)
        guest_failf("pci-enum: %s", err);
    printf("pci-enum: %s: ECAM 0x%llx (0x%llx bytes), MMIO window 0x%llx (0x%llx bytes)\n", pci_host.node_name,
           (unsigned long long)pci_host.ecam_base, (unsigned long long)pci_host.ecam_size,
           (unsigned long long)pci_host.mmio_base, (unsigned long long)pci_host.mmio_size);
    check(pci_host.mmio_base + pci_host.mmio_size <= 0x100000000ull, "MMIO window from the tree ends above 4 GiB");

    /* ---- Enumeration through both mechanisms -------------------------------------------- */
    static struct pci_function by_cf8[MAX_FUNCTIONS], by_ecam[MAX_FUNCTIONS];
    unsigned n_cf8 = pci_enumerate(PCI_ACCESS_CF8, by_cf8, MAX_FUNCTIONS);
    unsigned n_ecam = pci_enumerate(PCI_ACCESS_ECAM, by_ecam, MAX_FUNCTIONS);
    if (n_cf8 != n_ecam)
        guest_failf("pci-enum: CF8 finds %u functions, ECAM %u", n_cf8, n_ecam);
    check(n_cf8 >= 1 && n_cf8 <= MAX_FUNCTIONS, "bus 0 has between 1 and 64 functions");
    for (unsigned i = 0; i < n_cf8; i++) {
        const struct pci_function *a = &by_cf8[i], *b = &by_ecam[i];
        if (a->bdf != b->bdf || a->vendor != b->vendor || a->device != b->device || a->class_code != b->class_code ||
            a->header_type != b->header_type)
            guest_failf("pci-enum: function %u differs: CF8 %02x:%02x.%x %04x:%04x, ECAM %02x:%02x.%x %04x:%04x", i,
                        PCI_BDF_BUS(a->bdf), PCI_BDF_DEV(a->bdf), PCI_BDF_FN(a->bdf), a->vendor, a->device,
                        PCI_BDF_BUS(b->bdf), PCI_BDF_DEV(b->bdf), PCI_BDF_FN(b->bdf), b->vendor, b->device);
        printf("pci-enum: 00:%02x.%x %04x:%04x class %06x header type 0x%02x\n", PCI_BDF_DEV(a->bdf),
               PCI_BDF_FN(a->bdf), a->vendor, a->device, a->class_code, a->header_type);
    }

    /* ---- Host bridge -------------------------------------------------------------------- */
    check(by_cf8[0].bdf == PCI_BDF(0, 0, 0), "host bridge present at 00:00.0");
    check((by_cf8[0].class_code >> 8) == 0x0600, "host bridge at 00:00.0 has class 0x0600");
    check((by_cf8[0].header_type & 0x7F) == 0, "host bridge has header type 0");
    compare_header(PCI_BDF(0, 0, 0), "host bridge");

    /* An absent slot reads all ones through both. */
    for (unsigned dev = 1; dev < 32; dev++) {
        uint32_t bdf = PCI_BDF(0, dev, 0);
        int listed = 0;
        for (unsigned i = 0; i < n_cf8; i++)
            listed |= PCI_BDF_DEV(by_cf8[i].bdf) == dev;
        if (listed)
            continue;
        check(pci_cfg_read(PCI_ACCESS_CF8, bdf, 0, 4) == 0xFFFFFFFFu, "an empty slot reads all ones through CF8");
        check(pci_cfg_read(PCI_ACCESS_ECAM, bdf, 0, 4) == 0xFFFFFFFFu, "an empty slot reads all ones through ECAM");
        printf("pci-enum: empty slot 00:%02x.0 reads all ones through both\n", dev);
        break;
    }

    /* ---- Test device: by IDs and by class, both mechanisms ------------------------------- */
    uint32_t dev_cf8, dev_ecam, cls_cf8, cls_ecam;
    check(pci_find_device(PCI_ACCESS_CF8, MSIXDEV_VENDOR, MSIXDEV_DEVICE, 0, &dev_cf8) == 0,
          "test device found (5357:0001) through CF8");
    check(pci_find_device(PCI_ACCESS_ECAM, MSIXDEV_VENDOR, MSIXDEV_DEVICE, 0, &dev_ecam) == 0,
          "test device found (5357:0001) through ECAM");
    check(pci_find_class(PCI_ACCESS_CF8, MSIXDEV_CLASS, 0xFFFFFF, 0, &cls_cf8) == 0,
          "test device found by class 0xFF0000 through CF8");
    check(pci_find_class(PCI_ACCESS_ECAM, MSIXDEV_CLASS, 0xFFFFFF, 0, &cls_ecam) == 0,
          "test device found by class 0xFF0000 through ECAM");
    check(dev_cf8 == dev_ecam, "test device at the same BDF by IDs through CF8 and ECAM");
    check(cls_cf8 == cls_ecam && cls_cf8 == dev_cf8, "test device at the same BDF by class and by IDs");
    uint32_t bdf = dev_cf8;
    printf("pci-enum: test device at 00:%02x.%x (by IDs and by class, through CF8 and ECAM)\n", PCI_BDF_DEV(bdf),
           PCI_BDF_FN(bdf));
    check(PCI_BDF_DEV(bdf) >= 1, "test device is not at 00:00.0");
    check((pci_read8(bdf, PCI_HEADER_TYPE) & 0x7F) == 0, "test device has header type 0");
    compare_header(bdf, "test device");

    /* Read-only identity: a write to the vendor/device dword changes nothing. */
    pci_write32(bdf, PCI_VENDOR_ID, 0x12345678);
    check(pci_read32(bdf, PCI_VENDOR_ID) == ((uint32_t)MSIXDEV_DEVICE << 16 | MSIXDEV_VENDOR),
          "vendor/device IDs are read-only");

    /* ---- BARs ---------------------------------------------------------------------------- */
    struct pci_bar bar0, bar1;
    pci_bar_probe(PCI_ACCESS_ECAM, bdf, 0, &bar0);
    check(bar0.present, "BAR0 is implemented");
    check(!bar0.io, "BAR0 is a memory BAR");
    check(!bar0.is64, "BAR0 is 32-bit");
    check(!bar0.prefetchable, "BAR0 is not prefetchable");
    if (bar0.size != MSIXDEV_BAR0_SIZE)
        guest_failf("pci-enum: BAR0 is 0x%llx bytes, expected 16 KiB", (unsigned long long)bar0.size);
    check(in_window(bar0.address, bar0.size), "BAR0 is assigned inside the MMIO window of the tree");
    check(pci_bar_address(PCI_ACCESS_CF8, bdf, 0) == bar0.address, "sizing BAR0 restored its address");
    check(pci_read16(bdf, PCI_COMMAND) & PCI_COMMAND_MEMORY, "memory decode is on after boot");

    uint64_t regs = bar0.address;
    uint32_t magic = mmio_read32(regs + MSIXDEV_MAGIC);
    if (magic != MSIXDEV_MAGIC_VALUE)
        guest_failf("pci-enum: MAGIC at BAR0 0x%llx reads 0x%08x, expected 0x5849534D", (unsigned long long)regs, magic);
    uint32_t version = mmio_read32(regs + MSIXDEV_VERSION);
    if (version != 1)
        guest_failf("pci-enum: VERSION at BAR0 reads %u, expected 1", version);
    uint32_t vectors = mmio_read32(regs + MSIXDEV_VECTORS);
    check(vectors >= 1 && vectors <= 2048, "VECTORS is in 1..2048");
    printf("pci-enum: BAR0 0x%llx: 16 KiB 32-bit memory, MAGIC 0x%08x VERSION %u VECTORS %u\n",
           (unsigned long long)regs, magic, version, vectors);

    pci_bar_probe(PCI_ACCESS_CF8, bdf, 1, &bar1);
    check(bar1.present, "BAR1 is implemented");
    check(!bar1.io && !bar1.is64, "BAR1 is 32-bit memory");
    uint32_t want1 = msixdev_bar1_size(vectors);
    if (bar1.size != want1)
        guest_failf("pci-enum: BAR1 is 0x%llx bytes, the layout rule gives 0x%x for %u vectors",
                    (unsigned long long)bar1.size, want1, vectors);
    check(in_window(bar1.address, bar1.size), "BAR1 is assigned inside the MMIO window of the tree");
    check(bar1.address + bar1.size <= regs || regs + bar0.size <= bar1.address, "BAR0 and BAR1 do not overlap");
    for (unsigned i = 2; i < 6; i++) {
        struct pci_bar other;
        pci_bar_probe(PCI_ACCESS_ECAM, bdf, i, &other);
        if (other.present)
            guest_failf("pci-enum: BAR%u is implemented (0x%llx bytes); the test device has only BAR0 and BAR1", i,
                        (unsigned long long)other.size);
    }
    printf("pci-enum: BAR1 0x%llx: 0x%llx bytes 32-bit memory (rule: 0x%x)\n", (unsigned long long)bar1.address,
           (unsigned long long)bar1.size, want1);

    /* ---- MSI-X capability ----------------------------------------------------------------- */
    check(pci_read16(bdf, PCI_STATUS) & PCI_STATUS_CAP_LIST, "Status has the capability-list bit");
    unsigned cap = pci_find_capability(PCI_ACCESS_ECAM, bdf, PCI_CAP_ID_MSIX);
    check(cap != 0, "the MSI-X capability (ID 0x11) is in the list");
    check(pci_find_capability(PCI_ACCESS_CF8, bdf, PCI_CAP_ID_MSIX) == cap, "CF8 finds the MSI-X capability at the same offset");
    uint16_t control = pci_read16(bdf, cap + MSIX_CAP_CONTROL);
    uint32_t table = pci_read32(bdf, cap + MSIX_CAP_TABLE), pba = pci_read32(bdf, cap + MSIX_CAP_PBA);
    printf("pci-enum: MSI-X capability at 0x%02x: control 0x%04x table 0x%08x PBA 0x%08x\n", cap, control, table, pba);
    check((control & MSIX_CONTROL_SIZE_MASK) + 1u == vectors, "MSI-X table size equals VECTORS");
    check(!(control & MSIX_CONTROL_ENABLE), "MSI-X is disabled after boot");
    check(table == 1, "MSI-X table is at offset 0 of BAR1");
    check(pba == (msixdev_pba_offset(vectors) | 1u), "PBA is at max(2048, 16 VECTORS) of BAR1");

    /* ---- Relocation --------------------------------------------------------------------- */
    uint64_t target;
    check(pci_find_free_mmio(PCI_ACCESS_ECAM, MSIXDEV_BAR0_SIZE, &target) == 0,
          "a free 16 KiB block in the MMIO window of the tree");
    check(in_window(target, MSIXDEV_BAR0_SIZE) && target + MSIXDEV_BAR0_SIZE <= window_end(), "the free block is in the window");
    move_bar0(PCI_ACCESS_ECAM, bdf, regs, target, "relocate through ECAM");
    move_bar0(PCI_ACCESS_CF8, bdf, target, regs, "move back through CF8");

    /* ---- Decode off / on ------------------------------------------------------------------ */
    pci_disable_memory(PCI_ACCESS_ECAM, bdf);
    check(!(pci_read16(bdf, PCI_COMMAND) & PCI_COMMAND_MEMORY), "Command memory bit reads 0 after clearing it");
    uint32_t off = mmio_read32(regs + MSIXDEV_MAGIC);
    if (off != 0xFFFFFFFFu)
        guest_failf("pci-enum: with memory decode off BAR0 MAGIC reads 0x%08x, expected all ones", off);
    check(mmio_read32(bar1.address) == 0xFFFFFFFFu, "with memory decode off BAR1 (MSI-X table) reads all ones");
    pci_enable_memory(PCI_ACCESS_CF8, bdf);
    check(mmio_read32(regs + MSIXDEV_MAGIC) == MSIXDEV_MAGIC_VALUE, "MAGIC returns when memory decode is back on");
    check(mmio_read32(bar1.address + MSIX_ENTRY_CTRL) == MSIX_CTRL_MASKED, "MSI-X table entry 0 reads masked with decode back on");
    printf("pci-enum: memory decode off: BAR0 and BAR1 read all ones; on: MAGIC returns\n");

    printf("pci-enum: all checks passed\n");
    guest_pass();
}
