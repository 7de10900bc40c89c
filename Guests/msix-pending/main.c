/* msix-pending: a raise on a masked vector sets its PBA bit and delivers nothing; unmasking
 * delivers it exactly once and clears the bit. vCPU 0 only. */
#include "msix.h"

static struct msix_dev d;

static void pend_then_unmask(unsigned v, uint8_t idt, unsigned raises)
{
    printf("msix-pending: vector %u (IDT 0x%02x): %u raise(s) while masked\n", v, idt, raises);
    msix_expect_pending(&d, v, 0, "msix-pending: PBA bit clear before the raise");
    uint32_t pended = msixdev_read(&d, MSIXDEV_COUNT_PENDED);
    uint32_t signaled = msixdev_read(&d, MSIXDEV_COUNT_SIGNALED);
    for (unsigned i = 0; i < raises; i++)
        msix_raise(&d, v);
    delay_us(MSIX_SETTLE_US);
    if (msix_count(idt) != 0)
        guest_failf("msix-pending: vector %u delivered %u times while masked", v, msix_count(idt));
    msix_expect_pending(&d, v, 1, "msix-pending: PBA bit set after raise while masked");
    /* Each raise while masked pends; whether a raise onto an already-set bit counts again is the
     * device's choice: accept 1 ... raises. */
    uint32_t pended_now = msixdev_read(&d, MSIXDEV_COUNT_PENDED);
    if (pended_now < pended + 1 || pended_now > pended + raises)
        guest_failf("msix-pending: COUNT_PENDED went %u -> %u after %u raise(s) while masked (expected +1..+%u)", pended,
                    pended_now, raises, raises);
    msix_expect_counter(&d, MSIXDEV_COUNT_SIGNALED, signaled, "msix-pending: nothing signaled while masked");
    if (!msix_is_masked(&d, v))
        guest_fail("msix-pending: the vector's mask bit changed by itself");

    msix_unmask(&d, v);
    msix_expect_deliveries(idt, 1, "msix-pending: unmask delivers the pending vector exactly once");
    msix_expect_pending(&d, v, 0, "msix-pending: PBA bit cleared by the delivery on unmask");
    uint32_t sig_after = msixdev_read(&d, MSIXDEV_COUNT_SIGNALED);
    printf("msix-pending: vector %u: unmask delivered once, PBA bit clear (COUNT_SIGNALED %u -> %u)\n", v, signaled,
           sig_after);

    /* Mask and unmask again with no raise: nothing more arrives. */
    msix_mask(&d, v);
    msix_unmask(&d, v);
    msix_expect_deliveries(idt, 1, "msix-pending: a second unmask without a raise delivers nothing");
    /* Unmasked now: a raise is delivered at once and never pends. */
    msix_raise(&d, v);
    msix_expect_deliveries(idt, 2, "msix-pending: an unmasked raise after the pending one delivers once");
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
        if (msix_count(0x30) != 2)
            guest_fail("msix-pending: the last vector's activity delivered on vector 0's IDT vector");
    }
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-pending: nothing dropped");
    printf("msix-pending: all checks passed\n");
    guest_pass();
}
