/* ahttp: waiting for several tasks — gather, wait_for, task groups. */
#ifndef AHTTP_GATHER_H
#define AHTTP_GATHER_H

#include <ahttp/common.h>
#include <ahttp/task.h>

AH_BEGIN_DECLS

/** asyncio.gather(): join every task in tasks[0..n), storing each result in results[i] (in
 * order; results may be NULL). Consumes the handles. Returns 0 if every result was >= 0, else
 * the first negative result by index. If the caller is cancelled, the tasks not yet finished are
 * cancelled and detached, and AH_ECANCELED is returned. */
AH_NODISCARD AH_EXPORT int ah_gather(ah_task **tasks, size_t n, int *results);

/** asyncio.wait_for(): join t, but if it has not finished within ms milliseconds cancel it,
 * wait for it to unwind, and return AH_ETIMEDOUT. Otherwise returns t's result. Consumes t. */
AH_NODISCARD AH_EXPORT int ah_wait_for(ah_task *t, int64_t ms);

/** A task group (asyncio.TaskGroup): the tasks it spawns are waited for together and the first
 * one to fail cancels the rest. */
typedef struct ah_group ah_group;

/** Make an empty group for the current task. Returns NULL when out of memory. */
AH_EXPORT ah_group *ah_group_new(void);

/** Spawn fn(arg) into g. Returns 0, AH_ENOMEM, or the group's first error if a task has
 * already failed (the new task is then not started). */
AH_NODISCARD AH_EXPORT int ah_group_spawn(ah_group *g, ah_task_fn fn, void *arg);

/** Wait for every task of g. Returns 0 if all succeeded, else the first failure (after the
 * others were cancelled and have unwound). If the caller is cancelled, all tasks are cancelled
 * and waited for, and AH_ECANCELED is returned. */
AH_NODISCARD AH_EXPORT int ah_group_wait(ah_group *g);

/** Free g. Tasks still running are cancelled and waited for first (which requires a task
 * context; outside one they are cancelled and detached). */
AH_EXPORT void ah_group_free(ah_group *g);

AH_END_DECLS

#endif
