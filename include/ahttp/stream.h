/* ahttp: buffered byte streams over a transport (TCP, TLS, or one of your own).
 *
 * A stream has one read buffer (contiguous, capped) and an optional write buffer for corking.
 * One task may read and one task may write a stream at the same time. Every call that may wait
 * is an await point: it returns AH_ECANCELED / AH_ETIMEDOUT like any other, and honours the
 * stream's per-operation timeouts and the task's deadline scope. */
#ifndef AHTTP_STREAM_H
#define AHTTP_STREAM_H

#include <sys/uio.h>

#include <ahttp/common.h>
#include <ahttp/error.h>

AH_BEGIN_DECLS

/** A transport: how a stream moves bytes. Its functions run in the calling task and may await. */
typedef struct ah_transport_ops {
    /** Read up to len bytes into buf: > 0 bytes read, 0 at end of stream, < 0 an AH_E* code.
     * timeout_ms < 0: no limit. */
    int (*read)(void *io, void *buf, size_t len, int64_t timeout_ms);
    /** Write every byte of iov[0..iovcnt): 0 or < 0. */
    int (*writev)(void *io, const struct iovec *iov, int iovcnt, int64_t timeout_ms);
    /** End the write direction (TCP FIN, TLS close_notify): 0 or < 0. May be NULL (then
     * ah_stream_shutdown_write only flushes). */
    int (*shutdown)(void *io, int64_t timeout_ms);
    /** Release io (closing its socket). Must not await. */
    void (*close)(void *io);
    /** The socket beneath, or -1. Optional (may be NULL). */
    int (*fd)(void *io);
} ah_transport_ops;

/** Options for a stream; zero means the default. */
typedef struct ah_stream_opts {
    size_t max_read_buffer;   /**< cap on buffered input (default 1 MiB) */
    size_t max_write_buffer;  /**< cap on corked output before a forced flush (default 256 KiB) */
    int64_t read_timeout_ms;  /**< per read operation; 0 = default (none), < 0 none */
    int64_t write_timeout_ms; /**< per write operation; 0 = default (none), < 0 none */
} ah_stream_opts;

/** A buffered stream (opaque). */
typedef struct ah_stream ah_stream;

/** Wrap a transport. The stream owns io from now on (ah_stream_close closes it), even when this
 * fails (returns NULL, out of memory). opts may be NULL. */
AH_EXPORT ah_stream *ah_stream_new(const ah_transport_ops *ops, void *io,
                                   const ah_stream_opts *opts);

/** Read at least 1 and at most len bytes (buffered bytes first). Returns the count, 0 at end of
 * stream, or < 0. */
AH_NODISCARD AH_EXPORT int ah_stream_read(ah_stream *s, void *buf, size_t len);

/** Read exactly len bytes. Returns len, AH_EEOF if the stream ended first (the partial bytes are
 * consumed), or < 0. len must fit in an int. */
AH_NODISCARD AH_EXPORT int ah_stream_read_exactly(ah_stream *s, void *buf, size_t len);

/** Read up to and including the first occurrence of delim, at most max bytes, copying them into
 * buf (which holds max bytes). Returns the length, AH_ETOOBIG if delim is not within max bytes
 * (nothing consumed), AH_EEOF if the stream ended first, or < 0. */
AH_NODISCARD AH_EXPORT int ah_stream_read_until(ah_stream *s, const char *delim, size_t delim_len,
                                                char *buf, size_t max);

/** Make at least min bytes available in the read buffer without consuming them, and point *data
 * at all buffered bytes (*len of them). Returns *len, or AH_EEOF if the stream ended with fewer
 * than min bytes (still exposed through *data and *len), AH_ETOOBIG if min exceeds the buffer cap,
 * or < 0. The pointer is valid until the next read call on s. */
AH_NODISCARD AH_EXPORT int ah_stream_peek(ah_stream *s, size_t min, const char **data, size_t *len);

/** Read more from the transport into the buffer (at least one byte). Returns bytes added, 0 at end
 * of stream, AH_ETOOBIG if the buffer is at its cap, or < 0. For parsers, ah_stream_buffered
 * then shows the bytes, ah_stream_consume drops them. */
AH_NODISCARD AH_EXPORT int ah_stream_fill(ah_stream *s);

/** The bytes buffered now (no waiting): sets *data and returns the count. */
AH_EXPORT size_t ah_stream_buffered(ah_stream *s, const char **data);

/** Drop n buffered bytes (n <= what ah_stream_buffered reports). */
AH_EXPORT void ah_stream_consume(ah_stream *s, size_t n);

/** Write all len bytes (after anything corked). Returns 0 or < 0. */
AH_NODISCARD AH_EXPORT int ah_stream_write(ah_stream *s, const void *buf, size_t len);

/** Write all of iov (after anything corked), gathered in as few system calls as possible. */
AH_NODISCARD AH_EXPORT int ah_stream_writev(ah_stream *s, const struct iovec *iov, int iovcnt);

/** Cork: writes are buffered until ah_stream_uncork/flush (or until max_write_buffer). */
AH_EXPORT void ah_stream_cork(ah_stream *s);
/** Uncork and flush. Returns 0 or < 0. */
AH_NODISCARD AH_EXPORT int ah_stream_uncork(ah_stream *s);
/** Send whatever is corked. Returns 0 or < 0. */
AH_NODISCARD AH_EXPORT int ah_stream_flush(ah_stream *s);

/** Flush, then end the write direction (FIN / close_notify). Reading still works. */
AH_NODISCARD AH_EXPORT int ah_stream_shutdown_write(ah_stream *s);

/** Close the stream and free it (without flushing: call ah_stream_flush first to send corked
 * bytes). Never awaits. NULL is ignored. */
AH_EXPORT void ah_stream_close(ah_stream *s);

/** Change the per-operation timeouts (ms; 0 or < 0: none, as in ah_stream_opts). */
AH_EXPORT void ah_stream_set_timeouts(ah_stream *s, int64_t read_timeout_ms,
                                      int64_t write_timeout_ms);

/** The socket beneath, or -1. */
AH_EXPORT int ah_stream_fd(ah_stream *s);

/** The transport's io pointer, as given to ah_stream_new (for code that made the transport). */
AH_EXPORT void *ah_stream_io(ah_stream *s);

/** 1 once the peer ended its direction (a read returned 0). */
AH_EXPORT int ah_stream_eof(const ah_stream *s);

AH_END_DECLS

#endif
