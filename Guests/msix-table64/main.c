/* msix-table64: 8-byte accesses to the MSI-X table. One 64-bit store writes an entry's address
 * (low and high dwords), another its data and vector control (data | control << 32, acting as two
 * dword writes, low first). They program, unmask, retarget and mask a vector; 64-bit loads read
 * back what 32-bit loads read; an 8-byte PBA read shows the pending bit. vCPU 0 only.
 *
 * Only RAISE is used, and it is synchronous (sent with KVM_SIGNAL_MSI or pended inside the write's
 * exit, and so is a pending bit at the unmask): every check is judged at once, with the device
 * counters; no step sleeps. */
#include "msix.h"

#define IDT_A 0x30
#define IDT_B 0x31

static struct msix_dev d;
static struct msixdev_counts want; /* the device counters as they must read */

static void expect_entry(unsigned v, uint32_t addr_lo, uint32_t addr_hi, uint32_t data, uint32_t ctrl, const char *step)
{
    uint64_t e = msix_entry(&d, v);
    uint32_t got[4] = {mmio_read32(e), mmio_read32(e + 4), mmio_read32(e + 8), mmio_read32(e + 12)};
    uint32_t want[4] = {addr_lo, addr_hi, data, ctrl};
    for (unsigned i = 0; i < 4; i++)
        if (got[i] != want[i])
            guest_failf("msix-table64: %s: entry %u dword %u reads 0x%08x, expected 0x%08x", step, v, i, got[i], want[i]);
    uint64_t q0 = mmio_read64(e), q1 = mmio_read64(e + 8);
    if (q0 != ((uint64_t)addr_hi << 32 | addr_lo) || q1 != ((uint64_t)ctrl << 32 | data))
        guest_failf("msix-table64: %s: 8-byte reads of entry %u give 0x%016llx 0x%016llx, 4-byte reads 0x%08x%08x 0x%08x%08x",
                    step, v, (unsigned long long)q0, (unsigned long long)q1, addr_hi, addr_lo, ctrl, data);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-table64");
    unsigned v = d.vectors > 2 ? 2 : 0;
    msix_install_handler(IDT_A);
    msix_install_handler(IDT_B);
    msix_enable(&d, 1);

    /* Program masked with two 8-byte stores and read back. */
    msix_program64(&d, v, 0, IDT_A, 1);
    expect_entry(v, MSI_ADDRESS(0), 0, IDT_A, MSIX_CTRL_MASKED, "programmed masked with 8-byte stores");
    msix_raise(&d, v);
    want.pended++;
    msix_expect_deliveries_now(IDT_A, 0, "msix-table64: a vector masked by an 8-byte store delivers nothing");
    msix_expect_counts(&d, &want, "msix-table64: a raise of a vector masked by an 8-byte store pends");
    uint64_t pba = msix_pba_qword(&d, v / 64);
    if (!((pba >> (v % 64)) & 1))
        guest_failf("msix-table64: an 8-byte PBA read (0x%016llx) does not show vector %u pending", (unsigned long long)pba, v);
    printf("msix-table64: masked by an 8-byte store: raise pends, 8-byte PBA read shows it\n");

    /* The data+control store with control 0 unmasks: the pending vector is delivered once. */
    mmio_write64(msix_entry(&d, v) + MSIX_ENTRY_DATA, (uint64_t)IDT_A);
    want.signaled++;
    msix_expect_deliveries_now(IDT_A, 1, "msix-table64: unmask by an 8-byte store delivers the pending vector once");
    msix_expect_counts(&d, &want, "msix-table64: unmask by an 8-byte store sends the pending vector once");
    expect_entry(v, MSI_ADDRESS(0), 0, IDT_A, 0, "unmasked with an 8-byte store");
    msix_raise(&d, v);
    want.signaled++;
    msix_expect_deliveries_now(IDT_A, 2, "msix-table64: raise after the 8-byte unmask delivers once");
    msix_expect_counts(&d, &want, "msix-table64: raise after the 8-byte unmask is sent once");
    printf("msix-table64: unmasked by an 8-byte store: pending delivered, next raise delivered\n");

    /* Retarget with one 8-byte store of data (and control 0) while unmasked. */
    mmio_write64(msix_entry(&d, v) + MSIX_ENTRY_DATA, (uint64_t)IDT_B);
    expect_entry(v, MSI_ADDRESS(0), 0, IDT_B, 0, "retargeted with an 8-byte store");
    msix_raise(&d, v);
    want.signaled++;
    msix_expect_deliveries_now(IDT_B, 1, "msix-table64: raise after an 8-byte data store arrives on the new IDT vector");
    msix_expect_deliveries_now(IDT_A, 2, "msix-table64: nothing more on the old IDT vector after the 8-byte retarget");
    msix_expect_counts(&d, &want, "msix-table64: raise after the 8-byte retarget is sent once");

    /* Rewrite the address with an 8-byte store (same destination, high dword 0) and program a whole
     * entry in one go, unmasked: it delivers. */
    msix_program64(&d, v, 0, IDT_A, 0);
    expect_entry(v, MSI_ADDRESS(0), 0, IDT_A, 0, "reprogrammed unmasked with 8-byte stores");
    msix_raise(&d, v);
    want.signaled++;
    msix_expect_deliveries_now(IDT_A, 3, "msix-table64: a vector programmed unmasked with 8-byte stores delivers");
    msix_expect_counts(&d, &want, "msix-table64: a vector programmed unmasked with 8-byte stores is sent once");

    /* Mask with an 8-byte store (data unchanged, control 1). */
    mmio_write64(msix_entry(&d, v) + MSIX_ENTRY_DATA, (uint64_t)MSIX_CTRL_MASKED << 32 | IDT_A);
    if (!msix_is_masked(&d, v))
        guest_fail("msix-table64: an 8-byte store with control 1 did not mask the vector");
    msix_raise(&d, v);
    want.pended++;
    msix_expect_deliveries_now(IDT_A, 3, "msix-table64: a raise after masking with an 8-byte store delivers nothing");
    msix_expect_counts(&d, &want, "msix-table64: a raise after masking with an 8-byte store pends");
    if (!msix_pending(&d, v))
        guest_fail("msix-table64: a raise after masking with an 8-byte store did not pend");
    msix_unmask(&d, v);
    want.signaled++;
    msix_expect_deliveries_now(IDT_A, 4, "msix-table64: unmask after the 8-byte mask delivers once");
    msix_expect_deliveries_now(IDT_B, 1, "msix-table64: no stray delivery on the other IDT vector");
    msix_expect_counts(&d, &want, "msix-table64: unmask after the 8-byte mask sends once");
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-table64: nothing dropped");
    printf("msix-table64: all checks passed\n");
    guest_pass();
}
