/*
 * The words of /chosen/bootargs ("seed=7 n=0x100 mode=irqfd"): words are separated by spaces or
 * tabs, and a guest's option is the first word that starts with "<key>=".
 *
 * Plain C with no library calls: it builds both for the guests and for the host
 * (bootargs-hostcheck.c). Nothing is read past the string's terminating NUL.
 */
#ifndef GUEST_BOOTARGS_H
#define GUEST_BOOTARGS_H

#include <stddef.h>
#include <stdint.h>

enum {
    BOOTARG_ABSENT = 0,     /* no word "<key>=…" */
    BOOTARG_FOUND = 1,      /* found, and *out (or the value) is set */
    BOOTARG_MALFORMED = -1, /* "<key>=" is there, but its value is not what was asked for */
};

/* The value of "<key>=<value>": *value points into `args`, *length counts its bytes (up to the
 * next space, tab or the end; it may be 0). */
int bootarg_value(const char *args, const char *key, const char **value, size_t *length);

/* "<key>=<number>", decimal or hex after 0x/0X, at most `max`: BOOTARG_MALFORMED for no digits,
 * a character after them in the same word, or a number above `max` (no overflow is possible). */
int bootarg_number(const char *args, const char *key, uint64_t max, uint64_t *out);

/* 1 if the value of "<key>=" is exactly `value`, else 0 (absent or another value). */
int bootarg_is(const char *args, const char *key, const char *value);

#endif
