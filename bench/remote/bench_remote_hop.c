/*
 * The added latency of a RemotePipeline hop (make bench → bench/remote/
 * run_bench.py, which starts the server): the same sub-graph — Gain on 20 ms
 * chunks of 16 kHz mono audio, one output per chunk — run locally and
 * through a RemotePipeline node (reply_wait_ms, so each chunk's output is
 * passed on as soon as it arrives), interleaved in blocks in one process.
 * Per chunk: time from rm_session_push to the output callback.
 *
 *   bench_remote_hop --server HOST:PORT [--quick]
 *
 * Prints scripts/bench ROW lines; goal (issue 13): the hop adds <= 150 µs p50.
 */
#include "../bench.h"

#include <pthread.h>
#include "remotemedia/client.h"
#include "remotemedia/remote_nodes.h"

static const char sub[] = "{\"version\":\"v1\",\"nodes\":[{\"id\":\"g\",\"node_type\":\"Gain\","
                          "\"params\":{\"gain_db\":-6}}],\"connections\":[]}";

/* the waiting thread sleeps (a spin would take one of the few cores the
 * server and the node's worker need) */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static unsigned long outputs;

static void on_out(void *user, const char *node, const char *port, const rm_frame *f)
{
    (void)user, (void)node, (void)port, (void)f;
    pthread_mutex_lock(&mu);
    outputs++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

/* Pushes n chunks one at a time; lat[i] = µs from push to output. */
static void run(rm_graph *g, const rm_frame *chunk, double *lat, size_t n)
{
    rm_session_opts o = {.on_output = on_out, .flags = RM_SESSION_NO_METRICS};
    rm_session *s;
    rm_error err;
    int rc = rm_session_open(g, &o, &s, &err);
    if (rc) bench_die("rm_session_open", rc, &err);
    for (size_t i = 0; i < n + 20; i++) { /* 20 warm-up chunks */
        pthread_mutex_lock(&mu);
        unsigned long want = outputs + 1;
        pthread_mutex_unlock(&mu);
        uint64_t t0 = bench_now_ns();
        if ((rc = rm_session_push(s, chunk)) != 0) bench_die("rm_session_push", rc, rm_session_error(s));
        pthread_mutex_lock(&mu);
        while (outputs < want) pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        if (i >= 20) lat[i - 20] = (double)(bench_now_ns() - t0) / 1000.0;
    }
    if ((rc = rm_session_end(s)) != 0) bench_die("rm_session_end", rc, rm_session_error(s));
    rm_session_close(s);
}

/* The C client alone (no session, no node): push one chunk, poll its output. */
static void run_client(const char *server, const rm_frame *chunk, double *lat, size_t n)
{
    rm_client *c;
    rm_client_stream *st;
    rm_error err;
    int rc = rm_client_connect(server, NULL, &c, &err);
    if (!rc) rc = rm_client_stream_open(c, sub, &st, &err);
    if (rc) bench_die("client", rc, &err);
    for (size_t i = 0; i < n + 20; i++) {
        uint64_t t0 = bench_now_ns();
        if ((rc = rm_client_stream_push(st, "g", chunk, i, &err)) != 0) bench_die("push", rc, &err);
        rm_client_output o;
        if ((rc = rm_client_stream_poll(st, 5, &o, &err)) != 1) bench_die("poll", rc < 0 ? rc : RM_ETIMEDOUT, &err);
        if (i >= 20) lat[i - 20] = (double)(bench_now_ns() - t0) / 1000.0;
        rm_client_output_clear(&o);
    }
    rm_client_stream_close(st, NULL, NULL, NULL, &err);
    rm_client_stream_free(st);
    rm_client_free(c);
}

int main(int argc, char **argv)
{
    const char *server = bench_arg(argc, argv, "--server");
    if (!server) {
        fprintf(stderr, "usage: bench_remote_hop --server HOST:PORT [--quick]\n");
        return 2;
    }
    int quick = bench_quick(argc, argv);
    size_t block = quick ? 200 : 1000, blocks = quick ? 2 : 5;
    rm_runtime *rt;
    rm_error err;
    int rc = rm_runtime_new_with_builtins(NULL, &rt, &err);
    if (!rc) rc = rm_register_remote_nodes(rt, &err);
    if (rc) bench_die("runtime", rc, &err);
    char remote[1024];
    snprintf(remote, sizeof remote,
             "{\"version\":\"v1\",\"nodes\":[{\"id\":\"r\",\"node_type\":\"RemotePipeline\",\"params\":{"
             "\"endpoints\":[\"%s\"],\"reply_wait_ms\":1000,\"manifest\":%s}}],\"connections\":[]}",
             server, sub);
    rm_graph *gl, *gr;
    rm_diags *d = rm_diags_new();
    if ((rc = rm_graph_load_string(rt, sub, strlen(sub), "local", NULL, &gl, d)) != 0 ||
        (rc = rm_graph_load_string(rt, remote, strlen(remote), "remote", NULL, &gr, d)) != 0) {
        rm_diags_to_error(d, &err);
        bench_die("compile", rc, &err);
    }
    rm_diags_free(d);
    rm_frame *chunk = rm_frame_new_audio(RM_SAMPLE_F32, 16000, 1, 320);
    float *x = (float *)chunk->u.audio.data;
    for (int i = 0; i < 320; i++) x[i] = 0.1f * (float)((i % 40) - 20) / 20.0f;
    double *local = calloc(block * blocks, sizeof *local), *hop = calloc(block * blocks, sizeof *hop);
    double *cl = calloc(block * blocks, sizeof *cl);
    for (size_t b = 0; b < blocks; b++) { /* interleaved: all see the same machine load */
        run(gl, chunk, local + b * block, block);
        run(gr, chunk, hop + b * block, block);
        run_client(server, chunk, cl + b * block, block);
    }
    size_t n = block * blocks;
    double l50 = bench_quantile(local, n, 0.5), l99 = bench_quantile(local, n, 0.99);
    double h50 = bench_quantile(hop, n, 0.5), h99 = bench_quantile(hop, n, 0.99);
    double c50 = bench_quantile(cl, n, 0.5), c99 = bench_quantile(cl, n, 0.99);
    fprintf(stderr,
            "bench_remote_hop: %zu chunks each: local p50 %.1f p99 %.1f µs, via %s p50 %.1f p99 %.1f µs, "
            "C client alone p50 %.1f p99 %.1f µs\n",
            n, l50, l99, server, h50, h99, c50, c99);
    bench_row("RemotePipeline hop, added per 20 ms chunk p50 (loopback, Gain)", bench_fmt("%.0f µs", h50 - l50),
              bench_fmt("goal <= 150 µs (local %.1f µs, remote %.0f µs)", l50, h50),
              bench_fmt("%.2fx goal", (h50 - l50) / 150.0), h50 - l50 <= 150 ? "PASS" : "MISS");
    bench_row("RemotePipeline hop, added per 20 ms chunk p99 (loopback, Gain)", bench_fmt("%.0f µs", h99 - l99),
              bench_fmt("local %.1f µs, remote %.0f µs", l99, h99), "-", "measured");
    bench_row("C client stream round trip per 20 ms chunk (same sub-graph, no node)", bench_fmt("p50 %.0f µs", c50),
              bench_fmt("p99 %.0f µs", c99), "-", "measured");
    free(cl);
    free(local);
    free(hop);
    rm_frame_unref(chunk);
    rm_graph_unref(gl);
    rm_graph_unref(gr);
    rm_runtime_free(rt);
    return 0;
}
