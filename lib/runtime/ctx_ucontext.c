/* Portable context switch on ucontext (configure --with-context=ucontext). Slower than the
 * assembly (swapcontext saves the signal mask with a syscall), but runs on any POSIX CPU. */
#include "internal.h"

#include <stdlib.h>

/* makecontext passes only ints, so the task pointer travels as two halves. */
static void entry(unsigned hi, unsigned lo)
{
    uintptr_t p = ((uintptr_t)hi << 16 << 16) | (uintptr_t)lo;
    ah__task_entry((void *)p);
}

void ah__ctx_make(ah__ctx *ctx, void *lo, size_t size, void *task)
{
    if (getcontext(&ctx->uc) != 0)
        abort();
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    uintptr_t p = (uintptr_t)task;
    makecontext(&ctx->uc, (void (*)(void))entry, 2, (unsigned)(p >> 16 >> 16),
                (unsigned)(p & 0xffffffffu));
}

void ah__ctx_switch(ah__ctx *from, ah__ctx *to)
{
    if (swapcontext(&from->uc, &to->uc) != 0)
        abort();
}
