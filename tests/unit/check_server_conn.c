/* Server connections over time (server_fixture.h): keep-alive and pipelining, a slow handler
 * not delaying other connections, idle connections parked without a task, the keep-alive
 * timeout, graceful shutdown and max_connections. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <unistd.h>
#include <pthread.h>

#include "checkutil.h"
#include "httputil.h"
#include "../../lib/http/internal.h" /* ah__request_parse_head, for the parser-only test */

#include <setjmp.h>
#include <stdarg.h>

#include "server_fixture.h"

/* Poll until *flag is set (handlers run on the same loop), at most ms. */
static int wait_flag(const int *flag, int64_t ms)
{
    int64_t start = ah_now_ms();
    while (!*flag && ah_check_elapsed(start) < ms)
        if (ah_sleep(1) < 0)
            return 0;
    return *flag != 0;
}

/* ==== keep-alive and pipelining ==== */

static int main_pipeline(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    char raw[2048] = "";
    for (int i = 0; i < 10; i++) {
        size_t used = strlen(raw);
        snprintf(raw + used, sizeof(raw) - used, "GET /echo/%d HTTP/1.1\r\nHost: test\r\n\r\n", i);
    }
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    ck_assert_int_eq(http_send(s, raw), 0);
    for (int i = 0; i < 10; i++) {
        http_response r;
        int rc = http_read_response(s, 0, &r);
        ck_assert_msg(rc == 0, "response %d: %s", i, ah_strerror(rc));
        ck_assert_int_eq(r.status, 200);
        char want[8];
        snprintf(want, sizeof(want), "%d", i);
        ck_assert_str_eq(r.body, want);
        http_response_free(&r);
    }
    ah_server_stats ss = stats(&fx);
    ck_assert_uint_eq(ss.connections_accepted, 1);
    ck_assert_uint_eq(ss.requests, 10);
    expect_open(s);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_pipelined_requests_answered_in_order) { RUN(main_pipeline, NULL); }
END_TEST

typedef struct {
    uint16_t port;
    const char *raw;
    int rc, status;
    int64_t done_at;
} client_job;

static int client_task(void *arg)
{
    client_job *j = arg;
    http_response r;
    j->rc = http_exchange(j->port, j->raw, 0, &r);
    j->done_at = ah_now_ms();
    if (j->rc == 0) {
        j->status = r.status;
        http_response_free(&r);
    }
    return 0;
}

static int main_slow_other(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    static client_job slow;
    slow = (client_job){.port = fx.port,
                        .raw = ah_check_slow() ? "GET /sleep?ms=1000 HTTP/1.1\r\nHost: t\r\n\r\n"
                                               : "GET /sleep?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n"};
    ah_task *t = ah_spawn(client_task, &slow);
    ck_assert_ptr_nonnull(t);
    ck_assert(wait_flag(&st.sleep_started, slow_x(2000)));
    int64_t start = ah_now_ms();
    expect_get(&fx, "/hello", 200, "Hello, World!");
    int64_t fast_done = ah_now_ms();
    ck_assert_int_eq(ah_join(t), 0);
    ck_assert_int_eq(slow.rc, 0);
    ck_assert_int_eq(slow.status, 200);
    ck_assert_msg(fast_done < slow.done_at, "the fast request waited for the slow one");
    if (!ah_check_slow())
        ck_assert_int_lt(fast_done - start, 80);
    ck_assert_uint_eq(stats(&fx).connections_accepted, 2);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_slow_handler_does_not_delay_other_connection) { RUN(main_slow_other, NULL); }
END_TEST

static int main_reuse(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    for (int i = 0; i < 3; i++) {
        char raw[128], want[8];
        snprintf(raw, sizeof(raw), "GET /echo/%d HTTP/1.1\r\nHost: test\r\n\r\n", 100 + i);
        snprintf(want, sizeof(want), "%d", 100 + i);
        http_response r;
        roundtrip(s, raw, 0, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, want);
        http_response_free(&r);
    }
    ah_server_stats ss = stats(&fx);
    ck_assert_uint_eq(ss.connections_accepted, 1);
    ck_assert_uint_eq(ss.requests, 3);
    ck_assert_uint_eq(ss.connections_open, 1);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_keepalive_reuses_connection) { RUN(main_reuse, NULL); }
END_TEST

static int main_idle(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_response_free(&r);
    ck_assert_int_eq(ah_sleep(50), 0);
    ah_server_stats ss = stats(&fx);
    ck_assert_uint_eq(ss.connections_open, 1);
    ck_assert_uint_eq(ss.connections_idle, 1);
    /* the parked connection wakes for the next request */
    roundtrip(s, "GET /echo/again HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "again");
    http_response_free(&r);
    ck_assert_int_eq(ah_sleep(50), 0);
    ss = stats(&fx);
    ck_assert_uint_eq(ss.connections_accepted, 1);
    ck_assert_uint_eq(ss.connections_idle, 1);
    ck_assert_uint_eq(ss.requests, 2);
    /* the client leaving frees the parked connection */
    ah_stream_close(s);
    ck_assert_int_eq(ah_sleep(50), 0);
    ss = stats(&fx);
    ck_assert_uint_eq(ss.connections_open, 0);
    ck_assert_uint_eq(ss.connections_idle, 0);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_idle_connection_parks_without_task_and_wakes) { RUN(main_idle, NULL); }
END_TEST

static int main_keepalive_timeout(void *arg)
{
    (void)arg;
    ah_server_opts o = {.keepalive_timeout_ms = 100};
    fixture fx;
    fx_start(&fx, &o, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_response_free(&r);
    int64_t start = ah_now_ms();
    expect_closed(s);
    int64_t took = ah_check_elapsed(start);
    ah_stream_close(s);
    ck_assert_int_ge(took, 80);
    ah_server_stats ss = stats(&fx);
    ck_assert_uint_eq(ss.connections_open, 0);
    ck_assert_uint_eq(ss.connections_idle, 0);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_keepalive_timeout_closes_idle_connection) { RUN(main_keepalive_timeout, NULL); }
END_TEST

/* ==== graceful shutdown ==== */

typedef struct {
    uint16_t port;
    const char *raw;
    int rc, status, closed;
    char connection[32];
} inflight_job;

/* One request; then whether the server closed the connection after the response. */
static int inflight_task(void *arg)
{
    inflight_job *j = arg;
    ah_stream *s;
    j->rc = http_connect(j->port, &s);
    if (j->rc < 0)
        return 0;
    j->rc = http_send(s, j->raw);
    http_response r;
    if (j->rc == 0)
        j->rc = http_read_response(s, 0, &r);
    if (j->rc == 0) {
        j->status = r.status;
        const char *conn = http_header(&r, "Connection");
        snprintf(j->connection, sizeof(j->connection), "%s", conn ? conn : "");
        http_response_free(&r);
    }
    j->closed = http_wait_closed(s, 2000);
    ah_stream_close(s);
    return 0;
}

static int main_shutdown_inflight(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    static inflight_job j;
    j = (inflight_job){.port = fx.port, .raw = "GET /sleep?ms=300 HTTP/1.1\r\nHost: test\r\n\r\n"};
    ah_task *t = ah_spawn(inflight_task, &j);
    ck_assert(wait_flag(&st.sleep_started, slow_x(2000)));
    int64_t start = ah_now_ms();
    ah_server_shutdown(fx.srv, 2000);
    ck_assert_int_eq(ah_join(t), 0);
    ck_assert_msg(j.rc == 0, "in-flight request: %s", ah_strerror(j.rc));
    ck_assert_int_eq(j.status, 200);
    ck_assert_str_eq(j.connection, "close");
    ck_assert_int_eq(j.closed, 1);
    ck_assert_int_eq(st.sleep_rc, 0);
    fx_join(&fx);
    /* it took the handler's time, not the grace period */
    ck_assert_int_lt(ah_check_elapsed(start), slow_x(1500));
    return 0;
}

START_TEST(test_shutdown_lets_request_in_flight_finish) { RUN(main_shutdown_inflight, NULL); }
END_TEST

static int main_shutdown_refuses(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    static inflight_job j;
    j = (inflight_job){.port = fx.port, .raw = "GET /sleep?ms=300 HTTP/1.1\r\nHost: test\r\n\r\n"};
    ah_task *t = ah_spawn(inflight_task, &j);
    ck_assert(wait_flag(&st.sleep_started, slow_x(2000)));
    ah_server_shutdown(fx.srv, 2000);
    ck_assert_int_eq(ah_sleep(30), 0);
    /* the server is draining: a newcomer is refused, or closed without an answer */
    ah_stream *s;
    int rc = http_connect(fx.port, &s);
    if (rc == 0) {
        http_response r;
        rc = http_send(s, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n");
        if (rc == 0)
            rc = http_read_response(s, 0, &r);
        if (rc == 0) {
            int status = r.status;
            http_response_free(&r);
            ck_abort_msg("a connection made after shutdown was answered (%d)", status);
        }
        ck_assert_msg(rc == AH_EEOF || rc == AH_ECONNRESET || rc == AH_EPIPE, "%s",
                      ah_strerror(rc));
        ah_stream_close(s);
    } else {
        ck_assert_int_eq(rc, AH_ECONNREFUSED);
    }
    ck_assert_int_eq(ah_join(t), 0);
    ck_assert_int_eq(j.rc, 0);
    ck_assert_int_eq(j.status, 200);
    fx_join(&fx);
    return 0;
}

START_TEST(test_shutdown_refuses_new_connections) { RUN(main_shutdown_refuses, NULL); }
END_TEST

static int main_shutdown_idle(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_response_free(&r);
    ck_assert_int_eq(ah_sleep(20), 0);
    ck_assert_uint_eq(stats(&fx).connections_idle, 1);
    int64_t start = ah_now_ms();
    ah_server_shutdown(fx.srv, 2000);
    expect_closed(s);
    ah_stream_close(s);
    fx_join(&fx);
    /* nothing was in flight: no waiting for the grace period */
    ck_assert_int_lt(ah_check_elapsed(start), slow_x(1000));
    return 0;
}

START_TEST(test_shutdown_closes_idle_keepalive_connection) { RUN(main_shutdown_idle, NULL); }
END_TEST

static int main_shutdown_grace(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    static inflight_job j;
    j = (inflight_job){.port = fx.port, .raw = "GET /sleep?ms=5000 HTTP/1.1\r\nHost: test\r\n\r\n"};
    ah_task *t = ah_spawn(inflight_task, &j);
    ck_assert(wait_flag(&st.sleep_started, slow_x(2000)));
    int64_t start = ah_now_ms();
    ah_server_shutdown(fx.srv, 50);
    fx_join(&fx);
    int64_t serve_took = ah_check_elapsed(start);
    ck_assert_int_eq(ah_join(t), 0);
    /* the handler was cancelled: 503 (the server is going away), and the connection is gone */
    ck_assert_int_eq(st.sleep_rc, AH_ECANCELED);
    ck_assert_msg(j.rc == 0 && j.status == 503, "the cancelled request: rc %d, status %d", j.rc,
                  j.status);
    ck_assert_int_eq(j.closed, 1);
    ck_assert_int_ge(serve_took, 40);
    ck_assert_int_lt(serve_took, slow_x(1000));
    ck_assert_int_lt(ah_check_elapsed(start), slow_x(2000));
    return 0;
}

START_TEST(test_shutdown_grace_expiry_cancels_slow_handler) { RUN(main_shutdown_grace, NULL); }
END_TEST

/* ==== max_connections ==== */

static int main_max_conns(void *arg)
{
    (void)arg;
    ah_server_opts o = {.max_connections = 2};
    fixture fx;
    fx_start(&fx, &o, NULL);
    ah_stream *c1, *c2, *c3;
    http_response r;
    ck_assert_int_eq(http_connect(fx.port, &c1), 0);
    roundtrip(c1, "GET /echo/one HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_str_eq(r.body, "one");
    http_response_free(&r);
    ck_assert_int_eq(http_connect(fx.port, &c2), 0);
    roundtrip(c2, "GET /echo/two HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_str_eq(r.body, "two");
    http_response_free(&r);
    /* the kernel completes the third connection; the server does not serve it */
    ck_assert_int_eq(http_connect(fx.port, &c3), 0);
    ck_assert_int_eq(http_send(c3, "GET /echo/three HTTP/1.1\r\nHost: test\r\n\r\n"), 0);
    ah_stream_set_timeouts(c3, 300, http_read_timeout_ms());
    ck_assert_int_eq(http_read_response(c3, 0, &r), AH_ETIMEDOUT);
    ah_stream_set_timeouts(c3, http_read_timeout_ms(), http_read_timeout_ms());
    ah_server_stats ss = stats(&fx);
    ck_assert_uint_eq(ss.connections_accepted, 2);
    ck_assert_uint_eq(ss.connections_open, 2);
    /* the open ones are still served */
    roundtrip(c2, "GET /echo/two-again HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_str_eq(r.body, "two-again");
    http_response_free(&r);
    /* one leaves: the third is served */
    ah_stream_close(c1);
    ck_assert_int_eq(http_read_response(c3, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "three");
    http_response_free(&r);
    ss = stats(&fx);
    ck_assert_uint_eq(ss.connections_accepted, 3);
    ck_assert_uint_eq(ss.connections_open, 2);
    ah_stream_close(c2);
    ah_stream_close(c3);
    /* below the limit again before shutting down (see the next test for shutdown at the limit) */
    int64_t start = ah_now_ms();
    while (stats(&fx).connections_open > 0 && ah_check_elapsed(start) < slow_x(1000))
        ck_assert_int_eq(ah_sleep(5), 0);
    ck_assert_uint_eq(stats(&fx).connections_open, 0);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_max_connections_holds_back_third_connection) { RUN(main_max_conns, NULL); }
END_TEST

/* A kept-alive client sends a request and at once resets (or half-closes) the connection: the
 * server reads the request together with the end of the stream. It must not take the short
 * read for an idle connection and park it: the write of the response meets the reset and the
 * connection is closed; after a FIN the response goes out and then the connection closes. */
static int main_request_then_end(void *arg)
{
    int reset = arg != NULL;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    http_response r;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    roundtrip(s, "GET /echo/one HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    http_response_free(&r);
    ck_assert_int_eq(ah_sleep(20), 0); /* the server parks the connection */
    ck_assert_uint_eq(stats(&fx).connections_idle, 1);
    ck_assert_int_eq(http_send(s, "GET /echo/two HTTP/1.1\r\nHost: test\r\n\r\n"), 0);
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        ck_assert_int_eq(setsockopt(ah_stream_fd(s), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
        ah_stream_close(s); /* RST right behind the request */
    } else {
        ck_assert_int_eq(ah_stream_shutdown_write(s), 0);
        ck_assert_int_eq(http_read_response(s, 0, &r), 0);
        ck_assert_str_eq(r.body, "two");
        http_response_free(&r);
        ck_assert_int_eq(http_wait_closed(s, slow_x(1000)), 1);
        ah_stream_close(s);
    }
    int64_t start = ah_now_ms();
    while (stats(&fx).connections_open > 0 && ah_check_elapsed(start) < slow_x(1000))
        ck_assert_int_eq(ah_sleep(5), 0);
    ck_assert_uint_eq(stats(&fx).connections_open, 0);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_request_followed_by_reset_or_fin_closes_the_connection)
{
    RUN(main_request_then_end, NULL);
    RUN(main_request_then_end, "reset");
}
END_TEST

/* Shutdown while the server is at max_connections: the accept task is waiting for a free slot,
 * not in accept; closing the idle connection frees one. serve must return cleanly (no use of the
 * closed listener or of the worker after it is gone). */
static int main_shutdown_at_max(void *arg)
{
    int busy = arg != NULL;
    ah_server_opts o = {.max_connections = 1};
    fixture fx;
    fx_start(&fx, &o, NULL);
    ah_stream *c1;
    http_response r;
    ck_assert_int_eq(http_connect(fx.port, &c1), 0);
    static inflight_job j;
    j = (inflight_job){.port = fx.port, .raw = "GET /sleep?ms=100 HTTP/1.1\r\nHost: test\r\n\r\n"};
    ah_task *t = NULL;
    if (busy) {
        ah_stream_close(c1);
        t = ah_spawn(inflight_task, &j);
        ck_assert(wait_flag(&st.sleep_started, slow_x(2000)));
    } else {
        roundtrip(c1, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
        ck_assert_int_eq(r.status, 200);
        http_response_free(&r);
        ck_assert_int_eq(ah_sleep(20), 0);
        ck_assert_uint_eq(stats(&fx).connections_idle, 1);
    }
    ck_assert_uint_eq(stats(&fx).connections_open, 1);
    ah_server_shutdown(fx.srv, 2000);
    if (busy) {
        ck_assert_int_eq(ah_join(t), 0);
        ck_assert_int_eq(j.status, 200);
    } else {
        expect_closed(c1);
        ah_stream_close(c1);
    }
    fx_join(&fx);
    return 0;
}

START_TEST(test_shutdown_at_max_connections_with_idle_connection)
{
    RUN(main_shutdown_at_max, NULL);
}
END_TEST

START_TEST(test_shutdown_at_max_connections_with_busy_connection)
{
    RUN(main_shutdown_at_max, (void *)1);
}
END_TEST

static Suite *server_conn_suite(void)
{
    Suite *s = suite_create("server conn");
    TCase *tc;
    tc = tcase_create("keepalive");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_pipelined_requests_answered_in_order);
    tcase_add_test(tc, test_slow_handler_does_not_delay_other_connection);
    tcase_add_test(tc, test_keepalive_reuses_connection);
    tcase_add_test(tc, test_idle_connection_parks_without_task_and_wakes);
    tcase_add_test(tc, test_keepalive_timeout_closes_idle_connection);
    suite_add_tcase(s, tc);
    tc = tcase_create("shutdown");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_shutdown_lets_request_in_flight_finish);
    tcase_add_test(tc, test_shutdown_refuses_new_connections);
    tcase_add_test(tc, test_shutdown_closes_idle_keepalive_connection);
    tcase_add_test(tc, test_shutdown_grace_expiry_cancels_slow_handler);
    tcase_add_test(tc, test_max_connections_holds_back_third_connection);
    tcase_add_test(tc, test_request_followed_by_reset_or_fin_closes_the_connection);
    tcase_add_test(tc, test_shutdown_at_max_connections_with_idle_connection);
    tcase_add_test(tc, test_shutdown_at_max_connections_with_busy_connection);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(server_conn_suite()); }
