/* TLS contexts: what connections share. Client and server SSL_CTX set-up (protocol floor,
 * certificates and keys, CA loading, peer verification), the server's SNI certificate choice and
 * ALPN selection, the client's session cache (one resumable session per host:port), and the
 * helper that words OpenSSL's errors. The TLS stream that runs
 * a connection over these contexts is in tls.c. */
#include "tls_internal.h"

#include <ahttp/thread.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Client sessions remembered per context, one per host:port (oldest replaced). */
#define SESSION_SLOTS 64

static const unsigned char alpn_http11[] = "\x08http/1.1";

/* ---- errors ---- */

/* What OpenSSL says about the error at the head (first = 1: the root cause) or tail of this
 * thread's queue, as "reason (detail)". */
void ah__tls_openssl_reason(char *buf, size_t size, int first)
{
    const char *data = NULL;
    int flags = 0;
    unsigned long e =
        first ? ERR_peek_error_data(&data, &flags) : ERR_peek_last_error_data(&data, &flags);
    if (!e) {
        snprintf(buf, size, "unknown error");
        return;
    }
    const char *reason =
        ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e)) : ERR_reason_error_string(e);
    char code[128];
    if (!reason) {
        ERR_error_string_n(e, code, sizeof(code));
        reason = code;
    }
    if (data && *data && (flags & ERR_TXT_STRING))
        snprintf(buf, size, "%s (%s)", reason, data);
    else
        snprintf(buf, size, "%s", reason);
}

/* ---- contexts ---- */

typedef struct ah__tls_session_slot {
    char key[AH__TLS_SESSION_KEY_MAX]; /* "host:port" */
    SSL_SESSION *sess;
    uint64_t stamp;
} session_slot;

static int ctx_fail(ah_tls_ctx *c, char *err, size_t err_size, const char *fmt, ...)
{
    char what[512], why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    ah__tls_openssl_reason(why, sizeof(why), 1);
    ERR_clear_error();
    if (err && err_size)
        snprintf(err, err_size, "%s: %s", what, why);
    ah_tls_ctx_free(c);
    return AH_ETLS;
}

static ah_tls_ctx *ctx_alloc(int server, size_t nctx)
{
    ah_tls_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->refs = 1;
    c->server = server;
    c->nctx = nctx;
    c->ctx = calloc(nctx, sizeof(*c->ctx));
    if (!server)
        c->sessions = calloc(SESSION_SLOTS, sizeof(*c->sessions));
    if (!c->ctx || (!server && !c->sessions)) {
        free(c->ctx);
        free(c->sessions);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void ah__tls_ctx_ref(ah_tls_ctx *c) { __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED); }

void ah_tls_ctx_free(ah_tls_ctx *c)
{
    if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < c->nctx; i++)
        SSL_CTX_free(c->ctx[i]);
    if (c->sessions)
        for (size_t i = 0; i < SESSION_SLOTS; i++)
            SSL_SESSION_free(c->sessions[i].sess);
    pthread_mutex_destroy(&c->lock);
    free(c->ctx);
    free(c->sessions);
    free(c);
}

/* ---- what every client context shares, loaded once per process ----
 *
 * Loading the system trust store parses a few hundred certificates (35-50 ms here), and
 * OpenSSL's first SSL_CTX_new loads its default provider and fetches every algorithm (~10 ms).
 * Done per context on the loop's thread, that stalled every task of the loop the first time a
 * client spoke https. So the store is loaded once per process into an X509_STORE that every
 * client context without extra CAs shares (it is reference-counted, and locks its own cache for
 * lookups, so sharing it across threads is what OpenSSL intends), and ah_tls_client_preload lets
 * a task have both loads done on the thread pool while the loop runs on. */
static pthread_once_t warm_once = PTHREAD_ONCE_INIT;
static pthread_once_t store_once = PTHREAD_ONCE_INIT;
static int warm_done, store_done; /* atomic: set once the matching once-function has run */
static X509_STORE *system_store;  /* NULL if it could not be loaded; never freed */
static char system_store_error[256];

static void warm_up(void)
{
    SSL_CTX_free(SSL_CTX_new(TLS_client_method()));
    ERR_clear_error();
    __atomic_store_n(&warm_done, 1, __ATOMIC_RELEASE);
}

static void load_system_store(void)
{
    /* The error text is kept here, for every caller: this may run on a pool thread, and every
     * context (and preload) that finds the store missing reports it. */
    X509_STORE *s = X509_STORE_new();
    if (s && X509_STORE_set_default_paths(s) == 1) {
        system_store = s;
    } else {
        ah__tls_openssl_reason(system_store_error, sizeof(system_store_error), 1);
        X509_STORE_free(s);
    }
    ERR_clear_error();
    __atomic_store_n(&store_done, 1, __ATOMIC_RELEASE);
}

/* The shared system store (loading it if this is the first use), or NULL if it cannot be
 * loaded. No reference is taken. */
static X509_STORE *system_store_get(void)
{
    pthread_once(&store_once, load_system_store);
    return system_store;
}

static int wants_system_store(const ah_tls_client_opts *o)
{
    return !o->insecure && o->system_store >= 0;
}

static int preload_job(void *arg)
{
    const int *store = arg;
    pthread_once(&warm_once, warm_up);
    if (*store)
        (void)system_store_get();
    return 0;
}

int ah_tls_client_preload(const ah_tls_client_opts *opts, char *err, size_t err_size)
{
    static const ah_tls_client_opts defaults;
    static const int with_store = 1, without_store = 0;
    const int *store = wants_system_store(opts ? opts : &defaults) ? &with_store : &without_store;
    if (err && err_size)
        err[0] = '\0';
    int done = __atomic_load_n(&warm_done, __ATOMIC_ACQUIRE) &&
               (!*store || __atomic_load_n(&store_done, __ATOMIC_ACQUIRE));
    if (!done && ah_task_current()) {
        /* A job abandoned by a cancelled caller still finishes the load: nothing to free. */
        int rc = ah_to_thread(preload_job, (void *)store);
        if (rc == AH_ECANCELED || rc == AH_ETIMEDOUT)
            return rc;
        /* Any other failure (no pool thread could start): load here, stalling the loop once,
         * rather than fail the caller. */
    }
    (void)preload_job((void *)store);
    if (*store && !system_store) {
        if (err && err_size)
            snprintf(err, err_size, "cannot load the system trust store: %s", system_store_error);
        return AH_ETLS;
    }
    return 0;
}

/* A store for a context with CAs of its own on top of the system's: the system store's
 * certificates and CRLs (references, no parsing), the system CA directory (looked up lazily, as
 * X509_STORE_set_default_paths sets it), then the caller adds its own. The shared store itself
 * must never see them. */
static X509_STORE *system_store_copy(X509_STORE *sys)
{
    X509_STORE *own = X509_STORE_new();
    if (!own)
        return NULL;
    X509_LOOKUP *dir = X509_STORE_add_lookup(own, X509_LOOKUP_hash_dir());
    int ok = dir && X509_LOOKUP_add_dir(dir, NULL, X509_FILETYPE_DEFAULT) == 1;
    /* Verification on other threads may add certificates found in that directory to the shared
     * store's cache meanwhile: hold its lock while walking it. */
    X509_STORE_lock(sys);
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(sys);
    for (int i = 0; ok && i < sk_X509_OBJECT_num(objs); i++) {
        X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
        X509 *x = X509_OBJECT_get0_X509(o);
        X509_CRL *crl = X509_OBJECT_get0_X509_CRL(o);
        if (x)
            ok = X509_STORE_add_cert(own, x) == 1;
        else if (crl)
            ok = X509_STORE_add_crl(own, crl) == 1;
    }
    X509_STORE_unlock(sys);
    if (!ok) {
        X509_STORE_free(own);
        return NULL;
    }
    return own;
}

/* Settings every context shares. */
static int ctx_common(SSL_CTX *sc)
{
    if (!SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION))
        return -1;
    /* Renegotiation is the one way SSL_write could need to read; HTTP/1.1 has no use for it. */
    SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION);
    return 0;
}

/* Keep the newest session of a host:port (takes over the caller's reference). */
void ah__tls_session_put(ah_tls_ctx *c, const char *key, SSL_SESSION *sess)
{
    SSL_SESSION *old;
    pthread_mutex_lock(&c->lock);
    session_slot *slot = NULL, *oldest = &c->sessions[0];
    for (size_t i = 0; i < SESSION_SLOTS && !slot; i++) {
        session_slot *s = &c->sessions[i];
        if (s->sess && strcmp(s->key, key) == 0)
            slot = s;
        else if (!s->sess || (oldest->sess && s->stamp < oldest->stamp))
            oldest = s;
    }
    if (!slot)
        slot = oldest;
    old = slot->sess;
    snprintf(slot->key, sizeof(slot->key), "%s", key);
    slot->sess = sess;
    slot->stamp = ++c->clock;
    pthread_mutex_unlock(&c->lock);
    SSL_SESSION_free(old);
}

/* A new reference to the session kept for key, or NULL. */
SSL_SESSION *ah__tls_session_get(ah_tls_ctx *c, const char *key)
{
    SSL_SESSION *sess = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < SESSION_SLOTS; i++) {
        session_slot *s = &c->sessions[i];
        if (s->sess && strcmp(s->key, key) == 0) {
            if (SSL_SESSION_is_resumable(s->sess) && SSL_SESSION_up_ref(s->sess))
                sess = s->sess;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return sess;
}

int ah_tls_client_ctx_new(const ah_tls_client_opts *opts, ah_tls_ctx **out, char *err,
                          size_t err_size)
{
    static const ah_tls_client_opts defaults;
    if (!out)
        return AH_EINVAL;
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (err && err_size)
        err[0] = '\0';
    ah_tls_ctx *c = ctx_alloc(0, 1);
    if (!c)
        return AH_ENOMEM;
    SSL_CTX *sc = c->ctx[0] = SSL_CTX_new(TLS_client_method());
    if (!sc || ctx_common(sc) < 0)
        return ctx_fail(c, err, err_size, "cannot make a TLS client context");
    if (!opts->insecure && opts->system_store < 0 && !opts->ca_file && !opts->ca_dir) {
        ERR_clear_error();
        if (err && err_size)
            snprintf(err, err_size, "system_store < 0 without ca_file or ca_dir trusts nobody");
        ah_tls_ctx_free(c);
        return AH_ETLS;
    }
    if (wants_system_store(opts)) {
        X509_STORE *sys = system_store_get();
        if (!sys) {
            ERR_clear_error();
            if (err && err_size)
                snprintf(err, err_size, "cannot load the system trust store: %s",
                         system_store_error);
            ah_tls_ctx_free(c);
            return AH_ETLS;
        }
        if (!opts->ca_file && !opts->ca_dir) {
            SSL_CTX_set1_cert_store(sc, sys);
        } else {
            X509_STORE *own = system_store_copy(sys);
            if (!own)
                return ctx_fail(c, err, err_size, "cannot copy the system trust store");
            SSL_CTX_set_cert_store(sc, own); /* the context owns it now */
        }
    }
    if (opts->ca_file && !SSL_CTX_load_verify_locations(sc, opts->ca_file, NULL))
        return ctx_fail(c, err, err_size, "cannot load CA file %s", opts->ca_file);
    if (opts->ca_dir && !SSL_CTX_load_verify_locations(sc, NULL, opts->ca_dir))
        return ctx_fail(c, err, err_size, "cannot use CA directory %s", opts->ca_dir);
    if (opts->cert_file || opts->key_file) {
        const char *cert = opts->cert_file ? opts->cert_file : opts->key_file;
        const char *key = opts->key_file ? opts->key_file : opts->cert_file;
        if (!SSL_CTX_use_certificate_chain_file(sc, cert))
            return ctx_fail(c, err, err_size, "cannot load client certificate %s", cert);
        if (!SSL_CTX_use_PrivateKey_file(sc, key, SSL_FILETYPE_PEM))
            return ctx_fail(c, err, err_size, "cannot load client key %s", key);
        if (!SSL_CTX_check_private_key(sc))
            return ctx_fail(c, err, err_size, "client key %s does not match %s", key, cert);
    }
    SSL_CTX_set_verify(sc, opts->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_alpn_protos(sc, alpn_http11, sizeof(alpn_http11) - 1) != 0)
        return ctx_fail(c, err, err_size, "cannot set ALPN");
    /* Sessions are kept by us, per host:port, as they arrive (TLS 1.3 sends its tickets after
     * the handshake): OpenSSL's internal store is a server-side notion. */
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(sc, ah__tls_new_session_cb);
    ERR_clear_error();
    *out = c;
    return 0;
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned char *chosen;
    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&chosen, outlen, alpn_http11, sizeof(alpn_http11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* a client offering only other protocols still gets in */
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

/* Pick the certificate whose names cover the SNI host; certs[0] when none does. */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
    ah_tls_ctx *c = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    (void)alert;
    if (!name || c->nctx < 2)
        return SSL_TLSEXT_ERR_OK;
    for (size_t i = 0; i < c->nctx; i++) {
        X509 *leaf = SSL_CTX_get0_certificate(c->ctx[i]);
        if (leaf && X509_check_host(leaf, name, 0, 0, NULL) == 1) {
            if (i > 0 && !SSL_set_SSL_CTX(ssl, c->ctx[i]))
                return SSL_TLSEXT_ERR_ALERT_FATAL;
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

int ah_tls_server_ctx_new(const ah_tls_server_opts *opts, ah_tls_ctx **out, char *err,
                          size_t err_size)
{
    if (!out)
        return AH_EINVAL;
    *out = NULL;
    if (err && err_size)
        err[0] = '\0';
    if (!opts || !opts->certs || opts->ncerts == 0) {
        if (err && err_size)
            snprintf(err, err_size, "a TLS server needs at least one certificate");
        return AH_EINVAL;
    }
    ah_tls_ctx *c = ctx_alloc(1, opts->ncerts);
    if (!c)
        return AH_ENOMEM;
    /* One SSL_CTX per certificate, configured alike: after the SNI switch the connection takes
     * its certificate, client CA list and verify store from the new one. */
    for (size_t i = 0; i < opts->ncerts; i++) {
        const char *cert = opts->certs[i].cert_file, *key = opts->certs[i].key_file;
        SSL_CTX *sc = c->ctx[i] = SSL_CTX_new(TLS_server_method());
        if (!sc || ctx_common(sc) < 0)
            return ctx_fail(c, err, err_size, "cannot make a TLS server context");
        if (!cert || !key) {
            if (err && err_size)
                snprintf(err, err_size, "certificate %zu needs both cert_file and key_file", i);
            ah_tls_ctx_free(c);
            return AH_EINVAL;
        }
        if (!SSL_CTX_use_certificate_chain_file(sc, cert))
            return ctx_fail(c, err, err_size, "cannot load certificate chain %s", cert);
        if (!SSL_CTX_use_PrivateKey_file(sc, key, SSL_FILETYPE_PEM))
            return ctx_fail(c, err, err_size, "cannot load private key %s", key);
        if (!SSL_CTX_check_private_key(sc))
            return ctx_fail(c, err, err_size, "private key %s does not match %s", key, cert);
        /* Needed for resumption once client certificates are verified, and the same in every
         * context so a session survives the SNI switch. */
        static const unsigned char sid_ctx[] = "ahttp";
        SSL_CTX_set_session_id_context(sc, sid_ctx, sizeof(sid_ctx) - 1);
        if (opts->client_ca_file) {
            if (!SSL_CTX_load_verify_locations(sc, opts->client_ca_file, NULL))
                return ctx_fail(c, err, err_size, "cannot load client CA file %s",
                                opts->client_ca_file);
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(opts->client_ca_file);
            if (!names)
                return ctx_fail(c, err, err_size, "no CA names in %s", opts->client_ca_file);
            SSL_CTX_set_client_CA_list(sc, names);
            SSL_CTX_set_verify(
                sc,
                SSL_VERIFY_PEER | (opts->require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                NULL);
        }
        if (opts->tickets < 0) {
            SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
            SSL_CTX_set_num_tickets(sc, 0);
            SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
        } else {
            /* Resumption rides on stateless tickets. OpenSSL's own server-side cache would also
             * keep every session in a locked hash table and sweep it now and then: measurable
             * per handshake (bench/run-server.sh, new TLS connections) for no gain here. */
            SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_SERVER |
                                                   SSL_SESS_CACHE_NO_INTERNAL_STORE);
        }
        SSL_CTX_set_alpn_select_cb(sc, alpn_select_cb, NULL);
        SSL_CTX_set_tlsext_servername_callback(sc, servername_cb);
        SSL_CTX_set_tlsext_servername_arg(sc, c);
    }
    ERR_clear_error();
    *out = c;
    return 0;
}
