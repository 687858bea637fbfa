/*
 * Thread pool that runs session strands.  A task is intrusive (embedded in
 * its owner) and is submitted at most once at a time, so submitting never
 * allocates.
 */
#ifndef RM_CORE_POOL_H
#define RM_CORE_POOL_H

#include "internal.h"

typedef struct rm__task {
    void (*run)(struct rm__task *task);
    struct rm__task *next;
} rm__task;

/* Queues `task` to run once on a pool thread. */
void rm__pool_submit(rm_pool *p, rm__task *task);

#endif /* RM_CORE_POOL_H */
