/* Bump allocation in blocks; everything of a request is freed at once. The first block stays
 * with the connection between requests, so a typical request allocates nothing. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_BLOCK 4096

struct ah__arena_block {
    ah__arena_block *next;
    size_t size, used;
    max_align_t data[];
};

void *ah__arena_alloc(ah__arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    ah__arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t want = size > FIRST_BLOCK ? size : (b ? b->size * 2 : FIRST_BLOCK);
        if (want < size)
            want = size;
        ah__arena_block *nb = malloc(sizeof(*nb) + want);
        if (!nb)
            return NULL;
        nb->size = want;
        nb->used = 0;
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

char *ah__arena_strndup(ah__arena *a, const char *s, size_t len)
{
    char *p = ah__arena_alloc(a, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void ah__arena_reset(ah__arena *a)
{
    /* keep the oldest (smallest) block: it is at the end of the list */
    ah__arena_block *b = a->head;
    while (b && b->next) {
        ah__arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = b;
    if (b)
        b->used = 0;
}

void ah__arena_free(ah__arena *a)
{
    while (a->head) {
        ah__arena_block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}
