/* A small raw HTTP/1.1 client for the server tests: write bytes as they are, read responses
 * strictly (CRLF line ends, one status line, headers, a body framed by chunked encoding,
 * Content-Length or the end of the connection). */
#ifndef AH_HTTPUTIL_H
#define AH_HTTPUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <ahttp/ahttp.h>

typedef struct http_field {
    char *name;
    char *value;
} http_field;

/* One response as read off the wire; every string is malloc'd (http_response_free). */
typedef struct http_response {
    int minor;  /* HTTP/1.x */
    int status; /* 100 ... 599 */
    char *reason;
    http_field *headers;
    size_t nheaders;
    http_field *trailers; /* of a chunked body */
    size_t ntrailers;
    char *body; /* NUL-terminated for convenience */
    size_t body_len;
    int chunked; /* the body came chunked */
    int to_eof;  /* the body was delimited by the end of the connection */
} http_response;

/* Client read timeout for ordinary waits (longer under valgrind). */
int64_t http_read_timeout_ms(void);

/* Connect to 127.0.0.1:port with read/write timeouts of http_read_timeout_ms(). */
int http_connect(uint16_t port, ah_stream **out);

/* Write the NUL-terminated text as is. */
int http_send(ah_stream *s, const char *raw);

/* Read one response (a 1xx interim one included). head: the request was HEAD (no body follows).
 * Returns 0 and fills *r, or < 0: AH_EEOF if the connection ended before a status line,
 * AH_EPROTO_HTTP for anything malformed, a stream error otherwise. On failure *r holds nothing
 * to free. */
int http_read_response(ah_stream *s, int head, http_response *r);

/* The value of the first header / trailer called name (case-insensitive), or NULL. */
const char *http_header(const http_response *r, const char *name);
const char *http_trailer(const http_response *r, const char *name);
/* How many header lines are called name. */
size_t http_header_count(const http_response *r, const char *name);

void http_response_free(http_response *r);

/* Wait up to timeout_ms for the peer to close: 1 if it closed (EOF or reset), 0 if it stayed
 * open, -1 if bytes arrived instead. Restores the stream's ordinary timeouts. */
int http_wait_closed(ah_stream *s, int64_t timeout_ms);

/* Connect, send raw, read one response, close. head as for http_read_response. */
int http_exchange(uint16_t port, const char *raw, int head, http_response *r);

#endif
