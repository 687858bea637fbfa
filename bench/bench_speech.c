/*
 * Speech benchmark: model load time, STT real-time factor and word error
 * rate per voice over the fixed sentence set, TTS time-to-first-audio and
 * real-time factor, end-of-speech → final transcript latency, and memory over
 * a long stream.  All audio is made by the TextToSpeech node at 16 kHz and
 * fed to SpeechToText through the public API.
 *
 *   bench_speech [--quick] [--long-min N] [--long-only] [--sentences FILE]
 *
 * Times are wall-clock on a shared machine: medians are reported, and the
 * decoder's own time (node metrics) is shown next to end-to-end time.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "remotemedia/remotemedia.h"
#include "speech_util.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Quantile q of v[0..n) (sorts v). */
static double quantile(double *v, size_t n, double q)
{
    if (!n) return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)ceil(q * (double)n) - (q > 0);
    return v[i < n ? i : n - 1];
}

static long rss_kb(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (fp) {
        if (fscanf(fp, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(fp);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---------------------------------------------------------- sessions --- */

typedef struct timing {
    _Atomic double first_out_ms; /* 0 until the first output */
    _Atomic double text_out_ms;  /* time of the last text output */
    atomic_int n_text;
} timing;

static void on_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    (void)port;
    timing *t = user;
    double now = now_ms();
    double zero = 0;
    atomic_compare_exchange_strong(&t->first_out_ms, &zero, now);
    if (f->kind == RM_FRAME_TEXT) {
        atomic_store(&t->text_out_ms, now);
        atomic_fetch_add(&t->n_text, 1);
    }
}

static rm_graph *one_node_graph(rm_runtime *rt, const char *type, const char *params)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"version\":\"v1\",\"metadata\":{\"name\":\"bench\"},\"nodes\":[{\"id\":\"n\",\"node_type\":\"%s\","
             "\"params\":%s}],\"connections\":[]}",
             type, params);
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    if (rm_graph_load_string(rt, text, strlen(text), "bench", NULL, &g, d) != 0) {
        rm_error err;
        rm_diags_to_error(d, &err);
        fprintf(stderr, "bench: %s\n", err.message);
    }
    rm_diags_free(d);
    return g;
}

/* Waits until node "n" has completed `calls` calls. */
static void wait_calls(rm_session *s, double calls)
{
    for (;;) {
        char *m = rm_session_metrics_json(s);
        double c = sp_metric(m, "\"node_metrics\"", "calls");
        free(m);
        if (c >= calls) return;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------- parts --- */

static const char *const voices[] = {"slt", "rms", "awb", "kal16"};
#define N_VOICES 4

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int quick = 0, long_only = 0;
    double long_min = 5;
    const char *sentences_path = RM_SOURCE_DIR "/tests/data/sentences.txt";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1, long_min = 1;
        else if (!strcmp(argv[i], "--long-min") && i + 1 < argc) long_min = atof(argv[++i]);
        else if (!strcmp(argv[i], "--long-only")) long_only = 1;
        else if (!strcmp(argv[i], "--sentences") && i + 1 < argc) sentences_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_speech [--quick] [--long-min N] [--long-only] [--sentences FILE]\n");
            return 2;
        }
    }
    char **sent;
    size_t n_sent = sp_read_lines(sentences_path, &sent);
    if (!n_sent) {
        fprintf(stderr, "bench: cannot read %s\n", sentences_path);
        return 1;
    }
    if (quick && n_sent > 8) n_sent = 8;
    rm_runtime *rt;
    rm_error err;
    if (rm_runtime_new(NULL, &rt, &err) != 0) {
        fprintf(stderr, "bench: %s\n", err.message);
        return 1;
    }
    long rss0 = rss_kb();

    sp_audio *first_audio = calloc(n_sent, sizeof *first_audio); /* slt audio, reused below */
    if (long_only) {
        for (size_t i = 0; i < n_sent; i++)
            if (sp_synth(rt, "{\"voice\":\"slt\"}", sent[i], &first_audio[i], &err) != 0) return 1;
    } else {
        /* 1. Model load: the first SpeechToText in the process loads, the next
         *    one reuses the pooled decoder. */
        double load[2];
        for (int k = 0; k < 2; k++) {
            rm_harness *h;
            if (rm_harness_new(rt, "SpeechToText", NULL, &h, &err) != 0) {
                fprintf(stderr, "bench: %s\n", err.message);
                return 1;
            }
            char *m = rm_harness_metrics_json(h);
            load[k] = sp_metric(m, NULL, "model_load_ms");
            free(m);
            rm_harness_free(h);
        }
        char loadavg[64] = "?";
        FILE *la = fopen("/proc/loadavg", "r");
        if (la) {
            if (!fgets(loadavg, sizeof loadavg, la)) loadavg[0] = '\0';
            loadavg[strcspn(loadavg, "\n")] = '\0';
            fclose(la);
        }
        printf("\n## Speech benchmark (pocketsphinx en-us model, flite voices; %zu sentences; %ld CPUs, load %s)\n\n",
               n_sent, sysconf(_SC_NPROCESSORS_ONLN), loadavg);
        printf("model load: first SpeechToText %.0f ms (RSS +%ld MB), pooled reuse %.3f ms\n\n", load[0],
               (rss_kb() - rss0) / 1024, load[1]);

        /* 2. Per voice: TTS real-time factor; STT word error rate and real-time
         *    factor (a) with each sentence in its own session, so that every
         *    utterance is a session's first one and pays the CMN warm-up, and
         *    (b) with all sentences in one session, 1 s apart, as a stream. */
        printf("| voice | WER, single pass | STT RTF median, single pass, best of 3 (wall / CPU) "
               "| WER, own sessions (2nd pass) | STT RTF median, own sessions | WER, one stream "
               "| STT RTF, one stream | TTS RTF median | audio s |\n");
        printf("|---|---|---|---|---|---|---|---|---|\n");
        double all_rtf[4 * 64], all_rtf1[4 * 64], all_cpu1[4 * 64];
        size_t n_all = 0, all_err = 0, all_words = 0, all_err_s = 0, all_words_s = 0, all_err1 = 0;
        double all_node_us = 0, all_audio_ms = 0;
        for (int v = 0; v < N_VOICES; v++) {
            char tts_params[128];
            snprintf(tts_params, sizeof tts_params, "{\"voice\":\"%s\"}", voices[v]);
            double stt_rtf[64], stt_rtf1[64], stt_cpu1[64], tts_rtf[64], audio_s = 0;
            size_t errs = 0, errs1 = 0, words = 0, n = 0;
            sp_audio stream = {0};
            stream.rate = 16000;
            size_t ref_len = 0;
            char *ref = calloc(1, 1);
            for (size_t i = 0; i < n_sent && i < 64; i++) {
                sp_audio a;
                double t0 = now_ms();
                if (sp_synth(rt, tts_params, sent[i], &a, &err) != 0) {
                    fprintf(stderr, "bench: tts: %s\n", err.message);
                    return 1;
                }
                double synth_ms = now_ms() - t0;
                double dur_ms = (double)a.n * 1000.0 / a.rate;
                int rc;
                char *metrics = NULL;
                char *hyp = sp_transcribe(rt, NULL, &a, &rc, &err, &metrics);
                if (rc != 0) {
                    fprintf(stderr, "bench: stt: %s\n", err.message);
                    return 1;
                }
                double node_us = sp_metric(metrics, "\"node_metrics\"", "total_us");
                /* sp_transcribe pads 400 ms of silence on each side; the ratio is
                 * taken over the sentence's own duration (the stricter figure) */
                stt_rtf[n] = node_us / 1000.0 / dur_ms;
                /* the decoder alone, one pass; the machine is shared, so the
                 * fastest of three identical runs (same result each time: a
                 * session starts from the loaded decoder state) */
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
                sp_audio_append(&stream, NULL, 16000);
                size_t sl = strlen(sent[i]);
                ref = realloc(ref, ref_len + sl + 2);
                if (ref_len) ref[ref_len++] = ' ';
                memcpy(ref + ref_len, sent[i], sl + 1);
                ref_len += sl;
                if (v == 0) first_audio[i] = a;
                else sp_audio_free(&a);
            }
            /* (b) the same audio as one stream */
            int rc;
            char *metrics = NULL;
            char *hyp = sp_transcribe(rt, NULL, &stream, &rc, &err, &metrics);
            double node_us = sp_metric(metrics, "\"node_metrics\"", "total_us");
            double stream_ms = (double)stream.n * 1000.0 / 16000 + 800.0;
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
            double m_stt = quantile(stt_rtf, n, 0.5), m_stt1 = quantile(stt_rtf1, n, 0.5);
            double m_tts = quantile(tts_rtf, n, 0.5), m_cpu1 = quantile(stt_cpu1, n, 0.5);
            printf("| %s | %.1f%% | %.3f / %.3f | %.1f%% (%zu/%zu) | %.3f | %.1f%% (%zu/%zu) | %.3f | %.4f | %.1f |\n",
                   voices[v], 100.0 * errs1 / words, m_stt1, m_cpu1, 100.0 * errs / words, errs, words, m_stt,
                   100.0 * e_s / nw_s, e_s, nw_s, node_us / 1000.0 / stream_ms, m_tts, audio_s);
        }
        printf("| all | %.1f%% | %.3f / %.3f | %.1f%% (%zu/%zu) | %.3f | %.1f%% (%zu/%zu) | %.3f | | |\n\n",
               100.0 * all_err1 / all_words, quantile(all_rtf1, n_all, 0.5), quantile(all_cpu1, n_all, 0.5),
               100.0 * all_err / all_words, all_err,
               all_words, quantile(all_rtf, n_all, 0.5), 100.0 * all_err_s / all_words_s, all_err_s, all_words_s,
               all_node_us / 1000.0 / all_audio_ms);

        /* 3. TTS time to first audio for a three-sentence text (session with an
         *    output callback; the node runs on its worker). */
        {
            const char *text = "Turn on the kitchen lights. The weather is nice today, and I will go for a walk. "
                               "Please call me back later.";
            rm_graph *g = one_node_graph(rt, "TextToSpeech", "{\"voice\":\"slt\"}");
            if (!g) return 1;
            int runs = quick ? 5 : 21;
            double ttfa[32], total[32];
            for (int r = 0; r < runs; r++) {
                timing t = {0};
                rm_session_opts so = {0};
                so.on_output = on_output;
                so.output_user = &t;
                rm_session *s;
                if (rm_session_open(g, &so, &s, &err) != 0) {
                    fprintf(stderr, "bench: %s\n", err.message);
                    return 1;
                }
                rm_frame *f = rm_frame_new_text(text, strlen(text));
                double t0 = now_ms();
                rm_session_push(s, f);
                rm_session_end(s);
                total[r] = now_ms() - t0;
                ttfa[r] = atomic_load(&t.first_out_ms) - t0;
                rm_frame_unref(f);
                rm_session_close(s);
            }
            rm_graph_unref(g);
            printf("TTS (slt) 3-sentence text, %d runs: time to first audio median %.1f ms, p90 %.1f ms; "
                   "whole text %.1f ms\n",
                   runs, quantile(ttfa, (size_t)runs, 0.5), quantile(ttfa, (size_t)runs, 0.9),
                   quantile(total, (size_t)runs, 0.5));
        }

        /* 4. End of speech → final transcript, utterances delimited by VAD events,
         *    all in one session: each speech-end event is pushed once the decoder
         *    has caught up with the audio (as it does in real time at RTF < 1),
         *    and the time to the transcript frame is taken in the output
         *    callback.  The first utterance carries the CMN warm-up (a second
         *    decoding pass) and is reported on its own. */
        {
            rm_graph *g = one_node_graph(rt, "SpeechToText", "{\"utterance_mode\":\"vad_events\"}");
            if (!g) return 1;
            double lat[64], first = NAN;
            size_t n = 0;
            timing t = {0};
            rm_session_opts so = {0};
            so.on_output = on_output;
            so.output_user = &t;
            rm_session *s;
            if (rm_session_open(g, &so, &s, &err) != 0) {
                fprintf(stderr, "bench: %s\n", err.message);
                return 1;
            }
            double calls = 0;
            const char *start = "{\"is_speech_start\":true}", *end = "{\"is_speech_end\":true}";
            for (size_t i = 0; i < n_sent && i < 64; i++) {
                const sp_audio *a = &first_audio[i];
                rm_frame *ev = rm_frame_new_json_text(start, strlen(start), NULL, 0);
                rm_session_push_to(s, "n", "events", ev);
                rm_frame_unref(ev);
                calls++;
                for (size_t at = 0; at < a->n; at += 320) {
                    size_t k = a->n - at < 320 ? a->n - at : 320;
                    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, 16000, 1, k);
                    memcpy(f->u.audio.data, a->samples + at, k * sizeof(float));
                    rm_session_push_to(s, "n", "in", f);
                    rm_frame_unref(f);
                    calls++;
                }
                wait_calls(s, calls);
                int before = atomic_load(&t.n_text);
                ev = rm_frame_new_json_text(end, strlen(end), NULL, 0);
                double t0 = now_ms();
                rm_session_push_to(s, "n", "events", ev);
                rm_frame_unref(ev);
                calls++;
                wait_calls(s, calls);
                if (atomic_load(&t.n_text) > before) {
                    double l = atomic_load(&t.text_out_ms) - t0;
                    if (i == 0) first = l;
                    else lat[n++] = l;
                }
            }
            rm_session_end(s);
            rm_session_close(s);
            rm_graph_unref(g);
            printf("end of speech → final transcript (vad_events, one session, %zu utterances): "
                   "p50 %.1f ms, p99 %.1f ms, max %.1f ms; first utterance (with CMN warm-up) %.1f ms\n",
                   n, quantile(lat, n, 0.5), quantile(lat, n, 0.99), quantile(lat, n, 1.0), first);
        }

    }

    /* 5. A long stream through one session: sentences separated by 3 s of
     *    silence, fed as fast as the decoder goes; outputs are counted and
     *    dropped (not kept, which would grow memory by itself); RSS is
     *    sampled each simulated minute. */
    {
        rm_graph *g = one_node_graph(rt, "SpeechToText", "{}");
        timing t = {0};
        rm_session_opts so = {0};
        so.on_output = on_output;
        so.output_user = &t;
        rm_session *s;
        if (!g || rm_session_open(g, &so, &s, &err) != 0) return 1;
        size_t total = (size_t)(long_min * 60 * 16000), at = 0, i = 0, minute = 0;
        long rss_first = 0, rss_max = 0, rss_min1 = 0;
        double t0 = now_ms();
        size_t gap = 3 * 16000, pos_in = 0;
        while (at < total) {
            const sp_audio *a = &first_audio[i % n_sent];
            size_t k = 320;
            rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, 16000, 1, k);
            float *d = f->u.audio.data;
            for (size_t j = 0; j < k; j++, pos_in++) {
                if (pos_in >= a->n + gap) pos_in = 0, i++, a = &first_audio[i % n_sent];
                d[j] = pos_in < a->n ? a->samples[pos_in] : 0.0f;
            }
            rm_session_push(s, f);
            rm_frame_unref(f);
            at += k;
            if (at / (60 * 16000) > minute) {
                minute = at / (60 * 16000);
                long r = rss_kb();
                if (minute == 1) rss_first = r;
                if (minute == 2) rss_min1 = r;
                if (r > rss_max) rss_max = r;
            }
        }
        rm_session_end(s);
        double wall = now_ms() - t0;
        printf("long stream: %.0f min of audio (%zu sentences, %d transcripts) in %.1f s; RSS after 1 min %ld MB, "
               "after 2 min %ld MB, max %ld MB (growth after minute 1: %+ld KB)\n",
               long_min, i, atomic_load(&t.n_text), wall / 1000.0, rss_first / 1024, rss_min1 / 1024, rss_max / 1024,
               rss_max - rss_first);
        rm_session_close(s);
        rm_graph_unref(g);
    }

    for (size_t i = 0; i < n_sent; i++) {
        sp_audio_free(&first_audio[i]);
        free(sent[i]);
    }
    free(first_audio);
    free(sent);
    rm_runtime_free(rt);
    return 0;
}
