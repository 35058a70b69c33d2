/* Static files (ah_server_static) over real loopback sockets: types, lengths and bodies, HEAD,
 * 304 from If-None-Match and If-Modified-Since, single ranges (206 / 416 / ignored), directories
 * (index, 301, 403), and no way out of the root (.., encoded dots, symlinks). */
#include "config.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkutil.h"

/* ---- the tree: base/secret.txt outside, base/root served ---- */

#define BIN_SIZE (100 * 1024)
#define SECRET "TOP SECRET\n"
#define A_TXT "hello, static\n"
#define INDEX_HTML "<h1>sub</h1>\n"

static char base[64];
static char root[96];
static unsigned char bin[BIN_SIZE];

static void write_file(const char *name, const void *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", base, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void make_dir(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", base, name);
    ck_assert_int_eq(mkdir(path, 0755), 0);
}

static void make_link(const char *target, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", base, name);
    ck_assert_int_eq(symlink(target, path), 0);
}

static void setup(void)
{
    strcpy(base, "/tmp/ahstatic.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(root, sizeof(root), "%s/root", base);
    for (size_t i = 0; i < BIN_SIZE; i++)
        bin[i] = (unsigned char)(i * 7 + (i >> 8));
    write_file("secret.txt", SECRET, strlen(SECRET));
    make_dir("root");
    write_file("root/a.txt", A_TXT, strlen(A_TXT));
    write_file("root/data.bin", bin, BIN_SIZE);
    write_file("root/Style.CSS", "body{}\n", 7);
    write_file("root/empty.txt", "", 0);
    write_file("root/with space.txt", "spaced\n", 7);
    make_dir("root/sub");
    write_file("root/sub/index.html", INDEX_HTML, strlen(INDEX_HTML));
    make_dir("root/empty");
    make_dir("root/my dir");
    write_file("root/my dir/index.html", INDEX_HTML, strlen(INDEX_HTML));
    make_link("/etc/hostname", "root/link");
    make_link("../secret.txt", "root/uplink");
    make_link("..", "root/dirlink");
    make_link("a.txt", "root/inlink");
    char fifo[256];
    snprintf(fifo, sizeof(fifo), "%s/root/pipe", base);
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    if (base[0])
        nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    base[0] = '\0';
}

/* ---- a tiny HTTP/1.1 client ---- */

typedef struct reply {
    int status;
    char head[4096];
    char *body; /* NUL-terminated, freed by reply_clear */
    size_t body_len;
    char values[4][512];
    int next_value;
} reply;

static void reply_clear(reply *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* A header's value in r (a copy that stays valid for the next three calls), or NULL. */
static const char *header(reply *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line && line[2] != '\r') {
        line += 2;
        const char *end = strstr(line, "\r\n");
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            char *out = r->values[r->next_value++ % 4];
            size_t len = (size_t)(end - v) < 511 ? (size_t)(end - v) : 511;
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
        line = end;
    }
    return NULL;
}

/* Send raw and read one response (its body by Content-Length; none for HEAD and 304). */
static int exchange(ah_stream *c, const char *raw, reply *r)
{
    reply_clear(r);
    int rc = ah_stream_write(c, raw, strlen(raw));
    if (rc < 0)
        return rc;
    int n = ah_stream_read_until(c, "\r\n\r\n", 4, r->head, sizeof(r->head) - 1);
    if (n < 0)
        return n;
    r->head[n] = '\0';
    if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
        return -1;
    const char *cl = header(r, "Content-Length");
    size_t len = cl ? strtoull(cl, NULL, 10) : 0;
    if (strncmp(raw, "HEAD ", 5) == 0 || r->status == 304)
        len = 0;
    else if (!cl)
        return -2; /* every response of this server is framed by Content-Length */
    r->body = malloc(len + 1);
    if (!r->body)
        return AH_ENOMEM;
    if (len && (rc = ah_stream_read_exactly(c, r->body, len)) < 0)
        return rc;
    r->body[len] = '\0';
    r->body_len = len;
    return 0;
}

static uint16_t port_now;

/* One request on a fresh connection. */
static void fetch(const char *raw, reply *r)
{
    ah_stream *c;
    ck_assert_int_eq(ah_tcp_connect("127.0.0.1", port_now, NULL, &c), 0);
    int rc = exchange(c, raw, r);
    ah_stream_close(c);
    ck_assert_msg(rc == 0, "exchange for %s failed: %d", raw, rc);
}

/* GET path on a fresh connection with extra header lines ("" for none). */
static void get(const char *path, const char *extra, reply *r)
{
    char raw[1024];
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path, extra);
    fetch(raw, r);
}

/* ---- running a client against a server on an ephemeral port ---- */

typedef void (*client_fn)(void);

typedef struct run_ctx {
    const char *prefix;
    client_fn client;
} run_ctx;

static int server_task(void *arg) { return ah_server_serve(arg); }

/* Handlers that pick a file response and then change their mind. */
static int open_a_txt(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/a.txt", root);
    return open(path, O_RDONLY | O_CLOEXEC);
}

static int file_then_fail(ah_request *req, ah_response *resp, void *arg)
{
    int fd = open_a_txt();
    if (fd < 0 || ah_response_file(resp, fd, 0, 14, 1) < 0)
        return -1;
    return AH_EPIPE;
}

static int file_with_204(ah_request *req, ah_response *resp, void *arg)
{
    int fd = open_a_txt();
    if (fd < 0 || ah_response_file(resp, fd, 0, 14, 1) < 0)
        return -1;
    ah_response_status(resp, 204);
    return 0;
}

static int main_with_server(void *arg)
{
    run_ctx *ctx = arg;
    ah_server *srv = ah_server_new(NULL);
    ck_assert_ptr_nonnull(srv);
    ck_assert_int_eq(ah_server_static(srv, ctx->prefix, root), 0);
    ck_assert_int_eq(ah_server_route(srv, "GET", "/file-then-fail", file_then_fail, NULL), 0);
    ck_assert_int_eq(ah_server_route(srv, "GET", "/file-204", file_with_204, NULL), 0);
    ck_assert_int_eq(ah_server_listen(srv, "127.0.0.1", 0), 0);
    port_now = ah_server_port(srv, 0);
    ah_task *t = ah_spawn(server_task, srv);
    ck_assert_ptr_nonnull(t);
    ctx->client();
    ah_server_shutdown(srv, 0);
    ck_assert_int_eq(ah_join(t), 0);
    ah_server_free(srv);
    return 0;
}

/* Run client against a fresh server; no descriptor may be left open after. */
static void run_with_server(const char *prefix, client_fn client)
{
    int before = ah_check_open_fds();
    run_ctx ctx = {prefix, client};
    ck_assert_int_eq(ah_run(main_with_server, &ctx), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}

/* ---- files ---- */

static void client_files(void)
{
    reply r = {0};
    get("/static/a.txt", "", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "Content-Type"), "text/plain; charset=utf-8");
    ck_assert_str_eq(header(&r, "Content-Length"), "14");
    ck_assert_str_eq(header(&r, "Accept-Ranges"), "bytes");
    ck_assert_ptr_nonnull(header(&r, "ETag"));
    ck_assert_ptr_nonnull(header(&r, "Last-Modified"));
    ck_assert_str_eq(r.body, A_TXT);

    get("/static/data.bin", "", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "Content-Type"), "application/octet-stream");
    ck_assert_uint_eq(r.body_len, BIN_SIZE);
    ck_assert(memcmp(r.body, bin, BIN_SIZE) == 0);

    get("/static/Style.CSS", "", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "Content-Type"), "text/css; charset=utf-8");

    get("/static/empty.txt", "", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "Content-Length"), "0");

    get("/static/with%20space.txt", "", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "spaced\n");

    get("/static/inlink", "", &r); /* a symlink that stays inside the root is fine */
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, A_TXT);

    get("/static/a.txt?v=3", "", &r);
    ck_assert_int_eq(r.status, 200);
    reply_clear(&r);
}

START_TEST(test_serves_file_with_type_length_and_body)
{
    run_with_server("/static/", client_files);
}
END_TEST

static void client_missing(void)
{
    reply r = {0};
    get("/static/nope.txt", "", &r);
    ck_assert_int_eq(r.status, 404);
    get("/static/a.txt/", "", &r); /* a file is not a directory */
    ck_assert_int_eq(r.status, 404);
    get("/static/nope/a.txt", "", &r);
    ck_assert_int_eq(r.status, 404);
    get("/static/pipe", "", &r); /* not a regular file, and no hang on the FIFO */
    ck_assert_int_eq(r.status, 403);
    reply_clear(&r);
}

START_TEST(test_missing_file_is_404) { run_with_server("/static/", client_missing); }
END_TEST

static void client_head(void)
{
    /* one keep-alive connection: a body after HEAD would break the next response's framing */
    ah_stream *c;
    ck_assert_int_eq(ah_tcp_connect("127.0.0.1", port_now, NULL, &c), 0);
    reply r = {0};
    ck_assert_int_eq(exchange(c, "HEAD /static/data.bin HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "Content-Length"), "102400");
    ck_assert_str_eq(header(&r, "Content-Type"), "application/octet-stream");
    ck_assert_ptr_nonnull(header(&r, "ETag"));
    ck_assert_int_eq(
        exchange(c, "HEAD /static/data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\n\r\n", &r),
        0);
    ck_assert_int_eq(r.status, 200); /* ranges are for GET only */
    ck_assert_int_eq(exchange(c, "GET /static/a.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, A_TXT);
    ah_stream_close(c);
    reply_clear(&r);
}

START_TEST(test_head_sends_headers_without_body) { run_with_server("/static/", client_head); }
END_TEST

/* ---- conditionals ---- */

static void client_if_none_match(void)
{
    reply r = {0};
    get("/static/a.txt", "", &r);
    ck_assert_int_eq(r.status, 200);
    char etag[128], extra[256];
    snprintf(etag, sizeof(etag), "%s", header(&r, "ETag"));
    ck_assert_int_eq(etag[0], '"');

    /* on one connection, so the body-less 304s must be framed right */
    ah_stream *c;
    ck_assert_int_eq(ah_tcp_connect("127.0.0.1", port_now, NULL, &c), 0);
    char raw[512];
    snprintf(raw, sizeof(raw), "GET /static/a.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n",
             etag);
    ck_assert_int_eq(exchange(c, raw, &r), 0);
    ck_assert_int_eq(r.status, 304);
    ck_assert_str_eq(header(&r, "ETag"), etag);
    ck_assert_ptr_nonnull(header(&r, "Last-Modified"));
    ck_assert_ptr_null(header(&r, "Content-Length"));
    snprintf(raw, sizeof(raw),
             "GET /static/a.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"x\", W/%s\r\n\r\n", etag);
    ck_assert_int_eq(exchange(c, raw, &r), 0);
    ck_assert_int_eq(r.status, 304);
    ck_assert_int_eq(
        exchange(c, "GET /static/a.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 304);
    ck_assert_int_eq(
        exchange(c, "HEAD /static/a.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 304);
    ck_assert_int_eq(
        exchange(c, "GET /static/a.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"other\"\r\n\r\n",
                 &r),
        0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, A_TXT);
    ah_stream_close(c);

    /* If-None-Match wins over If-Modified-Since */
    snprintf(extra, sizeof(extra), "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n",
             "Fri, 31 Dec 2100 23:59:59 GMT");
    get("/static/a.txt", extra, &r);
    ck_assert_int_eq(r.status, 200);
    reply_clear(&r);
}

START_TEST(test_if_none_match_gives_304) { run_with_server("/static/", client_if_none_match); }
END_TEST

static void client_if_modified_since(void)
{
    reply r = {0};
    char last_modified[64], extra[256];
    get("/static/sub/index.html", "", &r);
    ck_assert_int_eq(r.status, 200);
    snprintf(last_modified, sizeof(last_modified), "%s", header(&r, "Last-Modified"));
    ck_assert(strstr(last_modified, " GMT") != NULL);

    snprintf(extra, sizeof(extra), "If-Modified-Since: %s\r\n", last_modified);
    get("/static/sub/index.html", extra, &r);
    ck_assert_int_eq(r.status, 304);
    ck_assert_ptr_nonnull(header(&r, "ETag"));
    ck_assert_str_eq(header(&r, "Last-Modified"), last_modified);
    ck_assert_uint_eq(r.body_len, 0);

    get("/static/sub/index.html", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, INDEX_HTML);

    get("/static/sub/index.html", "If-Modified-Since: yesterday\r\n", &r); /* ignored */
    ck_assert_int_eq(r.status, 200);
    reply_clear(&r);
}

START_TEST(test_if_modified_since_gives_304)
{
    run_with_server("/static/", client_if_modified_since);
}
END_TEST

/* ---- ranges ---- */

static void expect_range(const char *range, long first, long last)
{
    reply r = {0};
    char extra[128], want[80];
    snprintf(extra, sizeof(extra), "Range: %s\r\n", range);
    get("/static/data.bin", extra, &r);
    ck_assert_msg(r.status == 206, "%s: status %d", range, r.status);
    snprintf(want, sizeof(want), "bytes %ld-%ld/%d", first, last, BIN_SIZE);
    ck_assert_str_eq(header(&r, "Content-Range"), want);
    ck_assert_uint_eq(r.body_len, (size_t)(last - first + 1));
    ck_assert(memcmp(r.body, bin + first, r.body_len) == 0);
    ck_assert_str_eq(header(&r, "Content-Type"), "application/octet-stream");
    reply_clear(&r);
}

static void client_ranges(void)
{
    expect_range("bytes=0-0", 0, 0);
    expect_range("bytes=1000-1999", 1000, 1999);
    expect_range("bytes=100000-", 100000, BIN_SIZE - 1);
    expect_range("bytes=-500", BIN_SIZE - 500, BIN_SIZE - 1);
    expect_range("bytes=-999999", 0, BIN_SIZE - 1);            /* longer than the file: all of it */
    expect_range("bytes=102000-999999", 102000, BIN_SIZE - 1); /* clamped to the end */
    expect_range("BYTES= 5-9", 5, 9);

    reply r = {0};
    char extra[256];
    get("/static/data.bin", "", &r);
    char etag[128];
    snprintf(etag, sizeof(etag), "%s", header(&r, "ETag"));
    /* If-Range: the range holds only while the validator matches */
    snprintf(extra, sizeof(extra), "Range: bytes=10-19\r\nIf-Range: %s\r\n", etag);
    get("/static/data.bin", extra, &r);
    ck_assert_int_eq(r.status, 206);
    get("/static/data.bin", "Range: bytes=10-19\r\nIf-Range: \"stale\"\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, BIN_SIZE);
    reply_clear(&r);
}

START_TEST(test_range_gives_206_with_exact_bytes) { run_with_server("/static/", client_ranges); }
END_TEST

static void client_unsatisfiable(void)
{
    static const char *const ranges[] = {"bytes=102400-", "bytes=200000-300000", "bytes=-0",
                                         "bytes=99999999999999999999999-"};
    reply r = {0};
    char extra[128];
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        snprintf(extra, sizeof(extra), "Range: %s\r\n", ranges[i]);
        get("/static/data.bin", extra, &r);
        ck_assert_msg(r.status == 416, "%s: status %d", ranges[i], r.status);
        ck_assert_str_eq(header(&r, "Content-Range"), "bytes */102400");
    }
    get("/static/empty.txt", "Range: bytes=0-\r\n", &r);
    ck_assert_int_eq(r.status, 416);
    ck_assert_str_eq(header(&r, "Content-Range"), "bytes */0");
    get("/static/empty.txt", "Range: bytes=-5\r\n", &r); /* the whole (empty) file */
    ck_assert_int_eq(r.status, 200);
    reply_clear(&r);
}

START_TEST(test_unsatisfiable_range_gives_416)
{
    run_with_server("/static/", client_unsatisfiable);
}
END_TEST

static void client_ignored_ranges(void)
{
    static const char *const ranges[] = {"bytes=0-1,5-9", "bytes=9-5",   "bytes=abc", "items=0-1",
                                         "bytes=",        "bytes=1-2-3", "bytes=--1", "bytes =0-1"};
    reply r = {0};
    char extra[128];
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        snprintf(extra, sizeof(extra), "Range: %s\r\n", ranges[i]);
        get("/static/data.bin", extra, &r);
        ck_assert_msg(r.status == 200, "%s: status %d", ranges[i], r.status);
        ck_assert_uint_eq(r.body_len, BIN_SIZE);
        ck_assert_ptr_null(header(&r, "Content-Range"));
    }
    reply_clear(&r);
}

START_TEST(test_several_or_malformed_ranges_send_whole_file)
{
    run_with_server("/static/", client_ignored_ranges);
}
END_TEST

/* ---- directories ---- */

static void client_directories(void)
{
    reply r = {0};
    get("/static/sub", "", &r);
    ck_assert_int_eq(r.status, 301);
    ck_assert_str_eq(header(&r, "Location"), "/static/sub/");
    get("/static/sub?x=1", "", &r);
    ck_assert_int_eq(r.status, 301);
    ck_assert_str_eq(header(&r, "Location"), "/static/sub/?x=1");
    get("/static/my%20dir", "", &r);
    ck_assert_int_eq(r.status, 301);
    ck_assert_str_eq(header(&r, "Location"), "/static/my%20dir/");
    get("/static", "", &r); /* the root itself */
    ck_assert_int_eq(r.status, 301);
    ck_assert_str_eq(header(&r, "Location"), "/static/");

    get("/static/sub/", "", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "Content-Type"), "text/html; charset=utf-8");
    ck_assert_str_eq(r.body, INDEX_HTML);
    get("/static/my%20dir/", "", &r);
    ck_assert_int_eq(r.status, 200);

    get("/static/empty/", "", &r);
    ck_assert_int_eq(r.status, 403);
    get("/static/", "", &r); /* the root has no index.html */
    ck_assert_int_eq(r.status, 403);
    reply_clear(&r);
}

START_TEST(test_directories_redirect_serve_index_or_forbid)
{
    run_with_server("/static/", client_directories);
}
END_TEST

/* ---- no way out ---- */

static void expect_refused(const char *target)
{
    reply r = {0};
    get(target, "", &r);
    ck_assert_msg(r.status == 404 || r.status == 403, "%s: status %d", target, r.status);
    ck_assert_msg(!strstr(r.body, "SECRET"), "%s leaked the secret", target);
    reply_clear(&r);
}

static void client_traversal(void)
{
    static const char *const targets[] = {
        "/static/../check_static.c",
        "/static/%2e%2e/x",
        "/static/sub/../../etc/passwd",
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",
        "/static/.%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/sub/..%2f..%2fsecret.txt",
        "/static/sub/../../secret.txt",
        "/static/./../secret.txt",
        "/static/..",
        "/static//etc/passwd",
        "http://t/static/../secret.txt",
    };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        expect_refused(targets[i]);
}

START_TEST(test_traversal_is_refused) { run_with_server("/static/", client_traversal); }
END_TEST

static void client_symlinks(void)
{
    char hostname[256] = "";
    FILE *f = fopen("/etc/hostname", "r");
    if (f) {
        size_t n = fread(hostname, 1, sizeof(hostname) - 1, f);
        hostname[n] = '\0';
        fclose(f);
    }
    reply r = {0};
    get("/static/link", "", &r); /* -> /etc/hostname */
    ck_assert_msg(r.status == 404 || r.status == 403, "status %d", r.status);
    ck_assert(!hostname[0] || strcmp(r.body, hostname) != 0);
    reply_clear(&r);
    expect_refused("/static/uplink");             /* -> ../secret.txt */
    expect_refused("/static/dirlink/secret.txt"); /* a directory symlink out */
    expect_refused("/static/dirlink/");
}

START_TEST(test_symlink_out_of_root_is_refused) { run_with_server("/static/", client_symlinks); }
END_TEST

/* ---- shutdown while lookups are out on the thread pool ---- */

static int hammer_task(void *arg)
{
    (void)arg;
    reply r = {0};
    int rc = 0;
    while (rc == 0) {
        ah_stream *c;
        if ((rc = ah_tcp_connect("127.0.0.1", port_now, NULL, &c)) < 0)
            break;
        for (int i = 0; rc == 0 && i < 50; i++)
            rc = exchange(c, "GET /static/sub/ HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        ah_stream_close(c);
    }
    reply_clear(&r);
    return 0;
}

#define HAMMERS 16

static int main_shutdown_under_load(void *arg)
{
    (void)arg;
    ah_server *srv = ah_server_new(NULL);
    ck_assert_ptr_nonnull(srv);
    ck_assert_int_eq(ah_server_static(srv, "/static/", root), 0);
    ck_assert_int_eq(ah_server_listen(srv, "127.0.0.1", 0), 0);
    port_now = ah_server_port(srv, 0);
    ah_task *t = ah_spawn(server_task, srv);
    ah_task *hammers[HAMMERS];
    for (int i = 0; i < HAMMERS; i++)
        ck_assert_ptr_nonnull(hammers[i] = ah_spawn(hammer_task, NULL));
    ah_server_stats stats;
    do { /* until requests are in flight everywhere */
        ck_assert_int_eq(ah_sleep(5), 0);
        ah_server_get_stats(srv, &stats);
    } while (stats.requests < 4 * HAMMERS);
    /* no grace: handlers waiting on their lookups are cancelled, the lookups abandoned */
    ah_server_shutdown(srv, 0);
    ck_assert_int_eq(ah_join(t), 0);
    for (int i = 0; i < HAMMERS; i++) {
        ah_cancel(hammers[i]);
        (void)!ah_join(hammers[i]);
    }
    ah_server_free(srv);
    return 0;
}

START_TEST(test_shutdown_during_lookups_leaks_nothing)
{
    int before = ah_check_open_fds();
    ck_assert_int_eq(ah_run(main_shutdown_under_load, NULL), 0);
    ck_assert_int_eq(ah_check_open_fds(), before);
}
END_TEST

/* ---- registration ---- */

static void client_prefix_without_slash(void)
{
    reply r = {0};
    get("/files/a.txt", "", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, A_TXT);
    get("/files/sub", "", &r);
    ck_assert_int_eq(r.status, 301);
    ck_assert_str_eq(header(&r, "Location"), "/files/sub/");
    get("/static/a.txt", "", &r);
    ck_assert_int_eq(r.status, 404);
    fetch("POST /files/a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 405);
    reply_clear(&r);
}

static void client_file_changes(void)
{
    /* a handler that fails after choosing a file answers 500, not the file */
    reply r = {0};
    get("/file-then-fail", "", &r);
    ck_assert_int_eq(r.status, 500);
    ck_assert_ptr_null(strstr(r.body, A_TXT));
    reply_clear(&r);
    /* a 204 sends no body even with a file set: the next pipelined response follows the head */
    ah_stream *c;
    ck_assert_int_eq(ah_tcp_connect("127.0.0.1", port_now, NULL, &c), 0);
    const char two[] = "GET /file-204 HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET /static/a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    ck_assert_int_eq(ah_stream_write(c, two, sizeof(two) - 1), 0);
    char head[1024];
    int n = ah_stream_read_until(c, "\r\n\r\n", 4, head, sizeof(head) - 1);
    ck_assert_int_gt(n, 0);
    head[n] = '\0';
    ck_assert(strncmp(head, "HTTP/1.1 204", 12) == 0);
    ck_assert_ptr_null(strstr(head, "Content-Length"));
    char next[12];
    ck_assert_int_eq(ah_stream_read_exactly(c, next, sizeof(next)), (int)sizeof(next));
    ck_assert(memcmp(next, "HTTP/1.1 200", 12) == 0);
    ah_stream_close(c);
}

START_TEST(test_file_response_yields_to_errors_and_bodiless_statuses)
{
    run_with_server("/static/", client_file_changes);
}
END_TEST

START_TEST(test_prefix_without_trailing_slash)
{
    run_with_server("/files", client_prefix_without_slash);
}
END_TEST

START_TEST(test_bad_arguments_are_refused)
{
    ah_server *srv = ah_server_new(NULL);
    ck_assert_ptr_nonnull(srv);
    char path[256];
    snprintf(path, sizeof(path), "%s/nope", root);
    ck_assert_int_eq(ah_server_static(srv, "/s/", path), -ENOENT);
    snprintf(path, sizeof(path), "%s/a.txt", root);
    ck_assert_int_eq(ah_server_static(srv, "/s/", path), -ENOTDIR);
    ck_assert_int_eq(ah_server_static(srv, "s/", root), AH_EINVAL);
    ck_assert_int_eq(ah_server_static(srv, NULL, root), AH_EINVAL);
    ck_assert_int_eq(ah_server_static(srv, "/s/", NULL), AH_EINVAL);
    ck_assert_int_eq(ah_server_static(srv, "/s/", root), 0);
    ck_assert_int_eq(ah_server_static(srv, "/t", root), 0);
    ah_server_free(srv); /* frees both */
}
END_TEST

static Suite *static_suite(void)
{
    Suite *s = suite_create("static");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_serves_file_with_type_length_and_body);
    tcase_add_test(tc, test_missing_file_is_404);
    tcase_add_test(tc, test_head_sends_headers_without_body);
    tcase_add_test(tc, test_if_none_match_gives_304);
    tcase_add_test(tc, test_if_modified_since_gives_304);
    tcase_add_test(tc, test_range_gives_206_with_exact_bytes);
    tcase_add_test(tc, test_unsatisfiable_range_gives_416);
    tcase_add_test(tc, test_several_or_malformed_ranges_send_whole_file);
    tcase_add_test(tc, test_directories_redirect_serve_index_or_forbid);
    tcase_add_test(tc, test_traversal_is_refused);
    tcase_add_test(tc, test_symlink_out_of_root_is_refused);
    tcase_add_test(tc, test_shutdown_during_lookups_leaks_nothing);
    tcase_add_test(tc, test_prefix_without_trailing_slash);
    tcase_add_test(tc, test_file_response_yields_to_errors_and_bodiless_statuses);
    tcase_add_test(tc, test_bad_arguments_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(static_suite()); }
