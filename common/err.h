/*
 * err.h - the one error enum of tlogd.
 *
 * Every function that can fail returns 0 (TL_OK) on success or one of the
 * negative codes below. Proof and signature failures are distinct from I/O
 * failures so that callers (and HTTP status mapping) can tell "the data is
 * wrong" from "we could not read it". Third-party errors (LevelDB strings,
 * OpenSSL's error queue, nghttp2 codes) are translated at the boundary.
 */
#ifndef TL_COMMON_ERR_H
#define TL_COMMON_ERR_H

#include <stddef.h>

enum tl_err {
    TL_OK = 0,
    TL_ERR_NOMEM = -1,     /* allocation failed */
    TL_ERR_INVALID = -2,   /* malformed or non-canonical input */
    TL_ERR_RANGE = -3,     /* index or size out of range (e.g. beyond the tree) */
    TL_ERR_PROOF = -4,     /* a proof did not verify */
    TL_ERR_SIG = -5,       /* a signature did not verify / unknown key */
    TL_ERR_IO = -6,        /* storage or file-system failure */
    TL_ERR_CORRUPT = -7,   /* stored data fails its own checks */
    TL_ERR_NOTFOUND = -8,  /* no such item */
    TL_ERR_BUSY = -9,      /* pushback: queue full, try again later */
    TL_ERR_CONFLICT = -10, /* conflicts with signed state (fork, rollback) */
    TL_ERR_LOCKED = -11,   /* data folder in use by another process */
    TL_ERR_CLOCK = -12,    /* clock went backwards */
    TL_ERR_STOPPED = -13,  /* component has stopped (fatal state or shutdown) */
    TL_ERR_CRYPTO = -14,   /* OpenSSL failure */
    TL_ERR_TOOBIG = -15,   /* input over a configured limit */
    TL_ERR_NETWORK = -16,  /* network / HTTP failure talking to a peer */
    TL_ERR_TIMEOUT = -17,  /* deadline passed */
    TL_ERR_CLOSED = -18,   /* the log's period has ended: it takes no more entries */
};

/* Returns a static, human-readable string for an error code. */
const char *tl_strerror(int err);

/* Formats a one-line reason into err (cap bytes, truncated); does nothing
 * when err is NULL or cap is 0. */
void tl_errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
