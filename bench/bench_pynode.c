/*
 * bench_pynode — what a PythonNode worker adds per frame, seen from a C host
 * (what `rmedia run` and `rmedia serve` do): rm_session_push() of one frame
 * into a one-node graph, on the calling thread, until its output has come
 * back through the on_output callback.
 *
 *   ours:     PythonNode running `Echo.process(x): return x` in its worker
 *   baseline: PassThrough (an in-process C node), same session setup
 *
 * for a 20 ms 48 kHz f32 mono frame and a 1 MiB f32 tensor.  Rounds
 * alternate the two graphs so both see the same machine load; the table
 * shows medians of every frame's round trip.  The difference is the
 * worker's cost: two process wake-ups (eventfd), the ring copies and the
 * worker's Python work.  Needs /usr/bin/python3 (or $REMOTEMEDIA_PYTHON)
 * with numpy; skipped without python-nodes in the build.
 */
#include "bench.h"

#include <sys/stat.h>

#include "remotemedia/python_nodes.h"

typedef struct counter {
    uint64_t frames;
} counter;

static void count_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id, (void)port, (void)f;
    ((counter *)user)->frames++;
}

/* Per-frame round trips (ns) of `n` pushes of `f` into a fresh session of `g`. */
static void rounds(rm_graph *g, const rm_frame *f, size_t n, double *out)
{
    counter c = {0};
    rm_session_opts o = {0};
    o.on_output = count_output;
    o.output_user = &c;
    o.flags = RM_SESSION_NO_METRICS;
    rm_session *s;
    rm_error err = {0};
    int rc = rm_session_open(g, &o, &s, &err);
    if (rc != 0) bench_die("rm_session_open", rc, &err);
    for (size_t i = 0; i < 20; i++) /* warm-up: first touches of the rings */
        if ((rc = rm_session_push(s, f)) != 0) bench_die("rm_session_push", rc, rm_session_error(s));
    for (size_t i = 0; i < n; i++) {
        uint64_t before = c.frames, t0 = bench_now_ns();
        rc = rm_session_push(s, f);
        uint64_t t1 = bench_now_ns();
        if (rc != 0) bench_die("rm_session_push", rc, rm_session_error(s));
        if (c.frames != before + 1) {
            fprintf(stderr, "bench_pynode: expected one output per push\n");
            exit(2);
        }
        out[i] = (double)(t1 - t0);
    }
    rm_session_end(s);
    rm_session_close(s);
}

static void compare(const char *label, rm_graph *py, rm_graph *c, const rm_frame *f, size_t n, int reps,
                    double target_us)
{
    double *a = malloc(n * (size_t)reps * sizeof *a), *b = malloc(n * (size_t)reps * sizeof *b);
    if (!a || !b) abort();
    for (int r = 0; r < reps; r++) {
        bench_progress("bench_pynode: %s, round %d/%d", label, r + 1, reps);
        rounds(py, f, n, a + (size_t)r * n);
        rounds(c, f, n, b + (size_t)r * n);
    }
    bench_progress_done();
    double mp = bench_median(a, n * (size_t)reps) / 1e3, mc = bench_median(b, n * (size_t)reps) / 1e3;
    double p90 = bench_quantile(a, n * (size_t)reps, 0.9) / 1e3;
    double added = mp - mc;
    fprintf(stderr, "bench_pynode: %s: worker %.1f us (p90 %.1f), C node %.2f us, added %.1f us\n", label, mp,
            p90, mc, added);
    if (target_us > 0)
        bench_row(bench_fmt("PythonNode worker (C host): added per %s round trip", label),
                  bench_fmt("%.1f us", added), bench_fmt("<= %.0f us", target_us),
                  bench_fmt("%.2f", added / target_us), bench_verdict_max(added, target_us));
    bench_row(bench_fmt("PythonNode worker (C host): %s round trip vs in-process C node", label),
              bench_fmt("%.1f us", mp), bench_fmt("C node %.2f us", mc), bench_fmt("%.0f", mp / mc), "info");
    free(a);
    free(b);
}

int main(int argc, char **argv)
{
    if (!strstr(rm_build_features(), "python-nodes")) {
        fprintf(stderr, "bench_pynode: this build has no python-nodes; skipped\n");
        return 0;
    }
    int quick = bench_quick(argc, argv);
    char dir[] = "/tmp/bench_pynode.XXXXXX";
    if (!mkdtemp(dir)) return 2;
    char path[64];
    snprintf(path, sizeof path, "%s/bench_echo.py", dir);
    FILE *fp = fopen(path, "w");
    if (!fp) return 2;
    fputs("class Echo:\n    def process(self, x):\n        return x\n", fp);
    fclose(fp);

    rm_runtime *rt = bench_runtime();
    rm_error err = {0};
    int rc = rm_register_python_nodes(rt, NULL, &err);
    if (rc != 0) bench_die("rm_register_python_nodes", rc, &err);
    char m[512];
    snprintf(m, sizeof m,
             "{\"version\":\"v1\",\"nodes\":[{\"id\":\"py\",\"node_type\":\"PythonNode\","
             "\"params\":{\"class\":\"bench_echo:Echo\",\"python_path\":[\"%s\"]}}]}",
             dir);
    rm_graph *py = bench_graph(rt, m, "pynode.json");
    const char *pass = "{\"version\":\"v1\",\"nodes\":[{\"id\":\"c\",\"node_type\":\"PassThrough\"}]}";
    rm_graph *c = bench_graph(rt, pass, "passthrough.json");

    size_t n = quick ? 200 : 2000;
    rm_frame *audio = rm_frame_new_audio(RM_SAMPLE_F32, 48000, 1, 960);
    int64_t shape[1] = {1 << 18};
    rm_frame *tensor = rm_frame_new_tensor(RM_DTYPE_F32, 1, shape);
    if (!audio || !tensor) return 2;
    memset(audio->u.audio.data, 0, rm_frame_payload_size(audio));
    memset(tensor->u.tensor.data, 0, tensor->u.tensor.size);
    compare("20 ms f32 audio frame", py, c, audio, n / 5, 5, 30);
    compare("1 MiB f32 tensor", py, c, tensor, n / 50, 5, 0);

    rm_frame_unref(audio);
    rm_frame_unref(tensor);
    rm_graph_unref(py);
    rm_graph_unref(c);
    rm_runtime_free(rt);
    unlink(path);
    rmdir(dir);
    return 0;
}
