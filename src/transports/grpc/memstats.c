/* The server process's memory as glibc's allocator sees it (issue 17): RSS
 * alone cannot tell a leak from memory the allocator keeps after a load
 * peak; heap in use (allocated and not freed) can.  Also the trim the
 * server does when idle. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "rmg_internal.h"

void rmg_mem_read(rmg_mem *m)
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

int rmg_mem_trim(double *seconds)
{
    *seconds = 0;
#ifdef __GLIBC__
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    malloc_trim(0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    *seconds = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    return 1;
#else
    return 0;
#endif
}
