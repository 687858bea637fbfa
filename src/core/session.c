/*
 * The executor.  A session owns one instance of every node of its graph.
 *
 * Hot path: rm_session_push() → invoke(source) → node->process() →
 * rm_node_emit() → invoke(downstream) … all plain calls on one thread, with
 * two tick reads per call for metrics.  Segments (see graph.c) that start at
 * a blocking node or a queued connection run on their own worker thread
 * behind a bounded queue; in pool mode segment 0 runs as a strand on the
 * pool.  End of stream travels like a frame: a node flushes once every
 * upstream link has delivered its end, so flushes happen in topological order
 * on every thread.
 *
 * Stack depth: a chain of N nodes in one segment would nest N calls.  Past
 * RM__MAX_SYNC_DEPTH nested deliveries on a thread, a delivery is put on the
 * segment's explicit work stack instead and run once the call at that depth
 * returns, in the same depth-first order the nested calls would have used
 * (every node sees its frames in the same order).  Graphs up to that depth
 * never touch the work stack; deeper ones use bounded C stack.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pool.h"
#include "queue.h"
#include "sync.h"

#define RM__MAX_STATS 48 /* RemotePipeline: 5 per endpoint, up to 8 endpoints */
#define RM__STRAND_BUDGET 64
/* Nested synchronous deliveries per thread before the work stack takes over.
 * A level costs a few hundred bytes of C stack (more under ASan, and a node's
 * own frame on top): 64 levels stay far below the smallest thread stacks we
 * run on (pool threads, wasm's 1 MiB). */
#define RM__MAX_SYNC_DEPTH 64

typedef struct staged {
    unsigned port;
    rm_frame *frame;
} staged;

/* A delivery deferred past RM__MAX_SYNC_DEPTH (frame, or end of stream). */
typedef struct deferred {
    rm__item_kind kind; /* RM__ITEM_FRAME or RM__ITEM_EOS */
    uint32_t node;
    unsigned port;
    rm_frame *frame; /* owned */
} deferred;

typedef struct stat_slot {
    const char *key;
    rm_stat_kind kind;
    double value, max;
    uint64_t count;
} stat_slot;

typedef struct seg_rt {
    rm_session *s;
    int index;
    int async;             /* fed through `q` (worker thread or pool strand) */
    rm__queue q;
    rm__task task;         /* pool strand */
    uint64_t child_ticks;  /* time spent in callees, for exclusive timing */
    uint64_t cur_epoch;
    /* run on this segment's thread only */
    unsigned depth;        /* nested synchronous deliveries */
    deferred *work;        /* explicit work stack past RM__MAX_SYNC_DEPTH */
    size_t n_work, cap_work;
#ifndef RM_SINGLE_THREAD
    pthread_t thread;
    int started;
#endif
} seg_rt;

struct rm_node {
    rm_session *s;
    const rm__gnode *gn;
    seg_rt *seg;
    void *state;
    const void *config;
    int inited;
    uint32_t eos_pending;
    int flushed;
    /* metrics */
    rm__counter calls, frames_in, frames_out, errors, retries, rejected;
    rm__counter ticks_total, ticks_min, ticks_max, init_ns;
    _Atomic uint32_t hist[RM__HIST_BUCKETS];
    stat_slot stats[RM__MAX_STATS];
    unsigned n_stats;
    /* errors and reliability */
    char errmsg[400];
    int errcode;
    rm_breaker breaker;
    uint64_t rng;
    int staging;
    staged *staged;
    size_t n_staged, cap_staged;
    /* runtime parameter updates */
    _Atomic(void *) pending_config;
    void *latest_config; /* guarded by the session's param_mu */
    /* rm_session_interrupt: a call is interrupted while intr_gen differs
     * from the value it had when the call began (call_gen, node thread) */
    _Atomic uint32_t intr_gen;
    uint32_t call_gen;
};

struct rm_outputs {
    rm_output *items;
    size_t n, cap;
};

struct rm_session {
    rm_graph *g;
    rm_runtime *rt;
    char *id;
    rm_output_fn on_output;
    void *output_user;
    rm_pool *pool;
    int metrics;
    rm_node *nodes;
    seg_rt *segs;
    size_t n_segs;
    int threaded; /* some segment is async */
    int inline_ok;          /* RM_SESSION_PUSH_INLINE asked for and possible */
    atomic_int push_inline; /* host pushes run the idle strand on their thread */
    atomic_int failed;
    rm_error err;
    rm__mutex err_mu;
    _Atomic uint64_t epoch;
    int ended;
    /* completion and reset hand-shakes */
    rm__mutex ctl_mu;
    rm__cond ctl_cv;
    size_t flushed_count;
    size_t reset_acks;
    /* outputs */
    rm__mutex out_mu;
    rm_outputs outputs;
    /* metrics */
    uint64_t open_ns, end_ns;
    rm__counter frames_in, frames_out;
    rm__counter *edge_frames;
    /* runtime params */
    rm__mutex param_mu;
    rm__arena arena;
};

static int invoke(rm_node *n, unsigned port, const rm_frame *f);
static void node_eos(rm_node *n);
static void run_deferred(rm_session *s, seg_rt *seg, size_t base);
static int defer(seg_rt *seg, rm__item_kind kind, uint32_t idx, unsigned port, const rm_frame *f);

/* ---------------------------------------------------------------- errors --- */

static void session_fail(rm_session *s, int code, const char *node_id, const char *msg)
{
    rm__lock(&s->err_mu);
    if (!atomic_load(&s->failed)) {
        rm_error_set(&s->err, code, node_id, "%s", msg);
        atomic_store(&s->failed, 1);
    }
    rm__unlock(&s->err_mu);
}

int rm_node_fail(rm_node *n, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->errmsg, sizeof n->errmsg, fmt, ap);
    va_end(ap);
    n->errcode = code;
    return code;
}

void rm_node_log(rm_node *n, rm_log_level level, const char *fmt, ...)
{
    if (level > rm_runtime_log_level(n->s->rt)) return;
    va_list ap;
    va_start(ap, fmt);
    rm__vlog(n->s->rt, level, n->gn->id, fmt, ap);
    va_end(ap);
}

const void *rm_node_config(const rm_node *n) { return n->config; }
const char *rm_node_id(const rm_node *n) { return n->gn->id; }
const rm_node_type *rm_node_type_of(const rm_node *n) { return n->gn->type; }
const char *rm_node_session_id(const rm_node *n) { return n->s->id; }

static int interrupted(const rm_node *n)
{
    return atomic_load_explicit(&n->intr_gen, memory_order_relaxed) != n->call_gen;
}

int rm_node_cancelled(const rm_node *n)
{
    return atomic_load_explicit(&n->s->failed, memory_order_relaxed) || interrupted(n);
}

const char *rm_node_manifest_file(const rm_node *n) { return n->s->g->file; }

const rm_caps *rm_node_input_caps(const rm_node *n, unsigned port)
{
    return port < n->gn->n_in ? &n->gn->in_caps[port] : NULL;
}

void rm_node_stat(rm_node *n, const char *key, rm_stat_kind kind, double value)
{
    stat_slot *st = NULL;
    for (unsigned i = 0; i < n->n_stats; i++)
        if (n->stats[i].key == key || strcmp(n->stats[i].key, key) == 0) st = &n->stats[i];
    if (!st) {
        if (n->n_stats == RM__MAX_STATS) return;
        st = &n->stats[n->n_stats++];
        st->key = key;
        st->kind = kind;
    }
    switch (kind) {
    case RM_STAT_SET: st->value = value; break;
    case RM_STAT_ADD: st->value += value; break;
    case RM_STAT_SAMPLE:
        st->value += value;
        if (st->count == 0 || value > st->max) st->max = value;
        break;
    }
    st->count++;
}

/* --------------------------------------------------------------- metrics --- */

static void record_call(rm_node *n, uint64_t ticks)
{
    RM__CNT_ADD(n->calls, 1);
    RM__CNT_ADD(n->ticks_total, ticks);
    uint64_t mn = RM__CNT_GET(n->ticks_min);
    if (ticks < mn || RM__CNT_GET(n->calls) == 1) RM__CNT_SET(n->ticks_min, ticks);
    if (ticks > RM__CNT_GET(n->ticks_max)) RM__CNT_SET(n->ticks_max, ticks);
    _Atomic uint32_t *b = &n->hist[rm__hist_index(ticks)];
    atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + 1, memory_order_relaxed);
}

/* Calls process (f != NULL) or flush (f == NULL), timing exclusive time:
 * what downstream nodes called synchronously spend is not counted here. */
/* A call that stopped because rm_session_interrupt asked it to ends there:
 * not an error, the session goes on. */
static int after_interrupt(rm_node *n, int rc)
{
    if (rc != RM_ECANCELED || !interrupted(n) || atomic_load(&n->s->failed)) return rc;
    rm_node_stat(n, "interrupted", RM_STAT_ADD, 1);
    return 0;
}

static int call_node(rm_node *n, unsigned port, const rm_frame *f)
{
    const rm_node_type *t = n->gn->type;
    n->call_gen = atomic_load_explicit(&n->intr_gen, memory_order_relaxed);
    int rc;
    if (!n->s->metrics) {
        rc = f ? t->process(n, n->state, port, f) : t->flush(n, n->state);
        return rc == RM_ECANCELED ? after_interrupt(n, rc) : rc;
    }
    seg_rt *seg = n->seg;
    uint64_t saved = seg->child_ticks;
    seg->child_ticks = 0;
    uint64_t t0 = rm__ticks();
    rc = f ? t->process(n, n->state, port, f) : t->flush(n, n->state);
    uint64_t dt = rm__ticks() - t0;
    record_call(n, dt > seg->child_ticks ? dt - seg->child_ticks : 0);
    seg->child_ticks = saved + dt;
    return rc == RM_ECANCELED ? after_interrupt(n, rc) : rc;
}

/* -------------------------------------------------------------- delivery --- */

static void run_strand(rm__task *task);

static int enqueue(rm_session *s, int segment, rm__item *item)
{
    seg_rt *seg = &s->segs[segment];
    int schedule = 0;
    int rc = rm__queue_push(&seg->q, item, &schedule);
    if (rc == 0 && schedule && s->pool && segment == 0) {
        /* The strand was idle and this thread now owns it (schedule = 1).
         * With one segment only the host enqueues into segment 0, so this is
         * a host push: run it here rather than wake a pool thread. */
        if (atomic_load_explicit(&s->push_inline, memory_order_relaxed)) run_strand(&seg->task);
        else rm__pool_submit(s->pool, &seg->task);
    }
    return rc;
}

/* Puts a delivery on the segment's work stack (see the top of the file). */
static int defer(seg_rt *seg, rm__item_kind kind, uint32_t idx, unsigned port, const rm_frame *f)
{
    if (seg->n_work == seg->cap_work) {
        size_t cap = seg->cap_work ? seg->cap_work * 2 : 64;
        deferred *p = realloc(seg->work, cap * sizeof *p);
        if (!p) return RM_ENOMEM;
        seg->work = p;
        seg->cap_work = cap;
    }
    deferred *d = &seg->work[seg->n_work++];
    d->kind = kind;
    d->node = idx;
    d->port = port;
    d->frame = f ? rm_frame_ref(f) : NULL;
    return 0;
}

static void reverse_work(seg_rt *seg, size_t from)
{
    for (size_t i = from, j = seg->n_work; i + 1 < j; i++, j--) {
        deferred t = seg->work[i];
        seg->work[i] = seg->work[j - 1];
        seg->work[j - 1] = t;
    }
}

/* Runs the deliveries deferred above `base`, depth first: what one of them
 * defers in turn runs before its later siblings, as nested calls would. */
static void run_deferred(rm_session *s, seg_rt *seg, size_t base)
{
    reverse_work(seg, base); /* the first deferred on top */
    while (seg->n_work > base) {
        deferred d = seg->work[--seg->n_work];
        size_t mark = seg->n_work;
        seg->depth++;
        if (d.kind == RM__ITEM_EOS) node_eos(&s->nodes[d.node]);
        else invoke(&s->nodes[d.node], d.port, d.frame); /* a failure is in s->failed */
        seg->depth--;
        rm_frame_unref(d.frame);
        reverse_work(seg, mark);
    }
}

/* A delivery at the nesting limit: the call at depth RM__MAX_SYNC_DEPTH
 * runs what its subtree deferred; deeper ones defer. */
static int deliver_deep(rm_session *s, seg_rt *seg, uint32_t idx, unsigned port, const rm_frame *f)
{
    if (seg->depth >= RM__MAX_SYNC_DEPTH) return defer(seg, RM__ITEM_FRAME, idx, port, f);
    size_t base = seg->n_work;
    seg->depth++;
    int rc = invoke(&s->nodes[idx], port, f);
    seg->depth--;
    if (seg->n_work > base) run_deferred(s, seg, base);
    return rc;
}

#if defined(__GNUC__)
#define RM__HOT_INLINE static inline __attribute__((always_inline))
#else
#define RM__HOT_INLINE static inline
#endif

/* Delivers a frame to node `idx`, from the thread of segment `from_seg`
 * (-1 = the host).  Inlined into rm_node_emit: the per-node hot path is
 * emit → invoke → process. */
RM__HOT_INLINE int deliver(rm_session *s, uint32_t idx, unsigned port, const rm_frame *f, int from_seg)
{
    rm_node *n = &s->nodes[idx];
    if (n->seg->async && n->seg->index != from_seg) {
        rm__item it = {RM__ITEM_FRAME, idx, port, atomic_load(&s->epoch), rm_frame_ref(f)};
        if (from_seg < 0 || !s->metrics) return enqueue(s, n->seg->index, &it);
        /* Waiting for room in a full queue is back-pressure from downstream,
         * not the emitting node's own time. */
        uint64_t t0 = rm__ticks();
        int rc = enqueue(s, n->seg->index, &it);
        s->segs[from_seg].child_ticks += rm__ticks() - t0;
        return rc;
    }
    seg_rt *seg = n->seg;
    if (__builtin_expect(seg->depth >= RM__MAX_SYNC_DEPTH - 1, 0)) return deliver_deep(s, seg, idx, port, f);
    seg->depth++;
    int rc = invoke(n, port, f);
    seg->depth--;
    return rc;
}

static void deliver_eos(rm_session *s, uint32_t idx, int from_seg)
{
    rm_node *n = &s->nodes[idx];
    if (n->seg->async && n->seg->index != from_seg) {
        rm__item it = {RM__ITEM_EOS, idx, 0, 0, NULL};
        enqueue(s, n->seg->index, &it);
        return;
    }
    seg_rt *seg = n->seg;
    /* if the work stack cannot grow, nest (an end of stream is never lost) */
    if (seg->depth >= RM__MAX_SYNC_DEPTH && defer(seg, RM__ITEM_EOS, idx, 0, NULL) == 0) return;
    size_t base = seg->n_work;
    seg->depth++;
    node_eos(n);
    seg->depth--;
    if (seg->n_work > base) run_deferred(s, seg, base);
}

static int output(rm_node *n, unsigned port, const rm_frame *f)
{
    rm_session *s = n->s;
    const char *pname = rm_node_type_output(n->gn->type, port)->name;
    RM__CNT_ADD(s->frames_out, 1);
    if (s->on_output) {
        /* the host's callback is not the sink node's time */
        uint64_t t0 = s->metrics ? rm__ticks() : 0;
        s->on_output(s->output_user, n->gn->id, pname, f);
        if (s->metrics) n->seg->child_ticks += rm__ticks() - t0;
        return 0;
    }
    rm__lock(&s->out_mu);
    rm_outputs *o = &s->outputs;
    int rc = 0;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        rm_output *p = realloc(o->items, cap * sizeof *p);
        if (!p) rc = RM_ENOMEM;
        else o->items = p, o->cap = cap;
    }
    if (rc == 0) {
        o->items[o->n].node_id = n->gn->id;
        o->items[o->n].port = pname;
        o->items[o->n].frame = rm_frame_ref(f);
        o->n++;
    }
    rm__unlock(&s->out_mu);
    return rc;
}

static int stage(rm_node *n, unsigned port, const rm_frame *f)
{
    if (n->n_staged == n->cap_staged) {
        size_t cap = n->cap_staged ? n->cap_staged * 2 : 8;
        staged *p = realloc(n->staged, cap * sizeof *p);
        if (!p) return RM_ENOMEM;
        n->staged = p;
        n->cap_staged = cap;
    }
    n->staged[n->n_staged].port = port;
    n->staged[n->n_staged].frame = rm_frame_ref(f);
    n->n_staged++;
    return 0;
}

static void drop_staged(rm_node *n)
{
    for (size_t i = 0; i < n->n_staged; i++) rm_frame_unref(n->staged[i].frame);
    n->n_staged = 0;
}

int rm_node_emit(rm_node *n, unsigned port, const rm_frame *f)
{
    rm_session *s = n->s;
    const rm__gnode *gn = n->gn;
    if (port >= gn->n_out || !f) return RM_EINVAL;
    if (atomic_load_explicit(&s->failed, memory_order_relaxed)) return RM_ECANCELED;
    if (n->staging) return stage(n, port, f);
    /* A frame produced from input queued before rm_session_reset() is stale. */
    if (n->seg->async && n->seg->cur_epoch != atomic_load_explicit(&s->epoch, memory_order_relaxed))
        return 0;
    RM__CNT_ADD(n->frames_out, 1);
    uint32_t cnt = gn->n_out_edges[port];
    if (cnt == 0) return gn->is_sink ? output(n, port, f) : 0;
    const uint32_t *edges = gn->out_edges[port];
    for (uint32_t i = 0; i < cnt; i++) {
        const rm__gedge *e = &s->g->edges[edges[i]];
        RM__CNT_ADD(s->edge_frames[e->index], 1);
        int rc = deliver(s, e->to, e->to_port, f, n->seg->index);
        if (rc < 0) return atomic_load(&s->failed) ? RM_ECANCELED : rc;
    }
    return 0;
}

int rm_node_emit_take(rm_node *n, unsigned port, rm_frame *f)
{
    int rc = rm_node_emit(n, port, f);
    rm_frame_unref(f);
    return rc;
}

/* --------------------------------------------------------- error policy --- */

static int permanent(int code)
{
    return code == RM_EFRAMEKIND || code == RM_EFORMAT || code == RM_EINVAL || code == RM_EPARAM;
}

static void note_error(rm_node *n, int rc, rm_log_level level, const char *what)
{
    RM__CNT_ADD(n->errors, 1);
    const char *msg = n->errmsg[0] ? n->errmsg : rm_strerror(rc);
    /* Log the first few at `level`, the rest at debug, so a noisy input
     * cannot flood the log. */
    rm_log_level lv = RM__CNT_GET(n->errors) <= 3 ? level : RM_LOG_DEBUG;
    rm__log(n->s->rt, lv, n->gn->id, "%s: %s (%s)", what, msg, rm_err_name(rc));
}

static int fail_node(rm_node *n, int rc)
{
    rm_session *s = n->s;
    if (rc == RM_ECANCELED && atomic_load(&s->failed)) return rc; /* a downstream failure */
    RM__CNT_ADD(n->errors, 1);
    char msg[sizeof n->errmsg];
    snprintf(msg, sizeof msg, "%s", n->errmsg[0] ? n->errmsg : rm_strerror(rc));
    session_fail(s, rc, n->gn->id, msg);
    rm__log(s->rt, RM_LOG_ERROR, n->gn->id, "%s (%s)", msg, rm_err_name(rc));
    return rc;
}

static uint64_t next_rand(rm_node *n)
{
    n->rng ^= n->rng << 13;
    n->rng ^= n->rng >> 7;
    n->rng ^= n->rng << 17;
    return n->rng;
}

static uint64_t backoff_ns(rm_node *n, unsigned attempt)
{
    const rm__on_error *oe = &n->gn->on_error;
    double d = (double)oe->base_delay_ns * pow(2.0, attempt);
    if (d > (double)oe->max_delay_ns) d = (double)oe->max_delay_ns;
    double u = (double)(next_rand(n) >> 11) / 9007199254740992.0; /* [0,1) */
    d *= 1.0 + oe->jitter * (2.0 * u - 1.0);
    return d < 0 ? 0 : (uint64_t)d;
}

static void breaker_result(rm_node *n, int ok)
{
    const rm__on_error *oe = &n->gn->on_error;
    int to = rm_breaker_record(&n->breaker, ok, rm__now_ns());
    if (to == RM_BREAKER_CLOSED) {
        rm__log(n->s->rt, RM_LOG_INFO, n->gn->id, "circuit breaker closed");
    } else if (to == RM_BREAKER_OPEN) {
        rm__log(n->s->rt, RM_LOG_WARN, n->gn->id,
                "circuit breaker open after %u consecutive failures; frames are dropped for %.1f s",
                n->breaker.consecutive_failures, (double)oe->reset_timeout_ns / 1e9);
    }
}

/* Retry policy: emits of a failed attempt are held back and dropped, so a
 * retried frame reaches downstream nodes exactly once. */
static int invoke_retry(rm_node *n, unsigned port, const rm_frame *f)
{
    const rm__on_error *oe = &n->gn->on_error;
    rm_session *s = n->s;
    if (!rm_breaker_allow(&n->breaker, rm__now_ns())) {
        RM__CNT_ADD(n->rejected, 1);
        return 0;
    }
    int rc = 0;
    for (unsigned attempt = 0;; attempt++) {
        n->errmsg[0] = '\0';
        n->staging = 1;
        rc = call_node(n, port, f);
        n->staging = 0;
        if (rc == 0) break;
        drop_staged(n);
        if (atomic_load(&s->failed)) return RM_ECANCELED;
        if (permanent(rc) || attempt >= oe->max_retries) break;
        RM__CNT_ADD(n->retries, 1);
        rm__log(s->rt, RM_LOG_DEBUG, n->gn->id, "attempt %u failed (%s); retrying", attempt + 1,
                n->errmsg[0] ? n->errmsg : rm_strerror(rc));
        rm__sleep_ns(backoff_ns(n, attempt));
    }
    breaker_result(n, rc == 0);
    if (rc != 0) {
        note_error(n, rc, RM_LOG_WARN, permanent(rc) ? "frame dropped" : "retries exhausted, frame dropped");
        return 0;
    }
    /* deliver what the successful attempt emitted */
    int out = 0;
    for (size_t i = 0; i < n->n_staged; i++) {
        if (out == 0) out = rm_node_emit(n, n->staged[i].port, n->staged[i].frame);
        rm_frame_unref(n->staged[i].frame);
    }
    n->n_staged = 0;
    return out;
}

static void apply_pending_config(rm_node *n)
{
    void *p = atomic_load_explicit(&n->pending_config, memory_order_relaxed);
    if (p) {
        p = atomic_exchange(&n->pending_config, NULL);
        if (p) n->config = p;
    }
}

static int invoke(rm_node *n, unsigned port, const rm_frame *f)
{
    rm_session *s = n->s;
    if (atomic_load_explicit(&s->failed, memory_order_relaxed)) return RM_ECANCELED;
    apply_pending_config(n);
    RM__CNT_ADD(n->frames_in, 1);
    uint32_t kinds = n->gn->in_req[port].kinds;
    if (kinds && !(kinds & RM_KIND_BIT(f->kind))) {
        rm__buf want;
        rm__buf_init(&want);
        for (int k = RM_FRAME_AUDIO; k <= RM_FRAME_BINARY; k++)
            if (kinds & RM_KIND_BIT(k)) rm__buf_printf(&want, "%s%s", want.len ? ", " : "", rm_frame_kind_name((rm_frame_kind)k));
        rm_node_fail(n, RM_EFRAMEKIND, "input port '%s' of %s accepts %s, got a %s frame",
                     rm_node_type_input(n->gn->type, port)->name, n->gn->type->name,
                     want.data ? want.data : "?", rm_frame_kind_name(f->kind));
        rm__buf_free(&want);
        if (n->gn->on_error.policy == RM__ON_ERROR_FAIL) return fail_node(n, RM_EFRAMEKIND);
        note_error(n, RM_EFRAMEKIND, RM_LOG_WARN, "frame dropped");
        return 0;
    }
    if (n->gn->on_error.policy == RM__ON_ERROR_RETRY) return invoke_retry(n, port, f);
    n->errmsg[0] = '\0';
    int rc = call_node(n, port, f);
    if (rc >= 0) return 0;
    if (n->gn->on_error.policy == RM__ON_ERROR_SKIP && !(rc == RM_ECANCELED && atomic_load(&s->failed))) {
        note_error(n, rc, RM_LOG_WARN, "frame skipped");
        return 0;
    }
    return fail_node(n, rc);
}

/* ------------------------------------------------------- end of stream --- */

static void mark_flushed(rm_session *s)
{
    rm__lock(&s->ctl_mu);
    s->flushed_count++;
    if (s->flushed_count == s->g->n_nodes) rm__cond_broadcast(&s->ctl_cv);
    rm__unlock(&s->ctl_mu);
}

static void node_eos(rm_node *n)
{
    if (n->flushed) return;
    if (n->eos_pending > 1) {
        n->eos_pending--;
        return;
    }
    n->eos_pending = 0;
    rm_session *s = n->s;
    if (n->gn->type->flush && !atomic_load(&s->failed)) {
        apply_pending_config(n);
        n->errmsg[0] = '\0';
        int rc = call_node(n, 0, NULL);
        if (rc < 0) {
            if (n->gn->on_error.policy == RM__ON_ERROR_FAIL) fail_node(n, rc);
            else note_error(n, rc, RM_LOG_WARN, "flush failed");
        }
    }
    n->flushed = 1;
    const rm__gnode *gn = n->gn;
    for (unsigned p = 0; p < gn->n_out; p++)
        for (uint32_t i = 0; i < gn->n_out_edges[p]; i++)
            deliver_eos(s, s->g->edges[gn->out_edges[p][i]].to, n->seg->index);
    mark_flushed(s);
}

/* ------------------------------------------------------------- workers --- */

static void reset_segment(rm_session *s, int segment)
{
    for (size_t i = 0; i < s->g->n_nodes; i++) {
        rm_node *n = &s->nodes[i];
        if (n->seg->index != segment) continue;
        drop_staged(n);
        if (n->gn->type->reset && n->inited) {
            int rc = n->gn->type->reset(n, n->state);
            if (rc < 0) rm__log(s->rt, RM_LOG_WARN, n->gn->id, "reset failed: %s", rm_strerror(rc));
        }
    }
}

static void process_item(seg_rt *seg, rm__item *it)
{
    rm_session *s = seg->s;
    switch (it->kind) {
    case RM__ITEM_FRAME:
        if (it->epoch == atomic_load(&s->epoch)) {
            seg->cur_epoch = it->epoch;
            invoke(&s->nodes[it->node], it->port, it->frame);
        }
        rm_frame_unref(it->frame);
        break;
    case RM__ITEM_EOS: node_eos(&s->nodes[it->node]); break;
    case RM__ITEM_RESET:
        reset_segment(s, seg->index);
        rm__lock(&s->ctl_mu);
        s->reset_acks++;
        rm__cond_broadcast(&s->ctl_cv);
        rm__unlock(&s->ctl_mu);
        break;
    }
}

#ifndef RM_SINGLE_THREAD
static void *segment_worker(void *arg)
{
    seg_rt *seg = arg;
    rm__item it;
    while (rm__queue_pop(&seg->q, &it) == 0) process_item(seg, &it);
    return NULL;
}
#endif

static void run_strand(rm__task *task)
{
    seg_rt *seg = (seg_rt *)((char *)task - offsetof(seg_rt, task));
    rm__item it;
    for (int i = 0; i < RM__STRAND_BUDGET; i++) {
        if (rm__queue_try_pop(&seg->q, &it) != 0) return; /* idle again */
        process_item(seg, &it);
    }
    rm__pool_submit(seg->s->pool, task); /* more work: yield to other sessions */
}

/* ---------------------------------------------------------- open/close --- */

static atomic_uint g_session_counter; /* only for default session ids */

static void stop_workers(rm_session *s)
{
    for (size_t i = 0; i < s->n_segs; i++) {
        seg_rt *seg = &s->segs[i];
        if (!seg->async) continue;
        rm__queue_close(&seg->q);
#ifndef RM_SINGLE_THREAD
        if (seg->started) {
            pthread_join(seg->thread, NULL);
            seg->started = 0;
        }
#endif
    }
    /* A pool strand may still be scheduled or running: wait until it has
     * seen its queue empty and gone idle, so the queue can be destroyed. */
    if (s->pool && s->n_segs && s->segs[0].async) {
        for (;;) {
            rm__lock(&s->segs[0].q.mu);
            int busy = s->segs[0].q.scheduled;
            rm__unlock(&s->segs[0].q.mu);
            if (!busy) break;
            rm__sleep_ns(50000);
        }
    }
}

void rm_session_close(rm_session *s)
{
    if (!s) return;
    if (!s->ended) atomic_store(&s->failed, 1); /* drop whatever is still queued */
    stop_workers(s);
    for (size_t i = 0; s->nodes && i < s->g->n_nodes; i++) {
        rm_node *n = &s->nodes[i];
        drop_staged(n);
        free(n->staged);
        if (n->inited && n->gn->type->fini) n->gn->type->fini(n->state);
        free(n->state);
    }
    for (size_t i = 0; s->segs && i < s->n_segs; i++) {
        if (s->segs[i].async) rm__queue_destroy(&s->segs[i].q);
        for (size_t k = 0; k < s->segs[i].n_work; k++) rm_frame_unref(s->segs[i].work[k].frame);
        free(s->segs[i].work);
    }
    for (size_t i = 0; i < s->outputs.n; i++) rm_frame_unref(s->outputs.items[i].frame);
    free(s->outputs.items);
    free(s->nodes);
    free(s->segs);
    free(s->edge_frames);
    free(s->id);
    rm__arena_free(&s->arena);
    rm__mutex_destroy(&s->err_mu);
    rm__mutex_destroy(&s->ctl_mu);
    rm__cond_destroy(&s->ctl_cv);
    rm__mutex_destroy(&s->out_mu);
    rm__mutex_destroy(&s->param_mu);
    rm_graph_unref(s->g);
    free(s);
}

int rm_session_open(rm_graph *g, const rm_session_opts *opts, rm_session **out, rm_error *err)
{
    static const rm_session_opts defaults = {0};
    if (!opts) opts = &defaults;
    *out = NULL;
    rm_session *s = calloc(1, sizeof *s);
    if (!s) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory opening a session");
    s->g = rm_graph_ref(g);
    s->rt = g->rt;
    s->on_output = opts->on_output;
    s->output_user = opts->output_user;
    s->metrics = !(opts->flags & RM_SESSION_NO_METRICS);
    s->inline_ok = opts->pool && (opts->flags & RM_SESSION_PUSH_INLINE) && g->n_segments == 1;
    atomic_init(&s->push_inline, s->inline_ok);
    rm__mutex_init(&s->err_mu);
    rm__mutex_init(&s->ctl_mu);
    rm__cond_init(&s->ctl_cv);
    rm__mutex_init(&s->out_mu);
    rm__mutex_init(&s->param_mu);
    atomic_init(&s->failed, 0);
    atomic_init(&s->epoch, 0);
#ifdef RM_SINGLE_THREAD
    if (opts->pool) {
        rm_session_close(s);
        return rm_error_set(err, RM_ENOTSUP, NULL, "thread pools are not available in single-thread builds");
    }
#else
    s->pool = opts->pool;
#endif
    if (opts->session_id) s->id = rm__strdup(opts->session_id);
    else {
        /* "session-N" without snprintf: it was ~10 % of opening a one-node
         * session (Python run() opens one per call) */
        char digits[12], idbuf[24] = "session-";
        unsigned v = atomic_fetch_add(&g_session_counter, 1) + 1, nd = 0;
        do digits[nd++] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        for (unsigned i = 0; i < nd; i++) idbuf[8 + i] = digits[nd - 1 - i];
        idbuf[8 + nd] = '\0';
        s->id = rm__strdup(idbuf);
    }
    s->n_segs = g->n_segments;
    s->segs = calloc(s->n_segs, sizeof *s->segs);
    s->nodes = calloc(g->n_nodes, sizeof *s->nodes);
    s->edge_frames = calloc(g->n_edges + 1, sizeof *s->edge_frames);
    if (!s->id || !s->segs || !s->nodes || !s->edge_frames) {
        rm_session_close(s);
        return rm_error_set(err, RM_ENOMEM, NULL, "out of memory opening a session");
    }
    for (size_t i = 0; i < s->n_segs; i++) {
        seg_rt *seg = &s->segs[i];
        seg->s = s;
        seg->index = (int)i;
        seg->task.run = run_strand;
#ifndef RM_SINGLE_THREAD
        seg->async = i > 0 || s->pool != NULL;
#endif
        if (seg->async) {
            /* 0 = no capacity in the manifest: the session's default applies */
            size_t cap = g->segments[i].capacity;
            if (!cap) cap = opts->queue_capacity ? opts->queue_capacity : 64;
            if (rm__queue_init(&seg->q, g->segments[i].policy, cap) != 0) {
                seg->async = 0;
                rm_session_close(s);
                return rm_error_set(err, RM_ENOMEM, NULL, "out of memory opening a session");
            }
            s->threaded = 1;
        }
    }
    s->open_ns = rm__now_ns();
    for (size_t i = 0; i < g->n_nodes; i++) {
        rm_node *n = &s->nodes[i];
        const rm__gnode *gn = &g->nodes[i];
        n->s = s;
        n->gn = gn;
#ifdef RM_SINGLE_THREAD
        n->seg = &s->segs[0]; /* everything runs inline */
#else
        n->seg = &s->segs[gn->segment];
#endif
        n->config = gn->config;
        n->latest_config = gn->config;
        n->eos_pending = gn->n_upstream + (gn->is_source ? 1u : 0u);
        rm_breaker_init(&n->breaker, n->gn->on_error.failure_threshold, n->gn->on_error.reset_timeout_ns,
                        n->gn->on_error.success_threshold);
        n->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)i * 0xBF58476D1CE4E5B9ull) ^ s->open_ns;
        atomic_init(&n->pending_config, NULL);
        n->state = calloc(1, gn->type->state_size ? gn->type->state_size : 1);
        if (!n->state) {
            rm_session_close(s);
            return rm_error_set(err, RM_ENOMEM, gn->id, "out of memory creating node '%s'", gn->id);
        }
        uint64_t t0 = rm__now_ns();
        int rc = gn->type->init ? gn->type->init(n, n->state, n->config) : 0;
        RM__CNT_SET(n->init_ns, rm__now_ns() - t0);
        if (rc < 0) {
            rm_error_set(err, rc, gn->id, "node '%s' (%s) failed to initialise: %s", gn->id,
                         gn->type->name, n->errmsg[0] ? n->errmsg : rm_strerror(rc));
            rm_session_close(s);
            return rc;
        }
        n->inited = 1;
    }
#ifndef RM_SINGLE_THREAD
    for (size_t i = 1; i < s->n_segs; i++) {
        seg_rt *seg = &s->segs[i];
        if (pthread_create(&seg->thread, NULL, segment_worker, seg) != 0) {
            rm_session_close(s);
            return rm_error_set(err, RM_ELIMIT, NULL, "cannot start a worker thread");
        }
        seg->started = 1;
    }
#endif
    rm__log(s->rt, RM_LOG_DEBUG, NULL, "session %s opened (%zu nodes, %zu worker segments)", s->id,
            g->n_nodes, s->n_segs - 1);
    *out = s;
    return 0;
}

/* ---------------------------------------------------------------- push --- */

static int status(rm_session *s)
{
    if (!atomic_load(&s->failed)) return 0;
    rm__lock(&s->err_mu);
    int code = s->err.code ? s->err.code : RM_ECANCELED;
    rm__unlock(&s->err_mu);
    return code;
}

/* Timestamps nodes can add durations to (RM_TS_MAX): a pushed frame stamped
 * INT64_MAX overflowed AudioChunker's clock (fuzz target rmw). */
static int ts_ok(const rm_frame *f)
{
    return f->timestamp_us == RM_TS_NONE || (f->timestamp_us <= RM_TS_MAX && f->timestamp_us >= -RM_TS_MAX);
}

int rm_session_push(rm_session *s, const rm_frame *f)
{
    if (!f || !ts_ok(f)) return RM_EINVAL;
    if (s->ended) return RM_ESTATE;
    if (atomic_load(&s->failed)) return status(s);
    RM__CNT_ADD(s->frames_in, 1);
    for (size_t i = 0; i < s->g->n_sources; i++) {
        if (s->g->nodes[s->g->sources[i]].n_in == 0) continue; /* generators take no input */
        int rc = deliver(s, s->g->sources[i], 0, f, -1);
        if (rc < 0) return status(s) ? status(s) : rc;
    }
    return status(s);
}

int rm_session_push_to(rm_session *s, const char *node_id, const char *port, const rm_frame *f)
{
    if (!f || !ts_ok(f)) return RM_EINVAL;
    if (s->ended) return RM_ESTATE;
    if (atomic_load(&s->failed)) return status(s);
    int idx = rm_graph_node_index(s->g, node_id);
    if (idx < 0) return RM_ENOTFOUND;
    int p = port ? rm_node_type_input_index(s->g->nodes[idx].type, port) : 0;
    if (p < 0 || (unsigned)p >= s->g->nodes[idx].n_in) return RM_ENOTFOUND;
    RM__CNT_ADD(s->frames_in, 1);
    int rc = deliver(s, (uint32_t)idx, (unsigned)p, f, -1);
    if (rc < 0 && !atomic_load(&s->failed)) return rc;
    return status(s);
}

int rm_session_end(rm_session *s)
{
    if (s->ended) return RM_ESTATE;
    s->ended = 1;
    for (size_t i = 0; i < s->g->n_sources; i++) deliver_eos(s, s->g->sources[i], -1);
    if (s->threaded) {
        rm__lock(&s->ctl_mu);
        while (s->flushed_count < s->g->n_nodes) rm__cond_wait(&s->ctl_cv, &s->ctl_mu);
        rm__unlock(&s->ctl_mu);
        stop_workers(s);
    }
    s->end_ns = rm__now_ns();
    return status(s);
}

int rm_session_reset(rm_session *s)
{
    if (s->ended) return RM_ESTATE;
    atomic_fetch_add(&s->epoch, 1);
    /* Count acks from before the first RESET item is queued: a worker may
     * ack before this thread gets to wait. */
    rm__lock(&s->ctl_mu);
    size_t acks_before = s->reset_acks;
    rm__unlock(&s->ctl_mu);
    size_t waiting = 0;
    for (size_t i = 0; i < s->n_segs; i++) {
        seg_rt *seg = &s->segs[i];
        if (!seg->async) {
            reset_segment(s, (int)i);
            continue;
        }
        rm__queue_drop_frames(&seg->q);
        rm__item it = {RM__ITEM_RESET, 0, 0, 0, NULL};
        if (enqueue(s, (int)i, &it) == 0) waiting++;
    }
    if (waiting) {
        rm__lock(&s->ctl_mu);
        while (s->reset_acks < acks_before + waiting) rm__cond_wait(&s->ctl_cv, &s->ctl_mu);
        rm__unlock(&s->ctl_mu);
    }
    return status(s);
}

void rm_session_cancel(rm_session *s)
{
    session_fail(s, RM_ECANCELED, NULL, "session canceled");
}

int rm_session_interrupt(rm_session *s, const char *node_id)
{
    int idx = node_id ? rm_graph_node_index(s->g, node_id) : -1;
    if (idx < 0) return RM_ENOTFOUND;
    atomic_fetch_add_explicit(&s->nodes[idx].intr_gen, 1, memory_order_relaxed);
    return 0;
}

void rm_session_set_push_inline(rm_session *s, int on)
{
    atomic_store(&s->push_inline, on && s->inline_ok);
}

size_t rm_session_queued(const rm_session *s, const char *node_id, size_t *capacity)
{
    if (capacity) *capacity = 0;
    int idx = node_id ? rm_graph_node_index(s->g, node_id) : (s->g->n_sources ? (int)s->g->sources[0] : -1);
    if (idx < 0) return 0;
    seg_rt *seg = s->nodes[idx].seg;
    if (!seg->async) return 0;
    rm__lock(&seg->q.mu);
    size_t n = seg->q.frames;
    if (capacity) *capacity = seg->q.capacity;
    rm__unlock(&seg->q.mu);
    return n;
}

int rm_session_set_param(rm_session *s, const char *node_id, const char *param,
                         const char *json_value, rm_error *err)
{
    int idx = rm_graph_node_index(s->g, node_id);
    if (idx < 0) return rm_error_set(err, RM_ENOTFOUND, NULL, "no node '%s' in this session", node_id ? node_id : "");
    rm_node *n = &s->nodes[idx];
    const rm_node_type *t = n->gn->type;
    const rm_param_def *p = param ? rm__param_find(t, param) : NULL;
    if (!p) return rm_error_set(err, RM_EPARAM, n->gn->id, "%s has no parameter '%s'", t->name, param ? param : "");
    if (!(p->flags & RM_PARAM_RUNTIME))
        return rm_error_set(err, RM_EPARAM, n->gn->id,
                            "parameter '%s' of %s cannot change while running (not a runtime parameter)",
                            p->name, t->name);
    json_error_t jerr;
    json_t *v = json_loads(json_value ? json_value : "", JSON_DECODE_ANY, &jerr);
    if (!v) return rm_error_set(err, RM_EPARAM, n->gn->id, "parameter '%s': invalid JSON value: %s", p->name, jerr.text);
    rm__lock(&s->param_mu);
    void *cfg = rm__arena_keep(&s->arena, malloc(t->config_size));
    int rc = cfg ? 0 : RM_ENOMEM;
    char msg[400] = "out of memory";
    if (cfg) {
        memcpy(cfg, n->latest_config, t->config_size);
        rc = rm__param_set(p, v, cfg, &s->arena, msg, sizeof msg);
    }
    if (rc == 0) {
        n->latest_config = cfg;
        atomic_store(&n->pending_config, cfg);
    }
    rm__unlock(&s->param_mu);
    json_decref(v);
    if (rc != 0) return rm_error_set(err, rc, n->gn->id, "parameter '%s' of %s: %s", p->name, t->name, msg);
    return 0;
}

const rm_error *rm_session_error(const rm_session *s) { return &s->err; }
const char *rm_session_id(const rm_session *s) { return s->id; }
rm_graph *rm_session_graph(const rm_session *s) { return s->g; }

/* ------------------------------------------------------------- outputs --- */

const rm_outputs *rm_session_outputs(const rm_session *s) { return &s->outputs; }
size_t rm_outputs_count(const rm_outputs *o) { return o ? o->n : 0; }
const rm_output *rm_outputs_at(const rm_outputs *o, size_t i) { return o && i < o->n ? &o->items[i] : NULL; }

size_t rm_outputs_of(const rm_outputs *o, const char *node_id, const rm_frame **frames, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; o && i < o->n; i++) {
        if (strcmp(o->items[i].node_id, node_id) != 0) continue;
        if (k < cap) frames[k] = o->items[i].frame;
        k++;
    }
    return k;
}

void rm_outputs_free(rm_outputs *o)
{
    if (!o) return;
    for (size_t i = 0; i < o->n; i++) {
        rm_frame_unref(o->items[i].frame);
        free((char *)o->items[i].node_id);
        free((char *)o->items[i].port);
    }
    free(o->items);
    free(o);
}

/* Moves the session's outputs into a standalone list with its own strings. */
static rm_outputs *detach_outputs(rm_session *s)
{
    rm_outputs *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    *o = s->outputs;
    memset(&s->outputs, 0, sizeof s->outputs);
    int oom = 0;
    for (size_t i = 0; i < o->n; i++) {
        char *id = rm__strdup(o->items[i].node_id), *port = rm__strdup(o->items[i].port);
        if (!id || !port) oom = 1;
        o->items[i].node_id = id;
        o->items[i].port = port;
    }
    if (oom) {
        rm_outputs_free(o);
        return NULL;
    }
    return o;
}

int rm_graph_run(rm_graph *g, const rm_frame *const *inputs, size_t n_inputs, rm_outputs **out,
                 char **metrics_json, rm_error *err)
{
    rm_session *s;
    if (out) *out = NULL;
    if (metrics_json) *metrics_json = NULL;
    int rc = rm_session_open(g, NULL, &s, err);
    if (rc != 0) return rc;
    for (size_t i = 0; i < n_inputs && rc == 0; i++) rc = rm_session_push(s, inputs[i]);
    int end = rm_session_end(s);
    if (rc == 0) rc = end;
    if (rc != 0 && err) {
        if (s->err.code) *err = s->err;
        else rm_error_set(err, rc, NULL, "%s", rm_strerror(rc));
    }
    if (metrics_json) *metrics_json = rm_session_metrics_json(s);
    if (rc == 0 && out && !(*out = detach_outputs(s))) rc = rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    rm_session_close(s);
    return rc;
}

/* ------------------------------------------------------- metrics export --- */

static double ticks_us(double ticks, double tpn) { return ticks / tpn / 1000.0; }

static void json_num(rm__buf *b, const char *key, double v, int comma)
{
    if (!isfinite(v)) v = 0;
    rm__buf_printf(b, "%s\"%s\":%.3f", comma ? "," : "", key, v);
}

char *rm_session_metrics_json(const rm_session *s)
{
    double tpn = rm__ticks_per_ns();
    uint64_t end = s->end_ns ? s->end_ns : rm__now_ns();
    rm__buf b;
    rm__buf_init(&b);
    rm__buf_puts(&b, "{\"pipeline\":");
    rm__buf_json_str(&b, s->g->name);
    rm__buf_puts(&b, ",\"session_id\":");
    rm__buf_json_str(&b, s->id);
    rm__buf_printf(&b, ",\"status\":\"%s\"",
                   atomic_load(&((rm_session *)s)->failed) ? "failed" : s->ended ? "ended" : "running");
    json_num(&b, "total_duration_us", (double)(end - s->open_ns) / 1000.0, 1);
    rm__buf_printf(&b, ",\"frames_in\":%llu,\"frames_out\":%llu",
                   (unsigned long long)RM__CNT_GET(((rm_session *)s)->frames_in),
                   (unsigned long long)RM__CNT_GET(((rm_session *)s)->frames_out));
    rm__buf_printf(&b, ",\"metrics_enabled\":%s", s->metrics ? "true" : "false");
    if (s->err.code) {
        rm__buf_printf(&b, ",\"error\":{\"code\":\"%s\",\"class\":\"%s\",\"node_id\":", rm_err_name(s->err.code),
                       rm_errclass_name(s->err.cls));
        rm__buf_json_str(&b, s->err.node_id);
        rm__buf_puts(&b, ",\"message\":");
        rm__buf_json_str(&b, s->err.message);
        rm__buf_puts(&b, "}");
    }
    rm__buf_puts(&b, ",\"node_metrics\":{");
    for (size_t i = 0; i < s->g->n_nodes; i++) {
        rm_node *n = &s->nodes[i];
        uint64_t calls = RM__CNT_GET(n->calls);
        rm__hist h;
        for (unsigned k = 0; k < RM__HIST_BUCKETS; k++) h.b[k] = atomic_load_explicit(&n->hist[k], memory_order_relaxed);
        double total = ticks_us((double)RM__CNT_GET(n->ticks_total), tpn);
        if (i) rm__buf_puts(&b, ",");
        rm__buf_json_str(&b, n->gn->id);
        rm__buf_puts(&b, ":{\"node_type\":");
        rm__buf_json_str(&b, n->gn->type->name);
        rm__buf_printf(&b, ",\"calls\":%llu,\"frames_in\":%llu,\"frames_out\":%llu,\"errors\":%llu",
                       (unsigned long long)calls, (unsigned long long)RM__CNT_GET(n->frames_in),
                       (unsigned long long)RM__CNT_GET(n->frames_out), (unsigned long long)RM__CNT_GET(n->errors));
        json_num(&b, "total_us", total, 1);
        json_num(&b, "min_us", calls ? ticks_us((double)RM__CNT_GET(n->ticks_min), tpn) : 0, 1);
        json_num(&b, "max_us", ticks_us((double)RM__CNT_GET(n->ticks_max), tpn), 1);
        json_num(&b, "mean_us", calls ? total / (double)calls : 0, 1);
        double p50 = rm__hist_quantile(&h, calls, 0.50), p99 = rm__hist_quantile(&h, calls, 0.99);
        /* the histogram is coarse; keep its answers inside the exact range */
        double mn = (double)RM__CNT_GET(n->ticks_min), mx = (double)RM__CNT_GET(n->ticks_max);
        if (calls) {
            p50 = p50 < mn ? mn : p50 > mx ? mx : p50;
            p99 = p99 < mn ? mn : p99 > mx ? mx : p99;
        }
        json_num(&b, "p50_us", ticks_us(p50, tpn), 1);
        json_num(&b, "p99_us", ticks_us(p99, tpn), 1);
        json_num(&b, "init_us", (double)RM__CNT_GET(n->init_ns) / 1000.0, 1);
        rm__buf_printf(&b, ",\"worker\":%d", n->gn->segment);
        if (n->gn->inserted) rm__buf_puts(&b, ",\"inserted\":true");
        if (n->gn->on_error.policy == RM__ON_ERROR_RETRY) {
            rm__buf_printf(&b, ",\"retries\":%llu,\"rejected\":%llu,\"circuit\":\"%s\"",
                           (unsigned long long)RM__CNT_GET(n->retries),
                           (unsigned long long)RM__CNT_GET(n->rejected), rm_breaker_state_name(n->breaker.state));
        }
        if (n->n_stats) {
            rm__buf_puts(&b, ",\"stats\":{");
            for (unsigned k = 0; k < n->n_stats; k++) {
                const stat_slot *st = &n->stats[k];
                if (k) rm__buf_puts(&b, ",");
                rm__buf_json_str(&b, st->key);
                if (st->kind == RM_STAT_SAMPLE) {
                    rm__buf_printf(&b, ":{\"count\":%llu", (unsigned long long)st->count);
                    json_num(&b, "mean", st->count ? st->value / (double)st->count : 0, 1);
                    json_num(&b, "max", st->max, 1);
                    rm__buf_puts(&b, "}");
                } else {
                    rm__buf_printf(&b, ":%.6g", isfinite(st->value) ? st->value : 0);
                }
            }
            rm__buf_puts(&b, "}");
        }
        rm__buf_puts(&b, "}");
    }
    rm__buf_puts(&b, "},\"links\":[");
    for (size_t e = 0; e < s->g->n_edges; e++) {
        const rm__gedge *ge = &s->g->edges[e];
        const rm__gnode *a = &s->g->nodes[ge->from], *z = &s->g->nodes[ge->to];
        if (e) rm__buf_puts(&b, ",");
        rm__buf_printf(&b, "{\"from\":\"%s.%s\",\"to\":\"%s.%s\",\"frames\":%llu", a->id,
                       rm_node_type_output(a->type, ge->from_port)->name, z->id,
                       rm_node_type_input(z->type, ge->to_port)->name,
                       (unsigned long long)RM__CNT_GET(s->edge_frames[ge->index]));
        const seg_rt *seg = &s->segs[s->nodes[ge->to].seg->index];
        if (ge->crosses && seg->async) {
            rm__buf_printf(&b, ",\"queue\":\"%s\",\"capacity\":%zu,\"high_water\":%llu,\"drops\":%llu",
                           rm__queue_policy_name(seg->q.policy), seg->q.capacity,
                           (unsigned long long)RM__CNT_GET(((seg_rt *)seg)->q.high_water),
                           (unsigned long long)RM__CNT_GET(((seg_rt *)seg)->q.drops));
        }
        rm__buf_puts(&b, "}");
    }
    rm__buf_puts(&b, "]}");
    return rm__buf_steal(&b);
}
