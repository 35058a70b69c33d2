/* ahttp-fetch's internals shared by main.c (the command line: curl's flags, usage, checking the
 * URLs, cookie files; main), transfer.c (the transfers: workers, -Z, exit codes, -v, -w) and
 * output.c (where the bodies go: the worker's output buffer, -o/-O files, stdout, -Z's
 * per-transfer buffering). Not part of the library. */
#ifndef AH_FETCH_H
#define AH_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include <ahttp/ahttp.h>

#define MAX_HEADERS 64
#define MAX_COOKIE_FILES 16

typedef struct options {
    const char *method;
    ah_client_header headers[MAX_HEADERS];
    size_t nheaders;
    char *body; /* -d / --data-binary, malloc'd */
    size_t body_len;
    int form;                /* the body came from -d */
    const char *upload_file; /* -T: the body from this file (PUT unless -X) */
    int include, head, follow, insecure, compressed, fail, silent, show_error, verbose;
    int max_redirs;
    const char *cacert;
    const char *cert, *key; /* --cert, --key: a client certificate (PEM) */
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

/* The progress meter (progress.c). */
typedef struct progress {
    int on; /* stderr is a terminal, and neither -s nor -v */
    size_t transfers, finished;
    uint64_t bytes;     /* body bytes of every transfer so far */
    double start, last; /* when it started, when it was last drawn */
    int drawn;          /* the length of the line on the terminal now */
} progress;

typedef struct app {
    options *o;
    ah_client *client;
    transfer *transfers;
    size_t ntransfers;
    size_t next; /* -Z: the next transfer to start */
    progress meter;
} app;

/* ---- output (output.c) ---- */

typedef enum out_mode {
    OUT_UNKNOWN,  /* not opened yet: opened (and then classified) on the thread pool */
    OUT_POOL,     /* regular files and whatever else may block: on the thread pool */
    OUT_DIRECT,   /* character devices (/dev/null, terminals): write(2) from the loop */
    OUT_NONBLOCK, /* pipes and sockets in non-blocking mode: write(2), ah_wait_fd on EAGAIN */
} out_mode;

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
    uint64_t received; /* body bytes so far, for the meter */
    int64_t expected;  /* the body's length if known (else -1), for the meter */
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

/* How stdout is written, and whether it is a terminal: set by main before the loop starts. */
extern out_mode stdout_mode;
extern int stdout_tty;
/* Transfers running at once write to stdout one at a time, each piece whole (made by amain). */
extern ah_mutex *stdout_lock;

/* How to write to fd. own: the open file description is ours alone, so it may be switched to
 * non-blocking mode (stdout's is shared with the shell and whoever else holds it). */
out_mode classify_fd(int fd, int own);
/* Give the worker an output buffer if the pool kept the last one (or it has none yet). */
int ensure_job(worker_ctx *w);
/* Write what the worker's buffer holds for x (and make x's file if it is still to be made). */
int out_flush(worker_ctx *w, xfer *x);
/* Write len bytes to x's destination now (not through the worker's buffer). */
int out_write_now(xfer *x, const void *data, size_t len);
/* -Z to stdout: one transfer's output stays in one piece while others run. */
int parallel_stdout(const app *a, const xfer *x);
/* Write what -Z to stdout kept for x in one piece. */
int out_flush_buffer(xfer *x);
/* Add len bytes to x's output: the worker's buffer, or x's own with -Z to stdout. */
int out_write(app *a, worker_ctx *w, xfer *x, const void *data, size_t len);

/* ---- the progress meter (progress.c) ---- */

void progress_init(progress *p, int on, size_t transfers);
/* n more body bytes of x arrived (redraws at most every 200 ms; nothing for a terminal's body) */
void progress_add(progress *p, xfer *x, size_t n);
/* x is over: the last line of a single transfer, or of all with -Z, ends with a newline */
void progress_end(progress *p, const xfer *x);

/* ---- transfers (transfer.c) ---- */

/* The ah_run entry: makes the client and runs the transfers of a, one after the other or with
 * -Z on up to --parallel-max workers. Each transfer's exit code is left in its transfer. */
int amain(void *arg);

#endif
