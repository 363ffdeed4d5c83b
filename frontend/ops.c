/*
 * ops.c - the operations endpoints: GET /metrics (Prometheus text format
 * 0.0.4: the log's counters, the POST /add latency histogram, requests by
 * endpoint and status, the cosigner's lines) and GET /healthz (200 "ok", or
 * 503 with the reason once the sequencer stopped).
 *
 * Guarantees: never cached (no-store); /metrics counts its own request
 * before printing, so it shows up in its own answer. Loop thread.
 */
#include "frontend/internal.h"

#include <stdio.h>

#include "common/err.h"

/* The tlogd_http_requests_total lines of endpoint e. */
static void print_requests(const tl_frontend *f, tl_buf *b, fe_ep e)
{
    for (size_t s = 0; s <= FE_NSTATUS; s++)
        if (f->req_count[e][s]) {
            char code[8];
            if (s < FE_NSTATUS)
                snprintf(code, sizeof code, "%d", fe_statuses[s]);
            else
                snprintf(code, sizeof code, "other");
            tl_buf_addf(b, "tlogd_http_requests_total{endpoint=\"%s\",code=\"%s\"} %llu\n",
                        fe_ep_name(e), code, (unsigned long long)f->req_count[e][s]);
        }
}

void fe_metrics(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    tl_log_stats st;
    tl_log_get_stats(f->cfg.log, &st);
    tl_buf b = TL_BUF_INIT;
    tl_buf_addf(&b,
                "# HELP tlogd_entries_added_total New entries sequenced since start.\n"
                "# TYPE tlogd_entries_added_total counter\n"
                "tlogd_entries_added_total %llu\n"
                "# TYPE tlogd_duplicates_total counter\n"
                "tlogd_duplicates_total %llu\n"
                "# HELP tlogd_tree_size_signed Size of the latest signed checkpoint.\n"
                "# TYPE tlogd_tree_size_signed gauge\n"
                "tlogd_tree_size_signed %llu\n"
                "# HELP tlogd_tree_size_published Size of the latest published checkpoint.\n"
                "# TYPE tlogd_tree_size_published gauge\n"
                "tlogd_tree_size_published %llu\n"
                "# TYPE tlogd_batches_total counter\n"
                "tlogd_batches_total %llu\n"
                "# HELP tlogd_batch_entries_last Entries in the last sequenced batch.\n"
                "# TYPE tlogd_batch_entries_last gauge\n"
                "tlogd_batch_entries_last %llu\n"
                "# HELP tlogd_commit_seconds Time spent committing batches.\n"
                "# TYPE tlogd_commit_seconds summary\n"
                "tlogd_commit_seconds_sum %.6f\n"
                "tlogd_commit_seconds_count %llu\n"
                "# TYPE tlogd_commit_seconds_last gauge\n"
                "tlogd_commit_seconds_last %.6f\n"
                "# HELP tlogd_pool_depth Entries waiting to be sequenced.\n"
                "# TYPE tlogd_pool_depth gauge\n"
                "tlogd_pool_depth %zu\n"
                "# HELP tlogd_add_waiting POST /add requests waiting for publication.\n"
                "# TYPE tlogd_add_waiting gauge\n"
                "tlogd_add_waiting %zu\n"
                "# TYPE tlogd_sequencer_stopped gauge\n"
                "tlogd_sequencer_stopped %d\n",
                (unsigned long long)st.entries_added, (unsigned long long)st.duplicates,
                (unsigned long long)st.signed_size, (unsigned long long)st.published_size,
                (unsigned long long)st.batches, (unsigned long long)st.batch_entries_last,
                st.commit_seconds_total, (unsigned long long)st.batches, st.commit_seconds_last,
                st.pool_depth, f->npending, st.stopped);
    tl_buf_addf(&b,
                "# HELP tlogd_dedup_filter_ready 1 once the dedup filter holds every stored key.\n"
                "# TYPE tlogd_dedup_filter_ready gauge\n"
                "tlogd_dedup_filter_ready %d\n"
                "# HELP tlogd_dedup_lookups_total Dedup lookups of new leaves, by who answered.\n"
                "# TYPE tlogd_dedup_lookups_total counter\n"
                "tlogd_dedup_lookups_total{by=\"store\"} %llu\n"
                "tlogd_dedup_lookups_total{by=\"filter\"} %llu\n"
                "# HELP tlogd_audit_access_records_lost_total Access records of an audit log "
                "that could not be submitted (each request answered 503 or, for an error "
                "answer, unrecorded).\n"
                "# TYPE tlogd_audit_access_records_lost_total counter\n"
                "tlogd_audit_access_records_lost_total %llu\n",
                st.dedup_filter_ready, (unsigned long long)st.dedup_store_reads,
                (unsigned long long)st.dedup_filter_skips,
                (unsigned long long)f->audit_access_lost);
    tl_buf_adds(&b, "# HELP tlogd_add_seconds Time from POST /add to its answer.\n"
                    "# TYPE tlogd_add_seconds histogram\n");
    const fe_latency *l = &f->add_lat;
    uint64_t cum = 0;
    for (size_t i = 0; i < FE_NLAT; i++) {
        cum += l->count[i];
        tl_buf_addf(&b, "tlogd_add_seconds_bucket{le=\"%g\"} %llu\n", fe_lat_bounds[i],
                    (unsigned long long)cum);
    }
    cum += l->count[FE_NLAT];
    tl_buf_addf(&b, "tlogd_add_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    tl_buf_addf(&b, "tlogd_add_seconds_sum %.6f\ntlogd_add_seconds_count %llu\n", l->sum,
                (unsigned long long)l->n);
    /* Count this request before printing, so it shows up in its own answer. */
    fe_count(f, ep, 200);
    tl_buf_adds(&b, "# HELP tlogd_http_requests_total Requests by endpoint and status.\n"
                    "# TYPE tlogd_http_requests_total counter\n");
    size_t nroutes;
    fe_routes(&nroutes);
    for (fe_ep e = 0; e < nroutes; e++)
        print_requests(f, &b, e);
    print_requests(f, &b, FE_EP_OTHER);
    if (f->cfg.cosigner)
        tl_cosigner_metrics(f->cfg.cosigner, &b);
    if (f->cfg.publisher)
        tl_publisher_metrics(f->cfg.publisher, &b);
    if (f->cfg.ha)
        tl_ha_metrics(f->cfg.ha, &b);
    fe_syslog_metrics(f, &b);
    fe_pool_metrics(f, &b);
    f->req_count[ep][0]--; /* fe_reply counts it again */
    fe_reply(f, r, ep, 200, "text/plain; version=0.0.4; charset=utf-8", "no-store",
             b.data ? (const char *)b.data : "", b.len);
    tl_buf_release(&b);
}

void fe_healthz(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    tl_log_stats st;
    tl_log_get_stats(f->cfg.log, &st);
    if (st.stopped)
        fe_fail(f, r, ep, TL_ERR_STOPPED, "sequencer stopped: %s", st.stop_reason);
    else if (st.standby)
        fe_reply(f, r, ep, 200, "text/plain; charset=utf-8", "no-store", "standby\n", 8);
    else
        fe_reply(f, r, ep, 200, "text/plain; charset=utf-8", "no-store", "ok\n", 3);
}
