/*
 * logsigner_local.c - the log's keys in files of its folder, used in this
 * process (logsigner.h):
 *   log.key      C2SP signed-note Ed25519 signer key (0600)
 *   log.vkey     its verifier key line (name = the log's origin)
 *   rfc6962.key  ECDSA P-256 private key, PEM (0600)
 *   rfc6962.pub  its public key, PEM
 * Secret key text is wiped from memory once parsed; the keys are freed (and
 * wiped by their own free functions) with the signer.
 */
#include "signer/logsigner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "signer/checkpoint.h"

typedef struct local {
    tl_logsigner pub;
    tl_signer *note_key;
    tl_verifier *verifier;
    tl_sth_key *sth;
    char *vkey;
} local;

static int local_sign_note(tl_logsigner *s, const char *text, size_t len, char **note,
                           size_t *notelen)
{
    return tl_note_sign(((local *)s)->note_key, text, len, note, notelen);
}

static int local_sign_sth(tl_logsigner *s, uint64_t timestamp_ms, uint64_t size,
                          const tl_hash *root, uint8_t **sig, size_t *siglen)
{
    return tl_sth_sign(((local *)s)->sth, timestamp_ms, size, root, sig, siglen);
}

static void local_free(tl_logsigner *s)
{
    local *l = (local *)s;
    tl_signer_free(l->note_key);
    tl_verifier_free(l->verifier);
    tl_sth_key_free(l->sth);
    free(l->vkey);
    free(l);
}

static const struct tl_logsigner_ops local_ops = {local_sign_note, local_sign_sth, local_free};

static void path_join(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Fills the public part from the note key; takes note_key and sth. */
static int finish(local *l, char *err, size_t cap)
{
    int rc = tl_signer_vkey(l->note_key, &l->vkey);
    if (rc == TL_OK)
        rc = tl_verifier_parse(l->vkey, &l->verifier);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot derive the verifier key: %s", tl_strerror(rc));
        return rc;
    }
    l->pub.ops = &local_ops;
    l->pub.origin = tl_signer_name(l->note_key);
    l->pub.vkey = l->vkey;
    l->pub.verifier = l->verifier;
    l->pub.sth_public = l->sth;
    return TL_OK;
}

void tl_logsigner_remove_local(const char *dir)
{
    static const char *const names[] = {"log.key", "log.vkey", "rfc6962.key", "rfc6962.pub"};
    char p[4096];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        path_join(p, sizeof(p), dir, names[i]);
        unlink(p);
    }
}

int tl_logsigner_create_local(const char *dir, const char *origin, tl_logsigner **out, char *err,
                              size_t cap)
{
    char pk[4096], pv[4096], ps[4096], pp[4096];
    local *l = calloc(1, sizeof(*l));
    int rc;
    *out = NULL;
    if (!l) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    rc = tl_signer_generate(origin, TL_KEY_ED25519, &l->note_key);
    if (rc == TL_OK)
        rc = tl_sth_key_generate(&l->sth);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot generate keys: %s", tl_strerror(rc));
        local_free(&l->pub);
        return rc;
    }
    path_join(pk, sizeof(pk), dir, "log.key");
    path_join(pv, sizeof(pv), dir, "log.vkey");
    path_join(ps, sizeof(ps), dir, "rfc6962.key");
    path_join(pp, sizeof(pp), dir, "rfc6962.pub");
    rc = tl_signer_write(l->note_key, pk, pv);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot write %s / %s: %s", pk, pv, tl_strerror(rc));
    } else {
        rc = tl_sth_key_write(l->sth, ps, pp);
        if (rc != TL_OK)
            snprintf(err, cap, "cannot write %s / %s: %s", ps, pp, tl_strerror(rc));
    }
    if (rc == TL_OK)
        rc = finish(l, err, cap);
    if (rc != TL_OK) {
        tl_logsigner_remove_local(dir);
        local_free(&l->pub);
        return rc;
    }
    *out = &l->pub;
    return TL_OK;
}

int tl_logsigner_open_local(const char *dir, tl_logsigner **out, char *err, size_t cap)
{
    char p[4096];
    tl_verifier *onfile = NULL;
    char *fmt = NULL;
    local *l = calloc(1, sizeof(*l));
    int rc;
    *out = NULL;
    if (!l) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    path_join(p, sizeof(p), dir, "log.key");
    rc = tl_signer_load(p, &l->note_key);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot read %s: %s", p,
                 rc == TL_ERR_INVALID ? "not a signer key" : tl_strerror(rc));
        goto fail;
    }
    if (tl_signer_type(l->note_key) != TL_KEY_ED25519) {
        snprintf(err, cap, "%s is not an Ed25519 signed-note key", p);
        rc = TL_ERR_INVALID;
        goto fail;
    }
    if (strlen(tl_signer_name(l->note_key)) > TL_ORIGIN_MAX) {
        snprintf(err, cap, "%s: key name too long", p);
        rc = TL_ERR_INVALID;
        goto fail;
    }
    rc = finish(l, err, cap);
    if (rc != TL_OK)
        goto fail;
    path_join(p, sizeof(p), dir, "log.vkey");
    rc = tl_verifier_load(p, &onfile);
    if (rc == TL_OK)
        rc = tl_verifier_format(onfile, &fmt);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot read %s: %s", p, tl_strerror(rc));
        goto fail;
    }
    if (strcmp(fmt, l->vkey) != 0) {
        snprintf(err, cap, "%s does not match the key in log.key", p);
        rc = TL_ERR_CONFLICT;
        goto fail;
    }
    path_join(p, sizeof(p), dir, "rfc6962.key");
    rc = tl_sth_key_load_private(p, &l->sth);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot load %s: %s", p, tl_strerror(rc));
        goto fail;
    }
    l->pub.sth_public = l->sth;
    tl_verifier_free(onfile);
    free(fmt);
    *out = &l->pub;
    return TL_OK;
fail:
    tl_verifier_free(onfile);
    free(fmt);
    local_free(&l->pub);
    return rc;
}
