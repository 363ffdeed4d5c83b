/*
 * sth.c - RFC 6962 §3.5 signed tree heads with ECDSA P-256 / SHA-256.
 *
 * The signed message is the TreeHeadSignature struct (RFC 6962 §3.5):
 *   version v1(0) | signature_type tree_hash(1) | uint64 timestamp (ms)
 *   | uint64 tree_size | opaque sha256_root_hash[32]      (50 bytes)
 * and the signature is a TLS DigitallySigned (RFC 5246 §4.7):
 *   hash sha256(4) | signature ecdsa(3) | uint16 length | DER ECDSA-Sig-Value.
 *
 * Guarantees: only P-256 keys are accepted; private keys are written with
 * mode 0600 and never over an existing file; PEM text holding a private key
 * is wiped from memory (OPENSSL_cleanse) once used; verification is strict
 * about the DigitallySigned framing, and OpenSSL rejects non-DER encodings.
 */
#include "signer/sth.h"

#include "common/file.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TBS_LEN 50
#define DER_MAX 72 /* SEQUENCE { INTEGER r, INTEGER s } for P-256 */
#define DER_MIN 8
#define PEM_FILE_MAX 65536

struct tl_sth_key {
    EVP_PKEY *pkey;
    int priv;
};

static void put_be64(uint8_t *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* RFC 6962 §3.5 TreeHeadSignature serialization. */
static void tbs(uint64_t ts, uint64_t size, const tl_hash *root, uint8_t out[TBS_LEN])
{
    out[0] = 0; /* v1 */
    out[1] = 1; /* tree_hash */
    put_be64(out + 2, ts);
    put_be64(out + 10, size);
    memcpy(out + 18, root->b, TL_HASH_SIZE);
}

/* 1 if pkey is an EC key on P-256. */
static int is_p256(EVP_PKEY *pkey)
{
    char group[64];
    size_t glen = 0;

    if (!EVP_PKEY_is_a(pkey, "EC"))
        return 0;
    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                        &glen))
        return 0;
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

static int wrap(EVP_PKEY *pkey, int priv, tl_sth_key **out)
{
    tl_sth_key *k;

    if (!is_p256(pkey)) {
        EVP_PKEY_free(pkey);
        return TL_ERR_INVALID;
    }
    k = calloc(1, sizeof *k);
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return TL_ERR_NOMEM;
    }
    k->pkey = pkey;
    k->priv = priv;
    *out = k;
    return TL_OK;
}

int tl_sth_key_generate(tl_sth_key **out)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    if (pkey == NULL)
        return TL_ERR_CRYPTO;
    return wrap(pkey, 1, out);
}

/* PEM-encodes the key (private or public) into a new file. */
static int write_pem(EVP_PKEY *pkey, int priv, const char *path, mode_t mode)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int ok, r;

    if (mem == NULL)
        return TL_ERR_NOMEM;
    ok = priv ? PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL)
              : PEM_write_bio_PUBKEY(mem, pkey);
    len = BIO_get_mem_data(mem, &data);
    if (!ok || len <= 0) {
        if (len > 0)
            OPENSSL_cleanse(data, (size_t)len);
        BIO_free(mem);
        return TL_ERR_CRYPTO;
    }
    r = tl_file_write_new(path, data, (size_t)len, mode);
    OPENSSL_cleanse(data, (size_t)len);
    BIO_free(mem);
    return r;
}

int tl_sth_key_write(const tl_sth_key *k, const char *path, const char *pub_path)
{
    int r;

    if (!k->priv)
        return TL_ERR_INVALID;
    r = write_pem(k->pkey, 1, path, 0600);
    if (r == TL_OK && pub_path != NULL) {
        r = write_pem(k->pkey, 0, pub_path, 0644);
        if (r != TL_OK)
            unlink(path);
    }
    return r;
}

static int load(const char *path, int priv, tl_sth_key **out)
{
    EVP_PKEY *pkey;
    char *buf = NULL;
    size_t len = 0;
    BIO *mem;
    int r;

    r = tl_file_read(path, PEM_FILE_MAX, &buf, &len);
    if (r != TL_OK)
        return r;
    mem = BIO_new_mem_buf(buf, (int)len);
    if (mem == NULL) {
        OPENSSL_cleanse(buf, len);
        free(buf);
        return TL_ERR_NOMEM;
    }
    pkey = priv ? PEM_read_bio_PrivateKey(mem, NULL, NULL, NULL)
                : PEM_read_bio_PUBKEY(mem, NULL, NULL, NULL);
    BIO_free(mem);
    OPENSSL_cleanse(buf, len);
    free(buf);
    if (pkey == NULL) {
        ERR_clear_error();
        return TL_ERR_INVALID;
    }
    return wrap(pkey, priv, out);
}

int tl_sth_key_load_private(const char *path, tl_sth_key **out)
{
    return load(path, 1, out);
}

int tl_sth_key_load_public(const char *path, tl_sth_key **out)
{
    return load(path, 0, out);
}

int tl_sth_key_id(const tl_sth_key *k, tl_hash *id)
{
    unsigned char *der = NULL;
    unsigned int mdlen = 0;
    int len = i2d_PUBKEY(k->pkey, &der);
    int ok;

    if (len <= 0)
        return TL_ERR_CRYPTO;
    ok = EVP_Digest(der, (size_t)len, id->b, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    return ok && mdlen == TL_HASH_SIZE ? TL_OK : TL_ERR_CRYPTO;
}

void tl_sth_key_free(tl_sth_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

int tl_sth_sign(const tl_sth_key *k, uint64_t timestamp_ms, uint64_t size, const tl_hash *root,
                uint8_t **sig, size_t *siglen)
{
    uint8_t msg[TBS_LEN];
    EVP_MD_CTX *ctx;
    uint8_t *out;
    size_t dlen = 0;
    int ok;

    if (!k->priv)
        return TL_ERR_INVALID;
    tbs(timestamp_ms, size, root, msg);
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return TL_ERR_NOMEM;
    ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
         EVP_DigestSign(ctx, NULL, &dlen, msg, sizeof msg) == 1;
    if (!ok || dlen > 0xFFFF) {
        EVP_MD_CTX_free(ctx);
        return TL_ERR_CRYPTO;
    }
    out = malloc(4 + dlen);
    if (out == NULL) {
        EVP_MD_CTX_free(ctx);
        return TL_ERR_NOMEM;
    }
    ok = EVP_DigestSign(ctx, out + 4, &dlen, msg, sizeof msg) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        free(out);
        return TL_ERR_CRYPTO;
    }
    out[0] = 4; /* HashAlgorithm sha256 */
    out[1] = 3; /* SignatureAlgorithm ecdsa */
    out[2] = (uint8_t)(dlen >> 8);
    out[3] = (uint8_t)dlen;
    *sig = out;
    *siglen = 4 + dlen;
    return TL_OK;
}

int tl_sth_verify(const tl_sth_key *k, uint64_t timestamp_ms, uint64_t size, const tl_hash *root,
                  const uint8_t *sig, size_t siglen)
{
    uint8_t msg[TBS_LEN];
    EVP_MD_CTX *ctx;
    size_t dlen;
    int r;

    if (sig == NULL || siglen < 4 + DER_MIN || sig[0] != 4 || sig[1] != 3)
        return TL_ERR_INVALID;
    dlen = ((size_t)sig[2] << 8) | sig[3];
    if (dlen != siglen - 4 || dlen > DER_MAX)
        return TL_ERR_INVALID;
    tbs(timestamp_ms, size, root, msg);
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return TL_ERR_NOMEM;
    if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) != 1) {
        EVP_MD_CTX_free(ctx);
        return TL_ERR_CRYPTO;
    }
    r = EVP_DigestVerify(ctx, sig + 4, dlen, msg, sizeof msg) == 1 ? TL_OK : TL_ERR_SIG;
    EVP_MD_CTX_free(ctx);
    if (r != TL_OK)
        ERR_clear_error(); /* a bad signature is an answer, not a library error */
    return r;
}
