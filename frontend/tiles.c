/*
 * tiles.c - the C2SP tlog-tiles reads: GET /checkpoint (the published
 * signed note, with cosignatures), hash tiles GET /tile/<L>/<N>[.p/<W>] and
 * entry bundles GET /tile/entries/<N>[.p/<W>].
 *
 * Guarantees: only what the published checkpoint covers is served (503
 * before the first one; 404 for a tile beyond it or a malformed path). Full
 * tiles are immutable, partial ones cached 60 s. Every entry of a bundle is
 * checked against its leaf hash by the log's read side; a damaged bundle is
 * refused with 500, never served. Full hash tiles come from the reader's
 * cache: no allocation, no copy before tl_httpd's; full bundles (checked
 * once by the reader) are sent from its cache by reference, not copied at
 * all over HTTP/2. Loop thread.
 */
#include "frontend/internal.h"

#include <string.h>

#include "common/err.h"

void fe_checkpoint(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    if (!fe_need_pub(f, r, ep))
        return;
    fe_reply(f, r, ep, 200, "text/plain; charset=utf-8", FE_CC_CHECKPOINT, f->pub.note,
             f->pub.note_len);
}

/* Both tile routes: the path says which (tl_tile_parse_path). */
void fe_tile(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    const char *path = tl_http_req_path(r);
    tl_tile t;
    if (tl_tile_parse_path(path, strlen(path), &t) != TL_OK) {
        fe_fail(f, r, ep, TL_ERR_NOTFOUND, "no such tile: malformed tile path");
        return;
    }
    if (!fe_need_pub(f, r, ep))
        return;
    const uint8_t *data;
    size_t len;
    void *pin = NULL;
    int rc = tl_log_reader_tile_pinned(f->rd, &t, f->pub.size, &data, &len, &pin);
    if (rc == TL_ERR_NOTFOUND || rc == TL_ERR_RANGE || rc == TL_ERR_INVALID) {
        fe_fail(f, r, ep, TL_ERR_NOTFOUND, "no such tile in the published tree of size %llu",
                (unsigned long long)f->pub.size);
    } else if (rc != TL_OK) {
        /* a damaged bundle (an entry that does not hash to its leaf hash)
         * is refused here, and the log has stopped signing */
        fe_fail(f, r, ep, rc, "cannot read the tile: %s", tl_strerror(rc));
    } else if (pin) {
        /* a checked full bundle, sent from the reader's cache without a copy */
        tl_http_header h[] = {{"access-control-allow-origin", "*"},
                              {"cache-control", FE_CC_IMMUTABLE}};
        fe_count(f, ep, 200);
        tl_http_respond_shared(r, 200, "application/octet-stream", h, 2, data, len,
                               tl_log_reader_unpin, pin);
    } else {
        fe_reply(f, r, ep, 200, "application/octet-stream",
                 t.width == TL_TILE_WIDTH ? FE_CC_IMMUTABLE : FE_CC_PARTIAL, data, len);
    }
}
