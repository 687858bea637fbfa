/*
 * The node types compiled into this build.  Each family is switched on or
 * off by the build (RM_WITH_AUDIO, RM_WITH_SPEECH), so small and wasm builds
 * carry only what they need.
 */
#include "../core/internal.h"

extern const rm_node_type rm__node_passthrough;
extern const rm_node_type rm__node_multiply;
extern const rm_node_type rm__node_add;
extern const rm_node_type rm__node_calculator;
extern const rm_node_type rm__node_text_processor;
extern const rm_node_type rm__node_text_collector;
#ifdef RM_WITH_AUDIO
extern const rm_node_type rm__node_audio_resample;
extern const rm_node_type rm__node_format_converter;
extern const rm_node_type rm__node_channel_mixer;
extern const rm_node_type rm__node_audio_chunker;
extern const rm_node_type rm__node_gain;
extern const rm_node_type rm__node_audio_level;
extern const rm_node_type rm__node_vad;
extern const rm_node_type rm__node_speech_segmenter;
#endif
#ifdef RM_WITH_SPEECH
extern const rm_node_type rm__node_speech_to_text;
extern const rm_node_type rm__node_text_to_speech;
#endif

static const rm_node_type *const builtin_nodes[] = {
    &rm__node_passthrough,     &rm__node_multiply,       &rm__node_add,
    &rm__node_calculator,      &rm__node_text_processor, &rm__node_text_collector,
#ifdef RM_WITH_AUDIO
    &rm__node_audio_resample,  &rm__node_format_converter, &rm__node_channel_mixer,
    &rm__node_audio_chunker,   &rm__node_gain,             &rm__node_audio_level,
    &rm__node_vad,             &rm__node_speech_segmenter,
#endif
#ifdef RM_WITH_SPEECH
    &rm__node_speech_to_text,  &rm__node_text_to_speech,
#endif
};

int rm__register_builtins(rm_runtime *rt, rm_error *err)
{
    for (size_t i = 0; i < RM__ARRAY_LEN(builtin_nodes); i++) {
        int rc = rm_runtime_register(rt, builtin_nodes[i], err);
        if (rc != 0) return rc;
    }
    return 0;
}
