/*
 * The native side of the wasm benchmark (bench/bench_wasm.mjs, `make
 * bench`): the rmw_* C API of the wasm library (src/wasm/rmw.c) compiled
 * natively, driven per 20 ms chunk exactly as web/ drives remotemedia.wasm:
 * rmw_alloc + copy the chunk in, rmw_session_push_audio, then
 * rmw_session_drain and copy every output's audio (or text) out.  So the ratio wasm/native is what the wasm
 * target and the JavaScript boundary cost, the same C code on both sides.
 *
 *   bench_rmw_chunk MANIFEST CHUNKS ROUNDS [--paired]
 * prints "us_per_chunk WALL CPU" per round (after a 200-chunk warm-up); with
 * --paired it runs each round when a line arrives on stdin, so the caller
 * alternates its rounds with these in one long-lived process: wall
 * time and the process's CPU time per chunk (on a busy machine CPU time is
 * the steadier of the two).  The input
 * is the signal bench_wasm.mjs makes: 48 kHz mono f32, 0.5 s of a 300 Hz tone
 * then 0.5 s of near silence, repeated.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/wasm/rmw.h"

static double now_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static float sample(size_t i)
{
    const double rate = 48000.0;
    int tone = (i / 24000) % 2 == 0;
    return (float)(tone ? 0.3 * sin(2 * 3.14159265358979323846 * 300.0 * (double)i / rate) : 0.001 * sin((double)i));
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s) s[n] = 0, *len = (size_t)n;
    return s;
}

int main(int argc, char **argv)
{
    int paired = argc == 5 && !strcmp(argv[4], "--paired");
    if (argc != 4 && !paired) {
        fprintf(stderr, "usage: bench_rmw_chunk MANIFEST CHUNKS ROUNDS [--paired]\n");
        return 2;
    }
    size_t len = 0;
    char *text = slurp(argv[1], &len);
    long chunks = atol(argv[2]), rounds = atol(argv[3]);
    if (!text || chunks <= 0 || rounds <= 0) {
        fprintf(stderr, "bench_rmw_chunk: cannot read %s or bad counts\n", argv[1]);
        return 2;
    }
    rm_runtime *rt = rmw_runtime_new();
    rm_graph *g = rt ? rmw_graph_from_text(rt, text, len, "bench", 5) : NULL;
    rmw_session *s = g ? rmw_session_open(g) : NULL;
    if (!s) {
        fprintf(stderr, "bench_rmw_chunk: %s\n", rmw_error());
        return 1;
    }
    enum { CHUNK = 960 }; /* 20 ms at 48 kHz */
    float *out = malloc(1 << 20), *sig = malloc(48000 * sizeof(float)); /* one period: 50 chunks */
    if (!out || !sig) return 1;
    for (size_t i = 0; i < 48000; i++) sig[i] = sample(i);
    size_t pos = 0;
    char line[64];
    for (long r = -1; r < rounds; r++) {
        long n = r < 0 ? 200 : chunks; /* round -1: warm-up */
        /* paired: wait for the caller's "go" before each round */
        if (paired && r >= 0 && !fgets(line, sizeof line, stdin)) break;
        double t0 = now_us(CLOCK_MONOTONIC), c0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
        for (long c = 0; c < n; c++) {
            float *buf = rmw_alloc(CHUNK * sizeof(float));
            memcpy(buf, sig + pos % 48000, CHUNK * sizeof(float)); /* the JS side copies in here */
            int rc = rmw_session_push_audio(s, NULL, 0, 1, 48000, 1, buf, CHUNK, (double)pos * 1e6 / 48000.0);
            pos += CHUNK;
            if (rc) {
                fprintf(stderr, "bench_rmw_chunk: push: %s\n", rmw_error());
                return 1;
            }
            const rmw_out_table *t = rmw_session_drain(s); /* as web/ does after each push */
            for (uint32_t i = 0; t && i < t->count; i++) {
                const rmw_out_desc *d = &t->item[i];
                size_t bytes = d->kind == RM_FRAME_AUDIO ? (size_t)d->size * d->channels * 4 : d->size;
                if (d->data && bytes <= (1 << 20)) memcpy(out, d->data, bytes); /* JS copies out */
            }
        }
        double dt = now_us(CLOCK_MONOTONIC) - t0, dc = now_us(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (r >= 0) printf("us_per_chunk %.3f %.3f\n", dt / (double)n, dc / (double)n);
        if (paired) fflush(stdout);
    }
    free(out);
    free(sig);
    rmw_session_close(s);
    rmw_graph_free(g);
    rmw_runtime_free(rt);
    free(text);
    return 0;
}
