/* A raw HTTP/1.1 client for the server tests (see httputil.h). Deliberately strict: a test that
 * reads a response through it also checks the framing the server put on the wire. */
#include "config.h"

#include "httputil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "checkutil.h"

#define LINE_MAX_BYTES (64 * 1024)
#define BODY_MAX_BYTES (16 * 1024 * 1024)

int64_t http_read_timeout_ms(void) { return ah_check_slow() ? 30000 : 5000; }

int http_connect(uint16_t port, ah_stream **out)
{
    ah_stream_opts so = {.read_timeout_ms = http_read_timeout_ms(),
                         .write_timeout_ms = http_read_timeout_ms()};
    ah_tcp_connect_opts co = {.stream = &so};
    return ah_tcp_connect("127.0.0.1", port, &co, out);
}

int http_send(ah_stream *s, const char *raw) { return ah_stream_write(s, raw, strlen(raw)); }

/* One CRLF-terminated line into a malloc'd string without the CRLF. A bare LF inside is
 * malformed. */
static int read_line(ah_stream *s, char **out)
{
    char *buf = malloc(LINE_MAX_BYTES);
    if (!buf)
        return AH_ENOMEM;
    int n = ah_stream_read_until(s, "\r\n", 2, buf, LINE_MAX_BYTES);
    if (n < 0) {
        free(buf);
        return n == AH_ETOOBIG ? AH_EPROTO_HTTP : n;
    }
    buf[n - 2] = '\0';
    if (memchr(buf, '\n', (size_t)n - 2) || memchr(buf, '\r', (size_t)n - 2)) {
        free(buf);
        return AH_EPROTO_HTTP;
    }
    *out = buf;
    return n - 2;
}

static void free_fields(http_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].name);
        free(f[i].value);
    }
    free(f);
}

/* Header (or trailer) lines up to the empty line. */
static int read_fields(ah_stream *s, http_field **out, size_t *count)
{
    http_field *f = NULL;
    size_t n = 0;
    for (;;) {
        char *line;
        int rc = read_line(s, &line);
        if (rc < 0)
            goto fail;
        if (rc == 0) {
            free(line);
            break;
        }
        char *colon = strchr(line, ':');
        /* a field name is a token: no whitespace, not empty */
        if (!colon || colon == line || strcspn(line, " \t") < (size_t)(colon - line)) {
            free(line);
            rc = AH_EPROTO_HTTP;
            goto fail;
        }
        http_field *nf = realloc(f, (n + 1) * sizeof(*f));
        if (!nf) {
            free(line);
            rc = AH_ENOMEM;
            goto fail;
        }
        f = nf;
        *colon = '\0';
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        f[n].name = strdup(line);
        f[n].value = strndup(v, vl);
        n++;
        free(line);
        if (!f[n - 1].name || !f[n - 1].value) {
            rc = AH_ENOMEM;
            goto fail;
        }
        continue;
    fail:
        free_fields(f, n);
        return rc;
    }
    *out = f;
    *count = n;
    return 0;
}

static const char *field_get(const http_field *f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(f[i].name, name) == 0)
            return f[i].value;
    return NULL;
}

const char *http_header(const http_response *r, const char *name)
{
    return field_get(r->headers, r->nheaders, name);
}

const char *http_trailer(const http_response *r, const char *name)
{
    return field_get(r->trailers, r->ntrailers, name);
}

size_t http_header_count(const http_response *r, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        c += strcasecmp(r->headers[i].name, name) == 0;
    return c;
}

void http_response_free(http_response *r)
{
    free(r->reason);
    free_fields(r->headers, r->nheaders);
    free_fields(r->trailers, r->ntrailers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static int body_append(http_response *r, size_t *cap, const char *data, size_t len)
{
    if (r->body_len + len + 1 > *cap) {
        size_t ncap = *cap ? *cap : 256;
        while (ncap < r->body_len + len + 1)
            ncap *= 2;
        if (ncap > BODY_MAX_BYTES)
            return AH_ETOOBIG;
        char *nb = realloc(r->body, ncap);
        if (!nb)
            return AH_ENOMEM;
        r->body = nb;
        *cap = ncap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int read_chunked(ah_stream *s, http_response *r, size_t *cap)
{
    char buf[4096];
    for (;;) {
        char *line;
        int rc = read_line(s, &line);
        if (rc < 0)
            return rc;
        char *end;
        if (!isxdigit((unsigned char)line[0])) {
            free(line);
            return AH_EPROTO_HTTP;
        }
        unsigned long long size = strtoull(line, &end, 16);
        int ok = *end == '\0' || *end == ';';
        free(line);
        if (!ok || size > BODY_MAX_BYTES)
            return AH_EPROTO_HTTP;
        if (size == 0)
            return read_fields(s, &r->trailers, &r->ntrailers);
        while (size > 0) {
            size_t want = size < sizeof(buf) ? (size_t)size : sizeof(buf);
            rc = ah_stream_read_exactly(s, buf, want);
            if (rc < 0)
                return rc;
            if ((rc = body_append(r, cap, buf, want)) < 0)
                return rc;
            size -= want;
        }
        char crlf[2];
        rc = ah_stream_read_exactly(s, crlf, 2);
        if (rc < 0)
            return rc;
        if (crlf[0] != '\r' || crlf[1] != '\n')
            return AH_EPROTO_HTTP;
    }
}

static int read_body(ah_stream *s, int head, http_response *r)
{
    size_t cap = 0;
    int rc = body_append(r, &cap, "", 0); /* an empty body is still a string */
    if (rc < 0)
        return rc;
    if (head || r->status < 200 || r->status == 204 || r->status == 304)
        return 0;
    const char *te = http_header(r, "Transfer-Encoding");
    const char *cl = http_header(r, "Content-Length");
    if (te) {
        if (strcasecmp(te, "chunked") != 0 || cl)
            return AH_EPROTO_HTTP;
        r->chunked = 1;
        return read_chunked(s, r, &cap);
    }
    char buf[4096];
    if (cl) {
        char *end;
        if (!isdigit((unsigned char)cl[0]))
            return AH_EPROTO_HTTP;
        unsigned long long left = strtoull(cl, &end, 10);
        if (*end || left > BODY_MAX_BYTES || http_header_count(r, "Content-Length") != 1)
            return AH_EPROTO_HTTP;
        while (left > 0) {
            size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
            rc = ah_stream_read_exactly(s, buf, want);
            if (rc < 0)
                return rc;
            if ((rc = body_append(r, &cap, buf, want)) < 0)
                return rc;
            left -= want;
        }
        return 0;
    }
    r->to_eof = 1;
    for (;;) {
        int n = ah_stream_read(s, buf, sizeof(buf));
        if (n == 0)
            return 0;
        if (n < 0)
            return n;
        if ((rc = body_append(r, &cap, buf, (size_t)n)) < 0)
            return rc;
    }
}

int http_read_response(ah_stream *s, int head, http_response *r)
{
    memset(r, 0, sizeof(*r));
    char *line;
    int rc = read_line(s, &line);
    if (rc < 0)
        return rc == AH_ECONNRESET ? AH_EEOF : rc;
    /* "HTTP/1.1 200 OK" */
    int minor = -1, status = 0, consumed = 0;
    if (sscanf(line, "HTTP/1.%1d %3d%n", &minor, &status, &consumed) != 2 || consumed != 12 ||
        (line[12] != ' ' && line[12] != '\0') || status < 100 || status > 599) {
        free(line);
        return AH_EPROTO_HTTP;
    }
    r->minor = minor;
    r->status = status;
    r->reason = strdup(line[12] ? line + 13 : "");
    free(line);
    if (!r->reason)
        return AH_ENOMEM;
    rc = read_fields(s, &r->headers, &r->nheaders);
    if (rc == 0)
        rc = read_body(s, head, r);
    if (rc < 0)
        http_response_free(r);
    return rc;
}

int http_wait_closed(ah_stream *s, int64_t timeout_ms)
{
    ah_stream_set_timeouts(s, timeout_ms, http_read_timeout_ms());
    char c;
    int n = ah_stream_read(s, &c, 1);
    ah_stream_set_timeouts(s, http_read_timeout_ms(), http_read_timeout_ms());
    if (n == 0 || n == AH_ECONNRESET || n == AH_EPIPE)
        return 1;
    if (n == AH_ETIMEDOUT)
        return 0;
    return n > 0 ? -1 : 1;
}

int http_exchange(uint16_t port, const char *raw, int head, http_response *r)
{
    ah_stream *s;
    int rc = http_connect(port, &s);
    if (rc < 0)
        return rc;
    rc = http_send(s, raw);
    if (rc == 0)
        rc = http_read_response(s, head, r);
    ah_stream_close(s);
    return rc;
}
