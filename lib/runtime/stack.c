/* Task stacks.
 *
 * Guarded mode: every stack is its own mapping with a PROT_NONE page below it, so running off
 * the end kills the process with SIGSEGV instead of corrupting a neighbour. That costs two of
 * the kernel's memory mappings per stack (vm.max_map_count, 65,530 by default), so past ~30,000
 * live stacks mmap fails and ah_spawn returns NULL (AH_ENOMEM), never a crash.
 *
 * Slab mode (stack_guard = -1): stacks are carved from large mappings with no guard; a canary
 * word at the bottom of each stack is checked on every switch back to the loop. For very many
 * small tasks.
 *
 * Each stack's descriptor lives in its own top bytes, so a stack costs no malloc. */
#include "internal.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#define STACK_REGISTER(lo, hi) VALGRIND_STACK_REGISTER(lo, hi)
#define STACK_DEREGISTER(id) VALGRIND_STACK_DEREGISTER(id)
#else
#define STACK_REGISTER(lo, hi) 0u
#define STACK_DEREGISTER(id) ((void)(id))
#endif

#define CANARY 0x5ca1ab1edeadbeefULL
#define SLAB_STACKS 64
#define DESC_SIZE ((sizeof(ah__stack) + 63) & ~(size_t)63)

struct ah__slab {
    struct ah__slab *next;
    char *base;
    size_t len;
};

static size_t page_size(void)
{
    static size_t page;
    if (!page) {
        long p = sysconf(_SC_PAGESIZE);
        page = p > 0 ? (size_t)p : 4096;
    }
    return page;
}

void ah__stack_pool_init(ah__stack_pool *p, size_t size, int guarded, unsigned cache_max)
{
    size_t page = page_size();
    if (size < 4 * page)
        size = 4 * page;
    p->stack_size = (size + page - 1) & ~(page - 1);
    p->guarded = guarded;
    p->cache_max = cache_max;
    p->cached = 0;
    p->free = NULL;
    p->slabs = NULL;
}

static ah__stack *describe(char *lo, size_t span, int guarded)
{
    /* The descriptor takes the top DESC_SIZE bytes of the span; the stack grows down below it. */
    ah__stack *s = (ah__stack *)(lo + span - DESC_SIZE);
    s->lo = lo;
    s->size = span - DESC_SIZE;
    s->next = NULL;
    s->guarded = guarded;
    s->vg_id = STACK_REGISTER(lo, lo + s->size);
    if (!guarded)
        *(uint64_t *)lo = CANARY;
    return s;
}

static ah__stack *new_guarded(ah__stack_pool *p)
{
    size_t page = page_size();
    size_t len = p->stack_size + page;
    char *base =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    if (mprotect(base, page, PROT_NONE) != 0) {
        munmap(base, len);
        return NULL;
    }
    return describe(base + page, p->stack_size, 1);
}

static int new_slab(ah__stack_pool *p)
{
    struct ah__slab *slab = malloc(sizeof(*slab));
    if (!slab)
        return -1;
    slab->len = p->stack_size * SLAB_STACKS;
    slab->base = mmap(NULL, slab->len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (slab->base == MAP_FAILED) {
        free(slab);
        return -1;
    }
    slab->next = p->slabs;
    p->slabs = slab;
    for (int i = SLAB_STACKS - 1; i >= 0; i--) {
        ah__stack *s = describe(slab->base + (size_t)i * p->stack_size, p->stack_size, 0);
        s->next = p->free;
        p->free = s;
    }
    return 0;
}

ah__stack *ah__stack_get(ah__stack_pool *p)
{
    if (!p->free) {
        if (p->guarded)
            return new_guarded(p);
        if (new_slab(p) != 0)
            return NULL;
    }
    ah__stack *s = p->free;
    p->free = s->next;
    if (s->guarded)
        p->cached--;
    return s;
}

static void unmap_guarded(ah__stack *s)
{
    size_t page = page_size();
    STACK_DEREGISTER(s->vg_id);
    munmap(s->lo - page, s->size + DESC_SIZE + page);
}

void ah__stack_put(ah__stack_pool *p, ah__stack *s)
{
    if (!s)
        return;
    if (s->guarded && p->cached >= p->cache_max) {
        unmap_guarded(s);
        return;
    }
    if (s->guarded)
        p->cached++;
    s->next = p->free;
    p->free = s;
}

int ah__stack_intact(const ah__stack *s)
{
    return s->guarded || *(const uint64_t *)s->lo == CANARY;
}

void ah__stack_pool_destroy(ah__stack_pool *p)
{
    while (p->free) {
        ah__stack *s = p->free;
        p->free = s->next;
        if (s->guarded)
            unmap_guarded(s);
        else
            STACK_DEREGISTER(s->vg_id);
    }
    while (p->slabs) {
        struct ah__slab *slab = p->slabs;
        p->slabs = slab->next;
        munmap(slab->base, slab->len);
        free(slab);
    }
    p->cached = 0;
}
