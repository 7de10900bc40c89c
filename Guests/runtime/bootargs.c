/* The bootargs words (bootargs.h). */
#include "bootargs.h"

static int separates(char c) { return c == ' ' || c == '\t'; }

int bootarg_value(const char *args, const char *key, const char **value, size_t *length)
{
    for (const char *p = args; *p;) {
        while (separates(*p))
            p++;
        const char *k = key, *q = p;
        while (*k && *q == *k)
            k++, q++;
        if (*k == '\0' && *q == '=') {
            const char *end = ++q;
            while (*end && !separates(*end))
                end++;
            *value = q;
            *length = (size_t)(end - q);
            return BOOTARG_FOUND;
        }
        while (*p && !separates(*p))
            p++;
    }
    return BOOTARG_ABSENT;
}

int bootarg_number(const char *args, const char *key, uint64_t max, uint64_t *out)
{
    const char *d;
    size_t n;
    if (bootarg_value(args, key, &d, &n) != BOOTARG_FOUND)
        return BOOTARG_ABSENT;
    unsigned base = 10;
    if (n > 2 && d[0] == '0' && (d[1] | 0x20) == 'x') {
        base = 16;
        d += 2;
        n -= 2;
    }
    if (n == 0)
        return BOOTARG_MALFORMED;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)d[i], lower = c | 0x20, x;
        if (c - '0' < 10)
            x = c - '0';
        else if (base == 16 && lower - 'a' < 6)
            x = lower - 'a' + 10;
        else
            return BOOTARG_MALFORMED;
        if (x > max || v > (max - x) / base) /* v * base + x > max, without overflow */
            return BOOTARG_MALFORMED;
        v = v * base + x;
    }
    *out = v;
    return BOOTARG_FOUND;
}

int bootarg_is(const char *args, const char *key, const char *value)
{
    const char *v;
    size_t n;
    if (bootarg_value(args, key, &v, &n) != BOOTARG_FOUND)
        return 0;
    size_t i = 0;
    while (i < n && value[i] == v[i])
        i++;
    return i == n && value[i] == '\0';
}
