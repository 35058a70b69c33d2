/* Resuming from the --state log, and keeping it compact.
 *
 * While a crawl runs, the log is a journal: "seen URL DEPTH" when a URL enters the frontier,
 * "done URL" when it has been fetched (or skipped by robots.txt). Replaying it at the next start
 * gives back the seen set and the URLs still to fetch. Left alone, the journal would grow by two
 * lines for every URL forever, so each start also rewrites it as the live state only:
 *
 *     D 5f0e8a7c3b1d2e49      a URL that is done, as the 64-bit hash the seen set keeps
 *     seen URL DEPTH          a URL still to fetch
 *
 * one line per URL — a done URL costs 19 bytes, where its two journal lines cost twice its
 * length and more. The new file is written next to the old one and renamed over it only once it
 * is complete and synced, so a crash during the rewrite leaves the old log as it was. The file is
 * read as a stream, twice (the done URLs first, then the rest), never whole into memory.
 *
 * Runs before the loop does: plain blocking I/O. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crawler.h"

#define LINE_MAX_BYTES (1024 * 1024) /* longer lines are not ours: skipped */

typedef struct line_reader {
    int fd;
    char *buf;
    size_t cap, start, end;
    int eof, skipping, error;
} line_reader;

/* The next complete line, NUL-terminated in place (its '\n' removed), or NULL at the end or on
 * an error. A last line with no newline (the process died mid-write) is not returned. */
static char *next_line(line_reader *lr)
{
    for (;;) {
        char *line = lr->buf + lr->start;
        char *nl = lr->end > lr->start ? memchr(line, '\n', lr->end - lr->start) : NULL;
        if (nl) {
            *nl = '\0';
            lr->start = (size_t)(nl + 1 - lr->buf);
            if (lr->skipping) {
                lr->skipping = 0;
                continue;
            }
            return line;
        }
        if (lr->eof || lr->error)
            return NULL;
        if (lr->start) {
            memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
            lr->end -= lr->start;
            lr->start = 0;
        }
        if (lr->end == lr->cap) {
            if (lr->cap >= LINE_MAX_BYTES) {
                lr->end = 0; /* drop the start of an overlong line, and the rest of it after */
                lr->skipping = 1;
            } else {
                char *b = realloc(lr->buf, lr->cap * 2);
                if (!b) {
                    lr->error = AH_ENOMEM;
                    return NULL;
                }
                lr->buf = b;
                lr->cap *= 2;
            }
        }
        ssize_t n = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            lr->error = -errno;
        else if (n == 0)
            lr->eof = 1;
        else
            lr->end += (size_t)n;
    }
}

static int reader_rewind(line_reader *lr)
{
    lr->start = lr->end = 0;
    lr->eof = lr->skipping = 0;
    if (lseek(lr->fd, 0, SEEK_SET) < 0)
        return lr->error = -errno;
    return 0;
}

/* A buffered writer to the new file. */
typedef struct file_out {
    int fd;
    sbuf b;
    int error;
} file_out;

static void fo_flush(file_out *fo)
{
    size_t done = 0;
    while (!fo->error && done < fo->b.len) {
        ssize_t n = write(fo->fd, fo->b.data + done, fo->b.len - done);
        if (n < 0 && errno != EINTR)
            fo->error = -errno;
        else if (n > 0)
            done += (size_t)n;
    }
    fo->b.len = 0;
}

static void fo_add(file_out *fo, const char *s, size_t n)
{
    sb_add(&fo->b, s, n);
    if (fo->b.failed && !fo->error)
        fo->error = AH_ENOMEM;
    if (fo->b.len >= 64 * 1024)
        fo_flush(fo);
}

/* Parse "seen URL DEPTH" in place: *url and the depth, or -1 if the line is not one. */
static int parse_seen(char *line, char **url)
{
    if (strncmp(line, "seen ", 5) != 0)
        return -1;
    char *sp = strrchr(line + 5, ' ');
    if (!sp || sp == line + 5)
        return -1;
    *sp = '\0';
    *url = line + 5;
    return atoi(sp + 1);
}

static int fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int state_resume(crawler *c, const char *path)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        if (errno != ENOENT)
            return -errno;
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        return fd < 0 ? -errno : fd;
    }
    line_reader lr = {.fd = in, .cap = 64 * 1024};
    lr.buf = malloc(lr.cap);
    crawl_seen done = {0};
    char tmp[4096];
    file_out fo = {.fd = -1};
    int rc = lr.buf ? 0 : AH_ENOMEM;
    if (rc == 0 && snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        rc = -ENAMETOOLONG;

    /* pass 1: what is done (journal lines "done URL", compacted lines "D HASH") */
    char *line;
    while (rc >= 0 && lr.buf && (line = next_line(&lr)) != NULL) {
        if (strncmp(line, "done ", 5) == 0) {
            rc = crawl_seen_add(&done, crawl_hash(line + 5, strlen(line + 5)));
        } else if (line[0] == 'D' && line[1] == ' ') {
            char *end;
            errno = 0;
            uint64_t h = strtoull(line + 2, &end, 16);
            if (!errno && end != line + 2 && !*end)
                rc = crawl_seen_add(&done, h);
        }
    }
    if (rc >= 0 && lr.error)
        rc = lr.error;

    /* the new file: the done hashes, then pass 2 — the URLs still to fetch, in their order */
    if (rc >= 0) {
        fo.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fo.fd < 0)
            rc = -errno;
    }
    for (size_t i = 0; rc >= 0 && i < done.cap; i++) {
        uint64_t h = done.slots[i];
        if (!h)
            continue;
        char l[32];
        int n = snprintf(l, sizeof(l), "D %016" PRIx64 "\n", h);
        fo_add(&fo, l, (size_t)n);
        rc = crawl_seen_add(&c->seen, h);
    }
    if (rc >= 0)
        rc = reader_rewind(&lr);
    c->sync_spill = 1; /* no loop yet: a spilling frontier writes its file directly */
    while (rc >= 0 && !fo.error && (line = next_line(&lr)) != NULL) {
        char *url;
        int depth = parse_seen(line, &url);
        if (depth < 0 || crawl_seen_has(&done, crawl_hash(url, strlen(url))))
            continue;
        rc = frontier_add(c, url, depth, 0);
        if (rc == 1) { /* 0: a second "seen" line for the same URL */
            line[strlen(line)] = ' ';
            fo_add(&fo, line, strlen(line));
            fo_add(&fo, "\n", 1);
        }
    }
    c->sync_spill = 0;
    if (rc >= 0 && lr.error)
        rc = lr.error;
    if (fo.fd >= 0) {
        fo_flush(&fo);
        if (rc >= 0 && fo.error)
            rc = fo.error;
        if (rc >= 0 && fsync(fo.fd) < 0)
            rc = -errno;
        if (close(fo.fd) < 0 && rc >= 0)
            rc = -errno;
        if (rc >= 0 && rename(tmp, path) < 0)
            rc = -errno;
        if (rc >= 0)
            (void)fsync_dir_of(path); /* best effort: the rename itself is what must be atomic */
        if (rc < 0)
            unlink(tmp);
    }
    close(in);
    free(lr.buf);
    free(fo.b.data);
    crawl_seen_free(&done);
    if (rc < 0)
        return rc;
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}
