/* msix-maskall: the function-wide masks. With Function Mask (MaskAll) set, or with MSI-X Enable
 * clear, a raise on an unmasked vector pends (PBA bit, no delivery); clearing MaskAll / setting
 * Enable delivers it exactly once. The per-vector mask still applies after the function mask goes
 * away, and Message Control can be written with a dword at the capability start. vCPU 0 only. */
#include "msix.h"

#define IDT 0x30

static struct msix_dev d;
/* The device counters as they must read. Everything here is synchronous: a RAISE pends or is sent
 * with KVM_SIGNAL_MSI inside its exit, and so is a pending bit delivered when a mask goes away, so
 * the counters prove "nothing sent" at once and no quiet window is needed. */
static struct msixdev_counts want;

/* Nothing delivered right now, nothing sent, and the PBA bit still set. */
static void expect_still_pending(const char *step)
{
    msix_take_pending();
    if (msix_count(IDT) != 0)
        guest_failf("msix-maskall: %s: delivered %u times while masked", step, msix_count(IDT));
    msix_expect_counts(&d, &want, step);
    if (!msix_pending(&d, 0))
        guest_failf("msix-maskall: %s: PBA bit not set (PBA dword 0x%08x, control 0x%04x)", step, mmio_read32(d.pba),
                    msix_control(&d));
}

/* A raise onto a clear PBA bit while masked pends (COUNT_PENDED + 1) and sends nothing. */
static void raise_expect_pending(const char *step)
{
    msix_raise(&d, 0);
    want.pended++;
    expect_still_pending(step);
}

/* Exactly one delivery, sent with KVM_SIGNAL_MSI by the write that removed the mask. */
static void expect_once_and_clear(const char *step)
{
    want.signaled++;
    (void)msix_wait_count(IDT, 1, MSIX_WAIT_US);
    msix_take_pending();
    uint32_t got = msix_count(IDT);
    if (got != 1)
        guest_failf("msix-maskall: %s: delivered %u times, expected exactly once", step, got);
    msix_expect_counts(&d, &want, step);
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
    msix_raise(&d, 0); /* coalesces with the first; whether it counts as pended again is the device's choice */
    uint32_t pended = msixdev_read(&d, MSIXDEV_COUNT_PENDED);
    if (pended != want.pended && pended != want.pended + 1)
        guest_failf("msix-maskall: a second raise onto a set PBA bit took COUNT_PENDED %u -> %u", want.pended, pended);
    want.pended = pended;
    expect_still_pending("Enable off, a second raise");
    msix_enable(&d, 1);
    expect_once_and_clear("Enable set (two raises while disabled)");

    /* 3. Enable off and the vector masked: enabling alone delivers nothing; the unmask does. */
    msix_mask(&d, 0);
    msix_enable(&d, 0);
    raise_expect_pending("Enable off, vector masked");
    msix_enable(&d, 1);
    expect_still_pending("enabling MSI-X with the vector still masked");
    msix_unmask(&d, 0);
    expect_once_and_clear("vector unmasked after Enable");

    /* 4. MaskAll and the vector mask together: clearing MaskAll leaves it pending. */
    msix_mask(&d, 0);
    msix_maskall(&d, 1);
    raise_expect_pending("MaskAll and vector masked");
    msix_maskall(&d, 0);
    expect_still_pending("clearing MaskAll with the vector still masked");
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
    msix_expect_counts(&d, &want, "msix-maskall: counters at the end");
    printf("msix-maskall: all checks passed\n");
    guest_pass();
}
