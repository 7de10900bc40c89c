/* null: passes at once, for the start-up benchmark (Scripts/bench-startup.sh). */
#include "guest.h"

void guest_main(unsigned cpu, const void *fdt)
{
    (void)fdt;
    if (cpu != 0)
        cpu_halt_forever();
    guest_pass();
}
