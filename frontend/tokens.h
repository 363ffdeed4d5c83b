/*
 * tokens.h - the bearer tokens of an audit log (CONTRACT.md "Audit logs" ->
 * "Tokens"; docs/AUDIT.md "Tokens"): who may write, read and erase events.
 *
 * A log folder's tokens live in DIR/tokens, one a line:
 *
 *     <name> <role> <SHA-256 of the token, 64 lowercase hex digits>
 *
 * separated by single spaces, lines ended by LF (the last LF may be missing);
 * empty lines and lines that begin with '#' are ignored. Names are 1 to 64
 * of A-Za-z0-9._- and unique; roles are writer, reader and admin; no two
 * lines have the same hash. The parser is strict: anything else is an error
 * naming the line, and an error message never quotes a line (someone may
 * have pasted a token where its hash belongs). The file holds only hashes:
 * a token is printed once, when it is made, and never stored, logged or put
 * in an error message. The file is written atomically (a temporary file,
 * fsync, rename, fsync of the folder), mode 0600, so a reader sees the old
 * set or the new one, never a part.
 *
 * Two users, two thread models:
 *  - tlogd token add|list|revoke (tl_tokens_add, tl_tokens_revoke,
 *    tl_tokens_open): one read-modify-write under an exclusive flock of
 *    DIR/tokens.lock, so concurrent commands never lose each other's lines,
 *    whether or not tlogd serve is running. add and revoke set the
 *    process's umask while they write (for an exact 0600 whatever the umask
 *    was): they are for single-threaded programs.
 *  - tlogd serve: a tl_tokens from tl_tokens_open, used on the HTTP loop
 *    thread only (it has no lock of its own). Call tl_tokens_refresh before
 *    each lookup: at most every TL_TOKENS_CHECK_MS it stats DIR/tokens and,
 *    when the file changed, rereads it and swaps the new set in, so a change
 *    is in effect for every request that comes a quarter of a second (always
 *    well within one second) after it. A file that does not parse keeps the
 *    old set and logs one line to stderr.
 *
 * Lookup hashes the presented token once and compares that hash with every
 * stored hash with CRYPTO_memcmp, whichever matches: how long it takes says
 * nothing about which token or which prefix matched, only how many tokens
 * the log has. Empty tokens and tokens over TL_TOKEN_MAX bytes are not
 * found, without hashing them.
 *
 * Functions that can fail return TL_OK or a negative tl_err (common/err.h)
 * and, where they take one, write a one-line reason to err.
 */
#ifndef TL_FRONTEND_TOKENS_H
#define TL_FRONTEND_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define TL_TOKEN_NAME_MAX 64    /* bytes of a name */
#define TL_TOKEN_RANDOM 32      /* random bytes in a new token (256 bits) */
#define TL_TOKEN_LEN 43         /* characters of a new token: base64url of 32 bytes, no '=' */
#define TL_TOKEN_MAX 512        /* longest presented token that is hashed at all */
#define TL_TOKENS_FILE "tokens" /* in the log folder */
#define TL_TOKENS_LOCK "tokens.lock"
#define TL_TOKENS_MAX_BYTES (8u << 20) /* largest tokens file (some 80000 tokens) */
#define TL_TOKENS_CHECK_MS 250         /* tl_tokens_refresh: stat at most this often */

/* What a token may do, by role: writer writes; reader reads and queries;
 * admin is a reader that may also erase. */
typedef enum tl_token_role { TL_TOKEN_WRITER, TL_TOKEN_READER, TL_TOKEN_ADMIN } tl_token_role;
typedef enum tl_token_op { TL_TOKEN_OP_WRITE, TL_TOKEN_OP_READ, TL_TOKEN_OP_ERASE } tl_token_op;

/* 1 if role may do op, else 0 (also for values outside the enums). */
int tl_token_may(tl_token_role role, tl_token_op op);
/* "writer", "reader", "admin" (static; "?" for other values). */
const char *tl_token_role_name(tl_token_role role);
/* Parses exactly one of the role names (case-sensitive). TL_OK or
 * TL_ERR_INVALID (*out untouched). */
int tl_token_role_parse(const char *s, tl_token_role *out);
/* 1 if name is 1..TL_TOKEN_NAME_MAX of A-Za-z0-9._-, else 0. */
int tl_token_name_valid(const char *name);

/* Makes a new token: TL_TOKEN_RANDOM bytes from RAND_bytes in base64url
 * without padding (RFC 4648 §5), TL_TOKEN_LEN characters and a NUL. The
 * caller wipes out with OPENSSL_cleanse when done. TL_OK or TL_ERR_CRYPTO
 * (out then holds an empty string). */
int tl_token_new(char out[TL_TOKEN_LEN + 1]);

/* The token of an Authorization field value "Bearer <token>" (RFC 6750
 * §2.1): the scheme in any case, exactly one space, then a token68 (RFC 9110
 * §11.2: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="),
 * nothing before or after. value[0..len) need not be NUL-terminated. Sets
 * *tok (pointing into value) and *toklen. TL_OK or TL_ERR_INVALID. */
int tl_token_bearer(const char *value, size_t len, const char **tok, size_t *toklen);

/* ---- a set of tokens ------------------------------------------------------ */

typedef struct tl_tokens tl_tokens;

/* Hashing and comparing work done by lookups so far (tests, metrics). */
typedef struct tl_tokens_stats {
    uint64_t lookups;  /* tl_tokens_lookup calls */
    uint64_t hashed;   /* bytes of presented tokens hashed */
    uint64_t compared; /* stored hashes compared with a presented one */
} tl_tokens_stats;

/* A set from the text of a tokens file (text[0..len), need not be
 * NUL-terminated), bound to no file. TL_OK, TL_ERR_CORRUPT ("line N:
 * reason" in err), TL_ERR_TOOBIG (over TL_TOKENS_MAX_BYTES) or
 * TL_ERR_NOMEM. */
int tl_tokens_parse(const char *text, size_t len, tl_tokens **out, char *err, size_t errlen);
/* Appends the set as a tokens file (a comment, then one line a token, in
 * order) to out. Parsing the result gives the same set. TL_OK or
 * TL_ERR_NOMEM. */
int tl_tokens_format(const tl_tokens *t, tl_buf *out);

/* Opens the tokens of the log folder dir (it must hold log.vkey): reads
 * DIR/tokens (no file: no tokens) and remembers the file for
 * tl_tokens_refresh. TL_OK, TL_ERR_INVALID (not a log folder),
 * TL_ERR_CORRUPT, TL_ERR_TOOBIG, TL_ERR_IO or TL_ERR_NOMEM. */
int tl_tokens_open(const char *dir, tl_tokens **out, char *err, size_t errlen);

/* Picks up a change of the file of a tl_tokens_open set. now_ms is the
 * caller's monotonic clock (common/clock.h: tl_mono_ms()). Does nothing
 * until TL_TOKENS_CHECK_MS after its last check; then stats the file and,
 * if its inode, size, mtime or ctime changed (or it changed within the last
 * 2 s, when a second change could leave all of them the same), rereads it.
 * Returns 1 when a new set is in effect (names from tl_tokens_get and
 * tl_tokens_lookup are invalid from then on), 0 when nothing changed, or a
 * negative tl_err when the file changed but could not be read or parsed:
 * the old set stays in effect and one line goes to stderr (once per change
 * of the file). A removed file means no tokens. A set from tl_tokens_parse
 * never changes (0). */
int tl_tokens_refresh(tl_tokens *t, uint64_t now_ms);

/* The token tok[0..len) (not NUL-terminated, as presented): TL_OK with
 * *name (borrowed from t until the next tl_tokens_refresh that returns 1, or
 * tl_tokens_free) and *role, or TL_ERR_NOTFOUND (also for len 0 and len
 * over TL_TOKEN_MAX) with *name and *role untouched; TL_ERR_CRYPTO if
 * SHA-256 failed. name or role may be NULL. */
int tl_tokens_lookup(tl_tokens *t, const char *tok, size_t len, const char **name,
                     tl_token_role *role);

/* Number of tokens; the i-th (0 <= i < count, in file order) name
 * (borrowed, as for lookup) and role. */
size_t tl_tokens_count(const tl_tokens *t);
const char *tl_tokens_get(const tl_tokens *t, size_t i, tl_token_role *role);
void tl_tokens_stats_get(const tl_tokens *t, tl_tokens_stats *st);
void tl_tokens_free(tl_tokens *t);

/* ---- tlogd token add|revoke ----------------------------------------------- */

/* Adds a token named name with role to the log folder dir and writes it to
 * token (TL_TOKEN_LEN characters and a NUL; the caller prints it once, then
 * wipes it with OPENSSL_cleanse). TL_OK; TL_ERR_INVALID (bad name, not a log
 * folder), TL_ERR_CONFLICT (name in use), TL_ERR_CORRUPT (DIR/tokens does
 * not parse: nothing changed), TL_ERR_TOOBIG, TL_ERR_IO, TL_ERR_CRYPTO or
 * TL_ERR_NOMEM, with token an empty string. */
int tl_tokens_add(const char *dir, const char *name, tl_token_role role,
                  char token[TL_TOKEN_LEN + 1], char *err, size_t errlen);
/* Removes the line of the token named name, keeping every other line
 * (comments too). TL_OK; TL_ERR_NOTFOUND (no such name), TL_ERR_INVALID
 * (not a log folder), TL_ERR_CORRUPT, TL_ERR_IO or TL_ERR_NOMEM. */
int tl_tokens_revoke(const char *dir, const char *name, char *err, size_t errlen);

#endif
