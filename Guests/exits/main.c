/* exits: a fixed sequence of port and MMIO accesses to the probe device and to unclaimed
 * addresses; each read is checked, and the first wrong one fails the run by name.
 * The VMM's test asserts the exact sequence the probe device records: keep README.md in step. */
#include "guest.h"

#define UNCLAIMED_PORT 0x510
#define UNCLAIMED_MMIO 0xF0100000ull

static void expect(uint64_t got, uint64_t want, const char *check)
{
    if (got != want)
        guest_failf("exits: %s: read 0x%llx, expected 0x%llx", check, (unsigned long long)got, (unsigned long long)want);
}

void guest_main(unsigned cpu, const void *fdt)
{
    (void)fdt;
    if (cpu != 0)
        cpu_halt_forever(); /* one vCPU drives the sequence */

    /* Ports: write, then read the complement back at the same width. */
    outb(PROBE_PORT, 0x12);
    expect(inb(PROBE_PORT), 0xED, "inb(0xE0) after outb 0x12");
    outw(PROBE_PORT, 0x3456);
    expect(inw(PROBE_PORT), 0xCBA9, "inw(0xE0) after outw 0x3456");
    outl(PROBE_PORT, 0x789ABCDE);
    expect(inl(PROBE_PORT), 0x87654321, "inl(0xE0) after outl 0x789ABCDE");

    /* MMIO: the same at four widths and offsets of the probe page. */
    mmio_write8(PROBE_MMIO + 0x0, 0x12);
    expect(mmio_read8(PROBE_MMIO + 0x0), 0xED, "mmio read8 +0x0 after write8 0x12");
    mmio_write16(PROBE_MMIO + 0x8, 0x3456);
    expect(mmio_read16(PROBE_MMIO + 0x8), 0xCBA9, "mmio read16 +0x8 after write16 0x3456");
    mmio_write32(PROBE_MMIO + 0x10, 0x789ABCDE);
    expect(mmio_read32(PROBE_MMIO + 0x10), 0x87654321, "mmio read32 +0x10 after write32 0x789ABCDE");
    mmio_write64(PROBE_MMIO + 0x18, 0x0123456789ABCDEFull);
    expect(mmio_read64(PROBE_MMIO + 0x18), 0xFEDCBA9876543210ull, "mmio read64 +0x18 after write64 0x0123456789ABCDEF");

    /* Nothing claims these: reads return all ones. */
    expect(inl(UNCLAIMED_PORT), 0xFFFFFFFF, "inl(0x510) unclaimed port");
    expect(mmio_read32(UNCLAIMED_MMIO), 0xFFFFFFFF, "mmio read32 0xF0100000 unclaimed");

    printf("exits: all checks passed\n");
    guest_pass();
}
