/* Task handles: join, detach, status; and the intrusive FIFO wait queues every primitive uses. */
#include "internal.h"

void ah__waitq_push(ah__waitq *q, ah_task *t)
{
    t->wq = q;
    t->wq_next = NULL;
    t->wq_prev = q->tail;
    if (q->tail)
        q->tail->wq_next = t;
    else
        q->head = t;
    q->tail = t;
}

void ah__waitq_remove(ah__waitq *q, ah_task *t)
{
    if (t->wq_prev)
        t->wq_prev->wq_next = t->wq_next;
    else
        q->head = t->wq_next;
    if (t->wq_next)
        t->wq_next->wq_prev = t->wq_prev;
    else
        q->tail = t->wq_prev;
    t->wq = NULL;
    t->wq_prev = t->wq_next = NULL;
}

ah_task *ah__waitq_wake_one(ah__waitq *q, int result)
{
    ah_task *t = q->head;
    if (t)
        ah__wake(t, result);
    return t;
}

void ah__waitq_wake_all(ah__waitq *q, int result)
{
    while (q->head)
        ah__wake(q->head, result);
}

int ah_task_done(const ah_task *t) { return t && t->state == AH__DONE; }

ah_task *ah_task_current(void) { return ah__current(); }

int ah_task_cancelled(void)
{
    ah_task *t = ah__current();
    return t && t->cancelled;
}

void ah_task_detach(ah_task *t)
{
    if (!t)
        return;
    if (t->state == AH__DONE)
        ah__task_free(t);
    else
        t->detached = 1;
}

static int finished_result(ah_task *t)
{
    int rc = t->cancelled ? AH_ECANCELED : t->result;
    ah__task_free(t);
    return rc;
}

/* Wait until t is done; returns what ah__park returned (0 when t finished). */
static int wait_done(ah_task *self, ah_task *t, int64_t timeout_ms)
{
    if (t->joiner && t->joiner != self)
        return AH_EBUSY;
    t->joiner = self;
    int rc = 0;
    while (t->state != AH__DONE) {
        rc = ah__park(self, NULL, -1, 0, timeout_ms);
        if (rc < 0 && t->state != AH__DONE)
            break;
        rc = 0;
    }
    if (t->state != AH__DONE)
        t->joiner = NULL;
    return rc;
}

void ah__join_shielded(ah_task *self, ah_task *t)
{
    uint8_t was = self->shielded;
    self->shielded = 1;
    (void)wait_done(self, t, -1);
    self->shielded = was;
}

int ah_join(ah_task *t)
{
    ah_task *self = ah__current();
    if (!self || !t || t == self || t->loop != self->loop)
        return AH_EINVAL;
    if (t->state != AH__DONE) {
        int rc = ah__check(self);
        if (rc == 0)
            rc = wait_done(self, t, -1);
        if (rc < 0) {
            if (rc == AH_EBUSY)
                return rc;
            /* Cancelled (or past a deadline) while waiting: as in asyncio, what we awaited is
             * cancelled with us, and freed when it ends. */
            ah_cancel(t);
            ah_task_detach(t);
            return rc;
        }
    }
    return finished_result(t);
}

int ah_wait_for(ah_task *t, int64_t ms)
{
    ah_task *self = ah__current();
    if (!self || !t || t == self || t->loop != self->loop)
        return AH_EINVAL;
    if (t->state != AH__DONE) {
        int rc = ah__check(self);
        if (rc == 0)
            rc = wait_done(self, t, ms);
        if (rc < 0) {
            if (rc == AH_EBUSY)
                return rc;
            ah_cancel(t);
            if (rc == AH_ETIMEDOUT) {
                /* asyncio.wait_for waits for the cancelled task to unwind before raising. */
                ah__join_shielded(self, t);
                ah__task_free(t);
            } else {
                ah_task_detach(t);
            }
            return rc;
        }
    }
    return finished_result(t);
}

int ah_gather(ah_task **tasks, size_t n, int *results)
{
    ah_task *self = ah__current();
    if (!self || (n && !tasks))
        return AH_EINVAL;
    int first_error = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        int rc = ah_join(tasks[i]);
        if (results)
            results[i] = rc;
        if (rc < 0 && first_error == 0)
            first_error = rc;
        if (rc < 0 && self->cancelled)
            break;
    }
    if (i < n) {
        /* We were cancelled: ah_join already cancelled and detached tasks[i]; do the same for
         * the rest, as cancelling asyncio.gather cancels its children. */
        for (size_t k = i + 1; k < n; k++) {
            if (results)
                results[k] = AH_ECANCELED;
            ah_cancel(tasks[k]);
            ah_task_detach(tasks[k]);
        }
        return AH_ECANCELED;
    }
    return first_error;
}

int ah_wait_fd(int fd, int events, int64_t timeout_ms)
{
    ah_task *t = ah__current();
    if (!t || fd < 0 || !(events & (AH_READ | AH_WRITE)))
        return AH_EINVAL;
    int rc = ah__check(t);
    if (rc < 0)
        return rc;
    return ah__park(t, NULL, fd, (short)(events & (AH_READ | AH_WRITE)), timeout_ms);
}
