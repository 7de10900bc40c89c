/* hello: every vCPU greets; vCPU 0 also reports the RAM the device tree describes, then passes. */
#include "guest.h"

void guest_main(unsigned cpu, const void *fdt)
{
    printf("hello from vCPU %u\n", cpu);
    if (cpu != 0)
        cpu_halt_forever();

    if (fdt) {
        struct dtb tree;
        uint64_t base, size;
        int r = dtb_open(&tree, fdt, DTB_SIZE_UNKNOWN);
        if (r == DTB_OK)
            r = dtb_memory(&tree, &base, &size);
        if (r != DTB_OK)
            guest_failf("hello: device tree at %p unreadable: %s", fdt, dtb_strerror(r));
        printf("RAM: %llu MiB at 0x%llx (device tree at %p)\n", (unsigned long long)(size >> 20),
               (unsigned long long)base, fdt);
    } else {
        printf("no device tree\n");
    }
    guest_pass();
}
