/* The checks of the hosted *-hostcheck.c programs: CHECK counts a pass or prints the failed
 * condition with a printf-style explanation; main() reports `passed` and `failed`. */
#ifndef GUEST_HOSTCHECK_H
#define GUEST_HOSTCHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (cond) {                                                       \
            passed++;                                                     \
        } else {                                                          \
            failed++;                                                     \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            printf(__VA_ARGS__);                                          \
            printf("\n");                                                 \
        }                                                                 \
    } while (0)

#endif
