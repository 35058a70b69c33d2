/* ahttp-crawl's output: JSON-lines records and the --state log are appended to memory buffers
 * that one writer task hands to the thread pool (ah_to_thread), so no task blocks on a file. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crawler.h"

int write_job_run(void *arg)
{
    write_job *j = arg;
    size_t done = 0;
    while (done < j->len) {
        ssize_t n = write(j->fd, j->data + done, j->len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

void write_job_free(void *arg)
{
    write_job *j = arg;
    free(j->data);
    free(j);
}

/* ---- small strings ------------------------------------------------------------------------ */

void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

void sb_u64(sbuf *b, uint64_t v)
{
    char tmp[20];
    size_t n = sizeof(tmp);
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sb_add(b, tmp + n, sizeof(tmp) - n);
}

void sb_i64(sbuf *b, int64_t v)
{
    if (v < 0) {
        sb_add(b, "-", 1);
        sb_u64(b, -(uint64_t)v);
    } else {
        sb_u64(b, (uint64_t)v);
    }
}

/* A JSON string: quotes, backslashes and control bytes escaped; bytes >= 0x80 are taken as
 * Latin-1 (\u00XX) so the output is valid JSON whatever a server sent in a header. */
void sb_json(sbuf *b, const char *s)
{
    if (!s) {
        sb_str(b, "null");
        return;
    }
    sb_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const unsigned char *run = p;
        while (*p && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        sb_add(b, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        switch (*p) {
        case '"': sb_str(b, "\\\""); break;
        case '\\': sb_str(b, "\\\\"); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\r': sb_str(b, "\\r"); break;
        case '\t': sb_str(b, "\\t"); break;
        default: sb_printf(b, "\\u%04x", *p); break;
        }
    }
    sb_add(b, "\"", 1);
}

/* ---- the writer task ---------------------------------------------------------------------- */

void out_append(crawler *c, bufout *b, const char *s, size_t n)
{
    if (b->fd < 0 || b->error)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->error = AH_ENOMEM;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    size_t before = b->len;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    /* the writer waits for the first line after a flush, then lets more gather (writer_task) */
    if (before == 0 || (before < FLUSH_BYTES && b->len >= FLUSH_BYTES))
        ah_event_set(c->writer_wake);
}

/* Hand what b holds to a pool thread; the buffer is swapped out so tasks can keep appending. */
static int out_flush(bufout *b)
{
    if (!b->len || b->fd < 0 || b->error)
        return 0;
    write_job *j = malloc(sizeof(*j));
    if (!j)
        return b->error = AH_ENOMEM;
    j->fd = b->fd;
    j->data = b->data;
    j->len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    int rc = ah_to_thread_ex(write_job_run, j, write_job_free);
    if (rc == AH_ECANCELED || rc == AH_ETIMEDOUT)
        return rc; /* abandoned: freed by the pool */
    write_job_free(j);
    if (rc < 0)
        b->error = rc;
    return rc;
}

/* Wait until the buffers hold FLUSH_BYTES, the crawl ends, or FLUSH_MS have passed since `since`:
 * a hand-off to the pool per page costs more than the page's own writing (two futex wakes and two
 * thread switches); one per FLUSH_MS, a few hundred lines, costs nothing. */
static int gather(crawler *c, int64_t since)
{
    for (;;) {
        int64_t left = since + FLUSH_MS - ah_now_ms();
        if (c->finishing || stop_requested || left <= 0 || c->out.len >= FLUSH_BYTES ||
            c->state.len >= FLUSH_BYTES)
            return 0;
        ah_event_clear(c->writer_wake);
        int rc = ah_event_wait(c->writer_wake, left);
        if (rc == AH_ECANCELED)
            return rc;
    }
}

int writer_task(void *arg)
{
    crawler *c = arg;
    int64_t last_flush = 0;
    for (;;) {
        /* the output first: a "done" line never precedes the page's record on disk */
        if (c->out.len || c->state.len) {
            if (gather(c, last_flush) == AH_ECANCELED)
                return AH_ECANCELED;
            last_flush = ah_now_ms();
            int rc = out_flush(&c->out);
            if (rc == AH_ECANCELED)
                return rc;
            rc = out_flush(&c->state);
            if (rc == AH_ECANCELED)
                return rc;
            if (c->out.error || c->state.error) {
                /* a closed pipe (| head) or a full disk: crawling on would be wasted */
                stop_requested = 1;
                ah_event_set(c->changed);
            }
            continue;
        }
        if (c->finishing)
            return 0;
        ah_event_clear(c->writer_wake);
        if (ah_event_wait(c->writer_wake, -1) == AH_ECANCELED)
            return AH_ECANCELED;
    }
}

void state_log(crawler *c, const char *what, const char *url, int depth)
{
    if (c->state.fd < 0)
        return;
    sbuf b = {0};
    sb_str(&b, what);
    sb_str(&b, " ");
    sb_str(&b, url);
    if (depth >= 0)
        sb_printf(&b, " %d", depth);
    sb_str(&b, "\n");
    if (!b.failed)
        out_append(c, &c->state, b.data, b.len);
    free(b.data);
}
