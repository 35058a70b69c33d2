/* tls_probe: ahttp's TLS client and server, for tests against real peers (openssl, curl).
 *
 *   tls_probe [--cafile F] [--host NAME] [--insecure] [--cert F --key F] [--http | --send TEXT]
 *             [--line] ADDRESS PORT
 *       Connect, handshake (verifying ADDRESS, or NAME with --host), send TEXT (default
 *       "hello\n") or with --http a GET request, and print what comes back until the peer ends
 *       the stream (or, with --line, until one line has come). Exit: 0 ok, 60 certificate
 *       verification failed (the reason is printed), 35 other TLS failure, 7 cannot connect.
 *
 *   tls_probe --serve PORT --cert F --key F [--count N] [--client-ca F]
 *       Listen on 127.0.0.1:PORT (0: any free port), print "listening on PORT", then serve N
 *       connections (default 1), one task each: read a line, or a request head, and answer
 *       "HTTP/1.1 200 OK ... hello\n" followed by close_notify. Exit 0 if every one worked.
 *
 *   tls_probe --free-port
 *       Print a TCP port on 127.0.0.1 that was free a moment ago.
 *
 * For bench/run-net.sh:
 *   tls_probe --bench-serve PORT --cert F --key F [--no-tickets]
 *       Serve until killed: "GET /N ..." gets an N-byte body, then close_notify.
 *   tls_probe --bench-get CONNS --path /N [--cafile F] [--host NAME] ADDRESS PORT
 *       CONNS concurrent connections each GET the path; prints MB/s over all of them.
 *   tls_probe --bench-handshakes SECONDS [--cafile F] [--host NAME] ADDRESS PORT
 *       Connect + handshake + close, one after the other; prints handshakes/s and how many were
 *       resumed. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ahttp/ahttp.h>
#include <ahttp/tls.h>

#define HANDSHAKE_MS 10000
#define IO_MS 10000

enum { EXIT_VERIFY = 60, EXIT_TLS = 35, EXIT_CONNECT = 7, EXIT_USAGE = 2 };

typedef struct probe {
    const char *cafile, *host, *cert, *key, *client_ca, *send, *address;
    int insecure, http, line, serve, count;
    int bench_serve, bench_get, bench_handshakes, no_tickets;
    const char *path;
    unsigned port;
    ah_tls_ctx *ctx;
    int failures;
} probe;

static int tls_exit(int rc)
{
    if (rc == AH_ETLS_VERIFY)
        return EXIT_VERIFY;
    if (rc == AH_ETLS || rc == AH_ETLS_TRUNCATED || rc == AH_EEOF || rc == AH_ECONNRESET)
        return EXIT_TLS;
    return 1;
}

static int run_client(void *arg)
{
    probe *p = arg;
    char err[512];
    ah_tls_client_opts o = {
        .ca_file = p->cafile, .insecure = p->insecure, .cert_file = p->cert, .key_file = p->key};
    if (ah_tls_client_ctx_new(&o, &p->ctx, err, sizeof(err)) < 0) {
        fprintf(stderr, "tls_probe: %s\n", err);
        return 1;
    }
    ah_tcp_connect_opts co = {.connect_timeout_ms = IO_MS};
    ah_stream *tcp, *s;
    int rc = ah_tcp_connect(p->address, (uint16_t)p->port, &co, &tcp);
    if (rc < 0) {
        fprintf(stderr, "tls_probe: connect %s:%u: %s\n", p->address, p->port, ah_strerror(rc));
        return EXIT_CONNECT;
    }
    const char *host = p->host ? p->host : p->address;
    char why[256];
    rc = ah_tls_client_wrap(tcp, p->ctx, host, HANDSHAKE_MS, &s, why, sizeof(why));
    if (rc < 0) {
        fprintf(stderr, "tls_probe: handshake: %s: %s\n", ah_strerror(rc), why);
        return tls_exit(rc);
    }
    fprintf(stderr, "tls_probe: %s, ALPN %s\n", ah_tls_version(s),
            ah_tls_alpn(s) ? ah_tls_alpn(s) : "(none)");
    ah_stream_set_timeouts(s, IO_MS, IO_MS);
    char req[512];
    if (p->http)
        snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
    else
        snprintf(req, sizeof(req), "%s", p->send ? p->send : "hello\n");
    rc = ah_stream_write(s, req, strlen(req));
    char buf[4096];
    int n = 0;
    while (rc == 0 && (n = ah_stream_read(s, buf, sizeof(buf))) > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        if (p->line && memchr(buf, '\n', (size_t)n))
            break;
    }
    fflush(stdout);
    if (rc == 0 && n < 0)
        rc = n;
    if (rc == 0 && p->line)
        rc = ah_stream_shutdown_write(s);
    snprintf(why, sizeof(why), "%s", ah_tls_stream_error(s)); /* closing frees it */
    ah_stream_close(s);
    if (rc < 0) {
        fprintf(stderr, "tls_probe: %s: %s\n", ah_strerror(rc), why);
        return tls_exit(rc);
    }
    return 0;
}

/* ---- server ---- */

typedef struct conn {
    probe *p;
    ah_stream *tcp;
} conn;

static const char response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n";

static int serve_conn(void *arg)
{
    conn *c = arg;
    probe *p = c->p;
    ah_stream *s;
    char why[256];
    int rc = ah_tls_server_wrap(c->tcp, p->ctx, HANDSHAKE_MS, &s, why, sizeof(why));
    free(c);
    if (rc < 0) {
        fprintf(stderr, "tls_probe: handshake: %s: %s\n", ah_strerror(rc), why);
        p->failures++;
        return rc;
    }
    const char *sni = ah_tls_sni(s);
    fprintf(stderr, "tls_probe: accepted %s, ALPN %s, SNI %s\n", ah_tls_version(s),
            ah_tls_alpn(s) ? ah_tls_alpn(s) : "(none)", sni ? sni : "(none)");
    ah_stream_set_timeouts(s, IO_MS, IO_MS);
    /* a line, or a request head up to its empty line */
    char line[8192];
    int n, first = 1, http = 0;
    while ((n = ah_stream_read_until(s, "\n", 1, line, sizeof(line))) > 0) {
        if (first)
            http = n > 10 && strstr(line, " HTTP/1.") != NULL;
        first = 0;
        if (!http || n <= 2)
            break;
    }
    rc = n < 0 ? n : ah_stream_write(s, response, sizeof(response) - 1);
    if (rc == 0)
        rc = ah_stream_shutdown_write(s);
    if (rc == 0) {
        /* until the client closes too, so it never meets a reset */
        ah_stream_set_timeouts(s, 2000, 2000);
        while (ah_stream_read(s, line, sizeof(line)) > 0)
            ;
    }
    snprintf(why, sizeof(why), "%s", ah_tls_stream_error(s)); /* closing frees it */
    ah_stream_close(s);
    if (rc < 0) {
        fprintf(stderr, "tls_probe: serving: %s: %s\n", ah_strerror(rc), why);
        p->failures++;
    }
    return rc;
}

static int run_server(void *arg)
{
    probe *p = arg;
    char err[512];
    ah_tls_cert cert = {p->cert, p->key};
    ah_tls_server_opts so = {.certs = &cert,
                             .ncerts = 1,
                             .client_ca_file = p->client_ca,
                             .require_client_cert = p->client_ca != NULL};
    if (ah_tls_server_ctx_new(&so, &p->ctx, err, sizeof(err)) < 0) {
        fprintf(stderr, "tls_probe: %s\n", err);
        return 1;
    }
    ah_listener *l;
    int rc = ah_tcp_listen("127.0.0.1", (uint16_t)p->port, NULL, &l);
    if (rc < 0) {
        fprintf(stderr, "tls_probe: listen: %s\n", ah_strerror(rc));
        return 1;
    }
    printf("listening on %u\n", ah_listener_port(l));
    fflush(stdout);
    ah_task *tasks[64];
    int n = p->count < 64 ? p->count : 64;
    for (int i = 0; i < n; i++) {
        conn *c = calloc(1, sizeof(*c));
        rc = c ? ah_listener_accept(l, &c->tcp, NULL) : AH_ENOMEM;
        if (rc < 0) {
            free(c);
            n = i;
            break;
        }
        c->p = p;
        tasks[i] = ah_spawn(serve_conn, c);
    }
    for (int i = 0; i < n; i++)
        (void)!ah_join(tasks[i]);
    ah_listener_close(l);
    return rc < 0 ? 1 : p->failures ? EXIT_TLS : 0;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return 1;
    printf("%u\n", ntohs(sa.sin_port));
    close(fd);
    return 0;
}

/* ---- benchmarks ---- */

static int bench_conn(void *arg)
{
    conn *c = arg;
    probe *p = c->p;
    ah_stream *s;
    int rc = ah_tls_server_wrap(c->tcp, p->ctx, HANDSHAKE_MS, &s, NULL, 0);
    free(c);
    if (rc < 0)
        return rc;
    ah_stream_set_timeouts(s, IO_MS, IO_MS);
    char line[4096];
    long long want = -1;
    int n;
    while ((n = ah_stream_read_until(s, "\n", 1, line, sizeof(line) - 1)) > 2) {
        line[n] = '\0';
        if (want < 0)
            want = strncmp(line, "GET /", 5) == 0 ? atoll(line + 5) : 0;
    }
    if (n > 0 && want >= 0) {
        static char body[65536];
        char head[128];
        int hl =
            snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\nConnection: close\r\n\r\n", want);
        rc = ah_stream_write(s, head, (size_t)hl);
        for (long long left = want; rc == 0 && left > 0; left -= (long long)sizeof(body))
            rc = ah_stream_write(s, body,
                                 left < (long long)sizeof(body) ? (size_t)left : sizeof(body));
        if (rc == 0)
            rc = ah_stream_shutdown_write(s);
        ah_stream_set_timeouts(s, 2000, 2000);
        while (rc == 0 && ah_stream_read(s, line, sizeof(line)) > 0)
            ;
    }
    ah_stream_close(s);
    return 0;
}

static int run_bench_server(void *arg)
{
    probe *p = arg;
    char err[512];
    ah_tls_cert cert = {p->cert, p->key};
    ah_tls_server_opts so = {.certs = &cert, .ncerts = 1, .tickets = p->no_tickets ? -1 : 0};
    if (ah_tls_server_ctx_new(&so, &p->ctx, err, sizeof(err)) < 0) {
        fprintf(stderr, "tls_probe: %s\n", err);
        return 1;
    }
    ah_listener *l;
    ah_tcp_listen_opts lo = {.backlog = 4096};
    int rc = ah_tcp_listen("127.0.0.1", (uint16_t)p->port, &lo, &l);
    if (rc < 0) {
        fprintf(stderr, "tls_probe: listen: %s\n", ah_strerror(rc));
        return 1;
    }
    printf("listening on %u\n", ah_listener_port(l));
    fflush(stdout);
    for (;;) {
        conn *c = calloc(1, sizeof(*c));
        if (!c || ah_listener_accept(l, &c->tcp, NULL) < 0) {
            free(c);
            break;
        }
        c->p = p;
        ah_task *t = ah_spawn(bench_conn, c);
        if (t)
            ah_task_detach(t);
    }
    ah_listener_close(l);
    return 0;
}

typedef struct getter {
    probe *p;
    long long bytes;
    int rc;
    char error[256]; /* why rc: the handshake's or the stream's TLS reason */
} getter;

static int bench_get_task(void *arg)
{
    getter *g = arg;
    probe *p = g->p;
    ah_stream *tcp, *s;
    int rc = ah_tcp_connect(p->address, (uint16_t)p->port, NULL, &tcp);
    if (rc == 0)
        rc = ah_tls_client_wrap(tcp, p->ctx, p->host ? p->host : p->address, HANDSHAKE_MS, &s,
                                g->error, sizeof(g->error));
    if (rc < 0)
        return g->rc = rc;
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", p->path,
                     p->host ? p->host : p->address);
    rc = ah_stream_write(s, req, (size_t)n);
    static char buf[65536]; /* the bytes are only counted */
    while (rc == 0 && (n = ah_stream_read(s, buf, sizeof(buf))) > 0)
        g->bytes += n;
    if (rc == 0 && n < 0 && n != AH_ETLS_TRUNCATED) /* s_server -WWW may skip close_notify */
        rc = n;
    snprintf(g->error, sizeof(g->error), "%s", ah_tls_stream_error(s));
    ah_stream_close(s);
    return g->rc = rc;
}

static int client_ctx(probe *p)
{
    char err[512];
    ah_tls_client_opts o = {.ca_file = p->cafile, .insecure = p->insecure};
    if (ah_tls_client_ctx_new(&o, &p->ctx, err, sizeof(err)) < 0) {
        fprintf(stderr, "tls_probe: %s\n", err);
        return -1;
    }
    return 0;
}

static int run_bench_get(void *arg)
{
    probe *p = arg;
    if (client_ctx(p) < 0)
        return 1;
    int n = p->count;
    getter *g = calloc((size_t)n, sizeof(*g));
    ah_task **t = calloc((size_t)n, sizeof(*t));
    if (!g || !t)
        return 1;
    int64_t start = ah_now_ms();
    for (int i = 0; i < n; i++) {
        g[i].p = p;
        t[i] = ah_spawn(bench_get_task, &g[i]);
    }
    long long total = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        (void)!ah_join(t[i]);
        total += g[i].bytes;
        if (g[i].rc < 0 && failed++ == 0)
            fprintf(stderr, "tls_probe: %s: %s\n", ah_strerror(g[i].rc), g[i].error);
    }
    double secs = (double)(ah_now_ms() - start) / 1000.0;
    printf("%d streams: %.1f MB in %.2f s = %.1f MB/s%s\n", n, (double)total / 1e6, secs,
           (double)total / 1e6 / secs, failed ? " (with failures)" : "");
    free(g);
    free(t);
    return failed ? 1 : 0;
}

static int run_bench_handshakes(void *arg)
{
    probe *p = arg;
    if (client_ctx(p) < 0)
        return 1;
    int64_t start = ah_now_ms(), end = start + (int64_t)p->count * 1000;
    long done = 0, resumed = 0;
    while (ah_now_ms() < end) {
        ah_stream *tcp, *s;
        char why[256] = "";
        int rc = ah_tcp_connect(p->address, (uint16_t)p->port, NULL, &tcp);
        if (rc == 0)
            rc = ah_tls_client_wrap(tcp, p->ctx, p->host ? p->host : p->address, HANDSHAKE_MS, &s,
                                    why, sizeof(why));
        if (rc < 0) {
            fprintf(stderr, "tls_probe: %s: %s\n", ah_strerror(rc), why);
            return 1;
        }
        /* a byte of application data first, so TLS 1.3 tickets have been taken */
        char b;
        rc = ah_stream_write(s, "GET /1 HTTP/1.0\r\n\r\n", 19);
        while (rc == 0 && ah_stream_read(s, &b, 1) > 0)
            ;
        done++;
        resumed += ah_tls_resumed(s);
        ah_stream_close(s);
    }
    double secs = (double)(ah_now_ms() - start) / 1000.0;
    printf("%ld handshakes in %.2f s = %.0f/s (%ld resumed)\n", done, secs, (double)done / secs,
           resumed);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: tls_probe [--cafile F] [--host NAME] [--insecure] [--cert F --key F]\n"
                    "                 [--http | --send TEXT] [--line] ADDRESS PORT\n"
                    "       tls_probe --serve PORT --cert F --key F [--count N] [--client-ca F]\n"
                    "       tls_probe --free-port\n");
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    probe p = {.count = 1};
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--free-port") == 0)
            return free_port();
        else if (strcmp(a, "--insecure") == 0)
            p.insecure = 1;
        else if (strcmp(a, "--http") == 0)
            p.http = 1;
        else if (strcmp(a, "--line") == 0)
            p.line = 1;
        else if (strcmp(a, "--no-tickets") == 0)
            p.no_tickets = 1;
        else if (a[0] == '-' && a[1] == '-' && !v)
            return usage();
        else if (strcmp(a, "--cafile") == 0)
            p.cafile = argv[++i];
        else if (strcmp(a, "--host") == 0)
            p.host = argv[++i];
        else if (strcmp(a, "--cert") == 0)
            p.cert = argv[++i];
        else if (strcmp(a, "--key") == 0)
            p.key = argv[++i];
        else if (strcmp(a, "--client-ca") == 0)
            p.client_ca = argv[++i];
        else if (strcmp(a, "--send") == 0)
            p.send = argv[++i];
        else if (strcmp(a, "--count") == 0)
            p.count = atoi(argv[++i]);
        else if (strcmp(a, "--path") == 0)
            p.path = argv[++i];
        else if (strcmp(a, "--bench-serve") == 0) {
            p.bench_serve = 1;
            p.port = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--bench-get") == 0) {
            p.bench_get = 1;
            p.count = atoi(argv[++i]);
        } else if (strcmp(a, "--bench-handshakes") == 0) {
            p.bench_handshakes = 1;
            p.count = atoi(argv[++i]);
        } else if (strcmp(a, "--serve") == 0) {
            p.serve = 1;
            p.port = (unsigned)atoi(argv[++i]);
        } else if (a[0] == '-')
            return usage();
        else if (positional == 0 && ++positional)
            p.address = a;
        else if (positional == 1 && ++positional)
            p.port = (unsigned)atoi(a);
        else
            return usage();
    }
    int server = p.serve || p.bench_serve;
    if (server ? (!p.cert || !p.key) : positional != 2)
        return usage();
    if ((p.bench_get && (!p.path || p.count < 1)) || (p.bench_handshakes && p.count < 1))
        return usage();
    ah_task_fn fn = p.bench_serve        ? run_bench_server
                    : p.bench_get        ? run_bench_get
                    : p.bench_handshakes ? run_bench_handshakes
                    : p.serve            ? run_server
                                         : run_client;
    int rc = ah_run(fn, &p);
    ah_tls_ctx_free(p.ctx);
    if (rc < 0) {
        fprintf(stderr, "tls_probe: %s\n", ah_strerror(rc));
        return 1;
    }
    return rc;
}
