/* ahttp HTTP client internals, shared by client.c (requests, redirects), client_pool.c
 * (connections and limits), client_response.c (response parsing and bodies) and decompress.c. */
#ifndef AH_HTTP_CLIENT_INTERNAL_H
#define AH_HTTP_CLIENT_INTERNAL_H

#include "internal.h"

#include <ahttp/client.h>
#include <ahttp/url.h>

/* ---- proxies (client_proxy.c) ---- */

/* An HTTP proxy, from the options or the environment. */
typedef struct ah__proxy {
    char *host; /* lower-case; an IPv6 address without brackets */
    uint16_t port;
    char *authorization; /* "Basic ..." for Proxy-Authorization, or NULL */
    char *name;          /* "http://host:port" for messages: never the credentials */
} ah__proxy;

/* Room for why a proxy URL is bad. */
#define AH__PROXY_WHY_MAX 200

/* How a connection reaches the origin. */
typedef enum ah__via {
    AH__VIA_DIRECT,  /* straight to the origin */
    AH__VIA_FORWARD, /* to a proxy, requests in absolute form (http://) */
    AH__VIA_TUNNEL,  /* to a proxy, CONNECT, then TLS with the origin (https://) */
} ah__via;

/* ---- connections and the pool (client_pool.c) ---- */

struct ah__chost;

/* Room for "[host]:port" with the longest host name. */
#define AH__PEER_MAX 300

/* A connection to one origin. Idle ones sit in their host's list (most recently used first)
 * and in the client's list (oldest last, which the idle reaper looks at). */
typedef struct ah__cconn {
    struct ah__chost *host;
    ah_stream *stream;
    unsigned requests; /* requests sent on it so far */
    int64_t idle_until;
    /* Idle on plain TCP: the socket's readiness hook is set (idle_watched) and has fired
     * (idle_stirred) — the server sent something or closed since the connection went idle. */
    uint8_t idle_watched, idle_stirred;
    struct ah__cconn *hprev, *hnext;
    struct ah__cconn *lprev, *lnext;
    char peer[AH__PEER_MAX]; /* "127.0.0.1:8080" (the address), or "host:port" before */
} ah__cconn;

/* A task waiting for a connection slot. Whoever grants one fills conn (an idle connection handed
 * over) or sets grant_new (a reserved slot to connect in), unlinks it and sets ev. */
typedef struct ah__cwaiter {
    ah_event *ev;
    ah__cconn *conn;
    int grant_new;
    int closed;
    int queued;
    struct ah__cwaiter *prev, *next;
} ah__cwaiter;

/* One (scheme, host, port) and way there: its connections and the tasks waiting for one. For a
 * FORWARD one, name and port are the proxy's (every http:// origin shares its connections); for
 * a TUNNEL one they are the origin's, reached through proxy. */
typedef struct ah__chost {
    char *name;
    uint16_t port;
    int tls;
    ah__via via;
    const ah__proxy *proxy; /* NULL for DIRECT */
    size_t open;            /* idle + busy + being made */
    size_t idle_count;      /* connections in the idle list */
    size_t waiting;         /* waiters in the queue */
    size_t users;           /* ah__pool_get calls using the entry (it is not freed under them) */
    ah__cconn *idle;
    ah__cwaiter *wait_head, *wait_tail;
    struct ah__chost *hash_next;
    struct ah__chost *wprev, *wnext; /* in the client's list of hosts with waiters */
    int in_wait_list;
} ah__chost;

#define AH__CLIENT_BUCKETS 256

/* A parsed request URL, shared: the client keeps the last one it parsed, so a program that
 * fetches the same URL again and again (a benchmark, a poller) parses it once; fetches and the
 * responses that answered it without a redirect hold references. */
typedef struct ah__url_entry {
    int refs;
    ah_url url;
    char str[]; /* the string it was parsed from */
} ah__url_entry;

void ah__url_entry_unref(ah__url_entry *e);

struct ah_client {
    ah_client_opts opts; /* defaults filled in; strings point into the copies below */
    char *user_agent, *ca_file, *ca_dir, *cert_file, *key_file, *proxy, *no_proxy;
    ah__proxy *http_proxy, *https_proxy; /* NULL: direct */
    int proxy_error[2]; /* [0] http, [1] https: a bad proxy URL fails the requests using it */
    char proxy_error_message[2][AH__PROXY_WHY_MAX];
    ah_tls_ctx *tls;
    ah__chost *hosts[AH__CLIENT_BUCKETS];
    ah__cconn *lru_head, *lru_tail; /* idle connections, newest first */
    ah__chost *wait_hosts_head, *wait_hosts_tail;
    size_t open, idle, waiting;
    uint64_t made, requests, reused, retries;
    ah_task *reaper;
    ah__url_entry *last_url; /* the last URL parsed (see ah__url_entry), or NULL */
    int refs; /* the owner's (until close), one per fetch in flight, response, and the reaper */
    int closing;
    char last_error[256];
};

/* What a fetch in progress carries through the layers. */
typedef struct ah__fetch {
    ah_client *c;
    int64_t total_until; /* INT64_MAX: no total timeout */
    int64_t total_ms;
    ah_client_error *err;
    /* The request may be sent again on a new connection if a reused one turns out closed
     * (idempotent, body not from a producer): a pooled connection is then taken without the
     * read that checks it is alive, unless the loop has seen it stir. */
    int resendable;
} ah__fetch;

/* Record a failure in f->err and the client's last error; returns code. */
int ah__client_fail(ah__fetch *f, int code, ah_client_phase phase, ah_client_timeout timeout,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Which timer it was when rc is AH_ETIMEDOUT: TOTAL if the total deadline has passed, NONE if
 * the caller's own deadline scope has (ah__client_fail then says so), else `which`. For other
 * codes NONE. */
ah_client_timeout ah__client_which_timeout(int64_t total_until, int rc, ah_client_timeout which);

/* ---- the request on the wire (client_request.c) ---- */

/* A request body file, opened once per fetch and read again for each send. */
typedef struct ah__body_file ah__body_file;

/* One request as it goes out. */
typedef struct ah__outreq {
    const char *method;
    const ah_url *url;
    const ah_client_header *headers;
    size_t nheaders;
    const void *body;
    size_t body_len;
    ah_client_body_fn body_fn;
    void *body_arg;
    ah__body_file **file; /* the body from a file (*file), or NULL; NULL'd if a read is abandoned */
    const char *file_path; /* its name, for messages */
    int expect_continue;
} ah__outreq;

/* Open path for a request body (on a pool thread): 0 and *out, or < 0 (-errno, AH_ENOMEM). */
int ah__body_file_open(const char *path, ah__body_file **out);
/* Close it (NULL is ignored). */
void ah__body_file_close(ah__body_file *bf);
/* Write rq's head and body on conn (waiting for 100 Continue first if asked). *close_after: the
 * request says Connection: close; *body_withheld: a final answer came before the body. */
int ah__client_send_request(ah__fetch *f, ah__cconn *conn, const ah__outreq *rq, int *close_after,
                            int *body_withheld);

/* A connection for u: an idle one that is still alive, else a new one (waiting at the limits,
 * then connecting and doing the TLS handshake). */
int ah__pool_get(ah__fetch *f, const ah_url *u, ah__cconn **out);
/* Replace a dead connection's stream with a new one to the same origin, keeping its slot. On
 * failure the connection is released (closed). */
int ah__pool_reconnect(ah__fetch *f, const ah_url *u, ah__cconn *conn);
/* Give a connection back: kept alive if reusable (and something may take it), else closed.
 * Never awaits unless it closes a TLS connection from a task (close_notify). */
void ah__pool_put(ah_client *c, ah__cconn *conn, int reusable);
/* Close every idle connection and wake waiters with AH_ECLOSED (client close). */
void ah__pool_shutdown(ah_client *c);
/* Free the host table (every host must be empty). */
void ah__pool_free(ah_client *c);

void ah__client_ref(ah_client *c);
void ah__client_unref(ah_client *c);
/* Call the trace callback if there is one. */
void ah__client_trace(ah_client *c, ah_client_trace_kind kind, const char *text, size_t len);
void ah__client_tracef(ah_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- responses (client_response.c) ---- */

/* Find the end of a response head in s with the message core's scanner (reading more as
 * needed): *head_len bytes including the empty line, *lines lines (the status line and the empty
 * line counted); nothing is consumed. AH_EEOF if the connection ended before any byte; a
 * malformed or oversized head is described in f (AH_EPROTO_HTTP, AH_ETOOBIG). */
int ah__response_find_head(ah__fetch *f, ah_stream *s, const ah_client_opts *o, size_t *head_len,
                           size_t *lines, int *any_byte);
/* Read and parse the response head on conn (skipping 1xx interim responses). head_request: the
 * request was HEAD (no body follows). *any_byte is set once a byte of the response arrived (a
 * connection that dies before that is stale). On success the response owns conn. */
int ah__response_read_head(ah__fetch *f, ah__cconn *conn, int head_request, int request_close,
                           ah_client_response **out, int *any_byte);
/* Read a response from s (taken over) as if it came on a pooled connection, without a request
 * or the pool: how the response-parsing fuzzer drives the client over an in-memory transport.
 * The response's body reads, header accessors and ah_client_response_free work as usual. 0 and
 * *out, or < 0 (s closed). */
int ah__response_read_stream(ah_client *c, ah_stream *s, int head_request,
                             ah_client_response **out);
/* Set what the response reports: the final URL, either url (taken over and zeroed) or, when
 * url is NULL, shared's (a reference is taken), formatted only if ah_client_response_url asks;
 * and the redirect count. */
void ah__response_set_origin(ah_client_response *r, ah_url *url, ah__url_entry *shared,
                             int redirects, int64_t total_until);
/* Read and drop the rest of a small body (at most 64 KiB, waiting for it under the fetch's
 * timeouts) so that its connection is kept: what a redirect hop does before the next request,
 * where ah_client_response_free would not wait. Errors only mean the connection is closed. */
void ah__response_skip_body(ah_client_response *r);
/* The Location header of a redirect response, or NULL. */
const char *ah__response_location(const ah_client_response *r);

/* One redirect hop, as ah_client_response_history_at reports it. */
typedef struct ah__hop {
    int status;
    char *url;      /* the URL the hop asked (formatted) */
    char *location; /* its Location header as received */
} ah__hop;

/* Give the response the hops that led to it (taken over: freed with the response). */
void ah__response_set_history(ah_client_response *r, ah__hop *hops, size_t n);
/* Free n hops and the array. */
void ah__hops_free(ah__hop *hops, size_t n);

/* ---- proxies (client_proxy.c) ---- */

/* Choose the proxies from the options (and the environment if use_env_proxy): fills
 * c->http_proxy, c->https_proxy, c->no_proxy; a bad proxy URL sets c->proxy_error[]. 0 or
 * AH_ENOMEM. */
int ah__proxy_setup(ah_client *c);
void ah__proxy_free(ah_client *c);
/* The proxy that u's request goes through into *out, NULL for a direct connection. 0, or
 * AH_EINVAL (described) when the proxy for u's scheme was given but is malformed. */
int ah__proxy_for(ah__fetch *f, const ah_url *u, const ah__proxy **out);
/* 1 if host (lower-case, IPv6 without brackets) is in the no_proxy list. */
int ah__no_proxy_match(const char *list, const char *host);
/* Ask the proxy at the other end of s for a tunnel to u's origin (CONNECT), within the connect
 * timeout. 0 once the proxy answered 2xx; failures are described (AH_ECONNREFUSED for a refusal,
 * with its status). proxy_peer names the proxy's address in messages. */
int ah__proxy_connect(ah__fetch *f, ah_stream *s, const ah__proxy *p, const ah_url *u,
                      const char *proxy_peer);
/* Base64 of in[0..n) into out (room for 4 * ((n + 2) / 3) + 1 bytes, NUL-terminated); returns the
 * length written. */
size_t ah__base64(const void *in, size_t n, char *out);

/* ---- decompression (decompress.c) ---- */

typedef struct ah__inflate ah__inflate;

/* A decoder for a Content-Encoding value: 0 and *out NULL for none/identity, 0 and *out for gzip,
 * x-gzip and deflate, 1 (and *out NULL) for encodings we do not decode, AH_ENOMEM. */
int ah__inflate_new(const char *encoding, ah__inflate **out);
/* Decode from in[0..in_len) into out[0..out_len): *consumed and *produced say how much. Returns
 * 0 (call again with more input, or with more room if *produced == out_len), 1 once the
 * compressed stream has ended (later input is ignored), AH_EPROTO_HTTP for corrupt data. */
int ah__inflate_run(ah__inflate *z, const char *in, size_t in_len, size_t *consumed, char *out,
                    size_t out_len, size_t *produced);
/* 1 if the decoder may still produce output without more input. */
int ah__inflate_pending(const ah__inflate *z);
void ah__inflate_free(ah__inflate *z);

#endif
