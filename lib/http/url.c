/* URLs (RFC 3986): split a reference into its five components with the grammar's own rules,
 * validate and normalise each (case of scheme and host, percent-escapes, harmless bytes that a
 * URI may not hold encoded), resolve references against a base (§5.2) and recompose (§5.3).
 *
 * Every function builds its result in a local ah_url and moves it into *out only once it is
 * complete, so a failure never leaves partial output behind. */
#include "config.h"

#include <ahttp/url.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static const char hexdigits[] = "0123456789ABCDEF";

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_unreserved(int c) { return is_alpha(c) || is_digit(c) || (c && strchr("-._~", c)); }
static int is_sub_delim(int c) { return c && strchr("!$&'()*+,;=", c) != NULL; }

/* Characters a component may hold as they are (besides unreserved and pct-encoded). */
enum { C_PATH, C_QUERY, C_USERINFO };

static int allowed(int c, int kind)
{
    if (is_unreserved(c) || is_sub_delim(c))
        return 1;
    switch (kind) {
    case C_PATH: return c == ':' || c == '@' || c == '/';
    case C_QUERY: return c == ':' || c == '@' || c == '/' || c == '?';
    default: return c == ':';
    }
}

/* Bytes that cannot appear in a URI at all: whitespace and controls. Others that are merely
 * not allowed in a component (e.g. '<', '|', non-ASCII) are percent-encoded instead. */
static int forbidden(unsigned char c) { return c <= 0x20 || c == 0x7f; }

/* ---- a small string builder ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_reserve(sbuf *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void sb_add(sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_adds(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_addc(sbuf *b, char c) { sb_add(b, &c, 1); }

/* The built string (never NULL unless out of memory); the builder is emptied. */
static char *sb_take(sbuf *b)
{
    if (!b->oom && !b->p)
        sb_reserve(b, 0);
    if (b->oom) {
        free(b->p);
        b->p = NULL;
        return NULL;
    }
    b->p[b->len] = '\0';
    char *p = b->p;
    memset(b, 0, sizeof(*b));
    return p;
}

/* ---- components ---- */

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Copy a path/query/fragment/userinfo: validate %XX, encode what the component may not hold.
 * Returns AH_EINVAL, AH_ENOMEM or 0 with *out set. */
static int component(const char *s, size_t n, int kind, char **out)
{
    sbuf b = {0};
    sb_reserve(&b, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (forbidden(c)) {
            free(b.p);
            return AH_EINVAL;
        }
        if (c == '%') {
            if (n - i < 3 || hexval((unsigned char)s[i + 1]) < 0 ||
                hexval((unsigned char)s[i + 2]) < 0) {
                free(b.p);
                return AH_EINVAL;
            }
            sb_add(&b, s + i, 3);
            i += 2;
        } else if (allowed(c, kind)) {
            sb_addc(&b, (char)c);
        } else {
            char esc[3] = {'%', hexdigits[c >> 4], hexdigits[c & 15]};
            sb_add(&b, esc, 3);
        }
    }
    *out = sb_take(&b);
    return *out ? 0 : AH_ENOMEM;
}

/* A host: an IPv6 literal in brackets (stored without them) or a reg-name / IPv4 address;
 * lower-cased. */
static int host_component(const char *s, size_t n, char **out)
{
    if (n > 0 && s[0] == '[') {
        if (n < 3 || s[n - 1] != ']')
            return AH_EINVAL;
        char addr[64];
        unsigned char bin[16];
        size_t alen = n - 2;
        if (alen >= sizeof(addr))
            return AH_EINVAL;
        memcpy(addr, s + 1, alen);
        addr[alen] = '\0';
        /* IPvFuture and zone identifiers are not supported: inet_pton refuses them. */
        if (inet_pton(AF_INET6, addr, bin) != 1)
            return AH_EINVAL;
        for (size_t i = 0; i < alen; i++)
            addr[i] = (char)(addr[i] >= 'A' && addr[i] <= 'F' ? addr[i] + 32 : addr[i]);
        *out = dup_n(addr, alen);
        return *out ? 0 : AH_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3 || hexval((unsigned char)s[i + 1]) < 0 ||
                hexval((unsigned char)s[i + 2]) < 0)
                return AH_EINVAL;
            i += 2;
        } else if (!is_unreserved(c) && !is_sub_delim(c)) {
            return AH_EINVAL;
        }
    }
    char *h = dup_n(s, n);
    if (!h)
        return AH_ENOMEM;
    for (char *p = h; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    *out = h;
    return 0;
}

uint16_t ah_url_default_port(const char *scheme)
{
    if (!scheme)
        return 0;
    if (strcmp(scheme, "http") == 0 || strcmp(scheme, "ws") == 0)
        return 80;
    if (strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0)
        return 443;
    return 0;
}

void ah_url_free(ah_url *u)
{
    if (!u)
        return;
    free(u->scheme);
    free(u->userinfo);
    free(u->host);
    free(u->path);
    free(u->query);
    free(u->fragment);
    memset(u, 0, sizeof(*u));
}

/* Split and validate a URI reference (RFC 3986 §4.1). The scheme may be absent (NULL); no
 * dot-segment removal yet. */
static int parse_ref(const char *s, ah_url *out)
{
    ah_url u = {0};
    int rc = AH_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!s)
        return AH_EINVAL;
    for (const char *p = s; *p; p++)
        if (forbidden((unsigned char)*p))
            return AH_EINVAL;

    /* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    const char *p = s;
    if (is_alpha((unsigned char)*p)) {
        const char *q = p + 1;
        while (is_alpha((unsigned char)*q) || is_digit((unsigned char)*q) || *q == '+' ||
               *q == '-' || *q == '.')
            q++;
        if (*q == ':') {
            if (!(u.scheme = dup_n(p, (size_t)(q - p))))
                goto oom;
            for (char *c = u.scheme; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c + 32);
            p = q + 1;
        }
    }
    if (!u.scheme) {
        /* a relative path's first segment may not hold ':' (it would read as a scheme) */
        size_t seg = strcspn(p, "/?#");
        if (memchr(p, ':', seg))
            goto fail_inval;
    }

    /* authority */
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        size_t alen = strcspn(p, "/?#");
        const char *a = p, *end = p + alen;
        const char *at = memchr(a, '@', alen);
        if (at) {
            if (memchr(at + 1, '@', (size_t)(end - at - 1)))
                goto fail_inval;
            if ((rc = component(a, (size_t)(at - a), C_USERINFO, &u.userinfo)) < 0)
                goto fail;
            a = at + 1;
        }
        const char *host_end;
        if (*a == '[') {
            const char *close = memchr(a, ']', (size_t)(end - a));
            if (!close)
                goto fail_inval;
            host_end = close + 1;
            if (host_end != end && *host_end != ':')
                goto fail_inval;
        } else {
            const char *colon = memchr(a, ':', (size_t)(end - a));
            host_end = colon ? colon : end;
        }
        if ((rc = host_component(a, (size_t)(host_end - a), &u.host)) < 0)
            goto fail;
        if (host_end < end) { /* ":" port */
            const char *d = host_end + 1;
            if (d < end) {
                unsigned long port = 0;
                for (const char *q = d; q < end; q++) {
                    if (!is_digit((unsigned char)*q))
                        goto fail_inval;
                    port = port * 10 + (unsigned long)(*q - '0');
                    if (port > 65535)
                        goto fail_inval;
                }
                u.port = (uint16_t)port;
                u.port_explicit = 1;
            }
        }
        p = end;
    }

    size_t plen = strcspn(p, "?#");
    if ((rc = component(p, plen, C_PATH, &u.path)) < 0)
        goto fail;
    p += plen;
    if (*p == '?') {
        p++;
        size_t qlen = strcspn(p, "#");
        if ((rc = component(p, qlen, C_QUERY, &u.query)) < 0)
            goto fail;
        p += qlen;
    }
    if (*p == '#') {
        p++;
        /* a second '#' is not allowed in a fragment: component() encodes it */
        if ((rc = component(p, strlen(p), C_QUERY, &u.fragment)) < 0)
            goto fail;
    }
    if (!u.port_explicit)
        u.port = ah_url_default_port(u.scheme);
    *out = u;
    return 0;
oom:
    rc = AH_ENOMEM;
    goto fail;
fail_inval:
    rc = AH_EINVAL;
fail:
    ah_url_free(&u);
    return rc;
}

/* RFC 3986 §5.2.4, on a copy of in. */
static char *remove_dot_segments(const char *in)
{
    char *buf = strdup(in);
    char *outp = malloc(strlen(in) + 1);
    if (!buf || !outp) {
        free(buf);
        free(outp);
        return NULL;
    }
    size_t o = 0;
    char *p = buf;
    while (*p) {
        if (strncmp(p, "../", 3) == 0) {
            p += 3;
        } else if (strncmp(p, "./", 2) == 0) {
            p += 2;
        } else if (strncmp(p, "/./", 3) == 0) {
            p += 2;
        } else if (strcmp(p, "/.") == 0) {
            p += 1;
            *p = '/';
        } else if (strncmp(p, "/../", 4) == 0 || strcmp(p, "/..") == 0) {
            if (p[3] == '/') {
                p += 3;
            } else {
                p += 2;
                *p = '/';
            }
            while (o > 0 && outp[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the '/' before the removed segment */
        } else if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
            break;
        } else {
            /* move the first segment, with its leading '/', to the output */
            size_t n = *p == '/' ? 1 : 0;
            n += strcspn(p + n, "/");
            memcpy(outp + o, p, n);
            o += n;
            p += n;
        }
    }
    outp[o] = '\0';
    free(buf);
    return outp;
}

static int replace_path_without_dots(ah_url *u)
{
    char *clean = remove_dot_segments(u->path);
    if (!clean)
        return AH_ENOMEM;
    free(u->path);
    u->path = clean;
    return 0;
}

int ah_url_parse(const char *s, ah_url *out)
{
    if (!out)
        return AH_EINVAL;
    ah_url u;
    int rc = parse_ref(s, &u);
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    if (!u.scheme) {
        ah_url_free(&u);
        memset(out, 0, sizeof(*out));
        return AH_EINVAL;
    }
    if ((rc = replace_path_without_dots(&u)) < 0) {
        ah_url_free(&u);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    *out = u;
    return 0;
}

static char *dup_or_null(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        *oom = 1;
    return p;
}

int ah_url_copy(const ah_url *src, ah_url *dst)
{
    if (!src || !dst)
        return AH_EINVAL;
    ah_url u = {0};
    int oom = 0;
    u.scheme = dup_or_null(src->scheme, &oom);
    u.userinfo = dup_or_null(src->userinfo, &oom);
    u.host = dup_or_null(src->host, &oom);
    u.path = dup_or_null(src->path ? src->path : "", &oom);
    u.query = dup_or_null(src->query, &oom);
    u.fragment = dup_or_null(src->fragment, &oom);
    u.port = src->port;
    u.port_explicit = src->port_explicit;
    if (oom) {
        ah_url_free(&u);
        memset(dst, 0, sizeof(*dst));
        return AH_ENOMEM;
    }
    *dst = u;
    return 0;
}

/* §5.2.3: the base path up to its last '/', then the reference's path. */
static char *merge_paths(const ah_url *base, const char *rpath)
{
    sbuf b = {0};
    if (base->host && base->path[0] == '\0') {
        sb_addc(&b, '/');
    } else {
        const char *slash = strrchr(base->path, '/');
        if (slash)
            sb_add(&b, base->path, (size_t)(slash - base->path) + 1);
    }
    sb_adds(&b, rpath);
    return sb_take(&b);
}

int ah_url_resolve(const ah_url *base, const char *ref, ah_url *out)
{
    if (!out)
        return AH_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!base || !base->scheme || !base->path)
        return AH_EINVAL;
    ah_url r, t = {0};
    int rc = parse_ref(ref, &r);
    if (rc < 0)
        return rc;
    int oom = 0;
    if (r.scheme) {
        t = r; /* everything from the reference */
        memset(&r, 0, sizeof(r));
        if ((rc = replace_path_without_dots(&t)) < 0)
            goto fail;
    } else {
        if (r.host) {
            t.userinfo = r.userinfo;
            t.host = r.host;
            t.port = r.port;
            t.port_explicit = r.port_explicit;
            r.userinfo = r.host = NULL;
            t.path = remove_dot_segments(r.path);
            oom |= !t.path;
            t.query = r.query;
            r.query = NULL;
        } else {
            if (r.path[0] == '\0') {
                t.path = dup_or_null(base->path, &oom);
                if (r.query) {
                    t.query = r.query;
                    r.query = NULL;
                } else {
                    t.query = dup_or_null(base->query, &oom);
                }
            } else {
                if (r.path[0] == '/') {
                    t.path = remove_dot_segments(r.path);
                } else {
                    char *merged = merge_paths(base, r.path);
                    t.path = merged ? remove_dot_segments(merged) : NULL;
                    free(merged);
                }
                oom |= !t.path;
                t.query = r.query;
                r.query = NULL;
            }
            t.userinfo = dup_or_null(base->userinfo, &oom);
            t.host = dup_or_null(base->host, &oom);
            t.port = base->port;
            t.port_explicit = base->port_explicit;
        }
        t.scheme = dup_or_null(base->scheme, &oom);
        t.fragment = r.fragment;
        r.fragment = NULL;
        if (!t.port_explicit)
            t.port = ah_url_default_port(t.scheme);
    }
    ah_url_free(&r);
    if (oom) {
        rc = AH_ENOMEM;
        goto fail;
    }
    *out = t;
    return 0;
fail:
    ah_url_free(&r);
    ah_url_free(&t);
    return rc;
}

static void add_host(sbuf *b, const char *host)
{
    int v6 = strchr(host, ':') != NULL;
    if (v6)
        sb_addc(b, '[');
    sb_adds(b, host);
    if (v6)
        sb_addc(b, ']');
}

char *ah_url_format(const ah_url *u)
{
    if (!u)
        return NULL;
    sbuf b = {0};
    if (u->scheme) {
        sb_adds(&b, u->scheme);
        sb_addc(&b, ':');
    }
    if (u->host) {
        sb_adds(&b, "//");
        if (u->userinfo) {
            sb_adds(&b, u->userinfo);
            sb_addc(&b, '@');
        }
        add_host(&b, u->host);
        if (u->port_explicit) {
            /* by hand: snprintf costs some 700 instructions, and a client formats a URL for
             * every request */
            char port[8];
            size_t n = sizeof(port);
            unsigned v = u->port;
            do {
                port[--n] = (char)('0' + v % 10);
                v /= 10;
            } while (v);
            port[--n] = ':';
            sb_add(&b, port + n, sizeof(port) - n);
        }
    }
    sb_adds(&b, u->path ? u->path : "");
    if (u->query) {
        sb_addc(&b, '?');
        sb_adds(&b, u->query);
    }
    if (u->fragment) {
        sb_addc(&b, '#');
        sb_adds(&b, u->fragment);
    }
    return sb_take(&b);
}

char *ah_url_target(const ah_url *u)
{
    if (!u)
        return NULL;
    sbuf b = {0};
    sb_adds(&b, u->path && u->path[0] ? u->path : "/");
    if (u->query) {
        sb_addc(&b, '?');
        sb_adds(&b, u->query);
    }
    return sb_take(&b);
}

int ah_url_is_http(const ah_url *u)
{
    return u && u->scheme && u->host && u->host[0] &&
           (strcmp(u->scheme, "http") == 0 || strcmp(u->scheme, "https") == 0);
}

int ah_url_same_origin(const ah_url *a, const ah_url *b)
{
    if (!a || !b || !a->scheme || !b->scheme || !a->host || !b->host)
        return 0;
    return strcmp(a->scheme, b->scheme) == 0 && strcmp(a->host, b->host) == 0 && a->port == b->port;
}

char *ah_url_encode(const char *s, size_t len, const char *safe)
{
    sbuf b = {0};
    sb_reserve(&b, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (c && safe && strchr(safe, c))) {
            sb_addc(&b, (char)c);
        } else {
            char esc[3] = {'%', hexdigits[c >> 4], hexdigits[c & 15]};
            sb_add(&b, esc, 3);
        }
    }
    return sb_take(&b);
}

int ah_url_decode(const char *s, size_t len, int plus_as_space, char **out, size_t *out_len)
{
    if (!out)
        return AH_EINVAL;
    *out = NULL;
    if (!s && len)
        return AH_EINVAL;
    char *d = malloc(len + 1);
    if (!d)
        return AH_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = len - i >= 3 ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = len - i >= 3 ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(d);
                return AH_EINVAL;
            }
            d[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_as_space) {
            d[o++] = ' ';
        } else {
            d[o++] = c;
        }
    }
    d[o] = '\0';
    *out = d;
    if (out_len)
        *out_len = o;
    return 0;
}
