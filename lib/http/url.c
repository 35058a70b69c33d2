/* URLs (RFC 3986): split a reference into its five components with the grammar's own rules,
 * validate and normalise each (case of scheme and host, percent-escapes, harmless bytes that a
 * URI may not hold encoded, internationalised host names to their A-labels), resolve references
 * against a base (§5.2) and recompose (§5.3).
 *
 * Every function builds its result in a local ah_url and moves it into *out only once it is
 * complete, so a failure never leaves partial output behind. */
#include "config.h"

#include "internal.h" /* ah__pct_decode, shared with the server */

#include <ahttp/url.h>

#include <arpa/inet.h>
#include <idn2.h>
#include <stdarg.h>
#include <stdio.h>
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
/* A byte a reg-name may hold as it is (RFC 3986 §3.2.2), percent-escapes aside. */
static int is_host_char(int c) { return is_unreserved(c) || is_sub_delim(c); }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* Where the reason for a refusal goes: ah_url_explain's buffer. The parse functions pass NULL
 * and only get AH_EINVAL back, so explaining costs nothing unless asked for. */
typedef struct why {
    char *buf;
    size_t size;
} why;

/* Record the reason (if w asks for one) and return AH_EINVAL. */
__attribute__((format(printf, 2, 3))) static int refuse(why *w, const char *fmt, ...)
{
    if (w && w->size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->buf, w->size, fmt, ap);
        va_end(ap);
    }
    return AH_EINVAL;
}

/* 1 if s[i..n) starts with a well-formed percent escape "%XX". */
static int is_escape(const char *s, size_t n, size_t i)
{
    return n - i >= 3 && s[i] == '%' && hexval((unsigned char)s[i + 1]) >= 0 &&
           hexval((unsigned char)s[i + 2]) >= 0;
}

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

/* ---- a small string builder: an ah_buf with the cap every URL built here is held to ---- */

/* No URL, and no component encoded or decoded here, is built past this: a caller's 100 MB
 * string gets NULL (as out of memory does), not a 300 MB allocation. */
#define URL_BUILD_MAX (64 * 1024 * 1024)

typedef ah_buf sbuf;

static void sb_init(sbuf *b) { ah_buf_init(b, URL_BUILD_MAX); }

/* Room for more bytes ahead of the adds (one allocation for a string of known size). */
static void sb_reserve(sbuf *b, size_t more)
{
    size_t room;
    (void)ah_buf_space(b, more, &room);
}

/* The error is read once, by sb_take (it sticks): each add's own result is not needed. */
static void sb_add(sbuf *b, const char *s, size_t n)
{
    int sticky = ah_buf_add(b, s, n);
    (void)sticky;
}

static void sb_adds(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_addc(sbuf *b, char c) { sb_add(b, &c, 1); }

/* The built string (malloc'd), or NULL if it could not be built (out of memory, or past
 * URL_BUILD_MAX); the builder is emptied. */
static char *sb_take(sbuf *b)
{
    if (ah_buf_error(b)) {
        ah_buf_free(b);
        return NULL;
    }
    return ah_buf_take(b);
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
static int component(const char *s, size_t n, int kind, why *w, char **out)
{
    sbuf b;
    sb_init(&b);
    sb_reserve(&b, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (forbidden(c)) {
            ah_buf_free(&b);
            return refuse(w, "whitespace or a control character");
        }
        if (c == '%') {
            if (!is_escape(s, n, i)) {
                ah_buf_free(&b);
                return refuse(w, "a '%%' not followed by two hex digits");
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

/* An IPv6 literal "[...]" (stored without the brackets, hex digits lower-cased). */
static int ipv6_literal(const char *s, size_t n, why *w, char **out)
{
    if (n < 3 || s[n - 1] != ']')
        return refuse(w, "an IPv6 literal without its ']'");
    char addr[64];
    unsigned char bin[16];
    size_t alen = n - 2;
    if (alen >= sizeof(addr))
        return refuse(w, "not an IPv6 address in '[...]'");
    memcpy(addr, s + 1, alen);
    addr[alen] = '\0';
    /* IPvFuture and zone identifiers are not supported: inet_pton refuses them. */
    if (inet_pton(AF_INET6, addr, bin) != 1)
        return refuse(w, "not an IPv6 address in '[...]'");
    for (size_t i = 0; i < alen; i++)
        addr[i] = lower(addr[i]);
    *out = dup_n(addr, alen);
    return *out ? 0 : AH_ENOMEM;
}

/* The A-label form of a host name that has non-ASCII (UTF-8) labels: UTS #46 processing,
 * non-transitional as IDNA2008 wants ("faß.de" is xn--fa-hia.de, not fass.de), falling back to
 * transitional processing as curl does, so that names IDNA2008 disallows but browsers still
 * reach (symbols: "☃.net") keep working. The mapping also lower-cases ("BÜCHER" is "bücher"). */
static int idna_to_ascii(const char *name, why *w, char **out)
{
    char *ace = NULL;
    int rc = idn2_to_ascii_8z(name, &ace, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK && rc != IDN2_MALLOC)
        rc = idn2_to_ascii_8z(name, &ace, IDN2_TRANSITIONAL);
    if (rc == IDN2_MALLOC)
        return AH_ENOMEM;
    if (rc != IDN2_OK)
        return refuse(w, "a host name IDNA refuses: %s", idn2_strerror(rc));
    /* UTS #46 maps the fullwidth forms to ASCII: U+FF0F to '/', U+FF20 to '@', so a name that
     * looks like one host would send the request somewhere else. The result must be a host. */
    for (const char *p = ace; *p; p++) {
        if (!is_host_char((unsigned char)*p)) {
            idn2_free(ace);
            return refuse(w, "a host name that IDNA maps to characters a host cannot hold");
        }
    }
    *out = strdup(ace); /* ours to free with free(), whatever allocator libidn2 used */
    idn2_free(ace);
    return *out ? 0 : AH_ENOMEM;
}

/* A reg-name or IPv4 address, lower-cased. Percent-escapes are decoded: in a host they stand
 * for UTF-8 (RFC 3986 §3.2.2), and a host that keeps them could never be looked up. A name with
 * non-ASCII bytes (as written or escaped) goes through IDNA, so the host is always the ASCII
 * name that is resolved, sent in Host, checked against a certificate and matched by cookies. */
static int reg_name(const char *s, size_t n, why *w, char **out)
{
    char *name = malloc(n + 1);
    if (!name)
        return AH_ENOMEM;
    size_t len = 0;
    int ascii = 1, rc = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (!is_escape(s, n, i)) {
                rc = refuse(w, "a '%%' not followed by two hex digits in the host");
                break;
            }
            c = (unsigned char)(hexval((unsigned char)s[i + 1]) * 16 +
                                hexval((unsigned char)s[i + 2]));
            i += 2;
        }
        if (c < 0x80 && !is_host_char(c)) {
            rc = refuse(w, "a character a host name cannot hold");
            break;
        }
        ascii &= c < 0x80;
        name[len++] = lower((char)c);
    }
    name[len] = '\0';
    if (rc == 0 && !ascii) {
        char *ace = NULL;
        if ((rc = idna_to_ascii(name, w, &ace)) == 0) {
            free(name);
            name = ace;
        }
    }
    if (rc < 0) {
        free(name);
        return rc;
    }
    *out = name;
    return 0;
}

/* A host: an IPv6 literal in brackets (stored without them) or a reg-name / IPv4 address. */
static int host_component(const char *s, size_t n, why *w, char **out)
{
    if (n > 0 && s[0] == '[')
        return ipv6_literal(s, n, w, out);
    return reg_name(s, n, w, out);
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

/* ":" port after the host, d[0..end): digits, at most 65535; empty means the default. */
static int port_component(const char *d, const char *end, why *w, ah_url *u)
{
    if (d == end)
        return 0;
    unsigned long port = 0;
    for (const char *q = d; q < end; q++) {
        if (!is_digit((unsigned char)*q))
            return refuse(w, "a port that is not a number");
        port = port * 10 + (unsigned long)(*q - '0');
        if (port > 65535)
            return refuse(w, "a port above 65535");
    }
    u->port = (uint16_t)port;
    u->port_explicit = 1;
    return 0;
}

/* authority = [ userinfo "@" ] host [ ":" port ], in a[0..end). */
static int authority(const char *a, const char *end, why *w, ah_url *u)
{
    int rc;
    const char *at = memchr(a, '@', (size_t)(end - a));
    if (at) {
        if (memchr(at + 1, '@', (size_t)(end - at - 1)))
            return refuse(w, "more than one '@' before the host");
        if ((rc = component(a, (size_t)(at - a), C_USERINFO, w, &u->userinfo)) < 0)
            return rc;
        a = at + 1;
    }
    const char *host_end;
    if (*a == '[') {
        const char *close = memchr(a, ']', (size_t)(end - a));
        if (!close)
            return refuse(w, "an IPv6 literal without its ']'");
        host_end = close + 1;
        if (host_end != end && *host_end != ':')
            return refuse(w, "characters after an IPv6 literal");
    } else {
        const char *colon = memchr(a, ':', (size_t)(end - a));
        host_end = colon ? colon : end;
    }
    if ((rc = host_component(a, (size_t)(host_end - a), w, &u->host)) < 0)
        return rc;
    return host_end < end ? port_component(host_end + 1, end, w, u) : 0;
}

/* Split and validate a URI reference (RFC 3986 §4.1). The scheme may be absent (NULL); no
 * dot-segment removal yet. A refusal is explained into w (may be NULL). */
static int parse_ref(const char *s, why *w, ah_url *out)
{
    ah_url u = {0};
    int rc;
    memset(out, 0, sizeof(*out));
    if (!s)
        return refuse(w, "no URL");
    for (const char *p = s; *p; p++)
        if (forbidden((unsigned char)*p))
            return refuse(w, "whitespace or a control character");

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
                *c = lower(*c);
            p = q + 1;
        }
    }
    if (!u.scheme) {
        /* a relative path's first segment may not hold ':' (it would read as a scheme) */
        size_t seg = strcspn(p, "/?#");
        if (memchr(p, ':', seg)) {
            rc = refuse(w, "a ':' in the first segment of a relative reference");
            goto fail;
        }
    }

    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        const char *end = p + strcspn(p, "/?#");
        if ((rc = authority(p, end, w, &u)) < 0)
            goto fail;
        p = end;
    }

    size_t plen = strcspn(p, "?#");
    if ((rc = component(p, plen, C_PATH, w, &u.path)) < 0)
        goto fail;
    p += plen;
    if (*p == '?') {
        p++;
        size_t qlen = strcspn(p, "#");
        if ((rc = component(p, qlen, C_QUERY, w, &u.query)) < 0)
            goto fail;
        p += qlen;
    }
    if (*p == '#') {
        p++;
        /* a second '#' is not allowed in a fragment: component() encodes it */
        if ((rc = component(p, strlen(p), C_QUERY, w, &u.fragment)) < 0)
            goto fail;
    }
    if (!u.port_explicit)
        u.port = ah_url_default_port(u.scheme);
    *out = u;
    return 0;
oom:
    rc = AH_ENOMEM;
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

/* ah_url_parse, explaining a refusal into w (may be NULL). */
static int parse_absolute(const char *s, why *w, ah_url *out)
{
    ah_url u;
    int rc = parse_ref(s, w, &u);
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    if (!u.scheme)
        rc = refuse(w, "no scheme (an absolute URL such as http://host/ is needed)");
    else
        rc = replace_path_without_dots(&u);
    if (rc < 0) {
        ah_url_free(&u);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    *out = u;
    return 0;
}

int ah_url_parse(const char *s, ah_url *out)
{
    if (!out)
        return AH_EINVAL;
    return parse_absolute(s, NULL, out);
}

int ah_url_explain(const char *s, char *buf, size_t size)
{
    if (!buf && size)
        return AH_EINVAL;
    why w = {buf, size};
    if (size)
        buf[0] = '\0';
    ah_url u;
    int rc = parse_absolute(s, &w, &u);
    if (rc == 0)
        ah_url_free(&u);
    else if (rc == AH_ENOMEM && size)
        snprintf(buf, size, "out of memory");
    return rc;
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
    sbuf b;
    sb_init(&b);
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
    int rc = parse_ref(ref, NULL, &r);
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
    sbuf b;
    sb_init(&b);
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
    sbuf b;
    sb_init(&b);
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
    sbuf b;
    sb_init(&b);
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

int ah__pct_decode(const char *s, size_t len, int plus_as_space, char *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = len - i >= 3 ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = len - i >= 3 ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return AH_EINVAL;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return 0;
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
    size_t n;
    if (ah__pct_decode(s ? s : "", len, plus_as_space, d, &n) < 0) {
        free(d);
        return AH_EINVAL;
    }
    *out = d;
    if (out_len)
        *out_len = n;
    return 0;
}
