/* A growing text buffer for tests and benchmarks that generate manifests
 * (test_limits, bench_manifest).  Aborts on allocation failure: generated
 * inputs are the test's own, not what is under test. */
#ifndef RM_TEST_TEXTBUF_H
#define RM_TEST_TEXTBUF_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct text {
    char *p;
    size_t n, cap;
} text;

static void put(text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (t->p && (size_t)k < t->cap - t->n) {
            t->n += (size_t)k;
            return;
        }
        t->cap = (t->cap + (size_t)k + 1) * 2;
        t->p = realloc(t->p, t->cap);
        if (!t->p) abort();
    }
}

#endif
