/*
 * VAD: voice activity detection with an adaptive noise floor (docs/vad.md).
 *
 * Audio in (f32/s16/s32, any channel count — downmixed —, 8–192 kHz) passes
 * through `out` unchanged (the same frame: zero copy).  `events` carries JSON
 * events, by default only on transitions:
 *   {"is_speech_start": true, "is_speech_end": false, "has_speech": true,
 *    "speech_probability": 0.97, "timestamp_ms": 1180.0}
 *   {"is_speech_start": false, "is_speech_end": true, "has_speech": false,
 *    "speech_probability": 0.02, "timestamp_ms": 3840.0, "start_ms": 1180.0,
 *    "duration_ms": 2660.0}
 * `frame_events: true` adds one event per analysis frame (both flags false,
 * `has_speech` = the current state, timestamp = the frame's start).
 *
 * Timing: timestamp_ms is the position in the audio — the input frames'
 * timestamps when they carry one, else the count of samples since the
 * start — of the speech start minus `speech_pad_ms`, or of the speech end
 * plus `speech_pad_ms`, refined to 5 ms.  A start is *decided* once speech
 * has lasted `min_speech_ms` and an end once silence has lasted
 * `min_silence_ms`, so events are emitted that much after the moment they
 * name; an event frame's timestamp_us is the moment it names.
 *
 * Framing: an event is emitted right after the audio up to the end of the
 * analysis frame that decided it, whatever the input framing: an input frame
 * in which events are decided is passed on `out` in pieces (zero-copy slices
 * holding a reference on it) split at those analysis frame ends, with the
 * events in between; other input frames pass whole.  So downstream nodes see
 * the same samples and the same events at the same sample positions whether
 * the audio came in 10 ms chunks or as one frame.  Event frames carry the
 * sequence number and stream id of the input frame that decided them.
 *
 * Streaming: input frames of any size (partial analysis frames are kept);
 * end of stream emits the end of ongoing speech (a last partial analysis
 * frame is not analysed); reset drops the partial frame and any ongoing
 * speech without an event but keeps the learned noise floor and the clock.
 *
 * Aliases: RustVADNode (sample_rate, frame_duration_ms, energy_threshold)
 * and SileroVADNode (threshold, sampling_rate, min_speech_duration_ms,
 * min_silence_duration_ms, speech_pad_ms) map onto these params.
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "audio_util.h"
#include "remotemedia/node.h"
#include "vad_dsp.h"

/* Sub-block onset/offset refinement: a 5 ms block belongs to the speech when
 * its power exceeds the full-band noise mean by EDGE_SD standard deviations
 * of a noise-only block (len samples: power sd = mean * sqrt(2 / len) for
 * white Gaussian noise). */
#define EDGE_SD 3.0

typedef struct vad_config {
    int64_t frame_ms;
    double threshold;
    double hysteresis;
    int64_t min_speech_ms;
    int64_t min_silence_ms;
    int64_t speech_pad_ms;
    int64_t sample_rate;
    double min_energy;
    int frame_events;
    int64_t noise_window_ms;
} vad_config;

typedef struct vad_state {
    rm__vad_dsp dsp;
    int ready; /* dsp and buf allocated (at the first audio frame) */
    uint32_t rate;
    double edge_factor; /* hot block: power > noise * edge_factor */
    float *buf; /* the partial analysis frame, mono */
    unsigned fill;
    uint64_t in_index;   /* index of the next input sample            */
    uint64_t base_index; /* sample index whose time is base_ms        */
    double base_ms;
    /* segmentation (sample indices) */
    int speaking;
    unsigned run;            /* speech frames in the candidate, not yet speaking */
    unsigned quiet;          /* non-speech frames in a row since the last speech frame */
    uint64_t onset;          /* refined start of the current run         */
    uint64_t last_start;     /* start of the last speech frame           */
    rm__vad_result last_res; /* ... and its analysis                      */
    rm__vad_result after_res; /* the first frame after it               */
    rm__vad_result prev_res; /* the previous frame                        */
    int have_prev;
    uint64_t start_ev;  /* index named by the last start event */
    uint64_t floor_ev;  /* a start event never names a time before this */
    double speech_ms;   /* total speech reported */
    int have_base;      /* base_ms/base_index set from a frame timestamp */
    const rm_frame *cur; /* the input frame being processed (borrowed) or NULL */
    uint64_t last_seq;  /* sequence of the last input frame (for flush) */
    /* events decided in the current input frame, not yet emitted */
    rm_frame **pending;
    size_t n_pending, cap_pending;
} vad_state;

static double index_ms(const vad_state *st, uint64_t idx)
{
    return st->base_ms + ((double)idx - (double)st->base_index) * 1000.0 / st->rate;
}

static int queue_event(rm_node *node, vad_state *st, int start, int end, float prob, uint64_t at,
                       uint64_t from)
{
    double t = index_ms(st, at);
    json_t *ev = json_pack("{s:b, s:b, s:b, s:f, s:f}", "is_speech_start", start, "is_speech_end", end,
                           "has_speech", st->speaking, "speech_probability", (double)prob,
                           "timestamp_ms", t);
    if (ev && end) {
        double t0 = index_ms(st, from);
        json_object_set_new(ev, "start_ms", json_real(t0));
        json_object_set_new(ev, "duration_ms", json_real(t - t0));
    }
    rm_frame *f = ev ? rm_frame_new_json(ev) : NULL;
    if (f && st->n_pending == st->cap_pending) {
        size_t cap = st->cap_pending ? st->cap_pending * 2 : 8;
        rm_frame **p = realloc(st->pending, cap * sizeof *p);
        if (!p) rm_frame_unref(f), f = NULL;
        else st->pending = p, st->cap_pending = cap;
    }
    if (!f) return rm_node_fail(node, RM_ENOMEM, "out of memory for a VAD event");
    f->timestamp_us = llround(t * 1000.0);
    f->sequence = st->last_seq;
    if (st->cur && st->cur->stream_id && rm_frame_set_stream_id(f, st->cur->stream_id) != 0) {
        rm_frame_unref(f);
        return rm_node_fail(node, RM_ENOMEM, "out of memory for a VAD event");
    }
    st->pending[st->n_pending++] = f;
    return 0;
}

/* Length of 5 ms block k of a frame (the last block takes the remainder). */
static unsigned block_len(const vad_state *st, unsigned k)
{
    const rm__vad_dsp *d = &st->dsp;
    return k + 1 == d->n_sub ? d->n - (d->n_sub - 1) * d->sub_len : d->sub_len;
}

/* Start of speech inside the frame at `s` (result r, previous frame p or
 * NULL): the first hot 5 ms block, extended back into the previous frame
 * while its trailing blocks are hot. */
static uint64_t refine_onset(const vad_state *st, uint64_t s, const rm__vad_result *r, const rm__vad_result *p)
{
    double thr = r->noise * st->edge_factor;
    unsigned j = 0;
    while (j < r->n_sub && r->sub[j] <= thr) j++;
    if (j == r->n_sub) return s; /* the bands saw speech the energy does not show: whole frame */
    if (j > 0 || !p) return s + (uint64_t)j * st->dsp.sub_len;
    uint64_t at = s;
    for (unsigned k = p->n_sub; k > 0 && p->sub[k - 1] > thr; k--) at -= block_len(st, k - 1);
    return at;
}

/* End of speech for the last speech frame at `s` (result r): after its last
 * hot block, extended into the following frame (a, or NULL) while its
 * leading blocks are hot. */
static uint64_t refine_offset(const vad_state *st, uint64_t s, const rm__vad_result *r, const rm__vad_result *a)
{
    double thr = r->noise * st->edge_factor;
    unsigned j = r->n_sub;
    while (j > 0 && r->sub[j - 1] <= thr) j--;
    if (j == 0) return s + st->dsp.n; /* the bands saw speech the energy does not show: whole frame */
    if (j < r->n_sub || !a) return s + (uint64_t)j * st->dsp.sub_len;
    uint64_t at = s + st->dsp.n;
    for (unsigned k = 0; k < a->n_sub && a->sub[k] > thr; k++) at += block_len(st, k);
    return at;
}

static int end_speech(rm_node *node, vad_state *st, const vad_config *cfg, float prob, uint64_t limit)
{
    uint64_t end = refine_offset(st, st->last_start, &st->last_res, st->quiet ? &st->after_res : NULL);
    uint64_t pad = (uint64_t)cfg->speech_pad_ms * st->rate / 1000;
    end += pad;
    if (end > limit) end = limit;
    if (end < st->start_ev) end = st->start_ev;
    st->speaking = 0;
    st->run = st->quiet = 0;
    st->floor_ev = end;
    st->speech_ms += (double)(end - st->start_ev) * 1000.0 / st->rate;
    return queue_event(node, st, 0, 1, prob, end, st->start_ev);
}

/* One analysis frame starting at sample index `s`. */
static int analyse(rm_node *node, vad_state *st, uint64_t s)
{
    const vad_config *cfg = rm_node_config(node);
    rm__vad_result r;
    rm__vad_dsp_frame(&st->dsp, st->buf, &r);
    /* hysteresis: speech starts at `threshold` and goes on down to
     * threshold - hysteresis (as Silero's VADIterator does) */
    int strong = r.prob >= cfg->threshold;
    int cont = r.prob >= cfg->threshold - cfg->hysteresis;
    unsigned fms = (unsigned)cfg->frame_ms;
    int rc = 0;
    if (cfg->frame_events) rc = queue_event(node, st, 0, 0, r.prob, s, s);
    if (rc == 0 && !st->speaking) {
        /* a candidate: speech frames with pauses shorter than min_silence_ms,
         * reported once it holds min_speech_ms of speech above threshold */
        if (strong || (cont && st->run > 0)) {
            if (st->run == 0) st->onset = refine_onset(st, s, &r, st->have_prev ? &st->prev_res : NULL);
            st->run += strong;
            st->quiet = 0;
            st->last_start = s;
            st->last_res = r;
            if ((int64_t)st->run * fms >= cfg->min_speech_ms) {
                uint64_t pad = (uint64_t)cfg->speech_pad_ms * st->rate / 1000;
                uint64_t at = st->onset > pad ? st->onset - pad : 0;
                if (at < st->floor_ev) at = st->floor_ev;
                st->speaking = 1;
                st->start_ev = at;
                rc = queue_event(node, st, 1, 0, r.prob, at, at);
            }
        } else if (st->run > 0 && (int64_t)++st->quiet * fms >= cfg->min_silence_ms) {
            st->run = 0;
            st->quiet = 0;
        }
    } else if (rc == 0) {
        if (cont) {
            st->quiet = 0;
            st->last_start = s;
            st->last_res = r;
        } else {
            if (st->quiet == 0) st->after_res = r;
            st->quiet++;
            if ((int64_t)st->quiet * fms >= cfg->min_silence_ms) rc = end_speech(node, st, cfg, r.prob, UINT64_MAX);
        }
    }
    st->prev_res = r;
    st->have_prev = 1;
    return rc;
}

static void drop_pending(vad_state *st)
{
    for (size_t i = 0; i < st->n_pending; i++) rm_frame_unref(st->pending[i]);
    st->n_pending = 0;
}

static int emit_pending(rm_node *node, vad_state *st)
{
    int rc = 0;
    size_t i = 0;
    for (; i < st->n_pending && rc == 0; i++) rc = rm_node_emit_take(node, 1, st->pending[i]);
    for (; i < st->n_pending; i++) rm_frame_unref(st->pending[i]);
    st->n_pending = 0;
    if (st->speech_ms > 0) rm_node_stat(node, "speech_ms", RM_STAT_SET, st->speech_ms);
    return rc;
}

/* Mono float samples [i, i + k) of audio frame f into out (mean of the
 * channels, full scale 1.0). */
static void downmix(const rm_frame *f, size_t i, size_t k, float *out)
{
    const unsigned ch = f->u.audio.channels;
    const rm_sample_format fmt = f->u.audio.format;
    const float scale = (fmt == RM_SAMPLE_S16 ? 1.0f / 32768.0f : fmt == RM_SAMPLE_S32 ? 1.0f / 2147483648.0f : 1.0f) / ch;
    if (fmt == RM_SAMPLE_F32 && ch == 1) {
        memcpy(out, (const float *)f->u.audio.data + i, k * sizeof *out);
    } else if (fmt == RM_SAMPLE_F32 && ch == 2) { /* the common case, vectorised */
        const float *p = (const float *)f->u.audio.data + i * 2;
        for (size_t j = 0; j < k; j++) out[j] = (p[2 * j] + p[2 * j + 1]) * scale;
    } else if (fmt == RM_SAMPLE_F32) {
        const float *p = (const float *)f->u.audio.data + i * ch;
        for (size_t j = 0; j < k; j++, p += ch) {
            float v = 0;
            for (unsigned c = 0; c < ch; c++) v += p[c];
            out[j] = v * scale;
        }
    } else if (fmt == RM_SAMPLE_S16) {
        const int16_t *p = (const int16_t *)f->u.audio.data + i * ch;
        for (size_t j = 0; j < k; j++, p += ch) {
            int32_t v = 0;
            for (unsigned c = 0; c < ch; c++) v += p[c];
            out[j] = (float)v * scale;
        }
    } else {
        const int32_t *p = (const int32_t *)f->u.audio.data + i * ch;
        for (size_t j = 0; j < k; j++, p += ch) {
            double v = 0;
            for (unsigned c = 0; c < ch; c++) v += p[c];
            out[j] = (float)(v * scale);
        }
    }
}

static int start_stream(rm_node *node, vad_state *st, const vad_config *cfg, const rm_frame *f)
{
    uint32_t rate = f->u.audio.rate;
    if (rate < 8000 || rate > 192000)
        return rm_node_fail(node, RM_EFORMAT, "VAD needs audio at 8000..192000 Hz, got %u Hz", rate);
    if (cfg->sample_rate && rate != (uint32_t)cfg->sample_rate)
        return rm_node_fail(node, RM_EFORMAT,
                            "audio arrives at %u Hz but sample_rate is %lld Hz (resample it, or drop sample_rate "
                            "to accept any rate)",
                            rate, (long long)cfg->sample_rate);
    int rc = rm__vad_dsp_init(&st->dsp, rate, (unsigned)cfg->frame_ms, (unsigned)cfg->noise_window_ms,
                              cfg->min_energy);
    if (rc != 0) return rm_node_fail(node, rc, "cannot set up the detector for %u Hz", rate);
    st->buf = malloc(st->dsp.n * sizeof *st->buf);
    if (!st->buf) {
        rm__vad_dsp_free(&st->dsp);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    st->rate = rate;
    st->edge_factor = 1.0 + EDGE_SD * sqrt(2.0 / st->dsp.sub_len);
    st->ready = 1;
    return 0;
}

/* Passes frames [a, b) of input frame f on `out` (whole, or a zero-copy
 * slice stamped on the VAD's clock, so a slice's time is the same however
 * the input was cut). */
static int emit_audio(rm_node *node, vad_state *st, const rm_frame *f, size_t a, size_t b)
{
    int64_t ts = f->timestamp_us == RM_TS_NONE ? RM_TS_NONE : llround(index_ms(st, st->in_index + a) * 1000.0);
    return rm__audio_emit_range(node, 0, f, a, b, ts);
}

static int vad_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    vad_state *st = state;
    const vad_config *cfg = rm_node_config(node);
    rm_sample_format fmt = f->u.audio.format;
    if (fmt != RM_SAMPLE_F32 && fmt != RM_SAMPLE_S16 && fmt != RM_SAMPLE_S32)
        return rm_node_fail(node, RM_EFORMAT, "unsupported sample format %d (f32, s16 or s32)", (int)fmt);
    if (f->u.audio.channels == 0) return rm_node_fail(node, RM_EFORMAT, "audio frame with 0 channels");
    if (!st->ready) {
        int rc = start_stream(node, st, cfg, f);
        if (rc != 0) return rc;
    } else if (f->u.audio.rate != st->rate) {
        return rm_node_fail(node, RM_EFORMAT, "audio rate changed from %u Hz to %u Hz mid-stream", st->rate,
                            f->u.audio.rate);
    }
    /* Follow the frames' clock, but only where it departs from the sample
     * count by more than half a sample: timestamps rounded to whole µs (or
     * sliced frames) must not shift the events by fractions of a sample. */
    if (f->timestamp_us != RM_TS_NONE) {
        double ts_ms = (double)f->timestamp_us / 1000.0;
        if (!st->have_base || fabs(ts_ms - index_ms(st, st->in_index)) > 500.0 / st->rate) {
            st->base_index = st->in_index;
            st->base_ms = ts_ms;
            st->have_base = 1;
        }
    }
    st->cur = f;
    st->last_seq = f->sequence;
    const unsigned n = st->dsp.n;
    const size_t frames = f->u.audio.frames;
    size_t sent = 0; /* frames of f already passed on `out` */
    int rc = 0;
    for (size_t i = 0; i < frames && rc == 0;) {
        size_t k = n - st->fill < frames - i ? n - st->fill : frames - i;
        downmix(f, i, k, st->buf + st->fill);
        st->fill += (unsigned)k;
        i += k;
        if (st->fill == n) {
            st->fill = 0;
            rc = analyse(node, st, st->in_index + i - n);
            if (rc == 0 && st->n_pending) {
                /* the audio up to the deciding frame's end, then its events */
                rc = emit_audio(node, st, f, sent, i);
                sent = i;
                if (rc == 0) rc = emit_pending(node, st);
            }
        }
    }
    if (rc == 0) rc = emit_audio(node, st, f, sent, frames);
    st->in_index += frames;
    st->cur = NULL;
    if (rc != 0) drop_pending(st);
    return rc;
}

static int vad_flush(rm_node *node, void *state)
{
    vad_state *st = state;
    if (!st->ready || !st->speaking) return 0;
    int rc = end_speech(node, st, rm_node_config(node), 0.0f, st->in_index);
    return rc ? rc : emit_pending(node, st);
}

static int vad_reset(rm_node *node, void *state)
{
    (void)node;
    vad_state *st = state;
    drop_pending(st);
    st->fill = 0;
    st->speaking = 0;
    st->run = st->quiet = 0;
    st->have_prev = 0;
    st->floor_ev = st->in_index;
    return 0;
}

static void vad_fini(void *state)
{
    vad_state *st = state;
    drop_pending(st);
    free(st->pending);
    free(st->buf);
    if (st->ready) rm__vad_dsp_free(&st->dsp);
}

static int vad_negotiate(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    const vad_config *c = config;
    if (c->frame_ms != 10 && c->frame_ms != 20 && c->frame_ms != 30)
        return rm_error_set(err, RM_EPARAM, NULL, "params.frame_ms: must be 10, 20 or 30 (got %lld)",
                            (long long)c->frame_ms);
    if (c->sample_rate != 0 && c->sample_rate < 8000)
        return rm_error_set(err, RM_EPARAM, NULL,
                            "params.sample_rate: %lld Hz is below 8000 Hz (0 accepts any rate)",
                            (long long)c->sample_rate);
    if (in[0].rate && (in[0].rate < 8000 || in[0].rate > 192000))
        return rm_error_set(err, RM_ECAPS, NULL, "VAD needs audio at 8000..192000 Hz; its input is %u Hz",
                            in[0].rate);
    if (c->sample_rate) in_req[0].rate = (uint32_t)c->sample_rate;
    out[0] = in[0];
    out[0].kinds = RM_KIND_BIT(RM_FRAME_AUDIO);
    if (c->sample_rate) out[0].rate = (uint32_t)c->sample_rate;
    return 0;
}

static const char *const frame_ms_aliases[] = {"frame_duration_ms", NULL};
static const char *const min_speech_aliases[] = {"min_speech_duration_ms", NULL};
static const char *const min_silence_aliases[] = {"min_silence_duration_ms", NULL};
static const char *const sample_rate_aliases[] = {"sampling_rate", NULL};
static const char *const min_energy_aliases[] = {"energy_threshold", NULL};

static const rm_param_def vad_params[] = {
    {.name = "frame_ms", .type = RM_PARAM_INT, .offset = offsetof(vad_config, frame_ms),
     .doc = "analysis frame: 10, 20 or 30 ms", .def_num = 30, .min = 10, .max = 30, .aliases = frame_ms_aliases},
    {.name = "threshold", .type = RM_PARAM_FLOAT, .offset = offsetof(vad_config, threshold),
     .doc = "speech probability at or above which a frame counts as speech", .def_num = 0.5, .min = 0, .max = 1,
     .flags = RM_PARAM_RUNTIME},
    {.name = "hysteresis", .type = RM_PARAM_FLOAT, .offset = offsetof(vad_config, hysteresis),
     .doc = "once speaking, frames down to threshold - hysteresis still count as speech", .def_num = 0.15,
     .min = 0, .max = 1, .flags = RM_PARAM_RUNTIME},
    {.name = "min_speech_ms", .type = RM_PARAM_INT, .offset = offsetof(vad_config, min_speech_ms),
     .doc = "speech must last this long before a start is reported (shorter bursts are ignored)",
     .def_num = 90, .min = 0, .max = 10000, .aliases = min_speech_aliases, .flags = RM_PARAM_RUNTIME},
    {.name = "min_silence_ms", .type = RM_PARAM_INT, .offset = offsetof(vad_config, min_silence_ms),
     .doc = "hangover: silence must last this long before an end is reported (shorter pauses stay inside)",
     .def_num = 200, .min = 0, .max = 10000, .aliases = min_silence_aliases, .flags = RM_PARAM_RUNTIME},
    {.name = "speech_pad_ms", .type = RM_PARAM_INT, .offset = offsetof(vad_config, speech_pad_ms),
     .doc = "reported starts are this much earlier and ends this much later than the detected speech",
     .def_num = 30, .min = 0, .max = 5000, .flags = RM_PARAM_RUNTIME},
    {.name = "sample_rate", .type = RM_PARAM_INT, .offset = offsetof(vad_config, sample_rate),
     .doc = "required input rate in Hz (the graph checks links against it); 0 = any rate from 8000 to 192000",
     .def_num = 0, .min = 0, .max = 192000, .aliases = sample_rate_aliases},
    {.name = "min_energy", .type = RM_PARAM_FLOAT, .offset = offsetof(vad_config, min_energy),
     .doc = "RMS level (full scale 1.0) below which a frame is never speech", .def_num = 1e-3, .min = 0,
     .max = 1, .aliases = min_energy_aliases},
    {.name = "frame_events", .type = RM_PARAM_BOOL, .offset = offsetof(vad_config, frame_events),
     .doc = "also emit one probability event per analysis frame", .def_num = 0, .flags = RM_PARAM_RUNTIME},
    {.name = "noise_window_ms", .type = RM_PARAM_INT, .offset = offsetof(vad_config, noise_window_ms),
     .doc = "history the noise floor is learned from (its 20th percentile per band)", .def_num = 5000,
     .min = 500, .max = 60000},
    {0},
};

static const char *const vad_aliases[] = {"RustVADNode", "SileroVADNode", NULL};
static const rm_port_def vad_in[] = {
    {"in", RM_KIND_BIT(RM_FRAME_AUDIO), "audio: f32, s16 or s32, any channel count, 8-192 kHz"}, {0}};
static const rm_port_def vad_out[] = {
    {"out", RM_KIND_BIT(RM_FRAME_AUDIO), "the input audio, unchanged (same frames)"},
    {"events", RM_KIND_BIT(RM_FRAME_JSON), "speech start/end events (JSON)"},
    {0}};

const rm_node_type rm__node_vad = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "VAD",
    .doc = "Voice activity detection: adaptive noise floor, per-band likelihood ratio, start/end events",
    .family = "audio",
    .aliases = vad_aliases,
    .inputs = vad_in,
    .outputs = vad_out,
    .params = vad_params,
    .config_size = sizeof(vad_config),
    .state_size = sizeof(vad_state),
    .negotiate = vad_negotiate,
    .process = vad_process,
    .flush = vad_flush,
    .reset = vad_reset,
    .fini = vad_fini,
    .example = "- id: vad\n  node_type: VAD\n  params: { frame_ms: 20, threshold: 0.5, min_silence_ms: 300 }\n",
};
