/* bench: N port writes then N MMIO writes to the probe device, nothing printed in the loops.
 * N = 20000, or n=<decimal> from /chosen/bootargs. */
#include "guest.h"

#define DEFAULT_N 20000u

/* Finds "n=<decimal>" as a whole word in `args`; returns 1 and stores it, 0 when absent or bad. */
static int parse_n(const char *args, uint32_t *n)
{
    const char *p = args;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (p[0] == 'n' && p[1] == '=') {
            const char *d = p + 2;
            uint64_t v = 0;
            int digits = 0;
            while (*d >= '0' && *d <= '9' && v <= 0xFFFFFFFFull) {
                v = v * 10 + (uint64_t)(*d++ - '0');
                digits++;
            }
            if (digits > 0 && (*d == '\0' || *d == ' ' || *d == '\t') && v <= 0xFFFFFFFFull) {
                *n = (uint32_t)v;
                return 1;
            }
            return 0;
        }
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    return 0;
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();

    uint32_t n = DEFAULT_N;
    if (fdt) {
        struct dtb tree;
        const char *args;
        if (dtb_open(&tree, fdt, DTB_SIZE_UNKNOWN) == DTB_OK && dtb_bootargs(&tree, &args) == DTB_OK &&
            !parse_n(args, &n) && args[0])
            printf("bench: no usable n=<decimal> in bootargs \"%s\"; using %u\n", args, n);
    }
    printf("bench: %u port writes, then %u MMIO writes\n", n, n);

    for (uint32_t i = 0; i < n; i++)
        outl(PROBE_PORT, i);
    for (uint32_t i = 0; i < n; i++)
        mmio_write32(PROBE_MMIO, i);

    guest_pass();
}
