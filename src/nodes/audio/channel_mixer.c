/*
 * ChannelMixer: changes the channel count of interleaved audio.
 *
 * Modes:
 *   downmix  N → 1: the average of all channels (sum / N), so a signal
 *            present identically on every channel keeps its level.
 *   upmix    1 → `channels`: the mono channel copied to every output channel.
 *   pick     channel number `channel` (0-based) of the input, copied to
 *            `channels` outputs (1 = just that channel).
 *   auto     (default) same count: pass through; `channels` 1: downmix;
 *            mono input: upmix; anything else (e.g. 6 → 2) is an error
 *            naming both counts, because no single rule is right for it.
 * Formats f32, s16 and s32; the output keeps the input's format and rate.
 * Integer averages are rounded to nearest (ties to even) and cannot clip.
 * A frame that already has the target layout passes through (zero copy).
 */
#include <stdio.h>

#include "audio_util.h"

enum { MODE_AUTO, MODE_DOWNMIX, MODE_UPMIX, MODE_PICK };

typedef struct mixer_config {
    int64_t channels;
    int mode;
    int64_t channel;
} mixer_config;

static const char *const mode_names[] = {"auto", "downmix", "upmix", "pick", NULL};

/* Output channel count for `in` input channels, or 0 (and a message) when
 * the config cannot handle that input. */
static uint32_t out_channels(const mixer_config *cfg, uint32_t in, char *why, size_t cap)
{
    uint32_t want = (uint32_t)cfg->channels;
    switch (cfg->mode) {
    case MODE_DOWNMIX: return 1;
    case MODE_UPMIX:
        if (in != 1) {
            snprintf(why, cap, "mode upmix needs mono input, got %u channels", in);
            return 0;
        }
        return want;
    case MODE_PICK:
        if (cfg->channel >= (int64_t)in) {
            snprintf(why, cap, "channel %lld does not exist in %u-channel input (channels are numbered from 0)",
                     (long long)cfg->channel, in);
            return 0;
        }
        return want;
    default:
        if (in == want || want == 1 || in == 1) return want;
        snprintf(why, cap,
                 "cannot map %u channels to %u in mode auto; use mode pick, or downmix to 1 channel first", in,
                 want);
        return 0;
    }
}

#define MIX_LOOPS(T, ROUND)                                                                         \
    do {                                                                                            \
        const T *s = src;                                                                           \
        T *d = dst;                                                                                 \
        if (mode == MODE_DOWNMIX) {                                                                 \
            for (size_t i = 0; i < frames; i++, s += in) {                                          \
                double sum = 0;                                                                     \
                for (uint32_t c = 0; c < in; c++) sum += s[c];                                      \
                d[i] = (T)ROUND(sum / in);                                                          \
            }                                                                                       \
        } else {                                                                                    \
            for (size_t i = 0; i < frames; i++, s += in)                                            \
                for (uint32_t c = 0; c < out; c++) *d++ = s[pick];                                  \
        }                                                                                           \
    } while (0)

static double keep(double x) { return x; }

static void mix(const void *src, void *dst, rm_sample_format fmt, size_t frames, uint32_t in, uint32_t out,
                int mode, uint32_t pick)
{
    switch (fmt) {
    case RM_SAMPLE_S16: MIX_LOOPS(int16_t, rm__audio_rint); break;
    case RM_SAMPLE_S32: MIX_LOOPS(int32_t, rm__audio_rint); break;
    default: MIX_LOOPS(float, keep); break;
    }
}

typedef struct mixer_state {
    rm__audio_out out; /* recycled output frame */
} mixer_state;

static int mixer_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    mixer_state *st = state;
    const mixer_config *cfg = rm_node_config(node);
    uint32_t in = f->u.audio.channels;
    char why[200];
    uint32_t out = out_channels(cfg, in, why, sizeof why);
    if (!out) return rm_node_fail(node, RM_EFORMAT, "%s", why);
    int mode = cfg->mode;
    if (mode == MODE_AUTO) mode = in == out ? MODE_AUTO : out == 1 ? MODE_DOWNMIX : MODE_UPMIX;
    if (mode == MODE_DOWNMIX && in == 1) mode = MODE_AUTO;
    if (mode == MODE_AUTO || (in == 1 && out == 1)) return rm_node_emit(node, 0, f); /* identity */
    rm_frame *o = rm__audio_out_get(&st->out, f->u.audio.format, f->u.audio.rate, out, f->u.audio.frames);
    if (!o || rm_frame_copy_props(o, f) != 0) return rm_node_fail(node, RM_ENOMEM, "out of memory");
    uint32_t pick = mode == MODE_PICK ? (uint32_t)cfg->channel : 0; /* upmix reads channel 0 */
    mix(f->u.audio.data, o->u.audio.data, f->u.audio.format, f->u.audio.frames, in, out, mode, pick);
    return rm_node_emit(node, 0, o);
}

static void mixer_fini(void *state) { rm__audio_out_release(&((mixer_state *)state)->out); }

static int mixer_negotiate(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    const mixer_config *cfg = config;
    if (cfg->mode == MODE_DOWNMIX && cfg->channels != 1)
        return rm_error_set(err, RM_EPARAM, NULL,
                            "parameter 'channels' of ChannelMixer: mode downmix always gives 1 channel, not %lld",
                            (long long)cfg->channels);
    if (cfg->mode == MODE_UPMIX) in_req[0].channels = 1;
    out[0] = in[0];
    out[0].kinds = RM__AUDIO_KINDS;
    out[0].channels = cfg->mode == MODE_DOWNMIX ? 1 : (uint32_t)cfg->channels;
    if (in[0].channels && cfg->mode != MODE_UPMIX) {
        char why[200];
        if (!out_channels(cfg, in[0].channels, why, sizeof why))
            return rm_error_set(err, RM_ECAPS, NULL, "ChannelMixer: %s", why);
    }
    return 0;
}

static const rm_param_def mixer_params[] = {
    {.name = "channels", .type = RM_PARAM_INT, .offset = offsetof(mixer_config, channels),
     .doc = "output channel count", .def_num = 1, .min = 1, .max = 1024},
    {.name = "mode", .type = RM_PARAM_ENUM, .offset = offsetof(mixer_config, mode),
     .doc = "auto (by channel counts), downmix (average to mono), upmix (copy mono), pick (one channel)",
     .def_str = "auto", .enum_values = mode_names},
    {.name = "channel", .type = RM_PARAM_INT, .offset = offsetof(mixer_config, channel),
     .doc = "input channel taken by mode pick (0 = first)", .def_num = 0, .min = 0, .max = 1023},
    {0},
};

static const rm_port_def mixer_in[] = {{"in", RM__AUDIO_KINDS, "audio, f32/s16/s32, any channel count"}, {0}};
static const rm_port_def mixer_out[] = {{"out", RM__AUDIO_KINDS, "audio with `channels` channels, same format"},
                                        {0}};

const rm_node_type rm__node_channel_mixer = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "ChannelMixer",
    .doc = "Downmixes to mono, upmixes mono, or picks one channel",
    .family = "audio",
    .inputs = mixer_in,
    .outputs = mixer_out,
    .params = mixer_params,
    .config_size = sizeof(mixer_config),
    .state_size = sizeof(mixer_state),
    .negotiate = mixer_negotiate,
    .process = mixer_process,
    .fini = mixer_fini,
    .example = "- id: mono\n  node_type: ChannelMixer\n  params: { channels: 1 }\n",
};
