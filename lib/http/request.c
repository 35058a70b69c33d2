/* Requests: parsing a head with llhttp (strict), the checks llhttp 8.1 leaves to us, the
 * llhttp body-feeding step the server and the client share, and the accessors handlers use.
 * Reading a request's body off its connection (Content-Length and chunked, 100-continue) is
 * server_conn.c's. */
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- llhttp callbacks: record spans; NUL-terminate them after parsing ---- */

static ah_request *req_of(llhttp_t *p) { return p->data; }

static int on_method(llhttp_t *p, const char *at, size_t len)
{
    ah_request *r = req_of(p);
    r->method_at = at;
    r->method_len = len;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    ah_request *r = req_of(p);
    r->url_at = at;
    r->url_len = len;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    ah_request *r = req_of(p);
    if (r->method)
        return 0; /* a chunked body's trailer fields: allowed, and not headers */
    if (r->nheaders == r->header_cap) {
        r->parse_error = 431;
        return -1;
    }
    /* llhttp 8.1 lets "Name :" through; RFC 9112 §5.1 says reject. */
    for (size_t i = 0; i < len; i++)
        if (at[i] == ' ' || at[i] == '\t') {
            r->parse_error = 400;
            return -1;
        }
    ah__header *h = &r->headers[r->nheaders++];
    h->name = at;
    h->name_len = len;
    h->value = at + len; /* an empty value until on_header_value says otherwise */
    h->value_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    ah_request *r = req_of(p);
    if (r->method)
        return 0;
    ah__header *h = &r->headers[r->nheaders - 1];
    h->value = at;
    h->value_len = len;
    return 0;
}

/* The callbacks below refuse to run in a state they should not be called in (a body before
 * the head is complete and a buffer is there to take it, a second end of message) instead of
 * trusting llhttp with our memory: that trust is what a bare CR once turned into a crash. */

static int on_headers_complete(llhttp_t *p)
{
    ah_request *r = req_of(p);
    if (r->head_complete) {
        r->parse_error = 400;
        return -1;
    }
    r->head_complete = 1;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    ah_request *r = req_of(p);
    /* The caller feeds at most as many input bytes as it has room for output. */
    if (!r->head_complete || r->msg_complete || !r->body_out ||
        len > r->body_out_cap - r->body_out_len) {
        r->parse_error = 400;
        return -1;
    }
    memcpy(r->body_out + r->body_out_len, at, len);
    r->body_out_len += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    ah_request *r = req_of(p);
    if (!r->head_complete || r->msg_complete) {
        r->parse_error = 400;
        return -1;
    }
    r->msg_complete = 1;
    return HPE_PAUSED; /* whatever follows is the next pipelined request */
}

static llhttp_settings_t settings;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;

static void init_settings(void)
{
    llhttp_settings_init(&settings);
    settings.on_method = on_method;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode src[0..len) into the arena; plus_space turns '+' into ' ' (query strings).
 * NULL on a bad escape or an encoded NUL. */
static char *decode(ah__arena *a, const char *src, size_t len, int plus_space)
{
    char *out = ah__arena_alloc(a, len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (len - i < 3)
                return NULL;
            int hi = hexval((unsigned char)src[i + 1]);
            int lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return NULL;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return out;
}

int ah__request_parse_head(ah_request *req, char *head, size_t head_len, size_t lines)
{
    pthread_once(&settings_once, init_settings);
    /* lines counts the request line and the empty last line too; the scanner has checked the
     * count against the limit and every line ending */
    if (lines < 2)
        return 400;
    req->header_cap = lines - 2;
    req->headers =
        req->header_cap ? ah__arena_alloc(req->arena, req->header_cap * sizeof(ah__header)) : NULL;
    if (req->header_cap && !req->headers)
        return 503;
    llhttp_init(&req->parser, HTTP_REQUEST, &settings);
    req->parser.data = req;
    llhttp_errno_t err = llhttp_execute(&req->parser, head, head_len);
    if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE)
        return req->parse_error ? req->parse_error : 400;
    if (err == HPE_PAUSED_UPGRADE)
        req->msg_complete = 1;
    /* llhttp must have consumed exactly the head: anything else means it framed the bytes
     * differently from the scanner, and we trust neither framing then */
    if (!req->head_complete || !req->method_at || !req->url_at ||
        (err == HPE_PAUSED && llhttp_get_error_pos(&req->parser) != head + head_len))
        return 400;

    /* NUL-terminate the spans in place: llhttp is done with the bytes after them. */
    ((char *)req->method_at)[req->method_len] = '\0';
    ((char *)req->url_at)[req->url_len] = '\0';
    req->method = req->method_at;
    req->target = req->url_at;
    for (size_t i = 0; i < req->nheaders; i++) {
        ah__header *h = &req->headers[i];
        while (h->value_len &&
               (h->value[h->value_len - 1] == ' ' || h->value[h->value_len - 1] == '\t'))
            h->value_len--;
        ((char *)h->name)[h->name_len] = '\0';
        ((char *)h->value)[h->value_len] = '\0';
    }
    req->version = req->parser.http_major * 10 + req->parser.http_minor;
    if (req->parser.http_major != 1)
        return 505;
    if (req->parser.method == HTTP_CONNECT)
        return 501;

    /* the target: origin-form, absolute-form (take its path), or "*" for OPTIONS */
    const char *t = req->target;
    if (strcmp(t, "*") == 0) {
        if (req->parser.method != HTTP_OPTIONS)
            return 400;
        req->path = "*";
        req->query = "";
    } else {
        if (t[0] != '/') {
            const char *scheme_end = strstr(t, "://");
            if (!scheme_end)
                return 400;
            t = strchr(scheme_end + 3, '/');
            if (!t)
                t = "/";
        }
        const char *q = strchr(t, '?');
        size_t plen = q ? (size_t)(q - t) : strlen(t);
        char *path = decode(req->arena, t, plen, 0);
        if (!path)
            return 400;
        req->path = path;
        req->query = q ? q + 1 : "";
    }

    /* body framing (llhttp has refused CL + TE, duplicate or bad lengths, bad chunking) */
    if (req->parser.flags & F_CHUNKED) {
        req->body_kind = AH__BODY_CHUNKED;
        req->content_length = -1;
    } else if ((req->parser.flags & F_CONTENT_LENGTH) && req->parser.content_length > 0) {
        req->body_kind = AH__BODY_LENGTH;
        req->content_length = (int64_t)req->parser.content_length;
    } else {
        req->body_kind = AH__BODY_NONE;
        req->content_length = 0;
        req->body_done = 1;
    }
    /* RFC 9112 §6.1: a coding the server does not understand gets 501. ahttp decodes only
     * chunked, so "gzip, chunked" or "identity, chunked" would hand the handler bytes it cannot
     * read (and another hop may frame them differently). */
    if (req->parser.flags & F_TRANSFER_ENCODING) {
        if (!(req->parser.flags & F_CHUNKED))
            return 400; /* §6.3: chunked not last, the length cannot be known */
        if (ah__headers_check_transfer_encoding(req->headers, req->nheaders) < 0)
            return 501;
    }
    req->keep_alive = llhttp_should_keep_alive(&req->parser);
    const char *expect = ah_request_header(req, "Expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0)
            return 417;
        req->expect_continue = req->version >= 11 && req->body_kind != AH__BODY_NONE;
    }
    return 0;
}

long ah__llhttp_feed(llhttp_t *p, const char *data, size_t len)
{
    llhttp_errno_t err = llhttp_execute(p, data, len);
    if (err == HPE_PAUSED) {
        long used = (long)(llhttp_get_error_pos(p) - data);
        llhttp_resume(p);
        return used;
    }
    return err == HPE_OK ? (long)len : -1;
}

/* ---- accessors ---- */

const char *ah_request_method(const ah_request *req) { return req->method; }
const char *ah_request_target(const ah_request *req) { return req->target; }
const char *ah_request_path(const ah_request *req) { return req->path; }
const char *ah_request_query(const ah_request *req) { return req->query; }
int ah_request_version(const ah_request *req) { return req->version; }
int64_t ah_request_content_length(const ah_request *req) { return req->content_length; }
size_t ah_request_header_count(const ah_request *req) { return req->nheaders; }

const char *ah_request_header(const ah_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

int ah_request_header_at(const ah_request *req, size_t i, const char **name, const char **value)
{
    if (i >= req->nheaders)
        return AH_EINVAL;
    *name = req->headers[i].name;
    *value = req->headers[i].value;
    return 0;
}

const char *ah_request_param(const ah_request *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->param_names[i], name) == 0)
            return req->param_values[i];
    return NULL;
}

const char *ah_request_query_param(ah_request *req, const char *name)
{
    if (!req->qparsed) {
        req->qparsed = 1;
        size_t n = 1;
        for (const char *p = req->query; *p; p++)
            n += *p == '&';
        req->qparams = ah__arena_alloc(req->arena, n * sizeof(ah__header));
        if (!req->qparams)
            return NULL;
        const char *p = req->query;
        while (*p) {
            const char *end = strchr(p, '&');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            char *k = decode(req->arena, p, klen, 1);
            char *v = eq ? decode(req->arena, eq + 1, len - klen - 1, 1)
                         : ah__arena_strndup(req->arena, "", 0);
            if (k && v && klen) {
                req->qparams[req->nqparams].name = k;
                req->qparams[req->nqparams].value = v;
                req->nqparams++;
            }
            p += len + (end ? 1 : 0);
        }
    }
    for (size_t i = 0; i < req->nqparams; i++)
        if (strcmp(req->qparams[i].name, name) == 0)
            return req->qparams[i].value;
    return NULL;
}

char *ah_request_strdup(ah_request *req, const char *s)
{
    return s ? ah__arena_strndup(req->arena, s, strlen(s)) : NULL;
}

void *ah_request_alloc(ah_request *req, size_t size) { return ah__arena_alloc(req->arena, size); }
