/* ahttp: TLS over any stream, with OpenSSL driven through memory BIOs — the SSL engine never
 * touches the socket; the task moves bytes between OpenSSL and the inner stream with ordinary
 * awaits, so a handshake or a read never blocks the loop, and one code path serves client and
 * server. */
#ifndef AHTTP_TLS_H
#define AHTTP_TLS_H

#include <ahttp/common.h>
#include <ahttp/stream.h>

AH_BEGIN_DECLS

/** A TLS configuration (wraps an OpenSSL SSL_CTX; opaque). Shared by many connections. */
typedef struct ah_tls_ctx ah_tls_ctx;

/** Client options; zero means the default. */
typedef struct ah_tls_client_opts {
    const char *ca_file;   /**< extra trusted CAs (PEM); default: the system trust store only */
    const char *ca_dir;    /**< extra trusted CA directory (hashed, c_rehash) */
    const char *cert_file; /**< client certificate chain (PEM), for servers that ask */
    const char *key_file;  /**< its private key (PEM) */
    int insecure;          /**< 1: do not verify the peer at all (explicit opt-out) */
    int system_store;      /**< trust the system store too [on]; < 0: only ca_file / ca_dir */
} ah_tls_client_opts;

/** Make a client context: TLS >= 1.2, verification on, ALPN "http/1.1", session cache on.
 * Without ca_file and ca_dir it shares the process's system trust store (loaded by the first
 * call, or by ah_tls_client_preload); with them it gets a store of its own: the system's
 * certificates (copied by reference, well under a millisecond) plus those. Returns 0 and *out,
 * or AH_ETLS with the reason in err (if err is not NULL; err_size bytes), e.g. "cannot load CA
 * file x.pem: No such file or directory". */
AH_NODISCARD AH_EXPORT int ah_tls_client_ctx_new(const ah_tls_client_opts *opts, ah_tls_ctx **out,
                                                 char *err, size_t err_size);

/** Do, once per process, the slow part of making a client context with these options (NULL:
 * the defaults): OpenSSL's first-use set-up (~10 ms) and, unless opts says insecure or
 * no_system_store, loading the system trust store (tens of ms: a few hundred certificates are
 * parsed). Called from a task, the work runs on the loop's thread pool (ah_to_thread) and only
 * the calling task waits while the loop runs the others; outside a task it runs right here.
 * Once done, it returns at once. ah_tls_client_ctx_new does the same loads itself when they
 * have not been done, but on the calling thread: a task that makes a client context while other
 * tasks run calls this first (ah_client does). The system store is read once per process and
 * shared by every client context (SSL_CERT_FILE / SSL_CERT_DIR are honoured at that first read).
 * Returns 0; AH_ECANCELED / AH_ETIMEDOUT if the calling task was cancelled or passed its
 * deadline while waiting (the load still finishes for later callers); AH_ETLS if the system
 * store cannot be loaded, with the reason in err (if err is not NULL; err_size bytes; "" on
 * success). */
AH_NODISCARD AH_EXPORT int ah_tls_client_preload(const ah_tls_client_opts *opts, char *err,
                                                 size_t err_size);

/** One certificate for a server: the chain file (leaf first) and its key. */
typedef struct ah_tls_cert {
    const char *cert_file;
    const char *key_file;
} ah_tls_cert;

/** Server options. certs[0] is the default; the others are chosen by SNI when a client names a
 * host that matches their certificate. */
typedef struct ah_tls_server_opts {
    const ah_tls_cert *certs;
    size_t ncerts;
    const char *client_ca_file; /**< if set, client certificates are requested and verified */
    int require_client_cert;    /**< 1: a client without a valid certificate is refused */
    int tickets;                /**< session tickets (resumption) [on]; < 0: off */
} ah_tls_server_opts;

/** Make a server context: TLS >= 1.2, ALPN "http/1.1", session tickets on. Errors as above. */
AH_NODISCARD AH_EXPORT int ah_tls_server_ctx_new(const ah_tls_server_opts *opts, ah_tls_ctx **out,
                                                 char *err, size_t err_size);

/** Free a context (connections made from it keep their own reference). */
AH_EXPORT void ah_tls_ctx_free(ah_tls_ctx *ctx);

/** Run the client handshake over inner (usually a TCP stream) and return, in *out, a stream of
 * plaintext. host is sent as SNI and checked against the certificate (DNS name or IP address);
 * NULL skips both (only sensible with insecure). inner is owned by the TLS stream from now on —
 * on failure too (it is closed). timeout_ms bounds the handshake (< 0: none).
 * Errors: AH_ETLS_VERIFY, AH_ETLS, AH_ETIMEDOUT, AH_ECANCELED, AH_EEOF / AH_ECONNRESET (peer hung
 * up), AH_EINVAL. On failure err (if not NULL; err_size bytes) says why, as OpenSSL says it, e.g.
 * "certificate verify failed: certificate has expired" or "TLS handshake: the peer closed the
 * connection"; "" on success, and for AH_EINVAL from a NULL argument. */
AH_NODISCARD AH_EXPORT int ah_tls_client_wrap(ah_stream *inner, ah_tls_ctx *ctx, const char *host,
                                              int64_t timeout_ms, ah_stream **out, char *err,
                                              size_t err_size);

/** The same for the server side, e.g. err = "certificate verify failed: peer did not return a
 * certificate" when require_client_cert refuses a client. */
AH_NODISCARD AH_EXPORT int ah_tls_server_wrap(ah_stream *inner, ah_tls_ctx *ctx, int64_t timeout_ms,
                                              ah_stream **out, char *err, size_t err_size);

/** On a TLS stream: why its last failed read, write or shutdown failed at the TLS level, as
 * OpenSSL says it (e.g. "TLS read: tlsv13 alert certificate required", "TLS read: the peer
 * closed the connection without close_notify"); "" if none did, or if s is not a TLS stream
 * (or NULL). The text belongs to the stream: read it before closing the stream. Each stream
 * keeps its own, so other tasks' connections on this thread do not overwrite it. */
AH_EXPORT const char *ah_tls_stream_error(ah_stream *s);

/** On a TLS stream: the negotiated protocol version ("TLSv1.3"), or NULL for other streams. */
AH_EXPORT const char *ah_tls_version(ah_stream *s);
/** On a TLS stream: the negotiated cipher suite ("TLS_AES_256_GCM_SHA384"), or NULL. */
AH_EXPORT const char *ah_tls_cipher(ah_stream *s);
/** On a TLS stream: the ALPN protocol chosen ("http/1.1"), or NULL. */
AH_EXPORT const char *ah_tls_alpn(ah_stream *s);
/** On a TLS stream: 1 if the session was resumed. */
AH_EXPORT int ah_tls_resumed(ah_stream *s);
/** On a server TLS stream: the SNI name the client sent, or NULL. */
AH_EXPORT const char *ah_tls_sni(ah_stream *s);

AH_END_DECLS

#endif
