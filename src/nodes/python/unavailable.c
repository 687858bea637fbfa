/* Builds without RM_WITH_PYTHON_NODES (wasm, single-thread, non-Linux):
 * the entry point exists and says so. */
#include "remotemedia/python_nodes.h"

#include <stdio.h>

int rm_register_python_nodes(rm_runtime *rt, const rm_python_nodes_opts *opts, rm_error *err)
{
    (void)rt, (void)opts;
    if (err) err->code = RM_ENOTSUP;
    if (err) snprintf(err->message, sizeof err->message, "this build has no Python node support (RM_WITH_PYTHON_NODES=OFF)");
    return RM_ENOTSUP;
}

int rm_python_node_type_new(const rm_python_class_type *spec, const rm_node_type **out, rm_error *err)
{
    (void)spec;
    *out = NULL;
    return rm_register_python_nodes(NULL, NULL, err);
}

void rm_python_node_type_free(const rm_node_type *t) { (void)t; }
