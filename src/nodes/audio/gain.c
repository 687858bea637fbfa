/*
 * Gain: scales audio by a fixed gain, or normalises its peak.
 *
 * Fixed gain: every sample is multiplied by gain × 10^(gain_db / 20) (both
 * params can change while the session runs).  Normalisation (`normalize:
 * true`) instead picks the gain from a running peak: the largest |sample|
 * seen so far, over all channels, up to and including the current sample
 * (so the output does not depend on how the input is cut into frames).  The gain is
 * normalize_dbfs / running peak, capped at max_gain_db, so it only ever goes
 * down: the output peak never exceeds normalize_dbfs, there is no pumping,
 * and quiet starts are lifted by at most max_gain_db.  (Per-frame
 * normalisation would pump and lift noise between words; the running peak
 * reaches its final gain after the loudest sample.)  gain / gain_db must stay
 * at 1 / 0 dB when normalize is on.
 *
 * Formats f32, s16 and s32 (kept).  Integer output is rounded to nearest
 * (ties to even) and clamped to the format's range; f32 output is not
 * clamped (values above 1.0 stay representable).  The stat
 * `clipped_samples` counts integer samples that were clamped and f32
 * samples beyond ±1.0; `gain_db` is the gain applied to the last frame.
 * With a gain of exactly 1 the frame passes through unchanged (zero copy).
 */
#include <math.h>

#include "audio_util.h"

typedef struct gain_config {
    double gain_db;
    double gain;
    int normalize;
    double normalize_dbfs;
    double max_gain_db;
} gain_config;

typedef struct gain_state {
    double peak;       /* running peak, full-scale units (normalize) */
    rm__audio_out out; /* recycled output frame */
} gain_state;

/* Peak |sample| of a frame in full-scale units. */
static double frame_peak(const rm_frame *f)
{
    size_t n = rm__audio_samples(f);
    double peak = 0;
    switch (f->u.audio.format) {
    case RM_SAMPLE_S16: {
        const int16_t *s = f->u.audio.data;
        int m = 0;
        for (size_t i = 0; i < n; i++) {
            int a = s[i] < 0 ? -s[i] : s[i];
            m = a > m ? a : m;
        }
        peak = m / 32768.0;
        break;
    }
    case RM_SAMPLE_S32: {
        const int32_t *s = f->u.audio.data;
        int64_t m = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t a = s[i] < 0 ? -(int64_t)s[i] : s[i];
            m = a > m ? a : m;
        }
        peak = (double)m / 2147483648.0;
        break;
    }
    default: {
        const float *s = f->u.audio.data;
        float m = 0;
        for (size_t i = 0; i < n; i++) {
            float a = fabsf(s[i]);
            m = a > m ? a : m;
        }
        peak = m;
        break;
    }
    }
    return peak;
}

/* Scales interleaved samples [i0, n) of f into dst. */
static size_t apply(const rm_frame *f, void *dst, double g, size_t i0, size_t n)
{
    size_t clipped = 0;
    switch (f->u.audio.format) {
    case RM_SAMPLE_S16: {
        const int16_t *s = f->u.audio.data;
        int16_t *d = dst;
        for (size_t i = i0; i < n; i++) {
            double y = (double)s[i] * g; /* double: the rounding below sees the exact product */
            clipped += (y > 32767.0) | (y < -32768.0);
            y = y > 32767.0 ? 32767.0 : y < -32768.0 ? -32768.0 : y;
            d[i] = (int16_t)rm__audio_rint(y);
        }
        break;
    }
    case RM_SAMPLE_S32: {
        const int32_t *s = f->u.audio.data;
        int32_t *d = dst;
        for (size_t i = i0; i < n; i++) {
            double y = (double)s[i] * g;
            clipped += (y > 2147483647.0) | (y < -2147483648.0);
            y = y > 2147483647.0 ? 2147483647.0 : y < -2147483648.0 ? -2147483648.0 : y;
            d[i] = (int32_t)rm__audio_rint(y);
        }
        break;
    }
    default: {
        const float *s = f->u.audio.data;
        float *d = dst;
        float gf = (float)g;
        for (size_t i = i0; i < n; i++) {
            d[i] = s[i] * gf;
            clipped += (d[i] > 1.0f) | (d[i] < -1.0f);
        }
        break;
    }
    }
    return clipped;
}

/* The normalising gain for running peak `peak`. */
static double norm_gain(const gain_config *cfg, double peak)
{
    double target = rm__audio_db_to_gain(cfg->normalize_dbfs), cap = rm__audio_db_to_gain(cfg->max_gain_db);
    return peak > 0 && target / peak < cap ? target / peak : cap;
}

static int gain_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    gain_state *st = state;
    const gain_config *cfg = rm_node_config(node);
    double g;
    int rising = 0; /* normalize: the running peak rises inside this frame */
    if (cfg->normalize) {
        double p = frame_peak(f);
        rising = p > st->peak;
        g = norm_gain(cfg, rising ? p : st->peak);
    } else {
        g = cfg->gain * rm__audio_db_to_gain(cfg->gain_db);
    }
    rm_node_stat(node, "gain_db", RM_STAT_SET, rm__audio_db(g));
    if ((g == 1.0 && !rising) || f->u.audio.frames == 0) return rm_node_emit(node, 0, f);
    rm_frame *out = rm__audio_out_get(&st->out, f->u.audio.format, f->u.audio.rate, f->u.audio.channels,
                                      f->u.audio.frames);
    if (!out || rm_frame_copy_props(out, f) != 0) return rm_node_fail(node, RM_ENOMEM, "out of memory");
    size_t clipped = 0;
    if (rising) {
        /* the gain follows the peak sample by sample, so it does not depend
         * on where the input frames were cut */
        const unsigned ch = f->u.audio.channels;
        size_t seg = 0, frames = f->u.audio.frames;
        for (size_t j = 0; j < frames; j++) {
            double m = 0;
            for (unsigned c = 0; c < ch; c++) {
                double a = fabs(rm__audio_sample(f->u.audio.data, f->u.audio.format, j * ch + c));
                m = a > m ? a : m;
            }
            if (m > st->peak) {
                clipped += apply(f, out->u.audio.data, norm_gain(cfg, st->peak), seg * ch, j * ch);
                st->peak = m;
                seg = j;
            }
        }
        clipped += apply(f, out->u.audio.data, norm_gain(cfg, st->peak), seg * ch, frames * ch);
    } else {
        clipped = apply(f, out->u.audio.data, g, 0, rm__audio_samples(f));
    }
    if (clipped) rm_node_stat(node, "clipped_samples", RM_STAT_ADD, (double)clipped);
    return rm_node_emit(node, 0, out);
}

static void gain_fini(void *state) { rm__audio_out_release(&((gain_state *)state)->out); }

static int gain_reset(rm_node *node, void *state)
{
    (void)node;
    ((gain_state *)state)->peak = 0;
    return 0;
}

static int gain_negotiate(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)in_req;
    const gain_config *cfg = config;
    if (cfg->normalize && (cfg->gain != 1.0 || cfg->gain_db != 0.0))
        return rm_error_set(err, RM_EPARAM, NULL,
                            "parameters 'gain'/'gain_db' of Gain: a fixed gain cannot be combined with "
                            "normalize (the normaliser picks the gain)");
    out[0] = in[0];
    out[0].kinds = RM__AUDIO_KINDS;
    return 0;
}

static const rm_param_def gain_params[] = {
    {.name = "gain_db", .type = RM_PARAM_FLOAT, .offset = offsetof(gain_config, gain_db),
     .doc = "gain in dB (multiplies with `gain`)", .def_num = 0, .min = -120, .max = 60,
     .flags = RM_PARAM_RUNTIME},
    {.name = "gain", .type = RM_PARAM_FLOAT, .offset = offsetof(gain_config, gain),
     .doc = "linear gain factor (multiplies with `gain_db`)", .def_num = 1, .min = 0, .max = 1000,
     .flags = RM_PARAM_RUNTIME},
    {.name = "normalize", .type = RM_PARAM_BOOL, .offset = offsetof(gain_config, normalize),
     .doc = "normalise the running peak to normalize_dbfs instead of a fixed gain", .def_num = 0},
    {.name = "normalize_dbfs", .type = RM_PARAM_FLOAT, .offset = offsetof(gain_config, normalize_dbfs),
     .doc = "peak level normalisation aims at, dBFS", .def_num = -1, .min = -60, .max = 0,
     .flags = RM_PARAM_RUNTIME},
    {.name = "max_gain_db", .type = RM_PARAM_FLOAT, .offset = offsetof(gain_config, max_gain_db),
     .doc = "largest gain normalisation applies (to quiet or silent input), dB", .def_num = 30, .min = 0,
     .max = 60, .flags = RM_PARAM_RUNTIME},
    {0},
};

static const rm_port_def gain_in[] = {{"in", RM__AUDIO_KINDS, "audio, f32/s16/s32"}, {0}};
static const rm_port_def gain_out[] = {{"out", RM__AUDIO_KINDS, "scaled audio, same format"}, {0}};

const rm_node_type rm__node_gain = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "Gain",
    .doc = "Applies a gain in dB or linear, or normalises the running peak; clamps integer samples",
    .family = "audio",
    .inputs = gain_in,
    .outputs = gain_out,
    .params = gain_params,
    .config_size = sizeof(gain_config),
    .state_size = sizeof(gain_state),
    .negotiate = gain_negotiate,
    .process = gain_process,
    .reset = gain_reset,
    .fini = gain_fini,
    .example = "- id: louder\n  node_type: Gain\n  params: { gain_db: 6 }\n",
};
