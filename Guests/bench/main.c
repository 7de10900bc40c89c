/* bench: N port writes then N MMIO writes to the probe device, nothing printed in the loops.
 * N = 20000, or n=<number> (decimal or 0x hex) from /chosen/bootargs. */
#include "guest.h"

#define DEFAULT_N 20000u

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();

    uint32_t n = DEFAULT_N;
    if (fdt) {
        struct dtb tree;
        const char *args;
        uint64_t given;
        if (dtb_open(&tree, fdt, DTB_SIZE_UNKNOWN) == DTB_OK && dtb_bootargs(&tree, &args) == DTB_OK) {
            if (bootarg_number(args, "n", UINT32_MAX, &given) == BOOTARG_FOUND)
                n = (uint32_t)given;
            else if (args[0])
                printf("bench: no usable n=<number below 2^32> in bootargs \"%s\"; using %u\n", args, n);
        }
    }
    printf("bench: %u port writes, then %u MMIO writes\n", n, n);

    for (uint32_t i = 0; i < n; i++)
        outl(PROBE_PORT, i);
    for (uint32_t i = 0; i < n; i++)
        mmio_write32(PROBE_MMIO, i);

    guest_pass();
}
