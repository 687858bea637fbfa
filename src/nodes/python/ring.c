#define _GNU_SOURCE
/* Two single-producer single-consumer byte rings in one shared memfd.  Head
 * and tail are monotonic byte counts; the producer publishes head with a
 * release store after writing, the consumer tail after reading (and the
 * producer, once, when it restarts an empty ring: see rm__pyw_ring_reserve).
 * A wrap marker sends the consumer back to offset 0.  Wake-ups: see pyw.h
 * and worker.c. */
#include "pyw.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "remotemedia/error.h"

static uint64_t *hd(rm__pyw_ring *r) { return (uint64_t *)(void *)r->base; }
static uint64_t *tl(rm__pyw_ring *r) { return (uint64_t *)(void *)(r->base + 8); }
static unsigned char *data(rm__pyw_ring *r) { return r->base + RM__PYW_RING_HDR; }

int rm__pyw_ring_map(int memfd, size_t cap, rm__pyw_ring *req, rm__pyw_ring *rep, void **map,
                     size_t *map_len)
{
    size_t len = 2 * (RM__PYW_RING_HDR + cap);
    if (ftruncate(memfd, (off_t)len) != 0) return RM_ENOMEM;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (m == MAP_FAILED) return RM_ENOMEM;
    req->base = m;
    req->cap = cap;
    rep->base = (unsigned char *)m + RM__PYW_RING_HDR + cap;
    rep->cap = cap;
    memset(req->base, 0, RM__PYW_RING_HDR);
    memset(rep->base, 0, RM__PYW_RING_HDR);
    ((uint64_t *)(void *)req->base)[2] = cap;
    ((uint64_t *)(void *)rep->base)[2] = cap;
    *map = m;
    *map_len = len;
    return 0;
}

unsigned char *rm__pyw_ring_reserve(rm__pyw_ring *r, size_t total)
{
    uint64_t h = __atomic_load_n(hd(r), __ATOMIC_RELAXED);
    uint64_t t = __atomic_load_n(tl(r), __ATOMIC_ACQUIRE);
    uint64_t pos = h % r->cap, contig = r->cap - pos;
    /* An empty ring starts over at offset 0: one frame in flight at a time
     * (the usual case) then reuses the same few pages, which stay mapped and
     * cached, instead of walking the whole ring and faulting in fresh pages
     * on both sides.  Any message up to the capacity fits an empty ring. */
    int empty = h == t;
    int wrap = total > contig || (empty && pos != 0);
    uint64_t need = wrap ? contig + total : total;
    if (total > r->cap || (!empty && r->cap - (h - t) < need)) return NULL;
    if (wrap) {
        uint32_t marker = RM__PYW_WRAP;
        memcpy(data(r) + pos, &marker, sizeof marker);
        __atomic_store_n(hd(r), h + contig, __ATOMIC_RELEASE);
        /* Empty: move the tail past the marker too, so that all of the ring
         * is free now.  The consumer writes tail only after reading a
         * message or the marker, and skipping this marker stores this same
         * value, so the two stores cannot disagree. */
        if (empty) __atomic_store_n(tl(r), h + contig, __ATOMIC_RELEASE);
        pos = 0;
    }
    return data(r) + pos;
}

void rm__pyw_ring_commit(rm__pyw_ring *r, size_t total)
{
    __atomic_store_n(hd(r), __atomic_load_n(hd(r), __ATOMIC_RELAXED) + total, __ATOMIC_RELEASE);
}

const unsigned char *rm__pyw_ring_peek(rm__pyw_ring *r)
{
    for (;;) {
        uint64_t t = __atomic_load_n(tl(r), __ATOMIC_RELAXED);
        uint64_t h = __atomic_load_n(hd(r), __ATOMIC_ACQUIRE);
        if (t == h) return NULL;
        uint64_t pos = t % r->cap;
        uint32_t total;
        memcpy(&total, data(r) + pos, sizeof total);
        if (total != RM__PYW_WRAP) return data(r) + pos;
        __atomic_store_n(tl(r), t + (r->cap - pos), __ATOMIC_RELEASE);
    }
}

void rm__pyw_ring_consume(rm__pyw_ring *r, size_t total)
{
    __atomic_store_n(tl(r), __atomic_load_n(tl(r), __ATOMIC_RELAXED) + total, __ATOMIC_RELEASE);
}

void rm__pyw_ring_rewind(rm__pyw_ring *r)
{
    uint64_t h = __atomic_load_n(hd(r), __ATOMIC_ACQUIRE);
    if (h != __atomic_load_n(tl(r), __ATOMIC_RELAXED) || h % r->cap == 0) return;
    h += r->cap - h % r->cap;
    __atomic_store_n(tl(r), h, __ATOMIC_RELAXED);
    __atomic_store_n(hd(r), h, __ATOMIC_RELEASE);
}

void rm__pyw_ring_clear(rm__pyw_ring *r)
{
    __atomic_store_n(tl(r), __atomic_load_n(hd(r), __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

int rm__pyw_ring_taken(rm__pyw_ring *r)
{
    return __atomic_load_n(tl(r), __ATOMIC_ACQUIRE) == __atomic_load_n(hd(r), __ATOMIC_RELAXED);
}
