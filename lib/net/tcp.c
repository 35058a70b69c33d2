/* TCP: connecting (every resolved address in turn) and listening/accepting. */
#include "internal.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_DNS_TIMEOUT_MS 10000
#define DEFAULT_BACKLOG 1024
/* How long accept pauses when the process is out of file descriptors. */
#define EMFILE_BACKOFF_MS 50

static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

ah_stream *ah_tcp_stream_new(int fd, const ah_stream_opts *opts)
{
    ah__sock *s = ah__sock_new(fd);
    return s ? ah_stream_new(&ah__sock_ops, s, opts) : NULL;
}

static int64_t timeout_opt(int64_t v, int64_t dflt) { return v == 0 ? dflt : v; }

/* One attempt; returns a connected socket or < 0. */
static int connect_one(const struct sockaddr *sa, socklen_t len, int64_t timeout_ms)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return -errno;
    if (connect(fd, sa, len) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        int err = -errno;
        close(fd);
        return err;
    }
    int rc = ah_wait_fd(fd, AH_WRITE, timeout_ms);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    int err = 0;
    socklen_t elen = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        err = errno;
    if (err) {
        close(fd);
        return -err;
    }
    return fd;
}

int ah_tcp_connect(const char *host, uint16_t port, const ah_tcp_connect_opts *opts,
                   ah_stream **out)
{
    if (!host || !out)
        return AH_EINVAL;
    *out = NULL;
    int64_t connect_timeout =
        timeout_opt(opts ? opts->connect_timeout_ms : 0, DEFAULT_CONNECT_TIMEOUT_MS);
    int64_t dns_timeout = timeout_opt(opts ? opts->dns_timeout_ms : 0, DEFAULT_DNS_TIMEOUT_MS);
    ah_addrs addrs;
    int rc = ah_dns_resolve(host, port, opts ? opts->family : AF_UNSPEC, dns_timeout, &addrs);
    if (rc < 0)
        return rc;
    rc = AH_ECONNREFUSED;
    for (size_t i = 0; i < addrs.count; i++) {
        int fd = connect_one((struct sockaddr *)&addrs.addr[i], addrs.len[i], connect_timeout);
        if (fd >= 0) {
            if (!(opts && opts->nodelay < 0))
                set_nodelay(fd);
            *out = ah_tcp_stream_new(fd, opts ? opts->stream : NULL);
            return *out ? 0 : AH_ENOMEM;
        }
        rc = fd;
        if (rc == AH_ECANCELED || ah_task_cancelled())
            return AH_ECANCELED;
        if (ah__check(ah__current()) < 0)
            return AH_ETIMEDOUT; /* the caller's deadline, not this address */
    }
    return rc;
}

/* ---- listening ---- */

struct ah_listener {
    ah__sock *sock;
    uint16_t port;
    const ah_stream_opts *stream_opts;
};

int ah__listen_socket(const struct sockaddr *sa, socklen_t len, const ah_tcp_listen_opts *opts)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (opts && opts->reuse_port)
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (sa->sa_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, opts && opts->v6only ? &one : &zero,
                         sizeof(int));
    int backlog = opts && opts->backlog > 0 ? opts->backlog : DEFAULT_BACKLOG;
    if (bind(fd, sa, len) != 0 || listen(fd, backlog) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int ah__listener_wrap(int fd, const ah_tcp_listen_opts *opts, ah_listener **out)
{
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    ah_listener *l = calloc(1, sizeof(*l));
    if (!l) {
        close(fd);
        return AH_ENOMEM;
    }
    if (!(l->sock = ah__sock_new(fd))) { /* closes fd */
        free(l);
        return AH_ENOMEM;
    }
    l->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                               : ((struct sockaddr_in6 *)&bound)->sin6_port);
    l->stream_opts = opts ? opts->stream : NULL;
    *out = l;
    return 0;
}

void ah__any_address(struct sockaddr_storage *ss, socklen_t *len, int family, uint16_t port)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_any;
        v6->sin6_port = htons(port);
        *len = sizeof(*v6);
    } else {
        struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        v4->sin_port = htons(port);
        *len = sizeof(*v4);
    }
}

int ah_tcp_listen(const char *host, uint16_t port, const ah_tcp_listen_opts *opts,
                  ah_listener **out)
{
    if (!out)
        return AH_EINVAL;
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t len;
    int any = !host || !*host || strcmp(host, "*") == 0;
    int fd;
    if (any) {
        /* all addresses, IPv6 and IPv4; IPv4 only where the machine has no IPv6 */
        ah__any_address(&ss, &len, AF_INET6, port);
        fd = ah__listen_socket((struct sockaddr *)&ss, len, opts);
        if (fd == -EAFNOSUPPORT) {
            ah__any_address(&ss, &len, AF_INET, port);
            fd = ah__listen_socket((struct sockaddr *)&ss, len, opts);
        }
    } else {
        ah_addrs addrs;
        int rc = ah_dns_resolve(host, port, AF_UNSPEC, DEFAULT_DNS_TIMEOUT_MS, &addrs);
        if (rc < 0)
            return rc;
        fd = ah__listen_socket((struct sockaddr *)&addrs.addr[0], addrs.len[0], opts);
    }
    if (fd < 0)
        return fd;
    return ah__listener_wrap(fd, opts, out);
}

int ah_listener_accept(ah_listener *l, ah_stream **out, struct sockaddr_storage *peer)
{
    if (!l || !out)
        return AH_EINVAL;
    *out = NULL;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(l->sock->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            set_nodelay(fd);
            if (peer)
                memcpy(peer, &ss, sizeof(ss));
            *out = ah_tcp_stream_new(fd, l->stream_opts);
            return *out ? 0 : AH_ENOMEM;
        }
        int rc;
        switch (errno) {
        case EINTR:
        case ECONNABORTED: continue;
        case EAGAIN: rc = ah__sock_wait(l->sock, AH_READ, -1); break;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            /* Out of descriptors: the pending connection stays in the backlog. Pause rather
             * than spin on a listener that stays readable; open connections keep running. */
            rc = ah_sleep(EMFILE_BACKOFF_MS);
            break;
        default: return -errno;
        }
        if (rc < 0)
            return rc;
    }
}

uint16_t ah_listener_port(const ah_listener *l) { return l->port; }

int ah_listener_fd(const ah_listener *l) { return l->sock->fd; }

void ah_listener_close(ah_listener *l)
{
    if (!l)
        return;
    ah__sock_ops.close(l->sock);
    free(l);
}

char *ah_sockaddr_str(const struct sockaddr *sa, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s:%u", ip, ntohs(v4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, size, "[%s]:%u", ip, ntohs(v6->sin6_port));
    } else {
        snprintf(buf, size, "(unknown address family %d)", sa->sa_family);
    }
    return buf;
}
