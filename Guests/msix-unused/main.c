/* msix-unused: use counts. UNUSE takes a vector's use count from 1 to 0: raises on it are then
 * dropped (no delivery, no pending bit, COUNT_DROPPED + 1) and its pending bit clears; USE makes it
 * deliver again. Use counts nest (two USEs need two UNUSEs), and a raise of an out-of-range vector
 * (= VECTORS) is dropped and counted too. vCPU 0 only. */
#include "msix.h"

#define IDT 0x30

static struct msix_dev d;
static unsigned v;
static uint32_t dropped, delivered;

static void expect_dropped(const char *step)
{
    uint32_t signaled = msixdev_read(&d, MSIXDEV_COUNT_SIGNALED);
    uint32_t pended = msixdev_read(&d, MSIXDEV_COUNT_PENDED);
    msix_raise(&d, v);
    dropped++;
    delay_us(MSIX_SETTLE_US);
    if (msix_count(IDT) != delivered)
        guest_failf("msix-unused: %s: a raise on an unused vector was delivered (%u deliveries, expected %u)", step,
                    msix_count(IDT), delivered);
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, dropped, step);
    msix_expect_counter(&d, MSIXDEV_COUNT_SIGNALED, signaled, step);
    msix_expect_counter(&d, MSIXDEV_COUNT_PENDED, pended, step);
    msix_expect_pending(&d, v, 0, step);
    printf("%s: dropped (COUNT_DROPPED %u)\n", step, dropped);
}

static void expect_delivered(const char *step)
{
    msix_raise(&d, v);
    delivered++;
    msix_expect_deliveries(IDT, delivered, step);
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, dropped, step);
    printf("%s: delivered\n", step);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-unused");
    v = d.vectors > 4 ? 4 : 0;
    msix_install_handler(IDT);
    msix_program(&d, v, 0, IDT);
    msix_unmask(&d, v);
    msix_enable(&d, 1);

    expect_delivered("msix-unused: used (count 1) vector delivers");
    msix_unuse(&d, v);
    expect_dropped("msix-unused: UNUSE to 0 drops raises");
    msix_use(&d, v);
    expect_delivered("msix-unused: USE again delivers");

    /* Nesting: count 1 -> 3 -> 2 still used -> 0 dropped -> 1. */
    msix_use(&d, v);
    msix_use(&d, v);
    msix_unuse(&d, v);
    expect_delivered("msix-unused: use count 2 still delivers");
    msix_unuse(&d, v);
    expect_delivered("msix-unused: use count 1 still delivers");
    msix_unuse(&d, v);
    expect_dropped("msix-unused: nested UNUSE down to 0 drops");
    msix_use(&d, v);

    /* UNUSE to 0 clears a pending bit; USE and unmask then deliver nothing. */
    msix_mask(&d, v);
    msix_raise(&d, v);
    delay_us(MSIX_SETTLE_US);
    msix_expect_pending(&d, v, 1, "msix-unused: raise while masked pends (before UNUSE)");
    msix_unuse(&d, v);
    msix_expect_pending(&d, v, 0, "msix-unused: UNUSE to 0 clears the pending bit");
    msix_use(&d, v);
    msix_unmask(&d, v);
    msix_expect_deliveries(IDT, delivered, "msix-unused: the pending bit cleared by UNUSE is not delivered on unmask");
    printf("msix-unused: UNUSE cleared the pending bit; unmask delivered nothing\n");
    expect_delivered("msix-unused: delivers after USE and unmask");

    /* Unused while masked: a raise is dropped, not pended. */
    msix_mask(&d, v);
    msix_unuse(&d, v);
    expect_dropped("msix-unused: unused and masked: dropped, not pended");
    msix_use(&d, v);
    msix_unmask(&d, v);
    msix_expect_deliveries(IDT, delivered, "msix-unused: nothing delivered after USE + unmask");

    /* A vector out of range. */
    uint32_t signaled = msixdev_read(&d, MSIXDEV_COUNT_SIGNALED);
    msix_raise(&d, d.vectors);
    dropped++;
    delay_us(MSIX_SETTLE_US);
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, dropped, "msix-unused: RAISE of vector VECTORS is dropped");
    msix_expect_counter(&d, MSIXDEV_COUNT_SIGNALED, signaled, "msix-unused: RAISE of vector VECTORS signals nothing");
    msix_expect_deliveries(IDT, delivered, "msix-unused: RAISE of vector VECTORS delivers nothing");
    printf("msix-unused: RAISE of vector %u (out of range) dropped\n", d.vectors);
    expect_delivered("msix-unused: the vector still delivers at the end");
    printf("msix-unused: all checks passed\n");
    guest_pass();
}
