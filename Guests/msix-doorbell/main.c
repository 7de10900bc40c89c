/* msix-doorbell: a write to DOORBELL[v] (BAR0 + 0x2000 + 4 v, a KVM ioeventfd) makes the backend
 * raise v with no vCPU exit: every vector rung once arrives once on its IDT vector, and ten rings
 * of one vector, each awaited, arrive ten times. The backend thread serves doorbells later, so
 * each phase is judged only once COUNT_BACKEND has reached the rings (waited for), and after a
 * quiet window (MSIX_QUIET_US) for a late extra. A guest cannot see whether a write exited (a
 * doorbell served by an exit counts the same). Needs FEATURES bit 1. vCPU 0 only. */
#include "msix.h"

#define FIRST_IDT 0x30u
#define MAX_VECTORS 32u
#define REPEATS 10u

static struct msix_dev d;
static struct msixdev_counts want; /* each ring: backend + 1; the irqfds deliver (nothing signaled) */

/* Waits until the backend has served every ring, then the quiet window; counters exact. */
static void expect_backend_served(const char *step)
{
    if (!msix_wait_counter(&d, MSIXDEV_COUNT_BACKEND, want.backend, MSIX_WAIT_US))
        guest_failf("%s: COUNT_BACKEND %u after %u doorbell rings", step, msixdev_read(&d, MSIXDEV_COUNT_BACKEND),
                    want.backend);
    delay_us(MSIX_QUIET_US);
    msix_take_pending();
    msix_expect_counts(&d, &want, step);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-doorbell");
    if (!(d.features & MSIXDEV_FEATURE_DOORBELL))
        guest_failf("msix-doorbell: needs FEATURES bit 1 (doorbells); FEATURES is 0x%x", d.features);
    unsigned n = d.vectors < MAX_VECTORS ? d.vectors : MAX_VECTORS;
    for (unsigned v = 0; v < n; v++) {
        msix_install_handler((uint8_t)(FIRST_IDT + v));
        msix_program(&d, v, 0, (uint8_t)(FIRST_IDT + v));
        msix_unmask(&d, v);
    }
    msix_enable(&d, 1);
    /* The irqfds must carry every ring (COUNT_SIGNALED stays 0): wait for the routes' commit. */
    msix_wait_routes(&d, "msix-doorbell: the vectors' routes are committed");

    for (unsigned v = 0; v < n; v++) {
        uint8_t idt = (uint8_t)(FIRST_IDT + v);
        msix_doorbell(&d, v);
        want.backend++;
        if (!msix_wait_count(idt, 1, MSIX_WAIT_US))
            guest_failf("msix-doorbell: DOORBELL[%u] not delivered on IDT vector 0x%02x (COUNT_BACKEND %u)", v, idt,
                        msixdev_read(&d, MSIXDEV_COUNT_BACKEND));
    }
    expect_backend_served("msix-doorbell: the backend served each ring once");
    for (unsigned v = 0; v < n; v++)
        if (msix_count((uint8_t)(FIRST_IDT + v)) != 1)
            guest_failf("msix-doorbell: DOORBELL[%u] delivered %u times, expected exactly once", v,
                        msix_count((uint8_t)(FIRST_IDT + v)));
    printf("msix-doorbell: %u vectors rung once each, each delivered exactly once\n", n);

    unsigned last = n - 1;
    uint8_t idt = (uint8_t)(FIRST_IDT + last);
    for (unsigned i = 0; i < REPEATS; i++) {
        msix_doorbell(&d, last);
        want.backend++;
        if (!msix_wait_count(idt, 2 + i, MSIX_WAIT_US))
            guest_failf("msix-doorbell: ring %u of DOORBELL[%u] not delivered (%u deliveries)", i + 1, last,
                        msix_count(idt));
    }
    expect_backend_served("msix-doorbell: the backend served each ring of one vector once");
    if (msix_count(idt) != 1 + REPEATS)
        guest_failf("msix-doorbell: DOORBELL[%u] delivered %u times for %u awaited rings", last, msix_count(idt),
                    1 + REPEATS);
    printf("msix-doorbell: DOORBELL[%u] rung %u more times, delivered %u times\n", last, REPEATS, REPEATS);
    struct msixdev_counts c;
    msixdev_counts(&d, &c);
    printf("msix-doorbell: counters: signaled %u backend %u pended %u dropped %u\n", c.signaled, c.backend, c.pended,
           c.dropped);
    printf("msix-doorbell: all checks passed\n");
    guest_pass();
}
