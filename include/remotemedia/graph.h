/*
 * remotemedia/graph.h — compiling a manifest into an immutable graph.
 *
 * Compiling validates everything that can be known before running: version,
 * node ids, node types (with a "did you mean"), every parameter against its
 * node type's table, connections and ports, cycles, and the type of data on
 * each link.  The result is immutable and refcounted; any number of sessions,
 * on any threads, can run one graph at the same time.
 */
#ifndef REMOTEMEDIA_GRAPH_H
#define REMOTEMEDIA_GRAPH_H

#include <stddef.h>

#include "manifest.h"
#include "node.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_graph rm_graph;

typedef struct rm_compile_opts {
    /* Caps of the frames the host will push into source nodes, if known
     * (e.g. the CLI reading a WAV file).  NULL = unknown. */
    const rm_caps *input_caps;
    unsigned flags; /* reserved, 0 */
} rm_compile_opts;

/* Validates and compiles `m`.  Every problem found is added to `diags` (may be
 * NULL); the return value is 0 or the code of the first problem.  The graph
 * keeps a reference to the runtime's node types: free graphs before the
 * runtime.  `m` may be freed after this returns.  `opts` may be NULL. */
int rm_graph_compile(rm_runtime *rt, const rm_manifest *m, const rm_compile_opts *opts,
                     rm_graph **out, rm_diags *diags);
/* rm_manifest_load_file() + rm_graph_compile(). */
int rm_graph_load_file(rm_runtime *rt, const char *path, const rm_compile_opts *opts,
                       rm_graph **out, rm_diags *diags);
/* rm_manifest_load_string() + rm_graph_compile(). */
int rm_graph_load_string(rm_runtime *rt, const char *text, size_t len, const char *name,
                         const rm_compile_opts *opts, rm_graph **out, rm_diags *diags);

rm_graph *rm_graph_ref(rm_graph *g);
void rm_graph_unref(rm_graph *g); /* NULL is ignored */

/* Pipeline name (metadata.name), never NULL. */
const char *rm_graph_name(const rm_graph *g);
/* The runtime the graph was compiled against (borrowed). */
rm_runtime *rm_graph_runtime(const rm_graph *g);
/* Nodes in topological order (manifest order among independent nodes).
 * Includes converter nodes the compiler inserted; see rm_graph_node_inserted. */
size_t rm_graph_node_count(const rm_graph *g);
const char *rm_graph_node_id(const rm_graph *g, size_t i);
const rm_node_type *rm_graph_node_type(const rm_graph *g, size_t i);
int rm_graph_node_inserted(const rm_graph *g, size_t i);
/* Index of a node id, or -1. */
int rm_graph_node_index(const rm_graph *g, const char *id);
/* Sink nodes (no outgoing connection): their outputs are the graph's outputs. */
size_t rm_graph_sink_count(const rm_graph *g);
size_t rm_graph_sink(const rm_graph *g, size_t i); /* node index */
/* Source nodes (no incoming connection): rm_session_push() feeds them. */
size_t rm_graph_source_count(const rm_graph *g);
size_t rm_graph_source(const rm_graph *g, size_t i);
/* Caps negotiated on output `port` of node `i`. */
const rm_caps *rm_graph_output_caps(const rm_graph *g, size_t i, unsigned port);

/* The graph in Graphviz DOT: nodes with type and key params, edges labelled
 * with ports, caps and queue policies, inserted converters marked.  Caller
 * frees; NULL on allocation failure. */
char *rm_graph_to_dot(const rm_graph *g);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_GRAPH_H */
