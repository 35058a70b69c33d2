/* memstream: the in-memory transport the fuzz targets feed the parsers through (the byte format
 * is described in memstream.h). The input is decoded once, when the stream is made, into the
 * bytes the peer sends and the offsets where a read must stop; reads then only copy. */
#include "config.h"

#include "memstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ahttp/error.h>

typedef struct mem {
    char *bytes; /* what the peer sends, markers removed */
    size_t len;
    size_t pos;     /* bytes handed to the reader so far */
    size_t *bounds; /* read boundaries, ascending, each in (0, len) */
    size_t nbounds;
    size_t next_bound; /* the first boundary not yet passed */
    size_t gone_at;    /* writes fail once pos reaches this (SIZE_MAX: never) */
    const char *expect_prefix;
    size_t prefix_len;
    ah_fuzz_mem_stats *stats;
    ah_fuzz_mem_stats scratch; /* stats when the caller wants none */
    int dump;                  /* AH_FUZZ_DUMP set: what is read and written goes to stderr */
} mem;

static void add_bound(mem *m, size_t at)
{
    /* one at the very start or end, or twice at the same place, changes nothing */
    if (at == 0 || (m->nbounds && m->bounds[m->nbounds - 1] == at))
        return;
    m->bounds[m->nbounds++] = at;
}

/* What data[*i] is in the input format (memstream.h): a byte the peer sends (*byte, and *i past
 * an escape), or a marker. One place for the format, shared by the transport and
 * ah_fuzz_peer_bytes, so the two cannot read an input differently. */
enum { LITERAL, SPLIT, PEER_GONE };

static int next_unit(const uint8_t *data, size_t size, size_t *i, char *byte)
{
    uint8_t b = data[*i];
    if (b == AH_FUZZ_SPLIT && *i + 1 < size &&
        (data[*i + 1] == AH_FUZZ_SPLIT || data[*i + 1] == AH_FUZZ_PEER_GONE)) {
        *byte = (char)data[++*i]; /* an escaped marker byte */
        return LITERAL;
    }
    if (b == AH_FUZZ_SPLIT)
        return SPLIT;
    if (b == AH_FUZZ_PEER_GONE)
        return PEER_GONE;
    *byte = (char)b;
    return LITERAL;
}

/* The bytes and the read boundaries. A boundary at the very end is dropped after. */
static void decode(mem *m, const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        char byte;
        switch (next_unit(data, size, &i, &byte)) {
        case LITERAL: m->bytes[m->len++] = byte; break;
        case PEER_GONE:
            if (m->gone_at == SIZE_MAX)
                m->gone_at = m->len;
            /* fall through - a boundary too */
        case SPLIT: add_bound(m, m->len); break;
        }
    }
    while (m->nbounds && m->bounds[m->nbounds - 1] >= m->len)
        m->nbounds--;
}

size_t ah_fuzz_peer_bytes(const uint8_t *data, size_t size, char *out)
{
    size_t len = 0;
    for (size_t i = 0; i < size; i++) {
        char byte;
        if (next_unit(data, size, &i, &byte) == LITERAL)
            out[len++] = byte;
    }
    return len;
}

static int mem_read(void *io, void *buf, size_t len, int64_t timeout_ms)
{
    mem *m = io;
    (void)timeout_ms; /* nothing to wait for: AH__NOWAIT or not, the answer is the same */
    while (m->next_bound < m->nbounds && m->bounds[m->next_bound] <= m->pos)
        m->next_bound++;
    size_t limit = m->next_bound < m->nbounds ? m->bounds[m->next_bound] : m->len;
    size_t n = limit - m->pos;
    if (n > len)
        n = len;
    if (n > INT32_MAX)
        n = INT32_MAX;
    if (n == 0) {
        if (m->dump && !m->stats->reached_end)
            fprintf(stderr, "[memstream: end of stream]\n");
        m->stats->reached_end = 1;
        return 0;
    }
    memcpy(buf, m->bytes + m->pos, n);
    if (m->dump)
        fprintf(stderr, "[memstream: read %zu bytes]\n", n);
    m->pos += n;
    m->stats->bytes_read += n;
    return (int)n;
}

/* The first bytes written must be expect_prefix: checked across writes, as they come. */
static void check_prefix(mem *m, const char *data, size_t n)
{
    size_t done = m->stats->bytes_written;
    if (!m->expect_prefix || done >= m->prefix_len)
        return;
    size_t want = m->prefix_len - done;
    if (n > want)
        n = want;
    if (memcmp(data, m->expect_prefix + done, n) != 0)
        abort(); /* the writer's first bytes are not what every answer must begin with */
}

static int mem_writev(void *io, const struct iovec *iov, int iovcnt, int64_t timeout_ms)
{
    mem *m = io;
    (void)timeout_ms;
    if (m->pos >= m->gone_at) {
        m->stats->writes_failed++;
        if (m->dump)
            fprintf(stderr, "[memstream: write refused, the peer is gone]\n");
        return AH_EPIPE;
    }
    for (int i = 0; i < iovcnt; i++) {
        check_prefix(m, iov[i].iov_base, iov[i].iov_len);
        if (m->dump)
            fwrite(iov[i].iov_base, 1, iov[i].iov_len, stderr);
        m->stats->bytes_written += iov[i].iov_len;
    }
    return 0;
}

static int mem_shutdown(void *io, int64_t timeout_ms)
{
    mem *m = io;
    (void)timeout_ms;
    return m->pos >= m->gone_at ? AH_EPIPE : 0;
}

static void mem_close(void *io)
{
    mem *m = io;
    m->stats->closed = 1;
    free(m->bytes);
    free(m->bounds);
    free(m);
}

static const ah_transport_ops mem_ops = {
    .read = mem_read,
    .writev = mem_writev,
    .shutdown = mem_shutdown,
    .close = mem_close,
    .fd = NULL,
};

ah_stream *ah_fuzz_stream_new(const uint8_t *data, size_t size, const char *expect_prefix,
                              ah_fuzz_mem_stats *stats)
{
    mem *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    /* size + 1: malloc(0) may return NULL, which must not read as out of memory */
    m->bytes = malloc(size + 1);
    m->bounds = malloc((size + 1) * sizeof(*m->bounds));
    if (!m->bytes || !m->bounds) {
        free(m->bytes);
        free(m->bounds);
        free(m);
        return NULL;
    }
    m->gone_at = SIZE_MAX;
    m->stats = stats ? stats : &m->scratch;
    memset(m->stats, 0, sizeof(*m->stats));
    m->dump = getenv("AH_FUZZ_DUMP") != NULL;
    m->expect_prefix = expect_prefix;
    m->prefix_len = expect_prefix ? strlen(expect_prefix) : 0;
    decode(m, data, size);
    return ah_stream_new(&mem_ops, m, NULL); /* owns m now, even on failure */
}
