/* msix-smp: the destination APIC ID in the message address selects the vCPU that takes the
 * interrupt. Needs 2 vCPUs (from /cpus in the device tree; APIC IDs from each cpu node's reg).
 * vCPU 1 enables its LAPIC and idles with interrupts on; vCPU 0 drives the device and checks the
 * per-vCPU counters through RAISE, RAISE_BACKEND and DOORBELL, moving vector 0's destination while
 * unmasked and while masked (pending), with vector 1 (if the device has 2 vectors) aimed at the
 * other vCPU at the same time.
 *
 * Judging: a delivery to vCPU 1 is taken when vCPU 1 runs, possibly late. After every step vCPU 0
 * sends vCPU 1 a fence IPI of lower priority (IDT 0x21) than the MSIs and waits for vCPU 1 to take
 * it: a LAPIC delivers its highest pending vector first, so every MSI that reached vCPU 1's LAPIC
 * before the fence was sent has been handled by then. RAISE (KVM_SIGNAL_MSI inside the write's
 * exit) is judged right after the fence, with COUNT_SIGNALED; RAISE_BACKEND and DOORBELL steps,
 * whose irqfd injection may come late from a kernel worker (and a doorbell from the backend
 * thread, counted in COUNT_BACKEND), first watch a quiet window (MSIX_QUIET_US). */
#include "msix.h"

#define IDT_A 0x30
#define IDT_B 0x31

static struct msix_dev d;
static volatile uint32_t cpu1_ready;
static volatile uint32_t cpu1_apic;
static unsigned apic[2];
static uint32_t expected[2][2]; /* [vCPU][IDT_A, IDT_B] */
static struct msixdev_counts want; /* the device counters as they must read */

enum judge { AT_ONCE, QUIET };

/* vCPU i's APIC ID: the reg of /cpus/cpu@i. */
static unsigned tree_apic_id(const struct dtb *t, unsigned i)
{
    char path[] = "/cpus/cpu@0";
    path[10] = (char)('0' + i);
    int node = dtb_find(t, path);
    uint32_t reg;
    if (node < 0 || dtb_prop_u32(t, node, "reg", &reg) != DTB_OK)
        guest_failf("msix-smp: no readable reg in %s of the device tree", path);
    return reg;
}

/* Bump the expectation, then wait for every counter (and for the backend's count), watch the
 * quiet window if the path may be late, fence vCPU 1, and compare all four and the device
 * counters exactly. */
static void expect(unsigned cpu, uint8_t idt, enum judge how, const char *step)
{
    expected[cpu][idt - IDT_A]++;
    for (unsigned c = 0; c < 2; c++)
        for (unsigned i = 0; i < 2; i++)
            (void)msix_wait_count_on(c, (uint8_t)(IDT_A + i), expected[c][i], MSIX_WAIT_US);
    (void)msix_wait_counter(&d, MSIXDEV_COUNT_BACKEND, want.backend, MSIX_WAIT_US);
    if (how == QUIET)
        delay_us(MSIX_QUIET_US);
    msix_fence(apic[1], "msix-smp", step);
    msix_take_pending();
    for (unsigned c = 0; c < 2; c++)
        for (unsigned i = 0; i < 2; i++) {
            uint32_t got = msix_count_on(c, (uint8_t)(IDT_A + i));
            if (got != expected[c][i])
                guest_failf("msix-smp: %s: vCPU %u took IDT vector 0x%02x %u times, expected %u (other vCPU: %u)", step,
                            c, IDT_A + i, got, expected[c][i], msix_count_on(1 - c, (uint8_t)(IDT_A + i)));
        }
    msix_expect_counts(&d, &want, step);
    printf("msix-smp: %s: vCPU 0 took 0x30 x%u 0x31 x%u, vCPU 1 took 0x30 x%u 0x31 x%u\n", step, expected[0][0],
           expected[0][1], expected[1][0], expected[1][1]);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu == 1) {
        msix_setup_cpu();
        cpu1_apic = lapic_id();
        atomic_store32(&cpu1_ready, 1);
        cpu_idle_forever();
    }
    if (cpu != 0)
        cpu_halt_forever();

    struct dtb tree;
    unsigned ncpus = 0;
    if (!fdt || dtb_open(&tree, fdt, DTB_SIZE_UNKNOWN) != DTB_OK || dtb_cpu_count(&tree, &ncpus) != DTB_OK)
        guest_fail("msix-smp: cannot count /cpus in the device tree");
    if (ncpus < 2)
        guest_failf("msix-smp: needs 2 vCPUs (the device tree lists %u)", ncpus);
    apic[0] = tree_apic_id(&tree, 0);
    apic[1] = tree_apic_id(&tree, 1);

    msix_start(&d, fdt, "msix-smp");
    if (!wait_until(atomic_load32(&cpu1_ready) != 0, 1000000))
        guest_fail("msix-smp: vCPU 1 did not come up");
    if (lapic_id() != apic[0] || cpu1_apic != apic[1])
        guest_failf("msix-smp: LAPIC IDs %u/%u differ from the tree's cpu reg %u/%u", lapic_id(), cpu1_apic, apic[0],
                    apic[1]);
    printf("msix-smp: vCPU 0 APIC ID %u, vCPU 1 APIC ID %u\n", apic[0], apic[1]);
    if (!(d.features & MSIXDEV_FEATURE_BACKEND))
        guest_failf("msix-smp: needs FEATURES bit 0 (backend); FEATURES is 0x%x", d.features);
    int two = d.vectors >= 2;

    msix_install_handler(IDT_A);
    msix_install_handler(IDT_B);
    msix_fence_setup();
    msix_program(&d, 0, apic[0], IDT_A);
    msix_unmask(&d, 0);
    if (two) {
        msix_program(&d, 1, apic[1], IDT_B);
        msix_unmask(&d, 1);
    }
    msix_enable(&d, 1);

    msix_raise(&d, 0);
    want.signaled++;
    expect(0, IDT_A, AT_ONCE, "RAISE vector 0 -> APIC 0");
    if (two) {
        msix_raise(&d, 1);
        want.signaled++;
        expect(1, IDT_B, AT_ONCE, "RAISE vector 1 -> APIC 1");
    }

    /* Move vector 0 between the vCPUs while unmasked. RAISE_BACKEND and DOORBELL deliver through
     * the irqfd (nothing signaled). */
    msix_set_address(&d, 0, MSI_ADDRESS(apic[1]));
    msix_raise(&d, 0);
    want.signaled++;
    expect(1, IDT_A, AT_ONCE, "RAISE vector 0 after moving it to APIC 1");
    msix_wait_routes(&d, "msix-smp: routes committed before a backend event");
    msix_raise_backend(&d, 0);
    want.backend++;
    expect(1, IDT_A, QUIET, "RAISE_BACKEND vector 0 -> APIC 1");
    msix_set_address(&d, 0, MSI_ADDRESS(apic[0]));
    msix_wait_routes(&d, "msix-smp: routes committed before a backend event");
    msix_raise_backend(&d, 0);
    want.backend++;
    expect(0, IDT_A, QUIET, "RAISE_BACKEND vector 0 after moving it back to APIC 0");
    if (two) {
        msix_wait_routes(&d, "msix-smp: routes committed before a backend event");
        msix_raise_backend(&d, 1);
        want.backend++;
        expect(1, IDT_B, QUIET, "RAISE_BACKEND vector 1 -> APIC 1");
    }
    if (d.features & MSIXDEV_FEATURE_DOORBELL) {
        msix_set_address(&d, 0, MSI_ADDRESS(apic[1]));
        msix_wait_routes(&d, "msix-smp: routes committed before a backend event");
        msix_doorbell(&d, 0);
        want.backend++;
        expect(1, IDT_A, QUIET, "DOORBELL vector 0 after moving it to APIC 1");
        msix_set_address(&d, 0, MSI_ADDRESS(apic[0]));
        msix_wait_routes(&d, "msix-smp: routes committed before a backend event");
        msix_doorbell(&d, 0);
        want.backend++;
        expect(0, IDT_A, QUIET, "DOORBELL vector 0 after moving it to APIC 0");
    }

    /* Move while masked: the pending message goes to the new destination at unmask (sent with
     * KVM_SIGNAL_MSI inside the unmask's exit). */
    msix_mask(&d, 0);
    msix_set_address(&d, 0, MSI_ADDRESS(apic[1]));
    msix_raise(&d, 0);
    want.pended++;
    msix_expect_pending(&d, 0, 1, "msix-smp: vector 0 pending while masked");
    msix_expect_counts(&d, &want, "msix-smp: the raise of masked vector 0 pends");
    msix_unmask(&d, 0);
    want.signaled++;
    expect(1, IDT_A, AT_ONCE, "vector 0 moved to APIC 1 while masked, delivered at unmask");
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-smp: nothing dropped");
    printf("msix-smp: all checks passed\n");
    guest_pass();
}
