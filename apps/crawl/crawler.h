/* ahttp-crawl's internals shared by main.c (options, fetching), frontier.c (per-host queues,
 * scope, scheduling, the bound on memory and the spill task), state.c (resuming from the --state
 * log and compacting it) and output.c (JSON lines and the state log, written through
 * ah_to_thread by one writer task). Not part of the library. */
#ifndef AH_CRAWLER_H
#define AH_CRAWLER_H

#include <regex.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <ahttp/ahttp.h>

#include "crawl.h"

#define MAX_PATTERNS 16
#define HOST_BUCKETS 1024
#define READ_CHUNK (16 * 1024)       /* a body is read this much at a time, into the task's stack */
#define INLINE_PARSE_MAX (32 * 1024) /* HTML up to this is parsed in the task, more on the pool */
#define CRAWL_DELAY_MAX_MS 60000 /* a robots.txt cannot stall us for longer than this per page */
#define IDLE_POLL_MS 100         /* idle workers look again this often (signals, delays) */
#define FLUSH_MS 20              /* output and state lines are written at most this late */
#define FLUSH_BYTES (64 * 1024)  /* or as soon as this much has gathered */

typedef struct options {
    int concurrency, per_host;
    int64_t delay_ms;
    long max_pages; /* 0: no limit */
    int max_depth;  /* < 0: no limit */
    int same_host, same_domain;
    regex_t include[MAX_PATTERNS], exclude[MAX_PATTERNS];
    int ninclude, nexclude;
    const char *user_agent;
    int64_t timeout_ms;
    size_t max_body;
    const char *cacert;
    int insecure, ignore_robots, follow_nofollow, quiet;
    const char *output, *state;
    size_t frontier_mem; /* URLs held in memory at most; the rest goes to the spill file */
} options;

typedef struct bufout {
    int fd; /* -1: not in use */
    char *data;
    size_t len, cap;
    int error; /* the first write error */
} bufout;

typedef struct write_job {
    int fd;
    char *data;
    size_t len;
} write_job;

typedef struct sbuf {
    char *data;
    size_t len, cap;
    int failed;
} sbuf;

typedef struct item {
    struct item *next;
    int depth;
    char url[];
} item;

enum { ROBOTS_UNKNOWN, ROBOTS_FETCHING, ROBOTS_READY };

typedef struct crawl_host {
    struct crawl_host *bucket_next, *next;
    char *origin; /* "http://example.com:8080" */
    item *head, *tail;
    size_t pending;
    int inflight;
    int64_t next_ms; /* no request before this (ah_now_ms) */
    int64_t delay_ms;
    int robots_state;
    crawl_robots *robots;
} crawl_host;

typedef struct errors {
    unsigned long timeout, dns, connect, tls, http, other, status_4xx, status_5xx;
} errors;

typedef struct crawler {
    options *o;
    ah_client *client;
    crawl_seen seen;
    crawl_host *buckets[HOST_BUCKETS];
    crawl_host *hosts, *rr; /* all hosts; rr: where the next scan starts */
    size_t queued;          /* items in all host queues (in memory: at most o->frontier_mem) */
    crawl_spill spill;      /* the rest of the frontier, on disk, in FIFO order */
    ah_event *spill_wake;   /* the spill task has I/O to do */
    int sync_spill;         /* no loop yet: frontier_add does spill I/O itself */
    size_t spill_peak;      /* most URLs in the spill at once (for the summary) */
    int inflight;           /* requests in flight (robots.txt ones too) */
    long started;           /* pages taken from the frontier */
    ah_event *changed;
    char **seed_hosts;
    size_t nseeds;
    /* output */
    bufout out, state;
    sbuf line; /* the JSON line being built; kept for the next page */
    ah_event *writer_wake;
    int finishing;
    /* summary */
    unsigned long pages, robots_denied;
    uint64_t bytes;
    errors err;
    int64_t start_ms;
} crawler;

/* Set by SIGINT/SIGTERM (and by a failed output write): take no new URL. */
extern volatile sig_atomic_t stop_requested;

/* ---- output.c ---- */
int write_job_run(void *arg);
void write_job_free(void *arg);
void sb_add(sbuf *b, const char *s, size_t n);
void sb_str(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a number in decimal (what "%" PRIu64 / "%" PRId64 write, without vsnprintf's cost). */
void sb_u64(sbuf *b, uint64_t v);
void sb_i64(sbuf *b, int64_t v);
/* Append s as a JSON string (null for NULL). */
void sb_json(sbuf *b, const char *s);
/* Append to an output buffer and wake the writer task. */
void out_append(crawler *c, bufout *b, const char *s, size_t n);
/* The writer task: flushes c->out, then c->state, through ah_to_thread until c->finishing. */
int writer_task(void *arg);
/* Log "what url [depth]" to the state file, if there is one. */
void state_log(crawler *c, const char *what, const char *url, int depth);

/* ---- frontier.c ---- */
/* The length of "scheme://authority" at the start of a normalised URL. */
size_t origin_len(const char *url);
/* Queue a normalised URL unless seen (log: write "seen" to the state): 1 queued, 0 not, < 0. */
int frontier_add(crawler *c, const char *url, int depth, int log);
/* frontier_add for a discovered URL (link or redirect): --max-depth and the scope rules first. */
int frontier_offer(crawler *c, const char *url, int depth);
enum { PICK_DONE = -1, PICK_WAIT = 0, PICK_PAGE = 1, PICK_ROBOTS = 2 };
/* Choose the next piece of work. On PICK_PAGE *it is the URL (a request slot of *hp is taken);
 * on PICK_ROBOTS the robots.txt of *hp is to be fetched (slot taken); on PICK_WAIT *wait_ms is
 * how long nothing can start. */
int pick(crawler *c, crawl_host **hp, item **it, int64_t *wait_ms);
/* A request to h has ended: give its slot back. */
void slot_release(crawler *c, crawl_host *h);
/* Move spilled URLs into the host queues while there is room and they are in memory; wakes the
 * spill task when the next ones are on disk. Returns how many moved, or < 0 (a spill error). */
int frontier_refill(crawler *c);
/* URLs in the frontier: in memory and spilled. */
size_t frontier_size(const crawler *c);
/* The spill task: writes the spill's batches and reads them back, on the thread pool, until
 * c->finishing. */
int spill_task(void *arg);

/* ---- state.c ---- */
/* Resume from the --state log at path (before the loop runs): every URL in it is seen, those not
 * done go back into the frontier, and the file is rewritten compactly (see state.c). Returns the
 * log opened for appending (a new one if there was none), or a negative errno. */
int state_resume(crawler *c, const char *path);

#endif
