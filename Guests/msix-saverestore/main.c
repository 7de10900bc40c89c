/* msix-saverestore: SAVE_RESTORE snapshots the MSI-X state, resets it and restores the snapshot.
 * Four vectors are programmed (two unmasked, two masked, distinct data), routes are set up by
 * backend signals, one masked vector is pending; after SAVE_RESTORE the table, the masks, Message Control and
 * the pending bit read as before, the pending vector is delivered exactly once at unmask, and RAISE
 * and RAISE_BACKEND deliver on the restored routes. A second round saves MaskAll with a pending
 * unmasked vector. vCPU 0 only.
 *
 * Judging: RAISE and a pending bit sent at an unmask or MaskAll clear are synchronous (inside the
 * write's exit) and are checked at once with the device counters; RAISE_BACKEND deliveries (irqfd)
 * and "the restore delivered nothing" (the restore re-attaches irqfds, whose injection would come
 * from a kernel worker) are checked after a quiet window (MSIX_QUIET_US). */
#include "msix.h"

#define NV 4 /* roles: 0 unmasked, 1 masked + pending, 2 unmasked, 3 masked (fewer with fewer vectors) */

static struct msix_dev d;
static uint32_t saved[NV][4];
static unsigned nv;
static struct msixdev_counts want; /* the device counters as they must read */

static uint8_t idt(unsigned i) { return (uint8_t)(0x30 + i); }

static void snapshot(void)
{
    for (unsigned i = 0; i < nv; i++)
        for (unsigned f = 0; f < 4; f++)
            saved[i][f] = msix_entry_read(&d, i, 4 * f);
}

static void compare(const char *step)
{
    for (unsigned i = 0; i < nv; i++)
        for (unsigned f = 0; f < 4; f++) {
            uint32_t now = msix_entry_read(&d, i, 4 * f);
            if (now != saved[i][f])
                guest_failf("msix-saverestore: %s: table entry %u dword %u reads 0x%08x, was 0x%08x", step, i, f, now,
                            saved[i][f]);
        }
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-saverestore");
    nv = d.vectors < NV ? d.vectors : NV;
    if (nv < NV)
        printf("msix-saverestore: only %u vector(s): roles %u..3 skipped\n", nv, nv);
    for (unsigned i = 0; i < nv; i++) {
        msix_install_handler(idt(i));
        msix_program(&d, i, 0, idt(i));
    }
    msix_unmask(&d, 0);
    if (nv > 2)
        msix_unmask(&d, 2);
    msix_enable(&d, 1);
    /* Establish routes first (RAISE_BACKEND on the unmasked ones), so restore must rebuild them.
     * Each is awaited; one quiet window then covers a late extra of either. */
    msix_wait_routes(&d, "msix-saverestore: routes committed before a backend event");
    msix_raise_backend(&d, 0);
    want.backend++;
    if (!msix_wait_count(idt(0), 1, MSIX_WAIT_US))
        guest_fail("msix-saverestore: backend delivery on vector 0 before the snapshot: not delivered");
    if (nv > 2) {
        msix_wait_routes(&d, "msix-saverestore: routes committed before a backend event");
        msix_raise_backend(&d, 2);
        want.backend++;
        msix_expect_deliveries(idt(2), 1, "msix-saverestore: backend delivery on vector 2 before the snapshot");
    } else {
        delay_us(MSIX_QUIET_US);
    }
    msix_expect_deliveries_now(idt(0), 1, "msix-saverestore: backend delivery on vector 0 before the snapshot");
    msix_expect_counts(&d, &want, "msix-saverestore: backend deliveries go through the irqfds");
    msix_clear_counts();

    /* Pend vector 1 (masked). */
    if (nv > 1) {
        msix_raise(&d, 1);
        want.pended++;
        msix_expect_pending(&d, 1, 1, "msix-saverestore: vector 1 pending before SAVE_RESTORE");
        msix_expect_counts(&d, &want, "msix-saverestore: the raise of masked vector 1 pends");
    }
    snapshot();
    uint16_t control = msix_control(&d);

    msix_save_restore(&d);
    compare("after SAVE_RESTORE");
    if (msix_control(&d) != control)
        guest_failf("msix-saverestore: Message Control reads 0x%04x after SAVE_RESTORE, was 0x%04x", msix_control(&d),
                    control);
    if (nv > 1)
        msix_expect_pending(&d, 1, 1, "msix-saverestore: the pending bit of vector 1 survives SAVE_RESTORE");
    for (unsigned i = 0; i < nv; i++)
        if (i != 1)
            msix_expect_pending(&d, i, 0, "msix-saverestore: no other pending bit after SAVE_RESTORE");
    msix_expect_counts(&d, &want, "msix-saverestore: SAVE_RESTORE itself sends nothing");
    delay_us(MSIX_QUIET_US); /* an irqfd re-attached by the restore would inject from a worker */
    msix_take_pending();
    for (unsigned i = 0; i < nv; i++)
        if (msix_count(idt(i)) != 0)
            guest_failf("msix-saverestore: SAVE_RESTORE itself delivered IDT vector 0x%02x", idt(i));
    printf("msix-saverestore: table, masks, Message Control 0x%04x and the pending bit survive SAVE_RESTORE\n", control);

    /* Delivery after the restore. */
    msix_raise(&d, 0);
    want.signaled++;
    msix_expect_deliveries_now(idt(0), 1, "msix-saverestore: RAISE on restored vector 0 delivers once");
    msix_expect_counts(&d, &want, "msix-saverestore: RAISE on restored vector 0 is sent once");
    msix_wait_routes(&d, "msix-saverestore: routes committed before a backend event");
    msix_raise_backend(&d, 0);
    want.backend++;
    if (!msix_wait_count(idt(0), 2, MSIX_WAIT_US))
        guest_fail("msix-saverestore: RAISE_BACKEND on restored vector 0: not delivered");
    if (nv > 2) {
        msix_wait_routes(&d, "msix-saverestore: routes committed before a backend event");
        msix_raise_backend(&d, 2);
        want.backend++;
        msix_expect_deliveries(idt(2), 1, "msix-saverestore: RAISE_BACKEND on restored vector 2 delivers once");
    } else {
        delay_us(MSIX_QUIET_US);
    }
    msix_expect_deliveries_now(idt(0), 2, "msix-saverestore: RAISE_BACKEND on restored vector 0 delivers once");
    msix_expect_counts(&d, &want, "msix-saverestore: RAISE_BACKEND after the restore goes through the irqfds");
    if (nv > 1) {
        msix_unmask(&d, 1);
        want.signaled++;
        msix_expect_deliveries_now(idt(1), 1, "msix-saverestore: the restored pending vector 1 delivers once at unmask");
        msix_expect_counts(&d, &want, "msix-saverestore: the unmask sends the restored pending vector 1 once");
        msix_expect_pending(&d, 1, 0, "msix-saverestore: vector 1's PBA bit clear after delivery");
    }
    if (nv > 3) {
        msix_raise(&d, 3);
        want.pended++;
        msix_expect_deliveries_now(idt(3), 0,
                                   "msix-saverestore: vector 3, masked before SAVE_RESTORE, delivers nothing while masked");
        msix_expect_counts(&d, &want, "msix-saverestore: the raise of restored masked vector 3 pends");
        msix_expect_pending(&d, 3, 1, "msix-saverestore: vector 3's PBA bit set while masked");
        msix_unmask(&d, 3);
        want.signaled++;
        msix_expect_deliveries_now(idt(3), 1, "msix-saverestore: restored masked vector 3 delivers once at unmask");
        msix_expect_counts(&d, &want, "msix-saverestore: the unmask sends vector 3 once");
    }
    printf("msix-saverestore: RAISE, RAISE_BACKEND and unmask deliver after the restore\n");

    /* Round two: MaskAll saved with a pending (unmasked) vector. */
    msix_maskall(&d, 1);
    msix_raise(&d, 0);
    want.pended++;
    msix_expect_pending(&d, 0, 1, "msix-saverestore: vector 0 pending under MaskAll");
    msix_expect_counts(&d, &want, "msix-saverestore: the raise under MaskAll pends");
    snapshot();
    control = msix_control(&d);
    msix_save_restore(&d);
    compare("after the second SAVE_RESTORE");
    if (msix_control(&d) != control)
        guest_failf("msix-saverestore: Message Control reads 0x%04x after the second SAVE_RESTORE, was 0x%04x",
                    msix_control(&d), control);
    msix_expect_pending(&d, 0, 1, "msix-saverestore: the pending bit under MaskAll survives SAVE_RESTORE");
    /* Under MaskAll every vector is masked: no irqfd is attached and no eventfd holds a count, so
     * the counters and the count right now prove that nothing is delivered. */
    msix_expect_deliveries_now(idt(0), 2, "msix-saverestore: nothing delivered under MaskAll after SAVE_RESTORE");
    msix_expect_counts(&d, &want, "msix-saverestore: nothing sent under MaskAll after SAVE_RESTORE");
    msix_maskall(&d, 0);
    want.signaled++;
    msix_expect_deliveries_now(idt(0), 3, "msix-saverestore: clearing the restored MaskAll delivers once");
    msix_expect_counts(&d, &want, "msix-saverestore: clearing the restored MaskAll sends vector 0 once");
    msix_wait_routes(&d, "msix-saverestore: routes committed before a backend event");
    msix_raise_backend(&d, 0);
    want.backend++;
    msix_expect_deliveries(idt(0), 4, "msix-saverestore: RAISE_BACKEND after the second restore delivers once");
    msix_take_pending();
    for (unsigned i = 1; i < nv; i++)
        if (msix_count(idt(i)) != 1)
            guest_failf("msix-saverestore: IDT vector 0x%02x delivered %u times in all after the restores, expected 1",
                        idt(i), msix_count(idt(i)));
    msix_expect_counts(&d, &want, "msix-saverestore: counters at the end");
    msix_expect_counter(&d, MSIXDEV_COUNT_DROPPED, 0, "msix-saverestore: nothing dropped");
    printf("msix-saverestore: all checks passed\n");
    guest_pass();
}
