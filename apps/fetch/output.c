/* ahttp-fetch's output.
 * Output is collected per transfer in its worker's 64 KiB buffer (the body is read straight into
 * it) and written when the buffer is full and when the transfer ends: 13 bytes to /dev/null cost
 * one write(2), not a thread-pool round trip. How a destination is written depends on what it
 * is (fstat): a regular file may block on the disk, so it is written on the thread pool, a whole
 * buffer at a time; /dev/null and terminals are written from the loop; pipes and sockets are made
 * non-blocking and written from the loop, waiting for room with ah_wait_fd. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch.h"

#define PARALLEL_BUFFER_MAX (8 * 1024 * 1024)
#define OUT_BUF (64 * 1024)

out_mode stdout_mode = OUT_POOL;
int stdout_tty;

/* How to write to fd. own: the open file description is ours alone, so it may be switched to
 * non-blocking mode (stdout's is shared with the shell and whoever else holds it). */
out_mode classify_fd(int fd, int own)
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
ah_mutex *stdout_lock;

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
int out_write_now(xfer *x, const void *data, size_t len)
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

int ensure_job(worker_ctx *w)
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
int out_flush(worker_ctx *w, xfer *x)
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
int parallel_stdout(const app *a, const xfer *x)
{
    return !x->t->out_path && a->o->parallel && a->ntransfers > 1;
}

int out_flush_buffer(xfer *x)
{
    if (!x->buffered_len)
        return 0;
    int rc = out_write_now(x, x->buffered, x->buffered_len);
    x->buffered_len = 0;
    return rc;
}

int out_write(app *a, worker_ctx *w, xfer *x, const void *data, size_t len)
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
