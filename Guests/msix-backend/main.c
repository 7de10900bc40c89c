/* msix-backend: RAISE_BACKEND (the device's backend signals the vector's eventfd). Unmasked, the
 * irqfd delivers it. Masked, it is held: nothing arrives; a PBA read (poll) shows it pending and
 * the unmask then delivers it exactly once; without a PBA read the unmask delivers the held signal
 * exactly once; two held signals coalesce into one delivery. COUNT_BACKEND counts every signal.
 * Needs FEATURES bit 0. vCPU 0 only.
 *
 * What is synchronous here: RAISE_BACKEND writes the eventfd (and counts COUNT_BACKEND) inside the
 * write's exit, and a PBA read polls inside its exit, so "held" is proved by the PBA bit the poll
 * sets; a pending bit is sent with KVM_SIGNAL_MSI (COUNT_SIGNALED) inside the unmask's exit. What
 * is not: an irqfd injection may be deferred to a kernel worker, and the irqfd attached at an
 * unmask injects a held count from one. Those are judged with a quiet window (MSIX_QUIET_US). */
#include "msix.h"

#define IDT 0x30

static struct msix_dev d;
static struct msixdev_counts want; /* the device counters as they must read */

static void raise_backend(unsigned v)
{
    msix_raise_backend(&d, v);
    want.backend++;
}

/* Exactly `total` deliveries: waited for, then no extra within the quiet window (an irqfd path). */
static void expect_total(uint32_t total, const char *step)
{
    uint32_t got = msix_settle_count(IDT, total, MSIX_WAIT_US);
    if (got != total)
        guest_failf("%s: %u deliveries in total, expected %u (COUNT_BACKEND %u)", step, got, total,
                    msixdev_read(&d, MSIXDEV_COUNT_BACKEND));
    msix_expect_counts(&d, &want, step);
    printf("%s: ok (%u deliveries so far)\n", step, got);
}

/* Exactly `total` deliveries right now and the counters as they must read. After a masked
 * RAISE_BACKEND: nothing delivered (an irqfd wrongly left attached would normally have injected
 * inside the write's exit) and nothing sent. */
static void expect_now(uint32_t total, const char *step)
{
    msix_take_pending();
    if (msix_count(IDT) != total)
        guest_failf("%s: %u deliveries in total, expected %u", step, msix_count(IDT), total);
    msix_expect_counts(&d, &want, step);
}

/* The same, again after the quiet window: "held" where no PBA read may prove it (a deferred
 * injection through an irqfd wrongly left attached would land in the window). */
static void expect_still(uint32_t total, const char *step)
{
    expect_now(total, step);
    (void)msix_wait_count(IDT, total + 1, MSIX_QUIET_US);
    expect_now(total, step);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-backend");
    if (!(d.features & MSIXDEV_FEATURE_BACKEND))
        guest_failf("msix-backend: needs FEATURES bit 0 (backend eventfds); FEATURES is 0x%x", d.features);
    unsigned v = d.vectors > 1 ? 1 : 0;
    msix_install_handler(IDT);
    msix_program(&d, v, 0, IDT);
    msix_unmask(&d, v);
    msix_enable(&d, 1);

    /* 0. Right after the unmask the VMM may still wait to commit the vector's route (coalesced
     * commits): the vector is live all the same, and the event arrives exactly once, by the
     * irqfd or, while ROUTES_WAITING says the route waits, by KVM_SIGNAL_MSI. */
    uint32_t waiting = msixdev_read(&d, MSIXDEV_ROUTES_WAITING);
    raise_backend(v);
    uint32_t signaled = msixdev_read(&d, MSIXDEV_COUNT_SIGNALED);
    if (signaled > 1 || (signaled == 1 && waiting == 0))
        guest_failf("msix-backend: RAISE_BACKEND right after the unmask: COUNT_SIGNALED %u with ROUTES_WAITING %u before it",
                    signaled, waiting);
    want.signaled += signaled;
    expect_total(1, "msix-backend: RAISE_BACKEND right after the unmask arrives exactly once");
    printf("msix-backend: right after the unmask: %s\n", signaled ? "sent by KVM_SIGNAL_MSI (route commit waiting)" : "irqfd");

    /* 1. Unmasked, the route committed: the irqfd delivers (nothing is sent with KVM_SIGNAL_MSI).
     * Each is awaited; one quiet window after the second covers a late extra of either. */
    msix_wait_routes(&d, "msix-backend: the vector's route is committed");
    raise_backend(v);
    if (!msix_wait_count(IDT, 2, MSIX_WAIT_US))
        guest_failf("msix-backend: RAISE_BACKEND while unmasked not delivered (COUNT_BACKEND %u)",
                    msixdev_read(&d, MSIXDEV_COUNT_BACKEND));
    expect_now(2, "msix-backend: RAISE_BACKEND while unmasked arrives once");
    raise_backend(v);
    expect_total(3, "msix-backend: two RAISE_BACKENDs while unmasked arrive exactly once each");

    /* 2. Masked, then a PBA read: the poll turns the held signal into a pending bit. The eventfd
     * was written inside the RAISE_BACKEND's exit, so the first PBA read must see it; had an irqfd
     * consumed it, there would be nothing to poll. */
    msix_mask(&d, v);
    raise_backend(v);
    expect_now(3, "msix-backend: masked RAISE_BACKEND is held");
    if (!msix_pending(&d, v)) /* this PBA read polls */
        guest_failf("msix-backend: PBA bit not set by a PBA read (poll) after RAISE_BACKEND while masked (PBA 0x%08x)",
                    mmio_read32(d.pba));
    expect_now(3, "msix-backend: a PBA read delivers nothing while masked");
    msix_unmask(&d, v);
    want.signaled++; /* the pending bit is sent with KVM_SIGNAL_MSI */
    expect_total(4, "msix-backend: unmask after the poll delivers exactly once");
    if (msix_pending(&d, v))
        guest_fail("msix-backend: PBA bit still set after unmask delivered it");

    /* 3. Masked, no PBA read: unmask delivers the signal held in the eventfd, exactly once: the
     * irqfd attached at the unmask injects it, or, while the route commit waits, the VMM's
     * router takes it out of the eventfd and sends it (the function sends nothing: COUNT_SIGNALED
     * stays). */
    msix_mask(&d, v);
    raise_backend(v);
    expect_still(4, "msix-backend: masked RAISE_BACKEND (no poll) is held");
    msix_unmask(&d, v);
    expect_total(5, "msix-backend: unmask delivers the held signal exactly once");

    /* 4. Two signals while masked coalesce into one delivery. */
    msix_mask(&d, v);
    raise_backend(v);
    raise_backend(v);
    expect_still(5, "msix-backend: two masked RAISE_BACKENDs are held");
    msix_unmask(&d, v);
    expect_total(6, "msix-backend: unmask delivers two held signals as one");
    if (msix_pending(&d, v))
        guest_fail("msix-backend: PBA bit set after the held signals were delivered");

    msix_expect_counter(&d, MSIXDEV_COUNT_BACKEND, want.backend, "msix-backend: COUNT_BACKEND counts every RAISE_BACKEND");
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-backend: nothing dropped");
    struct msixdev_counts c;
    msixdev_counts(&d, &c);
    printf("msix-backend: counters: signaled %u backend %u pended %u dropped %u\n", c.signaled, c.backend, c.pended,
           c.dropped);
    printf("msix-backend: all checks passed\n");
    guest_pass();
}
