/* smp: every vCPU checks in; vCPU 0 waits until as many arrived as /cpus lists, then passes. */
#include "guest.h"

/* Several seconds of spinning at the emulator's ~0.6 µs per instruction (about 7 instructions a
 * turn): far longer than the other vCPUs need to start and print one line. */
#define ARRIVAL_SPIN_LIMIT 2000000u

static volatile uint32_t arrived;

void guest_main(unsigned cpu, const void *fdt)
{
    if (!fdt)
        guest_fail("smp: no device tree");

    unsigned apic = lapic_id();
    printf("vCPU %u arrived (APIC ID %u)\n", cpu, apic);
    if (apic != cpu)
        guest_failf("smp: vCPU %u has APIC ID %u (expected it to equal the vCPU index)", cpu, apic);
    atomic_fetch_add32(&arrived, 1);

    if (cpu != 0)
        cpu_halt_forever();

    struct dtb tree;
    unsigned expected = 0;
    int r = dtb_open(&tree, fdt, DTB_SIZE_UNKNOWN);
    if (r == DTB_OK)
        r = dtb_cpu_count(&tree, &expected);
    if (r != DTB_OK)
        guest_failf("smp: cannot count /cpus in the device tree: %s", dtb_strerror(r));
    if (expected == 0)
        guest_fail("smp: the device tree lists no cpu under /cpus");

    for (uint32_t spins = 0; spins < ARRIVAL_SPIN_LIMIT; spins++) {
        uint32_t n = atomic_load32(&arrived);
        if (n == expected) {
            printf("smp: all %u vCPUs arrived\n", expected);
            guest_pass();
        }
        if (n > expected)
            guest_failf("smp: %u vCPUs arrived but the device tree lists %u", n, expected);
        cpu_pause();
    }
    guest_failf("smp: timeout waiting for vCPUs (%u of %u arrived)", atomic_load32(&arrived), expected);
}
