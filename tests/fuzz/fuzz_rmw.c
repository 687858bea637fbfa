/* Fuzz target: the wasm library's exported entry points (src/wasm/rmw.c,
 * the rmw_* C API JavaScript calls in remotemedia.wasm), compiled natively.
 *
 * The input is a program of calls, as a hostile or buggy page could make:
 *
 *   manifest text, '\0', then op bytes with their arguments
 *
 * A manifest of one byte 0x01..0x05 picks one of the built-in manifests
 * below (so most inputs get a working graph); anything else is compiled as
 * given.  Every op reads its arguments from the bytes that follow (node and
 * port names as length-prefixed strings, a missing name = NULL = "any"):
 * push JSON / text / audio (any format, rate, 1-8 channels, samples from
 * the input in a buffer from rmw_alloc whose ownership passes to the
 * module), flush, cancel, metrics, output count / take with every accessor,
 * inspect, graph summary, close and reopen.  A registered external node
 * type `Host` runs this file's host function, which emits JSON, text or
 * audio, fails, or returns an error as the next op bytes say.  Afterwards
 * every remaining output is taken, everything is freed in the documented
 * order, and LeakSanitizer checks nothing stayed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rmw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const manifests[] = {
    /* 1: math, with a queued connection */
    "{\"version\":\"v1\",\"nodes\":[{\"id\":\"sq\",\"node_type\":\"CalculatorNode\",\"params\":{\"operation\":\"power\","
    "\"operand\":2}},{\"id\":\"mul\",\"node_type\":\"MultiplyNode\",\"params\":{\"factor\":1.5}}],\"connections\":"
    "[{\"from\":\"sq\",\"to\":\"mul\",\"queue\":{\"policy\":\"block\",\"capacity\":2}}]}",
    /* 2: text, two sources */
    "{\"version\":\"v1\",\"nodes\":[{\"id\":\"sentences\",\"node_type\":\"TextCollectorNode\",\"params\":"
    "{\"min_sentence_length\":3}},{\"id\":\"words\",\"node_type\":\"TextProcessorNode\",\"params\":{\"operations\":"
    "[\"uppercase\",\"reverse\",\"word_count\",\"last_word\"]}}],\"connections\":[]}",
    /* 3: resample -> VAD (audio and events sinks) */
    "version: v1\nnodes:\n  - {id: resample, node_type: AudioResample, params: {target_rate: 16000}}\n"
    "  - {id: vad, node_type: VAD, params: {frame_ms: 20, min_speech_ms: 60, min_silence_ms: 200}}\n"
    "connections:\n  - {from: resample, to: vad}\n",
    /* 4: the other audio nodes */
    "version: v1\nnodes:\n  - {id: mix, node_type: ChannelMixer, params: {channels: 1}}\n"
    "  - {id: f32, node_type: FormatConverter, params: {target_format: f32}}\n"
    "  - {id: gain, node_type: Gain, params: {gain_db: -6}}\n"
    "  - {id: chunk, node_type: AudioChunker, params: {chunk_ms: 25, pad_last: true}}\n"
    "  - {id: level, node_type: AudioLevel, params: {window_ms: 50}}\n"
    "  - {id: s16, node_type: FormatConverter, params: {target_format: s16}}\n"
    "connections:\n  - {from: mix, to: f32}\n  - {from: f32, to: gain}\n  - {from: gain, to: chunk}\n"
    "  - {from: chunk, to: level}\n  - {from: level, to: s16}\n",
    /* 5: hybrid: external host nodes around a native one */
    "{\"version\":\"v1\",\"nodes\":[{\"id\":\"h1\",\"node_type\":\"Host\",\"params\":{\"k\":[1,2]}},"
    "{\"id\":\"words\",\"node_type\":\"TextProcessorNode\",\"params\":{\"operations\":[\"uppercase\"]}},"
    "{\"id\":\"h2\",\"node_type\":\"Host\"}],\"connections\":[{\"from\":\"h1\",\"to\":\"words\"},"
    "{\"from\":\"words\",\"to\":\"h2\"}]}",
};

/* The op bytes, read by the ops and by the host function alike. */
static const uint8_t *cur;
static size_t left;

static unsigned byte(void)
{
    if (!left) return 0;
    left--;
    return *cur++;
}

/* A length-prefixed string borrowed from the input; NULL for length 0xff or
 * at the end. */
static const char *str(size_t *len)
{
    *len = 0;
    if (!left) return NULL;
    unsigned n = byte();
    if (n == 0xff) return NULL;
    if (n > left) n = (unsigned)left;
    const char *s = (const char *)cur;
    cur += n;
    left -= n;
    *len = n;
    return s;
}

static const uint32_t rates[] = {8000, 16000, 22050, 44100, 48000, 1, 0, 4000000000u};

/* An audio buffer from rmw_alloc: `frames` x `channels` samples of
 * `format`, filled from the input (zeros when it runs out). */
static void *audio(int format, uint32_t channels, size_t frames)
{
    size_t width = format == 2 ? 2 : 4, bytes = frames * channels * width;
    unsigned char *buf = rmw_alloc(bytes);
    if (!buf) abort();
    size_t n = bytes < left ? bytes : left;
    memcpy(buf, cur, n);
    memset(buf + n, 0, bytes - n);
    cur += n;
    left -= n;
    return buf;
}

/* A timestamp as JavaScript may pass one: none (< 0), plausible, or not a
 * number of microseconds at all. */
static double stamp(void)
{
    static const double odd[] = {-1.0, -0.0, 1e300, -1e300, 9.3e18, 1.0 / 0.0, -1.0 / 0.0, 0.0 / 0.0};
    unsigned b = byte();
    return b < 8 ? odd[b] : (double)b * 20000.0;
}

static void check_error_text(void)
{
    const char *e = rmw_error();
    if (!e) abort();
    (void)strlen(e);
}

static int host_fn(int host_type, int instance, int op, rm_node *node, const rmw_output *frame, const char *text,
                   size_t len)
{
    (void)host_type, (void)text, (void)len;
    if (op == RMW_HOST_FINI) return 0;
    if (op == RMW_HOST_INIT) return byte() == 0xee ? -5 : 7; /* RM_E* codes are negative */
    if (instance != 7) abort();
    if (op != RMW_HOST_PROCESS) return byte() == 0xee ? -3 : 0;
    if (!frame || strcmp(rmw_output_port(frame), "in") != 0 || strcmp(rmw_output_node(frame), rmw_node_id(node)))
        abort();
    switch (byte() % 6) {
    case 0: { /* the input back as JSON text, or as text */
        char *t = rmw_output_text(frame);
        int rc = t ? rmw_node_emit_json(node, t, strlen(t), rmw_output_timestamp_us(frame)) : 0;
        if (t && rc) rc = rmw_node_emit_text(node, t, strlen(t), -1);
        rmw_free(t);
        return rc;
    }
    case 1: {
        size_t n;
        const char *s = str(&n);
        return rmw_node_emit_text(node, s ? s : "", n, stamp());
    }
    case 2: {
        size_t n;
        const char *s = str(&n);
        return rmw_node_emit_json(node, s ? s : "", n, stamp());
    }
    case 3: { /* audio: a copy of the input's, or new */
        int format = rmw_output_audio_format(frame);
        uint32_t ch = rmw_output_audio_channels(frame);
        size_t frames = rmw_output_audio_frames(frame);
        if (format && ch) {
            size_t bytes = frames * ch * (format == 2 ? 2 : 4);
            void *copy = rmw_alloc(bytes);
            if (!copy) abort();
            memcpy(copy, rmw_output_audio_data(frame), bytes);
            return rmw_node_emit_audio(node, format, rmw_output_audio_rate(frame), ch, copy, frames, -1);
        }
        format = (int)(byte() % 4);
        ch = byte() % 9;
        frames = byte();
        uint32_t rate = rates[byte() % 8];
        void *buf = audio(format, ch ? ch : 1, frames);
        return rmw_node_emit_audio(node, format, rate, ch, buf, frames, -1);
    }
    case 4: {
        size_t n;
        const char *s = str(&n);
        return rmw_node_fail(node, -(int)(byte() % 20), s ? s : "", n);
    }
    default:
        return -(int)(byte() % 20);
    }
}

static volatile unsigned char touched; /* reads of output audio (ASan checks them) */

static void drain(rmw_session *ws, const char *sink, size_t sl, const char *port, size_t pl, int all)
{
    size_t n = rmw_output_count(ws, sink, sl, port, pl);
    for (size_t i = 0; i < n; i++) {
        rmw_output *o = rmw_output_take(ws, sink, sl, port, pl);
        if (!o) abort(); /* counted outputs can be taken */
        if (!rmw_output_node(o) || !rmw_output_port(o)) abort();
        (void)rmw_output_kind(o);
        (void)rmw_output_timestamp_us(o);
        char *t = rmw_output_text(o);
        if (t) (void)strlen(t);
        rmw_free(t);
        const unsigned char *a = rmw_output_audio_data(o);
        size_t frames = rmw_output_audio_frames(o);
        uint32_t ch = rmw_output_audio_channels(o);
        int format = rmw_output_audio_format(o);
        if (a && frames) { /* the view covers frames x channels samples */
            size_t bytes = frames * ch * (format == 2 ? 2 : 4);
            for (size_t k = 0; k < bytes; k += 61) touched ^= a[k];
            touched ^= a[bytes - 1];
        }
        (void)rmw_output_audio_rate(o);
        rmw_output_free(o);
        if (!all) break;
    }
    if (all && rmw_output_count(ws, sink, sl, port, pl) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rm_runtime *rt;
    if (!rt) { /* one runtime for the run, as a page keeps it */
        rt = rmw_runtime_new();
        if (!rt) abort();
        rmw_set_host(host_fn);
        if (rmw_register_external(rt, "Host", 4, "echo", 4, 3) != 0) abort();
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t mlen = nul ? (size_t)(nul - data) : size;
    cur = nul ? nul + 1 : data + size;
    left = (size_t)(data + size - cur);

    const char *text = (const char *)data;
    if (mlen == 1 && data[0] >= 1 && data[0] <= 5) {
        text = manifests[data[0] - 1];
        mlen = strlen(text);
    }
    rm_graph *g = rmw_graph_from_text(rt, text, mlen, "fuzz.yaml", 9);
    check_error_text();
    if (!g) return 0;
    char *summary = rmw_graph_summary(g);
    if (!summary) abort();
    rmw_free(summary);
    rmw_session *ws = rmw_session_open(g);
    check_error_text();
    for (int ops = 0; ws && left && ops < 256; ops++) {
        size_t nl = 0, pl = 0, tl = 0;
        const char *node, *port, *t;
        switch (byte() % 11) {
        case 0:
            node = str(&nl);
            t = str(&tl);
            (void)rmw_session_push_json(ws, node, nl, t ? t : "", tl);
            break;
        case 1:
            node = str(&nl);
            t = str(&tl);
            (void)rmw_session_push_text(ws, node, nl, t ? t : "", tl);
            break;
        case 2: {
            node = str(&nl);
            int format = (int)(byte() % 5);
            uint32_t rate = rates[byte() % 8], ch = byte() % 10;
            size_t frames = byte();
            frames *= 1 + byte() % 8;
            void *buf = audio(format, ch ? ch : 1, frames);
            double ts = stamp();
            (void)rmw_session_push_audio(ws, node, nl, format, rate, ch, buf, frames, ts);
            break;
        }
        case 3:
            (void)rmw_session_flush(ws);
            break;
        case 4:
            (void)rmw_session_cancel(ws);
            break;
        case 5: {
            char *m = rmw_metrics_json(ws);
            if (!m) abort();
            rmw_free(m);
            break;
        }
        case 6:
        case 7:
            node = str(&nl);
            port = str(&pl);
            drain(ws, node, nl, port, pl, byte() % 2);
            break;
        case 8: {
            t = str(&tl);
            char *j = rmw_inspect_json(rt, t ? t : "", tl);
            rmw_free(j);
            break;
        }
        case 9: {
            char *s = rmw_graph_summary(g);
            rmw_free(s);
            break;
        }
        default:
            rmw_session_close(ws);
            ws = rmw_session_open(g);
            break;
        }
        check_error_text();
    }
    if (ws) {
        (void)rmw_session_flush(ws);
        drain(ws, NULL, 0, NULL, 0, 1);
        rmw_session_close(ws);
    }
    rmw_graph_free(g);
    return 0;
}
