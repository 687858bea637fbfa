/*
 * remotemedia/manifest.h — loading manifests and reporting problems.
 *
 * A manifest is the v1 pipeline description (REFERENCE.md §1) in JSON or
 * YAML — the same object model in two syntaxes:
 *
 *   version: v1
 *   metadata: { name: calc }
 *   nodes:
 *     - { id: multiply, node_type: MultiplyNode, params: { factor: 2 } }
 *     - { id: add, node_type: AddNode, params: { addend: 10 } }
 *   connections:
 *     - { from: multiply, to: add }
 *
 * Extensions (compatible: old manifests mean the same thing): an endpoint may
 * name a port ("vad.events"); a connection may carry `queue: {policy:
 * block|drop_oldest|drop_newest, capacity: N}`; a node may carry `on_error`
 * (see docs/manifest.md).  Unknown keys are accepted with a warning (a
 * diagnostic of severity RM_DIAG_WARNING, with a "did you mean").
 *
 * Problems are reported as diagnostics, all of them in one pass, each naming
 * the place: file:line:column when the parser knows it, and always the key
 * path (nodes[1].params.factor) and node id.
 */
#ifndef REMOTEMEDIA_MANIFEST_H
#define REMOTEMEDIA_MANIFEST_H

#include <stddef.h>

#include "error.h"
#include "frame.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- limits --- */

/* What a manifest may ask for.  Every limit is checked while loading or
 * compiling and reported as a located error (docs/manifest.md, "Limits"), so
 * the cost of loading, compiling and opening a session grows about linearly
 * with the manifest's size and stops at these bounds. */
#define RM_MANIFEST_MAX_BYTES (16u << 20) /* manifest text                          */
#define RM_MANIFEST_MAX_DEPTH 64          /* nesting of mappings and lists          */
#define RM_MANIFEST_MAX_VALUES 4000000    /* values in the document, YAML aliases
                                             and merge keys counted as expanded      */
#define RM_MANIFEST_MAX_STRING (1u << 20) /* bytes of one string (key or value)     */
#define RM_MANIFEST_MAX_ITEMS 65536       /* items of one list or mapping, except
                                             `nodes` and `connections`               */
#define RM_MANIFEST_MAX_NODES 100000      /* nodes                                  */
#define RM_MANIFEST_MAX_CONNECTIONS 200000 /* connections                           */
#define RM_MANIFEST_MAX_FANOUT 1024       /* connections from one output port       */
#define RM_MANIFEST_MAX_ID 128            /* bytes of a node id                     */
#define RM_MANIFEST_MAX_WORKERS 64        /* worker threads of a session (blocking
                                             nodes and queued connections)           */
#define RM_MANIFEST_MAX_DIAGS 100         /* diagnostics kept; the rest are counted  */

/* ---------------------------------------------------------- diagnostics --- */

typedef enum rm_diag_severity {
    RM_DIAG_ERROR = 0,  /* the manifest is invalid */
    RM_DIAG_WARNING = 1 /* accepted, but probably not what was meant (typo'd key) */
} rm_diag_severity;

typedef struct rm_diag {
    int code;            /* RM_E* code                                      */
    const char *file;    /* manifest file or name, NULL if none             */
    int line, column;    /* 1-based; 0 when unknown                         */
    const char *path;    /* key path such as "nodes[1].params.factor", or "" */
    const char *node_id; /* node the problem belongs to, or NULL            */
    const char *message; /* the problem and, where possible, what is valid  */
    rm_diag_severity severity; /* RM_DIAG_ERROR unless a warning               */
} rm_diag;

/* A list of diagnostics.  All strings are owned by the list. */
typedef struct rm_diags rm_diags;

rm_diags *rm_diags_new(void); /* NULL on allocation failure */
void rm_diags_free(rm_diags *d);
void rm_diags_clear(rm_diags *d);
/* All diagnostics, errors and warnings. */
size_t rm_diags_count(const rm_diags *d);
/* Diagnostics of one severity (a compile that succeeded may have warnings). */
size_t rm_diags_count_severity(const rm_diags *d, rm_diag_severity sev);
const rm_diag *rm_diags_at(const rm_diags *d, size_t i); /* borrowed */
/* Formats one diagnostic as "file:line:col: error: [node 'id'] path: message"
 * ("warning:" for a warning; parts that are unknown are left out).  Returns
 * the length that the full text needs, like snprintf. */
int rm_diag_format(const rm_diag *diag, char *buf, size_t cap);
/* All diagnostics, one per line; caller frees.  NULL on allocation failure. */
char *rm_diags_to_string(const rm_diags *d);
/* Copies the first error (else the first diagnostic) into an rm_error (code
 * RM_EMANIFEST if none). */
void rm_diags_to_error(const rm_diags *d, rm_error *err);

/* ------------------------------------------------------------- manifests --- */

typedef enum rm_manifest_format {
    RM_MANIFEST_AUTO = 0, /* by file extension, else by content ('{' = JSON) */
    RM_MANIFEST_JSON = 1,
    RM_MANIFEST_YAML = 2
} rm_manifest_format;

typedef struct rm_manifest rm_manifest;

/* Reads and parses a manifest file.  On a syntax error returns RM_EPARSE (or
 * RM_EIO if the file cannot be read) with a diagnostic naming file:line:col.
 * `diags` may be NULL.  The structure is checked later, by rm_graph_compile. */
int rm_manifest_load_file(const char *path, rm_manifest **out, rm_diags *diags);
/* Parses manifest text; `name` (may be NULL) is used as the file name in
 * diagnostics. */
int rm_manifest_load_string(const char *text, size_t len, const char *name,
                            rm_manifest_format fmt, rm_manifest **out, rm_diags *diags);
void rm_manifest_free(rm_manifest *m);

/* Sets params.<param> of the node with id `node_id` before compiling (the
 * CLI's --set NODE.PARAM=VALUE).  `value` is JSON text; a bare word that is
 * not JSON is taken as a string.  The value is validated by
 * rm_graph_compile like any other.  RM_ENOTFOUND if there is no such node. */
int rm_manifest_set_param(rm_manifest *m, const char *node_id, const char *param, const char *value,
                          rm_error *err);

/* The document as a JSON tree (borrowed, valid while `m` lives). */
const json_t *rm_manifest_json(const rm_manifest *m);
/* The file name given at load time, or NULL. */
const char *rm_manifest_file(const rm_manifest *m);
/* Source position of a key path ("nodes[0].params"); 0 if unknown. */
int rm_manifest_locate(const rm_manifest *m, const char *path, int *line, int *column);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_MANIFEST_H */
