/*
 * Speech benchmark (issue 4; docs/benchmarks.md "Speech").  Prints ROW lines
 * for scripts/bench:
 *
 *  1. model load: the first SpeechToText in a process, and a pooled reuse;
 *  2. STT real-time factor, median over the sentence set (tests/data/
 *     sentences.txt, voices slt/rms/awb/kal16 in turn), each sentence in its
 *     own one-node session, one decoding pass: node time / sentence duration,
 *     the fastest of three identical runs per sentence;
 *     TTS real-time factor over the same sentences;
 *  3. TTS time to first audio for a three-sentence text;
 *  4. end of speech → final transcript through examples/transcribe.yaml
 *     (AudioResample → ChannelMixer → VAD → SpeechToText in vad_events mode),
 *     all sentences in one stream, 1 s apart: from the moment the VAD emits
 *     its is_speech_end event (a PassThrough tap on vad.events, an output
 *     callback on the pushing thread) to the moment the transcript frame
 *     reaches the output callback (on the recogniser's worker thread).  The
 *     audio is pushed in 20 ms chunks as fast as the recogniser takes it,
 *     except that every chunk of a pause waits until the recogniser has
 *     processed everything before it: when the VAD decides that speech has
 *     ended, the recogniser is idle, as it is in real time at RTF < 1;
 *  5. concurrent sessions: N transcribe.yaml sessions, each fed its own
 *     ~20 s speech stream (the synthesised sentences in a different order,
 *     with different pauses, after a different lead-in of silence per
 *     session) in 20 ms chunks paced at real time by one feeder thread,
 *     N = 1, 2, 4, 8, … then bisected.  A session's first utterance is
 *     decoded twice (second_pass: first), a one-off cost per session: its
 *     latency is reported on its own (the worst over the sessions).  N
 *     sessions keep up when, over the other utterances, end of speech →
 *     transcript p99 ≤ 1 s, the last transcript arrives ≤ 1 s after the
 *     streams end, and the feeder held its schedule (p99 lateness ≤ 50 ms).
 *     Reported per N: p50/p99, the first utterances' worst, tail, the
 *     process's CPU time / wall time (100% = one core) and the whole
 *     machine's busy share (/proc/stat, 100% = every core: it is shared).
 *
 * All audio is made by the TextToSpeech node at 16 kHz.
 *
 *   bench_speech [--quick] [--manifest FILE] [--sentences FILE]
 *                [--stream-s S] [--max-sessions N] [--tables] [--long-min M]
 *
 * --tables prints docs/speech.md's per-voice tables (word error rate and
 * real-time factors over all four voices; ~4 minutes) instead of the rows.
 * --long-min M runs only the long stream: M minutes of speech and pauses
 * through one transcribe.yaml session as fast as it goes, sampling RSS and
 * heap bytes each minute (the hour-long memory check: --long-min 60).
 */
#define _GNU_SOURCE /* mallinfo2, through speech_util.h */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"
#include "speech_util.h"

#define RATE 16000
#define CHUNK 320 /* 20 ms */

static double now_ms(void) { return (double)bench_now_ns() / 1e6; }

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *loadavg(void)
{
    static char buf[64];
    FILE *f = fopen("/proc/loadavg", "r");
    snprintf(buf, sizeof buf, "?");
    if (f) {
        if (fscanf(f, "%63s", buf) != 1) snprintf(buf, sizeof buf, "?");
        fclose(f);
    }
    return buf;
}

/* Busy and total jiffies of the whole machine (first line of /proc/stat). */
static void machine_jiffies(double *busy, double *total)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    *busy = *total = 0;
    if (!f) return;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
               &v[7]) == 8) {
        for (int i = 0; i < 8; i++) *total += (double)v[i];
        *busy = *total - (double)v[3] - (double)v[4]; /* minus idle and iowait */
    }
    fclose(f);
}

static void die_err(const char *what, const rm_error *err)
{
    fprintf(stderr, "bench_speech: %s: %s\n", what, err->message);
    exit(2);
}

/* ------------------------------------------------ transcribe sessions --- */

#define MAX_EVENTS 512

/* One transcribe.yaml session with its observations.  end_* is written by
 * the pushing thread (the tap runs there), text_* by the recogniser's
 * worker; both are read after rm_session_end(). */
typedef struct tsess {
    rm_session *s;
    uint64_t pos;                   /* samples pushed, the current chunk included */
    double end_at[MAX_EVENTS];      /* when the VAD emitted is_speech_end (ms) */
    double end_pos_ms[MAX_EVENTS];  /* stream position then */
    size_t n_end;
    double text_at[MAX_EVENTS];     /* when the transcript frame arrived (ms) */
    double text_end_ms[MAX_EVENTS]; /* its metadata end_ms */
    atomic_size_t n_text;
} tsess;

static void tsess_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    double t = now_ms();
    tsess *ts = user;
    (void)port;
    if (strcmp(node_id, "vad_tap") == 0 && f->kind == RM_FRAME_JSON) {
        if (json_is_true(json_object_get(f->u.json.value, "is_speech_end")) && ts->n_end < MAX_EVENTS) {
            ts->end_at[ts->n_end] = t;
            ts->end_pos_ms[ts->n_end] = (double)ts->pos * 1000.0 / RATE;
            ts->n_end++;
        }
    } else if (strcmp(node_id, "stt") == 0 && f->kind == RM_FRAME_TEXT) {
        size_t i = atomic_load(&ts->n_text);
        if (i < MAX_EVENTS) {
            const char *e = rm_frame_meta_get(f, "end_ms");
            ts->text_at[i] = t;
            ts->text_end_ms[i] = e ? atof(e) : NAN;
            atomic_store(&ts->n_text, i + 1);
        }
    }
}

/* examples/transcribe.yaml plus a PassThrough sink "vad_tap" on vad.events,
 * so the VAD's events reach the output callback as they are emitted (the
 * tap's link comes first: it is served before the recogniser's queue). */
static rm_graph *transcribe_graph(rm_runtime *rt, const char *path)
{
    rm_diags *d = rm_diags_new();
    rm_manifest *m = NULL;
    if (rm_manifest_load_file(path, &m, d) != 0) {
        char *s = rm_diags_to_string(d);
        fprintf(stderr, "bench_speech: %s", s ? s : path);
        exit(2);
    }
    json_t *doc = json_deep_copy(rm_manifest_json(m));
    rm_manifest_free(m);
    json_t *nodes = json_object_get(doc, "nodes"), *links = json_object_get(doc, "connections");
    if (!json_is_array(nodes) || !json_is_array(links)) {
        fprintf(stderr, "bench_speech: %s: no nodes/connections lists\n", path);
        exit(2);
    }
    json_array_append_new(nodes, json_pack("{s:s, s:s}", "id", "vad_tap", "node_type", "PassThrough"));
    json_array_insert_new(links, 0, json_pack("{s:s, s:s}", "from", "vad.events", "to", "vad_tap"));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    rm_graph *g = NULL;
    rm_diags_clear(d);
    if (rm_graph_load_string(rt, text, strlen(text), path, NULL, &g, d) != 0) {
        char *s = rm_diags_to_string(d);
        fprintf(stderr, "bench_speech: %s with a tap on vad.events (needs nodes vad and stt):\n%s", path, s ? s : "");
        exit(2);
    }
    free(text);
    rm_diags_free(d);
    return g;
}

static void tsess_open(tsess *ts, rm_graph *g)
{
    memset(ts, 0, sizeof *ts);
    rm_session_opts so = {0};
    so.on_output = tsess_output;
    so.output_user = ts;
    rm_error err;
    if (rm_session_open(g, &so, &ts->s, &err) != 0) die_err("rm_session_open", &err);
}

/* Pushes samples [at, at + n) of `a` (zeros past its end) as one chunk. */
static void tsess_push(tsess *ts, const sp_audio *a, size_t at, size_t n)
{
    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, RATE, 1, n);
    if (!f) abort();
    float *d = f->u.audio.data;
    for (size_t k = 0; k < n; k++) d[k] = at + k < a->n ? a->samples[at + k] : 0.0f;
    f->timestamp_us = (int64_t)(ts->pos * 1000000 / RATE);
    ts->pos += n;
    int rc = rm_session_push(ts->s, f);
    rm_frame_unref(f);
    if (rc != 0) {
        fprintf(stderr, "bench_speech: push failed: %s\n", rm_session_error(ts->s)->message);
        exit(2);
    }
}

/* Latency of each speech end with a transcript (appended to lat), for
 * speech ends [from, to).  A transcript belongs to the speech end that
 * closed its utterance: its last word ends after the previous speech end's
 * stream position and no later than this one's.  Returns the number of
 * speech ends without a transcript. */
static size_t tsess_match(const tsess *ts, size_t from, size_t to, double *lat, size_t *n_lat)
{
    size_t missing = 0, n_text = atomic_load(&ts->n_text);
    if (to > ts->n_end) to = ts->n_end;
    for (size_t i = from; i < to; i++) {
        double lo = i ? ts->end_pos_ms[i - 1] : -INFINITY, hi = ts->end_pos_ms[i];
        size_t k = 0;
        while (k < n_text && !(ts->text_end_ms[k] > lo && ts->text_end_ms[k] <= hi)) k++;
        if (k == n_text) missing++;
        else lat[(*n_lat)++] = ts->text_at[k] - ts->end_at[i];
    }
    return missing;
}

/* --------------------------------------------------------------- audio --- */

static const char *const voices[] = {"slt", "rms", "awb", "kal16"};
#define N_VOICES 4

/* Sentence i in voice i mod 4, 16 kHz; *synth_ms gets the synthesis time. */
static void synth_sentence(rm_runtime *rt, const char *text, size_t i, sp_audio *a, double *synth_ms)
{
    char params[64];
    rm_error err;
    snprintf(params, sizeof params, "{\"voice\":\"%s\"}", voices[i % N_VOICES]);
    double t0 = now_ms();
    if (sp_synth(rt, params, text, a, &err) != 0) die_err("TextToSpeech", &err);
    *synth_ms = now_ms() - t0;
    if (a->rate != RATE) {
        fprintf(stderr, "bench_speech: voice %s gives %u Hz, expected %d\n", voices[i % N_VOICES], a->rate, RATE);
        exit(2);
    }
}

/* ------------------------------------------------------------- parts --- */

static void bench_model_load(rm_runtime *rt)
{
    double load[2];
    size_t rss0 = bench_rss_bytes(), rss1 = 0;
    for (int k = 0; k < 2; k++) {
        rm_harness *h;
        rm_error err;
        if (rm_harness_new(rt, "SpeechToText", NULL, &h, &err) != 0) die_err("SpeechToText", &err);
        char *m = rm_harness_metrics_json(h);
        load[k] = sp_metric(m, NULL, "model_load_ms");
        free(m);
        if (k == 0) rss1 = bench_rss_bytes();
        rm_harness_free(h);
    }
    bench_row("STT model load, first SpeechToText in the process (en-us acoustic model, dictionary, LM)",
              bench_fmt("%.0f ms (+%.0f MB RSS)", load[0], (double)(rss1 - rss0) / 1048576.0), "-", "-", "info");
    bench_row("  STT model load, next instance (pooled decoder reused)", bench_fmt("%.3f ms", load[1]), "-", "-",
              "info");
}

/* Each sentence transcribed in its own session, one decoding pass, three
 * times: the decoding is deterministic (the same words and work each time),
 * so the fastest of the three is that work without the shared machine's
 * interference; the median over sentences is reported. */
static void bench_rtf(rm_runtime *rt, char **text, const sp_audio *sent, const double *synth_ms, size_t n)
{
    double *rtf = calloc(n, sizeof *rtf), *cpu = calloc(n, sizeof *cpu), *tts = calloc(n, sizeof *tts);
    double audio_s = 0;
    size_t errs = 0, words = 0;
    for (size_t i = 0; i < n; i++) {
        double dur_ms = (double)sent[i].n * 1000.0 / RATE;
        char *hyp = NULL;
        rtf[i] = cpu[i] = INFINITY;
        for (int rep = 0; rep < 3; rep++) {
            int rc;
            rm_error err;
            char *metrics = NULL;
            free(hyp);
            double c0 = cpu_ms();
            hyp = sp_transcribe(rt, "{\"second_pass\":\"off\"}", &sent[i], &rc, &err, &metrics);
            if (rc != 0) die_err("SpeechToText", &err);
            double c = (cpu_ms() - c0) / dur_ms;
            /* node time over the sentence's own duration (sp_transcribe pads
             * 400 ms of silence each side, which the node decodes too) */
            double w = sp_metric(metrics, "\"node_metrics\"", "total_us") / 1000.0 / dur_ms;
            if (c < cpu[i]) cpu[i] = c;
            if (w < rtf[i]) rtf[i] = w;
            free(metrics);
        }
        tts[i] = synth_ms[i] / dur_ms;
        size_t nw;
        errs += sp_word_errors(text[i], hyp, &nw);
        words += nw;
        audio_s += dur_ms / 1000.0;
        free(hyp);
        bench_progress("STT real-time factor: %zu/%zu", i + 1, n);
    }
    bench_progress_done();
    double m = bench_median(rtf, n);
    bench_row(bench_fmt("STT real-time factor, median over %zu sentences (4 voices, %.0f s), one pass, "
                        "node time / speech time, best of 3",
                        n, audio_s),
              bench_fmt("%.3f (CPU %.3f)", m, bench_median(cpu, n)), "target <= 0.3", bench_fmt("%.2f", m / 0.3),
              bench_verdict_max(m, 0.3));
    bench_row("  word error rate of those transcripts (single pass, each sentence alone)",
              bench_fmt("%.1f%% (%zu/%zu words)", 100.0 * (double)errs / (double)words, errs, words), "-", "-",
              "info");
    double t = bench_median(tts, n);
    bench_row(bench_fmt("TTS real-time factor, median over the same %zu sentences (synthesis / audio time)", n),
              bench_fmt("%.4f", t), "-", "-", bench_fmt("info: %.0fx faster than real time", 1.0 / t));
    free(rtf);
    free(cpu);
    free(tts);
}

static void ttfa_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    (void)port;
    (void)f;
    _Atomic double *first = user;
    double zero = 0, t = now_ms();
    atomic_compare_exchange_strong(first, &zero, t);
}

static void bench_ttfa(rm_runtime *rt, int quick)
{
    const char *text = "Turn on the kitchen lights. The weather is nice today, and I will go for a walk. "
                       "Please call me back later.";
    const char *manifest = "{\"version\":\"v1\",\"nodes\":[{\"id\":\"tts\",\"node_type\":\"TextToSpeech\","
                           "\"params\":{\"voice\":\"slt\"}}],\"connections\":[]}";
    rm_graph *g = bench_graph(rt, manifest, "tts");
    int runs = quick ? 5 : 21;
    double ttfa[21], total[21];
    for (int r = 0; r < runs; r++) {
        _Atomic double first = 0;
        rm_session_opts so = {0};
        so.on_output = ttfa_output;
        so.output_user = &first;
        rm_session *s;
        rm_error err;
        if (rm_session_open(g, &so, &s, &err) != 0) die_err("rm_session_open", &err);
        rm_frame *f = rm_frame_new_text(text, strlen(text));
        double t0 = now_ms();
        if (rm_session_push(s, f) != 0 || rm_session_end(s) != 0) die_err("TextToSpeech", rm_session_error(s));
        total[r] = now_ms() - t0;
        ttfa[r] = atomic_load(&first) - t0;
        rm_frame_unref(f);
        rm_session_close(s);
    }
    rm_graph_unref(g);
    double m = bench_median(ttfa, (size_t)runs);
    bench_row(bench_fmt("TTS time to first audio, 3-sentence text (slt, session, output callback), median of %d", runs),
              bench_fmt("%.1f ms (p90 %.1f)", m, bench_quantile(ttfa, (size_t)runs, 0.9)), "target <= 50 ms",
              bench_fmt("%.2f", m / 50.0), bench_verdict_max(m, 50.0));
    bench_row("  TTS whole 3-sentence text (push to end of stream)",
              bench_fmt("%.1f ms", bench_median(total, (size_t)runs)), "-", "-", "info");
}

/* All sentences as one stream through transcribe.yaml; see the header. */
static void bench_latency(rm_graph *g, const sp_audio *sent, size_t n)
{
    sp_audio st;
    size_t *ends = calloc(n, sizeof *ends), n_ends;
    sp_make_stream(sent, n, 0, n, 0, 0, 500, &st, ends, &n_ends);
    tsess *ts = malloc(sizeof *ts);
    tsess_open(ts, g);
    size_t e = 0;
    double c0 = cpu_ms(), t0 = now_ms();
    for (size_t at = 0; at < st.n; at += CHUNK) {
        while (e < n_ends && ends[e] <= at) e++;
        /* in a pause (past a sentence's end, before the next one starts):
         * the recogniser catches up before each chunk */
        int in_pause = e > 0 && (e == n_ends || at + CHUNK <= ends[e] - sent[e % n].n);
        if (in_pause && sp_wait_drained(ts->s, "stt", 60) != 0) {
            fprintf(stderr, "bench_speech: the recogniser did not catch up within 60 s\n");
            exit(2);
        }
        tsess_push(ts, &st, at, st.n - at < CHUNK ? st.n - at : CHUNK);
        bench_progress("end-of-speech latency: %.0f/%.0f s of audio", (double)at / RATE, (double)st.n / RATE);
    }
    bench_progress_done();
    if (rm_session_end(ts->s) != 0) {
        fprintf(stderr, "bench_speech: %s\n", rm_session_error(ts->s)->message);
        exit(2);
    }
    double wall = now_ms() - t0, cpu = cpu_ms() - c0;
    char *m = rm_session_metrics_json(ts->s);
    double stt_ms = sp_metric(m, "\"stt\"", "total_us") / 1000.0;
    free(m);
    double lat[MAX_EVENTS], first[1];
    size_t n_lat = 0, n_first = 0;
    /* the first utterance on its own: it is decoded twice (second_pass: first) */
    size_t missing = tsess_match(ts, 1, ts->n_end, lat, &n_lat);
    size_t missing_first = tsess_match(ts, 0, 1, first, &n_first);
    double audio_ms = (double)st.n * 1000.0 / RATE;
    fprintf(stderr, "bench_speech: latency stream %.0f s, %zu speech ends, %zu transcripts, %.1f s wall, %.1f s CPU\n",
            audio_ms / 1000, ts->n_end, atomic_load(&ts->n_text), wall / 1000, cpu / 1000);
    if (n_lat) {
        double p50 = bench_quantile(lat, n_lat, 0.5), p99 = bench_quantile(lat, n_lat, 0.99);
        const char *what = "end of speech -> final transcript, transcribe.yaml (VAD speech-end event to text frame)";
        bench_row(bench_fmt("%s, p50 over %zu utterances", what, n_lat), bench_fmt("%.1f ms", p50), "target <= 150 ms",
                  bench_fmt("%.2f", p50 / 150.0), bench_verdict_max(p50, 150.0));
        bench_row(bench_fmt("%s, p99 (max of %zu)", what, n_lat), bench_fmt("%.1f ms", p99), "target <= 300 ms",
                  bench_fmt("%.2f", p99 / 300.0), bench_verdict_max(p99, 300.0));
    } else {
        bench_row("end of speech -> final transcript, transcribe.yaml", "no transcripts", "-", "-", "FAILED");
    }
    bench_row("  the stream's first utterance (decoded twice: second_pass first)",
              n_first ? bench_fmt("%.1f ms", first[0]) : "no transcript", "-", "-", "info");
    bench_row(bench_fmt("  speech ends without a transcript (of %zu)", ts->n_end),
              bench_fmt("%zu", missing + missing_first), "-", "-", "info");
    bench_row(bench_fmt("STT real-time factor on that stream (%.0f s: speech, 0.5-1.4 s pauses; default settings)",
                        audio_ms / 1000),
              bench_fmt("%.3f", stt_ms / audio_ms), "-", "-", "info (recogniser node time / audio time)");
    rm_session_close(ts->s);
    free(ts);
    free(ends);
    sp_audio_free(&st);
}

/* ------------------------------------------------- concurrent sessions --- */

typedef struct trial {
    unsigned n;
    int ok;
    double p50, p99, tail, late_p99, cpu_pct, machine_pct;
    double first_max; /* worst latency of the sessions' first utterances (decoded twice) */
    size_t utts, missing;
} trial;

static int cmp_trial(const void *a, const void *b)
{
    const trial *x = a, *y = b;
    return (x->n > y->n) - (x->n < y->n);
}

/* N sessions, each with its own stream, paced at real time by this thread. */
static trial run_trial(rm_graph *g, const sp_audio *sent, size_t n_sent, unsigned n, double stream_s)
{
    trial r = {.n = n};
    sp_audio *streams = calloc(n, sizeof *streams);
    tsess **ts = calloc(n, sizeof *ts);
    size_t len = 0;
    for (unsigned k = 0; k < n; k++) {
        /* sessions arrive at different moments, as on a server: a lead-in of
         * 0.3-4.2 s silence, so their first utterances (decoded twice, see
         * second_pass) do not all end in the same instant */
        unsigned lead_ms = 300 + (k * 1300) % 4000;
        sp_make_stream(sent, n_sent, (size_t)k * 7, 0, k, stream_s * 1000.0, lead_ms, &streams[k], NULL,
                       &(size_t){0});
        if (streams[k].n > len) len = streams[k].n;
    }
    len = (len + CHUNK - 1) / CHUNK * CHUNK;
    for (unsigned k = 0; k < n; k++) {
        ts[k] = malloc(sizeof **ts);
        tsess_open(ts[k], g); /* loads a decoder unless the pool has one */
    }
    size_t ticks = len / CHUNK;
    double *late = calloc(ticks, sizeof *late);
    double b0, j0, b1, j1;
    machine_jiffies(&b0, &j0);
    double c0 = cpu_ms();
    uint64_t start = bench_now_ns();
    for (size_t t = 0; t < ticks; t++) {
        uint64_t due = start + (uint64_t)t * 20000000ull;
        struct timespec ts_due = {(time_t)(due / 1000000000ull), (long)(due % 1000000000ull)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts_due, NULL);
        for (unsigned k = 0; k < n; k++) tsess_push(ts[k], &streams[k], t * CHUNK, CHUNK);
        late[t] = (double)(bench_now_ns() - due) / 1e6;
    }
    double end_at = now_ms();
    double wall = (double)(bench_now_ns() - start) / 1e6, cpu = cpu_ms() - c0;
    machine_jiffies(&b1, &j1);
    for (unsigned k = 0; k < n; k++) rm_session_end(ts[k]->s);
    double *lat = malloc(sizeof(double) * MAX_EVENTS * n), *first = malloc(sizeof(double) * n);
    size_t n_lat = 0, n_first = 0;
    r.tail = r.first_max = -INFINITY;
    for (unsigned k = 0; k < n; k++) {
        r.missing += tsess_match(ts[k], 0, 1, first, &n_first);
        r.missing += tsess_match(ts[k], 1, ts[k]->n_end, lat, &n_lat);
        r.utts += ts[k]->n_end;
        size_t nt = atomic_load(&ts[k]->n_text);
        if (nt && ts[k]->text_at[nt - 1] - end_at > r.tail) r.tail = ts[k]->text_at[nt - 1] - end_at;
        rm_session_close(ts[k]->s);
        free(ts[k]);
        sp_audio_free(&streams[k]);
    }
    for (size_t i = 0; i < n_first; i++) r.first_max = fmax(r.first_max, first[i]);
    r.p50 = n_lat ? bench_quantile(lat, n_lat, 0.5) : INFINITY;
    r.p99 = n_lat ? bench_quantile(lat, n_lat, 0.99) : INFINITY;
    r.late_p99 = bench_quantile(late, ticks, 0.99);
    r.cpu_pct = 100.0 * cpu / wall;
    r.machine_pct = j1 > j0 ? 100.0 * (b1 - b0) / (j1 - j0) : NAN;
    r.ok = n_lat > 0 && r.p99 <= 1000.0 && r.tail <= 1000.0 && r.late_p99 <= 50.0;
    fprintf(stderr,
            "bench_speech: %u sessions: %zu utterances, %zu without transcript, p50 %.0f ms, p99 %.0f ms "
            "(first utterances: worst %.0f ms), tail %+.0f ms, feeder late p99 %.1f ms, CPU %.0f%%, "
            "machine %.0f%% busy, load %s: %s\n",
            n, r.utts, r.missing, r.p50, r.p99, r.first_max, r.tail, r.late_p99, r.cpu_pct, r.machine_pct, loadavg(),
            r.ok ? "keeps up" : "falls behind");
    free(lat);
    free(first);
    free(late);
    free(ts);
    free(streams);
    return r;
}

static void bench_concurrent(rm_graph *g, const sp_audio *sent, size_t n_sent, double stream_s, unsigned max_n,
                             int quick)
{
    trial tr[32];
    size_t n_tr = 0;
    unsigned good = 0, bad = 0; /* largest N that kept up, smallest that did not */
    for (unsigned n = 1; n <= max_n && n_tr < 32; n = n * 2 > max_n && n < max_n ? max_n : n * 2) {
        tr[n_tr] = run_trial(g, sent, n_sent, n, stream_s);
        if (tr[n_tr++].ok) good = n;
        else {
            bad = n;
            break;
        }
        if (quick && n >= 2) break;
        if (n == max_n) break;
    }
    while (bad && bad - good > 1 && n_tr < 32) { /* bisect */
        unsigned n = (good + bad) / 2;
        tr[n_tr] = run_trial(g, sent, n_sent, n, stream_s);
        if (tr[n_tr++].ok) good = n;
        else bad = n;
    }
    qsort(tr, n_tr, sizeof *tr, cmp_trial);
    for (size_t i = 0; i < n_tr; i++) {
        const trial *t = &tr[i];
        bench_row(bench_fmt("%u concurrent transcribe.yaml session%s, %.0f s streams at real time: "
                            "end of speech -> transcript p50 / p99 (first utterances: worst), tail, "
                            "CPU of one core (machine busy)",
                            t->n, t->n == 1 ? "" : "s", stream_s),
                  bench_fmt("%.0f / %.0f ms (%.0f ms), %+.0f ms, %.0f%% (%.0f%%)", t->p50, t->p99, t->first_max,
                            t->tail, t->cpu_pct, t->machine_pct),
                  "p99 <= 1 s, tail <= 1 s", bench_fmt("%.2f", t->p99 / 1000.0),
                  t->ok ? "keeps up" : bench_fmt("falls behind%s", t->late_p99 > 50 ? " (feeder late)" : ""));
    }
    bench_row("concurrent transcribe.yaml sessions in real time on this machine (largest N that keeps up)",
              good ? bench_fmt("%u", good) : "0", bench_fmt("%ld CPUs, shared", sysconf(_SC_NPROCESSORS_ONLN)), "-",
              bad ? bench_fmt("info: %u falls behind", bad) : bench_fmt("info: limit not reached (max %u)", max_n));
}

/* ----------------------------------------------------------- long run --- */

static void bench_long(rm_runtime *rt, const char *manifest, const sp_audio *sent, size_t n_sent, double minutes)
{
    rm_graph *g = transcribe_graph(rt, manifest);
    sp_audio cyc;
    size_t n_ends;
    sp_make_stream(sent, n_sent, 0, 0, 0, 60000.0, 0, &cyc, NULL, &n_ends);
    sp_audio_append(&cyc, NULL, (CHUNK - cyc.n % CHUNK) % CHUNK); /* whole chunks per cycle */
    tsess *ts = malloc(sizeof *ts);
    size_t total = (size_t)(minutes * 60 * RATE), minute = 0, rss1 = 0, heap1 = 0, rss_max = 0, heap_max = 0,
           texts = 0;
    double t0 = now_ms();
    tsess_open(ts, g);
    for (size_t at = 0; at < total; at += CHUNK) {
        tsess_push(ts, &cyc, at % cyc.n, CHUNK);
        if ((at + CHUNK) / (60 * RATE) > minute) {
            minute = (at + CHUNK) / (60 * RATE);
            sp_wait_drained(ts->s, "stt", 120); /* the recogniser idle: the same state each minute */
            size_t rss = bench_rss_bytes(), heap = sp_heap_bytes();
            if (minute == 1) rss1 = rss, heap1 = heap;
            if (rss > rss_max) rss_max = rss;
            if (heap > heap_max) heap_max = heap;
            texts += atomic_load(&ts->n_text);
            atomic_store(&ts->n_text, 0); /* the recogniser is idle: no race */
            ts->n_end = 0;                /* (the arrays hold MAX_EVENTS) */
            fprintf(stderr, "bench_speech: minute %zu: RSS %.1f MB, heap %.1f MB, %zu transcripts, %.0f s\n", minute,
                    (double)rss / 1048576, (double)heap / 1048576, texts, (now_ms() - t0) / 1000);
        }
    }
    rm_session_end(ts->s);
    rm_session_close(ts->s);
    free(ts);
    bench_row(bench_fmt("memory over %.0f min streamed through transcribe.yaml (%.1f s processing): RSS growth "
                        "after minute 1",
                        minutes, (now_ms() - t0) / 1000),
              bench_fmt("%+.0f KB (%.1f MB)", ((double)rss_max - (double)rss1) / 1024, (double)rss1 / 1048576), "-", "-",
              "info");
    bench_row("  heap bytes growth after minute 1 (mallinfo2)",
              bench_fmt("%+.0f KB", ((double)heap_max - (double)heap1) / 1024), "-", "-", "info");
    sp_audio_free(&cyc);
    rm_graph_unref(g);
}

/* ------------------------------------------------------------- tables --- */

/* docs/speech.md's per-voice table: word error rate and real-time factors
 * over every sentence in every voice (markdown on stdout). */
static void print_tables(rm_runtime *rt, char **sent, size_t n_sent, int quick)
{
    printf("\n## Speech benchmark (pocketsphinx en-us model, flite voices; %zu sentences; %ld CPUs, load %s)\n\n",
           n_sent, sysconf(_SC_NPROCESSORS_ONLN), loadavg());
    printf("| voice | WER, single pass | STT RTF median, single pass, best of 3 (wall / CPU) "
           "| WER, own sessions (2nd pass) | STT RTF median, own sessions | WER, one stream "
           "| STT RTF, one stream | TTS RTF median | audio s |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    size_t cap = n_sent * N_VOICES;
    double *all_rtf = calloc(cap, sizeof(double)), *all_rtf1 = calloc(cap, sizeof(double)),
           *all_cpu1 = calloc(cap, sizeof(double));
    double *stt_rtf = calloc(n_sent, sizeof(double)), *stt_rtf1 = calloc(n_sent, sizeof(double)),
           *stt_cpu1 = calloc(n_sent, sizeof(double)), *tts_rtf = calloc(n_sent, sizeof(double));
    size_t n_all = 0, all_err = 0, all_words = 0, all_err_s = 0, all_words_s = 0, all_err1 = 0;
    double all_node_us = 0, all_audio_ms = 0;
    rm_error err;
    for (int v = 0; v < N_VOICES; v++) {
        char tts_params[128];
        snprintf(tts_params, sizeof tts_params, "{\"voice\":\"%s\"}", voices[v]);
        double audio_s = 0;
        size_t errs = 0, errs1 = 0, words = 0, n = 0;
        sp_audio stream = {0};
        stream.rate = RATE;
        size_t ref_len = 0;
        char *ref = calloc(1, 1);
        for (size_t i = 0; i < n_sent; i++) {
            sp_audio a;
            double t0 = now_ms();
            if (sp_synth(rt, tts_params, sent[i], &a, &err) != 0) die_err("TextToSpeech", &err);
            double synth_ms = now_ms() - t0, dur_ms = (double)a.n * 1000.0 / a.rate;
            int rc;
            char *metrics = NULL;
            char *hyp = sp_transcribe(rt, NULL, &a, &rc, &err, &metrics);
            if (rc != 0) die_err("SpeechToText", &err);
            stt_rtf[n] = sp_metric(metrics, "\"node_metrics\"", "total_us") / 1000.0 / dur_ms;
            /* one pass; the machine is shared, so the fastest of three
             * identical runs (the same result each time) */
            char *hyp1 = NULL;
            stt_rtf1[n] = stt_cpu1[n] = INFINITY;
            for (int rep = 0; rep < 3; rep++) {
                char *metrics1 = NULL;
                free(hyp1);
                double c0 = cpu_ms();
                hyp1 = sp_transcribe(rt, "{\"second_pass\":\"off\"}", &a, &rc, &err, &metrics1);
                double c = (cpu_ms() - c0) / dur_ms;
                double w = sp_metric(metrics1, "\"node_metrics\"", "total_us") / 1000.0 / dur_ms;
                if (c < stt_cpu1[n]) stt_cpu1[n] = c;
                if (w < stt_rtf1[n]) stt_rtf1[n] = w;
                free(metrics1);
            }
            all_cpu1[n_all] = stt_cpu1[n];
            all_rtf1[n_all] = stt_rtf1[n];
            size_t nw1;
            errs1 += sp_word_errors(sent[i], hyp1, &nw1);
            free(hyp1);
            tts_rtf[n] = synth_ms / dur_ms;
            all_rtf[n_all++] = stt_rtf[n];
            size_t nw, e = sp_word_errors(sent[i], hyp, &nw);
            errs += e;
            words += nw;
            audio_s += dur_ms / 1000.0;
            if (e && !quick) printf("<!-- %s: \"%s\" -> \"%s\" -->\n", voices[v], sent[i], hyp);
            n++;
            free(hyp);
            free(metrics);
            sp_audio_append(&stream, a.samples, a.n);
            sp_audio_append(&stream, NULL, RATE);
            size_t sl = strlen(sent[i]);
            ref = realloc(ref, ref_len + sl + 2);
            if (ref_len) ref[ref_len++] = ' ';
            memcpy(ref + ref_len, sent[i], sl + 1);
            ref_len += sl;
            sp_audio_free(&a);
            bench_progress("tables: %s %zu/%zu", voices[v], i + 1, n_sent);
        }
        bench_progress_done();
        /* the same audio as one stream */
        int rc;
        char *metrics = NULL;
        char *hyp = sp_transcribe(rt, NULL, &stream, &rc, &err, &metrics);
        double node_us = sp_metric(metrics, "\"node_metrics\"", "total_us");
        double stream_ms = (double)stream.n * 1000.0 / RATE + 800.0;
        size_t nw_s, e_s = sp_word_errors(ref, hyp, &nw_s);
        all_err_s += e_s;
        all_words_s += nw_s;
        all_node_us += node_us;
        all_audio_ms += stream_ms;
        free(hyp);
        free(metrics);
        free(ref);
        sp_audio_free(&stream);
        all_err += errs;
        all_err1 += errs1;
        all_words += words;
        printf("| %s | %.1f%% | %.3f / %.3f | %.1f%% (%zu/%zu) | %.3f | %.1f%% (%zu/%zu) | %.3f | %.4f | %.1f |\n",
               voices[v], 100.0 * errs1 / words, bench_median(stt_rtf1, n), bench_median(stt_cpu1, n),
               100.0 * errs / words, errs, words, bench_median(stt_rtf, n), 100.0 * e_s / nw_s, e_s, nw_s,
               node_us / 1000.0 / stream_ms, bench_median(tts_rtf, n), audio_s);
    }
    printf("| all | %.1f%% | %.3f / %.3f | %.1f%% (%zu/%zu) | %.3f | %.1f%% (%zu/%zu) | %.3f | | |\n\n",
           100.0 * all_err1 / all_words, bench_median(all_rtf1, n_all), bench_median(all_cpu1, n_all),
           100.0 * all_err / all_words, all_err, all_words, bench_median(all_rtf, n_all),
           100.0 * all_err_s / all_words_s, all_err_s, all_words_s, all_node_us / 1000.0 / all_audio_ms);
    free(all_rtf);
    free(all_rtf1);
    free(all_cpu1);
    free(stt_rtf);
    free(stt_rtf1);
    free(stt_cpu1);
    free(tts_rtf);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int quick = bench_quick(argc, argv), tables = 0;
    double long_min = 0, stream_s = 0;
    unsigned max_n = 16;
    const char *sentences_path = RM_SOURCE_DIR "/tests/data/sentences.txt";
    const char *manifest = RM_SOURCE_DIR "/examples/transcribe.yaml";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) continue;
        else if (!strcmp(a, "--tables")) tables = 1;
        else if (!strcmp(a, "--long-min") && v) long_min = atof(argv[++i]);
        else if (!strcmp(a, "--stream-s") && v) stream_s = atof(argv[++i]);
        else if (!strcmp(a, "--max-sessions") && v) max_n = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--sentences") && v) sentences_path = argv[++i];
        else if (!strcmp(a, "--manifest") && v) manifest = argv[++i];
        else {
            fprintf(stderr, "usage: bench_speech [--quick] [--manifest FILE] [--sentences FILE] [--stream-s S] "
                            "[--max-sessions N] [--tables] [--long-min M]\n");
            return 2;
        }
    }
    if (!stream_s) stream_s = quick ? 6 : 20;
    if (max_n < 1 || max_n > 64) max_n = 16;
    char **text;
    size_t n = sp_read_lines(sentences_path, &text);
    if (!n) {
        fprintf(stderr, "bench_speech: cannot read %s\n", sentences_path);
        return 2;
    }
    if (quick && n > 8) n = 8;
    rm_runtime *rt = bench_runtime();
    double t_start = now_ms();

    if (tables) {
        print_tables(rt, text, n, quick);
    } else {
        if (!long_min) bench_model_load(rt);
        sp_audio *sent = calloc(n, sizeof *sent);
        double *synth_ms = calloc(n, sizeof *synth_ms);
        for (size_t i = 0; i < n; i++) synth_sentence(rt, text[i], i, &sent[i], &synth_ms[i]);
        if (long_min) {
            bench_long(rt, manifest, sent, n, long_min);
        } else {
            bench_rtf(rt, text, sent, synth_ms, n);
            bench_ttfa(rt, quick);
            rm_graph *g = transcribe_graph(rt, manifest);
            bench_latency(g, sent, n);
            bench_concurrent(g, sent, n, stream_s, max_n, quick);
            rm_graph_unref(g);
        }
        for (size_t i = 0; i < n; i++) sp_audio_free(&sent[i]);
        free(sent);
        free(synth_ms);
    }
    fprintf(stderr, "bench_speech: %.0f s (load average %s at the end)\n", (now_ms() - t_start) / 1000, loadavg());
    for (size_t i = 0; i < n; i++) free(text[i]);
    free(text);
    rm_runtime_free(rt);
    return 0;
}
