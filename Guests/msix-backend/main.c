/* msix-backend: RAISE_BACKEND (the device's backend signals the vector's eventfd). Unmasked, the
 * irqfd delivers it. Masked, it is held: nothing arrives; a PBA read (poll) shows it pending and
 * the unmask then delivers it exactly once; without a PBA read the unmask delivers the held signal
 * exactly once; two held signals coalesce into one delivery. COUNT_BACKEND counts every signal.
 * Needs FEATURES bit 0. vCPU 0 only. */
#include "msix.h"

#define IDT 0x30

static struct msix_dev d;
static uint32_t backend_raises;

static void raise_backend(unsigned v)
{
    msix_raise_backend(&d, v);
    backend_raises++;
}

static void expect_total(uint32_t want, const char *step)
{
    uint32_t got = msix_settle_count(IDT, want, MSIX_WAIT_US);
    if (got != want)
        guest_failf("msix-backend: %s: %u deliveries in total, expected %u (COUNT_BACKEND %u)", step, got, want,
                    msixdev_read(&d, MSIXDEV_COUNT_BACKEND));
    printf("msix-backend: %s: ok (%u deliveries so far)\n", step, got);
}

static void expect_held(uint32_t total, const char *step)
{
    delay_us(MSIX_SETTLE_US);
    if (msix_count(IDT) != total)
        guest_failf("msix-backend: %s: delivered while masked (%u deliveries, expected %u)", step, msix_count(IDT), total);
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-backend");
    if (!(d.features & MSIXDEV_FEATURE_BACKEND))
        guest_failf("msix-backend: needs FEATURES bit 0 (backend eventfds); FEATURES is 0x%x", d.features);
    unsigned v = d.vectors > 1 ? 1 : 0;
    msix_install_handler(IDT);
    msix_program(&d, v, 0, IDT);
    msix_unmask(&d, v);
    msix_enable(&d, 1);

    /* 1. Unmasked: the irqfd delivers. */
    raise_backend(v);
    expect_total(1, "RAISE_BACKEND while unmasked arrives exactly once");
    raise_backend(v);
    expect_total(2, "a second RAISE_BACKEND while unmasked arrives exactly once");

    /* 2. Masked, then a PBA read: the poll turns the held signal into a pending bit. */
    msix_mask(&d, v);
    raise_backend(v);
    expect_held(2, "masked RAISE_BACKEND is held");
    int seen = 0;
    for (unsigned i = 0; i < MSIX_WAIT_US / 1000 && !seen; i++) {
        seen = msix_pending(&d, v); /* each PBA read polls */
        if (!seen)
            delay_us(1000);
    }
    if (!seen)
        guest_failf("msix-backend: PBA bit not set by a PBA read (poll) after RAISE_BACKEND while masked (PBA 0x%08x)",
                    mmio_read32(d.pba));
    expect_held(2, "a PBA read delivers nothing while masked");
    msix_unmask(&d, v);
    expect_total(3, "unmask after the poll delivers exactly once");
    if (msix_pending(&d, v))
        guest_fail("msix-backend: PBA bit still set after unmask delivered it");

    /* 3. Masked, no PBA read: unmask delivers the signal held in the eventfd. */
    msix_mask(&d, v);
    raise_backend(v);
    expect_held(3, "masked RAISE_BACKEND (no poll) is held");
    msix_unmask(&d, v);
    expect_total(4, "unmask delivers the held signal exactly once");

    /* 4. Two signals while masked coalesce into one delivery. */
    msix_mask(&d, v);
    raise_backend(v);
    raise_backend(v);
    expect_held(4, "two masked RAISE_BACKENDs are held");
    msix_unmask(&d, v);
    expect_total(5, "unmask delivers two held signals as one");
    if (msix_pending(&d, v))
        guest_fail("msix-backend: PBA bit set after the held signals were delivered");

    msix_expect_counter(&d, MSIXDEV_COUNT_BACKEND, backend_raises, "msix-backend: COUNT_BACKEND counts every RAISE_BACKEND");
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-backend: nothing dropped");
    struct msixdev_counts c;
    msixdev_counts(&d, &c);
    printf("msix-backend: counters: signaled %u backend %u pended %u dropped %u\n", c.signaled, c.backend, c.pended,
           c.dropped);
    printf("msix-backend: all checks passed\n");
    guest_pass();
}
