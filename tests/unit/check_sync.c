/* Event, Semaphore, Lock, Queue. */
#include "config.h"

#include <stdlib.h>

#include "checkutil.h"

static int wait_event(void *arg) { return ah_event_wait(arg, -1); }

static int main_event_wakes_all(void *arg)
{
    ah_event *ev = ah_event_new();
    ah_task *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = ah_spawn(wait_event, ev);
    ck_assert_int_eq(ah_sleep(5), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ah_task_done(t[i]), 0);
    ah_event_set(ev);
    ck_assert_int_eq(ah_event_is_set(ev), 1);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ah_join(t[i]), 0);
    ck_assert_int_eq(ah_event_wait(ev, 0), 0); /* already set: no wait */
    ah_event_clear(ev);
    ck_assert_int_eq(ah_event_wait(ev, 20), AH_ETIMEDOUT);
    ah_event_free(ev);
    return 0;
}

START_TEST(test_event_set_wakes_every_waiter)
{
    ck_assert_int_eq(ah_run(main_event_wakes_all, NULL), 0);
}
END_TEST

typedef struct {
    ah_sem *sem;
    int inside, max_inside, done;
} sem_state;

static int sem_worker(void *arg)
{
    sem_state *st = arg;
    int rc = ah_sem_acquire(st->sem, -1);
    if (rc < 0)
        return rc;
    st->inside++;
    if (st->inside > st->max_inside)
        st->max_inside = st->inside;
    rc = ah_sleep(5);
    st->inside--;
    st->done++;
    ah_sem_release(st->sem);
    return rc;
}

static int main_sem_limits(void *arg)
{
    sem_state st = {ah_sem_new(3), 0, 0, 0};
    ah_task *t[20];
    for (int i = 0; i < 20; i++)
        t[i] = ah_spawn(sem_worker, &st);
    ck_assert_int_eq(ah_gather(t, 20, NULL), 0);
    ck_assert_int_eq(st.max_inside, 3);
    ck_assert_int_eq(st.done, 20);
    ck_assert_uint_eq(ah_sem_value(st.sem), 3);
    ck_assert_int_eq(ah_sem_try_acquire(st.sem), 0);
    ah_sem_free(st.sem);
    return 0;
}

START_TEST(test_semaphore_bounds_concurrency)
{
    ck_assert_int_eq(ah_run(main_sem_limits, NULL), 0);
}
END_TEST

typedef struct {
    ah_sem *sem;
    int order[4];
    int n;
} fifo_state;

static int fifo_waiter(void *arg)
{
    fifo_state *st = ((fifo_state **)arg)[0];
    int id = (int)(intptr_t)((void **)arg)[1];
    int rc = ah_sem_acquire(st->sem, -1);
    if (rc == 0)
        st->order[st->n++] = id;
    return rc;
}

static int main_sem_fifo(void *arg)
{
    fifo_state st = {ah_sem_new(0), {0}, 0};
    void *args[4][2];
    ah_task *t[4];
    for (int i = 0; i < 4; i++) {
        args[i][0] = &st;
        args[i][1] = (void *)(intptr_t)i;
        t[i] = ah_spawn(fifo_waiter, args[i]);
    }
    ck_assert_int_eq(ah_yield(), 0); /* all four now wait, in order */
    /* a timed-out waiter leaves the queue without taking a unit */
    ck_assert_int_eq(ah_sem_acquire(st.sem, 10), AH_ETIMEDOUT);
    for (int i = 0; i < 4; i++)
        ah_sem_release(st.sem);
    ck_assert_int_eq(ah_gather(t, 4, NULL), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(st.order[i], i);
    ck_assert_uint_eq(ah_sem_value(st.sem), 0);
    ah_sem_free(st.sem);
    return 0;
}

START_TEST(test_semaphore_is_fifo_fair) { ck_assert_int_eq(ah_run(main_sem_fifo, NULL), 0); }
END_TEST

typedef struct {
    ah_mutex *m;
    int counter;
} mutex_state;

static int mutex_worker(void *arg)
{
    mutex_state *st = arg;
    for (int i = 0; i < 10; i++) {
        int rc = ah_mutex_lock(st->m, -1);
        if (rc < 0)
            return rc;
        int seen = st->counter;
        rc = ah_yield(); /* others run while we hold the lock */
        st->counter = seen + 1;
        ah_mutex_unlock(st->m);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int main_mutex(void *arg)
{
    mutex_state st = {ah_mutex_new(), 0};
    ah_task *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = ah_spawn(mutex_worker, &st);
    ck_assert_int_eq(ah_gather(t, 8, NULL), 0);
    ck_assert_int_eq(st.counter, 80); /* no lost update */
    ah_mutex_free(st.m);
    return 0;
}

START_TEST(test_mutex_excludes_across_awaits) { ck_assert_int_eq(ah_run(main_mutex, NULL), 0); }
END_TEST

#define PRODUCERS 4
#define CONSUMERS 5
#define PER_PRODUCER 2500
#define ITEMS (PRODUCERS * PER_PRODUCER)

typedef struct {
    ah_queue *q;
    unsigned char seen[ITEMS];
    int received;
    int next_producer;
} queue_state;

static int producer(void *arg)
{
    queue_state *st = arg;
    int base = st->next_producer++ * PER_PRODUCER;
    for (int i = 0; i < PER_PRODUCER; i++) {
        int rc = ah_queue_put(st->q, (void *)(intptr_t)(base + i + 1), -1);
        if (rc < 0)
            return rc;
        if (i % 7 == 0 && (rc = ah_yield()) < 0)
            return rc;
    }
    return 0;
}

static int consumer(void *arg)
{
    queue_state *st = arg;
    for (;;) {
        void *item;
        int rc = ah_queue_get(st->q, &item, -1);
        if (rc == AH_EPIPE)
            return 0;
        if (rc < 0)
            return rc;
        int v = (int)(intptr_t)item - 1;
        if (v < 0 || v >= ITEMS)
            return -1;
        st->seen[v]++;
        st->received++;
    }
}

static int main_queue_mpmc(void *arg)
{
    queue_state *st = calloc(1, sizeof(*st));
    st->q = ah_queue_new(8);
    ah_task *prod[PRODUCERS], *cons[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        cons[i] = ah_spawn(consumer, st);
    for (int i = 0; i < PRODUCERS; i++)
        prod[i] = ah_spawn(producer, st);
    ck_assert_int_eq(ah_gather(prod, PRODUCERS, NULL), 0);
    ck_assert_uint_le(ah_queue_size(st->q), 8);
    ah_queue_close(st->q);
    ck_assert_int_eq(ah_gather(cons, CONSUMERS, NULL), 0);
    ck_assert_int_eq(st->received, ITEMS);
    for (int i = 0; i < ITEMS; i++)
        ck_assert_int_eq(st->seen[i], 1); /* exactly once */
    ck_assert_int_eq(ah_queue_put(st->q, NULL, -1), AH_EPIPE);
    ah_queue_free(st->q);
    free(st);
    return 0;
}

START_TEST(test_bounded_queue_delivers_each_item_exactly_once)
{
    ck_assert_int_eq(ah_run(main_queue_mpmc, NULL), 0);
}
END_TEST

static int get_one(void *arg)
{
    void *item;
    return ah_queue_get(arg, &item, -1);
}

static int main_queue_cancel(void *arg)
{
    ah_queue *q = ah_queue_new(0);
    ah_task *t = ah_spawn(get_one, q);
    ck_assert_int_eq(ah_yield(), 0);
    ah_cancel(t);
    ck_assert_int_eq(ah_join(t), AH_ECANCELED);
    /* the cancelled getter left the queue: an item put now stays for the next get */
    ck_assert_int_eq(ah_queue_put(q, (void *)1, -1), 0);
    void *item = NULL;
    ck_assert_int_eq(ah_queue_get(q, &item, 0), 0);
    ck_assert_ptr_eq(item, (void *)1);
    ck_assert_int_eq(ah_queue_get(q, &item, 10), AH_ETIMEDOUT);
    /* unbounded queues grow */
    for (intptr_t i = 0; i < 1000; i++)
        ck_assert_int_eq(ah_queue_put(q, (void *)i, -1), 0);
    for (intptr_t i = 0; i < 1000; i++) {
        ck_assert_int_eq(ah_queue_get(q, &item, -1), 0);
        ck_assert_ptr_eq(item, (void *)i);
    }
    ah_queue_free(q);
    return 0;
}

START_TEST(test_cancelled_queue_getter_loses_nothing)
{
    ck_assert_int_eq(ah_run(main_queue_cancel, NULL), 0);
}
END_TEST

static Suite *sync_suite(void)
{
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_event_set_wakes_every_waiter);
    tcase_add_test(tc, test_semaphore_bounds_concurrency);
    tcase_add_test(tc, test_semaphore_is_fifo_fair);
    tcase_add_test(tc, test_mutex_excludes_across_awaits);
    tcase_add_test(tc, test_bounded_queue_delivers_each_item_exactly_once);
    tcase_add_test(tc, test_cancelled_queue_getter_loses_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ah_check_run(sync_suite()); }
