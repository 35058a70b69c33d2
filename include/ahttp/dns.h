/* ahttp: asynchronous name resolution (libevent's evdns) with a small TTL cache. */
#ifndef AHTTP_DNS_H
#define AHTTP_DNS_H

#include <sys/socket.h>

#include <ahttp/common.h>

AH_BEGIN_DECLS

#define AH_DNS_MAX_ADDRS 16

/** The addresses of one name, in the order to try them. */
typedef struct ah_addrs {
    size_t count;
    struct sockaddr_storage addr[AH_DNS_MAX_ADDRS];
    socklen_t len[AH_DNS_MAX_ADDRS];
} ah_addrs;

/** Resolve host for port (family AF_UNSPEC, AF_INET or AF_INET6) into *out. Numeric addresses
 * are not looked up (and need no task); /etc/hosts is honoured; answers are cached per loop for
 * 60 s (libevent does not report record TTLs) in 1,024 slots chosen by hash, so two names that
 * collide replace each other. timeout_ms < 0: no limit. Returns the number of addresses, or
 * AH_EDNS: no such name, no address, the resolver gave up (its own timeouts, resolv.conf's
 * "options timeout: attempts:"), or no name server to ask — none configured, or none can be
 * reached (a lookup still waiting after 50 ms has the servers checked; when each one is
 * unreachable, that lookup and the others waiting fail at once, and new ones for a second).
 * AH_ETIMEDOUT: timeout_ms or the task's deadline passed first. AH_ECANCELED; AH_EINVAL (a name
 * to look up outside a task); AH_ENOMEM. */
AH_NODISCARD AH_EXPORT int ah_dns_resolve(const char *host, uint16_t port, int family,
                                          int64_t timeout_ms, ah_addrs *out);

/** Forget every cached answer of the current loop. */
AH_EXPORT void ah_dns_cache_clear(void);

AH_END_DECLS

#endif
