/* ahttp-crawl: a concurrent, polite, resumable web crawler on the ahttp client.
 *
 *   ahttp-crawl [options] SEED_URL...
 *
 * Shape: --concurrency worker tasks share one client and one frontier. The frontier is a queue
 * per host (scheme://host:port); a worker takes the next URL of a host that has fewer than
 * --per-host requests in flight and whose --delay (or robots.txt Crawl-delay) has passed, the
 * first request to each host being its robots.txt. Redirects are not followed by the client:
 * the Location goes back into the frontier like a link, so dedup ends loops. Every page's JSON
 * record (and, with --state, the "seen"/"done" log) is appended to a buffer that one writer
 * task flushes through ah_to_thread, so no task blocks on file I/O. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "crawler.h"

static const char usage[] =
    "usage: ahttp-crawl [options] SEED_URL...\n"
    "  -c, --concurrency N     requests in flight in all (default 32)\n"
    "      --per-host N        requests in flight per host (default 4)\n"
    "      --delay MS          at least MS milliseconds between requests to a host (default 0)\n"
    "  -n, --max-pages N       fetch at most N pages (default: no limit)\n"
    "  -d, --max-depth D       follow links at most D hops from a seed (default: no limit)\n"
    "      --same-host         follow only links to a seed's host (and port)\n"
    "      --same-domain       follow only links within a seed's registrable domain\n"
    "      --include REGEX     follow only URLs matching REGEX (POSIX extended; repeatable)\n"
    "      --exclude REGEX     never follow URLs matching REGEX (repeatable)\n"
    "  -A, --user-agent UA     User-agent, also the name robots.txt groups are matched against\n"
    "                          (default ahttp-crawl/" PACKAGE_VERSION ")\n"
    "  -t, --timeout SECONDS   limit each fetch to SECONDS in all (default 30)\n"
    "      --max-body BYTES    read at most BYTES of a body; longer ones are cut and marked\n"
    "                          \"truncated\" (default 10485760)\n"
    "      --cacert FILE       trust the CAs in FILE (PEM) as well\n"
    "  -k, --insecure          do not verify servers' certificates\n"
    "      --ignore-robots     do not fetch or obey robots.txt\n"
    "      --follow-nofollow   follow rel=nofollow links too\n"
    "  -o, --output FILE       write the JSON lines to FILE (default stdout)\n"
    "      --state FILE        keep the frontier in FILE; run again with it to resume\n"
    "      --frontier-mem N    keep at most N queued URLs in memory, the rest on disk (next to\n"
    "                          the --state file, else in $TMPDIR) (default 100000)\n"
    "  -q, --quiet             no summary on stderr\n"
    "  -h, --help              this text\n";

volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    if (stop_requested)
        _exit(128 + sig); /* the second ^C: stop at once */
    stop_requested = 1;
}

/* ---- fetching ------------------------------------------------------------------------------ */

static int is_html(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, "text/html", 9) == 0 ||
           strncasecmp(ct, "application/xhtml+xml", 21) == 0;
}

static const char *error_kind(int code, const ah_client_error *e)
{
    switch (code) {
    case AH_ETIMEDOUT: return "timeout";
    case AH_EDNS: return "dns";
    case AH_ETLS:
    case AH_ETLS_VERIFY:
    case AH_ETLS_TRUNCATED: return "tls";
    case AH_EPROTO_HTTP:
    case AH_EEOF:
    case AH_ETRUNCATED:
    case AH_ECONNRESET:
    case AH_EREDIRECTS:
    case AH_ETOOBIG: return "http";
    default: break;
    }
    if (code == AH_ECONNREFUSED || (e && e->phase == AH_CLIENT_PHASE_CONNECT))
        return "connect";
    return "other";
}

static void count_error(crawler *c, const char *kind)
{
    if (!strcmp(kind, "timeout"))
        c->err.timeout++;
    else if (!strcmp(kind, "dns"))
        c->err.dns++;
    else if (!strcmp(kind, "tls"))
        c->err.tls++;
    else if (!strcmp(kind, "http"))
        c->err.http++;
    else if (!strcmp(kind, "connect"))
        c->err.connect++;
    else
        c->err.other++;
}

/* Read up to max bytes of a body (robots.txt) into *data (malloc'd, NUL-terminated). Returns 0
 * or the read error; *truncated is set when there was more than max. */
static int read_body(ah_client_response *r, size_t max, char **data, size_t *len, int *truncated)
{
    char buf[READ_CHUNK];
    sbuf b = {0};
    size_t total = 0;
    int rc = 0;
    *truncated = 0;
    for (;;) {
        int n = ah_client_response_read(r, buf, sizeof(buf));
        if (n <= 0) {
            rc = n;
            break;
        }
        size_t take = (size_t)n;
        if (total + take > max) {
            take = max - total;
            *truncated = 1;
        }
        sb_add(&b, buf, take);
        total += take;
        if (*truncated)
            break;
    }
    if (b.failed && rc == 0)
        rc = AH_ENOMEM;
    *len = total;
    if (!b.data && rc == 0)
        b.data = calloc(1, 1);
    *data = b.data;
    return rc;
}

/* The link parser of one page, and what it borrows. Heap-allocated, so that a parse abandoned on
 * the thread pool (the task was cancelled) can be freed there. */
typedef struct page_parse {
    ah_url base;
    crawl_links_parser *parser;
    int final;
} page_parse;

static void page_parse_free(void *arg)
{
    page_parse *pp = arg;
    if (!pp)
        return;
    crawl_links_parser_free(pp->parser);
    ah_url_free(&pp->base);
    free(pp);
}

static int page_parse_run(void *arg)
{
    page_parse *pp = arg;
    return crawl_links_parser_parse(pp->parser, pp->final);
}

/* Parse what *ppp holds (a ready window, or with final the rest). A little is parsed here in the
 * task: handing it to a thread and back costs more than the parse. More goes to the thread pool,
 * which keeps the loop responsive (and gumbo's stack needs are not a coroutine's). If the task is
 * cancelled meanwhile, the pool frees *ppp and it is set to NULL. */
static int page_parse_step(page_parse **ppp, int final)
{
    page_parse *pp = *ppp;
    pp->final = final;
    if (crawl_links_parser_pending(pp->parser) <= INLINE_PARSE_MAX)
        return page_parse_run(pp);
    int rc = ah_to_thread_ex(page_parse_run, pp, page_parse_free);
    if (rc == AH_ECANCELED || rc == AH_ETIMEDOUT)
        *ppp = NULL; /* abandoned: the pool frees it */
    return rc;
}

/* Read up to max bytes of a page's body, feeding them to *ppp (if not NULL) as they come, and
 * parse them window by window: the body itself is never kept whole. Returns 0 or the read or
 * parse error; *len is the bytes read, *truncated set when there was more than max. */
static int read_page(ah_client_response *r, size_t max, page_parse **ppp, size_t *len,
                     int *truncated)
{
    char buf[READ_CHUNK];
    size_t total = 0;
    int rc = 0;
    *truncated = 0;
    for (;;) {
        int n = ah_client_response_read(r, buf, sizeof(buf));
        if (n <= 0) {
            rc = n;
            break;
        }
        size_t take = (size_t)n;
        if (total + take > max) {
            take = max - total;
            *truncated = 1;
        }
        total += take;
        if (*ppp) {
            rc = crawl_links_parser_feed((*ppp)->parser, buf, take);
            if (rc == 1)
                rc = page_parse_step(ppp, 0);
            if (rc < 0)
                break;
        }
        if (*truncated)
            break;
    }
    *len = total;
    if (rc == 0 && *ppp)
        rc = page_parse_step(ppp, 1);
    return rc;
}

static void fetch_robots(crawler *c, crawl_host *h)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s/robots.txt", h->origin);
    ah_client_error e = {0};
    ah_client_request req = {
        .url = url, .max_redirects = 5, .timeout_ms = c->o->timeout_ms, .error = &e};
    ah_client_response *r = NULL;
    crawl_robots *robots = NULL;
    int rc = ah_client_fetch(c->client, &req, &r);
    if (rc == 0) {
        int status = ah_client_response_status(r);
        if (status >= 200 && status < 300) {
            char *body = NULL;
            size_t len = 0;
            int truncated;
            if (read_body(r, 512 * 1024, &body, &len, &truncated) == 0)
                robots = crawl_robots_parse(body, len, c->o->user_agent);
            else
                robots = crawl_robots_disallow_all();
            free(body);
        } else if (status >= 400 && status < 500) {
            robots = crawl_robots_allow_all(); /* "unavailable": no restrictions */
        } else {
            robots = crawl_robots_disallow_all(); /* 5xx, or a 3xx loop: "unreachable" */
        }
        ah_client_response_free(r);
    } else {
        robots = crawl_robots_disallow_all();
    }
    if (!robots)
        robots = crawl_robots_disallow_all(); /* out of memory: be polite */
    h->robots = robots;
    if (robots) {
        int64_t d = crawl_robots_delay_ms(robots);
        if (d > CRAWL_DELAY_MAX_MS)
            d = CRAWL_DELAY_MAX_MS;
        if (d > h->delay_ms) {
            h->next_ms += d - h->delay_ms;
            h->delay_ms = d;
        }
    }
    h->robots_state = ROBOTS_READY;
}

static int is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* The page's JSON line, appended to the output. Built in c->line, which is kept from page to
 * page (no allocation per line). */
static void write_record(crawler *c, const item *it, const char *final_url, int status,
                         const char *content_type, size_t bytes, size_t nlinks, int64_t elapsed_ms,
                         int truncated, const char *redirect_to, const char *err_msg)
{
    sbuf *b = &c->line;
    b->len = 0;
    b->failed = 0;
    sb_str(b, "{\"url\":");
    sb_json(b, it->url);
    sb_str(b, ",\"final_url\":");
    sb_json(b, final_url ? final_url : it->url);
    sb_str(b, ",\"status\":");
    sb_i64(b, status);
    sb_str(b, ",\"depth\":");
    sb_i64(b, it->depth);
    sb_str(b, ",\"content_type\":");
    sb_json(b, content_type);
    sb_str(b, ",\"bytes\":");
    sb_u64(b, bytes);
    sb_str(b, ",\"links\":");
    sb_u64(b, nlinks);
    sb_str(b, ",\"elapsed_ms\":");
    sb_i64(b, elapsed_ms);
    if (truncated)
        sb_str(b, ",\"truncated\":true");
    if (redirect_to) {
        sb_str(b, ",\"redirect_to\":");
        sb_json(b, redirect_to);
    }
    if (err_msg) {
        sb_str(b, ",\"error\":");
        sb_json(b, err_msg);
    }
    sb_str(b, "}\n");
    if (!b->failed)
        out_append(c, &c->out, b->data, b->len);
}

static void fetch_page(crawler *c, item *it)
{
    options *o = c->o;
    int64_t t0 = ah_now_ms();
    ah_client_error e = {0};
    ah_client_request req = {
        .url = it->url, .max_redirects = -1, .timeout_ms = o->timeout_ms, .error = &e};
    ah_client_response *r = NULL;
    int status = 0, truncated = 0;
    size_t bytes = 0, nlinks = 0;
    const char *content_type = NULL, *final_url = NULL; /* the response's, until it is freed */
    char *redirect_to = NULL;
    const char *err_msg = NULL;
    char err_buf[300];
    int rc = ah_client_fetch(c->client, &req, &r);
    if (rc == 0) {
        status = ah_client_response_status(r);
        content_type = ah_client_response_header(r, "Content-Type");
        final_url = ah_client_response_url(r);
        if (is_redirect(status)) {
            const char *loc = ah_client_response_header(r, "Location");
            ah_url base;
            if (loc && ah_url_parse(it->url, &base) == 0) {
                if (crawl_url_resolve(&base, loc, &redirect_to) == 0)
                    frontier_offer(c, redirect_to, it->depth);
                ah_url_free(&base);
            }
        }
        page_parse *pp = NULL;
        if (is_html(content_type) && status >= 200 && status < 300) {
            pp = calloc(1, sizeof(*pp));
            if (!pp || ah_url_parse(it->url, &pp->base) < 0 ||
                !(pp->parser = crawl_links_parser_new(&pp->base, o->follow_nofollow, 0))) {
                page_parse_free(pp);
                pp = NULL;
                rc = AH_ENOMEM;
            }
        }
        if (rc == 0)
            rc = read_page(r, o->max_body, &pp, &bytes, &truncated);
        if (rc == 0 && pp) {
            crawl_links links;
            rc = crawl_links_parser_finish(pp->parser, &links);
            if (rc == 0) {
                nlinks = links.count;
                if (o->max_depth < 0 || it->depth + 1 <= o->max_depth)
                    for (size_t i = 0; i < links.count; i++)
                        frontier_offer(c, links.urls[i], it->depth + 1);
                crawl_links_free(&links);
            }
        }
        page_parse_free(pp);
        if (rc < 0) {
            const ah_client_error *re = ah_client_response_error(r);
            snprintf(err_buf, sizeof(err_buf), "%s",
                     re && re->code && re->message[0] ? re->message : ah_strerror(rc));
            err_msg = err_buf;
            count_error(c, error_kind(rc, re));
        }
    } else {
        snprintf(err_buf, sizeof(err_buf), "%s", e.message[0] ? e.message : ah_strerror(rc));
        err_msg = err_buf;
        count_error(c, error_kind(rc, &e));
    }
    if (status >= 500)
        c->err.status_5xx++;
    else if (status >= 400)
        c->err.status_4xx++;
    c->pages++;
    c->bytes += bytes;
    write_record(c, it, final_url, status, content_type, bytes, nlinks, ah_now_ms() - t0, truncated,
                 redirect_to, err_msg);
    ah_client_response_free(r);
    state_log(c, "done", it->url, -1);
    free(redirect_to);
}

static int worker(void *arg)
{
    crawler *c = arg;
    for (;;) {
        crawl_host *h = NULL;
        item *it = NULL;
        int64_t wait_ms;
        int kind = pick(c, &h, &it, &wait_ms);
        if (kind == PICK_DONE)
            break;
        if (kind == PICK_WAIT) {
            ah_event_clear(c->changed);
            if (ah_event_wait(c->changed, wait_ms) == AH_ECANCELED)
                break;
            continue;
        }
        if (kind == PICK_ROBOTS) {
            fetch_robots(c, h);
        } else {
            fetch_page(c, it);
            free(it);
        }
        slot_release(c, h);
        if (ah_task_cancelled())
            break;
    }
    ah_event_set(c->changed); /* let the others see the end too */
    return 0;
}

static int progress_task(void *arg)
{
    crawler *c = arg;
    while (ah_sleep(500) == 0) {
        char line[160];
        double secs = (double)(ah_now_ms() - c->start_ms) / 1000.0;
        int n = snprintf(line, sizeof(line),
                         "\rahttp-crawl: %lu pages, %zu queued, %d in flight, %.1f pages/s   ",
                         c->pages, frontier_size(c), c->inflight,
                         secs > 0 ? (double)c->pages / secs : 0);
        write_job *j = malloc(sizeof(*j));
        char *data = n > 0 ? strdup(line) : NULL;
        if (!j || !data) {
            free(j);
            free(data);
            continue;
        }
        *j = (write_job){2, data, strlen(data)};
        int rc = ah_to_thread_ex(write_job_run, j, write_job_free);
        if (rc == AH_ECANCELED)
            return 0;
        write_job_free(j);
    }
    return 0;
}

/* ---- main ----------------------------------------------------------------------------------- */

typedef struct app {
    options *o;
    char **seeds; /* normalised */
    size_t nseeds;
    crawler c;
    int rc;
} app;

static int amain(void *arg)
{
    app *a = arg;
    crawler *c = &a->c;
    options *o = a->o;
    ah_client_opts copts = {
        .max_connections = (size_t)o->concurrency,
        .max_per_host = (size_t)o->per_host,
        .timeout_ms = o->timeout_ms,
        .max_redirects = -1,
        .max_body = o->max_body,
        .user_agent = o->user_agent,
        .ca_file = o->cacert,
        .insecure = o->insecure,
    };
    c->client = ah_client_new(&copts);
    c->changed = ah_event_new();
    c->writer_wake = ah_event_new();
    c->spill_wake = ah_event_new();
    ah_task **workers = calloc((size_t)o->concurrency, sizeof(*workers));
    if (!c->client || !c->changed || !c->writer_wake || !c->spill_wake || !workers) {
        fprintf(stderr, "ahttp-crawl: out of memory\n");
        free(workers);
        return AH_ENOMEM;
    }
    c->start_ms = ah_now_ms();
    int rc = 0;
    for (size_t i = 0; i < a->nseeds && rc >= 0; i++)
        rc = frontier_add(c, a->seeds[i], 0, 1);
    ah_task *writer = ah_spawn(writer_task, c);
    ah_task *spiller = ah_spawn(spill_task, c);
    ah_task *progress = isatty(2) && !o->quiet ? ah_spawn(progress_task, c) : NULL;
    size_t nworkers = 0;
    for (int i = 0; i < o->concurrency && rc >= 0 && writer && spiller; i++)
        if ((workers[nworkers] = ah_spawn(worker, c)) != NULL)
            nworkers++;
    for (size_t i = 0; i < nworkers; i++)
        (void)!ah_join(workers[i]);
    free(workers);
    if (progress) {
        ah_cancel(progress);
        (void)!ah_join(progress);
        fputs("\n", stderr);
    }
    c->finishing = 1;
    if (spiller) {
        ah_event_set(c->spill_wake);
        (void)!ah_join(spiller);
    }
    if (writer) {
        ah_event_set(c->writer_wake);
        (void)!ah_join(writer);
    }
    ah_client_close(c->client);
    c->client = NULL;
    if (rc < 0 || !writer || !spiller)
        return rc < 0 ? rc : AH_ENOMEM;
    if (c->spill.error) {
        fprintf(stderr, "ahttp-crawl: the frontier's spill file failed: %s\n",
                ah_strerror(c->spill.error));
        return c->spill.error;
    }
    if (c->out.error || c->state.error) {
        fprintf(stderr, "ahttp-crawl: writing the %s failed: %s\n",
                c->out.error ? "output" : "state file",
                ah_strerror(c->out.error ? c->out.error : c->state.error));
        return c->out.error ? c->out.error : c->state.error;
    }
    return 0;
}

static int bad_usage(const char *fmt, const char *arg)
{
    fputs("ahttp-crawl: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(ahttp-crawl --help for the options)\n", stderr);
    return 2;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int add_regex(regex_t *set, int *n, const char *pattern, const char *flag)
{
    if (*n == MAX_PATTERNS)
        return bad_usage("too many %s patterns (16 at most)", flag);
    int rc = regcomp(&set[*n], pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[200];
        regerror(rc, &set[*n], msg, sizeof(msg));
        fprintf(stderr, "ahttp-crawl: bad %s '%s': %s\n", flag, pattern, msg);
        return 2;
    }
    (*n)++;
    return 0;
}

static void print_summary(const crawler *c)
{
    double secs = (double)(ah_now_ms() - c->start_ms) / 1000.0;
    const errors *e = &c->err;
    fprintf(stderr,
            "ahttp-crawl: %lu pages in %.2f s (%.1f pages/s), %llu bytes; %lu errors "
            "(timeout %lu, dns %lu, connect %lu, tls %lu, http %lu, other %lu); "
            "status 4xx %lu, 5xx %lu; %lu URLs disallowed by robots.txt (or its host "
            "unreachable); %zu left in the frontier; %zu URLs spilled to disk\n",
            c->pages, secs, secs > 0 ? (double)c->pages / secs : 0.0, (unsigned long long)c->bytes,
            e->timeout + e->dns + e->connect + e->tls + e->http + e->other, e->timeout, e->dns,
            e->connect, e->tls, e->http, e->other, e->status_4xx, e->status_5xx, c->robots_denied,
            frontier_size(c), c->spill.written);
}

static void crawler_free(crawler *c)
{
    crawl_host *h = c->hosts;
    while (h) {
        crawl_host *next = h->next;
        while (h->head) {
            item *it = h->head;
            h->head = it->next;
            free(it);
        }
        crawl_robots_free(h->robots);
        free(h->origin);
        free(h);
        h = next;
    }
    crawl_seen_free(&c->seen);
    crawl_spill_free(&c->spill);
    free(c->out.data);
    free(c->state.data);
    free(c->line.data);
    if (c->changed)
        ah_event_free(c->changed);
    if (c->writer_wake)
        ah_event_free(c->writer_wake);
    if (c->spill_wake)
        ah_event_free(c->spill_wake);
}

enum {
    O_PER_HOST = 256,
    O_DELAY,
    O_SAME_HOST,
    O_SAME_DOMAIN,
    O_INCLUDE,
    O_EXCLUDE,
    O_MAX_BODY,
    O_CACERT,
    O_IGNORE_ROBOTS,
    O_FOLLOW_NOFOLLOW,
    O_STATE,
    O_FRONTIER_MEM,
};

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"concurrency", required_argument, NULL, 'c'},
        {"per-host", required_argument, NULL, O_PER_HOST},
        {"delay", required_argument, NULL, O_DELAY},
        {"max-pages", required_argument, NULL, 'n'},
        {"max-depth", required_argument, NULL, 'd'},
        {"same-host", no_argument, NULL, O_SAME_HOST},
        {"same-domain", no_argument, NULL, O_SAME_DOMAIN},
        {"include", required_argument, NULL, O_INCLUDE},
        {"exclude", required_argument, NULL, O_EXCLUDE},
        {"user-agent", required_argument, NULL, 'A'},
        {"timeout", required_argument, NULL, 't'},
        {"max-body", required_argument, NULL, O_MAX_BODY},
        {"cacert", required_argument, NULL, O_CACERT},
        {"insecure", no_argument, NULL, 'k'},
        {"ignore-robots", no_argument, NULL, O_IGNORE_ROBOTS},
        {"follow-nofollow", no_argument, NULL, O_FOLLOW_NOFOLLOW},
        {"output", required_argument, NULL, 'o'},
        {"state", required_argument, NULL, O_STATE},
        {"frontier-mem", required_argument, NULL, O_FRONTIER_MEM},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    options o = {
        .concurrency = 32,
        .per_host = 4,
        .max_depth = -1,
        .user_agent = "ahttp-crawl/" PACKAGE_VERSION,
        .timeout_ms = 30000,
        .max_body = 10 * 1024 * 1024,
        .frontier_mem = 100000,
    };
    int opt, rc = 0;
    long v;
    opterr = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, ":c:n:d:A:t:o:kqh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            if (parse_long(optarg, 1, 10000, &v) < 0)
                rc = bad_usage("bad --concurrency '%s' (1..10000)", optarg);
            o.concurrency = (int)v;
            break;
        case O_PER_HOST:
            if (parse_long(optarg, 1, 1000, &v) < 0)
                rc = bad_usage("bad --per-host '%s' (1..1000)", optarg);
            o.per_host = (int)v;
            break;
        case O_DELAY:
            if (parse_long(optarg, 0, 3600000, &v) < 0)
                rc = bad_usage("bad --delay '%s' (milliseconds)", optarg);
            o.delay_ms = v;
            break;
        case 'n':
            if (parse_long(optarg, 1, 1000000000L, &v) < 0)
                rc = bad_usage("bad --max-pages '%s'", optarg);
            o.max_pages = v;
            break;
        case 'd':
            if (parse_long(optarg, 0, 100000, &v) < 0)
                rc = bad_usage("bad --max-depth '%s'", optarg);
            o.max_depth = (int)v;
            break;
        case O_SAME_HOST: o.same_host = 1; break;
        case O_SAME_DOMAIN: o.same_domain = 1; break;
        case O_INCLUDE: rc = add_regex(o.include, &o.ninclude, optarg, "--include"); break;
        case O_EXCLUDE: rc = add_regex(o.exclude, &o.nexclude, optarg, "--exclude"); break;
        case 'A': o.user_agent = optarg; break;
        case 't': {
            char *end;
            double s = strtod(optarg, &end);
            if (end == optarg || *end || !(s > 0) || s > 86400)
                rc = bad_usage("bad --timeout '%s' (seconds)", optarg);
            o.timeout_ms = (int64_t)(s * 1000.0 + 0.5);
            break;
        }
        case O_MAX_BODY:
            if (parse_long(optarg, 1, 1L << 40, &v) < 0)
                rc = bad_usage("bad --max-body '%s' (bytes)", optarg);
            o.max_body = (size_t)v;
            break;
        case O_CACERT: o.cacert = optarg; break;
        case 'k': o.insecure = 1; break;
        case O_IGNORE_ROBOTS: o.ignore_robots = 1; break;
        case O_FOLLOW_NOFOLLOW: o.follow_nofollow = 1; break;
        case 'o': o.output = optarg; break;
        case O_STATE: o.state = optarg; break;
        case O_FRONTIER_MEM:
            if (parse_long(optarg, 1, 1000000000L, &v) < 0)
                rc = bad_usage("bad --frontier-mem '%s' (1..1000000000 URLs)", optarg);
            o.frontier_mem = (size_t)v;
            break;
        case 'q': o.quiet = 1; break;
        case 'h':
            fputs(usage, stdout);
            rc = -1;
            break;
        case ':': rc = bad_usage("%s needs an argument", argv[optind - 1]); break;
        default: rc = bad_usage("unknown option '%s'", argv[optind - 1]); break;
        }
    }
    if (rc == 0 && o.same_host && o.same_domain)
        rc = bad_usage("%s: choose one", "--same-host and --same-domain");
    if (rc == 0 && optind >= argc)
        rc = bad_usage("%s", "no SEED_URL given");

    app a = {.o = &o, .c = {.o = &o, .out = {.fd = -1}, .state = {.fd = -1}}};
    crawler *c = &a.c;
    /* the spill file goes next to the state file (TMPDIR may well be memory: tmpfs) */
    char *state_copy = o.state ? strdup(o.state) : NULL;
    crawl_spill_init(&c->spill, state_copy ? dirname(state_copy) : NULL);
    /* the spill's write buffer holds a few bytes per URL of the bound (64 B to 64 KiB), so a
     * small bound goes to disk for real */
    c->spill.write_batch = o.frontier_mem * 4;
    if (c->spill.write_batch < 64)
        c->spill.write_batch = 64;
    if (c->spill.write_batch > 64 * 1024)
        c->spill.write_batch = 64 * 1024;
    if (rc == 0) {
        a.nseeds = (size_t)(argc - optind);
        a.seeds = calloc(a.nseeds, sizeof(*a.seeds));
        c->seed_hosts = calloc(a.nseeds, sizeof(*c->seed_hosts));
        if (!a.seeds || !c->seed_hosts) {
            fprintf(stderr, "ahttp-crawl: out of memory\n");
            rc = 1;
        }
    }
    for (size_t i = 0; rc == 0 && i < a.nseeds; i++) {
        const char *s = argv[optind + (int)i];
        if (crawl_url_canonical(s, &a.seeds[i]) < 0) {
            /* what is wrong if the URL does not parse (a host name IDNA refuses, a bad port),
             * else it is not one a crawl can start from */
            char why[160], msg[4096];
            if (ah_url_explain(s, why, sizeof(why)) != AH_EINVAL)
                snprintf(why, sizeof(why), "an absolute http:// or https:// URL is needed");
            snprintf(msg, sizeof(msg), "bad URL '%s' (%s)", s, why);
            rc = bad_usage("%s", msg);
            break;
        }
        c->seed_hosts[i] = strndup(a.seeds[i], origin_len(a.seeds[i]));
        if (!c->seed_hosts[i])
            rc = 1;
        c->nseeds = i + 1;
    }

    /* Files are opened here, before the loop runs: blocking is fine outside tasks. */
    if (rc == 0 && o.state) {
        int fd = state_resume(c, o.state);
        if (fd < 0) {
            fprintf(stderr, "ahttp-crawl: cannot resume from the state file %s: %s\n", o.state,
                    ah_strerror(fd));
            rc = 1;
        }
        c->state.fd = fd;
    }
    if (rc == 0) {
        if (o.output) {
            /* resuming continues the output file; a fresh crawl starts it anew */
            int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (o.state ? O_APPEND : O_TRUNC);
            c->out.fd = open(o.output, flags, 0644);
            if (c->out.fd < 0) {
                fprintf(stderr, "ahttp-crawl: cannot open %s: %s\n", o.output, strerror(errno));
                rc = 1;
            }
        } else {
            c->out.fd = 1;
        }
    }

    if (rc == 0) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
        signal(SIGPIPE, SIG_IGN);
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        /* -q: the library keeps its warnings (libevent's among them) to itself as well */
        if (o.quiet)
            ah_log_set_level(AH_LOG_ERROR);
        /* gumbo and regexec run on the pool or in workers: give tasks room beyond the default */
        ah_loop_opts lo = {.stack_size = 256 * 1024};
        ah_loop *loop = ah_loop_new(&lo);
        if (!loop) {
            fprintf(stderr, "ahttp-crawl: cannot make the event loop\n");
            rc = 1;
        } else {
            int run = ah_loop_run(loop, amain, &a);
            ah_loop_free(loop);
            if (!o.quiet)
                print_summary(c);
            if (stop_requested && !o.quiet && !c->out.error && !c->state.error)
                fprintf(stderr, "ahttp-crawl: interrupted; %s\n",
                        o.state ? "run the same command again to resume"
                                : "no --state file, so the crawl cannot be resumed");
            rc = run < 0 ? 1 : 0;
        }
    }
    if (rc == -1)
        rc = 0; /* --help */
    if (c->out.fd > 2)
        close(c->out.fd);
    if (c->state.fd >= 0)
        close(c->state.fd);
    crawler_free(c);
    for (size_t i = 0; i < a.nseeds && a.seeds; i++)
        free(a.seeds[i]);
    for (size_t i = 0; i < c->nseeds; i++)
        free(c->seed_hosts[i]);
    free(a.seeds);
    free(c->seed_hosts);
    free(state_copy);
    for (int i = 0; i < o.ninclude; i++)
        regfree(&o.include[i]);
    for (int i = 0; i < o.nexclude; i++)
        regfree(&o.exclude[i]);
    return rc;
}
