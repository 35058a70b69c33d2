/* ahttp: tasks — stackful coroutines scheduled by the loop (asyncio.Task). */
#ifndef AHTTP_TASK_H
#define AHTTP_TASK_H

#include <ahttp/common.h>
#include <ahttp/error.h>

AH_BEGIN_DECLS

/** A task (opaque). */
typedef struct ah_task ah_task;

/** A task's body: returns 0 (or a count) on success, a negative AH_E* code on failure.
 * Richer results go back through arg. */
typedef int (*ah_task_fn)(void *arg);

/** Readiness bits for ah_wait_fd. */
enum { AH_READ = 0x02, AH_WRITE = 0x04 };

/** asyncio.create_task(): schedule fn(arg) on the current loop. Nothing runs until the caller
 * awaits something or returns. Must be called from a task (or from code ah_loop_run runs).
 * Returns NULL with no current loop or when memory or stack mappings run out.
 * The caller owns the handle until it passes it to ah_join, ah_wait_for, ah_gather or
 * ah_task_detach, each of which consumes it (a task is joined at most once). */
AH_EXPORT ah_task *ah_spawn(ah_task_fn fn, void *arg);

/** await task: wait until t finishes and return its result; frees t.
 * Returns AH_ECANCELED if t was cancelled. If the caller itself is cancelled while it waits,
 * t is cancelled too (as asyncio does), detached, and AH_ECANCELED is returned.
 * AH_EINVAL outside a task or for t == NULL or t == the caller. */
AH_NODISCARD AH_EXPORT int ah_join(ah_task *t);

/** task.cancel(): from now on every await in t returns AH_ECANCELED at once (level-triggered),
 * so t unwinds. Safe on a finished task. Cancelling the current task is allowed. */
AH_EXPORT void ah_cancel(ah_task *t);

/** 1 if t has returned, else 0. */
AH_EXPORT int ah_task_done(const ah_task *t);

/** Give up the handle: the task runs on and is freed when it returns. */
AH_EXPORT void ah_task_detach(ah_task *t);

/** The task running now, or NULL outside tasks. */
AH_EXPORT ah_task *ah_task_current(void);

/** 1 if the current task has been cancelled. */
AH_EXPORT int ah_task_cancelled(void);

/** Let every other runnable task run once, then continue (asyncio.sleep(0)).
 * Returns 0, AH_ECANCELED, AH_ETIMEDOUT (deadline) or AH_EINVAL outside a task. */
AH_NODISCARD AH_EXPORT int ah_yield(void);

/** Wait until fd is readable and/or writable (events: AH_READ | AH_WRITE), at most timeout_ms
 * milliseconds (< 0: no limit). Returns the ready bits (> 0), AH_ETIMEDOUT, AH_ECANCELED,
 * or AH_EINVAL outside a task. */
AH_NODISCARD AH_EXPORT int ah_wait_fd(int fd, int events, int64_t timeout_ms);

AH_END_DECLS

#endif
