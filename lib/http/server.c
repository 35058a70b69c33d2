/* The server object: options, routes, listening, stats; workers (one loop per thread), each with
 * an accept task per listener handing connections to server_conn.c; ah_server_serve and
 * ah_server_run (threads, SIGINT/SIGTERM); graceful shutdown. */
#include "server_internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

static void defaults(ah_server_opts *o)
{
#define DEF(field, value)                                                                          \
    if (!o->field)                                                                                 \
        o->field = value;
    DEF(max_request_line, 8 * 1024);
    DEF(max_header_bytes, 16 * 1024);
    DEF(max_header_count, 100);
    DEF(max_body, 1024 * 1024);
    DEF(header_timeout_ms, 10 * 1000);
    DEF(keepalive_timeout_ms, 75 * 1000);
    DEF(body_timeout_ms, 30 * 1000);
    DEF(write_timeout_ms, 30 * 1000);
    DEF(max_connections, 10000);
    DEF(workers, 1);
    DEF(shutdown_grace_ms, 10 * 1000);
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
    return ah__router_add(srv, method, pattern, handler, arg, opts ? opts->max_body : 0);
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
    if (!srv || srv->nlistens == AH__MAX_LISTENS)
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
        ah__conn_start(w, s, &peer, tls);
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
            ah__stream_unwatch(c->stream);
            ah__conn_free(c);
        }
        c = next;
    }
    if (w->nconns) {
        int64_t grace;
        pthread_mutex_lock(&srv->lock);
        grace = srv->grace_ms;
        pthread_mutex_unlock(&srv->lock);
        (void)!ah_event_wait(w->drained, grace);
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
    evtimer_assign(&w->idle_timer, ah_loop_base(w->loop), ah__idle_expired, w);
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
    for (size_t i = 0; i < AH__MAX_LISTENS; i++)
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
    for (size_t i = 0; i < AH__MAX_LISTENS; i++)
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

int ah__server_serve_stream(ah_server *srv, ah_stream *s)
{
    if (!srv || !s || !ah_task_current()) {
        ah_stream_close(s);
        return AH_EINVAL;
    }
    ah__worker *w = calloc(1, sizeof(*w));
    if (!w || !(w->slot = ah_event_new()) || !(w->drained = ah_event_new())) {
        if (w)
            ah_event_free(w->slot);
        free(w);
        ah_stream_close(s);
        return AH_ENOMEM;
    }
    w->srv = srv;
    w->loop = ah_loop_current();
    w->efd = -1;
    evtimer_assign(&w->idle_timer, ah_loop_base(w->loop), ah__idle_expired, w);
    struct sockaddr_storage peer = {0};
    struct sockaddr_in *in = (struct sockaddr_in *)&peer;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ah__conn_start(w, s, &peer, NULL);
    int rc = 0;
    while (w->nconns && rc == 0) { /* ah__conn_free sets slot as the connection goes */
        ah_event_clear(w->slot);
        if (w->nconns)
            rc = ah_event_wait(w->slot, -1);
    }
    event_del(&w->idle_timer);
    ah_event_free(w->slot);
    ah_event_free(w->drained);
    free(w);
    return rc;
}

void ah_server_shutdown(ah_server *srv, int64_t grace_ms)
{
    pthread_mutex_lock(&srv->lock);
    srv->shutdown_requested = 1;
    srv->grace_ms = grace_ms < 0 ? -1 : grace_ms; /* ah_event_wait: < 0 waits without a limit */
    for (size_t i = 0; i < srv->nworkers; i++) {
        uint64_t one = 1;
        (void)!write(srv->workers[i]->efd, &one, sizeof(one));
    }
    pthread_mutex_unlock(&srv->lock);
}

/* ---- running with own loops ---- */

/* A loop for a worker, with the server's task stack size. */
static ah_loop *worker_loop_new(const ah_server *srv)
{
    ah_loop_opts lo = {.stack_size = srv->opts.task_stack_size};
    return ah_loop_new(&lo);
}

static int run_worker_loop(ah__worker *w)
{
    ah_loop *loop = worker_loop_new(w->srv);
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
    ah_server_shutdown(srv, srv->opts.shutdown_grace_ms);
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
    ah_loop *loop = worker_loop_new(srv);
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
