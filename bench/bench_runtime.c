/* Runtime micro-benchmarks, printed as "name value unit" lines for bench/run-runtime.sh:
 *   switch_ns          one task-to-task switch (two tasks ping-ponging with ah_yield; each yield
 *                      is a switch out to the loop and one into the other task, counted as one
 *                      switch)
 *   spawn_join_ns      ah_spawn + ah_join of a task that returns at once
 *   sleep0_ns          ah_sleep(0) round trip of a lone task (through the loop's ready queue)
 *   *_poll_ns          the same three with one idle fd registered with the loop (a task waiting
 *                      to read a pipe nobody writes). Without it libevent has no events and
 *                      returns from each non-blocking turn without a system call; with it every
 *                      loop turn polls epoll (epoll_wait with a zero timeout), as a server's loop
 *                      with a listening socket does, and as asyncio's loop always does (its
 *                      self-pipe is always registered).
 *   rss_100k_mib       resident memory with 100,000 tasks asleep at once (64 KiB slab stacks)
 *   rss_100k_delta_mib the same minus the resident memory before the tasks were spawned
 * An optional argument sets the iteration count (default 2,000,000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    const char *name = arg;
    ah_task *a = ah_spawn(pinger, NULL), *b = ah_spawn(pinger, NULL);
    double t0 = now_ns();
    ah_task *both[2] = {a, b};
    if (ah_gather(both, 2, NULL) < 0)
        return -1;
    double ns = (now_ns() - t0) / (2.0 * (double)iterations);
    printf("%s %.1f ns\n", name, ns);
    return 0;
}

static int nothing(void *arg) { return 0; }

static int bench_spawn_join(void *arg)
{
    const char *name = arg;
    long n = iterations / 2;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        ah_task *t = ah_spawn(nothing, NULL);
        if (!t || ah_join(t) != 0)
            return -1;
    }
    printf("%s %.1f ns\n", name, (now_ns() - t0) / (double)n);
    return 0;
}

static int bench_sleep0(void *arg)
{
    const char *name = arg;
    long n = iterations / 2;
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (ah_sleep(0) != 0)
            return -1;
    printf("%s %.1f ns\n", name, (now_ns() - t0) / (double)n);
    return 0;
}

/* ---- the same with one idle fd registered, so every loop turn polls epoll ---- */

static int idle_reader(void *arg)
{
    int rc = ah_wait_fd(*(int *)arg, AH_READ, -1); /* nobody writes: only cancellation ends it */
    return rc < 0 ? rc : -1;
}

struct polled {
    ah_task_fn body;
    const char *name;
};

static int with_idle_fd(void *arg)
{
    struct polled *p = arg;
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    ah_task *reader = ah_spawn(idle_reader, &fds[0]);
    int rc = reader ? ah_yield() : -1; /* let the reader register its fd with the loop */
    if (rc == 0)
        rc = p->body((void *)p->name);
    if (reader) {
        ah_cancel(reader);
        int jrc = ah_join(reader); /* AH_ECANCELED: it was cancelled, as it should be */
        if (rc == 0 && jrc != AH_ECANCELED)
            rc = jrc < 0 ? jrc : -1;
    }
    close(fds[0]);
    close(fds[1]);
    return rc;
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
    struct polled switch_poll = {bench_switch, "switch_poll_ns"};
    struct polled spawn_join_poll = {bench_spawn_join, "spawn_join_poll_ns"};
    struct polled sleep0_poll = {bench_sleep0, "sleep0_poll_ns"};
    if (ah_run(bench_switch, "switch_ns") < 0 || ah_run(bench_spawn_join, "spawn_join_ns") < 0 ||
        ah_run(bench_sleep0, "sleep0_ns") < 0 || ah_run(with_idle_fd, &switch_poll) < 0 ||
        ah_run(with_idle_fd, &spawn_join_poll) < 0 || ah_run(with_idle_fd, &sleep0_poll) < 0) {
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
