/*
 * TextToSpeech: speech synthesis with flite (CMU Flite 2.2, Debian's
 * flite1-dev and its US English voices).
 *
 * Input: text frames, or json frames {text: "..."} (a json frame with
 * "final": false — an interim STT hypothesis — is skipped).  The markers in
 * skip_tokens (<|text_end|> and friends from LLM streams) are removed; text
 * that is then empty or whitespace produces no audio.
 *
 * Output: mono audio at the voice's native rate (slt, rms, awb, kal16:
 * 16 kHz; kal: 8 kHz) in chunks of chunk_ms.  Each text is split into
 * sentences by flite's tokenizer and utterance-break rule and synthesised one
 * sentence at a time, and each sentence's audio is streamed out of flite's
 * synthesis filter as it is made, so the first chunk leaves after a fraction
 * of the first sentence's synthesis time (voice agents: time to first reply
 * audio); chunks are uniform across sentence boundaries and the last chunk
 * of a text may be shorter.  Timestamps are continuous: the audio of a text
 * starts at the text frame's timestamp, or where the previous audio ended if
 * that is later (or if the text has no timestamp), and each chunk starts
 * where the previous one ended.
 *
 * Voices are registered once per process (at the first session that needs
 * one) and shared; flite is not thread-safe, so synthesis of concurrent
 * sessions is serialised by one lock (see flite_voices.h).
 *
 * Leading silence (voice agents): flite starts every text with a pause
 * (~150 ms of zeros with the rms voice, then the first phone's onset).  With
 * lead_silence_ms ≥ 0, the audio of each text starts at most that many ms
 * before its first sample above -60 dBFS (QUIET): the caller hears the reply
 * that much sooner, and the kept ms are the onset's fade-in.  At most
 * TRIM_MAX_MS are dropped (a text that is all quiet is spoken as made after
 * that).  -1 (the default) keeps flite's audio as it is.
 *
 * Barge-in: the node checks rm_node_cancelled() after each streamed chunk,
 * so rm_session_interrupt stops a reply within ~20 ms of synthesis (its
 * audio so far stands; the partial chunk is dropped).
 *
 * Stats: model_load_ms (voice registration; ~0 when already registered),
 * sentence_ms (synthesis time per sentence), rtf (synthesis time / audio
 * time, per sentence), first_audio_ms (text received → first chunk emitted).
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flite_voices.h"
#include "remotemedia/node.h"

enum { FMT_F32 = 0, FMT_S16 = 1 };
enum { QUIET = 33 /* -60 dBFS in s16 */, TRIM_MAX_MS = 500 };

typedef struct tts_config {
    int voice; /* index into rm__flite_voice_names */
    double rate;
    int64_t chunk_ms;
    int64_t lead_silence_ms;
    int sample_format;
    const char *const *skip_tokens;
} tts_config;

typedef struct tts_state {
    unsigned rate;      /* voice sample rate */
    size_t chunk;       /* samples per chunk */
    int16_t *carry;     /* samples not yet emitted (< chunk) */
    size_t carry_len;
    int16_t *lead;      /* leading quiet kept (the last lead_cap samples of it) */
    size_t lead_cap, lead_len;
    int64_t base_us;    /* timestamp of the audio at samples_out == 0 */
    uint64_t samples_out;
    int started;
    uint64_t seq;
    char *stream_id;
} tts_state;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int64_t next_ts(const tts_state *st)
{
    return st->base_us + (int64_t)llround((double)st->samples_out * 1e6 / st->rate);
}

static int emit_samples(rm_node *node, tts_state *st, const int16_t *pcm, size_t n)
{
    const tts_config *cfg = rm_node_config(node);
    rm_sample_format fmt = cfg->sample_format == FMT_S16 ? RM_SAMPLE_S16 : RM_SAMPLE_F32;
    rm_frame *f = rm_frame_new_audio(fmt, st->rate, 1, n);
    if (!f || (st->stream_id && rm_frame_set_stream_id(f, st->stream_id) != 0)) {
        rm_frame_unref(f);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    if (fmt == RM_SAMPLE_S16) {
        memcpy(f->u.audio.data, pcm, n * sizeof *pcm);
    } else {
        float *out = f->u.audio.data;
        for (size_t i = 0; i < n; i++) out[i] = (float)pcm[i] / 32768.0f;
    }
    f->timestamp_us = next_ts(st);
    f->sequence = st->seq++;
    st->samples_out += n;
    return rm_node_emit_take(node, 0, f);
}

/* Emits whole chunks of carry + pcm and keeps the remainder in carry. */
static int push_samples(rm_node *node, tts_state *st, const int16_t *pcm, size_t n)
{
    int rc = 0;
    if (st->carry_len) {
        size_t take = st->chunk - st->carry_len;
        if (take > n) take = n;
        memcpy(st->carry + st->carry_len, pcm, take * sizeof *pcm);
        st->carry_len += take;
        pcm += take;
        n -= take;
        if (st->carry_len < st->chunk) return 0;
        rc = emit_samples(node, st, st->carry, st->chunk);
        st->carry_len = 0;
    }
    while (rc == 0 && n >= st->chunk) {
        rc = emit_samples(node, st, pcm, st->chunk);
        pcm += st->chunk;
        n -= st->chunk;
    }
    if (rc == 0 && n) {
        memcpy(st->carry, pcm, n * sizeof *pcm);
        st->carry_len = n;
    }
    return rc;
}

/* The text to speak, with skip tokens blanked out (caller frees), or NULL
 * with *skip set when the frame carries nothing to say. */
static char *text_of(rm_node *node, const rm_frame *f, int *skip, int *rc)
{
    const tts_config *cfg = rm_node_config(node);
    const char *src = NULL;
    *skip = 0;
    *rc = 0;
    if (f->kind == RM_FRAME_TEXT) {
        src = f->u.text.data;
    } else if (f->kind == RM_FRAME_JSON) {
        const json_t *v = f->u.json.value;
        if (json_is_string(v)) src = json_string_value(v);
        else if (json_is_object(v) && json_is_string(json_object_get(v, "text"))) {
            if (json_is_false(json_object_get(v, "final"))) {
                *skip = 1;
                return NULL;
            }
            src = json_string_value(json_object_get(v, "text"));
        } else {
            *rc = rm_node_fail(node, RM_EFRAMEKIND, "json input needs a string field 'text'");
            return NULL;
        }
    } else {
        *rc = rm_node_fail(node, RM_EFRAMEKIND, "takes text or json {text}, got a %s frame",
                           rm_frame_kind_name(f->kind));
        return NULL;
    }
    char *text = strdup(src);
    if (!text) {
        *rc = rm_node_fail(node, RM_ENOMEM, "out of memory");
        return NULL;
    }
    for (const char *const *tok = cfg->skip_tokens; tok && *tok; tok++) {
        size_t tl = strlen(*tok);
        if (!tl) continue;
        for (char *p = strstr(text, *tok); p; p = strstr(p + tl, *tok)) memset(p, ' ', tl);
    }
    if (strspn(text, " \t\r\n\f\v") == strlen(text)) {
        free(text);
        *skip = 1;
        return NULL;
    }
    return text;
}

/* One call's streaming target: flite hands each sentence's audio over
 * while it synthesises it (see rm__flite_set_sink). */
typedef struct tts_call {
    rm_node *node;
    tts_state *st;
    double t_in;
    int first;
    int trim;       /* still in the text's leading quiet (lead_silence_ms ≥ 0) */
    size_t dropped; /* samples of it dropped so far */
    int rc;
} tts_call;

/* Keeps the last lead_cap samples of the leading quiet seen so far. */
static void keep_lead(tts_state *st, const int16_t *pcm, size_t n)
{
    if (n >= st->lead_cap) {
        memcpy(st->lead, pcm + n - st->lead_cap, st->lead_cap * sizeof *pcm);
        st->lead_len = st->lead_cap;
        return;
    }
    size_t keep = st->lead_len + n > st->lead_cap ? st->lead_cap - n : st->lead_len;
    memmove(st->lead, st->lead + st->lead_len - keep, keep * sizeof *pcm);
    memcpy(st->lead + keep, pcm, n * sizeof *pcm);
    st->lead_len = keep + n;
}

/* Drops the text's leading quiet but the last lead_silence_ms of it: returns
 * how many samples of pcm to skip (all of them while still quiet). */
static size_t trim_lead(tts_call *c, const int16_t *pcm, size_t n)
{
    tts_state *st = c->st;
    size_t i = 0;
    while (i < n && pcm[i] <= QUIET && pcm[i] >= -QUIET) i++;
    size_t max = (size_t)st->rate * TRIM_MAX_MS / 1000;
    if (i == n && c->dropped + n <= max) {
        keep_lead(st, pcm, n);
        c->dropped += n;
        return n;
    }
    keep_lead(st, pcm, i);
    c->trim = 0;
    c->rc = push_samples(c->node, st, st->lead, st->lead_len);
    st->lead_len = 0;
    return i;
}

static int on_chunk(void *user, const int16_t *pcm, size_t n)
{
    tts_call *c = user;
    if (c->trim) {
        size_t skip = trim_lead(c, pcm, n);
        pcm += skip;
        n -= skip;
        if (c->rc != 0) return c->rc < 0 ? c->rc : RM_ENODE;
        if (c->trim) return rm_node_cancelled(c->node) ? 1 : 0;
    }
    if (c->first) {
        rm_node_stat(c->node, "first_audio_ms", RM_STAT_SAMPLE, now_ms() - c->t_in);
        c->first = 0;
    }
    c->rc = push_samples(c->node, c->st, pcm, n);
    if (c->rc != 0) return c->rc < 0 ? c->rc : RM_ENODE;
    /* barge-in: stop mid-sentence (the loop below returns RM_ECANCELED) */
    return rm_node_cancelled(c->node) ? 1 : 0;
}

static int tts_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    tts_state *st = state;
    const tts_config *cfg = rm_node_config(node);
    double t_in = now_ms();
    int skip, rc;
    char *text = text_of(node, f, &skip, &rc);
    if (!text) return rc;

    if (f->stream_id && (!st->stream_id || strcmp(st->stream_id, f->stream_id) != 0)) {
        free(st->stream_id);
        st->stream_id = strdup(f->stream_id);
        if (!st->stream_id) {
            free(text);
            return rm_node_fail(node, RM_ENOMEM, "out of memory");
        }
    }
    /* Start at the text's timestamp unless the previous audio runs past it. */
    if (!st->started || (f->timestamp_us != RM_TS_NONE && f->timestamp_us > next_ts(st))) {
        st->base_us = f->timestamp_us != RM_TS_NONE ? f->timestamp_us : st->started ? next_ts(st) : 0;
        st->samples_out = 0;
        st->started = 1;
    }

    char msg[300];
    rm__flite_text *t;
    rc = rm__flite_open(cfg->voice, text, &t, msg, sizeof msg);
    free(text);
    if (rc != 0) return rm_node_fail(node, rc, "%s", msg);
    tts_call call = {.node = node, .st = st, .t_in = t_in, .first = 1, .trim = cfg->lead_silence_ms >= 0};
    st->lead_len = 0;
    rm__flite_set_sink(t, on_chunk, &call);
    for (;;) {
        const int16_t *pcm;
        size_t n;
        /* barge-in (rm_session_interrupt) or a cancelled session: the rest
         * of the text is not wanted; stop before the next sentence */
        if (rm_node_cancelled(node)) {
            st->carry_len = 0;
            rc = RM_ECANCELED;
            break;
        }
        double t0 = now_ms();
        int got = rm__flite_next(t, 1.0 / cfg->rate, &pcm, &n, msg, sizeof msg);
        if (call.rc != 0) { /* emitting downstream failed: its message stands */
            rc = call.rc;
            break;
        }
        if (got < 0) {
            rc = rm_node_fail(node, got, "%s", msg);
            break;
        }
        if (got == 0) break;
        double synth_ms = now_ms() - t0;
        rm_node_stat(node, "sentence_ms", RM_STAT_SAMPLE, synth_ms);
        if (n) rm_node_stat(node, "rtf", RM_STAT_SAMPLE, synth_ms / ((double)n * 1000.0 / st->rate));
    }
    rm__flite_close(t);
    if (rc == 0 && call.trim && st->lead_len) /* all quiet: what was kept of it */
        rc = push_samples(node, st, st->lead, st->lead_len);
    st->lead_len = 0;
    /* The text is done: send its tail now rather than with the next text. */
    if (rc == 0 && st->carry_len) {
        rc = emit_samples(node, st, st->carry, st->carry_len);
        st->carry_len = 0;
    }
    return rc;
}

static int tts_reset(rm_node *node, void *state)
{
    (void)node;
    tts_state *st = state;
    st->carry_len = 0;
    st->lead_len = 0;
    return 0;
}

static int tts_init(rm_node *node, void *state, const void *config)
{
    tts_state *st = state;
    const tts_config *cfg = config;
    st->rate = rm__flite_voice_rate(cfg->voice);
    st->chunk = (size_t)((uint64_t)st->rate * (uint64_t)cfg->chunk_ms / 1000);
    if (st->chunk == 0) st->chunk = 1;
    st->carry = malloc(st->chunk * sizeof *st->carry);
    st->lead_cap = cfg->lead_silence_ms > 0 ? (size_t)((uint64_t)st->rate * (uint64_t)cfg->lead_silence_ms / 1000) : 0;
    st->lead = malloc((st->lead_cap ? st->lead_cap : 1) * sizeof *st->lead);
    if (!st->carry || !st->lead) {
        free(st->carry);
        free(st->lead);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    double load_ms;
    char msg[200];
    int rc = rm__flite_load(cfg->voice, &load_ms, msg, sizeof msg);
    if (rc != 0) {
        free(st->carry);
        free(st->lead);
        return rm_node_fail(node, rc, "voice '%s': %s", rm__flite_voice_names[cfg->voice], msg);
    }
    rm_node_stat(node, "model_load_ms", RM_STAT_SET, load_ms);
    return 0;
}

static void tts_fini(void *state)
{
    tts_state *st = state;
    free(st->carry);
    free(st->lead);
    free(st->stream_id);
}

static int tts_negotiate(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)in;
    (void)in_req;
    (void)err;
    const tts_config *cfg = config;
    out[0].rate = rm__flite_voice_rate(cfg->voice);
    out[0].channels = 1;
    out[0].format = cfg->sample_format == FMT_S16 ? RM_SAMPLE_S16 : RM_SAMPLE_F32;
    return 0;
}

static const char *const format_values[] = {"f32", "s16", NULL};
static const char *const rate_aliases[] = {"speed", NULL};
static const char *const format_aliases[] = {"format", NULL};

static const rm_param_def tts_params[] = {
    {.name = "voice", .type = RM_PARAM_ENUM, .offset = offsetof(tts_config, voice),
     .doc = "flite voice: slt (female), rms, awb (male), kal16 (male, diphone) at 16 kHz; kal at 8 kHz",
     .def_str = "slt", .enum_values = rm__flite_voice_names},
    {.name = "rate", .type = RM_PARAM_FLOAT, .offset = offsetof(tts_config, rate),
     .doc = "speaking speed: 1 = normal, 2 = twice as fast (flite duration_stretch = 1/rate)", .def_num = 1.0,
     .min = 0.25, .max = 4.0, .aliases = rate_aliases, .flags = RM_PARAM_RUNTIME},
    {.name = "chunk_ms", .type = RM_PARAM_INT, .offset = offsetof(tts_config, chunk_ms),
     .doc = "duration of each output audio frame", .def_num = 20, .min = 1, .max = 10000},
    {.name = "lead_silence_ms", .type = RM_PARAM_INT, .offset = offsetof(tts_config, lead_silence_ms),
     .doc = "keep at most this much of each text's leading silence (before its first sound above -60 dBFS; "
            "voice agents: the reply is heard sooner); -1 keeps flite's",
     .def_num = -1, .min = -1, .max = 500},
    {.name = "sample_format", .type = RM_PARAM_ENUM, .offset = offsetof(tts_config, sample_format),
     .doc = "output sample format", .def_str = "f32", .enum_values = format_values, .aliases = format_aliases},
    {.name = "skip_tokens", .type = RM_PARAM_STRING_LIST, .offset = offsetof(tts_config, skip_tokens),
     .doc = "markers removed from the text before it is spoken",
     .def_str = "<|text_end|>,<|audio_end|>,<|im_end|>,<|im_start|>"},
    {0},
};

static const rm_port_def tts_in[] = {
    {"in", RM_KIND_BIT(RM_FRAME_TEXT) | RM_KIND_BIT(RM_FRAME_JSON), "text, or json {text}"}, {0}};
static const rm_port_def tts_out[] = {{"out", RM_KIND_BIT(RM_FRAME_AUDIO), "mono audio at the voice's rate"}, {0}};

const rm_node_type rm__node_text_to_speech = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "TextToSpeech",
    .doc = "Speech synthesis with flite (offline, US English voices): text in, audio out sentence by sentence",
    .family = "speech",
    .inputs = tts_in,
    .outputs = tts_out,
    .params = tts_params,
    .config_size = sizeof(tts_config),
    .state_size = sizeof(tts_state),
    .flags = RM_NODE_BLOCKING,
    .negotiate = tts_negotiate,
    .init = tts_init,
    .process = tts_process,
    .reset = tts_reset,
    .fini = tts_fini,
    .example = "- id: tts\n  node_type: TextToSpeech\n  params: { voice: slt, rate: 1.0, chunk_ms: 20 }\n",
};
