/*
 * AudioChunker: fixed chunks by frames, ms (44.1 kHz rounding) and the
 * original's interleaved chunk_size; remainder kept across frames; flush
 * (short or padded last chunk); timestamps; layout changes; bad input.
 */
#include "audio_test.h"

static rm_runtime *rt;

/* A ramp: sample i of the stream (interleaved) has value i (s16). */
static rm_frame *ramp(uint32_t rate, uint32_t ch, size_t frames, size_t start)
{
    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_S16, rate, ch, frames);
    for (size_t i = 0; i < frames * ch; i++) ((int16_t *)f->u.audio.data)[i] = (int16_t)((start * ch + i) % 30000);
    return f;
}

/* Pushes frames of the given sizes (a ramp, stamped from 1 s), ends the
 * stream, and checks that the outputs are the ramp cut into `chunk`-frame
 * pieces with a last piece of `last` frames. */
static void check_chunks(const char *params, uint32_t rate, uint32_t ch, const size_t *sizes, size_t n_sizes,
                         size_t chunk, size_t last)
{
    rm_harness *h = harness_ok(rt, "AudioChunker", params);
    size_t pos = 0;
    for (size_t i = 0; i < n_sizes; i++) {
        rm_frame *f = ramp(rate, ch, sizes[i], pos);
        f->timestamp_us = 1000000 + (int64_t)llround((double)pos * 1e6 / rate);
        f->sequence = 100 + i;
        CHECK_INT(rm_harness_push(h, f), 0);
        rm_frame_unref(f);
        pos += sizes[i];
    }
    CHECK_INT(rm_harness_end(h), 0);
    size_t n = rm_harness_output_count(h), total = 0;
    for (size_t i = 0; i < n; i++) {
        const rm_frame *o = rm_harness_output(h, i);
        size_t want = i + 1 < n ? chunk : last;
        CHECK_INT(o->u.audio.frames, want);
        CHECK_INT(o->u.audio.channels, ch);
        CHECK_INT(o->timestamp_us, 1000000 + llround((double)total * 1e6 / rate));
        const int16_t *d = o->u.audio.data;
        size_t real = total + o->u.audio.frames <= pos ? o->u.audio.frames : pos - total;
        /* the sequence of the input that completed the chunk */
        size_t cause = 0, cum = sizes[0];
        while (cum < total + real && cause + 1 < n_sizes) cum += sizes[++cause];
        CHECK_INT(o->sequence, 100 + cause);
        for (size_t k = 0; k < o->u.audio.frames * ch; k++) {
            int16_t want_v = k < real * ch ? (int16_t)((total * ch + k) % 30000) : 0; /* padding is silence */
            if (d[k] != want_v) {
                CHECK_INT(d[k], want_v);
                break;
            }
        }
        total += o->u.audio.frames;
    }
    rm_harness_free(h);
}

/* 1000 frames in uneven pieces → 100-frame chunks; remainder kept across
 * frames; the 37-frame tail comes at end (shorter) */
static void test_frames_and_remainder(void)
{
    const size_t sizes[] = {30, 250, 1, 99, 400, 157}; /* 937 */
    check_chunks("{\"chunk_frames\": 100}", 16000, 1, sizes, 6, 100, 37);
    check_chunks("{\"chunk_frames\": 100}", 16000, 2, sizes, 6, 100, 37);
    /* pad_last: the tail is zero-padded to a full chunk */
    check_chunks("{\"chunk_frames\": 100, \"pad_last\": true}", 16000, 2, sizes, 6, 100, 100);
    /* an exact multiple leaves nothing for the end */
    const size_t even[] = {150, 50};
    check_chunks("{\"chunk_frames\": 100}", 16000, 1, even, 2, 100, 100);
}

/* chunk_ms converts at the input rate and rounds to the nearest frame:
 * 20 ms at 44.1 kHz = 882, 25 ms = 1102.5 → 1103, 10 ms at 22.05 kHz =
 * 220.5 → 221; the default is 20 ms. */
static void test_ms(void)
{
    const size_t sizes[] = {1000, 3000, 411}; /* 4411 */
    check_chunks("{\"chunk_ms\": 20}", 44100, 1, sizes, 3, 882, 1);
    check_chunks("{}", 44100, 1, sizes, 3, 882, 1);
    check_chunks("{\"chunk_ms\": 25}", 44100, 2, sizes, 3, 1103, 4411 - 3 * 1103);
    check_chunks("{\"chunkMs\": 10}", 22050, 1, sizes, 3, 221, 4411 - 19 * 221);
}

/* The original's AudioChunkerNode chunk_size counts interleaved samples:
 * 1024 on stereo = 512 frames; an odd size on stereo is an error. */
static void test_chunk_size_alias(void)
{
    const size_t sizes[] = {700, 700};
    check_chunks("{\"chunkSize\": 1024}", 16000, 2, sizes, 2, 512, 1400 - 2 * 512);
    rm_harness *h = harness_ok(rt, "AudioChunkerNode", "{\"chunk_size\": 513}");
    rm_frame *f = ramp(16000, 2, 10, 0);
    CHECK_INT(rm_harness_push(h, f), RM_EFORMAT);
    CHECK_CONTAINS(rm_harness_error(h)->message, "chunk_size 513");
    rm_frame_unref(f);
    rm_harness_free(h);
}

/* A rate change mid-stream emits the remainder first, then chunks the new
 * audio at its own rate. */
static void test_layout_change(void)
{
    rm_harness *h = harness_ok(rt, "AudioChunker", "{\"chunk_ms\": 10}");
    rm_frame *a = ramp(16000, 1, 250, 0), *b = ramp(48000, 1, 1000, 0);
    CHECK_INT(rm_harness_push(h, a), 0);
    CHECK_INT(rm_harness_push(h, b), 0);
    CHECK_INT(rm_harness_end(h), 0);
    /* 160, 90 (16 kHz), 480, 480, 40 (48 kHz) */
    static const size_t want[] = {160, 90, 480, 480, 40};
    CHECK_INT(rm_harness_output_count(h), 5);
    for (size_t i = 0; i < 5 && i < rm_harness_output_count(h); i++)
        CHECK_INT(rm_harness_output(h, i)->u.audio.frames, want[i]);
    /* the 48 kHz chunks continue the timeline: 250 frames at 16 kHz = 15.625 ms */
    if (rm_harness_output_count(h) == 5) CHECK_INT(rm_harness_output(h, 3)->timestamp_us, 15625 + 10000);
    rm_frame_unref(a);
    rm_frame_unref(b);
    rm_harness_free(h);
}

static void test_bad_input(void)
{
    char msg[600];
    CHECK_INT(harness_fails(rt, "AudioChunker", "{\"chunk_frames\": -5}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "chunk_frames");
    CHECK_INT(harness_fails(rt, "AudioChunker", "{\"chunk_ms\": 0}", msg, sizeof msg), RM_EPARAM);
    CHECK_CONTAINS(msg, "chunk_ms");
    CHECK_INT(harness_fails(rt, "AudioChunker", "{\"chunk_frames\": 10, \"chunk_size\": 20}", msg, sizeof msg),
              RM_EPARAM);
    CHECK_CONTAINS(msg, "chunk_size");
    rm_harness *h = harness_ok(rt, "AudioChunker", "{\"chunk_ms\": 0.01}");
    rm_frame *f = ramp(8000, 1, 10, 0);
    CHECK_INT(rm_harness_push(h, f), RM_EFORMAT);
    CHECK_CONTAINS(rm_harness_error(h)->message, "less than one frame at 8000 Hz");
    rm_frame_unref(f);
    rm_harness_free(h);
    h = harness_ok(rt, "AudioChunker", "{}");
    f = rm_frame_new_text("x", 1);
    CHECK_INT(rm_harness_push(h, f), RM_EFRAMEKIND);
    rm_frame_unref(f);
    rm_harness_free(h);
}

/* An empty frame, and an end with nothing pending, emit nothing. */
static void test_empty_and_end(void)
{
    rm_harness *h = harness_ok(rt, "AudioChunker", "{\"chunk_frames\": 4}");
    rm_frame *f = ramp(16000, 1, 0, 0);
    CHECK_INT(rm_harness_push(h, f), 0);
    CHECK_INT(rm_harness_end(h), 0);
    CHECK_INT(rm_harness_output_count(h), 0);
    rm_frame_unref(f);
    rm_harness_free(h);
}

/* rm_session_reset drops the pending remainder. */
static void count_frames(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    (void)port;
    ((size_t *)user)[0] += f->u.audio.frames;
    ((size_t *)user)[1]++;
}

static void test_reset(void)
{
    size_t counts[2] = {0, 0};
    rm_graph *g;
    rm_session *s = one_node_session(rt, "AudioChunker", "{\"chunk_frames\": 100}", count_frames, counts, &g);
    CHECK(s != NULL);
    if (!s) return;
    rm_frame *a = ramp(16000, 1, 150, 0), *b = ramp(16000, 1, 100, 0);
    CHECK_INT(rm_session_push(s, a), 0);
    CHECK_INT(rm_session_reset(s), 0);
    CHECK_INT(rm_session_push(s, b), 0);
    CHECK_INT(rm_session_end(s), 0);
    CHECK_INT(counts[0], 200); /* 100 before the reset, 100 after; the 50 pending were dropped */
    CHECK_INT(counts[1], 2);
    rm_frame_unref(a);
    rm_frame_unref(b);
    rm_session_close(s);
    rm_graph_unref(g);
}

int main(void)
{
    rt = test_rt();
    RUN(test_frames_and_remainder);
    RUN(test_ms);
    RUN(test_chunk_size_alias);
    RUN(test_layout_change);
    RUN(test_bad_input);
    RUN(test_empty_and_end);
    RUN(test_reset);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
