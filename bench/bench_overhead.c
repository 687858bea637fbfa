/*
 * bench_overhead — per-node overhead and the cost of metrics.
 *
 * A chain of PassThrough nodes is driven with rm_session_push() (outputs go
 * to a counting callback).  For each frame kind (a 320-sample s16 audio
 * frame, a small json frame) and each metrics setting, chains of 1 and 10
 * nodes are timed in the same round; the per-node cost is
 * (T10 - T1) / 9 ns per frame, which removes the push and output cost.  The
 * metrics cost per node call is per-node(on) - per-node(off).  Each round
 * yields one value per quantity; the table shows the median over rounds.
 *
 * Baselines, interleaved with our rounds so they see the same load:
 *  - the raw clock reads the executor's metrics use (rdtsc on x86-64) and
 *    clock_gettime(CLOCK_MONOTONIC);
 *  - GStreamer (--gst PATH): audiotestsrc num-buffers=N samplesperbuffer=320
 *    ! identity x10 ! fakesink, minus the same without identity, over N x 10,
 *    using gst-launch's own "Execution ended after" time (no start-up);
 *  - Python asyncio (--python PATH --asyncio-script FILE): a 10-stage
 *    asyncio.Queue chain minus a 0-stage one, over N x 10.
 */
#include "bench.h"

#include <math.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

#define CHAIN_LONG 10
#define KINDS 2

typedef struct counter {
    uint64_t frames;
} counter;

static void count_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    (void)port;
    (void)f;
    ((counter *)user)->frames++;
}

static char *chain_manifest(int nodes)
{
    size_t cap = 256 + (size_t)nodes * 160;
    char *m = malloc(cap);
    if (!m) abort();
    size_t n = (size_t)snprintf(m, cap, "{\"version\":\"v1\",\"metadata\":{\"name\":\"chain%d\"},\"nodes\":[", nodes);
    for (int i = 0; i < nodes; i++)
        n += (size_t)snprintf(m + n, cap - n, "%s{\"id\":\"p%d\",\"node_type\":\"PassThrough\"}", i ? "," : "", i);
    n += (size_t)snprintf(m + n, cap - n, "],\"connections\":[");
    for (int i = 1; i < nodes; i++)
        n += (size_t)snprintf(m + n, cap - n, "%s{\"from\":\"p%d\",\"to\":\"p%d\"}", i > 1 ? "," : "", i - 1, i);
    snprintf(m + n, cap - n, "]}");
    return m;
}

typedef struct run_cfg {
    rm_session *s;
    counter out;
} run_cfg;

static void open_cfg(run_cfg *c, rm_graph *g, int metrics)
{
    rm_session_opts o = {0};
    o.on_output = count_output;
    o.output_user = &c->out;
    o.flags = metrics ? 0 : RM_SESSION_NO_METRICS;
    rm_error err = {0};
    int rc = rm_session_open(g, &o, &c->s, &err);
    if (rc != 0) bench_die("rm_session_open", rc, &err);
}

/* ns per frame for `frames` pushes. */
static double time_pushes(run_cfg *c, const rm_frame *f, size_t frames)
{
    uint64_t before = c->out.frames;
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < frames; i++) {
        int rc = rm_session_push(c->s, f);
        if (rc != 0) bench_die("rm_session_push", rc, rm_session_error(c->s));
    }
    uint64_t t1 = bench_now_ns();
    if (c->out.frames - before != frames) {
        fprintf(stderr, "bench: expected %zu outputs, got %llu\n", frames,
                (unsigned long long)(c->out.frames - before));
        exit(2);
    }
    return (double)(t1 - t0) / (double)frames;
}

static volatile uint64_t g_sink; /* keeps clock loops from being optimised out */

static double time_clock_gettime(size_t iters)
{
    uint64_t acc = 0, t0 = bench_now_ns();
    for (size_t i = 0; i < iters; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        acc += (uint64_t)ts.tv_nsec;
    }
    uint64_t t1 = bench_now_ns();
    g_sink = acc;
    return (double)(t1 - t0) / (double)iters;
}

#ifdef HAVE_TSC
static double time_rdtsc(size_t iters)
{
    uint64_t acc = 0, t0 = bench_now_ns();
    for (size_t i = 0; i < iters; i++) acc += __rdtsc();
    uint64_t t1 = bench_now_ns();
    g_sink = acc;
    return (double)(t1 - t0) / (double)iters;
}
#endif

/* ------------------------------------------------------------ GStreamer --- */

/* Runs a gst-launch pipeline of `identities` identity elements and returns
 * the pipeline's execution time in ns (-1 on failure). */
static double gst_run(const char *gst, int buffers, int identities)
{
    char cmd[1024];
    int n = snprintf(cmd, sizeof cmd, "'%s' audiotestsrc num-buffers=%d samplesperbuffer=320", gst, buffers);
    for (int i = 0; i < identities; i++) n += snprintf(cmd + n, sizeof cmd - (size_t)n, " ! identity");
    snprintf(cmd + n, sizeof cmd - (size_t)n, " ! fakesink 2>&1");
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512];
    double ns = -1;
    while (fgets(line, sizeof line, p)) {
        unsigned h, m;
        double sec;
        if (sscanf(line, "Execution ended after %u:%u:%lf", &h, &m, &sec) == 3)
            ns = ((double)h * 3600.0 + (double)m * 60.0 + sec) * 1e9;
    }
    if (pclose(p) != 0) return -1;
    return ns;
}

/* ns per buffer per identity element, or -1.  `swap` runs the pipeline
 * without identity first (alternated between rounds). */
static double gst_per_element(const char *gst, int buffers, int swap)
{
    double with, without;
    if (swap) {
        without = gst_run(gst, buffers, 0);
        with = gst_run(gst, buffers, CHAIN_LONG);
    } else {
        with = gst_run(gst, buffers, CHAIN_LONG);
        without = gst_run(gst, buffers, 0);
    }
    if (with < 0 || without < 0) return -1;
    return (with - without) / ((double)buffers * CHAIN_LONG);
}

/* -------------------------------------------------------- Python asyncio --- */

static double asyncio_per_stage(const char *python, const char *script, int frames)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' '%s' %d 0 %d 2>&1", python, script, frames, CHAIN_LONG);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    double t[2] = {-1, -1};
    char line[512];
    while (fgets(line, sizeof line, p)) {
        int stages;
        double sec;
        if (sscanf(line, "%d %lf", &stages, &sec) == 2) t[stages == 0 ? 0 : 1] = sec;
    }
    if (pclose(p) != 0 || t[0] < 0 || t[1] < 0) return -1;
    return (t[1] - t[0]) * 1e9 / ((double)frames * CHAIN_LONG);
}

/* ----------------------------------------------------------------- main --- */

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    const char *gst = bench_arg(argc, argv, "--gst");
    const char *python = bench_arg(argc, argv, "--python");
    const char *asyncio_script = bench_arg(argc, argv, "--asyncio-script");
    const int rounds = quick ? 3 : 21;
    const size_t frames = quick ? 5000 : 50000;
    const int gst_rounds = quick ? 1 : 7, gst_buffers = quick ? 5000 : 50000;
    const int py_rounds = quick ? 1 : 5, py_frames = quick ? 5000 : 20000;

    rm_runtime *rt = bench_runtime();
    char *m1 = chain_manifest(1), *m10 = chain_manifest(CHAIN_LONG);
    rm_graph *g[2] = {bench_graph(rt, m1, "chain1.json"), bench_graph(rt, m10, "chain10.json")};
    free(m1);
    free(m10);

    rm_frame *fr[KINDS];
    fr[0] = rm_frame_new_audio(RM_SAMPLE_S16, 16000, 1, 320);
    memset(fr[0]->u.audio.data, 0, 320 * sizeof(int16_t));
    fr[1] = rm_frame_new_json_text("{\"value\":1.5}", 13, NULL, 0);
    if (!fr[0] || !fr[1]) bench_die("frame allocation", RM_ENOMEM, NULL);
    static const char *const kind_name[KINDS] = {"s16 audio (320 samples)", "json ({\"value\":1.5})"};

    /* cfg[kind][len][metrics] */
    run_cfg cfg[KINDS][2][2];
    memset(cfg, 0, sizeof cfg);
    for (int k = 0; k < KINDS; k++)
        for (int l = 0; l < 2; l++)
            for (int mt = 0; mt < 2; mt++) open_cfg(&cfg[k][l][mt], g[l], mt);

    double *per_node[KINDS][2], *metrics_cost[KINDS], *t1[KINDS];
    for (int k = 0; k < KINDS; k++) {
        per_node[k][0] = calloc((size_t)rounds, sizeof(double));
        per_node[k][1] = calloc((size_t)rounds, sizeof(double));
        metrics_cost[k] = calloc((size_t)rounds, sizeof(double));
        t1[k] = calloc((size_t)rounds, sizeof(double));
    }
    double *rdtsc_ns = calloc((size_t)rounds, sizeof(double));
    double *cgt_ns = calloc((size_t)rounds, sizeof(double));
    double gst_v[16], py_v[16];
    int n_gst = 0, n_py = 0;

    /* warm-up: page in code and data, let the clock calibration settle */
    for (int k = 0; k < KINDS; k++)
        for (int l = 0; l < 2; l++)
            for (int mt = 0; mt < 2; mt++) time_pushes(&cfg[k][l][mt], fr[k], frames / 10);
    if (gst) {
        if (gst_per_element(gst, 1000, 0) < 0) {
            fprintf(stderr, "bench_overhead: %s did not run; skipping the GStreamer baseline\n", gst);
            gst = NULL;
        }
    }
    if (python && asyncio_script && asyncio_per_stage(python, asyncio_script, 1000) < 0) {
        fprintf(stderr, "bench_overhead: %s %s did not run; skipping the asyncio baseline\n", python, asyncio_script);
        python = NULL;
    }

    for (int r = 0; r < rounds; r++) {
        bench_progress("bench_overhead: round %d/%d", r + 1, rounds);
        for (int k = 0; k < KINDS; k++) {
            double t[2][2];
            /* alternate the order between rounds so neither variant always runs first */
            for (int i = 0; i < 4; i++) {
                int j = (r & 1) ? 3 - i : i;
                int l = j >> 1, mt = j & 1;
                t[l][mt] = time_pushes(&cfg[k][l][mt], fr[k], frames);
            }
            for (int mt = 0; mt < 2; mt++) per_node[k][mt][r] = (t[1][mt] - t[0][mt]) / (CHAIN_LONG - 1);
            metrics_cost[k][r] = per_node[k][1][r] - per_node[k][0][r];
            t1[k][r] = t[0][1];
        }
#ifdef HAVE_TSC
        rdtsc_ns[r] = time_rdtsc(quick ? 1000000 : 5000000);
#endif
        cgt_ns[r] = time_clock_gettime(quick ? 200000 : 1000000);
        if (gst && r < gst_rounds) {
            double v = gst_per_element(gst, gst_buffers, r & 1);
            if (v >= 0) gst_v[n_gst++] = v;
        }
        if (python && asyncio_script && r < py_rounds) {
            double v = asyncio_per_stage(python, asyncio_script, py_frames);
            if (v >= 0) py_v[n_py++] = v;
        }
    }
    bench_progress_done();

    size_t R = (size_t)rounds;
    const double target_node = 50, target_metrics = 30;
    for (int k = 0; k < KINDS; k++) {
        double v = bench_median(per_node[k][1], R);
        bench_row(bench_fmt("per-node overhead, %s, metrics on", kind_name[k]), bench_fmt("%.1f ns", v),
                  "target <= 50 ns", bench_fmt("%.2f", v / target_node), bench_verdict_max(v, target_node));
    }
    double ours_s16 = bench_median(per_node[0][1], R);
    if (n_gst) {
        double gv = bench_median(gst_v, (size_t)n_gst);
        bench_row("  vs GStreamer identity, per buffer per element", bench_fmt("%.1f ns", ours_s16),
                  bench_fmt("%.1f ns (gst-launch, same run)", gv), bench_fmt("%.2f", ours_s16 / gv),
                  bench_verdict_vs(ours_s16, gv));
    } else {
        bench_row("  vs GStreamer identity, per buffer per element", bench_fmt("%.1f ns", ours_s16),
                  "not measured (no gst-launch-1.0)", "-", "n/a");
    }
    if (n_py) {
        double pv = bench_median(py_v, (size_t)n_py);
        bench_row("  vs Python asyncio.Queue chain, per frame per stage", bench_fmt("%.1f ns", ours_s16),
                  bench_fmt("%.1f ns (same run)", pv), bench_fmt("%.3f", ours_s16 / pv), bench_verdict_vs(ours_s16, pv));
    }
    for (int k = 0; k < KINDS; k++) {
        double v = bench_median(per_node[k][0], R);
        bench_row(bench_fmt("per-node overhead, %s, metrics off", kind_name[k]), bench_fmt("%.1f ns", v), "-",
                  "-", "info");
    }
    bench_row("push + 1-node chain + output callback, s16, metrics on", bench_fmt("%.1f ns", bench_median(t1[0], R)),
              "-", "-", "info");

    double clock_read;
#ifdef HAVE_TSC
    clock_read = bench_median(rdtsc_ns, R);
    const char *clock_name = "rdtsc";
#else
    clock_read = bench_median(cgt_ns, R);
    const char *clock_name = "clock_gettime";
#endif
    for (int k = 0; k < KINDS; k++) {
        double v = bench_median(metrics_cost[k], R);
        bench_row(bench_fmt("metrics cost per node call, %s (on - off)", kind_name[k]), bench_fmt("%.1f ns", v),
                  "target <= 30 ns", bench_fmt("%.2f", v / target_metrics), bench_verdict_max(v, target_metrics));
    }
    double mc = bench_median(metrics_cost[0], R);
    bench_row(bench_fmt("  of which 2 clock reads (%s, executor's clock)", clock_name),
              bench_fmt("%.1f ns", 2 * clock_read), bench_fmt("%.1f ns per read", clock_read), "-", "info");
    bench_row("  metrics cost above the clock reads, s16", bench_fmt("%.1f ns", mc - 2 * clock_read), "-", "-",
              "info");
    bench_row("clock_gettime(CLOCK_MONOTONIC), one read", bench_fmt("%.1f ns", bench_median(cgt_ns, R)), "-", "-",
              "info");

    for (int k = 0; k < KINDS; k++) {
        for (int l = 0; l < 2; l++)
            for (int mt = 0; mt < 2; mt++) rm_session_close(cfg[k][l][mt].s);
        rm_frame_unref(fr[k]);
        free(per_node[k][0]);
        free(per_node[k][1]);
        free(metrics_cost[k]);
        free(t1[k]);
    }
    free(rdtsc_ns);
    free(cgt_ns);
    rm_graph_unref(g[0]);
    rm_graph_unref(g[1]);
    rm_runtime_free(rt);
    return 0;
}
