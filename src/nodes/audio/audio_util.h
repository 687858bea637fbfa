/*
 * Shared helpers of the audio node family (rm__audio_*): the one definition
 * of what a sample value means, stream clocks for timestamps, and level maths.
 * Every audio node (and the VAD) uses these, so they all agree.
 *
 * Scaling — full scale is f32 1.0 == s16 32768 == s32 2147483648:
 *   s16 → f32   v / 32768                  (exact)
 *   s32 → f32   v / 2147483648             (rounded to f32's 24-bit mantissa:
 *                                           exact for |v| < 2^24, else within
 *                                           half an f32 ulp, at most 64 LSB)
 *   f32 → s16   clamp(round(x × 32768), -32768, 32767)
 *   f32 → s32   clamp(round(x × 2147483648), -2147483648, 2147483647)
 *   s16 → s32   v × 65536                  (exact)
 *   s32 → s16   clamp(round(v / 65536), -32768, 32767)
 * round() is round to nearest, ties to even (IEEE default; 0.5 → 0, 1.5 → 2,
 * -2.5 → -2).  Values beyond ±1.0 clamp (so +1.0 → 32767), NaN → 0.
 * Round trips s16 → f32 → s16, s16 → s32 → s16 and f32 → s16 → f32 (for
 * values on the s16 grid) are exact; s32 → f32 → s32 is exact only for
 * |v| < 2^24, and f32 → s32 → f32 loses f32 values below 2^-31.
 *
 * Everything here is pure and realtime-safe (no allocation, no locks).
 */
#ifndef RM_NODES_AUDIO_UTIL_H
#define RM_NODES_AUDIO_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "remotemedia/node.h"

/* Port kind mask of every audio port. */
#define RM__AUDIO_KINDS RM_KIND_BIT(RM_FRAME_AUDIO)

/* Rates accepted anywhere in the family (Hz); outside is an error. */
#define RM__AUDIO_MIN_RATE 1000
#define RM__AUDIO_MAX_RATE RM_AUDIO_MAX_RATE

/* dBFS values of digital silence are reported as this floor. */
#define RM__AUDIO_DB_FLOOR (-200.0)

/* --- one sample --------------------------------------------------------- */

/* Round to nearest, ties to even, for |y| < 2^22 (float) / 2^51 (double):
 * adding and subtracting 1.5·2^23 (2^52) leaves the rounded value in the
 * default rounding mode.  Unlike rintf() this compiles to two vector adds. */
static inline float rm__audio_rintf(float y)
{
    const float magic = 12582912.0f;
    return (y + magic) - magic;
}
static inline double rm__audio_rint(double y)
{
    const double magic = 6755399441055744.0;
    return (y + magic) - magic;
}

static inline int16_t rm__audio_s16_from_f32(float x)
{
    float y = x * 32768.0f;
    y = y > 32767.0f ? 32767.0f : y;
    y = y < -32768.0f ? -32768.0f : y;
    y = y == y ? y : 0.0f; /* NaN → 0 */
    return (int16_t)rm__audio_rintf(y);
}

static inline int32_t rm__audio_s32_from_f32(float x)
{
    double y = (double)x * 2147483648.0;
    y = y > 2147483647.0 ? 2147483647.0 : y;
    y = y < -2147483648.0 ? -2147483648.0 : y;
    y = y == y ? y : 0.0;
    return (int32_t)rm__audio_rint(y);
}

static inline float rm__audio_f32_from_s16(int16_t v) { return (float)v * (1.0f / 32768.0f); }
static inline float rm__audio_f32_from_s32(int32_t v) { return (float)v * (1.0f / 2147483648.0f); }
static inline int32_t rm__audio_s32_from_s16(int16_t v) { return (int32_t)v * 65536; }

static inline int16_t rm__audio_s16_from_s32(int32_t v)
{
    double y = rm__audio_rint((double)v / 65536.0); /* exact division */
    return (int16_t)(y > 32767.0 ? 32767.0 : y);   /* only ≥ 2^31 - 2^15 rounds up to 32768 */
}

/* Sample i of interleaved data in `fmt`, as a double in full-scale units
 * (exact for every format). */
static inline double rm__audio_sample(const void *data, rm_sample_format fmt, size_t i)
{
    switch (fmt) {
    case RM_SAMPLE_S16: return ((const int16_t *)data)[i] / 32768.0;
    case RM_SAMPLE_S32: return ((const int32_t *)data)[i] / 2147483648.0;
    default: return ((const float *)data)[i];
    }
}

/* --- buffers ------------------------------------------------------------ */

/* Converts `n` samples from `src` (format `sfmt`) to `dst` (format `dfmt`)
 * with the scaling above; equal formats copy.  The buffers must not overlap.
 * Returns how many output samples were clamped (0 when nothing clipped). */
size_t rm__audio_convert(const void *src, rm_sample_format sfmt, void *dst, rm_sample_format dfmt,
                         size_t n);

/* Samples (frames × channels) of an audio frame. */
static inline size_t rm__audio_samples(const rm_frame *f)
{
    return f->u.audio.frames * (size_t)f->u.audio.channels;
}

/* True for f32, s16 and s32. */
static inline int rm__audio_format_ok(rm_sample_format fmt)
{
    return fmt == RM_SAMPLE_F32 || fmt == RM_SAMPLE_S16 || fmt == RM_SAMPLE_S32;
}

/* Frames in `ms` milliseconds at `rate`, rounded to nearest (ties away from
 * zero: 25 ms at 44.1 kHz = 1102.5 → 1103). */
size_t rm__audio_ms_to_frames(double ms, uint32_t rate);

/* 20·log10(x) for an amplitude ratio, floored at RM__AUDIO_DB_FLOOR. */
double rm__audio_db(double amplitude);
/* 10^(db/20). */
double rm__audio_db_to_gain(double db);

/* --- output frames ------------------------------------------------------- */

/*
 * Output frame recycling.  A node keeps its last output frame here and gets
 * it back, writable, once every consumer has let go of it (refcount 1 again),
 * if it carries no metadata and is large enough; otherwise the old frame is
 * released and a new one allocated.  A steady stream whose consumers do not
 * keep frames therefore runs without allocating.  Emit the frame with
 * rm_node_emit() (borrowed) and keep it; release it in fini/reset with
 * rm__audio_out_release().
 */
typedef struct rm__audio_out {
    rm_frame *frame; /* owned reference, or NULL */
    size_t cap;      /* payload bytes the frame was allocated with */
} rm__audio_out;

/* A writable audio frame with the given layout and `frames` frames; its
 * timestamp, sequence, stream id are stale (set them, e.g. with
 * rm_frame_copy_props()).  NULL on allocation failure. */
rm_frame *rm__audio_out_get(rm__audio_out *o, rm_sample_format fmt, uint32_t rate, uint32_t channels,
                            size_t frames);
static inline void rm__audio_out_release(rm__audio_out *o)
{
    rm_frame_unref(o->frame);
    o->frame = NULL;
    o->cap = 0;
}

/* Emits frames [a, b) of audio frame `f` (borrowed) on `port`: `f` itself
 * when that is all of it, nothing when empty, else a zero-copy slice that
 * holds a reference on `f`, with f's properties and timestamp `ts_us`.
 * Lets a node that passes audio through put its events between the samples
 * they belong after, whatever the input framing. */
int rm__audio_emit_range(rm_node *node, unsigned port, const rm_frame *f, size_t a, size_t b, int64_t ts_us);

/* --- stream clock ------------------------------------------------------- */

/*
 * Timestamps of a node's output derived from its sample count, so they stay
 * exact however the input was chunked: the first output sample is stamped
 * with the timestamp of the first input frame (0 if that frame had none),
 * sample k with base + k / rate seconds.
 */
typedef struct rm__audio_clock {
    int64_t base_us;  /* timestamp of sample 0                     */
    uint64_t frames;  /* samples per channel counted since base    */
    uint32_t rate;    /* 0 = not started                           */
    uint64_t seq;     /* frames emitted                            */
} rm__audio_clock;

/* Starts the clock at `f`'s timestamp unless it runs already; a running
 * clock whose rate differs is rebased at its current time. */
void rm__audio_clock_start(rm__audio_clock *c, const rm_frame *f, uint32_t rate);
/* Timestamp (µs) of the next sample. */
int64_t rm__audio_clock_now(const rm__audio_clock *c);
/* Stamps `out` (writable) with the next sample's time, then advances the
 * clock by out's frame count.  out's sequence is left as it is: copy it with
 * the other properties from the input frame that completed the output. */
void rm__audio_clock_stamp(rm__audio_clock *c, rm_frame *out);
static inline void rm__audio_clock_reset(rm__audio_clock *c)
{
    c->base_us = 0;
    c->frames = 0;
    c->rate = 0;
    c->seq = 0;
}

#endif
