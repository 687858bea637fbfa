/*
 * AudioLevel: a level meter.  Audio passes through unchanged on `out` (zero
 * copy); every `window_ms` of audio a json event goes out on `events`:
 *
 *   {"rms_dbfs": -3.01, "peak_dbfs": 0.0, "clipped_samples": 0,
 *    "timestamp_ms": 1200.0, "duration_ms": 100.0}
 *
 * rms_dbfs = 20·log10(RMS) and peak_dbfs = 20·log10(max |sample|) over all
 * channels of the window, in full-scale units (audio_util.h), so a
 * full-scale square wave reads 0 dBFS and a full-scale sine −3.01 dBFS;
 * silence reads −200 dBFS (the floor).  clipped_samples counts samples at
 * the format's limit: s16 −32768 or 32767, s32 −2^31 or 2^31−1; for f32,
 * samples beyond ±1.0 (a full-scale f32 sine touching ±1.0 is not clipped).
 * timestamp_ms is the window start, from the first input frame's timestamp
 * plus the sample count.  The event frame carries the same time, and the
 * sequence number of the input frame that completed the window.  Framing:
 * each event goes out right after the audio up to its window's end (an input
 * frame holding window ends passes in zero-copy slices split there), and the
 * sums run sample by sample, so events and their positions do not depend on
 * how the input is cut.  At end of
 * stream, or when the rate or channel count changes, a partial window is
 * reported with its own duration_ms.  Formats f32, s16, s32.  A window with
 * NaN or infinite f32 samples is an error (RM_EFORMAT): JSON cannot carry
 * its level.
 */
#include <math.h>

#include <jansson.h>

#include "audio_util.h"

typedef struct level_config {
    double window_ms;
} level_config;

typedef struct level_state {
    uint32_t rate, channels;
    size_t window;   /* frames per window, fixed when the window starts */
    size_t filled;   /* frames in the current window */
    double sumsq, peak;
    uint64_t clipped;
    int64_t start_us; /* time of the window's first frame */
    uint64_t events;
    rm__audio_clock clock; /* position of the next input frame */
    rm_frame *props;
} level_state;

/* Accumulates `n` interleaved samples into the window. */
static void accumulate(level_state *st, const void *data, rm_sample_format fmt, size_t n)
{
    /* float sums continue the window's running sum sample by sample, so the
     * result does not depend on where the input frames were cut */
    double sumsq = st->sumsq, peak = st->peak;
    uint64_t clipped = 0;
    switch (fmt) {
    case RM_SAMPLE_S16: {
        const int16_t *s = data;
        int64_t acc = 0; /* exact: n·2^30 fits easily */
        int m = 0;
        for (size_t i = 0; i < n; i++) {
            int v = s[i], a = v < 0 ? -v : v;
            acc += (int64_t)v * v;
            m = a > m ? a : m;
            clipped += (v == 32767) | (v == -32768);
        }
        sumsq += (double)acc / (32768.0 * 32768.0); /* exact: multiples of 2^-30 */
        if (m / 32768.0 > peak) peak = m / 32768.0;
        break;
    }
    case RM_SAMPLE_S32: {
        const int32_t *s = data;
        for (size_t i = 0; i < n; i++) {
            double x = s[i] / 2147483648.0;
            sumsq += x * x;
            peak = fabs(x) > peak ? fabs(x) : peak;
            clipped += (s[i] == INT32_MAX) | (s[i] == INT32_MIN);
        }
        break;
    }
    default: {
        const float *s = data;
        for (size_t i = 0; i < n; i++) {
            double x = s[i];
            sumsq += x * x;
            peak = fabs(x) > peak ? fabs(x) : peak;
            clipped += fabs(x) > 1.0;
        }
        break;
    }
    }
    st->sumsq = sumsq;
    st->peak = peak;
    st->clipped += clipped;
}

static int emit_event(rm_node *node, level_state *st)
{
    size_t samples = st->filled * st->channels;
    /* JSON has no NaN or infinity (jansson refuses them): name the cause
     * instead of failing to build the event */
    if (!isfinite(st->sumsq) || !isfinite(st->peak))
        return rm_node_fail(node, RM_EFORMAT, "non-finite samples (NaN or infinity) in the window at %.1f ms",
                            (double)st->start_us / 1000.0);
    json_t *ev = json_pack("{s:f, s:f, s:I, s:f, s:f}", "rms_dbfs", rm__audio_db(sqrt(st->sumsq / (double)samples)),
                           "peak_dbfs", rm__audio_db(st->peak), "clipped_samples", (json_int_t)st->clipped,
                           "timestamp_ms", (double)st->start_us / 1000.0, "duration_ms",
                           (double)st->filled * 1000.0 / st->rate);
    rm_frame *out = ev ? rm_frame_new_json(ev) : NULL;
    if (!out || (st->props && rm_frame_copy_props(out, st->props) != 0)) {
        rm_frame_unref(out);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    out->timestamp_us = st->start_us;
    st->events++;
    st->filled = 0;
    st->sumsq = st->peak = 0;
    st->clipped = 0;
    return rm_node_emit_take(node, 1, out);
}

/* Timestamp of frame `a` of f: f's own clock. */
static int64_t slice_ts(const rm_frame *f, size_t a)
{
    if (f->timestamp_us == RM_TS_NONE || a == 0) return f->timestamp_us;
    return f->timestamp_us + (int64_t)llround((double)a * 1e6 / f->u.audio.rate);
}

static int level_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    level_state *st = state;
    const level_config *cfg = rm_node_config(node);
    int rc = 0;
    if (f->u.audio.rate != st->rate || f->u.audio.channels != st->channels) {
        if (st->filled && (rc = emit_event(node, st)) != 0) return rc;
        st->rate = f->u.audio.rate;
        st->channels = f->u.audio.channels;
    }
    rm__audio_clock_start(&st->clock, f, st->rate);
    if (f != st->props) {
        rm_frame_unref(st->props);
        st->props = rm_frame_ref(f);
    }
    const unsigned char *src = f->u.audio.data;
    size_t left = f->u.audio.frames, fb = rm_sample_format_size(f->u.audio.format) * st->channels;
    size_t sent = 0; /* frames of f passed on `out`: each event follows the audio up to its window's end */
    while (left) {
        if (st->filled == 0) {
            st->window = rm__audio_ms_to_frames(cfg->window_ms, st->rate);
            if (st->window == 0) st->window = 1;
            st->start_us = rm__audio_clock_now(&st->clock);
        }
        size_t take = st->window - st->filled < left ? st->window - st->filled : left;
        accumulate(st, src, f->u.audio.format, take * st->channels);
        st->filled += take;
        st->clock.frames += take;
        src += take * fb;
        left -= take;
        if (st->filled == st->window) {
            size_t at = f->u.audio.frames - left;
            rc = rm__audio_emit_range(node, 0, f, sent, at, slice_ts(f, sent));
            sent = at;
            if (rc == 0) rc = emit_event(node, st);
            if (rc != 0) return rc;
        }
    }
    return rm__audio_emit_range(node, 0, f, sent, f->u.audio.frames, slice_ts(f, sent));
}

static int level_flush(rm_node *node, void *state)
{
    level_state *st = state;
    int rc = st->filled ? emit_event(node, st) : 0;
    rm_frame_unref(st->props);
    st->props = NULL;
    return rc;
}

static int level_reset(rm_node *node, void *state)
{
    (void)node;
    level_state *st = state;
    rm_frame_unref(st->props);
    *st = (level_state){0};
    return 0;
}

static void level_fini(void *state) { rm_frame_unref(((level_state *)state)->props); }

static int level_negotiate(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)config;
    (void)in_req;
    (void)err;
    out[0] = in[0];
    out[0].kinds = RM__AUDIO_KINDS;
    return 0;
}

static const rm_param_def level_params[] = {
    {.name = "window_ms", .type = RM_PARAM_FLOAT, .offset = offsetof(level_config, window_ms),
     .doc = "length of each measured window in ms (rounded to whole frames)", .def_num = 100, .min = 1,
     .max = 600000, .flags = RM_PARAM_RUNTIME},
    {0},
};

static const rm_port_def level_in[] = {{"in", RM__AUDIO_KINDS, "audio, f32/s16/s32"}, {0}};
static const rm_port_def level_out[] = {
    {"out", RM__AUDIO_KINDS, "the input audio, unchanged"},
    {"events", RM_KIND_BIT(RM_FRAME_JSON), "{rms_dbfs, peak_dbfs, clipped_samples, timestamp_ms, duration_ms}"},
    {0}};

const rm_node_type rm__node_audio_level = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "AudioLevel",
    .doc = "Measures RMS and peak level (dBFS) and clipping per window; audio passes through",
    .family = "audio",
    .inputs = level_in,
    .outputs = level_out,
    .params = level_params,
    .config_size = sizeof(level_config),
    .state_size = sizeof(level_state),
    .negotiate = level_negotiate,
    .process = level_process,
    .flush = level_flush,
    .reset = level_reset,
    .fini = level_fini,
    .example = "- id: level\n  node_type: AudioLevel\n  params: { window_ms: 100 }\n",
};
