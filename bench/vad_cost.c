/*
 * Cost of the VAD per analysis frame, and of the node per 20 ms chunk.
 *
 *   build/release/bench/rm_bench_vad [seconds]
 *
 * Signal: 16 kHz (and 48 kHz) speech-like test signal — a 150 Hz pulse train
 * through two formant resonators, gated on/off every 0.5 s, plus white noise
 * at 20 dB SNR — so both the speech and the noise paths are exercised.
 * Prints the median over 7 runs of ns per analysis frame for the detector
 * alone (rm__vad_dsp_frame, the DSP in src/nodes/audio/vad_dsp.c) and of ns
 * per 20 ms chunk for the VAD node in a session (framing, downmix, state
 * machine, events, pass-through; metrics off).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/nodes/audio/vad_dsp.h"
#include "remotemedia/remotemedia.h"

#define RUNS 7
#define PI 3.14159265358979323846

/* CPU time of this thread: the cost, unaffected by other processes taking
 * the cores (the machine is shared). */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static float *make_signal(uint32_t rate, size_t n)
{
    float *x = malloc(n * sizeof *x);
    double y1[2] = {0}, y2[2] = {0};
    const double f[2] = {700, 1200}, bw[2] = {90, 110};
    uint32_t seed = 12345;
    for (size_t i = 0; i < n; i++) {
        double src = (i % (rate / 150) == 0) ? 1.0 : 0.0;
        double v = src;
        for (int k = 0; k < 2; k++) { /* two-pole resonator per formant */
            double r = exp(-PI * bw[k] / rate), c = 2 * r * cos(2 * PI * f[k] / rate);
            double out = v + c * y1[k] - r * r * y2[k];
            y2[k] = y1[k];
            y1[k] = out;
            v = out;
        }
        int on = (i / (rate / 2)) % 2;
        seed = seed * 1664525u + 1013904223u;
        double noise = ((seed >> 8) / 16777216.0 - 0.5) * 0.0035;
        x[i] = (float)(on * v * 0.002 + noise);
    }
    return x;
}

static void bench_dsp(uint32_t rate, unsigned frame_ms, double seconds)
{
    size_t n = (size_t)(rate * seconds);
    float *x = make_signal(rate, n);
    double ns[RUNS];
    size_t frames = 0;
    for (int r = 0; r < RUNS; r++) {
        rm__vad_dsp d;
        if (rm__vad_dsp_init(&d, rate, frame_ms, 5000, 1e-3) != 0) exit(1);
        rm__vad_result res;
        size_t speech = 0;
        frames = n / d.n;
        double t0 = now_ns();
        for (size_t i = 0; i + d.n <= n; i += d.n) {
            rm__vad_dsp_frame(&d, x + i, &res);
            speech += res.prob >= 0.5f;
        }
        ns[r] = (now_ns() - t0) / frames;
        if (r == 0 && speech == 0) fprintf(stderr, "warning: no speech frames\n");
        rm__vad_dsp_free(&d);
    }
    printf("detector  %6u Hz %2u ms frames: %8.0f ns/frame  (%5.1f ns/sample, %6.0fx real time)\n", rate,
           frame_ms, median(ns, RUNS), median(ns, RUNS) / (rate * frame_ms / 1000),
           frame_ms * 1e6 / median(ns, RUNS));
    free(x);
}

static void drop_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)user, (void)node_id, (void)port, (void)f;
}

static void bench_node(rm_runtime *rt, uint32_t rate, unsigned frame_ms, double seconds)
{
    size_t n = (size_t)(rate * seconds), chunk = rate / 50;
    float *x = make_signal(rate, n);
    char manifest[512];
    snprintf(manifest, sizeof manifest,
             "{\"version\":\"v1\",\"metadata\":{\"name\":\"vad\"},\"nodes\":[{\"id\":\"vad\",\"node_type\":\"VAD\","
             "\"params\":{\"frame_ms\":%u}}],\"connections\":[]}",
             frame_ms);
    rm_graph *g;
    rm_diags *d = rm_diags_new();
    if (rm_graph_load_string(rt, manifest, strlen(manifest), "bench", NULL, &g, d) != 0) exit(1);
    rm_diags_free(d);
    double ns[RUNS];
    size_t chunks = n / chunk;
    rm_frame **in = malloc(chunks * sizeof *in);
    for (size_t c = 0; c < chunks; c++)
        in[c] = rm_frame_wrap_audio(RM_SAMPLE_F32, rate, 1, chunk, x + c * chunk, NULL, NULL);
    for (int r = 0; r < RUNS; r++) {
        rm_session_opts so = {0};
        so.flags = RM_SESSION_NO_METRICS;
        so.on_output = drop_output;
        rm_session *s;
        rm_error err;
        if (rm_session_open(g, &so, &s, &err) != 0) exit(1);
        double t0 = now_ns();
        for (size_t c = 0; c < chunks; c++) rm_session_push(s, in[c]);
        rm_session_end(s);
        ns[r] = (now_ns() - t0) / chunks;
        rm_session_close(s);
    }
    printf("VAD node  %6u Hz %2u ms frames: %8.0f ns per 20 ms chunk (session push, pass-through, events)\n", rate,
           frame_ms, median(ns, RUNS));
    for (size_t c = 0; c < chunks; c++) rm_frame_unref(in[c]);
    free(in);
    rm_graph_unref(g);
    free(x);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 60.0;
    printf("VAD cost, median of %d runs over %.0f s of signal\n", RUNS, seconds);
    const uint32_t rates[] = {16000, 48000};
    for (size_t i = 0; i < 2; i++)
        for (unsigned ms = 10; ms <= 30; ms += 10) bench_dsp(rates[i], ms, seconds);
    rm_runtime *rt;
    rm_error err;
    if (rm_runtime_new(NULL, &rt, &err) != 0) return 1;
    for (size_t i = 0; i < 2; i++)
        for (unsigned ms = 10; ms <= 30; ms += 20) bench_node(rt, rates[i], ms, seconds);
    rm_runtime_free(rt);
    return 0;
}
