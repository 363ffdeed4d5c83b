/*
 * k8s_bench_map.c - the CPU cost of mapping one EventList (audit/k8s.h), the
 * part of POST /audit/v1/k8s that runs on tlogd's event loop: a list of 400
 * Metadata-level items (the shape bench/k8s_bench.py posts), mapped RUNS
 * times (default 50); prints the median and the worst of the whole mapping
 * and, for the same text, of jansson's parse alone.
 *
 *   k8s_bench_map [RUNS]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/k8s.h"
#include "common/clock.h"
#include "common/err.h"

#define ITEMS 400

static const char item[] =
    "{\"level\":\"Metadata\",\"auditID\":\"%08x-%04x-4000-8000-%012x\",\"stage\":"
    "\"ResponseComplete\",\"requestURI\":\"/api/v1/namespaces/team-a/pods/web-7d4b9c6f5-x2k8q\","
    "\"verb\":\"get\",\"user\":{\"username\":\"system:serviceaccount:team-a:deployer\",\"uid\":"
    "\"5f0c2a9e-3b1d-4c7e-9a8f-1e2d3c4b5a69\",\"groups\":[\"system:serviceaccounts\","
    "\"system:serviceaccounts:team-a\",\"system:authenticated\"]},\"sourceIPs\":[\"10.244.3.17\"],"
    "\"userAgent\":\"kubectl/v1.30.2 (linux/amd64) kubernetes/39683505\",\"objectRef\":{"
    "\"resource\":\"pods\",\"namespace\":\"team-a\",\"name\":\"web-7d4b9c6f5-x2k8q\","
    "\"apiVersion\":\"v1\"},\"responseStatus\":{\"metadata\":{},\"code\":200},"
    "\"requestReceivedTimestamp\":\"2026-12-02T06:00:00.123456Z\",\"stageTimestamp\":"
    "\"2026-12-02T06:00:00.125678Z\",\"annotations\":{\"authorization.k8s.io/decision\":\"allow\","
    "\"authorization.k8s.io/reason\":\"RBAC: allowed by RoleBinding \\\"deployer/team-a\\\" of "
    "Role \\\"deployer\\\" to ServiceAccount \\\"deployer/team-a\\\"\"}}";

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp);
    printf("%-28s median %6.2f ms  max %6.2f ms\n", what, t[n / 2], t[n - 1]);
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 50;
    tl_buf list = TL_BUF_INIT;
    double *tmap, *tparse;
    char why[512];
    if (runs < 1)
        runs = 1;
    tmap = calloc((size_t)runs, sizeof *tmap);
    tparse = calloc((size_t)runs, sizeof *tparse);
    tl_buf_adds(&list, "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},"
                       "\"items\":[");
    for (unsigned i = 0; i < ITEMS; i++) {
        if (i)
            tl_buf_adds(&list, ",");
        tl_buf_addf(&list, item, 1u, i, i);
    }
    tl_buf_adds(&list, "]}");
    if (!tmap || !tparse || !list.data)
        return 1;
    printf("list: %d items, %zu bytes\n", ITEMS, list.len);
    for (int r = 0; r < runs; r++) {
        tl_k8s_list l;
        json_error_t je;
        double t0 = tl_mono_s();
        int rc = tl_k8s_map((const char *)list.data, list.len, "kube-apiserver",
                            TL_AUDIT_MAX_EVENT_DEFAULT, 1000, &l, why, sizeof why);
        double t1 = tl_mono_s();
        json_t *j = json_loadb((const char *)list.data, list.len, TL_AUDIT_JSON_FLAGS, &je);
        double t2 = tl_mono_s();
        if (rc != TL_OK || l.n != ITEMS || !j) {
            fprintf(stderr, "k8s_bench_map: %s\n", rc != TL_OK ? why : "parse failed");
            return 1;
        }
        tl_k8s_list_release(&l);
        json_decref(j);
        tmap[r] = (t1 - t0) * 1000.0;
        tparse[r] = (t2 - t1) * 1000.0;
    }
    report("tl_k8s_map (whole mapping)", tmap, runs);
    report("json_loadb (parse alone)", tparse, runs);
    tl_buf_release(&list);
    free(tmap);
    free(tparse);
    return 0;
}
