/* Task groups (asyncio.TaskGroup): wait for all; the first failure cancels the rest. */
#include "internal.h"

#include <stdlib.h>

struct ah_group {
    ah_loop *loop;
    ah_task *tasks; /* every task spawned into the group, finished or not */
    size_t running;
    int first_error;
    ah_task *waiter; /* the task in ah_group_wait */
};

ah_group *ah_group_new(void)
{
    ah_loop *loop = ah_loop_current();
    if (!loop)
        return NULL;
    ah_group *g = calloc(1, sizeof(*g));
    if (g)
        g->loop = loop;
    return g;
}

static void cancel_running(ah_group *g)
{
    for (ah_task *t = g->tasks; t; t = t->group_next)
        ah_cancel(t);
}

/* Cancel what still runs and wait, uninterruptibly, until it has unwound: no child may outlive
 * its group. The children are cancelled, so this cannot take long. */
static void drain(ah_group *g, ah_task *self)
{
    cancel_running(g);
    uint8_t was = self->shielded;
    self->shielded = 1;
    while (g->running) {
        g->waiter = self;
        (void)ah__park(self, NULL, -1, 0, -1);
        g->waiter = NULL;
    }
    self->shielded = was;
}

int ah_group_spawn(ah_group *g, ah_task_fn fn, void *arg)
{
    if (!g || !fn)
        return AH_EINVAL;
    if (g->first_error)
        return g->first_error;
    ah_task *t = ah_spawn(fn, arg);
    if (!t)
        return AH_ENOMEM;
    t->group = g;
    t->group_next = g->tasks;
    g->tasks = t;
    g->running++;
    return 0;
}

void ah__group_task_done(ah_task *t)
{
    ah_group *g = t->group;
    g->running--;
    /* As in asyncio's TaskGroup, a child that was cancelled is not a failure of the group. */
    int rc = t->cancelled ? 0 : t->result;
    if (rc < 0 && !g->first_error) {
        g->first_error = rc;
        cancel_running(g);
    }
    if (g->waiter && g->running == 0)
        ah__wake(g->waiter, 0);
}

int ah_group_wait(ah_group *g)
{
    ah_task *self = ah__current();
    if (!g || !self || self->loop != g->loop)
        return AH_EINVAL;
    int rc = ah__check(self);
    while (rc == 0 && g->running) {
        g->waiter = self;
        rc = ah__park(self, NULL, -1, 0, -1);
        g->waiter = NULL;
        if (rc > 0)
            rc = 0;
    }
    if (g->running) {
        /* Cancelled or past a deadline ourselves: as TaskGroup does, take the children along. */
        drain(g, self);
        return rc;
    }
    return g->first_error;
}

void ah_group_free(ah_group *g)
{
    if (!g)
        return;
    ah_task *self = ah__current();
    if (g->running) {
        if (self && self->loop == g->loop)
            drain(g, self);
        else
            cancel_running(g);
    }
    ah_task *t = g->tasks;
    while (t) {
        ah_task *next = t->group_next;
        t->group = NULL;
        t->group_next = NULL;
        ah_task_detach(t);
        t = next;
    }
    free(g);
}
