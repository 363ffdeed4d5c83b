/*
 * test_client_audit.c - the auditor's checks of an audit log (client.h):
 * tl_audit_check_records (every entry a record in its exact byte form, log
 * times never decreasing) and tl_audit_check_bodies (the NDJSON of
 * /audit/v1/bodies/: every commitment recomputed from the salt and the
 * event canonicalized again; erasures; every malformed answer refused).
 * Each failure must name the entry's index.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/record.h"
#include "client/client.h"
#include "common/b64.h"

static char err[TL_ERRMSG];

/* A bundle (tlog-tiles encoding) of n entries given as strings. */
static void bundle_of(tl_buf *b, const char *const *entries, unsigned n)
{
    tl_buf_reset(b);
    for (unsigned i = 0; i < n; i++) {
        size_t l = strlen(entries[i]);
        uint8_t len[2] = {(uint8_t)(l >> 8), (uint8_t)l};
        tl_buf_add(b, len, 2);
        tl_buf_add(b, entries[i], l);
    }
}

static int check_records(const char *const *entries, unsigned n, uint64_t base, uint64_t *prev)
{
    tl_buf b = TL_BUF_INIT;
    tl_hash c[8];
    uint64_t first = 0;
    bundle_of(&b, entries, n);
    err[0] = 0;
    int rc = tl_audit_check_records(b.data, b.len, base, n, "tile/entries/000", prev, &first, c,
                                    err, sizeof(err));
    tl_buf_release(&b);
    return rc;
}

#define REC(t)                                                                                     \
    "{\"v\":1,\"time\":" t ",\"commitment\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}"

static void test_records(void)
{
    uint64_t prev = 0;
    const char *good[] = {REC("5"), REC("5"), REC("9")};
    CU_ASSERT_EQUAL(check_records(good, 3, 0, &prev), TL_OK);
    CU_ASSERT_EQUAL(prev, 9);
    /* the time before the bundle counts */
    prev = 6;
    CU_ASSERT_EQUAL(check_records(good, 3, 256, &prev), TL_ERR_PROOF);
    CU_ASSERT(strstr(err, "entry 256 ") && strstr(err, "expected at least 6") &&
              strstr(err, "got 5"));
    /* within the bundle */
    const char *back[] = {REC("5"), REC("7"), REC("6")};
    prev = 0;
    CU_ASSERT_EQUAL(check_records(back, 3, 512, &prev), TL_ERR_PROOF);
    CU_ASSERT(strstr(err, "entry 514 ") && strstr(err, "expected at least 7") &&
              strstr(err, "got 6") && strstr(err, "entry 513"));
    /* anything but the exact form */
    const char *bad[] = {
        "hello",
        "",
        "{\"v\":1,\"time\":05,\"commitment\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
        "{\"v\":1,\"time\":-5,\"commitment\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
        "{\"v\":1, \"time\":5,\"commitment\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
        "{\"v\":2,\"time\":5,\"commitment\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
        "{\"v\":1,\"time\":5,\"commitment\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\"}",
        "{\"v\":1,\"time\":5,\"commitment\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"}",
        "{\"v\":1,\"time\":5,\"commitment\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}\n",
        "{\"time\":5,\"v\":1,\"commitment\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *two[] = {REC("1"), bad[i]};
        prev = 0;
        CU_ASSERT_EQUAL(check_records(two, 2, 0, &prev), TL_ERR_INVALID);
        CU_ASSERT(strstr(err, "entry 1 ") && strstr(err, "not an audit record"));
    }
    /* a bundle shorter than it says */
    tl_buf b = TL_BUF_INIT;
    tl_hash c[2];
    bundle_of(&b, good, 1);
    prev = 0;
    CU_ASSERT_EQUAL(
        tl_audit_check_records(b.data, b.len, 0, 2, "x", &prev, NULL, c, err, sizeof(err)),
        TL_ERR_INVALID);
    tl_buf_release(&b);
}

/* Bodies of entries 256.. with their commitments. */
#define EV "{\"action\":\"a.b\",\"actor\":{\"id\":\"caf\xc3\xa9\"},\"n\":[1,-2]}"
static const char *events[] = {EV, "{\"x\":1}", "{\"y\":\"\\u0000\"}"};

static void commit_of(tl_hasher *h, const char *canon, const uint8_t salt[32], tl_hash *out)
{
    tl_audit_commitment(h, salt, canon, strlen(canon), out);
}

static int check_bodies(tl_hasher *h, const char *nd, unsigned w, const tl_hash *c, uint64_t from,
                        uint64_t *erased, unsigned *nerased)
{
    *nerased = 0;
    err[0] = 0;
    return tl_audit_check_bodies(h, (const uint8_t *)nd, strlen(nd), 256, w, "audit/v1/bodies/001",
                                 c, from, erased, nerased, err, sizeof(err));
}

static void test_bodies(void)
{
    tl_hasher *h = tl_hasher_new();
    uint8_t salt[32];
    char sb[TL_B64_LEN(32) + 1];
    memset(salt, 7, sizeof(salt));
    tl_b64_encode(salt, 32, sb);
    tl_hash c[4];
    commit_of(h, EV, salt, &c[0]);
    commit_of(h, "{\"x\":1}", salt, &c[1]);
    commit_of(h, "{\"y\":\"\\u0000\"}", salt, &c[3]);
    uint64_t erased[4];
    unsigned ne = 0;
    char nd[2048];
    /* a reformatted event (spaces, other member order, escapes) still
     * canonicalizes to what was committed */
    snprintf(nd, sizeof(nd),
             "{\"index\":256,\"event\":{ \"n\" : [1, -2], \"actor\":{\"id\":\"caf\\u00e9\"},"
             "\"action\":\"a.b\"},\"salt\":\"%s\"}\n"
             "{\"salt\":\"%s\",\"index\":257,\"event\":%s}\n"
             "{\"index\":258,\"erased_by\":300}\n"
             "{\"index\":259,\"event\":%s,\"salt\":\"%s\"}\n",
             sb, sb, events[1], events[2], sb);
    CU_ASSERT_EQUAL(check_bodies(h, nd, 4, c, 0, erased, &ne), TL_OK);
    CU_ASSERT_EQUAL(ne, 1);
    CU_ASSERT_EQUAL(erased[0], 258);
    /* erasures below from are not reported */
    CU_ASSERT_EQUAL(check_bodies(h, nd, 4, c, 259, erased, &ne), TL_OK);
    CU_ASSERT_EQUAL(ne, 0);
    /* a commitment that differs names the entry, never the event */
    tl_hash wrong[4];
    memcpy(wrong, c, sizeof(c));
    wrong[3].b[5] ^= 1;
    CU_ASSERT_EQUAL(check_bodies(h, nd, 4, wrong, 0, erased, &ne), TL_ERR_PROOF);
    CU_ASSERT(strstr(err, "entry 259 ") && strstr(err, "commitment expected"));
    CU_ASSERT(strstr(err, "\\u0000") == NULL && strstr(err, "\"y\"") == NULL);
    /* another salt */
    char other[TL_B64_LEN(32) + 1];
    salt[0] ^= 1;
    tl_b64_encode(salt, 32, other);
    snprintf(nd, sizeof(nd), "{\"index\":256,\"event\":%s,\"salt\":\"%s\"}\n", events[0], other);
    CU_ASSERT_EQUAL(check_bodies(h, nd, 1, c, 0, erased, &ne), TL_ERR_PROOF);
    CU_ASSERT(strstr(err, "entry 256 ") != NULL);
    /* malformed answers */
    const char *bad[] = {
        "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\n{\"index\":258,\"erased_by\":300}\n",
        "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\n", /* a line missing */
        "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\n{\"index\":257,\"erased_by\":257}\n",
        "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\n{\"index\":257,\"erased_by\":300,"
        "\"salt\":\"\"}\n",
        "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\n{\"index\":257,\"event\":{\"x\":1.5},"
        "\"salt\":\"AAAA\"}\n",
        "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\n{\"index\":257,\"event\":{\"x\":1},"
        "\"salt\":\"AAAA\"}\n",
        "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\n{\"index\":257,\"event\":{\"x\":1},"
        "\"event\":{\"x\":1},\"salt\":\"AAAA\"}\n",
        "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\n{\"index\":257,\"event\":[1],"
        "\"salt\":\"AAAA\"}\n",
        "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\nnot json\n",
        "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\n{\"index\":257,\"erased_by\":300}",
        "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\n{\"index\":257,\"erased_by\":300}"
        "\n\n",
    };
    tl_hash cx[2];
    salt[0] ^= 1;
    commit_of(h, "{\"x\":1}", salt, &cx[0]);
    cx[1] = cx[0];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(nd, sizeof(nd), bad[i], sb);
        int rc = check_bodies(h, nd, 2, cx, 0, erased, &ne);
        CU_ASSERT_EQUAL(rc, TL_ERR_INVALID);
        if (rc != TL_ERR_INVALID)
            fprintf(stderr, "bodies case %zu: %d %s\n", i, rc, err);
        CU_ASSERT(i >= 9 || strstr(err, "257") != NULL);
    }
    /* and the good form of the same */
    snprintf(nd, sizeof(nd),
             "{\"index\":256,\"event\":{\"x\":1},\"salt\":\"%s\"}\n{\"index\":257,\"erased_by\":"
             "300}\n",
             sb);
    CU_ASSERT_EQUAL(check_bodies(h, nd, 2, cx, 0, erased, &ne), TL_OK);
    tl_hasher_free(h);
}

int main(void)
{
    CU_pSuite s;
    int failures;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("client_audit", NULL, NULL);
    CU_add_test(s, "records", test_records);
    CU_add_test(s, "bodies", test_bodies);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
