/* ahttp runtime internals shared by lib/runtime, lib/net and lib/http (never installed). */
#ifndef AH_RUNTIME_INTERNAL_H
#define AH_RUNTIME_INTERNAL_H

#include "config.h"

#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

/* the runtime sees only its own part of the API: nothing of sockets, streams or HTTP */
#include <ahttp/buf.h>
#include <ahttp/common.h>
#include <ahttp/error.h>
#include <ahttp/gather.h>
#include <ahttp/loop.h>
#include <ahttp/sync.h>
#include <ahttp/task.h>
#include <ahttp/thread.h>
#include <ahttp/time.h>

#ifdef AH_CTX_UCONTEXT
#include <ucontext.h>
typedef struct ah__ctx {
    ucontext_t uc;
} ah__ctx;
#else
typedef struct ah__ctx {
    void *sp;
} ah__ctx;
#endif

#if defined(__SANITIZE_ADDRESS__)
#define AH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AH_ASAN 1
#endif
#endif

/* ---- context switch (ctx_*.S / ctx_ucontext.c) ---- */

/* Save the callee-saved state in *from and continue in *to. */
void ah__ctx_switch(ah__ctx *from, ah__ctx *to);
/* Prepare ctx so that the first switch into it calls ah__task_entry() on [lo, lo + size). */
void ah__ctx_make(ah__ctx *ctx, void *lo, size_t size, void *task);
/* Where a new context starts; never returns. */
void ah__task_entry(void *task);

/* ---- stacks (stack.c) ---- */

typedef struct ah__stack ah__stack;
struct ah__stack {
    char *lo;        /* lowest usable byte; in slab mode it holds the canary */
    size_t size;     /* usable bytes from lo (this descriptor sits just above them) */
    ah__stack *next; /* free-list link */
    unsigned vg_id;  /* valgrind stack id */
    int guarded;     /* 1: own mapping with a guard page; 0: carved from a slab */
};

typedef struct ah__stack_pool {
    size_t stack_size; /* usable bytes asked for */
    int guarded;
    unsigned cache_max; /* free guarded stacks kept */
    unsigned cached;
    ah__stack *free;
    struct ah__slab *slabs;
} ah__stack_pool;

void ah__stack_pool_init(ah__stack_pool *p, size_t size, int guarded, unsigned cache_max);
void ah__stack_pool_destroy(ah__stack_pool *p);
ah__stack *ah__stack_get(ah__stack_pool *p);
void ah__stack_put(ah__stack_pool *p, ah__stack *s);
/* 1 if the slab canary below the stack is intact (always 1 for guarded stacks). */
int ah__stack_intact(const ah__stack *s);

/* ---- tasks and wait queues (task.c) ---- */

enum ah__task_state { AH__READY, AH__RUNNING, AH__WAITING, AH__DONE };

#define AH__MAX_DEADLINES 16

typedef struct ah__waitq {
    ah_task *head, *tail;
} ah__waitq;

struct ah_task {
    ah__ctx ctx;
    ah_loop *loop;
    ah_task_fn fn;
    void *arg;
    int result;
    int wake_result;
    uint8_t state;
    uint8_t cancelled;
    uint8_t detached;
    uint8_t shielded; /* waiting in a way cancellation and deadlines must not interrupt */
    uint8_t ev_armed;
    uint8_t queued; /* in the ready queue */
    ah__stack *stack;
    struct event ev; /* the one timer / fd event a waiting task needs: no allocation per await */
    ah_task *ready_next;
    ah_task *live_prev, *live_next; /* the loop's list of tasks not yet freed */
    ah__waitq *wq;                  /* the wait queue this task sits in, if any */
    ah_task *wq_prev, *wq_next;
    ah_task *joiner;               /* the task blocked in ah_join on this one */
    void (*on_cancel)(ah_task *t); /* extra unhooking when a wait is cancelled */
    void *wait_obj;                /* what on_cancel needs */
    struct ah_group *group;
    ah_task *group_next;
    int ndeadlines;
    int64_t deadline_min; /* earliest open deadline (INT64_MAX: none) */
    int64_t deadlines[AH__MAX_DEADLINES];
#ifdef AH_ASAN
    void *asan_fake_stack;
#endif
};

struct ah__thread_pool;

/* Per-loop state of the layers above the runtime (DNS resolver, TLS caches, ...), freed with
 * the loop before its event_base. */
enum { AH__SLOT_DNS, AH__SLOT_NET, AH__SLOT_HTTP, AH__SLOTS };
typedef struct ah__slot {
    void *ptr;
    void (*free)(void *ptr);
} ah__slot;

struct ah_loop {
    struct event_base *base;
    ah_task *current;
    ah_task *ready_head, *ready_tail;
    size_t ready_count;
    unsigned since_poll; /* task resumptions since the last I/O poll */
    ah_task *live;       /* every task not yet freed (finished or not) */
    size_t live_count;   /* tasks not yet finished */
    ah_task *free_tasks; /* recycled task structs */
    unsigned free_task_count;
    ah__ctx sched_ctx;
    ah__stack_pool stacks;
    unsigned threads;
    struct ah__thread_pool *pool;
    int running;
    int own_base; /* 0: the program's (ah_loop_opts.base), neither made nor freed here */
    ah__slot slots[AH__SLOTS];
#ifdef AH_ASAN
    const void *main_stack_lo;
    size_t main_stack_size;
#endif
};

/* The calling task, or NULL (also NULL on the loop's own stack). */
ah_task *ah__current(void);
/* 0 if the task may wait; AH_ECANCELED / AH_ETIMEDOUT if cancelled / past its deadline. */
int ah__check(ah_task *t);
/* 1 if the calling task has an open deadline scope whose time has come, else 0. */
int ah__deadline_passed(void);
/* ah_deadline_push with the deadline given as an ah_now_ms() time (no clock read). */
int ah__deadline_push_at(int64_t at);
/* ah_deadline_pop for a caller that does not ask whether it expired (no clock read). */
void ah__deadline_drop(void);
/* Suspend t (the current task). If q, t is queued on it; if fd >= 0, t waits for `what` on fd;
 * the timeout (< 0: none) is shortened to the task's deadline. Returns what the waker passed:
 * AH_ETIMEDOUT on timeout, the ready bits for fd waits, AH_ECANCELED on cancellation. */
int ah__park(ah_task *t, ah__waitq *q, int fd, short what, int64_t timeout_ms);
/* Make a parked task runnable with `result` (taking it off its wait queue and timer). */
void ah__wake(ah_task *t, int result);
/* From a libevent callback only (the loop's stack): run a parked task now with `result`. Does
 * nothing if t is not parked (already woken, e.g. by cancellation). */
void ah__resume_waiter(ah_task *t, int result);
/* The loop's slot `which` (AH__SLOT_*), and setting it with its destructor. */
void *ah__loop_slot(ah_loop *loop, int which);
void ah__loop_set_slot(ah_loop *loop, int which, void *ptr, void (*free_fn)(void *ptr));
/* Wait for t to finish without being interruptible (used once t has been cancelled). */
void ah__join_shielded(ah_task *self, ah_task *t);
/* Free a finished task struct. */
void ah__task_free(ah_task *t);

void ah__waitq_push(ah__waitq *q, ah_task *t);
void ah__waitq_remove(ah__waitq *q, ah_task *t);
/* Wake the first waiter with result; returns it, or NULL if none. */
ah_task *ah__waitq_wake_one(ah__waitq *q, int result);
void ah__waitq_wake_all(ah__waitq *q, int result);

/* fault.c: task stack overflow, reported. */
/* Install the SIGSEGV/SIGBUS handler (once per process; not in ASan builds, whose own handler
 * reports overflows) and give the calling thread an alternate signal stack if it has none. */
void ah__fault_init(void);
/* The calling thread's alternate signal stack only (a loop may run on a thread other than the
 * one that made it). */
void ah__fault_thread_init(void);
/* Write "ahttp: task stack overflow (N KiB stack[, how]; raise ...)" to stderr with write(2)
 * only: callable from a signal handler. how may be NULL. */
void ah__stack_overflow_report(size_t stack_size, const char *how);

/* group.c: called by the scheduler when a task of a group finishes. */
void ah__group_task_done(ah_task *t);

/* thread.c */
void ah__thread_pool_free(ah_loop *loop);

/* loop.c: the library's own log (ah_log_set_level). Not the server's error log (ah__log in
 * lib/http), which has a level of its own per server. */
/* Route libevent's messages through the level (once per process; ah_loop_new does it). */
void ah__log_init(void);
/* 1 if a message of this AH_LOG_* level would be reported now. */
int ah__log_enabled(int level);
/* Report one line at an AH_LOG_* level, if the level lets it through. */
void ah__logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
