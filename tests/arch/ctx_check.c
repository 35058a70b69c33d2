/* Checks the assembly context switch (lib/runtime/ctx_x86_64.S or ctx_aarch64.S) against what
 * the ABI promises, with nothing but libc, so that it cross-compiles and runs under user-mode
 * QEMU (tests/interop/arch_interop.sh):
 *
 *   cc -O2 -ffp-contract=off -Ilib/runtime tests/arch/ctx_check.c lib/runtime/ctx_x86_64.S
 *   aarch64-linux-gnu-gcc -static -O2 -ffp-contract=off -Ilib/runtime tests/arch/ctx_check.c \
 *       lib/runtime/ctx_aarch64.S && qemu-aarch64-static ./a.out
 *
 * Three contexts (main and two tasks on mmap'd stacks with guard pages) pass the baton round
 * robin, 100,000 switches each. Every other switch goes through an inline-asm wrapper that loads
 * a fresh pattern into every callee-saved register (x86_64: rbx rbp r12-r15; aarch64: x19-x28,
 * x29, d8-d15) right before the call and reads them back right after, with the stack pointer; the
 * other switches are plain C calls across which the compiler keeps doubles and counters in those
 * registers. A mailbox checks who resumed whom, the doubles are compared with a run that never
 * switched, the entry into a new task is checked for stack alignment, a zero frame pointer, the
 * task pointer and its return address (the trap in ah__ctx_trampoline, which a forked child
 * hits on purpose), and the bytes above each stack stay untouched. The return address (x30 on
 * aarch64) is what each switch returns through: a lost one crashes, and a crash, a runaway loop
 * or a hang is reported as a failure too (signal handlers on their own stack, a watchdog).
 *
 * ah__ctx_make is the library's own: ctx_asm.c is compiled into this file. Its only include,
 * internal.h, drags in config.h and libevent, so its include guard is defined here first along
 * with the three declarations ctx_asm.c needs. Were the guard renamed, the real header would
 * come back (with config.h and a second struct ah__ctx) and stop the build, not go unnoticed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define AH_RUNTIME_INTERNAL_H
typedef struct ah__ctx {
    void *sp;
} ah__ctx;
void ah__ctx_switch(ah__ctx *from, ah__ctx *to);
void ah__ctx_make(ah__ctx *ctx, void *lo, size_t size, void *task);
void ah__task_entry(void *task);
#include "ctx_asm.c"

#if defined(__x86_64__)
#define ARCH "x86_64"
#define NGPR 6 /* rbx rbp r12 r13 r14 r15 */
#define NFPR 0
/* A call leaves rsp 8 bytes below a multiple of 16 at the callee's first instruction. */
#define ENTRY_SP_MOD16 8
/* ud2 after the call to ah__task_entry */
#define TRAP_SIGNAL SIGILL
static const char *const gpr_names[NGPR] = {"rbx", "rbp", "r12", "r13", "r14", "r15"};
static const char *const *const fpr_names = NULL;
#elif defined(__aarch64__)
#define ARCH "aarch64"
#define NGPR 11 /* x19-x28, x29 */
#define NFPR 8  /* d8-d15 */
#define ENTRY_SP_MOD16 0
#define TRAP_SIGNAL SIGTRAP /* brk #0 */
static const char *const gpr_names[NGPR] = {"x19", "x20", "x21", "x22", "x23", "x24",
                                            "x25", "x26", "x27", "x28", "x29"};
static const char *const fpr_names[NFPR] = {"d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15"};
#else
#error "ctx_check: no assembly context switch for this CPU"
#endif

enum {
    NCTX = 3,             /* main + two tasks */
    ROUNDS = 100000,      /* switches made by each context */
    STACK_SIZE = 64 << 10 /* usable bytes of a task's stack */
};

/* What the inline-asm wrapper loads (want) and finds (got); the asm uses these offsets. */
struct regs {
    uint64_t gpr[NGPR];
    uint64_t sp_before; /* stack pointer right before the call */
    uint64_t sp_after;  /* and right after it returned */
    uint64_t fpr[NFPR ? NFPR : 1];
};
#if defined(__x86_64__)
_Static_assert(offsetof(struct regs, sp_before) == 48, "asm offsets");
_Static_assert(offsetof(struct regs, sp_after) == 56, "asm offsets");
#else
_Static_assert(offsetof(struct regs, sp_before) == 88, "asm offsets");
_Static_assert(offsetof(struct regs, sp_after) == 96, "asm offsets");
_Static_assert(offsetof(struct regs, fpr) == 104, "asm offsets");
#endif

/* ---- results ---------------------------------------------------------------------------- */

enum { C_GPR, C_FPR, C_SP, C_MAIL, C_FP, C_ENTRY, C_EXIT, C_STACK, NCAT };
static const char *const cat_names[NCAT] = {
    [C_GPR] = "callee-saved integer registers", [C_FPR] = "callee-saved FP registers (d8-d15)",
    [C_SP] = "stack pointer across a switch",   [C_MAIL] = "values passed between contexts",
    [C_FP] = "floating point across switches",  [C_ENTRY] = "entry into a new context",
    [C_EXIT] = "exit path of a context",        [C_STACK] = "nothing written above a stack",
};
static unsigned long checked[NCAT], failed[NCAT];
static unsigned long reported;

__attribute__((format(printf, 3, 4))) static void check(int cat, int ok, const char *fmt, ...);

static void check(int cat, int ok, const char *fmt, ...)
{
    checked[cat]++;
    if (ok)
        return;
    failed[cat]++;
    if (++reported > 20)
        return; /* the first few say enough */
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ctx_check " ARCH ": ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- the contexts ----------------------------------------------------------------------- */

struct fp_state {
    double a, b, c, d;
};

struct task {
    int id; /* 1..NCTX-1; context 0 is main */
    char *lo;
    size_t size;
    int return_from_entry; /* let ah__task_entry return into the trampoline */
    int done;
    uint64_t entry_sp, entry_fp, entry_ret;
    void *entry_arg;
    struct fp_state fp;
};

static ah__ctx ctxs[NCTX];
static struct task tasks[NCTX];
static volatile uint64_t mailbox;
static unsigned long switches_made; /* by run_rounds, all contexts */
#define MAIL_FINISH UINT64_C(0xf1f1f1f100000000)

/* Distinct for every register, context and round. */
static uint64_t pattern(int self, unsigned long round, int reg)
{
    return UINT64_C(0xa500000000000000) | (uint64_t)self << 48 |
           (uint64_t)(round & 0xffffff) << 16 | (uint64_t)reg << 8 | 0x5a;
}

/* Switch from `from` to `to` with the callee-saved registers set to want; got receives what
 * they hold when this context is resumed, and the stack pointer before and after. */
static void regs_switch(ah__ctx *from, ah__ctx *to, const struct regs *want, struct regs *got)
{
#if defined(__x86_64__)
    /* rbp may be the frame pointer, so it is saved here rather than declared clobbered; the
     * call must not land in the red zone, and rsp must be 16-byte aligned at the call. */
    __asm__ volatile("movq %%rsp, %%rax\n\t"
                     "leaq -128(%%rsp), %%rsp\n\t"
                     "andq $-16, %%rsp\n\t"
                     "pushq %%rax\n\t"
                     "pushq %%rbp\n\t"
                     "pushq %%rcx\n\t"
                     "subq $8, %%rsp\n\t"
                     "movq %%rsp, 48(%%rcx)\n\t"
                     "movq 0(%%rdx), %%rbx\n\t"
                     "movq 8(%%rdx), %%rbp\n\t"
                     "movq 16(%%rdx), %%r12\n\t"
                     "movq 24(%%rdx), %%r13\n\t"
                     "movq 32(%%rdx), %%r14\n\t"
                     "movq 40(%%rdx), %%r15\n\t"
                     "call ah__ctx_switch\n\t"
                     "movq 8(%%rsp), %%rax\n\t"
                     "movq %%rbx, 0(%%rax)\n\t"
                     "movq %%rbp, 8(%%rax)\n\t"
                     "movq %%r12, 16(%%rax)\n\t"
                     "movq %%r13, 24(%%rax)\n\t"
                     "movq %%r14, 32(%%rax)\n\t"
                     "movq %%r15, 40(%%rax)\n\t"
                     "movq %%rsp, 56(%%rax)\n\t"
                     "addq $8, %%rsp\n\t"
                     "popq %%rcx\n\t"
                     "popq %%rbp\n\t"
                     "popq %%rsp\n\t"
                     : "+D"(from), "+S"(to), "+d"(want), "+c"(got)
                     :
                     : "rax", "r8", "r9", "r10", "r11", "rbx", "r12", "r13", "r14", "r15", "xmm0",
                       "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
#else
    /* x29 may be the frame pointer: saved on the stack here (with got) rather than clobbered. */
    register ah__ctx *x0 __asm__("x0") = from;
    register ah__ctx *x1 __asm__("x1") = to;
    register const struct regs *x2 __asm__("x2") = want;
    register struct regs *x3 __asm__("x3") = got;
    __asm__ volatile("stp x29, x3, [sp, #-16]!\n\t"
                     "mov x9, sp\n\t"
                     "str x9, [x3, #88]\n\t"
                     "ldp x19, x20, [x2, #0]\n\t"
                     "ldp x21, x22, [x2, #16]\n\t"
                     "ldp x23, x24, [x2, #32]\n\t"
                     "ldp x25, x26, [x2, #48]\n\t"
                     "ldp x27, x28, [x2, #64]\n\t"
                     "ldr x29, [x2, #80]\n\t"
                     "ldp d8, d9, [x2, #104]\n\t"
                     "ldp d10, d11, [x2, #120]\n\t"
                     "ldp d12, d13, [x2, #136]\n\t"
                     "ldp d14, d15, [x2, #152]\n\t"
                     "bl ah__ctx_switch\n\t"
                     "ldr x9, [sp, #8]\n\t"
                     "stp x19, x20, [x9, #0]\n\t"
                     "stp x21, x22, [x9, #16]\n\t"
                     "stp x23, x24, [x9, #32]\n\t"
                     "stp x25, x26, [x9, #48]\n\t"
                     "stp x27, x28, [x9, #64]\n\t"
                     "str x29, [x9, #80]\n\t"
                     "mov x10, sp\n\t"
                     "str x10, [x9, #96]\n\t"
                     "stp d8, d9, [x9, #104]\n\t"
                     "stp d10, d11, [x9, #120]\n\t"
                     "stp d12, d13, [x9, #136]\n\t"
                     "stp d14, d15, [x9, #152]\n\t"
                     "ldp x29, x10, [sp], #16\n\t"
                     : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
                     :
                     : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15",
                       "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26",
                       "x27", "x28", "x30", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8",
                       "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19",
                       "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30",
                       "v31", "memory", "cc");
#endif
}

static void checked_switch(int self, int to, unsigned long round)
{
    struct regs want, got;
    memset(&want, 0, sizeof want);
    memset(&got, 0, sizeof got);
    for (int i = 0; i < NGPR; i++)
        want.gpr[i] = pattern(self, round, i);
    for (int i = 0; i < NFPR; i++)
        want.fpr[i] = pattern(self, round, 16 + i);
    regs_switch(&ctxs[self], &ctxs[to], &want, &got);
    for (int i = 0; i < NGPR; i++)
        check(C_GPR, got.gpr[i] == want.gpr[i],
              "context %d round %lu: %s is %#llx after the switch, was %#llx", self, round,
              gpr_names[i], (unsigned long long)got.gpr[i], (unsigned long long)want.gpr[i]);
    for (int i = 0; i < NFPR; i++)
        check(C_FPR, got.fpr[i] == want.fpr[i],
              "context %d round %lu: %s is %#llx after the switch, was %#llx", self, round,
              fpr_names[i], (unsigned long long)got.fpr[i], (unsigned long long)want.fpr[i]);
    check(C_SP, got.sp_after == got.sp_before,
          "context %d round %lu: sp is %#llx after the switch, was %#llx", self, round,
          (unsigned long long)got.sp_after, (unsigned long long)got.sp_before);
}

/* Kept in callee-saved FP registers across the plain switches (at -O2 with -ffp-contract=off,
 * so that the reference run computes bit-identical values). */
static void fp_step(struct fp_state *s, int self, unsigned long n)
{
    s->a = s->a * 0.5 + (double)n;
    s->b = s->b + 1.0 / (double)(n + (unsigned long)self + 1);
    s->c = s->c * 1.0000001 - 0.25;
    s->d = s->d + s->a * s->b / (s->c - 3.0);
}

static void fp_init(struct fp_state *s, int self)
{
    s->a = 1.0 + self;
    s->b = 0.125 * self;
    s->c = 2.0 - self;
    s->d = -1.5;
}

/* Context `self` makes ROUNDS switches to the next context, alternating the register-checking
 * wrapper and a plain call; the last one is answered by main's MAIL_FINISH for a task. */
static void run_rounds(int self, struct fp_state *out)
{
    int next = (self + 1) % NCTX, prev = (self + NCTX - 1) % NCTX;
    struct fp_state s;
    fp_init(&s, self);
    for (unsigned long n = 1; n <= ROUNDS; n++) {
        /* A lost loop counter would go round forever: no run needs more switches than this. */
        if (++switches_made > NCTX * ROUNDS) {
            printf("ctx_check " ARCH ": FAIL (context %d asked for switch %lu of %d: a loop "
                   "counter was not kept)\n",
                   self, switches_made, NCTX * ROUNDS);
            exit(1);
        }
        fp_step(&s, self, n);
        mailbox = (uint64_t)self << 32 | n;
        if (n & 1)
            checked_switch(self, next, n);
        else
            ah__ctx_switch(&ctxs[self], &ctxs[next]);
        uint64_t got = mailbox;
        /* Context k is resumed by k-1's (n+1)-th switch, main by the last task's n-th. */
        uint64_t want = (uint64_t)prev << 32 | (n + (self != 0));
        if (self != 0 && n == ROUNDS)
            want = MAIL_FINISH | (uint64_t)self;
        check(C_MAIL, got == want, "context %d after switch %lu: mailbox %#llx, want %#llx", self,
              n, (unsigned long long)got, (unsigned long long)want);
    }
    *out = s;
}

static void task_main(struct task *t)
{
    /* A task is first entered by the previous context's first switch. */
    uint64_t want = (uint64_t)(t->id - 1) << 32 | 1;
    check(C_MAIL, mailbox == want, "task %d entered with mailbox %#llx, want %#llx", t->id,
          (unsigned long long)mailbox, (unsigned long long)want);
    run_rounds(t->id, &t->fp);
}

/* ---- entry into a new context ----------------------------------------------------------- */

/* ah__task_entry records the state it is entered with (stack pointer, frame pointer, return
 * address) before any prologue can change it, then continues in task_entry_c with the same
 * return address, so that returning from task_entry_c returns from ah__task_entry. */
__attribute__((visibility("hidden"))) uint64_t entry_probe[3];
void task_entry_c(void *arg);

#if defined(__x86_64__)
__asm__(".text\n"
        ".globl ah__task_entry\n"
        ".hidden ah__task_entry\n"
        ".type ah__task_entry, @function\n"
        "ah__task_entry:\n"
        "    leaq entry_probe(%rip), %rax\n"
        "    movq %rsp, 0(%rax)\n"
        "    movq %rbp, 8(%rax)\n"
        "    movq (%rsp), %rcx\n"
        "    movq %rcx, 16(%rax)\n"
        "    jmp task_entry_c\n"
        ".size ah__task_entry, .-ah__task_entry\n");
#else
__asm__(".text\n"
        ".globl ah__task_entry\n"
        ".hidden ah__task_entry\n"
        ".type ah__task_entry, %function\n"
        ".p2align 2\n"
        "ah__task_entry:\n"
        "    adrp x9, entry_probe\n"
        "    add x9, x9, :lo12:entry_probe\n"
        "    mov x10, sp\n"
        "    stp x10, x29, [x9]\n"
        "    str x30, [x9, #16]\n"
        "    b task_entry_c\n"
        ".size ah__task_entry, .-ah__task_entry\n");
#endif

void task_entry_c(void *arg)
{
    struct task *t = arg;
    t->entry_sp = entry_probe[0];
    t->entry_fp = entry_probe[1];
    t->entry_ret = entry_probe[2];
    t->entry_arg = arg;
    if (t->return_from_entry)
        return; /* into ah__ctx_trampoline's trap */
    task_main(t);
    t->done = 1;
    ah__ctx_switch(&ctxs[t->id], &ctxs[0]);
    check(C_EXIT, 0, "task %d resumed after it finished", t->id);
    abort();
}

static void check_entry(const struct task *t)
{
    uintptr_t top = (uintptr_t)t->lo + t->size;
    uintptr_t aligned_top = top & ~(uintptr_t)15;
    uintptr_t tramp = (uintptr_t)ah__ctx_trampoline;
    check(C_ENTRY, t->entry_arg == t, "task %d: ah__task_entry got %p, not the task %p", t->id,
          t->entry_arg, (const void *)t);
    check(C_ENTRY, t->entry_sp % 16 == ENTRY_SP_MOD16,
          "task %d: sp %#llx at entry to ah__task_entry is not %d mod 16", t->id,
          (unsigned long long)t->entry_sp, ENTRY_SP_MOD16);
    check(C_ENTRY, t->entry_sp <= aligned_top && aligned_top - t->entry_sp <= 64,
          "task %d: sp %#llx at entry is not just below the stack top %#llx", t->id,
          (unsigned long long)t->entry_sp, (unsigned long long)aligned_top);
    check(C_ENTRY, t->entry_fp == 0, "task %d: frame pointer %#llx at entry, want 0 (end of chain)",
          t->id, (unsigned long long)t->entry_fp);
    check(C_ENTRY, t->entry_ret > tramp && t->entry_ret < tramp + 32,
          "task %d: ah__task_entry would return to %#llx, not into ah__ctx_trampoline (%#llx)",
          t->id, (unsigned long long)t->entry_ret, (unsigned long long)tramp);
}

/* ---- stacks ----------------------------------------------------------------------------- */

enum { SENTINEL = 64 };

/* A stack of about STACK_SIZE bytes with a guard page below and SENTINEL marked bytes above;
 * skew moves lo up and the top down, so that ah__ctx_make must align the top itself. */
static int stack_new(struct task *t, size_t skew)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = page + STACK_SIZE + page;
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return -1;
    if (mprotect(base, page, PROT_NONE) != 0)
        return -1;
    t->lo = base + page + skew;
    t->size = STACK_SIZE - skew - (skew ? 13 : 0);
    memset(t->lo + t->size, 0xa5, SENTINEL);
    return 0;
}

static void check_sentinel(const struct task *t)
{
    int intact = 1;
    for (int i = 0; i < SENTINEL; i++)
        intact &= (unsigned char)t->lo[t->size + i] == 0xa5;
    check(C_STACK, intact, "task %d: bytes above its stack top were overwritten", t->id);
}

/* ---- a switch that loses its way crashes or loops: say so, within a bound ------------------ */

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT, SIGALRM};
enum { WATCHDOG_SECONDS = 60 }; /* a run takes well under a second, even under QEMU */

static void say(const char *text) { (void)!write(1, text, strlen(text)); }

static void on_fatal(int sig)
{
    char num[12], *p = num + sizeof num;
    *--p = '\0';
    for (int n = sig; n > 0 || p == num + sizeof num - 1; n /= 10)
        *--p = (char)('0' + n % 10);
    if (sig == SIGALRM)
        say("ctx_check " ARCH ": FAIL (still running after the watchdog's limit: a switch went "
            "astray)\n");
    else {
        say("ctx_check " ARCH ": FAIL (signal ");
        say(p);
        say(": a switch corrupted the state it should have kept)\n");
    }
    _exit(1);
}

/* The handlers run on their own stack: the broken one may be anywhere. */
static void watch(void)
{
    static char alt[64 << 10];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        sigaction(fatal_signals[i], &sa, NULL);
    alarm(WATCHDOG_SECONDS);
}

/* A forked child lets ah__task_entry return: the trampoline must trap, not run on. */
static void check_return_traps(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        check(C_EXIT, 0, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
            signal(fatal_signals[i], SIG_DFL);
        alarm(10); /* a trampoline without its trap would run on into whatever follows */
        static struct task t;
        ah__ctx self;
        t.id = 1;
        t.return_from_entry = 1;
        if (stack_new(&t, 0) != 0)
            _exit(2);
        ah__ctx_make(&ctxs[1], t.lo, t.size, &t);
        /* QEMU reports the expected trap on stderr ("uncaught target signal") */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2);
        ah__ctx_switch(&self, &ctxs[1]);
        _exit(3); /* nothing switches back here */
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    check(C_EXIT, WIFSIGNALED(status) && WTERMSIG(status) == TRAP_SIGNAL,
          "returning from ah__task_entry: child %s %d, want killed by signal %d",
          WIFSIGNALED(status) ? "killed by signal" : "exited with",
          WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), TRAP_SIGNAL);
}

int main(void)
{
    watch();
    for (int k = 1; k < NCTX; k++) {
        tasks[k].id = k;
        if (stack_new(&tasks[k], k == 2 ? 8 : 0) != 0) {
            perror("ctx_check: mmap");
            return 2;
        }
        ah__ctx_make(&ctxs[k], tasks[k].lo, tasks[k].size, &tasks[k]);
    }

    struct fp_state main_fp;
    run_rounds(0, &main_fp);
    for (int k = 1; k < NCTX; k++) {
        mailbox = MAIL_FINISH | (uint64_t)k;
        ah__ctx_switch(&ctxs[0], &ctxs[k]);
        check(C_EXIT, tasks[k].done, "task %d came back to main before it finished", k);
        check_entry(&tasks[k]);
        check_sentinel(&tasks[k]);
    }

    /* The same arithmetic without a single switch. */
    for (int k = 0; k < NCTX; k++) {
        struct fp_state want;
        fp_init(&want, k);
        for (unsigned long n = 1; n <= ROUNDS; n++)
            fp_step(&want, k, n);
        const struct fp_state *got = k == 0 ? &main_fp : &tasks[k].fp;
        check(C_FP, memcmp(got, &want, sizeof want) == 0,
              "context %d: doubles %.17g %.17g %.17g %.17g, want %.17g %.17g %.17g %.17g", k,
              got->a, got->b, got->c, got->d, want.a, want.b, want.c, want.d);
    }

    check_return_traps();

    unsigned long total = 0, bad = 0;
    for (int c = 0; c < NCAT; c++) {
        if (checked[c] == 0)
            continue;
        printf("%s %s: %lu checks", failed[c] ? "FAIL" : "ok  ", cat_names[c], checked[c]);
        if (failed[c])
            printf(", %lu failed", failed[c]);
        putchar('\n');
        total += checked[c];
        bad += failed[c];
    }
    if (bad)
        printf("ctx_check " ARCH ": FAIL (%lu of %lu checks failed)\n", bad, total);
    else
        printf("ctx_check " ARCH ": PASS (%d switches, %lu checks)\n", NCTX * ROUNDS + NCTX - 1,
               total);
    return bad ? 1 : 0;
}
