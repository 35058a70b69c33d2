/* ahttp HTTP client internals, shared by client.c (requests, redirects), client_pool.c
 * (connections and limits), client_response.c (response parsing and bodies) and decompress.c. */
#ifndef AH_HTTP_CLIENT_INTERNAL_H
#define AH_HTTP_CLIENT_INTERNAL_H

#include "internal.h"

#include <ahttp/client.h>
#include <ahttp/url.h>

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

/* One (scheme, host, port): its connections and the tasks waiting for one. */
typedef struct ah__chost {
    char *name;
    uint16_t port;
    int tls;
    size_t open;  /* idle + busy + being made */
    size_t users; /* ah__pool_get calls using the entry (it is not freed under them) */
    ah__cconn *idle;
    ah__cwaiter *wait_head, *wait_tail;
    struct ah__chost *hash_next;
    struct ah__chost *wprev, *wnext; /* in the client's list of hosts with waiters */
    int in_wait_list;
} ah__chost;

#define AH__CLIENT_BUCKETS 256

struct ah_client {
    ah_client_opts opts; /* defaults filled in; strings point into the copies below */
    char *user_agent, *ca_file, *ca_dir, *cert_file, *key_file;
    ah_tls_ctx *tls;
    ah__chost *hosts[AH__CLIENT_BUCKETS];
    ah__cconn *lru_head, *lru_tail; /* idle connections, newest first */
    ah__chost *wait_hosts_head, *wait_hosts_tail;
    size_t open, idle, waiting;
    uint64_t made, requests, reused, retries;
    ah_task *reaper;
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
} ah__fetch;

/* Record a failure in f->err and the client's last error; returns code. */
int ah__client_fail(ah__fetch *f, int code, ah_client_phase phase, ah_client_timeout timeout,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Which timer it was when rc is AH_ETIMEDOUT: TOTAL if the total deadline has passed, else
 * `which`. For other codes NONE. */
ah_client_timeout ah__client_which_timeout(int64_t total_until, int rc, ah_client_timeout which);

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

/* Read and parse the response head on conn (skipping 1xx interim responses). head_request: the
 * request was HEAD (no body follows). *any_byte is set once a byte of the response arrived (a
 * connection that dies before that is stale). On success the response owns conn. */
int ah__response_read_head(ah__fetch *f, ah__cconn *conn, int head_request, int request_close,
                           ah_client_response **out, int *any_byte);
/* Set what the response reports: final URL (taken over) and redirect count. */
void ah__response_set_origin(ah_client_response *r, char *url, int redirects, int64_t total_until);
/* The Location header of a redirect response, or NULL. */
const char *ah__response_location(const ah_client_response *r);

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
