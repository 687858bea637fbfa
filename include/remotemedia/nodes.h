/*
 * remotemedia/nodes.h — the node families compiled into this library.
 *
 * The core (runtime.h) knows no node type: rm_runtime_new starts with an
 * empty registry.  A host — the CLI, a server, the Python extension, a test —
 * adds the families it was built with through this header, so the core
 * builds and runs with no family at all and a new host or transport is added
 * without touching it.  Which families are present depends on the build
 * (RM_WITH_AUDIO, RM_WITH_SPEECH); the math, text and PassThrough nodes are
 * always there.
 *
 * Thread rules are those of rm_runtime_register: call before any graph is
 * compiled against the runtime, from one thread.
 */
#ifndef REMOTEMEDIA_NODES_H
#define REMOTEMEDIA_NODES_H

#include "error.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Registers every built-in node type of this build into `rt`.  Fails with
 * RM_EINVAL (message naming the type) if one of them is already registered,
 * e.g. by a plugin loaded earlier, or when called twice. */
int rm_register_builtin_nodes(rm_runtime *rt, rm_error *err);

/* What rm_runtime_new did before the core stopped knowing the families:
 * creates a runtime, registers the built-in families, then loads the plugins
 * on RMEDIA_PLUGIN_PATH (unless opts->flags has RM_RUNTIME_NO_ENV_PLUGINS),
 * so that a plugin whose type clashes with a built-in is refused.  `opts` may
 * be NULL.  On failure *out is NULL and nothing is left allocated. */
int rm_runtime_new_with_builtins(const rm_runtime_opts *opts, rm_runtime **out, rm_error *err);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_NODES_H */
