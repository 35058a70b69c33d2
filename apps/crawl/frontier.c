/* ahttp-crawl's frontier: a FIFO queue per host (scheme://host:port), the scope rules, the
 * scheduler that picks the next URL under the per-host limit and delay, and the bound on memory:
 * at most --frontier-mem URLs sit in the host queues; past that, new URLs go to the spill file
 * (spill.c) in arrival order and come back, still in that order, as the queues drain. Once
 * anything is spilled every new URL goes behind it, so the frontier as a whole stays FIFO (and
 * so does each host's queue). Plain functions on the crawler, which do not await, and the spill
 * task, which runs the spill file's I/O on the thread pool. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "crawler.h"

/* ---- the frontier --------------------------------------------------------------------------- */

/* "scheme://authority" of a normalised URL (which always has a path starting with '/'). */
size_t origin_len(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return strlen(url);
    p += 3;
    while (*p && *p != '/' && *p != '?')
        p++;
    return (size_t)(p - url);
}

static crawl_host *host_get(crawler *c, const char *url)
{
    size_t n = origin_len(url);
    size_t b = (size_t)(crawl_hash(url, n) % HOST_BUCKETS);
    for (crawl_host *h = c->buckets[b]; h; h = h->bucket_next)
        if (strlen(h->origin) == n && memcmp(h->origin, url, n) == 0)
            return h;
    crawl_host *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->origin = strndup(url, n);
    if (!h->origin) {
        free(h);
        return NULL;
    }
    h->delay_ms = c->o->delay_ms;
    if (c->o->ignore_robots)
        h->robots_state = ROBOTS_READY; /* robots stays NULL: everything allowed */
    h->bucket_next = c->buckets[b];
    c->buckets[b] = h;
    h->next = c->hosts;
    c->hosts = h;
    return h;
}

static int host_in_domain(const char *h, const char *domain)
{
    size_t hl = strlen(h), dl = strlen(domain);
    if (hl == dl)
        return strcmp(h, domain) == 0;
    return hl > dl && h[hl - dl - 1] == '.' && strcmp(h + hl - dl, domain) == 0;
}

/* Scope rules for a discovered URL (seeds are not subject to them). */
static int in_scope(crawler *c, const char *url)
{
    options *o = c->o;
    for (int i = 0; i < o->nexclude; i++)
        if (regexec(&o->exclude[i], url, 0, NULL, 0) == 0)
            return 0;
    if (o->ninclude) {
        int any = 0;
        for (int i = 0; i < o->ninclude && !any; i++)
            any = regexec(&o->include[i], url, 0, NULL, 0) == 0;
        if (!any)
            return 0;
    }
    if (!o->same_host && !o->same_domain)
        return 1;
    size_t n = origin_len(url);
    int ok = 0;
    for (size_t i = 0; i < c->nseeds && !ok; i++) {
        if (o->same_host) {
            /* same scheme://host:port as a seed */
            ok = strlen(c->seed_hosts[i]) == n && memcmp(c->seed_hosts[i], url, n) == 0;
        } else {
            ah_url u;
            if (ah_url_parse(url, &u) == 0) {
                ah_url s;
                if (ah_url_parse(c->seed_hosts[i], &s) == 0) {
                    ok = host_in_domain(u.host, crawl_domain_of(s.host));
                    ah_url_free(&s);
                }
                ah_url_free(&u);
            }
        }
    }
    return ok;
}

static int host_enqueue(crawler *c, const char *url, size_t len, int depth)
{
    crawl_host *h = host_get(c, url);
    item *it = malloc(sizeof(*it) + len + 1);
    if (!h || !it) {
        free(it);
        return AH_ENOMEM;
    }
    it->next = NULL;
    it->depth = depth;
    memcpy(it->url, url, len);
    it->url[len] = '\0';
    if (h->tail)
        h->tail->next = it;
    else
        h->head = it;
    h->tail = it;
    h->pending++;
    c->queued++;
    return 0;
}

static void spill_wake(crawler *c)
{
    if (c->spill_wake)
        ah_event_set(c->spill_wake);
}

/* Put a normalised URL in the frontier unless seen. Returns 1 if queued, 0 if not, < 0 error. */
int frontier_add(crawler *c, const char *url, int depth, int log)
{
    size_t len = strlen(url);
    int rc = crawl_seen_add(&c->seen, crawl_hash(url, len));
    if (rc <= 0)
        return rc;
    if (c->spill.count || c->queued >= c->o->frontier_mem) {
        rc = crawl_spill_push(&c->spill, url, depth);
        if (c->spill.count > c->spill_peak)
            c->spill_peak = c->spill.count;
        while (rc >= 0 && c->sync_spill && crawl_spill_wants_io(&c->spill, 0))
            rc = crawl_spill_io_sync(&c->spill, 0);
        if (crawl_spill_wants_io(&c->spill, 0))
            spill_wake(c);
    } else {
        rc = host_enqueue(c, url, len, depth);
    }
    if (rc < 0)
        return rc;
    if (log)
        state_log(c, "seen", url, depth);
    if (c->changed)
        ah_event_set(c->changed);
    return 1;
}

int frontier_refill(crawler *c)
{
    int moved = 0;
    while (c->queued < c->o->frontier_mem && c->spill.count) {
        const char *url;
        size_t len;
        int depth;
        int rc = crawl_spill_pop(&c->spill, &url, &len, &depth);
        if (rc == AH_EAGAIN) {
            spill_wake(c); /* the next ones are on disk */
            break;
        }
        if (rc == 0)
            break;
        if (rc < 0 || (rc = host_enqueue(c, url, len, depth)) < 0)
            return rc;
        moved++;
    }
    return moved;
}

size_t frontier_size(const crawler *c) { return c->queued + c->spill.count; }

static int spill_job_run(void *arg) { return crawl_spill_io_run(arg); }

static void spill_job_free(void *arg)
{
    crawl_spill_io_free(arg);
    free(arg);
}

int spill_task(void *arg)
{
    crawler *c = arg;
    for (;;) {
        if (crawl_spill_wants_io(&c->spill, 0)) {
            crawl_spill_io *job = malloc(sizeof(*job));
            int rc = job ? crawl_spill_take_io(&c->spill, 0, job) : AH_ENOMEM;
            if (rc == 1) {
                rc = ah_to_thread_ex(spill_job_run, job, spill_job_free);
                if (rc == AH_ECANCELED || rc == AH_ETIMEDOUT)
                    return rc; /* abandoned: the pool frees the job */
                rc = crawl_spill_io_done(&c->spill, job);
            }
            free(job);
            if (rc >= 0)
                rc = frontier_refill(c);
            if (rc < 0 && !c->spill.error)
                c->spill.error = rc;
            if (c->spill.error) {
                /* the spilled URLs are lost to this run (a --state log still has them) */
                stop_requested = 1;
                ah_event_set(c->changed);
                return c->spill.error;
            }
            ah_event_set(c->changed);
            continue;
        }
        if (c->finishing)
            return 0;
        ah_event_clear(c->spill_wake);
        if (ah_event_wait(c->spill_wake, -1) == AH_ECANCELED)
            return AH_ECANCELED;
    }
}

/* A link or redirect target found at depth `depth` (the depth it would be crawled at). */
int frontier_offer(crawler *c, const char *url, int depth)
{
    if (c->o->max_depth >= 0 && depth > c->o->max_depth)
        return 0;
    if (!in_scope(c, url))
        return 0;
    return frontier_add(c, url, depth, 1);
}

static item *host_pop(crawler *c, crawl_host *h)
{
    item *it = h->head;
    h->head = it->next;
    if (!h->head)
        h->tail = NULL;
    h->pending--;
    c->queued--;
    return it;
}

/* The request target of a normalised URL, for robots.txt matching. */
static const char *target_of(const char *url) { return url + origin_len(url); }

/* Choose the next piece of work. On PICK_PAGE *it is the URL (a request slot of *hp is taken);
 * on PICK_ROBOTS the robots.txt of *hp is to be fetched (slot taken); on PICK_WAIT *wait_ms is
 * how long nothing can start. */
int pick(crawler *c, crawl_host **hp, item **it, int64_t *wait_ms)
{
    options *o = c->o;
    *wait_ms = IDLE_POLL_MS;
    if (stop_requested || (o->max_pages && c->started >= o->max_pages))
        return PICK_DONE;
    if (c->queued < o->frontier_mem && c->spill.count && frontier_refill(c) < 0) {
        stop_requested = 1;
        return PICK_DONE;
    }
    if (!c->queued)
        return c->inflight || c->spill.count ? PICK_WAIT : PICK_DONE;
    int64_t now = ah_now_ms();
    crawl_host *start = c->rr ? c->rr : c->hosts;
    crawl_host *h = start;
    do {
        crawl_host *next = h->next ? h->next : c->hosts;
        if (h->pending && h->robots_state != ROBOTS_FETCHING && h->inflight < o->per_host) {
            if (h->next_ms > now) {
                if (h->next_ms - now < *wait_ms)
                    *wait_ms = h->next_ms - now;
            } else if (h->robots_state == ROBOTS_UNKNOWN) {
                h->robots_state = ROBOTS_FETCHING;
                h->inflight++;
                c->inflight++;
                h->next_ms = now + h->delay_ms;
                c->rr = next;
                *hp = h;
                return PICK_ROBOTS;
            } else {
                /* drop what robots.txt forbids without spending a request slot on it */
                while (h->pending && h->robots &&
                       !crawl_robots_allowed(h->robots, target_of(h->head->url))) {
                    item *no = host_pop(c, h);
                    c->robots_denied++;
                    state_log(c, "done", no->url, -1);
                    free(no);
                }
                if (h->pending) {
                    *it = host_pop(c, h);
                    h->inflight++;
                    c->inflight++;
                    c->started++;
                    h->next_ms = now + h->delay_ms;
                    c->rr = next;
                    *hp = h;
                    return PICK_PAGE;
                }
            }
        }
        h = next;
    } while (h != start);
    if (!c->queued && !c->inflight && !c->spill.count)
        return PICK_DONE;
    return PICK_WAIT;
}

void slot_release(crawler *c, crawl_host *h)
{
    h->inflight--;
    c->inflight--;
    if (c->changed)
        ah_event_set(c->changed);
}
