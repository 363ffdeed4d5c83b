/*
 * witness.c - tlog-witness's add-checkpoint state machine (C2SP
 * tlog-witness, "add-checkpoint"), its durable per-log state and the
 * split-view evidence it keeps.
 *
 * Guarantees (see witness.h): requests are checked in the spec's order
 * (404 unknown origin, 403 no trusted signature, 400 old > size, 409 old !=
 * latest cosigned size, 422 bad consistency proof, 409 same size with
 * another root); the compare and the synced write are one atomic step (one
 * leader at a time runs a group of queued requests against the state and
 * syncs once); a cosignature leaves only after the sync that recorded it.
 */
#include "witness/witness.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/b64.h"
#include "common/clock.h"
#include "common/dec.h"
#include "common/err.h"
#include "common/hex.h"
#include "signer/checkpoint.h"

#define GROUP_MAX 256
#define LOGS_FILE_MAX (4 * 1024 * 1024)

struct wlog {
    char *origin;
    uint8_t ohash[32];
    char ohex[65];
    tl_verifier *keys[TL_WITNESS_MAX_KEYS];
    size_t nkeys;
    char *url;
    /* Committed state: written by the leader under w->mu, read under w->mu
     * (the leader may read it without the lock: it is the only writer). */
    uint64_t size;
    tl_hash root;
    char *note; /* served checkpoint; NULL when never cosigned */
    size_t note_len;
    uint64_t evidence;
    uint64_t cosigned; /* cosignatures given since start */
    /* Tentative state of the running group (leader only). */
    int p_touched;
    uint64_t p_size;
    tl_hash p_root;
    char *p_note;
    size_t p_note_len;
    uint64_t p_evidence;
    uint64_t p_cosigned;
};

/* One queued request, owned by the calling thread's stack. */
struct job {
    struct wlog *log;
    uint64_t old;
    tl_hash proof[TL_WITNESS_MAX_PROOF];
    size_t nproof;
    tl_checkpoint cp;
    tl_note note;    /* parsed submitted note */
    const char *raw; /* submitted note bytes (borrowed from the body) */
    size_t raw_len;
    size_t sig_index; /* index in note.sigs of a verified log signature */
    uint64_t now;
    tl_witness_resp *resp;
    int accepted; /* 200 pending the sync */
    int done;
    struct job *next;
};

enum { ST_200, ST_400, ST_403, ST_404, ST_409, ST_422, ST_500, ST_N };
static const int st_codes[ST_N] = {200, 400, 403, 404, 409, 422, 500};

struct tl_witness {
    tl_store *store;
    const tl_signer *key;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *qhead, *qtail;
    struct wlog **logs;
    size_t nlogs, caplogs;
    tl_hasher *leader_hasher; /* used by the current leader only */
    /* metrics (under mu) */
    uint64_t by_status[ST_N];
    uint64_t groups, group_requests, syncs;
    double sync_seconds;
    uint64_t evidence_total;
};

/* ---- small helpers ------------------------------------------------------ */

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void state_key(uint8_t key[34], const char *tag, const struct wlog *l)
{
    key[0] = (uint8_t)tag[0];
    key[1] = (uint8_t)tag[1];
    memcpy(key + 2, l->ohash, 32);
}

static int st_index(int status)
{
    for (int i = 0; i < ST_N; i++)
        if (st_codes[i] == status)
            return i;
    return ST_500;
}

static void resp_set(tl_witness_resp *r, int status, const char *fmt, const char *detail)
{
    r->status = status;
    r->ctype = "text/plain; charset=utf-8";
    tl_buf_reset(&r->body);
    if (detail)
        tl_buf_addf(&r->body, fmt, detail);
    else
        tl_buf_adds(&r->body, fmt);
    tl_buf_adds(&r->body, "\n");
}

static void resp_size(tl_witness_resp *r, uint64_t size)
{
    /* C2SP tlog-witness: 409 body = latest cosigned size in decimal + LF,
     * Content-Type text/x.tlog.size. */
    r->status = 409;
    r->ctype = "text/x.tlog.size";
    tl_buf_reset(&r->body);
    tl_buf_addf(&r->body, "%" PRIu64 "\n", size);
}

/* ---- logs ---------------------------------------------------------------- */

int tl_witness_new(tl_store *store, const tl_signer *key, tl_witness **out)
{
    if (!store || !key || tl_signer_type(key) != TL_KEY_COSIG_V1)
        return TL_ERR_INVALID;
    tl_witness *w = calloc(1, sizeof(*w));
    if (!w)
        return TL_ERR_NOMEM;
    w->store = store;
    w->key = key;
    w->leader_hasher = tl_hasher_new();
    if (!w->leader_hasher) {
        free(w);
        return TL_ERR_NOMEM;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    *out = w;
    return TL_OK;
}

static void wlog_free(struct wlog *l)
{
    if (!l)
        return;
    free(l->origin);
    free(l->url);
    for (size_t i = 0; i < l->nkeys; i++)
        tl_verifier_free(l->keys[i]);
    free(l->note);
    free(l->p_note);
    free(l);
}

void tl_witness_free(tl_witness *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nlogs; i++)
        wlog_free(w->logs[i]);
    free(w->logs);
    tl_hasher_free(w->leader_hasher);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

static struct wlog *find_log(const tl_witness *w, const char *origin)
{
    for (size_t i = 0; i < w->nlogs; i++)
        if (strcmp(w->logs[i]->origin, origin) == 0)
            return w->logs[i];
    return NULL;
}

static struct wlog *find_log_hex(const tl_witness *w, const char *hex)
{
    if (strlen(hex) != 64)
        return NULL;
    for (size_t i = 0; i < w->nlogs; i++)
        if (memcmp(w->logs[i]->ohex, hex, 64) == 0)
            return w->logs[i];
    return NULL;
}

/* Loads the stored state of l ("ws" O and "wc" O). */
static int wlog_load(tl_witness *w, struct wlog *l, char *err, size_t cap)
{
    uint8_t key[34];
    tl_buf v = TL_BUF_INIT;
    state_key(key, "ws", l);
    int rc = tl_store_get(w->store, key, sizeof(key), &v);
    if (rc == TL_OK) {
        if (v.len < 40) {
            snprintf(err, cap, "stored state of %s is corrupt", l->origin);
            tl_buf_release(&v);
            return TL_ERR_CORRUPT;
        }
        l->size = get_u64(v.data);
        memcpy(l->root.b, v.data + 8, 32);
        l->note_len = v.len - 40;
        l->note = malloc(l->note_len + 1);
        if (!l->note) {
            tl_buf_release(&v);
            return TL_ERR_NOMEM;
        }
        memcpy(l->note, v.data + 40, l->note_len);
        l->note[l->note_len] = 0;
    } else if (rc == TL_ERR_NOTFOUND) {
        l->size = 0;
        tl_hash_empty(&l->root);
    } else {
        snprintf(err, cap, "reading state of %s: %s", l->origin, tl_strerror(rc));
        tl_buf_release(&v);
        return rc;
    }
    state_key(key, "wc", l);
    rc = tl_store_get(w->store, key, sizeof(key), &v);
    if (rc == TL_OK && v.len == 8)
        l->evidence = get_u64(v.data);
    else if (rc != TL_ERR_NOTFOUND && rc != TL_OK) {
        snprintf(err, cap, "reading evidence count of %s: %s", l->origin, tl_strerror(rc));
        tl_buf_release(&v);
        return rc;
    }
    tl_buf_release(&v);
    return TL_OK;
}

int tl_witness_add_log(tl_witness *w, const char *origin, const char *vkey, const char *url,
                       char *err, size_t cap)
{
    tl_verifier *v = NULL;
    size_t olen = strlen(origin);
    if (olen == 0 || olen > TL_ORIGIN_MAX) {
        snprintf(err, cap, "bad origin length");
        return TL_ERR_INVALID;
    }
    if (tl_verifier_parse(vkey, &v) != TL_OK) {
        snprintf(err, cap, "bad verifier key for %s", origin);
        return TL_ERR_INVALID;
    }
    if (tl_verifier_type(v) != TL_KEY_ED25519) {
        snprintf(err, cap, "key for %s is not an Ed25519 (type 0x01) note key", origin);
        tl_verifier_free(v);
        return TL_ERR_INVALID;
    }
    pthread_mutex_lock(&w->mu);
    struct wlog *l = find_log(w, origin);
    int rc = TL_OK;
    if (l) {
        if (l->nkeys == TL_WITNESS_MAX_KEYS) {
            snprintf(err, cap, "too many keys for %s", origin);
            rc = TL_ERR_TOOBIG;
        } else if (url && l->url && strcmp(url, l->url) != 0) {
            snprintf(err, cap, "two different URLs for %s", origin);
            rc = TL_ERR_INVALID;
        } else {
            l->keys[l->nkeys++] = v;
            v = NULL;
            if (url && !l->url && !(l->url = strdup(url)))
                rc = TL_ERR_NOMEM;
        }
        goto out;
    }
    if (w->nlogs == w->caplogs) {
        size_t nc = w->caplogs ? w->caplogs * 2 : 8;
        struct wlog **nl = realloc(w->logs, nc * sizeof(*nl));
        if (!nl) {
            rc = TL_ERR_NOMEM;
            goto out;
        }
        w->logs = nl;
        w->caplogs = nc;
    }
    l = calloc(1, sizeof(*l));
    if (!l || !(l->origin = strdup(origin)) || (url && !(l->url = strdup(url)))) {
        wlog_free(l);
        rc = TL_ERR_NOMEM;
        goto out;
    }
    tl_hash oh;
    tl_sha256(w->leader_hasher, origin, olen, &oh);
    memcpy(l->ohash, oh.b, 32);
    tl_hex_encode(l->ohash, 32, l->ohex);
    l->keys[l->nkeys++] = v;
    v = NULL;
    rc = wlog_load(w, l, err, cap);
    if (rc != TL_OK) {
        wlog_free(l);
        goto out;
    }
    w->logs[w->nlogs++] = l;
out:
    pthread_mutex_unlock(&w->mu);
    tl_verifier_free(v);
    if (rc == TL_ERR_NOMEM)
        snprintf(err, cap, "out of memory");
    return rc;
}

int tl_witness_load_logs(tl_witness *w, const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        return TL_ERR_IO;
    }
    char *line = NULL;
    size_t lcap = 0, total = 0;
    ssize_t n;
    unsigned lineno = 0;
    int rc = TL_OK, count = 0;
    while ((n = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        total += (size_t)n;
        if (total > LOGS_FILE_MAX) {
            snprintf(err, cap, "%s: file too large", path);
            rc = TL_ERR_TOOBIG;
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        char *fields[4];
        int nf = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
            if (nf == 0 && t[0] == '#')
                break;
            if (nf == 4) {
                nf = 5;
                break;
            }
            fields[nf++] = t;
        }
        if (nf == 0)
            continue;
        if (nf < 2 || nf > 3) {
            snprintf(err, cap, "%s: line %u: expected \"<origin> <vkey> [<url>]\"", path, lineno);
            rc = TL_ERR_INVALID;
            break;
        }
        char *url = nf == 3 ? fields[2] : NULL;
        if (url) {
            if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
                snprintf(err, cap, "%s: line %u: URL must start with http:// or https://", path,
                         lineno);
                rc = TL_ERR_INVALID;
                break;
            }
            size_t ul = strlen(url);
            while (ul > 0 && url[ul - 1] == '/')
                url[--ul] = 0;
        }
        char e2[200];
        rc = tl_witness_add_log(w, fields[0], fields[1], url, e2, sizeof(e2));
        if (rc != TL_OK) {
            snprintf(err, cap, "%s: line %u: %s", path, lineno, e2);
            break;
        }
        count++;
    }
    if (rc == TL_OK && ferror(f)) {
        snprintf(err, cap, "%s: read error", path);
        rc = TL_ERR_IO;
    }
    if (rc == TL_OK && count == 0) {
        snprintf(err, cap, "%s: no logs", path);
        rc = TL_ERR_INVALID;
    }
    free(line);
    fclose(f);
    return rc;
}

size_t tl_witness_nlogs(const tl_witness *w)
{
    return w->nlogs;
}

int tl_witness_log_at(const tl_witness *w, size_t i, const char **origin, const char **url)
{
    if (i >= w->nlogs)
        return TL_ERR_RANGE;
    *origin = w->logs[i]->origin;
    *url = w->logs[i]->url;
    return TL_OK;
}

/* ---- request parsing (C2SP tlog-witness, add-checkpoint) ---------------- */

/* Parses "old N\n", up to 63 base64 hash lines, an empty line, then the
 * signed note. On failure fills resp with a 400. */
static int parse_request(const uint8_t *body, size_t len, struct job *j, tl_witness_resp *resp)
{
    const char *p = (const char *)body, *end = p + len;
    const char *nl = memchr(p, '\n', len < 32 ? len : 32);
    if (!nl || nl - p < 5 || memcmp(p, "old ", 4) != 0 ||
        tl_dec_parse_u64(p + 4, (size_t)(nl - p - 4), UINT64_MAX, &j->old) != TL_OK) {
        resp_set(resp, 400, "malformed old size line (want \"old <decimal>\")", NULL);
        return TL_ERR_INVALID;
    }
    p = nl + 1;
    for (;;) {
        size_t left = (size_t)(end - p);
        nl = memchr(p, '\n', left < 64 ? left : 64);
        if (!nl) {
            resp_set(resp, 400, "malformed consistency proof line or missing empty line", NULL);
            return TL_ERR_INVALID;
        }
        if (nl == p)
            break;
        if (j->nproof == TL_WITNESS_MAX_PROOF) {
            resp_set(resp, 400, "more than 63 consistency proof lines", NULL);
            return TL_ERR_INVALID;
        }
        size_t outlen = 0;
        if (tl_b64_decode(p, (size_t)(nl - p), j->proof[j->nproof].b, TL_HASH_SIZE, &outlen) !=
                TL_OK ||
            outlen != TL_HASH_SIZE) {
            resp->status = 400;
            resp->ctype = "text/plain; charset=utf-8";
            tl_buf_reset(&resp->body);
            tl_buf_addf(&resp->body, "consistency proof line %zu is not a base64 SHA-256 hash\n",
                        j->nproof + 1);
            return TL_ERR_INVALID;
        }
        j->nproof++;
        p = nl + 1;
    }
    p = nl + 1;
    j->raw = p;
    j->raw_len = (size_t)(end - p);
    if (j->raw_len == 0 || j->raw_len > TL_NOTE_MAX_SIZE ||
        tl_note_parse(j->raw, j->raw_len, &j->note) != TL_OK) {
        memset(&j->note, 0, sizeof(j->note));
        resp_set(resp, 400, "malformed signed note", NULL);
        return TL_ERR_INVALID;
    }
    if (tl_checkpoint_parse(j->note.text, j->note.text_len, &j->cp) != TL_OK) {
        resp_set(resp, 400, "malformed checkpoint", NULL);
        return TL_ERR_INVALID;
    }
    return TL_OK;
}

/* Checks the log signature with every trusted key; remembers which line. */
static int verify_log_sig(struct job *j)
{
    for (size_t k = 0; k < j->log->nkeys; k++) {
        const tl_verifier *v = j->log->keys[k];
        if (tl_note_verify(&j->note, v) != TL_OK)
            continue;
        for (size_t i = 0; i < j->note.nsigs; i++) {
            if (j->note.sigs[i].keyid == tl_verifier_keyid(v) &&
                strcmp(j->note.sigs[i].name, tl_verifier_name(v)) == 0) {
                j->sig_index = i;
                return TL_OK;
            }
        }
    }
    return TL_ERR_SIG;
}

/* ---- the leader: check a group against the state and commit it --------- */

static int add_evidence(tl_witness *w, tl_batch *b, struct job *j, const char *reason,
                        const tl_hash *dedup, const tl_hash *seen, size_t nseen)
{
    struct wlog *l = j->log;
    for (size_t i = 0; i < nseen; i++)
        if (memcmp(seen[i].b, dedup->b, 32) == 0)
            return 0;
    uint8_t dkey[66];
    state_key(dkey, "wd", l);
    memcpy(dkey + 34, dedup->b, 32);
    tl_buf tmp = TL_BUF_INIT;
    int rc = tl_store_get(w->store, dkey, sizeof(dkey), &tmp);
    tl_buf_release(&tmp);
    if (rc == TL_OK)
        return 0; /* already recorded */
    json_t *o = json_object();
    json_t *pr = json_array();
    for (size_t i = 0; i < j->nproof; i++) {
        char b64[TL_B64_LEN(32) + 1];
        tl_b64_encode(j->proof[i].b, 32, b64);
        json_array_append_new(pr, json_string(b64));
    }
    uint64_t seq = l->p_evidence;
    json_object_set_new(o, "seq", json_integer((json_int_t)seq));
    json_object_set_new(o, "time", json_integer((json_int_t)j->now));
    json_object_set_new(o, "reason", json_string(reason));
    json_object_set_new(o, "old_size", json_integer((json_int_t)j->old));
    json_object_set_new(o, "proof", pr);
    json_object_set_new(o, "submitted", json_stringn(j->raw, j->raw_len));
    json_object_set_new(o, "cosigned",
                        l->p_note ? json_stringn(l->p_note, l->p_note_len) : json_null());
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return TL_ERR_NOMEM;
    uint8_t ekey[42], cnt[8];
    state_key(ekey, "we", l);
    put_u64(ekey + 34, seq);
    put_u64(cnt, seq + 1);
    uint8_t ckey[34];
    state_key(ckey, "wc", l);
    rc = tl_batch_put(b, ekey, sizeof(ekey), text, strlen(text));
    if (rc == TL_OK)
        rc = tl_batch_put(b, ckey, sizeof(ckey), cnt, 8);
    if (rc == TL_OK)
        rc = tl_batch_put(b, dkey, sizeof(dkey), "", 0);
    free(text);
    if (rc != TL_OK)
        return rc;
    l->p_evidence = seq + 1;
    char r1[TL_B64_LEN(32) + 1], r2[TL_B64_LEN(32) + 1];
    tl_b64_encode(l->p_root.b, 32, r1);
    tl_b64_encode(j->cp.root.b, 32, r2);
    fprintf(stderr,
            "tlog-witness: SPLIT VIEW EVIDENCE for %s (%s): cosigned size %" PRIu64
            " root %s; got size %" PRIu64 " root %s with a valid log signature (old %" PRIu64
            "); stored as evidence #%" PRIu64 " (GET /%s/evidence)\n",
            l->origin, reason, l->p_size, r1, j->cp.size, r2, j->old, seq, l->ohex);
    return 1;
}

/* Builds the note the witness serves: the checkpoint text, the verified log
 * signature line and the witness's cosignature line. */
static int served_note(struct job *j, const char *cosig, char **out, size_t *outlen)
{
    tl_note n = j->note;
    n.sigs = &j->note.sigs[j->sig_index];
    n.nsigs = 1;
    char *s = NULL;
    size_t slen = 0;
    int rc = tl_note_format(&n, &s, &slen);
    if (rc != TL_OK)
        return rc;
    size_t cl = strlen(cosig);
    char *r = realloc(s, slen + cl + 1);
    if (!r) {
        free(s);
        return TL_ERR_NOMEM;
    }
    memcpy(r + slen, cosig, cl + 1);
    *out = r;
    *outlen = slen + cl;
    return TL_OK;
}

/* Checks one job against the tentative state (spec order after the
 * signature). Adds writes to b. Returns TL_OK or TL_ERR_NOMEM/IO. */
static int check_job(tl_witness *w, tl_batch *b, struct job *j, tl_hash *seen, size_t *nseen)
{
    struct wlog *l = j->log;
    if (!l->p_touched) {
        l->p_touched = 1;
        l->p_size = l->size;
        l->p_root = l->root;
        l->p_note = NULL;
        l->p_note_len = 0;
        if (l->note) {
            l->p_note = malloc(l->note_len + 1);
            if (!l->p_note)
                return TL_ERR_NOMEM;
            memcpy(l->p_note, l->note, l->note_len + 1);
            l->p_note_len = l->note_len;
        }
        l->p_evidence = l->evidence;
        l->p_cosigned = 0;
    }
    tl_hash dedup;
    int have_state = l->p_note != NULL;
    /* Same size as the cosigned checkpoint, other root: a split view. */
    if (have_state && j->cp.size == l->p_size && memcmp(j->cp.root.b, l->p_root.b, 32) != 0) {
        tl_sha256(w->leader_hasher, j->raw, j->raw_len, &dedup);
        int rc = add_evidence(w, b, j, "same-size-different-root", &dedup, seen, *nseen);
        if (rc < 0)
            return rc;
        if (rc > 0 && *nseen < GROUP_MAX)
            seen[(*nseen)++] = dedup;
        resp_size(j->resp, l->p_size);
        return TL_OK;
    }
    if (j->old != l->p_size) {
        resp_size(j->resp, l->p_size);
        return TL_OK;
    }
    if (tl_verify_consistency(w->leader_hasher, j->old, j->cp.size, j->proof, j->nproof, &l->p_root,
                              &j->cp.root) != TL_OK) {
        if (have_state && j->cp.size != l->p_size) {
            tl_sha256(w->leader_hasher, j->raw, j->raw_len, &dedup);
            int rc = add_evidence(w, b, j, "inconsistent-proof", &dedup, seen, *nseen);
            if (rc < 0)
                return rc;
            if (rc > 0 && *nseen < GROUP_MAX)
                seen[(*nseen)++] = dedup;
        }
        resp_set(j->resp, 422, "consistency proof from %s does not verify",
                 have_state ? "the cosigned checkpoint" : "size 0");
        return TL_OK;
    }
    /* Accepted: cosign now, answer after the sync. */
    char *line = NULL, *note = NULL;
    size_t note_len = 0;
    int rc = tl_cosig_sign(w->key, j->note.text, j->note.text_len, j->now, &line);
    if (rc != TL_OK)
        return rc;
    rc = served_note(j, line, &note, &note_len);
    if (rc != TL_OK) {
        free(line);
        return rc;
    }
    uint8_t key[34];
    state_key(key, "ws", l);
    size_t vlen = 40 + note_len;
    uint8_t *val = malloc(vlen);
    if (!val) {
        free(line);
        free(note);
        return TL_ERR_NOMEM;
    }
    put_u64(val, j->cp.size);
    memcpy(val + 8, j->cp.root.b, 32);
    memcpy(val + 40, note, note_len);
    rc = tl_batch_put(b, key, sizeof(key), val, vlen);
    free(val);
    if (rc != TL_OK) {
        free(line);
        free(note);
        return rc;
    }
    free(l->p_note);
    l->p_note = note;
    l->p_note_len = note_len;
    l->p_size = j->cp.size;
    l->p_root = j->cp.root;
    l->p_cosigned++;
    j->accepted = 1;
    j->resp->status = 200;
    j->resp->ctype = "text/plain; charset=utf-8";
    tl_buf_reset(&j->resp->body);
    tl_buf_adds(&j->resp->body, line);
    free(line);
    return TL_OK;
}

/* Runs a group (leader only, without w->mu). Returns the commit result. */
static int run_group(tl_witness *w, struct job *first, struct job *last, double *sync_s)
{
    tl_batch *b = tl_batch_new();
    if (!b)
        return TL_ERR_NOMEM;
    tl_hash seen[GROUP_MAX];
    size_t nseen = 0;
    int rc = TL_OK;
    for (struct job *j = first;; j = j->next) {
        rc = check_job(w, b, j, seen, &nseen);
        if (rc != TL_OK || j == last)
            break;
    }
    if (rc == TL_OK && tl_batch_count(b) > 0) {
        double t0 = tl_mono_s();
        rc = tl_store_write(w->store, b, 1);
        *sync_s = tl_mono_s() - t0;
    }
    tl_batch_free(b);
    return rc;
}

int tl_witness_add_checkpoint(tl_witness *w, const uint8_t *body, size_t len, uint64_t now,
                              tl_witness_resp *resp)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return TL_ERR_NOMEM;
    j->resp = resp;
    j->now = now ? now : (uint64_t)time(NULL);
    resp->status = 0;
    if (len > TL_WITNESS_MAX_BODY) {
        resp_set(resp, 400, "request body too large", NULL);
        goto count;
    }
    if (parse_request(body, len, j, resp) != TL_OK)
        goto count;
    /* The set of logs only grows before serving; lookups need no lock. */
    pthread_mutex_lock(&w->mu);
    j->log = find_log(w, j->cp.origin);
    pthread_mutex_unlock(&w->mu);
    if (!j->log) {
        resp_set(resp, 404, "unknown log origin %s", j->cp.origin);
        goto count;
    }
    if (verify_log_sig(j) != TL_OK) {
        resp_set(resp, 403, "no valid signature by a trusted key of %s", j->cp.origin);
        goto count;
    }
    if (j->old > j->cp.size) {
        resp_set(resp, 400, "old size is larger than the checkpoint size", NULL);
        goto count;
    }

    /* The atomic step: queue, and either wait for a leader or lead. */
    pthread_mutex_lock(&w->mu);
    if (w->qtail)
        w->qtail->next = j;
    else
        w->qhead = j;
    w->qtail = j;
    while (!j->done && j != w->qhead)
        pthread_cond_wait(&w->cv, &w->mu);
    if (!j->done) {
        struct job *first = j, *last = j;
        size_t n = 1;
        while (last->next && n < GROUP_MAX) {
            last = last->next;
            n++;
        }
        pthread_mutex_unlock(&w->mu);
        double sync_s = 0;
        int rc = run_group(w, first, last, &sync_s);
        pthread_mutex_lock(&w->mu);
        w->groups++;
        w->group_requests += n;
        if (sync_s > 0) {
            w->syncs++;
            w->sync_seconds += sync_s;
        }
        for (struct job *k = first;; k = k->next) {
            struct wlog *l = k->log;
            if (l->p_touched) {
                if (rc == TL_OK) {
                    w->evidence_total += l->p_evidence - l->evidence;
                    l->evidence = l->p_evidence;
                    l->cosigned += l->p_cosigned;
                    free(l->note);
                    l->note = l->p_note;
                    l->note_len = l->p_note_len;
                    l->p_note = NULL;
                    l->size = l->p_size;
                    l->root = l->p_root;
                }
                free(l->p_note);
                l->p_note = NULL;
                l->p_touched = 0;
            }
            if (rc != TL_OK) {
                resp_set(k->resp, 500, "witness storage failure: %s", tl_strerror(rc));
                k->accepted = 0;
            }
            if (k == last)
                break;
        }
        if (rc != TL_OK)
            fprintf(stderr, "tlog-witness: commit failed: %s\n", tl_strerror(rc));
        /* Pop the group and hand leadership on. */
        w->qhead = last->next;
        if (!w->qhead)
            w->qtail = NULL;
        for (struct job *k = first;;) {
            struct job *nx = k->next;
            k->done = 1;
            k->next = NULL;
            if (k == last)
                break;
            k = nx;
        }
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);

count:
    pthread_mutex_lock(&w->mu);
    w->by_status[st_index(resp->status)]++;
    pthread_mutex_unlock(&w->mu);
    if (j->note.text)
        tl_note_release(&j->note);
    free(j);
    return TL_OK;
}

/* ---- reads ---------------------------------------------------------------- */

int tl_witness_state(tl_witness *w, const char *origin, uint64_t *size, tl_hash *root, tl_buf *note)
{
    pthread_mutex_lock(&w->mu);
    struct wlog *l = find_log(w, origin);
    int rc = TL_ERR_NOTFOUND;
    if (l) {
        *size = l->size;
        *root = l->root;
        rc = TL_OK;
        if (note) {
            tl_buf_reset(note);
            if (l->note && tl_buf_add(note, l->note, l->note_len) != TL_OK)
                rc = TL_ERR_NOMEM;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int tl_witness_checkpoint_by_hash(tl_witness *w, const char *hex, tl_buf *note)
{
    pthread_mutex_lock(&w->mu);
    struct wlog *l = find_log_hex(w, hex);
    int rc = TL_ERR_NOTFOUND;
    if (l && l->note) {
        tl_buf_reset(note);
        rc = tl_buf_add(note, l->note, l->note_len);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int tl_witness_evidence_by_hash(tl_witness *w, const char *hex, tl_buf *out)
{
    pthread_mutex_lock(&w->mu);
    struct wlog *l = find_log_hex(w, hex);
    uint64_t count = l ? l->evidence : 0;
    pthread_mutex_unlock(&w->mu);
    if (!l)
        return TL_ERR_NOTFOUND;
    uint64_t from =
        count > TL_WITNESS_MAX_EVIDENCE_SERVED ? count - TL_WITNESS_MAX_EVIDENCE_SERVED : 0;
    tl_buf v = TL_BUF_INIT;
    int rc = tl_buf_adds(out, "[");
    for (uint64_t s = from; s < count && rc == TL_OK; s++) {
        uint8_t key[42];
        state_key(key, "we", l);
        put_u64(key + 34, s);
        rc = tl_store_get(w->store, key, sizeof(key), &v);
        if (rc != TL_OK)
            break;
        if (s > from)
            rc = tl_buf_adds(out, ",\n");
        if (rc == TL_OK)
            rc = tl_buf_add(out, v.data, v.len);
    }
    if (rc == TL_OK)
        rc = tl_buf_adds(out, "]\n");
    tl_buf_release(&v);
    return rc;
}

long tl_witness_evidence_count(tl_witness *w, const char *origin)
{
    pthread_mutex_lock(&w->mu);
    struct wlog *l = find_log(w, origin);
    long n = l ? (long)l->evidence : -1;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void tl_witness_metrics(tl_witness *w, tl_buf *out)
{
    pthread_mutex_lock(&w->mu);
    tl_buf_adds(out, "# HELP tlog_witness_add_checkpoint_total add-checkpoint requests by status.\n"
                     "# TYPE tlog_witness_add_checkpoint_total counter\n");
    for (int i = 0; i < ST_N; i++)
        tl_buf_addf(out, "tlog_witness_add_checkpoint_total{code=\"%d\"} %" PRIu64 "\n",
                    st_codes[i], w->by_status[i]);
    tl_buf_addf(out,
                "# TYPE tlog_witness_commit_groups_total counter\n"
                "tlog_witness_commit_groups_total %" PRIu64 "\n"
                "# TYPE tlog_witness_commit_group_requests_total counter\n"
                "tlog_witness_commit_group_requests_total %" PRIu64 "\n"
                "# TYPE tlog_witness_syncs_total counter\n"
                "tlog_witness_syncs_total %" PRIu64 "\n"
                "# TYPE tlog_witness_sync_seconds_total counter\n"
                "tlog_witness_sync_seconds_total %.6f\n"
                "# HELP tlog_witness_split_view_evidence_total conflicting checkpoints with a "
                "valid log signature stored since start.\n"
                "# TYPE tlog_witness_split_view_evidence_total counter\n"
                "tlog_witness_split_view_evidence_total %" PRIu64 "\n",
                w->groups, w->group_requests, w->syncs, w->sync_seconds, w->evidence_total);
    tl_buf_adds(out, "# TYPE tlog_witness_log_size gauge\n");
    for (size_t i = 0; i < w->nlogs; i++) {
        tl_buf_adds(out, "tlog_witness_log_size{origin=\"");
        tl_buf_add_label(out, w->logs[i]->origin);
        tl_buf_addf(out, "\"} %" PRIu64 "\n", w->logs[i]->size);
    }
    tl_buf_adds(out, "# TYPE tlog_witness_log_evidence gauge\n");
    for (size_t i = 0; i < w->nlogs; i++) {
        tl_buf_adds(out, "tlog_witness_log_evidence{origin=\"");
        tl_buf_add_label(out, w->logs[i]->origin);
        tl_buf_addf(out, "\"} %" PRIu64 "\n", w->logs[i]->evidence);
    }
    tl_buf_adds(out, "# TYPE tlog_witness_log_cosignatures_total counter\n");
    for (size_t i = 0; i < w->nlogs; i++) {
        tl_buf_adds(out, "tlog_witness_log_cosignatures_total{origin=\"");
        tl_buf_add_label(out, w->logs[i]->origin);
        tl_buf_addf(out, "\"} %" PRIu64 "\n", w->logs[i]->cosigned);
    }
    pthread_mutex_unlock(&w->mu);
}
