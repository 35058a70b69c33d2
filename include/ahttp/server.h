/* ahttp: the HTTP/1.1 server — what aiohttp.web is for Python.
 *
 * A handler is a plain function that runs in the connection's task, so it may await anything
 * (ah_sleep, a client request, ah_to_thread) without holding up other connections:
 *
 *     static int hello(ah_request *req, ah_response *resp, void *arg)
 *     {
 *         return ah_response_text(resp, 200, "text/plain", "Hello, World!");
 *     }
 *     ...
 *     ah_server *srv = ah_server_new(NULL);
 *     ah_server_route(srv, "GET", "/hello", hello, NULL);
 *     ah_server_listen(srv, "127.0.0.1", 8080);
 *     ah_server_run(srv);   // until SIGINT/SIGTERM or ah_server_shutdown
 */
#ifndef AHTTP_SERVER_H
#define AHTTP_SERVER_H

#include <sys/socket.h>

#include <ahttp/common.h>
#include <ahttp/error.h>
#include <ahttp/tls.h>

AH_BEGIN_DECLS

/** A request being served (opaque). Valid during the handler call; everything it returns
 * (strings included) lives in the request's arena and is freed when the response is done. */
typedef struct ah_request ah_request;
/** The response to a request (opaque), owned by the server. */
typedef struct ah_response ah_response;
/** A server (opaque). */
typedef struct ah_server ah_server;

/** A handler: fill resp (or stream it), return 0; a negative return with nothing sent yet makes
 * a 500 response; after streaming started it closes the connection. */
typedef int (*ah_handler_fn)(ah_request *req, ah_response *resp, void *arg);

/** The rest of a middleware chain. */
typedef struct ah_next ah_next;
/** Middleware (onion model): do something before, call ah_next_call(next) to run the inner
 * layers and the handler (or don't, to answer on its own), do something after. */
typedef int (*ah_middleware_fn)(ah_request *req, ah_response *resp, ah_next *next, void *arg);
/** Run the rest of the chain; returns what it returned. */
AH_NODISCARD AH_EXPORT int ah_next_call(ah_next *next);

/* ---- requests ---- */

/** "GET", "POST", ... */
AH_EXPORT const char *ah_request_method(const ah_request *req);
/** The request target as sent ("/a%20b?x=1"). */
AH_EXPORT const char *ah_request_target(const ah_request *req);
/** The path, percent-decoded ("/a b"). */
AH_EXPORT const char *ah_request_path(const ah_request *req);
/** The raw query string after '?' ("" if none). */
AH_EXPORT const char *ah_request_query(const ah_request *req);
/** A decoded query parameter (first occurrence; '+' is a space), or NULL. */
AH_EXPORT const char *ah_request_query_param(ah_request *req, const char *name);
/** A path parameter of the route ("{id}" → "id"), or NULL. */
AH_EXPORT const char *ah_request_param(const ah_request *req, const char *name);
/** A header's value (first one; name case-insensitive), or NULL. */
AH_EXPORT const char *ah_request_header(const ah_request *req, const char *name);
/** Number of header lines. */
AH_EXPORT size_t ah_request_header_count(const ah_request *req);
/** Header line i: name and value. Returns 0, or AH_EINVAL past the end. */
AH_NODISCARD AH_EXPORT int ah_request_header_at(const ah_request *req, size_t i, const char **name,
                                                const char **value);
/** 10 for HTTP/1.0, 11 for HTTP/1.1. */
AH_EXPORT int ah_request_version(const ah_request *req);
/** The peer's address. */
AH_EXPORT const struct sockaddr *ah_request_remote(const ah_request *req);
/** 1 if the request came over TLS. */
AH_EXPORT int ah_request_is_tls(const ah_request *req);
/** The declared body length, or -1 if chunked / unknown. */
AH_EXPORT int64_t ah_request_content_length(const ah_request *req);
/** Read some of the body (decoded from chunked if need be): > 0 bytes, 0 at its end, < 0 error
 * (AH_ETOOBIG past the route's body limit, AH_ETIMEDOUT, AH_EPROTO_HTTP). Sends
 * "100 Continue" first if the client asked for it. */
AH_NODISCARD AH_EXPORT int ah_request_read(ah_request *req, void *buf, size_t len);
/** Read the whole body into the request's arena (up to the body limit): *data (NUL-terminated
 * for convenience) and *len. Returns 0 or < 0 as ah_request_read. */
AH_NODISCARD AH_EXPORT int ah_request_body(ah_request *req, const char **data, size_t *len);
/** A copy of s in the request's arena (freed with the request), or NULL. */
AH_EXPORT char *ah_request_strdup(ah_request *req, const char *s);
/** Memory from the request's arena (freed with the request), or NULL. */
AH_EXPORT void *ah_request_alloc(ah_request *req, size_t size);

/* ---- responses ---- */

/** Set the status (default 200). */
AH_EXPORT void ah_response_status(ah_response *resp, int status);
/** Add a header (copied). AH_EINVAL if name or value holds CR, LF or NUL (response splitting)
 * or name is not a token; AH_EBUSY once the head is sent. Content-Length, Date and Connection
 * are managed by the server. */
AH_NODISCARD AH_EXPORT int ah_response_header(ah_response *resp, const char *name,
                                              const char *value);
/** Set the body (copied). */
AH_NODISCARD AH_EXPORT int ah_response_body(ah_response *resp, const void *data, size_t len);
/** Set the body without copying: data must stay valid until the response is sent (static
 * strings, or memory from ah_request_alloc). */
AH_NODISCARD AH_EXPORT int ah_response_body_ref(ah_response *resp, const void *data, size_t len);
/** Status + Content-Type + body (copied) in one call. */
AH_NODISCARD AH_EXPORT int ah_response_text(ah_response *resp, int status, const char *content_type,
                                            const char *text);
/** Send the head now and stream the body in chunks (Transfer-Encoding: chunked, or raw bytes
 * if Content-Length was set as a header). Returns 0 or < 0. */
AH_NODISCARD AH_EXPORT int ah_response_start(ah_response *resp);
/** Send one piece of a streamed body (starts the response if need be). */
AH_NODISCARD AH_EXPORT int ah_response_write(ah_response *resp, const void *data, size_t len);
/** Add a trailer to a chunked response (before ah_response_end). */
AH_NODISCARD AH_EXPORT int ah_response_trailer(ah_response *resp, const char *name,
                                               const char *value);
/** Finish a streamed response. (The server finishes it if the handler does not.) */
AH_NODISCARD AH_EXPORT int ah_response_end(ah_response *resp);
/** Send len bytes of the open file fd from offset as the body (sendfile; read/write under
 * TLS). The server closes fd when done if close_fd is 1. */
AH_NODISCARD AH_EXPORT int ah_response_file(ah_response *resp, int fd, int64_t offset, int64_t len,
                                            int close_fd);
/** 1 once the head has been sent. */
AH_EXPORT int ah_response_started(const ah_response *resp);
/** The status the response has now (200 until set): what a middleware sees after
 * ah_next_call, to log it. */
AH_EXPORT int ah_response_get_status(const ah_response *resp);
/** The response's body bytes: for a complete response (ah_response_body, _ref, _text,
 * ah_response_file) its length, sent when the middleware chain returns; for a streamed one the
 * bytes written so far. 0 for HEAD, 1xx, 204 and 304, which carry none. */
AH_EXPORT uint64_t ah_response_get_body_bytes(const ah_response *resp);

/** The reason phrase of a status code ("Not Found"). */
AH_EXPORT const char *ah_http_reason(int status);

/* ---- the server ---- */

/** Server options; zero means the default (in brackets). */
typedef struct ah_server_opts {
    size_t max_request_line;      /**< request line bytes [8 KiB] → 414 */
    size_t max_header_bytes;      /**< header block bytes [16 KiB] → 431 */
    size_t max_header_count;      /**< header lines [100] → 431 */
    size_t max_body;              /**< request body bytes [1 MiB] → 413 (per route overridable) */
    int64_t header_timeout_ms;    /**< to receive a request head [10 s] → 408 and close */
    int64_t keepalive_timeout_ms; /**< idle keep-alive connection [75 s] → closed */
    int64_t body_timeout_ms;      /**< between body reads [30 s] */
    int64_t write_timeout_ms;     /**< to send a response [30 s] */
    size_t max_connections;  /**< open connections per worker [10,000]; over it, accepting pauses */
    unsigned workers;        /**< threads, each with its own loop and SO_REUSEPORT listener [1] */
    const char *access_log;  /**< Common Log Format file path, "-" for stdout; NULL: off */
    int log_level;           /**< error log to stderr: 0 errors [default], 1 warnings, 2 info */
    const char *server_name; /**< Server header value [none] */
    /** Stack of each connection's task in the loops ah_server_run makes [the loop's default,
     * 64 KiB]; handlers that need more (deep recursion, big local buffers) raise it. With
     * ah_server_serve the caller's loop decides (ah_loop_opts.stack_size). */
    size_t task_stack_size;
    /** How long SIGINT/SIGTERM under ah_server_run let requests in flight finish before they
     * are cancelled (and answered 503 if nothing was sent yet) [10 s]; < 0: no limit. */
    int64_t shutdown_grace_ms;
} ah_server_opts;

/** Per-route options. */
typedef struct ah_route_opts {
    size_t max_body; /**< this route's body limit (0: the server's) */
} ah_route_opts;

/** Make a server. opts may be NULL. NULL when out of memory. */
AH_EXPORT ah_server *ah_server_new(const ah_server_opts *opts);
/** Free a server that is not running. */
AH_EXPORT void ah_server_free(ah_server *srv);

/** Route method ("GET", ..., or "*" for any) + pattern to handler. Patterns are literal paths
 * with "{name}" segments ("/users/{id}"), or end in a star segment for a prefix ("/files/" then
 * a star: the rest of the path becomes the parameter named "*"). GET routes also answer HEAD.
 * Earlier routes win. Returns 0, AH_EINVAL (bad pattern), AH_ENOMEM. */
AH_NODISCARD AH_EXPORT int ah_server_route(ah_server *srv, const char *method, const char *pattern,
                                           ah_handler_fn handler, void *arg);
/** The same with per-route options. */
AH_NODISCARD AH_EXPORT int ah_server_route_ex(ah_server *srv, const char *method,
                                              const char *pattern, ah_handler_fn handler, void *arg,
                                              const ah_route_opts *opts);
/** Add middleware; the first added is the outermost layer. */
AH_NODISCARD AH_EXPORT int ah_server_use(ah_server *srv, ah_middleware_fn mw, void *arg);
/** Serve files under dir at URL prefix (e.g. "/static/"): GET and HEAD, Content-Type from the
 * extension, ETag / Last-Modified with 304, single Range with 206 / 416, index.html for
 * directories (else 403), no escape from dir (.., encoded dots, symlinks out of it). */
AH_NODISCARD AH_EXPORT int ah_server_static(ah_server *srv, const char *prefix, const char *dir);

/** Listen on host:port (port 0: an ephemeral port, see ah_server_port). Several listeners may be
 * added; call before running. Returns 0 or < 0 (-EADDRINUSE, AH_EDNS, ...). */
AH_NODISCARD AH_EXPORT int ah_server_listen(ah_server *srv, const char *host, uint16_t port);
/** The same over TLS with a server context (the server does not take ownership of tls). */
AH_NODISCARD AH_EXPORT int ah_server_listen_tls(ah_server *srv, const char *host, uint16_t port,
                                                ah_tls_ctx *tls);
/** The bound port of listener i (in the order added), 0 if there is none. */
AH_EXPORT uint16_t ah_server_port(const ah_server *srv, size_t i);

/** Serve in the current task until shutdown: accepts on every listener, one task per busy
 * connection. Returns 0 after a graceful shutdown, or < 0. (workers is ignored here: one loop.) */
AH_NODISCARD AH_EXPORT int ah_server_serve(ah_server *srv);
/** Run the server with its own loop(s) until SIGINT/SIGTERM or ah_server_shutdown: opts.workers
 * threads, each with a loop and its own SO_REUSEPORT listeners. Blocks; returns 0 or < 0.
 * SIGINT and SIGTERM are unblocked once their handlers are installed, so a program can block
 * them before it starts listening and a signal during start-up still shuts down gracefully. */
AH_NODISCARD AH_EXPORT int ah_server_run(ah_server *srv);
/** Graceful shutdown: stop accepting, close idle keep-alive connections, let requests in flight
 * finish (their responses say Connection: close), cancel what is left after grace_ms (a request
 * whose handler had sent nothing is answered 503); grace_ms < 0: no limit. Safe from any task of
 * the server's loops and from other threads. */
AH_EXPORT void ah_server_shutdown(ah_server *srv, int64_t grace_ms);

/** Counters (all workers). */
typedef struct ah_server_stats {
    uint64_t connections_accepted;
    uint64_t requests;
    size_t connections_open;
    size_t connections_idle;
} ah_server_stats;
AH_EXPORT void ah_server_get_stats(const ah_server *srv, ah_server_stats *out);

AH_END_DECLS

#endif
