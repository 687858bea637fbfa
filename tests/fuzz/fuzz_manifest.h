/* The manifest targets: parse the text in one syntax, then compile it with
 * the built-in node families (structure, params, caps, converter insertion)
 * and render the graph and the diagnostics, as `rmedia validate` does. */
#ifndef RM_FUZZ_MANIFEST_H
#define RM_FUZZ_MANIFEST_H

#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"

static int fuzz_manifest(const uint8_t *data, size_t size, const char *name, rm_manifest_format fmt)
{
    rm_runtime *rt = fuzz_runtime();
    rm_diags *d = rm_diags_new();
    if (!d) return 0;
    rm_manifest *m = NULL;
    if (rm_manifest_load_string((const char *)data, size, name, fmt, &m, d) == 0) {
        rm_graph *g = NULL;
        if (rm_graph_compile(rt, m, NULL, &g, d) == 0) {
            free(rm_graph_to_dot(g));
            rm_graph_unref(g);
        }
        rm_manifest_free(m);
    }
    free(rm_diags_to_string(d));
    rm_diags_free(d);
    return 0;
}

#endif
