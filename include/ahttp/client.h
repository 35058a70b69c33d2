/* ahttp: the HTTP/1.1 client — what aiohttp.ClientSession is for Python: one ah_client, many
 * tasks, thousands of requests in flight from one thread over a shared connection pool.
 *
 *     static int amain(void *arg)
 *     {
 *         ah_client *c = ah_client_new(NULL);
 *         ah_client_response *resp;
 *         int rc = ah_client_get(c, "https://example.com/", &resp);
 *         if (rc == 0) {
 *             const char *body;
 *             size_t len;
 *             rc = ah_client_response_body(resp, &body, &len);
 *             if (rc == 0)
 *                 printf("%d, %zu bytes\n", ah_client_response_status(resp), len);
 *             ah_client_response_free(resp);   // the connection goes back to the pool
 *         } else {
 *             fprintf(stderr, "%s\n", ah_client_last_error(c));
 *         }
 *         ah_client_close(c);
 *         return rc;
 *     }
 *
 * A client belongs to one loop: make it, use it and close it within one ah_loop_run (its
 * connections are registered with that loop). Every call that may wait is an await point and
 * must run in a task: ah_client_fetch and its short forms, ah_client_response_read, _read_line
 * and _body, ah_client_response_free (it may send a TLS close_notify) and ah_client_close (it
 * sends TLS close_notify to idle connections). Each returns AH_ECANCELED / AH_ETIMEDOUT as any
 * await.
 *
 * Cookies: give the client a jar (ah_client_opts.cookie_jar, see ahttp/cookie.h) and every
 * response's Set-Cookie lines are stored in it — those of redirect hops too — and every request,
 * each redirect hop included, carries the Cookie header the jar has for its URL.
 *
 * Proxies: an HTTP proxy (ah_client_opts.proxy, or http_proxy / https_proxy from the environment
 * with use_env_proxy) carries http:// requests in absolute form ("GET http://host/path
 * HTTP/1.1"), over connections to the proxy that all such requests share; https:// requests go
 * through a CONNECT tunnel, with TLS from end to end (the origin's certificate is verified, the
 * proxy sees only ciphertext), pooled per origin and proxy. Credentials in the proxy URL are
 * sent as Proxy-Authorization: Basic to the proxy only. A proxy that refuses the CONNECT fails
 * the fetch with AH_ECONNREFUSED in the CONNECT phase and a message such as "proxy CONNECT
 * refused: 407 Proxy Authentication Required (proxy http://10.0.0.1:3128)"; its answer to a
 * plain http request (a 407 too) is the response.
 *
 * What is not here (yet): HTTP/2, request pipelining, HTTPS and SOCKS
 * proxies. */
#ifndef AHTTP_CLIENT_H
#define AHTTP_CLIENT_H

#include <ahttp/common.h>
#include <ahttp/cookie.h>
#include <ahttp/error.h>

AH_BEGIN_DECLS

/** A client: connection pool, TLS context and options (opaque). */
typedef struct ah_client ah_client;
/** A response whose head has arrived; its body is read on demand (opaque). */
typedef struct ah_client_response ah_client_response;

/** What a trace callback is told. */
typedef enum ah_client_trace_kind {
    AH_CLIENT_TRACE_INFO,          /**< a line of commentary ("connected to 127.0.0.1:80") */
    AH_CLIENT_TRACE_REQUEST_HEAD,  /**< the request head as sent (CRLF line ends) */
    AH_CLIENT_TRACE_RESPONSE_HEAD, /**< a response head as received (1xx ones included) */
} ah_client_trace_kind;

/** Client options; zero means the default (in brackets). Timeouts are in milliseconds; a
 * negative value turns that timeout off. */
typedef struct ah_client_opts {
    size_t max_connections;     /**< open connections in all [100] */
    size_t max_per_host;        /**< open connections per (scheme, host, port) [10] */
    int64_t idle_timeout_ms;    /**< keep-alive: an idle connection is closed after [30 s];
                                     < 0: no keep-alive (close after each response) */
    int64_t pool_timeout_ms;    /**< waiting for a free connection at the limits [none] */
    int64_t timeout_ms;         /**< total per fetch: connect, send, head, redirects, and the
                                     body reads that follow [5 min, as aiohttp] */
    int64_t dns_timeout_ms;     /**< name resolution [10 s] */
    int64_t connect_timeout_ms; /**< TCP connect, per address tried [10 s] */
    int64_t tls_timeout_ms;     /**< TLS handshake [10 s] */
    int64_t headers_timeout_ms; /**< from the request sent to the whole response head [none] */
    int64_t read_timeout_ms;    /**< idle time between two reads of the connection [none] */
    int64_t write_timeout_ms;   /**< a write of the request that makes no progress [none] */
    int max_redirects;          /**< redirects followed [10]; < 0: none (3xx are returned) */
    size_t max_body;            /**< cap of ah_client_response_body [10 MiB] → AH_ETOOBIG */
    size_t max_decompressed;    /**< decoded bytes of one gzip/deflate body [100 MiB] →
                                     AH_ETOOBIG (zip bombs) */
    size_t max_header_bytes;    /**< response head bytes [64 KiB] → AH_ETOOBIG */
    size_t max_header_count;    /**< response header lines [100] → AH_ETOOBIG */
    int decompress;             /**< send "Accept-Encoding: gzip, deflate" and decode the body
                                     [on]; < 0: send none and decode nothing */
    const char *user_agent;     /**< User-Agent ["ahttp/" version]; "" sends none */
    /* TLS: verification is on, against the system trust store, unless insecure is set. */
    const char *ca_file;   /**< extra trusted CAs (PEM) */
    const char *ca_dir;    /**< extra trusted CA directory (hashed) */
    const char *cert_file; /**< client certificate, for servers that ask */
    const char *key_file;  /**< its key */
    int insecure;          /**< 1: do not verify servers at all (explicit opt-out) */
    /** Cookies stored from responses and sent with requests, or NULL for none. Borrowed: the
     * caller keeps ownership, and the jar must outlive the client. */
    ah_cookie_jar *cookie_jar;
    /** An HTTP proxy for every request: "http://[user:password@]host[:port]" (the scheme may be
     * left out; the port is 1080 when absent, as curl has it; user and password are
     * percent-decoded). "" means no proxy, and no proxy from the environment either. NULL: none,
     * unless use_env_proxy. A malformed or non-http proxy URL fails every fetch with AH_EINVAL. */
    const char *proxy;
    /** Hosts reached directly, never through a proxy: a comma- or space-separated list of names
     * (each matches itself and its subdomains; a leading dot is ignored), IP addresses, CIDR
     * blocks ("10.0.0.0/8", "fd00::/8") and "*" for every host. NULL: none, unless
     * use_env_proxy. */
    const char *no_proxy;
    /** 1: where proxy (or no_proxy) is NULL, take it from the environment as curl does:
     * http_proxy for http:// URLs (HTTP_PROXY too, but not when REQUEST_METHOD is set: in a CGI
     * program that name comes from a request's "Proxy:" header), https_proxy or HTTPS_PROXY for
     * https:// ones, all_proxy or ALL_PROXY for either when those are unset, and no_proxy or
     * NO_PROXY. The environment is read once, by ah_client_new. */
    int use_env_proxy;
    /** Called with what is sent and received, for -v style logs (may be NULL). text is not
     * NUL-terminated and is valid only during the call. Must not await. */
    void (*trace)(void *arg, ah_client_trace_kind kind, const char *text, size_t len);
    void *trace_arg;
    /** How long a request with expect_continue waits for the server's "100 Continue" (or its
     * final answer) before it sends the body anyway, as curl's --expect100-timeout [1000 ms];
     * < 0: no wait (the body goes at once, as if 100 had come). */
    int64_t expect_timeout_ms;
} ah_client_opts;

/** Which timer fired when a call returned AH_ETIMEDOUT. */
typedef enum ah_client_timeout {
    AH_CLIENT_TIMEOUT_NONE, /**< none of the client's timers (the caller's own deadline, or none) */
    AH_CLIENT_TIMEOUT_TOTAL,   /**< timeout_ms (or the request's own) */
    AH_CLIENT_TIMEOUT_POOL,    /**< pool_timeout_ms */
    AH_CLIENT_TIMEOUT_DNS,     /**< dns_timeout_ms */
    AH_CLIENT_TIMEOUT_CONNECT, /**< connect_timeout_ms */
    AH_CLIENT_TIMEOUT_TLS,     /**< tls_timeout_ms */
    AH_CLIENT_TIMEOUT_HEADERS, /**< headers_timeout_ms */
    AH_CLIENT_TIMEOUT_READ,    /**< read_timeout_ms */
    AH_CLIENT_TIMEOUT_WRITE,   /**< write_timeout_ms */
} ah_client_timeout;

/** Where a request failed. */
typedef enum ah_client_phase {
    AH_CLIENT_PHASE_NONE,     /**< no failure */
    AH_CLIENT_PHASE_REQUEST,  /**< the request itself is bad (URL, method, header) */
    AH_CLIENT_PHASE_POOL,     /**< waiting for a connection slot */
    AH_CLIENT_PHASE_DNS,      /**< resolving the host name */
    AH_CLIENT_PHASE_CONNECT,  /**< TCP connect */
    AH_CLIENT_PHASE_TLS,      /**< TLS setup and handshake */
    AH_CLIENT_PHASE_SEND,     /**< writing the request */
    AH_CLIENT_PHASE_HEADERS,  /**< waiting for / reading the response head */
    AH_CLIENT_PHASE_BODY,     /**< reading the response body */
    AH_CLIENT_PHASE_REDIRECT, /**< following a redirect */
} ah_client_phase;

/** What went wrong, in detail. */
typedef struct ah_client_error {
    int code;                  /**< the AH_E* code returned (0: none) */
    ah_client_phase phase;     /**< where */
    ah_client_timeout timeout; /**< for AH_ETIMEDOUT: which timer */
    char message[256];         /**< e.g. "connect timeout (100 ms) to 127.0.0.1:8080",
                                    "TLS: certificate verify failed: certificate has expired" */
} ah_client_error;

/** One header line of a request. */
typedef struct ah_client_header {
    const char *name;
    const char *value;
} ah_client_header;

/** A producer of a request body, sent with chunked encoding: write up to len bytes into buf and
 * return the count, 0 at the end, or < 0 to abort the request (that code is returned). It runs
 * in the fetching task and may await. A body from a producer cannot be sent twice, so such a
 * request is never retried and 307/308 redirects are not followed for it. */
typedef int (*ah_client_body_fn)(void *arg, void *buf, size_t len);

/** A request. Only url is required; everything is copied or used during ah_client_fetch only. */
typedef struct ah_client_request {
    const char *method;              /**< "GET" if NULL */
    const char *url;                 /**< absolute http:// or https:// URL */
    const ah_client_header *headers; /**< extra header lines (Host, User-Agent, Accept and
                                         Accept-Encoding given here replace the client's;
                                         Content-Length and Transfer-Encoding are ignored: the
                                         client frames the body itself) */
    size_t nheaders;
    const void *body; /**< body bytes (sent with Content-Length), or NULL */
    size_t body_len;
    ah_client_body_fn body_fn; /**< or a producer (chunked); body must then be NULL */
    void *body_arg;
    int max_redirects;      /**< 0: the client's; < 0: follow none; > 0: at most that */
    int64_t timeout_ms;     /**< total for this request; 0: the client's; < 0: none */
    ah_client_error *error; /**< if not NULL, filled in when the fetch fails */
    /** Or the body from this file (a path; body and body_fn must then be NULL): sent with
     * Content-Length = its size, read in pieces on the loop's thread pool, never whole into
     * memory. A file that cannot be opened fails the fetch before anything is sent (-errno, phase
     * REQUEST, "cannot open the request body file ..."); one that changes size while being sent
     * fails it with -EIO (phase SEND) and the connection is closed, the body left short. The file
     * is read again for a 307/308 redirect and for the retry on a stale connection. */
    const char *body_file;
    /** 1: send "Expect: 100-continue" with a non-empty body, send the head, and wait (up to the
     * client's expect_timeout_ms) for "100 Continue" before the body. If the server answers
     * with a final status instead (417, 401, 413, ...), the body is not sent and that response
     * is returned; its connection is closed after it. No answer in time: the body goes anyway. */
    int expect_continue;
} ah_client_request;

/** Make a client. opts may be NULL; the strings in it are copied. Nothing is connected yet and
 * the TLS context is made on the first https request. Returns NULL when out of memory. The
 * caller owns the client and ends it with ah_client_close. */
AH_EXPORT ah_client *ah_client_new(const ah_client_opts *opts);

/** Close the client: idle connections are closed (TLS ones after close_notify), tasks waiting
 * for a connection get AH_ECLOSED, later fetches fail with AH_ECLOSED. Responses still held
 * keep their connection until freed; the memory goes once the last of them is freed. Call it
 * from a task of the client's loop (outside one, connections are closed without
 * close_notify). NULL is ignored. */
AH_EXPORT void ah_client_close(ah_client *c);

/** Send a request and wait for the response head (following redirects). On success returns 0
 * and *out, a response the caller frees with ah_client_response_free; its body is still to be
 * read. Any status is a success here: a 404 is a response, not an error.
 * Errors (with *out NULL, details in req->error and ah_client_last_error):
 *  AH_EINVAL (bad URL, method, header; not in a task), AH_EDNS, AH_ECONNREFUSED and other
 *  -errno from connecting, AH_ETIMEDOUT (which one: the error's timeout field), AH_ETLS,
 *  AH_ETLS_VERIFY, AH_EPROTO_HTTP (malformed response), AH_EEOF (the server closed the
 *  connection without a response), AH_ECONNRESET, AH_ETOOBIG (response head too large),
 *  AH_EREDIRECTS, AH_ECLOSED (client closed), AH_ECANCELED, AH_ENOMEM.
 * A request whose connection turns out dead before any byte of the response (a kept-alive
 * connection the server closed) is sent once more on a new connection if it is idempotent
 * (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) and its body is in memory or in a file. */
AH_NODISCARD AH_EXPORT int ah_client_fetch(ah_client *c, const ah_client_request *req,
                                           ah_client_response **out);

/** GET url. As ah_client_fetch. */
AH_NODISCARD AH_EXPORT int ah_client_get(ah_client *c, const char *url, ah_client_response **out);

/** POST len bytes of body to url with the given Content-Type (NULL: none). */
AH_NODISCARD AH_EXPORT int ah_client_post(ah_client *c, const char *url, const void *body,
                                          size_t len, const char *content_type,
                                          ah_client_response **out);

/** The message of the last failure of any call on this client ("" if none), e.g. "read timeout
 * (2000 ms) from 127.0.0.1:8080". Valid until the next call on the client; with several tasks
 * sharing a client, read it right after the failing call (before awaiting anything) or use
 * ah_client_request.error. */
AH_EXPORT const char *ah_client_last_error(const ah_client *c);

/** Pool counters. */
typedef struct ah_client_stats {
    size_t connections_open;   /**< now: idle, busy or being made */
    size_t connections_idle;   /**< now: kept alive and unused */
    size_t waiting;            /**< now: requests waiting for a connection slot */
    uint64_t connections_made; /**< since the client was made */
    uint64_t requests;         /**< requests sent (each redirect hop and retry counts) */
    uint64_t reused;           /**< requests sent on a kept-alive connection */
    uint64_t retries;          /**< requests sent again after a stale connection */
} ah_client_stats;

/** Fill *out with the client's counters. */
AH_EXPORT void ah_client_get_stats(const ah_client *c, ah_client_stats *out);

/* ---- pool statistics per host ---- */

/** Room for a host name in ah_client_host_stats, NUL included. A DNS name has at most 253
 * characters; a longer host (which could never resolve) is cut to fit. */
#define AH_CLIENT_HOST_NAME_MAX 256

/** How a pool entry reaches its hosts. */
typedef enum ah_client_host_via {
    AH_CLIENT_VIA_DIRECT, /**< straight to scheme://host:port */
    AH_CLIENT_VIA_PROXY,  /**< http:// through the proxy host:port; every http:// origin that goes
                               through that proxy shares the entry and its connections */
    AH_CLIENT_VIA_TUNNEL, /**< https://host:port through a CONNECT tunnel across `proxy` */
} ah_client_host_via;

/** One entry of the connection pool: an origin (scheme, host, port) and the way there, with its
 * connections and the requests waiting for one. Everything is copied into the struct: it owes
 * nothing to the client and stays valid after the client changes or is freed. */
typedef struct ah_client_host_stats {
    char scheme[8];                     /**< "http" or "https" */
    char host[AH_CLIENT_HOST_NAME_MAX]; /**< lower-case; IPv6 without brackets ("::1"). For
                                             AH_CLIENT_VIA_PROXY the proxy's host */
    uint16_t port;                      /**< the origin's port (for VIA_PROXY the proxy's) */
    ah_client_host_via via;
    char proxy[AH_CLIENT_HOST_NAME_MAX + 8]; /**< "host:port" ("[::1]:3128") of the proxy, "" for
                                                  DIRECT */
    size_t open;    /**< now: connections idle, in use or being made (each holds a slot under
                         max_per_host) */
    size_t idle;    /**< now: kept alive and unused */
    size_t active;  /**< now: open - idle, in use by a request or being connected */
    size_t waiting; /**< now: requests queued for a slot to this entry */
} ah_client_host_stats;

/** Fill out[0..max) with the pool's entries, in no particular order, and return how many
 * entries there are (which may be more than max: call again with a bigger array to see them
 * all; out may be NULL when max is 0). An entry exists while it has open connections or
 * waiting requests; one whose last connection closed is gone. A NULL client has none. The
 * figures are a snapshot: they change as soon as the calling task awaits. */
AH_EXPORT size_t ah_client_get_host_stats(const ah_client *c, ah_client_host_stats *out,
                                          size_t max);

/* ---- responses ---- */

/** The status code (200). */
AH_EXPORT int ah_client_response_status(const ah_client_response *r);
/** The reason phrase as sent ("OK"; may be ""). */
AH_EXPORT const char *ah_client_response_reason(const ah_client_response *r);
/** 10 for HTTP/1.0, 11 for HTTP/1.1. */
AH_EXPORT int ah_client_response_version(const ah_client_response *r);
/** The first value of the header called name (case-insensitive), or NULL. */
AH_EXPORT const char *ah_client_response_header(const ah_client_response *r, const char *name);
/** The n-th (from 0) value of the header called name, or NULL: for headers that occur more
 * than once (Set-Cookie, Link, ...). */
AH_EXPORT const char *ah_client_response_header_nth(const ah_client_response *r, const char *name,
                                                    size_t n);
/** The number of header lines. */
AH_EXPORT size_t ah_client_response_header_count(const ah_client_response *r);
/** Header line i (in the order received): name and value. 0, or AH_EINVAL past the end. */
AH_NODISCARD AH_EXPORT int ah_client_response_header_at(const ah_client_response *r, size_t i,
                                                        const char **name, const char **value);
/** A trailer of a chunked body (available once the body has been read to its end), or NULL. */
AH_EXPORT const char *ah_client_response_trailer(const ah_client_response *r, const char *name);
/** The declared Content-Length (of the body as sent, before decoding), or -1 if none. */
AH_EXPORT int64_t ah_client_response_content_length(const ah_client_response *r);
/** The body bytes received so far as they came on the wire: before gzip/deflate decoding, but
 * without chunked framing (chunk sizes, extensions, CRLFs and trailers), as curl counts
 * size_download. Bytes after the end of a compressed stream count too. 0 for NULL, before the
 * first read, and for a response without a body. */
AH_EXPORT uint64_t ah_client_response_bytes_received(const ah_client_response *r);
/** The URL that answered (after redirects), as a string owned by the response. */
AH_EXPORT const char *ah_client_response_url(const ah_client_response *r);

/** Read some of the body (decoded from chunked, gzip and deflate as needed): > 0 bytes, 0 at
 * its end, or < 0: AH_ETRUNCATED (the connection closed before the end), AH_EPROTO_HTTP
 * (malformed chunking or compressed data), AH_ETOOBIG (max_decompressed), AH_ETIMEDOUT (read
 * or total timeout), AH_ECANCELED, ... Bytes decoded before an error are returned first; the
 * error comes with the next read. An error is sticky: later reads return it again. The
 * connection goes back to the pool as soon as the end of the body has been read. */
AH_NODISCARD AH_EXPORT int ah_client_response_read(ah_client_response *r, void *buf, size_t len);

/** Read the whole (rest of the) body into memory owned by the response: *data (NUL-terminated
 * for convenience) and *len, valid until ah_client_response_free. AH_ETOOBIG beyond max_body,
 * other errors as ah_client_response_read. A second call returns the same body. */
AH_NODISCARD AH_EXPORT int ah_client_response_body(ah_client_response *r, const char **data,
                                                   size_t *len);

/** Read one line of the body (decoded as ah_client_response_read decodes it) into buf, up to and
 * including its '\n', and NUL-terminate it, as fgets does (and aiohttp's
 * resp.content.readline()): returns its length (> 0), 0 at the end of the body, or < 0 errors as
 * ah_client_response_read (sticky), AH_EINVAL for size < 2.
 * - A line longer than size - 1 bytes comes back in pieces of size - 1 bytes without a '\n' (as
 *   with fgets); the next call goes on with the rest of it. "\r\n" is left as it is.
 * - The last line is returned without a '\n' if the body does not end with one.
 * - Bytes read before an error are returned first (a line without its '\n'); the error comes
 *   with the next call.
 * The body is read ahead a few KiB at a time into a buffer owned by the response; later
 * read_line, ah_client_response_read and ah_client_response_body calls take those bytes first,
 * so the calls can be mixed freely. */
AH_NODISCARD AH_EXPORT int ah_client_response_read_line(ah_client_response *r, char *buf,
                                                        size_t size);

/** The number of redirects followed to get here (aiohttp's len(resp.history)): 0 without
 * redirects, for NULL and with redirects off. */
AH_EXPORT size_t ah_client_response_history_count(const ah_client_response *r);

/** Redirect hop i (0 is the first request, in the order followed): *status its 3xx code, *url
 * the URL that answered it (formatted as ah_client_response_url formats), *location its
 * Location header as sent (maybe relative; the URL of the next hop is resolved from it). The
 * strings are owned by the response, valid until ah_client_response_free. Any out pointer may
 * be NULL. 0, or AH_EINVAL past the end. The final response is not a hop: its status and URL
 * are ah_client_response_status and _url. */
AH_NODISCARD AH_EXPORT int ah_client_response_history_at(const ah_client_response *r, size_t i,
                                                         int *status, const char **url,
                                                         const char **location);

/** The failure of the last body read (code 0 if none). */
AH_EXPORT const ah_client_error *ah_client_response_error(const ah_client_response *r);

/** Free the response. If its body was read to the end the connection is back in the pool
 * already. Otherwise what is left of the body is dropped if it has all arrived already (in the
 * buffer or the socket, at most 64 KiB) so the connection can be kept, and else the connection
 * is closed. Never waits for the server (it may send a TLS close_notify when it closes a TLS
 * connection). NULL is ignored. */
AH_EXPORT void ah_client_response_free(ah_client_response *r);

AH_END_DECLS

#endif
