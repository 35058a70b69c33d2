/* ahttp-bench: a wrk-like HTTP/1.1 load generator built on the ahttp client — how the client's
 * own speed is shown.
 *
 *   ahttp-bench -c CONNS (-d SECONDS | -n REQUESTS) [-t THREADS] [--pipeline N] [-H ...] URL
 *
 * Each thread runs its own loop and its own ah_client, whose pool is limited to the thread's
 * share of -c; in each loop as many tasks as connections fetch the URL and read the body, over
 * and over, until the duration is up or the shared request budget (-n) is spent. Latencies go
 * into a fixed log-linear histogram per thread (no allocation per request), merged at the end.
 *
 * The client has no request pipelining (client.h says so), so --pipeline N > 1 runs a small
 * engine of its own here: raw streams from ah_tcp_connect (and ah_tls_client_wrap for https),
 * N requests written at once, N responses read back with a minimal parser (status line,
 * Content-Length, chunked, Connection: close). It measures servers; the client is measured
 * without it.
 *
 * Exit codes: 0 the run finished (errors, if any, are in the report), 1 no request got a
 * response at all or the run could not start, 2 bad usage. The last line of the output is
 * machine-readable: "ahttp-bench: requests=N duration_s=X rps=Y p50_us=.. ... errors=E". */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include <ahttp/ahttp.h>

#include "http/internal.h" /* the HTTP/1 message core, for --pipeline */

static const char usage[] =
    "usage: ahttp-bench -c CONNS (-d SECONDS | -n REQUESTS) [options] URL\n"
    "  -c, --connections N    connections (and concurrent requests) in all\n"
    "  -d, --duration S       run for S seconds (fractions allowed)\n"
    "  -n, --requests N       send N requests in all, then stop\n"
    "  -t, --threads N        threads, each with its own loop and client (default 1)\n"
    "      --pipeline N       N requests back to back per connection (default 1: the client;\n"
    "                         N > 1: raw streams and a minimal parser, for servers)\n"
    "  -H, --header 'N: v'    extra request header (repeatable)\n"
    "      --timeout S        limit each request to S seconds (default 10)\n"
    "  -k, --insecure         do not verify the server's certificate (https)\n"
    "      --cacert FILE      trust the CAs in FILE (PEM) as well\n"
    "  -h, --help             this text\n";

#define MAX_HEADERS 64
/* Bodies are read into one buffer per thread and dropped: the tasks of a loop take turns. */
#define SCRATCH_SIZE (256 * 1024)
/* After a failed connect a task pauses this long, so a dead server is not hammered in a loop. */
#define CONNECT_BACKOFF_MS 10

/* ---- latency histogram: log-linear, HdrHistogram's layout ----
 *
 * Values (nanoseconds) below 2 * SUB are counted exactly; above, each power of two is split
 * into SUB linear sub-buckets, so every bucket is within 1/SUB (1.6 %) of its values. 2,240
 * counters cover 0 .. 2^40 ns (18 minutes): 18 KiB per thread, nothing allocated per request. */
#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_BITS 40
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB)

typedef struct histogram {
    uint64_t count[HIST_BUCKETS];
    uint64_t n, max_ns;
    double sum, sumsq; /* in microseconds, for mean and deviation */
} histogram;

static unsigned hist_index(uint64_t v)
{
    if (v >= (UINT64_C(1) << HIST_MAX_BITS))
        v = (UINT64_C(1) << HIST_MAX_BITS) - 1;
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    unsigned mag = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS + 1 */
    unsigned shift = mag - HIST_SUB_BITS;
    return shift * HIST_SUB + (unsigned)(v >> shift); /* v >> shift is in [SUB, 2 SUB) */
}

/* The largest value that lands in bucket i. */
static uint64_t hist_upper(unsigned i)
{
    if (i < 2 * HIST_SUB)
        return i;
    unsigned shift = i / HIST_SUB - 1;
    uint64_t sub = HIST_SUB + i % HIST_SUB;
    return ((sub + 1) << shift) - 1;
}

static void hist_record(histogram *h, uint64_t ns)
{
    h->count[hist_index(ns)]++;
    h->n++;
    if (ns > h->max_ns)
        h->max_ns = ns;
    double us = (double)ns / 1e3;
    h->sum += us;
    h->sumsq += us * us;
}

static void hist_merge(histogram *into, const histogram *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->count[i] += from->count[i];
    into->n += from->n;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
    into->sum += from->sum;
    into->sumsq += from->sumsq;
}

/* The value at percentile p (0..100): the top of the bucket holding it, capped at the maximum. */
static uint64_t hist_percentile(const histogram *h, double p)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->n);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) {
            uint64_t v = hist_upper(i);
            return v < h->max_ns ? v : h->max_ns;
        }
    }
    return h->max_ns;
}

/* ---- the run ---- */

typedef struct options {
    size_t conns;
    int64_t duration_ms; /* 0: -n */
    uint64_t requests;   /* 0: -d */
    unsigned threads;
    unsigned pipeline;
    ah_client_header headers[MAX_HEADERS];
    size_t nheaders;
    int64_t timeout_ms;
    int insecure;
    const char *cacert;
    const char *url;
    ah_url u; /* the URL parsed (for --pipeline and the report) */
} options;

enum { ERR_CONNECT, ERR_READ, ERR_WRITE, ERR_TIMEOUT, ERR_KINDS };
static const char *const err_names[ERR_KINDS] = {"connect", "read", "write", "timeout"};

typedef struct bench bench;

typedef struct worker {
    bench *b;
    pthread_t tid;
    size_t conns; /* this thread's share of -c */
    char *scratch;
    ah_client *client;
    ah_tls_ctx *tls;      /* --pipeline over https */
    const char *pipe_req; /* --pipeline: one request, pipe_req_len bytes */
    size_t pipe_req_len;
    histogram hist;
    uint64_t responses, bytes, non2xx;
    uint64_t errors[ERR_KINDS];
    int rc;                /* the loop's result, when it could not run */
    char first_error[400]; /* "kind error: " and a message of up to 300 bytes */
} worker;

struct bench {
    const options *o;
    uint64_t end_ns;               /* -d: no request starts after this (now_ns clock) */
    atomic_uint_least64_t claimed; /* -n: requests handed out so far, all threads */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Take up to want requests from the budget: how many may be sent (0: stop). now: now_ns(),
 * which the caller reads anyway to time the requests. */
static uint64_t claim(bench *b, uint64_t want, uint64_t now)
{
    if (b->o->duration_ms)
        return now < b->end_ns ? want : 0;
    uint64_t total = b->o->requests;
    uint64_t first = atomic_fetch_add_explicit(&b->claimed, want, memory_order_relaxed);
    if (first >= total)
        return 0;
    return total - first < want ? total - first : want;
}

static void note_error(worker *w, int kind, const char *message)
{
    w->errors[kind]++;
    if (!w->first_error[0])
        snprintf(w->first_error, sizeof(w->first_error), "%s error: %s", err_names[kind], message);
}

/* Which kind a failed fetch or body read is. */
static int error_kind(const ah_client_error *e)
{
    if (e->code == AH_ETIMEDOUT)
        return ERR_TIMEOUT;
    switch (e->phase) {
    case AH_CLIENT_PHASE_POOL:
    case AH_CLIENT_PHASE_DNS:
    case AH_CLIENT_PHASE_CONNECT:
    case AH_CLIENT_PHASE_TLS: return ERR_CONNECT;
    case AH_CLIENT_PHASE_SEND: return ERR_WRITE;
    default: return ERR_READ;
    }
}

/* One connection's worth of load through the client: fetch, read the body, again. */
static int client_task(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    const options *o = b->o;
    ah_client_request req = {
        .url = o->url,
        .headers = o->headers,
        .nheaders = o->nheaders,
    };
    ah_client_error err;
    req.error = &err;
    for (;;) {
        uint64_t t0 = now_ns();
        if (!claim(b, 1, t0))
            break;
        ah_client_response *r;
        int rc = ah_client_fetch(w->client, &req, &r);
        if (rc < 0) {
            if (rc == AH_ECANCELED || rc == AH_ECLOSED)
                break;
            int kind = error_kind(&err);
            note_error(w, kind, err.message);
            if (kind == ERR_CONNECT && ah_sleep(CONNECT_BACKOFF_MS) < 0)
                break;
            continue;
        }
        uint64_t body = 0;
        int n;
        while ((n = ah_client_response_read(r, w->scratch, SCRATCH_SIZE)) > 0)
            body += (uint64_t)n;
        if (n < 0) {
            const ah_client_error *e = ah_client_response_error(r);
            if (n != AH_ECANCELED)
                note_error(w, error_kind(e), e->message);
        } else {
            hist_record(&w->hist, now_ns() - t0);
            w->responses++;
            w->bytes += body;
            if (ah_client_response_status(r) >= 400)
                w->non2xx++;
        }
        ah_client_response_free(r);
        if (n == AH_ECANCELED)
            break;
    }
    return 0;
}

/* ---- --pipeline: raw streams, responses read with the library's HTTP/1 message core ----
 * (the same head scanner and llhttp callbacks as the client and server: ahttp-bench links the
 * library's objects for them, and parses no head or status line of its own) */

/* Response heads larger than this are refused; the scanner's limits. */
#define HEAD_MAX (64 * 1024)
#define HEAD_LINES_MAX 256

/* Wait for a complete head in the stream's buffer: *head_len and *lines from the scanner. */
static int find_head(ah_stream *s, size_t *head_len, size_t *lines)
{
    const ah__head_limits lim = {HEAD_MAX, HEAD_MAX, HEAD_LINES_MAX};
    ah__head_scan hs = {0};
    for (;;) {
        const char *data;
        size_t have = ah_stream_buffered(s, &data);
        int rc = ah__head_scan_run(&hs, data, have, &lim);
        if (rc < 0)
            return AH_EPROTO_HTTP;
        if (rc == 1) {
            *head_len = hs.head_len;
            *lines = hs.lines;
            return 0;
        }
        int n = ah_stream_fill(s); /* AH_ETOOBIG at the stream's cap: a head that big is bad */
        if (n == 0)
            return AH_EEOF;
        if (n < 0)
            return n;
    }
}

/* Drop len bytes of body: what is buffered first, then straight reads into the scratch. */
static int skip_bytes(worker *w, ah_stream *s, uint64_t len)
{
    while (len > 0) {
        const char *data;
        size_t have = ah_stream_buffered(s, &data);
        if (have) {
            size_t k = have < len ? have : (size_t)len;
            ah_stream_consume(s, k);
            len -= k;
            continue;
        }
        size_t want = len < SCRATCH_SIZE ? (size_t)len : SCRATCH_SIZE;
        int n = ah_stream_read(s, w->scratch, want);
        if (n == 0)
            return AH_EEOF;
        if (n < 0)
            return n;
        len -= (uint64_t)n;
    }
    return 0;
}

/* A chunked body, decoded by the message core into the scratch and counted. */
static int skip_chunked(worker *w, ah_stream *s, ah__msg *m, uint64_t *body)
{
    for (;;) {
        const char *data;
        size_t have = ah_stream_buffered(s, &data);
        if (have == 0) {
            int n = ah_stream_fill(s);
            if (n == 0)
                return AH_EEOF;
            if (n < 0)
                return n;
            continue;
        }
        size_t used, got;
        int step = ah__msg_body_step(m, data, have, w->scratch, SCRATCH_SIZE, &used, &got);
        if (step < 0)
            return AH_EPROTO_HTTP;
        ah_stream_consume(s, used);
        *body += got;
        if (step == 1)
            return 0;
    }
}

/* Read one response: *status, *body (its length), *close_after. AH_EPROTO_HTTP when it is
 * malformed, or close-delimited (which cannot be pipelined). */
static int read_response(worker *w, ah_stream *s, int *status, uint64_t *body, int *close_after)
{
    size_t head_len, lines;
    int rc = find_head(s, &head_len, &lines);
    if (rc < 0)
        return rc;
    /* the head is copied: the parse NUL-terminates spans in place, and the stream's buffer
     * moves on while a chunked body is read */
    char stack_head[4096];
    ah__header stack_headers[32];
    size_t nheaders = lines - 2;
    char *head = head_len < sizeof(stack_head) ? stack_head : malloc(head_len + 1);
    ah__header *headers = nheaders <= 32 ? stack_headers : calloc(nheaders, sizeof(*headers));
    const char *data;
    (void)ah_stream_buffered(s, &data);
    if (!head || !headers) {
        rc = AH_ENOMEM;
        goto out;
    }
    memcpy(head, data, head_len);
    head[head_len] = '\0';
    ah_stream_consume(s, head_len);
    ah__msg m;
    ah__msg_init(&m, HTTP_RESPONSE, headers, nheaders, HEAD_MAX, HEAD_LINES_MAX);
    rc = ah__msg_parse_head(&m, head, head_len);
    if (rc == 0 && (m.parser.http_major != 1 || ah__msg_check_transfer_encoding(&m) < 0))
        rc = AH_EPROTO_HTTP;
    if (rc == 0) {
        *status = m.parser.status_code;
        *close_after = !llhttp_should_keep_alive(&m.parser);
        *body = 0;
        if (m.no_body)
            ;
        else if (m.parser.flags & F_CHUNKED)
            rc = skip_chunked(w, s, &m, body);
        else if (m.parser.flags & F_CONTENT_LENGTH)
            rc = skip_bytes(w, s, *body = m.parser.content_length);
        else
            rc = AH_EPROTO_HTTP; /* read-to-close bodies cannot be pipelined */
    }
    ah__msg_free(&m);
out:
    if (head != stack_head)
        free(head);
    if (headers != stack_headers)
        free(headers);
    return rc;
}

static int pipe_connect(worker *w, ah_stream **out)
{
    const options *o = w->b->o;
    ah_tcp_connect_opts co = {.connect_timeout_ms = o->timeout_ms, .dns_timeout_ms = o->timeout_ms};
    ah_stream *s;
    int rc = ah_tcp_connect(o->u.host, o->u.port, &co, &s);
    if (rc < 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "connect to %s:%u: %s", o->u.host, (unsigned)o->u.port,
                 ah_strerror(rc));
        note_error(w, rc == AH_ETIMEDOUT ? ERR_TIMEOUT : ERR_CONNECT, msg);
        return rc;
    }
    if (w->tls) {
        ah_stream *ts;
        char why[256];
        rc = ah_tls_client_wrap(s, w->tls, o->u.host, o->timeout_ms, &ts, why, sizeof(why));
        if (rc < 0) {
            char msg[300];
            snprintf(msg, sizeof(msg), "TLS with %s: %s", o->u.host,
                     rc == AH_ETLS || rc == AH_ETLS_VERIFY ? why : ah_strerror(rc));
            note_error(w, rc == AH_ETIMEDOUT ? ERR_TIMEOUT : ERR_CONNECT, msg);
            return rc;
        }
        s = ts;
    }
    *out = s;
    return 0;
}

/* One connection's worth of pipelined load: write up to N requests, read their responses. */
static int pipeline_task(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    const options *o = b->o;
    ah_stream *s = NULL;
    uint64_t k;
    while ((k = claim(b, o->pipeline, now_ns())) > 0) {
        if (!s && pipe_connect(w, &s) < 0) {
            /* the claimed requests were never sent: they count as the one connect error */
            if (ah_sleep(CONNECT_BACKOFF_MS) < 0)
                break;
            continue;
        }
        uint64_t t0 = now_ns();
        int rc = ah_deadline_push(o->timeout_ms);
        if (rc < 0)
            break;
        rc = ah_stream_write(s, w->pipe_req, w->pipe_req_len * (size_t)k);
        uint64_t done = 0;
        int close_after = 0;
        if (rc < 0) {
            if (rc != AH_ECANCELED)
                note_error(w, rc == AH_ETIMEDOUT ? ERR_TIMEOUT : ERR_WRITE, ah_strerror(rc));
        } else {
            while (done < k && !close_after) {
                int status;
                uint64_t body;
                rc = read_response(w, s, &status, &body, &close_after);
                if (rc < 0)
                    break;
                hist_record(&w->hist, now_ns() - t0);
                w->responses++;
                w->bytes += body;
                if (status >= 400)
                    w->non2xx++;
                done++;
            }
            if (rc < 0 && rc != AH_ECANCELED)
                note_error(w, rc == AH_ETIMEDOUT ? ERR_TIMEOUT : ERR_READ, ah_strerror(rc));
            /* requests the server will not answer (it closed) are lost: one read error each */
            if (rc == 0 && done < k)
                for (uint64_t i = done; i < k; i++)
                    note_error(w, ERR_READ, "the server closed a pipelined connection");
        }
        (void)ah_deadline_pop();
        if (rc < 0 || close_after) {
            ah_stream_close(s);
            s = NULL;
        }
        if (rc == AH_ECANCELED)
            break;
    }
    ah_stream_close(s);
    return 0;
}

/* The request of --pipeline, as the client would write it. */
static char *pipe_request(const options *o, size_t *len)
{
    char *target = ah_url_target(&o->u);
    if (!target)
        return NULL;
    size_t cap = 1024 + strlen(target) + strlen(o->u.host);
    for (size_t i = 0; i < o->nheaders; i++)
        cap += strlen(o->headers[i].name) + strlen(o->headers[i].value) + 4;
    char *p = malloc(cap);
    if (!p) {
        free(target);
        return NULL;
    }
    int v6 = strchr(o->u.host, ':') != NULL;
    int host_given = 0, ua_given = 0;
    for (size_t i = 0; i < o->nheaders; i++) {
        host_given |= strcasecmp(o->headers[i].name, "Host") == 0;
        ua_given |= strcasecmp(o->headers[i].name, "User-Agent") == 0;
    }
    size_t n = (size_t)snprintf(p, cap, "GET %s HTTP/1.1\r\n", target);
    if (!host_given) {
        if (o->u.port_explicit)
            n += (size_t)snprintf(p + n, cap - n, "Host: %s%s%s:%u\r\n", v6 ? "[" : "", o->u.host,
                                  v6 ? "]" : "", (unsigned)o->u.port);
        else
            n += (size_t)snprintf(p + n, cap - n, "Host: %s%s%s\r\n", v6 ? "[" : "", o->u.host,
                                  v6 ? "]" : "");
    }
    if (!ua_given)
        n += (size_t)snprintf(p + n, cap - n, "User-Agent: ahttp-bench/%s\r\n", PACKAGE_VERSION);
    for (size_t i = 0; i < o->nheaders; i++)
        n +=
            (size_t)snprintf(p + n, cap - n, "%s: %s\r\n", o->headers[i].name, o->headers[i].value);
    n += (size_t)snprintf(p + n, cap - n, "\r\n");
    free(target);
    *len = n;
    return p;
}

/* ---- threads ---- */

static int worker_main(void *arg)
{
    worker *w = arg;
    const options *o = w->b->o;
    int rc = 0;
    if (o->pipeline > 1) {
        if (strcmp(o->u.scheme, "https") == 0) {
            ah_tls_client_opts to = {.ca_file = o->cacert, .insecure = o->insecure};
            char why[256] = "";
            if ((rc = ah_tls_client_ctx_new(&to, &w->tls, why, sizeof(why))) < 0) {
                snprintf(w->first_error, sizeof(w->first_error), "TLS setup: %s", why);
                return rc;
            }
        }
    } else {
        ah_client_opts co = {
            .max_connections = w->conns,
            .max_per_host = w->conns,
            .timeout_ms = o->timeout_ms,
            .max_redirects = -1, /* a 3xx is a response to count, as wrk and h2load do */
            .decompress = -1,
            .ca_file = o->cacert,
            .insecure = o->insecure,
            .user_agent = "ahttp-bench/" PACKAGE_VERSION,
        };
        if (!(w->client = ah_client_new(&co)))
            return AH_ENOMEM;
    }
    ah_group *g = ah_group_new();
    if (!g) {
        rc = AH_ENOMEM;
    } else {
        for (size_t i = 0; rc == 0 && i < w->conns; i++)
            rc = ah_group_spawn(g, o->pipeline > 1 ? pipeline_task : client_task, w);
        int wrc = ah_group_wait(g);
        ah_group_free(g);
        if (rc == 0)
            rc = wrc;
    }
    ah_client_close(w->client);
    w->client = NULL;
    ah_tls_ctx_free(w->tls);
    w->tls = NULL;
    return rc;
}

static void *worker_thread(void *arg)
{
    worker *w = arg;
    /* Many connections: slab stacks without guard pages, which cost two kernel mappings each. */
    ah_loop_opts lo = {.stack_guard = w->conns > 8000 ? -1 : 0};
    ah_loop *loop = ah_loop_new(&lo);
    if (!loop) {
        w->rc = AH_ENOMEM;
        return NULL;
    }
    w->rc = ah_loop_run(loop, worker_main, w);
    ah_loop_free(loop);
    return NULL;
}

/* ---- the report ---- */

/* A duration in ns as wrk writes it: "812.00us", "1.25ms", "2.10s". */
static const char *fmt_time(double ns, char *buf, size_t size)
{
    if (ns < 1e6)
        snprintf(buf, size, "%.2fus", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, size, "%.2fms", ns / 1e6);
    else
        snprintf(buf, size, "%.2fs", ns / 1e9);
    return buf;
}

static const char *fmt_bytes(double v, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
    unsigned i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(buf, size, "%.2f%s", v, units[i]);
    return buf;
}

/* ---- command line ---- */

static int bad_usage(const char *fmt, const char *what)
{
    fprintf(stderr, "ahttp-bench: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nahttp-bench: try 'ahttp-bench --help'\n");
    return 2;
}

static int parse_count(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Seconds (fractions allowed, > 0) to milliseconds; -1 when malformed. */
static int64_t parse_seconds(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v > 0) || v > 1e7)
        return -1;
    int64_t ms = (int64_t)(v * 1000.0 + 0.5);
    return ms > 0 ? ms : 1;
}

static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int parse_args(int argc, char **argv, options *o)
{
    enum { O_PIPELINE = 256, O_TIMEOUT, O_CACERT };
    static const struct option longopts[] = {
        {"connections", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"requests", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 't'},
        {"pipeline", required_argument, NULL, O_PIPELINE},
        {"header", required_argument, NULL, 'H'},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"insecure", no_argument, NULL, 'k'},
        {"cacert", required_argument, NULL, O_CACERT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t v;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:d:n:t:H:kh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (parse_count(optarg, 1, 1000000, &v) < 0)
                return bad_usage("bad -c '%s' (connections: 1..1000000)", optarg);
            o->conns = (size_t)v;
            break;
        case 'd':
            if ((o->duration_ms = parse_seconds(optarg)) < 0)
                return bad_usage("bad -d '%s' (seconds, > 0)", optarg);
            break;
        case 'n':
            if (parse_count(optarg, 1, UINT64_C(1) << 50, &o->requests) < 0)
                return bad_usage("bad -n '%s' (requests, >= 1)", optarg);
            break;
        case 't':
            if (parse_count(optarg, 1, 1024, &v) < 0)
                return bad_usage("bad -t '%s' (threads: 1..1024)", optarg);
            o->threads = (unsigned)v;
            break;
        case O_PIPELINE:
            if (parse_count(optarg, 1, 1024, &v) < 0)
                return bad_usage("bad --pipeline '%s' (1..1024)", optarg);
            o->pipeline = (unsigned)v;
            break;
        case 'H': {
            char *colon = strchr(optarg, ':');
            if (!colon || colon == optarg)
                return bad_usage("bad header '%s' (want 'Name: value')", optarg);
            if (o->nheaders == MAX_HEADERS)
                return bad_usage("more than %s headers", "64");
            *colon = '\0';
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            o->headers[o->nheaders++] = (ah_client_header){optarg, value};
            break;
        }
        case O_TIMEOUT:
            if ((o->timeout_ms = parse_seconds(optarg)) < 0)
                return bad_usage("bad --timeout '%s' (seconds, > 0)", optarg);
            break;
        case 'k': o->insecure = 1; break;
        case O_CACERT: o->cacert = optarg; break;
        case 'h': fputs(usage, stdout); return -1;
        case ':': return bad_usage("option '%s' needs an argument", argv[optind - 1]);
        default:
            if (optopt && optopt < 256) {
                char flag[3] = {'-', (char)optopt, '\0'};
                return bad_usage("unknown option '%s'", flag);
            }
            return bad_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return bad_usage("%s", "no URL given");
    if (optind + 1 < argc)
        return bad_usage("one URL only ('%s' is one too many)", argv[optind + 1]);
    o->url = argv[optind];
    if (!o->conns)
        return bad_usage("%s", "-c CONNECTIONS is required");
    if (!o->duration_ms == !o->requests)
        return bad_usage("%s", "give one of -d SECONDS and -n REQUESTS");
    if (o->threads > o->conns)
        return bad_usage("%s", "more threads than connections (-t > -c)");
    if (ah_url_parse(o->url, &o->u) < 0 || !ah_url_is_http(&o->u)) {
        ah_url_free(&o->u);
        return bad_usage("bad URL '%s' (want http:// or https:// with a host)", o->url);
    }
    for (size_t i = 0; i < o->nheaders; i++) /* the client would refuse them at each fetch */
        for (const char *p = o->headers[i].value; *p; p++)
            if (((unsigned char)*p < 32 && *p != '\t') || *p == 127) {
                ah_url_free(&o->u);
                return bad_usage("bad header value for '%s' (control characters)",
                                 o->headers[i].name);
            }
    return 0;
}

/* Sum the threads' counts and print the report; returns the exit code. */
static int report(const options *o, const worker *ws, double elapsed)
{
    histogram *all = calloc(1, sizeof(*all));
    if (!all) {
        fprintf(stderr, "ahttp-bench: out of memory\n");
        return 1;
    }
    uint64_t responses = 0, bytes = 0, non2xx = 0, errors[ERR_KINDS] = {0};
    const char *first_error = NULL;
    int failed = 0;
    for (unsigned i = 0; i < o->threads; i++) {
        const worker *w = &ws[i];
        hist_merge(all, &w->hist);
        responses += w->responses;
        bytes += w->bytes;
        non2xx += w->non2xx;
        for (int k = 0; k < ERR_KINDS; k++)
            errors[k] += w->errors[k];
        if (!first_error && w->first_error[0])
            first_error = w->first_error;
        if (w->rc < 0 && !failed) {
            failed = 1;
            fprintf(stderr, "ahttp-bench: thread %u: %s%s%s\n", i + 1, ah_strerror(w->rc),
                    w->first_error[0] ? ": " : "", w->first_error);
        }
    }
    uint64_t socket_errors = 0;
    for (int k = 0; k < ERR_KINDS; k++)
        socket_errors += errors[k];

    char t1[32], t2[32], t3[32];
    double mean = all->n ? all->sum / (double)all->n : 0;
    double var = all->n > 1 ? (all->sumsq - all->sum * mean) / (double)(all->n - 1) : 0;
    double sd = var > 0 ? sqrt(var) : 0;
    printf("  Latency     avg %10s  stdev %10s  max %10s\n", fmt_time(mean * 1e3, t1, sizeof(t1)),
           fmt_time(sd * 1e3, t2, sizeof(t2)), fmt_time((double)all->max_ns, t3, sizeof(t3)));
    printf("  Latency Distribution\n");
    static const double pcts[] = {50, 75, 90, 99, 99.9};
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
        printf("  %7g%%  %10s\n", pcts[i],
               fmt_time((double)hist_percentile(all, pcts[i]), t1, sizeof(t1)));
    printf("  %llu requests in %.3fs, %s read (response bodies)\n", (unsigned long long)responses,
           elapsed, fmt_bytes((double)bytes, t1, sizeof(t1)));
    if (socket_errors)
        printf("  Socket errors: connect %llu, read %llu, write %llu, timeout %llu\n",
               (unsigned long long)errors[ERR_CONNECT], (unsigned long long)errors[ERR_READ],
               (unsigned long long)errors[ERR_WRITE], (unsigned long long)errors[ERR_TIMEOUT]);
    if (non2xx)
        printf("  Non-2xx responses (status >= 400): %llu\n", (unsigned long long)non2xx);
    if (first_error)
        printf("  First error: %s\n", first_error);
    double rps = elapsed > 0 ? (double)responses / elapsed : 0;
    printf("Requests/sec: %12.2f\n", rps);
    printf("Transfer/sec: %12s\n",
           fmt_bytes(elapsed > 0 ? (double)bytes / elapsed : 0, t1, sizeof(t1)));
    printf("ahttp-bench: requests=%llu duration_s=%.3f rps=%.1f p50_us=%.1f p90_us=%.1f "
           "p99_us=%.1f max_us=%.1f bytes=%llu errors=%llu connect=%llu read=%llu write=%llu "
           "timeout=%llu non2xx=%llu\n",
           (unsigned long long)responses, elapsed, rps, (double)hist_percentile(all, 50) / 1e3,
           (double)hist_percentile(all, 90) / 1e3, (double)hist_percentile(all, 99) / 1e3,
           (double)all->max_ns / 1e3, (unsigned long long)bytes,
           (unsigned long long)(socket_errors + non2xx), (unsigned long long)errors[ERR_CONNECT],
           (unsigned long long)errors[ERR_READ], (unsigned long long)errors[ERR_WRITE],
           (unsigned long long)errors[ERR_TIMEOUT], (unsigned long long)non2xx);
    free(all);
    return failed || responses == 0 ? 1 : 0;
}

/* The requests of --pipeline: `depth` copies of one back to back, written with one call. */
static char *pipe_batch(const options *o, size_t *one_len)
{
    size_t len = 0;
    char *one = pipe_request(o, &len);
    char *batch = one ? malloc(len * o->pipeline) : NULL;
    for (unsigned i = 0; batch && i < o->pipeline; i++)
        memcpy(batch + i * len, one, len);
    free(one);
    *one_len = len;
    return batch;
}

int main(int argc, char **argv)
{
    options o = {.threads = 1, .pipeline = 1, .timeout_ms = 10000};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    raise_nofile_limit();

    bench b = {.o = &o};
    atomic_init(&b.claimed, 0);
    worker *ws = calloc(o.threads, sizeof(*ws));
    size_t pipe_req_len = 0;
    char *pipe_req = o.pipeline > 1 ? pipe_batch(&o, &pipe_req_len) : NULL;
    if (!ws || (o.pipeline > 1 && !pipe_req)) {
        fprintf(stderr, "ahttp-bench: out of memory\n");
        free(ws);
        free(pipe_req);
        ah_url_free(&o.u);
        return 1;
    }

    if (o.duration_ms)
        printf("Running %.3gs test @ %s\n", (double)o.duration_ms / 1000.0, o.url);
    else
        printf("Running %llu requests @ %s\n", (unsigned long long)o.requests, o.url);
    printf("  %u thread%s and %zu connection%s%s\n", o.threads, o.threads == 1 ? "" : "s", o.conns,
           o.conns == 1 ? "" : "s", o.pipeline > 1 ? ", pipelined" : "");
    fflush(stdout);

    uint64_t t0 = now_ns();
    b.end_ns = t0 + (uint64_t)o.duration_ms * 1000000u;
    unsigned started = 0;
    for (unsigned i = 0; i < o.threads; i++) {
        worker *w = &ws[i];
        w->b = &b;
        w->conns = o.conns / o.threads + (i < o.conns % o.threads ? 1 : 0);
        w->pipe_req = pipe_req;
        w->pipe_req_len = pipe_req_len;
        if (!(w->scratch = malloc(SCRATCH_SIZE)) ||
            pthread_create(&w->tid, NULL, worker_thread, w) != 0) {
            snprintf(w->first_error, sizeof(w->first_error), "cannot start the thread");
            w->rc = AH_ENOMEM;
            break;
        }
        started++;
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(ws[i].tid, NULL);
    rc = report(&o, ws, (double)(now_ns() - t0) / 1e9);

    for (unsigned i = 0; i < o.threads; i++)
        free(ws[i].scratch);
    free(ws);
    free(pipe_req);
    ah_url_free(&o.u);
    return rc;
}
