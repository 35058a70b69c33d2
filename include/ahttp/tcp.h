/* ahttp: TCP connections and listeners. */
#ifndef AHTTP_TCP_H
#define AHTTP_TCP_H

#include <sys/socket.h>

#include <ahttp/common.h>
#include <ahttp/stream.h>

AH_BEGIN_DECLS

/** Options for ah_tcp_connect; zero means the default. */
typedef struct ah_tcp_connect_opts {
    int64_t connect_timeout_ms;   /**< per address tried (default 10 s; < 0 none) */
    int64_t dns_timeout_ms;       /**< name resolution (default 10 s; < 0 none) */
    int family;                   /**< AF_UNSPEC (default), AF_INET or AF_INET6 */
    int nodelay;                  /**< TCP_NODELAY [on]; < 0: leave Nagle's algorithm on */
    const ah_stream_opts *stream; /**< options for the stream made */
} ah_tcp_connect_opts;

/** Connect to host:port. host is a name (resolved asynchronously, cached) or a numeric IPv4/IPv6
 * address. Each resolved address is tried in turn, IPv6 and IPv4 interleaved, each with the
 * connect timeout. On success *out is a stream the caller owns (ah_stream_close).
 * Errors: AH_EDNS, AH_ECONNREFUSED, AH_ETIMEDOUT, AH_ECANCELED, other -errno. */
AH_NODISCARD AH_EXPORT int ah_tcp_connect(const char *host, uint16_t port,
                                          const ah_tcp_connect_opts *opts, ah_stream **out);

/** Wrap an already connected, non-blocking socket in a stream. The stream owns fd. */
AH_EXPORT ah_stream *ah_tcp_stream_new(int fd, const ah_stream_opts *opts);

/** Options for ah_tcp_listen. */
typedef struct ah_tcp_listen_opts {
    int backlog;                  /**< listen backlog (default 1024) */
    int reuse_port;               /**< 1: SO_REUSEPORT, for several listeners on one port */
    int v6only;                   /**< 1: IPV6_V6ONLY on an IPv6 listener */
    const ah_stream_opts *stream; /**< options for accepted streams */
} ah_tcp_listen_opts;

/** A listening socket (opaque). */
typedef struct ah_listener ah_listener;

/** Listen on host:port (host NULL or "" or "*": all addresses, IPv6 and IPv4; port 0: an
 * ephemeral port, see ah_listener_port). SO_REUSEADDR is always set. Returns 0 and *out, or
 * < 0 (AH_EDNS, -EADDRINUSE, ...). */
AH_NODISCARD AH_EXPORT int ah_tcp_listen(const char *host, uint16_t port,
                                         const ah_tcp_listen_opts *opts, ah_listener **out);

/** Wait for a connection. Returns 0 and a stream the caller owns; peer (may be NULL) receives
 * its address. When the process runs out of file descriptors the listener pauses (it does not
 * spin) and retries, so connections already open keep being served. */
AH_NODISCARD AH_EXPORT int ah_listener_accept(ah_listener *l, ah_stream **out,
                                              struct sockaddr_storage *peer);

/** The local port (useful after listening on port 0). */
AH_EXPORT uint16_t ah_listener_port(const ah_listener *l);

/** The listening socket. */
AH_EXPORT int ah_listener_fd(const ah_listener *l);

/** Close the listener; a task blocked in ah_listener_accept gets AH_ECLOSED. A task that may call
 * ah_listener_accept again (one between accepts, e.g. serving the last connection) must be
 * stopped first (cancel and join it): the listener is freed here. */
AH_EXPORT void ah_listener_close(ah_listener *l);

/** Format an address as "1.2.3.4:80" or "[::1]:80" into buf (size >= 64). Returns buf. */
AH_EXPORT char *ah_sockaddr_str(const struct sockaddr *sa, char *buf, size_t size);

AH_END_DECLS

#endif
