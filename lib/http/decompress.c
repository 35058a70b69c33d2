/* Content-Encoding gzip and deflate, decoded as the body streams through (zlib).
 *
 * inflateInit2 with 15 + 32 detects a gzip or a zlib header by itself. "deflate" is meant to be
 * zlib-wrapped (RFC 9110 §8.4.1.2), but some servers send raw deflate: when the first bytes are
 * not a valid header we start again in raw mode. gzip allows several members one after another
 * (RFC 1952 §2.2); after the end of one, input that starts a new member is decoded too, and
 * anything else after the end is ignored. The caller caps the total output (zip bombs). */
#include "client_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

struct ah__inflate {
    z_stream zs;
    int deflate; /* Content-Encoding: deflate (may need the raw fallback) */
    int raw;     /* running in raw deflate mode */
    int ended;   /* the compressed stream is complete */
    int pending; /* the last call filled the output: more may come without input */
    int fed;     /* input was accepted before: too late for the raw fallback */
};

/* The encoding name without surrounding whitespace, into buf; 0 if it does not fit. */
static int token(const char *s, char *buf, size_t size)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= size)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 1;
}

int ah__inflate_new(const char *encoding, ah__inflate **out)
{
    char name[32];
    *out = NULL;
    if (!encoding)
        return 0;
    if (!token(encoding, name, sizeof(name)))
        return 1;
    if (!name[0] || strcasecmp(name, "identity") == 0)
        return 0;
    int deflate = strcasecmp(name, "deflate") == 0;
    if (!deflate && strcasecmp(name, "gzip") != 0 && strcasecmp(name, "x-gzip") != 0)
        return 1; /* br, zstd, "gzip, gzip", ...: handed over undecoded */
    ah__inflate *z = calloc(1, sizeof(*z));
    if (!z)
        return AH_ENOMEM;
    if (inflateInit2(&z->zs, 15 + 32) != Z_OK) {
        free(z);
        return AH_ENOMEM;
    }
    z->deflate = deflate;
    *out = z;
    return 0;
}

void ah__inflate_free(ah__inflate *z)
{
    if (!z)
        return;
    inflateEnd(&z->zs);
    free(z);
}

int ah__inflate_pending(const ah__inflate *z) { return z && z->pending && !z->ended; }

static int restart_raw(ah__inflate *z)
{
    inflateEnd(&z->zs);
    memset(&z->zs, 0, sizeof(z->zs));
    if (inflateInit2(&z->zs, -15) != Z_OK)
        return AH_ENOMEM;
    z->raw = 1;
    return 0;
}

int ah__inflate_run(ah__inflate *z, const char *in, size_t in_len, size_t *consumed, char *out,
                    size_t out_len, size_t *produced)
{
    *consumed = 0;
    *produced = 0;
    if (z->ended) {
        *consumed = in_len;
        return 1;
    }
    /* zlib counts in uInt: feed at most that much per call */
    if (in_len > UINT32_MAX)
        in_len = UINT32_MAX;
    if (out_len > UINT32_MAX)
        out_len = UINT32_MAX;
    z->zs.next_in = (Bytef *)in;
    z->zs.avail_in = (uInt)in_len;
    z->zs.next_out = (Bytef *)out;
    z->zs.avail_out = (uInt)out_len;
    for (;;) {
        int rc = inflate(&z->zs, Z_NO_FLUSH);
        if (rc == Z_DATA_ERROR && z->deflate && !z->raw && !z->fed) {
            /* raw deflate sent as "deflate": start over from the first byte */
            if (restart_raw(z) < 0)
                return AH_ENOMEM;
            z->zs.next_in = (Bytef *)in;
            z->zs.avail_in = (uInt)in_len;
            z->zs.next_out = (Bytef *)out;
            z->zs.avail_out = (uInt)out_len;
            continue;
        }
        if (rc == Z_STREAM_END) {
            /* another gzip member may follow */
            if (!z->raw && z->zs.avail_in >= 2 && z->zs.next_in[0] == 0x1f &&
                z->zs.next_in[1] == 0x8b) {
                if (inflateReset(&z->zs) != Z_OK)
                    return AH_EPROTO_HTTP;
                if (z->zs.avail_out > 0)
                    continue;
                break; /* out of room: the next call decodes the new member */
            }
            z->ended = 1;
            *produced = out_len - z->zs.avail_out;
            *consumed = in_len; /* what follows the end is ignored */
            return 1;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return AH_EPROTO_HTTP;
        break;
    }
    *consumed = in_len - z->zs.avail_in;
    *produced = out_len - z->zs.avail_out;
    z->pending = z->zs.avail_out == 0;
    if (*consumed > 0)
        z->fed = 1;
    return 0;
}
