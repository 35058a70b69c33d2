/* The HTTP/1 head scanner shared by the server (requests) and the client (responses): it finds
 * the end of a head in buffered bytes and applies, before llhttp sees a byte, the checks that
 * llhttp 8.1.0 leaves to us or gets wrong.
 *
 * Why our own scan at all: llhttp 8.1.0 (Debian's node-llhttp) ends a head at "\r" followed by
 * anything (CVE-2023-30589) unless built with LLHTTP_STRICT_MODE, and even strict it accepts
 * obs-fold. A head that llhttp and a front proxy frame differently is a smuggling vector, and a
 * head llhttp ends early used to reach the body callbacks before any body buffer existed. So the
 * rule here is simple and independent of llhttp: every CR is followed by LF, every LF follows a
 * CR, no header line starts with whitespace, and the head ends at the first empty line. */
#include "internal.h"

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
        if (nl + 1 > lim->first_line_max)
            return AH__HEAD_FIRST_LINE_TOO_LONG;
        hs->first_line = nl + 1;
    } else if (body_len == 0) {
        hs->head_len = nl + 1;
    } else {
        if (data[start] == ' ' || data[start] == '\t')
            return AH__HEAD_OBS_FOLD;
        if (hs->lines > lim->header_count_max)
            return AH__HEAD_TOO_MANY;
    }
    if (hs->lines > 0 && nl + 1 - hs->first_line > lim->header_bytes_max)
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
    if (hs->lines == 0 && len >= lim->first_line_max)
        return AH__HEAD_FIRST_LINE_TOO_LONG;
    if (hs->lines > 0 && len - hs->first_line > lim->header_bytes_max)
        return AH__HEAD_TOO_BIG;
    /* a CR already followed by something other than LF in the partial line: refuse now */
    if (i < len) {
        const char *cr = memchr(data + i, '\r', len - i);
        if (cr && cr + 1 < data + len)
            return AH__HEAD_BARE_CR;
    }
    return 0;
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
