/* The client: options, the exchange of a request and its response head with the one retry on
 * a stale connection, redirects (RFC 9110 §15.4), Set-Cookie stored from every response, and
 * errors that say what happened. Requests on the wire are client_request.c, the pool
 * client_pool.c, responses client_response.c, proxies client_proxy.c. */
#include "client_internal.h"

#include <ahttp/thread.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors and traces ---- */

int ah__client_fail(ah__fetch *f, int code, ah_client_phase phase, ah_client_timeout timeout,
                    const char *fmt, ...)
{
    ah_client_error *e = f->err;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    if (code == AH_ETIMEDOUT && timeout == AH_CLIENT_TIMEOUT_NONE && n >= 0 &&
        (size_t)n < sizeof(e->message))
        snprintf(e->message + n, sizeof(e->message) - (size_t)n,
                 " (the caller's deadline expired)");
    e->code = code;
    e->phase = phase;
    e->timeout = code == AH_ETIMEDOUT ? timeout : AH_CLIENT_TIMEOUT_NONE;
    snprintf(f->c->last_error, sizeof(f->c->last_error), "%s", e->message);
    return code;
}

ah_client_timeout ah__client_which_timeout(int64_t total_until, int rc, ah_client_timeout which)
{
    if (rc != AH_ETIMEDOUT)
        return AH_CLIENT_TIMEOUT_NONE;
    if (total_until != INT64_MAX && ah_now_ms() >= total_until)
        return AH_CLIENT_TIMEOUT_TOTAL;
    /* The client's own scopes are closed by now (the total one is told apart above): a scope
     * still past its time is the caller's, which is none of the client's timers. */
    if (ah__deadline_passed())
        return AH_CLIENT_TIMEOUT_NONE;
    return which;
}

void ah__client_trace(ah_client *c, ah_client_trace_kind kind, const char *text, size_t len)
{
    if (c->opts.trace)
        c->opts.trace(c->opts.trace_arg, kind, text, len);
}

void ah__client_tracef(ah_client *c, const char *fmt, ...)
{
    if (!c->opts.trace)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    c->opts.trace(c->opts.trace_arg, AH_CLIENT_TRACE_INFO, line,
                  (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

const char *ah_client_last_error(const ah_client *c) { return c ? c->last_error : ""; }

/* ---- the client ---- */

static char *dup_opt(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        *oom = 1;
    return p;
}

/* 0 means the default; negative means none (stored as -1). */
static int64_t timeout_opt(int64_t v, int64_t dflt) { return v == 0 ? dflt : v < 0 ? -1 : v; }

ah_client *ah_client_new(const ah_client_opts *opts)
{
    ah_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (opts)
        c->opts = *opts;
    ah_client_opts *o = &c->opts;
#define DEF(field, value)                                                                          \
    if (!o->field)                                                                                 \
        o->field = value;
    DEF(max_connections, 100);
    DEF(max_per_host, 10);
    DEF(max_redirects, 10);
    DEF(max_body, 10 * 1024 * 1024);
    DEF(max_decompressed, 100 * 1024 * 1024);
    DEF(max_header_bytes, 64 * 1024);
    DEF(max_header_count, 100);
    DEF(expect_timeout_ms, 1000);
#undef DEF
    o->idle_timeout_ms = timeout_opt(o->idle_timeout_ms, 30 * 1000);
    o->pool_timeout_ms = timeout_opt(o->pool_timeout_ms, -1);
    o->timeout_ms = timeout_opt(o->timeout_ms, 5 * 60 * 1000);
    o->dns_timeout_ms = timeout_opt(o->dns_timeout_ms, 10 * 1000);
    o->connect_timeout_ms = timeout_opt(o->connect_timeout_ms, 10 * 1000);
    o->tls_timeout_ms = timeout_opt(o->tls_timeout_ms, 10 * 1000);
    o->headers_timeout_ms = timeout_opt(o->headers_timeout_ms, -1);
    o->read_timeout_ms = timeout_opt(o->read_timeout_ms, -1);
    o->write_timeout_ms = timeout_opt(o->write_timeout_ms, -1);
    int oom = 0;
    c->user_agent = dup_opt(o->user_agent ? o->user_agent : "ahttp/" PACKAGE_VERSION, &oom);
    c->ca_file = dup_opt(o->ca_file, &oom);
    c->ca_dir = dup_opt(o->ca_dir, &oom);
    c->cert_file = dup_opt(o->cert_file, &oom);
    c->key_file = dup_opt(o->key_file, &oom);
    c->proxy = dup_opt(o->proxy, &oom);
    c->no_proxy = NULL; /* ah__proxy_setup: from the options or the environment */
    o->user_agent = c->user_agent;
    o->ca_file = c->ca_file;
    o->ca_dir = c->ca_dir;
    o->cert_file = c->cert_file;
    o->key_file = c->key_file;
    o->proxy = c->proxy;
    c->refs = 1;
    if (!oom && ah__proxy_setup(c) < 0)
        oom = 1;
    o->no_proxy = c->no_proxy;
    if (oom) {
        ah__client_unref(c);
        return NULL;
    }
    return c;
}

void ah__client_ref(ah_client *c) { c->refs++; }

void ah__client_unref(ah_client *c)
{
    if (--c->refs > 0)
        return;
    ah__pool_free(c);
    ah__url_entry_unref(c->last_url);
    ah_tls_ctx_free(c->tls);
    free(c->user_agent);
    free(c->ca_file);
    free(c->ca_dir);
    free(c->cert_file);
    free(c->key_file);
    free(c->proxy);
    free(c->no_proxy);
    ah__proxy_free(c);
    free(c);
}

void ah_client_close(ah_client *c)
{
    if (!c || c->closing)
        return;
    ah__pool_shutdown(c);
    ah__client_unref(c);
}

void ah_client_get_stats(const ah_client *c, ah_client_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    out->connections_open = c->open;
    out->connections_idle = c->idle;
    out->waiting = c->waiting;
    out->connections_made = c->made;
    out->requests = c->requests;
    out->reused = c->reused;
    out->retries = c->retries;
}

static int idempotent(const char *m)
{
    static const char *const list[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"};
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++)
        if (strcmp(m, list[i]) == 0)
            return 1;
    return 0;
}

static int stale_error(int rc)
{
    return rc == AH_EEOF || rc == AH_ECONNRESET || rc == AH_EPIPE || rc == AH_ETLS_TRUNCATED;
}

/* Say what an I/O failure while sending or waiting for the head was. tls_why: the TLS
 * stream's own reason (ah_tls_stream_error), read before the connection was closed. */
static int describe(ah__fetch *f, int rc, ah_client_phase phase, int head_expired, const char *peer,
                    const char *tls_why)
{
    const ah_client_opts *o = &f->c->opts;
    ah_client_timeout which =
        ah__client_which_timeout(f->total_until, rc,
                                 phase == AH_CLIENT_PHASE_SEND ? AH_CLIENT_TIMEOUT_WRITE
                                 : head_expired                ? AH_CLIENT_TIMEOUT_HEADERS
                                                               : AH_CLIENT_TIMEOUT_READ);
    switch (which) {
    case AH_CLIENT_TIMEOUT_TOTAL:
        return ah__client_fail(f, rc, phase, which, "total timeout (%lld ms) %s %s",
                               (long long)f->total_ms,
                               phase == AH_CLIENT_PHASE_SEND ? "sending the request to"
                                                             : "waiting for the response from",
                               peer);
    case AH_CLIENT_TIMEOUT_WRITE:
        return ah__client_fail(f, rc, phase, which, "write timeout (%lld ms) sending to %s",
                               (long long)o->write_timeout_ms, peer);
    case AH_CLIENT_TIMEOUT_HEADERS:
        return ah__client_fail(f, rc, phase, which,
                               "headers timeout (%lld ms): no complete response head from %s",
                               (long long)o->headers_timeout_ms, peer);
    case AH_CLIENT_TIMEOUT_READ:
        return ah__client_fail(f, rc, phase, which, "read timeout (%lld ms) waiting for %s",
                               (long long)o->read_timeout_ms, peer);
    default: break;
    }
    if (rc == AH_EEOF)
        return ah__client_fail(f, rc, phase, which,
                               "%s closed the connection without sending a response", peer);
    /* a TLS failure after the handshake (a peer's alert: "certificate required") */
    return ah__client_fail(f, rc, phase, which, "%s %s: %s",
                           phase == AH_CLIENT_PHASE_SEND ? "sending the request to"
                                                         : "reading the response from",
                           peer, rc == AH_ETLS ? tls_why : ah_strerror(rc));
}

/* One request and its response head, with the one retry a stale kept-alive connection earns. */
static int exchange(ah__fetch *f, const ah__outreq *rq, ah_client_response **out)
{
    ah_client *c = f->c;
    ah__cconn *conn;
    f->resendable = idempotent(rq->method) && !rq->body_fn;
    int rc = ah__pool_get(f, rq->url, &conn);
    if (rc < 0)
        return rc;
    for (int retried = 0;; retried = 1) {
        int reused = conn->requests > 0;
        int close_after = 0, any_byte = 0, head_expired = 0, body_withheld = 0;
        ah_client_phase phase = AH_CLIENT_PHASE_SEND;
        rc = ah__client_send_request(f, conn, rq, &close_after, &body_withheld);
        if (rc == 0) {
            phase = AH_CLIENT_PHASE_HEADERS;
            int pushed = 0;
            if (c->opts.headers_timeout_ms > 0) {
                rc = ah_deadline_push(c->opts.headers_timeout_ms);
                pushed = rc == 0;
            }
            if (rc == 0)
                rc = ah__response_read_head(f, conn, strcmp(rq->method, "HEAD") == 0,
                                            close_after || body_withheld, out, &any_byte);
            if (pushed)
                head_expired = ah_deadline_pop() == 1;
            if (rc == 0)
                return 0;
        }
        if (f->err->code) { /* described already (malformed response, producer failure) */
            ah__pool_put(c, conn, 0);
            return rc;
        }
        if (reused && !any_byte && stale_error(rc) && !retried && f->resendable &&
            !ah_task_cancelled() && (f->total_until == INT64_MAX || ah_now_ms() < f->total_until)) {
            /* The server closed the kept-alive connection as we reused it (its idle timeout
             * raced our request): nothing was processed, so sending again is safe. */
            c->retries++;
            ah__client_tracef(c,
                              "connection to %s was closed by the server (%s); retrying on "
                              "a new one",
                              conn->peer, ah_strerror(rc));
            if ((rc = ah__pool_reconnect(f, rq->url, conn)) < 0)
                return rc;
            continue;
        }
        /* Copied out: putting the connection back closes it, and its stream with the reason. */
        char peer[AH__PEER_MAX], tls_why[256];
        snprintf(peer, sizeof(peer), "%s", conn->peer);
        snprintf(tls_why, sizeof(tls_why), "%s", ah_tls_stream_error(conn->stream));
        ah__pool_put(c, conn, 0);
        return describe(f, rc, phase, head_expired, peer, tls_why);
    }
}

/* ---- fetch and redirects ---- */

static int is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Remove headers called name from the (owned) list. */
static void drop_header(ah_client_header *h, size_t *n, const char *name)
{
    size_t o = 0;
    for (size_t i = 0; i < *n; i++)
        if (strcasecmp(h[i].name, name) != 0)
            h[o++] = h[i];
    *n = o;
}

/* Keep the cookies a response sets (of every hop: a login often answers with a redirect). */
static void store_cookies(ah_client *c, const ah_url *u, const ah_client_response *resp)
{
    int64_t now_s = (int64_t)time(NULL);
    const char *name, *value;
    for (size_t i = 0; ah_client_response_header_at(resp, i, &name, &value) == 0; i++) {
        if (strcasecmp(name, "Set-Cookie") != 0)
            continue;
        int rc = ah_cookie_jar_set(c->opts.cookie_jar, u, value, now_s);
        if (rc <= 0)
            ah__client_tracef(c, "Set-Cookie ignored (%s): %.200s",
                              rc == 0 ? "malformed, refused, or deleting nothing" : ah_strerror(rc),
                              value);
    }
}

/* ---- the request URL ---- */

void ah__url_entry_unref(ah__url_entry *e)
{
    if (e && --e->refs == 0) {
        ah_url_free(&e->url);
        free(e);
    }
}

/* The parsed form of str, with a reference for the caller: the client's last one if str is the
 * same string, else a new parse (which becomes the last one). AH_EINVAL (malformed), AH_ENOMEM. */
static int url_get(ah_client *c, const char *str, ah__url_entry **out)
{
    ah__url_entry *e = c->last_url;
    if (e && strcmp(e->str, str) == 0) {
        e->refs++;
        *out = e;
        return 0;
    }
    size_t len = strlen(str);
    if (!(e = malloc(sizeof(*e) + len + 1)))
        return AH_ENOMEM;
    int rc = ah_url_parse(str, &e->url);
    if (rc < 0) {
        free(e);
        return rc;
    }
    memcpy(e->str, str, len + 1);
    e->refs = 2; /* the caller's and the client's */
    ah__url_entry_unref(c->last_url);
    c->last_url = e;
    *out = e;
    return 0;
}

/* Append a followed redirect to the history: its status, the URL it answered and its Location.
 * A fetch without redirects never comes here, so it allocates nothing. 0 or AH_ENOMEM. */
static int add_hop(ah__hop **hops, size_t *n, int status, const ah_url *url, const char *location)
{
    if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4, ...: full, grow to double */
        ah__hop *h = realloc(*hops, (*n ? *n * 2 : 1) * sizeof(*h));
        if (!h)
            return AH_ENOMEM;
        *hops = h;
    }
    ah__hop *h = &(*hops)[*n];
    h->status = status;
    h->url = ah_url_format(url);
    h->location = strdup(location);
    if (!h->url || !h->location) {
        free(h->url);
        free(h->location);
        return AH_ENOMEM;
    }
    (*n)++;
    return 0;
}

static int fetch_redirects(ah__fetch *f, const ah_client_request *req, ah_client_header *headers,
                           ah__body_file **file, ah_client_response **out)
{
    ah_client *c = f->c;
    ah__url_entry *first;
    int rc = url_get(c, req->url, &first);
    if (rc == AH_EINVAL) {
        char why[128]; /* parsed again for the reason: only on this error path */
        if (ah_url_explain(req->url, why, sizeof(why)) == 0)
            snprintf(why, sizeof(why), "refused");
        return ah__client_fail(f, rc, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                               "malformed URL (%s): %s", why, req->url);
    }
    if (rc < 0)
        return ah__client_fail(f, rc, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                               "out of memory (%s)", req->url);
    if (!ah_url_is_http(&first->url)) {
        const ah_url *u = &first->url;
        rc = ah__client_fail(f, AH_EINVAL, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                             u->host && u->host[0] ? "unsupported URL scheme \"%s\""
                                                   : "URL without a host: %s",
                             u->host && u->host[0] ? u->scheme : req->url);
        ah__url_entry_unref(first);
        return rc;
    }
    /* cur: the URL of this hop, first's until a redirect, then one of our own (owned) */
    ah_url owned = {0};
    const ah_url *cur = &first->url;
    int max_redirects = req->max_redirects ? req->max_redirects : c->opts.max_redirects;
    ah__outreq rq = {
        .method = req->method ? req->method : "GET",
        .url = cur,
        .headers = headers,
        .nheaders = req->nheaders,
        .body = req->body,
        .body_len = req->body_len,
        .body_fn = req->body_fn,
        .body_arg = req->body_arg,
        .file = file,
        .file_path = req->body_file,
        .expect_continue = req->expect_continue,
    };
    size_t nheaders = req->nheaders;
    ah_client_response *resp = NULL;
    int redirects = 0;
    ah__hop *hops = NULL; /* the hops followed, for the final response's history */
    size_t nhops = 0;
    for (;;) {
        rq.nheaders = nheaders;
        rc = exchange(f, &rq, &resp);
        if (rc < 0)
            break;
        if (c->opts.cookie_jar)
            store_cookies(c, cur, resp);
        int status = ah_client_response_status(resp);
        const char *location = ah__response_location(resp);
        if (max_redirects < 0 || !is_redirect(status) || !location)
            break;
        if ((status == 307 || status == 308) && rq.body_fn)
            break; /* the producer's body cannot be sent again: the caller gets the 3xx */
        if (redirects >= max_redirects) {
            rc = ah__client_fail(f, AH_EREDIRECTS, AH_CLIENT_PHASE_REDIRECT, AH_CLIENT_TIMEOUT_NONE,
                                 "too many redirects: stopped after %d (last Location: %s)",
                                 redirects, location);
            ah_client_response_free(resp);
            resp = NULL;
            break;
        }
        ah_url next;
        rc = ah_url_resolve(cur, location, &next);
        if (rc < 0 || !ah_url_is_http(&next)) {
            rc = ah__client_fail(f, rc == AH_ENOMEM ? rc : AH_EPROTO_HTTP, AH_CLIENT_PHASE_REDIRECT,
                                 AH_CLIENT_TIMEOUT_NONE, "cannot follow the redirect to \"%s\"",
                                 location);
            ah_url_free(&next);
            ah_client_response_free(resp);
            resp = NULL;
            break;
        }
        /* RFC 9110 §10.2.2: a Location without a fragment keeps the request's */
        if (!next.fragment && cur->fragment)
            next.fragment = strdup(cur->fragment);
        /* RFC 9110 §15.4: 303 turns anything but HEAD into GET; 301 and 302 turn POST into GET
         * (what every browser does); 307 and 308 keep the method and the body. */
        int to_get = (status == 303 && strcmp(rq.method, "HEAD") != 0) ||
                     ((status == 301 || status == 302) && strcmp(rq.method, "POST") == 0);
        if (to_get) {
            rq.method = "GET";
            rq.body = NULL;
            rq.body_len = 0;
            rq.body_fn = NULL;
            rq.file = NULL;
            drop_header(headers, &nheaders, "Content-Type");
            drop_header(headers, &nheaders, "Content-Encoding");
        }
        /* Credentials are for the origin they were given to; so is a Host given by hand. */
        if (!ah_url_same_origin(cur, &next)) {
            drop_header(headers, &nheaders, "Host");
            drop_header(headers, &nheaders, "Authorization");
            drop_header(headers, &nheaders, "Proxy-Authorization");
            drop_header(headers, &nheaders, "Cookie");
        }
        if (c->opts.trace) {
            char *where = ah_url_format(&next);
            ah__client_tracef(c, "redirect %d (%d) to %s", redirects + 1, status,
                              where ? where : location);
            free(where);
        }
        if ((rc = add_hop(&hops, &nhops, status, cur, location)) < 0) {
            rc = ah__client_fail(f, rc, AH_CLIENT_PHASE_REDIRECT, AH_CLIENT_TIMEOUT_NONE,
                                 "out of memory");
            ah_url_free(&next);
            ah_client_response_free(resp);
            resp = NULL;
            break;
        }
        ah__response_skip_body(resp); /* a small body read to its end keeps the connection */
        ah_client_response_free(resp);
        resp = NULL;
        ah_url_free(&owned);
        owned = next;
        cur = rq.url = &owned;
        redirects++;
    }
    if (rc == 0) {
        ah__response_set_origin(resp, redirects ? &owned : NULL, first, redirects, f->total_until);
        ah__response_set_history(resp, hops, nhops);
        hops = NULL;
        nhops = 0;
        *out = resp;
    }
    ah__hops_free(hops, nhops);
    ah_url_free(&owned);
    ah__url_entry_unref(first);
    return rc;
}

int ah_client_fetch(ah_client *c, const ah_client_request *req, ah_client_response **out)
{
    ah_client_error local;
    ah_client_error *err = req && req->error ? req->error : &local;
    memset(err, 0, sizeof(*err));
    if (out)
        *out = NULL;
    if (!c || !req || !out)
        return AH_EINVAL;
    ah__fetch f = {c, INT64_MAX, 0, err, 0};
    if (!req->url)
        return ah__client_fail(&f, AH_EINVAL, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                               "no URL");
    if (!ah_task_current())
        return ah__client_fail(&f, AH_EINVAL, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                               "ah_client_fetch must be called from a task");
    if (c->closing)
        return ah__client_fail(&f, AH_ECLOSED, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                               "the client is closed");
    if (req->method && !ah__http_is_token(req->method))
        return ah__client_fail(&f, AH_EINVAL, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                               "bad method \"%s\"", req->method);
    if ((req->body != NULL) + (req->body_fn != NULL) + (req->body_file != NULL) > 1)
        return ah__client_fail(&f, AH_EINVAL, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                               "a request has a body, a body producer or a body file, not two");
    if (req->nheaders && !req->headers)
        return ah__client_fail(&f, AH_EINVAL, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                               "nheaders without headers");
    for (size_t i = 0; i < req->nheaders; i++)
        if (!ah__http_is_token(req->headers[i].name) ||
            !ah__http_is_field_value(req->headers[i].value))
            return ah__client_fail(&f, AH_EINVAL, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                                   "bad header \"%s\"",
                                   req->headers[i].name ? req->headers[i].name : "(null)");
    /* redirects may drop headers: work on our own list */
    ah_client_header *headers = NULL;
    if (req->nheaders) {
        headers = malloc(req->nheaders * sizeof(*headers));
        if (!headers)
            return ah__client_fail(&f, AH_ENOMEM, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                                   "out of memory");
        memcpy(headers, req->headers, req->nheaders * sizeof(*headers));
    }
    int64_t total =
        req->timeout_ms ? (req->timeout_ms < 0 ? -1 : req->timeout_ms) : c->opts.timeout_ms;
    int pushed = 0, rc = 0;
    if (total > 0) {
        f.total_until = ah_now_ms() + total;
        rc = ah__deadline_push_at(f.total_until);
        if (rc < 0) {
            free(headers);
            return ah__client_fail(&f, rc, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                                   "cannot open a deadline scope: %s", ah_strerror(rc));
        }
        pushed = 1;
        f.total_ms = total;
    }
    /* The file is opened before anything else happens: a wrong path costs no connection. */
    ah__body_file *file = NULL;
    if (req->body_file) {
        rc = ah__body_file_open(req->body_file, &file);
        if (rc == AH_ENOMEM)
            rc = ah__client_fail(&f, rc, AH_CLIENT_PHASE_REQUEST, AH_CLIENT_TIMEOUT_NONE,
                                 "out of memory");
        else if (rc < 0)
            rc = ah__client_fail(
                &f, rc, AH_CLIENT_PHASE_REQUEST,
                ah__client_which_timeout(f.total_until, rc, AH_CLIENT_TIMEOUT_NONE),
                "cannot open the request body file %s: %s", req->body_file, ah_strerror(rc));
        if (rc < 0) {
            if (pushed)
                ah__deadline_drop();
            free(headers);
            return rc;
        }
    }
    ah__client_ref(c);
    rc = fetch_redirects(&f, req, headers, file ? &file : NULL, out);
    ah__body_file_close(file);
    if (pushed)
        ah__deadline_drop();
    free(headers);
    ah__client_unref(c);
    return rc;
}

int ah_client_get(ah_client *c, const char *url, ah_client_response **out)
{
    ah_client_request req = {.method = "GET", .url = url};
    return ah_client_fetch(c, &req, out);
}

int ah_client_post(ah_client *c, const char *url, const void *body, size_t len,
                   const char *content_type, ah_client_response **out)
{
    ah_client_header h = {"Content-Type", content_type};
    ah_client_request req = {
        .method = "POST",
        .url = url,
        .headers = content_type ? &h : NULL,
        .nheaders = content_type ? 1 : 0,
        .body = body ? body : "",
        .body_len = body ? len : 0,
    };
    return ah_client_fetch(c, &req, out);
}
