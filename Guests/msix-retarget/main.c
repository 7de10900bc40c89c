/* msix-retarget: writing the data (IDT vector) of an unmasked vector retargets it: the next raise
 * arrives on the new IDT vector and never on the old one, through RAISE (KVM_SIGNAL_MSI), through
 * RAISE_BACKEND (the irqfd route must carry the new message) and, when FEATURES bit 1 is set,
 * through DOORBELL. A rewrite with the same value changes nothing; a retarget while masked takes
 * effect at the unmask. vCPU 0 only.
 *
 * Judging: every awaited delivery is waited for (MSIX_WAIT_US) and, for a doorbell, COUNT_BACKEND
 * too (the backend thread serves it later). RAISE is synchronous (KVM_SIGNAL_MSI inside its exit):
 * its step is judged at once, with COUNT_SIGNALED. RAISE_BACKEND and DOORBELL reach the guest
 * through the irqfd, possibly late: their step ends with a quiet window (MSIX_QUIET_US), which
 * also covers a late extra from the fire before the retarget. */
#include "msix.h"

static struct msix_dev d;
static unsigned v;
static uint32_t expected[256];
static struct msixdev_counts want; /* the device counters as they must read */

enum path { RAISE, BACKEND, DOORBELL };
enum judge { AT_ONCE, QUIET };

/* Waits for every expected delivery (and the backend's count), optionally watches a quiet window,
 * then compares all seven IDT vectors and the device counters exactly. */
static void expect_all(const char *step, enum judge how)
{
    for (unsigned idt = 0x40; idt <= 0x46; idt++)
        (void)msix_wait_count((uint8_t)idt, expected[idt], MSIX_WAIT_US);
    (void)msix_wait_counter(&d, MSIXDEV_COUNT_BACKEND, want.backend, MSIX_WAIT_US);
    if (how == QUIET)
        delay_us(MSIX_QUIET_US);
    msix_take_pending();
    for (unsigned idt = 0x40; idt <= 0x46; idt++) {
        uint32_t got = msix_count((uint8_t)idt);
        if (got != expected[idt])
            guest_failf("msix-retarget: %s: IDT vector 0x%02x delivered %u times, expected %u", step, idt, got,
                        expected[idt]);
    }
    msix_expect_counts(&d, &want, "msix-retarget: device counters");
    printf("msix-retarget: %s: ok\n", step);
}

static void fire(enum path p)
{
    if (p == RAISE) {
        msix_raise(&d, v);
        want.signaled++;
    } else {
        /* The irqfd must carry it: wait for the commit of the route the last write changed. */
        msix_wait_routes(&d, "msix-retarget: the vector's route is committed");
        if (p == BACKEND)
            msix_raise_backend(&d, v);
        else
            msix_doorbell(&d, v);
        want.backend++; /* the irqfd delivers: nothing signaled */
    }
}

static void retarget_and_fire(enum path p, uint8_t from, uint8_t to, const char *step)
{
    fire(p);
    expected[from]++;
    expect_all("before the retarget", AT_ONCE); /* arrives on the current target first */
    msix_set_data(&d, v, to);
    if (msix_entry_read(&d, v, MSIX_ENTRY_DATA) != to)
        guest_fail("msix-retarget: the data written to an unmasked vector does not read back");
    fire(p);
    expected[to]++;
    expect_all(step, p == RAISE ? AT_ONCE : QUIET);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-retarget");
    v = d.vectors > 3 ? 3 : 0;
    for (unsigned idt = 0x40; idt <= 0x46; idt++)
        msix_install_handler((uint8_t)idt);
    msix_program(&d, v, 0, 0x40);
    msix_unmask(&d, v);
    msix_enable(&d, 1);

    retarget_and_fire(RAISE, 0x40, 0x41, "RAISE: 0x40 -> 0x41");
    if (d.features & MSIXDEV_FEATURE_BACKEND)
        retarget_and_fire(BACKEND, 0x41, 0x42, "RAISE_BACKEND: 0x41 -> 0x42");
    else
        guest_failf("msix-retarget: needs FEATURES bit 0 for the RAISE_BACKEND path; FEATURES is 0x%x", d.features);
    /* Back through RAISE after the backend path installed a route. */
    retarget_and_fire(RAISE, 0x42, 0x43, "RAISE after a backend route: 0x42 -> 0x43");
    retarget_and_fire(BACKEND, 0x43, 0x44, "RAISE_BACKEND again: 0x43 -> 0x44");
    if (d.features & MSIXDEV_FEATURE_DOORBELL)
        retarget_and_fire(DOORBELL, 0x44, 0x45, "DOORBELL: 0x44 -> 0x45");
    else
        printf("msix-retarget: FEATURES bit 1 clear: DOORBELL path skipped\n");
    uint8_t cur = (uint8_t)msix_entry_read(&d, v, MSIX_ENTRY_DATA);

    /* Writing the same data again leaves the route working. */
    msix_set_data(&d, v, cur);
    fire(BACKEND);
    expected[cur]++;
    expect_all("same-value data write keeps the backend route", QUIET);

    /* Retarget while masked: the unmask uses the new data (the irqfd attached at the unmask
     * injects the held signal: nothing is signaled). */
    msix_mask(&d, v);
    msix_set_data(&d, v, 0x46);
    fire(BACKEND);
    expect_all("backend signal held while masked", AT_ONCE);
    msix_unmask(&d, v);
    expected[0x46]++;
    expect_all("retarget while masked, backend signal held, unmask", QUIET);
    fire(RAISE);
    expected[0x46]++;
    expect_all("RAISE after the masked retarget", AT_ONCE);
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-retarget: nothing dropped");
    printf("msix-retarget: all checks passed\n");
    guest_pass();
}
