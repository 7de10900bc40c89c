/* msix-relocate: moving the MSI-X BAR (BAR1) to another free address of the MMIO window (from the
 * device tree) moves the table and the PBA: entries programmed before the move and a pending bit
 * read back at the new address, the old address reads all ones and ignores writes, and vectors
 * programmed through the new address deliver. BAR1 then moves back through CF8, and moving BAR0
 * moves the registers and the doorbells (ioeventfds) with it. vCPU 0 only.
 *
 * RAISE and an unmask are synchronous (sent with KVM_SIGNAL_MSI, or pended, inside the write's
 * exit): judged at once with the device counters. RAISE_BACKEND through the irqfd and DOORBELL
 * (served by the backend thread) are judged after a quiet window (MSIX_QUIET_US). */
#include "msix.h"

static struct msix_dev d;
static struct msixdev_counts want; /* the device counters as they must read */

static uint64_t free_block(uint64_t size, const char *what)
{
    uint64_t a;
    if (pci_find_free_mmio(d.how, size, &a) != 0)
        guest_failf("msix-relocate: no free block of 0x%llx bytes for %s in the MMIO window", (unsigned long long)size, what);
    return a;
}

static void expect_entry(unsigned v, uint8_t data, uint32_t ctrl, const char *step)
{
    uint32_t lo = msix_entry_read(&d, v, MSIX_ENTRY_ADDR_LO), got = msix_entry_read(&d, v, MSIX_ENTRY_DATA);
    uint32_t c = msix_entry_read(&d, v, MSIX_ENTRY_CTRL);
    if (lo != MSI_ADDRESS(0) || got != data || c != ctrl)
        guest_failf("msix-relocate: %s: entry %u at 0x%llx reads address 0x%08x data 0x%08x control 0x%x "
                    "(expected 0x%08x 0x%02x 0x%x)", step, v, (unsigned long long)msix_entry(&d, v), lo, got, c,
                    MSI_ADDRESS(0), data, ctrl);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-relocate");
    if (d.table_bir != d.pba_bir)
        guest_fail("msix-relocate: table and PBA are expected in one BAR");
    unsigned bir = d.table_bir;
    msix_install_handler(0x30);
    msix_install_handler(0x31);
    msix_program(&d, 0, 0, 0x30);
    msix_enable(&d, 1);
    msix_raise(&d, 0); /* masked: pends */
    want.pended++;
    msix_expect_pending(&d, 0, 1, "msix-relocate: vector 0 pending before the move");
    msix_expect_counts(&d, &want, "msix-relocate: the masked raise pends");

    /* ---- Move BAR1 -------------------------------------------------------------------- */
    struct pci_bar bar;
    pci_bar_probe(d.how, d.bdf, bir, &bar);
    uint64_t old = bar.address, old_table = d.table, old_pba = d.pba;
    uint64_t target = free_block(bar.size, "BAR1");
    pci_bar_set_address(d.how, d.bdf, bir, target);
    if (pci_bar_address(PCI_ACCESS_CF8, d.bdf, bir) != target)
        guest_failf("msix-relocate: BAR%u reads 0x%llx after writing 0x%llx", bir,
                    (unsigned long long)pci_bar_address(PCI_ACCESS_CF8, d.bdf, bir), (unsigned long long)target);
    msix_remap(&d);
    printf("msix-relocate: BAR%u (MSI-X table and PBA) moved 0x%llx -> 0x%llx\n", bir, (unsigned long long)old,
           (unsigned long long)target);

    expect_entry(0, 0x30, MSIX_CTRL_MASKED, "table found at the new address");
    msix_expect_pending(&d, 0, 1, "msix-relocate: the pending bit is at the new PBA address");
    if (mmio_read32(old_table + MSIX_ENTRY_DATA) != 0xFFFFFFFFu || mmio_read32(old_table + MSIX_ENTRY_CTRL) != 0xFFFFFFFFu)
        guest_failf("msix-relocate: the old table address 0x%llx still reads 0x%08x (expected all ones)",
                    (unsigned long long)old_table, mmio_read32(old_table + MSIX_ENTRY_DATA));
    if (mmio_read32(old_pba) != 0xFFFFFFFFu)
        guest_failf("msix-relocate: the old PBA address 0x%llx reads 0x%08x (expected all ones)",
                    (unsigned long long)old_pba, mmio_read32(old_pba));
    mmio_write32(old_table + MSIX_ENTRY_DATA, 0x99);
    mmio_write32(old_table + MSIX_ENTRY_CTRL, 0);
    expect_entry(0, 0x30, MSIX_CTRL_MASKED, "writes to the old address do not reach the table");
    msix_expect_deliveries_now(0x30, 0, "msix-relocate: writes to the old table address deliver nothing");
    msix_expect_counts(&d, &want, "msix-relocate: writes to the old table address send nothing");
    printf("msix-relocate: old table/PBA address reads all ones and ignores writes\n");

    msix_unmask(&d, 0);
    want.signaled++;
    msix_expect_deliveries_now(0x30, 1, "msix-relocate: unmask through the new address delivers the pending vector once");
    msix_expect_counts(&d, &want, "msix-relocate: the unmask sends the pending vector once");
    msix_expect_pending(&d, 0, 0, "msix-relocate: the PBA bit clears at the new address");
    msix_raise(&d, 0);
    want.signaled++;
    msix_expect_deliveries_now(0x30, 2, "msix-relocate: RAISE after the move delivers once");
    msix_expect_counts(&d, &want, "msix-relocate: RAISE after the move is sent once");
    msix_set_data(&d, 0, 0x31);
    msix_wait_routes(&d, "msix-relocate: the retargeted route is committed");
    msix_raise_backend(&d, 0);
    want.backend++;
    msix_expect_deliveries(0x31, 1, "msix-relocate: retarget through the new address, RAISE_BACKEND delivers on it");
    msix_expect_deliveries_now(0x30, 2, "msix-relocate: nothing more on the old IDT vector after the retarget");
    msix_expect_counts(&d, &want, "msix-relocate: RAISE_BACKEND goes through the irqfd");
    printf("msix-relocate: vectors programmed through the new address deliver\n");

    /* ---- BAR1 back through CF8 -------------------------------------------------------- */
    pci_bar_set_address(PCI_ACCESS_CF8, d.bdf, bir, old);
    msix_remap(&d);
    if (d.table != old_table)
        guest_fail("msix-relocate: BAR1 did not move back");
    expect_entry(0, 0x31, 0, "table back at the original address");
    if (mmio_read32(target + MSIX_ENTRY_DATA) != 0xFFFFFFFFu)
        guest_fail("msix-relocate: the second BAR1 address still reads the table after moving back");
    msix_raise(&d, 0);
    want.signaled++;
    msix_expect_deliveries_now(0x31, 2, "msix-relocate: delivers after BAR1 moved back");
    msix_expect_counts(&d, &want, "msix-relocate: RAISE after BAR1 moved back is sent once");

    /* ---- Move BAR0 (registers and doorbells) ------------------------------------------ */
    uint64_t old_regs = d.regs;
    uint64_t regs = free_block(MSIXDEV_BAR0_SIZE, "BAR0");
    pci_bar_set_address(d.how, d.bdf, 0, regs);
    msix_remap(&d);
    if (d.regs != regs || msixdev_read(&d, MSIXDEV_MAGIC) != MSIXDEV_MAGIC_VALUE)
        guest_failf("msix-relocate: MAGIC not found at the new BAR0 address 0x%llx", (unsigned long long)regs);
    if (mmio_read32(old_regs + MSIXDEV_MAGIC) != 0xFFFFFFFFu)
        guest_fail("msix-relocate: the old BAR0 address still reads the registers");
    msix_raise(&d, 0);
    want.signaled++;
    msix_expect_deliveries_now(0x31, 3, "msix-relocate: RAISE at the new BAR0 address delivers");
    msix_expect_counts(&d, &want, "msix-relocate: RAISE at the new BAR0 address is sent once");
    if (d.features & MSIXDEV_FEATURE_DOORBELL) {
        /* A doorbell still registered at the old address would be served by the backend thread
         * like the new one rung after it: wait until the backend served the new ring, then a quiet
         * window; COUNT_BACKEND and the deliveries must show the one ring only. */
        mmio_write32(old_regs + MSIXDEV_DOORBELL(0), 1);
        msix_doorbell(&d, 0);
        want.backend++;
        if (!msix_wait_counter(&d, MSIXDEV_COUNT_BACKEND, want.backend, MSIX_WAIT_US))
            guest_failf("msix-relocate: DOORBELL at the new BAR0 address not served (COUNT_BACKEND %u, expected %u)",
                        msixdev_read(&d, MSIXDEV_COUNT_BACKEND), want.backend);
        msix_expect_deliveries(0x31, 4, "msix-relocate: DOORBELL at the new BAR0 address delivers, the old one nothing");
        msix_expect_counts(&d, &want, "msix-relocate: only the doorbell at the new BAR0 address reaches the backend");
        printf("msix-relocate: BAR0 moved 0x%llx -> 0x%llx: registers and doorbells follow\n",
               (unsigned long long)old_regs, (unsigned long long)regs);
    } else {
        printf("msix-relocate: BAR0 moved 0x%llx -> 0x%llx (FEATURES bit 1 clear: doorbells not checked)\n",
               (unsigned long long)old_regs, (unsigned long long)regs);
    }

    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-relocate: nothing dropped");
    msix_expect_counts(&d, &want, "msix-relocate: counters at the end");
    printf("msix-relocate: all checks passed\n");
    guest_pass();
}
