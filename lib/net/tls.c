/* TLS over any stream: OpenSSL driven through BIOs that never touch the socket.
 *
 * The SSL engine never sees the socket. It reads ciphertext from `rbio`, which hands it what the
 * inner stream has buffered (and asks to be retried when that is empty), and writes ciphertext to
 * `wbio`, a memory BIO; this file moves bytes between those and the inner stream with ordinary
 * awaits:
 *  - when SSL wants input, first send whatever it queued (a handshake flight, an alert), then
 *    fill the inner stream's buffer (what is there, or one fill's worth);
 *  - after SSL has produced records, send them.
 * So a handshake, a read or a write never blocks the loop, and client and server share one path.
 *
 * One task may read and another write a stream at once (a full-duplex bulk transfer does that).
 * SSL calls themselves never await, so they never interleave; the awaits in between are guarded:
 * `wlock` gives one task at a time the inner stream's write side (so records go out whole and in
 * order), `rlock` the read side. A reader that finds a writer busy leaves its own queued bytes
 * to that writer, which drains the BIO before it lets go: a reader that waited behind a bulk
 * writer on a full socket could deadlock with a peer doing the same.
 *
 * Another task may close the stream while one waits in it (as with TCP streams): close then
 * closes the inner stream at once, which wakes the waiters with AH_ECLOSED, and the last
 * operation to leave frees the state.
 *
 * Each stream keeps the words of its own last failure (ah_tls_stream_error), and the handshake
 * hands them to the caller's buffer: with many tasks on one thread, a per-thread "last error"
 * would be overwritten by another task's connection before the first one read it.
 *
 * The contexts these streams run over (certificates, verification, SNI, ALPN, the client session
 * cache) are in tls_ctx.c. */
#include "tls_internal.h"

#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Plaintext bytes of a full TLS record: writev gathers small pieces up to this size. */
#define RECORD_MAX 16384
/* Plaintext handed to one SSL_write, and ciphertext queued before writev sends it mid-call: a
 * few records per inner write without letting the BIO grow with the caller's buffer. */
#define WRITE_CHUNK (64 * 1024)
#define HOST_MAX 255

/* ---- connections ---- */

typedef struct tls_io {
    SSL *ssl;
    BIO *rbio, *wbio; /* ciphertext in / out; owned by ssl */
    ah_stream *inner; /* NULL once closed */
    ah_tls_ctx *ctx;  /* one reference */
    ah_mutex *wlock, *rlock;
    int wusers;     /* tasks holding or waiting for wlock */
    int rusers;     /* and for rlock */
    uint64_t pulls; /* feeds of rbio so far: who waited for rlock may find its work done */
    int inner_eof;  /* the inner stream ended */
    int failed;     /* a fatal error: no more SSL calls, every operation returns this */
    int wbroken;    /* an inner write failed part-way: the record stream is cut */
    int busy;       /* operations in progress */
    int closing;    /* closed while busy: the last operation out frees */
    char *out;      /* ciphertext on its way to the inner stream */
    size_t out_cap;
    char *stage;                               /* writev gathers small pieces here (RECORD_MAX) */
    char session_key[AH__TLS_SESSION_KEY_MAX]; /* client: where this connection's sessions go */
    char alpn[32];
    char error[256]; /* why the last failure happened (ah_tls_stream_error); "" if none */
} tls_io;

static const ah_transport_ops tls_ops;

/* Keep the reason of a failure on this connection, in the words the caller will show. */
static void io_error(tls_io *io, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void io_error(tls_io *io, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(io->error, sizeof(io->error), fmt, ap);
    va_end(ap);
}

static void io_free(tls_io *io)
{
    /* OpenSSL forgets the session of a connection freed without close_notify sent, in case it
     * died of an attack. Ours end so all the time, healthy (read to the peer's close_notify, then
     * close): keep those resumable; sessions of failed connections still go. */
    if (io->ssl && !io->failed && !io->wbroken && SSL_is_init_finished(io->ssl))
        SSL_set_shutdown(io->ssl, SSL_get_shutdown(io->ssl) | SSL_SENT_SHUTDOWN);
    SSL_free(io->ssl);
    ah_stream_close(io->inner);
    ah_mutex_free(io->wlock);
    ah_mutex_free(io->rlock);
    ah_tls_ctx_free(io->ctx);
    free(io->out);
    free(io->stage);
    free(io);
}

static void io_release(tls_io *io)
{
    if (--io->busy == 0 && io->closing)
        io_free(io);
}

int ah__tls_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    tls_io *io = SSL_get_app_data(ssl);
    if (!io || !io->session_key[0])
        return 0;
    ah__tls_session_put(io->ctx, io->session_key, sess);
    return 1; /* we keep the reference */
}

/* Point the inner stream's timeouts at what is left until `until` (they are read when its
 * operation starts, so a concurrent reader and writer do not disturb each other). */
static void inner_timeouts(tls_io *io, int64_t until)
{
    int64_t left = ah__remaining(until);
    ah_stream_set_timeouts(io->inner, left, left);
}

/* Send up to `limit` bytes of queued ciphertext to the inner stream; the caller holds wlock.
 * The bytes are copied out first: SSL may append to (and so move) the BIO's memory while the
 * write awaits. */
static int flush_out(tls_io *io, size_t limit, int64_t until)
{
    while (limit > 0) {
        if (io->closing)
            return AH_ECLOSED;
        if (io->wbroken)
            return io->wbroken;
        size_t n = BIO_ctrl_pending(io->wbio);
        if (n == 0)
            return 0;
        if (n > limit)
            n = limit;
        if (n > WRITE_CHUNK + 1024)
            n = WRITE_CHUNK + 1024;
        if (n > io->out_cap) {
            char *p = realloc(io->out, n);
            if (!p)
                return AH_ENOMEM;
            io->out = p;
            io->out_cap = n;
        }
        int got = BIO_read(io->wbio, io->out, (int)n);
        if (got <= 0)
            return AH_ETLS;
        inner_timeouts(io, until);
        int rc = ah_stream_write(io->inner, io->out, (size_t)got);
        if (rc < 0) {
            if (!io->closing)
                io->wbroken = rc;
            return rc;
        }
        limit -= (size_t)got;
    }
    return 0;
}

static int wlock_take(tls_io *io, int64_t until)
{
    io->wusers++;
    int rc = ah_mutex_lock(io->wlock, ah__remaining(until));
    if (rc < 0) {
        io->wusers--;
        return rc;
    }
    if (io->closing) {
        ah_mutex_unlock(io->wlock);
        io->wusers--;
        return AH_ECLOSED;
    }
    return 0;
}

static void wlock_give(tls_io *io)
{
    ah_mutex_unlock(io->wlock);
    io->wusers--;
}

/* ---- rbio: OpenSSL reads ciphertext straight from the inner stream's buffer ---- */

/* What is buffered, and never end of stream: with nothing buffered it asks to be retried, and
 * pull_in (after SSL's WANT_READ) fills the buffer or reports the inner end itself. */
static int rbio_read(BIO *b, char *out, size_t len, size_t *got)
{
    tls_io *io = BIO_get_data(b);
    const char *data;
    size_t have = io && io->inner ? ah_stream_buffered(io->inner, &data) : 0;
    BIO_clear_retry_flags(b);
    if (have == 0) {
        BIO_set_retry_read(b);
        *got = 0;
        return 0;
    }
    size_t n = have < len ? have : len;
    memcpy(out, data, n);
    ah_stream_consume(io->inner, n);
    *got = n;
    return 1;
}

static long rbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    tls_io *io = BIO_get_data(b);
    const char *data;
    switch (cmd) {
    case BIO_CTRL_PENDING: return io && io->inner ? (long)ah_stream_buffered(io->inner, &data) : 0;
    case BIO_CTRL_FLUSH: return 1;
    default: return 0;
    }
}

static int rbio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *rbio_method;

static void rbio_method_make(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ahttp inner stream");
    if (m && (!BIO_meth_set_read_ex(m, rbio_read) || !BIO_meth_set_ctrl(m, rbio_ctrl) ||
              !BIO_meth_set_create(m, rbio_create))) {
        BIO_meth_free(m);
        m = NULL;
    }
    rbio_method = m;
}

static BIO *rbio_new(tls_io *io)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, rbio_method_make);
    BIO *b = rbio_method ? BIO_new(rbio_method) : NULL;
    if (b)
        BIO_set_data(b, io);
    return b;
}

/* Make sure the inner stream has ciphertext buffered for rbio: what it has, else one fill's
 * worth. Returns 1 when there is some, 0 at the inner end of stream, < 0 (AH_EAGAIN: nowait
 * and nothing there). The caller holds rlock. */
static int pull_in(tls_io *io, int64_t until, int nowait)
{
    const char *data;
    size_t have = ah_stream_buffered(io->inner, &data);
    if (have == 0) {
        if (io->inner_eof)
            return 0;
        int n;
        if (nowait) {
            n = ah__stream_fill_nowait(io->inner);
            if (n == AH_EAGAIN)
                ah__stream_shrink(io->inner); /* going idle: keep no empty buffer */
        } else {
            inner_timeouts(io, until);
            n = ah_stream_fill(io->inner);
        }
        if (n < 0)
            return n; /* io may be closing: touch nothing */
        if (n == 0) {
            io->inner_eof = 1;
            return 0;
        }
    }
    io->pulls++;
    return 1;
}

/* SSL returned WANT_READ: send what it queued, then feed it. holding_w: the caller holds wlock
 * (and so sends everything); otherwise only the bytes queued now, and only if no writer is about,
 * since a writer drains the BIO itself. nowait: AH_EAGAIN rather than wait for input. Returns 1
 * (retry the SSL call), 0 at inner EOF, < 0. */
static int want_read(tls_io *io, int64_t until, int holding_w, int nowait)
{
    size_t pending = BIO_ctrl_pending(io->wbio);
    int rc;
    if (pending && holding_w) {
        rc = flush_out(io, SIZE_MAX, until);
        if (rc < 0)
            return rc;
    } else if (pending && io->wusers == 0) {
        rc = wlock_take(io, until);
        if (rc < 0)
            return rc;
        rc = flush_out(io, pending, until);
        wlock_give(io);
        if (rc < 0)
            return rc;
    }
    if (nowait && io->rusers)
        return AH_EAGAIN; /* another task is already waiting for input */
    uint64_t seen = io->pulls;
    io->rusers++;
    rc = ah_mutex_lock(io->rlock, ah__remaining(until));
    if (rc == 0) {
        if (io->closing)
            rc = AH_ECLOSED;
        else if (io->pulls != seen)
            rc = 1; /* another task fed SSL while we waited */
        else
            rc = pull_in(io, until, nowait);
        ah_mutex_unlock(io->rlock);
    }
    io->rusers--;
    return rc;
}

/* SSL returned WANT_WRITE. Memory BIOs always take everything, so this should not happen; if
 * it does, sending what is queued is what it asks for. */
static int want_write(tls_io *io, int64_t until, int holding_w)
{
    if (BIO_ctrl_pending(io->wbio) == 0) {
        io_error(io, "TLS: the engine wants to write but has nothing queued");
        return AH_ETLS;
    }
    if (holding_w)
        return flush_out(io, SIZE_MAX, until);
    int rc = wlock_take(io, until);
    if (rc < 0)
        return rc;
    rc = flush_out(io, SIZE_MAX, until);
    wlock_give(io);
    return rc;
}

/* A fatal SSL error: classify it, remember it, and keep OpenSSL's words in io->error. */
static int ssl_fail(tls_io *io, int sslerr, const char *during)
{
    char why[256];
    int rc = AH_ETLS;
    unsigned long e = ERR_peek_last_error();
    int reason = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
    long verify = SSL_get_verify_result(io->ssl);
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK) {
        rc = AH_ETLS_VERIFY;
        io_error(io, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
    } else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        rc = AH_ETLS_VERIFY;
        io_error(io, "certificate verify failed: peer did not return a certificate");
    } else if (sslerr == SSL_ERROR_SYSCALL && !e) {
        io_error(io, "TLS %s: unexpected end of input", during);
    } else {
        ah__tls_openssl_reason(why, sizeof(why), 0);
        io_error(io, "TLS %s: %s", during, why);
    }
    ERR_clear_error();
    io->failed = rc;
    return rc;
}

static int handshake(tls_io *io, int64_t until)
{
    int rc;
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(io->ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(io->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            rc = want_read(io, until, 0, 0);
            if (rc == 0) {
                io_error(io, "TLS handshake: the peer closed the connection");
                return AH_EEOF;
            }
        } else if (e == SSL_ERROR_WANT_WRITE) {
            rc = want_write(io, until, 0);
        } else if (e == SSL_ERROR_ZERO_RETURN) {
            io_error(io, "TLS handshake: the peer closed the connection");
            return AH_EEOF;
        } else {
            rc = ssl_fail(io, e, "handshake");
            /* Let the peer hear the alert SSL queued, if the socket takes it now. */
            if (!ah_task_cancelled()) {
                size_t pending = BIO_ctrl_pending(io->wbio);
                if (pending && wlock_take(io, ah_now_ms()) == 0) {
                    (void)flush_out(io, pending, ah_now_ms());
                    wlock_give(io);
                }
            }
            return rc;
        }
        if (rc < 0) {
            io_error(io, "TLS handshake: %s", ah_strerror(rc));
            return rc;
        }
    }
    /* The last flight (client Finished; server tickets) is still in the BIO. */
    rc = wlock_take(io, until);
    if (rc == 0) {
        rc = flush_out(io, SIZE_MAX, until);
        wlock_give(io);
    }
    if (rc < 0) {
        io_error(io, "TLS handshake: %s", ah_strerror(rc));
        return rc;
    }
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(io->ssl, &alpn, &alpn_len);
    if (alpn && alpn_len < sizeof(io->alpn)) {
        memcpy(io->alpn, alpn, alpn_len);
        io->alpn[alpn_len] = '\0';
    }
    return 0;
}

static int read_locked(tls_io *io, void *buf, size_t len, int64_t until, int nowait)
{
    if (len > INT_MAX)
        len = INT_MAX;
    for (;;) {
        if (io->closing)
            return AH_ECLOSED;
        if (io->failed)
            return io->failed;
        size_t n = 0;
        ERR_clear_error();
        int r = SSL_read_ex(io->ssl, buf, len, &n);
        if (r == 1)
            return (int)n;
        int e = SSL_get_error(io->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0; /* close_notify */
        if (e == SSL_ERROR_WANT_WRITE) {
            int rc = want_write(io, until, 0);
            if (rc < 0)
                return rc;
            continue;
        }
        if (e != SSL_ERROR_WANT_READ)
            return ssl_fail(io, e, "read");
        int rc = want_read(io, until, 0, nowait);
        if (rc == 0) {
            io_error(io, "TLS read: the peer closed the connection without close_notify");
            io->failed = AH_ETLS_TRUNCATED;
            return AH_ETLS_TRUNCATED;
        }
        if (rc < 0)
            return rc;
    }
}

static int tls_read(void *p, void *buf, size_t len, int64_t timeout_ms)
{
    tls_io *io = p;
    io->busy++;
    /* AH__NOWAIT: what is there without waiting (the HTTP server parks idle connections) */
    int nowait = timeout_ms == AH__NOWAIT;
    int rc = read_locked(io, buf, len, nowait ? INT64_MAX : ah__until(timeout_ms), nowait);
    io_release(io);
    return rc;
}

/* One SSL_write of all len bytes (no partial writes: the BIO takes everything). */
static int ssl_write(tls_io *io, const void *buf, size_t len, int64_t until)
{
    for (;;) {
        if (io->failed)
            return io->failed;
        size_t done = 0;
        ERR_clear_error();
        int r = SSL_write_ex(io->ssl, buf, len, &done);
        if (r == 1)
            return 0;
        int e = SSL_get_error(io->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE) {
            int rc = want_write(io, until, 1);
            if (rc < 0)
                return rc;
            continue;
        }
        if (e != SSL_ERROR_WANT_READ)
            return ssl_fail(io, e, "write");
        int rc = want_read(io, until, 1, 0);
        if (rc == 0) {
            io_error(io, "TLS write: the peer closed the connection");
            return AH_EPIPE;
        }
        if (rc < 0)
            return rc;
    }
}

static int queued_enough(tls_io *io, int64_t until)
{
    return BIO_ctrl_pending(io->wbio) >= WRITE_CHUNK ? flush_out(io, SIZE_MAX, until) : 0;
}

/* Small pieces are gathered into full records, large ones go to SSL directly in WRITE_CHUNK
 * steps with the ciphertext sent in between, so neither tiny records nor a BIO the size of
 * the caller's buffer come about. The caller holds wlock. */
static int write_locked(tls_io *io, const struct iovec *iov, int iovcnt, int64_t until)
{
    size_t staged = 0;
    int rc;
    for (int i = 0; i < iovcnt; i++) {
        const char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        while (len > 0) {
            size_t n;
            if (staged == 0 && (len >= RECORD_MAX || i == iovcnt - 1)) {
                n = len < WRITE_CHUNK ? len : WRITE_CHUNK;
                rc = ssl_write(io, p, n, until);
            } else {
                if (!io->stage && !(io->stage = malloc(RECORD_MAX)))
                    return AH_ENOMEM;
                n = len < RECORD_MAX - staged ? len : RECORD_MAX - staged;
                memcpy(io->stage + staged, p, n);
                staged += n;
                rc = 0;
                if (staged == RECORD_MAX) {
                    rc = ssl_write(io, io->stage, staged, until);
                    staged = 0;
                }
            }
            p += n;
            len -= n;
            if (rc == 0)
                rc = queued_enough(io, until);
            if (rc < 0)
                return rc;
        }
    }
    if (staged && (rc = ssl_write(io, io->stage, staged, until)) < 0)
        return rc;
    return flush_out(io, SIZE_MAX, until);
}

static int tls_writev(void *p, const struct iovec *iov, int iovcnt, int64_t timeout_ms)
{
    tls_io *io = p;
    int64_t until = ah__until(timeout_ms);
    if (io->failed)
        return io->failed;
    if (io->wbroken)
        return io->wbroken;
    if (SSL_get_shutdown(io->ssl) & SSL_SENT_SHUTDOWN)
        return AH_EPIPE;
    io->busy++;
    int rc = wlock_take(io, until);
    if (rc == 0) {
        rc = write_locked(io, iov, iovcnt, until);
        wlock_give(io);
    }
    io_release(io);
    return rc;
}

/* close_notify, then the inner stream's own shutdown (TCP FIN). */
static int tls_shutdown(void *p, int64_t timeout_ms)
{
    tls_io *io = p;
    int64_t until = ah__until(timeout_ms);
    if (io->failed)
        return io->failed;
    io->busy++;
    int rc = wlock_take(io, until);
    if (rc == 0) {
        if (!(SSL_get_shutdown(io->ssl) & SSL_SENT_SHUTDOWN)) {
            ERR_clear_error();
            if (SSL_shutdown(io->ssl) < 0)
                rc = ssl_fail(io, SSL_get_error(io->ssl, -1), "shutdown");
        }
        if (rc == 0)
            rc = flush_out(io, SIZE_MAX, until);
        wlock_give(io);
    }
    if (rc == 0 && !io->closing) {
        inner_timeouts(io, until);
        rc = ah_stream_shutdown_write(io->inner);
    }
    io_release(io);
    return rc;
}

static void tls_close(void *p)
{
    tls_io *io = p;
    if (io->busy == 0) {
        io_free(io);
        return;
    }
    /* A task waits in this stream: closing the inner stream wakes it with AH_ECLOSED; it sees
     * `closing`, touches nothing more, and the last one out frees the rest. */
    io->closing = 1;
    ah_stream *inner = io->inner;
    io->inner = NULL;
    ah_stream_close(inner);
}

static int tls_fd(void *p)
{
    tls_io *io = p;
    return io->inner ? ah_stream_fd(io->inner) : -1;
}

static const ah_transport_ops tls_ops = {
    .read = tls_read,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .fd = tls_fd,
};

/* host without IPv6 brackets or a trailing dot, into buf; 1 if it is an IP address. */
static int parse_host(const char *host, char *buf, size_t size)
{
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    } else if (len > 1 && host[len - 1] == '.') {
        len--;
    }
    if (len >= size)
        return -1;
    memcpy(buf, host, len);
    buf[len] = '\0';
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

/* The peer's port, for the session cache key (0 if there is no socket). */
static unsigned peer_port(ah_stream *inner, char *addr, size_t addr_size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd = ah_stream_fd(inner);
    addr[0] = '\0';
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    ah_sockaddr_str((struct sockaddr *)&ss, addr, addr_size);
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

static int client_setup(tls_io *io, const char *host)
{
    SSL *ssl = io->ssl;
    char name[HOST_MAX + 1], addr[64];
    unsigned port = peer_port(io->inner, addr, sizeof(addr));
    if (host) {
        int ip = parse_host(host, name, sizeof(name));
        if (ip < 0 || !name[0]) {
            io_error(io, "TLS: bad host name \"%s\"", host);
            return AH_EINVAL;
        }
        /* SNI carries DNS names only (RFC 6066); addresses are checked against IP SANs. */
        if (!ip && !SSL_set_tlsext_host_name(ssl, name))
            return AH_ETLS;
        if (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) {
            if (ip ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                   : !SSL_set1_host(ssl, name))
                return AH_ETLS;
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        }
        snprintf(io->session_key, sizeof(io->session_key), "%s:%u", name, port);
    } else if (addr[0]) {
        snprintf(io->session_key, sizeof(io->session_key), "%s", addr);
    }
    if (io->session_key[0]) {
        SSL_SESSION *sess = ah__tls_session_get(io->ctx, io->session_key);
        if (sess) {
            SSL_set_session(ssl, sess);
            SSL_SESSION_free(sess);
        }
    }
    SSL_set_connect_state(ssl);
    return 0;
}

/* The handshake's failure closes the stream, and with it io->error: its reason goes to the
 * caller's err instead. */
static int wrap(ah_stream *inner, ah_tls_ctx *ctx, const char *host, int server, int64_t timeout_ms,
                ah_stream **out, char *err, size_t err_size)
{
    int64_t until = ah__until(timeout_ms);
    if (out)
        *out = NULL;
    if (err && err_size)
        err[0] = '\0';
    if (!inner)
        return AH_EINVAL;
    if (!ctx || !out || ctx->server != server) {
        ah_stream_close(inner);
        return AH_EINVAL;
    }
    tls_io *io = calloc(1, sizeof(*io));
    if (!io) {
        ah_stream_close(inner);
        return AH_ENOMEM;
    }
    io->inner = inner;
    io->ctx = ctx;
    ah__tls_ctx_ref(ctx);
    int rc = AH_ENOMEM;
    io->wlock = ah_mutex_new();
    io->rlock = ah_mutex_new();
    ERR_clear_error();
    io->ssl = SSL_new(ctx->ctx[0]);
    if (!io->wlock || !io->rlock || !io->ssl)
        goto fail;
    io->rbio = rbio_new(io);
    io->wbio = BIO_new(BIO_s_mem());
    if (!io->rbio || !io->wbio) {
        BIO_free(io->rbio);
        BIO_free(io->wbio);
        goto fail;
    }
    SSL_set_bio(io->ssl, io->rbio, io->wbio);
    SSL_set_app_data(io->ssl, io);
    if (server)
        SSL_set_accept_state(io->ssl);
    else if ((rc = client_setup(io, host)) < 0)
        goto fail;
    rc = handshake(io, until);
    if (rc < 0)
        goto fail;
    *out = ah_stream_new(&tls_ops, io, NULL);
    return *out ? 0 : AH_ENOMEM;
fail:
    if (rc == AH_ENOMEM)
        io_error(io, "TLS: out of memory");
    else if (rc == AH_ETLS && !io->error[0])
        io_error(io, "TLS: cannot set up the connection");
    if (err && err_size)
        snprintf(err, err_size, "%s", io->error);
    ERR_clear_error();
    io_free(io);
    return rc;
}

int ah_tls_client_wrap(ah_stream *inner, ah_tls_ctx *ctx, const char *host, int64_t timeout_ms,
                       ah_stream **out, char *err, size_t err_size)
{
    return wrap(inner, ctx, host, 0, timeout_ms, out, err, err_size);
}

int ah_tls_server_wrap(ah_stream *inner, ah_tls_ctx *ctx, int64_t timeout_ms, ah_stream **out,
                       char *err, size_t err_size)
{
    return wrap(inner, ctx, NULL, 1, timeout_ms, out, err, err_size);
}

/* ---- queries ---- */

static tls_io *tls_of(ah_stream *s)
{
    return s && ah__stream_ops(s) == &tls_ops ? ah_stream_io(s) : NULL;
}

ah_stream *ah__tls_inner(ah_stream *s)
{
    tls_io *io = tls_of(s);
    return io ? io->inner : NULL;
}

const char *ah_tls_version(ah_stream *s)
{
    tls_io *io = tls_of(s);
    return io ? SSL_get_version(io->ssl) : NULL;
}

const char *ah_tls_cipher(ah_stream *s)
{
    tls_io *io = tls_of(s);
    return io ? SSL_get_cipher_name(io->ssl) : NULL;
}

const char *ah_tls_alpn(ah_stream *s)
{
    tls_io *io = tls_of(s);
    return io && io->alpn[0] ? io->alpn : NULL;
}

int ah_tls_resumed(ah_stream *s)
{
    tls_io *io = tls_of(s);
    return io ? SSL_session_reused(io->ssl) : 0;
}

const char *ah_tls_stream_error(ah_stream *s)
{
    tls_io *io = tls_of(s);
    return io ? io->error : "";
}

const char *ah_tls_sni(ah_stream *s)
{
    tls_io *io = tls_of(s);
    return io ? SSL_get_servername(io->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}
