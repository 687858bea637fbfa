/* Shared by the gRPC transport's files: message conversion and metrics. */
#ifndef RMG_INTERNAL_H
#define RMG_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <jansson.h>

#include "grpc/health/v1/health.pb-c.h"
#include "remotemedia/transport.h"
#include "remotemedia/v1/common.pb-c.h"
#include "remotemedia/v1/execution.pb-c.h"
#include "remotemedia/v1/streaming.pb-c.h"

/* The 4 MiB that gRPC clients accept by default: a reply above it is refused
 * with a clear status instead of failing inside the client. */
#define RMG_CLIENT_RECEIVE_LIMIT (4u * 1024u * 1024u)

/* ------------------------------------------------------------- messages --- */

/* An unpacked request shared by the frames that wrap its bytes (zero copy):
 * freed when the last holder lets go.  Thread-safe. */
typedef struct rmg_msg {
    atomic_int refs;
    ProtobufCMessage *msg;
} rmg_msg;

rmg_msg *rmg_msg_new(ProtobufCMessage *msg); /* takes msg; NULL on OOM (msg freed) */
void rmg_msg_ref(rmg_msg *m);
void rmg_msg_unref(rmg_msg *m);

/* Reads a received byte buffer into one contiguous slice and unpacks it.
 * NULL when it is not a valid message. */
ProtobufCMessage *rmg_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d);
/* Packs a message into a byte buffer (one slice, no extra copy). */
grpc_byte_buffer *rmg_pack(const ProtobufCMessage *m);

/* DataBuffer → frame for input of `node_id` (for messages).  Audio (F32),
 * video, tensor and binary payloads wrap the message's bytes (owner is
 * referenced until the frame dies); I16/I32 audio is converted to F32.
 * Returns NULL with err set (RM_EINVAL, naming the node and the field). */
rm_frame *rmg_buffer_to_frame(const Remotemedia__V1__DataBuffer *b, rmg_msg *owner, const char *node_id,
                              rm_error *err);
rm_frame *rmg_audio_to_frame(const Remotemedia__V1__AudioBuffer *a, rmg_msg *owner, const char *node_id,
                             rm_error *err);

/* A bump arena for building one reply: everything is freed at once. */
typedef struct rmg_arena {
    struct rmg_block *head;
} rmg_arena;
void *rmg_alloc(rmg_arena *a, size_t n); /* zeroed; NULL on OOM */
char *rmg_strdup(rmg_arena *a, const char *s);
void rmg_arena_free(rmg_arena *a);

/* Frames of one sink → one DataBuffer (audio concatenated, several json/text
 * frames as one JSON array, otherwise the last frame).  Payload bytes may
 * point into the frames: keep them alive until packed.  NULL on OOM or with
 * *why set (mixed audio formats). */
Remotemedia__V1__DataBuffer *rmg_frames_to_buffer(rmg_arena *a, const rm_frame *const *frames, size_t n,
                                                  const char **why);

/* Where a stream output came from, carried in its DataBuffer's metadata
 * (ChunkResult has no fields for it): the sink's output port and the frame's
 * timestamp.  The C client takes both back out, so `rmedia remote run`
 * prints what `rmedia run` prints; other clients see two extra keys. */
#define RMG_META_PORT "rm.port"
#define RMG_META_TS "rm.timestamp_us"
/* Initial metadata of a health Check reply: the server's open streams. */
#define RMG_LOAD_METADATA "x-rm-active-sessions"
int rmg_buffer_add_origin(rmg_arena *a, Remotemedia__V1__DataBuffer *b, const char *port, const rm_frame *f);
/* Removes the origin keys from `f` (writable): sets f->timestamp_us and
 * returns the port (caller frees), or NULL when the server sent none. */
char *rmg_frame_take_origin(rm_frame *f);

/* PipelineManifest → manifest JSON text (caller frees); NULL with err set
 * (params not JSON, naming the node). */
char *rmg_manifest_to_json(const Remotemedia__V1__PipelineManifest *m, const char *default_name, rm_error *err);

/* Session metrics JSON → ExecutionMetrics (allocated in the arena). */
Remotemedia__V1__ExecutionMetrics *rmg_metrics(rmg_arena *a, const char *metrics_json, double wall_ms);

/* rm error → remotemedia.v1 ErrorType (1–6 where they can say it). */
Remotemedia__V1__ErrorType rmg_error_type(const rm_error *err, int validation);
Remotemedia__V1__ErrorResponse *rmg_error(rmg_arena *a, Remotemedia__V1__ErrorType type, const char *node_id,
                                          const char *message);

/* ------------------------------------------------------------ metrics --- */

enum { RMG_M_EXECUTE, RMG_M_VERSION, RMG_M_STREAM, RMG_M_CHECK, RMG_M_WATCH, RMG_M_OTHER, RMG_M_COUNT };
const char *rmg_method_name(int method);

typedef struct rmg_prom rmg_prom;
rmg_prom *rmg_prom_new(rm_host *host);
void rmg_prom_free(rmg_prom *p);
/* One finished request. */
void rmg_prom_request(rmg_prom *p, int method, grpc_status_code code, double seconds);
void rmg_prom_chunks(rmg_prom *p, uint64_t n);
void rmg_prom_error(rmg_prom *p, Remotemedia__V1__ErrorType type);
/* Per-node-type calls and latency from a finished session's metrics JSON. */
void rmg_prom_session(rmg_prom *p, const char *metrics_json);
/* Starts /metrics on HOST:PORT (libmicrohttpd); *port gets the bound port.
 * Returns 0, or -1 with a message printed. */
int rmg_prom_listen(rmg_prom *p, const char *hostport, unsigned *port);

#endif
