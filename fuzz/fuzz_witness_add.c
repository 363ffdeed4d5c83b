/*
 * fuzz_witness_add.c - libFuzzer target for the witness's add-checkpoint
 * body (C2SP tlog-witness), through tl_witness_add_checkpoint on a memory
 * store. The input is one to four request bodies separated by "\n===\n";
 * they run in order against one fresh witness that trusts Tessera's test
 * log key (the seeds carry its real signed checkpoints and proofs).
 *
 * Checked after every request: no crash, leak or over-read; the status is
 * one the spec allows; the stored size never decreases and one size never
 * gets two roots; a 200 carries a cosignature/v1 line that verifies with the
 * witness key over the checkpoint now stored.
 */
#include "fuzz/fuzz.h"
#include "store/store.h"
#include "signer/checkpoint.h"
#include "signer/note.h"
#include "witness/witness.h"

#define ORIGIN "example.com/log/testdata"
static const char *const k_vkey =
    "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "fuzz_witness_add: " __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

static tl_signer *g_key;
static tl_verifier *g_wv;

static void setup(void)
{
    char *vk = NULL;
    if (tl_signer_generate("fuzz.witness.example", TL_KEY_COSIG_V1, &g_key) != TL_OK ||
        tl_signer_vkey(g_key, &vk) != TL_OK || tl_verifier_parse(vk, &g_wv) != TL_OK)
        FAIL("setup");
    free(vk);
}

/* The 200 body is the cosignature line(s); check ours over the note stored. */
static void check_cosig(const tl_buf *body, const tl_buf *stored)
{
    tl_note n;
    if (tl_note_parse((const char *)stored->data, stored->len, &n) != TL_OK)
        FAIL("stored checkpoint is not a signed note");
    tl_buf all = TL_BUF_INIT;
    /* text + blank line + the response's signature lines */
    if (tl_buf_add(&all, n.text, n.text_len) || tl_buf_adds(&all, "\n") ||
        tl_buf_add(&all, body->data, body->len))
        FAIL("nomem");
    tl_note c;
    if (tl_note_parse((const char *)all.data, all.len, &c) != TL_OK)
        FAIL("200 body is not signature lines: %.*s", (int)body->len, (const char *)body->data);
    uint64_t ts = 0;
    if (tl_cosig_verify(&c, g_wv, &ts) != TL_OK)
        FAIL("200 without a valid cosignature");
    tl_note_release(&c);
    tl_note_release(&n);
    tl_buf_release(&all);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_key)
        setup();
    tl_store *st = NULL;
    tl_witness *w = NULL;
    char err[256];
    if (tl_store_open_mem(&st) != TL_OK || tl_witness_new(st, g_key, &w) != TL_OK ||
        tl_witness_add_log(w, ORIGIN, k_vkey, NULL, err, sizeof(err)) != TL_OK)
        FAIL("witness setup: %s", err);

    uint64_t seen_size[4] = {0};
    tl_hash seen_root[4];
    int nseen = 0;
    uint64_t last_size = 0;
    const uint8_t *p = data, *end = data + size;
    for (int req = 0; req < 4 && p <= end; req++) {
        const uint8_t *sep = NULL;
        for (const uint8_t *q = p; q + 5 <= end; q++)
            if (memcmp(q, "\n===\n", 5) == 0) {
                sep = q;
                break;
            }
        size_t blen = (size_t)((sep ? sep : end) - p);
        uint8_t *body = malloc(blen ? blen : 1); /* exact size: ASan sees over-reads */
        if (!body)
            break;
        memcpy(body, p, blen);
        tl_witness_resp r = {0, NULL, TL_BUF_INIT};
        if (tl_witness_add_checkpoint(w, body, blen, 1700000000, &r) != TL_OK)
            FAIL("add_checkpoint failed without a response");
        int s = r.status;
        if (getenv("TL_FUZZ_DEBUG"))
            fprintf(stderr, "request %d: %d %.*s\n", req, s, (int)r.body.len,
                    (const char *)r.body.data);
        if (s != 200 && s != 400 && s != 403 && s != 404 && s != 409 && s != 422)
            FAIL("status %d for request %d", s, req);
        if (s != 200 && r.body.len == 0)
            FAIL("status %d without a reason", s);
        uint64_t sz = 0;
        tl_hash root;
        tl_buf note = TL_BUF_INIT;
        int rc = tl_witness_state(w, ORIGIN, &sz, &root, &note);
        if (rc != TL_OK)
            FAIL("state: %d", rc);
        if (sz < last_size)
            FAIL("stored size went down: %llu -> %llu", (unsigned long long)last_size,
                 (unsigned long long)sz);
        for (int i = 0; i < nseen; i++)
            if (seen_size[i] == sz && memcmp(&seen_root[i], &root, sizeof(root)) != 0)
                FAIL("two roots cosigned for size %llu", (unsigned long long)sz);
        if (s == 200) {
            if (note.len == 0)
                FAIL("200 but nothing stored");
            check_cosig(&r.body, &note);
            if (nseen < 4) {
                seen_size[nseen] = sz;
                seen_root[nseen++] = root;
            }
        }
        last_size = sz;
        tl_buf_release(&note);
        tl_buf_release(&r.body);
        free(body);
        if (!sep)
            break;
        p = sep + 5;
    }
    tl_witness_free(w);
    tl_store_close(st);
    return 0;
}
