/*
 * logsigner.h - the log's signing key behind one small interface: it signs
 * the checkpoint notes (C2SP signed-note, Ed25519) and the RFC 6962 tree
 * head signatures (ECDSA P-256) of a log, and tells the public keys. The
 * log never holds a private key itself, so the key can live in another
 * process (OpenBSD-style privilege separation) or a hardware module by
 * implementing these operations, with no change to the sequencer.
 *
 * What a signer guarantees is only that it signs what it is given; the
 * rules about what may be signed (never two roots for one size, never a
 * smaller size, never an earlier timestamp) are the sequencer's and are
 * checked before it asks.
 *
 * Implementations: logsigner_local.c (keys in files of the log's folder,
 * in this process). Every operation may be called from any thread.
 */
#ifndef TL_SIGNER_LOGSIGNER_H
#define TL_SIGNER_LOGSIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "merkle/merkle.h"
#include "signer/note.h"
#include "signer/sth.h"

typedef struct tl_logsigner tl_logsigner;

struct tl_logsigner_ops {
    /* Signs a note's text (non-empty, ending in '\n'): *note (malloc'd) is
     * the text, a blank line and the log's signature line. */
    int (*sign_note)(tl_logsigner *s, const char *text, size_t len, char **note, size_t *notelen);
    /* RFC 6962 §3.5 TreeHeadSignature of (timestamp, size, root), as a TLS
     * digitally-signed struct; *sig malloc'd. */
    int (*sign_sth)(tl_logsigner *s, uint64_t timestamp_ms, uint64_t size, const tl_hash *root,
                    uint8_t **sig, size_t *siglen);
    void (*free)(tl_logsigner *s);
};

/* Every implementation starts with this; the public parts are set when it
 * is made and never change. */
struct tl_logsigner {
    const struct tl_logsigner_ops *ops;
    const char *origin;           /* the note key's name: the log's origin */
    const char *vkey;             /* the verifier key line (no newline) */
    const tl_verifier *verifier;  /* the same, parsed */
    const tl_sth_key *sth_public; /* verifies the tree head signatures */
};

static inline int tl_logsigner_sign_note(tl_logsigner *s, const char *text, size_t len, char **note,
                                         size_t *notelen)
{
    return s->ops->sign_note(s, text, len, note, notelen);
}
static inline int tl_logsigner_sign_sth(tl_logsigner *s, uint64_t timestamp_ms, uint64_t size,
                                        const tl_hash *root, uint8_t **sig, size_t *siglen)
{
    return s->ops->sign_sth(s, timestamp_ms, size, root, sig, siglen);
}
static inline void tl_logsigner_free(tl_logsigner *s)
{
    if (s)
        s->ops->free(s);
}

/* ---- keys in the log's folder (logsigner_local.c) ---------------------- */

/* tlogd init: writes fresh keys into dir (which exists): log.key (0600),
 * log.vkey, rfc6962.key (0600) and rfc6962.pub, never over an existing
 * file; on failure none of them is left. Returns the signer. */
int tl_logsigner_create_local(const char *dir, const char *origin, tl_logsigner **out, char *err,
                              size_t cap);
/* Loads the keys of dir, checking that log.vkey matches log.key and that
 * log.key is an Ed25519 signed-note key. */
int tl_logsigner_open_local(const char *dir, tl_logsigner **out, char *err, size_t cap);
/* Removes the key files tl_logsigner_create_local wrote (for an init that
 * fails after it). */
void tl_logsigner_remove_local(const char *dir);

#endif
