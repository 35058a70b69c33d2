/* URLs: parsing (schemes, userinfo, IPv4/IPv6 hosts, default and explicit ports, case
 * normalisation, dot segments), rejection of bad URLs without partial output, percent-encoding
 * and decoding, formatting, and every example of RFC 3986 §5.4 for reference resolution. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <ahttp/url.h>

#include "checkutil.h"

static void assert_zeroed(const ah_url *u)
{
    ck_assert_ptr_null(u->scheme);
    ck_assert_ptr_null(u->userinfo);
    ck_assert_ptr_null(u->host);
    ck_assert_ptr_null(u->path);
    ck_assert_ptr_null(u->query);
    ck_assert_ptr_null(u->fragment);
    ck_assert_uint_eq(u->port, 0);
    ck_assert_int_eq(u->port_explicit, 0);
}

START_TEST(test_parse_splits_every_component)
{
    ah_url u;
    ck_assert_int_eq(ah_url_parse("http://user:pw@example.com:8080/a/b?x=1&y=2#frag", &u), 0);
    ck_assert_str_eq(u.scheme, "http");
    ck_assert_str_eq(u.userinfo, "user:pw");
    ck_assert_str_eq(u.host, "example.com");
    ck_assert_uint_eq(u.port, 8080);
    ck_assert_int_eq(u.port_explicit, 1);
    ck_assert_str_eq(u.path, "/a/b");
    ck_assert_str_eq(u.query, "x=1&y=2");
    ck_assert_str_eq(u.fragment, "frag");
    ah_url_free(&u);
    assert_zeroed(&u);
    ah_url_free(&u); /* twice is harmless */
}
END_TEST

START_TEST(test_parse_uses_scheme_default_ports)
{
    ah_url u;
    ck_assert_int_eq(ah_url_parse("http://a", &u), 0);
    ck_assert_uint_eq(u.port, 80);
    ck_assert_int_eq(u.port_explicit, 0);
    ck_assert_str_eq(u.path, "");
    ck_assert_ptr_null(u.query);
    ck_assert_ptr_null(u.fragment);
    ck_assert_ptr_null(u.userinfo);
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("https://a/", &u), 0);
    ck_assert_uint_eq(u.port, 443);
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("https://a:/", &u), 0); /* empty port: the default */
    ck_assert_uint_eq(u.port, 443);
    ck_assert_int_eq(u.port_explicit, 0);
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("http://a:443/", &u), 0);
    ck_assert_uint_eq(u.port, 443);
    ck_assert_int_eq(u.port_explicit, 1);
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("ftp://a/", &u), 0);
    ck_assert_uint_eq(u.port, 0);
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("http://a:65535/", &u), 0);
    ck_assert_uint_eq(u.port, 65535);
    ah_url_free(&u);
}
END_TEST

START_TEST(test_parse_lowercases_scheme_and_host_only)
{
    ah_url u;
    ck_assert_int_eq(ah_url_parse("HTTPS://User@Example.COM/Path/To?Q=A#F", &u), 0);
    ck_assert_str_eq(u.scheme, "https");
    ck_assert_str_eq(u.host, "example.com");
    ck_assert_str_eq(u.userinfo, "User");
    ck_assert_str_eq(u.path, "/Path/To");
    ck_assert_str_eq(u.query, "Q=A");
    ck_assert_str_eq(u.fragment, "F");
    ah_url_free(&u);
}
END_TEST

START_TEST(test_parse_ipv6_and_ipv4_literals)
{
    ah_url u;
    ck_assert_int_eq(ah_url_parse("http://[::1]:8443/x", &u), 0);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_uint_eq(u.port, 8443);
    char *s = ah_url_format(&u);
    ck_assert_str_eq(s, "http://[::1]:8443/x");
    free(s);
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("http://[2001:DB8::A]/", &u), 0);
    ck_assert_str_eq(u.host, "2001:db8::a");
    ck_assert_uint_eq(u.port, 80);
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("http://127.0.0.1:81", &u), 0);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_uint_eq(u.port, 81);
    ah_url_free(&u);
}
END_TEST

START_TEST(test_parse_removes_dot_segments)
{
    ah_url u;
    ck_assert_int_eq(ah_url_parse("http://a/b/./c/../d/..", &u), 0);
    ck_assert_str_eq(u.path, "/b/");
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("http://a/../../x", &u), 0);
    ck_assert_str_eq(u.path, "/x");
    ah_url_free(&u);
}
END_TEST

START_TEST(test_parse_accepts_uris_without_authority)
{
    ah_url u;
    ck_assert_int_eq(ah_url_parse("mailto:someone@example.com", &u), 0);
    ck_assert_str_eq(u.scheme, "mailto");
    ck_assert_ptr_null(u.host);
    ck_assert_str_eq(u.path, "someone@example.com");
    ck_assert_int_eq(ah_url_is_http(&u), 0);
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("http://", &u), 0); /* syntactically fine, not fetchable */
    ck_assert_str_eq(u.host, "");
    ck_assert_int_eq(ah_url_is_http(&u), 0);
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("https://x.y", &u), 0);
    ck_assert_int_eq(ah_url_is_http(&u), 1);
    ah_url_free(&u);
}
END_TEST

START_TEST(test_parse_encodes_harmless_bytes_it_cannot_keep)
{
    ah_url u;
    ck_assert_int_eq(ah_url_parse("http://a/x<y>|\xc3\xa9?q={1}#f#g", &u), 0);
    ck_assert_str_eq(u.path, "/x%3Cy%3E%7C%C3%A9");
    ck_assert_str_eq(u.query, "q=%7B1%7D");
    ck_assert_str_eq(u.fragment, "f%23g");
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("http://a/%7e%41", &u), 0); /* escapes kept as written */
    ck_assert_str_eq(u.path, "/%7e%41");
    ah_url_free(&u);
}
END_TEST

START_TEST(test_parse_rejects_bad_urls_without_partial_output)
{
    static const char *bad[] = {
        "",                         /* nothing */
        "example.com/path",         /* no scheme */
        "/just/a/path",             /* relative */
        "://x",                     /* empty scheme */
        "1http://x",                /* scheme must start with a letter */
        "http://a b/",              /* space */
        "http://a/b c",             /* space in path */
        "http://a/\tb",             /* control */
        "http://a/\x7f",            /* DEL */
        " http://a/",               /* leading whitespace */
        "http://a/%zz",             /* bad escape */
        "http://a/%4",              /* short escape */
        "http://a?%",               /* short escape in query */
        "http://[::1/",             /* unclosed IPv6 literal */
        "http://[::1]x/",           /* junk after the literal */
        "http://[nothex]/",         /* not an IPv6 address */
        "http://[v1.x]/",           /* IPvFuture: unsupported */
        "http://[fe80::1%25eth0]/", /* zone id: unsupported */
        "http://a:99999/",          /* port too large */
        "http://a:65536/",          /* port too large */
        "http://a:8o/",             /* port not a number */
        "http://a:-1/",             /* port not a number */
        "http://a:1:2/",            /* two ports */
        "http://u@v@a/",            /* two '@' */
        "http://a<b/",              /* not a host character */
        "http://a%zz/",             /* bad escape in host */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ah_url u;
        memset(&u, 0x5a, sizeof(u));
        int rc = ah_url_parse(bad[i], &u);
        ck_assert_msg(rc == AH_EINVAL, "\"%s\" parsed (rc %d)", bad[i], rc);
        assert_zeroed(&u);
    }
    ah_url u;
    ck_assert_int_eq(ah_url_parse(NULL, &u), AH_EINVAL);
    assert_zeroed(&u);
    ck_assert_int_eq(ah_url_parse("http://a/", NULL), AH_EINVAL);
}
END_TEST

START_TEST(test_format_recomposes_components)
{
    static const char *same[] = {
        "http://a/b/c/d;p?q", "http://u:p@h:81/x?#", "https://h?a=b", "urn:isbn:0451450523",
        "http://a/p?",        "file:///etc/hosts",   "http://[::1]/",
    };
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        ah_url u;
        ck_assert_int_eq(ah_url_parse(same[i], &u), 0);
        char *s = ah_url_format(&u);
        ck_assert_str_eq(s, same[i]);
        free(s);
        ah_url_free(&u);
    }
}
END_TEST

START_TEST(test_format_writes_explicit_ports)
{
    static const char *same[] = {"http://h:0/",        "http://h:1/",  "http://h:9/",
                                 "http://h:10/",       "http://h:80/", "https://h:8443/x",
                                 "http://[::1]:65535/"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        ah_url u;
        ck_assert_int_eq(ah_url_parse(same[i], &u), 0);
        char *s = ah_url_format(&u);
        ck_assert_str_eq(s, same[i]);
        free(s);
        ah_url_free(&u);
    }
}
END_TEST

START_TEST(test_target_is_path_and_query)
{
    ah_url u;
    ck_assert_int_eq(ah_url_parse("http://h", &u), 0);
    char *t = ah_url_target(&u);
    ck_assert_str_eq(t, "/");
    free(t);
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_parse("http://h/a%20b?x=1#nope", &u), 0);
    t = ah_url_target(&u);
    ck_assert_str_eq(t, "/a%20b?x=1");
    free(t);
    ah_url_free(&u);
}
END_TEST

START_TEST(test_same_origin_compares_scheme_host_port)
{
    ah_url a, b, c, d;
    ck_assert_int_eq(ah_url_parse("http://h/x", &a), 0);
    ck_assert_int_eq(ah_url_parse("HTTP://H:80/y?z", &b), 0);
    ck_assert_int_eq(ah_url_parse("https://h/x", &c), 0);
    ck_assert_int_eq(ah_url_parse("http://h:8080/x", &d), 0);
    ck_assert_int_eq(ah_url_same_origin(&a, &b), 1);
    ck_assert_int_eq(ah_url_same_origin(&a, &c), 0);
    ck_assert_int_eq(ah_url_same_origin(&a, &d), 0);
    ah_url_free(&a);
    ah_url_free(&b);
    ah_url_free(&c);
    ah_url_free(&d);
}
END_TEST

START_TEST(test_copy_is_deep)
{
    ah_url a, b;
    ck_assert_int_eq(ah_url_parse("http://u@h:1/p?q#f", &a), 0);
    ck_assert_int_eq(ah_url_copy(&a, &b), 0);
    ck_assert_ptr_ne(a.host, b.host);
    ah_url_free(&a);
    char *s = ah_url_format(&b);
    ck_assert_str_eq(s, "http://u@h:1/p?q#f");
    free(s);
    ah_url_free(&b);
}
END_TEST

START_TEST(test_encode_and_decode)
{
    char *e = ah_url_encode("a b/c?d=é&~", strlen("a b/c?d=é&~"), NULL);
    ck_assert_str_eq(e, "a%20b%2Fc%3Fd%3D%C3%A9%26~");
    free(e);
    e = ah_url_encode("/a b/c", 6, "/");
    ck_assert_str_eq(e, "/a%20b/c");
    free(e);
    e = ah_url_encode("", 0, NULL);
    ck_assert_str_eq(e, "");
    free(e);
    e = ah_url_encode("a\0b", 3, NULL);
    ck_assert_str_eq(e, "a%00b");
    free(e);

    char *d;
    size_t n;
    ck_assert_int_eq(ah_url_decode("a%20b%2fc+d", 11, 0, &d, &n), 0);
    ck_assert_str_eq(d, "a b/c+d");
    ck_assert_uint_eq(n, 7);
    free(d);
    ck_assert_int_eq(ah_url_decode("a+b%2B", 6, 1, &d, &n), 0);
    ck_assert_str_eq(d, "a b+");
    free(d);
    ck_assert_int_eq(ah_url_decode("x%00y", 5, 0, &d, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert(memcmp(d, "x\0y", 3) == 0);
    free(d);
    d = (char *)1;
    ck_assert_int_eq(ah_url_decode("bad%2", 5, 0, &d, &n), AH_EINVAL);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(ah_url_decode("bad%g0", 6, 0, &d, NULL), AH_EINVAL);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(ah_url_decode("", 0, 0, &d, &n), 0);
    ck_assert_str_eq(d, "");
    ck_assert_uint_eq(n, 0);
    free(d);
}
END_TEST

/* ---- RFC 3986 §5.4 ---- */

typedef struct example {
    const char *ref, *want;
} example;

static const char rfc_base[] = "http://a/b/c/d;p?q";

static void check_examples(const example *ex, size_t n)
{
    ah_url base;
    ck_assert_int_eq(ah_url_parse(rfc_base, &base), 0);
    for (size_t i = 0; i < n; i++) {
        ah_url out;
        int rc = ah_url_resolve(&base, ex[i].ref, &out);
        ck_assert_msg(rc == 0, "resolving \"%s\": %d", ex[i].ref, rc);
        char *s = ah_url_format(&out);
        ck_assert_msg(strcmp(s, ex[i].want) == 0, "\"%s\" resolved to \"%s\", want \"%s\"",
                      ex[i].ref, s, ex[i].want);
        free(s);
        ah_url_free(&out);
    }
    ah_url_free(&base);
}

START_TEST(test_resolve_rfc3986_normal_examples)
{
    static const example ex[] = {
        {"g:h", "g:h"},
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"},
        {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"},
        {"g;x?y#s", "http://a/b/c/g;x?y#s"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../", "http://a/"},
        {"../../g", "http://a/g"},
    };
    check_examples(ex, sizeof(ex) / sizeof(ex[0]));
}
END_TEST

START_TEST(test_resolve_rfc3986_abnormal_examples)
{
    static const example ex[] = {
        {"../../../g", "http://a/g"},
        {"../../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."},
        {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"},
        {"g?y/../x", "http://a/b/c/g?y/../x"},
        {"g#s/./x", "http://a/b/c/g#s/./x"},
        {"g#s/../x", "http://a/b/c/g#s/../x"},
        {"http:g", "http:g"}, /* strict parser */
    };
    check_examples(ex, sizeof(ex) / sizeof(ex[0]));
}
END_TEST

START_TEST(test_resolve_takes_port_and_authority_rules)
{
    ah_url base, out;
    ck_assert_int_eq(ah_url_parse("https://h:8443/dir/page", &base), 0);
    ck_assert_int_eq(ah_url_resolve(&base, "other", &out), 0);
    ck_assert_str_eq(out.host, "h");
    ck_assert_uint_eq(out.port, 8443);
    ck_assert_str_eq(out.path, "/dir/other");
    ah_url_free(&out);
    ck_assert_int_eq(ah_url_resolve(&base, "//x.example/p", &out), 0);
    ck_assert_str_eq(out.scheme, "https");
    ck_assert_str_eq(out.host, "x.example");
    ck_assert_uint_eq(out.port, 443); /* the new authority's port: the scheme default */
    ah_url_free(&out);
    ck_assert_int_eq(ah_url_resolve(&base, "HTTP://Y/", &out), 0);
    ck_assert_str_eq(out.scheme, "http");
    ck_assert_str_eq(out.host, "y");
    ck_assert_uint_eq(out.port, 80);
    ah_url_free(&out);
    /* a bad reference leaves nothing behind */
    memset(&out, 0x5a, sizeof(out));
    ck_assert_int_eq(ah_url_resolve(&base, "a b", &out), AH_EINVAL);
    assert_zeroed(&out);
    ck_assert_int_eq(ah_url_resolve(&base, "//h:x/", &out), AH_EINVAL);
    assert_zeroed(&out);
    ck_assert_int_eq(ah_url_resolve(&base, "a:b:c", &out), 0); /* scheme "a" */
    ck_assert_str_eq(out.scheme, "a");
    ah_url_free(&out);
    ck_assert_int_eq(ah_url_resolve(&base, "1a:b", &out), AH_EINVAL); /* ':' in first segment */
    assert_zeroed(&out);
    ah_url_free(&base);
    /* the base must be absolute */
    ah_url rel = {0};
    ck_assert_int_eq(ah_url_resolve(&rel, "x", &out), AH_EINVAL);
    assert_zeroed(&out);
}
END_TEST

START_TEST(test_resolve_against_base_with_empty_path)
{
    ah_url base, out;
    ck_assert_int_eq(ah_url_parse("http://h", &base), 0);
    ck_assert_int_eq(ah_url_resolve(&base, "x/y", &out), 0);
    ck_assert_str_eq(out.path, "/x/y");
    ah_url_free(&out);
    ck_assert_int_eq(ah_url_resolve(&base, "?q", &out), 0);
    char *s = ah_url_format(&out);
    ck_assert_str_eq(s, "http://h?q");
    free(s);
    ah_url_free(&out);
    ah_url_free(&base);
}
END_TEST

static Suite *url_suite(void)
{
    Suite *s = suite_create("url");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_splits_every_component);
    tcase_add_test(tc, test_parse_uses_scheme_default_ports);
    tcase_add_test(tc, test_parse_lowercases_scheme_and_host_only);
    tcase_add_test(tc, test_parse_ipv6_and_ipv4_literals);
    tcase_add_test(tc, test_parse_removes_dot_segments);
    tcase_add_test(tc, test_parse_accepts_uris_without_authority);
    tcase_add_test(tc, test_parse_encodes_harmless_bytes_it_cannot_keep);
    tcase_add_test(tc, test_parse_rejects_bad_urls_without_partial_output);
    suite_add_tcase(s, tc);
    tc = tcase_create("format");
    tcase_add_test(tc, test_format_recomposes_components);
    tcase_add_test(tc, test_format_writes_explicit_ports);
    tcase_add_test(tc, test_target_is_path_and_query);
    tcase_add_test(tc, test_same_origin_compares_scheme_host_port);
    tcase_add_test(tc, test_copy_is_deep);
    tcase_add_test(tc, test_encode_and_decode);
    suite_add_tcase(s, tc);
    tc = tcase_create("resolve");
    tcase_add_test(tc, test_resolve_rfc3986_normal_examples);
    tcase_add_test(tc, test_resolve_rfc3986_abnormal_examples);
    tcase_add_test(tc, test_resolve_takes_port_and_authority_rules);
    tcase_add_test(tc, test_resolve_against_base_with_empty_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(url_suite()); }
