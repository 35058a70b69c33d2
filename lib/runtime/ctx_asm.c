/* Building a fresh context for the assembly switch (ctx_x86_64.S / ctx_aarch64.S). */
#include "internal.h"

#include <string.h>

void ah__ctx_trampoline(void);

void ah__ctx_make(ah__ctx *ctx, void *lo, size_t size, void *task)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uintptr_t *sp = (uintptr_t *)top;
#if defined(__x86_64__)
    /* Frame popped by ah__ctx_switch: r15 r14 r13 r12 rbx rbp, then the return address. */
    *--sp = 0; /* keeps the trampoline's entry alignment like a real call */
    *--sp = (uintptr_t)ah__ctx_trampoline;
    *--sp = 0;               /* rbp */
    *--sp = (uintptr_t)task; /* rbx */
    *--sp = 0;               /* r12 */
    *--sp = 0;               /* r13 */
    *--sp = 0;               /* r14 */
    *--sp = 0;               /* r15 */
#elif defined(__aarch64__)
    /* 160-byte frame: x19..x28, x29, x30, d8..d15 (see ctx_aarch64.S). */
    sp -= 20;
    memset(sp, 0, 160);
    sp[0] = (uintptr_t)task;                /* x19 */
    sp[11] = (uintptr_t)ah__ctx_trampoline; /* x30 */
#else
#error "no assembly context switch for this CPU: configure --with-context=ucontext"
#endif
    ctx->sp = sp;
}
