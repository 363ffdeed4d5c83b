/*
 * unit.h - what the CUnit programs share (header only).
 *
 *   tl_unit_run(suite, tests, n)         runs one suite of n tests, verbose;
 *                                        returns the exit code (1 on a failure)
 *   tl_test_tmpdir(prefix)               a fresh $TMPDIR/<prefix>-XXXXXX (malloc'd)
 *   tl_test_logdir(prefix, origin, &p)   a fresh folder p holding p/log, made by
 *                                        tl_log_create (both paths malloc'd)
 *   tl_test_rmtree(dir)                  removes dir and all below it
 *   tl_test_logdir_free(p, d)            removes p, frees both paths
 *
 * A folder that cannot be made fails the test (CU_ASSERT_FATAL).
 */
#ifndef TL_TESTS_UNIT_H
#define TL_TESTS_UNIT_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

#include "log/log.h"

typedef struct tl_unit_test {
    const char *name;
    CU_TestFunc fn;
} tl_unit_test;

static inline int tl_unit_run(const char *suite, const tl_unit_test *t, size_t n)
{
    CU_pSuite s;
    unsigned failures;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite(suite, NULL, NULL);
    for (size_t i = 0; s && i < n; i++)
        CU_add_test(s, t[i].name, t[i].fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return s && failures == 0 ? 0 : 1;
}

static inline char *tl_test_tmpdir(const char *prefix)
{
    const char *t = getenv("TMPDIR");
    char *p = malloc(4096);
    CU_ASSERT_FATAL(p != NULL);
    snprintf(p, 4096, "%s/%s-XXXXXX", t && *t ? t : "/tmp", prefix);
    CU_ASSERT_FATAL(mkdtemp(p) != NULL);
    return p;
}

static inline void tl_test_rmtree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CU_ASSERT(system(cmd) == 0);
}

static inline char *tl_test_logdir(const char *prefix, const char *origin, char **parent)
{
    char *p = tl_test_tmpdir(prefix), *d = malloc(4200), err[256], *vkey = NULL;
    CU_ASSERT_FATAL(d != NULL);
    snprintf(d, 4200, "%s/log", p);
    CU_ASSERT_FATAL(tl_log_create(d, origin, NULL, &vkey, err, sizeof(err)) == TL_OK);
    free(vkey);
    *parent = p;
    return d;
}

static inline void tl_test_logdir_free(char *parent, char *d)
{
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

#endif
