/*
 * bench_pynode — what a PythonNode worker adds per frame, seen from a C host
 * (what `rmedia run` and `rmedia serve` do): rm_session_push() of one frame
 * into a one-node graph, on the calling thread, until its output has come
 * back through the on_output callback.
 *
 *   ours:     PythonNode running `Echo.process(x): return x` in its worker
 *             (and for the tensor also EchoView: the same with
 *             zero_copy_inputs, its input a view into the ring, one copy less)
 *   baseline: PassThrough (an in-process C node), same session setup
 *   floor:    a bare ping-pong with a forked C child over eventfds (write,
 *             the child's read and write, our read): the two process
 *             wake-ups any worker design pays, on this machine, now
 *
 * for a 20 ms 48 kHz f32 mono frame and a 1 MiB f32 tensor.  Rounds
 * alternate the three so all see the same machine load; the table shows
 * medians (and p90) of every frame's round trip.  Added = worker - C node:
 * the two wake-ups, the ring copies and the worker's Python work; added -
 * floor is what is ours beyond the wake-ups.
 *
 * Then the parallel speed-up: 2 sessions (2 threads) pushing frames into a
 * CPU-bound Python node (a pure-Python loop) at once, against 1 session
 * doing the same frames alone, in the same run: 2 * t(1) / t(2), ideally
 * 2.0 on 2 idle cores (each session has its own worker, so no shared GIL).
 *
 * Needs /usr/bin/python3 (or $REMOTEMEDIA_PYTHON) with numpy; skipped
 * without python-nodes in the build.
 */
#define _GNU_SOURCE /* sched_setaffinity (--pin) */
#include "bench.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "remotemedia/python_nodes.h"
#include "../src/nodes/python/pyw.h" /* the trace stamps' order */

typedef struct counter {
    uint64_t frames;
} counter;

static void count_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id, (void)port, (void)f;
    ((counter *)user)->frames++;
}

/* A session of `g` whose outputs are counted in `c`. */
static rm_session *open_counting(rm_graph *g, counter *c)
{
    rm_session_opts o = {0};
    o.on_output = count_output;
    o.output_user = c;
    o.flags = RM_SESSION_NO_METRICS;
    rm_session *s;
    rm_error err = {0};
    int rc = rm_session_open(g, &o, &s, &err);
    if (rc != 0) bench_die("rm_session_open", rc, &err);
    return s;
}

/* --pin same|split: this thread on CPU 0, the workers (our child
 * processes) on CPU 0 too or on CPU 1, to tell a same-CPU hand-off from a
 * cross-CPU wake-up.  Default: wherever the scheduler puts them. */
static int pin_mode; /* 0 none, 1 same, 2 split */

static void pin(pid_t pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(pid, sizeof set, &set) != 0) perror("bench_pynode: sched_setaffinity");
}

static void pin_children(void)
{
    if (!pin_mode) return;
    pin(0, 0);
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
        FILE *fp = fopen(path, "r");
        int pid;
        while (fp && fscanf(fp, "%d", &pid) == 1) pin(pid, pin_mode == 1 ? 0 : 1);
        if (fp) fclose(fp);
    }
    if (d) closedir(d);
}

/* The time between frames of a live stream (every CPU goes idle), or none. */
static void pace(long gap_us)
{
    struct timespec ts = {0, gap_us * 1000};
    if (gap_us) nanosleep(&ts, NULL);
}

/* Per-frame round trips (ns) of `n` pushes of `f` into a fresh session of
 * `g`, one every `gap_us` (0 = back to back). */
static void rounds(rm_graph *g, const rm_frame *f, size_t n, double *out, long gap_us)
{
    counter c = {0};
    rm_session *s = open_counting(g, &c);
    pin_children();
    int rc;
    for (size_t i = 0; i < 20; i++) /* warm-up: first touches of the rings */
        if ((rc = rm_session_push(s, f)) != 0) bench_die("rm_session_push", rc, rm_session_error(s));
    for (size_t i = 0; i < n; i++) {
        pace(gap_us);
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

/* The floor: n eventfd ping-pongs with a forked child. */
static void floor_rounds(size_t n, double *out, long gap_us)
{
    int a = eventfd(0, EFD_CLOEXEC), b = eventfd(0, EFD_CLOEXEC);
    if (a < 0 || b < 0) abort();
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t v;
        while (read(a, &v, sizeof v) == (ssize_t)sizeof v && v == 1)
            if (write(b, &v, sizeof v) != (ssize_t)sizeof v) break;
        _exit(0);
    }
    if (pid < 0) abort();
    pin_children();
    for (size_t i = 0; i < n + 20; i++) {
        pace(gap_us);
        uint64_t v = 1, t0 = bench_now_ns();
        if (write(a, &v, sizeof v) != (ssize_t)sizeof v || read(b, &v, sizeof v) != (ssize_t)sizeof v) abort();
        if (i >= 20) out[i - 20] = (double)(bench_now_ns() - t0);
    }
    uint64_t stop = 2;
    if (write(a, &stop, sizeof stop) != (ssize_t)sizeof stop) abort();
    waitpid(pid, NULL, 0);
    close(a);
    close(b);
}

/* Rounds of `py` (the PythonNode as configured), `py0` (the same with
 * spin_us=0: the caller always sleeps for the reply, as before the spin;
 * NULL = skip), the C node and the floor, alternating.  Returns py's median
 * round trip (us). */
static double compare(const char *label, rm_graph *py, rm_graph *py0, rm_graph *c, const rm_frame *f, size_t n,
                      int reps, long gap_us, double target_us)
{
    size_t all = n * (size_t)reps;
    double *a = malloc(all * sizeof *a), *a0 = malloc(all * sizeof *a0), *b = malloc(all * sizeof *b),
           *fl = malloc(all * sizeof *fl);
    if (!a || !a0 || !b || !fl) abort();
    for (int r = 0; r < reps; r++) {
        bench_progress("bench_pynode: %s, round %d/%d", label, r + 1, reps);
        rounds(py, f, n, a + (size_t)r * n, gap_us);
        if (py0) rounds(py0, f, n, a0 + (size_t)r * n, gap_us);
        rounds(c, f, n, b + (size_t)r * n, gap_us);
        floor_rounds(n, fl + (size_t)r * n, gap_us);
    }
    bench_progress_done();
    double mp = bench_median(a, all) / 1e3, mc = bench_median(b, all) / 1e3, mf = bench_median(fl, all) / 1e3;
    double p90 = bench_quantile(a, all, 0.9) / 1e3, p90c = bench_quantile(b, all, 0.9) / 1e3;
    double added = mp - mc, added90 = p90 - p90c;
    fprintf(stderr,
            "bench_pynode: %s: worker %.1f us (p90 %.1f), C node %.2f us, added %.1f us (p90 %.1f); "
            "eventfd ping-pong floor %.1f us, added - floor %.1f us\n",
            label, mp, p90, mc, added, added90, mf, added - mf);
    if (target_us > 0)
        bench_row(bench_fmt("PythonNode worker (C host): added per %s round trip, median (p90)", label),
                  bench_fmt("%.1f us (%.1f)", added, added90), bench_fmt("<= %.0f us", target_us),
                  bench_fmt("%.2f", added / target_us), bench_verdict_max(added, target_us));
    if (py0) {
        double m0 = bench_median(a0, all) / 1e3, p900 = bench_quantile(a0, all, 0.9) / 1e3;
        fprintf(stderr, "bench_pynode: %s: spin_us=0 (always sleep): added %.1f us (p90 %.1f)\n", label, m0 - mc,
                p900 - p90c);
        bench_row(bench_fmt("PythonNode worker (C host): %s added, spin for the reply vs always sleep", label),
                  bench_fmt("%.1f us", added), bench_fmt("spin_us=0 %.1f us", m0 - mc),
                  bench_fmt("%.2f", added / (m0 - mc)), "info");
    }
    bench_row(bench_fmt("PythonNode worker (C host): %s round trip vs in-process C node", label),
              bench_fmt("%.1f us", mp), bench_fmt("C node %.2f us", mc), bench_fmt("%.0f", mp / mc), "info");
    bench_row(bench_fmt("PythonNode worker (C host): %s added vs two-process eventfd ping-pong", label),
              bench_fmt("%.1f us", added), bench_fmt("floor %.1f us", mf), bench_fmt("%.2f", added / mf), "info");
    free(a);
    free(a0);
    free(b);
    free(fl);
    return mp;
}

/* Where the time of one round trip goes: `n` pushes with the worker's
 * debug trace on (RM_PYW_TRACE, see src/nodes/python/pyw.h), each step the
 * median (p90) over the frames.  The stamps cost a little themselves (the
 * worker's are Python calls), so the traced total is shown beside the
 * untraced one of the same run. */
static const struct {
    const char *what;
    int from, to;
} steps[] = {
    {"host: encode the request into the ring", RM__PYW_T_CALL, RM__PYW_T_PUT},
    {"host: wake the worker (eventfd write)", RM__PYW_T_PUT, RM__PYW_T_KICK},
    {"request published -> worker has it", RM__PYW_T_PUT, RM__PYW_T_W_SEEN},
    {"worker: decode the request", RM__PYW_T_W_SEEN, RM__PYW_T_W_CALL},
    {"worker: process()", RM__PYW_T_W_CALL, RM__PYW_T_W_RET},
    {"worker: encode the reply into the ring", RM__PYW_T_W_RET, RM__PYW_T_W_PUT},
    {"worker: publish (+ wake byte if the host sleeps)", RM__PYW_T_W_PUT, RM__PYW_T_W_SENT},
    {"reply published -> host has it", RM__PYW_T_W_PUT, RM__PYW_T_SEEN},
    {"host: spinning for the reply", RM__PYW_T_KICK, RM__PYW_T_SPUN},
    {"host: decode the reply", RM__PYW_T_SEEN, RM__PYW_T_DECODED},
    {"host: emit (session, on_output)", RM__PYW_T_DECODED, RM__PYW_T_EMITTED},
    {"total inside the node (call -> emitted)", RM__PYW_T_CALL, RM__PYW_T_EMITTED},
};

static void trace_table(rm_graph *py, const rm_frame *f, size_t n, const char *dir, double untraced_us)
{
    char path[96];
    snprintf(path, sizeof path, "%s/trace.txt", dir);
    unlink(path);
    double *rt = malloc(n * sizeof *rt);
    if (!rt) abort();
    setenv("RM_PYW_TRACE", path, 1); /* read when the session's worker starts */
    bench_progress("bench_pynode: traced round");
    rounds(py, f, n, rt, 0);
    bench_progress_done();
    unsetenv("RM_PYW_TRACE");
    FILE *fp = fopen(path, "r");
    size_t cap = n + 64, rows = 0, ns = sizeof steps / sizeof steps[0];
    double *v = malloc(ns * cap * sizeof *v);
    if (!fp || !v) {
        fprintf(stderr, "bench_pynode: no trace written to %s\n", path);
        exit(2);
    }
    unsigned long long t[RM__PYW_T_N];
    size_t host_slept = 0, worker_slept = 0;
    char line[512];
    while (rows < cap && fgets(line, sizeof line, fp)) {
        char *p = line + 3;
        int got = 0;
        strtol(p, &p, 10); /* the worker's pid */
        while (got < RM__PYW_T_N && *p == ' ') t[got++] = strtoull(p, &p, 10);
        if (strncmp(line, "pyw", 3) != 0 || got != RM__PYW_T_N) {
            fprintf(stderr, "bench_pynode: bad trace line: %s", line);
            exit(2);
        }
        if (t[RM__PYW_T_W_SENT] == 0) continue; /* the last frame: its publish stamp came too late */
        host_slept += t[RM__PYW_T_SLEPT] != 0;
        worker_slept += t[RM__PYW_T_W_WOKEN] > t[RM__PYW_T_PUT];
        for (size_t k = 0; k < ns; k++)
            v[k * cap + rows] = ((double)t[steps[k].to] - (double)t[steps[k].from]) / 1e3;
        rows++;
    }
    fclose(fp);
    unlink(path);
    if (rows < n / 2) {
        fprintf(stderr, "bench_pynode: the trace has %zu of %zu frames\n", rows, n);
        exit(2);
    }
    fprintf(stderr, "bench_pynode: where a 20 ms audio frame's round trip goes (%zu traced frames; us, median "
                    "(p90))\n", rows);
    for (size_t k = 0; k < ns; k++)
        fprintf(stderr, "  %-48s %7.2f (%7.2f)\n", steps[k].what, bench_median(v + k * cap, rows),
                bench_quantile(v + k * cap, rows, 0.9));
    fprintf(stderr, "  %-48s %7.2f (untraced %.2f)\n", "push round trip, traced", bench_median(rt, n) / 1e3,
            untraced_us);
    fprintf(stderr, "  the host slept for %.0f%% of the replies, the worker for %.0f%% of the requests\n",
            100.0 * (double)host_slept / (double)rows, 100.0 * (double)worker_slept / (double)rows);
    free(v);
    free(rt);
}

/* 2 sessions at once vs 1: each thread opens its own session (its own
 * worker), warms it up, waits for the other, then pushes `frames` frames. */
typedef struct par_job {
    rm_graph *g;
    const rm_frame *f;
    size_t frames;
    pthread_barrier_t *ready;
    uint64_t t0, t1;
} par_job;

static void *par_run(void *arg)
{
    par_job *j = arg;
    counter c = {0};
    rm_session *s = open_counting(j->g, &c);
    int rc;
    if ((rc = rm_session_push(s, j->f)) != 0) bench_die("rm_session_push", rc, rm_session_error(s));
    pthread_barrier_wait(j->ready);
    j->t0 = bench_now_ns();
    for (size_t i = 0; i < j->frames; i++)
        if ((rc = rm_session_push(s, j->f)) != 0) bench_die("rm_session_push", rc, rm_session_error(s));
    j->t1 = bench_now_ns();
    if (c.frames != j->frames + 1) {
        fprintf(stderr, "bench_pynode: expected one output per push\n");
        exit(2);
    }
    rm_session_end(s);
    rm_session_close(s);
    return NULL;
}

static double par_span(rm_graph *g, const rm_frame *f, size_t frames, unsigned k)
{
    par_job j[2];
    pthread_t t[2];
    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, k);
    for (unsigned i = 0; i < k; i++) {
        j[i] = (par_job){g, f, frames, &ready, 0, 0};
        if (pthread_create(&t[i], NULL, par_run, &j[i]) != 0) abort();
    }
    uint64_t b = UINT64_MAX, e = 0;
    for (unsigned i = 0; i < k; i++) {
        pthread_join(t[i], NULL);
        if (j[i].t0 < b) b = j[i].t0;
        if (j[i].t1 > e) e = j[i].t1;
    }
    pthread_barrier_destroy(&ready);
    return (double)(e - b) / 1e9;
}

static void parallel(rm_graph *busy, const rm_frame *f, size_t frames, int reps)
{
    double t1 = 0, t2 = 0;
    for (int r = 0; r < reps; r++) { /* best of reps: the least disturbed run of each */
        bench_progress("bench_pynode: 2 sessions in parallel, round %d/%d", r + 1, reps);
        double a = par_span(busy, f, frames, 1), b = par_span(busy, f, frames, 2);
        if (r == 0 || a < t1) t1 = a;
        if (r == 0 || b < t2) t2 = b;
    }
    bench_progress_done();
    double speedup = 2 * t1 / t2;
    fprintf(stderr, "bench_pynode: CPU-bound Python node, %zu frames: 1 session %.3f s, 2 sessions %.3f s, "
                    "speed-up %.2fx\n", frames, t1, t2, speedup);
    bench_row("PythonNode worker (C host): 2 sessions in parallel, CPU-bound node, speed-up over 1 session",
              bench_fmt("%.2fx", speedup), bench_fmt("1 session %.2f s", t1), bench_fmt("%.2f", speedup / 2),
              "info");
}

int main(int argc, char **argv)
{
    if (!strstr(rm_build_features(), "python-nodes")) {
        fprintf(stderr, "bench_pynode: this build has no python-nodes; skipped\n");
        return 0;
    }
    int quick = bench_quick(argc, argv);
    const char *pm = bench_arg(argc, argv, "--pin");
    pin_mode = !pm ? 0 : strcmp(pm, "same") == 0 ? 1 : strcmp(pm, "split") == 0 ? 2 : -1;
    if (pin_mode < 0) {
        fprintf(stderr, "bench_pynode: --pin takes same or split\n");
        return 2;
    }
    char dir[] = "/tmp/bench_pynode.XXXXXX";
    if (!mkdtemp(dir)) return 2;
    char path[64];
    snprintf(path, sizeof path, "%s/bench_echo.py", dir);
    FILE *fp = fopen(path, "w");
    if (!fp) return 2;
    fputs("class Echo:\n    def process(self, x):\n        return x\n\n"
          "class EchoView(Echo):\n    zero_copy_inputs = True\n\n"
          "class Busy:\n    def process(self, x):\n        s = 0\n        for i in range(200000):\n"
          "            s += i * i\n        return s & 255\n",
          fp);
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
    snprintf(m, sizeof m,
             "{\"version\":\"v1\",\"nodes\":[{\"id\":\"py\",\"node_type\":\"PythonNode\","
             "\"params\":{\"class\":\"bench_echo:Echo\",\"spin_us\":0,\"python_path\":[\"%s\"]}}]}",
             dir);
    rm_graph *py0 = bench_graph(rt, m, "pynode_nospin.json");
    snprintf(m, sizeof m,
             "{\"version\":\"v1\",\"nodes\":[{\"id\":\"py\",\"node_type\":\"PythonNode\","
             "\"params\":{\"class\":\"bench_echo:Busy\",\"python_path\":[\"%s\"]}}]}",
             dir);
    rm_graph *busy = bench_graph(rt, m, "pybusy.json");
    snprintf(m, sizeof m,
             "{\"version\":\"v1\",\"nodes\":[{\"id\":\"py\",\"node_type\":\"PythonNode\","
             "\"params\":{\"class\":\"bench_echo:EchoView\",\"python_path\":[\"%s\"]}}]}",
             dir);
    rm_graph *view = bench_graph(rt, m, "pyview.json");
    const char *pass = "{\"version\":\"v1\",\"nodes\":[{\"id\":\"c\",\"node_type\":\"PassThrough\"}]}";
    rm_graph *c = bench_graph(rt, pass, "passthrough.json");

    size_t n = quick ? 200 : 2000;
    rm_frame *audio = rm_frame_new_audio(RM_SAMPLE_F32, 48000, 1, 960);
    int64_t shape[1] = {1 << 18};
    rm_frame *tensor = rm_frame_new_tensor(RM_DTYPE_F32, 1, shape);
    if (!audio || !tensor) return 2;
    memset(audio->u.audio.data, 0, rm_frame_payload_size(audio));
    memset(tensor->u.tensor.data, 0, tensor->u.tensor.size);
    double audio_us = compare("20 ms f32 audio frame", py, py0, c, audio, n / 5, 5, 0, 30);
    trace_table(py, audio, n / 2, dir, audio_us);
    compare("20 ms f32 audio frame, one every 20 ms", py, py0, c, audio, quick ? 20 : 100, 3, 20000, 0);
    if (bench_arg(argc, argv, "--only") && strcmp(bench_arg(argc, argv, "--only"), "audio") == 0) n = 0;
    if (n) {
        compare("1 MiB f32 tensor", py, NULL, c, tensor, n / 50, 5, 0, 0);
        compare("1 MiB f32 tensor, zero_copy_inputs", view, NULL, c, tensor, n / 50, 5, 0, 0);
        rm_frame *one = rm_frame_new_json_text("1", 1, NULL, 0);
        if (!one) return 2;
        parallel(busy, one, quick ? 10 : 40, quick ? 1 : 3);
        rm_frame_unref(one);
    }

    rm_frame_unref(audio);
    rm_frame_unref(tensor);
    rm_graph_unref(py);
    rm_graph_unref(py0);
    rm_graph_unref(busy);
    rm_graph_unref(view);
    rm_graph_unref(c);
    rm_runtime_free(rt);
    unlink(path);
    rmdir(dir);
    return 0;
}
