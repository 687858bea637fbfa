/*
 * remotemedia/frame.h — frames, the unit of data that flows through a graph.
 *
 * A frame is refcounted and immutable once shared.  It is one of six kinds:
 * audio, video, tensor, json, text, binary.  Every frame carries a timestamp,
 * a sequence number, an optional stream id and a few string metadata pairs.
 *
 * Ownership rules (used throughout the API):
 *  - rm_frame_new_* / rm_frame_wrap_* return a frame with one reference that
 *    the caller owns; release it with rm_frame_unref().
 *  - Functions that take a `const rm_frame *` or say "borrowed" do not take a
 *    reference; the frame must stay valid for the duration of the call.  Call
 *    rm_frame_ref() to keep it longer.
 *  - A frame is writable (payload, fields, metadata) only while the caller
 *    holds the only reference (rm_frame_is_writable()).
 *
 * Zero copy: rm_frame_wrap_* builds a frame around memory the runtime does not
 * own (a numpy buffer, a protobuf string, a wasm heap region).  The release
 * callback runs exactly once, when the last reference goes away, on whatever
 * thread drops it.  If a wrap call fails, the callback is never called.
 *
 * Thread safety: ref/unref are atomic; a shared frame may be read from any
 * number of threads.
 */
#ifndef REMOTEMEDIA_FRAME_H
#define REMOTEMEDIA_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct json_t json_t; /* jansson value; see <jansson.h> */

typedef enum rm_frame_kind {
    RM_FRAME_AUDIO = 1,
    RM_FRAME_VIDEO = 2,
    RM_FRAME_TENSOR = 3,
    RM_FRAME_JSON = 4,
    RM_FRAME_TEXT = 5,
    RM_FRAME_BINARY = 6
} rm_frame_kind;

/* Bit for a kind in a kind mask (port declarations, caps). */
#define RM_KIND_BIT(kind) (1u << (unsigned)(kind))
#define RM_KINDS_ANY 0u /* a mask of 0 accepts every kind */

typedef enum rm_sample_format {
    RM_SAMPLE_ANY = 0, /* only in caps: "any format" */
    RM_SAMPLE_F32 = 1, /* 32-bit float, nominal range [-1, 1]      */
    RM_SAMPLE_S16 = 2, /* signed 16-bit, full scale 32768           */
    RM_SAMPLE_S32 = 3  /* signed 32-bit, full scale 2147483648      */
} rm_sample_format;

typedef enum rm_pixel_format {
    RM_PIXEL_UNKNOWN = 0,
    RM_PIXEL_RGB24 = 1,
    RM_PIXEL_RGBA32 = 2,
    RM_PIXEL_YUV420P = 3,
    RM_PIXEL_GRAY8 = 4
} rm_pixel_format;

typedef enum rm_dtype {
    RM_DTYPE_F32 = 0,
    RM_DTYPE_I32 = 1,
    RM_DTYPE_F64 = 2,
    RM_DTYPE_I64 = 3,
    RM_DTYPE_I16 = 4,
    RM_DTYPE_I8 = 5,
    RM_DTYPE_U8 = 6,
    RM_DTYPE_F16 = 7,
    RM_DTYPE_BOOL = 8
} rm_dtype;

#define RM_TENSOR_MAX_DIMS 8
#define RM_TS_NONE INT64_MIN /* "no timestamp" */
/* A timestamp pushed into a session is within ±RM_TS_MAX µs (2^53: 285
 * years, and exact in a JavaScript number): nodes add durations to it
 * without overflowing int64.  rm_session_push refuses others (RM_EINVAL). */
#define RM_TS_MAX (INT64_C(1) << 53)

/* Release callback for wrapped memory: called once with the pointer that was
 * wrapped and the user pointer given at wrap time. */
typedef void (*rm_release_fn)(void *data, void *user);

/*
 * The frame.  Fields are public for reading; change them only through the
 * setters below, and only while the frame is writable.
 */
typedef struct rm_frame {
    rm_frame_kind kind;
    int64_t timestamp_us; /* presentation time in µs, RM_TS_NONE if unknown */
    uint64_t sequence;    /* position in its stream                          */
    const char *stream_id; /* NULL = the default stream                       */
    union {
        struct {
            rm_sample_format format;
            uint32_t rate;     /* samples per second per channel */
            uint32_t channels; /* interleaved                     */
            size_t frames;     /* samples per channel             */
            void *data;        /* frames * channels samples       */
        } audio;
        struct {
            rm_pixel_format format;
            uint32_t width, height;
            uint32_t stride; /* bytes per row of the first plane */
            size_t size;     /* total bytes                      */
            void *data;
        } video;
        struct {
            rm_dtype dtype;
            uint32_t ndim;
            int64_t shape[RM_TENSOR_MAX_DIMS];
            size_t size; /* bytes */
            void *data;
        } tensor;
        struct {
            json_t *value; /* borrowed from the frame; never modify */
        } json;
        struct {
            char *data; /* UTF-8, NUL-terminated */
            size_t len; /* bytes, without the NUL */
        } text;
        struct {
            void *data;
            size_t size;
        } binary;
    } u;
} rm_frame;

/* --- construction: each returns a new frame with one reference, or NULL on
 *     allocation failure or invalid arguments --------------------------------- */

/* The highest sample rate an audio frame may have (Hz); 1..this is valid. */
#define RM_AUDIO_MAX_RATE 768000u

/* Audio with room for `frames` × `channels` samples (uninitialised). */
rm_frame *rm_frame_new_audio(rm_sample_format fmt, uint32_t rate, uint32_t channels, size_t frames);
/* Audio around caller memory; `release(data, user)` runs when the frame dies
 * (release may be NULL for memory that outlives every frame). */
rm_frame *rm_frame_wrap_audio(rm_sample_format fmt, uint32_t rate, uint32_t channels,
                              size_t frames, void *data, rm_release_fn release, void *user);

/* Video of `size` bytes (uninitialised); stride 0 means tightly packed. */
rm_frame *rm_frame_new_video(rm_pixel_format fmt, uint32_t width, uint32_t height,
                             uint32_t stride, size_t size);
rm_frame *rm_frame_wrap_video(rm_pixel_format fmt, uint32_t width, uint32_t height,
                              uint32_t stride, size_t size, void *data, rm_release_fn release,
                              void *user);

/* Tensor; the byte size is computed from dtype and shape. */
rm_frame *rm_frame_new_tensor(rm_dtype dtype, uint32_t ndim, const int64_t *shape);
rm_frame *rm_frame_wrap_tensor(rm_dtype dtype, uint32_t ndim, const int64_t *shape, void *data,
                               rm_release_fn release, void *user);

/* JSON: takes ownership of one reference to `value` (also on failure). */
rm_frame *rm_frame_new_json(json_t *value);
/* JSON parsed from text; NULL with *err_msg set (static buffer of the
 * caller, may be NULL) when the text is not valid JSON. */
rm_frame *rm_frame_new_json_text(const char *text, size_t len, char *err_msg, size_t err_cap);

/* Text: copies `len` bytes (must be valid UTF-8; NULL returned otherwise). */
rm_frame *rm_frame_new_text(const char *text, size_t len);
/* Binary: copies `size` bytes; data may be NULL to leave it uninitialised. */
rm_frame *rm_frame_new_binary(const void *data, size_t size);
rm_frame *rm_frame_wrap_binary(void *data, size_t size, rm_release_fn release, void *user);

/* --- references ------------------------------------------------------------ */

/* Adds a reference; returns `f`.  `f` must be non-NULL. */
rm_frame *rm_frame_ref(const rm_frame *f);
/* Drops a reference; frees the frame (and calls the release callback) when it
 * was the last.  NULL is ignored. */
void rm_frame_unref(rm_frame *f);
/* Current reference count (for tests and diagnostics). */
unsigned rm_frame_refcount(const rm_frame *f);
/* True when the caller holds the only reference and may modify the frame. */
int rm_frame_is_writable(const rm_frame *f);
/* A deep copy (payload, fields and metadata) with one reference; NULL on
 * allocation failure.  Wrapped memory is copied into runtime-owned memory. */
rm_frame *rm_frame_copy(const rm_frame *f);

/* --- properties ------------------------------------------------------------ */

/* Copies timestamp, sequence, stream id and metadata from `src` to `dst`
 * (dst must be writable).  Returns 0 or RM_ENOMEM / RM_ESTATE. */
int rm_frame_copy_props(rm_frame *dst, const rm_frame *src);
/* Sets the stream id (copied; NULL resets to default).  dst must be writable. */
int rm_frame_set_stream_id(rm_frame *f, const char *stream_id);
/* Sets a metadata pair (both copied; value NULL removes the key). */
int rm_frame_meta_set(rm_frame *f, const char *key, const char *value);
/* Returns the value for `key` (borrowed, valid while the frame lives) or NULL. */
const char *rm_frame_meta_get(const rm_frame *f, const char *key);
/* Number of metadata pairs, and the i-th pair (borrowed). */
size_t rm_frame_meta_count(const rm_frame *f);
int rm_frame_meta_at(const rm_frame *f, size_t i, const char **key, const char **value);

/* --- helpers --------------------------------------------------------------- */

const char *rm_frame_kind_name(rm_frame_kind kind); /* "audio", …; "?" if bad */
int rm_frame_kind_from_name(const char *name);      /* kind or -1 */
const char *rm_sample_format_name(rm_sample_format fmt); /* "f32", "s16", "s32", "any" */
int rm_sample_format_from_name(const char *name);        /* format or -1 */
size_t rm_sample_format_size(rm_sample_format fmt);      /* bytes per sample, 0 if any */
size_t rm_dtype_size(rm_dtype dtype);                    /* bytes per element, 0 if bad */
const char *rm_dtype_name(rm_dtype dtype);
/* Audio duration in µs (0 for non-audio frames). */
int64_t rm_frame_audio_duration_us(const rm_frame *f);
/* Bytes of payload (JSON: length of its compact serialisation). */
size_t rm_frame_payload_size(const rm_frame *f);
/* Serialises a json frame to compact JSON text; caller frees with free().
 * Works for text frames too (a JSON string).  NULL for other kinds. */
char *rm_frame_json_dumps(const rm_frame *f);
/* jansson's json_dumps(v, flags) with every real in the shortest form that
 * reads back as the same double ("0.15", not "0.14999999999999999"; an
 * integral real keeps ".0").  Any JSON_REAL_PRECISION in `flags` is
 * ignored.  Caller frees with free(); NULL on failure.  Thread-safe. */
char *rm_json_dumps(const json_t *v, size_t flags);
/* Formats `x` with the fewest significant digits (at most 17) that read back
 * as `x`, like snprintf ("%g" style: "0.15", "1e-07", "200").  Returns what
 * snprintf returns. */
int rm_format_double(double x, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_FRAME_H */
