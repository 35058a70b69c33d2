/* ahttp: the event loop. One loop per thread; it owns a libevent event_base and runs tasks. */
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
} ah_loop_opts;

/** Make a loop. opts may be NULL. Returns NULL on failure (out of memory, libevent failure).
 * The caller owns the loop and frees it with ah_loop_free. */
AH_EXPORT ah_loop *ah_loop_new(const ah_loop_opts *opts);

/** Run main(arg) as a task on loop and turn the loop until it returns. Tasks still running then
 * are cancelled and run to completion; returns main's result (or AH_EDEADLOCK if main waited for
 * something nothing could deliver; AH_ENOMEM if it could not be spawned; AH_EINVAL if the loop is
 * already running). Must be called from the thread that will own the loop. */
AH_NODISCARD AH_EXPORT int ah_loop_run(ah_loop *loop, ah_task_fn main, void *arg);

/** Free a loop that is not running: stops its thread pool, frees stacks and tasks. */
AH_EXPORT void ah_loop_free(ah_loop *loop);

/** asyncio.run(): a new loop with default options, run main(arg), free the loop.
 * Returns main's result, or an AH_E* code if the loop could not be made. */
AH_NODISCARD AH_EXPORT int ah_run(ah_task_fn main, void *arg);

/** The loop running on this thread, or NULL outside ah_loop_run. */
AH_EXPORT ah_loop *ah_loop_current(void);

/** The libevent event_base the loop owns (for integrating other libevent code). */
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
