/*
 * SpeechSegmenter: utterances cut from a VAD's events in a real graph (on the
 * generated speech-in-noise audio), and sample-exact behaviour on synthetic
 * events: pre-roll, min/max length, events before or after their audio,
 * clocks, formats, aliases and bad input.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "vad_common.h"

static rm_runtime *rt;
static vt_truth truth;
static int have_audio;

/* ------------------------------------------------------ VAD → segmenter --- */

static const char *pipeline =
    "version: v1\n"
    "metadata: { name: utterances }\n"
    "nodes:\n"
    "  - { id: vad, node_type: VAD, params: { frame_ms: 20 } }\n"
    "  - { id: seg, node_type: SpeechSegmenter, params: { pad_ms: 100 } }\n"
    "connections:\n"
    "  - { from: vad, to: seg }\n"
    "  - { from: vad.events, to: seg.events }\n";

static void check_pipeline(const char *name)
{
    vt_audio a;
    if (vt_load(name, 16000, &a) != 0) {
        CHECK(!"test audio missing");
        return;
    }
    rm_graph *g;
    rm_diags *d = rm_diags_new();
    int rc = rm_graph_load_string(rt, pipeline, strlen(pipeline), "utterances.yaml", NULL, &g, d);
    if (rc != 0) {
        char *t = rm_diags_to_string(d);
        fprintf(stderr, "%s\n", t);
        free(t);
    }
    rm_diags_free(d);
    CHECK_INT(rc, 0);
    if (rc != 0) return;
    rm_session *s;
    rm_error err;
    CHECK_INT(rm_session_open(g, NULL, &s, &err), 0);
    for (size_t off = 0; off < a.n; off += 320) {
        rm_frame *f = vt_chunk(&a, off, a.n - off < 320 ? a.n - off : 320, RM_SAMPLE_F32, 1);
        CHECK_INT(rm_session_push(s, f), 0);
        rm_frame_unref(f);
    }
    CHECK_INT(rm_session_end(s), 0);
    const rm_frame *utt[64];
    size_t n = rm_outputs_of(rm_session_outputs(s), "seg", utt, 64);
    /* each utterance: f32 mono 16 kHz, stamped with its start, exactly the
     * input samples between start_ms and end_ms */
    vt_segs segs = {0};
    for (size_t i = 0; i < n && i < 64; i++) {
        const rm_frame *f = utt[i];
        CHECK(f->kind == RM_FRAME_AUDIO && f->u.audio.format == RM_SAMPLE_F32 && f->u.audio.rate == 16000 &&
              f->u.audio.channels == 1);
        double t0 = atof(rm_frame_meta_get(f, "start_ms")), t1 = atof(rm_frame_meta_get(f, "end_ms"));
        CHECK_NEAR(f->timestamp_us / 1000.0, t0, 0.1);
        size_t i0 = (size_t)llround(t0 * 16);
        CHECK_NEAR((double)f->u.audio.frames, (t1 - t0) * 16, 2);
        CHECK(i0 + f->u.audio.frames <= a.n &&
              !memcmp(f->u.audio.data, a.x + i0, f->u.audio.frames * sizeof(float)));
        if (getenv("VT_VERBOSE")) fprintf(stderr, "    utt %.1f-%.1f\n", t0, t1);
        segs.s[segs.n][0] = t0;
        segs.s[segs.n][1] = t1;
        segs.n++;
    }
    /* exactly the VAD's segments (the same VAD alone, same chunks), each
     * widened by pad_ms without overlapping the previous one */
    vt_segs vad;
    CHECK_INT(vt_run_vad(rt, "VAD", "{\"frame_ms\": 20}", &a, 20, 0, RM_SAMPLE_F32, 1, &vad), 0);
    CHECK_INT(segs.n, vad.n);
    for (size_t i = 0; i < segs.n && i < vad.n; i++) {
        double want0 = vad.s[i][0] - 100;
        if (i > 0 && want0 < vad.s[i - 1][1] + 100) want0 = vad.s[i - 1][1] + 100;
        CHECK_NEAR(segs.s[i][0], want0, 0.1);
        CHECK_NEAR(segs.s[i][1], vad.s[i][1] + 100, 0.1);
    }
    /* so against the truth, the segmenter's pad taken out, the VAD's accuracy */
    double es, ee, err_ms = vt_boundary_error(&truth, &segs, 100, &es, &ee);
    fprintf(stderr, "  %s: %zu utterances for %zu true ones (pauses inside some split them); "
            "max |start err| %.0f ms, max |end err| %.0f ms (pad_ms taken out)\n", name, n, truth.n_utt, es, ee);
    CHECK(err_ms <= 60);
    rm_session_close(s);
    rm_graph_unref(g);
    free(a.x);
}

static void test_vad_pipeline(void)
{
    if (!have_audio) return;
    check_pipeline("white20");
    check_pipeline("pink10");
}

/* ------------------------------------------------------ synthetic events --- */

/* Audio whose sample i holds the value i (exact in f32 below 2^24), so an
 * emitted frame tells which samples it holds. */
static rm_frame *ramp(size_t first, size_t n, int64_t ts_us)
{
    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, 16000, 1, n);
    for (size_t i = 0; i < n; i++) ((float *)f->u.audio.data)[i] = (float)(first + i);
    f->timestamp_us = ts_us;
    return f;
}

static rm_frame *event(int start, double t_ms)
{
    json_t *v = json_pack("{s:b, s:b}", "is_speech_start", start, "is_speech_end", !start);
    if (t_ms >= 0) json_object_set_new(v, "timestamp_ms", json_real(t_ms));
    return rm_frame_new_json(v);
}

typedef struct seg_run {
    rm_harness *h;
    size_t pushed; /* samples */
} seg_run;

static void open_seg(seg_run *r, const char *node_type, const char *params)
{
    rm_error err;
    r->pushed = 0;
    r->h = NULL;
    if (rm_harness_new(rt, node_type, params, &r->h, &err) != 0) fprintf(stderr, "%s\n", err.message);
    CHECK(r->h != NULL);
}

/* Pushes audio up to `ms` in 20 ms frames. */
static void audio_until(seg_run *r, double ms)
{
    size_t target = (size_t)(ms * 16);
    while (r->pushed < target) {
        size_t n = target - r->pushed < 320 ? target - r->pushed : 320;
        rm_frame *f = ramp(r->pushed, n, RM_TS_NONE);
        CHECK_INT(rm_harness_push(r->h, f), 0);
        rm_frame_unref(f);
        r->pushed += n;
    }
}

static void send(seg_run *r, const char *port, int start, double t_ms)
{
    rm_frame *f = event(start, t_ms);
    CHECK_INT(rm_harness_push_to(r->h, port, f), 0);
    rm_frame_unref(f);
}

/* Checks output i holds samples [a_ms, b_ms). */
static void expect_utt(seg_run *r, size_t i, double a_ms, double b_ms)
{
    const rm_frame *f = rm_harness_output(r->h, i);
    CHECK(f != NULL);
    if (!f) return;
    size_t a = (size_t)(a_ms * 16), b = (size_t)(b_ms * 16);
    CHECK_INT(f->u.audio.frames, b - a);
    CHECK_INT(f->timestamp_us, (int64_t)(a_ms * 1000));
    const float *x = f->u.audio.data;
    CHECK(f->u.audio.frames > 0 && x[0] == (float)a && x[f->u.audio.frames - 1] == (float)(b - 1));
}

static void test_preroll_and_padding(void)
{
    seg_run r;
    open_seg(&r, "SpeechSegmenter", "{\"pad_ms\": 50}");
    audio_until(&r, 500);
    send(&r, "events", 1, 300); /* decided late, as a VAD does: names a time in the past */
    audio_until(&r, 1000);
    CHECK_INT(rm_harness_output_count(r.h), 0);
    send(&r, "events", 0, 700);
    CHECK_INT(rm_harness_output_count(r.h), 1); /* the audio up to 750 ms is there: out at once */
    expect_utt(&r, 0, 250, 750);
    const rm_frame *f = rm_harness_output(r.h, 0);
    CHECK_STR(rm_frame_meta_get(f, "start_ms"), "250.0");
    CHECK_STR(rm_frame_meta_get(f, "end_ms"), "750.0");
    CHECK_STR(rm_frame_meta_get(f, "duration_ms"), "500.0");
    CHECK_STR(rm_frame_meta_get(f, "part"), "0");
    CHECK(rm_frame_meta_get(f, "continued") == NULL);
    CHECK_STR(rm_harness_output_port(r.h, 0), "out");
    rm_harness_clear(r.h);
    /* an end whose padded audio has not arrived yet waits for it */
    send(&r, "events", 1, 1100);
    audio_until(&r, 1400);
    send(&r, "events", 0, 1390);
    CHECK_INT(rm_harness_output_count(r.h), 0);
    audio_until(&r, 1420);
    CHECK_INT(rm_harness_output_count(r.h), 0);
    audio_until(&r, 1460);
    CHECK_INT(rm_harness_output_count(r.h), 1);
    expect_utt(&r, 0, 1050, 1440);
    CHECK_INT(rm_harness_end(r.h), 0);
    CHECK_INT(rm_harness_output_count(r.h), 1);
    rm_harness_free(r.h);
}

static void test_min_and_max_utterance(void)
{
    seg_run r;
    open_seg(&r, "SpeechSegmenter", "{\"pad_ms\": 0, \"min_utterance_ms\": 250, \"max_utterance_ms\": 1000}");
    audio_until(&r, 300);
    send(&r, "events", 1, 200);
    audio_until(&r, 500);
    send(&r, "events", 0, 400); /* 200 ms: dropped */
    CHECK_INT(rm_harness_output_count(r.h), 0);
    send(&r, "events", 1, 600);
    audio_until(&r, 1500);
    CHECK_INT(rm_harness_output_count(r.h), 0);
    audio_until(&r, 1640); /* 1 s reached: the first part goes out while speech goes on */
    CHECK_INT(rm_harness_output_count(r.h), 1);
    audio_until(&r, 3000);
    send(&r, "events", 0, 2700);
    CHECK_INT(rm_harness_output_count(r.h), 3);
    expect_utt(&r, 0, 600, 1600);
    expect_utt(&r, 1, 1600, 2600);
    expect_utt(&r, 2, 2600, 2700); /* the short tail of a long utterance is kept */
    for (size_t i = 0; i < 3; i++) {
        const rm_frame *f = rm_harness_output(r.h, i);
        char want[8];
        snprintf(want, sizeof want, "%zu", i);
        CHECK_STR(rm_frame_meta_get(f, "part"), want);
        if (i < 2) CHECK_STR(rm_frame_meta_get(f, "continued"), "1");
        else CHECK(rm_frame_meta_get(f, "continued") == NULL);
    }
    rm_harness_free(r.h);
}

static void test_events_without_timestamps_and_before_audio(void)
{
    seg_run r;
    open_seg(&r, "SpeechSegmenter", "{\"pad_ms\": 100, \"min_utterance_ms\": 0}");
    send(&r, "events", 1, -1); /* before any audio: starts with the first sample */
    audio_until(&r, 400);
    send(&r, "events", 0, -1); /* no timestamp: now (+ pad, which then has to arrive) */
    audio_until(&r, 600);
    CHECK_INT(rm_harness_output_count(r.h), 1);
    expect_utt(&r, 0, 0, 500);
    rm_harness_clear(r.h);
    audio_until(&r, 1000);
    send(&r, "events", 1, -1); /* now - pad */
    audio_until(&r, 1200);
    CHECK_INT(rm_harness_end(r.h), 0); /* end of stream closes it */
    CHECK_INT(rm_harness_output_count(r.h), 1);
    expect_utt(&r, 0, 900, 1200);
    rm_harness_free(r.h);
}

static void test_events_on_the_audio_port(void)
{
    /* the original's wiring: one stream carrying the VAD's JSON and audio */
    seg_run r;
    open_seg(&r, "AudioBufferAccumulatorNode", "{\"minUtteranceDurationMs\": 100, \"pad_ms\": 0}");
    audio_until(&r, 300);
    send(&r, NULL, 1, 100);
    audio_until(&r, 600);
    send(&r, NULL, 0, 500);
    CHECK_INT(rm_harness_output_count(r.h), 1);
    expect_utt(&r, 0, 100, 500);
    /* a second start while one is open closes it there */
    rm_harness_clear(r.h);
    send(&r, NULL, 1, 550);
    audio_until(&r, 1000);
    send(&r, NULL, 1, 800);
    CHECK_INT(rm_harness_output_count(r.h), 1);
    expect_utt(&r, 0, 550, 800);
    rm_harness_free(r.h);
}

static void test_history_limits_the_preroll(void)
{
    seg_run r;
    open_seg(&r, "SpeechSegmenter", "{\"pad_ms\": 0, \"history_ms\": 500, \"min_utterance_ms\": 0}");
    audio_until(&r, 3000);
    send(&r, "events", 1, 1000); /* 2 s back: only 500 ms (+ up to one frame) were kept */
    send(&r, "events", 0, 3000);
    CHECK_INT(rm_harness_output_count(r.h), 1);
    const rm_frame *f = rm_harness_output(r.h, 0);
    double t0 = f ? f->timestamp_us / 1000.0 : 0;
    CHECK(t0 >= 2480 && t0 <= 2500);
    rm_harness_free(r.h);
}

static void test_frame_clock_and_formats(void)
{
    rm_harness *h;
    rm_error err;
    CHECK_INT(rm_harness_new(rt, "SpeechSegmenter", "{\"pad_ms\": 0, \"min_utterance_ms\": 0}", &h, &err), 0);
    /* s16 stereo frames stamped from 10 s on */
    for (int k = 0; k < 50; k++) {
        rm_frame *f = rm_frame_new_audio(RM_SAMPLE_S16, 16000, 2, 320);
        int16_t *p = f->u.audio.data;
        for (int i = 0; i < 320; i++) p[2 * i] = (int16_t)(k * 100), p[2 * i + 1] = -16384;
        f->timestamp_us = 10000000 + (int64_t)k * 20000;
        CHECK_INT(rm_harness_push(h, f), 0);
        rm_frame_unref(f);
        if (k == 30) {
            rm_frame *e = event(1, 10200);
            CHECK_INT(rm_harness_push_to(h, "events", e), 0);
            rm_frame_unref(e);
            e = event(0, 10400);
            CHECK_INT(rm_harness_push_to(h, "events", e), 0);
            rm_frame_unref(e);
        }
    }
    CHECK_INT(rm_harness_end(h), 0);
    CHECK_INT(rm_harness_output_count(h), 1);
    const rm_frame *o = rm_harness_output(h, 0);
    CHECK(o && o->u.audio.format == RM_SAMPLE_F32 && o->u.audio.channels == 2 && o->u.audio.frames == 3200);
    CHECK(o && o->timestamp_us == 10200000);
    const float *x = o ? o->u.audio.data : NULL;
    CHECK(x && x[0] == 1000.0f / 32768.0f && x[1] == -0.5f); /* frame 10 of the stream (10.2 s) */
    rm_harness_free(h);
}

static void test_reset_drops_the_open_utterance(void)
{
    const char *m = "{\"version\":\"v1\",\"metadata\":{\"name\":\"t\"},\"nodes\":[{\"id\":\"seg\",\"node_type\":"
                    "\"SpeechSegmenter\",\"params\":{\"pad_ms\":0,\"min_utterance_ms\":0}}],\"connections\":[]}";
    rm_graph *g;
    rm_session *s;
    rm_error err;
    CHECK_INT(rm_graph_load_string(rt, m, strlen(m), "t", NULL, &g, NULL), 0);
    CHECK_INT(rm_session_open(g, NULL, &s, &err), 0);
    rm_frame *f = ramp(0, 8000, RM_TS_NONE), *e = event(1, 100);
    CHECK_INT(rm_session_push(s, f), 0);
    CHECK_INT(rm_session_push_to(s, "seg", "events", e), 0);
    CHECK_INT(rm_session_reset(s), 0);
    CHECK_INT(rm_session_end(s), 0);
    CHECK_INT(rm_outputs_count(rm_session_outputs(s)), 0);
    rm_frame_unref(f);
    rm_frame_unref(e);
    rm_session_close(s);
    rm_graph_unref(g);
}

/* ----------------------------------------------------------- bad input --- */

static void test_bad_input(void)
{
    rm_harness *h = NULL;
    rm_error err;
    CHECK(rm_harness_new(rt, "SpeechSegmenter", "{\"min_utterance_ms\": 5000, \"max_utterance_ms\": 1000}", &h,
                         &err) != 0);
    CHECK_CONTAINS(err.message, "max_utterance_ms (1000) is shorter than params.min_utterance_ms (5000)");
    CHECK(rm_harness_new(rt, "SpeechSegmenter", "{\"pad\": 10}", &h, &err) != 0);
    CHECK_CONTAINS(err.message, "unknown parameter 'pad'");
    CHECK(rm_harness_new(rt, "AudioBufferAccumulatorNode", "{\"maxUtteranceDurationMs\": 10}", &h, &err) != 0);
    CHECK_CONTAINS(err.message, "maxUtteranceDurationMs' of SpeechSegmenter: value 10 is out of range");

    CHECK_INT(rm_harness_new(rt, "SpeechSegmenter", "{}", &h, &err), 0);
    rm_frame *t = rm_frame_new_text("hi", 2);
    CHECK_INT(rm_harness_push(h, t), RM_EFRAMEKIND);
    CHECK_CONTAINS(rm_harness_error(h)->message, "accepts audio, json, got a text frame");
    rm_frame_unref(t);
    rm_harness_free(h);

    CHECK_INT(rm_harness_new(rt, "SpeechSegmenter", "{}", &h, &err), 0);
    rm_frame *a = ramp(0, 320, RM_TS_NONE), *b = rm_frame_new_audio(RM_SAMPLE_F32, 48000, 1, 960);
    memset(b->u.audio.data, 0, 960 * sizeof(float));
    CHECK_INT(rm_harness_push(h, a), 0);
    CHECK_INT(rm_harness_push(h, b), RM_EFORMAT);
    CHECK_CONTAINS(rm_harness_error(h)->message, "from 16000 Hz 1 ch to 48000 Hz 1 ch");
    rm_frame_unref(a);
    rm_frame_unref(b);
    rm_harness_free(h);

    CHECK_INT(rm_harness_new(rt, "SpeechSegmenter", "{}", &h, &err), 0);
    a = ramp(0, 320, RM_TS_NONE);
    CHECK_INT(rm_harness_push(h, a), 0);
    rm_frame *e = rm_frame_new_json(json_pack("{s:b, s:s}", "is_speech_start", 1, "timestamp_ms", "soon"));
    CHECK_INT(rm_harness_push_to(h, "events", e), RM_EFORMAT);
    CHECK_CONTAINS(rm_harness_error(h)->message, "timestamp_ms must be a number, got a string");
    rm_frame_unref(a);
    rm_frame_unref(e);
    rm_harness_free(h);

    /* other JSON (per-frame VAD probabilities, unrelated objects) is ignored */
    CHECK_INT(rm_harness_new(rt, "SpeechSegmenter", "{}", &h, &err), 0);
    e = rm_frame_new_json(json_pack("{s:f}", "speech_probability", 0.3));
    CHECK_INT(rm_harness_push_to(h, "events", e), 0);
    rm_frame_unref(e);
    e = rm_frame_new_json(json_pack("[i]", 1));
    CHECK_INT(rm_harness_push_to(h, "events", e), 0);
    rm_frame_unref(e);
    CHECK_INT(rm_harness_end(h), 0);
    CHECK_INT(rm_harness_output_count(h), 0);
    rm_harness_free(h);
}

static void test_example_manifests_compile(void)
{
    const char *files[] = {"examples/vad_events.yaml", "examples/utterances.yaml", "examples/preprocess.yaml"};
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", RM_SOURCE_DIR, files[i]);
        rm_graph *g = NULL;
        rm_diags *d = rm_diags_new();
        int rc = rm_graph_load_file(rt, path, NULL, &g, d);
        if (rc != 0) {
            char *t = rm_diags_to_string(d);
            fprintf(stderr, "%s\n", t);
            free(t);
        }
        CHECK_INT(rc, 0);
        rm_diags_free(d);
        rm_graph_unref(g);
    }
}

int main(void)
{
    rm_error err;
    if (rm_runtime_new_with_builtins(NULL, &rt, &err) != 0) return 1;
    have_audio = vt_generate() == 0 && vt_load_truth(&truth, "labels.txt") == 0;
    CHECK(have_audio);
    RUN(test_vad_pipeline);
    RUN(test_preroll_and_padding);
    RUN(test_min_and_max_utterance);
    RUN(test_events_without_timestamps_and_before_audio);
    RUN(test_events_on_the_audio_port);
    RUN(test_history_limits_the_preroll);
    RUN(test_frame_clock_and_formats);
    RUN(test_reset_drops_the_open_utterance);
    RUN(test_bad_input);
    RUN(test_example_manifests_compile);
    free(truth.labels);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
