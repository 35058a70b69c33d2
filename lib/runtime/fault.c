/* Task stack overflow, reported.
 *
 * A guarded task stack (stack.c) has a PROT_NONE page below it, so a task that runs off its
 * stack faults there. Without help the process dies with a bare SIGSEGV and nothing says why.
 * This file installs, once per process, a SIGSEGV/SIGBUS handler that recognises a fault in the
 * guard page of the task running on the faulting thread, says so on stderr with the remedy, and
 * then lets the process die of the same signal as before (core dumps and exit status unchanged).
 *
 * The handler cannot run on the stack that overflowed (the kernel would find no room to push
 * the signal frame and kill the process silently), so every thread that runs a loop gets an
 * alternate signal stack (sigaltstack), unless it already has one — the program's, or a
 * runtime's such as ASan's. Ours is released when the thread exits.
 *
 * A handler the program installed before the first loop was made is kept: faults are passed on
 * to it (after our message, for an overflow), so a program that catches SIGSEGV itself (a crash
 * reporter, a garbage collector's write barrier) works as before. Everything the handler does is
 * async-signal-safe: thread-local and plain memory reads, write(2), sigaction, raise. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Room for our handler and for a program's handler we chain to. */
#define ALT_STACK_MIN (64 * 1024)

static const char remedy[] = "raise ah_loop_opts.stack_size or ah_server_opts.task_stack_size";

static void put(char *buf, size_t size, size_t *len, const char *s)
{
    while (*s && *len + 1 < size)
        buf[(*len)++] = *s++;
}

void ah__stack_overflow_report(size_t stack_size, const char *how)
{
    /* No snprintf here: this runs in a signal handler. */
    char digits[24], line[256];
    size_t nd = 0, len = 0;
    size_t kib = stack_size / 1024;
    do {
        digits[nd++] = (char)('0' + kib % 10);
        kib /= 10;
    } while (kib && nd < sizeof(digits));
    char number[24];
    for (size_t i = 0; i < nd; i++)
        number[i] = digits[nd - 1 - i];
    number[nd] = '\0';
    put(line, sizeof(line), &len, "ahttp: task stack overflow (");
    put(line, sizeof(line), &len, number);
    put(line, sizeof(line), &len, " KiB stack");
    if (how) {
        put(line, sizeof(line), &len, ", ");
        put(line, sizeof(line), &len, how);
    }
    put(line, sizeof(line), &len, "; ");
    put(line, sizeof(line), &len, remedy);
    put(line, sizeof(line), &len, ")\n");
    (void)!write(2, line, len);
}

#ifndef AH_ASAN

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static struct sigaction prev_segv, prev_bus; /* what was there before us */
static size_t page;                          /* read in the handler: no sysconf there */
static size_t alt_size;
static pthread_key_t alt_key; /* our alternate stack per thread, released at thread exit */
static int alt_key_ok;
static __thread int alt_done __attribute__((tls_model("initial-exec")));

/* The task running on this thread if addr lies in the guard page of its stack, else NULL. Only
 * the running task can overflow: its stack is the one in use. (ah__current is a hidden symbol:
 * a direct call and a thread-local read, no lazy PLT binding inside the handler.) */
static ah_task *overflowed(const void *addr)
{
    ah_task *t = ah__current();
    if (!t || !t->stack || !t->stack->guarded)
        return NULL;
    const char *lo = t->stack->lo, *a = addr;
    return a < lo && a >= lo - page ? t : NULL;
}

static int is_handler(const struct sigaction *sa)
{
    if (sa->sa_flags & SA_SIGINFO)
        return sa->sa_sigaction != NULL;
    return sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN;
}

/* Call the program's handler as the kernel would have: its mask blocked, reset first if it
 * asked for SA_RESETHAND. */
static void chain(int sig, const struct sigaction *prev, siginfo_t *info, void *uctx)
{
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &prev->sa_mask, &old);
    if (prev->sa_flags & SA_RESETHAND) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
    }
    if (prev->sa_flags & SA_SIGINFO)
        prev->sa_sigaction(sig, info, uctx);
    else
        prev->sa_handler(sig);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Die of sig as if nobody had caught it. The signal is blocked while its handler runs, so the
 * raised one waits until we return, and then finds the default action. */
static void die_of(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

static void on_fault(int sig, siginfo_t *info, void *uctx)
{
    int saved_errno = errno;
    const struct sigaction *prev = sig == SIGBUS ? &prev_bus : &prev_segv;
    ah_task *t = info ? overflowed(info->si_addr) : NULL;
    int overflow = t != NULL;
    if (overflow)
        ah__stack_overflow_report(t->loop->stacks.stack_size, NULL);
    if (is_handler(prev)) {
        chain(sig, prev, info, uctx);
        /* The program's handler returned: for its own faults that means it dealt with them
         * (the access is retried). An overflow cannot be dealt with, and retried it would
         * fault forever. */
        if (!overflow) {
            errno = saved_errno;
            return;
        }
    } else if (!overflow && prev->sa_handler == SIG_IGN && info && info->si_code <= 0) {
        errno = saved_errno;
        return; /* a kill(2) of an ignored signal stays ignored */
    }
    die_of(sig);
    errno = saved_errno;
}

static void alt_stack_release(void *mem)
{
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == mem) {
        stack_t off;
        memset(&off, 0, sizeof(off));
        off.ss_flags = SS_DISABLE;
        sigaltstack(&off, NULL);
    }
    munmap(mem, alt_size);
}

static void install(void)
{
    long p = sysconf(_SC_PAGESIZE);
    page = p > 0 ? (size_t)p : 4096;
    alt_size = ALT_STACK_MIN;
#ifdef _SC_SIGSTKSZ
    /* CPUs with large register files (AVX-512, AMX) need more room per signal frame. */
    long need = sysconf(_SC_SIGSTKSZ);
    if (need > 0 && (size_t)need * 4 > alt_size)
        alt_size = ((size_t)need * 4 + page - 1) & ~(page - 1);
#endif
    alt_key_ok = pthread_key_create(&alt_key, alt_stack_release) == 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    /* Whatever was installed before (SIG_DFL, or the program's handler) is kept for chaining. */
    if (sigaction(SIGSEGV, NULL, &prev_segv) == 0)
        sigaction(SIGSEGV, &sa, NULL);
    if (sigaction(SIGBUS, NULL, &prev_bus) == 0)
        sigaction(SIGBUS, &sa, NULL);
}

void ah__fault_thread_init(void)
{
    if (alt_done)
        return;
    alt_done = 1;
    stack_t cur;
    if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE))
        return; /* the thread has one already (the program's, a sanitizer's): keep it */
    /* Without an alternate stack only the message is lost (the kernel then kills the process
     * with SIGSEGV itself), so failing here fails nothing. */
    void *mem = mmap(NULL, alt_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return;
    stack_t ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_sp = mem;
    ss.ss_size = alt_size;
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(mem, alt_size);
        return;
    }
    if (alt_key_ok)
        pthread_setspecific(alt_key, mem);
}

void ah__fault_init(void)
{
    pthread_once(&install_once, install);
    ah__fault_thread_init();
}

#else /* AH_ASAN */

/* ASan has a SIGSEGV handler of its own, on an alternate stack of its own, and reports a task
 * stack overflow itself ("stack-overflow on address ..." with the stack trace): installing ours
 * would only get in its way. */
void ah__fault_init(void) {}

void ah__fault_thread_init(void) {}

#endif
