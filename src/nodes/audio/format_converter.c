/*
 * FormatConverter: converts interleaved audio between f32, s16 and s32 in any
 * direction.  Also registered as RustFormatConverterNode (the original's
 * "i16" / "i32" spellings are accepted).
 *
 * Scaling and rounding are the family's (audio_util.h): full scale is
 * f32 1.0 = s16 32768 = s32 2147483648; float → integer rounds to nearest
 * (ties to even) and clamps, so +1.0 → 32767 and values beyond ±1.0 saturate
 * (counted in the stat `clipped_samples`); NaN → 0.  s16 ↔ f32 and
 * s16 ↔ s32 round trips are exact; s32 → f32 keeps 24 significant bits.
 * (The original scaled by 32767 and 2147483647, which is not symmetric and
 * not exact on a round trip.)
 *
 * A frame already in target_format passes through unchanged (zero copy).
 * Rate, channels, timestamp, sequence and metadata are kept.
 */
#include "audio_util.h"

typedef struct format_config {
    int target; /* index into format_names */
} format_config;

static const char *const format_names[] = {"f32", "s16", "s32", "i16", "i32", NULL};
static const rm_sample_format format_values[] = {RM_SAMPLE_F32, RM_SAMPLE_S16, RM_SAMPLE_S32, RM_SAMPLE_S16,
                                                 RM_SAMPLE_S32};

typedef struct format_state {
    rm__audio_out out; /* recycled output frame */
} format_state;

static int format_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    format_state *st = state;
    const format_config *cfg = rm_node_config(node);
    rm_sample_format to = format_values[cfg->target];
    if (f->u.audio.format == to) return rm_node_emit(node, 0, f);
    rm_frame *out = rm__audio_out_get(&st->out, to, f->u.audio.rate, f->u.audio.channels, f->u.audio.frames);
    if (!out || rm_frame_copy_props(out, f) != 0) return rm_node_fail(node, RM_ENOMEM, "out of memory");
    size_t clipped = rm__audio_convert(f->u.audio.data, f->u.audio.format, out->u.audio.data, to,
                                       rm__audio_samples(f));
    if (clipped) rm_node_stat(node, "clipped_samples", RM_STAT_ADD, (double)clipped);
    return rm_node_emit(node, 0, out);
}

static void format_fini(void *state) { rm__audio_out_release(&((format_state *)state)->out); }

static int format_negotiate(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)in_req;
    (void)err;
    const format_config *cfg = config;
    out[0] = in[0];
    out[0].kinds = RM__AUDIO_KINDS;
    out[0].format = format_values[cfg->target];
    return 0;
}

static const rm_param_def format_params[] = {
    {.name = "target_format", .type = RM_PARAM_ENUM, .offset = offsetof(format_config, target),
     .doc = "output sample format: f32, s16 or s32 (i16 / i32 are the original's names for s16 / s32)",
     .def_str = "f32", .enum_values = format_names},
    {0},
};

static const rm_port_def format_in[] = {{"in", RM__AUDIO_KINDS, "audio, f32/s16/s32"}, {0}};
static const rm_port_def format_out[] = {{"out", RM__AUDIO_KINDS, "the same audio in target_format"}, {0}};
static const char *const format_aliases[] = {"RustFormatConverterNode", NULL};

const rm_node_type rm__node_format_converter = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "FormatConverter",
    .doc = "Converts audio between f32, s16 and s32 (rounded, clamped)",
    .family = "audio",
    .aliases = format_aliases,
    .inputs = format_in,
    .outputs = format_out,
    .params = format_params,
    .config_size = sizeof(format_config),
    .state_size = sizeof(format_state),
    .negotiate = format_negotiate,
    .process = format_process,
    .fini = format_fini,
    .example = "- id: to_s16\n  node_type: FormatConverter\n  params: { target_format: s16 }\n",
};
