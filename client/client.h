/*
 * client.h - internal interfaces of `tlog`, the client, offline verifier and
 * auditor (CONTRACT.md, "tlog"). Not a public API: shared by the files of
 * client/ only.
 *
 * Exit statuses of every command (documented in docs/CLIENT.md):
 *   0 success, 1 verification failure (bad signature, proof, hash, fork),
 *   2 bad usage, 3 network, server or file error.
 */
#ifndef TL_CLIENT_H
#define TL_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <stdio.h>

#include "common/buf.h"
#include "merkle/merkle.h"
#include "signer/checkpoint.h"
#include "signer/note.h"
#include "signer/policy.h"

#define TL_EXIT_OK 0
#define TL_EXIT_VERIFY 1
#define TL_EXIT_USAGE 2
#define TL_EXIT_IO 3

#define TL_ERRMSG 1024 /* capacity of every error-message buffer */

/* ---- trust: a log key or a tlog-policy ------------------------------- */

typedef struct tl_trust {
    tl_verifier *key;  /* --key: the log's Ed25519 verifier key, or NULL */
    tl_policy *policy; /* --policy, or NULL; exactly one of the two is set */
} tl_trust;

/* Loads --key (a key string, or a file holding one) or --policy FILE.
 * Returns TL_OK or an error with a one-line reason in err. */
int tl_trust_load_key(tl_trust *t, const char *arg, char *err, size_t cap);
int tl_trust_load_policy(tl_trust *t, const char *path, char *err, size_t cap);
void tl_trust_release(tl_trust *t);

/*
 * Verifies a signed checkpoint note: the log's signature (and, with a
 * policy, the cosignatures and quorum; the log is the one whose key name is
 * the origin). On success fills *cp; cp->ext borrows from note. Returns
 * TL_OK, TL_ERR_SIG or TL_ERR_INVALID with a one-line reason in err.
 */
int tl_trust_verify_checkpoint(const tl_trust *t, const char *note, size_t len, tl_checkpoint *cp,
                               char *err, size_t cap);

/* Verifies a tlog-proof (text) for an entry: checkpoint trust, then the
 * inclusion of SHA-256(0x00 || entry). Fills *index and *cp when not NULL. */
int tl_verify_proof(const tl_trust *t, const char *proof, size_t prooflen, const uint8_t *entry,
                    size_t entrylen, uint64_t *index, tl_checkpoint *cp, char *err, size_t cap);

/* Reads a whole file ("-" is stdin) into b, at most max bytes (TL_ERR_TOOBIG),
 * with common/file.h's tl_file_read; err names path on failure. */
int tl_read_file(const char *path, size_t max, tl_buf *b, char *err, size_t cap);
/* Writes data to path atomically with common/file.h's tl_file_write_atomic
 * (temporary file, fsync, rename, fsync of the folder; mode 0644 less the
 * umask); err names path on failure. */
int tl_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t cap);

/* ---- HTTP (libcurl) --------------------------------------------------- */

/* The bearer token of an audit log: the first line of --token-file FILE
 * when file is not NULL, else $TLOG_TOKEN, else none (*token = NULL,
 * TL_OK). On success *token is malloc'd (the caller frees it). A file that
 * cannot be read or holds no token is an error with its reason in err. */
int tl_token_load(const char *file, char **token, char *err, size_t cap);

typedef struct tl_http_opts {
    const char *ca_file;         /* --ca FILE, or NULL for the system store */
    long connect_timeout;        /* seconds */
    long timeout;                /* seconds, whole request */
    int retries;                 /* bounded retries on 503 and network errors */
    int h2c;                     /* HTTP/2 with prior knowledge on http:// */
    int max_conns;               /* connections per host (HTTP/1.1 fallback) */
    const char *token;           /* bearer token for audit logs, or NULL (never logged) */
    const char *content_type;    /* of request bodies; NULL: application/octet-stream */
    volatile sig_atomic_t *stop; /* when set and nonzero: give up waiting (signal) */
} tl_http_opts;

void tl_http_opts_default(tl_http_opts *o);

typedef struct tl_http tl_http; /* opaque: a base URL + a curl multi handle */

int tl_http_new(const tl_http_opts *o, const char *base_url, tl_http **out, char *err, size_t cap);
void tl_http_free(tl_http *h);
/* The base URL without trailing slashes (borrowed). */
const char *tl_http_base(const tl_http *h);
/* Sets the Content-Type of the next request bodies (borrowed; NULL:
 * application/octet-stream). */
void tl_http_set_content_type(tl_http *h, const char *content_type);

/*
 * One request (GET, or POST when body != NULL) to base + "/" + path, with
 * retries on 503 (honouring Retry-After) and transient network errors.
 * resp receives the body (at most max bytes). *status gets the final HTTP
 * status. Returns TL_OK when a response arrived (any status), TL_ERR_NETWORK
 * / TL_ERR_TIMEOUT / TL_ERR_TOOBIG with a reason in err otherwise.
 */
int tl_http_request(tl_http *h, const char *path, const void *body, size_t bodylen,
                    const char *accept, size_t max, tl_buf *resp, long *status, char *err,
                    size_t cap);

/* Asynchronous GETs, many in flight on one HTTP/2 connection (the fetcher
 * of client/h2.h for https:// and --h2c; a few HTTP/1.1 connections through
 * libcurl otherwise, or when the server does not speak HTTP/2). A request is
 * owned by the caller; its body buffer is filled by the library. */
typedef struct tl_fetch {
    char path[128];
    size_t max;  /* body limit */
    tl_buf body; /* response body */
    long status; /* final HTTP status */
    int done;    /* set when finished (status or err valid) */
    int err;     /* TL_OK, or TL_ERR_NETWORK / TL_ERR_TOOBIG / ... */
    char errmsg[256];
    /* private to http.c */
    int attempts;
    int refusals; /* resent at once: the server had not processed it */
    double not_before;
    void *easy;
    void *priv;
    struct tl_fetch *next;          /* delayed list */
    struct tl_fetch *anext, *aprev; /* active list */
} tl_fetch;

/* Queues f (path and max set by the caller; body is reset). */
int tl_http_fetch_start(tl_http *h, tl_fetch *f);
/* Runs transfers until at least one queued fetch finishes (or none is
 * pending). Returns the number still pending, or a negative error. */
int tl_http_fetch_wait(tl_http *h);
/* Fetches started and not finished. */
int tl_http_pending(const tl_http *h);
/* Makes a tl_http_fetch_wait in another thread return early (thread-safe). */
void tl_http_wakeup(tl_http *h);
/* Aborts every pending fetch (for error paths). */
void tl_http_fetch_cancel_all(tl_http *h);

/* ---- audit events: tlog event add | verify | search (event.c) ---------- */

/* What `tlog event` was given; every pointer borrowed. */
typedef struct tl_event_opts {
    const char *out; /* add: -o OUT, or NULL for stdout */
    int quiet, json; /* -q, --json */
    const char *actor, *action, *resource_type, *resource_id, *outcome; /* search */
    const char *since, *until;                                          /* search */
    uint64_t limit;                                                     /* search: results */
} tl_event_opts;

/*
 * Checks that an event, its salt and its record belong together: the
 * record is a record (the exact form), the salt 32 bytes of base64, and
 * the record's commitment SHA-256(salt || JCS(event)). event is
 * canonicalized again (a receipt reformatted by a JSON tool still holds).
 * On success *time_ms (when not NULL) is the record's log time. TL_OK, or
 * TL_ERR_INVALID / TL_ERR_PROOF with what failed in err.
 */
int tl_event_check(tl_hasher *h, const json_t *event, const char *salt_b64, const char *record,
                   size_t record_len, uint64_t *time_ms, char *err, size_t cap);

/* Verifies one receipt (the contract's "Receipts") against t: the
 * commitment (tl_event_check) and the record's tlog-proof (log signature,
 * cosignature quorum, inclusion). Fills *index and *cp when not NULL.
 * Returns as tl_verify_proof, with a one-line reason in err. */
int tl_receipt_verify(const tl_trust *t, tl_hasher *h, const json_t *receipt, uint64_t *index,
                      tl_checkpoint *cp, char *err, size_t cap);

/* The commands; each returns its exit status (TL_EXIT_*) and says why on
 * stderr. t may hold no key (add: then receipts are not verified). */
int tl_event_add(tl_http *h, const tl_trust *t, const char *file, const tl_event_opts *o);
int tl_event_verify(const tl_trust *t, const char *const *files, int n, const tl_event_opts *o);
int tl_event_search(tl_http *h, const tl_trust *t, const tl_event_opts *o);

/* ---- audit and monitor ------------------------------------------------ */

/* What an audit remembers between runs (--state FILE). */
typedef struct tl_audit_state {
    int have;   /* zero: no previous run */
    char *note; /* the last verified signed checkpoint, verbatim; malloc'd */
    size_t note_len;
    char origin[TL_ORIGIN_MAX + 1];
    uint64_t size;
    tl_hash root;
    tl_frontier frontier; /* right frontier of size (checked on load) */
    int have_time;        /* audit logs: last_time is known */
    uint64_t last_time;   /* audit logs: the log time of entry size - 1 */
} tl_audit_state;

void tl_audit_state_release(tl_audit_state *s);
/* Loads a state file; a missing file is an empty state. */
int tl_audit_state_load(const char *path, tl_hasher *h, tl_audit_state *s, char *err, size_t cap);
int tl_audit_state_save(const char *path, const tl_audit_state *s, char *err, size_t cap);

/* What kind of log an audit expects (--kind): as GET /audit/v1/log says
 * (a 404 there: a blob log), or forced. */
typedef enum tl_log_kind { TL_KIND_AUTO = 0, TL_KIND_BLOB, TL_KIND_AUDIT } tl_log_kind;

typedef struct tl_audit_opts {
    int quiet;
    int json;
    int window;       /* level-0 tiles in flight */
    tl_log_kind kind; /* --kind */
    int have_token;   /* a bearer token is set: fetch and check the event bodies */
    int threads;      /* hashing threads; 0: one, or one a core (at most 8) for bodies */
} tl_audit_opts;

#define TL_AUDIT_ERASED_LIST 10 /* erased indexes a result names */

typedef struct tl_audit_result {
    uint64_t old_size, new_size;
    uint64_t entries; /* entries hashed and checked */
    uint64_t bytes;   /* bytes of entry bundles and tiles read */
    uint64_t fetches;
    double seconds;
    int fork;           /* a fork or rollback: evidence_* are set */
    char *evidence_old; /* the saved signed checkpoint, verbatim; malloc'd */
    char *evidence_new; /* the log's conflicting signed checkpoint; malloc'd */
    /* audit logs (CONTRACT.md "tlog with audit logs") */
    int audit_log;   /* every new entry was checked to be a record, times in order */
    int bodies;      /* the event bodies were fetched and every commitment checked */
    uint64_t events; /* commitments checked (bodies not erased) */
    uint64_t erased; /* erased events among the new entries */
    uint64_t erased_idx[TL_AUDIT_ERASED_LIST]; /* the first min(erased, LIST) of them */
    int fatal; /* retrying cannot help (the token was refused: 401, 403) */
} tl_audit_result;

/* Frees the evidence of a result. */
void tl_audit_result_release(tl_audit_result *r);

/*
 * One audit run: fetch and verify the checkpoint, then every tile and entry
 * bundle that holds something newer than state; check consistency with the
 * state's checkpoint (printing both checkpoints on a fork); on success
 * replace *state with the new checkpoint. Returns TL_OK, TL_ERR_SIG /
 * TL_ERR_PROOF / TL_ERR_CONFLICT (verification), or TL_ERR_NETWORK / ...
 * with a reason in err.
 */
int tl_audit_run(tl_http *http, const tl_trust *t, const tl_audit_opts *o, tl_audit_state *state,
                 tl_audit_result *res, char *err, size_t cap);

/* Prints what an audit-log run checked to f, as lines "tlog: CMD: ...":
 * the erased events (a bounded list of indexes) and, when no bodies were
 * checked, that only the public part was (once: then *said_public is set).
 * Nothing for a blob log, or for a run that found nothing new. */
void tl_audit_report(FILE *f, const char *cmd, const tl_audit_result *r, int *said_public);

/*
 * The checks of an audit log's entries, one entry bundle at a time (the
 * auditor runs them on every bundle it has verified against the tree):
 *
 * tl_audit_check_records: the first w entries of bundle (tlog-tiles
 * encoding, length-prefixed; already parsed once, so well framed) must each
 * be a record in its exact byte form (audit/record.h: it parses and formats
 * back to the same bytes), and their log times must never decrease, from
 * *prev (the time of entry base - 1, or 0 when unknown) on. path names the
 * bundle in messages. On TL_OK, commitments[i] holds entry base+i's
 * commitment, *first (when not NULL) the first entry's time and *prev the
 * last one's. Otherwise TL_ERR_INVALID (not
 * a record) or TL_ERR_PROOF (a time going back), with index, expected and
 * got in err.
 *
 * tl_audit_check_bodies: nd is what GET /audit/v1/bodies/<path> answered
 * for entries [base, base + w): exactly w NDJSON lines in index order,
 * {"index":I,"event":{...},"salt":"<b64 of 32 bytes>"} or
 * {"index":I,"erased_by":J} (J > I), and nothing else. Each event is
 * canonicalized again (RFC 8785) and SHA-256(salt || canonical) must be
 * commitments[I - base]. The indexes of erased events that are at least
 * from are appended to erased (*nerased of them; room for w). No event
 * content goes into err. TL_OK, or TL_ERR_PROOF (a commitment differs),
 * TL_ERR_INVALID (a malformed answer), TL_ERR_NOMEM.
 */
int tl_audit_check_records(const uint8_t *bundle, size_t len, uint64_t base, unsigned w,
                           const char *path, uint64_t *prev, uint64_t *first, tl_hash *commitments,
                           char *err, size_t cap);
int tl_audit_check_bodies(tl_hasher *h, const uint8_t *nd, size_t len, uint64_t base, unsigned w,
                          const char *path, const tl_hash *commitments, uint64_t from,
                          uint64_t *erased, unsigned *nerased, char *err, size_t cap);

/* ---- progress --------------------------------------------------------- */

typedef struct tl_progress {
    int mode;       /* 0 off, 1 TTY bar, 2 plain lines */
    uint64_t total; /* entries to do */
    double start;
    double last;
} tl_progress;

void tl_progress_start(tl_progress *p, int quiet, uint64_t total);
void tl_progress_update(tl_progress *p, uint64_t done);
void tl_progress_end(tl_progress *p, uint64_t done);

#endif
