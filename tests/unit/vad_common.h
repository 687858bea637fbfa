/*
 * Shared by the VAD and SpeechSegmenter tests: builds the test audio with
 * tests/audio/gen_vad_audio.py into a temporary directory (deterministic),
 * loads it, runs a VAD over it and scores the result against the labels
 * the generator derived from the clean speech.
 */
#ifndef RM_TEST_VAD_COMMON_H
#define RM_TEST_VAD_COMMON_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remotemedia/remotemedia.h"

#define VT_MAX_UTT 64
#define VT_MAX_SEG 512

typedef struct vt_audio {
    float *x;
    size_t n;
    uint32_t rate;
} vt_audio;

typedef struct vt_truth {
    char *labels; /* '0'/'1' per 10 ms frame */
    size_t n_labels;
    double utt[VT_MAX_UTT][2]; /* start_ms, end_ms */
    size_t n_utt;
} vt_truth;

/* Speech segments from start/end events, in ms. */
typedef struct vt_segs {
    double s[VT_MAX_SEG][2];
    size_t n;
    size_t starts, ends;
    int unmatched_end; /* an end without a start, or two starts in a row */
} vt_segs;

static char vt_dir[256];

static inline void vt_cleanup(void)
{
    if (!vt_dir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", vt_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", vt_dir);
    vt_dir[0] = '\0';
}

/* Runs the generator once; returns 0 on success. */
static inline int vt_generate(void)
{
    snprintf(vt_dir, sizeof vt_dir, "%s/rm-vad-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(vt_dir)) {
        perror("mkdtemp");
        vt_dir[0] = '\0';
        return -1;
    }
    atexit(vt_cleanup);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/audio/gen_vad_audio.py' '%s'", RM_SOURCE_DIR, vt_dir);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "test audio generator failed (%d): %s\n", rc, cmd);
    return rc;
}

static inline int vt_load(const char *name, uint32_t rate, vt_audio *a)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.f32", vt_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    a->n = (size_t)bytes / sizeof(float);
    a->x = malloc(a->n * sizeof(float) + 1);
    a->rate = rate;
    size_t got = a->x ? fread(a->x, sizeof(float), a->n, f) : 0;
    fclose(f);
    return got == a->n ? 0 : -1;
}

static inline int vt_load_truth(vt_truth *t, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", vt_dir, file);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    static char line[1 << 16];
    memset(t, 0, sizeof *t);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "labels ", 7)) {
            size_t n = strcspn(line + 7, "\n");
            t->labels = malloc(n + 1);
            memcpy(t->labels, line + 7, n);
            t->labels[n] = '\0';
            t->n_labels = n;
        } else if (!strncmp(line, "utt ", 4) && t->n_utt < VT_MAX_UTT) {
            if (sscanf(line + 4, "%lf %lf", &t->utt[t->n_utt][0], &t->utt[t->n_utt][1]) == 2) t->n_utt++;
        }
    }
    fclose(f);
    return t->labels && t->n_utt ? 0 : -1;
}

static inline double vt_num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : -1;
}

/* Adds one VAD event frame to the segments. */
static inline void vt_add_event(vt_segs *s, const rm_frame *f)
{
    const json_t *o = f->u.json.value;
    double t = vt_num(o, "timestamp_ms");
    if (json_is_true(json_object_get(o, "is_speech_start"))) {
        if (s->starts != s->ends) s->unmatched_end = 1;
        s->starts++;
        if (s->n < VT_MAX_SEG) s->s[s->n][0] = t, s->s[s->n][1] = -1;
    } else if (json_is_true(json_object_get(o, "is_speech_end"))) {
        if (s->ends >= s->starts) {
            s->unmatched_end = 1;
            return;
        }
        s->ends++;
        if (s->n < VT_MAX_SEG) s->s[s->n++][1] = t;
    }
}

/* Mono/stereo, f32/s16 frames of `chunk` samples from mono float audio. */
static inline rm_frame *vt_chunk(const vt_audio *a, size_t off, size_t len, rm_sample_format fmt, uint32_t ch)
{
    rm_frame *f = rm_frame_new_audio(fmt, a->rate, ch, len);
    for (size_t i = 0; i < len; i++) {
        float v = a->x[off + i];
        for (uint32_t c = 0; c < ch; c++) {
            /* stereo: the right channel is the left one attenuated 6 dB */
            float s = c == 0 ? v : v * 0.5f;
            if (fmt == RM_SAMPLE_F32) {
                ((float *)f->u.audio.data)[i * ch + c] = s;
            } else {
                double q = s * 32768.0;
                q = q > 32767 ? 32767 : q < -32768 ? -32768 : q;
                ((int16_t *)f->u.audio.data)[i * ch + c] = (int16_t)lrint(q);
            }
        }
    }
    return f;
}

/* Runs node_type with params over `a` in chunks of chunk_ms (varied when
 * `jitter`), collects its events.  Returns the harness status. */
static inline int vt_run_vad(rm_runtime *rt, const char *node_type, const char *params, const vt_audio *a,
                      double chunk_ms, int jitter, rm_sample_format fmt, uint32_t ch, vt_segs *out)
{
    memset(out, 0, sizeof *out);
    rm_harness *h;
    rm_error err;
    int rc = rm_harness_new(rt, node_type, params, &h, &err);
    if (rc != 0) {
        fprintf(stderr, "harness: %s\n", err.message);
        return rc;
    }
    size_t base = (size_t)(chunk_ms * a->rate / 1000.0), off = 0;
    unsigned k = 0;
    while (rc == 0 && off < a->n) {
        size_t len = jitter ? base / 2 + (k++ * 7919u) % (base + 1) : base; /* 0.5..1.5 x chunk */
        if (len == 0) len = 1;
        if (len > a->n - off) len = a->n - off;
        rm_frame *f = vt_chunk(a, off, len, fmt, ch);
        rc = rm_harness_push(h, f);
        rm_frame_unref(f);
        off += len;
        for (size_t i = 0; i < rm_harness_output_count(h); i++)
            if (!strcmp(rm_harness_output_port(h, i), "events")) vt_add_event(out, rm_harness_output(h, i));
        rm_harness_clear(h);
    }
    if (rc == 0) rc = rm_harness_end(h);
    for (size_t i = 0; i < rm_harness_output_count(h); i++)
        if (!strcmp(rm_harness_output_port(h, i), "events")) vt_add_event(out, rm_harness_output(h, i));
    if (rc != 0) fprintf(stderr, "run: %s\n", rm_harness_error(h)->message);
    rm_harness_free(h);
    return rc;
}

/* Frame-level F1 of the segments against the 10 ms labels (a frame is
 * detected as speech when its centre lies inside a segment). */
static inline double vt_f1(const vt_truth *t, const vt_segs *s, double *precision, double *recall)
{
    size_t tp = 0, fp = 0, fn = 0, j = 0;
    for (size_t i = 0; i < t->n_labels; i++) {
        double c = i * 10.0 + 5.0;
        while (j < s->n && s->s[j][1] >= 0 && s->s[j][1] < c) j++;
        int det = j < s->n && s->s[j][0] <= c && (s->s[j][1] < 0 || c < s->s[j][1]);
        int lab = t->labels[i] == '1';
        tp += det && lab;
        fp += det && !lab;
        fn += !det && lab;
    }
    double p = tp + fp ? (double)tp / (tp + fp) : 0, r = tp + fn ? (double)tp / (tp + fn) : 0;
    if (precision) *precision = p;
    if (recall) *recall = r;
    return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

/* Boundary errors against the true utterances (separated by >= 300 ms of
 * silence by construction): the start of the first detected segment that
 * overlaps an utterance against its start, the end of the last one against
 * its end (a pause inside an utterance may split it).  `shift` is added to
 * starts and subtracted from ends first (to take a pad out).  Returns the
 * largest error in ms, 1e9 when an utterance is missed or one segment spans
 * two utterances. */
static inline double vt_boundary_error(const vt_truth *t, const vt_segs *s, double shift, double *max_start,
                                double *max_end)
{
    double ms = 0, me = 0;
    for (size_t u = 0; u < t->n_utt; u++) {
        double a = t->utt[u][0], b = t->utt[u][1];
        long first = -1, last = -1;
        for (size_t j = 0; j < s->n; j++) {
            if (s->s[j][1] < 0 || s->s[j][1] <= a || s->s[j][0] >= b) continue;
            if (first < 0) first = (long)j;
            last = (long)j;
        }
        int spans = first >= 0 && ((u > 0 && s->s[first][0] < t->utt[u - 1][1]) ||
                                   (u + 1 < t->n_utt && s->s[last][1] > t->utt[u + 1][0]));
        if (first < 0 || spans) {
            ms = me = 1e9;
            break;
        }
        double es = fabs(s->s[first][0] + shift - a), ee = fabs(s->s[last][1] - shift - b);
        if (es > ms) ms = es;
        if (ee > me) me = ee;
    }
    *max_start = ms;
    *max_end = me;
    return ms > me ? ms : me;
}

#endif
