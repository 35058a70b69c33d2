/* URL normalisation (RFC 3986 §6.2.2 syntax-based, plus the scheme-based default port rule) and
 * the seen set: the crawler remembers 8 bytes per URL, not the URL. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <ahttp/error.h>

#include "crawl.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int unreserved(int c) { return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

/* Upper-case every %xx escape and decode those of unreserved bytes, in place (the result is
 * never longer). A '%' not followed by two hex digits is left alone (ah_url_parse rejects them
 * anyway). */
static void normalize_escapes(char *s)
{
    if (!s)
        return;
    char *w = s;
    for (char *r = s; *r;) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0) {
            int c = hi * 16 + lo;
            if (unreserved(c)) {
                *w++ = (char)c;
            } else {
                *w++ = '%';
                *w++ = (char)toupper((unsigned char)r[1]);
                *w++ = (char)toupper((unsigned char)r[2]);
            }
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* 1 if path has a "." or ".." segment (decoding %2E can make one). */
static int has_dot_segment(const char *path)
{
    for (const char *p = path; (p = strchr(p, '/')) != NULL;) {
        p++;
        size_t n = strcspn(p, "/");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 1;
    }
    return 0;
}

/* Remove dot segments again, by a round trip through ah_url_parse (which removes them). */
static int remove_dot_segments(ah_url *u)
{
    char *s = ah_url_format(u);
    if (!s)
        return AH_ENOMEM;
    ah_url v;
    int rc = ah_url_parse(s, &v);
    free(s);
    if (rc < 0)
        return rc;
    free(u->path);
    u->path = v.path;
    v.path = NULL;
    ah_url_free(&v);
    return 0;
}

int crawl_url_normalize(ah_url *u)
{
    if (!ah_url_is_http(u))
        return AH_EINVAL;
    if (u->port_explicit && u->port == ah_url_default_port(u->scheme))
        u->port_explicit = 0;
    free(u->fragment);
    u->fragment = NULL;
    if (u->path[0] == '\0') {
        char *slash = strdup("/");
        if (!slash)
            return AH_ENOMEM;
        free(u->path);
        u->path = slash;
    }
    normalize_escapes(u->userinfo);
    normalize_escapes(u->path);
    normalize_escapes(u->query);
    if (has_dot_segment(u->path))
        return remove_dot_segments(u);
    return 0;
}

static int finish(ah_url *u, char **out)
{
    int rc = crawl_url_normalize(u);
    if (rc == 0) {
        *out = ah_url_format(u);
        if (!*out)
            rc = AH_ENOMEM;
    }
    ah_url_free(u);
    return rc;
}

int crawl_url_resolve(const ah_url *base, const char *ref, char **out)
{
    ah_url u;
    *out = NULL;
    int rc = ah_url_resolve(base, ref, &u);
    if (rc < 0)
        return rc;
    return finish(&u, out);
}

int crawl_url_canonical(const char *s, char **out)
{
    ah_url u;
    *out = NULL;
    int rc = ah_url_parse(s, &u);
    if (rc < 0)
        return rc;
    return finish(&u, out);
}

uint64_t crawl_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    /* FNV's low bits are weak for similar keys; the table indexes with them, so mix (splitmix64) */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

static int seen_grow(crawl_seen *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    uint64_t *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return AH_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        uint64_t h = s->slots[i];
        if (!h)
            continue;
        size_t j = (size_t)h & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = h;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

int crawl_seen_add(crawl_seen *s, uint64_t h)
{
    if (!h)
        h = 1;
    if ((s->count + 1) * 2 > s->cap) {
        int rc = seen_grow(s);
        if (rc < 0)
            return rc;
    }
    size_t j = (size_t)h & (s->cap - 1);
    while (s->slots[j]) {
        if (s->slots[j] == h)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = h;
    s->count++;
    return 1;
}

int crawl_seen_has(const crawl_seen *s, uint64_t h)
{
    if (!h)
        h = 1;
    if (!s->cap)
        return 0;
    size_t j = (size_t)h & (s->cap - 1);
    while (s->slots[j]) {
        if (s->slots[j] == h)
            return 1;
        j = (j + 1) & (s->cap - 1);
    }
    return 0;
}

void crawl_seen_free(crawl_seen *s)
{
    free(s->slots);
    s->slots = NULL;
    s->cap = s->count = 0;
}
