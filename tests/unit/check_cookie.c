/* The cookie jar: Set-Cookie parsing (attributes, Max-Age against Expires, every date format and
 * bad dates), the Domain rules (host-only and domain cookies, foreign domains, public suffixes,
 * IP addresses, internationalised host names), default paths and path matching, Secure over http
 * and the RFC 6265bis rules that guard it, expiry and deletion, the order of the Cookie header, the
 * limits, and Netscape cookie files: a save/load round trip and curl-written files with bad lines.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ahttp/cookie.h>

#include "checkutil.h"

static ah_url url_slots[8];

/* A parsed URL that lives until the next call with the same slot (eight slots, rotating). */
static const ah_url *U(const char *s)
{
    static int next;
    ah_url *u = &url_slots[next++ % 8];
    ah_url_free(u);
    ck_assert_msg(ah_url_parse(s, u) == 0, "bad test URL %s", s);
    return u;
}

static void free_urls(void)
{
    for (int i = 0; i < 8; i++)
        ah_url_free(&url_slots[i]);
}

/* The Cookie header for url at now_s, in a static buffer. */
static const char *header(ah_cookie_jar *jar, const char *url, int64_t now_s)
{
    static char buf[16384];
    int n = ah_cookie_jar_header(jar, U(url), now_s, buf, sizeof(buf));
    ck_assert_int_ge(n, 0);
    ck_assert_int_lt(n, (int)sizeof(buf));
    ck_assert_uint_eq(strlen(buf), (size_t)n);
    return buf;
}

static int set(ah_cookie_jar *jar, const char *url, const char *set_cookie, int64_t now_s)
{
    return ah_cookie_jar_set(jar, U(url), set_cookie, now_s);
}

/* The stored cookie called name (the first one), which must exist. */
static ah_cookie find(ah_cookie_jar *jar, const char *name)
{
    ah_cookie c;
    for (size_t i = 0; ah_cookie_jar_get(jar, i, &c) == 0; i++)
        if (strcmp(c.name, name) == 0)
            return c;
    ck_abort_msg("no cookie %s", name);
    return c;
}

static int has(ah_cookie_jar *jar, const char *name)
{
    ah_cookie c;
    for (size_t i = 0; ah_cookie_jar_get(jar, i, &c) == 0; i++)
        if (strcmp(c.name, name) == 0)
            return 1;
    return 0;
}

static ah_cookie_jar *jar_new(void)
{
    ah_cookie_jar *jar = ah_cookie_jar_new();
    ck_assert_ptr_nonnull(jar);
    return jar;
}

static void jar_free(ah_cookie_jar *jar)
{
    ah_cookie_jar_free(jar);
    free_urls();
}

#define NOW 1000000000 /* 2001-09-09 */

/* ---- parsing ---- */

START_TEST(test_name_value_and_attributes_are_parsed)
{
    ah_cookie_jar *jar = jar_new();
    ck_assert_int_eq(set(jar, "https://www.example.com/app/x",
                         "sid=abc123; Path=/; Secure; HttpOnly; SameSite=Lax", NOW),
                     1);
    ah_cookie c = find(jar, "sid");
    ck_assert_str_eq(c.value, "abc123");
    ck_assert_str_eq(c.domain, "www.example.com");
    ck_assert_str_eq(c.path, "/");
    ck_assert_int_eq(c.host_only, 1);
    ck_assert_int_eq(c.secure, 1);
    ck_assert_int_eq(c.http_only, 1);
    ck_assert_int_eq(c.same_site, AH_COOKIE_SAMESITE_LAX);
    ck_assert_int_eq(c.expires, 0); /* a session cookie */

    /* whitespace around everything, attribute names in any case, '=' inside the value */
    ck_assert_int_eq(
        set(jar, "http://h.example/", "  tok =  a=b=c  ; pAtH = /p ;sAmEsItE=STRICT", NOW), 1);
    c = find(jar, "tok");
    ck_assert_str_eq(c.value, "a=b=c");
    ck_assert_str_eq(c.path, "/p");
    ck_assert_int_eq(c.same_site, AH_COOKIE_SAMESITE_STRICT);
    ck_assert_int_eq(c.secure, 0);
    ck_assert_int_eq(c.http_only, 0);
    /* quotes are part of the value; an empty value is a value; unknown attributes are ignored */
    ck_assert_int_eq(set(jar, "http://h.example/", "q=\"quoted\"; Foo=bar; Priority=High", NOW), 1);
    ck_assert_str_eq(find(jar, "q").value, "\"quoted\"");
    ck_assert_int_eq(set(jar, "http://h.example/", "empty=; SameSite=None", NOW), 1);
    ck_assert_str_eq(find(jar, "empty").value, "");
    ck_assert_int_eq(find(jar, "empty").same_site, AH_COOKIE_SAMESITE_NONE);
    ck_assert_int_eq(set(jar, "http://h.example/", "ss=1; SameSite=sometimes", NOW), 1);
    ck_assert_int_eq(find(jar, "ss").same_site, AH_COOKIE_SAMESITE_UNSET);
    ck_assert_str_eq(header(jar, "http://h.example/p", NOW),
                     "tok=a=b=c; q=\"quoted\"; empty=; ss=1");
    jar_free(jar);
}
END_TEST

START_TEST(test_malformed_headers_are_ignored)
{
    ah_cookie_jar *jar = jar_new();
    static const char *const bad[] = {
        "justaname",        /* no '=' */
        "=value",           /* no name */
        "  =value; Path=/", /* a blank name */
        "a=b\x01",          /* a control character */
        "a=b; Path=/\x7f",  /* DEL, in an attribute too */
        "a=b\tc",           /* a tab inside the value */
        "",                 /* nothing */
        "; Secure",         /* attributes alone */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(set(jar, "http://h.example/", bad[i], NOW) == 0, "accepted \"%s\"", bad[i]);
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 0);
    /* name + value: 4096 bytes are kept, 4097 are not */
    char *big = malloc(AH_COOKIE_MAX_BYTES + 8);
    ck_assert_ptr_nonnull(big);
    memset(big, 'v', AH_COOKIE_MAX_BYTES + 2);
    memcpy(big, "n=", 2);
    big[AH_COOKIE_MAX_BYTES + 1] = '\0'; /* "n" + "=" + 4095 values: 4096 */
    ck_assert_int_eq(set(jar, "http://h.example/", big, NOW), 1);
    big[AH_COOKIE_MAX_BYTES + 1] = 'v';
    big[AH_COOKIE_MAX_BYTES + 2] = '\0';
    big[0] = 'm';
    ck_assert_int_eq(set(jar, "http://h.example/", big, NOW), 0);
    free(big);
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 1);
    /* bad arguments */
    ck_assert_int_eq(ah_cookie_jar_set(NULL, U("http://h/"), "a=b", NOW), AH_EINVAL);
    ck_assert_int_eq(ah_cookie_jar_set(jar, NULL, "a=b", NOW), AH_EINVAL);
    ck_assert_int_eq(ah_cookie_jar_set(jar, U("http://h/"), NULL, NOW), AH_EINVAL);
    ck_assert_int_eq(ah_cookie_jar_set(jar, U("mailto:x@y"), "a=b", NOW), AH_EINVAL);
    ck_assert_int_eq(ah_cookie_jar_header(NULL, U("http://h/"), NOW, NULL, 0), AH_EINVAL);
    jar_free(jar);
}
END_TEST

START_TEST(test_max_age_wins_over_expires)
{
    ah_cookie_jar *jar = jar_new();
    const char *u = "http://h.example/";
    /* in either order */
    ck_assert_int_eq(set(jar, u, "a=1; Max-Age=100; Expires=Sun, 06 Nov 1994 08:49:37 GMT", NOW),
                     1);
    ck_assert_int_eq(find(jar, "a").expires, NOW + 100);
    ck_assert_int_eq(set(jar, u, "b=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Max-Age=100", NOW),
                     1);
    ck_assert_int_eq(find(jar, "b").expires, NOW + 100);
    /* a malformed Max-Age is ignored: Expires decides */
    ck_assert_int_eq(set(jar, u, "c=1; Max-Age=12abc; Expires=Wed, 09 Jun 2021 10:18:14 GMT", NOW),
                     1);
    ck_assert_int_eq(find(jar, "c").expires, 1623233894);
    ck_assert_int_eq(set(jar, u, "d=1; Max-Age=+5", NOW), 1);
    ck_assert_int_eq(find(jar, "d").expires, 0);
    /* the last of each attribute wins */
    ck_assert_int_eq(set(jar, u, "e=1; Max-Age=5; Max-Age=50", NOW), 1);
    ck_assert_int_eq(find(jar, "e").expires, NOW + 50);
    /* an enormous Max-Age is capped, not overflowed */
    ck_assert_int_eq(set(jar, u, "f=1; Max-Age=99999999999999999999999", NOW), 1);
    ck_assert_int_eq(find(jar, "f").expires, INT64_C(253402300799));
    /* Max-Age <= 0 deletes, even with an Expires in the future */
    ck_assert_int_eq(set(jar, u, "a=1; Max-Age=0; Expires=Wed, 09 Jun 2100 10:18:14 GMT", NOW), 1);
    ck_assert_int_eq(has(jar, "a"), 0);
    ck_assert_int_eq(set(jar, u, "b=1; Max-Age=-1", NOW), 1);
    ck_assert_int_eq(has(jar, "b"), 0);
    /* deleting what is not there changes nothing */
    ck_assert_int_eq(set(jar, u, "zz=1; Max-Age=0", NOW), 0);
    ck_assert_str_eq(header(jar, u, NOW), "c=1; d=1; e=1; f=1");
    jar_free(jar);
}
END_TEST

START_TEST(test_expires_reads_every_date_format)
{
    static const struct {
        const char *date;
        int64_t epoch;
    } good[] = {
        {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777},  /* IMF-fixdate */
        {"Sunday, 06-Nov-94 08:49:37 GMT", 784111777}, /* RFC 850 */
        {"Sun Nov  6 08:49:37 1994", 784111777},       /* asctime */
        {"Sun, 06-Nov-1994 08:49:37 GMT", 784111777},  /* Netscape's own */
        {"06 nov 1994 08:49:37", 784111777},           /* no weekday, lower case */
        {"Thu, 06-Nov-69 08:49:37 GMT", 3150953377},   /* 69: 2069 */
        {"Fri, 06-Nov-70 08:49:37 GMT", 26729377},     /* 70: 1970 */
        {"Thu, 01 Jan 1970 00:00:01 GMT", 1},
        {"Tue, 29 Feb 2000 12:00:00 GMT", 951825600}, /* a leap day */
        {"Fri, 31 Dec 9999 23:59:59 GMT", INT64_C(253402300799)},
        {"Wed, 09 Jun 2021 10:18:14 GMT+02:00", 1623233894}, /* trailing junk in a token */
    };
    static const char *const bad[] = {
        "Mon, 30 Feb 2021 10:00:00 GMT", /* no such day */
        "Thu, 31 Jun 2021 10:00:00 GMT",
        "Wed, 29 Feb 2023 10:00:00 GMT", /* not a leap year */
        "Sun, 06 Nov 1994 24:00:00 GMT", /* hour */
        "Sun, 06 Nov 1994 08:60:00 GMT", /* minute */
        "Sun, 06 Nov 1994 08:49:60 GMT", /* second */
        "Sun, 06 Foo 1994 08:49:37 GMT", /* month */
        "Sun, 06 Nov 1600 08:49:37 GMT", /* before 1601 */
        "Sun, 06 Nov 08:49:37 GMT",      /* no year */
        "Sun, Nov 1994 08:49:37 GMT",    /* no day */
        "Sun, 06 Nov 1994 GMT",          /* no time */
        "Sun, 006 Nov 1994 08:49:37",    /* a three-digit day */
        "Sun, 06 Nov 19945 08:49:37",    /* a five-digit year */
        "tomorrow",
        "",
    };
    ah_cookie_jar *jar = jar_new();
    char hdr[256];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(hdr, sizeof(hdr), "g%zu=1; Expires=%s", i, good[i].date);
        /* "now" just before the date so that the cookie is kept */
        ck_assert_int_eq(set(jar, "http://h.example/", hdr, good[i].epoch - 1), 1);
        snprintf(hdr, sizeof(hdr), "g%zu", i);
        ck_assert_msg(find(jar, hdr).expires == good[i].epoch, "%s: %lld, want %lld", good[i].date,
                      (long long)find(jar, hdr).expires, (long long)good[i].epoch);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(hdr, sizeof(hdr), "b%zu=1; Expires=%s", i, bad[i]);
        ck_assert_int_eq(set(jar, "http://h.example/", hdr, NOW), 1);
        snprintf(hdr, sizeof(hdr), "b%zu", i);
        /* a date that is not one: the attribute is ignored, the cookie is a session cookie */
        ck_assert_msg(find(jar, hdr).expires == 0, "\"%s\" was read as %lld", bad[i],
                      (long long)find(jar, hdr).expires);
    }
    /* an Expires in the past: not stored, and it deletes */
    ck_assert_int_eq(
        set(jar, "http://h.example/", "old=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT", NOW), 0);
    ck_assert_int_eq(has(jar, "old"), 0);
    ck_assert_int_eq(
        set(jar, "http://h.example/", "b0=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT", NOW), 1);
    ck_assert_int_eq(has(jar, "b0"), 0);
    jar_free(jar);
}
END_TEST

/* ---- domains ---- */

START_TEST(test_domain_cookies_reach_subdomains_and_host_only_ones_do_not)
{
    ah_cookie_jar *jar = jar_new();
    const char *www = "http://www.example.com/";
    ck_assert_int_eq(set(jar, www, "host=1", NOW), 1);
    ck_assert_int_eq(set(jar, www, "dom=1; Domain=example.com", NOW), 1);
    ck_assert_int_eq(set(jar, www, "dot=1; Domain=.EXAMPLE.com", NOW), 1); /* dot and case */
    ck_assert_int_eq(set(jar, www, "self=1; Domain=www.example.com", NOW), 1);
    ck_assert_int_eq(set(jar, www, "blank=1; Domain=", NOW), 1); /* ignored: host-only */
    ah_cookie c = find(jar, "host");
    ck_assert_int_eq(c.host_only, 1);
    ck_assert_str_eq(c.domain, "www.example.com");
    c = find(jar, "dom");
    ck_assert_int_eq(c.host_only, 0);
    ck_assert_str_eq(c.domain, "example.com");
    c = find(jar, "dot");
    ck_assert_int_eq(c.host_only, 0);
    ck_assert_str_eq(c.domain, "example.com");
    c = find(jar, "self");
    ck_assert_int_eq(c.host_only, 0);
    ck_assert_str_eq(c.domain, "www.example.com");
    ck_assert_int_eq(find(jar, "blank").host_only, 1);

    ck_assert_str_eq(header(jar, "http://www.example.com/", NOW),
                     "host=1; dom=1; dot=1; self=1; blank=1");
    ck_assert_str_eq(header(jar, "http://WWW.Example.COM:8080/x", NOW), /* ports do not count */
                     "host=1; dom=1; dot=1; self=1; blank=1");
    ck_assert_str_eq(header(jar, "http://example.com/", NOW), "dom=1; dot=1");
    ck_assert_str_eq(header(jar, "http://a.b.example.com/", NOW), "dom=1; dot=1");
    ck_assert_str_eq(header(jar, "http://x.www.example.com/", NOW), "dom=1; dot=1; self=1");
    ck_assert_str_eq(header(jar, "http://notexample.com/", NOW), "");
    ck_assert_str_eq(header(jar, "http://example.org/", NOW), "");
    ck_assert_str_eq(header(jar, "http://com/", NOW), "");
    jar_free(jar);
}
END_TEST

START_TEST(test_foreign_and_top_level_domains_are_refused)
{
    ah_cookie_jar *jar = jar_new();
    const char *www = "http://www.example.com/";
    ck_assert_int_eq(set(jar, www, "a=1; Domain=other.com", NOW), 0);
    ck_assert_int_eq(set(jar, www, "a=1; Domain=ample.com", NOW), 0);           /* not at a dot */
    ck_assert_int_eq(set(jar, www, "a=1; Domain=sub.www.example.com", NOW), 0); /* below */
    ck_assert_int_eq(set(jar, www, "a=1; Domain=com", NOW), 0);                 /* a bare TLD */
    ck_assert_int_eq(set(jar, www, "a=1; Domain=.com", NOW), 0);
    ck_assert_int_eq(set(jar, www, "a=1; Domain=example.com.", NOW), 0); /* trailing dot */
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 0);
    /* a dotless host naming itself is fine: a host-only cookie */
    ck_assert_int_eq(set(jar, "http://localhost:8080/", "l=1; Domain=localhost", NOW), 1);
    ck_assert_int_eq(find(jar, "l").host_only, 1);
    ck_assert_str_eq(header(jar, "http://localhost/", NOW), "l=1");
    /* IP addresses: only themselves, never a suffix */
    ck_assert_int_eq(set(jar, "http://127.0.0.1/", "ip=1; Domain=127.0.0.1", NOW), 1);
    ck_assert_int_eq(find(jar, "ip").host_only, 1);
    ck_assert_int_eq(set(jar, "http://127.0.0.1/", "ip2=1; Domain=0.0.1", NOW), 0);
    ck_assert_int_eq(set(jar, "http://[::1]:81/", "v6=1", NOW), 1);
    ck_assert_str_eq(find(jar, "v6").domain, "::1");
    ck_assert_str_eq(header(jar, "http://127.0.0.1:9/", NOW), "ip=1");
    ck_assert_str_eq(header(jar, "http://[::1]/", NOW), "v6=1");
    ck_assert_str_eq(header(jar, "http://1.127.0.0.1/", NOW), "");
    jar_free(jar);
}
END_TEST

/* A Domain that is a public suffix would reach every site under it: refused, from the ICANN
 * section of the list (co.uk) and the private one (github.io) alike. */
START_TEST(test_public_suffix_domains_are_refused)
{
    ah_cookie_jar *jar = jar_new();
    const char *www = "http://www.example.co.uk/";
    ck_assert_int_eq(set(jar, www, "a=1; Domain=co.uk", NOW), 0);
    ck_assert_int_eq(set(jar, www, "a=1; Domain=.CO.UK", NOW), 0);
    ck_assert_int_eq(set(jar, www, "a=1; Domain=uk", NOW), 0);
    ck_assert_int_eq(set(jar, "http://example.com/", "a=1; Domain=com", NOW), 0);
    ck_assert_int_eq(set(jar, "https://user.github.io/", "a=1; Domain=github.io", NOW), 0);
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 0);
    ck_assert_str_eq(header(jar, "http://other.co.uk/", NOW), "");

    /* one label more than the suffix is a registrable domain */
    ck_assert_int_eq(set(jar, www, "reg=1; Domain=example.co.uk", NOW), 1);
    ah_cookie c = find(jar, "reg");
    ck_assert_int_eq(c.host_only, 0);
    ck_assert_str_eq(c.domain, "example.co.uk");
    ck_assert_int_eq(set(jar, "https://user.github.io/", "gh=1; Domain=user.github.io", NOW), 1);
    ck_assert_str_eq(header(jar, "http://example.co.uk/", NOW), "reg=1");
    ck_assert_str_eq(header(jar, "http://other.co.uk/", NOW), "");
    ck_assert_str_eq(header(jar, "https://other.github.io/", NOW), "");
    ck_assert_str_eq(header(jar, "https://a.user.github.io/", NOW), "gh=1");
    jar_free(jar);
}
END_TEST

/* RFC 6265 §5.3 step 5: a public suffix that is the request host itself gets a host-only
 * cookie, never one for the sites under it. IP addresses are no public suffix. */
START_TEST(test_public_suffix_naming_itself_gets_a_host_only_cookie)
{
    ah_cookie_jar *jar = jar_new();
    ck_assert_int_eq(set(jar, "http://co.uk/", "self=1; Domain=co.uk", NOW), 1);
    ah_cookie c = find(jar, "self");
    ck_assert_int_eq(c.host_only, 1);
    ck_assert_str_eq(c.domain, "co.uk");
    ck_assert_str_eq(header(jar, "http://co.uk/", NOW), "self=1");
    ck_assert_str_eq(header(jar, "http://www.example.co.uk/", NOW), "");

    ck_assert_int_eq(set(jar, "http://10.0.0.1/", "ip=1; Domain=10.0.0.1", NOW), 1);
    ck_assert_int_eq(find(jar, "ip").host_only, 1);
    ck_assert_int_eq(set(jar, "http://10.0.0.1/", "ip2=1; Domain=0.0.1", NOW), 0);
    ck_assert_int_eq(set(jar, "http://10.0.0.1/", "ip3=1", NOW), 1);
    ck_assert_int_eq(set(jar, "http://[2001:db8::1]/", "v6=1; Domain=2001:db8::1", NOW), 1);
    ck_assert_int_eq(find(jar, "v6").host_only, 1);
    ck_assert_str_eq(header(jar, "http://10.0.0.1:8080/", NOW), "ip=1; ip3=1");
    ck_assert_str_eq(header(jar, "http://[2001:DB8::1]/", NOW), "v6=1");
    jar_free(jar);
}
END_TEST

/* Cookies are matched on the ASCII host ah_url_parse makes of an internationalised one. */
START_TEST(test_internationalised_hosts_match_in_ascii)
{
    ah_cookie_jar *jar = jar_new();
    ck_assert_int_eq(set(jar, "http://www.bücher.example/", "h=1", NOW), 1);
    ck_assert_int_eq(
        set(jar, "http://www.bücher.example/", "d=1; Domain=xn--bcher-kva.example", NOW), 1);
    ck_assert_str_eq(find(jar, "h").domain, "www.xn--bcher-kva.example");
    ck_assert_str_eq(header(jar, "http://WWW.BÜCHER.example/", NOW), "h=1; d=1");
    ck_assert_str_eq(header(jar, "http://www.xn--bcher-kva.example/", NOW), "h=1; d=1");
    ck_assert_str_eq(header(jar, "http://bücher.example/", NOW), "d=1");
    jar_free(jar);
}
END_TEST

/* ---- paths ---- */

START_TEST(test_default_path_and_path_matching)
{
    ah_cookie_jar *jar = jar_new();
    ck_assert_int_eq(set(jar, "http://h.example/a/b/c.html?x=/y/z", "dflt=1", NOW), 1);
    ck_assert_str_eq(find(jar, "dflt").path, "/a/b");
    ck_assert_int_eq(set(jar, "http://h.example/top", "root=1", NOW), 1);
    ck_assert_str_eq(find(jar, "root").path, "/");
    ck_assert_int_eq(set(jar, "http://h.example", "empty=1", NOW), 1);
    ck_assert_str_eq(find(jar, "empty").path, "/");
    ck_assert_int_eq(set(jar, "http://h.example/a/b/c", "rel=1; Path=docs", NOW), 1);
    ck_assert_str_eq(find(jar, "rel").path, "/a/b"); /* not starting with '/': the default */
    ck_assert_int_eq(set(jar, "http://h.example/", "slash=1; Path=/p/", NOW), 1);
    ck_assert_str_eq(find(jar, "slash").path, "/p/");

    ck_assert_str_eq(header(jar, "http://h.example/a/b", NOW), "dflt=1; rel=1; root=1; empty=1");
    ck_assert_str_eq(header(jar, "http://h.example/a/b/", NOW), "dflt=1; rel=1; root=1; empty=1");
    ck_assert_str_eq(header(jar, "http://h.example/a/b/x/y", NOW),
                     "dflt=1; rel=1; root=1; empty=1");
    ck_assert_str_eq(header(jar, "http://h.example/a/bc", NOW), "root=1; empty=1");
    ck_assert_str_eq(header(jar, "http://h.example/a", NOW), "root=1; empty=1");
    ck_assert_str_eq(header(jar, "http://h.example", NOW), "root=1; empty=1");
    ck_assert_str_eq(header(jar, "http://h.example/p/", NOW), "slash=1; root=1; empty=1");
    ck_assert_str_eq(header(jar, "http://h.example/p/q", NOW), "slash=1; root=1; empty=1");
    ck_assert_str_eq(header(jar, "http://h.example/p", NOW), "root=1; empty=1");
    /* same name, other path: two cookies */
    ck_assert_int_eq(set(jar, "http://h.example/", "dflt=2; Path=/", NOW), 1);
    ck_assert_str_eq(header(jar, "http://h.example/a/b", NOW),
                     "dflt=1; rel=1; root=1; empty=1; dflt=2");
    jar_free(jar);
}
END_TEST

/* ---- Secure ---- */

START_TEST(test_secure_cookies_need_https)
{
    ah_cookie_jar *jar = jar_new();
    /* not from a plain http response */
    ck_assert_int_eq(set(jar, "http://h.example/", "s=1; Secure", NOW), 0);
    ck_assert_int_eq(set(jar, "https://h.example/", "s=1; Secure", NOW), 1);
    ck_assert_int_eq(set(jar, "https://h.example/", "p=1", NOW), 1);
    ck_assert_str_eq(header(jar, "https://h.example/", NOW), "s=1; p=1");
    ck_assert_str_eq(header(jar, "http://h.example/", NOW), "p=1");
    /* a plain-http cookie may not replace or shadow a Secure one (RFC 6265bis §5.7) */
    ck_assert_int_eq(set(jar, "http://h.example/", "s=2", NOW), 0);
    ck_assert_int_eq(set(jar, "http://h.example/", "s=2; Path=/deeper", NOW), 0);
    ck_assert_int_eq(set(jar, "http://www.h.example/", "s=2; Domain=h.example", NOW), 0);
    ck_assert_int_eq(set(jar, "https://h.example/", "s=2", NOW), 1); /* https may */
    ck_assert_int_eq(find(jar, "s").secure, 0);
    /* the name prefixes */
    ck_assert_int_eq(set(jar, "https://h.example/", "__Secure-a=1", NOW), 0);
    ck_assert_int_eq(set(jar, "https://h.example/", "__Secure-a=1; Secure", NOW), 1);
    ck_assert_int_eq(set(jar, "https://h.example/", "__Host-b=1; Secure", NOW), 0); /* no Path */
    ck_assert_int_eq(set(jar, "https://h.example/", "__Host-b=1; Secure; Path=/x", NOW), 0);
    ck_assert_int_eq(
        set(jar, "https://www.h.example/", "__Host-b=1; Secure; Path=/; Domain=h.example", NOW), 0);
    ck_assert_int_eq(set(jar, "https://h.example/", "__Host-b=1; Secure; Path=/", NOW), 1);
    ck_assert_int_eq(find(jar, "__Host-b").host_only, 1);
    jar_free(jar);
}
END_TEST

/* ---- expiry, order ---- */

START_TEST(test_expiry_drops_cookies_and_replacing_keeps_the_place)
{
    ah_cookie_jar *jar = jar_new();
    const char *u = "http://h.example/";
    ck_assert_int_eq(set(jar, u, "short=1; Max-Age=10", 1000), 1);
    ck_assert_int_eq(set(jar, u, "long=1; Max-Age=1000", 1000), 1);
    ck_assert_int_eq(set(jar, u, "session=1", 1000), 1);
    ck_assert_str_eq(header(jar, u, 1009), "short=1; long=1; session=1");
    ck_assert_str_eq(header(jar, u, 1010), "long=1; session=1"); /* at its expiry it is gone */
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 2);              /* and dropped from the jar */
    /* a replacement keeps the creation time: still first among equal paths */
    ck_assert_int_eq(set(jar, u, "long=2", 1100), 1);
    ck_assert_str_eq(header(jar, u, 1100), "long=2; session=1");
    ck_assert_int_eq(find(jar, "long").expires, 0); /* and takes the new attributes */
    /* a deletion matches name, domain and path */
    ck_assert_int_eq(set(jar, u, "long=; Max-Age=0; Path=/other", 1100), 0);
    ck_assert_int_eq(set(jar, "http://x.h.example/", "long=; Max-Age=0", 1100), 0);
    ck_assert_int_eq(set(jar, u, "long=; Expires=Thu, 01 Jan 1970 00:00:01 GMT", 1100), 1);
    ck_assert_str_eq(header(jar, u, 1100), "session=1");
    jar_free(jar);
}
END_TEST

START_TEST(test_header_puts_longer_paths_first_then_older)
{
    ah_cookie_jar *jar = jar_new();
    ck_assert_int_eq(set(jar, "http://h.example/", "x=1; Path=/", NOW), 1);
    ck_assert_int_eq(set(jar, "http://h.example/", "z=1; Path=/a", NOW), 1);
    ck_assert_int_eq(set(jar, "http://h.example/", "y=1; Path=/a/b", NOW), 1);
    ck_assert_int_eq(set(jar, "http://h.example/", "w=1; Path=/a", NOW), 1);
    ck_assert_int_eq(set(jar, "http://h.example/", "v=1; Path=/", NOW), 1);
    ck_assert_str_eq(header(jar, "http://h.example/a/b/c", NOW), "y=1; z=1; w=1; x=1; v=1");

    /* snprintf-like: the full length, whole pairs only in a short buffer */
    char small[12];
    int n = ah_cookie_jar_header(jar, U("http://h.example/a/b/c"), NOW, small, sizeof(small));
    ck_assert_int_eq(n, (int)strlen("y=1; z=1; w=1; x=1; v=1"));
    ck_assert_str_eq(small, "y=1; z=1");
    ck_assert_int_eq(ah_cookie_jar_header(jar, U("http://h.example/a/b/c"), NOW, NULL, 0), n);
    char one[1] = {'?'};
    ck_assert_int_eq(ah_cookie_jar_header(jar, U("http://h.example/a/b/c"), NOW, one, 1), n);
    ck_assert_int_eq(one[0], '\0');
    /* more matches than the header keeps on its stack */
    ah_cookie_jar_set_limits(jar, 0, 100);
    for (int i = 0; i < 70; i++) {
        char h[32];
        snprintf(h, sizeof(h), "m%02d=%d", i, i);
        ck_assert_int_eq(set(jar, "http://many.example/", h, NOW), 1);
    }
    const char *all = header(jar, "http://many.example/", NOW);
    ck_assert_int_eq(strncmp(all, "m00=0; m01=1; ", 14), 0);
    ck_assert_int_eq(strcmp(all + strlen(all) - 8, "; m69=69"), 0);
    /* lower limits apply when the next cookie comes */
    ah_cookie_jar_set_limits(jar, 0, 50);
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 75);
    ck_assert_int_eq(set(jar, "http://many.example/", "extra=1", NOW), 1);
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 55);
    all = header(jar, "http://many.example/", NOW);
    ck_assert_int_eq(strncmp(all, "m21=21; m22=22; ", 16), 0);
    ck_assert_int_eq(strcmp(all + strlen(all) - 9, "; extra=1"), 0);
    jar_free(jar);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_limits_evict_expired_then_oldest)
{
    ah_cookie_jar *jar = jar_new();
    ah_cookie_jar_set_limits(jar, 10, 3);
    /* per domain: the fourth evicts the oldest of that domain only */
    ck_assert_int_eq(set(jar, "http://other.example/", "keep=1", NOW), 1);
    for (int i = 1; i <= 4; i++) {
        char h[16];
        snprintf(h, sizeof(h), "a%d=1", i);
        ck_assert_int_eq(set(jar, "http://a.example/", h, NOW), 1);
    }
    ck_assert_str_eq(header(jar, "http://a.example/", NOW), "a2=1; a3=1; a4=1");
    ck_assert_int_eq(has(jar, "keep"), 1);
    /* an expired cookie of the domain goes before the oldest live one */
    ck_assert_int_eq(set(jar, "http://b.example/", "b1=1", NOW), 1);
    ck_assert_int_eq(set(jar, "http://b.example/", "b2=1; Max-Age=5", NOW), 1);
    ck_assert_int_eq(set(jar, "http://b.example/", "b3=1", NOW), 1);
    ck_assert_int_eq(set(jar, "http://b.example/", "b4=1", NOW + 10), 1);
    ck_assert_str_eq(header(jar, "http://b.example/", NOW + 10), "b1=1; b3=1; b4=1");
    /* in all: 10, the oldest of the whole jar goes */
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 7);
    for (int i = 1; i <= 4; i++) {
        char u[32];
        snprintf(u, sizeof(u), "http://c%d.example/", i);
        ck_assert_int_eq(set(jar, u, "c=1", NOW + 10), 1);
    }
    ck_assert_uint_eq(ah_cookie_jar_count(jar), 10);
    ck_assert_int_eq(has(jar, "keep"), 0); /* the oldest */
    ck_assert_int_eq(has(jar, "a2"), 1);
    jar_free(jar);

    /* the defaults: 3000 in all, 50 per domain */
    jar = jar_new();
    char u[64], h[64];
    for (int i = 0; i < 4000; i++) {
        snprintf(u, sizeof(u), "http://d%d.example/", i % 100);
        snprintf(h, sizeof(h), "n%d=%d", i, i);
        ck_assert_int_eq(set(jar, u, h, NOW), 1);
    }
    ck_assert_uint_eq(ah_cookie_jar_count(jar), AH_COOKIE_JAR_MAX_COOKIES);
    ck_assert_int_eq(has(jar, "n999"), 0);
    ck_assert_int_eq(has(jar, "n1000"), 1);
    for (int i = 0; i < 60; i++) {
        snprintf(h, sizeof(h), "one%d=%d", i, i);
        ck_assert_int_eq(set(jar, "http://one.example/", h, NOW), 1);
    }
    ck_assert_uint_eq(ah_cookie_jar_count(jar), AH_COOKIE_JAR_MAX_COOKIES);
    size_t on_one = 0;
    ah_cookie c;
    for (size_t i = 0; ah_cookie_jar_get(jar, i, &c) == 0; i++)
        on_one += strcmp(c.domain, "one.example") == 0;
    ck_assert_uint_eq(on_one, AH_COOKIE_JAR_MAX_PER_DOMAIN);
    ck_assert_int_eq(has(jar, "one9"), 0);
    ck_assert_int_eq(has(jar, "one10"), 1);
    jar_free(jar);
}
END_TEST

/* ---- cookie files ---- */

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char path[128];
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_cookie.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    }
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return path;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void remove_tmp(const char *name)
{
    unlink(tmp_path(name));
    rmdir(tmpdir);
    tmpdir[0] = '\0'; /* the next test (in the same process without fork) makes another */
}

START_TEST(test_save_and_load_round_trip)
{
    int64_t now = (int64_t)time(NULL);
    ah_cookie_jar *jar = jar_new();
    char h[128];
    snprintf(h, sizeof(h), "persist=p1; Max-Age=%d", 3600);
    ck_assert_int_eq(set(jar, "http://www.example.com/app/page", h, now), 1);
    ck_assert_int_eq(set(jar, "http://www.example.com/",
                         "dom=d1; Domain=example.com; HttpOnly; "
                         "Max-Age=7200",
                         now),
                     1);
    ck_assert_int_eq(set(jar, "https://www.example.com/", "sess=s1; Secure; HttpOnly", now), 1);
    ck_assert_int_eq(set(jar, "http://www.example.com/", "gone=1; Max-Age=1", now - 10), 1);
    ck_assert_int_eq(set(jar, "http://127.0.0.1:8080/", "ip=i1; Path=/", now), 1);
    const char *path = tmp_path("jar.txt");
    ck_assert_int_eq(ah_cookie_jar_save(jar, path), 4); /* not the expired one */

    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    const char *text = read_file(path);
    ck_assert_msg(strncmp(text, "# Netscape HTTP Cookie File\n", 28) == 0, "%s", text);
    char line[256];
    snprintf(line, sizeof(line), "\nwww.example.com\tFALSE\t/app\tFALSE\t%lld\tpersist\tp1\n",
             (long long)now + 3600);
    ck_assert_msg(strstr(text, line), "no line %s in\n%s", line, text);
    snprintf(line, sizeof(line), "\n#HttpOnly_.example.com\tTRUE\t/\tFALSE\t%lld\tdom\td1\n",
             (long long)now + 7200);
    ck_assert_msg(strstr(text, line), "no line %s in\n%s", line, text);
    ck_assert_ptr_nonnull(
        strstr(text, "\n#HttpOnly_www.example.com\tFALSE\t/\tTRUE\t0\tsess\ts1\n"));
    ck_assert_ptr_nonnull(strstr(text, "\n127.0.0.1\tFALSE\t/\tFALSE\t0\tip\ti1\n"));
    ck_assert_ptr_null(strstr(text, "gone"));

    ah_cookie_jar *back = jar_new();
    ck_assert_int_eq(ah_cookie_jar_load(back, path), 4);
    ck_assert_uint_eq(ah_cookie_jar_count(back), 4);
    static const char *const names[] = {"persist", "dom", "sess", "ip"};
    for (size_t i = 0; i < 4; i++) {
        ah_cookie a = find(jar, names[i]), b = find(back, names[i]);
        ck_assert_str_eq(a.value, b.value);
        ck_assert_str_eq(a.domain, b.domain);
        ck_assert_str_eq(a.path, b.path);
        ck_assert_int_eq(a.expires, b.expires);
        ck_assert_int_eq(a.host_only, b.host_only);
        ck_assert_int_eq(a.secure, b.secure);
        ck_assert_int_eq(a.http_only, b.http_only);
    }
    static const char *const urls[] = {"http://www.example.com/app/x", "https://www.example.com/",
                                       "http://a.example.com/", "http://127.0.0.1/"};
    for (size_t i = 0; i < 4; i++) {
        char want[256];
        snprintf(want, sizeof(want), "%s", header(jar, urls[i], now));
        ck_assert_str_eq(header(back, urls[i], now), want);
    }
    /* loading again replaces (same name, domain, path): no duplicates */
    ck_assert_int_eq(ah_cookie_jar_load(back, path), 4);
    ck_assert_uint_eq(ah_cookie_jar_count(back), 4);
    /* saving over an existing file replaces it */
    ck_assert_int_eq(
        set(back, "http://www.example.com/", "dom=; Domain=example.com; Max-Age=0", now), 1);
    ck_assert_int_eq(ah_cookie_jar_save(back, path), 3);
    ck_assert_ptr_null(strstr(read_file(path), "\tdom\t"));
    ah_cookie_jar_free(back);
    jar_free(jar);
    remove_tmp("jar.txt");
}
END_TEST

START_TEST(test_load_reads_curl_files_and_skips_bad_lines)
{
    int64_t now = (int64_t)time(NULL);
    long long later = (long long)now + 86400;
    char *text = malloc(16384);
    ck_assert_ptr_nonnull(text);
    int n = snprintf(text, 16384,
                     "# Netscape HTTP Cookie File\n"
                     "# https://curl.se/docs/http-cookies.html\n"
                     "# This file was generated by libcurl! Edit at your own risk.\n"
                     "\n"
                     "example.com\tFALSE\t/\tFALSE\t%lld\tplain\tv1\n"
                     "#HttpOnly_.example.com\tTRUE\t/api\tTRUE\t0\thttponly\tv2\r\n" /* CRLF too */
                     ".EXAMPLE.com\tTRUE\t/\tFALSE\t%lld\tempty\n"      /* six fields */
                     "example.com\tFALSE\t/\tFALSE\n"                   /* too few fields */
                     "example.com\tMAYBE\t/\tFALSE\t0\tbad2\tv\n"       /* flag */
                     "example.com\tFALSE\t/\tYES\t0\tbad3\tv\n"         /* flag */
                     "example.com\tFALSE\t/\tFALSE\tsoon\tbad4\tv\n"    /* expiry */
                     "example.com\tFALSE\t/\tFALSE\t-5\tbad5\tv\n"      /* expiry */
                     "example.com\tFALSE\t/\tFALSE\t1000\told\tv\n"     /* expired */
                     "example.com\tFALSE\tnoslash\tFALSE\t0\tbad6\tv\n" /* path */
                     ".com\tTRUE\t/\tFALSE\t0\ttld\tv\n"                /* a bare TLD */
                     ".co.uk\tTRUE\t/\tFALSE\t0\tsuffix\tv\n"           /* a public suffix */
                     "example.com\tFALSE\t/\tFALSE\t0\t\tv\n"           /* no name */
                     "\tFALSE\t/\tFALSE\t0\tnodomain\tv\n"              /* no domain */
                     "example.com\tFALSE\t/\tFALSE\t0\ta\tb\tc\n"       /* eight fields */
                     "# a comment\tFALSE\t/\tFALSE\t0\tcomment\tv\n",
                     later, later);
    ck_assert_int_lt(n, 16384 - 10000);
    /* and a line far too long for any cookie we keep, then one more good line */
    char *p = text + n;
    static const char long_start[] = "example.com\tFALSE\t/\tFALSE\t0\tlong\t";
    memcpy(p, long_start, strlen(long_start));
    p += strlen(long_start);
    memset(p, 'x', 9000);
    p += 9000;
    strcpy(p, "\nexample.com\tFALSE\t/\tFALSE\t0\tlast\tv9");
    const char *path = tmp_path("curl.txt");
    write_file(path, text);
    free(text);

    ah_cookie_jar *jar = jar_new();
    ck_assert_int_eq(ah_cookie_jar_load(jar, path), 4);
    ah_cookie c = find(jar, "plain");
    ck_assert_str_eq(c.value, "v1");
    ck_assert_int_eq(c.host_only, 1);
    ck_assert_int_eq(c.expires, later);
    c = find(jar, "httponly");
    ck_assert_str_eq(c.value, "v2");
    ck_assert_str_eq(c.domain, "example.com");
    ck_assert_str_eq(c.path, "/api");
    ck_assert_int_eq(c.host_only, 0);
    ck_assert_int_eq(c.secure, 1);
    ck_assert_int_eq(c.http_only, 1);
    ck_assert_int_eq(c.expires, 0);
    c = find(jar, "empty");
    ck_assert_str_eq(c.value, "");
    ck_assert_str_eq(c.domain, "example.com");
    ck_assert_str_eq(find(jar, "last").value, "v9");
    ck_assert_str_eq(header(jar, "https://www.example.com/api/v1", now), "httponly=v2; empty=");
    ck_assert_str_eq(header(jar, "http://example.com/", now), "plain=v1; empty=; last=v9");

    ck_assert_int_eq(ah_cookie_jar_load(jar, tmp_path("missing.txt")), -ENOENT);
    ck_assert_int_eq(ah_cookie_jar_save(jar, "/nonexistent-dir/jar.txt"), -ENOENT);
    ck_assert_int_eq(ah_cookie_jar_load(NULL, path), AH_EINVAL);
    jar_free(jar);
    remove_tmp("curl.txt");
}
END_TEST

static Suite *cookie_suite(void)
{
    Suite *s = suite_create("cookie");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_name_value_and_attributes_are_parsed);
    tcase_add_test(tc, test_malformed_headers_are_ignored);
    tcase_add_test(tc, test_max_age_wins_over_expires);
    tcase_add_test(tc, test_expires_reads_every_date_format);
    suite_add_tcase(s, tc);
    tc = tcase_create("match");
    tcase_add_test(tc, test_domain_cookies_reach_subdomains_and_host_only_ones_do_not);
    tcase_add_test(tc, test_foreign_and_top_level_domains_are_refused);
    tcase_add_test(tc, test_public_suffix_domains_are_refused);
    tcase_add_test(tc, test_public_suffix_naming_itself_gets_a_host_only_cookie);
    tcase_add_test(tc, test_internationalised_hosts_match_in_ascii);
    tcase_add_test(tc, test_default_path_and_path_matching);
    tcase_add_test(tc, test_secure_cookies_need_https);
    suite_add_tcase(s, tc);
    tc = tcase_create("store");
    tcase_add_test(tc, test_expiry_drops_cookies_and_replacing_keeps_the_place);
    tcase_add_test(tc, test_header_puts_longer_paths_first_then_older);
    tcase_add_test(tc, test_limits_evict_expired_then_oldest);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_test(tc, test_save_and_load_round_trip);
    tcase_add_test(tc, test_load_reads_curl_files_and_skips_bad_lines);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(cookie_suite()); }
