/* The TCP transport: non-blocking reads and writes that try first and wait only on EAGAIN. */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Whoever wakes a waiter takes it out of its slot, because by the time the waiter runs the
 * socket may be gone (closed by another task). */
static void sock_event(evutil_socket_t fd, short what, void *arg)
{
    ah__sock *s = arg;
    ah_task *reader = NULL, *writer = NULL;
    (void)fd;
    if (what & EV_CLOSED)
        s->peer_closed = 1;
    if (what & EV_READ) {
        s->rd_ready = 1;
        s->rd_short = 0;
    }
    if ((what & EV_READ) && s->reader) {
        reader = s->reader;
        s->reader = NULL;
    }
    if ((what & EV_WRITE) && s->writer) {
        writer = s->writer;
        s->writer = NULL;
    }
    if ((what & EV_READ) && !reader && s->on_readable) {
        void (*cb)(void *) = s->on_readable;
        s->on_readable = NULL;
        cb(s->on_readable_arg); /* may free s */
        return;
    }
    /* The reader may close (free) s: nothing below touches it. */
    if (reader)
        ah__resume_waiter(reader, AH_READ);
    if (writer)
        ah__resume_waiter(writer, AH_WRITE);
}

static void unslot_cancelled(ah_task *t) { *(ah_task **)t->wait_obj = NULL; }

ah__sock *ah__sock_new(int fd)
{
    ah__sock *s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        return NULL;
    }
    s->fd = fd;
    s->rd_ready = 1;
    return s;
}

int ah__sock_arm(ah__sock *s, ah_loop *loop)
{
    if (s->ev_added)
        return 0;
    s->loop = loop;
    event_assign(&s->ev, loop->base, s->fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                 sock_event, s);
    if (event_add(&s->ev, NULL) != 0)
        return AH_ENOMEM;
    s->ev_added = 1;
    return 0;
}

int ah__sock_wait(ah__sock *s, int what, int64_t timeout_ms)
{
    ah_task *t = ah__current();
    if (!t)
        return AH_EINVAL;
    if (t->cancelled && !t->shielded)
        return AH_ECANCELED;
    /* (a deadline already past: ah__park says so before suspending) */
    int rc;
    if ((rc = ah__sock_arm(s, t->loop)) < 0)
        return rc;
    ah_task **slot = what == AH_READ ? &s->reader : &s->writer;
    if (*slot)
        return AH_EBUSY; /* one reader and one writer at a time */
    *slot = t;
    t->wait_obj = slot;
    t->on_cancel = unslot_cancelled;
    rc = ah__park(t, NULL, -1, 0, timeout_ms);
    t->on_cancel = NULL;
    t->wait_obj = NULL;
    /* Our own timer (or a failure to park) resumed us: s is alive and still names us. */
    if (rc == AH_ETIMEDOUT || rc == AH_ENOMEM)
        *slot = NULL;
    return rc < 0 ? rc : 0;
}

static int sock_read(void *io, void *buf, size_t len, int64_t timeout_ms)
{
    ah__sock *s = io;
    int64_t until = INT64_MIN;
    if (len > INT_MAX)
        len = INT_MAX;
    for (;;) {
        if (s->rd_ready) {
            ssize_t n = recv(s->fd, buf, len, 0);
            if (n >= 0) {
                if (n > 0 && (size_t)n < len)
                    s->rd_short = 1;
                return (int)n;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -errno;
            if (s->ev_added) /* (trusted only while the loop watches for edges) */
                s->rd_ready = 0;
        }
        if (timeout_ms == AH__NOWAIT)
            return AH_EAGAIN;
        if (until == INT64_MIN) /* the clock is read only when there is waiting to do */
            until = ah__until(timeout_ms);
        int rc = ah__sock_wait(s, AH_READ, ah__remaining(until));
        if (rc < 0)
            return rc;
    }
}

static int sock_writev(void *io, const struct iovec *iov_in, int iovcnt, int64_t timeout_ms)
{
    ah__sock *s = io;
    struct iovec local[64];
    int64_t until = INT64_MIN; /* read from the clock if we have to wait */
    while (iovcnt > 0) {
        /* Work on a private copy so partial writes can advance it. */
        int n = iovcnt < 64 ? iovcnt : 64;
        memcpy(local, iov_in, (size_t)n * sizeof(*local));
        struct iovec *iov = local;
        int left = n;
        while (left > 0) {
            if (iov->iov_len == 0) {
                iov++;
                left--;
                continue;
            }
            struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)left};
            ssize_t w = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                    return -errno;
                if (until == INT64_MIN)
                    until = ah__until(timeout_ms);
                int rc = ah__sock_wait(s, AH_WRITE, ah__remaining(until));
                if (rc < 0)
                    return rc;
                continue;
            }
            size_t done = (size_t)w;
            while (left > 0 && done >= iov->iov_len) {
                done -= iov->iov_len;
                iov++;
                left--;
            }
            if (left > 0) {
                iov->iov_base = (char *)iov->iov_base + done;
                iov->iov_len -= done;
            }
        }
        iov_in += n;
        iovcnt -= n;
    }
    /* A read came back short, and the peer has now taken bytes from us: had it reset the
     * connection since, this write would have failed; had it sent a FIN, the loop reported
     * that (EV_CLOSED) or will; had it sent data, the loop will report that. So the receive
     * queue is empty until the loop says otherwise. (A short read alone does not tell: a reset
     * that came with the last bytes is reported as a plain read event, once.) */
    if (s->rd_short && s->ev_added && !s->peer_closed)
        s->rd_ready = 0;
    s->rd_short = 0;
    return 0;
}

static int sock_shutdown(void *io, int64_t timeout_ms)
{
    ah__sock *s = io;
    (void)timeout_ms;
    return shutdown(s->fd, SHUT_WR) == 0 ? 0 : -errno;
}

static void sock_close(void *io)
{
    ah__sock *s = io;
    if (s->ev_added)
        event_del(&s->ev);
    /* A task still waiting on this socket (another task closed it) must not hang. */
    if (s->reader) {
        s->reader->on_cancel = NULL;
        ah__wake(s->reader, AH_ECLOSED);
    }
    if (s->writer) {
        s->writer->on_cancel = NULL;
        ah__wake(s->writer, AH_ECLOSED);
    }
    close(s->fd);
    free(s);
}

static int sock_fd(void *io) { return ((ah__sock *)io)->fd; }

const ah_transport_ops ah__sock_ops = {
    .read = sock_read,
    .writev = sock_writev,
    .shutdown = sock_shutdown,
    .close = sock_close,
    .fd = sock_fd,
};

/* ---- watching an idle stream (no task reads it) ---- */

/* The TCP socket a stream runs on: its own, or the one under its TLS layer. */
static ah__sock *sock_under(ah_stream *s)
{
    for (int depth = 0; s && depth < 4; depth++) {
        if (ah__stream_ops(s) == &ah__sock_ops)
            return ah_stream_io(s);
        s = ah__tls_inner(s);
    }
    return NULL;
}

int ah__stream_watch(ah_stream *s, ah_loop *loop, void (*cb)(void *arg), void *arg)
{
    ah__sock *k = sock_under(s);
    if (!k)
        return AH_EINVAL;
    int rc = ah__sock_arm(k, loop);
    if (rc < 0)
        return rc;
    k->on_readable = cb;
    k->on_readable_arg = arg;
    return 0;
}

void ah__stream_unwatch(ah_stream *s)
{
    ah__sock *k = sock_under(s);
    if (k) {
        k->on_readable = NULL;
        k->on_readable_arg = NULL;
    }
}

int ah__stream_peer_closed(ah_stream *s)
{
    ah__sock *k = sock_under(s);
    return k ? k->peer_closed : 0;
}
