/*
 * Helpers shared by the audio node tests (test_audio_*.c): signal
 * generators, a harness wrapper and output collection.  Public API only.
 */
#ifndef RM_TEST_AUDIO_TEST_H
#define RM_TEST_AUDIO_TEST_H

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static inline rm_runtime *test_rt(void)
{
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags = RM_RUNTIME_NO_ENV_PLUGINS;
    rm_runtime *rt = NULL;
    rm_error err;
    if (rm_runtime_new_with_builtins(&o, &rt, &err) != 0) {
        fprintf(stderr, "runtime: %s\n", err.message);
        exit(2);
    }
    return rt;
}

/* A harness that must be created; the test stops on failure. */
static inline rm_harness *harness_ok(rm_runtime *rt, const char *type, const char *params)
{
    rm_harness *h = NULL;
    rm_error err;
    rm_error_clear(&err);
    int rc = rm_harness_new(rt, type, params, &h, &err);
    if (rc != 0) {
        fprintf(stderr, "harness %s %s: %s\n", type, params ? params : "", err.message);
        exit(2);
    }
    return h;
}

/* Creates a harness that must fail validation; returns the code and copies
 * the message into msg. */
static inline int harness_fails(rm_runtime *rt, const char *type, const char *params, char *msg, size_t cap)
{
    rm_harness *h = NULL;
    rm_error err;
    rm_error_clear(&err);
    int rc = rm_harness_new(rt, type, params, &h, &err);
    snprintf(msg, cap, "%s", err.message);
    rm_harness_free(h);
    return rc;
}

/* Sine value of channel c at frame i: amp·sin(2π·f_c·i/rate), f_c = freq·(c+1). */
static inline double sine_at(double freq, double amp, uint32_t rate, unsigned c, double i)
{
    return amp * sin(2.0 * M_PI * freq * (c + 1) * i / rate);
}

/* An f32 frame of a sine per channel (channel c at freq·(c+1)), starting at
 * absolute frame `start`. */
static inline rm_frame *sine_frame(uint32_t rate, uint32_t ch, size_t frames, size_t start, double freq, double amp)
{
    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, rate, ch, frames);
    float *d = f->u.audio.data;
    for (size_t i = 0; i < frames; i++)
        for (uint32_t c = 0; c < ch; c++) d[i * ch + c] = (float)sine_at(freq, amp, rate, c, (double)(start + i));
    return f;
}

/* An audio frame of `fmt` holding `n` samples copied from `data` (of `fmt`). */
static inline rm_frame *audio_frame(rm_sample_format fmt, uint32_t rate, uint32_t ch, size_t frames, const void *data)
{
    rm_frame *f = rm_frame_new_audio(fmt, rate, ch, frames);
    if (frames) memcpy(f->u.audio.data, data, frames * ch * rm_sample_format_size(fmt));
    return f;
}

/* Concatenates the f32 audio the harness emitted on `port`. */
typedef struct collected {
    float *data;
    size_t frames;
    uint32_t channels, rate;
    size_t count; /* output frames */
} collected;

static inline void collect_f32(const rm_harness *h, const char *port, collected *out)
{
    memset(out, 0, sizeof *out);
    size_t total = 0;
    for (size_t i = 0; i < rm_harness_output_count(h); i++) {
        const rm_frame *f = rm_harness_output(h, i);
        if (strcmp(rm_harness_output_port(h, i), port) || f->kind != RM_FRAME_AUDIO) continue;
        total += f->u.audio.frames * f->u.audio.channels;
    }
    out->data = malloc((total ? total : 1) * sizeof(float));
    for (size_t i = 0; i < rm_harness_output_count(h); i++) {
        const rm_frame *f = rm_harness_output(h, i);
        if (strcmp(rm_harness_output_port(h, i), port) || f->kind != RM_FRAME_AUDIO) continue;
        CHECK(f->u.audio.format == RM_SAMPLE_F32);
        out->channels = f->u.audio.channels;
        out->rate = f->u.audio.rate;
        memcpy(out->data + out->frames * out->channels, f->u.audio.data,
               f->u.audio.frames * f->u.audio.channels * sizeof(float));
        out->frames += f->u.audio.frames;
        out->count++;
    }
}

/* Pushes `frames` frames of `src` (interleaved f32) in chunks of `chunk`
 * frames, with timestamps from `ts0` µs. */
static inline int push_chunks(rm_harness *h, const float *src, uint32_t rate, uint32_t ch, size_t frames, size_t chunk,
                       int64_t ts0)
{
    for (size_t p = 0; p < frames; p += chunk) {
        size_t n = frames - p < chunk ? frames - p : chunk;
        rm_frame *f = audio_frame(RM_SAMPLE_F32, rate, ch, n, src + p * ch);
        f->timestamp_us = ts0 + (int64_t)((double)p * 1e6 / rate);
        f->sequence = p / chunk;
        int rc = rm_harness_push(h, f);
        rm_frame_unref(f);
        if (rc != 0) return rc;
    }
    return 0;
}

/* A value from the harness metrics: node_metrics.node.stats.<key>[.<sub>]
 * (sub NULL for plain stats).  NaN when absent. */
static inline double harness_stat(const rm_harness *h, const char *key, const char *sub)
{
    char *text = rm_harness_metrics_json(h);
    json_t *m = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_t *v = json_object_get(json_object_get(json_object_get(json_object_get(m, "node_metrics"), "node"), "stats"),
                                key);
    if (sub) v = json_object_get(v, sub);
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    json_decref(m);
    return x;
}

/* A one-node session (id "node") whose outputs go to `fn`; the graph is
 * returned in *g for the caller to unref after closing the session. */
static inline rm_session *one_node_session(rm_runtime *rt, const char *type, const char *params, rm_output_fn fn,
                                           void *user, rm_graph **g)
{
    char m[512];
    snprintf(m, sizeof m,
             "{\"version\":\"v1\",\"nodes\":[{\"id\":\"node\",\"node_type\":\"%s\",\"params\":%s}],"
             "\"connections\":[]}",
             type, params);
    *g = NULL;
    rm_session *s = NULL;
    rm_error err;
    if (rm_graph_load_string(rt, m, strlen(m), "t", NULL, g, NULL) != 0) return NULL;
    rm_session_opts o = {.on_output = fn, .output_user = user};
    if (rm_session_open(*g, &o, &s, &err) != 0) return NULL;
    return s;
}

#endif
