/* URLs: parsing (schemes, userinfo, IPv4/IPv6 hosts, default and explicit ports, case
 * normalisation, dot segments), internationalised host names (IDNA, UTS #46), rejection of bad
 * URLs without partial output and the reasons given for it, percent-encoding and decoding,
 * formatting, every example of RFC 3986 §5.4 for reference resolution, and the client sending an
 * internationalised URL's ASCII host to a server on loopback (through a name server on loopback
 * of the test's own: nothing is looked up on the machine's resolver). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ahttp/client.h>
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

/* ---- internationalised host names ---- */

/* an internationalised host name (UTF-8 in this file), and its A-label form */
#define BUCHER "bücher.example"
#define BUCHER_ACE "xn--bcher-kva.example"

/* The host ah_url_parse makes of url, which must parse. */
static void assert_host(const char *url, const char *want)
{
    ah_url u;
    int rc = ah_url_parse(url, &u);
    ck_assert_msg(rc == 0, "\"%s\" refused (rc %d)", url, rc);
    ck_assert_msg(strcmp(u.host, want) == 0, "\"%s\": host \"%s\", want \"%s\"", url, u.host, want);
    ah_url_free(&u);
}

START_TEST(test_parse_converts_internationalised_hosts_to_a_labels)
{
    assert_host("http://" BUCHER "/", BUCHER_ACE);
    assert_host("http://BÜCHER.example/", BUCHER_ACE); /* upper case: lowered */
    assert_host("http://BÜCHER.EXAMPLE:8080/", BUCHER_ACE);
    assert_host("http://bücher。example/", BUCHER_ACE);     /* U+3002 dot */
    assert_host("http://b%C3%BCcher.example/", BUCHER_ACE); /* escaped UTF-8 */
    assert_host("http://b%c3%bccher.example/", BUCHER_ACE);
    assert_host("http://a%41.example/", "aa.example"); /* escaped ASCII: decoded too */
    /* non-transitional (IDNA2008): the sharp s is kept, not mapped to "ss" */
    assert_host("http://faß.de/", "xn--fa-hia.de");
    /* a symbol IDNA2008 disallows: transitional processing, as curl and browsers reach it */
    assert_host("http://☃.net/", "xn--n3h.net");
    assert_host("http://xn--bcher-kva.example/", BUCHER_ACE); /* ASCII is left as it is */

    ah_url u;
    ck_assert_int_eq(ah_url_parse("HTTPS://usér@" BUCHER ":8443/ä?q=ü", &u), 0);
    ck_assert_str_eq(u.host, BUCHER_ACE);
    ck_assert_str_eq(u.userinfo, "us%C3%A9r"); /* the other components are percent-encoded */
    ck_assert_str_eq(u.path, "/%C3%A4");
    ck_assert_str_eq(u.query, "q=%C3%BC");
    ck_assert_uint_eq(u.port, 8443);
    char *s = ah_url_format(&u);
    ck_assert_str_eq(s, "https://us%C3%A9r@" BUCHER_ACE ":8443/%C3%A4?q=%C3%BC");
    free(s);
    ah_url base = u;
    /* references resolved against a base are converted the same way */
    ck_assert_int_eq(ah_url_resolve(&base, "//www." BUCHER "/x", &u), 0);
    ck_assert_str_eq(u.host, "www." BUCHER_ACE);
    ah_url_free(&u);
    ck_assert_int_eq(ah_url_resolve(&base, "http://BÜCHER.example/", &u), 0);
    ck_assert_int_eq(ah_url_same_origin(&u, &base), 0); /* http against https */
    ck_assert_str_eq(u.host, BUCHER_ACE);
    ah_url_free(&u);
    ah_url_free(&base);
}
END_TEST

START_TEST(test_parse_refuses_hosts_idna_refuses)
{
    static const char *bad[] = {
        "http://\314\201x.example/",       /* a label starting with a combining mark */
        "http://-ü.example/",              /* a label starting with a hyphen */
        "http://b\374cher.example/",       /* Latin-1, not UTF-8 */
        "http://b%FCcher.example/",        /* the same, escaped */
        "http://ex\357\274\217ample.com/", /* U+FF0F maps to '/': another host */
        "http://ex\357\274\240ample.com/", /* U+FF20 maps to '@' */
        "http://a%2Fb.example/",           /* an escaped '/' */
        "http://a%00b.example/",           /* an escaped NUL */
        "http://a%25b.example/",           /* an escaped '%' */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ah_url u;
        memset(&u, 0x5a, sizeof(u));
        int rc = ah_url_parse(bad[i], &u);
        ck_assert_msg(rc == AH_EINVAL, "\"%s\" parsed (rc %d)", bad[i], rc);
        assert_zeroed(&u);
    }
    ah_url base, u;
    ck_assert_int_eq(ah_url_parse("http://h/", &base), 0);
    memset(&u, 0x5a, sizeof(u));
    ck_assert_int_eq(ah_url_resolve(&base, "//\314\201x.example/", &u), AH_EINVAL);
    assert_zeroed(&u);
    ah_url_free(&base);
}
END_TEST

START_TEST(test_explain_says_why_a_url_is_refused)
{
    char why[256];
    ck_assert_int_eq(ah_url_explain("http://" BUCHER "/", why, sizeof(why)), 0);
    ck_assert_str_eq(why, "");
    ck_assert_int_eq(ah_url_explain("http://\314\201x.example/", why, sizeof(why)), AH_EINVAL);
    ck_assert_msg(strstr(why, "IDNA") && strstr(why, "combining"), "%s", why);
    ck_assert_int_eq(ah_url_explain("http://ex\357\274\217ample.com/", why, sizeof(why)),
                     AH_EINVAL);
    ck_assert_msg(strstr(why, "IDNA maps"), "%s", why);
    static const struct {
        const char *url, *why;
    } ex[] = {
        {"example.com/path", "no scheme (an absolute URL such as http://host/ is needed)"},
        {"http://a b/", "whitespace or a control character"},
        {"http://a/%zz", "a '%' not followed by two hex digits"},
        {"http://a%zz/", "a '%' not followed by two hex digits in the host"},
        {"http://a<b/", "a character a host name cannot hold"},
        {"http://[::1/", "an IPv6 literal without its ']'"},
        {"http://[::1]x/", "characters after an IPv6 literal"},
        {"http://[nothex]/", "not an IPv6 address in '[...]'"},
        {"http://u@v@a/", "more than one '@' before the host"},
        {"http://a:8o/", "a port that is not a number"},
        {"http://a:65536/", "a port above 65535"},
    };
    for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
        ck_assert_int_eq(ah_url_explain(ex[i].url, why, sizeof(why)), AH_EINVAL);
        ck_assert_msg(strcmp(why, ex[i].why) == 0, "\"%s\": \"%s\"", ex[i].url, why);
    }
    /* like snprintf: cut to fit, or nothing written at all */
    char small[8];
    ck_assert_int_eq(ah_url_explain("http://a:65536/", small, sizeof(small)), AH_EINVAL);
    ck_assert_str_eq(small, "a port ");
    ck_assert_int_eq(ah_url_explain("http://a:65536/", NULL, 0), AH_EINVAL);
    ck_assert_int_eq(ah_url_explain(NULL, why, sizeof(why)), AH_EINVAL);
    ck_assert_str_eq(why, "no URL");
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

/* ---- end to end: the client on an internationalised URL ---- */

/* A name server on loopback: A questions for BUCHER_ACE get 127.0.0.1, anything else no records.
 * It keeps the names asked about, so the test can see which name the client looked up. */
typedef struct name_server {
    int fd;
    uint16_t port;
    int a_answers;
    char asked[512]; /* the names asked about, each followed by a space */
} name_server;

/* The question's name (labels from q[12]) as dotted text into out; the offset past it, or 0. */
static size_t question_name(const unsigned char *q, size_t n, char *out, size_t size)
{
    size_t i = 12, o = 0;
    while (i < n && q[i] && q[i] < 64 && i + 1 + q[i] < n && o + q[i] + 2 < size) {
        if (o)
            out[o++] = '.';
        memcpy(out + o, q + i + 1, q[i]);
        o += q[i];
        i += 1u + q[i];
    }
    out[o] = '\0';
    return i < n && q[i] == 0 ? i + 1 : 0;
}

static int name_server_run(void *arg)
{
    name_server *ns = arg;
    for (;;) {
        int rc = ah_wait_fd(ns->fd, AH_READ, -1);
        if (rc < 0)
            return rc == AH_ECANCELED ? 0 : rc;
        unsigned char q[512], r[600];
        char name[256];
        struct sockaddr_storage from;
        socklen_t from_len = sizeof(from);
        ssize_t n = recvfrom(ns->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &from_len);
        size_t end = n >= 12 ? question_name(q, (size_t)n, name, sizeof(name)) : 0;
        if (end == 0 || end + 4 > (size_t)n)
            continue;
        int type = q[end] << 8 | q[end + 1];
        size_t len = end + 4;
        memcpy(r, q, len);
        r[2] = 0x81; /* a response, recursion desired */
        r[3] = 0x80; /* recursion available, no error */
        memset(r + 6, 0, 6);
        /* evdns may vary the case of the name it sends (the 0x20 trick) */
        if (type == 1 && strcasecmp(name, BUCHER_ACE) == 0) {
            static const unsigned char answer[] = {0xc0, 0x0c, 0, 1, 0,   1, 0, 0,
                                                   0,    60,   0, 4, 127, 0, 0, 1};
            r[7] = 1;
            memcpy(r + len, answer, sizeof(answer));
            len += sizeof(answer);
            ns->a_answers++;
        }
        if (name[0] && strlen(ns->asked) + strlen(name) + 2 < sizeof(ns->asked)) {
            for (char *c = name; *c; c++)
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
            strcat(ns->asked, name);
            strcat(ns->asked, " ");
        }
        (void)sendto(ns->fd, r, len, 0, (struct sockaddr *)&from, from_len);
    }
}

/* An HTTP server on loopback that answers one request and keeps its head. */
typedef struct head_server {
    ah_listener *l;
    char head[4096];
} head_server;

static int head_server_run(void *arg)
{
    head_server *hs = arg;
    ah_stream *s;
    int rc = ah_listener_accept(hs->l, &s, NULL);
    if (rc < 0)
        return rc;
    rc = ah_stream_read_until(s, "\r\n\r\n", 4, hs->head, sizeof(hs->head) - 1);
    if (rc > 0) {
        hs->head[rc] = '\0';
        static const char ok[] =
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        rc = ah_stream_write(s, ok, sizeof(ok) - 1);
    }
    ah_stream_close(s);
    return rc < 0 ? rc : 0;
}

/* The value of header name in head ("" if absent), into out. */
static const char *head_field(const char *head, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl + strspn(p + 3 + nl, " ");
            snprintf(out, size, "%.*s", (int)strcspn(v, "\r"), v);
            break;
        }
    }
    return out;
}

static name_server g_ns;

static int main_fetch_idn(void *arg)
{
    (void)arg;
    head_server hs = {0};
    ck_assert_int_eq(ah_tcp_listen("127.0.0.1", 0, NULL, &hs.l), 0);
    uint16_t port = ah_listener_port(hs.l);
    ah_task *server = ah_spawn(head_server_run, &hs);
    ah_task *dns = ah_spawn(name_server_run, &g_ns);
    ck_assert_ptr_nonnull(server);
    ck_assert_ptr_nonnull(dns);

    ah_client_opts o = {.dns_timeout_ms = 5000};
    ah_client *c = ah_client_new(&o);
    ck_assert_ptr_nonnull(c);
    char url[128];
    snprintf(url, sizeof(url), "http://BÜCHER.example:%u/p?q=1", port);
    ah_client_response *r;
    int rc = ah_client_get(c, url, &r);
    ck_assert_msg(rc == 0, "%s: %s", url, ah_client_last_error(c));
    ck_assert_int_eq(ah_client_response_status(r), 200);
    char want[128];
    snprintf(want, sizeof(want), "http://" BUCHER_ACE ":%u/p?q=1", port);
    ck_assert_str_eq(ah_client_response_url(r), want);
    ah_client_response_free(r);

    /* a host IDNA refuses fails before anything is looked up, and the message says why */
    rc = ah_client_get(c, "http://\314\201x.example/", &r);
    ck_assert_int_eq(rc, AH_EINVAL);
    const char *msg = ah_client_last_error(c);
    ck_assert_msg(strstr(msg, "malformed URL (a host name IDNA refuses: ") == msg, "%s", msg);
    ah_client_close(c);

    ck_assert_int_eq(ah_join(server), 0);
    ah_cancel(dns);
    (void)!ah_join(dns);
    ah_listener_close(hs.l);

    char field[256];
    ck_assert_msg(strncmp(hs.head, "GET /p?q=1 HTTP/1.1\r\n", 21) == 0, "%s", hs.head);
    snprintf(want, sizeof(want), BUCHER_ACE ":%u", port);
    ck_assert_str_eq(head_field(hs.head, "Host", field, sizeof(field)), want);
    ck_assert_int_eq(g_ns.a_answers, 1);
    ck_assert_msg(strstr(g_ns.asked, BUCHER_ACE " ") != NULL, "asked: %s", g_ns.asked);
    for (const char *a = g_ns.asked; *a; a++) /* never the UTF-8 name */
        ck_assert_msg((unsigned char)*a < 0x80, "asked: %s", g_ns.asked);
    return 0;
}

/* The test's resolv.conf. Named and removed by an unchecked fixture, which runs in Check's parent
 * process: a test that fails in its forked child leaves no file behind. */
static char conf_path[64];

static void conf_path_name(void)
{
    snprintf(conf_path, sizeof(conf_path), "/tmp/ahttp-url-resolv-%d.conf", (int)getpid());
}

static void conf_path_remove(void) { unlink(conf_path); }

/* The client looks up, connects to and names in Host the A-label form of an internationalised
 * host. The name server is on loopback, named in a resolv.conf of the test's own. */
START_TEST(test_client_sends_the_ascii_host_of_an_internationalised_url)
{
    memset(&g_ns, 0, sizeof(g_ns));
    g_ns.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(g_ns.fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(bind(g_ns.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(g_ns.fd, (struct sockaddr *)&sin, &len), 0);
    FILE *f = fopen(conf_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "nameserver 127.0.0.1:%u\n", ntohs(sin.sin_port));
    fclose(f);
    setenv("AH_RESOLV_CONF", conf_path, 1);
    int rc = ah_run(main_fetch_idn, NULL);
    unsetenv("AH_RESOLV_CONF");
    close(g_ns.fd);
    ck_assert_int_eq(rc, 0);
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
    tc = tcase_create("idn");
    tcase_add_test(tc, test_parse_converts_internationalised_hosts_to_a_labels);
    tcase_add_test(tc, test_parse_refuses_hosts_idna_refuses);
    tcase_add_test(tc, test_explain_says_why_a_url_is_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("client");
    tcase_add_unchecked_fixture(tc, conf_path_name, conf_path_remove);
    tcase_add_test(tc, test_client_sends_the_ascii_host_of_an_internationalised_url);
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
