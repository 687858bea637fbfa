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

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_PYTHON_NODES_H */
