/* Console output on the 8250 THR (port 0x3F8), a recursive per-vCPU lock, and a small printf. */
#include "guest.h"

/* The lock: `owner` is the holding vCPU's index + 1 (0 = free). Only the holder writes `depth`
 * and `saved_flags`, and only the holder can see `owner` equal to its own index + 1, so the
 * recursion test needs no atomic read-modify-write. Interrupts stay off while it is held, so an
 * interrupt handler that prints cannot split a line of the code it interrupted. */
static spinlock_t console_spin = SPINLOCK_INIT;
static volatile uint32_t console_owner;
static uint32_t console_depth;
static uint64_t console_saved_flags;

#define RFLAGS_IF (1u << 9)

void console_lock(void)
{
    uint64_t flags = cpu_flags();
    cpu_cli();
    uint32_t me = this_cpu() + 1;
    if (atomic_load32(&console_owner) == me) {
        console_depth++;
        return;
    }
    spin_lock(&console_spin);
    atomic_store32(&console_owner, me);
    console_depth = 1;
    console_saved_flags = flags;
}

void console_unlock(void)
{
    if (--console_depth != 0)
        return;
    uint64_t flags = console_saved_flags;
    atomic_store32(&console_owner, 0);
    spin_unlock(&console_spin);
    if (flags & RFLAGS_IF)
        cpu_sti();
}

static void raw_putc(char c) { outb(CONSOLE_PORT, (uint8_t)c); }

void console_putc(char c)
{
    console_lock();
    raw_putc(c);
    console_unlock();
}

void console_puts(const char *s)
{
    console_lock();
    while (*s)
        raw_putc(*s++);
    console_unlock();
}

/* Writes `value` in `base` (10 or 16) into the end of buf; returns the first digit. */
static char *format_unsigned(char *end, uint64_t value, unsigned base, int upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *p = end;
    do {
        *--p = digits[value % base];
        value /= base;
    } while (value);
    return p;
}

void console_put_dec(uint64_t value)
{
    char buf[24];
    char *end = buf + sizeof buf;
    char *p = format_unsigned(end, value, 10, 0);
    console_lock();
    while (p < end)
        raw_putc(*p++);
    console_unlock();
}

void console_put_hex(uint64_t value)
{
    char buf[24];
    char *end = buf + sizeof buf;
    char *p = format_unsigned(end, value, 16, 0);
    console_lock();
    raw_putc('0');
    raw_putc('x');
    while (p < end)
        raw_putc(*p++);
    console_unlock();
}

/* Emits `len` characters of `s` padded to `width`; returns the count written. */
static int emit_padded(const char *s, int len, int width, int left, char pad)
{
    int n = 0;
    /* With zero padding a leading '-' goes before the zeros. */
    if (pad == '0' && !left && len > 0 && s[0] == '-') {
        raw_putc('-');
        s++;
        len--;
        width--;
        n++;
    }
    if (!left)
        for (; width > len; width--, n++)
            raw_putc(pad);
    for (int i = 0; i < len; i++, n++)
        raw_putc(s[i]);
    if (left)
        for (; width > len; width--, n++)
            raw_putc(' ');
    return n;
}

int vprintf(const char *fmt, va_list ap)
{
    int count = 0;
    console_lock();
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            raw_putc(*f);
            count++;
            continue;
        }
        f++;
        int left = 0;
        char pad = ' ';
        for (;; f++) {
            if (*f == '-')
                left = 1;
            else if (*f == '0')
                pad = '0';
            else
                break;
        }
        int width = 0;
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        int longs = 0; /* 0: int, 1: long, 2: long long, 3: size_t */
        if (*f == 'l') {
            longs = 1;
            if (*++f == 'l') {
                longs = 2;
                f++;
            }
        } else if (*f == 'z') {
            longs = 3;
            f++;
        }

        char buf[24];
        char *end = buf + sizeof buf;
        char *p;
        switch (*f) {
        case 'd':
        case 'i': {
            int64_t v = longs == 0 ? va_arg(ap, int) : longs == 3 ? (int64_t)va_arg(ap, size_t) : va_arg(ap, long long);
            uint64_t magnitude = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            p = format_unsigned(end, magnitude, 10, 0);
            if (v < 0)
                *--p = '-';
            count += emit_padded(p, (int)(end - p), width, left, pad);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = longs == 0 ? va_arg(ap, unsigned) : longs == 3 ? va_arg(ap, size_t) : va_arg(ap, unsigned long long);
            p = format_unsigned(end, v, *f == 'u' ? 10 : 16, *f == 'X');
            count += emit_padded(p, (int)(end - p), width, left, pad);
            break;
        }
        case 'p': {
            uint64_t v = (uint64_t)(uintptr_t)va_arg(ap, void *);
            p = format_unsigned(end, v, 16, 0);
            *--p = 'x';
            *--p = '0';
            count += emit_padded(p, (int)(end - p), width, left, ' ');
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            count += emit_padded(&c, 1, width, left, ' ');
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            count += emit_padded(s, (int)strlen(s), width, left, ' ');
            break;
        }
        case '%':
            raw_putc('%');
            count++;
            break;
        case '\0':
            f--; /* a lone '%' at the end: stop at the terminator */
            break;
        default: /* unknown conversion: show it as written */
            raw_putc('%');
            raw_putc(*f);
            count += 2;
            break;
        }
    }
    console_unlock();
    return count;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}
