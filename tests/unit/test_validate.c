/* Validation: every kind of problem, reported with its place, all in one
 * pass. */
#include <stddef.h>
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
    /* an unknown key is accepted, with a warning naming the closest key */
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}]\n" "version2: x\n", 1, 0,
           "p.yaml:4:11: warning: unknown top-level key 'version2' is ignored; did you mean 'version'?");
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
    /* a cycle does not hide the file's other problems, nor they the cycle */
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}, {id: b, node_type: PassThrough}, "
                "{id: t, node_type: TextProcessorNode}, {id: r, node_type: AudioResample, params: {target_rate: 16000}}]\n"
                "connections: [{from: a, to: b}, {from: b, to: a}, {from: t, to: r}]\n",
           2, RM_ECYCLE, "error: node 'r': link t.out → r.in: t (TextProcessorNode) produces json");
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}, {id: b, node_type: AddNode, params: {addend: x}}]\n"
                "connections: [{from: a, to: b}, {from: b, to: a}]\n",
           2, RM_EPARAM, "error: the graph contains a cycle: a → b → a");
    /* a node only downstream of a cycle is not part of the one printed (was "z → z") */
    EXPECT(HEAD "nodes: [{id: a, node_type: PassThrough}, {id: b, node_type: PassThrough}, {id: z, node_type: PassThrough}]\n"
                "connections: [{from: a, to: b}, {from: b, to: z}, {from: b, to: a}]\n",
           1, RM_ECYCLE, "the graph contains a cycle: a → b → a (at connections)");
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

/* Stand-ins for the audio family's converters (same names and params). */
typedef struct conv_cfg {
    int64_t value;
    int format;
} conv_cfg;
static int conv_rate(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)in_req, (void)err;
    out[0] = in[0];
    out[0].rate = (uint32_t)((const conv_cfg *)config)->value;
    out[0].format = RM_SAMPLE_F32;
    in_req[0].format = RM_SAMPLE_F32; /* like a resampler that works in f32 */
    return 0;
}
static int conv_mix(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)in_req, (void)err;
    out[0] = in[0];
    out[0].channels = (uint32_t)((const conv_cfg *)config)->value;
    return 0;
}
static int conv_fmt(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)in_req, (void)err;
    out[0] = in[0];
    out[0].format = (rm_sample_format)(((const conv_cfg *)config)->format + 1);
    return 0;
}
static int need_16k_s16(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)config, (void)in, (void)out, (void)err;
    in_req[0].rate = 16000;
    in_req[0].channels = 1;
    in_req[0].format = RM_SAMPLE_S16;
    return 0;
}
static int out_s16_mono(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)config, (void)in, (void)in_req, (void)err;
    out[0].rate = 44100;
    out[0].channels = 1;
    out[0].format = RM_SAMPLE_S16;
    return 0;
}
static const char *const formats[] = {"f32", "s16", "s32", NULL};
static const rm_param_def rate_params[] = {
    {.name = "target_rate", .type = RM_PARAM_INT, .offset = offsetof(conv_cfg, value), .doc = "rate", .flags = RM_PARAM_REQUIRED},
    {0}};
static const rm_param_def mix_params[] = {
    {.name = "channels", .type = RM_PARAM_INT, .offset = offsetof(conv_cfg, value), .doc = "channels", .def_num = 1},
    {0}};
static const rm_param_def fmt_params[] = {
    {.name = "target_format", .type = RM_PARAM_ENUM, .offset = offsetof(conv_cfg, format), .doc = "format",
     .def_str = "f32", .enum_values = formats},
    {0}};
static const rm_node_type fake_resample = {.abi_version = RM_NODE_ABI_VERSION, .name = "AudioResample", .inputs = audio_ports,
                                           .outputs = audio_out, .params = rate_params, .config_size = sizeof(conv_cfg),
                                           .negotiate = conv_rate, .process = pass};
static const rm_node_type fake_mixer = {.abi_version = RM_NODE_ABI_VERSION, .name = "ChannelMixer", .inputs = audio_ports,
                                        .outputs = audio_out, .params = mix_params, .config_size = sizeof(conv_cfg),
                                        .negotiate = conv_mix, .process = pass};
static const rm_node_type fake_format = {.abi_version = RM_NODE_ABI_VERSION, .name = "FormatConverter", .inputs = audio_ports,
                                         .outputs = audio_out, .params = fmt_params, .config_size = sizeof(conv_cfg),
                                         .negotiate = conv_fmt, .process = pass};
static const rm_node_type asr_s16 = {.abi_version = RM_NODE_ABI_VERSION, .name = "AsrS16", .inputs = audio_ports,
                                     .negotiate = need_16k_s16, .process = pass};
static const rm_node_type mic_s16 = {.abi_version = RM_NODE_ABI_VERSION, .name = "MicS16", .outputs = audio_out,
                                     .negotiate = out_s16_mono, .process = pass};

static void test_converters_are_inserted(void)
{
    rm_runtime *r;
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags = RM_RUNTIME_NO_BUILTINS | RM_RUNTIME_NO_ENV_PLUGINS;
    rm_error e;
    CHECK_INT(rm_runtime_new(&o, &r, &e), 0);
    const rm_node_type *types[] = {&mic, &asr_s16, &mic_s16, &fake_resample, &fake_mixer, &fake_format};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) CHECK_INT(rm_runtime_register(r, types[i], &e), 0);
    const char *yaml = HEAD "nodes: [{id: mic, node_type: Mic48k}, {id: asr, node_type: AsrS16}]\n"
                            "connections: [{from: mic, to: asr}]\n";
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(r, yaml, strlen(yaml), "p.yaml", NULL, &g, d), 0);
    CHECK_INT(rm_diags_count(d), 0);
    /* 48 kHz stereo f32 → mix down → resample → to s16 → 16 kHz mono s16 */
    CHECK_INT(rm_graph_node_count(g), 5);
    CHECK_STR(rm_graph_node_id(g, 1), "asr-mix");
    CHECK_STR(rm_graph_node_id(g, 2), "asr-resample");
    CHECK_STR(rm_graph_node_id(g, 3), "asr-convert");
    CHECK(rm_graph_node_inserted(g, 2) && !rm_graph_node_inserted(g, 0));
    const rm_caps *cp = rm_graph_output_caps(g, 3, 0);
    CHECK(cp && cp->rate == 16000 && cp->channels == 1 && cp->format == RM_SAMPLE_S16);
    char *dot = rm_graph_to_dot(g);
    CHECK_CONTAINS(dot, "\"asr-resample\" [label=\"asr-resample\\nAudioResample\\ntarget_rate=16000\"");
    CHECK_CONTAINS(dot, "style=\"rounded,dashed\"");
    free(dot);
    rm_graph_unref(g);
    /* a converter that needs its own converter: s16 into the f32-only
     * resampler gets a format change first */
    yaml = HEAD "nodes: [{id: mic, node_type: MicS16}, {id: asr, node_type: AsrS16}]\n"
                "connections: [{from: mic, to: asr}]\n";
    CHECK_INT(rm_graph_load_string(r, yaml, strlen(yaml), "p.yaml", NULL, &g, d), 0);
    CHECK_INT(rm_graph_node_count(g), 5); /* mic, to f32, resample, to s16, asr */
    CHECK_STR(rm_graph_node_type(g, 1)->name, "FormatConverter");
    CHECK_STR(rm_graph_node_type(g, 2)->name, "AudioResample");
    CHECK_STR(rm_graph_node_type(g, 3)->name, "FormatConverter");
    rm_graph_unref(g);
    rm_diags_free(d);
    rm_runtime_free(r);
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

/* rm_node_type.specialize: ports from parameters (RemotePipeline's hook) */
typedef struct sp_config {
    const char *const *outs;
} sp_config;
static const rm_param_def sp_params[] = {
    {"outs", RM_PARAM_STRING_LIST, offsetof(sp_config, outs), "output port names", 0, NULL, 0, 0, NULL, NULL,
     RM_PARAM_REQUIRED},
    {NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, NULL, 0}};
static int sp_process(rm_node *n, void *st, unsigned port, const rm_frame *f)
{
    (void)st, (void)port;
    return rm_node_emit(n, 1, f); /* the second output */
}
static rm_node_type *sp_specialize(const rm_node_type *type, const void *config, const struct rm_runtime *r,
                                   const char *file, rm_error *err)
{
    const sp_config *c = config;
    (void)r;
    size_t n = 0;
    while (c->outs[n]) n++;
    if (n > 4) {
        rm_error_set(err, RM_EPARAM, NULL, "at most 4 outputs (%s)", file ? file : "no file");
        return NULL;
    }
    /* one block: the descriptor, then the port array (names point into the
     * config, which lives as long as the graph) */
    rm_node_type *t = calloc(1, sizeof *t + (n + 1) * sizeof(rm_port_def));
    rm_port_def *p = (rm_port_def *)(t + 1);
    *t = *type;
    for (size_t i = 0; i < n; i++) p[i] = (rm_port_def){c->outs[i], RM_KIND_BIT(RM_FRAME_JSON), "x"};
    t->outputs = p;
    t->specialize = NULL;
    return t;
}
static const rm_node_type sp_type = {.abi_version = RM_NODE_ABI_VERSION,
                                     .name = "Specialized",
                                     .doc = "test",
                                     .params = sp_params,
                                     .config_size = sizeof(sp_config),
                                     .process = sp_process,
                                     .specialize = sp_specialize};

static void test_specialize(void)
{
    rm_error e;
    CHECK_INT(rm_runtime_register(rt, &sp_type, &e), 0);
    const char *ok = HEAD "nodes:\n  - {id: s, node_type: Specialized, params: {outs: [a, b]}}\n"
                          "  - {id: p, node_type: PassThrough}\nconnections: [{from: s.b, to: p}]\n";
    EXPECT(ok, 0, 0, "");
    EXPECT(HEAD "nodes:\n  - {id: s, node_type: Specialized, params: {outs: [a, b]}}\n"
                "  - {id: p, node_type: PassThrough}\nconnections: [{from: s.c, to: p}]\n",
           1, RM_ENOTFOUND, "Specialized has no output port 'c' (output ports: a, b)");
    EXPECT(HEAD "nodes:\n  - {id: s, node_type: Specialized, params: {outs: [a, b, c, d, e]}}\n", 1, RM_EPARAM,
           "p.yaml:4:45: error: node 's': at most 4 outputs (p.yaml) (at nodes[0].params)");
    /* a version-1 descriptor (built before the hook existed) is accepted and
     * its memory past `example` is never read: no specialization */
    static rm_node_type v1;
    v1 = sp_type;
    v1.abi_version = 1;
    v1.name = "SpecializedV1";
    CHECK_INT(rm_runtime_register(rt, &v1, &e), 0);
    EXPECT(HEAD "nodes:\n  - {id: s, node_type: SpecializedV1, params: {outs: [a, b]}}\n"
                "  - {id: p, node_type: PassThrough}\nconnections: [{from: s.b, to: p}]\n",
           1, RM_ENOTFOUND, "SpecializedV1 has no output port 'b' (output ports: out)");
    v1.abi_version = 3;
    v1.name = "SpecializedV3";
    CHECK_INT(rm_runtime_register(rt, &v1, &e), RM_EINVAL);
    CHECK_CONTAINS(e.message, "ABI version 3, this runtime supports 1 to 2");
    /* and it runs with its own ports: the frame comes out of 'b' */
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, ok, strlen(ok), "p.yaml", NULL, &g, NULL), 0);
    rm_frame *f = rm_frame_new_text("hi", 2);
    rm_outputs *outs = NULL;
    CHECK_INT(rm_graph_run(g, (const rm_frame *const *)&f, 1, &outs, NULL, &e), 0);
    CHECK_INT(rm_outputs_count(outs), 1);
    CHECK_STR(rm_outputs_at(outs, 0)->node_id, "p");
    rm_outputs_free(outs);
    rm_frame_unref(f);
    rm_graph_unref(g);
}

int main(void)
{
    if (!(rt = check_runtime_new(RM_LOG_ERROR))) return 1;
    RUN(test_valid);
    RUN(test_version);
    RUN(test_nodes);
    RUN(test_unknown_type);
    RUN(test_params);
    RUN(test_connections);
    RUN(test_cycles);
    RUN(test_port_types);
    RUN(test_port_kind_mismatch);
    RUN(test_converters_are_inserted);
    RUN(test_on_error);
    RUN(test_all_problems_in_one_pass);
    RUN(test_specialize);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
