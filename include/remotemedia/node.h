/*
 * remotemedia/node.h — writing a node type.
 *
 * A node type is one `static const rm_node_type` descriptor: name, one-line
 * doc, typed ports, a parameter table and five callbacks.  The parameter table
 * drives everything generic: manifest parsing and validation, `rmedia
 * inspect`, JSON Schema, Python keyword docs and runtime updates.  A node never
 * parses its own parameters; it receives a filled config struct.
 *
 * Life of a node instance (one per node per session):
 *   init(node, state, config)      once, state zeroed, config filled
 *   process(node, state, port, f)  per input frame, emits 0..N frames
 *   flush(node, state)             once at end of stream (emit the tail)
 *   reset(node, state)             on rm_session_reset (drop buffered data)
 *   fini(state)                    once, only if init succeeded
 * All callbacks of one instance run on one thread at a time (the thread of
 * the instance's segment; see session.h).  Instances of the same type in other
 * sessions run concurrently, so node code must not use unsynchronised globals.
 *
 * Frames given to process() are borrowed: valid during the call, never
 * writable.  rm_node_emit() borrows too; emit a frame you created, then
 * rm_frame_unref() it (or use rm_node_emit_take()).
 *
 * Return values: 0 or a negative RM_E* code.  Report details with
 * rm_node_fail(), which records the message and returns the code.
 */
#ifndef REMOTEMEDIA_NODE_H
#define REMOTEMEDIA_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "frame.h"
#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2 added rm_node_type.specialize.  Descriptors (and plugins) of version 1
 * are still accepted: the runtime reads no field past `example` of them. */
#define RM_NODE_ABI_VERSION 2u
#define RM_NODE_ABI_MIN 1u

/* ---------------------------------------------------------------- ports --- */

/* One input or output port.  Arrays of ports end with an entry whose name is
 * NULL.  A node type with `inputs == NULL` has one input "in" accepting any
 * kind; `outputs == NULL` likewise gives one output "out". */
typedef struct rm_port_def {
    const char *name;
    uint32_t kinds; /* RM_KIND_BIT() mask; RM_KINDS_ANY (0) = any kind */
    const char *doc;
} rm_port_def;

/* What flows on a link, as far as it is known before running.  Zero fields
 * mean "unknown / any". */
typedef struct rm_caps {
    uint32_t kinds;          /* RM_KIND_BIT() mask, 0 = any                */
    rm_sample_format format; /* audio sample format, RM_SAMPLE_ANY = any   */
    uint32_t rate;           /* audio rate in Hz, 0 = any                  */
    uint32_t channels;       /* audio channel count, 0 = any               */
} rm_caps;

/* ----------------------------------------------------------- parameters --- */

typedef enum rm_param_type {
    RM_PARAM_BOOL = 1,    /* stored as int (0 or 1)                        */
    RM_PARAM_INT,         /* stored as int64_t                              */
    RM_PARAM_FLOAT,       /* stored as double                               */
    RM_PARAM_STRING,      /* stored as const char * (NULL if unset)         */
    RM_PARAM_ENUM,        /* stored as int: index into enum_values          */
    RM_PARAM_STRING_LIST, /* stored as const char *const *, NULL-terminated */
    RM_PARAM_JSON         /* stored as const json_t * (NULL if unset)       */
} rm_param_type;

#define RM_PARAM_REQUIRED 0x1u /* the manifest must set it                    */
#define RM_PARAM_RUNTIME 0x2u  /* may change while a session runs             */
/* A STRING naming a file: a relative value in a manifest loaded from a file
 * is taken from the manifest's folder, not the current directory. */
#define RM_PARAM_PATH 0x4u
/* On a JSON parameter: every manifest key that is not in the table is
 * collected into this object instead of being rejected (node types whose
 * parameters are only known at run time, e.g. PythonNode). */
#define RM_PARAM_REST 0x8u
/* Names a file, a directory or options that name them, on the machine that
 * runs the node (a model, a grammar): a server refuses it in a client's
 * manifest unless its operator allows that (rmedia serve
 * --allow-file-params), so a client cannot make it read arbitrary files.
 * On a JSON parameter only a string value is a file name (an inline object,
 * e.g. RemotePipeline's sub-manifest, is allowed). */
#define RM_PARAM_HOST_FILE 0x10u

/*
 * One parameter.  Arrays of parameters end with an entry whose name is NULL.
 *
 * Defaults: numeric types (BOOL, INT, FLOAT) use `def_num`; the others use
 * `def_str` (ENUM: the value's name; STRING_LIST: comma-separated; JSON: JSON
 * text; NULL = unset).  Range: `min`/`max` for INT and FLOAT, and for the
 * length of STRING_LIST; min == max == 0 means unbounded (use ±INFINITY for
 * one-sided ranges).  `enum_values` (NULL-terminated) lists the values of an
 * ENUM or restricts the items of a STRING_LIST.  `aliases` (NULL-terminated)
 * are other accepted spellings; the camelCase form of the name and of each
 * alias is always accepted too (source_rate → sourceRate).
 *
 * Strings, lists and JSON values stored in a config are owned by the compiled
 * graph (or the session, after a runtime update) and stay valid as long as the
 * node instance lives.
 */
typedef struct rm_param_def {
    const char *name;
    rm_param_type type;
    size_t offset; /* offsetof(config struct, field) */
    const char *doc;
    double def_num;
    const char *def_str;
    double min, max;
    const char *const *enum_values;
    const char *const *aliases;
    unsigned flags; /* RM_PARAM_REQUIRED | RM_PARAM_RUNTIME | RM_PARAM_PATH | … */
} rm_param_def;

/* ------------------------------------------------------------ instances --- */

/* A node instance inside a session: the handle callbacks use to emit frames,
 * log and report errors.  Owned by the session. */
typedef struct rm_node rm_node;

/* Node type flags. */
#define RM_NODE_BLOCKING 0x1u /* slow or blocking (model inference, I/O): runs
                                 on its own worker behind a bounded queue     */

struct rm_runtime;

typedef struct rm_node_type {
    uint32_t abi_version; /* RM_NODE_ABI_VERSION; fields are only appended */
    const char *name;     /* registry key, e.g. "AudioResample"            */
    const char *doc;      /* one line                                      */
    const char *family;   /* "core", "math", "text", "audio", "speech", …  */
    const char *const *aliases; /* other accepted node_type names, or NULL */
    const rm_port_def *inputs;  /* see rm_port_def                         */
    const rm_port_def *outputs;
    const rm_param_def *params; /* NULL = no parameters                    */
    size_t config_size;         /* size of the config struct params fill   */
    size_t state_size;          /* per-instance state, zeroed before init  */
    unsigned flags;             /* RM_NODE_*                               */

    /* Optional: refine port caps from the config and the upstream caps.
     * Called at graph compile time with in[] (what arrives on each input,
     * possibly unknown), in_req[] (prefilled with the input port kinds; set
     * required rate/channels/format) and out[] (prefilled with the output
     * port kinds; set what the node will produce).  Return 0, or an error
     * recorded in `err`. */
    int (*negotiate)(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out,
                     rm_error *err);

    int (*init)(rm_node *node, void *state, const void *config); /* optional */
    int (*process)(rm_node *node, void *state, unsigned port, const rm_frame *frame);
    int (*flush)(rm_node *node, void *state); /* optional */
    int (*reset)(rm_node *node, void *state); /* optional */
    void (*fini)(void *state);                /* optional */

    /* Optional manifest snippet (YAML nodes list entry) shown by `rmedia
     * inspect`; the test suite validates every example. */
    const char *example;

    /* Optional: for a node type whose ports depend on its parameters
     * (RemotePipeline takes them from its sub-manifest).  Called by the
     * compiler once per node, after the parameters are parsed, with the
     * runtime and the manifest's file name (NULL if none).  Returns this
     * node's own descriptor — normally a copy of `type` with its ports set —
     * as ONE malloc'd block (everything it points to inside it, or static)
     * that the graph frees; or NULL with `err` set, which the compiler
     * reports as an error on the node.  (ABI version 2.) */
    struct rm_node_type *(*specialize)(const struct rm_node_type *type, const void *config,
                                       const struct rm_runtime *rt, const char *manifest_file, rm_error *err);
} rm_node_type;

/* ----------------------------------------------- calls for node callbacks --- */

/* Sends `frame` (borrowed) out of output port `port`: downstream nodes run
 * synchronously before this returns, unless they sit behind a queue.  Returns
 * 0, RM_EINVAL for a bad port, or RM_ECANCELED once the session has failed (the
 * node should stop and return). */
int rm_node_emit(rm_node *node, unsigned port, const rm_frame *frame);
/* Like rm_node_emit() but takes ownership of `frame` (also on error). */
int rm_node_emit_take(rm_node *node, unsigned port, rm_frame *frame);

/* The config struct the instance runs with (reflects runtime updates). */
const void *rm_node_config(const rm_node *node);
const char *rm_node_id(const rm_node *node);
/* The descriptor the instance was created from.  Lets one set of callbacks
 * serve many descriptors built at run time (the Python host embeds its
 * rm_node_type in a larger struct and finds that struct from the node). */
const rm_node_type *rm_node_type_of(const rm_node *node);
const char *rm_node_session_id(const rm_node *node);
/* The file the instance's manifest was loaded from, or NULL (loaded from a
 * string).  Valid as long as the instance lives. */
const char *rm_node_manifest_file(const rm_node *node);
/* 1 once the session was cancelled (rm_session_cancel: the client went away
 * or asked to stop) or has failed: nothing the node emits will be used; or
 * while this node's current call was interrupted (rm_session_interrupt:
 * barge-in), which ends that call only.  A node whose one call can run long
 * (decoding seconds of audio block by block, synthesising sentence after
 * sentence) polls it between blocks and returns RM_ECANCELED.  Cheap (two
 * relaxed atomic loads); callable from the node's own thread. */
int rm_node_cancelled(const rm_node *node);
/* Caps negotiated for input port `port` at compile time (fields may be 0). */
const rm_caps *rm_node_input_caps(const rm_node *node, unsigned port);

/* Records an error message for this node and returns `code`:
 *   return rm_node_fail(node, RM_EFORMAT, "rate %u Hz, need %u Hz", a, b); */
int rm_node_fail(rm_node *node, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Logs through the runtime's log callback with the node id as context. */
void rm_node_log(rm_node *node, rm_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Adds a node-specific statistic to this instance's metrics (exported under
 * node_metrics.<id>.stats.<key>).  kind SET overwrites, ADD accumulates, and
 * SAMPLE records a distribution (count, mean, max).  `key` must be a static
 * string.  Up to 48 keys per instance; later keys are ignored. */
typedef enum rm_stat_kind { RM_STAT_SET, RM_STAT_ADD, RM_STAT_SAMPLE } rm_stat_kind;
void rm_node_stat(rm_node *node, const char *key, rm_stat_kind kind, double value);

/* ----------------------------------------------------- descriptor helpers --- */

/* Port arrays as the executor sees them (defaults applied). */
unsigned rm_node_type_n_inputs(const rm_node_type *type);
unsigned rm_node_type_n_outputs(const rm_node_type *type);
const rm_port_def *rm_node_type_input(const rm_node_type *type, unsigned i);
const rm_port_def *rm_node_type_output(const rm_node_type *type, unsigned i);
/* Index of a named port, or -1. */
int rm_node_type_input_index(const rm_node_type *type, const char *name);
int rm_node_type_output_index(const rm_node_type *type, const char *name);
const char *rm_param_type_name(rm_param_type type);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_NODE_H */
