/*
 * bench_audio_cost — what format conversion and voice activity detection
 * cost, per sample and per frame (issue 3, benchmark 5).
 *
 *   bench_audio_cost [--quick] [--seconds S]
 *
 * Format conversion: rm__audio_convert() (the loop FormatConverter and every
 * audio node use: round to nearest even, clamp, NaN -> 0, clipped samples
 * counted) on a 4096-sample buffer that stays in cache, in ns per sample;
 * next to it, in the same run, the plain vectorised f32 -> s16 loop at the
 * SSE2 baseline (scale, cvtps2dq, packssdw: no NaN rule, no clip count) as
 * the reference.  The FormatConverter node in a session (metrics off) per
 * 20 ms chunk of 16 kHz stereo.
 *
 * VAD: the detector alone (rm__vad_dsp_frame, src/nodes/audio/vad_dsp.c) in
 * ns per analysis frame at 16 and 48 kHz, 10/20/30 ms frames, on a
 * speech-like test signal — a 150 Hz pulse train through two formant
 * resonators, gated on/off every 0.5 s, in white noise at 20 dB SNR — so
 * both the speech and the noise paths run.  Next to it, in the same run,
 * WebRTC's GMM VAD (WebRtcVad_Process, mode 3) on the same signal as s16,
 * when libwebrtc_audio_processing.so.1 is installed (Debian
 * libwebrtc-audio-processing1; loaded with dlopen, so it is optional).  The
 * VAD node in a session (metrics off, framing, downmix, state machine,
 * events, pass-through) per 20 ms chunk.
 *
 * Thread CPU time (CLOCK_THREAD_CPUTIME_ID): the cost, unaffected by other
 * processes taking the cores.  Median over rounds; the baseline runs in the
 * same round as ours.
 */
#include "bench.h"

#include <dlfcn.h>
#include <math.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../src/nodes/audio/audio_util.h"
#include "../src/nodes/audio/vad_dsp.h"

#define PI 3.14159265358979323846

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ------------------------------------------------------------ signal --- */

static float *make_signal(uint32_t rate, size_t n)
{
    float *x = malloc(n * sizeof *x);
    if (!x) abort();
    double y1[2] = {0}, y2[2] = {0};
    const double f[2] = {700, 1200}, bw[2] = {90, 110};
    uint32_t seed = 12345;
    for (size_t i = 0; i < n; i++) {
        double v = (i % (rate / 150) == 0) ? 1.0 : 0.0;
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

static void drop_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)user, (void)node_id, (void)port, (void)f;
}

/* ns per 20 ms chunk of a one-node session over `x` (rate, ch), metrics off. */
static double node_per_chunk(rm_runtime *rt, const char *manifest, const void *x, rm_sample_format fmt,
                             uint32_t rate, unsigned ch, size_t n)
{
    rm_graph *g = bench_graph(rt, manifest, "node.json");
    size_t chunk = rate / 50, chunks = n / chunk, bytes = rm_sample_format_size(fmt);
    rm_frame **in = malloc(chunks * sizeof *in);
    for (size_t c = 0; c < chunks; c++)
        in[c] = rm_frame_wrap_audio(fmt, rate, ch, chunk, (char *)x + c * chunk * ch * bytes, NULL, NULL);
    rm_session_opts so = {0};
    so.flags = RM_SESSION_NO_METRICS;
    so.on_output = drop_output;
    rm_session *s;
    rm_error err = {0};
    int rc = rm_session_open(g, &so, &s, &err);
    if (rc != 0) bench_die("rm_session_open", rc, &err);
    double t0 = cpu_ns();
    for (size_t c = 0; c < chunks; c++)
        if ((rc = rm_session_push(s, in[c])) != 0) bench_die("rm_session_push", rc, rm_session_error(s));
    if ((rc = rm_session_end(s)) != 0) bench_die("rm_session_end", rc, rm_session_error(s));
    double ns = (cpu_ns() - t0) / (double)chunks;
    rm_session_close(s);
    for (size_t c = 0; c < chunks; c++) rm_frame_unref(in[c]);
    free(in);
    rm_graph_unref(g);
    return ns;
}

/* -------------------------------------------------- format conversion --- */

/* The reference: the plain vectorised f32 -> s16 loop at the SSE2 baseline
 * (n a multiple of 8). */
static void ref_f32_to_s16(const float *s, int16_t *d, size_t n)
{
#if defined(__SSE2__)
    const __m128 scale = _mm_set1_ps(32768.0f);
    for (size_t i = 0; i < n; i += 8) {
        __m128i a = _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(s + i), scale));
        __m128i b = _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(s + i + 4), scale));
        _mm_storeu_si128((__m128i *)(void *)(d + i), _mm_packs_epi32(a, b));
    }
#else
    for (size_t i = 0; i < n; i++) {
        float y = s[i] * 32768.0f;
        d[i] = (int16_t)(y >= 32767.0f ? 32767 : y <= -32768.0f ? -32768 : lrintf(y));
    }
#endif
}

/* Tells the compiler that `p`'s memory is read and changed here, so a loop
 * that converts the same buffer again and again is not optimised away. */
#define CLOBBER(p) __asm__ __volatile__("" : : "r"(p) : "memory")

static void bench_conversion(rm_runtime *rt, int rounds)
{
    enum { N = 4096, REPS = 2000 };
    static float f[N], back[N];
    static int16_t s[N];
    for (int i = 0; i < N; i++) f[i] = (float)(0.9 * sin(2 * PI * 440.0 * i / 16000.0));
    double *ours = malloc((size_t)rounds * sizeof(double)), *ref = malloc((size_t)rounds * sizeof(double)),
           *up = malloc((size_t)rounds * sizeof(double));
    size_t sink = 0;
    for (int r = -1; r < rounds; r++) { /* round -1 warms up */
        double t0 = cpu_ns();
        for (int k = 0; k < REPS; k++) {
            sink += rm__audio_convert(f, RM_SAMPLE_F32, s, RM_SAMPLE_S16, N);
            CLOBBER(s);
        }
        double t1 = cpu_ns();
        for (int k = 0; k < REPS; k++) {
            ref_f32_to_s16(f, s, N);
            CLOBBER(s);
        }
        double t2 = cpu_ns();
        for (int k = 0; k < REPS; k++) {
            rm__audio_convert(s, RM_SAMPLE_S16, back, RM_SAMPLE_F32, N);
            CLOBBER(back);
        }
        double t3 = cpu_ns();
        sink += (size_t)s[r & 1023] + (size_t)(back[r & 1023] > 0);
        if (r < 0) continue;
        ours[r] = (t1 - t0) / ((double)REPS * N);
        ref[r] = (t2 - t1) / ((double)REPS * N);
        up[r] = (t3 - t2) / ((double)REPS * N);
    }
    double o = bench_median(ours, (size_t)rounds), b = bench_median(ref, (size_t)rounds);
    bench_row("f32 -> s16, rm__audio_convert (round, clamp, NaN, clip count), 4096 samples in cache",
              bench_fmt("%.3f ns/sample", o),
              bench_fmt("plain SSE2 loop (cvtps2dq, packssdw) %.3f ns/sample, same run; ~0.5 quoted", b),
              bench_fmt("%.2f", o / b), bench_verdict_vs(o, b));
    bench_row("s16 -> f32, rm__audio_convert, 4096 samples in cache",
              bench_fmt("%.3f ns/sample", bench_median(up, (size_t)rounds)), "-", "-", "info");

    /* the node: 10 s of 16 kHz stereo in 20 ms chunks */
    size_t frames = 16000 * 10;
    float *x = malloc(frames * 2 * sizeof *x);
    for (size_t i = 0; i < frames * 2; i++) x[i] = (float)(0.5 * sin(2 * PI * 440.0 * (double)(i / 2) / 16000.0));
    const char *m = "{\"version\":\"v1\",\"nodes\":[{\"id\":\"c\",\"node_type\":\"FormatConverter\","
                    "\"params\":{\"target_format\":\"s16\"}}],\"connections\":[]}";
    double *node = malloc((size_t)rounds * sizeof(double));
    for (int r = 0; r < rounds; r++) node[r] = node_per_chunk(rt, m, x, RM_SAMPLE_F32, 16000, 2, frames);
    double nc = bench_median(node, (size_t)rounds);
    bench_row("FormatConverter f32 -> s16 node, per 20 ms chunk of 16 kHz stereo (640 samples), metrics off",
              bench_fmt("%.0f ns (%.2f ns/sample)", nc, nc / 640.0),
              bench_fmt("the loop alone: %.0f ns", o * 640.0), bench_fmt("%.2f", nc / (o * 640.0)), "info");
    if (sink == 42) fputc(' ', stderr); /* keep the results alive */
    free(x);
    free(node);
    free(ours);
    free(ref);
    free(up);
}

/* --------------------------------------------------------------- VAD --- */

/* WebRTC's VAD, from libwebrtc_audio_processing.so.1 when installed.  Its
 * C API (webrtc/common_audio/vad/include/webrtc_vad.h; the Debian package
 * ships no header for it). */
typedef struct webrtc_vad {
    void *lib;
    void *(*create)(void);
    void (*free_)(void *);
    int (*init)(void *);
    int (*set_mode)(void *, int);
    int (*process)(void *, int, const int16_t *, size_t);
} webrtc_vad;

static int webrtc_load(webrtc_vad *w)
{
    memset(w, 0, sizeof *w);
    w->lib = dlopen("libwebrtc_audio_processing.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!w->lib) return -1;
    *(void **)&w->create = dlsym(w->lib, "WebRtcVad_Create");
    *(void **)&w->free_ = dlsym(w->lib, "WebRtcVad_Free");
    *(void **)&w->init = dlsym(w->lib, "WebRtcVad_Init");
    *(void **)&w->set_mode = dlsym(w->lib, "WebRtcVad_set_mode");
    *(void **)&w->process = dlsym(w->lib, "WebRtcVad_Process");
    if (!w->create || !w->free_ || !w->init || !w->set_mode || !w->process) {
        dlclose(w->lib);
        w->lib = NULL;
        return -1;
    }
    return 0;
}

/* ns per frame of WebRTC's VAD over `x` (s16), or -1 if it refuses. */
static double webrtc_per_frame(const webrtc_vad *w, const int16_t *x, size_t n, uint32_t rate, unsigned frame_ms,
                               size_t *speech)
{
    void *v = w->create();
    if (!v || w->init(v) != 0 || w->set_mode(v, 3) != 0) {
        if (v) w->free_(v);
        return -1;
    }
    size_t len = rate * frame_ms / 1000, frames = n / len;
    *speech = 0;
    double t0 = cpu_ns();
    for (size_t i = 0; i < frames; i++) {
        int r = w->process(v, (int)rate, x + i * len, len);
        if (r < 0) {
            w->free_(v);
            return -1;
        }
        *speech += (size_t)r;
    }
    double ns = (cpu_ns() - t0) / (double)frames;
    w->free_(v);
    return ns;
}

static double ours_per_frame(const float *x, size_t n, uint32_t rate, unsigned frame_ms, size_t *speech)
{
    rm__vad_dsp d;
    if (rm__vad_dsp_init(&d, rate, frame_ms, 5000, 1e-3) != 0) abort();
    size_t frames = n / d.n;
    rm__vad_result res;
    *speech = 0;
    double t0 = cpu_ns();
    for (size_t i = 0; i < frames; i++) {
        rm__vad_dsp_frame(&d, x + i * d.n, &res);
        *speech += res.prob >= 0.5f;
    }
    double ns = (cpu_ns() - t0) / (double)frames;
    rm__vad_dsp_free(&d);
    return ns;
}

static void bench_vad(rm_runtime *rt, int rounds, double seconds)
{
    webrtc_vad w;
    int have_webrtc = webrtc_load(&w) == 0;
    if (!have_webrtc)
        fprintf(stderr, "bench_audio_cost: libwebrtc_audio_processing.so.1 not found (Debian "
                        "libwebrtc-audio-processing1); no WebRTC VAD baseline\n");
    static const uint32_t rates[] = {16000, 48000};
    static const unsigned ms_list[2][3] = {{10, 20, 30}, {10, 30, 0}};
    double *o = malloc((size_t)rounds * sizeof(double)), *b = malloc((size_t)rounds * sizeof(double));
    for (int ri = 0; ri < 2; ri++) {
        uint32_t rate = rates[ri];
        size_t n = (size_t)(rate * seconds);
        float *x = make_signal(rate, n);
        int16_t *x16 = malloc(n * sizeof *x16);
        rm__audio_convert(x, RM_SAMPLE_F32, x16, RM_SAMPLE_S16, n);
        for (int mi = 0; mi < 3 && ms_list[ri][mi]; mi++) {
            unsigned ms = ms_list[ri][mi];
            size_t sp_o = 0, sp_b = 0, nb = 0;
            for (int r = 0; r < rounds; r++) {
                bench_progress("bench_audio_cost: VAD %u Hz %u ms, round %d/%d", rate, ms, r + 1, rounds);
                /* alternate which runs first */
                if (r & 1) o[r] = ours_per_frame(x, n, rate, ms, &sp_o);
                if (have_webrtc) {
                    double v = webrtc_per_frame(&w, x16, n, rate, ms, &sp_b);
                    if (v >= 0) b[nb++] = v;
                }
                if (!(r & 1)) o[r] = ours_per_frame(x, n, rate, ms, &sp_o);
            }
            bench_progress_done();
            double mo = bench_median(o, (size_t)rounds);
            size_t frames = n / (rate * ms / 1000);
            const char *what = bench_fmt("VAD detector (rm__vad_dsp_frame), %u kHz, %u ms frame", rate / 1000, ms);
            if (nb) {
                double mb = bench_median(b, nb);
                bench_row(what, bench_fmt("%.2f us/frame (%.1f ns/sample)", mo * 1e-3, mo / (rate * ms / 1000.0)),
                          bench_fmt("WebRTC GMM VAD %.2f us/frame, same run; ~1.2 us per 10 ms at 16k quoted", mb * 1e-3),
                          bench_fmt("%.2f", mo / mb), bench_verdict_vs(mo, mb));
            } else {
                bench_row(what, bench_fmt("%.2f us/frame (%.1f ns/sample)", mo * 1e-3, mo / (rate * ms / 1000.0)),
                          "WebRTC GMM VAD: n/a; ~1.2 us per 10 ms at 16k quoted", "-", "info");
            }
            fprintf(stderr, "bench_audio_cost: %u Hz %u ms: speech frames ours %zu/%zu, WebRTC %zu/%zu\n", rate, ms,
                    sp_o, frames, sp_b, frames);
        }
        /* the node per 20 ms chunk, 10 and 30 ms analysis frames */
        for (unsigned ms = 10; ms <= 30; ms += 20) {
            char m[256];
            snprintf(m, sizeof m,
                     "{\"version\":\"v1\",\"nodes\":[{\"id\":\"vad\",\"node_type\":\"VAD\",\"params\":{\"frame_ms\":%u}}],"
                     "\"connections\":[]}",
                     ms);
            for (int r = 0; r < rounds; r++) o[r] = node_per_chunk(rt, m, x, RM_SAMPLE_F32, rate, 1, n);
            bench_row(bench_fmt("  VAD node per 20 ms chunk, %u kHz mono, %u ms frames, metrics off", rate / 1000, ms),
                      bench_fmt("%.2f us", bench_median(o, (size_t)rounds) * 1e-3), "-", "-", "info");
        }
        free(x);
        free(x16);
    }
    free(o);
    free(b);
    if (have_webrtc) dlclose(w.lib);
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    const char *sec = bench_arg(argc, argv, "--seconds");
    double seconds = sec ? atof(sec) : quick ? 5.0 : 30.0;
    if (!(seconds >= 1)) seconds = 1;
    int rounds = quick ? 3 : 9;
    rm_runtime *rt = bench_runtime();
    bench_conversion(rt, rounds);
    bench_vad(rt, rounds, seconds);
    rm_runtime_free(rt);
    return 0;
}
