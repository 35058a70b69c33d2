/* ahttp: a cookie jar (RFC 6265, with the parts of RFC 6265bis browsers and curl apply):
 * Set-Cookie parsing, domain and path matching, host-only and domain cookies, Secure,
 * HttpOnly, SameSite, Expires and Max-Age, and the Cookie header for a request. It loads and
 * saves the Netscape cookie file curl uses (-b / -c), and holds a bounded number of cookies so
 * a server cannot make it grow without end.
 *
 *     ah_cookie_jar *jar = ah_cookie_jar_new();
 *     if (ah_cookie_jar_load(jar, "cookies.txt") < 0) { ... }   // before the loop runs
 *     ah_client_opts o = {.cookie_jar = jar};                   // the client stores and sends
 *     ...
 *     if (ah_cookie_jar_save(jar, "cookies.txt") < 0) { ... }   // after it
 *     ah_cookie_jar_free(jar);
 *
 * Time is wall-clock seconds since the epoch (time(NULL)); the calls that need it take it as
 * now_s, so tests and callers control it. A jar is a plain data structure: it never awaits and
 * is not locked, so use it from one thread at a time (several clients on one loop may share it).
 * ah_cookie_jar_load and _save do blocking file I/O: call them at program start and exit, or
 * from ah_to_thread, never straight from a task.
 *
 * A Domain attribute that is a public suffix ("com", "co.uk", "github.io") is refused, as curl
 * and browsers do: the Public Suffix List comes from libpsl, the system's copy
 * (/usr/share/publicsuffix) when it is newer than the one built into libpsl, read once per
 * process by the first ah_cookie_jar_new (or the first call that needs it).
 *
 * Not here: SameSite enforcement (the attribute is kept, a client has no "site" to compare
 * with), and cookies set by scripts. Host names are matched in their ASCII form, which is what
 * ah_url_parse makes of internationalised ones; a Domain attribute is not converted. */
#ifndef AHTTP_COOKIE_H
#define AHTTP_COOKIE_H

#include <ahttp/common.h>
#include <ahttp/error.h>
#include <ahttp/url.h>

AH_BEGIN_DECLS

/** A cookie jar (opaque). */
typedef struct ah_cookie_jar ah_cookie_jar;

/** The jar's default limits: cookies in all, cookies per domain, and bytes of name + value of
 * one cookie (a bigger one is ignored). When a new cookie would break a count limit, expired
 * cookies go first, then the oldest (earliest made) of that domain or of the whole jar. */
#define AH_COOKIE_JAR_MAX_COOKIES 3000
#define AH_COOKIE_JAR_MAX_PER_DOMAIN 50
#define AH_COOKIE_MAX_BYTES 4096

/** The SameSite attribute as received. */
typedef enum ah_cookie_same_site {
    AH_COOKIE_SAMESITE_UNSET, /**< absent or not one of the three values */
    AH_COOKIE_SAMESITE_NONE,
    AH_COOKIE_SAMESITE_LAX,
    AH_COOKIE_SAMESITE_STRICT,
} ah_cookie_same_site;

/** One cookie as stored. The strings belong to the jar and stay valid until the jar next
 * changes (a set, load, header call that drops expired cookies, or free). */
typedef struct ah_cookie {
    const char *name;
    const char *value;
    const char *domain; /**< lower-case, without a leading dot */
    const char *path;
    int64_t expires; /**< seconds since the epoch; 0 for a session cookie */
    int host_only;   /**< 1: sent to exactly `domain`; 0: to it and its subdomains */
    int secure;      /**< 1: sent over https only */
    int http_only;   /**< HttpOnly (an HTTP client sends it like any other) */
    ah_cookie_same_site same_site;
} ah_cookie;

/** An empty jar with the default limits, or NULL when out of memory. The caller owns it and
 * frees it with ah_cookie_jar_free (after every client using it is closed). The first call in a
 * process reads the public suffix list (a blocking file read): make jars at start-up. */
AH_EXPORT ah_cookie_jar *ah_cookie_jar_new(void);

/** Free the jar and its cookies. NULL is ignored. */
AH_EXPORT void ah_cookie_jar_free(ah_cookie_jar *jar);

/** Change the count limits (0 keeps the current value; max_cookies is at most 100,000). Cookies
 * beyond new, lower limits are dropped the next time one is stored. */
AH_EXPORT void ah_cookie_jar_set_limits(ah_cookie_jar *jar, size_t max_cookies,
                                        size_t max_per_domain);

/** Store the cookie of one Set-Cookie header value received in the response to request_url
 * (RFC 6265 §5.2 and §5.3): name=value, then Expires (any date format §5.1.1 reads: IMF-fixdate,
 * RFC 850, asctime and their variants), Max-Age (wins over Expires; <= 0 deletes), Domain (a
 * leading dot is ignored; it must domain-match the request host; a public suffix is refused
 * unless it is the host itself, which then gets a host-only cookie as RFC 6265 §5.3 step 5
 * says; an IP address host only ever gets host-only cookies), Path (the default path of §5.1.4
 * when absent or not starting with '/'), Secure, HttpOnly, SameSite; unknown attributes are
 * ignored. As RFC 6265bis and curl: a Secure cookie from a plain http URL is refused, and so is
 * a plain-http cookie that would replace a Secure one; the __Secure- and __Host- name prefixes
 * are enforced. A cookie whose expiry has passed deletes the one it would replace.
 * Returns 1 if the jar changed (stored, replaced or deleted), 0 if the header was ignored
 * (malformed, refused, too big, or deleting nothing), AH_EINVAL for NULL arguments or a
 * request_url without a host, AH_ENOMEM. */
AH_NODISCARD AH_EXPORT int ah_cookie_jar_set(ah_cookie_jar *jar, const ah_url *request_url,
                                             const char *set_cookie, int64_t now_s);

/** The value of the Cookie header for a request to url (RFC 6265 §5.4): the unexpired cookies
 * whose domain matches the host (exactly, for host-only ones), whose path matches the URL's
 * path, and, for Secure ones, only if the scheme is https; "name=value" pairs joined by "; ",
 * longer paths first, then the earlier made first. Expired cookies met on the way are dropped.
 * Like snprintf: writes as many whole pairs as fit into out[0..size) (NUL-terminated if size
 * > 0) and returns the length of the whole value (0: no cookies); a return >= size means the
 * output was cut and a bigger buffer is needed (out may be NULL when size is 0).
 * AH_EINVAL for NULL jar or url. */
AH_NODISCARD AH_EXPORT int ah_cookie_jar_header(ah_cookie_jar *jar, const ah_url *url,
                                                int64_t now_s, char *out, size_t size);

/** The number of cookies stored (expired ones not yet dropped included). */
AH_EXPORT size_t ah_cookie_jar_count(const ah_cookie_jar *jar);

/** Cookie i (from 0, in the order they were first stored) into *out. 0, or AH_EINVAL past the
 * end. */
AH_NODISCARD AH_EXPORT int ah_cookie_jar_get(const ah_cookie_jar *jar, size_t i, ah_cookie *out);

/** Add the cookies of a Netscape cookie file (curl's format: one cookie a line, seven
 * tab-separated fields — domain, include-subdomains TRUE/FALSE, path, secure TRUE/FALSE, expiry
 * in epoch seconds (0: session), name, value; a "#HttpOnly_" prefix on the domain marks
 * HttpOnly; other lines starting with '#' and blank lines are skipped; so are malformed and
 * expired lines, and domain cookies for a public suffix). "-" reads standard input. A cookie
 * replaces one of the same name, domain and path; the limits apply. Blocking (see above).
 * Returns the number of cookies added, or -errno from opening or reading the file
 * (-ENOENT: no such file), AH_EINVAL, AH_ENOMEM. */
AH_NODISCARD AH_EXPORT int ah_cookie_jar_load(ah_cookie_jar *jar, const char *path);

/** Write the unexpired cookies (session cookies with expiry 0) to a Netscape cookie file, which
 * is written beside path and renamed over it (mode 0600: cookies are credentials), so a reader
 * never sees half a file. "-" writes to standard output. Blocking (see above).
 * Returns the number of cookies written, or -errno, AH_EINVAL. */
AH_NODISCARD AH_EXPORT int ah_cookie_jar_save(const ah_cookie_jar *jar, const char *path);

AH_END_DECLS

#endif
