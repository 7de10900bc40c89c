/*
 * MSI-X for the test guests: the MSI-X test device (vendor 0x5357, device 0x0001), its MSI-X
 * capability, table and PBA, and per-vector interrupt counters kept by IDT handlers.
 *
 * Typical use (vCPU 0):
 *     struct msix_dev d;
 *     const char *err = msix_open(&d, fdt, 0);     // pci_init + find + map + sanity checks
 *     if (err) guest_fail(err);
 *     msix_setup_cpu();                            // lapic_enable, timer_init (every vCPU)
 *     msix_install_handler(0x30);                  // count deliveries of IDT vector 0x30
 *     msix_program(&d, 0, 0, 0x30);                // vector 0 -> APIC ID 0, IDT vector 0x30
 *     msix_unmask(&d, 0); msix_enable(&d, 1);
 *     msix_raise(&d, 0);
 *     if (!msix_wait_count(0x30, 1, MSIX_WAIT_US)) guest_fail("...: vector 0 not delivered");
 *
 * Judging deliveries. An awaited delivery is waited for generously (MSIX_WAIT_US, bounded); a
 * wait that succeeds ends at the delivery, so only a failing check waits that long. Whether
 * nothing more (or nothing at all) arrives is proved without sleeping wherever the device can
 * say it, and with a quiet window (MSIX_QUIET_US) only where time alone can:
 * - RAISE, and a pending bit sent at an unmask / MaskAll clear / Enable set, are synchronous:
 *   KVM_SIGNAL_MSI is issued (the LAPIC's IRR is set) or the pending bit set inside the guest's
 *   MMIO exit, and COUNT_SIGNALED / COUNT_PENDED / COUNT_DROPPED are updated before the write
 *   instruction completes. With interrupts on, such a delivery (and any extra the same write
 *   caused) is taken at once: check with msix_expect_deliveries_now and msix_expect_counts.
 *   "None" after a masked raise is COUNT_SIGNALED unchanged, COUNT_PENDED + 1, PBA bit set.
 * - RAISE_BACKEND writes the vector's eventfd inside the exit (COUNT_BACKEND is updated there).
 *   With the irqfd attached the kernel usually injects at once but may defer to a worker; held
 *   (masked), a PBA read of the vector turns the held count into a pending bit: a deterministic
 *   "held, not delivered" check. An irqfd attached at an unmask injects a held count from a
 *   kernel worker: asynchronous.
 * - DOORBELL[v] is served later by the backend thread: wait (msix_wait_counter) until
 *   COUNT_BACKEND reaches the rings before judging deliveries.
 * - An interrupt aimed at another vCPU is taken when that vCPU runs.
 * For the asynchronous cases "exactly N" is msix_expect_deliveries[_on]: wait for N, then
 * MSIX_QUIET_US in which no extra may arrive.
 *
 * Table entry v (16 bytes at table + 16 v): address low, address high, data, vector control
 * (bit 0 = masked). Message Control (capability + 2): bit 15 Enable, bit 14 Function Mask
 * (MaskAll), bits 10:0 table size - 1. x86 message: address 0xFEE00000 | APIC ID << 12,
 * data = IDT vector (fixed delivery, edge).
 */
#ifndef GUEST_MSIX_H
#define GUEST_MSIX_H

#include <stdint.h>

#include "guest.h"
#include "pci.h"
#include "timer.h"

/* ---- The test device ------------------------------------------------------------------ */
#define MSIXDEV_VENDOR 0x5357
#define MSIXDEV_DEVICE 0x0001
#define MSIXDEV_CLASS 0xFF0000
#define MSIXDEV_MAGIC_VALUE 0x5849534Du
#define MSIXDEV_BAR0_SIZE 0x4000u

/* BAR0 registers */
#define MSIXDEV_MAGIC 0x00
#define MSIXDEV_VERSION 0x04
#define MSIXDEV_VECTORS 0x08
#define MSIXDEV_FEATURES 0x0C
#define MSIXDEV_RAISE 0x10
#define MSIXDEV_RAISE_BACKEND 0x14
#define MSIXDEV_USE 0x18
#define MSIXDEV_UNUSE 0x1C
#define MSIXDEV_COUNT_SIGNALED 0x20
#define MSIXDEV_COUNT_BACKEND 0x24
#define MSIXDEV_COUNT_PENDED 0x28
#define MSIXDEV_COUNT_DROPPED 0x2C
#define MSIXDEV_RESET_COUNTS 0x30
#define MSIXDEV_SAVE_RESTORE 0x34
#define MSIXDEV_ROUTES_WAITING 0x38
#define MSIXDEV_DOORBELL(v) (0x2000u + 4u * (v))

#define MSIXDEV_FEATURE_BACKEND 0x1u
#define MSIXDEV_FEATURE_DOORBELL 0x2u

/* ---- Capability layout ---------------------------------------------------------------- */
#define MSIX_CAP_CONTROL 2
#define MSIX_CAP_TABLE 4
#define MSIX_CAP_PBA 8
#define MSIX_CONTROL_ENABLE 0x8000u
#define MSIX_CONTROL_MASKALL 0x4000u
#define MSIX_CONTROL_SIZE_MASK 0x07FFu

#define MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_ADDR_LO 0
#define MSIX_ENTRY_ADDR_HI 4
#define MSIX_ENTRY_DATA 8
#define MSIX_ENTRY_CTRL 12
#define MSIX_CTRL_MASKED 0x1u

#define MSI_ADDRESS_BASE 0xFEE00000u
#define MSI_ADDRESS(apic_id) (MSI_ADDRESS_BASE | ((uint32_t)(apic_id) & 0xFF) << 12)
/* With KVM_FEATURE_MSI_EXT_DEST_ID (CPUID 0x40000001 EAX bit 15): APIC ID bits 14:8 in address
 * bits 11:5, so a message reaches APIC IDs up to 32767 (Linux's "extended destination ID"). */
#define MSI_ADDRESS_EXT(apic_id) (MSI_ADDRESS(apic_id) | (((uint32_t)(apic_id) >> 8) & 0x7F) << 5)

/* The layout rule of the test device's MSI-X BAR. */
static inline uint32_t msixdev_pba_offset(uint32_t vectors) { return vectors * 16 > 2048 ? vectors * 16 : 2048; }
static inline uint32_t msixdev_bar1_size(uint32_t vectors)
{
    uint32_t need = msixdev_pba_offset(vectors) + ((vectors + 63) / 64) * 8;
    uint32_t size = 4096;
    while (size < need)
        size <<= 1;
    return size;
}

/* How long an awaited delivery (or COUNT_BACKEND after doorbells) may take before the check fails:
 * several seconds, generous for an emulated guest on a loaded 2-core host, and still short of
 * `vmm run`'s default 5 s timeout so that a failing check is reported by name. A wait that
 * succeeds ends at the delivery; only a failing check waits this long. */
#define MSIX_WAIT_US 3000000u
/* The quiet window after which an extra (or a forbidden) delivery that has not arrived is taken
 * as never coming, used only where no counter can tell: deliveries that reach the guest
 * asynchronously (an irqfd injection deferred to a kernel worker, the doorbell backend thread,
 * another vCPU). Measured here, such deliveries land within 18 ms even with four busy loops
 * beside two guests; the window is nearly three times that and costs each use 50 ms. */
#define MSIX_QUIET_US 50000u

struct msix_dev {
    enum pci_access how;  /* config mechanism used (pci_default) */
    uint32_t bdf;
    unsigned cap;         /* offset of the MSI-X capability */
    unsigned table_size;  /* from Message Control */
    unsigned table_bir, pba_bir;
    uint32_t table_offset, pba_offset;
    uint64_t regs;        /* BAR0 address */
    uint64_t table, pba;  /* absolute addresses (BAR + offset) */
    uint32_t vectors;     /* the VECTORS register */
    uint32_t features;    /* the FEATURES register */
};

/* pci_init(fdt), then the `nth` function with IDs vendor:device, its MSI-X capability (table and
 * PBA inside their BARs) and BAR mapping, with Bus Master Enable set: any MSI-X device. Returns
 * NULL or the name of the first failing check; `vectors` and `features` stay 0. */
const char *msix_open_function(struct msix_dev *d, const void *fdt, uint16_t vendor, uint16_t device, unsigned nth);
/* pci_init(fdt), then the `nth` test device (by IDs), its MSI-X capability and BAR mapping; checks
 * MAGIC, VERSION, VECTORS == table size, and that the table fits its BAR. Returns NULL or the name
 * of the first failing check. */
const char *msix_open(struct msix_dev *d, const void *fdt, unsigned nth);
/* The usual start of an MSI-X guest on vCPU 0: msix_open (failing with "<guest>: <check>"),
 * msix_setup_cpu, sti, RESET_COUNTS; prints the device's BDF, VECTORS and FEATURES. */
void msix_start(struct msix_dev *d, const void *fdt, const char *guest);
/* Re-reads the BAR addresses (after a guest moved a BAR) and recomputes regs/table/pba. */
void msix_remap(struct msix_dev *d);

/* ---- Device registers ------------------------------------------------------------------ */
static inline uint32_t msixdev_read(const struct msix_dev *d, unsigned reg) { return mmio_read32(d->regs + reg); }
static inline void msixdev_write(const struct msix_dev *d, unsigned reg, uint32_t v) { mmio_write32(d->regs + reg, v); }
static inline void msix_raise(const struct msix_dev *d, uint32_t v) { msixdev_write(d, MSIXDEV_RAISE, v); }
static inline void msix_raise_backend(const struct msix_dev *d, uint32_t v) { msixdev_write(d, MSIXDEV_RAISE_BACKEND, v); }
static inline void msix_doorbell(const struct msix_dev *d, uint32_t v) { msixdev_write(d, MSIXDEV_DOORBELL(v), 1); }
static inline void msix_use(const struct msix_dev *d, uint32_t v) { msixdev_write(d, MSIXDEV_USE, v); }
static inline void msix_unuse(const struct msix_dev *d, uint32_t v) { msixdev_write(d, MSIXDEV_UNUSE, v); }
static inline void msix_reset_counts(const struct msix_dev *d) { msixdev_write(d, MSIXDEV_RESET_COUNTS, 1); }
static inline void msix_save_restore(const struct msix_dev *d) { msixdev_write(d, MSIXDEV_SAVE_RESTORE, 1); }

struct msixdev_counts {
    uint32_t signaled, backend, pended, dropped;
};
void msixdev_counts(const struct msix_dev *d, struct msixdev_counts *c);

/* ---- Capability: Message Control -------------------------------------------------------- */
uint16_t msix_control(const struct msix_dev *d);
void msix_enable(const struct msix_dev *d, int on);  /* Enable (bit 15), 16-bit RMW */
void msix_maskall(const struct msix_dev *d, int on); /* Function Mask (bit 14), 16-bit RMW */

/* ---- Table -------------------------------------------------------------------------------- */
static inline uint64_t msix_entry(const struct msix_dev *d, unsigned v) { return d->table + (uint64_t)v * MSIX_ENTRY_SIZE; }
/* Address (low, high) and data with three 32-bit writes; vector control untouched. */
void msix_program(const struct msix_dev *d, unsigned v, unsigned apic_id, uint8_t idt_vector);
void msix_set_data(const struct msix_dev *d, unsigned v, uint32_t data);
void msix_set_address(const struct msix_dev *d, unsigned v, uint64_t address);
/* The same with two 8-byte stores: address in one, data | control << 32 in the other. */
void msix_program64(const struct msix_dev *d, unsigned v, unsigned apic_id, uint8_t idt_vector, int masked);
void msix_mask(const struct msix_dev *d, unsigned v);
void msix_unmask(const struct msix_dev *d, unsigned v);
static inline uint32_t msix_entry_read(const struct msix_dev *d, unsigned v, unsigned field) { return mmio_read32(msix_entry(d, v) + field); }
static inline int msix_is_masked(const struct msix_dev *d, unsigned v) { return msix_entry_read(d, v, MSIX_ENTRY_CTRL) & MSIX_CTRL_MASKED; }

/* ---- PBA ---------------------------------------------------------------------------------- */
/* Reads the PBA dword holding vector v's bit (a 4-byte read: the device polls those 32 vectors). */
int msix_pending(const struct msix_dev *d, unsigned v);
/* The PBA qword of vectors [64 i, 64 i + 64) (one 8-byte read). */
static inline uint64_t msix_pba_qword(const struct msix_dev *d, unsigned i) { return mmio_read64(d->pba + 8ull * i); }

/* ---- Interrupt counters -------------------------------------------------------------------- */
#define MSIX_COUNTER_CPUS 8
/* Deliveries per (vCPU, IDT vector), written only by the handler (LOCK XADD). */
extern volatile uint32_t msix_irq_count[MSIX_COUNTER_CPUS][256];
/* lapic_enable() and timer_init() on this vCPU (call on every vCPU that takes interrupts). */
void msix_setup_cpu(void);
/* Fences: a fixed IPI of vector MSIX_FENCE_IDT (priority class 2, below the MSIs' vectors from
 * 0x30) to another vCPU, and a wait (bounded, MSIX_WAIT_US) until that vCPU took it. A LAPIC
 * delivers its highest pending vector first, so every MSI that reached that vCPU before the fence
 * was sent has been handled once msix_fence returns. msix_fence_setup installs the handler (once,
 * on any vCPU); msix_fence fails the run naming `guest` and `step` when the fence is not taken. Works in
 * xAPIC and x2APIC mode. */
#define MSIX_FENCE_IDT 0x21
void msix_fence_setup(void);
void msix_fence(unsigned apic_id, const char *guest, const char *step);
/* Routes IDT vector `idt_vector` to the counting handler (which calls lapic_eoi()). */
void msix_install_handler(uint8_t idt_vector);
/* Deliveries of `idt_vector` on vCPU `cpu`, and summed over all vCPUs. */
static inline uint32_t msix_count_on(unsigned cpu, uint8_t idt_vector) { return atomic_load32(&msix_irq_count[cpu][idt_vector]); }
uint32_t msix_count(uint8_t idt_vector);
/* Zeroes every counter (call with the vectors quiet). */
void msix_clear_counts(void);

/* Waits (bounded) until msix_count(idt_vector) >= target; 1 if reached, 0 on timeout. */
int msix_wait_count(uint8_t idt_vector, uint32_t target, uint32_t timeout_us);
/* The same for one vCPU's counter. */
int msix_wait_count_on(unsigned cpu, uint8_t idt_vector, uint32_t target, uint32_t timeout_us);
/* Waits (bounded) until msix_count(idt_vector) >= target, then up to MSIX_QUIET_US more for an
 * extra delivery (returning as soon as one arrives). Returns the final count: `target` when
 * exactly that many arrived. For asynchronous paths (see the top of this file). */
uint32_t msix_settle_count(uint8_t idt_vector, uint32_t target, uint32_t timeout_us);
/* Enables interrupts and lets any that are already pending in the LAPIC be taken (STI's
 * one-instruction shadow passes) before the caller reads a delivery count. */
static inline void msix_take_pending(void) { __asm__ volatile("sti; nop; nop" ::: "memory"); }
/* Waits (bounded) until the device counter at BAR0 offset `reg` reads at least `target`
 * (COUNT_BACKEND after doorbells, which the backend thread serves later); 1 if reached. */
int msix_wait_counter(const struct msix_dev *d, unsigned reg, uint32_t target, uint32_t timeout_us);
/* Waits (bounded, MSIX_WAIT_US) until no vector of the device waits for its route commit
 * (ROUTES_WAITING reads 0), failing the run with `check` if one still waits then. The VMM may
 * coalesce route commits across guest writes: right after an unmask or a retarget, a backend
 * event may go by KVM_SIGNAL_MSI (COUNT_SIGNALED + 1) instead of the irqfd. Call this before
 * a step that requires the irqfd path (COUNT_SIGNALED unchanged by RAISE_BACKEND or DOORBELL). */
void msix_wait_routes(const struct msix_dev *d, const char *check);

/* ---- Named checks (each fails the run with "<check>: <what was seen>") -------------------- */
/* "Exactly N" on an asynchronous path (irqfd, doorbell): msix_settle_count(idt_vector, expected,
 * MSIX_WAIT_US) must be exactly `expected`. Costs MSIX_QUIET_US when it passes. */
void msix_expect_deliveries(uint8_t idt_vector, uint32_t expected, const char *check);
/* The same for one vCPU's counter (waits, watches MSIX_QUIET_US, compares exactly). */
void msix_expect_deliveries_on(unsigned cpu, uint8_t idt_vector, uint32_t expected, const char *check);
/* "Exactly N" (N may be the count already seen: "none more") on a synchronous path, one whose
 * deliveries the guest's own MMIO write raised in its exit (RAISE, a pending bit sent at an
 * unmask): waits (bounded) until N arrived, lets pending interrupts be taken, then compares at
 * once, with no quiet window: an extra raised by the same write would already have been taken.
 * Pair it with msix_expect_counts, which shows what the device sent. */
void msix_expect_deliveries_now(uint8_t idt_vector, uint32_t expected, const char *check);
/* All four device counters must read `want` (a guest keeps `want` in step with its writes:
 * RAISE on an unmasked used vector: signaled + 1; on a masked used vector: pended + 1; on an
 * unused or out-of-range vector: dropped + 1; a pending bit sent at an unmask: signaled + 1;
 * RAISE_BACKEND or a served DOORBELL: backend + 1, and signaled + 0 while the irqfd is attached,
 * which msix_wait_routes makes sure of). */
void msix_expect_counts(const struct msix_dev *d, const struct msixdev_counts *want, const char *check);
/* Vector v's PBA bit (one 4-byte PBA read) must be `want`. */
void msix_expect_pending(const struct msix_dev *d, unsigned v, int want, const char *check);
/* The device counter at BAR0 offset `reg` must be `want`. */
void msix_expect_counter(const struct msix_dev *d, unsigned reg, uint32_t want, const char *check);
/* The name of a counter register ("COUNT_SIGNALED", ...). */
const char *msixdev_counter_name(unsigned reg);

#endif
