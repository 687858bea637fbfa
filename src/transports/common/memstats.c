/* Process memory for the servers' /metrics and the idle trim: memstats.h. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "memstats.h"

void rmt_mem_read(rmt_mem *m)
{
    memset(m, 0, sizeof *m);
    m->arenas = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long size = 0, resident = 0;
        if (fscanf(f, "%lu %lu", &size, &resident) == 2)
            m->rss_bytes = (double)resident * (double)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
#ifdef __GLIBC__
    struct mallinfo2 mi = mallinfo2(); /* sums every arena */
    m->heap_inuse_bytes = (double)mi.uordblks + (double)mi.hblkhd;
    m->heap_free_bytes = (double)mi.fordblks;
    m->mmap_bytes = (double)mi.hblkhd;
    /* glibc reports the arena count only in malloc_info's XML: one <heap> each */
    char *xml = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&xml, &len);
    if (mf) {
        int ok = malloc_info(0, mf) == 0;
        fclose(mf);
        if (ok && xml) {
            m->arenas = 0;
            for (const char *p = xml; (p = strstr(p, "<heap nr=")); p++) m->arenas++;
        }
        free(xml);
    }
#endif
}

/* The registered servers and the trims done; process-wide like the heap. */
static struct {
    pthread_mutex_t mu;
    struct {
        rmt_busy_fn fn;
        void *ctx;
    } servers[RMT_MAX_SERVERS];
    int busy;          /* a server was seen busy since the last trim */
    double idle_since; /* when all were first seen idle after that; 0: not yet */
    uint64_t trims;
    double trim_seconds, trim_max;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

int rmt_busy_add(rmt_busy_fn fn, void *ctx)
{
    int rc = -1;
    pthread_mutex_lock(&g.mu);
    for (int i = 0; i < RMT_MAX_SERVERS && rc < 0; i++)
        if (!g.servers[i].fn) {
            g.servers[i].fn = fn;
            g.servers[i].ctx = ctx;
            rc = 0;
        }
    pthread_mutex_unlock(&g.mu);
    return rc;
}

void rmt_busy_remove(rmt_busy_fn fn, void *ctx)
{
    pthread_mutex_lock(&g.mu);
    for (int i = 0; i < RMT_MAX_SERVERS; i++)
        if (g.servers[i].fn == fn && g.servers[i].ctx == ctx) g.servers[i].fn = NULL;
    pthread_mutex_unlock(&g.mu);
}

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void rmt_trim_tick(double now)
{
    pthread_mutex_lock(&g.mu);
    int busy_now = 0;
    for (int i = 0; i < RMT_MAX_SERVERS && !busy_now; i++)
        if (g.servers[i].fn && g.servers[i].fn(g.servers[i].ctx)) busy_now = 1;
    int trim = 0;
    if (busy_now) {
        g.busy = 1;
        g.idle_since = 0;
    } else if (g.busy && !g.idle_since) {
        g.idle_since = now;
    } else if (g.busy && now - g.idle_since >= RMT_TRIM_IDLE_S) {
        g.busy = 0;
        g.idle_since = 0;
        trim = 1;
    }
    pthread_mutex_unlock(&g.mu);
#ifdef __GLIBC__
    if (trim) {
        double t0 = mono_s();
        malloc_trim(0);
        double s = mono_s() - t0;
        pthread_mutex_lock(&g.mu);
        g.trims++;
        g.trim_seconds += s;
        if (s > g.trim_max) g.trim_max = s;
        pthread_mutex_unlock(&g.mu);
    }
#else
    (void)trim;
    (void)mono_s;
#endif
}

char *rmt_mem_prom(void)
{
    rmt_mem m;
    rmt_mem_read(&m);
    pthread_mutex_lock(&g.mu);
    unsigned long long trims = (unsigned long long)g.trims;
    double trim_seconds = g.trim_seconds, trim_max = g.trim_max;
    pthread_mutex_unlock(&g.mu);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    fprintf(f,
            "# HELP remotemedia_process_resident_memory_bytes Resident set size of the server process.\n"
            "# TYPE remotemedia_process_resident_memory_bytes gauge\n"
            "remotemedia_process_resident_memory_bytes %.0f\n",
            m.rss_bytes);
    if (m.arenas >= 0)
        fprintf(f,
                "# HELP remotemedia_malloc_heap_inuse_bytes Heap allocated and not freed (glibc mallinfo2 "
                "uordblks + hblkhd); flat at rest unless memory leaks.\n"
                "# TYPE remotemedia_malloc_heap_inuse_bytes gauge\n"
                "remotemedia_malloc_heap_inuse_bytes %.0f\n"
                "# HELP remotemedia_malloc_heap_free_bytes Freed heap the allocator keeps (mallinfo2 fordblks).\n"
                "# TYPE remotemedia_malloc_heap_free_bytes gauge\n"
                "remotemedia_malloc_heap_free_bytes %.0f\n"
                "# HELP remotemedia_malloc_mmap_bytes Large blocks mmap'd one each (mallinfo2 hblkhd).\n"
                "# TYPE remotemedia_malloc_mmap_bytes gauge\n"
                "remotemedia_malloc_mmap_bytes %.0f\n"
                "# HELP remotemedia_malloc_arenas glibc malloc arenas.\n"
                "# TYPE remotemedia_malloc_arenas gauge\n"
                "remotemedia_malloc_arenas %d\n"
                "# HELP remotemedia_malloc_trims_total Times freed heap was given back to the system "
                "when idle (malloc_trim).\n"
                "# TYPE remotemedia_malloc_trims_total counter\n"
                "remotemedia_malloc_trims_total %llu\n"
                "# HELP remotemedia_malloc_trim_seconds_total Time spent in those trims (arenas locked).\n"
                "# TYPE remotemedia_malloc_trim_seconds_total counter\n"
                "remotemedia_malloc_trim_seconds_total %.6f\n"
                "# HELP remotemedia_malloc_trim_seconds_max The longest trim.\n"
                "# TYPE remotemedia_malloc_trim_seconds_max gauge\n"
                "remotemedia_malloc_trim_seconds_max %.6f\n",
                m.heap_inuse_bytes, m.heap_free_bytes, m.mmap_bytes, m.arenas, trims, trim_seconds, trim_max);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
