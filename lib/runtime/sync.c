/* Event, Semaphore, Lock and Queue between the tasks of one loop. Each keeps a FIFO of waiting
 * tasks; waking hands the waiter its turn directly so nothing can overtake it. */
#include "internal.h"

#include <stdlib.h>

/* Common entry for waits: a task, not cancelled, not past its deadline. */
static int enter(ah_task **out)
{
    ah_task *t = ah__current();
    if (!t)
        return AH_EINVAL;
    *out = t;
    return ah__check(t);
}

/* ---- Event ---- */

struct ah_event {
    int set;
    ah__waitq waiters;
};

ah_event *ah_event_new(void) { return calloc(1, sizeof(ah_event)); }

void ah_event_free(ah_event *ev)
{
    if (!ev)
        return;
    ah__waitq_wake_all(&ev->waiters, AH_ECLOSED);
    free(ev);
}

void ah_event_set(ah_event *ev)
{
    ev->set = 1;
    ah__waitq_wake_all(&ev->waiters, 0);
}

void ah_event_clear(ah_event *ev) { ev->set = 0; }

int ah_event_is_set(const ah_event *ev) { return ev->set; }

int ah_event_wait(ah_event *ev, int64_t timeout_ms)
{
    ah_task *t;
    int rc = enter(&t);
    if (rc < 0 || ev->set)
        return rc;
    return ah__park(t, &ev->waiters, -1, 0, timeout_ms);
}

/* ---- Semaphore ---- */

struct ah_sem {
    unsigned value;
    ah__waitq waiters;
};

ah_sem *ah_sem_new(unsigned value)
{
    ah_sem *s = calloc(1, sizeof(*s));
    if (s)
        s->value = value;
    return s;
}

void ah_sem_free(ah_sem *s)
{
    if (!s)
        return;
    ah__waitq_wake_all(&s->waiters, AH_ECLOSED);
    free(s);
}

int ah_sem_try_acquire(ah_sem *s)
{
    /* Waiters go first: a unit freed while tasks wait already belongs to the first of them. */
    if (s->value == 0 || s->waiters.head)
        return AH_EAGAIN;
    s->value--;
    return 0;
}

int ah_sem_acquire(ah_sem *s, int64_t timeout_ms)
{
    ah_task *t;
    int rc = enter(&t);
    if (rc < 0)
        return rc;
    if (ah_sem_try_acquire(s) == 0)
        return 0;
    /* ah_sem_release hands its unit straight to us (wake result 0) without touching value. */
    return ah__park(t, &s->waiters, -1, 0, timeout_ms);
}

void ah_sem_release(ah_sem *s)
{
    if (!ah__waitq_wake_one(&s->waiters, 0))
        s->value++;
}

unsigned ah_sem_value(const ah_sem *s) { return s->value; }

/* ---- Lock ---- */

struct ah_mutex {
    ah_sem sem;
};

ah_mutex *ah_mutex_new(void)
{
    ah_mutex *m = calloc(1, sizeof(*m));
    if (m)
        m->sem.value = 1;
    return m;
}

void ah_mutex_free(ah_mutex *m)
{
    if (!m)
        return;
    ah__waitq_wake_all(&m->sem.waiters, AH_ECLOSED);
    free(m);
}

int ah_mutex_lock(ah_mutex *m, int64_t timeout_ms) { return ah_sem_acquire(&m->sem, timeout_ms); }

void ah_mutex_unlock(ah_mutex *m) { ah_sem_release(&m->sem); }

/* ---- Queue ---- */

struct ah_queue {
    void **items;
    size_t cap;   /* slots allocated */
    size_t limit; /* 0: unbounded */
    size_t head, count;
    int closed;
    ah__waitq getters, putters;
};

ah_queue *ah_queue_new(size_t capacity)
{
    ah_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->limit = capacity;
    q->cap = capacity ? capacity : 16;
    q->items = malloc(q->cap * sizeof(void *));
    if (!q->items) {
        free(q);
        return NULL;
    }
    return q;
}

void ah_queue_free(ah_queue *q)
{
    if (!q)
        return;
    ah__waitq_wake_all(&q->getters, AH_ECLOSED);
    ah__waitq_wake_all(&q->putters, AH_ECLOSED);
    free(q->items);
    free(q);
}

static int grow(ah_queue *q)
{
    size_t cap = q->cap * 2;
    void **items = malloc(cap * sizeof(void *));
    if (!items)
        return AH_ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        items[i] = q->items[(q->head + i) % q->cap];
    free(q->items);
    q->items = items;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int ah_queue_put(ah_queue *q, void *item, int64_t timeout_ms)
{
    ah_task *t;
    int rc = enter(&t);
    if (rc < 0)
        return rc;
    /* A woken putter re-checks: another task may have filled the slot first. */
    while (!q->closed && q->limit && q->count >= q->limit) {
        rc = ah__park(t, &q->putters, -1, 0, timeout_ms);
        if (rc < 0)
            return rc;
    }
    if (q->closed)
        return AH_EPIPE;
    if (q->count == q->cap && (rc = grow(q)) < 0)
        return rc;
    q->items[(q->head + q->count) % q->cap] = item;
    q->count++;
    ah__waitq_wake_one(&q->getters, 0);
    return 0;
}

int ah_queue_get(ah_queue *q, void **item, int64_t timeout_ms)
{
    ah_task *t;
    int rc = enter(&t);
    if (rc < 0)
        return rc;
    while (q->count == 0 && !q->closed) {
        rc = ah__park(t, &q->getters, -1, 0, timeout_ms);
        if (rc < 0)
            return rc;
    }
    if (q->count == 0)
        return AH_EPIPE;
    *item = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    ah__waitq_wake_one(&q->putters, 0);
    /* If items remain and getters wait (e.g. a woken getter was cancelled), pass it on. */
    if (q->count)
        ah__waitq_wake_one(&q->getters, 0);
    return 0;
}

void ah_queue_close(ah_queue *q)
{
    q->closed = 1;
    ah__waitq_wake_all(&q->getters, 0);
    ah__waitq_wake_all(&q->putters, 0);
}

size_t ah_queue_size(const ah_queue *q) { return q->count; }
