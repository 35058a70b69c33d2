/* fuzz_response: libFuzzer target for the client's response parsing — the status line and
 * headers, interim 1xx heads, bodies framed by Content-Length, chunked encoding (with trailers)
 * or the end of the connection, gzip/deflate decoding, and the reading APIs on top
 * (ah_client_response_read, _read_line, _body, the header and trailer accessors).
 *
 * Why: every server the client talks to, and anything between, can send these bytes. A head the
 * client frames differently from a cache in front of it poisons the connection for the next
 * response; a decoder or a line reader that trusts a length it should not is a heap overflow.
 *
 * Each input is one response on one connection: the first byte chooses how it is read (below),
 * the rest is what the server sends, read through tests/fuzz/memstream.c — plain HTTP except for
 * the marker bytes memstream.h describes (0xFF: a read boundary; 0xFF 0xFF and 0xFF 0xFE: those
 * bytes literally, which gzip bodies need). ah__response_read_stream reads the response as if it
 * came on a pooled connection.
 *
 * The control byte (the corpus files use '0'..'9' and a few punctuation marks, so they stay
 * readable; tests/fuzz/make_corpus.py writes them):
 *   bit 0      the request was HEAD (no body may follow)
 *   bits 1-2   the reader: 0 ah_client_response_read, 1 _read_line, 2 _body, 3 _read_line and
 *              _read in turn
 *   bits 3-5   the buffer size given to those calls: 1, 2, 7, 64, 512, 4096, 16384, 65536
 *   bit 6      give up after the first piece: ah_client_response_free deals with the rest
 *   bit 7      read with a second client made with decompress = -1 (the bytes as sent)
 * So '0' reads with ah_client_response_read into 16 KiB, '2' by lines, '4' the whole body at once,
 * '6' lines and reads in turn, '1' as the answer to a HEAD request.
 *
 * What makes an input a crash, besides what the sanitizers catch:
 *   - a CR or LF inside a header name or value, the reason phrase or a trailer (a bare CR must
 *     never be taken for a line end, nor kept inside a field);
 *   - a status outside 101 and 200..999 handed out as final;
 *   - a read returning more than asked, an error that is not sticky, an end that is not;
 *   - a line from _read_line that is not NUL-terminated or has a '\n' before its end;
 *   - a body read to its end without error whose length is not the Content-Length (when no
 *     transfer or content coding applies and a body is allowed);
 *   - _body returning a body that is not NUL-terminated, or a different one the second time;
 *   - a body read to its end without error, and not decoded, that is not what a second, strict
 *     reading of the same bytes finds (tests/fuzz/reference.c), or that it finds malformed;
 *   - the loop reporting a task that could not finish (a hang). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ahttp/ahttp.h>
#include <ahttp/client.h>

#include "../../lib/http/client_internal.h"
#include "memstream.h"
#include "reference.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_response: check failed at %s:%d: %s\n", __FILE__, __LINE__,      \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* One input: the control byte, then what the server sends. */
typedef struct input {
    const uint8_t *data;
    size_t size;
} input;

enum { READ_CHUNKS, READ_LINES, READ_BODY, READ_MIXED };

static const size_t buffer_sizes[8] = {1, 2, 7, 64, 512, 4096, 16384, 65536};

typedef struct mode {
    int head_request;
    int reader;
    size_t bufsize;
    int give_up_early;
    int raw;
} mode;

static mode decode_mode(uint8_t c)
{
    mode m = {
        .head_request = c & 1,
        .reader = (c >> 1) & 3,
        .bufsize = buffer_sizes[(c >> 3) & 7],
        .give_up_early = (c >> 6) & 1,
        .raw = (c >> 7) & 1,
    };
    return m;
}

static void check_field(const char *s)
{
    FUZZ_CHECK(s != NULL);
    FUZZ_CHECK(!strpbrk(s, "\r\n"));
}

/* The head as the accessors report it (before the body is read, and after). */
static void check_head(ah_client_response *r, int before_body)
{
    int status = ah_client_response_status(r);
    FUZZ_CHECK(status == 101 || (status >= 200 && status <= 999));
    int version = ah_client_response_version(r);
    FUZZ_CHECK(version >= 10 && version <= 19);
    check_field(ah_client_response_reason(r));
    size_t n = ah_client_response_header_count(r);
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL, *value = NULL;
        FUZZ_CHECK(ah_client_response_header_at(r, i, &name, &value) == 0);
        check_field(name);
        check_field(value);
        /* the lookup by name finds this line or an earlier one of the same name */
        FUZZ_CHECK(ah_client_response_header(r, name) != NULL);
    }
    FUZZ_CHECK(ah_client_response_header_at(r, n, NULL, NULL) == AH_EINVAL);
    (void)ah_client_response_header_nth(r, "Set-Cookie", 1);
    FUZZ_CHECK(ah_client_response_history_count(r) == 0);
    if (before_body)
        FUZZ_CHECK(ah_client_response_error(r)->code == 0);
}

/* Whether the body must be exactly Content-Length bytes once read to its end without error. */
static int length_is_exact(ah_client_response *r, const mode *m)
{
    int status = ah_client_response_status(r);
    if (m->head_request || status == 204 || status == 304 || status == 101)
        return 0;
    if (ah_client_response_content_length(r) < 0)
        return 0;
    if (ah_client_response_header(r, "Transfer-Encoding"))
        return 0;
    return m->raw || !ah_client_response_header(r, "Content-Encoding");
}

static void check_trailers(ah_client_response *r)
{
    static const char *const names[] = {"X-Checksum", "Expires", "X-Trailer", "Server-Timing"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = ah_client_response_trailer(r, names[i]);
        if (v)
            check_field(v);
    }
}

/* After an error, the next call returns the same one. */
static void check_sticky(ah_client_response *r, int rc)
{
    char byte;
    FUZZ_CHECK(ah_client_response_read(r, &byte, 1) == rc);
    FUZZ_CHECK(ah_client_response_error(r)->code == rc);
}

/* What a reader got: the body's bytes as handed out, kept while they fit (a body that is not
 * decoded can never be longer than the input; a decoded one may be, and is not compared). */
typedef struct body_copy {
    char *data;
    size_t len, cap;
    int overflow;
} body_copy;

static void keep(body_copy *b, const char *data, size_t n)
{
    if (b->overflow || n > b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

/* Read the body as the mode says, into *got. Returns the bytes read, or < 0: the error (already
 * checked), or -1 when the mode gave up early. */
static int64_t read_body(ah_client_response *r, const mode *m, char *buf, body_copy *got)
{
    int64_t total = 0;
    if (m->reader == READ_BODY) {
        const char *data, *again;
        size_t len, len2;
        int rc = ah_client_response_body(r, &data, &len);
        if (rc < 0) {
            check_sticky(r, rc);
            return rc;
        }
        FUZZ_CHECK(data[len] == '\0');
        FUZZ_CHECK(ah_client_response_body(r, &again, &len2) == 0);
        FUZZ_CHECK(again == data && len2 == len);
        keep(got, data, len);
        return (int64_t)len;
    }
    for (int turn = 0;; turn++) {
        int lines = m->reader == READ_LINES || (m->reader == READ_MIXED && turn % 2 == 0);
        int n;
        if (lines) {
            size_t size = m->bufsize < 2 ? 2 : m->bufsize;
            n = ah_client_response_read_line(r, buf, size);
            if (n > 0) {
                FUZZ_CHECK((size_t)n <= size - 1);
                FUZZ_CHECK(buf[n] == '\0');
                const char *nl = memchr(buf, '\n', (size_t)n);
                FUZZ_CHECK(!nl || nl == buf + n - 1);
            }
        } else {
            n = ah_client_response_read(r, buf, m->bufsize);
            FUZZ_CHECK(n <= (int)m->bufsize);
        }
        if (n < 0) {
            check_sticky(r, n);
            return n;
        }
        if (n == 0)
            break;
        keep(got, buf, (size_t)n);
        total += n;
        if (m->give_up_early)
            return -1; /* not read to the end: nothing to compare */
    }
    char byte;
    FUZZ_CHECK(ah_client_response_read(r, &byte, 1) == 0); /* the end stays the end */
    return total;
}

/* The body of the response in s[0..len), as the reference reading (reference.h) finds it, into
 * out (room for len bytes): 1 and *out_len; -1 if the body is malformed or cut short (no client
 * may read it to its end without an error); 0 if the reference does not judge it (a head it finds
 * malformed: the client has its own checks of heads; a framing it leaves alone). */
static int reference_body(const char *s, size_t len, int head_request, char *out, size_t *out_len)
{
    size_t at = 0;
    ah_fuzz_head h;
    int status;
    do { /* interim 1xx heads are skipped, as the client does */
        if (ah_fuzz_ref_head(s, len, &at, &h) < 0 || (status = ah_fuzz_ref_status(&h)) < 0)
            return 0;
    } while (status < 200 && status != 101);
    int no_body = head_request || status == 204 || status == 304 || status == 101;
    int kind = ah_fuzz_ref_framing(&h, 0, no_body);
    if (kind == AH_FUZZ_BODY_UNJUDGED)
        return 0;
    *out_len = 0;
    return ah_fuzz_ref_body(s, len, &at, kind, &h, out, out_len);
}

/* The body the client handed out, against the reference reading of the same bytes. */
static void check_body_bytes(ah_client_response *r, const mode *m, const input *in,
                             const body_copy *got)
{
    if (!m->raw && ah_client_response_header(r, "Content-Encoding"))
        return;                 /* decoded: other bytes than the stream carried */
    FUZZ_CHECK(!got->overflow); /* undecoded, it cannot be longer than all that was sent */
    char *sent = malloc(in->size), *want = malloc(in->size);
    if (!sent || !want)
        abort();
    size_t sent_len = ah_fuzz_peer_bytes(in->data + 1, in->size - 1, sent), want_len;
    int judged = reference_body(sent, sent_len, m->head_request, want, &want_len);
    if (judged < 0) {
        fprintf(stderr,
                "fuzz_response: the client read a %zu-byte body to its end where the "
                "reference finds a malformed or truncated one\n",
                got->len);
        abort();
    }
    if (judged > 0 && (got->len != want_len || memcmp(got->data, want, want_len) != 0)) {
        fprintf(stderr, "fuzz_response: the client read a %zu-byte body, the reference %zu\n",
                got->len, want_len);
        abort();
    }
    free(sent);
    free(want);
}

static ah_client *client, *raw_client;
static ah_loop *loop;
static char *read_buf;

static void setup(void)
{
    const ah_client_opts raw = {.decompress = -1};
    loop = ah_loop_new(NULL);
    client = ah_client_new(NULL);
    raw_client = ah_client_new(&raw);
    read_buf = malloc(buffer_sizes[7]);
    if (!loop || !client || !raw_client || !read_buf)
        abort();
}

static int fetch_main(void *arg)
{
    input *in = arg;
    mode m = decode_mode(in->data[0]);
    ah_stream *s = ah_fuzz_stream_new(in->data + 1, in->size - 1, NULL, NULL);
    if (!s)
        return AH_ENOMEM;
    ah_client_response *r = NULL;
    int rc = ah__response_read_stream(m.raw ? raw_client : client, s, m.head_request, &r);
    if (rc < 0) {
        FUZZ_CHECK(r == NULL);
        return 0;
    }
    FUZZ_CHECK(r != NULL);
    check_head(r, 1);
    body_copy got = {malloc(in->size), 0, in->size, 0};
    if (!got.data)
        abort();
    int64_t total = read_body(r, &m, read_buf, &got);
    if (total >= 0) {
        check_body_bytes(r, &m, in, &got);
        FUZZ_CHECK((uint64_t)total <= ah_client_response_bytes_received(r) ||
                   (!m.raw && ah_client_response_header(r, "Content-Encoding")));
        if (length_is_exact(r, &m))
            FUZZ_CHECK(total == ah_client_response_content_length(r));
        check_trailers(r);
    }
    check_head(r, 0); /* reading the body leaves the head as it was */
    free(got.data);
    ah_client_response_free(r);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!loop)
        setup();
    input in = {data, size};
    int rc = ah_loop_run(loop, fetch_main, &in);
    if (rc == AH_ENOMEM)
        return 0; /* libFuzzer's malloc limit: not a finding of ours */
    if (rc != 0) {
        fprintf(stderr, "fuzz_response: reading the response returned %d (%s)\n", rc,
                ah_strerror(rc));
        abort();
    }
    return 0;
}
