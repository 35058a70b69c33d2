/* The server: listeners, workers (one loop per thread), connections, the request cycle,
 * keep-alive without a task per idle connection, pipelining, graceful shutdown. */
#include "internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

/* A request body left unread is drained up to this much to keep the connection; past it the
 * connection is closed instead. */
#define DRAIN_MAX (64 * 1024)
#define MAX_LISTENS 16

typedef struct ah__worker {
    ah_server *srv;
    size_t index;
    ah_loop *loop;
    pthread_t thread;
    int efd; /* written to ask this worker to shut down */
    struct event shutdown_ev;
    ah_event *stop;    /* set when shutdown starts */
    ah_event *drained; /* set when the last connection closes during shutdown */
    ah_event *slot;    /* set when a connection closes below max_connections */
    ah_listener *listeners[MAX_LISTENS];
    ah_task *acceptors[MAX_LISTENS]; /* one accept task per listener */
    size_t nlisteners;
    int listener_fds[MAX_LISTENS]; /* sockets made for this worker before it runs */
    ah__conn *conns;
    size_t nconns;
    /* idle connections, oldest first: [1] fresh ones (header timeout), [2] kept alive */
    ah__conn *idle_head[3], *idle_tail[3];
    struct event idle_timer;
    int64_t idle_timer_at; /* when idle_timer fires, 0: not armed */
    int stopping;
    struct event flush_timer;
    int result;
} ah__worker;

static void defaults(ah_server_opts *o)
{
#define DEF(field, value)                                                                          \
    if (!o->field)                                                                                 \
        o->field = value;
    DEF(request_line_max, 8 * 1024);
    DEF(header_bytes_max, 16 * 1024);
    DEF(header_count_max, 100);
    DEF(body_max, 1024 * 1024);
    DEF(header_timeout_ms, 10 * 1000);
    DEF(keepalive_timeout_ms, 75 * 1000);
    DEF(body_timeout_ms, 30 * 1000);
    DEF(write_timeout_ms, 30 * 1000);
    DEF(max_connections, 10000);
    DEF(workers, 1);
#undef DEF
}

void ah__log(ah_server *srv, int level, const char *fmt, ...)
{
    if (level > srv->opts.log_level)
        return;
    static const char *names[] = {"error", "warn", "info"};
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "ahttp: %s: %s\n", names[level < 0 ? 0 : level > 2 ? 2 : level], line);
}

ah_server *ah_server_new(const ah_server_opts *opts)
{
    ah_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    if (opts)
        srv->opts = *opts;
    defaults(&srv->opts);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_mutex_init(&srv->log_lock, NULL);
    if (srv->opts.access_log) {
        if (strcmp(srv->opts.access_log, "-") == 0)
            srv->access_log = stdout;
        else if (!(srv->access_log = fopen(srv->opts.access_log, "a"))) {
            ah__log(srv, 0, "cannot open access log %s: %s", srv->opts.access_log, strerror(errno));
            free(srv);
            return NULL;
        }
        setvbuf(srv->access_log, NULL, _IOFBF, 64 * 1024); /* flushed once a second */
    }
    return srv;
}

void ah_server_free(ah_server *srv)
{
    if (!srv)
        return;
    ah__router_free(srv);
    ah__static_free_all(srv->statics);
    free(srv->mws);
    for (size_t i = 0; i < srv->nlistens; i++)
        if (srv->listens[i].fd >= 0)
            close(srv->listens[i].fd);
    free(srv->listens);
    if (srv->access_log && srv->access_log != stdout)
        fclose(srv->access_log);
    else if (srv->access_log)
        fflush(srv->access_log);
    pthread_mutex_destroy(&srv->lock);
    pthread_mutex_destroy(&srv->log_lock);
    free(srv);
}

int ah_server_route_ex(ah_server *srv, const char *method, const char *pattern,
                       ah_handler_fn handler, void *arg, const ah_route_opts *opts)
{
    if (!srv)
        return AH_EINVAL;
    return ah__router_add(srv, method, pattern, handler, arg, opts ? opts->body_max : 0);
}

int ah_server_route(ah_server *srv, const char *method, const char *pattern, ah_handler_fn handler,
                    void *arg)
{
    return ah_server_route_ex(srv, method, pattern, handler, arg, NULL);
}

/* ---- listening ---- */

static int resolve_listen(const char *host, uint16_t port, struct sockaddr_storage *ss,
                          socklen_t *len)
{
    if (!host || !*host || strcmp(host, "*") == 0) {
        ah__any_address(ss, len, AF_INET6, port);
        return 0;
    }
    /* Before the server runs, so a blocking lookup is allowed (names come from /etc/hosts). */
    char bare[256];
    size_t hl = strlen(host);
    if (hl >= 2 && hl < sizeof(bare) + 2 && host[0] == '[' && host[hl - 1] == ']') {
        memcpy(bare, host + 1, hl - 2);
        bare[hl - 2] = '\0';
        host = bare;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
        return AH_EDNS;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int listen_opts_for(const ah_server *srv, ah_tcp_listen_opts *lo)
{
    memset(lo, 0, sizeof(*lo));
    lo->backlog = 4096;
    lo->reuse_port = srv->opts.workers > 1;
    return 0;
}

int ah_server_listen_tls(ah_server *srv, const char *host, uint16_t port, ah_tls_ctx *tls)
{
    if (!srv || srv->nlistens == MAX_LISTENS)
        return AH_EINVAL;
    ah__listen_spec spec = {.tls = tls, .fd = -1};
    int rc = resolve_listen(host, port, &spec.addr, &spec.len);
    if (rc < 0)
        return rc;
    ah_tcp_listen_opts lo;
    listen_opts_for(srv, &lo);
    int fd = ah__listen_socket((struct sockaddr *)&spec.addr, spec.len, &lo);
    if (fd == -EAFNOSUPPORT && (!host || !*host || strcmp(host, "*") == 0)) {
        ah__any_address(&spec.addr, &spec.len, AF_INET, port);
        fd = ah__listen_socket((struct sockaddr *)&spec.addr, spec.len, &lo);
    }
    if (fd < 0)
        return fd;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    spec.port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                 : ((struct sockaddr_in6 *)&bound)->sin6_port);
    /* other workers bind the same port */
    if (spec.addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&spec.addr)->sin_port = htons(spec.port);
    else
        ((struct sockaddr_in6 *)&spec.addr)->sin6_port = htons(spec.port);
    spec.fd = fd;
    ah__listen_spec *l = realloc(srv->listens, (srv->nlistens + 1) * sizeof(*l));
    if (!l) {
        close(fd);
        return AH_ENOMEM;
    }
    srv->listens = l;
    srv->listens[srv->nlistens++] = spec;
    return 0;
}

int ah_server_listen(ah_server *srv, const char *host, uint16_t port)
{
    return ah_server_listen_tls(srv, host, port, NULL);
}

uint16_t ah_server_port(const ah_server *srv, size_t i)
{
    return srv && i < srv->nlistens ? srv->listens[i].port : 0;
}

void ah_server_get_stats(const ah_server *srv, ah_server_stats *out)
{
    out->connections_accepted = atomic_load(&srv->accepted);
    out->requests = atomic_load(&srv->requests);
    out->connections_open = atomic_load(&srv->open);
    out->connections_idle = atomic_load(&srv->idle);
}

#define COUNT(field, delta) atomic_fetch_add(&(field), (delta))

/* ---- connections ---- */

static void idle_remove(ah__conn *c);

static void conn_free(ah__conn *c)
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
    COUNT(c->srv->open, (size_t)-1);
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
    COUNT(c->srv->idle, (size_t)-1);
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

static void idle_expired(evutil_socket_t fd, short what, void *arg)
{
    ah__worker *w = arg;
    (void)fd;
    (void)what;
    w->idle_timer_at = 0;
    int64_t now = ah_now_ms();
    for (int l = 1; l <= 2; l++) {
        while (w->idle_head[l] && w->idle_head[l]->idle_until <= now) {
            ah__conn *c = w->idle_head[l];
            c->sock->on_readable = NULL;
            conn_free(c);
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
        conn_free(c);
        return;
    }
    ah_task_detach(c->task);
}

/* Park an idle connection: no task, no buffers; its socket's read event or the idle timeout
 * wakes it. Returns 0, or < 0 if it could not be parked (close it). */
static int conn_park(ah__conn *c, int list, int64_t timeout_ms)
{
    ah__worker *w = c->w;
    ah__stream_shrink(c->stream);
    ah__arena_free(&c->arena);
    int rc = ah__sock_arm(c->sock, c->loop);
    if (rc < 0)
        return rc;
    c->sock->on_readable = conn_wake;
    c->sock->on_readable_arg = c;
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
    COUNT(c->srv->idle, 1);
    arm_idle_timer(w, now);
    return 0;
}

/* Find the end of the head in what is buffered: the length up to and including CRLF CRLF, 0 if
 * more is needed, or the HTTP status that refuses it. A bare LF is refused at once rather than
 * waited on. */
static int scan_head(const char *data, size_t len, size_t *scanned, size_t *line_len,
                     const ah_server_opts *o, size_t *head_len)
{
    size_t i = *scanned;
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        if (!nl)
            break;
        size_t pos = (size_t)(nl - data);
        if (pos == 0 || data[pos - 1] != '\r')
            return 400;
        if (!*line_len)
            *line_len = pos + 1; /* the request line, CRLF included */
        if (pos >= 3 && data[pos - 2] == '\n' && data[pos - 3] == '\r') {
            if (pos + 1 - *line_len > o->header_bytes_max)
                return 431;
            *head_len = pos + 1;
            return 0;
        }
        i = pos + 1;
    }
    *scanned = len;
    if (!*line_len && len >= o->request_line_max)
        return 414;
    if (*line_len && len - *line_len > o->header_bytes_max)
        return 431;
    *head_len = 0;
    return 0;
}

/* Read a request head into the arena. Returns 1 with *head and *len, 0 at a clean end of the
 * connection, an HTTP status (>= 400) to refuse with, or < 0. */
static int read_head(ah__conn *c, char **head, size_t *len)
{
    const ah_server_opts *o = &c->srv->opts;
    size_t scanned = 0, head_len = 0, line_len = 0;
    for (;;) {
        const char *data;
        size_t have = ah_stream_buffered(c->stream, &data);
        int status = scan_head(data, have, &scanned, &line_len, o, &head_len);
        if (status)
            return status;
        if (head_len) {
            *head = ah__arena_alloc(&c->arena, head_len + 1);
            if (!*head)
                return AH_ENOMEM;
            memcpy(*head, data, head_len);
            (*head)[head_len] = '\0';
            ah_stream_consume(c->stream, head_len);
            *len = head_len;
            return 1;
        }
        int rc = ah_stream_fill(c->stream);
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
    ah__arena_reset(&c->arena);
    memset(&x->req, 0, offsetof(ah_request, parser));
    x->req.conn = c;
    x->req.arena = &c->arena;
    x->req.version = 11;
    x->req.body_out = NULL;
    x->req.body_out_len = x->req.body_out_cap = 0;
    x->req.msg_complete = 0;
    x->req.header_cap = 0;
    x->req.cur_value = NULL;
    x->req.method_at = x->req.url_at = NULL;
    x->req.parse_error = 0;
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
    case 505: return "HTTP Version Not Supported\n";
    default: return "Internal Server Error\n";
    }
}

/* Serve one request whose head is in the arena. Returns 1 to keep the connection, 0 to close. */
static int serve_one(ah__conn *c, exchange *x, char *head, size_t head_len)
{
    ah_server *srv = c->srv;
    ah_request *req = &x->req;
    ah_response *resp = &x->resp;
    int status = ah__request_parse_head(req, head, head_len, &srv->opts);
    COUNT(srv->requests, 1);
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
        (void)ah_response_header(resp, "Allow", ah__router_all_methods(srv, &c->arena));
        rc = ah__response_finish(resp);
    } else {
        ah_next next = {.srv = srv, .req = req, .resp = resp};
        next.route = ah__router_match(srv, req, resp, &next.status_if_none);
        req->body_max =
            next.route && next.route->body_max ? next.route->body_max : srv->opts.body_max;
        if (req->content_length > 0 && (uint64_t)req->content_length > req->body_max) {
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
            int st = rc == AH_ETOOBIG       ? 413
                     : rc == AH_ETIMEDOUT   ? 408
                     : rc == AH_EPROTO_HTTP ? 400
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
        int rc = ah_tls_server_wrap(c->stream, c->tls_ctx, o->header_timeout_ms, &tls);
        c->stream = NULL; /* owned (or closed) by the TLS layer now */
        if (rc < 0) {
            ah__log(srv, 2, "TLS handshake failed: %s", ah_tls_last_error());
            c->stream = tls; /* NULL */
            c->task = NULL;
            conn_free(c);
            return 0;
        }
        c->stream = tls;
        c->tls = 1;
    }
    ah_stream_set_timeouts(c->stream, o->body_timeout_ms, o->write_timeout_ms);
    exchange x;
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
        size_t head_len = 0;
        int rc = ah_deadline_push(o->header_timeout_ms);
        if (rc == 0) {
            rc = read_head(c, &head, &head_len);
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
        if (!serve_one(c, &x, head, head_len))
            break;
    }
    (void)ah_stream_flush(c->stream);
    c->task = NULL;
    conn_free(c);
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
    /* chunked: llhttp decodes; feed it no more input than there is room for output */
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
        size_t feed = have < len ? have : len;
        req->body_out = buf;
        req->body_out_len = 0;
        long used = ah__llhttp_feed(&req->parser, data, feed);
        if (used < 0)
            return AH_EPROTO_HTTP;
        ah_stream_consume(s, (size_t)used);
        if (req->msg_complete)
            req->body_done = 1;
        size_t got = req->body_out_len;
        req->body_out = NULL;
        req->body_read += got;
        if (req->body_read > req->body_max)
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
    if (cap > req->body_max)
        cap = req->body_max;
    size_t used = 0;
    char *buf = ah__arena_alloc(req->arena, cap + 1);
    if (!buf)
        return AH_ENOMEM;
    for (;;) {
        if (used == cap) {
            if (req->body_done)
                break;
            if (cap >= req->body_max) {
                /* one more byte would break the limit: find out whether it exists */
                char probe;
                int n = ah_request_read(req, &probe, 1);
                if (n < 0)
                    return n;
                if (n > 0)
                    return AH_ETOOBIG;
                break;
            }
            size_t ncap = cap * 2 > req->body_max ? req->body_max : cap * 2;
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

/* ---- workers ---- */

static int accept_task(void *arg)
{
    ah__worker *w = ((void **)arg)[0];
    size_t idx = (size_t)(uintptr_t)((void **)arg)[1];
    free(arg);
    ah_server *srv = w->srv;
    ah_listener *l = w->listeners[idx];
    ah_tls_ctx *tls = srv->listens[idx].tls;
    for (;;) {
        while (w->nconns >= srv->opts.max_connections) {
            ah_event_clear(w->slot);
            int rc = ah_event_wait(w->slot, -1); /* full: stop accepting until one closes */
            if (rc < 0)
                return 0;
        }
        ah_stream *s;
        struct sockaddr_storage peer;
        int rc = ah_listener_accept(l, &s, &peer);
        if (rc < 0) {
            if (rc == AH_ECANCELED || rc == AH_ECLOSED || w->stopping)
                return 0;
            ah__log(srv, 0, "accept: %s", ah_strerror(rc));
            if (ah_sleep(100) < 0)
                return 0;
            continue;
        }
        ah__conn *c = calloc(1, sizeof(*c));
        if (!c) {
            ah_stream_close(s);
            continue;
        }
        c->srv = srv;
        c->w = w;
        c->loop = w->loop;
        c->stream = s;
        c->sock = ah_stream_io(s);
        c->tls_ctx = tls;
        memcpy(&c->peer, &peer,
               peer.ss_family == AF_INET6 ? sizeof(c->peer.in6) : sizeof(c->peer.in));
        c->closing = w->stopping;
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
        w->nconns++;
        COUNT(srv->open, 1);
        COUNT(srv->accepted, 1);
        c->task = ah_spawn(conn_task, c);
        if (!c->task) {
            conn_free(c);
            continue;
        }
        ah_task_detach(c->task);
    }
}

static void shutdown_cb(evutil_socket_t fd, short what, void *arg)
{
    ah__worker *w = arg;
    uint64_t v;
    (void)what;
    (void)!read(fd, &v, sizeof(v));
    ah_event_set(w->stop);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    ah_server *srv = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&srv->log_lock);
    fflush(srv->access_log);
    pthread_mutex_unlock(&srv->log_lock);
}

/* Stop the accept tasks before their listeners go: one may be waiting for a free connection
 * slot rather than in accept, and must not wake up to a freed listener or worker. */
static void stop_acceptors(ah__worker *w)
{
    ah_task *self = ah_task_current();
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (!w->acceptors[i])
            continue;
        ah_cancel(w->acceptors[i]);
        ah__join_shielded(self, w->acceptors[i]);
        ah__task_free(w->acceptors[i]);
        w->acceptors[i] = NULL;
    }
}

static void stop_worker(ah__worker *w)
{
    ah_server *srv = w->srv;
    w->stopping = 1;
    stop_acceptors(w);
    for (size_t i = 0; i < w->nlisteners; i++) {
        ah_listener_close(w->listeners[i]); /* accept tasks see AH_ECLOSED */
        w->listeners[i] = NULL;
    }
    /* idle connections go now; busy ones finish their request and close */
    ah__conn *c = w->conns;
    while (c) {
        ah__conn *next = c->next;
        c->closing = 1;
        if (c->idle) {
            c->sock->on_readable = NULL;
            conn_free(c);
        }
        c = next;
    }
    if (w->nconns) {
        int64_t grace;
        pthread_mutex_lock(&srv->lock);
        grace = srv->grace_ms;
        pthread_mutex_unlock(&srv->lock);
        (void)ah_event_wait(w->drained, grace);
    }
    if (w->nconns) {
        ah__log(srv, 1, "cancelling %zu connections after the grace period", w->nconns);
        for (c = w->conns; c; c = c->next)
            if (c->task)
                ah_cancel(c->task);
        while (w->nconns && ah_event_wait(w->drained, 1000) == AH_ETIMEDOUT)
            ;
    }
}

/* The worker's main task: accept on its listeners until told to stop, then drain. */
static int worker_main(void *arg)
{
    ah__worker *w = arg;
    ah_server *srv = w->srv;
    w->loop = ah_loop_current();
    w->stop = ah_event_new();
    w->drained = ah_event_new();
    w->slot = ah_event_new();
    int rc = 0;
    if (!w->stop || !w->drained || !w->slot) {
        rc = AH_ENOMEM;
        goto out;
    }
    event_assign(&w->shutdown_ev, ah_loop_base(w->loop), w->efd, EV_READ | EV_PERSIST, shutdown_cb,
                 w);
    evtimer_assign(&w->idle_timer, ah_loop_base(w->loop), idle_expired, w);
    event_add(&w->shutdown_ev, NULL);
    if (srv->access_log) {
        struct timeval sec = {1, 0};
        event_assign(&w->flush_timer, ah_loop_base(w->loop), -1, EV_PERSIST, flush_cb, srv);
        event_add(&w->flush_timer, &sec);
    }
    ah_tcp_listen_opts lo;
    listen_opts_for(srv, &lo);
    for (size_t i = 0; i < srv->nlistens; i++) {
        rc = ah__listener_wrap(w->listener_fds[i], &lo, &w->listeners[i]);
        w->listener_fds[i] = -1;
        if (rc < 0)
            goto out;
        w->nlisteners++;
        void **a = malloc(2 * sizeof(void *));
        ah_task *t = a ? ah_spawn(accept_task, a) : NULL;
        if (!t) {
            free(a);
            rc = AH_ENOMEM;
            goto out;
        }
        a[0] = w;
        a[1] = (void *)(uintptr_t)i;
        w->acceptors[i] = t;
    }
    pthread_mutex_lock(&srv->lock);
    int already = srv->shutdown_requested;
    pthread_mutex_unlock(&srv->lock);
    if (!already)
        rc = ah_event_wait(w->stop, -1);
    rc = rc == AH_ECANCELED ? rc : 0;
    stop_worker(w);
out:
    if (rc < 0 && rc != AH_ECANCELED) {
        stop_acceptors(w);
        for (size_t i = 0; i < w->nlisteners; i++)
            ah_listener_close(w->listeners[i]);
        w->nlisteners = 0;
    }
    event_del(&w->shutdown_ev);
    event_del(&w->idle_timer);
    if (srv->access_log) {
        event_del(&w->flush_timer);
        flush_cb(-1, 0, srv);
    }
    ah_event_free(w->stop);
    ah_event_free(w->drained);
    ah_event_free(w->slot);
    w->result = rc;
    return rc;
}

static ah__worker *worker_new(ah_server *srv, size_t index)
{
    ah__worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->srv = srv;
    w->index = index;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    for (size_t i = 0; i < MAX_LISTENS; i++)
        w->listener_fds[i] = -1;
    if (w->efd < 0) {
        free(w);
        return NULL;
    }
    ah_tcp_listen_opts lo;
    listen_opts_for(srv, &lo);
    for (size_t i = 0; i < srv->nlistens; i++) {
        if (index == 0) { /* the sockets ah_server_listen bound */
            w->listener_fds[i] = srv->listens[i].fd;
            srv->listens[i].fd = -1;
        } else {
            int fd = ah__listen_socket((struct sockaddr *)&srv->listens[i].addr,
                                       srv->listens[i].len, &lo);
            if (fd < 0) {
                ah__log(srv, 0, "worker %zu: listen: %s", index, ah_strerror(fd));
                for (size_t k = 0; k < i; k++)
                    close(w->listener_fds[k]);
                close(w->efd);
                free(w);
                return NULL;
            }
            w->listener_fds[i] = fd;
        }
    }
    return w;
}

static void worker_free(ah__worker *w)
{
    for (size_t i = 0; i < MAX_LISTENS; i++)
        if (w->listener_fds[i] >= 0)
            close(w->listener_fds[i]);
    close(w->efd);
    free(w);
}

static int set_workers(ah_server *srv, size_t n)
{
    srv->workers = calloc(n, sizeof(*srv->workers));
    if (!srv->workers)
        return AH_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!(srv->workers[i] = worker_new(srv, i))) {
            while (i--)
                worker_free(srv->workers[i]);
            free(srv->workers);
            srv->workers = NULL;
            return AH_ENOMEM;
        }
    }
    pthread_mutex_lock(&srv->lock);
    srv->nworkers = n;
    pthread_mutex_unlock(&srv->lock);
    return 0;
}

static void clear_workers(ah_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    size_t n = srv->nworkers;
    srv->nworkers = 0;
    pthread_mutex_unlock(&srv->lock);
    for (size_t i = 0; i < n; i++)
        worker_free(srv->workers[i]);
    free(srv->workers);
    srv->workers = NULL;
}

int ah_server_serve(ah_server *srv)
{
    if (!srv || !ah_task_current())
        return AH_EINVAL;
    if (srv->nlistens == 0)
        return AH_EINVAL;
    signal(SIGPIPE, SIG_IGN);
    int rc = set_workers(srv, 1);
    if (rc < 0)
        return rc;
    rc = worker_main(srv->workers[0]);
    clear_workers(srv);
    return rc;
}

void ah_server_shutdown(ah_server *srv, int64_t grace_ms)
{
    pthread_mutex_lock(&srv->lock);
    srv->shutdown_requested = 1;
    srv->grace_ms = grace_ms < 0 ? 0 : grace_ms;
    for (size_t i = 0; i < srv->nworkers; i++) {
        uint64_t one = 1;
        (void)!write(srv->workers[i]->efd, &one, sizeof(one));
    }
    pthread_mutex_unlock(&srv->lock);
}

/* ---- running with own loops ---- */

static int run_worker_loop(ah__worker *w)
{
    ah_loop *loop = ah_loop_new(NULL);
    if (!loop)
        return AH_ENOMEM;
    int rc = ah_loop_run(loop, worker_main, w);
    ah_loop_free(loop);
    return rc;
}

static void *worker_thread(void *arg)
{
    ah__worker *w = arg;
    w->result = run_worker_loop(w);
    return NULL;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    ah_server *srv = arg;
    (void)what;
    ah__log(srv, 2, "signal %d: shutting down", (int)sig);
    ah_server_shutdown(srv, 10000);
}

int ah_server_run(ah_server *srv)
{
    if (!srv || ah_loop_current() || srv->nlistens == 0)
        return AH_EINVAL;
    signal(SIGPIPE, SIG_IGN);
    size_t n = srv->opts.workers ? srv->opts.workers : 1;
    int rc = set_workers(srv, n);
    if (rc < 0)
        return rc;
    /* Only the first worker's loop handles SIGINT/SIGTERM: the others block them. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    size_t started = 1;
    for (size_t i = 1; i < n; i++) {
        if (pthread_create(&srv->workers[i]->thread, NULL, worker_thread, srv->workers[i]) != 0) {
            ah__log(srv, 0, "cannot start worker %zu", i);
            break;
        }
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    ah_loop *loop = ah_loop_new(NULL);
    if (!loop) {
        ah_server_shutdown(srv, 0);
        rc = AH_ENOMEM;
    } else {
        /* The handlers go in on the loop's own thread and stack before any task runs: with the
         * ucontext switch every task has a signal mask of its own, so unblocking from inside a
         * task would not reach the loop. A program may have blocked these until now (so that a
         * signal during start-up still means a graceful shutdown): they are handled from here. */
        struct event_base *base = ah_loop_base(loop);
        struct event *sigint = evsignal_new(base, SIGINT, on_signal, srv);
        struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, srv);
        if (sigint)
            evsignal_add(sigint, NULL);
        if (sigterm)
            evsignal_add(sigterm, NULL);
        pthread_sigmask(SIG_UNBLOCK, &block, NULL);
        rc = ah_loop_run(loop, worker_main, srv->workers[0]);
        if (sigint)
            event_free(sigint);
        if (sigterm)
            event_free(sigterm);
        ah_loop_free(loop);
        ah_server_shutdown(srv, srv->grace_ms); /* the others follow the first */
    }
    for (size_t i = 1; i < started; i++) {
        pthread_join(srv->workers[i]->thread, NULL);
        if (rc == 0 && srv->workers[i]->result < 0)
            rc = srv->workers[i]->result;
    }
    clear_workers(srv);
    return rc;
}
