/*
 * Graph compiler: manifest tree → validated, immutable rm_graph.
 *
 * Every problem is reported (not only the first) with its key path, node id
 * and, through the manifest's source map, file:line:column.  The passes:
 *   1. top level (version, metadata, nodes, connections)
 *   2. nodes: ids, node types, params (generic, table-driven), on_error
 *   3. connections: endpoints "node[.port]", ports, queue policies
 *   4. topological order (manifest order among independent nodes), cycles
 *   5. caps: what flows on each link; kind and audio format mismatches
 *   6. segments: which nodes run on which thread of a session
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RM__DEFAULT_QUEUE_CAPACITY 64
#define RM__MAX_QUEUE_CAPACITY 1000000

/* Parse-time node: what the manifest says about one node. */
typedef struct pnode {
    const char *id;
    const rm_node_type *type;
    void *config;
    rm__on_error on_error;
    int ok;           /* id and type valid */
    int inserted;     /* a converter added by the compiler */
    size_t manifest_index;
} pnode;

typedef struct pedge {
    uint32_t from, from_port, to, to_port;
    rm__queue_policy policy;
    size_t capacity;
    char path[48];
} pedge;

typedef struct cctx {
    rm_runtime *rt;
    const rm_manifest *m;
    rm_diags *d;
    int first; /* first error code */
    rm_graph *g;
    pnode *pn;
    size_t n_pn;
    pedge *pe;
    size_t n_pe;
    json_t *ids; /* node id -> index in pn, for O(1) lookups (NULL: scan pn) */
    /* audio links whose rate/channels/format differ, found by check_link
     * while converters may still be inserted */
    struct mismatch {
        uint32_t edge; /* index into pe */
        rm_caps up, req;
    } *mm;
    size_t n_mm;
    int may_insert;
} cctx;

/* The converter node types the compiler inserts, with the parameter that
 * sets their output.  Provided by the audio node family. */
#define CONV_CHANNELS "ChannelMixer"
#define CONV_RATE "AudioResample"
#define CONV_FORMAT "FormatConverter"

#define DIAG(c, code, path, node, ...)                                  \
    do {                                                                \
        int rc__ = rm__diag((c)->d, (c)->m, (code), (path), (node), __VA_ARGS__); \
        if (!(c)->first) (c)->first = rc__;                             \
    } while (0)

const char *rm__queue_policy_name(rm__queue_policy p)
{
    switch (p) {
    case RM__QUEUE_BLOCK: return "block";
    case RM__QUEUE_DROP_OLDEST: return "drop_oldest";
    case RM__QUEUE_DROP_NEWEST: return "drop_newest";
    case RM__QUEUE_NONE: break;
    }
    return "none";
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "a mapping";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static int valid_id(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static int find_pnode(const cctx *c, const char *id)
{
    if (c->ids) {
        const json_t *v = json_object_get(c->ids, id);
        return v ? (int)json_integer_value(v) : -1;
    }
    for (size_t i = 0; i < c->n_pn; i++)
        if (c->pn[i].id && strcmp(c->pn[i].id, id) == 0) return (int)i;
    return -1;
}

static const char *closest_id(const cctx *c, const char *id)
{
    if (rm__diags_full(c->d)) return NULL; /* O(nodes) per call: only while reported */
    const char *best = NULL;
    unsigned best_d = 3;
    for (size_t i = 0; i < c->n_pn; i++) {
        if (!c->pn[i].id) continue;
        unsigned d = rm__edit_distance(id, c->pn[i].id);
        if (d < best_d) best_d = d, best = c->pn[i].id;
    }
    /* a one-letter id is "close" to every other one-letter id: no hint */
    return best && best_d < strlen(id) ? best : NULL;
}

/* Warns about a key the manifest format does not know (kept for
 * compatibility: the original SDK ignored unknown keys), with the closest
 * known key when one is near (`conections:` → `connections`). */
static void check_keys(cctx *c, const json_t *obj, const char *const *known, const char *path,
                       const char *node, const char *what)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const char *const *k = known;
        while (*k && strcmp(*k, key) != 0) k++;
        if (*k) continue;
        const char *best = NULL;
        unsigned best_d = 3;
        for (k = known; *k; k++) {
            unsigned d = rm__edit_distance(key, *k);
            if (d < best_d) best_d = d, best = *k;
        }
        if (best && best_d >= strlen(key)) best = NULL;
        rm__buf sub;
        rm__buf_init(&sub);
        rm__buf_printf(&sub, "%s%s%.200s", path, *path ? "." : "", key);
        if (best)
            rm__warn(c->d, c->m, sub.data ? sub.data : path, node, "unknown %s key '%.200s' is ignored; did you mean '%s'?",
                     what, key, best);
        else
            rm__warn(c->d, c->m, sub.data ? sub.data : path, node, "unknown %s key '%.200s' is ignored", what, key);
        rm__buf_free(&sub);
    }
}

/* Keys of the v1 format, with those the original SDK defined and ignored. */
static const char *const top_keys[] = {"version", "metadata", "nodes", "connections", "runtime", "capabilities", NULL};
static const char *const node_keys[] = {"id", "node_type", "params", "on_error", "is_streaming", "capabilities",
                                        "host", "runtime_hint", "execution", "input_types", "output_types", NULL};
static const char *const conn_keys[] = {"from", "to", "from_port", "to_port", "queue", NULL};

/* ------------------------------------------------------------- on_error --- */

static int get_num(cctx *c, const json_t *obj, const char *key, const char *path, const char *node,
                   double lo, double hi, double *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    char sub[128];
    snprintf(sub, sizeof sub, "%s.%s", path, key);
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
        DIAG(c, RM_EMANIFEST, sub, node, "on_error.%s must be a number in [%g, %g]", key, lo, hi);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

static void parse_on_error(cctx *c, const json_t *v, const char *npath, const char *node,
                           rm__on_error *oe)
{
    memset(oe, 0, sizeof *oe);
    oe->policy = RM__ON_ERROR_FAIL;
    oe->max_retries = 3;
    oe->base_delay_ns = 100000000ull;
    oe->max_delay_ns = 400000000ull;
    oe->jitter = 0.25;
    oe->failure_threshold = 5;
    oe->reset_timeout_ns = 60000000000ull;
    oe->success_threshold = 2;
    if (!v) return;
    char path[96];
    snprintf(path, sizeof path, "%s.on_error", npath);
    const json_t *policy = json_is_object(v) ? json_object_get(v, "policy") : v;
    const char *name = json_string_value(policy);
    if (!name || (strcmp(name, "fail") && strcmp(name, "skip") && strcmp(name, "retry"))) {
        DIAG(c, RM_EMANIFEST, path, node,
             "on_error must be \"fail\", \"skip\", \"retry\" or a mapping with policy: one of them");
        return;
    }
    oe->policy = !strcmp(name, "fail") ? RM__ON_ERROR_FAIL
               : !strcmp(name, "skip") ? RM__ON_ERROR_SKIP
                                        : RM__ON_ERROR_RETRY;
    if (!json_is_object(v)) return;
    double x = oe->max_retries;
    if (get_num(c, v, "max_retries", path, node, 0, 100, &x) == 0) oe->max_retries = (unsigned)x;
    x = (double)oe->base_delay_ns / 1e6;
    if (get_num(c, v, "base_delay_ms", path, node, 0, 3600e3, &x) == 0)
        oe->base_delay_ns = (uint64_t)(x * 1e6);
    x = (double)oe->max_delay_ns / 1e6;
    if (get_num(c, v, "max_delay_ms", path, node, 0, 3600e3, &x) == 0)
        oe->max_delay_ns = (uint64_t)(x * 1e6);
    x = oe->jitter;
    if (get_num(c, v, "jitter", path, node, 0, 1, &x) == 0) oe->jitter = x;
    const json_t *cb = json_object_get(v, "circuit_breaker");
    if (json_is_false(cb)) {
        oe->failure_threshold = 0;
    } else if (cb) {
        char cpath[128];
        snprintf(cpath, sizeof cpath, "%s.circuit_breaker", path);
        if (!json_is_object(cb)) {
            DIAG(c, RM_EMANIFEST, cpath, node, "circuit_breaker must be a mapping or false");
            return;
        }
        x = oe->failure_threshold;
        if (get_num(c, cb, "failure_threshold", cpath, node, 1, 1e6, &x) == 0)
            oe->failure_threshold = (unsigned)x;
        x = (double)oe->reset_timeout_ns / 1e6;
        if (get_num(c, cb, "reset_timeout_ms", cpath, node, 0, 86400e3, &x) == 0)
            oe->reset_timeout_ns = (uint64_t)(x * 1e6);
        x = oe->success_threshold;
        if (get_num(c, cb, "success_threshold", cpath, node, 1, 1e6, &x) == 0)
            oe->success_threshold = (unsigned)x;
    }
}

/* ---------------------------------------------------------------- nodes --- */

static void parse_nodes(cctx *c, const json_t *nodes)
{
    c->n_pn = json_array_size(nodes);
    c->pn = calloc(c->n_pn ? c->n_pn : 1, sizeof *c->pn);
    c->ids = json_object();
    if (!c->pn) {
        c->first = RM_ENOMEM;
        return;
    }
    for (size_t i = 0; i < c->n_pn; i++) {
        pnode *p = &c->pn[i];
        p->manifest_index = i;
        char path[64], sub[96];
        snprintf(path, sizeof path, "nodes[%zu]", i);
        const json_t *n = json_array_get(nodes, i);
        if (!json_is_object(n)) {
            DIAG(c, RM_EMANIFEST, path, NULL, "each node must be a mapping with id and node_type, got %s",
                 json_type_name(n));
            continue;
        }
        const json_t *id = json_object_get(n, "id");
        snprintf(sub, sizeof sub, "%s.id", path);
        if (!id) {
            DIAG(c, RM_EMANIFEST, path, NULL, "node has no 'id'");
        } else if (!json_is_string(id) || !valid_id(json_string_value(id))) {
            DIAG(c, RM_EMANIFEST, sub, NULL,
                 "node id must be a non-empty string of letters, digits, '_' or '-' (got %s%.40s%s)",
                 json_is_string(id) ? "\"" : json_type_name(id),
                 json_is_string(id) ? json_string_value(id) : "", json_is_string(id) ? "\"" : "");
        } else if (json_string_length(id) > RM_MANIFEST_MAX_ID) {
            DIAG(c, RM_EMANIFEST, sub, NULL, "node id \"%.40s…\" is %zu bytes long; at most %d are allowed",
                 json_string_value(id), json_string_length(id), RM_MANIFEST_MAX_ID);
        } else {
            int dup = find_pnode(c, json_string_value(id));
            if (dup >= 0) {
                int line = 0, col = 0;
                char dpath[64];
                snprintf(dpath, sizeof dpath, "nodes[%d]", dup);
                rm_manifest_locate(c->m, dpath, &line, &col);
                if (line)
                    DIAG(c, RM_EMANIFEST, sub, json_string_value(id),
                         "duplicate node id '%s' (first defined at nodes[%d], line %d)",
                         json_string_value(id), dup, line);
                else
                    DIAG(c, RM_EMANIFEST, sub, json_string_value(id),
                         "duplicate node id '%s' (first defined at nodes[%d])", json_string_value(id), dup);
            } else {
                p->id = json_string_value(id);
                /* on allocation failure fall back to scanning pn */
                if (c->ids && json_object_set_new(c->ids, p->id, json_integer((json_int_t)i)) != 0) {
                    json_decref(c->ids);
                    c->ids = NULL;
                }
            }
        }
        const char *nid = p->id;
        check_keys(c, n, node_keys, path, nid, "node");
        const json_t *type = json_object_get(n, "node_type");
        snprintf(sub, sizeof sub, "%s.node_type", path);
        if (!type) {
            DIAG(c, RM_EMANIFEST, path, nid, "node has no 'node_type'");
        } else if (!json_is_string(type) || !*json_string_value(type)) {
            DIAG(c, RM_EMANIFEST, sub, nid, "node_type must be a non-empty string, got %s",
                 json_type_name(type));
        } else {
            const char *tn = json_string_value(type);
            p->type = rm_runtime_find_node_type(c->rt, tn);
            if (!p->type) {
                const char *s = rm__diags_full(c->d) ? NULL : rm_runtime_suggest_node_type(c->rt, tn);
                if (s)
                    DIAG(c, RM_ENOTFOUND, sub, nid, "unknown node type '%.100s'; did you mean '%s'?", tn, s);
                else
                    DIAG(c, RM_ENOTFOUND, sub, nid,
                         "unknown node type '%.100s' (run 'rmedia nodes' for the list, or load a plugin)", tn);
            }
        }
        if (p->type) {
            size_t sz = p->type->config_size ? p->type->config_size : 1;
            p->config = rm__arena_keep(&c->g->arena, calloc(1, sz));
            if (!p->config) {
                c->first = RM_ENOMEM;
                return;
            }
            snprintf(sub, sizeof sub, "%s.params", path);
            int rc = rm__params_parse(p->type, json_object_get(n, "params"), p->config, &c->g->arena,
                                      c->d, c->m, sub, nid ? nid : path);
            if (rc != 0 && !c->first) c->first = rc;
            if (rc == 0 && p->type->abi_version >= 2 && p->type->specialize) { /* v1 descriptors end earlier */
                rm_error e;
                rm_error_clear(&e);
                rm_node_type *own = p->type->specialize(p->type, p->config, c->rt, rm_manifest_file(c->m), &e);
                if (own) {
                    p->type = rm__arena_keep(&c->g->arena, own);
                    if (!p->type) c->first = RM_ENOMEM;
                } else {
                    DIAG(c, e.code ? e.code : RM_EMANIFEST, sub, nid, "%s", e.message[0] ? e.message : "invalid");
                }
            }
        }
        parse_on_error(c, json_object_get(n, "on_error"), path, nid, &p->on_error);
        p->ok = p->id && p->type;
    }
}

/* ---------------------------------------------------------- connections --- */

/* dst = a + sep + b, truncated to cap (cheaper than snprintf on the
 * compile path, which builds a few of these per connection). */
static void join3(char *dst, size_t cap, const char *a, const char *sep, const char *b)
{
    const char *parts[3] = {a, sep, b};
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        for (const char *q = parts[i]; *q && n + 1 < cap; q++) dst[n++] = *q;
    dst[n] = '\0';
}

/* Resolves "node" or "node.port" (or a separate *_port key) to indexes.
 * Returns 0 on success. */
static int resolve_endpoint(cctx *c, const json_t *conn, const char *key, const char *path,
                            int output, uint32_t *node, uint32_t *port)
{
    char sub[96];
    join3(sub, sizeof sub, path, ".", key);
    const json_t *v = json_object_get(conn, key);
    if (!json_is_string(v) || !*json_string_value(v)) {
        DIAG(c, RM_EMANIFEST, v ? sub : path, NULL, "connection needs '%s' as a string \"node\" or \"node.port\"", key);
        return -1;
    }
    const char *s = json_string_value(v);
    const char *dot = strchr(s, '.');
    char id[256];
    size_t id_len = dot ? (size_t)(dot - s) : strlen(s);
    if (id_len >= sizeof id) id_len = sizeof id - 1;
    memcpy(id, s, id_len);
    id[id_len] = '\0';
    const char *port_name = dot ? dot + 1 : NULL;
    char pkey[16];
    join3(pkey, sizeof pkey, key, "_", "port");
    const json_t *pv = json_object_get(conn, pkey); /* compatibility: from_port/to_port */
    if (!port_name && json_is_string(pv) && strcmp(json_string_value(pv), "default") != 0)
        port_name = json_string_value(pv);
    int idx = find_pnode(c, id);
    if (idx < 0) {
        const char *best = closest_id(c, id);
        if (best)
            DIAG(c, RM_ENOTFOUND, sub, NULL, "connection references unknown %s node '%s'; did you mean '%s'?",
                 output ? "source" : "target", id, best);
        else
            DIAG(c, RM_ENOTFOUND, sub, NULL, "connection references unknown %s node '%s'",
                 output ? "source" : "target", id);
        return -1;
    }
    const pnode *pn = &c->pn[idx];
    if (!pn->ok) return -1; /* already reported */
    *node = (uint32_t)idx;
    if (!port_name) {
        unsigned n = output ? rm_node_type_n_outputs(pn->type) : rm_node_type_n_inputs(pn->type);
        if (n == 0) {
            DIAG(c, RM_ENOTFOUND, sub, pn->id, "%s has no %s ports", pn->type->name,
                 output ? "output" : "input");
            return -1;
        }
        *port = 0;
        return 0;
    }
    int pi = output ? rm_node_type_output_index(pn->type, port_name)
                    : rm_node_type_input_index(pn->type, port_name);
    if (pi < 0) {
        rm__buf names;
        rm__buf_init(&names);
        unsigned n = output ? rm_node_type_n_outputs(pn->type) : rm_node_type_n_inputs(pn->type);
        for (unsigned i = 0; i < n; i++) {
            const rm_port_def *pd = output ? rm_node_type_output(pn->type, i) : rm_node_type_input(pn->type, i);
            rm__buf_printf(&names, "%s%s", i ? ", " : "", pd->name);
        }
        DIAG(c, RM_ENOTFOUND, sub, pn->id, "%s has no %s port '%s' (%s ports: %s)",
             pn->type->name, output ? "output" : "input", port_name,
             output ? "output" : "input", names.data ? names.data : "none");
        rm__buf_free(&names);
        return -1;
    }
    *port = (uint32_t)pi;
    return 0;
}

static int parse_queue(cctx *c, const json_t *q, const char *path, pedge *e)
{
    char sub[96];
    snprintf(sub, sizeof sub, "%s.queue", path);
    const json_t *policy = json_is_object(q) ? json_object_get(q, "policy") : q;
    const char *name = json_string_value(policy);
    if (!name && json_is_object(q)) name = "block";
    if (!name || (strcmp(name, "block") && strcmp(name, "drop_oldest") && strcmp(name, "drop_newest"))) {
        DIAG(c, RM_EMANIFEST, sub, NULL,
             "queue policy must be one of: block, drop_oldest, drop_newest");
        return -1;
    }
    e->policy = !strcmp(name, "block") ? RM__QUEUE_BLOCK
              : !strcmp(name, "drop_oldest") ? RM__QUEUE_DROP_OLDEST
                                             : RM__QUEUE_DROP_NEWEST;
    e->capacity = RM__DEFAULT_QUEUE_CAPACITY;
    const json_t *cap = json_is_object(q) ? json_object_get(q, "capacity") : NULL;
    if (cap) {
        if (!json_is_integer(cap) || json_integer_value(cap) < 1 ||
            json_integer_value(cap) > RM__MAX_QUEUE_CAPACITY) {
            DIAG(c, RM_EMANIFEST, sub, NULL, "queue capacity must be an integer in [1, %d]",
                 RM__MAX_QUEUE_CAPACITY);
            return -1;
        }
        e->capacity = (size_t)json_integer_value(cap);
    }
    return 0;
}

/* Open-addressing set of edges (indexes into c->pe), for finding duplicate
 * connections in linear time. */
typedef struct edge_set {
    uint32_t *slots; /* edge index + 1; 0 = empty */
    size_t mask;
} edge_set;

static size_t edge_hash(const pedge *e)
{
    uint64_t h = ((uint64_t)e->from << 32 | e->from_port) * 0x9E3779B97F4A7C15ull;
    h ^= ((uint64_t)e->to << 32 | e->to_port) * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

static int same_link(const pedge *a, const pedge *b)
{
    return a->from == b->from && a->from_port == b->from_port && a->to == b->to && a->to_port == b->to_port;
}

/* The edge equal to `e`, or NULL and in *slot the free slot for it. */
static const pedge *edge_set_find(const edge_set *set, const pedge *all, const pedge *e, size_t *slot)
{
    for (size_t i = edge_hash(e) & set->mask;; i = (i + 1) & set->mask) {
        if (!set->slots[i]) {
            *slot = i;
            return NULL;
        }
        if (same_link(&all[set->slots[i] - 1], e)) return &all[set->slots[i] - 1];
    }
}

static void parse_connections(cctx *c, const json_t *conns)
{
    size_t n = json_array_size(conns);
    c->pe = calloc(n ? n : 1, sizeof *c->pe);
    edge_set set = {NULL, 0};
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    set.slots = calloc(cap, sizeof *set.slots);
    set.mask = cap - 1;
    /* links per output port, for RM_MANIFEST_MAX_FANOUT */
    size_t *port_base = calloc(c->n_pn + 1, sizeof *port_base);
    for (size_t i = 0; port_base && i < c->n_pn; i++)
        port_base[i + 1] = port_base[i] + (c->pn[i].type ? rm_node_type_n_outputs(c->pn[i].type) : 0);
    uint32_t *fanout = port_base ? calloc(port_base[c->n_pn] + 1, sizeof *fanout) : NULL;
    if (!c->pe || !set.slots || !fanout) {
        free(set.slots);
        free(port_base);
        free(fanout);
        c->first = RM_ENOMEM;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char path[48];
        snprintf(path, sizeof path, "connections[%zu]", i);
        const json_t *conn = json_array_get(conns, i);
        if (!json_is_object(conn)) {
            DIAG(c, RM_EMANIFEST, path, NULL, "each connection must be a mapping with 'from' and 'to', got %s",
                 json_type_name(conn));
            continue;
        }
        check_keys(c, conn, conn_keys, path, NULL, "connection");
        pedge e;
        memset(&e, 0, sizeof e);
        snprintf(e.path, sizeof e.path, "%s", path);
        int ok = resolve_endpoint(c, conn, "from", path, 1, &e.from, &e.from_port) == 0;
        ok &= resolve_endpoint(c, conn, "to", path, 0, &e.to, &e.to_port) == 0;
        const json_t *q = json_object_get(conn, "queue");
        if (q && parse_queue(c, q, path, &e) != 0) ok = 0;
        if (!ok) continue;
        size_t slot;
        const pedge *o = edge_set_find(&set, c->pe, &e, &slot);
        if (o) {
            DIAG(c, RM_EMANIFEST, path, c->pn[e.to].id, "duplicate connection (same as %s)", o->path);
            continue;
        }
        uint32_t *fo = &fanout[port_base[e.from] + e.from_port];
        if (++*fo > RM_MANIFEST_MAX_FANOUT) {
            if (*fo == RM_MANIFEST_MAX_FANOUT + 1)
                DIAG(c, RM_EMANIFEST, path, c->pn[e.from].id,
                     "more than %d connections from output '%s' of '%s'", RM_MANIFEST_MAX_FANOUT,
                     rm_node_type_output(c->pn[e.from].type, e.from_port)->name, c->pn[e.from].id);
            continue;
        }
        set.slots[slot] = (uint32_t)c->n_pe + 1;
        c->pe[c->n_pe++] = e;
    }
    free(set.slots);
    free(port_base);
    free(fanout);
}

/* ---------------------------------------------------------------- order --- */

/* Edges grouped by source node (CSR): the edges out of node i are
 * list[start[i] .. start[i+1]), in manifest order. */
typedef struct adjacency {
    uint32_t *start, *list;
} adjacency;

static int adjacency_build(adjacency *a, size_t n, const pedge *pe, size_t n_pe, int by_target)
{
    a->start = calloc(n + 1, sizeof *a->start);
    a->list = calloc(n_pe ? n_pe : 1, sizeof *a->list);
    uint32_t *fill = calloc(n + 1, sizeof *fill);
    if (!a->start || !a->list || !fill) {
        free(fill);
        return RM_ENOMEM;
    }
#define KEY(e) (by_target ? pe[e].to : pe[e].from)
    for (size_t e = 0; e < n_pe; e++) a->start[KEY(e) + 1]++;
    for (size_t i = 0; i < n; i++) a->start[i + 1] += a->start[i];
    for (size_t e = 0; e < n_pe; e++) a->list[a->start[KEY(e)] + fill[KEY(e)]++] = (uint32_t)e;
#undef KEY
    free(fill);
    return 0;
}

static void adjacency_free(adjacency *a)
{
    free(a->start);
    free(a->list);
}

/* Min-heap of node indexes: the ready node with the lowest manifest index
 * goes first. */
static void heap_push(uint32_t *h, size_t *n, uint32_t v)
{
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static uint32_t heap_pop(uint32_t *h, size_t *n)
{
    uint32_t top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= *n) break;
        if (k + 1 < *n && h[k + 1] < h[k]) k++;
        if (h[k] >= last) break;
        h[i] = h[k];
        i = k;
    }
    h[i] = last;
    return top;
}

/* Kahn's algorithm, taking the lowest manifest index among ready nodes, so
 * the order is deterministic and follows the manifest where it can;
 * O((nodes + links) log nodes).  On a cycle the order is completed with the
 * nodes left over (in manifest order), so the rest can still be checked. */
static int topo_order(cctx *c, uint32_t *order)
{
    size_t n = c->n_pn;
    adjacency adj = {NULL, NULL};
    uint32_t *indeg = calloc(n ? n : 1, sizeof *indeg);
    uint32_t *heap = calloc(n ? n : 1, sizeof *heap);
    char *done = calloc(n ? n : 1, 1);
    if (!indeg || !heap || !done || adjacency_build(&adj, n, c->pe, c->n_pe, 0) != 0) {
        free(indeg);
        free(heap);
        free(done);
        adjacency_free(&adj);
        return RM_ENOMEM;
    }
    for (size_t e = 0; e < c->n_pe; e++) indeg[c->pe[e].to]++;
    size_t k = 0, hn = 0;
    for (size_t i = 0; i < n; i++)
        if (indeg[i] == 0) heap_push(heap, &hn, (uint32_t)i);
    while (hn) {
        uint32_t pick = heap_pop(heap, &hn);
        done[pick] = 1;
        order[k++] = pick;
        for (uint32_t j = adj.start[pick]; j < adj.start[pick + 1]; j++) {
            uint32_t to = c->pe[adj.list[j]].to;
            if (--indeg[to] == 0) heap_push(heap, &hn, to);
        }
    }
    int rc = 0;
    if (k < n) {
        /* Every node left over has a predecessor left over: walking
         * backwards from one must repeat a node, and that closes a cycle. */
        adjacency in = {NULL, NULL};
        uint32_t *walk = calloc(n + 1, sizeof *walk);
        char *seen = calloc(n, 1);
        rm__buf msg;
        rm__buf_init(&msg);
        if (walk && seen && adjacency_build(&in, n, c->pe, c->n_pe, 1) == 0) {
            size_t start = 0;
            while (done[start]) start++;
            size_t len = 0, cur = start;
            while (!seen[cur]) {
                seen[cur] = 1;
                walk[len++] = (uint32_t)cur;
                for (uint32_t j = in.start[cur]; j < in.start[cur + 1]; j++)
                    if (!done[c->pe[in.list[j]].from]) {
                        cur = c->pe[in.list[j]].from;
                        break;
                    }
            }
            size_t from = 0;
            while (walk[from] != cur) from++;
            /* walk[from..len) runs against the links: print it forwards */
            rm__buf_puts(&msg, c->pn[cur].id);
            for (size_t i = len; i-- > from;) rm__buf_printf(&msg, " → %s", c->pn[walk[i]].id);
        }
        adjacency_free(&in);
        DIAG(c, RM_ECYCLE, "connections", NULL, "the graph contains a cycle: %s",
             msg.data ? msg.data : "?");
        rm__buf_free(&msg);
        free(walk);
        free(seen);
        for (size_t i = 0; i < n; i++)
            if (!done[i]) order[k++] = (uint32_t)i;
        rc = RM_ECYCLE;
    }
    free(indeg);
    free(heap);
    free(done);
    adjacency_free(&adj);
    return rc;
}

/* ----------------------------------------------------------------- caps --- */

static void kinds_str(uint32_t kinds, rm__buf *b)
{
    if (!kinds) {
        rm__buf_puts(b, "any");
        return;
    }
    int first = 1;
    for (int k = RM_FRAME_AUDIO; k <= RM_FRAME_BINARY; k++)
        if (kinds & RM_KIND_BIT(k)) {
            rm__buf_printf(b, "%s%s", first ? "" : "|", rm_frame_kind_name((rm_frame_kind)k));
            first = 0;
        }
}

static void caps_str(const rm_caps *cp, rm__buf *b)
{
    kinds_str(cp->kinds, b);
    if (cp->kinds == RM_KIND_BIT(RM_FRAME_AUDIO)) {
        if (cp->rate) rm__buf_printf(b, " %u Hz", cp->rate);
        if (cp->channels) rm__buf_printf(b, " %u ch", cp->channels);
        if (cp->format) rm__buf_printf(b, " %s", rm_sample_format_name(cp->format));
    }
}

static void merge_caps(rm_caps *into, const rm_caps *add, int first)
{
    if (first) {
        *into = *add;
        return;
    }
    if (!into->kinds || !add->kinds) into->kinds = 0;
    else into->kinds |= add->kinds;
    if (into->rate != add->rate) into->rate = 0;
    if (into->channels != add->channels) into->channels = 0;
    if (into->format != add->format) into->format = RM_SAMPLE_ANY;
}

static void check_link(cctx *c, const rm_graph *g, const rm__gedge *e)
{
    const rm__gnode *a = &g->nodes[e->from], *b = &g->nodes[e->to];
    const rm_caps *up = &a->out_caps[e->from_port], *req = &b->in_req[e->to_port];
    const char *ap = rm_node_type_output(a->type, e->from_port)->name;
    const char *bp = rm_node_type_input(b->type, e->to_port)->name;
    if (up->kinds && req->kinds && !(up->kinds & req->kinds)) {
        rm__buf x, y;
        rm__buf_init(&x);
        rm__buf_init(&y);
        kinds_str(up->kinds, &x);
        kinds_str(req->kinds, &y);
        DIAG(c, RM_ECAPS, "connections", b->id,
             "link %s.%s → %s.%s: %s (%s) produces %s but %s (%s) port '%s' accepts %s", a->id, ap,
             b->id, bp, a->id, a->type->name, x.data, b->id, b->type->name, bp, y.data);
        rm__buf_free(&x);
        rm__buf_free(&y);
        return;
    }
    if (up->kinds != RM_KIND_BIT(RM_FRAME_AUDIO) || !(req->kinds & RM_KIND_BIT(RM_FRAME_AUDIO))) return;
    int d_rate = up->rate && req->rate && up->rate != req->rate;
    int d_ch = up->channels && req->channels && up->channels != req->channels;
    int d_fmt = up->format && req->format && up->format != req->format;
    if (!d_rate && !d_ch && !d_fmt) return;
    if (c->may_insert && (!d_rate || rm_runtime_find_node_type(c->rt, CONV_RATE)) &&
        (!d_ch || rm_runtime_find_node_type(c->rt, CONV_CHANNELS)) &&
        (!d_fmt || rm_runtime_find_node_type(c->rt, CONV_FORMAT))) {
        struct mismatch *mm = realloc(c->mm, (c->n_mm + 1) * sizeof *mm);
        if (!mm) {
            c->first = RM_ENOMEM;
            return;
        }
        c->mm = mm;
        mm[c->n_mm].edge = e->index;
        mm[c->n_mm].up = *up;
        mm[c->n_mm].req = *req;
        c->n_mm++;
        return;
    }
    rm__buf why, fix;
    rm__buf_init(&why);
    rm__buf_init(&fix);
    if (up->rate && req->rate && up->rate != req->rate) {
        rm__buf_printf(&why, "rate %u Hz vs %u Hz", up->rate, req->rate);
        rm__buf_printf(&fix, "an AudioResample node (target_rate: %u)", req->rate);
    }
    if (up->channels && req->channels && up->channels != req->channels) {
        rm__buf_printf(&why, "%schannels %u vs %u", why.len ? ", " : "", up->channels, req->channels);
        rm__buf_printf(&fix, "%sa ChannelMixer (channels: %u)", fix.len ? " and " : "", req->channels);
    }
    if (up->format && req->format && up->format != req->format) {
        rm__buf_printf(&why, "%sformat %s vs %s", why.len ? ", " : "", rm_sample_format_name(up->format),
                       rm_sample_format_name(req->format));
        rm__buf_printf(&fix, "%sa FormatConverter (target_format: %s)", fix.len ? " and " : "",
                       rm_sample_format_name(req->format));
    }
    if (why.len)
        DIAG(c, RM_ECAPS, "connections", b->id,
             "link %s.%s → %s.%s: audio does not match (%s); insert %s between them", a->id, ap,
             b->id, bp, why.data, fix.data);
    rm__buf_free(&why);
    rm__buf_free(&fix);
}

/* Edges into node i: in_list[in_start[i] .. in_start[i+1]), in edge order. */
typedef struct in_edges {
    uint32_t *start, *list;
} in_edges;

static int negotiate(cctx *c, rm_graph *g, const in_edges *in, const rm_compile_opts *opts)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        rm__gnode *n = &g->nodes[i];
        for (unsigned p = 0; p < n->n_in; p++) {
            int first = 1;
            for (uint32_t j = in->start[i]; j < in->start[i + 1]; j++) {
                const rm__gedge *ge = &g->edges[in->list[j]];
                if (ge->to_port != p) continue;
                merge_caps(&n->in_caps[p], &g->nodes[ge->from].out_caps[ge->from_port], first);
                first = 0;
            }
            if (first && n->is_source && opts && opts->input_caps) n->in_caps[p] = *opts->input_caps;
            n->in_req[p].kinds = rm_node_type_input(n->type, p)->kinds;
        }
        for (unsigned p = 0; p < n->n_out; p++) n->out_caps[p].kinds = rm_node_type_output(n->type, p)->kinds;
        if (n->type->negotiate) {
            rm_error err;
            rm_error_clear(&err);
            int rc = n->type->negotiate(n->config, n->in_caps, n->in_req, n->out_caps, &err);
            if (rc != 0) DIAG(c, rc, "nodes", n->id, "%s", err.message[0] ? err.message : rm_strerror(rc));
        }
    }
    for (size_t e = 0; e < g->n_edges; e++) check_link(c, g, &g->edges[e]);
    return c->first;
}

/* ------------------------------------------------------------- segments --- */

static int assign_segments(rm_graph *g, const in_edges *in)
{
    g->segments = calloc(g->n_nodes + 1, sizeof *g->segments);
    if (!g->segments) return RM_ENOMEM;
    g->n_segments = 1;
    g->segments[0].policy = RM__QUEUE_BLOCK; /* used in pool mode */
    for (size_t i = 0; i < g->n_nodes; i++) {
        rm__gnode *n = &g->nodes[i];
        rm__queue_policy policy = (n->type->flags & RM_NODE_BLOCKING) ? RM__QUEUE_BLOCK : RM__QUEUE_NONE;
        size_t capacity = 0; /* 0: the session's default capacity */
        int seg = 0;
        for (uint32_t j = in->start[i]; j < in->start[i + 1]; j++) {
            const rm__gedge *ge = &g->edges[in->list[j]];
            if (ge->policy != RM__QUEUE_NONE) policy = ge->policy, capacity = ge->capacity;
            if (g->nodes[ge->from].segment > seg) seg = g->nodes[ge->from].segment;
        }
        if (policy != RM__QUEUE_NONE) {
            seg = (int)g->n_segments++;
            g->segments[seg].entry_node = (uint32_t)i;
            g->segments[seg].policy = policy;
            g->segments[seg].capacity = capacity;
        }
        n->segment = seg;
    }
    for (size_t e = 0; e < g->n_edges; e++)
        g->edges[e].crosses = g->nodes[g->edges[e].from].segment != g->nodes[g->edges[e].to].segment;
    return 0;
}

/* ---------------------------------------------------------------- build --- */

static int build(cctx *c, const uint32_t *order, const rm_compile_opts *opts)
{
    rm_graph *g = c->g;
    uint32_t *pos = calloc(c->n_pn ? c->n_pn : 1, sizeof *pos);
    g->nodes = calloc(c->n_pn ? c->n_pn : 1, sizeof *g->nodes);
    g->edges = calloc(c->n_pe ? c->n_pe : 1, sizeof *g->edges);
    if (!pos || !g->nodes || !g->edges) {
        free(pos);
        return RM_ENOMEM;
    }
    g->n_nodes = c->n_pn;
    g->n_edges = c->n_pe;
    for (size_t i = 0; i < c->n_pn; i++) pos[order[i]] = (uint32_t)i;
    for (size_t e = 0; e < c->n_pe; e++) {
        rm__gedge *ge = &g->edges[e];
        ge->from = pos[c->pe[e].from];
        ge->from_port = c->pe[e].from_port;
        ge->to = pos[c->pe[e].to];
        ge->to_port = c->pe[e].to_port;
        ge->policy = c->pe[e].policy;
        ge->capacity = c->pe[e].capacity;
        ge->index = (uint32_t)e;
    }
    free(pos);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const pnode *p = &c->pn[order[i]];
        rm__gnode *n = &g->nodes[i];
        n->type = p->type;
        n->config = p->config;
        n->on_error = p->on_error;
        n->inserted = p->inserted;
        n->n_in = rm_node_type_n_inputs(p->type);
        n->n_out = rm_node_type_n_outputs(p->type);
        n->id = rm__arena_keep(&g->arena, rm__strdup(p->id));
        n->in_caps = rm__arena_keep(&g->arena, calloc(n->n_in + 1, sizeof(rm_caps)));
        n->in_req = rm__arena_keep(&g->arena, calloc(n->n_in + 1, sizeof(rm_caps)));
        n->out_caps = rm__arena_keep(&g->arena, calloc(n->n_out + 1, sizeof(rm_caps)));
        n->out_edges = rm__arena_keep(&g->arena, calloc(n->n_out + 1, sizeof(uint32_t *)));
        n->n_out_edges = rm__arena_keep(&g->arena, calloc(n->n_out + 1, sizeof(uint32_t)));
        if (!n->id || !n->in_caps || !n->in_req || !n->out_caps || !n->out_edges || !n->n_out_edges)
            return RM_ENOMEM;
        n->is_sink = 1;
    }
    /* links per output port, upstream counts, sinks: one pass over the edges */
    for (size_t e = 0; e < g->n_edges; e++) {
        const rm__gedge *ge = &g->edges[e];
        g->nodes[ge->from].n_out_edges[ge->from_port]++;
        g->nodes[ge->from].is_sink = 0;
        g->nodes[ge->to].n_upstream++;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        rm__gnode *n = &g->nodes[i];
        n->is_source = n->n_upstream == 0;
        for (unsigned port = 0; port < n->n_out; port++) {
            n->out_edges[port] = rm__arena_keep(&g->arena, calloc(n->n_out_edges[port] + 1, sizeof(uint32_t)));
            if (!n->out_edges[port]) return RM_ENOMEM;
            n->n_out_edges[port] = 0; /* refilled below */
        }
    }
    for (size_t e = 0; e < g->n_edges; e++) {
        rm__gnode *a = &g->nodes[g->edges[e].from];
        unsigned port = g->edges[e].from_port;
        a->out_edges[port][a->n_out_edges[port]++] = (uint32_t)e;
    }
    g->sources = rm__arena_keep(&g->arena, calloc(g->n_nodes + 1, sizeof(uint32_t)));
    g->sinks = rm__arena_keep(&g->arena, calloc(g->n_nodes + 1, sizeof(uint32_t)));
    if (!g->sources || !g->sinks) return RM_ENOMEM;
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].is_source) g->sources[g->n_sources++] = (uint32_t)i;
        if (g->nodes[i].is_sink) g->sinks[g->n_sinks++] = (uint32_t)i;
    }
    in_edges in;
    in.start = calloc(g->n_nodes + 1, sizeof *in.start);
    in.list = calloc(g->n_edges + 1, sizeof *in.list);
    uint32_t *fill = calloc(g->n_nodes + 1, sizeof *fill);
    int rc = in.start && in.list && fill ? 0 : RM_ENOMEM;
    if (rc == 0) {
        for (size_t e = 0; e < g->n_edges; e++) in.start[g->edges[e].to + 1]++;
        for (size_t i = 0; i < g->n_nodes; i++) in.start[i + 1] += in.start[i];
        for (size_t e = 0; e < g->n_edges; e++) {
            uint32_t to = g->edges[e].to;
            in.list[in.start[to] + fill[to]++] = (uint32_t)e;
        }
        rc = negotiate(c, g, &in, opts);
    }
    if (rc == 0) rc = assign_segments(g, &in);
    if (rc == 0 && g->n_segments - 1 > RM_MANIFEST_MAX_WORKERS) {
        DIAG(c, RM_EMANIFEST, "nodes", NULL,
             "the pipeline needs %zu worker threads (one per blocking node or queued connection that "
             "starts a segment); at most %d are allowed",
             g->n_segments - 1, RM_MANIFEST_MAX_WORKERS);
        rc = c->first;
    }
    free(in.start);
    free(in.list);
    free(fill);
    return rc;
}

/* Drops what build() made, keeping configs and ids in the arena. */
static void reset_build(rm_graph *g)
{
    free(g->nodes);
    free(g->edges);
    free(g->segments);
    g->nodes = NULL;
    g->edges = NULL;
    g->segments = NULL;
    g->n_nodes = g->n_edges = g->n_segments = g->n_sources = g->n_sinks = 0;
}

/* Adds a converter node of `type_name` configured by `params`; returns its
 * index in c->pn or -1. */
static int add_converter(cctx *c, const char *type_name, json_t *params, const char *to_id)
{
    const rm_node_type *t = rm_runtime_find_node_type(c->rt, type_name);
    pnode *pn = realloc(c->pn, (c->n_pn + 1) * sizeof *pn);
    if (!pn || !t) {
        if (pn) c->pn = pn;
        json_decref(params);
        c->first = t ? RM_ENOMEM : RM_EINTERNAL;
        return -1;
    }
    c->pn = pn;
    pnode *p = &c->pn[c->n_pn];
    memset(p, 0, sizeof *p);
    char id[200];
    const char *kind = !strcmp(type_name, CONV_RATE) ? "resample" : !strcmp(type_name, CONV_CHANNELS) ? "mix" : "convert";
    snprintf(id, sizeof id, "%s-%s", to_id, kind);
    for (int k = 2; find_pnode(c, id) >= 0; k++) snprintf(id, sizeof id, "%s-%s-%d", to_id, kind, k);
    p->id = rm__arena_keep(&c->g->arena, rm__strdup(id));
    p->type = t;
    p->config = rm__arena_keep(&c->g->arena, calloc(1, t->config_size ? t->config_size : 1));
    p->inserted = 1;
    p->ok = 1;
    p->manifest_index = c->n_pn;
    parse_on_error(c, NULL, "", p->id, &p->on_error);
    if (!p->id || !p->config) {
        json_decref(params);
        c->first = RM_ENOMEM;
        return -1;
    }
    rm_diags *tmp = rm_diags_new();
    int rc = rm__params_parse(t, params, p->config, &c->g->arena, tmp, NULL, "params", p->id);
    if (rc != 0) {
        const rm_diag *x = rm_diags_at(tmp, 0);
        DIAG(c, RM_EINTERNAL, "connections", p->id, "cannot configure an inserted %s: %s", type_name,
             x ? x->message : rm_strerror(rc));
    }
    rm_diags_free(tmp);
    json_decref(params);
    if (rc != 0) return -1;
    if (c->ids && json_object_set_new(c->ids, p->id, json_integer((json_int_t)c->n_pn)) != 0) {
        json_decref(c->ids); /* fall back to scanning */
        c->ids = NULL;
    }
    return (int)c->n_pn++;
}

static int insert_converters(cctx *c)
{
    for (size_t k = 0; k < c->n_mm; k++) {
        const struct mismatch *m = &c->mm[k];
        pedge orig = c->pe[m->edge];
        const char *to_id = c->pn[orig.to].id;
        int chain[3], n = 0;
        /* mix down before resampling (less work), up after it */
        int down = m->up.channels && m->req.channels && m->up.channels > m->req.channels;
        int up = m->up.channels && m->req.channels && m->up.channels < m->req.channels;
        if (down) chain[n++] = add_converter(c, CONV_CHANNELS, json_pack("{s:i}", "channels", (int)m->req.channels), to_id);
        if (m->up.rate && m->req.rate && m->up.rate != m->req.rate)
            chain[n++] = add_converter(c, CONV_RATE, json_pack("{s:i}", "target_rate", (int)m->req.rate), to_id);
        if (up) chain[n++] = add_converter(c, CONV_CHANNELS, json_pack("{s:i}", "channels", (int)m->req.channels), to_id);
        if (m->up.format && m->req.format && m->up.format != m->req.format)
            chain[n++] = add_converter(c, CONV_FORMAT,
                                       json_pack("{s:s}", "target_format", rm_sample_format_name(m->req.format)), to_id);
        for (int i = 0; i < n; i++)
            if (chain[i] < 0) return c->first ? c->first : RM_EINTERNAL;
        pedge *pe = realloc(c->pe, (c->n_pe + (size_t)n) * sizeof *pe);
        if (!pe) return RM_ENOMEM;
        c->pe = pe;
        /* from → chain[0] → … → chain[n-1] → to; a declared queue stays on
         * the link into the original target */
        c->pe[m->edge].to = (uint32_t)chain[0];
        c->pe[m->edge].to_port = 0;
        c->pe[m->edge].policy = RM__QUEUE_NONE;
        for (int i = 0; i < n; i++) {
            pedge e = orig;
            e.from = (uint32_t)chain[i];
            e.from_port = 0;
            if (i + 1 < n) {
                e.to = (uint32_t)chain[i + 1];
                e.to_port = 0;
                e.policy = RM__QUEUE_NONE;
            }
            c->pe[c->n_pe++] = e;
            const pnode *cv = &c->pn[chain[i]];
            rm__buf v;
            rm__buf_init(&v);
            /* the one parameter the compiler set on this converter */
            const char *set = !strcmp(cv->type->name, CONV_RATE) ? "target_rate"
                            : !strcmp(cv->type->name, CONV_CHANNELS) ? "channels"
                                                                     : "target_format";
            for (const rm_param_def *pd = cv->type->params; pd && pd->name; pd++)
                if (!strcmp(pd->name, set)) {
                    rm__buf_printf(&v, "%s: ", pd->name);
                    rm__param_value_str(pd, cv->config, &v);
                }
            rm__log(c->rt, RM_LOG_DEBUG, cv->id, "inserted %s (%s) on the link %s → %s: it has %u Hz, %u ch, %s; "
                    "%s needs %u Hz, %u ch, %s",
                    cv->type->name, v.data ? v.data : "", c->pn[orig.from].id, to_id, m->up.rate, m->up.channels,
                    rm_sample_format_name(m->up.format), to_id, m->req.rate, m->req.channels,
                    rm_sample_format_name(m->req.format));
            rm__buf_free(&v);
        }
    }
    return 0;
}

/* Node ids in sorted order, for rm_graph_node_index() in O(log n). */
static int cmp_id_entry(const void *a, const void *b)
{
    return strcmp(((const rm__id_entry *)a)->id, ((const rm__id_entry *)b)->id);
}

static int index_ids(rm_graph *g)
{
    g->by_id = calloc(g->n_nodes + 1, sizeof *g->by_id);
    if (!g->by_id) return RM_ENOMEM;
    for (size_t i = 0; i < g->n_nodes; i++) {
        g->by_id[i].id = g->nodes[i].id;
        g->by_id[i].index = (uint32_t)i;
    }
    qsort(g->by_id, g->n_nodes, sizeof *g->by_id, cmp_id_entry);
    return 0;
}

static void graph_free(rm_graph *g)
{
    if (!g) return;
    free(g->by_id);
    free(g->nodes);
    free(g->edges);
    free(g->segments);
    free(g->name);
    free(g->file);
    rm__arena_free(&g->arena);
    free(g);
}

int rm_graph_compile(rm_runtime *rt, const rm_manifest *m, const rm_compile_opts *opts,
                     rm_graph **out, rm_diags *diags)
{
    *out = NULL;
    cctx c;
    memset(&c, 0, sizeof c);
    c.rt = rt;
    c.m = m;
    c.d = diags;
    c.g = calloc(1, sizeof *c.g);
    if (!c.g) return RM_ENOMEM;
    atomic_init(&c.g->refs, 1);
    c.g->rt = rt;
    const json_t *doc = rm_manifest_json(m);
    if (!json_is_object(doc)) {
        DIAG(&c, RM_EMANIFEST, "", NULL, "the manifest must be a mapping with version, nodes and connections (got %s)",
             json_type_name(doc));
        graph_free(c.g);
        return c.first;
    }
    const json_t *version = json_object_get(doc, "version");
    if (!version)
        DIAG(&c, RM_EMANIFEST, "", NULL, "missing required key 'version' (use version: \"v1\")");
    else if (!json_is_string(version) || strcmp(json_string_value(version), "v1") != 0) {
        /* quote a few bytes only: the value is the client's and may be huge */
        rm__buf v;
        rm__buf_init(&v);
        if (json_is_string(version)) {
            const char *str = json_string_value(version);
            size_t k = json_string_length(version);
            if (k > 40) /* 40 bytes, not cutting a UTF-8 character */
                for (k = 40; k > 0 && ((unsigned char)str[k] & 0xC0) == 0x80; k--) {}
            char head[41];
            memcpy(head, str, k);
            head[k] = '\0';
            rm__buf_json_str(&v, head);
            if (k < json_string_length(version)) rm__buf_puts(&v, "…");
        } else if (json_is_object(version) || json_is_array(version)) {
            rm__buf_puts(&v, json_type_name(version));
        } else {
            char *d = json_dumps(version, JSON_ENCODE_ANY | JSON_COMPACT); /* a scalar: short */
            rm__buf_puts(&v, d ? d : "?");
            free(d);
        }
        DIAG(&c, RM_EMANIFEST, "version", NULL, "unsupported manifest version %s (supported: \"v1\")",
             v.data ? v.data : "?");
        rm__buf_free(&v);
    }
    check_keys(&c, doc, top_keys, "", NULL, "top-level");
    const json_t *meta = json_object_get(doc, "metadata");
    const char *name = NULL;
    if (meta && !json_is_object(meta))
        DIAG(&c, RM_EMANIFEST, "metadata", NULL, "metadata must be a mapping, got %s", json_type_name(meta));
    else if (meta && json_object_get(meta, "name") && !json_is_string(json_object_get(meta, "name")))
        DIAG(&c, RM_EMANIFEST, "metadata.name", NULL, "metadata.name must be a string");
    else if (meta)
        name = json_string_value(json_object_get(meta, "name"));
    if (!name) name = rm_manifest_file(m) ? rm__basename(rm_manifest_file(m)) : "pipeline";
    c.g->name = rm__strdup(name);
    c.g->file = rm_manifest_file(m) ? rm__strdup(rm_manifest_file(m)) : NULL;

    const json_t *nodes = json_object_get(doc, "nodes");
    if (!nodes)
        DIAG(&c, RM_EMANIFEST, "", NULL, "missing required key 'nodes' (a list of nodes)");
    else if (!json_is_array(nodes))
        DIAG(&c, RM_EMANIFEST, "nodes", NULL, "'nodes' must be a list, got %s", json_type_name(nodes));
    else if (json_array_size(nodes) == 0)
        DIAG(&c, RM_EMANIFEST, "nodes", NULL, "the manifest must contain at least one node");
    else if (json_array_size(nodes) > RM_MANIFEST_MAX_NODES)
        DIAG(&c, RM_EMANIFEST, "nodes", NULL, "the manifest has %zu nodes; at most %d are allowed",
             json_array_size(nodes), RM_MANIFEST_MAX_NODES);
    else
        parse_nodes(&c, nodes);

    const json_t *conns = json_object_get(doc, "connections");
    if (conns && !json_is_array(conns) && !json_is_null(conns))
        DIAG(&c, RM_EMANIFEST, "connections", NULL, "'connections' must be a list, got %s", json_type_name(conns));
    else if (json_array_size(conns) > RM_MANIFEST_MAX_CONNECTIONS)
        DIAG(&c, RM_EMANIFEST, "connections", NULL, "the manifest has %zu connections; at most %d are allowed",
             json_array_size(conns), RM_MANIFEST_MAX_CONNECTIONS);
    else if (c.pn && c.first != RM_ENOMEM)
        parse_connections(&c, json_is_array(conns) ? conns : NULL);

    int rc = c.first;
    uint32_t *order = NULL;
    /* Order (and find cycles) over the links that are valid, also when
     * something else is wrong: a cycle and other problems are all reported. */
    if (c.pn && c.pe && c.first != RM_ENOMEM) {
        order = calloc(c.n_pn ? c.n_pn : 1, sizeof *order);
        int trc = order ? topo_order(&c, order) : RM_ENOMEM;
        if (trc == RM_ECYCLE && rc == 0) {
            /* A check-only build, to report what else is wrong (caps);
             * mismatches a converter would fix are not errors here. */
            c.may_insert = 1;
            build(&c, order, opts);
            reset_build(c.g);
            c.n_mm = 0;
        }
        if (rc == 0) rc = trc;
    }
    /* Build; where audio links differ only in rate, channels or sample
     * format, insert converters and build again (a converter may need its
     * own, e.g. a format change ahead of a resampler). */
    for (int pass = 0; rc == 0; pass++) {
        c.may_insert = pass < 4;
        c.n_mm = 0;
        rc = build(&c, order, opts);
        if (rc != 0 || c.n_mm == 0) break;
        rc = insert_converters(&c);
        reset_build(c.g);
        free(order);
        order = rc == 0 ? calloc(c.n_pn, sizeof *order) : NULL;
        if (rc == 0) rc = order ? topo_order(&c, order) : RM_ENOMEM;
    }
    if (rc == 0 && !c.g->name) rc = RM_ENOMEM;
    if (rc == 0) rc = index_ids(c.g);
    free(order);
    free(c.mm);
    free(c.pn);
    free(c.pe);
    json_decref(c.ids);
    if (rc != 0) {
        graph_free(c.g);
        return c.first ? c.first : rc;
    }
    rm__log(rt, RM_LOG_DEBUG, NULL, "compiled graph '%s': %zu nodes, %zu links, %zu segments",
            c.g->name, c.g->n_nodes, c.g->n_edges, c.g->n_segments);
    *out = c.g;
    return 0;
}

int rm_graph_load_file(rm_runtime *rt, const char *path, const rm_compile_opts *opts,
                       rm_graph **out, rm_diags *diags)
{
    rm_manifest *m;
    *out = NULL;
    int rc = rm_manifest_load_file(path, &m, diags);
    if (rc != 0) return rc;
    rc = rm_graph_compile(rt, m, opts, out, diags);
    rm_manifest_free(m);
    return rc;
}

int rm_graph_load_string(rm_runtime *rt, const char *text, size_t len, const char *name,
                         const rm_compile_opts *opts, rm_graph **out, rm_diags *diags)
{
    rm_manifest *m;
    *out = NULL;
    int rc = rm_manifest_load_string(text, len, name, RM_MANIFEST_AUTO, &m, diags);
    if (rc != 0) return rc;
    rc = rm_graph_compile(rt, m, opts, out, diags);
    rm_manifest_free(m);
    return rc;
}

rm_graph *rm_graph_ref(rm_graph *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    return g;
}

void rm_graph_unref(rm_graph *g)
{
    if (g && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1) graph_free(g);
}

const char *rm_graph_name(const rm_graph *g) { return g->name; }
rm_runtime *rm_graph_runtime(const rm_graph *g) { return g->rt; }
size_t rm_graph_node_count(const rm_graph *g) { return g->n_nodes; }
const char *rm_graph_node_id(const rm_graph *g, size_t i) { return i < g->n_nodes ? g->nodes[i].id : NULL; }
const rm_node_type *rm_graph_node_type(const rm_graph *g, size_t i)
{
    return i < g->n_nodes ? g->nodes[i].type : NULL;
}
int rm_graph_node_inserted(const rm_graph *g, size_t i) { return i < g->n_nodes && g->nodes[i].inserted; }

int rm_graph_node_index(const rm_graph *g, const char *id)
{
    if (!id) return -1;
    size_t lo = 0, hi = g->n_nodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(g->by_id[mid].id, id);
        if (d == 0) return (int)g->by_id[mid].index;
        if (d < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

size_t rm_graph_sink_count(const rm_graph *g) { return g->n_sinks; }
size_t rm_graph_sink(const rm_graph *g, size_t i) { return g->sinks[i]; }
size_t rm_graph_source_count(const rm_graph *g) { return g->n_sources; }
size_t rm_graph_source(const rm_graph *g, size_t i) { return g->sources[i]; }

const rm_caps *rm_graph_output_caps(const rm_graph *g, size_t i, unsigned port)
{
    if (i >= g->n_nodes || port >= g->nodes[i].n_out) return NULL;
    return &g->nodes[i].out_caps[port];
}

/* ------------------------------------------------------------------ DOT --- */

static void dot_escape(rm__buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') rm__buf_append(b, "\\", 1);
        if (*s == '\n') {
            rm__buf_puts(b, "\\n");
            continue;
        }
        rm__buf_append(b, s, 1);
    }
}

/* Appends the node's non-default params, one "name=value" per line.  Built
 * only for DOT: formatting every param costs more than compiling the node. */
static void param_summary(const rm__gnode *n, rm__buf *sum)
{
    void *defaults = calloc(1, n->type->config_size ? n->type->config_size : 1);
    rm__arena tmp = {0};
    if (defaults) rm__params_defaults(n->type, defaults, &tmp);
    for (const rm_param_def *pd = n->type->params; pd && pd->name; pd++) {
        rm__buf v, dv;
        rm__buf_init(&v);
        rm__buf_init(&dv);
        rm__param_value_str(pd, n->config, &v);
        if (defaults) rm__param_value_str(pd, defaults, &dv);
        if (v.data && (!dv.data || strcmp(v.data, dv.data) != 0))
            rm__buf_printf(sum, "%s%s=%s", sum->len ? "\n" : "", pd->name, v.data);
        rm__buf_free(&v);
        rm__buf_free(&dv);
    }
    free(defaults);
    rm__arena_free(&tmp);
}

char *rm_graph_to_dot(const rm_graph *g)
{
    rm__buf b;
    rm__buf_init(&b);
    rm__buf_puts(&b, "digraph \"");
    dot_escape(&b, g->name);
    rm__buf_puts(&b, "\" {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
                     "  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for (size_t i = 0; i < g->n_nodes; i++) {
        const rm__gnode *n = &g->nodes[i];
        rm__buf_puts(&b, "  \"");
        dot_escape(&b, n->id);
        rm__buf_puts(&b, "\" [label=\"");
        dot_escape(&b, n->id);
        rm__buf_puts(&b, "\\n");
        dot_escape(&b, n->type->name);
        rm__buf sum;
        rm__buf_init(&sum);
        param_summary(n, &sum);
        if (sum.len) {
            rm__buf_puts(&b, "\\n");
            dot_escape(&b, sum.data);
        }
        rm__buf_free(&sum);
        if (n->segment) rm__buf_printf(&b, "\\n[worker %d]", n->segment);
        rm__buf_puts(&b, "\"");
        if (n->inserted) rm__buf_puts(&b, ", style=\"rounded,dashed\", color=blue, tooltip=\"inserted by the compiler\"");
        if (n->type->flags & RM_NODE_BLOCKING) rm__buf_puts(&b, ", peripheries=2");
        rm__buf_puts(&b, "];\n");
    }
    for (size_t e = 0; e < g->n_edges; e++) {
        const rm__gedge *ge = &g->edges[e];
        const rm__gnode *a = &g->nodes[ge->from], *z = &g->nodes[ge->to];
        rm__buf label;
        rm__buf_init(&label);
        const char *ap = rm_node_type_output(a->type, ge->from_port)->name;
        const char *zp = rm_node_type_input(z->type, ge->to_port)->name;
        if (a->n_out > 1 || z->n_in > 1 || strcmp(ap, "out") || strcmp(zp, "in"))
            rm__buf_printf(&label, "%s → %s\n", ap, zp);
        caps_str(&a->out_caps[ge->from_port], &label);
        if (ge->crosses) {
            const rm__segment *s = &g->segments[z->segment];
            if (s->capacity) rm__buf_printf(&label, "\nqueue %s/%zu", rm__queue_policy_name(s->policy), s->capacity);
            else rm__buf_printf(&label, "\nqueue %s", rm__queue_policy_name(s->policy));
        }
        rm__buf_puts(&b, "  \"");
        dot_escape(&b, a->id);
        rm__buf_puts(&b, "\" -> \"");
        dot_escape(&b, z->id);
        rm__buf_puts(&b, "\" [label=\"");
        dot_escape(&b, label.data ? label.data : "");
        rm__buf_puts(&b, "\"");
        if (ge->crosses) rm__buf_puts(&b, ", style=bold");
        rm__buf_puts(&b, "];\n");
        rm__buf_free(&label);
    }
    rm__buf_puts(&b, "}\n");
    return rm__buf_steal(&b);
}
