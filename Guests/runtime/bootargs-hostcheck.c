/*
 * Host test of the guest runtime's bootargs words (bootargs.c).
 *
 *   cc -O1 -Wall -Werror -I Guests/runtime -o bootargs-hostcheck Guests/runtime/bootargs-hostcheck.c Guests/runtime/bootargs.c
 *   ./bootargs-hostcheck [seed]   prints "N passed, N failed"; exits 1 when anything failed
 *
 * The strings handed to bootarg_number are heap copies of exactly their length plus the NUL, and
 * Scripts/test.sh builds this with -fsanitize=address,undefined, so a read past the end fails.
 * The random part compares bootarg_number and bootarg_is with references built on strtok_r and
 * strtoull, over keys that are prefixes of one another; it prints its seed when it fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootargs.h"
#include "hostcheck.h"

static int number(const char *args, const char *key, uint64_t max, uint64_t *out)
{
    char *copy = strdup(args);
    int r = bootarg_number(copy, key, max, out);
    free(copy);
    return r;
}

static void test_numbers(void)
{
    static const struct {
        const char *args, *key;
        uint64_t max;
        int result;
        uint64_t value;
    } cases[] = {
        {"", "n", UINT64_MAX, BOOTARG_ABSENT, 0},
        {"n=5", "n", UINT64_MAX, BOOTARG_FOUND, 5},
        {"  seed=12\trounds=7 ", "rounds", UINT64_MAX, BOOTARG_FOUND, 7},
        {"seed=12 rounds=7", "seed", UINT64_MAX, BOOTARG_FOUND, 12},
        {"bar0=0xFEB0_0000", "bar0", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"bar0=0xfeb00000", "bar0", UINT64_MAX, BOOTARG_FOUND, 0xfeb00000},
        {"bar0=0XFEB00000", "bar0", UINT64_MAX, BOOTARG_FOUND, 0xfeb00000},
        {"n=0x", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"n=", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"n= 5", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"n=12abc", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"n=ff", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"xn=5", "n", UINT64_MAX, BOOTARG_ABSENT, 0},
        {"nn=5 n=6", "n", UINT64_MAX, BOOTARG_FOUND, 6},
        {"n5 n=6", "n", UINT64_MAX, BOOTARG_FOUND, 6},
        {"n=1 n=2", "n", UINT64_MAX, BOOTARG_FOUND, 1},
        {"n=bad n=2", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"n=18446744073709551615", "n", UINT64_MAX, BOOTARG_FOUND, UINT64_MAX},
        {"n=18446744073709551616", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"n=0xFFFFFFFFFFFFFFFF", "n", UINT64_MAX, BOOTARG_FOUND, UINT64_MAX},
        {"n=0x10000000000000000", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"n=4294967295", "n", 0xFFFFFFFFu, BOOTARG_FOUND, 0xFFFFFFFFu},
        {"n=4294967296", "n", 0xFFFFFFFFu, BOOTARG_MALFORMED, 0},
        {"n=0", "n", 0, BOOTARG_FOUND, 0},
        {"n=9", "n", 0, BOOTARG_MALFORMED, 0},
        {"n=000000000000000000000000000000007", "n", 7, BOOTARG_FOUND, 7},
        {"n=1:", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"n=/", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"n=0xg", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"n=0x@", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"n=0xA", "n", UINT64_MAX, BOOTARG_FOUND, 10},
        {"n=0x2345678bcde", "n", UINT64_MAX, BOOTARG_FOUND, 0x2345678bcde},
        {"n=\xb1", "n", UINT64_MAX, BOOTARG_MALFORMED, 0},
        {"se=1 seed=2", "seed", UINT64_MAX, BOOTARG_FOUND, 2},
        {"seed=2 se=1", "se", UINT64_MAX, BOOTARG_FOUND, 1},
        {"seed", "seed", UINT64_MAX, BOOTARG_ABSENT, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t v = 0xDEAD;
        int r = number(cases[i].args, cases[i].key, cases[i].max, &v);
        CHECK(r == cases[i].result, "\"%s\" %s: result %d, want %d", cases[i].args, cases[i].key, r, cases[i].result);
        if (r == BOOTARG_FOUND)
            CHECK(v == cases[i].value, "\"%s\" %s: %llu, want %llu", cases[i].args, cases[i].key, (unsigned long long)v,
                  (unsigned long long)cases[i].value);
        else
            CHECK(v == 0xDEAD, "\"%s\" %s: *out written (%llu) though not found", cases[i].args, cases[i].key, (unsigned long long)v);
    }
}

static void test_words(void)
{
    CHECK(bootarg_is("mode=irqfd n=3", "mode", "irqfd"), "irqfd");
    CHECK(!bootarg_is("mode=irqfd n=3", "mode", "irq"), "a prefix of the value");
    CHECK(!bootarg_is("mode=irq n=3", "mode", "irqfd"), "a longer value");
    CHECK(!bootarg_is("mode= n=3", "mode", "irqfd"), "empty value");
    CHECK(bootarg_is("mode= n=3", "mode", ""), "empty value is empty");
    CHECK(!bootarg_is("n=3", "mode", "irqfd"), "absent");
    CHECK(!bootarg_is("xmode=irqfd", "mode", "irqfd"), "key inside a word");
    const char *v = 0;
    size_t n = 99;
    CHECK(bootarg_value("a=1 key=v=w\tz", "key", &v, &n) == BOOTARG_FOUND && n == 3 && memcmp(v, "v=w", 3) == 0,
          "the value runs to the next separator");
}

/* A reference: words split by strtok, the first "<key>=" word parsed with strtoull. */
static int reference(const char *args, const char *key, uint64_t max, uint64_t *out)
{
    char *copy = strdup(args), *save = 0;
    int r = BOOTARG_ABSENT;
    size_t k = strlen(key);
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(0, " \t", &save)) {
        if (strncmp(w, key, k) != 0 || w[k] != '=')
            continue;
        const char *d = w + k + 1;
        int base = (d[0] == '0' && (d[1] | 0x20) == 'x' && d[2]) ? 16 : 10;
        if (base == 16)
            d += 2;
        r = BOOTARG_MALFORMED;
        if (*d && strspn(d, base == 16 ? "0123456789abcdefABCDEF" : "0123456789") == strlen(d)) {
            errno = 0;
            char *end;
            unsigned long long v = strtoull(d, &end, base);
            if (errno == 0 && *end == '\0' && v <= max) {
                *out = v;
                r = BOOTARG_FOUND;
            }
        }
        break;
    }
    free(copy);
    return r;
}

/* A reference for bootarg_is: the first "<key>=" word's value compared with strcmp. */
static int reference_is(const char *args, const char *key, const char *value)
{
    char *copy = strdup(args), *save = 0;
    int r = 0;
    size_t k = strlen(key);
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(0, " \t", &save)) {
        if (strncmp(w, key, k) == 0 && w[k] == '=') {
            r = strcmp(w + k + 1, value) == 0;
            break;
        }
    }
    free(copy);
    return r;
}

static uint64_t state;
static uint64_t rnd(void)
{
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void test_random(uint64_t seed)
{
    /* Digits of both bases and the characters just outside them (/ : @ G ` g), the keys' letters,
     * separators, '=' and bytes above 0x7F. */
    static const char alphabet[] = "0123456789abcdefABCDEF/:@Gg`xXnsed= \t=\x80\xff";
    static const char *const keys[] = {"n", "nn", "s", "se", "seed"};
    static const char *const values[] = {"", "1", "0x1", "e", "seed"};
    int before = failed;
    state = seed;
    for (int round = 0; round < 200000 && failed == before; round++) {
        char args[40];
        size_t len = rnd() % sizeof args;
        for (size_t i = 0; i < len; i++)
            args[i] = alphabet[rnd() % (sizeof alphabet - 1)];
        args[len] = '\0';
        const char *key = keys[rnd() % 5], *value = values[rnd() % 5];
        uint64_t max = rnd() % 4 ? UINT64_MAX : rnd() % 1000;
        uint64_t got = 0, want = 0;
        int r = number(args, key, max, &got), w = reference(args, key, max, &want);
        CHECK(r == w && (r != BOOTARG_FOUND || got == want), "seed %llu: \"%s\" %s max %llu: %d %llu, reference %d %llu",
              (unsigned long long)seed, args, key, (unsigned long long)max, r, (unsigned long long)got, w, (unsigned long long)want);
        int is = bootarg_is(args, key, value), want_is = reference_is(args, key, value);
        CHECK(is == want_is, "seed %llu: \"%s\" %s=%s: bootarg_is %d, reference %d", (unsigned long long)seed, args, key, value, is, want_is);
    }
    if (failed != before)
        printf("bootargs-hostcheck: random comparison failed with seed %llu\n", (unsigned long long)seed);
}

int main(int argc, char **argv)
{
    test_numbers();
    test_words();
    if (argc > 1) {
        test_random(strtoull(argv[1], 0, 0));
    } else {
        for (uint64_t seed = 1; seed <= 4; seed++)
            test_random(seed);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
