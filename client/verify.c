/*
 * verify.c - what `tlog` trusts and how it checks it, with no network:
 * loading a log key or a C2SP tlog-policy, verifying a signed checkpoint
 * against either (signed-note §Signatures, tlog-cosignature, tlog-policy),
 * and verifying a C2SP tlog-proof for an entry (tlog-proof §Format;
 * RFC 9162 §2.1.3.2 inclusion).
 *
 * Guarantees: a proof is accepted only when the log's Ed25519 signature is
 * valid, the origin is the key's name, the quorum holds (policy), and the
 * inclusion proof of SHA-256(0x00 || entry) reaches the checkpoint's root.
 * Each failure gets a one-line reason saying which of these failed.
 */
#include "client/client.h"
#include "signer/tlogproof.h"
#include "common/b64.h"
#include "common/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tl_read_file(const char *path, size_t max, tl_buf *b, char *err, size_t cap)
{
    char *data = NULL;
    size_t len = 0;
    int rc = strcmp(path, "-") == 0 ? tl_file_read_fd(0, max, &data, &len)
                                    : tl_file_read(path, max, &data, &len);
    tl_buf_reset(b);
    if (rc == TL_OK)
        tl_buf_attach(b, data, len);
    else if (rc == TL_ERR_TOOBIG)
        snprintf(err, cap, "%s: larger than %zu bytes", path, max);
    else
        snprintf(err, cap, "%s: %s", path, strerror(errno));
    return rc;
}

int tl_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t cap)
{
    int rc = tl_file_write_atomic(path, data, len, 0644);
    if (rc == TL_ERR_INVALID)
        snprintf(err, cap, "%s: path too long", path);
    else if (rc != TL_OK)
        snprintf(err, cap, "%s: %s", path, strerror(errno));
    return rc;
}

int tl_token_load(const char *file, char **token, char *err, size_t cap)
{
    *token = NULL;
    tl_buf b;
    tl_buf_init(&b);
    const char *src;
    size_t len;
    if (file != NULL) {
        int rc = tl_read_file(file, 4096, &b, err, cap);
        if (rc != TL_OK)
            return rc;
        src = (const char *)b.data;
        len = b.len;
    } else {
        src = getenv("TLOG_TOKEN");
        if (src == NULL || src[0] == 0)
            return TL_OK;
        len = strlen(src);
    }
    /* The first line, without surrounding blanks. */
    size_t n = 0;
    while (n < len && src[n] != '\n' && src[n] != '\r')
        n++;
    size_t start = 0;
    while (start < n && (src[start] == ' ' || src[start] == '\t'))
        start++;
    while (n > start && (src[n - 1] == ' ' || src[n - 1] == '\t'))
        n--;
    int ok = n > start;
    for (size_t i = start; ok && i < n; i++)
        ok = src[i] > 0x20 && src[i] < 0x7f;
    if (!ok) {
        snprintf(err, cap, "%s: no token (one line of printable characters)",
                 file ? file : "$TLOG_TOKEN");
        tl_buf_release(&b);
        return TL_ERR_INVALID;
    }
    *token = strndup(src + start, n - start);
    tl_buf_release(&b);
    if (*token == NULL) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    return TL_OK;
}

/* ---- trust ------------------------------------------------------------ */

int tl_trust_load_key(tl_trust *t, const char *arg, char *err, size_t cap)
{
    /* A key string first; if it does not parse, a file holding one. */
    if (tl_verifier_parse(arg, &t->key) == TL_OK)
        goto check;
    tl_buf b = TL_BUF_INIT;
    char ferr[TL_ERRMSG];
    int rc = tl_read_file(arg, 4096, &b, ferr, sizeof(ferr));
    if (rc != TL_OK) {
        if (strchr(arg, '+') && access(arg, F_OK) != 0)
            snprintf(err, cap, "--key %s: not a valid verifier key (<name>+<hex8>+<base64>)", arg);
        else
            snprintf(err, cap, "--key: %s", ferr);
        tl_buf_release(&b);
        return rc == TL_ERR_IO ? TL_ERR_INVALID : rc;
    }
    /* One line, an optional final newline. */
    char *s = (char *)b.data;
    rc = tl_verifier_parse(s, &t->key);
    tl_buf_release(&b);
    if (rc != TL_OK) {
        snprintf(err, cap, "--key %s: file does not hold a valid verifier key", arg);
        return TL_ERR_INVALID;
    }
check:
    if (tl_verifier_type(t->key) != TL_KEY_ED25519) {
        snprintf(err, cap, "--key: %s is not an Ed25519 log key (type 0x01)",
                 tl_verifier_name(t->key));
        tl_verifier_free(t->key);
        t->key = NULL;
        return TL_ERR_INVALID;
    }
    return TL_OK;
}

int tl_trust_load_policy(tl_trust *t, const char *path, char *err, size_t cap)
{
    char perr[TL_ERRMSG] = "";
    int rc = tl_policy_load(path, &t->policy, perr, sizeof(perr));
    if (rc != TL_OK) {
        snprintf(err, cap, "--policy %s: %s", path, perr[0] ? perr : tl_strerror(rc));
        return rc == TL_ERR_IO ? TL_ERR_IO : TL_ERR_INVALID;
    }
    return TL_OK;
}

void tl_trust_release(tl_trust *t)
{
    tl_verifier_free(t->key);
    tl_policy_free(t->policy);
    t->key = NULL;
    t->policy = NULL;
}

int tl_trust_verify_checkpoint(const tl_trust *t, const char *note, size_t len, tl_checkpoint *cp,
                               char *err, size_t cap)
{
    if (t->policy) {
        char perr[TL_ERRMSG] = "";
        int rc = tl_policy_verify_checkpoint(t->policy, note, len, cp, perr, sizeof(perr));
        if (rc != TL_OK) {
            snprintf(err, cap, "checkpoint: %s", perr[0] ? perr : tl_strerror(rc));
            return rc == TL_ERR_INVALID ? TL_ERR_INVALID : TL_ERR_SIG;
        }
        return TL_OK;
    }
    tl_note n;
    int rc = tl_note_parse(note, len, &n);
    if (rc != TL_OK) {
        snprintf(err, cap, "checkpoint: not a valid signed note (%s)", tl_strerror(rc));
        return TL_ERR_INVALID;
    }
    rc = tl_note_verify(&n, t->key);
    if (rc == TL_ERR_NOTFOUND) {
        snprintf(err, cap, "checkpoint: no signature by the log key %s+%08x",
                 tl_verifier_name(t->key), (unsigned)tl_verifier_keyid(t->key));
        rc = TL_ERR_SIG;
    } else if (rc != TL_OK) {
        snprintf(err, cap, "checkpoint: the log signature by %s does not verify",
                 tl_verifier_name(t->key));
        rc = TL_ERR_SIG;
    } else {
        rc = tl_checkpoint_parse(n.text, n.text_len, cp);
        if (rc != TL_OK) {
            snprintf(err, cap, "checkpoint: signed, but not a valid tlog-checkpoint body");
            rc = TL_ERR_INVALID;
        } else if (strcmp(cp->origin, tl_verifier_name(t->key)) != 0) {
            snprintf(err, cap, "checkpoint: origin \"%s\" is not the key's name \"%s\"", cp->origin,
                     tl_verifier_name(t->key));
            rc = TL_ERR_SIG;
        } else if (cp->ext) {
            /* Re-point the extension lines into the caller's note. */
            cp->ext = note + (cp->ext - n.text);
        }
    }
    tl_note_release(&n);
    return rc;
}

int tl_verify_proof(const tl_trust *t, const char *proof, size_t prooflen, const uint8_t *entry,
                    size_t entrylen, uint64_t *index, tl_checkpoint *cpout, char *err, size_t cap)
{
    tl_tlogproof p;
    memset(&p, 0, sizeof(p));
    int rc = tl_tlogproof_parse(proof, prooflen, &p);
    if (rc != TL_OK) {
        snprintf(err, cap, "proof: not a valid c2sp.org/tlog-proof@v1 file (%s)", tl_strerror(rc));
        return TL_ERR_INVALID;
    }
    tl_checkpoint cp;
    rc = tl_trust_verify_checkpoint(t, p.checkpoint, p.checkpoint_len, &cp, err, cap);
    if (rc != TL_OK)
        goto out;
    if (p.index >= cp.size) {
        snprintf(err, cap, "proof: index %llu is not in the checkpoint's tree of size %llu",
                 (unsigned long long)p.index, (unsigned long long)cp.size);
        rc = TL_ERR_PROOF;
        goto out;
    }
    tl_hasher *h = tl_hasher_new();
    if (h == NULL) {
        rc = TL_ERR_NOMEM;
        snprintf(err, cap, "out of memory");
        goto out;
    }
    tl_hash leaf, root;
    tl_hash_leaf(h, entry, entrylen, &leaf);
    rc = tl_root_from_inclusion(h, &leaf, p.index, cp.size, p.proof, p.proof_len, &root);
    tl_hasher_free(h);
    if (rc == TL_ERR_INVALID || rc == TL_ERR_RANGE) {
        snprintf(err, cap,
                 "proof: inclusion proof has %zu hashes, wrong for index %llu in size %llu",
                 p.proof_len, (unsigned long long)p.index, (unsigned long long)cp.size);
        rc = TL_ERR_PROOF;
    } else if (rc != TL_OK || memcmp(root.b, cp.root.b, TL_HASH_SIZE) != 0) {
        char want[TL_B64_LEN(TL_HASH_SIZE) + 1], got[TL_B64_LEN(TL_HASH_SIZE) + 1];
        tl_b64_encode(cp.root.b, TL_HASH_SIZE, want);
        tl_b64_encode(root.b, TL_HASH_SIZE, got);
        snprintf(err, cap,
                 "inclusion: entry (leaf hash SHA-256(0x00||entry)) is not at index %llu of the "
                 "checkpointed tree: root expected %s, proof gives %s",
                 (unsigned long long)p.index, want, got);
        rc = TL_ERR_PROOF;
    }
    if (rc == TL_OK) {
        if (index)
            *index = p.index;
        if (cpout) {
            *cpout = cp;
            cpout->ext = NULL; /* borrowed from p, freed below */
            cpout->ext_len = 0;
        }
    }
out:
    tl_tlogproof_release(&p);
    return rc;
}
