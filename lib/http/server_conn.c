/* One connection: its task (TLS handshake, then the request cycle), reading request heads,
 * serving a request and answering malformed ones, keep-alive without a task per idle connection
 * (parking, waking, the idle lists and their timer), pipelining with corked writes, the access
 * log, closing; and reading request bodies (Content-Length and chunked, 100-continue). */
#include "server_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A request body left unread is drained up to this much to keep the connection; past it the
 * connection is closed instead. */
#define DRAIN_MAX (64 * 1024)

/* ---- connections ---- */

static void idle_remove(ah__conn *c);

void ah__conn_free(ah__conn *c)
{
    ah__worker *w = c->w;
    if (c->idle)
        idle_remove(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    AH__COUNT(c->srv->open, (size_t)-1);
    ah_stream_close(c->stream);
    ah__arena_free(&c->arena);
    ah_server *srv = c->srv;
    free(c);
    if (w->nconns < srv->opts.max_connections)
        ah_event_set(w->slot);
    if (w->stopping && w->nconns == 0)
        ah_event_set(w->drained);
}

static int conn_task(void *arg);

void ah__conn_start(ah__worker *w, ah_stream *s, const struct sockaddr_storage *peer,
                    ah_tls_ctx *tls)
{
    ah_server *srv = w->srv;
    ah__conn *c = calloc(1, sizeof(*c));
    if (!c) {
        ah_stream_close(s);
        return;
    }
    c->srv = srv;
    c->w = w;
    c->loop = w->loop;
    c->stream = s;
    c->tls_ctx = tls;
    memcpy(&c->peer, peer, peer->ss_family == AF_INET6 ? sizeof(c->peer.in6) : sizeof(c->peer.in));
    c->closing = w->stopping;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    AH__COUNT(srv->open, 1);
    AH__COUNT(srv->accepted, 1);
    c->task = ah_spawn(conn_task, c);
    if (!c->task) {
        ah__conn_free(c);
        return;
    }
    ah_task_detach(c->task);
}

/* ---- idle connections: two FIFO lists per worker (every connection on a list has the same
 * timeout, so the oldest expires first) and one timer for the worker, instead of a timer per
 * connection — less memory per idle connection and no timer work per request. ---- */

static void idle_remove(ah__conn *c)
{
    ah__worker *w = c->w;
    int l = c->idle;
    if (c->idle_prev)
        c->idle_prev->idle_next = c->idle_next;
    else
        w->idle_head[l] = c->idle_next;
    if (c->idle_next)
        c->idle_next->idle_prev = c->idle_prev;
    else
        w->idle_tail[l] = c->idle_prev;
    c->idle_prev = c->idle_next = NULL;
    c->idle = 0;
    AH__COUNT(c->srv->idle, (size_t)-1);
}

static void arm_idle_timer(ah__worker *w, int64_t now)
{
    int64_t at = 0;
    for (int l = 1; l <= 2; l++)
        if (w->idle_head[l] && (!at || w->idle_head[l]->idle_until < at))
            at = w->idle_head[l]->idle_until;
    if (!at || (w->idle_timer_at && w->idle_timer_at <= at))
        return; /* nothing idle, or the timer already fires in time */
    int64_t ms = at > now ? at - now : 0;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&w->idle_timer, &tv);
    w->idle_timer_at = at;
}

void ah__idle_expired(evutil_socket_t fd, short what, void *arg)
{
    ah__worker *w = arg;
    (void)fd;
    (void)what;
    w->idle_timer_at = 0;
    int64_t now = ah_now_ms();
    for (int l = 1; l <= 2; l++) {
        while (w->idle_head[l] && w->idle_head[l]->idle_until <= now) {
            ah__conn *c = w->idle_head[l];
            ah__stream_unwatch(c->stream);
            ah__conn_free(c);
        }
    }
    arm_idle_timer(w, now);
}

static void conn_wake(void *arg)
{
    ah__conn *c = arg;
    idle_remove(c);
    c->task = ah_spawn(conn_task, c);
    if (!c->task) {
        ah__conn_free(c);
        return;
    }
    ah_task_detach(c->task);
}

/* Park an idle connection: no task, no buffers; its socket's read event or the idle timeout
 * wakes it. Returns 0, or < 0 if it could not be parked (close it). */
static int conn_park(ah__conn *c, int list, int64_t timeout_ms)
{
    ah__worker *w = c->w;
    /* the net layer wakes it: on a stream with no socket of ours (the fuzzers' memory
     * transport) that fails, and the connection is closed instead */
    int rc = ah__stream_watch(c->stream, c->loop, conn_wake, c);
    if (rc < 0)
        return rc;
    ah__stream_shrink(c->stream);
    ah__arena_free(&c->arena);
    int64_t now = ah_now_ms();
    c->idle_until = now + timeout_ms;
    c->idle = (uint8_t)list;
    c->idle_next = NULL;
    c->idle_prev = w->idle_tail[list];
    if (w->idle_tail[list])
        w->idle_tail[list]->idle_next = c;
    else
        w->idle_head[list] = c;
    w->idle_tail[list] = c;
    c->task = NULL;
    AH__COUNT(c->srv->idle, 1);
    arm_idle_timer(w, now);
    return 0;
}

/* The HTTP status that refuses a head the scanner turned down. */
static int head_status(int code)
{
    switch (code) {
    case AH__HEAD_FIRST_LINE_TOO_LONG: return 414;
    case AH__HEAD_TOO_BIG:
    case AH__HEAD_TOO_MANY: return 431;
    default: return 400;
    }
}

/* Read a request head into the arena. Returns 1 with *head, *len and *lines (the request line
 * and the empty line counted), 0 at a clean end of the connection, an HTTP status (>= 400) to
 * refuse with, or < 0. A malformed line is refused as soon as it is complete, not waited on. */
static int read_head(ah__conn *c, char **head, size_t *len, size_t *lines)
{
    const ah_server_opts *o = &c->srv->opts;
    const ah__head_limits lim = {o->max_request_line, o->max_header_bytes, o->max_header_count};
    ah__head_scan hs = {0};
    for (;;) {
        const char *data;
        size_t have = ah_stream_buffered(c->stream, &data);
        int rc = ah__head_scan_run(&hs, data, have, &lim);
        if (rc < 0)
            return head_status(rc);
        if (rc == 1) {
            *head = ah__arena_alloc(&c->arena, hs.head_len + 1);
            if (!*head)
                return AH_ENOMEM;
            memcpy(*head, data, hs.head_len);
            (*head)[hs.head_len] = '\0';
            ah_stream_consume(c->stream, hs.head_len);
            *len = hs.head_len;
            *lines = hs.lines;
            return 1;
        }
        rc = ah_stream_fill(c->stream);
        if (rc == 0)
            return have == 0 ? 0 : 400;
        if (rc == AH_ETOOBIG)
            return 431;
        if (rc == AH_ETIMEDOUT)
            return 408;
        if (rc < 0)
            return rc;
    }
}

static void access_log(ah__conn *c, ah_request *req, ah_response *resp)
{
    ah_server *srv = c->srv;
    if (!srv->access_log)
        return;
    char addr[80], when[40];
    ah_sockaddr_str(&c->peer.sa, addr, sizeof(addr));
    char *colon = strrchr(addr, ':'); /* CLF wants the host only */
    if (colon)
        *colon = '\0';
    const char *host = addr[0] == '[' ? addr + 1 : addr;
    if (addr[0] == '[' && colon && colon[-1] == ']')
        colon[-1] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S %z", &tm);
    pthread_mutex_lock(&srv->log_lock);
    fprintf(srv->access_log, "%s - - [%s] \"%s %s HTTP/%d.%d\" %d %llu\n", host, when,
            req->method ? req->method : "-", req->target ? req->target : "-", req->version / 10,
            req->version % 10, resp->status, (unsigned long long)resp->bytes_sent);
    pthread_mutex_unlock(&srv->log_lock);
}

/* The state of one request: on the connection task's stack, so an idle connection keeps none. */
typedef struct exchange {
    ah_request req;
    ah_response resp;
} exchange;

static void reset_exchange(ah__conn *c, exchange *x)
{
    ah__request_end(&x->req); /* the last request's */
    ah__arena_reset(&c->arena);
    /* everything but the llhttp state, which ah__request_parse_head sets up */
    memset(&x->req, 0, offsetof(ah_request, msg));
    x->req.conn = c;
    x->req.arena = &c->arena;
    x->req.version = 11;
    x->req.qparams = NULL;
    x->req.nqparams = 0;
    x->req.qparsed = 0;
    memset(&x->resp, 0, sizeof(x->resp));
    x->resp.conn = c;
    x->resp.req = &x->req;
    x->resp.status = 200;
    x->resp.file_fd = -1;
    x->resp.stream_left = -1;
}

static const char *error_text(int status)
{
    switch (status) {
    case 400: return "Bad Request\n";
    case 408: return "Request Timeout\n";
    case 413: return "Content Too Large\n";
    case 414: return "URI Too Long\n";
    case 417: return "Expectation Failed\n";
    case 431: return "Request Header Fields Too Large\n";
    case 501: return "Not Implemented\n";
    case 503: return "Service Unavailable\n";
    case 505: return "HTTP Version Not Supported\n";
    default: return "Internal Server Error\n";
    }
}

/* Serve one request whose head is in the arena. Returns 1 to keep the connection, 0 to close. */
static int serve_one(ah__conn *c, exchange *x, char *head, size_t head_len, size_t lines)
{
    ah_server *srv = c->srv;
    ah_request *req = &x->req;
    ah_response *resp = &x->resp;
    int status = ah__request_parse_head(req, head, head_len, lines, &srv->opts);
    AH__COUNT(srv->requests, 1);
    c->requests++;
    if (status) {
        req->keep_alive = 0;
        (void)ah__response_error(resp, status, error_text(status));
        access_log(c, req, resp);
        return 0;
    }
    resp->head_only = strcmp(req->method, "HEAD") == 0;
    int rc;
    if (strcmp(req->path, "*") == 0) { /* OPTIONS * */
        (void)!ah_response_header(resp, "Allow", ah__router_all_methods(srv, &c->arena));
        rc = ah__response_finish(resp);
    } else {
        ah_next next = {.srv = srv, .req = req, .resp = resp};
        next.route = ah__router_match(srv, req, resp, &next.status_if_none);
        req->max_body =
            next.route && next.route->max_body ? next.route->max_body : srv->opts.max_body;
        if (req->content_length > 0 && (uint64_t)req->content_length > req->max_body) {
            /* refused before a byte of the body is read (and before 100 Continue) */
            req->keep_alive = 0;
            rc = ah__response_error(resp, 413, error_text(413));
            access_log(c, req, resp);
            return 0;
        }
        rc = ah_next_call(&next);
        if (req->expect_continue && !req->continue_sent && !req->body_done)
            resp->close = 1; /* the client still holds the body back: this connection ends */
        if (rc < 0 && resp->state == AH__RESP_NEW) {
            /* nothing sent yet: the failure becomes the response */
            /* cancelled by the end of a shutdown's grace period: the server is going away, not
             * broken (503, which a client may retry elsewhere) */
            int st = rc == AH_ETOOBIG                   ? 413
                     : rc == AH_ETIMEDOUT               ? 408
                     : rc == AH_EPROTO_HTTP             ? 400
                     : rc == AH_ECANCELED && c->closing ? 503
                                                        : 500;
            if (st != 500)
                req->keep_alive = 0; /* the body is in an unknown state */
            rc = ah__response_error(resp, st, error_text(st));
        } else {
            if (rc < 0)
                resp->close = 1; /* streaming broke off: the peer cannot trust the framing */
            int end = ah__response_finish(resp);
            rc = rc < 0 ? rc : end;
        }
    }
    access_log(c, req, resp);
    if (rc < 0 || resp->close || !req->keep_alive || c->closing)
        return 0;
    if (!req->body_done && ah__request_drain(req) < 0)
        return 0;
    return 1;
}

static int conn_task(void *arg)
{
    ah__conn *c = arg;
    ah_server *srv = c->srv;
    const ah_server_opts *o = &srv->opts;
    if (c->tls_ctx && !c->tls) {
        ah_stream *tls;
        char why[256];
        int rc =
            ah_tls_server_wrap(c->stream, c->tls_ctx, o->header_timeout_ms, &tls, why, sizeof(why));
        c->stream = NULL; /* owned (or closed) by the TLS layer now */
        if (rc < 0) {
            ah__log(srv, 2, "TLS handshake failed: %s", why);
            c->stream = tls; /* NULL */
            c->task = NULL;
            ah__conn_free(c);
            return 0;
        }
        c->stream = tls;
        c->tls = 1;
    }
    ah_stream_set_timeouts(c->stream, o->body_timeout_ms, o->write_timeout_ms);
    exchange x;
    x.req.msg_started = 0; /* nothing to release before the first request */
    for (;;) {
        const char *data;
        if (ah_stream_buffered(c->stream, &data) == 0) {
            if (c->closing)
                break;
            int rc = ah__stream_fill_nowait_before_write(c->stream);
            if (rc == AH_EAGAIN) {
                rc = ah_stream_uncork(c->stream);
                if (rc == 0 &&
                    conn_park(c, c->requests ? 2 : 1,
                              c->requests ? o->keepalive_timeout_ms : o->header_timeout_ms) == 0)
                    return 0; /* idle: the socket wakes a new task */
                break;
            }
            if (rc <= 0)
                break;
        }
        reset_exchange(c, &x);
        ah_stream_cork(c->stream);
        /* the head must arrive within the header timeout (slowloris) */
        char *head = NULL;
        size_t head_len = 0, lines = 0;
        int rc = ah_deadline_push(o->header_timeout_ms);
        if (rc == 0) {
            rc = read_head(c, &head, &head_len, &lines);
            (void)ah_deadline_pop();
        }
        if (rc == 0 || rc < 0)
            break;
        if (rc >= 400) {
            x.req.keep_alive = 0;
            (void)ah__response_error(&x.resp, rc, error_text(rc));
            access_log(c, &x.req, &x.resp);
            break;
        }
        int keep = serve_one(c, &x, head, head_len, lines);
        ah__request_end(&x.req);
        if (!keep)
            break;
    }
    ah__request_end(&x.req);
    (void)!ah_stream_flush(c->stream);
    c->task = NULL;
    ah__conn_free(c);
    return 0;
}

/* ---- body reading ---- */

const struct sockaddr *ah_request_remote(const ah_request *req) { return &req->conn->peer.sa; }

int ah_request_is_tls(const ah_request *req) { return req->conn->tls; }

static int send_continue(ah_request *req)
{
    if (!req->expect_continue || req->continue_sent)
        return 0;
    req->continue_sent = 1;
    /* ahead of anything corked for this request: nothing is, the head was just read */
    int rc = ah_stream_write(req->conn->stream, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return rc == 0 ? ah_stream_flush(req->conn->stream) : rc;
}

int ah_request_read(ah_request *req, void *buf, size_t len)
{
    if (req->body_done || len == 0)
        return 0;
    int rc = send_continue(req);
    if (rc < 0)
        return rc;
    ah_stream *s = req->conn->stream;
    if (len > INT32_MAX)
        len = INT32_MAX;
    if (req->body_kind == AH__BODY_LENGTH) {
        uint64_t left = (uint64_t)req->content_length - req->body_read;
        if (len > left)
            len = (size_t)left;
        int n = ah_stream_read(s, buf, len);
        if (n == 0)
            return AH_EPROTO_HTTP; /* the peer ended before Content-Length bytes */
        if (n < 0)
            return n;
        req->body_read += (uint64_t)n;
        if (req->body_read == (uint64_t)req->content_length)
            req->body_done = 1;
        return n;
    }
    /* chunked: the message core decodes, no more input than there is room for output */
    for (;;) {
        const char *data;
        size_t have = ah_stream_buffered(s, &data);
        if (have == 0) {
            int n = ah_stream_fill(s);
            if (n == 0)
                return AH_EPROTO_HTTP;
            if (n < 0)
                return n;
            continue;
        }
        size_t used, got;
        int step = ah__msg_body_step(&req->msg, data, have, buf, len, &used, &got);
        if (step < 0)
            return AH_EPROTO_HTTP; /* the body is broken: the request fails whole */
        ah_stream_consume(s, used);
        if (step == 1)
            req->body_done = 1;
        req->body_read += got;
        if (req->body_read > req->max_body)
            return AH_ETOOBIG;
        if (got > 0)
            return (int)got;
        if (req->body_done)
            return 0;
    }
}

int ah_request_body(ah_request *req, const char **data, size_t *len)
{
    size_t cap = req->content_length > 0 ? (size_t)req->content_length : 4096;
    if (cap > req->max_body)
        cap = req->max_body;
    size_t used = 0;
    char *buf = ah__arena_alloc(req->arena, cap + 1);
    if (!buf)
        return AH_ENOMEM;
    for (;;) {
        if (used == cap) {
            if (req->body_done)
                break;
            if (cap >= req->max_body) {
                /* one more byte would break the limit: find out whether it exists */
                char probe;
                int n = ah_request_read(req, &probe, 1);
                if (n < 0)
                    return n;
                if (n > 0)
                    return AH_ETOOBIG;
                break;
            }
            size_t ncap = cap * 2 > req->max_body ? req->max_body : cap * 2;
            char *nbuf = ah__arena_alloc(req->arena, ncap + 1);
            if (!nbuf)
                return AH_ENOMEM;
            memcpy(nbuf, buf, used);
            buf = nbuf;
            cap = ncap;
        }
        int n = ah_request_read(req, buf + used, cap - used);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    *data = buf;
    *len = used;
    return 0;
}

int ah__request_drain(ah_request *req)
{
    if (req->body_done)
        return 0;
    if (req->expect_continue && !req->continue_sent)
        return AH_EPIPE; /* the client waits for our word before sending it: close instead */
    if (req->body_kind == AH__BODY_LENGTH &&
        (uint64_t)req->content_length - req->body_read > DRAIN_MAX)
        return AH_ETOOBIG;
    char buf[4096];
    uint64_t drained = 0;
    while (!req->body_done) {
        int n = ah_request_read(req, buf, sizeof(buf));
        if (n <= 0)
            return n < 0 ? n : 0;
        drained += (uint64_t)n;
        if (drained > DRAIN_MAX)
            return AH_ETOOBIG;
    }
    return 0;
}
