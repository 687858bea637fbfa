/*
 * remotemedia.v1 client (gRPC core C API + protobuf-c, the server's protos).
 *
 * Threads: an rm_client may be shared by threads (calls are independent);
 * an rm_client_stream belongs to one thread at a time.  Every blocking call
 * returns by the client's deadline at the latest.
 * Errors: functions return 0 or an RM_E* code with *err set; messages name
 * the endpoint ("server 127.0.0.1:50051: ...").
 */
#ifndef RM_CLIENT_H
#define RM_CLIENT_H

#include <stddef.h>

#include "remotemedia/error.h"
#include "remotemedia/frame.h"

typedef struct rm_client rm_client;
typedef struct rm_client_stream rm_client_stream;

typedef struct rm_client_opts {
    int tls;              /* TLS on (implied by tls_ca/tls_cert)                 */
    const char *tls_ca;   /* PEM file of the roots to trust (NULL: system roots) */
    const char *tls_cert; /* client certificate + key PEM files for mTLS         */
    const char *tls_key;
    const char *token;    /* bearer token sent as "authorization", or NULL       */
    double deadline_s;    /* per call (unary) / per wait (stream); 0 = 30 s      */
} rm_client_opts;

/* Creates a channel to HOST:PORT (strings are copied; files read now).
 * No connection is made until the first call. */
int rm_client_connect(const char *address, const rm_client_opts *opts, rm_client **out, rm_error *err);
void rm_client_free(rm_client *c); /* NULL ignored; streams must be freed first */
const char *rm_client_address(const rm_client *c);

/* grpc.health.v1 Check of `service` ("" = the server): *serving = 1 when SERVING. */
int rm_client_health(rm_client *c, const char *service, int *serving, rm_error *err);
/* Load: a health Check that also reads the server's open-stream count
 * (*active, -1 when the server does not report it).  *serving as above. */
int rm_client_load(rm_client *c, int *serving, long *active, rm_error *err);
/* GetVersion: *json (caller frees) = {"protocol_version","runtime_version",
 * "node_types":[…],"compatible":bool}. */
int rm_client_version(rm_client *c, char **json, rm_error *err);

/* One output: a sink's DataBuffer as a frame (owned by the result). */
typedef struct rm_client_output {
    char *node_id;
    rm_frame *frame;             /* timestamp_us as the server's frame had it */
    unsigned long long sequence; /* stream: the ChunkResult's sequence */
    char *port;                  /* the sink's output port, NULL if the server did not say */
} rm_client_output;
/* Frees node_id and port and drops the frame (for outputs the caller owns). */
void rm_client_output_clear(rm_client_output *o);

typedef struct rm_client_result {
    rm_client_output *outputs;
    size_t n_outputs;
    char *metrics_json; /* ExecutionMetrics as JSON, or NULL */
} rm_client_result;
void rm_client_result_free(rm_client_result *r); /* frees contents, not r */

/* Unary ExecutePipeline: manifest JSON text, one input frame per source node
 * (node_ids[i] ← frames[i], borrowed).  Fills *res (free with
 * rm_client_result_free) on success. */
int rm_client_execute(rm_client *c, const char *manifest_json, const char *const *node_ids,
                      const rm_frame *const *frames, size_t n, rm_client_result *res, rm_error *err);

/* Streams.  open sends StreamInit and waits for StreamReady. */
int rm_client_stream_open(rm_client *c, const char *manifest_json, rm_client_stream **out, rm_error *err);
/* Sends one frame (borrowed) to source node_id with the given sequence. */
int rm_client_stream_push(rm_client_stream *s, const char *node_id, const rm_frame *f, unsigned long long seq,
                          rm_error *err);
/* The same into input `port` of node_id (a DataChunk's named buffer); port
 * NULL = the node's first input. */
int rm_client_stream_push_port(rm_client_stream *s, const char *node_id, const char *port, const rm_frame *f,
                               unsigned long long seq, rm_error *err);
/* Waits up to timeout_s for the next output: returns 1 with *out filled
 * (caller frees it with rm_client_output_clear), 0 on timeout, 2 when
 * the stream has ended cleanly, or a negative RM_E* code. */
int rm_client_stream_poll(rm_client_stream *s, double timeout_s, rm_client_output *out, rm_error *err);
typedef void (*rm_client_output_fn)(void *user, const rm_client_output *o); /* o borrowed */
/* Half-closes (COMMAND_CLOSE) and delivers the remaining outputs to fn (in
 * the calling thread) until the server closes; metrics_json (may be NULL)
 * gets the final metrics (caller frees). */
int rm_client_stream_close(rm_client_stream *s, rm_client_output_fn fn, void *user, char **metrics_json,
                           rm_error *err);
void rm_client_stream_cancel(rm_client_stream *s); /* any thread */
void rm_client_stream_free(rm_client_stream *s);   /* cancels if still open */

#endif
