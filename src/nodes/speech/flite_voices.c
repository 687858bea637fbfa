/* flite voice registry and sentence-by-sentence synthesis (see flite_voices.h). */
#define _XOPEN_SOURCE 700 /* initstate, setstate */
#include "flite_voices.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flite/flite.h>

#include "remotemedia/error.h"

/* The voice libraries export these; flite's headers do not declare them. */
cst_voice *register_cmu_us_kal(const char *voxdir);
void unregister_cmu_us_kal(cst_voice *v);
cst_voice *register_cmu_us_kal16(const char *voxdir);
void unregister_cmu_us_kal16(cst_voice *v);
cst_voice *register_cmu_us_slt(const char *voxdir);
void unregister_cmu_us_slt(cst_voice *v);
cst_voice *register_cmu_us_rms(const char *voxdir);
void unregister_cmu_us_rms(cst_voice *v);
cst_voice *register_cmu_us_awb(const char *voxdir);
void unregister_cmu_us_awb(cst_voice *v);

typedef struct voice_entry {
    cst_voice *(*reg)(const char *);
    void (*unreg)(cst_voice *);
    unsigned rate;
} voice_entry;

/* Index order = rm__flite_voice_names order.  Rates: kal is an 8 kHz diphone
 * voice, kal16 its 16 kHz version; slt, rms, awb are 16 kHz. */
const char *const rm__flite_voice_names[] = {"slt", "kal", "kal16", "rms", "awb", NULL};
static const voice_entry voices[] = {
    {register_cmu_us_slt, unregister_cmu_us_slt, 16000},
    {register_cmu_us_kal, unregister_cmu_us_kal, 8000},
    {register_cmu_us_kal16, unregister_cmu_us_kal16, 16000},
    {register_cmu_us_rms, unregister_cmu_us_rms, 16000},
    {register_cmu_us_awb, unregister_cmu_us_awb, 16000},
};
#define N_VOICES (sizeof voices / sizeof voices[0])

static pthread_mutex_t flite_lock = PTHREAD_MUTEX_INITIALIZER;
static int flite_ready;
static cst_voice *registered[N_VOICES];

unsigned rm__flite_voice_rate(int index)
{
    return index >= 0 && (size_t)index < N_VOICES ? voices[index].rate : 0;
}

struct rm__flite_text {
    cst_voice *voice;
    cst_tokenstream *ts;
    cst_breakfunc breakfunc;
    char *pending;      /* token read past the end of the previous sentence */
    char *pending_ws, *pending_pre, *pending_post;
    int done;
    int16_t *buf;       /* samples of the last sentence */
    size_t cap;
    unsigned rate;
    rm__flite_sink sink; /* streaming (rm__flite_set_sink) */
    void *sink_user;
    int sink_rc;         /* what the sink returned to stop, else 0 */
    size_t streamed;     /* samples of this sentence given to the sink */
};

void rm__flite_set_sink(rm__flite_text *t, rm__flite_sink fn, void *user)
{
    t->sink = fn;
    t->sink_user = user;
}

/* flite's streaming callback: the wave grows as the filter runs; hand on
 * the new part. */
static int stream_chunk(const cst_wave *w, int start, int size, int last, cst_audio_streaming_info *asi)
{
    (void)last;
    rm__flite_text *t = asi->userdata;
    if (t->sink_rc || size <= 0) return t->sink_rc ? CST_AUDIO_STREAM_STOP : CST_AUDIO_STREAM_CONT;
    int rc = t->sink(t->sink_user, w->samples + start, (size_t)size);
    t->streamed += (size_t)size;
    if (rc != 0) {
        t->sink_rc = rc;
        return CST_AUDIO_STREAM_STOP;
    }
    return CST_AUDIO_STREAM_CONT;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Caller holds flite_lock. */
static cst_voice *voice_locked(int index, double *load_ms)
{
    if (!registered[index]) {
        double t0 = now_ms();
        if (!flite_ready) flite_init(), flite_ready = 1;
        registered[index] = voices[index].reg(NULL);
        *load_ms = now_ms() - t0;
    }
    return registered[index];
}

int rm__flite_load(int index, double *load_ms, char *msg, size_t cap)
{
    *load_ms = 0;
    if (index < 0 || (size_t)index >= N_VOICES) {
        snprintf(msg, cap, "unknown voice index %d", index);
        return RM_EINVAL;
    }
    pthread_mutex_lock(&flite_lock);
    cst_voice *v = voice_locked(index, load_ms);
    pthread_mutex_unlock(&flite_lock);
    if (!v) {
        snprintf(msg, cap, "flite could not register voice '%s'", rm__flite_voice_names[index]);
        return RM_ENODE;
    }
    return 0;
}

int rm__flite_open(int index, const char *text, rm__flite_text **out, char *msg, size_t cap)
{
    *out = NULL;
    double load_ms;
    int rc = rm__flite_load(index, &load_ms, msg, cap);
    if (rc != 0) return rc;
    rm__flite_text *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(msg, cap, "out of memory");
        return RM_ENOMEM;
    }
    pthread_mutex_lock(&flite_lock);
    t->voice = registered[index];
    t->rate = voices[index].rate;
    const cst_features *vf = t->voice->features;
    t->ts = ts_open_string(text, get_param_string(vf, "text_whitespace", cst_ts_default_whitespacesymbols),
                           get_param_string(vf, "text_singlecharsymbols", cst_ts_default_singlecharsymbols),
                           get_param_string(vf, "text_prepunctuation", cst_ts_default_prepunctuationsymbols),
                           get_param_string(vf, "text_postpunctuation", cst_ts_default_postpunctuationsymbols));
    t->breakfunc = feat_present(vf, "utt_break") ? val_breakfunc(feat_val(vf, "utt_break")) : default_utt_break;
    pthread_mutex_unlock(&flite_lock);
    if (!t->ts) {
        snprintf(msg, cap, "out of memory");
        rm__flite_close(t);
        return RM_ENOMEM;
    }
    *out = t;
    return 0;
}

static void append_token(cst_relation *tokens, const char *name, const char *ws, const char *pre, const char *post)
{
    cst_item *it = relation_append(tokens, NULL);
    item_set_string(it, "name", name);
    item_set_string(it, "whitespace", ws);
    item_set_string(it, "prepunctuation", pre);
    item_set_string(it, "punc", post);
}

static void clear_pending(rm__flite_text *t)
{
    free(t->pending);
    free(t->pending_ws);
    free(t->pending_pre);
    free(t->pending_post);
    t->pending = t->pending_ws = t->pending_pre = t->pending_post = NULL;
}

/* Reads tokens into `tokens` up to the next utterance break; the token that
 * starts the next utterance is kept in t->pending.  Returns the token count,
 * or -1 when out of memory.  Caller holds flite_lock. */
static int read_sentence(rm__flite_text *t, cst_relation *tokens)
{
    int n = 0;
    if (t->pending) {
        append_token(tokens, t->pending, t->pending_ws, t->pending_pre, t->pending_post);
        clear_pending(t);
        n++;
    }
    while (!ts_eof(t->ts)) {
        const char *tok = ts_get(t->ts);
        if (!tok[0]) continue; /* trailing whitespace or punctuation */
        /* flite's own bound on one utterance, and its break rule (which
         * looks at the previous token's punctuation and this token) */
        if (n > 0 && (n > 500 || t->breakfunc(t->ts, tok, tokens))) {
            t->pending = strdup(tok);
            t->pending_ws = strdup(t->ts->whitespace);
            t->pending_pre = strdup(t->ts->prepunctuation);
            t->pending_post = strdup(t->ts->postpunctuation);
            if (!t->pending || !t->pending_ws || !t->pending_pre || !t->pending_post) return -1;
            return n;
        }
        append_token(tokens, tok, t->ts->whitespace, t->ts->prepunctuation, t->ts->postpunctuation);
        n++;
    }
    return n;
}

int rm__flite_next(rm__flite_text *t, double stretch, const int16_t **samples, size_t *n, char *msg, size_t cap)
{
    *samples = NULL;
    *n = 0;
    if (t->done) return 0;
    pthread_mutex_lock(&flite_lock);
    /* The clustergen voices (slt, rms, awb) draw their excitation noise from
     * libc rand(), so a sentence would sound slightly different depending on
     * what was synthesised before.  Give each sentence a private generator
     * with a fixed seed (with glibc, rand() draws from random()'s state) and
     * hand the host's state back afterwards: the same text always gives the
     * same audio, and the host's rand() sequence is not disturbed. */
    char rng_state[64];
    char *host_rng = initstate(1u, rng_state, sizeof rng_state);
    /* flite reports internal errors by longjmp through cst_errjmp (or exits
     * when it is unset); the lock makes the global safe to set. */
    jmp_buf env;
    cst_utterance *volatile utt = new_utterance();
    int volatile rc = 1;
    if (setjmp(env) == 0) {
        cst_errjmp = &env;
        int count = read_sentence(t, utt_relation_create(utt, "Token"));
        if (count < 0) {
            snprintf(msg, cap, "out of memory");
            rc = RM_ENOMEM;
        } else if (count == 0) {
            t->done = 1;
            rc = 0;
        } else {
            if (!t->pending) t->done = 1;
            feat_set_float(utt->features, "duration_stretch", (float)stretch);
            t->sink_rc = 0;
            t->streamed = 0;
            if (t->sink) {
                /* the utterance owns it (freed with the utterance) */
                cst_audio_streaming_info *asi = new_audio_streaming_info();
                asi->min_buffsize = (int)(t->rate / 50); /* 20 ms */
                asi->asc = stream_chunk;
                asi->userdata = t;
                feat_set(utt->features, "streaming_info", audio_streaming_info_val(asi));
            }
            /* flite_do_synth frees the utterance when synthesis fails */
            cst_utterance *u = flite_do_synth(utt, t->voice, utt_synth_tokens);
            utt = u;
            cst_wave *w = u ? utt_wave(u) : NULL;
            if (!u) {
                snprintf(msg, cap, "flite failed to synthesise a sentence");
                rc = RM_ENODE;
            } else if (t->sink) {
                *n = t->streamed; /* all of it went to the sink */
                if (t->sink_rc < 0) {
                    snprintf(msg, cap, "the audio sink stopped the sentence");
                    rc = t->sink_rc;
                }
            } else if (w && w->num_samples > 0) {
                size_t len = (size_t)w->num_samples;
                if (len > t->cap) {
                    int16_t *b = realloc(t->buf, len * sizeof *b);
                    if (!b) {
                        snprintf(msg, cap, "out of memory");
                        rc = RM_ENOMEM;
                    } else {
                        t->buf = b;
                        t->cap = len;
                    }
                }
                if (rc == 1) {
                    memcpy(t->buf, w->samples, len * sizeof *t->buf);
                    *samples = t->buf;
                    *n = len;
                }
            }
        }
    } else {
        snprintf(msg, cap, "flite reported an internal error");
        rc = RM_ENODE;
        utt = NULL; /* its state is unknown after the jump: leave it */
    }
    cst_errjmp = NULL;
    if (utt) delete_utterance(utt);
    setstate(host_rng);
    pthread_mutex_unlock(&flite_lock);
    if (rc < 0) t->done = 1;
    return rc;
}

void rm__flite_close(rm__flite_text *t)
{
    if (!t) return;
    if (t->ts) {
        pthread_mutex_lock(&flite_lock);
        ts_close(t->ts);
        pthread_mutex_unlock(&flite_lock);
    }
    clear_pending(t);
    free(t->buf);
    free(t);
}

__attribute__((destructor)) static void voices_cleanup(void)
{
    pthread_mutex_lock(&flite_lock);
    for (size_t i = 0; i < N_VOICES; i++) {
        if (registered[i]) voices[i].unreg(registered[i]);
        registered[i] = NULL;
    }
    pthread_mutex_unlock(&flite_lock);
}
