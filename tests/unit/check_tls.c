/* TLS over loopback TCP, client and server as two tasks of one loop: echo, verification
 * failures with their reasons, 64 MiB both ways at once, truncation vs close_notify, cancelling
 * and timing out a handshake without leaking descriptors, SNI certificate selection, session
 * resumption, client certificates, and context errors. Certificates come from $AH_CERTS. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ahttp/tls.h>

#include "checkutil.h"

#include "../../lib/net/internal.h" /* ah__stream_fill_nowait, which the HTTP server uses */

#define HANDSHAKE_MS 10000
#define MAX_CONNS 8

static const char *cert(const char *name)
{
    static char paths[8][1024];
    static int next;
    const char *dir = getenv("AH_CERTS"); /* make check sets it; make check-valgrind does not */
    char *p = paths[next++ % 8];
    snprintf(p, sizeof(paths[0]), "%s/%s", dir ? dir : AH_TEST_CERTS, name);
    return p;
}

static ah_tls_ctx *client_ctx(const ah_tls_client_opts *opts)
{
    ah_tls_ctx *ctx = NULL;
    char err[256];
    int rc = ah_tls_client_ctx_new(opts, &ctx, err, sizeof(err));
    ck_assert_msg(rc == 0, "client ctx: %s", err);
    return ctx;
}

static ah_tls_ctx *verifying_client(void)
{
    ah_tls_client_opts o = {.ca_file = cert("ca.pem"), .system_store = -1};
    return client_ctx(&o);
}

/* ---- a TLS server task: accepts `conns` connections one after the other ---- */

typedef struct tls_server tls_server;
struct tls_server {
    ah_listener *l;
    ah_tls_ctx *ctx;
    uint16_t port;
    int conns;
    int (*serve)(tls_server *srv, ah_stream *s);
    int wrap_rc[MAX_CONNS];
    int serve_rc[MAX_CONNS];
    char sni[MAX_CONNS][64];
    int resumed[MAX_CONNS];
    char wrap_error[256];
    uint64_t sum; /* bulk: FNV-1a of the bytes echoed */
    size_t bytes;
};

static int server_task(void *arg)
{
    tls_server *srv = arg;
    for (int i = 0; i < srv->conns; i++) {
        ah_stream *tcp, *s;
        int rc = ah_listener_accept(srv->l, &tcp, NULL);
        if (rc < 0)
            return rc;
        char why[256];
        rc = srv->wrap_rc[i] =
            ah_tls_server_wrap(tcp, srv->ctx, HANDSHAKE_MS, &s, why, sizeof(why));
        if (rc < 0) {
            snprintf(srv->wrap_error, sizeof(srv->wrap_error), "%s", why);
            continue;
        }
        const char *sni = ah_tls_sni(s);
        snprintf(srv->sni[i], sizeof(srv->sni[i]), "%s", sni ? sni : "");
        srv->resumed[i] = ah_tls_resumed(s);
        srv->serve_rc[i] = srv->serve ? srv->serve(srv, s) : 0;
        ah_stream_close(s);
    }
    return 0;
}

static void server_start(tls_server *srv, const ah_tls_server_opts *opts, int conns,
                         int (*serve)(tls_server *, ah_stream *))
{
    char err[256];
    memset(srv, 0, sizeof(*srv));
    ck_assert_int_eq(ah_tcp_listen("127.0.0.1", 0, NULL, &srv->l), 0);
    srv->port = ah_listener_port(srv->l);
    int rc = ah_tls_server_ctx_new(opts, &srv->ctx, err, sizeof(err));
    ck_assert_msg(rc == 0, "server ctx: %s", err);
    srv->conns = conns;
    srv->serve = serve;
}

static void server_end(tls_server *srv, ah_task *t)
{
    ck_assert_int_eq(ah_join(t), 0);
    ah_listener_close(srv->l);
    ah_tls_ctx_free(srv->ctx);
}

static ah_tls_server_opts one_cert(const ah_tls_cert *c)
{
    return (ah_tls_server_opts){.certs = c, .ncerts = 1};
}

/* err (err_size bytes) gets the handshake's reason for failing. */
static int connect_tls_err(uint16_t port, ah_tls_ctx *ctx, const char *host, ah_stream **out,
                           char *err, size_t err_size)
{
    ah_stream *tcp;
    int rc = ah_tcp_connect("127.0.0.1", port, NULL, &tcp);
    if (rc < 0)
        return rc;
    return ah_tls_client_wrap(tcp, ctx, host, HANDSHAKE_MS, out, err, err_size);
}

static int connect_tls(uint16_t port, ah_tls_ctx *ctx, const char *host, ah_stream **out)
{
    return connect_tls_err(port, ctx, host, out, NULL, 0);
}

/* Echo until the client ends its side, then end ours with close_notify. */
static int serve_echo(tls_server *srv, ah_stream *s)
{
    char buf[4096];
    int n;
    (void)srv;
    while ((n = ah_stream_read(s, buf, sizeof(buf))) > 0) {
        int rc = ah_stream_write(s, buf, (size_t)n);
        if (rc < 0)
            return rc;
    }
    if (n < 0)
        return n;
    return ah_stream_shutdown_write(s);
}

static int read_all(ah_stream *s, char *buf, size_t cap, int *last)
{
    size_t got = 0;
    int n;
    while (got < cap && (n = ah_stream_read(s, buf + got, cap - got)) > 0)
        got += (size_t)n;
    *last = got < cap ? n : 1;
    return (int)got;
}

/* ---- echo ---- */

typedef struct echo_case {
    const char *host;
    const char *listen; /* address to serve and connect on (NULL: 127.0.0.1) */
    const char *sni;    /* what the server should see: none for addresses */
} echo_case;

static int main_echo(void *arg)
{
    echo_case *ec = arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    tls_server srv;
    server_start(&srv, &so, 1, serve_echo);
    if (ec->listen) {
        /* the same server, on another address */
        ah_listener_close(srv.l);
        if (ah_tcp_listen(ec->listen, 0, NULL, &srv.l) < 0) {
            fprintf(stderr, "no %s here: skipping\n", ec->listen);
            ah_tls_ctx_free(srv.ctx);
            return 0;
        }
        srv.port = ah_listener_port(srv.l);
    }
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_ctx *ctx = verifying_client();

    ah_stream *tcp, *s;
    ck_assert_int_eq(ah_tcp_connect(ec->listen ? ec->listen : "127.0.0.1", srv.port, NULL, &tcp),
                     0);
    char why[256] = "x";
    int rc = ah_tls_client_wrap(tcp, ctx, ec->host, HANDSHAKE_MS, &s, why, sizeof(why));
    ck_assert_msg(rc == 0, "wrap: %s: %s", ah_strerror(rc), why);
    ck_assert_str_eq(why, ""); /* success leaves no stale reason */
    ck_assert_str_eq(ah_tls_stream_error(s), "");
    ck_assert_str_eq(ah_tls_version(s), "TLSv1.3");
    ck_assert_ptr_nonnull(strstr(ah_tls_cipher(s), "TLS_"));
    ck_assert_str_eq(ah_tls_alpn(s), "http/1.1");
    ck_assert_int_eq(ah_tls_resumed(s), 0);
    ck_assert_int_ge(ah_stream_fd(s), 0);

    const char msg[] = "hello over TLS\n";
    ck_assert_int_eq(ah_stream_write(s, msg, strlen(msg)), 0);
    char buf[64];
    ck_assert_int_eq(ah_stream_read_exactly(s, buf, strlen(msg)), (int)strlen(msg));
    ck_assert(memcmp(buf, msg, strlen(msg)) == 0);
    ck_assert_int_eq(ah_stream_shutdown_write(s), 0);
    ck_assert_int_eq(ah_stream_read(s, buf, sizeof(buf)), 0); /* the server's close_notify */
    ah_stream_close(s);

    server_end(&srv, st);
    ck_assert_int_eq(srv.wrap_rc[0], 0);
    ck_assert_int_eq(srv.serve_rc[0], 0);
    ck_assert_str_eq(srv.sni[0], ec->sni);
    ah_tls_ctx_free(ctx);
    return 0;
}

START_TEST(test_echo_with_verified_hostname)
{
    echo_case ec = {"localhost", NULL, "localhost"};
    ck_assert_int_eq(ah_run(main_echo, &ec), 0);
}
END_TEST

START_TEST(test_echo_with_verified_ipv4_address)
{
    echo_case ec = {"127.0.0.1", NULL, ""};
    ck_assert_int_eq(ah_run(main_echo, &ec), 0);
}
END_TEST

START_TEST(test_echo_with_verified_ipv6_address)
{
    echo_case bracketed = {"[::1]", "::1", ""}, bare = {"::1", "::1", ""};
    ck_assert_int_eq(ah_run(main_echo, &bracketed), 0);
    ck_assert_int_eq(ah_run(main_echo, &bare), 0);
}
END_TEST

/* ---- verification failures ---- */

typedef struct reject_case {
    const char *cert, *key;
    const char *host;
    int insecure;
    int want;           /* the client's wrap result */
    const char *reason; /* a substring of the handshake's err */
    char error[256];    /* what it was */
} reject_case;

static int main_reject(void *arg)
{
    reject_case *rc_ = arg;
    ah_tls_cert c = {cert(rc_->cert), cert(rc_->key)};
    ah_tls_server_opts so = one_cert(&c);
    tls_server srv;
    server_start(&srv, &so, 1, serve_echo);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_ctx *ctx;
    if (rc_->insecure) {
        ah_tls_client_opts o = {.insecure = 1};
        ctx = client_ctx(&o);
    } else {
        ctx = verifying_client();
    }
    ah_stream *s = NULL;
    int rc = connect_tls_err(srv.port, ctx, rc_->host, &s, rc_->error, sizeof(rc_->error));
    ck_assert_msg(rc == rc_->want, "wrap: %s (%s)", ah_strerror(rc), rc_->error);
    if (rc == 0) {
        ck_assert_int_eq(ah_stream_write(s, "x", 1), 0);
        char b;
        ck_assert_int_eq(ah_stream_read(s, &b, 1), 1);
        ck_assert_int_eq(ah_stream_shutdown_write(s), 0);
        ck_assert_int_eq(ah_stream_read(s, &b, 1), 0);
        ah_stream_close(s);
    } else {
        ck_assert_ptr_null(s);
        ck_assert_msg(strstr(rc_->error, rc_->reason), "\"%s\" lacks \"%s\"", rc_->error,
                      rc_->reason);
    }
    server_end(&srv, st);
    if (rc != 0) /* the client's alert reached the server */
        ck_assert_int_eq(srv.wrap_rc[0], AH_ETLS);
    ah_tls_ctx_free(ctx);
    return 0;
}

START_TEST(test_client_rejects_bad_certificates_with_distinct_reasons)
{
    reject_case cases[] = {
        {"expired.pem", "expired.key", "localhost", 0, AH_ETLS_VERIFY, "expired", ""},
        {"wronghost.pem", "wronghost.key", "localhost", 0, AH_ETLS_VERIFY, "hostname mismatch", ""},
        {"selfsigned.pem", "selfsigned.key", "localhost", 0, AH_ETLS_VERIFY, "self-signed", ""},
        {"server.pem", "server.key", "127.0.0.2", 0, AH_ETLS_VERIFY, "IP address mismatch", ""},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(ah_run(main_reject, &cases[i]), 0);
        ck_assert(strncmp(cases[i].error, "certificate verify failed: ", 27) == 0);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(cases[i].error, cases[j].error);
    }
}
END_TEST

START_TEST(test_insecure_client_accepts_self_signed)
{
    reject_case c = {"selfsigned.pem", "selfsigned.key", "localhost", 1, 0, NULL, ""};
    ck_assert_int_eq(ah_run(main_reject, &c), 0);
}
END_TEST

/* ---- 64 MiB both ways at once ---- */

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

static void pseudo_random(uint64_t *state, unsigned char *p, size_t n)
{
    uint64_t x = *state;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 24);
    }
    *state = x;
}

static int serve_bulk_echo(tls_server *srv, ah_stream *s)
{
    unsigned char *buf = malloc(65536);
    int n, rc = 0;
    srv->sum = FNV_INIT;
    while ((n = ah_stream_read(s, buf, 65536)) > 0) {
        srv->sum = fnv1a(srv->sum, buf, (size_t)n);
        srv->bytes += (size_t)n;
        if ((rc = ah_stream_write(s, buf, (size_t)n)) < 0)
            break;
    }
    free(buf);
    if (rc == 0 && n < 0)
        rc = n;
    return rc < 0 ? rc : ah_stream_shutdown_write(s);
}

typedef struct bulk_writer {
    ah_stream *s;
    size_t total;
    uint64_t sum;
} bulk_writer;

static int bulk_write_task(void *arg)
{
    bulk_writer *w = arg;
    /* odd sizes, so records end mid-write and writes end mid-record */
    static const size_t sizes[] = {1, 7, 1023, 16383, 16385, 65521, 100003, 3, 4097, 32771};
    unsigned char *buf = malloc(100003);
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    size_t sent = 0;
    int rc = 0;
    w->sum = FNV_INIT;
    for (size_t i = 0; sent < w->total && rc == 0; i++) {
        size_t n = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
        if (n > w->total - sent)
            n = w->total - sent;
        pseudo_random(&state, buf, n);
        w->sum = fnv1a(w->sum, buf, n);
        rc = ah_stream_write(w->s, buf, n);
        sent += n;
    }
    free(buf);
    return rc < 0 ? rc : ah_stream_shutdown_write(w->s);
}

static int main_bulk(void *arg)
{
    size_t total = *(size_t *)arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    tls_server srv;
    server_start(&srv, &so, 1, serve_bulk_echo);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_ctx *ctx = verifying_client();
    ah_stream *s;
    ck_assert_int_eq(connect_tls(srv.port, ctx, "localhost", &s), 0);

    bulk_writer w = {s, total, 0};
    ah_task *wt = ah_spawn(bulk_write_task, &w);
    unsigned char *buf = malloc(70000);
    uint64_t sum = FNV_INIT;
    size_t got = 0;
    int n;
    /* odd read sizes as well */
    for (size_t i = 0; (n = ah_stream_read(s, buf, 1 + (i * 7919) % 69997)) > 0; i++) {
        sum = fnv1a(sum, buf, (size_t)n);
        got += (size_t)n;
    }
    free(buf);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(ah_join(wt), 0);
    ah_stream_close(s);
    server_end(&srv, st);
    ck_assert_int_eq(srv.serve_rc[0], 0);
    ck_assert_uint_eq(got, total);
    ck_assert_uint_eq(srv.bytes, total);
    ck_assert(w.sum == srv.sum);
    ck_assert(w.sum == sum);
    ah_tls_ctx_free(ctx);
    return 0;
}

START_TEST(test_64mib_both_ways_at_once)
{
    /* valgrind runs the cipher some fifty times slower: a smaller load proves the same */
    size_t total = ah_check_slow() ? (size_t)4 << 20 : (size_t)64 << 20;
    ck_assert_int_eq(ah_run(main_bulk, &total), 0);
}
END_TEST

/* ---- truncation ---- */

static int serve_then_drop(tls_server *srv, ah_stream *s)
{
    (void)srv;
    return ah_stream_write(s, "partial", 7); /* then closed without close_notify */
}

static int serve_then_notify(tls_server *srv, ah_stream *s)
{
    (void)srv;
    int rc = ah_stream_write(s, "complete", 8);
    return rc < 0 ? rc : ah_stream_shutdown_write(s);
}

typedef struct end_case {
    int notify;
    int last;
} end_case;

static int main_end(void *arg)
{
    end_case *ec = arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    tls_server srv;
    server_start(&srv, &so, 1, ec->notify ? serve_then_notify : serve_then_drop);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_ctx *ctx = verifying_client();
    ah_stream *s;
    ck_assert_int_eq(connect_tls(srv.port, ctx, "localhost", &s), 0);
    char buf[64];
    int got = read_all(s, buf, sizeof(buf), &ec->last);
    const char *want = ec->notify ? "complete" : "partial";
    ck_assert_int_eq(got, (int)strlen(want));
    ck_assert(memcmp(buf, want, (size_t)got) == 0);
    if (ec->last < 0) { /* the error sticks */
        ck_assert_int_eq(ah_stream_read(s, buf, sizeof(buf)), ec->last);
        ck_assert_ptr_nonnull(strstr(ah_tls_stream_error(s), "close_notify"));
    }
    ah_stream_close(s);
    server_end(&srv, st);
    ah_tls_ctx_free(ctx);
    return 0;
}

START_TEST(test_close_without_close_notify_is_truncation)
{
    end_case ec = {0, 0};
    ck_assert_int_eq(ah_run(main_end, &ec), 0);
    ck_assert_int_eq(ec.last, AH_ETLS_TRUNCATED);
}
END_TEST

START_TEST(test_close_notify_is_clean_end_of_stream)
{
    end_case ec = {1, -1};
    ck_assert_int_eq(ah_run(main_end, &ec), 0);
    ck_assert_int_eq(ec.last, 0);
}
END_TEST

/* ---- a peer that never speaks: cancellation and timeout ---- */

typedef struct silent {
    ah_listener *l;
    ah_event *done;
    int accepted;
} silent;

static int silent_server(void *arg)
{
    silent *sv = arg;
    ah_stream *s;
    int rc = ah_listener_accept(sv->l, &s, NULL);
    if (rc < 0)
        return rc;
    sv->accepted = 1;
    (void)!ah_event_wait(sv->done, 30000); /* hold the connection open, say nothing */
    ah_stream_close(s);
    return 0;
}

typedef struct hs_client {
    uint16_t port;
    ah_tls_ctx *ctx;
    int64_t timeout_ms;
    int rc;
    ah_stream *s;
} hs_client;

static int handshake_task(void *arg)
{
    hs_client *c = arg;
    ah_stream *tcp;
    c->rc = ah_tcp_connect("127.0.0.1", c->port, NULL, &tcp);
    if (c->rc == 0)
        c->rc = ah_tls_client_wrap(tcp, c->ctx, "localhost", c->timeout_ms, &c->s, NULL, 0);
    return c->rc;
}

static int main_silent(void *arg)
{
    int cancel = *(int *)arg;
    int fds = ah_check_open_fds();
    silent sv = {NULL, ah_event_new(), 0};
    ck_assert_int_eq(ah_tcp_listen("127.0.0.1", 0, NULL, &sv.l), 0);
    ah_task *st = ah_spawn(silent_server, &sv);
    ah_tls_ctx *ctx = verifying_client();
    hs_client c = {ah_listener_port(sv.l), ctx, cancel ? -1 : 50, 1, NULL};
    int64_t start = ah_now_ms();
    ah_task *ct = ah_spawn(handshake_task, &c);
    if (cancel) {
        ck_assert_int_eq(ah_sleep(20), 0);
        ck_assert_int_eq(ah_task_done(ct), 0);
        ah_cancel(ct);
        ck_assert_int_eq(ah_join(ct), AH_ECANCELED);
        ck_assert_int_eq(c.rc, AH_ECANCELED);
    } else {
        ck_assert_int_eq(ah_join(ct), AH_ETIMEDOUT);
        int64_t took = ah_check_elapsed(start);
        ck_assert_int_ge(took, 45);
        ck_assert_int_lt(took, ah_check_slow() ? 5000 : 1000);
    }
    ck_assert_ptr_null(c.s);
    ck_assert_int_eq(sv.accepted, 1);
    ah_event_set(sv.done);
    ck_assert_int_eq(ah_join(st), 0);
    ah_listener_close(sv.l);
    ah_event_free(sv.done);
    ah_tls_ctx_free(ctx);
    ck_assert_int_eq(ah_check_open_fds(), fds);
    return 0;
}

START_TEST(test_cancel_during_handshake_leaks_no_fd)
{
    int cancel = 1;
    ck_assert_int_eq(ah_run(main_silent, &cancel), 0);
}
END_TEST

START_TEST(test_handshake_times_out_on_a_silent_server)
{
    int cancel = 0;
    ck_assert_int_eq(ah_run(main_silent, &cancel), 0);
}
END_TEST

/* ---- SNI and resumption ---- */

/* Say something, so the client also takes the session tickets that precede it, then wait for
 * the client to finish. */
static int serve_hello(tls_server *srv, ah_stream *s)
{
    char b[16];
    (void)srv;
    int rc = ah_stream_write(s, "hi", 2);
    if (rc < 0)
        return rc;
    while ((rc = ah_stream_read(s, b, sizeof(b))) > 0)
        ;
    return rc < 0 ? rc : ah_stream_shutdown_write(s);
}

static int hello_client(uint16_t port, ah_tls_ctx *ctx, const char *host, int *resumed)
{
    ah_stream *s;
    int rc = connect_tls(port, ctx, host, &s);
    if (rc < 0)
        return rc;
    char b[8];
    rc = ah_stream_read_exactly(s, b, 2);
    if (rc == 2)
        rc = ah_stream_shutdown_write(s);
    if (rc == 0)
        rc = ah_stream_read(s, b, sizeof(b)); /* 0: the server's close_notify */
    *resumed = ah_tls_resumed(s);
    ah_stream_close(s);
    return rc;
}

static int main_sni(void *arg)
{
    (void)arg;
    ah_tls_cert certs[] = {{cert("server.pem"), cert("server.key")},
                           {cert("wronghost.pem"), cert("wronghost.key")}};
    ah_tls_server_opts so = {.certs = certs, .ncerts = 2};
    tls_server srv;
    server_start(&srv, &so, 5, serve_hello);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_client_opts io = {.insecure = 1};
    ah_tls_ctx *insecure = client_ctx(&io), *verifying = verifying_client();
    int resumed[5];
    /* 0, 1: the same host twice through one context: the second resumes */
    ck_assert_int_eq(hello_client(srv.port, insecure, "wrong.example", &resumed[0]), 0);
    ck_assert_int_eq(hello_client(srv.port, insecure, "wrong.example", &resumed[1]), 0);
    /* 2: a verifying client accepts wrong.example only if it got wronghost.pem */
    ck_assert_int_eq(hello_client(srv.port, verifying, "wrong.example", &resumed[2]), 0);
    /* 3: and localhost still gets server.pem, the default */
    ck_assert_int_eq(hello_client(srv.port, verifying, "localhost", &resumed[3]), 0);
    /* 4: another host name through the first context does not reuse its session */
    ck_assert_int_eq(hello_client(srv.port, insecure, "localhost", &resumed[4]), 0);
    server_end(&srv, st);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(srv.wrap_rc[i], 0);
        ck_assert_int_eq(srv.serve_rc[i], 0);
    }
    ck_assert_str_eq(srv.sni[0], "wrong.example");
    ck_assert_str_eq(srv.sni[1], "wrong.example");
    ck_assert_str_eq(srv.sni[3], "localhost");
    ck_assert_int_eq(resumed[0], 0);
    ck_assert_int_eq(resumed[1], 1);
    ck_assert_int_eq(srv.resumed[1], 1);
    ck_assert_int_eq(resumed[2], 0);
    ck_assert_int_eq(resumed[4], 0);
    ah_tls_ctx_free(insecure);
    ah_tls_ctx_free(verifying);
    return 0;
}

START_TEST(test_sni_picks_certificate_and_sessions_resume)
{
    ck_assert_int_eq(ah_run(main_sni, NULL), 0);
}
END_TEST

static int main_no_tickets(void *arg)
{
    (void)arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = {.certs = &c, .ncerts = 1, .tickets = -1};
    tls_server srv;
    server_start(&srv, &so, 2, serve_hello);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_ctx *ctx = verifying_client();
    int resumed[2];
    ck_assert_int_eq(hello_client(srv.port, ctx, "localhost", &resumed[0]), 0);
    ck_assert_int_eq(hello_client(srv.port, ctx, "localhost", &resumed[1]), 0);
    server_end(&srv, st);
    ck_assert_int_eq(resumed[1], 0);
    ah_tls_ctx_free(ctx);
    return 0;
}

/* The common HTTP/1.1 "Connection: close" ending: the client reads up to the server's
 * close_notify and closes without sending its own. The session must stay resumable. */
static int main_resume_after_plain_close(void *arg)
{
    (void)arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    tls_server srv;
    server_start(&srv, &so, 3, serve_then_notify);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_ctx *ctx = verifying_client();
    int resumed[3];
    for (int i = 0; i < 3; i++) {
        ah_stream *s;
        ck_assert_int_eq(connect_tls(srv.port, ctx, "localhost", &s), 0);
        char buf[16];
        int last;
        ck_assert_int_eq(read_all(s, buf, sizeof(buf), &last), 8);
        ck_assert_int_eq(last, 0);
        resumed[i] = ah_tls_resumed(s);
        ah_stream_close(s);
    }
    server_end(&srv, st);
    ck_assert_int_eq(resumed[0], 0);
    ck_assert_int_eq(resumed[1], 1);
    ck_assert_int_eq(resumed[2], 1);
    ah_tls_ctx_free(ctx);
    return 0;
}

START_TEST(test_session_resumes_after_close_without_own_close_notify)
{
    ck_assert_int_eq(ah_run(main_resume_after_plain_close, NULL), 0);
}
END_TEST

START_TEST(test_no_tickets_means_no_resumption)
{
    ck_assert_int_eq(ah_run(main_no_tickets, NULL), 0);
}
END_TEST

/* ---- client certificates ---- */

static int main_client_cert(void *arg)
{
    (void)arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = {
        .certs = &c, .ncerts = 1, .client_ca_file = cert("ca.pem"), .require_client_cert = 1};
    tls_server srv;
    server_start(&srv, &so, 2, serve_echo);
    ah_task *st = ah_spawn(server_task, &srv);

    /* without a certificate: in TLS 1.3 the client's handshake ends before the server has
     * judged it, so the refusal may arrive as the first read's error */
    ah_tls_ctx *anon = verifying_client();
    ah_stream *s;
    char why[256];
    int rc = connect_tls_err(srv.port, anon, "localhost", &s, why, sizeof(why));
    if (rc == 0) {
        char b[8];
        rc = ah_stream_read(s, b, sizeof(b));
        snprintf(why, sizeof(why), "%s", ah_tls_stream_error(s)); /* closing frees it */
        ah_stream_close(s);
    }
    ck_assert_int_eq(rc, AH_ETLS);
    ck_assert_msg(strstr(why, "certificate required"), "%s", why);

    ah_tls_client_opts o = {.ca_file = cert("ca.pem"),
                            .system_store = -1,
                            .cert_file = cert("client.pem"),
                            .key_file = cert("client.key")};
    ah_tls_ctx *with_cert = client_ctx(&o);
    ck_assert_int_eq(connect_tls(srv.port, with_cert, "localhost", &s), 0);
    char b[8];
    ck_assert_int_eq(ah_stream_write(s, "ok", 2), 0);
    ck_assert_int_eq(ah_stream_read_exactly(s, b, 2), 2);
    ck_assert_int_eq(ah_stream_shutdown_write(s), 0);
    ck_assert_int_eq(ah_stream_read(s, b, sizeof(b)), 0);
    ah_stream_close(s);

    server_end(&srv, st);
    ck_assert_int_eq(srv.wrap_rc[0], AH_ETLS_VERIFY);
    ck_assert_ptr_nonnull(strstr(srv.wrap_error, "did not return a certificate"));
    ck_assert_int_eq(srv.wrap_rc[1], 0);
    ck_assert_int_eq(srv.serve_rc[1], 0);
    ah_tls_ctx_free(anon);
    ah_tls_ctx_free(with_cert);
    return 0;
}

START_TEST(test_required_client_certificate)
{
    ck_assert_int_eq(ah_run(main_client_cert, NULL), 0);
}
END_TEST

/* The regression a per-thread "last error" had: a stream's reason, read after another
 * connection on the same thread failed, was that connection's. Each stream keeps its own. */
static int main_stream_error_is_its_own(void *arg)
{
    (void)arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = {
        .certs = &c, .ncerts = 1, .client_ca_file = cert("ca.pem"), .require_client_cert = 1};
    tls_server srv;
    server_start(&srv, &so, 2, serve_echo);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_ctx *anon = verifying_client();

    /* TLS 1.3: the handshake ends on the client's side; the refusal comes with the first read */
    ah_stream *refused;
    ck_assert_int_eq(connect_tls(srv.port, anon, "localhost", &refused), 0);
    char b[8];
    ck_assert_int_eq(ah_stream_read(refused, b, sizeof(b)), AH_ETLS);

    /* another connection fails in its handshake before the first one's reason is read */
    ah_stream *other;
    char why[256];
    ck_assert_int_eq(
        connect_tls_err(srv.port, anon, "not-the-name.example", &other, why, sizeof(why)),
        AH_ETLS_VERIFY);
    ck_assert_msg(strstr(why, "certificate verify failed"), "%s", why);

    ck_assert_msg(strstr(ah_tls_stream_error(refused), "certificate required"), "%s",
                  ah_tls_stream_error(refused));
    ah_stream_close(refused);
    server_end(&srv, st);
    ah_tls_ctx_free(anon);
    return 0;
}

START_TEST(test_stream_error_survives_another_connections_failure)
{
    ck_assert_int_eq(ah_run(main_stream_error_is_its_own, NULL), 0);
}
END_TEST

/* ---- stream behaviour ---- */

/* Wait for the client's go, then answer. */
static int serve_late(tls_server *srv, ah_stream *s)
{
    char b[16];
    (void)srv;
    int rc = ah_stream_read(s, b, 1); /* the go */
    if (rc == 1)
        rc = ah_stream_write(s, "late", 4);
    if (rc == 0)
        rc = ah_stream_shutdown_write(s);
    while (rc == 0 && ah_stream_read(s, b, sizeof(b)) > 0)
        ;
    return rc < 0 ? rc : 0;
}

static int main_read_timeout(void *arg)
{
    (void)arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    tls_server srv;
    server_start(&srv, &so, 1, serve_late);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_ctx *ctx = verifying_client();
    ah_stream *s;
    ck_assert_int_eq(connect_tls(srv.port, ctx, "localhost", &s), 0);
    char b[16];
    ah_stream_set_timeouts(s, 30, -1);
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_stream_read(s, b, sizeof(b)), AH_ETIMEDOUT);
    ck_assert_int_ge(ah_check_elapsed(start), 25);
    /* a timed-out read loses nothing: the stream goes on */
    ah_stream_set_timeouts(s, -1, -1);
    ck_assert_int_eq(ah_stream_write(s, "g", 1), 0);
    ck_assert_int_eq(ah_stream_read_exactly(s, b, 4), 4);
    ck_assert(memcmp(b, "late", 4) == 0);
    ck_assert_int_eq(ah_stream_read(s, b, sizeof(b)), 0);
    ah_stream_close(s);
    server_end(&srv, st);
    ck_assert_int_eq(srv.serve_rc[0], 0);
    ah_tls_ctx_free(ctx);
    return 0;
}

START_TEST(test_read_timeout_leaves_stream_usable)
{
    ck_assert_int_eq(ah_run(main_read_timeout, NULL), 0);
}
END_TEST

/* Fill without waiting, retrying every few ms for at most 2 s while there is nothing. */
static int fill_soon(ah_stream *s)
{
    int64_t start = ah_now_ms();
    int rc;
    while ((rc = ah__stream_fill_nowait(s)) == AH_EAGAIN && ah_check_elapsed(start) < 2000)
        if (ah_sleep(5) < 0)
            break;
    return rc;
}

static int main_nowait(void *arg)
{
    (void)arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    tls_server srv;
    server_start(&srv, &so, 1, serve_late);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_ctx *ctx = verifying_client();
    ah_stream *s;
    ck_assert_int_eq(connect_tls(srv.port, ctx, "localhost", &s), 0);
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah__stream_fill_nowait(s), AH_EAGAIN); /* nothing yet, and no waiting */
    ck_assert_int_eq(ah__stream_fill_nowait(s), AH_EAGAIN);
    ck_assert_int_lt(ah_check_elapsed(start), ah_check_slow() ? 2000 : 200);
    ck_assert_int_eq(ah_stream_write(s, "g", 1), 0);
    ck_assert_int_eq(fill_soon(s), 4);
    const char *data;
    ck_assert_uint_eq(ah_stream_buffered(s, &data), 4);
    ck_assert(memcmp(data, "late", 4) == 0);
    ah_stream_consume(s, 4);
    ck_assert_int_eq(fill_soon(s), 0); /* close_notify */
    ah_stream_close(s);
    server_end(&srv, st);
    ck_assert_int_eq(srv.serve_rc[0], 0);
    ah_tls_ctx_free(ctx);
    return 0;
}

START_TEST(test_nowait_fill_returns_eagain_when_idle)
{
    ck_assert_int_eq(ah_run(main_nowait, NULL), 0);
}
END_TEST

typedef struct blocked_reader {
    ah_stream *s;
    int rc;
} blocked_reader;

static int blocked_read_task(void *arg)
{
    blocked_reader *r = arg;
    char b[16];
    r->rc = ah_stream_read(r->s, b, sizeof(b));
    return 0;
}

static int main_close_while_reading(void *arg)
{
    (void)arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    tls_server srv;
    server_start(&srv, &so, 1, serve_echo);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_ctx *ctx = verifying_client();
    ah_stream *s;
    ck_assert_int_eq(connect_tls(srv.port, ctx, "localhost", &s), 0);
    blocked_reader r = {s, 1};
    ah_task *rt = ah_spawn(blocked_read_task, &r);
    ck_assert_int_eq(ah_sleep(10), 0);
    ck_assert_int_eq(ah_task_done(rt), 0);
    ah_stream_close(s); /* while the reader waits inside it */
    ck_assert_int_eq(ah_join(rt), 0);
    ck_assert_int_eq(r.rc, AH_ECLOSED);
    server_end(&srv, st);
    ah_tls_ctx_free(ctx);
    return 0;
}

START_TEST(test_close_while_a_task_reads)
{
    ck_assert_int_eq(ah_run(main_close_while_reading, NULL), 0);
}
END_TEST

static int main_writev(void *arg)
{
    (void)arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    tls_server srv;
    server_start(&srv, &so, 1, serve_echo);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_tls_ctx *ctx = verifying_client();
    ah_stream *s;
    ck_assert_int_eq(connect_tls(srv.port, ctx, "localhost", &s), 0);
    /* small pieces around large ones, an empty one, more than a record's worth of small ones */
    enum { NIOV = 80 };
    static const size_t sizes[] = {5, 0, 20000, 3, 16384, 1, 70000, 200};
    struct iovec iov[NIOV];
    size_t total = 0;
    for (int i = 0; i < NIOV; i++)
        total += sizes[i % 8];
    unsigned char *data = malloc(total), *back = malloc(total);
    uint64_t state = 42;
    pseudo_random(&state, data, total);
    size_t off = 0;
    for (int i = 0; i < NIOV; i++) {
        iov[i] = (struct iovec){data + off, sizes[i % 8]};
        off += sizes[i % 8];
    }
    ck_assert_int_eq(ah_stream_writev(s, iov, NIOV), 0);
    ck_assert_int_eq(ah_stream_read_exactly(s, back, total), (int)total);
    ck_assert(memcmp(data, back, total) == 0);
    /* corked writes go out as one writev */
    ah_stream_cork(s);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(ah_stream_write(s, data + i, 1), 0);
    ck_assert_int_eq(ah_stream_uncork(s), 0);
    ck_assert_int_eq(ah_stream_read_exactly(s, back, 100), 100);
    ck_assert(memcmp(data, back, 100) == 0);
    ck_assert_int_eq(ah_stream_shutdown_write(s), 0);
    ck_assert_int_eq(ah_stream_write(s, "x", 1), AH_EPIPE); /* after close_notify */
    ck_assert_int_eq(ah_stream_read(s, back, 1), 0);
    ah_stream_close(s);
    free(data);
    free(back);
    server_end(&srv, st);
    ck_assert_int_eq(srv.serve_rc[0], 0);
    ah_tls_ctx_free(ctx);
    return 0;
}

START_TEST(test_writev_of_many_pieces) { ck_assert_int_eq(ah_run(main_writev, NULL), 0); }
END_TEST

static int main_plaintext_client(void *arg)
{
    (void)arg;
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    tls_server srv;
    server_start(&srv, &so, 1, serve_echo);
    ah_task *st = ah_spawn(server_task, &srv);
    ah_stream *s;
    ck_assert_int_eq(ah_tcp_connect("127.0.0.1", srv.port, NULL, &s), 0);
    const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ck_assert_int_eq(ah_stream_write(s, req, sizeof(req) - 1), 0);
    char b[64];
    while (ah_stream_read(s, b, sizeof(b)) > 0)
        ;
    ah_stream_close(s);
    server_end(&srv, st);
    ck_assert_int_eq(srv.wrap_rc[0], AH_ETLS);
    ck_assert_msg(strstr(srv.wrap_error, "http request"), "%s", srv.wrap_error);
    return 0;
}

START_TEST(test_server_refuses_plaintext)
{
    ck_assert_int_eq(ah_run(main_plaintext_client, NULL), 0);
}
END_TEST

/* ---- contexts and queries ---- */

START_TEST(test_context_errors_name_the_file)
{
    ah_tls_ctx *ctx = (ah_tls_ctx *)1;
    char err[256];
    ah_tls_client_opts o = {.ca_file = "/nonexistent/ca.pem"};
    ck_assert_int_eq(ah_tls_client_ctx_new(&o, &ctx, err, sizeof(err)), AH_ETLS);
    ck_assert_ptr_null(ctx);
    ck_assert_msg(strstr(err, "/nonexistent/ca.pem") && strstr(err, "No such file"), "%s", err);

    ah_tls_cert mismatched = {cert("server.pem"), cert("client.key")};
    ah_tls_server_opts so = one_cert(&mismatched);
    ck_assert_int_eq(ah_tls_server_ctx_new(&so, &ctx, err, sizeof(err)), AH_ETLS);
    ck_assert_msg(strstr(err, "client.key") && strstr(err, "mismatch"), "%s", err);

    ah_tls_cert missing = {"/nonexistent/cert.pem", cert("server.key")};
    so = one_cert(&missing);
    ck_assert_int_eq(ah_tls_server_ctx_new(&so, &ctx, err, sizeof(err)), AH_ETLS);
    ck_assert_msg(strstr(err, "/nonexistent/cert.pem"), "%s", err);

    ah_tls_cert not_pem = {cert("README.md"), cert("server.key")};
    so = one_cert(&not_pem);
    ck_assert_int_eq(ah_tls_server_ctx_new(&so, &ctx, err, sizeof(err)), AH_ETLS);
    ck_assert_msg(strstr(err, "README.md"), "%s", err);

    so = (ah_tls_server_opts){0};
    ck_assert_int_eq(ah_tls_server_ctx_new(&so, &ctx, err, sizeof(err)), AH_EINVAL);
    ck_assert_int_eq(ah_tls_client_ctx_new(NULL, &ctx, err, sizeof(err)), 0);
    ah_tls_ctx_free(ctx);
}
END_TEST

/* ---- the system trust store, loaded once and shared ---- */

static int main_extra_cas_stay_out_of_the_shared_store(void *arg)
{
    (void)arg;
    /* Loads on the thread pool (or returns at once when an earlier test loaded it). */
    char err[64] = "x";
    ck_assert_int_eq(ah_tls_client_preload(NULL, err, sizeof(err)), 0);
    ck_assert_str_eq(err, "");
    ah_tls_client_opts insecure = {.insecure = 1};
    ck_assert_int_eq(ah_tls_client_preload(&insecure, NULL, 0), 0);
    /* The system store plus the test CA: a store of its own, made from the shared one. */
    ah_tls_client_opts with_ca = {.ca_file = cert("ca.pem")};
    ah_tls_ctx *extra = client_ctx(&with_ca);
    /* The system store alone: the shared one, which must not have learnt the test CA. */
    ah_tls_ctx *system_only = client_ctx(NULL);
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    tls_server srv;
    server_start(&srv, &so, 3, NULL);
    ah_task *t = ah_spawn(server_task, &srv);
    ah_stream *s;
    ck_assert_int_eq(connect_tls(srv.port, extra, "localhost", &s), 0);
    ah_stream_close(s);
    char why[256];
    ck_assert_int_eq(connect_tls_err(srv.port, system_only, "localhost", &s, why, sizeof(why)),
                     AH_ETLS_VERIFY);
    ck_assert_msg(strstr(why, "unable to get local issuer"), "%s", why);
    /* And the copy still trusts it after the shared store was used. */
    ck_assert_int_eq(connect_tls(srv.port, extra, "localhost", &s), 0);
    ah_stream_close(s);
    server_end(&srv, t);
    ah_tls_ctx_free(extra);
    ah_tls_ctx_free(system_only);
    return 0;
}

START_TEST(test_extra_cas_stay_out_of_the_shared_system_store)
{
    ck_assert_int_eq(ah_tls_client_preload(NULL, NULL, 0), 0); /* outside a task: here */
    ck_assert_int_eq(ah_run(main_extra_cas_stay_out_of_the_shared_store, NULL), 0);
}
END_TEST

static int main_plain_stream(void *arg)
{
    (void)arg;
    ah_listener *l;
    ck_assert_int_eq(ah_tcp_listen("127.0.0.1", 0, NULL, &l), 0);
    ah_stream *s;
    ck_assert_int_eq(ah_tcp_connect("127.0.0.1", ah_listener_port(l), NULL, &s), 0);
    ck_assert_ptr_null(ah_tls_version(s));
    ck_assert_ptr_null(ah_tls_cipher(s));
    ck_assert_ptr_null(ah_tls_alpn(s));
    ck_assert_ptr_null(ah_tls_sni(s));
    ck_assert_int_eq(ah_tls_resumed(s), 0);
    ck_assert_str_eq(ah_tls_stream_error(s), "");
    ck_assert_str_eq(ah_tls_stream_error(NULL), "");
    /* a server context cannot wrap a client: the stream is closed all the same */
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    ah_tls_ctx *ctx;
    ck_assert_int_eq(ah_tls_server_ctx_new(&so, &ctx, NULL, 0), 0);
    ah_stream *out = (ah_stream *)1;
    char why[64] = "stale";
    ck_assert_int_eq(ah_tls_client_wrap(s, ctx, "localhost", 1000, &out, why, sizeof(why)),
                     AH_EINVAL);
    ck_assert_str_eq(why, "");
    ck_assert_ptr_null(out);
    ah_tls_ctx_free(ctx);
    ah_listener_close(l);
    return 0;
}

START_TEST(test_queries_on_a_plain_stream) { ck_assert_int_eq(ah_run(main_plain_stream, NULL), 0); }
END_TEST

/* ---- many at once ---- */

typedef struct many_tls {
    ah_listener *l;
    ah_tls_ctx *server_ctx, *client_ctx;
    uint16_t port;
    int served, echoed;
} many_tls;

static int many_serve_one(void *arg)
{
    void **a = arg;
    many_tls *m = a[0];
    ah_stream *tcp = a[1], *s;
    free(a);
    int rc = ah_tls_server_wrap(tcp, m->server_ctx, HANDSHAKE_MS, &s, NULL, 0);
    if (rc < 0)
        return rc;
    rc = serve_echo(NULL, s);
    ah_stream_close(s);
    if (rc == 0)
        m->served++;
    return rc;
}

static int many_accept(void *arg)
{
    many_tls *m = arg;
    for (;;) {
        ah_stream *tcp;
        if (ah_listener_accept(m->l, &tcp, NULL) < 0)
            return 0;
        void **a = malloc(2 * sizeof(void *));
        a[0] = m;
        a[1] = tcp;
        ah_task *t = ah_spawn(many_serve_one, a);
        if (!t) {
            free(a);
            ah_stream_close(tcp);
            continue;
        }
        ah_task_detach(t);
    }
}

static int many_client(void *arg)
{
    many_tls *m = arg;
    ah_stream *s;
    int rc = connect_tls(m->port, m->client_ctx, "localhost", &s);
    if (rc < 0)
        return rc;
    char msg[100], back[100];
    memset(msg, 'a' + m->echoed % 26, sizeof(msg));
    rc = ah_sleep(10); /* hold every connection open at once */
    if (rc == 0)
        rc = ah_stream_write(s, msg, sizeof(msg));
    if (rc == 0)
        rc = ah_stream_read_exactly(s, back, sizeof(back));
    if (rc >= 0 && memcmp(msg, back, sizeof(msg)) != 0)
        rc = -1;
    if (rc >= 0)
        rc = ah_stream_shutdown_write(s);
    if (rc >= 0) /* the server's close_notify: a clean end on both sides */
        rc = ah_stream_read(s, back, sizeof(back)) == 0 ? 0 : -1;
    ah_stream_close(s);
    if (rc >= 0)
        m->echoed++;
    return rc < 0 ? rc : 0;
}

static int main_many(void *arg)
{
    int n = (int)(intptr_t)arg;
    many_tls m = {0};
    ah_tcp_listen_opts lo = {.backlog = 4096};
    ck_assert_int_eq(ah_tcp_listen("127.0.0.1", 0, &lo, &m.l), 0);
    m.port = ah_listener_port(m.l);
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = one_cert(&c);
    char err[256];
    ck_assert_int_eq(ah_tls_server_ctx_new(&so, &m.server_ctx, err, sizeof(err)), 0);
    m.client_ctx = verifying_client();
    ah_task *acc = ah_spawn(many_accept, &m);
    ah_group *g = ah_group_new();
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(ah_group_spawn(g, many_client, &m), 0);
    ck_assert_int_eq(ah_group_wait(g), 0);
    ah_group_free(g);
    ck_assert_int_eq(m.echoed, n);
    ah_cancel(acc);
    (void)!ah_join(acc);
    ah_listener_close(m.l);
    ck_assert_int_eq(ah_sleep(20), 0); /* let the last server tasks finish */
    ck_assert_int_eq(m.served, n);
    ah_tls_ctx_free(m.server_ctx);
    ah_tls_ctx_free(m.client_ctx);
    return 0;
}

START_TEST(test_thousand_concurrent_tls_connections_echo)
{
    int before = ah_check_open_fds();
    ck_assert_int_eq(ah_run(main_many, (void *)(intptr_t)(ah_check_slow() ? 50 : 1000)), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_echo_with_verified_hostname);
    tcase_add_test(tc, test_thousand_concurrent_tls_connections_echo);
    tcase_add_test(tc, test_echo_with_verified_ipv4_address);
    tcase_add_test(tc, test_echo_with_verified_ipv6_address);
    tcase_add_test(tc, test_client_rejects_bad_certificates_with_distinct_reasons);
    tcase_add_test(tc, test_insecure_client_accepts_self_signed);
    tcase_add_test(tc, test_64mib_both_ways_at_once);
    tcase_add_test(tc, test_close_without_close_notify_is_truncation);
    tcase_add_test(tc, test_close_notify_is_clean_end_of_stream);
    tcase_add_test(tc, test_cancel_during_handshake_leaks_no_fd);
    tcase_add_test(tc, test_handshake_times_out_on_a_silent_server);
    tcase_add_test(tc, test_sni_picks_certificate_and_sessions_resume);
    tcase_add_test(tc, test_session_resumes_after_close_without_own_close_notify);
    tcase_add_test(tc, test_no_tickets_means_no_resumption);
    tcase_add_test(tc, test_required_client_certificate);
    tcase_add_test(tc, test_stream_error_survives_another_connections_failure);
    tcase_add_test(tc, test_read_timeout_leaves_stream_usable);
    tcase_add_test(tc, test_close_while_a_task_reads);
    tcase_add_test(tc, test_nowait_fill_returns_eagain_when_idle);
    tcase_add_test(tc, test_writev_of_many_pieces);
    tcase_add_test(tc, test_server_refuses_plaintext);
    tcase_add_test(tc, test_context_errors_name_the_file);
    tcase_add_test(tc, test_extra_cas_stay_out_of_the_shared_system_store);
    tcase_add_test(tc, test_queries_on_a_plain_stream);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(tls_suite()); }
