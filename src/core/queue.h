/*
 * Bounded queue between session segments.  Frame items obey the capacity and
 * the policy (block the producer, drop the oldest queued frame, drop the new
 * frame); control items (end of stream, reset) are always accepted, so ending
 * a session can never deadlock on a full queue.
 */
#ifndef RM_CORE_QUEUE_H
#define RM_CORE_QUEUE_H

#include "internal.h"
#include "sync.h"

typedef enum rm__item_kind { RM__ITEM_FRAME, RM__ITEM_EOS, RM__ITEM_RESET } rm__item_kind;

typedef struct rm__item {
    rm__item_kind kind;
    uint32_t node, port;
    uint64_t epoch;
    rm_frame *frame; /* owned by the queue while queued */
} rm__item;

typedef struct rm__queue {
    rm__mutex mu;
    rm__cond not_empty, not_full;
    rm__item *ring;
    size_t ring_cap, head, count;
    size_t frames;    /* frame items currently queued */
    size_t capacity;  /* max frame items */
    rm__queue_policy policy;
    int closed;
    int scheduled;    /* pool strands: queued on the pool's run list */
    rm__counter high_water, drops, total;
} rm__queue;

int rm__queue_init(rm__queue *q, rm__queue_policy policy, size_t capacity);
void rm__queue_destroy(rm__queue *q); /* drops (unrefs) queued frames */
/* Queues an item (takes ownership of item->frame, also when it is dropped).
 * Returns 0, or RM_ECANCELED if the queue is closed.  *schedule is set when
 * the queue went from idle to scheduled (pool strands). */
int rm__queue_push(rm__queue *q, rm__item *item, int *schedule);
/* Blocking pop; returns 0, or -1 when the queue is closed and empty. */
int rm__queue_pop(rm__queue *q, rm__item *out);
/* Non-blocking pop for pool strands; returns 0, or -1 when empty (and then
 * marks the strand idle). */
int rm__queue_try_pop(rm__queue *q, rm__item *out);
/* Drops every queued frame item (reset); control items stay. */
void rm__queue_drop_frames(rm__queue *q);
void rm__queue_close(rm__queue *q);

#endif /* RM_CORE_QUEUE_H */
