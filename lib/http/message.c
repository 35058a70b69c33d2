/* The HTTP/1 message core, shared by the server (requests) and the client (responses): the head
 * scanner, which finds the end of a head in buffered bytes and applies, before llhttp sees a
 * byte, the checks that llhttp 8.1.0 leaves to us or gets wrong; the one set of llhttp callbacks,
 * which turn a head into NUL-terminated spans and a chunked body into decoded bytes and
 * trailers; and the transfer-coding rule.
 *
 * Why our own scan at all: llhttp 8.1.0 (Debian's node-llhttp) ends a head at "\r" followed by
 * anything (CVE-2023-30589) unless built with LLHTTP_STRICT_MODE, and even strict it accepts
 * obs-fold. A head that llhttp and a front proxy frame differently is a smuggling vector, and a
 * head llhttp ends early used to reach the body callbacks before any body buffer existed. So the
 * rule here is simple and independent of llhttp: every CR is followed by LF, every LF follows a
 * CR, no header line starts with whitespace, and the head ends at the first empty line. */
#include "internal.h"

#include <ahttp/buf.h>

#include <string.h>
#include <strings.h>

const char *ah__head_error_text(int code)
{
    switch (code) {
    case AH__HEAD_BARE_LF: return "a line ends in a bare LF";
    case AH__HEAD_BARE_CR: return "a CR not followed by LF";
    case AH__HEAD_OBS_FOLD: return "obsolete line folding";
    case AH__HEAD_EMPTY_FIRST_LINE: return "an empty start line";
    case AH__HEAD_FIRST_LINE_TOO_LONG: return "the start line is too long";
    case AH__HEAD_TOO_BIG: return "the header block is too large";
    case AH__HEAD_TOO_MANY: return "too many header lines";
    default: return "malformed head";
    }
}

/* One complete line [start, nl] (nl at its LF): the checks, then the bookkeeping. */
static int scan_line(ah__head_scan *hs, const char *data, size_t start, size_t nl,
                     const ah__head_limits *lim)
{
    if (nl == start || data[nl - 1] != '\r')
        return AH__HEAD_BARE_LF;
    size_t body_len = nl - 1 - start; /* the line without its CRLF */
    if (body_len && memchr(data + start, '\r', body_len))
        return AH__HEAD_BARE_CR;
    if (hs->lines == 0) {
        if (body_len == 0)
            return AH__HEAD_EMPTY_FIRST_LINE;
        if (nl + 1 > lim->max_first_line)
            return AH__HEAD_FIRST_LINE_TOO_LONG;
        hs->first_line = nl + 1;
    } else if (body_len == 0) {
        hs->head_len = nl + 1;
    } else {
        if (data[start] == ' ' || data[start] == '\t')
            return AH__HEAD_OBS_FOLD;
        if (hs->lines > lim->max_header_count)
            return AH__HEAD_TOO_MANY;
    }
    if (hs->lines > 0 && nl + 1 - hs->first_line > lim->max_header_bytes)
        return AH__HEAD_TOO_BIG;
    hs->lines++;
    return 0;
}

int ah__head_scan_run(ah__head_scan *hs, const char *data, size_t len, const ah__head_limits *lim)
{
    if (hs->head_len)
        return 1;
    size_t i = hs->scanned;
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        if (!nl)
            break;
        size_t pos = (size_t)(nl - data);
        int rc = scan_line(hs, data, i, pos, lim);
        if (rc < 0)
            return rc;
        i = pos + 1;
        if (hs->head_len)
            return 1;
    }
    hs->scanned = i; /* a line boundary: a partial line is checked whole once its LF arrives */
    /* limits on what is still incomplete, so a peer cannot make us buffer without bound */
    if (hs->lines == 0 && len >= lim->max_first_line)
        return AH__HEAD_FIRST_LINE_TOO_LONG;
    if (hs->lines > 0 && len - hs->first_line > lim->max_header_bytes)
        return AH__HEAD_TOO_BIG;
    /* a CR already followed by something other than LF in the partial line: refuse now */
    if (i < len) {
        const char *cr = memchr(data + i, '\r', len - i);
        if (cr && cr + 1 < data + len)
            return AH__HEAD_BARE_CR;
    }
    return 0;
}

/* A class per byte, looked up once per byte of every header sent (no strchr, no branches on
 * ranges): TCHAR, RFC 9110 §5.6.2's token characters (visible ASCII but the delimiters
 * "(),/:;<=>?@[\]{} and DQUOTE); VALUE, what a field value may hold (anything but CR, LF, NUL
 * and the other controls except HTAB, and DEL: no message splitting through a value). */
enum { TCHAR = 1, VALUE = 2 };
static const unsigned char byte_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 3, 2, 3, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2,
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

int ah__http_is_token(const char *s)
{
    if (!s || !*s)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!(byte_class[*p] & TCHAR))
            return 0;
    return 1;
}

int ah__http_is_field_value(const char *s)
{
    if (!s)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!(byte_class[*p] & VALUE))
            return 0;
    return 1;
}

int ah__transfer_encoding_is_chunked(const char *value)
{
    while (*value == ' ' || *value == '\t')
        value++;
    if (strncasecmp(value, "chunked", 7) != 0)
        return 0;
    value += 7;
    while (*value == ' ' || *value == '\t')
        value++;
    return *value == '\0';
}

int ah__headers_check_transfer_encoding(const ah__header *headers, size_t n)
{
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (headers[i].name_len != 17 || strcasecmp(headers[i].name, "Transfer-Encoding") != 0)
            continue;
        /* two Transfer-Encoding lines are one list ("a, b"): more than "chunked" alone */
        if (seen++ || !ah__transfer_encoding_is_chunked(headers[i].value))
            return -1;
    }
    return 0;
}

/* ---- llhttp callbacks ----
 * One set for requests and responses. They refuse to run in a state they should not be called in
 * (a header past the array the scanner sized, a body before the head is complete or with no
 * buffer to take it, a second end of message) instead of trusting llhttp with our memory: that
 * trust is what a bare CR once turned into a crash. */

static ah__msg *msg_of(llhttp_t *p) { return p->data; }

static int refuse(ah__msg *m, int code, const char *why)
{
    m->error = code;
    m->why = why;
    return -1;
}

static int on_method(llhttp_t *p, const char *at, size_t len)
{
    ah__msg *m = msg_of(p);
    m->start[0] = at;
    m->start_len[0] = len;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    ah__msg *m = msg_of(p);
    m->start[1] = at;
    m->start_len[1] = len;
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t len)
{
    ah__msg *m = msg_of(p);
    m->start[0] = at;
    m->start_len[0] = len;
    return 0;
}

static int has_space(const char *at, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (at[i] == ' ' || at[i] == '\t')
            return 1;
    return 0;
}

/* Trailer bytes come straight from the stream buffer, maybe in pieces: they are copied, as
 * "name\0value\0" pairs, into a buffer capped like the head. */
static int trailer_add(ah__msg *m, const char *at, size_t len)
{
    int rc = ah_buf_add(&m->trailers, at, len);
    if (rc < 0)
        return refuse(m, rc, rc == AH_ETOOBIG ? "trailers too large" : "out of memory");
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    ah__msg *m = msg_of(p);
    /* llhttp 8.1 lets "Name :" through; RFC 9112 §5.1 says reject. */
    if (has_space(at, len))
        return refuse(m, AH_EPROTO_HTTP, "whitespace before a header's colon");
    if (m->head_complete) { /* a trailer */
        if (m->trailer_state != 1) {
            if (m->ntrailers >= m->max_trailer_count)
                return refuse(m, AH_ETOOBIG, "too many trailer lines");
            m->trailer_state = 1;
        }
        return trailer_add(m, at, len);
    }
    if (m->nheaders == m->header_cap)
        return refuse(m, AH_ETOOBIG, "too many header lines");
    ah__header *h = &m->headers[m->nheaders++];
    h->name = at;
    h->name_len = len;
    h->value = at + len; /* an empty value until on_header_value says otherwise */
    h->value_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    ah__msg *m = msg_of(p);
    if (m->head_complete) {
        if (m->trailer_state == 1) {
            if (trailer_add(m, "", 1) < 0)
                return -1;
            m->trailer_state = 2;
            m->trailer_value_at = ah_buf_len(&m->trailers);
        }
        return trailer_add(m, at, len);
    }
    if (m->nheaders == 0)
        return refuse(m, AH_EPROTO_HTTP, "a header value without a name");
    ah__header *h = &m->headers[m->nheaders - 1];
    h->value = at;
    h->value_len = len;
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    ah__msg *m = msg_of(p);
    if (!m->head_complete)
        return 0;
    if (m->trailer_state == 1) { /* a name with an empty value */
        if (trailer_add(m, "", 1) < 0)
            return -1;
        m->trailer_value_at = ah_buf_len(&m->trailers);
    }
    size_t end = ah_buf_len(&m->trailers);
    const char *t = ah_buf_data(&m->trailers);
    while (end > m->trailer_value_at && (t[end - 1] == ' ' || t[end - 1] == '\t'))
        end--;
    ah_buf_truncate(&m->trailers, end);
    if (trailer_add(m, "", 1) < 0)
        return -1;
    m->ntrailers++;
    m->trailer_state = 0;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    ah__msg *m = msg_of(p);
    if (m->head_complete)
        return refuse(m, AH_EPROTO_HTTP, "a second end of the head");
    m->head_complete = 1;
    if (p->type == HTTP_RESPONSE) {
        /* RFC 9112 §6.3: no body after HEAD, 1xx, 204 and 304, whatever the headers say */
        int status = p->status_code;
        if (m->head_request || status < 200 || status == 204 || status == 304) {
            m->no_body = 1;
            return 1;
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    ah__msg *m = msg_of(p);
    /* the reader feeds no more input than it has room for output */
    if (!m->head_complete || m->msg_complete || !m->out || len > m->out_cap - m->out_len)
        return refuse(m, AH_EPROTO_HTTP, "body bytes where none belong");
    memcpy(m->out + m->out_len, at, len);
    m->out_len += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    ah__msg *m = msg_of(p);
    if (!m->head_complete || m->msg_complete)
        return refuse(m, AH_EPROTO_HTTP, "the end of a message where none belongs");
    m->msg_complete = 1;
    return HPE_PAUSED; /* whatever follows is the next message, not ours to parse */
}

static llhttp_settings_t settings;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;

static void init_settings(void)
{
    llhttp_settings_init(&settings);
    settings.on_method = on_method;
    settings.on_url = on_url;
    settings.on_status = on_status;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_header_value_complete = on_header_value_complete;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
}

void ah__msg_init(ah__msg *m, int type, ah__header *headers, size_t header_cap,
                  size_t max_trailer_bytes, size_t max_trailer_count)
{
    pthread_once(&settings_once, init_settings);
    llhttp_init(&m->parser, (llhttp_type_t)type, &settings);
    m->parser.data = m;
    m->headers = headers;
    m->header_cap = header_cap;
    m->nheaders = 0;
    m->start[0] = m->start[1] = NULL;
    m->start_len[0] = m->start_len[1] = 0;
    m->error = 0;
    m->why = NULL;
    m->head_complete = m->msg_complete = m->no_body = m->head_request = 0;
    m->out = NULL;
    m->out_len = m->out_cap = 0;
    ah_buf_init(&m->trailers, max_trailer_bytes ? max_trailer_bytes : 1);
    m->ntrailers = 0;
    m->max_trailer_count = max_trailer_count;
    m->trailer_state = 0;
    m->trailer_value_at = 0;
    m->tail[0] = m->tail[1] = 0;
}

void ah__msg_free(ah__msg *m) { ah_buf_free(&m->trailers); }

static void terminate(const char *at, size_t len) { ((char *)at)[len] = '\0'; }

int ah__msg_parse_head(ah__msg *m, char *head, size_t head_len)
{
    llhttp_errno_t err = llhttp_execute(&m->parser, head, head_len);
    if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
        if (!m->error) {
            m->error = AH_EPROTO_HTTP;
            m->why = llhttp_get_error_reason(&m->parser);
        }
        return m->error;
    }
    /* llhttp must have taken exactly the head the scanner found: anything else means it framed
     * the bytes differently, and we trust neither framing then */
    if (!m->head_complete ||
        (err != HPE_OK && llhttp_get_error_pos(&m->parser) != head + head_len)) {
        m->error = AH_EPROTO_HTTP;
        m->why = "the head ends where it should not";
        return m->error;
    }
    /* llhttp keeps Content-Length as a uint64_t: past INT64_MAX it would read back negative
     * (-1 is "unknown" to the accessors) and slip past the body limits (fuzzing's F1) */
    if ((m->parser.flags & F_CONTENT_LENGTH) && m->parser.content_length > INT64_MAX) {
        m->error = AH_EPROTO_HTTP;
        m->why = "a Content-Length too large";
        return m->error;
    }
    /* RFC 9110 §15: a status code is three digits; llhttp 8.1 takes "20" or "020" as 20 */
    if (m->parser.type == HTTP_RESPONSE &&
        (m->parser.status_code < 100 || m->parser.status_code > 999)) {
        m->error = AH_EPROTO_HTTP;
        m->why = "a status code that is not three digits";
        return m->error;
    }
    /* NUL-terminate the spans in place: llhttp is done with the bytes after them */
    for (int i = 0; i < 2; i++)
        if (m->start[i])
            terminate(m->start[i], m->start_len[i]);
    for (size_t i = 0; i < m->nheaders; i++) {
        ah__header *h = &m->headers[i];
        while (h->value_len &&
               (h->value[h->value_len - 1] == ' ' || h->value[h->value_len - 1] == '\t'))
            h->value_len--;
        terminate(h->name, h->name_len);
        terminate(h->value, h->value_len);
    }
    if (err == HPE_PAUSED_UPGRADE)
        m->msg_complete = 1; /* what follows belongs to the other protocol */
    return 0;
}

/* The last two body bytes consumed, across steps (a CRLF may be split between two reads). */
static void remember_tail(ah__msg *m, const char *in, size_t used)
{
    if (used >= 2) {
        m->tail[0] = in[used - 2];
        m->tail[1] = in[used - 1];
    } else if (used == 1) {
        m->tail[0] = m->tail[1];
        m->tail[1] = in[0];
    }
}

int ah__msg_body_step(ah__msg *m, const char *in, size_t in_len, char *out, size_t out_cap,
                      size_t *used, size_t *produced)
{
    size_t feed = in_len < out_cap ? in_len : out_cap; /* decoded bytes never outnumber input */
    m->out = out;
    m->out_len = 0;
    m->out_cap = feed;
    llhttp_errno_t err = llhttp_execute(&m->parser, in, feed);
    *produced = m->out_len;
    m->out = NULL;
    m->out_cap = 0;
    if (err == HPE_PAUSED) {
        *used = (size_t)(llhttp_get_error_pos(&m->parser) - in);
        llhttp_resume(&m->parser);
        remember_tail(m, in, *used);
        /* llhttp 8.1, even strict, ends a chunked body at "0\r\n\n" (a bare LF for the empty
         * line): a front end that does not frame it so would see the next request start
         * elsewhere (fuzzing's F2). The message must end in CRLF. */
        if (m->tail[0] != '\r' || m->tail[1] != '\n') {
            m->error = AH_EPROTO_HTTP;
            m->why = "a chunked body not ended by CRLF";
            *used = 0;
            return m->error;
        }
        return 1;
    }
    if (err != HPE_OK) {
        *used = 0;
        if (!m->error) {
            m->error = AH_EPROTO_HTTP;
            m->why = llhttp_get_error_reason(&m->parser);
        }
        return m->error;
    }
    *used = feed;
    remember_tail(m, in, feed);
    return m->msg_complete;
}

int ah__msg_check_transfer_encoding(const ah__msg *m)
{
    unsigned flags = m->parser.flags;
    if (!(flags & F_TRANSFER_ENCODING))
        return 0;
    if (!(flags & F_CHUNKED))
        return AH__TE_NOT_CHUNKED;
    return ah__headers_check_transfer_encoding(m->headers, m->nheaders) < 0 ? AH__TE_UNKNOWN : 0;
}
