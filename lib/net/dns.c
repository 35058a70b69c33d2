/* Asynchronous name resolution with evdns_getaddrinfo, a small per-loop cache, and a check that
 * fails lookups at once when no name server can be reached.
 *
 * Two libevent quirks shape the requests: the callback may run before evdns_getaddrinfo returns
 * (numeric hosts, /etc/hosts, errors), and a cancelled request still calls back (with
 * EVUTIL_EAI_CANCEL). So each request lives on the heap and is freed by its callback once the
 * waiting task has either taken the answer or walked away.
 *
 * A third shapes the check. evdns sends its queries from unconnected UDP sockets, and the kernel
 * reports an ICMP error (port unreachable: nothing listens where the name server should be;
 * host unreachable) only on connected ones. So evdns never learns that its server is not there:
 * each query waits out its timeouts (5 s, three tries), and a program gives up on its own
 * timeout instead of saying "could not resolve". And when evdns does give up on a server (a send
 * error, or timeouts) it only logs "Nameserver ... has failed", through the one log callback of
 * the process, which does not say which resolver, and keeps the requests waiting. So the check
 * is ours, per resolver:
 *
 * - A lookup that has waited CHECK_AFTER_MS makes us send every name server one small query of
 *   our own (". NS") from a connected socket. A resolver that answers sooner never sees one.
 * - Any reply means the server is there; a send error or an ICMP error means it is not; silence
 *   decides nothing (evdns's timeouts, or the caller's, still apply).
 * - When every server is unreachable, the waiting lookups fail with AH_EDNS at once, and so do
 *   new ones for DOWN_HOLD_MS; names in /etc/hosts still resolve. The first lookup after that
 *   checks again at once, so a server that has come back is used again within about a second.
 * - A resolver with no name server at all fails every lookup (outside /etc/hosts) at once.
 *
 * Everything here belongs to one loop and runs on its thread: several loops never share a
 * verdict, and no lock is needed. */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CACHE_SLOTS 1024
#define CACHE_TTL_MS (60 * 1000)
#define HOST_MAX 255

#define CHECK_AFTER_MS 50   /* a lookup slower than this starts a check */
#define CHECK_WAIT_MS 1000  /* how long a check waits for a server's reply or error */
#define CHECK_EVERY_MS 1000 /* at most one check a second per resolver */
#define DOWN_HOLD_MS 1000   /* after "none can be reached", new lookups fail at once so long */
#define CHECK_MAX_SERVERS 8 /* more than resolv.conf's 3; with more, no verdict is reached */

typedef struct cache_entry {
    char host[HOST_MAX + 1];
    int family;
    int64_t expires;
    ah_addrs addrs; /* ports zero */
} cache_entry;

typedef struct request request;
struct request {
    ah_task *waiter; /* NULL once the task gave up */
    int done;        /* result (and addrs) are the task's to take */
    int result;
    ah_addrs addrs;
    struct evdns_getaddrinfo_request *req; /* NULL once evdns has called back for the last time */
    struct dns_state *st;                  /* valid while waiter is set */
    request *prev, *next;                  /* in the resolver's waiting list while the task waits */
};

enum { SERVER_CHECKING, SERVER_ANSWERED, SERVER_SILENT, SERVER_UNREACHABLE };

typedef struct dns_state dns_state;

typedef struct name_server {
    dns_state *st;
    struct sockaddr_storage addr;
    socklen_t len;
    int fd;      /* the check's socket while it waits for this server; -1 otherwise */
    int verdict; /* SERVER_*, of the last check */
    struct event ev;
} name_server;

struct dns_state {
    struct evdns_base *base;
    struct event_base *ev_base;
    cache_entry *cache; /* CACHE_SLOTS entries, direct-mapped by hash */
    int nservers;       /* as evdns has them */
    int checkable;      /* every one of them is in servers[] */
    name_server servers[CHECK_MAX_SERVERS];
    struct event check_timer;
    int timer_armed;
    int checking;          /* servers yet to give their verdict in the check under way */
    int suspect;           /* the last check found none of them */
    int64_t next_check_at; /* not before then */
    int64_t down_until;    /* new lookups fail at once until then */
    request *waiting;      /* lookups waiting for evdns */
};

/* The check's query: ". IN NS", recursion desired. Every resolver has the root's servers at hand,
 * so it costs the server nothing, and it names no host of ours. The reply is never read (only
 * whether one comes), so the id is a constant. */
static const unsigned char check_query[] = {
    0x61, 0x68,             /* id */
    0x01, 0x00,             /* a standard query, recursion desired */
    0x00, 0x01, 0x00, 0x00, /* one question, no answers */
    0x00, 0x00, 0x00, 0x00, /* no authority or additional records */
    0x00,                   /* the root name */
    0x00, 0x02,             /* type NS */
    0x00, 0x01,             /* class IN */
};

/* ---- the reachability check ---- */

static void server_stop(name_server *ns)
{
    if (ns->fd < 0)
        return;
    event_del(&ns->ev);
    close(ns->fd);
    ns->fd = -1;
}

static void check_stop(dns_state *st)
{
    if (st->timer_armed) {
        evtimer_del(&st->check_timer);
        st->timer_armed = 0;
    }
    for (int i = 0; i < st->nservers && i < CHECK_MAX_SERVERS; i++)
        server_stop(&st->servers[i]);
    st->checking = 0;
}

static void server_unreachable(name_server *ns, int err)
{
    char where[64];
    ns->verdict = SERVER_UNREACHABLE;
    ah__logf(AH_LOG_INFO, "name server %s cannot be reached: %s",
             ah_sockaddr_str((struct sockaddr *)&ns->addr, where, sizeof(where)),
             ah_strerror(-err));
}

/* Every waiting lookup fails now; each task cancels its evdns request when it runs. */
static void fail_waiting(dns_state *st)
{
    for (request *r = st->waiting; r; r = r->next) {
        if (r->done)
            continue;
        r->done = 1;
        r->result = AH_EDNS;
        ah__wake(r->waiter, 0);
    }
}

/* All verdicts are in. */
static void check_settle(dns_state *st)
{
    int none = st->checkable && st->nservers > 0;
    for (int i = 0; none && i < st->nservers; i++)
        none = st->servers[i].verdict == SERVER_UNREACHABLE;
    st->suspect = none;
    if (!none)
        return;
    st->down_until = ah_now_ms() + DOWN_HOLD_MS;
    ah__logf(AH_LOG_INFO, "no name server can be reached: lookups fail for %d ms", DOWN_HOLD_MS);
    fail_waiting(st);
}

static void server_reply_cb(evutil_socket_t fd, short what, void *arg)
{
    name_server *ns = arg;
    dns_state *st = ns->st;
    if (what & EV_TIMEOUT) {
        ns->verdict = SERVER_SILENT;
    } else {
        unsigned char buf[512];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return; /* a spurious wake-up: EV_PERSIST keeps waiting (the wait starts over) */
        if (n >= 0)
            ns->verdict = SERVER_ANSWERED;
        else
            server_unreachable(ns, errno);
    }
    server_stop(ns);
    if (--st->checking == 0)
        check_settle(st);
}

/* Send ns the check's query; its verdict comes now (a send error) or from server_reply_cb. */
static void server_check(name_server *ns)
{
    ns->verdict = SERVER_SILENT; /* unless we learn better */
    int family = ns->addr.ss_family;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return; /* out of descriptors, say: that says nothing about the server */
    /* Host and network unreachable come from routers as "soft" ICMP errors, which a connected
     * UDP socket reports only with RECVERR (port unreachable it reports anyway). */
    int on = 1;
    if (family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
    else
        (void)setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
    struct timeval wait = {.tv_sec = CHECK_WAIT_MS / 1000, .tv_usec = CHECK_WAIT_MS % 1000 * 1000};
    if (connect(fd, (struct sockaddr *)&ns->addr, ns->len) != 0 ||
        send(fd, check_query, sizeof(check_query), 0) < 0) {
        int err = errno;
        close(fd);
        if (err != EAGAIN && err != ENOBUFS && err != EINTR)
            server_unreachable(ns, err);
        return;
    }
    event_assign(&ns->ev, ns->st->ev_base, fd, EV_READ | EV_PERSIST, server_reply_cb, ns);
    if (event_add(&ns->ev, &wait) != 0) {
        close(fd);
        return;
    }
    ns->fd = fd;
    ns->verdict = SERVER_CHECKING;
    ns->st->checking++;
}

static void check_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    dns_state *st = arg;
    (void)fd;
    (void)what;
    st->timer_armed = 0;
    if (!st->waiting)
        return;
    st->next_check_at = ah_now_ms() + CHECK_EVERY_MS;
    st->checking = 0;
    for (int i = 0; i < st->nservers && i < CHECK_MAX_SERVERS; i++)
        server_check(&st->servers[i]);
    if (st->checking == 0)
        check_settle(st);
}

/* A lookup has started waiting: check the servers if it is still waiting CHECK_AFTER_MS from
 * now, or at once when the last check found none of them. */
static void check_arm(dns_state *st)
{
    if (st->timer_armed || st->checking || !st->checkable)
        return;
    int64_t now = ah_now_ms();
    int64_t at = now + (st->suspect ? 0 : CHECK_AFTER_MS);
    if (at < st->next_check_at)
        at = st->next_check_at;
    struct timeval tv = {.tv_sec = (at - now) / 1000, .tv_usec = (at - now) % 1000 * 1000};
    /* See ah__park: a timer set from inside a callback counts from the cached time. */
    event_base_update_cache_time(st->ev_base);
    if (evtimer_add(&st->check_timer, &tv) == 0)
        st->timer_armed = 1;
}

static void waiting_add(dns_state *st, request *r)
{
    r->prev = NULL;
    r->next = st->waiting;
    if (st->waiting)
        st->waiting->prev = r;
    st->waiting = r;
    check_arm(st);
}

static void waiting_remove(dns_state *st, request *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        st->waiting = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    /* Nobody waits: an idle resolver holds no events (no timer, no check sockets), so it neither
     * keeps a finished loop turning nor hides a deadlock. */
    if (!st->waiting)
        check_stop(st);
}

/* ---- the per-loop resolver ---- */

static void dns_state_free(void *p)
{
    dns_state *st = p;
    check_stop(st);
    /* Tasks still listed never finished (the loop gave up on a deadlock): the requests' last
     * callbacks, which freeing the base brings, must not wake them. */
    for (request *r = st->waiting; r; r = r->next)
        r->waiter = NULL;
    if (st->base)
        evdns_base_free(st->base, 1);
    free(st->cache);
    free(st);
}

/* Which name servers evdns has, for the check. */
static void servers_read(dns_state *st)
{
    st->nservers = evdns_base_count_nameservers(st->base);
    st->checkable = st->nservers <= CHECK_MAX_SERVERS;
    for (int i = 0; i < st->nservers && i < CHECK_MAX_SERVERS; i++) {
        name_server *ns = &st->servers[i];
        ns->st = st;
        ns->fd = -1;
        int len = evdns_base_get_nameserver_addr(st->base, i, (struct sockaddr *)&ns->addr,
                                                 sizeof(ns->addr));
        if (len <= 0 || len > (int)sizeof(ns->addr))
            st->checkable = 0;
        else
            ns->len = (socklen_t)len;
    }
}

static dns_state *state(ah_loop *loop)
{
    dns_state *st = ah__loop_slot(loop, AH__SLOT_DNS);
    if (st)
        return st;
    st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->ev_base = loop->base;
    st->cache = calloc(CACHE_SLOTS, sizeof(cache_entry));
    /* DISABLE_WHEN_INACTIVE: an idle resolver holds no events, so it neither keeps a finished
     * loop alive nor hides a deadlock. Name servers and /etc/hosts come from the system. */
    /* AH_RESOLV_CONF names another resolv.conf (tests point it at a server on loopback). It is
     * taken literally: a file that names no server, or cannot be read, leaves the resolver with
     * none, where libevent (like glibc) would add 127.0.0.1. Whatever the parse reports (> 0:
     * a problem), what it did read is kept, and /etc/hosts is read either way. */
    const char *conf = getenv("AH_RESOLV_CONF");
    if (conf && *conf) {
        st->base = evdns_base_new(loop->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (st->base)
            (void)evdns_base_resolv_conf_parse(
                st->base, DNS_OPTIONS_ALL | DNS_OPTION_NAMESERVERS_NO_DEFAULT, conf);
    } else {
        st->base = evdns_base_new(loop->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                  EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    }
    if (!st->cache || !st->base) {
        dns_state_free(st);
        return NULL;
    }
    servers_read(st);
    evtimer_assign(&st->check_timer, loop->base, check_timer_cb, st);
    ah__loop_set_slot(loop, AH__SLOT_DNS, st, dns_state_free);
    return st;
}

static size_t slot_of(const char *host, int family)
{
    uint32_t h = 2166136261u ^ (uint32_t)family;
    for (const unsigned char *p = (const unsigned char *)host; *p; p++)
        h = (h ^ (uint32_t)(*p | 0x20)) * 16777619u; /* names are case-insensitive */
    return h % CACHE_SLOTS;
}

static void set_port(ah_addrs *a, uint16_t port)
{
    for (size_t i = 0; i < a->count; i++) {
        struct sockaddr *sa = (struct sockaddr *)&a->addr[i];
        if (sa->sa_family == AF_INET)
            ((struct sockaddr_in *)sa)->sin_port = htons(port);
        else if (sa->sa_family == AF_INET6)
            ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
    }
}

/* Order to try: alternate families, starting with the resolver's first (RFC 8305 §4). */
static void take_answer(ah_addrs *out, struct evutil_addrinfo *res)
{
    struct evutil_addrinfo *v6[AH_DNS_MAX_ADDRS], *v4[AH_DNS_MAX_ADDRS];
    size_t n6 = 0, n4 = 0;
    int first = res ? res->ai_family : AF_INET6;
    for (struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET6 && n6 < AH_DNS_MAX_ADDRS)
            v6[n6++] = ai;
        else if (ai->ai_family == AF_INET && n4 < AH_DNS_MAX_ADDRS)
            v4[n4++] = ai;
    }
    out->count = 0;
    size_t i6 = 0, i4 = 0;
    int turn6 = first == AF_INET6;
    while (out->count < AH_DNS_MAX_ADDRS && (i6 < n6 || i4 < n4)) {
        struct evutil_addrinfo *ai;
        if ((turn6 && i6 < n6) || i4 >= n4)
            ai = v6[i6++];
        else
            ai = v4[i4++];
        turn6 = !turn6;
        /* duplicates (one per socktype) are dropped */
        int dup = 0;
        for (size_t k = 0; k < out->count; k++)
            if (out->len[k] == ai->ai_addrlen &&
                memcmp(&out->addr[k], ai->ai_addr, ai->ai_addrlen) == 0)
                dup = 1;
        if (dup)
            continue;
        memcpy(&out->addr[out->count], ai->ai_addr, ai->ai_addrlen);
        out->len[out->count] = (socklen_t)ai->ai_addrlen;
        out->count++;
    }
}

static void on_answer(int err, struct evutil_addrinfo *res, void *arg)
{
    request *r = arg;
    int from_server = r->req != NULL; /* not set yet when the answer comes from /etc/hosts */
    r->req = NULL;                    /* evdns's last call for this request */
    if (!r->waiter) {
        /* The task gave up (cancel, timeout, no server to be reached): it is ours to free. */
        if (res)
            evutil_freeaddrinfo(res);
        free(r);
        return;
    }
    if (!r->done) {
        r->done = 1;
        if (err == 0 && res) {
            take_answer(&r->addrs, res);
            r->result = r->addrs.count ? (int)r->addrs.count : AH_EDNS;
        } else {
            /* No such name, no data, and evdns's own give-up (its timeouts, EVUTIL_EAI_FAIL)
             * alike: the name could not be resolved. The caller's timeout is AH_ETIMEDOUT. */
            r->result = AH_EDNS;
        }
        ah__wake(r->waiter, 0); /* no-op if it has not parked yet (synchronous answer) */
    }
    /* A server answered (if only "no such name"): it is there, so the next slow lookup waits
     * CHECK_AFTER_MS before a check, as usual, not none. */
    if (from_server && (err == 0 || err == EVUTIL_EAI_NONAME || err == EVUTIL_EAI_NODATA))
        r->st->suspect = 0;
    if (res)
        evutil_freeaddrinfo(res);
}

static int numeric(const char *host, uint16_t port, int family, ah_addrs *out)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->addr[0];
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->addr[0];
    memset(&out->addr[0], 0, sizeof(out->addr[0]));
    if (family != AF_INET6 && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        out->len[0] = sizeof(*v4);
    } else if (family != AF_INET && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        out->len[0] = sizeof(*v6);
    } else {
        return 0;
    }
    out->count = 1;
    return 1;
}

int ah_dns_resolve(const char *host, uint16_t port, int family, int64_t timeout_ms, ah_addrs *out)
{
    if (!host || !out)
        return AH_EINVAL;
    /* "[::1]" as written in URLs */
    char bare[HOST_MAX + 1];
    size_t hlen = strlen(host);
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        if (hlen - 2 > HOST_MAX)
            return AH_EDNS;
        memcpy(bare, host + 1, hlen - 2);
        bare[hlen - 2] = '\0';
        host = bare;
        hlen -= 2;
    }
    if (hlen == 0 || hlen > HOST_MAX)
        return AH_EDNS;
    if (numeric(host, port, family, out))
        return 1; /* no lookup, so no task needed */
    ah_task *t = ah__current();
    if (!t)
        return AH_EINVAL;
    int rc = ah__check(t);
    if (rc < 0)
        return rc;

    dns_state *st = state(t->loop);
    if (!st)
        return AH_ENOMEM;
    cache_entry *ce = &st->cache[slot_of(host, family)];
    int64_t now = ah_now_ms();
    if (ce->expires > now && ce->family == family && strcasecmp(ce->host, host) == 0) {
        *out = ce->addrs;
        set_port(out, port);
        return (int)out->count;
    }

    request *r = calloc(1, sizeof(*r));
    if (!r)
        return AH_ENOMEM;
    r->waiter = t;
    r->st = st;
    struct evutil_addrinfo hints = {
        .ai_family = family, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    /* NULL when on_answer has already run (it clears r->req too). */
    r->req = evdns_getaddrinfo(st->base, host, NULL, &hints, on_answer, r);
    rc = 0;
    if (!r->done) {
        if (st->nservers == 0 || now < st->down_until) {
            /* No server to ask (names in /etc/hosts were answered above): fail now rather
             * than wait for evdns's timeouts. (evdns may have sent its query already; the
             * cancel below drops it, and a server that is not there costs nothing.) */
            r->done = 1;
            r->result = AH_EDNS;
        } else {
            waiting_add(st, r);
            rc = ah__park(t, NULL, -1, 0, timeout_ms);
            waiting_remove(st, r);
        }
    }
    rc = r->done ? r->result : rc < 0 ? rc : AH_EDNS;
    if (rc > 0) {
        snprintf(ce->host, sizeof(ce->host), "%s", host);
        ce->family = family;
        ce->expires = now + CACHE_TTL_MS;
        ce->addrs = r->addrs;
        *out = r->addrs;
        set_port(out, port);
    }
    if (r->req) {
        /* evdns still has it: walk away; the callback that cancelling promises frees r. */
        r->waiter = NULL;
        evdns_getaddrinfo_cancel(r->req);
    } else {
        free(r);
    }
    return rc;
}

void ah_dns_cache_clear(void)
{
    ah_loop *loop = ah_loop_current();
    dns_state *st = loop ? ah__loop_slot(loop, AH__SLOT_DNS) : NULL;
    if (st)
        memset(st->cache, 0, CACHE_SLOTS * sizeof(cache_entry));
}
