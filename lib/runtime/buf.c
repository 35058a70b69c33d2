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
    size_t cap = b->cap ? b->cap : BUF_MIN;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1; /* the doubling must not allocate past what may ever be used */
    char *p = realloc(b->data, cap);
    if (!p)
        return AH_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ah_buf_add(ah_buf *b, const void *data, size_t len)
{
    int rc = reserve(b, len);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int ah_buf_adds(ah_buf *b, const char *s) { return ah_buf_add(b, s, strlen(s)); }

int ah_buf_vaddf(ah_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    int rc;
    if (n < 0) {
        rc = AH_EINVAL;
    } else if ((size_t)n < sizeof(small)) {
        rc = ah_buf_add(b, small, (size_t)n);
    } else if ((rc = reserve(b, (size_t)n)) == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
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
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void ah_buf_free(ah_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
