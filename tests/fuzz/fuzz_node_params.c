/* Fuzz target: node params through a real graph build.
 *
 * Input: "NodeType\n" followed by the params as JSON text.  The target wraps
 * them in a one-node manifest (a generator around the fuzz bytes, so the
 * mutations land in the params rather than in the manifest's structure),
 * compiles it with the built-in node families, then opens a session (every
 * node's init runs with the parsed config), sets each param again as a
 * runtime change (rm_session_set_param: accepted only for RM_PARAM_RUNTIME
 * params, checked like the manifest's), resets, ends and closes it. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Node types whose init is not run: SpeechToText loads a recogniser model
 * (hundreds of ms) and reads grammar files named by its params. */
static int init_too_costly(const char *type) { return strcmp(type, "SpeechToText") == 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    if (!nl) return 0;
    json_t *type = json_stringn(text, (size_t)(nl - text)); /* NULL unless UTF-8 */
    if (!type) return 0;
    json_error_t jerr;
    json_t *params = json_loadb(nl + 1, size - (size_t)(nl + 1 - text), JSON_DECODE_ANY, &jerr);
    if (!params) {
        json_decref(type);
        return 0;
    }
    json_t *m = json_pack("{s:s, s:[{s:s, s:o, s:o}]}", "version", "v1", "nodes", "id", "n", "node_type",
                          type, "params", params);
    char *manifest = m ? json_dumps(m, JSON_COMPACT) : NULL;
    if (!manifest) {
        json_decref(m);
        return 0;
    }

    rm_runtime *rt = fuzz_runtime();
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    if (d && rm_graph_load_string(rt, manifest, strlen(manifest), "params.json", NULL, &g, d) == 0) {
        const rm_node_type *t = rm_graph_node_type(g, 0);
        rm_session *s = NULL;
        rm_error err;
        if (!init_too_costly(t->name) && rm_session_open(g, NULL, &s, &err) == 0) {
            const char *key;
            json_t *v;
            json_t *p = json_object_get(json_array_get(json_object_get(m, "nodes"), 0), "params");
            json_object_foreach(p, key, v)
            {
                char *value = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                if (value) rm_session_set_param(s, "n", key, value, &err);
                free(value);
            }
            rm_session_reset(s);
            rm_session_end(s);
            rm_session_close(s);
        }
        rm_graph_unref(g);
    }
    free(rm_diags_to_string(d));
    rm_diags_free(d);
    free(manifest);
    json_decref(m);
    return 0;
}
