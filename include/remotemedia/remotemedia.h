/*
 * remotemedia/remotemedia.h — everything, in one include.
 *
 *   rm_runtime  (runtime.h)  node registry, plugins, logger
 *   rm_manifest (manifest.h) JSON/YAML pipeline description, diagnostics
 *   rm_graph    (graph.h)    compiled, validated, immutable pipeline
 *   rm_session  (session.h)  one running instance; push, end, outputs, metrics
 *   rm_frame    (frame.h)    refcounted zero-copy data
 *   rm_node_type (node.h)    how to write a node
 *   nodes.h                  the built-in node families a host registers
 */
#ifndef REMOTEMEDIA_H
#define REMOTEMEDIA_H

#include "error.h"
#include "frame.h"
#include "breaker.h"
#include "graph.h"
#include "harness.h"
#include "log.h"
#include "manifest.h"
#include "node.h"
#include "nodes.h"
#include "plugin.h"
#include "runtime.h"
#include "session.h"

#endif /* REMOTEMEDIA_H */
