/* Routes: literal segments, "{name}" parameters, a trailing "*" for prefixes; middleware. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void free_route(ah__route *r)
{
    for (size_t i = 0; i < r->nsegments; i++)
        free(r->segments[i]);
    free(r->segments);
    free(r->method);
    free(r->pattern);
}

void ah__router_free(ah_server *srv)
{
    for (size_t i = 0; i < srv->nroutes; i++)
        free_route(&srv->routes[i]);
    free(srv->routes);
    srv->routes = NULL;
    srv->nroutes = srv->cap_routes = 0;
}

int ah__router_add(ah_server *srv, const char *method, const char *pattern, ah_handler_fn handler,
                   void *arg, size_t max_body)
{
    if (!method || !*method || !pattern || pattern[0] != '/' || !handler)
        return AH_EINVAL;
    if (srv->nroutes == srv->cap_routes) {
        size_t cap = srv->cap_routes ? srv->cap_routes * 2 : 16;
        ah__route *routes = realloc(srv->routes, cap * sizeof(*routes));
        if (!routes)
            return AH_ENOMEM;
        srv->routes = routes;
        srv->cap_routes = cap;
    }
    ah__route r = {0};
    r.method = strdup(method);
    r.pattern = strdup(pattern);
    r.handler = handler;
    r.arg = arg;
    r.max_body = max_body;
    size_t n = 0;
    for (const char *p = pattern; *p; p++)
        n += *p == '/';
    r.segments = calloc(n + 1, sizeof(char *));
    if (!r.method || !r.pattern || !r.segments) {
        free_route(&r);
        return AH_ENOMEM;
    }
    const char *p = pattern + 1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 1 && p[0] == '*' && !end) {
            r.prefix = 1;
            break;
        }
        int param = len >= 2 && p[0] == '{' && p[len - 1] == '}';
        if (memchr(p, '{', len) && !param) {
            free_route(&r);
            return AH_EINVAL;
        }
        if (!(r.segments[r.nsegments++] = strndup(p, len))) {
            free_route(&r);
            return AH_ENOMEM;
        }
        if (!end)
            break;
        p = end + 1;
        if (!*p) { /* trailing slash: an empty last segment */
            if (!(r.segments[r.nsegments++] = strdup(""))) {
                free_route(&r);
                return AH_ENOMEM;
            }
        }
    }
    srv->routes[srv->nroutes++] = r;
    return 0;
}

/* Does path match route r? Fills req's params when it does. */
static int match_path(const ah__route *r, const char *path, ah_request *req)
{
    if (path[0] != '/')
        return 0;
    const char *p = path + 1;
    size_t nparams = 0;
    for (size_t i = 0; i < r->nsegments; i++) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *seg = r->segments[i];
        size_t slen = strlen(seg);
        if (slen >= 2 && seg[0] == '{') {
            if (len == 0 || nparams == AH__MAX_PARAMS)
                return 0;
            if (req) {
                req->param_names[nparams] = seg; /* "{id}" → compared without braces below */
                req->param_values[nparams] = ah__arena_strndup(req->arena, p, len);
            }
            nparams++;
        } else if (slen != len || memcmp(seg, p, len) != 0) {
            return 0;
        }
        if (!end) {
            if (i + 1 != r->nsegments)
                return 0;
            p += len;
            goto done;
        }
        p = end + 1;
    }
    if (!r->prefix && (r->nsegments > 0 || *p))
        return 0;
done:
    if (*p && !r->prefix)
        return 0;
    if (req) {
        if (r->prefix && nparams < AH__MAX_PARAMS) {
            req->param_names[nparams] = "*";
            req->param_values[nparams++] = p;
        }
        req->nparams = nparams;
    }
    return 1;
}

static int method_matches(const ah__route *r, const char *method)
{
    return strcmp(r->method, "*") == 0 || strcmp(r->method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

const ah__route *ah__router_match(ah_server *srv, ah_request *req, ah_response *resp,
                                  int *status_if_none)
{
    int path_seen = 0;
    for (size_t i = 0; i < srv->nroutes; i++) {
        const ah__route *r = &srv->routes[i];
        if (!match_path(r, req->path, NULL))
            continue;
        if (method_matches(r, req->method)) {
            match_path(r, req->path, req);
            /* the stored names are "{id}": point past the brace, terminated by a copy */
            for (size_t k = 0; k < req->nparams; k++) {
                const char *n = req->param_names[k];
                if (n[0] == '{')
                    req->param_names[k] = ah__arena_strndup(req->arena, n + 1, strlen(n) - 2);
            }
            return r;
        }
        path_seen = 1;
    }
    if (!path_seen) {
        *status_if_none = 404;
        return NULL;
    }
    /* 405 with the methods that would have matched */
    char allow[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < srv->nroutes; i++) {
        const ah__route *r = &srv->routes[i];
        if (!match_path(r, req->path, NULL))
            continue;
        const char *m[2] = {r->method, strcmp(r->method, "GET") == 0 ? "HEAD" : NULL};
        for (int k = 0; k < 2 && m[k]; k++) {
            size_t ml = strlen(m[k]);
            if (strstr(allow, m[k]) || used + ml + 3 > sizeof(allow))
                continue;
            used += (size_t)snprintf(allow + used, sizeof(allow) - used, "%s%s", used ? ", " : "",
                                     m[k]);
        }
    }
    (void)!ah_response_header(resp, "Allow", allow);
    *status_if_none = 405;
    return NULL;
}

const char *ah__router_all_methods(ah_server *srv, ah__arena *a)
{
    char allow[256] = "OPTIONS";
    size_t used = strlen(allow);
    for (size_t i = 0; i < srv->nroutes; i++) {
        const char *m[2] = {srv->routes[i].method,
                            strcmp(srv->routes[i].method, "GET") == 0 ? "HEAD" : NULL};
        for (int k = 0; k < 2 && m[k]; k++) {
            if (strcmp(m[k], "*") == 0 || strstr(allow, m[k]) ||
                used + strlen(m[k]) + 3 > sizeof(allow))
                continue;
            used += (size_t)snprintf(allow + used, sizeof(allow) - used, ", %s", m[k]);
        }
    }
    return ah__arena_strndup(a, allow, used);
}

int ah_next_call(ah_next *next)
{
    ah_server *srv = next->srv;
    if (next->index < srv->nmws) {
        ah_next inner = *next;
        inner.index++;
        const ah__middleware *mw = &srv->mws[next->index];
        return mw->fn(next->req, next->resp, &inner, mw->arg);
    }
    if (next->route)
        return next->route->handler(next->req, next->resp, next->route->arg);
    return ah_response_text(next->resp, next->status_if_none, "text/plain",
                            next->status_if_none == 404 ? "Not Found\n" : "Method Not Allowed\n");
}

int ah_server_use(ah_server *srv, ah_middleware_fn mw, void *arg)
{
    if (!srv || !mw)
        return AH_EINVAL;
    ah__middleware *mws = realloc(srv->mws, (srv->nmws + 1) * sizeof(*mws));
    if (!mws)
        return AH_ENOMEM;
    srv->mws = mws;
    srv->mws[srv->nmws].fn = mw;
    srv->mws[srv->nmws].arg = arg;
    srv->nmws++;
    return 0;
}
