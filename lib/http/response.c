/* Responses: headers checked against response splitting, the head serialised into one buffer
 * and sent with the body in one writev; chunked streaming with trailers; Date cached. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>

const char *ah_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status >= 100 && status < 600 ? "Unknown" : "Invalid";
    }
}

void ah__http_date_of(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Per thread (one loop per thread): formatted once a second from libevent's cached clock. */
static __thread char date_buf[32];
static __thread time_t date_sec;

const char *ah__http_date(ah_loop *loop)
{
    struct timeval tv;
    if (event_base_gettimeofday_cached(ah_loop_base(loop), &tv) != 0)
        gettimeofday(&tv, NULL);
    if (tv.tv_sec != date_sec) {
        date_sec = tv.tv_sec;
        ah__http_date_of(tv.tv_sec, date_buf);
    }
    return date_buf;
}

static int valid_header(const char *name, const char *value)
{
    return ah__http_is_token(name) && ah__http_is_field_value(value);
}

static int push_header(ah_response *resp, ah__header **list, size_t *n, size_t *cap,
                       const char *name, const char *value)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        ah__header *h = ah__arena_alloc(resp->req->arena, ncap * sizeof(*h));
        if (!h)
            return AH_ENOMEM;
        if (*n)
            memcpy(h, *list, *n * sizeof(*h));
        *list = h;
        *cap = ncap;
    }
    ah__header *h = &(*list)[(*n)++];
    h->name_len = strlen(name);
    h->value_len = strlen(value);
    h->name = ah__arena_strndup(resp->req->arena, name, h->name_len);
    h->value = ah__arena_strndup(resp->req->arena, value, h->value_len);
    return h->name && h->value ? 0 : AH_ENOMEM;
}

void ah_response_status(ah_response *resp, int status)
{
    if (status >= 100 && status <= 999)
        resp->status = status;
}

int ah_response_header(ah_response *resp, const char *name, const char *value)
{
    if (resp->state != AH__RESP_NEW)
        return AH_EBUSY;
    if (!valid_header(name, value))
        return AH_EINVAL;
    /* the names the server treats specially, told apart by length first (this runs for every
     * header of every response) */
    size_t len = strlen(name);
#define IS(lit) (len == sizeof(lit) - 1 && strcasecmp(name, lit) == 0)
    if (IS("Date") || IS("Transfer-Encoding"))
        return AH_EINVAL; /* the server's to set */
    if (IS("Connection")) {
        if (strcasecmp(value, "close") == 0)
            resp->close = 1;
        return 0;
    }
    if (IS("Content-Length")) {
        char *end;
        long long v = strtoll(value, &end, 10);
        if (*value < '0' || *value > '9' || *end || v < 0)
            return AH_EINVAL;
        resp->has_length = 1;
        resp->stream_left = v;
    }
#undef IS
    return push_header(resp, &resp->headers, &resp->nheaders, &resp->cap_headers, name, value);
}

int ah_response_trailer(ah_response *resp, const char *name, const char *value)
{
    if (resp->state == AH__RESP_DONE)
        return AH_EBUSY;
    if (!valid_header(name, value))
        return AH_EINVAL;
    return push_header(resp, &resp->trailers, &resp->ntrailers, &resp->cap_trailers, name, value);
}

int ah_response_body_ref(ah_response *resp, const void *data, size_t len)
{
    if (resp->state != AH__RESP_NEW)
        return AH_EBUSY;
    resp->body = data;
    resp->body_len = len;
    return 0;
}

int ah_response_body(ah_response *resp, const void *data, size_t len)
{
    if (resp->state != AH__RESP_NEW)
        return AH_EBUSY;
    char *copy = ah__arena_alloc(resp->req->arena, len ? len : 1);
    if (!copy)
        return AH_ENOMEM;
    memcpy(copy, data, len);
    return ah_response_body_ref(resp, copy, len);
}

int ah_response_text(ah_response *resp, int status, const char *content_type, const char *text)
{
    ah_response_status(resp, status);
    int rc = content_type ? ah_response_header(resp, "Content-Type", content_type) : 0;
    return rc < 0 ? rc : ah_response_body(resp, text, strlen(text));
}

/* Bodies are forbidden for 1xx, 204 and 304. */
static int status_has_body(int status) { return status >= 200 && status != 204 && status != 304; }

int ah_response_started(const ah_response *resp) { return resp->state != AH__RESP_NEW; }

int ah_response_get_status(const ah_response *resp) { return resp->status; }

uint64_t ah_response_get_body_bytes(const ah_response *resp)
{
    if (resp->state != AH__RESP_NEW)
        return resp->bytes_sent; /* streamed, or finished */
    if (resp->head_only || !status_has_body(resp->status))
        return 0;
    return resp->file_fd >= 0 ? (uint64_t)resp->file_len : resp->body_len;
}

/* A response head is built in an ah_buf that starts on the stack (a usual head fits, so the
 * hot path allocates nothing) with a cap far above any sane head. Appends of known lengths, no
 * printf: formatting was a third of the server's instructions per pipelined request. */
#define HEAD_STACK 2048
#define HEAD_MAX (1024 * 1024)

static inline void put(ah_buf *b, const char *s, size_t len)
{
    /* ah_buf_add's own fast path, inlined: a head is some twenty small appends */
    if (!b->error && b->cap - b->len > len) {
        memcpy(b->data + b->len, s, len);
        b->len += len;
        b->data[b->len] = '\0';
        return;
    }
    int sticky = ah_buf_add(b, s, len); /* checked once, with ah_buf_error */
    (void)sticky;
}

#define PUT_LITERAL(b, lit) put(b, lit, sizeof(lit) - 1)

static void put_uint(ah_buf *b, uint64_t v)
{
    char digits[24];
    size_t i = sizeof(digits);
    do
        digits[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    put(b, digits + i, sizeof(digits) - i);
}

static void put_header(ah_buf *b, const char *name, size_t name_len, const char *value,
                       size_t value_len)
{
    put(b, name, name_len);
    PUT_LITERAL(b, ": ");
    put(b, value, value_len);
    PUT_LITERAL(b, "\r\n");
}

/* The status line and headers. body_len < 0: streamed (chunked unless the handler set
 * Content-Length). */
static void format_head(ah_response *resp, ah_buf *b, int64_t body_len)
{
    ah__conn *c = resp->conn;
    ah_request *req = resp->req;
    PUT_LITERAL(b, "HTTP/1.1 ");
    put_uint(b, (uint64_t)resp->status); /* 100..999: ah_response_status sees to it */
    PUT_LITERAL(b, " ");
    const char *reason = ah_http_reason(resp->status);
    put(b, reason, strlen(reason));
    PUT_LITERAL(b, "\r\n");
    const char *server = c->srv->opts.server_name;
    if (server)
        put_header(b, "Server", 6, server, strlen(server));
    const char *date = ah__http_date(c->loop);
    put_header(b, "Date", 4, date, strlen(date));
    for (size_t i = 0; i < resp->nheaders; i++)
        put_header(b, resp->headers[i].name, resp->headers[i].name_len, resp->headers[i].value,
                   resp->headers[i].value_len);
    if (status_has_body(resp->status) && !resp->has_length) {
        if (body_len >= 0) {
            PUT_LITERAL(b, "Content-Length: ");
            put_uint(b, (uint64_t)body_len);
            PUT_LITERAL(b, "\r\n");
        } else if (resp->chunked) {
            PUT_LITERAL(b, "Transfer-Encoding: chunked\r\n");
        }
    }
    if (resp->close || !req->keep_alive || c->closing)
        PUT_LITERAL(b, "Connection: close\r\n");
    else if (req->version == 10)
        PUT_LITERAL(b, "Connection: keep-alive\r\n");
    PUT_LITERAL(b, "\r\n");
}

static int send_head(ah_response *resp, int64_t body_len, const void *body, size_t len)
{
    char stack_buf[HEAD_STACK];
    ah_buf head;
    ah_buf_init_with(&head, stack_buf, sizeof(stack_buf), HEAD_MAX);
    format_head(resp, &head, body_len);
    int rc = ah_buf_error(&head);
    if (rc < 0) {
        ah_buf_free(&head);
        return rc;
    }
    if (resp->status >= 200 && (resp->close || !resp->req->keep_alive || resp->conn->closing))
        resp->close = 1;
    struct iovec iov[2] = {{(void *)ah_buf_data(&head), ah_buf_len(&head)}, {(void *)body, len}};
    rc = ah_stream_writev(resp->conn->stream, iov, len && !resp->head_only ? 2 : 1);
    ah_buf_free(&head);
    return rc;
}

int ah_response_start(ah_response *resp)
{
    if (resp->state != AH__RESP_NEW)
        return resp->state == AH__RESP_STREAMING ? 0 : AH_EBUSY;
    resp->chunked = !resp->has_length && status_has_body(resp->status);
    if (!resp->has_length)
        resp->stream_left = -1;
    if (resp->chunked && resp->req->version == 10) {
        /* HTTP/1.0 has no chunked encoding: the body ends when the connection closes */
        resp->chunked = 0;
        resp->close = 1;
    }
    resp->state = AH__RESP_STREAMING;
    int rc = send_head(resp, -1, NULL, 0);
    /* A streamed body goes out as it is written: stop corking this connection's output. */
    if (rc == 0)
        rc = ah_stream_uncork(resp->conn->stream);
    return rc;
}

int ah_response_write(ah_response *resp, const void *data, size_t len)
{
    int rc = ah_response_start(resp);
    if (rc < 0 || len == 0)
        return rc;
    if (resp->head_only || !status_has_body(resp->status))
        return 0;
    if (resp->stream_left >= 0) {
        if ((int64_t)len > resp->stream_left)
            return AH_ETOOBIG; /* more than the declared Content-Length */
        resp->stream_left -= (int64_t)len;
    }
    resp->bytes_sent += len;
    if (!resp->chunked)
        return ah_stream_write(resp->conn->stream, data, len);
    char size_line[24];
    int n = snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
    struct iovec iov[3] = {{size_line, (size_t)n}, {(void *)data, len}, {"\r\n", 2}};
    return ah_stream_writev(resp->conn->stream, iov, 3);
}

int ah_response_end(ah_response *resp)
{
    if (resp->state == AH__RESP_DONE)
        return 0;
    if (resp->state == AH__RESP_NEW)
        return ah__response_finish(resp);
    resp->state = AH__RESP_DONE;
    if (resp->stream_left > 0) {
        resp->close = 1; /* the body came up short of its Content-Length: the peer must know */
        return AH_EPIPE;
    }
    if (!resp->chunked || resp->head_only)
        return 0;
    ah_stream *s = resp->conn->stream;
    if (!resp->ntrailers)
        return ah_stream_write(s, "0\r\n\r\n", 5);
    int rc = ah_stream_write(s, "0\r\n", 3);
    for (size_t i = 0; rc == 0 && i < resp->ntrailers; i++) {
        struct iovec iov[4] = {{(void *)resp->trailers[i].name, resp->trailers[i].name_len},
                               {": ", 2},
                               {(void *)resp->trailers[i].value, resp->trailers[i].value_len},
                               {"\r\n", 2}};
        rc = ah_stream_writev(s, iov, 4);
    }
    return rc == 0 ? ah_stream_write(s, "\r\n", 2) : rc;
}

int ah_response_file(ah_response *resp, int fd, int64_t offset, int64_t len, int close_fd)
{
    if (resp->state != AH__RESP_NEW)
        return AH_EBUSY;
    resp->file_fd = fd;
    resp->file_offset = offset;
    resp->file_len = len;
    resp->file_close = close_fd;
    return 0;
}

/* The body of a file response: sendfile on a plain TCP stream, read + write otherwise (TLS). */
static int send_file(ah_response *resp)
{
    ah_stream *s = resp->conn->stream;
    int rc = ah_stream_flush(s);
    int64_t left = resp->file_len;
    off_t off = (off_t)resp->file_offset;
    int out = resp->conn->tls ? -1 : ah_stream_fd(s);
    while (rc == 0 && left > 0) {
        if (out >= 0) {
            ssize_t n =
                sendfile(out, resp->file_fd, &off, (size_t)(left > (1 << 30) ? (1 << 30) : left));
            if (n > 0) {
                left -= n;
                continue;
            }
            if (n == 0)
                rc = AH_EPIPE; /* the file shrank */
            else if (errno == EAGAIN) {
                int w = ah_wait_fd(out, AH_WRITE, resp->conn->srv->opts.write_timeout_ms);
                rc = w < 0 ? w : 0; /* a cancellation stays a cancellation */
            } else if (errno != EINTR)
                rc = -errno;
            continue;
        }
        char buf[16 * 1024]; /* one TLS record; task stacks are 64 KiB by default */
        ssize_t n = pread(resp->file_fd, buf,
                          (size_t)(left < (int64_t)sizeof(buf) ? left : (int64_t)sizeof(buf)), off);
        if (n <= 0) {
            rc = n == 0 ? AH_EPIPE : -errno;
            break;
        }
        off += n;
        left -= n;
        rc = ah_stream_write(s, buf, (size_t)n);
    }
    resp->bytes_sent += (uint64_t)(resp->file_len - left);
    return rc;
}

/* A whole body's length is known: a Content-Length the handler set is dropped so that the one
 * on the wire always matches the bytes that follow (a mismatch would desynchronise the next
 * response on the connection). HEAD keeps it: it announces the GET body's length. */
static void drop_handler_length(ah_response *resp)
{
    if (!resp->has_length || resp->head_only)
        return;
    size_t k = 0;
    for (size_t i = 0; i < resp->nheaders; i++)
        if (strcasecmp(resp->headers[i].name, "Content-Length") != 0)
            resp->headers[k++] = resp->headers[i];
    resp->nheaders = k;
    resp->has_length = 0;
}

int ah__response_finish(ah_response *resp)
{
    if (resp->state == AH__RESP_STREAMING)
        return ah_response_end(resp);
    if (resp->state == AH__RESP_DONE)
        return 0;
    resp->state = AH__RESP_DONE;
    drop_handler_length(resp);
    int rc;
    if (resp->file_fd >= 0) {
        int body = status_has_body(resp->status);
        rc = send_head(resp, body ? resp->file_len : -1, NULL, 0);
        if (rc == 0 && !resp->head_only && body) /* 204 and 304 carry no body */
            rc = send_file(resp);
        if (resp->file_close)
            close(resp->file_fd);
        resp->file_fd = -1;
        return rc;
    }
    int has_body = status_has_body(resp->status);
    size_t len = has_body ? resp->body_len : 0;
    if (!resp->head_only)
        resp->bytes_sent = len;
    return send_head(resp, has_body ? (int64_t)len : -1, resp->body, len);
}

int ah__response_error(ah_response *resp, int status, const char *text)
{
    if (resp->file_fd >= 0) { /* a file the handler chose before failing is not the answer */
        if (resp->file_close)
            close(resp->file_fd);
        resp->file_fd = -1;
    }
    resp->status = status;
    resp->nheaders = 0;
    resp->body = text;
    resp->body_len = strlen(text);
    (void)!ah_response_header(resp, "Content-Type", "text/plain");
    return ah__response_finish(resp);
}
