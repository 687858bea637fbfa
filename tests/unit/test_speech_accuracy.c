/*
 * Speech accuracy with fixed thresholds: the committed sentence list
 * (tests/data/sentences.txt) is synthesised by TextToSpeech with several flite
 * voices at 16 kHz and transcribed by SpeechToText with the default model;
 * the word error rate per voice must stay under the thresholds below, which
 * were set from measurements (docs/speech.md) with a margin.  Command
 * spotting with the JSGF grammar tests/data/commands.gram and with
 * keyphrases must recognise every command.  Silence and noise are covered in
 * test_speech.c.  The memory test streams minutes of speech and pauses through
 * examples/transcribe.yaml and bounds the heap's growth (the stand-in for the
 * hour-long run of bench_speech --long-min 60).
 */
#define _GNU_SOURCE /* mallinfo2, through speech_util.h */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "remotemedia/remotemedia.h"
#include "speech_util.h"

static rm_runtime *rt;

typedef struct voice_case {
    const char *voice;
    double max_wer; /* percent */
} voice_case;

/* Measured WER at 16 kHz (docs/speech.md): slt 11.3%, rms 1.9%, awb 8.2%,
 * kal16 4.4%, 6.4% overall.  flite's output is deterministic (see
 * flite_voices.c), so these numbers are exact for this flite and pocketsphinx;
 * slt, the voice the English model hears worst, stays above the 10% target. */
static const voice_case voices[] = {
    {"slt", 13.0},
    {"rms", 10.0},
    {"awb", 10.0},
    {"kal16", 10.0},
};

static const voice_case *wer_voice;

/* WER of one voice over the sentence list (each sentence in its own
 * session, so every one is a first utterance). */
static void test_sentence_wer(void)
{
    char **sent;
    size_t n = sp_read_lines(RM_SOURCE_DIR "/tests/data/sentences.txt", &sent);
    CHECK(n >= 20);
    char params[64];
    snprintf(params, sizeof params, "{\"voice\": \"%s\"}", wer_voice->voice);
    size_t errs = 0, words = 0;
    for (size_t i = 0; i < n; i++) {
        sp_audio a;
        rm_error err;
        int rc = sp_synth(rt, params, sent[i], &a, &err);
        CHECK_INT(rc, 0);
        if (rc != 0) continue;
        char *hyp = sp_transcribe(rt, NULL, &a, &rc, &err, NULL);
        CHECK_INT(rc, 0);
        size_t nw, e = sp_word_errors(sent[i], hyp, &nw);
        if (e) fprintf(stderr, "  %-5s \"%s\" -> \"%s\"\n", wer_voice->voice, sent[i], hyp ? hyp : "");
        errs += e;
        words += nw;
        free(hyp);
        sp_audio_free(&a);
    }
    double wer = words ? 100.0 * (double)errs / (double)words : 100;
    fprintf(stderr, "WER %-5s 16 kHz: %5.1f%% (%zu errors / %zu words, %zu sentences; threshold %.0f%%)\n",
            wer_voice->voice, wer, errs, words, n, wer_voice->max_wer);
    CHECK(wer <= wer_voice->max_wer);
    for (size_t i = 0; i < n; i++) free(sent[i]);
    free(sent);
}

static const char *const commands[] = {"lights on", "lights off", "play music"};
static const char *const command_voices[] = {"slt", "rms", "awb", "kal16"};

/* Every command, spoken by every voice, alone and inside a longer stream
 * of commands, is recognised exactly with the grammar. */
static void test_grammar_commands(void)
{
    char params[512];
    snprintf(params, sizeof params, "{\"grammar\": \"%s/tests/data/commands.gram\"}", RM_SOURCE_DIR);
    size_t total = 0, ok = 0;
    for (size_t v = 0; v < 4; v++) {
        char tts[64];
        snprintf(tts, sizeof tts, "{\"voice\": \"%s\"}", command_voices[v]);
        for (size_t c = 0; c < 3; c++) {
            sp_audio a;
            rm_error err;
            CHECK_INT(sp_synth(rt, tts, commands[c], &a, &err), 0);
            int rc;
            char *hyp = sp_transcribe(rt, params, &a, &rc, &err, NULL);
            CHECK_INT(rc, 0);
            total++;
            if (hyp && strcmp(hyp, commands[c]) == 0) ok++;
            else fprintf(stderr, "  grammar %s: \"%s\" -> \"%s\"\n", command_voices[v], commands[c], hyp ? hyp : "");
            free(hyp);
            sp_audio_free(&a);
        }
    }
    fprintf(stderr, "grammar commands: %zu/%zu recognised\n", ok, total);
    CHECK_INT(ok, total);
}

/* Keyphrase spotting (kws_threshold default 1e-30): every command spoken
 * alone is spotted, by every voice; inside a sentence, awb's "can you play
 * music" comes out as "can you pull the music" even for the n-gram decoder and
 * no threshold down to 1e-60 spots it, so one miss is allowed there (the
 * grammar above is the reliable way to recognise commands); a sentence
 * without a command spots nothing. */
static void test_keyphrase_commands(void)
{
    const char *params = "{\"keyphrase\": [\"lights on\", \"lights off\", \"play music\"]}";
    static const char *const sentences[] = {"lights on", "lights off", "play music",
                                            "please turn the lights on", "now lights off", "can you play music",
                                            "the weather is nice today"};
    static const char *const expect[] = {"lights on", "lights off", "play music",
                                         "lights on", "lights off", "play music", ""};
    size_t alone = 0, alone_ok = 0, inside = 0, inside_ok = 0, false_alarms = 0;
    for (size_t v = 0; v < 4; v++) {
        char tts[64];
        snprintf(tts, sizeof tts, "{\"voice\": \"%s\"}", command_voices[v]);
        for (size_t c = 0; c < 7; c++) {
            sp_audio a;
            rm_error err;
            CHECK_INT(sp_synth(rt, tts, sentences[c], &a, &err), 0);
            int rc;
            char *hyp = sp_transcribe(rt, params, &a, &rc, &err, NULL);
            CHECK_INT(rc, 0);
            int ok = hyp && strcmp(hyp, expect[c]) == 0;
            if (!ok)
                fprintf(stderr, "  keyphrase %s: \"%s\" -> \"%s\"\n", command_voices[v], sentences[c], hyp ? hyp : "");
            if (c < 3) alone++, alone_ok += ok;
            else if (c < 6) inside++, inside_ok += ok;
            else false_alarms += !ok;
            free(hyp);
            sp_audio_free(&a);
        }
    }
    fprintf(stderr, "keyphrase commands: %zu/%zu alone, %zu/%zu inside sentences, %zu false alarms\n", alone_ok,
            alone, inside_ok, inside, false_alarms);
    CHECK_INT(alone_ok, alone);
    CHECK(inside_ok + 1 >= inside);
    CHECK_INT(false_alarms, 0);
}

/* ------------------------------------------------------------ memory --- */

static atomic_size_t stream_texts;

static void count_text(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)user;
    (void)port;
    if (!strcmp(node_id, "stt") && f->kind == RM_FRAME_TEXT) atomic_fetch_add(&stream_texts, 1);
}

/* STREAM_MINUTES of speech (four sentences, four voices, 0.5-1.4 s pauses,
 * cycled) through one transcribe.yaml session in 20 ms chunks, as fast as
 * the recogniser goes.  At each minute the recogniser is drained, so the
 * session is in the same state; the heap may not grow by more than
 * MAX_GROWTH after the first minute (decoder buffers, histograms and queues
 * have their working size by then), and transcripts must keep coming.
 * Measured: +0 KB under ASan, +15 KB in release; over an hour (bench_speech
 * --long-min 60, release) the heap moved within +630 KB of minute 1's and
 * ended where it started.  Keeping the audio of each utterance (100+ KB)
 * would cross the bound within the test's ~40 utterances. */
#define STREAM_MINUTES 3
#define MAX_GROWTH (1024 * 1024)

static void test_stream_memory(void)
{
    static const char *const text[] = {"turn on the kitchen lights", "what is the weather like today",
                                       "please call my sister tomorrow", "play some music in the living room"};
    sp_audio sent[4], cyc;
    rm_error err;
    for (int i = 0; i < 4; i++) {
        char params[64];
        snprintf(params, sizeof params, "{\"voice\": \"%s\"}", command_voices[i]);
        int rc = sp_synth(rt, params, text[i], &sent[i], &err);
        CHECK_INT(rc, 0);
        if (rc != 0) {
            while (i--) sp_audio_free(&sent[i]);
            return;
        }
    }
    size_t n_ends;
    sp_make_stream(sent, 4, 0, 0, 0, 60000.0, 0, &cyc, NULL, &n_ends);
    rm_graph *g = sp_load_graph(rt, RM_SOURCE_DIR "/examples/transcribe.yaml");
    CHECK(g != NULL);
    rm_session *s = NULL;
    rm_session_opts so = {0};
    so.on_output = count_text;
    if (g) CHECK_INT(rm_session_open(g, &so, &s, &err), 0);
    size_t total = (size_t)STREAM_MINUTES * 60 * 16000, heap1 = 0, heap_max = 0, texts_before = 0;
    for (size_t at = 0, minute = 0; s && at < total; at += 320) {
        rm_frame *f = rm_frame_new_audio(RM_SAMPLE_F32, 16000, 1, 320);
        CHECK(f != NULL);
        if (!f) break;
        for (size_t k = 0; k < 320; k++) ((float *)f->u.audio.data)[k] = cyc.samples[(at + k) % cyc.n];
        f->timestamp_us = (int64_t)(at / 16);
        int rc = rm_session_push(s, f);
        rm_frame_unref(f);
        CHECK_INT(rc, 0);
        if (rc != 0) break;
        if ((at + 320) / (60 * 16000) == minute) continue;
        minute = (at + 320) / (60 * 16000);
        CHECK_INT(sp_wait_drained(s, "stt", 300), 0);
        size_t heap = sp_heap_bytes(), texts = atomic_load(&stream_texts);
        fprintf(stderr, "  minute %zu: heap %.1f KB, %zu transcripts\n", minute, (double)heap / 1024,
                texts - texts_before);
        CHECK(texts - texts_before >= 15); /* 21 utterances a minute */
        texts_before = texts;
        if (minute == 1) heap1 = heap;
        else if (heap > heap_max) heap_max = heap;
    }
    if (s) {
        CHECK_INT(rm_session_end(s), 0);
        rm_session_close(s);
    }
    fprintf(stderr, "  heap growth after minute 1: %+.1f KB (bound %d KB)\n",
            ((double)heap_max - (double)heap1) / 1024, MAX_GROWTH / 1024);
    CHECK(heap_max <= heap1 + MAX_GROWTH);
    rm_graph_unref(g);
    sp_audio_free(&cyc);
    for (int i = 0; i < 4; i++) sp_audio_free(&sent[i]);
}

/* test_speech_accuracy commands | wer VOICE | memory  (no argument: everything) */
int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "commands") && strcmp(argv[1], "memory") && strcmp(argv[1], "wer")) {
        fprintf(stderr, "usage: test_speech_accuracy [commands | wer VOICE | memory]\n");
        return 2;
    }
    rm_error err;
    if (rm_runtime_new_with_builtins(NULL, &rt, &err) != 0) {
        fprintf(stderr, "runtime: %s\n", err.message);
        return 1;
    }
    if (argc < 2 || !strcmp(argv[1], "commands")) {
        RUN(test_grammar_commands);
        RUN(test_keyphrase_commands);
    }
    if (argc < 2 || !strcmp(argv[1], "memory")) RUN(test_stream_memory);
    for (size_t v = 0; v < sizeof voices / sizeof voices[0]; v++) {
        if (argc >= 2 && (strcmp(argv[1], "wer") || argc < 3 || strcmp(argv[2], voices[v].voice))) continue;
        wer_voice = &voices[v];
        RUN(test_sentence_wer);
    }
    rm_runtime_free(rt);
    return CHECK_DONE();
}
