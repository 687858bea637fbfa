/*
 * The remotemedia.v1 gRPC server (`rmedia serve`), on the gRPC core C API
 * (completion queues) and protobuf-c, written on the host layer
 * (remotemedia/transport.h).  The core and the node families know nothing
 * of it.
 */
#ifndef RM_GRPC_H
#define RM_GRPC_H

#include <stddef.h>

#include "remotemedia/remotemedia.h"

typedef struct rmg_config {
    const char *listen;            /* HOST:PORT; port 0 = ephemeral           */
    const char *port_file;         /* written with the bound port, or NULL    */
    const char *metrics_listen;    /* HOST:PORT for /metrics, or NULL         */
    const char *metrics_port_file;
    const char *const *tokens;     /* accepted bearer tokens; none = no auth  */
    size_t n_tokens;
    const char *tls_cert, *tls_key, *tls_client_ca; /* PEM file paths or NULL */
    size_t max_message_bytes;      /* both directions                          */
    size_t max_sessions;           /* 0 = unlimited                            */
    double idle_timeout_s;         /* 0 = none                                 */
    double drain_timeout_s;        /* SIGTERM/SIGINT: time for in-flight calls */
    unsigned metrics_every;        /* StreamMetrics every N chunks (0 = never) */
    int log_json;                  /* one JSON object per request line        */
    int allow_python;              /* allow node types of the "python" family */
    int allow_file_params;         /* accept RM_PARAM_HOST_FILE params from clients */
    int allow_remote;              /* allow node types of the "remote" family (RemotePipeline) */
    unsigned pool_threads;         /* 0 = one per CPU                          */
} rmg_config;

/* Serves until SIGTERM/SIGINT, then drains.  Returns a process exit code
 * (0 after a clean drain); problems are printed to stderr. */
int rmg_serve(rm_runtime *rt, const rmg_config *cfg);

#endif
