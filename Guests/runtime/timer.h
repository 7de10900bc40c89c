/*
 * Bounded waits for the test guests, on the LAPIC timer.
 *
 * The timer of this vCPU's LAPIC runs periodically at TIMER_TICK_US on IDT vector TIMER_VECTOR
 * while a wait is armed; its handler counts ticks and sets the per-CPU "expired" flag when the
 * deadline passes. A wait tests its condition with interrupts off and then does `sti; hlt`: an
 * interrupt (the awaited one, or the next tick) wakes it. A condition another vCPU makes true is
 * seen at the next tick at the latest.
 *
 * KVM's in-kernel LAPIC counts its timer at 1 GHz (APIC_BUS_CYCLE_NS = 1) with divide-by-1,
 * which is what the tick length assumes; if a host counted slower, waits get longer, never shorter
 * than the awaited event needs. Needs lapic_enable() first. Vector TIMER_VECTOR (0x20) is taken.
 */
#ifndef GUEST_TIMER_H
#define GUEST_TIMER_H

#include <stdint.h>

#include "guest.h"

#define TIMER_VECTOR 0x20
#define TIMER_TICK_US 500u

/* Installs the tick handler (IDT is shared: once is enough, every call is harmless). */
void timer_init(void);
/* Starts this vCPU's periodic tick; the wait expires after `timeout_us` (rounded up to ticks,
 * at least 2 ticks so that a wait is never shorter than one whole tick). */
void timer_arm(uint32_t timeout_us);
/* Stops this vCPU's tick (LVT masked, count 0). */
void timer_disarm(void);
/* Has the armed deadline of this vCPU passed? */
int timer_expired(void);
/* Ticks seen by this vCPU since boot. */
uint32_t timer_ticks(void);

/*
 * wait_until(cond, timeout_us): 1 when `cond` held (tested with interrupts off), 0 on timeout.
 * Returns with interrupts enabled and the timer disarmed. `cond` must read memory that an
 * interrupt handler or another vCPU writes through volatile or atomic accesses.
 */
#define wait_until(cond, timeout_us)                                   \
    ({                                                                 \
        int ok_ = 0;                                                   \
        cpu_cli();                                                     \
        if (cond) {                                                    \
            ok_ = 1; /* already true: no timer needed */               \
        } else {                                                       \
            timer_arm(timeout_us);                                     \
            for (;;) {                                                 \
                cpu_cli();                                             \
                if (cond) {                                            \
                    ok_ = 1;                                           \
                    break;                                             \
                }                                                      \
                if (timer_expired())                                   \
                    break;                                             \
                __asm__ volatile("sti; hlt" ::: "memory");             \
            }                                                          \
            timer_disarm();                                            \
        }                                                              \
        cpu_sti();                                                     \
        ok_;                                                           \
    })

/* Sleeps about `us` microseconds (hlt between ticks) with interrupts enabled: a window in which
 * interrupts that are on their way arrive. */
void delay_us(uint32_t us);

#endif
