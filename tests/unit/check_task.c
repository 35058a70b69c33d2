/* Tasks: spawn, join, cancel, yield, wait_fd, and what ah_run does with what is left. */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "checkutil.h"

static int return_arg(void *arg) { return (int)(intptr_t)arg; }

static int main_join_result(void *arg)
{
    ah_task *t = ah_spawn(return_arg, (void *)(intptr_t)42);
    ck_assert_ptr_nonnull(t);
    return ah_join(t);
}

START_TEST(test_join_returns_task_result) { ck_assert_int_eq(ah_run(main_join_result, NULL), 42); }
END_TEST

static int set_flag(void *arg)
{
    *(int *)arg = 1;
    return 0;
}

static int main_spawn_is_lazy(void *arg)
{
    int flag = 0;
    ah_task *t = ah_spawn(set_flag, &flag);
    ck_assert_int_eq(flag, 0); /* scheduled, not run */
    ck_assert_int_eq(ah_task_done(t), 0);
    ck_assert_int_eq(ah_yield(), 0);
    ck_assert_int_eq(flag, 1);
    ck_assert_int_eq(ah_task_done(t), 1);
    return ah_join(t);
}

START_TEST(test_spawn_runs_nothing_until_caller_awaits)
{
    ck_assert_int_eq(ah_run(main_spawn_is_lazy, NULL), 0);
}
END_TEST

typedef struct {
    int first_rc, second_rc, third_rc;
    int reached_end;
} sleeper_state;

static int long_sleeper(void *arg)
{
    sleeper_state *st = arg;
    st->first_rc = ah_sleep(10000);
    /* Level-triggered: cleanup awaits fail at once instead of hanging. */
    st->second_rc = ah_sleep(10000);
    st->third_rc = ah_yield();
    st->reached_end = 1;
    return st->first_rc;
}

static int main_cancel_sleep(void *arg)
{
    sleeper_state st = {0};
    int64_t start = ah_now_ms();
    ah_task *t = ah_spawn(long_sleeper, &st);
    ck_assert_int_eq(ah_sleep(20), 0);
    ah_cancel(t);
    ck_assert_int_eq(ah_join(t), AH_ECANCELED);
    ck_assert_int_eq(st.first_rc, AH_ECANCELED);
    ck_assert_int_eq(st.second_rc, AH_ECANCELED);
    ck_assert_int_eq(st.third_rc, AH_ECANCELED);
    ck_assert_int_eq(st.reached_end, 1);
    ck_assert_int_lt(ah_check_elapsed(start), 5000);
    return 0;
}

START_TEST(test_cancel_during_sleep_is_level_triggered)
{
    ck_assert_int_eq(ah_run(main_cancel_sleep, NULL), 0);
}
END_TEST

static int wait_on_fd(void *arg)
{
    int fd = *(int *)arg;
    return ah_wait_fd(fd, AH_READ, -1);
}

static int main_cancel_wait_fd(void *arg)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ah_task *t = ah_spawn(wait_on_fd, &p[0]);
    ck_assert_int_eq(ah_sleep(10), 0);
    ck_assert_int_eq(ah_task_done(t), 0);
    ah_cancel(t);
    ck_assert_int_eq(ah_join(t), AH_ECANCELED);
    close(p[0]);
    close(p[1]);
    return 0;
}

START_TEST(test_cancel_during_wait_fd) { ck_assert_int_eq(ah_run(main_cancel_wait_fd, NULL), 0); }
END_TEST

typedef struct {
    int pipe_w;
} writer_arg;

static int delayed_writer(void *arg)
{
    writer_arg *w = arg;
    int rc = ah_sleep(20);
    if (rc < 0)
        return rc;
    return write(w->pipe_w, "x", 1) == 1 ? 0 : -1;
}

static int main_wait_fd_readable(void *arg)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    writer_arg w = {p[1]};
    ah_task *t = ah_spawn(delayed_writer, &w);
    ck_assert_int_eq(ah_wait_fd(p[0], AH_READ, 1000), AH_READ);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    /* nothing more to read: times out */
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_wait_fd(p[0], AH_READ, 30), AH_ETIMEDOUT);
    ck_assert_int_ge(ah_check_elapsed(start), 25);
    /* a pipe's write end is writable at once */
    ck_assert_int_eq(ah_wait_fd(p[1], AH_WRITE, 1000), AH_WRITE);
    ck_assert_int_eq(ah_join(t), 0);
    close(p[0]);
    close(p[1]);
    return 0;
}

START_TEST(test_wait_fd_readable_and_timeout)
{
    ck_assert_int_eq(ah_run(main_wait_fd_readable, NULL), 0);
}
END_TEST

typedef struct {
    ah_task *inner;
    int join_rc;
    sleeper_state inner_state;
} joiner_state;

static int joiner(void *arg)
{
    joiner_state *js = arg;
    js->inner = ah_spawn(long_sleeper, &js->inner_state);
    js->join_rc = ah_join(js->inner);
    return js->join_rc;
}

static int main_cancel_join(void *arg)
{
    joiner_state js = {0};
    ah_task *t = ah_spawn(joiner, &js);
    ck_assert_int_eq(ah_sleep(10), 0);
    ah_cancel(t);
    ck_assert_int_eq(ah_join(t), AH_ECANCELED);
    ck_assert_int_eq(js.join_rc, AH_ECANCELED);
    /* as in asyncio, the awaited task is cancelled with its awaiter */
    ck_assert_int_eq(ah_sleep(5), 0);
    ck_assert_int_eq(js.inner_state.first_rc, AH_ECANCELED);
    ck_assert_int_eq(js.inner_state.reached_end, 1);
    return 0;
}

START_TEST(test_cancel_during_join_cancels_awaited_task)
{
    ck_assert_int_eq(ah_run(main_cancel_join, NULL), 0);
}
END_TEST

static int returns_zero_after_sleep(void *arg)
{
    (void)!ah_sleep(10000);
    return 0; /* ignores the cancellation */
}

static int main_join_cancelled(void *arg)
{
    ah_task *t = ah_spawn(returns_zero_after_sleep, NULL);
    ck_assert_int_eq(ah_yield(), 0);
    ah_cancel(t);
    ck_assert_int_eq(ah_join(t), AH_ECANCELED);
    /* cancelled before it ever ran */
    t = ah_spawn(returns_zero_after_sleep, NULL);
    ah_cancel(t);
    ck_assert_int_eq(ah_join(t), AH_ECANCELED);
    return 0;
}

START_TEST(test_join_cancelled_task_returns_ecanceled)
{
    ck_assert_int_eq(ah_run(main_join_cancelled, NULL), 0);
}
END_TEST

START_TEST(test_awaits_outside_a_task_return_einval)
{
    ck_assert_int_eq(ah_sleep(10), AH_EINVAL);
    ck_assert_int_eq(ah_yield(), AH_EINVAL);
    ck_assert_int_eq(ah_wait_fd(0, AH_READ, 10), AH_EINVAL);
    ck_assert_int_eq(ah_join(NULL), AH_EINVAL);
    ck_assert_int_eq(ah_deadline_push(10), AH_EINVAL);
    ck_assert_int_eq(ah_deadline_pop(), AH_EINVAL);
    ck_assert_ptr_null(ah_spawn(return_arg, NULL));
    ck_assert_ptr_null(ah_task_current());
    ck_assert_ptr_null(ah_loop_current());
}
END_TEST

static int main_self_join(void *arg)
{
    ck_assert_int_eq(ah_join(ah_task_current()), AH_EINVAL);
    return 7;
}

START_TEST(test_join_self_is_refused) { ck_assert_int_eq(ah_run(main_self_join, NULL), 7); }
END_TEST

static int leftover_count;

static int leftover(void *arg)
{
    int rc = ah_sleep(60000);
    if (rc == AH_ECANCELED)
        leftover_count++;
    return rc;
}

static int main_leaves_tasks(void *arg)
{
    for (int i = 0; i < 100; i++) {
        ah_task *t = ah_spawn(leftover, NULL);
        ck_assert_ptr_nonnull(t);
        if (i % 2)
            ah_task_detach(t); /* half detached, half simply forgotten */
    }
    ck_assert_int_eq(ah_yield(), 0);
    return 5;
}

START_TEST(test_run_cancels_and_joins_leftover_tasks)
{
    leftover_count = 0;
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_run(main_leaves_tasks, NULL), 5);
    ck_assert_int_eq(leftover_count, 100);
    ck_assert_int_lt(ah_check_elapsed(start), 5000);
}
END_TEST

static int main_deadlock(void *arg)
{
    ah_event *ev = ah_event_new();
    int rc = ah_event_wait(ev, -1); /* nobody will ever set it */
    ah_event_free(ev);
    return rc;
}

START_TEST(test_deadlock_is_reported_not_hung)
{
    ck_assert_int_eq(ah_run(main_deadlock, NULL), AH_EDEADLOCK);
}
END_TEST

typedef struct {
    int order[12];
    int n;
} trace;

static int yielder(void *arg)
{
    trace *tr = ((trace **)arg)[0];
    int id = (int)(intptr_t)((void **)arg)[1];
    for (int i = 0; i < 3; i++) {
        tr->order[tr->n++] = id;
        if (ah_yield() != 0)
            return -1;
    }
    return 0;
}

static int main_round_robin(void *arg)
{
    trace tr = {{0}, 0};
    void *args[3][2];
    ah_task *t[3];
    for (int i = 0; i < 3; i++) {
        args[i][0] = &tr;
        args[i][1] = (void *)(intptr_t)(i + 1);
        t[i] = ah_spawn(yielder, args[i]);
    }
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ah_join(t[i]), 0);
    const int want[9] = {1, 2, 3, 1, 2, 3, 1, 2, 3};
    ck_assert_int_eq(tr.n, 9);
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(tr.order[i], want[i]);
    return 0;
}

START_TEST(test_yield_runs_tasks_round_robin)
{
    ck_assert_int_eq(ah_run(main_round_robin, NULL), 0);
}
END_TEST

#define MANY 10000

static int sleep_100(void *arg)
{
    int rc = ah_sleep(100);
    if (rc == 0)
        ++*(int *)arg;
    return rc;
}

static int main_many_sleepers(void *arg)
{
    static ah_task *tasks[MANY];
    int woke = 0;
    for (int i = 0; i < MANY; i++) {
        tasks[i] = ah_spawn(sleep_100, &woke);
        ck_assert_ptr_nonnull(tasks[i]);
    }
    for (int i = 0; i < MANY; i++)
        ck_assert_int_eq(ah_join(tasks[i]), 0);
    ck_assert_int_eq(woke, MANY);
    return 0;
}

START_TEST(test_ten_thousand_tasks_sleep_concurrently)
{
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_run(main_many_sleepers, NULL), 0);
    int64_t took = ah_check_elapsed(start);
    ck_assert_int_ge(took, 100);
    /* Sequential sleeping would take 1000 s; concurrency makes it one 100 ms sleep, plus the
     * spawning of 10,000 stacks — which on a loaded 2-core machine (make -j2 check runs suites
     * side by side) took up to 1.3 s. 5 s still tells concurrent from sequential 200 times over. */
    ck_assert_int_lt(took, ah_check_slow() ? 60000 : 5000);
}
END_TEST

static int main_loop_accessors(void *arg)
{
    ah_loop *loop = ah_loop_current();
    ck_assert_ptr_eq(loop, arg);
    ck_assert_ptr_nonnull(ah_loop_base(loop));
    ck_assert_ptr_nonnull(ah_task_current());
    ck_assert_int_eq(ah_task_cancelled(), 0);
    ck_assert_int_eq(ah_loop_run(loop, return_arg, NULL), AH_EINVAL); /* already running */
    return 3;
}

START_TEST(test_loop_new_run_free)
{
    ah_loop_opts opts = {.stack_size = 128 * 1024, .threads = 2};
    ah_loop *loop = ah_loop_new(&opts);
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(ah_loop_run(loop, main_loop_accessors, loop), 3);
    /* a loop can run again */
    ck_assert_int_eq(ah_loop_run(loop, return_arg, (void *)(intptr_t)9), 9);
    ah_loop_free(loop);
}
END_TEST

START_TEST(test_strerror_names_every_code)
{
    ck_assert_str_eq(ah_strerror(AH_ECANCELED), "task cancelled");
    ck_assert_str_eq(ah_strerror(AH_ETIMEDOUT), "timed out");
    ck_assert_str_eq(ah_strerror(AH_EDEADLOCK),
                     "deadlock: every task waits and nothing can wake them");
    ck_assert_str_eq(ah_strerror(AH_ECONNREFUSED), "Connection refused");
    ck_assert_str_eq(ah_strerror(12345678), "unknown error");
    for (int code = AH_EBASE - 1; code >= AH_EPROTO_HTTP; code--)
        ck_assert_str_ne(ah_strerror(code), "unknown error");
}
END_TEST

static Suite *task_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_join_returns_task_result);
    tcase_add_test(tc, test_spawn_runs_nothing_until_caller_awaits);
    tcase_add_test(tc, test_cancel_during_sleep_is_level_triggered);
    tcase_add_test(tc, test_cancel_during_wait_fd);
    tcase_add_test(tc, test_wait_fd_readable_and_timeout);
    tcase_add_test(tc, test_cancel_during_join_cancels_awaited_task);
    tcase_add_test(tc, test_join_cancelled_task_returns_ecanceled);
    tcase_add_test(tc, test_awaits_outside_a_task_return_einval);
    tcase_add_test(tc, test_join_self_is_refused);
    tcase_add_test(tc, test_run_cancels_and_joins_leftover_tasks);
    tcase_add_test(tc, test_deadlock_is_reported_not_hung);
    tcase_add_test(tc, test_yield_runs_tasks_round_robin);
    tcase_add_test(tc, test_ten_thousand_tasks_sleep_concurrently);
    tcase_add_test(tc, test_loop_new_run_free);
    tcase_add_test(tc, test_strerror_names_every_code);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(task_suite()); }
