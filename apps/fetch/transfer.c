/* ahttp-fetch's transfers: each worker task runs transfers one after the other, reading a body
 * straight into its output buffer; with -Z up to --parallel-max workers share the client's
 * pool. Also here: curl's exit codes from the client's errors, the -v trace and -w's format. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"

/* A body read gets at least this much room in the output buffer (a TLS record's worth). */
#define READ_MIN (16 * 1024)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- -v ---- */

static void trace(void *arg, ah_client_trace_kind kind, const char *text, size_t len)
{
    (void)arg;
    const char *prefix = kind == AH_CLIENT_TRACE_REQUEST_HEAD    ? "> "
                         : kind == AH_CLIENT_TRACE_RESPONSE_HEAD ? "< "
                                                                 : "* ";
    if (kind == AH_CLIENT_TRACE_INFO) {
        fprintf(stderr, "* %.*s\n", (int)len, text);
        return;
    }
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n && p[n - 1] == '\r')
            n--;
        fprintf(stderr, "%s%.*s\n", prefix, (int)n, p);
        p = nl ? nl + 1 : end;
    }
}

/* ---- exit codes ---- */

static int exit_code_of(const ah_client_error *e)
{
    if (e->code &&
        (strstr(e->message, "proxy URL") || strncmp(e->message, "unsupported proxy", 17) == 0 ||
         strncmp(e->message, "could not resolve proxy", 23) == 0))
        return 5; /* curl's CURLE_COULDNT_RESOLVE_PROXY */
    if (e->code && e->code != AH_ETIMEDOUT && strstr(e->message, "request body file"))
        return 26; /* curl's CURLE_READ_ERROR: -T's file cannot be opened or read */
    switch (e->code) {
    case 0: return 0;
    case AH_ETIMEDOUT: return 28;
    case AH_EDNS: return 6;
    case AH_ETLS_VERIFY: return 60;
    case AH_EREDIRECTS: return 47;
    case AH_EEOF: return 52;
    case AH_ECONNREFUSED:
        if (strncmp(e->message, "proxy CONNECT", 13) == 0)
            return 56; /* curl: "CONNECT tunnel failed" */
        break;
    case AH_ETRUNCATED: return e->phase == AH_CLIENT_PHASE_BODY ? 18 : 56;
    default: break;
    }
    switch (e->phase) {
    case AH_CLIENT_PHASE_REQUEST: return e->code == AH_EINVAL ? 3 : 1;
    case AH_CLIENT_PHASE_DNS: return 6;
    case AH_CLIENT_PHASE_CONNECT:
    case AH_CLIENT_PHASE_POOL: return 7;
    case AH_CLIENT_PHASE_TLS: return strncmp(e->message, "TLS setup", 9) == 0 ? 77 : 35;
    case AH_CLIENT_PHASE_SEND: return 55;
    case AH_CLIENT_PHASE_HEADERS:
        if (e->code == AH_EPROTO_HTTP && strstr(e->message, "transfer coding"))
            return 61;                             /* curl: "Unrecognized transfer encoding" */
        return e->code == AH_EPROTO_HTTP ? 8 : 56; /* curl's CURLE_WEIRD_SERVER_REPLY */
    case AH_CLIENT_PHASE_REDIRECT: return e->code == AH_EREDIRECTS ? 47 : 1;
    case AH_CLIENT_PHASE_BODY:
        if (e->code == AH_EPROTO_HTTP && strstr(e->message, "compressed"))
            return 61;
        return 56;
    default: return 56;
    }
}

static void report(app *a, xfer *x)
{
    if (x->t->exit_code && (!a->o->silent || a->o->show_error))
        fprintf(stderr, "ahttp-fetch: (%d) %s\n", x->t->exit_code, x->errmsg);
}

/* ---- one transfer ---- */

static int write_head(app *a, worker_ctx *w, xfer *x, ah_client_response *r)
{
    char line[8192];
    int n = snprintf(line, sizeof(line), "HTTP/%d.%d %d %s\r\n", ah_client_response_version(r) / 10,
                     ah_client_response_version(r) % 10, ah_client_response_status(r),
                     ah_client_response_reason(r));
    int rc = out_write(a, w, x, line, (size_t)n);
    for (size_t i = 0; rc == 0 && i < ah_client_response_header_count(r); i++) {
        const char *name, *value;
        if (ah_client_response_header_at(r, i, &name, &value) < 0)
            break;
        n = snprintf(line, sizeof(line), "%s: %s\r\n", name, value);
        if (n >= (int)sizeof(line))
            n = (int)sizeof(line) - 1;
        rc = out_write(a, w, x, line, (size_t)n);
    }
    return rc == 0 ? out_write(a, w, x, "\r\n", 2) : rc;
}

static void fail_write(xfer *x, int rc)
{
    x->t->exit_code = 23;
    snprintf(x->errmsg, sizeof(x->errmsg), "failure writing output to %s: %s",
             x->t->out_path ? x->t->out_path : "stdout", ah_strerror(rc));
}

static void fail_memory(xfer *x)
{
    x->t->exit_code = 27;
    snprintf(x->errmsg, sizeof(x->errmsg), "out of memory");
}

/* The body, read straight into the worker's output buffer. */
static void read_body(app *a, worker_ctx *w, xfer *x, ah_client_response *r)
{
    int n, rc;
    /* the meter's 100 %: the length on the wire, unless the body is decoded as it comes */
    int decoded = a->o->compressed && ah_client_response_header(r, "Content-Encoding");
    x->expected = decoded ? -1 : ah_client_response_content_length(r);
    for (;;) {
        if (ensure_job(w) < 0) {
            fail_memory(x);
            return;
        }
        if (w->job->cap - w->job->len < READ_MIN) {
            if ((rc = out_flush(w, x)) < 0) {
                fail_write(x, rc);
                return;
            }
            continue; /* the pool may have kept the buffer */
        }
        write_job *j = w->job;
        n = ah_client_response_read(r, j->data + j->len, j->cap - j->len);
        if (n <= 0)
            break;
        if (parallel_stdout(a, x)) {
            rc = out_write(a, w, x, j->data + j->len, (size_t)n);
        } else {
            j->len += (size_t)n;
            rc = x->tty ? out_flush(w, x) : 0;
        }
        if (rc < 0) {
            fail_write(x, rc);
            return;
        }
        progress_add(&a->meter, x, (size_t)n);
    }
    if (n < 0) {
        const ah_client_error *e = ah_client_response_error(r);
        x->t->exit_code = exit_code_of(e);
        snprintf(x->errmsg, sizeof(x->errmsg), "%s", e->message);
    } else if (!x->t->exit_code && x->t->out_path && !a->o->head) {
        x->make_file = 1; /* an empty body still makes the file */
    }
}

static void run_transfer(app *a, worker_ctx *w, xfer *x)
{
    options *o = a->o;
    transfer *t = x->t;
    double start = now_s();
    ah_client_error err;
    ah_client_request req = {
        .method = o->method,
        .url = t->url,
        .headers = o->headers,
        .nheaders = o->nheaders,
        .body = o->body,
        .body_len = o->body_len,
        .error = &err,
        .body_file = o->upload_file,
    };
    ah_client_response *r = NULL;
    int rc = ah_client_fetch(a->client, &req, &r);
    if (rc < 0) {
        t->exit_code = exit_code_of(&err);
        snprintf(x->errmsg, sizeof(x->errmsg), "%s", err.message);
        x->time_total = now_s() - start;
        return;
    }
    x->status = ah_client_response_status(r);
    x->redirects = (int)ah_client_response_history_count(r);
    if (o->write_out) { /* only -w needs these (the URL may be formatted on demand) */
        const char *u = ah_client_response_url(r);
        const char *ct = ah_client_response_header(r, "Content-Type");
        x->url_effective = strdup(u ? u : t->url);
        x->content_type = strdup(ct ? ct : "");
    }
    if (o->follow && o->max_redirs == 0 && ah_client_response_header(r, "Location") &&
        (x->status == 301 || x->status == 302 || x->status == 303 || x->status == 307 ||
         x->status == 308)) {
        /* as curl: -L with --max-redirs 0 meets a redirect it may not follow */
        t->exit_code = 47;
        snprintf(x->errmsg, sizeof(x->errmsg), "Maximum (0) redirects followed");
        ah_client_response_free(r);
        x->time_total = now_s() - start;
        return;
    }
    if (o->fail && x->status >= 400) {
        t->exit_code = 22;
        snprintf(x->errmsg, sizeof(x->errmsg), "The requested URL returned error: %d", x->status);
        ah_client_response_free(r);
        x->time_total = now_s() - start;
        return;
    }
    if ((o->include || o->head) && (rc = write_head(a, w, x, r)) < 0) {
        fail_write(x, rc);
        ah_client_response_free(r);
        return;
    }
    read_body(a, w, x, r);
    /* as curl's size_download: the body as received, before --compressed decoding (and
     * before ah_client_response_free drains what was left unread) */
    x->size_download = ah_client_response_bytes_received(r);
    ah_client_response_free(r);
    x->time_total = now_s() - start;
}

/* %{variable} and \-escapes of -w, written after the transfer's own output. */
static int write_out(app *a, worker_ctx *w, xfer *x)
{
    transfer *t = x->t;
    const char *f = a->o->write_out;
    char out[8192];
    size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int k = snprintf(out + n, sizeof(out) - n, __VA_ARGS__);                                   \
        if (k > 0)                                                                                 \
            n = n + (size_t)k < sizeof(out) ? n + (size_t)k : sizeof(out) - 1;                     \
    } while (0)
    while (*f && n < sizeof(out) - 1) {
        if (f[0] == '%' && f[1] == '{') {
            const char *end = strchr(f + 2, '}');
            if (end) {
                size_t len = (size_t)(end - f - 2);
                const char *v = f + 2;
#define IS(name) (len == strlen(name) && strncmp(v, name, len) == 0)
                if (IS("http_code") || IS("response_code"))
                    PUT("%03d", x->status);
                else if (IS("time_total"))
                    PUT("%.6f", x->time_total);
                else if (IS("size_download"))
                    PUT("%llu", (unsigned long long)x->size_download);
                else if (IS("url_effective"))
                    PUT("%s", x->url_effective && x->url_effective[0] ? x->url_effective : t->url);
                else if (IS("num_redirects"))
                    PUT("%d", x->redirects);
                else if (IS("content_type"))
                    PUT("%s", x->content_type ? x->content_type : "");
                else if (IS("exitcode"))
                    PUT("%d", t->exit_code);
                else if (IS("errormsg"))
                    PUT("%s", t->exit_code ? x->errmsg : "");
                else
                    PUT("%.*s", (int)(len + 3), f);
#undef IS
                f = end + 1;
                continue;
            }
        }
        if (f[0] == '%' && f[1] == '%') {
            PUT("%%");
            f += 2;
            continue;
        }
        if (f[0] == '\\' && f[1]) {
            char c = f[1] == 'n' ? '\n' : f[1] == 't' ? '\t' : f[1] == 'r' ? '\r' : f[1];
            PUT("%c", c);
            f += 2;
            continue;
        }
        out[n++] = *f++;
        out[n] = '\0';
    }
#undef PUT
    if (!t->out_path)
        return out_write(a, w, x, out, n); /* after the body, in the same buffer */
    transfer st = {.url = t->url};         /* stdout, whatever the transfer's own destination */
    xfer so = {.t = &st, .fd = 1, .mode = stdout_mode};
    return out_write_now(&so, out, n);
}

static void finish(app *a, worker_ctx *w, xfer *x)
{
    transfer *t = x->t;
    progress_end(&a->meter, x); /* before any message: the meter's line ends first */
    int rc = out_flush(w, x);
    if (rc < 0 && !t->exit_code)
        fail_write(x, rc);
    if (rc < 0 && w->job)
        w->job->len = 0;
    report(a, x);
    if (a->o->write_out) {
        (void)write_out(a, w, x);
        if (out_flush(w, x) < 0 && w->job)
            w->job->len = 0;
    }
    rc = out_flush_buffer(x);
    if (rc < 0 && !t->exit_code)
        fail_write(x, rc);
    if (t->out_path && x->fd >= 0 && !x->fd_shared)
        close(x->fd);
    free(x->buffered);
    free(x->url_effective);
    free(x->content_type);
}

static int worker(void *arg)
{
    app *a = arg;
    worker_ctx w = {.dev_fd = -1};
    while (a->next < a->ntransfers) {
        transfer *t = &a->transfers[a->next++];
        xfer x = {.t = t, .fd = -1, .expected = -1};
        if (!t->out_path) {
            x.fd = 1;
            x.mode = stdout_mode;
            x.tty = stdout_tty;
        }
        run_transfer(a, &w, &x);
        finish(a, &w, &x);
    }
    free(w.job);
    if (w.dev_fd >= 0)
        close(w.dev_fd);
    return 0;
}

int amain(void *arg)
{
    app *a = arg;
    options *o = a->o;
    ah_client_opts co = {
        .max_redirects = o->follow && o->max_redirs > 0 ? o->max_redirs : -1,
        .timeout_ms = o->max_time_ms > 0 ? o->max_time_ms : -1,
        .connect_timeout_ms = o->connect_timeout_ms,
        .dns_timeout_ms = o->connect_timeout_ms,
        .tls_timeout_ms = o->connect_timeout_ms,
        .decompress = o->compressed ? 1 : -1,
        .max_decompressed = SIZE_MAX,
        .ca_file = o->cacert,
        .cert_file = o->cert,
        .key_file = o->key ? o->key : o->cert,
        .insecure = o->insecure,
        .user_agent = "ahttp-fetch/" PACKAGE_VERSION,
        .trace = o->verbose ? trace : NULL,
        .cookie_jar = o->jar,
        .proxy = o->proxy,
        .no_proxy = o->no_proxy,
        .use_env_proxy = 1,
    };
    if (o->parallel) {
        co.max_per_host = (size_t)o->parallel_max;
        co.max_connections = (size_t)(o->parallel_max > 100 ? o->parallel_max : 100);
    }
    a->client = ah_client_new(&co);
    stdout_lock = ah_mutex_new();
    if (!a->client || !stdout_lock) {
        ah_client_close(a->client);
        ah_mutex_free(stdout_lock);
        return AH_ENOMEM;
    }
    int rc = 0;
    if (o->parallel) {
        ah_group *g = ah_group_new();
        if (!g) {
            rc = AH_ENOMEM;
        } else {
            size_t nworkers =
                a->ntransfers < (size_t)o->parallel_max ? a->ntransfers : (size_t)o->parallel_max;
            for (size_t i = 0; rc == 0 && i < nworkers; i++)
                rc = ah_group_spawn(g, worker, a);
            int wrc = ah_group_wait(g);
            ah_group_free(g);
            if (rc == 0)
                rc = wrc;
        }
    } else {
        rc = worker(a);
    }
    ah_client_close(a->client);
    ah_mutex_free(stdout_lock);
    stdout_lock = NULL;
    return rc;
}
