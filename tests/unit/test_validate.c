/* Validation: every kind of problem, reported with its place, all in one
 * pass. */
#include <stdlib.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

static rm_runtime *rt;

/* Compiles YAML text; returns all diagnostics as one string (caller frees)
 * and the number of problems. */
static char *problems(const char *yaml, size_t *count, int *rc)
{
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    *rc = rm_graph_load_string(rt, yaml, strlen(yaml), "p.yaml", NULL, &g, d);
    *count = rm_diags_count(d);
    char *s = rm_diags_to_string(d);
    rm_graph_unref(g);
    rm_diags_free(d);
    return s;
}

#define EXPECT(yaml, n, code, text)                      \
    do {                                                 \
        size_t cnt_;                                     \
        int rc_;                                         \
        char *s_ = problems(yaml, &cnt_, &rc_);          \
        CHECK_INT(cnt_, n);                              \
        CHECK_INT(rc_, code);                            \
        CHECK_CONTAINS(s_, text);                        \
        free(s_);                                        \
    } while (0)

#define HEAD "version: v1\nmetadata: {name: t}\n"

static void test_valid(void)
{
    EXPECT(HEAD "nodes:\n  - {id: a, node_type: PassThrough}\n", 0, 0, "");
    /* connections may be omitted or empty; metadata too */
    EXPECT("version: v1\nnodes: [{id: a, node_type: AddNode}]\nconnections: []\n", 0, 0, "");
}

static void test_version(void)
{
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}]\n" "version2: x\n", 0, 0, "");
    EXPECT("version: v2\nnodes: [{id: a, node_type: PassThrough}]\n", 1, RM_EMANIFEST,
           "p.yaml:1:10: error: unsupported manifest version \"v2\"");
    EXPECT("nodes: [{id: a, node_type: PassThrough}]\n", 1, RM_EMANIFEST, "missing required key 'version'");
    EXPECT("version: 1\nnodes: [{id: a, node_type: PassThrough}]\n", 1, RM_EMANIFEST, "unsupported manifest version 1");
    EXPECT("- a\n- b\n", 1, RM_EMANIFEST, "must be a mapping");
}

static void test_nodes(void)
{
    EXPECT(HEAD "nodes: []\n", 1, RM_EMANIFEST, "at least one node");
    EXPECT(HEAD "nodes: {a: 1}\n", 1, RM_EMANIFEST, "'nodes' must be a list");
    EXPECT(HEAD "nodes: [{node_type: PassThrough}]\n", 1, RM_EMANIFEST, "node has no 'id'");
    EXPECT(HEAD "nodes: [{id: a}]\n", 1, RM_EMANIFEST, "node has no 'node_type'");
    EXPECT(HEAD "nodes: [{id: 'a.b', node_type: PassThrough}]\n", 1, RM_EMANIFEST, "letters, digits");
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}, {id: a, node_type: AddNode}]\n", 1, RM_EMANIFEST,
           "duplicate node id 'a' (first defined at nodes[0], line 3)");
    EXPECT(HEAD "nodes: [7]\n", 1, RM_EMANIFEST, "each node must be a mapping");
}

static void test_unknown_type(void)
{
    EXPECT(HEAD "nodes: [{id: a, node_type: MultiplyNod}]\n", 1, RM_ENOTFOUND,
           "node 'a': unknown node type 'MultiplyNod'; did you mean 'MultiplyNode'?");
    EXPECT(HEAD "nodes: [{id: a, node_type: Zzzzzzzz}]\n", 1, RM_ENOTFOUND, "rmedia nodes");
    /* aliases are accepted */
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThroughNode}]\n", 0, 0, "");
}

static void test_params(void)
{
    EXPECT(HEAD "nodes: [{id: m, node_type: MultiplyNode, params: {factr: 2}}]\n", 1, RM_EPARAM,
           "unknown parameter 'factr' for MultiplyNode; did you mean 'factor'?");
    EXPECT(HEAD "nodes: [{id: m, node_type: MultiplyNode, params: {factor: two}}]\n", 1, RM_EPARAM,
           "p.yaml:3:59: error: node 'm': parameter 'factor' of MultiplyNode: expected a number, got string \"two\"");
    EXPECT(HEAD "nodes: [{id: m, node_type: MultiplyNode, params: {factor: 2, multiplier: 3}}]\n", 1, RM_EPARAM,
           "set twice");
    EXPECT(HEAD "nodes: [{id: m, node_type: MultiplyNode, params: [1]}]\n", 1, RM_EPARAM, "params must be a mapping");
    EXPECT(HEAD "nodes: [{id: c, node_type: CalculatorNode, params: {operation: sqrt}}]\n", 1, RM_EPARAM,
           "'sqrt' is not one of: add, subtract, multiply, divide, power, modulo");
    EXPECT(HEAD "nodes: [{id: c, node_type: TextCollectorNode, params: {min_sentence_length: -1}}]\n", 1,
           RM_EPARAM, "value -1 is out of range [0, 100000]");
    EXPECT(HEAD "nodes: [{id: c, node_type: TextCollectorNode, params: {min_sentence_length: 2.5}}]\n", 1,
           RM_EPARAM, "expected an integer");
    EXPECT(HEAD "nodes: [{id: c, node_type: TextCollectorNode, params: {yield_partial_on_end: 1}}]\n", 1,
           RM_EPARAM, "expected a boolean");
    EXPECT(HEAD "nodes: [{id: t, node_type: TextProcessorNode, params: {operations: []}}]\n", 1, RM_EPARAM,
           "list has 0 items");
    /* camelCase spellings and aliases */
    EXPECT(HEAD "nodes: [{id: c, node_type: TextCollectorNode, params: {minSentenceLength: 4, splitPattern: '[.!?]+'}}]\n",
           0, 0, "");
}

static void test_connections(void)
{
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}]\nconnections: [{from: a, to: b}]\n", 1, RM_ENOTFOUND,
           "connection references unknown target node 'b'");
    EXPECT(HEAD "nodes: [{id: add, node_type: AddNode}]\nconnections: [{from: ad, to: add}]\n", 1, RM_ENOTFOUND,
           "did you mean 'add'?");
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}, {id: b, node_type: PassThrough}]\n"
                "connections: [{from: a.events, to: b}]\n",
           1, RM_ENOTFOUND, "PassThrough has no output port 'events' (output ports: out)");
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}, {id: b, node_type: PassThrough}]\n"
                "connections: [{from: a, to: b.side}]\n",
           1, RM_ENOTFOUND, "has no input port 'side' (input ports: in)");
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}, {id: b, node_type: PassThrough}]\n"
                "connections: [{from: a, to: b}, {from: a, to: b}]\n",
           1, RM_EMANIFEST, "duplicate connection (same as connections[0])");
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}]\nconnections: [{from: a}]\n", 1, RM_EMANIFEST,
           "connection needs 'to'");
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}, {id: b, node_type: PassThrough}]\n"
                "connections: [{from: a, to: b, queue: {policy: lossy}}]\n",
           1, RM_EMANIFEST, "queue policy must be one of: block, drop_oldest, drop_newest");
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}, {id: b, node_type: PassThrough}]\n"
                "connections: [{from: a, to: b, queue: {policy: block, capacity: 0}}]\n",
           1, RM_EMANIFEST, "capacity must be an integer");
    /* the original's from_port/to_port keys: "default" means the default port */
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}, {id: b, node_type: PassThrough}]\n"
                "connections: [{from: a, to: b, from_port: default, to_port: default}]\n",
           0, 0, "");
}

static void test_cycles(void)
{
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}, {id: b, node_type: PassThrough}, {id: c, node_type: PassThrough}]\n"
                "connections: [{from: a, to: b}, {from: b, to: c}, {from: c, to: b}]\n",
           1, RM_ECYCLE, "the graph contains a cycle: b → c → b");
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}]\nconnections: [{from: a, to: a}]\n", 1, RM_ECYCLE,
           "cycle: a → a");
}

static void test_port_types(void)
{
    EXPECT(HEAD "nodes: [{id: t, node_type: TextProcessorNode}, {id: c, node_type: CalculatorNode}, "
                "{id: x, node_type: TextProcessorNode}]\n"
                "connections: [{from: t, to: c}, {from: c, to: x}]\n",
           0, 0, "");
    /* json out → json|text in is fine; the calculator's json output into a
     * node that only takes text would not be (checked with the collector's
     * any-port here: fine too) */
    EXPECT(HEAD "nodes: [{id: c, node_type: CalculatorNode}, {id: t, node_type: TextCollectorNode}]\n"
                "connections: [{from: c, to: t}]\n",
           0, 0, "");
}

/* Test-only node types with typed ports. */
static int pass(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state;
    (void)port;
    return rm_node_emit(node, 0, f);
}
static int out_48k(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)config, (void)in, (void)in_req, (void)err;
    out[0].rate = 48000;
    out[0].channels = 2;
    out[0].format = RM_SAMPLE_F32;
    return 0;
}
static int need_16k(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)config, (void)in, (void)out, (void)err;
    in_req[0].rate = 16000;
    in_req[0].channels = 1;
    return 0;
}
static const rm_port_def text_ports[] = {{"out", RM_KIND_BIT(RM_FRAME_TEXT), "text"}, {0}};
static const rm_port_def audio_ports[] = {{"in", RM_KIND_BIT(RM_FRAME_AUDIO), "audio"}, {0}};
static const rm_port_def audio_out[] = {{"out", RM_KIND_BIT(RM_FRAME_AUDIO), "audio"}, {0}};
static const rm_node_type text_source = {.abi_version = RM_NODE_ABI_VERSION, .name = "TextSource",
                                         .outputs = text_ports, .process = pass};
static const rm_node_type mic = {.abi_version = RM_NODE_ABI_VERSION, .name = "Mic48k", .outputs = audio_out,
                                 .negotiate = out_48k, .process = pass};
static const rm_node_type asr = {.abi_version = RM_NODE_ABI_VERSION, .name = "Asr16k", .inputs = audio_ports,
                                 .negotiate = need_16k, .process = pass};

static void test_port_kind_mismatch(void)
{
    rm_runtime *saved = rt;
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags = RM_RUNTIME_NO_BUILTINS | RM_RUNTIME_NO_ENV_PLUGINS;
    rm_error e;
    CHECK_INT(rm_runtime_new(&o, &rt, &e), 0);
    CHECK_INT(rm_runtime_register(rt, &text_source, &e), 0);
    CHECK_INT(rm_runtime_register(rt, &mic, &e), 0);
    CHECK_INT(rm_runtime_register(rt, &asr, &e), 0);
    CHECK_INT(rm_runtime_register(rt, &asr, &e), RM_EINVAL); /* twice */
    EXPECT(HEAD "nodes: [{id: t, node_type: TextSource}, {id: s, node_type: Asr16k}]\n"
                "connections: [{from: t, to: s}]\n",
           1, RM_ECAPS, "link t.out → s.in: t (TextSource) produces text but s (Asr16k) port 'in' accepts audio");
    EXPECT(HEAD "nodes: [{id: m, node_type: Mic48k}, {id: s, node_type: Asr16k}]\n"
                "connections: [{from: m, to: s}]\n",
           1, RM_ECAPS,
           "audio does not match (rate 48000 Hz vs 16000 Hz, channels 2 vs 1); insert an AudioResample node "
           "(target_rate: 16000) and a ChannelMixer (channels: 1) between them");
    rm_runtime_free(rt);
    rt = saved;
}

static void test_on_error(void)
{
    EXPECT(HEAD "nodes: [{id: a, node_type: AddNode, on_error: sometimes}]\n", 1, RM_EMANIFEST,
           "on_error must be");
    EXPECT(HEAD "nodes: [{id: a, node_type: AddNode, on_error: {policy: retry, max_retries: 1000}}]\n", 1,
           RM_EMANIFEST, "on_error.max_retries must be a number in [0, 100]");
    EXPECT(HEAD "nodes: [{id: a, node_type: AddNode, on_error: {policy: retry, circuit_breaker: {failure_threshold: 3}}}]\n",
           0, 0, "");
}

static void test_all_problems_in_one_pass(void)
{
    EXPECT("version: v9\n"
           "nodes:\n"
           "  - {id: a, node_type: Nope}\n"
           "  - {id: b, node_type: AddNode, params: {addend: x, extra: 1}}\n"
           "  - {id: b, node_type: PassThrough}\n"
           "connections: [{from: a, to: zz}]\n",
           6, RM_EMANIFEST, "unsupported manifest version");
}

int main(void)
{
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags = RM_RUNTIME_NO_ENV_PLUGINS;
    o.log_level = RM_LOG_ERROR;
    rm_error e;
    if (rm_runtime_new(&o, &rt, &e) != 0) return 1;
    RUN(test_valid);
    RUN(test_version);
    RUN(test_nodes);
    RUN(test_unknown_type);
    RUN(test_params);
    RUN(test_connections);
    RUN(test_cycles);
    RUN(test_port_types);
    RUN(test_port_kind_mismatch);
    RUN(test_on_error);
    RUN(test_all_problems_in_one_pass);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
