/*
 * AudioChunker: re-cuts an audio stream into chunks of a fixed number of
 * frames (samples per channel), e.g. the 512-sample windows a model wants.
 * Also registered as AudioChunkerNode, the original's name.
 *
 * The size comes from, in order: `chunk_size` (the original's unit:
 * interleaved samples, so chunk_size 1024 on stereo is 512 frames; it must
 * divide evenly by the channel count), `chunk_frames`, else `chunk_ms`
 * converted at the input rate and rounded to the nearest frame (ties away
 * from zero: 25 ms at 44.1 kHz = 1102.5 → 1103 frames; every chunk has that
 * size, so chunk k starts at exactly k × 1103 frames).
 *
 * Audio that does not fill a chunk is kept for the next input frame.  At end
 * of stream the remainder is emitted as a shorter last chunk, or zero-padded
 * to full size with `pad_last`.  If the format, rate or channel count changes
 * mid-stream, the remainder is emitted the same way before the new audio is
 * chunked.  Formats f32, s16, s32 (kept).  Timestamps follow the sample count
 * from the first input frame's timestamp (rm__audio_clock); metadata and
 * stream id come from the latest input frame.
 */
#include <stdlib.h>
#include <string.h>

#include "audio_util.h"

typedef struct chunker_config {
    int64_t chunk_frames;
    double chunk_ms;
    int64_t chunk_size;
    int pad_last;
} chunker_config;

typedef struct chunker_state {
    unsigned char *buf; /* less than one chunk of pending audio */
    size_t buf_cap;     /* bytes */
    size_t pending;     /* frames in buf */
    size_t chunk;       /* frames per chunk for the current layout */
    rm_sample_format format;
    uint32_t rate, channels;
    rm__audio_clock clock;
    rm_frame *props;
    rm__audio_out out; /* recycled output frame */
} chunker_state;

static size_t frame_bytes(const chunker_state *st) { return rm_sample_format_size(st->format) * st->channels; }

/* Emits `frames` frames from `data`, zero-padded to `total` frames. */
static int emit_chunk(rm_node *node, chunker_state *st, const void *data, size_t frames, size_t total)
{
    rm_frame *out = rm__audio_out_get(&st->out, st->format, st->rate, st->channels, total);
    if (!out || (st->props && rm_frame_copy_props(out, st->props) != 0))
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    size_t fb = frame_bytes(st);
    memcpy(out->u.audio.data, data, frames * fb);
    memset((unsigned char *)out->u.audio.data + frames * fb, 0, (total - frames) * fb);
    rm__audio_clock_stamp(&st->clock, out);
    return rm_node_emit(node, 0, out);
}

/* Emits what is pending as the (short or padded) last chunk. */
static int emit_rest(rm_node *node, chunker_state *st)
{
    const chunker_config *cfg = rm_node_config(node);
    if (!st->pending) return 0;
    size_t n = st->pending;
    st->pending = 0;
    return emit_chunk(node, st, st->buf, n, cfg->pad_last ? st->chunk : n);
}

/* Chunk size in frames for audio of `f`'s layout, or 0 with an error. */
static size_t chunk_frames(rm_node *node, const chunker_config *cfg, const rm_frame *f)
{
    uint32_t ch = f->u.audio.channels;
    if (cfg->chunk_size) {
        if (cfg->chunk_size % ch) {
            rm_node_fail(node, RM_EFORMAT,
                         "chunk_size %lld counts interleaved samples and is not a whole number of %u-channel "
                         "frames; use a multiple of %u or set chunk_frames",
                         (long long)cfg->chunk_size, ch, ch);
            return 0;
        }
        return (size_t)cfg->chunk_size / ch;
    }
    if (cfg->chunk_frames) return (size_t)cfg->chunk_frames;
    size_t n = rm__audio_ms_to_frames(cfg->chunk_ms, f->u.audio.rate);
    if (!n)
        rm_node_fail(node, RM_EFORMAT, "chunk_ms %g is less than one frame at %u Hz", cfg->chunk_ms,
                     f->u.audio.rate);
    return n;
}

static int chunker_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    chunker_state *st = state;
    const chunker_config *cfg = rm_node_config(node);
    int rc;
    if (f->u.audio.format != st->format || f->u.audio.rate != st->rate || f->u.audio.channels != st->channels) {
        size_t n = chunk_frames(node, cfg, f);
        if (!n) return RM_EFORMAT;
        if ((rc = emit_rest(node, st)) != 0) return rc;
        size_t bytes = n * rm_sample_format_size(f->u.audio.format) * f->u.audio.channels;
        if (bytes > st->buf_cap) {
            unsigned char *p = realloc(st->buf, bytes);
            if (!p) return rm_node_fail(node, RM_ENOMEM, "out of memory (%zu-frame chunk)", n);
            st->buf = p;
            st->buf_cap = bytes;
        }
        st->format = f->u.audio.format;
        st->rate = f->u.audio.rate;
        st->channels = f->u.audio.channels;
        st->chunk = n;
    }
    rm__audio_clock_start(&st->clock, f, st->rate);
    if (f != st->props) {
        rm_frame_unref(st->props);
        st->props = rm_frame_ref(f);
    }
    const unsigned char *src = f->u.audio.data;
    size_t left = f->u.audio.frames, fb = frame_bytes(st);
    if (!left) return 0;
    if (st->pending) { /* complete the pending chunk first */
        size_t take = st->chunk - st->pending < left ? st->chunk - st->pending : left;
        memcpy(st->buf + st->pending * fb, src, take * fb);
        st->pending += take;
        src += take * fb;
        left -= take;
        if (st->pending < st->chunk) return 0;
        st->pending = 0;
        if ((rc = emit_chunk(node, st, st->buf, st->chunk, st->chunk)) != 0) return rc;
    }
    for (; left >= st->chunk; left -= st->chunk, src += st->chunk * fb)
        if ((rc = emit_chunk(node, st, src, st->chunk, st->chunk)) != 0) return rc;
    if (left) memcpy(st->buf, src, left * fb);
    st->pending = left;
    return 0;
}

static int chunker_flush(rm_node *node, void *state)
{
    chunker_state *st = state;
    int rc = emit_rest(node, st);
    rm_frame_unref(st->props);
    st->props = NULL;
    return rc;
}

static int chunker_reset(rm_node *node, void *state)
{
    (void)node;
    chunker_state *st = state;
    st->pending = 0;
    st->format = RM_SAMPLE_ANY;
    st->rate = st->channels = 0;
    rm__audio_clock_reset(&st->clock);
    rm_frame_unref(st->props);
    st->props = NULL;
    return 0;
}

static void chunker_fini(void *state)
{
    chunker_state *st = state;
    rm_frame_unref(st->props);
    rm__audio_out_release(&st->out);
    free(st->buf);
}

static int chunker_negotiate(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)in_req;
    const chunker_config *cfg = config;
    if (cfg->chunk_size && cfg->chunk_frames)
        return rm_error_set(err, RM_EPARAM, NULL,
                            "parameters 'chunk_size' and 'chunk_frames' of AudioChunker: set one, not both");
    if (cfg->chunk_size && in[0].channels && cfg->chunk_size % in[0].channels)
        return rm_error_set(err, RM_EPARAM, NULL,
                            "parameter 'chunk_size' of AudioChunker: %lld interleaved samples is not a whole "
                            "number of %u-channel frames",
                            (long long)cfg->chunk_size, in[0].channels);
    out[0] = in[0];
    out[0].kinds = RM__AUDIO_KINDS;
    return 0;
}

static const char *const chunk_size_aliases[] = {"chunk_samples", NULL};

static const rm_param_def chunker_params[] = {
    {.name = "chunk_frames", .type = RM_PARAM_INT, .offset = offsetof(chunker_config, chunk_frames),
     .doc = "frames (samples per channel) per chunk; 0: use chunk_ms", .def_num = 0, .min = 0, .max = 1e8},
    {.name = "chunk_ms", .type = RM_PARAM_FLOAT, .offset = offsetof(chunker_config, chunk_ms),
     .doc = "chunk duration in ms when chunk_frames and chunk_size are 0 (rounded to the nearest frame)",
     .def_num = 20, .min = 0.01, .max = 600000},
    {.name = "chunk_size", .type = RM_PARAM_INT, .offset = offsetof(chunker_config, chunk_size),
     .doc = "the original's size in interleaved samples (frames × channels); 0: unused", .def_num = 0, .min = 0,
     .max = 1e9, .aliases = chunk_size_aliases},
    {.name = "pad_last", .type = RM_PARAM_BOOL, .offset = offsetof(chunker_config, pad_last),
     .doc = "zero-pad the last, partial chunk to full size (else it is emitted shorter)", .def_num = 0},
    {0},
};

static const rm_port_def chunker_in[] = {{"in", RM__AUDIO_KINDS, "audio, f32/s16/s32"}, {0}};
static const rm_port_def chunker_out[] = {{"out", RM__AUDIO_KINDS, "fixed-size chunks, same format"}, {0}};
static const char *const chunker_aliases[] = {"AudioChunkerNode", NULL};

const rm_node_type rm__node_audio_chunker = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "AudioChunker",
    .doc = "Re-cuts audio into fixed-size chunks (frames or ms); the remainder is flushed at end",
    .family = "audio",
    .aliases = chunker_aliases,
    .inputs = chunker_in,
    .outputs = chunker_out,
    .params = chunker_params,
    .config_size = sizeof(chunker_config),
    .state_size = sizeof(chunker_state),
    .negotiate = chunker_negotiate,
    .process = chunker_process,
    .flush = chunker_flush,
    .reset = chunker_reset,
    .fini = chunker_fini,
    .example = "- id: chunks\n  node_type: AudioChunker\n  params: { chunk_ms: 20 }\n",
};
