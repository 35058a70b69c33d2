/* Requests: what a parsed head (message.c) means for the server — version, method, target,
 * body framing, Expect — and the accessors handlers use. Reading a request's body off its
 * connection (Content-Length and chunked, 100-continue) is server_conn.c's. */
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Percent-decode src[0..len) into the arena with the library's one decoder; plus_space turns
 * '+' into ' ' (query strings). NULL on a bad escape, and on an encoded NUL: handlers get C
 * strings, and a NUL would cut a path short of what was asked (so /a%00b is 400). */
static char *decode(ah__arena *a, const char *src, size_t len, int plus_space)
{
    char *out = ah__arena_alloc(a, len + 1);
    size_t n;
    if (!out || ah__pct_decode(src, len, plus_space, out, &n) < 0 || memchr(out, '\0', n))
        return NULL;
    return out;
}

/* The HTTP status for a head the message core refused. */
static int head_error_status(int code)
{
    return code == AH_ETOOBIG ? 431 : code == AH_ENOMEM ? 503 : 400;
}

int ah__request_parse_head(ah_request *req, char *head, size_t head_len, size_t lines,
                           const ah_server_opts *opts)
{
    /* lines counts the request line and the empty last line too; the scanner has checked the
     * count against the limit and every line ending */
    if (lines < 2)
        return 400;
    size_t header_cap = lines - 2;
    ah__header *headers =
        header_cap ? ah__arena_alloc(req->arena, header_cap * sizeof(ah__header)) : NULL;
    if (header_cap && !headers)
        return 503;
    ah__msg *m = &req->msg;
    ah__msg_init(m, HTTP_REQUEST, headers, header_cap, opts->max_header_bytes,
                 opts->max_header_count);
    req->msg_started = 1;
    int rc = ah__msg_parse_head(m, head, head_len);
    if (rc < 0)
        return head_error_status(rc);
    if (!m->start[0] || !m->start[1])
        return 400;
    req->method = m->start[0];
    req->target = m->start[1];
    req->headers = m->headers;
    req->nheaders = m->nheaders;
    req->version = req->msg.parser.http_major * 10 + req->msg.parser.http_minor;
    if (req->msg.parser.http_major != 1)
        return 505;
    if (req->msg.parser.method == HTTP_CONNECT)
        return 501;

    /* the target: origin-form, absolute-form (take its path), or "*" for OPTIONS */
    const char *t = req->target;
    if (strcmp(t, "*") == 0) {
        if (req->msg.parser.method != HTTP_OPTIONS)
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
    if (req->msg.parser.flags & F_CHUNKED) {
        req->body_kind = AH__BODY_CHUNKED;
        req->content_length = -1;
    } else if ((req->msg.parser.flags & F_CONTENT_LENGTH) && req->msg.parser.content_length > 0) {
        req->body_kind = AH__BODY_LENGTH;
        req->content_length = (int64_t)req->msg.parser.content_length;
    } else {
        req->body_kind = AH__BODY_NONE;
        req->content_length = 0;
        req->body_done = 1;
    }
    /* RFC 9112 §6.3: chunked not last, the length cannot be known: 400. §6.1: a coding the
     * server does not understand gets 501; ahttp decodes only chunked, so "gzip, chunked" would
     * hand the handler bytes it cannot read (and another hop may frame them differently). */
    int te = ah__msg_check_transfer_encoding(m);
    if (te < 0)
        return te == AH__TE_NOT_CHUNKED ? 400 : 501;
    req->keep_alive = llhttp_should_keep_alive(&req->msg.parser);
    const char *expect = ah_request_header(req, "Expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0)
            return 417;
        req->expect_continue = req->version >= 11 && req->body_kind != AH__BODY_NONE;
    }
    return 0;
}

void ah__request_end(ah_request *req)
{
    if (req->msg_started)
        ah__msg_free(&req->msg);
    req->msg_started = 0;
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
