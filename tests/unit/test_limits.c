/* What a remote client can send: deep graphs run without deep C stacks,
 * every manifest limit (remotemedia/manifest.h) is hit at and past its bound
 * with a located error, YAML alias bombs and NUL escapes are refused, and
 * typos give warnings.  The big manifests are generated here, not stored. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

static rm_runtime *rt;

/* ------------------------------------------------------------ text builder --- */

#include "textbuf.h"

/* Compiles JSON or YAML text; returns the code, the diagnostics as text
 * (caller frees) and their count; the graph if wanted. */
static int compile(const text *t, rm_graph **gout, char **diags, size_t *count)
{
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    int rc = rm_graph_load_string(rt, t->p, t->n, t->p[0] == '{' ? "big.json" : "big.yaml", NULL, &g, d);
    if (diags) *diags = rm_diags_to_string(d);
    if (count) *count = rm_diags_count(d);
    rm_diags_free(d);
    if (gout) *gout = g;
    else rm_graph_unref(g);
    return rc;
}

/* A chain n0 → n1 → … of `n` nodes of `type` (JSON). */
static text chain(int n, const char *type, const char *params)
{
    text t = {0};
    put(&t, "{\"version\":\"v1\",\"nodes\":[");
    for (int i = 0; i < n; i++)
        put(&t, "%s{\"id\":\"n%d\",\"node_type\":\"%s\"%s%s}", i ? "," : "", i, type, params ? ",\"params\":" : "",
            params ? params : "");
    put(&t, "],\"connections\":[");
    for (int i = 0; i + 1 < n; i++) put(&t, "%s{\"from\":\"n%d\",\"to\":\"n%d\"}", i ? "," : "", i, i + 1);
    put(&t, "]}");
    return t;
}

/* ---------------------------------------------------------- deep graphs --- */

/* Counter: swallows frames and emits how many it saw at end of stream, so a
 * chain of them nests flushes (and their emits) as deep as the chain. */
typedef struct counter_state {
    long n;
} counter_state;
static int counter_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)node, (void)port, (void)f;
    ((counter_state *)state)->n++;
    return 0;
}
static int counter_flush(rm_node *node, void *state)
{
    return rm_node_emit_take(node, 0, rm_frame_new_json(json_integer(((counter_state *)state)->n)));
}
static const rm_node_type counter = {.abi_version = RM_NODE_ABI_VERSION, .name = "Counter",
                                     .state_size = sizeof(counter_state), .process = counter_process,
                                     .flush = counter_flush};

/* Twice: emits every frame twice (order checks past the nesting depth). */
static int twice_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state, (void)port;
    int rc = rm_node_emit(node, 0, f);
    return rc ? rc : rm_node_emit(node, 0, f);
}
static const rm_node_type twice = {.abi_version = RM_NODE_ABI_VERSION, .name = "Twice", .process = twice_process};

typedef struct seen {
    text log; /* "node=value " per output, in arrival order */
} seen;

static void record(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)port;
    seen *s = user;
    put(&s->log, "%s=%g ", node_id, json_number_value(f->u.json.value));
}

/* Runs `g` over the inputs 1..n_in; returns the outputs as "node=value …". */
static char *run_log(rm_graph *g, int n_in)
{
    seen s = {{0}};
    put(&s.log, "%s", "");
    rm_session_opts o = {0};
    o.on_output = record;
    o.output_user = &s;
    rm_session *ses = NULL;
    rm_error e;
    CHECK_INT(rm_session_open(g, &o, &ses, &e), 0);
    if (!ses) return s.log.p;
    for (int i = 1; i <= n_in; i++) {
        rm_frame *f = rm_frame_new_json(json_integer(i));
        CHECK_INT(rm_session_push(ses, f), 0);
        rm_frame_unref(f);
    }
    CHECK_INT(rm_session_end(ses), 0);
    rm_session_close(ses);
    return s.log.p;
}

/* 20000 AddNodes in a row crashed the executor (one C call level per node). */
static void test_deep_chain_runs(void)
{
    text t = chain(20000, "AddNode", "{\"addend\":1}");
    rm_graph *g = NULL;
    char *diags = NULL;
    CHECK_INT(compile(&t, &g, &diags, NULL), 0);
    if (g) {
        char *log = run_log(g, 3);
        CHECK_STR(log, "n19999=20001 n19999=20002 n19999=20003 ");
        free(log);
        rm_graph_unref(g);
    }
    free(diags);
    free(t.p);
}

/* End of stream nests too: each Counter's flush emits into the next one. */
static void test_deep_flush_chain(void)
{
    text t = chain(20000, "Counter", NULL);
    rm_graph *g = NULL;
    CHECK_INT(compile(&t, &g, NULL, NULL), 0);
    if (g) {
        char *log = run_log(g, 5);
        CHECK_STR(log, "n19999=1 ");
        free(log);
        rm_graph_unref(g);
    }
    free(t.p);
}

/* Around the nesting depth where deliveries move to the work stack, every
 * node still sees its frames in the order nested calls give: a fan-out
 * into a long arm (deeper than the switch-over) and a short arm, with a
 * node emitting twice on the long arm. */
static void test_order_past_the_nesting_depth(void)
{
    for (int len = 60; len <= 200; len += (len < 70 ? 1 : 65)) {
        text t = {0};
        put(&t, "{\"version\":\"v1\",\"nodes\":[{\"id\":\"src\",\"node_type\":\"PassThrough\"}");
        for (int i = 0; i < len; i++)
            put(&t, ",{\"id\":\"a%d\",\"node_type\":\"%s\"%s}", i, i == len / 2 ? "Twice" : "AddNode",
                i == len / 2 ? "" : ",\"params\":{\"addend\":1}");
        put(&t, ",{\"id\":\"b\",\"node_type\":\"AddNode\",\"params\":{\"addend\":1000}}],\"connections\":[");
        put(&t, "{\"from\":\"src\",\"to\":\"a0\"}");
        for (int i = 0; i + 1 < len; i++) put(&t, ",{\"from\":\"a%d\",\"to\":\"a%d\"}", i, i + 1);
        put(&t, ",{\"from\":\"src\",\"to\":\"b\"}]}");
        rm_graph *g = NULL;
        CHECK_INT(compile(&t, &g, NULL, NULL), 0);
        if (g) {
            /* nested calls: the long arm's two outputs, then the short arm */
            text want = {0};
            for (int in = 1; in <= 2; in++)
                put(&want, "a%d=%d a%d=%d b=%d ", len - 1, in + len - 1, len - 1, in + len - 1, in + 1000);
            char *log = run_log(g, 2);
            CHECK_STR(log, want.p);
            free(log);
            free(want.p);
            rm_graph_unref(g);
        }
        free(t.p);
    }
}

/* -------------------------------------------------------- manifest limits --- */

#define EXPECT_LIMIT(t, code, needle)                         \
    do {                                                      \
        char *d_ = NULL;                                      \
        CHECK_INT(compile(&(t), NULL, &d_, NULL), code);      \
        CHECK_CONTAINS(d_, needle);                           \
        free(d_);                                             \
    } while (0)

/* nodes: n nodes with no connections */
static text flat(int n)
{
    text t = {0};
    put(&t, "{\"version\":\"v1\",\"nodes\":[");
    for (int i = 0; i < n; i++) put(&t, "%s{\"id\":\"n%d\",\"node_type\":\"PassThrough\"}", i ? "," : "", i);
    put(&t, "]}");
    return t;
}

static void test_max_nodes(void)
{
    text t = flat(RM_MANIFEST_MAX_NODES);
    EXPECT_LIMIT(t, 0, "");
    free(t.p);
    t = flat(RM_MANIFEST_MAX_NODES + 1);
    EXPECT_LIMIT(t, RM_EMANIFEST, "the manifest has 100001 nodes; at most 100000 are allowed (at nodes)");
    free(t.p);
}

static void test_max_connections(void)
{
    /* 200 sources × 1000 targets: at the limit, fan-out 1000 each */
    text t = {0};
    put(&t, "{\"version\":\"v1\",\"nodes\":[");
    for (int i = 0; i < 200; i++) put(&t, "%s{\"id\":\"s%d\",\"node_type\":\"PassThrough\"}", i ? "," : "", i);
    for (int i = 0; i < 1000; i++) put(&t, ",{\"id\":\"t%d\",\"node_type\":\"PassThrough\"}", i);
    put(&t, "],\"connections\":[");
    for (int i = 0; i < 200; i++)
        for (int j = 0; j < 1000; j++) put(&t, "%s{\"from\":\"s%d\",\"to\":\"t%d\"}", i || j ? "," : "", i, j);
    size_t body = t.n;
    put(&t, "]}");
    EXPECT_LIMIT(t, 0, "");
    t.n = body;
    put(&t, ",{\"from\":\"s0\",\"to\":\"s1\"}]}");
    EXPECT_LIMIT(t, RM_EMANIFEST, "the manifest has 200001 connections; at most 200000 are allowed (at connections)");
    free(t.p);
}

static text fanout(int n)
{
    text t = {0};
    put(&t, "{\"version\":\"v1\",\"nodes\":[{\"id\":\"src\",\"node_type\":\"PassThrough\"}");
    for (int i = 0; i < n; i++) put(&t, ",{\"id\":\"t%d\",\"node_type\":\"PassThrough\"}", i);
    put(&t, "],\"connections\":[");
    for (int i = 0; i < n; i++) put(&t, "%s{\"from\":\"src\",\"to\":\"t%d\"}", i ? "," : "", i);
    put(&t, "]}");
    return t;
}

static void test_max_fanout(void)
{
    text t = fanout(RM_MANIFEST_MAX_FANOUT);
    EXPECT_LIMIT(t, 0, "");
    free(t.p);
    t = fanout(RM_MANIFEST_MAX_FANOUT + 1);
    EXPECT_LIMIT(t, RM_EMANIFEST, "node 'src': more than 1024 connections from output 'out' of 'src' (at connections[1024])");
    free(t.p);
}

static void test_max_id(void)
{
    char id[RM_MANIFEST_MAX_ID + 2];
    memset(id, 'x', sizeof id - 1);
    id[RM_MANIFEST_MAX_ID] = '\0';
    text t = {0};
    put(&t, "version: v1\nnodes: [{id: %s, node_type: PassThrough}, {id: y, node_type: PassThrough}]\n"
            "connections: [{from: %s, to: y}]\n", id, id);
    EXPECT_LIMIT(t, 0, "");
    free(t.p);
    id[RM_MANIFEST_MAX_ID] = 'x';
    id[RM_MANIFEST_MAX_ID + 1] = '\0';
    t = (text){0};
    put(&t, "version: v1\nnodes: [{id: %s, node_type: PassThrough}]\n", id);
    EXPECT_LIMIT(t, RM_EMANIFEST, "big.yaml:2:14: error: node id \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…\" is 129 "
                                  "bytes long; at most 128 are allowed (at nodes[0].id)");
    free(t.p);
}

/* A string param (or any string) of up to 1 MiB, a list of up to 65536
 * items. */
static void test_max_string_and_items(void)
{
    size_t n = RM_MANIFEST_MAX_STRING;
    char *s = malloc(n + 2);
    memset(s, 'a', n + 1);
    s[n] = '\0';
    text t = {0};
    put(&t, "{\"version\":\"v1\",\"nodes\":[{\"id\":\"c\",\"node_type\":\"PassThrough\",\"note\":\"%s\"}]}", s);
    char *d = NULL;
    size_t cnt = 0;
    CHECK_INT(compile(&t, NULL, &d, &cnt), 0); /* only the warning about `note` */
    CHECK_INT(cnt, 1);
    free(d);
    free(t.p);
    s[n] = 'a';
    s[n + 1] = '\0';
    t = (text){0};
    put(&t, "{\"version\":\"v1\",\"nodes\":[{\"id\":\"c\",\"node_type\":\"PassThrough\",\"params\":{\"x\":\"%s\"}}]}", s);
    EXPECT_LIMIT(t, RM_EMANIFEST, "error: a string of 1048577 bytes; at most 1048576 are allowed (at nodes[0].params.x)");
    free(t.p);
    free(s);

    for (int extra = 0; extra <= 1; extra++) {
        t = (text){0};
        put(&t, "{\"version\":\"v1\",\"metadata\":{\"name\":\"m\",\"tags\":[");
        for (int i = 0; i < RM_MANIFEST_MAX_ITEMS + extra; i++) put(&t, "%s0", i ? "," : "");
        put(&t, "]},\"nodes\":[{\"id\":\"a\",\"node_type\":\"PassThrough\"}]}");
        if (extra)
            EXPECT_LIMIT(t, RM_EMANIFEST, "a list has 65537 items; at most 65536 are allowed (at metadata.tags)");
        else
            EXPECT_LIMIT(t, 0, "");
        free(t.p);
    }
}

/* The text itself: 16 MiB (padded with spaces) load, a byte more does not. */
static void test_max_bytes(void)
{
    text t = {0};
    put(&t, "{\"version\":\"v1\",\"nodes\":[{\"id\":\"a\",\"node_type\":\"PassThrough\"}]}");
    size_t body = t.n;
    t.p = realloc(t.p, RM_MANIFEST_MAX_BYTES + 2);
    memset(t.p + body, ' ', RM_MANIFEST_MAX_BYTES + 1 - body);
    t.n = RM_MANIFEST_MAX_BYTES;
    t.p[t.n] = '\0';
    EXPECT_LIMIT(t, 0, "");
    t.n = RM_MANIFEST_MAX_BYTES + 1;
    t.p[t.n] = '\0';
    EXPECT_LIMIT(t, RM_ELIMIT, "big.json: error: the manifest is larger than 16 MiB");
    free(t.p);
}

/* Nesting: 64 levels in JSON (as in YAML) are fine, 65 are not. */
static void test_max_depth(void)
{
    for (int extra = 0; extra <= 1; extra++) {
        text t = {0};
        put(&t, "{\"version\":\"v1\",\"nodes\":[{\"id\":\"a\",\"node_type\":\"PassThrough\"}],\"metadata\":");
        /* root (0) → metadata (1) → … */
        int levels = RM_MANIFEST_MAX_DEPTH + extra;
        for (int i = 0; i < levels; i++) put(&t, "[");
        for (int i = 0; i < levels; i++) put(&t, "]");
        put(&t, "}");
        if (extra) EXPECT_LIMIT(t, RM_EMANIFEST, "nesting deeper than 64 levels");
        else EXPECT_LIMIT(t, RM_EMANIFEST, "metadata must be a mapping"); /* past the walk: valid nesting */
        free(t.p);
    }
}

/* Blocking nodes and queued connections each start a worker thread. */
static void test_max_workers(void)
{
    for (int extra = 0; extra <= 1; extra++) {
        int n = RM_MANIFEST_MAX_WORKERS + 1 + extra;
        text t = {0};
        put(&t, "{\"version\":\"v1\",\"nodes\":[");
        for (int i = 0; i < n; i++) put(&t, "%s{\"id\":\"n%d\",\"node_type\":\"PassThrough\"}", i ? "," : "", i);
        put(&t, "],\"connections\":[");
        for (int i = 0; i + 1 < n; i++)
            put(&t, "%s{\"from\":\"n%d\",\"to\":\"n%d\",\"queue\":\"drop_oldest\"}", i ? "," : "", i, i + 1);
        put(&t, "]}");
        if (extra)
            EXPECT_LIMIT(t, RM_EMANIFEST, "the pipeline needs 65 worker threads");
        else
            EXPECT_LIMIT(t, 0, "");
        free(t.p);
    }
}

/* A million bad things get a bounded answer. */
static void test_max_diags(void)
{
    text t = {0};
    put(&t, "{\"version\":\"v1\",\"nodes\":[");
    for (int i = 0; i < 5000; i++) put(&t, "%s{\"id\":\"n%d\",\"node_type\":\"NoSuchNode\"}", i ? "," : "", i);
    put(&t, "],\"connections\":[");
    for (int i = 0; i < 5000; i++) put(&t, "%s{\"from\":\"x%d\",\"to\":\"n0\"}", i ? "," : "", i);
    put(&t, "]}");
    char *d = NULL;
    size_t cnt = 0;
    CHECK_INT(compile(&t, NULL, &d, &cnt), RM_ENOTFOUND);
    CHECK_INT(cnt, RM_MANIFEST_MAX_DIAGS + 1);
    CHECK_CONTAINS(d, "error: too many problems; only the first ones are shown");
    free(d);
    free(t.p);

    /* a flood of warnings is capped apart and does not hide an error */
    t = (text){0};
    put(&t, "{\"version\":\"v1\",\"nodes\":[");
    for (int i = 0; i < 500; i++) put(&t, "%s{\"id\":\"n%d\",\"node_type\":\"PassThrough\",\"typo\":1}", i ? "," : "", i);
    put(&t, ",{\"id\":\"bad\",\"node_type\":\"NoSuchNode\"}]}");
    rm_diags *dl = rm_diags_new();
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, t.p, t.n, "w.json", NULL, &g, dl), RM_ENOTFOUND);
    CHECK_INT(rm_diags_count_severity(dl, RM_DIAG_WARNING), RM_MANIFEST_MAX_DIAGS + 1);
    CHECK_INT(rm_diags_count_severity(dl, RM_DIAG_ERROR), 1);
    rm_error e;
    rm_diags_to_error(dl, &e);
    CHECK_CONTAINS(e.message, "node 'bad': unknown node type 'NoSuchNode'");
    char *all = rm_diags_to_string(dl);
    CHECK_CONTAINS(all, "warning: too many warnings; only the first ones are shown");
    free(all);
    rm_diags_free(dl);
    free(t.p);
}

/* ------------------------------------------------------------------ YAML --- */

/* Anchors nested nine deep, ten aliases each (10^10 values expanded), as
 * the value of `version:` — refused while parsing, at the alias. */
static void test_alias_bomb(void)
{
    text t = {0};
    put(&t, "version: {k0: &a0 [x, x, x, x, x, x, x, x, x, x]");
    for (int i = 1; i < 10; i++) {
        put(&t, ", k%d: &a%d [", i, i);
        for (int j = 0; j < 10; j++) put(&t, "%s*a%d", j ? ", " : "", i - 1);
        put(&t, "]");
    }
    put(&t, "}\nnodes: [{id: a, node_type: PassThrough}]\n");
    char *d = NULL;
    CHECK_INT(compile(&t, NULL, &d, NULL), RM_EPARSE);
    CHECK_CONTAINS(d, "big.yaml:1:");
    CHECK_CONTAINS(d, "error: YAML aliases expand the manifest to more than 4000000 values (at alias '*a");
    free(d);
    free(t.p);

    /* aliases within the limit are fine, and a bad version is quoted
     * briefly, not dumped */
    t = (text){0};
    put(&t, "version: {k0: &a0 [x, x, x, x, x, x, x, x, x, x]");
    for (int i = 1; i < 5; i++) {
        put(&t, ", k%d: &a%d [", i, i);
        for (int j = 0; j < 10; j++) put(&t, "%s*a%d", j ? ", " : "", i - 1);
        put(&t, "]");
    }
    put(&t, "}\nnodes: [{id: a, node_type: PassThrough}]\n");
    size_t cnt = 0;
    CHECK_INT(compile(&t, NULL, &d, &cnt), RM_EMANIFEST);
    CHECK_INT(cnt, 1);
    CHECK_CONTAINS(d, "error: unsupported manifest version a mapping (supported: \"v1\") (at version)");
    CHECK(d && strlen(d) < 200);
    free(d);
    free(t.p);

    t = (text){0};
    put(&t, "version: \"%0500d\"\nnodes: [{id: a, node_type: PassThrough}]\n", 7);
    CHECK_INT(compile(&t, NULL, &d, NULL), RM_EMANIFEST);
    CHECK_CONTAINS(d, "unsupported manifest version \"0000000000000000000000000000000000000000\"… (supported");
    CHECK(d && strlen(d) < 200);
    free(d);
    free(t.p);
}

/* "\0" in a YAML double-quoted string would cut ids, types and keys short. */
static void test_yaml_nul(void)
{
    static const struct {
        const char *yaml, *where;
    } cases[] = {
        {"version: v1\nnodes: [{id: a, node_type: \"AddNode\\0junk\"}]\n", "big.yaml:2:28: error: a string contains a NUL "
                                                                        "character (\"\\0\"), which is not allowed in a "
                                                                        "manifest (at nodes[0].node_type)"},
        {"version: v1\nnodes: [{id: \"a\\0b\", node_type: AddNode}]\n", "big.yaml:2:14: error: a string contains a NUL"},
        {"version: v1\nnodes: [{id: a, node_type: AddNode, params: {\"addend\\0x\": 1}}]\n",
         "big.yaml:2:46: error: a key contains a NUL character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        text t = {0};
        put(&t, "%s", cases[i].yaml);
        EXPECT_LIMIT(t, RM_EPARSE, cases[i].where);
        free(t.p);
    }
}

/* ------------------------------------------------------------- warnings --- */

static void test_unknown_key_warnings(void)
{
    text t = {0};
    put(&t, "version: v1\nnodes:\n  - {id: a, node_type: AddNode, parms: {addend: 1}}\n"
            "  - {id: b, nodetype: AddNode, node_type: AddNode, host: \"x:1\"}\n"
            "connections:\n  - {from: a, to: b, qeue: drop_oldest}\nconections: []\nruntime: {target: x}\n");
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, t.p, t.n, "w.yaml", NULL, &g, d), 0);
    CHECK(g != NULL);
    rm_graph_unref(g);
    CHECK_INT(rm_diags_count(d), 4);
    CHECK_INT(rm_diags_count_severity(d, RM_DIAG_WARNING), 4);
    CHECK_INT(rm_diags_count_severity(d, RM_DIAG_ERROR), 0);
    char *s = rm_diags_to_string(d);
    CHECK_CONTAINS(s, "w.yaml:7:13: warning: unknown top-level key 'conections' is ignored; did you mean 'connections'? (at conections)");
    CHECK_CONTAINS(s, "w.yaml:3:40: warning: node 'a': unknown node key 'parms' is ignored; did you mean 'params'? (at nodes[0].parms)");
    CHECK_CONTAINS(s, "warning: node 'b': unknown node key 'nodetype' is ignored; did you mean 'node_type'? (at nodes[1].nodetype)");
    CHECK_CONTAINS(s, "warning: unknown connection key 'qeue' is ignored; did you mean 'queue'? (at connections[0].qeue)");
    free(s);
    /* an error after warnings: rm_diags_to_error reports the error */
    rm_diags_clear(d);
    free(t.p);
    t = (text){0};
    put(&t, "version: v1\nnodez: 1\nnodes: [{id: a, node_type: AddNod}]\n");
    CHECK_INT(rm_graph_load_string(rt, t.p, t.n, "w.yaml", NULL, &g, d), RM_ENOTFOUND);
    CHECK_INT(rm_diags_count(d), 2);
    CHECK_INT(rm_diags_at(d, 0)->severity, RM_DIAG_WARNING);
    rm_error e;
    rm_diags_to_error(d, &e);
    CHECK_INT(e.code, RM_ENOTFOUND);
    CHECK_CONTAINS(e.message, "error: node 'a': unknown node type 'AddNod'");
    CHECK(strstr(e.message, "more problem") == NULL); /* warnings are not counted as problems */
    rm_diags_free(d);
    free(t.p);
}

/* rm_graph_node_index finds every node (sorted index, not a scan). */
static void test_node_index(void)
{
    text t = flat(3000);
    rm_graph *g = NULL;
    CHECK_INT(compile(&t, &g, NULL, NULL), 0);
    if (g) {
        int bad = 0;
        for (size_t i = 0; i < rm_graph_node_count(g); i++)
            bad += rm_graph_node_index(g, rm_graph_node_id(g, i)) != (int)i;
        CHECK_INT(bad, 0);
        CHECK_INT(rm_graph_node_index(g, "n3000"), -1);
        CHECK_INT(rm_graph_node_index(g, ""), -1);
        CHECK_INT(rm_graph_node_index(g, NULL), -1);
        rm_graph_unref(g);
    }
    free(t.p);
}

/* Every number a manifest can set that could size a buffer has a range:
 * the only unbounded numeric parameters are operands of arithmetic. */
static void test_numeric_params_are_bounded(void)
{
    static const char *const operands[] = {"AddNode.addend", "CalculatorNode.operand", "MultiplyNode.factor", NULL};
    for (size_t i = 0; i < rm_runtime_node_type_count(rt); i++) {
        const rm_node_type *t = rm_runtime_node_type_at(rt, i);
        for (const rm_param_def *p = t->params; p && p->name; p++) {
            if (p->type != RM_PARAM_INT && p->type != RM_PARAM_FLOAT) continue;
            if (!(p->min == 0 && p->max == 0)) continue;
            char name[160];
            snprintf(name, sizeof name, "%s.%s", t->name, p->name);
            int known = 0;
            for (const char *const *o = operands; *o; o++) known |= !strcmp(*o, name);
            if (!known) fprintf(stderr, "unbounded numeric parameter %s\n", name);
            CHECK(known);
        }
    }
}

int main(void)
{
    rt = check_runtime_new(RM_LOG_ERROR);
    if (!rt) return 1;
    rm_error e;
    CHECK_INT(rm_runtime_register(rt, &counter, &e), 0);
    CHECK_INT(rm_runtime_register(rt, &twice, &e), 0);
    RUN(test_deep_chain_runs);
    RUN(test_deep_flush_chain);
    RUN(test_order_past_the_nesting_depth);
    RUN(test_max_nodes);
    RUN(test_max_connections);
    RUN(test_max_fanout);
    RUN(test_max_id);
    RUN(test_max_string_and_items);
    RUN(test_max_bytes);
    RUN(test_max_depth);
    RUN(test_max_workers);
    RUN(test_max_diags);
    RUN(test_alias_bomb);
    RUN(test_yaml_nul);
    RUN(test_unknown_key_warnings);
    RUN(test_node_index);
    RUN(test_numeric_params_are_bounded);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
