/* ahttp HTTP internals. */
#ifndef AH_HTTP_INTERNAL_H
#define AH_HTTP_INTERNAL_H

#include "../net/internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include <llhttp.h>

#include <ahttp/buf.h>
#include <ahttp/server.h>
#include <ahttp/tls.h>

/* ---- arena (arena.c): per-request memory freed in one go ---- */

typedef struct ah__arena_block ah__arena_block;
typedef struct ah__arena {
    ah__arena_block *head;
} ah__arena;

void *ah__arena_alloc(ah__arena *a, size_t size);
char *ah__arena_strndup(ah__arena *a, const char *s, size_t len);
/* Drop everything but the first block (kept for the next request). */
void ah__arena_reset(ah__arena *a);
void ah__arena_free(ah__arena *a);

/* ---- messages ---- */

typedef struct ah__header {
    const char *name;
    const char *value;
    size_t name_len, value_len;
} ah__header;

#define AH__MAX_PARAMS 16

/* ---- the head scanner (message.c) ---- */

/* Limits a head is scanned against. */
typedef struct ah__head_limits {
    size_t max_first_line;   /* request or status line, CRLF included */
    size_t max_header_bytes; /* the header lines after it, the empty line included */
    size_t max_header_count; /* header lines */
} ah__head_limits;

/* Scanning state for one head; zero it before the first call. */
typedef struct ah__head_scan {
    size_t scanned;    /* bytes checked: always a line boundary */
    size_t first_line; /* length of the start line with its CRLF, once complete */
    size_t lines;      /* complete lines so far, the start line included */
    size_t head_len;   /* the head's length with its empty line, once found */
} ah__head_scan;

/* Why a head is refused (ah__head_scan_run's negative results). */
enum {
    AH__HEAD_BARE_LF = -1,
    AH__HEAD_BARE_CR = -2,
    AH__HEAD_OBS_FOLD = -3,
    AH__HEAD_EMPTY_FIRST_LINE = -4,
    AH__HEAD_FIRST_LINE_TOO_LONG = -5,
    AH__HEAD_TOO_BIG = -6,
    AH__HEAD_TOO_MANY = -7,
};

/* Scan the buffered bytes data[0..len) (the same buffer, grown, on each call) for the end of a
 * head. Returns 1 once it is found (hs->head_len, hs->lines), 0 if more bytes are needed, or an
 * AH__HEAD_* code: a CR not followed by LF or an LF not after a CR anywhere in the head, a header
 * line starting with whitespace (obs-fold), or a limit passed. */
int ah__head_scan_run(ah__head_scan *hs, const char *data, size_t len, const ah__head_limits *lim);
/* One HTTP/1 message as llhttp reports it (message.c): the head's spans, a chunked body's
 * decoded bytes and its trailers. ah_request and ah_client_response each embed one. */
typedef struct ah__msg {
    llhttp_t parser;
    ah__header *headers; /* header_cap entries, the owner's memory */
    size_t nheaders, header_cap;
    const char *start[2]; /* request: method, target; response: reason phrase in [0] */
    size_t start_len[2];
    int error;       /* the AH_E* code parsing failed with (AH_EPROTO_HTTP, AH_ETOOBIG, ...) */
    const char *why; /* and why, for messages */
    uint8_t head_complete, msg_complete;
    uint8_t head_request; /* a response to HEAD: no body whatever the headers say */
    uint8_t no_body;      /* a response that has no body (HEAD, 1xx, 204, 304) */
    char *out;            /* on_body's destination during ah__msg_body_step */
    size_t out_len, out_cap;
    ah_buf trailers; /* a chunked body's trailer fields: "name\0value\0" pairs */
    size_t ntrailers, max_trailer_count;
    int trailer_state; /* 0: between fields, 1: in a name, 2: in a value */
    size_t trailer_value_at;
    char tail[2]; /* the last two chunked-body bytes consumed: the end must be CRLF */
} ah__msg;

/* Start m for a message of type HTTP_REQUEST or HTTP_RESPONSE whose head has header_cap header
 * lines (as the scanner counted them) to be stored in headers; trailers are capped at
 * max_trailer_bytes bytes and max_trailer_count fields. Set m->head_request after this for a
 * response to HEAD. */
void ah__msg_init(ah__msg *m, int type, ah__header *headers, size_t header_cap,
                  size_t max_trailer_bytes, size_t max_trailer_count);
/* Free what m holds (the trailers). */
void ah__msg_free(ah__msg *m);
/* Parse a head the scanner accepted (head_len bytes, ending in CRLF CRLF, writable: spans are
 * NUL-terminated in place). 0, or the AH_E* code in m->error with m->why. */
int ah__msg_parse_head(ah__msg *m, char *head, size_t head_len);
/* Decode chunked body bytes from in[0..in_len) into out[0..out_cap): *used input bytes taken,
 * *produced output bytes made. Returns 0 (more to come), 1 once the message is complete (the
 * bytes after it are not used), or m->error (< 0) on malformed framing — *produced then still
 * counts the bytes decoded before the error, which are good. */
int ah__msg_body_step(ah__msg *m, const char *in, size_t in_len, char *out, size_t out_cap,
                      size_t *used, size_t *produced);

enum { AH__TE_NOT_CHUNKED = -1, AH__TE_UNKNOWN = -2 };
/* The transfer-coding rule: 0 if there is no Transfer-Encoding or it is "chunked" alone;
 * AH__TE_NOT_CHUNKED if chunked is not the last coding (the length cannot be known: RFC 9112
 * §6.3); AH__TE_UNKNOWN if another coding comes with it (ahttp decodes none but chunked). */
int ah__msg_check_transfer_encoding(const ah__msg *m);

/* The one percent-decoder (url.c): s[0..len) into out (room for len + 1 bytes), '+' as ' ' if
 * plus_as_space, NUL-terminated; *out_len the decoded length (NUL bytes included: callers that
 * need C strings refuse them). 0, or AH_EINVAL on a '%' not followed by two hex digits. */
int ah__pct_decode(const char *s, size_t len, int plus_as_space, char *out, size_t *out_len);

/* A phrase for an AH__HEAD_* code ("a CR not followed by LF"). */
const char *ah__head_error_text(int code);
/* 1 if s is an RFC 9110 token (a method, a header field name): one or more visible ASCII
 * characters but delimiters. */
int ah__http_is_token(const char *s);
/* 1 if s may be sent as a header field value: no CR, LF, NUL or other control but HTAB (no
 * message splitting through a value). */
int ah__http_is_field_value(const char *s);
/* 1 if a Transfer-Encoding value is "chunked" alone (any case, optional whitespace). */
int ah__transfer_encoding_is_chunked(const char *value);
/* 0 if the Transfer-Encoding lines among headers (NUL-terminated) amount to nothing or to
 * "chunked" alone, -1 for any other coding or list: ahttp decodes no other transfer coding. */
int ah__headers_check_transfer_encoding(const ah__header *headers, size_t n);

struct ah_server;
struct ah__worker;
struct ah__conn;
struct ah__route;

enum { AH__BODY_NONE, AH__BODY_LENGTH, AH__BODY_CHUNKED };

struct ah_request {
    struct ah__conn *conn;
    ah__arena *arena;
    const char *method;
    const char *target;
    const char *path;  /* decoded */
    const char *query; /* raw, "" if none */
    int version;       /* 10, 11 */
    ah__header *headers;
    size_t nheaders;
    const char *param_names[AH__MAX_PARAMS];
    const char *param_values[AH__MAX_PARAMS];
    size_t nparams;
    int64_t content_length; /* -1: chunked */
    int body_kind;
    int keep_alive;
    int expect_continue;
    int continue_sent;
    int body_done;
    uint64_t body_read;
    size_t max_body;
    /* the head as llhttp parsed it, and the chunked body's decoder; msg_started: msg holds
     * something to free (ah__request_end) */
    int msg_started;
    ah__msg msg;
    /* lazily decoded query parameters */
    ah__header *qparams;
    size_t nqparams;
    int qparsed;
};

enum { AH__RESP_NEW, AH__RESP_STREAMING, AH__RESP_DONE };

struct ah_response {
    struct ah__conn *conn;
    ah_request *req;
    int status;
    ah__header *headers;
    size_t nheaders, cap_headers;
    ah__header *trailers;
    size_t ntrailers, cap_trailers;
    const char *body;
    size_t body_len;
    int state;
    int chunked;         /* streaming with chunked encoding */
    int64_t stream_left; /* streaming with a declared Content-Length: bytes left, else -1 */
    int head_only;       /* HEAD: no body on the wire */
    int close;           /* Connection: close */
    int has_length;      /* a Content-Length header was set by the handler */
    int file_fd;
    int file_close;
    int64_t file_offset, file_len;
    uint64_t bytes_sent; /* body bytes, for the access log */
};

/* A connection. While it is idle (keep-alive, nothing buffered) it has no task, no buffers and
 * no request state (those live on the task's stack while it is busy): its socket's read event
 * wakes it, and it waits on one of its worker's idle lists for the idle timeout. */
typedef struct ah__conn {
    struct ah_server *srv;
    struct ah__worker *w;
    ah_loop *loop;
    ah_stream *stream;                      /* requests are read from here (TLS or TCP) */
    ah_tls_ctx *tls_ctx;                    /* a TLS listener's context: handshake first */
    ah_task *task;                          /* NULL while idle */
    struct ah__conn *prev, *next;           /* the worker's connections */
    struct ah__conn *idle_prev, *idle_next; /* an idle list, in deadline order */
    int64_t idle_until;                     /* ah_now_ms() deadline while idle */
    ah__arena arena;
    unsigned requests; /* served on this connection */
    uint8_t tls;       /* the TLS handshake is done */
    uint8_t idle;      /* 0, or which idle list: 1 fresh (header timeout), 2 keep-alive */
    uint8_t closing;   /* shutting down: finish this request, then close */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer;
} ah__conn;

/* Parse a request head of head_len bytes (ending in CRLF CRLF) copied into the arena, which
 * ah__head_scan_run has accepted as `lines` lines. Returns 0, or the HTTP status to refuse it
 * with (400, 431, 501, 505). */
int ah__request_parse_head(ah_request *req, char *head, size_t head_len, size_t lines,
                           const ah_server_opts *opts);
/* Release what a request's parse holds beyond the arena (its trailers). */
void ah__request_end(ah_request *req);

/* Serialise and send the response (a complete one, or the end of a streamed one). */
int ah__response_finish(ah_response *resp);
/* Send a bare error response (no handler involved). */
int ah__response_error(ah_response *resp, int status, const char *text);
/* Drain what is left of the request body (up to a bound): 0 if the connection can be reused. */
int ah__request_drain(ah_request *req);

/* The current Date header value ("Tue, 15 Nov 1994 08:12:31 GMT"), cached per second. */
const char *ah__http_date(ah_loop *loop);
/* A date for Last-Modified from a time_t. */
void ah__http_date_of(time_t t, char out[32]);

/* ---- routing (router.c) ---- */

typedef struct ah__route {
    char *method; /* "*" for any */
    char *pattern;
    char **segments; /* literal, "{name}", or "*" (prefix) */
    size_t nsegments;
    int prefix;
    ah_handler_fn handler;
    void *arg;
    size_t max_body;
} ah__route;

typedef struct ah__middleware {
    ah_middleware_fn fn;
    void *arg;
} ah__middleware;

struct ah_next {
    struct ah_server *srv;
    size_t index;
    ah_request *req;
    ah_response *resp;
    const ah__route *route; /* NULL: answer 404/405 */
    int status_if_none;     /* 404 or 405 */
};

/* Find the route for req (sets path params); *status_if_none is 404 or 405 (Allow header set on
 * resp) when there is none. */
const ah__route *ah__router_match(struct ah_server *srv, ah_request *req, ah_response *resp,
                                  int *status_if_none);
int ah__router_add(struct ah_server *srv, const char *method, const char *pattern,
                   ah_handler_fn handler, void *arg, size_t max_body);
void ah__router_free(struct ah_server *srv);
/* "GET, HEAD, POST" of every method routed (for OPTIONS *), in the arena. */
const char *ah__router_all_methods(struct ah_server *srv, ah__arena *a);

/* ---- the server (server.c) ---- */

typedef struct ah__listen_spec {
    struct sockaddr_storage addr;
    socklen_t len;
    ah_tls_ctx *tls;
    int fd; /* bound by ah_server_listen, taken by the first worker */
    uint16_t port;
} ah__listen_spec;

struct ah_server {
    ah_server_opts opts;
    ah__route *routes;
    size_t nroutes, cap_routes;
    ah__middleware *mws;
    size_t nmws;
    ah__listen_spec *listens;
    size_t nlistens;
    struct ah__worker **workers;
    size_t nworkers;
    pthread_mutex_t lock;
    int shutdown_requested;
    int64_t grace_ms;
    FILE *access_log;
    pthread_mutex_t log_lock;
    /* counters, shared by the workers */
    _Atomic uint64_t accepted, requests;
    _Atomic size_t open, idle;
    struct ah__static *statics; /* ah_server_static's directories (static.c), freed with it */
};

void ah__log(struct ah_server *srv, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* static.c: a handler serving files; arg is an ah__static. */
typedef struct ah__static ah__static;
int ah__static_handler(ah_request *req, ah_response *resp, void *arg);
/* Free a server's list of ah__static (srv->statics). */
void ah__static_free_all(ah__static *list);

#endif
