/* msix-unused: use counts. UNUSE takes a vector's use count from 1 to 0: raises on it are then
 * dropped (no delivery, no pending bit, COUNT_DROPPED + 1) and its pending bit clears; USE makes it
 * deliver again. Use counts nest (two USEs need two UNUSEs), and a raise of an out-of-range vector
 * (= VECTORS) is dropped and counted too. vCPU 0 only.
 *
 * Only RAISE is used, and it is synchronous: inside the write's exit the device sends it with
 * KVM_SIGNAL_MSI (COUNT_SIGNALED), pends it (COUNT_PENDED) or drops it (COUNT_DROPPED). So "dropped,
 * not delivered" is proved by the counters and the delivery count right after the write, and
 * "delivered once" by the awaited delivery and COUNT_SIGNALED + 1; no step sleeps. */
#include "msix.h"

#define IDT 0x30

static struct msix_dev d;
static unsigned v;
static uint32_t delivered;
static struct msixdev_counts want; /* the device counters as they must read */

static void expect_dropped(const char *step)
{
    msix_raise(&d, v);
    want.dropped++;
    msix_expect_deliveries_now(IDT, delivered, step);
    msix_expect_counts(&d, &want, step);
    msix_expect_pending(&d, v, 0, step);
    printf("%s: dropped (COUNT_DROPPED %u)\n", step, want.dropped);
}

static void expect_delivered(const char *step)
{
    msix_raise(&d, v);
    delivered++;
    want.signaled++;
    msix_expect_deliveries_now(IDT, delivered, step);
    msix_expect_counts(&d, &want, step);
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
    want.pended++;
    msix_expect_pending(&d, v, 1, "msix-unused: raise while masked pends (before UNUSE)");
    msix_expect_counts(&d, &want, "msix-unused: raise while masked pends (before UNUSE)");
    msix_unuse(&d, v);
    msix_expect_pending(&d, v, 0, "msix-unused: UNUSE to 0 clears the pending bit");
    msix_use(&d, v);
    msix_unmask(&d, v);
    msix_expect_deliveries_now(IDT, delivered, "msix-unused: the pending bit cleared by UNUSE is not delivered on unmask");
    msix_expect_counts(&d, &want, "msix-unused: the pending bit cleared by UNUSE is not sent on unmask");
    printf("msix-unused: UNUSE cleared the pending bit; unmask delivered nothing\n");
    expect_delivered("msix-unused: delivers after USE and unmask");

    /* Unused while masked: a raise is dropped, not pended. */
    msix_mask(&d, v);
    msix_unuse(&d, v);
    expect_dropped("msix-unused: unused and masked: dropped, not pended");
    msix_use(&d, v);
    msix_unmask(&d, v);
    msix_expect_deliveries_now(IDT, delivered, "msix-unused: nothing delivered after USE + unmask");
    msix_expect_counts(&d, &want, "msix-unused: nothing sent after USE + unmask");

    /* A vector out of range. */
    msix_raise(&d, d.vectors);
    want.dropped++;
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, want.dropped, "msix-unused: RAISE of vector VECTORS is dropped");
    msix_expect_counts(&d, &want, "msix-unused: RAISE of vector VECTORS signals nothing");
    msix_expect_deliveries_now(IDT, delivered, "msix-unused: RAISE of vector VECTORS delivers nothing");
    printf("msix-unused: RAISE of vector %u (out of range) dropped\n", d.vectors);
    expect_delivered("msix-unused: the vector still delivers at the end");
    printf("msix-unused: all checks passed\n");
    guest_pass();
}
