/*
 * tlogproof.h - C2SP tlog-proof files (c2sp.org/tlog-proof@v1):
 *
 *   c2sp.org/tlog-proof@v1
 *   [extra <b64>]            (optional, as the spec allows)
 *   index <decimal>
 *   <b64 hash>               (inclusion proof, one per line, 0..63)
 *   <blank line>
 *   <signed checkpoint note, with cosignatures>
 *
 * Parsing is strict and bounded.
 */
#ifndef TL_SIGNER_TLOGPROOF_H
#define TL_SIGNER_TLOGPROOF_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "merkle/merkle.h"

typedef struct tl_tlogproof {
    uint64_t index;
    tl_hash proof[TL_MAX_PROOF];
    size_t proof_len;
    char *checkpoint; /* the whole signed note, malloc'd */
    size_t checkpoint_len;
    uint8_t *extra; /* optional extra data, malloc'd, may be NULL */
    size_t extra_len;
} tl_tlogproof;

int tl_tlogproof_parse(const char *buf, size_t len, tl_tlogproof *out);
/* Formats; *out malloc'd. Checks first that p->checkpoint is a signed note
 * carrying a checkpoint of a tree that holds p->index (TL_ERR_INVALID if not). */
int tl_tlogproof_format(const tl_tlogproof *p, char **out, size_t *outlen);
/* Appends the same text to out without parsing p->checkpoint: only for a
 * caller that already holds it as such a checkpoint (tlogd, for its own
 * published head and an index below its size). */
int tl_tlogproof_append(const tl_tlogproof *p, tl_buf *out);
void tl_tlogproof_release(tl_tlogproof *p);

#endif
