/* Gain: dB and linear math, clamping per format, normalisation,
 * pass-through and bad params. */
#include "audio_test.h"

static rm_runtime *rt;

static rm_frame *gain_one(rm_harness *h, rm_sample_format fmt, uint32_t ch, size_t frames, const void *data)
{
    rm_frame *in = audio_frame(fmt, 16000, ch, frames, data);
    size_t before = rm_harness_output_count(h);
    CHECK_INT(rm_harness_push(h, in), 0);
    rm_frame_unref(in);
    CHECK_INT(rm_harness_output_count(h), before + 1);
    return rm_harness_output_count(h) > before ? (rm_frame *)rm_harness_output(h, before) : NULL;
}

/* +6.0206 dB doubles (20·log10 2); gain and gain_db multiply. */
static void test_db_math(void)
{
    const float f[] = {0.25f, -0.125f, 0.0f};
    rm_harness *h = harness_ok(rt, "Gain", "{\"gain_db\": 6.020599913279624}");
    const rm_frame *o = gain_one(h, RM_SAMPLE_F32, 1, 3, f);
    if (o) {
        CHECK_NEAR(((float *)o->u.audio.data)[0], 0.5, 1e-7);
        CHECK_NEAR(((float *)o->u.audio.data)[1], -0.25, 1e-7);
        CHECK(((float *)o->u.audio.data)[2] == 0.0f);
    }
    CHECK_NEAR(harness_stat(h, "gain_db", NULL), 6.0206, 1e-4);
    rm_harness_free(h);

    h = harness_ok(rt, "Gain", "{\"gain_db\": -20, \"gain\": 3}");
    o = gain_one(h, RM_SAMPLE_F32, 1, 3, f);
    if (o) CHECK_NEAR(((float *)o->u.audio.data)[0], 0.25 * 3 * 0.1, 1e-7);
    rm_harness_free(h);

    /* s16: exact product, rounded to nearest (ties to even) */
    const int16_t s[] = {1000, -1001, 3, 5, -5};
    h = harness_ok(rt, "Gain", "{\"gain\": 0.5}");
    o = gain_one(h, RM_SAMPLE_S16, 1, 5, s);
    if (o) {
        const int16_t *d = o->u.audio.data;
        CHECK_INT(d[0], 500);
        CHECK_INT(d[1], -500); /* -500.5 → even */
        CHECK_INT(d[2], 2);    /* 1.5 → 2 */
        CHECK_INT(d[3], 2);    /* 2.5 → 2 */
        CHECK_INT(d[4], -2);
    }
    rm_harness_free(h);
}

/* Integer formats clamp (and count it); f32 does not clamp. */
static void test_clamping(void)
{
    const int16_t s[] = {20000, -20000, 100};
    rm_harness *h = harness_ok(rt, "Gain", "{\"gain\": 2}");
    const rm_frame *o = gain_one(h, RM_SAMPLE_S16, 1, 3, s);
    if (o) {
        CHECK_INT(((int16_t *)o->u.audio.data)[0], 32767);
        CHECK_INT(((int16_t *)o->u.audio.data)[1], -32768);
        CHECK_INT(((int16_t *)o->u.audio.data)[2], 200);
    }
    CHECK_NEAR(harness_stat(h, "clipped_samples", NULL), 2, 0);
    const int32_t w[] = {INT32_MAX, INT32_MIN, -3};
    o = gain_one(h, RM_SAMPLE_S32, 1, 3, w);
    if (o) {
        CHECK_INT(((int32_t *)o->u.audio.data)[0], INT32_MAX);
        CHECK_INT(((int32_t *)o->u.audio.data)[1], INT32_MIN);
        CHECK_INT(((int32_t *)o->u.audio.data)[2], -6);
    }
    const float f[] = {0.75f, -0.9f};
    o = gain_one(h, RM_SAMPLE_F32, 1, 2, f);
    if (o) {
        CHECK(((float *)o->u.audio.data)[0] == 1.5f);
        CHECK(((float *)o->u.audio.data)[1] == -1.8f);
    }
    CHECK_NEAR(harness_stat(h, "clipped_samples", NULL), 2 + 2 + 2, 0);
    rm_harness_free(h);
}

/* Normalisation follows the running peak: the first frame (peak 0.25) is
 * lifted to −6.02 dBFS (0.5); a louder frame (0.8) lowers the gain, which
 * then stays; silence is lifted by at most max_gain_db. */
static void test_normalize(void)
{
    rm_harness *h = harness_ok(rt, "Gain", "{\"normalize\": true, \"normalize_dbfs\": -6.020599913279624}");
    const float a[] = {0.25f, -0.1f}, b[] = {0.8f, 0.4f}, c[] = {0.25f, 0.0f};
    const rm_frame *o = gain_one(h, RM_SAMPLE_F32, 1, 2, a);
    if (o) CHECK_NEAR(((float *)o->u.audio.data)[0], 0.5, 1e-6);
    o = gain_one(h, RM_SAMPLE_F32, 1, 2, b);
    if (o) {
        CHECK_NEAR(((float *)o->u.audio.data)[0], 0.5, 1e-6);
        CHECK_NEAR(((float *)o->u.audio.data)[1], 0.25, 1e-6);
    }
    o = gain_one(h, RM_SAMPLE_F32, 1, 2, c); /* the gain does not go back up */
    if (o) CHECK_NEAR(((float *)o->u.audio.data)[0], 0.25 * 0.5 / 0.8, 1e-6);
    rm_harness_free(h);

    /* s16 input, stereo: the peak is taken over every channel */
    h = harness_ok(rt, "Gain", "{\"normalize\": true, \"normalize_dbfs\": 0}");
    const int16_t s[] = {1000, -16384, 8192, 0};
    o = gain_one(h, RM_SAMPLE_S16, 2, 2, s);
    if (o) {
        CHECK_INT(((int16_t *)o->u.audio.data)[1], -32768);
        CHECK_INT(((int16_t *)o->u.audio.data)[2], 16384);
    }
    rm_harness_free(h);

    /* quiet input is lifted by at most max_gain_db */
    h = harness_ok(rt, "Gain", "{\"normalize\": true, \"max_gain_db\": 20}");
    const float q[] = {0.001f, 0.0f};
    o = gain_one(h, RM_SAMPLE_F32, 1, 2, q);
    if (o) CHECK_NEAR(((float *)o->u.audio.data)[0], 0.01, 1e-7);
    rm_harness_free(h);
}

/* Gain 1 passes the frame itself. */
static void test_passthrough(void)
{
    rm_harness *h = harness_ok(rt, "Gain", "{\"gain_db\": 0}");
    const float f[] = {0.5f};
    rm_frame *in = audio_frame(RM_SAMPLE_F32, 16000, 1, 1, f);
    CHECK_INT(rm_harness_push(h, in), 0);
    CHECK(rm_harness_output(h, 0) == in);
    rm_frame_unref(in);
    rm_harness_free(h);
}

static void test_bad_params(void)
{
    char msg[600];
    CHECK_INT(harness_fails(rt, "Gain", "{\"gain_db\": 200}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "gain_db");
    CHECK_INT(harness_fails(rt, "Gain", "{\"gain\": -1}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "gain");
    CHECK_INT(harness_fails(rt, "Gain", "{\"normalize_dbfs\": 3}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "normalize_dbfs");
    CHECK_INT(harness_fails(rt, "Gain", "{\"normalize\": true, \"gain_db\": 6}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "normalize");
    rm_harness *h = harness_ok(rt, "Gain", "{}");
    rm_frame *f = rm_frame_new_binary("x", 1);
    CHECK_INT(rm_harness_push(h, f), RM_EFRAMEKIND);
    rm_frame_unref(f);
    rm_harness_free(h);
}

/* rm_session_reset forgets the running peak. */
static void last_sample(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    (void)port;
    *(float *)user = ((const float *)f->u.audio.data)[0];
}

static void test_reset(void)
{
    float last = 0;
    rm_graph *g;
    rm_session *s = one_node_session(rt, "Gain", "{\"normalize\": true, \"normalize_dbfs\": 0}", last_sample, &last, &g);
    CHECK(s != NULL);
    if (!s) return;
    const float loud[] = {0.8f}, quiet[] = {0.25f};
    rm_frame *a = audio_frame(RM_SAMPLE_F32, 16000, 1, 1, loud), *b = audio_frame(RM_SAMPLE_F32, 16000, 1, 1, quiet);
    CHECK_INT(rm_session_push(s, a), 0);
    CHECK_INT(rm_session_push(s, b), 0);
    CHECK_NEAR(last, 0.25 / 0.8, 1e-6); /* the loud peak holds the gain down */
    CHECK_INT(rm_session_reset(s), 0);
    CHECK_INT(rm_session_push(s, b), 0);
    CHECK_NEAR(last, 1.0, 1e-6); /* after the reset the quiet frame sets the peak */
    rm_frame_unref(a);
    rm_frame_unref(b);
    rm_session_end(s);
    rm_session_close(s);
    rm_graph_unref(g);
}

int main(void)
{
    rt = test_rt();
    RUN(test_db_math);
    RUN(test_clamping);
    RUN(test_normalize);
    RUN(test_passthrough);
    RUN(test_bad_params);
    RUN(test_reset);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
