/* robots.txt (RFC 9309): groups of User-agent lines followed by Allow/Disallow rules. Only the
 * group that applies to us is kept; matching is the longest pattern wins, Allow on a tie. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ahttp/error.h>

#include "crawl.h"

typedef struct robots_rule {
    char *pattern;
    size_t len; /* specificity: the pattern's length in bytes */
    int allow;
} robots_rule;

enum { ROBOTS_RULES, ROBOTS_ALLOW_ALL, ROBOTS_DISALLOW_ALL };

struct crawl_robots {
    int mode;
    robots_rule *rules;
    size_t count, cap;
    int64_t delay_ms;
};

/* A robots.txt is untrusted input: cap what we keep of it (Google reads 500 KiB). */
#define ROBOTS_MAX_BYTES (512 * 1024)
#define ROBOTS_MAX_RULES 10000

static crawl_robots *robots_new(int mode)
{
    crawl_robots *r = calloc(1, sizeof(*r));
    if (r) {
        r->mode = mode;
        r->delay_ms = -1;
    }
    return r;
}

crawl_robots *crawl_robots_allow_all(void) { return robots_new(ROBOTS_ALLOW_ALL); }
crawl_robots *crawl_robots_disallow_all(void) { return robots_new(ROBOTS_DISALLOW_ALL); }

void crawl_robots_free(crawl_robots *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++)
        free(r->rules[i].pattern);
    free(r->rules);
    free(r);
}

/* One "key: value" line, comments and surrounding blanks removed. Returns 0 for a line that is
 * not of that form. */
static int split_line(const char *line, size_t len, const char **key, size_t *key_len,
                      const char **val, size_t *val_len)
{
    const char *hash = memchr(line, '#', len);
    if (hash)
        len = (size_t)(hash - line);
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return 0;
    const char *k = line, *ke = colon;
    while (k < ke && isspace((unsigned char)*k))
        k++;
    while (ke > k && isspace((unsigned char)ke[-1]))
        ke--;
    const char *v = colon + 1, *ve = line + len;
    while (v < ve && isspace((unsigned char)*v))
        v++;
    while (ve > v && isspace((unsigned char)ve[-1]))
        ve--;
    *key = k;
    *key_len = (size_t)(ke - k);
    *val = v;
    *val_len = (size_t)(ve - v);
    return 1;
}

static int key_is(const char *key, size_t key_len, const char *name)
{
    return strlen(name) == key_len && strncasecmp(key, name, key_len) == 0;
}

/* How well the User-agent value v matches our product token: -1 not at all, 0 for '*', else the
 * length of v (longer is more specific). */
static int ua_level(const char *v, size_t vlen, const char *product)
{
    if (vlen == 1 && v[0] == '*')
        return 0;
    if (vlen == 0 || vlen > strlen(product))
        return -1;
    for (const char *p = product; *p; p++)
        if (strncasecmp(p, v, vlen) == 0)
            return (int)vlen;
    return -1;
}

typedef void (*line_fn)(void *ctx, const char *key, size_t klen, const char *val, size_t vlen);

static void for_each_line(const char *body, size_t len, line_fn fn, void *ctx)
{
    const char *p = body, *end = body + len;
    /* a UTF-8 byte order mark is allowed before the first line */
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (p < end) {
        const char *nl = p;
        while (nl < end && *nl != '\n' && *nl != '\r')
            nl++;
        const char *key, *val;
        size_t klen, vlen;
        if (split_line(p, (size_t)(nl - p), &key, &klen, &val, &vlen))
            fn(ctx, key, klen, val, vlen);
        p = nl < end ? nl + 1 : end;
    }
}

/* Pass 1: the best level any User-agent line reaches. */
typedef struct best_ctx {
    const char *product;
    int best;
} best_ctx;

static void best_line(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
    best_ctx *c = arg;
    if (key_is(key, klen, "user-agent")) {
        int level = ua_level(val, vlen, c->product);
        if (level > c->best)
            c->best = level;
    }
}

/* Pass 2: the rules of every group that reaches the best level (RFC 9309 merges them). */
typedef struct collect_ctx {
    const char *product;
    int best;
    int in_rules; /* the last line was a rule: the next User-agent starts a new group */
    int group_applies;
    int failed;
    crawl_robots *r;
} collect_ctx;

static int hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* A path pattern written the way the crawler writes URLs (RFC 9309 §2.2.2): escapes of
 * unreserved characters decoded, other escapes in upper case, bytes outside printable ASCII
 * escaped. "*" and "$" keep their meaning. A malloc'd string; its length in *len. */
static char *pattern_normalize(const char *p, size_t n, size_t *len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        int hi, lo;
        if (c == '%' && i + 2 < n && (hi = hex_value(p[i + 1])) >= 0 &&
            (lo = hex_value(p[i + 2])) >= 0) {
            unsigned char d = (unsigned char)(hi * 16 + lo);
            if (unreserved(d)) {
                out[o++] = (char)d;
            } else {
                out[o++] = '%';
                out[o++] = hex[hi];
                out[o++] = hex[lo];
            }
            i += 2;
        } else if (c <= 0x20 || c >= 0x7f) {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

static void collect_line(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
    collect_ctx *c = arg;
    if (key_is(key, klen, "user-agent")) {
        if (c->in_rules) {
            c->in_rules = 0;
            c->group_applies = 0;
        }
        if (ua_level(val, vlen, c->product) == c->best)
            c->group_applies = 1;
        return;
    }
    int allow = key_is(key, klen, "allow");
    if (allow || key_is(key, klen, "disallow")) {
        c->in_rules = 1;
        if (!c->group_applies || vlen == 0 || c->failed)
            return; /* "Disallow:" with no path allows everything: no rule */
        crawl_robots *r = c->r;
        if (r->count == ROBOTS_MAX_RULES)
            return;
        if (r->count == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 16;
            robots_rule *n = realloc(r->rules, cap * sizeof(*n));
            if (!n) {
                c->failed = 1;
                return;
            }
            r->rules = n;
            r->cap = cap;
        }
        size_t plen;
        char *pat = pattern_normalize(val, vlen, &plen);
        if (!pat) {
            c->failed = 1;
            return;
        }
        r->rules[r->count++] = (robots_rule){pat, plen, allow};
        return;
    }
    if (key_is(key, klen, "crawl-delay")) {
        c->in_rules = 1;
        if (!c->group_applies)
            return;
        char buf[32];
        if (vlen == 0 || vlen >= sizeof(buf))
            return;
        memcpy(buf, val, vlen);
        buf[vlen] = '\0';
        char *endp;
        double s = strtod(buf, &endp);
        if (endp != buf && *endp == '\0' && s >= 0 && s <= 86400)
            c->r->delay_ms = (int64_t)(s * 1000.0 + 0.5);
    }
    /* Sitemap and unknown keys neither start nor end a group. */
}

crawl_robots *crawl_robots_parse(const char *body, size_t len, const char *user_agent)
{
    crawl_robots *r = robots_new(ROBOTS_RULES);
    if (!r)
        return NULL;
    if (len > ROBOTS_MAX_BYTES)
        len = ROBOTS_MAX_BYTES;
    /* The product token: "ahttp-crawl/0.1 (+url)" → "ahttp-crawl". */
    char product[128];
    size_t n = 0;
    for (const char *p = user_agent ? user_agent : "";
         *p && *p != '/' && *p != ' ' && n < sizeof(product) - 1; p++)
        product[n++] = *p;
    product[n] = '\0';

    best_ctx b = {product, -1};
    for_each_line(body, len, best_line, &b);
    if (b.best < 0)
        return r; /* no group for us and no '*': everything is allowed */
    collect_ctx c = {product, b.best, 0, 0, 0, r};
    for_each_line(body, len, collect_line, &c);
    if (c.failed) {
        crawl_robots_free(r);
        return NULL;
    }
    return r;
}

/* Does pattern p[0..plen) match a prefix of s ('*': any run of bytes; a final '$': the end of
 * s)? Iterative, with one backtrack point per '*': linear in practice, no recursion. */
static int pattern_matches(const char *p, size_t plen, const char *s)
{
    const char *pend = p + plen;
    int anchored = plen > 0 && pend[-1] == '$';
    if (anchored)
        pend--;
    const char *star_p = NULL, *star_s = NULL;
    for (;;) {
        if (p == pend) {
            if (!anchored || *s == '\0')
                return 1;
        } else if (*p == '*') {
            star_p = ++p;
            star_s = s;
            continue;
        } else if (*s && *p == *s) {
            p++;
            s++;
            continue;
        }
        if (star_p && *star_s) {
            p = star_p;
            s = ++star_s;
            continue;
        }
        return 0;
    }
}

int crawl_robots_allowed(const crawl_robots *r, const char *path)
{
    if (r->mode == ROBOTS_ALLOW_ALL)
        return 1;
    if (strcmp(path, "/robots.txt") == 0)
        return 1;
    if (r->mode == ROBOTS_DISALLOW_ALL)
        return 0;
    size_t best_len = 0;
    int best_allow = 1, matched = 0;
    for (size_t i = 0; i < r->count; i++) {
        const robots_rule *rule = &r->rules[i];
        if (matched && rule->len < best_len)
            continue;
        if (!pattern_matches(rule->pattern, rule->len, path))
            continue;
        if (!matched || rule->len > best_len || (rule->len == best_len && rule->allow)) {
            best_allow = rule->allow || (matched && rule->len == best_len && best_allow);
            best_len = rule->len;
            matched = 1;
        }
    }
    return best_allow;
}

int64_t crawl_robots_delay_ms(const crawl_robots *r) { return r->delay_ms; }
