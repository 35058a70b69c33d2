/* The crawler's plain parts (apps/crawl): robots.txt parsing and matching (group choice,
 * wildcards, '$', longest match, Allow on ties, Crawl-delay, empty files), URL normalisation and
 * the seen set, link extraction from awkward HTML with gumbo, the spill file's FIFO order, the
 * frontier's bound on memory (--frontier-mem), and resuming from and compacting the --state
 * log. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../apps/crawl/crawler.h"
#include "checkutil.h"

/* main.c's, which this suite does not link */
volatile sig_atomic_t stop_requested;

#define UA "ahttp-crawl/0.1"

static crawl_robots *robots(const char *text)
{
    crawl_robots *r = crawl_robots_parse(text, strlen(text), UA);
    ck_assert_ptr_nonnull(r);
    return r;
}

START_TEST(test_robots_star_group_applies_without_a_specific_one)
{
    crawl_robots *r = robots("User-agent: *\nDisallow: /private/\n\nUser-agent: otherbot\n"
                             "Disallow: /\n");
    ck_assert_int_eq(crawl_robots_allowed(r, "/"), 1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/public/x.html"), 1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/private/"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/private/a?b=1"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/privatex"), 1);
    crawl_robots_free(r);
}
END_TEST

START_TEST(test_robots_most_specific_group_wins)
{
    /* our own group replaces '*' entirely (it is not merged with it) */
    crawl_robots *r = robots("User-agent: *\nDisallow: /\n\n"
                             "User-agent: ahttp\nDisallow: /short/\n\n"
                             "User-Agent: AHTTP-Crawl\nDisallow: /mine/\n");
    ck_assert_int_eq(crawl_robots_allowed(r, "/"), 1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/short/x"), 1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/mine/x"), 0);
    crawl_robots_free(r);
    /* a group with several User-agent lines, and two groups for us are merged */
    r = robots("User-agent: a\nUser-agent: ahttp-crawl\nDisallow: /one\n"
               "User-agent: b\nDisallow: /other\n"
               "User-agent: ahttp-crawl\nDisallow: /two\n");
    ck_assert_int_eq(crawl_robots_allowed(r, "/one"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/two"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/other"), 1);
    crawl_robots_free(r);
    /* no group for us and no '*': everything allowed */
    r = robots("User-agent: otherbot\nDisallow: /\n");
    ck_assert_int_eq(crawl_robots_allowed(r, "/x"), 1);
    crawl_robots_free(r);
}
END_TEST

START_TEST(test_robots_wildcards_and_end_anchor)
{
    crawl_robots *r = robots("User-agent: *\nDisallow: /*.php$\nDisallow: /a*/b\n"
                             "Disallow: /exact$\nDisallow: /*?session=\n");
    ck_assert_int_eq(crawl_robots_allowed(r, "/index.php"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/dir/index.php"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/index.php?x=1"), 1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/index.phps"), 1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/abc/b"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/a/b/c"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/a/c"), 1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/exact"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/exactly"), 1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/x?session=42"), 0);
    crawl_robots_free(r);
}
END_TEST

/* Patterns are compared in the form the crawler writes URLs in (RFC 9309 §2.2.2): "%7E" is "~",
 * escapes are upper case, raw UTF-8 is escaped. */
START_TEST(test_robots_patterns_are_percent_normalised)
{
    crawl_robots *r = robots("User-agent: *\nDisallow: /%7euser/\nDisallow: /caf\xc3\xa9\n"
                             "Disallow: /a%2fb\nDisallow: /sp ace\n");
    ck_assert_int_eq(crawl_robots_allowed(r, "/~user/page"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/caf%C3%A9/menu"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/a%2Fb"), 0); /* an escaped '/' stays escaped */
    ck_assert_int_eq(crawl_robots_allowed(r, "/a/b"), 1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/sp%20ace"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/cafe"), 1);
    crawl_robots_free(r);
}
END_TEST

START_TEST(test_robots_longest_match_wins_and_allow_wins_ties)
{
    crawl_robots *r = robots("User-agent: *\nDisallow: /folder/\nAllow: /folder/page\n"
                             "Allow: /tie\nDisallow: /tie\n"
                             "Allow: /p\nDisallow: /p*x\n");
    ck_assert_int_eq(crawl_robots_allowed(r, "/folder/other"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/folder/page.html"), 1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/tie/x"), 1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/pax"), 0); /* "/p*x" is longer than "/p" */
    ck_assert_int_eq(crawl_robots_allowed(r, "/pa"), 1);
    crawl_robots_free(r);
}
END_TEST

START_TEST(test_robots_crawl_delay_comments_and_odd_lines)
{
    crawl_robots *r = robots("\xEF\xBB\xBF# comment\r\nUser-agent: * # all\r\n"
                             "Crawl-delay: 1.5\r\nDisallow: /x # not /x/y? yes, prefix\r\n"
                             "Sitemap: http://example.com/s.xml\r\nnonsense line\r\n"
                             "Disallow:\r\n");
    ck_assert_int_eq(crawl_robots_delay_ms(r), 1500);
    ck_assert_int_eq(crawl_robots_allowed(r, "/x/y"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/y"), 1);
    crawl_robots_free(r);
    r = robots("User-agent: *\nDisallow: /\n");
    ck_assert_int_eq(crawl_robots_delay_ms(r), -1);
    ck_assert_int_eq(crawl_robots_allowed(r, "/anything"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/robots.txt"), 1);
    crawl_robots_free(r);
}
END_TEST

START_TEST(test_robots_empty_missing_and_unreachable)
{
    crawl_robots *r = robots("");
    ck_assert_int_eq(crawl_robots_allowed(r, "/"), 1);
    crawl_robots_free(r);
    r = robots("User-agent: *\nDisallow:\n"); /* empty Disallow allows all */
    ck_assert_int_eq(crawl_robots_allowed(r, "/a"), 1);
    crawl_robots_free(r);
    r = crawl_robots_allow_all(); /* a 404 robots.txt */
    ck_assert_int_eq(crawl_robots_allowed(r, "/private/"), 1);
    crawl_robots_free(r);
    r = crawl_robots_disallow_all(); /* a 5xx or a timeout */
    ck_assert_int_eq(crawl_robots_allowed(r, "/"), 0);
    ck_assert_int_eq(crawl_robots_allowed(r, "/index.html"), 0);
    crawl_robots_free(r);
}
END_TEST

static void assert_canonical(const char *in, const char *want)
{
    char *out;
    int rc = crawl_url_canonical(in, &out);
    ck_assert_msg(rc == 0, "%s: rc %d", in, rc);
    ck_assert_str_eq(out, want);
    free(out);
}

START_TEST(test_normalize_cases)
{
    assert_canonical("HTTP://Example.COM/a", "http://example.com/a");
    assert_canonical("http://example.com:80/a", "http://example.com/a");
    assert_canonical("https://example.com:443/a", "https://example.com/a");
    assert_canonical("http://example.com:8080/a", "http://example.com:8080/a");
    assert_canonical("https://example.com:80/a", "https://example.com:80/a");
    assert_canonical("http://example.com", "http://example.com/");
    assert_canonical("http://example.com/a/./b/../c", "http://example.com/a/c");
    assert_canonical("http://example.com/a#frag", "http://example.com/a");
    assert_canonical("http://example.com/%7euser/%2fx%3F", "http://example.com/~user/%2Fx%3F");
    assert_canonical("http://example.com/%41%62%2D%2e%5F", "http://example.com/Ab-._");
    assert_canonical("http://example.com/p?q=%7e%2b", "http://example.com/p?q=~%2B");
    assert_canonical("http://example.com/p?", "http://example.com/p?");
    assert_canonical("http://[::1]:80/", "http://[::1]/");
    /* a dot segment made by decoding %2E is removed too */
    assert_canonical("http://example.com/a/%2E%2E/b/%2e/c", "http://example.com/b/c");
    assert_canonical("http://example.com/a/%2E%2Ex", "http://example.com/a/..x");
    char *out = (char *)1;
    ck_assert_int_lt(crawl_url_canonical("mailto:a@example.com", &out), 0);
    ck_assert_ptr_null(out);
    ck_assert_int_lt(crawl_url_canonical("ftp://example.com/", &out), 0);
    ck_assert_int_lt(crawl_url_canonical("/relative", &out), 0);
}
END_TEST

/* --same-domain: the registrable domain by the Public Suffix List, not the last two labels */
START_TEST(test_domain_is_the_registrable_domain)
{
    ck_assert_str_eq(crawl_domain_of("a.b.example.com"), "example.com");
    ck_assert_str_eq(crawl_domain_of("example.com"), "example.com");
    ck_assert_str_eq(crawl_domain_of("www.example.co.uk"), "example.co.uk");
    ck_assert_str_eq(crawl_domain_of("shop.example.com.au"), "example.com.au");
    ck_assert_str_eq(crawl_domain_of("alice.github.io"), "alice.github.io"); /* a private suffix */
    ck_assert_str_eq(crawl_domain_of("co.uk"), "co.uk");                     /* a suffix itself */
    ck_assert_str_eq(crawl_domain_of("localhost"), "localhost");
    ck_assert_str_eq(crawl_domain_of("127.0.0.1"), "127.0.0.1");
    ck_assert_str_eq(crawl_domain_of("::1"), "::1");
}
END_TEST

START_TEST(test_resolve_then_normalize)
{
    ah_url base;
    ck_assert_int_eq(ah_url_parse("http://Example.com:80/dir/page.html?x#f", &base), 0);
    char *out;
    ck_assert_int_eq(crawl_url_resolve(&base, "../b/./c.html#top", &out), 0);
    ck_assert_str_eq(out, "http://example.com/b/c.html");
    free(out);
    ck_assert_int_eq(crawl_url_resolve(&base, "#only", &out), 0);
    ck_assert_str_eq(out, "http://example.com/dir/page.html?x");
    free(out);
    ck_assert_int_eq(crawl_url_resolve(&base, "//OTHER.example:443/", &out), 0);
    ck_assert_str_eq(out, "http://other.example:443/");
    free(out);
    ck_assert_int_lt(crawl_url_resolve(&base, "javascript:void(0)", &out), 0);
    ah_url_free(&base);
}
END_TEST

/* crawl_url_resolve_append builds plain links as strings: it must give what the long way
 * (ah_url_resolve, then crawl_url_normalize) gives, or fail where it fails, for any base. */
START_TEST(test_resolve_append_agrees_with_resolve)
{
    static const char *bases[] = {
        "http://example.com/dir/page.html",
        "http://example.com:8080/a/b/c?x=1",
        "https://Example.COM:443/",
        "http://u:p@h.example/x/y/",
        "http://[::1]:8080/p",
        "http://example.com",
        "http://example.com/%7Euser/x",
        "http://example.com/a/b?q=%41",
        "http://example.com:65535/a;p=1/b",
    };
    static const char *refs[] = {
        "",
        "#f",
        "?",
        "?q=1",
        "?q=1#f",
        "x",
        "x/",
        "./x",
        "../x",
        "../../../../x",
        "x/./y/../z",
        "/",
        "/x",
        ".",
        "..",
        "./",
        "../",
        "/.",
        "/..",
        "/./x",
        "/../x",
        "a/..",
        "a/.",
        "x?y=1&z=2#frag",
        "a:b",
        "./a:b",
        "//other/x",
        "//example.com:8080/x",
        "http://example.com/x",
        "http://example.com:8080/x",
        "http://example.com:8080",
        "http://example.com:8080?q",
        "http://example.com:8080#f",
        "http://example.com:80/x",
        "HTTP://example.com/x",
        "http://example.com:80800/x",
        "http://example.com:8080/../x",
        "https://example.com/",
        "http://u:p@h.example/z",
        "http://[::1]:8080/q",
        "http://[::1]:8080",
        "mailto:a@b",
        "javascript:void(0)",
        "%7e",
        "a%2Fb",
        "x%20y",
        "x#a#b",
        "x?a?b",
        "/x//y",
        "..//x",
        "x/..//y",
        "...",
        "/.../x",
        ".x",
        "x.",
        "/a/b/../../..",
        "~user",
        "x@y",
        "x;p=1",
        "/(a)!$&'*+,;=",
        "x|y",
        "x\\y",
        "#a b",
        "?q=a#b\x01",
        "\xc3\xa9",
        "x\ty",
    };
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        ah_url base;
        ck_assert_int_eq(ah_url_parse(bases[i], &base), 0);
        crawl_url_base b;
        crawl_url_base_init(&b, &base);
        /* and a base as <base href> gives one: resolved, not normalised */
        ah_url raw;
        ck_assert_int_eq(ah_url_resolve(&base, "sub/./index.html?b#frag", &raw), 0);
        crawl_url_base rb;
        crawl_url_base_init(&rb, &raw);
        for (int k = 0; k < 2; k++) {
            const crawl_url_base *bb = k ? &rb : &b;
            for (size_t j = 0; j < sizeof(refs) / sizeof(refs[0]); j++) {
                char *want = NULL;
                int wrc = crawl_url_resolve(bb->url, refs[j], &want);
                /* something before it in the buffer, as in a page's list of links */
                size_t len = 3, cap = 4;
                char *buf = malloc(cap);
                ck_assert_ptr_nonnull(buf);
                memcpy(buf, "ab", 3);
                int rc = crawl_url_resolve_append(bb, refs[j], &buf, &len, &cap);
                ck_assert_msg((rc == 0) == (wrc == 0), "base %s (%d), ref '%s': rc %d, want %d",
                              bases[i], k, refs[j], rc, wrc);
                ck_assert_str_eq(buf, "ab");
                if (rc == 0) {
                    ck_assert_msg(!strcmp(buf + 3, want), "base %s (%d), ref '%s': %s, want %s",
                                  bases[i], k, refs[j], buf + 3, want);
                    ck_assert_uint_eq(len, 3 + strlen(want) + 1);
                } else {
                    ck_assert_uint_eq(len, 3);
                }
                free(want);
                free(buf);
            }
        }
        ah_url_free(&raw);
        ah_url_free(&base);
    }
    /* the plain ones did take the short way */
    ah_url base;
    ck_assert_int_eq(ah_url_parse("http://Example.com:8080/dir/", &base), 0);
    crawl_url_base b;
    crawl_url_base_init(&b, &base);
    ck_assert_int_eq(b.fast, 1);
    ck_assert_str_eq(b.prefix, "http://example.com:8080");
    ah_url_free(&base);
    ck_assert_int_eq(ah_url_parse("http://example.com/%7Euser/", &base), 0);
    crawl_url_base_init(&b, &base);
    ck_assert_int_eq(b.fast, 0);
    ah_url_free(&base);
}
END_TEST

START_TEST(test_seen_set_dedups_hashes_and_grows)
{
    crawl_seen s = {0};
    char url[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(url, sizeof(url), "http://example.com/%d", i);
        ck_assert_int_eq(crawl_seen_add(&s, crawl_hash(url, strlen(url))), 1);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(url, sizeof(url), "http://example.com/%d", i);
        ck_assert_int_eq(crawl_seen_add(&s, crawl_hash(url, strlen(url))), 0);
        ck_assert_int_eq(crawl_seen_has(&s, crawl_hash(url, strlen(url))), 1);
    }
    ck_assert_int_eq(crawl_seen_has(&s, crawl_hash("nope", 4)), 0);
    ck_assert_uint_eq(s.count, 5000);
    ck_assert_int_eq(crawl_seen_add(&s, 0), 1); /* 0 is the empty mark: stored as 1 */
    ck_assert_int_eq(crawl_seen_has(&s, 0), 1);
    crawl_seen_free(&s);
}
END_TEST

/* Extract from html as if fetched at page, and compare with want[] (NULL-terminated). */
static void assert_links(const char *page, const char *html, int follow_nofollow,
                         const char *const *want, size_t want_nofollow)
{
    ah_url base;
    ck_assert_int_eq(ah_url_parse(page, &base), 0);
    crawl_links l;
    ck_assert_int_eq(crawl_links_extract(html, strlen(html), &base, follow_nofollow, &l), 0);
    size_t n = 0;
    while (want[n])
        n++;
    for (size_t i = 0; i < l.count && i < n; i++)
        ck_assert_str_eq(l.urls[i], want[i]);
    ck_assert_uint_eq(l.count, n);
    ck_assert_uint_eq(l.nofollow, want_nofollow);
    crawl_links_free(&l);
    ah_url_free(&base);
}

START_TEST(test_links_relative_fragments_entities_unquoted)
{
    static const char html[] = "<HTML><BODY>\n"
                               "<A HREF=\"a.html\">upper-case tags</A>\n"
                               "<a href=../up.html>unquoted</a>\n"
                               "<a href='/abs?x=1&amp;y=2'>entity</a>\n"
                               "<a href=\"#frag\">same page</a>\n"
                               "<a href=\"b.html#part\">fragment</a>\n"
                               "<a href=\"  c.html \n\">blanks</a>\n"
                               "<a href=\"mailto:x@example.com\">mail</a>\n"
                               "<a>no href</a>\n"
                               "<a href=\"HTTP://OTHER.example:80/%7ex\">absolute</a>\n"
                               "</BODY></HTML>";
    static const char *const want[] = {
        "http://example.com/dir/a.html",  "http://example.com/up.html",
        "http://example.com/abs?x=1&y=2", "http://example.com/dir/page.html",
        "http://example.com/dir/b.html",  "http://example.com/dir/c.html",
        "http://other.example/~x",        NULL,
    };
    assert_links("http://example.com/dir/page.html", html, 0, want, 0);
}
END_TEST

START_TEST(test_links_base_href_and_frames)
{
    static const char html[] = "<html><head><base href=\"/other/base/\">"
                               "<link rel=stylesheet href=\"s.css\"></head>"
                               "<body><a href=\"x.html\">x</a>"
                               "<base href=\"/ignored/\">"
                               "<iframe src=\"frame.html\"></iframe>"
                               "<frameset><frame src=\"/f2.html\"></frameset>"
                               "<map><area href=\"area.html\"></map></body></html>";
    static const char *const want[] = {
        "http://example.com/other/base/s.css",
        "http://example.com/other/base/x.html",
        "http://example.com/other/base/frame.html",
        "http://example.com/other/base/area.html",
        NULL,
    };
    /* gumbo drops a <frameset> inside a <body> that has content, as browsers do */
    assert_links("http://example.com/dir/page.html", html, 0, want, 0);
}
END_TEST

START_TEST(test_links_nofollow_comments_scripts)
{
    static const char html[] = "<html><body>"
                               "<a href=\"/follow.html\" rel=\"noopener\">kept</a>"
                               "<a href=\"/nf.html\" rel=\"external NoFollow\">skipped</a>"
                               "<!-- <a href=\"/comment.html\">in a comment</a> -->"
                               "<script>var s = '<a href=\"/script.html\">x</a>';</script>"
                               "<style>a[href=\"/style.html\"] {}</style>"
                               "<textarea><a href=\"/textarea.html\"></a></textarea>"
                               "<a href=\"/after.html\">after</a>"
                               "</body></html>";
    static const char *const want[] = {
        "http://example.com/follow.html",
        "http://example.com/after.html",
        NULL,
    };
    assert_links("http://example.com/", html, 0, want, 1);
    static const char *const want_all[] = {
        "http://example.com/follow.html",
        "http://example.com/nf.html",
        "http://example.com/after.html",
        NULL,
    };
    assert_links("http://example.com/", html, 1, want_all, 0);
}
END_TEST

START_TEST(test_links_broken_html_and_empty)
{
    static const char *const none[] = {NULL};
    assert_links("http://example.com/", "", 0, none, 0);
    assert_links("http://example.com/", "not html at all < > &", 0, none, 0);
    static const char *const one[] = {"http://example.com/x", NULL};
    assert_links("http://example.com/", "<p><a href=x>unclosed <b>tags <i>everywhere", 0, one, 0);
}
END_TEST

/* Extract links from html fed in chunks of `chunk` bytes to a parser with the given window. */
static void windowed(const char *page, const char *html, size_t len, size_t window, size_t chunk,
                     crawl_links *out, size_t *parses, size_t *arena_peak)
{
    ah_url base;
    ck_assert_int_eq(ah_url_parse(page, &base), 0);
    crawl_links_parser *p = crawl_links_parser_new(&base, 0, window);
    ck_assert_ptr_nonnull(p);
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        int rc = crawl_links_parser_feed(p, html + off, n);
        ck_assert_int_ge(rc, 0);
        if (rc == 1)
            ck_assert_int_eq(crawl_links_parser_parse(p, 0), 0);
    }
    ck_assert_int_eq(crawl_links_parser_parse(p, 1), 0);
    ck_assert_int_eq(crawl_links_parser_finish(p, out), 0);
    crawl_links_parser_stats(p, parses, arena_peak);
    crawl_links_parser_free(p);
    ah_url_free(&base);
}

/* Documents whose links a careless cut would change: markup that hides '<' or '>' (quoted
 * attributes, comments and their odd endings, doctypes, scripts and their escapes, raw text),
 * elements that change what the tree builder does with an <a> (an open <a> that gets cloned,
 * <select>, <svg> with CDATA, <frameset>), a late <base>, and <plaintext>. */
static const char *const tricky_docs[] = {
    "<!DOCTYPE html><html><head><title>a <a href=/t1> title</title>"
    "<style>a[href='</p>'] { } <a href=/s1></style></head><body>\n"
    "<p class=\"x > y\" data-x='<a href=/attr1>'>text</p>\n"
    "<!-- a comment with <a href=/c1> and -- dashes > --> <a href=/ok1>1</a>\n"
    "<!--> <a href=/ok2>2</a> <!---> <a href=/ok3>3</a>\n"
    "<!-- closed oddly --!> <a href=/ok4>4</a> <? bogus <a href=/b1> > <a href=/ok5>5</a>\n"
    "</ bogus end <a href=/b2> > <a href=/ok6>6</a> </> <a href=/ok7>7</a>\n"
    "<script>var s = '</scr' + 'ipt>'; if (a < b && c > d) document.write('<a href=/j1>');"
    "</script><a href=/ok8>8</a>\n"
    "<script><!-- document.write('<script>x</script><a href=/j2>'); --></script>"
    "<a href=/ok9>9</a>\n"
    "<textarea><a href=/ta1></textarea><a href=/ok10>10</a><xmp><a href=/x1></xmp>\n"
    "<iframe src=/frame1><a href=/if1></iframe><noframes><a href=/nf1></noframes>\n"
    "<p>x < y and <3 and a< b <a href=/ok11>11</a></p>\n"
    "<a href=/open1>open <p> the a is cloned into this p </a> <a href=/ok12>12</a>\n"
    "<select><option>o<a href=/sel1>in select</a></select><a href=/ok13>13</a>\n"
    "<svg><a href=/svg1>svg</a><![CDATA[ <a href=/cdata1> ]]><style><a href=/svgs></style>"
    "</svg><a href=/ok14>14</a>\n"
    "<table><tr><td>cell</td></tr><a href=/foster1>fostered</a></table>\n"
    "<a href='/q1' rel=nofollow>nf</a><a href=\"/ok15\" rel='noopener'>15</a>\n"
    "<base href=/late/><a href=rel16>16</a>\n"
    "</body></html>\n",
    "<html><frameset><frame src=/f1><frame src=/f2></frameset><a href=/after-frameset></html>",
    "<html><body><a href=/p1>1</a><plaintext><a href=/p2>not a link</a>",
    "<html><body><p>" /* an open <a> that is never closed */
    "<a href=/never-closed>one<p>two<p>three<p>four<p>five<p>six<p>seven<p>eight<p>nine</body>",
    /* text after the head that is only whitespace, some of it through character references,
     * does not start a body: squeezing it to a letter would lose the frameset */
    "<html><head><title>t</title></head>\n \t &#32;&Tab; \n"
    "<frameset><frame src=/fs-ok></frameset></html>",
    /* and real text makes it not ok: the frame is dropped */
    "<html><body><a href=/before></a> some text <frameset><frame src=/fs-no></frameset>"
    "<a href=/after>after</a>",
};

/* The distinct URLs of l in order of first appearance, one a line. */
static char *distinct(const crawl_links *l)
{
    sbuf b = {0};
    for (size_t i = 0; i < l->count; i++) {
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = !strcmp(l->urls[i], l->urls[j]);
        if (!dup) {
            sb_str(&b, l->urls[i]);
            sb_str(&b, "\n");
        }
    }
    ck_assert(!b.failed);
    return b.data ? b.data : strdup("");
}

START_TEST(test_links_windowed_parse_matches_whole_parse)
{
    const char *page = "http://example.com/dir/page.html";
    ah_url base;
    ck_assert_int_eq(ah_url_parse(page, &base), 0);
    for (size_t d = 0; d < sizeof(tricky_docs) / sizeof(tricky_docs[0]); d++) {
        /* the document four times over: long enough for many windows */
        char html[16384];
        size_t one = strlen(tricky_docs[d]), len = 0;
        for (int k = 0; k < 4; k++) {
            memcpy(html + len, tricky_docs[d], one);
            len += one;
        }
        crawl_links whole;
        ck_assert_int_eq(crawl_links_extract(html, len, &base, 0, &whole), 0);
        ck_assert_uint_gt(whole.count, 0);
        char *want = distinct(&whole);
        size_t most_parses = 0;
        for (size_t window = 1; window <= len + 1; window += window < 64 ? 1 : 37) {
            for (size_t chunk = 1; chunk <= 4096; chunk *= 8) {
                crawl_links w;
                size_t parses, peak;
                windowed(page, html, len, window, chunk, &w, &parses, &peak);
                if (parses > most_parses)
                    most_parses = parses;
                /* the same URLs in the same order (clones of an <a> may be counted apart) */
                char *got = distinct(&w);
                ck_assert_msg(!strcmp(got, want), "doc %zu, window %zu, chunk %zu:\n%s\nnot\n%s", d,
                              window, chunk, got, want);
                free(got);
                crawl_links_free(&w);
            }
        }
        /* the documents are cut where they can be: not at all after a frameset or plaintext */
        if (d == 0) /* a text '<' is not the start of a tag: its link counts */
            ck_assert_ptr_nonnull(strstr(want, "/ok11\n"));
        if (d == 0 || d == 3)
            ck_assert_uint_gt(most_parses, 20);
        if (d == 1 || d == 2)
            ck_assert_uint_lt(most_parses, 10);
        if (d == 4)
            ck_assert_ptr_nonnull(strstr(want, "/fs-ok"));
        if (d == 5)
            ck_assert_ptr_null(strstr(want, "/fs-no"));
        free(want);
        crawl_links_free(&whole);
    }
    ah_url_free(&base);
}
END_TEST

START_TEST(test_links_long_document_parses_in_bounded_memory)
{
    /* the benchmark site's huge page: a link, 110,000 paragraphs, a link (3 MB) */
    const char *head = "<html><body><a href=\"/first.html\">first</a>\n";
    const char *line = "<p>filler filler filler</p>\n";
    const char *tail = "<a href=\"/last.html\">last</a></body></html>\n";
    size_t n = 110000, len = strlen(head) + n * strlen(line) + strlen(tail);
    char *html = malloc(len + 1), *w = html;
    ck_assert_ptr_nonnull(html);
    w += sprintf(w, "%s", head);
    for (size_t i = 0; i < n; i++)
        w += sprintf(w, "%s", line);
    sprintf(w, "%s", tail);
    crawl_links l;
    size_t parses, peak;
    windowed("http://example.com/", html, len, 0, 16384, &l, &parses, &peak);
    ck_assert_uint_eq(l.count, 2);
    ck_assert_str_eq(l.urls[0], "http://example.com/first.html");
    ck_assert_str_eq(l.urls[1], "http://example.com/last.html");
    ck_assert_uint_ge(parses, 3); /* about 1 MB once its text is squeezed */
    /* gumbo's tree for the whole page would be some 50 MB */
    ck_assert_msg(peak < 8 * 1024 * 1024, "%zu bytes of arena", peak);
    crawl_links_free(&l);
    /* the text between tags reaches gumbo as one letter per run: "<p>x</p>\n" */
    ah_url base;
    ck_assert_int_eq(ah_url_parse("http://example.com/", &base), 0);
    crawl_links_parser *p = crawl_links_parser_new(&base, 0, 0);
    ck_assert_int_eq(crawl_links_parser_feed(p, html, 100000), 0);
    ck_assert_uint_lt(crawl_links_parser_pending(p), 100000 * 9 / 28 + 100);
    crawl_links_parser_free(p);
    ah_url_free(&base);
    free(html);
}
END_TEST

/* ---- the frontier's spill file and its bound --------------------------------------------- */

START_TEST(test_spill_keeps_fifo_order_through_the_file)
{
    crawl_spill s;
    crawl_spill_init(&s, NULL);
    s.write_batch = 100; /* a few records per write: the file is used for real */
    char url[64];
    int pushed = 0, popped = 0;
    unsigned seed = 12345;
    while (popped < 3000) {
        seed = seed * 1103515245u + 12345u;
        int action = (int)((seed >> 16) % 10);
        if (pushed < 3000 && action < 6) {
            snprintf(url, sizeof(url), "http://example.com/%d", pushed);
            ck_assert_int_eq(crawl_spill_push(&s, url, pushed % 7), 0);
            pushed++;
        } else if (action < 8) {
            ck_assert_int_ge(crawl_spill_io_sync(&s, 0), 0);
        } else {
            const char *u;
            size_t len;
            int depth;
            int rc = crawl_spill_pop(&s, &u, &len, &depth);
            if (rc == AH_EAGAIN) {
                ck_assert_int_eq(crawl_spill_io_sync(&s, 0), 1); /* a read makes progress */
                continue;
            }
            if (rc == 0) {
                ck_assert_int_eq(popped, pushed);
                continue;
            }
            ck_assert_int_eq(rc, 1);
            snprintf(url, sizeof(url), "http://example.com/%d", popped);
            ck_assert_str_eq(u, url);
            ck_assert_uint_eq(len, strlen(url));
            ck_assert_int_eq(depth, popped % 7);
            popped++;
        }
        ck_assert_uint_eq(s.count, (size_t)(pushed - popped));
    }
    ck_assert_uint_gt(s.written, 1000); /* most records went through the file */
    ck_assert_uint_gt(s.file_end, 0);
    ck_assert_uint_eq(s.file_pos, s.file_end);
    const char *u;
    size_t len;
    int depth;
    ck_assert_int_eq(crawl_spill_pop(&s, &u, &len, &depth), 0);
    crawl_spill_free(&s);
}
END_TEST

/* A crawler with no loop: enough for the frontier's plain functions. */
static void crawler_init(crawler *c, options *o, size_t frontier_mem)
{
    memset(o, 0, sizeof(*o));
    o->concurrency = 4;
    o->per_host = 1000;
    o->max_depth = -1;
    o->ignore_robots = 1;
    o->frontier_mem = frontier_mem;
    memset(c, 0, sizeof(*c));
    c->o = o;
    c->out.fd = c->state.fd = -1;
    crawl_spill_init(&c->spill, NULL);
    c->spill.write_batch = 512;
    c->sync_spill = 1;
}

static void crawler_done(crawler *c)
{
    for (crawl_host *h = c->hosts, *next; h; h = next) {
        next = h->next;
        while (h->head) {
            item *it = h->head;
            h->head = it->next;
            free(it);
        }
        free(h->origin);
        free(h);
    }
    crawl_seen_free(&c->seen);
    crawl_spill_free(&c->spill);
}

static const char *const test_hosts[] = {"http://a.example", "http://b.example:8080",
                                         "https://c.example"};

START_TEST(test_frontier_holds_at_most_its_bound_and_stays_fifo_per_host)
{
    options o;
    crawler c;
    crawler_init(&c, &o, 16);
    char url[96];
    int added = 0;
    /* 600 URLs over three hosts; each URL's number grows with its arrival */
    for (; added < 600; added++) {
        snprintf(url, sizeof(url), "%s/%d", test_hosts[added % 3], added);
        ck_assert_int_eq(frontier_add(&c, url, added % 5, 0), 1);
        ck_assert_uint_le(c.queued, 16);
    }
    ck_assert_uint_eq(frontier_size(&c), 600);
    ck_assert_uint_gt(c.spill.written, 0); /* past the bound, to disk */
    c.sync_spill = 0; /* from here the I/O is the spill task's, as in a running crawl */
    int last[3] = {-1, -1, -1}, picked = 0, waits = 0;
    for (;;) {
        crawl_host *h;
        item *it;
        int64_t wait_ms;
        int kind = pick(&c, &h, &it, &wait_ms);
        ck_assert_uint_le(c.queued, 16);
        if (kind == PICK_DONE)
            break;
        if (kind == PICK_WAIT) {
            /* what the spill task does: the next URLs are on disk */
            ck_assert_int_eq(crawl_spill_io_sync(&c.spill, 0), 1);
            waits++;
            continue;
        }
        ck_assert_int_eq(kind, PICK_PAGE);
        int host = -1, n = -1;
        for (int i = 0; i < 3; i++)
            if (strncmp(it->url, test_hosts[i], strlen(test_hosts[i])) == 0 &&
                it->url[strlen(test_hosts[i])] == '/')
                host = i;
        ck_assert_int_ge(host, 0);
        n = atoi(it->url + strlen(test_hosts[host]) + 1);
        ck_assert_int_gt(n, last[host]); /* each host's URLs come out in arrival order */
        ck_assert_int_eq(n % 3, host);
        ck_assert_int_eq(it->depth, n % 5);
        last[host] = n;
        free(it);
        slot_release(&c, h);
        picked++;
        /* links found while draining go behind what is spilled */
        if (picked % 4 == 0 && added < 800) {
            snprintf(url, sizeof(url), "%s/%d", test_hosts[added % 3], added);
            ck_assert_int_eq(frontier_add(&c, url, added % 5, 0), 1);
            ck_assert_uint_le(c.queued, 16);
            added++;
        }
    }
    ck_assert_int_eq(picked, added);
    ck_assert_int_gt(waits, 0);
    ck_assert_uint_eq(frontier_size(&c), 0);
    crawler_done(&c);
}
END_TEST

/* ---- the --state log ------------------------------------------------------------------------ */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            n++;
        if (!strchr(p, '\n'))
            break;
    }
    return n;
}

START_TEST(test_state_resume_replays_and_compacts_atomically)
{
    char dir[] = "/tmp/check_crawl.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], tmp[300];
    snprintf(path, sizeof(path), "%s/crawl.state", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("seen http://a.example/ 0\n"
          "seen http://a.example/1 1\n"
          "seen http://a.example/2 1\n"
          "done http://a.example/\n"
          "seen http://b.example/3 2\n"
          "done http://a.example/2\n"
          "seen http://a.example/4 1\n",
          f);
    for (int i = 5; i < 40; i++) /* more than the bound of 4: these spill */
        fprintf(f, "seen http://a.example/%d 3\n", i);
    fputs("seen http://a.example/torn", f); /* died mid-write: no newline */
    fclose(f);
    struct stat before;
    ck_assert_int_eq(stat(path, &before), 0);

    options o;
    crawler c;
    crawler_init(&c, &o, 4);
    int fd = state_resume(&c, path);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(frontier_size(&c), 38); /* 1, 3, 4, 5..39 */
    ck_assert_uint_le(c.queued, 4);
    ck_assert_int_eq(crawl_seen_has(&c.seen, crawl_hash("http://a.example/", 17)), 1);
    ck_assert_int_eq(crawl_seen_has(&c.seen, crawl_hash("http://a.example/2", 18)), 1);
    ck_assert_int_eq(crawl_seen_has(&c.seen, crawl_hash("http://a.example/1", 18)), 1);
    ck_assert_int_eq(crawl_seen_has(&c.seen, crawl_hash("http://a.example/torn", 21)), 0);
    /* a URL seen before is not queued again (the seeds of a resumed run) */
    ck_assert_int_eq(frontier_add(&c, "http://a.example/", 0, 0), 0);
    ck_assert_int_eq(frontier_add(&c, "http://a.example/4", 0, 0), 0);
    /* the file is now the live state: the done URLs as hashes, the rest in order, no torn line */
    const char *text = slurp(path);
    ck_assert_int_eq(count_lines(text, "D "), 2);
    ck_assert_int_eq(count_lines(text, "seen "), 38);
    ck_assert_int_eq(count_lines(text, "done "), 0);
    ck_assert_ptr_null(strstr(text, "torn"));
    ck_assert_ptr_nonnull(strstr(text, "seen http://a.example/1 1\nseen http://b.example/3 2\n"
                                       "seen http://a.example/4 1\n"));
    ck_assert_int_eq(access(tmp, F_OK), -1); /* renamed over the log, not left beside it */
    /* the order survives: a.example's 1, 4, 5 and b.example's 3 (the hosts take turns) */
    c.sync_spill = 0;
    const char *want_a[] = {"http://a.example/1", "http://a.example/4", "http://a.example/5"};
    int na = 0, nb = 0;
    for (int i = 0; i < 4; i++) {
        crawl_host *h;
        item *it;
        int64_t wait_ms;
        int kind;
        while ((kind = pick(&c, &h, &it, &wait_ms)) == PICK_WAIT)
            ck_assert_int_eq(crawl_spill_io_sync(&c.spill, 0), 1);
        ck_assert_int_eq(kind, PICK_PAGE);
        if (strncmp(it->url, "http://b.", 9) == 0)
            ck_assert_str_eq(it->url, nb++ ? "" : "http://b.example/3");
        else
            ck_assert_str_eq(it->url, want_a[na++]);
        free(it);
        slot_release(&c, h);
    }
    ck_assert_int_eq(nb, 1);
    /* the crawl goes on and journals as usual; the next start compacts again */
    ck_assert_int_eq(write(fd, "done http://a.example/1\n", 24), 24);
    close(fd);
    crawler_done(&c);
    crawler_init(&c, &o, 4);
    fd = state_resume(&c, path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_uint_eq(frontier_size(&c), 37); /* only the done line written counts */
    text = slurp(path);
    ck_assert_int_eq(count_lines(text, "D "), 3);
    ck_assert_int_eq(count_lines(text, "seen "), 37);
    struct stat after;
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_lt(after.st_size, before.st_size);
    crawler_done(&c);
    unlink(path);
    rmdir(dir);
}
END_TEST

static Suite *crawl_suite(void)
{
    Suite *s = suite_create("crawl");
    TCase *tc = tcase_create("robots");
    tcase_add_test(tc, test_robots_star_group_applies_without_a_specific_one);
    tcase_add_test(tc, test_robots_most_specific_group_wins);
    tcase_add_test(tc, test_robots_wildcards_and_end_anchor);
    tcase_add_test(tc, test_robots_longest_match_wins_and_allow_wins_ties);
    tcase_add_test(tc, test_robots_patterns_are_percent_normalised);
    tcase_add_test(tc, test_robots_crawl_delay_comments_and_odd_lines);
    tcase_add_test(tc, test_robots_empty_missing_and_unreachable);
    suite_add_tcase(s, tc);
    tc = tcase_create("urls");
    tcase_add_test(tc, test_normalize_cases);
    tcase_add_test(tc, test_domain_is_the_registrable_domain);
    tcase_add_test(tc, test_resolve_then_normalize);
    tcase_add_test(tc, test_resolve_append_agrees_with_resolve);
    tcase_add_test(tc, test_seen_set_dedups_hashes_and_grows);
    suite_add_tcase(s, tc);
    tc = tcase_create("links");
    tcase_add_test(tc, test_links_relative_fragments_entities_unquoted);
    tcase_add_test(tc, test_links_base_href_and_frames);
    tcase_add_test(tc, test_links_nofollow_comments_scripts);
    tcase_add_test(tc, test_links_broken_html_and_empty);
    tcase_add_test(tc, test_links_windowed_parse_matches_whole_parse);
    tcase_add_test(tc, test_links_long_document_parses_in_bounded_memory);
    suite_add_tcase(s, tc);
    tc = tcase_create("frontier");
    tcase_add_test(tc, test_spill_keeps_fifo_order_through_the_file);
    tcase_add_test(tc, test_frontier_holds_at_most_its_bound_and_stays_fifo_per_host);
    tcase_add_test(tc, test_state_resume_replays_and_compacts_atomically);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(crawl_suite()); }
