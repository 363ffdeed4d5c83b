/*
 * fuzz.h - what the libFuzzer targets share: the entry point's prototype, an
 * exact-size copy of the input and the way a target reports a broken property.
 */
#ifndef TL_FUZZ_H
#define TL_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A heap copy of exactly size bytes (libFuzzer's buffer may be larger), so
 * ASan catches any read past the input's end. NULL when out of memory. */
static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (p)
        memcpy(p, data, size);
    return p;
}

/* A broken property: say which on stderr and abort, which libFuzzer records
 * as a crash with its input. */
#define FUZZ_FAIL(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        abort();                                                                                   \
    } while (0)

#endif
