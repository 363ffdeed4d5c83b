/*
 * note.h - C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and
 * C2SP cosignature/v1 (c2sp.org/tlog-cosignature).
 *
 * Keys:
 *   signer key   "PRIVATE+KEY+<name>+<hex8 keyid>+<b64(type || 32-byte seed)>"
 *   verifier key "<name>+<hex8 keyid>+<b64(type || 32-byte public key)>"
 * with type 0x01 (Ed25519 note signatures) or 0x04 (cosignature/v1), and
 * keyid = first 4 bytes of SHA-256(name || 0x0A || type || public key).
 *
 * Secret material is wiped (OPENSSL_cleanse) when a signer is freed.
 * Signers and verifiers are immutable once made: any number of threads may
 * sign or verify with the same one at once.
 * Parsing is strict: anything not canonical is TL_ERR_INVALID.
 */
#ifndef TL_SIGNER_NOTE_H
#define TL_SIGNER_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define TL_KEY_ED25519 0x01
#define TL_KEY_COSIG_V1 0x04
#define TL_NOTE_MAX_SIGS 100 /* more signature lines than this: rejected */
#define TL_NOTE_MAX_SIZE 1048576

typedef struct tl_signer tl_signer;     /* opaque: holds the private key */
typedef struct tl_verifier tl_verifier; /* opaque: name, key id, type, public key */

/* Generates a fresh key of the given type (TL_KEY_ED25519 or TL_KEY_COSIG_V1). */
int tl_signer_generate(const char *name, uint8_t type, tl_signer **out);
/* Parses a "PRIVATE+KEY+..." string (trailing newline allowed). */
int tl_signer_parse(const char *skey, tl_signer **out);
/* Formats the signer key; *out is malloc'd, caller cleanses and frees it. */
int tl_signer_format(const tl_signer *s, char **out);
/* Formats the matching verifier key; *out malloc'd. */
int tl_signer_vkey(const tl_signer *s, char **out);
const char *tl_signer_name(const tl_signer *s);
uint32_t tl_signer_keyid(const tl_signer *s);
uint8_t tl_signer_type(const tl_signer *s);
/* Raw Ed25519 signature over msg (64 bytes into sig). */
int tl_signer_sign_raw(const tl_signer *s, const void *msg, size_t len, uint8_t sig[64]);
void tl_signer_free(tl_signer *s);
/* Key files (added by the signer part; additive). tl_signer_write creates
 * path with mode 0600 holding the signer key and a newline, and, if
 * vkey_path is not NULL, vkey_path (0644) holding the verifier key and a
 * newline; it never overwrites an existing file (TL_ERR_IO). The loaders
 * read a file of one key line (trailing newline allowed) and wipe the
 * buffer: TL_OK, TL_ERR_IO (unreadable) or TL_ERR_INVALID. */
int tl_signer_write(const tl_signer *s, const char *path, const char *vkey_path);
int tl_signer_load(const char *path, tl_signer **out);
int tl_verifier_load(const char *path, tl_verifier **out);

/* Parses "<name>+<hex8>+<b64>" (trailing newline allowed). */
int tl_verifier_parse(const char *vkey, tl_verifier **out);
const char *tl_verifier_name(const tl_verifier *v);
uint32_t tl_verifier_keyid(const tl_verifier *v);
uint8_t tl_verifier_type(const tl_verifier *v);
int tl_verifier_format(const tl_verifier *v, char **out);
/* The 32-byte Ed25519 public key (borrowed; lives as long as v). Added by the
 * signer part so that policies can find duplicate keys (tlog-policy). */
const uint8_t *tl_verifier_pubkey(const tl_verifier *v);
/* Raw Ed25519 verification: TL_OK or TL_ERR_SIG. */
int tl_verifier_verify_raw(const tl_verifier *v, const void *msg, size_t len, const uint8_t *sig,
                           size_t siglen);
void tl_verifier_free(tl_verifier *v);

/* One signature line of a note: "— <name> <b64(keyid || sig)>". */
typedef struct tl_note_sig {
    char *name;
    uint32_t keyid;
    uint8_t *sig; /* bytes after the 4-byte key id */
    size_t sig_len;
} tl_note_sig;

/* A parsed signed note. text includes its final '\n'. */
typedef struct tl_note {
    char *text;
    size_t text_len;
    tl_note_sig *sigs;
    size_t nsigs;
} tl_note;

/* Parses a signed note (text, blank line, signature lines). Strict. */
int tl_note_parse(const char *buf, size_t len, tl_note *out);
void tl_note_release(tl_note *n);
/* Signs text (non-empty, ending in '\n', valid UTF-8 without control
 * characters other than '\n'; empty lines inside are allowed, as the spec
 * says) and returns the whole note (text + blank line + one signature line),
 * malloc'd. Needs a TL_KEY_ED25519 signer. */
int tl_note_sign(const tl_signer *s, const char *text, size_t len, char **out, size_t *outlen);
/* Returns the malloc'd signature line ("— name b64\n") for text. */
int tl_note_sign_line(const tl_signer *s, const char *text, size_t len, char **line);
/* Finds a signature by v (name and key id match) and verifies it over the
 * note text: TL_OK, TL_ERR_NOTFOUND (no such line), or TL_ERR_SIG. Only for
 * TL_KEY_ED25519 verifiers; cosignatures use tl_cosig_verify. */
int tl_note_verify(const tl_note *n, const tl_verifier *v);
/* Formats text + blank line + every signature line; malloc'd. */
int tl_note_format(const tl_note *n, char **out, size_t *outlen);

/* ---- cosignature/v1 (c2sp.org/tlog-cosignature) ------------------------- */

/* Signs the checkpoint body (the note text) at time `timestamp` (seconds)
 * with a TL_KEY_COSIG_V1 signer; returns the signature line, malloc'd. */
int tl_cosig_sign(const tl_signer *s, const char *checkpoint_text, size_t len, uint64_t timestamp,
                  char **line);
/* Verifies the cosignature by v on note n: TL_OK (and *timestamp), or
 * TL_ERR_NOTFOUND / TL_ERR_SIG. */
int tl_cosig_verify(const tl_note *n, const tl_verifier *v, uint64_t *timestamp);

#endif
