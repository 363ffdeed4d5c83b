/*
 * frontend.c - the frontend's lifecycle (frontend.h) and the published head
 * it serves from: the checkpoint note, the tree size that bounds every read,
 * and get-sth's JSON, cached on the loop thread and reloaded when the log's
 * listener says something was published.
 *
 * Owns: the log reader (one, used on the loop thread), the answer cache,
 * the deadline sweep and the waiters. Loop thread, except that the
 * listener registered here runs on the log's threads (write.c).
 */
#include "frontend/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "audit/event.h"
#include "common/b64.h"
#include "common/err.h"

void fe_refresh_published(tl_frontend *f)
{
    tl_log_head h;
    memset(&h, 0, sizeof h);
    if (tl_log_published(f->cfg.log, &h) != TL_OK)
        return;
    if (f->have_pub && h.size == f->pub.size && h.note_len == f->pub.note_len &&
        memcmp(h.note, f->pub.note, h.note_len) == 0) {
        tl_log_head_release(&h);
        return;
    }
    char root[TL_B64_LEN(TL_HASH_SIZE) + 1];
    tl_b64_encode(h.root.b, TL_HASH_SIZE, root);
    char *sig = tl_b64_encode_alloc(h.sth_sig, h.sth_sig_len);
    json_t *j = json_pack("{s:I, s:I, s:s, s:s}", "tree_size", (json_int_t)h.size, "timestamp",
                          (json_int_t)h.timestamp_ms, "sha256_root_hash", root,
                          "tree_head_signature", sig ? sig : "");
    free(sig);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        tl_log_head_release(&h);
        return;
    }
    free(f->sth_json);
    f->sth_json = s;
    f->sth_json_len = strlen(s);
    if (f->have_pub)
        tl_log_head_release(&f->pub);
    f->pub = h;
    f->have_pub = 1;
}

int tl_frontend_new(const tl_frontend_config *cfg, struct event_base *base, tl_frontend **out,
                    char *err, size_t cap)
{
    *out = NULL;
    tl_frontend *f = calloc(1, sizeof *f);
    snprintf(err, cap, "out of memory");
    if (!f)
        return TL_ERR_NOMEM;
    f->cfg = *cfg;
    if (!f->cfg.kind)
        f->cfg.kind = "blob";
    if (!f->cfg.max_entry)
        f->cfg.max_entry = 65535;
    if (!f->cfg.add_timeout_ms)
        f->cfg.add_timeout_ms = 30000;
    if (!f->cfg.get_entries_max)
        f->cfg.get_entries_max = 1000;
    if (!f->cfg.max_event)
        f->cfg.max_event = TL_AUDIT_MAX_EVENT_DEFAULT;
    if (!f->cfg.max_batch)
        f->cfg.max_batch = 1000;
    f->kind = fe_kind_of(f->cfg.kind);
    f->base = base;
    pthread_mutex_init(&f->qlock, NULL);
    f->answers = fe_answers_new();
    f->hasher = tl_hasher_new();
    if (tl_log_reader_new(cfg->log, TL_LOG_READER_LARGE, &f->rd) != TL_OK || !f->answers ||
        !f->hasher) {
        tl_frontend_free(f);
        return TL_ERR_NOMEM;
    }
    if (f->kind == FE_KIND_AUDIT) {
        int rc = tl_tokens_open(f->cfg.dir, &f->tokens, err, cap);
        if (rc != TL_OK) {
            tl_frontend_free(f);
            return rc;
        }
        int nw = f->cfg.map_workers ? f->cfg.map_workers : FE_MAP_WORKERS_DEFAULT;
        if (nw > 0 && fe_pool_new(f, (size_t)nw, &f->pool) != TL_OK) {
            snprintf(err, cap, "cannot start %d mapping workers", nw);
            tl_frontend_free(f);
            return TL_ERR_NOMEM;
        }
    }
    atomic_init(&f->kicked, 0);
    atomic_init(&f->pub_changed, 1);
    atomic_init(&f->origin_changed, 1);
    tl_buf_init(&f->origin_note);
    f->sweep = event_new(base, -1, EV_PERSIST, fe_sweep_cb, f);
    if (!f->sweep) {
        tl_frontend_free(f);
        return TL_ERR_NOMEM;
    }
    struct timeval tv = {0, FE_SWEEP_MS * 1000};
    event_add(f->sweep, &tv);
    int rc = tl_log_add_listener(f->cfg.log, fe_on_log_event, f);
    if (rc != TL_OK) {
        tl_frontend_free(f);
        return rc;
    }
    fe_refresh_published(f);
    if (f->cfg.publisher) {
        tl_publisher_set_listener(f->cfg.publisher, fe_on_publisher_event, f);
        tl_publisher_head(f->cfg.publisher, &f->origin_note, &f->origin_size);
    }
    *out = f;
    return TL_OK;
}

void tl_frontend_set_httpd(tl_frontend *f, tl_httpd *h)
{
    f->httpd = h;
    atomic_store(&f->pub_changed, 1);
    fe_kick(f);
}

void tl_frontend_free(tl_frontend *f)
{
    if (!f)
        return;
    fe_waiters_free(f);
    fe_pool_free(f->pool); /* joins the workers: nothing runs on what follows */
    f->pool = NULL;
    fe_syslog_free(f);
    if (f->sweep)
        event_free(f->sweep);
    if (f->have_pub)
        tl_log_head_release(&f->pub);
    free(f->sth_json);
    tl_buf_release(&f->proof_text);
    tl_buf_release(&f->note_src);
    tl_buf_release(&f->note_json);
    tl_buf_release(&f->origin_note);
    tl_log_reader_free(f->rd);
    tl_hasher_free(f->hasher);
    tl_tokens_free(f->tokens);
    fe_answers_free(f->answers);
    pthread_mutex_destroy(&f->qlock);
    free(f);
}
