/*
 * bench_handoff — latency of a frame crossing a thread boundary.
 *
 * Ping-pong: the main thread takes a timestamp, pushes one frame, and waits
 * (mutex + condition variable) until the output callback has run; the
 * callback takes the second timestamp on the thread it runs on.  The
 * one-way latency push → output callback is recorded per frame; the table
 * shows p50 and p99.  Variants, interleaved in blocks so all see the same
 * load:
 *
 *   inline  a → b, no boundary: everything on the pushing thread;
 *   queue   a → b with `queue: {policy: block}`: b runs on the session's
 *           worker thread, so each frame crosses one queue boundary;
 *   pool    a → b, no boundary, session on a 1-thread rm_pool: the push is
 *           queued to the session's strand and runs on the pool thread;
 *   condvar the raw baseline: two threads, one mutex, two condition
 *           variables; the timestamp is taken just before the signal and
 *           again when the woken thread runs.
 */
#include "bench.h"

#include <pthread.h>

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    uint64_t t_out;
} waiter;

static void on_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    (void)port;
    (void)f;
    waiter *w = user;
    uint64_t t = bench_now_ns();
    pthread_mutex_lock(&w->mu);
    w->t_out = t;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

typedef struct variant {
    rm_session *s;
    waiter w;
} variant;

static void open_variant(variant *v, rm_graph *g, rm_pool *pool)
{
    pthread_mutex_init(&v->w.mu, NULL);
    pthread_cond_init(&v->w.cv, NULL);
    rm_session_opts o = {0};
    o.on_output = on_output;
    o.output_user = &v->w;
    o.pool = pool;
    rm_error err = {0};
    int rc = rm_session_open(g, &o, &v->s, &err);
    if (rc != 0) bench_die("rm_session_open", rc, &err);
}

/* Sleeps `gap_us` first (0 = back-to-back), so the other thread is idle. */
static void gap(unsigned gap_us)
{
    if (!gap_us) return;
    struct timespec ts = {0, (long)gap_us * 1000};
    nanosleep(&ts, NULL);
}

/* One push; returns the push -> output callback latency in µs. */
static double ping(variant *v, const rm_frame *f)
{
    uint64_t t0 = bench_now_ns();
    int rc = rm_session_push(v->s, f);
    if (rc != 0) bench_die("rm_session_push", rc, rm_session_error(v->s));
    pthread_mutex_lock(&v->w.mu);
    while (!v->w.done) pthread_cond_wait(&v->w.cv, &v->w.mu);
    v->w.done = 0;
    uint64_t t1 = v->w.t_out;
    pthread_mutex_unlock(&v->w.mu);
    return (double)(t1 - t0) / 1000.0;
}

/* ------------------------------------------------------ condvar baseline --- */

typedef struct pingpong {
    pthread_mutex_t mu;
    pthread_cond_t req_cv, resp_cv;
    int req, resp, stop;
    uint64_t t_woke;
} pingpong;

static void *pong_thread(void *arg)
{
    pingpong *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->req && !p->stop) pthread_cond_wait(&p->req_cv, &p->mu);
        if (p->stop) break;
        p->t_woke = bench_now_ns();
        p->req = 0;
        p->resp = 1;
        pthread_cond_signal(&p->resp_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static double condvar_ping(pingpong *p)
{
    pthread_mutex_lock(&p->mu);
    p->req = 1;
    uint64_t t0 = bench_now_ns();
    pthread_cond_signal(&p->req_cv);
    while (!p->resp) pthread_cond_wait(&p->resp_cv, &p->mu);
    p->resp = 0;
    uint64_t t1 = p->t_woke;
    pthread_mutex_unlock(&p->mu);
    return (double)(t1 - t0) / 1000.0;
}

static const char *us(double v) { return bench_fmt("%.1f us", v); }

enum { INLINE, QUEUE, POOL, CONDVAR, NV };

/* Latencies (µs) of every variant for one pacing mode. */
typedef struct mode_result {
    double *lat[NV];
    size_t n[NV];
} mode_result;

static void run_mode(variant *v, pingpong *pp, const rm_frame *f, unsigned gap_us, size_t blocks,
                     size_t per_block, mode_result *res)
{
    for (int k = 0; k < NV; k++) {
        res->lat[k] = calloc(blocks * per_block, sizeof(double));
        res->n[k] = 0;
    }
    for (size_t b = 0; b < blocks; b++) {
        bench_progress("bench_handoff: gap %u us, block %zu/%zu", gap_us, b + 1, blocks);
        for (int k = 0; k < NV; k++)
            for (size_t i = 0; i < per_block; i++) {
                gap(gap_us);
                res->lat[k][res->n[k]++] = k == CONDVAR ? condvar_ping(pp) : ping(&v[k], f);
            }
    }
    bench_progress_done();
}

static double q(const mode_result *r, int k, double p) { return bench_quantile(r->lat[k], r->n[k], p); }

static void report(const mode_result *r, const char *mode)
{
    double cv50 = q(r, CONDVAR, 0.5), cv99 = q(r, CONDVAR, 0.99);
    double q50 = q(r, QUEUE, 0.5), q99 = q(r, QUEUE, 0.99);
    bench_row(bench_fmt("thread hand-off, %s: push -> output across one queue, p50", mode), us(q50),
              bench_fmt("raw condvar ping-pong p50 %s (same run)", us(cv50)), bench_fmt("%.2f", q50 / cv50),
              bench_fmt("%+.1f us vs raw condvar", q50 - cv50));
    bench_row(bench_fmt("thread hand-off, %s: push -> output across one queue, p99", mode), us(q99),
              bench_fmt("raw condvar ping-pong p99 %s (same run)", us(cv99)), bench_fmt("%.2f", q99 / cv99),
              bench_fmt("%+.1f us vs raw condvar", q99 - cv99));
    bench_row(bench_fmt("  %s: pool strand (1-thread rm_pool), push -> output, p50 / p99", mode),
              bench_fmt("%.1f / %.1f us", q(r, POOL, 0.5), q(r, POOL, 0.99)), "-",
              bench_fmt("%.2f", q(r, POOL, 0.5) / cv50), "info (ratio vs condvar p50)");
    bench_row(bench_fmt("  %s: same graph without a boundary (inline), p50 / p99", mode),
              bench_fmt("%.2f / %.2f us", q(r, INLINE, 0.5), q(r, INLINE, 0.99)), "-",
              bench_fmt("%.3f", q(r, INLINE, 0.5) / q50), "info (ratio vs queue p50)");
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    /* back-to-back: the worker has just gone to sleep when the next frame
     * comes; paced: a frame every ~2 ms, so the worker (and maybe its CPU)
     * is idle, as with a real-time stream */
    const size_t blocks = quick ? 2 : 20, per_block = quick ? 50 : 250;
    const size_t paced_blocks = quick ? 1 : 5, paced_per_block = quick ? 20 : 60;
    const unsigned paced_gap_us = 2000;

    rm_runtime *rt = bench_runtime();
    static const char inline_m[] =
        "{\"version\":\"v1\",\"metadata\":{\"name\":\"inline\"},\"nodes\":["
        "{\"id\":\"a\",\"node_type\":\"PassThrough\"},{\"id\":\"b\",\"node_type\":\"PassThrough\"}],"
        "\"connections\":[{\"from\":\"a\",\"to\":\"b\"}]}";
    static const char queued_m[] =
        "{\"version\":\"v1\",\"metadata\":{\"name\":\"queued\"},\"nodes\":["
        "{\"id\":\"a\",\"node_type\":\"PassThrough\"},{\"id\":\"b\",\"node_type\":\"PassThrough\"}],"
        "\"connections\":[{\"from\":\"a\",\"to\":\"b\",\"queue\":{\"policy\":\"block\",\"capacity\":8}}]}";
    rm_graph *g_inline = bench_graph(rt, inline_m, "inline.json");
    rm_graph *g_queued = bench_graph(rt, queued_m, "queued.json");
    rm_pool *pool;
    rm_error err = {0};
    int rc = rm_pool_new(1, &pool, &err);
    if (rc != 0) bench_die("rm_pool_new", rc, &err);

    variant v[NV];
    memset(v, 0, sizeof v);
    open_variant(&v[INLINE], g_inline, NULL);
    open_variant(&v[QUEUE], g_queued, NULL);
    open_variant(&v[POOL], g_inline, pool);

    pingpong pp = {0};
    pthread_mutex_init(&pp.mu, NULL);
    pthread_cond_init(&pp.req_cv, NULL);
    pthread_cond_init(&pp.resp_cv, NULL);
    pthread_t pong;
    if (pthread_create(&pong, NULL, pong_thread, &pp) != 0) bench_die("pthread_create", RM_ELIMIT, NULL);

    rm_frame *f = rm_frame_new_audio(RM_SAMPLE_S16, 16000, 1, 320);
    if (!f) bench_die("rm_frame_new_audio", RM_ENOMEM, NULL);
    memset(f->u.audio.data, 0, 320 * sizeof(int16_t));

    for (int k = 0; k < CONDVAR; k++)
        for (int i = 0; i < 50; i++) ping(&v[k], f); /* warm-up */
    mode_result fast, paced;
    run_mode(v, &pp, f, 0, blocks, per_block, &fast);
    run_mode(v, &pp, f, paced_gap_us, paced_blocks, paced_per_block, &paced);
    report(&fast, "back-to-back");
    report(&paced, "paced 2 ms");

    pthread_mutex_lock(&pp.mu);
    pp.stop = 1;
    pthread_cond_signal(&pp.req_cv);
    pthread_mutex_unlock(&pp.mu);
    pthread_join(pong, NULL);
    for (int k = 0; k < NV; k++) {
        free(fast.lat[k]);
        free(paced.lat[k]);
        if (k == CONDVAR) continue;
        rc = rm_session_end(v[k].s);
        if (rc != 0) bench_die("rm_session_end", rc, rm_session_error(v[k].s));
        rm_session_close(v[k].s);
        pthread_mutex_destroy(&v[k].w.mu);
        pthread_cond_destroy(&v[k].w.cv);
    }
    rm_frame_unref(f);
    rm_pool_free(pool);
    rm_graph_unref(g_inline);
    rm_graph_unref(g_queued);
    rm_runtime_free(rt);
    return 0;
}
