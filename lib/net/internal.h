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
    struct event ev;          /* EV_READ | EV_WRITE | EV_ET | EV_PERSIST */
    int ev_added;
} ah__sock;

extern const ah_transport_ops ah__sock_ops;

/* The transport a stream runs on (to recognise, e.g., TLS streams). */
const ah_transport_ops *ah__stream_ops(const ah_stream *s);

/* Take ownership of fd (already non-blocking). NULL when out of memory (fd is closed then). */
ah__sock *ah__sock_new(int fd);
/* Wait until fd is ready for `what` (AH_READ or AH_WRITE). */
int ah__sock_wait(ah__sock *s, int what, int64_t timeout_ms);

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
