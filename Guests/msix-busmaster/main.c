/* msix-busmaster: with Bus Master Enable (PCI Command bit 2) clear the function sends no MSI-X
 * message: raises are dropped (COUNT_DROPPED), backend signals are dropped, an unmask while BME
 * is clear delivers nothing, and a bit pending from before survives until BME is set again.
 * vCPU 0 only.
 *
 * RAISE is synchronous (dropped or sent inside its exit), so "nothing delivered" is proved by the
 * counters and the delivery count right after the write. RAISE_BACKEND while BME is set goes
 * through an irqfd (asynchronous): waited for with a quiet window. */
#include "msix.h"

static struct msix_dev d;
static struct msixdev_counts want;

static void bus_master(int on)
{
    pci_command_set(d.how, d.bdf, PCI_COMMAND_MASTER, on);
    if (((pci_cfg_read(d.how, d.bdf, PCI_COMMAND, 2) & PCI_COMMAND_MASTER) != 0) != (on != 0))
        guest_fail("msix-busmaster: the Command register did not take the Bus Master Enable bit");
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-busmaster");
    if (d.vectors < 2)
        guest_pass(); /* needs two vectors; a one-vector device has nothing more to show here */
    msix_install_handler(0x30);
    msix_install_handler(0x31);
    msix_program(&d, 0, 0, 0x30);
    msix_program(&d, 1, 0, 0x31);
    msix_enable(&d, 1);
    msix_unmask(&d, 0);

    /* 1. BME set (msix_open sets it, as a driver does): a raise is delivered. */
    msix_raise(&d, 0);
    want.signaled++;
    msix_expect_deliveries_now(0x30, 1, "msix-busmaster: with BME set a raise is delivered");
    msix_expect_counts(&d, &want, "msix-busmaster: with BME set a raise is signaled");

    /* 2. Vector 1 masked with a raise pending, then BME cleared. */
    msix_raise(&d, 1);
    want.pended++;
    bus_master(0);
    printf("msix-busmaster: Bus Master Enable cleared\n");

    /* 3. Raises on an unmasked and on a masked vector are dropped; nothing arrives. */
    msix_raise(&d, 0);
    msix_raise(&d, 1);
    want.dropped += 2;
    msix_expect_deliveries_now(0x30, 1, "msix-busmaster: a raise with BME clear delivers nothing");
    msix_expect_counts(&d, &want, "msix-busmaster: raises with BME clear are dropped");
    msix_expect_pending(&d, 1, 1, "msix-busmaster: the bit pending from before BME was cleared stays");
    msix_expect_pending(&d, 0, 0, "msix-busmaster: a raise with BME clear does not pend");

    /* 4. A backend signal with BME clear is dropped too: it must not arrive later either. */
    msix_raise_backend(&d, 0);
    want.dropped++;
    msix_expect_counts(&d, &want, "msix-busmaster: a backend signal with BME clear is dropped");

    /* 5. Unmasking the pending vector with BME clear delivers nothing. */
    msix_unmask(&d, 1);
    msix_expect_deliveries_now(0x31, 0, "msix-busmaster: an unmask with BME clear delivers nothing");
    msix_expect_counts(&d, &want, "msix-busmaster: an unmask with BME clear sends nothing");
    msix_expect_pending(&d, 1, 1, "msix-busmaster: the pending bit survives an unmask with BME clear");

    /* 6. Setting BME delivers the pending bit once; the dropped raises stay dropped. */
    bus_master(1);
    printf("msix-busmaster: Bus Master Enable set again\n");
    want.signaled++;
    msix_expect_deliveries_now(0x31, 1, "msix-busmaster: setting BME delivers the pending vector once");
    msix_expect_pending(&d, 1, 0, "msix-busmaster: the pending bit is cleared by that delivery");
    msix_expect_deliveries(0x30, 1, "msix-busmaster: nothing dropped with BME clear arrives later");
    msix_expect_counts(&d, &want, "msix-busmaster: setting BME sends only the pending vector");

    /* 7. And the backend path works again: through the irqfd re-attached with BME. */
    msix_raise_backend(&d, 0);
    want.backend++;
    msix_expect_deliveries(0x30, 2, "msix-busmaster: with BME set again a backend signal is delivered once");
    msix_expect_counts(&d, &want, "msix-busmaster: the backend signal goes through the irqfd");
    printf("msix-busmaster: all checks passed\n");
    guest_pass();
}
