/* The fixtures the check_client* suites share (client_fixture.h): the ahttp server with its
 * routes, raw misbehaving servers, compressed test bodies and fetch helpers. */
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

#include "client_fixture.h"

const char *cert(const char *name)
{
    static char paths[8][1024];
    static int next;
    const char *dir = getenv("AH_CERTS"); /* make check sets it; make check-valgrind does not */
    char *p = paths[next++ % 8];
    snprintf(p, sizeof(paths[0]), "%s/%s", dir ? dir : AH_TEST_CERTS, name);
    return p;
}

/* Timing bounds are looser under valgrind. */
int64_t slow_factor(void) { return ah_check_slow() ? 10 : 1; }

char text[TEXT_REPEAT * 50 + 1]; /* 20,000 bytes of text */
unsigned char *bomb;             /* 1 MB of zeros, gzipped */
size_t bomb_len;

/* Compress in[0..len) with the given window bits (31 gzip, 15 zlib, -15 raw). malloc'd. */
unsigned char *compress_with(const void *in, size_t len, int wbits, size_t *out_len)
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

uint16_t g_port1; /* the first listener */
uint16_t g_port2; /* the second listener: another origin */
int g_inflight, g_max_inflight;
char g_accept_encoding[128];
int g_hello_count;

int h_hello(ah_request *req, ah_response *resp, void *arg)
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

int server_task(void *arg) { return ah_server_serve(arg); }

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
void run_world_tls(client_fn fn, const char *cert_name, const char *key_name)
{
    int before = ah_check_open_fds();
    run_ctx ctx = {fn, cert_name, key_name};
    ck_assert_int_eq(ah_run(main_world, &ctx), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}

void run_world(client_fn fn) { run_world_tls(fn, NULL, NULL); }

/* "base + path" in a static buffer (one of four, rotating). */
const char *at(const char *base, const char *path)
{
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s%s", base, path);
    return b;
}

/* GET url, expect status, return the body (malloc'd). */
char *get_body(ah_client *c, const char *url, int status)
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

void expect_body(ah_client *c, const char *url, int status, const char *want)
{
    char *b = get_body(c, url, status);
    ck_assert_str_eq(b, want);
    free(b);
}

static int raw_conn_task(void *arg)
{
    raw_conn rc = *(raw_conn *)arg;
    free(arg);
    if (rc.tls) {
        ah_stream *ts;
        if (ah_tls_server_wrap(rc.s, rc.tls, 5000, &ts, NULL, 0) < 0)
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

void raw_start(raw_server *rs, raw_conn_fn fn, void *arg)
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

void raw_stop(raw_server *rs)
{
    ah_cancel(rs->task);
    (void)!ah_join(rs->task);
    ah_listener_close(rs->l);
    ah_tls_ctx_free(rs->tls); /* connections made from it keep their own reference */
}

/* Read one request head (no body). > 0, or <= 0 when the client went away. */
int read_request(ah_stream *s)
{
    char buf[8192];
    return ah_stream_read_until(s, "\r\n\r\n", 4, buf, sizeof(buf));
}

int send_text(ah_stream *s, const char *text_out)
{
    return ah_stream_write(s, text_out, strlen(text_out));
}

/* Run a client scenario in its own loop; no descriptor may be left open after. */
void run_main(raw_main_fn fn)
{
    int before = ah_check_open_fds();
    ck_assert_int_eq(ah_run(fn, NULL), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}

/* Answers one request, then closes. */
int close_after_one(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    return send_text(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

/* ---- read_line and redirect history ---- */

/* Serves, on one kept-alive connection, a few bodies made for reading by lines, and a chain of
 * redirects /r1 (301) -> /r2 (302, absolute Location) -> /final (200). */
int lines_server(ah_stream *s, int index, void *arg)
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
