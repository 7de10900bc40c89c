/* msix-x2apic: x2APIC and MSI-X messages to an APIC ID above 255. Needs 2 vCPUs whose device-tree
 * APIC IDs are 0 and one above 255 (the suite runs it with --apic-ids 0,300). Both vCPUs switch
 * their LAPIC to x2APIC mode and read their 32-bit APIC ID from MSR 0x802, which must match the
 * tree's cpu reg. CPUID leaf 0x40000001 must advertise KVM_FEATURE_MSI_EXT_DEST_ID (EAX bit 15).
 * vCPU 0 then aims vector 0 at the high APIC ID with the extended destination ID (ID bits 14:8
 * in address bits 11:5) and checks that RAISE (KVM_SIGNAL_MSI) and RAISE_BACKEND (the irqfd,
 * COUNT_SIGNALED unchanged) each reach vCPU 1 once and vCPU 0 never; vector 1, aimed at APIC 0,
 * reaches vCPU 0 only; and vector 2, aimed at the high ID's low 8 bits without the extended bits
 * (an APIC ID nobody has), reaches no vCPU.
 *
 * Judging, as msix-smp: after each step vCPU 0 sends vCPU 1 a lower-priority fence IPI (through
 * the x2APIC ICR) and waits for it to be taken, so every MSI that reached vCPU 1 has been handled;
 * irqfd steps first watch the quiet window. */
#include "msix.h"

#define IDT_A 0x30 /* vector 0 -> the high APIC ID */
#define IDT_B 0x31 /* vector 1 -> APIC 0 */
#define IDT_C 0x32 /* vector 2 -> the high ID's low byte only: nobody */

static struct msix_dev d;
static volatile uint32_t apic_of[2];     /* each vCPU's APIC ID, from MSR 0x802 */
static volatile uint32_t cpu1_ready;
static unsigned tree_apic[2];
static uint32_t expected[2][3]; /* [vCPU][IDT_A, IDT_B, IDT_C] */
static struct msixdev_counts want;

static void expect(int cpu, uint8_t idt, int quiet, const char *step)
{
    if (cpu >= 0)
        expected[cpu][idt - IDT_A]++;
    for (unsigned c = 0; c < 2; c++)
        for (unsigned i = 0; i < 3; i++)
            (void)msix_wait_count_on(c, (uint8_t)(IDT_A + i), expected[c][i], MSIX_WAIT_US);
    if (quiet)
        delay_us(MSIX_QUIET_US);
    msix_fence(tree_apic[1], "msix-x2apic", step);
    msix_take_pending();
    for (unsigned c = 0; c < 2; c++)
        for (unsigned i = 0; i < 3; i++) {
            uint32_t got = msix_count_on(c, (uint8_t)(IDT_A + i));
            if (got != expected[c][i])
                guest_failf("msix-x2apic: %s: vCPU %u (APIC ID %u) took IDT vector 0x%02x %u times, expected %u", step, c,
                            tree_apic[c], IDT_A + i, got, expected[c][i]);
        }
    msix_expect_counts(&d, &want, step);
    printf("msix-x2apic: %s: ok\n", step);
}

static void enter_x2apic(unsigned cpu)
{
    if (!x2apic_supported())
        guest_failf("msix-x2apic: vCPU %u: CPUID leaf 1 does not offer x2APIC (ECX bit 21)", cpu);
    x2apic_enable();
    msix_setup_cpu();
    apic_of[cpu] = lapic_id();
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu == 1) {
        enter_x2apic(1);
        atomic_store32(&cpu1_ready, 1);
        cpu_idle_forever();
    }
    if (cpu != 0)
        cpu_halt_forever();

    /* The APIC IDs the machine says it gave: the reg of each /cpus child, in vCPU order. */
    struct dtb tree;
    if (!fdt || dtb_open(&tree, fdt, DTB_SIZE_UNKNOWN) != DTB_OK)
        guest_fail("msix-x2apic: no device tree");
    int cpus = dtb_find(&tree, "/cpus");
    unsigned n = 0;
    for (int node = cpus < 0 ? -1 : dtb_first_child(&tree, cpus); node >= 0; node = dtb_next_sibling(&tree, node)) {
        uint32_t reg;
        if (dtb_prop_u32(&tree, node, "reg", &reg) != DTB_OK)
            guest_fail("msix-x2apic: a /cpus child without a readable reg");
        if (n < 2)
            tree_apic[n] = reg;
        n++;
    }
    if (n != 2 || tree_apic[0] != 0 || tree_apic[1] <= 255 || tree_apic[1] > 32767)
        guest_failf("msix-x2apic: needs 2 vCPUs with APIC IDs 0 and one in 256…32767 (run with --apic-ids 0,300); "
                    "the device tree lists %u, the first two %u and %u", n, tree_apic[0], tree_apic[1]);

    uint32_t a, b, c, dx;
    cpuid(0x40000000, 0, &a, &b, &c, &dx);
    if (b != 0x4B4D564B || a < 0x40000001) /* "KVMK", and the features leaf exists */
        guest_failf("msix-x2apic: CPUID 0x40000000 is not KVM's (EBX 0x%08x, max leaf 0x%08x)", b, a);
    cpuid(0x40000001, 0, &a, &b, &c, &dx);
    if (!(a & (1u << 15)))
        guest_failf("msix-x2apic: CPUID 0x40000001 EAX 0x%08x lacks KVM_FEATURE_MSI_EXT_DEST_ID (bit 15)", a);

    enter_x2apic(0);
    if (!wait_until(atomic_load32(&cpu1_ready) != 0, 1000000))
        guest_fail("msix-x2apic: vCPU 1 did not come up");
    if (apic_of[0] != tree_apic[0] || apic_of[1] != tree_apic[1])
        guest_failf("msix-x2apic: x2APIC IDs (MSR 0x802) %u/%u differ from the tree's cpu reg %u/%u", apic_of[0],
                    apic_of[1], tree_apic[0], tree_apic[1]);
    printf("msix-x2apic: x2APIC mode on both vCPUs, APIC IDs %u and %u; extended destination IDs advertised\n",
           apic_of[0], apic_of[1]);

    msix_start(&d, fdt, "msix-x2apic");
    if (!(d.features & MSIXDEV_FEATURE_BACKEND) || d.vectors < 3)
        guest_failf("msix-x2apic: needs FEATURES bit 0 and 3 vectors (FEATURES 0x%x, %u vectors)", d.features, d.vectors);
    for (uint8_t idt = IDT_A; idt <= IDT_C; idt++)
        msix_install_handler(idt);
    msix_fence_setup();
    unsigned high = tree_apic[1];
    msix_program(&d, 0, 0, IDT_A);
    msix_set_address(&d, 0, MSI_ADDRESS_EXT(high));
    msix_program(&d, 1, 0, IDT_B);
    msix_program(&d, 2, 0, IDT_C);
    msix_set_address(&d, 2, MSI_ADDRESS(high)); /* the low 8 bits alone: APIC ID high & 0xFF */
    for (unsigned v = 0; v < 3; v++)
        msix_unmask(&d, v);
    msix_enable(&d, 1);

    msix_raise(&d, 0);
    want.signaled++;
    expect(1, IDT_A, 0, "RAISE of vector 0 (KVM_SIGNAL_MSI) reaches APIC ID high only");
    msix_wait_routes(&d, "msix-x2apic: routes committed before a backend event");
    msix_raise_backend(&d, 0);
    want.backend++;
    expect(1, IDT_A, 1, "RAISE_BACKEND of vector 0 (irqfd) reaches APIC ID high only");
    msix_raise(&d, 1);
    want.signaled++;
    expect(0, IDT_B, 0, "RAISE of vector 1 reaches APIC ID 0 only");
    msix_raise(&d, 2);
    want.signaled++;
    expect(-1, IDT_C, 1, "RAISE of vector 2 (the high ID's low byte, no extended bits) reaches no vCPU");
    msix_raise_backend(&d, 2);
    want.backend++;
    expect(-1, IDT_C, 1, "RAISE_BACKEND of vector 2 reaches no vCPU");
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-x2apic: nothing dropped");
    printf("msix-x2apic: all checks passed\n");
    guest_pass();
}
