/* Fuzz target: audio frames through the audio pipelines.  The first byte
 * picks a graph (compiled once: the examples' preprocess, VAD events and
 * utterance pipelines, and a chain of every other audio node); the rest is a
 * sequence of frames, each a 4-byte header — format and channels, rate,
 * sample-frame count (16 bits, little-endian) — followed by the raw samples
 * it announces (f32 samples may be NaN or infinite).  A session gets every
 * frame, is ended, and its outputs are rendered. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char chain[] = "version: v1\n"
                            "nodes:\n"
                            "  - {id: mix, node_type: ChannelMixer, params: {channels: 1}}\n"
                            "  - {id: gain, node_type: Gain, params: {normalize: true}}\n"
                            "  - {id: level, node_type: AudioLevel, params: {window_ms: 20}}\n"
                            "  - {id: chunk, node_type: AudioChunker, params: {chunk_ms: 30}}\n"
                            "  - {id: conv, node_type: FormatConverter, params: {target_format: s32}}\n"
                            "connections:\n"
                            "  - {from: mix, to: gain}\n"
                            "  - {from: gain, to: level}\n"
                            "  - {from: level, to: chunk}\n"
                            "  - {from: chunk, to: conv}\n";
static const char *const files[] = {
    RM_SOURCE_DIR "/examples/preprocess.yaml",
    RM_SOURCE_DIR "/examples/vad_events.yaml",
    RM_SOURCE_DIR "/examples/utterances.yaml",
};
#define N_GRAPHS (sizeof files / sizeof files[0] + 1)
static rm_graph *graphs[N_GRAPHS];

static void load_graphs(void)
{
    rm_runtime *rt = fuzz_runtime();
    for (size_t i = 0; i < N_GRAPHS; i++) {
        rm_diags *d = rm_diags_new();
        int rc = i < N_GRAPHS - 1 ? rm_graph_load_file(rt, files[i], NULL, &graphs[i], d)
                                  : rm_graph_load_string(rt, chain, strlen(chain), "chain.yaml",
                                                         NULL, &graphs[i], d);
        if (rc != 0) {
            char *s = rm_diags_to_string(d);
            fprintf(stderr, "fuzz_run_audio: graph %zu does not compile:\n%s\n", i, s ? s : "");
            abort();
        }
        rm_diags_free(d);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t rates[] = {8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000};
    static const rm_sample_format formats[] = {RM_SAMPLE_F32, RM_SAMPLE_S16, RM_SAMPLE_S32};
    if (!graphs[0]) load_graphs();
    if (size < 1) return 0;
    rm_session *s = NULL;
    rm_error err;
    if (rm_session_open(graphs[data[0] % N_GRAPHS], NULL, &s, &err) != 0) abort();

    const uint8_t *p = data + 1, *end = data + size;
    int failed = 0;
    for (uint64_t seq = 0; end - p >= 4 && !failed; seq++) {
        rm_sample_format fmt = formats[(p[0] & 0x0f) % 3];
        uint32_t channels = 1u + (p[0] >> 4) % 8u, rate = rates[p[1] % 8];
        size_t frames = (size_t)p[2] | (size_t)p[3] << 8;
        p += 4;
        size_t bytes = frames * channels * rm_sample_format_size(fmt);
        if (bytes > (size_t)(end - p)) bytes = (size_t)(end - p) / (channels * rm_sample_format_size(fmt)) *
                                              (channels * rm_sample_format_size(fmt));
        frames = bytes / (channels * rm_sample_format_size(fmt));
        rm_frame *f = rm_frame_new_audio(fmt, rate, channels, frames);
        if (!f) break;
        if (bytes) memcpy(f->u.audio.data, p, bytes);
        p += bytes;
        f->sequence = seq;
        failed = rm_session_push(s, f) != 0;
        rm_frame_unref(f);
    }
    if (!failed) rm_session_end(s);
    const rm_outputs *o = rm_session_outputs(s);
    for (size_t i = 0; o && i < rm_outputs_count(o); i++) free(rm_frame_json_dumps(rm_outputs_at(o, i)->frame));
    rm_session_close(s);
    return 0;
}
