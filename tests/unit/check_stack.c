/* Task stacks: guard pages, slab mode with canaries, what an overflow says (and a program's own
 * SIGSEGV handler kept), running out of mappings. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

/* Each frame fills 1 KiB the compiler cannot drop, as a function using its locals would. */
static int recurse(int depth)
{
    volatile char buf[1024];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)depth;
    if (depth == 0)
        return buf[0];
    return recurse(depth - 1) + buf[sizeof(buf) - 1];
}

static int overflow_task(void *arg)
{
    int depth = (int)(intptr_t)arg;
    int v = recurse(depth);
    (void)!ah_yield(); /* the switch back to the loop checks the canary */
    return v;
}

static int hold_stack(void *arg) { return ah_sleep(60000); }

/* Writes 42 through arg (a pointer) and returns what it reads back. */
static int return_write(void *arg)
{
    volatile char *p = arg;
    *p = 42;
    return *p;
}

static int main_overflow(void *arg)
{
    /* In slab mode the first stack of a slab lies lowest; occupy it so the overflowing task's
     * stack has a neighbour below it to trample, as in real life. */
    ah_task *holder = ah_spawn(hold_stack, NULL);
    ck_assert_int_eq(ah_yield(), 0);
    ah_task *t = ah_spawn(overflow_task, arg);
    int rc = ah_join(t);
    ah_cancel(holder);
    (void)!ah_join(holder);
    return rc;
}

/* Run an overflow of `depth` KiB on a 64 KiB stack in a child; return its wait status. */
static int overflow_in_child(int guard, int depth)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ah_loop_opts opts = {.stack_size = 64 * 1024, .stack_guard = guard};
        ah_loop *loop = ah_loop_new(&opts);
        int rc = ah_loop_run(loop, main_overflow, (void *)(intptr_t)depth);
        ah_loop_free(loop);
        _exit(rc >= 0 ? 0 : 3);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

START_TEST(test_guard_page_catches_stack_overflow)
{
    /* 48 KiB fits; 200 KiB runs into the guard page. */
    int ok = overflow_in_child(1, 48);
    ck_assert(WIFEXITED(ok) && WEXITSTATUS(ok) == 0);
    int status = overflow_in_child(1, 200);
    if (UNDER_ASAN) /* ASan's SEGV handler reports the overflow and exits non-zero */
        ck_assert(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
    else
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                      "child status %#x: want death by SIGSEGV", status);
}
END_TEST

START_TEST(test_slab_canary_catches_stack_overflow)
{
    int ok = overflow_in_child(-1, 48);
    ck_assert(WIFEXITED(ok) && WEXITSTATUS(ok) == 0);
    /* 80 KiB on a 64 KiB slab stack: runs over the canary into the neighbour below. */
    int status = overflow_in_child(-1, 80);
    ck_assert_msg(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
                  "child status %#x: an overflow went unnoticed", status);
    if (!UNDER_ASAN && !ah_check_slow())
        ck_assert_msg(WIFSIGNALED(status) &&
                          (WTERMSIG(status) == SIGABRT || WTERMSIG(status) == SIGSEGV),
                      "child status %#x", status);
}
END_TEST

/* ---- what an overflow says ---- */

/* Run fn(arg) in a child whose stderr is captured into err (NUL-terminated); return its wait
 * status. The child dumps no core. */
static int in_child_capturing_stderr(void (*fn)(void *), void *arg, char *err, size_t size)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(fds[0], err + len, size - 1 - len)) > 0)
        len += (size_t)n;
    err[len] = '\0';
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static int overflow_main(void *arg)
{
    ah_task *t = ah_spawn(overflow_task, arg);
    return ah_join(t);
}

typedef struct overflow_run {
    size_t stack_size;
    int guard;
    int depth_kib;
} overflow_run;

static void run_overflow(void *arg)
{
    overflow_run *r = arg;
    ah_loop_opts opts = {.stack_size = r->stack_size, .stack_guard = r->guard};
    ah_loop *loop = ah_loop_new(&opts);
    int rc = ah_loop_run(loop, r->guard < 0 ? main_overflow : overflow_main,
                         (void *)(intptr_t)r->depth_kib);
    ah_loop_free(loop);
    _exit(rc >= 0 ? 0 : 3); /* not reached when the overflow is caught */
}

#define REMEDY "raise ah_loop_opts.stack_size or ah_server_opts.task_stack_size)\n"

/* The death tests below need ahttp's own SIGSEGV handler. Under ASan it is not installed: ASan's
 * handler reports the overflow itself ("stack-overflow", with a stack trace) and exits with 1.
 * Under valgrind the signal goes through valgrind's own machinery: not what is tested. */
static int death_tests_apply(void) { return !UNDER_ASAN && !ah_check_slow(); }

START_TEST(test_guard_page_overflow_names_the_stack_size_and_the_remedy)
{
    if (!death_tests_apply())
        return;
    static const struct {
        size_t size;
        const char *want;
    } cases[] = {
        {64 * 1024, "ahttp: task stack overflow (64 KiB stack; " REMEDY},
        {256 * 1024, "ahttp: task stack overflow (256 KiB stack; " REMEDY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[1024];
        overflow_run r = {cases[i].size, 1, (int)(cases[i].size / 1024) * 4};
        int status = in_child_capturing_stderr(run_overflow, &r, err, sizeof(err));
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                      "child status %#x: want death by SIGSEGV", status);
        ck_assert_str_eq(err, cases[i].want);
    }
}
END_TEST

static void touch_forbidden_page(void *arg)
{
    (void)arg;
    char *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ah_loop *loop = ah_loop_new(NULL);
    int rc = ah_loop_run(loop, return_write, p); /* not reached: the write faults */
    ah_loop_free(loop);
    _exit(rc == 42 ? 4 : 5);
}

START_TEST(test_other_faults_die_of_sigsegv_without_a_message)
{
    if (!death_tests_apply())
        return;
    char err[1024];
    int status = in_child_capturing_stderr(touch_forbidden_page, NULL, err, sizeof(err));
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "child status %#x", status);
    ck_assert_str_eq(err, "");
}
END_TEST

/* A program that catches SIGSEGV itself, as a garbage collector's write barrier does: it makes
 * the page writable and returns, and the access is retried. Installed before the first loop. */
static char *gc_page;

static void program_segv(int sig, siginfo_t *info, void *uctx)
{
    (void)sig;
    (void)uctx;
    static const char msg[] = "program handler\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    char *a = info->si_addr;
    if (a >= gc_page && a < gc_page + 4096)
        mprotect(gc_page, 4096, PROT_READ | PROT_WRITE);
}

static void with_program_handler(void *arg)
{
    int overflow = *(int *)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = program_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    gc_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ah_loop *loop = ah_loop_new(NULL);
    int rc = ah_loop_run(loop, return_write, gc_page);
    ah_loop_free(loop);
    if (rc != 42 || gc_page[0] != 42)
        _exit(5);
    if (overflow) {
        overflow_run r = {64 * 1024, 1, 256};
        run_overflow(&r);
    }
    _exit(0);
}

START_TEST(test_a_segv_handler_of_the_programs_own_still_gets_the_faults)
{
    if (!death_tests_apply())
        return;
    char err[1024];
    /* Its own fault: handled, the task goes on. */
    int no = 0;
    int status = in_child_capturing_stderr(with_program_handler, &no, err, sizeof(err));
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    ck_assert_str_eq(err, "program handler\n");
    /* An overflow: our message, then the program's handler (a crash reporter would write its
     * report there); it returns, and the process dies of SIGSEGV all the same. */
    int yes = 1;
    status = in_child_capturing_stderr(with_program_handler, &yes, err, sizeof(err));
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "child status %#x", status);
    ck_assert_str_eq(err, "program handler\n"
                          "ahttp: task stack overflow (64 KiB stack; " REMEDY "program handler\n");
}
END_TEST

START_TEST(test_slab_canary_message_names_the_remedy_too)
{
    if (UNDER_ASAN || ah_check_slow())
        return; /* ASan reports the trampled neighbour first; valgrind's stacks differ */
    char err[1024];
    overflow_run r = {64 * 1024, -1, 80};
    int status = in_child_capturing_stderr(run_overflow, &r, err, sizeof(err));
    ck_assert_msg(WIFSIGNALED(status), "child status %#x", status);
    if (WTERMSIG(status) == SIGABRT)
        ck_assert_str_eq(err, "ahttp: task stack overflow (64 KiB stack, slab canary "
                              "overwritten; " REMEDY);
}
END_TEST

static int sleep_a_bit(void *arg)
{
    int rc = ah_sleep(20);
    if (rc == 0)
        ++*(int *)arg;
    return rc;
}

static int main_slab_many(void *arg)
{
    int n = (int)(intptr_t)arg;
    int done = 0;
    ah_task **t = calloc((size_t)n, sizeof(*t));
    for (int i = 0; i < n; i++) {
        t[i] = ah_spawn(sleep_a_bit, &done);
        ck_assert_ptr_nonnull(t[i]);
    }
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(ah_join(t[i]), 0);
    free(t);
    ck_assert_int_eq(done, n);
    return 0;
}

START_TEST(test_slab_mode_runs_more_tasks_than_guarded_stacks_allow)
{
    /* 40,000 guarded stacks would need 80,000 mappings, more than vm.max_map_count allows. */
    int n = ah_check_slow() ? 2000 : 40000;
    ah_loop_opts opts = {.stack_guard = -1};
    ah_loop *loop = ah_loop_new(&opts);
    ck_assert_int_eq(ah_loop_run(loop, main_slab_many, (void *)(intptr_t)n), 0);
    ah_loop_free(loop);
}
END_TEST

static int nothing(void *arg) { return 0; }

static int main_until_enomem(void *arg)
{
    int *spawned = arg;
    for (int i = 0; i < 200000; i++) {
        ah_task *t = ah_spawn(nothing, NULL);
        if (!t)
            return 0; /* refused cleanly */
        ah_task_detach(t);
        ++*spawned;
    }
    return -1;
}

static long max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

START_TEST(test_spawn_fails_cleanly_when_mappings_run_out)
{
    long maps = max_map_count();
    /* Not reproducible under valgrind or the sanitizers (their runtimes need mappings of their
     * own and die first), nor where the limit was raised. */
    if (ah_check_slow() || UNDER_ASAN || maps < 0 || maps > 100000)
        return;
    int spawned = 0;
    ah_loop_opts opts = {.stack_size = 16 * 1024};
    ah_loop *loop = ah_loop_new(&opts);
    ck_assert_int_eq(ah_loop_run(loop, main_until_enomem, &spawned), 0);
    ah_loop_free(loop);
    ck_assert_int_gt(spawned, 1000);
    ck_assert_int_lt(spawned, maps / 2 + 1);
}
END_TEST

static Suite *stack_suite(void)
{
    Suite *s = suite_create("stack");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_guard_page_catches_stack_overflow);
    tcase_add_test(tc, test_slab_canary_catches_stack_overflow);
    tcase_add_test(tc, test_guard_page_overflow_names_the_stack_size_and_the_remedy);
    tcase_add_test(tc, test_other_faults_die_of_sigsegv_without_a_message);
    tcase_add_test(tc, test_a_segv_handler_of_the_programs_own_still_gets_the_faults);
    tcase_add_test(tc, test_slab_canary_message_names_the_remedy_too);
    tcase_add_test(tc, test_slab_mode_runs_more_tasks_than_guarded_stacks_allow);
    tcase_add_test(tc, test_spawn_fails_cleanly_when_mappings_run_out);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(stack_suite()); }
