/* ahttp net internals shared by lib/net and lib/http. */
#ifndef AH_NET_INTERNAL_H
#define AH_NET_INTERNAL_H

#include "../runtime/internal.h"

#include <ahttp/dns.h>
#include <ahttp/stream.h>
#include <ahttp/tcp.h>

/* A non-blocking socket with its readiness events, registered once (edge-triggered) the first
 * time an operation would block; after that waiting costs no epoll_ctl. */
typedef struct ah__sock {
    int fd;
    ah_loop *loop;
    ah_task *reader, *writer; /* tasks waiting for readiness */
    struct event ev;          /* EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST */
    int ev_added;
    int peer_closed; /* the loop has seen the peer's FIN (EPOLLRDHUP), read or not */
    /* 0 once the receive queue is known empty, until the loop reports the socket readable: a
     * read then waits for that report instead of asking the kernel first. Known empty: a read
     * got EAGAIN, or came back short (rd_short: TCP returns fewer bytes than asked only when
     * it has no more) and a write has succeeded since (see sock_writev). */
    int rd_ready, rd_short;
    /* Called (once) when the socket turns readable while no task reads it: how an idle
     * keep-alive connection, which holds no task, is woken. */
    void (*on_readable)(void *arg);
    void *on_readable_arg;
} ah__sock;

/* A timeout value for transport reads meaning "do not wait": AH_EAGAIN instead. Our transports
 * honour it; others treat it as "no limit" like any negative timeout. */
#define AH__NOWAIT INT64_MIN

/* Read what the transport has without waiting: bytes added, 0 at end of stream, AH_EAGAIN if
 * nothing is there, AH_ETOOBIG if the buffer is full, or < 0. */
int ah__stream_fill_nowait(ah_stream *s);
/* As ah__stream_fill_nowait, for a caller that writes next (the server, before flushing the
 * responses to what it has read): on plain TCP, after a short read and no read event since, it
 * answers AH_EAGAIN without asking the kernel. Safe only because the write follows: a reset
 * that came with the last bytes makes that write fail. */
int ah__stream_fill_nowait_before_write(ah_stream *s);
/* Free the stream's buffers if they are empty (an idle connection keeps no buffer). */
void ah__stream_shrink(ah_stream *s);
/* Register the socket's readiness event now (so on_readable can fire). */
int ah__sock_arm(ah__sock *s, ah_loop *loop);

/* "Wake me when readable", for a connection that waits idle without a task (a server's kept-alive
 * connection, a client's pooled one): cb(arg) is called from the loop when the socket under s
 * (under its TLS layer too) turns readable or closes while no task reads it. The HTTP layer
 * uses these and never the socket itself. 0, or AH_EINVAL if s runs on no socket of ours. */
int ah__stream_watch(ah_stream *s, ah_loop *loop, void (*cb)(void *arg), void *arg);
/* Stop watching (nothing if s was not watched). */
void ah__stream_unwatch(ah_stream *s);
/* 1 once the loop has seen the peer close the socket under s (EPOLLRDHUP), read or not. */
int ah__stream_peer_closed(ah_stream *s);
/* The stream a TLS stream runs on, or NULL if s is not a TLS stream (tls.c). */
ah_stream *ah__tls_inner(ah_stream *s);

extern const ah_transport_ops ah__sock_ops;

/* The transport a stream runs on (to recognise, e.g., TLS streams). */
const ah_transport_ops *ah__stream_ops(const ah_stream *s);

/* Take ownership of fd (already non-blocking). NULL when out of memory (fd is closed then). */
ah__sock *ah__sock_new(int fd);
/* Wait until fd is ready for `what` (AH_READ or AH_WRITE). */
int ah__sock_wait(ah__sock *s, int what, int64_t timeout_ms);

/* A bound, listening, non-blocking socket for sa (SO_REUSEADDR; opts as in ah_tcp_listen), or
 * < 0. */
int ah__listen_socket(const struct sockaddr *sa, socklen_t len, const ah_tcp_listen_opts *opts);
/* Wrap a listening socket (taken over, closed on failure). */
int ah__listener_wrap(int fd, const ah_tcp_listen_opts *opts, ah_listener **out);
/* The wildcard address of family for port. */
void ah__any_address(struct sockaddr_storage *ss, socklen_t *len, int family, uint16_t port);

/* Remaining milliseconds until `until` (ah_now_ms() based; INT64_MAX: none) as a timeout: -1
 * for none, 0 if passed. */
static inline int64_t ah__remaining(int64_t until)
{
    if (until == INT64_MAX)
        return -1;
    int64_t left = until - ah_now_ms();
    return left > 0 ? left : 0;
}

static inline int64_t ah__until(int64_t timeout_ms)
{
    return timeout_ms < 0 ? INT64_MAX : ah_now_ms() + timeout_ms;
}

#endif
