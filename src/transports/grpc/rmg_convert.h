/*
 * remotemedia.v1 messages <-> frames, manifests, metrics and errors: the part
 * of the gRPC transport that needs protobuf-c and jansson but not gRPC itself
 * (so the protobuf fuzz target can build it without the gRPC library).
 */
#ifndef RMG_CONVERT_H
#define RMG_CONVERT_H

#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "grpc/health/v1/health.pb-c.h"
#include "remotemedia/remotemedia.h"
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

/* PipelineManifest → manifest JSON text (caller frees); NULL with err set
 * (params not JSON, naming the node). */
char *rmg_manifest_to_json(const Remotemedia__V1__PipelineManifest *m, const char *default_name, rm_error *err);

/* Session metrics JSON → ExecutionMetrics (allocated in the arena). */
Remotemedia__V1__ExecutionMetrics *rmg_metrics(rmg_arena *a, const char *metrics_json, double wall_ms);

/* rm error → remotemedia.v1 ErrorType (1–6 where they can say it). */
Remotemedia__V1__ErrorType rmg_error_type(const rm_error *err, int validation);
Remotemedia__V1__ErrorResponse *rmg_error(rmg_arena *a, Remotemedia__V1__ErrorType type, const char *node_id,
                                          const char *message);

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

#endif
