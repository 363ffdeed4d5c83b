/*
 * log.c - the durable log: tlogd init (tl_log_create), open with recovery
 * checks, signed and published heads, and the reads of stored tiles, bundles
 * and entries. The batch commit is the sequencer's (sequencer.c), the keys
 * and encodings the layout's (layout.c), proofs the read side's (reader.c).
 *
 * Guarantees kept here: open refuses, naming the difference, a store whose
 * state root is not reproduced by its stored frontier and by its stored
 * tiles, or whose latest signed checkpoint does not verify with our key or
 * names another size/root/origin, or whose kind this build does not know.
 * Reads never go beyond the signed size; tiles and bundles served at a size
 * are prefixes of the stored latest version (hashes and entries never
 * change once written). Nothing of the tree is kept in memory but the
 * frontier and the current partial tiles/bundle (the sequencer's).
 */
#include "log/log.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/file.h"
#include "common/hex.h"
#include "log/dedup_filter.h"
#include "audit/event.h"
#include "log/sequencer.h"
#include "signer/checkpoint.h"

#define MAX_LISTENERS 8

struct tl_log {
    /* configuration and identity (immutable after open) */
    tl_store *store;
    tl_logsigner *signer;
    const tl_kind *kind;
    size_t pool_max, batch_max, max_entry;
    unsigned interval_ms;
    int publish_on_sign;
    uint64_t (*clock_ms)(void);
    char origin[TL_ORIGIN_MAX + 1];
    uint64_t closes_at; /* ms; 0: never (01 'c') */
    tl_head_guard guard;
    /* seqlk guards the seq pointer: read-held by every use, write-held
     * while tl_log_restart replaces it */
    pthread_rwlock_t seqlk;
    tl_seq *seq;
    tl_dfilter *dfilter;

    /* mu guards the heads */
    pthread_mutex_t mu;
    tl_log_head latest;    /* latest signed head (cache of "H"+size) */
    tl_log_head published; /* latest published head; valid if have_pub */
    int have_pub;

    pthread_mutex_t pubmu; /* serializes publications (01 'P' writes) */

    pthread_mutex_t lmu; /* guards the listeners; held while they run */
    tl_log_event_fn lfn[MAX_LISTENERS];
    void *lctx[MAX_LISTENERS];
    int nlisteners;

    /* the compaction thread (tl_log_compact_later); cmu guards the rest */
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    pthread_t cth;
    int cstarted, cstop, call;                    /* call: the queue overflowed, compact all */
    size_t cn;                                    /* keys waiting, in ckeys */
    uint8_t (*ckeys)[TL_LOG_COMPACT_KEY_MAX + 1]; /* [0]: length */
    uint64_t cdone;
};

static uint64_t real_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void hex_hash(const tl_hash *h, char out[65])
{
    tl_hex_encode(h->b, TL_HASH_SIZE, out);
}

static void path_join(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* ---- stopping and listeners ------------------------------------------------- */

void tl_log_stop_signing(tl_log *log, const char *why)
{
    pthread_rwlock_rdlock(&log->seqlk);
    if (log->seq)
        tl_seq_halt(log->seq, "%s", why);
    pthread_rwlock_unlock(&log->seqlk);
}

void tl_log_corrupt(tl_log *log, const char *what)
{
    pthread_rwlock_rdlock(&log->seqlk);
    if (log->seq)
        tl_seq_halt(log->seq, "stored data is corrupt: %s", what);
    else
        fprintf(stderr, "tlogd: stored data is corrupt: %s\n", what);
    pthread_rwlock_unlock(&log->seqlk);
}

/* Passes rc through; TL_ERR_CORRUPT from a read also stops signing. */
static int read_checked(tl_log *log, int rc, const char *what, uint64_t a, uint64_t b)
{
    char msg[120];
    if (rc == TL_ERR_CORRUPT) {
        snprintf(msg, sizeof msg, "%s %llu (size %llu)", what, (unsigned long long)a,
                 (unsigned long long)b);
        tl_log_corrupt(log, msg);
    }
    return rc;
}

static void fire_listeners(tl_log *log)
{
    uint64_t s, p;
    pthread_mutex_lock(&log->mu);
    s = log->latest.size;
    p = log->have_pub ? log->published.size : 0;
    pthread_mutex_unlock(&log->mu);
    pthread_mutex_lock(&log->lmu);
    for (int i = 0; i < log->nlisteners; i++)
        log->lfn[i](log->lctx[i], s, p);
    pthread_mutex_unlock(&log->lmu);
}

int tl_log_add_listener(tl_log *log, tl_log_event_fn fn, void *ctx)
{
    int rc = TL_OK;
    pthread_mutex_lock(&log->lmu);
    if (log->nlisteners >= MAX_LISTENERS) {
        rc = TL_ERR_TOOBIG;
    } else {
        log->lfn[log->nlisteners] = fn;
        log->lctx[log->nlisteners] = ctx;
        log->nlisteners++;
    }
    pthread_mutex_unlock(&log->lmu);
    return rc;
}

void tl_log_remove_listener(tl_log *log, tl_log_event_fn fn, void *ctx)
{
    pthread_mutex_lock(&log->lmu);
    for (int i = 0; i < log->nlisteners; i++) {
        if (log->lfn[i] == fn && log->lctx[i] == ctx) {
            memmove(&log->lfn[i], &log->lfn[i + 1],
                    (size_t)(log->nlisteners - i - 1) * sizeof(log->lfn[0]));
            memmove(&log->lctx[i], &log->lctx[i + 1],
                    (size_t)(log->nlisteners - i - 1) * sizeof(log->lctx[0]));
            log->nlisteners--;
            break;
        }
    }
    pthread_mutex_unlock(&log->lmu);
}

/* The sequencer's events (committer thread). */
static void on_committed(void *ctx, tl_log_head *head, tl_log_head *published)
{
    tl_log *log = ctx;
    pthread_mutex_lock(&log->mu);
    tl_log_head_release(&log->latest);
    log->latest = *head;
    if (published) {
        tl_log_head_release(&log->published);
        log->published = *published;
        log->have_pub = 1;
    }
    pthread_mutex_unlock(&log->mu);
}

static void on_after(void *ctx)
{
    fire_listeners(ctx);
}

/* ---- creating ------------------------------------------------------------------ */

/* Writes the initial state of an empty log (size 0, signed) into s. */
static int init_store(tl_store *s, tl_logsigner *signer, const char *origin, const tl_kind *kind,
                      uint64_t ts)
{
    tl_batch *b = tl_batch_new();
    tl_buf v = TL_BUF_INIT;
    tl_log_head h;
    tl_frontier f;
    tl_hash root;
    char *body = NULL;
    size_t blen = 0;
    uint8_t k[TL_LAYOUT_KEY_MAX];
    int rc;
    if (!b)
        return TL_ERR_NOMEM;
    memset(&h, 0, sizeof(h));
    tl_frontier_init(&f);
    tl_hash_empty(&root);
    h.root = root;
    h.timestamp_ms = ts;
    rc = tl_checkpoint_format(origin, 0, &root, &body, &blen);
    if (rc == TL_OK)
        rc = tl_logsigner_sign_note(signer, body, blen, &h.note, &h.note_len);
    if (rc == TL_OK)
        rc = tl_logsigner_sign_sth(signer, ts, 0, &root, &h.sth_sig, &h.sth_sig_len);
    free(body);
    if (rc == TL_OK) {
        if (tl_layout_state_encode(&f, &root, &v) ||
            tl_batch_put(b, tl_layout_key_state, 2, v.data, v.len) ||
            tl_layout_head_encode(&h, &v) ||
            tl_batch_put(b, k, tl_layout_key_head(k, 0), v.data, v.len) ||
            tl_batch_put(b, tl_layout_key_origin, 2, origin, strlen(origin)) ||
            tl_batch_put(b, tl_layout_key_kind, 2, kind->name, strlen(kind->name)))
            rc = TL_ERR_NOMEM;
        else
            rc = tl_store_write(s, b, 1);
    }
    tl_log_head_release(&h);
    tl_buf_release(&v);
    tl_batch_free(b);
    return rc;
}

static int origin_ok(const char *o)
{
    size_t n = strlen(o);
    if (n == 0 || n > TL_ORIGIN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)o[i];
        if (c <= 0x20 || c >= 0x7f || c == '+')
            return 0;
    }
    return 1;
}

/* Copies the four key files of src into dir (which holds none of them),
 * byte for byte, the private keys 0600; on failure none is left. */
static int copy_keys(const char *src, const char *dir, char *err, size_t cap)
{
    static const char *const names[] = {"log.key", "log.vkey", "rfc6962.key", "rfc6962.pub"};
    char p[4096];
    int rc = TL_OK;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && rc == TL_OK; i++) {
        char *d = NULL;
        size_t n = 0;
        path_join(p, sizeof(p), src, names[i]);
        rc = tl_file_read(p, 1 << 16, &d, &n);
        if (rc != TL_OK) {
            snprintf(err, cap, "cannot read %s: %s", p,
                     rc == TL_ERR_IO ? strerror(errno) : tl_strerror(rc));
            break;
        }
        path_join(p, sizeof(p), dir, names[i]);
        rc = tl_file_write_new(p, d, n, strstr(names[i], ".key") ? 0600 : 0644);
        OPENSSL_cleanse(d, n);
        free(d);
        if (rc != TL_OK)
            snprintf(err, cap, "cannot write %s: %s", p, strerror(errno));
    }
    if (rc != TL_OK)
        tl_logsigner_remove_local(dir);
    return rc;
}

int tl_log_create(const char *dir, const char *origin, const char *kind_name, char **vkey,
                  char *err, size_t cap)
{
    return tl_log_create_keys(dir, origin, kind_name, NULL, vkey, err, cap);
}

int tl_log_create_keys(const char *dir, const char *origin, const char *kind_name, const char *keys,
                       char **vkey, char *err, size_t cap)
{
    static const char *const names[] = {"db", "log.key", "log.vkey", "rfc6962.key", "rfc6962.pub"};
    const tl_kind *kind = tl_kind_find(kind_name ? kind_name : "blob");
    char p[4096];
    tl_logsigner *signer = NULL;
    tl_store *store = NULL;
    struct stat stb;
    int rc;

    if (!dir || !*dir || strlen(dir) > 3000) {
        snprintf(err, cap, "invalid data folder name");
        return TL_ERR_INVALID;
    }
    if (!origin || !origin_ok(origin)) {
        snprintf(err, cap,
                 "invalid origin: it must be 1..%d printable characters without "
                 "spaces or '+'",
                 TL_ORIGIN_MAX);
        return TL_ERR_INVALID;
    }
    if (!kind) {
        snprintf(err, cap, "unknown kind \"%.32s\"", kind_name);
        return TL_ERR_INVALID;
    }
    if (stat(dir, &stb) == 0) {
        if (!S_ISDIR(stb.st_mode)) {
            snprintf(err, cap, "%s exists and is not a folder", dir);
            return TL_ERR_CONFLICT;
        }
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            path_join(p, sizeof(p), dir, names[i]);
            if (lstat(p, &stb) == 0) {
                snprintf(err, cap, "%s already holds a log (%s exists); refusing to touch it", dir,
                         p);
                return TL_ERR_CONFLICT;
            }
        }
    } else if (mkdir(dir, 0700) != 0) {
        snprintf(err, cap, "cannot create %s: %s", dir, strerror(errno));
        return TL_ERR_IO;
    }
    /* Keys first (never over a file), then the database; undo the keys on
     * failure. With keys: the log's own keys, checked before they are copied
     * and again once copied. */
    if (keys) {
        rc = tl_logsigner_open_local(keys, &signer, err, cap);
        if (rc != TL_OK)
            rc = TL_ERR_INVALID; /* not the keys of a log: bad usage */
        else if (strcmp(signer->origin, origin) != 0) {
            snprintf(err, cap, "the keys in %.200s are those of origin \"%.200s\", not \"%.200s\"",
                     keys, signer->origin, origin);
            rc = TL_ERR_INVALID;
        }
        tl_logsigner_free(signer);
        signer = NULL;
        if (rc == TL_OK)
            rc = copy_keys(keys, dir, err, cap);
        if (rc == TL_OK && (rc = tl_logsigner_open_local(dir, &signer, err, cap)) != TL_OK)
            tl_logsigner_remove_local(dir);
    } else {
        rc = tl_logsigner_create_local(dir, origin, &signer, err, cap);
    }
    if (rc != TL_OK)
        return rc;
    path_join(p, sizeof(p), dir, "db");
    rc = tl_store_open_leveldb(p, 1, &store, err, cap);
    if (rc == TL_OK) {
        /* a log made from the keys of a running one replays its batches
         * from size 0 (docs/HA.md): its empty head is stamped 0, before
         * every batch's log time */
        rc = init_store(store, signer, origin, kind, keys ? 0 : real_clock_ms());
        if (rc != TL_OK)
            snprintf(err, cap, "cannot initialise the database %s: %s", p, tl_strerror(rc));
    }
    tl_store_close(store);
    if (rc == TL_OK && vkey) {
        *vkey = strdup(signer->vkey);
        if (!*vkey) {
            rc = TL_ERR_NOMEM;
            snprintf(err, cap, "out of memory");
        }
    }
    if (rc != TL_OK)
        tl_logsigner_remove_local(dir);
    tl_logsigner_free(signer);
    return rc;
}

/* ---- open and recovery ----------------------------------------------------------- */

/* Verifies that note is a checkpoint signed by us for (size, root). */
static int check_note(tl_log *log, const char *what, const char *note, size_t len, uint64_t size,
                      const tl_hash *root, char *err, size_t cap)
{
    tl_note n;
    tl_checkpoint cp;
    char a[65], b[65];
    int rc = tl_note_parse(note, len, &n);
    if (rc != TL_OK) {
        snprintf(err, cap, "%s of size %llu is not a valid signed note: %s", what,
                 (unsigned long long)size, tl_strerror(rc));
        return TL_ERR_CORRUPT;
    }
    rc = tl_note_verify(&n, log->signer->verifier);
    if (rc != TL_OK) {
        snprintf(err, cap, "%s of size %llu does not carry a valid signature by %s: %s", what,
                 (unsigned long long)size, log->origin, tl_strerror(rc));
        tl_note_release(&n);
        return TL_ERR_SIG;
    }
    rc = tl_checkpoint_parse(n.text, n.text_len, &cp);
    if (rc != TL_OK) {
        snprintf(err, cap, "%s of size %llu has an invalid checkpoint body", what,
                 (unsigned long long)size);
        tl_note_release(&n);
        return TL_ERR_CORRUPT;
    }
    rc = TL_OK;
    if (strcmp(cp.origin, log->origin) != 0) {
        snprintf(err, cap, "%s names origin \"%s\", the key is for \"%s\"", what, cp.origin,
                 log->origin);
        rc = TL_ERR_CORRUPT;
    } else if (cp.size != size) {
        snprintf(err, cap, "%s has size %llu, the tree state has size %llu", what,
                 (unsigned long long)cp.size, (unsigned long long)size);
        rc = TL_ERR_CORRUPT;
    } else if (memcmp(cp.root.b, root->b, TL_HASH_SIZE) != 0) {
        hex_hash(&cp.root, a);
        hex_hash(root, b);
        snprintf(err, cap, "%s of size %llu has root %s, the tree state has root %s", what,
                 (unsigned long long)size, a, b);
        rc = TL_ERR_CORRUPT;
    }
    tl_note_release(&n);
    return rc;
}

/* The closing time record (01 'c'), 0 when there is none. */
static int read_closes_at(tl_store *store, uint64_t *ms, char *err, size_t cap)
{
    tl_buf v = TL_BUF_INIT;
    int rc = tl_store_get(store, tl_layout_key_closes, 2, &v);
    *ms = 0;
    if (rc == TL_ERR_NOTFOUND) {
        rc = TL_OK;
    } else if (rc == TL_OK && (v.len != 8 || tl_layout_get_u64(v.data) == 0)) {
        snprintf(err, cap, "the database's closing time record is malformed");
        rc = TL_ERR_CORRUPT;
    } else if (rc == TL_OK) {
        *ms = tl_layout_get_u64(v.data);
    } else {
        snprintf(err, cap, "cannot read the database's closing time record: %s", tl_strerror(rc));
    }
    tl_buf_release(&v);
    return rc;
}

int tl_log_set_closes_at(const char *dir, uint64_t ms, uint64_t *was, char *err, size_t cap)
{
    char p[4096];
    tl_store *store = NULL;
    uint64_t now = real_clock_ms(), old = 0;
    if (!dir || strlen(dir) > 3000 || ms == 0) {
        snprintf(err, cap, ms == 0 ? "invalid closing time" : "invalid data folder name");
        return TL_ERR_INVALID;
    }
    path_join(p, sizeof(p), dir, "db");
    struct stat stb;
    if (stat(p, &stb) != 0) {
        snprintf(err, cap, "%s holds no log (no %s)", dir, p);
        return TL_ERR_NOTFOUND;
    }
    int rc = tl_store_open_leveldb(p, 0, &store, err, cap);
    if (rc == TL_ERR_LOCKED)
        snprintf(err, cap, "%s is in use (is tlogd serving it?): stop it first", dir);
    if (rc != TL_OK)
        return rc;
    rc = read_closes_at(store, &old, err, cap);
    if (rc == TL_OK && old && old <= now) {
        char t[25];
        tl_audit_time_format((int64_t)old, t);
        snprintf(err, cap, "the log closed already, at %s: a closed log stays closed", t);
        rc = TL_ERR_CONFLICT;
    } else if (rc == TL_OK && ms + 1000 < now) {
        /* entries may have log times up to now: a closing time before them
         * would not be the end of the log's period */
        snprintf(err, cap, "the closing time is in the past; close without a time to close now");
        rc = TL_ERR_INVALID;
    } else if (rc == TL_OK && ms < now) {
        ms = now;
    }
    if (rc == TL_OK) {
        uint8_t val[8];
        tl_batch *b = tl_batch_new();
        tl_layout_put_u64(val, ms);
        rc = b ? tl_batch_put(b, tl_layout_key_closes, 2, val, 8) : TL_ERR_NOMEM;
        if (rc == TL_OK)
            rc = tl_store_write(store, b, 1);
        tl_batch_free(b);
        if (rc != TL_OK)
            snprintf(err, cap, "cannot write the closing time: %s", tl_strerror(rc));
    }
    if (was)
        *was = old;
    tl_store_close(store);
    return rc;
}

uint64_t tl_log_closes_at(tl_log *log)
{
    return log->closes_at;
}

/* The origin and kind records: ours, and a kind this build knows. */
static int check_identity(tl_log *log, const tl_kind *want, char *err, size_t cap)
{
    tl_buf v = TL_BUF_INIT;
    char name[TL_KIND_NAME_MAX + 1];
    int rc = tl_store_get(log->store, tl_layout_key_origin, 2, &v);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot read the database's origin record: %s", tl_strerror(rc));
        tl_buf_release(&v);
        return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
    }
    if (v.len != strlen(log->origin) || memcmp(v.data, log->origin, v.len) != 0) {
        snprintf(err, cap, "the database belongs to origin \"%.*s\", log.key to \"%s\"",
                 (int)(v.len > 256 ? 256 : v.len), (const char *)v.data, log->origin);
        tl_buf_release(&v);
        return TL_ERR_CORRUPT;
    }
    rc = tl_store_get(log->store, tl_layout_key_kind, 2, &v);
    if (rc == TL_ERR_NOTFOUND) {
        log->kind = &tl_kind_blob; /* made before kinds existed */
        rc = TL_OK;
        if (want && want != &tl_kind_blob) {
            snprintf(err, cap, "the log's entries are of kind \"blob\", not \"%s\"", want->name);
            rc = TL_ERR_INVALID;
        }
    } else if (rc == TL_OK) {
        if (v.len == 0 || v.len > TL_KIND_NAME_MAX) {
            snprintf(err, cap, "the database's kind record is malformed");
            rc = TL_ERR_CORRUPT;
        } else {
            memcpy(name, v.data, v.len);
            name[v.len] = 0;
            log->kind = want ? (strcmp(want->name, name) == 0 ? want : NULL) : tl_kind_find(name);
            if (!log->kind) {
                snprintf(err, cap,
                         "the log's entries are of kind \"%s\", which this tlogd "
                         "does not know",
                         name);
                rc = TL_ERR_INVALID;
            }
        }
    } else {
        snprintf(err, cap, "cannot read the database's kind record: %s", tl_strerror(rc));
    }
    if (rc == TL_OK)
        rc = read_closes_at(log->store, &log->closes_at, err, cap);
    tl_buf_release(&v);
    return rc;
}

static int recover(tl_log *log, const tl_kind *want, tl_frontier *fr, char *err, size_t cap)
{
    tl_buf v = TL_BUF_INIT;
    tl_hash root, r1, r2;
    tl_frontier f2;
    tl_hasher *hasher = tl_hasher_new();
    tl_hash_reader rd;
    tl_layout_tiles ts;
    char a[65], b[65];
    tl_log_head h;
    int rc;

    if (!hasher) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    rc = tl_store_get(log->store, tl_layout_key_state, 2, &v);
    if (rc == TL_OK)
        rc = tl_layout_state_decode(&v, fr, &root);
    tl_buf_release(&v);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot load the tree state: %s", tl_strerror(rc));
        rc = rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
        goto out;
    }
    rc = check_identity(log, want, err, cap);
    if (rc != TL_OK)
        goto out;

    /* 1. root from the stored frontier */
    tl_frontier_root(fr, hasher, &r1);
    if (memcmp(r1.b, root.b, TL_HASH_SIZE) != 0) {
        hex_hash(&root, a);
        hex_hash(&r1, b);
        snprintf(err, cap,
                 "tree state of size %llu: stored root %s, root recomputed from "
                 "the stored frontier %s",
                 (unsigned long long)fr->size, a, b);
        rc = TL_ERR_CORRUPT;
        goto out;
    }
    /* 2. root and frontier from the stored tiles */
    rc = tl_layout_tiles_init(&ts, log->store, &rd);
    if (rc == TL_OK)
        rc = tl_tree_hash(&rd, ts.h, fr->size, &r2);
    if (rc == TL_OK)
        rc = tl_frontier_load(&f2, &rd, fr->size);
    tl_layout_tiles_release(&ts);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot read the hash tiles of size %llu: %s",
                 (unsigned long long)fr->size, tl_strerror(rc));
        rc = rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
        goto out;
    }
    if (memcmp(r2.b, root.b, TL_HASH_SIZE) != 0) {
        hex_hash(&root, a);
        hex_hash(&r2, b);
        snprintf(err, cap,
                 "tree state of size %llu: stored root %s, root recomputed from "
                 "the stored hash tiles %s",
                 (unsigned long long)fr->size, a, b);
        rc = TL_ERR_CORRUPT;
        goto out;
    }
    if (f2.n != fr->n || memcmp(f2.hashes, fr->hashes, (size_t)f2.n * TL_HASH_SIZE)) {
        snprintf(err, cap,
                 "tree state of size %llu: the stored frontier differs from the "
                 "one read from the stored hash tiles",
                 (unsigned long long)fr->size);
        rc = TL_ERR_CORRUPT;
        goto out;
    }
    /* 2b. the newest full tile of each level hashes to its parent hash */
    rc = tl_layout_tiles_init(&ts, log->store, &rd);
    for (int L = 0; rc == TL_OK && L + 1 < TL_LAYOUT_TILE_LEVELS; L++) {
        uint64_t cnt = fr->size >> (8 * L);
        const uint8_t *data;
        unsigned w;
        tl_node parent;
        tl_hash want, got;
        if (cnt < TL_TILE_WIDTH)
            break;
        parent.level = (uint8_t)(8 * (L + 1));
        parent.index = (cnt >> 8) - 1;
        rc = rd.read(rd.ctx, &parent, 1, &want);
        if (rc == TL_OK)
            rc = tl_layout_tiles_get(&ts, L, parent.index, TL_TILE_WIDTH, &data, &w);
        if (rc != TL_OK) {
            snprintf(err, cap, "cannot read full hash tile %d/%llu: %s", L,
                     (unsigned long long)parent.index, tl_strerror(rc));
            break;
        }
        tl_tile_hash(ts.h, data, TL_TILE_WIDTH, &got);
        if (memcmp(want.b, got.b, TL_HASH_SIZE) != 0) {
            hex_hash(&want, a);
            hex_hash(&got, b);
            snprintf(err, cap,
                     "full hash tile %d/%llu hashes to %s, its parent hash in tile "
                     "level %d is %s",
                     L, (unsigned long long)parent.index, b, L + 1, a);
            rc = TL_ERR_CORRUPT;
        }
    }
    tl_layout_tiles_release(&ts);
    if (rc != TL_OK) {
        rc = rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
        goto out;
    }
    /* 3. the latest signed head: ours, and for exactly this state */
    rc = tl_layout_head_read(log->store, fr->size, &h);
    if (rc != TL_OK) {
        snprintf(err, cap, "no signed head for the tree state of size %llu: %s",
                 (unsigned long long)fr->size, tl_strerror(rc));
        rc = rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
        goto out;
    }
    if (memcmp(h.root.b, root.b, TL_HASH_SIZE) != 0) {
        hex_hash(&h.root, a);
        hex_hash(&root, b);
        snprintf(err, cap, "signed head of size %llu records root %s, the tree state has %s",
                 (unsigned long long)h.size, a, b);
        tl_log_head_release(&h);
        rc = TL_ERR_CORRUPT;
        goto out;
    }
    rc = check_note(log, "the signed checkpoint", h.note, h.note_len, fr->size, &root, err, cap);
    if (rc == TL_OK && tl_sth_verify(log->signer->sth_public, h.timestamp_ms, h.size, &h.root,
                                     h.sth_sig, h.sth_sig_len) != TL_OK) {
        snprintf(err, cap, "the RFC 6962 STH of size %llu does not verify with rfc6962.key",
                 (unsigned long long)h.size);
        rc = TL_ERR_SIG;
    }
    if (rc != TL_OK) {
        tl_log_head_release(&h);
        goto out;
    }
    log->latest = h;

    /* 4. the published head: ours, same body as the signed head of its size */
    rc = tl_store_get(log->store, tl_layout_key_pub, 2, &v);
    if (rc == TL_OK) {
        tl_log_head ph;
        uint64_t psize;
        if (v.len < 9) {
            snprintf(err, cap, "the published checkpoint record is truncated");
            rc = TL_ERR_CORRUPT;
            goto out;
        }
        psize = tl_layout_get_u64(v.data);
        if (psize > fr->size) {
            snprintf(err, cap,
                     "the published checkpoint has size %llu, beyond the tree state "
                     "of size %llu",
                     (unsigned long long)psize, (unsigned long long)fr->size);
            rc = TL_ERR_CORRUPT;
            goto out;
        }
        rc = tl_layout_head_read(log->store, psize, &ph);
        if (rc != TL_OK) {
            snprintf(err, cap, "no signed head for the published size %llu: %s",
                     (unsigned long long)psize, tl_strerror(rc));
            rc = TL_ERR_CORRUPT;
            goto out;
        }
        rc = check_note(log, "the published checkpoint", (const char *)v.data + 8, v.len - 8, psize,
                        &ph.root, err, cap);
        if (rc != TL_OK) {
            tl_log_head_release(&ph);
            goto out;
        }
        free(ph.note);
        ph.note_len = v.len - 8;
        ph.note = malloc(ph.note_len + 1);
        if (!ph.note) {
            tl_log_head_release(&ph);
            rc = TL_ERR_NOMEM;
            goto out;
        }
        memcpy(ph.note, v.data + 8, ph.note_len);
        ph.note[ph.note_len] = 0;
        log->published = ph;
        log->have_pub = 1;
    } else if (rc != TL_ERR_NOTFOUND) {
        snprintf(err, cap, "cannot read the published checkpoint: %s", tl_strerror(rc));
        goto out;
    }
    rc = TL_OK;
out:
    tl_buf_release(&v);
    tl_hasher_free(hasher);
    return rc;
}

/* Writes the published head record and takes it as the published head.
 * Caller holds pubmu and has checked note. */
static int publish_locked(tl_log *log, tl_log_head *h, const char *note, size_t len)
{
    tl_batch *b = tl_batch_new();
    tl_buf v = TL_BUF_INIT;
    char *copy = malloc(len + 1);
    int rc = b && copy ? TL_OK : TL_ERR_NOMEM;
    if (rc == TL_OK)
        rc = tl_layout_pub_encode(h->size, note, len, &v);
    if (rc == TL_OK)
        rc = tl_batch_put(b, tl_layout_key_pub, 2, v.data, v.len);
    if (rc == TL_OK)
        rc = tl_store_write(log->store, b, 1);
    if (rc == TL_OK) {
        memcpy(copy, note, len);
        copy[len] = 0;
        free(h->note);
        h->note = copy;
        h->note_len = len;
        copy = NULL;
        pthread_mutex_lock(&log->mu);
        tl_log_head_release(&log->published);
        log->published = *h;
        log->have_pub = 1;
        pthread_mutex_unlock(&log->mu);
        memset(h, 0, sizeof(*h));
    }
    free(copy);
    tl_batch_free(b);
    tl_buf_release(&v);
    return rc;
}

static void compactor_stop(tl_log *log);

static void log_free(tl_log *log)
{
    if (!log)
        return;
    compactor_stop(log);           /* compacts what waits, then joins */
    tl_dfilter_free(log->dfilter); /* its scan reads the store */
    tl_store_close(log->store);
    tl_logsigner_free(log->signer);
    tl_log_head_release(&log->latest);
    tl_log_head_release(&log->published);
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->pubmu);
    pthread_mutex_destroy(&log->lmu);
    pthread_mutex_destroy(&log->cmu);
    pthread_cond_destroy(&log->ccv);
    free(log->ckeys);
    pthread_rwlock_destroy(&log->seqlk);
    free(log);
}

static int start_seq(tl_log *log, const tl_frontier *fr, int standby, char *err, size_t cap);

int tl_log_open(const tl_log_config *cfg, tl_log **out, char *err, size_t cap)
{
    tl_log *log;
    tl_frontier fr;
    tl_buf v = TL_BUF_INIT;
    int rc;

    *out = NULL;
    if (!cfg || !cfg->dir) {
        snprintf(err, cap, "no data folder given");
        if (cfg) {
            tl_store_close(cfg->store);
            tl_logsigner_free(cfg->signer);
        }
        return TL_ERR_INVALID;
    }
    log = calloc(1, sizeof(*log));
    if (!log) {
        snprintf(err, cap, "out of memory");
        tl_store_close(cfg->store);
        tl_logsigner_free(cfg->signer);
        return TL_ERR_NOMEM;
    }
    pthread_mutex_init(&log->mu, NULL);
    pthread_mutex_init(&log->pubmu, NULL);
    pthread_mutex_init(&log->lmu, NULL);
    pthread_mutex_init(&log->cmu, NULL);
    pthread_cond_init(&log->ccv, NULL);
    pthread_rwlock_init(&log->seqlk, NULL);
    log->guard = cfg->guard;
    log->store = cfg->store;
    log->signer = cfg->signer;
    log->pool_max = cfg->pool_max ? cfg->pool_max : 16384;
    log->batch_max = cfg->batch_max ? cfg->batch_max : 4096;
    if (log->batch_max > ((size_t)1 << 20))
        log->batch_max = (size_t)1 << 20;
    log->interval_ms = cfg->batch_interval_ms ? cfg->batch_interval_ms : 25;
    log->max_entry = cfg->max_entry ? cfg->max_entry : 65535;
    log->publish_on_sign = cfg->publish_on_sign;
    log->clock_ms = cfg->clock_ms ? cfg->clock_ms : real_clock_ms;
    if (!log->signer) {
        rc = tl_logsigner_open_local(cfg->dir, &log->signer, err, cap);
        if (rc != TL_OK)
            goto fail;
    }
    snprintf(log->origin, sizeof(log->origin), "%s", log->signer->origin);
    if (!log->store) {
        char db[4096];
        path_join(db, sizeof(db), cfg->dir, "db");
        rc = tl_store_open_leveldb(db, 0, &log->store, err, cap);
        if (rc != TL_OK)
            goto fail;
    } else if (tl_store_get(log->store, tl_layout_key_state, 2, &v) == TL_ERR_NOTFOUND) {
        /* A fresh store handed in by a test: initialise it like init does. */
        rc = init_store(log->store, log->signer, log->origin, cfg->kind ? cfg->kind : &tl_kind_blob,
                        log->clock_ms());
        if (rc != TL_OK) {
            snprintf(err, cap, "cannot initialise the store: %s", tl_strerror(rc));
            goto fail;
        }
    }
    tl_buf_release(&v);
    rc = recover(log, cfg->kind, &fr, err, cap);
    if (rc != TL_OK)
        goto fail;
    if (log->publish_on_sign && (!log->have_pub || log->published.size < log->latest.size)) {
        tl_log_head h;
        rc = tl_log_head_copy(&h, &log->latest);
        if (rc == TL_OK) {
            rc = publish_locked(log, &h, log->latest.note, log->latest.note_len);
            tl_log_head_release(&h);
        }
        if (rc != TL_OK) {
            snprintf(err, cap, "cannot publish the latest signed checkpoint: %s", tl_strerror(rc));
            goto fail;
        }
    }
    /* the dedup filter fills in the background; until then lookups read the store */
    log->dfilter = tl_dfilter_new(TL_DFILTER_BYTES);
    if (log->dfilter && tl_dfilter_start(log->dfilter, log->store) != TL_OK) {
        tl_dfilter_free(log->dfilter);
        log->dfilter = NULL;
    }
    if (!log->kind->seal && log->max_entry > 65535)
        log->max_entry = 65535; /* the entry is the submission */
    if (log->kind->seal)
        log->max_entry = TL_KIND_MAX_SUB; /* the kind's submitter bounds its own */
    rc = start_seq(log, &fr, cfg->standby, err, cap);
    if (rc != TL_OK)
        goto fail;
    *out = log;
    return TL_OK;
fail:
    tl_buf_release(&v);
    log_free(log);
    return rc;
}

/* Starts the sequencer on the recovered frontier fr. */
static int start_seq(tl_log *log, const tl_frontier *fr, int standby, char *err, size_t cap)
{
    tl_seq_config sc;
    memset(&sc, 0, sizeof(sc));
    sc.store = log->store;
    sc.kind = log->kind;
    sc.signer = log->signer;
    sc.dfilter = log->dfilter;
    sc.origin = log->origin;
    sc.pool_max = log->pool_max;
    sc.batch_max = log->batch_max;
    sc.max_sub = log->max_entry;
    sc.interval_ms = log->interval_ms;
    sc.publish_on_sign = log->publish_on_sign;
    sc.clock_ms = log->clock_ms;
    sc.frontier = fr;
    sc.last_ts = log->latest.timestamp_ms;
    sc.events.committed = on_committed;
    sc.events.after = on_after;
    sc.events.ctx = log;
    sc.guard = log->guard;
    sc.standby = standby;
    sc.closes_at = log->closes_at;
    return tl_seq_start(&sc, &log->seq, err, cap);
}

int tl_log_restart(tl_log *log, char *err, size_t cap)
{
    tl_buf v = TL_BUF_INIT;
    tl_frontier fr;
    tl_hash root;
    uint64_t size;
    int rc;
    pthread_rwlock_wrlock(&log->seqlk);
    tl_seq_stop(log->seq); /* finishes the batches in hand */
    log->seq = NULL;
    /* the store holds exactly what was committed, and latest is the head of
     * the last commit: the tree state must be that head */
    rc = tl_store_get(log->store, tl_layout_key_state, 2, &v);
    if (rc == TL_OK)
        rc = tl_layout_state_decode(&v, &fr, &root);
    tl_buf_release(&v);
    pthread_mutex_lock(&log->mu);
    size = log->latest.size;
    if (rc == TL_OK && (fr.size != size || memcmp(root.b, log->latest.root.b, TL_HASH_SIZE) != 0))
        rc = TL_ERR_CORRUPT;
    pthread_mutex_unlock(&log->mu);
    if (rc != TL_OK)
        snprintf(err, cap,
                 "restarting the sequencer: the tree state (%s) is not the latest "
                 "signed head of size %llu",
                 tl_strerror(rc), (unsigned long long)size);
    else
        rc = start_seq(log, &fr, 1, err, cap);
    pthread_rwlock_unlock(&log->seqlk);
    return rc;
}

typedef struct batch_find {
    uint64_t start;
    int found;
} batch_find;

static int batch_find_fn(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    batch_find *f = ctx;
    const uint8_t *k = key;
    (void)val;
    (void)vlen;
    if (klen != 10 || k[9] != 'H')
        return 0; /* a tile or bundle of the stream */
    f->start = ~tl_layout_get_u64(k + 1);
    f->found = 1;
    return 1;
}

int tl_log_batch_start(tl_log *log, uint64_t index, uint64_t *start)
{
    /* the stream is newest first: from ~index on, the first head is the
     * latest one at or below index */
    uint8_t lo[TL_LAYOUT_KEY_MAX], hi[1] = {4};
    batch_find f = {0, 0};
    size_t lolen = tl_layout_key_head(lo, index);
    lo[lolen - 1] = 0;
    int rc = tl_store_range(log->store, lo, lolen, hi, 1, batch_find_fn, &f);
    if (rc == 1 || rc == TL_OK)
        rc = f.found ? TL_OK : TL_ERR_NOTFOUND;
    *start = f.start;
    return rc;
}

int tl_log_compact_key(tl_log *log, const void *key, size_t klen)
{
    return tl_store_leveldb_compact(log->store, key, klen);
}

/* ---- the compaction thread ----------------------------------------------------- */

/* Takes the waiting keys (or the whole database) one at a time and compacts
 * each with cmu released; on stop, drains the queue first. */
static void *compactor_main(void *arg)
{
    tl_log *log = arg;
    uint8_t key[TL_LOG_COMPACT_KEY_MAX];
    pthread_mutex_lock(&log->cmu);
    for (;;) {
        while (!log->cn && !log->call && !log->cstop)
            pthread_cond_wait(&log->ccv, &log->cmu);
        if (!log->cn && !log->call)
            break; /* stopped, nothing waits */
        int all = log->call;
        size_t klen = 0;
        if (all) {
            log->call = 0;
            log->cn = 0; /* the whole database covers them */
        } else {
            klen = log->ckeys[--log->cn][0];
            memcpy(key, log->ckeys[log->cn] + 1, klen);
        }
        pthread_mutex_unlock(&log->cmu);
        tl_store_leveldb_compact(log->store, all ? NULL : key, klen);
        pthread_mutex_lock(&log->cmu);
        log->cdone++;
    }
    pthread_mutex_unlock(&log->cmu);
    return NULL;
}

int tl_log_compact_later(tl_log *log, const void *key, size_t klen)
{
    int rc = TL_OK;
    if (!key || !klen || klen > TL_LOG_COMPACT_KEY_MAX)
        return TL_ERR_INVALID;
    pthread_mutex_lock(&log->cmu);
    if (!log->ckeys && !(log->ckeys = malloc(TL_LOG_COMPACT_QUEUE * sizeof(*log->ckeys))))
        rc = TL_ERR_NOMEM;
    if (rc == TL_OK && !log->cstarted) {
        if (pthread_create(&log->cth, NULL, compactor_main, log) != 0)
            rc = TL_ERR_NOMEM;
        else
            log->cstarted = 1;
    }
    if (rc == TL_OK && !log->cstop) {
        if (log->cn < TL_LOG_COMPACT_QUEUE) {
            log->ckeys[log->cn][0] = (uint8_t)klen;
            memcpy(log->ckeys[log->cn] + 1, key, klen);
            log->cn++;
        } else {
            log->call = 1;
        }
        pthread_cond_signal(&log->ccv);
    }
    pthread_mutex_unlock(&log->cmu);
    return rc;
}

uint64_t tl_log_compactions(tl_log *log)
{
    pthread_mutex_lock(&log->cmu);
    uint64_t n = log->cdone;
    pthread_mutex_unlock(&log->cmu);
    return n;
}

static void compactor_stop(tl_log *log)
{
    pthread_mutex_lock(&log->cmu);
    int started = log->cstarted;
    log->cstop = 1;
    pthread_cond_signal(&log->ccv);
    pthread_mutex_unlock(&log->cmu);
    if (started)
        pthread_join(log->cth, NULL);
}

void tl_log_close(tl_log *log)
{
    if (!log)
        return;
    tl_seq_stop(log->seq); /* finishes the batches in hand */
    log->seq = NULL;
    log_free(log);
}

const tl_kind *tl_log_kind(tl_log *log)
{
    return log->kind;
}

/* ---- writing ------------------------------------------------------------------ */

/* Runs expr with the sequencer read-locked; a log whose restart failed has
 * none and answers TL_ERR_STOPPED. */
#define WITH_SEQ(log, rc, expr)                                                                    \
    do {                                                                                           \
        pthread_rwlock_rdlock(&(log)->seqlk);                                                      \
        if ((log)->seq)                                                                            \
            rc = (expr);                                                                           \
        pthread_rwlock_unlock(&(log)->seqlk);                                                      \
    } while (0)

int tl_log_submit(tl_log *log, const tl_sub *subs, size_t n, tl_submit_fn cb, void *ctx)
{
    int rc = TL_ERR_STOPPED;
    WITH_SEQ(log, rc, tl_seq_submit(log->seq, subs, n, cb, ctx));
    return rc;
}

int tl_log_add(tl_log *log, const void *entry, size_t len, tl_add_fn cb, void *ctx)
{
    int rc = TL_ERR_STOPPED;
    WITH_SEQ(log, rc, tl_seq_add(log->seq, entry, len, cb, ctx));
    return rc;
}

int tl_log_import(tl_log *log, const tl_import *imp, tl_submit_fn cb, void *ctx)
{
    int rc = TL_ERR_STOPPED;
    WITH_SEQ(log, rc, tl_seq_import(log->seq, imp, cb, ctx));
    return rc;
}

void tl_log_set_standby(tl_log *log, int standby)
{
    int rc = 0;
    WITH_SEQ(log, rc, (tl_seq_set_standby(log->seq, standby), 0));
    (void)rc;
}

int tl_log_standby(tl_log *log)
{
    int rc = 1;
    WITH_SEQ(log, rc, tl_seq_standby(log->seq));
    return rc;
}

size_t tl_log_pool_depth(tl_log *log)
{
    size_t n = 0;
    WITH_SEQ(log, n, tl_seq_pool_depth(log->seq));
    return n;
}

/* ---- heads ----------------------------------------------------------------------- */

int tl_log_published(tl_log *log, tl_log_head *out)
{
    int rc = TL_ERR_NOTFOUND;
    pthread_mutex_lock(&log->mu);
    if (log->have_pub)
        rc = tl_log_head_copy(out, &log->published);
    pthread_mutex_unlock(&log->mu);
    return rc;
}

int tl_log_latest_signed(tl_log *log, tl_log_head *out)
{
    int rc;
    pthread_mutex_lock(&log->mu);
    rc = tl_log_head_copy(out, &log->latest);
    pthread_mutex_unlock(&log->mu);
    return rc;
}

uint64_t tl_log_signed_size(tl_log *log)
{
    uint64_t s;
    pthread_mutex_lock(&log->mu);
    s = log->latest.size;
    pthread_mutex_unlock(&log->mu);
    return s;
}

int tl_log_signed_at(tl_log *log, uint64_t size, tl_log_head *out)
{
    int rc;
    pthread_mutex_lock(&log->mu);
    if (size > log->latest.size) {
        pthread_mutex_unlock(&log->mu);
        return TL_ERR_NOTFOUND;
    }
    if (size == log->latest.size) {
        rc = tl_log_head_copy(out, &log->latest);
        pthread_mutex_unlock(&log->mu);
        return rc;
    }
    pthread_mutex_unlock(&log->mu);
    return tl_layout_head_read(log->store, size, out);
}

int tl_log_publish(tl_log *log, uint64_t size, const char *note, size_t len)
{
    tl_log_head h;
    tl_note n;
    char *body = NULL;
    size_t blen = 0;
    int rc;

    if (!note || len == 0 || len > TL_NOTE_MAX_SIZE || log->publish_on_sign)
        return TL_ERR_INVALID;
    rc = tl_log_signed_at(log, size, &h);
    if (rc != TL_OK)
        return rc;
    rc = tl_note_parse(note, len, &n);
    if (rc != TL_OK) {
        tl_log_head_release(&h);
        return TL_ERR_INVALID;
    }
    rc = tl_checkpoint_format(log->origin, size, &h.root, &body, &blen);
    if (rc == TL_OK && (n.text_len != blen || memcmp(n.text, body, blen) != 0))
        rc = TL_ERR_CONFLICT;
    if (rc == TL_OK)
        rc = tl_note_verify(&n, log->signer->verifier) == TL_OK ? TL_OK : TL_ERR_SIG;
    free(body);
    tl_note_release(&n);
    if (rc != TL_OK) {
        tl_log_head_release(&h);
        return rc;
    }
    pthread_mutex_lock(&log->pubmu);
    pthread_mutex_lock(&log->mu);
    if (log->have_pub && size < log->published.size)
        rc = TL_ERR_CONFLICT;
    pthread_mutex_unlock(&log->mu);
    if (rc == TL_OK)
        rc = publish_locked(log, &h, note, len);
    pthread_mutex_unlock(&log->pubmu);
    tl_log_head_release(&h);
    if (rc == TL_OK)
        fire_listeners(log);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------ */

/* Checks entries first..width-1 of bundle n (data: its bytes, lengths already
 * parsed by tl_layout_bundle_prefix) against the leaf hashes of level-0 tile
 * n (read with the store's checksum), so a damaged entry is refused rather
 * than served; the bundle itself was read without the checksum, which this
 * replaces. */
static int bundle_check(tl_log *log, uint64_t n, unsigned first, unsigned width,
                        enum tl_layout_how how, const uint8_t *data, tl_hasher *h)
{
    tl_buf tile = TL_BUF_INIT;
    size_t off = 0, at = 0;
    int rc = tl_layout_tile_read(log->store, 0, n, how, &tile, &off, 0);
    if (rc == TL_OK && tile.len - off < (size_t)width * TL_HASH_SIZE)
        rc = TL_ERR_CORRUPT;
    for (unsigned k = 0; rc == TL_OK && k < width; k++) {
        size_t len = ((size_t)data[at] << 8) | data[at + 1];
        tl_hash got;
        if (k >= first) {
            tl_hash_leaf(h, data + at + 2, len, &got);
            if (memcmp(got.b, tile.data + off + (size_t)k * TL_HASH_SIZE, TL_HASH_SIZE) != 0) {
                char what[96];
                snprintf(what, sizeof what, "entry %llu does not hash to its leaf hash",
                         (unsigned long long)(n * TL_TILE_WIDTH + k));
                tl_log_corrupt(log, what);
                rc = TL_ERR_CORRUPT;
            }
        }
        at += 2 + len;
    }
    tl_buf_release(&tile);
    return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
}

int tl_log_tile(tl_log *log, const tl_tile *t, uint64_t size, tl_buf *out)
{
    uint64_t count, avail;
    tl_buf v = TL_BUF_INIT;
    size_t off = 0;
    enum tl_layout_how how;
    int rc;

    if (!t || t->width < 1 || t->width > TL_TILE_WIDTH)
        return TL_ERR_INVALID;
    if (size > tl_log_signed_size(log))
        return TL_ERR_RANGE;
    if (t->level == TL_TILE_ENTRIES)
        count = size;
    else if (t->level >= 0 && t->level < TL_LAYOUT_TILE_LEVELS)
        count = size >> (8 * t->level);
    else
        return TL_ERR_NOTFOUND;
    if (count == 0 || t->n > (count - 1) >> 8)
        return TL_ERR_NOTFOUND;
    avail = count - (t->n << 8);
    if (avail > TL_TILE_WIDTH)
        avail = TL_TILE_WIDTH;
    if (t->width > avail)
        return TL_ERR_NOTFOUND;
    how = avail == TL_TILE_WIDTH ? TL_LAYOUT_FULL_ONLY : TL_LAYOUT_PARTIAL_FIRST;
    rc =
        tl_layout_tile_read(log->store, t->level, t->n, how, &v, &off, t->level == TL_TILE_ENTRIES);
    if (rc == TL_OK && t->level == TL_TILE_ENTRIES) {
        /* read without the store's checksum: every entry is hashed */
        const uint8_t *d = v.data + off;
        size_t n = tl_layout_bundle_prefix(d, v.len - off, t->width, NULL);
        tl_hasher *h = tl_hasher_thread();
        rc = !h  ? TL_ERR_NOMEM
             : n ? bundle_check(log, t->n, 0, t->width, how, d, h)
                 : TL_ERR_CORRUPT;
        if (rc == TL_OK)
            rc = tl_buf_add(out, d, n);
    } else if (rc == TL_OK) {
        size_t len = v.len - off;
        if (len % TL_HASH_SIZE || len < (size_t)t->width * TL_HASH_SIZE)
            rc = TL_ERR_CORRUPT;
        else
            rc = tl_buf_add(out, v.data + off, (size_t)t->width * TL_HASH_SIZE);
    }
    if (rc == TL_ERR_NOTFOUND)
        rc = TL_ERR_CORRUPT; /* within the signed size it must exist */
    tl_buf_release(&v);
    return read_checked(log, rc, t->level == TL_TILE_ENTRIES ? "entry bundle" : "hash tile", t->n,
                        size);
}

int tl_log_entry(tl_log *log, uint64_t index, tl_buf *out)
{
    tl_buf v = TL_BUF_INIT;
    size_t last = 0, end, off = 0;
    uint64_t size = tl_log_signed_size(log);
    unsigned k = (unsigned)(index & 255);
    enum tl_layout_how how;
    int rc;
    if (index >= size)
        return TL_ERR_RANGE;
    how = ((index >> 8) + 1) << 8 <= size ? TL_LAYOUT_FULL_ONLY : TL_LAYOUT_PARTIAL_FIRST;
    rc = tl_layout_tile_read(log->store, TL_TILE_ENTRIES, index >> 8, how, &v, &off, 1);
    if (rc == TL_OK) {
        const uint8_t *d = v.data + off;
        tl_hasher *h = tl_hasher_thread();
        end = tl_layout_bundle_prefix(d, v.len - off, k + 1, &last);
        rc = !h    ? TL_ERR_NOMEM
             : end ? bundle_check(log, index >> 8, k, k + 1, how, d, h)
                   : TL_ERR_CORRUPT;
        if (rc == TL_OK)
            rc = tl_buf_add(out, d + last + 2, end - last - 2);
    } else if (rc == TL_ERR_NOTFOUND) {
        rc = TL_ERR_CORRUPT;
    }
    tl_buf_release(&v);
    return read_checked(log, rc, "entry", index, size);
}

int tl_log_lookup(tl_log *log, const tl_hash *key, uint64_t *index)
{
    uint8_t k[TL_LAYOUT_KEY_MAX];
    tl_buf v = TL_BUF_INIT, scratch = TL_BUF_INIT;
    int rc;
    if (log->kind->leaf_index)
        return read_checked(log, log->kind->leaf_index(log->kind, log->store, key, index),
                            "leaf index entry for a leaf of", 0, tl_log_signed_size(log));
    rc = tl_store_get(log->store, k, tl_layout_key_dedup(k, key), &v);
    if (rc == TL_OK)
        rc = tl_seq_dedup_find(log->kind, log->store, &v, key, index, &scratch);
    tl_buf_release(&v);
    tl_buf_release(&scratch);
    return read_checked(log, rc, "dedup index entry for a key of", 0, tl_log_signed_size(log));
}

int tl_log_kind_get(tl_log *log, const void *key, size_t klen, tl_buf *out)
{
    if (klen == 0 || *(const uint8_t *)key != TL_LAYOUT_KIND_PREFIX)
        return TL_ERR_INVALID;
    return read_checked(log, tl_store_get(log->store, key, klen, out), "kind record of", 0,
                        tl_log_signed_size(log));
}

int tl_log_kind_range(tl_log *log, const void *lo, size_t lolen, const void *hi, size_t hilen,
                      tl_store_range_fn fn, void *ctx)
{
    if (lolen == 0 || hilen == 0 || *(const uint8_t *)lo != TL_LAYOUT_KIND_PREFIX ||
        *(const uint8_t *)hi != TL_LAYOUT_KIND_PREFIX)
        return TL_ERR_INVALID;
    return tl_store_range(log->store, lo, lolen, hi, hilen, fn, ctx);
}

/* ---- identity and metrics -------------------------------------------------------- */

const char *tl_log_origin(tl_log *log)
{
    return log->origin;
}

const char *tl_log_vkey(tl_log *log)
{
    return log->signer->vkey;
}

void tl_log_get_stats(tl_log *log, tl_log_stats *st)
{
    tl_seq_stats ss;
    memset(st, 0, sizeof(*st));
    memset(&ss, 0, sizeof(ss));
    pthread_rwlock_rdlock(&log->seqlk);
    if (log->seq) {
        tl_seq_get_stats(log->seq, &ss);
        st->pool_depth = tl_seq_pool_depth(log->seq);
        st->stopped = tl_seq_stopped(log->seq, st->stop_reason, sizeof(st->stop_reason));
        st->standby = tl_seq_standby(log->seq);
    } else {
        st->stopped = 1;
        snprintf(st->stop_reason, sizeof(st->stop_reason), "the sequencer could not restart");
    }
    pthread_rwlock_unlock(&log->seqlk);
    st->entries_added = ss.entries_added;
    st->duplicates = ss.duplicates;
    st->conflicts = ss.conflicts;
    st->batches = ss.batches;
    st->batch_entries_last = ss.batch_entries_last;
    st->commit_seconds_total = ss.commit_seconds_total;
    st->commit_seconds_last = ss.commit_seconds_last;
    st->dedup_store_reads = ss.dedup_store_reads;
    st->dedup_filter_skips = ss.dedup_filter_skips;
    pthread_mutex_lock(&log->mu);
    st->signed_size = log->latest.size;
    st->published_size = log->have_pub ? log->published.size : 0;
    pthread_mutex_unlock(&log->mu);
    st->dedup_filter_ready = tl_dfilter_ready(log->dfilter);
}

void tl_log_process_setup(void)
{
    mallopt(M_ARENA_MAX, 2);
}
