/*
 * checkpoint.h - C2SP tlog-checkpoint bodies:
 *   <origin>\n<decimal size>\n<b64 root hash>\n[extension lines\n]
 * Parsing is strict: no leading zeros, canonical base64, non-empty origin,
 * no empty extension lines.
 */
#ifndef TL_SIGNER_CHECKPOINT_H
#define TL_SIGNER_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "merkle/merkle.h"

#define TL_ORIGIN_MAX 256

typedef struct tl_checkpoint {
    char origin[TL_ORIGIN_MAX + 1];
    uint64_t size;
    tl_hash root;
    /* Extension lines (borrowed from the parsed text; may be NULL/0). */
    const char *ext;
    size_t ext_len;
} tl_checkpoint;

int tl_checkpoint_parse(const char *text, size_t len, tl_checkpoint *out);
/* Formats the body (no extension lines); *out malloc'd. */
int tl_checkpoint_format(const char *origin, uint64_t size, const tl_hash *root, char **out,
                         size_t *outlen);

#endif
