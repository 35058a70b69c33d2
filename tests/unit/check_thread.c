/* ah_to_thread: blocking work on the pool while the loop runs on. */
#include "config.h"

#include <stdlib.h>
#include <time.h>

#include "checkutil.h"

static void block_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int square_slowly(void *arg)
{
    int *v = arg;
    block_ms(20);
    return *v * *v;
}

static int main_result(void *arg)
{
    int v = 12;
    ck_assert_int_eq(ah_to_thread(square_slowly, &v), 144);
    return 0;
}

START_TEST(test_to_thread_returns_the_result) { ck_assert_int_eq(ah_run(main_result, NULL), 0); }
END_TEST

static int block_200(void *arg)
{
    block_ms(200);
    return 1;
}

static int ticker(void *arg)
{
    int *ticks = arg;
    for (int i = 0; i < 10; i++) {
        int rc = ah_sleep(10);
        if (rc < 0)
            return rc;
        ++*ticks;
    }
    return 0;
}

static int offload(void *arg) { return ah_to_thread(block_200, NULL); }

static int main_overlap(void *arg)
{
    int ticks = 0;
    int64_t start = ah_now_ms();
    ah_task *t[2] = {ah_spawn(offload, NULL), ah_spawn(ticker, &ticks)};
    int results[2];
    ck_assert_int_eq(ah_gather(t, 2, results), 0);
    ck_assert_int_eq(results[0], 1);
    ck_assert_int_eq(ticks, 10); /* the loop kept running while the thread blocked */
    int64_t took = ah_check_elapsed(start);
    ck_assert_int_ge(took, 195);
    ck_assert_int_lt(took, ah_check_slow() ? 5000 : 350); /* overlapped, not 200 + 100 */
    return 0;
}

START_TEST(test_to_thread_overlaps_with_sleeping_task)
{
    ck_assert_int_eq(ah_run(main_overlap, NULL), 0);
}
END_TEST

static int abandoned;

static void on_abandon(void *arg)
{
    abandoned++;
    free(arg);
}

static int slow_heap_job(void *arg)
{
    block_ms(50);
    *(int *)arg = 99; /* writes into heap memory that outlives the cancelled waiter */
    return 5;
}

static int awaiter(void *arg)
{
    int *heap = malloc(sizeof(int));
    return ah_to_thread_ex(slow_heap_job, heap, on_abandon);
}

static int main_cancel(void *arg)
{
    ah_task *t = ah_spawn(awaiter, NULL);
    ck_assert_int_eq(ah_sleep(10), 0);
    int64_t start = ah_now_ms();
    ah_cancel(t);
    ck_assert_int_eq(ah_join(t), AH_ECANCELED);
    ck_assert_int_lt(ah_check_elapsed(start), 40); /* returned at once, not after the job */
    ck_assert_int_eq(abandoned, 0);
    ck_assert_int_eq(ah_sleep(100), 0);
    ck_assert_int_eq(abandoned, 1); /* released on the loop once the job was done */
    return 0;
}

START_TEST(test_cancel_abandons_result_safely)
{
    abandoned = 0;
    ck_assert_int_eq(ah_run(main_cancel, NULL), 0);
}
END_TEST

static int main_leaves_job(void *arg)
{
    ah_task *t = ah_spawn(awaiter, NULL);
    ck_assert_int_eq(ah_sleep(5), 0);
    ah_task_detach(t);
    return 0; /* the loop cancels the awaiter and must still release the job's arg */
}

START_TEST(test_loop_teardown_releases_abandoned_jobs)
{
    abandoned = 0;
    ck_assert_int_eq(ah_run(main_leaves_job, NULL), 0);
    ck_assert_int_eq(abandoned, 1);
}
END_TEST

static int main_already_cancelled(void *arg)
{
    ah_cancel(ah_task_current());
    int *heap = malloc(sizeof(int));
    /* never started: the argument still comes back through abandon */
    ck_assert_int_eq(ah_to_thread_ex(slow_heap_job, heap, on_abandon), AH_ECANCELED);
    ck_assert_int_eq(abandoned, 1);
    return 0;
}

START_TEST(test_job_never_started_is_still_abandoned)
{
    abandoned = 0;
    ck_assert_int_eq(ah_run(main_already_cancelled, NULL), 0);
    ck_assert_int_eq(abandoned, 1);
}
END_TEST

static int add_one(void *arg) { return *(int *)arg + 1; }

static int call_add_one(void *arg) { return ah_to_thread(add_one, arg); }

static int main_many_jobs(void *arg)
{
    enum { N = 500 };
    static int values[N];
    static ah_task *t[N];
    static int results[N];
    for (int i = 0; i < N; i++) {
        values[i] = i;
        t[i] = ah_spawn(call_add_one, &values[i]);
    }
    ck_assert_int_eq(ah_gather(t, N, results), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(results[i], i + 1);
    return 0;
}

START_TEST(test_many_jobs_each_get_their_own_result)
{
    ck_assert_int_eq(ah_run(main_many_jobs, NULL), 0);
}
END_TEST

static Suite *thread_suite(void)
{
    Suite *s = suite_create("thread");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_to_thread_returns_the_result);
    tcase_add_test(tc, test_to_thread_overlaps_with_sleeping_task);
    tcase_add_test(tc, test_cancel_abandons_result_safely);
    tcase_add_test(tc, test_loop_teardown_releases_abandoned_jobs);
    tcase_add_test(tc, test_job_never_started_is_still_abandoned);
    tcase_add_test(tc, test_many_jobs_each_get_their_own_result);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(thread_suite()); }
