/*
 * fuzz_replay.c - a main() for the libFuzzer targets in fuzz/, so the normal
 * and sanitizer builds (gcc, no libFuzzer) replay the seed corpora and the
 * saved crashers of fuzz/regressions/ as plain regression tests. Runs
 * LLVMFuzzerTestOneInput once per file named on the command line; a failed
 * check aborts, as under libFuzzer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        char *buf = NULL;
        size_t len = 0;
        if (tl_file_read(argv[i], SIZE_MAX, &buf, &len) != TL_OK) {
            fprintf(stderr, "fuzz_replay: cannot read %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
        /* An exact-size copy (no NUL after it), so an over-read is caught by
         * ASan. */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) {
            free(buf);
            return 2;
        }
        memcpy(exact, buf, len);
        free(buf);
        fprintf(stderr, "fuzz_replay: %s\n", argv[i]);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        n++;
    }
    printf("replayed %d inputs\n", n);
    return 0;
}
