/* Runtime micro-benchmarks, printed as "name value unit" lines for bench/run-runtime.sh:
 *   switch_ns       one task-to-task switch (two tasks ping-ponging with ah_yield; each yield is
 *                   a switch out to the loop and one into the other task, counted as one switch)
 *   spawn_join_ns   ah_spawn + ah_join of a task that returns at once
 *   sleep0_ns       ah_sleep(0) round trip of a lone task (through the loop's ready queue and its
 *                   non-blocking I/O poll)
 *   rss_100k_mib    resident memory with 100,000 tasks asleep at once (64 KiB slab stacks) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ahttp/ahttp.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

static long iterations = 2000000;

static int pinger(void *arg)
{
    for (long i = 0; i < iterations; i++)
        if (ah_yield() < 0)
            return -1;
    return 0;
}

static int bench_switch(void *arg)
{
    ah_task *a = ah_spawn(pinger, NULL), *b = ah_spawn(pinger, NULL);
    double t0 = now_ns();
    ah_task *both[2] = {a, b};
    if (ah_gather(both, 2, NULL) < 0)
        return -1;
    double ns = (now_ns() - t0) / (2.0 * (double)iterations);
    printf("switch_ns %.1f ns\n", ns);
    return 0;
}

static int nothing(void *arg) { return 0; }

static int bench_spawn_join(void *arg)
{
    long n = iterations / 2;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        ah_task *t = ah_spawn(nothing, NULL);
        if (!t || ah_join(t) != 0)
            return -1;
    }
    printf("spawn_join_ns %.1f ns\n", (now_ns() - t0) / (double)n);
    return 0;
}

static int bench_sleep0(void *arg)
{
    long n = iterations / 2;
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (ah_sleep(0) != 0)
            return -1;
    printf("sleep0_ns %.1f ns\n", (now_ns() - t0) / (double)n);
    return 0;
}

#define SLEEPERS 100000

static int sleeper(void *arg) { return ah_sleep(*(int *)arg); }

static int report_rss(void *arg)
{
    printf("rss_100k_mib %.1f MiB\n", (double)rss_kib() / 1024.0);
    return 0;
}

static int bench_rss(void *arg)
{
    static ah_task *tasks[SLEEPERS];
    int ms = 1000;
    long before = rss_kib();
    for (int i = 0; i < SLEEPERS; i++)
        if (!(tasks[i] = ah_spawn(sleeper, &ms)))
            return -1;
    if (ah_sleep(200) < 0) /* every task has started and is asleep */
        return -1;
    report_rss(NULL);
    printf("rss_100k_delta_mib %.1f MiB\n", (double)(rss_kib() - before) / 1024.0);
    return ah_gather(tasks, SLEEPERS, NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        iterations = atol(argv[1]);
    if (ah_run(bench_switch, NULL) < 0 || ah_run(bench_spawn_join, NULL) < 0 ||
        ah_run(bench_sleep0, NULL) < 0) {
        fprintf(stderr, "bench_runtime: failed\n");
        return 1;
    }
    ah_loop_opts opts = {.stack_size = 64 * 1024, .stack_guard = -1};
    ah_loop *loop = ah_loop_new(&opts);
    int rc = loop ? ah_loop_run(loop, bench_rss, NULL) : -1;
    ah_loop_free(loop);
    if (rc < 0) {
        fprintf(stderr, "bench_runtime: rss: %s\n", ah_strerror(rc));
        return 1;
    }
    return 0;
}
