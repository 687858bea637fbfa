/*
 * SpeechSegmenter: cuts an audio stream into one frame per utterance, driven
 * by VAD events (the original's AudioBufferAccumulatorNode, also accepted
 * under that name with its minUtteranceDurationMs / maxUtteranceDurationMs).
 *
 * Wiring:   - { from: vad,        to: seg }          # audio (vad.out)
 *           - { from: vad.events, to: seg.events }   # its events
 * JSON events are also accepted on `in`, so a single stream that mixes
 * audio and events (the original's wiring) works too.
 *
 * Events are placed by their timestamp_ms on the audio's own clock (the
 * frames' timestamps when they carry one, else the sample count — the clock
 * the VAD uses), so it does not matter whether an event arrives before or
 * after the audio it names, nor that a VAD decides a start some time after
 * the start it reports: the segmenter keeps the last `history_ms` of audio.
 * An event without timestamp_ms means "now" (the end of the audio so far).
 *
 * An utterance covers [start − pad_ms, end + pad_ms] (clamped to the audio
 * kept and to the previous utterance).  It is emitted, as one f32 frame with
 * the input's rate and channel count, once the audio up to its end has
 * arrived: timestamp_us = its start, metadata start_ms / end_ms /
 * duration_ms / part.  Utterances shorter than min_utterance_ms are dropped;
 * one that reaches max_utterance_ms is emitted in parts of that length
 * (part "0", "1", …; every part but the last has metadata continued = "1";
 * a short last part is kept, it is the tail of a long utterance).  End of
 * stream emits an open utterance up to the end of the audio.  Reset drops
 * the audio and any open utterance.
 *
 * Framing: utterances are placed by sample position, so the output does not
 * depend on how the audio was cut, as long as each event arrives before the
 * audio it names has left the history (the VAD emits every event right after
 * the audio up to the analysis frame that decided it).  An output frame
 * carries the sequence number of the input frame that completed it.
 *
 * Memory: one buffer holding the open utterance and the history; it is
 * trimmed lazily (when half of it is stale, or before it would grow), so it
 * stays under about twice max_utterance_ms + history_ms + one input frame.
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remotemedia/node.h"

typedef struct seg_config {
    int64_t pad_ms;
    int64_t min_utterance_ms;
    int64_t max_utterance_ms;
    int64_t history_ms;
} seg_config;

typedef struct seg_state {
    int have_fmt;
    uint32_t rate, channels;
    float *buf;          /* interleaved f32, buf[0] is sample index buf_start */
    size_t len, cap;     /* in sample frames                                  */
    uint64_t buf_start;
    uint64_t total;      /* sample frames received = index after the last one */
    uint64_t base_index; /* time mapping: sample base_index is at base_ms     */
    double base_ms;
    int open;            /* an utterance is being collected                   */
    uint64_t utt_start;
    int closing;         /* its end is known: emit once total >= close_at     */
    uint64_t close_at;
    uint64_t last_end;   /* the next utterance never starts before this       */
    unsigned part;
    int pending_start;   /* a start event came before any audio               */
    int have_base;       /* base_ms/base_index set from a frame timestamp    */
    uint64_t cur_seq;    /* sequence of the input frame being processed       */
} seg_state;

static double index_ms(const seg_state *st, uint64_t idx)
{
    return st->base_ms + ((double)idx - (double)st->base_index) * 1000.0 / st->rate;
}

/* Sample index of time `ms`, clamped to [lo, hi]. */
static uint64_t ms_index(const seg_state *st, double ms, uint64_t lo, uint64_t hi)
{
    double idx = (double)st->base_index + (ms - st->base_ms) * st->rate / 1000.0;
    if (idx <= (double)lo) return lo;
    if (idx >= (double)hi) return hi;
    return (uint64_t)llround(idx);
}

static uint64_t ms_samples(const seg_state *st, int64_t ms) { return (uint64_t)ms * st->rate / 1000; }

static int set_meta_num(rm_frame *f, const char *key, double v)
{
    char s[32];
    snprintf(s, sizeof s, "%.1f", v);
    return rm_frame_meta_set(f, key, s);
}

/* Emits [a, b) (both inside the buffer). */
static int emit_range(rm_node *node, seg_state *st, uint64_t a, uint64_t b, int continued)
{
    const seg_config *cfg = rm_node_config(node);
    double ms = (double)(b - a) * 1000.0 / st->rate;
    if (st->part == 0 && !continued && ms < (double)cfg->min_utterance_ms) {
        rm_node_stat(node, "dropped_short", RM_STAT_ADD, 1);
        return 0;
    }
    size_t frames = (size_t)(b - a);
    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, st->rate, st->channels, frames);
    if (!f) return rm_node_fail(node, RM_ENOMEM, "out of memory for a %.0f ms utterance", ms);
    memcpy(f->u.audio.data, st->buf + (size_t)(a - st->buf_start) * st->channels,
           frames * st->channels * sizeof(float));
    double t0 = index_ms(st, a), t1 = index_ms(st, b);
    f->timestamp_us = llround(t0 * 1000.0);
    f->sequence = st->cur_seq; /* the input that completed the utterance */
    char part[16];
    snprintf(part, sizeof part, "%u", st->part);
    int rc = set_meta_num(f, "start_ms", t0) | set_meta_num(f, "end_ms", t1) | set_meta_num(f, "duration_ms", ms) |
             rm_frame_meta_set(f, "part", part) | (continued ? rm_frame_meta_set(f, "continued", "1") : 0);
    if (rc != 0) {
        rm_frame_unref(f);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    rm_node_stat(node, "utterances", RM_STAT_ADD, 1);
    return rm_node_emit_take(node, 0, f);
}

/* Emits max-length parts while the open utterance, up to `limit`, is longer
 * than max_utterance_ms. */
static int split_long(rm_node *node, seg_state *st, uint64_t limit)
{
    const seg_config *cfg = rm_node_config(node);
    uint64_t max = ms_samples(st, cfg->max_utterance_ms);
    int rc = 0;
    while (rc == 0 && st->open && max > 0 && limit > st->utt_start && limit - st->utt_start > max) {
        rc = emit_range(node, st, st->utt_start, st->utt_start + max, 1);
        st->utt_start += max;
        st->part++;
        rm_node_stat(node, "splits", RM_STAT_ADD, 1);
    }
    return rc;
}

/* Ends the open utterance at `end` (<= total). */
static int close_utterance(rm_node *node, seg_state *st, uint64_t end)
{
    int rc = split_long(node, st, end);
    if (rc == 0 && end > st->utt_start) rc = emit_range(node, st, st->utt_start, end, 0);
    st->open = st->closing = 0;
    st->part = 0;
    st->last_end = end;
    return rc;
}

/* Drops audio no longer needed (keeps the open utterance and history_ms)
 * before `incoming` more frames are appended. */
static void trim(const seg_config *cfg, seg_state *st, size_t incoming)
{
    uint64_t hist = ms_samples(st, cfg->history_ms);
    uint64_t keep = st->total > hist ? st->total - hist : 0;
    if (st->open && st->utt_start < keep) keep = st->utt_start;
    if (keep <= st->buf_start) return;
    size_t drop = (size_t)(keep - st->buf_start);
    /* move only when the dead prefix is large, so the cost is amortised */
    if (drop < st->len / 2 && st->len + incoming <= st->cap) return;
    memmove(st->buf, st->buf + drop * st->channels, (st->len - drop) * st->channels * sizeof(float));
    st->len -= drop;
    st->buf_start = keep;
}

static int on_event(rm_node *node, seg_state *st, const rm_frame *f)
{
    const seg_config *cfg = rm_node_config(node);
    const json_t *v = f->u.json.value;
    if (!json_is_object(v)) return 0; /* not a VAD event */
    int start = json_is_true(json_object_get(v, "is_speech_start"));
    int end = json_is_true(json_object_get(v, "is_speech_end"));
    if (!start && !end) return 0;
    const json_t *t = json_object_get(v, "timestamp_ms");
    if (t && !json_is_number(t))
        return rm_node_fail(node, RM_EFORMAT, "VAD event: timestamp_ms must be a number, got a %s",
                            json_is_string(t) ? "string" : "non-number");
    if (!st->have_fmt) { /* no clock yet: the utterance starts with the first audio */
        if (start) st->pending_start = 1;
        if (end) st->pending_start = 0;
        return 0;
    }
    /* the oldest sample a start may name: history_ms back (the buffer may
     * hold a little more, it is trimmed lazily) */
    uint64_t hist = ms_samples(st, cfg->history_ms), now = st->total;
    uint64_t lo = now > hist && now - hist > st->buf_start ? now - hist : st->buf_start;
    int rc = 0;
    if (end && st->open && !st->closing) {
        uint64_t at = t ? ms_index(st, json_number_value(t), st->utt_start, UINT64_MAX) : now;
        at += ms_samples(st, cfg->pad_ms);
        st->closing = 1;
        st->close_at = at;
        if (at <= now) rc = close_utterance(node, st, at);
    }
    if (start && rc == 0) {
        /* a start may name a time whose audio has not arrived yet */
        uint64_t at = t ? ms_index(st, json_number_value(t), 0, UINT64_MAX) : now;
        uint64_t pad = ms_samples(st, cfg->pad_ms);
        at = at > pad ? at - pad : 0;
        if (st->open) { /* a new start ends the open utterance there (or now) */
            uint64_t stop = st->closing && st->close_at < at ? st->close_at : at;
            if (stop > now) stop = now;
            if (stop < st->utt_start) stop = st->utt_start;
            rc = close_utterance(node, st, stop);
            if (rc != 0) return rc;
        }
        if (at < st->last_end) at = st->last_end;
        if (at < lo) {
            rm_node_stat(node, "preroll_truncated", RM_STAT_ADD, 1);
            at = lo;
        }
        st->open = 1;
        st->closing = 0;
        st->utt_start = at;
        st->part = 0;
    }
    return rc;
}

static int append_audio(rm_node *node, seg_state *st, const rm_frame *f)
{
    const seg_config *cfg = rm_node_config(node);
    rm_sample_format fmt = f->u.audio.format;
    if (fmt != RM_SAMPLE_F32 && fmt != RM_SAMPLE_S16 && fmt != RM_SAMPLE_S32)
        return rm_node_fail(node, RM_EFORMAT, "unsupported sample format %d (f32, s16 or s32)", (int)fmt);
    if (f->u.audio.rate == 0 || f->u.audio.channels == 0)
        return rm_node_fail(node, RM_EFORMAT, "audio frame without rate or channels (%u Hz, %u channels)",
                            f->u.audio.rate, f->u.audio.channels);
    if (!st->have_fmt) {
        st->rate = f->u.audio.rate;
        st->channels = f->u.audio.channels;
        st->have_fmt = 1;
        if (st->pending_start) {
            st->open = 1;
            st->utt_start = 0;
            st->pending_start = 0;
        }
    } else if (f->u.audio.rate != st->rate || f->u.audio.channels != st->channels) {
        return rm_node_fail(node, RM_EFORMAT, "audio changed mid-stream from %u Hz %u ch to %u Hz %u ch",
                            st->rate, st->channels, f->u.audio.rate, f->u.audio.channels);
    }
    /* follow the frames' clock where it departs from the sample count by
     * more than half a sample (not for timestamps rounded to whole µs) */
    if (f->timestamp_us != RM_TS_NONE) {
        double ts_ms = (double)f->timestamp_us / 1000.0;
        if (!st->have_base || fabs(ts_ms - index_ms(st, st->total)) > 500.0 / st->rate) {
            st->base_index = st->total;
            st->base_ms = ts_ms;
            st->have_base = 1;
        }
    }
    size_t frames = f->u.audio.frames, ch = st->channels;
    trim(cfg, st, frames);
    if (st->len + frames > st->cap) {
        size_t cap = st->cap ? st->cap : (size_t)st->rate;
        while (cap < st->len + frames) cap *= 2;
        float *p = realloc(st->buf, cap * ch * sizeof *p);
        if (!p) return rm_node_fail(node, RM_ENOMEM, "out of memory for %zu audio frames", cap);
        st->buf = p;
        st->cap = cap;
    }
    size_t n = frames * ch;
    float *dst = n ? st->buf + st->len * ch : NULL; /* st->buf is NULL until audio arrives */
    if (n == 0) {
        /* an empty frame: nothing to copy */
    } else if (fmt == RM_SAMPLE_F32) {
        memcpy(dst, f->u.audio.data, n * sizeof *dst);
    } else if (fmt == RM_SAMPLE_S16) {
        const int16_t *s = f->u.audio.data;
        for (size_t i = 0; i < n; i++) dst[i] = (float)s[i] * (1.0f / 32768.0f);
    } else {
        const int32_t *s = f->u.audio.data;
        for (size_t i = 0; i < n; i++) dst[i] = (float)((double)s[i] * (1.0 / 2147483648.0));
    }
    st->len += frames;
    st->total += frames;
    int rc = split_long(node, st, st->closing && st->close_at < st->total ? st->close_at : st->total);
    if (rc == 0 && st->open && st->closing && st->total >= st->close_at) rc = close_utterance(node, st, st->close_at);
    return rc;
}

static int seg_init(rm_node *node, void *state, const void *config)
{
    (void)state;
    const seg_config *cfg = config;
    if (cfg->max_utterance_ms < cfg->min_utterance_ms)
        return rm_node_fail(node, RM_EPARAM,
                            "params.max_utterance_ms (%lld) is shorter than params.min_utterance_ms (%lld)",
                            (long long)cfg->max_utterance_ms, (long long)cfg->min_utterance_ms);
    return 0;
}

static int seg_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    seg_state *st = state;
    st->cur_seq = f->sequence;
    if (f->kind == RM_FRAME_JSON) return on_event(node, st, f);
    return append_audio(node, st, f);
}

static int seg_flush(rm_node *node, void *state)
{
    seg_state *st = state;
    if (!st->open) return 0;
    uint64_t end = st->closing && st->close_at < st->total ? st->close_at : st->total;
    return close_utterance(node, st, end);
}

static int seg_reset(rm_node *node, void *state)
{
    (void)node;
    seg_state *st = state;
    st->buf_start += st->len;
    st->len = 0;
    st->open = st->closing = st->pending_start = 0;
    st->part = 0;
    st->last_end = st->total;
    return 0;
}

static void seg_fini(void *state)
{
    seg_state *st = state;
    free(st->buf);
}

static int seg_negotiate(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)config;
    (void)in_req;
    (void)err;
    out[0].kinds = RM_KIND_BIT(RM_FRAME_AUDIO);
    out[0].format = RM_SAMPLE_F32;
    out[0].rate = in[0].rate;
    out[0].channels = in[0].channels;
    return 0;
}

static const char *const min_utt_aliases[] = {"min_utterance_duration_ms", NULL};
static const char *const max_utt_aliases[] = {"max_utterance_duration_ms", NULL};

static const rm_param_def seg_params[] = {
    {.name = "pad_ms", .type = RM_PARAM_INT, .offset = offsetof(seg_config, pad_ms),
     .doc = "audio kept before each start (pre-roll) and after each end", .def_num = 100, .min = 0,
     .max = 10000, .flags = RM_PARAM_RUNTIME},
    {.name = "min_utterance_ms", .type = RM_PARAM_INT, .offset = offsetof(seg_config, min_utterance_ms),
     .doc = "shorter utterances (padding included) are dropped", .def_num = 250, .min = 0, .max = 600000,
     .aliases = min_utt_aliases, .flags = RM_PARAM_RUNTIME},
    {.name = "max_utterance_ms", .type = RM_PARAM_INT, .offset = offsetof(seg_config, max_utterance_ms),
     .doc = "longer utterances are emitted in parts of this length", .def_num = 30000, .min = 100,
     .max = 600000, .aliases = max_utt_aliases, .flags = RM_PARAM_RUNTIME},
    {.name = "history_ms", .type = RM_PARAM_INT, .offset = offsetof(seg_config, history_ms),
     .doc = "audio kept while no utterance is open: how far back a start event can reach", .def_num = 2000,
     .min = 100, .max = 60000, .flags = RM_PARAM_RUNTIME},
    {0},
};

static const char *const seg_aliases[] = {"AudioBufferAccumulatorNode", "AudioBufferAccumulator", NULL};
static const rm_port_def seg_in[] = {
    {"in", RM_KIND_BIT(RM_FRAME_AUDIO) | RM_KIND_BIT(RM_FRAME_JSON),
     "audio (f32, s16 or s32); VAD events are accepted here too"},
    {"events", RM_KIND_BIT(RM_FRAME_JSON), "VAD events: is_speech_start / is_speech_end with timestamp_ms"},
    {0}};
static const rm_port_def seg_out[] = {{"out", RM_KIND_BIT(RM_FRAME_AUDIO), "one f32 frame per utterance"}, {0}};

const rm_node_type rm__node_speech_segmenter = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "SpeechSegmenter",
    .doc = "Cuts audio into one frame per utterance from VAD events (pre-roll, min/max length)",
    .family = "audio",
    .aliases = seg_aliases,
    .inputs = seg_in,
    .outputs = seg_out,
    .params = seg_params,
    .config_size = sizeof(seg_config),
    .state_size = sizeof(seg_state),
    .negotiate = seg_negotiate,
    .init = seg_init,
    .process = seg_process,
    .flush = seg_flush,
    .reset = seg_reset,
    .fini = seg_fini,
    .example = "- id: utterances\n  node_type: SpeechSegmenter\n  params: { pad_ms: 200, min_utterance_ms: 300 }\n",
};
