/*
 * test_witness.c - CUnit tests of the tlog-witness state machine
 * (witness/witness.c) with the memory store, the fault-injecting store and
 * LevelDB: every status of C2SP tlog-witness add-checkpoint, strict body
 * parsing, split-view evidence, the N / N+K race, restart with state intact,
 * and failed syncs that must not be answered with a cosignature.
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "store/store.h"
#include "signer/checkpoint.h"
#include "signer/note.h"
#include "tests/witness/wt_tree.h"
#include "witness/witness.h"

#define ORIGIN "example.com/log"
#define TREE_MAX 4096

static tl_signer *log_key, *other_key, *wit_key;
static tl_verifier *wit_ver;
static char *log_vkey;
static wt_tree *tree, *fork_tree;

struct fx {
    tl_store *store;
    tl_witness *w;
};

static int suite_init(void)
{
    char *wv = NULL;
    if (tl_signer_generate(ORIGIN, TL_KEY_ED25519, &log_key) != TL_OK ||
        tl_signer_generate(ORIGIN, TL_KEY_ED25519, &other_key) != TL_OK ||
        tl_signer_generate("witness.example/w1", TL_KEY_COSIG_V1, &wit_key) != TL_OK ||
        tl_signer_vkey(log_key, &log_vkey) != TL_OK || tl_signer_vkey(wit_key, &wv) != TL_OK ||
        tl_verifier_parse(wv, &wit_ver) != TL_OK)
        return -1;
    free(wv);
    tree = wt_tree_new("main", TREE_MAX);
    fork_tree = wt_tree_new("fork", TREE_MAX);
    return tree && fork_tree ? 0 : -1;
}

static int suite_clean(void)
{
    tl_signer_free(log_key);
    tl_signer_free(other_key);
    tl_signer_free(wit_key);
    tl_verifier_free(wit_ver);
    free(log_vkey);
    wt_tree_free(tree);
    wt_tree_free(fork_tree);
    return 0;
}

static void fx_open(struct fx *f, tl_store *store)
{
    char err[200];
    f->store = store;
    CU_ASSERT_FATAL(tl_witness_new(store, wit_key, &f->w) == TL_OK);
    CU_ASSERT_FATAL(tl_witness_add_log(f->w, ORIGIN, log_vkey, NULL, err, sizeof(err)) == TL_OK);
}

static void fx_mem(struct fx *f)
{
    tl_store *s = NULL;
    CU_ASSERT_FATAL(tl_store_open_mem(&s) == TL_OK);
    fx_open(f, s);
}

static void fx_close(struct fx *f)
{
    tl_witness_free(f->w);
    tl_store_close(f->store);
}

/* Submits body; returns the status; copies the response body to out. */
static int submit(struct fx *f, const tl_buf *body, tl_buf *out)
{
    tl_witness_resp r = {0, NULL, TL_BUF_INIT};
    CU_ASSERT_FATAL(tl_witness_add_checkpoint(f->w, body->data, body->len, 1700000000, &r) ==
                    TL_OK);
    int st = r.status;
    if (st == 409)
        CU_ASSERT_STRING_EQUAL(r.ctype, "text/x.tlog.size");
    if (out) {
        tl_buf_reset(out);
        tl_buf_add(out, r.body.data, r.body.len);
    }
    tl_buf_release(&r.body);
    return st;
}

static int submit_tree(struct fx *f, wt_tree *t, const tl_signer *s, uint64_t old, uint64_t size,
                       tl_buf *out)
{
    tl_buf b = TL_BUF_INIT;
    CU_ASSERT_FATAL(wt_tree_request(t, s, ORIGIN, old, size, &b) == TL_OK);
    int st = submit(f, &b, out);
    tl_buf_release(&b);
    return st;
}

static int submit_text(struct fx *f, const char *text, tl_buf *out)
{
    tl_buf b = TL_BUF_INIT;
    tl_buf_adds(&b, text);
    int st = submit(f, &b, out);
    tl_buf_release(&b);
    return st;
}

static uint64_t stored_size(struct fx *f)
{
    uint64_t size = 99999;
    tl_hash root;
    CU_ASSERT(tl_witness_state(f->w, ORIGIN, &size, &root, NULL) == TL_OK);
    return size;
}

/* The cosignature in resp verifies with the witness key over the note. */
static int cosig_ok(wt_tree *t, uint64_t size, const tl_buf *resp)
{
    tl_hash root;
    wt_tree_root(t, size, &root);
    char *note = wt_checkpoint(log_key, ORIGIN, size, &root);
    tl_buf all = TL_BUF_INIT;
    tl_buf_adds(&all, note);
    tl_buf_add(&all, resp->data, resp->len);
    tl_note n;
    int ok = 0;
    if (tl_note_parse((const char *)all.data, all.len, &n) == TL_OK) {
        uint64_t ts = 0;
        ok = tl_cosig_verify(&n, wit_ver, &ts) == TL_OK && ts == 1700000000;
        tl_note_release(&n);
    }
    tl_buf_release(&all);
    free(note);
    return ok;
}

static void test_accept_and_extend(void)
{
    struct fx f;
    tl_buf out = TL_BUF_INIT;
    fx_mem(&f);
    CU_ASSERT_EQUAL(stored_size(&f), 0);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 0, 10, &out), 200);
    CU_ASSERT(out.len > 4 && memcmp(out.data, "\xe2\x80\x94 ", 4) == 0);
    CU_ASSERT(cosig_ok(tree, 10, &out));
    CU_ASSERT_EQUAL(stored_size(&f), 10);
    /* Consistency proofs of many shapes. */
    uint64_t sizes[] = {11, 16, 17, 255, 256, 257, 1000, 1024, 4095, 4096};
    uint64_t prev = 10;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, prev, sizes[i], &out), 200);
        CU_ASSERT(cosig_ok(tree, sizes[i], &out));
        CU_ASSERT_EQUAL(stored_size(&f), sizes[i]);
        prev = sizes[i];
    }
    /* The same checkpoint again (old == size, same root): cosigned again. */
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 4096, 4096, &out), 200);
    /* The served checkpoint carries the log signature and the cosignature. */
    tl_buf note = TL_BUF_INIT;
    tl_hash root;
    uint64_t size;
    CU_ASSERT(tl_witness_state(f.w, ORIGIN, &size, &root, &note) == TL_OK);
    tl_note n;
    CU_ASSERT_FATAL(tl_note_parse((const char *)note.data, note.len, &n) == TL_OK);
    tl_verifier *lv = NULL;
    CU_ASSERT_FATAL(tl_verifier_parse(log_vkey, &lv) == TL_OK);
    CU_ASSERT(tl_note_verify(&n, lv) == TL_OK);
    uint64_t ts;
    CU_ASSERT(tl_cosig_verify(&n, wit_ver, &ts) == TL_OK);
    CU_ASSERT_EQUAL(n.nsigs, 2);
    tl_note_release(&n);
    tl_verifier_free(lv);
    tl_buf_release(&note);
    tl_buf_release(&out);
    fx_close(&f);
}

static void test_status_codes(void)
{
    struct fx f;
    tl_buf out = TL_BUF_INIT;
    fx_mem(&f);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 0, 100, &out), 200);

    /* 404: unknown origin (signed by a key the witness does not know). */
    tl_signer *stranger = NULL;
    CU_ASSERT_FATAL(tl_signer_generate("other.example/log", TL_KEY_ED25519, &stranger) == TL_OK);
    tl_hash root;
    wt_tree_root(tree, 120, &root);
    char *note = wt_checkpoint(stranger, "other.example/log", 120, &root);
    tl_buf b = TL_BUF_INIT;
    wt_request(&b, 0, NULL, 0, note);
    CU_ASSERT_EQUAL(submit(&f, &b, &out), 404);
    free(note);
    tl_signer_free(stranger);

    /* 403: the right origin, signed by an untrusted key of the same name. */
    CU_ASSERT_EQUAL(submit_tree(&f, tree, other_key, 100, 120, &out), 403);
    /* 403: a valid signature line whose signature bytes were altered. */
    tl_buf_reset(&b);
    CU_ASSERT_FATAL(wt_tree_request(tree, log_key, ORIGIN, 100, 120, &b) == TL_OK);
    char *dash = strstr((char *)b.data, "\xe2\x80\x94 ");
    CU_ASSERT_FATAL(dash != NULL);
    char *last = (char *)b.data + b.len - 10; /* inside the base64 of the signature */
    *last = *last == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(submit(&f, &b, &out), 403);

    /* 400: old size larger than the checkpoint size. */
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 130, 120, &out), 400);
    /* 409: old size is not the cosigned size; body = stored size. */
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 50, 120, &out), 409);
    CU_ASSERT_EQUAL(out.len, 4);
    CU_ASSERT(memcmp(out.data, "100\n", 4) == 0);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 0, 120, &out), 409);
    /* 422: proof does not verify (proof of another tree). */
    tl_hash proof[TL_MAX_PROOF];
    size_t len;
    CU_ASSERT_FATAL(wt_tree_proof(fork_tree, 100, 120, proof, &len) == TL_OK);
    wt_tree_root(tree, 120, &root);
    note = wt_checkpoint(log_key, ORIGIN, 120, &root);
    wt_request(&b, 100, proof, len, note);
    CU_ASSERT_EQUAL(submit(&f, &b, &out), 422);
    /* 422: a truncated proof. */
    CU_ASSERT_FATAL(wt_tree_proof(tree, 100, 120, proof, &len) == TL_OK);
    wt_request(&b, 100, proof, len - 1, note);
    CU_ASSERT_EQUAL(submit(&f, &b, &out), 422);
    free(note);
    CU_ASSERT_EQUAL(stored_size(&f), 100);
    /* The correct proof still works. */
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 100, 120, &out), 200);
    CU_ASSERT_EQUAL(stored_size(&f), 120);
    tl_buf_release(&b);
    tl_buf_release(&out);
    fx_close(&f);
}

static void test_empty_and_zero(void)
{
    struct fx f;
    tl_buf out = TL_BUF_INIT, b = TL_BUF_INIT;
    fx_mem(&f);
    /* old 0 needs an empty proof. */
    tl_hash proof[TL_MAX_PROOF], root;
    size_t len;
    CU_ASSERT_FATAL(wt_tree_proof(tree, 5, 9, proof, &len) == TL_OK);
    wt_tree_root(tree, 9, &root);
    char *note = wt_checkpoint(log_key, ORIGIN, 9, &root);
    wt_request(&b, 0, proof, len, note);
    CU_ASSERT_EQUAL(submit(&f, &b, &out), 422);
    CU_ASSERT_EQUAL(tl_witness_evidence_count(f.w, ORIGIN), 0);
    free(note);
    /* The empty tree can be cosigned. */
    tl_hash_empty(&root);
    note = wt_checkpoint(log_key, ORIGIN, 0, &root);
    wt_request(&b, 0, NULL, 0, note);
    CU_ASSERT_EQUAL(submit(&f, &b, &out), 200);
    free(note);
    /* old == size == stored with a non-empty proof: 422. */
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 0, 9, &out), 200);
    wt_tree_root(tree, 9, &root);
    note = wt_checkpoint(log_key, ORIGIN, 9, &root);
    wt_request(&b, 9, proof, 1, note);
    CU_ASSERT_EQUAL(submit(&f, &b, &out), 422);
    free(note);
    tl_buf_release(&b);
    tl_buf_release(&out);
    fx_close(&f);
}

static void test_malformed(void)
{
    struct fx f;
    tl_buf out = TL_BUF_INIT, good = TL_BUF_INIT;
    fx_mem(&f);
    CU_ASSERT_FATAL(wt_tree_request(tree, log_key, ORIGIN, 0, 5, &good) == TL_OK);
    const char *note = strstr((const char *)good.data, "\n\n") + 2;
    static const char *bad_heads[] = {
        "",                             /* nothing */
        "old 0",                        /* no newline */
        "old 00\n\n",                   /* leading zero */
        "old 01\n\n",                   /* leading zero */
        "old -1\n\n",                   /* sign */
        "old  1\n\n",                   /* two spaces */
        "Old 0\n\n",                    /* case */
        "old 0 \n\n",                   /* trailing space */
        "old 18446744073709551616\n\n", /* overflow */
        "old 0\r\n\n",                  /* CR */
        "old 0\nnot-base64!\n\n",       /* bad proof line */
        "old 0\nAAAA\n\n",              /* short hash */
        "old 0\n",                      /* no blank line and no note */
    };
    tl_buf b = TL_BUF_INIT;
    for (size_t i = 0; i < sizeof(bad_heads) / sizeof(bad_heads[0]); i++) {
        tl_buf_reset(&b);
        tl_buf_adds(&b, bad_heads[i]);
        if (i + 1 < sizeof(bad_heads) / sizeof(bad_heads[0]) && strchr(bad_heads[i], '\n'))
            tl_buf_adds(&b, note);
        int st = submit(&f, &b, &out);
        if (st != 400)
            fprintf(stderr, "case %zu: got %d\n", i, st);
        CU_ASSERT_EQUAL(st, 400);
        CU_ASSERT(out.len > 0 && out.data[out.len - 1] == '\n');
    }
    /* 64 proof lines: over the spec's limit of 63. */
    tl_buf_reset(&b);
    tl_buf_adds(&b, "old 1\n");
    for (int i = 0; i < 64; i++)
        tl_buf_adds(&b, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
    tl_buf_adds(&b, "\n");
    tl_buf_adds(&b, note);
    CU_ASSERT_EQUAL(submit(&f, &b, &out), 400);
    /* 63 lines parse (then fail the proof: 422, or 409 since old 1 != 0). */
    tl_buf_reset(&b);
    tl_buf_adds(&b, "old 0\n");
    for (int i = 0; i < 63; i++)
        tl_buf_adds(&b, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
    tl_buf_adds(&b, "\n");
    tl_buf_adds(&b, note);
    CU_ASSERT_EQUAL(submit(&f, &b, &out), 422);
    /* Malformed notes and checkpoints. */
    CU_ASSERT_EQUAL(submit_text(&f, "old 0\n\nnot a note\n", &out), 400);
    CU_ASSERT_EQUAL(submit_text(&f, "old 0\n\n", &out), 400);
    tl_buf_reset(&b);
    tl_buf_adds(&b, "old 0\n\n");
    tl_buf_adds(&b, note);
    tl_buf_adds(&b, "trailing garbage");
    CU_ASSERT_EQUAL(submit(&f, &b, &out), 400);
    /* Nothing was cosigned by any of these. */
    CU_ASSERT_EQUAL(stored_size(&f), 0);
    CU_ASSERT_EQUAL(submit(&f, &good, &out), 200);
    tl_buf_release(&b);
    tl_buf_release(&good);
    tl_buf_release(&out);
    fx_close(&f);
}

static void test_fork_evidence(void)
{
    struct fx f;
    tl_buf out = TL_BUF_INIT, ev = TL_BUF_INIT;
    fx_mem(&f);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 0, 300, &out), 200);
    tl_hash real_root;
    wt_tree_root(tree, 300, &real_root);
    /* Same size, another root, valid log signature: split view. */
    CU_ASSERT_EQUAL(submit_tree(&f, fork_tree, log_key, 300, 300, &out), 409);
    CU_ASSERT(out.len == 4 && memcmp(out.data, "300\n", 4) == 0);
    CU_ASSERT_EQUAL(tl_witness_evidence_count(f.w, ORIGIN), 1);
    /* The same fork again is not stored twice. */
    CU_ASSERT_EQUAL(submit_tree(&f, fork_tree, log_key, 300, 300, &out), 409);
    CU_ASSERT_EQUAL(submit_tree(&f, fork_tree, log_key, 0, 300, &out), 409);
    CU_ASSERT_EQUAL(tl_witness_evidence_count(f.w, ORIGIN), 1);
    /* A larger forked tree with a proof that cannot verify: evidence too. */
    CU_ASSERT_EQUAL(submit_tree(&f, fork_tree, log_key, 300, 400, &out), 422);
    CU_ASSERT_EQUAL(tl_witness_evidence_count(f.w, ORIGIN), 2);
    /* A fork with an untrusted signature is not evidence. */
    CU_ASSERT_EQUAL(submit_tree(&f, fork_tree, other_key, 300, 300, &out), 403);
    CU_ASSERT_EQUAL(tl_witness_evidence_count(f.w, ORIGIN), 2);
    /* State unchanged: still the real root at 300. */
    uint64_t size;
    tl_hash root;
    CU_ASSERT(tl_witness_state(f.w, ORIGIN, &size, &root, NULL) == TL_OK);
    CU_ASSERT_EQUAL(size, 300);
    CU_ASSERT(memcmp(root.b, real_root.b, 32) == 0);
    /* Evidence served as JSON holding both signed checkpoints. */
    tl_hasher *h = tl_hasher_new();
    tl_hash oh;
    tl_sha256(h, ORIGIN, strlen(ORIGIN), &oh);
    tl_hasher_free(h);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", oh.b[i]);
    CU_ASSERT(tl_witness_evidence_by_hash(f.w, hex, &ev) == TL_OK);
    CU_ASSERT(strstr((char *)ev.data, "same-size-different-root") != NULL);
    CU_ASSERT(strstr((char *)ev.data, "inconsistent-proof") != NULL);
    CU_ASSERT(strstr((char *)ev.data, "\"submitted\"") != NULL);
    CU_ASSERT(strstr((char *)ev.data, "\"cosigned\"") != NULL);
    tl_buf cp = TL_BUF_INIT;
    CU_ASSERT(tl_witness_checkpoint_by_hash(f.w, hex, &cp) == TL_OK);
    CU_ASSERT(tl_witness_checkpoint_by_hash(f.w, "00", &cp) == TL_ERR_NOTFOUND);
    tl_buf_release(&cp);
    /* The real log still advances. */
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 300, 301, &out), 200);
    tl_buf_release(&ev);
    tl_buf_release(&out);
    fx_close(&f);
}

static void test_rollback(void)
{
    struct fx f;
    tl_buf out = TL_BUF_INIT;
    fx_mem(&f);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 0, 500, &out), 200);
    /* A smaller tree, with every old size a client could claim. */
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 0, 400, &out), 409);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 200, 400, &out), 409);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 400, 400, &out), 409);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 500, 400, &out), 400);
    CU_ASSERT_EQUAL(stored_size(&f), 500);
    CU_ASSERT_EQUAL(tl_witness_evidence_count(f.w, ORIGIN), 0);
    tl_buf_release(&out);
    fx_close(&f);
}

/* ---- the N / N+K race ---- */

struct racer {
    struct fx *f;
    tl_buf body;
    int status;
    pthread_barrier_t *bar;
};

static void *race_main(void *arg)
{
    struct racer *r = arg;
    tl_witness_resp resp = {0, NULL, TL_BUF_INIT};
    pthread_barrier_wait(r->bar);
    tl_witness_add_checkpoint(r->f->w, r->body.data, r->body.len, 0, &resp);
    r->status = resp.status;
    tl_buf_release(&resp.body);
    return NULL;
}

static void test_race(void)
{
    struct fx f;
    fx_mem(&f);
    int rounds = getenv("TL_SANITIZED") ? 100 : 300;
    uint64_t base = 0;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    for (int i = 0; i < rounds && base + 10 < TREE_MAX; i++) {
        struct racer a = {&f, TL_BUF_INIT, 0, &bar}, b = {&f, TL_BUF_INIT, 0, &bar};
        uint64_t n = base + 1 + (uint64_t)(i % 3), k = 1 + (uint64_t)(i % 5);
        CU_ASSERT_FATAL(wt_tree_request(tree, log_key, ORIGIN, base, n, &a.body) == TL_OK);
        CU_ASSERT_FATAL(wt_tree_request(tree, log_key, ORIGIN, base, n + k, &b.body) == TL_OK);
        pthread_t ta, tb;
        pthread_create(&ta, NULL, race_main, &a);
        pthread_create(&tb, NULL, race_main, &b);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        int ok = (a.status == 200) + (b.status == 200);
        int conflict = (a.status == 409) + (b.status == 409);
        CU_ASSERT_EQUAL(ok, 1);
        CU_ASSERT_EQUAL(conflict, 1);
        uint64_t s = stored_size(&f);
        CU_ASSERT(s == (a.status == 200 ? n : n + k));
        CU_ASSERT(s > base);
        base = s;
        tl_buf_release(&a.body);
        tl_buf_release(&b.body);
    }
    pthread_barrier_destroy(&bar);
    fx_close(&f);
}

/* Many threads, one log, each pushing its own chain from what it learns:
 * the stored size never decreases and every 200 is consistent with it. */
struct chaser {
    struct fx *f;
    int n200, n409, violations; /* CUnit asserts are not for threads */
    unsigned seed;
};

static uint64_t size_of(struct fx *f)
{
    uint64_t size = 0;
    tl_hash root;
    tl_witness_state(f->w, ORIGIN, &size, &root, NULL);
    return size;
}

static void *chase_main(void *arg)
{
    struct chaser *c = arg;
    tl_buf body = TL_BUF_INIT;
    tl_hasher *h = tl_hasher_new(); /* the tree's own hasher is not for threads */
    for (int i = 0; i < 40; i++) {
        uint64_t s = size_of(c->f);
        uint64_t to = s + 1 + (uint64_t)(rand_r(&c->seed) % 7);
        if (to > TREE_MAX)
            break;
        wt_tree_request_h(tree, h, log_key, ORIGIN, s, to, &body);
        tl_witness_resp r = {0, NULL, TL_BUF_INIT};
        tl_witness_add_checkpoint(c->f->w, body.data, body.len, 0, &r);
        c->n200 += r.status == 200;
        c->n409 += r.status == 409;
        uint64_t after = size_of(c->f);
        c->violations += !(r.status == 200 || r.status == 409);
        c->violations += after < s;
        c->violations += r.status == 200 && after < to;
        tl_buf_release(&r.body);
    }
    tl_hasher_free(h);
    tl_buf_release(&body);
    return NULL;
}

static void test_chase(void)
{
    struct fx f;
    fx_mem(&f);
    struct chaser c[6];
    pthread_t t[6];
    for (int i = 0; i < 6; i++) {
        c[i] = (struct chaser){&f, 0, 0, 0, (unsigned)i * 7919u + 1};
        pthread_create(&t[i], NULL, chase_main, &c[i]);
    }
    int total = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        total += c[i].n200;
        CU_ASSERT_EQUAL(c[i].violations, 0);
    }
    CU_ASSERT(total > 0);
    fx_close(&f);
}

/* ---- durability ---- */

static void test_restart_leveldb(void)
{
    char dir[] = "/tmp/tlw-test-XXXXXX", path[256], err[200];
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/db", dir);
    tl_store *s = NULL;
    CU_ASSERT_FATAL(tl_store_open_leveldb(path, 1, &s, err, sizeof(err)) == TL_OK);
    struct fx f;
    tl_buf out = TL_BUF_INIT;
    fx_open(&f, s);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 0, 77, &out), 200);
    CU_ASSERT_EQUAL(submit_tree(&f, fork_tree, log_key, 77, 77, &out), 409);
    tl_buf note1 = TL_BUF_INIT;
    uint64_t size;
    tl_hash root;
    tl_witness_state(f.w, ORIGIN, &size, &root, &note1);
    fx_close(&f);

    CU_ASSERT_FATAL(tl_store_open_leveldb(path, 0, &s, err, sizeof(err)) == TL_OK);
    fx_open(&f, s);
    tl_buf note2 = TL_BUF_INIT;
    CU_ASSERT(tl_witness_state(f.w, ORIGIN, &size, &root, &note2) == TL_OK);
    CU_ASSERT_EQUAL(size, 77);
    CU_ASSERT(note1.len == note2.len && memcmp(note1.data, note2.data, note1.len) == 0);
    CU_ASSERT_EQUAL(tl_witness_evidence_count(f.w, ORIGIN), 1);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 0, 80, &out), 409);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 77, 80, &out), 200);
    fx_close(&f);
    tl_buf_release(&note1);
    tl_buf_release(&note2);
    tl_buf_release(&out);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CU_ASSERT(system(cmd) == 0);
}

static void test_failed_sync(void)
{
    tl_store *mem = NULL, *fault = NULL;
    CU_ASSERT_FATAL(tl_store_open_mem(&mem) == TL_OK);
    CU_ASSERT_FATAL(tl_store_fault_wrap(mem, &fault) == TL_OK);
    struct fx f;
    tl_buf out = TL_BUF_INIT;
    fx_open(&f, fault);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 0, 10, &out), 200);
    /* Write fails, not applied: no cosignature, state unchanged. */
    tl_store_fault_arm(fault, 1, 0);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 10, 20, &out), 500);
    CU_ASSERT(strstr((char *)out.data, "\xe2\x80\x94") == NULL);
    CU_ASSERT_EQUAL(stored_size(&f), 10);
    /* Applied but reported failed: still no cosignature leaves. */
    tl_store_fault_arm(fault, 1, 1);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 10, 20, &out), 500);
    CU_ASSERT(strstr((char *)out.data, "\xe2\x80\x94") == NULL);
    tl_store_fault_arm(fault, 0, 0);
    CU_ASSERT_EQUAL(submit_tree(&f, tree, log_key, 10, 20, &out), 200);
    CU_ASSERT_EQUAL(stored_size(&f), 20);
    tl_buf_release(&out);
    fx_close(&f);
}

static void test_logs_file(void)
{
    tl_store *s = NULL;
    tl_witness *w = NULL;
    char path[] = "/tmp/tlw-logs-XXXXXX", err[300];
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    CU_ASSERT_FATAL(tl_store_open_mem(&s) == TL_OK);
    CU_ASSERT_FATAL(tl_witness_new(s, wit_key, &w) == TL_OK);
    FILE *fp = fopen(path, "w");
    fprintf(fp, "# logs\n\n%s %s http://127.0.0.1:1/\n", ORIGIN, log_vkey);
    fclose(fp);
    CU_ASSERT(tl_witness_load_logs(w, path, err, sizeof(err)) == TL_OK);
    CU_ASSERT_EQUAL(tl_witness_nlogs(w), 1);
    const char *o, *u;
    CU_ASSERT(tl_witness_log_at(w, 0, &o, &u) == TL_OK);
    CU_ASSERT_STRING_EQUAL(u, "http://127.0.0.1:1");
    tl_witness_free(w);
    static const char *bad[] = {
        "onlyorigin\n", "a b c d\n", "%s notakey\n", "%s %s ftp://x\n", "\n# nothing\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_FATAL(tl_witness_new(s, wit_key, &w) == TL_OK);
        fp = fopen(path, "w");
        fprintf(fp, bad[i], ORIGIN, log_vkey);
        fclose(fp);
        err[0] = 0;
        CU_ASSERT(tl_witness_load_logs(w, path, err, sizeof(err)) != TL_OK);
        CU_ASSERT(err[0] != 0);
        tl_witness_free(w);
    }
    /* A cosignature key is refused as a log key. */
    CU_ASSERT_FATAL(tl_witness_new(s, wit_key, &w) == TL_OK);
    char *wv = NULL;
    tl_signer_vkey(wit_key, &wv);
    CU_ASSERT(tl_witness_add_log(w, ORIGIN, wv, NULL, err, sizeof(err)) != TL_OK);
    free(wv);
    tl_witness_free(w);
    tl_store_close(s);
    unlink(path);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("witness", suite_init, suite_clean);
    CU_add_test(s, "accept and extend", test_accept_and_extend);
    CU_add_test(s, "status codes", test_status_codes);
    CU_add_test(s, "empty tree and old 0", test_empty_and_zero);
    CU_add_test(s, "malformed bodies", test_malformed);
    CU_add_test(s, "fork evidence", test_fork_evidence);
    CU_add_test(s, "rollback", test_rollback);
    CU_add_test(s, "N / N+K race", test_race);
    CU_add_test(s, "concurrent chasers", test_chase);
    CU_add_test(s, "restart (LevelDB)", test_restart_leveldb);
    CU_add_test(s, "failed sync", test_failed_sync);
    CU_add_test(s, "logs file", test_logs_file);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    unsigned suite_fail = CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return fails || suite_fail ? 1 : 0;
}
