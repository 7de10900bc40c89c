/* scratch: the guest of README's "As a library" example. Every vCPU reads the 32-bit register at
 * 0xF1000000, where the example registers its own device (it reads 0x2A), and checks the value;
 * vCPU 0 passes once every vCPU has read it. Unclaimed MMIO would read 0xFFFFFFFF and fail. */
#include "guest.h"

#define SCRATCH_MMIO 0xF1000000ull
#define SCRATCH_VALUE 0x2Au

static volatile uint32_t done;

void guest_main(unsigned cpu, const void *fdt)
{
    unsigned cpus = 1;
    struct dtb tree;
    if (fdt && dtb_open(&tree, fdt, DTB_SIZE_UNKNOWN) == DTB_OK)
        (void)dtb_cpu_count(&tree, &cpus);
    uint32_t value = mmio_read32(SCRATCH_MMIO);
    if (value != SCRATCH_VALUE)
        guest_failf("scratch: vCPU %u read 0x%x at 0x%llx, expected 0x%x (is the device registered?)", cpu, value,
                    SCRATCH_MMIO, SCRATCH_VALUE);
    printf("scratch: vCPU %u read 0x%x from the library's device\n", cpu, value);
    atomic_fetch_add32(&done, 1);
    if (cpu != 0)
        cpu_halt_forever();
    while (atomic_load32(&done) < cpus)
        cpu_pause();
    guest_pass();
}
