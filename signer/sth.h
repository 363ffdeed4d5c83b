/*
 * sth.h - RFC 6962 §3.5 signed tree heads: a TreeHeadSignature (version v1,
 * signature_type tree_hash, timestamp ms, tree_size, sha256_root_hash)
 * signed with ECDSA P-256 / SHA-256, encoded as a TLS digitally-signed
 * struct (hash=sha256(4), sig=ecdsa(3), uint16 length, DER signature).
 */
#ifndef TL_SIGNER_STH_H
#define TL_SIGNER_STH_H

#include <stddef.h>
#include <stdint.h>

#include "merkle/merkle.h"

typedef struct tl_sth_key tl_sth_key; /* opaque: ECDSA P-256 private or public */

/* Generates a P-256 key. */
int tl_sth_key_generate(tl_sth_key **out);
/* Writes the private key as PEM to path (mode 0600) and public key to pub_path. */
int tl_sth_key_write(const tl_sth_key *k, const char *path, const char *pub_path);
/* Loads a private key (PEM) or a public key (PEM). */
int tl_sth_key_load_private(const char *path, tl_sth_key **out);
int tl_sth_key_load_public(const char *path, tl_sth_key **out);
/* RFC 6962 log ID: SHA-256 of the DER SubjectPublicKeyInfo. */
int tl_sth_key_id(const tl_sth_key *k, tl_hash *id);
void tl_sth_key_free(tl_sth_key *k);

/* Signs; *sig is malloc'd digitally-signed bytes (4 + DER). */
int tl_sth_sign(const tl_sth_key *k, uint64_t timestamp_ms, uint64_t size, const tl_hash *root,
                uint8_t **sig, size_t *siglen);
/* TL_OK or TL_ERR_SIG / TL_ERR_INVALID. */
int tl_sth_verify(const tl_sth_key *k, uint64_t timestamp_ms, uint64_t size, const tl_hash *root,
                  const uint8_t *sig, size_t siglen);

#endif
