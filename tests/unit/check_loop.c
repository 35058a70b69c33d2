/* The loop embedded in a program's own libevent event_base: adopting the base, the program's
 * event_base_loopexit / event_base_loopbreak stopping ah_loop_run, what becomes of the tasks
 * then, ahttp tasks and the program's own events taking turns, and the base left clean and
 * usable for the program after ah_loop_free. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "checkutil.h"

/* A base as a program would make it (precise timers, as ah_loop_opts.base advises). */
static struct event_base *program_base(void)
{
    struct event_config *cfg = event_config_new();
    ck_assert_ptr_nonnull(cfg);
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    ck_assert_ptr_nonnull(base);
    return base;
}

static int added_events(struct event_base *base)
{
    return event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
}

/* ---- the program's loopexit ends ah_loop_run ---- */

typedef struct sleepers {
    int helper_ticks, main_ticks;
    int helper_rc, main_rc; /* what the sleep that ended each loop returned */
    int helper_returned;
} sleepers;

static int sleep_forever(void *arg)
{
    sleepers *s = arg;
    int rc;
    while ((rc = ah_sleep(3)) == 0)
        s->helper_ticks++;
    s->helper_rc = rc;
    s->helper_returned = 1;
    return rc;
}

static int main_sleeps_until_stopped(void *arg)
{
    sleepers *s = arg;
    ah_task_detach(ah_spawn(sleep_forever, s));
    int rc;
    while ((rc = ah_sleep(5)) == 0)
        s->main_ticks++;
    s->main_rc = rc;
    return 0; /* ah_loop_run reports the stop whatever main says */
}

static void loopexit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

static void count_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ++*(int *)arg;
}

START_TEST(test_program_loopexit_stops_a_loop_on_its_base)
{
    struct event_base *base = program_base();
    int before = added_events(base);
    struct event *stop = evtimer_new(base, loopexit_cb, base);
    struct timeval tv = {0, 60 * 1000};
    int64_t start = ah_now_ms();
    ck_assert_int_eq(evtimer_add(stop, &tv), 0);

    ah_loop_opts opts = {.base = base};
    ah_loop *loop = ah_loop_new(&opts);
    ck_assert_ptr_nonnull(loop);
    ck_assert_ptr_eq(ah_loop_base(loop), base);
    sleepers s = {0};
    ck_assert_int_eq(ah_loop_run(loop, main_sleeps_until_stopped, &s), AH_ECANCELED);
    int64_t took = ah_check_elapsed(start);
    ck_assert_int_ge(took, 55);
    ck_assert_int_lt(took, ah_check_slow() ? 5000 : 1000);
    /* Both tasks ran until the timer fired, then were cancelled, unwound and returned. */
    ck_assert_int_gt(s.main_ticks, 2);
    ck_assert_int_gt(s.helper_ticks, 2);
    ck_assert_int_eq(s.main_rc, AH_ECANCELED);
    ck_assert_int_eq(s.helper_rc, AH_ECANCELED);
    ck_assert_int_eq(s.helper_returned, 1);
    ah_loop_free(loop);

    /* Nothing of ahttp's is left on the base, and the program can go on using it. */
    ck_assert_int_eq(added_events(base), before);
    int fired = 0;
    struct event *later = evtimer_new(base, count_cb, &fired);
    struct timeval soon = {0, 5 * 1000};
    ck_assert_int_eq(evtimer_add(later, &soon), 0);
    ck_assert_int_eq(event_base_dispatch(base), 1); /* ran until no event was left */
    ck_assert_int_eq(fired, 1);
    event_free(later);
    event_free(stop);
    event_base_free(base); /* the program's to free, not ahttp's */
}
END_TEST

/* ---- loopbreak, from a callback and from a task; runs after a stop start afresh ---- */

static int main_returns_7_later(void *arg)
{
    (void)arg;
    int rc = ah_sleep(20);
    return rc == 0 ? 7 : rc;
}

/* main runs first from the loop's ready queue, outside any libevent callback: libevent raises
 * the flag at once, and only the loop's check before its next turn of the base can see it. */
static int main_breaks_the_base_first_thing(void *arg)
{
    int *after = arg;
    event_base_loopbreak(ah_loop_base(ah_loop_current()));
    *after = ah_sleep(1000); /* cancelled once this turn of tasks ends */
    return 0;
}

/* A task woken by its timer runs inside the callback of libevent's loop: the break ends that
 * turn of the base. */
static int main_breaks_the_base_from_a_callback(void *arg)
{
    int *after = arg;
    ck_assert_int_eq(ah_sleep(2), 0);
    event_base_loopbreak(ah_loop_base(ah_loop_current()));
    *after = ah_sleep(1000);
    return 0;
}

static void loopbreak_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

START_TEST(test_program_loopbreak_stops_the_run_and_the_loop_stays_usable)
{
    struct event_base *base = program_base();
    ah_loop_opts opts = {.base = base};
    ah_loop *loop = ah_loop_new(&opts);
    ck_assert_ptr_nonnull(loop);

    /* From the program's own callback. */
    struct event *brk = evtimer_new(base, loopbreak_cb, base);
    struct timeval tv = {0, 10 * 1000};
    ck_assert_int_eq(evtimer_add(brk, &tv), 0);
    sleepers s = {0};
    ck_assert_int_eq(ah_loop_run(loop, main_sleeps_until_stopped, &s), AH_ECANCELED);
    ck_assert_int_eq(s.main_rc, AH_ECANCELED);
    ck_assert_int_eq(s.helper_returned, 1);

    /* A later run is not stopped by the old break. */
    ck_assert_int_eq(ah_loop_run(loop, main_returns_7_later, NULL), 7);

    /* From a task, outside any libevent callback and inside one. */
    int after = 0;
    int64_t start = ah_now_ms();
    ck_assert_int_eq(ah_loop_run(loop, main_breaks_the_base_first_thing, &after), AH_ECANCELED);
    ck_assert_int_eq(after, AH_ECANCELED);
    ck_assert_int_eq(ah_loop_run(loop, main_returns_7_later, NULL), 7);
    after = 0;
    ck_assert_int_eq(ah_loop_run(loop, main_breaks_the_base_from_a_callback, &after), AH_ECANCELED);
    ck_assert_int_eq(after, AH_ECANCELED);
    ck_assert_int_lt(ah_check_elapsed(start), 900); /* no ah_sleep(1000) ran its course */
    ck_assert_int_eq(ah_loop_run(loop, main_returns_7_later, NULL), 7);

    ah_loop_free(loop);
    event_free(brk);
    event_base_free(base);
}
END_TEST

/* A loop with a base of its own obeys a loopexit on ah_loop_base() the same way. */
static int main_exits_own_base(void *arg)
{
    (void)arg;
    event_base_loopexit(ah_loop_base(ah_loop_current()), NULL);
    int rc;
    while ((rc = ah_sleep(5)) == 0)
        ;
    return rc;
}

START_TEST(test_loopexit_on_the_loops_own_base_stops_it_too)
{
    ah_loop *loop = ah_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(ah_loop_run(loop, main_exits_own_base, NULL), AH_ECANCELED);
    ck_assert_int_eq(ah_loop_run(loop, main_returns_7_later, NULL), 7);
    ah_loop_free(loop);
}
END_TEST

/* A stop that arrives after main returned changes nothing: main's result stands. */
static int linger(void *arg)
{
    (void)arg;
    /* Runs on after main has returned, and asks the base to stop. */
    event_base_loopbreak(ah_loop_base(ah_loop_current()));
    (void)!ah_yield();
    return 0;
}

static int main_returns_5_first(void *arg)
{
    (void)arg;
    ah_task_detach(ah_spawn(linger, NULL));
    return 5;
}

START_TEST(test_stop_after_main_returned_keeps_mains_result)
{
    ah_loop *loop = ah_loop_new(NULL);
    ck_assert_int_eq(ah_loop_run(loop, main_returns_5_first, NULL), 5);
    ah_loop_free(loop);
}
END_TEST

/* The program stopped its own dispatch with loopexit before handing the base to ahttp: that
 * exit was the program's, and must not end the run. */
START_TEST(test_exit_left_from_the_programs_dispatch_is_not_obeyed)
{
    struct event_base *base = program_base();
    struct event *stop = evtimer_new(base, loopexit_cb, base);
    int never = 0;
    struct event *keep = event_new(base, -1, EV_PERSIST, count_cb, &never); /* keeps it busy */
    struct timeval tv = {0, 1000}, hour = {3600, 0};
    ck_assert_int_eq(evtimer_add(stop, &tv), 0);
    ck_assert_int_eq(event_add(keep, &hour), 0);
    ck_assert_int_eq(event_base_dispatch(base), 0);
    ck_assert(event_base_got_exit(base));
    ck_assert_int_eq(never, 0);

    ah_loop_opts opts = {.base = base};
    ah_loop *loop = ah_loop_new(&opts);
    ck_assert_int_eq(ah_loop_run(loop, main_returns_7_later, NULL), 7);
    ah_loop_free(loop);
    event_free(keep);
    event_free(stop);
    event_base_free(base);
}
END_TEST

/* ---- ahttp tasks and the program's events take turns ---- */

#define TICKS 6

typedef struct interleave {
    struct event *tick;
    ah_event *wake;
    char log[256];
    size_t len;
    int ticks;
    int flag;          /* set by the program's callback, polled by a yielding task */
    long yields_spent; /* ah_yield calls the spinning task needed to see it */
} interleave;

static void note(interleave *iv, char c)
{
    if (iv->len + 1 < sizeof(iv->log))
        iv->log[iv->len++] = c;
}

/* The program's periodic timer: logs 'P' and wakes the waiting task through an ah_event. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    interleave *iv = arg;
    note(iv, 'P');
    iv->flag = 1;
    if (++iv->ticks == TICKS)
        event_del(iv->tick);
    ah_event_set(iv->wake);
}

static int woken_by_program(void *arg)
{
    interleave *iv = arg;
    for (int i = 0; i < TICKS; i++) {
        ck_assert_int_eq(ah_event_wait(iv->wake, 5000), 0);
        ah_event_clear(iv->wake);
        note(iv, 'T');
    }
    return 0;
}

/* Never waits on anything of libevent's: only yields until the program's timer has fired. */
static int spin_until_flag(void *arg)
{
    interleave *iv = arg;
    iv->flag = 0;
    while (!iv->flag && iv->yields_spent < 100 * 1000 * 1000L) {
        ck_assert_int_eq(ah_yield(), 0);
        iv->yields_spent++;
    }
    return iv->flag ? 0 : -1;
}

static int main_interleave(void *arg)
{
    interleave *iv = arg;
    struct timeval every = {0, 3 * 1000};
    ck_assert_int_eq(event_add(iv->tick, &every), 0);
    ah_task *waiter = ah_spawn(woken_by_program, iv);
    ck_assert_int_eq(ah_join(waiter), 0);
    /* A task that never awaits libevent does not starve the program's events either. */
    ck_assert_int_eq(event_add(iv->tick, &every), 0);
    ah_task *spinner = ah_spawn(spin_until_flag, iv);
    ck_assert_int_eq(ah_join(spinner), 0);
    event_del(iv->tick);
    return 0;
}

START_TEST(test_tasks_and_program_events_interleave)
{
    struct event_base *base = program_base();
    interleave iv = {0};
    iv.tick = event_new(base, -1, EV_PERSIST, tick_cb, &iv);
    ck_assert_ptr_nonnull(iv.tick);
    ah_loop_opts opts = {.base = base};
    ah_loop *loop = ah_loop_new(&opts);
    ck_assert_ptr_nonnull(loop);
    iv.wake = ah_event_new();
    ck_assert_ptr_nonnull(iv.wake);
    ck_assert_int_eq(ah_loop_run(loop, main_interleave, &iv), 0);
    iv.log[iv.len] = '\0';
    /* Every tick of the program's timer woke the task before the next tick came; then the
     * spinning task saw a tick (or more, on a slow machine). */
    ck_assert_msg(strncmp(iv.log, "PTPTPTPTPTPTP", 13) == 0 &&
                      strspn(iv.log + 13, "P") == strlen(iv.log + 13),
                  "log %s", iv.log);
    ck_assert_int_gt(iv.yields_spent, 0);
    ah_event_free(iv.wake);
    ah_loop_free(loop);
    event_free(iv.tick);
    event_base_free(base);
}
END_TEST

/* ---- ah_loop_free leaves the program's base clean ---- */

static int pool_job(void *arg)
{
    (void)arg;
    return 3;
}

static int main_uses_everything(void *arg)
{
    (void)arg;
    ck_assert_int_eq(ah_sleep(1), 0);
    ck_assert_int_eq(ah_to_thread(pool_job, NULL), 3); /* the pool's eventfd event */
    ah_addrs addrs;
    int rc = ah_dns_resolve("localhost", 80, AF_UNSPEC, 1000, &addrs); /* the resolver's state */
    ck_assert_msg(rc > 0 || rc == AH_EDNS, "%s", ah_strerror(rc));
    /* A task still asleep when main returns: cancelled, its timer removed. */
    ah_task_detach(ah_spawn(main_returns_7_later, NULL));
    return 0;
}

START_TEST(test_loop_free_removes_every_event_of_ahttps_from_the_base)
{
    struct event_base *base = program_base();
    int before = added_events(base);
    ah_loop_opts opts = {.base = base};
    ah_loop *loop = ah_loop_new(&opts);
    ck_assert_int_eq(ah_loop_run(loop, main_uses_everything, NULL), 0);
    ah_loop_free(loop);
    ck_assert_int_eq(added_events(base), before);
    ck_assert_int_eq(event_base_loop(base, EVLOOP_NONBLOCK), 1); /* nothing registered */
    event_base_free(base);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("embedding");
    tcase_add_test(tc, test_program_loopexit_stops_a_loop_on_its_base);
    tcase_add_test(tc, test_program_loopbreak_stops_the_run_and_the_loop_stays_usable);
    tcase_add_test(tc, test_loopexit_on_the_loops_own_base_stops_it_too);
    tcase_add_test(tc, test_stop_after_main_returned_keeps_mains_result);
    tcase_add_test(tc, test_exit_left_from_the_programs_dispatch_is_not_obeyed);
    tcase_add_test(tc, test_tasks_and_program_events_interleave);
    tcase_add_test(tc, test_loop_free_removes_every_event_of_ahttps_from_the_base);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* The resolver must not ask the system's name servers: localhost comes from /etc/hosts. */
    setenv("AH_RESOLV_CONF", "/nonexistent/ahttp-check-loop-resolv.conf", 1);
    return ah_check_run(loop_suite());
}
