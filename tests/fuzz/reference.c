/* reference: the strict second reading of HTTP/1.1 framing the fuzz targets compare the library
 * with (what it judges, and why, is in reference.h). Written from RFC 9112 §2-§7 and nothing
 * else: it shares no code with lib/, so the two cannot share a mistake. */
#include "config.h"

#include "reference.h"

#include <string.h>
#include <strings.h>

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* The line at *at: its length without CRLF and *line, *at moved past the CRLF; -1 if no CRLF
 * comes, or a CR or LF comes that is not part of one. */
static long line_at(const char *s, size_t len, size_t *at, const char **line)
{
    size_t start = *at;
    for (size_t i = start; i < len; i++) {
        if (s[i] == '\n')
            return -1; /* an LF without its CR */
        if (s[i] == '\r') {
            if (i + 1 >= len || s[i + 1] != '\n')
                return -1; /* a CR without its LF */
            *line = s + start;
            *at = i + 2;
            return (long)(i - start);
        }
    }
    return -1;
}

static int field_is(const char *name, size_t name_len, const char *want)
{
    return name_len == strlen(want) && strncasecmp(name, want, name_len) == 0;
}

int ah_fuzz_ref_head(const char *s, size_t len, size_t *at, ah_fuzz_head *h)
{
    memset(h, 0, sizeof(*h));
    const char *line;
    long n = line_at(s, len, at, &line);
    if (n <= 0)
        return -1;
    h->first_line = line;
    h->first_line_len = (size_t)n;
    while ((n = line_at(s, len, at, &line)) > 0) {
        const char *colon = memchr(line, ':', (size_t)n);
        if (!colon || is_ows(line[0]))
            return -1;
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1, *end = line + n;
        while (v < end && is_ows(*v))
            v++;
        while (end > v && is_ows(end[-1]))
            end--;
        size_t vlen = (size_t)(end - v);
        if (field_is(line, name_len, "Transfer-Encoding")) {
            h->te_lines++;
            h->te_chunked = vlen == 7 && strncasecmp(v, "chunked", 7) == 0;
        } else if (field_is(line, name_len, "Content-Length")) {
            h->cl_lines++;
            h->cl_digits = vlen >= 1 && vlen <= 15;
            h->content_length = 0;
            for (size_t i = 0; i < vlen && h->cl_digits; i++) {
                if (v[i] < '0' || v[i] > '9')
                    h->cl_digits = 0;
                else
                    h->content_length = h->content_length * 10 + (uint64_t)(v[i] - '0');
            }
        }
    }
    return n == 0 ? 1 : -1;
}

int ah_fuzz_ref_status(const ah_fuzz_head *h)
{
    const char *l = h->first_line;
    if (h->first_line_len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' ||
        l[8] != ' ' || (h->first_line_len > 12 && l[12] != ' '))
        return -1;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (l[i] < '0' || l[i] > '9')
            return -1;
        status = status * 10 + (l[i] - '0');
    }
    return status;
}

int ah_fuzz_ref_framing(const ah_fuzz_head *h, int is_request, int no_body)
{
    if (no_body)
        return AH_FUZZ_BODY_NONE;
    if (h->te_lines)
        return h->te_lines == 1 && h->te_chunked && !h->cl_lines ? AH_FUZZ_BODY_CHUNKED
                                                                 : AH_FUZZ_BODY_UNJUDGED;
    if (h->cl_lines)
        return h->cl_lines == 1 && h->cl_digits ? AH_FUZZ_BODY_LENGTH : AH_FUZZ_BODY_UNJUDGED;
    return is_request ? AH_FUZZ_BODY_NONE : AH_FUZZ_BODY_UNTIL_END;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* chunked-body = *chunk last-chunk trailer-section CRLF (RFC 9112 §7.1) */
static int dechunk(const char *s, size_t len, size_t *at, char *out, size_t *out_len)
{
    for (;;) {
        const char *line;
        long n = line_at(s, len, at, &line);
        if (n <= 0)
            return -1;
        uint64_t size = 0;
        long i = 0;
        for (; i < n && hexval(line[i]) >= 0; i++) {
            if (size >> 56)
                return -1; /* more than any input holds */
            size = size * 16 + (uint64_t)hexval(line[i]);
        }
        /* after the size: nothing, or a chunk extension (BWS ";" ...), not checked further */
        if (i == 0 || (i < n && line[i] != ';' && !is_ows(line[i])))
            return -1;
        if (size == 0) { /* the trailer section, up to its empty line */
            while ((n = line_at(s, len, at, &line)) > 0)
                ;
            return n == 0 ? 1 : -1;
        }
        if (size > len - *at || len - *at - size < 2 || s[*at + size] != '\r' ||
            s[*at + size + 1] != '\n')
            return -1;
        memcpy(out + *out_len, s + *at, size);
        *out_len += size;
        *at += size + 2;
    }
}

int ah_fuzz_ref_body(const char *s, size_t len, size_t *at, int kind, const ah_fuzz_head *h,
                     char *out, size_t *out_len)
{
    switch (kind) {
    case AH_FUZZ_BODY_NONE: return 1;
    case AH_FUZZ_BODY_LENGTH:
        if (h->content_length > len - *at)
            return -1;
        memcpy(out + *out_len, s + *at, h->content_length);
        *out_len += h->content_length;
        *at += h->content_length;
        return 1;
    case AH_FUZZ_BODY_CHUNKED: return dechunk(s, len, at, out, out_len);
    case AH_FUZZ_BODY_UNTIL_END:
        memcpy(out + *out_len, s + *at, len - *at);
        *out_len += len - *at;
        *at = len;
        return 1;
    default: return -1;
    }
}
