/* rm_frame <-> ring message: the fixed header of pyw.h, the stream id, the
 * metadata as a small JSON object, then the payload bytes as they are in the
 * frame (samples, tensor data, pixels, UTF-8, JSON text for json frames). */
#include "pyw.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remotemedia/error.h"

#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

static const void *payload(const rm_frame *f, size_t *len, char **owned)
{
    *owned = NULL;
    switch (f->kind) {
    case RM_FRAME_AUDIO: *len = rm_frame_payload_size(f); return f->u.audio.data;
    case RM_FRAME_VIDEO: *len = f->u.video.size; return f->u.video.data;
    case RM_FRAME_TENSOR: *len = f->u.tensor.size; return f->u.tensor.data;
    case RM_FRAME_TEXT: *len = f->u.text.len; return f->u.text.data;
    case RM_FRAME_BINARY: *len = f->u.binary.size; return f->u.binary.data;
    case RM_FRAME_JSON:
        *owned = rm_frame_json_dumps(f);
        *len = *owned ? strlen(*owned) : 0;
        return *owned;
    }
    *len = 0;
    return NULL;
}

static char *meta_json(const rm_frame *f)
{
    size_t n = rm_frame_meta_count(f);
    if (n == 0) return NULL;
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        if (rm_frame_meta_at(f, i, &k, &v) == 0) json_object_set_new(o, k, json_string(v));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

size_t rm__pyw_enc_prepare(rm__pyw_enc *e, const rm_frame *f)
{
    e->payload = payload(f, &e->plen, &e->owned);
    e->meta = meta_json(f);
    e->mlen = e->meta ? strlen(e->meta) : 0;
    e->slen = f->stream_id ? strlen(f->stream_id) : 0;
    e->total = ALIGN8(sizeof(rm__pyw_prefix) + sizeof(rm__pyw_fhdr) + ALIGN8(e->slen + e->mlen) + e->plen);
    return e->total;
}

void rm__pyw_enc_free(rm__pyw_enc *e)
{
    free(e->owned);
    free(e->meta);
    e->owned = e->meta = NULL;
}

void rm__pyw_enc_write(const rm__pyw_enc *e, const rm_frame *f, uint32_t op, unsigned char *dst)
{
    rm__pyw_fhdr h;
    memset(&h, 0, sizeof h);
    h.kind = (uint32_t)f->kind;
    h.ts = f->timestamp_us;
    h.seq = f->sequence;
    switch (f->kind) {
    case RM_FRAME_AUDIO:
        h.f0 = (uint32_t)f->u.audio.format, h.f1 = f->u.audio.rate, h.f2 = f->u.audio.channels;
        h.n = f->u.audio.frames;
        break;
    case RM_FRAME_VIDEO:
        h.f0 = (uint32_t)f->u.video.format, h.f1 = f->u.video.width, h.f2 = f->u.video.height;
        h.f3 = f->u.video.stride;
        break;
    case RM_FRAME_TENSOR:
        h.f0 = (uint32_t)f->u.tensor.dtype, h.f1 = f->u.tensor.ndim;
        memcpy(h.shape, f->u.tensor.shape, sizeof h.shape);
        break;
    default: break;
    }
    h.sid_len = (uint32_t)e->slen;
    h.meta_len = (uint32_t)e->mlen;
    h.payload_len = e->plen;
    rm__pyw_prefix pre = {(uint32_t)e->total, op};
    unsigned char *o = dst;
    memcpy(o, &pre, sizeof pre), o += sizeof pre;
    memcpy(o, &h, sizeof h), o += sizeof h;
    if (e->slen) memcpy(o, f->stream_id, e->slen);
    if (e->mlen) memcpy(o + e->slen, e->meta, e->mlen);
    o += ALIGN8(e->slen + e->mlen);
    if (e->plen) memcpy(o, e->payload, e->plen);
}

rm_frame *rm__pyw_decode(const unsigned char *msg, char *err, size_t cap)
{
    rm__pyw_fhdr h;
    memcpy(&h, msg + sizeof(rm__pyw_prefix), sizeof h);
    const unsigned char *o = msg + sizeof(rm__pyw_prefix) + sizeof h;
    const char *meta = (const char *)o + h.sid_len;
    const unsigned char *p = o + ALIGN8((size_t)h.sid_len + h.meta_len);
    rm_frame *f = NULL;
    switch (h.kind) {
    case RM_FRAME_AUDIO: {
        if (h.f0 < RM_SAMPLE_F32 || h.f0 > RM_SAMPLE_S32 || h.f1 == 0 || h.f2 == 0) {
            snprintf(err, cap, "audio output with format %u, rate %u, %u channels", h.f0, h.f1, h.f2);
            return NULL;
        }
        f = rm_frame_new_audio((rm_sample_format)h.f0, h.f1, h.f2, (size_t)h.n);
        if (f && rm_frame_payload_size(f) != h.payload_len) {
            rm_frame_unref(f);
            snprintf(err, cap, "audio output: %llu bytes for %llu frames", (unsigned long long)h.payload_len,
                     (unsigned long long)h.n);
            return NULL;
        }
        if (f && h.payload_len) memcpy(f->u.audio.data, p, h.payload_len);
        break;
    }
    case RM_FRAME_VIDEO:
        f = rm_frame_new_video((rm_pixel_format)h.f0, h.f1, h.f2, h.f3, (size_t)h.payload_len);
        if (f && h.payload_len) memcpy(f->u.video.data, p, h.payload_len);
        break;
    case RM_FRAME_TENSOR:
        if (h.f1 > RM_TENSOR_MAX_DIMS) break;
        f = rm_frame_new_tensor((rm_dtype)h.f0, h.f1, h.shape);
        if (f && f->u.tensor.size != h.payload_len) {
            rm_frame_unref(f);
            snprintf(err, cap, "tensor output: %llu bytes for its shape", (unsigned long long)h.payload_len);
            return NULL;
        }
        if (f && h.payload_len) memcpy(f->u.tensor.data, p, h.payload_len);
        break;
    case RM_FRAME_TEXT: f = rm_frame_new_text((const char *)p, (size_t)h.payload_len); break;
    case RM_FRAME_BINARY: f = rm_frame_new_binary(p, (size_t)h.payload_len); break;
    case RM_FRAME_JSON: f = rm_frame_new_json_text((const char *)p, (size_t)h.payload_len, err, cap); break;
    default: break;
    }
    if (!f) {
        if (!err[0]) snprintf(err, cap, "output frame of kind %u could not be built", h.kind);
        return NULL;
    }
    f->timestamp_us = h.ts;
    if (h.meta_len) {
        json_t *m = json_loadb(meta, h.meta_len, 0, NULL);
        const char *k;
        json_t *v;
        if (json_is_object(m))
            json_object_foreach(m, k, v) if (json_is_string(v)) rm_frame_meta_set(f, k, json_string_value(v));
        json_decref(m);
    }
    return f;
}
