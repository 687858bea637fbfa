/*
 * bench_resample — AudioResample throughput per quality, next to raw libsoxr
 * with the same settings, measured in the same run (issue 3, benchmark 4).
 *
 *   bench_resample [--quick] [--seconds S]        ROW lines for scripts/bench
 *   bench_resample --tables [--seconds S]         the markdown tables of docs/audio.md
 *
 * Throughput: S seconds (default 30) of mono audio pushed in 20 ms chunks
 * through a one-node session (metrics off), 48k -> 16k and 44.1k -> 16k, at
 * each quality, with and without low_latency; median of 21 runs (3 with
 * --quick) in CPU time, as x real time and ns per output sample; raw = soxr_process() on
 * the same chunks with the same quality and DFT settings.  Runs alternate
 * node/raw so load drifts hit both.  Each run includes creating the
 * resampler and draining it at the end.
 *
 * --tables adds the latency table (deterministic, from sample counts: 5 s
 * pushed in 20 ms chunks; "held back" is input time pushed minus output time
 * emitted after each push — soxr's output is delay-compensated, so this is
 * the latency a live stream sees; "silent" counts the chunks that yielded no
 * output at all) and the per-chunk table (each 20 ms push timed alone, p50
 * and p99, node next to raw).
 */
#include "bench.h"

#include <math.h>

#include <soxr.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static double now_s(void) { return (double)bench_now_ns() * 1e-9; }

/* Throughput runs are timed in CPU time of the process: what the work
 * costs, not the other jobs' share of this shared machine. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) { return bench_cmp_double(a, b); }

#define MAX_RUNS 21 /* timed runs per configuration; the median is reported */
static int RUNS = MAX_RUNS;
static int tables; /* --tables: markdown for docs/audio.md instead of ROW lines */

static const char *const qualities[] = {"low", "medium", "high", "very_high"};
static const unsigned long recipes[] = {SOXR_LQ, SOXR_MQ, SOXR_HQ, SOXR_VHQ};

typedef struct counter {
    size_t frames, outputs;
} counter;

static void on_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    (void)port;
    counter *c = user;
    c->frames += f->u.audio.frames;
    c->outputs++;
}

static rm_session *open_session(rm_runtime *rt, uint32_t target, int q, int ll, counter *c)
{
    char m[256];
    snprintf(m, sizeof m,
             "{\"version\":\"v1\",\"nodes\":[{\"id\":\"r\",\"node_type\":\"AudioResample\",\"params\":"
             "{\"target_rate\":%u,\"quality\":\"%s\",\"low_latency\":%s}}],\"connections\":[]}",
             target, qualities[q], ll ? "true" : "false");
    rm_graph *g = NULL;
    rm_session *s = NULL;
    rm_error err;
    if (rm_graph_load_string(rt, m, strlen(m), "bench", NULL, &g, NULL) != 0) return NULL;
    rm_session_opts o = {.on_output = on_output, .output_user = c, .flags = RM_SESSION_NO_METRICS};
    if (rm_session_open(g, &o, &s, &err) != 0) s = NULL;
    rm_graph_unref(g);
    return s;
}

/* Frames of `n` frames each over `src`, wrapped without copying. */
static rm_frame **make_chunks(float *src, size_t total, size_t chunk, uint32_t rate, size_t *count)
{
    size_t n = total / chunk;
    rm_frame **fs = calloc(n, sizeof *fs);
    for (size_t i = 0; i < n; i++) fs[i] = rm_frame_wrap_audio(RM_SAMPLE_F32, rate, 1, chunk, src + i * chunk, NULL, NULL);
    *count = n;
    return fs;
}

static void latency(rm_runtime *rt, uint32_t rate, uint32_t target, int q, int ll, float *src)
{
    size_t chunk = rate / 50, n;
    rm_frame **fs = make_chunks(src, (size_t)rate * 5, chunk, rate, &n);
    counter c = {0};
    rm_session *s = open_session(rt, target, q, ll, &c);
    size_t silent = 0;
    double sum = 0, max = 0;
    for (size_t i = 0; i < n; i++) {
        size_t before = c.outputs;
        rm_session_push(s, fs[i]);
        silent += c.outputs == before;
        double held = ((double)(i + 1) * chunk / rate - (double)c.frames / target) * 1000.0;
        sum += held;
        max = held > max ? held : max;
    }
    rm_session_end(s);
    rm_session_close(s);
    for (size_t i = 0; i < n; i++) rm_frame_unref(fs[i]);
    free(fs);
    printf("| %u→%u | %-9s | %-3s | %6.2f | %6.2f | %3zu / %zu |\n", rate, target, qualities[q], ll ? "on" : "off",
           sum / (double)n, max, silent, n);
}

static void throughput(rm_runtime *rt, uint32_t rate, uint32_t target, int q, int ll, float *src, double seconds)
{
    size_t chunk = rate / 50, n;
    size_t total = (size_t)(rate * seconds);
    rm_frame **fs = make_chunks(src, total, chunk, rate, &n);
    float *out = malloc(chunk * sizeof *out * 4 + 65536 * sizeof *out);
    double tn[MAX_RUNS], tr[MAX_RUNS];
    size_t out_frames = 0;
    for (int run = 0; run < RUNS; run++)
        for (int j = 0; j < 2; j++) {
            if ((run + j) % 2 == 0) { /* node and raw take turns going first */
                counter c = {0};
                rm_session *s = open_session(rt, target, q, ll, &c);
                double t0 = cpu_s(); /* soxr is created by the first push */
                for (size_t i = 0; i < n; i++) rm_session_push(s, fs[i]);
                rm_session_end(s);
                tn[run] = cpu_s() - t0;
                out_frames = c.frames;
                rm_session_close(s);
            } else {
                double t0 = cpu_s();
                soxr_quality_spec_t qs = soxr_quality_spec(recipes[q], 0);
                soxr_runtime_spec_t rs = soxr_runtime_spec(1);
                if (ll) rs.log2_min_dft_size = rs.log2_large_dft_size = 8;
                soxr_t sx = soxr_create(rate, target, 1, NULL, NULL, &qs, &rs);
                for (size_t i = 0; i < n; i++) {
                    size_t idone, odone;
                    soxr_process(sx, src + i * chunk, chunk, &idone, out, chunk * 4 + 65536, &odone);
                }
                size_t odone;
                do soxr_process(sx, NULL, 0, NULL, out, chunk * 4 + 65536, &odone);
                while (odone);
                tr[run] = cpu_s() - t0;
                soxr_delete(sx);
            }
        }
    qsort(tn, RUNS, sizeof *tn, cmp_d);
    qsort(tr, RUNS, sizeof *tr, cmp_d);
    double audio = (double)(n * chunk) / rate;
    double node = tn[RUNS / 2], raw = tr[RUNS / 2];
    if (tables)
        printf("| %u→%u | %-9s | %-3s | %7.0f× | %6.2f | %7.0f× | %6.2f | %.2f |\n", rate, target, qualities[q],
               ll ? "on" : "off", audio / node, node * 1e9 / (double)out_frames, audio / raw,
               raw * 1e9 / (double)out_frames, node / raw);
    else
        bench_row(bench_fmt("AudioResample %.1fk -> %.0fk %s%s, mono, 20 ms chunks", rate / 1000.0, target / 1000.0,
                            qualities[q], ll ? ", low_latency" : ""),
                  bench_fmt("%.0fx real time, %.2f ns/out sample", audio / node, node * 1e9 / (double)out_frames),
                  bench_fmt("raw libsoxr %.0fx, %.2f ns/out sample", audio / raw, raw * 1e9 / (double)out_frames),
                  bench_fmt("%.2f", node / raw), "info (node / raw time)");
    for (size_t i = 0; i < n; i++) rm_frame_unref(fs[i]);
    free(fs);
    free(out);
}

/* Per-chunk cost: each 20 ms push timed on its own (node) next to the same
 * soxr_process() call (raw), over `seconds` of audio; p50 and p99 in µs. */
static void per_chunk(rm_runtime *rt, uint32_t rate, uint32_t target, int q, int ll, float *src, double seconds)
{
    size_t chunk = rate / 50, n;
    rm_frame **fs = make_chunks(src, (size_t)(rate * seconds), chunk, rate, &n);
    double *tn = malloc(n * sizeof *tn), *tr = malloc(n * sizeof *tr);
    float *out = malloc((chunk * 4 + 65536) * sizeof *out);
    counter c = {0};
    rm_session *s = open_session(rt, target, q, ll, &c);
    soxr_quality_spec_t qs = soxr_quality_spec(recipes[q], 0);
    soxr_runtime_spec_t rs = soxr_runtime_spec(1);
    if (ll) rs.log2_min_dft_size = rs.log2_large_dft_size = 8;
    soxr_t sx = soxr_create(rate, target, 1, NULL, NULL, &qs, &rs);
    for (size_t i = 0; i < n; i++) {
        double t0 = now_s();
        rm_session_push(s, fs[i]);
        double t1 = now_s();
        size_t idone, odone;
        soxr_process(sx, src + i * chunk, chunk, &idone, out, chunk * 4 + 65536, &odone);
        double t2 = now_s();
        tn[i] = (t1 - t0) * 1e6;
        tr[i] = (t2 - t1) * 1e6;
    }
    rm_session_end(s);
    rm_session_close(s);
    soxr_delete(sx);
    qsort(tn, n, sizeof *tn, cmp_d);
    qsort(tr, n, sizeof *tr, cmp_d);
    printf("| %u→%u | %-9s | %-3s | %6.2f | %6.2f | %6.2f | %6.2f |\n", rate, target, qualities[q], ll ? "on" : "off",
           tn[n / 2], tn[n * 99 / 100], tr[n / 2], tr[n * 99 / 100]);
    for (size_t i = 0; i < n; i++) rm_frame_unref(fs[i]);
    free(fs);
    free(tn);
    free(tr);
    free(out);
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    for (int i = 1; i < argc; i++) tables |= strcmp(argv[i], "--tables") == 0;
    const char *sec = bench_arg(argc, argv, "--seconds");
    double seconds = sec ? atof(sec) : quick ? 5 : 30;
    if (!(seconds >= 5)) seconds = 5;
    if (quick) RUNS = 3;
    rm_runtime *rt = bench_runtime();
    static const uint32_t rates[] = {48000, 44100};
    size_t max = (size_t)(48000 * seconds) + 48000;
    float *src = malloc(max * sizeof *src);
    srand(1);
    for (size_t i = 0; i < max; i++) /* speech-band tones plus a little noise */
        src[i] = (float)(0.3 * sin(2 * M_PI * 440 * (double)i / 48000) + 0.2 * sin(2 * M_PI * 3100 * (double)i / 48000) +
                         0.01 * ((double)rand() / RAND_MAX - 0.5));

    if (tables) {
        printf("Latency, 20 ms input chunks, 5 s (libsoxr %s)\n\n", soxr_version());
        printf("| conversion | quality | low_latency | held back mean ms | max ms | chunks without output |\n");
        printf("|---|---|---|---|---|---|\n");
        for (int r = 0; r < 2; r++)
            for (int ll = 0; ll < 2; ll++)
                for (int q = 0; q < 4; q++) latency(rt, rates[r], 16000, q, ll, src);
        printf("\nThroughput, %.0f s mono in 20 ms chunks, median of %d\n\n", seconds, RUNS);
        printf("| conversion | quality | low_latency | node × RT | node ns/out | raw soxr × RT | raw ns/out | node/raw |\n");
        printf("|---|---|---|---|---|---|---|---|\n");
    }
    for (int r = 0; r < 2; r++)
        for (int ll = 0; ll < 2; ll++)
            for (int q = 0; q < 4; q++) {
                bench_progress("bench_resample: %u Hz %s%s", rates[r], qualities[q], ll ? " low_latency" : "");
                throughput(rt, rates[r], 16000, q, ll, src, seconds);
            }
    bench_progress_done();
    if (tables) {
        printf("\nPer 20 ms chunk, %.0f s, µs on the calling thread\n\n", seconds);
        printf("| conversion | quality | low_latency | node p50 | node p99 | raw p50 | raw p99 |\n");
        printf("|---|---|---|---|---|---|---|\n");
        for (int ll = 0; ll < 2; ll++)
            for (int q = 0; q < 4; q++) per_chunk(rt, 48000, 16000, q, ll, src, seconds);
    }
    free(src);
    rm_runtime_free(rt);
    return 0;
}
