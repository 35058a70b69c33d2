/* ahttp: running blocking work on the loop's thread pool (asyncio.to_thread). */
#ifndef AHTTP_THREAD_H
#define AHTTP_THREAD_H

#include <ahttp/common.h>

AH_BEGIN_DECLS

/** Work for a pool thread; it may block. Returns an int handed back to the awaiting task. */
typedef int (*ah_thread_fn)(void *arg);

/** asyncio.to_thread(): run fn(arg) on a pool thread while the loop runs other tasks; returns
 * fn's result. If the awaiting task is cancelled (or its deadline expires) this returns at once
 * with AH_ECANCELED (AH_ETIMEDOUT); fn still runs to its end, so arg must outlive it — use
 * ah_to_thread_ex to release arg in that case. AH_EINVAL outside a task, AH_ENOMEM. */
AH_NODISCARD AH_EXPORT int ah_to_thread(ah_thread_fn fn, void *arg);

/** As ah_to_thread, but whenever this returns without fn's result — the caller was cancelled
 * or timed out while fn ran, or fn was never started (already cancelled, out of memory) —
 * abandon(arg) is called on the loop's thread once nothing uses arg any more (after fn returned,
 * or at once if fn never started), so arg can be freed there. abandon may be NULL. */
AH_NODISCARD AH_EXPORT int ah_to_thread_ex(ah_thread_fn fn, void *arg, void (*abandon)(void *arg));

AH_END_DECLS

#endif
