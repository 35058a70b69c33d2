/* Request bodies in the server (server_fixture.h): Content-Length and chunked (with extensions
 * and trailers), large and byte-by-byte reads, unread bodies skipped, Expect: 100-continue, and
 * the per-route body limit (413). */
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

/* ==== request bodies ==== */

static int main_cl_body(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s,
              "POST /body HTTP/1.1\r\nHost: test\r\nContent-Length: 18\r\n\r\nhello, body bytes!",
              0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "hello, body bytes!");
    ck_assert_str_eq(http_header(&r, "X-Declared-Length"), "18");
    http_response_free(&r);
    ck_assert_int_eq(st.body_rc, 0);
    /* the body was consumed exactly: the next request parses */
    roundtrip(s, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_response_free(&r);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_content_length_body_is_read) { RUN(main_cl_body, NULL); }
END_TEST

static int main_large_body(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    size_t len = 600 * 1000;
    static char msg[600 * 1000 + 128];
    int head =
        sprintf(msg, "POST /body HTTP/1.1\r\nHost: test\r\nContent-Length: %zu\r\n\r\n", len);
    for (size_t i = 0; i < len; i++)
        msg[(size_t)head + i] = (char)('a' + i % 26);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    ck_assert_int_eq(ah_stream_write(s, msg, (size_t)head + len), 0);
    http_response r;
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    int same = r.body_len == len && memcmp(r.body, msg + head, len) == 0;
    int status = r.status;
    http_response_free(&r);
    ah_stream_close(s);
    fx_stop(&fx);
    ck_assert_int_eq(status, 200);
    ck_assert_msg(same, "the echoed body differs");
    return 0;
}

START_TEST(test_large_request_body_is_read_whole) { RUN(main_large_body, NULL); }
END_TEST

static int main_unread_bodies(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    /* handlers that never read their bodies; the server skips them to reach the next request */
    ck_assert_int_eq(
        http_send(s, "POST /ignore HTTP/1.1\r\nHost: test\r\nContent-Length: 26\r\n\r\n"
                     "GET /echo/smuggled HTTP/1."
                     "POST /ignore HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "1a\r\nGET /echo/smuggled HTTP/1.\r\n0\r\n\r\n"
                     "GET /echo/next HTTP/1.1\r\nHost: test\r\n\r\n"),
        0);
    const char *want[] = {"ignored", "ignored", "next"};
    for (int i = 0; i < 3; i++) {
        http_response r;
        ck_assert_int_eq(http_read_response(s, 0, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, want[i]);
        http_response_free(&r);
    }
    ck_assert_uint_eq(stats(&fx).requests, 3);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_unread_bodies_are_skipped_not_parsed_as_requests) { RUN(main_unread_bodies, NULL); }
END_TEST

static int main_chunked_body(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    /* chunks in one write with the next request behind them */
    ck_assert_int_eq(http_send(s,
                               "POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
                               "\r\n"
                               "5;name=value\r\nhello\r\n"
                               "1\r\n,\r\n"
                               "A\r\n chunked, \r\n"
                               "5\r\nworld\r\n"
                               "0\r\n\r\n"
                               "GET /echo/next HTTP/1.1\r\nHost: test\r\n\r\n"),
                     0);
    http_response r;
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "hello, chunked, world");
    ck_assert_str_eq(http_header(&r, "X-Declared-Length"), "-1");
    http_response_free(&r);
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "next");
    http_response_free(&r);
    /* and chunks that dribble in one by one */
    const char *pieces[] = {
        "POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n", "3\r\nabc\r\n",
        "3;x\r\ndef\r\n", "0\r\n", "\r\n"};
    for (size_t i = 0; i < 5; i++) {
        ck_assert_int_eq(http_send(s, pieces[i]), 0);
        ck_assert_int_eq(ah_sleep(5), 0);
    }
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "abcdef");
    http_response_free(&r);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_chunked_request_body_with_extension_is_read) { RUN(main_chunked_body, NULL); }
END_TEST

static int main_bytewise(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s, "POST /bytewise HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n0123456789", 0,
              &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "0123456789");
    http_response_free(&r);
    roundtrip(s,
              "POST /bytewise HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
              "7;a=b\r\nchunked\r\n1\r\n \r\n10\r\nbody, byte-wise!\r\n0\r\n\r\n",
              0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "chunked body, byte-wise!");
    http_response_free(&r);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_request_body_read_in_tiny_pieces) { RUN(main_bytewise, NULL); }
END_TEST

static int main_chunked_trailer(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    /* RFC 9112 §7.1.2: a chunked body may end with trailer fields */
    roundtrip(s,
              "POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
              "Trailer: X-Checksum\r\n\r\n"
              "5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n",
              0, &r);
    int status = r.status;
    char body[64];
    snprintf(body, sizeof(body), "%s", r.body);
    http_response_free(&r);
    ah_stream_close(s);
    int body_rc = st.body_rc;
    fx_stop(&fx);
    ck_assert_msg(status == 200, "status %d (the handler's ah_request_body: %s)", status,
                  ah_strerror(body_rc));
    ck_assert_str_eq(body, "hello");
    return 0;
}

START_TEST(test_chunked_request_body_with_trailer_is_read) { RUN(main_chunked_trailer, NULL); }
END_TEST

static int main_expect_read(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    ck_assert_int_eq(http_send(s, "POST /body?delay=100 HTTP/1.1\r\nHost: test\r\n"
                                  "Content-Length: 11\r\nExpect: 100-continue\r\n\r\n"),
                     0);
    int64_t start = ah_now_ms();
    http_response r;
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    ck_assert_int_eq(r.status, 100);
    ck_assert_int_eq(r.minor, 1);
    ck_assert_uint_eq(r.body_len, 0);
    http_response_free(&r);
    /* not before the handler asked for the body (it waited 100 ms first) */
    ck_assert_int_eq(st.body_reading, 1);
    ck_assert_int_ge(ah_check_elapsed(start), 90);
    ck_assert_int_eq(http_send(s, "hello world"), 0);
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "hello world");
    http_response_free(&r);
    /* the connection carries on */
    roundtrip(s, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_response_free(&r);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_expect_continue_sent_only_when_body_is_read) { RUN(main_expect_read, NULL); }
END_TEST

/* A request with Expect: 100-continue whose handler never reads the body: the final response
 * comes without a 100 first. check_connection_header: the response must also say it closes. */
static int main_expect_ignore(void *arg)
{
    int check_connection_header = arg != NULL;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s,
              "POST /ignore HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n"
              "Expect: 100-continue\r\n\r\n",
              0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ignored");
    const char *conn = http_header(&r, "Connection");
    char conn_copy[64];
    snprintf(conn_copy, sizeof(conn_copy), "%s", conn ? conn : "(none)");
    http_response_free(&r);
    /* the client never sent the body: the connection cannot be reused */
    expect_closed(s);
    ah_stream_close(s);
    fx_stop(&fx);
    if (check_connection_header)
        ck_assert_msg(strcasecmp(conn_copy, "close") == 0,
                      "the server closed but its response said Connection: %s", conn_copy);
    return 0;
}

START_TEST(test_expect_continue_unread_body_closes_without_100) { RUN(main_expect_ignore, NULL); }
END_TEST

START_TEST(test_expect_continue_unread_body_response_says_close)
{
    RUN(main_expect_ignore, (void *)1);
}
END_TEST

static int main_413_length(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    /* exactly at the limit: fine */
    http_response r;
    exchange(&fx,
             "POST /small HTTP/1.1\r\nHost: test\r\nContent-Length: 16\r\n\r\n0123456789abcdef", 0,
             &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "0123456789abcdef");
    http_response_free(&r);
    ck_assert_int_eq(st.small_calls, 1);
    /* one byte over: refused from the header alone */
    char raw[512];
    snprintf(raw, sizeof(raw), "POST /small HTTP/1.1\r\nHost: test\r\nContent-Length: 17\r\n\r\n%s",
             "0123456789abcdefg");
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    roundtrip(s, raw, 0, &r);
    ck_assert_int_eq(r.status, 413);
    ck_assert_str_eq(http_header(&r, "Connection"), "close");
    http_response_free(&r);
    expect_closed(s);
    ah_stream_close(s);
    ck_assert_int_eq(st.small_calls, 1);
    /* with Expect: 100-continue the 413 comes instead of the 100 */
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    roundtrip(s,
              "POST /small HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n"
              "Expect: 100-continue\r\n\r\n",
              0, &r);
    ck_assert_int_eq(r.status, 413);
    http_response_free(&r);
    expect_closed(s);
    ah_stream_close(s);
    ck_assert_int_eq(st.small_calls, 1);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_body_over_route_limit_is_413_before_handler) { RUN(main_413_length, NULL); }
END_TEST

static int main_413_chunked(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s,
              "POST /small HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
              "10\r\n0123456789abcdef\r\n"
              "10\r\n0123456789abcdef\r\n"
              "8\r\n01234567\r\n"
              "0\r\n\r\n",
              0, &r);
    ck_assert_int_eq(r.status, 413);
    ck_assert_str_eq(http_header(&r, "Connection"), "close");
    http_response_free(&r);
    ck_assert_int_eq(st.small_calls, 1);
    ck_assert_int_eq(st.small_rc, AH_ETOOBIG);
    expect_closed(s);
    ah_stream_close(s);
    /* a chunked body of exactly the limit is fine */
    exchange(&fx,
             "POST /small HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
             "8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n",
             0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "0123456789abcdef");
    http_response_free(&r);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_chunked_body_over_route_limit_is_413) { RUN(main_413_chunked, NULL); }
END_TEST

static Suite *server_bodies_suite(void)
{
    Suite *s = suite_create("server bodies");
    TCase *tc;
    tc = tcase_create("bodies");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_content_length_body_is_read);
    tcase_add_test(tc, test_large_request_body_is_read_whole);
    tcase_add_test(tc, test_unread_bodies_are_skipped_not_parsed_as_requests);
    tcase_add_test(tc, test_chunked_request_body_with_extension_is_read);
    tcase_add_test(tc, test_request_body_read_in_tiny_pieces);
    tcase_add_test(tc, test_chunked_request_body_with_trailer_is_read);
    tcase_add_test(tc, test_expect_continue_sent_only_when_body_is_read);
    tcase_add_test(tc, test_expect_continue_unread_body_closes_without_100);
    tcase_add_test(tc, test_expect_continue_unread_body_response_says_close);
    tcase_add_test(tc, test_body_over_route_limit_is_413_before_handler);
    tcase_add_test(tc, test_chunked_body_over_route_limit_is_413);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(server_bodies_suite()); }
