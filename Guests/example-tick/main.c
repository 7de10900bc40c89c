/* example-tick: the guest of Examples/ "tick-device", a new MSI-X device written as a library user
 * would (5357:0e01; BAR0: RAISE at 0x0 raises the vector written, RAISES at 0x4 counts them; BAR1:
 * the MSI-X table and PBA). Each vector, programmed and unmasked, arrives once per RAISE on its
 * own IDT vector; a masked one is held in the PBA and arrives when unmasked. vCPU 0 only. */
#include "msix.h"

#define TICK_VENDOR 0x5357
#define TICK_DEVICE 0x0E01
#define TICK_RAISE 0x0
#define TICK_RAISES 0x4
#define FIRST_IDT 0x40

static struct msix_dev d;

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    const char *err = msix_open_function(&d, fdt, TICK_VENDOR, TICK_DEVICE, 0);
    if (err)
        guest_failf("example-tick: %s", err);
    msix_setup_cpu();
    cpu_sti();
    unsigned n = d.table_size;
    for (unsigned v = 0; v < n; v++) {
        msix_install_handler((uint8_t)(FIRST_IDT + v));
        msix_program(&d, v, 0, (uint8_t)(FIRST_IDT + v));
        msix_unmask(&d, v);
    }
    msix_enable(&d, 1);
    for (unsigned v = 0; v < n; v++) {
        mmio_write32(d.regs + TICK_RAISE, v);
        if (!msix_wait_count((uint8_t)(FIRST_IDT + v), 1, MSIX_WAIT_US))
            guest_failf("example-tick: vector %u not delivered after RAISE", v);
    }
    /* Masked: the raise waits in the PBA, then arrives at unmask. */
    msix_mask(&d, 0);
    mmio_write32(d.regs + TICK_RAISE, 0);
    if (!msix_pending(&d, 0) || msix_count(FIRST_IDT) != 1)
        guest_fail("example-tick: a raise on a masked vector was not held in the PBA");
    msix_unmask(&d, 0);
    if (!msix_wait_count(FIRST_IDT, 2, MSIX_WAIT_US))
        guest_fail("example-tick: the pending raise did not arrive at unmask");
    if (mmio_read32(d.regs + TICK_RAISES) != n + 1)
        guest_failf("example-tick: RAISES reads %u, expected %u", mmio_read32(d.regs + TICK_RAISES), n + 1);
    printf("example-tick: %u vectors delivered, one held while masked; all checks passed\n", n);
    guest_pass();
}
