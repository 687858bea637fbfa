/* rmw: the JavaScript-facing C API of remotemedia.wasm; see rmw.h. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "remotemedia/nodes.h"
#include "rmw.h"
#include "remotemedia/remotemedia.h"

#if defined(__wasm__)
#define RMW_EXPORT(name) __attribute__((export_name(#name))) name
#else /* native: tests/wasm/test_rmw.c checks the ownership rules under ASan */
#define RMW_EXPORT(name) name
#endif

/* A NUL-terminated copy of a (pointer, length) string from JS; NULL stays NULL. */
static char *dupn(const char *s, size_t n)
{
    if (!s) return NULL;
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

static char *last_error;

static void set_error(const char *msg)
{
    free(last_error);
    if (!msg) msg = "";
    last_error = dupn(msg, strlen(msg));
}

static int fail_err(const rm_error *e, int rc)
{
    char text[sizeof e->message + 160];
    if (e->code && e->node_id[0])
        snprintf(text, sizeof text, "node '%s': %s (%s)", e->node_id, e->message, rm_err_name(e->code));
    else if (e->code) snprintf(text, sizeof text, "%s (%s)", e->message, rm_err_name(e->code));
    else snprintf(text, sizeof text, "%s (%s)", rm_strerror(rc), rm_err_name(rc));
    set_error(text);
    return e->code ? e->code : rc;
}

static int fail(int rc, const char *msg)
{
    rm_error e;
    rm_error_clear(&e);
    rm_error_set(&e, rc, NULL, "%s", msg);
    return fail_err(&e, rc);
}

const char *RMW_EXPORT(rmw_error)(void) { return last_error ? last_error : ""; }
const char *RMW_EXPORT(rmw_version)(void) { return rm_version(); }
void *RMW_EXPORT(rmw_alloc)(size_t n) { return malloc(n ? n : 1); }
void RMW_EXPORT(rmw_free)(void *p) { free(p); }

/* ----------------------------------------------------------- runtime --- */

rm_runtime *RMW_EXPORT(rmw_runtime_new)(void)
{
    rm_runtime *rt = NULL;
    rm_error e;
    rm_error_clear(&e);
    int rc = rm_runtime_new_with_builtins(NULL, &rt, &e);
    if (rc) {
        fail_err(&e, rc);
        return NULL;
    }
    return rt;
}

static void external_free_all(const rm_runtime *rt);

void RMW_EXPORT(rmw_runtime_free)(rm_runtime *rt)
{
    rm_runtime_free(rt);
    external_free_all(rt); /* after: the runtime borrowed the descriptors */
}

/* [describe(type), ...] for every registered node type. */
char *RMW_EXPORT(rmw_nodes_json)(rm_runtime *rt)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < rm_runtime_node_type_count(rt); i++) {
        char *s = rm_node_type_describe_json(rm_runtime_node_type_at(rt, i));
        json_t *v = s ? json_loads(s, 0, NULL) : NULL;
        free(s);
        if (v) json_array_append_new(arr, v);
    }
    char *out = arr ? rm_json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return out;
}

char *RMW_EXPORT(rmw_inspect_json)(rm_runtime *rt, const char *name, size_t len)
{
    char *n = dupn(name, len);
    const rm_node_type *t = n ? rm_runtime_find_node_type(rt, n) : NULL;
    if (!t) {
        char msg[300];
        const char *sug = n ? rm_runtime_suggest_node_type(rt, n) : NULL;
        if (sug) snprintf(msg, sizeof msg, "unknown node type '%s' (did you mean '%s'?)", n ? n : "", sug);
        else snprintf(msg, sizeof msg, "unknown node type '%s'", n ? n : "");
        fail(RM_ENOTFOUND, msg);
        free(n);
        return NULL;
    }
    free(n);
    return rm_node_type_describe_json(t);
}

char *RMW_EXPORT(rmw_schema_json)(rm_runtime *rt) { return rm_runtime_manifest_schema(rt); }

/* ------------------------------------------------------------- graphs --- */

/* Compiles manifest text (JSON or YAML, told apart by content) shown as
 * `name` in diagnostics.  On failure returns NULL and rmw_error() holds every
 * diagnostic, one per line, exactly as `rmedia validate` prints them.  On
 * success rmw_error() holds the warnings (possibly ""). */
rm_graph *RMW_EXPORT(rmw_graph_from_text)(rm_runtime *rt, const char *text, size_t len, const char *name,
                                          size_t name_len)
{
    char *nm = dupn(name, name_len);
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    int rc = d ? rm_graph_load_string(rt, text, len, nm ? nm : "manifest", NULL, &g, d) : RM_ENOMEM;
    char *s = d ? rm_diags_to_string(d) : NULL;
    if (rc && (!s || !*s)) fail(rc, "the manifest could not be loaded");
    else set_error(s ? s : "");
    free(s);
    rm_diags_free(d);
    free(nm);
    return rc ? NULL : g;
}

void RMW_EXPORT(rmw_graph_free)(rm_graph *g) { rm_graph_unref(g); }

/* {"name", "nodes", "sources", "sinks": [ids]}; caller frees. */
char *RMW_EXPORT(rmw_graph_summary)(rm_graph *g)
{
    json_t *sinks = json_array();
    for (size_t i = 0; i < rm_graph_sink_count(g); i++)
        json_array_append_new(sinks, json_string(rm_graph_node_id(g, rm_graph_sink(g, i))));
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:o}", "name", rm_graph_name(g), "nodes",
                          (json_int_t)rm_graph_node_count(g), "sources", (json_int_t)rm_graph_source_count(g),
                          "sink_count", (json_int_t)rm_graph_sink_count(g), "sinks", sinks);
    char *out = o ? rm_json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return out;
}

/* ----------------------------------------------------------- sessions --- */

struct rmw_output {
    struct rmw_output *next;
    /* the session's strings (the graph's node id, the type's port name):
     * no copy per output, valid while the graph lives */
    const char *node_id, *port;
    rm_frame *frame;
    char *text; /* JSON dumped by rmw_session_drain, freed with the output */
};

struct rmw_session {
    rm_session *s;
    rmw_output *head, *tail; /* produced, not yet taken */
    size_t count;
    uint64_t audio_seq; /* sequence numbers of pushed audio frames */
    rmw_output *drained;   /* what the last rmw_session_drain described */
    rmw_out_table *table;  /* its descriptor table, reused */
    size_t table_cap;      /* descriptors it has room for */
};

static void on_output(void *user, const char *node_id, const char *port, const rm_frame *frame)
{
    rmw_session *ws = user;
    rmw_output *o = malloc(sizeof *o);
    if (!o) return; /* out of memory: the output is lost */
    *o = (rmw_output){NULL, node_id ? node_id : "", port ? port : "", rm_frame_ref(frame), NULL};
    if (ws->tail) ws->tail->next = o;
    else ws->head = o;
    ws->tail = o;
    ws->count++;
}

void RMW_EXPORT(rmw_output_free)(rmw_output *o)
{
    if (!o) return;
    rm_frame_unref(o->frame);
    free(o->text);
    free(o);
}

static void free_list(rmw_output *o)
{
    while (o) {
        rmw_output *next = o->next;
        rmw_output_free(o);
        o = next;
    }
}

rmw_session *RMW_EXPORT(rmw_session_open)(rm_graph *g)
{
    rmw_session *ws = calloc(1, sizeof *ws);
    if (!ws) {
        fail(RM_ENOMEM, "out of memory");
        return NULL;
    }
    rm_session_opts o = {0};
    o.on_output = on_output;
    o.output_user = ws;
    rm_error e;
    rm_error_clear(&e);
    int rc = rm_session_open(g, &o, &ws->s, &e);
    if (rc) {
        fail_err(&e, rc);
        free(ws);
        return NULL;
    }
    return ws;
}

static int push(rmw_session *ws, const char *node, size_t node_len, rm_frame *f)
{
    if (!f) return fail(RM_ENOMEM, "out of memory or invalid frame");
    int rc;
    if (node) {
        char *n = dupn(node, node_len);
        rc = n ? rm_session_push_to(ws->s, n, NULL, f) : RM_ENOMEM;
        free(n);
    } else {
        rc = rm_session_push(ws->s, f);
    }
    rm_frame_unref(f);
    if (rc) {
        rm_error e = *rm_session_error(ws->s);
        return fail_err(&e, rc);
    }
    return 0;
}

static void release_heap(void *data, void *user)
{
    (void)user;
    free(data);
}

/* A timestamp from JavaScript, which may pass any double: negative or NaN
 * is none; past RM_TS_MAX it is clamped (converting a double beyond int64 is
 * undefined in C, and nodes add durations to timestamps). */
static int64_t ts_of(double timestamp_us)
{
    if (!(timestamp_us >= 0)) return RM_TS_NONE;
    return timestamp_us < (double)RM_TS_MAX ? (int64_t)timestamp_us : RM_TS_MAX;
}

/* Audio: `data` (from rmw_alloc, ownership passes here) holds frames ×
 * channels interleaved samples of `format` (1 f32, 2 s16, 3 s32).  `node`
 * NULL pushes into every source node.  `timestamp_us` < 0: none. */
int RMW_EXPORT(rmw_session_push_audio)(rmw_session *ws, const char *node, size_t node_len, int format,
                                       uint32_t rate, uint32_t channels, void *data, size_t frames,
                                       double timestamp_us)
{
    rm_frame *f = rm_frame_wrap_audio((rm_sample_format)format, rate, channels, frames, data, release_heap, NULL);
    if (!f) {
        free(data);
        return fail(RM_EINVAL, "invalid audio frame (format, rate, channels or length)");
    }
    f->timestamp_us = ts_of(timestamp_us);
    f->sequence = ws->audio_seq++;
    return push(ws, node, node_len, f);
}

int RMW_EXPORT(rmw_session_push_json)(rmw_session *ws, const char *node, size_t node_len, const char *text,
                                      size_t len)
{
    char msg[256] = "";
    rm_frame *f = rm_frame_new_json_text(text, len, msg, sizeof msg);
    if (!f) return fail(RM_EPARSE, msg[0] ? msg : "invalid JSON");
    return push(ws, node, node_len, f);
}

int RMW_EXPORT(rmw_session_push_text)(rmw_session *ws, const char *node, size_t node_len, const char *text,
                                      size_t len)
{
    rm_frame *f = rm_frame_new_text(text, len);
    if (!f) return fail(RM_EINVAL, "text is not valid UTF-8 or memory ran out");
    return push(ws, node, node_len, f);
}

/* End of stream: flushes every node; the session takes no more pushes. */
int RMW_EXPORT(rmw_session_flush)(rmw_session *ws)
{
    int rc = rm_session_end(ws->s);
    if (rc) {
        rm_error e = *rm_session_error(ws->s);
        return fail_err(&e, rc);
    }
    return 0;
}

/* Barge-in: drops queued frames and outputs not yet taken, resets nodes. */
int RMW_EXPORT(rmw_session_cancel)(rmw_session *ws)
{
    int rc = rm_session_reset(ws->s);
    free_list(ws->head);
    ws->head = ws->tail = NULL;
    ws->count = 0;
    if (rc) {
        rm_error e = *rm_session_error(ws->s);
        return fail_err(&e, rc);
    }
    return 0;
}

char *RMW_EXPORT(rmw_metrics_json)(rmw_session *ws) { return rm_session_metrics_json(ws->s); }

void RMW_EXPORT(rmw_session_close)(rmw_session *ws)
{
    if (!ws) return;
    rm_session_close(ws->s); /* does not flush: no output arrives after this */
    free_list(ws->head);
    free_list(ws->drained);
    free(ws->table);
    free(ws);
}

static int matches(const rmw_output *o, const char *sink, size_t sl, const char *port, size_t pl)
{
    if (sink && (strlen(o->node_id) != sl || memcmp(o->node_id, sink, sl))) return 0;
    if (port && (strlen(o->port) != pl || memcmp(o->port, port, pl))) return 0;
    return 1;
}

/* Outputs waiting from `sink` / `port` (NULL = any). */
size_t RMW_EXPORT(rmw_output_count)(rmw_session *ws, const char *sink, size_t sl, const char *port, size_t pl)
{
    size_t n = 0;
    for (rmw_output *o = ws->head; o; o = o->next) n += (size_t)matches(o, sink, sl, port, pl);
    return n;
}

/* Takes the oldest waiting output of `sink` / `port` (NULL = any), or NULL. */
rmw_output *RMW_EXPORT(rmw_output_take)(rmw_session *ws, const char *sink, size_t sl, const char *port,
                                        size_t pl)
{
    rmw_output *prev = NULL;
    for (rmw_output *o = ws->head; o; prev = o, o = o->next) {
        if (!matches(o, sink, sl, port, pl)) continue;
        if (prev) prev->next = o->next;
        else ws->head = o->next;
        if (ws->tail == o) ws->tail = prev;
        o->next = NULL;
        ws->count--;
        return o;
    }
    return NULL;
}

/* Every waiting output at once (one call per push instead of ~10 per
 * output): takes them all, frees what the previous drain described, and
 * returns the table (see rmw.h), or NULL when out of memory (the outputs
 * stay waiting).  JSON outputs are dumped here, as rmw_output_text does. */
const rmw_out_table *RMW_EXPORT(rmw_session_drain)(rmw_session *ws)
{
    free_list(ws->drained);
    ws->drained = NULL;
    if (ws->count > ws->table_cap || !ws->table) {
        size_t cap = ws->count > 8 ? ws->count : 8;
        rmw_out_table *t = malloc(sizeof *t + cap * sizeof t->item[0]);
        if (!t) {
            fail(RM_ENOMEM, "out of memory");
            return NULL;
        }
        free(ws->table);
        ws->table = t;
        ws->table_cap = cap;
    }
    rmw_out_table *t = ws->table;
    size_t n = 0;
    for (rmw_output *o = ws->head; o; o = o->next, n++) {
        const rm_frame *f = o->frame;
        rmw_out_desc *d = &t->item[n];
        *d = (rmw_out_desc){.kind = (int32_t)f->kind, .node = o->node_id, .port = o->port,
                            .timestamp_us = f->timestamp_us == RM_TS_NONE ? -1.0 : (double)f->timestamp_us};
        if (f->kind == RM_FRAME_AUDIO) {
            d->data = f->u.audio.data;
            d->size = (uint32_t)f->u.audio.frames;
            d->channels = f->u.audio.channels;
            d->rate = f->u.audio.rate;
            d->format = (int32_t)f->u.audio.format;
        } else if (f->kind == RM_FRAME_TEXT) {
            d->data = f->u.text.data;
            d->size = (uint32_t)f->u.text.len;
        } else if (f->kind == RM_FRAME_JSON) {
            o->text = rm_frame_json_dumps(f);
            d->data = o->text;
            d->size = o->text ? (uint32_t)strlen(o->text) : 0;
        }
    }
    t->count = (uint32_t)n;
    ws->drained = ws->head;
    ws->head = ws->tail = NULL;
    ws->count = 0;
    return t;
}

const char *RMW_EXPORT(rmw_output_node)(const rmw_output *o) { return o->node_id; }
const char *RMW_EXPORT(rmw_output_port)(const rmw_output *o) { return o->port; }
int RMW_EXPORT(rmw_output_kind)(const rmw_output *o) { return (int)o->frame->kind; }
double RMW_EXPORT(rmw_output_timestamp_us)(const rmw_output *o)
{
    return o->frame->timestamp_us == RM_TS_NONE ? -1.0 : (double)o->frame->timestamp_us;
}

/* JSON frames as compact JSON text (as the CLI prints them), text frames as
 * their text; other kinds NULL.  Caller frees. */
char *RMW_EXPORT(rmw_output_text)(const rmw_output *o)
{
    const rm_frame *f = o->frame;
    if (f->kind == RM_FRAME_TEXT) return dupn(f->u.text.data, f->u.text.len);
    if (f->kind == RM_FRAME_JSON) return rm_frame_json_dumps(f);
    return NULL;
}

void *RMW_EXPORT(rmw_output_audio_data)(const rmw_output *o)
{
    return o->frame->kind == RM_FRAME_AUDIO ? o->frame->u.audio.data : NULL;
}
size_t RMW_EXPORT(rmw_output_audio_frames)(const rmw_output *o)
{
    return o->frame->kind == RM_FRAME_AUDIO ? o->frame->u.audio.frames : 0;
}
uint32_t RMW_EXPORT(rmw_output_audio_channels)(const rmw_output *o)
{
    return o->frame->kind == RM_FRAME_AUDIO ? o->frame->u.audio.channels : 0;
}
uint32_t RMW_EXPORT(rmw_output_audio_rate)(const rmw_output *o)
{
    return o->frame->kind == RM_FRAME_AUDIO ? o->frame->u.audio.rate : 0;
}
int RMW_EXPORT(rmw_output_audio_format)(const rmw_output *o)
{
    return o->frame->kind == RM_FRAME_AUDIO ? (int)o->frame->u.audio.format : 0;
}

/* ----------------------------------------------------- external nodes --- */

#if defined(__wasm__)
__attribute__((import_module("rmw"), import_name("host_call"))) extern int
rmw_host_call(int host_type, int instance, int op, rm_node *node, const rmw_output *frame, const char *text,
              size_t len);
#else
static rmw_host_fn host_fn;
void rmw_set_host(rmw_host_fn fn) { host_fn = fn; }
static int rmw_host_call(int host_type, int instance, int op, rm_node *node, const rmw_output *frame,
                         const char *text, size_t len)
{
    return host_fn ? host_fn(host_type, instance, op, node, frame, text, len) : RM_ENOTSUP;
}
#endif

/* One registered external type: the descriptor the runtime borrows, with
 * its strings and parameter table, and the host's id for it. */
typedef struct ext_type {
    rm_node_type t; /* first: rm_node_type_of() is cast back to ext_type */
    rm_param_def params[2];
    const rm_runtime *rt;
    char *name, *doc;
    int host_type;
    struct ext_type *next;
} ext_type;

static ext_type *ext_types;

typedef struct {
    const json_t *args; /* every manifest parameter (RM_PARAM_REST) */
} ext_config;

typedef struct {
    int host_type;
    int instance; /* the host's id, > 0 once INIT succeeded */
} ext_state;

static const ext_type *ext_of(rm_node *node) { return (const ext_type *)rm_node_type_of(node); }

/* Set by rmw_node_fail: the host recorded its own message for the call. */
static int host_reported;

static int host(rm_node *node, int instance, int op, const rmw_output *frame, const char *text, size_t len)
{
    host_reported = 0;
    return rmw_host_call(ext_of(node)->host_type, instance, op, node, frame, text, len);
}

/* A host call that failed without rmw_node_fail still names the node. */
static int ext_result(rm_node *node, int rc, const char *what)
{
    if (rc >= 0) return 0;
    if (host_reported) return rc;
    return rm_node_fail(node, rc, "external node %s failed in %s", ext_of(node)->name, what);
}

static int ext_init(rm_node *node, void *state, const void *config)
{
    ext_state *st = state;
    const ext_config *c = config;
    char *params = rm_json_dumps(c->args ? c->args : json_object(), JSON_COMPACT);
    if (!params) return rm_node_fail(node, RM_ENOMEM, "out of memory");
    int rc = host(node, 0, RMW_HOST_INIT, NULL, params, strlen(params));
    free(params);
    if (rc > 0) {
        st->host_type = ext_of(node)->host_type;
        st->instance = rc;
        return 0;
    }
    return ext_result(node, rc ? rc : RM_EINVAL, "init");
}

static int ext_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    const ext_state *st = state;
    /* a borrowed view: the host reads it with the rmw_output_* accessors */
    rmw_output view = {NULL, rm_node_id(node), "in", (rm_frame *)f, NULL};
    return ext_result(node, host(node, st->instance, RMW_HOST_PROCESS, &view, NULL, 0), "process");
}

static int ext_flush(rm_node *node, void *state)
{
    const ext_state *st = state;
    return ext_result(node, host(node, st->instance, RMW_HOST_FLUSH, NULL, NULL, 0), "flush");
}

static int ext_reset(rm_node *node, void *state)
{
    const ext_state *st = state;
    return ext_result(node, host(node, st->instance, RMW_HOST_RESET, NULL, NULL, 0), "reset");
}

/* fini has no node handle: the host keys FINI by (host_type, instance). */
static void ext_fini(void *state)
{
    const ext_state *st = state;
    if (st->instance > 0) rmw_host_call(st->host_type, st->instance, RMW_HOST_FINI, NULL, NULL, NULL, 0);
}

static void ext_type_free(ext_type *x)
{
    free(x->name);
    free(x->doc);
    free(x);
}

static void external_free_all(const rm_runtime *rt)
{
    for (ext_type **pp = &ext_types; *pp;) {
        ext_type *x = *pp;
        if (x->rt == rt) {
            *pp = x->next;
            ext_type_free(x);
        } else {
            pp = &x->next;
        }
    }
}

int RMW_EXPORT(rmw_register_external)(rm_runtime *rt, const char *name, size_t name_len, const char *doc,
                                      size_t doc_len, int host_type)
{
    ext_type *x = calloc(1, sizeof *x);
    if (!x) return fail(RM_ENOMEM, "out of memory");
    x->name = dupn(name, name_len);
    x->doc = dupn(doc, doc_len);
    if (!x->name || !x->doc) {
        ext_type_free(x);
        return fail(RM_ENOMEM, "out of memory");
    }
    x->rt = rt;
    x->host_type = host_type;
    x->params[0] = (rm_param_def){"args", RM_PARAM_JSON, offsetof(ext_config, args),
                                  "the node's parameters (every key under params)", 0, "{}", 0, 0, NULL, NULL,
                                  RM_PARAM_REST};
    x->t = (rm_node_type){
        .abi_version = RM_NODE_ABI_VERSION,
        .name = x->name,
        .doc = x->doc,
        .family = "external",
        .params = x->params,
        .config_size = sizeof(ext_config),
        .state_size = sizeof(ext_state),
        .init = ext_init,
        .process = ext_process,
        .flush = ext_flush,
        .reset = ext_reset,
        .fini = ext_fini,
    };
    rm_error e;
    rm_error_clear(&e);
    int rc = rm_runtime_register(rt, &x->t, &e);
    if (rc) {
        ext_type_free(x);
        return fail_err(&e, rc);
    }
    x->next = ext_types;
    ext_types = x;
    return 0;
}

const char *RMW_EXPORT(rmw_node_id)(const rm_node *node) { return rm_node_id(node); }


static int emit(rm_node *node, rm_frame *f, double timestamp_us)
{
    f->timestamp_us = ts_of(timestamp_us);
    return rm_node_emit_take(node, 0, f);
}

int RMW_EXPORT(rmw_node_emit_json)(rm_node *node, const char *text, size_t len, double timestamp_us)
{
    char msg[256] = "";
    rm_frame *f = rm_frame_new_json_text(text, len, msg, sizeof msg);
    if (!f) return rm_node_fail(node, RM_EPARSE, "output is not JSON: %s", msg);
    return emit(node, f, timestamp_us);
}

int RMW_EXPORT(rmw_node_emit_text)(rm_node *node, const char *text, size_t len, double timestamp_us)
{
    rm_frame *f = rm_frame_new_text(text, len);
    if (!f) return rm_node_fail(node, RM_EINVAL, "output text is not valid UTF-8 or memory ran out");
    return emit(node, f, timestamp_us);
}

/* `data` from rmw_alloc; its ownership passes to the frame (also on failure). */
int RMW_EXPORT(rmw_node_emit_audio)(rm_node *node, int format, uint32_t rate, uint32_t channels, void *data,
                                    size_t frames, double timestamp_us)
{
    rm_frame *f = rm_frame_wrap_audio((rm_sample_format)format, rate, channels, frames, data, release_heap, NULL);
    if (!f) {
        free(data);
        return rm_node_fail(node, RM_EINVAL, "invalid output audio (format, rate, channels or length)");
    }
    return emit(node, f, timestamp_us);
}

int RMW_EXPORT(rmw_node_fail)(rm_node *node, int code, const char *msg, size_t len)
{
    host_reported = 1;
    /* a negative precision (len > INT_MAX) would read to a NUL past len */
    return rm_node_fail(node, code < 0 ? code : RM_ENODE, "%.*s", (int)(len > INT_MAX ? INT_MAX : len), msg);
}
