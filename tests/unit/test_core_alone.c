/*
 * The core with no node family (issue 12, layering): linked against
 * remotemedia_core only, so a call into src/nodes/ would not link.  The
 * registry starts empty, RM_RUNTIME_NO_BUILTINS is accepted and changes
 * nothing, a built-in name is an unknown type, and a node type defined here
 * compiles and runs through a session.
 */
#include <stdlib.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

/* A family-free node: emits every frame twice. */
static int twice_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state, (void)port;
    int rc = rm_node_emit(node, 0, f);
    return rc ? rc : rm_node_emit(node, 0, f);
}
static const rm_node_type twice = {
    .abi_version = RM_NODE_ABI_VERSION, .name = "Twice", .doc = "emits every frame twice",
    .process = twice_process};

static rm_runtime *core_runtime(unsigned flags)
{
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags = flags | RM_RUNTIME_NO_ENV_PLUGINS;
    rm_runtime *rt = NULL;
    rm_error e;
    if (rm_runtime_new(&o, &rt, &e) != 0) fprintf(stderr, "rm_runtime_new: %s\n", e.message);
    return rt;
}

static void test_registry_starts_empty(void)
{
    unsigned flags[] = {0, RM_RUNTIME_NO_BUILTINS};
    for (size_t i = 0; i < 2; i++) {
        rm_runtime *rt = core_runtime(flags[i]);
        CHECK(rt != NULL);
        if (!rt) return;
        CHECK(rm_runtime_find_node_type(rt, "PassThrough") == NULL);
        CHECK(rm_runtime_find_node_type(rt, "AddNode") == NULL);
        rm_runtime_free(rt);
    }
}

static void test_builtin_name_is_unknown(void)
{
    rm_runtime *rt = core_runtime(0);
    if (!rt) return;
    const char *m = "{\"version\": \"v1\", \"nodes\": [{\"id\": \"add\", \"node_type\": \"AddNode\"}]}";
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    CHECK(rm_graph_load_string(rt, m, strlen(m), "core-alone", NULL, &g, d) != 0);
    CHECK(g == NULL);
    char *text = rm_diags_to_string(d);
    CHECK_CONTAINS(text, "AddNode");
    CHECK_CONTAINS(text, "add");
    free(text);
    rm_diags_free(d);
    rm_runtime_free(rt);
}

static void test_own_node_runs(void)
{
    rm_runtime *rt = core_runtime(0);
    if (!rt) return;
    rm_error e;
    CHECK_INT(rm_runtime_register(rt, &twice, &e), 0);
    const char *m = "{\"version\": \"v1\", \"nodes\": [{\"id\": \"t\", \"node_type\": \"Twice\"}]}";
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, m, strlen(m), "core-alone", NULL, &g, d), 0);
    rm_diags_free(d);
    if (!g) {
        rm_runtime_free(rt);
        return;
    }
    rm_frame *in = rm_frame_new_text("hi", 2);
    const rm_frame *inputs[] = {in};
    rm_outputs *out = NULL;
    CHECK_INT(rm_graph_run(g, inputs, 1, &out, NULL, &e), 0);
    const rm_frame *frames[4];
    CHECK_INT(rm_outputs_of(out, "t", frames, 4), 2);
    if (out && rm_outputs_of(out, "t", frames, 4) == 2) {
        CHECK_INT(frames[1]->kind, RM_FRAME_TEXT);
        CHECK_STR(frames[1]->u.text.data, "hi");
    }
    rm_outputs_free(out);
    rm_frame_unref(in);
    rm_graph_unref(g);
    rm_runtime_free(rt);
}

int main(void)
{
    RUN(test_registry_starts_empty);
    RUN(test_builtin_name_is_unknown);
    RUN(test_own_node_runs);
    return CHECK_DONE();
}
