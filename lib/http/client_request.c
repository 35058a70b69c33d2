/* The request on the wire: the head (request line, Host, cookies from the jar, the absolute form
 * for a proxy, checks of methods and header fields), and the body — from memory, a file (read on
 * pool threads) or a producer (chunked) — with Expect: 100-continue. client.c sends a request
 * through here and reads its response. */
#include "client_internal.h"

#include <ahttp/thread.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A producer's body is sent in chunks of at most this size. */
#define BODY_CHUNK (16 * 1024)
/* A Cookie header value this long is built on the stack; a longer one takes a malloc. */
#define COOKIE_STACK 2048
/* A body file is read (on a pool thread) and sent in pieces of this size. */
#define FILE_CHUNK (64 * 1024)

/* ---- building the request ---- */

/* A request head is built in an ah_buf that starts in the caller's stack buffer (a typical head
 * fits) and is capped: the caller's headers and the jar's cookies cannot grow it without bound.
 * Its error is sticky, so the builder adds without checking and the sender checks once. */
#define REQUEST_HEAD_MAX (256 * 1024)

typedef ah_buf buf;

/* The error is read once, at the end (ah_buf_error): each add's own result is not needed. */
static void buf_add(buf *b, const char *s, size_t n)
{
    int sticky = ah_buf_add(b, s, n);
    (void)sticky;
}

static void buf_adds(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

/* The decimal digits of v. */
static void buf_uint(buf *b, unsigned v)
{
    char digits[12];
    size_t i = sizeof(digits);
    do
        digits[--i] = (char)('0' + v % 10);
    while ((v /= 10) && i);
    buf_add(b, digits + i, sizeof(digits) - i);
}

static void buf_header(buf *b, const char *name, const char *value)
{
    buf_adds(b, name);
    buf_add(b, ": ", 2);
    buf_adds(b, value);
    buf_add(b, "\r\n", 2);
}

static void base64(buf *b, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i += 48) { /* 48 bytes in, 64 out */
        char out[65];
        buf_add(b, out, ah__base64(s + i, n - i < 48 ? n - i : 48, out));
    }
}

/* The jar's Cookie value for u: in stack[0..COOKIE_STACK) or, if longer, a malloc'd string
 * (*heap, which the caller frees). NULL when there is none (or no memory for it). */
static const char *jar_cookies(ah_client *c, const ah_url *u, char *stack, char **heap)
{
    *heap = NULL;
    int64_t now_s = (int64_t)time(NULL);
    int n = ah_cookie_jar_header(c->opts.cookie_jar, u, now_s, stack, COOKIE_STACK);
    if (n <= 0)
        return NULL;
    if (n < COOKIE_STACK)
        return stack;
    if (!(*heap = malloc((size_t)n + 1)))
        return NULL;
    if (ah_cookie_jar_header(c->opts.cookie_jar, u, now_s, *heap, (size_t)n + 1) != n) {
        free(*heap); /* cannot happen: nothing ran in between */
        *heap = NULL;
    }
    return *heap;
}

/* ---- a body from a file ---- */

/* A request body file: opened once per fetch, read again from the start for each send (a
 * 307/308 hop, a stale-connection retry). Reads run on a pool thread, so a slow disk does not
 * hold up the loop; the job lives on the heap because an abandoned read (the task cancelled or
 * past its deadline) still runs to its end, and whoever is last frees it (see file_abandon). */
struct ah__body_file {
    int fd;
    int64_t size; /* at open: the Content-Length sent */
    /* the job: in */
    const char *path; /* for the open only */
    int64_t offset;
    /* the job: out */
    ssize_t got; /* bytes read, or -errno */
    int64_t now; /* the file's size when read */
    char buf[FILE_CHUNK];
};

static int file_open_job(void *arg)
{
    ah__body_file *bf = arg;
    struct stat st;
    bf->fd = open(bf->path, O_RDONLY | O_CLOEXEC);
    if (bf->fd < 0) {
        bf->got = -errno;
    } else if (fstat(bf->fd, &st) < 0) {
        bf->got = -errno;
    } else if (!S_ISREG(st.st_mode)) {
        bf->got = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL; /* a size we can announce: files only */
    } else {
        bf->got = 0;
        bf->size = bf->now = (int64_t)st.st_size;
    }
    bf->path = NULL; /* the caller's string: not to be kept */
    return 0;
}

static int file_read_job(void *arg)
{
    ah__body_file *bf = arg;
    struct stat st;
    int64_t left = bf->size - bf->offset;
    size_t want = left < (int64_t)sizeof(bf->buf) ? (size_t)left : sizeof(bf->buf);
    ssize_t n;
    do
        n = pread(bf->fd, bf->buf, want, (off_t)bf->offset);
    while (n < 0 && errno == EINTR);
    bf->got = n < 0 ? -errno : n;
    if (n >= 0 && fstat(bf->fd, &st) == 0)
        bf->now = (int64_t)st.st_size;
    return 0;
}

/* A job nobody waits for any more: it is over, so the file can go. */
static void file_abandon(void *arg)
{
    ah__body_file *bf = arg;
    if (bf->fd >= 0)
        close(bf->fd);
    free(bf);
}

/* Run fn on a pool thread. < 0 if the job was abandoned (*bfp is then NULL: file_abandon has
 * it), else 0. */
static int file_job(ah__body_file **bfp, ah_thread_fn fn)
{
    int rc = ah_to_thread_ex(fn, *bfp, file_abandon);
    if (rc < 0)
        *bfp = NULL;
    return rc < 0 ? rc : 0;
}

void ah__body_file_close(ah__body_file *bf)
{
    if (bf)
        file_abandon(bf);
}

int ah__body_file_open(const char *path, ah__body_file **out)
{
    ah__body_file *bf = calloc(1, sizeof(*bf));
    *out = NULL;
    if (!bf)
        return AH_ENOMEM;
    bf->fd = -1;
    bf->path = path;
    int rc = file_job(&bf, file_open_job);
    if (rc == 0 && bf->got < 0)
        rc = (int)bf->got;
    if (rc < 0) {
        ah__body_file_close(bf);
        return rc;
    }
    *out = bf;
    return 0;
}

/* The request has body bytes to send (what Expect: 100-continue is for). */
static int has_body_bytes(const ah__outreq *rq)
{
    return rq->body_fn || (rq->file && *rq->file && (*rq->file)->size > 0) ||
           (rq->body && rq->body_len > 0);
}

static int method_has_body(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

/* "host[:port]" of u as Host and the absolute form write it (the port if not the default). */
static void buf_authority(buf *b, const ah_url *u)
{
    int v6 = strchr(u->host, ':') != NULL;
    buf_adds(b, v6 ? "[" : "");
    buf_adds(b, u->host);
    buf_adds(b, v6 ? "]" : "");
    if (u->port != ah_url_default_port(u->scheme)) {
        buf_add(b, ":", 1);
        buf_uint(b, u->port);
    }
}

/* The head of rq into b; *close_after: the request asked for Connection: close. forward: the
 * proxy the request goes to in absolute form (RFC 9112 §3.2.2), or NULL. */
static void build_head(ah_client *c, const ah__outreq *rq, const ah__proxy *forward, buf *b,
                       int *close_after)
{
    const ah_url *u = rq->url;
    buf_adds(b, rq->method);
    buf_add(b, " ", 1);
    if (forward) { /* never the userinfo, which became Authorization */
        buf_adds(b, u->scheme);
        buf_add(b, "://", 3);
        buf_authority(b, u);
    }
    buf_adds(b, u->path && u->path[0] ? u->path : "/"); /* what ah_url_target makes */
    if (u->query) {
        buf_add(b, "?", 1);
        buf_adds(b, u->query);
    }
    buf_add(b, " HTTP/1.1\r\n", 11);
    /* which of the headers we add the caller gave: one pass over the list */
    const ah_client_header *host = NULL;
    int has_ua = 0, has_accept = 0, has_ae = 0, has_auth = 0, has_proxy_auth = 0;
    for (size_t i = 0; i < rq->nheaders; i++) {
        const char *name = rq->headers[i].name;
        if (!host && strcasecmp(name, "Host") == 0)
            host = &rq->headers[i];
        else if (strcasecmp(name, "User-Agent") == 0)
            has_ua = 1;
        else if (strcasecmp(name, "Accept") == 0)
            has_accept = 1;
        else if (strcasecmp(name, "Accept-Encoding") == 0)
            has_ae = 1;
        else if (strcasecmp(name, "Authorization") == 0)
            has_auth = 1;
        else if (strcasecmp(name, "Proxy-Authorization") == 0)
            has_proxy_auth = 1;
    }
    if (host) {
        buf_header(b, "Host", host->value);
    } else {
        buf_add(b, "Host: ", 6);
        buf_authority(b, u);
        buf_add(b, "\r\n", 2);
    }
    if (c->opts.user_agent[0] && !has_ua)
        buf_header(b, "User-Agent", c->opts.user_agent);
    if (!has_accept)
        buf_add(b, "Accept: */*\r\n", 13);
    if (c->opts.decompress >= 0 && !has_ae)
        buf_add(b, "Accept-Encoding: gzip, deflate\r\n", 32);
    if (u->userinfo && !has_auth) {
        char *creds;
        size_t n;
        if (ah_url_decode(u->userinfo, strlen(u->userinfo), 0, &creds, &n) == 0) {
            buf_adds(b, "Authorization: Basic ");
            base64(b, (const unsigned char *)creds, n);
            buf_add(b, "\r\n", 2);
            free(creds);
        }
    }
    if (forward && forward->authorization && !has_proxy_auth)
        buf_header(b, "Proxy-Authorization", forward->authorization);
    char cookie_stack[COOKIE_STACK], *cookie_heap = NULL;
    const char *cookies = c->opts.cookie_jar ? jar_cookies(c, u, cookie_stack, &cookie_heap) : NULL;
    *close_after = 0;
    for (size_t i = 0; i < rq->nheaders; i++) {
        const char *name = rq->headers[i].name;
        if (strcasecmp(name, "Host") == 0 || strcasecmp(name, "Content-Length") == 0 ||
            strcasecmp(name, "Transfer-Encoding") == 0 ||
            (rq->expect_continue && strcasecmp(name, "Expect") == 0))
            continue;
        if (strcasecmp(name, "Connection") == 0 && strcasestr(rq->headers[i].value, "close"))
            *close_after = 1;
        if (cookies && strcasecmp(name, "Cookie") == 0) {
            /* one Cookie line (RFC 6265 §5.4): the caller's pairs, then the jar's */
            buf_adds(b, name);
            buf_add(b, ": ", 2);
            buf_adds(b, rq->headers[i].value);
            buf_add(b, "; ", 2);
            buf_adds(b, cookies);
            buf_add(b, "\r\n", 2);
            cookies = NULL;
            continue;
        }
        buf_header(b, name, rq->headers[i].value);
    }
    if (cookies)
        buf_header(b, "Cookie", cookies);
    free(cookie_heap);
    if (rq->expect_continue && has_body_bytes(rq))
        buf_add(b, "Expect: 100-continue\r\n", 22);
    if (rq->body_fn) {
        buf_header(b, "Transfer-Encoding", "chunked");
    } else if (rq->file && *rq->file) {
        char len[24];
        snprintf(len, sizeof(len), "%lld", (long long)(*rq->file)->size);
        buf_header(b, "Content-Length", len);
    } else if (rq->body || method_has_body(rq->method)) {
        char len[24];
        snprintf(len, sizeof(len), "%zu", rq->body ? rq->body_len : (size_t)0);
        buf_header(b, "Content-Length", len);
    }
    buf_add(b, "\r\n", 2);
}

/* After a head with Expect: 100-continue, wait for the server's go-ahead (RFC 9110 §10.1.1).
 * 1: send the body — an interim 1xx came (left in the buffer: ah__response_read_head skips it)
 * or nothing came within expect_timeout_ms, when curl sends it anyway since the server may not
 * know the expectation; 0: a final answer came first, so the body is withheld; < 0: the
 * connection failed (AH_EEOF with nothing received: a stale connection, as for any request). */
static int await_continue(ah__fetch *f, ah__cconn *conn)
{
    ah_client *c = f->c;
    if (c->opts.expect_timeout_ms < 0)
        return 1;
    int rc = ah_deadline_push(c->opts.expect_timeout_ms);
    if (rc < 0)
        return rc;
    const char *data;
    size_t len = 0;
    /* "HTTP/1.1 100" is 12 bytes: enough to tell an interim answer from a final one */
    rc = ah_stream_peek(conn->stream, 12, &data, &len);
    int expired = ah_deadline_pop() == 1;
    if (rc == AH_ETIMEDOUT && expired && !ah__deadline_passed() &&
        (f->total_until == INT64_MAX || ah_now_ms() < f->total_until)) {
        ah__client_tracef(c, "no answer to Expect: 100-continue within %lld ms: sending the body",
                          (long long)c->opts.expect_timeout_ms);
        return 1;
    }
    if (rc == AH_EEOF && len > 0)
        return 0;           /* a short answer: ah__response_read_head says what is wrong with it */
    if (rc == AH_ETIMEDOUT) /* not ours: the total, the read timeout, or the caller's */
        return ah__client_fail(f, rc, AH_CLIENT_PHASE_HEADERS,
                               ah__client_which_timeout(f->total_until, rc, AH_CLIENT_TIMEOUT_READ),
                               "timed out waiting for 100 Continue from %s", conn->peer);
    if (rc < 0)
        return rc;
    if (memcmp(data, "HTTP/1.", 7) == 0 && data[8] == ' ' && data[9] == '1')
        return 1;
    ah__client_tracef(c, "the server answered before 100 Continue: the body is not sent");
    return 0;
}

/* Send the file's bytes: exactly the size announced, read in pieces on the pool. Failures of the
 * file are described here; I/O errors by the caller. */
static int send_file(ah__fetch *f, ah__cconn *conn, const ah__outreq *rq)
{
    int64_t size = (*rq->file)->size;
    for (int64_t off = 0; off < size;) {
        (*rq->file)->offset = off;
        int rc = file_job(rq->file, file_read_job);
        if (rc < 0)
            return ah__client_fail(
                f, rc, AH_CLIENT_PHASE_SEND,
                ah__client_which_timeout(f->total_until, rc, AH_CLIENT_TIMEOUT_NONE),
                "reading the request body file %s: %s", rq->file_path, ah_strerror(rc));
        ah__body_file *bf = *rq->file;
        if (bf->got < 0)
            return ah__client_fail(f, (int)bf->got, AH_CLIENT_PHASE_SEND, AH_CLIENT_TIMEOUT_NONE,
                                   "cannot read the request body file %s: %s", rq->file_path,
                                   ah_strerror((int)bf->got));
        /* Content-Length went out with the head: a body of another size would be misframed */
        if (bf->got == 0 || bf->now != size)
            return ah__client_fail(f, -EIO, AH_CLIENT_PHASE_SEND, AH_CLIENT_TIMEOUT_NONE,
                                   "the request body file %s changed size while being sent "
                                   "(%lld bytes announced, now %lld)",
                                   rq->file_path, (long long)size, (long long)bf->now);
        if ((rc = ah_stream_write(conn->stream, bf->buf, (size_t)bf->got)) < 0)
            return rc;
        off += bf->got;
    }
    return 0;
}

/* Write the request. A failing producer or file is described here; I/O errors by the caller.
 * *body_withheld: the server answered an Expect: 100-continue with a final status, so the body
 * was not sent (and the connection cannot carry another request). */
int ah__client_send_request(ah__fetch *f, ah__cconn *conn, const ah__outreq *rq, int *close_after,
                            int *body_withheld)
{
    ah_client *c = f->c;
    char stack[1024];
    buf head;
    ah_buf_init_with(&head, stack, sizeof(stack), REQUEST_HEAD_MAX);
    *body_withheld = 0;
    build_head(c, rq, conn->host->via == AH__VIA_FORWARD ? conn->host->proxy : NULL, &head,
               close_after);
    int failed = ah_buf_error(&head);
    if (failed) {
        ah_buf_free(&head);
        if (failed == AH_ETOOBIG)
            return ah__client_fail(f, failed, AH_CLIENT_PHASE_SEND, AH_CLIENT_TIMEOUT_NONE,
                                   "request head larger than %d KiB", REQUEST_HEAD_MAX / 1024);
        return ah__client_fail(f, failed, AH_CLIENT_PHASE_SEND, AH_CLIENT_TIMEOUT_NONE,
                               "out of memory");
    }
    const char *head_bytes = ah_buf_data(&head);
    size_t head_len = ah_buf_len(&head);
    ah__client_trace(c, AH_CLIENT_TRACE_REQUEST_HEAD, head_bytes, head_len);
    if (conn->requests > 0)
        c->reused++;
    conn->requests++;
    c->requests++;
    int expect = rq->expect_continue && has_body_bytes(rq);
    int body_now = !expect && rq->body && rq->body_len;
    struct iovec iov[2] = {{(void *)head_bytes, head_len},
                           {(void *)rq->body, body_now ? rq->body_len : 0}};
    int rc = ah_stream_writev(conn->stream, iov, body_now ? 2 : 1);
    ah_buf_free(&head);
    if (rc < 0)
        return rc;
    if (expect) {
        if ((rc = await_continue(f, conn)) <= 0) {
            *body_withheld = rc == 0;
            return rc;
        }
        if (rq->body && rq->body_len &&
            (rc = ah_stream_write(conn->stream, rq->body, rq->body_len)) < 0)
            return rc;
    }
    if (rq->file && *rq->file)
        return send_file(f, conn, rq);
    if (!rq->body_fn)
        return 0;
    char *chunk = malloc(BODY_CHUNK + 32);
    if (!chunk)
        return ah__client_fail(f, AH_ENOMEM, AH_CLIENT_PHASE_SEND, AH_CLIENT_TIMEOUT_NONE,
                               "out of memory");
    for (;;) {
        int n = rq->body_fn(rq->body_arg, chunk, BODY_CHUNK);
        if (n < 0) {
            free(chunk);
            return ah__client_fail(
                f, n, AH_CLIENT_PHASE_SEND,
                ah__client_which_timeout(f->total_until, n, AH_CLIENT_TIMEOUT_WRITE),
                "the request body producer failed: %s", ah_strerror(n));
        }
        char size_line[24];
        int sl = snprintf(size_line, sizeof(size_line), "%x\r\n", (unsigned)n);
        struct iovec parts[3] = {{size_line, (size_t)sl}, {chunk, (size_t)n}, {"\r\n", 2}};
        rc = n > 0 ? ah_stream_writev(conn->stream, parts, 3)
                   : ah_stream_write(conn->stream, "0\r\n\r\n", 5);
        if (rc < 0 || n == 0)
            break;
    }
    free(chunk);
    return rc;
}
