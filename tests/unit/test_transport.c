/* The transport-neutral host layer (remotemedia/transport.h): unary runs,
 * streams, close/cancel, limits, writability. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <jansson.h>

#include "check.h"
#include "remotemedia/transport.h"

static const char calc_yaml[] = "version: v1\n"
                                "metadata: { name: calc }\n"
                                "nodes:\n"
                                "  - { id: multiply, node_type: MultiplyNode, params: { factor: 2 } }\n"
                                "  - { id: add, node_type: AddNode, params: { addend: 10 } }\n"
                                "connections:\n"
                                "  - { from: multiply, to: add }\n";

/* A node that sleeps `ms` per frame and passes it on: a stand-in for a slow
 * model.  The blocking variant runs on its own worker thread. */
typedef struct slow_config {
    int64_t ms;
} slow_config;
static const rm_param_def slow_params[] = {
    {.name = "ms", .type = RM_PARAM_INT, .offset = offsetof(slow_config, ms), .doc = "sleep per frame", .def_num = 50},
    {0},
};
static atomic_int slow_calls;
static int slow_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state;
    (void)port;
    const slow_config *c = rm_node_config(node);
    struct timespec ts = {(time_t)(c->ms / 1000), (long)(c->ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    atomic_fetch_add(&slow_calls, 1);
    return rm_node_emit(node, 0, f);
}
static const rm_node_type slow_type = {
    .abi_version = RM_NODE_ABI_VERSION, .name = "TestSlow", .doc = "sleeps", .family = "test",
    .params = slow_params, .config_size = sizeof(slow_config), .process = slow_process,
};
static const rm_node_type slow_blocking_type = {
    .abi_version = RM_NODE_ABI_VERSION, .name = "TestSlowBlocking", .doc = "sleeps on a worker", .family = "test",
    .params = slow_params, .config_size = sizeof(slow_config), .flags = RM_NODE_BLOCKING, .process = slow_process,
};

static rm_runtime *rt;

static rm_graph *compile(rm_host *h, const char *text)
{
    rm_graph *g = NULL;
    rm_error err;
    rm_error_clear(&err);
    if (rm_host_compile(h, text, strlen(text), "test.yaml", &g, &err, NULL) != 0)
        fprintf(stderr, "compile: %s\n", err.message);
    return g;
}

/* ---------------------------------------------------------------- unary --- */

static void test_unary_calculator(void)
{
    rm_host *h;
    rm_error err;
    CHECK_INT(rm_host_new(rt, NULL, &h, &err), 0);
    rm_graph *g = compile(h, calc_yaml);
    CHECK(g != NULL);
    rm_frame *a = rm_frame_new_json_text("5", 1, NULL, 0), *b = rm_frame_new_json_text("7", 1, NULL, 0);
    rm_host_input in[] = {{"multiply", NULL, a}, {"multiply", NULL, b}};
    rm_host_result *r = NULL;
    CHECK_INT(rm_host_run_graph(h, g, in, 2, &r, &err), 0);
    CHECK(r != NULL);
    CHECK_INT(rm_host_result_sink_count(r), 1);
    CHECK_STR(rm_host_result_sink(r, 0), "add");
    const rm_frame *const *fr;
    CHECK_INT(rm_host_result_frames(r, 0, &fr), 2);
    char *s0 = rm_frame_json_dumps(fr[0]), *s1 = rm_frame_json_dumps(fr[1]);
    CHECK_STR(s0, "20");
    CHECK_STR(s1, "24");
    free(s0);
    free(s1);
    CHECK(rm_host_result_wall_ms(r) > 0);
    CHECK_CONTAINS(rm_host_result_metrics_json(r), "\"node_metrics\"");
    rm_host_result_free(r);

    /* an input naming a node that is not there, before anything runs */
    rm_host_input bad[] = {{"multiply", NULL, a}, {"nope", NULL, b}};
    rm_error_clear(&err);
    CHECK_INT(rm_host_run_graph(h, g, bad, 2, &r, &err), RM_ENOTFOUND);
    CHECK(r == NULL);
    CHECK_STR(err.node_id, "nope");
    CHECK_CONTAINS(err.message, "no node 'nope' in pipeline 'calc' (nodes: multiply, add)");
    rm_host_input badport[] = {{"add", "sidechain", a}};
    CHECK_INT(rm_host_run_graph(h, g, badport, 1, &r, &err), RM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "has no input port 'sidechain'");
    rm_frame_unref(a);
    rm_frame_unref(b);
    rm_graph_unref(g);
    rm_host_free(h);
}

static void test_compile_errors(void)
{
    rm_host *h;
    rm_error err;
    CHECK_INT(rm_host_new(rt, NULL, &h, &err), 0);
    const char *bad = "version: v1\nnodes:\n  - { id: m, node_type: MultiplyNod }\n";
    rm_graph *g = NULL;
    char *all = NULL;
    rm_error_clear(&err);
    CHECK(rm_host_compile(h, bad, strlen(bad), "req.yaml", &g, &err, &all) != 0);
    CHECK(g == NULL);
    CHECK_STR(err.node_id, "m");
    CHECK_CONTAINS(err.message, "req.yaml:3");
    CHECK_CONTAINS(err.message, "MultiplyNode"); /* did you mean */
    CHECK_CONTAINS(all, "MultiplyNod");
    free(all);
    const char *junk = "{ not json";
    CHECK(rm_host_compile(h, junk, strlen(junk), NULL, &g, &err, NULL) != 0);
    CHECK_CONTAINS(err.message, "manifest:1");
    rm_host_free(h);
}

static void run_done(void *user, int rc, rm_host_result *r, const rm_error *err)
{
    (void)err;
    int *out = user;
    const rm_frame *const *fr;
    out[0] = rc;
    out[1] = r ? (int)rm_host_result_frames(r, 0, &fr) : -1;
    rm_host_result_free(r);
}

static void test_unary_async(void)
{
    rm_host *h;
    rm_error err;
    CHECK_INT(rm_host_new(rt, NULL, &h, &err), 0);
    rm_graph *g = compile(h, calc_yaml);
    rm_frame *a = rm_frame_new_json_text("1", 1, NULL, 0);
    char id[] = "multiply";
    rm_host_input in[] = {{id, NULL, a}};
    int out[2] = {1, -2};
    CHECK_INT(rm_host_run_async(h, g, in, 1, run_done, out), 0);
    id[0] = 'X'; /* strings were copied */
    rm_frame_unref(a);
    rm_graph_unref(g);
    rm_host_free(h); /* waits for the run */
    CHECK_INT(out[0], 0);
    CHECK_INT(out[1], 1);
}

/* --------------------------------------------------------------- streams --- */

typedef struct sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int outputs, closed, writable;
    rm_stream_end why;
    uint64_t seqs[64];
    int on_pusher[64]; /* the output ran on the thread that pushed */
    pthread_t pusher;
    char node[32];
    char metrics_has_nodes;
    char errmsg[600];
} sink;

static void sink_init(sink *k)
{
    memset(k, 0, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
}
static void sink_fini(sink *k)
{
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
}
static void on_output(void *user, const char *node_id, const char *port, const rm_frame *f, uint64_t seq)
{
    (void)port;
    (void)f;
    sink *k = user;
    pthread_mutex_lock(&k->mu);
    if (k->outputs < 64) {
        k->seqs[k->outputs] = seq;
        k->on_pusher[k->outputs] = pthread_equal(pthread_self(), k->pusher) != 0;
    }
    k->outputs++;
    snprintf(k->node, sizeof k->node, "%s", node_id);
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}
static void on_writable(void *user)
{
    sink *k = user;
    pthread_mutex_lock(&k->mu);
    k->writable++;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}
static void on_closed(void *user, rm_stream_end why, const rm_error *err, const char *metrics)
{
    sink *k = user;
    pthread_mutex_lock(&k->mu);
    k->closed++;
    k->why = why;
    k->metrics_has_nodes = strstr(metrics, "node_metrics") != NULL;
    if (err) snprintf(k->errmsg, sizeof k->errmsg, "%s", err->message);
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}
/* Waits (no time limit: ctest's timeout catches a hang) until *field >= n. */
static void sink_wait(sink *k, int *field, int n)
{
    pthread_mutex_lock(&k->mu);
    while (*field < n) pthread_cond_wait(&k->cv, &k->mu);
    pthread_mutex_unlock(&k->mu);
}

static rm_stream_callbacks callbacks(sink *k)
{
    rm_stream_callbacks cb = {on_output, on_writable, on_closed, k};
    return cb;
}

static void test_stream_close(void)
{
    rm_host *h;
    rm_error err;
    CHECK_INT(rm_host_new(rt, NULL, &h, &err), 0);
    rm_graph *g = compile(h, calc_yaml);
    sink k;
    sink_init(&k);
    rm_stream_callbacks cb = callbacks(&k);
    rm_stream *st;
    CHECK_INT(rm_stream_open(h, g, "s1", &cb, &st, &err), 0);
    CHECK_STR(rm_stream_id(st), "s1");
    CHECK_INT(rm_host_active_streams(h), 1);
    for (int i = 0; i < 3; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        CHECK(rm_stream_writable(st));
        CHECK_INT(rm_stream_push(st, "multiply", NULL, rm_frame_new_json_text(num, strlen(num), NULL, 0),
                                 (uint64_t)(10 + i), &err), 0);
    }
    /* bad pushes are refused without failing the session */
    CHECK_INT(rm_stream_push(st, "ghost", NULL, rm_frame_new_text("x", 1), 99, &err), RM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "no node 'ghost'");
    CHECK_INT(rm_stream_close(st), 0);
    CHECK_INT(rm_stream_push(st, "multiply", NULL, rm_frame_new_json_text("1", 1, NULL, 0), 13, &err), RM_ESTATE);
    sink_wait(&k, &k.closed, 1);
    CHECK_INT(k.why, RM_STREAM_CLOSED);
    CHECK_INT(k.outputs, 3);
    CHECK_STR(k.node, "add");
    CHECK_INT(k.seqs[0], 10);
    CHECK_INT(k.seqs[1], 11);
    CHECK_INT(k.seqs[2], 12);
    CHECK(k.metrics_has_nodes);
    CHECK_INT(rm_host_active_streams(h), 0);
    rm_stream_free(st);
    rm_graph_unref(g);
    rm_host_free(h);
    sink_fini(&k);
}

static void test_stream_cancel(void)
{
    rm_host *h;
    rm_error err;
    CHECK_INT(rm_host_new(rt, NULL, &h, &err), 0);
    rm_graph *g = compile(h, "version: v1\nnodes:\n  - { id: slow, node_type: TestSlowBlocking, params: { ms: 100 } }\n");
    sink k;
    sink_init(&k);
    rm_stream_callbacks cb = callbacks(&k);
    rm_stream *st;
    CHECK_INT(rm_stream_open(h, g, NULL, &cb, &st, &err), 0);
    atomic_store(&slow_calls, 0);
    for (int i = 0; i < 10; i++)
        CHECK_INT(rm_stream_push(st, "slow", NULL, rm_frame_new_text("x", 1), (uint64_t)i, &err), 0);
    rm_stream_cancel(st);
    /* on_closed ran before cancel returned; nothing is delivered after it */
    pthread_mutex_lock(&k.mu);
    int closed = k.closed, outputs = k.outputs;
    rm_stream_end why = k.why;
    pthread_mutex_unlock(&k.mu);
    CHECK_INT(closed, 1);
    CHECK_INT(why, RM_STREAM_CANCELED);
    CHECK_INT(rm_stream_push(st, "slow", NULL, rm_frame_new_text("x", 1), 11, &err), RM_ESTATE);
    rm_stream_free(st);
    rm_graph_unref(g);
    rm_host_free(h); /* joins the teardown: queued frames were dropped */
    CHECK_INT(k.outputs, outputs);
    CHECK(atomic_load(&slow_calls) < 10);
    CHECK_INT(k.closed, 1);
    sink_fini(&k);
}

/* inline_budget_us: a push into an idle one-segment stream runs on the
 * pushing thread; a stream slow three pushes in a row goes to the pool. */
static void test_inline_push(void)
{
    for (int which = 0; which < 2; which++) {
        /* the fast stream gets a budget no preemption can exceed */
        rm_host_opts o;
        rm_host_opts_init(&o);
        o.inline_budget_us = which ? 1000 : 60000000;
        rm_host *h;
        rm_error err;
        CHECK_INT(rm_host_new(rt, &o, &h, &err), 0);
        static const char slow3[] = "version: v1\nnodes:\n  - { id: slow, node_type: TestSlow, params: { ms: 3 } }\n";
        rm_graph *g = compile(h, which ? slow3 : calc_yaml);
        sink k;
        sink_init(&k);
        k.pusher = pthread_self();
        rm_stream_callbacks cb = callbacks(&k);
        rm_stream *st;
        CHECK_INT(rm_stream_open(h, g, NULL, &cb, &st, &err), 0);
        for (int i = 0; i < 6; i++) {
            sink_wait(&k, &k.outputs, i); /* idle again: the push may run inline */
            CHECK_INT(rm_stream_push(st, which ? "slow" : "multiply", NULL, rm_frame_new_json_text("1", 1, NULL, 0),
                                     (uint64_t)(20 + i), &err),
                      0);
        }
        CHECK_INT(rm_stream_close(st), 0);
        sink_wait(&k, &k.closed, 1);
        CHECK_INT(k.outputs, 6);
        for (int i = 0; i < 6; i++) CHECK_INT(k.seqs[i], 20 + i);
        if (!which) {
            for (int i = 0; i < 6; i++) CHECK(k.on_pusher[i]);
        } else {
            /* three 3 ms pushes over the 1 ms budget, then the pool */
            CHECK(k.on_pusher[0] && k.on_pusher[1] && k.on_pusher[2]);
            CHECK(!k.on_pusher[3] && !k.on_pusher[4] && !k.on_pusher[5]);
        }
        rm_stream_free(st);
        sink_fini(&k);
        rm_graph_unref(g);
        rm_host_free(h);
    }
}

/* rm_host_cancel stops a unary run; fired before the run, it starts cancelled. */
static void test_unary_cancel(void)
{
    rm_host *h;
    rm_error err;
    CHECK_INT(rm_host_new(rt, NULL, &h, &err), 0);
    rm_graph *g = compile(h, calc_yaml);
    rm_frame *f = rm_frame_new_json_text("2", 1, NULL, 0);
    rm_host_input in = {"multiply", NULL, f};
    rm_host_cancel *c = rm_host_cancel_new();
    rm_host_result *r = NULL;
    CHECK_INT(rm_host_run_graph_cancellable(h, g, &in, 1, c, &r, &err), 0);
    CHECK_INT(rm_host_result_sink_count(r), 1);
    rm_host_result_free(r);
    rm_host_cancel_fire(c);
    r = NULL;
    CHECK_INT(rm_host_run_graph_cancellable(h, g, &in, 1, c, &r, &err), RM_ECANCELED);
    CHECK(r != NULL);
    CHECK_INT(rm_host_result_sink_count(r), 0);
    rm_host_result_free(r);
    rm_host_cancel_free(c);
    rm_frame_unref(f);
    rm_graph_unref(g);
    rm_host_free(h);
}

static void test_free_while_closing(void)
{
    rm_host *h;
    rm_error err;
    CHECK_INT(rm_host_new(rt, NULL, &h, &err), 0);
    rm_graph *g = compile(h, "version: v1\nnodes:\n  - { id: slow, node_type: TestSlowBlocking, params: { ms: 20 } }\n");
    sink k;
    sink_init(&k);
    rm_stream_callbacks cb = callbacks(&k);
    rm_stream *st;
    CHECK_INT(rm_stream_open(h, g, NULL, &cb, &st, &err), 0);
    for (int i = 0; i < 5; i++)
        CHECK_INT(rm_stream_push(st, "slow", NULL, rm_frame_new_text("x", 1), (uint64_t)i, &err), 0);
    CHECK_INT(rm_stream_close(st), 0);
    rm_stream_free(st); /* client gone while flushing: no callback after this */
    pthread_mutex_lock(&k.mu);
    int closed = k.closed;
    pthread_mutex_unlock(&k.mu);
    rm_graph_unref(g);
    rm_host_free(h);
    CHECK_INT(k.closed, closed);
    sink_fini(&k);
}

static void test_limits(void)
{
    rm_host *h;
    rm_error err;
    rm_host_opts o;
    rm_host_opts_init(&o);
    o.max_sessions = 1;
    o.max_frame_bytes = 16;
    o.idle_timeout_ms = 50;
    CHECK_INT(rm_host_new(rt, &o, &h, &err), 0);
    rm_graph *g = compile(h, "version: v1\nnodes:\n  - { id: p, node_type: PassThrough }\n");
    sink k1, k2;
    sink_init(&k1);
    sink_init(&k2);
    rm_stream_callbacks cb1 = callbacks(&k1), cb2 = callbacks(&k2);
    rm_stream *a, *b = NULL;
    CHECK_INT(rm_stream_open(h, g, NULL, &cb1, &a, &err), 0);
    CHECK_INT(rm_stream_open(h, g, NULL, &cb2, &b, &err), RM_ELIMIT);
    CHECK(b == NULL);
    CHECK_CONTAINS(err.message, "too many sessions");
    CHECK_INT(rm_stream_push(a, "p", NULL, rm_frame_new_binary(NULL, 17), 0, &err), RM_ELIMIT);
    CHECK_CONTAINS(err.message, "17 bytes, the limit is 16");
    CHECK_INT(rm_stream_push(a, "p", NULL, rm_frame_new_binary(NULL, 16), 1, &err), 0);
    /* no more pushes: the idle timeout closes it */
    sink_wait(&k1, &k1.closed, 1);
    CHECK_INT(k1.why, RM_STREAM_IDLE);
    CHECK_CONTAINS(k1.errmsg, "idle");
    CHECK_INT(k1.outputs, 1);
    /* the slot is free again */
    CHECK_INT(rm_stream_open(h, g, NULL, &cb2, &b, &err), 0);
    rm_host_shutdown_streams(h);
    CHECK_INT(k2.closed, 1);
    CHECK_INT(k2.why, RM_STREAM_SHUTDOWN);
    rm_stream_free(a);
    rm_stream_free(b);
    rm_graph_unref(g);
    rm_host_free(h);
    sink_fini(&k1);
    sink_fini(&k2);
}

static void test_writable(void)
{
    rm_host *h;
    rm_error err;
    rm_host_opts o;
    rm_host_opts_init(&o);
    o.queue_capacity = 4;
    o.pool_threads = 1;
    CHECK_INT(rm_host_new(rt, &o, &h, &err), 0);
    /* a slow node on the pool strand: pushes queue up in front of it */
    rm_graph *g = compile(h, "version: v1\nnodes:\n  - { id: slow, node_type: TestSlow, params: { ms: 20 } }\n");
    sink k;
    sink_init(&k);
    rm_stream_callbacks cb = callbacks(&k);
    rm_stream *st;
    CHECK_INT(rm_stream_open(h, g, NULL, &cb, &st, &err), 0);
    int pushed = 0;
    while (rm_stream_writable(st) && pushed < 100) {
        CHECK_INT(rm_stream_push(st, "slow", NULL, rm_frame_new_text("x", 1), (uint64_t)pushed, &err), 0);
        pushed++;
    }
    CHECK(pushed < 100);
    sink_wait(&k, &k.writable, 1); /* resumes once the queue drained */
    CHECK(rm_stream_writable(st));
    CHECK_INT(rm_stream_close(st), 0);
    sink_wait(&k, &k.closed, 1);
    CHECK_INT(k.outputs, pushed);
    for (int i = 0; i < pushed && i < 64; i++) CHECK_INT(k.seqs[i], i);
    rm_stream_free(st);
    rm_graph_unref(g);
    rm_host_free(h);
    sink_fini(&k);
}

int main(void)
{
    rt = check_runtime_new(RM_LOG_ERROR);
    if (!rt) return 1;
    rm_error err;
    if (rm_runtime_register(rt, &slow_type, &err) != 0 || rm_runtime_register(rt, &slow_blocking_type, &err) != 0) {
        fprintf(stderr, "register: %s\n", err.message);
        return 1;
    }
    RUN(test_unary_calculator);
    RUN(test_compile_errors);
    RUN(test_unary_async);
    RUN(test_stream_close);
    RUN(test_stream_cancel);
    RUN(test_free_while_closing);
    RUN(test_inline_push);
    RUN(test_unary_cancel);
    RUN(test_limits);
    RUN(test_writable);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
