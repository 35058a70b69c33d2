/* URL normalisation (RFC 3986 §6.2.2 syntax-based, plus the scheme-based default port rule) and
 * the seen set: the crawler remembers 8 bytes per URL, not the URL. */
#include "config.h"

#include <ctype.h>
#include <libpsl.h>
#include <pthread.h>
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

/* ---- resolving many references against one base ------------------------------------------
 *
 * crawl_url_resolve goes through ah_url: the reference parsed into five malloc'd components, the
 * result resolved into five more, normalised, formatted with snprintf — some 3,000 instructions
 * and a dozen allocations a link, a page's links costing a fifth of its gumbo parse. Most links
 * are plain: a path, maybe a query and a fragment, in characters that need neither escaping nor
 * decoding. For those the result can be put together as a string — the base's normalised
 * "scheme://authority", the merged path without its dot segments, the query — with the same
 * steps ah_url_resolve and crawl_url_normalize take, and anything else takes the long way. The
 * unit suite checks the two ways agree over a grid of bases and references. */

/* Bytes that a path or query holds as they are (component() in lib/http/url.c copies them, and
 * crawl_url_normalize leaves them alone), plus the delimiters '/', '?' and '#'. Not '%': an
 * escape may need upper-casing or decoding. */
static const unsigned char plain_byte[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,  ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,  ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,  ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,  ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,  ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,  ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1,  ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,  ['-'] = 1, ['.'] = 1,
    ['_'] = 1, ['~'] = 1, ['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
    ['*'] = 1, ['+'] = 1, [','] = 1, [';'] = 1, ['='] = 1, [':'] = 1,  ['@'] = 1, ['/'] = 1,
    ['?'] = 1, ['#'] = 1,
};

static int all_plain(const char *s)
{
    if (!s)
        return 1;
    for (; *s; s++)
        if (!plain_byte[(unsigned char)*s])
            return 0;
    return 1;
}

void crawl_url_base_init(crawl_url_base *b, const ah_url *url)
{
    b->url = url;
    b->prefix_len = 0;
    b->fast = 0;
    /* the base's own parts are copied as they are: they must be what normalising leaves */
    if (!ah_url_is_http(url) || !url->path || !all_plain(url->userinfo) || !all_plain(url->path) ||
        !all_plain(url->query))
        return;
    /* "scheme://[userinfo@]host[:port]" as crawl_url_normalize and ah_url_format write it */
    char port[8];
    size_t port_len = 0;
    if (url->port_explicit && url->port != ah_url_default_port(url->scheme)) {
        char digits[6];
        size_t n = 0;
        unsigned v = url->port;
        do {
            digits[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        port[port_len++] = ':';
        while (n)
            port[port_len++] = digits[--n];
    }
    int v6 = strchr(url->host, ':') != NULL;
    const char *parts[] = {url->scheme,
                           "://",
                           url->userinfo ? url->userinfo : "",
                           url->userinfo ? "@" : "",
                           v6 ? "[" : "",
                           url->host,
                           v6 ? "]" : ""};
    size_t len = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        size_t n = strlen(parts[i]);
        if (len + n >= sizeof(b->prefix))
            return;
        memcpy(b->prefix + len, parts[i], n);
        len += n;
    }
    if (len + port_len >= sizeof(b->prefix))
        return;
    memcpy(b->prefix + len, port, port_len);
    len += port_len;
    b->prefix[len] = '\0';
    b->prefix_len = len;
    b->fast = 1;
}

/* RFC 3986 §5.2.4 as lib/http/url.c's remove_dot_segments does it, step for step: in[0..) (a
 * NUL-terminated copy that is written to) into out, which has room for strlen(in) + 1. Returns
 * the output's length. */
static size_t remove_dots(char *in, char *out)
{
    size_t o = 0;
    char *p = in;
    while (*p) {
        /* the tests of the library's version, in its order, spelled out byte by byte */
        if (p[0] == '.' && p[1] == '.' && p[2] == '/') { /* "../" */
            p += 3;
        } else if (p[0] == '.' && p[1] == '/') { /* "./" */
            p += 2;
        } else if (p[0] == '/' && p[1] == '.' && p[2] == '/') { /* "/./" */
            p += 2;
        } else if (p[0] == '/' && p[1] == '.' && p[2] == '\0') { /* "/." */
            p += 1;
            *p = '/';
        } else if (p[0] == '/' && p[1] == '.' && p[2] == '.' &&
                   (p[3] == '/' || p[3] == '\0')) { /* "/../" or "/.." */
            if (p[3] == '/') {
                p += 3;
            } else {
                p += 2;
                *p = '/';
            }
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else if (p[0] == '.' && (p[1] == '\0' || (p[1] == '.' && p[2] == '\0'))) {
            break; /* "." or ".." */
        } else {
            size_t n = *p == '/' ? 1 : 0;
            while (p[n] && p[n] != '/')
                n++;
            memcpy(out + o, p, n);
            o += n;
            p += n;
        }
    }
    out[o] = '\0';
    return o;
}

/* Append s[0..n) to the growable *buf. */
static int buf_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < *len + n)
            c *= 2;
        char *p = realloc(*buf, c);
        if (!p)
            return AH_ENOMEM;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    return 0;
}

#define FAST_PATH_MAX 2048 /* longer paths take the long way */

/* The plain case of crawl_url_resolve_append: 1 done, 0 not plain (nothing appended), or
 * AH_ENOMEM. */
static int resolve_plain(const crawl_url_base *b, const char *ref, char **buf, size_t *len,
                         size_t *cap)
{
    const ah_url *base = b->url;
    if (!b->fast || !all_plain(ref))
        return 0;
    const char *rest = ref; /* the reference from its path on */
    int absolute = 0;       /* rest came after a scheme and authority */
    if (strncmp(ref, b->prefix, b->prefix_len) == 0 &&
        (ref[b->prefix_len] == '\0' || ref[b->prefix_len] == '/' || ref[b->prefix_len] == '?' ||
         ref[b->prefix_len] == '#')) {
        /* an absolute URL spelled exactly as the base's normalised origin (same case, the port
         * written only when not the default): its authority is the base's */
        rest = ref + b->prefix_len;
        absolute = 1;
    } else {
        if (ref[0] == '/' && ref[1] == '/')
            return 0; /* another authority */
        size_t seg = strcspn(ref, "/?#");
        if (memchr(ref, ':', seg))
            return 0; /* a scheme, or a ':' in a first segment: an error */
    }
    size_t plen = strcspn(rest, "?#");
    const char *query = NULL;
    size_t qlen = 0;
    if (rest[plen] == '?') {
        query = rest + plen + 1;
        qlen = strcspn(query, "#");
    }
    char merged[FAST_PATH_MAX], path[FAST_PATH_MAX];
    size_t n;
    if (plen == 0 && !absolute) {
        /* "", "#f", "?q": the base's path, and its query unless one is given */
        n = strlen(base->path);
        if (n >= sizeof(path))
            return 0;
        memcpy(path, base->path, n + 1);
        if (!query && base->query) {
            query = base->query;
            qlen = strlen(query);
        }
    } else if (plen == 0) {
        n = 0;
        path[0] = '\0';
    } else {
        size_t dir = 0;
        if (rest[0] != '/' && !absolute) {
            /* §5.2.3: the base path up to its last '/' ("/" if it is empty), then the ref's */
            const char *slash = strrchr(base->path, '/');
            dir = base->path[0] == '\0' ? 1 : slash ? (size_t)(slash - base->path) + 1 : 0;
            if (dir + plen >= sizeof(merged))
                return 0;
            if (base->path[0] == '\0')
                merged[0] = '/';
            else
                memcpy(merged, base->path, dir);
        } else if (plen >= sizeof(merged)) {
            return 0;
        }
        memcpy(merged + dir, rest, plen);
        merged[dir + plen] = '\0';
        n = remove_dots(merged, path);
    }
    if (n == 0) {
        path[0] = '/';
        path[1] = '\0';
        n = 1;
    }
    if (has_dot_segment(path))
        return 0; /* crawl_url_normalize would parse it again: let it */
    int rc = buf_add(buf, len, cap, b->prefix, b->prefix_len);
    if (rc == 0)
        rc = buf_add(buf, len, cap, path, n);
    if (rc == 0 && query)
        rc = buf_add(buf, len, cap, "?", 1);
    if (rc == 0 && query)
        rc = buf_add(buf, len, cap, query, qlen);
    if (rc == 0)
        rc = buf_add(buf, len, cap, "", 1);
    return rc < 0 ? rc : 1;
}

int crawl_url_resolve_append(const crawl_url_base *b, const char *ref, char **buf, size_t *len,
                             size_t *cap)
{
    size_t start = *len;
    int rc = resolve_plain(b, ref, buf, len, cap);
    if (rc != 0) {
        if (rc < 0)
            *len = start;
        return rc < 0 ? rc : 0;
    }
    char *url;
    rc = crawl_url_resolve(b->url, ref, &url);
    if (rc < 0)
        return rc;
    rc = buf_add(buf, len, cap, url, strlen(url) + 1);
    free(url);
    if (rc < 0)
        *len = start;
    return rc;
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

/* ---- domains ---- */

static const psl_ctx_t *psl;

static void psl_load(void)
{
    psl = psl_latest(NULL); /* the system's list if it is newer than the one built in */
    if (!psl)
        psl = psl_builtin();
}

const char *crawl_domain_of(const char *host)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    const char *last = strrchr(host, '.');
    if (!last || strchr(host, ':') || (last[1] >= '0' && last[1] <= '9'))
        return host; /* one label, an IPv6 literal, an IPv4 address */
    pthread_once(&once, psl_load);
    const char *d = psl ? psl_registrable_domain(psl, host) : NULL;
    return d ? d : host;
}
