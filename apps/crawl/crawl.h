/* ahttp-crawl: the pieces of the crawler that are plain functions (no loop), so the unit suite
 * tests/unit/check_crawl.c can test them: robots.txt rules, URL normalisation and the seen set,
 * link extraction from HTML, and the spill file of the frontier (whose blocking I/O the crawler
 * runs on the thread pool). main.c is the concurrent part. */
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

/** The domain of a (lower-case) host for --same-domain: its registrable domain by the Public
 * Suffix List (libpsl: "a.b.example.co.uk" → "example.co.uk", "x.github.io" → itself). An IP
 * address, a one-label name and a public suffix are their own domain. Points into host. */
const char *crawl_domain_of(const char *host);

/** Resolve ref against base, normalise, and format: a malloc'd string (caller frees) in *out.
 * Returns 0, AH_EINVAL for a bad reference or a non-http(s) result, AH_ENOMEM. */
int crawl_url_resolve(const ah_url *base, const char *ref, char **out);

/** A base URL prepared for resolving many references (a page's links) against it. */
typedef struct crawl_url_base {
    const ah_url *url; /* borrowed */
    char prefix[512];  /* "scheme://[userinfo@]host[:port]", normalised */
    size_t prefix_len;
    int fast; /* plain references can be resolved as strings (normalize.c) */
} crawl_url_base;

/** Prepare url (borrowed: it must outlive b) as a base. */
void crawl_url_base_init(crawl_url_base *b, const ah_url *url);

/** crawl_url_resolve, appending the result with its NUL to the growable buffer *buf (*len bytes
 * used of *cap; realloc'd as needed, caller frees). The same result, without the allocations
 * for references made of plain characters. Returns 0, AH_EINVAL (nothing appended), AH_ENOMEM. */
int crawl_url_resolve_append(const crawl_url_base *b, const char *ref, char **buf, size_t *len,
                             size_t *cap);

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

/* ---- the frontier's spill file (spill.c) --------------------------------------------------- */

/** A FIFO of frontier entries ("DEPTH URL\n" records) kept on disk: what the frontier cannot
 * hold in memory. Records are pushed into a write buffer that is written to the end of the file
 * in batches, and read back from the front of the file in 64 KiB chunks. The file is unlinked as
 * soon as it is made, so it goes away with the process however that ends.
 *
 * The order of the records is: those read back (r) → those in the file not yet read → a batch
 * being written (taken by crawl_spill_take_write) → the write buffer (w). crawl_spill_pop takes
 * from the front; when the front is on disk it says so (AH_EAGAIN) and a read must run first.
 * When the file has been read to its end the write buffer is popped directly, so a frontier
 * that spills a little never touches the disk.
 *
 * The blocking calls (crawl_spill_io_run) touch only the job they are given, never the spill,
 * so they can run on another thread while the owner keeps pushing and popping; the owner runs
 * at most one job at a time. */
typedef struct crawl_spill {
    const char *dir;    /* where the file is made (NULL: $TMPDIR, else /tmp); borrowed */
    size_t write_batch; /* write when the write buffer holds this much (0: 64 KiB) */
    int fd;             /* -1 until the first write */
    uint64_t file_end;  /* bytes in the file */
    uint64_t file_pos;  /* bytes of the file read back */
    char *w;            /* the write buffer: records after all the others */
    size_t wpos, wlen, wcap;
    char *r; /* records read back and not popped yet (the last one may be partial) */
    size_t rpos, rlen, rcap;
    size_t count;   /* records pushed and not popped */
    size_t written; /* records ever written to the file (for the summary) */
    int busy;       /* a job is out (taken and not yet done) */
    int error;      /* the first I/O error: the records on disk are lost */
} crawl_spill;

/** One blocking job of a spill: a write of a batch or a read of a chunk. */
typedef struct crawl_spill_io {
    int write;       /* 1: write data; 0: read up to cap bytes into data */
    int fd;          /* -1 for the first write: the file is made by the job */
    const char *dir; /* for making the file */
    uint64_t offset;
    char *data;
    size_t len, cap;
    size_t records; /* in a write */
    int result;     /* 0 or a negative errno */
} crawl_spill_io;

/** An empty spill whose file (made on the first write) goes in dir (NULL: $TMPDIR, else /tmp;
 * borrowed). */
void crawl_spill_init(crawl_spill *s, const char *dir);

/** Append a record. Returns 0 or AH_ENOMEM. */
int crawl_spill_push(crawl_spill *s, const char *url, int depth);

/** Take the first record: 1 and *url (NUL-terminated, valid until the next call on s), *len and
 * *depth; 0 if the spill is empty; AH_EAGAIN if the first record is on disk (a read job must run
 * first); s->error if a job failed. */
int crawl_spill_pop(crawl_spill *s, const char **url, size_t *len, int *depth);

/** 1 if a job should run now: a write when the write buffer holds write_batch bytes or more (or
 * any at all with flush), a read when the front record is on disk. 0 otherwise, or while a job
 * is out. */
int crawl_spill_wants_io(const crawl_spill *s, int flush);

/** Fill in the job that crawl_spill_wants_io asked for (flush as there) and mark the spill busy.
 * Returns 1 with a job, 0 if there is nothing to do, AH_ENOMEM. */
int crawl_spill_take_io(crawl_spill *s, int flush, crawl_spill_io *job);

/** Run a job: blocking I/O, safe on another thread (it touches only the job). Returns
 * job->result. */
int crawl_spill_io_run(crawl_spill_io *job);

/** Take a finished job's result back into the spill and free the job's buffer. Returns 0 or the
 * job's error (which is also kept in s->error). */
int crawl_spill_io_done(crawl_spill *s, crawl_spill_io *job);

/** take + run + done in the calling thread (before the loop runs, and in tests). Returns 1 if a
 * job ran, 0 if none was wanted, or an error. */
int crawl_spill_io_sync(crawl_spill *s, int flush);

/** Free the buffers of a job that will not be done. */
void crawl_spill_io_free(crawl_spill_io *job);

/** Close the file and free the buffers. */
void crawl_spill_free(crawl_spill *s);

/* ---- links (links.c) ---------------------------------------------------------------------- */

/** The links found in one HTML document. */
typedef struct crawl_links {
    char **urls; /* absolute, normalised; in document order, duplicates kept; into store */
    size_t count;
    size_t nofollow; /* links skipped for rel=nofollow */
    char *store;     /* the URLs, each with its NUL, one after another (one allocation) */
    size_t store_len, store_cap;
} crawl_links;

/** Parse html (len bytes) with gumbo and collect a[href], area[href], link[href],
 * frame[src] and iframe[src], resolved against <base href> (the first one, itself resolved
 * against page_url) or page_url, normalised. Links with rel containing "nofollow" are skipped
 * unless follow_nofollow. Unresolvable or non-http(s) references (mailto:, javascript:) are
 * dropped. The document is parsed whole, however long. Returns 0 or AH_ENOMEM; the caller frees
 * *out with crawl_links_free. */
int crawl_links_extract(const char *html, size_t len, const ah_url *page_url, int follow_nofollow,
                        crawl_links *out);

/** The same extraction, fed the document in pieces as it arrives, in bounded memory.
 *
 * As the bytes come, a small part of the HTML tokenizer follows them (links.c) to know where the
 * real one will be in its data state — not in a tag, comment, doctype, CDATA section, script,
 * style, title, textarea or other raw text. It does two things with that:
 *
 * - It squeezes text: a run of text between two pieces of markup that holds a character other
 *   than whitespace, and no '&', NUL or CR, becomes one "x". The elements of the tree stay the
 *   same (what the tree builder does with text depends only on whether it is whitespace), and
 *   gumbo, which spends some 50 ns on each character of text, gets the tags alone.
 * - A document with more than `window` bytes or window/16 tags after squeezing is parsed in
 *   windows, each cut just before a '<' in the data state that does not start a <frameset>,
 *   and not inside the elements that decide whether an element with a link is made at all —
 *   <select>, <svg>, <math> — nor anywhere after a <frameset> or a <plaintext>. Without such a
 *   point the window grows. Links are kept as written until the end, then resolved against the
 *   first <base href> of the whole document. So memory is gumbo's tree for one window (some
 *   5 MB) plus the links, not the tree of the document (16 bytes a byte: 50 MB for 3 MB).
 *
 * What a windowed parse may change, against crawl_links_extract: the tree builder clones an <a>
 * that markup around it closes early (`<p><a href=x>one<p>two` makes two links to x), and
 * elements opened in an earlier window are not open in the next, so such duplicate links may be
 * counted differently; a <frameset> that follows body content, which a whole parse ignores, may
 * be taken in a later window (adding its frames' links); the order of links that a table's
 * foster parenting moves; and pathological foreign (SVG/MathML) content across a cut. The
 * distinct URLs, in order of first appearance, are otherwise the same.
 *
 * Gumbo's allocations go to an arena dropped after each parse, which also saves freeing the
 * tree node by node. */
typedef struct crawl_links_parser crawl_links_parser;

/** Default window of crawl_links_parser_new. */
#define CRAWL_LINKS_WINDOW (256 * 1024)

/** A parser for one document at page_url (borrowed: it must outlive the parser). window: bytes
 * per parse (0: the default; SIZE_MAX: the whole document). NULL when out of memory. */
crawl_links_parser *crawl_links_parser_new(const ah_url *page_url, int follow_nofollow,
                                           size_t window);

/** Append len bytes of the document. Returns 1 when a window is ready (call
 * crawl_links_parser_parse before feeding more, to keep memory bounded), 0 if not, AH_ENOMEM. */
int crawl_links_parser_feed(crawl_links_parser *p, const char *data, size_t len);

/** Bytes fed and not parsed yet. */
size_t crawl_links_parser_pending(const crawl_links_parser *p);

/** Parse the ready window, or with final everything fed (the end of the document). CPU work
 * that touches only p: it may run on another thread. Returns 0 or AH_ENOMEM. */
int crawl_links_parser_parse(crawl_links_parser *p, int final);

/** After the final parse: resolve and normalise the links into *out (as crawl_links_extract).
 * Returns 0 or AH_ENOMEM; the caller frees *out with crawl_links_free. */
int crawl_links_parser_finish(crawl_links_parser *p, crawl_links *out);

/** What a parser did: the gumbo parses it ran and the most arena bytes one of them used. */
void crawl_links_parser_stats(const crawl_links_parser *p, size_t *parses, size_t *arena_peak);

void crawl_links_parser_free(crawl_links_parser *p);

void crawl_links_free(crawl_links *l);

#endif
