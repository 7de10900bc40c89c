/* msix-deliver: every MSI-X vector of the test device, raised once through RAISE, arrives exactly
 * once on its own IDT vector; the device counts one KVM_SIGNAL_MSI per raise. vCPU 0 only. */
#include "msix.h"

#define FIRST_IDT 0x30u
#define IDT_SLOTS (0xFFu - FIRST_IDT) /* 0x30..0xFE; 0xFF is the spurious vector */

static struct msix_dev d;

static uint8_t idt_of(unsigned v) { return (uint8_t)(FIRST_IDT + v % IDT_SLOTS); }

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-deliver");
    unsigned n = d.vectors;
    if (n > IDT_SLOTS)
        printf("msix-deliver: %u vectors share %u IDT vectors (0x30..0xfe); each raise is awaited before the next\n",
               n, IDT_SLOTS);

    for (unsigned i = 0; i < IDT_SLOTS && i < n; i++)
        msix_install_handler(idt_of(i));
    for (unsigned v = 0; v < n; v++) {
        msix_program(&d, v, 0, idt_of(v));
        msix_unmask(&d, v);
    }
    msix_enable(&d, 1);
    if (!(msix_control(&d) & MSIX_CONTROL_ENABLE))
        guest_fail("msix-deliver: Message Control Enable bit does not read back as set");
    for (unsigned v = 0; v < n; v++)
        if (msix_entry_read(&d, v, MSIX_ENTRY_DATA) != idt_of(v) || msix_is_masked(&d, v))
            guest_failf("msix-deliver: table entry %u reads data 0x%x control 0x%x after programming", v,
                        msix_entry_read(&d, v, MSIX_ENTRY_DATA), msix_entry_read(&d, v, MSIX_ENTRY_CTRL));

    /* One raise per vector; wait for it before the next (so that shared IDT vectors, if any,
     * never coalesce). RAISE is synchronous: an extra delivery caused by the same write would be
     * taken at once, so the count is compared exactly right after the awaited one (a second
     * KVM_SIGNAL_MSI merged in the IRR shows in COUNT_SIGNALED, checked at the end). */
    for (unsigned v = 0; v < n; v++) {
        uint8_t idt = idt_of(v);
        uint32_t before = msix_count(idt);
        msix_raise(&d, v);
        if (!msix_wait_count(idt, before + 1, MSIX_WAIT_US))
            guest_failf("msix-deliver: vector %u (IDT 0x%02x) not delivered after RAISE (COUNT_SIGNALED %u, PBA bit %d)",
                        v, idt, msixdev_read(&d, MSIXDEV_COUNT_SIGNALED), msix_pending(&d, v));
        msix_take_pending();
        if (msix_count(idt) != before + 1)
            guest_failf("msix-deliver: vector %u (IDT 0x%02x) delivered %u times after one RAISE", v, idt,
                        msix_count(idt) - before);
    }
    /* A delivery that no raise caused (a stale irqfd route, say) could come at any time: one
     * quiet window before the final counts. */
    delay_us(MSIX_QUIET_US);
    for (unsigned i = 0; i < IDT_SLOTS && i < n; i++) {
        uint8_t idt = idt_of(i);
        uint32_t want = n / IDT_SLOTS + (i < n % IDT_SLOTS ? 1u : 0u);
        if (n <= IDT_SLOTS)
            want = 1;
        if (msix_count(idt) != want)
            guest_failf("msix-deliver: IDT vector 0x%02x delivered %u times, expected %u (exactly once per vector)",
                        idt, msix_count(idt), want);
    }
    printf("msix-deliver: %u vectors raised through RAISE, each delivered exactly once\n", n);

    msix_expect_counter(&d, MSIXDEV_COUNT_SIGNALED, n, "msix-deliver: COUNT_SIGNALED equals the raises");
    msix_expect_counter(&d, MSIXDEV_COUNT_PENDED, 0, "msix-deliver: nothing pended");
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-deliver: nothing dropped");
    msix_expect_counter(&d, MSIXDEV_COUNT_BACKEND, 0, "msix-deliver: no backend signals");
    for (unsigned v = 0; v < n; v++)
        msix_expect_pending(&d, v, 0, "msix-deliver: no PBA bit set after delivery");
    printf("msix-deliver: COUNT_SIGNALED %u, no pending bits; all checks passed\n", n);
    guest_pass();
}
