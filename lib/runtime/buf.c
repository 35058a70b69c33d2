/* Growable byte buffers whose cap lives in the structure (include/ahttp/buf.h): the one place
 * growth is written, so the limit on input-driven memory cannot be forgotten by a caller. */
#include "internal.h"

#include <ahttp/buf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation: small buffers are the common case (header lines, URLs). */
#define BUF_MIN 64

void ah_buf_init(ah_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
    b->heap = 0;
    b->error = 0;
}

void ah_buf_init_with(ah_buf *b, char *mem, size_t size, size_t max)
{
    ah_buf_init(b, max);
    if (mem && size) {
        b->data = mem;
        /* never more room than the cap allows: ah_buf_add's fast path relies on cap <= max + 1 */
        b->cap = size <= max ? size : max + 1;
        mem[0] = '\0';
    }
}

/* Make room for `more` bytes beyond len, plus the NUL. The cap check comes first, and the
 * sum is checked so a huge len cannot wrap around it. */
static int reserve(ah_buf *b, size_t more)
{
    if (more > b->max || b->len > b->max - more)
        return AH_ETOOBIG;
    size_t need = b->len + more + 1;
    if (need <= b->cap)
        return 0;
    /* double (amortised appends), or exactly what is asked if that is more (a known size) */
    size_t cap = !b->cap ? BUF_MIN : b->cap > SIZE_MAX / 2 ? need : b->cap * 2;
    if (cap < need)
        cap = need;
    if (cap > b->max + 1)
        cap = b->max + 1; /* the doubling must not allocate past what may ever be used */
    char *p = b->heap ? realloc(b->data, cap) : malloc(cap);
    if (!p)
        return AH_ENOMEM;
    if (!b->heap && b->len)
        memcpy(p, b->data, b->len); /* out of the caller's memory */
    b->data = p;
    b->cap = cap;
    b->heap = 1;
    b->data[b->len] = '\0'; /* the bytes are a string at every moment, even grown by space() */
    return 0;
}

/* Record a failure: the first one sticks. */
static int fail(ah_buf *b, int rc)
{
    if (!b->error)
        b->error = rc;
    return rc;
}

int ah_buf_add(ah_buf *b, const void *data, size_t len)
{
    /* the common case first: no error, and room for the bytes and the NUL (cap never exceeds
     * max + 1, so room within cap is room within the cap of the structure) */
    if (!b->error && b->cap - b->len > len) {
        memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = '\0';
        return 0;
    }
    if (b->error)
        return b->error;
    int rc = reserve(b, len);
    if (rc < 0)
        return fail(b, rc);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int ah_buf_adds(ah_buf *b, const char *s) { return ah_buf_add(b, s, strlen(s)); }

int ah_buf_vaddf(ah_buf *b, const char *fmt, va_list ap)
{
    if (b->error)
        return b->error;
    va_list again;
    va_copy(again, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    int rc;
    if (n < 0) {
        rc = fail(b, AH_EINVAL);
    } else if ((size_t)n < sizeof(small)) {
        rc = ah_buf_add(b, small, (size_t)n);
    } else if ((rc = reserve(b, (size_t)n)) == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    } else {
        fail(b, rc);
    }
    va_end(again);
    return rc;
}

int ah_buf_addf(ah_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ah_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *ah_buf_space(ah_buf *b, size_t want, size_t *room)
{
    *room = 0;
    if (b->error || b->len >= b->max)
        return NULL;
    if (want > b->max - b->len)
        want = b->max - b->len;
    if (want == 0)
        want = 1;
    if (b->cap - (b->cap ? 1 : 0) < b->len + want) {
        int rc = reserve(b, want);
        if (rc < 0) {
            fail(b, rc);
            return NULL;
        }
    }
    *room = b->cap - 1 - b->len;
    if (*room > b->max - b->len)
        *room = b->max - b->len;
    return b->data + b->len;
}

void ah_buf_commit(ah_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

int ah_buf_error(const ah_buf *b) { return b->error; }

const char *ah_buf_data(const ah_buf *b) { return b->data ? b->data : ""; }

size_t ah_buf_len(const ah_buf *b) { return b->len; }

void ah_buf_truncate(ah_buf *b, size_t n)
{
    if (n < b->len) {
        b->len = n;
        b->data[n] = '\0';
    }
}

char *ah_buf_take(ah_buf *b)
{
    char *p = b->data;
    if (b->heap)
        p[b->len] = '\0'; /* room handed out by ah_buf_space and not committed may hold bytes */
    else {                /* empty, or in the caller's memory: hand out a copy */
        p = malloc(b->len + 1);
        if (p) {
            if (b->len)
                memcpy(p, b->data, b->len);
            p[b->len] = '\0';
        }
    }
    b->data = NULL;
    b->len = b->cap = 0;
    b->heap = 0;
    b->error = 0;
    return p;
}

void ah_buf_free(ah_buf *b)
{
    if (b->heap)
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->heap = 0;
    b->error = 0;
}
