/*
 * tlogproof.c - C2SP tlog-proof files (c2sp.org/tlog-proof@v1 §Format):
 *
 *   c2sp.org/tlog-proof@v1
 *   [extra <b64>]
 *   index <decimal, no leading zeros>
 *   <b64 SHA-256 hash>                 0..63 lines, leaf sibling first
 *   <empty line>
 *   <the signed checkpoint, verbatim>
 *
 * Guarantees: parsing is strict and bounded - canonical base64 and
 * decimals, at most TL_MAX_PROOF - 1 hashes, extra data at most
 * EXTRA_MAX bytes, and the trailing checkpoint must be a well-formed signed
 * note whose body is a well-formed checkpoint with index < tree size.
 * Signatures and the inclusion proof are NOT verified here (see
 * tl_policy_verify_checkpoint and merkle/).
 */
#include "signer/tlogproof.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/buf.h"
#include "common/dec.h"
#include "signer/checkpoint.h"
#include "signer/note.h"

#define HEADER "c2sp.org/tlog-proof@v1"
#define EXTRA_MAX 65536
#define PROOF_HASHES_MAX (TL_MAX_PROOF - 1) /* a tree of < 2^63 leaves */

void tl_tlogproof_release(tl_tlogproof *p)
{
    if (p == NULL)
        return;
    free(p->checkpoint);
    free(p->extra);
    memset(p, 0, sizeof *p);
}

/* Checks that buf[0..len) is a signed note carrying a checkpoint that holds
 * index; returns TL_OK or TL_ERR_INVALID. */
static int check_checkpoint(const char *buf, size_t len, uint64_t index)
{
    tl_checkpoint cp;
    tl_note n;
    int r;

    r = tl_note_parse(buf, len, &n);
    if (r != TL_OK)
        return r == TL_ERR_NOMEM ? r : TL_ERR_INVALID;
    r = tl_checkpoint_parse(n.text, n.text_len, &cp);
    tl_note_release(&n);
    if (r != TL_OK)
        return r == TL_ERR_NOMEM ? r : TL_ERR_INVALID;
    return index < cp.size ? TL_OK : TL_ERR_INVALID;
}

int tl_tlogproof_parse(const char *buf, size_t len, tl_tlogproof *out)
{
    tl_tlogproof p;
    size_t pos = 0, got = 0;
    const char *nl;
    size_t l;
    int r;

    memset(out, 0, sizeof *out);
    memset(&p, 0, sizeof p);
    if (len > TL_NOTE_MAX_SIZE + EXTRA_MAX * 2 + 8192)
        return TL_ERR_TOOBIG;
#define NEXT_LINE()                                                                                \
    do {                                                                                           \
        nl = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;                                \
        if (nl == NULL) {                                                                          \
            r = TL_ERR_INVALID;                                                                    \
            goto fail;                                                                             \
        }                                                                                          \
        l = (size_t)(nl - (buf + pos));                                                            \
    } while (0)
    NEXT_LINE();
    if (l != strlen(HEADER) || memcmp(buf, HEADER, l) != 0) {
        r = TL_ERR_INVALID;
        goto fail;
    }
    pos += l + 1;
    NEXT_LINE();
    if (l >= 6 && memcmp(buf + pos, "extra ", 6) == 0) {
        size_t blen = l - 6;
        if (blen == 0 || blen > TL_B64_LEN(EXTRA_MAX) || blen % 4 != 0) {
            r = TL_ERR_INVALID;
            goto fail;
        }
        p.extra = malloc(blen / 4 * 3);
        if (p.extra == NULL) {
            r = TL_ERR_NOMEM;
            goto fail;
        }
        r = tl_b64_decode(buf + pos + 6, blen, p.extra, blen / 4 * 3, &p.extra_len);
        if (r != TL_OK || p.extra_len == 0) {
            r = r == TL_ERR_NOMEM ? r : TL_ERR_INVALID;
            goto fail;
        }
        pos += l + 1;
        NEXT_LINE();
    }
    if (l < 7 || memcmp(buf + pos, "index ", 6) != 0 ||
        tl_dec_parse_u64(buf + pos + 6, l - 6, UINT64_MAX, &p.index) != TL_OK) {
        r = TL_ERR_INVALID;
        goto fail;
    }
    pos += l + 1;
    for (;;) {
        NEXT_LINE();
        if (l == 0)
            break;
        if (p.proof_len == PROOF_HASHES_MAX || l != TL_B64_LEN(TL_HASH_SIZE) ||
            tl_b64_decode(buf + pos, l, p.proof[p.proof_len].b, TL_HASH_SIZE, &got) != TL_OK ||
            got != TL_HASH_SIZE) {
            r = TL_ERR_INVALID;
            goto fail;
        }
        p.proof_len++;
        pos += l + 1;
    }
#undef NEXT_LINE
    pos += 1; /* the empty line */
    r = check_checkpoint(buf + pos, len - pos, p.index);
    if (r != TL_OK)
        goto fail;
    p.checkpoint_len = len - pos;
    p.checkpoint = malloc(p.checkpoint_len + 1);
    if (p.checkpoint == NULL) {
        r = TL_ERR_NOMEM;
        goto fail;
    }
    memcpy(p.checkpoint, buf + pos, p.checkpoint_len);
    p.checkpoint[p.checkpoint_len] = '\0';
    *out = p;
    return TL_OK;
fail:
    tl_tlogproof_release(&p);
    return r;
}

int tl_tlogproof_append(const tl_tlogproof *p, tl_buf *b)
{
    char line[TL_B64_LEN(TL_HASH_SIZE) + 1];
    size_t i, start = b->len;
    int r;

    if (p->proof_len > PROOF_HASHES_MAX || p->checkpoint == NULL || p->extra_len > EXTRA_MAX ||
        (p->extra_len > 0 && p->extra == NULL))
        return TL_ERR_INVALID;
    r = tl_buf_grow(b, sizeof(HEADER) + 32 + p->proof_len * sizeof line + p->checkpoint_len +
                           (p->extra_len > 0 ? TL_B64_LEN(p->extra_len) + 8 : 0));
    if (r == TL_OK)
        r = tl_buf_adds(b, HEADER "\n");
    if (r == TL_OK && p->extra_len > 0) {
        char *e = tl_b64_encode_alloc(p->extra, p->extra_len);
        r = e ? tl_buf_addf(b, "extra %s\n", e) : TL_ERR_NOMEM;
        free(e);
    }
    if (r == TL_OK)
        r = tl_buf_addf(b, "index %llu\n", (unsigned long long)p->index);
    for (i = 0; r == TL_OK && i < p->proof_len; i++) {
        tl_b64_encode(p->proof[i].b, TL_HASH_SIZE, line);
        line[TL_B64_LEN(TL_HASH_SIZE)] = '\n';
        r = tl_buf_add(b, line, sizeof line);
    }
    if (r == TL_OK)
        r = tl_buf_add(b, "\n", 1);
    if (r == TL_OK)
        r = tl_buf_add(b, p->checkpoint, p->checkpoint_len);
    if (r != TL_OK)
        b->len = start;
    return r;
}

int tl_tlogproof_format(const tl_tlogproof *p, char **out, size_t *outlen)
{
    tl_buf b = TL_BUF_INIT;
    int r;

    if (p->checkpoint == NULL)
        return TL_ERR_INVALID;
    r = check_checkpoint(p->checkpoint, p->checkpoint_len, p->index);
    if (r == TL_OK)
        r = tl_tlogproof_append(p, &b);
    if (r != TL_OK) {
        tl_buf_release(&b);
        return r;
    }
    *out = tl_buf_detach(&b, outlen);
    return TL_OK;
}
