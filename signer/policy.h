/*
 * policy.h - C2SP tlog-policy files: known logs, known witnesses (with
 * optional URLs), nested k-of-n groups and exactly one quorum line.
 * Parsing is strict; each mistake gets a one-line message naming the line.
 */
#ifndef TL_SIGNER_POLICY_H
#define TL_SIGNER_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "signer/note.h"

#define TL_POLICY_MAX 64 /* logs, witnesses and groups each */

typedef struct tl_policy_log {
    tl_verifier *key; /* TL_KEY_ED25519; its name is the log's origin */
    char *url;        /* may be NULL */
} tl_policy_log;

typedef struct tl_policy_witness {
    char *name;
    tl_verifier *key; /* TL_KEY_COSIG_V1 */
    char *url;        /* tlog-witness submission prefix; may be NULL */
} tl_policy_witness;

typedef struct tl_policy tl_policy; /* opaque */

/* Parses text; on failure returns TL_ERR_INVALID and writes a one-line reason
 * ("line 3: unknown name X") into err (cap bytes). */
int tl_policy_parse(const char *text, size_t len, tl_policy **out, char *err, size_t cap);
/* Reads and parses a file (TL_ERR_IO if unreadable). */
int tl_policy_load(const char *path, tl_policy **out, char *err, size_t cap);
void tl_policy_free(tl_policy *p);

size_t tl_policy_nlogs(const tl_policy *p);
const tl_policy_log *tl_policy_log_at(const tl_policy *p, size_t i);
/* The log whose key name equals origin, or NULL. */
const tl_policy_log *tl_policy_find_log(const tl_policy *p, const char *origin);
size_t tl_policy_nwitnesses(const tl_policy *p);
const tl_policy_witness *tl_policy_witness_at(const tl_policy *p, size_t i);
/* True when the quorum is `none`. */
int tl_policy_quorum_none(const tl_policy *p);

/* Decides the quorum: cosigned[i] is nonzero when witness i has a valid
 * cosignature. Returns 1 if the quorum is met, 0 if not. */
int tl_policy_quorum_met(const tl_policy *p, const unsigned char *cosigned);
/* The quorum rule, for a verifier elsewhere (the web console): groups in
 * the file's order, each k of its members; a member (and the quorum) is a
 * witness (index into tl_policy_witness_at) or an earlier group. */
typedef struct tl_policy_ref {
    int is_group;
    size_t idx;
} tl_policy_ref;
size_t tl_policy_ngroups(const tl_policy *p);
/* Group i's name, k and member count n (members by tl_policy_group_member). */
const char *tl_policy_group_at(const tl_policy *p, size_t i, size_t *k, size_t *n);
tl_policy_ref tl_policy_group_member(const tl_policy *p, size_t group, size_t j);
/* The quorum's root: 0 for `quorum none` (no ref), else 1 with *out set. */
int tl_policy_quorum_root(const tl_policy *p, tl_policy_ref *out);
/* Whether the quorum can be met at all using only witnesses with URLs. */
int tl_policy_quorum_reachable_with_urls(const tl_policy *p);

/* Verifies a whole signed checkpoint note against the policy: a log
 * signature by a listed log whose name is the origin, then the cosignatures
 * of the listed witnesses, then the quorum. On success fills *cp (if not
 * NULL). On failure writes a one-line reason into err. Returns TL_OK,
 * TL_ERR_SIG (bad/missing log signature or quorum not met), TL_ERR_INVALID. */
struct tl_checkpoint;
int tl_policy_verify_checkpoint(const tl_policy *p, const char *note, size_t len,
                                struct tl_checkpoint *cp, char *err, size_t cap);

#endif
