/*
 * Helpers shared by the speech tests and the speech benchmark: synthesise
 * with the TextToSpeech node, transcribe with the SpeechToText node (both
 * through the one-node harness, i.e. the public API), and score transcripts
 * by word error rate.
 */
#ifndef RM_TEST_SPEECH_UTIL_H
#define RM_TEST_SPEECH_UTIL_H

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "remotemedia/remotemedia.h"

/* Live heap bytes: ASan's allocator count in sanitizer builds (its malloc
 * replaces glibc's, so mallinfo2 would see nothing), glibc's otherwise. */
#if defined(__SANITIZE_ADDRESS__)
#define SP_HEAP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SP_HEAP_ASAN 1
#endif
#endif
#ifdef SP_HEAP_ASAN
/* From the sanitizer runtime (declared in <sanitizer/allocator_interface.h>,
 * which GCC does not install). */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

/* Mono f32 audio owned by the caller (free(samples)). */
typedef struct sp_audio {
    float *samples;
    size_t n;
    unsigned rate;
} sp_audio;

static inline void sp_audio_free(sp_audio *a)
{
    free(a->samples);
    a->samples = NULL;
    a->n = 0;
}

static inline int sp_audio_append(sp_audio *a, const float *x, size_t n)
{
    float *p = realloc(a->samples, (a->n + n) * sizeof *p);
    if (!p) return -1;
    a->samples = p;
    if (x) memcpy(p + a->n, x, n * sizeof *p);
    else memset(p + a->n, 0, n * sizeof *p);
    a->n += n;
    return 0;
}

/* Appends the audio frames of a harness' outputs (f32 or s16). */
static inline int sp_collect_audio(rm_harness *h, sp_audio *a)
{
    for (size_t i = 0; i < rm_harness_output_count(h); i++) {
        const rm_frame *f = rm_harness_output(h, i);
        if (f->kind != RM_FRAME_AUDIO) continue;
        a->rate = f->u.audio.rate;
        size_t at = a->n;
        if (sp_audio_append(a, NULL, f->u.audio.frames) != 0) return -1;
        if (f->u.audio.format == RM_SAMPLE_F32) {
            memcpy(a->samples + at, f->u.audio.data, f->u.audio.frames * sizeof(float));
        } else {
            const int16_t *s = f->u.audio.data;
            for (size_t k = 0; k < f->u.audio.frames; k++) a->samples[at + k] = s[k] / 32768.0f;
        }
    }
    return 0;
}

/* Synthesises `text` with TextToSpeech (`params` JSON).  Returns 0 or the
 * error code (message in err). */
static inline int sp_synth(rm_runtime *rt, const char *params, const char *text, sp_audio *out, rm_error *err)
{
    rm_harness *h;
    memset(out, 0, sizeof *out);
    int rc = rm_harness_new(rt, "TextToSpeech", params, &h, err);
    if (rc != 0) return rc;
    rm_frame *t = rm_frame_new_text(text, strlen(text));
    rc = t ? rm_harness_push(h, t) : RM_ENOMEM;
    rm_frame_unref(t);
    if (rc == 0) rc = rm_harness_end(h);
    if (rc != 0 && err) *err = *rm_harness_error(h);
    if (rc == 0 && sp_collect_audio(h, out) != 0) rc = RM_ENOMEM;
    rm_harness_free(h);
    return rc;
}

/* Pushes `a` (with `pad_ms` of silence before and after) in chunks of
 * `chunk_ms` into a harness. */
static inline int sp_push_audio(rm_harness *h, const sp_audio *a, unsigned chunk_ms, unsigned pad_ms)
{
    size_t pad = (size_t)a->rate * pad_ms / 1000, chunk = (size_t)a->rate * chunk_ms / 1000;
    size_t total = a->n + 2 * pad;
    int rc = 0;
    for (size_t at = 0; at < total && rc == 0; at += chunk) {
        size_t n = total - at < chunk ? total - at : chunk;
        rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, a->rate, 1, n);
        if (!f) return RM_ENOMEM;
        float *d = f->u.audio.data;
        for (size_t k = 0; k < n; k++) {
            size_t s = at + k;
            d[k] = s >= pad && s - pad < a->n ? a->samples[s - pad] : 0.0f;
        }
        f->timestamp_us = (int64_t)((double)at * 1e6 / a->rate);
        rc = rm_harness_push(h, f);
        rm_frame_unref(f);
    }
    return rc;
}

/* Joins the text frames a harness emitted on "out", space-separated.
 * Caller frees. */
static inline char *sp_transcript(rm_harness *h)
{
    size_t len = 0;
    char *s = calloc(1, 1);
    for (size_t i = 0; s && i < rm_harness_output_count(h); i++) {
        const rm_frame *f = rm_harness_output(h, i);
        if (f->kind != RM_FRAME_TEXT || strcmp(rm_harness_output_port(h, i), "out") != 0) continue;
        char *p = realloc(s, len + f->u.text.len + 2);
        if (!p) {
            free(s);
            return NULL;
        }
        s = p;
        if (len) s[len++] = ' ';
        memcpy(s + len, f->u.text.data, f->u.text.len);
        len += f->u.text.len;
        s[len] = '\0';
    }
    return s;
}

/* Transcribes `a` with SpeechToText (`params` JSON); returns the transcript
 * (caller frees) or NULL with *rc set. */
static inline char *sp_transcribe(rm_runtime *rt, const char *params, const sp_audio *a, int *rc, rm_error *err,
                           char **metrics)
{
    rm_harness *h;
    if (metrics) *metrics = NULL;
    *rc = rm_harness_new(rt, "SpeechToText", params, &h, err);
    if (*rc != 0) return NULL;
    *rc = sp_push_audio(h, a, 20, 400);
    if (*rc == 0) *rc = rm_harness_end(h);
    if (*rc != 0 && err) *err = *rm_harness_error(h);
    char *text = *rc == 0 ? sp_transcript(h) : NULL;
    if (metrics) *metrics = rm_harness_metrics_json(h);
    rm_harness_free(h);
    return text;
}

/* Lower-cases and splits into words (letters, digits, apostrophes); returns
 * the count, fills at most `cap` pointers into `buf` (modified). */
static inline size_t sp_words(char *buf, char **words, size_t cap)
{
    size_t n = 0;
    char *p = buf;
    while (*p) {
        while (*p && !isalnum((unsigned char)*p) && *p != '\'') p++;
        if (!*p) break;
        char *w = p;
        while (*p && (isalnum((unsigned char)*p) || *p == '\'')) {
            *p = (char)tolower((unsigned char)*p);
            p++;
        }
        if (*p) *p++ = '\0';
        if (n < cap) words[n] = w;
        n++;
    }
    return n < cap ? n : cap;
}

/* Word-level edit distance between reference and hypothesis; *ref_words gets
 * the reference length. */
static inline size_t sp_word_errors(const char *ref, const char *hyp, size_t *ref_words)
{
    char *r = strdup(ref ? ref : ""), *h = strdup(hyp ? hyp : "");
    size_t cap_r = strlen(r) / 2 + 1, cap_h = strlen(h) / 2 + 1;
    char **rw = malloc(cap_r * sizeof *rw), **hw = malloc(cap_h * sizeof *hw);
    size_t nr = sp_words(r, rw, cap_r), nh = sp_words(h, hw, cap_h);
    size_t *prev = malloc((nh + 1) * sizeof *prev), *cur = malloc((nh + 1) * sizeof *cur);
    for (size_t j = 0; j <= nh; j++) prev[j] = j;
    for (size_t i = 1; i <= nr; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= nh; j++) {
            size_t sub = prev[j - 1] + (strcmp(rw[i - 1], hw[j - 1]) != 0);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        size_t *t = prev;
        prev = cur;
        cur = t;
    }
    size_t d = prev[nh];
    free(prev);
    free(cur);
    free(rw);
    free(hw);
    free(r);
    free(h);
    *ref_words = nr;
    return d;
}

/* Reads the non-comment, non-empty lines of a file (caller frees each and
 * the array).  Returns the count, 0 on error. */
static inline size_t sp_read_lines(const char *path, char ***out)
{
    FILE *fp = fopen(path, "r");
    *out = NULL;
    if (!fp) return 0;
    char line[512];
    size_t n = 0;
    char **v = NULL;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        char **p = realloc(v, (n + 1) * sizeof *v);
        if (!p) break;
        v = p;
        v[n++] = strdup(line);
    }
    fclose(fp);
    *out = v;
    return n;
}

/* A number from a metrics JSON text: the first "key": value after the
 * first occurrence of `after` (NULL = from the start).  NaN if absent. */
static inline double sp_metric(const char *json, const char *after, const char *key)
{
    const char *p = json;
    if (!p) return NAN;
    if (after && !(p = strstr(p, after))) return NAN;
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(p, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* A stream of `n` sentences (same rate, mono) taken from index `first` on
 * (wrapping), each followed by a pause; pause j lasts 500 + ((j * 7 + seed *
 * 3) mod 10) * 100 ms (0.5-1.4 s).  At least `min_ms` long when min_ms > 0
 * (sentences are added until then; n is ignored), after `lead_ms` of
 * silence.  speech_ends (optional, room for every sentence) gets the sample
 * index where each sentence ends, *n_ends their number. */
static inline void sp_make_stream(const sp_audio *sent, size_t n_sent, size_t first, size_t n, unsigned seed,
                                  double min_ms, unsigned lead_ms, sp_audio *out, size_t *speech_ends, size_t *n_ends)
{
    unsigned rate = sent[0].rate;
    memset(out, 0, sizeof *out);
    out->rate = rate;
    sp_audio_append(out, NULL, (size_t)rate * lead_ms / 1000);
    *n_ends = 0;
    for (size_t j = 0; min_ms > 0 ? (double)out->n * 1000.0 / rate < min_ms : j < n; j++) {
        const sp_audio *a = &sent[(first + j) % n_sent];
        sp_audio_append(out, a->samples, a->n);
        if (speech_ends) speech_ends[*n_ends] = out->n;
        (*n_ends)++;
        sp_audio_append(out, NULL, (size_t)rate * (500 + ((j * 7 + seed * 3) % 10) * 100) / 1000);
    }
}

/* Bytes currently allocated on the heap by the whole process. */
static inline size_t sp_heap_bytes(void)
{
#ifdef SP_HEAP_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

/* 1 when node `node` of a running session has processed every frame sent to
 * it: its completed calls (counted after each call returns) reach the
 * frames on the links into it.  Frames already processed cannot be told
 * from frames still queued any other way from outside.  -1 on error. */
static inline int sp_node_drained(rm_session *s, const char *node)
{
    char *m = rm_session_metrics_json(s);
    json_t *j = m ? json_loads(m, 0, NULL) : NULL;
    free(m);
    if (!j) return -1;
    json_t *n = json_object_get(json_object_get(j, "node_metrics"), node);
    double calls = json_number_value(json_object_get(n, "calls")), sent = 0;
    size_t len = strlen(node), i;
    json_t *l;
    json_array_foreach(json_object_get(j, "links"), i, l) {
        const char *to = json_string_value(json_object_get(l, "to"));
        if (to && strncmp(to, node, len) == 0 && to[len] == '.') sent += json_number_value(json_object_get(l, "frames"));
    }
    int found = n != NULL;
    json_decref(j);
    return found ? calls >= sent : -1;
}

/* Waits (polling every 0.2 ms) until sp_node_drained() or `timeout_s`
 * passes.  Returns 0 when drained, -1 otherwise. */
static inline int sp_wait_drained(rm_session *s, const char *node, double timeout_s)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int d = sp_node_drained(s, node);
        if (d) return d > 0 ? 0 : -1;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > timeout_s) return -1;
        struct timespec nap = {0, 200000};
        nanosleep(&nap, NULL);
    }
}

/* Loads a manifest file and compiles it; on failure prints the
 * diagnostics and returns NULL. */
static inline rm_graph *sp_load_graph(rm_runtime *rt, const char *path)
{
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    if (rm_graph_load_file(rt, path, NULL, &g, d) != 0) {
        char *msg = rm_diags_to_string(d);
        fprintf(stderr, "%s: %s\n", path, msg ? msg : "does not compile");
        free(msg);
    }
    rm_diags_free(d);
    return g;
}

#endif
