/* bar-overlap: two test devices; the guest programs device 1's BAR0 onto device 0's BAR0 (the VMM
 * refuses that mapping), then moves device 0 away. Device 1's BAR0 must then answer at the address
 * its register holds, without being written again. Needs --test-devices 2; vCPU 0 only. */
#include "msix.h"

static struct msix_dev a, b;

static uint32_t magic_at(uint64_t address) { return mmio_read32(address + MSIXDEV_MAGIC); }

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    const char *err = msix_open(&a, fdt, 0);
    if (!err)
        err = msix_open(&b, fdt, 1);
    if (err)
        guest_failf("bar-overlap: %s (run with --test-devices 2)", err);
    uint64_t home_a = a.regs, home_b = b.regs;
    printf("bar-overlap: device 0 BAR0 at 0x%llx, device 1 BAR0 at 0x%llx\n", (unsigned long long)home_a,
           (unsigned long long)home_b);

    /* 1. Device 1's BAR0 onto device 0's: refused; device 0 keeps the range. */
    pci_bar_set_address(b.how, b.bdf, 0, home_a);
    if (pci_bar_address(b.how, b.bdf, 0) != home_a)
        guest_fail("bar-overlap: device 1's BAR0 register did not take the address");
    if (magic_at(home_a) != MSIXDEV_MAGIC_VALUE)
        guest_fail("bar-overlap: device 0 lost its BAR0 range to the overlapping BAR");
    if (magic_at(home_b) != 0xFFFFFFFFu)
        guest_fail("bar-overlap: device 1's old BAR0 range still answers after it moved");

    /* 2. Device 0 moves to where device 1 was: the overlap is gone, and device 1's refused
     * mapping must now be made at the address its register holds. */
    pci_bar_set_address(a.how, a.bdf, 0, home_b);
    if (magic_at(home_b) != MSIXDEV_MAGIC_VALUE)
        guest_fail("bar-overlap: device 0 does not answer at its new BAR0 address");
    if (magic_at(home_a) != MSIXDEV_MAGIC_VALUE)
        guest_fail("bar-overlap: device 1's BAR0 stays unmapped after the overlap went away");

    /* 3. Which device answers where: a RAISE to an unused vector bumps COUNT_DROPPED of that
     * device only. */
    mmio_write32(home_a + MSIXDEV_RAISE, 0xFFFF);
    if (mmio_read32(home_a + MSIXDEV_COUNT_DROPPED) != 1 || mmio_read32(home_b + MSIXDEV_COUNT_DROPPED) != 0)
        guest_fail("bar-overlap: the two BAR0 ranges do not reach two different devices");
    pci_cfg_write(b.how, b.bdf, PCI_BAR0, 4, (uint32_t)home_b + 0x100000u);
    if (magic_at(home_a) != 0xFFFFFFFFu)
        guest_fail("bar-overlap: device 1's BAR0 still answers at its old address after moving on");
    printf("bar-overlap: all checks passed\n");
    guest_pass();
}
