/* The server's limits and refusals (server_fixture.h): oversized request lines and header
 * blocks, the framing conflicts and bare CRs that would allow request smuggling, transfer
 * codings, malformed heads and chunk framing, unknown expectations, CONNECT, HTTP/2 and the
 * header timeout. */
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

/* ==== limits and smuggling: the right status, Connection: close, and the connection closed ====
 * (a status < 400 is a control case: served, and the connection kept) */

typedef struct {
    const char *raw;
    size_t len;
    int status;
    ah_server_opts opts;
    int64_t min_ms, max_ms; /* how long the answer may take (0: no bound) */
} refusal;

static int main_refusal(void *arg)
{
    refusal *c = arg;
    fixture fx;
    fx_start(&fx, &c->opts, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    int64_t start = ah_now_ms();
    int rc = ah_stream_write(s, c->raw, c->len);
    http_response r;
    if (rc == 0)
        rc = http_read_response(s, 0, &r);
    int64_t took = ah_check_elapsed(start);
    /* what came back, gathered before asserting so that a failure leaks nothing */
    int status = 0, closed = -2;
    char conn[32] = "";
    if (rc == 0) {
        status = r.status;
        snprintf(conn, sizeof(conn), "%s",
                 http_header(&r, "Connection") ? http_header(&r, "Connection") : "(none)");
        http_response_free(&r);
        closed = http_wait_closed(s, c->status >= 400 ? slow_x(1000) : 50);
    }
    int64_t until_closed = ah_check_elapsed(start);
    ah_stream_close(s);
    int handler_calls = st.body_calls;
    fx_stop(&fx);
    ck_assert_msg(rc == 0, "no response: %s", ah_strerror(rc));
    ck_assert_msg(status == c->status, "status %d, wanted %d", status, c->status);
    if (c->status >= 400) {
        ck_assert_str_eq(conn, "close");
        ck_assert_msg(closed == 1, "the server kept the connection open (%d)", closed);
        ck_assert_int_eq(handler_calls, 0);
    } else {
        ck_assert_str_eq(conn, "(none)");
        ck_assert_msg(closed == 0, "the server closed the connection (%d)", closed);
    }
    if (c->min_ms)
        ck_assert_int_ge(took, c->min_ms);
    if (c->max_ms)
        ck_assert_int_le(until_closed, slow_x(c->max_ms));
    return 0;
}

static void expect_refusal(const char *raw, int status)
{
    refusal c = {.raw = raw, .len = strlen(raw), .status = status};
    RUN(main_refusal, &c);
}

START_TEST(test_request_line_over_8k_is_414)
{
    static char raw[9000 + 64];
    size_t n = 9000;
    strcpy(raw, "GET /");
    memset(raw + 5, 'a', n);
    strcpy(raw + 5 + n, " HTTP/1.1\r\nHost: test\r\n\r\n");
    expect_refusal(raw, 414);
    /* the same without the end of the line ever arriving */
    raw[5 + n] = '\0';
    expect_refusal(raw, 414);
}
END_TEST

START_TEST(test_over_100_headers_is_431)
{
    static char raw[8192];
    strcpy(raw, "GET /hello HTTP/1.1\r\nHost: test\r\n");
    for (int i = 0; i < 100; i++) /* 101 with Host */
        sprintf(raw + strlen(raw), "X-H%d: v\r\n", i);
    strcat(raw, "\r\n");
    expect_refusal(raw, 431);
}
END_TEST

/* A GET with `lines` header lines of exactly 1,000 bytes each (CRLF included) after Host. */
static const char *big_header_request(size_t lines)
{
    static char raw[64 + 40 * 1000 + 3];
    ck_assert_uint_le(lines, 40);
    size_t used = (size_t)sprintf(raw, "GET /hello HTTP/1.1\r\nHost: test\r\n");
    for (size_t i = 0; i < lines; i++) {
        int n = sprintf(raw + used, "X-Big-%03zu: ", i);
        memset(raw + used + (size_t)n, 'v', 998 - (size_t)n);
        used += 998;
        memcpy(raw + used, "\r\n", 2);
        used += 2;
    }
    strcpy(raw + used, "\r\n");
    return raw;
}

START_TEST(test_header_block_over_16k_is_431)
{
    /* far over: 40,000 bytes of header lines (under the header count limit) */
    expect_refusal(big_header_request(40), 431);
    /* just over: 17,000 bytes of header lines (16 KiB is 16,384) */
    expect_refusal(big_header_request(17), 431);
}
END_TEST

START_TEST(test_header_block_under_16k_is_accepted)
{
    /* the control for the test above: 15,000 bytes of header lines are served */
    expect_refusal(big_header_request(15), 200);
}
END_TEST

START_TEST(test_content_length_with_transfer_encoding_is_400)
{
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\n\r\n",
                   400);
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
                   "Content-Length: 5\r\n\r\n0\r\n\r\n",
                   400);
}
END_TEST

START_TEST(test_content_length_past_int64_is_400)
{
    /* llhttp keeps it as a uint64_t; it read back as -1 ("chunked") and slipped past the 413
     * check, so Expect: 100-continue got 100 (fuzzing's F1) */
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n"
                   "Content-Length: 18446744073709551615\r\n\r\nhello",
                   400);
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\n"
                   "Content-Length: 9223372036854775808\r\n\r\nhello",
                   400);
}
END_TEST

START_TEST(test_conflicting_content_lengths_are_400)
{
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
                   "Content-Length: 6\r\n\r\nhello!",
                   400);
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nContent-Length: 5, 6\r\n\r\nhello!", 400);
}
END_TEST

START_TEST(test_transfer_encoding_chunked_not_last_is_400)
{
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked, identity\r\n"
                   "\r\n5\r\nhello\r\n0\r\n\r\n",
                   400);
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: identity\r\n\r\nhello",
                   400);
}
END_TEST

/* ---- a bare CR (a CR not followed by LF): llhttp 8.1.0 built without its strict mode took it
 * as the end of the head and called the body callback inside the head parse (a remote crash);
 * every place in a head is refused with 400 and close, and the server goes on serving ---- */

/* The 60-byte request that crashed the server; then the same server still answers. */
static int main_bare_cr_crash(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s, "POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\rabcdefgh\r\n\r\n", 0,
              &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(http_header(&r, "Connection"), "close");
    http_response_free(&r);
    expect_closed(s);
    ah_stream_close(s);
    ck_assert_int_eq(st.body_calls, 0);
    expect_get(&fx, "/hello", 200, "Hello, World!");
    fx_stop(&fx);
    return 0;
}

START_TEST(test_bare_cr_after_header_block_is_400_and_server_lives)
{
    RUN(main_bare_cr_crash, NULL);
}
END_TEST

START_TEST(test_bare_cr_anywhere_in_the_head_is_400)
{
    /* ending the request line */
    expect_refusal("GET /hello HTTP/1.1\rHost: test\r\n\r\n", 400);
    expect_refusal("GET /hello HTTP/1.1\r\r\nHost: test\r\n\r\n", 400);
    /* inside the request line */
    expect_refusal("GET /he\rllo HTTP/1.1\r\nHost: test\r\n\r\n", 400);
    /* inside a header, in its name and in its value */
    expect_refusal("GET /hello HTTP/1.1\r\nHost: te\rst\r\n\r\n", 400);
    expect_refusal("GET /hello HTTP/1.1\r\nHo\rst: test\r\n\r\n", 400);
    /* ending a header line */
    expect_refusal("GET /hello HTTP/1.1\r\nHost: test\r\rX-A: b\r\n\r\n", 400);
    /* the empty line: a bare CR instead of it, and doubled before its LF */
    expect_refusal("GET /hello HTTP/1.1\r\nHost: test\r\n\rX", 400);
    expect_refusal("GET /hello HTTP/1.1\r\nHost: test\r\n\r\r\n", 400);
    /* with a body to be smuggled */
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\rabcd", 400);
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r"
                   "4\r\nabcd\r\n0\r\n\r\n",
                   400);
}
END_TEST

/* Two heads, the first ended by a bare CR: one request to a front proxy that frames by CRLF, two
 * to a parser that took the CR as the end. Exactly one answer comes back: 400, then close. */
static int main_bare_cr_smuggle(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s, "GET /hello HTTP/1.1\r\nHost: a\r\n\rGET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 0,
              &r);
    ck_assert_int_eq(r.status, 400);
    http_response_free(&r);
    expect_closed(s); /* no second response */
    ah_stream_close(s);
    /* pipelined: a good request, then one whose head ends in a bare CR */
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    ck_assert_int_eq(http_send(s,
                               "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                               "GET /hello HTTP/1.1\r\nHost: a\r\n\rGET /hello HTTP/1.1\r\n\r\n"),
                     0);
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    http_response_free(&r);
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    ck_assert_int_eq(r.status, 400);
    http_response_free(&r);
    expect_closed(s);
    ah_stream_close(s);
    /* and a bare CR just after a complete head starts the next "request": refused too */
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    ck_assert_int_eq(http_send(s, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n\rGET /hello HTTP/1.1\r\n"
                                  "Host: a\r\n\r\n"),
                     0);
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    http_response_free(&r);
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    ck_assert_int_eq(r.status, 400);
    http_response_free(&r);
    expect_closed(s);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_bare_cr_does_not_split_one_request_into_two) { RUN(main_bare_cr_smuggle, NULL); }
END_TEST

/* Chunked framing broken in the body (a bare CR in a chunk-size line, chunk data not followed by
 * CRLF): the handler's read fails with AH_EPROTO_HTTP, the answer is 400 and close. */
static int main_bad_chunk_framing(void *arg)
{
    const char *body = arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    char raw[512];
    snprintf(raw, sizeof(raw),
             "POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n%s", body);
    http_response r;
    roundtrip(s, raw, 0, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(http_header(&r, "Connection"), "close");
    http_response_free(&r);
    ck_assert_int_eq(st.body_calls, 1);
    ck_assert_int_eq(st.body_rc, AH_EPROTO_HTTP);
    expect_closed(s);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_bare_cr_in_chunk_size_line_is_400)
{
    RUN(main_bad_chunk_framing, "5\rhello\r\n0\r\n\r\n");
    RUN(main_bad_chunk_framing, "5;ext=1\rhello\r\n0\r\n\r\n");
    RUN(main_bad_chunk_framing, "\r5\r\nhello\r\n0\r\n\r\n");
}
END_TEST

START_TEST(test_chunk_data_not_followed_by_crlf_is_400)
{
    /* a bare LF as the line that ends the body, which llhttp 8.1 takes (fuzzing's F2): the
     * request after it would be served by ahttp and not by a proxy that frames by CRLF */
    RUN(main_bad_chunk_framing, "5\r\nhello\r\n0\r\n\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    RUN(main_bad_chunk_framing, "5\r\nhello\r\n0\r\nX-T: 1\r\n\n");
    RUN(main_bad_chunk_framing, "5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n");
    RUN(main_bad_chunk_framing, "5\r\nhello\rX0\r\n\r\n");
    RUN(main_bad_chunk_framing, "5\r\nhello\n0\r\n\r\n");
}
END_TEST

/* RFC 9112 §6.1: ahttp decodes no transfer coding but chunked, so any other in the list is 501
 * (unlike chunked not last, which makes the length unknowable: 400, tested above). */
START_TEST(test_transfer_codings_other_than_chunked_are_501)
{
    const char *codings[] = {"foo, chunked", "gzip, chunked", "identity, chunked"};
    char raw[512];
    for (size_t i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
        snprintf(raw, sizeof(raw),
                 "POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: %s\r\n\r\n"
                 "5\r\nhello\r\n0\r\n\r\n",
                 codings[i]);
        refusal c = {.raw = raw, .len = strlen(raw), .status = 501};
        RUN(main_refusal, &c);
    }
    /* two lines make one list */
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                   501);
    /* chunked twice is no coding at all (§7: "MUST NOT apply chunked more than once") */
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked, chunked\r\n"
                   "\r\n5\r\nhello\r\n0\r\n\r\n",
                   400);
    /* chunked alone, in any case and with whitespace, is fine (the control) */
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding:  Chunked \r\n\r\n"
                   "5\r\nhello\r\n0\r\n\r\n",
                   200);
}
END_TEST

/* The head parser's llhttp callbacks must not depend on llhttp's framing for memory safety: fed
 * the crashing head directly (as if the scanner had let it through), it refuses it. */
START_TEST(test_request_parser_refuses_body_inside_the_head)
{
    char head[] = "POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\rabcdefgh\r\n\r\n";
    ah__arena arena = {0};
    ah_request req;
    memset(&req, 0, sizeof(req));
    req.arena = &arena;
    ah_server_opts opts = {.max_header_bytes = 16 * 1024, .max_header_count = 100};
    int status = ah__request_parse_head(&req, head, strlen(head), 5, &opts);
    ah__request_end(&req);
    ah__arena_free(&arena);
    ck_assert_int_eq(status, 400);
}
END_TEST

/* The head is fine; the body's framing is not: the handler reading it gets AH_EPROTO_HTTP. */
static int main_bad_chunk(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s,
              "POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
              "zz\r\nhello\r\n0\r\n\r\n",
              0, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(http_header(&r, "Connection"), "close");
    http_response_free(&r);
    ck_assert_int_eq(st.body_calls, 1);
    ck_assert_int_eq(st.body_rc, AH_EPROTO_HTTP);
    expect_closed(s);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_invalid_chunk_size_is_400) { RUN(main_bad_chunk, NULL); }
END_TEST

START_TEST(test_bare_lf_line_ends_are_400)
{
    expect_refusal("GET /hello HTTP/1.1\nHost: test\n\n", 400);
    expect_refusal("GET /hello HTTP/1.1\r\nHost: test\n\r\n", 400);
}
END_TEST

START_TEST(test_obs_fold_is_400)
{
    expect_refusal("GET /hello HTTP/1.1\r\nHost: test\r\nX-Folded: a\r\n b\r\n\r\n", 400);
    expect_refusal("GET /hello HTTP/1.1\r\nHost: test\r\nX-Folded: a\r\n\tb\r\n\r\n", 400);
}
END_TEST

START_TEST(test_space_before_colon_is_400)
{
    expect_refusal("GET /hello HTTP/1.1\r\nHost : test\r\n\r\n", 400);
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding : chunked\r\n\r\n"
                   "0\r\n\r\n",
                   400);
}
END_TEST

START_TEST(test_bad_request_targets_are_400)
{
    expect_refusal("GET /users/a%00b HTTP/1.1\r\nHost: test\r\n\r\n", 400); /* encoded NUL */
    expect_refusal("GET /users/a%zzb HTTP/1.1\r\nHost: test\r\n\r\n", 400); /* bad escape */
    expect_refusal("GET * HTTP/1.1\r\nHost: test\r\n\r\n", 400);            /* '*' is OPTIONS' */
}
END_TEST

START_TEST(test_unknown_expectation_is_417)
{
    expect_refusal("POST /body HTTP/1.1\r\nHost: test\r\nExpect: a-miracle\r\n"
                   "Content-Length: 5\r\n\r\nhello",
                   417);
}
END_TEST

START_TEST(test_connect_method_is_501)
{
    expect_refusal("CONNECT test:443 HTTP/1.1\r\nHost: test:443\r\n\r\n", 501);
}
END_TEST

START_TEST(test_http2_request_line_is_505)
{
    expect_refusal("GET /hello HTTP/2.0\r\nHost: test\r\n\r\n", 505);
}
END_TEST

START_TEST(test_header_timeout_is_408_and_close)
{
    const char *raw = "GET /hello HTTP/1.1\r\nHost: te";
    refusal c = {.raw = raw, .len = strlen(raw), .status = 408, .min_ms = 150, .max_ms = 1000};
    c.opts.header_timeout_ms = 200;
    RUN(main_refusal, &c);
}
END_TEST

static Suite *server_limits_suite(void)
{
    Suite *s = suite_create("server limits");
    TCase *tc;
    tc = tcase_create("limits");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_request_line_over_8k_is_414);
    tcase_add_test(tc, test_over_100_headers_is_431);
    tcase_add_test(tc, test_header_block_over_16k_is_431);
    tcase_add_test(tc, test_header_block_under_16k_is_accepted);
    tcase_add_test(tc, test_content_length_with_transfer_encoding_is_400);
    tcase_add_test(tc, test_conflicting_content_lengths_are_400);
    tcase_add_test(tc, test_content_length_past_int64_is_400);
    tcase_add_test(tc, test_transfer_encoding_chunked_not_last_is_400);
    tcase_add_test(tc, test_transfer_codings_other_than_chunked_are_501);
    tcase_add_test(tc, test_bare_cr_after_header_block_is_400_and_server_lives);
    tcase_add_test(tc, test_bare_cr_anywhere_in_the_head_is_400);
    tcase_add_test(tc, test_bare_cr_does_not_split_one_request_into_two);
    tcase_add_test(tc, test_bare_cr_in_chunk_size_line_is_400);
    tcase_add_test(tc, test_chunk_data_not_followed_by_crlf_is_400);
    tcase_add_test(tc, test_request_parser_refuses_body_inside_the_head);
    tcase_add_test(tc, test_invalid_chunk_size_is_400);
    tcase_add_test(tc, test_bare_lf_line_ends_are_400);
    tcase_add_test(tc, test_obs_fold_is_400);
    tcase_add_test(tc, test_space_before_colon_is_400);
    tcase_add_test(tc, test_bad_request_targets_are_400);
    tcase_add_test(tc, test_unknown_expectation_is_417);
    tcase_add_test(tc, test_connect_method_is_501);
    tcase_add_test(tc, test_http2_request_line_is_505);
    tcase_add_test(tc, test_header_timeout_is_408_and_close);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(server_limits_suite()); }
