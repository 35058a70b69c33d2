/* ahttp: URLs (RFC 3986) — parsing into components, resolving a relative reference against a
 * base (§5.2, with dot-segment removal), formatting, and percent-encoding helpers.
 *
 *     ah_url u;
 *     if (ah_url_parse("HTTP://Example.COM:8080/a/./b/../c?x=1#top", &u) == 0) {
 *         // u.scheme "http", u.host "example.com", u.port 8080, u.path "/a/c",
 *         // u.query "x=1", u.fragment "top"
 *         ah_url_free(&u);
 *     }
 *
 * Host names with non-ASCII labels are internationalised domain names: they are converted to
 * their ASCII form (A-labels, "bücher.example" -> "xn--bcher-kva.example") with libidn2, UTS #46
 * non-transitional processing (IDNA2008), so an ah_url's host is always the name to resolve, to
 * send in Host, to check a certificate against and to match cookies with.
 *
 * Ownership: every string of an ah_url is its own malloc'd copy, freed by ah_url_free. A
 * function that fails leaves *out zeroed (nothing to free, no partial output). Nothing here
 * awaits or touches the loop: these are plain functions, usable from any thread. */
#ifndef AHTTP_URL_H
#define AHTTP_URL_H

#include <ahttp/common.h>
#include <ahttp/error.h>

AH_BEGIN_DECLS

/** The components of a URI. A component that is absent is NULL; an empty one is "" (RFC 3986
 * keeps the two apart: "http://a/p?" has an empty query, "http://a/p" none). */
typedef struct ah_url {
    char *scheme;      /**< lower-cased ("http"); never NULL in a parsed or resolved URL */
    char *userinfo;    /**< "user:pass" as written (still percent-encoded), or NULL */
    char *host;        /**< lower-cased ASCII: percent-escapes decoded, internationalised names
                            as A-labels ("xn--bcher-kva.example"); IPv6 literals without their
                            brackets ("::1"); NULL when the URI has no authority ("mailto:x"),
                            "" for an empty one */
    char *path;        /**< never NULL, may be ""; dot segments removed */
    char *query;       /**< after '?', without it; NULL if there was no '?' */
    char *fragment;    /**< after '#', without it; NULL if there was no '#' */
    uint16_t port;     /**< the explicit port, else the scheme's default (80, 443), else 0 */
    int port_explicit; /**< 1 if the URL spelled a port out */
} ah_url;

/** Parse an absolute URI (it must have a scheme). The scheme and host are lower-cased, dot
 * segments are removed from the path, and bytes that may not appear in a URI but are
 * harmless ('"', '<', '>', '\\', '^', '`', '{', '|', '}' and non-ASCII) are percent-encoded
 * outside the host. In the host, percent-escapes are decoded (RFC 3986 §3.2.2: they stand for
 * UTF-8), and a name with non-ASCII bytes (UTF-8) is converted to its A-labels by UTS #46
 * non-transitional processing, or transitional where that fails, as curl does.
 * Rejected with AH_EINVAL (and *out zeroed): no scheme, whitespace or control characters
 * anywhere, a bad percent escape, a bad host (unbalanced or invalid IPv6 literal, characters
 * not allowed in a host name, escaped or not, more than one '@', a name IDNA refuses or maps
 * to characters a host cannot hold), a port that is not a number or is > 65535; ah_url_explain
 * says which. A URI with no authority ("urn:x", "http:g") is accepted: ah_url_is_http says
 * whether it is something an HTTP client can fetch. AH_ENOMEM when out of memory. */
AH_NODISCARD AH_EXPORT int ah_url_parse(const char *s, ah_url *out);

/** Why ah_url_parse refuses s, in a few words for an error message ("a port above 65535", "a
 * host name IDNA refuses: string contains a disallowed character"), written into buf[0..size)
 * like snprintf (NUL-terminated if size > 0, cut to fit; buf may be NULL when size is 0). Returns
 * what ah_url_parse returns for s: 0 (buf "") if it parses, AH_EINVAL with the reason,
 * AH_ENOMEM ("out of memory"). It parses s again: meant for the error path. */
AH_NODISCARD AH_EXPORT int ah_url_explain(const char *s, char *buf, size_t size);

/** Resolve the reference ref (absolute, or relative such as "../x?y", "//host/p", "#f")
 * against the absolute URL base, per RFC 3986 §5.2.2 (strict: a reference with a scheme is
 * taken as absolute). The result goes into *out (caller frees with ah_url_free).
 * AH_EINVAL if base has no scheme or ref is malformed (rules as ah_url_parse). */
AH_NODISCARD AH_EXPORT int ah_url_resolve(const ah_url *base, const char *ref, ah_url *out);

/** A deep copy of src into *dst. AH_ENOMEM (dst zeroed) when out of memory. */
AH_NODISCARD AH_EXPORT int ah_url_copy(const ah_url *src, ah_url *dst);

/** Recompose the URI (RFC 3986 §5.3): scheme ":" ["//" [userinfo "@"] host [":" port]] path
 * ["?" query] ["#" fragment]. The port is written when it was explicit; IPv6 hosts get their
 * brackets back. Returns a malloc'd string the caller frees, or NULL when out of memory. */
AH_EXPORT char *ah_url_format(const ah_url *u);

/** The request target for HTTP: the path ("/" if empty) and "?query" if any, without the
 * fragment. malloc'd (caller frees), NULL when out of memory. */
AH_EXPORT char *ah_url_target(const ah_url *u);

/** 1 if u is an http or https URL with a non-empty host, else 0. */
AH_EXPORT int ah_url_is_http(const ah_url *u);

/** 1 if a and b have the same origin: scheme, host and port (RFC 6454). */
AH_EXPORT int ah_url_same_origin(const ah_url *a, const ah_url *b);

/** The default port of a scheme (http, ws: 80; https, wss: 443), or 0 if it has none. */
AH_EXPORT uint16_t ah_url_default_port(const char *scheme);

/** Free the strings of u and zero it. NULL and an already freed (zeroed) u are fine. */
AH_EXPORT void ah_url_free(ah_url *u);

/** Percent-encode s[0..len): every byte except the unreserved ones (ALPHA DIGIT - . _ ~) and
 * those listed in `safe` (may be NULL) becomes %XX (upper-case hex). For a query value use
 * safe = NULL; for a path, "/". Returns a malloc'd NUL-terminated string the caller frees, or
 * NULL when out of memory. */
AH_EXPORT char *ah_url_encode(const char *s, size_t len, const char *safe);

/** Percent-decode s[0..len) (plus_as_space: '+' becomes ' ', as in form data). On success
 * *out is a malloc'd, NUL-terminated string the caller frees and *out_len its length (the
 * decoded bytes may include NUL; out_len may be NULL). AH_EINVAL on a '%' not followed by two
 * hex digits (*out set to NULL), AH_ENOMEM when out of memory. */
AH_NODISCARD AH_EXPORT int ah_url_decode(const char *s, size_t len, int plus_as_space, char **out,
                                         size_t *out_len);

AH_END_DECLS

#endif
