/* Error policies: fail, skip, retry with backoff, circuit breaker. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <time.h>

#include <jansson.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

static rm_runtime *rt;

/* Flaky: fails while a shared counter of failures to produce is positive;
 * on success emits the frame twice (to check that emits of failed attempts
 * never leak out and successful ones arrive exactly once). */
static int failures_left;
static int flaky_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state, (void)port;
    rm_node_emit(node, 0, f); /* emitted before failing: must be discarded */
    if (failures_left > 0) {
        failures_left--;
        return rm_node_fail(node, RM_ENODE, "backend unavailable");
    }
    return rm_node_emit(node, 0, f);
}

/* Picky: fails on negative numbers, passes the others. */
static int picky_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state, (void)port;
    if (json_number_value(f->u.json.value) < 0) return rm_node_fail(node, RM_ENODE, "negative input");
    return rm_node_emit(node, 0, f);
}

static const rm_node_type flaky = {.abi_version = RM_NODE_ABI_VERSION, .name = "Flaky", .process = flaky_process};
static const rm_node_type picky = {.abi_version = RM_NODE_ABI_VERSION, .name = "Picky", .process = picky_process};

static rm_session *open_session(const char *yaml, rm_graph **g)
{
    rm_diags *d = rm_diags_new();
    int rc = rm_graph_load_string(rt, yaml, strlen(yaml), "r.yaml", NULL, g, d);
    if (rc) {
        char *s = rm_diags_to_string(d);
        fprintf(stderr, "%s", s);
        free(s);
    }
    rm_diags_free(d);
    rm_session *s = NULL;
    rm_error e;
    if (rc == 0) rm_session_open(*g, NULL, &s, &e);
    return s;
}

static int push_num(rm_session *s, double x)
{
    rm_frame *f = rm_frame_new_json(json_real(x));
    int rc = rm_session_push(s, f);
    rm_frame_unref(f);
    return rc;
}

static json_t *node_metrics(rm_session *s, const char *id)
{
    char *m = rm_session_metrics_json(s);
    json_t *mj = json_loads(m, 0, NULL);
    free(m);
    json_t *nm = json_incref(json_object_get(json_object_get(mj, "node_metrics"), id));
    json_decref(mj);
    return nm;
}

#define HEAD "version: v1\nmetadata: {name: r}\n"

static void test_fail_is_the_default(void)
{
    rm_graph *g;
    rm_session *s = open_session(HEAD "nodes: [{id: p, node_type: Picky}]\n", &g);
    CHECK_INT(push_num(s, 1), 0);
    CHECK_INT(push_num(s, -1), RM_ENODE);
    CHECK_INT(push_num(s, 2), RM_ENODE); /* the session has failed */
    CHECK_STR(rm_session_error(s)->message, "negative input");
    CHECK_INT(rm_session_end(s), RM_ENODE);
    CHECK_INT(rm_outputs_count(rm_session_outputs(s)), 1);
    rm_session_close(s);
    rm_graph_unref(g);
}

static void test_skip(void)
{
    rm_graph *g;
    rm_session *s = open_session(HEAD "nodes: [{id: p, node_type: Picky, on_error: skip}]\n", &g);
    CHECK_INT(push_num(s, 1), 0);
    CHECK_INT(push_num(s, -1), 0);
    CHECK_INT(push_num(s, -2), 0);
    CHECK_INT(push_num(s, 3), 0);
    CHECK_INT(rm_session_end(s), 0);
    CHECK_INT(rm_outputs_count(rm_session_outputs(s)), 2);
    json_t *nm = node_metrics(s, "p");
    CHECK_INT(json_integer_value(json_object_get(nm, "errors")), 2);
    CHECK_INT(json_integer_value(json_object_get(nm, "frames_in")), 4);
    json_decref(nm);
    rm_session_close(s);
    rm_graph_unref(g);
}

static void test_retry_succeeds_exactly_once(void)
{
    rm_graph *g;
    rm_session *s = open_session(HEAD "nodes: [{id: f, node_type: Flaky, on_error: {policy: retry, max_retries: 3, "
                                      "base_delay_ms: 1, max_delay_ms: 4}}]\n",
                                 &g);
    failures_left = 2;
    CHECK_INT(push_num(s, 7), 0);
    CHECK_INT(rm_session_end(s), 0);
    /* two emits of the successful third attempt; none of the failed ones */
    CHECK_INT(rm_outputs_count(rm_session_outputs(s)), 2);
    json_t *nm = node_metrics(s, "f");
    CHECK_INT(json_integer_value(json_object_get(nm, "retries")), 2);
    CHECK_INT(json_integer_value(json_object_get(nm, "errors")), 0);
    CHECK_INT(json_integer_value(json_object_get(nm, "calls")), 3);
    CHECK_STR(json_string_value(json_object_get(nm, "circuit")), "closed");
    json_decref(nm);
    rm_session_close(s);
    rm_graph_unref(g);
}

static void test_retries_exhausted_drop_the_frame(void)
{
    rm_graph *g;
    rm_session *s = open_session(HEAD "nodes: [{id: f, node_type: Flaky, on_error: {policy: retry, max_retries: 2, "
                                      "base_delay_ms: 1, max_delay_ms: 2}}]\n",
                                 &g);
    failures_left = 3; /* one call + two retries all fail */
    CHECK_INT(push_num(s, 1), 0);
    CHECK_INT(push_num(s, 2), 0); /* the next frame goes through */
    CHECK_INT(rm_session_end(s), 0);
    CHECK_INT(rm_outputs_count(rm_session_outputs(s)), 2);
    json_t *nm = node_metrics(s, "f");
    CHECK_INT(json_integer_value(json_object_get(nm, "errors")), 1);
    CHECK_INT(json_integer_value(json_object_get(nm, "retries")), 2);
    json_decref(nm);
    rm_session_close(s);
    rm_graph_unref(g);
}

static void test_circuit_breaker(void)
{
    rm_graph *g;
    rm_session *s = open_session(HEAD "nodes: [{id: f, node_type: Flaky, on_error: {policy: retry, max_retries: 0, "
                                      "base_delay_ms: 0, circuit_breaker: {failure_threshold: 5, "
                                      "reset_timeout_ms: 30, success_threshold: 2}}}]\n",
                                 &g);
    failures_left = 1000;
    for (int i = 0; i < 5; i++) CHECK_INT(push_num(s, i), 0);
    json_t *nm = node_metrics(s, "f");
    CHECK_STR(json_string_value(json_object_get(nm, "circuit")), "open");
    CHECK_INT(json_integer_value(json_object_get(nm, "calls")), 5);
    json_decref(nm);
    /* while open, frames are rejected without calling the node */
    for (int i = 0; i < 10; i++) CHECK_INT(push_num(s, i), 0);
    nm = node_metrics(s, "f");
    CHECK_INT(json_integer_value(json_object_get(nm, "calls")), 5);
    CHECK_INT(json_integer_value(json_object_get(nm, "rejected")), 10);
    json_decref(nm);
    /* after the reset timeout one trial call is let through (half-open);
     * two successes close the breaker */
    struct timespec ts = {0, 60 * 1000000};
    nanosleep(&ts, NULL);
    failures_left = 0;
    CHECK_INT(push_num(s, 1), 0);
    nm = node_metrics(s, "f");
    CHECK_STR(json_string_value(json_object_get(nm, "circuit")), "half_open");
    json_decref(nm);
    CHECK_INT(push_num(s, 2), 0);
    nm = node_metrics(s, "f");
    CHECK_STR(json_string_value(json_object_get(nm, "circuit")), "closed");
    json_decref(nm);
    /* a failure while half-open opens it again */
    for (int i = 0; i < 5; i++) {
        failures_left = 1;
        push_num(s, i);
    }
    nanosleep(&ts, NULL);
    failures_left = 1;
    push_num(s, 0); /* half-open trial fails */
    nm = node_metrics(s, "f");
    CHECK_STR(json_string_value(json_object_get(nm, "circuit")), "open");
    json_decref(nm);
    CHECK_INT(rm_session_end(s), 0);
    rm_session_close(s);
    rm_graph_unref(g);
}

static void test_wrong_kind_with_skip(void)
{
    rm_graph *g;
    rm_session *s = open_session(HEAD "nodes: [{id: c, node_type: CalculatorNode, on_error: skip}]\n", &g);
    rm_frame *t = rm_frame_new_text("x", 1);
    CHECK_INT(rm_session_push(s, t), 0);
    rm_frame_unref(t);
    CHECK_INT(rm_session_end(s), 0);
    json_t *nm = node_metrics(s, "c");
    CHECK_INT(json_integer_value(json_object_get(nm, "errors")), 1);
    json_decref(nm);
    rm_session_close(s);
    rm_graph_unref(g);
}

/* remotemedia/breaker.h, the breaker above, driven by hand with fake times */
static void test_breaker_api(void)
{
    rm_breaker b;
    rm_breaker_init(&b, 3, 1000, 2);
    CHECK_INT(b.state, RM_BREAKER_CLOSED);
    CHECK_INT(rm_breaker_allow(&b, 0), 1);
    CHECK_INT(rm_breaker_record(&b, 0, 10), -1);
    CHECK_INT(rm_breaker_record(&b, 0, 20), -1);
    CHECK_INT(rm_breaker_record(&b, 1, 30), -1); /* a success resets the count */
    CHECK_INT(rm_breaker_record(&b, 0, 40), -1);
    CHECK_INT(rm_breaker_record(&b, 0, 50), -1);
    CHECK_INT(rm_breaker_record(&b, 0, 60), RM_BREAKER_OPEN);
    CHECK_INT(rm_breaker_allow(&b, 1059), 0); /* open until the reset time */
    CHECK_INT(rm_breaker_allow(&b, 1060), 1);
    CHECK_INT(b.state, RM_BREAKER_HALF_OPEN);
    CHECK_INT(rm_breaker_record(&b, 1, 1070), -1);
    CHECK_INT(rm_breaker_record(&b, 1, 1080), RM_BREAKER_CLOSED); /* success_threshold 2 */
    /* a failure while half-open opens it again at once */
    for (int i = 0; i < 3; i++) rm_breaker_record(&b, 0, 2000);
    CHECK_INT(rm_breaker_allow(&b, 3000), 1);
    CHECK_INT(rm_breaker_record(&b, 0, 3001), RM_BREAKER_OPEN);
    CHECK_INT(rm_breaker_allow(&b, 3500), 0);
    CHECK_STR(rm_breaker_state_name(RM_BREAKER_HALF_OPEN), "half_open");
    CHECK_STR(rm_breaker_state_name((rm_breaker_state)7), "unknown");
    /* threshold 0: never opens */
    rm_breaker_init(&b, 0, 1000, 0);
    for (int i = 0; i < 100; i++) CHECK_INT(rm_breaker_record(&b, 0, (uint64_t)i), -1);
    CHECK_INT(rm_breaker_allow(&b, 100), 1);
    CHECK(rm_breaker_now_ns() > 0);
}

int main(void)
{
    rm_error e;
    if (!(rt = check_runtime_new(RM_LOG_ERROR))) return 1;
    rm_runtime_register(rt, &flaky, &e);
    rm_runtime_register(rt, &picky, &e);
    RUN(test_fail_is_the_default);
    RUN(test_skip);
    RUN(test_retry_succeeds_exactly_once);
    RUN(test_retries_exhausted_drop_the_frame);
    RUN(test_circuit_breaker);
    RUN(test_wrong_kind_with_skip);
    RUN(test_breaker_api);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
