/*
 * console.c - GET /console/v1/status: the log's state at a glance as JSON
 * (docs/CONSOLE.md): origin, kind, the signed and published tree sizes, the
 * published checkpoint's text, and whether the sequencer stopped.
 *
 * Guarantees: never cached (no-store); holds nothing of audit events' contents
 * (only what the public checkpoint and /metrics already show). Loop thread.
 */
#include "frontend/internal.h"

#include <string.h>

void fe_console_status(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    tl_log_stats st;
    tl_log_get_stats(f->cfg.log, &st);
    json_t *j = json_object();
    json_object_set_new(j, "kind", json_string(f->cfg.kind ? f->cfg.kind : "blob"));
    json_object_set_new(j, "tree_size_signed", json_integer((json_int_t)st.signed_size));
    json_object_set_new(j, "tree_size_published", json_integer((json_int_t)st.published_size));
    json_object_set_new(j, "sequencer_stopped", json_boolean(st.stopped));
    if (f->have_pub) {
        const char *nl = memchr(f->pub.note, '\n', f->pub.note_len);
        size_t olen = nl ? (size_t)(nl - f->pub.note) : 0;
        json_object_set_new(j, "origin", json_stringn(f->pub.note, olen));
        json_object_set_new(j, "checkpoint", json_stringn(f->pub.note, f->pub.note_len));
    } else {
        json_object_set_new(j, "origin", json_null());
        json_object_set_new(j, "checkpoint", json_null());
    }
    fe_reply_json(f, r, ep, j, "no-store");
}
