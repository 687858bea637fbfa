/* Fuzz target: a full small run.  The first byte picks one of the golden
 * test pipelines (compiled once); the rest are JSON input lines, pushed as
 * `rmedia run` pushes them into a fresh session, which is then ended and its
 * outputs printed as JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const manifests[] = {
    RM_SOURCE_DIR "/examples/calculator.json",
    RM_SOURCE_DIR "/tests/golden/calculator_requests/manifest.json",
    RM_SOURCE_DIR "/tests/golden/fan_in/manifest.yaml",
    RM_SOURCE_DIR "/tests/golden/sentences/manifest.yaml",
    RM_SOURCE_DIR "/tests/golden/text_processor/manifest.yaml",
};
#define N_GRAPHS (sizeof manifests / sizeof manifests[0])
static rm_graph *graphs[N_GRAPHS];

static void load_graphs(void)
{
    rm_runtime *rt = fuzz_runtime();
    for (size_t i = 0; i < N_GRAPHS; i++) {
        rm_diags *d = rm_diags_new();
        if (rm_graph_load_file(rt, manifests[i], NULL, &graphs[i], d) != 0) {
            char *s = rm_diags_to_string(d);
            fprintf(stderr, "fuzz_run: %s does not compile:\n%s\n", manifests[i], s ? s : "");
            abort();
        }
        rm_diags_free(d);
    }
}

/* As cli_json_to_frame(): strings become text frames, the rest json frames. */
static rm_frame *frame_of(json_t *v)
{
    if (!json_is_string(v)) return rm_frame_new_json(v);
    rm_frame *f = rm_frame_new_text(json_string_value(v), json_string_length(v));
    json_decref(v);
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!graphs[0]) load_graphs();
    if (size < 1) return 0;
    rm_graph *g = graphs[data[0] % N_GRAPHS];
    rm_session *s = NULL;
    rm_error err;
    if (rm_session_open(g, NULL, &s, &err) != 0) abort(); /* these graphs always open */

    const char *text = (const char *)data + 1, *end = (const char *)data + size;
    int failed = 0;
    for (uint64_t lineno = 1; text < end && !failed; lineno++) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        size_t len = nl ? (size_t)(nl - text) : (size_t)(end - text);
        json_error_t jerr;
        json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
        text += len + 1;
        if (!v) continue;
        rm_frame *f = frame_of(v);
        if (!f) continue;
        f->sequence = lineno;
        failed = rm_session_push(s, f) != 0;
        rm_frame_unref(f);
    }
    if (!failed) rm_session_end(s);

    const rm_outputs *o = rm_session_outputs(s);
    for (size_t i = 0; o && i < rm_outputs_count(o); i++) free(rm_frame_json_dumps(rm_outputs_at(o, i)->frame));
    char *metrics = rm_session_metrics_json(s);
    free(metrics);
    rm_session_close(s);
    return 0;
}
