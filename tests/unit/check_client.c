/* The HTTP client against real servers on loopback: ahttp's own server (routes written here)
 * and raw TCP servers that misbehave on purpose. Round trips, keep-alive and the pool limits,
 * the stale-connection retry, every timeout telling which fired, redirects (method rules, loops,
 * credentials across origins), chunked bodies with trailers, close-delimited and truncated
 * bodies, bodiless responses, malformed responses, gzip/deflate with a zip-bomb cap, TLS with
 * verification, and name-resolution and connection failures. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <ahttp/client.h>

#include "checkutil.h"

static const char *cert(const char *name)
{
    static char paths[8][1024];
    static int next;
    const char *dir = getenv("AH_CERTS"); /* make check sets it; make check-valgrind does not */
    char *p = paths[next++ % 8];
    snprintf(p, sizeof(paths[0]), "%s/%s", dir ? dir : AH_TEST_CERTS, name);
    return p;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

/* Timing bounds are looser under valgrind. */
static int64_t slow_factor(void) { return ah_check_slow() ? 10 : 1; }

/* ---- compressed bodies ---- */

#define TEXT_REPEAT 400
static char text[TEXT_REPEAT * 50 + 1]; /* 20,000 bytes of text */
static unsigned char *bomb;             /* 1 MB of zeros, gzipped */
static size_t bomb_len;

/* Compress in[0..len) with the given window bits (31 gzip, 15 zlib, -15 raw). malloc'd. */
static unsigned char *compress_with(const void *in, size_t len, int wbits, size_t *out_len)
{
    z_stream zs = {0};
    ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    unsigned char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static void setup_bodies(void)
{
    text[0] = '\0';
    for (int i = 0; i < TEXT_REPEAT; i++) {
        char line[64];
        snprintf(line, sizeof(line), "line %05d: the quick brown fox jumps over it\n", i);
        strncat(text, line, sizeof(text) - strlen(text) - 1);
    }
    if (!bomb) {
        char *zeros = calloc(1, 1024 * 1024);
        ck_assert_ptr_nonnull(zeros);
        bomb = compress_with(zeros, 1024 * 1024, 31, &bomb_len);
        free(zeros);
    }
}

/* ---- the ahttp server side ---- */

static uint16_t g_port1; /* the first listener */
static uint16_t g_port2; /* the second listener: another origin */
static int g_inflight, g_max_inflight;
static char g_accept_encoding[128];
static int g_hello_count;

static int h_hello(ah_request *req, ah_response *resp, void *arg)
{
    g_hello_count++;
    return ah_response_text(resp, 200, "text/plain", "Hello, World!");
}

static int h_echo(ah_request *req, ah_response *resp, void *arg)
{
    const char *body;
    size_t len;
    int rc = ah_request_body(req, &body, &len);
    if (rc < 0)
        return rc;
    const char *type = ah_request_header(req, "Content-Type");
    if (type && (rc = ah_response_header(resp, "Content-Type", type)) < 0)
        return rc;
    if ((rc = ah_response_header(resp, "X-Method", ah_request_method(req))) < 0)
        return rc;
    return ah_response_body(resp, body, len);
}

/* "METHOD bodylength content-type" */
static int h_landing(ah_request *req, ah_response *resp, void *arg)
{
    const char *body;
    size_t len;
    int rc = ah_request_body(req, &body, &len);
    if (rc < 0)
        return rc;
    const char *type = ah_request_header(req, "Content-Type");
    char text_out[128];
    snprintf(text_out, sizeof(text_out), "%s %zu %s", ah_request_method(req), len,
             type ? type : "-");
    return ah_response_text(resp, 200, "text/plain", text_out);
}

static int h_multi(ah_request *req, ah_response *resp, void *arg)
{
    int rc = ah_response_header(resp, "X-Multi", "a");
    if (rc == 0)
        rc = ah_response_header(resp, "x-multi", "b");
    return rc < 0 ? rc : ah_response_text(resp, 200, "text/plain", "multi");
}

static int h_slow(ah_request *req, ah_response *resp, void *arg)
{
    g_inflight++;
    if (g_inflight > g_max_inflight)
        g_max_inflight = g_inflight;
    int rc = ah_sleep(30);
    g_inflight--;
    return rc < 0 ? rc : ah_response_text(resp, 200, "text/plain", "slow");
}

static int h_sleep(ah_request *req, ah_response *resp, void *arg)
{
    const char *ms = ah_request_query_param(req, "ms");
    int rc = ah_sleep(ms ? atoi(ms) : 1000);
    return rc < 0 ? rc : ah_response_text(resp, 200, "text/plain", "slept");
}

static int redirect_to(ah_response *resp, int status, const char *where)
{
    ah_response_status(resp, status);
    int rc = ah_response_header(resp, "Location", where);
    return rc < 0 ? rc : ah_response_body(resp, "moved", 5);
}

static int h_see_other(ah_request *req, ah_response *resp, void *arg)
{
    return redirect_to(resp, 303, "/landing");
}
static int h_found(ah_request *req, ah_response *resp, void *arg)
{
    return redirect_to(resp, 302, "landing"); /* relative: resolved against /found */
}
static int h_temp(ah_request *req, ah_response *resp, void *arg)
{
    return redirect_to(resp, 307, "/echo");
}
static int h_perm(ah_request *req, ah_response *resp, void *arg)
{
    return redirect_to(resp, 308, "/landing");
}
static int h_loop(ah_request *req, ah_response *resp, void *arg)
{
    return redirect_to(resp, 302, "/loop");
}
static int h_to_b(ah_request *req, ah_response *resp, void *arg)
{
    char where[128];
    snprintf(where, sizeof(where), "http://127.0.0.1:%u/auth-echo", g_port2);
    return redirect_to(resp, 302, where);
}
static int h_to_a(ah_request *req, ah_response *resp, void *arg)
{
    return redirect_to(resp, 302, "/auth-echo");
}
static int h_auth_echo(ah_request *req, ah_response *resp, void *arg)
{
    const char *auth = ah_request_header(req, "Authorization");
    return ah_response_text(resp, 200, "text/plain", auth ? auth : "none");
}

/* ---- cookies: a login that sets two, a page that shows what came back ---- */

static int h_login(ah_request *req, ah_response *resp, void *arg)
{
    int rc = ah_response_header(resp, "Set-Cookie", "session=s3cr3t; Path=/; HttpOnly");
    if (rc == 0)
        rc = ah_response_header(resp, "Set-Cookie", "theme=dark");
    return rc < 0 ? rc : ah_response_text(resp, 200, "text/plain", "logged in");
}

static int h_logout(ah_request *req, ah_response *resp, void *arg)
{
    int rc = ah_response_header(resp, "Set-Cookie", "session=; Path=/; Max-Age=0");
    return rc < 0 ? rc : ah_response_text(resp, 200, "text/plain", "bye");
}

static int h_me(ah_request *req, ah_response *resp, void *arg)
{
    /* exactly one Cookie line (RFC 6265 §5.4) */
    const char *cookie = ah_request_header(req, "Cookie");
    int lines = 0;
    for (size_t i = 0; i < ah_request_header_count(req); i++) {
        const char *name, *value;
        if (ah_request_header_at(req, i, &name, &value) == 0 && strcasecmp(name, "Cookie") == 0)
            lines++;
    }
    return ah_response_text(resp, 200, "text/plain",
                            lines > 1 ? "more than one Cookie line"
                            : cookie  ? cookie
                                      : "none");
}

/* A redirect that sets a cookie on the way: "/set-and-redirect?to=URL" (relative or absolute). */
static int h_set_and_redirect(ah_request *req, ah_response *resp, void *arg)
{
    const char *to = ah_request_query_param(req, "to");
    int rc = ah_response_header(resp, "Set-Cookie", "hop=1; Path=/");
    return rc < 0 ? rc : redirect_to(resp, 302, to ? to : "/me");
}

static int h_chunked(ah_request *req, ah_response *resp, void *arg)
{
    static const char *parts[] = {"first part, ", "second part, ", "the end"};
    for (size_t i = 0; i < 3; i++) {
        int rc = ah_response_write(resp, parts[i], strlen(parts[i]));
        if (rc < 0)
            return rc;
    }
    int rc = ah_response_trailer(resp, "X-Checksum", "abc123");
    return rc < 0 ? rc : ah_response_end(resp);
}

static int h_compressed(ah_request *req, ah_response *resp, void *arg)
{
    const char *kind = arg;
    const char *ae = ah_request_header(req, "Accept-Encoding");
    snprintf(g_accept_encoding, sizeof(g_accept_encoding), "%s", ae ? ae : "none");
    int wbits = strcmp(kind, "gzip") == 0 ? 31 : strcmp(kind, "deflate") == 0 ? 15 : -15;
    size_t n;
    unsigned char *z = compress_with(text, strlen(text), wbits, &n);
    int rc = ah_response_header(resp, "Content-Encoding", wbits == 31 ? "gzip" : "deflate");
    if (rc == 0)
        rc = ah_response_body(resp, z, n);
    free(z);
    return rc;
}

static int h_bomb(ah_request *req, ah_response *resp, void *arg)
{
    int rc = ah_response_header(resp, "Content-Encoding", "gzip");
    return rc < 0 ? rc : ah_response_body_ref(resp, bomb, bomb_len);
}

static int h_big(ah_request *req, ah_response *resp, void *arg)
{
    static char big[5000];
    memset(big, 'x', sizeof(big));
    return ah_response_body_ref(resp, big, sizeof(big));
}

static int h_status(ah_request *req, ah_response *resp, void *arg)
{
    ah_response_status(resp, atoi(ah_request_param(req, "code")));
    return 0;
}

typedef struct world {
    ah_server *srv;
    ah_task *task;
    uint16_t port, port2, tls_port;
    ah_tls_ctx *tls;
    char url[64], url2[64], tls_url[64];
} world;

static int server_task(void *arg) { return ah_server_serve(arg); }

/* Start the server: two plain listeners and, with tls_cert, a TLS one. */
static void world_start(world *w, const char *tls_cert, const char *tls_key)
{
    memset(w, 0, sizeof(*w));
    setup_bodies();
    g_inflight = g_max_inflight = g_hello_count = 0;
    strcpy(g_accept_encoding, "unset");
    w->srv = ah_server_new(NULL);
    ck_assert_ptr_nonnull(w->srv);
    struct {
        const char *method, *pattern;
        ah_handler_fn fn;
        void *arg;
    } routes[] = {
        {"GET", "/hello", h_hello, NULL},
        {"POST", "/echo", h_echo, NULL},
        {"*", "/landing", h_landing, NULL},
        {"GET", "/multi", h_multi, NULL},
        {"GET", "/slow", h_slow, NULL},
        {"GET", "/sleep", h_sleep, NULL},
        {"*", "/see-other", h_see_other, NULL},
        {"*", "/found", h_found, NULL},
        {"*", "/temp", h_temp, NULL},
        {"*", "/perm", h_perm, NULL},
        {"GET", "/loop", h_loop, NULL},
        {"GET", "/to-b", h_to_b, NULL},
        {"GET", "/to-a", h_to_a, NULL},
        {"GET", "/auth-echo", h_auth_echo, NULL},
        {"GET", "/chunked", h_chunked, NULL},
        {"GET", "/gzip", h_compressed, "gzip"},
        {"GET", "/deflate", h_compressed, "deflate"},
        {"GET", "/rawdeflate", h_compressed, "raw"},
        {"GET", "/bomb", h_bomb, NULL},
        {"GET", "/big", h_big, NULL},
        {"GET", "/status/{code}", h_status, NULL},
        {"GET", "/login", h_login, NULL},
        {"GET", "/logout", h_logout, NULL},
        {"GET", "/me", h_me, NULL},
        {"GET", "/set-and-redirect", h_set_and_redirect, NULL},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        ck_assert_int_eq(ah_server_route(w->srv, routes[i].method, routes[i].pattern, routes[i].fn,
                                         routes[i].arg),
                         0);
    ck_assert_int_eq(ah_server_listen(w->srv, "127.0.0.1", 0), 0);
    ck_assert_int_eq(ah_server_listen(w->srv, "127.0.0.1", 0), 0);
    w->port = g_port1 = ah_server_port(w->srv, 0);
    w->port2 = g_port2 = ah_server_port(w->srv, 1);
    snprintf(w->url, sizeof(w->url), "http://127.0.0.1:%u", w->port);
    snprintf(w->url2, sizeof(w->url2), "http://127.0.0.1:%u", w->port2);
    if (tls_cert) {
        char err[256];
        ah_tls_cert c = {cert(tls_cert), cert(tls_key)};
        ah_tls_server_opts so = {.certs = &c, .ncerts = 1};
        ck_assert_msg(ah_tls_server_ctx_new(&so, &w->tls, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(ah_server_listen_tls(w->srv, "127.0.0.1", 0, w->tls), 0);
        w->tls_port = ah_server_port(w->srv, 2);
        snprintf(w->tls_url, sizeof(w->tls_url), "https://127.0.0.1:%u", w->tls_port);
    }
    w->task = ah_spawn(server_task, w->srv);
    ck_assert_ptr_nonnull(w->task);
}

static void world_stop(world *w)
{
    ah_server_shutdown(w->srv, 0);
    ck_assert_int_eq(ah_join(w->task), 0);
    ah_server_free(w->srv);
    ah_tls_ctx_free(w->tls);
}

typedef void (*client_fn)(world *w);

typedef struct run_ctx {
    client_fn fn;
    const char *cert, *key;
} run_ctx;

static int main_world(void *arg)
{
    run_ctx *ctx = arg;
    world w;
    world_start(&w, ctx->cert, ctx->key);
    ctx->fn(&w);
    world_stop(&w);
    return 0;
}

/* Run fn against a fresh server; no descriptor may be left open after. */
static void run_world_tls(client_fn fn, const char *cert_name, const char *key_name)
{
    int before = ah_check_open_fds();
    run_ctx ctx = {fn, cert_name, key_name};
    ck_assert_int_eq(ah_run(main_world, &ctx), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}

static void run_world(client_fn fn) { run_world_tls(fn, NULL, NULL); }

/* "base + path" in a static buffer (one of four, rotating). */
static const char *at(const char *base, const char *path)
{
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s%s", base, path);
    return b;
}

/* GET url, expect status, return the body (malloc'd). */
static char *get_body(ah_client *c, const char *url, int status)
{
    ah_client_response *r;
    int rc = ah_client_get(c, url, &r);
    ck_assert_msg(rc == 0, "GET %s: %s (%s)", url, ah_strerror(rc), ah_client_last_error(c));
    ck_assert_int_eq(ah_client_response_status(r), status);
    const char *data;
    size_t len;
    rc = ah_client_response_body(r, &data, &len);
    ck_assert_msg(rc == 0, "body of %s: %s (%s)", url, ah_strerror(rc), ah_client_last_error(c));
    char *copy = strndup(data, len);
    ah_client_response_free(r);
    return copy;
}

static void expect_body(ah_client *c, const char *url, int status, const char *want)
{
    char *b = get_body(c, url, status);
    ck_assert_str_eq(b, want);
    free(b);
}

/* ---- round trips ---- */

static void client_round_trips(world *w)
{
    ah_client *c = ah_client_new(NULL);
    ck_assert_ptr_nonnull(c);
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/hello"), &r), 0);
    ck_assert_int_eq(ah_client_response_status(r), 200);
    ck_assert_str_eq(ah_client_response_reason(r), "OK");
    ck_assert_int_eq(ah_client_response_version(r), 11);
    ck_assert_str_eq(ah_client_response_header(r, "content-TYPE"), "text/plain");
    ck_assert_int_eq(ah_client_response_content_length(r), 13);
    ck_assert_str_eq(ah_client_response_url(r), at(w->url, "/hello"));
    ck_assert_uint_eq(ah_client_response_history_count(r), 0);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_uint_eq(len, 13);
    ck_assert_str_eq(data, "Hello, World!");
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0); /* again: the same */
    ck_assert_str_eq(data, "Hello, World!");
    char byte;
    ck_assert_int_eq(ah_client_response_read(r, &byte, 1), 0); /* at the end */
    ah_client_response_free(r);

    static const char payload[] = "{\"a\": [1, 2, 3]}";
    ck_assert_int_eq(
        ah_client_post(c, at(w->url, "/echo"), payload, strlen(payload), "application/json", &r),
        0);
    ck_assert_int_eq(ah_client_response_status(r), 200);
    ck_assert_str_eq(ah_client_response_header(r, "Content-Type"), "application/json");
    ck_assert_str_eq(ah_client_response_header(r, "X-Method"), "POST");
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, payload);
    ah_client_response_free(r);

    /* multi-valued headers, in order, and by index */
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/multi"), &r), 0);
    ck_assert_str_eq(ah_client_response_header(r, "x-multi"), "a");
    ck_assert_str_eq(ah_client_response_header_nth(r, "X-MULTI", 1), "b");
    ck_assert_ptr_null(ah_client_response_header_nth(r, "X-Multi", 2));
    ck_assert_ptr_null(ah_client_response_header(r, "X-Absent"));
    size_t n = ah_client_response_header_count(r), seen = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        ck_assert_int_eq(ah_client_response_header_at(r, i, &name, &value), 0);
        seen += strcasecmp(name, "X-Multi") == 0;
    }
    ck_assert_uint_eq(seen, 2);
    ck_assert_int_eq(ah_client_response_header_at(r, n, NULL, NULL), AH_EINVAL);
    ah_client_response_free(r);

    /* a request with every field */
    ah_client_header hs[] = {{"X-Test", "1"}, {"Content-Type", "text/plain"}};
    ah_client_error err;
    ah_client_request req = {.method = "PUT",
                             .url = at(w->url, "/landing"),
                             .headers = hs,
                             .nheaders = 2,
                             .body = "abcdef",
                             .body_len = 6,
                             .error = &err};
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), 0);
    ck_assert_int_eq(err.code, 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "PUT 6 text/plain");
    ah_client_response_free(r);

    /* 404 is a response, not an error; streaming reads in small pieces */
    char *nf = get_body(c, at(w->url, "/nope"), 404);
    ck_assert_ptr_nonnull(strstr(nf, "Not Found"));
    free(nf);
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/big"), &r), 0);
    char piece[7];
    size_t total = 0;
    int got;
    while ((got = ah_client_response_read(r, piece, sizeof(piece))) > 0)
        total += (size_t)got;
    ck_assert_int_eq(got, 0);
    ck_assert_uint_eq(total, 5000);
    ah_client_response_free(r);
    ah_client_close(c);
}

START_TEST(test_get_and_post_round_trip) { run_world(client_round_trips); }
END_TEST

static void client_userinfo(world *w)
{
    ah_client *c = ah_client_new(NULL);
    char url[128];
    snprintf(url, sizeof(url), "http://user:p%%40ss@127.0.0.1:%u/auth-echo", w->port);
    expect_body(c, url, 200, "Basic dXNlcjpwQHNz"); /* base64("user:p@ss") */
    ah_client_close(c);
}

START_TEST(test_userinfo_becomes_basic_auth) { run_world(client_userinfo); }
END_TEST

static int produce(void *arg, void *buf, size_t len)
{
    int *step = arg;
    static const char *parts[] = {"part one, ", "part two, ", "and three"};
    if (*step >= 3)
        return 0;
    const char *p = parts[(*step)++];
    size_t n = strlen(p);
    ck_assert_uint_ge(len, n);
    memcpy(buf, p, n);
    return (int)n;
}

static void client_chunked_upload(world *w)
{
    ah_client *c = ah_client_new(NULL);
    int step = 0;
    ah_client_request req = {
        .method = "POST", .url = at(w->url, "/echo"), .body_fn = produce, .body_arg = &step};
    ah_client_response *r;
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), 0);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "part one, part two, and three");
    ah_client_response_free(r);
    ah_client_close(c);
}

START_TEST(test_chunked_upload_from_a_producer) { run_world(client_chunked_upload); }
END_TEST

/* ---- the pool ---- */

static void client_keepalive(world *w)
{
    ah_client *c = ah_client_new(NULL);
    for (int i = 0; i < 5; i++)
        expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ck_assert_uint_eq(st.requests, 5);
    ck_assert_uint_eq(st.reused, 4);
    ck_assert_uint_eq(st.connections_open, 1);
    ck_assert_uint_eq(st.connections_idle, 1);
    ah_server_stats ss;
    ah_server_get_stats(w->srv, &ss);
    ck_assert_uint_eq(ss.connections_accepted, 1);
    /* a response freed unread but small is drained: the connection stays */
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/big"), &r), 0);
    ah_client_response_free(r);
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/hello"), &r), 0);
    ah_client_response_free(r);
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);
}

START_TEST(test_keepalive_reuses_one_connection) { run_world(client_keepalive); }
END_TEST

typedef struct slow_job {
    ah_client *c;
    const char *url;
    int ok;
} slow_job;

static int slow_fetch(void *arg)
{
    slow_job *j = arg;
    ah_client_response *r;
    int rc = ah_client_get(j->c, j->url, &r);
    if (rc < 0)
        return rc;
    const char *data;
    size_t len;
    rc = ah_client_response_body(r, &data, &len);
    if (rc == 0 && ah_client_response_status(r) == 200)
        j->ok++;
    ah_client_response_free(r);
    return rc;
}

static void client_per_host_limit(world *w)
{
    ah_client_opts o = {.max_per_host = 2};
    ah_client *c = ah_client_new(&o);
    slow_job j = {c, at(w->url, "/slow"), 0};
    ah_group *g = ah_group_new();
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(ah_group_spawn(g, slow_fetch, &j), 0);
    ck_assert_int_eq(ah_group_wait(g), 0);
    ah_group_free(g);
    ck_assert_int_eq(j.ok, 10);
    ck_assert_int_eq(g_max_inflight, 2);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 2);
    ck_assert_uint_eq(st.waiting, 0);
    ah_client_close(c);
}

START_TEST(test_per_host_limit_caps_requests_in_flight) { run_world(client_per_host_limit); }
END_TEST

static void client_total_limit(world *w)
{
    /* two origins, three connections in all: the total limit holds across hosts */
    ah_client_opts o = {.max_per_host = 10, .max_connections = 3};
    ah_client *c = ah_client_new(&o);
    slow_job a = {c, at(w->url, "/slow"), 0}, b = {c, at(w->url2, "/slow"), 0};
    ah_group *g = ah_group_new();
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(ah_group_spawn(g, slow_fetch, &a), 0);
        ck_assert_int_eq(ah_group_spawn(g, slow_fetch, &b), 0);
    }
    ck_assert_int_eq(ah_group_wait(g), 0);
    ah_group_free(g);
    ck_assert_int_eq(a.ok + b.ok, 12);
    ck_assert_int_le(g_max_inflight, 3);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_le(st.connections_open, 3);
    ah_client_close(c);
}

START_TEST(test_total_limit_holds_across_hosts) { run_world(client_total_limit); }
END_TEST

static void client_many(world *w)
{
    ah_client_opts o = {.max_per_host = 20};
    ah_client *c = ah_client_new(&o);
    slow_job j = {c, at(w->url, "/hello"), 0};
    int n = ah_check_slow() ? 100 : 1000;
    ah_group *g = ah_group_new();
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(ah_group_spawn(g, slow_fetch, &j), 0);
    ck_assert_int_eq(ah_group_wait(g), 0);
    ah_group_free(g);
    ck_assert_int_eq(j.ok, n);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_le(st.connections_made, 20);
    ck_assert_uint_eq(st.requests, (uint64_t)n);
    ah_client_close(c);
}

START_TEST(test_thousand_concurrent_requests_share_the_pool) { run_world(client_many); }
END_TEST

typedef struct hold_job {
    ah_client *c;
    const char *url;
} hold_job;

static int hold_connection(void *arg)
{
    hold_job *j = arg;
    char *b = get_body(j->c, j->url, 200);
    free(b);
    return 0;
}

static void client_pool_timeout(world *w)
{
    ah_client_opts o = {.max_per_host = 1, .pool_timeout_ms = 50};
    ah_client *c = ah_client_new(&o);
    hold_job j = {c, at(w->url, "/sleep?ms=400")};
    ah_task *t = ah_spawn(hold_connection, &j);
    ck_assert_int_eq(ah_sleep(50), 0); /* it holds the only slot now */
    ah_client_error err;
    ah_client_request req = {.url = at(w->url, "/hello"), .error = &err};
    ah_client_response *r;
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ETIMEDOUT);
    ck_assert_ptr_null(r);
    ck_assert_int_ge(ah_check_elapsed(start), 45);
    ck_assert_int_eq(err.timeout, AH_CLIENT_TIMEOUT_POOL);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_POOL);
    ck_assert_ptr_nonnull(strstr(err.message, "pool timeout"));
    ck_assert_str_eq(ah_client_last_error(c), err.message);
    ck_assert_int_eq(ah_join(t), 0);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.waiting, 0);
    ah_client_close(c);
}

START_TEST(test_pool_wait_times_out) { run_world(client_pool_timeout); }
END_TEST

static void client_idle_timeout(world *w)
{
    ah_client_opts o = {.idle_timeout_ms = 50};
    ah_client *c = ah_client_new(&o);
    expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_idle, 1);
    ck_assert_int_eq(ah_sleep(150 * slow_factor()), 0); /* the reaper closes it */
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_idle, 0);
    ck_assert_uint_eq(st.connections_open, 0);
    expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 2);
    ah_client_close(c);

    /* keep-alive off: every response closes its connection */
    ah_client_opts off = {.idle_timeout_ms = -1};
    c = ah_client_new(&off);
    expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 2);
    ck_assert_uint_eq(st.connections_open, 0);
    ah_client_close(c);
}

START_TEST(test_idle_connections_are_closed_after_the_idle_timeout)
{
    run_world(client_idle_timeout);
}
END_TEST

/* ---- raw servers that misbehave on purpose ---- */

typedef int (*raw_conn_fn)(ah_stream *s, int index, void *arg);

typedef struct raw_server {
    ah_listener *l;
    uint16_t port;
    raw_conn_fn fn;
    void *arg;
    ah_task *task;
    int conns;
    ah_tls_ctx *tls; /* set: TLS is spoken on every connection */
    char url[64];
} raw_server;

typedef struct raw_conn {
    raw_conn_fn fn;
    void *arg;
    ah_stream *s;
    int index;
    ah_tls_ctx *tls;
} raw_conn;

static int raw_conn_task(void *arg)
{
    raw_conn rc = *(raw_conn *)arg;
    free(arg);
    if (rc.tls) {
        ah_stream *ts;
        if (ah_tls_server_wrap(rc.s, rc.tls, 5000, &ts) < 0)
            return 0; /* rc.s is closed by the failed wrap */
        rc.s = ts;
    }
    int r = rc.fn(rc.s, rc.index, rc.arg);
    ah_stream_close(rc.s);
    return r < 0 ? 0 : r;
}

static int raw_accept_task(void *arg)
{
    raw_server *rs = arg;
    for (;;) {
        ah_stream *s;
        int rc = ah_listener_accept(rs->l, &s, NULL);
        if (rc < 0)
            return 0;
        raw_conn *c = malloc(sizeof(*c));
        ck_assert_ptr_nonnull(c);
        *c = (raw_conn){rs->fn, rs->arg, s, rs->conns++, rs->tls};
        ah_task *t = ah_spawn(raw_conn_task, c);
        ck_assert_ptr_nonnull(t);
        ah_task_detach(t);
    }
}

static void raw_start(raw_server *rs, raw_conn_fn fn, void *arg)
{
    memset(rs, 0, sizeof(*rs));
    ck_assert_int_eq(ah_tcp_listen("127.0.0.1", 0, NULL, &rs->l), 0);
    rs->port = ah_listener_port(rs->l);
    rs->fn = fn;
    rs->arg = arg;
    snprintf(rs->url, sizeof(rs->url), "http://127.0.0.1:%u", rs->port);
    rs->task = ah_spawn(raw_accept_task, rs);
    ck_assert_ptr_nonnull(rs->task);
}

/* The same over TLS with certs/server.pem (closing without close_notify, as servers do). */
static void raw_start_tls(raw_server *rs, raw_conn_fn fn, void *arg)
{
    raw_start(rs, fn, arg);
    char err[256];
    ah_tls_cert c = {cert("server.pem"), cert("server.key")};
    ah_tls_server_opts so = {.certs = &c, .ncerts = 1};
    ck_assert_msg(ah_tls_server_ctx_new(&so, &rs->tls, err, sizeof(err)) == 0, "%s", err);
    snprintf(rs->url, sizeof(rs->url), "https://127.0.0.1:%u", rs->port);
}

static void raw_stop(raw_server *rs)
{
    ah_cancel(rs->task);
    (void)!ah_join(rs->task);
    ah_listener_close(rs->l);
    ah_tls_ctx_free(rs->tls); /* connections made from it keep their own reference */
}

/* Read one request head (no body). > 0, or <= 0 when the client went away. */
static int read_request(ah_stream *s)
{
    char buf[8192];
    return ah_stream_read_until(s, "\r\n\r\n", 4, buf, sizeof(buf));
}

static int send_text(ah_stream *s, const char *text_out)
{
    return ah_stream_write(s, text_out, strlen(text_out));
}

typedef int (*raw_main_fn)(void *arg);

/* Run a client scenario in its own loop; no descriptor may be left open after. */
static void run_main(raw_main_fn fn)
{
    int before = ah_check_open_fds();
    ck_assert_int_eq(ah_run(fn, NULL), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}

/* Answers one request, then closes. */
static int close_after_one(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    return send_text(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

static int main_idle_closed(void *arg)
{
    raw_server rs;
    raw_start(&rs, close_after_one, NULL);
    ah_client *c = ah_client_new(NULL);
    ah_client_stats st;
    /* Closed while idle, and the loop has seen it (the socket turned readable): not used. */
    expect_body(c, at(rs.url, "/"), 200, "ok");
    ck_assert_int_eq(ah_sleep(50), 0);
    expect_body(c, at(rs.url, "/"), 200, "ok");
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 2);
    ck_assert_uint_eq(st.retries, 0);
    ck_assert_uint_eq(st.reused, 0);

    /* Closed just now, the FIN read with the response: a POST (never sent twice) checks with
     * a read first, and takes a new connection... */
    ah_client_request post = {.method = "POST", .url = at(rs.url, "/"), .body = "x", .body_len = 1};
    ah_client_response *r;
    ck_assert_int_eq(ah_client_fetch(c, &post, &r), 0);
    ck_assert_int_eq(ah_client_response_status(r), 200);
    ah_client_response_free(r);
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 3);
    ck_assert_uint_eq(st.retries, 0);
    ck_assert_uint_eq(st.reused, 0);

    /* ...and so does a GET, which takes a quiet pooled connection without that read: the loop
     * saw the FIN (EPOLLRDHUP) come with the response. */
    expect_body(c, at(rs.url, "/"), 200, "ok");
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 4);
    ck_assert_uint_eq(st.retries, 0);
    ck_assert_uint_eq(st.reused, 0);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_idle_connection_closed_by_server_is_not_reused) { run_main(main_idle_closed); }
END_TEST

/* The first connection answers once, then reads the next request and hangs up without an
 * answer: the race of a keep-alive timeout with a reused connection. Later ones behave. */
static int die_on_second_request(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    if (send_text(s, index == 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
                                : "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nretry") < 0)
        return 0;
    if (index == 0) {
        (void)read_request(s);
        return 0; /* closed without a word */
    }
    while (read_request(s) > 0)
        if (send_text(s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain") < 0)
            break;
    return 0;
}

static int main_stale_retry(void *arg)
{
    raw_server rs;
    raw_start(&rs, die_on_second_request, NULL);
    ah_client *c = ah_client_new(NULL);
    expect_body(c, at(rs.url, "/a"), 200, "first");
    expect_body(c, at(rs.url, "/b"), 200, "retry"); /* the dead connection was replaced */
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.retries, 1);
    ck_assert_uint_eq(st.connections_made, 2);
    ck_assert_uint_eq(st.connections_open, 1);
    expect_body(c, at(rs.url, "/c"), 200, "again");
    ah_client_close(c);
    raw_stop(&rs);

    /* a POST is not idempotent: no retry, the failure is reported */
    raw_start(&rs, die_on_second_request, NULL);
    c = ah_client_new(NULL);
    expect_body(c, at(rs.url, "/a"), 200, "first");
    ah_client_response *r;
    ah_client_error err;
    ah_client_request req = {
        .method = "POST", .url = at(rs.url, "/b"), .body = "x", .body_len = 1, .error = &err};
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_EEOF);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_HEADERS);
    ck_assert_ptr_nonnull(strstr(err.message, "without sending a response"));
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.retries, 0);
    ck_assert_uint_eq(st.connections_open, 0);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_stale_connection_is_retried_once_for_idempotent_requests)
{
    run_main(main_stale_retry);
}
END_TEST

static int main_stale_tls(void *arg)
{
    ah_client_opts o = {.ca_file = cert("ca.pem")};
    raw_server rs;
    raw_start_tls(&rs, close_after_one, NULL);
    ah_client *c = ah_client_new(&o);
    expect_body(c, at(rs.url, "/"), 200, "ok");
    expect_body(c, at(rs.url, "/"), 200, "ok");
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 2);
    ck_assert_uint_eq(st.retries, 0);
    ah_client_close(c);
    raw_stop(&rs);

    raw_start_tls(&rs, die_on_second_request, NULL);
    c = ah_client_new(&o);
    expect_body(c, at(rs.url, "/a"), 200, "first");
    expect_body(c, at(rs.url, "/b"), 200, "retry");
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.retries, 1);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_stale_tls_connections_are_replaced_too) { run_main(main_stale_tls); }
END_TEST

/* Reads the request and says nothing. */
static int mute(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    (void)!ah_sleep(60 * 1000);
    return 0;
}

/* Sends the head and 10 of 100 body bytes, then stalls. */
static int stall_in_body(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    if (send_text(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789") < 0)
        return 0;
    (void)!ah_sleep(60 * 1000);
    return 0;
}

static int main_timeouts(void *arg)
{
    raw_server rs;
    raw_start(&rs, mute, NULL);
    ah_client_response *r;
    ah_client_error err;

    /* headers timeout */
    ah_client_opts o = {.headers_timeout_ms = 100};
    ah_client *c = ah_client_new(&o);
    ah_client_request req = {.url = at(rs.url, "/"), .error = &err};
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ETIMEDOUT);
    ck_assert_int_ge(ah_check_elapsed(start), 90);
    ck_assert_int_eq(err.timeout, AH_CLIENT_TIMEOUT_HEADERS);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_HEADERS);
    ck_assert_ptr_nonnull(strstr(err.message, "headers timeout"));
    ah_client_close(c);

    /* read timeout while waiting for the head */
    ah_client_opts o2 = {.read_timeout_ms = 100};
    c = ah_client_new(&o2);
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ETIMEDOUT);
    ck_assert_int_eq(err.timeout, AH_CLIENT_TIMEOUT_READ);
    ck_assert_ptr_nonnull(strstr(ah_client_last_error(c), "read timeout"));
    ah_client_close(c);

    /* total timeout */
    ah_client_opts o3 = {.timeout_ms = 100};
    c = ah_client_new(&o3);
    start = ah_now_ms();
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ETIMEDOUT);
    ck_assert_int_ge(ah_check_elapsed(start), 90);
    ck_assert_int_eq(err.timeout, AH_CLIENT_TIMEOUT_TOTAL);
    ck_assert_ptr_nonnull(strstr(err.message, "total timeout"));
    /* the request's own total overrides the client's */
    req.timeout_ms = 50;
    start = ah_now_ms();
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ETIMEDOUT);
    ck_assert_int_lt(ah_check_elapsed(start), 90 * slow_factor());
    ck_assert_int_eq(err.timeout, AH_CLIENT_TIMEOUT_TOTAL);
    req.timeout_ms = 0;
    ah_client_close(c);
    raw_stop(&rs);

    /* read timeout in the body */
    raw_start(&rs, stall_in_body, NULL);
    ah_client_opts o4 = {.read_timeout_ms = 100};
    c = ah_client_new(&o4);
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    char buf[200];
    ck_assert_int_eq(ah_client_response_read(r, buf, sizeof(buf)), 10);
    start = ah_now_ms();
    ck_assert_int_eq(ah_client_response_read(r, buf, sizeof(buf)), AH_ETIMEDOUT);
    ck_assert_int_ge(ah_check_elapsed(start), 90);
    const ah_client_error *e = ah_client_response_error(r);
    ck_assert_int_eq(e->code, AH_ETIMEDOUT);
    ck_assert_int_eq(e->timeout, AH_CLIENT_TIMEOUT_READ);
    ck_assert_int_eq(e->phase, AH_CLIENT_PHASE_BODY);
    ck_assert_int_eq(ah_client_response_read(r, buf, sizeof(buf)), AH_ETIMEDOUT); /* sticky */
    ah_client_response_free(r);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0); /* a broken body closes its connection */
    ah_client_close(c);

    /* total timeout in the body */
    ah_client_opts o5 = {.timeout_ms = 150};
    c = ah_client_new(&o5);
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_ETIMEDOUT);
    ck_assert_int_eq(ah_client_response_error(r)->timeout, AH_CLIENT_TIMEOUT_TOTAL);
    ah_client_response_free(r);
    ah_client_close(c);

    /* The caller's own deadline scope is not one of the client's timeouts: NONE, and said so. */
    ah_client_opts o6 = {.read_timeout_ms = 5000, .timeout_ms = 5000};
    c = ah_client_new(&o6);
    ck_assert_int_eq(ah_deadline_push(100), 0);
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_ETIMEDOUT);
    ck_assert_int_eq(ah_deadline_pop(), 1);
    ck_assert_int_eq(ah_client_response_error(r)->timeout, AH_CLIENT_TIMEOUT_NONE);
    ck_assert_ptr_nonnull(strstr(ah_client_response_error(r)->message, "caller's deadline"));
    ah_client_response_free(r);
    ah_client_close(c);
    raw_stop(&rs);

    raw_start(&rs, mute, NULL);
    req.url = at(rs.url, "/");
    c = ah_client_new(&o6);
    ck_assert_int_eq(ah_deadline_push(100), 0);
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ETIMEDOUT);
    ck_assert_int_eq(ah_deadline_pop(), 1);
    ck_assert_int_eq(err.timeout, AH_CLIENT_TIMEOUT_NONE);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_HEADERS);
    ck_assert_ptr_nonnull(strstr(err.message, "caller's deadline"));
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_each_timeout_reports_which_fired) { run_main(main_timeouts); }
END_TEST

typedef struct fetch_job {
    ah_client *c;
    const char *url;
} fetch_job;

static int fetch_forever(void *arg)
{
    fetch_job *j = arg;
    ah_client_response *r;
    int rc = ah_client_get(j->c, j->url, &r);
    if (rc == 0)
        ah_client_response_free(r);
    return rc;
}

static int main_cancel(void *arg)
{
    raw_server rs;
    raw_start(&rs, mute, NULL);
    ah_client_opts o = {.max_per_host = 1};
    ah_client *c = ah_client_new(&o);
    fetch_job j = {c, at(rs.url, "/")};
    /* one waits for the head, one for the only slot: cancel both */
    ah_task *a = ah_spawn(fetch_forever, &j), *b = ah_spawn(fetch_forever, &j);
    ck_assert_int_eq(ah_sleep(50), 0);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 1);
    ck_assert_uint_eq(st.waiting, 1);
    ck_assert_int_eq(ah_wait_for(b, 10), AH_ETIMEDOUT);
    ck_assert_int_eq(ah_wait_for(a, 10), AH_ETIMEDOUT);
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0);
    ck_assert_uint_eq(st.waiting, 0);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_cancelled_fetches_give_back_their_slots) { run_main(main_cancel); }
END_TEST

typedef struct trace_log {
    char text[8192];
    int requests, responses;
} trace_log;

static void record(void *arg, ah_client_trace_kind kind, const char *text_in, size_t len)
{
    trace_log *t = arg;
    t->requests += kind == AH_CLIENT_TRACE_REQUEST_HEAD;
    t->responses += kind == AH_CLIENT_TRACE_RESPONSE_HEAD;
    size_t used = strlen(t->text);
    snprintf(t->text + used, sizeof(t->text) - used, "%.*s|", (int)len, text_in);
}

static void client_trace(world *w)
{
    trace_log log = {{0}, 0, 0};
    ah_client_opts o = {.trace = record, .trace_arg = &log, .user_agent = "tester/1"};
    ah_client *c = ah_client_new(&o);
    expect_body(c, at(w->url, "/see-other"), 200, "GET 0 -");
    ck_assert_int_eq(log.requests, 2);
    ck_assert_int_eq(log.responses, 2);
    char host[64];
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%u\r\n", w->port);
    ck_assert_ptr_nonnull(strstr(log.text, "GET /see-other HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr(log.text, host));
    ck_assert_ptr_nonnull(strstr(log.text, "User-Agent: tester/1\r\n"));
    ck_assert_ptr_nonnull(strstr(log.text, "Accept-Encoding: gzip, deflate\r\n"));
    ck_assert_ptr_nonnull(strstr(log.text, "HTTP/1.1 303 See Other\r\n"));
    ck_assert_ptr_nonnull(strstr(log.text, "connected to"));
    ck_assert_ptr_nonnull(strstr(log.text, "redirect 1 (303)"));
    ah_client_close(c);
}

START_TEST(test_trace_shows_heads_and_events) { run_world(client_trace); }
END_TEST

static int ipv6_loopback_works(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int ok = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
    close(fd);
    return ok;
}

static int main_ipv6(void *arg)
{
    ah_server *srv = ah_server_new(NULL);
    ck_assert_int_eq(ah_server_route(srv, "GET", "/hello", h_hello, NULL), 0);
    ck_assert_int_eq(ah_server_listen(srv, "::1", 0), 0);
    ah_task *t = ah_spawn(server_task, srv);
    trace_log log = {{0}, 0, 0};
    ah_client_opts o = {.trace = record, .trace_arg = &log};
    ah_client *c = ah_client_new(&o);
    char url[64], host[64];
    snprintf(url, sizeof(url), "http://[::1]:%u/hello", ah_server_port(srv, 0));
    snprintf(host, sizeof(host), "Host: [::1]:%u\r\n", ah_server_port(srv, 0));
    expect_body(c, url, 200, "Hello, World!");
    ck_assert_ptr_nonnull(strstr(log.text, host));
    ah_client_close(c);
    ah_server_shutdown(srv, 0);
    ck_assert_int_eq(ah_join(t), 0);
    ah_server_free(srv);
    return 0;
}

START_TEST(test_ipv6_literal_urls)
{
    if (!ipv6_loopback_works())
        return; /* no IPv6 in this sandbox: nothing to test */
    run_main(main_ipv6);
}
END_TEST

/* A listener whose accept queue is full and never drained: further SYNs go unanswered. */
typedef struct black_hole {
    int listen_fd;
    uint16_t port;
    int filler[64];
    int nfill;
} black_hole;

static void black_hole_open(black_hole *bh)
{
    bh->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(bh->listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(bh->listen_fd, 0), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(bh->listen_fd, (struct sockaddr *)&sin, &len), 0);
    bh->port = ntohs(sin.sin_port);
    bh->nfill = 0;
    /* fill the backlog until a connect hangs */
    ah_tcp_connect_opts co = {.connect_timeout_ms = 100};
    while (bh->nfill < 64) {
        ah_stream *s;
        if (ah_tcp_connect("127.0.0.1", bh->port, &co, &s) < 0)
            break;
        bh->filler[bh->nfill++] = dup(ah_stream_fd(s));
        ah_stream_close(s);
    }
}

static void black_hole_close(black_hole *bh)
{
    while (bh->nfill)
        close(bh->filler[--bh->nfill]);
    close(bh->listen_fd);
}

static int main_connect_failures(void *arg)
{
    black_hole bh;
    black_hole_open(&bh);
    ah_client_opts o = {.connect_timeout_ms = 100};
    ah_client *c = ah_client_new(&o);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", bh.port);
    ah_client_error err;
    ah_client_request req = {.url = url, .error = &err};
    ah_client_response *r;
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ETIMEDOUT);
    ck_assert_int_eq(err.timeout, AH_CLIENT_TIMEOUT_CONNECT);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_CONNECT);
    ck_assert_ptr_nonnull(strstr(err.message, "connect timeout"));
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0);
    black_hole_close(&bh);

    /* refused: a port that was just free */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ntohs(sin.sin_port));
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ECONNREFUSED);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_CONNECT);
    ck_assert_ptr_nonnull(strstr(err.message, "refused"));

    /* a name that does not exist */
    req.url = "http://no-such-host.invalid/";
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_EDNS);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_DNS);
    ck_assert_ptr_nonnull(strstr(err.message, "no-such-host.invalid"));

    /* bad requests never reach the network */
    static const char *bad_urls[] = {"ftp://127.0.0.1/", "http:///x", "not a url", "http://a b/",
                                     "mailto:x@y"};
    for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
        req.url = bad_urls[i];
        ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_EINVAL);
        ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_REQUEST);
    }
    ah_client_header evil = {"X-Evil", "a\r\nInjected: yes"};
    ah_client_request bad = {
        .url = "http://127.0.0.1:1/", .headers = &evil, .nheaders = 1, .error = &err};
    ck_assert_int_eq(ah_client_fetch(c, &bad, &r), AH_EINVAL);
    ah_client_header noname = {"Bad Name", "x"};
    bad.headers = &noname;
    ck_assert_int_eq(ah_client_fetch(c, &bad, &r), AH_EINVAL);
    bad.headers = NULL;
    bad.nheaders = 0;
    bad.method = "GE T";
    ck_assert_int_eq(ah_client_fetch(c, &bad, &r), AH_EINVAL);
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.requests, 0);
    ah_client_close(c);
    return 0;
}

START_TEST(test_connect_timeout_refusal_dns_and_bad_requests_are_reported)
{
    run_main(main_connect_failures);
}
END_TEST

/* ---- redirects ---- */

static void client_redirects(world *w)
{
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    const char *data;
    size_t len;
    ah_client_header ct = {"Content-Type", "text/plain"};

    /* 303: POST becomes GET without its body */
    ah_client_request req = {.method = "POST",
                             .url = at(w->url, "/see-other"),
                             .headers = &ct,
                             .nheaders = 1,
                             .body = "payload",
                             .body_len = 7};
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), 0);
    ck_assert_int_eq(ah_client_response_status(r), 200);
    ck_assert_uint_eq(ah_client_response_history_count(r), 1);
    ck_assert_str_eq(ah_client_response_url(r), at(w->url, "/landing"));
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "GET 0 -");
    ah_client_response_free(r);

    /* 302 with POST: GET too (relative Location) */
    req.url = at(w->url, "/found");
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "GET 0 -");
    ah_client_response_free(r);

    /* 307 keeps POST and its body */
    req.url = at(w->url, "/temp");
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), 0);
    ck_assert_str_eq(ah_client_response_header(r, "X-Method"), "POST");
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "payload");
    ck_assert_str_eq(ah_client_response_url(r), at(w->url, "/echo"));
    ah_client_response_free(r);

    /* 308 too, and any method: PUT stays PUT */
    req.url = at(w->url, "/perm");
    req.method = "PUT";
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "PUT 7 text/plain");
    ah_client_response_free(r);

    /* a loop is stopped */
    ah_client_error err;
    ah_client_request loop = {.url = at(w->url, "/loop"), .error = &err};
    ck_assert_int_eq(ah_client_fetch(c, &loop, &r), AH_EREDIRECTS);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_REDIRECT);
    ck_assert_ptr_nonnull(strstr(err.message, "too many redirects"));
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1); /* every hop drained and reused the connection */
    loop.max_redirects = 3;
    uint64_t before = st.requests;
    ck_assert_int_eq(ah_client_fetch(c, &loop, &r), AH_EREDIRECTS);
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.requests - before, 4);
    /* or not followed at all */
    loop.max_redirects = -1;
    ck_assert_int_eq(ah_client_fetch(c, &loop, &r), 0);
    ck_assert_int_eq(ah_client_response_status(r), 302);
    ck_assert_str_eq(ah_client_response_header(r, "Location"), "/loop");
    ah_client_response_free(r);
    ah_client_close(c);

    /* credentials stay with their origin */
    c = ah_client_new(NULL);
    ah_client_header auth = {"Authorization", "Bearer secret"};
    ah_client_request cross = {.url = at(w->url, "/to-b"), .headers = &auth, .nheaders = 1};
    ck_assert_int_eq(ah_client_fetch(c, &cross, &r), 0);
    ck_assert_str_eq(ah_client_response_url(r), at(w->url2, "/auth-echo"));
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "none");
    ah_client_response_free(r);
    cross.url = at(w->url, "/to-a");
    ck_assert_int_eq(ah_client_fetch(c, &cross, &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "Bearer secret");
    ah_client_response_free(r);
    ah_client_close(c);

    /* max_redirects < 0 in the options: 3xx come back as they are */
    ah_client_opts o = {.max_redirects = -1};
    c = ah_client_new(&o);
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/see-other"), &r), 0);
    ck_assert_int_eq(ah_client_response_status(r), 303);
    ah_client_response_free(r);
    ah_client_close(c);
}

START_TEST(test_redirects_follow_rfc9110_rules) { run_world(client_redirects); }
END_TEST

/* ---- bodies ---- */

static void client_chunked(world *w)
{
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/chunked"), &r), 0);
    ck_assert_int_eq(ah_client_response_content_length(r), -1);
    ck_assert_ptr_null(ah_client_response_trailer(r, "X-Checksum")); /* not yet */
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "first part, second part, the end");
    ck_assert_str_eq(ah_client_response_trailer(r, "x-checksum"), "abc123");
    ah_client_response_free(r);
    expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);
}

START_TEST(test_chunked_response_with_trailers) { run_world(client_chunked); }
END_TEST

static int http10_close_delimited(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    return send_text(s, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello, world");
}

static int truncated_length(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    return send_text(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
}

static int truncated_chunked(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    return send_text(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
}

static int main_eof_bodies(void *arg)
{
    raw_server rs;
    raw_start(&rs, http10_close_delimited, NULL);
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    ck_assert_int_eq(ah_client_response_version(r), 10);
    ck_assert_int_eq(ah_client_response_content_length(r), -1);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "hello, world");
    ah_client_response_free(r);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0); /* ended by the close: not kept */
    ah_client_close(c);
    raw_stop(&rs);

    raw_start(&rs, truncated_length, NULL);
    c = ah_client_new(NULL);
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_ETRUNCATED);
    ck_assert_int_eq(ah_client_response_error(r)->phase, AH_CLIENT_PHASE_BODY);
    ck_assert_ptr_nonnull(strstr(ah_client_response_error(r)->message, "after 10 of 100"));
    ah_client_response_free(r);
    ah_client_close(c);
    raw_stop(&rs);

    raw_start(&rs, truncated_chunked, NULL);
    c = ah_client_new(NULL);
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    char buf[64];
    ck_assert_int_eq(ah_client_response_read(r, buf, sizeof(buf)), 5);
    ck_assert_int_eq(ah_client_response_read(r, buf, sizeof(buf)), AH_ETRUNCATED);
    ah_client_response_free(r);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_close_delimited_and_truncated_bodies) { run_main(main_eof_bodies); }
END_TEST

/* Bodiless responses on one connection: 1xx before the real answer, 304 and 204 that declare
 * a length, and HEAD. If any of them were read as having a body, the next would be garbled. */
static int bodiless(ah_stream *s, int index, void *arg)
{
    static const char *answers[] = {
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: \"v1\"\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n", /* to a HEAD */
        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone",
    };
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        if (read_request(s) <= 0 || send_text(s, answers[i]) < 0)
            return 0;
    }
    (void)read_request(s);
    return 0;
}

static int main_bodiless(void *arg)
{
    raw_server rs;
    raw_start(&rs, bodiless, NULL);
    ah_client_opts o = {.max_body = 8}; /* below the lengths declared by 304 and HEAD answers */
    ah_client *c = ah_client_new(&o);
    expect_body(c, at(rs.url, "/1"), 200, "hi");
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/2"), &r), 0);
    ck_assert_int_eq(ah_client_response_status(r), 304);
    ck_assert_int_eq(ah_client_response_content_length(r), 50);
    ck_assert_str_eq(ah_client_response_header(r, "ETag"), "\"v1\"");
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_uint_eq(len, 0);
    ah_client_response_free(r);
    expect_body(c, at(rs.url, "/3"), 204, "");
    ah_client_request head = {.method = "HEAD", .url = at(rs.url, "/4")};
    ck_assert_int_eq(ah_client_fetch(c, &head, &r), 0);
    ck_assert_int_eq(ah_client_response_content_length(r), 10000);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_uint_eq(len, 0);
    ah_client_response_free(r);
    expect_body(c, at(rs.url, "/5"), 200, "done");
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_head_1xx_204_304_have_no_body) { run_main(main_bodiless); }
END_TEST

static void client_head_and_status(world *w)
{
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    ah_client_request head = {.method = "HEAD", .url = at(w->url, "/hello")};
    ck_assert_int_eq(ah_client_fetch(c, &head, &r), 0);
    ck_assert_int_eq(ah_client_response_status(r), 200);
    ck_assert_int_eq(ah_client_response_content_length(r), 13);
    ah_client_response_free(r);
    expect_body(c, at(w->url, "/status/204"), 204, "");
    expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);
}

START_TEST(test_head_against_the_ahttp_server) { run_world(client_head_and_status); }
END_TEST

static const char *const malformed[] = {
    "HTTP/1.1 200 OK\nContent-Length: 0\n\n",                              /* bare LF */
    "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n",   /* obs-fold */
    "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",                       /* space, colon */
    "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",                       /* status */
    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", /* two lengths */
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",                  /* not a number */
    "FOO/1.1 200 OK\r\n\r\n",                                          /* not HTTP */
    "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",                        /* space in name */
    "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",                     /* a status of two digits */
    "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n", /* past INT64 (F1) */
    /* a bare CR (not followed by LF) anywhere in the head: llhttp 8.1.0 built lenient took the
     * first two as the end of the head and called on_body inside the head parse (a crash) */
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\rhello", /* instead of the empty line */
    "HTTP/1.1 200 OK\r\r\n\r\n",                       /* ending the status line */
    "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n",      /* instead of the status CRLF */
    "HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n",  /* inside the reason */
    "HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\nContent-Length: 0\r\n\r\n", /* inside a header */
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\r\n", /* before the empty line's LF */
    /* transfer codings the client does not decode */
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nxyz",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r", /* cut in head */
};
#define NMALFORMED (sizeof(malformed) / sizeof(malformed[0]))

static int send_malformed(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    if (index < (int)NMALFORMED)
        (void)send_text(s, malformed[index]);
    else
        (void)send_text(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"
                           "0\r\n\r\n");
    return 0;
}

static int main_malformed(void *arg)
{
    raw_server rs;
    raw_start(&rs, send_malformed, NULL);
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    ah_client_error err;
    ah_client_request req = {.url = at(rs.url, "/"), .error = &err};
    for (size_t i = 0; i < NMALFORMED; i++) {
        int rc = ah_client_fetch(c, &req, &r);
        int want = i == NMALFORMED - 1 ? AH_ETRUNCATED : AH_EPROTO_HTTP;
        ck_assert_msg(rc == want, "response %zu: %s (%s)", i, ah_strerror(rc), err.message);
        ck_assert_ptr_null(r);
        ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_HEADERS);
    }
    /* a malformed chunked body fails on reading */
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), 0);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_EPROTO_HTTP);
    ah_client_response_free(r);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0);
    ck_assert_uint_eq(st.retries, 0);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_malformed_responses_are_rejected) { run_main(main_malformed); }
END_TEST

/* A chunk, then a chunk-size line that is not hex: curl writes the chunk, then fails (56). */
static int chunk_then_garbage(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    (void)send_text(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n");
    (void)read_request(s); /* until the client goes */
    return 0;
}

static int main_chunk_then_garbage(void *arg)
{
    raw_server rs;
    raw_start(&rs, chunk_then_garbage, NULL);
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    char buf[64];
    /* the bytes decoded before the error come first, in the same read that met it */
    ck_assert_int_eq(ah_client_response_read(r, buf, sizeof(buf)), 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    ck_assert_int_eq(ah_client_response_error(r)->code, 0);
    ck_assert_uint_eq(ah_client_response_bytes_received(r), 5);
    /* then the error, sticky */
    ck_assert_int_eq(ah_client_response_read(r, buf, sizeof(buf)), AH_EPROTO_HTTP);
    const ah_client_error *e = ah_client_response_error(r);
    ck_assert_int_eq(e->code, AH_EPROTO_HTTP);
    ck_assert_int_eq(e->phase, AH_CLIENT_PHASE_BODY);
    ck_assert_str_eq(e->message, "malformed chunked body");
    ck_assert_int_eq(ah_client_response_read(r, buf, sizeof(buf)), AH_EPROTO_HTTP);
    ah_client_response_free(r);

    /* the whole body fails all the same */
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_EPROTO_HTTP);
    ah_client_response_free(r);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0); /* a broken framing ends the connection */
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_chunked_body_error_comes_after_the_bytes_decoded_before_it)
{
    run_main(main_chunk_then_garbage);
}
END_TEST

/* Chunked framing broken after good bytes (chunk data not followed by CRLF, a bare CR in a chunk
 * size line): the decoded bytes first, then AH_EPROTO_HTTP, as curl writes them and exits 56.
 * Before, llhttp (built without its strict mode) skipped any two bytes after chunk data. */
static const char *const bad_chunked[] = {
    "5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n",     /* the issue's: was read as "helloabc" */
    "5\r\nhello\rX0\r\n\r\n",                /* a bare CR after the data */
    "5\r\nhello\n0\r\n\r\n",                 /* a bare LF after the data */
    "5\r\nhello\r\n3\rabc\r\n0\r\n\r\n",     /* a bare CR ending a chunk size */
    "5\r\nhello\r\n\r3\r\nabc\r\n0\r\n\r\n", /* a bare CR before a chunk size */
    "5\r\nhello\r\n0\r\n\n",                 /* a bare LF ending the body (F2) */
    "5\r\nhello\r\n0\r\nX-T: 1\r\n\n",       /* the same after a trailer */
};
#define NBAD_CHUNKED (sizeof(bad_chunked) / sizeof(bad_chunked[0]))

static int send_bad_chunked(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    (void)send_text(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    (void)send_text(s, bad_chunked[index % NBAD_CHUNKED]);
    (void)read_request(s); /* until the client goes */
    return 0;
}

static int main_bad_chunked(void *arg)
{
    raw_server rs;
    raw_start(&rs, send_bad_chunked, NULL);
    ah_client *c = ah_client_new(NULL);
    for (size_t i = 0; i < NBAD_CHUNKED; i++) {
        ah_client_response *r;
        ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
        char buf[64];
        size_t got = 0;
        int n;
        while ((n = ah_client_response_read(r, buf + got, sizeof(buf) - got)) > 0)
            got += (size_t)n;
        ck_assert_msg(n == AH_EPROTO_HTTP, "body %zu: %s after %zu bytes", i, ah_strerror(n), got);
        ck_assert_msg(got == 5 && memcmp(buf, "hello", 5) == 0, "body %zu: %zu bytes first", i,
                      got);
        ck_assert_int_eq(ah_client_response_error(r)->phase, AH_CLIENT_PHASE_BODY);
        ah_client_response_free(r);
    }
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_chunked_framing_errors_come_after_the_good_bytes) { run_main(main_bad_chunked); }
END_TEST

/* ---- compression ---- */

static void client_compressed(world *w)
{
    ah_client *c = ah_client_new(NULL);
    static const char *paths[] = {"/gzip", "/deflate", "/rawdeflate"};
    for (size_t i = 0; i < 3; i++) {
        char *b = get_body(c, at(w->url, paths[i]), 200);
        ck_assert_msg(strcmp(b, text) == 0, "%s decoded wrongly", paths[i]);
        free(b);
        ck_assert_str_eq(g_accept_encoding, "gzip, deflate");
    }
    /* streaming in small reads */
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r), 0);
    ck_assert_str_eq(ah_client_response_header(r, "Content-Encoding"), "gzip");
    char *got = malloc(sizeof(text));
    size_t used = 0;
    int n;
    while ((n = ah_client_response_read(r, got + used, 100)) > 0) {
        used += (size_t)n;
        ck_assert_uint_lt(used, sizeof(text));
    }
    ck_assert_int_eq(n, 0);
    got[used] = '\0';
    ck_assert_str_eq(got, text);
    free(got);
    ah_client_response_free(r);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);

    /* decompression off: no Accept-Encoding, bytes as sent */
    ah_client_opts o = {.decompress = -1};
    c = ah_client_new(&o);
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r), 0);
    ck_assert_str_eq(g_accept_encoding, "none");
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_uint_eq((unsigned char)data[0], 0x1f);
    ck_assert_uint_eq((unsigned char)data[1], 0x8b);
    ah_client_response_free(r);
    ah_client_close(c);
}

START_TEST(test_gzip_and_deflate_bodies_are_decoded) { run_world(client_compressed); }
END_TEST

static void client_caps(world *w)
{
    ah_client_opts o = {.max_decompressed = 64 * 1024};
    ah_client *c = ah_client_new(&o);
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/bomb"), &r), 0);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(ah_client_response_error(r)->message, "decompressed"));
    ah_client_response_free(r);
    ah_client_close(c);

    ah_client_opts o2 = {.max_body = 1000};
    c = ah_client_new(&o2);
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/big"), &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_ETOOBIG);
    ah_client_response_free(r);
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r),
                     0); /* decoded size is what counts */
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_ETOOBIG);
    ah_client_response_free(r);
    ah_client_close(c);
}

START_TEST(test_decompression_and_body_caps) { run_world(client_caps); }
END_TEST

/* Two gzip members, "part one\n" and "part two\n", one after the other (RFC 1952 §2.2), sent
 * chunked in pieces of 10 bytes. */
static int two_gzip_members_chunked(ah_stream *s, int index, void *arg)
{
    size_t *sent = arg;
    if (read_request(s) <= 0)
        return 0;
    size_t n1, n2;
    unsigned char *m1 = compress_with("part one\n", 9, 31, &n1);
    unsigned char *m2 = compress_with("part two\n", 9, 31, &n2);
    unsigned char body[256];
    ck_assert_uint_le(n1 + n2, sizeof(body));
    memcpy(body, m1, n1);
    memcpy(body + n1, m2, n2);
    free(m1);
    free(m2);
    *sent = n1 + n2;
    char out[1024];
    size_t len = (size_t)snprintf(out, sizeof(out),
                                  "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n");
    for (size_t at_byte = 0; at_byte < n1 + n2; at_byte += 10) {
        size_t piece = n1 + n2 - at_byte < 10 ? n1 + n2 - at_byte : 10;
        len += (size_t)snprintf(out + len, sizeof(out) - len, "%zx\r\n", piece);
        memcpy(out + len, body + at_byte, piece);
        len += piece;
        len += (size_t)snprintf(out + len, sizeof(out) - len, "\r\n");
    }
    len += (size_t)snprintf(out + len, sizeof(out) - len, "0\r\n\r\n");
    ck_assert_uint_lt(len, sizeof(out));
    (void)!ah_stream_write(s, out, len);
    (void)read_request(s); /* until the client goes */
    return 0;
}

static void client_bytes_received(world *w)
{
    ck_assert_uint_eq(ah_client_response_bytes_received(NULL), 0);
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;

    /* gzip with a Content-Length: the count is the compressed length, reads give the text */
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r), 0);
    int64_t sent = ah_client_response_content_length(r);
    ck_assert_int_gt(sent, 0);
    ck_assert_int_lt(sent, (int64_t)strlen(text));
    ck_assert_uint_eq(ah_client_response_bytes_received(r), 0);
    char *got = malloc(sizeof(text));
    ck_assert_ptr_nonnull(got);
    size_t used = 0;
    int n;
    while ((n = ah_client_response_read(r, got + used, 100)) > 0) {
        used += (size_t)n;
        ck_assert_uint_lt(used, sizeof(text));
        ck_assert_uint_le(ah_client_response_bytes_received(r), (uint64_t)sent);
    }
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(used, strlen(text));
    ck_assert_int_eq(memcmp(got, text, used), 0);
    free(got);
    ck_assert_uint_eq(ah_client_response_bytes_received(r), (uint64_t)sent);
    ah_client_response_free(r);

    /* chunked: the chunk data counts, the framing and the trailer do not */
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/chunked"), &r), 0);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_uint_eq(len, strlen("first part, second part, the end"));
    ck_assert_uint_eq(ah_client_response_bytes_received(r), len);
    ah_client_response_free(r);

    /* two gzip members, chunked: 18 bytes of text from the compressed bytes sent */
    raw_server rs;
    size_t members_len = 0;
    raw_start(&rs, two_gzip_members_chunked, &members_len);
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "part one\npart two\n");
    ck_assert_uint_gt(members_len, len);
    ck_assert_uint_eq(ah_client_response_bytes_received(r), members_len);
    ah_client_response_free(r);
    ah_client_close(c);
    raw_stop(&rs);

    /* decoding off: what is read is what was received */
    ah_client_opts o = {.decompress = -1};
    c = ah_client_new(&o);
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_uint_eq(ah_client_response_bytes_received(r), len);
    ah_client_response_free(r);
    ah_client_close(c);
}

START_TEST(test_bytes_received_counts_the_body_as_sent_before_decoding)
{
    run_world(client_bytes_received);
}
END_TEST

/* ---- TLS ---- */

static void client_tls(world *w)
{
    ah_client_opts o = {.ca_file = cert("ca.pem")};
    ah_client *c = ah_client_new(&o);
    for (int i = 0; i < 3; i++)
        expect_body(c, at(w->tls_url, "/hello"), 200, "Hello, World!");
    char *b = get_body(c, at(w->tls_url, "/gzip"), 200);
    ck_assert_str_eq(b, text);
    free(b);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    /* plain and TLS to the same host are different pool entries */
    expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 2);
    ah_client_close(c); /* close_notify to the idle TLS connection */

    /* the system store alone does not know the test CA */
    c = ah_client_new(NULL);
    ah_client_error err;
    ah_client_request req = {.url = at(w->tls_url, "/hello"), .error = &err};
    ah_client_response *r;
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ETLS_VERIFY);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_TLS);
    ah_client_close(c);
    /* a CA file that does not exist */
    ah_client_opts missing = {.ca_file = "/nonexistent/ca.pem"};
    c = ah_client_new(&missing);
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ETLS);
    ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/ca.pem"));
    ah_client_close(c);
}

START_TEST(test_tls_with_verification) { run_world_tls(client_tls, "server.pem", "server.key"); }
END_TEST

static void client_tls_expired(world *w)
{
    ah_client_opts o = {.ca_file = cert("ca.pem")};
    ah_client *c = ah_client_new(&o);
    ah_client_error err;
    ah_client_request req = {.url = at(w->tls_url, "/hello"), .error = &err};
    ah_client_response *r;
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ETLS_VERIFY);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_TLS);
    ck_assert_msg(strstr(err.message, "expired") != NULL, "%s", err.message);
    ah_client_close(c);
    ah_client_opts insecure = {.insecure = 1};
    c = ah_client_new(&insecure);
    expect_body(c, at(w->tls_url, "/hello"), 200, "Hello, World!");
    ah_client_close(c);
}

START_TEST(test_tls_expired_certificate_fails_verification)
{
    run_world_tls(client_tls_expired, "expired.pem", "expired.key");
}
END_TEST

/* The first https:// request of a client loads the system trust store (~40 ms of parsing a few
 * hundred certificates here). That must not stall the loop: plain requests running meanwhile on
 * the same client keep their usual latency. */
typedef struct stall_probe {
    ah_client *c;
    const char *url;
    int https_done;
    int64_t https_ms; /* how long the https request took, trust store included */
    int64_t worst_ms; /* slowest plain request */
    int requests;
} stall_probe;

static int first_https(void *arg)
{
    stall_probe *p = arg;
    ah_client_error err;
    ah_client_request req = {.url = p->url, .error = &err};
    ah_client_response *r;
    /* No ca_file: the client loads the system store, which does not trust the test CA. */
    int64_t start = ah_now_ms();
    int rc = ah_client_fetch(p->c, &req, &r);
    p->https_ms = ah_check_elapsed(start);
    p->https_done = 1;
    ck_assert_msg(rc == AH_ETLS_VERIFY, "%s: %s", ah_strerror(rc), err.message);
    return 0;
}

static int plain_requests(void *arg)
{
    stall_probe *p = arg;
    const char *url = at(p->url, "/hello"); /* p->url is the plain origin for these */
    char mine[256];
    snprintf(mine, sizeof(mine), "%s", url);
    for (int i = 0; !p->https_done || i < 20; i++) {
        int64_t start = ah_now_ms();
        expect_body(p->c, mine, 200, "Hello, World!");
        int64_t took = ah_check_elapsed(start);
        if (took > p->worst_ms)
            p->worst_ms = took;
        p->requests++;
    }
    return 0;
}

static void client_https_first_use(world *w)
{
    ah_client *c = ah_client_new(NULL);
    stall_probe https = {.c = c, .url = at(w->tls_url, "/hello")};
    stall_probe plain[4];
    /* Connections to the plain origin exist before the measurement starts. */
    expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    ah_task *t[5];
    t[0] = ah_spawn(first_https, &https);
    for (int i = 0; i < 4; i++) {
        plain[i] = (stall_probe){.c = c, .url = w->url, .https_done = 0};
        t[i + 1] = ah_spawn(plain_requests, &plain[i]);
    }
    ck_assert_int_eq(ah_join(t[0]), 0);
    for (int i = 0; i < 4; i++)
        plain[i].https_done = 1;
    int64_t worst = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(ah_join(t[i + 1]), 0);
        if (plain[i].worst_ms > worst)
            worst = plain[i].worst_ms;
    }
    ah_client_close(c);
    fprintf(stderr,
            "plain requests while the first https one starts: worst %lld ms (https %lld ms)\n",
            (long long)worst, (long long)https.https_ms);
    /* Before the store was loaded off the loop, the slowest took 24-42 ms here (100 ms and more
     * under ASan, whose allocator slows OpenSSL down: so does its handshake, hence its bound),
     * about as long as the https request itself: the load sat on the loop. Now it stays under
     * 15 ms, or, on a machine busy with other work (make check -j2), where the load on the
     * pool thread slows down as well, under a third of the https request. Timing means
     * nothing under valgrind. */
    int64_t bound = UNDER_ASAN ? 45 : 15;
    if (!ah_check_slow())
        ck_assert_msg(worst < bound || worst * 3 < https.https_ms,
                      "a plain request took %lld ms while the https one took %lld ms",
                      (long long)worst, (long long)https.https_ms);
}

START_TEST(test_first_https_request_does_not_stall_other_requests)
{
    run_world_tls(client_https_first_use, "server.pem", "server.key");
}
END_TEST

/* ---- cookies ---- */

/* GET url with extra headers; expect 200 and return the body (malloc'd). */
static char *get_with(ah_client *c, const char *url, const ah_client_header *h, size_t n)
{
    ah_client_request req = {.url = url, .headers = h, .nheaders = n};
    ah_client_response *r;
    int rc = ah_client_fetch(c, &req, &r);
    ck_assert_msg(rc == 0, "GET %s: %s (%s)", url, ah_strerror(rc), ah_client_last_error(c));
    ck_assert_int_eq(ah_client_response_status(r), 200);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    char *copy = strndup(data, len);
    ah_client_response_free(r);
    return copy;
}

static void client_cookies(world *w)
{
    ah_cookie_jar *jar = ah_cookie_jar_new();
    ck_assert_ptr_nonnull(jar);
    ah_client_opts o = {.cookie_jar = jar};
    ah_client *c = ah_client_new(&o);
    expect_body(c, at(w->url, "/me"), 200, "none");
    expect_body(c, at(w->url, "/login"), 200, "logged in");
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 2);
    expect_body(c, at(w->url, "/me"), 200, "session=s3cr3t; theme=dark");
    /* cookies do not care about ports: the other listener of the same host gets them */
    expect_body(c, at(w->url2, "/me"), 200, "session=s3cr3t; theme=dark");
    /* the caller's own Cookie header and the jar's pairs go on one line */
    ah_client_header mine = {"Cookie", "mine=1"};
    char *b = get_with(c, at(w->url, "/me"), &mine, 1);
    ck_assert_str_eq(b, "mine=1; session=s3cr3t; theme=dark");
    free(b);
    /* another host name for the same server: host-only cookies stay home */
    char local[64];
    snprintf(local, sizeof(local), "http://localhost:%u/me", w->port);
    expect_body(c, local, 200, "none");
    /* the server deletes one */
    expect_body(c, at(w->url, "/logout"), 200, "bye");
    expect_body(c, at(w->url, "/me"), 200, "theme=dark");
    ah_client_close(c);

    /* a client without a jar neither sends nor keeps any */
    c = ah_client_new(NULL);
    expect_body(c, at(w->url, "/login"), 200, "logged in");
    expect_body(c, at(w->url, "/me"), 200, "none");
    ah_client_close(c);
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 1);
    ah_cookie_jar_free(jar);
}

START_TEST(test_cookies_set_on_login_are_sent_back) { run_world(client_cookies); }
END_TEST

static void client_cookies_redirects(world *w)
{
    ah_cookie_jar *jar = ah_cookie_jar_new();
    ck_assert_ptr_nonnull(jar);
    ah_client_opts o = {.cookie_jar = jar};
    ah_client *c = ah_client_new(&o);
    /* the 302 sets a cookie: the next hop already carries it */
    expect_body(c, at(w->url, "/set-and-redirect?to=/me"), 200, "hop=1");
    expect_body(c, at(w->url, "/login"), 200, "logged in");
    /* to another host: the jar's rules decide, not the previous hop's cookies */
    char where[160], url[200];
    snprintf(where, sizeof(where), "http://localhost:%u/me", w->port);
    char *enc = ah_url_encode(where, strlen(where), NULL);
    snprintf(url, sizeof(url), "%s/set-and-redirect?to=%s", w->url, enc);
    free(enc);
    expect_body(c, url, 200, "none");
    /* and back: a hop to 127.0.0.1 carries 127.0.0.1's cookies, the hop's cookie included */
    snprintf(where, sizeof(where), "http://127.0.0.1:%u/me", w->port);
    enc = ah_url_encode(where, strlen(where), NULL);
    snprintf(url, sizeof(url), "http://localhost:%u/set-and-redirect?to=%s", w->port, enc);
    free(enc);
    expect_body(c, url, 200, "hop=1; session=s3cr3t; theme=dark");
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 4); /* hop on both hosts, session, theme */
    /* a caller's Cookie header is for the first origin only; the jar's follow their rules */
    ah_client_header mine = {"Cookie", "mine=1"};
    char *b = get_with(c, url, &mine, 1);
    ck_assert_str_eq(b, "hop=1; session=s3cr3t; theme=dark");
    free(b);
    ah_client_close(c);
    ah_cookie_jar_free(jar);
}

START_TEST(test_cookies_follow_the_jar_across_redirects) { run_world(client_cookies_redirects); }
END_TEST

/* ---- proxies: a small forward proxy on loopback ---- */

typedef struct proxy_state {
    raw_server rs;
    const char *want_auth; /* the Proxy-Authorization a request must carry, or NULL */
    int refuse_connect;    /* answer every CONNECT with 407 */
    int requests;          /* absolute-form requests relayed */
    int connects;          /* tunnels opened */
    int rejected;          /* answered 407 */
    char last_line[512];   /* the last request line */
    char last_auth[256];   /* its Proxy-Authorization ("" if none) */
    char proxy_url[128];   /* "http://127.0.0.1:port" */
} proxy_state;

/* The value of header name in a head (after its first line) into out; 0 if absent. */
static int head_value(const char *head, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r' && p[2];
         p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, size, "%.*s", (int)strcspn(v, "\r\n"), v);
            return 1;
        }
    }
    return 0;
}

/* "host:port" or "[v6]:port" into host and port. */
static int split_authority(const char *a, char *host, size_t size, uint16_t *port)
{
    const char *colon = strrchr(a, ':');
    if (!colon)
        return -1;
    const char *h = a;
    size_t len = (size_t)(colon - a);
    if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
        h++;
        len -= 2;
    }
    snprintf(host, size, "%.*s", (int)len, h);
    *port = (uint16_t)atoi(colon + 1);
    return 0;
}

typedef struct pump_arg {
    ah_stream *from, *to;
} pump_arg;

/* Copy from -> to until the end, then end to's write side. */
static int pump(void *arg)
{
    pump_arg *p = arg;
    char buf[8192];
    for (;;) {
        int n = ah_stream_read(p->from, buf, sizeof(buf));
        if (n <= 0 || ah_stream_write(p->to, buf, (size_t)n) < 0)
            break;
    }
    (void)!ah_stream_shutdown_write(p->to);
    return 0;
}

/* Relay one response (framed by Content-Length) from origin to client. */
static int relay_response(ah_stream *origin, ah_stream *client)
{
    char head[4096], len_text[32];
    int n = ah_stream_read_until(origin, "\r\n\r\n", 4, head, sizeof(head) - 1);
    if (n <= 0)
        return -1;
    head[n] = '\0';
    long left = head_value(head, "Content-Length", len_text, sizeof(len_text)) ? atol(len_text) : 0;
    if (ah_stream_write(client, head, (size_t)n) < 0)
        return -1;
    char buf[4096];
    while (left > 0) {
        int got =
            ah_stream_read(origin, buf, left < (long)sizeof(buf) ? (size_t)left : sizeof(buf));
        if (got <= 0 || ah_stream_write(client, buf, (size_t)got) < 0)
            return -1;
        left -= got;
    }
    return 0;
}

static int proxy_conn(ah_stream *s, int index, void *arg)
{
    proxy_state *ps = arg;
    ah_stream *origin = NULL;
    char origin_key[300] = "";
    for (;;) {
        char head[4096];
        int n = ah_stream_read_until(s, "\r\n\r\n", 4, head, sizeof(head) - 1);
        if (n <= 0)
            break;
        head[n] = '\0';
        snprintf(ps->last_line, sizeof(ps->last_line), "%.*s", (int)strcspn(head, "\r\n"), head);
        head_value(head, "Proxy-Authorization", ps->last_auth, sizeof(ps->last_auth));
        char method[16], target[400];
        if (sscanf(head, "%15s %399s", method, target) != 2)
            break;
        int is_connect = strcmp(method, "CONNECT") == 0;
        if ((ps->want_auth && strcmp(ps->last_auth, ps->want_auth) != 0) ||
            (is_connect && ps->refuse_connect)) {
            ps->rejected++;
            if (send_text(s, "HTTP/1.1 407 Proxy Authentication Required\r\n"
                             "Proxy-Authenticate: Basic realm=\"test\"\r\n"
                             "Content-Length: 0\r\n\r\n") < 0)
                break;
            continue;
        }
        char host[300];
        uint16_t port;
        if (is_connect) {
            ah_stream *o;
            if (split_authority(target, host, sizeof(host), &port) < 0 ||
                ah_tcp_connect(host, port, NULL, &o) < 0) {
                (void)send_text(s, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
                break;
            }
            ps->connects++;
            if (send_text(s, "HTTP/1.1 200 Connection established\r\n\r\n") == 0) {
                pump_arg back = {o, s}, forth = {s, o};
                ah_task *t = ah_spawn(pump, &back);
                ck_assert_ptr_nonnull(t);
                pump(&forth);
                (void)!ah_join(t);
            }
            ah_stream_close(o);
            break;
        }
        /* absolute form: "GET http://host:port/path HTTP/1.1" */
        ah_url u;
        if (ah_url_parse(target, &u) < 0 || !ah_url_is_http(&u)) {
            ah_url_free(&u);
            (void)send_text(s, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            break;
        }
        char key[300];
        snprintf(key, sizeof(key), "%s:%u", u.host, (unsigned)u.port);
        if (!origin || strcmp(key, origin_key) != 0) {
            ah_stream_close(origin);
            origin = NULL;
            if (ah_tcp_connect(u.host, u.port, NULL, &origin) < 0) {
                ah_url_free(&u);
                (void)send_text(s, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
                break;
            }
            snprintf(origin_key, sizeof(origin_key), "%s", key);
        }
        ps->requests++;
        /* origin form to the origin, without the proxy's own headers */
        char out[6144]; /* a 4 KiB head, less the Proxy- lines, with a longer request line */
        char *path = ah_url_target(&u);
        ah_url_free(&u);
        int len = snprintf(out, sizeof(out), "%s %s HTTP/1.1\r\n", method, path);
        free(path);
        for (const char *p = strstr(head, "\r\n") + 2; *p && p[0] != '\r';) {
            size_t line = strcspn(p, "\r\n") + 2;
            if (strncasecmp(p, "Proxy-", 6) != 0)
                len += snprintf(out + len, sizeof(out) - (size_t)len, "%.*s", (int)line, p);
            p += line;
        }
        len += snprintf(out + len, sizeof(out) - (size_t)len, "\r\n");
        if (ah_stream_write(origin, out, (size_t)len) < 0 || relay_response(origin, s) < 0)
            break;
    }
    ah_stream_close(origin);
    return 0;
}

static void proxy_start(proxy_state *ps, const char *want_auth)
{
    memset(ps, 0, sizeof(*ps));
    raw_start(&ps->rs, proxy_conn, ps);
    ps->want_auth = want_auth;
    snprintf(ps->proxy_url, sizeof(ps->proxy_url), "http://127.0.0.1:%u", ps->rs.port);
}

/* A fetch of url through a client with these options: the status, or the error. */
static int status_via(const ah_client_opts *o, const char *url, ah_client_error *err)
{
    ah_client *c = ah_client_new(o);
    ck_assert_ptr_nonnull(c);
    ah_client_request req = {.url = url, .error = err};
    ah_client_response *r;
    int rc = ah_client_fetch(c, &req, &r);
    if (rc == 0) {
        rc = ah_client_response_status(r);
        const char *data;
        size_t len;
        ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
        ah_client_response_free(r);
    }
    ah_client_close(c);
    return rc;
}

static void client_http_proxy(world *w)
{
    proxy_state ps;
    proxy_start(&ps, "Basic dXNlcjpzM2NyZXQ="); /* user:s3cret */
    char with_creds[160];
    snprintf(with_creds, sizeof(with_creds), "http://user:s3cret@127.0.0.1:%u", ps.rs.port);
    ah_cookie_jar *jar = ah_cookie_jar_new();
    ah_client_opts o = {.proxy = with_creds, .cookie_jar = jar};
    ah_client *c = ah_client_new(&o);
    expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    ck_assert_int_eq(ps.requests, 1);
    char want[200];
    snprintf(want, sizeof(want), "GET http://127.0.0.1:%u/hello HTTP/1.1", w->port);
    ck_assert_str_eq(ps.last_line, want);
    ck_assert_str_eq(ps.last_auth, "Basic dXNlcjpzM2NyZXQ=");
    /* another origin, a query: the same connection to the proxy */
    expect_body(c, at(w->url2, "/hello?x=1&y=2"), 200, "Hello, World!");
    snprintf(want, sizeof(want), "GET http://127.0.0.1:%u/hello?x=1&y=2 HTTP/1.1", w->port2);
    ck_assert_str_eq(ps.last_line, want);
    /* cookies belong to the origin, proxy or not */
    expect_body(c, at(w->url, "/login"), 200, "logged in");
    expect_body(c, at(w->url, "/me"), 200, "session=s3cr3t; theme=dark");
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ck_assert_uint_eq(st.reused, 3);
    ck_assert_int_eq(ps.requests, 4);
    ck_assert_int_eq(ps.rs.conns, 1);
    ah_client_close(c);
    ah_cookie_jar_free(jar);

    /* without the credentials the proxy's 407 is the response */
    ah_client_error err;
    ah_client_opts bare = {.proxy = ps.proxy_url};
    ck_assert_int_eq(status_via(&bare, at(w->url, "/hello"), &err), 407);
    ck_assert_int_eq(ps.rejected, 1);
    ck_assert_str_eq(ps.last_auth, "");
    /* a user without a password: an empty one, as curl sends it */
    char user_only[96];
    snprintf(user_only, sizeof(user_only), "http://user@127.0.0.1:%u", ps.rs.port);
    bare.proxy = user_only;
    ck_assert_int_eq(status_via(&bare, at(w->url, "/hello"), &err), 407);
    ck_assert_str_eq(ps.last_auth, "Basic dXNlcjo="); /* "user:" */

    /* no_proxy: which hosts go direct */
    static const struct {
        const char *no_proxy, *host;
        int direct;
    } cases[] = {
        {"127.0.0.1", "127.0.0.1", 1},
        {"example.com, 127.0.0.1", "127.0.0.1", 1},
        {"*", "127.0.0.1", 1},
        {"127.0.0.0/8", "127.0.0.1", 1},
        {"10.0.0.0/8 ::1", "127.0.0.1", 0},
        {".0.0.1", "127.0.0.1", 0}, /* addresses are not suffixes */
        {"127.0.0.10", "127.0.0.1", 0},
        {"localhost", "localhost", 1},
        {"LOCALHOST.", "localhost", 1},
        {".localhost", "localhost", 1},
        {"ocalhost", "localhost", 0}, /* a suffix, but not at a dot */
        {"", "127.0.0.1", 0},
    };
    o = (ah_client_opts){.proxy = with_creds};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        o.no_proxy = cases[i].no_proxy;
        int before = ps.requests;
        char url[128];
        snprintf(url, sizeof(url), "http://%s:%u/hello", cases[i].host, w->port);
        ck_assert_int_eq(status_via(&o, url, &err), 200);
        ck_assert_msg((ps.requests == before) == cases[i].direct, "no_proxy \"%s\", host %s: %s",
                      cases[i].no_proxy, cases[i].host, cases[i].direct ? "proxied" : "direct");
    }

    /* the environment, when asked for */
    ah_client_opts env = {.use_env_proxy = 1};
    setenv("http_proxy", with_creds, 1);
    int before = ps.requests;
    ck_assert_int_eq(status_via(&env, at(w->url, "/hello"), &err), 200);
    ck_assert_int_eq(ps.requests, before + 1);
    ck_assert_int_eq(status_via(&(ah_client_opts){0}, at(w->url, "/hello"), &err), 200);
    ck_assert_int_eq(ps.requests, before + 1); /* not without use_env_proxy */
    setenv("no_proxy", "127.0.0.1", 1);
    ck_assert_int_eq(status_via(&env, at(w->url, "/hello"), &err), 200);
    ck_assert_int_eq(ps.requests, before + 1);
    env.no_proxy = "example.com"; /* the option wins over the environment */
    ck_assert_int_eq(status_via(&env, at(w->url, "/hello"), &err), 200);
    ck_assert_int_eq(ps.requests, before + 2);
    env.no_proxy = NULL;
    unsetenv("no_proxy");
    env.proxy = ""; /* no proxy at all, whatever the environment says */
    ck_assert_int_eq(status_via(&env, at(w->url, "/hello"), &err), 200);
    ck_assert_int_eq(ps.requests, before + 2);
    env.proxy = NULL;
    unsetenv("http_proxy");
    /* HTTP_PROXY, but not in a CGI program (httpoxy) */
    setenv("HTTP_PROXY", with_creds, 1);
    ck_assert_int_eq(status_via(&env, at(w->url, "/hello"), &err), 200);
    ck_assert_int_eq(ps.requests, before + 3);
    setenv("REQUEST_METHOD", "GET", 1);
    ck_assert_int_eq(status_via(&env, at(w->url, "/hello"), &err), 200);
    ck_assert_int_eq(ps.requests, before + 3);
    unsetenv("REQUEST_METHOD");
    unsetenv("HTTP_PROXY");
    /* a bad https_proxy fails https requests only */
    setenv("http_proxy", with_creds, 1);
    setenv("https_proxy", "https://127.0.0.1:1", 1);
    ck_assert_int_eq(status_via(&env, at(w->url, "/hello"), &err), 200);
    ck_assert_int_eq(ps.requests, before + 4);
    ck_assert_int_eq(status_via(&env, "https://127.0.0.1:1/", &err), AH_EINVAL);
    ck_assert_msg(strstr(err.message, "unsupported proxy scheme \"https\""), "%s", err.message);
    unsetenv("http_proxy");
    unsetenv("https_proxy");

    /* bad proxies fail every fetch, saying why */
    ah_client_opts bad = {.proxy = "socks5://127.0.0.1:1080"};
    ck_assert_int_eq(status_via(&bad, at(w->url, "/hello"), &err), AH_EINVAL);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_REQUEST);
    ck_assert_msg(strstr(err.message, "unsupported proxy scheme \"socks5\""), "%s", err.message);
    bad.proxy = "http://[::1";
    ck_assert_int_eq(status_via(&bad, at(w->url, "/hello"), &err), AH_EINVAL);
    ck_assert_msg(strstr(err.message, "bad proxy URL"), "%s", err.message);
    /* a proxy that is not there */
    raw_server gone;
    raw_start(&gone, close_after_one, NULL);
    char gone_url[64];
    snprintf(gone_url, sizeof(gone_url), "127.0.0.1:%u", gone.port); /* no scheme: http */
    raw_stop(&gone);
    bad.proxy = gone_url;
    ck_assert_int_eq(status_via(&bad, at(w->url, "/hello"), &err), AH_ECONNREFUSED);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_CONNECT);
    ck_assert_msg(strstr(err.message, "connection refused by proxy 127.0.0.1:"), "%s", err.message);
    raw_stop(&ps.rs);
}

START_TEST(test_http_through_a_proxy_in_absolute_form) { run_world(client_http_proxy); }
END_TEST

static void client_https_proxy(world *w)
{
    proxy_state ps;
    proxy_start(&ps, "Basic dXNlcjpzM2NyZXQ=");
    char with_creds[160];
    snprintf(with_creds, sizeof(with_creds), "http://user:s3cret@127.0.0.1:%u", ps.rs.port);
    ah_client_opts o = {.proxy = with_creds, .ca_file = cert("ca.pem")};
    ah_client *c = ah_client_new(&o);
    for (int i = 0; i < 2; i++)
        expect_body(c, at(w->tls_url, "/hello"), 200, "Hello, World!");
    char want[200];
    snprintf(want, sizeof(want), "CONNECT 127.0.0.1:%u HTTP/1.1", w->tls_port);
    ck_assert_str_eq(ps.last_line, want);
    ck_assert_str_eq(ps.last_auth, "Basic dXNlcjpzM2NyZXQ=");
    ck_assert_int_eq(ps.connects, 1); /* the tunnel is kept alive and reused */
    ck_assert_int_eq(ps.requests, 0);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.reused, 1);
    /* by name: SNI and the certificate check are with the origin, through the tunnel */
    char url[128];
    snprintf(url, sizeof(url), "https://localhost:%u/hello", w->tls_port);
    expect_body(c, url, 200, "Hello, World!");
    snprintf(want, sizeof(want), "CONNECT localhost:%u HTTP/1.1", w->tls_port);
    ck_assert_str_eq(ps.last_line, want);
    ck_assert_int_eq(ps.connects, 2);
    ah_client_close(c);

    /* the origin's certificate is verified end to end: unknown CA, no TLS */
    ah_client_error err;
    ah_client_opts no_ca = {.proxy = with_creds};
    ck_assert_int_eq(status_via(&no_ca, at(w->tls_url, "/hello"), &err), AH_ETLS_VERIFY);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_TLS);
    ck_assert_int_eq(ps.connects, 3);
    /* a proxy that refuses the tunnel */
    ah_client_opts bare = {.proxy = ps.proxy_url, .ca_file = cert("ca.pem")};
    ck_assert_int_eq(status_via(&bare, at(w->tls_url, "/hello"), &err), AH_ECONNREFUSED);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_CONNECT);
    ck_assert_msg(strstr(err.message, "proxy CONNECT refused: 407"), "%s", err.message);
    ck_assert_ptr_null(strstr(err.message, "s3cret"));
    ps.refuse_connect = 1;
    ck_assert_int_eq(status_via(&o, at(w->tls_url, "/hello"), &err), AH_ECONNREFUSED);
    ck_assert_msg(strstr(err.message, "proxy CONNECT refused: 407 Proxy Authentication Required"),
                  "%s", err.message);
    ck_assert_int_eq(ps.rejected, 2);
    ck_assert_int_eq(ps.connects, 3);
    /* no_proxy: straight to the origin */
    o.no_proxy = "127.0.0.1";
    ck_assert_int_eq(status_via(&o, at(w->tls_url, "/hello"), &err), 200);
    ck_assert_int_eq(ps.rejected, 2);
    /* https_proxy from the environment is for https only */
    ps.refuse_connect = 0;
    ah_client_opts env = {.use_env_proxy = 1, .ca_file = cert("ca.pem")};
    setenv("https_proxy", with_creds, 1);
    ck_assert_int_eq(status_via(&env, at(w->tls_url, "/hello"), &err), 200);
    ck_assert_int_eq(ps.connects, 4);
    ck_assert_int_eq(status_via(&env, at(w->url, "/hello"), &err), 200);
    ck_assert_int_eq(ps.requests, 0);
    unsetenv("https_proxy");
    raw_stop(&ps.rs);
}

/* A proxy whose answer to CONNECT is malformed: it goes through the same head scanner and
 * parser as any response (before, a hand-written status-line check let a bare LF through). */
static const char *const bad_connect_replies[] = {
    "HTTP/1.1 200 Connection established\n\n",    /* bare LF */
    "HTTP/1.1 200 Connection established\r\n\n",  /* bare LF ending the head */
    "HTTP/1.1 200 Connection established\r\n\rX", /* bare CR */
    "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n",    /* obs-fold */
    "HTTP/1.1 200 OK\r\nBad Name: a\r\n\r\n",     /* space in a field name */
    "HTTP/2 200\r\n\r\n",                         /* not HTTP/1.x */
    "HTTP/1.1 20 OK\r\n\r\n",                     /* not a status */
};
#define NBAD_CONNECT (sizeof(bad_connect_replies) / sizeof(bad_connect_replies[0]))

static int bad_connect_proxy(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    (void)send_text(s, bad_connect_replies[index % NBAD_CONNECT]);
    (void)read_request(s); /* until the client goes */
    return 0;
}

static int main_bad_connect_reply(void *arg)
{
    raw_server rs;
    raw_start(&rs, bad_connect_proxy, NULL);
    for (size_t i = 0; i < NBAD_CONNECT; i++) {
        ah_client_opts o = {.proxy = rs.url};
        ah_client *c = ah_client_new(&o);
        ah_client_response *r;
        ah_client_error err;
        ah_client_request req = {.url = "https://127.0.0.1:9/", .error = &err};
        int rc = ah_client_fetch(c, &req, &r);
        ck_assert_msg(rc == AH_EPROTO_HTTP, "reply %zu: %s (%s)", i, ah_strerror(rc), err.message);
        ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_CONNECT);
        ck_assert_msg(strstr(err.message, "malformed response to CONNECT"), "reply %zu: %s", i,
                      err.message);
        ah_client_close(c);
    }
    raw_stop(&rs);
    return 0;
}

START_TEST(test_malformed_connect_replies_are_rejected) { run_main(main_bad_connect_reply); }
END_TEST

/* The request head is built in a capped buffer: a caller's 300 KiB header is refused with
 * AH_ETOOBIG before anything is sent, not grown into memory without bound. */
static int main_huge_request_head(void *arg)
{
    raw_server rs;
    raw_start(&rs, close_after_one, NULL);
    ah_client *c = ah_client_new(NULL);
    size_t n = 300 * 1024;
    char *big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'v', n);
    big[n] = '\0';
    ah_client_header h = {"X-Big", big};
    ah_client_error err;
    ah_client_request req = {.url = at(rs.url, "/"), .headers = &h, .nheaders = 1, .error = &err};
    ah_client_response *r;
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_ETOOBIG);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_SEND);
    ck_assert_msg(strstr(err.message, "request head larger than"), "%s", err.message);
    /* the control: 4 KiB goes out, and is answered */
    big[4 * 1024] = 0;
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), 0);
    ck_assert_int_eq(ah_client_response_status(r), 200);
    ah_client_response_free(r);
    free(big);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_request_head_past_its_cap_is_etoobig) { run_main(main_huge_request_head); }
END_TEST

/* Freeing a response whose body has not all arrived never waits for it: the connection is
 * closed instead (it used to drain for up to 2 s). One whose rest is already here is kept. */
static int rest_already_sent(ah_stream *s, int index, void *arg)
{
    while (read_request(s) > 0)
        if (send_text(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789") < 0)
            break;
    return 0;
}

/* Bodiless answers read with _body: an empty string, terminated (fuzzing's F3: the buffer
 * was handed out unterminated). */
static int empty_bodies(ah_stream *s, int index, void *arg)
{
    static const char *const replies[] = {
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    };
    int i = 0;
    while (read_request(s) > 0)
        if (send_text(s, replies[i++ % 3]) < 0)
            break;
    return 0;
}

static int main_empty_bodies(void *arg)
{
    raw_server rs;
    raw_start(&rs, empty_bodies, NULL);
    ah_client *c = ah_client_new(NULL);
    for (int i = 0; i < 3; i++) {
        ah_client_response *r;
        ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
        const char *data = NULL;
        size_t len = 99;
        ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
        ck_assert_uint_eq(len, 0);
        ck_assert_ptr_nonnull(data);
        ck_assert_str_eq(data, "");
        ah_client_response_free(r);
    }
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_empty_bodies_are_empty_strings) { run_main(main_empty_bodies); }
END_TEST

static int main_free_never_waits(void *arg)
{
    raw_server rs;
    raw_start(&rs, stall_in_body, NULL);
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    int64_t start = ah_now_ms();
    ah_client_response_free(r); /* 90 of 100 body bytes never come */
    ck_assert_int_lt(ah_check_elapsed(start), 100);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0);
    ah_client_close(c);
    raw_stop(&rs);

    raw_start(&rs, rest_already_sent, NULL);
    c = ah_client_new(NULL);
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    ck_assert_int_eq(ah_sleep(20), 0); /* the body is in the socket by now */
    ah_client_response_free(r);
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    ah_client_response_free(r);
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made,
                      1); /* the unread body was dropped, the connection kept */
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_response_free_never_waits_for_the_body) { run_main(main_free_never_waits); }
END_TEST

START_TEST(test_https_through_a_proxy_tunnel)
{
    run_world_tls(client_https_proxy, "server.pem", "server.key");
}
END_TEST

/* ---- lifecycle ---- */

typedef struct waiter_job {
    ah_client *c;
    const char *url;
    int rc;
} waiter_job;

static int wait_then_fail(void *arg)
{
    waiter_job *j = arg;
    ah_client_response *r;
    j->rc = ah_client_get(j->c, j->url, &r);
    if (j->rc == 0)
        ah_client_response_free(r);
    return 0;
}

static void client_close_wakes_waiters(world *w)
{
    ah_client_opts o = {.max_per_host = 1};
    ah_client *c = ah_client_new(&o);
    ah_client_response *held;
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/big"), &held), 0); /* holds the only slot */
    waiter_job j = {c, at(w->url, "/hello"), 1};
    ah_task *t = ah_spawn(wait_then_fail, &j);
    ck_assert_int_eq(ah_sleep(20), 0);
    ah_client_close(c);
    ck_assert_int_eq(ah_join(t), 0);
    ck_assert_int_eq(j.rc, AH_ECLOSED);
    /* the held response still works, and frees the client with it */
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(held, &data, &len), 0);
    ck_assert_uint_eq(len, 5000);
    ah_client_response_free(held);
}

START_TEST(test_close_wakes_waiters_and_outlives_responses)
{
    run_world(client_close_wakes_waiters);
}
END_TEST

/* ---- pool statistics per host ---- */

/* The entry for 127.0.0.1:port in stats[0..n), which must be there once. */
static const ah_client_host_stats *host_entry(const ah_client_host_stats *stats, size_t n,
                                              uint16_t port)
{
    const ah_client_host_stats *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (stats[i].port == port) {
            ck_assert_ptr_null(found);
            found = &stats[i];
        }
    ck_assert_msg(found != NULL, "no pool entry for port %u", (unsigned)port);
    return found;
}

static void client_host_stats(world *w)
{
    ah_client_opts o = {.max_per_host = 2};
    ah_client *c = ah_client_new(&o);
    ah_client_host_stats hs[4];
    ck_assert_uint_eq(ah_client_get_host_stats(c, hs, 4), 0);
    ck_assert_uint_eq(ah_client_get_host_stats(NULL, hs, 4), 0);
    int64_t hold_ms = 400 * slow_factor();
    char path[64];
    snprintf(path, sizeof(path), "/sleep?ms=%lld", (long long)hold_ms);
    slow_job a = {c, at(w->url, path), 0}, b = {c, at(w->url2, path), 0};
    ah_group *g = ah_group_new();
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(ah_group_spawn(g, slow_fetch, &a), 0);
    ck_assert_int_eq(ah_group_spawn(g, slow_fetch, &b), 0);
    /* in flight: A's two slots are taken and two requests queue behind them; B has its one */
    size_t n = 0;
    const ah_client_host_stats *ha = NULL, *hb = NULL;
    int64_t start = ah_now_ms();
    for (;;) {
        ck_assert_int_eq(ah_sleep(5), 0);
        n = ah_client_get_host_stats(c, hs, 4);
        if (n == 2) {
            ha = host_entry(hs, n, w->port);
            hb = host_entry(hs, n, w->port2);
            if (ha->waiting == 2 && hb->open == 1)
                break;
        }
        ck_assert_msg(ah_now_ms() - start < hold_ms / 2, "the requests never queued (%zu hosts)",
                      n);
    }
    ck_assert_str_eq(ha->scheme, "http");
    ck_assert_str_eq(ha->host, "127.0.0.1");
    ck_assert_int_eq(ha->via, AH_CLIENT_VIA_DIRECT);
    ck_assert_str_eq(ha->proxy, "");
    ck_assert_uint_eq(ha->open, 2);
    ck_assert_uint_eq(ha->active, 2);
    ck_assert_uint_eq(ha->idle, 0);
    ck_assert_uint_eq(ha->waiting, 2);
    ck_assert_uint_eq(hb->open, 1);
    ck_assert_uint_eq(hb->active, 1);
    ck_assert_uint_eq(hb->waiting, 0);
    /* the per-host figures add up to the client's */
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 3);
    ck_assert_uint_eq(st.waiting, 2);
    /* a short array: the count is still every entry, and nothing past max is written */
    ah_client_host_stats one[2];
    memset(&one[1], 0x5a, sizeof(one[1]));
    ck_assert_uint_eq(ah_client_get_host_stats(c, one, 1), 2);
    ck_assert_uint_eq(one[0].open, one[0].port == w->port ? 2 : 1);
    ck_assert_uint_eq(one[1].open, (size_t)0x5a5a5a5a5a5a5a5aull);
    ck_assert_uint_eq(ah_client_get_host_stats(c, NULL, 0), 2);

    ck_assert_int_eq(ah_group_wait(g), 0);
    ah_group_free(g);
    ck_assert_int_eq(a.ok, 4);
    ck_assert_int_eq(b.ok, 1);
    /* done: everything kept alive, nothing in use or queued */
    n = ah_client_get_host_stats(c, hs, 4);
    ck_assert_uint_eq(n, 2);
    ha = host_entry(hs, n, w->port);
    hb = host_entry(hs, n, w->port2);
    ck_assert_uint_eq(ha->open, 2);
    ck_assert_uint_eq(ha->idle, 2);
    ck_assert_uint_eq(ha->active, 0);
    ck_assert_uint_eq(ha->waiting, 0);
    ck_assert_uint_eq(hb->open, 1);
    ck_assert_uint_eq(hb->idle, 1);
    ck_assert_uint_eq(hb->active, 0);
    ah_client_close(c);
}

START_TEST(test_host_stats_show_open_active_idle_and_waiting_per_host)
{
    run_world(client_host_stats);
}
END_TEST

/* Entries through a proxy: http:// origins share the proxy's; the proxy is named. */
static void client_host_stats_proxy(world *w)
{
    proxy_state ps;
    proxy_start(&ps, NULL);
    ah_client_opts o = {.proxy = ps.proxy_url};
    ah_client *c = ah_client_new(&o);
    expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    expect_body(c, at(w->url2, "/hello"), 200, "Hello, World!");
    ah_client_host_stats hs[2];
    ck_assert_uint_eq(ah_client_get_host_stats(c, hs, 2), 1);
    ck_assert_str_eq(hs[0].scheme, "http");
    ck_assert_str_eq(hs[0].host, "127.0.0.1");
    ck_assert_uint_eq(hs[0].port, ps.rs.port);
    ck_assert_int_eq(hs[0].via, AH_CLIENT_VIA_PROXY);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%u", ps.rs.port);
    ck_assert_str_eq(hs[0].proxy, want);
    ck_assert_uint_eq(hs[0].open, 1);
    ck_assert_uint_eq(hs[0].idle, 1);
    ck_assert_uint_eq(hs[0].active, 0);
    ah_client_close(c);
    raw_stop(&ps.rs);
}

START_TEST(test_host_stats_name_the_proxy) { run_world(client_host_stats_proxy); }
END_TEST

/* ---- read_line and redirect history ---- */

/* Serves, on one kept-alive connection, a few bodies made for reading by lines, and a chain of
 * redirects /r1 (301) -> /r2 (302, absolute Location) -> /final (200). */
static int lines_server(ah_stream *s, int index, void *arg)
{
    raw_server *rs = arg;
    char head[4096], out[512];
    for (;;) {
        int n = ah_stream_read_until(s, "\r\n\r\n", 4, head, sizeof(head) - 1);
        if (n <= 0)
            return 0;
        head[n] = '\0';
        const char *reply;
        if (strncmp(head, "GET /length ", 12) == 0) /* the last line without a newline */
            reply = "HTTP/1.1 200 OK\r\nContent-Length: 23\r\n\r\nalpha\r\nbeta\n\ngamma\nlast";
        else if (strncmp(head, "GET /chunked ", 13) == 0) /* chunks split the lines */
            reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "2\r\non\r\n6\r\ne\ntwo\n\r\n1\r\nt\r\n7\r\nhree\nfo\r\n3\r\nur\n\r\n0\r\n\r\n";
        else if (strncmp(head, "GET /long ", 10) == 0)
            reply = "HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n0123456789abcdefghij\nxy\n";
        else if (strncmp(head, "GET /r1 ", 8) == 0)
            reply =
                "HTTP/1.1 301 Moved Permanently\r\nLocation: /r2\r\nContent-Length: 5\r\n\r\nmoved";
        else if (strncmp(head, "GET /r2 ", 8) == 0) {
            snprintf(out, sizeof(out),
                     "HTTP/1.1 302 Found\r\nLocation: %s/final\r\nContent-Length: 0\r\n\r\n",
                     rs->url);
            reply = out;
        } else
            reply = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone";
        if (send_text(s, reply) < 0)
            return 0;
    }
}

/* Read every line of url with a buffer of size bytes, joined by '|' after each call. */
static void read_lines(ah_client *c, const char *url, size_t size, char *joined, size_t cap)
{
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, url, &r), 0);
    char buf[64];
    ck_assert_uint_le(size, sizeof(buf));
    joined[0] = '\0';
    int n;
    while ((n = ah_client_response_read_line(r, buf, size)) > 0) {
        ck_assert_uint_eq(strlen(buf), (size_t)n);
        ck_assert_uint_lt((size_t)n, size);
        strncat(joined, buf, cap - strlen(joined) - 1);
        strncat(joined, "|", cap - strlen(joined) - 1);
    }
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(ah_client_response_read_line(r, buf, size), 0); /* the end stays the end */
    ah_client_response_free(r);
}

static int main_read_line(void *arg)
{
    raw_server rs;
    raw_start(&rs, lines_server, &rs);
    ah_client *c = ah_client_new(NULL);
    char joined[256];

    /* a Content-Length body; the last line comes without its newline, CRLF stays */
    read_lines(c, at(rs.url, "/length"), 64, joined, sizeof(joined));
    ck_assert_str_eq(joined, "alpha\r\n|beta\n|\n|gamma\n|last|");

    /* a chunked body whose chunks split the lines */
    read_lines(c, at(rs.url, "/chunked"), 64, joined, sizeof(joined));
    ck_assert_str_eq(joined, "one\n|two\n|three\n|four\n|");

    /* a line longer than the buffer comes in pieces of size - 1 bytes, as with fgets */
    read_lines(c, at(rs.url, "/long"), 8, joined, sizeof(joined));
    ck_assert_str_eq(joined, "0123456|789abcd|efghij\n|xy\n|");
    read_lines(c, at(rs.url, "/long"), 2, joined, sizeof(joined));
    ck_assert_uint_eq(strlen(joined), 48); /* one byte at a time */

    /* a buffer without room for a byte is refused */
    ah_client_response *r;
    char buf[64];
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/long"), &r), 0);
    ck_assert_int_eq(ah_client_response_read_line(r, buf, 1), AH_EINVAL);
    ck_assert_int_eq(ah_client_response_read_line(NULL, buf, sizeof(buf)), AH_EINVAL);
    ah_client_response_free(r); /* drained: the connection is kept */

    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_read_line_over_length_and_chunked_bodies) { run_main(main_read_line); }
END_TEST

static int main_read_line_mixed(void *arg)
{
    raw_server rs;
    raw_start(&rs, lines_server, &rs);
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    char buf[64];
    const char *data;
    size_t len;

    /* read_line reads ahead: read gets the bytes after the line, nothing lost or repeated */
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/length"), &r), 0);
    ck_assert_int_eq(ah_client_response_read_line(r, buf, sizeof(buf)), 7);
    ck_assert_str_eq(buf, "alpha\r\n");
    ck_assert_int_eq(ah_client_response_read(r, buf, 3), 3);
    ck_assert_int_eq(memcmp(buf, "bet", 3), 0);
    ck_assert_int_eq(ah_client_response_read_line(r, buf, sizeof(buf)), 2);
    ck_assert_str_eq(buf, "a\n");
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "\ngamma\nlast");
    ck_assert_int_eq(ah_client_response_read_line(r, buf, sizeof(buf)), 0);
    ah_client_response_free(r);

    /* the same over chunks */
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/chunked"), &r), 0);
    ck_assert_int_eq(ah_client_response_read(r, buf, 1), 1);
    ck_assert_int_eq(buf[0], 'o');
    ck_assert_int_eq(ah_client_response_read_line(r, buf, sizeof(buf)), 3);
    ck_assert_str_eq(buf, "ne\n");
    ck_assert_int_eq(ah_client_response_read_line(r, buf, 3), 2);
    ck_assert_str_eq(buf, "tw");
    ck_assert_int_eq(ah_client_response_read(r, buf, 1), 1);
    ck_assert_int_eq(buf[0], 'o');
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "\nthree\nfour\n");
    ah_client_response_free(r);

    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_read_line_and_read_mix_without_losing_bytes) { run_main(main_read_line_mixed); }
END_TEST

/* 400 lines gzipped, longer than what read_line reads ahead at a time. */
static void client_read_line_gzip(world *w)
{
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r), 0);
    ck_assert_str_eq(ah_client_response_header(r, "Content-Encoding"), "gzip");
    char buf[128], want[64];
    int n, lines = 0;
    while ((n = ah_client_response_read_line(r, buf, sizeof(buf))) > 0) {
        snprintf(want, sizeof(want), "line %05d: the quick brown fox jumps over it\n", lines++);
        ck_assert_str_eq(buf, want);
    }
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(lines, TEXT_REPEAT);
    ah_client_response_free(r);
    ah_client_close(c);
}

START_TEST(test_read_line_over_a_gzip_body) { run_world(client_read_line_gzip); }
END_TEST

static int main_history(void *arg)
{
    raw_server rs;
    raw_start(&rs, lines_server, &rs);
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    int status;
    const char *url, *location;

    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/r1"), &r), 0);
    ck_assert_int_eq(ah_client_response_status(r), 200);
    ck_assert_str_eq(ah_client_response_url(r), at(rs.url, "/final"));
    ck_assert_uint_eq(ah_client_response_history_count(r), 2);
    ck_assert_uint_eq(ah_client_response_history_count(r), 2);
    ck_assert_int_eq(ah_client_response_history_at(r, 0, &status, &url, &location), 0);
    ck_assert_int_eq(status, 301);
    ck_assert_str_eq(url, at(rs.url, "/r1"));
    ck_assert_str_eq(location, "/r2");
    ck_assert_int_eq(ah_client_response_history_at(r, 1, &status, &url, &location), 0);
    ck_assert_int_eq(status, 302);
    ck_assert_str_eq(url, at(rs.url, "/r2"));
    ck_assert_str_eq(location, at(rs.url, "/final"));
    ck_assert_int_eq(ah_client_response_history_at(r, 1, NULL, NULL, NULL), 0);
    ck_assert_int_eq(ah_client_response_history_at(r, 2, &status, &url, &location), AH_EINVAL);
    ah_client_response_free(r);

    /* no redirect: no history */
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/final"), &r), 0);
    ck_assert_uint_eq(ah_client_response_history_count(r), 0);
    ck_assert_int_eq(ah_client_response_history_at(r, 0, &status, NULL, NULL), AH_EINVAL);
    ah_client_response_free(r);

    /* redirects not followed: the 3xx is the response, with no history */
    ah_client_request req = {.url = at(rs.url, "/r1"), .max_redirects = -1};
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), 0);
    ck_assert_int_eq(ah_client_response_status(r), 301);
    ck_assert_uint_eq(ah_client_response_history_count(r), 0);
    ah_client_response_free(r);

    /* a chain cut short by max_redirects frees the hop it had followed (valgrind checks) */
    req.max_redirects = 0;
    ah_client_opts o = {.max_redirects = 1};
    ah_client *c1 = ah_client_new(&o);
    ah_client_error err;
    req.error = &err;
    ck_assert_int_eq(ah_client_fetch(c1, &req, &r), AH_EREDIRECTS);
    ck_assert_ptr_null(r);
    ah_client_close(c1);

    ck_assert_uint_eq(ah_client_response_history_count(NULL), 0);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_redirect_history_lists_each_hop) { run_main(main_history); }
END_TEST

/* ---- request bodies from a file, and Expect: 100-continue ---- */

/* What the upload servers saw, across their connections. */
typedef struct upload_seen {
    int requests;
    int expect_heads;      /* heads carrying Expect: 100-continue */
    int early_bytes;       /* heads followed by body bytes before the go-ahead */
    int64_t refused_bytes; /* body bytes that came after a refusal (417) */
    int conns_done;        /* connections ended */
    int64_t last_length;   /* the Content-Length of the last request (-1: none) */
    uint64_t last_hash;    /* and the FNV-1a hash of its body */
    char last_method[16];
    char last_path[64];
} upload_seen;

/* The raw server's connection tasks write into an upload_seen on the test's stack: before it
 * goes (and before raw_stop), wait (bounded) until every connection they took has ended. */
static void uploads_end(const raw_server *rs, const upload_seen *seen)
{
    for (int i = 0; i < 400 && seen->conns_done < rs->conns; i++)
        (void)!ah_sleep(5);
    ck_assert_int_eq(seen->conns_done, rs->conns);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

#define FNV_START 14695981039346656037ULL

/* Read a request head, noting its method, path, Content-Length and Expect. > 0, or <= 0 when the
 * client went away. */
static int upload_head(ah_stream *s, upload_seen *seen)
{
    char head[8192];
    int n = ah_stream_read_until(s, "\r\n\r\n", 4, head, sizeof(head) - 1);
    if (n <= 0)
        return n;
    head[n] = '\0';
    seen->requests++;
    sscanf(head, "%15s %63s", seen->last_method, seen->last_path);
    const char *cl = strcasestr(head, "\r\nContent-Length:");
    seen->last_length = cl ? strtoll(cl + 17, NULL, 10) : -1;
    if (strcasestr(head, "\r\nExpect: 100-continue\r\n"))
        seen->expect_heads++;
    return n;
}

/* Read the body the head announced, hashing it. 0, or < 0. */
static int upload_body(ah_stream *s, upload_seen *seen)
{
    static char buf[64 * 1024];
    uint64_t h = FNV_START;
    for (int64_t left = seen->last_length > 0 ? seen->last_length : 0; left > 0;) {
        int n = ah_stream_read(s, buf, left < (int64_t)sizeof(buf) ? (size_t)left : sizeof(buf));
        if (n <= 0)
            return n < 0 ? n : AH_EEOF;
        h = fnv1a(h, buf, (size_t)n);
        left -= n;
    }
    seen->last_hash = h;
    return 0;
}

/* "<length> <hash>" of what came, as the response body. */
static int upload_answer(ah_stream *s, const upload_seen *seen)
{
    char body[64], resp[160];
    int n = snprintf(body, sizeof(body), "%lld %016llx", (long long)seen->last_length,
                     (unsigned long long)seen->last_hash);
    snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", n, body);
    return send_text(s, resp);
}

/* Takes uploads and says what it got; /from is redirected to /to with 307, /see with 303. */
static int upload_server(ah_stream *s, int index, void *arg)
{
    upload_seen *seen = arg;
    while (upload_head(s, seen) > 0) {
        if (upload_body(s, seen) < 0)
            break;
        int rc;
        if (strcmp(seen->last_path, "/from") == 0)
            rc = send_text(s, "HTTP/1.1 307 Temporary Redirect\r\nLocation: /to\r\n"
                              "Content-Length: 0\r\n\r\n");
        else if (strcmp(seen->last_path, "/see") == 0)
            rc = send_text(s, "HTTP/1.1 303 See Other\r\nLocation: /to\r\n"
                              "Content-Length: 0\r\n\r\n");
        else
            rc = upload_answer(s, seen);
        if (rc < 0)
            break;
    }
    seen->conns_done++;
    return 0;
}

/* A temporary file of len pseudo-random bytes; its path in path (room for 64), its hash in
 * *hash. */
static void make_body_file(char *path, size_t len, uint64_t *hash)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, 64, "%.40s/ahttp-body-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    static unsigned char block[64 * 1024];
    uint32_t x = 2463534242u;
    *hash = FNV_START;
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof(block) ? len - done : sizeof(block);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            block[i] = (unsigned char)x;
        }
        ck_assert_int_eq(write(fd, block, n), (ssize_t)n);
        *hash = fnv1a(*hash, block, n);
        done += n;
    }
    close(fd);
}

/* fetch req and return the response body (malloc'd), checking the status. */
static char *fetch_body(ah_client *c, ah_client_request *req, int status)
{
    ah_client_response *r;
    int rc = ah_client_fetch(c, req, &r);
    ck_assert_msg(rc == 0, "%s %s: %s (%s)", req->method, req->url, ah_strerror(rc),
                  ah_client_last_error(c));
    ck_assert_int_eq(ah_client_response_status(r), status);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    char *copy = strndup(data, len);
    ah_client_response_free(r);
    return copy;
}

#define FILE_BODY_LEN (3 * 1024 * 1024 + 12345)

static int main_file_body(void *arg)
{
    char path[64], want[64];
    uint64_t hash;
    make_body_file(path, FILE_BODY_LEN, &hash);
    snprintf(want, sizeof(want), "%d %016llx", FILE_BODY_LEN, (unsigned long long)hash);
    upload_seen seen = {0};
    raw_server rs;
    raw_start(&rs, upload_server, &seen);
    ah_client *c = ah_client_new(NULL);
    const char *methods[] = {"PUT", "POST"};
    for (int i = 0; i < 2; i++) {
        ah_client_request req = {.method = methods[i], .url = at(rs.url, "/up"), .body_file = path};
        char *got = fetch_body(c, &req, 200);
        ck_assert_str_eq(got, want); /* Content-Length and every byte */
        ck_assert_str_eq(seen.last_method, methods[i]);
        free(got);
    }
    ck_assert_int_eq(seen.expect_heads, 0); /* off by default */

    /* 307 keeps the method and the body: the file goes again, whole */
    seen.requests = 0;
    ah_client_request req = {.method = "POST", .url = at(rs.url, "/from"), .body_file = path};
    char *got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, want);
    free(got);
    ck_assert_int_eq(seen.requests, 2);
    ck_assert_str_eq(seen.last_path, "/to");
    ck_assert_str_eq(seen.last_method, "POST");

    /* 303 turns it into a GET without a body */
    req.url = at(rs.url, "/see");
    got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, "-1 cbf29ce484222325"); /* no Content-Length, no bytes */
    free(got);
    ck_assert_str_eq(seen.last_method, "GET");

    /* an empty file is an empty body */
    char empty[64];
    uint64_t empty_hash;
    make_body_file(empty, 0, &empty_hash);
    req = (ah_client_request){.method = "PUT", .url = at(rs.url, "/up"), .body_file = empty};
    got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, "0 cbf29ce484222325");
    free(got);
    unlink(empty);
    ah_client_close(c);
    uploads_end(&rs, &seen);
    raw_stop(&rs);
    unlink(path);
    return 0;
}

START_TEST(test_body_from_a_file_is_sent_with_its_length_and_again_after_307)
{
    run_main(main_file_body);
}
END_TEST

static int main_missing_file(void *arg)
{
    upload_seen seen = {0};
    raw_server rs;
    raw_start(&rs, upload_server, &seen);
    ah_client *c = ah_client_new(NULL);
    ah_client_error err;
    ah_client_response *r;
    ah_client_request req = {.method = "PUT",
                             .url = at(rs.url, "/up"),
                             .body_file = "/nonexistent/ahttp-no-such-file",
                             .error = &err};
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), -ENOENT);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_REQUEST);
    ck_assert_msg(strstr(err.message, "cannot open the request body file") &&
                      strstr(err.message, "ahttp-no-such-file"),
                  "%s", err.message);
    /* a directory has no size to announce */
    req.body_file = "/";
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), -EISDIR);
    /* a body and a file at once */
    req.body = "x";
    req.body_len = 1;
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_EINVAL);
    ck_assert_int_eq(ah_sleep(20), 0);
    ck_assert_int_eq(rs.conns, 0); /* nothing was connected, let alone sent */
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 0);
    ah_client_close(c);
    uploads_end(&rs, &seen);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_missing_body_file_fails_before_connecting) { run_main(main_missing_file); }
END_TEST

/* Cuts the upload's file short as soon as the head is in, then reads what comes. */
static int truncating_server(ah_stream *s, int index, void *arg)
{
    const char *path = arg;
    if (read_request(s) > 0) {
        ck_assert_int_eq(truncate(path, 1000), 0);
        char buf[4096];
        while (ah_stream_read(s, buf, sizeof(buf)) > 0)
            ;
    }
    return 0;
}

static int main_file_changes(void *arg)
{
    char path[64];
    uint64_t hash;
    make_body_file(path, FILE_BODY_LEN, &hash);
    raw_server rs;
    raw_start(&rs, truncating_server, path);
    ah_client *c = ah_client_new(NULL);
    ah_client_error err;
    ah_client_response *r;
    ah_client_request req = {
        .method = "PUT", .url = at(rs.url, "/up"), .body_file = path, .error = &err};
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), -EIO);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_SEND);
    ck_assert_msg(strstr(err.message, "changed size while being sent"), "%s", err.message);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0); /* the short body's connection is closed */
    ah_client_close(c);
    raw_stop(&rs);
    unlink(path);
    return 0;
}

START_TEST(test_body_file_that_changes_size_fails_the_fetch) { run_main(main_file_changes); }
END_TEST

/* Says "100 Continue" after a pause (checking that no body came before it), then takes the body. */
static int continue_server(ah_stream *s, int index, void *arg)
{
    upload_seen *seen = arg;
    while (upload_head(s, seen) > 0) {
        ck_assert_int_eq(ah_sleep(50), 0);
        const char *data;
        char byte;
        if (ah_stream_buffered(s, &data) > 0 ||
            recv(ah_stream_fd(s), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
            seen->early_bytes++;
        if (send_text(s, "HTTP/1.1 100 Continue\r\n\r\n") < 0 || upload_body(s, seen) < 0 ||
            upload_answer(s, seen) < 0)
            break;
    }
    seen->conns_done++;
    return 0;
}

/* Refuses at once with 417, then counts the body bytes that still come until the client
 * closes (or a second passes). */
static int refusing_server(ah_stream *s, int index, void *arg)
{
    upload_seen *seen = arg;
    if (upload_head(s, seen) > 0 &&
        send_text(s, "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 4\r\n\r\nnope") == 0 &&
        ah_deadline_push(1000) == 0) {
        char buf[4096];
        int n;
        while ((n = ah_stream_read(s, buf, sizeof(buf))) > 0)
            seen->refused_bytes += n;
        ah_deadline_pop();
    }
    seen->conns_done++;
    return 0;
}

/* Says nothing until the body has come (a server that does not know the expectation). */
static int silent_server(ah_stream *s, int index, void *arg)
{
    upload_seen *seen = arg;
    while (upload_head(s, seen) > 0)
        if (upload_body(s, seen) < 0 || upload_answer(s, seen) < 0)
            break;
    seen->conns_done++;
    return 0;
}

static char *big_body(size_t len)
{
    char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (char)('a' + i % 26);
    return b;
}

static int main_expect_continue(void *arg)
{
    enum { LEN = 200 * 1000 };
    char *body = big_body(LEN);
    char want[64];
    snprintf(want, sizeof(want), "%d %016llx", LEN,
             (unsigned long long)fnv1a(FNV_START, body, LEN));

    /* 100 Continue: the body follows it, the connection stays for the next request */
    upload_seen seen = {0};
    raw_server rs;
    raw_start(&rs, continue_server, &seen);
    ah_client_opts o = {.expect_timeout_ms = 5000};
    ah_client *c = ah_client_new(&o);
    ah_client_request req = {.method = "POST",
                             .url = at(rs.url, "/up"),
                             .body = body,
                             .body_len = LEN,
                             .expect_continue = 1};
    int64_t t0 = ah_now_ms();
    char *got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, want);
    free(got);
    ck_assert_int_lt(ah_now_ms() - t0, 2000); /* the 100 let it go, not the timeout */
    ck_assert_int_eq(seen.expect_heads, 1);
    ck_assert_int_eq(seen.early_bytes, 0);
    /* a file body waits the same way */
    char path[64], fwant[64];
    uint64_t hash;
    make_body_file(path, 300 * 1000, &hash);
    snprintf(fwant, sizeof(fwant), "%d %016llx", 300 * 1000, (unsigned long long)hash);
    req = (ah_client_request){
        .method = "PUT", .url = at(rs.url, "/up"), .body_file = path, .expect_continue = 1};
    got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, fwant);
    free(got);
    unlink(path);
    ck_assert_int_eq(seen.expect_heads, 2);
    ck_assert_int_eq(seen.early_bytes, 0);
    ck_assert_int_eq(rs.conns, 1); /* kept alive across the interim response */
    /* no body, no expectation */
    req = (ah_client_request){.method = "GET", .url = at(rs.url, "/up"), .expect_continue = 1};
    got = fetch_body(c, &req, 200);
    free(got);
    ck_assert_int_eq(seen.expect_heads, 2);
    ah_client_close(c);
    uploads_end(&rs, &seen);
    raw_stop(&rs);

    /* 417 at once: that is the answer, no body byte is sent, the connection is not kept (each
     * server has its own record: the last one's connection tasks may still be ending) */
    upload_seen refused = {0};
    raw_start(&rs, refusing_server, &refused);
    c = ah_client_new(&o);
    req = (ah_client_request){.method = "PUT",
                              .url = at(rs.url, "/up"),
                              .body = body,
                              .body_len = LEN,
                              .expect_continue = 1};
    got = fetch_body(c, &req, 417);
    ck_assert_str_eq(got, "nope");
    free(got);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0);
    for (int i = 0; i < 200 && !refused.conns_done; i++)
        ck_assert_int_eq(ah_sleep(10), 0);
    ck_assert_int_eq(refused.conns_done, 1);
    ck_assert_int_eq(refused.expect_heads, 1);
    ck_assert_int_eq(refused.refused_bytes, 0);
    ah_client_close(c);
    uploads_end(&rs, &refused);
    raw_stop(&rs);

    /* no answer: the body goes after expect_timeout_ms */
    upload_seen silent = {0};
    raw_start(&rs, silent_server, &silent);
    o.expect_timeout_ms = 200;
    c = ah_client_new(&o);
    req = (ah_client_request){.method = "POST",
                              .url = at(rs.url, "/up"),
                              .body = body,
                              .body_len = LEN,
                              .expect_continue = 1};
    t0 = ah_now_ms();
    got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, want);
    free(got);
    ck_assert_int_ge(ah_now_ms() - t0, 180);
    ck_assert_int_eq(silent.expect_heads, 1);
    ah_client_close(c);
    uploads_end(&rs, &silent);
    raw_stop(&rs);
    free(body);
    return 0;
}

START_TEST(test_expect_continue_waits_for_100_and_withholds_the_body_on_refusal)
{
    run_main(main_expect_continue);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("basics");
    tcase_add_test(tc, test_get_and_post_round_trip);
    tcase_add_test(tc, test_userinfo_becomes_basic_auth);
    tcase_add_test(tc, test_chunked_upload_from_a_producer);
    tcase_add_test(tc, test_head_against_the_ahttp_server);
    tcase_add_test(tc, test_trace_shows_heads_and_events);
    tcase_add_test(tc, test_ipv6_literal_urls);
    suite_add_tcase(s, tc);
    tc = tcase_create("pool");
    tcase_add_test(tc, test_keepalive_reuses_one_connection);
    tcase_add_test(tc, test_per_host_limit_caps_requests_in_flight);
    tcase_add_test(tc, test_total_limit_holds_across_hosts);
    tcase_add_test(tc, test_thousand_concurrent_requests_share_the_pool);
    tcase_add_test(tc, test_pool_wait_times_out);
    tcase_add_test(tc, test_idle_connections_are_closed_after_the_idle_timeout);
    tcase_add_test(tc, test_idle_connection_closed_by_server_is_not_reused);
    tcase_add_test(tc, test_stale_connection_is_retried_once_for_idempotent_requests);
    tcase_add_test(tc, test_stale_tls_connections_are_replaced_too);
    tcase_add_test(tc, test_close_wakes_waiters_and_outlives_responses);
    suite_add_tcase(s, tc);
    tc = tcase_create("failures");
    tcase_add_test(tc, test_each_timeout_reports_which_fired);
    tcase_add_test(tc, test_cancelled_fetches_give_back_their_slots);
    tcase_add_test(tc, test_connect_timeout_refusal_dns_and_bad_requests_are_reported);
    tcase_add_test(tc, test_malformed_responses_are_rejected);
    tcase_add_test(tc, test_chunked_framing_errors_come_after_the_good_bytes);
    tcase_add_test(tc, test_chunked_body_error_comes_after_the_bytes_decoded_before_it);
    suite_add_tcase(s, tc);
    tc = tcase_create("redirects");
    tcase_add_test(tc, test_redirects_follow_rfc9110_rules);
    suite_add_tcase(s, tc);
    tc = tcase_create("bodies");
    tcase_add_test(tc, test_chunked_response_with_trailers);
    tcase_add_test(tc, test_close_delimited_and_truncated_bodies);
    tcase_add_test(tc, test_head_1xx_204_304_have_no_body);
    tcase_add_test(tc, test_gzip_and_deflate_bodies_are_decoded);
    tcase_add_test(tc, test_decompression_and_body_caps);
    tcase_add_test(tc, test_bytes_received_counts_the_body_as_sent_before_decoding);
    tcase_add_test(tc, test_body_from_a_file_is_sent_with_its_length_and_again_after_307);
    tcase_add_test(tc, test_missing_body_file_fails_before_connecting);
    tcase_add_test(tc, test_body_file_that_changes_size_fails_the_fetch);
    tcase_add_test(tc, test_expect_continue_waits_for_100_and_withholds_the_body_on_refusal);
    suite_add_tcase(s, tc);
    tc = tcase_create("tls");
    tcase_add_test(tc, test_tls_with_verification);
    tcase_add_test(tc, test_tls_expired_certificate_fails_verification);
    tcase_add_test(tc, test_first_https_request_does_not_stall_other_requests);
    suite_add_tcase(s, tc);
    tc = tcase_create("cookies");
    tcase_add_test(tc, test_cookies_set_on_login_are_sent_back);
    tcase_add_test(tc, test_cookies_follow_the_jar_across_redirects);
    suite_add_tcase(s, tc);
    tc = tcase_create("proxy");
    tcase_add_test(tc, test_http_through_a_proxy_in_absolute_form);
    tcase_add_test(tc, test_https_through_a_proxy_tunnel);
    tcase_add_test(tc, test_malformed_connect_replies_are_rejected);
    tcase_add_test(tc, test_request_head_past_its_cap_is_etoobig);
    tcase_add_test(tc, test_response_free_never_waits_for_the_body);
    tcase_add_test(tc, test_empty_bodies_are_empty_strings);
    suite_add_tcase(s, tc);
    tc = tcase_create("host stats");
    tcase_add_test(tc, test_host_stats_show_open_active_idle_and_waiting_per_host);
    tcase_add_test(tc, test_host_stats_name_the_proxy);
    suite_add_tcase(s, tc);
    tc = tcase_create("lines and history");
    tcase_add_test(tc, test_read_line_over_length_and_chunked_bodies);
    tcase_add_test(tc, test_read_line_and_read_mix_without_losing_bytes);
    tcase_add_test(tc, test_read_line_over_a_gzip_body);
    tcase_add_test(tc, test_redirect_history_lists_each_hop);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* No test here may send a query to the system's name servers: with an unreadable
     * resolv.conf the resolver has none, names in /etc/hosts (localhost) still resolve, and any
     * other name fails at once with AH_EDNS. */
    setenv("AH_RESOLV_CONF", "/nonexistent/ahttp-check-client-resolv.conf", 1);
    int rc = ah_check_run(client_suite());
    free(bomb);
    return rc;
}
