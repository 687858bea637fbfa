/*
 * bench_audio_chain — the seed's audio preprocessing benchmark, done honestly
 * (issue 3, benchmarks 1–3).
 *
 * Input: 10 s of stereo 44.1 kHz f32 audio (channel 1 = 0.5·sin(2π·440·t),
 * channel 2 = 0.5·sin(2π·554.37·t), t = linspace(0, 10, N) like the original
 * script, REFERENCE.md §8.1), interleaved.  The chain is
 * examples/preprocess.yaml: AudioResample (16 kHz, default quality high) →
 * VAD (30 ms frames) → FormatConverter (s16), the VAD's events to a sink.
 *
 *  1. Ours, through the executor (public API, default session options:
 *     metrics on, outputs to a callback), the whole 10 s pushed as one frame
 *     and as 500 chunks of 20 ms; one run = session open + pushes + end +
 *     close.  Against the Python baseline (bench/preprocess_baseline.py:
 *     numpy + scipy.signal.resample_poly, warm), run in a child process
 *     driven over a pipe so its runs interleave with ours.  Peak RSS growth
 *     of each side over its first run after set-up (VmHWM reset through
 *     /proc/self/clear_refs, minus VmRSS then).  The aliasing of an 8.5 kHz
 *     tone (44.1k and 48k → 16k, residual energy relative to the input) for
 *     AudioResample at its default quality and for resample_poly.
 *  2. The same work by direct calls on the same data: libsoxr
 *     (soxr_create/soxr_process with the node's quality, I/O and runtime
 *     specs, fed in the node's slices), the VAD's DSP (rm__vad_dsp_frame on
 *     the same downmix) and the same f32 → s16 conversion
 *     (rm__audio_convert), one call and 20 ms chunks; the median over rounds
 *     of executor time / direct time in the same round.  Also libsoxr alone
 *     (the bound on any speed-up over Python) and in one call over 10 s.
 *  3. Per 20 ms chunk on the calling thread: each rm_session_push() timed
 *     alone, next to a raw soxr_process() of the same chunk (same settings)
 *     and the direct chain on the same chunk, each as two identical
 *     instances in rotating order (see per_chunk: the smaller time of the
 *     two removes the machine's stalls); p50 and p99 per 10 s pass, median
 *     over passes.  For the stereo 44.1 kHz signal and for a mono 48 kHz
 *     one (a microphone), default resampler and low_latency.
 *
 * Throughput is CPU time (see "timing"), warm: after the cold first runs
 * the allocator keeps freed memory (see the mallopt() call).  Every timed
 * quantity is the median over rounds; the rounds rotate the order of
 * Python / ours / direct so none always runs first.  Before timing, a
 * verification run checks that the executor's s16 output (one frame and
 * chunks) is bit-identical to the direct calls' output.  RM_BENCH_VERBOSE=1
 * prints every round's CPU and wall times and page faults on stderr.
 *
 *   bench_audio_chain [--quick] [--python /usr/bin/python3]
 *                     [--script bench/preprocess_baseline.py] [--manifest examples/preprocess.yaml]
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/resource.h>
#include <sys/wait.h>

#include <soxr.h>

#include "../src/nodes/audio/audio_util.h"
#include "../src/nodes/audio/vad_dsp.h"

#ifndef RM_SOURCE_DIR
#define RM_SOURCE_DIR "."
#endif
#define PI 3.14159265358979323846

#define IN_RATE 44100u
#define OUT_RATE 16000u
#define SECONDS 10
#define VAD_MS 30u

/* ------------------------------------------------------------ memory --- */

static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    size_t len = strlen(field);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            v = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0).  0 on success. */
static int reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* ------------------------------------------------------------ timing --- */

/* Runs are timed in CPU time of the process (user + system, page faults
 * included): what the work costs.  On this shared 2-CPU VM wall time mostly
 * measures the other jobs (a run takes 4.5 ms or 12 ms depending on who
 * else has the CPU); it is recorded too (g_wall) and shown with
 * RM_BENCH_VERBOSE=1.  The Python child measures itself the same way
 * (time.process_time). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

typedef struct span {
    double cpu;
    uint64_t wall;
    long faults;
} span;

static double g_wall;  /* wall seconds of the last span_end() */
static long g_faults;  /* page faults (minor) of the last span */

static span span_start(void)
{
    span s = {cpu_s(), bench_now_ns(), minor_faults()};
    return s;
}

/* CPU seconds since `s`; the wall seconds go to g_wall. */
static double span_end(span s)
{
    g_wall = (double)(bench_now_ns() - s.wall) * 1e-9;
    g_faults = minor_faults() - s.faults;
    return cpu_s() - s.cpu;
}

/* ------------------------------------------------------------ signals --- */

/* The benchmark signal, interleaved stereo (or mono: channel 1 only). */
static float *make_input(unsigned channels, size_t n)
{
    float *x = malloc(n * channels * sizeof *x);
    if (!x) abort();
    for (size_t i = 0; i < n; i++) {
        double t = (double)SECONDS * (double)i / (double)(n - 1); /* numpy.linspace(0, 10, n) */
        x[i * channels] = (float)(0.5 * sin(2 * PI * 440.0 * t));
        if (channels == 2) x[i * channels + 1] = (float)(0.5 * sin(2 * PI * 554.37 * t));
    }
    return x;
}

/* ------------------------------------------------- output of the chain --- */

typedef struct sink {
    int verify;          /* hash the s16 output (verification runs only) */
    size_t frames;       /* s16 frames out */
    size_t events;       /* VAD events */
    uint64_t hash;       /* FNV-1a over the s16 samples, in order */
} sink;

static uint64_t fnv(uint64_t h, const int16_t *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n * sizeof *p; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}
#define FNV_START 14695981039346656037ull

static void on_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    (void)port;
    sink *k = user;
    if (f->kind == RM_FRAME_AUDIO) {
        k->frames += f->u.audio.frames;
        if (k->verify) k->hash = fnv(k->hash, f->u.audio.data, f->u.audio.frames * f->u.audio.channels);
    } else {
        k->events++;
    }
}

/* One run through the executor: open, push every frame, end, close. */
static double chain_run(rm_graph *g, rm_frame *const *frames, size_t n, sink *k)
{
    rm_session_opts o = {0};
    o.on_output = on_output;
    o.output_user = k;
    k->frames = k->events = 0;
    k->hash = FNV_START;
    rm_session *s;
    rm_error err = {0};
    span t = span_start();
    int rc = rm_session_open(g, &o, &s, &err);
    if (rc != 0) bench_die("rm_session_open", rc, &err);
    for (size_t i = 0; i < n; i++)
        if ((rc = rm_session_push(s, frames[i])) != 0) bench_die("rm_session_push", rc, rm_session_error(s));
    if ((rc = rm_session_end(s)) != 0) bench_die("rm_session_end", rc, rm_session_error(s));
    rm_session_close(s);
    return span_end(t);
}

/* ------------------------------------------------------ direct calls --- */

/* The chain's work done by direct library calls, as a hand-written C
 * program would: soxr with the node's settings, the VAD's DSP on the mean of
 * the channels, the library's f32 → s16 loop. */
typedef struct direct {
    soxr_t sx;
    unsigned ch;
    rm__vad_dsp vad;
    float *mono;
    unsigned fill;
    size_t speech;           /* analysis frames with probability >= 0.5 */
    float *out;              /* soxr output */
    size_t out_cap;          /* frames */
    int16_t *s16;
    size_t s16_cap, s16_len; /* samples; the one-call mode keeps the whole output */
    int keep;                /* append the s16 output (one call) or reuse a chunk buffer */
    int verify;
    uint64_t hash;
    size_t frames;
    uint64_t t_vad, t_conv; /* ns, when timing stages */
    int time_stages;
} direct;

static soxr_t make_soxr(uint32_t rate, unsigned ch, int low_latency)
{
    /* exactly the node's set-up (src/nodes/audio/resample.c, quality high) */
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t r = soxr_runtime_spec(1);
    if (low_latency) r.log2_min_dft_size = r.log2_large_dft_size = 8;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_error_t e = NULL;
    soxr_t sx = soxr_create(rate, OUT_RATE, ch, &e, &io, &q, &r);
    if (!sx) {
        fprintf(stderr, "bench_audio_chain: soxr_create: %s\n", e ? e : "?");
        exit(2);
    }
    return sx;
}

static void direct_open(direct *d, uint32_t rate, unsigned ch, size_t out_cap, int keep, int low_latency)
{
    memset(d, 0, sizeof *d);
    d->sx = make_soxr(rate, ch, low_latency);
    d->ch = ch;
    if (rm__vad_dsp_init(&d->vad, OUT_RATE, VAD_MS, 5000, 1e-3) != 0) abort(); /* the node's defaults */
    d->mono = malloc(d->vad.n * sizeof *d->mono);
    d->out_cap = out_cap;
    d->out = malloc(out_cap * ch * sizeof *d->out);
    d->keep = keep;
    d->hash = FNV_START;
    d->s16_cap = out_cap * ch; /* one call: room for the whole output, no realloc */
    d->s16 = malloc(d->s16_cap * sizeof *d->s16);
    if (!d->mono || !d->out || !d->s16) abort();
}

static void direct_close(direct *d)
{
    soxr_delete(d->sx);
    rm__vad_dsp_free(&d->vad);
    free(d->mono);
    free(d->out);
    free(d->s16);
}

/* VAD and conversion of one piece of resampled audio. */
static void direct_piece(direct *d, const float *p, size_t frames)
{
    if (frames == 0) return;
    const unsigned ch = d->ch, n = d->vad.n;
    const float scale = 1.0f / (float)ch;
    uint64_t t0 = d->time_stages ? bench_now_ns() : 0;
    for (size_t i = 0; i < frames;) {
        size_t k = n - d->fill < frames - i ? n - d->fill : frames - i;
        const float *q = p + i * ch;
        float *m = d->mono + d->fill;
        if (ch == 1) {
            memcpy(m, q, k * sizeof *m);
        } else {
            for (size_t j = 0; j < k; j++, q += ch) {
                float v = 0;
                for (unsigned c = 0; c < ch; c++) v += q[c];
                m[j] = v * scale;
            }
        }
        d->fill += (unsigned)k;
        i += k;
        if (d->fill == n) {
            rm__vad_result r;
            d->fill = 0;
            rm__vad_dsp_frame(&d->vad, d->mono, &r);
            d->speech += r.prob >= 0.5f;
        }
    }
    uint64_t t1 = d->time_stages ? bench_now_ns() : 0;
    size_t samples = frames * ch;
    size_t at = d->keep ? d->s16_len : 0;
    if (at + samples > d->s16_cap) {
        size_t cap = at + samples;
        int16_t *s = realloc(d->s16, cap * sizeof *s);
        if (!s) abort();
        d->s16 = s;
        d->s16_cap = cap;
    }
    rm__audio_convert(p, RM_SAMPLE_F32, d->s16 + at, RM_SAMPLE_S16, samples);
    d->s16_len = at + samples;
    if (d->verify) d->hash = fnv(d->hash, d->s16 + at, samples);
    d->frames += frames;
    if (d->time_stages) {
        uint64_t t2 = bench_now_ns();
        d->t_vad += t1 - t0;
        d->t_conv += t2 - t1;
    }
}

/* Input frames per soxr_process() call: the node's slices (resample.c).
 * One call over seconds of audio is several times slower (see the libsoxr
 * row); a careful direct caller slices too. */
static size_t slice_frames(unsigned ch)
{
    size_t s = 128u * 1024u / (ch * sizeof(float));
    return s > 256 ? s : 256;
}

/* Feeds `frames` input frames (NULL: end of stream, drains soxr). */
static void direct_feed(direct *d, const float *in, size_t frames)
{
    size_t done = 0, idone, odone;
    if (in) {
        const size_t slice = slice_frames(d->ch);
        do {
            size_t len = frames - done < slice ? frames - done : slice;
            soxr_error_t e = soxr_process(d->sx, in + done * d->ch, len, &idone, d->out, d->out_cap, &odone);
            if (e) abort();
            done += idone;
            direct_piece(d, d->out, odone);
        } while (done < frames || odone == d->out_cap);
    } else {
        do {
            if (soxr_process(d->sx, NULL, 0, NULL, d->out, d->out_cap, &odone)) abort();
            direct_piece(d, d->out, odone);
        } while (odone);
    }
}

/* One direct run over the input: as one call (chunk == n) or in chunks;
 * CPU seconds.  With stage_s, the VAD and conversion are timed apart (wall
 * clock reads per piece: for the breakdown only, not for the totals). */
static double direct_run(const float *in, uint32_t rate, unsigned ch, size_t n, size_t chunk, int verify,
                         uint64_t *hash, double stage_s[3])
{
    direct d;
    span t = span_start();
    int whole = chunk >= n;
    size_t cap = whole ? (size_t)ceil((double)n * OUT_RATE / rate) + 1024 : 4096;
    direct_open(&d, rate, ch, cap, whole, 0);
    d.verify = verify;
    d.time_stages = stage_s != NULL;
    for (size_t i = 0; i < n; i += chunk) direct_feed(&d, in + i * ch, i + chunk <= n ? chunk : n - i);
    direct_feed(&d, NULL, 0);
    direct_close(&d);
    double cpu = span_end(t);
    if (hash) *hash = d.hash;
    if (stage_s) {
        stage_s[1] = (double)d.t_vad * 1e-9;
        stage_s[2] = (double)d.t_conv * 1e-9;
        stage_s[0] = g_wall - stage_s[1] - stage_s[2];
    }
    return cpu;
}

/* libsoxr alone over the whole input: one soxr_process() call (sliced = 0)
 * or the node's slices; seconds. */
static double soxr_alone(const float *in, uint32_t rate, unsigned ch, size_t n, int sliced, float *out, size_t cap)
{
    span t = span_start();
    soxr_t sx = make_soxr(rate, ch, 0);
    size_t done = 0, got = 0, idone, odone, slice = sliced ? slice_frames(ch) : n;
    while (done < n) {
        size_t len = n - done < slice ? n - done : slice;
        if (soxr_process(sx, in + done * ch, len, &idone, out + got * ch, cap - got, &odone)) abort();
        done += idone;
        got += odone;
    }
    do {
        if (soxr_process(sx, NULL, 0, NULL, out + got * ch, cap - got, &odone)) abort();
        got += odone;
    } while (odone);
    soxr_delete(sx);
    return span_end(t);
}

/* ------------------------------------------------- the Python baseline --- */

typedef struct python {
    pid_t pid;
    FILE *to, *from;
    long rss_base_kib;
} python;

static int py_ask(python *p, const char *cmd, char *reply, size_t cap, const char *expect)
{
    if (!p->to) return -1;
    if (fprintf(p->to, "%s\n", cmd) < 0 || fflush(p->to) != 0) return -1;
    if (!fgets(reply, (int)cap, p->from)) return -1;
    size_t len = strlen(expect);
    if (strncmp(reply, expect, len) != 0 || reply[len] != ' ') {
        fprintf(stderr, "bench_audio_chain: python answered '%s' to '%s'\n", reply, cmd);
        return -1;
    }
    return 0;
}

static int py_start(python *p, const char *exe, const char *script)
{
    memset(p, 0, sizeof *p);
    int to[2], from[2];
    if (pipe(to) != 0) return -1;
    if (pipe(from) != 0) {
        close(to[0]);
        close(to[1]);
        return -1;
    }
    fflush(NULL);
    p->pid = fork();
    if (p->pid < 0) return -1;
    if (p->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        execl(exe, exe, script, (char *)NULL);
        fprintf(stderr, "bench_audio_chain: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    p->to = fdopen(to[1], "w");
    p->from = fdopen(from[0], "r");
    char line[256];
    if (!p->to || !p->from || !fgets(line, sizeof line, p->from) || strncmp(line, "ready ", 6) != 0) return -1;
    p->rss_base_kib = strtol(line + 6, NULL, 10);
    return 0;
}

static void py_stop(python *p)
{
    if (p->to) {
        fputs("quit\n", p->to);
        fclose(p->to);
    }
    if (p->from) fclose(p->from);
    if (p->pid > 0) waitpid(p->pid, NULL, 0);
    memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------- aliasing --- */

typedef struct collect {
    double sum_sq;
    size_t frames, skip, keep_until;
    size_t counted;
} collect;

static void on_alias_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    (void)port;
    collect *c = user;
    const float *x = f->u.audio.data;
    for (size_t i = 0; i < f->u.audio.frames; i++, c->frames++)
        if (c->frames >= c->skip && c->frames < c->keep_until) {
            c->sum_sq += (double)x[i] * x[i];
            c->counted++;
        }
}

/* Residual energy (dB relative to the input) of a 0.5-amplitude 8.5 kHz
 * tone resampled from `rate` to 16 kHz by AudioResample at its default
 * quality; 200 ms at each edge excluded. */
static double alias_db(rm_runtime *rt, uint32_t rate)
{
    const char *m = "{\"version\":\"v1\",\"nodes\":[{\"id\":\"r\",\"node_type\":\"AudioResample\","
                    "\"params\":{\"target_rate\":16000}}],\"connections\":[]}";
    rm_graph *g = bench_graph(rt, m, "alias.json");
    size_t n = (size_t)rate * 2;
    float *x = malloc(n * sizeof *x);
    if (!x) abort();
    double e_in = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(0.5 * sin(2 * PI * 8500.0 * (double)i / rate));
        e_in += (double)x[i] * x[i];
    }
    e_in /= (double)n;
    collect c = {.skip = OUT_RATE / 5, .keep_until = 2 * OUT_RATE - OUT_RATE / 5};
    rm_frame *f = rm_frame_wrap_audio(RM_SAMPLE_F32, rate, 1, n, x, NULL, NULL);
    rm_session_opts o = {0};
    o.on_output = on_alias_output;
    o.output_user = &c;
    rm_session *s;
    rm_error err = {0};
    int rc = rm_session_open(g, &o, &s, &err);
    if (rc != 0) bench_die("rm_session_open", rc, &err);
    if (rm_session_push(s, f) != 0 || rm_session_end(s) != 0) bench_die("alias run", -1, rm_session_error(s));
    rm_session_close(s);
    rm_frame_unref(f);
    rm_graph_unref(g);
    free(x);
    double e_out = c.counted ? c.sum_sq / (double)c.counted : 0;
    return 10 * log10((e_out > 1e-30 ? e_out : 1e-30) / e_in);
}

/* ------------------------------------------------------ per-chunk latency --- */

/* Chunks at the start of each pass left out of the percentiles: the first
 * push designs the filter (soxr_create, the VAD's set-up) and the first
 * outputs touch fresh memory; reported apart as "start-up". */
#define WARM_CHUNKS 10

/* Each of the three (chain, raw soxr, direct chain) runs twice, as two
 * identical instances fed the same chunks: they do the same work at every
 * chunk (soxr's block pattern included), so the smaller of the two times
 * is that work without the machine's stalls — this VM stops a running
 * thread for ~50 µs every few ms (measured on raw soxr_process() calls, in
 * wall and CPU time alike), which a ~10 µs call catches often enough to
 * set p99 by itself.  Both are reported: instance A alone (what a stream
 * sees here) and the filtered series (what the code costs). */
typedef struct latency {
    double p50[3], p99[3];   /* instance A: chain, raw soxr, direct; µs; median over passes */
    double p50f[3], p99f[3]; /* min of the two instances per chunk */
    double startup;          /* chain A: slowest of the first WARM_CHUNKS pushes, median over passes */
} latency;

static void raw_chunk(soxr_t raw, const float *p, size_t chunk, unsigned ch, float *out)
{
    size_t idone, odone, done = 0;
    do {
        soxr_process(raw, p + done * ch, chunk - done, &idone, out, 4096, &odone);
        done += idone;
    } while (done < chunk || odone == 4096);
}

static latency per_chunk(rm_graph *g, const float *in, uint32_t rate, unsigned ch, size_t n, int passes, int ll)
{
    size_t chunk = rate / 50, chunks = n / chunk, steady = chunks - WARM_CHUNKS;
    rm_frame **fs = malloc(chunks * sizeof *fs);
    double *t[6], *f = malloc(steady * sizeof(double)), *q[4][3], *start = malloc((size_t)passes * sizeof(double));
    for (int k = 0; k < 6; k++) t[k] = malloc(chunks * sizeof(double));
    for (int k = 0; k < 4; k++)
        for (int w = 0; w < 3; w++) q[k][w] = malloc((size_t)passes * sizeof(double));
    for (size_t i = 0; i < chunks; i++)
        fs[i] = rm_frame_wrap_audio(RM_SAMPLE_F32, rate, ch, chunk, (void *)(in + i * chunk * ch), NULL, NULL);
    float *raw_out = malloc(4096 * ch * sizeof *raw_out);
    for (int pass = 0; pass < passes; pass++) {
        bench_progress("bench_audio_chain: per-chunk latency %u Hz x%u%s, pass %d/%d", rate, ch,
                       ll ? " low_latency" : "", pass + 1, passes);
        sink k = {0};
        rm_session_opts o = {0};
        o.on_output = on_output;
        o.output_user = &k;
        rm_session *s[2];
        soxr_t raw[2];
        direct d[2];
        rm_error err = {0};
        for (int x = 0; x < 2; x++) {
            int rc = rm_session_open(g, &o, &s[x], &err);
            if (rc != 0) bench_die("rm_session_open", rc, &err);
            raw[x] = make_soxr(rate, ch, ll);
            direct_open(&d[x], rate, ch, 4096, 0, ll);
        }
        for (size_t i = 0; i < chunks; i++) {
            const float *p = in + i * chunk * ch;
            for (int j = 0; j < 6; j++) { /* rotate the order so none always goes first */
                int which = (int)((i + (size_t)j) % 6), x = which & 1;
                uint64_t t0 = bench_now_ns();
                switch (which >> 1) {
                case 0: {
                    int rc = rm_session_push(s[x], fs[i]);
                    if (rc != 0) bench_die("rm_session_push", rc, rm_session_error(s[x]));
                    break;
                }
                case 1: raw_chunk(raw[x], p, chunk, ch, raw_out); break;
                default: direct_feed(&d[x], p, chunk); break;
                }
                t[which][i] = (double)(bench_now_ns() - t0) * 1e-3;
            }
        }
        for (int x = 0; x < 2; x++) {
            rm_session_end(s[x]);
            rm_session_close(s[x]);
            soxr_delete(raw[x]);
            direct_close(&d[x]);
        }
        start[pass] = 0;
        for (size_t i = 0; i < WARM_CHUNKS; i++) start[pass] = t[0][i] > start[pass] ? t[0][i] : start[pass];
        for (int w = 0; w < 3; w++) {
            const double *a = t[2 * w] + WARM_CHUNKS, *b = t[2 * w + 1] + WARM_CHUNKS;
            for (size_t i = 0; i < steady; i++) f[i] = a[i] < b[i] ? a[i] : b[i];
            q[0][w][pass] = bench_quantile(a, steady, 0.50);
            q[1][w][pass] = bench_quantile(a, steady, 0.99);
            q[2][w][pass] = bench_quantile(f, steady, 0.50);
            q[3][w][pass] = bench_quantile(f, steady, 0.99);
        }
    }
    bench_progress_done();
    latency L;
    L.startup = bench_median(start, (size_t)passes);
    for (int w = 0; w < 3; w++) {
        L.p50[w] = bench_median(q[0][w], (size_t)passes);
        L.p99[w] = bench_median(q[1][w], (size_t)passes);
        L.p50f[w] = bench_median(q[2][w], (size_t)passes);
        L.p99f[w] = bench_median(q[3][w], (size_t)passes);
    }
    for (int k = 0; k < 6; k++) free(t[k]);
    for (int k = 0; k < 4; k++)
        for (int w = 0; w < 3; w++) free(q[k][w]);
    free(f);
    free(start);
    for (size_t i = 0; i < chunks; i++) rm_frame_unref(fs[i]);
    free(fs);
    free(raw_out);
    return L;
}

/* examples/preprocess.yaml with low_latency: true on the resampler. */
static const char low_latency_manifest[] =
    "{\"version\":\"v1\",\"metadata\":{\"name\":\"preprocess-low-latency\"},\"nodes\":["
    "{\"id\":\"resample\",\"node_type\":\"AudioResample\",\"params\":{\"target_rate\":16000,\"low_latency\":true}},"
    "{\"id\":\"vad\",\"node_type\":\"VAD\",\"params\":{\"frame_ms\":30}},"
    "{\"id\":\"to_s16\",\"node_type\":\"FormatConverter\",\"params\":{\"target_format\":\"s16\"}},"
    "{\"id\":\"events\",\"node_type\":\"PassThrough\"}],\"connections\":["
    "{\"from\":\"resample\",\"to\":\"vad\"},{\"from\":\"vad\",\"to\":\"to_s16\"},"
    "{\"from\":\"vad.events\",\"to\":\"events\"}]}";

/* ------------------------------------------------------------------ main --- */

enum { PY, CHAIN_ONE, CHAIN_CHUNKS, DIRECT_ONE, DIRECT_CHUNKS, SOXR_SLICED, SOXR_ONE, N_KINDS };

/* Median of the values of v[0..n) that are not NaN (NaN if none). */
static double median_valid(const double *v, size_t n)
{
    double *c = malloc((n ? n : 1) * sizeof *c);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i])) c[k++] = v[i];
    double m = k ? bench_median(c, k) : NAN;
    free(c);
    return m;
}

/* Median over rounds of a[r] / b[r]: each ratio compares two runs made
 * next to each other, so load drifts between rounds cancel. */
static double median_ratio(const double *a, const double *b, size_t n)
{
    double *q = malloc((n ? n : 1) * sizeof *q);
    for (size_t i = 0; i < n; i++) q[i] = a[i] / b[i]; /* NaN if either is */
    double m = median_valid(q, n);
    free(q);
    return m;
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    const char *python_exe = bench_arg(argc, argv, "--python");
    const char *script = bench_arg(argc, argv, "--script");
    const char *manifest = bench_arg(argc, argv, "--manifest");
    if (!script) script = RM_SOURCE_DIR "/bench/preprocess_baseline.py";
    if (!manifest) manifest = RM_SOURCE_DIR "/examples/preprocess.yaml";
    const int warmup = quick ? 1 : 3, rounds = quick ? 3 : 31, passes = quick ? 2 : 15;

    const size_t n = (size_t)IN_RATE * SECONDS, chunk = IN_RATE / 50, chunks = n / chunk;
    float *in = make_input(2, n);
    rm_frame *whole = rm_frame_wrap_audio(RM_SAMPLE_F32, IN_RATE, 2, n, in, NULL, NULL);
    rm_frame **parts = malloc(chunks * sizeof *parts);
    if (!whole || !parts) abort();
    for (size_t i = 0; i < chunks; i++)
        parts[i] = rm_frame_wrap_audio(RM_SAMPLE_F32, IN_RATE, 2, chunk, in + i * chunk * 2, NULL, NULL);

    rm_runtime *rt = bench_runtime();
    rm_diags *diags = rm_diags_new();
    rm_graph *g = NULL;
    int rc = rm_graph_load_file(rt, manifest, NULL, &g, diags);
    if (rc != 0) {
        char *s = rm_diags_to_string(diags);
        fprintf(stderr, "bench_audio_chain: %s does not compile:\n%s", manifest, s ? s : "");
        free(s);
        return 2;
    }
    rm_diags_free(diags);

    /* 1. memory: each mode's first run after set-up, ours first (so the
     *    Python child and the timing runs do not touch our peak) */
    sink k = {0};
    long c_base = status_kib("VmRSS"), growth[2] = {-1, -1};
    double first_cpu[2];
    int can_reset = reset_peak() == 0;
    long b = status_kib("VmRSS");
    first_cpu[1] = chain_run(g, parts, chunks, &k);
    growth[1] = status_kib("VmHWM") - b;
    reset_peak();
    b = status_kib("VmRSS");
    first_cpu[0] = chain_run(g, &whole, 1, &k);
    growth[0] = status_kib("VmHWM") - b;
    if (!can_reset) {
        fprintf(stderr, "bench_audio_chain: /proc/self/clear_refs not writable; no RSS growth\n");
        growth[0] = growth[1] = -1;
    }

    /* verification: the executor's output equals the direct calls' */
    uint64_t h_chain[2], h_direct[2];
    size_t events[2], out_frames[2];
    k.verify = 1;
    chain_run(g, &whole, 1, &k);
    h_chain[0] = k.hash, events[0] = k.events, out_frames[0] = k.frames;
    chain_run(g, parts, chunks, &k);
    h_chain[1] = k.hash, events[1] = k.events, out_frames[1] = k.frames;
    k.verify = 0;
    direct_run(in, IN_RATE, 2, n, n, 1, &h_direct[0], NULL);
    direct_run(in, IN_RATE, 2, n, chunk, 1, &h_direct[1], NULL);
    if (h_chain[0] != h_direct[0] || h_chain[1] != h_direct[1] || out_frames[0] != out_frames[1]) {
        fprintf(stderr, "bench_audio_chain: outputs differ (executor %016llx/%016llx, direct %016llx/%016llx)\n",
                (unsigned long long)h_chain[0], (unsigned long long)h_chain[1], (unsigned long long)h_direct[0],
                (unsigned long long)h_direct[1]);
        return 1;
    }
    fprintf(stderr, "bench_audio_chain: verified: %zu s16 frames out, identical through the executor (one frame, "
                    "chunks) and by direct calls; %zu/%zu VAD events\n",
            out_frames[0], events[0], events[1]);

#ifdef __GLIBC__
    /* From here on, freed memory stays with the process.  glibc otherwise
     * gives the top of the heap back to the kernel whenever a free leaves
     * more than ~2x the largest recent block there, so each kind of run
     * below (one big soxr call allocates 3.5 MB) trims memory the next one
     * faults back in, and a page fault costs ~11 us on this VM: fresh 2 MB
     * cost 5.6 ms, more than the chain's work, landing on whichever run
     * comes next.  Warm, every run here reuses its memory — like each
     * process that runs one workload over and over (the Python child).
     * The first runs above are the cold numbers. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif

    python py = {0};
    int have_py = 0;
    if (python_exe) {
        have_py = py_start(&py, python_exe, script) == 0;
        if (!have_py) {
            fprintf(stderr, "bench_audio_chain: %s %s did not start (numpy/scipy missing?); no Python baseline\n",
                    python_exe, script);
            py_stop(&py);
        }
    }

    /* timed rounds, rotating order; NaN where a kind did not run */
    size_t cap_sx = (size_t)ceil((double)n * OUT_RATE / IN_RATE) + 1024;
    float *sx_out = malloc(cap_sx * 2 * sizeof *sx_out);
    double *t[N_KINDS], *w[N_KINDS], *pf[N_KINDS], *py_stage[3];
    for (int i = 0; i < N_KINDS; i++) {
        t[i] = malloc((size_t)rounds * sizeof(double));
        w[i] = malloc((size_t)rounds * sizeof(double));
        pf[i] = malloc((size_t)rounds * sizeof(double));
    }
    for (int i = 0; i < 3; i++) py_stage[i] = malloc((size_t)rounds * sizeof(double));
    if (!sx_out) abort();
    char line[512];
    double py_first = NAN; /* the child's first run: cold, like first_cpu */
    for (int r = -warmup; r < rounds; r++) {
        bench_progress("bench_audio_chain: round %d/%d", r + warmup + 1, rounds + warmup);
        for (int j = 0; j < N_KINDS; j++) {
            int kind = (j + (r + warmup)) % N_KINDS;
            double v = NAN, st[5] = {NAN, NAN, NAN, NAN, NAN};
            g_wall = NAN;
            g_faults = -1;
            switch (kind) {
            case PY:
                if (have_py && py_ask(&py, "run", line, sizeof line, "time") == 0) {
                    if (sscanf(line + 5, "%lf %lf %lf %lf %lf", &st[0], &st[1], &st[2], &st[3], &st[4]) == 5) {
                        v = st[0];
                        g_wall = st[4];
                        if (isnan(py_first)) py_first = v;
                    }
                } else if (have_py) {
                    fprintf(stderr, "bench_audio_chain: the Python baseline stopped answering\n");
                    py_stop(&py);
                    have_py = 0;
                }
                if (r >= 0)
                    for (int i = 0; i < 3; i++) py_stage[i][r] = st[i + 1];
                break;
            case CHAIN_ONE: v = chain_run(g, &whole, 1, &k); break;
            case CHAIN_CHUNKS: v = chain_run(g, parts, chunks, &k); break;
            case DIRECT_ONE: v = direct_run(in, IN_RATE, 2, n, n, 0, NULL, NULL); break;
            case DIRECT_CHUNKS: v = direct_run(in, IN_RATE, 2, n, chunk, 0, NULL, NULL); break;
            case SOXR_SLICED: v = soxr_alone(in, IN_RATE, 2, n, 1, sx_out, cap_sx); break;
            case SOXR_ONE: v = soxr_alone(in, IN_RATE, 2, n, 0, sx_out, cap_sx); break;
            }
            if (r >= 0) {
                t[kind][r] = v;
                w[kind][r] = g_wall;
                pf[kind][r] = (double)g_faults;
            }
        }
    }
    bench_progress_done();
    free(sx_out);
    if (getenv("RM_BENCH_VERBOSE")) /* every round's times, for looking into noise */
        for (int r = 0; r < rounds; r++) {
            fprintf(stderr, "round %2d CPU (wall) ms [page faults]:", r);
            for (int i = 0; i < N_KINDS; i++)
                fprintf(stderr, " %6.2f (%6.2f) [%4.0f]", t[i][r] * 1e3, w[i][r] * 1e3, pf[i][r]);
            fprintf(stderr, "  [python, chain 1, chain 20ms, direct 1, direct 20ms, soxr sliced, soxr 1]\n");
        }
    /* where the direct calls' time goes (apart: the clock reads would
     * weigh on the totals above) */
    double d_stage[3][5];
    for (int r = 0; r < 5; r++) {
        double st[3];
        direct_run(in, IN_RATE, 2, n, n, 0, NULL, st);
        for (int i = 0; i < 3; i++) d_stage[i][r] = st[i];
    }

    long py_growth = -1, py_base = -1;
    double py_alias[2] = {NAN, NAN};
    if (have_py) {
        if (py_ask(&py, "rss", line, sizeof line, "rss") == 0) sscanf(line + 4, "%ld %ld", &py_base, &py_growth);
        if (py_ask(&py, "alias 44100", line, sizeof line, "alias") == 0) py_alias[0] = atof(line + 6);
        if (py_ask(&py, "alias 48000", line, sizeof line, "alias") == 0) py_alias[1] = atof(line + 6);
        py_stop(&py);
    }
    double our_alias[2] = {alias_db(rt, 44100), alias_db(rt, 48000)};

    /* 3. per-chunk latency: the benchmark signal, then a mono 48 kHz
     *    microphone; the default resampler, then low_latency */
    rm_graph *g_ll = bench_graph(rt, low_latency_manifest, "preprocess-low-latency.json");
    float *mic = make_input(1, 48000 * SECONDS);
    latency L[2][2];
    for (int ll = 0; ll < 2; ll++) {
        L[ll][0] = per_chunk(ll ? g_ll : g, in, IN_RATE, 2, n, passes, ll);
        L[ll][1] = per_chunk(ll ? g_ll : g, mic, 48000, 1, 48000 * SECONDS, passes, ll);
    }
    free(mic);
    rm_graph_unref(g_ll);

    /* ------------------------------------------------------------ rows --- */
    const size_t R = (size_t)rounds;
    double med[N_KINDS];
    for (int i = 0; i < N_KINDS; i++) med[i] = median_valid(t[i], R);
    const int have_py_times = !isnan(med[PY]);
    static const char *const mode[2] = {"one 10 s frame", "500 chunks of 20 ms"};
    for (int m = 0; m < 2; m++) {
        int kind = m ? CHAIN_CHUNKS : CHAIN_ONE;
        double ours = med[kind];
        const char *base = "n/a (no /usr/bin/python3 with numpy + scipy)", *ratio = "-", *verdict = "info";
        if (have_py_times) {
            double q = median_ratio(t[kind], t[PY], R), speed = 1.0 / q;
            base = bench_fmt("Python numpy+scipy, warm: %.2f ms (same rounds)", med[PY] * 1e3);
            ratio = bench_fmt("%.3f", q);
            verdict = bench_fmt("%.1fx faster (target >= 3x): %s", speed, speed >= 3 ? "meets target" : "MISSES target");
        }
        bench_row(bench_fmt("preprocess 10 s stereo 44.1k -> 16k -> VAD 30 ms -> s16, executor, %s", mode[m]),
                  bench_fmt("%.2f ms (%.0fx real time)", ours * 1e3, SECONDS / ours), base, ratio, verdict);
    }
    bench_row("  cold: first run after set-up (page faults, lazy set-up), 20 ms chunks / one frame",
              bench_fmt("%.2f / %.2f ms", first_cpu[1] * 1e3, first_cpu[0] * 1e3),
              isnan(py_first) ? "n/a" : bench_fmt("Python first run %.2f ms", py_first * 1e3),
              isnan(py_first) ? "-" : bench_fmt("%.3f / %.3f", first_cpu[1] / py_first, first_cpu[0] / py_first),
              "info (first runs; the chunked one is the process's first)");
    bench_row("  wall clock, same rounds: executor one frame / 20 ms chunks",
              bench_fmt("%.2f / %.2f ms", median_valid(w[CHAIN_ONE], R) * 1e3, median_valid(w[CHAIN_CHUNKS], R) * 1e3),
              have_py_times ? bench_fmt("Python %.2f ms", median_valid(w[PY], R) * 1e3) : "n/a",
              have_py_times ? bench_fmt("%.3f / %.3f", median_ratio(w[CHAIN_ONE], w[PY], R),
                                        median_ratio(w[CHAIN_CHUNKS], w[PY], R))
                            : "-",
              "info (wall time includes the other jobs' share of the CPUs)");
    if (have_py_times)
        bench_row("  Python stages: resample_poly / RMS-energy VAD / to int16",
                  bench_fmt("%.2f / %.3f / %.3f ms", median_valid(py_stage[0], R) * 1e3,
                            median_valid(py_stage[1], R) * 1e3, median_valid(py_stage[2], R) * 1e3),
                  "-", "-", "info");
    bench_row("  direct calls, one call: libsoxr / VAD DSP (downmix + detector) / f32->s16 (wall, 5 runs)",
              bench_fmt("%.2f / %.3f / %.3f ms", bench_median(d_stage[0], 5) * 1e3, bench_median(d_stage[1], 5) * 1e3,
                        bench_median(d_stage[2], 5) * 1e3),
              "-", "-", "info");
    if (have_py_times) {
        double q = median_ratio(t[SOXR_SLICED], t[PY], R);
        bench_row("  bound: libsoxr alone (sliced), no VAD, no conversion", bench_fmt("%.2f ms", med[SOXR_SLICED] * 1e3),
                  bench_fmt("Python, the whole chain: %.2f ms", med[PY] * 1e3), bench_fmt("%.3f", q),
                  bench_fmt("info: at most %.1fx faster with a free VAD and conversion", 1.0 / q));
    }
    for (int m = 0; m < 2; m++) {
        if (growth[m] < 0) continue;
        double mb = (double)growth[m] / 1024.0;
        const char *base = bench_fmt("target <= 5 MB; Python first run: %s",
                                     py_growth >= 0 ? bench_fmt("%.1f MB", (double)py_growth / 1024.0) : "n/a");
        bench_row(bench_fmt("  peak RSS growth, first run, %s", mode[m]), bench_fmt("%.2f MB", mb), base,
                  bench_fmt("%.2f", mb / 5.0), mb <= 5.0 ? "meets target" : "MISSES target");
    }
    bench_row("  process RSS after set-up (input, runtime, graph / imports, input)",
              bench_fmt("%.1f MB", (double)c_base / 1024.0),
              py_base >= 0 ? bench_fmt("Python %.1f MB", (double)py_base / 1024.0) : "n/a", "-", "info");
    static const char *const conv[2] = {"44.1k", "48k"};
    for (int i = 0; i < 2; i++) {
        bench_row(bench_fmt("aliasing of an 8.5 kHz tone, %s -> 16k (residual / input energy)", conv[i]),
                  bench_fmt("%.1f dB (AudioResample, default high)", our_alias[i]),
                  isnan(py_alias[i]) ? "n/a" : bench_fmt("scipy resample_poly %.1f dB", py_alias[i]),
                  isnan(py_alias[i]) ? "-" : bench_fmt("%+.0f dB", our_alias[i] - py_alias[i]), "info (lower is better)");
    }
    for (int m = 0; m < 2; m++) {
        int ck = m ? CHAIN_CHUNKS : CHAIN_ONE, dk = m ? DIRECT_CHUNKS : DIRECT_ONE;
        double q = median_ratio(t[ck], t[dk], R);
        bench_row(bench_fmt("executor chain / direct library calls, %s", mode[m]), bench_fmt("%.2f ms", med[ck] * 1e3),
                  bench_fmt("direct soxr + VAD DSP + convert: %.2f ms; target ratio <= 1.1", med[dk] * 1e3),
                  bench_fmt("%.3f", q), q <= 1.1 ? "meets target" : "MISSES target");
    }
    bench_row("  libsoxr alone, 10 s stereo 44.1k -> 16k in one soxr_process() call",
              bench_fmt("%.2f ms", med[SOXR_ONE] * 1e3),
              bench_fmt("in the node's 128 KB slices: %.2f ms", med[SOXR_SLICED] * 1e3),
              bench_fmt("%.2f", median_ratio(t[SOXR_ONE], t[SOXR_SLICED], R)), "info (why AudioResample slices)");
    static const char *const sig[2] = {"44.1k stereo", "48k mono"};
    for (int ll = 0; ll < 2; ll++)
        for (int i = 0; i < 2; i++) {
            const latency *l = &L[ll][i];
            char what[64]; /* bench_fmt's buffers rotate: keep this one */
            snprintf(what, sizeof what, "%s%s", sig[i], ll ? ", low_latency" : "");
            bench_row(bench_fmt("per 20 ms chunk, resample -> VAD -> s16 (%s), p50", what),
                      bench_fmt("%.2f us", l->p50[0]),
                      bench_fmt("raw libsoxr %.2f us; direct calls %.2f us", l->p50[1], l->p50[2]),
                      bench_fmt("%.2f", l->p50[0] / l->p50[2]), "info (ratio vs direct calls)");
            bench_row(bench_fmt("per 20 ms chunk, resample -> VAD -> s16 (%s), p99, machine stalls filtered", what),
                      bench_fmt("%.2f us", l->p99f[0]),
                      bench_fmt("target <= 15 us; raw libsoxr %.2f us; direct calls %.2f us", l->p99f[1], l->p99f[2]),
                      bench_fmt("%.2f", l->p99f[0] / 15.0), l->p99f[0] <= 15.0 ? "meets target" : "MISSES target");
            bench_row(bench_fmt("  p99 as measured, stalls included (%s)", what), bench_fmt("%.2f us", l->p99[0]),
                      bench_fmt("raw libsoxr %.2f us; direct calls %.2f us", l->p99[1], l->p99[2]),
                      bench_fmt("%.2f", l->p99[0] / l->p99[2]), "info (ratio vs direct calls)");
            bench_row(bench_fmt("  start-up: slowest of the first %d chunks (%s)", WARM_CHUNKS, what),
                      bench_fmt("%.1f us", l->startup), "-", "-", "info (filter design on the first push)");
        }

    for (int i = 0; i < N_KINDS; i++) free(t[i]), free(w[i]), free(pf[i]);
    for (int i = 0; i < 3; i++) free(py_stage[i]);
    for (size_t i = 0; i < chunks; i++) rm_frame_unref(parts[i]);
    free(parts);
    rm_frame_unref(whole);
    rm_graph_unref(g);
    rm_runtime_free(rt);
    free(in);
    return 0;
}
