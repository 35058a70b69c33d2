/* gather, wait_for, task groups. */
#include "config.h"

#include "checkutil.h"

typedef struct {
    int sleep_ms;
    int result;
    int unwound;
} job;

static int run_job(void *arg)
{
    job *j = arg;
    int rc = ah_sleep(j->sleep_ms);
    j->unwound = 1;
    return rc < 0 ? rc : j->result;
}

static int main_gather_order(void *arg)
{
    /* finish in reverse order; results come back in spawn order */
    job jobs[5];
    ah_task *t[5];
    int results[5];
    for (int i = 0; i < 5; i++) {
        jobs[i] = (job){.sleep_ms = 50 - 10 * i, .result = i * 10};
        t[i] = ah_spawn(run_job, &jobs[i]);
    }
    ck_assert_int_eq(ah_gather(t, 5, results), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(results[i], i * 10);
    return 0;
}

START_TEST(test_gather_keeps_the_order_of_results)
{
    ck_assert_int_eq(ah_run(main_gather_order, NULL), 0);
}
END_TEST

static int main_gather_error(void *arg)
{
    job jobs[3] = {{5, 1, 0}, {5, AH_EPIPE, 0}, {5, AH_EINVAL, 0}};
    ah_task *t[3];
    int results[3];
    for (int i = 0; i < 3; i++)
        t[i] = ah_spawn(run_job, &jobs[i]);
    ck_assert_int_eq(ah_gather(t, 3, results), AH_EPIPE);
    ck_assert_int_eq(results[0], 1);
    ck_assert_int_eq(results[1], AH_EPIPE);
    ck_assert_int_eq(results[2], AH_EINVAL);
    return 0;
}

START_TEST(test_gather_returns_first_error_by_index)
{
    ck_assert_int_eq(ah_run(main_gather_error, NULL), 0);
}
END_TEST

typedef struct {
    job jobs[3];
    int rc;
} gather_state;

static int gatherer(void *arg)
{
    gather_state *gs = arg;
    ah_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = ah_spawn(run_job, &gs->jobs[i]);
    gs->rc = ah_gather(t, 3, NULL);
    return gs->rc;
}

static int main_gather_cancel(void *arg)
{
    gather_state gs = {{{10000, 0, 0}, {10000, 0, 0}, {10000, 0, 0}}, 0};
    ah_task *g = ah_spawn(gatherer, &gs);
    ck_assert_int_eq(ah_sleep(10), 0);
    ah_cancel(g);
    ck_assert_int_eq(ah_join(g), AH_ECANCELED);
    ck_assert_int_eq(gs.rc, AH_ECANCELED);
    ck_assert_int_eq(ah_sleep(5), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(gs.jobs[i].unwound, 1); /* children cancelled with the gather */
    return 0;
}

START_TEST(test_cancelling_gather_cancels_children)
{
    ck_assert_int_eq(ah_run(main_gather_cancel, NULL), 0);
}
END_TEST

static int main_wait_for(void *arg)
{
    job slow = {10000, 0, 0};
    int64_t start = ah_now_ms();
    ah_task *t = ah_spawn(run_job, &slow);
    ck_assert_int_eq(ah_wait_for(t, 30), AH_ETIMEDOUT);
    ck_assert_int_ge(ah_check_elapsed(start), 25);
    ck_assert_int_lt(ah_check_elapsed(start), ah_check_slow() ? 5000 : 1000);
    ck_assert_int_eq(slow.unwound, 1); /* waited for the cancelled task to finish */

    job quick = {5, 77, 0};
    t = ah_spawn(run_job, &quick);
    ck_assert_int_eq(ah_wait_for(t, 5000), 77);

    /* already finished */
    job instant = {0, 3, 0};
    t = ah_spawn(run_job, &instant);
    ck_assert_int_eq(ah_sleep(5), 0);
    ck_assert_int_eq(ah_wait_for(t, 0), 3);
    return 0;
}

START_TEST(test_wait_for_times_out_and_succeeds)
{
    ck_assert_int_eq(ah_run(main_wait_for, NULL), 0);
}
END_TEST

typedef struct {
    int id;
    int fail_after_ms;
    int rc;
    int unwound;
} member;

static int group_member(void *arg)
{
    member *m = arg;
    if (m->fail_after_ms >= 0) {
        int rc = ah_sleep(m->fail_after_ms);
        m->unwound = 1;
        return rc < 0 ? rc : AH_EPIPE;
    }
    m->rc = ah_sleep(10000);
    m->unwound = 1;
    return m->rc;
}

static int main_group_first_failure(void *arg)
{
    member m[4] = {{0, -1, 0, 0}, {1, 20, 0, 0}, {2, -1, 0, 0}, {3, -1, 0, 0}};
    ah_group *g = ah_group_new();
    ck_assert_ptr_nonnull(g);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(ah_group_spawn(g, group_member, &m[i]), 0);
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_group_wait(g), AH_EPIPE);
    ck_assert_int_lt(ah_check_elapsed(start), ah_check_slow() ? 5000 : 1000);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(m[i].unwound, 1);
    ck_assert_int_eq(m[0].rc, AH_ECANCELED);
    ck_assert_int_eq(m[2].rc, AH_ECANCELED);
    /* a failed group takes no more work */
    ck_assert_int_eq(ah_group_spawn(g, group_member, &m[0]), AH_EPIPE);
    ah_group_free(g);
    return 0;
}

START_TEST(test_group_cancels_siblings_on_first_failure)
{
    ck_assert_int_eq(ah_run(main_group_first_failure, NULL), 0);
}
END_TEST

static int main_group_all_ok(void *arg)
{
    job jobs[10];
    ah_group *g = ah_group_new();
    for (int i = 0; i < 10; i++) {
        jobs[i] = (job){.sleep_ms = i, .result = 0};
        ck_assert_int_eq(ah_group_spawn(g, run_job, &jobs[i]), 0);
    }
    ck_assert_int_eq(ah_group_wait(g), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(jobs[i].unwound, 1);
    ah_group_free(g);
    return 0;
}

START_TEST(test_group_waits_for_all) { ck_assert_int_eq(ah_run(main_group_all_ok, NULL), 0); }
END_TEST

static int cancels_itself(void *arg)
{
    ah_cancel(ah_task_current());
    return ah_sleep(10); /* AH_ECANCELED */
}

static int main_group_child_cancelled(void *arg)
{
    /* a child that ends cancelled is not a failure of the group (asyncio's TaskGroup agrees) */
    job sibling = {20, 0, 0};
    ah_group *g = ah_group_new();
    ck_assert_int_eq(ah_group_spawn(g, cancels_itself, NULL), 0);
    ck_assert_int_eq(ah_group_spawn(g, run_job, &sibling), 0);
    ck_assert_int_eq(ah_group_wait(g), 0);
    ck_assert_int_eq(sibling.unwound, 1);
    ah_group_free(g);
    return 0;
}

START_TEST(test_group_ignores_a_cancelled_child)
{
    ck_assert_int_eq(ah_run(main_group_child_cancelled, NULL), 0);
}
END_TEST

typedef struct {
    member m[3];
    int rc;
} group_owner;

static int group_owner_task(void *arg)
{
    group_owner *o = arg;
    ah_group *g = ah_group_new();
    for (int i = 0; i < 3; i++)
        if (ah_group_spawn(g, group_member, &o->m[i]) < 0)
            return -1;
    o->rc = ah_group_wait(g);
    ah_group_free(g);
    return o->rc;
}

static int main_group_outer_cancel(void *arg)
{
    group_owner o = {{{0, -1, 0, 0}, {1, -1, 0, 0}, {2, -1, 0, 0}}, 0};
    ah_task *t = ah_spawn(group_owner_task, &o);
    ck_assert_int_eq(ah_sleep(10), 0);
    ah_cancel(t);
    ck_assert_int_eq(ah_join(t), AH_ECANCELED);
    ck_assert_int_eq(o.rc, AH_ECANCELED);
    /* no child outlives the group: all unwound before ah_group_wait returned */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(o.m[i].unwound, 1);
    return 0;
}

START_TEST(test_cancelled_group_waiter_takes_children_along)
{
    ck_assert_int_eq(ah_run(main_group_outer_cancel, NULL), 0);
}
END_TEST

static Suite *gather_suite(void)
{
    Suite *s = suite_create("gather");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_gather_keeps_the_order_of_results);
    tcase_add_test(tc, test_gather_returns_first_error_by_index);
    tcase_add_test(tc, test_cancelling_gather_cancels_children);
    tcase_add_test(tc, test_wait_for_times_out_and_succeeds);
    tcase_add_test(tc, test_group_cancels_siblings_on_first_failure);
    tcase_add_test(tc, test_group_waits_for_all);
    tcase_add_test(tc, test_group_ignores_a_cancelled_child);
    tcase_add_test(tc, test_cancelled_group_waiter_takes_children_along);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(gather_suite()); }
