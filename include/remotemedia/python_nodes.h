/*
 * remotemedia/python_nodes.h — the PythonNode node family.
 *
 *   nodes:
 *     - id: upper
 *       node_type: PythonNode
 *       params: {class: "my_nodes:Upper", timeout_ms: 2000, suffix: "!"}
 *
 * runs the Python class `Upper` of module `my_nodes` (the package's `@node`
 * / Node API: process(), optional flush() and reset(), the class's own
 * parameters as keyword arguments) in a worker process of its own, one per
 * (session, node).  Frames cross in shared memory; a crash, a hang past
 * `timeout_ms` or memory over `memory_limit_mb` fails that node, never the
 * host.  The interpreter is REMOTEMEDIA_PYTHON (default /usr/bin/python3);
 * the manifest's directory is first on its import path.  See
 * docs/python-nodes.md.
 */
#ifndef REMOTEMEDIA_PYTHON_NODES_H
#define REMOTEMEDIA_PYTHON_NODES_H
#include "error.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_python_nodes_opts {
    const char *python; /* this runtime's interpreter; NULL = /usr/bin/python3.
                           A node's `python` param and $REMOTEMEDIA_PYTHON
                           (when set) take precedence.  Copied. */
} rm_python_nodes_opts;

/* Registers PythonNode in `rt` (opts may be NULL).  Returns 0, RM_ENOTSUP
 * when this build has no Python node support, or the registration error.
 * Call once per runtime, before compiling graphs; not thread-safe with other
 * registrations on the same runtime, thread-safe otherwise.  The process
 * environment is never modified: the interpreter belongs to this runtime
 * (another runtime may register another one), and workers get their
 * settings in their start request, not through environment variables. */
int rm_register_python_nodes(rm_runtime *rt, const rm_python_nodes_opts *opts, rm_error *err);

/* A node type named `name` that runs one Python class in a worker as
 * PythonNode does: a package's declared Python node types (docs/rmpkg.md).
 * Every parameter the manifest gives such a node goes to the class (as in
 * the browser); the worker runs with PythonNode's defaults (timeout_ms,
 * ring_mb, ...) and the interpreter from $REMOTEMEDIA_PYTHON, else
 * /usr/bin/python3.  Only `dir` is added to the worker's import path (not
 * the manifest's directory).  Errors name the node, "Python node type NAME
 * of ORIGIN" and the class. */
typedef struct rm_python_class_type {
    const char *name;   /* the node type's name                          */
    const char *cls;    /* "module:Class"                                */
    const char *dir;    /* first on the worker's import path             */
    const char *origin; /* where it comes from, for messages ("python/x.py
                           of p.rmpkg"); NULL = the class               */
} rm_python_class_type;

/* Makes such a node type (strings copied) for rm_runtime_register().  The
 * caller owns it: free it with rm_python_node_type_free() after every
 * runtime it is registered in (and their graphs) is freed.  RM_ENOTSUP
 * without Python node support.  Thread-safe. */
int rm_python_node_type_new(const rm_python_class_type *spec, const rm_node_type **out, rm_error *err);
void rm_python_node_type_free(const rm_node_type *t); /* NULL is ignored */

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_PYTHON_NODES_H */
