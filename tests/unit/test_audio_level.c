/* AudioLevel: RMS/peak dBFS of known signals, clipping, windows and their
 * timestamps, the partial last window, pass-through and bad params. */
#include "audio_test.h"

static rm_runtime *rt;

typedef struct event {
    double rms, peak, ts, dur;
    long long clipped;
} event;

/* The events the harness collected, in order (at most cap). */
static size_t events(const rm_harness *h, event *ev, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < rm_harness_output_count(h) && n < cap; i++) {
        if (strcmp(rm_harness_output_port(h, i), "events")) continue;
        const rm_frame *f = rm_harness_output(h, i);
        CHECK(f->kind == RM_FRAME_JSON);
        json_t *v = f->u.json.value;
        ev[n].rms = json_number_value(json_object_get(v, "rms_dbfs"));
        ev[n].peak = json_number_value(json_object_get(v, "peak_dbfs"));
        ev[n].ts = json_number_value(json_object_get(v, "timestamp_ms"));
        ev[n].dur = json_number_value(json_object_get(v, "duration_ms"));
        ev[n].clipped = json_integer_value(json_object_get(v, "clipped_samples"));
        CHECK_INT(f->timestamp_us, llround(ev[n].ts * 1000));
        n++;
    }
    return n;
}

/* A full-scale 1 kHz sine reads −3.01 dBFS RMS and 0 dBFS peak, with no
 * clipping, in 100 ms windows stamped from the first frame's time. */
static void test_full_scale_sine(void)
{
    rm_harness *h = harness_ok(rt, "AudioLevel", "{}");
    rm_frame *all = sine_frame(48000, 1, 48000, 0, 1000, 1.0);
    CHECK_INT(push_chunks(h, all->u.audio.data, 48000, 1, 48000, 960, 2000000), 0);
    CHECK_INT(rm_harness_end(h), 0);
    event ev[16];
    size_t n = events(h, ev, 16);
    CHECK_INT(n, 10);
    for (size_t i = 0; i < n; i++) {
        CHECK_NEAR(ev[i].rms, -3.0103, 0.001);
        CHECK_NEAR(ev[i].peak, 0.0, 0.001);
        CHECK_INT(ev[i].clipped, 0);
        CHECK_NEAR(ev[i].ts, 2000.0 + 100.0 * (double)i, 1e-9);
        CHECK_NEAR(ev[i].dur, 100.0, 1e-9);
    }
    /* the audio itself passed through, frame for frame */
    collected o;
    collect_f32(h, "out", &o);
    CHECK_INT(o.frames, 48000);
    CHECK_INT(o.count, 50);
    CHECK(memcmp(o.data, all->u.audio.data, 48000 * sizeof(float)) == 0);
    free(o.data);
    rm_frame_unref(all);
    rm_harness_free(h);
}

/* s16: a −20 dBFS sine reads −23.01 dBFS; a full-scale square reads 0 dBFS
 * with every sample clipped; silence reads the floor. */
static void test_s16_levels(void)
{
    rm_harness *h = harness_ok(rt, "AudioLevel", "{\"window_ms\": 50}");
    int16_t *s = malloc(800 * sizeof *s);
    for (int i = 0; i < 800; i++) s[i] = (int16_t)lrint(3276.8 * sin(2 * M_PI * 500 * i / 16000.0));
    rm_frame *f = audio_frame(RM_SAMPLE_S16, 16000, 1, 800, s);
    CHECK_INT(rm_harness_push(h, f), 0);
    rm_frame_unref(f);
    for (int i = 0; i < 800; i++) s[i] = (i / 16) % 2 ? -32768 : 32767;
    f = audio_frame(RM_SAMPLE_S16, 16000, 1, 800, s);
    CHECK_INT(rm_harness_push(h, f), 0);
    rm_frame_unref(f);
    memset(s, 0, 800 * sizeof *s);
    f = audio_frame(RM_SAMPLE_S16, 16000, 1, 800, s);
    CHECK_INT(rm_harness_push(h, f), 0);
    rm_frame_unref(f);
    event ev[4];
    CHECK_INT(events(h, ev, 4), 3);
    CHECK_NEAR(ev[0].rms, -23.0103, 0.01);
    CHECK_NEAR(ev[0].peak, -20.0, 0.01);
    CHECK_INT(ev[0].clipped, 0);
    CHECK_NEAR(ev[1].rms, 0.0, 0.001);
    CHECK_INT(ev[1].clipped, 800);
    CHECK_NEAR(ev[2].rms, -200.0, 0);
    CHECK_NEAR(ev[2].peak, -200.0, 0);
    CHECK_NEAR(ev[2].ts, 100.0, 1e-9);
    free(s);
    rm_harness_free(h);
}

/* Stereo windows cover both channels; f32 beyond ±1.0 counts as clipped;
 * s32 at its limits too. */
static void test_channels_and_clipping(void)
{
    rm_harness *h = harness_ok(rt, "AudioLevel", "{\"window_ms\": 1}");
    float f[32];
    for (int i = 0; i < 16; i++) f[2 * i] = 0.5f, f[2 * i + 1] = i == 3 ? -1.5f : 0.0f;
    rm_frame *a = audio_frame(RM_SAMPLE_F32, 16000, 2, 16, f);
    CHECK_INT(rm_harness_push(h, a), 0);
    rm_frame_unref(a);
    int32_t w[16] = {INT32_MAX, INT32_MIN, 5};
    a = audio_frame(RM_SAMPLE_S32, 16000, 1, 16, w);
    CHECK_INT(rm_harness_push(h, a), 0);
    rm_frame_unref(a);
    event ev[4];
    CHECK_INT(events(h, ev, 4), 2);
    /* RMS² = (16·0.25 + 2.25) / 32 */
    CHECK_NEAR(ev[0].rms, 10 * log10((16 * 0.25 + 2.25) / 32), 1e-9);
    CHECK_NEAR(ev[0].peak, 20 * log10(1.5), 1e-9);
    CHECK_INT(ev[0].clipped, 1);
    CHECK_INT(ev[1].clipped, 2);
    CHECK_NEAR(ev[1].peak, 0.0, 1e-6);
    rm_harness_free(h);
}

/* A partial window is reported at end of stream with its own duration; a
 * rate change closes the running window first. */
static void test_partial_windows(void)
{
    rm_harness *h = harness_ok(rt, "AudioLevel", "{\"window_ms\": 100}");
    rm_frame *a = sine_frame(16000, 1, 4000, 0, 250, 0.5); /* 250 ms */
    rm_frame *b = sine_frame(8000, 1, 400, 0, 250, 0.5);   /* 50 ms */
    CHECK_INT(rm_harness_push(h, a), 0);
    CHECK_INT(rm_harness_push(h, b), 0);
    CHECK_INT(rm_harness_end(h), 0);
    event ev[8];
    CHECK_INT(events(h, ev, 8), 4);
    CHECK_NEAR(ev[2].dur, 50.0, 1e-9);
    CHECK_NEAR(ev[3].ts, 250.0, 1e-9);
    CHECK_NEAR(ev[3].dur, 50.0, 1e-9);
    CHECK_NEAR(ev[0].rms, 20 * log10(0.5 / sqrt(2)), 0.01);
    rm_frame_unref(a);
    rm_frame_unref(b);
    rm_harness_free(h);
}

static void test_bad_input(void)
{
    char msg[600];
    CHECK_INT(harness_fails(rt, "AudioLevel", "{\"window_ms\": 0}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "window_ms");
    CHECK_INT(harness_fails(rt, "AudioLevel", "{\"window\": 10}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "window_ms");
    rm_harness *h = harness_ok(rt, "AudioLevel", "{}");
    rm_frame *f = rm_frame_new_text("loud", 4);
    CHECK_INT(rm_harness_push(h, f), RM_EFRAMEKIND);
    rm_frame_unref(f);
    rm_harness_free(h);
    /* NaN or infinity in a window: a clear error, not a failed JSON build */
    for (int k = 0; k < 2; k++) {
        h = harness_ok(rt, "AudioLevel", "{\"window_ms\": 10}");
        f = rm_frame_new_audio(RM_SAMPLE_F32, 8000, 1, 160);
        for (int i = 0; i < 160; i++) ((float *)f->u.audio.data)[i] = 0.25f;
        ((float *)f->u.audio.data)[100] = k ? INFINITY : NAN;
        CHECK_INT(rm_harness_push(h, f), RM_EFORMAT);
        CHECK_CONTAINS(rm_harness_error(h)->message, "non-finite samples");
        CHECK_CONTAINS(rm_harness_error(h)->message, "at 10.0 ms");
        rm_frame_unref(f);
        rm_harness_free(h);
    }
}

int main(void)
{
    rt = test_rt();
    RUN(test_full_scale_sine);
    RUN(test_s16_levels);
    RUN(test_channels_and_clipping);
    RUN(test_partial_windows);
    RUN(test_bad_input);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
