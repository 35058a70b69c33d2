/* The client's connection pool: one entry per (scheme, host, port) and way there (direct, through
 * an HTTP proxy, through a CONNECT tunnel) with its idle connections and its queue of waiting
 * tasks; limits per host and in all; keep-alive with an idle reaper; making connections (DNS, TCP,
 * CONNECT, TLS) with each failure told apart.
 *
 * Accounting: `open` (per host and per client) counts every connection that holds a slot: idle,
 * busy, or being made. A slot is taken before the first await of the task that will use it, so
 * the limits hold even while connects are in flight. When capacity appears (a connection
 * closes or goes idle) `dispatch` hands it to the waiters, oldest host queue first: an idle
 * connection is handed over directly; a free slot is reserved for the waiter, which then
 * connects. Nothing here awaits while the tables are inconsistent. */
#include "client_internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* How long close_notify may take when a TLS connection is closed on purpose. */
#define CLOSE_NOTIFY_MS 200

/* Idle expiry (seconds as a rule) needs no better than the kernel tick: the coarse clock is a
 * memory read where CLOCK_MONOTONIC, on a VM, costs a measurable share of a request (it was read
 * twice per request here). Both clocks count from the same origin. */
static int64_t coarse_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- hosts ---- */

static unsigned host_hash(const char *name, uint16_t port, int tls, ah__via via)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    h = (h ^ port) * 16777619u;
    h = (h ^ (unsigned)tls) * 16777619u;
    h = (h ^ (unsigned)via) * 16777619u;
    return h % AH__CLIENT_BUCKETS;
}

/* The entry for the origin and way there, made if need be (NULL when out of memory). */
static ah__chost *host_get(ah_client *c, const char *name, uint16_t port, int tls, ah__via via,
                           const ah__proxy *proxy)
{
    unsigned b = host_hash(name, port, tls, via);
    for (ah__chost *h = c->hosts[b]; h; h = h->hash_next)
        if (h->port == port && h->tls == tls && h->via == via && h->proxy == proxy &&
            strcmp(h->name, name) == 0)
            return h;
    ah__chost *h = calloc(1, sizeof(*h));
    if (!h || !(h->name = strdup(name))) {
        free(h);
        return NULL;
    }
    h->port = port;
    h->tls = tls;
    h->via = via;
    h->proxy = proxy;
    h->hash_next = c->hosts[b];
    c->hosts[b] = h;
    return h;
}

/* Forget an entry nothing refers to any more (so a crawler's table does not only grow). */
static void host_maybe_free(ah_client *c, ah__chost *h)
{
    if (h->open || h->wait_head || h->users)
        return;
    ah__chost **pp = &c->hosts[host_hash(h->name, h->port, h->tls, h->via)];
    while (*pp != h)
        pp = &(*pp)->hash_next;
    *pp = h->hash_next;
    free(h->name);
    free(h);
}

void ah__pool_free(ah_client *c)
{
    for (size_t i = 0; i < AH__CLIENT_BUCKETS; i++) {
        while (c->hosts[i]) {
            ah__chost *h = c->hosts[i];
            c->hosts[i] = h->hash_next;
            free(h->name);
            free(h);
        }
    }
}

/* ---- idle connections ---- */

static void idle_push(ah_client *c, ah__cconn *conn)
{
    ah__chost *h = conn->host;
    conn->hprev = NULL;
    conn->hnext = h->idle;
    if (h->idle)
        h->idle->hprev = conn;
    h->idle = conn;
    conn->lprev = NULL;
    conn->lnext = c->lru_head;
    if (c->lru_head)
        c->lru_head->lprev = conn;
    else
        c->lru_tail = conn;
    c->lru_head = conn;
    c->idle++;
    h->idle_count++;
}

static void idle_unlink(ah_client *c, ah__cconn *conn)
{
    ah__chost *h = conn->host;
    if (conn->hprev)
        conn->hprev->hnext = conn->hnext;
    else
        h->idle = conn->hnext;
    if (conn->hnext)
        conn->hnext->hprev = conn->hprev;
    if (conn->lprev)
        conn->lprev->lnext = conn->lnext;
    else
        c->lru_head = conn->lnext;
    if (conn->lnext)
        conn->lnext->lprev = conn->lprev;
    else
        c->lru_tail = conn->lprev;
    conn->hprev = conn->hnext = conn->lprev = conn->lnext = NULL;
    c->idle--;
    h->idle_count--;
}

/* Give up a connection's slot (its host entry may be freed by the caller afterwards). */
static void slot_release(ah_client *c, ah__chost *h)
{
    h->open--;
    c->open--;
}

/* 1 if conn runs on plain TCP (not TLS, not closed): only those are watched while idle, since
 * on TLS the socket may turn readable for records (tickets) that say nothing of the
 * connection's health. */
static int plain_tcp(const ah__cconn *conn)
{
    return conn->stream && ah__stream_ops(conn->stream) == &ah__sock_ops;
}

static void idle_stirred(void *arg)
{
    ah__cconn *conn = arg;
    conn->idle_stirred = 1;
}

/* An idle connection on plain TCP: have the loop tell us if the socket turns readable (a
 * close, or bytes nobody asked for) until we take it again. */
static void idle_watch(ah__cconn *conn)
{
    conn->idle_watched = 0;
    conn->idle_stirred = 0;
    if (!plain_tcp(conn) ||
        ah__stream_watch(conn->stream, ah_loop_current(), idle_stirred, conn) < 0)
        return;
    conn->idle_watched = 1;
}

static void idle_unwatch(ah__cconn *conn)
{
    if (conn->idle_watched && conn->stream)
        ah__stream_unwatch(conn->stream);
    conn->idle_watched = 0;
}

/* Close and free a connection that holds no slot any more. graceful: send TLS close_notify
 * first (which may await briefly). */
static void conn_destroy(ah__cconn *conn, int graceful)
{
    idle_unwatch(conn);
    if (conn->stream) {
        if (graceful && ah_tls_version(conn->stream) && ah_task_current() && !ah_task_cancelled()) {
            ah_stream_set_timeouts(conn->stream, CLOSE_NOTIFY_MS, CLOSE_NOTIFY_MS);
            (void)!ah_stream_shutdown_write(conn->stream);
        }
        ah_stream_close(conn->stream);
    }
    free(conn);
}

/* ---- waiters ---- */

static void wait_push(ah_client *c, ah__chost *h, ah__cwaiter *w)
{
    w->next = NULL;
    w->prev = h->wait_tail;
    if (h->wait_tail)
        h->wait_tail->next = w;
    else
        h->wait_head = w;
    h->wait_tail = w;
    w->queued = 1;
    c->waiting++;
    h->waiting++;
    if (!h->in_wait_list) {
        h->in_wait_list = 1;
        h->wnext = NULL;
        h->wprev = c->wait_hosts_tail;
        if (c->wait_hosts_tail)
            c->wait_hosts_tail->wnext = h;
        else
            c->wait_hosts_head = h;
        c->wait_hosts_tail = h;
    }
}

static void wait_unlink(ah_client *c, ah__chost *h, ah__cwaiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        h->wait_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        h->wait_tail = w->prev;
    w->prev = w->next = NULL;
    w->queued = 0;
    c->waiting--;
    h->waiting--;
    if (!h->wait_head && h->in_wait_list) {
        if (h->wprev)
            h->wprev->wnext = h->wnext;
        else
            c->wait_hosts_head = h->wnext;
        if (h->wnext)
            h->wnext->wprev = h->wprev;
        else
            c->wait_hosts_tail = h->wprev;
        h->wprev = h->wnext = NULL;
        h->in_wait_list = 0;
    }
}

/* Hand conn (or, if NULL, a slot already counted) to the first waiter of h. */
static void grant(ah_client *c, ah__chost *h, ah__cconn *conn)
{
    ah__cwaiter *w = h->wait_head;
    wait_unlink(c, h, w);
    w->conn = conn;
    w->grant_new = conn == NULL;
    ah_event_set(w->ev); /* makes it runnable; nothing runs until we await */
}

/* Close the least recently used idle connection to make room under the total limit. Abrupt
 * (no close_notify): this runs where awaiting is not allowed. */
static int evict_idle(ah_client *c)
{
    ah__cconn *victim = c->lru_tail;
    if (!victim)
        return 0;
    ah__chost *vh = victim->host;
    idle_unlink(c, victim);
    slot_release(c, vh);
    host_maybe_free(c, vh);
    conn_destroy(victim, 0);
    return 1;
}

/* Give free capacity to waiters: host queues in the order they started waiting. */
static void dispatch(ah_client *c)
{
    ah__chost *h = c->wait_hosts_head;
    while (h) {
        ah__chost *next = h->wnext; /* grant may take h off the list, never next */
        while (h->wait_head) {
            if (h->idle) {
                ah__cconn *conn = h->idle;
                idle_unlink(c, conn);
                grant(c, h, conn);
                continue;
            }
            if (h->open >= c->opts.max_per_host)
                break; /* this host is at its own limit: the next one may not be */
            if (c->open >= c->opts.max_connections && !evict_idle(c))
                return; /* the total limit: everybody waits */
            h->open++;
            c->open++;
            grant(c, h, NULL);
        }
        h = next;
    }
}

/* ---- the idle reaper: one task per client while idle connections exist ---- */

static int reaper(void *arg)
{
    ah_client *c = arg;
    while (!c->closing && c->lru_tail) {
        int64_t wait = c->lru_tail->idle_until - coarse_now_ms();
        if (wait > 0) {
            if (ah_sleep(wait) < 0)
                break;
            continue;
        }
        ah__cconn *conn = c->lru_tail;
        ah__chost *h = conn->host;
        idle_unlink(c, conn);
        slot_release(c, h);
        dispatch(c);
        host_maybe_free(c, h);
        ah__client_tracef(c, "closing idle connection to %s", conn->peer);
        conn_destroy(conn, 1);
    }
    c->reaper = NULL;
    ah__client_unref(c);
    return 0;
}

static void ensure_reaper(ah_client *c)
{
    if (c->reaper || !ah_task_current())
        return;
    ah_task *t = ah_spawn(reaper, c);
    if (!t)
        return; /* idle connections are then closed on reuse or with the client */
    c->reaper = t;
    ah__client_ref(c);
    ah_task_detach(t);
}

/* ---- connecting ---- */

static int tls_context(ah__fetch *f)
{
    ah_client *c = f->c;
    if (c->tls)
        return 0;
    ah_tls_client_opts to = {
        .ca_file = c->opts.ca_file,
        .ca_dir = c->opts.ca_dir,
        .cert_file = c->opts.cert_file,
        .key_file = c->opts.key_file,
        .insecure = c->opts.insecure,
    };
    /* The first context of the process loads the system trust store and sets OpenSSL up: tens
     * of ms, done on the thread pool so that the loop's other tasks (a server's too) run on
     * meanwhile. Making the context afterwards costs well under a millisecond. */
    /* An AH_ETLS from preload (no system store) is left to ah_tls_client_ctx_new below, which
     * meets the same missing store and says so in the same words. */
    int rc = ah_tls_client_preload(&to, NULL, 0);
    if (rc == AH_ECANCELED || rc == AH_ETIMEDOUT)
        return ah__client_fail(f, rc, AH_CLIENT_PHASE_TLS,
                               ah__client_which_timeout(f->total_until, rc, AH_CLIENT_TIMEOUT_NONE),
                               "TLS setup: %s", ah_strerror(rc));
    if (c->tls) /* another task made it while this one waited */
        return 0;
    char why[256];
    rc = ah_tls_client_ctx_new(&to, &c->tls, why, sizeof(why));
    if (rc < 0)
        return ah__client_fail(f, rc, AH_CLIENT_PHASE_TLS, AH_CLIENT_TIMEOUT_NONE, "TLS setup: %s",
                               why[0] ? why : ah_strerror(rc));
    return 0;
}

static int numeric_host(const char *host)
{
    unsigned char bin[16];
    return inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
}

/* out = a b c, cut to size (a peer name longer than AH__PEER_MAX is only for messages). */
static void peer_name(char *out, size_t size, const char *a, const char *b, const char *c)
{
    if (snprintf(out, size, "%s%s%s", a, b, c) >= (int)size)
        out[size - 1] = '\0';
}

static void host_port(char *out, size_t size, const char *host, uint16_t port)
{
    int v6 = strchr(host, ':') != NULL;
    snprintf(out, size, "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)port);
}

/* DNS, TCP connect, the proxy's tunnel if any, and TLS handshake for conn (whose stream is
 * NULL). Through a proxy the name resolved and the address connected to are the proxy's; TLS
 * is always with the origin, u. */
static int open_stream(ah__fetch *f, const ah_url *u, ah__cconn *conn)
{
    ah_client *c = f->c;
    const ah_client_opts *o = &c->opts;
    const ah__proxy *proxy = conn->host->proxy;
    const char *host = proxy ? proxy->host : u->host;
    uint16_t port = proxy ? proxy->port : u->port;
    const char *what = proxy ? "proxy " : ""; /* in messages: what we connect to */
    char where[AH__PEER_MAX], origin[AH__PEER_MAX], addr[AH__PEER_MAX];
    host_port(where, sizeof(where), host, port);
    host_port(origin, sizeof(origin), u->host, u->port);
    peer_name(conn->peer, sizeof(conn->peer), what, where, "");
    int rc;
    /* Resolving first (the answer is cached for the connect) tells a DNS timeout apart. */
    if (!numeric_host(host)) {
        ah_addrs addrs;
        rc = ah_dns_resolve(host, port, AF_UNSPEC, o->dns_timeout_ms, &addrs);
        if (rc < 0) {
            ah_client_timeout which =
                ah__client_which_timeout(f->total_until, rc, AH_CLIENT_TIMEOUT_DNS);
            if (rc == AH_EDNS)
                return ah__client_fail(f, rc, AH_CLIENT_PHASE_DNS, which,
                                       "could not resolve %s: %s", proxy ? "proxy" : "host", host);
            if (which == AH_CLIENT_TIMEOUT_DNS)
                return ah__client_fail(f, rc, AH_CLIENT_PHASE_DNS, which,
                                       "DNS timeout (%lld ms) resolving %s%s",
                                       (long long)o->dns_timeout_ms, what, host);
            if (which == AH_CLIENT_TIMEOUT_TOTAL)
                return ah__client_fail(f, rc, AH_CLIENT_PHASE_DNS, which,
                                       "total timeout (%lld ms) resolving %s%s",
                                       (long long)f->total_ms, what, host);
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_DNS, which, "resolving %s%s: %s", what,
                                   host, ah_strerror(rc));
        }
    }
    ah_stream_opts so = {.read_timeout_ms = o->read_timeout_ms,
                         .write_timeout_ms = o->write_timeout_ms};
    ah_tcp_connect_opts co = {.connect_timeout_ms = o->connect_timeout_ms,
                              .dns_timeout_ms = o->dns_timeout_ms,
                              .stream = &so};
    ah_stream *s;
    rc = ah_tcp_connect(host, port, &co, &s);
    if (rc < 0) {
        ah_client_timeout which =
            ah__client_which_timeout(f->total_until, rc, AH_CLIENT_TIMEOUT_CONNECT);
        if (rc == AH_EDNS)
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_DNS, which, "could not resolve %s: %s",
                                   proxy ? "proxy" : "host", host);
        if (rc == AH_ECONNREFUSED)
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_CONNECT, which,
                                   "connection refused by %s%s", what, where);
        if (which == AH_CLIENT_TIMEOUT_CONNECT)
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_CONNECT, which,
                                   "connect timeout (%lld ms) to %s%s",
                                   (long long)o->connect_timeout_ms, what, where);
        if (which == AH_CLIENT_TIMEOUT_TOTAL)
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_CONNECT, which,
                                   "total timeout (%lld ms) connecting to %s%s",
                                   (long long)f->total_ms, what, where);
        return ah__client_fail(f, rc, AH_CLIENT_PHASE_CONNECT, which, "connect to %s%s: %s", what,
                               where, ah_strerror(rc));
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    snprintf(addr, sizeof(addr), "%s", where);
    if (getpeername(ah_stream_fd(s), (struct sockaddr *)&ss, &len) == 0)
        ah_sockaddr_str((struct sockaddr *)&ss, addr, sizeof(addr));
    ah__client_tracef(c, "connected to %s%s (%s)", what, where, addr);
    if (conn->host->via == AH__VIA_TUNNEL) {
        if ((rc = ah__proxy_connect(f, s, proxy, u, addr)) < 0) {
            ah_stream_close(s);
            return rc;
        }
        peer_name(conn->peer, sizeof(conn->peer), origin, " via proxy ", addr);
    } else {
        peer_name(conn->peer, sizeof(conn->peer), what, addr, "");
    }
    if (conn->host->tls) {
        if ((rc = tls_context(f)) < 0) {
            ah_stream_close(s);
            return rc;
        }
        ah_stream *ts;
        char why[256];
        rc = ah_tls_client_wrap(s, c->tls, u->host, o->tls_timeout_ms, &ts, why,
                                sizeof(why)); /* owns s now */
        if (rc < 0) {
            ah_client_timeout which =
                ah__client_which_timeout(f->total_until, rc, AH_CLIENT_TIMEOUT_TLS);
            if (rc == AH_ETLS || rc == AH_ETLS_VERIFY)
                return ah__client_fail(f, rc, AH_CLIENT_PHASE_TLS, which, "TLS with %s: %s", origin,
                                       why);
            if (which == AH_CLIENT_TIMEOUT_TLS)
                return ah__client_fail(f, rc, AH_CLIENT_PHASE_TLS, which,
                                       "TLS handshake timeout (%lld ms) with %s",
                                       (long long)o->tls_timeout_ms, origin);
            if (which == AH_CLIENT_TIMEOUT_TOTAL)
                return ah__client_fail(f, rc, AH_CLIENT_PHASE_TLS, which,
                                       "total timeout (%lld ms) in the TLS handshake with %s",
                                       (long long)f->total_ms, origin);
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_TLS, which, "TLS handshake with %s: %s",
                                   origin, ah_strerror(rc));
        }
        s = ts;
        ah_stream_set_timeouts(s, o->read_timeout_ms, o->write_timeout_ms);
        ah__client_tracef(c, "TLS %s / %s with %s, ALPN %s", ah_tls_version(s), ah_tls_cipher(s),
                          origin, ah_tls_alpn(s) ? ah_tls_alpn(s) : "none");
    }
    conn->stream = s;
    return 0;
}

/* A connection still alive and unexpired from h's idle list (most recently used first); dead
 * ones found on the way are closed. */
static ah__cconn *take_idle(ah_client *c, ah__chost *h, int resendable)
{
    int freed = 0;
    while (h->idle) {
        ah__cconn *conn = h->idle;
        idle_unlink(c, conn);
        int quiet = conn->idle_watched && !conn->idle_stirred && plain_tcp(conn) &&
                    !ah__stream_peer_closed(conn->stream);
        idle_unwatch(conn);
        if (coarse_now_ms() < conn->idle_until) {
            /* Nothing has arrived on it since it went idle and no FIN came with the last
             * response, as of the loop's last look; if the server closed it since, the request
             * fails at once and is sent again. */
            if (quiet && resendable)
                return conn;
            /* One non-blocking read: EAGAIN means alive. EOF (the server's keep-alive timeout),
             * an error, or bytes nobody asked for mean the connection is not to be used. */
            int n = ah__stream_fill_nowait(conn->stream);
            if (n == AH_EAGAIN)
                return conn;
            ah__client_tracef(c, "idle connection to %s found closed", conn->peer);
        }
        slot_release(c, h);
        conn_destroy(conn, 0);
        freed = 1;
    }
    if (freed)
        dispatch(c);
    return NULL;
}

/* Wait in h's queue for a connection or a slot. */
static int wait_for_slot(ah__fetch *f, ah__chost *h, ah__cconn **conn)
{
    ah_client *c = f->c;
    ah__cwaiter w = {0};
    *conn = NULL;
    if (!(w.ev = ah_event_new()))
        return ah__client_fail(f, AH_ENOMEM, AH_CLIENT_PHASE_POOL, AH_CLIENT_TIMEOUT_NONE,
                               "out of memory");
    wait_push(c, h, &w);
    int rc = ah_event_wait(w.ev, c->opts.pool_timeout_ms);
    if (w.queued)
        wait_unlink(c, h, &w);
    ah_event_free(w.ev);
    if (w.conn || w.grant_new) {
        if (rc == 0) {
            *conn = w.conn;
            return 0;
        }
        /* granted, but the wait ended (cancelled, deadline) before we ran: give it back */
        if (w.conn) {
            ah__pool_put(c, w.conn, 1);
        } else {
            slot_release(c, h);
            dispatch(c);
        }
    }
    if (w.closed)
        return ah__client_fail(f, AH_ECLOSED, AH_CLIENT_PHASE_POOL, AH_CLIENT_TIMEOUT_NONE,
                               "the client was closed while waiting for a connection");
    if (rc == 0)
        rc = AH_ECLOSED;
    ah_client_timeout which = ah__client_which_timeout(f->total_until, rc, AH_CLIENT_TIMEOUT_POOL);
    if (which == AH_CLIENT_TIMEOUT_POOL)
        return ah__client_fail(f, rc, AH_CLIENT_PHASE_POOL, which,
                               "pool timeout (%lld ms): no free connection to %s:%u (%zu open to "
                               "it, %zu in all)",
                               (long long)c->opts.pool_timeout_ms, h->name, (unsigned)h->port,
                               h->open, c->open);
    if (which == AH_CLIENT_TIMEOUT_TOTAL)
        return ah__client_fail(f, rc, AH_CLIENT_PHASE_POOL, which,
                               "total timeout (%lld ms) waiting for a connection",
                               (long long)f->total_ms);
    return ah__client_fail(f, rc, AH_CLIENT_PHASE_POOL, which, "waiting for a connection: %s",
                           ah_strerror(rc));
}

int ah__pool_get(ah__fetch *f, const ah_url *u, ah__cconn **out)
{
    ah_client *c = f->c;
    *out = NULL;
    if (c->closing)
        return ah__client_fail(f, AH_ECLOSED, AH_CLIENT_PHASE_POOL, AH_CLIENT_TIMEOUT_NONE,
                               "the client is closed");
    int tls = strcmp(u->scheme, "https") == 0;
    const ah__proxy *proxy;
    int rc = ah__proxy_for(f, u, &proxy);
    if (rc < 0)
        return rc;
    /* through a proxy, http:// requests of every origin share the connections to the proxy */
    ah__chost *h = !proxy ? host_get(c, u->host, u->port, tls, AH__VIA_DIRECT, NULL)
                   : tls  ? host_get(c, u->host, u->port, 1, AH__VIA_TUNNEL, proxy)
                          : host_get(c, proxy->host, proxy->port, 0, AH__VIA_FORWARD, proxy);
    if (!h)
        return ah__client_fail(f, AH_ENOMEM, AH_CLIENT_PHASE_POOL, AH_CLIENT_TIMEOUT_NONE,
                               "out of memory");
    h->users++; /* h stays while we use it, whatever happens while we wait */
    ah__cconn *conn = take_idle(c, h, f->resendable);
    if (conn) {
        ah__client_tracef(c, "reusing the connection to %s", conn->peer);
    } else if (!h->wait_head && h->open < c->opts.max_per_host &&
               (c->open < c->opts.max_connections || evict_idle(c))) {
        h->open++;
        c->open++;
    } else {
        rc = wait_for_slot(f, h, &conn);
    }
    if (rc == 0 && !conn) {
        /* a slot of our own: connect in it */
        conn = calloc(1, sizeof(*conn));
        if (!conn) {
            rc = ah__client_fail(f, AH_ENOMEM, AH_CLIENT_PHASE_CONNECT, AH_CLIENT_TIMEOUT_NONE,
                                 "out of memory");
        } else {
            conn->host = h;
            rc = open_stream(f, u, conn);
            if (rc < 0) {
                free(conn);
                conn = NULL;
            } else {
                c->made++;
            }
        }
        if (rc < 0) {
            slot_release(c, h);
            dispatch(c);
        }
    }
    h->users--;
    if (rc < 0) {
        host_maybe_free(c, h);
        return rc;
    }
    *out = conn;
    return 0;
}

int ah__pool_reconnect(ah__fetch *f, const ah_url *u, ah__cconn *conn)
{
    ah_client *c = f->c;
    ah_stream_close(conn->stream);
    conn->stream = NULL;
    conn->requests = 0;
    int rc = c->closing ? ah__client_fail(f, AH_ECLOSED, AH_CLIENT_PHASE_POOL,
                                          AH_CLIENT_TIMEOUT_NONE, "the client is closed")
                        : open_stream(f, u, conn);
    if (rc < 0) {
        ah__chost *h = conn->host;
        slot_release(c, h);
        dispatch(c);
        host_maybe_free(c, h);
        free(conn);
        return rc;
    }
    c->made++;
    return 0;
}

void ah__pool_put(ah_client *c, ah__cconn *conn, int reusable)
{
    ah__chost *h = conn->host;
    if (!h) { /* a connection from outside the pool (ah__response_read_stream) */
        conn_destroy(conn, 0);
        return;
    }
    if (reusable && !c->closing && c->opts.idle_timeout_ms > 0) {
        /* The stream keeps its (empty) read buffer: the next request on this connection comes
         * microseconds later as a rule, and freeing it here made every reuse malloc 16 KiB
         * again. What that holds is bounded by max_connections (100 × 16 KiB by default). */
        if (h->wait_head) {
            grant(c, h, conn); /* straight to the next request for this origin */
            return;
        }
        conn->idle_until = coarse_now_ms() + c->opts.idle_timeout_ms;
        idle_watch(conn);
        idle_push(c, conn);
        dispatch(c); /* another origin at the total limit may take its slot */
        ensure_reaper(c);
        return;
    }
    slot_release(c, h);
    dispatch(c);
    host_maybe_free(c, h);
    conn_destroy(conn, 1);
}

void ah__pool_shutdown(ah_client *c)
{
    c->closing = 1;
    while (c->wait_hosts_head) {
        ah__chost *h = c->wait_hosts_head;
        while (h->wait_head) {
            ah__cwaiter *w = h->wait_head;
            wait_unlink(c, h, w);
            w->closed = 1;
            ah_event_set(w->ev);
        }
    }
    while (c->lru_tail) {
        ah__cconn *conn = c->lru_tail;
        ah__chost *h = conn->host;
        idle_unlink(c, conn);
        slot_release(c, h);
        host_maybe_free(c, h);
        conn_destroy(conn, 1);
    }
    if (c->reaper)
        ah_cancel(c->reaper);
}

/* ---- statistics ---- */

/* Copy src into dst[size], cut to fit. */
static void copy_cut(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void host_stats(const ah__chost *h, ah_client_host_stats *out)
{
    memset(out, 0, sizeof(*out));
    copy_cut(out->scheme, sizeof(out->scheme), h->tls ? "https" : "http");
    copy_cut(out->host, sizeof(out->host), h->name);
    out->port = h->port;
    out->via = h->via == AH__VIA_FORWARD  ? AH_CLIENT_VIA_PROXY
               : h->via == AH__VIA_TUNNEL ? AH_CLIENT_VIA_TUNNEL
                                          : AH_CLIENT_VIA_DIRECT;
    if (h->proxy) {
        /* host_port would cut the port off a name too long for the buffer: cut the name */
        char name[AH_CLIENT_HOST_NAME_MAX];
        copy_cut(name, sizeof(name), h->proxy->host);
        host_port(out->proxy, sizeof(out->proxy), name, h->proxy->port);
    }
    out->open = h->open;
    out->idle = h->idle_count;
    out->active = h->open - h->idle_count;
    out->waiting = h->waiting;
}

size_t ah_client_get_host_stats(const ah_client *c, ah_client_host_stats *out, size_t max)
{
    if (!c)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < AH__CLIENT_BUCKETS; i++)
        for (const ah__chost *h = c->hosts[i]; h; h = h->hash_next) {
            /* an entry only a task in ah__pool_get holds (it is about to take a slot or give
             * up) has nothing to show */
            if (!h->open && !h->waiting)
                continue;
            if (out && n < max)
                host_stats(h, &out[n]);
            n++;
        }
    return n;
}
