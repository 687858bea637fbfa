/*
 * AudioResample (libsoxr): quality (SNR, aliasing), streaming equivalence,
 * flush, timestamps, delay reporting, latency, multichannel, integer input,
 * aliases and every bad input.
 */
#include "audio_test.h"

static rm_runtime *rt;

/* Pushes `frames` frames of a sine (per channel freq·(c+1)) in chunks and
 * ends the stream; the harness keeps the output. */
static rm_harness *run_sine(const char *params, uint32_t rate, uint32_t ch, size_t frames, size_t chunk,
                            double freq, double amp)
{
    rm_harness *h = harness_ok(rt, "AudioResample", params);
    rm_frame *all = sine_frame(rate, ch, frames, 0, freq, amp);
    CHECK_INT(push_chunks(h, all->u.audio.data, rate, ch, frames, chunk, 0), 0);
    CHECK_INT(rm_harness_end(h), 0);
    rm_frame_unref(all);
    return h;
}

/* SNR in dB of channel c against the exact sine, output frames [skip,
 * frames - skip), the output shifted by `lag` frames. */
static double snr_db(const collected *o, unsigned c, double freq, double amp, size_t skip, int lag)
{
    double sig = 0, err = 0;
    for (size_t i = skip; i + skip < o->frames; i++) {
        double ref = sine_at(freq, amp, o->rate, c, (double)i);
        double d = o->data[(size_t)((long)i + lag) * o->channels + c] - ref;
        sig += ref * ref;
        err += d * d;
    }
    return 10.0 * log10(sig / err);
}

/* RMS of channel c over [skip, frames - skip) relative to a full-scale sine
 * (RMS 1/√2), in dB. */
static double residual_db(const collected *o, unsigned c, size_t skip)
{
    double e = 0;
    size_t n = 0;
    for (size_t i = skip; i + skip < o->frames; i++, n++) e += (double)o->data[i * o->channels + c] * o->data[i * o->channels + c];
    return 10.0 * log10((e / (double)n) / 0.5);
}

/* 1 kHz through 48k→16k and 44.1k→16k at high, streamed in 20 ms chunks:
 * SNR ≥ 120 dB against the exact sine at the output times, with no shift
 * (soxr's linear-phase filter is delay-compensated; one sample of shift
 * drops the SNR below 40 dB, so the alignment is really checked).
 * 200 ms at each edge excluded (the sine starts and stops abruptly). */
static void test_snr_high(void)
{
    static const uint32_t rates[] = {48000, 44100};
    for (int r = 0; r < 2; r++) {
        rm_harness *h = run_sine("{\"target_rate\": 16000, \"quality\": \"high\"}", rates[r], 1, rates[r] * 2,
                                 rates[r] / 50, 1000, 0.5);
        collected o;
        collect_f32(h, "out", &o);
        CHECK_INT(o.rate, 16000);
        CHECK_INT(o.frames, 32000);
        double snr = snr_db(&o, 0, 1000, 0.5, 3200, 0);
        fprintf(stderr, "  %u→16000 high, 1 kHz: SNR %.1f dB\n", rates[r], snr);
        CHECK(snr >= 120.0);
        CHECK(snr_db(&o, 0, 1000, 0.5, 3200, 1) < 40.0);
        free(o.data);
        rm_harness_free(h);
    }
}

/* 10 kHz and 8.5 kHz at 48k→16k lie above the new Nyquist (8 kHz): what
 * is left must be ≤ −120 dB relative to the full-scale input sine. */
static void test_alias_rejection(void)
{
    static const double tones[] = {10000, 8500};
    for (int t = 0; t < 2; t++) {
        rm_harness *h = run_sine("{\"target_rate\": 16000}", 48000, 1, 96000, 960, tones[t], 1.0);
        collected o;
        collect_f32(h, "out", &o);
        double res = residual_db(&o, 0, 3200);
        fprintf(stderr, "  48000→16000 high, %.0f Hz full scale: residual %.1f dB\n", tones[t], res);
        CHECK(res <= -120.0);
        free(o.data);
        rm_harness_free(h);
    }
}

/* The same measurements at every quality, printed for docs/audio.md;
 * very_high must meet the high thresholds too. */
static void test_quality_table(void)
{
    static const char *const q[] = {"low", "medium", "high", "very_high"};
    for (int i = 0; i < 4; i++) {
        char params[96];
        snprintf(params, sizeof params, "{\"target_rate\": 16000, \"quality\": \"%s\"}", q[i]);
        double v[4];
        static const uint32_t rates[] = {48000, 44100, 48000, 48000};
        static const double tone[] = {1000, 1000, 10000, 8500};
        for (int k = 0; k < 4; k++) {
            rm_harness *h = run_sine(params, rates[k], 1, rates[k] * 2, rates[k] / 50, tone[k], k < 2 ? 0.5 : 1.0);
            collected o;
            collect_f32(h, "out", &o);
            v[k] = k < 2 ? snr_db(&o, 0, 1000, 0.5, 3200, 0) : residual_db(&o, 0, 3200);
            free(o.data);
            rm_harness_free(h);
        }
        fprintf(stderr, "  %-9s SNR 1 kHz 48k→16k %.1f dB, 44.1k→16k %.1f dB; residual 10 kHz %.1f dB, 8.5 kHz %.1f dB\n",
                q[i], v[0], v[1], v[2], v[3]);
        if (i >= 2) CHECK(v[0] >= 120 && v[1] >= 120 && v[2] <= -120 && v[3] <= -120);
    }
}

/* Streaming in 20 ms chunks gives exactly (bit for bit) the samples of one
 * push of the whole signal, at every quality and in low-latency mode. */
static void test_streaming_equals_one_call(void)
{
    static const char *const params[] = {
        "{\"target_rate\": 16000, \"quality\": \"low\"}",
        "{\"target_rate\": 16000, \"quality\": \"medium\"}",
        "{\"target_rate\": 16000, \"quality\": \"high\"}",
        "{\"target_rate\": 16000, \"quality\": \"very_high\"}",
        "{\"target_rate\": 16000, \"low_latency\": true}",
    };
    static const uint32_t rates[] = {48000, 44100};
    for (size_t p = 0; p < sizeof params / sizeof *params; p++)
        for (int r = 0; r < 2; r++) {
            size_t n = rates[r] + 123; /* not a whole number of chunks */
            rm_harness *a = run_sine(params[p], rates[r], 2, n, n, 440, 0.7);
            rm_harness *b = run_sine(params[p], rates[r], 2, n, rates[r] / 50, 440, 0.7);
            collected oa, ob;
            collect_f32(a, "out", &oa);
            collect_f32(b, "out", &ob);
            CHECK_INT(oa.frames, ob.frames);
            CHECK(oa.frames == ob.frames && memcmp(oa.data, ob.data, oa.frames * 2 * sizeof(float)) == 0);
            free(oa.data);
            free(ob.data);
            rm_harness_free(a);
            rm_harness_free(b);
        }
}

/* Flush drains the filter: a whole stream yields round(in × ratio) frames,
 * whatever the chunking and the length. */
static void test_flush_tail(void)
{
    static const struct {
        uint32_t from, to;
        size_t n, chunk;
    } cases[] = {
        {48000, 16000, 1001, 960}, {44100, 16000, 12345, 882}, {16000, 48000, 777, 320},
        {44100, 48000, 4410, 4410}, {22050, 16000, 3, 1}, {8000, 44100, 161, 160},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char params[64];
        snprintf(params, sizeof params, "{\"target_rate\": %u}", cases[i].to);
        rm_harness *h = run_sine(params, cases[i].from, 1, cases[i].n, cases[i].chunk, 300, 0.5);
        collected o;
        collect_f32(h, "out", &o);
        double expect = (double)cases[i].n * cases[i].to / cases[i].from;
        if (o.frames != (size_t)llround(expect))
            fprintf(stderr, "  %u→%u, %zu frames: got %zu, expected round(%.3f)\n", cases[i].from, cases[i].to,
                    cases[i].n, o.frames, expect);
        CHECK_INT(o.frames, llround(expect));
        free(o.data);
        rm_harness_free(h);
    }
}

/* Output timestamps follow the output sample count from the first input
 * timestamp; an output carries the sequence of the input that produced it. */
static void test_timestamps(void)
{
    rm_harness *h = harness_ok(rt, "AudioResample", "{\"target_rate\": 16000}");
    rm_frame *all = sine_frame(44100, 1, 44100, 0, 440, 0.5);
    CHECK_INT(push_chunks(h, all->u.audio.data, 44100, 1, 44100, 882, 5000000), 0);
    CHECK_INT(rm_harness_end(h), 0);
    size_t pos = 0, n = rm_harness_output_count(h);
    uint64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        const rm_frame *f = rm_harness_output(h, i);
        int64_t expect = 5000000 + (int64_t)llround((double)pos * 1e6 / 16000);
        CHECK_INT(f->timestamp_us, expect);
        CHECK(f->sequence >= prev && f->sequence <= 49); /* 50 inputs of 882 frames, in order */
        prev = f->sequence;
        pos += f->u.audio.frames;
    }
    CHECK(n > 0 && prev == 49); /* the tail comes with the last input (flush) */
    CHECK_INT(pos, 16000);
    rm_frame_unref(all);
    rm_harness_free(h);
}

/* The stat delay_ms is what soxr holds back: after each 20 ms push,
 * (input so far × ratio − output so far) / target rate. */
static void test_reported_delay(void)
{
    static const uint32_t rates[] = {48000, 44100};
    for (int r = 0; r < 2; r++) {
        rm_harness *h = harness_ok(rt, "AudioResample", "{\"target_rate\": 16000}");
        rm_frame *all = sine_frame(rates[r], 1, rates[r], 0, 440, 0.5);
        size_t chunk = rates[r] / 50, in = 0;
        double max_held = 0, sum_held = 0;
        int pushes = 0;
        for (size_t p = 0; p + chunk <= rates[r]; p += chunk, pushes++) {
            CHECK_INT(push_chunks(h, (const float *)all->u.audio.data + p, rates[r], 1, chunk, chunk, 0), 0);
            in += chunk;
            collected o;
            collect_f32(h, "out", &o);
            double held = ((double)in * 16000 / rates[r] - (double)o.frames) * 1000.0 / 16000;
            free(o.data);
            max_held = held > max_held ? held : max_held;
            sum_held += held;
        }
        double stat_max = harness_stat(h, "delay_ms", "max"), stat_mean = harness_stat(h, "delay_ms", "mean");
        CHECK_NEAR(stat_max, max_held, 1000.0 / 16000); /* one output sample */
        CHECK_NEAR(stat_mean, sum_held / pushes, 1000.0 / 16000);
        CHECK_INT(harness_stat(h, "delay_ms", "count"), pushes);
        rm_frame_unref(all);
        rm_harness_free(h);
    }
}

/* low_latency: at low, medium and high every 20 ms chunk yields output at
 * once and less than 20 ms is ever held back. */
static void test_low_latency(void)
{
    static const char *const q[] = {"low", "medium", "high"};
    static const uint32_t rates[] = {48000, 44100};
    for (int i = 0; i < 3; i++)
        for (int r = 0; r < 2; r++) {
            char params[96];
            snprintf(params, sizeof params, "{\"target_rate\": 16000, \"quality\": \"%s\", \"low_latency\": true}",
                     q[i]);
            rm_harness *h = harness_ok(rt, "AudioResample", params);
            rm_frame *all = sine_frame(rates[r], 1, rates[r], 0, 440, 0.5);
            size_t chunk = rates[r] / 50, silent = 0;
            for (size_t p = 0; p + chunk <= rates[r]; p += chunk) {
                rm_harness_clear(h);
                CHECK_INT(push_chunks(h, (const float *)all->u.audio.data + p, rates[r], 1, chunk, chunk, 0), 0);
                silent += rm_harness_output_count(h) == 0;
            }
            CHECK_INT(silent, 0);
            CHECK(harness_stat(h, "delay_ms", "max") < 20.0);
            rm_frame_unref(all);
            rm_harness_free(h);
        }
}

/* 2 and 6 channels: each channel carries its own tone (base·(c+1)) and
 * comes out with the same quality, interleaving intact. */
static void test_multichannel(void)
{
    static const uint32_t chans[] = {2, 6};
    for (int k = 0; k < 2; k++) {
        rm_harness *h = run_sine("{\"target_rate\": 16000}", 48000, chans[k], 96000, 960, 500, 0.5);
        collected o;
        collect_f32(h, "out", &o);
        CHECK_INT(o.channels, chans[k]);
        CHECK_INT(o.frames, 32000);
        for (unsigned c = 0; c < chans[k]; c++) CHECK(snr_db(&o, c, 500, 0.5, 3200, 0) >= 120.0);
        free(o.data);
        rm_harness_free(h);
    }
}

/* s16 and s32 input is converted to f32 first (v / full scale): the output
 * equals that of the same samples given as f32. */
static void test_integer_input(void)
{
    size_t n = 4800;
    int16_t *s16 = malloc(n * sizeof *s16);
    int32_t *s32 = malloc(n * sizeof *s32);
    float *f16 = malloc(n * sizeof *f16), *f32 = malloc(n * sizeof *f32);
    for (size_t i = 0; i < n; i++) {
        double x = 0.8 * sin(2 * M_PI * 700 * (double)i / 48000);
        s16[i] = (int16_t)lrint(x * 32767);
        s32[i] = (int32_t)(s16[i] * 65536 + 12345);
        f16[i] = (float)(s16[i] / 32768.0);
        f32[i] = (float)(s32[i] / 2147483648.0);
    }
    const void *ints[] = {s16, s32};
    const float *floats[] = {f16, f32};
    rm_sample_format fmts[] = {RM_SAMPLE_S16, RM_SAMPLE_S32};
    for (int k = 0; k < 2; k++) {
        rm_harness *a = harness_ok(rt, "AudioResample", "{\"target_rate\": 16000}");
        rm_harness *b = harness_ok(rt, "AudioResample", "{\"target_rate\": 16000}");
        rm_frame *fi = audio_frame(fmts[k], 48000, 1, n, ints[k]);
        rm_frame *ff = audio_frame(RM_SAMPLE_F32, 48000, 1, n, floats[k]);
        CHECK_INT(rm_harness_push(a, fi), 0);
        CHECK_INT(rm_harness_push(b, ff), 0);
        rm_harness_end(a);
        rm_harness_end(b);
        collected oa, ob;
        collect_f32(a, "out", &oa);
        collect_f32(b, "out", &ob);
        CHECK_INT(oa.frames, 1600);
        CHECK(oa.frames == ob.frames && memcmp(oa.data, ob.data, oa.frames * sizeof(float)) == 0);
        free(oa.data);
        free(ob.data);
        rm_frame_unref(fi);
        rm_frame_unref(ff);
        rm_harness_free(a);
        rm_harness_free(b);
    }
    free(s16);
    free(s32);
    free(f16);
    free(f32);
}

/* At the target rate already: f32 passes through (the same frame), s16 is
 * only converted. */
static void test_same_rate(void)
{
    rm_harness *h = harness_ok(rt, "AudioResample", "{\"target_rate\": 16000}");
    rm_frame *f = sine_frame(16000, 1, 320, 0, 440, 0.5);
    CHECK_INT(rm_harness_push(h, f), 0);
    CHECK_INT(rm_harness_output_count(h), 1);
    CHECK(rm_harness_output(h, 0) == f);
    int16_t s[4] = {-32768, -1, 0, 16384};
    rm_frame *g = audio_frame(RM_SAMPLE_S16, 16000, 1, 4, s);
    CHECK_INT(rm_harness_push(h, g), 0);
    CHECK_INT(rm_harness_end(h), 0);
    CHECK_INT(rm_harness_output_count(h), 2);
    const rm_frame *o = rm_harness_output(h, 1);
    CHECK(o->u.audio.format == RM_SAMPLE_F32);
    CHECK(((float *)o->u.audio.data)[0] == -1.0f && ((float *)o->u.audio.data)[3] == 0.5f);
    rm_frame_unref(f);
    rm_frame_unref(g);
    rm_harness_free(h);
}

/* Without source_rate, a rate change drains the old conversion and starts a
 * new one: nothing is lost on either side. */
static void test_rate_change(void)
{
    rm_harness *h = harness_ok(rt, "AudioResample", "{\"target_rate\": 16000}");
    rm_frame *a = sine_frame(48000, 1, 4800, 0, 440, 0.5), *b = sine_frame(44100, 1, 4410, 0, 440, 0.5);
    CHECK_INT(rm_harness_push(h, a), 0);
    CHECK_INT(rm_harness_push(h, b), 0);
    CHECK_INT(rm_harness_end(h), 0);
    collected o;
    collect_f32(h, "out", &o);
    CHECK_INT(o.frames, 1600 + 1600);
    free(o.data);
    rm_frame_unref(a);
    rm_frame_unref(b);
    rm_harness_free(h);
}

/* A frame at another rate than source_rate is an error naming both rates;
 * likewise a channel count other than `channels`; a non-audio frame is
 * RM_EFRAMEKIND; an absurd frame rate is refused. */
static void test_bad_frames(void)
{
    rm_harness *h = harness_ok(rt, "AudioResample", "{\"source_rate\": 48000, \"target_rate\": 16000}");
    rm_frame *f = sine_frame(44100, 1, 441, 0, 440, 0.5);
    CHECK_INT(rm_harness_push(h, f), RM_EFORMAT);
    CHECK_CONTAINS(rm_harness_error(h)->message, "44100 Hz");
    CHECK_CONTAINS(rm_harness_error(h)->message, "48000 Hz");
    CHECK_CONTAINS(rm_harness_error(h)->message, "source_rate");
    rm_frame_unref(f);
    rm_harness_free(h);

    h = harness_ok(rt, "RustResampleNode", "{\"source_rate\": 48000, \"target_rate\": 16000, \"channels\": 2}");
    f = sine_frame(48000, 1, 480, 0, 440, 0.5);
    CHECK_INT(rm_harness_push(h, f), RM_EFORMAT);
    CHECK_CONTAINS(rm_harness_error(h)->message, "channels is 2");
    rm_frame_unref(f);
    rm_harness_free(h);

    h = harness_ok(rt, "AudioResample", "{\"target_rate\": 16000}");
    f = rm_frame_new_text("hello", 5);
    CHECK_INT(rm_harness_push(h, f), RM_EFRAMEKIND);
    rm_frame_unref(f);
    rm_harness_free(h);

    /* past RM_AUDIO_MAX_RATE no frame exists; below the resampler's minimum
     * the node refuses it */
    CHECK(rm_frame_new_audio(RM_SAMPLE_F32, 10000000, 1, 100) == NULL);
    h = harness_ok(rt, "AudioResample", "{\"target_rate\": 16000}");
    f = sine_frame(500, 1, 100, 0, 100, 0.5);
    CHECK_INT(rm_harness_push(h, f), RM_EFORMAT);
    CHECK_CONTAINS(rm_harness_error(h)->message, "500 Hz");
    rm_frame_unref(f);
    rm_harness_free(h);
}

/* Bad params are validation errors naming the param. */
static void test_bad_params(void)
{
    static const struct {
        const char *params, *needle;
    } cases[] = {
        {"{\"target_rate\": 0}", "target_rate"},
        {"{\"target_rate\": 10000000}", "target_rate"},
        {"{\"target_rate\": 16000.5}", "target_rate"},
        {"{\"target_rate\": \"16k\"}", "target_rate"},
        {"{}", "target_rate"},
        {"{\"target_rate\": 16000, \"quality\": \"ultra\"}", "quality"},
        {"{\"target_rate\": 16000, \"source_rate\": 500}", "source_rate"},
        {"{\"target_rate\": 16000, \"source_rate\": -1}", "source_rate"},
        {"{\"target_rate\": 16000, \"channels\": 5000}", "channels"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char msg[600];
        int rc = harness_fails(rt, "AudioResample", cases[i].params, msg, sizeof msg);
        CHECK_INT(rc, RM_EPARAM);
        CHECK_CONTAINS(msg, cases[i].needle);
    }
}

/* The original's names and spellings. */
static void test_aliases(void)
{
    rm_harness *h = run_sine("{\"sourceRate\": 48000, \"targetRate\": 16000, \"quality\": \"Medium\"}", 48000, 1,
                             4800, 960, 440, 0.5);
    collected o;
    collect_f32(h, "out", &o);
    CHECK_INT(o.frames, 1600);
    free(o.data);
    rm_harness_free(h);
    rm_harness *g = harness_ok(rt, "FastResampleNode", "{\"source_rate\": 44100, \"target_rate\": 16000, \"quality\": \"High\"}");
    rm_harness_free(g);
    g = harness_ok(rt, "RustResampleNode", "{\"sourceRate\": 48000, \"targetRate\": 16000, \"channels\": 1}");
    rm_harness_free(g);
}

/* negotiate: the graph knows the output rate, channels and format, and a
 * link at the wrong rate into a resampler with source_rate gets a converter. */
static void test_negotiate(void)
{
    const char *ok = "{\"version\":\"v1\",\"nodes\":["
                     "{\"id\":\"r\",\"node_type\":\"AudioResample\",\"params\":{\"target_rate\":16000}}],"
                     "\"connections\":[]}";
    rm_caps in = {.kinds = RM_KIND_BIT(RM_FRAME_AUDIO), .format = RM_SAMPLE_S16, .rate = 48000, .channels = 2};
    rm_compile_opts opts = {.input_caps = &in};
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, ok, strlen(ok), "t", &opts, &g, NULL), 0);
    if (g) {
        const rm_caps *c = rm_graph_output_caps(g, 0, 0);
        CHECK_INT(c->rate, 16000);
        CHECK_INT(c->channels, 2);
        CHECK_INT(c->format, RM_SAMPLE_F32);
        rm_graph_unref(g);
    }
    const char *bad = "{\"version\":\"v1\",\"nodes\":["
                      "{\"id\":\"a\",\"node_type\":\"AudioResample\",\"params\":{\"target_rate\":48000}},"
                      "{\"id\":\"b\",\"node_type\":\"AudioResample\",\"params\":{\"source_rate\":44100,"
                      "\"target_rate\":16000}}],"
                      "\"connections\":[{\"from\":\"a\",\"to\":\"b\"}]}";
    /* a declared source_rate that differs from what arrives: the compiler
     * inserts a resampler between them (and says so in the graph) */
    rm_diags *d = rm_diags_new();
    g = NULL;
    CHECK_INT(rm_graph_load_string(rt, bad, strlen(bad), "t", NULL, &g, d), 0);
    if (g) {
        CHECK_INT(rm_graph_node_count(g), 3);
        CHECK_STR(rm_graph_node_id(g, 1), "b-resample");
        CHECK(rm_graph_node_inserted(g, 1));
        CHECK_INT(rm_graph_output_caps(g, 1, 0)->rate, 44100);
    }
    rm_diags_free(d);
    rm_graph_unref(g);
}

/* Through a session whose consumer copies and lets go (so the node recycles
 * its output frame), the stream is the same as through the harness. */
typedef struct sink {
    float *data;
    size_t frames, cap;
    int64_t next_ts;
    int ts_ok;
} sink;

static void copy_out(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    (void)port;
    sink *k = user;
    if (k->frames + f->u.audio.frames > k->cap) return;
    memcpy(k->data + k->frames, f->u.audio.data, f->u.audio.frames * sizeof(float));
    if (f->timestamp_us != llround((double)k->frames * 1e6 / 16000)) k->ts_ok = 0;
    k->frames += f->u.audio.frames;
}

/* A one-node session of `params` delivering to k (capacity `cap` frames);
 * NULL when the graph does not compile. */
static rm_session *sink_session(const char *params, sink *k, size_t cap, rm_graph **g)
{
    char m[300];
    snprintf(m, sizeof m,
             "{\"version\":\"v1\",\"nodes\":[{\"id\":\"r\",\"node_type\":\"AudioResample\",\"params\":%s}],"
             "\"connections\":[]}",
             params);
    *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, m, strlen(m), "t", NULL, g, NULL), 0);
    if (!*g) return NULL;
    *k = (sink){.cap = cap, .ts_ok = 1};
    k->data = malloc(cap * sizeof(float));
    rm_session_opts o = {.on_output = copy_out, .output_user = k};
    rm_session *s = NULL;
    rm_error err;
    CHECK_INT(rm_session_open(*g, &o, &s, &err), 0);
    if (!s) {
        free(k->data);
        k->data = NULL;
    }
    return s;
}

/* k holds exactly what the harness gives for a 440 Hz sine of `n` mono
 * frames at `rate` through `params`, with continuous timestamps; frees
 * k's data. */
static void check_same_as_harness(sink *k, const char *params, uint32_t rate, size_t n)
{
    rm_harness *h = run_sine(params, rate, 1, n, n, 440, 0.5);
    collected ref;
    collect_f32(h, "out", &ref);
    CHECK_INT(k->frames, ref.frames);
    CHECK(k->frames == ref.frames && memcmp(k->data, ref.data, k->frames * sizeof(float)) == 0);
    CHECK(k->ts_ok);
    free(ref.data);
    free(k->data);
    rm_harness_free(h);
}

static void test_session_recycled(void)
{
    const char *params = "{\"target_rate\": 16000, \"low_latency\": true}";
    rm_graph *g;
    sink k;
    rm_session *s = sink_session(params, &k, 20000, &g);
    if (!s) {
        rm_graph_unref(g);
        return;
    }
    rm_frame *all = sine_frame(44100, 1, 44100, 0, 440, 0.5);
    for (size_t p = 0; p < 44100; p += 882) {
        rm_frame *f = audio_frame(RM_SAMPLE_F32, 44100, 1, 882, (const float *)all->u.audio.data + p);
        CHECK_INT(rm_session_push(s, f), 0);
        rm_frame_unref(f);
    }
    CHECK_INT(rm_session_end(s), 0);
    rm_session_close(s);
    rm_graph_unref(g);
    check_same_as_harness(&k, params, 44100, 44100);
    rm_frame_unref(all);
}

/* rm_session_reset (barge-in) drops what the resampler holds: the stream
 * after it is the same as a fresh one, timestamps restarting from the next
 * frame's.  Both with the filter designed at init (source_rate and channels
 * given) and on the first frame. */
static void test_reset(void)
{
    static const char *const params[] = {"{\"target_rate\":16000}",
                                         "{\"target_rate\":16000,\"source_rate\":48000,\"channels\":1}"};
    for (int p = 0; p < 2; p++) {
        rm_graph *g;
        sink k;
        rm_session *s = sink_session(params[p], &k, 40000, &g);
        if (!s) {
            rm_graph_unref(g);
            return;
        }
        rm_frame *noise = sine_frame(48000, 1, 4800, 0, 3000, 0.9);
        CHECK_INT(rm_session_push(s, noise), 0);
        CHECK_INT(rm_session_reset(s), 0);
        k.frames = 0; /* forget what came out before the reset */
        rm_frame *all = sine_frame(48000, 1, 48000, 0, 440, 0.5);
        all->timestamp_us = 0;
        CHECK_INT(rm_session_push(s, all), 0);
        CHECK_INT(rm_session_end(s), 0);
        rm_session_close(s);
        rm_graph_unref(g);
        check_same_as_harness(&k, "{\"target_rate\": 16000}", 48000, 48000);
        rm_frame_unref(all);
        rm_frame_unref(noise);
    }
}

int main(void)
{
    rt = test_rt();
    RUN(test_snr_high);
    RUN(test_alias_rejection);
    RUN(test_quality_table);
    RUN(test_streaming_equals_one_call);
    RUN(test_flush_tail);
    RUN(test_timestamps);
    RUN(test_reported_delay);
    RUN(test_low_latency);
    RUN(test_multichannel);
    RUN(test_integer_input);
    RUN(test_same_rate);
    RUN(test_rate_change);
    RUN(test_bad_frames);
    RUN(test_bad_params);
    RUN(test_aliases);
    RUN(test_negotiate);
    RUN(test_session_recycled);
    RUN(test_reset);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
