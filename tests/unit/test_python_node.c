/*
 * PythonNode supervision under the node's error policy, from a C host (under
 * ASan/LSan in `make test`): a worker that dies on its Nth frame (os._exit
 * or SIGKILL from inside) is restarted by `retry` and every frame comes out
 * exactly once; exhausted retries log a clear error naming the node; the
 * circuit breaker stops restarting; nothing is left behind (no child
 * process, no descriptor, no shared-memory mapping).  Also: the interpreter
 * given at registration belongs to that runtime and the environment is not
 * touched.  8 sessions of one graph on 8 threads are inside their Python
 * node at the same time, each in its own worker (a barrier the workers meet
 * at: it could not be met if the host or a shared interpreter ran them one
 * after the other).  No reply is missed by the wake-up protocol, whether
 * the caller spins or sleeps.  Needs /usr/bin/python3.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "remotemedia/python_nodes.h"

static char dir[64];

static const char nodes_py[] =
    "import os, signal\n"
    "class CrashOn:\n"
    "    \"\"\"Dies on its worker's n-th frame; records each worker start in `log`.\"\"\"\n"
    "    def __init__(self, n=0, how='exit', log=''):\n"
    "        self.n, self.how, self.seen = n, how, 0\n"
    "        if log:\n"
    "            open(os.path.join(log, str(os.getpid())), 'w').close()\n"
    "    def process(self, x):\n"
    "        self.seen += 1\n"
    "        if self.n and self.seen == self.n:\n"
    "            if self.how == 'kill':\n"
    "                os.kill(os.getpid(), signal.SIGKILL)\n"
    "            os._exit(9)\n"
    "        return {'x': x, 'pid': os.getpid()}\n"
    "class Echo:\n"
    "    def process(self, x):\n"
    "        return x\n"
    "class EchoView(Echo):\n"
    "    zero_copy_inputs = True  # arrays are views into the ring, valid during process()\n"
    "    def process(self, x):\n"
    "        import numpy as np\n"
    "        a = getattr(x, 'samples', x)\n"
    "        if isinstance(a, np.ndarray):\n"
    "            root = a\n"
    "            while isinstance(root, np.ndarray):\n"
    "                root = root.base\n"
    "            assert isinstance(root, memoryview) and not a.flags.writeable, 'a read-only view'\n"
    "        return x\n"
    "class Meet:\n"
    "    \"\"\"process() returns once `k` workers are in it at once (a file each in `at`).\"\"\"\n"
    "    def __init__(self, k=8, at=''):\n"
    "        self.k, self.at = k, at\n"
    "    def process(self, x):\n"
    "        import time\n"
    "        open(os.path.join(self.at, str(os.getpid())), 'w').close()\n"
    "        give_up = time.monotonic() + 300  # a guard against hanging, not a timing check\n"
    "        while len(os.listdir(self.at)) < self.k and time.monotonic() < give_up:\n"
    "            time.sleep(0.005)\n"
    "        return {'x': x, 'pid': os.getpid(), 'met': len(os.listdir(self.at)) >= self.k}\n"
    "class Jitter:\n"
    "    \"\"\"Replies after a varying while (0..steps loop turns, a short sleep every 7th\n"
    "    frame), every 3rd frame from a generator of two values with a pause between.\"\"\"\n"
    "    def __init__(self, steps=400):\n"
    "        self.steps, self.i = steps, 0\n"
    "    def process(self, x):\n"
    "        import time\n"
    "        self.i += 1\n"
    "        if self.i % 7 == 0:\n"
    "            time.sleep(0.0002)\n"
    "        for _ in range(self.i * 37 % self.steps):\n"
    "            pass\n"
    "        return self.two(x) if self.i % 3 == 0 else x\n"
    "    def two(self, x):\n"
    "        yield x\n"
    "        for _ in range(self.i * 53 % self.steps):\n"
    "            pass\n"
    "        yield -x\n";

typedef struct outs {
    char text[64][96];
    size_t n;
} outs;

static void on_out(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id, (void)port;
    outs *o = user;
    char *s = rm_frame_json_dumps(f);
    if (o->n < 64 && s) snprintf(o->text[o->n++], sizeof o->text[0], "%s", s);
    free(s);
}

typedef struct logs {
    char text[4096];
} logs;

static void on_log(void *user, rm_log_level level, const char *node_id, const char *message)
{
    logs *l = user;
    size_t len = strlen(l->text);
    snprintf(l->text + len, sizeof l->text - len, "%s [%s] %s\n", rm_log_level_name(level),
             node_id ? node_id : "-", message);
}

static rm_runtime *runtime(logs *l, const char *python)
{
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags = RM_RUNTIME_NO_ENV_PLUGINS;
    o.log_fn = on_log;
    o.log_user = l;
    rm_runtime *rt = NULL;
    rm_error e = {0};
    if (rm_runtime_new_with_builtins(&o, &rt, &e) != 0) {
        fprintf(stderr, "rm_runtime_new: %s\n", e.message);
        return NULL;
    }
    rm_python_nodes_opts po = {python};
    int rc = rm_register_python_nodes(rt, &po, &e);
    CHECK_INT(rc, 0);
    return rt;
}

/* A one-node graph: PythonNode pn_nodes:`cls` with `params` (JSON members). */
static rm_graph *graph_of(rm_runtime *rt, const char *cls, const char *params, const char *on_error)
{
    char m[1024];
    snprintf(m, sizeof m,
             "{\"version\":\"v1\",\"nodes\":[{\"id\":\"py\",\"node_type\":\"PythonNode\",\"params\":"
             "{\"class\":\"pn_nodes:%s\",\"python_path\":[\"%s\"],%s},\"on_error\":%s}]}",
             cls, dir, params, on_error);
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    if (rm_graph_load_string(rt, m, strlen(m), "test.json", NULL, &g, d) != 0) {
        char *s = rm_diags_to_string(d);
        fprintf(stderr, "manifest does not compile:\n%s", s ? s : "");
        free(s);
    }
    rm_diags_free(d);
    return g;
}

static rm_graph *graph(rm_runtime *rt, const char *params, const char *on_error)
{
    return graph_of(rt, "CrashOn", params, on_error);
}

static size_t count_fds(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static int worker_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "rmedia-pyworker")) n++;
    if (f) fclose(f);
    return n;
}

/* Nothing of a closed session's workers is left: no child (reaped or not),
 * the descriptors we had before, no ring mapping. */
static void check_clean(size_t fds_before)
{
    int st;
    errno = 0;
    CHECK(waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD);
    CHECK_INT(count_fds(), fds_before);
    CHECK_INT(worker_mappings(), 0);
}

static size_t count_files(const char *path)
{
    size_t n = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

/* Removes a directory of plain files (the tests' marker directories). */
static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (e->d_name[0] != '.') unlink(p);
    }
    if (d) closedir(d);
    rmdir(path);
}

/* Pushes json ints 1..frames; returns the session's metrics JSON (caller frees). */
static char *run(rm_graph *g, int frames, outs *o, int *rc_out)
{
    rm_session_opts so = {0};
    so.on_output = on_out;
    so.output_user = o;
    rm_session *s = NULL;
    rm_error e = {0};
    int rc = rm_session_open(g, &so, &s, &e);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "session: %s\n", e.message);
        return NULL;
    }
    *rc_out = 0;
    for (int i = 1; i <= frames && *rc_out == 0; i++) {
        char num[16];
        int len = snprintf(num, sizeof num, "%d", i);
        rm_frame *f = rm_frame_new_json_text(num, (size_t)len, NULL, 0);
        *rc_out = rm_session_push(s, f);
        rm_frame_unref(f);
    }
    if (*rc_out == 0) *rc_out = rm_session_end(s);
    char *m = rm_session_metrics_json(s);
    rm_session_close(s);
    return m;
}

/* Each frame's output exactly once, in order; `workers` distinct worker pids. */
static void check_outputs(const outs *o, int frames, size_t workers)
{
    CHECK_INT(o->n, frames);
    long pids[64];
    size_t np = 0;
    for (size_t i = 0; i < o->n; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"x\":%zu,", i + 1);
        CHECK(strncmp(o->text[i], want, strlen(want)) == 0);
        const char *p = strstr(o->text[i], "\"pid\":");
        long pid = p ? strtol(p + 6, NULL, 10) : 0;
        size_t k = 0;
        while (k < np && pids[k] != pid) k++;
        if (k == np) pids[np++] = pid;
    }
    CHECK_INT(np, workers);
}

typedef struct kept {
    rm_frame *f[16];
    size_t n;
} kept;

static void keep(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id, (void)port;
    kept *o = user;
    if (o->n < 16) o->f[o->n++] = rm_frame_ref(f);
}

static void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(seed + i * 7u);
}

/* Same kind, fields, payload bytes, timestamp (audio) and metadata (audio). */
static int same_frame(const rm_frame *a, const rm_frame *b)
{
    if (a->kind != b->kind) return 0;
    switch (a->kind) {
    case RM_FRAME_AUDIO:
        return a->u.audio.format == b->u.audio.format && a->u.audio.rate == b->u.audio.rate &&
               a->u.audio.channels == b->u.audio.channels && a->u.audio.frames == b->u.audio.frames &&
               memcmp(a->u.audio.data, b->u.audio.data, rm_frame_payload_size(a)) == 0 &&
               a->timestamp_us == b->timestamp_us && rm_frame_meta_get(b, "k") &&
               strcmp(rm_frame_meta_get(b, "k"), rm_frame_meta_get(a, "k")) == 0;
    case RM_FRAME_VIDEO:
        return a->u.video.format == b->u.video.format && a->u.video.width == b->u.video.width &&
               a->u.video.height == b->u.video.height && a->u.video.stride == b->u.video.stride &&
               a->u.video.size == b->u.video.size &&
               memcmp(a->u.video.data, b->u.video.data, a->u.video.size) == 0;
    case RM_FRAME_TENSOR:
        return a->u.tensor.dtype == b->u.tensor.dtype && a->u.tensor.ndim == b->u.tensor.ndim &&
               memcmp(a->u.tensor.shape, b->u.tensor.shape, a->u.tensor.ndim * sizeof(int64_t)) == 0 &&
               a->u.tensor.size == b->u.tensor.size &&
               (!a->u.tensor.size || memcmp(a->u.tensor.data, b->u.tensor.data, a->u.tensor.size) == 0);
    case RM_FRAME_BINARY:
        return a->u.binary.size == b->u.binary.size &&
               memcmp(a->u.binary.data, b->u.binary.data, a->u.binary.size) == 0;
    default: {
        char *x = rm_frame_json_dumps(a), *y = rm_frame_json_dumps(b);
        int same = x && y && strcmp(x, y) == 0;
        free(x), free(y);
        return same;
    }
    }
}

/* Every frame kind goes through a worker and back unchanged; the rings are
 * small so that frames wrap and start over at offset 0 in both directions.
 * `cls` Echo gets copies, EchoView (zero_copy_inputs) views into the ring. */
static void every_kind(const char *cls)
{
    logs l = {{0}};
    rm_runtime *rt = runtime(&l, NULL);
    if (!rt) return;
    char m[512];
    snprintf(m, sizeof m,
             "{\"version\":\"v1\",\"nodes\":[{\"id\":\"py\",\"node_type\":\"PythonNode\",\"params\":"
             "{\"class\":\"pn_nodes:%s\",\"python_path\":[\"%s\"],\"ring_mb\":1}}]}", cls, dir);
    rm_diags *d = rm_diags_new();
    rm_graph *g = NULL;
    CHECK_INT(rm_graph_load_string(rt, m, strlen(m), "echo.json", NULL, &g, d), 0);
    rm_diags_free(d);
    rm_frame *in[16];
    size_t n = 0;
    const struct { rm_sample_format fmt; uint32_t rate, ch; size_t frames; } au[] = {
        {RM_SAMPLE_S16, 44100, 2, 441},
        {RM_SAMPLE_S32, 8000, 1, 160},
        {RM_SAMPLE_F32, 96000, 3, 60000}}; /* 720 KB of a 1 MiB ring */
    for (size_t i = 0; i < 3; i++) {
        rm_frame *f = rm_frame_new_audio(au[i].fmt, au[i].rate, au[i].ch, au[i].frames);
        if (au[i].fmt == RM_SAMPLE_F32) {
            float *x = f->u.audio.data;
            for (size_t k = 0; k < au[i].frames * au[i].ch; k++) x[k] = (float)k / 1e6f;
        } else {
            fill(f->u.audio.data, rm_frame_payload_size(f), (unsigned)i);
        }
        f->timestamp_us = 20000 * (int64_t)i;
        rm_frame_meta_set(f, "k", i ? "v\u00e9" : "v");
        in[n++] = f;
    }
    const int64_t s3[3] = {2, 3, 4}, s1[1] = {5}, s2[2] = {0, 3};
    const struct { rm_dtype dt; uint32_t nd; const int64_t *shape; } te[] = {
        {RM_DTYPE_I64, 3, s3}, {RM_DTYPE_U8, 1, s1}, {RM_DTYPE_BOOL, 1, s1}, {RM_DTYPE_F16, 3, s3},
        {RM_DTYPE_F64, 2, s2}};
    for (size_t i = 0; i < 5; i++) {
        rm_frame *f = rm_frame_new_tensor(te[i].dt, te[i].nd, te[i].shape);
        fill(f->u.tensor.data, f->u.tensor.size, 3u + (unsigned)i);
        if (te[i].dt == RM_DTYPE_BOOL) memset(f->u.tensor.data, 1, f->u.tensor.size);
        if (te[i].dt == RM_DTYPE_F16) memset(f->u.tensor.data, 0x3c, f->u.tensor.size); /* finite halves */
        in[n++] = f;
    }
    /* 500 KB then 600 KB: the second fits neither before nor after the
     * first's end, only in the empty 1 MiB ring started over */
    const int64_t big[2] = {125000, 150000};
    for (size_t i = 0; i < 2; i++) {
        rm_frame *f = rm_frame_new_tensor(RM_DTYPE_I32, 1, &big[i]);
        fill(f->u.tensor.data, f->u.tensor.size, 11u + (unsigned)i);
        in[n++] = f;
    }
    rm_frame *v = rm_frame_new_video(RM_PIXEL_RGB24, 4, 3, 16, 48);
    fill(v->u.video.data, 48, 9);
    in[n++] = v;
    const unsigned char bin[] = {0, 1, 255, 0, 7};
    in[n++] = rm_frame_new_binary(bin, sizeof bin);
    in[n++] = rm_frame_new_text("h\xc3\xa9llo", 6);
    in[n++] = rm_frame_new_json_text("{\"a\":[1,2.5,null]}", 18, NULL, 0);
    kept o = {{0}};
    rm_session_opts so = {0};
    so.on_output = keep;
    so.output_user = &o;
    rm_session *s = NULL;
    rm_error e = {0};
    CHECK_INT(g ? rm_session_open(g, &so, &s, &e) : -1, 0);
    if (e.message[0]) fprintf(stderr, "  %s\n", e.message);
    for (size_t i = 0; s && i < n; i++) {
        CHECK_INT(rm_session_push(s, in[i]), 0);
        CHECK(o.n == i + 1 && same_frame(in[i], o.f[i]));
        if (o.n == i + 1 && !same_frame(in[i], o.f[i])) fprintf(stderr, "  frame %zu (%s) changed\n", i,
                                                                  rm_frame_kind_name(in[i]->kind));
    }
    if (s) {
        CHECK_INT(rm_session_end(s), 0);
        rm_session_close(s);
    }
    for (size_t i = 0; i < n; i++) rm_frame_unref(in[i]);
    for (size_t i = 0; i < o.n; i++) rm_frame_unref(o.f[i]);
    rm_graph_unref(g);
    rm_runtime_free(rt);
}

static void test_every_kind_round_trips(void) { every_kind("Echo"); }
static void test_every_kind_round_trips_as_views(void) { every_kind("EchoView"); }

/* One session of CrashOn(params) under `on_error` with json frames 1..frames
 * on a fresh runtime; checks that push/end succeed and nothing is left
 * behind.  Returns the metrics JSON (caller frees), the outputs and the log. */
static char *policy_run(const char *params, const char *on_error, int frames, outs *o, logs *l)
{
    rm_runtime *rt = runtime(l, NULL);
    if (!rt) return NULL;
    rm_graph *g = graph(rt, params, on_error);
    CHECK(g != NULL);
    char *m = NULL;
    if (g) {
        size_t fds = count_fds();
        int rc = -1;
        m = run(g, frames, o, &rc);
        CHECK_INT(rc, 0); /* retry drops a frame it gives up on; the session goes on */
        check_clean(fds);
    }
    rm_graph_unref(g);
    rm_runtime_free(rt);
    return m;
}

static void crash_restarts(const char *how)
{
    char params[128];
    snprintf(params, sizeof params, "\"n\":3,\"how\":\"%s\"", how);
    outs o = {{{0}}};
    logs l = {{0}};
    char *m = policy_run(params, "{\"policy\":\"retry\",\"max_retries\":1,\"base_delay_ms\":0}", 6, &o, &l);
    /* worker A: 1 2 (dies on 3); B: 3 4 (dies on 5); C: 5 6 */
    check_outputs(&o, 6, 3);
    CHECK_CONTAINS(m, "\"retries\":2");
    free(m);
}

static void test_crash_exit_is_retried_with_a_new_worker(void) { crash_restarts("exit"); }
static void test_crash_sigkill_is_retried_with_a_new_worker(void) { crash_restarts("kill"); }

static void test_retries_exhausted_names_the_node(void)
{
    outs o = {{{0}}};
    logs l = {{0}};
    char *m = policy_run("\"n\":1", "{\"policy\":\"retry\",\"max_retries\":2,\"base_delay_ms\":0,"
                                      "\"circuit_breaker\":false}", 2, &o, &l);
    CHECK_INT(o.n, 0);
    CHECK_CONTAINS(m, "\"retries\":4");
    free(m);
    CHECK_CONTAINS(l.text, "warn [py] retries exhausted, frame dropped: PythonNode 'py' (class "
                           "pn_nodes:CrashOn): worker process");
    CHECK_CONTAINS(l.text, "exited with status 9");
}

static void test_breaker_stops_restarting(void)
{
    char log_dir[96], params[160];
    snprintf(log_dir, sizeof log_dir, "%s/starts", dir);
    CHECK(mkdir(log_dir, 0700) == 0);
    snprintf(params, sizeof params, "\"n\":1,\"log\":\"%s\"", log_dir);
    outs o = {{{0}}};
    logs l = {{0}};
    char *m = policy_run(params, "{\"policy\":\"retry\",\"max_retries\":1,\"base_delay_ms\":0,"
                                 "\"circuit_breaker\":{\"failure_threshold\":2,\"reset_timeout_ms\":600000}}",
                         5, &o, &l);
    CHECK_INT(o.n, 0);
    /* frames 1 and 2, two attempts each (the first on init's worker), then the
     * breaker is open: frames 3..5 are rejected without starting a worker */
    CHECK_INT(count_files(log_dir), 4);
    CHECK_CONTAINS(m, "\"rejected\":3");
    CHECK_CONTAINS(m, "\"circuit\":\"open\"");
    free(m);
    CHECK_CONTAINS(l.text, "circuit breaker open after 2 consecutive failures");
    remove_dir(log_dir);
}

static void test_interpreter_belongs_to_the_runtime(void)
{
    unsetenv("REMOTEMEDIA_PYTHON"); /* single-threaded here: before any session */
    logs l1 = {{0}}, l2 = {{0}};
    rm_runtime *bad = runtime(&l1, "/nonexistent/python3");
    rm_runtime *good = runtime(&l2, NULL);
    if (!bad || !good) return;
    CHECK(getenv("REMOTEMEDIA_PYTHON") == NULL); /* the environment is untouched */
    rm_graph *gb = graph(bad, "\"n\":0", "\"fail\"");
    rm_graph *gg = graph(good, "\"n\":0", "\"fail\"");
    CHECK(gb && gg);
    if (gb && gg) {
        size_t fds = count_fds();
        rm_session *s = NULL;
        rm_error e = {0};
        CHECK(rm_session_open(gb, NULL, &s, &e) != 0);
        CHECK_CONTAINS(e.message, "PythonNode 'py'");
        CHECK_CONTAINS(e.message, "/nonexistent/python3");
        outs o = {{{0}}};
        int rc = -1;
        char *m = run(gg, 2, &o, &rc);
        CHECK_INT(rc, 0);
        check_outputs(&o, 2, 1);
        free(m);
        check_clean(fds);
    }
    rm_graph_unref(gb);
    rm_graph_unref(gg);
    rm_runtime_free(bad);
    rm_runtime_free(good);
}

typedef struct meet_job {
    rm_graph *g;
    outs o;
    int rc;
} meet_job;

static void *meet_run(void *arg)
{
    meet_job *j = arg;
    j->rc = -1;
    char *m = run(j->g, 1, &j->o, &j->rc);
    free(m);
    return NULL;
}

static void test_eight_sessions_run_at_once(void)
{
    enum { K = 8 };
    char at[96], params[256];
    snprintf(at, sizeof at, "%s/meet", dir);
    CHECK(mkdir(at, 0700) == 0);
    logs l = {{0}};
    rm_runtime *rt = runtime(&l, NULL);
    if (!rt) return;
    snprintf(params, sizeof params, "\"timeout_ms\":0,\"init_timeout_ms\":600000,\"k\":%d,\"at\":\"%s\"", K, at);
    rm_graph *g = graph_of(rt, "Meet", params, "\"fail\"");
    CHECK(g != NULL);
    size_t fds = count_fds();
    static meet_job jobs[K];
    pthread_t t[K];
    for (int i = 0; g && i < K; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].g = g;
        CHECK_INT(pthread_create(&t[i], NULL, meet_run, &jobs[i]), 0);
    }
    long pids[K];
    size_t np = 0;
    for (int i = 0; g && i < K; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(jobs[i].rc, 0);
        CHECK_INT(jobs[i].o.n, 1);
        if (jobs[i].o.n != 1) continue;
        CHECK_CONTAINS(jobs[i].o.text[0], "\"met\":true");
        const char *p = strstr(jobs[i].o.text[0], "\"pid\":");
        long pid = p ? strtol(p + 6, NULL, 10) : 0;
        size_t k = 0;
        while (k < np && pids[k] != pid) k++;
        if (k == np) pids[np++] = pid;
    }
    CHECK_INT(np, K); /* a worker per session */
    if (g) check_clean(fds);
    rm_graph_unref(g);
    rm_runtime_free(rt);
    remove_dir(at);
}

typedef struct seq {
    long next, frames, bad;
} seq;

/* Outputs of Jitter for json ints 1..: x, and -x after every 3rd. */
static void on_seq(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id, (void)port;
    seq *q = user;
    char *s = rm_frame_json_dumps(f);
    long v = s ? strtol(s, NULL, 10) : 0;
    free(s);
    if (q->next > 0 && q->next % 3 == 0 && v == -q->next) {
        q->next = -q->next; /* the generator's second value came */
    } else if (v == labs(q->next) + 1) {
        q->next = v;
    } else {
        q->bad++;
    }
    q->frames++;
}

/* No reply is ever missed between the caller's spin, its decision to sleep
 * and its sleep (the flag protocol of src/nodes/python/pyw.h): replies come
 * after varying delays around the spin bound, and from generators (the
 * later waits of a call).  A reply published without its wake-up would
 * leave the caller asleep until timeout_ms and fail the session. */
static void test_no_reply_is_missed(void)
{
    logs l = {{0}};
    rm_runtime *rt = runtime(&l, NULL);
    if (!rt) return;
    static const char *spins[] = {"0", "5", "50"};
    for (size_t k = 0; k < sizeof spins / sizeof spins[0]; k++) {
        char params[96];
        snprintf(params, sizeof params, "\"spin_us\":%s,\"timeout_ms\":20000", spins[k]);
        rm_graph *g = graph_of(rt, "Jitter", params, "\"fail\"");
        CHECK(g != NULL);
        if (!g) continue;
        seq q = {0, 0, 0};
        rm_session_opts so = {0};
        so.on_output = on_seq;
        so.output_user = &q;
        rm_session *s = NULL;
        rm_error e = {0};
        CHECK_INT(rm_session_open(g, &so, &s, &e), 0);
        enum { FRAMES = 600 };
        int rc = 0;
        for (int i = 1; s && i <= FRAMES && rc == 0; i++) {
            char num[16];
            int len = snprintf(num, sizeof num, "%d", i);
            rm_frame *f = rm_frame_new_json_text(num, (size_t)len, NULL, 0);
            rc = rm_session_push(s, f);
            rm_frame_unref(f);
        }
        CHECK_INT(rc, 0);
        if (rc) fprintf(stderr, "spin_us=%s: %s\n", spins[k], rm_session_error(s)->message);
        CHECK_INT(q.frames, FRAMES + FRAMES / 3);
        CHECK_INT(q.bad, 0);
        if (s) rm_session_close(s);
        rm_graph_unref(g);
    }
    rm_runtime_free(rt);
}

int main(void)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "test_python_node: /usr/bin/python3 missing\n");
        return 1;
    }
    setenv("PYTHONDONTWRITEBYTECODE", "1", 1); /* workers inherit it: no __pycache__ to clean */
    snprintf(dir, sizeof dir, "/tmp/test_python_node.XXXXXX");
    if (!mkdtemp(dir)) return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/pn_nodes.py", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fputs(nodes_py, f);
    fclose(f);
    RUN(test_every_kind_round_trips);
    RUN(test_every_kind_round_trips_as_views);
    RUN(test_crash_exit_is_retried_with_a_new_worker);
    RUN(test_crash_sigkill_is_retried_with_a_new_worker);
    RUN(test_retries_exhausted_names_the_node);
    RUN(test_breaker_stops_restarting);
    RUN(test_interpreter_belongs_to_the_runtime);
    RUN(test_eight_sessions_run_at_once);
    RUN(test_no_reply_is_missed);
    unlink(path);
    rmdir(dir);
    return CHECK_DONE();
}
