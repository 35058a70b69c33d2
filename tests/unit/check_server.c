/* The HTTP/1.1 server end to end over loopback: routing, middleware, responses, keep-alive and
 * pipelining, idle connections, request bodies (Content-Length, chunked, 100-continue, limits),
 * the refusals that stop request smuggling, graceful shutdown and max_connections.
 *
 * Every test runs one loop (ah_run): the main task makes a server with the routes below, listens
 * on an ephemeral port, spawns a task for ah_server_serve, talks raw HTTP/1.1 to it through
 * httputil.h, then shuts it down, joins the serving task and frees the server. */
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

/* ---- assertions inside the test's main task ----
 * In Check's no-fork mode (valgrind) a failed assertion longjmps from the task's stack straight
 * to the runner, leaving the loop marked as running: every later test would then fail too.
 * Instead, an assertion failing in the main task jumps back to the start of that task (the same
 * stack), the server is stopped, ah_run returns, and the test raises the recorded failure. */

static jmp_buf task_fail_jmp;
static ah_task *task_fail_owner;
static const char *task_fail_file;
static int task_fail_line;
static char task_fail_msg[1024];

static void task_assert_failed(const char *file, int line, const char *expr, const char *msg, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

static void task_assert_failed(const char *file, int line, const char *expr, const char *msg, ...)
{
    char text[sizeof(task_fail_msg)];
    if (msg) {
        va_list ap;
        va_start(ap, msg);
        vsnprintf(text, sizeof(text), msg, ap);
        va_end(ap);
    } else {
        snprintf(text, sizeof(text), "%s", expr);
    }
    if (!task_fail_owner || ah_task_current() != task_fail_owner)
        _ck_assert_failed(file, line, expr, "%s", text);
    task_fail_file = file;
    task_fail_line = line;
    memcpy(task_fail_msg, text, sizeof(text));
    longjmp(task_fail_jmp, 1);
}

/* every ck_assert* below goes through task_assert_failed */
#define _ck_assert_failed task_assert_failed

/* ---- what the handlers saw (reset for every server) ---- */

static struct {
    char trace[256];
    int private_calls;
    int after_rc;
    int small_calls;
    int small_rc;
    int body_calls;
    int body_reading; /* the /body handler is about to read the body */
    int body_rc;
    int sleep_started;
    int sleep_rc;
    int split_rc[4];
    char logged[128]; /* what the logging middleware wrote */
} st;

static void trace_add(const char *what)
{
    size_t used = strlen(st.trace);
    snprintf(st.trace + used, sizeof(st.trace) - used, "%s%s", used ? "," : "", what);
}

static int text(ah_response *resp, const char *body)
{
    return ah_response_text(resp, 200, "text/plain", body);
}

static int h_hello(ah_request *req, ah_response *resp, void *arg)
{
    (void)req;
    (void)arg;
    return text(resp, "Hello, World!");
}

static int h_user(ah_request *req, ah_response *resp, void *arg)
{
    (void)arg;
    const char *id = ah_request_param(req, "id");
    char buf[512];
    snprintf(buf, sizeof(buf), "user=[%s]", id ? id : "(null)");
    return text(resp, buf);
}

static int h_files(ah_request *req, ah_response *resp, void *arg)
{
    (void)arg;
    const char *rest = ah_request_param(req, "*");
    char buf[512];
    snprintf(buf, sizeof(buf), "file=[%s]", rest ? rest : "(null)");
    return text(resp, buf);
}

static int h_echo(ah_request *req, ah_response *resp, void *arg)
{
    (void)arg;
    const char *n = ah_request_param(req, "n");
    return text(resp, n ? n : "(null)");
}

static const char *shown(const char *v, char *buf, size_t size)
{
    if (!v)
        return "NULL";
    snprintf(buf, size, "[%s]", v);
    return buf;
}

static int h_query(ah_request *req, ah_response *resp, void *arg)
{
    (void)arg;
    char a[128], b[128], c[128], d[128], e[128], out[700];
    snprintf(out, sizeof(out), "name=%s empty=%s flag=%s x=%s missing=%s",
             shown(ah_request_query_param(req, "name"), a, sizeof(a)),
             shown(ah_request_query_param(req, "empty"), b, sizeof(b)),
             shown(ah_request_query_param(req, "flag"), c, sizeof(c)),
             shown(ah_request_query_param(req, "x"), d, sizeof(d)),
             shown(ah_request_query_param(req, "missing"), e, sizeof(e)));
    return text(resp, out);
}

static int h_sleep(ah_request *req, ah_response *resp, void *arg)
{
    (void)arg;
    const char *ms = ah_request_query_param(req, "ms");
    st.sleep_started++;
    int rc = ah_sleep(ms ? atoi(ms) : 100);
    st.sleep_rc = rc;
    if (rc < 0)
        return rc;
    return text(resp, "slept");
}

static int h_body(ah_request *req, ah_response *resp, void *arg)
{
    (void)arg;
    st.body_calls++;
    const char *delay = ah_request_query_param(req, "delay");
    if (delay && ah_sleep(atoi(delay)) < 0)
        return AH_ECANCELED;
    st.body_reading = 1;
    const char *data;
    size_t len;
    int rc = ah_request_body(req, &data, &len);
    st.body_rc = rc;
    if (rc < 0)
        return rc;
    char declared[32];
    snprintf(declared, sizeof(declared), "%lld", (long long)ah_request_content_length(req));
    rc = ah_response_header(resp, "X-Declared-Length", declared);
    if (rc < 0)
        return rc;
    return ah_response_body(resp, data, len);
}

static int h_small(ah_request *req, ah_response *resp, void *arg)
{
    (void)arg;
    st.small_calls++;
    const char *data;
    size_t len;
    int rc = ah_request_body(req, &data, &len);
    st.small_rc = rc;
    if (rc < 0)
        return rc;
    return ah_response_body(resp, data, len);
}

static int h_ignore(ah_request *req, ah_response *resp, void *arg)
{
    (void)req;
    (void)arg;
    return text(resp, "ignored");
}

static int h_close(ah_request *req, ah_response *resp, void *arg)
{
    (void)req;
    (void)arg;
    int rc = ah_response_header(resp, "Connection", "close");
    return rc < 0 ? rc : text(resp, "bye");
}

static int h_split(ah_request *req, ah_response *resp, void *arg)
{
    (void)req;
    (void)arg;
    st.split_rc[0] = ah_response_header(resp, "X-Evil", "ok\r\nSet-Cookie: pwned=1");
    st.split_rc[1] = ah_response_header(resp, "X-Evil", "ok\nX-Injected: 1");
    st.split_rc[2] = ah_response_header(resp, "X-Evil\r\nX-Injected", "1");
    st.split_rc[3] = ah_response_header(resp, "X-Fine", "a fine value");
    return text(resp, "split");
}

static int h_stream(ah_request *req, ah_response *resp, void *arg)
{
    (void)req;
    (void)arg;
    int rc = ah_response_header(resp, "Content-Type", "text/plain");
    if (rc == 0)
        rc = ah_response_header(resp, "Trailer", "X-Checksum");
    const char *parts[] = {"hello, ", "chunked ", "world"};
    for (size_t i = 0; rc == 0 && i < 3; i++)
        rc = ah_response_write(resp, parts[i], strlen(parts[i]));
    if (rc == 0)
        rc = ah_response_trailer(resp, "X-Checksum", "c0ffee");
    return rc < 0 ? rc : ah_response_end(resp);
}

/* Streams a first piece, waits, then a second: the first must reach the client before. */
static int h_slow_stream(ah_request *req, ah_response *resp, void *arg)
{
    (void)req;
    (void)arg;
    int rc = ah_response_write(resp, "first\n", 6);
    if (rc == 0)
        rc = ah_sleep(300);
    if (rc == 0)
        rc = ah_response_write(resp, "second\n", 7);
    return rc < 0 ? rc : ah_response_end(resp);
}

static int h_fail(ah_request *req, ah_response *resp, void *arg)
{
    (void)req;
    (void)resp;
    (void)arg;
    return AH_EINVAL;
}

static int h_private(ah_request *req, ah_response *resp, void *arg)
{
    (void)req;
    (void)arg;
    st.private_calls++;
    return text(resp, "secret stuff");
}

static int h_trace(ah_request *req, ah_response *resp, void *arg)
{
    (void)req;
    (void)arg;
    trace_add("handler");
    return text(resp, "traced");
}

/* Reads the body 1, 2 or 3 bytes at a time with ah_request_read, and echoes it. */
static int h_bytewise(ah_request *req, ah_response *resp, void *arg)
{
    (void)arg;
    char out[4096];
    size_t used = 0;
    for (size_t i = 0;; i++) {
        size_t want = 1 + i % 3;
        if (used + want > sizeof(out))
            return AH_ETOOBIG;
        int n = ah_request_read(req, out + used, want);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        used += (size_t)n;
    }
    return ah_response_body(resp, out, used);
}

/* A handler whose own Content-Length header disagrees with the body it sets. */
static int h_badlen(ah_request *req, ah_response *resp, void *arg)
{
    (void)arg;
    const char *declared = ah_request_param(req, "n");
    (void)!ah_response_header(resp, "Content-Length", declared);
    return ah_response_body(resp, "Hello, World!", 13);
}

#define BIG_LEN (2 * 1024 * 1024 + 7)

static unsigned char pattern_at(size_t i) { return (unsigned char)((i * 7 + i / 251) % 251); }

static int h_big(ah_request *req, ah_response *resp, void *arg)
{
    (void)arg;
    unsigned char *data = ah_request_alloc(req, BIG_LEN);
    if (!data)
        return AH_ENOMEM;
    for (size_t i = 0; i < BIG_LEN; i++)
        data[i] = pattern_at(i);
    return ah_response_body_ref(resp, data, BIG_LEN);
}

static void add_routes(ah_server *srv)
{
    static const struct {
        const char *method, *pattern;
        ah_handler_fn fn;
    } routes[] = {
        {"GET", "/hello", h_hello},
        {"GET", "/users/{id}", h_user},
        {"GET", "/files/*", h_files},
        {"GET", "/only", h_hello},
        {"GET", "/echo/{n}", h_echo},
        {"GET", "/q", h_query},
        {"GET", "/sleep", h_sleep},
        {"POST", "/body", h_body},
        {"POST", "/ignore", h_ignore},
        {"GET", "/close", h_close},
        {"GET", "/split", h_split},
        {"GET", "/stream", h_stream},
        {"GET", "/fail", h_fail},
        {"GET", "/private", h_private},
        {"GET", "/trace", h_trace},
        {"GET", "/big", h_big},
        {"POST", "/bytewise", h_bytewise},
        {"GET", "/badlen/{n}", h_badlen},
        {"GET", "/slowstream", h_slow_stream},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        ck_assert_int_eq(
            ah_server_route(srv, routes[i].method, routes[i].pattern, routes[i].fn, NULL), 0);
    ah_route_opts small = {.max_body = 16};
    ck_assert_int_eq(ah_server_route_ex(srv, "POST", "/small", h_small, NULL, &small), 0);
}

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

/* ---- the fixture: a server on an ephemeral loopback port, served by its own task ---- */

typedef struct fixture {
    ah_server *srv;
    ah_task *serve;
    uint16_t port;
} fixture;

/* The server running now, to stop if an assertion fails (a copy: the fixture itself lives in
 * the frame the failure jumps out of). */
static fixture live_fixture;

static int serve_task(void *arg) { return ah_server_serve(arg); }

static void fx_start(fixture *fx, const ah_server_opts *opts, void (*setup)(ah_server *))
{
    memset(&st, 0, sizeof(st));
    fx->srv = ah_server_new(opts);
    ck_assert_ptr_nonnull(fx->srv);
    add_routes(fx->srv);
    if (setup)
        setup(fx->srv);
    ck_assert_int_eq(ah_server_listen(fx->srv, "127.0.0.1", 0), 0);
    fx->port = ah_server_port(fx->srv, 0);
    ck_assert_uint_gt(fx->port, 0);
    fx->serve = ah_spawn(serve_task, fx->srv);
    ck_assert_ptr_nonnull(fx->serve);
    live_fixture = *fx;
}

/* Join the serving task (after ah_server_shutdown) and free the server. */
static void fx_join(fixture *fx)
{
    int rc = ah_join(fx->serve);
    memset(&live_fixture, 0, sizeof(live_fixture));
    ah_server_free(fx->srv);
    ck_assert_int_eq(rc, 0);
}

static void fx_stop(fixture *fx)
{
    ah_server_shutdown(fx->srv, 0);
    fx_join(fx);
}

static ah_server_stats stats(const fixture *fx)
{
    ah_server_stats s;
    ah_server_get_stats(fx->srv, &s);
    return s;
}

/* Poll until *flag is set (handlers run on the same loop), at most ms. */
static int wait_flag(const int *flag, int64_t ms)
{
    int64_t start = ah_now_ms();
    while (!*flag && ah_check_elapsed(start) < ms)
        if (ah_sleep(1) < 0)
            return 0;
    return *flag != 0;
}

static int64_t slow_x(int64_t ms) { return ah_check_slow() ? ms * 10 : ms; }

typedef struct {
    ah_task_fn fn;
    void *arg;
} guarded;

/* The main task: runs the test's main, or lands here when one of its assertions fails. */
static int guarded_main(void *arg)
{
    guarded *g = arg;
    task_fail_file = NULL;
    task_fail_owner = ah_task_current();
    if (setjmp(task_fail_jmp) == 0) {
        int rc = g->fn(g->arg);
        task_fail_owner = NULL;
        return rc;
    }
    task_fail_owner = NULL;
    if (live_fixture.srv) { /* stop the server the failed test left running */
        fixture fx = live_fixture;
        memset(&live_fixture, 0, sizeof(live_fixture));
        ah_server_shutdown(fx.srv, 0);
        (void)!ah_join(fx.serve);
        ah_server_free(fx.srv);
    }
    return -1;
}

/* Run main in a fresh loop; no descriptor may outlive it. */
#define RUN(main_fn, main_arg)                                                                     \
    do {                                                                                           \
        int fds_before_ = ah_check_open_fds();                                                     \
        guarded g_ = {main_fn, main_arg};                                                          \
        int rc_ = ah_run(guarded_main, &g_);                                                       \
        if (task_fail_file)                                                                        \
            ck_abort_msg("%s:%d: %s", task_fail_file, task_fail_line, task_fail_msg);              \
        ck_assert_int_eq(rc_, 0);                                                                  \
        ck_assert_int_eq(ah_check_open_fds(), fds_before_);                                        \
    } while (0)

/* Send raw on a connection and read one response into *r (asserting it arrived). */
static void roundtrip(ah_stream *s, const char *raw, int head, http_response *r)
{
    ck_assert_int_eq(http_send(s, raw), 0);
    int rc = http_read_response(s, head, r);
    ck_assert_msg(rc == 0, "reading the response to %.40s: %s", raw, ah_strerror(rc));
}

/* One request on its own connection. */
static void exchange(const fixture *fx, const char *raw, int head, http_response *r)
{
    int rc = http_exchange(fx->port, raw, head, r);
    ck_assert_msg(rc == 0, "exchange %.40s: %s", raw, ah_strerror(rc));
}

/* A GET of path on its own connection that must answer status with body (NULL: any body). */
static void expect_get(const fixture *fx, const char *path, int status, const char *body)
{
    char raw[1024];
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path);
    http_response r;
    exchange(fx, raw, 0, &r);
    ck_assert_msg(r.status == status, "GET %s: status %d, wanted %d", path, r.status, status);
    if (body)
        ck_assert_str_eq(r.body, body);
    http_response_free(&r);
}

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

static void expect_closed(ah_stream *s)
{
    int closed = http_wait_closed(s, slow_x(1000));
    ck_assert_msg(closed == 1, "the server kept the connection open (%d)", closed);
}

static void expect_open(ah_stream *s)
{
    int closed = http_wait_closed(s, 50);
    ck_assert_msg(closed == 0, "the server closed the connection (%d)", closed);
}

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
    TCase *tc = tcase_create("routing");
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

    tc = tcase_create("keepalive");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_pipelined_requests_answered_in_order);
    tcase_add_test(tc, test_slow_handler_does_not_delay_other_connection);
    tcase_add_test(tc, test_keepalive_reuses_connection);
    tcase_add_test(tc, test_idle_connection_parks_without_task_and_wakes);
    tcase_add_test(tc, test_keepalive_timeout_closes_idle_connection);
    suite_add_tcase(s, tc);

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

    tc = tcase_create("run");
    tcase_add_test(tc, test_task_stack_size_option_gives_handlers_room);
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

int main(void) { return ah_check_run(server_suite()); }
