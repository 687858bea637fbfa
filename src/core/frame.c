/*
 * Frames: one allocation holds the header, the bookkeeping and (for owned
 * payloads) the data, aligned for SIMD.  Wrapped payloads point at caller
 * memory and run the release callback when the last reference goes.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RM__PAYLOAD_ALIGN 32
#define RM__MAX_CHANNELS 1024
/* RM_AUDIO_MAX_RATE: nodes size their buffers in milliseconds of audio, so a
 * claimed rate of 4 GHz made a 25 ms chunk 100 million frames (fuzz_rmw). */

typedef struct meta_pair {
    char *key, *value;
} meta_pair;

typedef struct frame_impl {
    rm_frame pub; /* first: rm_frame * and frame_impl * convert */
    atomic_uint refs;
    rm_release_fn release;
    void *release_data, *release_user;
    char *stream_id;
    meta_pair *meta;
    uint32_t n_meta, cap_meta;
} frame_impl;

#define IMPL(f) ((frame_impl *)(f))
#define HEADER_SIZE ((sizeof(frame_impl) + RM__PAYLOAD_ALIGN - 1) & ~(size_t)(RM__PAYLOAD_ALIGN - 1))

/* Allocates a frame with `payload` inline bytes; returns NULL on overflow or
 * allocation failure. */
static frame_impl *frame_alloc(rm_frame_kind kind, size_t payload, void **data)
{
    if (payload > SIZE_MAX - HEADER_SIZE - RM__PAYLOAD_ALIGN) return NULL;
    size_t total = (HEADER_SIZE + payload + RM__PAYLOAD_ALIGN - 1) & ~(size_t)(RM__PAYLOAD_ALIGN - 1);
    frame_impl *f = aligned_alloc(RM__PAYLOAD_ALIGN, total);
    if (!f) return NULL;
    memset(f, 0, sizeof *f);
    atomic_init(&f->refs, 1);
    f->pub.kind = kind;
    f->pub.timestamp_us = RM_TS_NONE;
    if (data) *data = payload ? (char *)f + HEADER_SIZE : NULL;
    return f;
}

static int mul_overflows(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 1;
    *out = a * b;
    return 0;
}

size_t rm_sample_format_size(rm_sample_format fmt)
{
    switch (fmt) {
    case RM_SAMPLE_F32: return 4;
    case RM_SAMPLE_S16: return 2;
    case RM_SAMPLE_S32: return 4;
    case RM_SAMPLE_ANY: break;
    }
    return 0;
}

static int audio_bytes(rm_sample_format fmt, uint32_t rate, uint32_t channels, size_t frames,
                       size_t *bytes)
{
    size_t ss = rm_sample_format_size(fmt), n;
    if (!ss || rate == 0 || rate > RM_AUDIO_MAX_RATE || channels == 0 || channels > RM__MAX_CHANNELS) return -1;
    if (mul_overflows(frames, channels, &n) || mul_overflows(n, ss, bytes)) return -1;
    return 0;
}

static void set_audio(frame_impl *f, rm_sample_format fmt, uint32_t rate, uint32_t channels,
                      size_t frames, void *data)
{
    f->pub.u.audio.format = fmt;
    f->pub.u.audio.rate = rate;
    f->pub.u.audio.channels = channels;
    f->pub.u.audio.frames = frames;
    f->pub.u.audio.data = data;
}

rm_frame *rm_frame_new_audio(rm_sample_format fmt, uint32_t rate, uint32_t channels, size_t frames)
{
    size_t bytes;
    void *data;
    if (audio_bytes(fmt, rate, channels, frames, &bytes) != 0) return NULL;
    frame_impl *f = frame_alloc(RM_FRAME_AUDIO, bytes, &data);
    if (!f) return NULL;
    set_audio(f, fmt, rate, channels, frames, data);
    return &f->pub;
}

rm_frame *rm_frame_wrap_audio(rm_sample_format fmt, uint32_t rate, uint32_t channels,
                              size_t frames, void *data, rm_release_fn release, void *user)
{
    size_t bytes;
    if (audio_bytes(fmt, rate, channels, frames, &bytes) != 0 || (!data && bytes)) return NULL;
    frame_impl *f = frame_alloc(RM_FRAME_AUDIO, 0, NULL);
    if (!f) return NULL;
    set_audio(f, fmt, rate, channels, frames, data);
    f->release = release;
    f->release_data = data;
    f->release_user = user;
    return &f->pub;
}

/* Minimum bytes a picture needs, or 0 for unknown formats. */
static size_t video_min_size(rm_pixel_format fmt, uint32_t w, uint32_t h, uint32_t stride)
{
    size_t W = w, H = h;
    switch (fmt) {
    case RM_PIXEL_RGB24: return (stride ? stride : W * 3) * H;
    case RM_PIXEL_RGBA32: return (stride ? stride : W * 4) * H;
    case RM_PIXEL_GRAY8: return (stride ? stride : W) * H;
    case RM_PIXEL_YUV420P: return W * H + 2 * ((W + 1) / 2) * ((H + 1) / 2);
    case RM_PIXEL_UNKNOWN: break;
    }
    return 0;
}

static uint32_t video_stride(rm_pixel_format fmt, uint32_t w, uint32_t stride)
{
    if (stride) return stride;
    switch (fmt) {
    case RM_PIXEL_RGB24: return w * 3;
    case RM_PIXEL_RGBA32: return w * 4;
    default: return w;
    }
}

static int video_check(rm_pixel_format fmt, uint32_t w, uint32_t h, uint32_t stride, size_t size)
{
    if ((unsigned)fmt > RM_PIXEL_GRAY8 || w > 65536 || h > 65536) return -1;
    return size < video_min_size(fmt, w, h, stride) ? -1 : 0;
}

static void set_video(frame_impl *f, rm_pixel_format fmt, uint32_t w, uint32_t h, uint32_t stride,
                      size_t size, void *data)
{
    f->pub.u.video.format = fmt;
    f->pub.u.video.width = w;
    f->pub.u.video.height = h;
    f->pub.u.video.stride = video_stride(fmt, w, stride);
    f->pub.u.video.size = size;
    f->pub.u.video.data = data;
}

rm_frame *rm_frame_new_video(rm_pixel_format fmt, uint32_t width, uint32_t height, uint32_t stride,
                             size_t size)
{
    void *data;
    if (video_check(fmt, width, height, stride, size) != 0) return NULL;
    frame_impl *f = frame_alloc(RM_FRAME_VIDEO, size, &data);
    if (!f) return NULL;
    set_video(f, fmt, width, height, stride, size, data);
    return &f->pub;
}

rm_frame *rm_frame_wrap_video(rm_pixel_format fmt, uint32_t width, uint32_t height,
                              uint32_t stride, size_t size, void *data, rm_release_fn release,
                              void *user)
{
    if (video_check(fmt, width, height, stride, size) != 0 || (!data && size)) return NULL;
    frame_impl *f = frame_alloc(RM_FRAME_VIDEO, 0, NULL);
    if (!f) return NULL;
    set_video(f, fmt, width, height, stride, size, data);
    f->release = release;
    f->release_data = data;
    f->release_user = user;
    return &f->pub;
}

size_t rm_dtype_size(rm_dtype dtype)
{
    switch (dtype) {
    case RM_DTYPE_F32: case RM_DTYPE_I32: return 4;
    case RM_DTYPE_F64: case RM_DTYPE_I64: return 8;
    case RM_DTYPE_I16: case RM_DTYPE_F16: return 2;
    case RM_DTYPE_I8: case RM_DTYPE_U8: case RM_DTYPE_BOOL: return 1;
    }
    return 0;
}

const char *rm_dtype_name(rm_dtype dtype)
{
    static const char *const names[] = {"float32", "int32", "float64", "int64", "int16",
                                        "int8",    "uint8", "float16", "bool"};
    return (unsigned)dtype < RM__ARRAY_LEN(names) ? names[dtype] : "?";
}

static int tensor_bytes(rm_dtype dtype, uint32_t ndim, const int64_t *shape, size_t *bytes)
{
    size_t n = rm_dtype_size(dtype);
    if (!n || ndim > RM_TENSOR_MAX_DIMS || (ndim && !shape)) return -1;
    for (uint32_t i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX) return -1;
        if (mul_overflows(n, (size_t)shape[i], &n)) return -1;
    }
    *bytes = n;
    return 0;
}

static void set_tensor(frame_impl *f, rm_dtype dtype, uint32_t ndim, const int64_t *shape,
                       size_t size, void *data)
{
    f->pub.u.tensor.dtype = dtype;
    f->pub.u.tensor.ndim = ndim;
    for (uint32_t i = 0; i < ndim; i++) f->pub.u.tensor.shape[i] = shape[i];
    f->pub.u.tensor.size = size;
    f->pub.u.tensor.data = data;
}

rm_frame *rm_frame_new_tensor(rm_dtype dtype, uint32_t ndim, const int64_t *shape)
{
    size_t bytes;
    void *data;
    if (tensor_bytes(dtype, ndim, shape, &bytes) != 0) return NULL;
    frame_impl *f = frame_alloc(RM_FRAME_TENSOR, bytes, &data);
    if (!f) return NULL;
    set_tensor(f, dtype, ndim, shape, bytes, data);
    return &f->pub;
}

rm_frame *rm_frame_wrap_tensor(rm_dtype dtype, uint32_t ndim, const int64_t *shape, void *data,
                               rm_release_fn release, void *user)
{
    size_t bytes;
    if (tensor_bytes(dtype, ndim, shape, &bytes) != 0 || (!data && bytes)) return NULL;
    frame_impl *f = frame_alloc(RM_FRAME_TENSOR, 0, NULL);
    if (!f) return NULL;
    set_tensor(f, dtype, ndim, shape, bytes, data);
    f->release = release;
    f->release_data = data;
    f->release_user = user;
    return &f->pub;
}

rm_frame *rm_frame_new_json(json_t *value)
{
    if (!value) return NULL;
    frame_impl *f = frame_alloc(RM_FRAME_JSON, 0, NULL);
    if (!f) {
        json_decref(value);
        return NULL;
    }
    f->pub.u.json.value = value;
    return &f->pub;
}

rm_frame *rm_frame_new_json_text(const char *text, size_t len, char *err_msg, size_t err_cap)
{
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        if (err_msg && err_cap)
            snprintf(err_msg, err_cap, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    return rm_frame_new_json(v);
}

rm_frame *rm_frame_new_text(const char *text, size_t len)
{
    void *data;
    if ((!text && len) || !rm__utf8_valid(text ? text : "", len)) return NULL;
    frame_impl *f = frame_alloc(RM_FRAME_TEXT, len + 1, &data);
    if (!f) return NULL;
    if (len) memcpy(data, text, len);
    ((char *)data)[len] = '\0';
    f->pub.u.text.data = data;
    f->pub.u.text.len = len;
    return &f->pub;
}

rm_frame *rm_frame_new_binary(const void *src, size_t size)
{
    void *data;
    frame_impl *f = frame_alloc(RM_FRAME_BINARY, size, &data);
    if (!f) return NULL;
    if (src && size) memcpy(data, src, size);
    f->pub.u.binary.data = data;
    f->pub.u.binary.size = size;
    return &f->pub;
}

rm_frame *rm_frame_wrap_binary(void *data, size_t size, rm_release_fn release, void *user)
{
    if (!data && size) return NULL;
    frame_impl *f = frame_alloc(RM_FRAME_BINARY, 0, NULL);
    if (!f) return NULL;
    f->pub.u.binary.data = data;
    f->pub.u.binary.size = size;
    f->release = release;
    f->release_data = data;
    f->release_user = user;
    return &f->pub;
}

rm_frame *rm_frame_ref(const rm_frame *cf)
{
    frame_impl *f = IMPL((rm_frame *)cf);
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return &f->pub;
}

static void meta_clear(frame_impl *f)
{
    for (uint32_t i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    f->meta = NULL;
    f->n_meta = f->cap_meta = 0;
}

void rm_frame_unref(rm_frame *pf)
{
    if (!pf) return;
    frame_impl *f = IMPL(pf);
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1) return;
    if (f->release) f->release(f->release_data, f->release_user);
    if (pf->kind == RM_FRAME_JSON) json_decref(pf->u.json.value);
    free(f->stream_id);
    meta_clear(f);
    free(f);
}

unsigned rm_frame_refcount(const rm_frame *f)
{
    return atomic_load_explicit(&IMPL((rm_frame *)f)->refs, memory_order_acquire);
}

int rm_frame_is_writable(const rm_frame *f) { return f && rm_frame_refcount(f) == 1; }

size_t rm_frame_payload_size(const rm_frame *f)
{
    switch (f->kind) {
    case RM_FRAME_AUDIO:
        return f->u.audio.frames * f->u.audio.channels * rm_sample_format_size(f->u.audio.format);
    case RM_FRAME_VIDEO: return f->u.video.size;
    case RM_FRAME_TENSOR: return f->u.tensor.size;
    case RM_FRAME_TEXT: return f->u.text.len;
    case RM_FRAME_BINARY: return f->u.binary.size;
    case RM_FRAME_JSON: {
        char *s = json_dumps(f->u.json.value, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t n = s ? strlen(s) : 0;
        free(s);
        return n;
    }
    }
    return 0;
}

rm_frame *rm_frame_copy(const rm_frame *src)
{
    rm_frame *dst = NULL;
    switch (src->kind) {
    case RM_FRAME_AUDIO:
        dst = rm_frame_new_audio(src->u.audio.format, src->u.audio.rate, src->u.audio.channels,
                                 src->u.audio.frames);
        if (dst) memcpy(dst->u.audio.data, src->u.audio.data, rm_frame_payload_size(src));
        break;
    case RM_FRAME_VIDEO:
        dst = rm_frame_new_video(src->u.video.format, src->u.video.width, src->u.video.height,
                                 src->u.video.stride, src->u.video.size);
        if (dst && src->u.video.size) memcpy(dst->u.video.data, src->u.video.data, src->u.video.size);
        break;
    case RM_FRAME_TENSOR:
        dst = rm_frame_new_tensor(src->u.tensor.dtype, src->u.tensor.ndim, src->u.tensor.shape);
        if (dst && src->u.tensor.size) memcpy(dst->u.tensor.data, src->u.tensor.data, src->u.tensor.size);
        break;
    case RM_FRAME_JSON:
        /* JSON values in frames are immutable, so the copy shares the tree. */
        dst = rm_frame_new_json(json_incref(src->u.json.value));
        break;
    case RM_FRAME_TEXT: dst = rm_frame_new_text(src->u.text.data, src->u.text.len); break;
    case RM_FRAME_BINARY: dst = rm_frame_new_binary(src->u.binary.data, src->u.binary.size); break;
    }
    if (dst && rm_frame_copy_props(dst, src) != 0) {
        rm_frame_unref(dst);
        dst = NULL;
    }
    return dst;
}

int rm_frame_set_stream_id(rm_frame *pf, const char *stream_id)
{
    if (!rm_frame_is_writable(pf)) return RM_ESTATE;
    frame_impl *f = IMPL(pf);
    char *copy = NULL;
    if (stream_id && !(copy = rm__strdup(stream_id))) return RM_ENOMEM;
    free(f->stream_id);
    f->stream_id = copy;
    pf->stream_id = copy;
    return 0;
}

int rm_frame_meta_set(rm_frame *pf, const char *key, const char *value)
{
    if (!key) return RM_EINVAL;
    if (!rm_frame_is_writable(pf)) return RM_ESTATE;
    frame_impl *f = IMPL(pf);
    for (uint32_t i = 0; i < f->n_meta; i++) {
        if (strcmp(f->meta[i].key, key) != 0) continue;
        if (!value) {
            free(f->meta[i].key);
            free(f->meta[i].value);
            f->meta[i] = f->meta[--f->n_meta];
            return 0;
        }
        char *v = rm__strdup(value);
        if (!v) return RM_ENOMEM;
        free(f->meta[i].value);
        f->meta[i].value = v;
        return 0;
    }
    if (!value) return 0;
    if (f->n_meta == f->cap_meta) {
        uint32_t cap = f->cap_meta ? f->cap_meta * 2 : 4;
        meta_pair *m = realloc(f->meta, cap * sizeof *m);
        if (!m) return RM_ENOMEM;
        f->meta = m;
        f->cap_meta = cap;
    }
    char *k = rm__strdup(key), *v = rm__strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return RM_ENOMEM;
    }
    f->meta[f->n_meta].key = k;
    f->meta[f->n_meta].value = v;
    f->n_meta++;
    return 0;
}

const char *rm_frame_meta_get(const rm_frame *pf, const char *key)
{
    const frame_impl *f = (const frame_impl *)pf;
    for (uint32_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

size_t rm_frame_meta_count(const rm_frame *f) { return ((const frame_impl *)f)->n_meta; }

int rm_frame_meta_at(const rm_frame *pf, size_t i, const char **key, const char **value)
{
    const frame_impl *f = (const frame_impl *)pf;
    if (i >= f->n_meta) return RM_EINVAL;
    if (key) *key = f->meta[i].key;
    if (value) *value = f->meta[i].value;
    return 0;
}

int rm_frame_copy_props(rm_frame *dst, const rm_frame *src)
{
    if (!rm_frame_is_writable(dst)) return RM_ESTATE;
    dst->timestamp_us = src->timestamp_us;
    dst->sequence = src->sequence;
    int rc = rm_frame_set_stream_id(dst, src->stream_id);
    const frame_impl *s = (const frame_impl *)src;
    for (uint32_t i = 0; rc == 0 && i < s->n_meta; i++)
        rc = rm_frame_meta_set(dst, s->meta[i].key, s->meta[i].value);
    return rc;
}

const char *rm_frame_kind_name(rm_frame_kind kind)
{
    static const char *const names[] = {"?", "audio", "video", "tensor", "json", "text", "binary"};
    return (unsigned)kind < RM__ARRAY_LEN(names) ? names[kind] : "?";
}

int rm_frame_kind_from_name(const char *name)
{
    for (int k = RM_FRAME_AUDIO; k <= RM_FRAME_BINARY; k++)
        if (strcmp(name, rm_frame_kind_name((rm_frame_kind)k)) == 0) return k;
    return -1;
}

const char *rm_sample_format_name(rm_sample_format fmt)
{
    switch (fmt) {
    case RM_SAMPLE_F32: return "f32";
    case RM_SAMPLE_S16: return "s16";
    case RM_SAMPLE_S32: return "s32";
    case RM_SAMPLE_ANY: break;
    }
    return "any";
}

int rm_sample_format_from_name(const char *name)
{
    if (!strcmp(name, "f32")) return RM_SAMPLE_F32;
    if (!strcmp(name, "s16") || !strcmp(name, "i16")) return RM_SAMPLE_S16;
    if (!strcmp(name, "s32") || !strcmp(name, "i32")) return RM_SAMPLE_S32;
    return -1;
}

int64_t rm_frame_audio_duration_us(const rm_frame *f)
{
    if (f->kind != RM_FRAME_AUDIO || !f->u.audio.rate) return 0;
    return (int64_t)((double)f->u.audio.frames * 1e6 / f->u.audio.rate);
}

char *rm_frame_json_dumps(const rm_frame *f)
{
    if (f->kind == RM_FRAME_JSON)
        return rm_json_dumps(f->u.json.value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (f->kind == RM_FRAME_TEXT) {
        json_t *s = json_stringn(f->u.text.data, f->u.text.len);
        char *out = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        json_decref(s);
        return out;
    }
    return NULL;
}
