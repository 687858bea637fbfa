/*
 * FormatConverter: every direction at zero, full scale and beyond, rounding,
 * round trips, NaN, pass-through, aliases and bad input.
 */
#include "audio_test.h"

static rm_runtime *rt;

/* Converts `n` samples of `fmt` to `target` through the node; returns the
 * output frame (caller unrefs) or NULL. */
static rm_frame *convert(const char *target, rm_sample_format fmt, const void *data, size_t n)
{
    char params[64];
    snprintf(params, sizeof params, "{\"target_format\": \"%s\"}", target);
    rm_harness *h = harness_ok(rt, "FormatConverter", params);
    rm_frame *in = audio_frame(fmt, 16000, 1, n, data);
    in->timestamp_us = 1234;
    in->sequence = 7;
    rm_frame_meta_set(in, "source", "test");
    rm_frame *out = NULL;
    if (rm_harness_push(h, in) == 0 && rm_harness_output_count(h) == 1) {
        out = rm_frame_ref(rm_harness_output(h, 0));
        CHECK_INT(out->timestamp_us, 1234);
        CHECK_INT(out->sequence, 7);
        CHECK_STR(rm_frame_meta_get(out, "source"), "test");
        CHECK_INT(out->u.audio.rate, 16000);
        CHECK_INT(out->u.audio.frames, n);
    }
    rm_frame_unref(in);
    rm_harness_free(h);
    CHECK(out != NULL);
    return out;
}

static void test_f32_to_s16(void)
{
    /* zero, ±full scale, beyond, rounding ties (to even), NaN, ±inf */
    const float in[] = {0.0f, -0.0f, 1.0f, -1.0f, 1.5f, -7.0f, 0.5f / 32768, 1.5f / 32768, 2.5f / 32768,
                        -0.5f / 32768, -1.5f / 32768, 0.6f / 32768, 32767.0f / 32768, 32767.5f / 32768,
                        NAN, INFINITY, -INFINITY, 0.25f};
    const int16_t want[] = {0, 0, 32767, -32768, 32767, -32768, 0, 2, 2, 0, -2, 1, 32767, 32767,
                            0, 32767, -32768, 8192};
    size_t n = sizeof in / sizeof *in;
    rm_frame *o = convert("s16", RM_SAMPLE_F32, in, n);
    if (!o) return;
    CHECK(o->u.audio.format == RM_SAMPLE_S16);
    for (size_t i = 0; i < n; i++) {
        if (((int16_t *)o->u.audio.data)[i] != want[i])
            fprintf(stderr, "  f32 %g → s16 %d, want %d\n", (double)in[i], ((int16_t *)o->u.audio.data)[i], want[i]);
        CHECK_INT(((int16_t *)o->u.audio.data)[i], want[i]);
    }
    rm_frame_unref(o);
}

static void test_f32_to_s32(void)
{
    const float in[] = {0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 0.5f, -0.5f, 0x1p-31f, 0x1.8p-31f, 0x1p-32f, NAN, 0.75f};
    const int32_t want[] = {0, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, 1073741824, -1073741824, 1, 2, 0, 0,
                            1610612736};
    size_t n = sizeof in / sizeof *in;
    rm_frame *o = convert("s32", RM_SAMPLE_F32, in, n);
    if (!o) return;
    CHECK(o->u.audio.format == RM_SAMPLE_S32);
    for (size_t i = 0; i < n; i++) CHECK_INT(((int32_t *)o->u.audio.data)[i], want[i]);
    rm_frame_unref(o);
}

static void test_s16_to_f32(void)
{
    const int16_t in[] = {0, 32767, -32768, 1, -1, 16384};
    const float want[] = {0.0f, 32767.0f / 32768, -1.0f, 1.0f / 32768, -1.0f / 32768, 0.5f};
    rm_frame *o = convert("f32", RM_SAMPLE_S16, in, 6);
    if (!o) return;
    for (size_t i = 0; i < 6; i++) CHECK(((float *)o->u.audio.data)[i] == want[i]);
    rm_frame_unref(o);
}

static void test_s32_to_f32(void)
{
    /* exact below 2^24, rounded to 24 significant bits above (ties to even) */
    const int32_t in[] = {0, INT32_MAX, INT32_MIN, 1, -1, 1 << 30, (1 << 24) - 1, (1 << 24) + 1, (1 << 24) + 3};
    const float want[] = {0.0f, 1.0f, -1.0f, 0x1p-31f, -0x1p-31f, 0.5f, (float)((1 << 24) - 1) * 0x1p-31f,
                          (float)(1 << 24) * 0x1p-31f, (float)((1 << 24) + 4) * 0x1p-31f};
    size_t n = sizeof in / sizeof *in;
    rm_frame *o = convert("f32", RM_SAMPLE_S32, in, n);
    if (!o) return;
    for (size_t i = 0; i < n; i++) CHECK(((float *)o->u.audio.data)[i] == want[i]);
    rm_frame_unref(o);
}

static void test_s16_s32(void)
{
    const int16_t in[] = {0, 32767, -32768, 1, -1};
    rm_frame *o = convert("s32", RM_SAMPLE_S16, in, 5);
    if (o) {
        for (size_t i = 0; i < 5; i++) CHECK_INT(((int32_t *)o->u.audio.data)[i], in[i] * 65536);
        rm_frame_unref(o);
    }
    /* s32 → s16: v / 65536 rounded to nearest, ties to even, clamped */
    const int32_t w[] = {0, INT32_MAX, INT32_MIN, 32768, 32767, 98304, -32768, -98304, 65536 + 32769, 2147450880 - 1,
                         2147450880};
    const int16_t want[] = {0, 32767, -32768, 0, 0, 2, 0, -2, 2, 32767, 32767};
    o = convert("s16", RM_SAMPLE_S32, w, sizeof w / sizeof *w);
    if (o) {
        for (size_t i = 0; i < sizeof w / sizeof *w; i++) CHECK_INT(((int16_t *)o->u.audio.data)[i], want[i]);
        rm_frame_unref(o);
    }
}

/* Every s16 value survives s16 → f32 → s16 and s16 → s32 → s16 exactly;
 * s32 → f32 → s32 is exact below 2^24 and within 2^7 (half an f32 ulp) above. */
static void test_round_trips(void)
{
    int16_t *all = malloc(65536 * sizeof *all);
    for (int i = 0; i < 65536; i++) all[i] = (int16_t)(i - 32768);
    static const char *const mids[] = {"f32", "s32"};
    for (int m = 0; m < 2; m++) {
        rm_frame *mid = convert(mids[m], RM_SAMPLE_S16, all, 65536);
        if (!mid) continue;
        rm_frame *back = convert("s16", mid->u.audio.format, mid->u.audio.data, 65536);
        if (back) {
            CHECK(memcmp(back->u.audio.data, all, 65536 * sizeof *all) == 0);
            rm_frame_unref(back);
        }
        rm_frame_unref(mid);
    }
    free(all);

    int32_t big[6] = {(1 << 24) - 1, -(1 << 24), 123456789, -987654321, INT32_MIN, 2147483520};
    rm_frame *f = convert("f32", RM_SAMPLE_S32, big, 6);
    rm_frame *b = f ? convert("s32", RM_SAMPLE_F32, f->u.audio.data, 6) : NULL;
    if (b) {
        const int32_t *r = b->u.audio.data;
        CHECK_INT(r[0], big[0]);
        CHECK_INT(r[1], big[1]);
        CHECK_INT(r[4], big[4]);
        CHECK_INT(r[5], big[5]);
        for (int i = 2; i < 4; i++) CHECK(llabs((long long)r[i] - big[i]) <= 64);
    }
    rm_frame_unref(f);
    rm_frame_unref(b);
}

/* A long buffer (vectorised steps and a scalar tail) against the rule
 * computed here sample by sample: clamp(round(x * 32768)), NaN -> 0, and
 * the clip count; special values at positions inside the steps and in the
 * tail. */
static void test_f32_to_s16_long(void)
{
    enum { N = 4103 };
    static float in[N];
    static int16_t want[N];
    double clipped = 0;
    for (int i = 0; i < N; i++) in[i] = -1.25f + 2.5f * (float)i / (N - 1); /* a ramp past both rails */
    const int at[] = {3, 8, 13, 100, 2047, N - 5, N - 1};
    const float special[] = {NAN, INFINITY, -INFINITY, 32767.5f / 32768, -0.0f, 2.5f / 32768, -32768.5f / 32768};
    for (int k = 0; k < 7; k++) in[at[k]] = special[k];
    for (int i = 0; i < N; i++) {
        float y = in[i] * 32768.0f;
        clipped += y > 32767.0f || y < -32768.0f;
        want[i] = y != y ? 0 : y >= 32767.0f ? 32767 : y <= -32768.0f ? -32768 : (int16_t)nearbyintf(y);
    }
    rm_harness *h = harness_ok(rt, "FormatConverter", "{\"target_format\": \"s16\"}");
    rm_frame *f = audio_frame(RM_SAMPLE_F32, 16000, 1, N, in);
    CHECK_INT(rm_harness_push(h, f), 0);
    const rm_frame *o = rm_harness_output_count(h) == 1 ? rm_harness_output(h, 0) : NULL;
    CHECK(o != NULL);
    int bad = 0;
    for (int i = 0; o && i < N; i++)
        if (((const int16_t *)o->u.audio.data)[i] != want[i] && bad++ < 5)
            fprintf(stderr, "  sample %d: f32 %.9g -> s16 %d, want %d\n", i, (double)in[i],
                    ((const int16_t *)o->u.audio.data)[i], want[i]);
    CHECK_INT(bad, 0);
    CHECK_NEAR(harness_stat(h, "clipped_samples", NULL), clipped, 0);
    CHECK(clipped > 600); /* both rails of the ramp, the infinities */
    rm_frame_unref(f);
    rm_harness_free(h);
}

/* Clipped samples are counted in the stat; the same format passes through. */
static void test_clip_stat_and_passthrough(void)
{
    rm_harness *h = harness_ok(rt, "RustFormatConverterNode", "{\"target_format\": \"i16\"}");
    const float in[] = {1.0f, -1.0f, 2.0f, 0.5f, -3.0f};
    rm_frame *f = audio_frame(RM_SAMPLE_F32, 16000, 1, 5, in);
    CHECK_INT(rm_harness_push(h, f), 0);
    CHECK_NEAR(harness_stat(h, "clipped_samples", NULL), 3, 0); /* 1.0, 2.0, -3.0 */
    int16_t s[2] = {1, 2};
    rm_frame *g = audio_frame(RM_SAMPLE_S16, 16000, 1, 2, s);
    CHECK_INT(rm_harness_push(h, g), 0);
    CHECK(rm_harness_output(h, 1) == g);
    rm_frame_unref(f);
    rm_frame_unref(g);
    rm_harness_free(h);

    h = harness_ok(rt, "FormatConverter", "{\"targetFormat\": \"i32\"}");
    f = audio_frame(RM_SAMPLE_S16, 16000, 1, 2, s);
    CHECK_INT(rm_harness_push(h, f), 0);
    CHECK(rm_harness_output(h, 0)->u.audio.format == RM_SAMPLE_S32);
    rm_frame_unref(f);
    rm_harness_free(h);
}

/* Multichannel frames convert sample by sample (interleaving kept). */
static void test_interleaved(void)
{
    const int16_t in[] = {100, -200, 300, -400, 500, -600};
    rm_harness *h = harness_ok(rt, "FormatConverter", "{\"target_format\": \"f32\"}");
    rm_frame *f = audio_frame(RM_SAMPLE_S16, 8000, 3, 2, in);
    CHECK_INT(rm_harness_push(h, f), 0);
    const rm_frame *o = rm_harness_output(h, 0);
    CHECK_INT(o->u.audio.channels, 3);
    CHECK_INT(o->u.audio.frames, 2);
    for (int i = 0; i < 6; i++) CHECK(((float *)o->u.audio.data)[i] == in[i] / 32768.0f);
    rm_frame_unref(f);
    rm_harness_free(h);
}

static void test_bad_input(void)
{
    char msg[600];
    CHECK_INT(harness_fails(rt, "FormatConverter", "{\"target_format\": \"u8\"}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "target_format");
    CHECK_INT(harness_fails(rt, "FormatConverter", "{\"target_format\": 16}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "target_format");
    rm_harness *h = harness_ok(rt, "FormatConverter", "{\"target_format\": \"s16\"}");
    rm_frame *f = rm_frame_new_json_text("{}", 2, NULL, 0);
    CHECK_INT(rm_harness_push(h, f), RM_EFRAMEKIND);
    rm_frame_unref(f);
    rm_harness_free(h);
}

/* negotiate: the graph knows the output format, rate and channels stay. */
static void test_negotiate(void)
{
    const char *m = "{\"version\":\"v1\",\"nodes\":["
                    "{\"id\":\"c\",\"node_type\":\"FormatConverter\",\"params\":{\"target_format\":\"s16\"}}],"
                    "\"connections\":[]}";
    rm_caps in = {.kinds = RM_KIND_BIT(RM_FRAME_AUDIO), .format = RM_SAMPLE_F32, .rate = 22050, .channels = 2};
    rm_compile_opts opts = {.input_caps = &in};
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, m, strlen(m), "t", &opts, &g, NULL), 0);
    if (g) {
        const rm_caps *c = rm_graph_output_caps(g, 0, 0);
        CHECK_INT(c->format, RM_SAMPLE_S16);
        CHECK_INT(c->rate, 22050);
        CHECK_INT(c->channels, 2);
    }
    rm_graph_unref(g);
}

/* Output frames are recycled once nobody holds them, and never while someone
 * does: a session whose consumer keeps every other frame gets correct,
 * unchanged data in all of them. */
typedef struct keeper {
    rm_frame *kept[16];
    size_t n, seen;
    const void *first_ptr;
    size_t same_ptr;
} keeper;

static void keep_some(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    (void)port;
    keeper *k = user;
    if (k->seen == 0) k->first_ptr = f;
    else if ((const void *)f == k->first_ptr) k->same_ptr++;
    if (k->seen % 2 == 1 && k->n < 16) k->kept[k->n++] = rm_frame_ref(f);
    k->seen++;
}

static void test_recycling(void)
{
    const char *m = "{\"version\":\"v1\",\"nodes\":["
                    "{\"id\":\"c\",\"node_type\":\"FormatConverter\",\"params\":{\"target_format\":\"s16\"}},"
                    "{\"id\":\"g\",\"node_type\":\"Gain\",\"params\":{\"gain\":2}}],"
                    "\"connections\":[{\"from\":\"c\",\"to\":\"g\"}]}";
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, m, strlen(m), "t", NULL, &g, NULL), 0);
    if (!g) return;
    keeper k = {0};
    rm_session_opts o = {.on_output = keep_some, .output_user = &k};
    rm_session *s = NULL;
    rm_error err;
    CHECK_INT(rm_session_open(g, &o, &s, &err), 0);
    for (int i = 0; i < 8; i++) {
        float v[4] = {(float)i / 100, (float)-i / 100, 0.25f, (float)i / 1000};
        rm_frame *f = audio_frame(RM_SAMPLE_F32, 16000, 2, 2, v);
        f->sequence = (uint64_t)i;
        CHECK_INT(rm_session_push(s, f), 0);
        rm_frame_unref(f);
    }
    CHECK_INT(rm_session_end(s), 0);
    CHECK_INT(k.seen, 8);
    CHECK(k.same_ptr > 0); /* the frames nobody kept were reused */
    CHECK_INT(k.n, 4);
    for (size_t j = 0; j < k.n; j++) { /* kept frames 1, 3, 5, 7 still hold their own data */
        int i = (int)(2 * j + 1);
        const int16_t *d = k.kept[j]->u.audio.data;
        CHECK_INT(k.kept[j]->sequence, i);
        CHECK_INT(d[0], 2 * lrint((double)((float)i / 100) * 32768.0));
        CHECK_INT(d[1], -2 * lrint((double)((float)i / 100) * 32768.0));
        CHECK_INT(d[2], 16384);
        for (size_t a = 0; a < j; a++) CHECK(k.kept[a] != k.kept[j]);
        rm_frame_unref(k.kept[j]);
    }
    rm_session_close(s);
    rm_graph_unref(g);
}

int main(void)
{
    rt = test_rt();
    RUN(test_f32_to_s16);
    RUN(test_f32_to_s16_long);
    RUN(test_f32_to_s32);
    RUN(test_s16_to_f32);
    RUN(test_s32_to_f32);
    RUN(test_s16_s32);
    RUN(test_round_trips);
    RUN(test_clip_stat_and_passthrough);
    RUN(test_interleaved);
    RUN(test_bad_input);
    RUN(test_negotiate);
    RUN(test_recycling);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
