/*
 * test_signer.c - CUnit tests for signer/: C2SP signed notes (checked against
 * golang.org/x/mod/sumdb/note's published PeterNeumann key and note, and the
 * c2sp.org/signed-note, tlog-checkpoint and tlog-cosignature examples),
 * key strings, checkpoints, cosignature/v1, RFC 6962 STHs (cross-checked with
 * the openssl command line tool, an implementation this project did not
 * write), tlog-policy parsing and quorums, and tlog-proof files.
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/b64.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/file.h"
#include "signer/checkpoint.h"
#include "signer/note.h"
#include "signer/policy.h"
#include "signer/sth.h"
#include "signer/tlogproof.h"

/* ---- vectors --------------------------------------------------------------
 * golang.org/x/mod/sumdb/note note_test.go (the same family as
 * c2sp.org/signed-note; Ed25519 is deterministic, so signing must reproduce
 * the published note byte for byte). */
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_TEXT                                                                                    \
    "If you think cryptography is the answer to your problem,\n"                                   \
    "then you don't know what your problem is.\n"
#define GO_SIGLINE                                                                                 \
    "\xE2\x80\x94 PeterNeumann "                                                                   \
    "x08go/ZJkuBS9UG/"                                                                             \
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
#define GO_NOTE GO_TEXT "\n" GO_SIGLINE

/* c2sp.org/signed-note: the example note (its text holds an empty line). */
#define SPEC_NOTE_TEXT                                                                             \
    "Ognuno sta solo sul cuor della terra\n"                                                       \
    "trafitto da un raggio di sole:\n"                                                             \
    "\n"                                                                                           \
    "ed \xC3\xA8 subito sera.\n"
#define SPEC_NOTE                                                                                  \
    SPEC_NOTE_TEXT "\n"                                                                            \
                   "\xE2\x80\x94 quasimodo.example/salvatore "                                     \
                   "NnugSzTjtVAewIS+Z/iJhUPeFDkO/"                                                 \
                   "5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"

/* c2sp.org/signed-note §"Verifier keys" example: a vkey and a note it verifies. */
#define SPEC_VKEY "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
#define SPEC_VNOTE                                                                                 \
    "This is an example message.\n"                                                                \
    "\n"                                                                                           \
    "\xE2\x80\x94 example.com/foo "                                                                \
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=" \
    "\n"

/* c2sp.org/tlog-cosignature: the example checkpoint with a cosignature. */
#define SOFA_TEXT                                                                                  \
    "example.com/behind-the-sofa\n"                                                                \
    "20852163\n"                                                                                   \
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
#define SOFA_NOTE                                                                                  \
    SOFA_TEXT "\n"                                                                                 \
              "\xE2\x80\x94 example.com/behind-the-sofa "                                          \
              "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"                          \
              "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"                                              \
              "\xE2\x80\x94 witness.example.com/w1 "                                               \
              "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/"                                               \
              "zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"

#define EM "\xE2\x80\x94 "

static char tmpdir[512];

/* ---- helpers ------------------------------------------------------------ */

static int note_parse_str(const char *s, tl_note *n)
{
    return tl_note_parse(s, strlen(s), n);
}

/* Expects s to be rejected by tl_note_parse. */
static void note_bad(const char *s, size_t len)
{
    tl_note n;
    int r = tl_note_parse(s, len, &n);
    CU_ASSERT(r == TL_ERR_INVALID || r == TL_ERR_TOOBIG);
    if (r == TL_OK) {
        fprintf(stderr, "accepted bad note: %.*s\n", (int)len, s);
        tl_note_release(&n);
    }
}

static void note_bad_s(const char *s)
{
    note_bad(s, strlen(s));
}

static char *cat2(const char *a, const char *b)
{
    char *s = malloc(strlen(a) + strlen(b) + 1);
    strcpy(s, a);
    strcat(s, b);
    return s;
}

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const void *data, size_t len)
{
    CU_ASSERT_FATAL(tl_file_write_atomic(path, data, len, 0644) == TL_OK);
}

/* The file's bytes (malloc'd), or NULL. */
static uint8_t *read_file(const char *path, size_t *len)
{
    char *b = NULL;
    *len = 0;
    return tl_file_read(path, 65536, &b, len) == TL_OK ? (uint8_t *)b : NULL;
}

/* ---- signed notes: published vectors ------------------------------------ */

static void test_go_vector(void)
{
    tl_verifier *v = NULL;
    tl_signer *s = NULL;
    char *str = NULL, *out = NULL;
    size_t outlen = 0;
    tl_note n;

    CU_ASSERT_FATAL(tl_verifier_parse(GO_VKEY, &v) == TL_OK);
    CU_ASSERT_STRING_EQUAL(tl_verifier_name(v), "PeterNeumann");
    CU_ASSERT(tl_verifier_keyid(v) == 0xc74f20a3);
    CU_ASSERT(tl_verifier_type(v) == TL_KEY_ED25519);
    CU_ASSERT(tl_verifier_format(v, &str) == TL_OK);
    CU_ASSERT_STRING_EQUAL(str, GO_VKEY);
    free(str);

    CU_ASSERT_FATAL(tl_signer_parse(GO_SKEY, &s) == TL_OK);
    CU_ASSERT(tl_signer_keyid(s) == 0xc74f20a3);
    CU_ASSERT_STRING_EQUAL(tl_signer_name(s), "PeterNeumann");
    CU_ASSERT(tl_signer_format(s, &str) == TL_OK);
    CU_ASSERT_STRING_EQUAL(str, GO_SKEY);
    free(str);
    CU_ASSERT(tl_signer_vkey(s, &str) == TL_OK);
    CU_ASSERT_STRING_EQUAL(str, GO_VKEY);
    free(str);

    /* Re-signing gives the published note byte for byte. */
    CU_ASSERT_FATAL(tl_note_sign(s, GO_TEXT, strlen(GO_TEXT), &out, &outlen) == TL_OK);
    CU_ASSERT(outlen == strlen(GO_NOTE));
    CU_ASSERT_STRING_EQUAL(out, GO_NOTE);
    free(out);
    CU_ASSERT(tl_note_sign_line(s, GO_TEXT, strlen(GO_TEXT), &out) == TL_OK);
    CU_ASSERT_STRING_EQUAL(out, GO_SIGLINE);
    free(out);

    /* The published note verifies; parse + format round trips. */
    CU_ASSERT_FATAL(note_parse_str(GO_NOTE, &n) == TL_OK);
    CU_ASSERT(n.text_len == strlen(GO_TEXT));
    CU_ASSERT(memcmp(n.text, GO_TEXT, n.text_len) == 0);
    CU_ASSERT(n.nsigs == 1);
    CU_ASSERT(tl_note_verify(&n, v) == TL_OK);
    CU_ASSERT(tl_note_format(&n, &out, &outlen) == TL_OK);
    CU_ASSERT_STRING_EQUAL(out, GO_NOTE);
    free(out);
    /* Tampered text: the signature fails. */
    n.text[3] = 'Y';
    CU_ASSERT(tl_note_verify(&n, v) == TL_ERR_SIG);
    tl_note_release(&n);
    /* Tampered signature byte. */
    {
        char *bad = strdup(GO_NOTE);
        char *p = strstr(bad, "x08go") + 10;
        *p = *p == 'A' ? 'B' : 'A';
        CU_ASSERT_FATAL(note_parse_str(bad, &n) == TL_OK);
        CU_ASSERT(tl_note_verify(&n, v) == TL_ERR_SIG);
        tl_note_release(&n);
        free(bad);
    }
    tl_signer_free(s);
    tl_verifier_free(v);
}

static void test_spec_examples(void)
{
    uint8_t raw[80];
    size_t got = 0;
    tl_checkpoint cp;
    char *out = NULL;
    size_t outlen = 0;
    tl_note n;

    /* signed-note: the spec's verifier key verifies the spec's note. */
    {
        tl_verifier *v = NULL;
        char *vs = NULL;
        CU_ASSERT_FATAL(tl_verifier_parse(SPEC_VKEY, &v) == TL_OK);
        CU_ASSERT(tl_verifier_keyid(v) == 0x530d903a);
        CU_ASSERT(tl_verifier_format(v, &vs) == TL_OK);
        CU_ASSERT_STRING_EQUAL(vs, SPEC_VKEY);
        free(vs);
        CU_ASSERT_FATAL(note_parse_str(SPEC_VNOTE, &n) == TL_OK);
        CU_ASSERT(n.text_len == 28);
        CU_ASSERT(tl_note_verify(&n, v) == TL_OK);
        n.text[0] = 't';
        CU_ASSERT(tl_note_verify(&n, v) == TL_ERR_SIG);
        tl_note_release(&n);
        tl_verifier_free(v);
    }
    /* signed-note: the text is split at the LAST empty line. */
    CU_ASSERT_FATAL(note_parse_str(SPEC_NOTE, &n) == TL_OK);
    CU_ASSERT(n.text_len == strlen(SPEC_NOTE_TEXT));
    CU_ASSERT(memcmp(n.text, SPEC_NOTE_TEXT, n.text_len) == 0);
    CU_ASSERT_FATAL(n.nsigs == 1);
    CU_ASSERT_STRING_EQUAL(n.sigs[0].name, "quasimodo.example/salvatore");
    CU_ASSERT(tl_b64_decode("NnugSzTj", 8, raw, sizeof raw, &got) == TL_OK);
    CU_ASSERT(n.sigs[0].keyid ==
              ((uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3]));
    CU_ASSERT(n.sigs[0].sig_len == 64);
    CU_ASSERT(tl_note_format(&n, &out, &outlen) == TL_OK);
    CU_ASSERT_STRING_EQUAL(out, SPEC_NOTE);
    free(out);
    tl_note_release(&n);

    /* tlog-cosignature example: checkpoint body and a timestamped cosignature. */
    CU_ASSERT_FATAL(note_parse_str(SOFA_NOTE, &n) == TL_OK);
    CU_ASSERT(n.nsigs == 2);
    CU_ASSERT(tl_checkpoint_parse(n.text, n.text_len, &cp) == TL_OK);
    CU_ASSERT_STRING_EQUAL(cp.origin, "example.com/behind-the-sofa");
    CU_ASSERT(cp.size == 20852163);
    CU_ASSERT(tl_b64_decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", 44, raw, sizeof raw,
                            &got) == TL_OK);
    CU_ASSERT(got == 32 && memcmp(raw, cp.root.b, 32) == 0);
    CU_ASSERT(cp.ext == NULL && cp.ext_len == 0);
    CU_ASSERT_STRING_EQUAL(n.sigs[1].name, "witness.example.com/w1");
    CU_ASSERT_FATAL(n.sigs[1].sig_len == 72);
    {
        /* The spec's "time 1679315147" is the big-endian timestamp prefix. */
        uint64_t ts = 0;
        int i;
        for (i = 0; i < 8; i++)
            ts = ts << 8 | n.sigs[1].sig[i];
        CU_ASSERT(ts == 1679315147);
    }
    tl_note_release(&n);
}

/* ---- keys --------------------------------------------------------------- */

static void test_key_roundtrip(void)
{
    uint8_t types[2] = {TL_KEY_ED25519, TL_KEY_COSIG_V1};
    int i;

    for (i = 0; i < 2; i++) {
        tl_signer *s = NULL, *s2 = NULL;
        tl_verifier *v = NULL;
        char *sk = NULL, *sk2 = NULL, *vk = NULL, *vk2 = NULL, *nl;
        uint8_t sig[64];
        uint8_t digest[32];
        unsigned int dl = 0;
        uint8_t pre[64];
        size_t plen, nlen = strlen("example.com/log");

        CU_ASSERT_FATAL(tl_signer_generate("example.com/log", types[i], &s) == TL_OK);
        CU_ASSERT(tl_signer_type(s) == types[i]);
        CU_ASSERT(tl_signer_format(s, &sk) == TL_OK);
        CU_ASSERT(strncmp(sk, "PRIVATE+KEY+example.com/log+", 28) == 0);
        CU_ASSERT(tl_signer_vkey(s, &vk) == TL_OK);
        /* Trailing newline allowed, as in a key file. */
        nl = cat2(sk, "\n");
        CU_ASSERT_FATAL(tl_signer_parse(nl, &s2) == TL_OK);
        free(nl);
        CU_ASSERT(tl_signer_format(s2, &sk2) == TL_OK);
        CU_ASSERT_STRING_EQUAL(sk, sk2);
        CU_ASSERT(tl_signer_keyid(s) == tl_signer_keyid(s2));
        nl = cat2(vk, "\n");
        CU_ASSERT_FATAL(tl_verifier_parse(nl, &v) == TL_OK);
        free(nl);
        CU_ASSERT(tl_verifier_format(v, &vk2) == TL_OK);
        CU_ASSERT_STRING_EQUAL(vk, vk2);
        CU_ASSERT(tl_verifier_type(v) == types[i]);
        /* key id = SHA-256(name || 0x0A || type || pub)[:4], computed here. */
        memcpy(pre, "example.com/log", nlen);
        pre[nlen] = '\n';
        pre[nlen + 1] = types[i];
        memcpy(pre + nlen + 2, tl_verifier_pubkey(v), 32);
        plen = nlen + 2 + 32;
        EVP_Digest(pre, plen, digest, &dl, EVP_sha256(), NULL);
        CU_ASSERT(tl_verifier_keyid(v) == ((uint32_t)digest[0] << 24 | (uint32_t)digest[1] << 16 |
                                           (uint32_t)digest[2] << 8 | digest[3]));
        {
            char hex[9];
            snprintf(hex, sizeof hex, "%08x", (unsigned)tl_verifier_keyid(v));
            CU_ASSERT(strncmp(vk + nlen + 1, hex, 8) == 0);
        }
        CU_ASSERT(tl_signer_sign_raw(s2, "abc", 3, sig) == TL_OK);
        CU_ASSERT(tl_verifier_verify_raw(v, "abc", 3, sig, 64) == TL_OK);
        CU_ASSERT(tl_verifier_verify_raw(v, "abd", 3, sig, 64) == TL_ERR_SIG);
        CU_ASSERT(tl_verifier_verify_raw(v, "abc", 3, sig, 63) == TL_ERR_SIG);
        free(sk);
        free(sk2);
        free(vk);
        free(vk2);
        tl_signer_free(s);
        tl_signer_free(s2);
        tl_verifier_free(v);
    }
    {
        tl_signer *s = NULL;
        CU_ASSERT(tl_signer_generate("bad+name", TL_KEY_ED25519, &s) == TL_ERR_INVALID);
        CU_ASSERT(tl_signer_generate("bad name", TL_KEY_ED25519, &s) == TL_ERR_INVALID);
        CU_ASSERT(tl_signer_generate("", TL_KEY_ED25519, &s) == TL_ERR_INVALID);
        CU_ASSERT(tl_signer_generate("ok", 0x02, &s) == TL_ERR_INVALID);
    }
}

static void key_bad(const char *k)
{
    tl_verifier *v = NULL;
    int r = tl_verifier_parse(k, &v);
    CU_ASSERT(r != TL_OK);
    if (r == TL_OK) {
        fprintf(stderr, "accepted bad vkey %s\n", k);
        tl_verifier_free(v);
    }
}

static void skey_bad(const char *k)
{
    tl_signer *s = NULL;
    int r = tl_signer_parse(k, &s);
    CU_ASSERT(r != TL_OK);
    if (r == TL_OK) {
        fprintf(stderr, "accepted bad skey %s\n", k);
        tl_signer_free(s);
    }
}

static void test_key_reject(void)
{
    char b[256];
    size_t len = strlen(GO_VKEY), i, j;

    /* Every proper substring and every single-byte change is rejected. */
    for (i = 0; i <= len; i++) {
        for (j = i + 1; j <= len; j++) {
            if (i == 0 && j == len)
                continue;
            memcpy(b, GO_VKEY + i, j - i);
            b[j - i] = '\0';
            key_bad(b);
        }
    }
    strcpy(b, GO_VKEY);
    for (i = 0; i < len; i++) {
        b[i]++;
        key_bad(b);
        b[i]--;
    }
    len = strlen(GO_SKEY);
    strcpy(b, GO_SKEY);
    for (i = 0; i < len; i++) {
        b[i]++;
        skey_bad(b);
        b[i]--;
    }
    for (i = 1; i < len; i++) {
        memcpy(b, GO_SKEY, i);
        b[i] = '\0';
        skey_bad(b);
    }
    key_bad("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"); /* upper hex */
    key_bad("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"); /* wrong id */
    key_bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n\n");
    key_bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW ");
    key_bad(" PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    key_bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T="); /* bad b64 */
    key_bad("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW==");
    key_bad("PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"); /* 0x02 type... */
    key_bad("PeterNeumann+c74f20a3");
    key_bad("");
    skey_bad("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFy");
    skey_bad("private+key+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz");
    skey_bad(GO_VKEY); /* a verifier key is not a signer key */
    key_bad(GO_SKEY);
    {
        /* A signer key whose key id belongs to another type (0x04) is rejected. */
        tl_signer *s = NULL;
        char *sk = NULL, *p;
        CU_ASSERT_FATAL(tl_signer_generate("w.example", TL_KEY_COSIG_V1, &s) == TL_OK);
        CU_ASSERT(tl_signer_format(s, &sk) == TL_OK);
        p = sk + strlen("PRIVATE+KEY+w.example+") + 9; /* b64(0x04 || seed) starts "B" */
        CU_ASSERT(*p == 'B');
        *p = 'A'; /* now type 0x00.. or 0x01 with the wrong key id */
        skey_bad(sk);
        free(sk);
        tl_signer_free(s);
    }
}

static void test_key_files(void)
{
    char kp[600], vp[600], *sk = NULL, *vk = NULL, *want;
    tl_signer *s = NULL, *s2 = NULL;
    tl_verifier *v = NULL;
    struct stat st;
    uint8_t *b;
    size_t n = 0;

    snprintf(kp, sizeof kp, "%s/log.key", tmpdir);
    snprintf(vp, sizeof vp, "%s/log.vkey", tmpdir);
    CU_ASSERT_FATAL(tl_signer_generate("example.com/files", TL_KEY_ED25519, &s) == TL_OK);
    CU_ASSERT_FATAL(tl_signer_write(s, kp, vp) == TL_OK);
    CU_ASSERT(stat(kp, &st) == 0 && (st.st_mode & 0777) == 0600);
    CU_ASSERT(tl_signer_write(s, kp, vp) == TL_ERR_IO); /* never overwrites */
    CU_ASSERT(tl_signer_format(s, &sk) == TL_OK);
    CU_ASSERT(tl_signer_vkey(s, &vk) == TL_OK);
    b = read_file(kp, &n);
    want = cat2(sk, "\n");
    CU_ASSERT(b != NULL && n == strlen(want) && memcmp(b, want, n) == 0);
    free(b);
    free(want);
    b = read_file(vp, &n);
    want = cat2(vk, "\n");
    CU_ASSERT(b != NULL && n == strlen(want) && memcmp(b, want, n) == 0);
    free(b);
    free(want);
    CU_ASSERT_FATAL(tl_signer_load(kp, &s2) == TL_OK);
    CU_ASSERT(tl_signer_keyid(s2) == tl_signer_keyid(s));
    CU_ASSERT_FATAL(tl_verifier_load(vp, &v) == TL_OK);
    CU_ASSERT(tl_verifier_keyid(v) == tl_signer_keyid(s));
    CU_ASSERT(tl_signer_load(vp, &s2) == TL_ERR_INVALID);
    CU_ASSERT(tl_verifier_load(kp, &v) == TL_ERR_INVALID);
    snprintf(kp, sizeof kp, "%s/nul.key", tmpdir);
    write_file(kp, GO_VKEY "\n\0junk", strlen(GO_VKEY) + 6);
    CU_ASSERT(tl_verifier_load(kp, &v) == TL_ERR_INVALID);
    snprintf(kp, sizeof kp, "%s/missing.key", tmpdir);
    CU_ASSERT(tl_signer_load(kp, &s2) == TL_ERR_IO);
    free(sk);
    free(vk);
    tl_signer_free(s);
    tl_signer_free(s2);
    tl_verifier_free(v);
}

/* ---- signed notes: rejections and semantics ----------------------------- */

static void test_note_reject(void)
{
    tl_buf b = TL_BUF_INIT;
    char *s;
    int i;

    note_bad_s("");
    note_bad_s("\n");
    note_bad_s(GO_TEXT GO_SIGLINE);         /* no blank line */
    note_bad(GO_NOTE, strlen(GO_NOTE) - 1); /* no final newline */
    note_bad_s(GO_NOTE "\n");               /* blank line after signatures */
    note_bad_s(GO_TEXT "\n\n" GO_SIGLINE "\n");
    note_bad_s(GO_TEXT "\n" GO_SIGLINE GO_SIGLINE); /* duplicate signature */
    note_bad_s(GO_TEXT
               "\n"
               "- PeterNeumann "
               "x08go/ZJkuBS9UG/"
               "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n");
    note_bad_s(GO_TEXT
               "\n"
               "\xE2\x80\x94PeterNeumann "
               "x08go/ZJkuBS9UG/"
               "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n");
    note_bad_s(GO_TEXT
               "\n" EM "PeterNeumann  "
               "x08go/ZJkuBS9UG/"
               "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n");
    note_bad_s(
        GO_TEXT
        "\n" EM "PeterNeumann "
        "x08go/ZJkuBS9UG/"
        "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n"); /* bad b64
                                                                                           */
    note_bad_s(GO_TEXT "\n" EM "PeterNeumann "
                       "x08go/ZJkuBS9UG/"
                       "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAN"
                       "=\n"); /* non-canonical
                                */
    note_bad_s(GO_TEXT
               "\n" EM "PeterNeumann "
               "x08go/ZJkuBS9UG/"
               "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM= \n");
    note_bad_s(GO_TEXT "\n" EM "PeterNeumann \n");                     /* empty signature */
    note_bad_s(GO_TEXT "\n" EM "PeterNeumann AAAAAA==\n");             /* 4 bytes: no sig */
    note_bad_s(GO_TEXT "\n" EM " AAAAAAA=\n");                         /* empty name */
    note_bad_s(GO_TEXT "\n" EM "Peter+Neumann AAAAAAA=\n");            /* '+' in name */
    note_bad_s(GO_TEXT "\n" EM "Peter\xC2\xA0Neumann AAAAAAA=\n");     /* U+00A0 in name */
    note_bad_s(GO_TEXT "\n" EM "Peter\xE3\x80\x80Neumann AAAAAAA=\n"); /* U+3000 in name */
    note_bad_s("If you\tthink\n\n" GO_SIGLINE);                        /* tab in text */
    note_bad_s("If you\rthink\n\n" GO_SIGLINE);                        /* CR */
    note_bad_s("If you \xC3\x28 think\n\n" GO_SIGLINE);                /* invalid UTF-8 */
    note_bad_s("If you \xC0\xAF think\n\n" GO_SIGLINE);                /* overlong */
    note_bad_s("If you \xED\xA0\x80 think\n\n" GO_SIGLINE);            /* surrogate */
    note_bad("If you\0think\n\n" GO_SIGLINE, sizeof("If you\0think\n\n" GO_SIGLINE) - 1);
    /* Oversized signature blob (8 KiB). */
    {
        uint8_t *big = calloc(1, 8192);
        char *e = tl_b64_encode_alloc(big, 8192);
        tl_buf_reset(&b);
        tl_buf_addf(&b, "%s\n" EM "big %s\n", GO_TEXT, e);
        note_bad((char *)b.data, b.len);
        free(e);
        free(big);
    }
    /* Too many signatures: 100 distinct ones are fine, 101 are not. */
    tl_buf_reset(&b);
    tl_buf_adds(&b, GO_TEXT "\n");
    for (i = 0; i < 100; i++)
        tl_buf_addf(&b, EM "k%d AAAAAAA=\n", i);
    {
        tl_note n;
        CU_ASSERT(tl_note_parse((char *)b.data, b.len, &n) == TL_OK);
        CU_ASSERT(n.nsigs == 100);
        tl_note_release(&n);
    }
    tl_buf_adds(&b, EM "k100 AAAAAAA=\n");
    note_bad((char *)b.data, b.len);
    /* Too large. */
    s = malloc(TL_NOTE_MAX_SIZE + 100);
    memset(s, 'a', TL_NOTE_MAX_SIZE + 100);
    memcpy(s + TL_NOTE_MAX_SIZE + 100 - strlen("\n\n" GO_SIGLINE), "\n\n" GO_SIGLINE,
           strlen("\n\n" GO_SIGLINE));
    {
        tl_note n;
        CU_ASSERT(tl_note_parse(s, TL_NOTE_MAX_SIZE + 100, &n) == TL_ERR_TOOBIG);
    }
    free(s);
    tl_buf_release(&b);
}

static void test_note_semantics(void)
{
    tl_verifier *v = NULL, *other = NULL;
    tl_signer *s = NULL, *cs = NULL;
    char *out = NULL, *line = NULL, *ovk = NULL;
    tl_note n;
    tl_buf b = TL_BUF_INIT;

    CU_ASSERT_FATAL(tl_verifier_parse(GO_VKEY, &v) == TL_OK);
    CU_ASSERT_FATAL(tl_signer_parse(GO_SKEY, &s) == TL_OK);
    /* Unknown signatures (other name, or same name and other id) are ignored. */
    tl_buf_adds(&b,
                GO_TEXT "\n" EM "someone.else AAAAAAA=\n" EM "PeterNeumann AAAAAAA=\n" GO_SIGLINE);
    CU_ASSERT_FATAL(tl_note_parse((char *)b.data, b.len, &n) == TL_OK);
    CU_ASSERT(n.nsigs == 3);
    CU_ASSERT(tl_note_verify(&n, v) == TL_OK);
    tl_note_release(&n);
    /* A note without the key's signature: NOTFOUND. */
    CU_ASSERT_FATAL(note_parse_str(GO_TEXT "\n" EM "someone.else AAAAAAA=\n", &n) == TL_OK);
    CU_ASSERT(tl_note_verify(&n, v) == TL_ERR_NOTFOUND);
    tl_note_release(&n);
    /* Another key with the same name: different id, so NOTFOUND. */
    CU_ASSERT_FATAL(tl_signer_generate("PeterNeumann", TL_KEY_ED25519, &cs) == TL_OK);
    CU_ASSERT(tl_signer_vkey(cs, &ovk) == TL_OK);
    CU_ASSERT(tl_verifier_parse(ovk, &other) == TL_OK);
    CU_ASSERT_FATAL(note_parse_str(GO_NOTE, &n) == TL_OK);
    CU_ASSERT(tl_note_verify(&n, other) == TL_ERR_NOTFOUND);
    tl_note_release(&n);
    tl_signer_free(cs);
    /* Signing: text must end in '\n' and be valid note text. */
    CU_ASSERT(tl_note_sign(s, "no newline", 10, &out, NULL) == TL_ERR_INVALID);
    CU_ASSERT(tl_note_sign(s, "", 0, &out, NULL) == TL_ERR_INVALID);
    CU_ASSERT(tl_note_sign(s, "tab\there\n", 9, &out, NULL) == TL_ERR_INVALID);
    CU_ASSERT(tl_note_sign(s, "bad \xFF utf8\n", 11, &out, NULL) == TL_ERR_INVALID);
    /* A text with empty lines still round trips (split at the last one). */
    {
        size_t olen = 0;
        CU_ASSERT_FATAL(tl_note_sign(s, "a\n\nb\n", 5, &out, &olen) == TL_OK);
        CU_ASSERT_FATAL(tl_note_parse(out, olen, &n) == TL_OK);
        CU_ASSERT(n.text_len == 5 && memcmp(n.text, "a\n\nb\n", 5) == 0);
        CU_ASSERT(tl_note_verify(&n, v) == TL_OK);
        tl_note_release(&n);
        free(out);
    }
    /* A cosignature key cannot make plain note signatures. */
    CU_ASSERT_FATAL(tl_signer_generate("w.example", TL_KEY_COSIG_V1, &cs) == TL_OK);
    CU_ASSERT(tl_note_sign_line(cs, GO_TEXT, strlen(GO_TEXT), &line) == TL_ERR_INVALID);
    tl_signer_free(cs);
    free(ovk);
    tl_verifier_free(other);
    tl_verifier_free(v);
    tl_signer_free(s);
    tl_buf_release(&b);
}

/* ---- checkpoints -------------------------------------------------------- */

static void cp_bad(const char *s)
{
    tl_checkpoint cp;
    int r = tl_checkpoint_parse(s, strlen(s), &cp);
    CU_ASSERT(r == TL_ERR_INVALID);
    if (r == TL_OK)
        fprintf(stderr, "accepted bad checkpoint: %s\n", s);
}

static void test_checkpoint(void)
{
    tl_checkpoint cp;
    tl_hash root;
    char *out = NULL;
    size_t outlen = 0, i;
    const char *ext = "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nx y\nz\n";

    for (i = 0; i < 32; i++)
        root.b[i] = (uint8_t)(i * 7);
    CU_ASSERT_FATAL(tl_checkpoint_format("example.com/log", 1234567, &root, &out, &outlen) ==
                    TL_OK);
    CU_ASSERT(strncmp(out, "example.com/log\n1234567\n", 24) == 0);
    CU_ASSERT(outlen == strlen(out) && out[outlen - 1] == '\n');
    CU_ASSERT_FATAL(tl_checkpoint_parse(out, outlen, &cp) == TL_OK);
    CU_ASSERT_STRING_EQUAL(cp.origin, "example.com/log");
    CU_ASSERT(cp.size == 1234567);
    CU_ASSERT(memcmp(cp.root.b, root.b, 32) == 0);
    CU_ASSERT(cp.ext == NULL);
    free(out);
    CU_ASSERT(tl_checkpoint_format("", 1, &root, &out, &outlen) == TL_ERR_INVALID);
    CU_ASSERT(tl_checkpoint_format("a\nb", 1, &root, &out, &outlen) == TL_ERR_INVALID);

    CU_ASSERT_FATAL(tl_checkpoint_parse(ext, strlen(ext), &cp) == TL_OK);
    CU_ASSERT(cp.ext == ext + strlen(ext) - 6 && cp.ext_len == 6);
    CU_ASSERT(tl_checkpoint_parse("o\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", 49,
                                  &cp) == TL_OK &&
              cp.size == 0);
    {
        const char *max = "o\n18446744073709551615\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        CU_ASSERT(tl_checkpoint_parse(max, strlen(max), &cp) == TL_OK && cp.size == UINT64_MAX);
    }
    cp_bad("o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"); /* leading zero */
    cp_bad("o\n00\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
    cp_bad("o\n+5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
    cp_bad("o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
    cp_bad("o\n 5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
    cp_bad("o\n5 \nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
    cp_bad("o\n\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
    cp_bad("o\n18446744073709551616\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
    cp_bad("\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");    /* empty origin */
    cp_bad("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");     /* no newline */
    cp_bad("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"); /* empty ext line */
    cp_bad("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\na\n\nb\n");
    cp_bad("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n");    /* non-canonical */
    cp_bad("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n");     /* no padding */
    cp_bad("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IAAAA\n"); /* 35 bytes */
    cp_bad("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n");        /* short */
    cp_bad("o\n5\n");
    cp_bad("o\n");
    cp_bad("");
    cp_bad("o\r\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
    {
        char longo[400];
        memset(longo, 'a', 257);
        strcpy(longo + 257, "\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
        cp_bad(longo);
    }
}

/* ---- cosignature/v1 ----------------------------------------------------- */

static void test_cosig(void)
{
    tl_signer *log = NULL, *w = NULL;
    tl_verifier *wv = NULL, *lv = NULL;
    char *body = NULL, *note = NULL, *line = NULL, *vk = NULL, *full;
    size_t blen = 0, nlen = 0;
    tl_hash root;
    tl_note n;
    uint64_t ts = 0;

    memset(root.b, 0x42, 32);
    CU_ASSERT_FATAL(tl_signer_generate("example.com/log", TL_KEY_ED25519, &log) == TL_OK);
    CU_ASSERT_FATAL(tl_signer_generate("witness.example/w1", TL_KEY_COSIG_V1, &w) == TL_OK);
    CU_ASSERT(tl_signer_vkey(w, &vk) == TL_OK);
    CU_ASSERT_FATAL(tl_verifier_parse(vk, &wv) == TL_OK);
    free(vk);
    CU_ASSERT(tl_signer_vkey(log, &vk) == TL_OK);
    CU_ASSERT_FATAL(tl_verifier_parse(vk, &lv) == TL_OK);
    free(vk);
    CU_ASSERT(tl_checkpoint_format("example.com/log", 10, &root, &body, &blen) == TL_OK);
    CU_ASSERT(tl_note_sign(log, body, blen, &note, &nlen) == TL_OK);
    CU_ASSERT_FATAL(tl_cosig_sign(w, body, blen, 1679315147, &line) == TL_OK);
    CU_ASSERT(strncmp(line, EM "witness.example/w1 ", strlen(EM) + 19) == 0);
    full = cat2(note, line);
    CU_ASSERT_FATAL(note_parse_str(full, &n) == TL_OK);
    CU_ASSERT(tl_note_verify(&n, lv) == TL_OK);
    CU_ASSERT(tl_cosig_verify(&n, wv, &ts) == TL_OK);
    CU_ASSERT(ts == 1679315147);
    /* The signed message is "cosignature/v1\ntime <ts>\n" || body: check it
     * independently with the raw verifier. */
    {
        tl_buf m = TL_BUF_INIT;
        tl_buf_addf(&m, "cosignature/v1\ntime 1679315147\n%s", body);
        CU_ASSERT(n.sigs[1].sig_len == 72);
        CU_ASSERT(tl_verifier_verify_raw(wv, m.data, m.len, n.sigs[1].sig + 8, 64) == TL_OK);
        tl_buf_release(&m);
    }
    /* Wrong verifier types are refused; an absent cosigner is NOTFOUND. */
    CU_ASSERT(tl_cosig_verify(&n, lv, &ts) == TL_ERR_INVALID);
    CU_ASSERT(tl_note_verify(&n, wv) == TL_ERR_INVALID);
    /* Tamper with the timestamp: the signature fails. */
    n.sigs[1].sig[7] ^= 1;
    CU_ASSERT(tl_cosig_verify(&n, wv, &ts) == TL_ERR_SIG);
    n.sigs[1].sig[7] ^= 1;
    n.sigs[1].sig[40] ^= 1;
    CU_ASSERT(tl_cosig_verify(&n, wv, &ts) == TL_ERR_SIG);
    n.sigs[1].sig[40] ^= 1;
    n.text[n.text_len - 3] ^= 1; /* the body */
    CU_ASSERT(tl_cosig_verify(&n, wv, &ts) == TL_ERR_SIG);
    CU_ASSERT(tl_note_verify(&n, lv) == TL_ERR_SIG);
    tl_note_release(&n);
    CU_ASSERT_FATAL(note_parse_str(note, &n) == TL_OK);
    CU_ASSERT(tl_cosig_verify(&n, wv, &ts) == TL_ERR_NOTFOUND);
    tl_note_release(&n);
    free(line);
    /* Signing rules. */
    CU_ASSERT(tl_cosig_sign(log, body, blen, 1, &line) == TL_ERR_INVALID); /* wrong type */
    CU_ASSERT(tl_cosig_sign(w, body, blen, (uint64_t)1 << 63, &line) == TL_ERR_INVALID);
    CU_ASSERT(tl_cosig_sign(w, body, blen - 1, 1, &line) == TL_ERR_INVALID);
    free(full);
    free(body);
    free(note);
    tl_signer_free(log);
    tl_signer_free(w);
    tl_verifier_free(wv);
    tl_verifier_free(lv);
}

/* ---- RFC 6962 STH ------------------------------------------------------- */

static void be64(uint8_t *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void sth_msg(uint64_t ts, uint64_t size, const tl_hash *root, uint8_t m[50])
{
    m[0] = 0;
    m[1] = 1;
    be64(m + 2, ts);
    be64(m + 10, size);
    memcpy(m + 18, root->b, 32);
}

static void test_sth(void)
{
    char priv[600], pub[600], msg[600], sig[600], cmd[5000], p2[600], p2pub[600];
    tl_sth_key *k = NULL, *kp = NULL, *ko = NULL;
    uint8_t m[50], *s = NULL, *der = NULL, ds[200];
    size_t slen = 0, dlen = 0;
    tl_hash root, id, id2;
    struct stat st;

    memset(root.b, 0xA5, 32);
    snprintf(priv, sizeof priv, "%s/rfc6962.key", tmpdir);
    snprintf(pub, sizeof pub, "%s/rfc6962.pub", tmpdir);
    snprintf(msg, sizeof msg, "%s/msg.bin", tmpdir);
    snprintf(sig, sizeof sig, "%s/sig.der", tmpdir);
    CU_ASSERT_FATAL(tl_sth_key_generate(&k) == TL_OK);
    CU_ASSERT_FATAL(tl_sth_key_write(k, priv, pub) == TL_OK);
    CU_ASSERT(stat(priv, &st) == 0 && (st.st_mode & 0777) == 0600);
    CU_ASSERT(tl_sth_key_write(k, priv, pub) == TL_ERR_IO); /* never overwrites */
    CU_ASSERT_FATAL(tl_sth_key_load_private(priv, &kp) == TL_OK);
    CU_ASSERT_FATAL(tl_sth_key_load_public(pub, &ko) == TL_OK);

    /* Sign with our code, verify with the openssl CLI. */
    CU_ASSERT_FATAL(tl_sth_sign(kp, 1700000000123ULL, 987654, &root, &s, &slen) == TL_OK);
    CU_ASSERT(s[0] == 4 && s[1] == 3 && ((size_t)s[2] << 8 | s[3]) == slen - 4);
    sth_msg(1700000000123ULL, 987654, &root, m);
    write_file(msg, m, sizeof m);
    write_file(sig, s + 4, slen - 4);
    snprintf(cmd, sizeof cmd, "openssl dgst -sha256 -verify %s -signature %s %s >/dev/null 2>&1",
             pub, sig, msg);
    CU_ASSERT(run(cmd) == 0);
    m[20] ^= 1; /* a different tree size: openssl must refuse */
    write_file(msg, m, sizeof m);
    CU_ASSERT(run(cmd) != 0);
    CU_ASSERT(tl_sth_verify(ko, 1700000000123ULL, 987654, &root, s, slen) == TL_OK);
    CU_ASSERT(tl_sth_verify(k, 1700000000123ULL, 987654, &root, s, slen) == TL_OK);
    CU_ASSERT(tl_sth_verify(ko, 1700000000124ULL, 987654, &root, s, slen) == TL_ERR_SIG);
    CU_ASSERT(tl_sth_verify(ko, 1700000000123ULL, 987655, &root, s, slen) == TL_ERR_SIG);
    /* Framing errors. */
    s[0] = 5;
    CU_ASSERT(tl_sth_verify(ko, 1700000000123ULL, 987654, &root, s, slen) == TL_ERR_INVALID);
    s[0] = 4;
    s[1] = 1;
    CU_ASSERT(tl_sth_verify(ko, 1700000000123ULL, 987654, &root, s, slen) == TL_ERR_INVALID);
    s[1] = 3;
    CU_ASSERT(tl_sth_verify(ko, 1700000000123ULL, 987654, &root, s, slen - 1) == TL_ERR_INVALID);
    CU_ASSERT(tl_sth_verify(ko, 1700000000123ULL, 987654, &root, s, 3) == TL_ERR_INVALID);
    CU_ASSERT(tl_sth_sign(ko, 1, 1, &root, &der, &dlen) == TL_ERR_INVALID); /* public only */
    free(s);

    /* Key id = SHA-256(DER SubjectPublicKeyInfo), as openssl computes it. */
    CU_ASSERT(tl_sth_key_id(kp, &id) == TL_OK);
    CU_ASSERT(tl_sth_key_id(ko, &id2) == TL_OK);
    CU_ASSERT(memcmp(id.b, id2.b, 32) == 0);
    snprintf(cmd, sizeof cmd,
             "openssl pkey -pubin -in %s -outform DER 2>/dev/null | openssl dgst -sha256 -binary "
             "> %s/keyid.bin",
             pub, tmpdir);
    CU_ASSERT(run(cmd) == 0);
    {
        char path[700];
        size_t n = 0;
        uint8_t *b;
        snprintf(path, sizeof path, "%s/keyid.bin", tmpdir);
        b = read_file(path, &n);
        CU_ASSERT(b != NULL && n == 32 && memcmp(b, id.b, 32) == 0);
        free(b);
    }

    /* A key and a signature made by the openssl CLI verify with our code. */
    snprintf(p2, sizeof p2, "%s/cli.key", tmpdir);
    snprintf(p2pub, sizeof p2pub, "%s/cli.pub", tmpdir);
    sth_msg(42, 7, &root, m);
    write_file(msg, m, sizeof m);
    snprintf(
        cmd, sizeof cmd,
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s 2>/dev/null && "
        "openssl pkey -in %s -pubout -out %s 2>/dev/null && "
        "openssl dgst -sha256 -sign %s -out %s %s 2>/dev/null",
        p2, p2, p2pub, p2, sig, msg);
    CU_ASSERT_FATAL(run(cmd) == 0);
    der = read_file(sig, &dlen);
    CU_ASSERT_FATAL(der != NULL && dlen > 0 && dlen <= 72);
    ds[0] = 4;
    ds[1] = 3;
    ds[2] = (uint8_t)(dlen >> 8);
    ds[3] = (uint8_t)dlen;
    memcpy(ds + 4, der, dlen);
    free(der);
    tl_sth_key_free(ko);
    ko = NULL;
    CU_ASSERT_FATAL(tl_sth_key_load_public(p2pub, &ko) == TL_OK);
    CU_ASSERT(tl_sth_verify(ko, 42, 7, &root, ds, dlen + 4) == TL_OK);
    CU_ASSERT(tl_sth_verify(ko, 42, 8, &root, ds, dlen + 4) == TL_ERR_SIG);
    CU_ASSERT(tl_sth_verify(kp, 42, 7, &root, ds, dlen + 4) == TL_ERR_SIG); /* other key */
    tl_sth_key_free(ko);
    ko = NULL;
    CU_ASSERT(tl_sth_key_load_private(p2, &ko) == TL_OK);
    tl_sth_key_free(ko);
    ko = NULL;

    /* Keys that are not P-256, or not keys, are refused. */
    snprintf(cmd, sizeof cmd,
             "openssl genpkey -algorithm ED25519 -out %s/ed.key 2>/dev/null && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out %s/p384.key "
             "2>/dev/null",
             tmpdir, tmpdir);
    CU_ASSERT_FATAL(run(cmd) == 0);
    snprintf(p2, sizeof p2, "%s/ed.key", tmpdir);
    CU_ASSERT(tl_sth_key_load_private(p2, &ko) == TL_ERR_INVALID);
    snprintf(p2, sizeof p2, "%s/p384.key", tmpdir);
    CU_ASSERT(tl_sth_key_load_private(p2, &ko) == TL_ERR_INVALID);
    CU_ASSERT(tl_sth_key_load_private(msg, &ko) == TL_ERR_INVALID);
    CU_ASSERT(tl_sth_key_load_public(priv, &ko) == TL_ERR_INVALID);
    snprintf(p2, sizeof p2, "%s/does-not-exist", tmpdir);
    CU_ASSERT(tl_sth_key_load_private(p2, &ko) == TL_ERR_IO);
    tl_sth_key_free(k);
    tl_sth_key_free(kp);
}

/* ---- tlog-policy -------------------------------------------------------- */

enum { X1, X2, X3, Y1, Y2, Y3, NW };
static const char *wnames[NW] = {"X1", "X2", "X3", "Y1", "Y2", "Y3"};
static tl_signer *wsig[NW], *logsig, *logsig2;
static char *wvk[NW], *logvk, *logvk2;

static void policy_keys(void)
{
    char name[64];
    int i;

    CU_ASSERT_FATAL(tl_signer_generate("example.com/log", TL_KEY_ED25519, &logsig) == TL_OK);
    CU_ASSERT(tl_signer_vkey(logsig, &logvk) == TL_OK);
    CU_ASSERT_FATAL(tl_signer_generate("example.com/other", TL_KEY_ED25519, &logsig2) == TL_OK);
    CU_ASSERT(tl_signer_vkey(logsig2, &logvk2) == TL_OK);
    for (i = 0; i < NW; i++) {
        snprintf(name, sizeof name, "witness.example/%s", wnames[i]);
        CU_ASSERT_FATAL(tl_signer_generate(name, TL_KEY_COSIG_V1, &wsig[i]) == TL_OK);
        CU_ASSERT(tl_signer_vkey(wsig[i], &wvk[i]) == TL_OK);
    }
}

static void policy_keys_free(void)
{
    int i;
    for (i = 0; i < NW; i++) {
        tl_signer_free(wsig[i]);
        free(wvk[i]);
    }
    tl_signer_free(logsig);
    tl_signer_free(logsig2);
    free(logvk);
    free(logvk2);
}

/* The spec's example policy with real keys (the X1 line carries a URL). */
static void example_policy(tl_buf *b)
{
    tl_buf_addf(b, "# example from c2sp.org/tlog-policy\nlog %s https://log.example/\n\n", logvk);
    tl_buf_addf(b, "witness X1 %s https://x1.example/\n", wvk[X1]);
    tl_buf_addf(b, "witness X2 %s\n", wvk[X2]);
    tl_buf_addf(b, "  witness\tX3 %s  \n", wvk[X3]);
    tl_buf_adds(b, "group X-witnesses 2 X1 X2 X3\n\n");
    tl_buf_addf(b, "witness Y1 %s\n", wvk[Y1]);
    tl_buf_addf(b, "witness Y2 %s\n", wvk[Y2]);
    tl_buf_addf(b, "witness Y3 %s\n", wvk[Y3]);
    tl_buf_adds(b, "group Y-witnesses any Y1 Y2 Y3\n\n");
    tl_buf_adds(b, "group X-and-Y all X-witnesses Y-witnesses\n");
}

static int quorum_of(const tl_policy *p, const char *set)
{
    unsigned char c[NW] = {0};
    int i;
    for (i = 0; i < NW; i++)
        c[i] = strstr(set, wnames[i]) != NULL;
    return tl_policy_quorum_met(p, c);
}

/* Expects the policy text to be rejected with a reason containing want. */
static void policy_bad(const char *text, size_t len, const char *want)
{
    tl_policy *p = NULL;
    char err[256];
    int r = tl_policy_parse(text, len, &p, err, sizeof err);
    CU_ASSERT(r == TL_ERR_INVALID);
    if (r == TL_OK) {
        fprintf(stderr, "accepted bad policy (want %s)\n", want);
        tl_policy_free(p);
        return;
    }
    CU_ASSERT(strstr(err, want) != NULL);
    CU_ASSERT(strchr(err, '\n') == NULL);
    if (strstr(err, want) == NULL)
        fprintf(stderr, "policy error \"%s\" lacks \"%s\"\n", err, want);
}

/* Appends extra to the example policy (before its quorum) and expects want. */
static void example_bad(const char *extra, const char *want)
{
    tl_buf b = TL_BUF_INIT;
    example_policy(&b);
    tl_buf_adds(&b, extra);
    policy_bad((char *)b.data, b.len, want);
    tl_buf_release(&b);
}

static void test_policy_parse(void)
{
    tl_buf b = TL_BUF_INIT;
    tl_policy *p = NULL;
    char err[256], line[512];

    example_policy(&b);
    tl_buf_adds(&b, "quorum X-and-Y"); /* last line without newline: accepted */
    CU_ASSERT_FATAL(tl_policy_parse((char *)b.data, b.len, &p, err, sizeof err) == TL_OK);
    CU_ASSERT(tl_policy_nlogs(p) == 1);
    CU_ASSERT_STRING_EQUAL(tl_verifier_name(tl_policy_log_at(p, 0)->key), "example.com/log");
    CU_ASSERT_STRING_EQUAL(tl_policy_log_at(p, 0)->url, "https://log.example/");
    CU_ASSERT(tl_policy_find_log(p, "example.com/log") == tl_policy_log_at(p, 0));
    CU_ASSERT(tl_policy_find_log(p, "example.com/other") == NULL);
    CU_ASSERT(tl_policy_nwitnesses(p) == NW);
    CU_ASSERT_STRING_EQUAL(tl_policy_witness_at(p, X3)->name, "X3");
    CU_ASSERT(tl_policy_witness_at(p, X3)->url == NULL);
    CU_ASSERT_STRING_EQUAL(tl_policy_witness_at(p, X1)->url, "https://x1.example/");
    CU_ASSERT(tl_policy_witness_at(p, NW) == NULL);
    CU_ASSERT(!tl_policy_quorum_none(p));
    /* 2 of X and 1 of Y. */
    CU_ASSERT(quorum_of(p, "X1 X2 Y1") == 1);
    CU_ASSERT(quorum_of(p, "X2 X3 Y3") == 1);
    CU_ASSERT(quorum_of(p, "X1 X2 X3 Y1 Y2 Y3") == 1);
    CU_ASSERT(quorum_of(p, "X1 Y1 Y2 Y3") == 0);
    CU_ASSERT(quorum_of(p, "X1 X2 X3") == 0);
    CU_ASSERT(quorum_of(p, "") == 0);
    CU_ASSERT(tl_policy_quorum_reachable_with_urls(p) == 0); /* only X1 has a URL */
    tl_policy_free(p);
    p = NULL;

    /* Deeper nesting with numeric thresholds, and URLs on enough witnesses. */
    tl_buf_reset(&b);
    tl_buf_addf(&b, "witness X1 %s http://a/\nwitness X2 %s http://b/\nwitness X3 %s\n", wvk[X1],
                wvk[X2], wvk[X3]);
    tl_buf_addf(&b, "witness Y1 %s http://c/\nwitness Y2 %s\nwitness Y3 %s\n", wvk[Y1], wvk[Y2],
                wvk[Y3]);
    tl_buf_adds(&b, "group A 1 X1 X2\ngroup B all X3 Y1\ngroup C 2 A B Y2\ngroup D any C Y3\n"
                    "quorum D\n");
    CU_ASSERT_FATAL(tl_policy_parse((char *)b.data, b.len, &p, err, sizeof err) == TL_OK);
    CU_ASSERT(tl_policy_nlogs(p) == 0);
    CU_ASSERT(quorum_of(p, "Y3") == 1);
    CU_ASSERT(quorum_of(p, "X1 Y2") == 1);                   /* A and Y2 */
    CU_ASSERT(quorum_of(p, "X3 Y1 Y2") == 1);                /* B and Y2 */
    CU_ASSERT(quorum_of(p, "X1 X2 X3") == 0);                /* only A */
    CU_ASSERT(quorum_of(p, "X2 X3 Y1") == 1);                /* A and B */
    CU_ASSERT(quorum_of(p, "Y1 Y2") == 0);                   /* B needs X3 too */
    CU_ASSERT(tl_policy_quorum_reachable_with_urls(p) == 0); /* A only */
    /* the rule as the console gets it: groups in order, members, the root */
    {
        size_t k, n;
        tl_policy_ref r;
        CU_ASSERT_FATAL(tl_policy_ngroups(p) == 4);
        CU_ASSERT_STRING_EQUAL(tl_policy_group_at(p, 0, &k, &n), "A");
        CU_ASSERT(k == 1 && n == 2);
        r = tl_policy_group_member(p, 0, 1);
        CU_ASSERT(!r.is_group && strcmp(tl_policy_witness_at(p, r.idx)->name, "X2") == 0);
        CU_ASSERT_STRING_EQUAL(tl_policy_group_at(p, 1, &k, &n), "B");
        CU_ASSERT(k == 2 && n == 2); /* all */
        CU_ASSERT_STRING_EQUAL(tl_policy_group_at(p, 2, &k, &n), "C");
        CU_ASSERT(k == 2 && n == 3);
        r = tl_policy_group_member(p, 2, 1);
        CU_ASSERT(r.is_group && r.idx == 1);
        r = tl_policy_group_member(p, 2, 2);
        CU_ASSERT(!r.is_group && strcmp(tl_policy_witness_at(p, r.idx)->name, "Y2") == 0);
        CU_ASSERT_STRING_EQUAL(tl_policy_group_at(p, 3, &k, &n), "D");
        CU_ASSERT(k == 1 && n == 2); /* any */
        CU_ASSERT_FATAL(tl_policy_quorum_root(p, &r) == 1);
        CU_ASSERT(r.is_group && r.idx == 3);
    }
    tl_policy_free(p);
    p = NULL;
    tl_buf_reset(&b);
    tl_buf_addf(&b, "witness X1 %s http://a/\nwitness X2 %s\nquorum X1\n", wvk[X1], wvk[X2]);
    CU_ASSERT_FATAL(tl_policy_parse((char *)b.data, b.len, &p, err, sizeof err) == TL_OK);
    CU_ASSERT(quorum_of(p, "X1") == 1 && quorum_of(p, "X2") == 0);
    CU_ASSERT(tl_policy_quorum_reachable_with_urls(p) == 1);
    tl_policy_free(p);
    p = NULL;
    CU_ASSERT_FATAL(tl_policy_parse("quorum none\n", 12, &p, err, sizeof err) == TL_OK);
    CU_ASSERT(tl_policy_quorum_none(p));
    {
        tl_policy_ref r;
        CU_ASSERT(tl_policy_quorum_root(p, &r) == 0);
    }
    CU_ASSERT(tl_policy_quorum_met(p, NULL) == 1);
    CU_ASSERT(tl_policy_quorum_reachable_with_urls(p) == 1);
    tl_policy_free(p);
    p = NULL;

    /* Error cases, each with a one-line reason naming the line. */
    snprintf(line, sizeof line, "witness Z %s\n", wvk[X1]);
    example_bad(line, "line 15: duplicate witness key");
    snprintf(line, sizeof line, "log %s\n", logvk);
    example_bad(line, "line 15: duplicate log key");
    snprintf(line, sizeof line, "witness X2 %s\n", wvk[Y1]);
    example_bad(line, "line 15: duplicate name X2");
    example_bad("group X-witnesses any Y1\n", "duplicate name X-witnesses");
    example_bad("group G any X9\n", "line 15: unknown name X9");
    example_bad("quorum Nope\n", "line 15: unknown name Nope");
    example_bad("group G 0 Y1 Y2\n", "threshold 0 out of range 1..2");
    example_bad("group G 3 X-and-Y Y1\n", "threshold 3 out of range 1..2");
    example_bad("group G 01 X-and-Y\n", "threshold must be");
    example_bad("group G two X-and-Y Y1\n", "threshold must be");
    example_bad("group G -1 X-and-Y Y1\n", "threshold must be");
    example_bad("group G any\n", "line 15: want: group");
    example_bad("quorum X-and-Y\nquorum X-and-Y\n", "line 16: a second quorum line");
    example_bad("quorum none\nquorum X-and-Y\n", "line 16: a second quorum line");
    example_bad("group G any none\n", "none cannot be a group member");
    example_bad("group G any X-and-Y X-and-Y\n", "listed twice");
    example_bad("group G any X1\n", "X1 is already a member of another group");
    example_bad("group none any X-and-Y\n", "the name none is predefined");
    snprintf(line, sizeof line, "witness none %s\n", wvk[X1]);
    example_bad(line, "the name none is predefined");
    snprintf(line, sizeof line, "witness W %s\n", logvk);
    example_bad(line, "witness key must have signature type 0x04, not 0x01");
    snprintf(line, sizeof line, "log %s\n", wvk[X1]);
    example_bad(line, "log key must have signature type 0x01, not 0x04");
    example_bad("witness W example.com+01234567+AAAA\n", "malformed witness verifier key");
    example_bad("log garbage\n", "malformed log verifier key");
    example_bad("quorum\n", "want: quorum <name>");
    example_bad("quorum a b\n", "want: quorum <name>");
    example_bad("log\n", "want: log <vkey>");
    example_bad("witness W\n", "want: witness <name> <vkey>");
    example_bad("logs x\n", "line 15: unknown keyword logs");
    example_bad("quorum X-and-Y\r\n", "line 15: invalid character 0x0d");
    example_bad("# comment \x7f\n", "line 15: invalid character 0x7f");
    example_bad("#\x01\n", "invalid character 0x01");
    {
        static const char nul[] = "quorum none\n\0\n";
        policy_bad(nul, sizeof nul - 1, "line 2: invalid character 0x00");
    }
    example_bad("", "no quorum line");
    policy_bad("", 0, "no quorum line");
    /* Limits: 65 witnesses. */
    {
        int i;
        tl_buf_reset(&b);
        for (i = 0; i < TL_POLICY_MAX + 1; i++) {
            tl_signer *s = NULL;
            char *vk = NULL, nm[32];
            snprintf(nm, sizeof nm, "w%d", i);
            tl_signer_generate(nm, TL_KEY_COSIG_V1, &s);
            tl_signer_vkey(s, &vk);
            tl_buf_addf(&b, "witness %s %s\n", nm, vk);
            free(vk);
            tl_signer_free(s);
        }
        tl_buf_adds(&b, "quorum w0\n");
        policy_bad((char *)b.data, b.len, "line 65: too many witnesses");
    }
    /* Non-ASCII names are opaque octets. */
    tl_buf_reset(&b);
    tl_buf_addf(&b, "witness K %s\nwitness \xE2\x84\xAA %s\ngroup g all K \xE2\x84\xAA\nquorum g\n",
                wvk[X1], wvk[X2]);
    CU_ASSERT(tl_policy_parse((char *)b.data, b.len, &p, err, sizeof err) == TL_OK);
    tl_policy_free(p);
    tl_buf_release(&b);
    /* Load from a file; unreadable file is TL_ERR_IO. */
    {
        char path[700];
        snprintf(path, sizeof path, "%s/policy", tmpdir);
        write_file(path, "# none\nquorum none\n", 19);
        p = NULL;
        CU_ASSERT(tl_policy_load(path, &p, err, sizeof err) == TL_OK);
        tl_policy_free(p);
        snprintf(path, sizeof path, "%s/no-such-policy", tmpdir);
        CU_ASSERT(tl_policy_load(path, &p, err, sizeof err) == TL_ERR_IO);
        CU_ASSERT(strstr(err, "no-such-policy") != NULL);
    }
}

/* A checkpoint for example.com/log signed by signer, cosigned by the
 * witnesses in set (and by a tampered X3 when bad_x3). */
static char *make_cp(tl_signer *signer, const char *set, int bad_x3, uint64_t size)
{
    tl_buf b = TL_BUF_INIT;
    char *body = NULL, *note = NULL, *line = NULL;
    size_t blen = 0, nlen = 0;
    tl_hash root;
    int i;

    memset(root.b, 0x17, 32);
    CU_ASSERT_FATAL(tl_checkpoint_format(tl_signer_name(signer), size, &root, &body, &blen) ==
                    TL_OK);
    CU_ASSERT_FATAL(tl_note_sign(signer, body, blen, &note, &nlen) == TL_OK);
    tl_buf_add(&b, note, nlen);
    for (i = 0; i < NW; i++) {
        if (strstr(set, wnames[i]) == NULL)
            continue;
        CU_ASSERT_FATAL(tl_cosig_sign(wsig[i], body, blen, 1700000000 + i, &line) == TL_OK);
        tl_buf_adds(&b, line);
        free(line);
    }
    if (bad_x3) {
        /* Sign a different body, so the line does not verify on this one. */
        body[blen - 3] ^= 1;
        CU_ASSERT_FATAL(tl_cosig_sign(wsig[X3], body, blen, 1700000000, &line) == TL_OK);
        tl_buf_adds(&b, line);
        free(line);
    }
    free(body);
    free(note);
    return tl_buf_detach(&b, NULL);
}

static void test_policy_verify(void)
{
    tl_buf b = TL_BUF_INIT;
    tl_policy *p = NULL, *none = NULL;
    tl_checkpoint cp;
    char err[256], *note;
    tl_signer *unknown = NULL;

    example_policy(&b);
    tl_buf_adds(&b, "quorum X-and-Y\n");
    CU_ASSERT_FATAL(tl_policy_parse((char *)b.data, b.len, &p, err, sizeof err) == TL_OK);
    tl_buf_reset(&b);
    tl_buf_addf(&b, "log %s\nquorum none\n", logvk);
    CU_ASSERT_FATAL(tl_policy_parse((char *)b.data, b.len, &none, err, sizeof err) == TL_OK);

    note = make_cp(logsig, "X1 X3 Y2", 0, 77);
    memset(&cp, 0, sizeof cp);
    CU_ASSERT(tl_policy_verify_checkpoint(p, note, strlen(note), &cp, err, sizeof err) == TL_OK);
    CU_ASSERT(cp.size == 77);
    CU_ASSERT_STRING_EQUAL(cp.origin, "example.com/log");
    CU_ASSERT(tl_policy_verify_checkpoint(none, note, strlen(note), NULL, err, sizeof err) ==
              TL_OK);
    free(note);
    /* An unknown cosigner is ignored. */
    CU_ASSERT_FATAL(tl_signer_generate("stranger", TL_KEY_COSIG_V1, &unknown) == TL_OK);
    {
        char *line = NULL, *full;
        tl_note n;
        note = make_cp(logsig, "X1 X2 Y3", 0, 5);
        CU_ASSERT_FATAL(note_parse_str(note, &n) == TL_OK);
        CU_ASSERT(tl_cosig_sign(unknown, n.text, n.text_len, 1, &line) == TL_OK);
        full = cat2(note, line);
        CU_ASSERT(tl_policy_verify_checkpoint(p, full, strlen(full), NULL, err, sizeof err) ==
                  TL_OK);
        tl_note_release(&n);
        free(full);
        free(line);
        free(note);
    }
    tl_signer_free(unknown);
    /* Quorum not met. */
    note = make_cp(logsig, "X1 Y1 Y2 Y3", 0, 77);
    CU_ASSERT(tl_policy_verify_checkpoint(p, note, strlen(note), NULL, err, sizeof err) ==
              TL_ERR_SIG);
    CU_ASSERT(strstr(err, "quorum not met (4 of 6") != NULL);
    CU_ASSERT(tl_policy_verify_checkpoint(none, note, strlen(note), NULL, err, sizeof err) ==
              TL_OK);
    free(note);
    /* A known witness's bad cosignature rejects the note. */
    note = make_cp(logsig, "X1 X2 Y1", 1, 77);
    CU_ASSERT(tl_policy_verify_checkpoint(p, note, strlen(note), NULL, err, sizeof err) ==
              TL_ERR_SIG);
    CU_ASSERT(strstr(err, "cosignature by witness X3 does not verify") != NULL);
    free(note);
    /* A log not in the policy. */
    note = make_cp(logsig2, "X1 X2 Y1", 0, 77);
    CU_ASSERT(tl_policy_verify_checkpoint(p, note, strlen(note), NULL, err, sizeof err) ==
              TL_ERR_SIG);
    CU_ASSERT(strstr(err, "no log with origin \"example.com/other\"") != NULL);
    free(note);
    /* Signed by another key under the listed log's name: no signature. */
    {
        tl_signer *impostor = NULL;
        CU_ASSERT_FATAL(tl_signer_generate("example.com/log", TL_KEY_ED25519, &impostor) == TL_OK);
        note = make_cp(impostor, "X1 X2 Y1", 0, 77);
        CU_ASSERT(tl_policy_verify_checkpoint(p, note, strlen(note), NULL, err, sizeof err) ==
                  TL_ERR_SIG);
        CU_ASSERT(strstr(err, "no signature by the log key") != NULL);
        free(note);
        tl_signer_free(impostor);
    }
    /* A tampered body breaks the log signature. */
    note = make_cp(logsig, "X1 X2 Y1", 0, 77);
    note[strlen("example.com/log\n")] = '8';
    CU_ASSERT(tl_policy_verify_checkpoint(p, note, strlen(note), NULL, err, sizeof err) ==
              TL_ERR_SIG);
    CU_ASSERT(strstr(err, "log signature by example.com/log does not verify") != NULL);
    free(note);
    /* Not a note / not a checkpoint. */
    CU_ASSERT(tl_policy_verify_checkpoint(p, "junk", 4, NULL, err, sizeof err) == TL_ERR_INVALID);
    CU_ASSERT(strstr(err, "malformed signed note") != NULL);
    {
        char *out = NULL;
        size_t olen = 0;
        CU_ASSERT(tl_note_sign(logsig, "example.com/log\n01\nx\n", 21, &out, &olen) == TL_OK);
        CU_ASSERT(tl_policy_verify_checkpoint(p, out, olen, NULL, err, sizeof err) ==
                  TL_ERR_INVALID);
        CU_ASSERT(strstr(err, "malformed checkpoint body") != NULL);
        free(out);
    }
    tl_policy_free(p);
    tl_policy_free(none);
    tl_buf_release(&b);
}

/* ---- tlog-proof --------------------------------------------------------- */

static void proof_bad(const char *s, size_t len)
{
    tl_tlogproof p;
    int r = tl_tlogproof_parse(s, len, &p);
    CU_ASSERT(r == TL_ERR_INVALID || r == TL_ERR_TOOBIG);
    if (r == TL_OK) {
        fprintf(stderr, "accepted bad proof:\n%.*s\n", (int)len, s);
        tl_tlogproof_release(&p);
    }
}

static void test_tlogproof(void)
{
    tl_tlogproof p, q;
    tl_buf want = TL_BUF_INIT, b = TL_BUF_INIT;
    char *cp = make_cp(logsig, "X1 X2 X3", 0, 109482), *out = NULL, *out2 = NULL, h[48];
    size_t outlen = 0, out2len = 0, i;
    static const char extra[] = "age-v1.2.1-darwin-arm64.tar.gz";

    memset(&p, 0, sizeof p);
    p.index = 73894;
    p.proof_len = 5;
    for (i = 0; i < p.proof_len; i++)
        memset(p.proof[i].b, (int)(i + 1), 32);
    p.checkpoint = cp;
    p.checkpoint_len = strlen(cp);
    p.extra = (uint8_t *)extra;
    p.extra_len = strlen(extra);
    CU_ASSERT_FATAL(tl_tlogproof_format(&p, &out, &outlen) == TL_OK);
    /* The spec's shape, built by hand. */
    tl_buf_adds(&want, "c2sp.org/tlog-proof@v1\nextra ");
    {
        char *e = tl_b64_encode_alloc((const uint8_t *)extra, strlen(extra));
        tl_buf_adds(&want, e);
        free(e);
    }
    tl_buf_adds(&want, "\nindex 73894\n");
    for (i = 0; i < 5; i++) {
        tl_b64_encode(p.proof[i].b, 32, h);
        tl_buf_addf(&want, "%s\n", h);
    }
    tl_buf_addf(&want, "\n%s", cp);
    CU_ASSERT(outlen == want.len && memcmp(out, want.data, want.len) == 0);

    CU_ASSERT_FATAL(tl_tlogproof_parse(out, outlen, &q) == TL_OK);
    CU_ASSERT(q.index == 73894 && q.proof_len == 5);
    CU_ASSERT(memcmp(q.proof, p.proof, sizeof(tl_hash) * 5) == 0);
    CU_ASSERT(q.checkpoint_len == p.checkpoint_len && strcmp(q.checkpoint, cp) == 0);
    CU_ASSERT(q.extra_len == p.extra_len && memcmp(q.extra, extra, q.extra_len) == 0);
    CU_ASSERT(tl_tlogproof_format(&q, &out2, &out2len) == TL_OK);
    CU_ASSERT(out2len == outlen && memcmp(out2, out, outlen) == 0);
    free(out2);
    tl_tlogproof_release(&q);

    /* No extra, no proof hashes (a one-entry tree), index 0. */
    p.extra = NULL;
    p.extra_len = 0;
    p.proof_len = 0;
    p.index = 0;
    CU_ASSERT_FATAL(tl_tlogproof_format(&p, &out2, &out2len) == TL_OK);
    CU_ASSERT(strncmp(out2, "c2sp.org/tlog-proof@v1\nindex 0\n\n", 32) == 0);
    CU_ASSERT_FATAL(tl_tlogproof_parse(out2, out2len, &q) == TL_OK);
    CU_ASSERT(q.index == 0 && q.proof_len == 0 && q.extra == NULL);
    tl_tlogproof_release(&q);
    free(out2);
    /* Format refuses an index outside the checkpoint's tree. */
    p.index = 109482;
    CU_ASSERT(tl_tlogproof_format(&p, &out2, &out2len) == TL_ERR_INVALID);

    /* Rejections. */
#define PB(s) proof_bad(s, strlen(s))
    tl_buf_reset(&b);
    tl_buf_addf(&b, "c2sp.org/tlog-proof@v2\nindex 1\n\n%s", cp);
    proof_bad((char *)b.data, b.len);
    tl_buf_reset(&b);
    tl_buf_addf(&b, "c2sp.org/tlog-proof@v1\nindex 01\n\n%s", cp);
    proof_bad((char *)b.data, b.len);
    tl_buf_reset(&b);
    tl_buf_addf(&b, "c2sp.org/tlog-proof@v1\nindex  1\n\n%s", cp);
    proof_bad((char *)b.data, b.len);
    tl_buf_reset(&b);
    tl_buf_addf(&b, "c2sp.org/tlog-proof@v1\nindex 109482\n\n%s", cp); /* index == size */
    proof_bad((char *)b.data, b.len);
    tl_buf_reset(&b);
    tl_buf_addf(&b, "c2sp.org/tlog-proof@v1\nextra \nindex 1\n\n%s", cp);
    proof_bad((char *)b.data, b.len);
    tl_buf_reset(&b);
    tl_buf_addf(&b, "c2sp.org/tlog-proof@v1\nextra YWJj\nextra YWJj\nindex 1\n\n%s", cp);
    proof_bad((char *)b.data, b.len);
    tl_buf_reset(&b);
    tl_buf_addf(&b, "c2sp.org/tlog-proof@v1\nextra YWJ\nindex 1\n\n%s", cp);
    proof_bad((char *)b.data, b.len);
    tl_buf_reset(&b);
    tl_buf_addf(&b, "c2sp.org/tlog-proof@v1\nindex 1\nextra YWJj\n\n%s", cp);
    proof_bad((char *)b.data, b.len);
    tl_buf_reset(&b);
    tl_buf_addf(
        &b, "c2sp.org/tlog-proof@v1\nindex 1\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\n\n%s",
        cp);
    proof_bad((char *)b.data, b.len); /* hash without padding */
    tl_buf_reset(&b);
    tl_buf_addf(
        &b, "c2sp.org/tlog-proof@v1\nindex 1\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ==\n\n%s",
        cp);
    proof_bad((char *)b.data, b.len); /* 31 bytes */
    tl_buf_reset(&b);
    tl_buf_addf(&b, "c2sp.org/tlog-proof@v1\nindex 1\n%s", cp); /* no blank line */
    proof_bad((char *)b.data, b.len);
    tl_buf_reset(&b);
    tl_buf_adds(&b, "c2sp.org/tlog-proof@v1\nindex 1\n");
    for (i = 0; i < 64; i++)
        tl_buf_adds(&b, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n");
    tl_buf_addf(&b, "\n%s", cp);
    proof_bad((char *)b.data, b.len); /* 64 hashes */
    tl_buf_reset(&b);
    tl_buf_addf(&b, "c2sp.org/tlog-proof@v1\nindex 1\n\n%s\n", cp); /* trailing junk */
    proof_bad((char *)b.data, b.len);
    tl_buf_reset(&b);
    tl_buf_adds(&b, "c2sp.org/tlog-proof@v1\nindex 1\n\nexample.com/log\n01\nx\n\n" GO_SIGLINE);
    proof_bad((char *)b.data, b.len); /* not a checkpoint */
    PB("c2sp.org/tlog-proof@v1\nindex 1\n\n");
    PB("c2sp.org/tlog-proof@v1\nindex 1\n");
    PB("c2sp.org/tlog-proof@v1\n");
    PB("c2sp.org/tlog-proof@v1");
    PB("");
#undef PB
    /* Rejected before our own formatter writes it: 64 hashes. */
    p.index = 1;
    p.proof_len = 64;
    CU_ASSERT(tl_tlogproof_format(&p, &out2, &out2len) == TL_ERR_INVALID);
    free(out);
    free(cp);
    tl_buf_release(&want);
    tl_buf_release(&b);
}

/* ---- parser robustness ---------------------------------------------------
 * Random mutations of valid inputs (fixed seed): no parser may crash (the
 * sanitizer build checks memory), and whatever a parser accepts must format
 * back to exactly the same bytes (the parsers are canonical). */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static size_t mutate(const char *in, size_t len, char *out, size_t cap)
{
    static const char pool[] = "\n \t+=/A0\xE2\x80\x94-#";
    size_t n = len, k, edits = 1 + rnd(3);

    memcpy(out, in, len);
    for (k = 0; k < edits; k++) {
        size_t at = n ? rnd((uint32_t)n) : 0;
        switch (rnd(4)) {
        case 0: /* flip */
            if (n)
                out[at] ^= (char)(1u << rnd(8));
            break;
        case 1: /* replace with an interesting byte */
            if (n)
                out[at] = pool[rnd(sizeof pool - 1)];
            break;
        case 2: /* delete */
            if (n) {
                memmove(out + at, out + at + 1, n - at - 1);
                n--;
            }
            break;
        default: /* insert */
            if (n + 1 < cap) {
                memmove(out + at + 1, out + at, n - at);
                out[at] = pool[rnd(sizeof pool - 1)];
                n++;
            }
        }
    }
    return n;
}

static void test_robustness(void)
{
    const char *sanitized = getenv("TL_SANITIZED");
    int iters = sanitized && *sanitized == '1' ? 4000 : 20000, i;
    char *cp = make_cp(logsig, "X1 X2 Y1", 0, 1000), *proof = NULL, *pol;
    size_t plen = 0, len, j;
    tl_buf b = TL_BUF_INIT;
    tl_policy *p = NULL;
    char buf[8192], err[256];
    const char *seeds[4];
    size_t seedlen[4], accepted[4] = {0, 0, 0, 0};
    tl_tlogproof tp;

    memset(&tp, 0, sizeof tp);
    tp.index = 999;
    tp.proof_len = 3;
    tp.checkpoint = cp;
    tp.checkpoint_len = strlen(cp);
    CU_ASSERT_FATAL(tl_tlogproof_format(&tp, &proof, &plen) == TL_OK);
    example_policy(&b);
    tl_buf_adds(&b, "quorum X-and-Y\n");
    pol = tl_buf_detach(&b, NULL);
    CU_ASSERT_FATAL(tl_policy_parse(pol, strlen(pol), &p, err, sizeof err) == TL_OK);
    seeds[0] = GO_NOTE;
    seeds[1] = cp;
    seeds[2] = proof;
    seeds[3] = pol;
    for (j = 0; j < 4; j++) {
        seedlen[j] = strlen(seeds[j]);
        CU_ASSERT_FATAL(seedlen[j] + 16 < sizeof buf);
    }
    for (i = 0; i < iters; i++) {
        size_t which = (size_t)i % 4;
        tl_note n;

        len = mutate(seeds[which], seedlen[which], buf, sizeof buf);
        if (which <= 1 && tl_note_parse(buf, len, &n) == TL_OK) {
            char *out = NULL;
            size_t olen = 0;
            tl_checkpoint c;
            accepted[which]++;
            CU_ASSERT(tl_note_format(&n, &out, &olen) == TL_OK);
            CU_ASSERT(olen == len && memcmp(out, buf, len) == 0);
            free(out);
            if (tl_checkpoint_parse(n.text, n.text_len, &c) == TL_OK) {
                CU_ASSERT(tl_checkpoint_format(c.origin, c.size, &c.root, &out, &olen) == TL_OK);
                CU_ASSERT(olen + c.ext_len == n.text_len && memcmp(out, n.text, olen) == 0);
                free(out);
            }
            tl_note_release(&n);
        }
        if (which == 1) {
            /* Only the unmutated checkpoint may verify. */
            int r = tl_policy_verify_checkpoint(p, buf, len, NULL, err, sizeof err);
            CU_ASSERT(r != TL_OK || (len == seedlen[1] && memcmp(buf, cp, len) == 0));
        }
        if (which == 2 && tl_tlogproof_parse(buf, len, &tp) == TL_OK) {
            char *out = NULL;
            size_t olen = 0;
            accepted[2]++;
            CU_ASSERT(tl_tlogproof_format(&tp, &out, &olen) == TL_OK);
            CU_ASSERT(olen == len && memcmp(out, buf, len) == 0);
            free(out);
            tl_tlogproof_release(&tp);
        }
        if (which == 3) {
            tl_policy *q = NULL;
            if (tl_policy_parse(buf, len, &q, err, sizeof err) == TL_OK) {
                accepted[3]++;
                tl_policy_free(q);
            } else
                CU_ASSERT(err[0] != '\0' && strchr(err, '\n') == NULL);
        }
    }
    /* The property was exercised: some mutants of each kind were accepted. */
    for (j = 0; j < 4; j++)
        CU_ASSERT(accepted[j] > 0);
    tl_policy_free(p);
    free(pol);
    free(proof);
    free(cp);
}

/* ---- main --------------------------------------------------------------- */

int main(void)
{
    const char *t = getenv("TMPDIR");
    CU_pSuite s;
    unsigned fails;
    char cmd[700];

    snprintf(tmpdir, sizeof tmpdir, "%s/tl-signer-XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("signer", NULL, NULL);
    CU_add_test(s, "go sumdb/note vector", test_go_vector);
    CU_add_test(s, "C2SP spec examples", test_spec_examples);
    CU_add_test(s, "key round trips", test_key_roundtrip);
    CU_add_test(s, "key rejections", test_key_reject);
    CU_add_test(s, "key files", test_key_files);
    CU_add_test(s, "note rejections", test_note_reject);
    CU_add_test(s, "note semantics", test_note_semantics);
    CU_add_test(s, "checkpoints", test_checkpoint);
    CU_add_test(s, "cosignature/v1", test_cosig);
    CU_add_test(s, "RFC 6962 STH vs openssl CLI", test_sth);
    CU_add_test(s, "policy keys", policy_keys);
    CU_add_test(s, "policy parsing", test_policy_parse);
    CU_add_test(s, "policy verification", test_policy_verify);
    CU_add_test(s, "tlog-proof", test_tlogproof);
    CU_add_test(s, "parser robustness", test_robustness);
    CU_add_test(s, "policy keys free", policy_keys_free);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return fails == 0 ? 0 : 1;
}
