/* The HTTP client against real servers on loopback (client_fixture.h): round trips, keep-alive
 * and the pool limits, the stale-connection retry, closing the client, redirects (method rules,
 * loops, credentials across origins, history), cookies, and pool statistics per host. */
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

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc;
    tc = tcase_create("basics");
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
    tc = tcase_create("redirects");
    tcase_add_test(tc, test_redirects_follow_rfc9110_rules);
    tcase_add_test(tc, test_redirect_history_lists_each_hop);
    suite_add_tcase(s, tc);
    tc = tcase_create("cookies");
    tcase_add_test(tc, test_cookies_set_on_login_are_sent_back);
    tcase_add_test(tc, test_cookies_follow_the_jar_across_redirects);
    suite_add_tcase(s, tc);
    tc = tcase_create("host stats");
    tcase_add_test(tc, test_host_stats_show_open_active_idle_and_waiting_per_host);
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
