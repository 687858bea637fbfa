/*
 * rm_session_reset() on sessions with worker threads and pool strands.
 *
 * Regression: reset computed how many acknowledgements to wait for only after
 * queueing the RESET items, so a worker that acknowledged quickly (an idle
 * worker usually does) was not counted and reset waited forever.  Each case
 * resets many times; with the bug the test hangs and ctest's timeout fails it.
 */
#include <stdlib.h>

#include <jansson.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

/* a → b crosses a queue (worker thread); a → c → d stays inline, and b → d
 * is fan-in from the worker segment. */
static const char manifest[] =
    "version: v1\n"
    "nodes:\n"
    "  - {id: a, node_type: PassThrough}\n"
    "  - {id: b, node_type: PassThrough}\n"
    "  - {id: c, node_type: PassThrough}\n"
    "  - {id: d, node_type: PassThrough}\n"
    "connections:\n"
    "  - {from: a, to: b, queue: {policy: block, capacity: 4}}\n"
    "  - {from: a, to: c}\n"
    "  - {from: b, to: d}\n"
    "  - {from: c, to: d}\n";

static rm_runtime *rt;
static rm_graph *graph;

static rm_frame *number(int v)
{
    rm_frame *f = rm_frame_new_json(json_integer(v));
    CHECK(f != NULL);
    return f;
}

/* Resets `s` many times, idle and with frames in flight, then checks that
 * frames pushed after the last reset all arrive, in order per path. */
static void exercise(rm_session *s)
{
    for (int i = 0; i < 300; i++) CHECK_INT(rm_session_reset(s), 0); /* workers idle */
    for (int i = 0; i < 100; i++) {
        rm_frame *f = number(i);
        CHECK_INT(rm_session_push(s, f), 0);
        rm_frame_unref(f);
        if (i % 3 == 0) CHECK_INT(rm_session_reset(s), 0); /* frames in flight */
    }
    CHECK_INT(rm_session_reset(s), 0);
    size_t before = rm_outputs_count(rm_session_outputs(s));
    for (int i = 0; i < 20; i++) {
        rm_frame *f = number(1000 + i);
        CHECK_INT(rm_session_push(s, f), 0);
        rm_frame_unref(f);
    }
    CHECK_INT(rm_session_end(s), 0);
    const rm_outputs *o = rm_session_outputs(s);
    /* Nothing queued before the last reset is emitted after it returns;
     * each of the 20 later frames reaches d twice (via b and via c). */
    CHECK_INT(rm_outputs_count(o), before + 40);
    int times[20] = {0};
    for (size_t i = before; i < rm_outputs_count(o); i++) {
        const rm_output *out = rm_outputs_at(o, i);
        CHECK_STR(out->node_id, "d");
        json_int_t v = json_integer_value(out->frame->u.json.value);
        CHECK(v >= 1000 && v < 1020);
        if (v >= 1000 && v < 1020) times[v - 1000]++;
    }
    for (int i = 0; i < 20; i++) CHECK_INT(times[i], 2);
}

static void test_reset_with_worker_thread(void)
{
    rm_session *s;
    rm_error err = {0};
    CHECK_INT(rm_session_open(graph, NULL, &s, &err), 0);
    exercise(s);
    rm_session_close(s);
}

static void test_reset_on_pool(void)
{
    rm_pool *pool;
    rm_error err = {0};
    CHECK_INT(rm_pool_new(2, &pool, &err), 0);
    rm_session_opts o = {0};
    o.pool = pool;
    rm_session *s;
    CHECK_INT(rm_session_open(graph, &o, &s, &err), 0);
    exercise(s);
    rm_session_close(s);
    rm_pool_free(pool);
}

int main(void)
{
    if (!(rt = check_runtime_new(RM_LOG_WARN))) return 1;
    rm_diags *d = rm_diags_new();
    if (rm_graph_load_string(rt, manifest, sizeof manifest - 1, "reset.yaml", NULL, &graph, d) != 0) {
        char *msg = rm_diags_to_string(d);
        fprintf(stderr, "%s", msg ? msg : "compile failed\n");
        free(msg);
        return 1;
    }
    rm_diags_free(d);
    RUN(test_reset_with_worker_thread);
    RUN(test_reset_on_pool);
    rm_graph_unref(graph);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
