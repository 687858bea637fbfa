/* Fuzz target: protobuf decoding of every remotemedia.v1 (and health)
 * request message the gRPC server accepts, into frames and manifests.
 *
 * The first byte picks the message: 0 ExecuteRequest (ExecutePipeline),
 * 1 StreamRequest (StreamPipeline: init, data_chunk, audio_chunk, control),
 * 2 VersionRequest (GetVersion), 3 HealthCheckRequest (Check and Watch); the
 * rest is its wire encoding.  It is unpacked with protobuf-c as the server
 * does, then put through the server's own conversion layer (convert.c, the
 * functions the handlers call): the manifest to JSON text and then compiled
 * like `rmedia serve` compiles it, every DataBuffer / AudioBuffer to a frame
 * (zero copy: the frames hold the message), each frame rendered with
 * rm_frame_json_dumps and converted back to a DataBuffer and packed as a
 * reply would be.  No server, no sockets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "rmg_convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A frame as the server would use and answer it. */
static void use_frame(rm_frame *f)
{
    free(rm_frame_json_dumps(f));
    rmg_arena a = {0};
    const char *why = NULL;
    const rm_frame *one = f;
    Remotemedia__V1__DataBuffer *b = rmg_frames_to_buffer(&a, &one, 1, &why);
    if (b) {
        size_t n = remotemedia__v1__data_buffer__get_packed_size(b);
        uint8_t *out = malloc(n ? n : 1);
        if (out) remotemedia__v1__data_buffer__pack(b, out);
        free(out);
    }
    rmg_arena_free(&a);
    rm_frame_unref(f);
}

static void buffer(const Remotemedia__V1__DataBuffer *b, rmg_msg *owner, const char *node_id)
{
    rm_error err;
    rm_error_clear(&err);
    rm_frame *f = b ? rmg_buffer_to_frame(b, owner, node_id ? node_id : "", &err) : NULL;
    if (f) use_frame(f);
}

static void manifest(const Remotemedia__V1__PipelineManifest *m, const char *name)
{
    rm_error err;
    rm_error_clear(&err);
    char *text = m ? rmg_manifest_to_json(m, name, &err) : NULL;
    if (!text) return;
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    if (d && rm_graph_load_string(fuzz_runtime(), text, strlen(text), "manifest", NULL, &g, d) != 0) {
        rm_error e;
        rm_diags_to_error(d, &e);
        free(rm_diags_to_string(d));
    }
    rm_graph_unref(g);
    rm_diags_free(d);
    free(text);
}

static void execute_request(rmg_msg *owner)
{
    const Remotemedia__V1__ExecuteRequest *r = (const Remotemedia__V1__ExecuteRequest *)owner->msg;
    manifest(r->manifest, "request");
    for (size_t i = 0; i < r->n_data_inputs; i++) buffer(r->data_inputs[i]->value, owner, r->data_inputs[i]->key);
}

static void stream_request(rmg_msg *owner)
{
    const Remotemedia__V1__StreamRequest *r = (const Remotemedia__V1__StreamRequest *)owner->msg;
    switch (r->request_case) {
    case REMOTEMEDIA__V1__STREAM_REQUEST__REQUEST_INIT: manifest(r->init->manifest, "stream"); break;
    case REMOTEMEDIA__V1__STREAM_REQUEST__REQUEST_DATA_CHUNK: {
        const Remotemedia__V1__DataChunk *c = r->data_chunk;
        buffer(c->buffer, owner, c->node_id);
        for (size_t i = 0; i < c->n_named_buffers; i++) buffer(c->named_buffers[i]->value, owner, c->node_id);
        break;
    }
    case REMOTEMEDIA__V1__STREAM_REQUEST__REQUEST_AUDIO_CHUNK: {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        const Remotemedia__V1__AudioChunk *c = r->audio_chunk;
#pragma GCC diagnostic pop
        rm_error err;
        rm_error_clear(&err);
        rm_frame *f = c->buffer ? rmg_audio_to_frame(c->buffer, owner, c->node_id, &err) : NULL;
        if (f) use_frame(f);
        break;
    }
    default: break; /* control and empty requests carry no data */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const ProtobufCMessageDescriptor *const types[] = {
        &remotemedia__v1__execute_request__descriptor, &remotemedia__v1__stream_request__descriptor,
        &remotemedia__v1__version_request__descriptor, &grpc__health__v1__health_check_request__descriptor};
    unsigned which = data[0] % 4;
    ProtobufCMessage *m = protobuf_c_message_unpack(types[which], NULL, size - 1, data + 1);
    if (!m) return 0;
    rmg_msg *owner = rmg_msg_new(m);
    if (!owner) return 0;
    if (which == 0) execute_request(owner);
    else if (which == 1) stream_request(owner);
    rmg_msg_unref(owner); /* frames still alive would keep it: all are freed above */
    return 0;
}
