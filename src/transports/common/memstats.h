/* The server process's memory for /metrics, and the idle trim (issue 17),
 * shared by the gRPC and WebRTC servers of `rmedia serve`.
 *
 * RSS alone cannot tell a leak from memory the allocator keeps after a load
 * peak; heap in use (allocated and not freed) can.  glibc keeps a peak's
 * freed heap, so the process gives it back once every server in it has been
 * idle for RMT_TRIM_IDLE_S after a busy spell.  Never while one is busy: a
 * trim holds each arena's lock while it walks that arena (145-213 ms seen
 * under load in the soak), stalling any thread that mallocs. */
#ifndef RM_TRANSPORT_MEMSTATS_H
#define RM_TRANSPORT_MEMSTATS_H

typedef struct {
    double rss_bytes;        /* resident set, /proc/self/statm */
    double heap_inuse_bytes; /* malloc'd and not freed: mallinfo2 uordblks + hblkhd */
    double heap_free_bytes;  /* free but kept by the allocator: fordblks */
    double mmap_bytes;       /* large blocks mmap'd one each: hblkhd */
    int arenas;              /* malloc arenas; -1 when unknown (not glibc) */
} rmt_mem;

/* Reads the figures above; takes every arena's lock once (for /metrics, not
 * a hot path).  Any thread. */
void rmt_mem_read(rmt_mem *m);

/* Whether a server has work in flight (calls, streams, peers).  Called on
 * the thread that runs rmt_trim_tick, which need not be the server's own:
 * it must be thread-safe. */
typedef int (*rmt_busy_fn)(void *ctx);

/* A server says how to ask whether it is busy, from its start to its stop
 * (rmt_busy_remove, before ctx goes).  At most RMT_MAX_SERVERS at once;
 * returns -1 past that (the server then runs without the idle trim). */
#define RMT_MAX_SERVERS 4
int rmt_busy_add(rmt_busy_fn fn, void *ctx);
void rmt_busy_remove(rmt_busy_fn fn, void *ctx);

#define RMT_TRIM_IDLE_S 2.0
/* About once a second, from one thread (the process's main serving loop):
 * asks every registered server; after a busy spell and RMT_TRIM_IDLE_S with
 * all idle, gives the freed heap back (malloc_trim) once.  `now`: seconds on
 * a monotonic clock. */
void rmt_trim_tick(double now);

/* Prometheus text (remotemedia_process_resident_memory_bytes, then with
 * glibc the remotemedia_malloc_* heap figures and trims), NUL-terminated;
 * the caller frees it.  NULL when out of memory.  Any thread. */
char *rmt_mem_prom(void);

#endif
