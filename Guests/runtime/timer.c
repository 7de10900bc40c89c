/* Bounded waits on the LAPIC timer (see timer.h). */
#include "timer.h"

#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define DIVIDE_BY_1 0xBu
#define TICKS_PER_US 1000u /* KVM's LAPIC: 1 ns per count at divide-by-1 */

struct timer_state {
    volatile uint32_t ticks;
    volatile uint32_t deadline; /* tick count at which the armed wait expires */
    volatile uint32_t armed;
};

static struct timer_state timers[GUEST_MAX_CPUS];

static void timer_tick(struct interrupt_frame *frame)
{
    (void)frame;
    struct timer_state *t = &timers[this_cpu()];
    t->ticks = t->ticks + 1;
    lapic_eoi();
}

void timer_init(void) { idt_set_handler(TIMER_VECTOR, timer_tick); }

void timer_arm(uint32_t timeout_us)
{
    struct timer_state *t = &timers[this_cpu()];
    uint32_t ticks = (timeout_us + TIMER_TICK_US - 1) / TIMER_TICK_US + 1;
    if (ticks < 2)
        ticks = 2;
    t->deadline = t->ticks + ticks;
    t->armed = 1;
    lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_1);
    lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | TIMER_VECTOR);
    lapic_write(LAPIC_TIMER_INITIAL, TIMER_TICK_US * TICKS_PER_US);
}

void timer_disarm(void)
{
    struct timer_state *t = &timers[this_cpu()];
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | TIMER_VECTOR);
    lapic_write(LAPIC_TIMER_INITIAL, 0);
    t->armed = 0;
}

int timer_expired(void)
{
    struct timer_state *t = &timers[this_cpu()];
    return t->armed && (int32_t)(t->ticks - t->deadline) >= 0;
}

uint32_t timer_ticks(void) { return timers[this_cpu()].ticks; }

void delay_us(uint32_t us)
{
    (void)wait_until(0, us);
}
