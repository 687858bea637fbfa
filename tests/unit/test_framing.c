/*
 * Framing: every node of the audio and speech families, and every example
 * manifest that takes audio, must give the same result however the input
 * audio is cut — 10 ms, 20 ms, 37 ms (odd), 1 s, 5 s chunks or one frame
 * holding the whole stream.  The 20 ms framing is the reference.
 *
 * Compared per node of the graph's outputs:
 *  - audio: the concatenated samples of each output port, bit-exact (the
 *    resampler is documented bit-identical across framings), with format,
 *    rate, channels and the first timestamp; every audio frame's timestamp
 *    must lie on the port's sample clock (within 1 µs of t0 + k / rate);
 *  - SpeechSegmenter utterances: frame by frame (samples, time, metadata);
 *  - json and text frames: value, timestamp, metadata, and position = the
 *    audio samples the same node had emitted before it (so a VAD event must
 *    follow exactly the audio up to the analysis frame that decided it).
 * Also: an event or transcript frame carries the sequence number of the
 * input frame that caused it (checked on the VAD's events, where the cause
 * is known from the position, and on the transcripts, which cannot all come
 * from the first input).
 *
 * Input: two sentences from TextToSpeech (flite, in-process, deterministic)
 * with pauses and seeded low-level noise, 16 kHz mono f32; and the same at
 * 44.1 kHz stereo s16 (resampled once by AudioResample, the channels
 * differing by a small offset).  A node type of the audio or speech family
 * that no case covers fails the test, so new nodes get cases.
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "remotemedia/remotemedia.h"
#include "speech_util.h"

static rm_runtime *rt;

/* ------------------------------------------------------------ input --- */

typedef struct input {
    const char *name;
    rm_sample_format fmt;
    uint32_t rate, channels;
    size_t frames;
    void *data; /* interleaved */
} input;

static input in16, in44;

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s;
}

static int make_inputs(void)
{
    static const char *const text[] = {"please schedule a meeting for tuesday afternoon with the design team",
                                       "turn on the lights in the kitchen"};
    sp_audio all = {0};
    all.rate = 16000;
    for (size_t i = 0; i < 2; i++) {
        sp_audio s;
        rm_error err;
        if (sp_synth(rt, "{\"voice\": \"slt\"}", text[i], &s, &err) != 0) {
            fprintf(stderr, "TextToSpeech: %s\n", err.message);
            return -1;
        }
        if (s.rate != 16000) return -1;
        sp_audio_append(&all, NULL, i == 0 ? 16000 : 12800); /* 1 s, then 0.8 s of pause */
        sp_audio_append(&all, s.samples, s.n);
        sp_audio_free(&s);
    }
    sp_audio_append(&all, NULL, 9600);
    uint32_t seed = 12345;
    for (size_t i = 0; i < all.n; i++) /* white noise at about -56 dBFS */
        all.samples[i] += ((float)(lcg(&seed) >> 8) / 16777216.0f - 0.5f) * 0.005f;
    in16 = (input){"speech 16 kHz mono f32", RM_SAMPLE_F32, 16000, 1, all.n, all.samples};

    /* 44.1 kHz stereo s16 from the same signal */
    rm_harness *h;
    rm_error err;
    if (rm_harness_new(rt, "AudioResample", "{\"target_rate\": 44100}", &h, &err) != 0) return -1;
    rm_frame *f = rm_frame_wrap_audio(RM_SAMPLE_F32, 16000, 1, all.n, all.samples, NULL, NULL);
    int rc = f ? rm_harness_push(h, f) : RM_ENOMEM;
    rm_frame_unref(f);
    if (rc == 0) rc = rm_harness_end(h);
    sp_audio up = {0};
    if (rc == 0) rc = sp_collect_audio(h, &up);
    rm_harness_free(h);
    if (rc != 0) return -1;
    int16_t *st = malloc(up.n * 2 * sizeof *st);
    if (!st) return -1;
    for (size_t i = 0; i < up.n; i++) {
        float l = up.samples[i] * 0.9f, r = up.samples[i] * 0.7f + 0.001f;
        st[2 * i] = (int16_t)lrintf(l * 32767.0f);
        st[2 * i + 1] = (int16_t)lrintf(r * 32767.0f);
    }
    in44 = (input){"speech 44.1 kHz stereo s16", RM_SAMPLE_S16, 44100, 2, up.n, st};
    sp_audio_free(&up);
    return 0;
}

/* --------------------------------------------------------- recording --- */

/* What one run produced, per sink node: json items and audio streams. */
typedef struct stream {
    char key[96]; /* node.port */
    rm_sample_format fmt;
    uint32_t rate, channels;
    int64_t ts0;
    unsigned char *data;
    size_t bytes, frames, cap;
    int bad_ts; /* a frame off the sample clock */
} stream;

typedef struct record {
    json_t *items; /* {node: [item, ...]} */
    json_t *seqs;  /* {node: [seq, ...]} parallel to items (not compared) */
    stream s[16];
    size_t n_s;
    int oom;
} record;

static stream *stream_of(record *r, const char *node, const char *port, const rm_frame *f)
{
    char key[96];
    snprintf(key, sizeof key, "%s.%s", node, port);
    for (size_t i = 0; i < r->n_s; i++)
        if (!strcmp(r->s[i].key, key)) return &r->s[i];
    if (r->n_s == sizeof r->s / sizeof r->s[0]) return NULL;
    stream *s = &r->s[r->n_s++];
    memset(s, 0, sizeof *s);
    snprintf(s->key, sizeof s->key, "%s", key);
    s->fmt = f->u.audio.format;
    s->rate = f->u.audio.rate;
    s->channels = f->u.audio.channels;
    s->ts0 = f->timestamp_us;
    return s;
}

/* Audio samples already emitted by `node` on any port. */
static size_t node_pos(const record *r, const char *node)
{
    size_t n = 0, l = strlen(node);
    for (size_t i = 0; i < r->n_s; i++)
        if (!strncmp(r->s[i].key, node, l) && r->s[i].key[l] == '.') n += r->s[i].frames;
    return n;
}

static json_t *meta_json(const rm_frame *f)
{
    json_t *m = json_object();
    for (size_t i = 0; i < rm_frame_meta_count(f); i++) {
        const char *k, *v;
        rm_frame_meta_at(f, i, &k, &v);
        json_object_set_new(m, k, json_string(v));
    }
    return m;
}

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void record_frame(record *r, const char *node, const char *type, const char *port, const rm_frame *f)
{
    json_t *item = NULL;
    if (f->kind == RM_FRAME_AUDIO && strcmp(type, "SpeechSegmenter") != 0) {
        stream *s = stream_of(r, node, port, f);
        size_t fb = rm_sample_format_size(f->u.audio.format) * f->u.audio.channels, b = f->u.audio.frames * fb;
        if (!s || s->fmt != f->u.audio.format || s->rate != f->u.audio.rate || s->channels != f->u.audio.channels) {
            r->oom = 1; /* a layout change mid-stream is not expected from these cases */
            return;
        }
        if (f->timestamp_us != RM_TS_NONE && s->ts0 != RM_TS_NONE &&
            llabs(f->timestamp_us - (s->ts0 + llround((double)s->frames * 1e6 / s->rate))) > 1)
            s->bad_ts++;
        if (s->bytes + b > s->cap) {
            size_t cap = s->cap ? s->cap : 65536;
            while (cap < s->bytes + b) cap *= 2;
            unsigned char *p = realloc(s->data, cap);
            if (!p) {
                r->oom = 1;
                return;
            }
            s->data = p;
            s->cap = cap;
        }
        memcpy(s->data + s->bytes, f->u.audio.data, b);
        s->bytes += b;
        s->frames += f->u.audio.frames;
        return;
    }
    if (f->kind == RM_FRAME_AUDIO) { /* one utterance per frame */
        char h[32];
        snprintf(h, sizeof h, "%016llx",
                 (unsigned long long)fnv(f->u.audio.data, f->u.audio.frames * f->u.audio.channels *
                                                             rm_sample_format_size(f->u.audio.format)));
        item = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}", "port", port, "kind", "audio", "frames",
                         (json_int_t)f->u.audio.frames, "rate", (json_int_t)f->u.audio.rate, "channels",
                         (json_int_t)f->u.audio.channels, "fnv", h);
    } else if (f->kind == RM_FRAME_TEXT) {
        item = json_pack("{s:s, s:s, s:s}", "port", port, "kind", "text", "text", f->u.text.data);
    } else if (f->kind == RM_FRAME_JSON) {
        item = json_pack("{s:s, s:s, s:O}", "port", port, "kind", "json", "value", f->u.json.value);
    } else {
        item = json_pack("{s:s, s:s}", "port", port, "kind", rm_frame_kind_name(f->kind));
    }
    if (!item) {
        r->oom = 1;
        return;
    }
    json_object_set_new(item, "pos", json_integer((json_int_t)node_pos(r, node)));
    json_object_set_new(item, "ts_us", json_integer(f->timestamp_us));
    json_object_set_new(item, "meta", meta_json(f));
    json_t *list = json_object_get(r->items, node);
    if (!list) {
        json_object_set_new(r->items, node, json_array());
        json_object_set_new(r->seqs, node, json_array());
        list = json_object_get(r->items, node);
    }
    json_array_append_new(list, item);
    json_array_append_new(json_object_get(r->seqs, node), json_integer((json_int_t)f->sequence));
}

static void record_free(record *r)
{
    json_decref(r->items);
    json_decref(r->seqs);
    for (size_t i = 0; i < r->n_s; i++) free(r->s[i].data);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------- runs --- */

/* Framings: chunk length in ms, 0 = the whole input as one frame. */
static const unsigned framings[] = {20, 10, 37, 1000, 5000, 0};
#define N_FRAMINGS (sizeof framings / sizeof framings[0])

static size_t chunk_frames(const input *in, unsigned ms)
{
    return ms ? (size_t)in->rate * ms / 1000 : in->frames;
}

/* Runs graph `g` over `in` cut in chunks of `ms`; fills `r`. */
static int run(rm_graph *g, const input *in, unsigned ms, record *r)
{
    memset(r, 0, sizeof *r);
    r->items = json_object();
    r->seqs = json_object();
    rm_session *s;
    rm_error err;
    if (rm_session_open(g, NULL, &s, &err) != 0) {
        fprintf(stderr, "session: %s\n", err.message);
        return -1;
    }
    size_t chunk = chunk_frames(in, ms), fb = rm_sample_format_size(in->fmt) * in->channels;
    int rc = 0;
    uint64_t seq = 0;
    for (size_t at = 0; at < in->frames && rc == 0; at += chunk, seq++) {
        size_t n = in->frames - at < chunk ? in->frames - at : chunk;
        rm_frame *f = rm_frame_wrap_audio(in->fmt, in->rate, in->channels, n, (unsigned char *)in->data + at * fb,
                                          NULL, NULL);
        if (!f) return -1;
        f->timestamp_us = llround((double)at * 1e6 / in->rate); /* as the CLI stamps chunks */
        f->sequence = seq;
        rc = rm_session_push(s, f);
        rm_frame_unref(f);
    }
    if (rc == 0) rc = rm_session_end(s);
    if (rc != 0) fprintf(stderr, "run: %s\n", rm_session_error(s)->message);
    const rm_outputs *o = rm_session_outputs(s);
    for (size_t i = 0; rc == 0 && i < rm_outputs_count(o); i++) {
        const rm_output *x = rm_outputs_at(o, i);
        int idx = rm_graph_node_index(g, x->node_id);
        record_frame(r, x->node_id, idx >= 0 ? rm_graph_node_type(g, (size_t)idx)->name : "?", x->port, x->frame);
    }
    rm_session_close(s);
    return rc == 0 && !r->oom ? 0 : -1;
}

/* Compares run `b` (framing ms) with the reference `a`; prints the first
 * difference.  Returns 1 if equal. */
static int same(const char *what, unsigned ms, const record *a, const record *b)
{
    char fr[32];
    if (ms) snprintf(fr, sizeof fr, "%u ms chunks", ms);
    else snprintf(fr, sizeof fr, "one frame");
    int ok = 1;
    if (a->n_s != b->n_s) {
        fprintf(stderr, "  %s, %s: %zu audio outputs, the 20 ms reference has %zu\n", what, fr, b->n_s, a->n_s);
        return 0;
    }
    for (size_t i = 0; i < a->n_s; i++) {
        const stream *x = &a->s[i], *y = &b->s[i];
        if (y->bad_ts) {
            fprintf(stderr, "  %s, %s: %s: %d frames stamped off the sample clock\n", what, fr, y->key, y->bad_ts);
            ok = 0;
        }
        if (strcmp(x->key, y->key) || x->fmt != y->fmt || x->rate != y->rate || x->channels != y->channels ||
            x->ts0 != y->ts0) {
            fprintf(stderr, "  %s, %s: %s layout/t0 differs from the reference\n", what, fr, y->key);
            ok = 0;
            continue;
        }
        if (x->bytes != y->bytes) {
            fprintf(stderr, "  %s, %s: %s has %zu frames, the reference %zu\n", what, fr, x->key, y->frames, x->frames);
            ok = 0;
            continue;
        }
        if (memcmp(x->data, y->data, x->bytes) != 0) {
            size_t k = 0;
            while (x->data[k] == y->data[k]) k++;
            size_t fb = rm_sample_format_size(x->fmt) * x->channels;
            fprintf(stderr, "  %s, %s: %s samples differ from frame %zu of %zu\n", what, fr, x->key, k / fb,
                    x->frames);
            ok = 0;
        }
    }
    const char *node;
    json_t *la;
    json_object_foreach(a->items, node, la) {
        json_t *lb = json_object_get(b->items, node);
        size_t na = json_array_size(la), nb = json_array_size(lb);
        for (size_t i = 0; i < na || i < nb; i++) {
            json_t *ia = json_array_get(la, i), *ib = json_array_get(lb, i);
            if (ia && ib && json_equal(ia, ib)) continue;
            char *sa = ia ? json_dumps(ia, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            char *sb = ib ? json_dumps(ib, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            fprintf(stderr, "  %s, %s: %s output %zu differs\n    20 ms: %.600s\n    here:  %.600s\n", what, fr,
                    node, i, sa ? sa : "(none)", sb ? sb : "(none)");
            free(sa);
            free(sb);
            ok = 0;
            break;
        }
    }
    json_object_foreach(b->items, node, la) {
        if (!json_object_get(a->items, node)) {
            fprintf(stderr, "  %s, %s: %s has outputs the reference has not\n", what, fr, node);
            ok = 0;
        }
    }
    return ok;
}

/* Output sequence numbers: a VAD event follows the audio up to position
 * `pos`, so its cause is the input frame holding sample pos - 1; a
 * transcript is caused by an input frame after the first. */
static void check_seqs(const rm_graph *g, const input *in, unsigned ms, const record *r, const char *what)
{
    size_t chunk = chunk_frames(in, ms);
    const char *node;
    json_t *list;
    json_object_foreach(r->items, node, list) {
        int idx = rm_graph_node_index(g, node);
        const char *type = idx >= 0 ? rm_graph_node_type(g, (size_t)idx)->name : "";
        json_t *seqs = json_object_get(r->seqs, node);
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *it = json_array_get(list, i);
            json_int_t seq = json_integer_value(json_array_get(seqs, i));
            json_int_t pos = json_integer_value(json_object_get(it, "pos"));
            if (!strcmp(type, "VAD") && r->s[0].rate == in->rate && pos > 0 && ms) {
                if (seq != (json_int_t)((size_t)(pos - 1) / chunk)) {
                    fprintf(stderr, "  %s, %u ms: %s event %zu after sample %lld has seq %lld, want %lld\n", what, ms,
                            node, i, (long long)pos, (long long)seq, (long long)((pos - 1) / (json_int_t)chunk));
                    CHECK(0);
                }
            }
            if (!strcmp(type, "SpeechToText") && ms) CHECK(seq > 0);
        }
    }
}

static int total_cases, failed_cases;

/* Runs one graph over every framing and compares with 20 ms. */
static void check_graph(const char *what, rm_graph *g, const input *in)
{
    record ref;
    total_cases++;
    if (run(g, in, framings[0], &ref) != 0) {
        fprintf(stderr, "%s: the 20 ms run failed\n", what);
        CHECK(0);
        record_free(&ref);
        failed_cases++;
        return;
    }
    check_seqs(g, in, framings[0], &ref, what);
    int ok = 1;
    for (size_t k = 1; k < N_FRAMINGS; k++) {
        record r;
        if (run(g, in, framings[k], &r) != 0) {
            fprintf(stderr, "%s: the run in %u ms chunks failed\n", what, framings[k]);
            ok = 0;
        } else {
            if (!same(what, framings[k], &ref, &r)) ok = 0;
            check_seqs(g, in, framings[k], &r, what);
        }
        record_free(&r);
    }
    size_t n_items = 0, n_audio = 0;
    const char *node;
    json_t *list;
    json_object_foreach(ref.items, node, list) n_items += json_array_size(list);
    for (size_t i = 0; i < ref.n_s; i++) n_audio += ref.s[i].frames;
    printf("%-58s %-27s %s (%zu audio frames, %zu events/texts)\n", what, in->name, ok ? "same" : "DIFFERENT",
           n_audio, n_items);
    if (!ok) {
        CHECK(0);
        failed_cases++;
    }
    record_free(&ref);
}

/* ------------------------------------------------------------ cases --- */

typedef struct node_case {
    const char *type; /* the node type covered */
    const char *yaml; /* nodes + connections */
    int in44;         /* run on the 44.1 kHz stereo input (else 16 kHz mono) */
} node_case;

static const node_case node_cases[] = {
    {"AudioResample", "nodes: [{id: n, node_type: AudioResample, params: {target_rate: 16000}}]", 1},
    {"AudioResample", "nodes: [{id: n, node_type: AudioResample, params: {target_rate: 48000, quality: low, "
                      "low_latency: true}}]", 0},
    {"AudioResample", "nodes: [{id: n, node_type: AudioResample, params: {target_rate: 22050, quality: very_high}}]", 1},
    {"ChannelMixer", "nodes: [{id: n, node_type: ChannelMixer, params: {channels: 1}}]", 1},
    {"ChannelMixer", "nodes: [{id: n, node_type: ChannelMixer, params: {channels: 2}}]", 0},
    {"FormatConverter", "nodes: [{id: n, node_type: FormatConverter, params: {target_format: s16}}]", 0},
    {"FormatConverter", "nodes: [{id: n, node_type: FormatConverter, params: {target_format: f32}}]", 1},
    {"Gain", "nodes: [{id: n, node_type: Gain, params: {gain_db: 12}}]", 1},
    {"Gain", "nodes: [{id: n, node_type: Gain, params: {normalize: true}}]", 0},
    {"Gain", "nodes: [{id: n, node_type: Gain, params: {normalize: true, normalize_dbfs: -3}}]", 1},
    {"AudioLevel", "nodes: [{id: n, node_type: AudioLevel, params: {window_ms: 100}}]", 0},
    {"AudioLevel", "nodes: [{id: n, node_type: AudioLevel, params: {window_ms: 33.3}}]", 1},
    {"AudioChunker", "nodes: [{id: n, node_type: AudioChunker, params: {chunk_ms: 25}}]", 1},
    {"AudioChunker", "nodes: [{id: n, node_type: AudioChunker, params: {chunk_frames: 512, pad_last: true}}]", 0},
    {"VAD", "nodes: [{id: n, node_type: VAD, params: {frame_ms: 20}}]", 0},
    {"VAD", "nodes: [{id: n, node_type: VAD, params: {frame_ms: 30, frame_events: true}}]", 0},
    {"VAD", "nodes: [{id: n, node_type: VAD, params: {frame_ms: 10, min_silence_ms: 300}}]", 1},
    {"SpeechSegmenter",
     "nodes: [{id: vad, node_type: VAD, params: {frame_ms: 20}},"
     " {id: seg, node_type: SpeechSegmenter, params: {pad_ms: 150, min_utterance_ms: 200}}]\n"
     "connections: [{from: vad, to: seg}, {from: vad.events, to: seg.events}]", 1},
    {"SpeechToText", "nodes: [{id: n, node_type: SpeechToText, params: {utterance_mode: silence}}]", 0},
    {"SpeechToText",
     "nodes: [{id: vad, node_type: VAD, params: {frame_ms: 30}},"
     " {id: stt, node_type: SpeechToText, params: {utterance_mode: vad_events, second_pass: always}}]\n"
     "connections: [{from: vad.out, to: stt.in}, {from: vad.events, to: stt.events}]", 0},
};

/* Node types of these families that take no audio, so framing does not
 * apply to them. */
static const char *const no_audio_in[] = {"TextToSpeech", NULL};

static void test_node_types(void)
{
    size_t n_types = rm_runtime_node_type_count(rt);
    for (size_t i = 0; i < n_types; i++) {
        const rm_node_type *t = rm_runtime_node_type_at(rt, i);
        if (!t->family || (strcmp(t->family, "audio") && strcmp(t->family, "speech"))) continue;
        int covered = 0;
        for (const char *const *x = no_audio_in; *x; x++) covered |= !strcmp(*x, t->name);
        for (size_t k = 0; k < sizeof node_cases / sizeof node_cases[0]; k++)
            covered |= !strcmp(node_cases[k].type, t->name);
        if (!covered) fprintf(stderr, "node type %s (family %s) has no framing case\n", t->name, t->family);
        CHECK(covered);
    }
    for (size_t k = 0; k < sizeof node_cases / sizeof node_cases[0]; k++) {
        const node_case *c = &node_cases[k];
        char text[1024];
        snprintf(text, sizeof text, "version: v1\n%s\n", c->yaml);
        rm_diags *d = rm_diags_new();
        rm_graph *g = NULL;
        if (rm_graph_load_string(rt, text, strlen(text), "framing", NULL, &g, d) != 0) {
            char *m = rm_diags_to_string(d);
            fprintf(stderr, "case %s: %s\n", c->yaml, m ? m : "?");
            free(m);
            CHECK(0);
        } else {
            char what[128];
            const char *p = strstr(c->yaml, "params: ");
            snprintf(what, sizeof what, "%s %.40s", c->type, p ? p + 8 : "");
            char *nl = strchr(what, '\n');
            if (nl) *nl = '\0';
            check_graph(what, g, c->in44 ? &in44 : &in16);
        }
        rm_graph_unref(g);
        rm_diags_free(d);
    }
}

/* Every example manifest whose sources take audio, on both inputs. */
static void test_examples(void)
{
    static const char *const files[] = {"calculator.json", "commands.yaml", "preprocess.yaml", "sentences.yaml",
                                        "speak.yaml", "speech-roundtrip.yaml", "transcribe.yaml", "utterances.yaml",
                                        "vad_events.yaml", "voice-loop.yaml", NULL};
    size_t n_audio = 0;
    for (const char *const *f = files; *f; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/examples/%s", RM_SOURCE_DIR, *f);
        rm_graph *g = sp_load_graph(rt, path);
        CHECK(g != NULL);
        if (!g) continue;
        int audio = rm_graph_source_count(g) > 0;
        for (size_t i = 0; i < rm_graph_source_count(g); i++) {
            const rm_port_def *p = rm_node_type_input(rm_graph_node_type(g, rm_graph_source(g, i)), 0);
            if (!p || !(p->kinds & RM_KIND_BIT(RM_FRAME_AUDIO))) audio = 0; /* "any kind" is not audio */
        }
        if (audio) {
            n_audio++;
            char what[128];
            snprintf(what, sizeof what, "examples/%s", *f);
            check_graph(what, g, &in16);
            check_graph(what, g, &in44);
        }
        rm_graph_unref(g);
    }
    CHECK(n_audio >= 4); /* transcribe, preprocess, vad_events, utterances */
}

int main(void)
{
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags = RM_RUNTIME_NO_ENV_PLUGINS;
    rm_error err;
    if (rm_runtime_new_with_builtins(&o, &rt, &err) != 0) {
        fprintf(stderr, "runtime: %s\n", err.message);
        return 2;
    }
    if (make_inputs() != 0) {
        fprintf(stderr, "could not make the test audio\n");
        return 1;
    }
    test_node_types();
    test_examples();
    printf("%d cases, %d differ across framings\n", total_cases, failed_cases);
    free(in16.data);
    free(in44.data);
    rm_runtime_free(rt);
    return check_failures ? 1 : 0;
}
