/* The HTTP/1.1 server end to end over loopback (server_fixture.h): routing, middleware,
 * responses (framing, Connection: close, HTTP/1.0, streaming, handler errors), and the task
 * stack size option of ah_server_run.
 *
 * Every test runs one loop (ah_run): the main task makes a server with the fixture's routes,
 * listens on an ephemeral port, spawns a task for ah_server_serve, talks raw HTTP/1.1 to it
 * through httputil.h, then shuts it down, joins the serving task and frees the server. */
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

/* ---- middleware ---- */

static int mw_outer(ah_request *req, ah_response *resp, ah_next *next, void *arg)
{
    (void)req;
    (void)resp;
    (void)arg;
    trace_add("before-outer");
    int rc = ah_next_call(next);
    trace_add("after-outer");
    return rc;
}

static int mw_inner(ah_request *req, ah_response *resp, ah_next *next, void *arg)
{
    (void)req;
    (void)resp;
    (void)arg;
    trace_add("before-inner");
    int rc = ah_next_call(next);
    trace_add("after-inner");
    return rc;
}

static int mw_auth(ah_request *req, ah_response *resp, ah_next *next, void *arg)
{
    (void)arg;
    if (strncmp(ah_request_path(req), "/private", 8) == 0) {
        const char *auth = ah_request_header(req, "Authorization");
        if (!auth || strcmp(auth, "Bearer letmein") != 0) {
            int rc = ah_response_header(resp, "WWW-Authenticate", "Bearer");
            return rc < 0 ? rc : ah_response_text(resp, 401, "text/plain", "who are you?\n");
        }
    }
    return ah_next_call(next);
}

static int mw_after(ah_request *req, ah_response *resp, ah_next *next, void *arg)
{
    (void)req;
    (void)arg;
    int rc = ah_next_call(next);
    st.after_rc = ah_response_header(resp, "X-After", "added");
    return rc;
}

/* A logging middleware: what it can see of the response once the handler has run. */
static int mw_log(ah_request *req, ah_response *resp, ah_next *next, void *arg)
{
    (void)arg;
    int rc = ah_next_call(next);
    snprintf(st.logged, sizeof(st.logged), "%s %s %d %llu", ah_request_method(req),
             ah_request_path(req), ah_response_get_status(resp),
             (unsigned long long)ah_response_get_body_bytes(resp));
    return rc;
}

static void setup_log(ah_server *srv) { ck_assert_int_eq(ah_server_use(srv, mw_log, NULL), 0); }

static void setup_onion(ah_server *srv)
{
    ck_assert_int_eq(ah_server_use(srv, mw_outer, NULL), 0);
    ck_assert_int_eq(ah_server_use(srv, mw_inner, NULL), 0);
}

static void setup_auth(ah_server *srv) { ck_assert_int_eq(ah_server_use(srv, mw_auth, NULL), 0); }

static void setup_after(ah_server *srv) { ck_assert_int_eq(ah_server_use(srv, mw_after, NULL), 0); }

/* ==== routing ==== */

static int main_route_literal(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    http_response r;
    exchange(&fx, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.minor, 1);
    ck_assert_str_eq(r.reason, "OK");
    ck_assert_str_eq(r.body, "Hello, World!");
    ck_assert_str_eq(http_header(&r, "Content-Type"), "text/plain");
    http_response_free(&r);
    /* a literal route is the whole path, not a prefix of it */
    expect_get(&fx, "/hello/extra", 404, NULL);
    expect_get(&fx, "/hellox", 404, NULL);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_route_literal_path_answers_200) { RUN(main_route_literal, NULL); }
END_TEST

static int main_route_param(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    expect_get(&fx, "/users/42", 200, "user=[42]");
    expect_get(&fx, "/users/J%C3%B6rg%20S", 200, "user=[J\xc3\xb6rg S]");
    expect_get(&fx, "/users/", 404, NULL); /* a parameter is never empty */
    expect_get(&fx, "/users/42/more", 404, NULL);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_route_param_is_percent_decoded) { RUN(main_route_param, NULL); }
END_TEST

static int main_route_prefix(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    expect_get(&fx, "/files/a/b/c.txt", 200, "file=[a/b/c.txt]");
    expect_get(&fx, "/files/one", 200, "file=[one]");
    expect_get(&fx, "/filesx/one", 404, NULL);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_route_prefix_star_takes_rest_of_path) { RUN(main_route_prefix, NULL); }
END_TEST

static int main_absolute_form(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    http_response r;
    exchange(&fx, "GET http://test/users/7?x=1 HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "user=[7]");
    http_response_free(&r);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_absolute_form_target_is_routed_by_path) { RUN(main_absolute_form, NULL); }
END_TEST

static int main_route_404(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    http_response r;
    exchange(&fx, "GET /no/such/thing HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.reason, "Not Found");
    ck_assert_ptr_null(http_header(&r, "Allow"));
    http_response_free(&r);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_unknown_path_is_404) { RUN(main_route_404, NULL); }
END_TEST

static int main_route_405(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    http_response r;
    exchange(&fx, "DELETE /only HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_ptr_nonnull(http_header(&r, "Allow"));
    ck_assert_str_eq(http_header(&r, "Allow"), "GET, HEAD");
    http_response_free(&r);
    /* with a Content-Length body too: refused, and the body does not become a request */
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    roundtrip(s, "POST /only HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\nGET ", 0, &r);
    ck_assert_int_eq(r.status, 405);
    http_response_free(&r);
    roundtrip(s, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_response_free(&r);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_wrong_method_is_405_with_allow) { RUN(main_route_405, NULL); }
END_TEST

static int main_head(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    /* HEAD then GET in one write: any body after the HEAD response would be read as the next
     * status line and fail */
    ck_assert_int_eq(http_send(s, "HEAD /hello HTTP/1.1\r\nHost: test\r\n\r\n"
                                  "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n"),
                     0);
    http_response r;
    ck_assert_int_eq(http_read_response(s, 1, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(http_header(&r, "Content-Length"));
    ck_assert_str_eq(http_header(&r, "Content-Length"), "13");
    ck_assert_str_eq(http_header(&r, "Content-Type"), "text/plain");
    http_response_free(&r);
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "Hello, World!");
    http_response_free(&r);
    /* a streamed (chunked) GET route: HEAD has its headers and not even the last chunk */
    ck_assert_int_eq(http_send(s, "HEAD /stream HTTP/1.1\r\nHost: test\r\n\r\n"
                                  "GET /echo/after-head HTTP/1.1\r\nHost: test\r\n\r\n"),
                     0);
    ck_assert_int_eq(http_read_response(s, 1, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(http_header(&r, "Content-Type"), "text/plain");
    http_response_free(&r);
    ck_assert_int_eq(http_read_response(s, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "after-head");
    http_response_free(&r);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_head_on_get_route_has_length_but_no_body) { RUN(main_head, NULL); }
END_TEST

static int has_method(const char *allow, const char *m)
{
    size_t ml = strlen(m);
    for (const char *p = allow; (p = strstr(p, m)); p += ml)
        if ((p == allow || p[-1] == ' ' || p[-1] == ',') && (p[ml] == '\0' || p[ml] == ','))
            return 1;
    return 0;
}

static int main_options_star(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    http_response r;
    exchange(&fx, "OPTIONS * HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    const char *allow = http_header(&r, "Allow");
    ck_assert_ptr_nonnull(allow);
    ck_assert_msg(has_method(allow, "GET") && has_method(allow, "HEAD") &&
                      has_method(allow, "POST") && has_method(allow, "OPTIONS"),
                  "Allow: %s", allow);
    ck_assert_msg(!has_method(allow, "DELETE"), "Allow: %s", allow);
    ck_assert_str_eq(http_header(&r, "Content-Length"), "0");
    http_response_free(&r);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_options_star_lists_allowed_methods) { RUN(main_options_star, NULL); }
END_TEST

static int main_query(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    expect_get(&fx, "/q?name=J%C3%B6rg+Smith&empty=&flag&x=1%2B1&x=second", 200,
               "name=[J\xc3\xb6rg Smith] empty=[] flag=[] x=[1+1] missing=NULL");
    expect_get(&fx, "/q", 200, "name=NULL empty=NULL flag=NULL x=NULL missing=NULL");
    fx_stop(&fx);
    return 0;
}

START_TEST(test_query_params_are_decoded) { RUN(main_query, NULL); }
END_TEST

/* ==== middleware ==== */

static int main_onion(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, setup_onion);
    expect_get(&fx, "/trace", 200, "traced");
    ck_assert_str_eq(st.trace, "before-outer,before-inner,handler,after-inner,after-outer");
    fx_stop(&fx);
    return 0;
}

START_TEST(test_middleware_runs_in_onion_order) { RUN(main_onion, NULL); }
END_TEST

static int main_short_circuit(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, setup_auth);
    http_response r;
    exchange(&fx, "GET /private HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 401);
    ck_assert_str_eq(r.body, "who are you?\n");
    ck_assert_str_eq(http_header(&r, "WWW-Authenticate"), "Bearer");
    http_response_free(&r);
    ck_assert_int_eq(st.private_calls, 0);
    exchange(&fx, "GET /private HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer letmein\r\n\r\n", 0,
             &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "secret stuff");
    http_response_free(&r);
    ck_assert_int_eq(st.private_calls, 1);
    expect_get(&fx, "/hello", 200, "Hello, World!"); /* other paths pass through */
    fx_stop(&fx);
    return 0;
}

START_TEST(test_middleware_can_answer_without_calling_next) { RUN(main_short_circuit, NULL); }
END_TEST

static int main_after_next(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, setup_after);
    http_response r;
    exchange(&fx, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(st.after_rc, 0);
    ck_assert_ptr_nonnull(http_header(&r, "X-After"));
    ck_assert_str_eq(http_header(&r, "X-After"), "added");
    ck_assert_str_eq(r.body, "Hello, World!");
    http_response_free(&r);
    /* also on the router's own 404 */
    exchange(&fx, "GET /nothing HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(http_header(&r, "X-After"), "added");
    http_response_free(&r);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_middleware_adds_header_after_next) { RUN(main_after_next, NULL); }
END_TEST

static int main_log_status(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, setup_log);
    http_response r;
    exchange(&fx, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_response_free(&r);
    ck_assert_str_eq(st.logged, "GET /hello 200 13");
    exchange(&fx, "GET /nothing HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 404);
    http_response_free(&r);
    ck_assert_msg(strncmp(st.logged, "GET /nothing 404 ", 17) == 0, "%s", st.logged);
    exchange(&fx, "HEAD /hello HTTP/1.1\r\nHost: test\r\n\r\n", 1, &r);
    http_response_free(&r);
    ck_assert_str_eq(st.logged, "HEAD /hello 200 0");
    exchange(&fx, "GET /stream HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    char want[64];
    snprintf(want, sizeof(want), "GET /stream 200 %zu", strlen(r.body));
    http_response_free(&r);
    ck_assert_str_eq(st.logged, want);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_middleware_logs_status_and_body_bytes) { RUN(main_log_status, NULL); }
END_TEST

/* ==== responses ==== */

static int main_length_date(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    http_response r;
    exchange(&fx, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(http_header_count(&r, "Content-Length"), 1);
    ck_assert_str_eq(http_header(&r, "Content-Length"), "13");
    ck_assert_int_eq(http_header_count(&r, "Date"), 1);
    const char *date = http_header(&r, "Date");
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    ck_assert_uint_eq(strlen(date), 29);
    ck_assert_str_eq(date + 25, " GMT");
    ck_assert_int_eq(date[3], ',');
    ck_assert_ptr_null(http_header(&r, "Connection")); /* HTTP/1.1 keep-alive is the default */
    ck_assert_int_eq(r.to_eof, 0);
    http_response_free(&r);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_response_has_content_length_and_date) { RUN(main_length_date, NULL); }
END_TEST

static int main_client_close(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s, "GET /hello HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "Hello, World!");
    ck_assert_ptr_nonnull(http_header(&r, "Connection"));
    ck_assert_str_eq(http_header(&r, "Connection"), "close");
    http_response_free(&r);
    expect_closed(s);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_client_connection_close_closes_after_response) { RUN(main_client_close, NULL); }
END_TEST

static int main_handler_close(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s, "GET /close HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "bye");
    ck_assert_int_eq(http_header_count(&r, "Connection"), 1);
    ck_assert_str_eq(http_header(&r, "Connection"), "close");
    http_response_free(&r);
    expect_closed(s);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_handler_connection_close_closes_after_response) { RUN(main_handler_close, NULL); }
END_TEST

static int main_http10_close(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s, "GET /hello HTTP/1.0\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "Hello, World!");
    const char *conn = http_header(&r, "Connection");
    ck_assert_msg(!conn || strcasecmp(conn, "close") == 0, "Connection: %s", conn);
    http_response_free(&r);
    expect_closed(s);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_http10_without_keepalive_is_closed) { RUN(main_http10_close, NULL); }
END_TEST

static int main_http10_keepalive(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    for (int i = 0; i < 2; i++) {
        http_response r;
        roundtrip(s, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "Hello, World!");
        ck_assert_ptr_nonnull(http_header(&r, "Connection"));
        ck_assert_str_eq(http_header(&r, "Connection"), "keep-alive");
        ck_assert_ptr_nonnull(http_header(&r, "Content-Length"));
        http_response_free(&r);
        expect_open(s);
    }
    ck_assert_uint_eq(stats(&fx).connections_accepted, 1);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_http10_with_keepalive_is_kept_and_echoed) { RUN(main_http10_keepalive, NULL); }
END_TEST

static int main_split(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    http_response r;
    exchange(&fx, "GET /split HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(st.split_rc[0], AH_EINVAL);
    ck_assert_int_eq(st.split_rc[1], AH_EINVAL);
    ck_assert_int_eq(st.split_rc[2], AH_EINVAL);
    ck_assert_int_eq(st.split_rc[3], 0);
    ck_assert_ptr_null(http_header(&r, "Set-Cookie"));
    ck_assert_ptr_null(http_header(&r, "X-Injected"));
    ck_assert_ptr_null(http_header(&r, "X-Evil"));
    ck_assert_str_eq(http_header(&r, "X-Fine"), "a fine value");
    ck_assert_str_eq(r.body, "split");
    http_response_free(&r);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_crlf_in_handler_header_is_refused) { RUN(main_split, NULL); }
END_TEST

static int main_stream(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s, "GET /stream HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.chunked, 1);
    ck_assert_ptr_null(http_header(&r, "Content-Length"));
    ck_assert_str_eq(http_header(&r, "Transfer-Encoding"), "chunked");
    ck_assert_str_eq(r.body, "hello, chunked world");
    ck_assert_uint_eq(r.ntrailers, 1);
    ck_assert_ptr_nonnull(http_trailer(&r, "X-Checksum"));
    ck_assert_str_eq(http_trailer(&r, "X-Checksum"), "c0ffee");
    http_response_free(&r);
    /* the chunked framing ended exactly: the connection carries on */
    roundtrip(s, "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "Hello, World!");
    http_response_free(&r);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_streamed_chunked_response_with_trailer) { RUN(main_stream, NULL); }
END_TEST

static int main_stream_as_written(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *c;
    ck_assert_int_eq(ah_tcp_connect("127.0.0.1", fx.port, NULL, &c), 0);
    const char req[] = "GET /slowstream HTTP/1.1\r\nHost: t\r\n\r\n";
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_stream_write(c, req, sizeof(req) - 1), 0);
    /* the head and the first chunk arrive while the handler still sleeps */
    char buf[512];
    int n = ah_stream_read_until(c, "first\n", 6, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(ah_check_elapsed(start), slow_x(250));
    n = ah_stream_read_until(c, "0\r\n\r\n", 5, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_int_ge(ah_check_elapsed(start), 290);
    ah_stream_close(c);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_streamed_response_is_sent_as_written) { RUN(main_stream_as_written, NULL); }
END_TEST

static int main_stream_http10(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    http_response r;
    roundtrip(s, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 200);
    /* HTTP/1.0 has no chunked encoding: the body runs to the end of the connection */
    ck_assert_ptr_null(http_header(&r, "Transfer-Encoding"));
    ck_assert_int_eq(r.to_eof, 1);
    ck_assert_str_eq(http_header(&r, "Connection"), "close");
    ck_assert_str_eq(r.body, "hello, chunked world");
    http_response_free(&r);
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_streamed_response_to_http10_ends_with_close) { RUN(main_stream_http10, NULL); }
END_TEST

static int main_big_response(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    ah_stream *s;
    ck_assert_int_eq(http_connect(fx.port, &s), 0);
    /* twice on one connection, the second pipelined behind a small request */
    ck_assert_int_eq(http_send(s, "GET /big HTTP/1.1\r\nHost: test\r\n\r\n"
                                  "GET /echo/mid HTTP/1.1\r\nHost: test\r\n\r\n"
                                  "GET /big HTTP/1.1\r\nHost: test\r\n\r\n"),
                     0);
    for (int k = 0; k < 3; k++) {
        http_response r;
        ck_assert_int_eq(http_read_response(s, 0, &r), 0);
        ck_assert_int_eq(r.status, 200);
        if (k == 1) {
            ck_assert_str_eq(r.body, "mid");
        } else {
            ck_assert_uint_eq(r.body_len, BIG_LEN);
            size_t bad = BIG_LEN;
            for (size_t i = 0; i < BIG_LEN && bad == BIG_LEN; i++)
                if ((unsigned char)r.body[i] != pattern_at(i))
                    bad = i;
            http_response_free(&r);
            ck_assert_msg(bad == BIG_LEN, "byte %zu of the body is wrong", bad);
            continue;
        }
        http_response_free(&r);
    }
    ah_stream_close(s);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_large_response_body_arrives_intact) { RUN(main_big_response, NULL); }
END_TEST

static int main_fail(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    http_response r;
    exchange(&fx, "GET /fail HTTP/1.1\r\nHost: test\r\n\r\n", 0, &r);
    ck_assert_int_eq(r.status, 500);
    ck_assert_str_eq(r.reason, "Internal Server Error");
    ck_assert_ptr_nonnull(http_header(&r, "Content-Length"));
    http_response_free(&r);
    fx_stop(&fx);
    return 0;
}

START_TEST(test_handler_error_before_sending_is_500) { RUN(main_fail, NULL); }
END_TEST

/* A handler's Content-Length that disagrees with its body must not break the framing of the
 * connection (response desync): the response behind it still parses, or the connection ends. */
static int main_badlen(void *arg)
{
    (void)arg;
    fixture fx;
    fx_start(&fx, NULL, NULL);
    const char *declared[] = {"5", "50"};
    for (int k = 0; k < 2; k++) {
        char raw[256];
        snprintf(raw, sizeof(raw),
                 "GET /badlen/%s HTTP/1.1\r\nHost: test\r\n\r\n"
                 "GET /echo/next HTTP/1.1\r\nHost: test\r\n\r\n",
                 declared[k]);
        ah_stream *s;
        ck_assert_int_eq(http_connect(fx.port, &s), 0);
        ck_assert_int_eq(http_send(s, raw), 0);
        ah_stream_set_timeouts(s, slow_x(500), http_read_timeout_ms());
        http_response r1, r2;
        int rc1 = http_read_response(s, 0, &r1);
        int rc2 = rc1 == 0 ? http_read_response(s, 0, &r2) : rc1;
        char first[64] = "", second[64] = "";
        if (rc1 == 0) {
            snprintf(first, sizeof(first), "%d [%.40s]", r1.status, r1.body);
            http_response_free(&r1);
        }
        if (rc2 == 0) {
            snprintf(second, sizeof(second), "%d [%.40s]", r2.status, r2.body);
            http_response_free(&r2);
        }
        ah_stream_close(s);
        ck_assert_msg(rc2 == AH_EEOF || (rc2 == 0 && strcmp(second, "200 [next]") == 0),
                      "Content-Length %s on a 13-byte body: first %s (%s), then %s (%s)",
                      declared[k], first, ah_strerror(rc1), second, ah_strerror(rc2));
    }
    fx_stop(&fx);
    return 0;
}

START_TEST(test_handler_content_length_mismatch_keeps_framing) { RUN(main_badlen, NULL); }
END_TEST

/* ==== ah_server_run's own loops ==== */

/* Uses 256 KiB of stack: more than a task's default 64 KiB (the guard page would stop it). */
static int h_deep(ah_request *req, ah_response *resp, void *arg)
{
    (void)req;
    (void)arg;
    volatile char big[256 * 1024];
    for (size_t i = 0; i < sizeof(big); i += 4096)
        big[i] = (char)i;
    big[sizeof(big) - 1] = 'k';
    char text[3] = {'o', big[sizeof(big) - 1], '\0'};
    return ah_response_text(resp, 200, "text/plain", text);
}

static void *run_server_thread(void *arg) { return (void *)(intptr_t)ah_server_run(arg); }

/* A blocking GET on loopback (this test's main thread has no loop); the status, or -1. */
static int blocking_get(uint16_t port, const char *path, char *body, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        close(fd);
        return -1;
    }
    char req[256];
    int n =
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    char buf[4096];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(buf) - 1 && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    buf[got] = '\0';
    const char *b = strstr(buf, "\r\n\r\n");
    snprintf(body, size, "%s", b ? b + 4 : "");
    return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : -1;
}

START_TEST(test_task_stack_size_option_gives_handlers_room)
{
    ah_server_opts o = {.task_stack_size = 512 * 1024};
    ah_server *srv = ah_server_new(&o);
    ck_assert_ptr_nonnull(srv);
    ck_assert_int_eq(ah_server_route(srv, "GET", "/deep", h_deep, NULL), 0);
    ck_assert_int_eq(ah_server_listen(srv, "127.0.0.1", 0), 0);
    uint16_t port = ah_server_port(srv, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, run_server_thread, srv), 0);
    char body[64] = "";
    int status = -1;
    for (int i = 0; i < 100 && status < 0; i++) { /* until the worker listens */
        status = blocking_get(port, "/deep", body, sizeof(body));
        if (status < 0)
            usleep(20 * 1000);
    }
    ah_server_shutdown(srv, 1000);
    void *rc;
    pthread_join(th, &rc);
    ah_server_free(srv);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(body, "ok");
    ck_assert_int_eq((int)(intptr_t)rc, 0);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc;
    tc = tcase_create("routing");
    tcase_add_test(tc, test_route_literal_path_answers_200);
    tcase_add_test(tc, test_absolute_form_target_is_routed_by_path);
    tcase_add_test(tc, test_route_param_is_percent_decoded);
    tcase_add_test(tc, test_route_prefix_star_takes_rest_of_path);
    tcase_add_test(tc, test_unknown_path_is_404);
    tcase_add_test(tc, test_wrong_method_is_405_with_allow);
    tcase_add_test(tc, test_head_on_get_route_has_length_but_no_body);
    tcase_add_test(tc, test_options_star_lists_allowed_methods);
    tcase_add_test(tc, test_query_params_are_decoded);
    suite_add_tcase(s, tc);
    tc = tcase_create("middleware");
    tcase_add_test(tc, test_middleware_runs_in_onion_order);
    tcase_add_test(tc, test_middleware_can_answer_without_calling_next);
    tcase_add_test(tc, test_middleware_adds_header_after_next);
    tcase_add_test(tc, test_middleware_logs_status_and_body_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("responses");
    tcase_add_test(tc, test_response_has_content_length_and_date);
    tcase_add_test(tc, test_client_connection_close_closes_after_response);
    tcase_add_test(tc, test_handler_connection_close_closes_after_response);
    tcase_add_test(tc, test_http10_without_keepalive_is_closed);
    tcase_add_test(tc, test_http10_with_keepalive_is_kept_and_echoed);
    tcase_add_test(tc, test_crlf_in_handler_header_is_refused);
    tcase_add_test(tc, test_streamed_chunked_response_with_trailer);
    tcase_add_test(tc, test_streamed_response_is_sent_as_written);
    tcase_add_test(tc, test_streamed_response_to_http10_ends_with_close);
    tcase_add_test(tc, test_large_response_body_arrives_intact);
    tcase_add_test(tc, test_handler_error_before_sending_is_500);
    tcase_add_test(tc, test_handler_content_length_mismatch_keeps_framing);
    suite_add_tcase(s, tc);
    tc = tcase_create("run");
    tcase_add_test(tc, test_task_stack_size_option_gives_handlers_room);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(server_suite()); }
