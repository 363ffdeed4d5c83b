/*
 * tokens.c - the tokens of a log folder; see tokens.h for the file format,
 * the guarantees and the threads.
 *
 * Nothing here ever holds a token longer than the call that was given it
 * or made it: the file, the sets and every error message hold names, roles
 * and SHA-256 hashes only.
 */
#include "frontend/tokens.h"
#include "common/b64.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/file.h"
#include "common/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define HASH_LEN 32
#define RACY_NS 2000000000LL /* a file younger than this may change unseen */

static const char header[] =
    "# tlogd tokens (docs/AUDIT.md): <name> <role> <SHA-256 of the token, hex>.\n"
    "# Holds no token. Change it with: tlogd token add|list|revoke --dir DIR\n";

static const char *const role_names[] = {"writer", "reader", "admin"};

typedef struct entry {
    char name[TL_TOKEN_NAME_MAX + 1];
    tl_token_role role;
    uint8_t hash[HASH_LEN];
    size_t line;     /* its line number in the text it was parsed from */
    size_t off, len; /* that line's bytes in the text, its LF included */
} entry;

/* What stat says of a file, to tell a changed one from the one loaded. */
typedef struct file_sig {
    enum { SIG_NONE, SIG_ABSENT, SIG_ERROR, SIG_FILE } state;
    int err; /* SIG_ERROR: the errno of stat */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
} file_sig;

struct tl_tokens {
    entry *v;
    size_t n;
    char *path;               /* DIR/tokens (tl_tokens_open), or NULL */
    file_sig sig;             /* the file last looked at, loaded or refused */
    uint8_t digest[HASH_LEN]; /* SHA-256 of that file's content */
    int racy;                 /* it changed so recently that sig may miss a change */
    int failed;               /* it could not be read or parsed (the set is older) */
    uint64_t next_check_ms;   /* tl_tokens_refresh looks again from then */
    tl_tokens_stats st;
};

static int sha256(const void *data, size_t len, uint8_t out[HASH_LEN])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == HASH_LEN ? TL_OK
                                                                                    : TL_ERR_CRYPTO;
}

/* ---- roles, names, new tokens, the Authorization field --------------------- */

int tl_token_may(tl_token_role role, tl_token_op op)
{
    switch (op) {
    case TL_TOKEN_OP_WRITE:
        return role == TL_TOKEN_WRITER;
    case TL_TOKEN_OP_READ:
        return role == TL_TOKEN_READER || role == TL_TOKEN_ADMIN;
    case TL_TOKEN_OP_ERASE:
        return role == TL_TOKEN_ADMIN;
    }
    return 0;
}

const char *tl_token_role_name(tl_token_role role)
{
    return (unsigned)role < sizeof role_names / sizeof role_names[0] ? role_names[role] : "?";
}

/* The role named s[0..len). */
static int role_parse(const char *s, size_t len, tl_token_role *out)
{
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
        if (strlen(role_names[i]) == len && memcmp(role_names[i], s, len) == 0) {
            *out = (tl_token_role)i;
            return TL_OK;
        }
    }
    return TL_ERR_INVALID;
}

int tl_token_role_parse(const char *s, tl_token_role *out)
{
    return role_parse(s, strlen(s), out);
}

static int name_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static int name_valid(const char *s, size_t len)
{
    if (len < 1 || len > TL_TOKEN_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!name_char((unsigned char)s[i]))
            return 0;
    return 1;
}

int tl_token_name_valid(const char *name)
{
    return name_valid(name, strnlen(name, TL_TOKEN_NAME_MAX + 1));
}

int tl_token_new(char out[TL_TOKEN_LEN + 1])
{
    uint8_t rnd[TL_TOKEN_RANDOM];
    char b64[TL_B64_LEN(TL_TOKEN_RANDOM) + 1];
    int rc = TL_ERR_CRYPTO;

    out[0] = '\0';
    if (RAND_bytes(rnd, sizeof rnd) == 1) {
        /* base64url (RFC 4648 §5): the standard alphabet with '-' for '+'
         * and '_' for '/', and no padding */
        tl_b64_encode(rnd, sizeof rnd, b64);
        for (size_t i = 0; i < TL_TOKEN_LEN; i++)
            out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
        out[TL_TOKEN_LEN] = '\0';
        rc = TL_OK;
    }
    OPENSSL_cleanse(rnd, sizeof rnd);
    OPENSSL_cleanse(b64, sizeof b64);
    return rc;
}

int tl_token_bearer(const char *value, size_t len, const char **tok, size_t *toklen)
{
    static const char scheme[] = "bearer ";
    const size_t sl = sizeof scheme - 1;
    size_t i;

    /* auth-scheme is case-insensitive (RFC 9110 §11.1); one SP, then the
     * credentials (RFC 6750 §2.1) */
    if (len <= sl || strncasecmp(value, scheme, sl - 1) != 0 || value[sl - 1] != ' ')
        return TL_ERR_INVALID;
    for (i = sl; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
            break;
    }
    if (i == sl)
        return TL_ERR_INVALID; /* no token68 character before the padding */
    while (i < len && value[i] == '=')
        i++;
    if (i != len)
        return TL_ERR_INVALID;
    *tok = value + sl;
    *toklen = len - sl;
    return TL_OK;
}

/* ---- the file format -------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int by_hash(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    int c = memcmp(x->hash, y->hash, HASH_LEN);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Finds the first line (by number) that repeats an earlier line's name or
 * hash; TL_OK when there is none. Sorting keeps this O(n log n). */
static int check_unique(const entry *v, size_t n, char *err, size_t cap)
{
    const entry **p;
    const entry *dup_name = NULL, *dup_hash = NULL, *first_name = NULL, *first_hash = NULL;

    if (n < 2)
        return TL_OK;
    p = malloc(n * sizeof *p);
    if (p == NULL)
        return TL_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        p[i] = &v[i];
    qsort(p, n, sizeof *p, by_name);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(p[i]->name, p[i - 1]->name) == 0 &&
            (dup_name == NULL || p[i]->line < dup_name->line)) {
            size_t j = i - 1;
            while (j > 0 && strcmp(p[j - 1]->name, p[i]->name) == 0)
                j--;
            dup_name = p[i];
            first_name = p[j];
        }
    }
    qsort(p, n, sizeof *p, by_hash);
    for (size_t i = 1; i < n; i++) {
        if (memcmp(p[i]->hash, p[i - 1]->hash, HASH_LEN) == 0 &&
            (dup_hash == NULL || p[i]->line < dup_hash->line)) {
            size_t j = i - 1;
            while (j > 0 && memcmp(p[j - 1]->hash, p[i]->hash, HASH_LEN) == 0)
                j--;
            dup_hash = p[i];
            first_hash = p[j];
        }
    }
    free(p);
    if (dup_name && (dup_hash == NULL || dup_name->line <= dup_hash->line)) {
        tl_errf(err, cap, "line %zu: the name %s is already on line %zu", dup_name->line,
                dup_name->name, first_name->line);
        return TL_ERR_CORRUPT;
    }
    if (dup_hash) {
        tl_errf(err, cap, "line %zu: the same hash as line %zu (one token with two names)",
                dup_hash->line, first_hash->line);
        return TL_ERR_CORRUPT;
    }
    return TL_OK;
}

/* Parses one token line s[0..len) (no LF) into e. The reasons never quote
 * the line: a token pasted where its hash belongs must not reach a log. */
static int parse_line(const char *s, size_t len, size_t line, entry *e, char *err, size_t cap)
{
    const char *sp1 = memchr(s, ' ', len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - s)) : NULL;
    const char *hash = sp2 ? sp2 + 1 : NULL;
    size_t hlen = hash ? len - (size_t)(hash - s) : 0;

    if (memchr(s, '\r', len)) {
        tl_errf(err, cap, "line %zu: a carriage return (lines end with LF alone)", line);
        return TL_ERR_CORRUPT;
    }
    if (sp2 == NULL || sp1 == s || sp2 == sp1 + 1 || hlen == 0 || memchr(hash, ' ', hlen)) {
        tl_errf(err, cap, "line %zu: want <name> <role> <sha256 hex>, single spaces between", line);
        return TL_ERR_CORRUPT;
    }
    if (!name_valid(s, (size_t)(sp1 - s))) {
        tl_errf(err, cap, "line %zu: a name is 1 to %d of A-Za-z0-9._-", line, TL_TOKEN_NAME_MAX);
        return TL_ERR_CORRUPT;
    }
    if (role_parse(sp1 + 1, (size_t)(sp2 - sp1 - 1), &e->role) != TL_OK) {
        tl_errf(err, cap, "line %zu: the role must be writer, reader or admin", line);
        return TL_ERR_CORRUPT;
    }
    if (tl_hex_decode(hash, hlen, e->hash, HASH_LEN) != TL_OK) {
        tl_errf(err, cap,
                "line %zu: the hash must be 64 lowercase hex digits (the token's SHA-256, never "
                "the token)",
                line);
        return TL_ERR_CORRUPT;
    }
    memcpy(e->name, s, (size_t)(sp1 - s));
    e->name[sp1 - s] = '\0';
    e->line = line;
    return TL_OK;
}

/* Parses text[0..len) into a malloc'd array *out of *n entries. */
static int parse_text(const char *text, size_t len, entry **out, size_t *n, char *err, size_t cap)
{
    entry *v = NULL;
    size_t nv = 0, cv = 0, pos = 0, line = 0;
    int rc = TL_OK;

    if (len > TL_TOKENS_MAX_BYTES) {
        tl_errf(err, cap, "larger than %u bytes", TL_TOKENS_MAX_BYTES);
        return TL_ERR_TOOBIG;
    }
    while (pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - s) : len - pos;
        size_t next = pos + ll + (nl != NULL);

        line++;
        if (memchr(s, '\0', ll)) {
            tl_errf(err, cap, "line %zu: a NUL byte", line);
            rc = TL_ERR_CORRUPT;
            break;
        }
        if (ll > 0 && s[0] != '#') {
            if (nv == cv) {
                size_t nc = cv ? 2 * cv : 16;
                entry *nvp = realloc(v, nc * sizeof *v);
                if (nvp == NULL) {
                    rc = TL_ERR_NOMEM;
                    break;
                }
                v = nvp;
                cv = nc;
            }
            rc = parse_line(s, ll, line, &v[nv], err, cap);
            if (rc != TL_OK)
                break;
            v[nv].off = pos;
            v[nv].len = next - pos;
            nv++;
        }
        pos = next;
    }
    if (rc == TL_OK)
        rc = check_unique(v, nv, err, cap);
    if (rc != TL_OK) {
        free(v);
        return rc;
    }
    *out = v;
    *n = nv;
    return TL_OK;
}

/* Appends e's line. */
static int format_line(tl_buf *b, const entry *e)
{
    char hex[TL_HEX_LEN(HASH_LEN) + 1];
    tl_hex_encode(e->hash, HASH_LEN, hex);
    return tl_buf_addf(b, "%s %s %s\n", e->name, tl_token_role_name(e->role), hex);
}

static tl_tokens *tokens_new(void)
{
    tl_tokens *t = calloc(1, sizeof *t);
    return t;
}

int tl_tokens_parse(const char *text, size_t len, tl_tokens **out, char *err, size_t errlen)
{
    tl_tokens *t = tokens_new();
    if (t == NULL)
        return TL_ERR_NOMEM;
    int rc = parse_text(text, len, &t->v, &t->n, err, errlen);
    if (rc != TL_OK) {
        free(t);
        return rc;
    }
    *out = t;
    return TL_OK;
}

int tl_tokens_format(const tl_tokens *t, tl_buf *out)
{
    if (tl_buf_adds(out, header) != TL_OK)
        return TL_ERR_NOMEM;
    for (size_t i = 0; i < t->n; i++)
        if (format_line(out, &t->v[i]) != TL_OK)
            return TL_ERR_NOMEM;
    return TL_OK;
}

size_t tl_tokens_count(const tl_tokens *t)
{
    return t->n;
}

const char *tl_tokens_get(const tl_tokens *t, size_t i, tl_token_role *role)
{
    if (i >= t->n)
        return NULL;
    if (role)
        *role = t->v[i].role;
    return t->v[i].name;
}

void tl_tokens_stats_get(const tl_tokens *t, tl_tokens_stats *st)
{
    *st = t->st;
}

void tl_tokens_free(tl_tokens *t)
{
    if (t == NULL)
        return;
    free(t->v);
    free(t->path);
    free(t);
}

/* ---- lookup ----------------------------------------------------------------- */

int tl_tokens_lookup(tl_tokens *t, const char *tok, size_t len, const char **name,
                     tl_token_role *role)
{
    uint8_t h[HASH_LEN];
    size_t found = 0, any = 0;

    t->st.lookups++;
    if (len == 0 || len > TL_TOKEN_MAX)
        return TL_ERR_NOTFOUND;
    t->st.hashed += len;
    if (sha256(tok, len, h) != TL_OK)
        return TL_ERR_CRYPTO;
    /* Every stored hash is compared, in constant time, and the match is
     * picked with masks rather than a branch: the time depends on the
     * number of tokens only. */
    for (size_t i = 0; i < t->n; i++) {
        size_t eq = (size_t)(CRYPTO_memcmp(h, t->v[i].hash, HASH_LEN) == 0);
        size_t mask = (size_t)0 - eq;
        found = (found & ~mask) | (i & mask);
        any |= eq;
        t->st.compared++;
    }
    OPENSSL_cleanse(h, sizeof h);
    if (!any)
        return TL_ERR_NOTFOUND;
    if (name)
        *name = t->v[found].name;
    if (role)
        *role = t->v[found].role;
    return TL_OK;
}

/* ---- files -------------------------------------------------------------------- */

/* "dir/file" into out[PATH_MAX]. */
static int join(char *out, const char *dir, const char *file, char *err, size_t cap)
{
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, file) >= PATH_MAX) {
        tl_errf(err, cap, "the folder name is too long");
        return TL_ERR_INVALID;
    }
    return TL_OK;
}

/* TL_OK if dir is a log folder: it holds log.vkey. */
static int check_log_dir(const char *dir, char *err, size_t cap)
{
    char p[PATH_MAX];
    struct stat st;
    int rc = join(p, dir, "log.vkey", err, cap);
    if (rc != TL_OK)
        return rc;
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
        tl_errf(err, cap, "%s is not a log folder (it has no log.vkey)", dir);
        return TL_ERR_INVALID;
    }
    return TL_OK;
}

static void sig_of(const struct stat *st, file_sig *s)
{
    memset(s, 0, sizeof *s);
    s->state = SIG_FILE;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtim = st->st_mtim;
    s->ctim = st->st_ctim;
}

static int sig_equal(const file_sig *a, const file_sig *b)
{
    if (a->state != b->state)
        return 0;
    if (a->state == SIG_ERROR)
        return a->err == b->err;
    if (a->state != SIG_FILE)
        return 1;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
           a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* 1 if the file of s changed so recently (by the wall clock that stamps
 * files) that a second change within the file system's timestamp
 * granularity could leave s the same. */
static int sig_racy(const file_sig *s)
{
    struct timespec now;
    if (s->state != SIG_FILE || clock_gettime(CLOCK_REALTIME, &now) != 0)
        return 0;
    const struct timespec *m = &s->ctim;
    if (s->mtim.tv_sec > m->tv_sec || (s->mtim.tv_sec == m->tv_sec && s->mtim.tv_nsec > m->tv_nsec))
        m = &s->mtim;
    long long age = ((long long)now.tv_sec - (long long)m->tv_sec) * 1000000000LL +
                    ((long long)now.tv_nsec - (long long)m->tv_nsec);
    return age > -RACY_NS && age < RACY_NS; /* far in the future: a clock, not a change */
}

/* Reads path (at most TL_TOKENS_MAX_BYTES) into *text, with the stat of
 * what was read in *sig (also when it could not be read, so that a file
 * that fails is told apart from the next change of it). No file: TL_OK,
 * *text NULL, sig SIG_ABSENT. */
static int read_file(const char *path, char **text, size_t *len, file_sig *sig, char *err,
                     size_t cap)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), e;

    *text = NULL;
    *len = 0;
    memset(sig, 0, sizeof *sig);
    if (fd < 0 || fstat(fd, &st) != 0) {
        e = errno;
        if (fd >= 0)
            close(fd);
        if (e == ENOENT) {
            sig->state = SIG_ABSENT;
            return TL_OK;
        }
        if (stat(path, &st) == 0) {
            sig_of(&st, sig);
        } else {
            sig->state = SIG_ERROR;
            sig->err = e;
        }
        tl_errf(err, cap, "%s: %s", path, strerror(e));
        return TL_ERR_IO;
    }
    sig_of(&st, sig);
    int rc = tl_file_read_fd(fd, TL_TOKENS_MAX_BYTES, text, len);
    e = errno;
    close(fd);
    if (rc == TL_ERR_TOOBIG)
        tl_errf(err, cap, "%s: larger than %u bytes", path, TL_TOKENS_MAX_BYTES);
    else if (rc != TL_OK)
        tl_errf(err, cap, "%s: %s", path, strerror(e));
    return rc;
}

/* Reads and parses t->path; on success swaps the new set in. Whatever the
 * outcome, t->sig (and t->digest, when the file was read) describe the
 * file looked at, so that one file is reported once. */
static int load(tl_tokens *t, char *err, size_t cap)
{
    char *text = NULL, why[192] = "";
    size_t len = 0, n = 0;
    entry *v = NULL;
    int rc = read_file(t->path, &text, &len, &t->sig, err, cap);

    t->racy = 0;
    if (rc == TL_OK)
        rc = sha256(text ? text : "", len, t->digest);
    if (rc == TL_OK) {
        t->racy = sig_racy(&t->sig);
        rc = parse_text(text ? text : "", len, &v, &n, why, sizeof why);
        if (rc != TL_OK)
            tl_errf(err, cap, "%s: %s", t->path, why[0] ? why : tl_strerror(rc));
    }
    free(text);
    t->failed = rc != TL_OK;
    if (rc != TL_OK)
        return rc;
    free(t->v);
    t->v = v;
    t->n = n;
    return TL_OK;
}

int tl_tokens_open(const char *dir, tl_tokens **out, char *err, size_t errlen)
{
    char p[PATH_MAX];
    int rc = check_log_dir(dir, err, errlen);
    if (rc == TL_OK)
        rc = join(p, dir, TL_TOKENS_FILE, err, errlen);
    if (rc != TL_OK)
        return rc;
    tl_tokens *t = tokens_new();
    if (t == NULL || (t->path = strdup(p)) == NULL) {
        free(t);
        return TL_ERR_NOMEM;
    }
    rc = load(t, err, errlen);
    if (rc != TL_OK) {
        tl_tokens_free(t);
        return rc;
    }
    *out = t;
    return TL_OK;
}

int tl_tokens_refresh(tl_tokens *t, uint64_t now_ms)
{
    char err[320];
    struct stat st;
    file_sig now;
    size_t before = t->n;

    if (t->path == NULL || now_ms < t->next_check_ms)
        return 0;
    t->next_check_ms = now_ms + TL_TOKENS_CHECK_MS;
    if (stat(t->path, &st) == 0) {
        sig_of(&st, &now);
    } else {
        memset(&now, 0, sizeof now);
        now.state = errno == ENOENT ? SIG_ABSENT : SIG_ERROR;
        now.err = errno;
    }
    if (sig_equal(&now, &t->sig) && !t->racy)
        return 0;
    if (sig_equal(&now, &t->sig)) {
        /* Racily clean (as git says of its index): stat cannot tell, the
         * content can. */
        char *text = NULL;
        size_t len = 0;
        file_sig rs;
        uint8_t d[HASH_LEN];
        if (read_file(t->path, &text, &len, &rs, NULL, 0) == TL_OK &&
            sha256(text ? text : "", len, d) == TL_OK && memcmp(d, t->digest, HASH_LEN) == 0 &&
            sig_equal(&rs, &t->sig)) {
            free(text);
            t->racy = sig_racy(&t->sig);
            return 0;
        }
        free(text);
    }
    int was_failed = t->failed;
    int rc = load(t, err, sizeof err);
    if (rc != TL_OK) {
        fprintf(stderr, "tlogd: tokens: %s; keeping the %zu tokens loaded before\n", err, t->n);
        return rc;
    }
    if (t->sig.state == SIG_ABSENT)
        fprintf(stderr, "tlogd: tokens: %s removed: no tokens (%zu before)\n", t->path, before);
    else
        fprintf(stderr, "tlogd: tokens: reloaded %s: %zu tokens (%zu before)%s\n", t->path, t->n,
                before, was_failed ? ", it parses again" : "");
    return 1;
}

/* ---- tlogd token add|revoke -------------------------------------------------- */

/* Takes the exclusive lock of dir's tokens; returns its descriptor (close
 * it to unlock) or -1. */
static int lock_dir(const char *dir, char *err, size_t cap)
{
    char p[PATH_MAX];
    if (join(p, dir, TL_TOKENS_LOCK, err, cap) != TL_OK)
        return -1;
    int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        tl_errf(err, cap, "%s: %s", p, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            tl_errf(err, cap, "%s: cannot lock: %s", p, strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* Reads and parses dir's tokens file under the lock: *text (malloc'd,
 * NUL-terminated; the header alone when there is no file), its entries. */
static int read_locked(const char *path, char **text, size_t *len, entry **v, size_t *n, char *err,
                       size_t cap)
{
    char why[192] = "";
    file_sig sig;
    int rc = read_file(path, text, len, &sig, err, cap);
    if (rc != TL_OK)
        return rc;
    if (*text == NULL) {
        *text = strdup(header);
        *len = sizeof header - 1;
        if (*text == NULL)
            return TL_ERR_NOMEM;
    }
    rc = parse_text(*text, *len, v, n, why, sizeof why);
    if (rc != TL_OK) {
        tl_errf(err, cap, "%s: %s (nothing changed)", path, why[0] ? why : tl_strerror(rc));
        free(*text);
        *text = NULL;
    }
    return rc;
}

/* Writes data as dir's tokens file, mode 0600 exactly: the umask applies to
 * tl_file_write_atomic, and one that takes the owner's bits would leave a
 * file no reload can read. */
static int write_tokens(const char *path, const void *data, size_t len, char *err, size_t cap)
{
    mode_t old = umask(077);
    int rc = tl_file_write_atomic(path, data, len, 0600);
    int e = errno;
    umask(old);
    if (rc != TL_OK)
        tl_errf(err, cap, "%s: %s", path, strerror(e));
    return rc;
}

int tl_tokens_add(const char *dir, const char *name, tl_token_role role,
                  char token[TL_TOKEN_LEN + 1], char *err, size_t errlen)
{
    char path[PATH_MAX];
    char *text = NULL;
    size_t len = 0, n = 0;
    entry *v = NULL, e;
    tl_buf b = TL_BUF_INIT;
    int rc, fd;

    token[0] = '\0';
    if (!tl_token_name_valid(name)) {
        tl_errf(err, errlen, "a name is 1 to %d of A-Za-z0-9._-", TL_TOKEN_NAME_MAX);
        return TL_ERR_INVALID;
    }
    if ((unsigned)role > TL_TOKEN_ADMIN) {
        tl_errf(err, errlen, "the role must be writer, reader or admin");
        return TL_ERR_INVALID;
    }
    rc = check_log_dir(dir, err, errlen);
    if (rc == TL_OK)
        rc = join(path, dir, TL_TOKENS_FILE, err, errlen);
    if (rc != TL_OK)
        return rc;
    fd = lock_dir(dir, err, errlen);
    if (fd < 0)
        return TL_ERR_IO;
    rc = read_locked(path, &text, &len, &v, &n, err, errlen);
    for (size_t i = 0; rc == TL_OK && i < n; i++) {
        if (strcmp(v[i].name, name) == 0) {
            tl_errf(err, errlen, "the name %s is in use (revoke it first)", name);
            rc = TL_ERR_CONFLICT;
        }
    }
    memset(&e, 0, sizeof e);
    if (rc == TL_OK) {
        strcpy(e.name, name);
        e.role = role;
        rc = tl_token_new(token);
        if (rc == TL_OK)
            rc = sha256(token, TL_TOKEN_LEN, e.hash);
        if (rc != TL_OK)
            tl_errf(err, errlen, "cannot make a random token");
    }
    if (rc == TL_OK) {
        if (tl_buf_add(&b, text, len) != TL_OK ||
            (len > 0 && text[len - 1] != '\n' && tl_buf_adds(&b, "\n") != TL_OK) ||
            format_line(&b, &e) != TL_OK)
            rc = TL_ERR_NOMEM;
        else if (b.len > TL_TOKENS_MAX_BYTES) {
            tl_errf(err, errlen, "%s would be larger than %u bytes", path, TL_TOKENS_MAX_BYTES);
            rc = TL_ERR_TOOBIG;
        }
    }
    if (rc == TL_OK)
        rc = write_tokens(path, b.data, b.len, err, errlen);
    if (rc != TL_OK)
        OPENSSL_cleanse(token, TL_TOKEN_LEN + 1);
    close(fd); /* unlocks */
    tl_buf_release(&b);
    free(text);
    free(v);
    return rc;
}

int tl_tokens_revoke(const char *dir, const char *name, char *err, size_t errlen)
{
    char path[PATH_MAX];
    char *text = NULL;
    size_t len = 0, n = 0, i;
    entry *v = NULL;
    tl_buf b = TL_BUF_INIT;
    int rc, fd;

    rc = check_log_dir(dir, err, errlen);
    if (rc == TL_OK)
        rc = join(path, dir, TL_TOKENS_FILE, err, errlen);
    if (rc != TL_OK)
        return rc;
    fd = lock_dir(dir, err, errlen);
    if (fd < 0)
        return TL_ERR_IO;
    rc = read_locked(path, &text, &len, &v, &n, err, errlen);
    for (i = 0; rc == TL_OK && i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            break;
    if (rc == TL_OK && i == n) {
        if (tl_token_name_valid(name))
            tl_errf(err, errlen, "no token is named %s", name);
        else
            tl_errf(err, errlen, "no token has that name (a name is 1 to %d of A-Za-z0-9._-)",
                    TL_TOKEN_NAME_MAX);
        rc = TL_ERR_NOTFOUND;
    }
    if (rc == TL_OK &&
        (tl_buf_add(&b, text, v[i].off) != TL_OK ||
         tl_buf_add(&b, text + v[i].off + v[i].len, len - v[i].off - v[i].len) != TL_OK))
        rc = TL_ERR_NOMEM;
    if (rc == TL_OK)
        rc = write_tokens(path, b.data ? (const void *)b.data : "", b.len, err, errlen);
    close(fd); /* unlocks */
    tl_buf_release(&b);
    free(text);
    free(v);
    return rc;
}
