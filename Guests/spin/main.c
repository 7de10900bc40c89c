/* spin: never ends, on every vCPU, for the VMM's timeout tests. */
#include "guest.h"

void guest_main(unsigned cpu, const void *fdt)
{
    (void)fdt;
    if (cpu == 0)
        printf("spin: looping forever\n");
    for (;;)
        compiler_barrier();
}
