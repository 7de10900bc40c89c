/* msix-maskall: the function-wide masks. With Function Mask (MaskAll) set, or with MSI-X Enable
 * clear, a raise on an unmasked vector pends (PBA bit, no delivery); clearing MaskAll / setting
 * Enable delivers it exactly once. The per-vector mask still applies after the function mask goes
 * away, and Message Control can be written with a dword at the capability start. vCPU 0 only. */
#include "msix.h"

#define IDT 0x30

static struct msix_dev d;

static void raise_expect_pending(const char *step)
{
    msix_raise(&d, 0);
    delay_us(MSIX_SETTLE_US);
    if (msix_count(IDT) != 0)
        guest_failf("msix-maskall: %s: delivered %u times while the function is masked", step, msix_count(IDT));
    if (!msix_pending(&d, 0))
        guest_failf("msix-maskall: %s: PBA bit not set after raise while masked (PBA dword 0x%08x, control 0x%04x)", step,
                    mmio_read32(d.pba), msix_control(&d));
}

static void expect_once_and_clear(const char *step)
{
    uint32_t got = msix_settle_count(IDT, 1, MSIX_WAIT_US);
    if (got != 1)
        guest_failf("msix-maskall: %s: delivered %u times, expected exactly once", step, got);
    if (msix_pending(&d, 0))
        guest_failf("msix-maskall: %s: PBA bit still set after the delivery", step);
    msix_clear_counts();
    printf("msix-maskall: %s: delivered exactly once, PBA bit clear\n", step);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-maskall");
    msix_install_handler(IDT);
    msix_program(&d, 0, 0, IDT);
    msix_unmask(&d, 0);

    /* 1. MaskAll with Enable on. */
    msix_maskall(&d, 1);
    msix_enable(&d, 1);
    uint16_t c = msix_control(&d);
    if ((c & (MSIX_CONTROL_ENABLE | MSIX_CONTROL_MASKALL)) != (MSIX_CONTROL_ENABLE | MSIX_CONTROL_MASKALL))
        guest_failf("msix-maskall: Message Control reads 0x%04x after setting Enable and MaskAll", c);
    raise_expect_pending("MaskAll set");
    if (msix_is_masked(&d, 0))
        guest_fail("msix-maskall: MaskAll changed the vector's own mask bit");
    msix_maskall(&d, 0);
    expect_once_and_clear("MaskAll cleared");

    /* 2. Enable off, vector unmasked: raises pend; enabling delivers. */
    msix_enable(&d, 0);
    raise_expect_pending("Enable off");
    msix_raise(&d, 0); /* coalesces with the first */
    msix_enable(&d, 1);
    expect_once_and_clear("Enable set (two raises while disabled)");

    /* 3. Enable off and the vector masked: enabling alone delivers nothing; the unmask does. */
    msix_mask(&d, 0);
    msix_enable(&d, 0);
    raise_expect_pending("Enable off, vector masked");
    msix_enable(&d, 1);
    delay_us(MSIX_SETTLE_US);
    if (msix_count(IDT) != 0)
        guest_fail("msix-maskall: enabling MSI-X delivered a vector that is still masked");
    if (!msix_pending(&d, 0))
        guest_fail("msix-maskall: enabling MSI-X cleared the PBA bit of a masked vector");
    msix_unmask(&d, 0);
    expect_once_and_clear("vector unmasked after Enable");

    /* 4. MaskAll and the vector mask together: clearing MaskAll leaves it pending. */
    msix_mask(&d, 0);
    msix_maskall(&d, 1);
    raise_expect_pending("MaskAll and vector masked");
    msix_maskall(&d, 0);
    delay_us(MSIX_SETTLE_US);
    if (msix_count(IDT) != 0 || !msix_pending(&d, 0))
        guest_fail("msix-maskall: clearing MaskAll delivered (or dropped) a vector that is still masked");
    msix_unmask(&d, 0);
    expect_once_and_clear("vector unmasked after MaskAll cleared");

    /* 5. Message Control through a dword write at the capability start (ID and next pointer are
     * read-only): set MaskAll, raise, clear MaskAll the same way. */
    uint32_t head = pci_cfg_read(d.how, d.bdf, d.cap, 4);
    pci_cfg_write(d.how, d.bdf, d.cap, 4, (head & 0xFFFF) | (uint32_t)(MSIX_CONTROL_ENABLE | MSIX_CONTROL_MASKALL) << 16);
    uint32_t now = pci_cfg_read(d.how, d.bdf, d.cap, 4);
    if ((now & 0xFFFF) != (head & 0xFFFF))
        guest_failf("msix-maskall: a dword write at the capability changed ID/next: 0x%04x -> 0x%04x", head & 0xFFFF,
                    now & 0xFFFF);
    if (!(now >> 16 & MSIX_CONTROL_MASKALL))
        guest_failf("msix-maskall: a dword write at the capability start did not set MaskAll (dword 0x%08x)", now);
    raise_expect_pending("MaskAll set by a dword write");
    pci_cfg_write(d.how, d.bdf, d.cap, 4, (head & 0xFFFF) | (uint32_t)MSIX_CONTROL_ENABLE << 16);
    expect_once_and_clear("MaskAll cleared by a dword write");

    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-maskall: nothing dropped");
    printf("msix-maskall: all checks passed\n");
    guest_pass();
}
