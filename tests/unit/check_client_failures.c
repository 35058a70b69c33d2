/* The HTTP client when things go wrong (client_fixture.h): every timeout telling which fired,
 * cancelled fetches, connect/refusal/DNS failures and bad requests, malformed responses, chunked
 * framing errors after the good bytes, an oversized request head, and freeing a response
 * without waiting for its body. */
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

static Suite *client_failures_suite(void)
{
    Suite *s = suite_create("client failures");
    TCase *tc;
    tc = tcase_create("failures");
    tcase_add_test(tc, test_each_timeout_reports_which_fired);
    tcase_add_test(tc, test_cancelled_fetches_give_back_their_slots);
    tcase_add_test(tc, test_connect_timeout_refusal_dns_and_bad_requests_are_reported);
    tcase_add_test(tc, test_malformed_responses_are_rejected);
    tcase_add_test(tc, test_chunked_framing_errors_come_after_the_good_bytes);
    tcase_add_test(tc, test_chunked_body_error_comes_after_the_bytes_decoded_before_it);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_add_test(tc, test_request_head_past_its_cap_is_etoobig);
    tcase_add_test(tc, test_response_free_never_waits_for_the_body);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* No test here may send a query to the system's name servers: with an unreadable
     * resolv.conf the resolver has none, names in /etc/hosts (localhost) still resolve, and any
     * other name fails at once with AH_EDNS. */
    setenv("AH_RESOLV_CONF", "/nonexistent/ahttp-check-client-resolv.conf", 1);
    int rc = ah_check_run(client_failures_suite());
    free(bomb);
    return rc;
}
