/* fault: ends the run with a triple fault, which every KVM host reports the same way
 * (KVM_EXIT_SHUTDOWN), so the VMM's "vCPU failed" path is tested identically everywhere. */
#include "guest.h"

struct __attribute__((packed)) empty_idt {
    uint16_t limit;
    uint64_t base;
};

void guest_main(unsigned cpu, const void *fdt)
{
    (void)fdt;
    if (cpu != 0)
        cpu_halt_forever();
    printf("fault: loading an empty IDT and executing ud2\n");
    /* With an IDT limit of 0 the #UD cannot be delivered (#GP), nor can that (#DF), nor the
     * double fault: the processor shuts down. Interrupts stay off, so nothing else can arrive. */
    static const struct empty_idt idtr = {0, 0};
    __asm__ volatile("lidt %0\n\tud2" : : "m"(idtr) : "memory");
    /* Never reached: a processor that survived would have run on past ud2. */
    guest_fail("fault: ud2 with an empty IDT did not shut the vCPU down");
}
