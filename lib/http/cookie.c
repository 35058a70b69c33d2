/* The cookie jar: RFC 6265 §5 as user agents implement it. Set-Cookie is parsed by the
 * algorithm of §5.2 (not the server grammar of §4.1, which real servers do not keep to), dates
 * by the token rules of §5.1.1, and stored by §5.3; the Cookie header is built by §5.4. From RFC
 * 6265bis, as curl and browsers do: control characters void a header, a Secure cookie needs a
 * secure origin and a plain one may not shadow it, the __Secure- / __Host- prefixes hold, and
 * attribute values over 1024 bytes are ignored. As curl does, with libpsl, a Domain attribute that
 * is a public suffix ("co.uk", "github.io") is refused: it would reach every site under it.
 *
 * The jar is an array of cookies in the order they were made (a replacement keeps the old one's
 * place and creation time, as §5.3 step 11 says), so the oldest is always first: eviction takes
 * from the front, and the Cookie header's tie-break (earlier creation first) is array order. At
 * a few thousand cookies a linear scan per request costs microseconds, and it keeps the
 * structure small enough to read in one sitting. */
#include "config.h"

#include <ahttp/cookie.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* RFC 6265bis §5.6: attribute values longer than this are ignored. */
#define ATTR_VALUE_MAX 1024
/* The latest expiry kept: 9999-12-31T23:59:59Z (§5.1.1 caps years at four digits anyway). */
#define LATEST_EXPIRY INT64_C(253402300799)
/* A session cookie's expiry: never, until the jar goes. */
#define SESSION INT64_MAX
#define MAX_COOKIES_LIMIT 100000
/* A line of a cookie file: the longest cookie we keep plus its other fields. */
#define FILE_LINE_MAX (AH_COOKIE_MAX_BYTES + 2 * ATTR_VALUE_MAX + 128)
/* Matching cookies sorted on the stack for one Cookie header; more take a malloc. */
#define HEADER_STACK_COOKIES 64

typedef struct cookie {
    char *name, *value, *domain, *path; /* point into data */
    int64_t expires;                    /* SESSION for a session cookie */
    uint64_t created;                   /* order of creation (the jar's counter) */
    unsigned char host_only, secure, http_only, same_site;
    char data[];
} cookie;

struct ah_cookie_jar {
    cookie **v; /* oldest first */
    size_t n, cap;
    size_t max_cookies, max_per_domain;
    uint64_t next_created;
};

/* What a Set-Cookie header or a file line says, before it becomes a cookie. */
typedef struct fields {
    const char *name, *value, *domain, *path;
    size_t name_len, value_len;
    int64_t expires;
    int host_only, secure, http_only, same_site;
} fields;

/* ---- small helpers (ASCII only: no locale may change what a header means) ---- */

static int is_wsp(char c) { return c == ' ' || c == '\t'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* A control character other than HTAB: RFC 6265bis voids the whole header for one. */
static int is_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

static void trim(const char **p, size_t *len)
{
    while (*len && is_wsp(**p)) {
        (*p)++;
        (*len)--;
    }
    while (*len && is_wsp((*p)[*len - 1]))
        (*len)--;
}

static int span_is(const char *p, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(p, lit, len) == 0;
}

static int is_ip(const char *host)
{
    unsigned char bin[16];
    return inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
}

static int secure_scheme(const ah_url *u)
{
    return strcmp(u->scheme, "https") == 0 || strcmp(u->scheme, "wss") == 0;
}

/* ---- the public suffix list ---- */

static const psl_ctx_t *suffixes;
static pthread_once_t suffixes_once = PTHREAD_ONCE_INIT;

/* The newest list there is: the system's (Debian's publicsuffix package, kept up to date apart
 * from the library) or the one built into libpsl. psl_latest allocates and reads a file, so it
 * is done once per process, and the list is kept for the process's life: a loaded list is only
 * read from, so every thread and jar can share it. */
static void suffixes_load(void)
{
    suffixes = psl_latest(NULL);
    if (!suffixes)
        suffixes = psl_builtin();
}

/* The list, or NULL if libpsl has none at all. */
static const psl_ctx_t *suffix_list(void)
{
    pthread_once(&suffixes_once, suffixes_load);
    return suffixes;
}

/* 1 if a cookie for domain would reach a whole public suffix ("com", "co.uk"). A name without a
 * dot counts as one whatever the list says ("localhost"); without a list, nothing else does. */
static int is_public_suffix(const char *domain)
{
    const psl_ctx_t *psl = suffix_list();
    return !strchr(domain, '.') || (psl && psl_is_public_suffix(psl, domain));
}

/* 1 if host may set a cookie for domain, a parent of it (RFC 6265 §5.3 step 5): domain must be
 * longer than host's public suffix, so www.example.co.uk may set one for example.co.uk but not
 * for co.uk. Without a list there is no telling the two apart: refused, as curl does. */
static int parent_domain_allowed(const char *host, const char *domain)
{
    const psl_ctx_t *psl = suffix_list();
    return psl && psl_is_cookie_domain_acceptable(psl, host, domain);
}

/* §5.1.3: host domain-matches domain (both lower-case). */
static int domain_match(const char *host, const char *domain)
{
    if (strcmp(host, domain) == 0)
        return 1;
    size_t hl = strlen(host), dl = strlen(domain);
    return hl > dl && host[hl - dl - 1] == '.' && strcmp(host + hl - dl, domain) == 0 &&
           !is_ip(host);
}

/* §5.1.4: request_path path-matches cookie_path. */
static int path_match(const char *request_path, const char *cookie_path)
{
    size_t cl = strlen(cookie_path);
    if (strncmp(request_path, cookie_path, cl) != 0)
        return 0;
    return request_path[cl] == '\0' || cookie_path[cl - 1] == '/' || request_path[cl] == '/';
}

/* ---- dates (§5.1.1) ---- */

static int is_date_delimiter(unsigned char c)
{
    return c == 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) ||
           (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/* min..max digits at tok[*i], not followed by another digit. */
static int read_digits(const char *tok, size_t len, size_t *i, int min, int max, int *out)
{
    int v = 0, n = 0;
    while (*i < len && is_digit(tok[*i])) {
        if (n == max)
            return -1;
        v = v * 10 + (tok[*i] - '0');
        n++;
        (*i)++;
    }
    if (n < min)
        return -1;
    *out = v;
    return 0;
}

/* hms-time: 1*2DIGIT ":" 1*2DIGIT ":" 1*2DIGIT, then anything but a digit. */
static int read_time(const char *tok, size_t len, int hms[3])
{
    size_t i = 0;
    for (int k = 0; k < 3; k++) {
        if (k && (i >= len || tok[i++] != ':'))
            return -1;
        if (read_digits(tok, len, &i, 1, 2, &hms[k]) < 0)
            return -1;
    }
    return 0;
}

static int read_month(const char *tok, size_t len)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (len < 3)
        return -1;
    for (int m = 0; m < 12; m++)
        if (lower(tok[0]) == months[3 * m] && lower(tok[1]) == months[3 * m + 1] &&
            lower(tok[2]) == months[3 * m + 2])
            return m + 1;
    return -1;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* A cookie-date to seconds since the epoch; -1 if it is not one. */
static int parse_cookie_date(const char *s, size_t len, int64_t *out)
{
    int have_time = 0, have_day = 0, have_month = 0, have_year = 0;
    int hms[3] = {0}, day = 0, month = 0, year = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_date_delimiter((unsigned char)s[i]))
            i++;
        size_t start = i;
        while (i < len && !is_date_delimiter((unsigned char)s[i]))
            i++;
        const char *tok = s + start;
        size_t tlen = i - start, k = 0;
        if (tlen == 0)
            break;
        int v;
        if (!have_time && read_time(tok, tlen, hms) == 0) {
            have_time = 1;
        } else if (!have_day && read_digits(tok, tlen, &k, 1, 2, &v) == 0) {
            have_day = 1;
            day = v;
        } else if (!have_month && (v = read_month(tok, tlen)) > 0) {
            have_month = 1;
            month = v;
        } else if (!have_year && (k = 0, read_digits(tok, tlen, &k, 2, 4, &v) == 0)) {
            have_year = 1;
            year = v;
        }
    }
    if (!have_time || !have_day || !have_month || !have_year)
        return -1;
    if (year >= 70 && year <= 99)
        year += 1900;
    else if (year <= 69)
        year += 2000;
    if (year < 1601 || day < 1 || day > days_in_month(year, month) || hms[0] > 23 || hms[1] > 59 ||
        hms[2] > 59)
        return -1;
    *out = days_from_civil(year, month, day) * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
    return 0;
}

/* Max-Age (§5.2.2): an optional '-' and digits. -1 if malformed. */
static int parse_max_age(const char *p, size_t len, int64_t now_s, int64_t *expires)
{
    if (len == 0 || !(is_digit(p[0]) || p[0] == '-'))
        return -1;
    int negative = p[0] == '-';
    size_t i = negative ? 1 : 0;
    if (i == len)
        return -1;
    int64_t delta = 0;
    for (; i < len; i++) {
        if (!is_digit(p[i]))
            return -1;
        if (delta < LATEST_EXPIRY)
            delta = delta * 10 + (p[i] - '0');
    }
    if (negative || delta == 0)
        *expires = INT64_MIN; /* the earliest time there is: expired */
    else
        *expires = delta >= LATEST_EXPIRY - now_s ? LATEST_EXPIRY : now_s + delta;
    return 0;
}

/* ---- the jar ---- */

ah_cookie_jar *ah_cookie_jar_new(void)
{
    /* the list is read now, at start-up as a rule, not in the middle of a task's first fetch */
    (void)suffix_list();
    ah_cookie_jar *jar = calloc(1, sizeof(*jar));
    if (!jar)
        return NULL;
    jar->max_cookies = AH_COOKIE_JAR_MAX_COOKIES;
    jar->max_per_domain = AH_COOKIE_JAR_MAX_PER_DOMAIN;
    return jar;
}

void ah_cookie_jar_free(ah_cookie_jar *jar)
{
    if (!jar)
        return;
    for (size_t i = 0; i < jar->n; i++)
        free(jar->v[i]);
    free(jar->v);
    free(jar);
}

void ah_cookie_jar_set_limits(ah_cookie_jar *jar, size_t max_cookies, size_t max_per_domain)
{
    if (!jar)
        return;
    if (max_cookies)
        jar->max_cookies = max_cookies < MAX_COOKIES_LIMIT ? max_cookies : MAX_COOKIES_LIMIT;
    if (max_per_domain)
        jar->max_per_domain = max_per_domain;
}

size_t ah_cookie_jar_count(const ah_cookie_jar *jar) { return jar ? jar->n : 0; }

int ah_cookie_jar_get(const ah_cookie_jar *jar, size_t i, ah_cookie *out)
{
    if (!jar || !out || i >= jar->n)
        return AH_EINVAL;
    const cookie *c = jar->v[i];
    *out = (ah_cookie){
        .name = c->name,
        .value = c->value,
        .domain = c->domain,
        .path = c->path,
        .expires = c->expires == SESSION ? 0 : c->expires,
        .host_only = c->host_only,
        .secure = c->secure,
        .http_only = c->http_only,
        .same_site = (ah_cookie_same_site)c->same_site,
    };
    return 0;
}

static void remove_at(ah_cookie_jar *jar, size_t i)
{
    free(jar->v[i]);
    memmove(&jar->v[i], &jar->v[i + 1], (jar->n - i - 1) * sizeof(jar->v[0]));
    jar->n--;
}

static void drop_expired(ah_cookie_jar *jar, int64_t now_s)
{
    size_t w = 0;
    for (size_t i = 0; i < jar->n; i++) {
        if (jar->v[i]->expires <= now_s)
            free(jar->v[i]);
        else
            jar->v[w++] = jar->v[i];
    }
    jar->n = w;
}

static size_t count_domain(const ah_cookie_jar *jar, const char *domain)
{
    size_t n = 0;
    for (size_t i = 0; i < jar->n; i++)
        n += strcmp(jar->v[i]->domain, domain) == 0;
    return n;
}

/* Room for one more cookie of domain: expired cookies go first, then the oldest of the domain,
 * then the oldest of all (RFC 6265 §5.3, the step after 12, with "oldest" for "least recently
 * accessed": a server cannot keep its own cookies young by making us send them). */
static void make_room(ah_cookie_jar *jar, const char *domain, int64_t now_s)
{
    if (jar->n >= jar->max_cookies || count_domain(jar, domain) >= jar->max_per_domain)
        drop_expired(jar, now_s);
    while (count_domain(jar, domain) >= jar->max_per_domain) {
        size_t i = 0;
        while (strcmp(jar->v[i]->domain, domain) != 0)
            i++;
        remove_at(jar, i);
    }
    while (jar->n >= jar->max_cookies)
        remove_at(jar, 0);
}

static cookie *cookie_make(const fields *f)
{
    size_t dl = strlen(f->domain), pl = strlen(f->path);
    cookie *c = malloc(sizeof(*c) + f->name_len + f->value_len + dl + pl + 4);
    if (!c)
        return NULL;
    char *p = c->data;
    c->name = memcpy(p, f->name, f->name_len);
    p[f->name_len] = '\0';
    p += f->name_len + 1;
    c->value = memcpy(p, f->value, f->value_len);
    p[f->value_len] = '\0';
    p += f->value_len + 1;
    c->domain = memcpy(p, f->domain, dl + 1);
    p += dl + 1;
    c->path = memcpy(p, f->path, pl + 1);
    c->expires = f->expires;
    c->host_only = (unsigned char)f->host_only;
    c->secure = (unsigned char)f->secure;
    c->http_only = (unsigned char)f->http_only;
    c->same_site = (unsigned char)f->same_site;
    return c;
}

static int same_name(const cookie *c, const fields *f)
{
    return strlen(c->name) == f->name_len && memcmp(c->name, f->name, f->name_len) == 0;
}

/* §5.3 steps 11 and 12: replace the cookie with the same name, domain and path (keeping its
 * creation time and place), delete it if the new one has expired, or add the new one. Returns
 * 1 if the jar changed, 0 if not, AH_ENOMEM. */
static int store(ah_cookie_jar *jar, const fields *f, int64_t now_s)
{
    size_t i;
    for (i = 0; i < jar->n; i++) {
        const cookie *c = jar->v[i];
        if (same_name(c, f) && strcmp(c->domain, f->domain) == 0 && strcmp(c->path, f->path) == 0)
            break;
    }
    if (f->expires <= now_s) {
        if (i == jar->n)
            return 0;
        remove_at(jar, i);
        return 1;
    }
    cookie *c = cookie_make(f);
    if (!c)
        return AH_ENOMEM;
    if (i < jar->n) {
        c->created = jar->v[i]->created;
        free(jar->v[i]);
        jar->v[i] = c;
        return 1;
    }
    make_room(jar, f->domain, now_s);
    if (jar->n == jar->cap) {
        size_t cap = jar->cap ? jar->cap * 2 : 16;
        if (cap > jar->max_cookies)
            cap = jar->max_cookies;
        cookie **v = realloc(jar->v, cap * sizeof(*v));
        if (!v) {
            free(c);
            return AH_ENOMEM;
        }
        jar->v = v;
        jar->cap = cap;
    }
    c->created = jar->next_created++;
    jar->v[jar->n++] = c;
    return 1;
}

/* ---- Set-Cookie (§5.2, §5.3) ---- */

/* §5.1.4: the directory of the request path into out[0..size); -1 if it does not fit. */
static int default_path(const char *uri_path, char *out, size_t size)
{
    const char *last = strrchr(uri_path, '/');
    if (uri_path[0] != '/' || last == uri_path) {
        snprintf(out, size, "/");
        return 0;
    }
    size_t len = (size_t)(last - uri_path);
    if (len >= size)
        return -1;
    memcpy(out, uri_path, len);
    out[len] = '\0';
    return 0;
}

/* RFC 6265bis §5.7 step 16: a cookie from a non-secure origin may not replace or shadow a Secure
 * cookie of the same name whose domain overlaps and whose path the new one's path matches. */
static int shadows_secure(const ah_cookie_jar *jar, const fields *f)
{
    for (size_t i = 0; i < jar->n; i++) {
        const cookie *c = jar->v[i];
        if (c->secure && same_name(c, f) &&
            (domain_match(c->domain, f->domain) || domain_match(f->domain, c->domain)) &&
            path_match(f->path, c->path))
            return 1;
    }
    return 0;
}

int ah_cookie_jar_set(ah_cookie_jar *jar, const ah_url *request_url, const char *set_cookie,
                      int64_t now_s)
{
    if (!jar || !request_url || !request_url->host || !request_url->host[0] ||
        !request_url->scheme || !request_url->path || !set_cookie)
        return AH_EINVAL;
    for (const unsigned char *p = (const unsigned char *)set_cookie; *p; p++)
        if (is_ctl(*p))
            return 0;
    fields f = {.expires = SESSION, .host_only = 1};
    size_t pair_len = strcspn(set_cookie, ";");
    const char *eq = memchr(set_cookie, '=', pair_len);
    if (!eq)
        return 0; /* §5.2 step 2: no '=' in the pair, no cookie */
    f.name = set_cookie;
    f.name_len = (size_t)(eq - set_cookie);
    f.value = eq + 1;
    f.value_len = pair_len - f.name_len - 1;
    trim(&f.name, &f.name_len);
    trim(&f.value, &f.value_len);
    /* a tab inside would break the tab-separated cookie file */
    if (f.name_len == 0 || f.name_len + f.value_len > AH_COOKIE_MAX_BYTES ||
        memchr(f.name, '\t', f.name_len) || memchr(f.value, '\t', f.value_len))
        return 0;

    int have_max_age = 0, have_expires = 0, have_domain = 0;
    int64_t max_age_at = 0, expires_at = 0;
    char domain[ATTR_VALUE_MAX + 1], path[ATTR_VALUE_MAX + 1] = "";
    for (const char *a = set_cookie + pair_len; *a == ';';) {
        a++;
        size_t len = strcspn(a, ";");
        const char *aeq = memchr(a, '=', len);
        const char *name = a, *value = aeq ? aeq + 1 : a + len;
        size_t name_len = aeq ? (size_t)(aeq - a) : len;
        size_t value_len = aeq ? len - name_len - 1 : 0;
        trim(&name, &name_len);
        trim(&value, &value_len);
        a += len;
        if (value_len > ATTR_VALUE_MAX)
            continue;
        if (span_is(name, name_len, "expires")) {
            if (parse_cookie_date(value, value_len, &expires_at) == 0)
                have_expires = 1;
        } else if (span_is(name, name_len, "max-age")) {
            if (parse_max_age(value, value_len, now_s, &max_age_at) == 0)
                have_max_age = 1;
        } else if (span_is(name, name_len, "domain")) {
            if (value_len && value[0] == '.') {
                value++;
                value_len--;
            }
            if (value_len == 0)
                continue; /* §5.2.3: an empty Domain is ignored */
            for (size_t i = 0; i < value_len; i++)
                domain[i] = lower(value[i]);
            domain[value_len] = '\0';
            have_domain = 1;
        } else if (span_is(name, name_len, "path")) {
            /* §5.2.4: not starting with '/' means the default path (the last Path wins) */
            if (value_len && value[0] == '/')
                snprintf(path, sizeof(path), "%.*s", (int)value_len, value);
            else
                path[0] = '\0';
        } else if (span_is(name, name_len, "secure")) {
            f.secure = 1;
        } else if (span_is(name, name_len, "httponly")) {
            f.http_only = 1;
        } else if (span_is(name, name_len, "samesite")) {
            f.same_site = span_is(value, value_len, "none")     ? AH_COOKIE_SAMESITE_NONE
                          : span_is(value, value_len, "lax")    ? AH_COOKIE_SAMESITE_LAX
                          : span_is(value, value_len, "strict") ? AH_COOKIE_SAMESITE_STRICT
                                                                : AH_COOKIE_SAMESITE_UNSET;
        }
    }

    /* §5.3 step 3: Max-Age wins over Expires, whatever their order */
    if (have_max_age)
        f.expires = max_age_at;
    else if (have_expires)
        f.expires = expires_at < LATEST_EXPIRY ? expires_at : LATEST_EXPIRY;

    /* §5.3 steps 4-6 */
    const char *host = request_url->host;
    f.domain = host;
    if (have_domain) {
        if (!domain_match(host, domain))
            return 0; /* a foreign domain */
        if (strcmp(domain, host) == 0 && (is_ip(host) || is_public_suffix(domain))) {
            /* An address, "localhost", or a public suffix naming itself: the same as no Domain
             * (step 5), a host-only cookie. curl keeps a domain cookie here, which the host
             * "co.uk" could then set for every site under it. */
        } else if (strcmp(domain, host) != 0 && !parent_domain_allowed(host, domain)) {
            return 0; /* a public suffix ("com", "co.uk") would reach every site under it */
        } else {
            f.host_only = 0;
            f.domain = domain;
        }
    }
    char dpath[ATTR_VALUE_MAX + 1];
    if (path[0]) {
        f.path = path;
    } else {
        if (default_path(request_url->path, dpath, sizeof(dpath)) < 0)
            return 0; /* a directory too long to keep */
        f.path = dpath;
    }
    if (strchr(f.path, '\t') || strlen(f.domain) > ATTR_VALUE_MAX)
        return 0;

    /* RFC 6265bis §5.7 steps 8 and 13-16 */
    int secure_origin = secure_scheme(request_url);
    if (f.secure && !secure_origin)
        return 0;
    if (f.name_len >= 9 && strncasecmp(f.name, "__Secure-", 9) == 0 && !f.secure)
        return 0;
    if (f.name_len >= 7 && strncasecmp(f.name, "__Host-", 7) == 0 &&
        (!f.secure || !f.host_only || strcmp(f.path, "/") != 0 || path[0] != '/'))
        return 0;
    if (!secure_origin && shadows_secure(jar, &f))
        return 0;
    return store(jar, &f, now_s);
}

/* ---- the Cookie header (§5.4) ---- */

static int by_path_then_age(const void *a, const void *b)
{
    const cookie *x = *(const cookie *const *)a, *y = *(const cookie *const *)b;
    size_t xl = strlen(x->path), yl = strlen(y->path);
    if (xl != yl)
        return xl > yl ? -1 : 1;
    return x->created < y->created ? -1 : x->created > y->created;
}

int ah_cookie_jar_header(ah_cookie_jar *jar, const ah_url *url, int64_t now_s, char *out,
                         size_t size)
{
    if (!jar || !url || !url->host || !url->scheme || !url->path || (!out && size))
        return AH_EINVAL;
    if (size)
        out[0] = '\0';
    const char *req_path = url->path[0] ? url->path : "/";
    int secure = secure_scheme(url);
    cookie *stack[HEADER_STACK_COOKIES], **match = stack;
    size_t nmatch = 0, w = 0;
    for (size_t i = 0; i < jar->n; i++) {
        cookie *c = jar->v[i];
        if (c->expires <= now_s) {
            free(c);
            continue;
        }
        jar->v[w++] = c;
        if (!(c->host_only ? strcmp(url->host, c->domain) == 0
                           : domain_match(url->host, c->domain)))
            continue;
        if (!path_match(req_path, c->path) || (c->secure && !secure))
            continue;
        if (nmatch == HEADER_STACK_COOKIES && match == stack) {
            match = malloc(jar->n * sizeof(*match));
            if (!match) {
                for (size_t k = i + 1; k < jar->n; k++) /* keep the jar whole */
                    jar->v[w++] = jar->v[k];
                jar->n = w;
                return AH_ENOMEM;
            }
            memcpy(match, stack, sizeof(stack));
        }
        match[nmatch++] = c;
    }
    jar->n = w;
    /* array order is creation order, so equal paths only need a stable sort; qsort is not
     * stable, hence the creation counter in the comparison */
    qsort(match, nmatch, sizeof(*match), by_path_then_age);
    size_t len = 0;
    int fits = 1;
    for (size_t i = 0; i < nmatch; i++) {
        const cookie *c = match[i];
        size_t nl = strlen(c->name), vl = strlen(c->value), sep = i ? 2 : 0;
        if (fits && len + sep + nl + 1 + vl < size) {
            char *p = out + len;
            memcpy(p, "; ", sep);
            memcpy(p + sep, c->name, nl);
            p[sep + nl] = '=';
            memcpy(p + sep + nl + 1, c->value, vl);
            p[sep + nl + 1 + vl] = '\0';
        } else {
            fits = 0; /* whole pairs only */
        }
        len += sep + nl + 1 + vl;
    }
    if (match != stack)
        free(match);
    return len > INT32_MAX ? INT32_MAX : (int)len;
}

/* ---- Netscape cookie files ---- */

/* Split line at tabs into at most max fields; returns the count. */
static size_t split_tabs(char *line, char **field, size_t max)
{
    size_t n = 0;
    for (char *p = line; n < max;) {
        field[n++] = p;
        p = strchr(p, '\t');
        if (!p)
            break;
        *p++ = '\0';
    }
    return n;
}

/* One line of a cookie file: 1 stored, 0 skipped, AH_ENOMEM. */
static int load_line(ah_cookie_jar *jar, char *line, int64_t now_s)
{
    fields f = {0};
    if (strncmp(line, "#HttpOnly_", 10) == 0) {
        f.http_only = 1;
        line += 10;
    } else if (line[0] == '#') {
        return 0;
    }
    for (const unsigned char *p = (const unsigned char *)line; *p; p++)
        if (is_ctl(*p))
            return 0;
    char *field[8], empty[1] = "";
    size_t n = split_tabs(line, field, 8);
    if (n == 6) /* curl writes no value field for an empty value in some versions */
        field[n++] = empty;
    if (n != 7)
        return 0;
    char *domain = field[0];
    if (domain[0] == '.')
        domain++;
    for (char *p = domain; *p; p++)
        *p = lower(*p);
    if (!domain[0] || strlen(domain) > ATTR_VALUE_MAX)
        return 0;
    if (strcmp(field[1], "TRUE") == 0)
        f.host_only = 0;
    else if (strcmp(field[1], "FALSE") == 0)
        f.host_only = 1;
    else
        return 0;
    if (!f.host_only && is_public_suffix(domain))
        return 0; /* the public suffix rule holds for files too */
    if (field[2][0] != '/' || strlen(field[2]) > ATTR_VALUE_MAX)
        return 0;
    if (strcmp(field[3], "TRUE") == 0)
        f.secure = 1;
    else if (strcmp(field[3], "FALSE") != 0)
        return 0;
    char *end;
    errno = 0;
    long long expires = strtoll(field[4], &end, 10);
    if (!is_digit(field[4][0]) || *end || errno)
        return 0;
    if (expires == 0)
        f.expires = SESSION;
    else if (expires <= now_s)
        return 0; /* expired while on disk */
    else
        f.expires = expires < LATEST_EXPIRY ? expires : LATEST_EXPIRY;
    f.name = field[5];
    f.name_len = strlen(field[5]);
    f.value = field[6];
    f.value_len = strlen(field[6]);
    if (f.name_len == 0 || f.name_len + f.value_len > AH_COOKIE_MAX_BYTES)
        return 0;
    f.domain = domain;
    f.path = field[2];
    return store(jar, &f, now_s);
}

int ah_cookie_jar_load(ah_cookie_jar *jar, const char *path)
{
    if (!jar || !path)
        return AH_EINVAL;
    int use_stdin = strcmp(path, "-") == 0;
    FILE *fp = use_stdin ? stdin : fopen(path, "re");
    if (!fp)
        return -errno;
    char *line = malloc(FILE_LINE_MAX);
    if (!line) {
        if (!use_stdin)
            fclose(fp);
        return AH_ENOMEM;
    }
    int64_t now_s = (int64_t)time(NULL);
    int added = 0, rc = 0, skipping = 0;
    while (fgets(line, FILE_LINE_MAX, fp)) {
        size_t len = strlen(line);
        int whole = len && line[len - 1] == '\n';
        if (skipping || (!whole && !feof(fp))) {
            skipping = !whole; /* a line too long for any cookie we keep: skip all of it */
            continue;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        rc = load_line(jar, line, now_s);
        if (rc < 0)
            break;
        added += rc;
    }
    if (rc == 0 && ferror(fp))
        rc = -EIO;
    free(line);
    if (!use_stdin)
        fclose(fp);
    return rc < 0 ? rc : added;
}

static int write_cookies(const ah_cookie_jar *jar, FILE *fp, int64_t now_s)
{
    int written = 0;
    fputs("# Netscape HTTP Cookie File\n"
          "# https://curl.se/docs/http-cookies.html\n"
          "# This file was generated by ahttp. Edit at your own risk.\n\n",
          fp);
    for (size_t i = 0; i < jar->n; i++) {
        const cookie *c = jar->v[i];
        if (c->expires <= now_s)
            continue;
        fprintf(fp, "%s%s%s\t%s\t%s\t%s\t%lld\t%s\t%s\n", c->http_only ? "#HttpOnly_" : "",
                c->host_only ? "" : ".", c->domain, c->host_only ? "FALSE" : "TRUE", c->path,
                c->secure ? "TRUE" : "FALSE", c->expires == SESSION ? 0LL : (long long)c->expires,
                c->name, c->value);
        written++;
    }
    return written;
}

int ah_cookie_jar_save(const ah_cookie_jar *jar, const char *path)
{
    if (!jar || !path || !path[0])
        return AH_EINVAL;
    int64_t now_s = (int64_t)time(NULL);
    if (strcmp(path, "-") == 0) {
        int n = write_cookies(jar, stdout, now_s);
        return fflush(stdout) == 0 && !ferror(stdout) ? n : -EIO;
    }
    size_t len = strlen(path);
    char *tmp = malloc(len + 8);
    if (!tmp)
        return AH_ENOMEM;
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".XXXXXX", 8);
    int fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        int err = -errno;
        free(tmp);
        return err;
    }
    FILE *fp = fdopen(fd, "w");
    if (!fp) {
        int err = -errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        return err;
    }
    int n = write_cookies(jar, fp, now_s);
    int err = ferror(fp) ? -EIO : 0;
    if (fclose(fp) != 0 && !err)
        err = -errno;
    if (!err && rename(tmp, path) != 0)
        err = -errno;
    if (err)
        unlink(tmp);
    free(tmp);
    return err ? err : n;
}
