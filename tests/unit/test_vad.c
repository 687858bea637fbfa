/*
 * VAD node: detection quality on synthesised speech in white and pink noise
 * (fixed thresholds), streaming behaviour, aliases and bad input.
 *
 * The test audio is built at test time by tests/audio/gen_vad_audio.py
 * (flite / espeak-ng sentences with known silences; labels from the clean
 * signal; see that file).  Thresholds:
 *   frame-level F1 >= 0.90 at 20 dB SNR, >= 0.80 at 10 dB (white and pink);
 *   reported start/end within 60 ms of the true utterance bounds (every
 *   utterance; they are >= 300 ms apart), at 20 and 30 ms frames and at
 *   10 ms frames at 20 dB; at 10 ms frames and 10 dB within 80 ms;
 *   no start event at all on noise alone (39 s of each generated noise at
 *   every frame size, 5 minutes of white noise at 10 ms frames, and the
 *   noise 20 dB louder), nor on digital silence or sub-threshold hiss.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "vad_common.h"

static rm_runtime *rt;
static vt_truth truth, truth8;
static int have_audio;

/* ------------------------------------------------------------- quality --- */

typedef struct condition {
    const char *name;
    uint32_t rate;
    const vt_truth *truth;
    double min_f1;
    rm_sample_format fmt;
    uint32_t channels;
} condition;

static void check_condition(const condition *c, unsigned frame_ms, double max_err)
{
    vt_audio a;
    if (vt_load(c->name, c->rate, &a) != 0) {
        CHECK(!"test audio missing");
        return;
    }
    char params[64];
    snprintf(params, sizeof params, "{\"frame_ms\": %u}", frame_ms);
    vt_segs s;
    int rc = vt_run_vad(rt, "VAD", params, &a, 20, 1, c->fmt, c->channels, &s);
    CHECK_INT(rc, 0);
    double p, r, f1 = vt_f1(c->truth, &s, &p, &r), es, ee;
    double err = vt_boundary_error(c->truth, &s, 0, &es, &ee);
    fprintf(stderr, "  %-11s %5u Hz %u ch %s  %2u ms frames: F1 %.3f (P %.3f R %.3f)  max |start err| %3.0f ms  "
            "max |end err| %3.0f ms  segments %zu\n",
            c->name, c->rate, c->channels, rm_sample_format_name(c->fmt), frame_ms, f1, p, r, es, ee, s.n);
    CHECK(f1 >= c->min_f1);
    CHECK(err <= max_err);
    CHECK(!s.unmatched_end);
    CHECK_INT(s.starts, s.ends);
    free(a.x);
}

static const condition conditions[] = {
    {"white20", 16000, &truth, 0.90, RM_SAMPLE_F32, 1},
    {"pink20", 16000, &truth, 0.90, RM_SAMPLE_F32, 1},
    {"white10", 16000, &truth, 0.80, RM_SAMPLE_F32, 1},
    {"pink10", 16000, &truth, 0.80, RM_SAMPLE_F32, 1},
    {"pink20_48k", 48000, &truth, 0.90, RM_SAMPLE_S16, 2},
    {"white20_8k", 8000, &truth8, 0.90, RM_SAMPLE_F32, 1},
};

static void test_quality_default_frames(void)
{
    if (!have_audio) return;
    for (size_t i = 0; i < sizeof conditions / sizeof *conditions; i++) check_condition(&conditions[i], 30, 60);
}

static void test_quality_10_and_20_ms_frames(void)
{
    if (!have_audio) return;
    for (unsigned ms = 10; ms <= 20; ms += 10)
        for (size_t i = 0; i < 4; i++) {
            int low_snr = conditions[i].min_f1 < 0.9;
            check_condition(&conditions[i], ms, ms == 10 && low_snr ? 80 : 60);
        }
}

/* --------------------------------------------------------- noise only --- */

static size_t count_events(const char *params, const vt_audio *a, double gain)
{
    vt_audio b = *a;
    b.x = malloc(a->n * sizeof(float));
    for (size_t i = 0; i < a->n; i++) b.x[i] = (float)(a->x[i] * gain);
    vt_segs s;
    CHECK_INT(vt_run_vad(rt, "VAD", params, &b, 20, 1, RM_SAMPLE_F32, 1, &s), 0);
    free(b.x);
    return s.starts + s.ends;
}

static void test_no_events_on_noise(void)
{
    if (!have_audio) return;
    const char *names[] = {"noise_white", "noise_pink"};
    for (int k = 0; k < 2; k++) {
        vt_audio a;
        if (vt_load(names[k], 16000, &a) != 0) {
            CHECK(!"noise missing");
            continue;
        }
        for (unsigned ms = 10; ms <= 30; ms += 10) {
            char params[64];
            snprintf(params, sizeof params, "{\"frame_ms\": %u}", ms);
            size_t n = count_events(params, &a, 1.0), loud = count_events(params, &a, 10.0);
            fprintf(stderr, "  %s %u ms frames: %zu events, 20 dB louder: %zu\n", names[k], ms, n, loud);
            CHECK_INT(n, 0);
            CHECK_INT(loud, 0);
        }
        free(a.x);
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double gauss(void)
{
    double u[2];
    for (int i = 0; i < 2; i++) { /* xorshift64* */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        u[i] = ((rng_state * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
    }
    return sqrt(-2.0 * log(u[0] + 1e-300)) * cos(6.283185307179586 * u[1]);
}

static void test_no_events_on_long_white_noise(void)
{
    vt_audio a = {.rate = 16000, .n = 16000 * 300};
    a.x = malloc(a.n * sizeof(float));
    for (size_t i = 0; i < a.n; i++) a.x[i] = (float)(0.01 * gauss());
    size_t n = count_events("{\"frame_ms\": 10}", &a, 1.0);
    fprintf(stderr, "  5 min of white noise, 10 ms frames: %zu events\n", n);
    CHECK_INT(n, 0);
    free(a.x);
}

static void test_no_events_on_silence(void)
{
    vt_audio a = {.rate = 16000, .n = 16000 * 10};
    a.x = calloc(a.n, sizeof(float));
    CHECK_INT(count_events("{}", &a, 1.0), 0); /* digital silence */
    for (size_t i = 0; i < a.n; i++) a.x[i] = (float)(2e-4 * gauss()); /* -74 dBFS hiss, under min_energy */
    CHECK_INT(count_events("{\"frame_ms\": 10}", &a, 1.0), 0);
    /* a burst of hiss in digital silence is sound, but under min_energy */
    for (size_t i = 0; i < a.n; i++) a.x[i] = i > a.n / 2 ? (float)(5e-4 * gauss()) : 0.0f;
    CHECK_INT(count_events("{}", &a, 1.0), 0);
    /* and the same burst is reported when min_energy is lowered */
    CHECK_INT(count_events("{\"min_energy\": 1e-5}", &a, 1.0), 2);
    free(a.x);
}

/* ----------------------------------------------------------- streaming --- */

typedef struct ev {
    int start, end;
    double t, p;
    int64_t ts_us;
} ev;

/* Runs a VAD over `a` pushing chunks of `chunk` samples (0: one frame);
 * first_ts_us: timestamp of the first frame, then timestamps continue (or
 * RM_TS_NONE on every frame).  Returns the number of events (up to cap). */
static size_t events_of(const char *params, const vt_audio *a, size_t chunk, int64_t first_ts_us, ev *out,
                        size_t cap, size_t *audio_out)
{
    rm_harness *h;
    rm_error err;
    if (rm_harness_new(rt, "VAD", params, &h, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        CHECK(0);
        return 0;
    }
    size_t n = 0, audio = 0, off = 0;
    if (!chunk) chunk = a->n;
    int ok = 1;
    while (off < a->n && ok) {
        size_t len = chunk < a->n - off ? chunk : a->n - off;
        rm_frame *f = vt_chunk(a, off, len, RM_SAMPLE_F32, 1);
        if (first_ts_us != RM_TS_NONE) f->timestamp_us = first_ts_us + (int64_t)off * 1000000 / a->rate;
        ok = rm_harness_push(h, f) == 0;
        /* the audio goes out first: the same frame (zero copy), or, when
         * events were decided inside it, zero-copy slices of it split at
         * the deciding analysis frames' ends, each followed by its events */
        CHECK(rm_harness_output_count(h) >= 1 && rm_harness_output(h, 0)->kind == RM_FRAME_AUDIO);
        size_t got = 0, n_ev = 0;
        for (size_t i = 0; i < rm_harness_output_count(h); i++)
            n_ev += rm_harness_output(h, i)->kind != RM_FRAME_AUDIO;
        if (n_ev == 0) CHECK(rm_harness_output_count(h) == 1 && rm_harness_output(h, 0) == f);
        off += len;
        for (size_t i = 0; i < rm_harness_output_count(h); i++) {
            const rm_frame *o = rm_harness_output(h, i);
            if (o->kind == RM_FRAME_AUDIO) {
                CHECK_STR(rm_harness_output_port(h, i), "out");
                if (o != f) /* a slice: the next part of f, no copy */
                    CHECK(o->u.audio.data == (const float *)f->u.audio.data + got);
                got += o->u.audio.frames;
                if (n_ev == 0) audio++;
                continue;
            }
            CHECK_STR(rm_harness_output_port(h, i), "events");
            if (n < cap) {
                const json_t *v = o->u.json.value;
                out[n].start = json_is_true(json_object_get(v, "is_speech_start"));
                out[n].end = json_is_true(json_object_get(v, "is_speech_end"));
                out[n].t = vt_num(v, "timestamp_ms");
                out[n].p = vt_num(v, "speech_probability");
                out[n].ts_us = o->timestamp_us;
                CHECK(json_is_boolean(json_object_get(v, "has_speech")));
            }
            n++;
        }
        CHECK_INT(got, len);
        if (n_ev) audio++;
        rm_frame_unref(f);
        rm_harness_clear(h);
    }
    CHECK(ok);
    CHECK_INT(rm_harness_end(h), 0);
    for (size_t i = 0; i < rm_harness_output_count(h) && n < cap; i++, n++) {
        const json_t *v = rm_harness_output(h, i)->u.json.value;
        out[n].start = json_is_true(json_object_get(v, "is_speech_start"));
        out[n].end = json_is_true(json_object_get(v, "is_speech_end"));
        out[n].t = vt_num(v, "timestamp_ms");
        out[n].ts_us = rm_harness_output(h, i)->timestamp_us;
    }
    rm_harness_free(h);
    if (audio_out) *audio_out = audio;
    return n;
}

static void test_chunking_does_not_matter(void)
{
    if (!have_audio) return;
    vt_audio a;
    if (vt_load("white10", 16000, &a) != 0) return;
    static ev e1[256], e2[256], e3[256];
    size_t n_audio;
    size_t n1 = events_of("{\"frame_ms\": 20}", &a, 0, RM_TS_NONE, e1, 256, &n_audio);
    CHECK_INT(n_audio, 1);
    size_t n2 = events_of("{\"frame_ms\": 20}", &a, 37, RM_TS_NONE, e2, 256, &n_audio); /* 2.3 ms chunks */
    CHECK_INT(n_audio, (a.n + 36) / 37);
    size_t n3 = events_of("{\"frame_ms\": 20}", &a, 4801, RM_TS_NONE, e3, 256, NULL); /* 300.06 ms chunks */
    CHECK(n1 >= 2);
    CHECK_INT(n2, n1);
    CHECK_INT(n3, n1);
    for (size_t i = 0; i < n1 && i < n2 && i < n3; i++) {
        CHECK(e1[i].start == e2[i].start && e1[i].end == e2[i].end && e1[i].t == e2[i].t);
        CHECK(e1[i].start == e3[i].start && e1[i].end == e3[i].end && e1[i].t == e3[i].t);
        CHECK_INT(e1[i].ts_us, llround(e1[i].t * 1000.0)); /* the event frame is stamped with its moment */
    }
    free(a.x);
}

static void test_timestamps_follow_the_frames(void)
{
    if (!have_audio) return;
    vt_audio a;
    if (vt_load("pink20", 16000, &a) != 0) return;
    static ev e1[256], e2[256];
    size_t n1 = events_of("{}", &a, 320, RM_TS_NONE, e1, 256, NULL);
    size_t n2 = events_of("{}", &a, 320, 5000000, e2, 256, NULL); /* the stream starts at 5 s */
    CHECK_INT(n2, n1);
    for (size_t i = 0; i < n1 && i < n2; i++) CHECK_NEAR(e2[i].t, e1[i].t + 5000.0, 1e-6);
    free(a.x);
}

static void test_frame_events(void)
{
    if (!have_audio) return;
    vt_audio a = {0};
    if (vt_load("white20", 16000, &a) != 0) return;
    a.n = 16000 * 5; /* the first 5 s: 1 s silence, then speech */
    static ev e[1024];
    size_t n = events_of("{\"frame_ms\": 20, \"frame_events\": true}", &a, 320, RM_TS_NONE, e, 1024, NULL);
    size_t frames = 0, starts = 0;
    double last_t = -1;
    for (size_t i = 0; i < n; i++) {
        if (e[i].start || e[i].end) {
            starts += e[i].start;
            continue;
        }
        CHECK(e[i].p >= 0 && e[i].p <= 1);
        CHECK(e[i].t > last_t); /* one per analysis frame, in order */
        last_t = e[i].t;
        frames++;
    }
    CHECK_INT(frames, a.n / 320);
    CHECK(starts >= 1);
    CHECK(e[0].p < 0.5); /* silence first */
    free(a.x);
}

static void test_end_of_stream_ends_speech(void)
{
    if (!have_audio) return;
    vt_audio a = {0};
    if (vt_load("white20", 16000, &a) != 0) return;
    a.n = (size_t)(truth.utt[0][0] + 1000) * 16; /* cut 1 s into the first utterance */
    static ev e[64];
    size_t n = events_of("{}", &a, 320, RM_TS_NONE, e, 64, NULL);
    CHECK_INT(n, 2);
    CHECK(e[0].start);
    CHECK(n == 2 && e[1].end && e[1].t <= a.n / 16.0 && e[1].t > a.n / 16.0 - 100);
    free(a.x);
}

/* A session of a one-node graph with a default VAD, outputs collected;
 * NULL if it cannot be opened. */
static rm_session *vad_session(rm_graph **g)
{
    const char *m = "{\"version\":\"v1\",\"metadata\":{\"name\":\"t\"},\"nodes\":[{\"id\":\"vad\",\"node_type\":\"VAD\"}],"
                    "\"connections\":[]}";
    rm_session *s = NULL;
    rm_error err;
    *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, m, strlen(m), "t", NULL, g, NULL), 0);
    if (*g) CHECK_INT(rm_session_open(*g, NULL, &s, &err), 0);
    return s;
}

/* Pushes samples [at, at + n) of `a` as one f32 frame. */
static void push_range(rm_session *s, const vt_audio *a, size_t at, size_t n)
{
    rm_frame *f = vt_chunk(a, at, n, RM_SAMPLE_F32, 1);
    CHECK_INT(rm_session_push(s, f), 0);
    rm_frame_unref(f);
}

static void test_reset_drops_speech_in_progress(void)
{
    if (!have_audio) return;
    vt_audio a;
    if (vt_load("white20", 16000, &a) != 0) return;
    rm_graph *g;
    rm_session *s = vad_session(&g);
    if (!s) {
        rm_graph_unref(g);
        free(a.x);
        return;
    }
    size_t mid = (size_t)(truth.utt[0][0] + 1000) * 16, end = (size_t)truth.utt[1][1] * 16 + 8000;
    push_range(s, &a, 0, mid);
    const rm_outputs *o = rm_session_outputs(s);
    size_t before = rm_outputs_count(o);
    vt_segs segs = {0};
    for (size_t i = 0; i < before; i++)
        if (!strcmp(rm_outputs_at(o, i)->port, "events")) vt_add_event(&segs, rm_outputs_at(o, i)->frame);
    CHECK_INT(segs.starts, 1); /* the first utterance began */
    CHECK_INT(segs.ends, 0);
    CHECK_INT(rm_session_reset(s), 0); /* barge-in: what is in progress is dropped without an event */
    push_range(s, &a, mid, end - mid);
    CHECK_INT(rm_session_end(s), 0);
    memset(&segs, 0, sizeof segs);
    for (size_t i = before; i < rm_outputs_count(o); i++)
        if (!strcmp(rm_outputs_at(o, i)->port, "events")) vt_add_event(&segs, rm_outputs_at(o, i)->frame);
    /* after it, on the same clock: the rest of the first utterance (it starts
     * where the audio resumed) and the second utterance, whole */
    CHECK_INT(segs.n, 2);
    CHECK(!segs.unmatched_end);
    CHECK(segs.n == 2 && segs.s[0][0] >= mid / 16.0 && segs.s[0][0] < mid / 16.0 + 100);
    CHECK(segs.n == 2 && fabs(segs.s[0][1] - truth.utt[0][1]) <= 60);
    CHECK(segs.n == 2 && fabs(segs.s[1][0] - truth.utt[1][0]) <= 60 && fabs(segs.s[1][1] - truth.utt[1][1]) <= 60);
    rm_session_close(s);
    rm_graph_unref(g);
    free(a.x);
}

static void test_runtime_threshold(void)
{
    if (!have_audio) return;
    vt_audio a;
    if (vt_load("white20", 16000, &a) != 0) return;
    rm_graph *g;
    rm_session *s = vad_session(&g);
    rm_error err;
    if (!s) {
        rm_graph_unref(g);
        free(a.x);
        return;
    }
    /* threshold 1: no frame reaches it (the probability stops at 0.9997) */
    CHECK_INT(rm_session_set_param(s, "vad", "threshold", "1.0", &err), 0);
    size_t half = a.n / 2;
    push_range(s, &a, 0, half);
    const rm_outputs *o = rm_session_outputs(s);
    CHECK_INT(rm_outputs_count(o), 1); /* the audio only */
    CHECK_INT(rm_session_set_param(s, "vad", "threshold", "0.5", &err), 0);
    push_range(s, &a, half, a.n - half);
    CHECK_INT(rm_session_end(s), 0);
    CHECK(rm_outputs_count(o) > 3); /* the second half's utterances */
    CHECK(rm_session_set_param(s, "vad", "frame_ms", "10", &err) != 0); /* fixed at start */
    rm_session_close(s);
    rm_graph_unref(g);
    free(a.x);
}

static void test_sample_formats_agree(void)
{
    if (!have_audio) return;
    vt_audio a;
    if (vt_load("pink10", 16000, &a) != 0) return;
    vt_segs f32, s16;
    CHECK_INT(vt_run_vad(rt, "VAD", "{}", &a, 20, 0, RM_SAMPLE_F32, 1, &f32), 0);
    CHECK_INT(vt_run_vad(rt, "VAD", "{}", &a, 20, 0, RM_SAMPLE_S16, 2, &s16), 0);
    CHECK_INT(s16.n, f32.n);
    for (size_t i = 0; i < f32.n && i < s16.n; i++) {
        CHECK_NEAR(s16.s[i][0], f32.s[i][0], 10);
        CHECK_NEAR(s16.s[i][1], f32.s[i][1], 10);
    }
    /* s32 through the graph API: one frame, the same detections */
    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_S32, 16000, 1, a.n);
    for (size_t i = 0; i < a.n; i++) {
        double v = a.x[i] * 2147483648.0;
        ((int32_t *)f->u.audio.data)[i] = (int32_t)(v > 2147483647.0 ? 2147483647.0 : v < -2147483648.0 ? -2147483648.0 : v);
    }
    rm_harness *h;
    rm_error err;
    CHECK_INT(rm_harness_new(rt, "VAD", "{}", &h, &err), 0);
    CHECK_INT(rm_harness_push(h, f), 0);
    CHECK_INT(rm_harness_end(h), 0);
    vt_segs s32 = {0};
    for (size_t i = 0; i < rm_harness_output_count(h); i++)
        if (rm_harness_output(h, i)->kind == RM_FRAME_JSON) vt_add_event(&s32, rm_harness_output(h, i));
    CHECK_INT(s32.n, f32.n);
    for (size_t i = 0; i < f32.n && i < s32.n; i++) CHECK_NEAR(s32.s[i][0], f32.s[i][0], 10);
    rm_harness_free(h);
    rm_frame_unref(f);
    free(a.x);
}

/* ------------------------------------------------------------- aliases --- */

static void test_aliases(void)
{
    if (!have_audio) return;
    vt_audio a;
    if (vt_load("white20", 16000, &a) != 0) return;
    const char *cases[][2] = {
        {"RustVADNode", "{\"sample_rate\": 16000, \"frame_duration_ms\": 20, \"energy_threshold\": 0.001}"},
        {"SileroVADNode", "{\"threshold\": 0.5, \"sampling_rate\": 16000, \"min_speech_duration_ms\": 90, "
                          "\"min_silence_duration_ms\": 200, \"speech_pad_ms\": 30}"},
        {"SileroVADNode", "{\"samplingRate\": 16000, \"minSpeechDurationMs\": 90, \"minSilenceDurationMs\": 200, "
                          "\"speechPadMs\": 30}"},
        {"VAD", "{\"frameMs\": 20, \"minSilenceMs\": 200}"},
    };
    for (size_t i = 0; i < 4; i++) {
        vt_segs s;
        CHECK_INT(vt_run_vad(rt, cases[i][0], cases[i][1], &a, 20, 0, RM_SAMPLE_F32, 1, &s), 0);
        CHECK(vt_f1(&truth, &s, NULL, NULL) >= 0.9);
    }
    /* min_silence_ms is the hangover: a long one merges utterances */
    vt_segs s;
    CHECK_INT(vt_run_vad(rt, "VAD", "{\"min_silence_ms\": 2000}", &a, 20, 0, RM_SAMPLE_F32, 1, &s), 0);
    CHECK(s.n < truth.n_utt / 2);
    /* speech_pad_ms moves every start earlier and every end later */
    vt_segs p0, p100;
    CHECK_INT(vt_run_vad(rt, "VAD", "{\"speech_pad_ms\": 0}", &a, 20, 0, RM_SAMPLE_F32, 1, &p0), 0);
    CHECK_INT(vt_run_vad(rt, "VAD", "{\"speech_pad_ms\": 100}", &a, 20, 0, RM_SAMPLE_F32, 1, &p100), 0);
    CHECK_INT(p100.n, p0.n);
    for (size_t i = 0; i < p0.n && i < p100.n; i++) {
        CHECK_NEAR(p100.s[i][0], p0.s[i][0] - 100, 1e-6);
        CHECK_NEAR(p100.s[i][1], p0.s[i][1] + 100, 1e-6);
    }
    /* min_speech_ms filters short bursts: with 1 s of speech required the
     * one-word utterance ("Yes.") is not reported */
    CHECK_INT(vt_run_vad(rt, "VAD", "{\"min_speech_ms\": 1000}", &a, 20, 0, RM_SAMPLE_F32, 1, &s), 0);
    CHECK_INT(s.n, p0.n - 1);
    free(a.x);
}

/* ----------------------------------------------------------- bad input --- */

static void expect_param_error(const char *params, const char *needle)
{
    rm_harness *h = NULL;
    rm_error err;
    rm_error_clear(&err);
    int rc = rm_harness_new(rt, "VAD", params, &h, &err);
    CHECK(rc != 0);
    CHECK_CONTAINS(err.message, needle);
    rm_harness_free(h);
}

static void test_bad_params(void)
{
    expect_param_error("{\"frame_ms\": 25}", "frame_ms: must be 10, 20 or 30 (got 25)");
    expect_param_error("{\"frame_ms\": 40}", "frame_ms");
    expect_param_error("{\"threshold\": 1.5}", "threshold");
    expect_param_error("{\"threshold\": \"high\"}", "threshold");
    expect_param_error("{\"min_silence_ms\": -5}", "min_silence_ms");
    expect_param_error("{\"sample_rate\": 4000}", "sample_rate: 4000 Hz is below 8000 Hz");
    expect_param_error("{\"noise_window_ms\": 10}", "noise_window_ms");
    expect_param_error("{\"frame_size\": 20}", "unknown parameter 'frame_size'");
}

static void expect_push_error(const char *params, rm_frame *first, rm_frame *second, int code, const char *needle)
{
    rm_harness *h;
    rm_error err;
    CHECK_INT(rm_harness_new(rt, "VAD", params, &h, &err), 0);
    int rc = rm_harness_push(h, first);
    if (second && rc == 0) rc = rm_harness_push(h, second);
    CHECK_INT(rc, code);
    CHECK_CONTAINS(rm_harness_error(h)->message, needle);
    CHECK_STR(rm_harness_error(h)->node_id, "node");
    rm_harness_free(h);
    rm_frame_unref(first);
    rm_frame_unref(second);
}

static rm_frame *silence(uint32_t rate, size_t n)
{
    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, rate, 1, n);
    memset(f->u.audio.data, 0, n * sizeof(float));
    return f;
}

static void test_bad_frames(void)
{
    expect_push_error("{}", rm_frame_new_text("hello", 5), NULL, RM_EFRAMEKIND, "accepts audio, got a text frame");
    expect_push_error("{}", silence(4000, 400), NULL, RM_EFORMAT, "8000..192000 Hz, got 4000 Hz");
    expect_push_error("{}", silence(16000, 400), silence(48000, 400), RM_EFORMAT,
                      "rate changed from 16000 Hz to 48000 Hz");
    expect_push_error("{\"sample_rate\": 16000}", silence(48000, 400), NULL, RM_EFORMAT,
                      "48000 Hz but sample_rate is 16000 Hz");
    /* a rate the graph knows in advance is checked when compiling */
    const char *m = "{\"version\":\"v1\",\"metadata\":{\"name\":\"t\"},\"nodes\":[{\"id\":\"v\",\"node_type\":\"VAD\"}],"
                    "\"connections\":[]}";
    rm_caps caps = {RM_KIND_BIT(RM_FRAME_AUDIO), RM_SAMPLE_F32, 4000, 1};
    rm_compile_opts opts = {&caps, 0};
    rm_graph *g = NULL;
    rm_diags *d = rm_diags_new();
    CHECK(rm_graph_load_string(rt, m, strlen(m), "t", &opts, &g, d) != 0);
    char *text = rm_diags_to_string(d);
    CHECK_CONTAINS(text, "VAD needs audio at 8000..192000 Hz; its input is 4000 Hz");
    free(text);
    rm_diags_free(d);
    rm_graph_unref(g);
}

int main(void)
{
    rm_error err;
    if (rm_runtime_new_with_builtins(NULL, &rt, &err) != 0) return 1;
    have_audio = vt_generate() == 0 && vt_load_truth(&truth, "labels.txt") == 0 &&
                 vt_load_truth(&truth8, "labels_8k.txt") == 0;
    CHECK(have_audio);
    RUN(test_quality_default_frames);
    RUN(test_quality_10_and_20_ms_frames);
    RUN(test_no_events_on_noise);
    RUN(test_no_events_on_long_white_noise);
    RUN(test_no_events_on_silence);
    RUN(test_chunking_does_not_matter);
    RUN(test_timestamps_follow_the_frames);
    RUN(test_frame_events);
    RUN(test_end_of_stream_ends_speech);
    RUN(test_reset_drops_speech_in_progress);
    RUN(test_runtime_threshold);
    RUN(test_sample_formats_agree);
    RUN(test_aliases);
    RUN(test_bad_params);
    RUN(test_bad_frames);
    free(truth.labels);
    free(truth8.labels);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
