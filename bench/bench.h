/*
 * bench.h — helpers shared by the benchmark programs (header-only).
 *
 * Every program prints its results as table rows on stdout, one per line:
 *
 *   ROW <TAB> measurement <TAB> ours <TAB> baseline/target <TAB> ratio <TAB> verdict
 *
 * and progress or details on stderr.  scripts/bench collects the rows of all
 * programs into one table.  Numbers are medians over repeated runs; ratios
 * compare against baselines measured in the same process, interleaved with
 * our own runs so both see the same machine load.
 *
 * `--quick` (or RM_BENCH_QUICK=1) shrinks every run for a smoke check; the
 * numbers are then only indicative.
 */
#ifndef RM_BENCH_H
#define RM_BENCH_H

#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "remotemedia/remotemedia.h"

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Quantile q (0..1) of n values, nearest rank on a sorted copy.  n > 0. */
static inline double bench_quantile(const double *v, size_t n, double q)
{
    double *c = malloc(n * sizeof *c);
    if (!c) abort();
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, bench_cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    double r = c[i < n ? i : n - 1];
    free(c);
    return r;
}

static inline double bench_median(const double *v, size_t n) { return bench_quantile(v, n, 0.5); }

static inline int bench_quick(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quick") == 0) return 1;
    const char *e = getenv("RM_BENCH_QUICK");
    return e && *e && strcmp(e, "0") != 0;
}

/* Value of "--name VALUE" in argv, or NULL. */
static inline const char *bench_arg(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return NULL;
}

static void bench_die(const char *what, int code, const rm_error *err)
{
    fprintf(stderr, "bench: %s failed: %s (%s)%s%s\n", what, rm_strerror(code), rm_err_name(code),
            err && err->message[0] ? ": " : "", err && err->message[0] ? err->message : "");
    exit(2);
}

/* Progress on stderr, only when it is a terminal (keeps logs clean). */
static inline void bench_progress(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static inline void bench_progress(const char *fmt, ...)
{
    if (!isatty(2)) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("\r\033[K", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static inline void bench_progress_done(void)
{
    if (isatty(2)) fputs("\r\033[K", stderr);
}

/* Prints one table row.  Fields must not contain tabs or newlines. */
static void bench_row(const char *measurement, const char *ours, const char *baseline,
                      const char *ratio, const char *verdict)
{
    printf("ROW\t%s\t%s\t%s\t%s\t%s\n", measurement, ours, baseline, ratio, verdict);
    fflush(stdout);
}

/* printf into a static rotating buffer (for building row fields inline). */
static const char *bench_fmt(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static const char *bench_fmt(const char *fmt, ...)
{
    static char bufs[8][160];
    static unsigned next;
    char *b = bufs[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

/* "meets" / "MISSES" a target of at most `target` (lower is better). */
static inline const char *bench_verdict_max(double ours, double target)
{
    if (ours < 0) return "inconclusive (noise: negative difference)";
    return ours <= target ? "meets target" : "MISSES target";
}

/* How `ours` compares to a baseline where lower is better. */
static inline const char *bench_verdict_vs(double ours, double baseline)
{
    if (ours <= 0 || baseline <= 0) return "n/a";
    if (ours <= baseline) return bench_fmt("%.1fx faster", baseline / ours);
    return bench_fmt("%.1fx slower", ours / baseline);
}

/* Resident set size in bytes, from /proc/self/statm (0 if unavailable). */
static inline size_t bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int ok = fscanf(f, "%lu %lu", &size, &resident) == 2;
    fclose(f);
    return ok ? (size_t)resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

/* A runtime with the built-in nodes and no plugins from the environment. */
static inline rm_runtime *bench_runtime(void)
{
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags = RM_RUNTIME_NO_ENV_PLUGINS;
    rm_runtime *rt;
    rm_error err = {0};
    int rc = rm_runtime_new_with_builtins(&o, &rt, &err);
    if (rc != 0) bench_die("rm_runtime_new", rc, &err);
    return rt;
}

static inline rm_graph *bench_graph(rm_runtime *rt, const char *text, const char *name)
{
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    int rc = rm_graph_load_string(rt, text, strlen(text), name, NULL, &g, d);
    if (rc != 0) {
        char *s = rm_diags_to_string(d);
        fprintf(stderr, "bench: manifest %s does not compile:\n%s", name, s ? s : "");
        free(s);
        exit(2);
    }
    rm_diags_free(d);
    return g;
}

#endif /* RM_BENCH_H */
