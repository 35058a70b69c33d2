/* ahttp: the event loop. One loop per thread; it drives a libevent event_base (its own, or the
 * program's: ah_loop_opts.base) and runs tasks. */
#ifndef AHTTP_LOOP_H
#define AHTTP_LOOP_H

#include <ahttp/common.h>
#include <ahttp/task.h>

AH_BEGIN_DECLS

struct event_base;

/** An event loop (opaque). Created by ah_loop_new, freed by ah_loop_free. */
typedef struct ah_loop ah_loop;

/** Options for ah_loop_new. Zero-initialise, then set what you need; 0 means "default". */
typedef struct ah_loop_opts {
    /** Usable stack bytes per task (default 64 KiB; rounded up to whole pages). */
    size_t stack_size;
    /** 1: every stack gets a PROT_NONE guard page (default). -1: no guard pages; stacks are
     * carved from large slabs with a canary word checked on every switch — for very many small
     * tasks, since each guarded stack costs two of the kernel's ~65,530 memory mappings. */
    int stack_guard;
    /** Free stacks kept for reuse (default 256). */
    unsigned stack_cache;
    /** Threads serving ah_to_thread (default: number of online CPUs). */
    unsigned threads;
    /** An event_base of the program's for the loop to run on, so that ahttp tasks and the
     * program's own libevent events share one thread (NULL: the loop makes its own, with
     * EVENT_BASE_FLAG_PRECISE_TIMER). Borrowed: the loop neither makes nor frees it, and the
     * program frees it after ah_loop_free. Give it EVENT_BASE_FLAG_PRECISE_TIMER too, or sleeps
     * and timeouts may run up to a clock tick (1-4 ms) late.
     *
     * While ah_loop_run runs, the loop drives the base (event_base_loop with EVLOOP_ONCE or
     * EVLOOP_NONBLOCK, between turns of runnable tasks): the program's events fire from there,
     * and their callbacks may wake tasks (ah_event_set, ...) but must not run event_base_loop
     * or event_base_dispatch on the base themselves. event_base_loopexit and
     * event_base_loopbreak on the base stop ah_loop_run: see there. Between runs the program may
     * dispatch the base itself; ahttp's tasks then do not run. */
    struct event_base *base;
} ah_loop_opts;

/** Make a loop. opts may be NULL. Returns NULL on failure (out of memory, libevent failure).
 * The caller owns the loop and frees it with ah_loop_free.
 *
 * The first loop of the process installs a SIGSEGV/SIGBUS handler, and each thread that makes or
 * runs a loop gets an alternate signal stack (sigaltstack) unless it has one: a task that runs
 * into its guard page then prints "ahttp: task stack overflow (N KiB stack; raise
 * ah_loop_opts.stack_size or ah_server_opts.task_stack_size)" before the process dies of
 * SIGSEGV as it would have. Other faults die as before, silently. A handler the program installed
 * before is kept and every fault is passed on to it. ASan builds install nothing (ASan reports
 * overflows itself). */
AH_EXPORT ah_loop *ah_loop_new(const ah_loop_opts *opts);

/** Run main(arg) as a task on loop and turn the loop until it returns. Tasks still running then
 * are cancelled and run to completion; returns main's result (or AH_EDEADLOCK if main waited for
 * something nothing could deliver; AH_ENOMEM if it could not be spawned; AH_EINVAL if the loop is
 * already running or another loop runs on this thread). Must be called from the thread that will
 * own the loop, and not from a callback of its event_base while the program dispatches it
 * (libevent refuses a nested event_base_loop).
 *
 * Stopping from outside: event_base_loopexit(base, tv) or event_base_loopbreak(base) on the
 * loop's base (ah_loop_base, or the one adopted through ah_loop_opts.base), called by the
 * program — from its own libevent callbacks or from a task — before main has returned, stops the
 * run as soon as the turn that saw it ends (loopexit with a tv: once that time has passed).
 * Then every task of the run, main included, is cancelled (its awaits return AH_ECANCELED at
 * once) and the loop keeps turning until they have unwound and returned, exactly as for the
 * tasks left when main returns; tasks spawned while unwinding are cancelled too. ah_loop_run then
 * returns AH_ECANCELED, whatever main returned, and every task of the run has been freed (as
 * always, only tasks that would not unwind after a deadlock are left for ah_loop_free). While
 * tasks unwind the loop may turn the base again, which runs the program's ready events and
 * clears libevent's exit and break flags: the return code, not event_base_got_exit, says that
 * the run was stopped. A stop requested after main returned changes nothing, and a loopexit or
 * loopbreak left over from the program's own dispatch before ah_loop_run began is not obeyed.
 * The loop stays usable: a later ah_loop_run starts afresh. */
AH_NODISCARD AH_EXPORT int ah_loop_run(ah_loop *loop, ah_task_fn main, void *arg);

/** Free a loop that is not running: stops its thread pool, frees stacks and tasks. Streams,
 * listeners, servers and clients that use the loop must be closed first. With an adopted base
 * (ah_loop_opts.base), ahttp's events are all removed from it and the base is left to the
 * program; the loop turns it once without blocking first (libevent defers some of the callbacks
 * that release ahttp's DNS state), which also runs the program's events that are ready then. Not
 * from a callback of that base. */
AH_EXPORT void ah_loop_free(ah_loop *loop);

/** asyncio.run(): a new loop with default options, run main(arg), free the loop.
 * Returns main's result, or an AH_E* code if the loop could not be made. */
AH_NODISCARD AH_EXPORT int ah_run(ah_task_fn main, void *arg);

/** The loop running on this thread, or NULL outside ah_loop_run. */
AH_EXPORT ah_loop *ah_loop_current(void);

/** The libevent event_base the loop runs on (its own, or the one adopted through
 * ah_loop_opts.base), for integrating other libevent code. */
AH_EXPORT struct event_base *ah_loop_base(ah_loop *loop);

/** Milliseconds on a monotonic clock (for deadlines and measuring). */
AH_EXPORT int64_t ah_now_ms(void);

/** Levels of the library's own messages: what ahttp itself reports (a resolver whose name
 * servers cannot be reached, ...) and everything libevent logs, which ahttp takes over (through
 * event_set_log_callback, when the first loop is made; evdns logs through it as long as nobody
 * calls evdns_set_log_fn). Each level reports what the ones before it in this list do, and more. */
enum {
    AH_LOG_SILENT = -1, /**< nothing at all */
    AH_LOG_ERROR = 0,   /**< errors (libevent's "[err]", said just before it aborts) */
    AH_LOG_WARN = 1,    /**< and warnings: libevent's "[warn]" [default] */
    AH_LOG_INFO = 2,    /**< and notices: libevent's "[msg]" ("Nameserver ... has failed") */
    AH_LOG_DEBUG = 3,   /**< and libevent's debug lines (made only after
                             event_enable_debug_logging) */
};

/** Report messages of this level and the ones above it (AH_LOG_*; default AH_LOG_WARN); others
 * are dropped before they are formatted. Thread-safe; takes effect at once in every loop. */
AH_EXPORT void ah_log_set_level(int level);

/** The current level (AH_LOG_*). */
AH_EXPORT int ah_log_level(void);

/** Where a message goes: level is its AH_LOG_* level, msg one line without a newline (valid
 * during the call only), arg what ah_log_set_handler was given. Called on the thread of the loop
 * the message is about, so several at once with several loops; it must not call ah_log_set_*. */
typedef void (*ah_log_fn)(int level, const char *msg, void *arg);

/** Send the messages that pass the level to fn(level, msg, arg) instead of stderr; fn NULL:
 * back to the default, a line "ahttp: LEVEL: msg" on stderr. Thread-safe. */
AH_EXPORT void ah_log_set_handler(ah_log_fn fn, void *arg);

AH_END_DECLS

#endif
