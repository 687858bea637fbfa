/*
 * rm_session_interrupt(): barge-in stops one node's call in progress and
 * nothing else.  A "Talker" node on its own worker (blocking) keeps talking
 * until rm_node_cancelled() says stop or the test lets it finish; the test
 * interrupts it mid-call and checks that the call ends without failing the
 * session, that later calls and an idle node are not affected, and that the
 * count shows in the metrics.  With and without per-call metrics (two code
 * paths in the runtime).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <jansson.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

static rm_runtime *rt;
static atomic_int in_call; /* the Talker is inside process() */
static atomic_int release; /* the Talker may finish normally */

static void nap(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

static int emit_word(rm_node *node, const char *what, json_int_t v)
{
    rm_frame *f = rm_frame_new_json(json_sprintf("%s:%lld", what, (long long)v));
    if (!f) return RM_ENOMEM;
    return rm_node_emit_take(node, 0, f);
}

/* Talks (polls) until interrupted or released, for at most 20 s. */
static int talker_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state, (void)port;
    json_int_t v = json_integer_value(f->u.json.value);
    if (rm_node_cancelled(node)) return emit_word(node, "cancelled-at-start", v) ? RM_ENOMEM : RM_ECANCELED;
    emit_word(node, "begin", v);
    atomic_store(&in_call, 1);
    for (int i = 0; i < 20000; i++) {
        if (rm_node_cancelled(node)) {
            atomic_store(&in_call, 0);
            emit_word(node, "stopped", v);
            return RM_ECANCELED;
        }
        if (atomic_load(&release)) break;
        nap();
    }
    atomic_store(&in_call, 0);
    return emit_word(node, "done", v);
}

static const rm_node_type talker = {.abi_version = RM_NODE_ABI_VERSION,
                                    .name = "Talker",
                                    .process = talker_process,
                                    .flags = RM_NODE_BLOCKING};

static const char manifest[] = "version: v1\n"
                               "nodes:\n"
                               "  - {id: talk, node_type: Talker}\n"
                               "  - {id: out, node_type: PassThrough}\n"
                               "connections:\n"
                               "  - {from: talk, to: out}\n";

static void push(rm_session *s, int v)
{
    rm_frame *f = rm_frame_new_json(json_integer(v));
    CHECK(f != NULL);
    CHECK_INT(rm_session_push(s, f), 0);
    rm_frame_unref(f);
}

static int wait_in_call(void)
{
    for (int i = 0; i < 20000 && !atomic_load(&in_call); i++) nap();
    return atomic_load(&in_call);
}

static void exercise(unsigned flags)
{
    rm_graph *g = NULL;
    rm_diags *d = rm_diags_new();
    CHECK_INT(rm_graph_load_string(rt, manifest, strlen(manifest), "interrupt.yaml", NULL, &g, d), 0);
    rm_diags_free(d);
    if (!g) return;
    rm_session_opts so = {.flags = flags};
    rm_session *s = NULL;
    rm_error e;
    CHECK_INT(rm_session_open(g, &so, &s, &e), 0);
    if (!s) {
        rm_graph_unref(g);
        return;
    }
    atomic_store(&release, 0);
    /* 1: interrupted in the middle of its call */
    push(s, 1);
    CHECK(wait_in_call());
    CHECK_INT(rm_session_interrupt(s, "talk"), 0);
    /* 2: the next call is not interrupted (it finishes when released) */
    push(s, 2);
    CHECK(wait_in_call());
    atomic_store(&release, 1);
    for (int i = 0; i < 20000 && atomic_load(&in_call); i++) nap();
    /* 3: an interrupt while the node is idle changes nothing */
    CHECK_INT(rm_session_interrupt(s, "talk"), 0);
    CHECK_INT(rm_session_interrupt(s, "out"), 0); /* a node that never polls */
    push(s, 3);
    CHECK_INT(rm_session_interrupt(s, "nobody"), RM_ENOTFOUND);
    CHECK_INT(rm_session_interrupt(s, NULL), RM_ENOTFOUND);
    CHECK_INT(rm_session_end(s), 0); /* not failed */

    const char *want[] = {"begin:1", "stopped:1", "begin:2", "done:2", "begin:3", "done:3"};
    const rm_outputs *o = rm_session_outputs(s);
    CHECK_INT(rm_outputs_count(o), 6);
    for (size_t i = 0; i < 6 && i < rm_outputs_count(o); i++)
        CHECK_STR(json_string_value(rm_outputs_at(o, i)->frame->u.json.value), want[i]);
    char *m = rm_session_metrics_json(s);
    json_t *mj = m ? json_loads(m, 0, NULL) : NULL;
    json_t *st = json_object_get(json_object_get(json_object_get(mj, "node_metrics"), "talk"), "stats");
    if (!(flags & RM_SESSION_NO_METRICS)) CHECK_INT(json_number_value(json_object_get(st, "interrupted")), 1);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(mj, "node_metrics"), "talk"), "errors")), 0);
    json_decref(mj);
    free(m);
    rm_session_close(s);
    rm_graph_unref(g);
}

/* With metrics (the default) and without (RM_SESSION_NO_METRICS): the
 * interrupt works on both call paths (without metrics there are no stats). */
static void test_interrupt_with_metrics(void) { exercise(0); }
static void test_interrupt_without_metrics(void) { exercise(RM_SESSION_NO_METRICS); }

/* A cancelled session still reads as cancelled: an interrupt does not turn
 * rm_session_cancel into a success. */
static void test_cancel_still_fails(void)
{
    rm_graph *g = NULL;
    rm_diags *d = rm_diags_new();
    CHECK_INT(rm_graph_load_string(rt, manifest, strlen(manifest), "interrupt.yaml", NULL, &g, d), 0);
    rm_diags_free(d);
    if (!g) return;
    rm_session *s = NULL;
    rm_error e;
    CHECK_INT(rm_session_open(g, NULL, &s, &e), 0);
    atomic_store(&release, 0);
    push(s, 7);
    CHECK(wait_in_call());
    CHECK_INT(rm_session_interrupt(s, "talk"), 0);
    rm_session_cancel(s);
    CHECK_INT(rm_session_end(s), RM_ECANCELED);
    rm_session_close(s);
    rm_graph_unref(g);
}

int main(void)
{
    rm_error e;
    if (!(rt = check_runtime_new(RM_LOG_ERROR))) return 1;
    CHECK_INT(rm_runtime_register(rt, &talker, &e), 0);
    RUN(test_interrupt_with_metrics);
    RUN(test_interrupt_without_metrics);
    RUN(test_cancel_still_fails);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
