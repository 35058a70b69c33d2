/* ah_to_thread: a pool of worker threads per loop. A job goes to the workers through a
 * mutex-protected list; its completion comes back through a second list and an eventfd the
 * loop watches, so the awaiting task is resumed on the loop's own thread. */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct job {
    ah_thread_fn fn;
    void *arg;
    void (*abandon)(void *arg);
    int result;
    ah_task *waiter; /* NULL once the waiter gave up */
    struct job *next;
} job;

struct ah__thread_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;
    job *todo_head, *todo_tail;
    job *done; /* finished jobs, pushed by workers */
    int stopping;
    unsigned nthreads;
    pthread_t *threads;
    int efd; /* eventfd: "done is not empty" */
    struct event done_ev;
    int done_ev_added;
    size_t outstanding; /* jobs submitted and not yet collected by the loop */
};

static void *worker(void *arg)
{
    struct ah__thread_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->todo_head && !p->stopping)
            pthread_cond_wait(&p->work, &p->lock);
        if (p->stopping)
            break;
        job *j = p->todo_head;
        p->todo_head = j->next;
        if (!p->todo_head)
            p->todo_tail = NULL;
        pthread_mutex_unlock(&p->lock);
        j->result = j->fn(j->arg);
        pthread_mutex_lock(&p->lock);
        int was_empty = p->done == NULL;
        j->next = p->done;
        p->done = j;
        if (was_empty) {
            uint64_t one = 1;
            (void)!write(p->efd, &one, sizeof(one));
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void finish_job(job *j)
{
    if (j->waiter) {
        ah_task *t = j->waiter;
        t->on_cancel = NULL;
        t->wait_obj = NULL;
        ah__wake(t, j->result);
    } else if (j->abandon) {
        j->abandon(j->arg);
    }
    free(j);
}

/* On the loop's thread: hand each finished job back to its task. */
static void collect(evutil_socket_t fd, short what, void *arg)
{
    ah_loop *loop = arg;
    struct ah__thread_pool *p = loop->pool;
    uint64_t n;
    (void)what;
    (void)!read(fd, &n, sizeof(n));
    pthread_mutex_lock(&p->lock);
    job *list = p->done;
    p->done = NULL;
    pthread_mutex_unlock(&p->lock);
    while (list) {
        job *j = list;
        list = j->next;
        p->outstanding--;
        finish_job(j);
    }
    /* Only watch the eventfd while work is out, so an idle pool does not keep the loop alive
     * (and deadlock detection still sees an empty event_base). */
    if (p->outstanding == 0 && p->done_ev_added) {
        event_del(&p->done_ev);
        p->done_ev_added = 0;
    }
}

static struct ah__thread_pool *pool_start(ah_loop *loop)
{
    struct ah__thread_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->threads = calloc(loop->threads, sizeof(pthread_t));
    if (p->efd < 0 || !p->threads)
        goto fail;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    event_assign(&p->done_ev, loop->base, p->efd, EV_READ | EV_PERSIST, collect, loop);
    for (unsigned i = 0; i < loop->threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->work);
        goto fail;
    }
    return p;
fail:
    if (p->efd >= 0)
        close(p->efd);
    free(p->threads);
    free(p);
    return NULL;
}

static void abandon_job(ah_task *t)
{
    job *j = t->wait_obj;
    j->waiter = NULL;
    t->wait_obj = NULL;
}

/* fn will never run: arg goes back through abandon, as the contract promises. */
static void give_up(void *arg, void (*abandon)(void *arg))
{
    if (abandon)
        abandon(arg);
}

int ah_to_thread_ex(ah_thread_fn fn, void *arg, void (*abandon)(void *arg))
{
    ah_task *t = ah__current();
    if (!t || !fn) {
        give_up(arg, abandon);
        return AH_EINVAL;
    }
    int rc = ah__check(t);
    if (rc < 0) {
        give_up(arg, abandon);
        return rc;
    }
    ah_loop *loop = t->loop;
    if (!loop->pool && !(loop->pool = pool_start(loop))) {
        give_up(arg, abandon);
        return AH_ENOMEM;
    }
    struct ah__thread_pool *p = loop->pool;
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        give_up(arg, abandon);
        return AH_ENOMEM;
    }
    j->fn = fn;
    j->arg = arg;
    j->abandon = abandon;
    j->waiter = t;
    if (!p->done_ev_added) {
        if (event_add(&p->done_ev, NULL) != 0) {
            free(j);
            give_up(arg, abandon);
            return AH_ENOMEM;
        }
        p->done_ev_added = 1;
    }
    p->outstanding++;
    pthread_mutex_lock(&p->lock);
    if (p->todo_tail)
        p->todo_tail->next = j;
    else
        p->todo_head = j;
    p->todo_tail = j;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);

    t->wait_obj = j;
    t->on_cancel = abandon_job;
    rc = ah__park(t, NULL, -1, 0, -1);
    if (t->wait_obj) {
        /* Woken by a deadline rather than the job: it is abandoned all the same. */
        abandon_job(t);
    }
    t->on_cancel = NULL;
    return rc;
}

int ah_to_thread(ah_thread_fn fn, void *arg) { return ah_to_thread_ex(fn, arg, NULL); }

void ah__thread_pool_free(ah_loop *loop)
{
    struct ah__thread_pool *p = loop->pool;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* Jobs that finished but were never collected, and jobs never started. */
    job *lists[2] = {p->done, p->todo_head};
    for (int k = 0; k < 2; k++) {
        while (lists[k]) {
            job *j = lists[k];
            lists[k] = j->next;
            j->waiter = NULL;
            finish_job(j);
        }
    }
    if (p->done_ev_added)
        event_del(&p->done_ev);
    close(p->efd);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    free(p->threads);
    free(p);
    loop->pool = NULL;
}
