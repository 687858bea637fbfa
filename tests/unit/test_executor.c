/* Executor: sync push through the graph, fan-out/fan-in, end-of-stream
 * order, worker segments and queue policies, reset, runtime params, pools,
 * metrics. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include <jansson.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

static rm_runtime *rt;

/* ------------------------------------------------------ test node types --- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char flush_log[512];

/* Doubler: emits every frame twice. */
static int doubler_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state, (void)port;
    int rc = rm_node_emit(node, 0, f);
    return rc ? rc : rm_node_emit(node, 0, f);
}

/* Tally: swallows frames, emits their count at end of stream; logs flushes. */
typedef struct tally_state {
    int n;
} tally_state;
static int tally_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)node, (void)port, (void)f;
    ((tally_state *)state)->n++;
    return 0;
}
static int tally_flush(rm_node *node, void *state)
{
    pthread_mutex_lock(&log_mu);
    strncat(flush_log, rm_node_id(node), sizeof flush_log - strlen(flush_log) - 2);
    strcat(flush_log, " ");
    pthread_mutex_unlock(&log_mu);
    return rm_node_emit_take(node, 0, rm_frame_new_json(json_integer(((tally_state *)state)->n)));
}
static int tally_reset(rm_node *node, void *state)
{
    (void)node;
    ((tally_state *)state)->n = 0;
    return 0;
}

/* Slow: a blocking node that sleeps 2 ms per frame, then passes it on. */
static int slow_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state, (void)port;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    return rm_node_emit(node, 0, f);
}

/* Failing init, to check that open cleans up. */
static int broken_init(rm_node *node, void *state, const void *config)
{
    (void)state, (void)config;
    return rm_node_fail(node, RM_EMODEL, "model file /x/y.bin is missing");
}

static const rm_node_type doubler = {.abi_version = RM_NODE_ABI_VERSION, .name = "Doubler", .process = doubler_process};
static const rm_node_type tally = {.abi_version = RM_NODE_ABI_VERSION, .name = "Tally", .state_size = sizeof(tally_state),
                                   .process = tally_process, .flush = tally_flush, .reset = tally_reset};
static const rm_node_type slow = {.abi_version = RM_NODE_ABI_VERSION, .name = "Slow", .flags = RM_NODE_BLOCKING,
                                  .process = slow_process};
static const rm_node_type broken = {.abi_version = RM_NODE_ABI_VERSION, .name = "Broken", .init = broken_init,
                                    .process = doubler_process};

/* --------------------------------------------------------------- helpers --- */

static rm_graph *compile(const char *yaml)
{
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    int rc = rm_graph_load_string(rt, yaml, strlen(yaml), "t.yaml", NULL, &g, d);
    if (rc != 0) {
        char *s = rm_diags_to_string(d);
        fprintf(stderr, "compile failed:\n%s", s);
        free(s);
    }
    rm_diags_free(d);
    return g;
}

static rm_frame *num(double x) { return rm_frame_new_json(json_real(x)); }

static double out_num(const rm_outputs *o, size_t i)
{
    const rm_output *x = rm_outputs_at(o, i);
    return x ? json_number_value(x->frame->u.json.value) : -1e9;
}

#define HEAD "version: v1\nmetadata: {name: t}\n"

/* ----------------------------------------------------------------- tests --- */

static void test_calculator_chain(void)
{
    rm_graph *g = compile(HEAD "nodes:\n"
                               "  - {id: multiply, node_type: MultiplyNode, params: {multiplier: 2}}\n"
                               "  - {id: add, node_type: AddNode, params: {addend: 10}}\n"
                               "connections: [{from: multiply, to: add}]\n");
    rm_frame *in[3] = {num(5), num(7), num(3)};
    rm_outputs *o = NULL;
    char *metrics = NULL;
    rm_error e;
    CHECK_INT(rm_graph_run(g, (const rm_frame *const *)in, 3, &o, &metrics, &e), 0);
    CHECK_INT(rm_outputs_count(o), 3);
    CHECK_NEAR(out_num(o, 0), 20, 0);
    CHECK_NEAR(out_num(o, 1), 24, 0);
    CHECK_NEAR(out_num(o, 2), 16, 0);
    CHECK_STR(rm_outputs_at(o, 0)->node_id, "add");
    CHECK(json_is_integer(rm_outputs_at(o, 0)->frame->u.json.value)); /* integral → integer */
    json_t *m = json_loads(metrics, 0, NULL);
    CHECK(json_is_number(json_object_get(m, "total_duration_us")));
    json_t *nm = json_object_get(json_object_get(m, "node_metrics"), "multiply");
    CHECK_INT(json_integer_value(json_object_get(nm, "calls")), 3);
    CHECK_INT(json_integer_value(json_object_get(nm, "frames_out")), 3);
    CHECK(json_is_number(json_object_get(nm, "p50_us")));
    CHECK(json_is_number(json_object_get(nm, "p99_us")));
    CHECK(json_number_value(json_object_get(nm, "min_us")) <= json_number_value(json_object_get(nm, "p50_us")));
    CHECK(json_number_value(json_object_get(nm, "p99_us")) <= json_number_value(json_object_get(nm, "max_us")));
    json_t *link = json_array_get(json_object_get(m, "links"), 0);
    CHECK_STR(json_string_value(json_object_get(link, "from")), "multiply.out");
    CHECK_INT(json_integer_value(json_object_get(link, "frames")), 3);
    json_decref(m);
    free(metrics);
    rm_outputs_free(o);
    for (int i = 0; i < 3; i++) rm_frame_unref(in[i]);
    rm_graph_unref(g);
}

static void test_fan_out_shares_the_frame(void)
{
    rm_graph *g = compile(HEAD "nodes:\n"
                               "  - {id: a, node_type: PassThrough}\n"
                               "  - {id: b, node_type: PassThrough}\n"
                               "  - {id: c, node_type: PassThrough}\n"
                               "connections: [{from: a, to: b}, {from: a, to: c}]\n");
    rm_session *s;
    rm_error e;
    CHECK_INT(rm_session_open(g, NULL, &s, &e), 0);
    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, 16000, 1, 320);
    CHECK_INT(rm_session_push(s, f), 0);
    CHECK_INT(rm_session_end(s), 0);
    const rm_outputs *o = rm_session_outputs(s);
    CHECK_INT(rm_outputs_count(o), 2);
    CHECK(rm_outputs_at(o, 0)->frame == f); /* zero copy through the graph */
    CHECK(rm_outputs_at(o, 1)->frame == f);
    const rm_frame *bf[2];
    CHECK_INT(rm_outputs_of(o, "b", bf, 2), 1);
    CHECK_INT(rm_outputs_of(o, "c", bf, 2), 1);
    rm_session_close(s);
    CHECK_INT(rm_frame_refcount(f), 1); /* the session released its references */
    rm_frame_unref(f);
    rm_graph_unref(g);
}

static void test_fan_in_and_multi_output(void)
{
    rm_graph *g = compile(HEAD "nodes:\n"
                               "  - {id: a, node_type: Doubler}\n"
                               "  - {id: b, node_type: MultiplyNode, params: {factor: 3}}\n"
                               "  - {id: sum, node_type: Tally}\n"
                               "connections: [{from: a, to: sum}, {from: b, to: sum}]\n");
    CHECK_INT(rm_graph_source_count(g), 2);
    rm_frame *in[2] = {num(1), num(2)};
    rm_outputs *o = NULL;
    rm_error e;
    CHECK_INT(rm_graph_run(g, (const rm_frame *const *)in, 2, &o, NULL, &e), 0);
    CHECK_INT(rm_outputs_count(o), 1);
    CHECK_NEAR(out_num(o, 0), 2 * 2 + 2, 0); /* 2 inputs doubled + 2 via b */
    rm_outputs_free(o);
    rm_frame_unref(in[0]);
    rm_frame_unref(in[1]);
    rm_graph_unref(g);
}

static void test_end_of_stream_order(void)
{
    /* t1 → t2 → t4, t1 → t3 → t4: t4 flushes last, after both upstreams;
     * flush output of t1 travels through t2/t3 before they flush */
    rm_graph *g = compile(HEAD "nodes:\n"
                               "  - {id: t4, node_type: Tally}\n"
                               "  - {id: t3, node_type: Tally}\n"
                               "  - {id: t2, node_type: Tally}\n"
                               "  - {id: t1, node_type: Tally}\n"
                               "connections: [{from: t1, to: t2}, {from: t1, to: t3}, {from: t2, to: t4}, {from: t3, to: t4}]\n");
    CHECK_STR(rm_graph_node_id(g, 0), "t1"); /* topological order */
    CHECK_STR(rm_graph_node_id(g, 3), "t4");
    flush_log[0] = '\0';
    rm_frame *in = num(0);
    rm_outputs *o = NULL;
    rm_error e;
    CHECK_INT(rm_graph_run(g, (const rm_frame *const *)&in, 1, &o, NULL, &e), 0);
    CHECK_STR(flush_log, "t1 t2 t3 t4 ");
    CHECK_INT(rm_outputs_count(o), 1);
    CHECK_NEAR(out_num(o, 0), 2, 0); /* t4 saw one frame from t2 and one from t3 */
    rm_outputs_free(o);
    rm_frame_unref(in);
    rm_graph_unref(g);
}

static void test_blocking_node_runs_on_a_worker(void)
{
    rm_graph *g = compile(HEAD "nodes:\n"
                               "  - {id: pre, node_type: AddNode, params: {addend: 1}}\n"
                               "  - {id: slow, node_type: Slow}\n"
                               "  - {id: post, node_type: AddNode, params: {addend: 1}}\n"
                               "connections: [{from: pre, to: slow}, {from: slow, to: post}]\n");
    rm_session *s;
    rm_error e;
    CHECK_INT(rm_session_open(g, NULL, &s, &e), 0);
    for (int i = 0; i < 20; i++) {
        rm_frame *f = num(i);
        CHECK_INT(rm_session_push(s, f), 0);
        rm_frame_unref(f);
    }
    CHECK_INT(rm_session_end(s), 0);
    const rm_outputs *o = rm_session_outputs(s);
    CHECK_INT(rm_outputs_count(o), 20);
    for (size_t i = 0; i < rm_outputs_count(o); i++) CHECK_NEAR(out_num(o, i), (double)i + 2, 0); /* in order */
    char *m = rm_session_metrics_json(s);
    json_t *mj = json_loads(m, 0, NULL);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(mj, "node_metrics"), "slow"), "worker")), 1);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(mj, "node_metrics"), "post"), "worker")), 1);
    json_t *link = json_array_get(json_object_get(mj, "links"), 0);
    CHECK_STR(json_string_value(json_object_get(link, "queue")), "block");
    CHECK(json_integer_value(json_object_get(link, "high_water")) >= 1);
    json_decref(mj);
    free(m);
    rm_session_close(s);
    rm_graph_unref(g);
}

/* Pushes n frames into a graph with a queued link to a slow consumer and
 * returns the outputs and drops. */
static void run_policy(const char *policy, int n, size_t *outputs, long long *drops, double *last)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             HEAD "nodes:\n"
                  "  - {id: src, node_type: PassThrough}\n"
                  "  - {id: slow, node_type: Slow}\n"
                  "connections: [{from: src, to: slow, queue: {policy: %s, capacity: 2}}]\n",
             policy);
    rm_graph *g = compile(yaml);
    rm_session *s;
    rm_error e;
    CHECK_INT(rm_session_open(g, NULL, &s, &e), 0);
    for (int i = 0; i < n; i++) {
        rm_frame *f = num(i);
        CHECK_INT(rm_session_push(s, f), 0);
        rm_frame_unref(f);
    }
    CHECK_INT(rm_session_end(s), 0);
    const rm_outputs *o = rm_session_outputs(s);
    *outputs = rm_outputs_count(o);
    *last = *outputs ? out_num(o, *outputs - 1) : -1;
    char *m = rm_session_metrics_json(s);
    json_t *mj = json_loads(m, 0, NULL);
    json_t *link = json_array_get(json_object_get(mj, "links"), 0);
    *drops = json_integer_value(json_object_get(link, "drops"));
    CHECK(json_integer_value(json_object_get(link, "high_water")) <= 2);
    CHECK_STR(json_string_value(json_object_get(link, "queue")), policy);
    json_decref(mj);
    free(m);
    rm_session_close(s);
    rm_graph_unref(g);
}

static void test_queue_policies(void)
{
    size_t outs;
    long long drops;
    double last;
    run_policy("block", 30, &outs, &drops, &last);
    CHECK_INT(outs, 30);
    CHECK_INT(drops, 0);
    run_policy("drop_newest", 30, &outs, &drops, &last);
    CHECK(drops > 0);
    CHECK_INT((long long)outs + drops, 30);
    run_policy("drop_oldest", 30, &outs, &drops, &last);
    CHECK(drops > 0);
    CHECK_INT((long long)outs + drops, 30);
    CHECK_NEAR(last, 29, 0); /* the newest frame is never the one dropped */
}

static void test_wrong_frame_kind_fails_the_session(void)
{
    rm_graph *g = compile(HEAD "nodes: [{id: calc, node_type: CalculatorNode}]\n");
    rm_session *s;
    rm_error e;
    CHECK_INT(rm_session_open(g, NULL, &s, &e), 0);
    rm_frame *t = rm_frame_new_text("2+2", 3);
    CHECK_INT(rm_session_push(s, t), RM_EFRAMEKIND);
    const rm_error *err = rm_session_error(s);
    CHECK_STR(err->node_id, "calc");
    CHECK_CONTAINS(err->message, "input port 'in' of CalculatorNode accepts json, got a text frame");
    CHECK_INT(err->cls, RM_ERRCLASS_NODE_EXECUTION);
    CHECK_INT(rm_session_push(s, t), RM_EFRAMEKIND); /* stays failed */
    CHECK_INT(rm_session_end(s), RM_EFRAMEKIND);
    rm_frame_unref(t);
    rm_session_close(s);
    rm_graph_unref(g);
}

static void test_node_error_names_node(void)
{
    rm_graph *g = compile(HEAD "nodes: [{id: calc, node_type: CalculatorNode}]\n");
    rm_frame *f = rm_frame_new_json(json_pack("{s:s, s:[i,i]}", "operation", "divide", "operands", 1, 0));
    rm_outputs *o = NULL;
    rm_error e;
    CHECK_INT(rm_graph_run(g, (const rm_frame *const *)&f, 1, &o, NULL, &e), RM_ENODE);
    CHECK_STR(e.node_id, "calc");
    CHECK_STR(e.message, "division by zero");
    CHECK(o == NULL);
    rm_frame_unref(f);
    rm_graph_unref(g);
}

static void test_state_errors(void)
{
    rm_graph *g = compile(HEAD "nodes: [{id: a, node_type: PassThrough}]\n");
    rm_session *s;
    rm_error e;
    CHECK_INT(rm_session_open(g, NULL, &s, &e), 0);
    rm_frame *f = num(1);
    CHECK_INT(rm_session_push_to(s, "nope", NULL, f), RM_ENOTFOUND);
    CHECK_INT(rm_session_push_to(s, "a", "nope", f), RM_ENOTFOUND);
    CHECK_INT(rm_session_push_to(s, "a", "in", f), 0);
    CHECK_INT(rm_session_push(s, NULL), RM_EINVAL);
    CHECK_INT(rm_session_end(s), 0);
    CHECK_INT(rm_session_push(s, f), RM_ESTATE);
    CHECK_INT(rm_session_end(s), RM_ESTATE);
    CHECK_INT(rm_session_reset(s), RM_ESTATE);
    rm_frame_unref(f);
    rm_session_close(s);
    rm_graph_unref(g);
}

static void test_init_failure_cleans_up(void)
{
    rm_graph *g = compile(HEAD "nodes: [{id: ok, node_type: TextCollectorNode}, {id: bad, node_type: Broken}]\n"
                               "connections: [{from: ok, to: bad}]\n");
    rm_session *s = NULL;
    rm_error e;
    CHECK_INT(rm_session_open(g, NULL, &s, &e), RM_EMODEL);
    CHECK(s == NULL);
    CHECK_STR(e.node_id, "bad");
    CHECK_CONTAINS(e.message, "node 'bad' (Broken) failed to initialise: model file /x/y.bin is missing");
    rm_graph_unref(g);
}

static void test_reset_drops_queued_work(void)
{
    rm_graph *g = compile(HEAD "nodes:\n"
                               "  - {id: slow, node_type: Slow}\n"
                               "  - {id: count, node_type: Tally}\n"
                               "connections: [{from: slow, to: count}]\n");
    rm_session *s;
    rm_error e;
    CHECK_INT(rm_session_open(g, NULL, &s, &e), 0);
    for (int i = 0; i < 40; i++) {
        rm_frame *f = num(i);
        rm_session_push(s, f);
        rm_frame_unref(f);
    }
    CHECK_INT(rm_session_reset(s), 0); /* barge-in: queued frames dropped, Tally reset */
    rm_frame *f = num(100);
    CHECK_INT(rm_session_push(s, f), 0);
    rm_frame_unref(f);
    CHECK_INT(rm_session_end(s), 0);
    const rm_outputs *o = rm_session_outputs(s);
    CHECK_INT(rm_outputs_count(o), 1);
    CHECK_NEAR(out_num(o, 0), 1, 0); /* only the frame after the reset was counted */
    rm_session_close(s);
    rm_graph_unref(g);
}

static void test_runtime_params(void)
{
    rm_graph *g = compile(HEAD "nodes: [{id: m, node_type: MultiplyNode, params: {factor: 2}}, "
                               "{id: t, node_type: TextCollectorNode}]\n");
    rm_session *s;
    rm_error e;
    CHECK_INT(rm_session_open(g, NULL, &s, &e), 0);
    rm_frame *f = num(5);
    rm_session_push_to(s, "m", NULL, f);
    CHECK_INT(rm_session_set_param(s, "m", "factor", "3", &e), 0);
    rm_session_push_to(s, "m", NULL, f);
    CHECK_INT(rm_session_set_param(s, "m", "multiplier", "4", &e), 0); /* alias */
    rm_session_push_to(s, "m", NULL, f);
    CHECK_INT(rm_session_set_param(s, "m", "factor", "\"x\"", &e), RM_EPARAM);
    CHECK_CONTAINS(e.message, "expected a number");
    CHECK_INT(rm_session_set_param(s, "m", "fctor", "1", &e), RM_EPARAM);
    CHECK_INT(rm_session_set_param(s, "t", "boundaries", "\".\"", &e), RM_EPARAM);
    CHECK_CONTAINS(e.message, "cannot change while running");
    CHECK_INT(rm_session_set_param(s, "zz", "factor", "1", &e), RM_ENOTFOUND);
    CHECK_INT(rm_session_end(s), 0);
    const rm_outputs *o = rm_session_outputs(s);
    CHECK_INT(rm_outputs_count(o), 3);
    CHECK_NEAR(out_num(o, 0), 10, 0);
    CHECK_NEAR(out_num(o, 1), 15, 0);
    CHECK_NEAR(out_num(o, 2), 20, 0);
    rm_frame_unref(f);
    rm_session_close(s);
    rm_graph_unref(g);
}

typedef struct collect {
    pthread_mutex_t mu;
    double values[200];
    int n, order_ok;
} collect;

static void on_out(void *user, const char *node, const char *port, const rm_frame *f)
{
    (void)node, (void)port;
    collect *c = user;
    pthread_mutex_lock(&c->mu);
    double v = json_number_value(f->u.json.value);
    if (c->n && v < c->values[c->n - 1]) c->order_ok = 0;
    if (c->n < 200) c->values[c->n++] = v;
    pthread_mutex_unlock(&c->mu);
}

static void test_many_sessions_on_a_pool(void)
{
    rm_graph *g = compile(HEAD "nodes:\n"
                               "  - {id: m, node_type: MultiplyNode, params: {factor: 2}}\n"
                               "  - {id: a, node_type: AddNode, params: {addend: 1}}\n"
                               "connections: [{from: m, to: a}]\n");
    rm_pool *pool;
    rm_error e;
    CHECK_INT(rm_pool_new(2, &pool, &e), 0);
    enum { N = 40, FRAMES = 100 };
    static collect cs[N];
    rm_session *ss[N];
    for (int i = 0; i < N; i++) {
        pthread_mutex_init(&cs[i].mu, NULL);
        cs[i].n = 0;
        cs[i].order_ok = 1;
        rm_session_opts so = {0};
        so.pool = pool;
        so.on_output = on_out;
        so.output_user = &cs[i];
        CHECK_INT(rm_session_open(g, &so, &ss[i], &e), 0);
    }
    for (int k = 0; k < FRAMES; k++)
        for (int i = 0; i < N; i++) {
            rm_frame *f = num(k);
            CHECK_INT(rm_session_push(ss[i], f), 0);
            rm_frame_unref(f);
        }
    for (int i = 0; i < N; i++) {
        CHECK_INT(rm_session_end(ss[i]), 0);
        CHECK_INT(cs[i].n, FRAMES);
        CHECK(cs[i].order_ok); /* a session's frames stay in order */
        CHECK_NEAR(cs[i].values[FRAMES - 1], 2 * (FRAMES - 1) + 1, 0);
        rm_session_close(ss[i]);
        pthread_mutex_destroy(&cs[i].mu);
    }
    rm_pool_free(pool);
    rm_graph_unref(g);
}

static void test_close_without_end(void)
{
    rm_graph *g = compile(HEAD "nodes: [{id: slow, node_type: Slow}, {id: t, node_type: Tally}]\n"
                               "connections: [{from: slow, to: t}]\n");
    rm_session *s;
    rm_error e;
    CHECK_INT(rm_session_open(g, NULL, &s, &e), 0);
    for (int i = 0; i < 30; i++) {
        rm_frame *f = num(i);
        rm_session_push(s, f);
        rm_frame_unref(f);
    }
    rm_session_close(s); /* must not hang or leak queued frames */
    rm_graph_unref(g);
}

static void test_graph_introspection(void)
{
    rm_graph *g = compile(HEAD "nodes:\n"
                               "  - {id: m, node_type: MultiplyNode, params: {factor: 3}}\n"
                               "  - {id: slow, node_type: Slow}\n"
                               "connections: [{from: m, to: slow}]\n");
    CHECK_STR(rm_graph_name(g), "t");
    CHECK_INT(rm_graph_node_count(g), 2);
    CHECK_INT(rm_graph_node_index(g, "slow"), 1);
    CHECK_INT(rm_graph_node_index(g, "zz"), -1);
    CHECK_STR(rm_graph_node_type(g, 0)->name, "MultiplyNode");
    CHECK_INT(rm_graph_sink_count(g), 1);
    char *dot = rm_graph_to_dot(g);
    CHECK_CONTAINS(dot, "digraph \"t\"");
    CHECK_CONTAINS(dot, "\"m\" [label=\"m\\nMultiplyNode\\nfactor=3\"]");
    CHECK_CONTAINS(dot, "\"m\" -> \"slow\"");
    CHECK_CONTAINS(dot, "queue block");
    free(dot);
    rm_graph_unref(g);
}

int main(void)
{
    rm_error e;
    if (!(rt = check_runtime_new(RM_LOG_ERROR))) return 1;
    rm_runtime_register(rt, &doubler, &e);
    rm_runtime_register(rt, &tally, &e);
    rm_runtime_register(rt, &slow, &e);
    rm_runtime_register(rt, &broken, &e);
    RUN(test_calculator_chain);
    RUN(test_fan_out_shares_the_frame);
    RUN(test_fan_in_and_multi_output);
    RUN(test_end_of_stream_order);
    RUN(test_blocking_node_runs_on_a_worker);
    RUN(test_queue_policies);
    RUN(test_wrong_frame_kind_fails_the_session);
    RUN(test_node_error_names_node);
    RUN(test_state_errors);
    RUN(test_init_failure_cleans_up);
    RUN(test_reset_drops_queued_work);
    RUN(test_runtime_params);
    RUN(test_many_sessions_on_a_pool);
    RUN(test_close_without_end);
    RUN(test_graph_introspection);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
