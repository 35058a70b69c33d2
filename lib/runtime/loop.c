/* The event loop: owns a libevent event_base, a ready queue of runnable tasks and a stack pool.
 *
 * Tasks are resumed from the loop's own stack only: either while draining the ready queue, or
 * directly from a libevent callback when the fd or timer a task waits on fires. A task that
 * waits switches back to whoever resumed it, which is always the loop's stack. */
#include "internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#ifdef AH_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* initial-exec: one %fs-relative load instead of a __tls_get_addr call from the shared
 * library on every await. */
static __thread ah_loop *current_loop __attribute__((tls_model("initial-exec")));

/* While tasks stay runnable, poll for I/O and timers only after this many task resumptions:
 * epoll_wait costs about as much as a hundred switches, and a task that keeps yielding must
 * still not starve the sockets for long. */
#define POLL_EVERY 64

#define DEFAULT_STACK_SIZE (64 * 1024)
#define DEFAULT_STACK_CACHE 256
#define TASK_CACHE_MAX 4096

ah_loop *ah_loop_current(void) { return current_loop; }

struct event_base *ah_loop_base(ah_loop *loop) { return loop ? loop->base : NULL; }

int64_t ah_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ah_task *ah__current(void)
{
    ah_loop *loop = current_loop;
    return loop ? loop->current : NULL;
}

/* ---- the library's log ---- */

/* libevent has one log callback per process, so the level and the handler are process-wide as
 * well. The level is read for every message before it is formatted: an atomic int. The handler
 * and its argument change together, so they are read and written under a lock; messages are
 * rare, and the handler is called after the lock is released. */
static int log_level_now = AH_LOG_WARN;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static ah_log_fn log_handler;
static void *log_handler_arg;
static pthread_once_t libevent_log_once = PTHREAD_ONCE_INIT;

static void log_emit(int level, const char *msg)
{
    pthread_mutex_lock(&log_lock);
    ah_log_fn fn = log_handler;
    void *arg = log_handler_arg;
    pthread_mutex_unlock(&log_lock);
    if (fn) {
        fn(level, msg, arg);
        return;
    }
    static const char *const names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "ahttp: %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}

int ah__log_enabled(int level)
{
    return level >= AH_LOG_ERROR && level <= __atomic_load_n(&log_level_now, __ATOMIC_RELAXED);
}

void ah__logf(int level, const char *fmt, ...)
{
    if (!ah__log_enabled(level))
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_emit(level, line);
}

/* libevent's severities onto ours. Its "[msg]" lines are notices, not warnings: evdns says
 * "Nameserver ... has failed" there, which a program reports better as its own DNS error. */
static void from_libevent(int severity, const char *msg)
{
    int level = severity >= EVENT_LOG_ERR    ? AH_LOG_ERROR
                : severity == EVENT_LOG_WARN ? AH_LOG_WARN
                : severity == EVENT_LOG_MSG  ? AH_LOG_INFO
                                             : AH_LOG_DEBUG;
    if (ah__log_enabled(level))
        log_emit(level, msg);
}

static void libevent_log_install(void) { event_set_log_callback(from_libevent); }

void ah__log_init(void) { pthread_once(&libevent_log_once, libevent_log_install); }

void ah_log_set_level(int level)
{
    ah__log_init();
    if (level < AH_LOG_SILENT)
        level = AH_LOG_SILENT;
    else if (level > AH_LOG_DEBUG)
        level = AH_LOG_DEBUG;
    __atomic_store_n(&log_level_now, level, __ATOMIC_RELAXED);
}

int ah_log_level(void) { return __atomic_load_n(&log_level_now, __ATOMIC_RELAXED); }

void ah_log_set_handler(ah_log_fn fn, void *arg)
{
    ah__log_init();
    pthread_mutex_lock(&log_lock);
    log_handler = fn;
    log_handler_arg = arg;
    pthread_mutex_unlock(&log_lock);
}

/* ---- loops ---- */

ah_loop *ah_loop_new(const ah_loop_opts *opts)
{
    ah__log_init(); /* before libevent has anything to say about this loop */
    ah_loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    if (opts && opts->base) {
        loop->base = opts->base;
    } else {
        struct event_config *cfg = event_config_new();
        if (cfg) {
            /* CLOCK_MONOTONIC rather than the coarse clock: sleeps and deadlines of a few ms. */
            event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
            event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
            loop->base = event_base_new_with_config(cfg);
            event_config_free(cfg);
        }
        if (!loop->base) {
            free(loop);
            return NULL;
        }
        loop->own_base = 1;
    }
    ah__fault_init();
    size_t stack_size = opts && opts->stack_size ? opts->stack_size : DEFAULT_STACK_SIZE;
    int guarded = !(opts && opts->stack_guard < 0);
    unsigned cache = opts && opts->stack_cache ? opts->stack_cache : DEFAULT_STACK_CACHE;
    ah__stack_pool_init(&loop->stacks, stack_size, guarded, cache);
    if (opts && opts->threads)
        loop->threads = opts->threads;
    else {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        loop->threads = n > 0 ? (unsigned)n : 1;
    }
    return loop;
}

void ah_loop_free(ah_loop *loop)
{
    if (!loop)
        return;
    ah__thread_pool_free(loop);
    /* Tasks that never finished (ah_loop_run gave up on a deadlock): their stacks go with the
     * pool. */
    while (loop->live) {
        ah_task *t = loop->live;
        loop->live = t->live_next;
        if (t->ev_armed)
            event_del(&t->ev);
        if (t->stack)
            ah__stack_put(&loop->stacks, t->stack);
        free(t);
    }
    while (loop->free_tasks) {
        ah_task *t = loop->free_tasks;
        loop->free_tasks = t->ready_next;
        free(t);
    }
    /* libevent defers some callbacks (evdns runs a cancelled lookup's last callback later, and
     * freeing the resolver fails its requests the same way): let them run, so what they own is
     * freed, before and after the layers above let go of their state. */
    (void)event_base_loop(loop->base, EVLOOP_NONBLOCK);
    for (int i = AH__SLOTS - 1; i >= 0; i--)
        if (loop->slots[i].ptr && loop->slots[i].free)
            loop->slots[i].free(loop->slots[i].ptr);
    (void)event_base_loop(loop->base, EVLOOP_NONBLOCK);
    ah__stack_pool_destroy(&loop->stacks);
    if (loop->own_base)
        event_base_free(loop->base);
    if (current_loop == loop)
        current_loop = NULL;
    free(loop);
}

/* ---- the scheduler ---- */

static void ready_push(ah_loop *loop, ah_task *t)
{
    t->ready_next = NULL;
    t->queued = 1;
    loop->ready_count++;
    if (loop->ready_tail)
        loop->ready_tail->ready_next = t;
    else
        loop->ready_head = t;
    loop->ready_tail = t;
}

static ah_task *ready_pop(ah_loop *loop)
{
    ah_task *t = loop->ready_head;
    if (t) {
        loop->ready_head = t->ready_next;
        if (!loop->ready_head)
            loop->ready_tail = NULL;
        t->queued = 0;
        loop->ready_count--;
    }
    return t;
}

static void live_remove(ah_loop *loop, ah_task *t)
{
    if (t->live_prev)
        t->live_prev->live_next = t->live_next;
    else
        loop->live = t->live_next;
    if (t->live_next)
        t->live_next->live_prev = t->live_prev;
    t->live_prev = t->live_next = NULL;
}

void ah__task_free(ah_task *t)
{
    ah_loop *loop = t->loop;
    live_remove(loop, t);
    if (loop->free_task_count < TASK_CACHE_MAX) {
        t->ready_next = loop->free_tasks;
        loop->free_tasks = t;
        loop->free_task_count++;
    } else {
        free(t);
    }
}

static void task_finished(ah_loop *loop, ah_task *t)
{
    ah__stack_put(&loop->stacks, t->stack);
    t->stack = NULL;
    loop->live_count--;
    if (t->group)
        ah__group_task_done(t);
    if (t->joiner) {
        ah_task *j = t->joiner;
        t->joiner = NULL;
        ah__wake(j, 0);
    }
    if (t->detached)
        ah__task_free(t);
}

static void check_canary(ah_task *t)
{
    if (!t->stack->guarded && !ah__stack_intact(t->stack)) {
        ah__stack_overflow_report(t->loop->stacks.stack_size, "slab canary overwritten");
        abort();
    }
}

/* Switch from the loop's stack into t until it (or a task it hands over to) waits or returns. */
static void resume(ah_loop *loop, ah_task *t)
{
    loop->current = t;
    t->state = AH__RUNNING;
#ifdef AH_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, t->stack->lo, t->stack->size);
#endif
    ah__ctx_switch(&loop->sched_ctx, &t->ctx);
#ifdef AH_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    /* Tasks may have handed the CPU to one another: the one switching back is current. */
    ah_task *back = loop->current;
    loop->current = NULL;
    check_canary(back);
    if (back->state == AH__DONE)
        task_finished(loop, back);
}

/* Leave the current task t (which has parked, yielded or returned). While the poll budget
 * lasts, switch straight into the next runnable task — one context switch instead of two via
 * the loop's stack; otherwise, and always for a task that has returned (its stack must be
 * released from elsewhere), switch back to the loop. */
static void suspend(ah_loop *loop, ah_task *t, int final)
{
    ah_task *next = NULL;
    if (!final && loop->ready_head && loop->since_poll < POLL_EVERY) {
        next = ready_pop(loop);
        loop->since_poll++;
        if (next == t) { /* it was alone: carry on without switching */
            t->state = AH__RUNNING;
            return;
        }
        check_canary(t);
        loop->current = next;
        next->state = AH__RUNNING;
    }
#ifdef AH_ASAN
    if (next)
        __sanitizer_start_switch_fiber(&t->asan_fake_stack, next->stack->lo, next->stack->size);
    else
        __sanitizer_start_switch_fiber(final ? NULL : &t->asan_fake_stack, loop->main_stack_lo,
                                       loop->main_stack_size);
#endif
    ah__ctx_switch(&t->ctx, next ? &next->ctx : &loop->sched_ctx);
#ifdef AH_ASAN
    __sanitizer_finish_switch_fiber(t->asan_fake_stack, NULL, NULL);
#endif
}

void ah__task_entry(void *arg)
{
    ah_task *t = arg;
    ah_loop *loop = t->loop;
#ifdef AH_ASAN
    /* Only the loop's stack enters a task first (the main task); later tasks may be entered
     * from another task's stack, whose bounds must not be taken for the loop's. */
    if (!loop->main_stack_lo)
        __sanitizer_finish_switch_fiber(NULL, &loop->main_stack_lo, &loop->main_stack_size);
    else
        __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    t->result = t->fn(t->arg);
    t->state = AH__DONE;
    suspend(loop, t, 1);
    abort(); /* a finished context is never resumed */
}

ah_task *ah_spawn(ah_task_fn fn, void *arg)
{
    ah_loop *loop = current_loop;
    if (!loop || !fn)
        return NULL;
    ah_task *t = loop->free_tasks;
    if (t) {
        loop->free_tasks = t->ready_next;
        loop->free_task_count--;
    } else if (!(t = malloc(sizeof(*t)))) {
        return NULL;
    }
    t->loop = loop;
    ah__stack *stack = ah__stack_get(&loop->stacks);
    if (!stack) {
        ah__task_free(t);
        return NULL;
    }
    /* Only the fields a fresh task needs; `ev` is assigned before every use. */
    t->fn = fn;
    t->arg = arg;
    t->result = 0;
    t->wake_result = 0;
    t->state = AH__READY;
    t->cancelled = t->detached = t->shielded = t->ev_armed = 0;
    t->stack = stack;
    t->wq = NULL;
    t->wq_prev = t->wq_next = NULL;
    t->joiner = NULL;
    t->on_cancel = NULL;
    t->wait_obj = NULL;
    t->group = NULL;
    t->group_next = NULL;
    t->ndeadlines = 0;
    t->deadline_min = INT64_MAX;
#ifdef AH_ASAN
    t->asan_fake_stack = NULL;
#endif
    ah__ctx_make(&t->ctx, stack->lo, stack->size, t);
    t->live_prev = NULL;
    t->live_next = loop->live;
    if (loop->live)
        loop->live->live_prev = t;
    loop->live = t;
    loop->live_count++;
    ready_push(loop, t);
    return t;
}

/* ---- waiting and waking ---- */

int ah__check(ah_task *t)
{
    if (t->shielded)
        return 0;
    if (t->cancelled)
        return AH_ECANCELED;
    if (t->ndeadlines && ah_now_ms() >= t->deadline_min)
        return AH_ETIMEDOUT;
    return 0;
}

/* Take a parked task off its timer and wait queue and hand it result. 0 if t was not parked
 * (already woken, e.g. by cancellation, and queued to run). */
static int unpark(ah_task *t, int result)
{
    if (t->state != AH__WAITING || t->queued)
        return 0;
    if (t->ev_armed) {
        event_del(&t->ev);
        t->ev_armed = 0;
    }
    if (t->wq)
        ah__waitq_remove(t->wq, t);
    t->wake_result = result;
    return 1;
}

void ah__resume_waiter(ah_task *t, int result)
{
    if (!unpark(t, result))
        return;
    t->on_cancel = NULL;
    /* We are on the loop's stack inside event_base_loop: run the task right here. */
    resume(t->loop, t);
}

static void task_event_cb(evutil_socket_t fd, short what, void *arg)
{
    ah_task *t = arg;
    (void)fd;
    t->ev_armed = 0;
    ah__resume_waiter(t, (what & EV_TIMEOUT) ? AH_ETIMEDOUT : (what & (EV_READ | EV_WRITE)));
}

void *ah__loop_slot(ah_loop *loop, int which) { return loop->slots[which].ptr; }

void ah__loop_set_slot(ah_loop *loop, int which, void *ptr, void (*free_fn)(void *ptr))
{
    loop->slots[which].ptr = ptr;
    loop->slots[which].free = free_fn;
}

int ah__park(ah_task *t, ah__waitq *q, int fd, short what, int64_t timeout_ms)
{
    ah_loop *loop = t->loop;
    if (!t->shielded && t->ndeadlines) {
        int64_t left = t->deadline_min - ah_now_ms();
        if (left <= 0)
            return AH_ETIMEDOUT;
        if (timeout_ms < 0 || left < timeout_ms)
            timeout_ms = left;
    }
    if (q)
        ah__waitq_push(q, t);
    if (fd >= 0 || timeout_ms >= 0) {
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        /* Inside callbacks libevent measures timeouts from the time it cached when the turn
         * began, which may be long past: a timer set from it fires early, before the deadline
         * it stands for. */
        if (timeout_ms >= 0)
            event_base_update_cache_time(loop->base);
        event_assign(&t->ev, loop->base, fd, fd >= 0 ? what : 0, task_event_cb, t);
        if (event_add(&t->ev, timeout_ms >= 0 ? &tv : NULL) != 0) {
            if (q)
                ah__waitq_remove(q, t);
            return AH_ENOMEM;
        }
        t->ev_armed = 1;
    }
    t->state = AH__WAITING;
    suspend(loop, t, 0);
    return t->wake_result;
}

void ah__wake(ah_task *t, int result)
{
    if (!unpark(t, result))
        return;
    t->state = AH__READY;
    ready_push(t->loop, t);
}

void ah_cancel(ah_task *t)
{
    if (!t || t->state == AH__DONE || t->cancelled)
        return;
    t->cancelled = 1;
    if (t->state == AH__WAITING && !t->shielded && !t->queued) {
        void (*hook)(ah_task *) = t->on_cancel;
        t->on_cancel = NULL;
        if (hook)
            hook(t);
        ah__wake(t, AH_ECANCELED);
    }
}

int ah_yield(void)
{
    ah_task *t = ah__current();
    if (!t)
        return AH_EINVAL;
    int rc = ah__check(t);
    if (rc < 0)
        return rc;
    t->state = AH__READY;
    t->wake_result = 0;
    ready_push(t->loop, t);
    suspend(t->loop, t, 0);
    return t->wake_result;
}

/* ---- running ---- */

/* Resume the tasks that are runnable now; those they make runnable wait for the next turn, so a
 * task that yields in a loop cannot starve I/O. */
static void run_ready(ah_loop *loop)
{
    size_t n = loop->ready_count;
    ah_task *t;
    while (n-- && (t = ready_pop(loop))) {
        loop->since_poll++;
        resume(loop, t);
    }
}

static void cancel_all(ah_loop *loop)
{
    for (ah_task *t = loop->live; t; t = t->live_next)
        ah_cancel(t);
}

/* Whether the program has asked the base to stop (event_base_loopexit / loopbreak) during this
 * run. libevent raises those flags from its own loop or at once (loopbreak outside a callback),
 * and clears them only when event_base_loop next starts: so they are read after each turn of
 * the base and again before the next, and a flag already raised when the run began (left from
 * the program's own dispatch) is ignored until a turn of ours has cleared it. */
typedef struct stop_watch {
    int stale_exit, stale_break;
} stop_watch;

static void stop_watch_begin(stop_watch *w, struct event_base *base)
{
    w->stale_exit = event_base_got_exit(base);
    w->stale_break = event_base_got_break(base);
}

static void stop_watch_polled(stop_watch *w) { w->stale_exit = w->stale_break = 0; }

static int stop_requested(const stop_watch *w, struct event_base *base)
{
    return (!w->stale_exit && event_base_got_exit(base)) ||
           (!w->stale_break && event_base_got_break(base));
}

int ah_loop_run(ah_loop *loop, ah_task_fn main_fn, void *arg)
{
    if (!loop || !main_fn || loop->running || current_loop)
        return AH_EINVAL;
    ah__fault_thread_init();
    loop->running = 1;
    current_loop = loop;
    int rc;
    ah_task *main_task = ah_spawn(main_fn, arg);
    if (!main_task) {
        rc = AH_ENOMEM;
        goto out;
    }
    int deadlocked = 0;
    int stopped = 0; /* the program stopped the base before main returned */
    stop_watch watch;
    stop_watch_begin(&watch, loop->base);
    loop->since_poll = 0;
    for (;;) {
        run_ready(loop);
        if (!stopped && main_task->state != AH__DONE && stop_requested(&watch, loop->base))
            stopped = 1;
        if (stopped)
            cancel_all(loop); /* again each turn: tasks spawned while unwinding go too */
        if (main_task->state == AH__DONE && !loop->ready_head) {
            if (!loop->live_count)
                break;
            /* main returned: what is left is cancelled and allowed to unwind. */
            cancel_all(loop);
            if (loop->ready_head)
                continue;
        }
        if (loop->ready_head && loop->since_poll < POLL_EVERY)
            continue;
        loop->since_poll = 0;
        int flags = loop->ready_head ? EVLOOP_NONBLOCK : EVLOOP_ONCE;
        int r = event_base_loop(loop->base, flags);
        stop_watch_polled(&watch);
        if (!stopped && main_task->state != AH__DONE && stop_requested(&watch, loop->base)) {
            stopped = 1;
            cancel_all(loop);
            continue;
        }
        if (r == 1 && !loop->ready_head) {
            /* Nothing is registered and nothing is runnable: every live task waits on
             * something only another task could deliver. Cancel them so they unwind. */
            if (deadlocked++ > 2)
                break; /* they would not unwind: give up on them */
            cancel_all(loop);
        } else if (r < 0) {
            break;
        }
    }
    rc = main_task->state == AH__DONE ? main_task->result : AH_EDEADLOCK;
    if (deadlocked && rc == AH_ECANCELED)
        rc = AH_EDEADLOCK;
    if (stopped)
        rc = AH_ECANCELED;
    /* Handles nobody joined die with the run; tasks that never finished (only after giving up
     * on a deadlock) stay on the list for ah_loop_free. */
    for (ah_task *t = loop->live, *next; t; t = next) {
        next = t->live_next;
        if (t->state == AH__DONE)
            ah__task_free(t);
    }
out:
    current_loop = NULL;
    loop->running = 0;
    return rc;
}

static int run_main(ah_loop *loop, ah_task_fn fn, void *arg)
{
    int rc = ah_loop_run(loop, fn, arg);
    ah_loop_free(loop);
    return rc;
}

int ah_run(ah_task_fn fn, void *arg)
{
    ah_loop *loop = ah_loop_new(NULL);
    if (!loop)
        return AH_ENOMEM;
    return run_main(loop, fn, arg);
}
