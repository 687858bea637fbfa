/* Thread pool: N workers taking intrusive tasks from one FIFO. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <unistd.h>

#include "pool.h"
#include "sync.h"

#ifdef RM_SINGLE_THREAD

int rm_pool_new(unsigned threads, rm_pool **out, rm_error *err)
{
    RM__UNUSED(threads);
    *out = NULL;
    return rm_error_set(err, RM_ENOTSUP, NULL, "thread pools are not available in single-thread builds");
}
void rm_pool_free(rm_pool *p) { RM__UNUSED(p); }
unsigned rm_pool_threads(const rm_pool *p)
{
    RM__UNUSED(p);
    return 0;
}
void rm__pool_submit(rm_pool *p, rm__task *task)
{
    RM__UNUSED(p);
    task->run(task);
}

#else

struct rm_pool {
    pthread_t *threads;
    unsigned n;
    rm__mutex mu;
    rm__cond cv;
    rm__task *head, *tail;
    int stop;
};

static void *worker(void *arg)
{
    rm_pool *p = arg;
    for (;;) {
        rm__lock(&p->mu);
        while (!p->head && !p->stop) rm__cond_wait(&p->cv, &p->mu);
        rm__task *t = p->head;
        if (!t) {
            rm__unlock(&p->mu);
            return NULL;
        }
        p->head = t->next;
        if (!p->head) p->tail = NULL;
        rm__unlock(&p->mu);
        t->next = NULL;
        t->run(t);
    }
}

int rm_pool_new(unsigned threads, rm_pool **out, rm_error *err)
{
    *out = NULL;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    if (threads > 1024) return rm_error_set(err, RM_EINVAL, NULL, "too many pool threads (%u)", threads);
    rm_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->threads = calloc(threads, sizeof *p->threads))) {
        free(p);
        return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    }
    rm__mutex_init(&p->mu);
    rm__cond_init(&p->cv);
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            rm_pool_free(p);
            return rm_error_set(err, RM_ELIMIT, NULL, "cannot start pool thread %u", i);
        }
        p->n++;
    }
    *out = p;
    return 0;
}

void rm_pool_free(rm_pool *p)
{
    if (!p) return;
    rm__lock(&p->mu);
    p->stop = 1;
    rm__cond_broadcast(&p->cv);
    rm__unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++) pthread_join(p->threads[i], NULL);
    rm__mutex_destroy(&p->mu);
    rm__cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

unsigned rm_pool_threads(const rm_pool *p) { return p->n; }

void rm__pool_submit(rm_pool *p, rm__task *task)
{
    task->next = NULL;
    rm__lock(&p->mu);
    if (p->tail) p->tail->next = task;
    else p->head = task;
    p->tail = task;
    rm__cond_signal(&p->cv);
    rm__unlock(&p->mu);
}

#endif
