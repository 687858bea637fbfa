/*
 * `rmedia serve`: remotemedia.v1 PipelineExecutionService and
 * StreamingPipelineService, plus grpc.health.v1.Health, on the gRPC core C
 * API.
 *
 * Threads:
 *  - one completion-queue thread runs every tag below; it never waits on a
 *    session: unary runs, manifest compiles and session opens go to the host's
 *    control threads, pushes are queued for the host's pool (and refused
 *    reading further input while a stream is not writable) — except that a
 *    chunk for an idle one-segment stream runs right here, encoded and sent
 *    from this thread (no wake of a pool thread and back: RMG_INLINE_BUDGET_US);
 *  - pool/worker threads deliver outputs (on_output) and encode + send them
 *    directly (grpc_call_start_batch is thread-safe under the call's mutex);
 *  - control threads finish unary calls and open/close streams.
 * Each stream call has one mutex guarding its send queue and flags; host
 * calls that may run callbacks (rm_stream_cancel/free) are made without it.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "../common/memstats.h"
#include "rm_grpc.h"
#include "rmg_internal.h"

/* A stream whose chunks took longer than this on the CQ thread three times in
 * a row goes to the pool: a slow session delays the others a few times only.
 * A 20 ms chunk through resample + VAD takes ~30 µs, a PassThrough echo ~2 µs. */
#define RMG_INLINE_BUDGET_US 1000u

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

typedef struct tag {
    void (*fn)(struct tag *t, int ok);
} tag;

typedef struct server server;

static volatile sig_atomic_t g_signal;
static void on_signal(int sig) { g_signal = sig; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ server --- */

typedef struct method_slot {
    server *srv;
    int method;
    void *handle; /* registered method */
    tag req;
    struct ucall *pending;
} method_slot;

struct server {
    const rmg_config *cfg;
    rm_runtime *rt;
    rm_host *host;
    rmg_prom *prom;
    grpc_server *gs;
    grpc_completion_queue *cq;
    method_slot slots[RMG_M_COUNT];
    tag shutdown_tag;
    int shutting_down, shutdown_done;
    pthread_mutex_t mu; /* calls count, log */
    size_t calls;       /* calls accepted and not yet finished */
    struct wcall *watches; /* CQ thread only */
};

static void call_started(server *s)
{
    pthread_mutex_lock(&s->mu);
    s->calls++;
    pthread_mutex_unlock(&s->mu);
}

static void call_finished(server *s)
{
    pthread_mutex_lock(&s->mu);
    s->calls--;
    pthread_mutex_unlock(&s->mu);
}

static size_t calls_open(server *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->calls;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static const char *status_name(grpc_status_code c)
{
    static const char *const n[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                    "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
    return (int)c >= 0 && (int)c <= 16 ? n[c] : "UNKNOWN";
}

/* One log line per request. */
static void log_request(server *s, int method, grpc_call *call, grpc_status_code code, double secs,
                        const char *session, uint64_t chunks, const char *error)
{
    char *peer = call ? grpc_call_get_peer(call) : NULL;
    const char *m = rmg_method_name(method);
    const char *short_m = strrchr(m, '/') ? strrchr(m, '/') + 1 : m;
    pthread_mutex_lock(&s->mu);
    if (s->cfg->log_json) {
        json_t *o = json_object();
        char ts[40];
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + strlen(ts), sizeof ts - strlen(ts), ".%03ldZ", now.tv_nsec / 1000000L);
        json_object_set_new(o, "time", json_string(ts));
        json_object_set_new(o, "method", json_string(m));
        json_object_set_new(o, "status", json_string(status_name(code)));
        json_object_set_new(o, "code", json_integer(code));
        json_object_set_new(o, "duration_ms", json_real(secs * 1000.0));
        if (peer) json_object_set_new(o, "peer", json_string(peer));
        if (session) json_object_set_new(o, "session_id", json_string(session));
        if (method == RMG_M_STREAM) json_object_set_new(o, "chunks", json_integer((json_int_t)chunks));
        if (error && *error) json_object_set_new(o, "error", json_string(error));
        char *line = json_dumps(o, JSON_COMPACT);
        if (line) fprintf(stderr, "%s\n", line);
        free(line);
        json_decref(o);
    } else {
        fprintf(stderr, "rmedia serve: %s %s %.3f ms peer=%s", short_m, status_name(code), secs * 1000.0,
                peer ? peer : "?");
        if (session) fprintf(stderr, " session=%s chunks=%llu", session, (unsigned long long)chunks);
        if (error && *error) fprintf(stderr, " error=\"%s\"", error);
        fputc('\n', stderr);
    }
    pthread_mutex_unlock(&s->mu);
    if (peer) gpr_free(peer);
    rmg_prom_request(s->prom, method, code, secs);
}

/* Bearer token check; 1 = allowed.  Unknown metadata is ignored. */
static int authorized(server *s, const grpc_metadata_array *md)
{
    if (s->cfg->n_tokens == 0) return 1;
    for (size_t i = 0; i < md->count; i++) {
        if (grpc_slice_str_cmp(md->metadata[i].key, "authorization") != 0) continue;
        const char *v = (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value);
        size_t len = GRPC_SLICE_LENGTH(md->metadata[i].value);
        if (len < 7 || strncasecmp(v, "Bearer ", 7) != 0) continue;
        v += 7;
        len -= 7;
        for (size_t t = 0; t < s->cfg->n_tokens; t++) {
            const char *tok = s->cfg->tokens[t];
            size_t tl = strlen(tok);
            unsigned diff = (unsigned)(tl != len);
            for (size_t k = 0; k < len && k < tl; k++) diff |= (unsigned)(v[k] ^ tok[k]);
            if (!diff) return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ unary calls --- */

typedef struct ucall {
    server *srv;
    int method;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    tag done_tag, close_tag;
    int cancelled, close_started;
    atomic_int refs; /* done_tag, and close_tag once started */
    rm_host_cancel *cancel; /* ExecutePipeline: fired when the client goes away */
    grpc_byte_buffer *reply;
    grpc_slice details;
    double t0;
    char error[256];
    char load[24];          /* health Check: active streams, sent as initial metadata */
    grpc_metadata load_md;
    /* ExecutePipeline work */
    rmg_msg *req;
    char *manifest;
    rm_graph *graph;
} ucall;

static void ucall_free(ucall *u)
{
    if (u->payload) grpc_byte_buffer_destroy(u->payload);
    if (u->reply) grpc_byte_buffer_destroy(u->reply);
    grpc_slice_unref(u->details);
    grpc_metadata_array_destroy(&u->md);
    if (u->call) grpc_call_unref(u->call);
    rmg_msg_unref(u->req);
    free(u->manifest);
    rm_graph_unref(u->graph);
    rm_host_cancel_free(u->cancel);
    free(u);
}

static void ucall_release(ucall *u)
{
    if (atomic_fetch_sub(&u->refs, 1) != 1) return;
    call_finished(u->srv);
    ucall_free(u);
}

static void ucall_done(tag *t, int ok)
{
    (void)ok;
    ucall_release(CONTAINER(t, ucall, done_tag));
}

/* The client is gone (or the call ended): a run still going is cancelled,
 * so a long decode stops instead of finishing for nobody. */
static void ucall_closed(tag *t, int ok)
{
    (void)ok;
    ucall *u = CONTAINER(t, ucall, close_tag);
    if (u->cancelled && u->cancel) rm_host_cancel_fire(u->cancel);
    ucall_release(u);
}

/* Sends the reply (msg may be NULL) and status; the call ends on the CQ
 * thread.  Callable from any thread (one batch per unary call). */
static void ucall_finish(ucall *u, grpc_status_code code, const char *details, grpc_byte_buffer *msg)
{
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (u->load[0]) { /* clients balancing by load (RemotePipeline least_loaded) read it */
        u->load_md.key = grpc_slice_from_static_string(RMG_LOAD_METADATA);
        u->load_md.value = grpc_slice_from_static_string(u->load);
        ops[n].data.send_initial_metadata.count = 1;
        ops[n].data.send_initial_metadata.metadata = &u->load_md;
    }
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (msg) {
        u->reply = msg;
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = msg;
    }
    u->details = grpc_slice_from_copied_string(details ? details : "");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    ops[n++].data.send_status_from_server.status_details = &u->details;
    if (!u->close_started) {
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &u->cancelled;
    }
    log_request(u->srv, u->method, u->call, code, now_s() - u->t0, NULL, 0,
                code != GRPC_STATUS_OK ? details : u->error);
    if (grpc_call_start_batch(u->call, ops, n, &u->done_tag, NULL) != GRPC_CALL_OK) ucall_release(u);
}

static void ucall_reply(ucall *u, const ProtobufCMessage *m)
{
    size_t size = protobuf_c_message_get_packed_size(m);
    if (size > RMG_CLIENT_RECEIVE_LIMIT) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "the result is %zu bytes, more than the %u bytes gRPC clients accept by default; "
                 "return less data (e.g. a downstream node that reduces it)",
                 size, RMG_CLIENT_RECEIVE_LIMIT);
        ucall_finish(u, GRPC_STATUS_RESOURCE_EXHAUSTED, msg, NULL);
        return;
    }
    ucall_finish(u, GRPC_STATUS_OK, "", rmg_pack(m));
}

static void execute_error(ucall *u, Remotemedia__V1__ErrorType type, const char *node_id, const char *message)
{
    rmg_arena a = {0};
    Remotemedia__V1__ExecuteResponse r = REMOTEMEDIA__V1__EXECUTE_RESPONSE__INIT;
    r.outcome_case = REMOTEMEDIA__V1__EXECUTE_RESPONSE__OUTCOME_ERROR;
    r.error = rmg_error(&a, type, node_id, message);
    snprintf(u->error, sizeof u->error, "%s", message);
    rmg_prom_error(u->srv->prom, type);
    if (r.error) ucall_reply(u, &r.base);
    else ucall_finish(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
    rmg_arena_free(&a);
}

/* `key` names parameter `name` (or its camelCase form): compared without
 * underscores and case, a superset of what the manifest loader accepts. */
static int param_key_is(const char *key, const char *name)
{
    for (;;) {
        while (*key == '_') key++;
        while (*name == '_') name++;
        if (!*key || !*name) return !*key && !*name;
        if ((*key | 0x20) != (*name | 0x20)) return 0;
        key++, name++;
    }
}

static const rm_param_def *find_param(const rm_node_type *t, const char *key)
{
    for (const rm_param_def *p = t->params; p && p->name; p++) {
        if (param_key_is(key, p->name)) return p;
        for (const char *const *a = p->aliases; a && *a; a++)
            if (param_key_is(key, *a)) return p;
    }
    return NULL;
}

/* What a client's manifest may not do without the operator's consent: run
 * client-chosen code (the "python" family: --allow-python), make the server
 * connect wherever the client says (the "remote" family, RemotePipeline:
 * --allow-remote), or name files on this machine (RM_PARAM_HOST_FILE
 * parameters: --allow-file-params).  Checked on the manifest's JSON text
 * before it is compiled: compiling already opens files a node names (a
 * RemotePipeline sub-manifest), which would tell a client which files exist
 * or block on a FIFO.  Node types are looked up by name; anything malformed
 * is left to the compiler's diagnostics. */
static int check_client_manifest(server *s, const char *manifest, rm_error *err)
{
    json_t *root = json_loads(manifest, 0, NULL);
    json_t *nodes = json_object_get(root, "nodes"), *node;
    size_t i;
    int rc = 0;
    json_array_foreach(nodes, i, node) {
        const char *id = json_string_value(json_object_get(node, "id")), *key;
        const char *type = json_string_value(json_object_get(node, "node_type"));
        const rm_node_type *t = type ? rm_runtime_find_node_type(s->rt, type) : NULL;
        json_t *v;
        if (!t) continue;
        if (!id) id = "";
        if (!s->cfg->allow_python && t->family && strcmp(t->family, "python") == 0) {
            rc = rm_error_set(err, RM_EPARAM, id,
                              "node '%s' (%s) runs Python code; the server allows it only with --allow-python", id,
                              t->name);
            break;
        }
        if (!s->cfg->allow_remote && t->family && strcmp(t->family, "remote") == 0) {
            rc = rm_error_set(err, RM_EPARAM, id,
                              "node '%s' (%s) connects to other servers; the server allows it only with "
                              "--allow-remote",
                              id, t->name);
            break;
        }
        if (s->cfg->allow_file_params) continue;
        json_object_foreach(json_object_get(node, "params"), key, v) {
            const rm_param_def *p = find_param(t, key);
            if (!p || !(p->flags & RM_PARAM_HOST_FILE)) continue;
            if (p->type == RM_PARAM_JSON && !json_is_string(v)) continue; /* inline, no file named */
            rc = rm_error_set(err, RM_EPARAM, id,
                              "node '%s' (%s): parameter '%s' names files on the server; the server accepts it "
                              "from clients only with --allow-file-params",
                              id, t->name, key);
            break;
        }
        if (rc) break;
    }
    json_decref(root);
    return rc;
}

static void execute_done(void *user, int rc, rm_host_result *res, const rm_error *err)
{
    ucall *u = user;
    if (!res && err && err->code == RM_ELIMIT && !err->node_id[0]) {
        /* --max-sessions: every slot is taken by streams and unary calls */
        rmg_prom_error(u->srv->prom, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_RESOURCE_LIMIT);
        ucall_finish(u, GRPC_STATUS_RESOURCE_EXHAUSTED, err->message, NULL);
        return;
    }
    if (!res) {
        /* refused before running (unknown input node, size limit) */
        execute_error(u, rmg_error_type(err, err && (err->code == RM_ENOTFOUND || err->code == RM_EFRAMEKIND)),
                      err ? err->node_id : "", err ? err->message : "failed");
        return;
    }
    rmg_arena a = {0};
    Remotemedia__V1__ExecuteResponse resp = REMOTEMEDIA__V1__EXECUTE_RESPONSE__INIT;
    if (rc != 0) {
        execute_error(u, rmg_error_type(err, 0), err->node_id, err->message);
        rm_host_result_free(res);
        return;
    }
    Remotemedia__V1__ExecutionResult *r = rmg_alloc(&a, sizeof *r);
    const char *why = NULL;
    if (!r) goto oom;
    remotemedia__v1__execution_result__init(r);
    size_t ns = rm_host_result_sink_count(res);
    r->data_outputs = rmg_alloc(&a, (ns ? ns : 1) * sizeof *r->data_outputs);
    if (!r->data_outputs) goto oom;
    for (size_t i = 0; i < ns; i++) {
        const rm_frame *const *fr;
        size_t n = rm_host_result_frames(res, i, &fr);
        Remotemedia__V1__ExecutionResult__DataOutputsEntry *e = rmg_alloc(&a, sizeof *e);
        if (!e) goto oom;
        remotemedia__v1__execution_result__data_outputs_entry__init(e);
        e->key = (char *)rm_host_result_sink(res, i);
        e->value = rmg_frames_to_buffer(&a, fr, n, &why);
        if (!e->value) {
            if (!why) goto oom;
            char msg[300];
            snprintf(msg, sizeof msg, "outputs of node '%s': %s", e->key, why);
            execute_error(u, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_NODE_EXECUTION, e->key, msg);
            rmg_arena_free(&a);
            rm_host_result_free(res);
            return;
        }
        r->data_outputs[r->n_data_outputs++] = e;
    }
    rm_graph *g = rm_host_result_graph(res);
    size_t nn = rm_graph_node_count(g);
    r->node_results = rmg_alloc(&a, (nn ? nn : 1) * sizeof *r->node_results);
    if (!r->node_results) goto oom;
    for (size_t i = 0; i < nn; i++) {
        if (rm_graph_node_inserted(g, i)) continue;
        Remotemedia__V1__NodeResult *nr = rmg_alloc(&a, sizeof *nr);
        if (!nr) goto oom;
        remotemedia__v1__node_result__init(nr);
        nr->node_id = (char *)rm_graph_node_id(g, i);
        nr->status = REMOTEMEDIA__V1__NODE_STATUS__NODE_STATUS_SUCCESS;
        r->node_results[r->n_node_results++] = nr;
    }
    r->metrics = rmg_metrics(&a, rm_host_result_metrics_json(res), rm_host_result_wall_ms(res));
    if (!r->metrics) goto oom;
    r->status = REMOTEMEDIA__V1__EXECUTION_STATUS__EXECUTION_STATUS_SUCCESS;
    resp.outcome_case = REMOTEMEDIA__V1__EXECUTE_RESPONSE__OUTCOME_RESULT;
    resp.result = r;
    rmg_prom_session(u->srv->prom, rm_host_result_metrics_json(res));
    ucall_reply(u, &resp.base); /* packs while the frames are alive */
    rmg_arena_free(&a);
    rm_host_result_free(res);
    return;
oom:
    rmg_arena_free(&a);
    rm_host_result_free(res);
    ucall_finish(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory building the result", NULL);
}

/* On a control thread: compile, convert inputs, run. */
static void execute_task(void *arg)
{
    ucall *u = arg;
    server *s = u->srv;
    Remotemedia__V1__ExecuteRequest *req = (Remotemedia__V1__ExecuteRequest *)u->req->msg;
    rm_error err;
    rm_error_clear(&err);
    if (check_client_manifest(s, u->manifest, &err) != 0 ||
        rm_host_compile(s->host, u->manifest, strlen(u->manifest), "manifest", &u->graph, &err, NULL) != 0) {
        execute_error(u, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, err.node_id, err.message);
        return;
    }
    if (req->n_data_inputs == 0) {
        execute_error(u, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, "",
                      "no input data: data_inputs is empty (key: node id, value: DataBuffer)");
        return;
    }
    rm_host_input *in = calloc(req->n_data_inputs, sizeof *in);
    if (!in) {
        ucall_finish(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    size_t n = 0;
    int bad = 0;
    for (size_t i = 0; i < req->n_data_inputs; i++) {
        const char *key = req->data_inputs[i]->key;
        if (rm_graph_node_index(u->graph, key) < 0) {
            rm_error_set(&err, RM_ENOTFOUND, key, "data_inputs names node '%s', which is not in pipeline '%s'", key,
                         rm_graph_name(u->graph));
            bad = 1;
            break;
        }
        rm_frame *f = rmg_buffer_to_frame(req->data_inputs[i]->value, u->req, key, &err);
        if (!f) {
            bad = 1;
            break;
        }
        in[n].node_id = key;
        in[n].frame = f;
        n++;
    }
    if (bad) {
        for (size_t i = 0; i < n; i++) rm_frame_unref((rm_frame *)in[i].frame);
        free(in);
        execute_error(u, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, err.node_id, err.message);
        return;
    }
    rm_host_result *res = NULL;
    int rc = rm_host_run_graph_cancellable(s->host, u->graph, in, n, u->cancel, &res, &err);
    for (size_t i = 0; i < n; i++) rm_frame_unref((rm_frame *)in[i].frame);
    free(in);
    execute_done(u, rc, res, rc ? &err : NULL);
}

static void handle_execute(ucall *u)
{
    server *s = u->srv;
    ProtobufCMessage *m = u->payload ? rmg_unpack(u->payload, &remotemedia__v1__execute_request__descriptor) : NULL;
    if (!m) {
        ucall_finish(u, GRPC_STATUS_INVALID_ARGUMENT, "the request is not a valid remotemedia.v1.ExecuteRequest",
                     NULL);
        return;
    }
    u->req = rmg_msg_new(m);
    if (!u->req) {
        ucall_finish(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    Remotemedia__V1__ExecuteRequest *req = (Remotemedia__V1__ExecuteRequest *)m;
    if (!req->manifest) {
        ucall_finish(u, GRPC_STATUS_INVALID_ARGUMENT, "ExecuteRequest.manifest is missing", NULL);
        return;
    }
    rm_error err;
    rm_error_clear(&err);
    u->manifest = rmg_manifest_to_json(req->manifest, "request", &err);
    if (!u->manifest) {
        execute_error(u, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, err.node_id, err.message);
        return;
    }
    /* learn of the client going away while the run is on a control thread */
    u->cancel = rm_host_cancel_new();
    if (u->cancel) {
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        op.data.recv_close_on_server.cancelled = &u->cancelled;
        atomic_fetch_add(&u->refs, 1);
        if (grpc_call_start_batch(u->call, &op, 1, &u->close_tag, NULL) == GRPC_CALL_OK) u->close_started = 1;
        else atomic_fetch_sub(&u->refs, 1);
    }
    if (rm_host_submit(s->host, execute_task, u) != 0)
        ucall_finish(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
}

static void handle_version(ucall *u)
{
    server *s = u->srv;
    Remotemedia__V1__VersionResponse r = REMOTEMEDIA__V1__VERSION_RESPONSE__INIT;
    Remotemedia__V1__VersionInfo vi = REMOTEMEDIA__V1__VERSION_INFO__INIT;
    size_t n = rm_runtime_node_type_count(s->rt);
    char **types = calloc(n ? n : 1, sizeof *types);
    char *protocols[] = {"v1"};
    if (!types) {
        ucall_finish(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) types[i] = (char *)rm_runtime_node_type_at(s->rt, i)->name;
    vi.protocol_version = "v1";
    vi.runtime_version = (char *)rm_version();
    vi.supported_node_types = types;
    vi.n_supported_node_types = n;
    vi.supported_protocols = protocols;
    vi.n_supported_protocols = 1;
    vi.build_timestamp = __DATE__ " " __TIME__;
    r.version_info = &vi;
    r.compatible = 1;
    r.compatibility_message = "Compatible";
    ucall_reply(u, &r.base);
    free(types);
}

static int health_known(const char *svc)
{
    return !*svc || !strcmp(svc, "remotemedia.v1.PipelineExecutionService") ||
           !strcmp(svc, "remotemedia.v1.StreamingPipelineService") || !strcmp(svc, "grpc.health.v1.Health");
}

static void handle_check(ucall *u)
{
    Grpc__Health__V1__HealthCheckRequest *req =
        u->payload ? (Grpc__Health__V1__HealthCheckRequest *)rmg_unpack(
                         u->payload, &grpc__health__v1__health_check_request__descriptor)
                   : NULL;
    if (!req) {
        ucall_finish(u, GRPC_STATUS_INVALID_ARGUMENT, "not a grpc.health.v1.HealthCheckRequest", NULL);
        return;
    }
    if (!health_known(req->service)) {
        char msg[300];
        snprintf(msg, sizeof msg, "unknown service '%.200s'", req->service);
        protobuf_c_message_free_unpacked(&req->base, NULL);
        ucall_finish(u, GRPC_STATUS_NOT_FOUND, msg, NULL);
        return;
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = u->srv->shutting_down ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
                                     : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    snprintf(u->load, sizeof u->load, "%zu", rm_host_active_streams(u->srv->host));
    ucall_reply(u, &r.base);
}

/* ---------------------------------------------------------- health watch --- */

typedef struct wcall {
    server *srv;
    grpc_call *call;
    grpc_metadata_array md;
    grpc_byte_buffer *payload, *msg;
    tag send_tag, close_tag, status_tag;
    int cancelled, sending, close_done, status_started, status_done;
    grpc_slice details;
    double t0;
    struct wcall *next;
} wcall;

/* For the idle trim (memstats.h): a live stream, or a call other than a
 * health Watch.  Reads this loop's state: only this loop ticks the trim
 * while the gRPC server runs. */
static int server_busy(void *ctx)
{
    server *s = ctx;
    size_t watches = 0;
    for (wcall *w = s->watches; w; w = w->next) watches++;
    return rm_host_live_streams(s->host) || calls_open(s) > watches;
}

static void watch_maybe_free(wcall *w)
{
    if (w->sending || !w->close_done || (w->status_started && !w->status_done)) return;
    server *s = w->srv;
    for (wcall **p = &s->watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    log_request(s, RMG_M_WATCH, w->call, w->cancelled ? GRPC_STATUS_CANCELLED : GRPC_STATUS_OK, now_s() - w->t0,
                NULL, 0, NULL);
    if (w->payload) grpc_byte_buffer_destroy(w->payload);
    if (w->msg) grpc_byte_buffer_destroy(w->msg);
    grpc_slice_unref(w->details);
    grpc_metadata_array_destroy(&w->md);
    grpc_call_unref(w->call);
    call_finished(s);
    free(w);
}

static void watch_sent(tag *t, int ok)
{
    (void)ok;
    wcall *w = CONTAINER(t, wcall, send_tag);
    w->sending = 0;
    watch_maybe_free(w);
}
static void watch_closed(tag *t, int ok)
{
    (void)ok;
    wcall *w = CONTAINER(t, wcall, close_tag);
    w->close_done = 1;
    watch_maybe_free(w);
}
static void watch_status(tag *t, int ok)
{
    (void)ok;
    wcall *w = CONTAINER(t, wcall, status_tag);
    w->status_done = 1;
    watch_maybe_free(w);
}

/* Ends a Watch (shutdown): NOT_SERVING then OK. */
static void watch_end(wcall *w)
{
    if (w->status_started || w->close_done) return;
    w->status_started = 1;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op.data.send_status_from_server.status = GRPC_STATUS_OK;
    w->details = grpc_slice_from_copied_string("server shutting down");
    op.data.send_status_from_server.status_details = &w->details;
    if (grpc_call_start_batch(w->call, &op, 1, &w->status_tag, NULL) != GRPC_CALL_OK) w->status_done = 1;
}

static void handle_watch(wcall *w)
{
    server *s = w->srv;
    Grpc__Health__V1__HealthCheckRequest *req =
        w->payload ? (Grpc__Health__V1__HealthCheckRequest *)rmg_unpack(
                         w->payload, &grpc__health__v1__health_check_request__descriptor)
                   : NULL;
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = !req || !health_known(req->service)
                   ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN
               : s->shutting_down ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
                                  : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    if (req) protobuf_c_message_free_unpacked(&req->base, NULL);
    w->msg = rmg_pack(&r.base);
    w->next = s->watches;
    s->watches = w;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = w->msg;
    w->sending = grpc_call_start_batch(w->call, ops, 2, &w->send_tag, NULL) == GRPC_CALL_OK;
    grpc_op c;
    memset(&c, 0, sizeof c);
    c.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    c.data.recv_close_on_server.cancelled = &w->cancelled;
    if (grpc_call_start_batch(w->call, &c, 1, &w->close_tag, NULL) != GRPC_CALL_OK) w->close_done = 1;
    if (s->shutting_down) watch_end(w);
    watch_maybe_free(w);
}

/* ----------------------------------------------------------- stream calls --- */

typedef struct scall {
    server *srv;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    tag recv_tag, send_tag, close_tag, status_tag;
    pthread_mutex_t mu;
    grpc_byte_buffer *recv_buf;
    /* sends, one in flight */
    grpc_byte_buffer **q;
    size_t qh, qn, qcap;
    int sending, md_sent;
    /* ending */
    int finishing, status_started, status_done, close_done, cancelled, dead;
    grpc_status_code fin_code;
    grpc_slice fin_details;
    char fin_text[640];
    /* receiving */
    int recv_pending, paused, half_closed, stop_reading;
    /* session */
    int have_init, opening, closing, closed_sent, freeing;
    int busy; /* CQ handlers (and start_stream) running on it: not freed under them */
    rm_stream *st;
    int st_freed;
    char session_id[64];
    uint64_t chunks;
    uint64_t expected_chunk;
    double t0;
} scall;

static void scall_maybe_free(scall *c);

/* Starts the next send, or the status once everything is sent.  Under mu. */
static void pump_locked(scall *c)
{
    if (c->sending || c->status_started) return;
    if (c->dead) {
        while (c->qn) {
            grpc_byte_buffer_destroy(c->q[c->qh]);
            c->qh = (c->qh + 1) % c->qcap;
            c->qn--;
        }
    }
    if (c->qn && !c->dead) {
        grpc_op ops[2];
        memset(ops, 0, sizeof ops);
        size_t n = 0;
        if (!c->md_sent) {
            ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
            c->md_sent = 1;
        }
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->q[c->qh];
        if (grpc_call_start_batch(c->call, ops, n, &c->send_tag, NULL) == GRPC_CALL_OK) {
            c->sending = 1;
            return;
        }
        c->dead = 1;
        pump_locked(c);
        return;
    }
    if (c->finishing && !c->qn && !c->close_done) { /* close_done first = client gone */
        grpc_op ops[2];
        memset(ops, 0, sizeof ops);
        size_t n = 0;
        if (!c->md_sent) {
            ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
            c->md_sent = 1;
        }
        c->fin_details = grpc_slice_from_copied_string(c->fin_text);
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = c->fin_code;
        ops[n++].data.send_status_from_server.status_details = &c->fin_details;
        c->status_started = 1;
        if (grpc_call_start_batch(c->call, ops, n, &c->status_tag, NULL) != GRPC_CALL_OK) c->status_done = 1;
    }
}

/* Queues a message (taken).  Any thread. */
static void enqueue(scall *c, grpc_byte_buffer *bb)
{
    pthread_mutex_lock(&c->mu);
    if (c->dead || c->finishing || !bb) {
        pthread_mutex_unlock(&c->mu);
        if (bb) grpc_byte_buffer_destroy(bb);
        return;
    }
    if (c->qn == c->qcap) {
        size_t cap = c->qcap ? c->qcap * 2 : 16;
        grpc_byte_buffer **q = malloc(cap * sizeof *q);
        if (!q) {
            pthread_mutex_unlock(&c->mu);
            grpc_byte_buffer_destroy(bb);
            return;
        }
        for (size_t i = 0; i < c->qn; i++) q[i] = c->q[(c->qh + i) % c->qcap];
        free(c->q);
        c->q = q;
        c->qh = 0;
        c->qcap = cap;
    }
    c->q[(c->qh + c->qn) % c->qcap] = bb;
    c->qn++;
    pump_locked(c);
    pthread_mutex_unlock(&c->mu);
}

/* Ends the call with `code` after the queued messages.  Any thread. */
static void finish(scall *c, grpc_status_code code, const char *details)
{
    pthread_mutex_lock(&c->mu);
    if (!c->finishing) {
        c->finishing = 1;
        c->fin_code = code;
        snprintf(c->fin_text, sizeof c->fin_text, "%s", details ? details : "");
        pump_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
}

static void send_response(scall *c, const Remotemedia__V1__StreamResponse *r) { enqueue(c, rmg_pack(&r->base)); }

static void send_error(scall *c, Remotemedia__V1__ErrorType type, const char *node_id, const char *message)
{
    rmg_arena a = {0};
    Remotemedia__V1__StreamResponse r = REMOTEMEDIA__V1__STREAM_RESPONSE__INIT;
    r.response_case = REMOTEMEDIA__V1__STREAM_RESPONSE__RESPONSE_ERROR;
    r.error = rmg_error(&a, type, node_id, message);
    rmg_prom_error(c->srv->prom, type);
    if (r.error) send_response(c, &r);
    rmg_arena_free(&a);
}

static void post_recv_locked(scall *c)
{
    if (c->recv_pending || c->dead || c->finishing || c->half_closed || c->stop_reading) return;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_buf;
    if (grpc_call_start_batch(c->call, &op, 1, &c->recv_tag, NULL) == GRPC_CALL_OK) c->recv_pending = 1;
}

static void post_recv(scall *c)
{
    pthread_mutex_lock(&c->mu);
    c->paused = 0;
    post_recv_locked(c);
    pthread_mutex_unlock(&c->mu);
}

/* --- host callbacks (pool, worker and control threads) */

static void st_output(void *user, const char *node_id, const char *port, const rm_frame *f, uint64_t seq)
{
    scall *c = user;
    rmg_arena a = {0};
    const char *why = NULL;
    Remotemedia__V1__StreamResponse r = REMOTEMEDIA__V1__STREAM_RESPONSE__INIT;
    Remotemedia__V1__ChunkResult cr = REMOTEMEDIA__V1__CHUNK_RESULT__INIT;
    Remotemedia__V1__ChunkResult__DataOutputsEntry e = REMOTEMEDIA__V1__CHUNK_RESULT__DATA_OUTPUTS_ENTRY__INIT;
    Remotemedia__V1__ChunkResult__DataOutputsEntry *ep = &e;
    e.key = (char *)node_id;
    e.value = rmg_frames_to_buffer(&a, &f, 1, &why);
    if (e.value && rmg_buffer_add_origin(&a, e.value, port, f) != 0) e.value = NULL;
    if (e.value) {
        cr.sequence = seq;
        cr.n_data_outputs = 1;
        cr.data_outputs = &ep;
        r.response_case = REMOTEMEDIA__V1__STREAM_RESPONSE__RESPONSE_RESULT;
        r.result = &cr;
        size_t size = protobuf_c_message_get_packed_size(&r.base);
        if (size > RMG_CLIENT_RECEIVE_LIMIT) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "output of node '%s' for sequence %llu is %zu bytes, more than the %u bytes gRPC clients "
                     "accept by default; it was dropped",
                     node_id, (unsigned long long)seq, size, RMG_CLIENT_RECEIVE_LIMIT);
            send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_RESOURCE_LIMIT, node_id, msg);
        } else {
            send_response(c, &r);
        }
    }
    rmg_arena_free(&a);
}

static void st_writable(void *user) { post_recv(user); }

static void st_closed(void *user, rm_stream_end why, const rm_error *err, const char *metrics)
{
    scall *c = user;
    server *s = c->srv;
    rmg_arena a = {0};
    if (why == RM_STREAM_FAILED && err)
        send_error(c, rmg_error_type(err, 0), err->node_id, err->message);
    const char *reason;
    char buf[600];
    switch (why) {
    case RM_STREAM_CLOSED: reason = c->half_closed ? "Client half-closed the stream" : "Client requested close"; break;
    case RM_STREAM_CANCELED: reason = s->shutting_down ? "server shutting down" : "Client requested cancel"; break;
    case RM_STREAM_IDLE:
        snprintf(buf, sizeof buf, "session idle timeout: %s", err ? err->message : "no input");
        reason = buf;
        break;
    case RM_STREAM_SHUTDOWN: reason = "server shutting down"; break;
    default:
        snprintf(buf, sizeof buf, "failed: %s", err ? err->message : "node error");
        reason = buf;
        break;
    }
    Remotemedia__V1__StreamResponse r = REMOTEMEDIA__V1__STREAM_RESPONSE__INIT;
    Remotemedia__V1__StreamClosed cl = REMOTEMEDIA__V1__STREAM_CLOSED__INIT;
    json_t *root = json_loads(metrics, 0, NULL);
    double wall_ms = json_number_value(json_object_get(root, "total_duration_us")) / 1000.0;
    json_decref(root);
    cl.session_id = c->session_id;
    cl.final_metrics = rmg_metrics(&a, metrics, wall_ms);
    cl.reason = (char *)reason;
    r.response_case = REMOTEMEDIA__V1__STREAM_RESPONSE__RESPONSE_CLOSED;
    r.closed = &cl;
    rmg_prom_session(s->prom, metrics);
    pthread_mutex_lock(&c->mu);
    c->closed_sent = 1;
    c->stop_reading = 1;
    pthread_mutex_unlock(&c->mu);
    send_response(c, &r);
    rmg_arena_free(&a);
    finish(c, GRPC_STATUS_OK, reason);
}

/* --- the CQ side */

static void scall_release_stream(scall *c)
{
    pthread_mutex_lock(&c->mu);
    rm_stream *st = c->st_freed ? NULL : c->st;
    if (st) c->st_freed = 1;
    pthread_mutex_unlock(&c->mu);
    if (st) rm_stream_free(st); /* waits for a callback in progress: no lock held */
}

/* Frees the call once nothing refers to it.  `end_open`: the open task
 * (a control thread) is done with it — cleared in the same critical
 * section as the check, so the CQ thread cannot free it in between.
 * Otherwise a CQ handler (or start_stream) ends: each counts itself in
 * `busy` in the critical section where it clears its pending flag, so the
 * open task cannot free the call while the handler still uses it (ASan
 * caught stream_status_sent locking a call open_task had just freed). */
static void scall_maybe_free_ex(scall *c, int end_open)
{
    pthread_mutex_lock(&c->mu);
    if (end_open) c->opening = 0;
    else c->busy--; /* a handler ends: it cleared its flag under the same lock as busy++ */
    int done = !c->busy && c->close_done && (c->status_done || !c->status_started) && !c->recv_pending && !c->sending &&
               !c->opening && (c->st_freed || !c->st) && !c->freeing;
    if (done) c->freeing = 1; /* called from the CQ and control threads: free once */
    pthread_mutex_unlock(&c->mu);
    if (!done) return;
    server *s = c->srv;
    grpc_status_code code = c->status_started ? c->fin_code : GRPC_STATUS_CANCELLED;
    if (c->cancelled && !c->status_started) code = GRPC_STATUS_CANCELLED;
    log_request(s, RMG_M_STREAM, c->call, code, now_s() - c->t0, c->session_id[0] ? c->session_id : NULL, c->chunks,
                code != GRPC_STATUS_OK ? c->fin_text : NULL);
    while (c->qn) {
        grpc_byte_buffer_destroy(c->q[c->qh]);
        c->qh = (c->qh + 1) % c->qcap;
        c->qn--;
    }
    free(c->q);
    if (c->recv_buf) grpc_byte_buffer_destroy(c->recv_buf);
    grpc_slice_unref(c->fin_details);
    grpc_metadata_array_destroy(&c->md);
    grpc_call_unref(c->call);
    pthread_mutex_destroy(&c->mu);
    call_finished(s);
    free(c);
}

static void scall_maybe_free(scall *c) { scall_maybe_free_ex(c, 0); }

static void stream_sent(tag *t, int ok)
{
    scall *c = CONTAINER(t, scall, send_tag);
    pthread_mutex_lock(&c->mu);
    c->busy++;
    c->sending = 0;
    grpc_byte_buffer_destroy(c->q[c->qh]);
    c->qh = (c->qh + 1) % c->qcap;
    c->qn--;
    if (!ok) c->dead = 1;
    pump_locked(c);
    pthread_mutex_unlock(&c->mu);
    scall_maybe_free(c);
}

static void stream_status_sent(tag *t, int ok)
{
    (void)ok;
    scall *c = CONTAINER(t, scall, status_tag);
    pthread_mutex_lock(&c->mu);
    c->busy++;
    c->status_done = 1;
    c->dead = 1;
    pthread_mutex_unlock(&c->mu);
    scall_release_stream(c);
    scall_maybe_free(c);
}

static void stream_close_done(tag *t, int ok)
{
    (void)ok;
    scall *c = CONTAINER(t, scall, close_tag);
    pthread_mutex_lock(&c->mu);
    c->busy++;
    c->close_done = 1;
    if (c->cancelled) {
        /* client gone or deadline: tear down, nothing more to send */
        c->dead = 1;
        if (!c->finishing) {
            c->finishing = 1;
            c->fin_code = GRPC_STATUS_CANCELLED;
            snprintf(c->fin_text, sizeof c->fin_text, "client cancelled or deadline exceeded");
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (c->cancelled) scall_release_stream(c);
    scall_maybe_free(c);
}

typedef struct open_job {
    scall *c;
    char *manifest;
    rm_graph *g;
} open_job;

static void open_task(void *arg)
{
    open_job *j = arg;
    scall *c = j->c;
    server *s = c->srv;
    rm_error err;
    rm_error_clear(&err);
    int rc = check_client_manifest(s, j->manifest, &err);
    if (rc == 0) rc = rm_host_compile(s->host, j->manifest, strlen(j->manifest), "manifest", &j->g, &err, NULL);
    rm_stream *st = NULL;
    int validation = rc != 0;
    if (rc == 0) {
        rm_stream_callbacks cb = {st_output, st_writable, st_closed, c};
        char id[64];
        static atomic_uint counter;
        snprintf(id, sizeof id, "grpc-%u-%llx", atomic_fetch_add(&counter, 1) + 1,
                 (unsigned long long)((uintptr_t)c >> 4));
        rc = rm_stream_open(s->host, j->g, id, &cb, &st, &err);
    }
    free(j->manifest);
    rm_graph_unref(j->g);
    free(j);
    if (rc != 0) {
        send_error(c, rm_err_class(err.code) == RM_ERRCLASS_RESOURCE_LIMIT
                          ? REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_RESOURCE_LIMIT
                          : rmg_error_type(&err, validation),
                   err.node_id, err.message);
        pthread_mutex_lock(&c->mu);
        c->stop_reading = 1;
        pthread_mutex_unlock(&c->mu);
        finish(c, GRPC_STATUS_OK, err.message);
        scall_maybe_free_ex(c, 1);
        return;
    }
    snprintf(c->session_id, sizeof c->session_id, "%s", rm_stream_id(st));
    Remotemedia__V1__StreamResponse r = REMOTEMEDIA__V1__STREAM_RESPONSE__INIT;
    Remotemedia__V1__StreamReady ready = REMOTEMEDIA__V1__STREAM_READY__INIT;
    ready.session_id = c->session_id;
    ready.recommended_chunk_size = c->expected_chunk ? c->expected_chunk : 4096;
    ready.max_buffer_latency_ms = 100;
    r.response_case = REMOTEMEDIA__V1__STREAM_RESPONSE__RESPONSE_READY;
    r.ready = &ready;
    send_response(c, &r);
    pthread_mutex_lock(&c->mu);
    c->st = st;
    int gone = c->dead || c->close_done;
    int half = c->half_closed;
    pthread_mutex_unlock(&c->mu);
    if (gone) {
        scall_release_stream(c);
    } else if (s->shutting_down) {
        rm_stream_cancel(st);
    } else if (half) {
        c->closing = 1;
        rm_stream_close(st);
    } else {
        post_recv(c);
    }
    scall_maybe_free_ex(c, 1);
}

static void handle_init(scall *c, Remotemedia__V1__StreamInit *init)
{
    server *s = c->srv;
    if (c->have_init) {
        send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, "",
                   "StreamInit already received: a stream takes one init");
        post_recv(c);
        return;
    }
    c->have_init = 1;
    rm_error err;
    rm_error_clear(&err);
    char *text = init->manifest ? rmg_manifest_to_json(init->manifest, "stream", &err) : NULL;
    if (!text) {
        send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, err.node_id,
                   init->manifest ? err.message : "StreamInit.manifest is missing");
        pthread_mutex_lock(&c->mu);
        c->stop_reading = 1;
        pthread_mutex_unlock(&c->mu);
        finish(c, init->manifest ? GRPC_STATUS_OK : GRPC_STATUS_INVALID_ARGUMENT,
               init->manifest ? err.message : "StreamInit.manifest is missing");
        return;
    }
    c->expected_chunk = init->expected_chunk_size;
    open_job *j = calloc(1, sizeof *j);
    if (!j) {
        free(text);
        finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    j->c = c;
    j->manifest = text;
    pthread_mutex_lock(&c->mu);
    c->opening = 1; /* no reading until the session is open */
    pthread_mutex_unlock(&c->mu);
    if (rm_host_submit(s->host, open_task, j) != 0) {
        free(text);
        free(j);
        pthread_mutex_lock(&c->mu);
        c->opening = 0;
        pthread_mutex_unlock(&c->mu);
        finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
}

static void maybe_metrics(scall *c)
{
    unsigned every = c->srv->cfg->metrics_every;
    if (!every || c->chunks % every != 0) return;
    char *mj = rm_stream_metrics_json(c->st);
    json_t *root = mj ? json_loads(mj, 0, NULL) : NULL;
    free(mj);
    Remotemedia__V1__StreamResponse r = REMOTEMEDIA__V1__STREAM_RESPONSE__INIT;
    Remotemedia__V1__StreamMetrics m = REMOTEMEDIA__V1__STREAM_METRICS__INIT;
    m.session_id = c->session_id;
    m.chunks_processed = c->chunks;
    double total_us = 0;
    json_t *nm = json_object_get(root, "node_metrics"), *v;
    const char *id;
    json_object_foreach(nm, id, v) total_us += json_number_value(json_object_get(v, "total_us"));
    m.average_latency_ms = c->chunks ? total_us / 1000.0 / (double)c->chunks : 0;
    m.total_items = (uint64_t)json_integer_value(json_object_get(root, "frames_out"));
    json_decref(root);
    r.response_case = REMOTEMEDIA__V1__STREAM_RESPONSE__RESPONSE_METRICS;
    r.metrics = &m;
    send_response(c, &r);
}

/* Pushes one frame; errors become StreamResponse.error and the stream goes on. */
static void push(scall *c, const char *node_id, const char *port, rm_frame *f, uint64_t seq)
{
    rm_error err;
    rm_error_clear(&err);
    int rc = rm_stream_push(c->st, node_id, port, f, seq, &err);
    if (rc == 0) return;
    int validation = rc == RM_ENOTFOUND || rc == RM_EFRAMEKIND || rc == RM_ESTATE;
    send_error(c, rc == RM_ELIMIT || rc == RM_EAGAIN ? REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_RESOURCE_LIMIT
                                                     : rmg_error_type(&err, validation),
               err.node_id, err.message);
}

static void handle_chunk(scall *c, Remotemedia__V1__StreamRequest *req, rmg_msg *owner)
{
    rm_error err;
    rm_error_clear(&err);
    if (req->request_case == REMOTEMEDIA__V1__STREAM_REQUEST__REQUEST_AUDIO_CHUNK) {
        /* the deprecated message is still accepted from older clients */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        Remotemedia__V1__AudioChunk *ac = req->audio_chunk;
#pragma GCC diagnostic pop
        if (!ac->buffer) {
            send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, ac->node_id,
                       "AudioChunk has no buffer");
            return;
        }
        rm_frame *f = rmg_audio_to_frame(ac->buffer, owner, ac->node_id, &err);
        if (!f) {
            send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, err.node_id, err.message);
            return;
        }
        f->sequence = ac->sequence;
        push(c, ac->node_id, NULL, f, ac->sequence);
        c->chunks++;
        rmg_prom_chunks(c->srv->prom, 1);
        maybe_metrics(c);
        return;
    }
    Remotemedia__V1__DataChunk *dc = req->data_chunk;
    if ((dc->buffer != NULL) == (dc->n_named_buffers != 0)) {
        send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, dc->node_id,
                   dc->buffer ? "DataChunk has both buffer and named_buffers; set exactly one"
                              : "DataChunk has neither buffer nor named_buffers; set exactly one");
        return;
    }
    if (dc->buffer) {
        rm_frame *f = rmg_buffer_to_frame(dc->buffer, owner, dc->node_id, &err);
        if (!f) {
            send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, err.node_id, err.message);
            return;
        }
        f->sequence = dc->sequence;
        push(c, dc->node_id, NULL, f, dc->sequence);
    } else {
        for (size_t i = 0; i < dc->n_named_buffers; i++) {
            rm_frame *f = rmg_buffer_to_frame(dc->named_buffers[i]->value, owner, dc->node_id, &err);
            if (!f) {
                send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, err.node_id, err.message);
                continue;
            }
            f->sequence = dc->sequence;
            push(c, dc->node_id, dc->named_buffers[i]->key, f, dc->sequence);
        }
    }
    c->chunks++;
    rmg_prom_chunks(c->srv->prom, 1);
    maybe_metrics(c);
}

static void stream_received(tag *t, int ok)
{
    scall *c = CONTAINER(t, scall, recv_tag);
    pthread_mutex_lock(&c->mu);
    c->busy++;
    c->recv_pending = 0;
    grpc_byte_buffer *bb = c->recv_buf;
    c->recv_buf = NULL;
    int opening = c->opening;
    pthread_mutex_unlock(&c->mu);
    if (!ok || !bb) {
        /* half-close (or the call died): end of input = CLOSE */
        pthread_mutex_lock(&c->mu);
        c->half_closed = 1;
        rm_stream *st = c->st && !c->closing && !c->closed_sent && !c->st_freed ? c->st : NULL;
        int no_session = !c->st && !opening;
        if (st) c->closing = 1;
        pthread_mutex_unlock(&c->mu);
        if (st) rm_stream_close(st);
        else if (no_session) finish(c, c->have_init ? GRPC_STATUS_OK : GRPC_STATUS_OK, "");
        scall_maybe_free(c);
        return;
    }
    ProtobufCMessage *m = rmg_unpack(bb, &remotemedia__v1__stream_request__descriptor);
    grpc_byte_buffer_destroy(bb);
    rmg_msg *owner = m ? rmg_msg_new(m) : NULL;
    if (!owner) {
        send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, "",
                   "the message is not a valid remotemedia.v1.StreamRequest");
        post_recv(c);
        scall_maybe_free(c);
        return;
    }
    Remotemedia__V1__StreamRequest *req = (Remotemedia__V1__StreamRequest *)m;
    int keep_reading = 1;
    switch (req->request_case) {
    case REMOTEMEDIA__V1__STREAM_REQUEST__REQUEST_INIT:
        keep_reading = 0; /* handle_init decides */
        handle_init(c, req->init);
        break;
    case REMOTEMEDIA__V1__STREAM_REQUEST__REQUEST_DATA_CHUNK:
    case REMOTEMEDIA__V1__STREAM_REQUEST__REQUEST_AUDIO_CHUNK:
        if (!c->st) {
            send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, "",
                       "StreamInit required before data: send init first");
            break;
        }
        if (c->closing) {
            send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, "",
                       "data after CLOSE is ignored");
            break;
        }
        handle_chunk(c, req, owner);
        break;
    case REMOTEMEDIA__V1__STREAM_REQUEST__REQUEST_CONTROL:
        if (!c->st) {
            send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, "",
                       "StreamInit required before control: send init first");
            break;
        }
        if (req->control->command == REMOTEMEDIA__V1__STREAM_CONTROL__COMMAND__COMMAND_CLOSE) {
            if (!c->closing) {
                c->closing = 1;
                rm_stream_close(c->st);
            }
        } else if (req->control->command == REMOTEMEDIA__V1__STREAM_CONTROL__COMMAND__COMMAND_CANCEL) {
            c->closing = 1;
            rm_stream_cancel(c->st); /* StreamClosed is queued before this returns */
            keep_reading = 0;
        } else {
            send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, "",
                       "StreamControl.command is COMMAND_UNSPECIFIED; use COMMAND_CLOSE or COMMAND_CANCEL");
        }
        break;
    default:
        send_error(c, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION, "",
                   "empty StreamRequest: set init, data_chunk, audio_chunk or control");
        break;
    }
    rmg_msg_unref(owner);
    if (keep_reading) {
        if (c->st && !c->closing && !rm_stream_writable(c->st)) {
            pthread_mutex_lock(&c->mu);
            c->paused = 1; /* on_writable resumes */
            pthread_mutex_unlock(&c->mu);
        } else {
            post_recv(c);
        }
    }
    scall_maybe_free(c);
}

static void start_stream(server *s, grpc_call *call, grpc_metadata_array *md, gpr_timespec deadline)
{
    scall *c = calloc(1, sizeof *c);
    if (!c) {
        grpc_call_cancel_with_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        grpc_call_unref(call);
        grpc_metadata_array_destroy(md);
        return;
    }
    call_started(s);
    c->srv = s;
    c->call = call;
    c->md = *md;
    c->deadline = deadline;
    c->t0 = now_s();
    c->fin_details = grpc_empty_slice();
    c->recv_tag.fn = stream_received;
    c->send_tag.fn = stream_sent;
    c->close_tag.fn = stream_close_done;
    c->status_tag.fn = stream_status_sent;
    c->busy = 1; /* this function's; its scall_maybe_free ends it */
    pthread_mutex_init(&c->mu, NULL);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    if (grpc_call_start_batch(call, &op, 1, &c->close_tag, NULL) != GRPC_CALL_OK) c->close_done = 1;
    if (!authorized(s, &c->md)) {
        finish(c, GRPC_STATUS_UNAUTHENTICATED, "missing or invalid bearer token (authorization: Bearer <token>)");
        rmg_prom_error(s->prom, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_AUTHENTICATION);
    } else if (s->shutting_down) {
        finish(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
    } else {
        post_recv(c);
    }
    scall_maybe_free(c);
}

/* ------------------------------------------------------- requesting calls --- */

typedef struct reqcall {
    method_slot *slot;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_call_details details; /* generic (unregistered) calls */
    tag t;
} reqcall;

static void request_next(method_slot *slot);

/* Frees what a requested call brought with it that nothing took over. */
static void reqcall_free(reqcall *rc)
{
    if (rc->slot->method == RMG_M_OTHER) grpc_call_details_destroy(&rc->details);
    grpc_metadata_array_destroy(&rc->md);
    if (rc->payload) grpc_byte_buffer_destroy(rc->payload);
    free(rc);
}

/* Refuses a call there is no memory to serve. */
static void reqcall_refuse_oom(reqcall *rc)
{
    grpc_call_cancel_with_status(rc->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
    grpc_call_unref(rc->call);
    reqcall_free(rc);
}

static void on_call(tag *t, int ok)
{
    reqcall *rc = CONTAINER(t, reqcall, t);
    method_slot *slot = rc->slot;
    server *s = slot->srv;
    if (!ok) { /* server shutting down */
        reqcall_free(rc);
        return;
    }
    if (!s->shutting_down) request_next(slot);
    if (slot->method == RMG_M_STREAM) {
        start_stream(s, rc->call, &rc->md, rc->deadline);
        free(rc);
        return;
    }
    if (slot->method == RMG_M_WATCH) {
        wcall *w = calloc(1, sizeof *w);
        if (!w) {
            reqcall_refuse_oom(rc);
            return;
        }
        call_started(s);
        w->srv = s;
        w->call = rc->call;
        w->md = rc->md;
        w->payload = rc->payload;
        w->t0 = now_s();
        w->details = grpc_empty_slice();
        w->send_tag.fn = watch_sent;
        w->close_tag.fn = watch_closed;
        w->status_tag.fn = watch_status;
        free(rc);
        handle_watch(w);
        return;
    }
    ucall *u = calloc(1, sizeof *u);
    if (!u) {
        reqcall_refuse_oom(rc);
        return;
    }
    call_started(s);
    u->srv = s;
    u->method = slot->method;
    u->call = rc->call;
    u->md = rc->md;
    u->payload = rc->payload;
    u->deadline = rc->deadline;
    u->t0 = now_s();
    u->details = grpc_empty_slice();
    u->done_tag.fn = ucall_done;
    u->close_tag.fn = ucall_closed;
    atomic_init(&u->refs, 1);
    if (slot->method == RMG_M_OTHER) {
        char *m = grpc_slice_to_c_string(rc->details.method);
        char msg[400];
        snprintf(msg, sizeof msg,
                 "method %.200s is not served here (remotemedia.v1 and grpc.health.v1 only; server reflection is "
                 "not available in the gRPC core C API)",
                 m ? m : "?");
        gpr_free(m);
        grpc_call_details_destroy(&rc->details);
        free(rc);
        ucall_finish(u, GRPC_STATUS_UNIMPLEMENTED, msg, NULL);
        return;
    }
    free(rc);
    if (u->method != RMG_M_CHECK && !authorized(s, &u->md)) {
        rmg_prom_error(s->prom, REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_AUTHENTICATION);
        ucall_finish(u, GRPC_STATUS_UNAUTHENTICATED, "missing or invalid bearer token (authorization: Bearer <token>)",
                     NULL);
        return;
    }
    switch (u->method) {
    case RMG_M_EXECUTE: handle_execute(u); break;
    case RMG_M_VERSION: handle_version(u); break;
    case RMG_M_CHECK: handle_check(u); break;
    default: /* STREAM, WATCH and unregistered methods were dispatched above */
        ucall_finish(u, GRPC_STATUS_INTERNAL, "internal error: no unary handler for this method", NULL);
        break;
    }
}

static void request_next(method_slot *slot)
{
    server *s = slot->srv;
    reqcall *rc = calloc(1, sizeof *rc);
    if (!rc) return;
    rc->slot = slot;
    rc->t.fn = on_call;
    grpc_metadata_array_init(&rc->md);
    grpc_call_error e;
    if (slot->method == RMG_M_OTHER) {
        grpc_call_details_init(&rc->details);
        e = grpc_server_request_call(s->gs, &rc->call, &rc->details, &rc->md, s->cq, s->cq, &rc->t);
    } else {
        int with_payload = slot->method != RMG_M_STREAM;
        e = grpc_server_request_registered_call(s->gs, slot->handle, &rc->call, &rc->deadline, &rc->md,
                                                with_payload ? &rc->payload : NULL, s->cq, s->cq, &rc->t);
    }
    if (e != GRPC_CALL_OK) {
        if (slot->method == RMG_M_OTHER) grpc_call_details_destroy(&rc->details);
        grpc_metadata_array_destroy(&rc->md);
        free(rc);
    }
}

/* ----------------------------------------------------------------- serve --- */

static char *read_file(const char *path, const char *flag)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "rmedia serve: %s %s: %s\n", flag, path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n + 1 >= cap) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (buf && (n == 0 || !strstr(buf, "-----BEGIN"))) {
        fprintf(stderr, "rmedia serve: %s %s: not a PEM file (TLS)\n", flag, path);
        free(buf);
        return NULL;
    }
    return buf;
}

static int write_port_file(const char *path, unsigned port)
{
    if (!path) return 0;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "rmedia serve: cannot write port file %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void on_shutdown_done(tag *t, int ok)
{
    (void)ok;
    server *s = CONTAINER(t, server, shutdown_tag);
    s->shutdown_done = 1;
}

/* SIGTERM/SIGINT: stop accepting, end streams with "server shutting down",
 * let unary calls finish. */
static void begin_shutdown(server *s)
{
    s->shutting_down = 1;
    fprintf(stderr, "rmedia serve: shutting down (drain timeout %.1f s)\n", s->cfg->drain_timeout_s);
    grpc_server_shutdown_and_notify(s->gs, s->cq, &s->shutdown_tag);
    rm_host_shutdown_streams(s->host);
    for (wcall *w = s->watches; w; w = w->next) watch_end(w);
    /* streams still opening are canceled when the open completes */
}

int rmg_serve(rm_runtime *rt, const rmg_config *cfg)
{
    int exit_code = 0;
    server srv;
    memset(&srv, 0, sizeof srv);
    server *s = &srv;
    s->cfg = cfg;
    s->rt = rt;
    pthread_mutex_init(&s->mu, NULL);
    rm_host_opts ho;
    rm_host_opts_init(&ho);
    ho.max_sessions = cfg->max_sessions;
    ho.max_frame_bytes = cfg->max_message_bytes;
    ho.idle_timeout_ms = (uint64_t)(cfg->idle_timeout_s * 1000.0);
    ho.pool_threads = cfg->pool_threads;
    ho.inline_budget_us = RMG_INLINE_BUDGET_US;
    rm_error err;
    rm_error_clear(&err);
    if (rm_host_new(rt, &ho, &s->host, &err) != 0) {
        fprintf(stderr, "rmedia serve: %s\n", err.message);
        pthread_mutex_destroy(&s->mu);
        return 5;
    }
    s->prom = rmg_prom_new(s->host);
    rmt_busy_add(server_busy, s);
    grpc_init();
    grpc_server_credentials *creds = NULL;
    if (cfg->tls_cert || cfg->tls_key) {
        if (!cfg->tls_cert || !cfg->tls_key) {
            fprintf(stderr, "rmedia serve: TLS needs both --tls-cert and --tls-key\n");
            exit_code = 2;
            goto out;
        }
        char *cert = read_file(cfg->tls_cert, "--tls-cert"), *key = cert ? read_file(cfg->tls_key, "--tls-key") : NULL;
        char *ca = key && cfg->tls_client_ca ? read_file(cfg->tls_client_ca, "--tls-client-ca") : NULL;
        if (!cert || !key || (cfg->tls_client_ca && !ca)) {
            free(cert);
            free(key);
            free(ca);
            exit_code = 2;
            goto out;
        }
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        creds = grpc_ssl_server_credentials_create_ex(
            ca, &pair, 1,
            ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
        free(cert);
        free(key);
        free(ca);
        if (!creds) {
            fprintf(stderr, "rmedia serve: the TLS certificate or key is not usable\n");
            exit_code = 2;
            goto out;
        }
    } else if (cfg->tls_client_ca) {
        fprintf(stderr, "rmedia serve: --tls-client-ca needs --tls-cert and --tls-key\n");
        exit_code = 2;
        goto out;
    } else {
        creds = grpc_insecure_server_credentials_create();
    }
    grpc_arg args[2];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)(cfg->max_message_bytes > 0x7fffffff ? 0x7fffffff : cfg->max_message_bytes);
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = args[0].value.integer;
    grpc_channel_args ca = {2, args};
    s->gs = grpc_server_create(&ca, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->gs, s->cq, NULL);
    static const char *const paths[RMG_M_COUNT] = {
        "/remotemedia.v1.PipelineExecutionService/ExecutePipeline",
        "/remotemedia.v1.PipelineExecutionService/GetVersion",
        "/remotemedia.v1.StreamingPipelineService/StreamPipeline", "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch", NULL};
    for (int m = 0; m < RMG_M_COUNT; m++) {
        s->slots[m].srv = s;
        s->slots[m].method = m;
        if (paths[m])
            s->slots[m].handle = grpc_server_register_method(
                s->gs, paths[m], NULL,
                m == RMG_M_STREAM ? GRPC_SRM_PAYLOAD_NONE : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    }
    int port = grpc_server_add_http2_port(s->gs, cfg->listen, creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        fprintf(stderr, "rmedia serve: cannot listen on %s (address in use, not HOST:PORT, or bad TLS files)\n",
                cfg->listen);
        grpc_server_destroy(s->gs);
        s->gs = NULL;
        exit_code = 4;
        goto out_cq;
    }
    if (cfg->metrics_listen) {
        unsigned mport = 0;
        if (rmg_prom_listen(s->prom, cfg->metrics_listen, &mport) != 0 ||
            write_port_file(cfg->metrics_port_file, mport) != 0) {
            grpc_server_destroy(s->gs);
            s->gs = NULL;
            exit_code = 4;
            goto out_cq;
        }
        char host[256];
        const char *colon = strrchr(cfg->metrics_listen, ':');
        snprintf(host, sizeof host, "%.*s", (int)(colon - cfg->metrics_listen), cfg->metrics_listen);
        fprintf(stderr, "rmedia serve: metrics on http://%s:%u/metrics\n", host, mport);
    }
    grpc_server_start(s->gs);
    {
        char host[256];
        const char *colon = strrchr(cfg->listen, ':');
        snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - cfg->listen) : 0, cfg->listen);
        fprintf(stderr, "rmedia serve: listening on %s:%d%s\n", host, port, cfg->tls_cert ? " (TLS)" : "");
    }
    if (write_port_file(cfg->port_file, (unsigned)port) != 0) {
        g_signal = SIGTERM;
        exit_code = 4;
    }
    for (int m = 0; m < RMG_M_COUNT; m++)
        for (int k = 0; k < (m == RMG_M_OTHER || m == RMG_M_WATCH ? 1 : 4); k++) request_next(&s->slots[m]);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    s->shutdown_tag.fn = on_shutdown_done;
    double drain_deadline = 0, next_idle_check = 0;
    int cancelled_all = 0;
    for (;;) {
        /* once a second: the process's idle trim (memstats.h) */
        double now = now_s();
        if (now >= next_idle_check && !s->shutting_down) {
            next_idle_check = now + 1.0;
            rmt_trim_tick(now);
        }
        if (g_signal && !s->shutting_down) {
            begin_shutdown(s);
            drain_deadline = now_s() + cfg->drain_timeout_s;
        }
        if (s->shutting_down) {
            if (s->shutdown_done && calls_open(s) == 0) break;
            if (!cancelled_all && now_s() > drain_deadline) {
                fprintf(stderr, "rmedia serve: drain timeout: cancelling %zu calls\n", calls_open(s));
                grpc_server_cancel_all_calls(s->gs);
                cancelled_all = 1;
            }
        }
        grpc_event ev = grpc_completion_queue_next(
            s->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(50, GPR_TIMESPAN)), NULL);
        if (ev.type == GRPC_OP_COMPLETE) ((tag *)ev.tag)->fn(ev.tag, ev.success);
        else if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    }
    grpc_server_destroy(s->gs);
    s->gs = NULL;
out_cq:
    grpc_completion_queue_shutdown(s->cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type == GRPC_OP_COMPLETE) ((tag *)ev.tag)->fn(ev.tag, 0);
    }
    grpc_completion_queue_destroy(s->cq);
out:
    rmt_busy_remove(server_busy, s);
    rm_host_free(s->host); /* waits for teardown of every session */
    grpc_shutdown();
    rmg_prom_free(s->prom);
    pthread_mutex_destroy(&s->mu);
    if (exit_code == 0) fprintf(stderr, "rmedia serve: stopped\n");
    return exit_code;
}
