/* Frames: kinds, refcounts, zero-copy wrapping, metadata, copies. */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

static int released;
static void *released_ptr;
static void on_release(void *data, void *user)
{
    released++;
    released_ptr = data;
    CHECK(user == (void *)&released);
}

static void test_audio(void)
{
    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_S16, 16000, 2, 320);
    CHECK(f != NULL);
    CHECK_INT(f->kind, RM_FRAME_AUDIO);
    CHECK_INT(f->u.audio.frames, 320);
    CHECK_INT(rm_frame_payload_size(f), 320 * 2 * 2);
    CHECK_INT(rm_frame_audio_duration_us(f), 20000);
    CHECK_INT(((uintptr_t)f->u.audio.data) % 32, 0); /* SIMD-aligned payload */
    CHECK_INT(f->timestamp_us, RM_TS_NONE);
    int16_t *s = f->u.audio.data;
    s[639] = 123; /* the whole payload is addressable (ASan checks) */
    rm_frame_unref(f);
    /* invalid shapes are refused */
    CHECK(rm_frame_new_audio(RM_SAMPLE_F32, 0, 1, 10) == NULL);
    /* the rate limit, at and past its bound (both constructors) */
    rm_frame *top = rm_frame_new_audio(RM_SAMPLE_F32, RM_AUDIO_MAX_RATE, 1, 10);
    CHECK(top != NULL);
    rm_frame_unref(top);
    CHECK(rm_frame_new_audio(RM_SAMPLE_F32, RM_AUDIO_MAX_RATE + 1, 1, 10) == NULL);
    CHECK(rm_frame_new_audio(RM_SAMPLE_S16, 4000000000u, 1, 10) == NULL);
    static int16_t pcm[10];
    CHECK(rm_frame_wrap_audio(RM_SAMPLE_S16, RM_AUDIO_MAX_RATE + 1, 1, 10, pcm, NULL, NULL) == NULL);
    CHECK(rm_frame_new_audio(RM_SAMPLE_F32, 16000, 0, 10) == NULL);
    CHECK(rm_frame_new_audio(RM_SAMPLE_ANY, 16000, 1, 10) == NULL);
    CHECK(rm_frame_new_audio(RM_SAMPLE_F32, 16000, 2, SIZE_MAX / 4) == NULL); /* overflow */
    rm_frame *empty = rm_frame_new_audio(RM_SAMPLE_F32, 48000, 1, 0);
    CHECK(empty != NULL);
    rm_frame_unref(empty);
}

static void test_wrap_release_once(void)
{
    float *buf = malloc(480 * sizeof *buf);
    released = 0;
    rm_frame *f = rm_frame_wrap_audio(RM_SAMPLE_F32, 48000, 1, 480, buf, on_release, &released);
    CHECK(f && f->u.audio.data == buf); /* zero copy */
    rm_frame_ref(f);
    CHECK_INT(rm_frame_refcount(f), 2);
    CHECK(!rm_frame_is_writable(f));
    rm_frame_unref(f);
    CHECK_INT(released, 0);
    CHECK(rm_frame_is_writable(f));
    rm_frame_unref(f);
    CHECK_INT(released, 1);
    CHECK(released_ptr == buf);
    free(buf);
    /* a failed wrap never calls the callback */
    released = 0;
    CHECK(rm_frame_wrap_audio(RM_SAMPLE_F32, 0, 1, 10, (void *)&released, on_release, &released) == NULL);
    CHECK_INT(released, 0);
}

static void test_copy_is_deep(void)
{
    float data[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    released = 0;
    rm_frame *f = rm_frame_wrap_audio(RM_SAMPLE_F32, 8000, 2, 2, data, on_release, &released);
    f->timestamp_us = 777;
    f->sequence = 9;
    CHECK_INT(rm_frame_set_stream_id(f, "mic"), 0);
    CHECK_INT(rm_frame_meta_set(f, "speaker", "alice"), 0);
    rm_frame *c = rm_frame_copy(f);
    CHECK(c && c->u.audio.data != (void *)data);
    CHECK(memcmp(c->u.audio.data, data, sizeof data) == 0);
    CHECK_INT(c->timestamp_us, 777);
    CHECK_INT(c->sequence, 9);
    CHECK_STR(c->stream_id, "mic");
    CHECK_STR(rm_frame_meta_get(c, "speaker"), "alice");
    rm_frame_unref(f);
    CHECK_INT(released, 1);
    CHECK_STR(rm_frame_meta_get(c, "speaker"), "alice"); /* copy owns its strings */
    rm_frame_unref(c);
}

static void test_metadata(void)
{
    rm_frame *f = rm_frame_new_binary("abc", 3);
    CHECK_INT(rm_frame_meta_set(f, "a", "1"), 0);
    CHECK_INT(rm_frame_meta_set(f, "b", "2"), 0);
    CHECK_INT(rm_frame_meta_set(f, "a", "3"), 0);
    CHECK_INT(rm_frame_meta_count(f), 2);
    CHECK_STR(rm_frame_meta_get(f, "a"), "3");
    CHECK_INT(rm_frame_meta_set(f, "a", NULL), 0);
    CHECK(rm_frame_meta_get(f, "a") == NULL);
    CHECK_INT(rm_frame_meta_count(f), 1);
    const char *k, *v;
    CHECK_INT(rm_frame_meta_at(f, 0, &k, &v), 0);
    CHECK_STR(k, "b");
    CHECK_INT(rm_frame_meta_at(f, 5, &k, &v), RM_EINVAL);
    /* shared frames are read-only */
    rm_frame_ref(f);
    CHECK_INT(rm_frame_meta_set(f, "c", "x"), RM_ESTATE);
    CHECK_INT(rm_frame_set_stream_id(f, "s"), RM_ESTATE);
    rm_frame_unref(f);
    rm_frame_unref(f);
}

static void test_text_json_binary(void)
{
    rm_frame *t = rm_frame_new_text("héllo", strlen("héllo"));
    CHECK(t && t->u.text.len == 6 && t->u.text.data[6] == '\0');
    char *js = rm_frame_json_dumps(t);
    CHECK_STR(js, "\"héllo\"");
    free(js);
    rm_frame_unref(t);
    CHECK(rm_frame_new_text("\xff\xfe", 2) == NULL); /* invalid UTF-8 */
    CHECK(rm_frame_new_text("\xc0\x80", 2) == NULL); /* overlong NUL */
    char err[128];
    rm_frame *j = rm_frame_new_json_text("{\"a\": [1, 2]}", 13, err, sizeof err);
    CHECK(j && json_is_object(j->u.json.value));
    js = rm_frame_json_dumps(j);
    CHECK_STR(js, "{\"a\":[1,2]}");
    free(js);
    rm_frame_unref(j);
    CHECK(rm_frame_new_json_text("{\"a\": ", 6, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "line 1");
    rm_frame *b = rm_frame_new_binary(NULL, 16);
    CHECK(b && b->u.binary.size == 16);
    CHECK(rm_frame_json_dumps(b) == NULL);
    rm_frame_unref(b);
}

static void test_video_tensor(void)
{
    rm_frame *v = rm_frame_new_video(RM_PIXEL_RGB24, 4, 2, 0, 4 * 2 * 3);
    CHECK(v && v->u.video.stride == 12);
    rm_frame_unref(v);
    CHECK(rm_frame_new_video(RM_PIXEL_RGB24, 4, 2, 0, 10) == NULL); /* too small */
    rm_frame *y = rm_frame_new_video(RM_PIXEL_YUV420P, 4, 4, 0, 16 + 2 * 4);
    CHECK(y != NULL);
    rm_frame_unref(y);
    int64_t shape[2] = {3, 5};
    rm_frame *t = rm_frame_new_tensor(RM_DTYPE_F32, 2, shape);
    CHECK(t && t->u.tensor.size == 60 && t->u.tensor.shape[1] == 5);
    rm_frame_unref(t);
    int64_t bad[1] = {-1};
    CHECK(rm_frame_new_tensor(RM_DTYPE_F32, 1, bad) == NULL);
    CHECK(rm_frame_new_tensor(RM_DTYPE_F32, RM_TENSOR_MAX_DIMS + 1, shape) == NULL);
}

static void test_names(void)
{
    CHECK_STR(rm_frame_kind_name(RM_FRAME_TENSOR), "tensor");
    CHECK_INT(rm_frame_kind_from_name("binary"), RM_FRAME_BINARY);
    CHECK_INT(rm_frame_kind_from_name("nope"), -1);
    CHECK_INT(rm_sample_format_from_name("i16"), RM_SAMPLE_S16);
    CHECK_STR(rm_sample_format_name(RM_SAMPLE_S32), "s32");
    CHECK_INT(rm_sample_format_size(RM_SAMPLE_S16), 2);
    CHECK_INT(rm_dtype_size(RM_DTYPE_F64), 8);
}

int main(void)
{
    RUN(test_audio);
    RUN(test_wrap_release_once);
    RUN(test_copy_is_deep);
    RUN(test_metadata);
    RUN(test_text_json_binary);
    RUN(test_video_tensor);
    RUN(test_names);
    return CHECK_DONE();
}
