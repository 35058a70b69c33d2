/* The frontier's spill file: a FIFO of "DEPTH URL\n" records on disk, for the part of the
 * frontier that --frontier-mem keeps out of memory. See crawl.h for the order of the parts. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ahttp/error.h>

#include "crawl.h"

#define SPILL_WRITE_BATCH (64 * 1024)
#define SPILL_READ_CHUNK (64 * 1024)

static size_t batch_of(const crawl_spill *s)
{
    return s->write_batch ? s->write_batch : SPILL_WRITE_BATCH;
}

static int reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *p = realloc(*buf, n);
    if (!p)
        return AH_ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

void crawl_spill_init(crawl_spill *s, const char *dir)
{
    memset(s, 0, sizeof(*s));
    s->dir = dir;
    s->fd = -1;
}

int crawl_spill_push(crawl_spill *s, const char *url, int depth)
{
    /* popping straight from the write buffer leaves a consumed head: drop it before growing */
    if (s->wpos && (s->wpos == s->wlen || s->wpos >= s->wcap / 2)) {
        memmove(s->w, s->w + s->wpos, s->wlen - s->wpos);
        s->wlen -= s->wpos;
        s->wpos = 0;
    }
    char num[16];
    int n = snprintf(num, sizeof(num), "%d ", depth);
    size_t ulen = strlen(url);
    if (reserve(&s->w, &s->wcap, s->wlen + (size_t)n + ulen + 1) < 0)
        return AH_ENOMEM;
    memcpy(s->w + s->wlen, num, (size_t)n);
    memcpy(s->w + s->wlen + n, url, ulen);
    s->wlen += (size_t)n + ulen;
    s->w[s->wlen++] = '\n';
    s->count++;
    return 0;
}

/* Split the record line[0..nl) in place: "DEPTH URL". */
static void record(char *line, char *nl, const char **url, size_t *len, int *depth)
{
    *nl = '\0';
    char *sp = strchr(line, ' ');
    *depth = atoi(line);
    *url = sp ? sp + 1 : nl;
    *len = (size_t)(nl - *url);
}

int crawl_spill_pop(crawl_spill *s, const char **url, size_t *len, int *depth)
{
    if (s->error)
        return s->error;
    if (s->rpos < s->rlen) {
        char *line = s->r + s->rpos;
        char *nl = memchr(line, '\n', s->rlen - s->rpos);
        if (!nl)
            return AH_EAGAIN; /* the rest of this record is still in the file */
        record(line, nl, url, len, depth);
        s->rpos = (size_t)(nl + 1 - s->r);
        s->count--;
        return 1;
    }
    if (s->file_pos < s->file_end || s->busy)
        return AH_EAGAIN; /* the front is on disk, or in a batch being written */
    if (s->wpos < s->wlen) {
        char *line = s->w + s->wpos;
        char *nl = memchr(line, '\n', s->wlen - s->wpos);
        record(line, nl, url, len, depth);
        s->wpos = (size_t)(nl + 1 - s->w);
        s->count--;
        return 1;
    }
    return 0;
}

static int wants_write(const crawl_spill *s, int flush)
{
    size_t held = s->wlen - s->wpos;
    return held && (flush || held >= batch_of(s));
}

static int wants_read(const crawl_spill *s)
{
    return s->file_pos < s->file_end &&
           (s->rpos == s->rlen || !memchr(s->r + s->rpos, '\n', s->rlen - s->rpos));
}

int crawl_spill_wants_io(const crawl_spill *s, int flush)
{
    if (s->busy || s->error)
        return 0;
    return wants_write(s, flush) || wants_read(s);
}

int crawl_spill_take_io(crawl_spill *s, int flush, crawl_spill_io *job)
{
    memset(job, 0, sizeof(*job));
    if (s->busy || s->error)
        return 0;
    job->fd = s->fd;
    job->dir = s->dir;
    if (wants_write(s, flush)) {
        /* the batch leaves with its buffer; pushes start a new one */
        if (s->wpos) {
            memmove(s->w, s->w + s->wpos, s->wlen - s->wpos);
            s->wlen -= s->wpos;
            s->wpos = 0;
        }
        job->write = 1;
        job->offset = s->file_end;
        job->data = s->w;
        job->len = s->wlen;
        for (const char *p = s->w; (p = memchr(p, '\n', (size_t)(s->w + s->wlen - p))); p++)
            job->records++;
        s->w = NULL;
        s->wlen = s->wcap = 0;
    } else if (wants_read(s)) {
        uint64_t left = s->file_end - s->file_pos;
        job->cap = left < SPILL_READ_CHUNK ? (size_t)left : SPILL_READ_CHUNK;
        job->offset = s->file_pos;
        job->data = malloc(job->cap);
        if (!job->data)
            return AH_ENOMEM;
    } else {
        return 0;
    }
    s->busy = 1;
    return 1;
}

/* An unlinked file in dir: O_TMPFILE where the file system has it, else mkstemp + unlink. */
static int make_file(const char *dir)
{
    if (!dir || !*dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
#endif
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/.ahttp-crawl-spill.XXXXXX", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    unlink(path);
    return fd;
}

int crawl_spill_io_run(crawl_spill_io *job)
{
    job->result = 0;
    if (job->fd < 0) {
        int fd = make_file(job->dir);
        if (fd < 0)
            return job->result = fd;
        job->fd = fd;
    }
    size_t done = 0, want = job->write ? job->len : job->cap;
    while (done < want) {
        ssize_t n =
            job->write ? pwrite(job->fd, job->data + done, want - done, (off_t)(job->offset + done))
                       : pread(job->fd, job->data + done, want - done, (off_t)(job->offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return job->result = -errno;
        if (n == 0)
            return job->result = -EIO; /* the file is shorter than what was written to it */
        done += (size_t)n;
    }
    job->len = done;
    return 0;
}

int crawl_spill_io_done(crawl_spill *s, crawl_spill_io *job)
{
    s->busy = 0;
    if (s->fd < 0)
        s->fd = job->fd;
    int rc = job->result;
    if (rc == 0 && job->write) {
        s->file_end += job->len;
        s->written += job->records;
    } else if (rc == 0) {
        if (s->rpos) {
            memmove(s->r, s->r + s->rpos, s->rlen - s->rpos);
            s->rlen -= s->rpos;
            s->rpos = 0;
        }
        rc = reserve(&s->r, &s->rcap, s->rlen + job->len + 1);
        if (rc == 0) {
            memcpy(s->r + s->rlen, job->data, job->len);
            s->rlen += job->len;
            s->file_pos += job->len;
        }
    }
    if (rc < 0 && !s->error)
        s->error = rc;
    crawl_spill_io_free(job);
    return rc;
}

int crawl_spill_io_sync(crawl_spill *s, int flush)
{
    crawl_spill_io job;
    int rc = crawl_spill_take_io(s, flush, &job);
    if (rc <= 0)
        return rc;
    crawl_spill_io_run(&job);
    rc = crawl_spill_io_done(s, &job);
    return rc < 0 ? rc : 1;
}

void crawl_spill_io_free(crawl_spill_io *job)
{
    free(job->data);
    job->data = NULL;
}

void crawl_spill_free(crawl_spill *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->w);
    free(s->r);
    s->w = s->r = NULL;
    s->wpos = s->wlen = s->wcap = s->rpos = s->rlen = s->rcap = 0;
}
