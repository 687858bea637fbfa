/* remotemedia.v1 client on the gRPC core C API: one pluck completion queue
 * per call, so calls on one rm_client never wait for each other. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "remotemedia/client.h"
#include "rmg_internal.h"

struct rm_client {
    char *address;
    char *auth; /* "Bearer TOKEN" or NULL */
    double deadline_s;
    grpc_channel *channel;
};

static char *read_file(const char *path, rm_error *err, const char *what)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        rm_error_set(err, RM_EIO, NULL, "cannot read %s '%s'", what, path);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *p = realloc(buf, (cap *= 2) + 1);
            if (!p) free(buf);
            buf = p;
        }
    }
    fclose(f);
    if (!buf) rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    else buf[len] = '\0';
    return buf;
}

int rm_client_connect(const char *address, const rm_client_opts *o, rm_client **out, rm_error *err)
{
    static const rm_client_opts none = {0};
    if (!o) o = &none;
    *out = NULL;
    if (!address || !*address) return rm_error_set(err, RM_EINVAL, NULL, "no server address");
    if ((o->tls_cert != NULL) != (o->tls_key != NULL))
        return rm_error_set(err, RM_EINVAL, NULL, "server %s: mTLS needs both a certificate and a key", address);
    rm_client *c = calloc(1, sizeof *c);
    if (!c) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    grpc_init(); /* reference counted: one per client, dropped by rm_client_free */
    c->address = strdup(address);
    c->deadline_s = o->deadline_s > 0 ? o->deadline_s : 30;
    if (o->token) {
        size_t n = strlen(o->token) + 8;
        c->auth = malloc(n);
        if (c->auth) snprintf(c->auth, n, "Bearer %s", o->token);
    }
    grpc_channel_credentials *cred;
    if (o->tls || o->tls_ca || o->tls_cert) {
        char *ca = o->tls_ca ? read_file(o->tls_ca, err, "TLS CA") : NULL;
        char *crt = o->tls_cert ? read_file(o->tls_cert, err, "TLS certificate") : NULL;
        char *key = o->tls_key ? read_file(o->tls_key, err, "TLS key") : NULL;
        if ((o->tls_ca && !ca) || (o->tls_cert && !crt) || (o->tls_key && !key)) {
            free(ca), free(crt), free(key);
            rm_client_free(c);
            return err ? err->code : RM_EIO;
        }
        grpc_ssl_pem_key_cert_pair pair = {key, crt};
        cred = grpc_ssl_credentials_create(ca, crt ? &pair : NULL, NULL, NULL);
        free(ca), free(crt), free(key);
    } else {
        cred = grpc_insecure_credentials_create();
    }
    grpc_arg args[2];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = 64 << 20;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_ENABLE_RETRIES; /* the caller decides about retries */
    args[1].value.integer = 0;
    grpc_channel_args ca = {2, args};
    c->channel = cred ? grpc_channel_create(address, cred, &ca) : NULL;
    grpc_channel_credentials_release(cred);
    if (!c->address || (o->token && !c->auth) || !c->channel) {
        rm_client_free(c);
        return rm_error_set(err, RM_ENOMEM, NULL, "server %s: cannot create a channel", address);
    }
    *out = c;
    return 0;
}

void rm_client_free(rm_client *c)
{
    if (!c) return;
    if (c->channel) grpc_channel_destroy(c->channel);
    grpc_shutdown();
    free(c->address);
    free(c->auth);
    free(c);
}

const char *rm_client_address(const rm_client *c) { return c->address; }

static gpr_timespec after(double s)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis((int64_t)(s * 1000), GPR_TIMESPAN));
}

/* gRPC status → RM code and a message naming the endpoint. */
static int status_error(const rm_client *c, grpc_status_code st, grpc_slice details, rm_error *err)
{
    char *d = grpc_slice_to_c_string(details);
    int code;
    const char *what;
    switch (st) {
    case GRPC_STATUS_UNAVAILABLE: code = RM_EAGAIN, what = "unavailable"; break;
    case GRPC_STATUS_DEADLINE_EXCEEDED: code = RM_ETIMEDOUT, what = "deadline exceeded"; break;
    case GRPC_STATUS_UNAUTHENTICATED: code = RM_EINVAL, what = "authentication failed"; break;
    case GRPC_STATUS_PERMISSION_DENIED: code = RM_EINVAL, what = "permission denied"; break;
    case GRPC_STATUS_INVALID_ARGUMENT: code = RM_EINVAL, what = "invalid argument"; break;
    case GRPC_STATUS_RESOURCE_EXHAUSTED: code = RM_ELIMIT, what = "resource exhausted"; break;
    case GRPC_STATUS_CANCELLED: code = RM_ECANCELED, what = "cancelled"; break;
    case GRPC_STATUS_UNIMPLEMENTED: code = RM_ENOTSUP, what = "unimplemented"; break;
    default: code = RM_EIO, what = "call failed"; break;
    }
    rm_error_set(err, code, NULL, "server %s: %s (gRPC status %d): %s", c->address, what, (int)st,
                 d && *d ? d : "no details");
    gpr_free(d);
    return code;
}

/* ------------------------------------------------------------ unary calls --- */

/* One unary call; `md_key` (may be NULL): copies that initial-metadata
 * value of the reply into md_val (cap bytes, "" if absent). */
static int unary_md(rm_client *c, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *rd, ProtobufCMessage **resp, const char *md_key, char *md_val,
                    size_t cap, rm_error *err)
{
    *resp = NULL;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice m = grpc_slice_from_static_string(method);
    grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                               after(c->deadline_s), NULL);
    grpc_byte_buffer *send = rmg_pack(req), *recv = NULL;
    grpc_metadata md;
    grpc_metadata_array trailing, initial;
    grpc_metadata_array_init(&trailing);
    grpc_metadata_array_init(&initial);
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    int rc = 0;
    if (!call || !send) {
        rc = rm_error_set(err, RM_ENOMEM, NULL, "server %s: out of memory", c->address);
        goto out;
    }
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->auth) {
        md.key = grpc_slice_from_static_string("authorization");
        md.value = grpc_slice_from_static_string(c->auth);
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = &md;
    }
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.status = &st;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    if (grpc_call_start_batch(call, ops, 6, (void *)1, NULL) != GRPC_CALL_OK) {
        rc = rm_error_set(err, RM_EINTERNAL, NULL, "server %s: cannot start the call", c->address);
        goto out;
    }
    grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (st != GRPC_STATUS_OK) {
        rc = status_error(c, st, details, err);
        goto out;
    }
    for (size_t i = 0; md_key && i < initial.count; i++)
        if (grpc_slice_str_cmp(initial.metadata[i].key, md_key) == 0) {
            size_t n = GRPC_SLICE_LENGTH(initial.metadata[i].value);
            if (n >= cap) n = cap - 1;
            memcpy(md_val, GRPC_SLICE_START_PTR(initial.metadata[i].value), n);
            md_val[n] = '\0';
        }
    *resp = recv ? rmg_unpack(recv, rd) : NULL;
    if (!*resp) rc = rm_error_set(err, RM_EIO, NULL, "server %s: the reply is not a valid %s", c->address, rd->name);
out:
    if (call) grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    if (send) grpc_byte_buffer_destroy(send);
    if (recv) grpc_byte_buffer_destroy(recv);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&trailing);
    grpc_metadata_array_destroy(&initial);
    return rc;
}

static int unary(rm_client *c, const char *method, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *rd, ProtobufCMessage **resp, rm_error *err)
{
    return unary_md(c, method, req, rd, resp, NULL, NULL, 0, err);
}

int rm_client_load(rm_client *c, int *serving, long *active, rm_error *err)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)"";
    ProtobufCMessage *r;
    char val[32] = "";
    *serving = 0;
    *active = -1;
    int rc = unary_md(c, "/grpc.health.v1.Health/Check", &req.base,
                      &grpc__health__v1__health_check_response__descriptor, &r, RMG_LOAD_METADATA, val, sizeof val,
                      err);
    if (rc) return rc;
    *serving = ((Grpc__Health__V1__HealthCheckResponse *)r)->status ==
               GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    protobuf_c_message_free_unpacked(r, NULL);
    char *end;
    long v = strtol(val, &end, 10);
    if (*val && !*end && v >= 0) *active = v;
    return 0;
}

int rm_client_health(rm_client *c, const char *service, int *serving, rm_error *err)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)(service ? service : "");
    ProtobufCMessage *r;
    *serving = 0;
    int rc = unary(c, "/grpc.health.v1.Health/Check", &req.base, &grpc__health__v1__health_check_response__descriptor,
                   &r, err);
    if (rc) return rc;
    *serving = ((Grpc__Health__V1__HealthCheckResponse *)r)->status ==
               GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    protobuf_c_message_free_unpacked(r, NULL);
    return 0;
}

int rm_client_version(rm_client *c, char **json, rm_error *err)
{
    Remotemedia__V1__VersionRequest req = REMOTEMEDIA__V1__VERSION_REQUEST__INIT;
    req.client_version = (char *)"v1";
    ProtobufCMessage *r;
    *json = NULL;
    int rc = unary(c, "/remotemedia.v1.PipelineExecutionService/GetVersion", &req.base,
                   &remotemedia__v1__version_response__descriptor, &r, err);
    if (rc) return rc;
    Remotemedia__V1__VersionResponse *v = (Remotemedia__V1__VersionResponse *)r;
    json_t *o = json_object(), *types = json_array();
    const Remotemedia__V1__VersionInfo *vi = v->version_info;
    json_object_set_new(o, "server", json_string(c->address));
    json_object_set_new(o, "protocol_version", json_string(vi && vi->protocol_version ? vi->protocol_version : ""));
    json_object_set_new(o, "runtime_version", json_string(vi && vi->runtime_version ? vi->runtime_version : ""));
    for (size_t i = 0; vi && i < vi->n_supported_node_types; i++)
        json_array_append_new(types, json_string(vi->supported_node_types[i]));
    json_object_set_new(o, "node_types", types);
    json_object_set_new(o, "compatible", json_boolean(v->compatible));
    *json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    protobuf_c_message_free_unpacked(r, NULL);
    return *json ? 0 : rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
}

/* ------------------------------------------------------------- manifests --- */

/* Manifest JSON → PipelineManifest in the arena. */
static Remotemedia__V1__PipelineManifest *to_manifest(rmg_arena *a, const char *text, const rm_client *c,
                                                      rm_error *err)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    Remotemedia__V1__PipelineManifest *m = rmg_alloc(a, sizeof *m);
    Remotemedia__V1__ManifestMetadata *meta = rmg_alloc(a, sizeof *meta);
    if (!root || !m || !meta) {
        json_decref(root);
        rm_error_set(err, RM_EMANIFEST, NULL, "server %s: the manifest is not JSON: %s", c->address, je.text);
        return NULL;
    }
    remotemedia__v1__pipeline_manifest__init(m);
    remotemedia__v1__manifest_metadata__init(meta);
    const char *v = json_string_value(json_object_get(root, "version"));
    m->version = rmg_strdup(a, v ? v : "v1");
    json_t *md = json_object_get(root, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *desc = json_string_value(json_object_get(md, "description"));
    meta->name = rmg_strdup(a, name ? name : "");
    meta->description = rmg_strdup(a, desc ? desc : "");
    m->metadata = meta;
    json_t *nodes = json_object_get(root, "nodes"), *conns = json_object_get(root, "connections");
    m->n_nodes = json_array_size(nodes);
    m->nodes = rmg_alloc(a, (m->n_nodes + 1) * sizeof *m->nodes);
    m->n_connections = json_array_size(conns);
    m->connections = rmg_alloc(a, (m->n_connections + 1) * sizeof *m->connections);
    int ok = m->nodes && m->connections;
    for (size_t i = 0; ok && i < m->n_nodes; i++) {
        json_t *n = json_array_get(nodes, i);
        Remotemedia__V1__NodeManifest *nm = rmg_alloc(a, sizeof *nm);
        if (!(ok = nm != NULL)) break;
        remotemedia__v1__node_manifest__init(nm);
        const char *id = json_string_value(json_object_get(n, "id"));
        const char *type = json_string_value(json_object_get(n, "node_type"));
        json_t *p = json_object_get(n, "params");
        char *ps = p ? json_dumps(p, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        nm->id = rmg_strdup(a, id ? id : "");
        nm->node_type = rmg_strdup(a, type ? type : "");
        nm->params = rmg_strdup(a, ps ? ps : "");
        free(ps);
        m->nodes[i] = nm;
    }
    for (size_t i = 0; ok && i < m->n_connections; i++) {
        json_t *x = json_array_get(conns, i);
        Remotemedia__V1__Connection *cn = rmg_alloc(a, sizeof *cn);
        if (!(ok = cn != NULL)) break;
        remotemedia__v1__connection__init(cn);
        const char *f = json_string_value(json_object_get(x, "from"));
        const char *t = json_string_value(json_object_get(x, "to"));
        cn->from = rmg_strdup(a, f ? f : "");
        cn->to = rmg_strdup(a, t ? t : "");
        m->connections[i] = cn;
    }
    json_decref(root);
    if (!ok) rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    return ok ? m : NULL;
}

/* Remote error reply → rm_error naming the endpoint and the node. */
static int reply_error(const rm_client *c, const Remotemedia__V1__ErrorResponse *e, rm_error *err)
{
    int code = e->error_type == REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION ||
                       e->error_type == REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_TYPE_VALIDATION
                   ? RM_EMANIFEST
               : e->error_type == REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_RESOURCE_LIMIT ? RM_ELIMIT
               : e->error_type == REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_AUTHENTICATION ? RM_EINVAL
                                                                             : RM_ENODE;
    const char *node = e->failing_node_id && *e->failing_node_id ? e->failing_node_id : NULL;
    return rm_error_set(err, code, node, "server %s: %s%s%s%s", c->address, node ? "node '" : "", node ? node : "",
                        node ? "': " : "", e->message ? e->message : "error");
}

/* One output buffer → a frame appended to the list (the message stays alive
 * while frames use its bytes). */
static int add_output(const rm_client *c, rmg_msg *owner, const char *node, const Remotemedia__V1__DataBuffer *b,
                      unsigned long long seq, rm_client_output **outs, size_t *n, rm_error *err)
{
    rm_frame *f = rmg_buffer_to_frame(b, owner, node, err);
    if (!f) return err ? (err->code ? err->code : RM_EIO) : RM_EIO;
    char *port = rmg_frame_take_origin(f);
    rm_client_output *p = realloc(*outs, (*n + 1) * sizeof *p);
    char *id = strdup(node);
    if (!p || !id) {
        free(id);
        free(port);
        if (p) *outs = p;
        rm_frame_unref(f);
        return rm_error_set(err, RM_ENOMEM, NULL, "server %s: out of memory", c->address);
    }
    *outs = p;
    p[*n].node_id = id;
    p[*n].frame = f;
    p[*n].sequence = seq;
    p[*n].port = port;
    (*n)++;
    return 0;
}

static char *metrics_json(const Remotemedia__V1__ExecutionMetrics *m)
{
    if (!m) return NULL;
    json_t *o = json_object(), *nodes = json_object();
    json_object_set_new(o, "wall_time_ms", json_real(m->wall_time_ms));
    json_object_set_new(o, "cpu_time_ms", json_real(m->cpu_time_ms));
    json_object_set_new(o, "memory_used_bytes", json_integer((json_int_t)m->memory_used_bytes));
    for (size_t i = 0; i < m->n_node_metrics; i++) {
        const Remotemedia__V1__NodeMetrics *nm = m->node_metrics[i]->value;
        if (!nm) continue;
        /* the server's own node metrics (custom_metrics: stats, counts, timings) as
         * `rmedia run --metrics` writes them, plus the two proto fields */
        json_t *n = nm->custom_metrics && *nm->custom_metrics ? json_loads(nm->custom_metrics, 0, NULL) : NULL;
        if (!json_is_object(n)) {
            json_decref(n);
            n = json_object();
        }
        json_object_set_new(n, "execution_time_ms", json_real(nm->execution_time_ms));
        json_object_set_new(n, "items_processed", json_integer((json_int_t)nm->items_processed));
        json_object_set_new(nodes, m->node_metrics[i]->key, n);
    }
    json_object_set_new(o, "node_metrics", nodes);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

void rm_client_output_clear(rm_client_output *o)
{
    free(o->node_id);
    free(o->port);
    rm_frame_unref(o->frame);
    memset(o, 0, sizeof *o);
}

void rm_client_result_free(rm_client_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_outputs; i++) rm_client_output_clear(&r->outputs[i]);
    free(r->outputs);
    free(r->metrics_json);
    memset(r, 0, sizeof *r);
}

/* Frames → a map of DataBuffers keyed by node id (in the arena). */
static int input_map(rmg_arena *a, const rm_client *c, const char *const *ids, const rm_frame *const *frames,
                     size_t n, Remotemedia__V1__ExecuteRequest__DataInputsEntry ***out, rm_error *err)
{
    *out = rmg_alloc(a, (n + 1) * sizeof **out);
    if (!*out) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        Remotemedia__V1__ExecuteRequest__DataInputsEntry *e = rmg_alloc(a, sizeof *e);
        Remotemedia__V1__DataBuffer *b = rmg_frames_to_buffer(a, &frames[i], 1, &why);
        if (!e || !b)
            return rm_error_set(err, RM_EINVAL, ids[i], "server %s: input for node '%s' cannot be sent: %s",
                                c->address, ids[i], why ? why : "out of memory");
        remotemedia__v1__execute_request__data_inputs_entry__init(e);
        e->key = rmg_strdup(a, ids[i]);
        e->value = b;
        (*out)[i] = e;
    }
    return 0;
}

int rm_client_execute(rm_client *c, const char *manifest_json, const char *const *ids,
                      const rm_frame *const *frames, size_t n, rm_client_result *res, rm_error *err)
{
    memset(res, 0, sizeof *res);
    rmg_arena a = {0};
    Remotemedia__V1__ExecuteRequest req = REMOTEMEDIA__V1__EXECUTE_REQUEST__INIT;
    req.client_version = (char *)"v1";
    req.manifest = to_manifest(&a, manifest_json, c, err);
    int rc = req.manifest ? input_map(&a, c, ids, frames, n, &req.data_inputs, err) : RM_EMANIFEST;
    req.n_data_inputs = n;
    ProtobufCMessage *r = NULL;
    if (rc == 0)
        rc = unary(c, "/remotemedia.v1.PipelineExecutionService/ExecutePipeline", &req.base,
                   &remotemedia__v1__execute_response__descriptor, &r, err);
    rmg_arena_free(&a);
    if (rc) return rc;
    Remotemedia__V1__ExecuteResponse *resp = (Remotemedia__V1__ExecuteResponse *)r;
    if (resp->outcome_case == REMOTEMEDIA__V1__EXECUTE_RESPONSE__OUTCOME_ERROR) {
        rc = reply_error(c, resp->error, err);
        protobuf_c_message_free_unpacked(r, NULL);
        return rc;
    }
    rmg_msg *owner = rmg_msg_new(r);
    if (!owner) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    const Remotemedia__V1__ExecutionResult *x = resp->result;
    for (size_t i = 0; x && rc == 0 && i < x->n_data_outputs; i++)
        rc = add_output(c, owner, x->data_outputs[i]->key, x->data_outputs[i]->value, 0, &res->outputs,
                        &res->n_outputs, err);
    if (x) res->metrics_json = metrics_json(x->metrics);
    rmg_msg_unref(owner);
    if (rc) rm_client_result_free(res);
    return rc;
}

/* ---------------------------------------------------------------- streams --- */

struct rm_client_stream {
    rm_client *c;
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_byte_buffer *recv; /* the pending receive's target */
    int recv_pending, ended, closed_sent, ready, got_initial;
    grpc_status_code st;
    grpc_slice details;
    grpc_metadata_array trailing, initial;
    grpc_metadata md;
    rm_client_output *queue; /* outputs of one received ChunkResult not yet polled */
    size_t q_n, q_pos;
    char *final_metrics;
    rm_error end_err; /* a StreamResponse error */
    int end_code;
};

enum { TAG_START = 1, TAG_SEND, TAG_RECV, TAG_STATUS };
static int recv_one(rm_client_stream *s, double timeout_s);

static int start_recv(rm_client_stream *s)
{
    grpc_op op[2];
    memset(op, 0, sizeof op);
    size_t n = 0;
    if (!s->got_initial) { /* a client receives messages only after the initial metadata */
        op[n++].op = GRPC_OP_RECV_INITIAL_METADATA;
        op[0].data.recv_initial_metadata.recv_initial_metadata = &s->initial;
        s->got_initial = 1;
    }
    op[n].op = GRPC_OP_RECV_MESSAGE;
    op[n++].data.recv_message.recv_message = &s->recv;
    s->recv = NULL;
    if (grpc_call_start_batch(s->call, op, n, (void *)TAG_RECV, NULL) != GRPC_CALL_OK) return -1;
    s->recv_pending = 1;
    return 0;
}

static int send_msg(rm_client_stream *s, const ProtobufCMessage *m, rm_error *err)
{
    grpc_byte_buffer *bb = rmg_pack(m);
    if (!bb) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    grpc_call_error ce = grpc_call_start_batch(s->call, &op, 1, (void *)TAG_SEND, NULL);
    grpc_event ev = {0};
    if (ce == GRPC_CALL_OK) ev = grpc_completion_queue_pluck(s->cq, (void *)TAG_SEND, after(s->c->deadline_s), NULL);
    grpc_byte_buffer_destroy(bb);
    if (ce != GRPC_CALL_OK || ev.type != GRPC_OP_COMPLETE || !ev.success) {
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            grpc_call_cancel(s->call, NULL);
            grpc_completion_queue_pluck(s->cq, (void *)TAG_SEND, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
            return rm_error_set(err, RM_ETIMEDOUT, NULL, "server %s: deadline exceeded (%.1f s) sending to the stream",
                                s->c->address, s->c->deadline_s);
        }
        /* the reason is in the call's status */
        return rm_error_set(err, RM_EIO, NULL, "server %s: the stream was closed by the server", s->c->address);
    }
    return 0;
}

/* Waits for the final status (after the server ended the call). */
static int finish(rm_client_stream *s, rm_error *err)
{
    if (!s->ended) {
        grpc_completion_queue_pluck(s->cq, (void *)TAG_STATUS, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        s->ended = 1;
    }
    if (s->end_code) {
        if (err) *err = s->end_err;
        return s->end_code;
    }
    if (s->st != GRPC_STATUS_OK) return status_error(s->c, s->st, s->details, err);
    return 0;
}

int rm_client_stream_open(rm_client *c, const char *manifest_json, rm_client_stream **out, rm_error *err)
{
    *out = NULL;
    rm_client_stream *s = calloc(1, sizeof *s);
    if (!s) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    s->c = c;
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->trailing);
    grpc_metadata_array_init(&s->initial);
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    s->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
                                       grpc_slice_from_static_string(
                                           "/remotemedia.v1.StreamingPipelineService/StreamPipeline"),
                                       NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    *out = s;
    if (!s->call) return rm_error_set(err, RM_ENOMEM, NULL, "server %s: cannot create a call", c->address);
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->auth) {
        s->md.key = grpc_slice_from_static_string("authorization");
        s->md.value = grpc_slice_from_static_string(c->auth);
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = &s->md;
    }
    ops[1].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[1].data.recv_status_on_client.status = &s->st;
    ops[1].data.recv_status_on_client.status_details = &s->details;
    ops[1].data.recv_status_on_client.trailing_metadata = &s->trailing;
    if (grpc_call_start_batch(s->call, &ops[0], 1, (void *)TAG_START, NULL) != GRPC_CALL_OK ||
        grpc_call_start_batch(s->call, &ops[1], 1, (void *)TAG_STATUS, NULL) != GRPC_CALL_OK) {
        s->ended = 1;
        return rm_error_set(err, RM_EINTERNAL, NULL, "server %s: cannot start the stream", c->address);
    }
    /* a server that accepts the connection but never answers must not hang us */
    grpc_event ev = grpc_completion_queue_pluck(s->cq, (void *)TAG_START, after(c->deadline_s), NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        grpc_call_cancel(s->call, NULL);
        grpc_completion_queue_pluck(s->cq, (void *)TAG_START, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        finish(s, NULL);
        return rm_error_set(err, RM_ETIMEDOUT, NULL, "server %s: deadline exceeded (%.1f s) opening the stream",
                            c->address, c->deadline_s);
    }
    rmg_arena a = {0};
    Remotemedia__V1__StreamInit init = REMOTEMEDIA__V1__STREAM_INIT__INIT;
    Remotemedia__V1__StreamRequest req = REMOTEMEDIA__V1__STREAM_REQUEST__INIT;
    init.client_version = (char *)"v1";
    init.manifest = to_manifest(&a, manifest_json, c, err);
    req.request_case = REMOTEMEDIA__V1__STREAM_REQUEST__REQUEST_INIT;
    req.init = &init;
    int rc = init.manifest ? send_msg(s, &req.base, err) : RM_EMANIFEST;
    rmg_arena_free(&a);
    if (rc == 0 && start_recv(s) != 0) rc = rm_error_set(err, RM_EINTERNAL, NULL, "server %s: receive failed", c->address);
    if (rc) {
        if (rc == RM_EIO) {
            grpc_call_cancel(s->call, NULL);
            rc = finish(s, err);
            if (!rc) rc = rm_error_set(err, RM_EIO, NULL, "server %s: the stream ended at once", c->address);
        }
        return rc;
    }
    /* wait for StreamReady (or the error that says why not) */
    int got = 1;
    while (!s->ready && got == 1) got = recv_one(s, c->deadline_s);
    if (got == 0) {
        rm_client_stream_cancel(s);
        finish(s, NULL);
        return rm_error_set(err, RM_ETIMEDOUT, NULL, "server %s: deadline exceeded waiting for the stream to start",
                            c->address);
    }
    if (got == 2 || s->end_code) {
        rc = finish(s, err);
        return rc ? rc : rm_error_set(err, RM_EIO, NULL, "server %s: the stream ended at once", c->address);
    }
    return 0;
}

int rm_client_stream_push(rm_client_stream *s, const char *node_id, const rm_frame *f, unsigned long long seq,
                          rm_error *err)
{
    return rm_client_stream_push_port(s, node_id, NULL, f, seq, err);
}

int rm_client_stream_push_port(rm_client_stream *s, const char *node_id, const char *port, const rm_frame *f,
                               unsigned long long seq, rm_error *err)
{
    if (s->ended || s->closed_sent)
        return rm_error_set(err, RM_ESTATE, NULL, "server %s: the stream is closed", s->c->address);
    rmg_arena a = {0};
    const char *why = NULL;
    Remotemedia__V1__DataChunk chunk = REMOTEMEDIA__V1__DATA_CHUNK__INIT;
    Remotemedia__V1__StreamRequest req = REMOTEMEDIA__V1__STREAM_REQUEST__INIT;
    chunk.node_id = (char *)node_id;
    chunk.sequence = seq;
    Remotemedia__V1__DataBuffer *b = rmg_frames_to_buffer(&a, &f, 1, &why);
    Remotemedia__V1__DataChunk__NamedBuffersEntry named = REMOTEMEDIA__V1__DATA_CHUNK__NAMED_BUFFERS_ENTRY__INIT;
    Remotemedia__V1__DataChunk__NamedBuffersEntry *np = &named;
    if (port) {
        named.key = (char *)port;
        named.value = b;
        chunk.named_buffers = &np;
        chunk.n_named_buffers = 1;
    } else {
        chunk.buffer = b;
    }
    req.request_case = REMOTEMEDIA__V1__STREAM_REQUEST__REQUEST_DATA_CHUNK;
    req.data_chunk = &chunk;
    int rc = b ? send_msg(s, &req.base, err)
                          : rm_error_set(err, RM_EINVAL, node_id, "input for node '%s' cannot be sent: %s", node_id,
                                         why ? why : "out of memory");
    rmg_arena_free(&a);
    if (rc == RM_EIO) { /* the server ended the call: its status says why */
        int r2 = finish(s, err);
        if (r2) rc = r2;
    }
    return rc;
}

/* Receives and handles one message: 0 timeout, 1 handled, 2 no more messages. */
static int recv_one(rm_client_stream *s, double timeout_s)
{
    if (!s->recv_pending) return 2;
    /* A zero timeout must not wait: "now" as a deadline costs up to a
     * millisecond (the completion queue's timer resolution).  A deadline in
     * the past polls without blocking, but a message that has arrived needs
     * a few such polls to be read and parsed (no other thread polls for us):
     * one poll alone left every output to the final close. */
    gpr_timespec until = timeout_s > 0 ? after(timeout_s) : gpr_inf_past(GPR_CLOCK_MONOTONIC);
    grpc_event ev = grpc_completion_queue_pluck(s->cq, (void *)TAG_RECV, until, NULL);
    for (int i = 0; timeout_s <= 0 && ev.type == GRPC_QUEUE_TIMEOUT && i < 3; i++)
        ev = grpc_completion_queue_pluck(s->cq, (void *)TAG_RECV, until, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) return 0;
    s->recv_pending = 0;
    if (!s->recv) return 2; /* end of the server's messages */
    ProtobufCMessage *m = rmg_unpack(s->recv, &remotemedia__v1__stream_response__descriptor);
    grpc_byte_buffer_destroy(s->recv);
    s->recv = NULL;
    if (!m) {
        rm_client_stream_cancel(s);
        s->end_code = rm_error_set(&s->end_err, RM_EIO, NULL, "server %s: a reply is not a StreamResponse",
                                   s->c->address);
        return 1;
    }
    Remotemedia__V1__StreamResponse *r = (Remotemedia__V1__StreamResponse *)m;
    int kept = 0;
    switch (r->response_case) {
    case REMOTEMEDIA__V1__STREAM_RESPONSE__RESPONSE_RESULT: {
        rmg_msg *owner = rmg_msg_new(m);
        kept = 1;
        if (!owner) break;
        const Remotemedia__V1__ChunkResult *x = r->result;
        for (size_t i = 0; i < x->n_data_outputs; i++)
            if (add_output(s->c, owner, x->data_outputs[i]->key, x->data_outputs[i]->value, x->sequence, &s->queue,
                           &s->q_n, &s->end_err) != 0 && !s->end_code)
                s->end_code = s->end_err.code;
        rmg_msg_unref(owner);
        break;
    }
    case REMOTEMEDIA__V1__STREAM_RESPONSE__RESPONSE_ERROR:
        if (!s->end_code) s->end_code = reply_error(s->c, r->error, &s->end_err);
        break;
    case REMOTEMEDIA__V1__STREAM_RESPONSE__RESPONSE_CLOSED:
        free(s->final_metrics);
        s->final_metrics = metrics_json(r->closed->final_metrics);
        break;
    case REMOTEMEDIA__V1__STREAM_RESPONSE__RESPONSE_READY: s->ready = 1; break;
    default: break; /* metrics */
    }
    if (!kept) protobuf_c_message_free_unpacked(m, NULL);
    if (start_recv(s) != 0) s->recv_pending = 0;
    return 1;
}

int rm_client_stream_poll(rm_client_stream *s, double timeout_s, rm_client_output *out, rm_error *err)
{
    for (;;) {
        if (s->q_pos < s->q_n) {
            *out = s->queue[s->q_pos++];
            return 1;
        }
        free(s->queue);
        s->queue = NULL;
        s->q_n = s->q_pos = 0;
        int r = recv_one(s, timeout_s);
        if (r == 0) return 0;
        if (r == 2) {
            int rc = finish(s, err);
            return rc ? rc : 2;
        }
    }
}

int rm_client_stream_close(rm_client_stream *s, rm_client_output_fn fn, void *user, char **metrics, rm_error *err)
{
    if (metrics) *metrics = NULL;
    if (!s->closed_sent && !s->ended) {
        s->closed_sent = 1;
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        if (grpc_call_start_batch(s->call, &op, 1, (void *)TAG_SEND, NULL) == GRPC_CALL_OK)
            grpc_completion_queue_pluck(s->cq, (void *)TAG_SEND, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    }
    rm_client_output o;
    int rc;
    while ((rc = rm_client_stream_poll(s, s->c->deadline_s, &o, err)) == 1) {
        if (fn) fn(user, &o);
        rm_client_output_clear(&o);
    }
    if (rc == 0) {
        rm_client_stream_cancel(s);
        finish(s, NULL);
        return rm_error_set(err, RM_ETIMEDOUT, NULL, "server %s: deadline exceeded waiting for the stream's outputs",
                            s->c->address);
    }
    if (metrics) {
        *metrics = s->final_metrics;
        s->final_metrics = NULL;
    }
    return rc == 2 ? 0 : rc;
}

void rm_client_stream_cancel(rm_client_stream *s)
{
    if (s && s->call) grpc_call_cancel(s->call, NULL);
}

void rm_client_stream_free(rm_client_stream *s)
{
    if (!s) return;
    if (s->call) {
        if (!s->ended) grpc_call_cancel(s->call, NULL);
        /* every started batch completes before the queue goes */
        if (s->recv_pending)
            grpc_completion_queue_pluck(s->cq, (void *)TAG_RECV, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        s->recv_pending = 0;
        if (!s->ended) finish(s, NULL);
        grpc_call_unref(s->call);
    }
    if (s->recv) grpc_byte_buffer_destroy(s->recv);
    for (size_t i = s->q_pos; i < s->q_n; i++) rm_client_output_clear(&s->queue[i]);
    free(s->queue);
    free(s->final_metrics);
    grpc_completion_queue_shutdown(s->cq);
    grpc_completion_queue_destroy(s->cq);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->trailing);
    grpc_metadata_array_destroy(&s->initial);
    free(s);
}
