/* ChannelMixer: downmix, upmix, pick, auto, formats, negotiation and errors. */
#include "audio_test.h"

static rm_runtime *rt;

/* Pushes one frame and returns the single output (ref) or NULL. */
static rm_frame *mix_one(const char *params, rm_sample_format fmt, uint32_t ch, size_t frames, const void *data,
                         int *rc, char *msg, size_t cap)
{
    rm_harness *h = harness_ok(rt, "ChannelMixer", params);
    rm_frame *in = audio_frame(fmt, 16000, ch, frames, data);
    in->timestamp_us = 777;
    *rc = rm_harness_push(h, in);
    rm_frame *out = NULL;
    if (*rc == 0 && rm_harness_output_count(h) == 1) out = rm_frame_ref(rm_harness_output(h, 0));
    if (*rc && msg) snprintf(msg, cap, "%s", rm_harness_error(h)->message);
    rm_frame_unref(in);
    rm_harness_free(h);
    return out;
}

static void test_downmix(void)
{
    int rc;
    const float f[] = {0.5f, 0.25f, -1.0f, 1.0f, 0.1f, 0.3f};
    rm_frame *o = mix_one("{\"channels\": 1}", RM_SAMPLE_F32, 2, 3, f, &rc, NULL, 0);
    CHECK_INT(rc, 0);
    if (o) {
        CHECK_INT(o->u.audio.channels, 1);
        CHECK_INT(o->u.audio.frames, 3);
        CHECK_INT(o->timestamp_us, 777);
        const float *d = o->u.audio.data;
        CHECK_NEAR(d[0], 0.375, 1e-7);
        CHECK_NEAR(d[1], 0.0, 1e-7);
        CHECK_NEAR(d[2], 0.2, 1e-7);
        rm_frame_unref(o);
    }
    /* s16, 3 channels: average rounded to nearest, ties to even; no clipping */
    const int16_t s[] = {32767, 32767, 32767, -32768, -32768, -32767, 1, 2, 0, 1, 2, 2};
    o = mix_one("{\"mode\": \"downmix\"}", RM_SAMPLE_S16, 3, 4, s, &rc, NULL, 0);
    CHECK_INT(rc, 0);
    if (o) {
        const int16_t *d = o->u.audio.data;
        CHECK_INT(d[0], 32767);
        CHECK_INT(d[1], -32768); /* -98303 / 3 = -32767.67 */
        CHECK_INT(d[2], 1);
        CHECK_INT(d[3], 2);      /* 5 / 3 = 1.67 */
        rm_frame_unref(o);
    }
    const int32_t w[] = {INT32_MAX, INT32_MAX, INT32_MIN, INT32_MIN + 1};
    o = mix_one("{\"channels\": 1}", RM_SAMPLE_S32, 2, 2, w, &rc, NULL, 0);
    if (o) {
        CHECK_INT(((int32_t *)o->u.audio.data)[0], INT32_MAX);
        CHECK_INT(((int32_t *)o->u.audio.data)[1], INT32_MIN); /* -2147483647.5 → even */
        rm_frame_unref(o);
    }
}

static void test_upmix(void)
{
    int rc;
    const int16_t s[] = {1, -2, 3};
    rm_frame *o = mix_one("{\"channels\": 4}", RM_SAMPLE_S16, 1, 3, s, &rc, NULL, 0);
    CHECK_INT(rc, 0);
    if (o) {
        CHECK_INT(o->u.audio.channels, 4);
        for (int i = 0; i < 3; i++)
            for (int c = 0; c < 4; c++) CHECK_INT(((int16_t *)o->u.audio.data)[i * 4 + c], s[i]);
        rm_frame_unref(o);
    }
    char msg[600];
    const float f[] = {0, 0, 0, 0};
    o = mix_one("{\"mode\": \"upmix\", \"channels\": 2}", RM_SAMPLE_F32, 2, 2, f, &rc, msg, sizeof msg);
    CHECK_INT(rc, RM_EFORMAT);
    CHECK_CONTAINS(msg, "mono input, got 2 channels");
    CHECK(o == NULL);
}

static void test_pick(void)
{
    int rc;
    const float f[] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    rm_frame *o = mix_one("{\"mode\": \"pick\", \"channel\": 2}", RM_SAMPLE_F32, 3, 2, f, &rc, NULL, 0);
    CHECK_INT(rc, 0);
    if (o) {
        CHECK_INT(o->u.audio.channels, 1);
        CHECK(((float *)o->u.audio.data)[0] == 0.3f && ((float *)o->u.audio.data)[1] == 0.6f);
        rm_frame_unref(o);
    }
    o = mix_one("{\"mode\": \"pick\", \"channel\": 1, \"channels\": 2}", RM_SAMPLE_F32, 3, 2, f, &rc, NULL, 0);
    if (o) {
        const float *d = o->u.audio.data;
        CHECK(d[0] == 0.2f && d[1] == 0.2f && d[2] == 0.5f && d[3] == 0.5f);
        rm_frame_unref(o);
    }
    char msg[600];
    o = mix_one("{\"mode\": \"pick\", \"channel\": 3}", RM_SAMPLE_F32, 3, 2, f, &rc, msg, sizeof msg);
    CHECK_INT(rc, RM_EFORMAT);
    CHECK_CONTAINS(msg, "channel 3 does not exist in 3-channel input");
}

static void test_auto(void)
{
    int rc;
    const float f[] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    /* same layout: the frame itself passes through */
    rm_harness *h = harness_ok(rt, "ChannelMixer", "{\"channels\": 2}");
    rm_frame *in = audio_frame(RM_SAMPLE_F32, 16000, 2, 3, f);
    CHECK_INT(rm_harness_push(h, in), 0);
    CHECK(rm_harness_output(h, 0) == in);
    rm_frame_unref(in);
    rm_harness_free(h);
    char msg[600];
    rm_frame *o = mix_one("{\"channels\": 2}", RM_SAMPLE_F32, 3, 2, f, &rc, msg, sizeof msg);
    CHECK_INT(rc, RM_EFORMAT);
    CHECK_CONTAINS(msg, "cannot map 3 channels to 2");
    CHECK(o == NULL);
}

static void test_params_and_negotiate(void)
{
    char msg[600];
    CHECK_INT(harness_fails(rt, "ChannelMixer", "{\"channels\": 0}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "channels");
    CHECK_INT(harness_fails(rt, "ChannelMixer", "{\"mode\": \"mixdown\"}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "mode");
    CHECK_INT(harness_fails(rt, "ChannelMixer", "{\"mode\": \"downmix\", \"channels\": 2}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "channels");
    CHECK_INT(harness_fails(rt, "ChannelMixer", "{\"channel\": -1}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "channel");

    const char *m = "{\"version\":\"v1\",\"nodes\":["
                    "{\"id\":\"m\",\"node_type\":\"ChannelMixer\",\"params\":{\"channels\":1}}],\"connections\":[]}";
    rm_caps in = {.kinds = RM_KIND_BIT(RM_FRAME_AUDIO), .format = RM_SAMPLE_S16, .rate = 44100, .channels = 2};
    rm_compile_opts opts = {.input_caps = &in};
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, m, strlen(m), "t", &opts, &g, NULL), 0);
    if (g) {
        const rm_caps *c = rm_graph_output_caps(g, 0, 0);
        CHECK_INT(c->channels, 1);
        CHECK_INT(c->rate, 44100);
        CHECK_INT(c->format, RM_SAMPLE_S16);
    }
    rm_graph_unref(g);
    /* a 6-channel input into auto → 2 is refused at compile time */
    const char *bad = "{\"version\":\"v1\",\"nodes\":["
                      "{\"id\":\"m\",\"node_type\":\"ChannelMixer\",\"params\":{\"channels\":2}}],\"connections\":[]}";
    in.channels = 6;
    rm_diags *d = rm_diags_new();
    g = NULL;
    CHECK_INT(rm_graph_load_string(rt, bad, strlen(bad), "t", &opts, &g, d), RM_ECAPS);
    rm_error err;
    rm_diags_to_error(d, &err);
    CHECK_CONTAINS(err.message, "cannot map 6 channels to 2");
    rm_diags_free(d);
    rm_graph_unref(g);
}

int main(void)
{
    rt = test_rt();
    RUN(test_downmix);
    RUN(test_upmix);
    RUN(test_pick);
    RUN(test_auto);
    RUN(test_params_and_negotiate);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
