/* ahttp-fetch: a curl-like fetcher on the ahttp client. Many URLs are fetched one after the
 * other over kept-alive connections, or concurrently with -Z over the shared pool.
 *
 *   ahttp-fetch [options] URL...
 *
 * Flags and exit codes follow curl's: 0 ok, 1 unsupported scheme, 2 bad usage, 3 malformed URL,
 * 5 proxy not resolved or malformed, 6 DNS, 7 connect, 18 partial body (truncated), 22 HTTP
 * error with -f, 23 write error, 26 read error (-d @file), 28 timeout, 35 TLS, 47 too many
 * redirects, 52 empty reply, 55 send error, 56 receive error (a proxy refusing CONNECT too),
 * 60 certificate, 61 bad content encoding, 77 CA file.
 *
 * Cookie files (-b, -c) are read before the loop starts and written after it ends, so their
 * blocking I/O never stalls a transfer. Like curl, the proxy environment variables (http_proxy,
 * https_proxy, all_proxy, no_proxy and their upper-case forms) are honoured unless -x or
 * --noproxy say otherwise. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ahttp/ahttp.h>

static const char usage[] =
    "usage: ahttp-fetch [options] URL...\n"
    "  -X, --request METHOD       request method (default GET; POST with -d)\n"
    "  -H, --header 'Name: value' extra request header (repeatable)\n"
    "  -d, --data DATA            request body (@FILE: from a file, CR/LF removed; repeated -d\n"
    "                             are joined with '&'); sends a form Content-Type\n"
    "      --data-binary DATA     request body as is (@FILE: from a file)\n"
    "  -o, --output FILE          write the body to FILE (one -o per URL, in order)\n"
    "  -O, --remote-name          write the body to a file named like the URL's last segment\n"
    "  -i, --include              write the response head before the body\n"
    "  -I, --head                 HEAD request; write the response head\n"
    "  -L, --location             follow redirects\n"
    "      --max-redirs N         at most N redirects with -L (default 50)\n"
    "  -k, --insecure             do not verify the server's certificate\n"
    "      --cacert FILE          trust the CAs in FILE (PEM) as well\n"
    "      --compressed           ask for gzip/deflate and decode it\n"
    "  -m, --max-time SECONDS     limit each transfer to SECONDS in all\n"
    "      --connect-timeout SECONDS  limit DNS + connect + TLS handshake\n"
    "  -f, --fail                 exit 22 on an HTTP status >= 400 (and write no body)\n"
    "  -s, --silent               no error messages\n"
    "  -S, --show-error           error messages even with -s\n"
    "  -v, --verbose              request and response heads (and more) on stderr\n"
    "  -w, --write-out FORMAT     after each transfer write FORMAT: %{http_code},\n"
    "                             %{time_total}, %{size_download}, %{url_effective},\n"
    "                             %{num_redirects}, %{content_type}, %{exitcode},\n"
    "                             %{errormsg}; \\n \\t \\\\ escapes\n"
    "  -b, --cookie DATA|FILE     send cookies: \"name=value; n2=v2\" as given, or those of a\n"
    "                             Netscape cookie file (curl's); with a FILE (\"\" for none)\n"
    "                             cookies from responses are kept for the next requests\n"
    "  -c, --cookie-jar FILE      write every cookie to FILE at the end (\"-\": stdout)\n"
    "  -x, --proxy [http://][user:password@]host[:port]\n"
    "                             use this HTTP proxy (port 1080 if none); \"\" for none\n"
    "      --noproxy LIST         hosts reached directly: names (with their subdomains),\n"
    "                             addresses, CIDR blocks, comma-separated; \"*\" for all\n"
    "                             (http_proxy, https_proxy, all_proxy and no_proxy from the\n"
    "                             environment are used as curl uses them)\n"
    "  -Z, --parallel             fetch the URLs concurrently\n"
    "      --parallel-max N       at most N at a time with -Z (default 50)\n"
    "  -h, --help                 this text\n";

#define MAX_HEADERS 64
#define MAX_COOKIE_FILES 16
#define PARALLEL_BUFFER_MAX (8 * 1024 * 1024)

typedef struct options {
    const char *method;
    ah_client_header headers[MAX_HEADERS];
    size_t nheaders;
    char *body; /* -d / --data-binary, malloc'd */
    size_t body_len;
    int form; /* the body came from -d */
    int include, head, follow, insecure, compressed, fail, silent, show_error, verbose;
    int max_redirs;
    const char *cacert;
    int64_t max_time_ms, connect_timeout_ms;
    const char *write_out;
    int parallel, parallel_max;
    int remote_name;
    const char **outputs; /* -o FILE in order */
    size_t noutputs;
    const char *cookie_files[MAX_COOKIE_FILES]; /* -b FILE ("": the jar alone) */
    size_t ncookie_files;
    const char *cookie_jar; /* -c FILE */
    ah_cookie_jar *jar;     /* with -b FILE or -c */
    char *cookie_data;      /* -b NAME=VALUE..., joined with "; " (malloc'd) */
    const char *proxy;      /* -x */
    const char *no_proxy;   /* --noproxy */
} options;

typedef struct transfer {
    const char *url;
    const char *out_path; /* NULL: stdout */
    char *remote_name;    /* -O: the file name (malloc'd) */
    int exit_code;
} transfer;

typedef struct app {
    options *o;
    ah_client *client;
    transfer *transfers;
    size_t ntransfers;
    size_t next; /* -Z: the next transfer to start */
} app;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- output ----
 * Output is collected per transfer in its worker's 64 KiB buffer (the body is read straight into
 * it) and written when the buffer is full and when the transfer ends: 13 bytes to /dev/null cost
 * one write(2), not a thread-pool round trip. How a destination is written depends on what it
 * is (fstat): a regular file may block on the disk, so it is written on the thread pool, a whole
 * buffer at a time; /dev/null and terminals are written from the loop; pipes and sockets are made
 * non-blocking and written from the loop, waiting for room with ah_wait_fd. */

typedef enum out_mode {
    OUT_UNKNOWN,  /* not opened yet: opened (and then classified) on the thread pool */
    OUT_POOL,     /* regular files and whatever else may block: on the thread pool */
    OUT_DIRECT,   /* character devices (/dev/null, terminals): write(2) from the loop */
    OUT_NONBLOCK, /* pipes and sockets in non-blocking mode: write(2), ah_wait_fd on EAGAIN */
} out_mode;

#define OUT_BUF (64 * 1024)
/* A body read gets at least this much room in the output buffer (a TLS record's worth). */
#define READ_MIN (16 * 1024)

typedef struct write_job {
    const char *path; /* open it first if fd < 0 */
    int fd;
    out_mode mode; /* set when the job opens the file */
    size_t len, cap;
    char data[];
} write_job;

/* One transfer while it runs (on its worker's stack; only exit_code outlives it). */
typedef struct xfer {
    transfer *t;
    int fd; /* the destination: 1, or the -o file once opened (-1 before) */
    out_mode mode;
    int tty;        /* a terminal: written after every read */
    int make_file;  /* create the -o file even if nothing is written to it */
    int fd_shared;  /* fd is the worker's open device (not closed with the transfer) */
    char *buffered; /* -Z to stdout: the whole output, written at the end */
    size_t buffered_len, buffered_cap;
    int status;
    double time_total;
    uint64_t size_download;
    int redirects;
    char *url_effective; /* with -w (malloc'd) */
    char *content_type;  /* with -w (malloc'd) */
    char errmsg[300];
} xfer;

/* What a worker task keeps from one transfer to the next. */
typedef struct worker_ctx {
    write_job *job; /* the output buffer; NULL after the pool kept an abandoned job */
    /* The last character device a -o named, kept open: `-o /dev/null URL` repeated 20,000 times
     * then costs no stat, open and close per transfer. */
    const char *dev_path;
    int dev_fd; /* -1: none */
    out_mode dev_mode;
    int dev_tty;
} worker_ctx;

static out_mode stdout_mode = OUT_POOL;
static int stdout_tty;

/* How to write to fd. own: the open file description is ours alone, so it may be switched to
 * non-blocking mode (stdout's is shared with the shell and whoever else holds it). */
static out_mode classify_fd(int fd, int own)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return OUT_POOL;
    if (S_ISCHR(st.st_mode))
        return OUT_DIRECT;
    if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
        return OUT_POOL;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return OUT_POOL;
    if (flags & O_NONBLOCK)
        return OUT_NONBLOCK;
    if (!own)
        return OUT_POOL;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 ? OUT_NONBLOCK : OUT_POOL;
}

static int write_job_run(void *arg)
{
    write_job *j = arg;
    if (j->fd < 0) {
        j->fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
        if (j->fd < 0)
            return -errno;
        j->mode = classify_fd(j->fd, 1);
    }
    size_t done = 0;
    while (done < j->len) {
        ssize_t n = write(j->fd, j->data + done, j->len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) { /* a FIFO just made non-blocking: the loop waits for it */
                j->len -= done;
                memmove(j->data, j->data + done, j->len);
                return AH_EAGAIN;
            }
            return -errno;
        }
        done += (size_t)n;
    }
    j->len = 0;
    return 0;
}

/* write(2) from the loop, waiting for room on a non-blocking fd. */
static int direct_write(int fd, out_mode mode, const char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n >= 0) {
            done += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN && mode == OUT_NONBLOCK) {
            int rc = ah_wait_fd(fd, AH_WRITE, -1);
            if (rc < 0)
                return rc;
            continue;
        }
        return -errno;
    }
    return 0;
}

/* Transfers running at once write to stdout one at a time, each piece whole. */
static ah_mutex *stdout_lock;

/* A -o path that names a character device (/dev/null, a terminal) is opened from the loop: that
 * cannot block on a disk. Anything else is left to the thread pool (creating and truncating a
 * file can). The worker w (if not NULL) keeps the device open for its next transfers. */
static int open_direct(worker_ctx *w, xfer *x)
{
    const char *path = x->t->out_path;
    if (w && w->dev_fd >= 0 && strcmp(w->dev_path, path) == 0) {
        x->fd = w->dev_fd;
        x->mode = w->dev_mode;
        x->tty = w->dev_tty;
        x->fd_shared = 1;
        return 0;
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISCHR(st.st_mode))
        return 0;
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    x->fd = fd;
    x->mode = classify_fd(fd, 1);
    x->tty = isatty(fd);
    if (w) {
        if (w->dev_fd >= 0)
            close(w->dev_fd);
        w->dev_path = path;
        w->dev_fd = fd;
        w->dev_mode = x->mode;
        w->dev_tty = x->tty;
        x->fd_shared = 1;
    }
    return 0;
}

/* Write j's bytes to x's destination (opening it if need be). *abandoned: the pool kept j. */
static int job_write(worker_ctx *w, xfer *x, write_job *j, int *abandoned)
{
    *abandoned = 0;
    int rc = 0;
    if (x->fd < 0 && x->t->out_path && (rc = open_direct(w, x)) < 0)
        return rc;
    int locked = x->fd == 1 && stdout_lock;
    if (locked && (rc = ah_mutex_lock(stdout_lock, -1)) < 0)
        return rc;
    for (;;) {
        if (x->fd >= 0 && x->mode != OUT_POOL && x->mode != OUT_UNKNOWN) {
            rc = direct_write(x->fd, x->mode, j->data, j->len);
            j->len = 0;
            break;
        }
        j->path = x->t->out_path;
        j->fd = x->fd;
        j->mode = x->mode;
        rc = ah_to_thread_ex(write_job_run, j, free);
        if (rc == AH_ECANCELED || rc == AH_ETIMEDOUT) {
            *abandoned = 1; /* the pool frees j */
            break;
        }
        if (x->fd < 0 && j->fd >= 0) {
            x->fd = j->fd;
            x->mode = j->mode;
        }
        if (rc != AH_EAGAIN)
            break; /* else the rest goes out from the loop, now that the mode is known */
    }
    if (locked)
        ah_mutex_unlock(stdout_lock);
    return rc;
}

/* Write len bytes to x's destination now (not through the worker's buffer). */
static int out_write_now(xfer *x, const void *data, size_t len)
{
    if (x->fd >= 0 && (x->mode == OUT_DIRECT || x->mode == OUT_NONBLOCK)) {
        int locked = x->fd == 1 && stdout_lock;
        if (locked) {
            int rc = ah_mutex_lock(stdout_lock, -1);
            if (rc < 0)
                return rc;
        }
        int rc = direct_write(x->fd, x->mode, data, len);
        if (locked)
            ah_mutex_unlock(stdout_lock);
        return rc;
    }
    write_job *j = malloc(sizeof(*j) + len);
    if (!j)
        return AH_ENOMEM;
    j->len = len;
    j->cap = len;
    memcpy(j->data, data, len);
    int abandoned;
    int rc = job_write(NULL, x, j, &abandoned);
    if (!abandoned)
        free(j);
    return rc;
}

static int ensure_job(worker_ctx *w)
{
    if (w->job)
        return 0;
    if (!(w->job = malloc(sizeof(*w->job) + OUT_BUF)))
        return AH_ENOMEM;
    w->job->len = 0;
    w->job->cap = OUT_BUF;
    return 0;
}

/* Write what the worker's buffer holds for x (and make x's file if it is still to be made). */
static int out_flush(worker_ctx *w, xfer *x)
{
    write_job *j = w->job;
    if (!j || (!j->len && !(x->fd < 0 && x->make_file)))
        return 0;
    int abandoned;
    int rc = job_write(w, x, j, &abandoned);
    if (abandoned)
        w->job = NULL;
    else
        j->len = 0;
    return rc;
}

/* -Z to stdout: one transfer's output stays in one piece while others run. */
static int parallel_stdout(const app *a, const xfer *x)
{
    return !x->t->out_path && a->o->parallel && a->ntransfers > 1;
}

static int out_flush_buffer(xfer *x)
{
    if (!x->buffered_len)
        return 0;
    int rc = out_write_now(x, x->buffered, x->buffered_len);
    x->buffered_len = 0;
    return rc;
}

static int out_write(app *a, worker_ctx *w, xfer *x, const void *data, size_t len)
{
    if (parallel_stdout(a, x)) {
        if (x->buffered_len + len > x->buffered_cap) {
            if (x->buffered_len + len > PARALLEL_BUFFER_MAX) {
                int rc = out_flush_buffer(x);
                if (rc < 0)
                    return rc;
                if (len > PARALLEL_BUFFER_MAX)
                    return out_write_now(x, data, len);
            }
            size_t cap = x->buffered_cap ? x->buffered_cap : 64 * 1024;
            while (cap < x->buffered_len + len)
                cap *= 2;
            char *p = realloc(x->buffered, cap);
            if (!p)
                return AH_ENOMEM;
            x->buffered = p;
            x->buffered_cap = cap;
        }
        memcpy(x->buffered + x->buffered_len, data, len);
        x->buffered_len += len;
        return 0;
    }
    const char *p = data;
    while (len) {
        int rc = ensure_job(w);
        if (rc < 0)
            return rc;
        size_t room = w->job->cap - w->job->len;
        if (room == 0) {
            if ((rc = out_flush(w, x)) < 0)
                return rc;
            continue;
        }
        size_t n = len < room ? len : room;
        memcpy(w->job->data + w->job->len, p, n);
        w->job->len += n;
        p += n;
        len -= n;
    }
    return 0;
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
    x->redirects = ah_client_response_redirects(r);
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
        xfer x = {.t = t, .fd = -1};
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

static int amain(void *arg)
{
    app *a = arg;
    options *o = a->o;
    ah_client_opts co = {
        .max_redirects = o->follow && o->max_redirs > 0 ? o->max_redirs : -1,
        .timeout_ms = o->max_time_ms > 0 ? o->max_time_ms : -1,
        .connect_timeout_ms = o->connect_timeout_ms,
        .dns_timeout_ms = o->connect_timeout_ms,
        .tls_timeout_ms = o->connect_timeout_ms,
        .no_decompress = !o->compressed,
        .max_decompressed = SIZE_MAX,
        .ca_file = o->cacert,
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

/* ---- command line ---- */

static int bad_usage(const char *fmt, const char *what)
{
    fprintf(stderr, "ahttp-fetch: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nahttp-fetch: try 'ahttp-fetch --help'\n");
    return 2;
}

/* Seconds (fractions allowed) to milliseconds; -1 when malformed. */
static int64_t parse_seconds(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || v < 0 || v > 1e9)
        return -1;
    int64_t ms = (int64_t)(v * 1000.0 + 0.5);
    return ms > 0 ? ms : 1;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* Read a whole file ("-": stdin) before the loop starts. */
static int slurp(const char *path, char **data, size_t *len)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            if (fd)
                close(fd);
            return -ENOMEM;
        }
        if (used == cap) {
            char *nbuf = realloc(buf, cap * 2);
            if (!nbuf) {
                free(buf);
                buf = NULL;
                continue;
            }
            buf = nbuf;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? -errno : 0;
            if (fd)
                close(fd);
            if (err) {
                free(buf);
                return err;
            }
            break;
        }
        used += (size_t)n;
    }
    *data = buf;
    *len = used;
    return 0;
}

/* Add -d / --data-binary data to the body. */
static int add_data(options *o, const char *arg, int binary)
{
    char *piece = NULL;
    size_t len = 0;
    if (arg[0] == '@') {
        int rc = slurp(arg + 1, &piece, &len);
        if (rc < 0) {
            fprintf(stderr, "ahttp-fetch: (26) cannot read %s: %s\n", arg + 1, strerror(-rc));
            return 26;
        }
        if (!binary) { /* like curl -d: line breaks are dropped */
            size_t k = 0;
            for (size_t i = 0; i < len; i++)
                if (piece[i] != '\r' && piece[i] != '\n')
                    piece[k++] = piece[i];
            len = k;
        }
    } else {
        len = strlen(arg);
        piece = malloc(len + 1);
        if (!piece)
            return 27;
        memcpy(piece, arg, len);
    }
    size_t sep = o->body && !binary ? 1 : 0;
    char *body = realloc(o->body, o->body_len + sep + len + 1);
    if (!body) {
        free(piece);
        return 27;
    }
    if (sep)
        body[o->body_len] = '&';
    memcpy(body + o->body_len + sep, piece, len);
    o->body = body;
    o->body_len += sep + len;
    o->body[o->body_len] = '\0';
    free(piece);
    if (!binary)
        o->form = 1;
    return 0;
}

static int add_header(options *o, char *arg)
{
    char *colon = strchr(arg, ':');
    if (!colon || colon == arg)
        return -1;
    if (o->nheaders == MAX_HEADERS)
        return -2;
    *colon = '\0';
    char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    o->headers[o->nheaders++] = (ah_client_header){arg, value};
    return 0;
}

/* -b "name=value; ...": sent as is (several are joined into one Cookie line). */
static int add_cookie_data(options *o, const char *data)
{
    size_t old = o->cookie_data ? strlen(o->cookie_data) : 0, len = strlen(data);
    char *p = realloc(o->cookie_data, old + 2 + len + 1);
    if (!p)
        return 27;
    if (old)
        memcpy(p + old, "; ", 2);
    memcpy(p + (old ? old + 2 : 0), data, len + 1);
    o->cookie_data = p;
    return 0;
}

/* The jar of -b FILE / -c, with the -b files read into it (before the loop: blocking is fine).
 * A file that does not exist is no error, as with curl (-c names one to be made). NULL: out of
 * memory. */
static ah_cookie_jar *load_cookies(const options *o)
{
    ah_cookie_jar *jar = ah_cookie_jar_new();
    for (size_t i = 0; jar && i < o->ncookie_files; i++) {
        if (!o->cookie_files[i][0])
            continue; /* -b "": the jar alone */
        int n = ah_cookie_jar_load(jar, o->cookie_files[i]);
        if (n == AH_ENOMEM) {
            ah_cookie_jar_free(jar);
            return NULL;
        }
        if (n >= 0 && o->verbose)
            fprintf(stderr, "* %d cookies read from %s\n", n, o->cookie_files[i]);
        else if (n < 0 && (n != -ENOENT || o->verbose) && (!o->silent || o->show_error))
            fprintf(stderr, "ahttp-fetch: cannot read cookies from %s: %s\n", o->cookie_files[i],
                    ah_strerror(n));
    }
    return jar;
}

/* -c FILE after the loop: a failure is reported but, as with curl, does not change the exit
 * code (the transfers themselves went as they went). */
static void save_cookies(const options *o)
{
    int n = ah_cookie_jar_save(o->jar, o->cookie_jar);
    if (n < 0 && (!o->silent || o->show_error))
        fprintf(stderr, "ahttp-fetch: failed to save cookies in %s: %s\n", o->cookie_jar,
                ah_strerror(n));
    else if (n >= 0 && o->verbose)
        fprintf(stderr, "* %d cookies written to %s\n", n, o->cookie_jar);
}

static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The last path segment of u for -O (malloc'd; "" if it has none), or NULL without memory. */
static char *remote_name_of(const ah_url *u)
{
    const char *slash = strrchr(u->path, '/');
    return strdup(slash ? slash + 1 : u->path);
}

int main(int argc, char **argv)
{
    options o = {.parallel_max = 50, .max_redirs = -2};
    enum {
        O_DATA_BINARY = 256,
        O_MAX_REDIRS,
        O_CACERT,
        O_COMPRESSED,
        O_CONNECT_TIMEOUT,
        O_PARALLEL_MAX,
        O_NOPROXY
    };
    static const struct option longopts[] = {
        {"request", required_argument, NULL, 'X'},
        {"header", required_argument, NULL, 'H'},
        {"data", required_argument, NULL, 'd'},
        {"data-binary", required_argument, NULL, O_DATA_BINARY},
        {"output", required_argument, NULL, 'o'},
        {"remote-name", no_argument, NULL, 'O'},
        {"include", no_argument, NULL, 'i'},
        {"head", no_argument, NULL, 'I'},
        {"location", no_argument, NULL, 'L'},
        {"max-redirs", required_argument, NULL, O_MAX_REDIRS},
        {"insecure", no_argument, NULL, 'k'},
        {"cacert", required_argument, NULL, O_CACERT},
        {"compressed", no_argument, NULL, O_COMPRESSED},
        {"max-time", required_argument, NULL, 'm'},
        {"connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT},
        {"fail", no_argument, NULL, 'f'},
        {"silent", no_argument, NULL, 's'},
        {"show-error", no_argument, NULL, 'S'},
        {"verbose", no_argument, NULL, 'v'},
        {"write-out", required_argument, NULL, 'w'},
        {"parallel", no_argument, NULL, 'Z'},
        {"parallel-max", required_argument, NULL, O_PARALLEL_MAX},
        {"cookie", required_argument, NULL, 'b'},
        {"cookie-jar", required_argument, NULL, 'c'},
        {"proxy", required_argument, NULL, 'x'},
        {"noproxy", required_argument, NULL, O_NOPROXY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **outputs = calloc((size_t)argc, sizeof(*outputs));
    const char **urls = calloc((size_t)argc, sizeof(*urls));
    if (!outputs || !urls) {
        free(outputs);
        free(urls);
        return 27;
    }
    o.outputs = outputs;
    size_t nurls = 0;
    int c, rc = 0;
    opterr = 0;
    /* Options may follow URLs, as with curl. getopt's permuting mode would move every URL past
     * the options, which is quadratic (40,000 alternating -o and URL arguments spent more time
     * there than fetching), so getopt runs in order ("+") and each URL it stops at is taken here
     * and skipped: one pass. */
    while (rc == 0) {
        int before = optind;
        c = getopt_long(argc, argv, "+:X:H:d:o:OiILkm:fsSvw:Zb:c:x:h", longopts, NULL);
        if (c == -1) {
            if (optind >= argc)
                break;
            if (optind == before + 1 && strcmp(argv[before], "--") == 0) {
                while (optind < argc) /* after "--" everything is a URL */
                    urls[nurls++] = argv[optind++];
                break;
            }
            urls[nurls++] = argv[optind++];
            continue;
        }
        switch (c) {
        case 'X': o.method = optarg; break;
        case 'H':
            if (add_header(&o, optarg) < 0)
                rc = bad_usage("bad header '%s' (want 'Name: value')", optarg);
            break;
        case 'd': rc = add_data(&o, optarg, 0); break;
        case O_DATA_BINARY: rc = add_data(&o, optarg, 1); break;
        case 'o': outputs[o.noutputs++] = optarg; break;
        case 'O': o.remote_name = 1; break;
        case 'i': o.include = 1; break;
        case 'I': o.head = 1; break;
        case 'L': o.follow = 1; break;
        case O_MAX_REDIRS:
            if (parse_int(optarg, -1, 1000000, &o.max_redirs) < 0)
                rc = bad_usage("bad --max-redirs '%s'", optarg);
            break;
        case 'k': o.insecure = 1; break;
        case O_CACERT: o.cacert = optarg; break;
        case O_COMPRESSED: o.compressed = 1; break;
        case 'm':
            if ((o.max_time_ms = parse_seconds(optarg)) < 0)
                rc = bad_usage("bad --max-time '%s' (seconds)", optarg);
            break;
        case O_CONNECT_TIMEOUT:
            if ((o.connect_timeout_ms = parse_seconds(optarg)) < 0)
                rc = bad_usage("bad --connect-timeout '%s' (seconds)", optarg);
            break;
        case 'f': o.fail = 1; break;
        case 's': o.silent = 1; break;
        case 'S': o.show_error = 1; break;
        case 'v': o.verbose = 1; break;
        case 'w': o.write_out = optarg; break;
        case 'Z': o.parallel = 1; break;
        case O_PARALLEL_MAX:
            if (parse_int(optarg, 1, 10000, &o.parallel_max) < 0)
                rc = bad_usage("bad --parallel-max '%s' (1..10000)", optarg);
            break;
        case 'b':
            if (strchr(optarg, '=')) /* curl: with a '=' it is cookies to send, not a file */
                rc = add_cookie_data(&o, optarg);
            else if (o.ncookie_files == MAX_COOKIE_FILES)
                rc = bad_usage("more than %s cookie files", "16");
            else
                o.cookie_files[o.ncookie_files++] = optarg;
            break;
        case 'c': o.cookie_jar = optarg; break;
        case 'x': o.proxy = optarg; break;
        case O_NOPROXY: o.no_proxy = optarg; break;
        case 'h':
            fputs(usage, stdout);
            free(outputs);
            free(urls);
            free(o.body);
            free(o.cookie_data);
            return 0;
        case ':': rc = bad_usage("option '%s' needs an argument", argv[optind - 1]); break;
        default:
            if (optopt && optopt < 256) {
                char flag[3] = {'-', (char)optopt, '\0'};
                rc = bad_usage("unknown option '%s'", flag);
            } else {
                rc = bad_usage("unknown option '%s'", argv[optind - 1]);
            }
            break;
        }
    }
    if (rc == 0 && nurls == 0)
        rc = bad_usage("%s", "no URL given");
    if (rc == 0 && o.cookie_data) {
        if (o.nheaders == MAX_HEADERS)
            rc = bad_usage("more than %s headers", "64");
        else
            o.headers[o.nheaders++] = (ah_client_header){"Cookie", o.cookie_data};
    }
    if (rc) {
        free(outputs);
        free(urls);
        free(o.body);
        free(o.cookie_data);
        return rc;
    }
    if (o.max_redirs == -2)
        o.max_redirs = 50;
    else if (o.max_redirs == -1)
        o.max_redirs = 1000000; /* curl: -1 means no limit */
    if (!o.method)
        o.method = o.head ? "HEAD" : o.body ? "POST" : "GET";
    if (o.form) {
        int has_type = 0;
        for (size_t i = 0; i < o.nheaders; i++)
            has_type |= strcasecmp(o.headers[i].name, "Content-Type") == 0;
        if (!has_type && o.nheaders < MAX_HEADERS)
            o.headers[o.nheaders++] =
                (ah_client_header){"Content-Type", "application/x-www-form-urlencoded"};
    }

    size_t n = nurls;
    transfer *ts = calloc(n, sizeof(*ts));
    if (!ts) {
        free(outputs);
        free(urls);
        free(o.body);
        free(o.cookie_data);
        return 27;
    }
    /* Every URL is checked before anything is fetched. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        transfer *t = &ts[i];
        t->url = urls[i];
        ah_url u;
        if (ah_url_parse(t->url, &u) < 0 || !u.host || !u.host[0]) {
            if (!o.silent || o.show_error)
                fprintf(stderr, "ahttp-fetch: (3) URL malformed: %s\n", t->url);
            rc = 3;
        } else if (!ah_url_is_http(&u)) {
            if (!o.silent || o.show_error)
                fprintf(stderr, "ahttp-fetch: (1) protocol \"%s\" not supported: %s\n", u.scheme,
                        t->url);
            rc = 1;
        } else if (i < o.noutputs && strcmp(outputs[i], "-") != 0) {
            t->out_path = outputs[i];
        } else if (i >= o.noutputs && o.remote_name) {
            if (!(t->remote_name = remote_name_of(&u))) {
                rc = 27;
            } else if (!t->remote_name[0]) {
                if (!o.silent || o.show_error)
                    fprintf(stderr, "ahttp-fetch: (23) remote file name has no length: %s\n",
                            t->url);
                rc = 23;
            }
            t->out_path = t->remote_name;
        }
        ah_url_free(&u);
    }
    if (rc == 0 && (o.ncookie_files || o.cookie_jar) && !(o.jar = load_cookies(&o)))
        rc = 27;
    if (rc == 0) {
        raise_nofile_limit();
        /* stdout is switched to non-blocking mode only if it is a pipe or socket that stderr
         * does not share (messages on stderr must not meet EAGAIN), and switched back at the
         * end: its open file description belongs to the shell too. */
        int stdout_flags = fcntl(1, F_GETFL);
        struct stat st1, st2;
        int shared = fstat(1, &st1) < 0 || fstat(2, &st2) < 0 ||
                     (st1.st_dev == st2.st_dev && st1.st_ino == st2.st_ino);
        stdout_mode = classify_fd(1, !shared);
        stdout_tty = isatty(1);
        app a = {.o = &o, .transfers = ts, .ntransfers = n};
        int run = ah_run(amain, &a);
        if (stdout_flags >= 0 && !(stdout_flags & O_NONBLOCK))
            (void)fcntl(1, F_SETFL, stdout_flags);
        if (run < 0) {
            fprintf(stderr, "ahttp-fetch: %s\n", ah_strerror(run));
            rc = 1;
        }
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = ts[i].exit_code;
        if (o.cookie_jar)
            save_cookies(&o);
    }
    ah_cookie_jar_free(o.jar);
    for (size_t i = 0; i < n; i++)
        free(ts[i].remote_name);
    free(ts);
    free(outputs);
    free(urls);
    free(o.body);
    free(o.cookie_data);
    return rc;
}
