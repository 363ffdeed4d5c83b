/*
 * wt_tree.c - synthetic trees, checkpoints and add-checkpoint bodies for the
 * witness tests and benchmark (see wt_tree.h). Every complete node of the
 * tree is computed once and kept, level by level.
 */
#include "tests/witness/wt_tree.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/err.h"
#include "signer/checkpoint.h"

struct wt_tree {
    uint64_t max;
    int nlevels;
    tl_hash *levels[64]; /* levels[l] has max >> l complete nodes */
    tl_hasher *h;
};

wt_tree *wt_tree_new(const char *seed, uint64_t max)
{
    wt_tree *t = calloc(1, sizeof(*t));
    if (!t || !(t->h = tl_hasher_new()))
        goto fail;
    t->max = max;
    for (int l = 0; l < 64 && (max >> l) > 0; l++) {
        uint64_t n = max >> l;
        t->levels[l] = malloc(n * sizeof(tl_hash));
        if (!t->levels[l])
            goto fail;
        t->nlevels = l + 1;
        for (uint64_t i = 0; i < n; i++) {
            if (l == 0) {
                char leaf[128];
                int len = snprintf(leaf, sizeof(leaf), "%s-%" PRIu64, seed, i);
                tl_hash_leaf(t->h, leaf, (size_t)len, &t->levels[0][i]);
            } else {
                tl_hash_node(t->h, &t->levels[l - 1][2 * i], &t->levels[l - 1][2 * i + 1],
                             &t->levels[l][i]);
            }
        }
    }
    return t;
fail:
    wt_tree_free(t);
    return NULL;
}

void wt_tree_free(wt_tree *t)
{
    if (!t)
        return;
    for (int l = 0; l < 64; l++)
        free(t->levels[l]);
    tl_hasher_free(t->h);
    free(t);
}

static int tree_read(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    wt_tree *t = ctx;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].level >= t->nlevels || nodes[i].index >= (t->max >> nodes[i].level))
            return TL_ERR_NOTFOUND;
        out[i] = t->levels[nodes[i].level][nodes[i].index];
    }
    return TL_OK;
}

tl_hash_reader wt_tree_reader(wt_tree *t)
{
    tl_hash_reader r = {tree_read, t};
    return r;
}

static int root_h(wt_tree *t, tl_hasher *h, uint64_t size, tl_hash *root)
{
    tl_hash_reader r = wt_tree_reader(t);
    return tl_tree_hash(&r, h, size, root);
}

static int proof_h(wt_tree *t, tl_hasher *h, uint64_t old, uint64_t size, tl_hash *proof,
                   size_t *len)
{
    tl_hash_reader r = wt_tree_reader(t);
    *len = 0;
    if (old == 0 || old >= size)
        return TL_OK;
    return tl_prove_consistency(&r, h, old, size, proof, len);
}

int wt_tree_root(wt_tree *t, uint64_t size, tl_hash *root)
{
    return root_h(t, t->h, size, root);
}

int wt_tree_proof(wt_tree *t, uint64_t old, uint64_t size, tl_hash *proof, size_t *len)
{
    return proof_h(t, t->h, old, size, proof, len);
}

char *wt_checkpoint(const tl_signer *s, const char *origin, uint64_t size, const tl_hash *root)
{
    char *body = NULL, *note = NULL;
    size_t blen = 0, nlen = 0;
    if (tl_checkpoint_format(origin, size, root, &body, &blen) != TL_OK)
        return NULL;
    if (tl_note_sign(s, body, blen, &note, &nlen) != TL_OK)
        note = NULL;
    free(body);
    return note;
}

int wt_request(tl_buf *out, uint64_t old, const tl_hash *proof, size_t len, const char *note)
{
    tl_buf_reset(out);
    int rc = tl_buf_addf(out, "old %" PRIu64 "\n", old);
    for (size_t i = 0; i < len && rc == TL_OK; i++) {
        char b64[TL_B64_LEN(32) + 1];
        tl_b64_encode(proof[i].b, 32, b64);
        rc = tl_buf_addf(out, "%s\n", b64);
    }
    if (rc == TL_OK)
        rc = tl_buf_adds(out, "\n");
    if (rc == TL_OK)
        rc = tl_buf_adds(out, note);
    return rc;
}

int wt_tree_request(wt_tree *t, const tl_signer *s, const char *origin, uint64_t old, uint64_t size,
                    tl_buf *out)
{
    return wt_tree_request_h(t, t->h, s, origin, old, size, out);
}

int wt_tree_request_h(wt_tree *t, tl_hasher *h, const tl_signer *s, const char *origin,
                      uint64_t old, uint64_t size, tl_buf *out)
{
    tl_hash root, proof[TL_MAX_PROOF];
    size_t len = 0;
    int rc = root_h(t, h, size, &root);
    if (rc == TL_OK)
        rc = proof_h(t, h, old, size, proof, &len);
    if (rc != TL_OK)
        return rc;
    char *note = wt_checkpoint(s, origin, size, &root);
    if (!note)
        return TL_ERR_CRYPTO;
    rc = wt_request(out, old, proof, len, note);
    free(note);
    return rc;
}
