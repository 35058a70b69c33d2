/* fuzz_request: libFuzzer target for the server's request parsing — heads, bodies (Content-Length,
 * chunked with trailers, 100-continue), pipelined sequences on one connection, and the answers
 * the server writes back, including the refusals that stop request smuggling.
 *
 * Why: the request parser faces every client on the network, and a head or body it frames
 * differently from a proxy in front of it is a smuggling hole; its memory handling of broken
 * input is what a bare CR once turned into a crash. The fuzzer explores the inputs the unit tests
 * do not think of, under ASan and UBSan.
 *
 * Each input is one connection: the bytes a client sends, read by the server through
 * tests/fuzz/memstream.c, so the input is plain HTTP except for the marker bytes memstream.h
 * describes (0xFF: a read boundary; 0xFE: a read boundary after which the client stops reading
 * and writes fail; 0xFF 0xFF and 0xFF 0xFE: those bytes literally). ah__server_serve_stream
 * serves it with the routes below, in one loop made once, until the connection closes.
 *
 * What makes an input a crash, besides what the sanitizers catch:
 *   - the server writes anything that does not begin with "HTTP/1.1 ";
 *   - a handler sees a request the server should have refused: Transfer-Encoding lines that
 *     amount to anything but nothing or one "chunked", Content-Length lines that disagree with
 *     each other or with ah_request_content_length (or do not fit it), a body read to its end
 *     whose length is not the Content-Length;
 *   - the server serves a request a second, strict reading of the same bytes does not find
 *     (tests/fuzz/reference.c: a bare CR or LF taken for a line end, a body framed otherwise), or
 *     a handler reads a body to its end that is not what that reading finds;
 *   - a request accessor returns NULL or something inconsistent (header_at past the count);
 *   - the connection is not closed and forgotten when ah__server_serve_stream returns, or the
 *     loop reports a task that could not finish (AH_EDEADLOCK: a hang). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ahttp/ahttp.h>
#include <ahttp/server.h>

#include "../../lib/http/server_internal.h"
#include "memstream.h"
#include "reference.h"

/* A failed check: abort, so that libFuzzer keeps the input and prints the stack. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_request: check failed at %s:%d: %s\n", __FILE__, __LINE__,       \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- the reference reading of the connection (tests/fuzz/reference.c) ----
 * Before the server sees the input, a strict second reader splits the same bytes into requests:
 * how many are whole and well formed, each one's body, and how its reading ended. The server
 * may serve fewer (it closes for reasons of its own), never more, and a body a handler reads to
 * its end must be the one the reference found: that is how a smuggled request shows. */

enum {
    REF_END_CLEAN,    /* the bytes ended between two requests */
    REF_END_BAD_HEAD, /* the next head is malformed or cut short: no handler may see it */
    REF_END_BAD_BODY, /* the next head is good, its body is not: its handler may run, but no
                         read of that body may reach its end without an error */
    REF_END_UNJUDGED, /* the next request's framing is one the reference does not judge */
};

typedef struct ref_body {
    size_t off, len; /* in connection_ref.bodies */
} ref_body;

typedef struct connection_ref {
    char *sent;      /* the bytes the client sends, markers taken out */
    char *bodies;    /* the bodies the reference found, one after another */
    ref_body *whole; /* the requests read whole, in order */
    size_t nwhole;
    int end;                  /* how the reading ended (REF_END_*) */
    uint64_t requests_before; /* the server's request count before this connection */
} connection_ref;

static connection_ref ref;

static void ref_read(const uint8_t *data, size_t size)
{
    free(ref.sent);
    free(ref.bodies);
    free(ref.whole);
    memset(&ref, 0, sizeof(ref));
    ref.sent = malloc(size + 1);
    ref.bodies = malloc(size + 1);
    ref.whole = malloc((size / 4 + 1) * sizeof(*ref.whole)); /* a request is >= 4 bytes */
    if (!ref.sent || !ref.bodies || !ref.whole)
        abort();
    size_t len = ah_fuzz_peer_bytes(data, size, ref.sent), at = 0, used = 0;
    ref.end = REF_END_CLEAN;
    while (at < len) {
        ah_fuzz_head h;
        if (ah_fuzz_ref_head(ref.sent, len, &at, &h) < 0) {
            ref.end = REF_END_BAD_HEAD;
            break;
        }
        int kind = ah_fuzz_ref_framing(&h, 1, 0);
        if (kind == AH_FUZZ_BODY_UNJUDGED) {
            ref.end = REF_END_UNJUDGED;
            break;
        }
        size_t start = used;
        if (ah_fuzz_ref_body(ref.sent, len, &at, kind, &h, ref.bodies, &used) < 0) {
            ref.end = REF_END_BAD_BODY;
            break;
        }
        ref.whole[ref.nwhole].off = start;
        ref.whole[ref.nwhole].len = used - start;
        ref.nwhole++;
    }
}

static ah_server *srv;

/* A handler starts: the index of its request on the connection (from the server's count of the
 * heads it parsed: requests without a handler, 404 or OPTIONS *, count too), checked against the
 * number of requests the reference found. */
static size_t ref_request_begins(void)
{
    ah_server_stats st;
    ah_server_get_stats(srv, &st);
    FUZZ_CHECK(st.requests > ref.requests_before);
    size_t i = (size_t)(st.requests - ref.requests_before - 1);
    if (ref.end == REF_END_CLEAN || ref.end == REF_END_BAD_HEAD)
        FUZZ_CHECK(i < ref.nwhole); /* a request the reference does not see */
    else if (ref.end == REF_END_BAD_BODY)
        FUZZ_CHECK(i <= ref.nwhole); /* a request after a malformed body */
    return i;
}

/* A handler read the body of request i to its end without an error: these bytes. */
static void ref_check_body(size_t i, const char *data, size_t len)
{
    if (i < ref.nwhole) {
        const ref_body *b = &ref.whole[i];
        FUZZ_CHECK(len == b->len && memcmp(data, ref.bodies + b->off, len) == 0);
    } else if (i == ref.nwhole) {
        FUZZ_CHECK(ref.end != REF_END_BAD_BODY); /* a malformed body read as a good one */
    }
}

/* ---- what every handler checks about the request it was given ---- */

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* A Content-Length value as RFC 9110 §8.6 has it: 1*DIGIT, or a list of one repeated value
 * (which a recipient may accept). -1 if it is neither. */
static int64_t parse_content_length(const char *v)
{
    int64_t value = -1;
    const char *p = v;
    for (;;) {
        while (is_ows(*p))
            p++;
        if (*p < '0' || *p > '9')
            return -1;
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            int digit = *p++ - '0';
            if (n > (INT64_MAX - digit) / 10)
                return -1; /* no int64: what ah_request_content_length returns cannot hold it */
            n = n * 10 + digit;
        }
        while (is_ows(*p))
            p++;
        if (value >= 0 && n != value)
            return -1;
        value = n;
        if (*p == '\0')
            return value;
        if (*p++ != ',')
            return -1;
    }
}

/* Count the codings of a Transfer-Encoding list value: "chunked" ones (any case) into
 * *chunked, others into *other. Empty list elements count for nothing (RFC 9110 §5.6.1.2). */
static void count_codings(const char *v, size_t *chunked, size_t *other)
{
    for (;;) {
        while (is_ows(*v))
            v++;
        const char *start = v;
        while (*v && *v != ',')
            v++;
        const char *end = v;
        while (end > start && is_ows(end[-1]))
            end--;
        if (end > start) {
            if (end - start == 7 && strncasecmp(start, "chunked", 7) == 0)
                (*chunked)++;
            else
                (*other)++;
        }
        if (*v == '\0')
            return;
        v++; /* the comma */
    }
}

/* The framing a handler may rely on. The server must refuse every request that breaks it
 * before a handler runs; a request that reaches one anyway is a finding. Returns the request's
 * index on the connection. */
static size_t check_request(ah_request *req)
{
    size_t index = ref_request_begins();
    FUZZ_CHECK(ah_request_method(req) && ah_request_target(req));
    FUZZ_CHECK(ah_request_path(req) && ah_request_query(req));
    int version = ah_request_version(req);
    FUZZ_CHECK(version == 10 || version == 11);
    size_t n = ah_request_header_count(req);
    size_t chunked = 0, other_codings = 0, cl_lines = 0;
    int64_t cl = -1;
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL, *value = NULL;
        FUZZ_CHECK(ah_request_header_at(req, i, &name, &value) == 0);
        FUZZ_CHECK(name && value);
        FUZZ_CHECK(!strpbrk(name, "\r\n") && !strpbrk(value, "\r\n"));
        if (strcasecmp(name, "Transfer-Encoding") == 0) {
            count_codings(value, &chunked, &other_codings);
        } else if (strcasecmp(name, "Content-Length") == 0) {
            int64_t v = parse_content_length(value);
            FUZZ_CHECK(v >= 0);
            FUZZ_CHECK(cl_lines == 0 || v == cl); /* two lengths: which one frames the body? */
            cl = v;
            cl_lines++;
        }
    }
    const char *name, *value;
    FUZZ_CHECK(ah_request_header_at(req, n, &name, &value) == AH_EINVAL);
    /* ahttp decodes no transfer coding but chunked, and chunked only once: the lines together
     * amount to nothing or to "chunked" alone (RFC 9112 §6.1) */
    FUZZ_CHECK(other_codings == 0);
    FUZZ_CHECK(chunked <= 1);
    int64_t declared = ah_request_content_length(req);
    if (chunked) {
        FUZZ_CHECK(declared == -1); /* chunked wins over any Content-Length (RFC 9112 §6.3) */
    } else if (cl_lines) {
        FUZZ_CHECK(declared == cl);
    }
    FUZZ_CHECK(ah_request_remote(req) != NULL);
    return index;
}

/* A body read to its end must be as long as it was declared to be, and what the reference
 * reading found. */
static void check_body(ah_request *req, size_t index, const char *data, size_t len)
{
    int64_t declared = ah_request_content_length(req);
    if (declared >= 0)
        FUZZ_CHECK(len == (uint64_t)declared);
    ref_check_body(index, data, len);
}

/* ---- routes, as the sample server's (apps/ahttp-serve.c) plus a few for the body readers ---- */

static int hello(ah_request *req, ah_response *resp, void *arg)
{
    check_request(req);
    return ah_response_text(resp, 200, "text/plain", "Hello, World!");
}

/* The whole body at once (ah_request_body), echoed back. */
static int echo(ah_request *req, ah_response *resp, void *arg)
{
    size_t index = check_request(req);
    const char *body;
    size_t len;
    int rc = ah_request_body(req, &body, &len);
    if (rc < 0)
        return rc;
    FUZZ_CHECK(body[len] == '\0');
    check_body(req, index, body, len);
    const char *type = ah_request_header(req, "Content-Type");
    if (type && (rc = ah_response_header(resp, "Content-Type", type)) < 0)
        return rc;
    return ah_response_body_ref(resp, body, len);
}

/* A query parameter as a number in [lo, hi], or def. */
static long number_param(ah_request *req, const char *name, long lo, long hi, long def)
{
    const char *v = ah_request_query_param(req, name);
    if (!v || !*v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n < lo || n > hi ? def : n;
}

/* The body in small pieces (ah_request_read), ?size=N bytes at a time: the chunked decoder gets
 * less output room than it has input, the Content-Length reader stops mid-buffer. */
static int pieces(ah_request *req, ah_response *resp, void *arg)
{
    size_t index = check_request(req);
    long size = number_param(req, "size", 1, 64, 3);
    size_t total = 0, cap = 256;
    char *body = ah_request_alloc(req, cap);
    if (!body)
        return AH_ENOMEM;
    for (;;) {
        if (cap - total < (size_t)size) {
            char *more = ah_request_alloc(req, cap * 2); /* the old one goes with the request */
            if (!more)
                return AH_ENOMEM;
            memcpy(more, body, total);
            body = more;
            cap *= 2;
        }
        int n = ah_request_read(req, body + total, (size_t)size);
        if (n < 0)
            return n;
        FUZZ_CHECK(n <= size);
        if (n == 0)
            break;
        total += (size_t)n;
    }
    char byte;
    FUZZ_CHECK(ah_request_read(req, &byte, 1) == 0); /* the end stays the end */
    check_body(req, index, body, total);
    char text[64];
    snprintf(text, sizeof(text), "%llu bytes\n", (unsigned long long)total);
    return ah_response_text(resp, 200, "text/plain", text);
}

/* A body nobody reads: the server drains it (or closes) before the next request. */
static int ignore_body(ah_request *req, ah_response *resp, void *arg)
{
    check_request(req);
    ah_response_status(resp, 204);
    return 0;
}

/* A streamed, chunked response with a trailer: ?n=N chunks. */
static int stream(ah_request *req, ah_response *resp, void *arg)
{
    check_request(req);
    long n = number_param(req, "n", 0, 16, 2);
    int rc = ah_response_header(resp, "Content-Type", "text/plain");
    if (rc == 0)
        rc = ah_response_start(resp);
    for (long i = 0; rc == 0 && i < n; i++) {
        char line[32];
        int len = snprintf(line, sizeof(line), "chunk %ld\n", i);
        rc = ah_response_write(resp, line, (size_t)len);
    }
    if (rc == 0)
        rc = ah_response_trailer(resp, "X-Chunks", "done");
    return rc < 0 ? rc : ah_response_end(resp);
}

static int user(ah_request *req, ah_response *resp, void *arg)
{
    check_request(req);
    const char *id = ah_request_param(req, "id");
    FUZZ_CHECK(id != NULL);
    FUZZ_CHECK(ah_request_param(req, "nope") == NULL);
    /* the id back in a header: a decoded CR or LF in it must be refused, not sent */
    int rc = ah_response_header(resp, "X-User", id);
    if (strpbrk(id, "\r\n"))
        FUZZ_CHECK(rc == AH_EINVAL);
    return ah_response_text(resp, 200, "text/plain", id);
}

/* Query parameters, and a header echoed as a header. */
static int search(ah_request *req, ah_response *resp, void *arg)
{
    check_request(req);
    const char *q = ah_request_query_param(req, "q");
    const char *page = ah_request_query_param(req, "page");
    (void)ah_request_query_param(req, "");
    (void)ah_request_query_param(req, "q"); /* parsed once, looked up twice */
    const char *agent = ah_request_header(req, "User-Agent");
    if (agent)
        (void)!ah_response_header(resp, "X-Agent", agent);
    char *text = ah_request_alloc(req, (q ? strlen(q) : 0) + (page ? strlen(page) : 0) + 16);
    if (!text)
        return AH_ENOMEM;
    sprintf(text, "q=%s page=%s\n", q ? q : "-", page ? page : "-");
    return ah_response_text(resp, 200, "text/plain", text);
}

/* Any method under /files/: the rest of the path is the parameter "*". */
static int files(ah_request *req, ah_response *resp, void *arg)
{
    check_request(req);
    const char *rest = ah_request_param(req, "*");
    FUZZ_CHECK(rest != NULL);
    return ah_response_body(resp, rest, strlen(rest));
}

/* A handler that fails before sending (a 500), or after streaming started (the connection
 * closes: the framing is broken off). */
static int fail(ah_request *req, ah_response *resp, void *arg)
{
    check_request(req);
    if (number_param(req, "late", 0, 1, 0)) {
        int rc = ah_response_write(resp, "partial", 7);
        if (rc < 0)
            return rc;
    }
    return AH_EINVAL;
}

/* Middleware around every route: a header on the way out. */
static int tag(ah_request *req, ah_response *resp, ah_next *next, void *arg)
{
    int rc = ah_next_call(next);
    if (!ah_response_started(resp))
        (void)!ah_response_header(resp, "X-Fuzz", "1");
    return rc;
}

/* ---- the harness ---- */

static ah_loop *loop;

static void setup(void)
{
    /* Limits small enough for a fuzz input to reach them (414, 431, 413). */
    ah_server_opts opts = {
        .max_request_line = 1024,
        .max_header_bytes = 4096,
        .max_header_count = 32,
        .max_body = 8192,
    };
    loop = ah_loop_new(NULL);
    srv = ah_server_new(&opts);
    if (!loop || !srv)
        abort();
    const ah_route_opts small = {.max_body = 16};
    int rc = 0;
    rc |= ah_server_use(srv, tag, NULL);
    rc |= ah_server_route(srv, "GET", "/hello", hello, NULL);
    rc |= ah_server_route(srv, "POST", "/echo", echo, NULL);
    rc |= ah_server_route(srv, "PUT", "/echo", echo, NULL);
    rc |= ah_server_route(srv, "POST", "/pieces", pieces, NULL);
    rc |= ah_server_route(srv, "POST", "/ignore", ignore_body, NULL);
    rc |= ah_server_route_ex(srv, "POST", "/small", echo, NULL, &small);
    rc |= ah_server_route(srv, "GET", "/stream", stream, NULL);
    rc |= ah_server_route(srv, "GET", "/users/{id}", user, NULL);
    rc |= ah_server_route(srv, "GET", "/search", search, NULL);
    rc |= ah_server_route(srv, "*", "/files/*", files, NULL);
    rc |= ah_server_route(srv, "GET", "/fail", fail, NULL);
    if (rc != 0)
        abort();
}

typedef struct input {
    const uint8_t *data;
    size_t size;
    ah_fuzz_mem_stats stats;
} input;

static int serve_main(void *arg)
{
    input *in = arg;
    ah_stream *s = ah_fuzz_stream_new(in->data, in->size, "HTTP/1.1 ", &in->stats);
    if (!s)
        return AH_ENOMEM;
    return ah__server_serve_stream(srv, s); /* takes s over */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop)
        setup();
    ref_read(data, size);
    ah_server_stats st;
    ah_server_get_stats(srv, &st);
    ref.requests_before = st.requests;
    input in = {data, size, {0}};
    int rc = ah_loop_run(loop, serve_main, &in);
    if (rc == AH_ENOMEM)
        return 0; /* libFuzzer's malloc limit: not a finding of ours */
    if (rc != 0) {
        fprintf(stderr, "fuzz_request: serving the connection returned %d (%s)\n", rc,
                ah_strerror(rc));
        abort();
    }
    /* the connection is closed and its transport freed when serving returns */
    FUZZ_CHECK(in.stats.closed);
    ah_server_get_stats(srv, &st);
    FUZZ_CHECK(st.connections_open == 0 && st.connections_idle == 0);
    return 0;
}
