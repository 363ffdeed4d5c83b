/*
 * crash_log.c - the SIGKILL crash test of the log (its own ctest test).
 *
 * The parent creates a log in a temp folder, then repeatedly starts a child
 * (this program re-executed with --child) that opens the log and sequences
 * batches of random size in a loop, writing every acknowledged
 * (index, leaf hash) to a pipe from the add callback - i.e. after the
 * commit. The parent SIGKILLs the child at a random moment (0..100 ms after
 * its start, so kills also land during open and recovery), then reopens the
 * log and checks:
 *   - every acknowledged index is below the signed size and holds the
 *     acknowledged entry (leaf hash of the stored entry == acknowledged);
 *   - the root recomputed from the stored entries == the signed checkpoint's
 *     root, and the checkpoint's signature verifies with the log's key;
 *   - every earlier signed head is still stored unchanged and is consistent
 *     with the new one (consistency proofs verify);
 *   - the published head is the latest signed one (publish_on_sign);
 *   - at the end: no entry was sequenced twice (children resubmit entries).
 * The log's own recovery checks run too (the parent's tl_log_open).
 * 200 kills in the normal build, 100 under TL_SANITIZED=1 (ASan is slower).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/dec.h"
#include "log/log.h"
#include "log/reader.h"
#include "merkle/merkle.h"
#include "signer/checkpoint.h"
#include "signer/note.h"

#define ORIGIN "example.com/crash-test"
#define REC_SIZE (8 + TL_HASH_SIZE)

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "crash_log: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* ---- child ---------------------------------------------------------------- */

static int out_fd;
static volatile int outstanding;

static void child_ack(void *ctx, int err, uint64_t index, const tl_hash *leaf)
{
    uint8_t rec[REC_SIZE];
    (void)ctx;
    __atomic_sub_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
    if (err != TL_OK)
        return;
    memcpy(rec, &index, 8);
    memcpy(rec + 8, leaf->b, TL_HASH_SIZE);
    if (write(out_fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
        _exit(3);
}

static int child_main(const char *dir, int fd, uint64_t seed)
{
    tl_log_config cfg;
    tl_log *log = NULL;
    char err[512];
    uint8_t ring[64][96];
    size_t ringlen[64];
    uint64_t n = 0;

    out_fd = fd;
    rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
    memset(&cfg, 0, sizeof(cfg));
    cfg.dir = dir;
    cfg.batch_max = 1 + rnd() % 300;
    cfg.batch_interval_ms = 1 + rnd() % 3;
    cfg.pool_max = 2048;
    cfg.publish_on_sign = 1;
    if (tl_log_open(&cfg, &log, err, sizeof(err)) != TL_OK) {
        fprintf(stderr, "crash_log child: open: %s\n", err);
        return 4;
    }
    for (;;) {
        uint8_t e[96];
        size_t len;
        int rc;
        if (n > 64 && rnd() % 40 == 0) {
            /* resubmit an earlier entry: must get its original index */
            size_t k = rnd() % 64;
            len = ringlen[k];
            memcpy(e, ring[k], len);
        } else {
            len = (size_t)snprintf((char *)e, sizeof(e), "seed %llu entry %llu ",
                                   (unsigned long long)seed, (unsigned long long)n);
            while (len < 24 + rnd() % 64)
                e[len++] = (uint8_t)rnd();
            memcpy(ring[n % 64], e, len);
            ringlen[n % 64] = len;
            n++;
        }
        if (__atomic_load_n(&outstanding, __ATOMIC_SEQ_CST) > 1500) {
            usleep(200);
            continue;
        }
        __atomic_add_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
        rc = tl_log_add(log, e, len, child_ack, NULL);
        if (rc != TL_OK) {
            __atomic_sub_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
            if (rc != TL_ERR_BUSY)
                return 5;
            usleep(200);
        }
    }
}

/* ---- parent ----------------------------------------------------------------- */

typedef struct verified {
    uint64_t size;
    tl_hash root;
} verified;

static struct {
    tl_hash *leaves; /* leaf hash of every verified index */
    uint8_t *acked;  /* 1: acknowledged, leaf in ackleaf */
    tl_hash *ackleaf;
    uint64_t cap;
    tl_frontier fr;
    verified *heads;
    size_t nheads;
} P;

static int grow(uint64_t need)
{
    uint64_t cap = P.cap ? P.cap : 4096;
    if (need <= P.cap)
        return 0;
    while (cap < need)
        cap *= 2;
    P.leaves = realloc(P.leaves, cap * sizeof(tl_hash));
    P.ackleaf = realloc(P.ackleaf, cap * sizeof(tl_hash));
    P.acked = realloc(P.acked, cap);
    if (!P.leaves || !P.ackleaf || !P.acked)
        return -1;
    memset(P.acked + P.cap, 0, cap - P.cap);
    P.cap = cap;
    return 0;
}

static int record_ack(const uint8_t *rec)
{
    uint64_t idx;
    tl_hash leaf;
    memcpy(&idx, rec, 8);
    memcpy(leaf.b, rec + 8, TL_HASH_SIZE);
    if (idx > (1ULL << 32) || grow(idx + 1))
        return fail("absurd acknowledged index %llu", (unsigned long long)idx);
    if (P.acked[idx] && memcmp(P.ackleaf[idx].b, leaf.b, TL_HASH_SIZE) != 0)
        return fail("index %llu acknowledged for two different entries", (unsigned long long)idx);
    P.acked[idx] = 1;
    P.ackleaf[idx] = leaf;
    return 0;
}

static int verify(const char *dir, tl_hasher *h, uint64_t *acked_max_out)
{
    tl_log_config cfg;
    tl_log *log = NULL;
    tl_log_reader *rd = NULL;
    tl_log_head head, pub;
    tl_verifier *v = NULL;
    tl_note note;
    tl_checkpoint cp;
    tl_hash root, proof[TL_MAX_PROOF];
    tl_buf b = TL_BUF_INIT;
    char err[512];
    uint64_t prev = P.fr.size, size;
    size_t plen;
    int rc = 1;

    memset(&cfg, 0, sizeof(cfg));
    cfg.dir = dir;
    if (tl_log_open(&cfg, &log, err, sizeof(err)) != TL_OK)
        return fail("reopen after kill refused: %s", err);
    if (tl_log_latest_signed(log, &head) != TL_OK) {
        tl_log_close(log);
        return fail("no signed head");
    }
    if (tl_log_reader_new(log, TL_LOG_READER_SMALL, &rd) != TL_OK) {
        tl_log_head_release(&head);
        tl_log_close(log);
        return fail("out of memory");
    }
    size = head.size;
    if (size < prev) {
        fail("signed size went back: %llu < %llu", (unsigned long long)size,
             (unsigned long long)prev);
        goto out;
    }
    if (grow(size + 1))
        goto out;
    /* entries [prev, size) from the bundles, folded into our own frontier */
    for (uint64_t n = prev >> 8; n << 8 < size; n++) {
        uint64_t first = n << 8, cnt = size - first > 256 ? 256 : size - first;
        tl_tile t = {TL_TILE_ENTRIES, n, (unsigned)cnt};
        size_t off = 0;
        tl_buf_reset(&b);
        if (tl_log_tile(log, &t, size, &b) != TL_OK) {
            fail("entry bundle %llu unreadable", (unsigned long long)n);
            goto out;
        }
        for (uint64_t i = first; i < first + cnt; i++) {
            size_t len;
            if (off + 2 > b.len) {
                fail("bundle %llu truncated", (unsigned long long)n);
                goto out;
            }
            len = ((size_t)b.data[off] << 8) | b.data[off + 1];
            if (off + 2 + len > b.len) {
                fail("bundle %llu truncated", (unsigned long long)n);
                goto out;
            }
            if (i >= prev) {
                tl_hash_leaf(h, b.data + off + 2, len, &P.leaves[i]);
                tl_frontier_append(&P.fr, h, &P.leaves[i], NULL, NULL);
            }
            off += 2 + len;
        }
    }
    tl_frontier_root(&P.fr, h, &root);
    if (P.fr.size != size || memcmp(root.b, head.root.b, TL_HASH_SIZE) != 0) {
        fail("root recomputed from the entries differs from the signed head (size %llu)",
             (unsigned long long)size);
        goto out;
    }
    /* the checkpoint note itself */
    if (tl_verifier_parse(tl_log_vkey(log), &v) != TL_OK ||
        tl_note_parse(head.note, head.note_len, &note) != TL_OK) {
        fail("cannot parse the key or the checkpoint");
        goto out;
    }
    if (tl_note_verify(&note, v) != TL_OK ||
        tl_checkpoint_parse(note.text, note.text_len, &cp) != TL_OK || cp.size != size ||
        memcmp(cp.root.b, root.b, TL_HASH_SIZE) != 0) {
        fail("the signed checkpoint does not verify or names another tree");
        tl_note_release(&note);
        goto out;
    }
    tl_note_release(&note);
    /* every acknowledged index is there with its entry */
    for (uint64_t i = 0; i < P.cap; i++) {
        if (!P.acked[i])
            continue;
        if (i >= size) {
            fail("acknowledged index %llu lost: signed size is %llu", (unsigned long long)i,
                 (unsigned long long)size);
            goto out;
        }
        if (memcmp(P.ackleaf[i].b, P.leaves[i].b, TL_HASH_SIZE) != 0) {
            fail("index %llu holds another entry than acknowledged", (unsigned long long)i);
            goto out;
        }
        *acked_max_out = i + 1 > *acked_max_out ? i + 1 : *acked_max_out;
    }
    /* earlier heads: unchanged and consistent with this one */
    for (size_t k = 0; k < P.nheads; k++) {
        tl_log_head old;
        verified *o = &P.heads[k];
        if (k + 3 < P.nheads && k % 17 != 0)
            continue; /* the last few and a sample of the rest */
        if (tl_log_signed_at(log, o->size, &old) != TL_OK ||
            memcmp(old.root.b, o->root.b, TL_HASH_SIZE) != 0) {
            fail("signed head of size %llu changed or vanished", (unsigned long long)o->size);
            goto out;
        }
        tl_log_head_release(&old);
        if (tl_log_reader_consistency(rd, size, o->size, size, proof, &plen) != TL_OK ||
            tl_verify_consistency(h, o->size, size, proof, plen, &o->root, &root) != TL_OK) {
            fail("head %llu is not consistent with head %llu", (unsigned long long)o->size,
                 (unsigned long long)size);
            goto out;
        }
    }
    /* every commit also publishes (publish_on_sign); only before the first
     * child finished opening can there be no published head */
    if (tl_log_published(log, &pub) == TL_OK) {
        uint64_t ps = pub.size;
        tl_log_head_release(&pub);
        if (ps != size) {
            fail("published head %llu is not the latest signed %llu", (unsigned long long)ps,
                 (unsigned long long)size);
            goto out;
        }
    } else if (size != 0) {
        fail("no published head at size %llu", (unsigned long long)size);
        goto out;
    }
    if (!P.nheads || P.heads[P.nheads - 1].size != size) {
        P.heads = realloc(P.heads, (P.nheads + 1) * sizeof(*P.heads));
        P.heads[P.nheads].size = size;
        P.heads[P.nheads].root = root;
        P.nheads++;
    }
    rc = 0;
out:
    tl_verifier_free(v);
    tl_log_head_release(&head);
    tl_buf_release(&b);
    tl_log_reader_free(rd);
    tl_log_close(log);
    return rc;
}

static int hash_cmp(const void *a, const void *b)
{
    return memcmp(a, b, TL_HASH_SIZE);
}

int main(int argc, char **argv)
{
    const char *t = getenv("TMPDIR"), *san = getenv("TL_SANITIZED");
    char parent[4096], dir[4200], err[512], self[4096], *vkey = NULL;
    int kills = san && *san && strcmp(san, "0") ? 100 : 200;
    tl_hasher *h;
    uint64_t acked_max = 0, acks = 0;
    ssize_t sl;
    double t0 = tl_mono_s();
    int rc = 0;

    uint64_t fd, seed, n;
    if (argc == 5 && strcmp(argv[1], "--child") == 0) {
        if (tl_dec_parse_range(argv[3], 0, INT_MAX, &fd) != TL_OK ||
            tl_dec_parse_range(argv[4], 0, UINT64_MAX, &seed) != TL_OK)
            return fail("--child DIR FD SEED: not numbers");
        return child_main(argv[2], (int)fd, seed);
    }
    if (argc == 2) {
        if (tl_dec_parse_range(argv[1], 1, 1000000, &n) != TL_OK)
            return fail("usage: crash_log [KILLS]");
        kills = (int)n;
    }
    signal(SIGPIPE, SIG_IGN);
    sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0)
        return fail("readlink /proc/self/exe");
    self[sl] = 0;
    snprintf(parent, sizeof(parent), "%s/tlog-crash-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(parent))
        return fail("mkdtemp");
    snprintf(dir, sizeof(dir), "%s/log", parent);
    if (tl_log_create(dir, ORIGIN, NULL, &vkey, err, sizeof(err)) != TL_OK)
        return fail("create: %s", err);
    free(vkey);
    h = tl_hasher_new();
    tl_frontier_init(&P.fr);
    rng_state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    fprintf(stderr, "crash_log: %d kills, seed %llu\n", kills, (unsigned long long)rng_state);

    for (int k = 0; k < kills && rc == 0; k++) {
        int fds[2], status;
        pid_t pid;
        double deadline;
        uint8_t buf[REC_SIZE * 256];
        size_t have = 0;
        if (pipe(fds) != 0)
            return fail("pipe");
        pid = fork();
        if (pid < 0)
            return fail("fork");
        if (pid == 0) {
            char fdarg[16], seedarg[32];
            close(fds[0]);
            snprintf(fdarg, sizeof(fdarg), "%d", fds[1]);
            snprintf(seedarg, sizeof(seedarg), "%d", k);
            execl(self, self, "--child", dir, fdarg, seedarg, (char *)NULL);
            _exit(99);
        }
        close(fds[1]);
        deadline = tl_mono_s() + (double)(rnd() % 101) / 1000.0;
        for (;;) {
            struct pollfd pfd = {fds[0], POLLIN, 0};
            double left = deadline - tl_mono_s();
            ssize_t r;
            if (left <= 0)
                break;
            if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
                continue;
            r = read(fds[0], buf + have, sizeof(buf) - have);
            if (r <= 0)
                break; /* the child died on its own: reported below */
            have += (size_t)r;
            while (have >= REC_SIZE && rc == 0) {
                rc = record_ack(buf);
                acks++;
                memmove(buf, buf + REC_SIZE, have - REC_SIZE);
                have -= REC_SIZE;
            }
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
            rc = fail("child exited by itself (status %d) before the kill", status);
            break;
        }
        /* what the child acknowledged before dying is still in the pipe */
        for (;;) {
            ssize_t r = read(fds[0], buf + have, sizeof(buf) - have);
            if (r <= 0)
                break;
            have += (size_t)r;
            while (have >= REC_SIZE && rc == 0) {
                rc = record_ack(buf);
                acks++;
                memmove(buf, buf + REC_SIZE, have - REC_SIZE);
                have -= REC_SIZE;
            }
        }
        close(fds[0]);
        if (rc == 0)
            rc = verify(dir, h, &acked_max);
    }
    fprintf(stderr,
            "crash_log: %s after %.1f s: signed size %llu, %llu acknowledgements "
            "(highest index %llu), %zu distinct heads verified\n",
            rc ? "FAILED" : "ok", tl_mono_s() - t0, (unsigned long long)P.fr.size,
            (unsigned long long)acks, (unsigned long long)acked_max, P.nheads);
    /* strong dedup: no entry is in the log twice (children resubmit) */
    if (rc == 0 && P.fr.size > 1) {
        tl_hash *sorted = malloc(P.fr.size * sizeof(tl_hash));
        memcpy(sorted, P.leaves, P.fr.size * sizeof(tl_hash));
        qsort(sorted, P.fr.size, sizeof(tl_hash), hash_cmp);
        for (uint64_t i = 1; i < P.fr.size && rc == 0; i++)
            if (memcmp(sorted[i - 1].b, sorted[i].b, TL_HASH_SIZE) == 0)
                rc = fail("an entry was sequenced twice (dedup failed)");
        free(sorted);
    }
    if (rc == 0 && P.fr.size < 1000)
        rc = fail("too little progress: only %llu entries sequenced in all runs",
                  (unsigned long long)P.fr.size);
    if (rc == 0) {
        char cmd[4300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", parent);
        if (system(cmd) != 0)
            fprintf(stderr, "crash_log: could not remove %s\n", parent);
    } else {
        fprintf(stderr, "crash_log: log kept at %s\n", dir);
    }
    tl_hasher_free(h);
    free(P.leaves);
    free(P.acked);
    free(P.ackleaf);
    free(P.heads);
    return rc;
}
