/* ahttp: sleeping and deadlines (asyncio.sleep, asyncio.timeout). */
#ifndef AHTTP_TIME_H
#define AHTTP_TIME_H

#include <ahttp/common.h>

AH_BEGIN_DECLS

/** asyncio.sleep(): suspend the current task for ms milliseconds; ah_sleep(0) yields.
 * Returns 0, AH_ECANCELED, AH_ETIMEDOUT (an enclosing deadline expired first) or AH_EINVAL
 * outside a task. */
AH_NODISCARD AH_EXPORT int ah_sleep(int64_t ms);

/** asyncio.timeout(): open a deadline scope ms milliseconds from now in the current task.
 * Until the matching ah_deadline_pop, every await returns AH_ETIMEDOUT once the deadline has
 * passed (level-triggered, like cancellation). Scopes nest (up to 16); the earliest wins.
 * Returns 0, AH_EINVAL outside a task, AH_ENOMEM if nested too deep. */
AH_NODISCARD AH_EXPORT int ah_deadline_push(int64_t ms);

/** Close the innermost deadline scope of the current task. Returns 1 if that scope's deadline
 * had expired, 0 if not, AH_EINVAL if there was no scope. */
AH_EXPORT int ah_deadline_pop(void);

AH_END_DECLS

#endif
