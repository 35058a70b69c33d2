/* TLS internals shared by tls_ctx.c (contexts, the client session cache, OpenSSL's error words)
 * and tls.c (the TLS stream over an inner stream). */
#ifndef AH_NET_TLS_INTERNAL_H
#define AH_NET_TLS_INTERNAL_H

#include "internal.h"

#include <ahttp/tls.h>

#include <pthread.h>

#include <openssl/ssl.h>

/* Longest session cache key, "host:port" with its NUL. */
#define AH__TLS_SESSION_KEY_MAX 300

struct ah_tls_ctx {
    int refs; /* the owner's plus one per connection (atomic: contexts are shared by threads) */
    int server;
    size_t nctx;
    SSL_CTX **ctx;        /* server: one per certificate, [0] the default; client: exactly one */
    pthread_mutex_t lock; /* the session table: the context may be used from several loops */
    uint64_t clock;
    struct ah__tls_session_slot *sessions; /* client only: SESSION_SLOTS (tls_ctx.c) */
};

/* ---- errors (tls_ctx.c) ---- */

/* What OpenSSL says about the error at the head (first = 1: the root cause) or tail of this
 * thread's queue, as "reason (detail)". */
void ah__tls_openssl_reason(char *buf, size_t size, int first);

/* ---- contexts (tls_ctx.c) ---- */

/* One more reference to c (each connection holds one; ah_tls_ctx_free drops it). */
void ah__tls_ctx_ref(ah_tls_ctx *c);
/* Keep the newest session of a host:port (takes over the caller's reference). */
void ah__tls_session_put(ah_tls_ctx *c, const char *key, SSL_SESSION *sess);
/* A new reference to the session kept for key, or NULL. */
SSL_SESSION *ah__tls_session_get(ah_tls_ctx *c, const char *key);

/* ---- connections (tls.c) ---- */

/* The client context's new-session callback: files the session under the connection's
 * host:port in its context's cache. */
int ah__tls_new_session_cb(SSL *ssl, SSL_SESSION *sess);

#endif
