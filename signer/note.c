/*
 * note.c - C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, the
 * signer/verifier key strings of golang.org/x/mod/sumdb/note, and C2SP
 * cosignature/v1 (c2sp.org/tlog-cosignature, "Ed25519 signed message").
 *
 * Guarantees: every parser is bounded (TL_NOTE_MAX_SIZE, TL_NOTE_MAX_SIGS,
 * TL_NAME_MAX, SIG_MAX) and canonical (strict base64, lowercase 8-digit key
 * ids that must equal SHA-256(name || 0x0A || type || public key)[:4]).
 * Private seeds are wiped with OPENSSL_cleanse before their memory is freed.
 * Ed25519 goes through OpenSSL 3's EVP API only.
 */
#include "signer/note.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/b64.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/hex.h"
#include "signer/internal.h"

#define ED25519_LEN 32
#define ED25519_SIG_LEN 64
#define COSIG_LEN (8 + ED25519_SIG_LEN)
/* Decoded signature blob limit: key id + the largest post-quantum signature
 * (ML-DSA-87, 4627 bytes) with a timestamp, rounded up (signed-note §Format). */
#define SIG_MAX 5120
#define KEY_STR_MAX 2048
#define PRIV_PREFIX "PRIVATE+KEY+"
#define EM_DASH "\xE2\x80\x94 " /* U+2014 and a space: a signature line */

struct tl_signer {
    char *name;
    uint8_t type;
    uint32_t keyid;
    uint8_t seed[ED25519_LEN];
    uint8_t pub[ED25519_LEN];
    EVP_PKEY *pkey;
};

struct tl_verifier {
    char *name;
    uint8_t type;
    uint32_t keyid;
    uint8_t pub[ED25519_LEN];
    EVP_PKEY *pkey;
};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put_be64(uint8_t *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static int known_type(uint8_t type)
{
    return type == TL_KEY_ED25519 || type == TL_KEY_COSIG_V1;
}

/* signed-note §Signatures: key ID = SHA-256(name || 0x0A || type || pub)[:4]. */
static int compute_keyid(const char *name, uint8_t type, const uint8_t pub[ED25519_LEN],
                         uint32_t *id)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t sep[2] = {'\n', type};
    uint8_t md[32];
    unsigned int mdlen = 0;
    int ok;

    if (ctx == NULL)
        return TL_ERR_NOMEM;
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, name, strlen(name)) &&
         EVP_DigestUpdate(ctx, sep, 2) && EVP_DigestUpdate(ctx, pub, ED25519_LEN) &&
         EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return TL_ERR_CRYPTO;
    *id = get_be32(md);
    return TL_OK;
}

/* Decodes the 44 base64 characters of type || 32-byte key into raw. This
 * calls OpenSSL directly (not common/b64) so that a private seed is only
 * ever decoded into the caller's buffer, which the caller wipes. 33 bytes
 * are exactly 44 characters with no padding and no spare bits, so checking
 * the alphabet makes the encoding canonical. */
static int decode_key_b64(const char *s, size_t len, uint8_t raw[1 + ED25519_LEN])
{
    size_t i;

    if (len != TL_B64_LEN(1 + ED25519_LEN))
        return TL_ERR_INVALID;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return TL_ERR_INVALID;
    }
    if (EVP_DecodeBlock(raw, (const unsigned char *)s, (int)len) != 1 + ED25519_LEN)
        return TL_ERR_INVALID;
    return TL_OK;
}

/* Splits "<name>+<hex8>+<b64(type || 32 bytes)>" (s[0..len)): name is
 * copied out (malloc'd), the key bytes go to key (wiped on failure). */
static int split_key(const char *s, size_t len, char **name, uint32_t *keyid, uint8_t *type,
                     uint8_t key[ED25519_LEN])
{
    const char *plus = memchr(s, '+', len);
    size_t nlen, blen;
    uint8_t raw[1 + ED25519_LEN], id[4];
    int r;

    if (plus == NULL)
        return TL_ERR_INVALID;
    nlen = (size_t)(plus - s);
    if (!tl_name_valid(s, nlen, TL_NAME_MAX) || len - nlen < 1 + 8 + 1 || plus[9] != '+' ||
        tl_hex_decode(plus + 1, 8, id, sizeof id) != TL_OK)
        return TL_ERR_INVALID;
    *keyid = get_be32(id);
    blen = len - nlen - 10;
    r = decode_key_b64(plus + 10, blen, raw);
    if (r != TL_OK || !known_type(raw[0])) {
        OPENSSL_cleanse(raw, sizeof raw);
        return TL_ERR_INVALID;
    }
    *type = raw[0];
    memcpy(key, raw + 1, ED25519_LEN);
    OPENSSL_cleanse(raw, sizeof raw);
    *name = malloc(nlen + 1);
    if (*name == NULL) {
        OPENSSL_cleanse(key, ED25519_LEN);
        return TL_ERR_NOMEM;
    }
    memcpy(*name, s, nlen);
    (*name)[nlen] = '\0';
    return TL_OK;
}

/* Length of a key string without one optional trailing newline; 0 if it is
 * too long or holds a NUL-free newline elsewhere (caught by the parsers). */
static size_t key_len(const char *s)
{
    size_t n = strnlen(s, KEY_STR_MAX + 2);
    if (n > KEY_STR_MAX + 1)
        return 0;
    if (n > 0 && s[n - 1] == '\n')
        n--;
    return n;
}

/* ---- signers ------------------------------------------------------------ */

static int signer_from_seed(char *name, uint8_t type, const uint8_t seed[ED25519_LEN],
                            tl_signer **out)
{
    tl_signer *s = calloc(1, sizeof *s);
    size_t publen = ED25519_LEN;
    int r;

    if (s == NULL) {
        free(name);
        return TL_ERR_NOMEM;
    }
    s->name = name;
    s->type = type;
    memcpy(s->seed, seed, ED25519_LEN);
    s->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, s->seed, ED25519_LEN);
    if (s->pkey == NULL || !EVP_PKEY_get_raw_public_key(s->pkey, s->pub, &publen) ||
        publen != ED25519_LEN) {
        tl_signer_free(s);
        return TL_ERR_CRYPTO;
    }
    r = compute_keyid(s->name, type, s->pub, &s->keyid);
    if (r != TL_OK) {
        tl_signer_free(s);
        return r;
    }
    *out = s;
    return TL_OK;
}

int tl_signer_generate(const char *name, uint8_t type, tl_signer **out)
{
    uint8_t seed[ED25519_LEN];
    size_t nlen;
    char *copy;
    int r;

    if (name == NULL || !known_type(type))
        return TL_ERR_INVALID;
    nlen = strnlen(name, TL_NAME_MAX + 1);
    if (!tl_name_valid(name, nlen, TL_NAME_MAX))
        return TL_ERR_INVALID;
    copy = strdup(name);
    if (copy == NULL)
        return TL_ERR_NOMEM;
    if (RAND_priv_bytes(seed, sizeof seed) != 1) {
        free(copy);
        return TL_ERR_CRYPTO;
    }
    r = signer_from_seed(copy, type, seed, out);
    OPENSSL_cleanse(seed, sizeof seed);
    return r;
}

int tl_signer_parse(const char *skey, tl_signer **out)
{
    uint8_t seed[ED25519_LEN];
    tl_signer *s = NULL;
    size_t len, plen = strlen(PRIV_PREFIX);
    uint32_t keyid;
    uint8_t type;
    char *name = NULL;
    int r;

    if (skey == NULL)
        return TL_ERR_INVALID;
    len = key_len(skey);
    if (len <= plen || memcmp(skey, PRIV_PREFIX, plen) != 0)
        return TL_ERR_INVALID;
    r = split_key(skey + plen, len - plen, &name, &keyid, &type, seed);
    if (r != TL_OK)
        return r;
    r = signer_from_seed(name, type, seed, &s);
    OPENSSL_cleanse(seed, sizeof seed);
    if (r != TL_OK)
        return r;
    if (s->keyid != keyid) { /* the key id must match the key */
        tl_signer_free(s);
        return TL_ERR_INVALID;
    }
    *out = s;
    return TL_OK;
}

/* Formats "<prefix><name>+<hex8>+<b64(type || key)>" into a malloc'd string. */
static int format_key(const char *prefix, const char *name, uint32_t keyid, uint8_t type,
                      const uint8_t key[ED25519_LEN], char **out)
{
    uint8_t raw[1 + ED25519_LEN];
    char b64[TL_B64_LEN(1 + ED25519_LEN) + 1];
    size_t n;
    char *s;

    raw[0] = type;
    memcpy(raw + 1, key, ED25519_LEN);
    tl_b64_encode(raw, sizeof raw, b64);
    OPENSSL_cleanse(raw, sizeof raw);
    n = strlen(prefix) + strlen(name) + 1 + 8 + 1 + strlen(b64) + 1;
    s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s%s+%08x+%s", prefix, name, (unsigned)keyid, b64);
    OPENSSL_cleanse(b64, sizeof b64);
    if (s == NULL)
        return TL_ERR_NOMEM;
    *out = s;
    return TL_OK;
}

int tl_signer_format(const tl_signer *s, char **out)
{
    return format_key(PRIV_PREFIX, s->name, s->keyid, s->type, s->seed, out);
}

int tl_signer_vkey(const tl_signer *s, char **out)
{
    return format_key("", s->name, s->keyid, s->type, s->pub, out);
}

const char *tl_signer_name(const tl_signer *s)
{
    return s->name;
}

uint32_t tl_signer_keyid(const tl_signer *s)
{
    return s->keyid;
}

uint8_t tl_signer_type(const tl_signer *s)
{
    return s->type;
}

int tl_signer_sign_raw(const tl_signer *s, const void *msg, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = ED25519_SIG_LEN;
    int ok;

    if (ctx == NULL)
        return TL_ERR_NOMEM;
    ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->pkey) == 1 &&
         EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == ED25519_SIG_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? TL_OK : TL_ERR_CRYPTO;
}

void tl_signer_free(tl_signer *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s->seed, sizeof s->seed);
    EVP_PKEY_free(s->pkey); /* OpenSSL wipes its own copy of the key */
    free(s->name);
    free(s);
}

/* Writes "<key>\n" to a new file with the given mode. */
static int write_key_file(const char *path, char *key, unsigned mode)
{
    size_t n = strlen(key);
    char *line = malloc(n + 2);
    int r;

    if (line == NULL)
        return TL_ERR_NOMEM;
    memcpy(line, key, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    r = tl_file_write_new(path, line, n + 1, mode);
    OPENSSL_cleanse(line, n + 1);
    free(line);
    return r;
}

int tl_signer_write(const tl_signer *s, const char *path, const char *vkey_path)
{
    char *sk = NULL, *vk = NULL;
    int r;

    r = tl_signer_format(s, &sk);
    if (r != TL_OK)
        return r;
    r = write_key_file(path, sk, 0600);
    OPENSSL_cleanse(sk, strlen(sk));
    free(sk);
    if (r != TL_OK || vkey_path == NULL)
        return r;
    r = tl_signer_vkey(s, &vk);
    if (r == TL_OK)
        r = write_key_file(vkey_path, vk, 0644);
    free(vk);
    if (r != TL_OK)
        unlink(path);
    return r;
}

int tl_signer_load(const char *path, tl_signer **out)
{
    char *buf = NULL;
    size_t len = 0;
    int r;

    r = tl_file_read(path, KEY_STR_MAX + 1, &buf, &len);
    if (r != TL_OK)
        return r == TL_ERR_TOOBIG ? TL_ERR_INVALID : r;
    /* A NUL inside the file would hide the rest: refuse it. */
    r = strlen(buf) == len ? tl_signer_parse(buf, out) : TL_ERR_INVALID;
    OPENSSL_cleanse(buf, len);
    free(buf);
    return r;
}

/* ---- verifiers ---------------------------------------------------------- */

int tl_verifier_parse(const char *vkey, tl_verifier **out)
{
    tl_verifier *v;
    size_t len;
    uint32_t keyid;
    int r;

    if (vkey == NULL)
        return TL_ERR_INVALID;
    len = key_len(vkey);
    if (len == 0)
        return TL_ERR_INVALID;
    v = calloc(1, sizeof *v);
    if (v == NULL)
        return TL_ERR_NOMEM;
    r = split_key(vkey, len, &v->name, &keyid, &v->type, v->pub);
    if (r != TL_OK) {
        free(v);
        return r;
    }
    r = compute_keyid(v->name, v->type, v->pub, &v->keyid);
    if (r == TL_OK && v->keyid != keyid)
        r = TL_ERR_INVALID;
    if (r == TL_OK) {
        v->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, v->pub, ED25519_LEN);
        if (v->pkey == NULL) {
            ERR_clear_error();
            r = TL_ERR_INVALID;
        }
    }
    if (r != TL_OK) {
        tl_verifier_free(v);
        return r;
    }
    *out = v;
    return TL_OK;
}

const char *tl_verifier_name(const tl_verifier *v)
{
    return v->name;
}

uint32_t tl_verifier_keyid(const tl_verifier *v)
{
    return v->keyid;
}

uint8_t tl_verifier_type(const tl_verifier *v)
{
    return v->type;
}

const uint8_t *tl_verifier_pubkey(const tl_verifier *v)
{
    return v->pub;
}

int tl_verifier_format(const tl_verifier *v, char **out)
{
    return format_key("", v->name, v->keyid, v->type, v->pub, out);
}

int tl_verifier_verify_raw(const tl_verifier *v, const void *msg, size_t len, const uint8_t *sig,
                           size_t siglen)
{
    EVP_MD_CTX *ctx;
    int ok;

    if (siglen != ED25519_SIG_LEN)
        return TL_ERR_SIG;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return TL_ERR_NOMEM;
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, v->pkey) != 1) {
        EVP_MD_CTX_free(ctx);
        return TL_ERR_CRYPTO;
    }
    ok = EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        ERR_clear_error(); /* a bad signature is an answer, not a library error */
    return ok ? TL_OK : TL_ERR_SIG;
}

int tl_verifier_load(const char *path, tl_verifier **out)
{
    char *buf = NULL;
    size_t len = 0;
    int r;

    r = tl_file_read(path, KEY_STR_MAX + 1, &buf, &len);
    if (r != TL_OK)
        return r == TL_ERR_TOOBIG ? TL_ERR_INVALID : r;
    r = strlen(buf) == len ? tl_verifier_parse(buf, out) : TL_ERR_INVALID;
    free(buf);
    return r;
}

void tl_verifier_free(tl_verifier *v)
{
    if (v == NULL)
        return;
    EVP_PKEY_free(v->pkey);
    free(v->name);
    free(v);
}

/* ---- notes -------------------------------------------------------------- */

void tl_note_release(tl_note *n)
{
    size_t i;

    if (n == NULL)
        return;
    for (i = 0; i < n->nsigs; i++) {
        free(n->sigs[i].name);
        free(n->sigs[i].sig);
    }
    free(n->sigs);
    free(n->text);
    memset(n, 0, sizeof *n);
}

/* Parses one signature line (without its '\n') into sig. */
static int parse_sig_line(const char *line, size_t len, tl_note_sig *sig)
{
    size_t dlen = strlen(EM_DASH), nlen, blen, got = 0;
    const char *name, *sp, *b64;
    uint8_t *raw;
    int r;

    if (len <= dlen || memcmp(line, EM_DASH, dlen) != 0)
        return TL_ERR_INVALID;
    name = line + dlen;
    sp = memchr(name, ' ', len - dlen);
    if (sp == NULL)
        return TL_ERR_INVALID;
    nlen = (size_t)(sp - name);
    b64 = sp + 1;
    blen = len - dlen - nlen - 1;
    if (!tl_name_valid(name, nlen, TL_NAME_MAX) || blen == 0 || blen % 4 != 0 ||
        blen > TL_B64_LEN(SIG_MAX))
        return TL_ERR_INVALID;
    raw = malloc(blen / 4 * 3);
    if (raw == NULL)
        return TL_ERR_NOMEM;
    r = tl_b64_decode(b64, blen, raw, blen / 4 * 3, &got);
    if (r != TL_OK || got < 5 || got > SIG_MAX) {
        free(raw);
        return r == TL_ERR_NOMEM ? r : TL_ERR_INVALID;
    }
    sig->name = malloc(nlen + 1);
    sig->sig = malloc(got - 4);
    if (sig->name == NULL || sig->sig == NULL) {
        free(sig->name);
        free(sig->sig);
        free(raw);
        sig->name = NULL;
        sig->sig = NULL;
        return TL_ERR_NOMEM;
    }
    memcpy(sig->name, name, nlen);
    sig->name[nlen] = '\0';
    sig->keyid = get_be32(raw);
    memcpy(sig->sig, raw + 4, got - 4);
    sig->sig_len = got - 4;
    free(raw);
    return TL_OK;
}

int tl_note_parse(const char *buf, size_t len, tl_note *out)
{
    tl_note n = {0};
    size_t split, pos, i;
    int r;

    memset(out, 0, sizeof *out);
    if (len > TL_NOTE_MAX_SIZE)
        return TL_ERR_TOOBIG;
    /* signed-note §Format: UTF-8, no control characters but newline. */
    if (len < 2 || !tl_text_valid(buf, len) || buf[len - 1] != '\n')
        return TL_ERR_INVALID;
    /* The text ends at the last empty line (so the signature block holds no
     * empty line); the text keeps its final newline. */
    for (split = len - 1; split > 0; split--)
        if (buf[split - 1] == '\n' && buf[split] == '\n')
            break;
    if (split == 0 || split + 1 >= len)
        return TL_ERR_INVALID;
    n.text_len = split; /* buf[0..split) ends in '\n'; buf[split] is the blank line */
    n.text = malloc(split + 1);
    if (n.text == NULL)
        return TL_ERR_NOMEM;
    memcpy(n.text, buf, split);
    n.text[split] = '\0';
    for (pos = split + 1; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos); /* found: buf ends in '\n' */
        size_t llen = (size_t)(nl - (buf + pos));
        tl_note_sig *grown;

        if (n.nsigs == TL_NOTE_MAX_SIGS) {
            r = TL_ERR_INVALID;
            goto fail;
        }
        grown = realloc(n.sigs, (n.nsigs + 1) * sizeof *grown);
        if (grown == NULL) {
            r = TL_ERR_NOMEM;
            goto fail;
        }
        n.sigs = grown;
        memset(&n.sigs[n.nsigs], 0, sizeof n.sigs[0]);
        r = parse_sig_line(buf + pos, llen, &n.sigs[n.nsigs]);
        if (r != TL_OK)
            goto fail;
        n.nsigs++;
        /* One key (name and key id) signs a note at most once. */
        for (i = 0; i + 1 < n.nsigs; i++) {
            if (n.sigs[i].keyid == n.sigs[n.nsigs - 1].keyid &&
                strcmp(n.sigs[i].name, n.sigs[n.nsigs - 1].name) == 0) {
                r = TL_ERR_INVALID;
                goto fail;
            }
        }
        pos += llen + 1;
    }
    *out = n;
    return TL_OK;
fail:
    tl_note_release(&n);
    return r;
}

/* Checks that text can be the text of a note (signed-note §Format). */
static int check_text(const char *text, size_t len)
{
    if (len == 0 || len > TL_NOTE_MAX_SIZE || text[len - 1] != '\n' || !tl_text_valid(text, len))
        return TL_ERR_INVALID;
    return TL_OK;
}

/* Formats "— <name> <b64(keyid || blob)>\n" (malloc'd). */
static int make_sig_line(const char *name, uint32_t keyid, const uint8_t *blob, size_t blen,
                         char **line)
{
    uint8_t raw[4 + COSIG_LEN];
    tl_buf b = TL_BUF_INIT;
    char *b64;
    int r;

    if (blen > COSIG_LEN)
        return TL_ERR_INVALID;
    put_be32(raw, keyid);
    memcpy(raw + 4, blob, blen);
    b64 = tl_b64_encode_alloc(raw, 4 + blen);
    if (b64 == NULL)
        return TL_ERR_NOMEM;
    r = tl_buf_addf(&b, EM_DASH "%s %s\n", name, b64);
    free(b64);
    if (r != TL_OK) {
        tl_buf_release(&b);
        return r;
    }
    *line = tl_buf_detach(&b, NULL);
    return TL_OK;
}

int tl_note_sign_line(const tl_signer *s, const char *text, size_t len, char **line)
{
    uint8_t sig[ED25519_SIG_LEN];
    int r;

    if (s->type != TL_KEY_ED25519)
        return TL_ERR_INVALID;
    r = check_text(text, len);
    if (r == TL_OK)
        r = tl_signer_sign_raw(s, text, len, sig);
    if (r == TL_OK)
        r = make_sig_line(s->name, s->keyid, sig, sizeof sig, line);
    return r;
}

int tl_note_sign(const tl_signer *s, const char *text, size_t len, char **out, size_t *outlen)
{
    tl_buf b = TL_BUF_INIT;
    char *line = NULL;
    int r;

    r = tl_note_sign_line(s, text, len, &line);
    if (r != TL_OK)
        return r;
    if ((r = tl_buf_add(&b, text, len)) == TL_OK && (r = tl_buf_add(&b, "\n", 1)) == TL_OK)
        r = tl_buf_adds(&b, line);
    free(line);
    if (r != TL_OK) {
        tl_buf_release(&b);
        return r;
    }
    *out = tl_buf_detach(&b, outlen);
    return TL_OK;
}

/* The signature by v's key (name and key id), or NULL. */
static const tl_note_sig *find_sig(const tl_note *n, const tl_verifier *v)
{
    size_t i;

    for (i = 0; i < n->nsigs; i++)
        if (n->sigs[i].keyid == v->keyid && strcmp(n->sigs[i].name, v->name) == 0)
            return &n->sigs[i];
    return NULL;
}

int tl_note_verify(const tl_note *n, const tl_verifier *v)
{
    const tl_note_sig *sig;

    if (v->type != TL_KEY_ED25519)
        return TL_ERR_INVALID;
    sig = find_sig(n, v);
    if (sig == NULL)
        return TL_ERR_NOTFOUND;
    return tl_verifier_verify_raw(v, n->text, n->text_len, sig->sig, sig->sig_len);
}

int tl_note_format(const tl_note *n, char **out, size_t *outlen)
{
    tl_buf b = TL_BUF_INIT;
    size_t i;
    int r;

    if (n->nsigs == 0 || check_text(n->text, n->text_len) != TL_OK)
        return TL_ERR_INVALID;
    r = tl_buf_add(&b, n->text, n->text_len);
    if (r == TL_OK)
        r = tl_buf_add(&b, "\n", 1);
    for (i = 0; r == TL_OK && i < n->nsigs; i++) {
        char *b64;
        uint8_t *raw = malloc(4 + n->sigs[i].sig_len);

        if (raw == NULL) {
            r = TL_ERR_NOMEM;
            break;
        }
        put_be32(raw, n->sigs[i].keyid);
        memcpy(raw + 4, n->sigs[i].sig, n->sigs[i].sig_len);
        b64 = tl_b64_encode_alloc(raw, 4 + n->sigs[i].sig_len);
        free(raw);
        if (b64 == NULL) {
            r = TL_ERR_NOMEM;
            break;
        }
        r = tl_buf_addf(&b, EM_DASH "%s %s\n", n->sigs[i].name, b64);
        free(b64);
    }
    if (r != TL_OK) {
        tl_buf_release(&b);
        return r;
    }
    *out = tl_buf_detach(&b, outlen);
    return TL_OK;
}

/* ---- cosignature/v1 ----------------------------------------------------- */

/* tlog-cosignature §"Ed25519 signed message":
 * "cosignature/v1\ntime <ts>\n" || checkpoint body. */
static int cosig_message(const char *text, size_t len, uint64_t ts, tl_buf *b)
{
    int r = tl_buf_addf(b, "cosignature/v1\ntime %llu\n", (unsigned long long)ts);
    if (r == TL_OK)
        r = tl_buf_add(b, text, len);
    return r;
}

int tl_cosig_sign(const tl_signer *s, const char *checkpoint_text, size_t len, uint64_t timestamp,
                  char **line)
{
    uint8_t blob[COSIG_LEN];
    tl_buf msg = TL_BUF_INIT;
    int r;

    if (s->type != TL_KEY_COSIG_V1 || timestamp > (uint64_t)INT64_MAX)
        return TL_ERR_INVALID;
    r = check_text(checkpoint_text, len);
    if (r != TL_OK)
        return r;
    r = cosig_message(checkpoint_text, len, timestamp, &msg);
    if (r == TL_OK) {
        put_be64(blob, timestamp);
        r = tl_signer_sign_raw(s, msg.data, msg.len, blob + 8);
    }
    tl_buf_release(&msg);
    if (r == TL_OK)
        r = make_sig_line(s->name, s->keyid, blob, sizeof blob, line);
    return r;
}

int tl_cosig_verify(const tl_note *n, const tl_verifier *v, uint64_t *timestamp)
{
    const tl_note_sig *sig;
    tl_buf msg = TL_BUF_INIT;
    uint64_t ts;
    int r;

    if (v->type != TL_KEY_COSIG_V1)
        return TL_ERR_INVALID;
    sig = find_sig(n, v);
    if (sig == NULL)
        return TL_ERR_NOTFOUND;
    if (sig->sig_len != COSIG_LEN)
        return TL_ERR_SIG;
    ts = get_be64(sig->sig);
    if (ts > (uint64_t)INT64_MAX) /* tlog-cosignature §Format */
        return TL_ERR_SIG;
    r = cosig_message(n->text, n->text_len, ts, &msg);
    if (r == TL_OK)
        r = tl_verifier_verify_raw(v, msg.data, msg.len, sig->sig + 8, ED25519_SIG_LEN);
    tl_buf_release(&msg);
    if (r == TL_OK && timestamp != NULL)
        *timestamp = ts;
    return r;
}
