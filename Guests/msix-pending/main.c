/* msix-pending: a raise on a masked vector sets its PBA bit and delivers nothing; unmasking
 * delivers it exactly once and clears the bit. vCPU 0 only.
 *
 * Every path here is synchronous: a RAISE pends or is sent with KVM_SIGNAL_MSI inside its exit, and
 * so is a pending bit at the unmask. "Nothing delivered" is therefore proved by the device (the PBA
 * bit set, COUNT_PENDED up, COUNT_SIGNALED unchanged) and by the delivery count right after the
 * write; "exactly once" by the awaited delivery and COUNT_SIGNALED + 1. No step sleeps. */
#include "msix.h"

static struct msix_dev d;
static struct msixdev_counts want; /* the device counters as they must read */

static void pend_then_unmask(unsigned v, uint8_t idt, unsigned raises)
{
    printf("msix-pending: vector %u (IDT 0x%02x): %u raise(s) while masked\n", v, idt, raises);
    msix_expect_pending(&d, v, 0, "msix-pending: PBA bit clear before the raise");
    for (unsigned i = 0; i < raises; i++)
        msix_raise(&d, v);
    msix_expect_deliveries_now(idt, 0, "msix-pending: nothing delivered while masked");
    msix_expect_pending(&d, v, 1, "msix-pending: PBA bit set after raise while masked");
    /* Each raise while masked pends; whether a raise onto an already-set bit counts again is the
     * device's choice: accept 1 ... raises. */
    uint32_t pended_now = msixdev_read(&d, MSIXDEV_COUNT_PENDED);
    if (pended_now < want.pended + 1 || pended_now > want.pended + raises)
        guest_failf("msix-pending: COUNT_PENDED went %u -> %u after %u raise(s) while masked (expected +1..+%u)",
                    want.pended, pended_now, raises, raises);
    want.pended = pended_now;
    msix_expect_counts(&d, &want, "msix-pending: nothing signaled while masked");
    if (!msix_is_masked(&d, v))
        guest_fail("msix-pending: the vector's mask bit changed by itself");

    uint32_t signaled = want.signaled;
    msix_unmask(&d, v);
    want.signaled++;
    msix_expect_deliveries_now(idt, 1, "msix-pending: unmask delivers the pending vector exactly once");
    msix_expect_counts(&d, &want, "msix-pending: the unmask sends the pending vector once");
    msix_expect_pending(&d, v, 0, "msix-pending: PBA bit cleared by the delivery on unmask");
    printf("msix-pending: vector %u: unmask delivered once, PBA bit clear (COUNT_SIGNALED %u -> %u)\n", v, signaled,
           want.signaled);

    /* Mask and unmask again with no raise: nothing more arrives, nothing is sent. */
    msix_mask(&d, v);
    msix_unmask(&d, v);
    msix_expect_deliveries_now(idt, 1, "msix-pending: a second unmask without a raise delivers nothing");
    msix_expect_counts(&d, &want, "msix-pending: a second unmask without a raise sends nothing");
    /* Unmasked now: a raise is delivered at once and never pends. */
    msix_raise(&d, v);
    want.signaled++;
    msix_expect_deliveries_now(idt, 2, "msix-pending: an unmasked raise after the pending one delivers once");
    msix_expect_counts(&d, &want, "msix-pending: an unmasked raise is sent once and not pended");
    msix_expect_pending(&d, v, 0, "msix-pending: an unmasked raise leaves the PBA bit clear");
    msix_mask(&d, v);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-pending");
    unsigned last = d.vectors - 1;
    msix_install_handler(0x30);
    msix_install_handler(0x31);
    msix_program(&d, 0, 0, 0x30);
    if (last != 0)
        msix_program(&d, last, 0, 0x31);
    msix_enable(&d, 1);
    if (!msix_is_masked(&d, 0) || !msix_is_masked(&d, last))
        guest_fail("msix-pending: vectors are not masked after reset");

    pend_then_unmask(0, 0x30, 1);
    if (last != 0) {
        /* Several raises while masked coalesce into one pending bit and one delivery. */
        pend_then_unmask(last, 0x31, 3);
        msix_expect_deliveries_now(0x30, 2, "msix-pending: the last vector's activity delivers nothing on vector 0's IDT "
                                            "vector");
    }
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-pending: nothing dropped");
    printf("msix-pending: all checks passed\n");
    guest_pass();
}
