/*
 * Tick counter for metrics.  Per-call timing must cost a few nanoseconds:
 * clock_gettime() is ~25 ns in a VM, the TSC ~10 ns.  Ticks are converted to
 * nanoseconds only when metrics are exported, with a rate calibrated against
 * CLOCK_MONOTONIC over the process lifetime so far (no start-up delay).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <time.h>

#include "internal.h"

#if defined(__x86_64__) && !defined(RM_NO_TSC)
#include <x86intrin.h>
#define RM__USE_TSC 1
#endif

uint64_t rm__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#ifdef RM__USE_TSC
uint64_t rm__ticks(void) { return __rdtsc(); }

static struct {
    atomic_int init;
    uint64_t tsc0, ns0;
} g_cal;

/* The calibration origin is written once (first caller wins) and never
 * changes; it is process-wide state, not configuration. */
static void cal_origin(void)
{
    int expected = 0;
    if (atomic_load_explicit(&g_cal.init, memory_order_acquire) == 2) return;
    if (atomic_compare_exchange_strong(&g_cal.init, &expected, 1)) {
        g_cal.ns0 = rm__now_ns();
        g_cal.tsc0 = __rdtsc();
        atomic_store_explicit(&g_cal.init, 2, memory_order_release);
    } else {
        while (atomic_load_explicit(&g_cal.init, memory_order_acquire) != 2) {
        }
    }
}

double rm__ticks_per_ns(void)
{
    cal_origin();
    uint64_t ns = rm__now_ns(), t = __rdtsc();
    /* Need a baseline of at least 2 ms for a stable ratio. */
    while (ns - g_cal.ns0 < 2000000) {
        ns = rm__now_ns();
        t = __rdtsc();
    }
    return (double)(t - g_cal.tsc0) / (double)(ns - g_cal.ns0);
}

__attribute__((constructor)) static void rm__clock_ctor(void) { cal_origin(); }
#else
uint64_t rm__ticks(void) { return rm__now_ns(); }
double rm__ticks_per_ns(void) { return 1.0; }
#endif

void rm__sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
