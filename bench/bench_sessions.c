/*
 * bench_sessions — many concurrent sessions of one graph in one process.
 *
 * The graph: MultiplyNode → AddNode → MultiplyNode → AddNode → PassThrough,
 * fed json numbers; outputs go to a counting callback.
 *
 * 1. Memory and open time: open a batch of 1,000 sessions and keep them
 *    open; memory per session = RSS delta / 1000 (/proc/self/statm) and the
 *    malloc heap delta / 1000 (mallinfo2).  Each round opens a further batch
 *    while the earlier ones stay open (freed memory would be reused and hide
 *    the RSS growth), pushes one frame through each new session; at the end
 *    every session is ended and closed.  Medians over the batches.
 * 2. Throughput on a pool: 1,000 sessions opened with .pool (one thread per
 *    CPU); the host pushes F frames into each, round-robin, then ends them
 *    all (which waits for the strands to drain).  Frames per second over the
 *    push + end phase.  The baseline, interleaved round by round, is the same
 *    work with sessions running inline on the calling thread (no pool).  Run
 *    with small frames (a number: the hand-off to the pool dominates) and
 *    heavy ones (an array of 1,000 numbers: node work dominates).
 */
#include "bench.h"

#include <stdatomic.h>

#include <jansson.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#define SESSIONS 1000

static const char manifest[] =
    "version: v1\n"
    "metadata: {name: five}\n"
    "nodes:\n"
    "  - {id: m1, node_type: MultiplyNode, params: {factor: 2}}\n"
    "  - {id: a1, node_type: AddNode, params: {addend: 1}}\n"
    "  - {id: m2, node_type: MultiplyNode, params: {factor: 0.5}}\n"
    "  - {id: a2, node_type: AddNode, params: {addend: -1}}\n"
    "  - {id: out, node_type: PassThrough}\n"
    "connections:\n"
    "  - {from: m1, to: a1}\n"
    "  - {from: a1, to: m2}\n"
    "  - {from: m2, to: a2}\n"
    "  - {from: a2, to: out}\n";

static atomic_ullong g_outputs;

static void count_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)user;
    (void)node_id;
    (void)port;
    (void)f;
    atomic_fetch_add_explicit(&g_outputs, 1, memory_order_relaxed);
}

static size_t heap_bytes(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#else
    return 0;
#endif
}

static void open_all(rm_graph *g, rm_pool *pool, rm_session **s)
{
    rm_session_opts o = {0};
    o.on_output = count_output;
    o.pool = pool;
    for (size_t i = 0; i < SESSIONS; i++) {
        rm_error err = {0};
        int rc = rm_session_open(g, &o, &s[i], &err);
        if (rc != 0) bench_die("rm_session_open", rc, &err);
    }
}

static void push_all(rm_session **s, const rm_frame *f, int frames)
{
    for (int k = 0; k < frames; k++)
        for (size_t i = 0; i < SESSIONS; i++) {
            int rc = rm_session_push(s[i], f);
            if (rc != 0) bench_die("rm_session_push", rc, rm_session_error(s[i]));
        }
}

static void end_all(rm_session **s)
{
    for (size_t i = 0; i < SESSIONS; i++) {
        int rc = rm_session_end(s[i]);
        if (rc != 0) bench_die("rm_session_end", rc, rm_session_error(s[i]));
    }
}

static void close_all(rm_session **s)
{
    for (size_t i = 0; i < SESSIONS; i++) rm_session_close(s[i]);
}

static void expect_outputs(unsigned long long want);

/* One throughput round: frames per second for the pool, then inline (or the
 * other way round when `pool_first` is 0).  *pool_heap gets the heap bytes
 * per pool session. */
static void throughput_round(rm_graph *g, rm_pool *pool, rm_session **s, const rm_frame *f, int frames,
                             int pool_first, double *tp_pool, double *tp_inline, double *pool_heap)
{
    for (int k = 0; k < 2; k++) {
        int use_pool = (k == 0) == (pool_first != 0);
        size_t h0 = heap_bytes();
        open_all(g, use_pool ? pool : NULL, s);
        if (use_pool && pool_heap) *pool_heap = ((double)heap_bytes() - (double)h0) / SESSIONS;
        uint64_t a = bench_now_ns();
        push_all(s, f, frames);
        end_all(s);
        uint64_t b = bench_now_ns();
        close_all(s);
        expect_outputs((unsigned long long)SESSIONS * (unsigned long long)frames);
        *(use_pool ? tp_pool : tp_inline) = (double)SESSIONS * frames / ((double)(b - a) / 1e9);
    }
}

static void expect_outputs(unsigned long long want)
{
    unsigned long long got = atomic_exchange(&g_outputs, 0);
    if (got != want) {
        fprintf(stderr, "bench_sessions: expected %llu outputs, got %llu\n", want, got);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    const int rounds = quick ? 2 : 7;
    const int frames = quick ? 10 : 100;

    rm_runtime *rt = bench_runtime();
    rm_graph *g = bench_graph(rt, manifest, "five.yaml");
    rm_pool *pool;
    rm_error err = {0};
    int rc = rm_pool_new(0, &pool, &err);
    if (rc != 0) bench_die("rm_pool_new", rc, &err);
    rm_frame *f = rm_frame_new_json_text("21", 2, NULL, 0);
    json_t *arr = json_array();
    for (int i = 0; i < 1000; i++) json_array_append_new(arr, json_real(i * 0.5));
    rm_frame *heavy = rm_frame_new_json(arr);
    if (!f || !heavy) bench_die("frame allocation", RM_ENOMEM, NULL);
    const int heavy_frames = quick ? 1 : 2, heavy_rounds = rounds;
    rm_session **s = calloc(SESSIONS, sizeof *s);
    rm_session **held = calloc((size_t)rounds * SESSIONS, sizeof *held);

    double *rss = calloc((size_t)rounds, sizeof(double)), *heap = calloc((size_t)rounds, sizeof(double));
    double *open_us = calloc((size_t)rounds, sizeof(double)), *push_us = calloc((size_t)rounds, sizeof(double));
    double *tp_pool = calloc((size_t)rounds, sizeof(double)), *tp_inline = calloc((size_t)rounds, sizeof(double));
    double *pool_mem = calloc((size_t)rounds, sizeof(double));
    double *tp_heavy_pool = calloc((size_t)rounds, sizeof(double));
    double *tp_heavy_inline = calloc((size_t)rounds, sizeof(double));

    /* 1. batches of 1,000 sessions, all held open */
    for (int r = 0; r < rounds; r++) {
        bench_progress("bench_sessions: batch %d/%d", r + 1, rounds);
        rm_session **batch = held + (size_t)r * SESSIONS;
        size_t rss0 = bench_rss_bytes(), heap0 = heap_bytes();
        uint64_t t0 = bench_now_ns();
        open_all(g, NULL, batch);
        uint64_t t1 = bench_now_ns();
        size_t rss1 = bench_rss_bytes(), heap1 = heap_bytes();
        push_all(batch, f, 1);
        uint64_t t2 = bench_now_ns();
        expect_outputs(SESSIONS);
        rss[r] = ((double)rss1 - (double)rss0) / SESSIONS;
        heap[r] = ((double)heap1 - (double)heap0) / SESSIONS;
        open_us[r] = (double)(t1 - t0) / 1000.0 / SESSIONS;
        push_us[r] = (double)(t2 - t1) / 1000.0 / SESSIONS;
    }
    size_t n_held = (size_t)rounds * SESSIONS;
    uint64_t c0 = bench_now_ns();
    for (size_t i = 0; i < n_held; i++) {
        rc = rm_session_end(held[i]);
        if (rc != 0) bench_die("rm_session_end", rc, rm_session_error(held[i]));
        rm_session_close(held[i]);
    }
    double close_us = (double)(bench_now_ns() - c0) / 1000.0 / (double)n_held;
    bench_progress_done();

    /* 2. throughput: pool and inline, alternating which goes first; small
     * frames (the hand-off dominates) and heavy ones (a 1,000-number array:
     * the node work dominates, so the pool can use every CPU) */
    for (int r = 0; r < rounds; r++) {
        bench_progress("bench_sessions: throughput round %d/%d", r + 1, rounds);
        throughput_round(g, pool, s, f, frames, r % 2 == 0, &tp_pool[r], &tp_inline[r], &pool_mem[r]);
        if (r < heavy_rounds)
            throughput_round(g, pool, s, heavy, heavy_frames, r % 2 != 0, &tp_heavy_pool[r], &tp_heavy_inline[r],
                             NULL);
    }
    bench_progress_done();

    size_t R = (size_t)rounds;
    double mem = bench_median(rss, R), hp = bench_median(heap, R);
    bench_row("1,000 open sessions of a 5-node graph: memory per session (RSS delta)",
              bench_fmt("%.1f KiB", mem / 1024.0), "-", "-", "info");
    bench_row("  heap bytes per session (mallinfo2 delta)", bench_fmt("%.1f KiB", hp / 1024.0), "-", "-",
              heap_bytes() ? "info" : "n/a (not glibc)");
    bench_row("  on a pool (adds the strand queue): heap per session",
              bench_fmt("%.1f KiB", bench_median(pool_mem, R) / 1024.0), "-", "-", "info");
    bench_row("  time to open one session (of 1,000; fresh memory, so page faults count)",
              bench_fmt("%.1f us", bench_median(open_us, R)), "-", "-", "info");
    bench_row("  first push through each of the 1,000 sessions", bench_fmt("%.2f us", bench_median(push_us, R)),
              "-", "-", "info");
    bench_row("  end + close, per session", bench_fmt("%.1f us", close_us), "-", "-", "info");
    double tp = bench_median(tp_pool, R), ti = bench_median(tp_inline, R);
    bench_row(bench_fmt("1,000 sessions on an rm_pool (%u threads), %d frames each: throughput",
                        rm_pool_threads(pool), frames),
              bench_fmt("%.0f frames/s", tp), bench_fmt("inline, 1 thread: %.0f frames/s (same run)", ti),
              bench_fmt("%.2f", tp / ti), tp >= ti ? bench_fmt("%.1fx inline", tp / ti) : bench_fmt("%.1fx slower than inline", ti / tp));
    bench_row("  per frame on the pool (host-side enqueue + strand hop), 5 node calls",
              bench_fmt("%.0f ns", 1e9 / tp), bench_fmt("inline %.0f ns", 1e9 / ti), "-", "info");
    tp = bench_median(tp_heavy_pool, (size_t)heavy_rounds);
    ti = bench_median(tp_heavy_inline, (size_t)heavy_rounds);
    bench_row(bench_fmt("  same, heavy frames (1,000-number array), %d frames each", heavy_frames),
              bench_fmt("%.0f frames/s", tp), bench_fmt("inline, 1 thread: %.0f frames/s (same run)", ti),
              bench_fmt("%.2f", tp / ti), tp >= ti ? bench_fmt("%.1fx inline", tp / ti) : bench_fmt("%.1fx slower than inline", ti / tp));

    free(rss);
    free(heap);
    free(open_us);
    free(push_us);
    free(held);
    free(tp_pool);
    free(tp_inline);
    free(tp_heavy_pool);
    free(tp_heavy_inline);
    free(pool_mem);
    free(s);
    rm_frame_unref(f);
    rm_frame_unref(heavy);
    rm_pool_free(pool);
    rm_graph_unref(g);
    rm_runtime_free(rt);
    return 0;
}
