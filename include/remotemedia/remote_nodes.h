/*
 * remotemedia/remote_nodes.h — the RemotePipeline node type (gRPC builds).
 *
 *   nodes:
 *     - id: asr
 *       node_type: RemotePipeline
 *       params:
 *         endpoints: [10.0.0.5:50051, 10.0.0.6:50051]
 *         manifest: stt.yaml        # or an inline manifest object
 *
 * runs a sub-manifest on remotemedia.v1 servers as one stream per session,
 * with retries, round_robin or least_loaded balancing, a circuit breaker per
 * endpoint (shared by every session of the process) and failover mid-stream.  Its ports are the sub-manifest's source
 * inputs and sink outputs.  See docs/nodes.md and docs/remote.md.
 *
 * It lives in the gRPC transport layer (it needs the client): the core and
 * the node families do not depend on gRPC.
 */
#ifndef REMOTEMEDIA_REMOTE_NODES_H
#define REMOTEMEDIA_REMOTE_NODES_H
#include "error.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Registers RemotePipeline in `rt`.  Call once per runtime, before compiling
 * graphs; not thread-safe with other registrations on the same runtime. */
int rm_register_remote_nodes(rm_runtime *rt, rm_error *err);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_REMOTE_NODES_H */
