/*
 * Internal declarations shared by the core's modules (rm__ prefix).
 * Nothing here is part of the public API.
 */
#ifndef RM_CORE_INTERNAL_H
#define RM_CORE_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "remotemedia/remotemedia.h"

#define RM__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RM__UNUSED(x) ((void)(x))

/* Relaxed counters: written by one thread, read (approximately) by others.
 * On the platforms we target these compile to plain loads and stores. */
typedef _Atomic uint64_t rm__counter;
#define RM__CNT_GET(c) atomic_load_explicit(&(c), memory_order_relaxed)
#define RM__CNT_SET(c, v) atomic_store_explicit(&(c), (v), memory_order_relaxed)
#define RM__CNT_ADD(c, v) RM__CNT_SET(c, RM__CNT_GET(c) + (v))

/* ------------------------------------------------------------- strings --- */

/* Growable string buffer; on allocation failure `oom` is set and further
 * appends are ignored. */
typedef struct rm__buf {
    char *data;
    size_t len, cap;
    int oom;
} rm__buf;

void rm__buf_init(rm__buf *b);
void rm__buf_free(rm__buf *b);
void rm__buf_append(rm__buf *b, const char *s, size_t n);
void rm__buf_puts(rm__buf *b, const char *s);
void rm__buf_printf(rm__buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void rm__buf_vprintf(rm__buf *b, const char *fmt, va_list ap);
/* Appends `s` as a JSON string literal (quoted, escaped). */
void rm__buf_json_str(rm__buf *b, const char *s);
/* Returns the data (caller frees) or NULL if an allocation failed. */
char *rm__buf_steal(rm__buf *b);

char *rm__strdup(const char *s);
char *rm__strndup(const char *s, size_t n);
/* Edit distance, case-insensitive, capped at 32. */
unsigned rm__edit_distance(const char *a, const char *b);
/* Case-insensitive substring test. */
int rm__contains_nocase(const char *hay, const char *needle);
/* snake_case → camelCase into buf (cap bytes); returns buf. */
char *rm__camel_case(const char *snake, char *buf, size_t cap);
/* Valid UTF-8 check. */
int rm__utf8_valid(const char *s, size_t len);
/* Basename of a path (pointer into it). */
const char *rm__basename(const char *path);

/* --------------------------------------------------------------- clock --- */

/* A fast monotonic tick counter (TSC on x86-64, else CLOCK_MONOTONIC ns) and
 * its conversion to nanoseconds, calibrated against CLOCK_MONOTONIC. */
uint64_t rm__ticks(void);
uint64_t rm__now_ns(void); /* CLOCK_MONOTONIC */
double rm__ticks_per_ns(void);
void rm__sleep_ns(uint64_t ns);

/* ------------------------------------------------------------- runtime --- */

void rm__log(const rm_runtime *rt, rm_log_level level, const char *node_id, const char *fmt,
             ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void rm__vlog(const rm_runtime *rt, rm_log_level level, const char *node_id, const char *fmt,
              va_list ap);

/* ---------------------------------------------------------- diagnostics --- */

/* Adds a diagnostic; line/col are looked up from the manifest when `m` is
 * given and the path is known.  Returns `code`. */
int rm__diag(rm_diags *d, const rm_manifest *m, int code, const char *path, const char *node_id,
             const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
int rm__diag_at(rm_diags *d, const char *file, int line, int col, int code, const char *path,
                const char *node_id, const char *msg);
/* Adds a warning (RM_DIAG_WARNING): accepted, but probably a mistake. */
void rm__warn(rm_diags *d, const rm_manifest *m, const char *path, const char *node_id, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* True once RM_MANIFEST_MAX_DIAGS diagnostics are kept: skip costly hints. */
int rm__diags_full(const rm_diags *d);

/* -------------------------------------------------------------- params --- */

/* Allocations a compiled graph (or session) owns on behalf of configs. */
typedef struct rm__arena {
    void **ptrs;
    size_t n, cap;
    json_t **jsons;
    size_t nj, capj;
} rm__arena;
void rm__arena_free(rm__arena *a);
void *rm__arena_keep(rm__arena *a, void *p);           /* NULL on OOM (p freed) */
json_t *rm__arena_keep_json(rm__arena *a, json_t *j);  /* takes the reference */

/* Finds the parameter a manifest key names (name, alias or camelCase). */
const rm_param_def *rm__param_find(const rm_node_type *t, const char *key);
/* Fills `config` with every parameter's default. */
int rm__params_defaults(const rm_node_type *t, void *config, rm__arena *arena);
/* Parses one value into its slot; on a problem returns a code and writes a
 * message (without the key) into msg. */
int rm__param_set(const rm_param_def *p, const json_t *v, void *config, rm__arena *arena,
                  char *msg, size_t cap);
/* Parses a whole params object into `config` (defaults first), reporting every
 * problem.  `path` is the key path of the params object. */
int rm__params_parse(const rm_node_type *t, const json_t *params, void *config,
                     rm__arena *arena, rm_diags *d, const rm_manifest *m, const char *path,
                     const char *node_id);
/* Appends a param's value from a config as JSON text (for DOT / describe). */
void rm__param_value_str(const rm_param_def *p, const void *config, rm__buf *out);
/* Appends the default as text ("2", "\"high\"", "unset"). */
void rm__param_default_str(const rm_param_def *p, rm__buf *out);
/* Validates a descriptor's param table (used at registration). */
int rm__params_check_table(const rm_node_type *t, rm_error *err);

/* ---------------------------------------------------------------- graph --- */

typedef enum rm__queue_policy {
    RM__QUEUE_NONE = 0, /* synchronous call */
    RM__QUEUE_BLOCK,
    RM__QUEUE_DROP_OLDEST,
    RM__QUEUE_DROP_NEWEST
} rm__queue_policy;
const char *rm__queue_policy_name(rm__queue_policy p);

typedef enum rm__error_policy {
    RM__ON_ERROR_FAIL = 0,
    RM__ON_ERROR_SKIP,
    RM__ON_ERROR_RETRY
} rm__error_policy;

typedef struct rm__on_error {
    rm__error_policy policy;
    unsigned max_retries;      /* retries after the first failed call */
    uint64_t base_delay_ns, max_delay_ns;
    double jitter;             /* ±fraction of the delay */
    unsigned failure_threshold; /* circuit breaker; 0 = no breaker */
    uint64_t reset_timeout_ns;
    unsigned success_threshold;
} rm__on_error;

typedef struct rm__gedge {
    uint32_t from, from_port, to, to_port;
    uint32_t index;
    int crosses;               /* source and target run on different segments */
    rm__queue_policy policy;   /* as declared in the manifest (NONE if not)   */
    size_t capacity;
} rm__gedge;

typedef struct rm__gnode {
    char *id;
    const rm_node_type *type;
    void *config;
    unsigned n_in, n_out;
    rm_caps *in_caps, *in_req, *out_caps; /* per port */
    uint32_t **out_edges;                 /* per output port: edge indices */
    uint32_t *n_out_edges;
    uint32_t n_upstream;                  /* incoming edges */
    int is_sink, is_source;
    int inserted;                          /* converter added by the compiler */
    int segment;
    rm__on_error on_error;
} rm__gnode;

typedef struct rm__segment {
    uint32_t entry_node;       /* node that starts the segment (or 0 for main) */
    rm__queue_policy policy;   /* its queue policy */
    size_t capacity;
} rm__segment;

typedef struct rm__id_entry {
    const char *id;
    uint32_t index;
} rm__id_entry;

struct rm_graph {
    atomic_uint refs;
    rm_runtime *rt;
    char *name;
    char *file;
    size_t n_nodes;
    rm__gnode *nodes; /* topological order */
    size_t n_edges;
    rm__gedge *edges;
    size_t n_sources, n_sinks;
    uint32_t *sources, *sinks;
    size_t n_segments; /* segment 0 runs on the pushing thread */
    rm__segment *segments;
    rm__id_entry *by_id; /* ids sorted, for rm_graph_node_index */
    rm__arena arena;
};

/* ------------------------------------------------------------- metrics --- */

#define RM__HIST_SUB 4 /* sub-buckets per power of two */
#define RM__HIST_BUCKETS (48 * RM__HIST_SUB)

typedef struct rm__hist {
    uint32_t b[RM__HIST_BUCKETS];
} rm__hist;

static inline unsigned rm__hist_index(uint64_t v)
{
    if (v < RM__HIST_SUB) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned sub = (unsigned)(v >> (msb - 2)) & (RM__HIST_SUB - 1);
    unsigned idx = (msb - 1) * RM__HIST_SUB + sub;
    return idx < RM__HIST_BUCKETS ? idx : RM__HIST_BUCKETS - 1;
}
/* Lower bound of a bucket's values. */
uint64_t rm__hist_bucket_low(unsigned idx);
/* Value at quantile q (0..1) in ticks, linear within the bucket. */
double rm__hist_quantile(const rm__hist *h, uint64_t count, double q);

#endif /* RM_CORE_INTERNAL_H */
