/*
 * The node types compiled into this build (remotemedia/nodes.h).  Each family
 * is switched on or off by the build (RM_WITH_AUDIO, RM_WITH_SPEECH), so small
 * and wasm builds carry only what they need.  The core never calls this:
 * hosts do, so the core builds and is tested with no family.
 */
#include <stdlib.h>

#include "../core/internal.h"
#include "remotemedia/nodes.h"

extern const rm_node_type rm__node_passthrough;
#ifdef RM_WITH_MATH
extern const rm_node_type rm__node_multiply;
extern const rm_node_type rm__node_add;
extern const rm_node_type rm__node_calculator;
#endif
#ifdef RM_WITH_TEXT
extern const rm_node_type rm__node_text_processor;
extern const rm_node_type rm__node_text_collector;
extern const rm_node_type rm__node_responder;
#endif
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
    &rm__node_passthrough,
#ifdef RM_WITH_MATH
    &rm__node_multiply,        &rm__node_add,            &rm__node_calculator,
#endif
#ifdef RM_WITH_TEXT
    &rm__node_text_processor,  &rm__node_text_collector,  &rm__node_responder,
#endif
#ifdef RM_WITH_AUDIO
    &rm__node_audio_resample,  &rm__node_format_converter, &rm__node_channel_mixer,
    &rm__node_audio_chunker,   &rm__node_gain,             &rm__node_audio_level,
    &rm__node_vad,             &rm__node_speech_segmenter,
#endif
#ifdef RM_WITH_SPEECH
    &rm__node_speech_to_text,  &rm__node_text_to_speech,
#endif
};

int rm_register_builtin_nodes(rm_runtime *rt, rm_error *err)
{
    for (size_t i = 0; i < RM__ARRAY_LEN(builtin_nodes); i++) {
        int rc = rm_runtime_register(rt, builtin_nodes[i], err);
        if (rc != 0) return rc;
    }
    return 0;
}

int rm_runtime_new_with_builtins(const rm_runtime_opts *opts, rm_runtime **out, rm_error *err)
{
    rm_runtime_opts o;
    if (opts) o = *opts;
    else rm_runtime_opts_init(&o);
    /* Built-ins first, then the environment's plugins: a plugin may not
     * replace a built-in type. */
    unsigned flags = o.flags;
    o.flags |= RM_RUNTIME_NO_ENV_PLUGINS;
    *out = NULL;
    rm_runtime *rt = NULL;
    int rc = rm_runtime_new(&o, &rt, err);
    if (rc == 0) rc = rm_register_builtin_nodes(rt, err);
    if (rc == 0 && !(flags & RM_RUNTIME_NO_ENV_PLUGINS)) {
        const char *env = getenv(RM_PLUGIN_PATH_ENV);
        if (env && *env) rc = rm_runtime_load_plugin_dirs(rt, env, err);
    }
    if (rc != 0) {
        rm_runtime_free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

/* Library features, including the families this build carries (here rather
 * than in the core, which does not know them). */
const char *rm_build_features(void)
{
    return ""
#ifdef RM_SINGLE_THREAD
           "single-thread"
#else
           "threads"
#endif
#ifndef RM_NO_PLUGINS
           " plugins"
#endif
#ifdef RM_WITH_MATH
           " math"
#endif
#ifdef RM_WITH_TEXT
           " text"
#endif
#ifdef RM_WITH_AUDIO
           " audio"
#endif
#ifdef RM_WITH_SPEECH
           " speech"
#endif
#ifdef RM_WITH_PYTHON_NODES
           " python-nodes"
#endif
        ;
}
