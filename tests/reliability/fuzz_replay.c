/*
 * fuzz_replay.c - a main() for the libFuzzer targets in fuzz/, so the normal
 * and sanitizer builds (gcc, no libFuzzer) replay the seed corpora and the
 * saved crashers of fuzz/regressions/ as plain regression tests. Runs
 * LLVMFuzzerTestOneInput once per file named on the command line; a failed
 * check aborts, as under libFuzzer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "fuzz_replay: cannot open %s\n", argv[i]);
            return 2;
        }
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
            if (len == cap) {
                cap = cap ? cap * 2 : 4096;
                uint8_t *nb = realloc(buf, cap);
                if (!nb) {
                    free(buf);
                    fclose(f);
                    return 2;
                }
                buf = nb;
            }
            size_t r = fread(buf + len, 1, cap - len, f);
            if (r == 0)
                break;
            len += r;
        }
        fclose(f);
        /* An exact-size copy, so an over-read is caught by ASan. */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) {
            free(buf);
            return 2;
        }
        for (size_t k = 0; k < len; k++)
            exact[k] = buf[k];
        free(buf);
        fprintf(stderr, "fuzz_replay: %s\n", argv[i]);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        n++;
    }
    printf("replayed %d inputs\n", n);
    return 0;
}
