/* Asynchronous name resolution with evdns_getaddrinfo and a small per-loop cache.
 *
 * Two libevent quirks shape this file: the callback may run before evdns_getaddrinfo returns
 * (numeric hosts, /etc/hosts, errors), and a cancelled request still calls back (with
 * EVUTIL_EAI_CANCEL). So each request lives on the heap and is freed by its callback once the
 * waiting task has either taken the answer or walked away. */
#include "internal.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS 1024
#define CACHE_TTL_MS (60 * 1000)
#define HOST_MAX 255

typedef struct cache_entry {
    char host[HOST_MAX + 1];
    int family;
    int64_t expires;
    ah_addrs addrs; /* ports zero */
} cache_entry;

typedef struct dns_state {
    struct evdns_base *base;
    cache_entry *cache; /* CACHE_SLOTS entries, direct-mapped by hash */
} dns_state;

typedef struct request {
    ah_task *waiter; /* NULL once the task gave up */
    int done;
    int result;
    ah_addrs addrs;
    struct evdns_getaddrinfo_request *req;
} request;

static void dns_state_free(void *p)
{
    dns_state *st = p;
    if (st->base)
        evdns_base_free(st->base, 1);
    free(st->cache);
    free(st);
}

static dns_state *state(ah_loop *loop)
{
    dns_state *st = ah__loop_slot(loop, AH__SLOT_DNS);
    if (st)
        return st;
    st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->cache = calloc(CACHE_SLOTS, sizeof(cache_entry));
    /* DISABLE_WHEN_INACTIVE: an idle resolver holds no events, so it neither keeps a finished
     * loop alive nor hides a deadlock. Name servers and /etc/hosts come from the system. */
    /* AH_RESOLV_CONF names another resolv.conf (tests point it at a server on loopback). */
    const char *conf = getenv("AH_RESOLV_CONF");
    if (conf && *conf) {
        st->base = evdns_base_new(loop->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (st->base && evdns_base_resolv_conf_parse(st->base, DNS_OPTIONS_ALL, conf) != 0) {
            evdns_base_free(st->base, 0);
            st->base = NULL;
        }
    } else {
        st->base = evdns_base_new(loop->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                  EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    }
    if (!st->cache || !st->base) {
        dns_state_free(st);
        return NULL;
    }
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
    if (!r->waiter) {
        /* The task gave up (cancel, timeout); this is the promised last call. */
        if (res)
            evutil_freeaddrinfo(res);
        free(r);
        return;
    }
    r->done = 1;
    r->req = NULL;
    if (err == 0 && res) {
        take_answer(&r->addrs, res);
        r->result = r->addrs.count ? (int)r->addrs.count : AH_EDNS;
    } else {
        r->result = AH_EDNS;
    }
    if (res)
        evutil_freeaddrinfo(res);
    ah__wake(r->waiter, 0); /* no-op if it has not parked yet (synchronous answer) */
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
    struct evutil_addrinfo hints = {
        .ai_family = family, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(st->base, host, NULL, &hints, on_answer, r);
    if (!r->done) {
        r->req = req;
        rc = ah__park(t, NULL, -1, 0, timeout_ms);
        if (!r->done) {
            /* Walk away; the callback that cancelling promises frees r. */
            r->waiter = NULL;
            if (r->req)
                evdns_getaddrinfo_cancel(r->req);
            return rc < 0 ? rc : AH_EDNS;
        }
    }
    rc = r->result;
    if (rc > 0) {
        snprintf(ce->host, sizeof(ce->host), "%s", host);
        ce->family = family;
        ce->expires = now + CACHE_TTL_MS;
        ce->addrs = r->addrs;
        *out = r->addrs;
        set_port(out, port);
    }
    free(r);
    return rc;
}

void ah_dns_cache_clear(void)
{
    ah_loop *loop = ah_loop_current();
    dns_state *st = loop ? ah__loop_slot(loop, AH__SLOT_DNS) : NULL;
    if (st)
        memset(st->cache, 0, CACHE_SLOTS * sizeof(cache_entry));
}
