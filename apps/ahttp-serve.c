/* ahttp-serve: the sample async web server.
 *
 *   ahttp-serve [--host H] [--port P] [--root DIR] [--workers N] [--access-log FILE]
 *               [--tls-cert FILE --tls-key FILE [--https-port P]] [--header-timeout MS] [--quiet]
 *
 * Routes: /hello /json /echo /users/{id} /headers /stream?n=N /sleep?ms=N /status/{code}
 *         /redirect/{n} /gzip /static/... (files under --root) */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>

#include <ahttp/ahttp.h>
#include <ahttp/server.h>
#include <ahttp/tls.h>

static const char usage[] =
    "usage: ahttp-serve [options]\n"
    "  --host HOST          address to listen on (default 127.0.0.1; '*' for all)\n"
    "  --port PORT          HTTP port (default 8080; 0 picks a free one)\n"
    "  --root DIR           serve files under DIR at /static/ (default: current directory)\n"
    "  --workers N          threads, each with its own event loop (default 1)\n"
    "  --access-log FILE    Common Log Format access log ('-' for stdout)\n"
    "  --tls-cert FILE      certificate chain (PEM) for HTTPS\n"
    "  --tls-key FILE       its private key (PEM)\n"
    "  --https-port PORT    HTTPS port (default 8443; needs --tls-cert and --tls-key)\n"
    "  --https-only         serve HTTPS only (no plain HTTP listener)\n"
    "  --header-timeout MS  time allowed to receive a request head (default 10000)\n"
    "  --quiet              do not print the listening addresses, nor the library's warnings\n"
    "  --help               this text\n";

/* ---- handlers ---- */

static int hello(ah_request *req, ah_response *resp, void *arg)
{
    static const char text[] = "Hello, World!";
    ah_response_status(resp, 200);
    int rc = ah_response_header(resp, "Content-Type", "text/plain");
    return rc < 0 ? rc : ah_response_body_ref(resp, text, sizeof(text) - 1);
}

static int json(ah_request *req, ah_response *resp, void *arg)
{
    static const char text[] = "{\"message\":\"Hello, World!\"}";
    int rc = ah_response_header(resp, "Content-Type", "application/json");
    return rc < 0 ? rc : ah_response_body_ref(resp, text, sizeof(text) - 1);
}

static int echo(ah_request *req, ah_response *resp, void *arg)
{
    const char *body;
    size_t len;
    int rc = ah_request_body(req, &body, &len);
    if (rc < 0)
        return rc;
    const char *type = ah_request_header(req, "Content-Type");
    if (type && (rc = ah_response_header(resp, "Content-Type", type)) < 0)
        return rc;
    return ah_response_body_ref(resp, body, len);
}

/* s as a JSON string body (without quotes) into out (size >= 6 * strlen + 1). */
static void json_escape(const char *s, char *out)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c < 0x20) {
            out += sprintf(out, "\\u%04x", c);
        } else {
            *out++ = (char)c;
        }
    }
    *out = '\0';
}

static int user(ah_request *req, ah_response *resp, void *arg)
{
    const char *id = ah_request_param(req, "id");
    char *esc = ah_request_alloc(req, strlen(id) * 6 + 1);
    char *body = ah_request_alloc(req, strlen(id) * 6 + 16);
    if (!esc || !body)
        return AH_ENOMEM;
    json_escape(id, esc);
    int n = sprintf(body, "{\"id\":\"%s\"}", esc);
    int rc = ah_response_header(resp, "Content-Type", "application/json");
    return rc < 0 ? rc : ah_response_body_ref(resp, body, (size_t)n);
}

static int headers(ah_request *req, ah_response *resp, void *arg)
{
    size_t n = ah_request_header_count(req), cap = 3;
    const char *name, *value;
    for (size_t i = 0; i < n; i++) {
        (void)!ah_request_header_at(req, i, &name, &value);
        cap += (strlen(name) + strlen(value)) * 6 + 8;
    }
    char *body = ah_request_alloc(req, cap), *p = body;
    if (!body)
        return AH_ENOMEM;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        (void)!ah_request_header_at(req, i, &name, &value);
        *p++ = i ? ',' : '\n';
        if (i)
            *p++ = '\n';
        *p++ = '"';
        json_escape(name, p);
        p += strlen(p);
        *p++ = '"';
        *p++ = ':';
        *p++ = '"';
        json_escape(value, p);
        p += strlen(p);
        *p++ = '"';
    }
    p += sprintf(p, "%s}", n ? "\n" : "");
    int rc = ah_response_header(resp, "Content-Type", "application/json");
    return rc < 0 ? rc : ah_response_body_ref(resp, body, (size_t)(p - body));
}

/* A query parameter as a bounded integer; -1 if missing or bad. */
static long int_param(ah_request *req, const char *name, long max)
{
    const char *v = ah_request_query_param(req, name);
    if (!v || !*v)
        return -1;
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n < 0 || n > max ? -1 : n;
}

static int stream(ah_request *req, ah_response *resp, void *arg)
{
    long n = int_param(req, "n", 1000000);
    if (n < 0)
        return ah_response_text(resp, 400, "text/plain", "n must be 0..1000000\n");
    int rc = ah_response_header(resp, "Content-Type", "text/plain");
    if (rc == 0)
        rc = ah_response_start(resp);
    for (long i = 0; rc == 0 && i < n; i++) {
        char line[32];
        int len = snprintf(line, sizeof(line), "chunk %ld\n", i);
        rc = ah_response_write(resp, line, (size_t)len);
    }
    return rc < 0 ? rc : ah_response_end(resp);
}

static int sleep_route(ah_request *req, ah_response *resp, void *arg)
{
    long ms = int_param(req, "ms", 60000);
    if (ms < 0)
        return ah_response_text(resp, 400, "text/plain", "ms must be 0..60000\n");
    int rc = ah_sleep(ms); /* only this connection waits */
    if (rc < 0)
        return rc;
    char text[32];
    snprintf(text, sizeof(text), "slept %ld", ms);
    return ah_response_text(resp, 200, "text/plain", text);
}

static int status_route(ah_request *req, ah_response *resp, void *arg)
{
    char *end;
    long code = strtol(ah_request_param(req, "code"), &end, 10);
    if (*end || code < 200 || code > 599)
        return ah_response_text(resp, 400, "text/plain", "status must be 200..599\n");
    ah_response_status(resp, (int)code);
    return 0;
}

static int redirect(ah_request *req, ah_response *resp, void *arg)
{
    char *end;
    long n = strtol(ah_request_param(req, "n"), &end, 10);
    if (*end || n < 0 || n > 1000)
        return ah_response_text(resp, 400, "text/plain", "n must be 0..1000\n");
    char where[40];
    if (n == 0)
        snprintf(where, sizeof(where), "/hello");
    else
        snprintf(where, sizeof(where), "/redirect/%ld", n - 1);
    ah_response_status(resp, 302);
    return ah_response_header(resp, "Location", where);
}

static int gzip_route(ah_request *req, ah_response *resp, void *arg)
{
    static const char text[] = "{\"message\":\"Hello, World!\",\"gzipped\":true}";
    unsigned char *out = ah_request_alloc(req, 256);
    if (!out)
        return AH_ENOMEM;
    z_stream z = {0};
    if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return AH_ENOMEM;
    z.next_in = (unsigned char *)text;
    z.avail_in = sizeof(text) - 1;
    z.next_out = out;
    z.avail_out = 256;
    int zr = deflate(&z, Z_FINISH);
    size_t len = 256 - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END)
        return AH_ENOMEM;
    int rc = ah_response_header(resp, "Content-Type", "application/json");
    if (rc == 0)
        rc = ah_response_header(resp, "Content-Encoding", "gzip");
    return rc < 0 ? rc : ah_response_body_ref(resp, out, len);
}

/* ---- main ---- */

static int parse_port(const char *s, uint16_t *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static void raise_nofile_limit(void)
{
    /* as nginx's worker_rlimit_nofile: one descriptor per connection, so take what we may */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *root = ".", *cert = NULL, *key = NULL, *access_log = NULL;
    uint16_t port = 8080, https_port = 8443;
    int workers = 1, quiet = 0, https_only = 0;
    long header_timeout_ms = 0; /* 0: the server's default */
    enum {
        O_HOST = 1,
        O_PORT,
        O_ROOT,
        O_WORKERS,
        O_LOG,
        O_CERT,
        O_KEY,
        O_HTTPS_PORT,
        O_HTTPS_ONLY,
        O_HEADER_TIMEOUT,
        O_QUIET
    };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"root", required_argument, NULL, O_ROOT},
        {"workers", required_argument, NULL, O_WORKERS},
        {"access-log", required_argument, NULL, O_LOG},
        {"tls-cert", required_argument, NULL, O_CERT},
        {"tls-key", required_argument, NULL, O_KEY},
        {"https-port", required_argument, NULL, O_HTTPS_PORT},
        {"https-only", no_argument, NULL, O_HTTPS_ONLY},
        {"header-timeout", required_argument, NULL, O_HEADER_TIMEOUT},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_HOST: host = optarg; break;
        case O_ROOT: root = optarg; break;
        case O_LOG: access_log = optarg; break;
        case O_CERT: cert = optarg; break;
        case O_KEY: key = optarg; break;
        case O_QUIET: quiet = 1; break;
        case O_HTTPS_ONLY: https_only = 1; break;
        case O_PORT:
        case O_HTTPS_PORT:
            if (parse_port(optarg, c == O_PORT ? &port : &https_port) < 0) {
                fprintf(stderr, "ahttp-serve: bad port '%s' (want 0..65535)\n%s", optarg, usage);
                return 2;
            }
            break;
        case O_WORKERS:
            workers = (int)strtol(optarg, &end, 10);
            if (!*optarg || *end || workers < 1 || workers > 256) {
                fprintf(stderr, "ahttp-serve: bad --workers '%s' (want 1..256)\n%s", optarg, usage);
                return 2;
            }
            break;
        case O_HEADER_TIMEOUT:
            header_timeout_ms = strtol(optarg, &end, 10);
            if (!*optarg || *end || header_timeout_ms < 1 || header_timeout_ms > 3600000) {
                fprintf(stderr, "ahttp-serve: bad --header-timeout '%s' (want 1..3600000 ms)\n%s",
                        optarg, usage);
                return 2;
            }
            break;
        case 'h': fputs(usage, stdout); return 0;
        default:
            if (optopt && optopt < 256)
                fprintf(stderr, "ahttp-serve: bad option '-%c'\n%s", optopt, usage);
            else
                fprintf(stderr, "ahttp-serve: bad option '%s'\n%s", argv[optind - 1], usage);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ahttp-serve: unexpected argument '%s'\n%s", argv[optind], usage);
        return 2;
    }
    if ((cert == NULL) != (key == NULL) || (https_only && !cert)) {
        fprintf(stderr, "ahttp-serve: HTTPS needs both --tls-cert and --tls-key\n%s", usage);
        return 2;
    }
    raise_nofile_limit();
    /* Held back until the server's handlers are in place (ah_server_run unblocks them): a
     * SIGTERM right after the "listening" line must still mean a graceful shutdown. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_signals, NULL);

    ah_server_opts opts = {.workers = (unsigned)workers,
                           .access_log = access_log,
                           .header_timeout_ms = header_timeout_ms};
    ah_server *srv = ah_server_new(&opts);
    if (!srv) {
        fprintf(stderr, "ahttp-serve: cannot create the server (access log?)\n");
        return 1;
    }
    struct {
        const char *method, *pattern;
        ah_handler_fn fn;
    } routes[] = {
        {"GET", "/hello", hello},
        {"GET", "/json", json},
        {"POST", "/echo", echo},
        {"GET", "/users/{id}", user},
        {"GET", "/headers", headers},
        {"GET", "/stream", stream},
        {"GET", "/sleep", sleep_route},
        {"GET", "/status/{code}", status_route},
        {"GET", "/redirect/{n}", redirect},
        {"GET", "/gzip", gzip_route},
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(routes) / sizeof(routes[0]); i++)
        rc = ah_server_route(srv, routes[i].method, routes[i].pattern, routes[i].fn, NULL);
    if (rc == 0)
        rc = ah_server_static(srv, "/static/", root);
    if (rc < 0) {
        fprintf(stderr, "ahttp-serve: cannot set up routes (--root %s): %s\n", root,
                ah_strerror(rc));
        ah_server_free(srv);
        return 1;
    }
    ah_tls_ctx *tls = NULL;
    if (cert) {
        char err[256];
        ah_tls_cert certs[1] = {{cert, key}};
        ah_tls_server_opts to = {.certs = certs, .ncerts = 1};
        if (ah_tls_server_ctx_new(&to, &tls, err, sizeof(err)) < 0) {
            fprintf(stderr, "ahttp-serve: TLS: %s\n", err);
            ah_server_free(srv);
            return 1;
        }
    }
    if (!https_only && (rc = ah_server_listen(srv, host, port)) < 0) {
        fprintf(stderr, "ahttp-serve: cannot listen on %s port %u: %s\n", host, port,
                ah_strerror(rc));
        ah_server_free(srv);
        ah_tls_ctx_free(tls);
        return 1;
    }
    if (tls && (rc = ah_server_listen_tls(srv, host, https_port, tls)) < 0) {
        fprintf(stderr, "ahttp-serve: cannot listen on %s port %u: %s\n", host, https_port,
                ah_strerror(rc));
        ah_server_free(srv);
        ah_tls_ctx_free(tls);
        return 1;
    }
    if (quiet)
        ah_log_set_level(AH_LOG_ERROR); /* the library's (and libevent's) warnings too */
    if (!quiet) {
        for (size_t i = 0; ah_server_port(srv, i); i++)
            printf("ahttp-serve: listening on %s://%s:%u/ (%d worker%s)\n",
                   (i == 0 && !https_only) ? "http" : "https", host, ah_server_port(srv, i),
                   workers, workers == 1 ? "" : "s");
        fflush(stdout);
    }
    rc = ah_server_run(srv);
    ah_server_free(srv);
    ah_tls_ctx_free(tls);
    if (rc < 0) {
        fprintf(stderr, "ahttp-serve: %s\n", ah_strerror(rc));
        return 1;
    }
    return 0;
}
