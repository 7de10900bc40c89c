/* halt: every vCPU disables interrupts and halts for good. With an in-kernel LAPIC the vCPUs
 * block inside KVM_RUN (no exit at all), so this checks that the VMM's timeout still stops them. */
#include "guest.h"

void guest_main(unsigned cpu, const void *fdt)
{
    (void)fdt;
    if (cpu == 0)
        printf("halt: halting every vCPU with interrupts off\n");
    cpu_cli();
    for (;;)
        __asm__ volatile("hlt");
}
