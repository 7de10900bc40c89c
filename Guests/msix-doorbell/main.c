/* msix-doorbell: a write to DOORBELL[v] (BAR0 + 0x2000 + 4 v, a KVM ioeventfd) makes the backend
 * raise v with no vCPU exit: every vector rung once arrives once on its IDT vector, and ten rings
 * of one vector, each awaited, arrive ten times. Only delivery counts are checked (a guest cannot
 * see whether a write exited). Needs FEATURES bit 1. vCPU 0 only. */
#include "msix.h"

#define FIRST_IDT 0x30u
#define MAX_VECTORS 32u
#define REPEATS 10u

static struct msix_dev d;

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

    for (unsigned v = 0; v < n; v++) {
        uint8_t idt = (uint8_t)(FIRST_IDT + v);
        msix_doorbell(&d, v);
        if (!msix_wait_count(idt, 1, MSIX_WAIT_US))
            guest_failf("msix-doorbell: DOORBELL[%u] not delivered on IDT vector 0x%02x", v, idt);
    }
    delay_us(MSIX_SETTLE_US);
    for (unsigned v = 0; v < n; v++)
        if (msix_count((uint8_t)(FIRST_IDT + v)) != 1)
            guest_failf("msix-doorbell: DOORBELL[%u] delivered %u times, expected exactly once", v,
                        msix_count((uint8_t)(FIRST_IDT + v)));
    printf("msix-doorbell: %u vectors rung once each, each delivered exactly once\n", n);

    unsigned last = n - 1;
    uint8_t idt = (uint8_t)(FIRST_IDT + last);
    for (unsigned i = 0; i < REPEATS; i++) {
        msix_doorbell(&d, last);
        if (!msix_wait_count(idt, 2 + i, MSIX_WAIT_US))
            guest_failf("msix-doorbell: ring %u of DOORBELL[%u] not delivered (%u deliveries)", i + 1, last,
                        msix_count(idt));
    }
    msix_expect_deliveries(idt, 1 + REPEATS, "msix-doorbell: each awaited ring of one vector delivers once");
    printf("msix-doorbell: DOORBELL[%u] rung %u more times, delivered %u times\n", last, REPEATS, REPEATS);
    struct msixdev_counts c;
    msixdev_counts(&d, &c);
    printf("msix-doorbell: counters (not checked): signaled %u backend %u pended %u dropped %u\n", c.signaled, c.backend,
           c.pended, c.dropped);
    printf("msix-doorbell: all checks passed\n");
    guest_pass();
}
