/* Bounded queue with block / drop_oldest / drop_newest policies. */
#include <stdlib.h>
#include <string.h>

#include "queue.h"

int rm__queue_init(rm__queue *q, rm__queue_policy policy, size_t capacity)
{
    memset(q, 0, sizeof *q);
    q->policy = policy == RM__QUEUE_NONE ? RM__QUEUE_BLOCK : policy;
    q->capacity = capacity ? capacity : 64;
    q->ring_cap = q->capacity + 4;
    q->ring = malloc(q->ring_cap * sizeof *q->ring);
    if (!q->ring) return RM_ENOMEM;
    rm__mutex_init(&q->mu);
    rm__cond_init(&q->not_empty);
    rm__cond_init(&q->not_full);
    return 0;
}

void rm__queue_destroy(rm__queue *q)
{
    if (!q->ring) return;
    for (size_t i = 0; i < q->count; i++) rm_frame_unref(q->ring[(q->head + i) % q->ring_cap].frame);
    free(q->ring);
    q->ring = NULL;
    rm__mutex_destroy(&q->mu);
    rm__cond_destroy(&q->not_empty);
    rm__cond_destroy(&q->not_full);
}

static int grow(rm__queue *q)
{
    size_t cap = q->ring_cap * 2;
    rm__item *r = malloc(cap * sizeof *r);
    if (!r) return RM_ENOMEM;
    for (size_t i = 0; i < q->count; i++) r[i] = q->ring[(q->head + i) % q->ring_cap];
    free(q->ring);
    q->ring = r;
    q->ring_cap = cap;
    q->head = 0;
    return 0;
}

/* Removes the item at logical position i, keeping the order of the rest. */
static void remove_at(rm__queue *q, size_t i)
{
    for (size_t j = i; j > 0; j--)
        q->ring[(q->head + j) % q->ring_cap] = q->ring[(q->head + j - 1) % q->ring_cap];
    q->head = (q->head + 1) % q->ring_cap;
    q->count--;
}

int rm__queue_push(rm__queue *q, rm__item *item, int *schedule)
{
    rm__lock(&q->mu);
    if (item->kind == RM__ITEM_FRAME) {
        while (!q->closed && q->frames >= q->capacity && q->policy == RM__QUEUE_BLOCK)
            rm__cond_wait(&q->not_full, &q->mu);
        if (!q->closed && q->frames >= q->capacity) {
            RM__CNT_ADD(q->drops, 1);
            if (q->policy == RM__QUEUE_DROP_NEWEST) {
                rm__unlock(&q->mu);
                rm_frame_unref(item->frame);
                return 0;
            }
            for (size_t i = 0; i < q->count; i++) { /* drop_oldest */
                rm__item *old = &q->ring[(q->head + i) % q->ring_cap];
                if (old->kind != RM__ITEM_FRAME) continue;
                rm_frame_unref(old->frame);
                remove_at(q, i);
                q->frames--;
                break;
            }
        }
    }
    if (q->closed || (q->count == q->ring_cap && grow(q) != 0)) {
        rm__unlock(&q->mu);
        rm_frame_unref(item->frame);
        return RM_ECANCELED;
    }
    q->ring[(q->head + q->count) % q->ring_cap] = *item;
    q->count++;
    if (item->kind == RM__ITEM_FRAME) {
        q->frames++;
        RM__CNT_ADD(q->total, 1);
        if (q->frames > RM__CNT_GET(q->high_water)) RM__CNT_SET(q->high_water, q->frames);
    }
    int sched = !q->scheduled;
    q->scheduled = 1;
    rm__cond_signal(&q->not_empty);
    rm__unlock(&q->mu);
    if (schedule) *schedule = sched;
    return 0;
}

static void take_head(rm__queue *q, rm__item *out)
{
    *out = q->ring[q->head];
    q->head = (q->head + 1) % q->ring_cap;
    q->count--;
    if (out->kind == RM__ITEM_FRAME) {
        q->frames--;
        rm__cond_signal(&q->not_full);
    }
}

int rm__queue_pop(rm__queue *q, rm__item *out)
{
    rm__lock(&q->mu);
    while (q->count == 0 && !q->closed) rm__cond_wait(&q->not_empty, &q->mu);
    if (q->count == 0) {
        rm__unlock(&q->mu);
        return -1;
    }
    take_head(q, out);
    rm__unlock(&q->mu);
    return 0;
}

int rm__queue_try_pop(rm__queue *q, rm__item *out)
{
    rm__lock(&q->mu);
    if (q->count == 0) {
        q->scheduled = 0;
        rm__unlock(&q->mu);
        return -1;
    }
    take_head(q, out);
    rm__unlock(&q->mu);
    return 0;
}

void rm__queue_drop_frames(rm__queue *q)
{
    rm__lock(&q->mu);
    for (size_t i = 0; i < q->count;) {
        rm__item *it = &q->ring[(q->head + i) % q->ring_cap];
        if (it->kind == RM__ITEM_FRAME) {
            rm_frame_unref(it->frame);
            remove_at(q, i);
            q->frames--;
        } else {
            i++;
        }
    }
    rm__cond_broadcast(&q->not_full);
    rm__unlock(&q->mu);
}

void rm__queue_close(rm__queue *q)
{
    rm__lock(&q->mu);
    q->closed = 1;
    rm__cond_broadcast(&q->not_empty);
    rm__cond_broadcast(&q->not_full);
    rm__unlock(&q->mu);
}
