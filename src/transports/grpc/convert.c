/* remotemedia.v1 messages ↔ frames, manifests and metrics. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmg_convert.h"

/* --------------------------------------------------------------- messages --- */

rmg_msg *rmg_msg_new(ProtobufCMessage *msg)
{
    rmg_msg *m = malloc(sizeof *m);
    if (!m) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return NULL;
    }
    atomic_init(&m->refs, 1);
    m->msg = msg;
    return m;
}

void rmg_msg_ref(rmg_msg *m) { atomic_fetch_add(&m->refs, 1); }

void rmg_msg_unref(rmg_msg *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1) return;
    protobuf_c_message_free_unpacked(m->msg, NULL);
    free(m);
}

static void release_msg(void *data, void *user)
{
    (void)data;
    rmg_msg_unref(user);
}

/* ------------------------------------------------------------------ arena --- */

struct rmg_block {
    struct rmg_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *rmg_alloc(rmg_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct rmg_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *rmg_strdup(rmg_arena *a, const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *p = rmg_alloc(a, n);
    if (p) memcpy(p, s ? s : "", n);
    return p;
}

void rmg_arena_free(rmg_arena *a)
{
    while (a->head) {
        struct rmg_block *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

/* ----------------------------------------------------------- DataBuffer in --- */

static const char *audio_format_name(int f)
{
    switch (f) {
    case REMOTEMEDIA__V1__AUDIO_FORMAT__AUDIO_FORMAT_F32: return "AUDIO_FORMAT_F32";
    case REMOTEMEDIA__V1__AUDIO_FORMAT__AUDIO_FORMAT_I16: return "AUDIO_FORMAT_I16";
    case REMOTEMEDIA__V1__AUDIO_FORMAT__AUDIO_FORMAT_I32: return "AUDIO_FORMAT_I32";
    default: return "AUDIO_FORMAT_UNSPECIFIED";
    }
}

rm_frame *rmg_audio_to_frame(const Remotemedia__V1__AudioBuffer *a, rmg_msg *owner, const char *node_id,
                             rm_error *err)
{
    const char *nid = node_id ? node_id : "";
    size_t width;
    switch (a->format) {
    case REMOTEMEDIA__V1__AUDIO_FORMAT__AUDIO_FORMAT_F32:
    case REMOTEMEDIA__V1__AUDIO_FORMAT__AUDIO_FORMAT_I32: width = 4; break;
    case REMOTEMEDIA__V1__AUDIO_FORMAT__AUDIO_FORMAT_I16: width = 2; break;
    default:
        rm_error_set(err, RM_EINVAL, node_id,
                     "audio for node '%s': format is %s (%d); set AUDIO_FORMAT_F32, AUDIO_FORMAT_I16 or "
                     "AUDIO_FORMAT_I32",
                     nid, audio_format_name(a->format), (int)a->format);
        return NULL;
    }
    if (a->sample_rate == 0 || a->channels == 0) {
        rm_error_set(err, RM_EINVAL, node_id, "audio for node '%s': %s is 0", nid,
                     a->sample_rate == 0 ? "sample_rate" : "channels");
        return NULL;
    }
    if (a->sample_rate > RM_AUDIO_MAX_RATE) {
        rm_error_set(err, RM_EINVAL, node_id, "audio for node '%s': sample_rate %u is over the limit of %u Hz", nid,
                     a->sample_rate, RM_AUDIO_MAX_RATE);
        return NULL;
    }
    size_t bytes = a->samples.len;
    if (bytes % width) {
        rm_error_set(err, RM_EINVAL, node_id, "audio for node '%s': %zu bytes is not a whole number of %s samples",
                     nid, bytes, audio_format_name(a->format));
        return NULL;
    }
    size_t n = bytes / width;
    if (a->num_samples != n) {
        rm_error_set(err, RM_EINVAL, node_id,
                     "audio for node '%s': num_samples is %llu but %zu bytes of %s hold %zu samples", nid,
                     (unsigned long long)a->num_samples, bytes, audio_format_name(a->format), n);
        return NULL;
    }
    if (n % a->channels) {
        rm_error_set(err, RM_EINVAL, node_id, "audio for node '%s': %zu samples do not divide into %u channels", nid,
                     n, a->channels);
        return NULL;
    }
    size_t frames = n / a->channels;
    rm_frame *f;
    if (a->format == REMOTEMEDIA__V1__AUDIO_FORMAT__AUDIO_FORMAT_F32 && owner && n &&
        ((uintptr_t)a->samples.data % sizeof(float)) == 0) {
        /* zero copy: the frame wraps the unpacked message's bytes */
        rmg_msg_ref(owner);
        f = rm_frame_wrap_audio(RM_SAMPLE_F32, a->sample_rate, a->channels, frames, a->samples.data, release_msg,
                                owner);
        if (!f) rmg_msg_unref(owner);
    } else {
        f = rm_frame_new_audio(RM_SAMPLE_F32, a->sample_rate, a->channels, frames);
        if (f) {
            float *out = f->u.audio.data;
            const unsigned char *p = a->samples.data;
            for (size_t i = 0; i < n; i++) {
                if (width == 2) {
                    int16_t v = (int16_t)(uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
                    out[i] = (float)v / 32768.0f;
                } else if (a->format == REMOTEMEDIA__V1__AUDIO_FORMAT__AUDIO_FORMAT_I32) {
                    uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                                 (uint32_t)p[4 * i + 3] << 24;
                    out[i] = (float)((double)(int32_t)u / 2147483648.0);
                } else {
                    memcpy(&out[i], p + 4 * i, 4);
                }
            }
        }
    }
    if (!f) rm_error_set(err, RM_ENOMEM, node_id, "out of memory for audio of node '%s'", nid);
    return f;
}

static int pixel_size(int fmt, uint32_t w, uint32_t h, size_t *out)
{
    size_t px = (size_t)w * h;
    switch (fmt) {
    case RM_PIXEL_RGB24: *out = px * 3; return 0;
    case RM_PIXEL_RGBA32: *out = px * 4; return 0;
    case RM_PIXEL_GRAY8: *out = px; return 0;
    case RM_PIXEL_YUV420P: *out = px + 2 * (((size_t)w + 1) / 2) * (((size_t)h + 1) / 2); return 0;
    default: return -1;
    }
}

static int dtype_from_proto(int d)
{
    switch (d) {
    case REMOTEMEDIA__V1__TENSOR_DTYPE__TENSOR_DTYPE_F32: return RM_DTYPE_F32;
    case REMOTEMEDIA__V1__TENSOR_DTYPE__TENSOR_DTYPE_F16: return RM_DTYPE_F16;
    case REMOTEMEDIA__V1__TENSOR_DTYPE__TENSOR_DTYPE_I32: return RM_DTYPE_I32;
    case REMOTEMEDIA__V1__TENSOR_DTYPE__TENSOR_DTYPE_I8: return RM_DTYPE_I8;
    case REMOTEMEDIA__V1__TENSOR_DTYPE__TENSOR_DTYPE_U8: return RM_DTYPE_U8;
    default: return -1;
    }
}

static int dtype_to_proto(rm_dtype d)
{
    switch (d) {
    case RM_DTYPE_F32: return REMOTEMEDIA__V1__TENSOR_DTYPE__TENSOR_DTYPE_F32;
    case RM_DTYPE_F16: return REMOTEMEDIA__V1__TENSOR_DTYPE__TENSOR_DTYPE_F16;
    case RM_DTYPE_I32: return REMOTEMEDIA__V1__TENSOR_DTYPE__TENSOR_DTYPE_I32;
    case RM_DTYPE_I8: return REMOTEMEDIA__V1__TENSOR_DTYPE__TENSOR_DTYPE_I8;
    case RM_DTYPE_U8: return REMOTEMEDIA__V1__TENSOR_DTYPE__TENSOR_DTYPE_U8;
    default: return REMOTEMEDIA__V1__TENSOR_DTYPE__TENSOR_DTYPE_UNSPECIFIED;
    }
}

static rm_frame *wrap_bytes_error(rm_error *err, const char *node_id, const char *what)
{
    rm_error_set(err, RM_ENOMEM, node_id, "out of memory for %s of node '%s'", what, node_id ? node_id : "");
    return NULL;
}

rm_frame *rmg_buffer_to_frame(const Remotemedia__V1__DataBuffer *b, rmg_msg *owner, const char *node_id,
                              rm_error *err)
{
    const char *nid = node_id ? node_id : "";
    rm_frame *f = NULL;
    if (!b) {
        rm_error_set(err, RM_EINVAL, node_id, "no data for node '%s'", nid);
        return NULL;
    }
    switch (b->data_type_case) {
    case REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_AUDIO:
        f = rmg_audio_to_frame(b->audio, owner, node_id, err);
        break;
    case REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_VIDEO: {
        const Remotemedia__V1__VideoFrame *v = b->video;
        size_t need;
        if (v->width == 0 || v->height == 0 || pixel_size((int)v->format, v->width, v->height, &need) != 0) {
            rm_error_set(err, RM_EINVAL, node_id, "video for node '%s': %s", nid,
                         v->width == 0 || v->height == 0 ? "width and height must be > 0"
                                                         : "format must be RGB24, RGBA32, YUV420P or GRAY8");
            return NULL;
        }
        if (v->pixel_data.len != need) {
            rm_error_set(err, RM_EINVAL, node_id, "video for node '%s': %ux%u needs %zu bytes, got %zu", nid,
                         v->width, v->height, need, v->pixel_data.len);
            return NULL;
        }
        if (owner) {
            rmg_msg_ref(owner);
            f = rm_frame_wrap_video((rm_pixel_format)v->format, v->width, v->height, 0, need, v->pixel_data.data,
                                    release_msg, owner);
            if (!f) rmg_msg_unref(owner);
        } else if ((f = rm_frame_new_video((rm_pixel_format)v->format, v->width, v->height, 0, need)) != NULL) {
            memcpy(f->u.video.data, v->pixel_data.data, need);
        }
        if (!f) return wrap_bytes_error(err, node_id, "video");
        if (v->timestamp_us) f->timestamp_us = (int64_t)v->timestamp_us;
        f->sequence = v->frame_number;
        break;
    }
    case REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_TENSOR: {
        const Remotemedia__V1__TensorBuffer *t = b->tensor;
        int dt = dtype_from_proto((int)t->dtype);
        if (dt < 0) {
            rm_error_set(err, RM_EINVAL, node_id, "tensor for node '%s': dtype must be F32, F16, I32, I8 or U8", nid);
            return NULL;
        }
        if (t->n_shape > RM_TENSOR_MAX_DIMS) {
            rm_error_set(err, RM_EINVAL, node_id, "tensor for node '%s': %zu dimensions, at most %d", nid, t->n_shape,
                         RM_TENSOR_MAX_DIMS);
            return NULL;
        }
        int64_t shape[RM_TENSOR_MAX_DIMS];
        size_t count = 1;
        for (size_t i = 0; i < t->n_shape; i++) {
            if (t->shape[i] > (1ull << 40) || (t->shape[i] && count > ((size_t)1 << 48) / t->shape[i])) {
                rm_error_set(err, RM_EINVAL, node_id, "tensor for node '%s': shape too large", nid);
                return NULL;
            }
            shape[i] = (int64_t)t->shape[i];
            count *= (size_t)t->shape[i];
        }
        size_t need = count * rm_dtype_size((rm_dtype)dt);
        if (t->data.len != need) {
            rm_error_set(err, RM_EINVAL, node_id, "tensor for node '%s': shape and dtype need %zu bytes, got %zu", nid,
                         need, t->data.len);
            return NULL;
        }
        if (owner) {
            rmg_msg_ref(owner);
            f = rm_frame_wrap_tensor((rm_dtype)dt, (uint32_t)t->n_shape, shape, t->data.data, release_msg, owner);
            if (!f) rmg_msg_unref(owner);
        } else if ((f = rm_frame_new_tensor((rm_dtype)dt, (uint32_t)t->n_shape, shape)) != NULL) {
            memcpy(f->u.tensor.data, t->data.data, need);
        }
        if (!f) return wrap_bytes_error(err, node_id, "tensor");
        break;
    }
    case REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_JSON: {
        char msg[160] = "";
        const char *p = b->json->json_payload ? b->json->json_payload : "";
        f = rm_frame_new_json_text(p, strlen(p), msg, sizeof msg);
        if (!f) {
            rm_error_set(err, RM_EINVAL, node_id, "json for node '%s' is not valid JSON: %s", nid,
                         msg[0] ? msg : "empty payload");
            return NULL;
        }
        break;
    }
    case REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_TEXT:
        f = rm_frame_new_text((const char *)b->text->text_data.data, b->text->text_data.len);
        if (!f) {
            rm_error_set(err, RM_EINVAL, node_id, "text for node '%s' is not valid UTF-8", nid);
            return NULL;
        }
        break;
    case REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_BINARY:
        if (owner && b->binary->data.len) {
            rmg_msg_ref(owner);
            f = rm_frame_wrap_binary(b->binary->data.data, b->binary->data.len, release_msg, owner);
            if (!f) rmg_msg_unref(owner);
        } else {
            f = rm_frame_new_binary(b->binary->data.data, b->binary->data.len);
        }
        if (!f) return wrap_bytes_error(err, node_id, "binary data");
        break;
    default:
        rm_error_set(err, RM_EINVAL, node_id,
                     "DataBuffer for node '%s' is empty: set one of audio, video, tensor, json, text or binary", nid);
        return NULL;
    }
    for (size_t i = 0; f && i < b->n_metadata; i++)
        if (rm_frame_meta_set(f, b->metadata[i]->key, b->metadata[i]->value) != 0) {
            rm_frame_unref(f);
            return wrap_bytes_error(err, node_id, "metadata");
        }
    return f;
}

/* ---------------------------------------------------------- DataBuffer out --- */

static Remotemedia__V1__DataBuffer *new_buffer(rmg_arena *a, const rm_frame *props)
{
    Remotemedia__V1__DataBuffer *b = rmg_alloc(a, sizeof *b);
    if (!b) return NULL;
    remotemedia__v1__data_buffer__init(b);
    size_t n = props ? rm_frame_meta_count(props) : 0;
    if (n) {
        b->metadata = rmg_alloc(a, n * sizeof *b->metadata);
        if (!b->metadata) return NULL;
        for (size_t i = 0; i < n; i++) {
            const char *k, *v;
            rm_frame_meta_at(props, i, &k, &v);
            Remotemedia__V1__DataBuffer__MetadataEntry *e = rmg_alloc(a, sizeof *e);
            if (!e) return NULL;
            remotemedia__v1__data_buffer__metadata_entry__init(e);
            e->key = (char *)k;
            e->value = (char *)v;
            b->metadata[b->n_metadata++] = e;
        }
    }
    return b;
}

static int audio_proto_format(rm_sample_format f)
{
    switch (f) {
    case RM_SAMPLE_S16: return REMOTEMEDIA__V1__AUDIO_FORMAT__AUDIO_FORMAT_I16;
    case RM_SAMPLE_S32: return REMOTEMEDIA__V1__AUDIO_FORMAT__AUDIO_FORMAT_I32;
    default: return REMOTEMEDIA__V1__AUDIO_FORMAT__AUDIO_FORMAT_F32;
    }
}

static Remotemedia__V1__DataBuffer *audio_out(rmg_arena *a, const rm_frame *const *fr, size_t n, const char **why)
{
    const rm_frame *f0 = fr[0];
    size_t width = rm_sample_format_size(f0->u.audio.format), samples = 0;
    for (size_t i = 0; i < n; i++) {
        if (fr[i]->kind != RM_FRAME_AUDIO || fr[i]->u.audio.format != f0->u.audio.format ||
            fr[i]->u.audio.rate != f0->u.audio.rate || fr[i]->u.audio.channels != f0->u.audio.channels) {
            *why = "the audio frames of one sink differ in kind, format, rate or channels";
            return NULL;
        }
        samples += fr[i]->u.audio.frames * fr[i]->u.audio.channels;
    }
    Remotemedia__V1__DataBuffer *b = new_buffer(a, f0);
    Remotemedia__V1__AudioBuffer *ab = b ? rmg_alloc(a, sizeof *ab) : NULL;
    if (!ab) return NULL;
    remotemedia__v1__audio_buffer__init(ab);
    ab->sample_rate = f0->u.audio.rate;
    ab->channels = f0->u.audio.channels;
    ab->format = audio_proto_format(f0->u.audio.format);
    ab->num_samples = samples;
    ab->samples.len = samples * width;
    if (n == 1) {
        ab->samples.data = f0->u.audio.data; /* packed straight from the frame */
    } else if (samples) {
        unsigned char *p = rmg_alloc(a, samples * width);
        if (!p) return NULL;
        ab->samples.data = p;
        for (size_t i = 0; i < n; i++) {
            size_t len = fr[i]->u.audio.frames * fr[i]->u.audio.channels * width;
            memcpy(p, fr[i]->u.audio.data, len);
            p += len;
        }
    }
    b->data_type_case = REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_AUDIO;
    b->audio = ab;
    return b;
}

static Remotemedia__V1__DataBuffer *one_out(rmg_arena *a, const rm_frame *f)
{
    Remotemedia__V1__DataBuffer *b = new_buffer(a, f);
    if (!b) return NULL;
    switch (f->kind) {
    case RM_FRAME_AUDIO: {
        const char *why = NULL;
        return audio_out(a, &f, 1, &why);
    }
    case RM_FRAME_VIDEO: {
        Remotemedia__V1__VideoFrame *v = rmg_alloc(a, sizeof *v);
        if (!v) return NULL;
        remotemedia__v1__video_frame__init(v);
        v->pixel_data.data = f->u.video.data;
        v->pixel_data.len = f->u.video.size;
        v->width = f->u.video.width;
        v->height = f->u.video.height;
        v->format = (Remotemedia__V1__PixelFormat)f->u.video.format;
        v->frame_number = f->sequence;
        v->timestamp_us = f->timestamp_us == RM_TS_NONE || f->timestamp_us < 0 ? 0 : (uint64_t)f->timestamp_us;
        b->data_type_case = REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_VIDEO;
        b->video = v;
        return b;
    }
    case RM_FRAME_TENSOR: {
        Remotemedia__V1__TensorBuffer *t = rmg_alloc(a, sizeof *t);
        uint64_t *shape = rmg_alloc(a, (f->u.tensor.ndim ? f->u.tensor.ndim : 1) * sizeof *shape);
        if (!t || !shape) return NULL;
        remotemedia__v1__tensor_buffer__init(t);
        t->data.data = f->u.tensor.data;
        t->data.len = f->u.tensor.size;
        for (uint32_t i = 0; i < f->u.tensor.ndim; i++) shape[i] = (uint64_t)f->u.tensor.shape[i];
        t->shape = shape;
        t->n_shape = f->u.tensor.ndim;
        t->dtype = (Remotemedia__V1__TensorDtype)dtype_to_proto(f->u.tensor.dtype);
        b->data_type_case = REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_TENSOR;
        b->tensor = t;
        return b;
    }
    case RM_FRAME_JSON: {
        Remotemedia__V1__JsonData *j = rmg_alloc(a, sizeof *j);
        char *s = rm_frame_json_dumps(f);
        if (!j || !s) {
            free(s);
            return NULL;
        }
        remotemedia__v1__json_data__init(j);
        j->json_payload = rmg_strdup(a, s);
        free(s);
        if (!j->json_payload) return NULL;
        b->data_type_case = REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_JSON;
        b->json = j;
        return b;
    }
    case RM_FRAME_TEXT: {
        Remotemedia__V1__TextBuffer *t = rmg_alloc(a, sizeof *t);
        if (!t) return NULL;
        remotemedia__v1__text_buffer__init(t);
        t->text_data.data = (uint8_t *)f->u.text.data;
        t->text_data.len = f->u.text.len;
        t->encoding = "utf-8";
        b->data_type_case = REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_TEXT;
        b->text = t;
        return b;
    }
    case RM_FRAME_BINARY: {
        Remotemedia__V1__BinaryBuffer *x = rmg_alloc(a, sizeof *x);
        if (!x) return NULL;
        remotemedia__v1__binary_buffer__init(x);
        x->data.data = f->u.binary.data;
        x->data.len = f->u.binary.size;
        x->mime_type = "application/octet-stream";
        b->data_type_case = REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_BINARY;
        b->binary = x;
        return b;
    }
    }
    return NULL;
}

Remotemedia__V1__DataBuffer *rmg_frames_to_buffer(rmg_arena *a, const rm_frame *const *fr, size_t n, const char **why)
{
    *why = NULL;
    if (n == 0) return NULL;
    if (n == 1) return one_out(a, fr[0]);
    if (fr[0]->kind == RM_FRAME_AUDIO) return audio_out(a, fr, n, why);
    int all_values = 1;
    for (size_t i = 0; i < n; i++)
        if (fr[i]->kind != RM_FRAME_JSON && fr[i]->kind != RM_FRAME_TEXT) all_values = 0;
    if (!all_values) return one_out(a, fr[n - 1]); /* the last one, as the original did */
    /* several json/text frames: one JSON array, in order */
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        char *s = rm_frame_json_dumps(fr[i]);
        json_t *v = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
        free(s);
        if (!v || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    char *text = arr ? json_dumps(arr, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(arr);
    Remotemedia__V1__DataBuffer *b = text ? new_buffer(a, fr[n - 1]) : NULL;
    Remotemedia__V1__JsonData *j = b ? rmg_alloc(a, sizeof *j) : NULL;
    if (j) {
        remotemedia__v1__json_data__init(j);
        j->json_payload = rmg_strdup(a, text);
        b->data_type_case = REMOTEMEDIA__V1__DATA_BUFFER__DATA_TYPE_JSON;
        b->json = j;
    }
    free(text);
    return j && j->json_payload ? b : NULL;
}

/* --------------------------------------------------------------- manifests --- */

char *rmg_manifest_to_json(const Remotemedia__V1__PipelineManifest *m, const char *default_name, rm_error *err)
{
    json_t *root = json_object(), *nodes = json_array(), *conns = json_array(), *meta = json_object();
    if (!root || !nodes || !conns || !meta) goto oom;
    json_object_set_new(root, "version", json_string(m->version && *m->version ? m->version : "v1"));
    const char *name = m->metadata && m->metadata->name && *m->metadata->name ? m->metadata->name : default_name;
    json_object_set_new(meta, "name", json_string(name));
    if (m->metadata && m->metadata->description && *m->metadata->description)
        json_object_set_new(meta, "description", json_string(m->metadata->description));
    json_object_set_new(root, "metadata", meta);
    meta = NULL;
    for (size_t i = 0; i < m->n_nodes; i++) {
        const Remotemedia__V1__NodeManifest *n = m->nodes[i];
        json_t *node = json_object(), *params;
        if (!node) goto oom;
        json_array_append_new(nodes, node);
        json_object_set_new(node, "id", json_string(n->id ? n->id : ""));
        json_object_set_new(node, "node_type", json_string(n->node_type ? n->node_type : ""));
        const char *p = n->params ? n->params : "";
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) {
            params = json_object();
        } else {
            json_error_t je;
            params = json_loads(p, JSON_DECODE_ANY, &je);
            if (!params) {
                rm_error_set(err, RM_EPARAM, n->id, "node '%s': params is not valid JSON (%s at column %d): %.80s",
                             n->id ? n->id : "", je.text, je.column, n->params);
                goto fail;
            }
        }
        /* remotemedia.v1's NodeManifest has no on_error field: a client sets
         * the node's error policy as params.on_error (no node type has a
         * parameter of that name), and it goes where a manifest file has it */
        json_t *policy = json_is_object(params) ? json_object_get(params, "on_error") : NULL;
        if (policy) {
            json_object_set(node, "on_error", policy);
            json_object_del(params, "on_error");
        }
        json_object_set_new(node, "params", params);
    }
    json_object_set_new(root, "nodes", nodes);
    nodes = NULL;
    for (size_t i = 0; i < m->n_connections; i++) {
        json_t *c = json_object();
        if (!c) goto oom;
        json_object_set_new(c, "from", json_string(m->connections[i]->from ? m->connections[i]->from : ""));
        json_object_set_new(c, "to", json_string(m->connections[i]->to ? m->connections[i]->to : ""));
        json_array_append_new(conns, c);
    }
    json_object_set_new(root, "connections", conns);
    conns = NULL;
    /* indented: diagnostics then name a useful line */
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    return text;
oom:
    rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
fail:
    json_decref(root);
    json_decref(nodes);
    json_decref(conns);
    json_decref(meta);
    return NULL;
}

/* ----------------------------------------------------------------- metrics --- */

Remotemedia__V1__ExecutionMetrics *rmg_metrics(rmg_arena *a, const char *metrics_json, double wall_ms)
{
    Remotemedia__V1__ExecutionMetrics *m = rmg_alloc(a, sizeof *m);
    if (!m) return NULL;
    remotemedia__v1__execution_metrics__init(m);
    m->wall_time_ms = wall_ms > 0 ? wall_ms : 0.001; /* some clients crash on 0 */
    json_t *root = metrics_json ? json_loads(metrics_json, 0, NULL) : NULL;
    json_t *nm = json_object_get(root, "node_metrics");
    size_t n = json_object_size(nm);
    if (n) {
        m->node_metrics = rmg_alloc(a, n * sizeof *m->node_metrics);
        const char *id;
        json_t *v;
        json_object_foreach(nm, id, v)
        {
            if (!m->node_metrics) break;
            Remotemedia__V1__ExecutionMetrics__NodeMetricsEntry *e = rmg_alloc(a, sizeof *e);
            Remotemedia__V1__NodeMetrics *x = rmg_alloc(a, sizeof *x);
            if (!e || !x) break;
            remotemedia__v1__execution_metrics__node_metrics_entry__init(e);
            remotemedia__v1__node_metrics__init(x);
            e->key = rmg_strdup(a, id);
            double us = json_number_value(json_object_get(v, "total_us"));
            x->execution_time_ms = us / 1000.0;
            x->items_processed = (uint64_t)json_integer_value(json_object_get(v, "frames_in"));
            char *custom = json_dumps(v, JSON_COMPACT);
            x->custom_metrics = rmg_strdup(a, custom ? custom : "{}");
            free(custom);
            e->value = x;
            m->cpu_time_ms += x->execution_time_ms;
            m->node_metrics[m->n_node_metrics++] = e;
        }
    }
    json_decref(root);
    return m;
}

Remotemedia__V1__ErrorType rmg_error_type(const rm_error *err, int validation)
{
    if (validation) return REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION;
    switch (rm_err_class(err->code)) {
    case RM_ERRCLASS_VALIDATION: return REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_VALIDATION;
    case RM_ERRCLASS_NODE_EXECUTION:
    case RM_ERRCLASS_TIMEOUT: return REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_NODE_EXECUTION;
    case RM_ERRCLASS_RESOURCE_LIMIT: return REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_RESOURCE_LIMIT;
    default: return REMOTEMEDIA__V1__ERROR_TYPE__ERROR_TYPE_INTERNAL;
    }
}

Remotemedia__V1__ErrorResponse *rmg_error(rmg_arena *a, Remotemedia__V1__ErrorType type, const char *node_id,
                                          const char *message)
{
    Remotemedia__V1__ErrorResponse *e = rmg_alloc(a, sizeof *e);
    if (!e) return NULL;
    remotemedia__v1__error_response__init(e);
    e->error_type = type;
    e->message = rmg_strdup(a, message);
    e->failing_node_id = rmg_strdup(a, node_id ? node_id : "");
    if (!e->message || !e->failing_node_id) return NULL;
    return e;
}

/* ------------------------------------------------------- output origin --- */

static int add_meta(rmg_arena *a, Remotemedia__V1__DataBuffer *b, const char *key, const char *value)
{
    Remotemedia__V1__DataBuffer__MetadataEntry **m = rmg_alloc(a, (b->n_metadata + 1) * sizeof *m);
    Remotemedia__V1__DataBuffer__MetadataEntry *e = rmg_alloc(a, sizeof *e);
    if (!m || !e) return RM_ENOMEM;
    if (b->n_metadata) memcpy(m, b->metadata, b->n_metadata * sizeof *m);
    remotemedia__v1__data_buffer__metadata_entry__init(e);
    e->key = (char *)key;
    e->value = rmg_strdup(a, value);
    if (!e->value) return RM_ENOMEM;
    m[b->n_metadata] = e;
    b->metadata = m;
    b->n_metadata++;
    return 0;
}

int rmg_buffer_add_origin(rmg_arena *a, Remotemedia__V1__DataBuffer *b, const char *port, const rm_frame *f)
{
    if (port && add_meta(a, b, RMG_META_PORT, port) != 0) return RM_ENOMEM;
    if (f->timestamp_us != RM_TS_NONE) {
        char ts[32];
        snprintf(ts, sizeof ts, "%lld", (long long)f->timestamp_us);
        if (add_meta(a, b, RMG_META_TS, ts) != 0) return RM_ENOMEM;
    }
    return 0;
}

char *rmg_frame_take_origin(rm_frame *f)
{
    const char *ts = rm_frame_meta_get(f, RMG_META_TS);
    if (ts) {
        char *end;
        long long v = strtoll(ts, &end, 10);
        if (end != ts && !*end) f->timestamp_us = v;
        rm_frame_meta_set(f, RMG_META_TS, NULL);
    }
    const char *p = rm_frame_meta_get(f, RMG_META_PORT);
    char *port = p ? strdup(p) : NULL;
    if (p) rm_frame_meta_set(f, RMG_META_PORT, NULL);
    return port;
}
