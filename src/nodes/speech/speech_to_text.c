/*
 * SpeechToText: streaming speech recognition with pocketsphinx (CMU Sphinx,
 * Debian's libpocketsphinx 5prealpha and its US English model).
 *
 * Input `in`: 16 kHz mono audio (f32, s16 or s32; converted to s16 for the
 * decoder).  Other rates or channel counts are an error that says which
 * converter to insert; the graph compiler reports the same thing at compile
 * time when the upstream caps are known.
 *
 * Utterances: with utterance_mode "silence" the decoder's own voice activity
 * detector (ps_get_in_speech) opens an utterance when speech starts and
 * closes it after 0.5 s of silence.  With "vad_events" an upstream VAD
 * decides: json frames {is_speech_start: true} / {is_speech_end: true} on the
 * `events` port open and close the utterance.  A start is placed by the time
 * it names (timestamp_ms, on this node's clock; "now" without one) and the
 * utterance begins preroll_ms before that: audio outside utterances is kept
 * in a history ring (preroll_ms + STT_LAG_MS) so the VAD's detection delay
 * does not cut the first word.  An end closes the utterance when it arrives
 * (or once the audio up to the time it names has, if that is still to come).
 * Either way an utterance longer than max_utterance_ms is closed and a new
 * one opened, which keeps memory flat on endless speech.
 *
 * Framing: the decoder is always fed whole STT_BLOCK blocks counted from the
 * utterance start (from the stream start in silence mode, where utterances
 * restart on block boundaries), and the silence-mode VAD is checked after
 * each block, so results do not depend on how the input is cut.  With an
 * upstream VAD node the end events arrive right after the audio up to the
 * analysis frame that decided them (see vad.c), at a sample position that
 * does not depend on the framing either.  Outputs carry the sequence number
 * of the input frame that completed them (the end event, or the audio frame
 * in which the decoder's VAD heard the silence).
 *
 * Output per utterance with at least one word:
 *  - `out`: a text frame, the words separated by spaces, timestamped at the
 *    utterance start, with metadata start_ms, end_ms, confidence, utterance;
 *  - `results`: a json frame {text, start_ms, end_ms, confidence, final: true,
 *    utterance, words: [{word, start_ms, end_ms, confidence}]}.
 * With partial_results, `results` also carries interim hypotheses
 * {text, start_ms, final: false, utterance} whenever the hypothesis changes.
 * Times are stream times in ms: the timestamp of the first audio frame (0 if
 * it has none) plus the samples received since, so gaps in input timestamps
 * are not seen.  Word confidence is the word's posterior probability in the
 * decoder's word lattice (for keyphrases: the detection score against the
 * phone loop, capped at 1); the utterance confidence is the mean over its
 * words.  Fillers (silence, noise, <s>, </s>) are not words.
 *
 * No transcript for silence or noise: an utterance without words produces
 * nothing, and neither does one with less than min_voiced_ms of voiced
 * (pitched) audio — noise whose level jumps trips the decoder's VAD and comes
 * out as fricative words ("if", "thigh"); see voicing.h.
 *
 * Accuracy: the cepstral mean (CMN) starts at the model's value and adapts
 * only when an utterance ends, so the first utterance of a stream is decoded
 * with a mismatched channel.  With second_pass "first" (the default) the
 * first utterance that has words is decoded a second time from its recorded
 * audio, with the mean learnt from it (word error rate 9.9% → 6.4% on the
 * test sentences; the first result takes about twice as long); "always" does
 * that for every utterance (for files, where latency does not matter).  Keyphrases that share words and
 * fire on the same stretch of audio keep only the best-scoring detection.
 * decoder_options passes further pocketsphinx options through.
 *
 * Models: loaded once per process and lent to one instance at a time (see
 * sphinx_pool.h).  Stats: model_load_ms (~0.01 when a pooled decoder was
 * reused), model_reused, utterance_ms (decoder time per utterance), rtf
 * (decoder time / utterance audio time), final_ms (end of speech → final
 * result emitted), second_pass_ms (the second decoding), rejected (unvoiced
 * utterances dropped).
 *
 * Blocking node: it runs on its own worker behind a bounded queue.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <pocketsphinx.h>

#include "remotemedia/node.h"
#include "sphinx_pool.h"
#include "voicing.h"

#ifndef RM_PS_MODELDIR
#define RM_PS_MODELDIR "/usr/share/pocketsphinx/model"
#endif

#define STT_RATE 16000u
#define STT_BLOCK 320 /* samples per decoder call: 20 ms, the VAD check granularity */
/* vad_events: how long after the time it names a start event may arrive
 * (the upstream VAD's decision delay) with the whole pre-roll still kept */
#define STT_LAG_MS 2000
/* With no speech the silence-mode utterance is recycled every 10 minutes so
 * the decoder's 32-bit sample counter never wraps. */
#define STT_IDLE_CYCLE ((uint64_t)STT_RATE * 600)

enum { MODE_SILENCE = 0, MODE_VAD_EVENTS = 1 };
enum { PASS_OFF = 0, PASS_FIRST = 1, PASS_ALWAYS = 2 };

typedef struct stt_config {
    const char *model_dir;
    const char *acoustic_model;
    const char *lm;
    const char *dict;
    const char *const *keyphrase;
    double kws_threshold;
    const char *grammar;
    int partial_results;
    int utterance_mode;
    int64_t max_utterance_ms;
    int64_t preroll_ms;
    int second_pass;
    int64_t min_voiced_ms;
    const char *const *decoder_options;
} stt_config;

/* A ring of the most recent samples. */
typedef struct pcm_ring {
    int16_t *buf;
    size_t cap, len, head;
} pcm_ring;

typedef struct stt_state {
    rm__ps_lease *lease;
    ps_decoder_t *ps;
    int mode;
    int partial_results;
    int keyphrases;         /* keyword search: detections, not a transcript */
    unsigned frame_shift;   /* samples per decoder frame */
    int in_utt;             /* ps_start_utt() called, ps_end_utt() not yet */
    int heard;              /* speech in this utterance (decoder VAD or event) */
    uint64_t pos;           /* samples received so far */
    uint64_t utt_base;      /* sample position of the utterance's frame 0 */
    uint64_t fed;           /* samples of the utterance given to feed_utt() */
    int16_t blk[STT_BLOCK]; /* the utterance's partial block, not decoded yet */
    unsigned blk_n;
    int start_pending;      /* vad_events: a start named a time not yet received */
    int end_pending;        /* vad_events: an end named a time not yet received */
    uint64_t end_at;        /* ... the utterance's end */
    uint64_t start_at;      /* ... the utterance's first sample */
    uint64_t cur_seq;       /* sequence of the input frame being processed */
    uint64_t speech_pos;    /* silence mode: where the decoder's VAD heard speech */
    uint64_t max_utt;       /* samples */
    int64_t origin_us;      /* stream time of sample 0 */
    int origin_set;
    double utt_proc_ms;     /* decoder time spent on the current utterance */
    uint64_t n_utt;         /* utterances reported */
    char *partial;          /* last interim hypothesis sent */
    char *stream_id;        /* of the last audio frame */
    int16_t *pcm;           /* conversion scratch */
    size_t pcm_cap;
    pcm_ring preroll;       /* vad_events: audio since the last utterance (history) */
    pcm_ring warm;          /* the first utterance's audio, for the warm-up */
    int second_pass;        /* PASS_* */
    int warmup_pending;     /* a second pass is due for an utterance with words */
    int replaying;          /* feeding recorded audio a second time */
    rm__voicing voicing;    /* voiced audio in the current utterance */
    unsigned min_voiced_ms;
} stt_state;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double stream_ms(const stt_state *st, uint64_t sample)
{
    return ((double)st->origin_us + (double)sample * 1e6 / STT_RATE) / 1000.0;
}

/* ------------------------------------------------------------ results --- */

/* Filler tokens of the model's noise dictionary (<s>, </s>, <sil>, [NOISE],
 * ++GARBAGE++) and the grammar search's null transitions, "(NULL)". */
static int is_filler(const char *w) { return w[0] == '<' || w[0] == '[' || w[0] == '+' || w[0] == '('; }

/* "read(2)" (an alternate pronunciation) → "read" */
static size_t word_len(const char *w)
{
    size_t n = strlen(w);
    if (n > 3 && w[n - 1] == ')') {
        const char *open = strrchr(w, '(');
        if (open && open > w) return (size_t)(open - w);
    }
    return n;
}

static int emit_json(rm_node *node, stt_state *st, json_t *obj, uint64_t at)
{
    if (!obj) return rm_node_fail(node, RM_ENOMEM, "out of memory");
    rm_frame *f = rm_frame_new_json(obj);
    if (!f || (st->stream_id && rm_frame_set_stream_id(f, st->stream_id) != 0)) {
        rm_frame_unref(f);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    f->timestamp_us = (int64_t)llround(stream_ms(st, at) * 1000.0);
    f->sequence = st->cur_seq;
    return rm_node_emit_take(node, 1, f);
}

typedef struct seg_word {
    const char *word; /* owned by the decoder, valid until the next utterance */
    size_t len;
    int sf, ef;       /* frames from utt_base */
    int32 score;      /* log posterior (lattice) or detection score (keyphrase) */
    int keep;
} seg_word;

/* Collects the words of the finished utterance.  Returns the count (0 if
 * none) or -1 when out of memory; *out is the caller's to free. */
static int collect_words(stt_state *st, seg_word **out)
{
    size_t n = 0, cap = 0;
    seg_word *v = NULL;
    for (ps_seg_t *seg = ps_seg_iter(st->ps); seg; seg = ps_seg_next(seg)) {
        const char *w = ps_seg_word(seg);
        if (!w || is_filler(w)) continue;
        if (n == cap) {
            seg_word *p = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
            if (!p) {
                ps_seg_free(seg);
                free(v);
                return -1;
            }
            v = p;
        }
        seg_word *sw = &v[n++];
        sw->word = w;
        sw->len = word_len(w);
        ps_seg_frames(seg, &sw->sf, &sw->ef);
        sw->score = ps_seg_prob(seg, NULL, NULL, NULL);
        sw->keep = 1;
    }
    /* Keyphrases that share words ("lights on", "lights off") can both fire
     * on the same stretch of audio: keep the best-scoring detection. */
    if (st->keyphrases)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                if (i != j && v[j].keep && v[i].sf <= v[j].ef && v[j].sf <= v[i].ef &&
                    (v[j].score > v[i].score || (v[j].score == v[i].score && j < i)))
                    v[i].keep = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].keep) v[k++] = v[i];
    *out = v;
    return (int)k;
}

/* `v` in the shortest decimal form that reads back as the same double,
 * with a decimal point ("200.0"). */
static const char *num_text(char *buf, size_t cap, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".en") && strlen(buf) + 2 < cap) strcat(buf, ".0"); /* reads as a float, like results */
    return buf;
}

/* Emits the finished utterance on `out` and `results`. */
static int report(rm_node *node, stt_state *st)
{
    seg_word *v;
    int n = collect_words(st, &v);
    if (n < 0) return rm_node_fail(node, RM_ENOMEM, "out of memory");
    if (n == 0) {
        free(v);
        return 0;
    }
    logmath_t *lmath = ps_get_logmath(st->ps);
    json_t *words = json_array();
    size_t text_len = 0;
    for (int i = 0; i < n; i++) text_len += v[i].len + 1;
    char *text = malloc(text_len + 1);
    if (!words || !text) {
        json_decref(words);
        free(text);
        free(v);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    text_len = 0;
    double conf_sum = 0;
    int oom = 0;
    for (int i = 0; i < n; i++) {
        double p = logmath_exp(lmath, v[i].score);
        if (!(p >= 0)) p = 0;
        if (p > 1) p = 1;
        conf_sum += p;
        if (text_len) text[text_len++] = ' ';
        memcpy(text + text_len, v[i].word, v[i].len);
        text_len += v[i].len;
        json_t *jw = json_pack("{s:s%, s:f, s:f, s:f}", "word", v[i].word, v[i].len, "start_ms",
                               stream_ms(st, st->utt_base + (uint64_t)v[i].sf * st->frame_shift), "end_ms",
                               stream_ms(st, st->utt_base + (uint64_t)(v[i].ef + 1) * st->frame_shift),
                               "confidence", p);
        if (!jw || json_array_append_new(words, jw) != 0) oom = 1;
    }
    text[text_len] = '\0';
    uint64_t at = st->utt_base + (uint64_t)v[0].sf * st->frame_shift;
    double start_ms = stream_ms(st, at);
    double end_ms = stream_ms(st, st->utt_base + (uint64_t)(v[n - 1].ef + 1) * st->frame_shift);
    double conf = conf_sum / n;
    free(v);
    if (oom) {
        json_decref(words);
        free(text);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    st->n_utt++;

    rm_frame *f = rm_frame_new_text(text, text_len);
    char buf[32];
    int rc = f ? 0 : RM_ENOMEM;
    if (rc == 0 && st->stream_id) rc = rm_frame_set_stream_id(f, st->stream_id);
    /* the same numbers as results.start_ms / end_ms (shortest exact form) */
    if (rc == 0) rc = rm_frame_meta_set(f, "start_ms", num_text(buf, sizeof buf, start_ms));
    if (rc == 0) rc = rm_frame_meta_set(f, "end_ms", num_text(buf, sizeof buf, end_ms));
    snprintf(buf, sizeof buf, "%.3f", conf);
    if (rc == 0) rc = rm_frame_meta_set(f, "confidence", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)st->n_utt);
    if (rc == 0) rc = rm_frame_meta_set(f, "utterance", buf);
    json_t *res = rc == 0 ? json_pack("{s:s, s:f, s:f, s:f, s:b, s:I, s:o}", "text", text, "start_ms",
                                      start_ms, "end_ms", end_ms, "confidence", conf, "final", 1,
                                      "utterance", (json_int_t)st->n_utt, "words", words)
                          : NULL;
    free(text);
    if (!res) {
        if (rc != 0) json_decref(words); /* else json_pack's "o" took it, even on failure */
        rm_frame_unref(f);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    f->timestamp_us = (int64_t)llround(start_ms * 1000.0);
    f->sequence = st->cur_seq;
    rc = rm_node_emit_take(node, 0, f);
    if (rc == 0) return emit_json(node, st, res, at);
    json_decref(res);
    return rc;
}

/* ------------------------------------------------------------- rings --- */

static int ring_init(pcm_ring *r, size_t cap)
{
    r->buf = cap ? malloc(cap * sizeof *r->buf) : NULL;
    r->cap = r->buf ? cap : 0;
    r->len = r->head = 0;
    return cap && !r->buf ? RM_ENOMEM : 0;
}

static void ring_free(pcm_ring *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

static void ring_push(pcm_ring *r, const int16_t *pcm, size_t n)
{
    if (!r->cap) return;
    if (n >= r->cap) {
        memcpy(r->buf, pcm + n - r->cap, r->cap * sizeof *pcm);
        r->head = 0;
        r->len = r->cap;
        return;
    }
    size_t tail = (r->head + r->len) % r->cap;
    size_t first = r->cap - tail < n ? r->cap - tail : n;
    memcpy(r->buf + tail, pcm, first * sizeof *pcm);
    memcpy(r->buf, pcm + first, (n - first) * sizeof *pcm);
    r->len += n;
    if (r->len > r->cap) {
        r->head = (r->head + r->len - r->cap) % r->cap;
        r->len = r->cap;
    }
}

/* ------------------------------------------------------------ decoding --- */

/* Feeds samples to the decoder (recording them while the warm-up is due). */
static int decode(rm_node *node, stt_state *st, const int16_t *pcm, size_t n)
{
    /* one call may decode minutes of audio block by block: stop between
     * blocks once the session is cancelled (barge-in, client gone) */
    if (rm_node_cancelled(node)) return RM_ECANCELED;
    if (st->warmup_pending) ring_push(&st->warm, pcm, n);
    if (!st->replaying) rm__voicing_feed(&st->voicing, pcm, n);
    double t0 = now_ms();
    rm__ps_errors_clear();
    int rc = ps_process_raw(st->ps, pcm, n, 0, 0);
    st->utt_proc_ms += now_ms() - t0;
    if (rc < 0) return rm_node_fail(node, RM_ENODE, "pocketsphinx failed to decode audio: %s", rm__ps_errors());
    return 0;
}

/* Feeds a ring's samples, oldest first. */
static int decode_ring(rm_node *node, stt_state *st, const pcm_ring *r)
{
    size_t first = r->cap - r->head < r->len ? r->cap - r->head : r->len;
    int rc = first ? decode(node, st, r->buf + r->head, first) : 0;
    if (rc == 0 && r->len > first) rc = decode(node, st, r->buf, r->len - first);
    return rc;
}

/* Opens an utterance whose first sample is stream position `base`. */
static int start_utt(rm_node *node, stt_state *st, uint64_t base)
{
    ps_start_stream(st->ps); /* frame numbers restart at 0 = utt_base */
    rm__ps_errors_clear();
    if (ps_start_utt(st->ps) < 0)
        return rm_node_fail(node, RM_ENODE, "pocketsphinx could not start an utterance: %s", rm__ps_errors());
    st->in_utt = 1;
    st->heard = 0;
    st->utt_base = base;
    st->fed = 0;
    st->blk_n = 0;
    st->utt_proc_ms = 0;
    st->warm.len = st->warm.head = 0;
    if (st->second_pass == PASS_ALWAYS) st->warmup_pending = 1;
    rm__voicing_reset_counts(&st->voicing);
    free(st->partial);
    st->partial = NULL;
    return 0;
}

static int has_words(stt_state *st)
{
    for (ps_seg_t *seg = ps_seg_iter(st->ps); seg; seg = ps_seg_next(seg)) {
        const char *w = ps_seg_word(seg);
        if (w && !is_filler(w)) {
            ps_seg_free(seg);
            return 1;
        }
    }
    return 0;
}

/* The cepstral mean starts at the model's value, which fits neither this
 * microphone nor this voice; pocketsphinx adapts it only when an utterance
 * ends.  So the utterance is decoded again, from its recorded audio, with
 * the mean learnt from it (see docs/speech.md). */
static int warm_up(rm_node *node, stt_state *st)
{
    double t0 = now_ms();
    st->warmup_pending = 0; /* decode() stops recording */
    st->utt_base = st->utt_base + st->fed - st->warm.len;
    ps_start_stream(st->ps);
    rm__ps_errors_clear();
    int rc = ps_start_utt(st->ps) < 0 ? RM_ENODE : 0;
    st->replaying = 1;
    if (rc == 0) rc = decode_ring(node, st, &st->warm);
    st->replaying = 0;
    if (rc == 0 && ps_end_utt(st->ps) < 0) rc = RM_ENODE;
    if (st->second_pass == PASS_FIRST) ring_free(&st->warm);
    rm_node_stat(node, "second_pass_ms", RM_STAT_SAMPLE, now_ms() - t0);
    if (rc == RM_ENODE)
        return rm_node_fail(node, rc, "pocketsphinx failed in the second pass: %s", rm__ps_errors());
    return rc;
}

/* Ends the utterance; reports it unless `discard`; opens the next one if
 * `restart`. */
static int finish(rm_node *node, stt_state *st, int discard, int restart)
{
    double t0 = now_ms();
    uint64_t end = st->utt_base + st->fed;
    int rc = 0;
    if (st->blk_n && !discard) rc = decode(node, st, st->blk, st->blk_n); /* the last partial block */
    st->blk_n = 0;
    if (rc != 0) return rc;
    rm__ps_errors_clear();
    rc = ps_end_utt(st->ps);
    st->in_utt = 0;
    if (rc < 0) return rm_node_fail(node, RM_ENODE, "pocketsphinx failed to end the utterance: %s", rm__ps_errors());
    rc = 0;
    if (!discard && st->heard && rm__voicing_ms(&st->voicing) < st->min_voiced_ms) {
        rm_node_stat(node, "rejected", RM_STAT_ADD, 1); /* noise: no vowel in it */
    } else if (!discard && st->heard) {
        uint64_t base = st->utt_base;
        if (st->warmup_pending && has_words(st)) rc = warm_up(node, st);
        double audio_ms = (double)(end - st->utt_base) * 1000.0 / STT_RATE;
        if (rc == 0) rc = report(node, st);
        st->utt_base = base;
        double t1 = now_ms();
        double proc = st->utt_proc_ms + (t1 - t0);
        rm_node_stat(node, "utterance_ms", RM_STAT_SAMPLE, proc);
        if (audio_ms > 0) rm_node_stat(node, "rtf", RM_STAT_SAMPLE, proc / audio_ms);
        rm_node_stat(node, "final_ms", RM_STAT_SAMPLE, t1 - t0);
        if (rc != 0) return rc;
    }
    return restart ? start_utt(node, st, end) : 0;
}

static int send_partial(rm_node *node, stt_state *st)
{
    if (rm__voicing_ms(&st->voicing) < st->min_voiced_ms) return 0;
    const char *hyp = ps_get_hyp(st->ps, NULL);
    if (!hyp || !*hyp || (st->partial && strcmp(st->partial, hyp) == 0)) return 0;
    char *copy = strdup(hyp);
    if (!copy) return rm_node_fail(node, RM_ENOMEM, "out of memory");
    free(st->partial);
    st->partial = copy;
    json_t *obj = json_pack("{s:s, s:f, s:b, s:I}", "text", hyp, "start_ms", stream_ms(st, st->utt_base),
                            "final", 0, "utterance", (json_int_t)(st->n_utt + 1));
    return emit_json(node, st, obj, st->utt_base + st->fed);
}

/* After each whole block: silence mode asks the decoder's VAD whether the
 * utterance goes on; both modes cut utterances at max_utterance_ms. */
static int after_block(rm_node *node, stt_state *st)
{
    uint64_t now = st->utt_base + st->fed;
    if (st->mode == MODE_VAD_EVENTS) {
        if (st->fed < st->max_utt) return 0;
        int rc = finish(node, st, 0, 1);
        st->heard = 1; /* still inside the upstream VAD's speech */
        return rc;
    }
    int speech = ps_get_in_speech(st->ps);
    if (!st->heard && speech) st->heard = 1, st->speech_pos = now;
    else if (st->heard && !speech) return finish(node, st, 0, 1);
    else if (st->heard && now - st->speech_pos >= st->max_utt) return finish(node, st, 0, 1);
    else if (!st->heard && now - st->utt_base >= STT_IDLE_CYCLE) return finish(node, st, 1, 1);
    return 0;
}

/* Feeds audio to the open utterance in whole blocks counted from its start
 * (the tail waits in st->blk), so the decoder sees the same calls however
 * the input is cut.  Whole blocks are decoded in place. */
static int feed_utt(rm_node *node, stt_state *st, const int16_t *pcm, size_t n)
{
    int rc = 0;
    while (n && rc == 0 && st->in_utt) {
        size_t k = STT_BLOCK - st->blk_n < n ? STT_BLOCK - st->blk_n : n;
        const int16_t *blk = pcm;
        if (st->blk_n || k < STT_BLOCK) {
            memcpy(st->blk + st->blk_n, pcm, k * sizeof *pcm);
            st->blk_n += (unsigned)k;
            blk = st->blk_n == STT_BLOCK ? st->blk : NULL;
        }
        pcm += k;
        n -= k;
        st->fed += k;
        if (!blk) break;
        st->blk_n = 0;
        rc = decode(node, st, blk, STT_BLOCK);
        if (rc == 0) rc = after_block(node, st);
    }
    return rc;
}

/* Feeds the last `count` samples of the history ring to the utterance. */
static int feed_ring_tail(rm_node *node, stt_state *st, const pcm_ring *r, size_t count)
{
    if (count > r->len) count = r->len;
    size_t at = (r->head + r->len - count) % (r->cap ? r->cap : 1);
    size_t first = r->cap - at < count ? r->cap - at : count;
    int rc = first ? feed_utt(node, st, r->buf + at, first) : 0;
    if (rc == 0 && count > first) rc = feed_utt(node, st, r->buf, count - first);
    return rc;
}

/* vad_events: opens the utterance at st->start_at (<= pos) with the history
 * from there on. */
static int begin_utt(rm_node *node, stt_state *st)
{
    st->start_pending = 0;
    int rc = start_utt(node, st, st->start_at);
    st->heard = 1;
    st->end_pending = 0;
    if (rc == 0) rc = feed_ring_tail(node, st, &st->preroll, (size_t)(st->pos - st->start_at));
    st->preroll.len = st->preroll.head = 0;
    return rc;
}

/* Stream position of time `ms` on this node's clock (0 before the origin). */
static uint64_t ms_pos(const stt_state *st, double ms)
{
    double x = (ms * 1000.0 - (double)st->origin_us) * STT_RATE / 1e6;
    return x <= 0 ? 0 : (uint64_t)llround(x);
}

/* vad_events: a speech start naming time `t` (NULL: now) opens an utterance
 * preroll_ms before it, as far back as the history reaches. */
static int vad_start(rm_node *node, stt_state *st, const json_t *t)
{
    if (st->in_utt || st->start_pending) return 0;
    const stt_config *cfg = rm_node_config(node);
    uint64_t pre = (uint64_t)cfg->preroll_ms * STT_RATE / 1000;
    uint64_t at = json_is_number(t) && st->origin_set ? ms_pos(st, json_number_value(t)) : st->pos;
    at = at > pre ? at - pre : 0;
    uint64_t lo = st->pos - st->preroll.len;
    if (at < lo) {
        if (st->preroll.len == st->preroll.cap) rm_node_stat(node, "preroll_truncated", RM_STAT_ADD, 1);
        at = lo;
    }
    st->start_at = at;
    st->start_pending = 1;
    return at <= st->pos ? begin_utt(node, st) : 0;
}

static int feed_vad(rm_node *node, stt_state *st, const int16_t *pcm, size_t n)
{
    int rc = 0;
    if (!st->in_utt && st->start_pending && st->start_at < st->pos + n) {
        size_t d = (size_t)(st->start_at - st->pos); /* a start named a time inside this frame */
        ring_push(&st->preroll, pcm, d);
        st->pos += d;
        pcm += d;
        n -= d;
        rc = begin_utt(node, st);
    }
    if (rc == 0 && st->in_utt && st->end_pending && st->end_at < st->pos + n) {
        size_t d = (size_t)(st->end_at - st->pos); /* an end named a time inside this frame */
        rc = feed_utt(node, st, pcm, d);
        st->pos += d;
        pcm += d;
        n -= d;
        st->end_pending = 0;
        if (rc == 0 && st->in_utt) rc = finish(node, st, 0, 0);
    }
    if (rc != 0 || !st->in_utt) {
        ring_push(&st->preroll, pcm, n);
        st->pos += n;
        return rc;
    }
    rc = feed_utt(node, st, pcm, n);
    st->pos += n;
    if (rc == 0 && st->partial_results) rc = send_partial(node, st);
    return rc;
}

static int feed_silence(rm_node *node, stt_state *st, const int16_t *pcm, size_t n)
{
    int rc = feed_utt(node, st, pcm, n);
    st->pos += n;
    if (rc == 0 && st->partial_results && st->heard) rc = send_partial(node, st);
    return rc;
}

static int on_event(rm_node *node, stt_state *st, const rm_frame *f)
{
    if (f->kind != RM_FRAME_JSON) return 0;
    const json_t *v = f->u.json.value;
    if (!json_is_object(v)) return 0;
    int rc = 0;
    if (json_is_true(json_object_get(v, "is_speech_start")))
        rc = vad_start(node, st, json_object_get(v, "timestamp_ms"));
    if (rc == 0 && json_is_true(json_object_get(v, "is_speech_end"))) {
        /* normally the audio up to the end has arrived (the VAD emits the
         * event after it): end now; an end that names a time still to come
         * (its audio delayed on another path) waits for it */
        const json_t *t = json_object_get(v, "timestamp_ms");
        uint64_t at = json_is_number(t) && st->origin_set ? ms_pos(st, json_number_value(t)) : st->pos;
        st->start_pending = 0;
        if (st->in_utt && at > st->pos) st->end_pending = 1, st->end_at = at;
        else if (st->in_utt) rc = finish(node, st, 0, 0);
    }
    return rc;
}

/* Converts the frame to s16 in the scratch buffer. */
static const int16_t *to_s16(stt_state *st, const rm_frame *f)
{
    size_t n = f->u.audio.frames;
    if (f->u.audio.format == RM_SAMPLE_S16) return f->u.audio.data;
    if (n > st->pcm_cap) {
        int16_t *p = realloc(st->pcm, n * sizeof *p);
        if (!p) return NULL;
        st->pcm = p;
        st->pcm_cap = n;
    }
    if (f->u.audio.format == RM_SAMPLE_F32) {
        const float *in = f->u.audio.data;
        for (size_t i = 0; i < n; i++) {
            float x = in[i] * 32768.0f;
            st->pcm[i] = x >= 32767.0f ? 32767 : x <= -32768.0f ? -32768 : (int16_t)lrintf(x);
        }
    } else {
        const int32_t *in = f->u.audio.data;
        for (size_t i = 0; i < n; i++) st->pcm[i] = (int16_t)(in[i] >> 16);
    }
    return st->pcm;
}

static int stt_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    stt_state *st = state;
    st->cur_seq = f->sequence;
    if (port == 1) return st->mode == MODE_VAD_EVENTS ? on_event(node, st, f) : 0;
    if (f->kind != RM_FRAME_AUDIO)
        return rm_node_fail(node, RM_EFRAMEKIND, "port 'in' takes audio, got a %s frame", rm_frame_kind_name(f->kind));
    if (f->u.audio.rate != STT_RATE || f->u.audio.channels != 1)
        return rm_node_fail(node, RM_EFORMAT,
                            "input audio is %u Hz, %u channel%s; the recogniser needs %u Hz mono: insert "
                            "%s before this node",
                            f->u.audio.rate, f->u.audio.channels, f->u.audio.channels == 1 ? "" : "s", STT_RATE,
                            f->u.audio.rate != STT_RATE ? "an AudioResample node (target_rate: 16000)"
                                                        : "a ChannelMixer (channels: 1)");
    if (!st->origin_set) {
        st->origin_us = f->timestamp_us == RM_TS_NONE ? 0 : f->timestamp_us;
        st->origin_set = 1;
    }
    if (f->stream_id && (!st->stream_id || strcmp(f->stream_id, st->stream_id) != 0)) {
        char *id = strdup(f->stream_id);
        if (!id) return rm_node_fail(node, RM_ENOMEM, "out of memory");
        free(st->stream_id);
        st->stream_id = id;
    }
    const int16_t *pcm = to_s16(st, f);
    if (!pcm) return rm_node_fail(node, RM_ENOMEM, "out of memory");
    return st->mode == MODE_SILENCE ? feed_silence(node, st, pcm, f->u.audio.frames)
                                    : feed_vad(node, st, pcm, f->u.audio.frames);
}

static int stt_flush(rm_node *node, void *state)
{
    stt_state *st = state;
    return st->in_utt ? finish(node, st, 0, 0) : 0;
}

static int stt_reset(rm_node *node, void *state)
{
    stt_state *st = state;
    int rc = st->in_utt ? finish(node, st, 1, 0) : 0;
    st->preroll.len = st->preroll.head = 0;
    st->start_pending = st->end_pending = 0;
    if (rc == 0 && st->mode == MODE_SILENCE) rc = start_utt(node, st, st->pos);
    return rc;
}

static void stt_fini(void *state)
{
    stt_state *st = state;
    int clean = 1;
    if (st->in_utt) clean = ps_end_utt(st->ps) >= 0;
    rm__ps_release(st->lease, clean);
    free(st->partial);
    free(st->stream_id);
    free(st->pcm);
    ring_free(&st->preroll);
    ring_free(&st->warm);
}

/* --------------------------------------------------------------- init --- */

/* `name` as is when absolute, else under `dir`.  Caller frees. */
static char *resolve(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    char *p = malloc(dl + nl + 2);
    if (!p) return NULL;
    if (name[0] == '/') memcpy(p, name, nl + 1);
    else snprintf(p, dl + nl + 2, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
    return p;
}

/* Appends "path:size:mtime" to the pool key so an edited file is reloaded. */
static int key_add_file(char *key, size_t cap, const char *path)
{
    struct stat sb;
    size_t used = strlen(key);
    if (stat(path, &sb) != 0) sb.st_size = -1, sb.st_mtime = 0;
    int n = snprintf(key + used, cap - used, "|%s:%lld:%lld", path, (long long)sb.st_size, (long long)sb.st_mtime);
    return n < 0 || (size_t)n >= cap - used ? -1 : 0;
}

static int check_file(rm_node *node, const char *param, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return rm_node_fail(node, RM_EMODEL, "%s file '%s' not found: %s", param, path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return rm_node_fail(node, RM_EMODEL, "%s '%s' is not a regular file", param, path);
    if (access(path, R_OK) != 0)
        return rm_node_fail(node, RM_EMODEL, "%s file '%s' is not readable: %s", param, path, strerror(errno));
    if (sb.st_size == 0) return rm_node_fail(node, RM_EMODEL, "%s file '%s' is empty", param, path);
    return 0;
}

/* The files pocketsphinx reads from an acoustic model directory. */
static int check_acoustic_model(rm_node *node, const char *hmm)
{
    struct stat sb;
    if (stat(hmm, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return rm_node_fail(node, RM_EMODEL, "acoustic_model directory '%s' not found", hmm);
    static const char *const required[] = {"mdef", "means", "variances", "transition_matrices", "noisedict"};
    char path[4096];
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", hmm, required[i]);
        int rc = check_file(node, "acoustic model", path);
        if (rc != 0) return rc;
    }
    char alt[4096];
    snprintf(path, sizeof path, "%s/sendump", hmm);
    snprintf(alt, sizeof alt, "%s/mixture_weights", hmm);
    if (access(path, R_OK) != 0 && access(alt, R_OK) != 0)
        return rm_node_fail(node, RM_EMODEL, "acoustic model '%s' has neither sendump nor mixture_weights", hmm);
    if (access(path, R_OK) == 0) return check_file(node, "acoustic model", path);
    return check_file(node, "acoustic model", alt);
}

/* Writes the keyphrases as a pocketsphinx keyword file ("phrase /threshold/"
 * per line), lower-cased like the dictionary.  Returns the path (caller
 * unlinks and frees) or NULL. */
static char *write_kws_file(const stt_config *cfg)
{
    const char *tmp = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/rm-kws-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(tmpl);
    if (fd < 0) return NULL;
    FILE *fp = fdopen(fd, "w");
    if (!fp) {
        close(fd);
        unlink(tmpl);
        return NULL;
    }
    for (const char *const *k = cfg->keyphrase; *k; k++) {
        /* words separated by single spaces: the phrase is reported as written */
        int sep = 0, wrote = 0;
        for (const char *c = *k; *c; c++) {
            if (*c == ' ' || *c == '\t') {
                sep = 1;
                continue;
            }
            if (sep && wrote) fputc(' ', fp);
            sep = 0;
            wrote = 1;
            fputc(tolower((unsigned char)*c), fp);
        }
        fprintf(fp, "/%g/\n", cfg->kws_threshold);
    }
    if (fclose(fp) != 0) {
        unlink(tmpl);
        return NULL;
    }
    return strdup(tmpl);
}

/* Every keyphrase word must be in the dictionary (pocketsphinx only logs the
 * problem and then never detects the phrase). */
static int check_keyphrase_words(rm_node *node, stt_state *st, const stt_config *cfg, const char *dict)
{
    for (const char *const *k = cfg->keyphrase; *k; k++) {
        const char *p = *k;
        while (*p) {
            while (*p == ' ' || *p == '\t') p++;
            size_t n = strcspn(p, " \t");
            if (!n) break;
            char word[128];
            if (n >= sizeof word) return rm_node_fail(node, RM_EPARAM, "keyphrase '%s': word too long", *k);
            for (size_t i = 0; i < n; i++) word[i] = (char)tolower((unsigned char)p[i]);
            word[n] = '\0';
            char *phones = ps_lookup_word(st->ps, word);
            if (!phones)
                return rm_node_fail(node, RM_EPARAM, "keyphrase '%s': word '%s' is not in the dictionary '%s'", *k,
                                    word, dict);
            free(phones);
            p += n;
        }
    }
    return 0;
}

/* decoder_options: "-name", "value" pairs naming pocketsphinx options, except
 * the ones this node sets itself. */
static int check_decoder_options(rm_node *node, const char *const *opt, size_t n)
{
    static const char *const managed[] = {"-hmm", "-dict", "-lm", "-jsgf", "-kws", "-keyphrase", "-fsg",
                                          "-lmctl", "-allphone", "-remove_silence", "-samprate", "-logfn",
                                          "-mfclogdir", "-rawlogdir", "-senlogdir", NULL};
    if (n % 2)
        return rm_node_fail(node, RM_EPARAM, "decoder_options: expected \"-name\", \"value\" pairs, got %zu items", n);
    for (size_t i = 0; i < n; i += 2) {
        for (const char *const *m = managed; *m; m++)
            if (!strcmp(opt[i], *m))
                return rm_node_fail(node, RM_EPARAM,
                                    "decoder_options: '%s' is set by the node's own params (acoustic_model, dict, "
                                    "lm, keyphrase, grammar, utterance_mode)",
                                    opt[i]);
        const arg_t *a = ps_args();
        while (a->name && strcmp(a->name, opt[i]) != 0) a++;
        if (!a->name)
            return rm_node_fail(node, RM_EPARAM, "decoder_options: '%s' is not a pocketsphinx option", opt[i]);
    }
    return 0;
}

static int stt_init(rm_node *node, void *state, const void *config)
{
    stt_state *st = state;
    const stt_config *cfg = config;
    int have_kws = cfg->keyphrase && cfg->keyphrase[0];
    if (have_kws && cfg->grammar)
        return rm_node_fail(node, RM_EPARAM, "set either keyphrase or grammar, not both");
    for (const char *const *k = cfg->keyphrase; have_kws && *k; k++)
        if (strspn(*k, " \t") == strlen(*k)) return rm_node_fail(node, RM_EPARAM, "keyphrase: empty phrase");
    st->mode = cfg->utterance_mode;
    st->partial_results = cfg->partial_results;
    st->keyphrases = have_kws;
    st->min_voiced_ms = (unsigned)cfg->min_voiced_ms;
    rm__voicing_init(&st->voicing);
    st->max_utt = (uint64_t)cfg->max_utterance_ms * STT_RATE / 1000;

    struct stat sb;
    if (stat(cfg->model_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return rm_node_fail(node, RM_EMODEL, "model_dir '%s' not found (Debian: apt install pocketsphinx-en-us)",
                            cfg->model_dir);
    char *hmm = resolve(cfg->model_dir, cfg->acoustic_model);
    char *dict = resolve(cfg->model_dir, cfg->dict);
    char *lm = resolve(cfg->model_dir, cfg->lm);
    char *kws = NULL;
    char key[8192];
    int rc = hmm && dict && lm ? 0 : rm_node_fail(node, RM_ENOMEM, "out of memory");
    if (rc == 0) rc = check_acoustic_model(node, hmm);
    if (rc == 0) rc = check_file(node, "dict", dict);
    if (rc == 0 && !have_kws && !cfg->grammar) rc = check_file(node, "lm", lm);
    if (rc == 0 && cfg->grammar) rc = check_file(node, "grammar", cfg->grammar);

    size_t n_opts = 0;
    while (cfg->decoder_options && cfg->decoder_options[n_opts]) n_opts++;
    if (rc == 0) rc = check_decoder_options(node, cfg->decoder_options, n_opts);
    const char **argv = rc == 0 ? calloc(16 + n_opts, sizeof *argv) : NULL;
    if (rc == 0 && !argv) rc = rm_node_fail(node, RM_ENOMEM, "out of memory");
    int argc = 0;
    if (rc == 0) {
        argv[argc++] = "-hmm", argv[argc++] = hmm;
        argv[argc++] = "-dict", argv[argc++] = dict;
        /* With an upstream VAD the decoder keeps every frame, so word times
         * map one to one onto the utterance audio. */
        argv[argc++] = "-remove_silence", argv[argc++] = st->mode == MODE_SILENCE ? "yes" : "no";
        snprintf(key, sizeof key, "remove_silence=%d", st->mode == MODE_SILENCE);
        if (have_kws) {
            kws = write_kws_file(cfg);
            if (!kws) rc = rm_node_fail(node, RM_EIO, "could not write the keyphrase file: %s", strerror(errno));
            argv[argc++] = "-kws", argv[argc++] = kws;
            size_t used = strlen(key);
            snprintf(key + used, sizeof key - used, "|kws@%g", cfg->kws_threshold);
            for (const char *const *k = cfg->keyphrase; *k; k++) {
                used = strlen(key);
                snprintf(key + used, sizeof key - used, ":%s", *k);
            }
        } else if (cfg->grammar) {
            argv[argc++] = "-jsgf", argv[argc++] = cfg->grammar;
            if (key_add_file(key, sizeof key, cfg->grammar) != 0) rc = rm_node_fail(node, RM_EPARAM, "paths too long");
        } else {
            argv[argc++] = "-lm", argv[argc++] = lm;
            if (key_add_file(key, sizeof key, lm) != 0) rc = rm_node_fail(node, RM_EPARAM, "paths too long");
        }
        for (size_t i = 0; i < n_opts; i++) {
            argv[argc++] = cfg->decoder_options[i];
            size_t used = strlen(key);
            if (snprintf(key + used, sizeof key - used, "%s%s", i % 2 ? "=" : "|", cfg->decoder_options[i]) >=
                (int)(sizeof key - used))
                rc = rm_node_fail(node, RM_EPARAM, "decoder_options too long");
        }
        argv[argc] = NULL;
        char mdef[4096];
        snprintf(mdef, sizeof mdef, "%s/mdef", hmm);
        if (rc == 0 && (key_add_file(key, sizeof key, dict) != 0 || key_add_file(key, sizeof key, mdef) != 0))
            rc = rm_node_fail(node, RM_EPARAM, "paths too long");
    }
    if (rc == 0) {
        double load_ms;
        int reused;
        char msg[400];
        rc = rm__ps_acquire(key, argv, &st->lease, &load_ms, &reused, msg, sizeof msg);
        if (rc == RM_ENOMEM) rc = rm_node_fail(node, rc, "out of memory loading the model");
        else if (rc != 0 && cfg->grammar)
            rc = rm_node_fail(node, RM_EPARAM, "grammar '%s' is not usable: %s", cfg->grammar, msg);
        else if (rc != 0)
            rc = rm_node_fail(node, rc, "could not load the model (acoustic_model '%s', dict '%s'%s%s): %s", hmm, dict,
                              cfg->grammar ? ", grammar " : have_kws ? "" : ", lm ",
                              cfg->grammar ? cfg->grammar : have_kws ? "" : lm, msg);
        if (rc == 0) {
            st->ps = st->lease->ps;
            rm_node_stat(node, "model_load_ms", RM_STAT_SET, load_ms);
            rm_node_stat(node, "model_reused", RM_STAT_SET, reused);
        }
    }
    free(argv);
    if (kws) unlink(kws);
    if (rc == 0 && have_kws) {
        rc = check_keyphrase_words(node, st, cfg, dict);
        if (rc != 0) {
            rm__ps_release(st->lease, 0); /* its keyword search is unusable */
            st->lease = NULL;
        }
    }
    if (rc == 0) {
        cmd_ln_t *c = ps_get_config(st->ps);
        double rate = cmd_ln_float32_r(c, "-samprate");
        int frate = cmd_ln_int32_r(c, "-frate");
        if (rate != STT_RATE || frate <= 0) {
            rc = rm_node_fail(node, RM_EMODEL,
                              "acoustic model '%s' is for %.0f Hz audio; only 16000 Hz models are supported", hmm,
                              rate);
        } else {
            st->frame_shift = STT_RATE / (unsigned)frate;
        }
    }
    size_t preroll = st->mode == MODE_VAD_EVENTS ? (size_t)(cfg->preroll_ms + STT_LAG_MS) * STT_RATE / 1000 : 0;
    if (rc == 0 && ring_init(&st->preroll, preroll) != 0) rc = rm_node_fail(node, RM_ENOMEM, "out of memory");
    /* the warm-up keeps one utterance: max_utterance_ms, its pre-roll and
     * the decoder VAD's lead-in */
    st->second_pass = cfg->second_pass;
    st->warmup_pending = cfg->second_pass != PASS_OFF;
    if (rc == 0 && st->warmup_pending && ring_init(&st->warm, (size_t)st->max_utt + preroll + STT_RATE) != 0)
        rc = rm_node_fail(node, RM_ENOMEM, "out of memory");
    if (rc == 0 && st->mode == MODE_SILENCE) rc = start_utt(node, st, 0);
    free(hmm);
    free(dict);
    free(lm);
    free(kws);
    if (rc != 0) {
        rm__ps_release(st->lease, 0);
        ring_free(&st->preroll);
        ring_free(&st->warm);
        free(st->partial);
        memset(st, 0, sizeof *st);
    }
    return rc;
}

static int stt_negotiate(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)config;
    (void)in;
    (void)err;
    in_req[0].rate = STT_RATE;
    in_req[0].channels = 1;
    in_req[0].format = RM_SAMPLE_ANY; /* f32, s16 and s32 are all taken */
    (void)out;
    return 0;
}

/* ------------------------------------------------------------- tables --- */

static const char *const mode_values[] = {"silence", "vad_events", NULL};
static const char *const pass_values[] = {"off", "first", "always", NULL};
static const char *const keyphrase_aliases[] = {"keyphrases", NULL};
static const char *const grammar_aliases[] = {"jsgf", NULL};

static const rm_param_def stt_params[] = {
    {.name = "model_dir", .type = RM_PARAM_STRING, .offset = offsetof(stt_config, model_dir),
     .doc = "directory of the model files; relative acoustic_model, lm and dict paths are taken from here",
     .def_str = RM_PS_MODELDIR "/en-us", .flags = RM_PARAM_HOST_FILE},
    {.name = "acoustic_model", .type = RM_PARAM_STRING, .offset = offsetof(stt_config, acoustic_model),
     .doc = "acoustic model directory (mdef, means, variances, ...)", .def_str = "en-us",
     .flags = RM_PARAM_HOST_FILE},
    {.name = "lm", .type = RM_PARAM_STRING, .offset = offsetof(stt_config, lm),
     .doc = "n-gram language model (ARPA or binary); unused with keyphrase or grammar", .def_str = "en-us.lm.bin",
     .flags = RM_PARAM_HOST_FILE},
    {.name = "dict", .type = RM_PARAM_STRING, .offset = offsetof(stt_config, dict),
     .doc = "pronunciation dictionary", .def_str = "cmudict-en-us.dict", .flags = RM_PARAM_HOST_FILE},
    {.name = "keyphrase", .type = RM_PARAM_STRING_LIST, .offset = offsetof(stt_config, keyphrase),
     .doc = "spot these phrases instead of transcribing (words must be in dict)", .aliases = keyphrase_aliases},
    {.name = "kws_threshold", .type = RM_PARAM_FLOAT, .offset = offsetof(stt_config, kws_threshold),
     .doc = "keyphrase detection threshold: smaller detects more (and more false alarms)", .def_num = 1e-30,
     .min = 1e-100, .max = 1},
    {.name = "grammar", .type = RM_PARAM_STRING, .offset = offsetof(stt_config, grammar),
     .doc = "JSGF grammar file: recognise only the sentences it allows", .aliases = grammar_aliases,
     .flags = RM_PARAM_PATH | RM_PARAM_HOST_FILE},
    {.name = "partial_results", .type = RM_PARAM_BOOL, .offset = offsetof(stt_config, partial_results),
     .doc = "also emit interim hypotheses on `results` (final: false)", .def_num = 0},
    {.name = "utterance_mode", .type = RM_PARAM_ENUM, .offset = offsetof(stt_config, utterance_mode),
     .doc = "silence: the decoder's own VAD ends utterances; vad_events: json events on the `events` port do",
     .def_str = "silence", .enum_values = mode_values},
    {.name = "max_utterance_ms", .type = RM_PARAM_INT, .offset = offsetof(stt_config, max_utterance_ms),
     .doc = "longer utterances are cut and reported in pieces", .def_num = 30000, .min = 1000, .max = 600000},
    {.name = "preroll_ms", .type = RM_PARAM_INT, .offset = offsetof(stt_config, preroll_ms),
     .doc = "vad_events: audio before the start a speech-start event names that is decoded with the utterance",
     .def_num = 200,
     .min = 0, .max = 5000},
    {.name = "second_pass", .type = RM_PARAM_ENUM, .offset = offsetof(stt_config, second_pass),
     .doc = "decode again with the cepstral mean learnt from the utterance: off, first (the stream's first "
            "utterance with words; better accuracy on a new voice or microphone), always (every utterance: best "
            "accuracy, twice the decoding time and final latency)",
     .def_str = "first", .enum_values = pass_values},
    {.name = "min_voiced_ms", .type = RM_PARAM_INT, .offset = offsetof(stt_config, min_voiced_ms),
     .doc = "utterances with less voiced (pitched) audio are noise and dropped; 0 keeps everything",
     .def_num = 100, .min = 0, .max = 10000},
    {.name = "decoder_options", .type = RM_PARAM_STRING_LIST, .offset = offsetof(stt_config, decoder_options),
     .doc = "extra pocketsphinx options as \"-name\", \"value\" pairs, e.g. [\"-beam\", \"1e-60\"]",
     .flags = RM_PARAM_HOST_FILE},
    {0},
};

static const rm_port_def stt_in[] = {
    {"in", RM_KIND_BIT(RM_FRAME_AUDIO), "16 kHz mono audio (f32, s16 or s32)"},
    {"events", RM_KIND_BIT(RM_FRAME_JSON), "VAD events {is_speech_start, is_speech_end} (vad_events mode)"},
    {0},
};
static const rm_port_def stt_out[] = {
    {"out", RM_KIND_BIT(RM_FRAME_TEXT), "one text frame per utterance (metadata start_ms, end_ms, confidence)"},
    {"results", RM_KIND_BIT(RM_FRAME_JSON), "{text, start_ms, end_ms, confidence, final, utterance, words}"},
    {0},
};

const rm_node_type rm__node_speech_to_text = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "SpeechToText",
    .doc = "Speech recognition with pocketsphinx (offline, US English model): audio in, text per utterance out",
    .family = "speech",
    .inputs = stt_in,
    .outputs = stt_out,
    .params = stt_params,
    .config_size = sizeof(stt_config),
    .state_size = sizeof(stt_state),
    .flags = RM_NODE_BLOCKING,
    .negotiate = stt_negotiate,
    .init = stt_init,
    .process = stt_process,
    .flush = stt_flush,
    .reset = stt_reset,
    .fini = stt_fini,
    .example = "- id: stt\n  node_type: SpeechToText\n  params: { utterance_mode: silence, partial_results: false }\n",
};
