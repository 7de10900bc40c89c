/* emulator-gap: executes CMPXCHG16B, which this project's software-backed KVM cannot emulate at
 * CPL 0. Where KVM emulates it (or runs it natively, as hardware VMX/SVM does) the guest says so
 * and passes; the host test then skips its check with that reason. */
#include "guest.h"

static uint64_t target[2] __attribute__((aligned(16)));

void guest_main(unsigned cpu, const void *fdt)
{
    (void)fdt;
    if (cpu != 0)
        cpu_halt_forever();
    printf("emulator-gap: executing cmpxchg16b\n");
    uint64_t lo = 0, hi = 0;
    __asm__ volatile("lock cmpxchg16b %2"
                     : "+a"(lo), "+d"(hi), "+m"(*(volatile uint64_t(*)[2])target)
                     : "b"((uint64_t)1), "c"((uint64_t)2)
                     : "memory", "cc");
    /* The comparison succeeded (target was 0:0), so the store happened. */
    if (target[0] != 1 || target[1] != 2)
        guest_failf("emulator-gap: cmpxchg16b ran but stored %lx:%lx", (unsigned long)target[1],
                    (unsigned long)target[0]);
    printf("emulator-gap: cmpxchg16b executed on this host\n");
    guest_pass();
}
