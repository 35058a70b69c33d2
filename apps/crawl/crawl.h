/* ahttp-crawl: the pieces of the crawler that are plain functions (no loop, no I/O), so the unit
 * suite tests/unit/check_crawl.c can test them: robots.txt rules, URL normalisation and the
 * seen set, and link extraction from HTML. main.c is the concurrent part. */
#ifndef AH_CRAWL_H
#define AH_CRAWL_H

#include <stddef.h>
#include <stdint.h>

#include <ahttp/url.h>

/* ---- robots.txt (robots.c) ---------------------------------------------------------------- */

/** The rules of one robots.txt that apply to one user agent. */
typedef struct crawl_robots crawl_robots;

/** Parse a robots.txt body (len bytes; need not be NUL-terminated) and keep the group that
 * applies to user_agent: the group whose User-agent token is the longest one contained
 * (case-insensitively) in user_agent's product name, else the '*' group, else none (everything
 * allowed). Returns NULL when out of memory. The caller frees with crawl_robots_free. */
crawl_robots *crawl_robots_parse(const char *body, size_t len, const char *user_agent);

/** A robots that allows everything (a 404 robots.txt, or --ignore-robots). */
crawl_robots *crawl_robots_allow_all(void);

/** A robots that disallows everything (5xx, or no answer). */
crawl_robots *crawl_robots_disallow_all(void);

/** 1 if path_and_query (the request target, e.g. "/a/b?x=1") may be fetched: the longest
 * matching Allow or Disallow pattern decides ('*' matches any run, a final '$' anchors the end),
 * Allow wins a tie, no match allows. */
int crawl_robots_allowed(const crawl_robots *r, const char *path_and_query);

/** The Crawl-delay of the group in milliseconds, or -1 if none was given. */
int64_t crawl_robots_delay_ms(const crawl_robots *r);

void crawl_robots_free(crawl_robots *r);

/* ---- URLs (normalize.c) ------------------------------------------------------------------- */

/** Normalise an absolute http(s) URL in place: scheme and host lower case (ah_url does that),
 * default port dropped, dot segments removed, fragment dropped, userinfo kept, percent escapes
 * upper-cased and unreserved ones (ALPHA DIGIT - . _ ~) decoded, empty path made "/".
 * Returns 0, AH_EINVAL if u is not http(s) with a host, AH_ENOMEM. */
int crawl_url_normalize(ah_url *u);

/** Resolve ref against base, normalise, and format: a malloc'd string (caller frees) in *out.
 * Returns 0, AH_EINVAL for a bad reference or a non-http(s) result, AH_ENOMEM. */
int crawl_url_resolve(const ah_url *base, const char *ref, char **out);

/** Parse and normalise an absolute URL string into a malloc'd string in *out. */
int crawl_url_canonical(const char *s, char **out);

/** A 64-bit hash of a string (FNV-1a, then mixed). */
uint64_t crawl_hash(const char *s, size_t len);

/** A set of 64-bit hashes: open addressing, linear probing, grows at 50% load. */
typedef struct crawl_seen {
    uint64_t *slots; /* 0 marks an empty slot (a hash of 0 is stored as 1) */
    size_t cap, count;
} crawl_seen;

/** Add h: 1 if it was new, 0 if already there, AH_ENOMEM. */
int crawl_seen_add(crawl_seen *s, uint64_t h);
/** 1 if h is in s. */
int crawl_seen_has(const crawl_seen *s, uint64_t h);
void crawl_seen_free(crawl_seen *s);

/* ---- links (links.c) ---------------------------------------------------------------------- */

/** The links found in one HTML document. */
typedef struct crawl_links {
    char **urls; /* absolute, normalised, malloc'd; in document order, duplicates kept */
    size_t count, cap;
    size_t nofollow; /* links skipped for rel=nofollow */
} crawl_links;

/** Parse html (len bytes) with gumbo and collect a[href], area[href], link[href],
 * frame[src] and iframe[src], resolved against <base href> (the first one, itself resolved
 * against page_url) or page_url, normalised. Links with rel containing "nofollow" are skipped
 * unless follow_nofollow. Unresolvable or non-http(s) references (mailto:, javascript:) are
 * dropped. Returns 0 or AH_ENOMEM; the caller frees *out with crawl_links_free. */
int crawl_links_extract(const char *html, size_t len, const ah_url *page_url, int follow_nofollow,
                        crawl_links *out);

void crawl_links_free(crawl_links *l);

#endif
