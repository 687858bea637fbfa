/*
 * RemotePipeline: runs a sub-manifest on remotemedia.v1 servers, one stream
 * per session, through the C client (remotemedia/client.h).
 *
 * Compile time (specialize): the sub-manifest is read (inline object or a
 * file relative to the manifest) and this node gets its own descriptor whose
 * ports are the sub-manifest's source inputs and sink outputs, with the kinds
 * of the local node types where known — so `rmedia validate` checks links.
 *
 * Run time: init opens the stream on an endpoint chosen by `balance`, skipping
 * endpoints whose circuit breaker is open, with `retries` and exponential
 * backoff.  The breakers are the runtime's (remotemedia/breaker.h), one per
 * endpoint + credentials + policy for the whole process
 * (rm_breaker_shared_acquire), so a session skips an endpoint that tripped
 * in another one.  Every frame
 * sent is kept until an output with the same or a later sequence arrives
 * (the server processes a stream in order), up to `resend_max` frames.  When
 * the endpoint fails mid-stream the stream is reopened on another endpoint,
 * the kept frames are sent again, frames that no longer fit are counted as
 * lost, and a JSON event on `remote_events` (and a warning) says so.
 * Server-side errors that would fail anywhere (validation, node errors,
 * authentication) fail the node at once, naming the endpoint.
 */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "remotemedia/breaker.h"
#include "remotemedia/client.h"
#include "remotemedia/graph.h"
#include "remotemedia/manifest.h"
#include "remotemedia/node.h"
#include "remotemedia/remote_nodes.h"
#include "remotemedia/runtime.h"

#define RP_MAX_ENDPOINTS 8
#define RP_RTT_SAMPLES 512

enum { BAL_ROUND_ROBIN, BAL_LEAST_LOADED };
enum { ST_CALLS, ST_FAILURES, ST_BREAKER, ST_P50, ST_P99, ST_N };

typedef struct rp_config {
    const char *const *endpoints;
    const json_t *manifest;
    const char *token;
    int tls;
    const char *tls_ca, *tls_cert, *tls_key;
    int64_t timeout_ms, retries, backoff_ms, resend_max, reply_wait_ms;
    int all_sources;
    int balance;
    int64_t breaker_failures, breaker_reset_ms, breaker_successes;
} rp_config;

static const char *const balance_values[] = {"round_robin", "least_loaded", NULL};

static const rm_param_def rp_params[] = {
    {"endpoints", RM_PARAM_STRING_LIST, offsetof(rp_config, endpoints), "servers as host:port, tried in order", 0,
     NULL, 1, RP_MAX_ENDPOINTS, NULL, NULL, RM_PARAM_REQUIRED},
    {"manifest", RM_PARAM_JSON, offsetof(rp_config, manifest),
     "the sub-manifest: an inline manifest object, or a file (relative to this manifest)", 0, NULL, 0, 0, NULL, NULL,
     RM_PARAM_REQUIRED | RM_PARAM_HOST_FILE}, /* the file form: a server refuses it from clients */
    {"token", RM_PARAM_STRING, offsetof(rp_config, token), "bearer token sent to every endpoint", 0, NULL, 0, 0,
     NULL, NULL, 0},
    {"tls", RM_PARAM_BOOL, offsetof(rp_config, tls), "TLS with the system's roots (implied by tls_ca/tls_cert)", 0,
     NULL, 0, 0, NULL, NULL, 0},
    {"tls_ca", RM_PARAM_STRING, offsetof(rp_config, tls_ca), "PEM file of the CA to trust", 0, NULL, 0, 0, NULL,
     NULL, RM_PARAM_PATH | RM_PARAM_HOST_FILE},
    {"tls_cert", RM_PARAM_STRING, offsetof(rp_config, tls_cert), "client certificate PEM file (mTLS)", 0, NULL, 0, 0,
     NULL, NULL, RM_PARAM_PATH | RM_PARAM_HOST_FILE},
    {"tls_key", RM_PARAM_STRING, offsetof(rp_config, tls_key), "client key PEM file (mTLS)", 0, NULL, 0, 0, NULL,
     NULL, RM_PARAM_PATH | RM_PARAM_HOST_FILE},
    {"timeout_ms", RM_PARAM_INT, offsetof(rp_config, timeout_ms),
     "deadline of each call and of each wait for the stream (open, send, final outputs)", 5000, NULL, 1, 3600e3,
     NULL, NULL, 0},
    {"retries", RM_PARAM_INT, offsetof(rp_config, retries),
     "further attempts to open a stream (on other endpoints) after a failed one", 2, NULL, 0, 100, NULL, NULL, 0},
    {"backoff_ms", RM_PARAM_INT, offsetof(rp_config, backoff_ms),
     "delay before retry n is backoff_ms * 2^(n-1), at most 30 s", 50, NULL, 0, 60e3, NULL, NULL, 0},
    {"balance", RM_PARAM_ENUM, offsetof(rp_config, balance),
     "endpoint choice: round_robin, or least_loaded (fewest open streams, asked by health check)", 0,
     "round_robin", 0, 0, balance_values, NULL, 0},
    {"breaker_failures", RM_PARAM_INT, offsetof(rp_config, breaker_failures),
     "an endpoint's circuit breaker opens after this many consecutive failures", 3, NULL, 1, 1e6, NULL, NULL, 0},
    {"breaker_reset_ms", RM_PARAM_INT, offsetof(rp_config, breaker_reset_ms),
     "an open breaker lets a probe through after this time", 5000, NULL, 0, 86400e3, NULL, NULL, 0},
    {"breaker_successes", RM_PARAM_INT, offsetof(rp_config, breaker_successes),
     "successes in half-open state that close the breaker", 1, NULL, 1, 1e6, NULL, NULL, 0},
    {"resend_max", RM_PARAM_INT, offsetof(rp_config, resend_max),
     "frames kept for resending after a failover (older unacknowledged ones are reported lost)", 256, NULL, 0, 1e6,
     NULL, NULL, 0},
    {"reply_wait_ms", RM_PARAM_INT, offsetof(rp_config, reply_wait_ms),
     "after sending a frame, wait up to this long for its first output (for sub-graphs that answer every frame); "
     "0: pass on what has arrived and go on",
     0, NULL, 0, 60e3, NULL, NULL, 0},
    {"all_sources", RM_PARAM_BOOL, offsetof(rp_config, all_sources),
     "every frame goes to every source node of the sub-manifest (as a host's push does), whatever port it came in on",
     0, NULL, 0, 0, NULL, NULL, 0},
    {NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, NULL, 0}};

static const rm_port_def rp_inputs[] = {
    {"in", RM_KINDS_ANY, "the sub-manifest's source inputs: with one source node its port names, else node.port"},
    {NULL, 0, NULL}};
static const rm_port_def rp_outputs[] = {
    {"out", RM_KINDS_ANY,
     "the sub-manifest's sink outputs (named like the inputs), then remote_events (failover events, json)"},
    {NULL, 0, NULL}};

/* ------------------------------------------------- per-node descriptor --- */

/* This node's descriptor, built at compile time in one block. */
typedef struct rp_type {
    rm_node_type t;
    const char *manifest_json; /* the sub-manifest sent to the servers */
    unsigned n_in, n_out;      /* n_out includes remote_events (last) */
    const char **in_node, **in_port; /* per input port: sub-manifest node and its port (NULL = default) */
    const char **out_node, **out_port;
    const char **stat_keys; /* [endpoint * ST_N + stat] */
} rp_type;

/* A bump allocator run twice: once to measure (base NULL), once to fill. */
typedef struct blk {
    char *base;
    size_t used;
} blk;

static void *blk_alloc(blk *b, size_t n)
{
    size_t at = (b->used + 15) & ~(size_t)15;
    b->used = at + n;
    return b->base ? b->base + at : NULL;
}

static const char *blk_str(blk *b, const char *a, const char *sep, const char *c)
{
    size_t la = strlen(a), ls = sep ? strlen(sep) : 0, lc = c ? strlen(c) : 0;
    char *p = blk_alloc(b, la + ls + lc + 1);
    if (p) {
        memcpy(p, a, la);
        if (ls) memcpy(p + la, sep, ls);
        if (lc) memcpy(p + la + ls, c, lc);
        p[la + ls + lc] = '\0';
    }
    return p;
}

typedef struct endpoint_port {
    const char *node, *port; /* port NULL: the node's type is unknown here */
    uint32_t kinds;
    const char *doc;
} endpoint_port;

typedef struct scan {
    endpoint_port *in, *out;
    size_t n_in, n_out;
} scan;

static int add_port(endpoint_port **v, size_t *n, const char *node, const char *port, uint32_t kinds,
                    const char *doc)
{
    endpoint_port *p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p) return RM_ENOMEM;
    *v = p;
    p[*n] = (endpoint_port){node, port, kinds, doc};
    (*n)++;
    return 0;
}

static int linked(const json_t *conns, const char *key, const char *id)
{
    size_t i, n = strlen(id);
    const json_t *c;
    json_array_foreach(conns, i, c)
    {
        const char *s = json_string_value(json_object_get(c, key));
        if (s && !strncmp(s, id, n) && (s[n] == '\0' || s[n] == '.')) return 1;
    }
    return 0;
}

/* Sources (nodes nothing feeds) and sinks (nodes that feed nothing) of the
 * sub-manifest, with their ports as the local node types declare them. */
static int scan_manifest(const json_t *root, const rm_runtime *rt, scan *sc, rm_error *err)
{
    const json_t *nodes = json_object_get(root, "nodes"), *conns = json_object_get(root, "connections");
    if (!json_is_array(nodes) || json_array_size(nodes) == 0)
        return rm_error_set(err, RM_EPARAM, NULL, "the sub-manifest has no nodes");
    size_t i;
    const json_t *n;
    json_array_foreach(nodes, i, n)
    {
        const char *id = json_string_value(json_object_get(n, "id"));
        const char *tn = json_string_value(json_object_get(n, "node_type"));
        if (!id || !*id || !tn) return rm_error_set(err, RM_EPARAM, NULL, "sub-manifest nodes[%zu] needs id and node_type", i);
        const rm_node_type *t = rm_runtime_find_node_type(rt, tn);
        int rc = 0;
        if (!linked(conns, "to", id)) {
            unsigned np = t ? rm_node_type_n_inputs(t) : 0;
            for (unsigned p = 0; rc == 0 && p < np; p++) {
                const rm_port_def *d = rm_node_type_input(t, p);
                rc = add_port(&sc->in, &sc->n_in, id, d->name, d->kinds, d->doc);
            }
            if (!t) rc = add_port(&sc->in, &sc->n_in, id, NULL, 0, NULL);
        }
        if (rc == 0 && !linked(conns, "from", id)) {
            unsigned np = t ? rm_node_type_n_outputs(t) : 0;
            for (unsigned p = 0; rc == 0 && p < np; p++) {
                const rm_port_def *d = rm_node_type_output(t, p);
                rc = add_port(&sc->out, &sc->n_out, id, d->name, d->kinds, d->doc);
            }
            if (!t) rc = add_port(&sc->out, &sc->n_out, id, NULL, 0, NULL);
        }
        if (rc) return rm_error_set(err, rc, NULL, "out of memory");
    }
    if (!sc->n_in || !sc->n_out)
        return rm_error_set(err, RM_EPARAM, NULL, "the sub-manifest has no %s (it has a cycle through every node)",
                            sc->n_in ? "sink" : "source");
    return 0;
}

/* One source / sink node: ports keep their own names; several: "node.port"
 * (or "node" when the node's type is not known here). */
static int single_node(const endpoint_port *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i].node, v[0].node) != 0) return 0;
    return 1;
}

static const char *port_name(blk *b, const endpoint_port *p, int single, const char *dflt)
{
    if (single) return blk_str(b, p->port ? p->port : dflt, NULL, NULL);
    return p->port ? blk_str(b, p->node, ".", p->port) : blk_str(b, p->node, NULL, NULL);
}

static rp_type *build(blk *b, const rm_node_type *base, const scan *sc, const char *json,
                      const char *const *endpoints)
{
    rp_type *t = blk_alloc(b, sizeof *t);
    size_t n_eps = 0;
    while (endpoints[n_eps]) n_eps++;
    rm_port_def *in = blk_alloc(b, (sc->n_in + 1) * sizeof *in);
    rm_port_def *out = blk_alloc(b, (sc->n_out + 2) * sizeof *out);
    const char **in_node = blk_alloc(b, sc->n_in * sizeof *in_node);
    const char **in_port = blk_alloc(b, sc->n_in * sizeof *in_port);
    const char **out_node = blk_alloc(b, sc->n_out * sizeof *out_node);
    const char **out_port = blk_alloc(b, sc->n_out * sizeof *out_port);
    const char **keys = blk_alloc(b, n_eps * ST_N * sizeof *keys);
    const char *js = blk_str(b, json, NULL, NULL);
    int s_in = single_node(sc->in, sc->n_in), s_out = single_node(sc->out, sc->n_out);
    for (size_t i = 0; i < sc->n_in; i++) {
        const char *name = port_name(b, &sc->in[i], s_in, "in");
        const char *node = blk_str(b, sc->in[i].node, NULL, NULL);
        const char *port = sc->in[i].port ? blk_str(b, sc->in[i].port, NULL, NULL) : NULL;
        if (t) {
            in[i] = (rm_port_def){name, sc->in[i].kinds, sc->in[i].doc};
            in_node[i] = node;
            in_port[i] = port;
        }
    }
    for (size_t i = 0; i < sc->n_out; i++) {
        const char *name = port_name(b, &sc->out[i], s_out, "out");
        const char *node = blk_str(b, sc->out[i].node, NULL, NULL);
        const char *port = sc->out[i].port ? blk_str(b, sc->out[i].port, NULL, NULL) : NULL;
        if (t) {
            out[i] = (rm_port_def){name, sc->out[i].kinds, sc->out[i].doc};
            out_node[i] = node;
            out_port[i] = port;
        }
    }
    static const char *const stat_names[ST_N] = {"calls", "failures", "breaker", "rtt_p50_us", "rtt_p99_us"};
    for (size_t e = 0; e < n_eps; e++)
        for (int k = 0; k < ST_N; k++) {
            char pre[300];
            snprintf(pre, sizeof pre, "endpoint %s", endpoints[e]);
            const char *key = blk_str(b, pre, " ", stat_names[k]);
            if (t) keys[e * ST_N + (size_t)k] = key;
        }
    if (!t) return NULL;
    in[sc->n_in] = (rm_port_def){0};
    out[sc->n_out] = (rm_port_def){"remote_events", RM_KIND_BIT(RM_FRAME_JSON),
                                   "failover events: {event, node, from, to, reason, resent, lost}"};
    out[sc->n_out + 1] = (rm_port_def){0};
    t->t = *base;
    t->t.inputs = in;
    t->t.outputs = out;
    t->t.specialize = NULL;
    t->manifest_json = js;
    t->n_in = (unsigned)sc->n_in;
    t->n_out = (unsigned)sc->n_out + 1;
    t->in_node = in_node;
    t->in_port = in_port;
    t->out_node = out_node;
    t->out_port = out_port;
    t->stat_keys = keys;
    return t;
}

/* The sub-manifest as a JSON tree (new reference). */
static json_t *load_sub(const rp_config *cfg, const char *manifest_file, rm_error *err)
{
    if (json_is_object(cfg->manifest)) return json_incref((json_t *)cfg->manifest);
    const char *path = json_string_value(cfg->manifest);
    if (!path || !*path) {
        rm_error_set(err, RM_EPARAM, NULL, "parameter 'manifest' must be a manifest object or a file name, got %s",
                     json_is_string(cfg->manifest) ? "\"\"" : json_is_array(cfg->manifest) ? "a list" : "a scalar");
        return NULL;
    }
    char full[4096];
    const char *slash = manifest_file ? strrchr(manifest_file, '/') : NULL;
    if (path[0] != '/' && slash)
        snprintf(full, sizeof full, "%.*s/%s", (int)(slash - manifest_file), manifest_file, path);
    else
        snprintf(full, sizeof full, "%s", path);
    rm_manifest *m = NULL;
    rm_diags *d = rm_diags_new();
    int rc = rm_manifest_load_file(full, &m, d);
    if (rc) {
        rm_error e;
        rm_diags_to_error(d, &e);
        rm_diags_free(d);
        rm_error_set(err, RM_EPARAM, NULL, "sub-manifest '%s': %s", full, e.message);
        return NULL;
    }
    rm_diags_free(d);
    json_t *j = json_deep_copy(rm_manifest_json(m));
    rm_manifest_free(m);
    if (!j) rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    return j;
}

static rm_node_type *rp_specialize(const rm_node_type *type, const void *config, const struct rm_runtime *rt,
                                   const char *manifest_file, rm_error *err)
{
    const rp_config *cfg = config;
    for (size_t i = 0; cfg->endpoints && cfg->endpoints[i]; i++) {
        const char *e = cfg->endpoints[i], *colon = strrchr(e, ':');
        if (!colon || colon == e || !colon[1] || strlen(e) > 255) {
            rm_error_set(err, RM_EPARAM, NULL, "endpoints[%zu] '%.100s' is not host:port", i, e);
            return NULL;
        }
    }
    json_t *root = load_sub(cfg, manifest_file, err);
    if (!root) return NULL;
    scan sc = {0};
    rm_node_type *out = NULL;
    char *json = NULL;
    if (scan_manifest(root, rt, &sc, err) == 0) {
        if (sc.n_in > 64 || sc.n_out > 64) {
            rm_error_set(err, RM_ELIMIT, NULL, "the sub-manifest has %zu sources and %zu sinks; at most 64 each",
                         sc.n_in, sc.n_out);
        } else if (!(json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
            rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
        } else {
            blk b = {0};
            build(&b, type, &sc, json, cfg->endpoints);
            b.base = calloc(1, b.used ? b.used : 1);
            b.used = 0;
            if (b.base) out = &build(&b, type, &sc, json, cfg->endpoints)->t;
            else rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
        }
    }
    free(json);
    free(sc.in);
    free(sc.out);
    json_decref(root);
    return out;
}

/* ------------------------------------------------------------- running --- */

typedef struct endpoint {
    const char *addr;
    rm_client *client;
    rm_breaker_shared *br; /* shared by every session of this process using the endpoint */
    uint64_t calls, failures;
    double rtt[RP_RTT_SAMPLES]; /* µs, ring */
    size_t n_rtt, rtt_pos, rtt_since;
} endpoint;

typedef struct kept {
    unsigned port;
    rm_frame *frame;  /* referenced */
    uint64_t wire;    /* sequence on the wire */
    uint64_t seq;     /* the frame's own sequence */
    uint64_t sent_ns; /* for the round trip */
} kept;

typedef struct rp_state {
    rm_node *node;
    const rp_type *t;
    const rp_config *cfg;
    endpoint eps[RP_MAX_ENDPOINTS];
    size_t n_eps, rr;
    int cur; /* endpoint of the open stream, -1 = none */
    rm_client_stream *stream;
    kept *k; /* frames not yet acknowledged, oldest first */
    size_t n_k, cap_k;
    uint64_t wire, evicted; /* evicted: dropped from `k` unacknowledged since the last output */
    uint64_t last_wire, last_seq; /* the last acknowledged frame (an input may have several outputs) */
    unsigned depth; /* nested failovers (a resend that fails again) */
} rp_state;

static const char *stat_key(const rp_state *s, size_t e, int k) { return s->t->stat_keys[e * ST_N + (size_t)k]; }

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void publish(rp_state *s, size_t e)
{
    endpoint *ep = &s->eps[e];
    rm_node_stat(s->node, stat_key(s, e, ST_BREAKER), RM_STAT_SET, (double)rm_breaker_shared_get(ep->br).state);
    if (!ep->n_rtt) return;
    double v[RP_RTT_SAMPLES];
    memcpy(v, ep->rtt, ep->n_rtt * sizeof *v);
    qsort(v, ep->n_rtt, sizeof *v, cmp_d);
    rm_node_stat(s->node, stat_key(s, e, ST_P50), RM_STAT_SET, v[(ep->n_rtt - 1) / 2]);
    rm_node_stat(s->node, stat_key(s, e, ST_P99), RM_STAT_SET, v[(size_t)((double)(ep->n_rtt - 1) * 0.99)]);
    ep->rtt_since = 0;
}

static void record(rp_state *s, size_t e, int ok)
{
    endpoint *ep = &s->eps[e];
    rm_node_stat(s->node, stat_key(s, e, ST_CALLS), RM_STAT_ADD, 1);
    ep->calls++;
    if (!ok) {
        ep->failures++;
        rm_node_stat(s->node, stat_key(s, e, ST_FAILURES), RM_STAT_ADD, 1);
    }
    rm_breaker after;
    int to = rm_breaker_shared_record(ep->br, ok, rm_breaker_now_ns(), &after);
    if (to == RM_BREAKER_OPEN)
        rm_node_log(s->node, RM_LOG_WARN, "endpoint %s: circuit breaker open after %u consecutive failures",
                    ep->addr, after.consecutive_failures);
    else if (to == RM_BREAKER_CLOSED)
        rm_node_log(s->node, RM_LOG_INFO, "endpoint %s: circuit breaker closed", ep->addr);
    if (to >= 0) publish(s, e);
}

/* Errors any server would give again: not a reason to try another one. */
static int permanent(int rc) { return rc == RM_EMANIFEST || rc == RM_ENODE || rc == RM_EINVAL || rc == RM_ENOTSUP || rc == RM_EPARAM; }

static void sleep_ms(double ms)
{
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Endpoints in the order to try them, breakers that are open left out;
 * `avoid` (the endpoint that just failed) only when no other is left. */
static size_t candidates_1(rp_state *s, int avoid, size_t *order);
static size_t candidates(rp_state *s, int avoid, size_t *order)
{
    size_t n = candidates_1(s, avoid, order);
    return n || avoid < 0 ? n : candidates_1(s, -1, order);
}

static size_t candidates_1(rp_state *s, int avoid, size_t *order)
{
    size_t n = 0;
    uint64_t now = rm_breaker_now_ns();
    long load[RP_MAX_ENDPOINTS];
    for (size_t i = 0; i < s->n_eps; i++) {
        size_t e = (s->rr + i) % s->n_eps;
        if ((int)e == avoid) continue;
        if (!rm_breaker_shared_allow(s->eps[e].br, now)) continue;
        load[e] = 0;
        if (s->cfg->balance == BAL_LEAST_LOADED) {
            int serving = 0;
            rm_error err;
            rm_error_clear(&err);
            if (rm_client_load(s->eps[e].client, &serving, &load[e], &err) != 0 || !serving) {
                record(s, e, 0);
                continue;
            }
            if (load[e] < 0) load[e] = 0;
        }
        order[n++] = e;
    }
    if (s->cfg->balance == BAL_LEAST_LOADED) /* stable: ties keep round-robin order */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && load[order[j]] < load[order[j - 1]]; j--) {
                size_t x = order[j];
                order[j] = order[j - 1];
                order[j - 1] = x;
            }
    s->rr = (s->rr + 1) % s->n_eps;
    return n;
}

typedef struct str300 {
    char s[300];
} str300;

static str300 endpoint_list(const rp_state *s)
{
    str300 r = {""};
    size_t n = 0;
    for (size_t e = 0; e < s->n_eps && n < sizeof r.s; e++)
        n += (size_t)snprintf(r.s + n, sizeof r.s - n, "%s%s", e ? ", " : "", s->eps[e].addr);
    return r;
}

/* Opens the stream on an endpoint (not `avoid` if another can take it).
 * `why` collects each failure for the error message. */
static int open_stream(rp_state *s, int avoid, rm_error *err)
{
    char why[400] = "";
    size_t wl = 0;
    int last = RM_EAGAIN;
    for (int64_t attempt = 0; attempt <= s->cfg->retries; attempt++) {
        if (attempt) {
            double d = (double)s->cfg->backoff_ms * (double)(1ull << (attempt - 1 > 20 ? 20 : attempt - 1));
            sleep_ms(d > 30000 ? 30000 : d);
        }
        size_t order[RP_MAX_ENDPOINTS];
        size_t n = candidates(s, avoid, order);
        if (n == 0) {
            last = RM_ECIRCUIT;
            continue;
        }
        size_t e = order[0];
        rm_error e1;
        rm_error_clear(&e1);
        int rc = rm_client_stream_open(s->eps[e].client, s->t->manifest_json, &s->stream, &e1);
        if (rc == 0) {
            s->cur = (int)e;
            record(s, e, 1);
            return 0;
        }
        rm_client_stream_free(s->stream);
        s->stream = NULL;
        last = rc;
        if (wl < sizeof why)
            wl += (size_t)snprintf(why + wl, sizeof why - wl, "%s%s", wl ? "; " : "", e1.message);
        if (permanent(rc)) {
            record(s, e, 1); /* the endpoint answered: it is not down */
            return rm_error_set(err, rc, rm_node_id(s->node), "RemotePipeline '%s': %s", rm_node_id(s->node),
                                e1.message);
        }
        record(s, e, 0);
    }
    if (last == RM_ECIRCUIT)
        return rm_error_set(err, RM_ECIRCUIT, rm_node_id(s->node),
                            "RemotePipeline '%s': circuit breaker open for every endpoint (%s)%s%s",
                            rm_node_id(s->node), endpoint_list(s).s, wl ? "; failures: " : "", why);
    return rm_error_set(err, RM_EAGAIN, rm_node_id(s->node),
                        "RemotePipeline '%s': no endpoint could take the stream after %lld attempt(s): %s",
                        rm_node_id(s->node), (long long)s->cfg->retries + 1, why);
}

static int keep(rp_state *s, unsigned port, const rm_frame *f, uint64_t wire)
{
    if (s->cfg->resend_max == 0) return 0;
    if (s->n_k == (size_t)s->cfg->resend_max) { /* full: the oldest cannot be resent any more */
        rm_frame_unref(s->k[0].frame);
        memmove(s->k, s->k + 1, (s->n_k - 1) * sizeof *s->k);
        s->n_k--;
        s->evicted++;
    }
    if (s->n_k == s->cap_k) {
        size_t cap = s->cap_k ? s->cap_k * 2 : 16;
        kept *p = realloc(s->k, cap * sizeof *p);
        if (!p) return RM_ENOMEM;
        s->k = p;
        s->cap_k = cap;
    }
    s->k[s->n_k++] = (kept){port, rm_frame_ref((rm_frame *)f), wire, f->sequence, rm_breaker_now_ns()};
    return 0;
}

/* An output for wire sequence `wire`: everything up to it was processed. */
static const kept *ack(rp_state *s, uint64_t wire, uint64_t *seq)
{
    size_t n = 0;
    const kept *hit = NULL;
    while (n < s->n_k && s->k[n].wire <= wire) {
        if (s->k[n].wire == wire) hit = &s->k[n];
        n++;
    }
    if (!hit && wire == s->last_wire && wire) *seq = s->last_seq;
    if (hit) {
        *seq = s->last_seq = hit->seq;
        s->last_wire = wire;
        if (s->cur >= 0) {
            endpoint *ep = &s->eps[s->cur];
            ep->rtt[ep->rtt_pos] = (double)(rm_breaker_now_ns() - hit->sent_ns) / 1000.0;
            ep->rtt_pos = (ep->rtt_pos + 1) % RP_RTT_SAMPLES;
            if (ep->n_rtt < RP_RTT_SAMPLES) ep->n_rtt++;
            if (++ep->rtt_since >= 64) publish(s, (size_t)s->cur);
        }
    }
    for (size_t i = 0; i < n; i++) rm_frame_unref(s->k[i].frame);
    memmove(s->k, s->k + n, (s->n_k - n) * sizeof *s->k);
    s->n_k -= n;
    if (n) s->evicted = 0;
    return hit;
}

static int out_index(const rp_state *s, const rm_client_output *o)
{
    int first = -1;
    for (unsigned i = 0; i + 1 < s->t->n_out; i++) {
        if (strcmp(s->t->out_node[i], o->node_id) != 0) continue;
        if (first < 0) first = (int)i;
        if (o->port && s->t->out_port[i] && !strcmp(s->t->out_port[i], o->port)) return (int)i;
    }
    return first;
}

/* Emits one output (borrowed) of the remote graph on the matching port. */
static int emit_output(rp_state *s, const rm_client_output *o)
{
    uint64_t seq = o->sequence;
    ack(s, o->sequence, &seq);
    int p = out_index(s, o);
    if (p < 0) {
        rm_node_log(s->node, RM_LOG_WARN, "endpoint %s sent an output of node '%s', which is not a sink; dropped",
                    s->cur >= 0 ? s->eps[s->cur].addr : "?", o->node_id);
        return 0;
    }
    o->frame->sequence = seq;
    return rm_node_emit(s->node, (unsigned)p, o->frame);
}

static void emit_cb(void *user, const rm_client_output *o) { emit_output(user, o); }

#define ALL_SOURCES (~0u)

static int send_one(rp_state *s, const kept *k, rm_error *err)
{
    if (k->port != ALL_SOURCES)
        return rm_client_stream_push_port(s->stream, s->t->in_node[k->port], s->t->in_port[k->port], k->frame,
                                          k->wire, err);
    for (unsigned p = 0; p < s->t->n_in; p++) { /* the first port of each source node */
        if (p && !strcmp(s->t->in_node[p], s->t->in_node[p - 1])) continue;
        int rc = rm_client_stream_push(s->stream, s->t->in_node[p], k->frame, k->wire, err);
        if (rc) return rc;
    }
    return 0;
}

/* The endpoint failed (rc, err): reopen elsewhere, resend what is kept,
 * and say so on remote_events.  Returns 0 or the error to fail with. */
static int failover(rp_state *s, int rc, rm_error *e1)
{
    int from = s->cur;
    if (from >= 0) record(s, (size_t)from, 0);
    rm_client_stream_free(s->stream);
    s->stream = NULL;
    s->cur = -1;
    if (permanent(rc)) return rm_node_fail(s->node, rc, "RemotePipeline '%s': %s", rm_node_id(s->node), e1->message);
    rm_error err;
    rm_error_clear(&err);
    int orc = open_stream(s, from, &err);
    if (orc) return rm_node_fail(s->node, orc, "%s (after: %s)", err.message, e1->message);
    uint64_t lost = s->evicted;
    s->evicted = 0;
    size_t resent = 0;
    for (size_t i = 0; i < s->n_k; i++) {
        int r2 = send_one(s, &s->k[i], &err);
        if (r2) {
            if (++s->depth > s->n_eps + (unsigned)s->cfg->retries)
                return rm_node_fail(s->node, r2, "RemotePipeline '%s': resending failed on every endpoint: %s",
                                    rm_node_id(s->node), err.message);
            s->evicted += lost;
            r2 = failover(s, r2, &err);
            s->depth = 0;
            return r2;
        }
        record(s, (size_t)s->cur, 1);
        resent++;
    }
    const char *fa = from >= 0 ? s->eps[from].addr : "";
    rm_node_log(s->node, RM_LOG_WARN, "endpoint %s failed (%s); stream reopened on %s, %zu frame(s) resent, %llu lost",
                fa, e1->message, s->eps[s->cur].addr, resent, (unsigned long long)lost);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "event", "failover", "node", rm_node_id(s->node),
                           "from", fa, "to", s->eps[s->cur].addr, "reason", e1->message, "resent", (json_int_t)resent,
                           "lost", (json_int_t)lost);
    rm_frame *f = ev ? rm_frame_new_json(ev) : NULL;
    return f ? rm_node_emit_take(s->node, s->t->n_out - 1, f) : 0;
}

/* Outputs that have arrived; with reply_wait_ms, first waits that long for
 * an output of wire sequence `wait_for` (0: never waits). */
static int drain(rp_state *s, uint64_t wait_for)
{
    rm_client_output o;
    rm_error err;
    rm_error_clear(&err);
    int rc;
    double wait = wait_for && s->cfg->reply_wait_ms ? (double)s->cfg->reply_wait_ms / 1000.0 : 0;
    uint64_t until = rm_breaker_now_ns() + (uint64_t)(wait * 1e9);
    while ((rc = rm_client_stream_poll(s->stream, wait, &o, &err)) == 1) {
        if (o.sequence >= wait_for) wait = 0;
        int e = emit_output(s, &o);
        rm_client_output_clear(&o);
        if (e) return e;
        if (wait > 0) {
            uint64_t now = rm_breaker_now_ns();
            wait = now < until ? (double)(until - now) / 1e9 : 0;
        }
    }
    if (rc == 2) /* the server ended the stream although we did not close it */
        return failover(s, RM_EIO,
                        &(rm_error){.code = RM_EIO, .message = "the server ended the stream before it was closed"});
    return rc < 0 ? failover(s, rc, &err) : 0;
}

static void rp_fini(void *state);

/* FNV-1a: the token goes into the breaker key as a hash, not in clear. */
static uint64_t fnv1a(const char *p)
{
    uint64_t h = 14695981039346656037ull;
    for (; p && *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

/* The process-wide breaker of `addr` as this node reaches it: the same
 * address with other credentials (TLS files, token) gets its own. */
static rm_breaker_shared *shared_breaker(const rp_config *cfg, const char *addr)
{
    const char *f[4] = {addr, cfg->tls_ca ? cfg->tls_ca : "", cfg->tls_cert ? cfg->tls_cert : "",
                        cfg->tls_key ? cfg->tls_key : ""};
    size_t n = 64;
    for (int i = 0; i < 4; i++) n += strlen(f[i]) + 24;
    char *key = malloc(n);
    if (!key) return NULL;
    /* length-prefixed fields: no separator can be faked by a file name */
    snprintf(key, n, "remote|%zu:%s|%zu:%s|%zu:%s|%zu:%s|tls=%d|token=%d:%016llx", strlen(f[0]), f[0], strlen(f[1]),
             f[1], strlen(f[2]), f[2], strlen(f[3]), f[3], cfg->tls || cfg->tls_ca || cfg->tls_cert,
             cfg->token != NULL, (unsigned long long)fnv1a(cfg->token));
    rm_breaker_shared *b =
        rm_breaker_shared_acquire(key, (unsigned)cfg->breaker_failures, (uint64_t)cfg->breaker_reset_ms * 1000000u,
                                  (unsigned)cfg->breaker_successes);
    free(key);
    return b;
}

static int rp_init(rm_node *node, void *state, const void *config)
{
    rp_state *s = state;
    const rp_config *cfg = config;
    s->node = node;
    s->cfg = cfg;
    s->t = (const rp_type *)rm_node_type_of(node);
    s->cur = -1;
    if (s->t->t.specialize || !s->t->manifest_json) /* the generic descriptor: never compiled through specialize */
        return rm_node_fail(node, RM_EINTERNAL, "RemotePipeline was not set up by the compiler");
    rm_client_opts o = {.tls = cfg->tls,
                        .tls_ca = cfg->tls_ca,
                        .tls_cert = cfg->tls_cert,
                        .tls_key = cfg->tls_key,
                        .token = cfg->token,
                        .deadline_s = (double)cfg->timeout_ms / 1000.0};
    for (size_t i = 0; cfg->endpoints[i] && i < RP_MAX_ENDPOINTS; i++) {
        endpoint *ep = &s->eps[s->n_eps];
        rm_error err;
        rm_error_clear(&err);
        ep->addr = cfg->endpoints[i];
        ep->br = shared_breaker(cfg, ep->addr);
        if (!ep->br) {
            rp_fini(s);
            return rm_node_fail(node, RM_ENOMEM, "out of memory");
        }
        if (rm_client_connect(ep->addr, &o, &ep->client, &err) != 0) {
            s->n_eps++; /* so that fini releases its breaker */
            rp_fini(s); /* fini only runs after a successful init */
            return rm_node_fail(node, err.code, "RemotePipeline '%s': %s", rm_node_id(node), err.message);
        }
        /* every endpoint in the metrics from the start, failures or not */
        rm_node_stat(node, stat_key(s, s->n_eps, ST_CALLS), RM_STAT_ADD, 0);
        rm_node_stat(node, stat_key(s, s->n_eps, ST_FAILURES), RM_STAT_ADD, 0);
        rm_node_stat(node, stat_key(s, s->n_eps, ST_BREAKER), RM_STAT_SET,
                     (double)rm_breaker_shared_get(ep->br).state);
        s->n_eps++;
    }
    rm_error err;
    rm_error_clear(&err);
    int rc = open_stream(s, -1, &err);
    if (rc) rp_fini(s);
    return rc ? rm_node_fail(node, rc, "%s", err.message) : 0;
}

static int rp_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    rp_state *s = state;
    (void)node;
    if (!s->stream) {
        rm_error err;
        rm_error_clear(&err);
        int rc = open_stream(s, -1, &err);
        if (rc) return rm_node_fail(node, rc, "%s", err.message);
    }
    uint64_t wire = ++s->wire;
    if (s->cfg->all_sources) port = ALL_SOURCES;
    if (keep(s, port, f, wire) != 0) return rm_node_fail(node, RM_ENOMEM, "out of memory");
    rm_error err;
    rm_error_clear(&err);
    kept k = {port, (rm_frame *)f, wire, f->sequence, 0};
    int rc = send_one(s, &k, &err);
    if (rc) {
        if (s->cfg->resend_max == 0) s->evicted++; /* nothing kept: this frame is lost */
        rc = failover(s, rc, &err);
        if (rc) return rc;
    } else {
        record(s, (size_t)s->cur, 1);
    }
    return drain(s, wire);
}

static int rp_flush(rm_node *node, void *state)
{
    rp_state *s = state;
    for (int64_t attempt = 0; s->stream; attempt++) {
        rm_error err;
        rm_error_clear(&err);
        int rc = rm_client_stream_close(s->stream, emit_cb, s, NULL, &err);
        if (rc == 0) {
            rm_client_stream_free(s->stream);
            s->stream = NULL;
            break;
        }
        if (attempt >= s->cfg->retries || permanent(rc)) {
            if (s->cur >= 0) record(s, (size_t)s->cur, permanent(rc));
            return rm_node_fail(node, rc, "RemotePipeline '%s': %s", rm_node_id(node), err.message);
        }
        rc = failover(s, rc, &err); /* reopen, resend, then close again */
        if (rc) return rc;
    }
    for (size_t e = 0; e < s->n_eps; e++) publish(s, e);
    return 0;
}

static int rp_reset(rm_node *node, void *state)
{
    rp_state *s = state;
    (void)node;
    rm_client_stream_free(s->stream); /* the remote state goes with it; reopened by the next frame */
    s->stream = NULL;
    s->cur = -1;
    for (size_t i = 0; i < s->n_k; i++) rm_frame_unref(s->k[i].frame);
    s->n_k = 0;
    s->evicted = 0;
    return 0;
}

static void rp_fini(void *state)
{
    rp_state *s = state;
    rm_client_stream_free(s->stream);
    s->stream = NULL;
    for (size_t i = 0; i < s->n_k; i++) rm_frame_unref(s->k[i].frame);
    free(s->k);
    s->k = NULL;
    s->n_k = 0;
    for (size_t e = 0; e < s->n_eps; e++) {
        rm_client_free(s->eps[e].client);
        rm_breaker_shared_release(s->eps[e].br);
    }
    s->n_eps = 0;
}

static const rm_node_type rm__node_remote_pipeline = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "RemotePipeline",
    .doc = "Runs a sub-manifest on remotemedia.v1 servers (failover, balancing, circuit breakers)",
    .family = "remote",
    .inputs = rp_inputs,
    .outputs = rp_outputs,
    .params = rp_params,
    .config_size = sizeof(rp_config),
    .state_size = sizeof(rp_state),
    .flags = RM_NODE_BLOCKING,
    .init = rp_init,
    .process = rp_process,
    .flush = rp_flush,
    .reset = rp_reset,
    .fini = rp_fini,
    .specialize = rp_specialize,
    .example = "- id: remote\n  node_type: RemotePipeline\n  params:\n    endpoints: [\"127.0.0.1:50051\"]\n"
               "    manifest:\n      version: v1\n      nodes: [{id: double, node_type: MultiplyNode, params: "
               "{factor: 2}}]\n      connections: []\n",
};

int rm_register_remote_nodes(rm_runtime *rt, rm_error *err) { return rm_runtime_register(rt, &rm__node_remote_pipeline, err); }
