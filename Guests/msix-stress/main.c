/* msix-stress: thousands of raises through RAISE, RAISE_BACKEND and DOORBELL on several vectors
 * while vector masks (and now and then MaskAll) toggle at random, then a check that nothing was
 * lost, nothing came from nowhere, and the device's counters agree. The invariants are spelled out
 * in README.md. vCPU 0 only. The PRNG seed is fixed; `seed=<n>` in the bootargs changes it. */
#include "msix.h"

#define MAX_VEC 8u
#define RAISES 3000u
#define CHECKPOINT_EVERY 250u
#define FIRST_IDT 0x30u
#define QUIET_US MSIX_QUIET_US /* a late irqfd injection lands well inside one window */
#define QUIET_ROUNDS 10u

enum path { P_RAISE, P_BACKEND, P_DOORBELL };

static struct msix_dev d;
static unsigned nvec, npaths;
static uint32_t rng;

struct vec_state {
    int masked;         /* the vector's own mask bit, as last written */
    int owed;           /* raised and no delivery verified after the latest raise */
    uint32_t snap;      /* delivery count read (interrupts off) right before the latest raise */
    uint32_t raises;    /* every raise of this vector, any path */
    uint32_t windows;   /* masked windows (vector or function) in which it was raised */
    int raised_in_window;
};
static struct vec_state vs[MAX_VEC];
static int maskall;
static uint32_t n_raise, n_backend, n_doorbell, n_unmask_waits, n_toggles, n_maskall_toggles, n_checkpoints;

static uint32_t next_random(void)
{
    uint32_t x = rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng = x;
    return x;
}

static uint8_t idt(unsigned v) { return (uint8_t)(FIRST_IDT + v); }
static uint32_t delivered(unsigned v) { return msix_count_on(0, idt(v)); }
static int effectively_masked(unsigned v) { return vs[v].masked || maskall; }

/* The vector just became deliverable: if a raise is owed a delivery, it must come now. */
static void settle_owed(unsigned v, const char *why)
{
    if (!vs[v].owed)
        return;
    n_unmask_waits++;
    if (!wait_until(delivered(v) > vs[v].snap, MSIX_WAIT_US))
        guest_failf("msix-stress: vector %u: %s: no delivery after its last raise (raises %u, delivered %u, "
                    "count before the last raise %u, PBA bit %d, masked %d, MaskAll %d)",
                    v, why, vs[v].raises, delivered(v), vs[v].snap, msix_pending(&d, v), vs[v].masked, maskall);
    vs[v].owed = 0;
}

static void end_window(unsigned v)
{
    if (vs[v].raised_in_window)
        vs[v].windows++;
    vs[v].raised_in_window = 0;
}

static void toggle_vector_mask(unsigned v)
{
    n_toggles++;
    if (vs[v].masked) {
        msix_unmask(&d, v);
        vs[v].masked = 0;
        if (!maskall) {
            end_window(v);
            settle_owed(v, "raised while masked, then unmasked");
        }
    } else {
        msix_mask(&d, v);
        vs[v].masked = 1;
    }
}

static void toggle_maskall(void)
{
    n_maskall_toggles++;
    maskall = !maskall;
    msix_maskall(&d, maskall);
    if (!maskall)
        for (unsigned v = 0; v < nvec; v++)
            if (!vs[v].masked) {
                end_window(v);
                settle_owed(v, "raised under MaskAll, then MaskAll cleared");
            }
}

static void raise_one(unsigned v, enum path p)
{
    cpu_cli(); /* no handler may run between the snapshot and the raise */
    vs[v].snap = delivered(v);
    if (p == P_RAISE)
        msix_raise(&d, v);
    else if (p == P_BACKEND)
        msix_raise_backend(&d, v);
    else
        msix_doorbell(&d, v);
    cpu_sti();
    vs[v].owed = 1;
    vs[v].raises++;
    if (effectively_masked(v))
        vs[v].raised_in_window = 1;
    if (p == P_RAISE)
        n_raise++;
    else if (p == P_BACKEND)
        n_backend++;
    else
        n_doorbell++;
}

static void checkpoint(void)
{
    n_checkpoints++;
    for (unsigned v = 0; v < nvec; v++)
        if (!effectively_masked(v))
            settle_owed(v, "unserviced burst while unmasked");
}

/* seed=<n> from the bootargs, or 0 (none, or no device tree). */
static uint32_t seed_from_bootargs(const void *fdt)
{
    struct dtb t;
    const char *args;
    uint64_t seed = 0;
    if (dtb_open(&t, fdt, DTB_SIZE_UNKNOWN) != DTB_OK || dtb_bootargs(&t, &args) != DTB_OK)
        return 0;
    if (bootarg_number(args, "seed", UINT32_MAX, &seed) < 0)
        guest_failf("msix-stress: bootargs \"%s\": seed= takes a 32-bit number", args);
    return (uint32_t)seed;
}

void guest_main(unsigned cpu, const void *fdt)
{
    if (cpu != 0)
        cpu_halt_forever();
    msix_start(&d, fdt, "msix-stress");
    if (!(d.features & MSIXDEV_FEATURE_BACKEND))
        guest_failf("msix-stress: needs FEATURES bit 0 (backend); FEATURES is 0x%x", d.features);
    nvec = d.vectors < MAX_VEC ? d.vectors : MAX_VEC;
    npaths = (d.features & MSIXDEV_FEATURE_DOORBELL) ? 3 : 2;
    uint32_t seed = seed_from_bootargs(fdt);
    rng = seed ? seed : 0x2545F491u;
    printf("msix-stress: %u raises over %u vectors and %u paths, seed %u\n", RAISES, nvec, npaths, rng);

    for (unsigned v = 0; v < nvec; v++) {
        msix_install_handler(idt(v));
        msix_program(&d, v, 0, idt(v));
        msix_unmask(&d, v);
    }
    msix_enable(&d, 1);

    for (uint32_t i = 0; i < RAISES; i++) {
        uint32_t r = next_random();
        if ((r & 7) == 0)
            toggle_vector_mask((r >> 3) % nvec); /* each vector masked about half the time */
        else if (maskall ? (r & 7) == 1 : (r & 127) == 1)
            toggle_maskall(); /* MaskAll: short windows (about 8 raises) now and then */
        r = next_random();
        raise_one(r % nvec, (enum path)((r >> 8) % npaths));
        if (i % CHECKPOINT_EVERY == CHECKPOINT_EVERY - 1)
            checkpoint();
    }

    /* Unmask everything; every raise still owed a delivery must get one. */
    if (maskall)
        toggle_maskall();
    for (unsigned v = 0; v < nvec; v++)
        if (vs[v].masked)
            toggle_vector_mask(v);
    checkpoint();

    /* Quiescence: deliveries stop (a late irqfd injection may still land: allow a few rounds),
     * and no pending bit remains. */
    uint32_t before[MAX_VEC];
    int quiet = 0;
    for (unsigned round = 0; round < QUIET_ROUNDS && !quiet; round++) {
        for (unsigned v = 0; v < nvec; v++)
            before[v] = delivered(v);
        delay_us(QUIET_US);
        quiet = 1;
        for (unsigned v = 0; v < nvec; v++)
            quiet &= delivered(v) == before[v];
    }
    if (!quiet)
        guest_failf("msix-stress: deliveries still arriving after %u ms of no raises (interrupt storm?)",
                    QUIET_ROUNDS * QUIET_US / 1000);
    for (unsigned v = 0; v < nvec; v++)
        if (msix_pending(&d, v))
            guest_failf("msix-stress: vector %u: PBA bit still set after unmasking everything and going quiet", v);

    /* Per vector: no delivery without a raise. */
    uint32_t total = 0, windows = 0;
    for (unsigned v = 0; v < nvec; v++) {
        uint32_t got = delivered(v);
        if (got > vs[v].raises)
            guest_failf("msix-stress: vector %u delivered %u times for %u raises", v, got, vs[v].raises);
        if (vs[v].raises > 0 && got == 0)
            guest_failf("msix-stress: vector %u raised %u times, never delivered", v, vs[v].raises);
        printf("msix-stress: vector %u: %u raises, %u deliveries, %u masked windows with raises\n", v, vs[v].raises, got,
               vs[v].windows);
        total += got;
        windows += vs[v].windows;
    }

    /* Device counters. */
    struct msixdev_counts c;
    msixdev_counts(&d, &c);
    printf("msix-stress: guest: RAISE %u RAISE_BACKEND %u DOORBELL %u; delivered %u; mask toggles %u, MaskAll toggles %u, "
           "unmask/checkpoint waits %u\n",
           n_raise, n_backend, n_doorbell, total, n_toggles, n_maskall_toggles, n_unmask_waits);
    printf("msix-stress: device: COUNT_SIGNALED %u COUNT_BACKEND %u COUNT_PENDED %u COUNT_DROPPED %u\n", c.signaled,
           c.backend, c.pended, c.dropped);
    if (c.dropped != 0)
        guest_failf("msix-stress: COUNT_DROPPED is %u, expected 0 (every vector is used and in range)", c.dropped);
    /* A backend signal on an unmasked vector whose irqfd is not attached yet (a coalesced commit
     * still waiting) goes out by KVM_SIGNAL_MSI: counted in SIGNALED and in BACKEND. */
    if (c.pended > n_raise || c.signaled + c.pended < n_raise || c.signaled > n_raise + c.backend)
        guest_failf("msix-stress: RAISE accounting: %u RAISEs but COUNT_SIGNALED %u, COUNT_PENDED %u, COUNT_BACKEND %u "
                    "(need PENDED <= RAISE, RAISE - PENDED <= SIGNALED <= RAISE + BACKEND)",
                    n_raise, c.signaled, c.pended, c.backend);
    if (c.pended > 0 && c.signaled == n_raise - c.pended)
        guest_failf("msix-stress: %u RAISEs pended but no pending bit was ever delivered (COUNT_SIGNALED %u)", c.pended,
                    c.signaled);
    uint32_t backend_min = n_backend + (n_doorbell > 0 ? 1 : 0);
    if (c.backend < backend_min || c.backend > n_backend + n_doorbell)
        guest_failf("msix-stress: COUNT_BACKEND %u outside [%u, %u] (RAISE_BACKEND %u + DOORBELL %u, doorbells may merge)",
                    c.backend, backend_min, n_backend + n_doorbell, n_backend, n_doorbell);
    if (total > c.signaled + c.backend)
        guest_failf("msix-stress: %u deliveries exceed COUNT_SIGNALED + COUNT_BACKEND = %u", total,
                    c.signaled + c.backend);
    printf("msix-stress: %u masked windows with raises, %u checkpoints: nothing lost, nothing spurious, counters agree\n",
           windows, n_checkpoints);
    printf("msix-stress: all checks passed\n");
    guest_pass();
}
