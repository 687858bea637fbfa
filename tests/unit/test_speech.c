/*
 * Speech nodes: TextToSpeech (flite) and SpeechToText (pocketsphinx) in
 * isolation and round trip, and every bad input: unknown voice, missing or
 * corrupt model files, a grammar that does not parse, audio at the wrong rate.
 * Accuracy over the sentence set is in test_speech_accuracy.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "remotemedia/remotemedia.h"
#include "speech_util.h"

static rm_runtime *rt;

static rm_frame *text_frame(const char *s)
{
    rm_frame *f = rm_frame_new_text(s, strlen(s));
    CHECK(f != NULL);
    return f;
}

static rm_frame *json_frame(const char *s)
{
    rm_frame *f = rm_frame_new_json_text(s, strlen(s), NULL, 0);
    CHECK(f != NULL);
    return f;
}

/* Runs TextToSpeech over the given frames; returns the harness (ended). */
static rm_harness *tts_run(const char *params, rm_frame **in, size_t n, int *rc)
{
    rm_harness *h = NULL;
    rm_error err;
    *rc = rm_harness_new(rt, "TextToSpeech", params, &h, &err);
    if (*rc != 0) {
        fprintf(stderr, "TextToSpeech: %s\n", err.message);
        return NULL;
    }
    for (size_t i = 0; i < n && *rc == 0; i++) *rc = rm_harness_push(h, in[i]);
    if (*rc == 0) *rc = rm_harness_end(h);
    return h;
}

/* --------------------------------------------------------------- TTS --- */

static void test_tts_chunks_and_timestamps(void)
{
    rm_frame *in = text_frame("Turn on the kitchen lights.");
    in->timestamp_us = 1000000;
    int rc;
    rm_harness *h = tts_run("{\"voice\": \"slt\", \"chunk_ms\": 20}", &in, 1, &rc);
    CHECK_INT(rc, 0);
    size_t n = h ? rm_harness_output_count(h) : 0;
    CHECK(n > 40); /* more than 0.8 s of speech */
    int64_t expect = 1000000;
    size_t total = 0;
    double energy = 0;
    for (size_t i = 0; i < n; i++) {
        const rm_frame *f = rm_harness_output(h, i);
        CHECK_INT(f->kind, RM_FRAME_AUDIO);
        CHECK_INT(f->u.audio.rate, 16000);
        CHECK_INT(f->u.audio.channels, 1);
        CHECK_INT(f->u.audio.format, RM_SAMPLE_F32);
        if (i + 1 < n) CHECK_INT(f->u.audio.frames, 320);
        else CHECK(f->u.audio.frames >= 1 && f->u.audio.frames <= 320);
        CHECK_INT(f->sequence, i);
        /* continuous: each chunk starts where the previous one ended */
        CHECK(llabs(f->timestamp_us - expect) <= 1);
        expect = f->timestamp_us + rm_frame_audio_duration_us(f);
        const float *d = f->u.audio.data;
        for (size_t k = 0; k < f->u.audio.frames; k++) energy += d[k] * d[k];
        total += f->u.audio.frames;
    }
    CHECK(total > 16000 && total < 16000 * 4);
    CHECK(sqrt(energy / (double)(total ? total : 1)) > 0.01); /* not silence */
    char *m = h ? rm_harness_metrics_json(h) : NULL;
    CHECK(!isnan(sp_metric(m, NULL, "model_load_ms")));
    CHECK_INT((long long)sp_metric(m, "\"sentence_ms\"", "count"), 1);
    free(m);
    rm_harness_free(h);
    rm_frame_unref(in);
}

static void test_tts_voices(void)
{
    static const char *const names[] = {"slt", "kal", "kal16", "rms", "awb"};
    static const unsigned rates[] = {16000, 8000, 16000, 16000, 16000};
    for (size_t v = 0; v < 5; v++) {
        char params[96];
        snprintf(params, sizeof params, "{\"voice\": \"%s\", \"sample_format\": \"s16\"}", names[v]);
        sp_audio a;
        rm_error err;
        CHECK_INT(sp_synth(rt, params, "Hello there.", &a, &err), 0);
        CHECK_INT(a.rate, rates[v]);
        CHECK(a.n > a.rate / 4);
        sp_audio_free(&a);
    }
    /* the output caps say the same at compile time */
    const rm_node_type *t = rm_runtime_find_node_type(rt, "TextToSpeech");
    CHECK(t != NULL);
    CHECK(t && (t->flags & RM_NODE_BLOCKING));
}

static void test_tts_sentences_and_rate(void)
{
    const char *text = "The first sentence is here. Is this the second one? Yes! And a fourth.";
    rm_frame *in = text_frame(text);
    int rc;
    rm_harness *h = tts_run(NULL, &in, 1, &rc);
    CHECK_INT(rc, 0);
    char *m = h ? rm_harness_metrics_json(h) : NULL;
    /* flite's utterance break rule: four sentences, synthesised one by one */
    CHECK_INT((long long)sp_metric(m, "\"sentence_ms\"", "count"), 4);
    CHECK_INT((long long)sp_metric(m, "\"first_audio_ms\"", "count"), 1);
    free(m);
    sp_audio normal = {0}, fast = {0}, slow = {0};
    if (h) sp_collect_audio(h, &normal);
    rm_harness_free(h);
    rm_frame_unref(in);
    rm_error err;
    CHECK_INT(sp_synth(rt, "{\"rate\": 2.0}", text, &fast, &err), 0);
    CHECK_INT(sp_synth(rt, "{\"speed\": 0.5}", text, &slow, &err), 0);
    double r_fast = (double)fast.n / (double)normal.n, r_slow = (double)slow.n / (double)normal.n;
    CHECK(r_fast > 0.35 && r_fast < 0.7);
    CHECK(r_slow > 1.5 && r_slow < 2.5);
    sp_audio_free(&normal);
    sp_audio_free(&fast);
    sp_audio_free(&slow);
}

static void test_tts_inputs(void)
{
    /* empty, whitespace and marker-only text: no audio, no error */
    rm_frame *quiet[] = {text_frame(""), text_frame("  \n\t "), text_frame("<|text_end|>"),
                         json_frame("{\"text\": \"   \"}"),
                         json_frame("{\"text\": \"not yet final\", \"final\": false}")};
    int rc;
    rm_harness *h = tts_run(NULL, quiet, 5, &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(h ? rm_harness_output_count(h) : 99, 0);
    rm_harness_free(h);
    for (size_t i = 0; i < 5; i++) rm_frame_unref(quiet[i]);

    /* json {text} and json strings are spoken; markers are removed */
    rm_frame *spoken[] = {json_frame("{\"text\": \"Good morning.\", \"final\": true}"), json_frame("\"Hello.\""),
                          text_frame("Bye now.<|text_end|>")};
    h = tts_run(NULL, spoken, 3, &rc);
    CHECK_INT(rc, 0);
    CHECK(h && rm_harness_output_count(h) > 30);
    /* timestamps stay monotonic and contiguous across texts without timestamps */
    int64_t expect = 0;
    for (size_t i = 0; h && i < rm_harness_output_count(h); i++) {
        const rm_frame *f = rm_harness_output(h, i);
        CHECK(llabs(f->timestamp_us - expect) <= 1);
        expect = f->timestamp_us + rm_frame_audio_duration_us(f);
    }
    rm_harness_free(h);
    for (size_t i = 0; i < 3; i++) rm_frame_unref(spoken[i]);

    /* a later timestamp moves the audio; an earlier one does not overlap */
    rm_frame *a = text_frame("One."), *b = text_frame("Two.");
    a->timestamp_us = 0;
    b->timestamp_us = 10 * 1000000;
    rm_frame *ab[] = {a, b};
    h = tts_run(NULL, ab, 2, &rc);
    CHECK_INT(rc, 0);
    int jumped = 0;
    for (size_t i = 0; h && i < rm_harness_output_count(h); i++)
        if (rm_harness_output(h, i)->timestamp_us == 10 * 1000000) jumped = 1;
    CHECK(jumped);
    rm_harness_free(h);
    rm_frame_unref(a);
    rm_frame_unref(b);

    /* json without text is an error naming the field */
    rm_frame *bad = json_frame("{\"words\": 3}");
    h = tts_run(NULL, &bad, 1, &rc);
    CHECK_INT(rc, RM_EFRAMEKIND);
    if (h) CHECK_CONTAINS(rm_harness_error(h)->message, "'text'");
    rm_harness_free(h);
    rm_frame_unref(bad);
}

/* Index of the first sample above -60 dBFS (s16 33), or a->n. */
static size_t first_sound(const sp_audio *a)
{
    size_t i = 0;
    while (i < a->n && fabsf(a->samples[i]) * 32768.0f <= 33.0f) i++;
    return i;
}

/* b is a's audio from sample `from` on, sample for sample. */
static int is_tail(const sp_audio *a, const sp_audio *b, size_t from)
{
    return from <= a->n && b->n == a->n - from && !memcmp(b->samples, a->samples + from, b->n * sizeof(float));
}

/* lead_silence_ms: each text's leading quiet is cut to at most that much
 * before its first sound, the rest is the same audio, and at most 500 ms of
 * quiet is dropped (the limit, hit at rate 0.25). */
static void test_tts_lead_silence(void)
{
    const char *text = "Turn on the kitchen lights.";
    sp_audio full = {0}, kept10 = {0}, kept0 = {0}, slow = {0}, slow10 = {0};
    rm_error err;
    CHECK_INT(sp_synth(rt, "{\"voice\": \"rms\", \"sample_format\": \"s16\"}", text, &full, &err), 0);
    CHECK_INT(sp_synth(rt, "{\"voice\": \"rms\", \"sample_format\": \"s16\", \"lead_silence_ms\": 10}", text, &kept10, &err), 0);
    CHECK_INT(sp_synth(rt, "{\"voice\": \"rms\", \"sample_format\": \"s16\", \"lead_silence_ms\": 0}", text, &kept0, &err), 0);
    size_t q = first_sound(&full);
    CHECK(q > 1600 && q < full.n); /* flite starts with a pause (> 100 ms) */
    CHECK(is_tail(&full, &kept10, q - 160)); /* 10 ms at 16 kHz kept */
    CHECK_INT(first_sound(&kept10), 160);
    CHECK(is_tail(&full, &kept0, q));
    /* two texts in one call: each one's lead is cut */
    rm_frame *two[2] = {text_frame(text), text_frame(text)};
    int rc;
    rm_harness *h = tts_run("{\"voice\": \"rms\", \"sample_format\": \"s16\", \"lead_silence_ms\": 10}", two, 2, &rc);
    CHECK_INT(rc, 0);
    sp_audio both = {0};
    if (h) sp_collect_audio(h, &both);
    CHECK_INT(both.n, 2 * kept10.n);
    CHECK(both.n == 2 * kept10.n && !memcmp(both.samples + kept10.n, kept10.samples, kept10.n * sizeof(float)));
    rm_harness_free(h);
    rm_frame_unref(two[0]);
    rm_frame_unref(two[1]);
    /* the limit: at rate 0.25 the pause is longer than 500 ms; 500 ms (and
     * at most one 20 ms piece from flite more) of it goes, the rest stays */
    CHECK_INT(sp_synth(rt, "{\"voice\": \"rms\", \"sample_format\": \"s16\", \"rate\": 0.25}", text, &slow, &err), 0);
    CHECK_INT(sp_synth(rt, "{\"voice\": \"rms\", \"sample_format\": \"s16\", \"rate\": 0.25, \"lead_silence_ms\": 10}", text, &slow10, &err), 0);
    CHECK(first_sound(&slow) > 8000 + 160);
    size_t cut = slow.n - slow10.n;
    CHECK(slow10.n < slow.n && cut <= 8000 + 320 && cut > 8000 - 320);
    CHECK(is_tail(&slow, &slow10, cut));
    CHECK(first_sound(&slow10) > 160);
    sp_audio *all[] = {&full, &kept10, &kept0, &slow, &slow10, &both};
    for (size_t i = 0; i < 6; i++) sp_audio_free(all[i]);
}

static void test_tts_bad_params(void)
{
    rm_harness *h = NULL;
    rm_error err;
    CHECK_INT(rm_harness_new(rt, "TextToSpeech", "{\"voice\": \"bob\"}", &h, &err), RM_EPARAM);
    CHECK(h == NULL);
    CHECK_CONTAINS(err.message, "voice");
    CHECK_CONTAINS(err.message, "bob");
    CHECK_CONTAINS(err.message, "slt"); /* says what is valid */
    CHECK_INT(rm_harness_new(rt, "TextToSpeech", "{\"rate\": 0}", &h, &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "rate");
    CHECK_INT(rm_harness_new(rt, "TextToSpeech", "{\"chunk_ms\": 0}", &h, &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "chunk_ms");
    CHECK_INT(rm_harness_new(rt, "TextToSpeech", "{\"lead_silence_ms\": 501}", &h, &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "lead_silence_ms");
    CHECK_INT(rm_harness_new(rt, "TextToSpeech", "{\"lead_silence_ms\": -2}", &h, &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "lead_silence_ms");
}

/* --------------------------------------------------------------- STT --- */

static sp_audio kitchen; /* "turn on the kitchen lights", slt, 16 kHz */

static void test_stt_round_trip(void)
{
    rm_harness *h;
    rm_error err;
    CHECK_INT(rm_harness_new(rt, "SpeechToText", NULL, &h, &err), 0);
    CHECK_INT(sp_push_audio(h, &kitchen, 20, 500), 0);
    CHECK_INT(rm_harness_end(h), 0);
    size_t n_text = 0, n_json = 0;
    for (size_t i = 0; i < rm_harness_output_count(h); i++) {
        const rm_frame *f = rm_harness_output(h, i);
        if (!strcmp(rm_harness_output_port(h, i), "out")) {
            n_text++;
            CHECK_INT(f->kind, RM_FRAME_TEXT);
            CHECK_STR(f->u.text.data, "turn on the kitchen lights");
            double start = atof(rm_frame_meta_get(f, "start_ms")), end = atof(rm_frame_meta_get(f, "end_ms"));
            double conf = atof(rm_frame_meta_get(f, "confidence"));
            /* 500 ms of padding, then flite's own lead-in; the speech is ~1.5 s */
            CHECK(start >= 450 && start <= 1000);
            CHECK(end > start + 1000 && end <= 500 + kitchen.n / 16.0 + 100);
            CHECK(conf > 0.5 && conf <= 1.0);
            CHECK_INT(f->timestamp_us, (int64_t)(start * 1000));
        } else {
            n_json++;
            CHECK_STR(rm_harness_output_port(h, i), "results");
            CHECK_INT(f->kind, RM_FRAME_JSON);
            char *s = rm_frame_json_dumps(f);
            CHECK_CONTAINS(s, "\"final\":true");
            CHECK_CONTAINS(s, "\"text\":\"turn on the kitchen lights\"");
            CHECK_CONTAINS(s, "\"word\":\"kitchen\"");
            free(s);
        }
    }
    CHECK_INT(n_text, 1);
    CHECK_INT(n_json, 1);
    char *m = rm_harness_metrics_json(h);
    CHECK(sp_metric(m, NULL, "model_load_ms") >= 0);
    CHECK_INT((long long)sp_metric(m, "\"utterance_ms\"", "count"), 1);
    CHECK_INT((long long)sp_metric(m, "\"rtf\"", "count"), 1);
    free(m);
    rm_harness_free(h);
}

/* Later instances reuse the pooled decoder and, with its state reset, give
 * exactly the same results as the first: same words, times, confidences. */
static void test_stt_pool_reuse(void)
{
    char *first = NULL;
    for (int k = 0; k < 3; k++) {
        rm_harness *h;
        rm_error err;
        CHECK_INT(rm_harness_new(rt, "SpeechToText", NULL, &h, &err), 0);
        CHECK_INT(sp_push_audio(h, &kitchen, 20, 400), 0);
        /* a second utterance adapts the decoder's state further */
        CHECK_INT(sp_push_audio(h, &kitchen, 20, 600), 0);
        CHECK_INT(rm_harness_end(h), 0);
        char *all = calloc(1, 1);
        size_t len = 0;
        for (size_t i = 0; i < rm_harness_output_count(h); i++) {
            char *j = rm_frame_json_dumps(rm_harness_output(h, i));
            all = realloc(all, len + strlen(j) + 2);
            len += (size_t)sprintf(all + len, "%s\n", j);
            free(j);
        }
        char *m = rm_harness_metrics_json(h);
        CHECK_INT((long long)sp_metric(m, NULL, "model_reused"), 1); /* test_stt_round_trip loaded it */
        CHECK(sp_metric(m, NULL, "model_load_ms") < 50);
        free(m);
        CHECK_CONTAINS(all, "\"utterance\":2");
        if (k == 0) first = all;
        else {
            CHECK_STR(all, first);
            free(all);
        }
        rm_harness_free(h);
    }
    free(first);
}

static void test_stt_formats(void)
{
    /* the same audio as s16 and as s32 gives the same words */
    for (int fmt = 0; fmt < 2; fmt++) {
        rm_harness *h;
        rm_error err;
        CHECK_INT(rm_harness_new(rt, "SpeechToText", NULL, &h, &err), 0);
        size_t n = kitchen.n + 16000;
        rm_frame *f = rm_frame_new_audio(fmt ? RM_SAMPLE_S32 : RM_SAMPLE_S16, 16000, 1, n);
        for (size_t i = 0; i < n; i++) {
            float x = i >= 8000 && i - 8000 < kitchen.n ? kitchen.samples[i - 8000] : 0.0f;
            if (fmt) ((int32_t *)f->u.audio.data)[i] = (int32_t)lrintf(x * 2147483647.0f);
            else ((int16_t *)f->u.audio.data)[i] = (int16_t)lrintf(x * 32767.0f);
        }
        CHECK_INT(rm_harness_push(h, f), 0); /* one big frame */
        CHECK_INT(rm_harness_end(h), 0);
        char *t = sp_transcript(h);
        CHECK_STR(t, "turn on the kitchen lights");
        free(t);
        rm_frame_unref(f);
        rm_harness_free(h);
    }
}

/* xorshift64* and Box-Muller: reproducible Gaussian noise. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform01(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return ((double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) + 1.0) / 9007199254740993.0;
}
static double gaussian(void) { return sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01()); }

static void test_stt_silence_and_noise(void)
{
    /* 5 s of digital silence, then white noise whose level jumps from -30 to
     * -15 to -6 dBFS every 5 s (the jumps trip the decoder's VAD), then 5 s
     * of brown noise (integrated white noise, most energy at the bottom):
     * no transcript, no interim result, no error. */
    rm_harness *h;
    rm_error err;
    CHECK_INT(rm_harness_new(rt, "SpeechToText", "{\"partial_results\": true}", &h, &err), 0);
    static const double rms[] = {0, 0.0316, 0.178, 0.5, -1};
    double brown = 0;
    for (int part = 0; part < 5; part++) {
        for (int c = 0; c < 250; c++) {
            rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, 16000, 1, 320);
            float *d = f->u.audio.data;
            for (int i = 0; i < 320; i++) {
                double x = rms[part] * gaussian();
                if (rms[part] < 0) {
                    brown = 0.998 * brown + 0.02 * gaussian();
                    x = 0.5 * brown;
                }
                d[i] = (float)(x > 1 ? 1 : x < -1 ? -1 : x);
            }
            CHECK_INT(rm_harness_push(h, f), 0);
            rm_frame_unref(f);
        }
    }
    CHECK_INT(rm_harness_end(h), 0);
    for (size_t i = 0; i < rm_harness_output_count(h); i++) {
        char *s = rm_frame_json_dumps(rm_harness_output(h, i));
        fprintf(stderr, "unexpected output on silence/noise: %s\n", s);
        free(s);
    }
    CHECK_INT(rm_harness_output_count(h), 0);
    char *m = rm_harness_metrics_json(h);
    /* the decoder did hear something in the noise, and the voicing check
     * dropped it */
    CHECK(sp_metric(m, NULL, "rejected") >= 1);
    free(m);
    rm_harness_free(h);

}

static void push_event(rm_harness *h, const char *json)
{
    rm_frame *e = json_frame(json);
    CHECK_INT(rm_harness_push_to(h, "events", e), 0);
    rm_frame_unref(e);
}

static void push_silence(rm_harness *h, size_t ms)
{
    for (size_t t = 0; t < ms; t += 20) {
        rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, 16000, 1, 320);
        memset(f->u.audio.data, 0, 320 * sizeof(float));
        CHECK_INT(rm_harness_push(h, f), 0);
        rm_frame_unref(f);
    }
}

static void push_speech(rm_harness *h, const sp_audio *a)
{
    sp_audio copy = *a;
    CHECK_INT(sp_push_audio(h, &copy, 20, 0), 0);
}

static void test_stt_vad_events(void)
{
    rm_harness *h;
    rm_error err;
    CHECK_INT(rm_harness_new(rt, "SpeechToText", "{\"utterance_mode\": \"vad_events\", \"partial_results\": true}",
                             &h, &err),
              0);
    /* speech without events is not transcribed */
    push_silence(h, 1000);
    push_speech(h, &kitchen);
    push_silence(h, 1000);
    /* the VAD says speech starts (a little late: the pre-roll covers it) */
    push_event(h, "{\"is_speech_start\": true, \"is_speech_end\": false, \"timestamp_ms\": 3000}");
    push_speech(h, &kitchen);
    push_event(h, "{\"is_speech_start\": false, \"is_speech_end\": true}");
    /* events of other shapes are ignored */
    push_event(h, "{\"speech_probability\": 0.1}");
    push_event(h, "[1, 2]");
    push_silence(h, 500);
    CHECK_INT(rm_harness_end(h), 0);
    size_t finals = 0, partials = 0;
    for (size_t i = 0; i < rm_harness_output_count(h); i++) {
        const rm_frame *f = rm_harness_output(h, i);
        if (f->kind == RM_FRAME_TEXT) {
            finals++;
            CHECK_STR(f->u.text.data, "turn on the kitchen lights");
            /* the utterance starts after the first copy and the silences */
            double start = atof(rm_frame_meta_get(f, "start_ms"));
            double first_end = 1000 + kitchen.n / 16.0 + 1000;
            CHECK(start >= first_end - 300 && start <= first_end + 800);
        } else {
            char *s = rm_frame_json_dumps(f);
            if (strstr(s, "\"final\":false")) {
                partials++;
                CHECK(finals == 0); /* interim hypotheses come before the final */
            }
            free(s);
        }
    }
    CHECK_INT(finals, 1);
    CHECK(partials >= 2);
    rm_harness_free(h);
}

/* Utterances keep coming over a long stream (the memory side is measured by
 * bench_speech over minutes to an hour). */
static void test_stt_many_utterances(void)
{
    rm_harness *h;
    rm_error err;
    CHECK_INT(rm_harness_new(rt, "SpeechToText", "{\"max_utterance_ms\": 20000}", &h, &err), 0);
    for (int k = 0; k < 6; k++) {
        push_silence(h, 1500);
        push_speech(h, &kitchen);
    }
    push_silence(h, 1000);
    CHECK_INT(rm_harness_end(h), 0);
    size_t texts = 0;
    double last_start = -1;
    for (size_t i = 0; i < rm_harness_output_count(h); i++) {
        const rm_frame *f = rm_harness_output(h, i);
        if (f->kind != RM_FRAME_TEXT) continue;
        texts++;
        CHECK_STR(f->u.text.data, "turn on the kitchen lights");
        double start = atof(rm_frame_meta_get(f, "start_ms"));
        CHECK(start > last_start);
        last_start = start;
        char expect[8];
        snprintf(expect, sizeof expect, "%zu", texts);
        CHECK_STR(rm_frame_meta_get(f, "utterance"), expect);
    }
    CHECK_INT(texts, 6);
    rm_harness_free(h);
}

/* Barge-in: rm_session_reset() drops the utterance in progress; without it
 * the end of stream reports the unfinished utterance. */
static void test_stt_reset(void)
{
    const char *manifest = "{\"version\":\"v1\",\"nodes\":[{\"id\":\"stt\",\"node_type\":\"SpeechToText\"}],"
                           "\"connections\":[]}";
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, manifest, strlen(manifest), "t", NULL, &g, d), 0);
    rm_diags_free(d);
    if (!g) return;
    sp_audio half = kitchen;
    half.n = kitchen.n * 2 / 3; /* "turn on the kitchen" without the silence after it */
    for (int do_reset = 0; do_reset < 2; do_reset++) {
        rm_session *s;
        rm_error err;
        CHECK_INT(rm_session_open(g, NULL, &s, &err), 0);
        size_t calls = 0;
        for (size_t at = 0; at < half.n; at += 320, calls++) {
            size_t k = half.n - at < 320 ? half.n - at : 320;
            rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, 16000, 1, k);
            memcpy(f->u.audio.data, half.samples + at, k * sizeof(float));
            CHECK_INT(rm_session_push(s, f), 0);
            rm_frame_unref(f);
        }
        /* let the worker decode everything queued, so the reset meets an
         * utterance in progress rather than a queue to drop */
        for (;;) {
            char *m = rm_session_metrics_json(s);
            double c = sp_metric(m, "\"node_metrics\"", "calls");
            free(m);
            if (c >= (double)calls) break;
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        if (do_reset) CHECK_INT(rm_session_reset(s), 0);
        CHECK_INT(rm_session_end(s), 0);
        const rm_outputs *o = rm_session_outputs(s);
        const rm_frame *texts[4];
        size_t n = rm_outputs_of(o, "stt", texts, 4);
        size_t n_text = 0;
        for (size_t i = 0; i < n && i < 4; i++) n_text += texts[i]->kind == RM_FRAME_TEXT;
        if (do_reset) CHECK_INT(n_text, 0);
        else CHECK_INT(n_text, 1);
        rm_session_close(s);
    }
    rm_graph_unref(g);
}

/* ------------------------------------------------------ STT bad input --- */

static void test_stt_wrong_rate(void)
{
    rm_harness *h;
    rm_error err;
    CHECK_INT(rm_harness_new(rt, "SpeechToText", NULL, &h, &err), 0);
    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, 44100, 1, 882);
    memset(f->u.audio.data, 0, 882 * sizeof(float));
    CHECK_INT(rm_harness_push(h, f), 0); /* queued: the node is blocking */
    CHECK_INT(rm_harness_end(h), RM_EFORMAT);
    const rm_error *e = rm_harness_error(h);
    CHECK_CONTAINS(e->message, "44100 Hz");
    CHECK_CONTAINS(e->message, "16000");
    CHECK_CONTAINS(e->message, "AudioResample");
    CHECK_STR(e->node_id, "node");
    rm_frame_unref(f);
    rm_harness_free(h);

    CHECK_INT(rm_harness_new(rt, "SpeechToText", NULL, &h, &err), 0);
    f = rm_frame_new_audio(RM_SAMPLE_F32, 16000, 2, 320);
    memset(f->u.audio.data, 0, 640 * sizeof(float));
    rm_harness_push(h, f);
    CHECK_INT(rm_harness_end(h), RM_EFORMAT);
    CHECK_CONTAINS(rm_harness_error(h)->message, "ChannelMixer");
    rm_frame_unref(f);
    rm_harness_free(h);

    CHECK_INT(rm_harness_new(rt, "SpeechToText", NULL, &h, &err), 0);
    f = text_frame("hello");
    rm_harness_push(h, f);
    CHECK(rm_harness_end(h) != 0);
    rm_frame_unref(f);
    rm_harness_free(h);

    /* at compile time, when the upstream rate is known */
    const char *manifest = "{\"version\":\"v1\",\"nodes\":["
                           "{\"id\":\"tts\",\"node_type\":\"TextToSpeech\",\"params\":{\"voice\":\"kal\"}},"
                           "{\"id\":\"stt\",\"node_type\":\"SpeechToText\"}],"
                           "\"connections\":[{\"from\":\"tts\",\"to\":\"stt\"}]}";
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    rm_graph_load_string(rt, manifest, strlen(manifest), "t", NULL, &g, d);
    if (g) {
        /* a graph compiler that inserts converters accepts it: then the
         * converter must sit in front of stt */
        CHECK(rm_graph_node_count(g) > 2);
        rm_graph_unref(g);
    } else {
        rm_diags_to_error(d, &err);
        CHECK_CONTAINS(err.message, "8000 Hz vs 16000 Hz");
        CHECK_CONTAINS(err.message, "AudioResample");
    }
    rm_diags_free(d);
}

static int open_error(const char *params, rm_error *err)
{
    rm_harness *h = NULL;
    int rc = rm_harness_new(rt, "SpeechToText", params, &h, err);
    rm_harness_free(h);
    return rc;
}

static int copy_file(const char *from, const char *to, long truncate_at)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    if (!in || !out) {
        if (in) fclose(in);
        if (out) fclose(out);
        return -1;
    }
    char buf[65536];
    size_t n;
    long total = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (truncate_at >= 0 && total + (long)n > truncate_at) n = (size_t)(truncate_at - total);
        fwrite(buf, 1, n, out);
        total += (long)n;
        if (truncate_at >= 0 && total >= truncate_at) break;
    }
    fclose(in);
    return fclose(out);
}

static void test_stt_bad_models(void)
{
    rm_error err;
    CHECK_INT(open_error("{\"model_dir\": \"/nonexistent/models\"}", &err), RM_EMODEL);
    CHECK_CONTAINS(err.message, "/nonexistent/models");
    CHECK_CONTAINS(err.message, "SpeechToText");
    CHECK_STR(err.node_id, "node");

    CHECK_INT(open_error("{\"dict\": \"missing.dict\"}", &err), RM_EMODEL);
    CHECK_CONTAINS(err.message, "missing.dict");
    CHECK_INT(open_error("{\"lm\": \"/tmp/no-such.lm.bin\"}", &err), RM_EMODEL);
    CHECK_CONTAINS(err.message, "/tmp/no-such.lm.bin");
    CHECK_INT(open_error("{\"acoustic_model\": \"/tmp\"}", &err), RM_EMODEL);
    CHECK_CONTAINS(err.message, "/tmp/mdef");

    /* A copy of the acoustic model with corrupt files: pocketsphinx's loaders
     * would exit the process; the node reports the file instead. */
    char dir[] = "/tmp/rm-speech-model-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    static const char *const files[] = {"mdef", "means", "variances", "transition_matrices", "sendump",
                                        "noisedict", "feat.params"};
    char from[512], to[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(from, sizeof from, "%s/en-us/%s", "/usr/share/pocketsphinx/model/en-us", files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        CHECK_INT(copy_file(from, to, -1), 0);
    }
    char params[700];
    static const char *const corrupt[] = {"transition_matrices", "means", "mdef"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(from, sizeof from, "%s/en-us/%s", "/usr/share/pocketsphinx/model/en-us", corrupt[i]);
        snprintf(to, sizeof to, "%s/%s", dir, corrupt[i]);
        CHECK_INT(copy_file(from, to, 300), 0); /* header and a little data */
        snprintf(params, sizeof params, "{\"acoustic_model\": \"%s\"}", dir);
        CHECK_INT(open_error(params, &err), RM_EMODEL);
        CHECK_CONTAINS(err.message, corrupt[i]);
        CHECK_INT(copy_file(from, to, -1), 0); /* restore for the next case */
    }
    /* a dictionary in the wrong format */
    snprintf(to, sizeof to, "%s/garbage.dict", dir);
    FILE *fp = fopen(to, "w");
    fputs("\x01\x02\x03 not a dictionary\n", fp);
    fclose(fp);
    snprintf(params, sizeof params, "{\"dict\": \"%s\", \"grammar\": \"%s/tests/data/commands.gram\"}", to,
             RM_SOURCE_DIR);
    CHECK_INT(open_error(params, &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "commands.gram");
    unlink(to);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        unlink(to);
    }
    rmdir(dir);
}

static void test_stt_bad_grammar_and_keyphrase(void)
{
    rm_error err;
    char params[512];
    snprintf(params, sizeof params, "{\"grammar\": \"%s/tests/data/bad.gram\"}", RM_SOURCE_DIR);
    CHECK_INT(open_error(params, &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "bad.gram");
    CHECK_CONTAINS(err.message, "line 5");
    CHECK_INT(open_error("{\"grammar\": \"/tmp/no-such.gram\"}", &err), RM_EMODEL);
    CHECK_CONTAINS(err.message, "/tmp/no-such.gram");
    CHECK_INT(open_error("{\"keyphrase\": \"lights blorfle\"}", &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "blorfle");
    CHECK_CONTAINS(err.message, "dictionary");
    snprintf(params, sizeof params, "{\"keyphrase\": \"lights on\", \"grammar\": \"%s/tests/data/commands.gram\"}",
             RM_SOURCE_DIR);
    CHECK_INT(open_error(params, &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "either keyphrase or grammar");
    CHECK_INT(open_error("{\"utterance_mode\": \"sometimes\"}", &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "vad_events");
    CHECK_INT(open_error("{\"kws_threshold\": 2}", &err), RM_EPARAM);
    CHECK_INT(open_error("{\"decoder_options\": [\"-no_such_option\", \"1\"]}", &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "'-no_such_option' is not a pocketsphinx option");
    CHECK_INT(open_error("{\"decoder_options\": [\"-hmm\", \"/tmp\"]}", &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "acoustic_model"); /* "-hmm is set by the node's own params" */
    CHECK_INT(open_error("{\"decoder_options\": [\"-beam\"]}", &err), RM_EPARAM);
    CHECK_CONTAINS(err.message, "pairs");
    /* a valid option loads (a decoder of its own: the option is part of the key) */
    CHECK_INT(open_error("{\"decoder_options\": [\"-beam\", \"1e-60\"], \"grammar\": \"" RM_SOURCE_DIR
                         "/tests/data/commands.gram\"}",
                         &err),
              0);
}

/* Sessions run concurrently: each blocking node has its own worker, so
 * three round-trip sessions synthesise (taking turns on the flite lock) and
 * decode (each with its own pooled decoder) at the same time. */
static void test_concurrent_sessions(void)
{
    const char *manifest = "{\"version\":\"v1\",\"nodes\":["
                           "{\"id\":\"tts\",\"node_type\":\"TextToSpeech\",\"params\":{\"voice\":\"rms\"}},"
                           "{\"id\":\"stt\",\"node_type\":\"SpeechToText\"}],"
                           "\"connections\":[{\"from\":\"tts\",\"to\":\"stt\"}]}";
    static const char *const texts[] = {"Turn on the kitchen lights.", "Please close the front door.",
                                        "Good morning, how are you today?"};
    static const char *const expect[] = {"turn on the kitchen lights", "please close the front door",
                                         "good morning how are you today"};
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, manifest, strlen(manifest), "t", NULL, &g, d), 0);
    rm_diags_free(d);
    if (!g) return;
    rm_session *s[3] = {0};
    rm_error err;
    for (int i = 0; i < 3; i++) CHECK_INT(rm_session_open(g, NULL, &s[i], &err), 0);
    for (int i = 0; i < 3; i++) {
        rm_frame *f = text_frame(texts[i]);
        if (s[i]) CHECK_INT(rm_session_push(s[i], f), 0);
        rm_frame_unref(f);
    }
    for (int i = 0; i < 3; i++) {
        if (!s[i]) continue;
        CHECK_INT(rm_session_end(s[i]), 0);
        const rm_frame *out[4];
        size_t n = rm_outputs_of(rm_session_outputs(s[i]), "stt", out, 4);
        const char *text = NULL;
        for (size_t k = 0; k < n && k < 4; k++)
            if (out[k]->kind == RM_FRAME_TEXT) text = out[k]->u.text.data;
        CHECK_STR(text, expect[i]);
        rm_session_close(s[i]);
    }
    rm_graph_unref(g);
}

/* The example manifests run and check themselves. */
static void test_examples(void)
{
    rm_error err;
    CHECK_INT(chdir(RM_SOURCE_DIR), 0); /* commands.yaml names its grammar relative to the repository */
    static const struct {
        const char *file, *input, *expect;
    } cases[] = {
        {"examples/speech-roundtrip.yaml", "Turn on the kitchen lights.", "turn on the kitchen lights"},
        {"examples/commands.yaml", "lights off", "lights off"},
        {"examples/commands.yaml", "Play music!", "play music"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rm_diags *d = rm_diags_new();
        rm_graph *g = NULL;
        int rc = rm_graph_load_file(rt, cases[i].file, NULL, &g, d);
        if (rc != 0) {
            rm_diags_to_error(d, &err);
            fprintf(stderr, "%s: %s\n", cases[i].file, err.message);
        }
        CHECK_INT(rc, 0);
        rm_diags_free(d);
        if (!g) continue;
        rm_frame *in = text_frame(cases[i].input);
        rm_outputs *out = NULL;
        CHECK_INT(rm_graph_run(g, (const rm_frame *const *)&in, 1, &out, NULL, &err), 0);
        const rm_frame *frames[8];
        size_t n = out ? rm_outputs_of(out, "stt", frames, 8) : 0;
        const char *text = NULL;
        for (size_t k = 0; k < n && k < 8; k++)
            if (frames[k]->kind == RM_FRAME_TEXT) text = frames[k]->u.text.data;
        CHECK_STR(text, cases[i].expect);
        rm_outputs_free(out);
        rm_frame_unref(in);
        rm_graph_unref(g);
    }
}

int main(void)
{
    rm_error err;
    if (rm_runtime_new_with_builtins(NULL, &rt, &err) != 0) {
        fprintf(stderr, "runtime: %s\n", err.message);
        return 1;
    }
    if (sp_synth(rt, "{\"voice\": \"slt\"}", "Turn on the kitchen lights.", &kitchen, &err) != 0) {
        fprintf(stderr, "TextToSpeech: %s\n", err.message);
        return 1;
    }
    RUN(test_tts_chunks_and_timestamps);
    RUN(test_tts_voices);
    RUN(test_tts_sentences_and_rate);
    RUN(test_tts_inputs);
    RUN(test_tts_lead_silence);
    RUN(test_tts_bad_params);
    RUN(test_stt_round_trip);
    RUN(test_stt_pool_reuse);
    RUN(test_stt_formats);
    RUN(test_stt_silence_and_noise);
    RUN(test_stt_vad_events);
    RUN(test_stt_many_utterances);
    RUN(test_stt_reset);
    RUN(test_stt_wrong_rate);
    RUN(test_stt_bad_models);
    RUN(test_stt_bad_grammar_and_keyphrase);
    RUN(test_concurrent_sessions);
    RUN(test_examples);
    sp_audio_free(&kitchen);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
