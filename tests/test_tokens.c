/*
 * test_tokens.c - CUnit tests for frontend/tokens.h: roles and what they
 * may do, names, new tokens, the strict "Bearer <token>" parser, the tokens
 * file (round trip, every parser error with its line number, and no error
 * quoting a line), lookup (right, wrong, revoked, empty and huge tokens;
 * every stored hash compared, whichever matches), tl_tokens_add and
 * tl_tokens_revoke on a log folder (mode 0600 whatever the umask, only
 * hashes in the file, comments kept), and tl_tokens_refresh (a change in
 * effect at the next check, a broken file keeping the old set with one line
 * on stderr). Time is the caller's clock here, so nothing sleeps. The
 * commands themselves run in tests/frontend/test_tokens.py.
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/b64.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/file.h"
#include "common/hex.h"
#include "frontend/tokens.h"

static char tmpdir[512];

/* Lowercase hex SHA-256 of s. */
static void sha256_hex(const char *s, char out[65])
{
    unsigned char d[32];
    unsigned int n = 0;
    CU_ASSERT_FATAL(EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL) == 1 && n == 32);
    tl_hex_encode(d, 32, out);
}

/* A fresh log folder (it holds log.vkey) under tmpdir; path in out. */
static void new_log_dir(const char *name, char *out, size_t cap)
{
    char p[700];
    snprintf(out, cap, "%s/%s", tmpdir, name);
    CU_ASSERT_FATAL(mkdir(out, 0700) == 0);
    snprintf(p, sizeof p, "%s/log.vkey", out);
    CU_ASSERT_FATAL(tl_file_write_new(p, "x+00000000+AA==\n", 16, 0644) == TL_OK);
}

static char *read_text(const char *path)
{
    char *b = NULL;
    size_t n;
    if (tl_file_read(path, 1 << 24, &b, &n) != TL_OK)
        return NULL;
    return b;
}

static void put_text(const char *path, const char *text)
{
    CU_ASSERT_FATAL(tl_file_write_atomic(path, text, strlen(text), 0600) == TL_OK);
}

/* ---- roles, names, new tokens ----------------------------------------------- */

static void test_roles(void)
{
    static const struct {
        tl_token_role role;
        int write, read, erase;
    } want[] = {
        {TL_TOKEN_WRITER, 1, 0, 0},
        {TL_TOKEN_READER, 0, 1, 0},
        {TL_TOKEN_ADMIN, 0, 1, 1},
    };
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(tl_token_may(want[i].role, TL_TOKEN_OP_WRITE), want[i].write);
        CU_ASSERT_EQUAL(tl_token_may(want[i].role, TL_TOKEN_OP_READ), want[i].read);
        CU_ASSERT_EQUAL(tl_token_may(want[i].role, TL_TOKEN_OP_ERASE), want[i].erase);
    }
    CU_ASSERT_EQUAL(tl_token_may((tl_token_role)7, TL_TOKEN_OP_READ), 0);
    CU_ASSERT_EQUAL(tl_token_may(TL_TOKEN_ADMIN, (tl_token_op)7), 0);

    tl_token_role r = (tl_token_role)99;
    static const char *const names[] = {"writer", "reader", "admin"};
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(tl_token_role_parse(names[i], &r), TL_OK);
        CU_ASSERT_EQUAL(r, want[i].role);
        CU_ASSERT_STRING_EQUAL(tl_token_role_name(want[i].role), names[i]);
    }
    r = (tl_token_role)99;
    static const char *const bad[] = {"", "Writer", "ADMIN", "read", "readers", "admin ", "root"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(tl_token_role_parse(bad[i], &r), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(r, (tl_token_role)99);
    CU_ASSERT_STRING_EQUAL(tl_token_role_name((tl_token_role)3), "?");
}

static void test_names(void)
{
    char n64[65], n65[66];
    memset(n64, 'a', 64);
    n64[64] = '\0';
    memset(n65, 'b', 65);
    n65[65] = '\0';
    static const char *const good[] = {"a", "A", "0", ".", "-", "_", "ci-bot_2.prod", "Z9"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CU_ASSERT_EQUAL(tl_token_name_valid(good[i]), 1);
    CU_ASSERT_EQUAL(tl_token_name_valid(n64), 1);
    CU_ASSERT_EQUAL(tl_token_name_valid(n65), 0);
    static const char *const bad[] = {"",     "a b", "a/b", "a\tb", "a\n", "\xc3\xa9",
                                      "@log", "a:b", "a+b", "a=b",  "#a",  "a,b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(tl_token_name_valid(bad[i]), 0);
}

static void test_new_token(void)
{
    char t[64][TL_TOKEN_LEN + 1];
    for (int i = 0; i < 64; i++) {
        CU_ASSERT_EQUAL_FATAL(tl_token_new(t[i]), TL_OK);
        CU_ASSERT_EQUAL(strlen(t[i]), TL_TOKEN_LEN);
        CU_ASSERT_EQUAL(strspn(t[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789-_"),
                        TL_TOKEN_LEN);
        /* base64url of TL_TOKEN_RANDOM bytes: back to base64, it decodes */
        char std[TL_TOKEN_LEN + 2];
        uint8_t raw[64];
        size_t n = 0;
        for (int k = 0; k < TL_TOKEN_LEN; k++)
            std[k] = t[i][k] == '-' ? '+' : t[i][k] == '_' ? '/' : t[i][k];
        std[TL_TOKEN_LEN] = '=';
        std[TL_TOKEN_LEN + 1] = '\0';
        CU_ASSERT_EQUAL(tl_b64_decode(std, strlen(std), raw, sizeof raw, &n), TL_OK);
        CU_ASSERT_EQUAL(n, TL_TOKEN_RANDOM);
        CU_ASSERT(TL_TOKEN_RANDOM * 8 >= 128);
        for (int j = 0; j < i; j++)
            CU_ASSERT_STRING_NOT_EQUAL(t[i], t[j]);
    }
    /* over many tokens every base64url character turns up, '-' and '_' too */
    int seen[256] = {0};
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < TL_TOKEN_LEN; k++)
            seen[(unsigned char)t[i][k]] = 1;
    CU_ASSERT(seen['-'] && seen['_']);
}

/* ---- Authorization: Bearer ----------------------------------------------------- */

static void test_bearer(void)
{
    static const struct {
        const char *v, *tok;
    } good[] = {
        {"Bearer abc", "abc"}, {"bearer abc", "abc"},
        {"BEARER x", "x"},     {"BeArEr a.b-c_d~e+f/g==", "a.b-c_d~e+f/g=="},
        {"Bearer 0=", "0="},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *tok = NULL;
        size_t n = 0;
        CU_ASSERT_EQUAL(tl_token_bearer(good[i].v, strlen(good[i].v), &tok, &n), TL_OK);
        CU_ASSERT(tok == good[i].v + 7);
        CU_ASSERT_EQUAL(n, strlen(good[i].tok));
        CU_ASSERT(tok && memcmp(tok, good[i].tok, n) == 0);
    }
    static const char *const bad[] = {"",
                                      "Bearer",
                                      "Bearer ",
                                      "Bearer  abc",
                                      " Bearer abc",
                                      "Bearer abc ",
                                      "Basic abc",
                                      "Bearerabc",
                                      "Bearer\tabc",
                                      "Bearer a=b",
                                      "Bearer ==",
                                      "Bearer ab,c",
                                      "Bearer a b",
                                      "Bearer \"a\"",
                                      "Bearer a\r",
                                      "Bearer\xc2\xa0"
                                      "abc",
                                      "Bearex abc",
                                      "Beare abc",
                                      "Bearer a%20",
                                      "Bearer a;b",
                                      "Bearer a=\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *tok = NULL;
        size_t n = 99;
        CU_ASSERT_EQUAL(tl_token_bearer(bad[i], strlen(bad[i]), &tok, &n), TL_ERR_INVALID);
        CU_ASSERT_PTR_NULL(tok);
        CU_ASSERT_EQUAL(n, 99);
    }
    /* the length given is the field: a NUL inside it is a bad character, and
     * nothing past it is read */
    const char *tok;
    size_t n;
    CU_ASSERT_EQUAL(tl_token_bearer("Bearer ab\0c", 11, &tok, &n), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_token_bearer("Bearer abc and more", 10, &tok, &n), TL_OK);
    CU_ASSERT_EQUAL(n, 3);
}

/* ---- the file format -------------------------------------------------------------- */

#define H1 "0000000000000000000000000000000000000000000000000000000000000001"
#define H2 "00000000000000000000000000000000000000000000000000000000000000a2"
#define H3 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03"

static void test_round_trip(void)
{
    static const char text[] = "# a comment\n"
                               "\n"
                               "ci-bot writer " H1 "\n"
                               "#another, with spaces and a stray\tTAB\n"
                               "auditor.1 reader " H2 "\n"
                               "\n"
                               "Root_2 admin " H3; /* no final LF */
    tl_tokens *t = NULL, *t2 = NULL;
    tl_buf out = TL_BUF_INIT, out2 = TL_BUF_INIT;
    char err[200] = "";
    tl_token_role r;

    CU_ASSERT_EQUAL_FATAL(tl_tokens_parse(text, strlen(text), &t, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(tl_tokens_count(t), 3);
    CU_ASSERT_STRING_EQUAL(tl_tokens_get(t, 0, &r), "ci-bot");
    CU_ASSERT_EQUAL(r, TL_TOKEN_WRITER);
    CU_ASSERT_STRING_EQUAL(tl_tokens_get(t, 1, &r), "auditor.1");
    CU_ASSERT_EQUAL(r, TL_TOKEN_READER);
    CU_ASSERT_STRING_EQUAL(tl_tokens_get(t, 2, &r), "Root_2");
    CU_ASSERT_EQUAL(r, TL_TOKEN_ADMIN);
    CU_ASSERT_PTR_NULL(tl_tokens_get(t, 3, &r));

    CU_ASSERT_EQUAL_FATAL(tl_tokens_format(t, &out), TL_OK);
    const char *f = (const char *)out.data;
    CU_ASSERT_PTR_NOT_NULL(
        strstr(f, "\nci-bot writer " H1 "\nauditor.1 reader " H2 "\nRoot_2 admin " H3 "\n"));
    CU_ASSERT_EQUAL(f[0], '#');
    CU_ASSERT_EQUAL_FATAL(tl_tokens_parse(f, out.len, &t2, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(tl_tokens_count(t2), 3);
    for (size_t i = 0; i < 3; i++) {
        tl_token_role r1, r2;
        CU_ASSERT_STRING_EQUAL(tl_tokens_get(t, i, &r1), tl_tokens_get(t2, i, &r2));
        CU_ASSERT_EQUAL(r1, r2);
    }
    CU_ASSERT_EQUAL(tl_tokens_format(t2, &out2), TL_OK);
    CU_ASSERT(out.len == out2.len && memcmp(out.data, out2.data, out.len) == 0);
    tl_tokens_free(t2);
    tl_tokens_free(t);
    tl_buf_release(&out);
    tl_buf_release(&out2);

    /* nothing, only comments and empty lines: no tokens */
    static const char *const empty[] = {"", "\n", "# x\n\n#\n", "#"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        CU_ASSERT_EQUAL_FATAL(tl_tokens_parse(empty[i], strlen(empty[i]), &t, err, sizeof err),
                              TL_OK);
        CU_ASSERT_EQUAL(tl_tokens_count(t), 0);
        tl_tokens_free(t);
    }
}

static void test_parse_errors(void)
{
    char n65[66];
    memset(n65, 'n', 65);
    n65[65] = '\0';
    char longname[200];
    snprintf(longname, sizeof longname, "%s writer " H1 "\n", n65);
    static const char *const fmt = "want <name> <role> <sha256 hex>, single spaces between";
    static const char *const name = "a name is 1 to 64 of A-Za-z0-9._-";
    static const char *const role = "the role must be writer, reader or admin";
    static const char *const hash =
        "the hash must be 64 lowercase hex digits (the token's SHA-256, never the token)";
    const struct {
        const char *text;
        size_t line;
        const char *why;
    } bad[] = {
        {"a writer\n", 1, fmt},
        {"# c\na writer " H1 " extra\n", 2, fmt},
        {"a  writer " H1 "\n", 1, fmt},
        {" a writer " H1 "\n", 1, fmt},
        {"a writer " H1 " \n", 1, fmt},
        {"a writer  " H1 "\n", 1, fmt},
        {"\n\na\twriter\t" H1 "\n", 3, fmt},
        {"a writer " H1 "\r\n", 1, "a carriage return (lines end with LF alone)"},
        {" \n", 1, fmt},
        {"a/b writer " H1 "\n", 1, name},
        {longname, 1, name},
        {"@log writer " H1 "\n", 1, name},
        {"a Writer " H1 "\n", 1, role},
        {"a root " H1 "\n", 1, role},
        {"a writer 00000000000000000000000000000000000000000000000000000000000000A2\n", 1, hash},
        {"a writer 0000000000000000000000000000000000000000000000000000000000000a2\n", 1, hash},
        {"a writer 00000000000000000000000000000000000000000000000000000000000000a2f\n", 1, hash},
        {"a writer 00000000000000000000000000000000000000000000000000000000000000g2\n", 1, hash},
        {"x reader " H2 "\na writer " H1 "\n\nb reader " H3 "\na admin " H3 "\n", 5,
         "the name a is already on line 2"},
        {"x reader " H2 "\na writer " H1 "\nb admin " H1 "\n", 3,
         "the same hash as line 2 (one token with two names)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_tokens *t = NULL;
        char err[200] = "", want[200];
        snprintf(want, sizeof want, "line %zu: %s", bad[i].line, bad[i].why);
        CU_ASSERT_EQUAL(tl_tokens_parse(bad[i].text, strlen(bad[i].text), &t, err, sizeof err),
                        TL_ERR_CORRUPT);
        CU_ASSERT_PTR_NULL(t);
        CU_ASSERT_STRING_EQUAL(err, want);
        if (strcmp(err, want) != 0)
            fprintf(stderr, "case %zu: got '%s'\n", i, err);
    }
    /* a NUL byte, in a token line or a comment */
    char err[200] = "";
    tl_tokens *t = NULL;
    CU_ASSERT_EQUAL(tl_tokens_parse("# a\0b\n", 6, &t, err, sizeof err), TL_ERR_CORRUPT);
    CU_ASSERT_STRING_EQUAL(err, "line 1: a NUL byte");
    CU_ASSERT_EQUAL(tl_tokens_parse("\na wri\0ter " H1, 11 + 64, &t, err, sizeof err),
                    TL_ERR_CORRUPT);
    CU_ASSERT_STRING_EQUAL(err, "line 2: a NUL byte");
    /* a token pasted where its hash belongs is not quoted back */
    char tok[TL_TOKEN_LEN + 1], text[200];
    CU_ASSERT_EQUAL_FATAL(tl_token_new(tok), TL_OK);
    snprintf(text, sizeof text, "alice writer %s\n", tok);
    CU_ASSERT_EQUAL(tl_tokens_parse(text, strlen(text), &t, err, sizeof err), TL_ERR_CORRUPT);
    CU_ASSERT_PTR_NULL(strstr(err, tok));
    CU_ASSERT_PTR_NULL(strstr(err, "alice"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 1: "));
    /* over the size bound */
    size_t big = TL_TOKENS_MAX_BYTES + 1;
    char *huge = malloc(big);
    CU_ASSERT_FATAL(huge != NULL);
    memset(huge, '\n', big);
    CU_ASSERT_EQUAL(tl_tokens_parse(huge, big, &t, err, sizeof err), TL_ERR_TOOBIG);
    CU_ASSERT_EQUAL(tl_tokens_parse(huge, big - 1, &t, err, sizeof err), TL_OK);
    tl_tokens_free(t);
    free(huge);
}

/* ---- lookup --------------------------------------------------------------------- */

static void test_lookup(void)
{
    enum { N = 5 };
    char tok[N][TL_TOKEN_LEN + 1], hex[65];
    static const char *const names[N] = {"w", "r", "a", "w2", "r2"};
    static const char *const roles[N] = {"writer", "reader", "admin", "writer", "reader"};
    tl_buf text = TL_BUF_INIT;
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL_FATAL(tl_token_new(tok[i]), TL_OK);
        sha256_hex(tok[i], hex);
        tl_buf_addf(&text, "%s %s %s\n", names[i], roles[i], hex);
    }
    tl_tokens *t = NULL;
    char err[200];
    CU_ASSERT_EQUAL_FATAL(tl_tokens_parse((char *)text.data, text.len, &t, err, sizeof err), TL_OK);
    tl_buf_release(&text);

    tl_tokens_stats st, st0;
    for (int i = 0; i < N; i++) {
        const char *name = NULL;
        tl_token_role r = (tl_token_role)99, want;
        tl_tokens_stats_get(t, &st0);
        CU_ASSERT_EQUAL(tl_tokens_lookup(t, tok[i], TL_TOKEN_LEN, &name, &r), TL_OK);
        tl_tokens_stats_get(t, &st);
        CU_ASSERT_STRING_EQUAL(name, names[i]);
        CU_ASSERT_EQUAL(tl_token_role_parse(roles[i], &want), TL_OK);
        CU_ASSERT_EQUAL(r, want);
        /* every stored hash is compared, wherever the match is */
        CU_ASSERT_EQUAL(st.compared - st0.compared, N);
        CU_ASSERT_EQUAL(st.hashed - st0.hashed, TL_TOKEN_LEN);
        CU_ASSERT_EQUAL(st.lookups - st0.lookups, 1);
    }
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, tok[2], TL_TOKEN_LEN, NULL, NULL), TL_OK);

    /* wrong tokens: a prefix, one more character, one changed, another token */
    char wrong[TL_TOKEN_LEN + 2], other[TL_TOKEN_LEN + 1];
    CU_ASSERT_EQUAL_FATAL(tl_token_new(other), TL_OK);
    memcpy(wrong, tok[0], TL_TOKEN_LEN + 1);
    wrong[TL_TOKEN_LEN] = 'A';
    wrong[TL_TOKEN_LEN + 1] = '\0';
    const struct {
        const char *p;
        size_t len;
    } miss[] = {{tok[0], TL_TOKEN_LEN - 1}, {tok[0], 1}, {wrong, TL_TOKEN_LEN + 1}, {other, 43}};
    for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++) {
        const char *name = "untouched";
        tl_token_role r = (tl_token_role)99;
        tl_tokens_stats_get(t, &st0);
        CU_ASSERT_EQUAL(tl_tokens_lookup(t, miss[i].p, miss[i].len, &name, &r), TL_ERR_NOTFOUND);
        tl_tokens_stats_get(t, &st);
        CU_ASSERT_STRING_EQUAL(name, "untouched");
        CU_ASSERT_EQUAL(r, (tl_token_role)99);
        CU_ASSERT_EQUAL(st.compared - st0.compared, N);
    }
    wrong[0] = wrong[0] == 'x' ? 'y' : 'x';
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, wrong, TL_TOKEN_LEN, NULL, NULL), TL_ERR_NOTFOUND);

    /* empty and huge tokens are not even hashed */
    size_t big = 4 << 20;
    char *huge = malloc(big);
    CU_ASSERT_FATAL(huge != NULL);
    memset(huge, 'A', big);
    memcpy(huge, tok[0], TL_TOKEN_LEN);
    tl_tokens_stats_get(t, &st0);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, "", 0, NULL, NULL), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, huge, big, NULL, NULL), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, huge, TL_TOKEN_MAX + 1, NULL, NULL), TL_ERR_NOTFOUND);
    tl_tokens_stats_get(t, &st);
    CU_ASSERT_EQUAL(st.hashed, st0.hashed);
    CU_ASSERT_EQUAL(st.compared, st0.compared);
    CU_ASSERT_EQUAL(st.lookups - st0.lookups, 3);
    /* the longest token that is looked at is hashed */
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, huge, TL_TOKEN_MAX, NULL, NULL), TL_ERR_NOTFOUND);
    tl_tokens_stats_get(t, &st);
    CU_ASSERT_EQUAL(st.hashed - st0.hashed, TL_TOKEN_MAX);
    free(huge);
    tl_tokens_free(t);
}

/* ---- add, revoke ---------------------------------------------------------------- */

static void test_add_revoke(void)
{
    char dir[600], path[700], err[300], hex[65];
    char tw[TL_TOKEN_LEN + 1], tr[TL_TOKEN_LEN + 1], ta[TL_TOKEN_LEN + 1];
    struct stat st;
    tl_tokens *t = NULL;
    tl_token_role r;
    const char *name;

    new_log_dir("addrevoke", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tokens", dir);
    /* no file yet: no tokens */
    CU_ASSERT_EQUAL_FATAL(tl_tokens_open(dir, &t, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(tl_tokens_count(t), 0);
    tl_tokens_free(t);

    mode_t old = umask(0);
    CU_ASSERT_EQUAL(tl_tokens_add(dir, "ci", TL_TOKEN_WRITER, tw, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(strlen(tw), TL_TOKEN_LEN);
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
    /* a umask that takes the owner's bits does not make the file unreadable */
    umask(0377);
    CU_ASSERT_EQUAL(tl_tokens_add(dir, "auditor", TL_TOKEN_READER, tr, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
    umask(0);
    CU_ASSERT_EQUAL(tl_tokens_add(dir, "root", TL_TOKEN_ADMIN, ta, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
    umask(old);
    CU_ASSERT_STRING_NOT_EQUAL(tw, tr);

    /* the file holds the hashes and never a token */
    char *f = read_text(path);
    CU_ASSERT_FATAL(f != NULL);
    const char *toks[] = {tw, tr, ta};
    for (int i = 0; i < 3; i++) {
        char prefix[11];
        memcpy(prefix, toks[i], 10);
        prefix[10] = '\0';
        CU_ASSERT_PTR_NULL(strstr(f, toks[i]));
        CU_ASSERT_PTR_NULL(strstr(f, prefix));
        sha256_hex(toks[i], hex);
        CU_ASSERT_PTR_NOT_NULL(strstr(f, hex));
    }
    sha256_hex(tw, hex);
    char line[120];
    snprintf(line, sizeof line, "\nci writer %s\n", hex);
    CU_ASSERT_PTR_NOT_NULL(strstr(f, line));
    free(f);

    CU_ASSERT_EQUAL_FATAL(tl_tokens_open(dir, &t, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(tl_tokens_count(t), 3);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, tw, TL_TOKEN_LEN, &name, &r), TL_OK);
    CU_ASSERT(strcmp(name, "ci") == 0 && r == TL_TOKEN_WRITER);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, tr, TL_TOKEN_LEN, &name, &r), TL_OK);
    CU_ASSERT(strcmp(name, "auditor") == 0 && r == TL_TOKEN_READER);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, ta, TL_TOKEN_LEN, &name, &r), TL_OK);
    CU_ASSERT(strcmp(name, "root") == 0 && r == TL_TOKEN_ADMIN);
    tl_tokens_free(t);

    /* a name in use, bad names and roles, not a log folder: nothing changes */
    char tok[TL_TOKEN_LEN + 1] = "x";
    f = read_text(path);
    CU_ASSERT_EQUAL(tl_tokens_add(dir, "ci", TL_TOKEN_READER, tok, err, sizeof err),
                    TL_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(err, "the name ci is in use (revoke it first)");
    CU_ASSERT_STRING_EQUAL(tok, "");
    CU_ASSERT_EQUAL(tl_tokens_add(dir, "a b", TL_TOKEN_READER, tok, err, sizeof err),
                    TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_tokens_add(dir, "", TL_TOKEN_READER, tok, err, sizeof err), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_tokens_add(dir, "ok", (tl_token_role)3, tok, err, sizeof err),
                    TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_tokens_add(tmpdir, "ok", TL_TOKEN_READER, tok, err, sizeof err),
                    TL_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not a log folder"));
    CU_ASSERT_EQUAL(tl_tokens_revoke(tmpdir, "ci", err, sizeof err), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_tokens_open(tmpdir, &t, err, sizeof err), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_tokens_revoke(dir, "nobody", err, sizeof err), TL_ERR_NOTFOUND);
    CU_ASSERT_STRING_EQUAL(err, "no token is named nobody");
    char *f2 = read_text(path);
    CU_ASSERT(f && f2 && strcmp(f, f2) == 0);
    free(f2);
    free(f);

    /* revoke: that line goes, the others (and comments) stay */
    f = read_text(path);
    CU_ASSERT_FATAL(f != NULL);
    size_t flen = strlen(f);
    char *edited = malloc(flen + 64);
    CU_ASSERT_FATAL(edited != NULL);
    snprintf(edited, flen + 64, "%s# keep me\n", f);
    put_text(path, edited);
    free(f);
    CU_ASSERT_EQUAL(tl_tokens_revoke(dir, "auditor", err, sizeof err), TL_OK);
    f = read_text(path);
    sha256_hex(tr, hex);
    CU_ASSERT(f && strstr(f, hex) == NULL && strstr(f, "auditor") == NULL);
    CU_ASSERT(f && strstr(f, "# keep me\n") != NULL);
    CU_ASSERT(f && strlen(f) == flen + 10 - (strlen("auditor reader \n") + 64));
    free(f);
    free(edited);
    CU_ASSERT_EQUAL_FATAL(tl_tokens_open(dir, &t, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(tl_tokens_count(t), 2);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, tr, TL_TOKEN_LEN, &name, &r), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, tw, TL_TOKEN_LEN, &name, &r), TL_OK);
    tl_tokens_free(t);
    CU_ASSERT_EQUAL(tl_tokens_revoke(dir, "auditor", err, sizeof err), TL_ERR_NOTFOUND);
    /* the name is free again, for a new token */
    CU_ASSERT_EQUAL(tl_tokens_add(dir, "auditor", TL_TOKEN_READER, tok, err, sizeof err), TL_OK);
    CU_ASSERT_STRING_NOT_EQUAL(tok, tr);

    /* a last line without LF gets one before the next line */
    f = read_text(path);
    CU_ASSERT_FATAL(f != NULL);
    f[strlen(f) - 1] = '\0';
    put_text(path, f);
    free(f);
    CU_ASSERT_EQUAL(tl_tokens_add(dir, "late", TL_TOKEN_READER, tok, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_tokens_open(dir, &t, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(tl_tokens_count(t), 4);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, tok, TL_TOKEN_LEN, &name, &r), TL_OK);
    CU_ASSERT_STRING_EQUAL(name, "late");
    tl_tokens_free(t);

    /* a file that does not parse is left alone */
    put_text(path, "ci writer nothex\n");
    CU_ASSERT_EQUAL(tl_tokens_add(dir, "new", TL_TOKEN_READER, tok, err, sizeof err),
                    TL_ERR_CORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 1: the hash must be"));
    CU_ASSERT_STRING_EQUAL(tok, "");
    CU_ASSERT_EQUAL(tl_tokens_revoke(dir, "ci", err, sizeof err), TL_ERR_CORRUPT);
    CU_ASSERT_EQUAL(tl_tokens_open(dir, &t, err, sizeof err), TL_ERR_CORRUPT);
    f = read_text(path);
    CU_ASSERT(f && strcmp(f, "ci writer nothex\n") == 0);
    free(f);
}

/* ---- refresh -------------------------------------------------------------------- */

/* Runs tl_tokens_refresh with stderr in a file; *lines: the lines it wrote,
 * copied to log (cap bytes). */
static int refresh_logged(tl_tokens *t, uint64_t now, int *lines, char *log, size_t cap)
{
    char p[700];
    snprintf(p, sizeof p, "%s/stderr", tmpdir);
    fflush(stderr);
    int saved = dup(2), fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    int rc = tl_tokens_refresh(t, now);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    char *s = read_text(p);
    *lines = 0;
    for (char *c = s; c && *c; c++)
        *lines += *c == '\n';
    snprintf(log, cap, "%s", s ? s : "");
    free(s);
    return rc;
}

static void test_refresh(void)
{
    char dir[600], path[700], err[300], log[1000], hex[65];
    char t1[TL_TOKEN_LEN + 1], t2[TL_TOKEN_LEN + 1], t3[TL_TOKEN_LEN + 1];
    tl_tokens *t = NULL;
    const char *name;
    tl_token_role r;
    int lines;
    uint64_t now = 1000000;

    new_log_dir("refresh", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tokens", dir);
    CU_ASSERT_EQUAL_FATAL(tl_tokens_add(dir, "one", TL_TOKEN_WRITER, t1, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_tokens_open(dir, &t, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(tl_tokens_count(t), 1);
    CU_ASSERT_EQUAL(refresh_logged(t, now, &lines, log, sizeof log), 0);
    CU_ASSERT_EQUAL(lines, 0);

    /* a change is in effect at the first check after it, at most
     * TL_TOKENS_CHECK_MS later: well within a second */
    CU_ASSERT(TL_TOKENS_CHECK_MS <= 500);
    CU_ASSERT_EQUAL_FATAL(tl_tokens_add(dir, "two", TL_TOKEN_READER, t2, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(refresh_logged(t, now + 1, &lines, log, sizeof log), 0); /* not yet */
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, t2, TL_TOKEN_LEN, &name, &r), TL_ERR_NOTFOUND);
    now += TL_TOKENS_CHECK_MS;
    CU_ASSERT_EQUAL(refresh_logged(t, now, &lines, log, sizeof log), 1);
    CU_ASSERT_EQUAL(lines, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "2 tokens"));
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, t2, TL_TOKEN_LEN, &name, &r), TL_OK);
    CU_ASSERT(strcmp(name, "two") == 0 && r == TL_TOKEN_READER);
    /* nothing changed: nothing happens, nothing is logged */
    now += TL_TOKENS_CHECK_MS;
    CU_ASSERT_EQUAL(refresh_logged(t, now, &lines, log, sizeof log), 0);
    CU_ASSERT_EQUAL(lines, 0);

    /* revoked: gone at the next check */
    CU_ASSERT_EQUAL_FATAL(tl_tokens_revoke(dir, "one", err, sizeof err), TL_OK);
    now += TL_TOKENS_CHECK_MS;
    CU_ASSERT_EQUAL(refresh_logged(t, now, &lines, log, sizeof log), 1);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, t1, TL_TOKEN_LEN, &name, &r), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(tl_tokens_count(t), 1);

    /* a broken file keeps the old set, says so once, and never quotes a
     * line (here a token pasted instead of a hash) */
    char text[400];
    CU_ASSERT_EQUAL_FATAL(tl_token_new(t3), TL_OK);
    sha256_hex(t2, hex);
    snprintf(text, sizeof text, "two reader %s\nthree writer %s\n", hex, t3);
    put_text(path, text);
    now += TL_TOKENS_CHECK_MS;
    CU_ASSERT(refresh_logged(t, now, &lines, log, sizeof log) < 0);
    CU_ASSERT_EQUAL(lines, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "line 2: the hash must be"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "keeping the 1 tokens loaded before"));
    CU_ASSERT_PTR_NULL(strstr(log, t3));
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, t2, TL_TOKEN_LEN, &name, &r), TL_OK);
    CU_ASSERT_STRING_EQUAL(name, "two");
    for (int i = 0; i < 12; i++) { /* three seconds: past the racy window too */
        now += TL_TOKENS_CHECK_MS;
        CU_ASSERT_EQUAL(refresh_logged(t, now, &lines, log, sizeof log), 0);
        CU_ASSERT_EQUAL(lines, 0);
    }
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, t2, TL_TOKEN_LEN, &name, &r), TL_OK);

    /* fixed: the new set; edited in place, same size and inode, mtime put
     * back: still seen */
    char h3[65];
    sha256_hex(t3, h3);
    snprintf(text, sizeof text, "two reader %s\nthree writer %s\n", hex, h3);
    put_text(path, text);
    now += TL_TOKENS_CHECK_MS;
    CU_ASSERT_EQUAL(refresh_logged(t, now, &lines, log, sizeof log), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "parses again"));
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, t3, TL_TOKEN_LEN, &name, &r), TL_OK);
    CU_ASSERT_STRING_EQUAL(name, "three");

    struct stat st0, st1;
    CU_ASSERT_EQUAL_FATAL(stat(path, &st0), 0);
    text[0] = 'T'; /* "Two": same length */
    int fd = open(path, O_WRONLY);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
    struct timespec ts[2] = {st0.st_atim, st0.st_mtim};
    CU_ASSERT_EQUAL(futimens(fd, ts), 0);
    close(fd);
    CU_ASSERT_EQUAL_FATAL(stat(path, &st1), 0);
    CU_ASSERT(st1.st_ino == st0.st_ino && st1.st_size == st0.st_size &&
              st1.st_mtim.tv_sec == st0.st_mtim.tv_sec &&
              st1.st_mtim.tv_nsec == st0.st_mtim.tv_nsec);
    now += TL_TOKENS_CHECK_MS;
    CU_ASSERT_EQUAL(refresh_logged(t, now, &lines, log, sizeof log), 1);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, t2, TL_TOKEN_LEN, &name, &r), TL_OK);
    CU_ASSERT_STRING_EQUAL(name, "Two");

    /* removed: no tokens */
    CU_ASSERT_EQUAL_FATAL(unlink(path), 0);
    now += TL_TOKENS_CHECK_MS;
    CU_ASSERT_EQUAL(refresh_logged(t, now, &lines, log, sizeof log), 1);
    CU_ASSERT_EQUAL(lines, 1);
    CU_ASSERT_EQUAL(tl_tokens_count(t), 0);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, t2, TL_TOKEN_LEN, &name, &r), TL_ERR_NOTFOUND);
    now += TL_TOKENS_CHECK_MS;
    CU_ASSERT_EQUAL(refresh_logged(t, now, &lines, log, sizeof log), 0);
    CU_ASSERT_EQUAL(lines, 0);
    /* and back */
    CU_ASSERT_EQUAL_FATAL(tl_tokens_add(dir, "four", TL_TOKEN_ADMIN, t1, err, sizeof err), TL_OK);
    now += TL_TOKENS_CHECK_MS;
    CU_ASSERT_EQUAL(refresh_logged(t, now, &lines, log, sizeof log), 1);
    CU_ASSERT_EQUAL(tl_tokens_lookup(t, t1, TL_TOKEN_LEN, &name, &r), TL_OK);
    CU_ASSERT(strcmp(name, "four") == 0 && r == TL_TOKEN_ADMIN);
    tl_tokens_free(t);

    /* a set from text is bound to no file */
    CU_ASSERT_EQUAL_FATAL(tl_tokens_parse("", 0, &t, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(tl_tokens_refresh(t, now + 100000), 0);
    tl_tokens_free(t);
}

/* ---- main ----------------------------------------------------------------------- */

int main(void)
{
    const char *t = getenv("TMPDIR");
    char cmd[700];
    snprintf(tmpdir, sizeof tmpdir, "%s/tl-tokens-XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("tokens", NULL, NULL);
    CU_add_test(s, "roles", test_roles);
    CU_add_test(s, "names", test_names);
    CU_add_test(s, "new tokens", test_new_token);
    CU_add_test(s, "bearer", test_bearer);
    CU_add_test(s, "round trip", test_round_trip);
    CU_add_test(s, "parse errors", test_parse_errors);
    CU_add_test(s, "lookup", test_lookup);
    CU_add_test(s, "add and revoke", test_add_revoke);
    CU_add_test(s, "refresh", test_refresh);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (fails == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return fails ? 1 : 0;
}
