/* Response and request bodies in the HTTP client (client_fixture.h): chunked with trailers,
 * close-delimited and truncated, bodiless responses, empty bodies, gzip/deflate with a zip-bomb
 * cap, bytes received before decoding, uploads from a file, Expect: 100-continue, and
 * read_line over all of them. */
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

/* ---- bodies ---- */

static void client_chunked(world *w)
{
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/chunked"), &r), 0);
    ck_assert_int_eq(ah_client_response_content_length(r), -1);
    ck_assert_ptr_null(ah_client_response_trailer(r, "X-Checksum")); /* not yet */
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "first part, second part, the end");
    ck_assert_str_eq(ah_client_response_trailer(r, "x-checksum"), "abc123");
    ah_client_response_free(r);
    expect_body(c, at(w->url, "/hello"), 200, "Hello, World!");
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);
}

START_TEST(test_chunked_response_with_trailers) { run_world(client_chunked); }
END_TEST

static int http10_close_delimited(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    return send_text(s, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello, world");
}

static int truncated_length(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    return send_text(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
}

static int truncated_chunked(ah_stream *s, int index, void *arg)
{
    if (read_request(s) <= 0)
        return 0;
    return send_text(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
}

static int main_eof_bodies(void *arg)
{
    raw_server rs;
    raw_start(&rs, http10_close_delimited, NULL);
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    ck_assert_int_eq(ah_client_response_version(r), 10);
    ck_assert_int_eq(ah_client_response_content_length(r), -1);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "hello, world");
    ah_client_response_free(r);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0); /* ended by the close: not kept */
    ah_client_close(c);
    raw_stop(&rs);

    raw_start(&rs, truncated_length, NULL);
    c = ah_client_new(NULL);
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_ETRUNCATED);
    ck_assert_int_eq(ah_client_response_error(r)->phase, AH_CLIENT_PHASE_BODY);
    ck_assert_ptr_nonnull(strstr(ah_client_response_error(r)->message, "after 10 of 100"));
    ah_client_response_free(r);
    ah_client_close(c);
    raw_stop(&rs);

    raw_start(&rs, truncated_chunked, NULL);
    c = ah_client_new(NULL);
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    char buf[64];
    ck_assert_int_eq(ah_client_response_read(r, buf, sizeof(buf)), 5);
    ck_assert_int_eq(ah_client_response_read(r, buf, sizeof(buf)), AH_ETRUNCATED);
    ah_client_response_free(r);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_close_delimited_and_truncated_bodies) { run_main(main_eof_bodies); }
END_TEST

/* Bodiless responses on one connection: 1xx before the real answer, 304 and 204 that declare
 * a length, and HEAD. If any of them were read as having a body, the next would be garbled. */
static int bodiless(ah_stream *s, int index, void *arg)
{
    static const char *answers[] = {
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: \"v1\"\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n", /* to a HEAD */
        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone",
    };
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        if (read_request(s) <= 0 || send_text(s, answers[i]) < 0)
            return 0;
    }
    (void)read_request(s);
    return 0;
}

static int main_bodiless(void *arg)
{
    raw_server rs;
    raw_start(&rs, bodiless, NULL);
    ah_client_opts o = {.max_body = 8}; /* below the lengths declared by 304 and HEAD answers */
    ah_client *c = ah_client_new(&o);
    expect_body(c, at(rs.url, "/1"), 200, "hi");
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/2"), &r), 0);
    ck_assert_int_eq(ah_client_response_status(r), 304);
    ck_assert_int_eq(ah_client_response_content_length(r), 50);
    ck_assert_str_eq(ah_client_response_header(r, "ETag"), "\"v1\"");
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_uint_eq(len, 0);
    ah_client_response_free(r);
    expect_body(c, at(rs.url, "/3"), 204, "");
    ah_client_request head = {.method = "HEAD", .url = at(rs.url, "/4")};
    ck_assert_int_eq(ah_client_fetch(c, &head, &r), 0);
    ck_assert_int_eq(ah_client_response_content_length(r), 10000);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_uint_eq(len, 0);
    ah_client_response_free(r);
    expect_body(c, at(rs.url, "/5"), 200, "done");
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_head_1xx_204_304_have_no_body) { run_main(main_bodiless); }
END_TEST

/* ---- compression ---- */

static void client_compressed(world *w)
{
    ah_client *c = ah_client_new(NULL);
    static const char *paths[] = {"/gzip", "/deflate", "/rawdeflate"};
    for (size_t i = 0; i < 3; i++) {
        char *b = get_body(c, at(w->url, paths[i]), 200);
        ck_assert_msg(strcmp(b, text) == 0, "%s decoded wrongly", paths[i]);
        free(b);
        ck_assert_str_eq(g_accept_encoding, "gzip, deflate");
    }
    /* streaming in small reads */
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r), 0);
    ck_assert_str_eq(ah_client_response_header(r, "Content-Encoding"), "gzip");
    char *got = malloc(sizeof(text));
    size_t used = 0;
    int n;
    while ((n = ah_client_response_read(r, got + used, 100)) > 0) {
        used += (size_t)n;
        ck_assert_uint_lt(used, sizeof(text));
    }
    ck_assert_int_eq(n, 0);
    got[used] = '\0';
    ck_assert_str_eq(got, text);
    free(got);
    ah_client_response_free(r);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);

    /* decompression off: no Accept-Encoding, bytes as sent */
    ah_client_opts o = {.decompress = -1};
    c = ah_client_new(&o);
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r), 0);
    ck_assert_str_eq(g_accept_encoding, "none");
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_uint_eq((unsigned char)data[0], 0x1f);
    ck_assert_uint_eq((unsigned char)data[1], 0x8b);
    ah_client_response_free(r);
    ah_client_close(c);
}

START_TEST(test_gzip_and_deflate_bodies_are_decoded) { run_world(client_compressed); }
END_TEST

static void client_caps(world *w)
{
    ah_client_opts o = {.max_decompressed = 64 * 1024};
    ah_client *c = ah_client_new(&o);
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/bomb"), &r), 0);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(ah_client_response_error(r)->message, "decompressed"));
    ah_client_response_free(r);
    ah_client_close(c);

    ah_client_opts o2 = {.max_body = 1000};
    c = ah_client_new(&o2);
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/big"), &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_ETOOBIG);
    ah_client_response_free(r);
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r),
                     0); /* decoded size is what counts */
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), AH_ETOOBIG);
    ah_client_response_free(r);
    ah_client_close(c);
}

START_TEST(test_decompression_and_body_caps) { run_world(client_caps); }
END_TEST

/* Two gzip members, "part one\n" and "part two\n", one after the other (RFC 1952 §2.2), sent
 * chunked in pieces of 10 bytes. */
static int two_gzip_members_chunked(ah_stream *s, int index, void *arg)
{
    size_t *sent = arg;
    if (read_request(s) <= 0)
        return 0;
    size_t n1, n2;
    unsigned char *m1 = compress_with("part one\n", 9, 31, &n1);
    unsigned char *m2 = compress_with("part two\n", 9, 31, &n2);
    unsigned char body[256];
    ck_assert_uint_le(n1 + n2, sizeof(body));
    memcpy(body, m1, n1);
    memcpy(body + n1, m2, n2);
    free(m1);
    free(m2);
    *sent = n1 + n2;
    char out[1024];
    size_t len = (size_t)snprintf(out, sizeof(out),
                                  "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n");
    for (size_t at_byte = 0; at_byte < n1 + n2; at_byte += 10) {
        size_t piece = n1 + n2 - at_byte < 10 ? n1 + n2 - at_byte : 10;
        len += (size_t)snprintf(out + len, sizeof(out) - len, "%zx\r\n", piece);
        memcpy(out + len, body + at_byte, piece);
        len += piece;
        len += (size_t)snprintf(out + len, sizeof(out) - len, "\r\n");
    }
    len += (size_t)snprintf(out + len, sizeof(out) - len, "0\r\n\r\n");
    ck_assert_uint_lt(len, sizeof(out));
    (void)!ah_stream_write(s, out, len);
    (void)read_request(s); /* until the client goes */
    return 0;
}

static void client_bytes_received(world *w)
{
    ck_assert_uint_eq(ah_client_response_bytes_received(NULL), 0);
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;

    /* gzip with a Content-Length: the count is the compressed length, reads give the text */
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r), 0);
    int64_t sent = ah_client_response_content_length(r);
    ck_assert_int_gt(sent, 0);
    ck_assert_int_lt(sent, (int64_t)strlen(text));
    ck_assert_uint_eq(ah_client_response_bytes_received(r), 0);
    char *got = malloc(sizeof(text));
    ck_assert_ptr_nonnull(got);
    size_t used = 0;
    int n;
    while ((n = ah_client_response_read(r, got + used, 100)) > 0) {
        used += (size_t)n;
        ck_assert_uint_lt(used, sizeof(text));
        ck_assert_uint_le(ah_client_response_bytes_received(r), (uint64_t)sent);
    }
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(used, strlen(text));
    ck_assert_int_eq(memcmp(got, text, used), 0);
    free(got);
    ck_assert_uint_eq(ah_client_response_bytes_received(r), (uint64_t)sent);
    ah_client_response_free(r);

    /* chunked: the chunk data counts, the framing and the trailer do not */
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/chunked"), &r), 0);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_uint_eq(len, strlen("first part, second part, the end"));
    ck_assert_uint_eq(ah_client_response_bytes_received(r), len);
    ah_client_response_free(r);

    /* two gzip members, chunked: 18 bytes of text from the compressed bytes sent */
    raw_server rs;
    size_t members_len = 0;
    raw_start(&rs, two_gzip_members_chunked, &members_len);
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "part one\npart two\n");
    ck_assert_uint_gt(members_len, len);
    ck_assert_uint_eq(ah_client_response_bytes_received(r), members_len);
    ah_client_response_free(r);
    ah_client_close(c);
    raw_stop(&rs);

    /* decoding off: what is read is what was received */
    ah_client_opts o = {.decompress = -1};
    c = ah_client_new(&o);
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r), 0);
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_uint_eq(ah_client_response_bytes_received(r), len);
    ah_client_response_free(r);
    ah_client_close(c);
}

START_TEST(test_bytes_received_counts_the_body_as_sent_before_decoding)
{
    run_world(client_bytes_received);
}
END_TEST

/* Bodiless answers read with _body: an empty string, terminated (fuzzing's F3: the buffer
 * was handed out unterminated). */
static int empty_bodies(ah_stream *s, int index, void *arg)
{
    static const char *const replies[] = {
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    };
    int i = 0;
    while (read_request(s) > 0)
        if (send_text(s, replies[i++ % 3]) < 0)
            break;
    return 0;
}

static int main_empty_bodies(void *arg)
{
    raw_server rs;
    raw_start(&rs, empty_bodies, NULL);
    ah_client *c = ah_client_new(NULL);
    for (int i = 0; i < 3; i++) {
        ah_client_response *r;
        ck_assert_int_eq(ah_client_get(c, at(rs.url, "/"), &r), 0);
        const char *data = NULL;
        size_t len = 99;
        ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
        ck_assert_uint_eq(len, 0);
        ck_assert_ptr_nonnull(data);
        ck_assert_str_eq(data, "");
        ah_client_response_free(r);
    }
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_empty_bodies_are_empty_strings) { run_main(main_empty_bodies); }
END_TEST

/* Read every line of url with a buffer of size bytes, joined by '|' after each call. */
static void read_lines(ah_client *c, const char *url, size_t size, char *joined, size_t cap)
{
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, url, &r), 0);
    char buf[64];
    ck_assert_uint_le(size, sizeof(buf));
    joined[0] = '\0';
    int n;
    while ((n = ah_client_response_read_line(r, buf, size)) > 0) {
        ck_assert_uint_eq(strlen(buf), (size_t)n);
        ck_assert_uint_lt((size_t)n, size);
        strncat(joined, buf, cap - strlen(joined) - 1);
        strncat(joined, "|", cap - strlen(joined) - 1);
    }
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(ah_client_response_read_line(r, buf, size), 0); /* the end stays the end */
    ah_client_response_free(r);
}

static int main_read_line(void *arg)
{
    raw_server rs;
    raw_start(&rs, lines_server, &rs);
    ah_client *c = ah_client_new(NULL);
    char joined[256];

    /* a Content-Length body; the last line comes without its newline, CRLF stays */
    read_lines(c, at(rs.url, "/length"), 64, joined, sizeof(joined));
    ck_assert_str_eq(joined, "alpha\r\n|beta\n|\n|gamma\n|last|");

    /* a chunked body whose chunks split the lines */
    read_lines(c, at(rs.url, "/chunked"), 64, joined, sizeof(joined));
    ck_assert_str_eq(joined, "one\n|two\n|three\n|four\n|");

    /* a line longer than the buffer comes in pieces of size - 1 bytes, as with fgets */
    read_lines(c, at(rs.url, "/long"), 8, joined, sizeof(joined));
    ck_assert_str_eq(joined, "0123456|789abcd|efghij\n|xy\n|");
    read_lines(c, at(rs.url, "/long"), 2, joined, sizeof(joined));
    ck_assert_uint_eq(strlen(joined), 48); /* one byte at a time */

    /* a buffer without room for a byte is refused */
    ah_client_response *r;
    char buf[64];
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/long"), &r), 0);
    ck_assert_int_eq(ah_client_response_read_line(r, buf, 1), AH_EINVAL);
    ck_assert_int_eq(ah_client_response_read_line(NULL, buf, sizeof(buf)), AH_EINVAL);
    ah_client_response_free(r); /* drained: the connection is kept */

    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_read_line_over_length_and_chunked_bodies) { run_main(main_read_line); }
END_TEST

static int main_read_line_mixed(void *arg)
{
    raw_server rs;
    raw_start(&rs, lines_server, &rs);
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    char buf[64];
    const char *data;
    size_t len;

    /* read_line reads ahead: read gets the bytes after the line, nothing lost or repeated */
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/length"), &r), 0);
    ck_assert_int_eq(ah_client_response_read_line(r, buf, sizeof(buf)), 7);
    ck_assert_str_eq(buf, "alpha\r\n");
    ck_assert_int_eq(ah_client_response_read(r, buf, 3), 3);
    ck_assert_int_eq(memcmp(buf, "bet", 3), 0);
    ck_assert_int_eq(ah_client_response_read_line(r, buf, sizeof(buf)), 2);
    ck_assert_str_eq(buf, "a\n");
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "\ngamma\nlast");
    ck_assert_int_eq(ah_client_response_read_line(r, buf, sizeof(buf)), 0);
    ah_client_response_free(r);

    /* the same over chunks */
    ck_assert_int_eq(ah_client_get(c, at(rs.url, "/chunked"), &r), 0);
    ck_assert_int_eq(ah_client_response_read(r, buf, 1), 1);
    ck_assert_int_eq(buf[0], 'o');
    ck_assert_int_eq(ah_client_response_read_line(r, buf, sizeof(buf)), 3);
    ck_assert_str_eq(buf, "ne\n");
    ck_assert_int_eq(ah_client_response_read_line(r, buf, 3), 2);
    ck_assert_str_eq(buf, "tw");
    ck_assert_int_eq(ah_client_response_read(r, buf, 1), 1);
    ck_assert_int_eq(buf[0], 'o');
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    ck_assert_str_eq(data, "\nthree\nfour\n");
    ah_client_response_free(r);

    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 1);
    ah_client_close(c);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_read_line_and_read_mix_without_losing_bytes) { run_main(main_read_line_mixed); }
END_TEST

/* 400 lines gzipped, longer than what read_line reads ahead at a time. */
static void client_read_line_gzip(world *w)
{
    ah_client *c = ah_client_new(NULL);
    ah_client_response *r;
    ck_assert_int_eq(ah_client_get(c, at(w->url, "/gzip"), &r), 0);
    ck_assert_str_eq(ah_client_response_header(r, "Content-Encoding"), "gzip");
    char buf[128], want[64];
    int n, lines = 0;
    while ((n = ah_client_response_read_line(r, buf, sizeof(buf))) > 0) {
        snprintf(want, sizeof(want), "line %05d: the quick brown fox jumps over it\n", lines++);
        ck_assert_str_eq(buf, want);
    }
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(lines, TEXT_REPEAT);
    ah_client_response_free(r);
    ah_client_close(c);
}

START_TEST(test_read_line_over_a_gzip_body) { run_world(client_read_line_gzip); }
END_TEST

/* ---- request bodies from a file, and Expect: 100-continue ---- */

/* What the upload servers saw, across their connections. */
typedef struct upload_seen {
    int requests;
    int expect_heads;      /* heads carrying Expect: 100-continue */
    int early_bytes;       /* heads followed by body bytes before the go-ahead */
    int64_t refused_bytes; /* body bytes that came after a refusal (417) */
    int conns_done;        /* connections ended */
    int64_t last_length;   /* the Content-Length of the last request (-1: none) */
    uint64_t last_hash;    /* and the FNV-1a hash of its body */
    char last_method[16];
    char last_path[64];
} upload_seen;

/* The raw server's connection tasks write into an upload_seen on the test's stack: before it
 * goes (and before raw_stop), wait (bounded) until every connection they took has ended. */
static void uploads_end(const raw_server *rs, const upload_seen *seen)
{
    for (int i = 0; i < 400 && seen->conns_done < rs->conns; i++)
        (void)!ah_sleep(5);
    ck_assert_int_eq(seen->conns_done, rs->conns);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

#define FNV_START 14695981039346656037ULL

/* Read a request head, noting its method, path, Content-Length and Expect. > 0, or <= 0 when the
 * client went away. */
static int upload_head(ah_stream *s, upload_seen *seen)
{
    char head[8192];
    int n = ah_stream_read_until(s, "\r\n\r\n", 4, head, sizeof(head) - 1);
    if (n <= 0)
        return n;
    head[n] = '\0';
    seen->requests++;
    sscanf(head, "%15s %63s", seen->last_method, seen->last_path);
    const char *cl = strcasestr(head, "\r\nContent-Length:");
    seen->last_length = cl ? strtoll(cl + 17, NULL, 10) : -1;
    if (strcasestr(head, "\r\nExpect: 100-continue\r\n"))
        seen->expect_heads++;
    return n;
}

/* Read the body the head announced, hashing it. 0, or < 0. */
static int upload_body(ah_stream *s, upload_seen *seen)
{
    static char buf[64 * 1024];
    uint64_t h = FNV_START;
    for (int64_t left = seen->last_length > 0 ? seen->last_length : 0; left > 0;) {
        int n = ah_stream_read(s, buf, left < (int64_t)sizeof(buf) ? (size_t)left : sizeof(buf));
        if (n <= 0)
            return n < 0 ? n : AH_EEOF;
        h = fnv1a(h, buf, (size_t)n);
        left -= n;
    }
    seen->last_hash = h;
    return 0;
}

/* "<length> <hash>" of what came, as the response body. */
static int upload_answer(ah_stream *s, const upload_seen *seen)
{
    char body[64], resp[160];
    int n = snprintf(body, sizeof(body), "%lld %016llx", (long long)seen->last_length,
                     (unsigned long long)seen->last_hash);
    snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", n, body);
    return send_text(s, resp);
}

/* Takes uploads and says what it got; /from is redirected to /to with 307, /see with 303. */
static int upload_server(ah_stream *s, int index, void *arg)
{
    upload_seen *seen = arg;
    while (upload_head(s, seen) > 0) {
        if (upload_body(s, seen) < 0)
            break;
        int rc;
        if (strcmp(seen->last_path, "/from") == 0)
            rc = send_text(s, "HTTP/1.1 307 Temporary Redirect\r\nLocation: /to\r\n"
                              "Content-Length: 0\r\n\r\n");
        else if (strcmp(seen->last_path, "/see") == 0)
            rc = send_text(s, "HTTP/1.1 303 See Other\r\nLocation: /to\r\n"
                              "Content-Length: 0\r\n\r\n");
        else
            rc = upload_answer(s, seen);
        if (rc < 0)
            break;
    }
    seen->conns_done++;
    return 0;
}

/* A temporary file of len pseudo-random bytes; its path in path (room for 64), its hash in
 * *hash. */
static void make_body_file(char *path, size_t len, uint64_t *hash)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, 64, "%.40s/ahttp-body-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    static unsigned char block[64 * 1024];
    uint32_t x = 2463534242u;
    *hash = FNV_START;
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof(block) ? len - done : sizeof(block);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            block[i] = (unsigned char)x;
        }
        ck_assert_int_eq(write(fd, block, n), (ssize_t)n);
        *hash = fnv1a(*hash, block, n);
        done += n;
    }
    close(fd);
}

/* fetch req and return the response body (malloc'd), checking the status. */
static char *fetch_body(ah_client *c, ah_client_request *req, int status)
{
    ah_client_response *r;
    int rc = ah_client_fetch(c, req, &r);
    ck_assert_msg(rc == 0, "%s %s: %s (%s)", req->method, req->url, ah_strerror(rc),
                  ah_client_last_error(c));
    ck_assert_int_eq(ah_client_response_status(r), status);
    const char *data;
    size_t len;
    ck_assert_int_eq(ah_client_response_body(r, &data, &len), 0);
    char *copy = strndup(data, len);
    ah_client_response_free(r);
    return copy;
}

#define FILE_BODY_LEN (3 * 1024 * 1024 + 12345)

static int main_file_body(void *arg)
{
    char path[64], want[64];
    uint64_t hash;
    make_body_file(path, FILE_BODY_LEN, &hash);
    snprintf(want, sizeof(want), "%d %016llx", FILE_BODY_LEN, (unsigned long long)hash);
    upload_seen seen = {0};
    raw_server rs;
    raw_start(&rs, upload_server, &seen);
    ah_client *c = ah_client_new(NULL);
    const char *methods[] = {"PUT", "POST"};
    for (int i = 0; i < 2; i++) {
        ah_client_request req = {.method = methods[i], .url = at(rs.url, "/up"), .body_file = path};
        char *got = fetch_body(c, &req, 200);
        ck_assert_str_eq(got, want); /* Content-Length and every byte */
        ck_assert_str_eq(seen.last_method, methods[i]);
        free(got);
    }
    ck_assert_int_eq(seen.expect_heads, 0); /* off by default */

    /* 307 keeps the method and the body: the file goes again, whole */
    seen.requests = 0;
    ah_client_request req = {.method = "POST", .url = at(rs.url, "/from"), .body_file = path};
    char *got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, want);
    free(got);
    ck_assert_int_eq(seen.requests, 2);
    ck_assert_str_eq(seen.last_path, "/to");
    ck_assert_str_eq(seen.last_method, "POST");

    /* 303 turns it into a GET without a body */
    req.url = at(rs.url, "/see");
    got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, "-1 cbf29ce484222325"); /* no Content-Length, no bytes */
    free(got);
    ck_assert_str_eq(seen.last_method, "GET");

    /* an empty file is an empty body */
    char empty[64];
    uint64_t empty_hash;
    make_body_file(empty, 0, &empty_hash);
    req = (ah_client_request){.method = "PUT", .url = at(rs.url, "/up"), .body_file = empty};
    got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, "0 cbf29ce484222325");
    free(got);
    unlink(empty);
    ah_client_close(c);
    uploads_end(&rs, &seen);
    raw_stop(&rs);
    unlink(path);
    return 0;
}

START_TEST(test_body_from_a_file_is_sent_with_its_length_and_again_after_307)
{
    run_main(main_file_body);
}
END_TEST

static int main_missing_file(void *arg)
{
    upload_seen seen = {0};
    raw_server rs;
    raw_start(&rs, upload_server, &seen);
    ah_client *c = ah_client_new(NULL);
    ah_client_error err;
    ah_client_response *r;
    ah_client_request req = {.method = "PUT",
                             .url = at(rs.url, "/up"),
                             .body_file = "/nonexistent/ahttp-no-such-file",
                             .error = &err};
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), -ENOENT);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_REQUEST);
    ck_assert_msg(strstr(err.message, "cannot open the request body file") &&
                      strstr(err.message, "ahttp-no-such-file"),
                  "%s", err.message);
    /* a directory has no size to announce */
    req.body_file = "/";
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), -EISDIR);
    /* a body and a file at once */
    req.body = "x";
    req.body_len = 1;
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), AH_EINVAL);
    ck_assert_int_eq(ah_sleep(20), 0);
    ck_assert_int_eq(rs.conns, 0); /* nothing was connected, let alone sent */
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_made, 0);
    ah_client_close(c);
    uploads_end(&rs, &seen);
    raw_stop(&rs);
    return 0;
}

START_TEST(test_missing_body_file_fails_before_connecting) { run_main(main_missing_file); }
END_TEST

/* Cuts the upload's file short as soon as the head is in, then reads what comes. */
static int truncating_server(ah_stream *s, int index, void *arg)
{
    const char *path = arg;
    if (read_request(s) > 0) {
        ck_assert_int_eq(truncate(path, 1000), 0);
        char buf[4096];
        while (ah_stream_read(s, buf, sizeof(buf)) > 0)
            ;
    }
    return 0;
}

static int main_file_changes(void *arg)
{
    char path[64];
    uint64_t hash;
    make_body_file(path, FILE_BODY_LEN, &hash);
    raw_server rs;
    raw_start(&rs, truncating_server, path);
    ah_client *c = ah_client_new(NULL);
    ah_client_error err;
    ah_client_response *r;
    ah_client_request req = {
        .method = "PUT", .url = at(rs.url, "/up"), .body_file = path, .error = &err};
    ck_assert_int_eq(ah_client_fetch(c, &req, &r), -EIO);
    ck_assert_int_eq(err.phase, AH_CLIENT_PHASE_SEND);
    ck_assert_msg(strstr(err.message, "changed size while being sent"), "%s", err.message);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0); /* the short body's connection is closed */
    ah_client_close(c);
    raw_stop(&rs);
    unlink(path);
    return 0;
}

START_TEST(test_body_file_that_changes_size_fails_the_fetch) { run_main(main_file_changes); }
END_TEST

/* Says "100 Continue" after a pause (checking that no body came before it), then takes the body. */
static int continue_server(ah_stream *s, int index, void *arg)
{
    upload_seen *seen = arg;
    while (upload_head(s, seen) > 0) {
        ck_assert_int_eq(ah_sleep(50), 0);
        const char *data;
        char byte;
        if (ah_stream_buffered(s, &data) > 0 ||
            recv(ah_stream_fd(s), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
            seen->early_bytes++;
        if (send_text(s, "HTTP/1.1 100 Continue\r\n\r\n") < 0 || upload_body(s, seen) < 0 ||
            upload_answer(s, seen) < 0)
            break;
    }
    seen->conns_done++;
    return 0;
}

/* Refuses at once with 417, then counts the body bytes that still come until the client
 * closes (or a second passes). */
static int refusing_server(ah_stream *s, int index, void *arg)
{
    upload_seen *seen = arg;
    if (upload_head(s, seen) > 0 &&
        send_text(s, "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 4\r\n\r\nnope") == 0 &&
        ah_deadline_push(1000) == 0) {
        char buf[4096];
        int n;
        while ((n = ah_stream_read(s, buf, sizeof(buf))) > 0)
            seen->refused_bytes += n;
        ah_deadline_pop();
    }
    seen->conns_done++;
    return 0;
}

/* Says nothing until the body has come (a server that does not know the expectation). */
static int silent_server(ah_stream *s, int index, void *arg)
{
    upload_seen *seen = arg;
    while (upload_head(s, seen) > 0)
        if (upload_body(s, seen) < 0 || upload_answer(s, seen) < 0)
            break;
    seen->conns_done++;
    return 0;
}

static char *big_body(size_t len)
{
    char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (char)('a' + i % 26);
    return b;
}

static int main_expect_continue(void *arg)
{
    enum { LEN = 200 * 1000 };
    char *body = big_body(LEN);
    char want[64];
    snprintf(want, sizeof(want), "%d %016llx", LEN,
             (unsigned long long)fnv1a(FNV_START, body, LEN));

    /* 100 Continue: the body follows it, the connection stays for the next request */
    upload_seen seen = {0};
    raw_server rs;
    raw_start(&rs, continue_server, &seen);
    ah_client_opts o = {.expect_timeout_ms = 5000};
    ah_client *c = ah_client_new(&o);
    ah_client_request req = {.method = "POST",
                             .url = at(rs.url, "/up"),
                             .body = body,
                             .body_len = LEN,
                             .expect_continue = 1};
    int64_t t0 = ah_now_ms();
    char *got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, want);
    free(got);
    ck_assert_int_lt(ah_now_ms() - t0, 2000); /* the 100 let it go, not the timeout */
    ck_assert_int_eq(seen.expect_heads, 1);
    ck_assert_int_eq(seen.early_bytes, 0);
    /* a file body waits the same way */
    char path[64], fwant[64];
    uint64_t hash;
    make_body_file(path, 300 * 1000, &hash);
    snprintf(fwant, sizeof(fwant), "%d %016llx", 300 * 1000, (unsigned long long)hash);
    req = (ah_client_request){
        .method = "PUT", .url = at(rs.url, "/up"), .body_file = path, .expect_continue = 1};
    got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, fwant);
    free(got);
    unlink(path);
    ck_assert_int_eq(seen.expect_heads, 2);
    ck_assert_int_eq(seen.early_bytes, 0);
    ck_assert_int_eq(rs.conns, 1); /* kept alive across the interim response */
    /* no body, no expectation */
    req = (ah_client_request){.method = "GET", .url = at(rs.url, "/up"), .expect_continue = 1};
    got = fetch_body(c, &req, 200);
    free(got);
    ck_assert_int_eq(seen.expect_heads, 2);
    ah_client_close(c);
    uploads_end(&rs, &seen);
    raw_stop(&rs);

    /* 417 at once: that is the answer, no body byte is sent, the connection is not kept (each
     * server has its own record: the last one's connection tasks may still be ending) */
    upload_seen refused = {0};
    raw_start(&rs, refusing_server, &refused);
    c = ah_client_new(&o);
    req = (ah_client_request){.method = "PUT",
                              .url = at(rs.url, "/up"),
                              .body = body,
                              .body_len = LEN,
                              .expect_continue = 1};
    got = fetch_body(c, &req, 417);
    ck_assert_str_eq(got, "nope");
    free(got);
    ah_client_stats st;
    ah_client_get_stats(c, &st);
    ck_assert_uint_eq(st.connections_open, 0);
    for (int i = 0; i < 200 && !refused.conns_done; i++)
        ck_assert_int_eq(ah_sleep(10), 0);
    ck_assert_int_eq(refused.conns_done, 1);
    ck_assert_int_eq(refused.expect_heads, 1);
    ck_assert_int_eq(refused.refused_bytes, 0);
    ah_client_close(c);
    uploads_end(&rs, &refused);
    raw_stop(&rs);

    /* no answer: the body goes after expect_timeout_ms */
    upload_seen silent = {0};
    raw_start(&rs, silent_server, &silent);
    o.expect_timeout_ms = 200;
    c = ah_client_new(&o);
    req = (ah_client_request){.method = "POST",
                              .url = at(rs.url, "/up"),
                              .body = body,
                              .body_len = LEN,
                              .expect_continue = 1};
    t0 = ah_now_ms();
    got = fetch_body(c, &req, 200);
    ck_assert_str_eq(got, want);
    free(got);
    ck_assert_int_ge(ah_now_ms() - t0, 180);
    ck_assert_int_eq(silent.expect_heads, 1);
    ah_client_close(c);
    uploads_end(&rs, &silent);
    raw_stop(&rs);
    free(body);
    return 0;
}

START_TEST(test_expect_continue_waits_for_100_and_withholds_the_body_on_refusal)
{
    run_main(main_expect_continue);
}
END_TEST

static Suite *client_bodies_suite(void)
{
    Suite *s = suite_create("client bodies");
    TCase *tc;
    tc = tcase_create("bodies");
    tcase_add_test(tc, test_chunked_response_with_trailers);
    tcase_add_test(tc, test_close_delimited_and_truncated_bodies);
    tcase_add_test(tc, test_head_1xx_204_304_have_no_body);
    tcase_add_test(tc, test_empty_bodies_are_empty_strings);
    suite_add_tcase(s, tc);
    tc = tcase_create("compression");
    tcase_add_test(tc, test_gzip_and_deflate_bodies_are_decoded);
    tcase_add_test(tc, test_decompression_and_body_caps);
    tcase_add_test(tc, test_bytes_received_counts_the_body_as_sent_before_decoding);
    suite_add_tcase(s, tc);
    tc = tcase_create("uploads");
    tcase_add_test(tc, test_body_from_a_file_is_sent_with_its_length_and_again_after_307);
    tcase_add_test(tc, test_missing_body_file_fails_before_connecting);
    tcase_add_test(tc, test_body_file_that_changes_size_fails_the_fetch);
    tcase_add_test(tc, test_expect_continue_waits_for_100_and_withholds_the_body_on_refusal);
    suite_add_tcase(s, tc);
    tc = tcase_create("lines");
    tcase_add_test(tc, test_read_line_over_length_and_chunked_bodies);
    tcase_add_test(tc, test_read_line_and_read_mix_without_losing_bytes);
    tcase_add_test(tc, test_read_line_over_a_gzip_body);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* No test here may send a query to the system's name servers: with an unreadable
     * resolv.conf the resolver has none, names in /etc/hosts (localhost) still resolve, and any
     * other name fails at once with AH_EDNS. */
    setenv("AH_RESOLV_CONF", "/nonexistent/ahttp-check-client-resolv.conf", 1);
    int rc = ah_check_run(client_bodies_suite());
    free(bomb);
    return rc;
}
