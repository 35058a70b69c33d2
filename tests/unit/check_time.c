/* Sleeping and deadline scopes. */
#include "config.h"

#include "checkutil.h"

static int main_sleep_duration(void *arg)
{
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_sleep(50), 0);
    int64_t took = ah_check_elapsed(start);
    ck_assert_int_ge(took, 49);
    ck_assert_int_lt(took, ah_check_slow() ? 5000 : 1000);
    return 0;
}

START_TEST(test_sleep_waits_about_that_long)
{
    ck_assert_int_eq(ah_run(main_sleep_duration, NULL), 0);
}
END_TEST

static int bump(void *arg)
{
    ++*(int *)arg;
    return 0;
}

static int main_sleep_zero_yields(void *arg)
{
    int n = 0;
    ah_task *t = ah_spawn(bump, &n);
    ck_assert_int_eq(ah_sleep(0), 0);
    ck_assert_int_eq(n, 1);
    return ah_join(t);
}

START_TEST(test_sleep_zero_lets_others_run)
{
    ck_assert_int_eq(ah_run(main_sleep_zero_yields, NULL), 0);
}
END_TEST

/* Three levels of calls that each await; the deadline opened at the top fires in the deepest. */
static int level3(void) { return ah_sleep(10000); }
static int level2(void)
{
    int rc = level3();
    return rc < 0 ? rc : ah_sleep(10000);
}
static int level1(void)
{
    int rc = level2();
    return rc < 0 ? rc : ah_yield();
}

static int main_deadline_nested(void *arg)
{
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_deadline_push(50), 0);
    ck_assert_int_eq(level1(), AH_ETIMEDOUT);
    int64_t took = ah_check_elapsed(start);
    ck_assert_int_ge(took, 45);
    ck_assert_int_lt(took, ah_check_slow() ? 5000 : 1000);
    /* level-triggered: every await in the expired scope fails at once */
    ck_assert_int_eq(ah_yield(), AH_ETIMEDOUT);
    ck_assert_int_eq(ah_sleep(1), AH_ETIMEDOUT);
    ck_assert_int_eq(ah_deadline_pop(), 1);
    /* the scope is closed: awaits work again */
    ck_assert_int_eq(ah_sleep(1), 0);
    ck_assert_int_eq(ah_deadline_pop(), AH_EINVAL);
    return 0;
}

START_TEST(test_deadline_expires_inside_nested_awaits)
{
    ck_assert_int_eq(ah_run(main_deadline_nested, NULL), 0);
}
END_TEST

static int main_deadline_earliest_wins(void *arg)
{
    ck_assert_int_eq(ah_deadline_push(10000), 0);
    ck_assert_int_eq(ah_deadline_push(30), 0);
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_sleep(5000), AH_ETIMEDOUT);
    ck_assert_int_lt(ah_check_elapsed(start), ah_check_slow() ? 4000 : 1000);
    ck_assert_int_eq(ah_deadline_pop(), 1);
    /* the outer scope has not expired */
    ck_assert_int_eq(ah_sleep(5), 0);
    ck_assert_int_eq(ah_deadline_pop(), 0);
    /* an inner scope longer than the outer one is cut to the outer */
    ck_assert_int_eq(ah_deadline_push(20), 0);
    ck_assert_int_eq(ah_deadline_push(10000), 0);
    ck_assert_int_eq(ah_sleep(5000), AH_ETIMEDOUT);
    ck_assert_int_eq(ah_deadline_pop(), 0);
    ck_assert_int_eq(ah_deadline_pop(), 1);
    return 0;
}

START_TEST(test_nested_deadlines_earliest_wins)
{
    ck_assert_int_eq(ah_run(main_deadline_earliest_wins, NULL), 0);
}
END_TEST

static int main_deadline_not_reached(void *arg)
{
    ck_assert_int_eq(ah_deadline_push(5000), 0);
    ck_assert_int_eq(ah_sleep(10), 0);
    ck_assert_int_eq(ah_deadline_pop(), 0);
    return 0;
}

START_TEST(test_deadline_not_reached_is_harmless)
{
    ck_assert_int_eq(ah_run(main_deadline_not_reached, NULL), 0);
}
END_TEST

static int main_deadline_depth(void *arg)
{
    int i;
    for (i = 0; i < 16; i++)
        ck_assert_int_eq(ah_deadline_push(1000), 0);
    ck_assert_int_eq(ah_deadline_push(1000), AH_ENOMEM);
    for (i = 0; i < 16; i++)
        ck_assert_int_eq(ah_deadline_pop(), 0);
    return 0;
}

START_TEST(test_deadline_nesting_is_bounded)
{
    ck_assert_int_eq(ah_run(main_deadline_depth, NULL), 0);
}
END_TEST

static Suite *time_suite(void)
{
    Suite *s = suite_create("time");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sleep_waits_about_that_long);
    tcase_add_test(tc, test_sleep_zero_lets_others_run);
    tcase_add_test(tc, test_deadline_expires_inside_nested_awaits);
    tcase_add_test(tc, test_nested_deadlines_earliest_wins);
    tcase_add_test(tc, test_deadline_not_reached_is_harmless);
    tcase_add_test(tc, test_deadline_nesting_is_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(time_suite()); }
