/* The HTTP client through a small forward proxy on loopback (client_fixture.h): plain HTTP in
 * absolute form, HTTPS through a CONNECT tunnel, malformed CONNECT replies, and per-host pool
 * statistics that name the proxy. */
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

START_TEST(test_https_through_a_proxy_tunnel)
{
    run_world_tls(client_https_proxy, "server.pem", "server.key");
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

static Suite *client_proxy_suite(void)
{
    Suite *s = suite_create("client proxy");
    TCase *tc;
    tc = tcase_create("proxy");
    tcase_add_test(tc, test_http_through_a_proxy_in_absolute_form);
    tcase_add_test(tc, test_https_through_a_proxy_tunnel);
    tcase_add_test(tc, test_malformed_connect_replies_are_rejected);
    suite_add_tcase(s, tc);
    tc = tcase_create("host stats");
    tcase_add_test(tc, test_host_stats_name_the_proxy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* No test here may send a query to the system's name servers: with an unreadable
     * resolv.conf the resolver has none, names in /etc/hosts (localhost) still resolve, and any
     * other name fails at once with AH_EDNS. */
    setenv("AH_RESOLV_CONF", "/nonexistent/ahttp-check-client-resolv.conf", 1);
    int rc = ah_check_run(client_proxy_suite());
    free(bomb);
    return rc;
}
