/* Sleeping and deadline scopes. */
#include "internal.h"

int ah_sleep(int64_t ms)
{
    ah_task *t = ah__current();
    if (!t)
        return AH_EINVAL;
    if (ms <= 0)
        return ah_yield();
    int rc = ah__check(t);
    if (rc < 0)
        return rc;
    rc = ah__park(t, NULL, -1, 0, ms);
    if (rc != AH_ETIMEDOUT)
        return rc;
    /* The timer fired: either our own sleep ended (success) or an enclosing deadline did. */
    if (t->ndeadlines && ah_now_ms() >= t->deadline_min)
        return AH_ETIMEDOUT;
    return 0;
}

int ah__deadline_passed(void)
{
    ah_task *t = ah__current();
    return t && t->ndeadlines && ah_now_ms() >= t->deadline_min;
}

static void recompute_min(ah_task *t)
{
    int64_t m = INT64_MAX;
    for (int i = 0; i < t->ndeadlines; i++)
        if (t->deadlines[i] < m)
            m = t->deadlines[i];
    t->deadline_min = m;
}

int ah__deadline_push_at(int64_t at)
{
    ah_task *t = ah__current();
    if (!t)
        return AH_EINVAL;
    if (t->ndeadlines == AH__MAX_DEADLINES)
        return AH_ENOMEM;
    t->deadlines[t->ndeadlines++] = at;
    if (at < t->deadline_min)
        t->deadline_min = at;
    return 0;
}

int ah_deadline_push(int64_t ms)
{
    if (!ah__current())
        return AH_EINVAL;
    return ah__deadline_push_at(ah_now_ms() + (ms < 0 ? 0 : ms));
}

/* Close the innermost scope; its deadline, or INT64_MIN if there was none. */
static int64_t pop_scope(void)
{
    ah_task *t = ah__current();
    if (!t || t->ndeadlines == 0)
        return INT64_MIN;
    int64_t at = t->deadlines[--t->ndeadlines];
    if (at <= t->deadline_min) /* it may have been the earliest */
        recompute_min(t);
    return at;
}

int ah_deadline_pop(void)
{
    int64_t at = pop_scope();
    if (at == INT64_MIN)
        return AH_EINVAL;
    return ah_now_ms() >= at;
}

void ah__deadline_drop(void) { (void)pop_scope(); }
