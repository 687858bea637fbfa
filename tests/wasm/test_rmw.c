/* The rmw_* API of remotemedia.wasm (src/wasm/rmw.c), compiled natively so
 * that ASan/LeakSanitizer check its ownership rules: audio buffers handed
 * over by push (kept zero-copy, freed on failure too), outputs taken and not
 * taken, sessions closed with pending outputs, strings returned to JS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/wasm/rmw.h"

static int failures;
#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s (rmw_error: %s)\n", __FILE__, \
                    __LINE__, #c, rmw_error());                                    \
            failures++;                                                            \
        }                                                                          \
    } while (0)

static rm_graph *compile(rm_runtime *rt, const char *text)
{
    return rmw_graph_from_text(rt, text, strlen(text), "t.yaml", 6);
}

/* A host for the external-node tests: instance 7 doubles json numbers,
 * echoes audio into a new buffer (ownership passes on emit), fails on 13
 * with its own message, and fails without one on -1. */
static int fini_calls, init_calls;
static int test_host(int host_type, int instance, int op, rm_node *node, const rmw_output *frame, const char *text,
                     size_t len)
{
    (void)host_type;
    if (op == RMW_HOST_INIT) {
        init_calls++;
        if (len && strstr(text, "\"refuse\"")) return rmw_node_fail(node, RM_EPARAM, "refused", 7);
        return 7;
    }
    if (op == RMW_HOST_FINI) {
        fini_calls += instance == 7;
        return 0;
    }
    if (op != RMW_HOST_PROCESS) return 0;
    if (rmw_output_kind(frame) == RM_FRAME_AUDIO) {
        size_t n = rmw_output_audio_frames(frame) * rmw_output_audio_channels(frame) * sizeof(float);
        void *copy = rmw_alloc(n);
        memcpy(copy, rmw_output_audio_data(frame), n);
        return rmw_node_emit_audio(node, RM_SAMPLE_F32, rmw_output_audio_rate(frame),
                                   rmw_output_audio_channels(frame), copy, rmw_output_audio_frames(frame),
                                   rmw_output_timestamp_us(frame));
    }
    char *t = rmw_output_text(frame);
    double v = t ? atof(t) : 0;
    rmw_free(t);
    if (v == 13) return rmw_node_fail(node, RM_ENODE, "unlucky", 7);
    if (v == -1) return RM_EINVAL;
    char out[64];
    int n = snprintf(out, sizeof out, "%g", v * 2);
    return rmw_node_emit_json(node, out, (size_t)n, -1);
}

static void test_external(void)
{
    rmw_set_host(test_host);
    rm_runtime *rt = rmw_runtime_new();
    CHECK(rmw_register_external(rt, "Twice", 5, "doubles", 7, 0) == 0);
    CHECK(rmw_register_external(rt, "Twice", 5, "again", 5, 1) != 0); /* the name is taken */
    CHECK(rmw_register_external(rt, "AddNode", 7, "clash", 5, 1) != 0);
    rm_graph *g = compile(rt, "version: v1\nnodes:\n  - {id: t, node_type: Twice, params: {k: 1}}\n"
                              "  - {id: a, node_type: AddNode, params: {addend: 1}}\n"
                              "connections:\n  - {from: t, to: a}\n");
    CHECK(g != NULL);
    rmw_session *s = g ? rmw_session_open(g) : NULL;
    CHECK(s != NULL && init_calls == 1);
    if (s) {
        CHECK(rmw_session_push_json(s, NULL, 0, "20", 2) == 0);
        rmw_output *o = rmw_output_take(s, "a", 1, NULL, 0);
        char *t = o ? rmw_output_text(o) : NULL;
        CHECK(t && !strcmp(t, "41"));
        rmw_free(t);
        rmw_output_free(o);
        CHECK(rmw_session_push_json(s, NULL, 0, "13", 2) == RM_ENODE);
        CHECK(strstr(rmw_error(), "node 't': unlucky") != NULL);
        rmw_session_close(s);
    }
    s = g ? rmw_session_open(g) : NULL;
    if (s) { /* a failure without a message still names the node and the call */
        CHECK(rmw_session_push_json(s, NULL, 0, "-1", 2) != 0);
        CHECK(strstr(rmw_error(), "node 't': external node Twice failed in process (RM_EINVAL)") != NULL);
        rmw_session_close(s);
    }
    rmw_graph_free(g);
    CHECK(fini_calls == 2);
    g = compile(rt, "version: v1\nnodes:\n  - {id: t, node_type: Twice}\n  - {id: m, node_type: Gain, params: {gain: 1.0}}\n"
                    "connections:\n  - {from: t, to: m}\n");
    s = g ? rmw_session_open(g) : NULL;
    CHECK(s != NULL);
    if (s) { /* audio in as a view, out in a buffer whose ownership passed */
        float *buf = rmw_alloc(4 * sizeof(float));
        for (int i = 0; i < 4; i++) buf[i] = 0.25f * (float)i;
        CHECK(rmw_session_push_audio(s, NULL, 0, RM_SAMPLE_F32, 16000, 1, buf, 4, 0) == 0);
        rmw_output *o = rmw_output_take(s, "m", 1, NULL, 0);
        CHECK(o && rmw_output_audio_frames(o) == 4 && ((float *)rmw_output_audio_data(o))[3] == 0.75f);
        rmw_output_free(o);
        rmw_session_close(s);
    }
    rmw_graph_free(g);
    g = compile(rt, "version: v1\nnodes:\n  - {id: t, node_type: Twice, params: {mode: refuse}}\n");
    CHECK(g && !rmw_session_open(g) && strstr(rmw_error(), "failed to initialise: refused"));
    rmw_graph_free(g);
    rmw_runtime_free(rt); /* frees the external descriptors too (LeakSanitizer) */
    rmw_set_host(NULL);
}

/* rmw_session_drain: every waiting output in one table (JSON dumped, text
 * and audio in place), kept until the next drain or close; the table grows
 * past its first 8 descriptors. */
static void test_drain(rm_runtime *rt)
{
    rm_graph *g = compile(rt, "version: v1\nnodes:\n  - id: m\n    node_type: MultiplyNode\n    params: {factor: 3}\n"
                              "  - id: p\n    node_type: PassThrough\n");
    CHECK(g != NULL);
    rmw_session *ss = rmw_session_open(g);
    CHECK(ss != NULL);
    const rmw_out_table *t = rmw_session_drain(ss);
    CHECK(t && t->count == 0);
    for (int i = 0; i < 12; i++) CHECK(rmw_session_push_json(ss, "m", 1, "[1, 2]", 6) == 0);
    CHECK(rmw_session_push_text(ss, "p", 1, "hé", 3) == 0);
    float *buf = rmw_alloc(6 * sizeof *buf);
    for (int i = 0; i < 6; i++) buf[i] = (float)i;
    CHECK(rmw_session_push_audio(ss, "p", 1, RM_SAMPLE_F32, 48000, 3, buf, 2, 20000.0) == 0);
    t = rmw_session_drain(ss);
    CHECK(t && t->count == 14);
    if (t && t->count == 14) {
        const rmw_out_desc *d = &t->item[11];
        CHECK(d->kind == RM_FRAME_JSON && !strcmp(d->node, "m") && !strcmp(d->port, "out"));
        CHECK(d->size == 5 && !memcmp(d->data, "[3,6]", 5) && d->timestamp_us == -1.0);
        d = &t->item[12];
        CHECK(d->kind == RM_FRAME_TEXT && !strcmp(d->node, "p") && d->size == 3 && !memcmp(d->data, "hé", 3));
        d = &t->item[13];
        CHECK(d->kind == RM_FRAME_AUDIO && d->data == buf && d->size == 2 && d->channels == 3);
        CHECK(d->rate == 48000 && d->format == RM_SAMPLE_F32 && d->timestamp_us == 20000.0);
    }
    CHECK(rmw_output_count(ss, NULL, 0, NULL, 0) == 0); /* all taken */
    t = rmw_session_drain(ss); /* frees the previous outputs (LeakSanitizer) */
    CHECK(t && t->count == 0);
    CHECK(rmw_session_push_json(ss, "m", 1, "2", 1) == 0);
    t = rmw_session_drain(ss);
    CHECK(t && t->count == 1);
    rmw_session_close(ss); /* with drained outputs still held */
    rmw_graph_free(g);
}

int main(void)
{
    test_external();
    rm_runtime *rt = rmw_runtime_new();
    CHECK(rt != NULL);

    /* diagnostics: located, one per line, as rmedia validate */
    rm_graph *bad = compile(rt, "version: v1\nnodes:\n  - id: m\n    node_type: MultiplyNod\n");
    CHECK(bad == NULL);
    CHECK(strstr(rmw_error(), "t.yaml:4:16: error: node 'm': unknown node type 'MultiplyNod'") != NULL);

    char *s = rmw_nodes_json(rt);
    CHECK(s && strstr(s, "\"MultiplyNode\""));
    rmw_free(s);
    s = rmw_schema_json(rt);
    CHECK(s != NULL);
    rmw_free(s);
    s = rmw_inspect_json(rt, "AddNodeX", 7); /* length, not NUL, ends the name */
    CHECK(s && strstr(s, "\"AddNode\""));
    rmw_free(s);
    CHECK(rmw_inspect_json(rt, "Nope", 4) == NULL);
    CHECK(strstr(rmw_error(), "unknown node type 'Nope'") != NULL);

    /* JSON through the calculator; outputs pulled by sink and port */
    rm_graph *g = compile(rt, "version: v1\nnodes:\n  - id: m\n    node_type: MultiplyNode\n    params: {factor: 2}\n"
                              "  - id: a\n    node_type: AddNode\n    params: {addend: 10}\n"
                              "connections:\n  - {from: m, to: a}\n");
    CHECK(g != NULL);
    s = rmw_graph_summary(g);
    CHECK(s && strstr(s, "\"sinks\":[\"a\"]"));
    rmw_free(s);
    rmw_session *ss = rmw_session_open(g);
    CHECK(ss != NULL);
    CHECK(rmw_session_push_json(ss, NULL, 0, "5", 1) == 0);
    CHECK(rmw_session_push_json(ss, NULL, 0, "7", 1) == 0);
    CHECK(rmw_session_push_json(ss, NULL, 0, "[1,", 3) == RM_EPARSE);
    CHECK(rmw_output_count(ss, "a", 1, "out", 3) == 2);
    CHECK(rmw_output_count(ss, "m", 1, NULL, 0) == 0);
    rmw_output *o = rmw_output_take(ss, "a", 1, NULL, 0);
    CHECK(o && rmw_output_kind(o) == RM_FRAME_JSON);
    s = o ? rmw_output_text(o) : NULL;
    CHECK(s && !strcmp(s, "20"));
    rmw_free(s);
    rmw_output_free(o);
    CHECK(rmw_session_flush(ss) == 0);
    CHECK(rmw_session_push_json(ss, NULL, 0, "1", 1) != 0); /* after end of stream */
    s = rmw_metrics_json(ss);
    CHECK(s && strstr(s, "node_metrics"));
    rmw_free(s);
    rmw_session_close(ss); /* one output ("24") never taken */
    rmw_graph_free(g);

    /* audio: the pushed buffer becomes the frame (zero copy) */
    g = compile(rt, "version: v1\nnodes:\n  - id: p\n    node_type: PassThrough\n");
    CHECK(g != NULL);
    ss = rmw_session_open(g);
    float *buf = rmw_alloc(4 * sizeof *buf);
    for (int i = 0; i < 4; i++) buf[i] = 0.25f * (float)i;
    CHECK(rmw_session_push_audio(ss, NULL, 0, RM_SAMPLE_F32, 16000, 2, buf, 2, 1000.0) == 0);
    o = rmw_output_take(ss, NULL, 0, NULL, 0);
    CHECK(o && rmw_output_kind(o) == RM_FRAME_AUDIO);
    CHECK(o && rmw_output_audio_data(o) == (void *)buf);
    CHECK(o && rmw_output_audio_frames(o) == 2 && rmw_output_audio_channels(o) == 2);
    CHECK(o && rmw_output_audio_rate(o) == 16000 && rmw_output_audio_format(o) == RM_SAMPLE_F32);
    CHECK(o && rmw_output_timestamp_us(o) == 1000.0);
    rmw_output_free(o);
    /* an invalid frame: the buffer is freed all the same (LeakSanitizer) */
    CHECK(rmw_session_push_audio(ss, NULL, 0, RM_SAMPLE_F32, 0, 1, rmw_alloc(16), 4, -1) == RM_EINVAL);
    CHECK(rmw_session_push_audio(ss, "nope", 4, RM_SAMPLE_S16, 8000, 1, rmw_alloc(8), 4, -1) != 0);
    /* cancel drops outputs not taken */
    CHECK(rmw_session_push_audio(ss, NULL, 0, RM_SAMPLE_S16, 8000, 1, rmw_alloc(8), 4, -1) == 0);
    CHECK(rmw_output_count(ss, NULL, 0, NULL, 0) == 1);
    CHECK(rmw_session_cancel(ss) == 0);
    CHECK(rmw_output_count(ss, NULL, 0, NULL, 0) == 0);
    CHECK(rmw_session_push_audio(ss, NULL, 0, RM_SAMPLE_S16, 8000, 1, rmw_alloc(8), 4, -1) == 0);
    rmw_session_close(ss);
    rmw_graph_free(g);

    test_drain(rt);
    rmw_runtime_free(rt);
    if (failures) fprintf(stderr, "test_rmw: %d failure(s)\n", failures);
    else printf("test_rmw: ok\n");
    return failures ? 1 : 0;
}
