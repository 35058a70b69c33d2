/* ahttp-demo: shows the coroutine runtime at work until the sample server exists.
 * Spawns N tasks that each sleep a random while, a blocking job on the thread pool, and a
 * progress ticker; prints what happens; exits 0. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ahttp/ahttp.h>

static const char usage[] = "usage: ahttp-demo [-n TASKS] [-m MAX_SLEEP_MS]\n"
                            "  -n TASKS        concurrent sleeping tasks (default 10000)\n"
                            "  -m MAX_SLEEP_MS longest sleep (default 1000)\n";

typedef struct {
    int tasks;
    int max_sleep_ms;
    int finished;
} demo;

static int sleeper(void *arg)
{
    demo *d = arg;
    int rc = ah_sleep(rand() % (d->max_sleep_ms + 1));
    if (rc == 0)
        d->finished++;
    return rc;
}

static int ticker(void *arg)
{
    demo *d = arg;
    while (ah_sleep(100) == 0)
        fprintf(stderr, "\r%6d of %d tasks woke up", d->finished, d->tasks);
    return 0;
}

static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static int blocking(void *arg)
{
    return fib(*(int *)arg); /* CPU-bound: belongs on a thread, not the loop */
}

static int amain(void *arg)
{
    demo *d = arg;
    int64_t start = ah_now_ms();
    ah_group *g = ah_group_new();
    if (!g)
        return AH_ENOMEM;
    for (int i = 0; i < d->tasks; i++) {
        int rc = ah_group_spawn(g, sleeper, d);
        if (rc < 0) {
            fprintf(stderr, "spawn: %s\n", ah_strerror(rc));
            break;
        }
    }
    ah_task *tick = ah_spawn(ticker, d);
    int n = 32;
    int f = ah_to_thread(blocking, &n);
    int rc = ah_group_wait(g);
    ah_group_free(g);
    ah_cancel(tick);
    (void)!ah_join(tick);
    fprintf(stderr, "\n");
    printf("%d tasks slept up to %d ms each, together in %lld ms; fib(%d) = %d on a thread\n",
           d->finished, d->max_sleep_ms, (long long)(ah_now_ms() - start), n, f);
    return rc;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    demo d = {.tasks = 10000, .max_sleep_ms = 1000};
    int c;
    while ((c = getopt(argc, argv, "n:m:h")) != -1) {
        switch (c) {
        case 'n':
            if (parse_int(optarg, 1, 1000000, &d.tasks) < 0) {
                fprintf(stderr, "ahttp-demo: -n wants 1..1000000, got '%s'\n%s", optarg, usage);
                return 2;
            }
            break;
        case 'm':
            if (parse_int(optarg, 0, 3600000, &d.max_sleep_ms) < 0) {
                fprintf(stderr, "ahttp-demo: -m wants 0..3600000, got '%s'\n%s", optarg, usage);
                return 2;
            }
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ahttp-demo: unexpected argument '%s'\n%s", argv[optind], usage);
        return 2;
    }
    srand((unsigned)time(NULL));
    /* Slab stacks: many small tasks without running out of memory mappings. */
    ah_loop_opts opts = {.stack_guard = d.tasks > 20000 ? -1 : 1};
    ah_loop *loop = ah_loop_new(&opts);
    if (!loop) {
        fprintf(stderr, "ahttp-demo: cannot create the event loop\n");
        return 1;
    }
    int rc = ah_loop_run(loop, amain, &d);
    ah_loop_free(loop);
    if (rc < 0) {
        fprintf(stderr, "ahttp-demo: %s\n", ah_strerror(rc));
        return 1;
    }
    return 0;
}
