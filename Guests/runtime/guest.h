/*
 * The test-guest runtime: everything a guest's main.c needs, in one header.
 *
 * A guest defines
 *     void guest_main(unsigned cpu, const void *fdt);
 * which every vCPU enters (cpu = vCPU index from RSI, fdt = device tree blob from RDI, may be
 * NULL). Before that the runtime has zeroed .bss (once, on vCPU 0), installed the IDT and this
 * vCPU's per-CPU block. Interrupts are off. If guest_main returns, the run ends with a pass.
 *
 * Nothing here uses SSE/x87, INT3 or CMPXCHG16B: the host's instruction emulator rejects them.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "bootargs.h"
#include "fdt.h"
#include "io.h"

#define NORETURN __attribute__((noreturn))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* The most vCPUs the runtime keeps per-CPU state for. */
#define GUEST_MAX_CPUS 64

/* ---- Machine constants (the boot protocol and the default layout) ---------------------- */
#define CONSOLE_PORT 0x3F8       /* 8250 THR */
#define EXIT_PORT 0xF4           /* write V: run ends, V = 0 pass */
#define PROBE_PORT 0xE0          /* probe device ports 0xE0..0xE3 */
#define PROBE_MMIO 0xF0000000ull /* probe device MMIO page */
#define LAPIC_BASE 0xFEE00000ull
#define IOAPIC_BASE 0xFEC00000ull

/* ---- Entry ---------------------------------------------------------------------------- */
void guest_main(unsigned cpu, const void *fdt);

/* ---- CPU helpers ---------------------------------------------------------------------- */
static inline void cpu_cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void cpu_sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void compiler_barrier(void) { __asm__ volatile("" ::: "memory"); }

static inline uint64_t cpu_flags(void)
{
    uint64_t flags;
    __asm__ volatile("pushfq; popq %0" : "=r"(flags) : : "memory");
    return flags;
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t value)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)) : "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(subleaf));
}

/* This vCPU's index (the RSI it started with), from its per-CPU block at GS. */
static inline unsigned this_cpu(void)
{
    unsigned cpu;
    __asm__ volatile("movl %%gs:0, %0" : "=r"(cpu));
    return cpu;
}

/* Stops this vCPU for good: interrupts off, hlt in a loop. */
NORETURN void cpu_halt_forever(void);
/* Idles this vCPU for good with interrupts on (`sti; hlt` in a loop): its handlers keep running. */
NORETURN void cpu_idle_forever(void);

/*
 * wait_for(cond): sleep until `cond` holds, without the lost-wakeup race.
 * The condition is tested with interrupts disabled; if false, `sti; hlt` enables interrupts and
 * halts as one step (STI's one-instruction shadow), so an interrupt that makes `cond` true cannot
 * slip in between the test and the halt. Returns with interrupts enabled.
 * `cond` must read memory the interrupt handler writes through a volatile or atomic access.
 */
#define wait_for(cond)                                         \
    do {                                                       \
        for (;;) {                                             \
            cpu_cli();                                         \
            if (cond)                                          \
                break;                                         \
            __asm__ volatile("sti; hlt" ::: "memory");         \
        }                                                      \
        cpu_sti();                                             \
    } while (0)

/* ---- Atomics (LOCK XADD / XCHG; no CMPXCHG16B) ----------------------------------------- */
static inline uint32_t atomic_load32(const volatile uint32_t *p)
{
    uint32_t v = *p;
    compiler_barrier();
    return v;
}

static inline void atomic_store32(volatile uint32_t *p, uint32_t v)
{
    compiler_barrier();
    *p = v; /* x86 stores are release stores */
}

/* Adds v and returns the previous value. */
static inline uint32_t atomic_fetch_add32(volatile uint32_t *p, uint32_t v)
{
    __asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
    return v;
}

static inline uint64_t atomic_fetch_add64(volatile uint64_t *p, uint64_t v)
{
    __asm__ volatile("lock xaddq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
    return v;
}

/* Stores v and returns the previous value (XCHG with memory is always locked: a full barrier). */
static inline uint32_t atomic_xchg32(volatile uint32_t *p, uint32_t v)
{
    __asm__ volatile("xchgl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
    return v;
}

typedef struct {
    volatile uint32_t locked;
} spinlock_t;
#define SPINLOCK_INIT {0}

static inline void spin_lock(spinlock_t *l)
{
    while (atomic_xchg32(&l->locked, 1) != 0)
        while (atomic_load32(&l->locked) != 0)
            cpu_pause();
}

static inline void spin_unlock(spinlock_t *l) { atomic_store32(&l->locked, 0); }

/* ---- Console (8250 THR at 0x3F8; the VMM's UART is always ready, LSR is not polled) ----- */
/* Every call below prints under the console lock, so lines of different vCPUs never interleave.
 * The lock is recursive on one vCPU and keeps interrupts off while held. */
void console_putc(char c);
void console_puts(const char *s); /* no newline added */
void console_put_dec(uint64_t value);
void console_put_hex(uint64_t value); /* "0x" followed by lowercase hex digits */
/* printf subset: %s %c %d %i %u %x %X %p %%, length l / ll / z, flags '0' and '-', width.
 * Returns the number of characters written. */
int printf(const char *fmt, ...) PRINTF_LIKE(1, 2);
int vprintf(const char *fmt, va_list ap);
/* Hold the console across several calls to keep them on one line. */
void console_lock(void);
void console_unlock(void);

/* ---- Exit ----------------------------------------------------------------------------- */
NORETURN void guest_exit(uint32_t value); /* outl(0xF4, value) */
NORETURN void guest_pass(void);           /* guest_exit(0) */
/* Prints "FAIL: <check>" and exits with 1. */
NORETURN void guest_fail(const char *check);
/* Prints "FAIL: " and the formatted text, and exits with 1. */
NORETURN void guest_failf(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* ---- Interrupts ----------------------------------------------------------------------- */
/* What the interrupt stubs leave on the stack, lowest address first. */
struct interrupt_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector;
    uint64_t error_code; /* 0 for vectors without one */
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

typedef void (*interrupt_handler_t)(struct interrupt_frame *frame);

/* Routes `vector` to `handler` on every vCPU (the IDT is shared); NULL restores the default.
 * Default: an exception (0..31) prints vector, error code and RIP and fails; the LAPIC spurious
 * vector (0xFF) is ignored; any other vector fails with "unexpected interrupt".
 * A handler for a LAPIC-delivered interrupt must call lapic_eoi() itself. Changing a handler
 * while the vector can fire is the caller's race to avoid. */
void idt_set_handler(uint8_t vector, interrupt_handler_t handler);

/* ---- LAPIC (xAPIC MMIO at 0xFEE00000, in the kernel) --------------------------------------- */
#define LAPIC_ID 0x20
#define LAPIC_VERSION 0x30
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xB0
#define LAPIC_SVR 0xF0
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE 0x3E0
#define LAPIC_SPURIOUS_VECTOR 0xFF

/* x2APIC: the same registers as MSRs 0x800 + offset / 16 (ICR is one 64-bit MSR, 0x830). */
#define MSR_APIC_BASE 0x1Bu
#define APIC_BASE_X2APIC (1u << 10)
#define APIC_BASE_ENABLE (1u << 11)
#define X2APIC_MSR(reg) (0x800u + ((reg) >> 4))
/* Whether this vCPU's LAPIC is in x2APIC mode (x2apic_enable() ran on it). */
static inline int lapic_x2apic(void)
{
    unsigned on;
    __asm__ volatile("movl %%gs:4, %0" : "=r"(on));
    return on != 0;
}
static inline uint32_t lapic_read(uint32_t reg)
{
    return lapic_x2apic() ? (uint32_t)rdmsr(X2APIC_MSR(reg)) : mmio_read32(LAPIC_BASE + reg);
}
static inline void lapic_write(uint32_t reg, uint32_t value)
{
    if (lapic_x2apic())
        wrmsr(X2APIC_MSR(reg), value);
    else
        mmio_write32(LAPIC_BASE + reg, value);
}
/* Software-enables the LAPIC (SVR bit 8) with spurious vector 0xFF and TPR 0. */
void lapic_enable(void);
static inline void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }
/* This vCPU's APIC ID: 8 bits from the xAPIC ID register, all 32 in x2APIC mode. */
static inline unsigned lapic_id(void) { return lapic_x2apic() ? lapic_read(LAPIC_ID) : lapic_read(LAPIC_ID) >> 24; }
/* CPUID leaf 1 ECX bit 21. */
int x2apic_supported(void);
/* Switches this vCPU's LAPIC to x2APIC mode (IA32_APIC_BASE EN and EXTD); from then on the
 * lapic_* helpers use the MSRs. Call on each vCPU that uses x2APIC, before its lapic_enable(). */
void x2apic_enable(void);
/* Sends `icr_low` (vector, delivery mode, level, …) to `apic_id`, in either mode. */
void lapic_send_ipi(unsigned apic_id, uint32_t icr_low);

/* ---- PCI configuration access ------------------------------------------------------------ */
/* In pci.h / pci.c; MSI-X and the test device in msix.h / msix.c; bounded waits in timer.h. */

/* ---- Freestanding C library pieces the compiler may call ----------------------------------- */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
