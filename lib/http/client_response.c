/* Client responses: the head found in the stream buffer, copied once and parsed by llhttp
 * (strict, plus the checks llhttp 8.1 leaves to us: bare LF, obs-fold, whitespace before a
 * colon); interim 1xx heads skipped; the body framed by Content-Length, chunked encoding (llhttp
 * decodes it, trailers included) or the end of the connection; gzip/deflate decoded on the way;
 * the connection handed back to the pool the moment the body has been read to its end. */
#include "client_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What ah_client_response_free drops, of what has already arrived, to keep a connection. */
#define DRAIN_MAX (64 * 1024)
/* Compressed input read per step. */
#define DEC_IN_SIZE (16 * 1024)
/* Body bytes ah_client_response_read_line reads ahead at a time. */
#define LINE_AHEAD_SIZE (4 * 1024)

enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };

struct ah_client_response {
    ah_client *client;
    ah__cconn *conn; /* NULL once handed back */
    char peer[AH__PEER_MAX];
    int status, version;
    const char *reason;
    char *head;          /* the head as received; the header spans are NUL-terminated in place */
    ah__header *headers; /* msg.headers, malloc'd */
    size_t nheaders;
    ah__msg msg; /* the head as llhttp parsed it, the chunked decoder, the trailers */
    /* the body */
    int body_kind;
    uint64_t body_left; /* BODY_LENGTH: bytes still to come */
    uint64_t body_read; /* body bytes so far: chunked framing off, content coding on */
    int raw_error;      /* an error met after bytes the same read returns: the next read's */
    int64_t content_length;
    int body_done;
    int keep_alive;
    /* Content-Encoding */
    ah__inflate *dec;
    char *dec_in;
    size_t dec_in_len, dec_in_off;
    int dec_done, dec_fed;
    uint64_t decoded;
    /* ah_client_response_body */
    char *body;
    size_t body_len;
    int have_body;
    ah_url origin; /* the URL that answered (after redirects); formatted into url on demand */
    ah__url_entry *origin_shared; /* or this one's (no redirect) */
    char *url;
    int redirects;
    ah__hop *history; /* the redirect hops that led here, oldest first (NULL without any) */
    size_t nhistory;
    /* Body bytes read_line read past the line it returned: reads take these first. */
    char *ahead;
    size_t ahead_off, ahead_len;
    int64_t total_until, total_ms;
    ah_client_error err;
};

/* ---- the head ---- */

int ah__response_find_head(ah__fetch *f, ah_stream *s, const ah_client_opts *o, size_t *head_len,
                           size_t *lines, int *any_byte)
{
    const ah__head_limits lim = {o->max_header_bytes, o->max_header_bytes, o->max_header_count};
    ah__head_scan hs = {0};
    for (;;) {
        const char *data;
        size_t have = ah_stream_buffered(s, &data);
        if (have)
            *any_byte = 1;
        int rc = ah__head_scan_run(&hs, data, have, &lim);
        if (rc == 1) {
            *head_len = hs.head_len;
            *lines = hs.lines;
            return 0;
        }
        if (rc == AH__HEAD_TOO_MANY)
            return ah__client_fail(f, AH_ETOOBIG, AH_CLIENT_PHASE_HEADERS, AH_CLIENT_TIMEOUT_NONE,
                                   "response has more than %zu header lines", o->max_header_count);
        if (rc == AH__HEAD_TOO_BIG || rc == AH__HEAD_FIRST_LINE_TOO_LONG)
            return ah__client_fail(f, AH_ETOOBIG, AH_CLIENT_PHASE_HEADERS, AH_CLIENT_TIMEOUT_NONE,
                                   "response head larger than %zu bytes", o->max_header_bytes);
        if (rc < 0)
            return ah__client_fail(f, AH_EPROTO_HTTP, AH_CLIENT_PHASE_HEADERS,
                                   AH_CLIENT_TIMEOUT_NONE, "malformed response: %s in the head",
                                   ah__head_error_text(rc));
        int n = ah_stream_fill(s);
        if (n == 0 || n == AH_ETLS_TRUNCATED) {
            if (!have)
                return AH_EEOF;
            return ah__client_fail(f, AH_ETRUNCATED, AH_CLIENT_PHASE_HEADERS,
                                   AH_CLIENT_TIMEOUT_NONE,
                                   "connection closed in the middle of the response head");
        }
        if (n == AH_ETOOBIG)
            return ah__client_fail(f, AH_ETOOBIG, AH_CLIENT_PHASE_HEADERS, AH_CLIENT_TIMEOUT_NONE,
                                   "response head larger than %zu bytes", o->max_header_bytes);
        if (n < 0)
            return n;
    }
}

static void response_discard(ah_client_response *r)
{
    ah__inflate_free(r->dec);
    free(r->dec_in);
    free(r->head);
    free(r->headers);
    ah__msg_free(&r->msg);
    free(r->body);
    ah_url_free(&r->origin);
    if (r->origin_shared)
        ah__url_entry_unref(r->origin_shared);
    free(r->url);
    ah__hops_free(r->history, r->nhistory);
    free(r->ahead);
    free(r);
}

/* Parse one head of head_len bytes at the front of the stream into a new response. */
static int parse_head(ah__fetch *f, ah__cconn *conn, size_t head_len, size_t lines,
                      int head_request, ah_client_response **out)
{
    ah_client *c = f->c;
    const char *data;
    (void)ah_stream_buffered(conn->stream, &data);
    ah__client_trace(c, AH_CLIENT_TRACE_RESPONSE_HEAD, data, head_len);
    ah_client_response *r = calloc(1, sizeof(*r));
    if (!r || !(r->head = malloc(head_len + 1))) {
        free(r);
        return ah__client_fail(f, AH_ENOMEM, AH_CLIENT_PHASE_HEADERS, AH_CLIENT_TIMEOUT_NONE,
                               "out of memory");
    }
    memcpy(r->head, data, head_len);
    r->head[head_len] = '\0';
    ah_stream_consume(conn->stream, head_len);
    r->client = c;
    r->content_length = -1;
    r->total_until = INT64_MAX;
    size_t peer_len = strnlen(conn->peer, sizeof(r->peer) - 1);
    memcpy(r->peer, conn->peer, peer_len);
    r->peer[peer_len] = '\0';

    lines = lines >= 2 ? lines - 2 : 0; /* the header lines: not the status or the empty line */
    if (lines && !(r->headers = calloc(lines, sizeof(*r->headers)))) {
        response_discard(r);
        return ah__client_fail(f, AH_ENOMEM, AH_CLIENT_PHASE_HEADERS, AH_CLIENT_TIMEOUT_NONE,
                               "out of memory");
    }
    ah__msg *m = &r->msg;
    ah__msg_init(m, HTTP_RESPONSE, r->headers, lines, c->opts.max_header_bytes,
                 c->opts.max_header_count);
    m->head_request = (uint8_t)head_request;
    if (ah__msg_parse_head(m, r->head, head_len) < 0) {
        int code = m->error;
        const char *why = m->why ? m->why : "parse error";
        response_discard(r);
        return ah__client_fail(f, code, AH_CLIENT_PHASE_HEADERS, AH_CLIENT_TIMEOUT_NONE,
                               "malformed response: %s", why);
    }
    if (m->parser.http_major != 1) {
        response_discard(r);
        return ah__client_fail(f, AH_EPROTO_HTTP, AH_CLIENT_PHASE_HEADERS, AH_CLIENT_TIMEOUT_NONE,
                               "malformed response: not HTTP/1.x");
    }
    r->nheaders = m->nheaders;
    r->reason = m->start[0] ? m->start[0] : "";
    r->status = m->parser.status_code;
    r->version = m->parser.http_major * 10 + m->parser.http_minor;
    *out = r;
    return 0;
}

/* Hand the connection back: reusable if the server keeps it and nothing unexpected follows. */
static void release_conn(ah_client_response *r, int reusable)
{
    ah__cconn *conn = r->conn;
    if (!conn)
        return;
    r->conn = NULL;
    const char *data;
    if (reusable && ah_stream_buffered(conn->stream, &data) > 0)
        reusable = 0; /* bytes nobody asked for: the framing cannot be trusted */
    ah__pool_put(r->client, conn, reusable);
}

static void finish_body(ah_client_response *r)
{
    r->body_done = 1;
    release_conn(r, r->keep_alive);
}

int ah__response_read_head(ah__fetch *f, ah__cconn *conn, int head_request, int request_close,
                           ah_client_response **out, int *any_byte)
{
    ah_client *c = f->c;
    ah_client_response *r = NULL;
    *out = NULL;
    for (;;) {
        size_t head_len = 0, lines = 0;
        int rc = ah__response_find_head(f, conn->stream, &c->opts, &head_len, &lines, any_byte);
        if (rc < 0)
            return rc;
        if ((rc = parse_head(f, conn, head_len, lines, head_request, &r)) < 0)
            return rc;
        if (r->status >= 200 || r->status == 101)
            break;
        response_discard(r); /* 100 Continue, 103 Early Hints: the real answer follows */
    }

    unsigned flags = r->msg.parser.flags;
    int skip_body = r->msg.no_body;
    /* Only "chunked" alone is a transfer coding we decode: with another one (gzip, chunked) the
     * bytes handed out would not be the body, and close-delimited framing of an unknown coding
     * is a guess another hop may not share. */
    if (!skip_body && r->status != 101 && ah__msg_check_transfer_encoding(&r->msg) < 0) {
        char te[64];
        const char *v = ah_client_response_header(r, "Transfer-Encoding");
        snprintf(te, sizeof(te), "%s", v ? v : "");
        response_discard(r);
        return ah__client_fail(f, AH_EPROTO_HTTP, AH_CLIENT_PHASE_HEADERS, AH_CLIENT_TIMEOUT_NONE,
                               "malformed response: unsupported transfer coding \"%s\"", te);
    }
    if (flags & F_CONTENT_LENGTH)
        r->content_length = (int64_t)r->msg.parser.content_length;
    if (skip_body || r->status == 101) {
        r->body_kind = BODY_NONE;
    } else if (flags & F_CHUNKED) {
        r->body_kind = BODY_CHUNKED;
    } else if (flags & F_TRANSFER_ENCODING) {
        r->body_kind = BODY_EOF; /* RFC 9112 §6.3: not chunked last, so read until close */
    } else if (flags & F_CONTENT_LENGTH) {
        r->body_kind = r->msg.parser.content_length ? BODY_LENGTH : BODY_NONE;
        r->body_left = r->msg.parser.content_length;
    } else {
        r->body_kind = BODY_EOF;
    }
    r->keep_alive = llhttp_should_keep_alive(&r->msg.parser) && r->status != 101 &&
                    r->body_kind != BODY_EOF && !request_close;
    if (r->body_kind != BODY_NONE && c->opts.decompress >= 0) {
        int rc = ah__inflate_new(ah_client_response_header(r, "Content-Encoding"), &r->dec);
        if (rc < 0) {
            response_discard(r);
            return ah__client_fail(f, rc, AH_CLIENT_PHASE_HEADERS, AH_CLIENT_TIMEOUT_NONE,
                                   "out of memory");
        }
    }
    ah__client_ref(c);
    r->conn = conn;
    if (r->body_kind == BODY_NONE)
        finish_body(r);
    *out = r;
    return 0;
}

int ah__response_read_stream(ah_client *c, ah_stream *s, int head_request, ah_client_response **out)
{
    *out = NULL;
    ah__cconn *conn = calloc(1, sizeof(*conn));
    if (!conn) {
        ah_stream_close(s);
        return AH_ENOMEM;
    }
    conn->stream = s;
    snprintf(conn->peer, sizeof(conn->peer), "stream");
    ah_client_error err = {0};
    ah__fetch f = {c, INT64_MAX, 0, &err, 0};
    int any_byte = 0;
    int rc = ah__response_read_head(&f, conn, head_request, 0, out, &any_byte);
    if (rc < 0)
        ah__pool_put(c, conn, 0);
    return rc;
}

void ah__response_set_origin(ah_client_response *r, ah_url *url, ah__url_entry *shared,
                             int redirects, int64_t total_until)
{
    ah_url_free(&r->origin);
    if (r->origin_shared)
        ah__url_entry_unref(r->origin_shared);
    r->origin_shared = NULL;
    if (url) {
        r->origin = *url;
        memset(url, 0, sizeof(*url));
    } else {
        r->origin_shared = shared;
        shared->refs++;
    }
    free(r->url);
    r->url = NULL;
    r->redirects = redirects;
    r->total_until = total_until;
}

void ah__response_set_history(ah_client_response *r, ah__hop *hops, size_t n)
{
    ah__hops_free(r->history, r->nhistory);
    r->history = hops;
    r->nhistory = n;
}

void ah__hops_free(ah__hop *hops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(hops[i].url);
        free(hops[i].location);
    }
    free(hops);
}

const char *ah__response_location(const ah_client_response *r)
{
    return ah_client_response_header(r, "Location");
}

/* ---- the body ---- */

/* Read more into the stream's buffer; with nowait, only what the socket has (AH_EAGAIN if
 * nothing). */
static int fill(ah_stream *s, int nowait)
{
    return nowait ? ah__stream_fill_nowait(s) : ah_stream_fill(s);
}

/* Body bytes as framed on the wire (chunked decoded, content codings not). nowait: never wait
 * for the peer (AH_EAGAIN when nothing has arrived), for the drain in ah_client_response_free. */
static int raw_read_ex(ah_client_response *r, char *buf, size_t len, int nowait)
{
    if (r->raw_error)
        return r->raw_error;
    if (r->body_done)
        return 0;
    ah_stream *s = r->conn->stream;
    const char *data;
    if (nowait && r->body_kind != BODY_CHUNKED && ah_stream_buffered(s, &data) == 0) {
        int n = fill(s, 1);
        if (n == 0 || n == AH_ETLS_TRUNCATED)
            return r->body_kind == BODY_EOF ? 0 : AH_ETRUNCATED;
        if (n < 0)
            return n;
    }
    if (r->body_kind == BODY_LENGTH) {
        size_t want = (uint64_t)len < r->body_left ? len : (size_t)r->body_left;
        int n = ah_stream_read(s, buf, want);
        if (n == 0 || n == AH_ETLS_TRUNCATED)
            return AH_ETRUNCATED;
        if (n < 0)
            return n;
        r->body_left -= (uint64_t)n;
        r->body_read += (uint64_t)n;
        if (r->body_left == 0)
            finish_body(r);
        return n;
    }
    if (r->body_kind == BODY_EOF) {
        int n = ah_stream_read(s, buf, len);
        if (n == 0)
            finish_body(r);
        if (n > 0)
            r->body_read += (uint64_t)n;
        return n;
    }
    /* chunked: llhttp decodes; feed it no more input than there is room for output */
    for (;;) {
        size_t have = ah_stream_buffered(s, &data);
        if (have == 0) {
            int n = fill(s, nowait);
            if (n == 0 || n == AH_ETLS_TRUNCATED)
                return AH_ETRUNCATED;
            if (n < 0)
                return n;
            continue;
        }
        size_t used, got;
        int step = ah__msg_body_step(&r->msg, data, have, buf, len, &used, &got);
        if (step < 0) {
            if (got == 0)
                return step;
            /* The chunks before the bad bytes were good: hand them out first, as curl writes
             * them before failing, and fail on the next read. Nothing is consumed: the
             * connection cannot be reused after this anyway. */
            r->raw_error = step;
            r->body_read += got;
            return (int)got;
        }
        ah_stream_consume(s, used);
        r->body_read += got;
        if (step == 1)
            finish_body(r);
        if (got > 0)
            return (int)got;
        if (r->body_done)
            return 0;
    }
}

static int raw_read(ah_client_response *r, char *buf, size_t len)
{
    return raw_read_ex(r, buf, len, 0);
}

static int decoded_read(ah_client_response *r, char *buf, size_t len)
{
    size_t max = r->client->opts.max_decompressed;
    for (;;) {
        if (!r->dec_done && (r->dec_in_off < r->dec_in_len || ah__inflate_pending(r->dec))) {
            size_t used, made;
            int rc = ah__inflate_run(r->dec, r->dec_in + r->dec_in_off,
                                     r->dec_in_len - r->dec_in_off, &used, buf, len, &made);
            if (rc < 0)
                return rc;
            r->dec_in_off += used;
            if (rc == 1)
                r->dec_done = 1;
            if (made > 0) {
                r->decoded += made;
                if (r->decoded > max)
                    return AH_ETOOBIG;
                return (int)made;
            }
            if (rc == 0 && r->dec_in_off < r->dec_in_len) {
                if (used == 0)
                    return AH_EPROTO_HTTP; /* zlib can make no progress on this input */
                continue;
            }
        }
        if (!r->dec_in && !(r->dec_in = malloc(DEC_IN_SIZE)))
            return AH_ENOMEM;
        int n = raw_read(r, r->dec_in, DEC_IN_SIZE);
        if (n < 0)
            return n;
        if (n == 0) {
            /* an empty body is an empty body; one that stops mid-stream is broken */
            if (r->dec_done || !r->dec_fed)
                return 0;
            return AH_EPROTO_HTTP;
        }
        r->dec_fed = 1;
        r->dec_in_len = (size_t)n;
        r->dec_in_off = r->dec_done ? (size_t)n : 0; /* after the end: dropped */
    }
}

/* Record a body failure (sticky) and drop the connection. */
static int body_fail(ah_client_response *r, int rc)
{
    ah__fetch f = {r->client, r->total_until, r->total_ms, &r->err, 0};
    ah_client_timeout which = ah__client_which_timeout(r->total_until, rc, AH_CLIENT_TIMEOUT_READ);
    ah_client_opts *o = &r->client->opts;
    release_conn(r, 0);
    switch (rc) {
    case AH_ETRUNCATED:
        if (r->body_kind == BODY_LENGTH)
            return ah__client_fail(&f, rc, AH_CLIENT_PHASE_BODY, which,
                                   "body truncated: the connection closed after %llu of %lld bytes",
                                   (unsigned long long)r->body_read, (long long)r->content_length);
        return ah__client_fail(&f, rc, AH_CLIENT_PHASE_BODY, which,
                               "body truncated: the connection closed in a chunked body");
    case AH_ETIMEDOUT:
        if (which == AH_CLIENT_TIMEOUT_TOTAL)
            return ah__client_fail(&f, rc, AH_CLIENT_PHASE_BODY, which,
                                   "total timeout (%lld ms) reading the body from %s",
                                   (long long)r->total_ms, r->peer);
        if (which == AH_CLIENT_TIMEOUT_READ)
            return ah__client_fail(&f, rc, AH_CLIENT_PHASE_BODY, which,
                                   "read timeout (%lld ms) reading the body from %s",
                                   (long long)o->read_timeout_ms, r->peer);
        return ah__client_fail(&f, rc, AH_CLIENT_PHASE_BODY, which, "reading the body from %s",
                               r->peer);
    case AH_ETOOBIG:
        if (r->dec)
            return ah__client_fail(&f, rc, AH_CLIENT_PHASE_BODY, which,
                                   "decompressed body larger than %zu bytes", o->max_decompressed);
        return ah__client_fail(&f, rc, AH_CLIENT_PHASE_BODY, which, "body larger than %zu bytes",
                               o->max_body);
    case AH_EPROTO_HTTP:
        if (r->dec && r->body_kind != BODY_CHUNKED)
            return ah__client_fail(&f, rc, AH_CLIENT_PHASE_BODY, which,
                                   "malformed compressed body (%s)",
                                   ah_client_response_header(r, "Content-Encoding"));
        return ah__client_fail(&f, rc, AH_CLIENT_PHASE_BODY, which, "malformed %s body",
                               r->dec ? "chunked or compressed" : "chunked");
    case AH_ETLS_TRUNCATED:
        return ah__client_fail(&f, rc, AH_CLIENT_PHASE_BODY, which,
                               "TLS connection closed without close_notify: the body may be "
                               "truncated");
    default:
        return ah__client_fail(&f, rc, AH_CLIENT_PHASE_BODY, which, "reading the body from %s: %s",
                               r->peer, ah_strerror(rc));
    }
}

/* Run a body step under the request's total deadline. */
static int with_deadline(ah_client_response *r, char *buf, size_t len)
{
    const char *data;
    if (!r->dec && (r->body_kind == BODY_LENGTH || r->body_kind == BODY_EOF) && r->conn &&
        ah_stream_buffered(r->conn->stream, &data) > 0)
        return raw_read(r, buf, len); /* a copy from the buffer never waits: no scope, no clock */
    int pushed = 0;
    if (r->total_until != INT64_MAX) { /* past already: the first wait says so */
        int rc = ah__deadline_push_at(r->total_until);
        if (rc < 0)
            return rc;
        pushed = 1;
    }
    int n = r->dec ? decoded_read(r, buf, len) : raw_read(r, buf, len);
    if (pushed)
        ah__deadline_drop();
    return n;
}

int ah_client_response_read(ah_client_response *r, void *buf, size_t len)
{
    if (!r || (!buf && len))
        return AH_EINVAL;
    if (r->err.code)
        return r->err.code;
    if (len == 0)
        return 0;
    if (len > INT_MAX)
        len = INT_MAX;
    if (r->ahead_off < r->ahead_len) { /* what read_line read past its line comes first */
        size_t n = r->ahead_len - r->ahead_off;
        if (n > len)
            n = len;
        memcpy(buf, r->ahead + r->ahead_off, n);
        r->ahead_off += n;
        return (int)n;
    }
    if (r->body_done && (!r->dec || r->dec_done))
        return 0;
    int n = with_deadline(r, buf, len);
    return n < 0 ? body_fail(r, n) : n;
}

/* The body is read ahead in LINE_AHEAD_SIZE steps into r->ahead and the line copied out of it:
 * one body step per few lines rather than per byte, and whatever follows the line stays there
 * for the next read_line or read. */
int ah_client_response_read_line(ah_client_response *r, char *buf, size_t size)
{
    if (!r || !buf || size < 2)
        return AH_EINVAL;
    if (r->err.code)
        return r->err.code;
    if (size > (size_t)INT_MAX + 1)
        size = (size_t)INT_MAX + 1;
    size_t room = size - 1, got = 0;
    while (got < room) {
        if (r->ahead_off == r->ahead_len) {
            if (r->body_done && (!r->dec || r->dec_done))
                break;
            int n = r->ahead || (r->ahead = malloc(LINE_AHEAD_SIZE))
                        ? with_deadline(r, r->ahead, LINE_AHEAD_SIZE)
                        : AH_ENOMEM;
            if (n < 0) {
                n = body_fail(r, n); /* sticky: the next call returns it */
                if (got == 0)
                    return n;
                break; /* the bytes before the error first, as read does */
            }
            if (n == 0)
                break;
            r->ahead_off = 0;
            r->ahead_len = (size_t)n;
        }
        const char *from = r->ahead + r->ahead_off;
        size_t take = r->ahead_len - r->ahead_off;
        if (take > room - got)
            take = room - got;
        const char *nl = memchr(from, '\n', take);
        if (nl)
            take = (size_t)(nl - from) + 1;
        memcpy(buf + got, from, take);
        got += take;
        r->ahead_off += take;
        if (nl)
            break;
    }
    buf[got] = '\0';
    return (int)got;
}

int ah_client_response_body(ah_client_response *r, const char **data, size_t *len)
{
    if (!r || !data || !len)
        return AH_EINVAL;
    if (r->have_body) {
        *data = r->body;
        *len = r->body_len;
        return 0;
    }
    if (r->err.code)
        return r->err.code;
    size_t max = r->client->opts.max_body;
    int known = !r->dec && r->body_kind == BODY_LENGTH; /* a HEAD or 304 length is no body */
    if (known && (uint64_t)r->content_length > max)
        return body_fail(r, AH_ETOOBIG);
    /* the whole body in one capped buffer, read into it directly */
    ah_buf body;
    ah_buf_init(&body, max);
    size_t want = known ? (size_t)r->content_length : 16 * 1024;
    for (;;) {
        if (known && ah_buf_len(&body) == (size_t)r->content_length && r->body_done)
            break; /* all there is: no need to probe */
        size_t room;
        char *at = ah_buf_space(&body, want, &room);
        if (!at) {
            if (ah_buf_error(&body)) {
                ah_buf_free(&body);
                return body_fail(r, AH_ENOMEM);
            }
            char probe; /* one more byte would break the limit: does it exist? */
            int n = ah_client_response_read(r, &probe, 1);
            if (n == 0)
                break;
            ah_buf_free(&body);
            return n < 0 ? n : body_fail(r, AH_ETOOBIG);
        }
        int n = ah_client_response_read(r, at, room);
        if (n < 0) {
            ah_buf_free(&body);
            return n;
        }
        if (n == 0)
            break;
        ah_buf_commit(&body, (size_t)n);
        want = ah_buf_len(&body); /* unknown length: double */
    }
    r->body_len = ah_buf_len(&body);
    r->body = ah_buf_take(&body);
    if (!r->body)
        return body_fail(r, AH_ENOMEM);
    r->have_body = 1;
    *data = r->body;
    *len = r->body_len;
    return 0;
}

const ah_client_error *ah_client_response_error(const ah_client_response *r)
{
    return r ? &r->err : NULL;
}

/* Read and drop what is left of the body, if little, so the connection can be reused. */
static void drain(ah_client_response *r)
{
    if (r->err.code || r->body_done || !ah_task_current() || ah_task_cancelled())
        return;
    if (r->body_kind == BODY_EOF || (r->body_kind == BODY_LENGTH && r->body_left > DRAIN_MAX))
        return;
    /* Never waits: only what has already arrived (in the buffer, or in the socket for a read
     * that does not block) is dropped. If the end of the body is not among it, the connection
     * is closed: a new one costs less than a task stuck in a free. */
    char scratch[4096];
    size_t dropped = 0;
    while (!r->body_done && dropped <= DRAIN_MAX) {
        int n = raw_read_ex(r, scratch, sizeof(scratch), 1);
        if (n <= 0)
            break;
        dropped += (size_t)n;
    }
}

void ah__response_skip_body(ah_client_response *r)
{
    if (r->err.code || r->body_done || !r->conn)
        return;
    if (r->body_kind == BODY_EOF || (r->body_kind == BODY_LENGTH && r->body_left > DRAIN_MAX))
        return;
    int pushed = 0;
    if (r->total_until != INT64_MAX) {
        if (ah__deadline_push_at(r->total_until) < 0)
            return;
        pushed = 1;
    }
    char scratch[4096];
    size_t dropped = 0;
    while (!r->body_done && dropped <= DRAIN_MAX) {
        int n = raw_read(r, scratch, sizeof(scratch));
        if (n <= 0)
            break;
        dropped += (size_t)n;
    }
    if (pushed)
        ah__deadline_drop();
}

void ah_client_response_free(ah_client_response *r)
{
    if (!r)
        return;
    ah_client *c = r->client;
    if (r->conn) {
        drain(r); /* hands the connection back if it reaches the end */
        release_conn(r, 0);
    }
    response_discard(r);
    ah__client_unref(c);
}

/* ---- accessors ---- */

int ah_client_response_status(const ah_client_response *r) { return r ? r->status : 0; }
const char *ah_client_response_reason(const ah_client_response *r) { return r ? r->reason : ""; }
int ah_client_response_version(const ah_client_response *r) { return r ? r->version : 0; }
size_t ah_client_response_header_count(const ah_client_response *r) { return r ? r->nheaders : 0; }
int64_t ah_client_response_content_length(const ah_client_response *r)
{
    return r ? r->content_length : -1;
}
uint64_t ah_client_response_bytes_received(const ah_client_response *r)
{
    return r ? r->body_read : 0;
}
const char *ah_client_response_url(const ah_client_response *r)
{
    if (!r)
        return NULL;
    /* Formatted on the first call: most callers never ask (the response is the caller's,
     * not const underneath). */
    if (!r->url && (r->origin.scheme || r->origin_shared))
        ((ah_client_response *)r)->url =
            ah_url_format(r->origin_shared ? &r->origin_shared->url : &r->origin);
    return r->url;
}

size_t ah_client_response_history_count(const ah_client_response *r) { return r ? r->nhistory : 0; }

int ah_client_response_history_at(const ah_client_response *r, size_t i, int *status,
                                  const char **url, const char **location)
{
    if (!r || i >= r->nhistory)
        return AH_EINVAL;
    if (status)
        *status = r->history[i].status;
    if (url)
        *url = r->history[i].url;
    if (location)
        *location = r->history[i].location;
    return 0;
}

const char *ah_client_response_header_nth(const ah_client_response *r, const char *name, size_t n)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0 && n-- == 0)
            return r->headers[i].value;
    return NULL;
}

const char *ah_client_response_header(const ah_client_response *r, const char *name)
{
    return ah_client_response_header_nth(r, name, 0);
}

int ah_client_response_header_at(const ah_client_response *r, size_t i, const char **name,
                                 const char **value)
{
    if (!r || i >= r->nheaders)
        return AH_EINVAL;
    if (name)
        *name = r->headers[i].name;
    if (value)
        *value = r->headers[i].value;
    return 0;
}

const char *ah_client_response_trailer(const ah_client_response *r, const char *name)
{
    if (!r || !name)
        return NULL;
    const char *p = ah_buf_data(&r->msg.trailers);
    for (size_t i = 0; i < r->msg.ntrailers; i++) {
        const char *value = p + strlen(p) + 1;
        if (strcasecmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}
