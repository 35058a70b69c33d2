/* ahttp: synchronisation between tasks of one loop — Event, Semaphore, Queue, Lock. All waits
 * return 0 on success, AH_ECANCELED, AH_ETIMEDOUT (timeout or deadline), or AH_EINVAL outside a
 * task. Timeouts are in milliseconds; < 0 means no limit. Objects belong to one loop; free them
 * only when no task waits on them (ah_*_free wakes any waiter with AH_ECLOSED). */
#ifndef AHTTP_SYNC_H
#define AHTTP_SYNC_H

#include <ahttp/common.h>

AH_BEGIN_DECLS

/** asyncio.Event: a flag tasks can wait for. */
typedef struct ah_event ah_event;
/** Make a cleared event. NULL when out of memory. */
AH_EXPORT ah_event *ah_event_new(void);
AH_EXPORT void ah_event_free(ah_event *ev);
/** Set the flag and wake every waiter. */
AH_EXPORT void ah_event_set(ah_event *ev);
/** Clear the flag. */
AH_EXPORT void ah_event_clear(ah_event *ev);
/** 1 if set. */
AH_EXPORT int ah_event_is_set(const ah_event *ev);
/** Wait until the flag is set. */
AH_NODISCARD AH_EXPORT int ah_event_wait(ah_event *ev, int64_t timeout_ms);

/** asyncio.Semaphore: FIFO-fair counting semaphore. */
typedef struct ah_sem ah_sem;
AH_EXPORT ah_sem *ah_sem_new(unsigned value);
AH_EXPORT void ah_sem_free(ah_sem *s);
/** Take one unit, waiting if none is free. */
AH_NODISCARD AH_EXPORT int ah_sem_acquire(ah_sem *s, int64_t timeout_ms);
/** Take one unit if free: 0, or AH_EAGAIN. */
AH_EXPORT int ah_sem_try_acquire(ah_sem *s);
/** Give one unit back (wakes the longest waiter). */
AH_EXPORT void ah_sem_release(ah_sem *s);
/** Units free now. */
AH_EXPORT unsigned ah_sem_value(const ah_sem *s);

/** asyncio.Lock: a FIFO-fair mutex between tasks (not threads). */
typedef struct ah_mutex ah_mutex;
AH_EXPORT ah_mutex *ah_mutex_new(void);
AH_EXPORT void ah_mutex_free(ah_mutex *m);
AH_NODISCARD AH_EXPORT int ah_mutex_lock(ah_mutex *m, int64_t timeout_ms);
AH_EXPORT void ah_mutex_unlock(ah_mutex *m);

/** asyncio.Queue of void* items with a capacity (bounded; 0 = unbounded). */
typedef struct ah_queue ah_queue;
AH_EXPORT ah_queue *ah_queue_new(size_t capacity);
/** Free the queue (items still in it are not freed). */
AH_EXPORT void ah_queue_free(ah_queue *q);
/** Append item, waiting while the queue is full. AH_EPIPE once closed. */
AH_NODISCARD AH_EXPORT int ah_queue_put(ah_queue *q, void *item, int64_t timeout_ms);
/** Remove the oldest item into *item, waiting while empty. AH_EPIPE when closed and empty. */
AH_NODISCARD AH_EXPORT int ah_queue_get(ah_queue *q, void **item, int64_t timeout_ms);
/** Close: later puts fail with AH_EPIPE, gets drain what is left then fail with AH_EPIPE. */
AH_EXPORT void ah_queue_close(ah_queue *q);
/** Items in the queue now. */
AH_EXPORT size_t ah_queue_size(const ah_queue *q);

AH_END_DECLS

#endif
