/* Runtime start-up, per-CPU state, the IDT and its dispatch, exit and LAPIC helpers. */
#include "guest.h"

/* ---- Per-CPU block, reached through GS (this_cpu() reads its first field) ---------------- */
struct cpu_local {
    uint32_t index;  /* gs:0, this_cpu() */
    uint32_t x2apic; /* gs:4, lapic_x2apic(): set by x2apic_enable() */
};

static struct cpu_local cpu_locals[GUEST_MAX_CPUS];

#define MSR_GS_BASE 0xC0000101u

/* ---- IDT --------------------------------------------------------------------------------- */
struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attributes; /* P | DPL | 0 | type (0xE = 64-bit interrupt gate) */
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};

struct __attribute__((packed)) idt_pointer {
    uint16_t limit;
    uint64_t base;
};

extern const uint64_t isr_stub_table[256];
static struct idt_gate idt[256] __attribute__((aligned(16)));
static volatile interrupt_handler_t handlers[256];

#define KERNEL_CODE_SELECTOR 0x08
#define GATE_PRESENT_INTERRUPT 0x8E

/* Called once, on vCPU 0, after .bss is zeroed and before any other vCPU proceeds. */
void runtime_init_once(void);
void runtime_init_once(void)
{
    for (unsigned v = 0; v < 256; v++) {
        uint64_t stub = isr_stub_table[v];
        idt[v].offset_low = (uint16_t)stub;
        idt[v].selector = KERNEL_CODE_SELECTOR;
        idt[v].ist = 0;
        idt[v].type_attributes = GATE_PRESENT_INTERRUPT;
        idt[v].offset_mid = (uint16_t)(stub >> 16);
        idt[v].offset_high = (uint32_t)(stub >> 32);
        idt[v].reserved = 0;
    }
}

/* Called on every vCPU before guest_main. */
void runtime_init_cpu(unsigned cpu);
void runtime_init_cpu(unsigned cpu)
{
    if (cpu >= GUEST_MAX_CPUS) {
        /* No per-CPU block for it: report without the console lock (which needs this_cpu). */
        const char *m = "FAIL: vCPU index beyond GUEST_MAX_CPUS\n";
        while (*m)
            outb(CONSOLE_PORT, (uint8_t)*m++);
        guest_exit(1);
    }
    cpu_locals[cpu].index = cpu;
    wrmsr(MSR_GS_BASE, (uint64_t)(uintptr_t)&cpu_locals[cpu]);
    struct idt_pointer p = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" : : "m"(p) : "memory");
}

void idt_set_handler(uint8_t vector, interrupt_handler_t handler) { handlers[vector] = handler; }

static const char *const exception_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
    "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
    "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check", "#MC machine check",
    "#XM SIMD error", "#VE virtualization", "#CP control protection", "reserved 22", "reserved 23",
    "reserved 24", "reserved 25", "reserved 26", "reserved 27", "#HV hypervisor injection",
    "#VC VMM communication", "#SX security", "reserved 31",
};

/* Called by isr_common with the saved state. */
void interrupt_dispatch(struct interrupt_frame *frame);
void interrupt_dispatch(struct interrupt_frame *frame)
{
    unsigned vector = (unsigned)(frame->vector & 0xFF);
    interrupt_handler_t handler = handlers[vector];
    if (handler) {
        handler(frame);
        return;
    }
    if (vector < 32) {
        uint64_t cr2 = 0;
        if (vector == 14)
            __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
        console_lock();
        printf("FAIL: exception %u (%s) on vCPU %u, error code 0x%llx, RIP 0x%llx, RSP 0x%llx",
               vector, exception_names[vector], this_cpu(), (unsigned long long)frame->error_code,
               (unsigned long long)frame->rip, (unsigned long long)frame->rsp);
        if (vector == 14)
            printf(", CR2 0x%llx", (unsigned long long)cr2);
        printf("\n");
        console_unlock();
        guest_exit(2);
    }
    if (vector == LAPIC_SPURIOUS_VECTOR)
        return; /* spurious interrupts take no EOI */
    guest_failf("unexpected interrupt vector %u on vCPU %u at RIP 0x%llx", vector, this_cpu(),
                (unsigned long long)frame->rip);
}

/* ---- Exit and halting --------------------------------------------------------------------- */
void cpu_halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt" ::: "memory");
}

void cpu_idle_forever(void)
{
    for (;;)
        __asm__ volatile("sti; hlt" ::: "memory");
}

void guest_exit(uint32_t value)
{
    outl(EXIT_PORT, value);
    cpu_halt_forever(); /* the VMM ends the run; never come back if it does not at once */
}

void guest_pass(void) { guest_exit(0); }

void guest_fail(const char *check)
{
    console_lock();
    console_puts("FAIL: ");
    console_puts(check ? check : "(null)");
    console_putc('\n');
    console_unlock();
    guest_exit(1);
}

void guest_failf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    console_lock();
    console_puts("FAIL: ");
    vprintf(fmt, ap);
    console_putc('\n');
    console_unlock();
    va_end(ap);
    guest_exit(1);
}

/* ---- LAPIC -------------------------------------------------------------------------------- */
void x2apic_enable(void)
{
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_ENABLE | APIC_BASE_X2APIC);
    __asm__ volatile("movl $1, %%gs:4" ::: "memory");
}

int x2apic_supported(void)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    return (c >> 21) & 1;
}

void lapic_send_ipi(unsigned apic_id, uint32_t icr_low)
{
    if (lapic_x2apic()) {
        wrmsr(X2APIC_MSR(LAPIC_ICR_LOW), (uint64_t)apic_id << 32 | icr_low);
    } else {
        lapic_write(LAPIC_ICR_HIGH, apic_id << 24);
        lapic_write(LAPIC_ICR_LOW, icr_low);
    }
}

void lapic_enable(void)
{
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_SVR, 0x100 | LAPIC_SPURIOUS_VECTOR);
}
