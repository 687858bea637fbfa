/*
 * AudioResample: streaming sample-rate conversion with libsoxr, any channel
 * count.  Also registered as FastResampleNode and RustResampleNode, the
 * original's names (their sourceRate / targetRate / channels / quality
 * spellings are accepted).
 *
 * Input f32, s16 or s32 (integers are converted to f32 first, see
 * audio_util.h); output f32 at target_rate with the input's channel count.
 * The resampler keeps its state across frames, so the output does not depend
 * on how the input was chunked (bit-identical to resampling it in one call),
 * and flush() drains the filter: the whole stream yields
 * round(input_frames × target_rate / source_rate) frames.  libsoxr's
 * linear-phase filters are delay-compensated, so output sample k is the
 * signal at time k / target_rate: timestamps are derived from the output
 * sample count (see rm__audio_clock).  What soxr holds back at any moment is
 * reported as the stat `delay_ms` (soxr_delay()).
 *
 * Latency (measured, docs/audio.md): with libsoxr's default DFT sizes the
 * high and very_high filters are applied in blocks, so some 20 ms input
 * chunks yield no output at all and up to ~37 ms (high) / ~80 ms (very_high)
 * is held back.  `low_latency: true` uses the smallest DFT blocks soxr
 * allows, which makes every 20 ms chunk yield output at low/medium/high (at
 * most ~17 ms held back) for some CPU.
 *
 * A frame already at target_rate passes through unchanged (f32, zero copy)
 * or converted to f32.  With source_rate 0 a change of input
 * rate or channel count mid-stream drains the running resampler and starts a
 * new one.
 */
#include <math.h>
#include <stdlib.h>

#include <soxr.h>

#include "audio_util.h"

typedef struct resample_config {
    int64_t target_rate;
    int64_t source_rate;
    int quality;
    int low_latency;
    int64_t channels;
} resample_config;

/* The original's "Low" / "Medium" / "High" are accepted as well. */
static const char *const quality_names[] = {"low", "medium", "high", "very_high", "Low", "Medium", "High", NULL};
static const unsigned long quality_recipe[] = {SOXR_LQ, SOXR_MQ, SOXR_HQ, SOXR_VHQ, SOXR_LQ, SOXR_MQ, SOXR_HQ};

typedef struct resample_state {
    soxr_t soxr;        /* NULL while passing through or before the first frame */
    uint32_t in_rate;   /* rate the running conversion was set up for, 0 = none */
    uint32_t channels;
    double ratio;       /* target / in */
    float *scratch;     /* integer input converted to f32 */
    size_t scratch_cap; /* samples */
    rm__audio_clock clock;
    rm_frame *props;    /* last input frame: stream id and metadata of outputs */
    rm__audio_out out;  /* recycled output frame */
} resample_state;

/* Emits the output frame `out` (st->out's) trimmed to `frames`, if any. */
static int emit_out(rm_node *node, resample_state *st, rm_frame *out, size_t frames)
{
    if (frames == 0) return 0;
    out->u.audio.frames = frames; /* shrink to what was written; the frame is ours alone */
    if (st->props && rm_frame_copy_props(out, st->props) != 0) return rm_node_fail(node, RM_ENOMEM, "out of memory");
    rm__audio_clock_stamp(&st->clock, out);
    return rm_node_emit(node, 0, out);
}

static void report_delay(rm_node *node, const resample_state *st, uint32_t target)
{
    double held = st->soxr ? soxr_delay(st->soxr) : 0.0;
    rm_node_stat(node, "delay_ms", RM_STAT_SAMPLE, held * 1000.0 / target);
}

/* soxr is fed at most this many bytes of input per soxr_process() call, and
 * what each call returns goes out as its own frame: a long input frame
 * (seconds of audio) then leaves as a stream of frames of ~6k output
 * frames at 44.1k -> 16k stereo instead of one.  Downstream nodes work on
 * each while it is in cache, and neither soxr's buffers (it queues the
 * whole input otherwise) nor the output frame grow with the input: 10 s
 * of stereo 44.1 kHz in one push took 4.5x the CPU of the same in slices
 * with cold memory, and the whole chain 13 % more than direct calls with
 * warm memory (bench_audio_chain).  The samples do not depend on it. */
#define SLICE_BYTES (128u * 1024u)

/* Runs `frames` frames of interleaved f32 through soxr (in == NULL: flush)
 * and emits what comes out. */
static int run_soxr(rm_node *node, resample_state *st, const float *in, size_t frames, uint32_t target)
{
    const size_t ch = st->channels;
    const size_t slice = SLICE_BYTES / (ch * sizeof(float)) > 256 ? SLICE_BYTES / (ch * sizeof(float)) : 256;
    size_t done_in = 0;
    for (;;) {
        size_t len = in ? (frames - done_in < slice ? frames - done_in : slice) : 0;
        /* room for everything soxr holds plus what this slice can produce */
        double expect = soxr_delay(st->soxr) + (double)len * st->ratio;
        size_t cap = (size_t)ceil(expect) + 64;
        rm_frame *out = rm__audio_out_get(&st->out, RM_SAMPLE_F32, target, st->channels, cap);
        if (!out) return rm_node_fail(node, RM_ENOMEM, "out of memory (%zu output frames)", cap);
        size_t idone = 0, odone = 0;
        soxr_error_t e = in ? soxr_process(st->soxr, in + done_in * ch, len, &idone, out->u.audio.data, cap, &odone)
                            : soxr_process(st->soxr, NULL, 0, NULL, out->u.audio.data, cap, &odone);
        if (e) return rm_node_fail(node, RM_ENODE, "libsoxr: %s", e);
        done_in += idone;
        int rc = emit_out(node, st, out, odone);
        if (rc != 0) return rc;
        if (in ? done_in == frames && odone < cap : odone == 0) return 0;
        if (in && idone == 0 && odone == 0)
            return rm_node_fail(node, RM_EINTERNAL, "libsoxr made no progress");
    }
}

/* Drains and deletes the running resampler (end of stream or a new input rate). */
static int drain(rm_node *node, resample_state *st, uint32_t target)
{
    if (!st->soxr) return 0;
    int rc = run_soxr(node, st, NULL, 0, target);
    soxr_delete(st->soxr);
    st->soxr = NULL;
    st->in_rate = 0;
    return rc;
}

static int setup(rm_node *node, resample_state *st, const resample_config *cfg, uint32_t rate, uint32_t ch)
{
    uint32_t target = (uint32_t)cfg->target_rate;
    st->in_rate = rate;
    st->channels = ch;
    st->ratio = (double)target / rate;
    if (rate == target) return 0; /* pass through */
    soxr_quality_spec_t q = soxr_quality_spec(quality_recipe[cfg->quality], 0);
    soxr_runtime_spec_t r = soxr_runtime_spec(1);
    /* soxr filters in DFT blocks of 2^10..2^17 points by default, which at
     * 48 kHz is more than one 20 ms chunk; the smallest sizes it allows
     * keep the low..high filters' blocks under one chunk (docs/audio.md). */
    if (cfg->low_latency) r.log2_min_dft_size = r.log2_large_dft_size = 8;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_error_t e = NULL;
    st->soxr = soxr_create(rate, target, ch, &e, &io, &q, &r);
    if (!st->soxr) {
        st->in_rate = 0;
        return rm_node_fail(node, RM_ENODE, "libsoxr cannot convert %u Hz to %u Hz with %u channels: %s", rate,
                            target, ch, e ? e : "unknown error");
    }
    return 0;
}

static int resample_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    resample_state *st = state;
    const resample_config *cfg = rm_node_config(node);
    uint32_t rate = f->u.audio.rate, ch = f->u.audio.channels, target = (uint32_t)cfg->target_rate;
    if (cfg->source_rate && rate != (uint32_t)cfg->source_rate)
        return rm_node_fail(node, RM_EFORMAT, "input frame is at %u Hz but source_rate is %lld Hz", rate,
                            (long long)cfg->source_rate);
    if (rate < RM__AUDIO_MIN_RATE || rate > RM__AUDIO_MAX_RATE)
        return rm_node_fail(node, RM_EFORMAT, "input rate %u Hz is outside %d..%d Hz", rate, RM__AUDIO_MIN_RATE,
                            RM__AUDIO_MAX_RATE);
    if (cfg->channels && ch != (uint32_t)cfg->channels)
        return rm_node_fail(node, RM_EFORMAT, "input frame has %u channels but channels is %lld", ch,
                            (long long)cfg->channels);
    int rc;
    if (st->in_rate != rate || st->channels != ch) {
        if ((rc = drain(node, st, target)) != 0) return rc;
        if ((rc = setup(node, st, cfg, rate, ch)) != 0) return rc;
    }
    rm__audio_clock_start(&st->clock, f, target);
    if (f->u.audio.frames == 0) return 0;
    if (f != st->props) {
        rm_frame_unref(st->props);
        st->props = rm_frame_ref(f);
    }
    if (!st->soxr) { /* already at target_rate */
        if (f->u.audio.format == RM_SAMPLE_F32) { /* zero copy; the frame keeps its own timestamp */
            st->clock.frames += f->u.audio.frames;
            st->clock.seq++;
            return rm_node_emit(node, 0, f);
        }
        rm_frame *out = rm__audio_out_get(&st->out, RM_SAMPLE_F32, target, ch, f->u.audio.frames);
        if (!out) return rm_node_fail(node, RM_ENOMEM, "out of memory");
        rm__audio_convert(f->u.audio.data, f->u.audio.format, out->u.audio.data, RM_SAMPLE_F32,
                          rm__audio_samples(f));
        return emit_out(node, st, out, f->u.audio.frames);
    }
    const float *in = f->u.audio.data;
    if (f->u.audio.format != RM_SAMPLE_F32) {
        size_t n = rm__audio_samples(f);
        if (n > st->scratch_cap) {
            float *p = realloc(st->scratch, n * sizeof *p);
            if (!p) return rm_node_fail(node, RM_ENOMEM, "out of memory");
            st->scratch = p;
            st->scratch_cap = n;
        }
        rm__audio_convert(f->u.audio.data, f->u.audio.format, st->scratch, RM_SAMPLE_F32, n);
        in = st->scratch;
    }
    rc = run_soxr(node, st, in, f->u.audio.frames, target);
    report_delay(node, st, target);
    return rc;
}

/* With source_rate and channels given, the filter is designed here (a few
 * hundred µs) rather than on the first frame of a live stream. */
static int resample_init(rm_node *node, void *state, const void *config)
{
    const resample_config *cfg = config;
    if (!cfg->source_rate || !cfg->channels) return 0;
    return setup(node, state, cfg, (uint32_t)cfg->source_rate, (uint32_t)cfg->channels);
}

static int resample_flush(rm_node *node, void *state)
{
    resample_state *st = state;
    const resample_config *cfg = rm_node_config(node);
    int rc = drain(node, st, (uint32_t)cfg->target_rate);
    rm_frame_unref(st->props);
    st->props = NULL;
    return rc;
}

static int resample_reset(rm_node *node, void *state)
{
    (void)node;
    resample_state *st = state;
    if (st->soxr) soxr_clear(st->soxr); /* drop the signal, keep the designed filter */
    rm__audio_clock_reset(&st->clock);
    rm_frame_unref(st->props);
    st->props = NULL;
    return 0;
}

static void resample_fini(void *state)
{
    resample_state *st = state;
    if (st->soxr) soxr_delete(st->soxr);
    rm_frame_unref(st->props);
    rm__audio_out_release(&st->out);
    free(st->scratch);
}

static int resample_negotiate(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    const resample_config *cfg = config;
    if (cfg->source_rate && cfg->source_rate < RM__AUDIO_MIN_RATE)
        return rm_error_set(err, RM_EPARAM, NULL,
                            "parameter 'source_rate' of AudioResample: %lld Hz is below %d Hz "
                            "(0 takes the rate from the input frames)",
                            (long long)cfg->source_rate, RM__AUDIO_MIN_RATE);
    in_req[0].rate = (uint32_t)cfg->source_rate;
    in_req[0].channels = (uint32_t)cfg->channels;
    out[0].rate = (uint32_t)cfg->target_rate;
    out[0].format = RM_SAMPLE_F32;
    out[0].channels = cfg->channels ? (uint32_t)cfg->channels : in[0].channels;
    return 0;
}

static const rm_param_def resample_params[] = {
    {.name = "target_rate", .type = RM_PARAM_INT, .offset = offsetof(resample_config, target_rate),
     .doc = "output sample rate in Hz", .min = RM__AUDIO_MIN_RATE, .max = RM__AUDIO_MAX_RATE,
     .flags = RM_PARAM_REQUIRED},
    {.name = "source_rate", .type = RM_PARAM_INT, .offset = offsetof(resample_config, source_rate),
     .doc = "expected input rate in Hz; a frame at another rate is an error (0: take it from the frames)",
     .def_num = 0, .min = 0, .max = RM__AUDIO_MAX_RATE},
    {.name = "quality", .type = RM_PARAM_ENUM, .offset = offsetof(resample_config, quality),
     .doc = "libsoxr recipe: low (LQ), medium (MQ), high (HQ, 20-bit), very_high (VHQ, 28-bit); "
            "Low/Medium/High are the original's spellings",
     .def_str = "high", .enum_values = quality_names},
    {.name = "low_latency", .type = RM_PARAM_BOOL, .offset = offsetof(resample_config, low_latency),
     .doc = "filter in small blocks so every 20 ms input chunk yields output (more CPU)", .def_num = 0},
    {.name = "channels", .type = RM_PARAM_INT, .offset = offsetof(resample_config, channels),
     .doc = "expected channel count; a frame with another count is an error (0: any)", .def_num = 0, .min = 0,
     .max = 1024},
    {0},
};

static const rm_port_def resample_in[] = {{"in", RM__AUDIO_KINDS, "audio, f32/s16/s32, any rate and channels"}, {0}};
static const rm_port_def resample_out[] = {{"out", RM__AUDIO_KINDS, "f32 audio at target_rate"}, {0}};
static const char *const resample_aliases[] = {"FastResampleNode", "RustResampleNode", NULL};

const rm_node_type rm__node_audio_resample = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "AudioResample",
    .doc = "Streaming sample-rate conversion (libsoxr), any channel count, f32 output",
    .family = "audio",
    .aliases = resample_aliases,
    .inputs = resample_in,
    .outputs = resample_out,
    .params = resample_params,
    .config_size = sizeof(resample_config),
    .state_size = sizeof(resample_state),
    .negotiate = resample_negotiate,
    .init = resample_init,
    .process = resample_process,
    .flush = resample_flush,
    .reset = resample_reset,
    .fini = resample_fini,
    .example = "- id: resample\n  node_type: AudioResample\n  params: { target_rate: 16000, quality: high }\n",
};
