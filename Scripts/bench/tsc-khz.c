/* tsc-khz: the host's TSC rate in kHz, measured against CLOCK_MONOTONIC over 200 ms, so the
 * vmexit benchmark can turn kvm-unit-tests' cycle counts into nanoseconds.
 *   cc -O2 -o tsc-khz Scripts/bench/tsc-khz.c && ./tsc-khz */
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <x86intrin.h>

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void)
{
    double t0 = seconds();
    uint64_t c0 = __rdtsc();
    while (seconds() - t0 < 0.2)
        ;
    double t1 = seconds();
    uint64_t c1 = __rdtsc();
    printf("%.0f\n", (double)(c1 - c0) / (t1 - t0) / 1000.0);
    return 0;
}
