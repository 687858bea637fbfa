/*
 * remotemedia/runtime.h — the runtime: node registry, plugins and logger.
 *
 * A runtime is the explicit context every graph is compiled against; there
 * are no mutable globals.  Create one per process (or per host object), add
 * node types (the registry starts empty; the built-in families are added by
 * the host through remotemedia/nodes.h), then compile
 * graphs.  Registration and plugin loading must finish before graphs are
 * compiled; after that the runtime is read-only and safe to share between
 * threads.  Free the runtime after every graph compiled against it.
 */
#ifndef REMOTEMEDIA_RUNTIME_H
#define REMOTEMEDIA_RUNTIME_H

#include <stddef.h>

#include "error.h"
#include "log.h"
#include "node.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_runtime rm_runtime;

/* Accepted for source compatibility and ignored: the registry always starts
 * empty now (remotemedia/nodes.h adds the built-in families). */
#define RM_RUNTIME_NO_BUILTINS 0x1u
#define RM_RUNTIME_NO_ENV_PLUGINS 0x2u /* ignore RMEDIA_PLUGIN_PATH               */

/* Environment variable with a ':'-separated list of plugin directories. */
#define RM_PLUGIN_PATH_ENV "RMEDIA_PLUGIN_PATH"

typedef struct rm_runtime_opts {
    rm_log_fn log_fn;       /* NULL = print "rmedia: level: [node] msg" to stderr */
    void *log_user;
    rm_log_level log_level; /* messages above this level are dropped (default WARN) */
    unsigned flags;         /* RM_RUNTIME_* */
} rm_runtime_opts;

/* Fills `opts` with defaults (stderr logger, level WARN, no flags). */
void rm_runtime_opts_init(rm_runtime_opts *opts);

/* Creates a runtime with an empty registry (no node family: hosts register
 * theirs, see remotemedia/nodes.h and rm_runtime_new_with_builtins).  `opts`
 * may be NULL for defaults.  Plugins found through RMEDIA_PLUGIN_PATH are
 * loaded; a plugin that fails to load is an error. */
int rm_runtime_new(const rm_runtime_opts *opts, rm_runtime **out, rm_error *err);
/* Frees the runtime and unloads plugins.  NULL is ignored. */
void rm_runtime_free(rm_runtime *rt);

/* Adds a node type.  `type` is borrowed and must outlive the runtime
 * (normally a static const descriptor).  Fails with RM_EINVAL if the
 * descriptor is malformed (ABI version, missing process, bad param table) and
 * RM_EINVAL if its name or an alias is already registered. */
int rm_runtime_register(rm_runtime *rt, const rm_node_type *type, rm_error *err);

/* Loads one plugin shared object and registers its node types (see
 * remotemedia/plugin.h).  Errors name the file and the reason. */
int rm_runtime_load_plugin(rm_runtime *rt, const char *path, rm_error *err);
/* Loads every "*.so" file in each directory of a ':'-separated list.
 * Missing directories are skipped; a file that fails to load is an error. */
int rm_runtime_load_plugin_dirs(rm_runtime *rt, const char *dirs, rm_error *err);

/* Looks up a node type by name or alias; NULL if unknown. */
const rm_node_type *rm_runtime_find_node_type(const rm_runtime *rt, const char *name);
/* The closest registered name to `name` (for "did you mean"), or NULL. */
const char *rm_runtime_suggest_node_type(const rm_runtime *rt, const char *name);
/* Registered node types, sorted by name. */
size_t rm_runtime_node_type_count(const rm_runtime *rt);
const rm_node_type *rm_runtime_node_type_at(const rm_runtime *rt, size_t i);

/* A node type as JSON: name, doc, family, aliases, flags, ports (name, kinds,
 * doc) and params (name, type, default, min, max, enum, aliases, doc, required,
 * runtime) and the example.  Caller frees; NULL on allocation failure. */
char *rm_node_type_describe_json(const rm_node_type *type);
/* JSON Schema (draft-07) for v1 manifests, including the params of every
 * registered node type.  Caller frees; NULL on allocation failure. */
char *rm_runtime_manifest_schema(const rm_runtime *rt);

/* Logs through the runtime's callback (thread-safe). */
void rm_runtime_log(const rm_runtime *rt, rm_log_level level, const char *node_id,
                    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
rm_log_level rm_runtime_log_level(const rm_runtime *rt);

/* The library version, "MAJOR.MINOR.PATCH". */
const char *rm_version(void);
/* Build features as a space-separated list, e.g. "threads audio speech".
 * Defined with the node families (src/nodes/builtin.c), not in the core. */
const char *rm_build_features(void);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_RUNTIME_H */
