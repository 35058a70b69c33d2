/* Buffered streams over a transport.
 *
 * The read buffer is one contiguous block that parsers read in place. It is allocated on the
 * first read and grows by doubling up to max_read_buffer: the cap is checked before every
 * allocation, so a peer cannot make us buffer more than that. */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_READ_MAX (1024 * 1024)
#define DEFAULT_WRITE_MAX (256 * 1024)
#define FIRST_READ_CAP (16 * 1024)
/* A read at least this large into an empty buffer goes straight to the caller's memory. */
#define DIRECT_READ_MIN 4096

struct ah_stream {
    const ah_transport_ops *ops;
    void *io;
    char *rbuf;
    size_t rcap, rstart, rend, rmax;
    char *wbuf;
    size_t wlen, wcap, wmax;
    int corked;
    int eof;
    int64_t read_timeout_ms, write_timeout_ms;
};

static int64_t opt_timeout(int64_t v) { return v == 0 ? -1 : v; }

ah_stream *ah_stream_new(const ah_transport_ops *ops, void *io, const ah_stream_opts *opts)
{
    ah_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        ops->close(io);
        return NULL;
    }
    s->ops = ops;
    s->io = io;
    s->rmax = opts && opts->max_read_buffer ? opts->max_read_buffer : DEFAULT_READ_MAX;
    s->wmax = opts && opts->max_write_buffer ? opts->max_write_buffer : DEFAULT_WRITE_MAX;
    s->read_timeout_ms = opts ? opt_timeout(opts->read_timeout_ms) : -1;
    s->write_timeout_ms = opts ? opt_timeout(opts->write_timeout_ms) : -1;
    return s;
}

void ah_stream_set_timeouts(ah_stream *s, int64_t read_timeout_ms, int64_t write_timeout_ms)
{
    s->read_timeout_ms = opt_timeout(read_timeout_ms);
    s->write_timeout_ms = opt_timeout(write_timeout_ms);
}

const ah_transport_ops *ah__stream_ops(const ah_stream *s) { return s->ops; }

int ah_stream_fd(ah_stream *s) { return s->ops->fd ? s->ops->fd(s->io) : -1; }

void *ah_stream_io(ah_stream *s) { return s->io; }

int ah_stream_eof(const ah_stream *s) { return s->eof; }

size_t ah_stream_buffered(ah_stream *s, const char **data)
{
    /* before the first read there is no buffer: NULL + 0 is undefined in C (fuzzing's F0) */
    *data = s->rbuf ? s->rbuf + s->rstart : "";
    return s->rend - s->rstart;
}

void ah_stream_consume(ah_stream *s, size_t n)
{
    s->rstart += n;
    if (s->rstart >= s->rend)
        s->rstart = s->rend = 0;
}

/* Room at the end of the buffer for at least one more byte, within the cap. */
static int make_room(ah_stream *s)
{
    if (s->rend < s->rcap)
        return 0;
    if (s->rstart > 0) {
        memmove(s->rbuf, s->rbuf + s->rstart, s->rend - s->rstart);
        s->rend -= s->rstart;
        s->rstart = 0;
        return 0;
    }
    if (s->rcap >= s->rmax)
        return AH_ETOOBIG;
    size_t cap = s->rcap ? s->rcap * 2 : FIRST_READ_CAP;
    if (cap > s->rmax)
        cap = s->rmax;
    char *p = realloc(s->rbuf, cap);
    if (!p)
        return AH_ENOMEM;
    s->rbuf = p;
    s->rcap = cap;
    return 0;
}

static int fill_timeout(ah_stream *s, int64_t timeout_ms)
{
    int rc = make_room(s);
    if (rc < 0)
        return rc;
    size_t room = s->rcap - s->rend;
    if (room > INT_MAX)
        room = INT_MAX;
    int n = s->ops->read(s->io, s->rbuf + s->rend, room, timeout_ms);
    if (n > 0)
        s->rend += (size_t)n;
    else if (n == 0)
        s->eof = 1;
    return n;
}

static int fill(ah_stream *s, int64_t until) { return fill_timeout(s, ah__remaining(until)); }

int ah__stream_fill_nowait(ah_stream *s) { return fill_timeout(s, AH__NOWAIT); }

int ah__stream_fill_nowait_before_write(ah_stream *s)
{
    if (s->ops == &ah__sock_ops) {
        const ah__sock *k = s->io;
        if (k->ev_added && !k->peer_closed && (!k->rd_ready || k->rd_short))
            return AH_EAGAIN;
    }
    return fill_timeout(s, AH__NOWAIT);
}

void ah__stream_shrink(ah_stream *s)
{
    if (s->rbuf && s->rstart == s->rend) {
        free(s->rbuf);
        s->rbuf = NULL;
        s->rcap = s->rstart = s->rend = 0;
    }
    if (s->wbuf && s->wlen == 0) {
        free(s->wbuf);
        s->wbuf = NULL;
        s->wcap = 0;
    }
}

int ah_stream_fill(ah_stream *s) { return fill(s, ah__until(s->read_timeout_ms)); }

/* Read some bytes by the absolute deadline `until`. */
static int read_some(ah_stream *s, void *buf, size_t len, int64_t until)
{
    if (len == 0)
        return 0;
    if (len > INT_MAX)
        len = INT_MAX;
    if (s->rend == s->rstart) {
        if (s->eof)
            return 0;
        if (len >= DIRECT_READ_MIN) {
            int n = s->ops->read(s->io, buf, len, ah__remaining(until));
            if (n == 0)
                s->eof = 1;
            return n;
        }
        int n = fill(s, until);
        if (n <= 0)
            return n;
    }
    size_t have = s->rend - s->rstart;
    size_t n = have < len ? have : len;
    memcpy(buf, s->rbuf + s->rstart, n);
    ah_stream_consume(s, n);
    return (int)n;
}

int ah_stream_read(ah_stream *s, void *buf, size_t len)
{
    return read_some(s, buf, len, ah__until(s->read_timeout_ms));
}

int ah_stream_read_exactly(ah_stream *s, void *buf, size_t len)
{
    if (len > INT_MAX)
        return AH_EINVAL;
    /* The stream's read timeout bounds the whole operation, not each piece. Nothing of s is
     * touched after a failed read: another task may have closed it meanwhile. */
    int64_t until = ah__until(s->read_timeout_ms);
    size_t got = 0;
    while (got < len) {
        int n = read_some(s, (char *)buf + got, len - got, until);
        if (n == 0)
            return AH_EEOF;
        if (n < 0)
            return n;
        got += (size_t)n;
    }
    return (int)len;
}

int ah_stream_peek(ah_stream *s, size_t min, const char **data, size_t *len)
{
    if (min > s->rmax)
        return AH_ETOOBIG;
    int64_t until = ah__until(s->read_timeout_ms);
    while (s->rend - s->rstart < (min ? min : 1)) {
        if (s->eof)
            break;
        int n = fill(s, until);
        if (n < 0)
            return n;
    }
    *data = s->rbuf ? s->rbuf + s->rstart : "";
    *len = s->rend - s->rstart;
    if (*len < (min ? min : 1))
        return AH_EEOF;
    return *len > INT_MAX ? INT_MAX : (int)*len;
}

int ah_stream_read_until(ah_stream *s, const char *delim, size_t delim_len, char *buf, size_t max)
{
    if (delim_len == 0 || max > INT_MAX)
        return AH_EINVAL;
    int64_t until = ah__until(s->read_timeout_ms);
    size_t scanned = 0; /* bytes already searched without a match */
    for (;;) {
        size_t have = s->rend - s->rstart;
        const char *base = s->rbuf + s->rstart;
        size_t from = scanned > delim_len ? scanned - delim_len + 1 : 0;
        size_t limit = have < max ? have : max;
        if (limit >= delim_len) {
            const char *hit = memmem(base + from, limit - from, delim, delim_len);
            if (hit) {
                size_t n = (size_t)(hit - base) + delim_len;
                memcpy(buf, base, n);
                ah_stream_consume(s, n);
                return (int)n;
            }
        }
        if (have >= max)
            return AH_ETOOBIG;
        scanned = have;
        if (s->eof)
            return AH_EEOF;
        int n = fill(s, until);
        if (n == AH_ETOOBIG)
            return AH_ETOOBIG;
        if (n < 0)
            return n;
    }
}

/* ---- writing ---- */

static int send_all(ah_stream *s, const struct iovec *extra, int extra_cnt)
{
    int64_t timeout = s->write_timeout_ms;
    if (s->wlen == 0)
        return extra_cnt ? s->ops->writev(s->io, extra, extra_cnt, timeout) : 0;
    struct iovec iov[16];
    int rc;
    iov[0] = (struct iovec){s->wbuf, s->wlen};
    /* Emptied before the transport runs: if another task closes s while this write waits,
     * nothing here touches s afterwards. */
    s->wlen = 0;
    if (extra_cnt < 16) {
        for (int i = 0; i < extra_cnt; i++)
            iov[i + 1] = extra[i];
        rc = s->ops->writev(s->io, iov, extra_cnt + 1, timeout);
    } else {
        rc = s->ops->writev(s->io, iov, 1, timeout);
        if (rc == 0)
            rc = s->ops->writev(s->io, extra, extra_cnt, timeout);
    }
    return rc;
}

static int buffer_out(ah_stream *s, const struct iovec *iov, int iovcnt, size_t total)
{
    if (s->wlen + total > s->wcap) {
        size_t cap = s->wcap ? s->wcap : 4096;
        while (cap < s->wlen + total)
            cap *= 2;
        char *p = realloc(s->wbuf, cap);
        if (!p)
            return AH_ENOMEM;
        s->wbuf = p;
        s->wcap = cap;
    }
    for (int i = 0; i < iovcnt; i++) {
        memcpy(s->wbuf + s->wlen, iov[i].iov_base, iov[i].iov_len);
        s->wlen += iov[i].iov_len;
    }
    return 0;
}

int ah_stream_writev(ah_stream *s, const struct iovec *iov, int iovcnt)
{
    if (s->corked) {
        size_t total = 0;
        for (int i = 0; i < iovcnt; i++)
            total += iov[i].iov_len;
        if (s->wlen + total <= s->wmax)
            return buffer_out(s, iov, iovcnt, total);
    }
    return send_all(s, iov, iovcnt);
}

int ah_stream_write(ah_stream *s, const void *buf, size_t len)
{
    struct iovec iov = {(void *)buf, len};
    return ah_stream_writev(s, &iov, 1);
}

void ah_stream_cork(ah_stream *s) { s->corked = 1; }

int ah_stream_flush(ah_stream *s) { return send_all(s, NULL, 0); }

int ah_stream_uncork(ah_stream *s)
{
    s->corked = 0;
    return ah_stream_flush(s);
}

int ah_stream_shutdown_write(ah_stream *s)
{
    int rc = ah_stream_flush(s);
    if (rc < 0)
        return rc;
    return s->ops->shutdown ? s->ops->shutdown(s->io, s->write_timeout_ms) : 0;
}

void ah_stream_close(ah_stream *s)
{
    if (!s)
        return;
    s->ops->close(s->io);
    free(s->rbuf);
    free(s->wbuf);
    free(s);
}
