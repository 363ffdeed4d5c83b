/*
 * routes.c - THE route table of tlogd's API and its dispatch
 * (tl_frontend_handle): every endpoint is one line below, with the methods,
 * the path (exact, or a prefix), the log kinds that serve it, its endpoint
 * label for /metrics and its handler (internal.h says how a line is chosen).
 * Adding an endpoint is one line here and one handler function.
 *
 * Guarantees: a path no line serves gets 404 with a one-line reason; a
 * method no line for the path has gets 405 with Allow built from the lines;
 * OPTIONS on any path is the CORS preflight (204); HEAD is served as GET.
 * Loop thread; the lookup allocates nothing.
 */
#include "frontend/internal.h"

#include <string.h>

#include "common/err.h"

/* The table's words, short so that each line of it fits on one. */
#define GET FE_GET
#define POST FE_POST
#define EXACT FE_EXACT
#define PREFIX FE_PREFIX
#define ANY FE_KINDS_ALL
#define BLOB FE_KIND_BLOB
#define AUDIT FE_KIND_AUDIT

/* The API (docs/FRONTEND.md): {methods, path, match, kinds, endpoint, handler}.
 * The order is the order of /metrics. */
static const fe_route routes[] = {
    /* C2SP tlog-checkpoint and tlog-tiles (tiles.c) */
    {GET, "/checkpoint", EXACT, ANY, "checkpoint", fe_checkpoint},
    {GET, "/tile/", PREFIX, ANY, "tile", fe_tile},
    {GET, "/tile/entries/", PREFIX, ANY, "tile_entries", fe_tile},
    /* writes, answered once published (write.c) */
    {POST, "/add", EXACT, BLOB, "add", fe_add},
    /* RFC 6962 §4 (ct.c) */
    {GET, "/ct/v1/get-sth", EXACT, ANY, "get-sth", fe_ct_sth},
    {GET, "/ct/v1/get-sth-consistency", EXACT, ANY, "get-sth-consistency", fe_ct_consistency},
    {GET, "/ct/v1/get-proof-by-hash", EXACT, ANY, "get-proof-by-hash", fe_ct_proof_by_hash},
    {GET, "/ct/v1/get-entries", EXACT, ANY, "get-entries", fe_ct_entries},
    {GET, "/ct/v1/get-entry-and-proof", EXACT, ANY, "get-entry-and-proof", fe_ct_entry_and_proof},
    /* audit logs (audit.c) */
    {GET, "/audit/v1/log", EXACT, AUDIT, "audit_log", fe_audit_log},
    {POST, "/audit/v1/events", EXACT, AUDIT, "audit_write", fe_audit_events},
    {GET, "/audit/v1/events", EXACT, AUDIT, "audit_query", fe_audit_events},
    {GET, "/audit/v1/events/", PREFIX, AUDIT, "audit_read", fe_audit_event},
    {POST, "/audit/v1/events/", PREFIX, AUDIT, "audit_erase", fe_audit_event},
    {GET, "/audit/v1/bodies/", PREFIX, AUDIT, "audit_bodies", fe_audit_bodies},
    /* the Kubernetes audit webhook, answered at the commit point (k8s.c) */
    {POST, "/audit/v1/k8s", EXACT, AUDIT, "audit_k8s", fe_k8s_post},
    /* operations (ops.c) */
    {GET, "/metrics", EXACT, ANY, "metrics", fe_metrics},
    {GET, "/healthz", EXACT, ANY, "healthz", fe_healthz},
    /* the web console (console.c) */
    {GET, "/console/v1/status", EXACT, ANY, "console_status", fe_console_status},
    {GET, "/", EXACT, ANY, "console", fe_console_file},
    {GET, "/console/", PREFIX, ANY, "console_file", fe_console_file},
};
#define NROUTES (sizeof routes / sizeof routes[0])
_Static_assert(NROUTES <= FE_MAX_ROUTES, "raise FE_MAX_ROUTES in frontend/internal.h");

/* The log kinds the frontend knows, and their bits. */
static const struct {
    const char *name;
    unsigned bit;
} kinds[] = {
    {"blob", FE_KIND_BLOB},
    {"audit", FE_KIND_AUDIT},
};

const fe_route *fe_routes(size_t *n)
{
    *n = NROUTES;
    return routes;
}

unsigned fe_kind_of(const char *name)
{
    if (!name)
        name = "blob";
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, name) == 0)
            return kinds[i].bit;
    return FE_KIND_OTHER;
}

const char *fe_ep_name(fe_ep ep)
{
    return ep < NROUTES ? routes[ep].ep : "other";
}

static unsigned method_bit(const char *m)
{
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        return FE_GET;
    if (strcmp(m, "POST") == 0)
        return FE_POST;
    return 0;
}

/* How well rt's path matches: 0 not at all, else higher for more specific
 * (an exact path beats any prefix, a longer prefix a shorter one). */
static size_t path_match(const fe_route *rt, const char *path)
{
    if (path[0] != '/' || path[1] != rt->path[1]) /* most lines differ here: no call */
        return 0;
    if (rt->match == FE_EXACT)
        return strcmp(path, rt->path) == 0 ? (size_t)-1 : 0;
    size_t n = strlen(rt->path);
    return strncmp(path, rt->path, n) == 0 ? n : 0;
}

static void allow_header(unsigned methods, char *out, size_t cap)
{
    static const struct {
        unsigned bit;
        const char *names;
    } m[] = {{FE_GET, "GET, HEAD"}, {FE_POST, "POST"}};
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (methods & m[i].bit) {
            size_t l = strlen(m[i].names);
            if (n + (n ? 2 : 0) + l + 1 > cap)
                break;
            if (n) {
                memcpy(out + n, ", ", 2);
                n += 2;
            }
            memcpy(out + n, m[i].names, l + 1);
            n += l;
        }
}

void fe_route_find(unsigned kind, const char *method, const char *path, fe_lookup *out)
{
    unsigned m = method_bit(method), allow = 0;
    size_t best = 0, any = 0;
    out->route = NULL;
    out->ep = FE_EP_OTHER;
    out->status = 404;
    out->other_kind = 0;
    out->allow[0] = 0;
    for (size_t i = 0; i < NROUTES; i++) {
        size_t s = path_match(&routes[i], path);
        if (!s)
            continue;
        if (!(routes[i].kinds & kind)) {
            out->other_kind = 1;
            continue;
        }
        allow |= routes[i].methods;
        if (s > any) {
            any = s;
            if (!out->route)
                out->ep = (fe_ep)i; /* the path's endpoint, for a 405 */
        }
        if ((routes[i].methods & m) && s > best) {
            best = s;
            out->route = &routes[i];
            out->ep = (fe_ep)i;
        }
    }
    if (out->route) {
        out->status = 0;
        out->other_kind = 0;
    } else if (any) {
        out->status = 405;
        out->other_kind = 0;
        allow_header(allow, out->allow, sizeof out->allow);
    }
}

static void method_not_allowed(tl_frontend *f, tl_http_req *r, fe_ep ep, const char *allow)
{
    tl_http_header h[] = {{"allow", allow}, {"access-control-allow-origin", "*"}};
    const char *msg = "method not allowed\n";
    fe_count(f, ep, 405);
    tl_http_respond(r, 405, "text/plain; charset=utf-8", h, 2, msg, strlen(msg));
}

/* CORS preflight: browsers ask before a cross-origin POST /add. */
static void cors_preflight(tl_frontend *f, tl_http_req *r)
{
    tl_http_header h[] = {{"access-control-allow-origin", "*"},
                          {"access-control-allow-methods", "GET, HEAD, POST"},
                          {"access-control-allow-headers", "Content-Type, Accept"},
                          {"access-control-max-age", "86400"}};
    fe_count(f, FE_EP_OTHER, 204);
    tl_http_respond(r, 204, NULL, h, 4, "", 0);
}

void tl_frontend_handle(void *ctx, tl_http_req *r)
{
    tl_frontend *f = ctx;
    const char *m = tl_http_req_method(r), *p = tl_http_req_path(r);
    if (strcmp(m, "OPTIONS") == 0) {
        cors_preflight(f, r);
        return;
    }
    fe_lookup lk;
    fe_route_find(f->kind, m, p, &lk);
    if (lk.route)
        lk.route->fn(f, r, lk.ep);
    else if (lk.status == 405)
        method_not_allowed(f, r, lk.ep, lk.allow);
    else if (lk.other_kind)
        fe_fail(f, r, FE_EP_OTHER, TL_ERR_NOTFOUND,
                "no such endpoint on a log of kind %.40s: %.100s", f->cfg.kind, p);
    else
        fe_fail(f, r, FE_EP_OTHER, TL_ERR_NOTFOUND, "no such endpoint: %.100s", p);
}
