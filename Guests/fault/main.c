/* fault: executes CMPXCHG16B, which the host's instruction emulator cannot perform, so the VMM
 * must report a vCPU failure (KVM_EXIT_INTERNAL_ERROR, emulation failure) with the RIP. */
#include "guest.h"

static uint64_t target[2] __attribute__((aligned(16)));

void guest_main(unsigned cpu, const void *fdt)
{
    (void)fdt;
    if (cpu != 0)
        cpu_halt_forever();
    printf("fault: executing cmpxchg16b\n");
    uint64_t lo = 0, hi = 0;
    __asm__ volatile("lock cmpxchg16b %2"
                     : "+a"(lo), "+d"(hi), "+m"(*(volatile uint64_t(*)[2])target)
                     : "b"((uint64_t)1), "c"((uint64_t)2)
                     : "memory", "cc");
    /* Reached only where CMPXCHG16B is executed after all: never a pass. */
    guest_fail("fault: cmpxchg16b was executed instead of stopping the vCPU");
}
