/* bench-irq: interrupt-delivery benchmark, one delivery per round trip (ping-pong).
 *
 * bootargs: mode=signal|irqfd|doorbell n=<number> [bar0=0x<hex>] (bootargs.h)
 * For i = 0..n-1 the guest writes 0 to the mode's register of the MSI-X test device and waits,
 * halted, until its IDT vector 0x40 handler has run i + 1 times; then it prints
 * "bench-irq: mode=<m> delivered=<count>" and passes. With bar0= (the C loop of
 * Scripts/bench/irq-loop.c) the registers are taken to be there and PCI/MSI-X are left alone;
 * without it the guest finds the device on PCI and routes MSI-X vector 0 to APIC ID 0, vector 0x40.
 * A periodic 10 ms LAPIC tick bounds each wait (20 ticks). On PCI it also prints the device's
 * counters after the loop. vCPU 0 only. */
#include "msix.h"

#define IRQ_VECTOR 0x40
#define TICK_VECTOR 0x21
#define TICK_COUNT 10000000u /* 10 ms: KVM's LAPIC timer counts at 1 GHz with divide-by-1 */
#define WAIT_TICKS 20u

static volatile uint32_t delivered;
static volatile uint32_t ticks;

static void on_irq(struct interrupt_frame *frame)
{
    (void)frame;
    delivered = delivered + 1;
    lapic_eoi();
}

static void on_tick(struct interrupt_frame *frame)
{
    (void)frame;
    ticks = ticks + 1;
    lapic_eoi();
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();

    struct dtb tree;
    const char *args;
    if (dtb_open(&tree, fdt, DTB_SIZE_UNKNOWN) != DTB_OK || dtb_bootargs(&tree, &args) != DTB_OK)
        guest_fail("bench-irq: no /chosen/bootargs in the device tree");
    static const char *const modes[] = {"signal", "irqfd", "doorbell"};
    static const unsigned registers[] = {MSIXDEV_RAISE, MSIXDEV_RAISE_BACKEND, MSIXDEV_DOORBELL(0)};
    unsigned m = 0;
    while (m < 3 && !bootarg_is(args, "mode", modes[m]))
        m++;
    uint64_t n, bar0;
    if (m == 3 || bootarg_number(args, "n", UINT32_MAX, &n) != BOOTARG_FOUND)
        guest_failf("bench-irq: bootargs \"%s\" lack mode=signal|irqfd|doorbell and n=<number below 2^32>", args);

    static struct msix_dev d;
    int found = bootarg_number(args, "bar0", UINT64_MAX, &bar0);
    if (found < 0)
        guest_failf("bench-irq: bootargs \"%s\": bar0= takes an address (0x hex)", args);
    int on_pci = found == BOOTARG_ABSENT;
    if (on_pci) {
        const char *err = msix_open(&d, fdt, 0);
        if (err)
            guest_failf("bench-irq: %s", err);
        msix_program(&d, 0, 0, IRQ_VECTOR);
        msix_unmask(&d, 0);
        msix_maskall(&d, 0);
        msix_enable(&d, 1);
        bar0 = d.regs;
    }
    uint64_t trigger = bar0 + registers[m];

    idt_set_handler(IRQ_VECTOR, on_irq);
    idt_set_handler(TICK_VECTOR, on_tick);
    lapic_enable();
    lapic_write(LAPIC_TIMER_DIVIDE, 0xB); /* divide by 1 */
    lapic_write(LAPIC_LVT_TIMER, 1u << 17 | TICK_VECTOR); /* periodic */
    lapic_write(LAPIC_TIMER_INITIAL, TICK_COUNT);
    cpu_sti();

    for (uint32_t i = 0; i < (uint32_t)n; i++) {
        mmio_write32(trigger, 0);
        uint32_t start = ticks;
        for (;;) {
            cpu_cli();
            if (delivered > i)
                break;
            if (ticks - start > WAIT_TICKS)
                guest_failf("bench-irq: interrupt %u never arrived", i);
            __asm__ volatile("sti; hlt" ::: "memory");
        }
        cpu_sti();
    }

    lapic_write(LAPIC_LVT_TIMER, 1u << 16 | TICK_VECTOR); /* masked */
    lapic_write(LAPIC_TIMER_INITIAL, 0);
    if (on_pci) {
        struct msixdev_counts c;
        msixdev_counts(&d, &c);
        printf("bench-irq: device counters: signaled %u backend %u pended %u dropped %u\n", c.signaled, c.backend,
               c.pended, c.dropped);
    }
    printf("bench-irq: mode=%s delivered=%u\n", modes[m], delivered);
    guest_pass();
}
