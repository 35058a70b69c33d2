/* The fixtures the check_server* suites share (server_fixture.h): assertions inside the test's
 * main task, the routes and middleware, the server fixture and raw request helpers. */
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

/* ---- assertions inside the test's main task ----
 * In Check's no-fork mode (valgrind) a failed assertion longjmps from the task's stack straight
 * to the runner, leaving the loop marked as running: every later test would then fail too.
 * Instead, an assertion failing in the main task jumps back to the start of that task (the same
 * stack), the server is stopped, ah_run returns, and the test raises the recorded failure. */

jmp_buf task_fail_jmp;
ah_task *task_fail_owner;
const char *task_fail_file;
int task_fail_line;
char task_fail_msg[1024];

/* here the real _ck_assert_failed is wanted: server_fixture.h redirected it */
#undef _ck_assert_failed

void task_assert_failed(const char *file, int line, const char *expr, const char *msg, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

void task_assert_failed(const char *file, int line, const char *expr, const char *msg, ...)
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

struct server_seen st;

void trace_add(const char *what)
{
    size_t used = strlen(st.trace);
    snprintf(st.trace + used, sizeof(st.trace) - used, "%s%s", used ? "," : "", what);
}

int text(ah_response *resp, const char *body)
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

unsigned char pattern_at(size_t i) { return (unsigned char)((i * 7 + i / 251) % 251); }

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

/* The server running now, to stop if an assertion fails (a copy: the fixture itself lives in
 * the frame the failure jumps out of). */
static fixture live_fixture;

static int serve_task(void *arg) { return ah_server_serve(arg); }

void fx_start(fixture *fx, const ah_server_opts *opts, void (*setup)(ah_server *))
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
void fx_join(fixture *fx)
{
    int rc = ah_join(fx->serve);
    memset(&live_fixture, 0, sizeof(live_fixture));
    ah_server_free(fx->srv);
    ck_assert_int_eq(rc, 0);
}

void fx_stop(fixture *fx)
{
    ah_server_shutdown(fx->srv, 0);
    fx_join(fx);
}

ah_server_stats stats(const fixture *fx)
{
    ah_server_stats s;
    ah_server_get_stats(fx->srv, &s);
    return s;
}

int64_t slow_x(int64_t ms) { return ah_check_slow() ? ms * 10 : ms; }

/* The main task: runs the test's main, or lands here when one of its assertions fails. */
int guarded_main(void *arg)
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

/* Send raw on a connection and read one response into *r (asserting it arrived). */
void roundtrip(ah_stream *s, const char *raw, int head, http_response *r)
{
    ck_assert_int_eq(http_send(s, raw), 0);
    int rc = http_read_response(s, head, r);
    ck_assert_msg(rc == 0, "reading the response to %.40s: %s", raw, ah_strerror(rc));
}

/* One request on its own connection. */
void exchange(const fixture *fx, const char *raw, int head, http_response *r)
{
    int rc = http_exchange(fx->port, raw, head, r);
    ck_assert_msg(rc == 0, "exchange %.40s: %s", raw, ah_strerror(rc));
}

/* A GET of path on its own connection that must answer status with body (NULL: any body). */
void expect_get(const fixture *fx, const char *path, int status, const char *body)
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

void expect_closed(ah_stream *s)
{
    int closed = http_wait_closed(s, slow_x(1000));
    ck_assert_msg(closed == 1, "the server kept the connection open (%d)", closed);
}

void expect_open(ah_stream *s)
{
    int closed = http_wait_closed(s, 50);
    ck_assert_msg(closed == 0, "the server closed the connection (%d)", closed);
}
