/*
 * checkpoint.c - C2SP tlog-checkpoint note bodies (c2sp.org/tlog-checkpoint
 * §"Note text"): origin, tree size, root hash, optional extension lines.
 *
 * Guarantees: a parsed body is canonical - valid note text (UTF-8, no
 * control characters), non-empty origin of at most TL_ORIGIN_MAX bytes,
 * decimal size without leading zeros that fits in uint64, strict base64 of
 * exactly 32 bytes, every extension line non-empty, final newline present.
 */
#include "signer/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/buf.h"
#include "common/dec.h"
#include "signer/internal.h"
#include "signer/note.h"

/* Returns the length of the line at s (up to '\n'), or -1 if none. */
static long line_len(const char *s, size_t rem)
{
    const char *nl = memchr(s, '\n', rem);
    return nl ? (long)(nl - s) : -1;
}

int tl_checkpoint_parse(const char *text, size_t len, tl_checkpoint *out)
{
    tl_checkpoint cp;
    size_t pos = 0, got = 0;
    long l;

    memset(out, 0, sizeof *out);
    memset(&cp, 0, sizeof cp);
    if (len > TL_NOTE_MAX_SIZE)
        return TL_ERR_TOOBIG;
    if (len == 0 || text[len - 1] != '\n' || !tl_text_valid(text, len))
        return TL_ERR_INVALID;
    /* 1. origin */
    l = line_len(text, len);
    if (l <= 0 || l > TL_ORIGIN_MAX)
        return TL_ERR_INVALID;
    memcpy(cp.origin, text, (size_t)l);
    cp.origin[l] = '\0';
    pos = (size_t)l + 1;
    /* 2. tree size */
    if (pos >= len || (l = line_len(text + pos, len - pos)) <= 0 ||
        tl_dec_parse_u64(text + pos, (size_t)l, UINT64_MAX, &cp.size) != TL_OK)
        return TL_ERR_INVALID;
    pos += (size_t)l + 1;
    /* 3. root hash */
    if (pos >= len || (l = line_len(text + pos, len - pos)) != TL_B64_LEN(TL_HASH_SIZE) ||
        tl_b64_decode(text + pos, (size_t)l, cp.root.b, sizeof cp.root.b, &got) != TL_OK ||
        got != TL_HASH_SIZE)
        return TL_ERR_INVALID;
    pos += (size_t)l + 1;
    /* 4. extension lines: opaque, each non-empty. */
    if (pos < len) {
        size_t p;
        for (p = pos; p < len; p++)
            if (text[p] == '\n' && text[p - 1] == '\n')
                return TL_ERR_INVALID;
        cp.ext = text + pos;
        cp.ext_len = len - pos;
    }
    *out = cp;
    return TL_OK;
}

int tl_checkpoint_format(const char *origin, uint64_t size, const tl_hash *root, char **out,
                         size_t *outlen)
{
    char b64[TL_B64_LEN(TL_HASH_SIZE) + 1];
    tl_buf b = TL_BUF_INIT;
    size_t olen;

    olen = strnlen(origin, TL_ORIGIN_MAX + 1);
    if (olen == 0 || olen > TL_ORIGIN_MAX || memchr(origin, '\n', olen) != NULL ||
        !tl_text_valid(origin, olen))
        return TL_ERR_INVALID;
    tl_b64_encode(root->b, TL_HASH_SIZE, b64);
    if (tl_buf_addf(&b, "%s\n%llu\n%s\n", origin, (unsigned long long)size, b64) != TL_OK) {
        tl_buf_release(&b);
        return TL_ERR_NOMEM;
    }
    *out = tl_buf_detach(&b, outlen);
    return TL_OK;
}
