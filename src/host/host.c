/*
 * The transport-neutral host layer (include/remotemedia/transport.h): control
 * threads for blocking work, a timer thread (idle timeouts, writability),
 * unary runs and streams on the runtime's pool.  Public API only.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "remotemedia/remotemedia.h"
#include "remotemedia/transport.h"

#ifdef RM_SINGLE_THREAD
#error "the host layer needs threads"
#endif

#define SEQ_RING 4096u /* > any queue capacity: inputs still queued or in flight */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------ control threads --- */

typedef struct htask {
    void (*fn)(void *arg);
    void *arg;
    struct htask *next;
} htask;

struct rm_host {
    rm_runtime *rt;
    rm_host_opts opts;
    rm_pool *pool;
    pthread_mutex_t mu; /* tasks, streams list, counters */
    pthread_cond_t cv, idle_cv;
    htask *head, *tail;
    unsigned busy;     /* tasks queued or running */
    int stop, timer_stop;
    pthread_t *threads;
    unsigned n_threads;
    pthread_t timer;
    int timer_started;
    pthread_cond_t timer_cv;
    rm_stream *streams; /* open (not yet freed) streams */
    size_t active;      /* streams that have not ended + unary runs running */
    size_t unary;       /* unary runs running */
    size_t live;        /* streams not torn down yet (teardown may wait for a node call) */
    atomic_uint stream_counter;
};

static void *control_main(void *arg)
{
    rm_host *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->head && !h->stop) pthread_cond_wait(&h->cv, &h->mu);
        htask *t = h->head;
        if (!t) break;
        h->head = t->next;
        if (!h->head) h->tail = NULL;
        pthread_mutex_unlock(&h->mu);
        t->fn(t->arg);
        free(t);
        pthread_mutex_lock(&h->mu);
        if (--h->busy == 0) pthread_cond_broadcast(&h->idle_cv);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Queues fn(arg) on a control thread; -1 if out of memory. */
static int submit(rm_host *h, void (*fn)(void *), void *arg)
{
    htask *t = malloc(sizeof *t);
    if (!t) return -1;
    t->fn = fn;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->tail) h->tail->next = t;
    else h->head = t;
    h->tail = t;
    h->busy++;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

/* ---------------------------------------------------------------- streams --- */

/* --------------------------------------------------------- session slots --- */

/* Streams and unary runs both count against max_sessions. */
static int take_slot(rm_host *h, int unary, rm_error *err)
{
    pthread_mutex_lock(&h->mu);
    if (h->opts.max_sessions && h->active >= h->opts.max_sessions) {
        size_t n = h->active;
        pthread_mutex_unlock(&h->mu);
        return rm_error_set(err, RM_ELIMIT, NULL,
                            "too many sessions: %zu running (streams and unary calls), the limit is %zu "
                            "(--max-sessions); this %s was refused, retry later",
                            n, h->opts.max_sessions, unary ? "unary call" : "stream");
    }
    h->active++;
    h->unary += unary != 0;
    pthread_mutex_unlock(&h->mu);
    return 0;
}

static void give_slot(rm_host *h, int unary)
{
    pthread_mutex_lock(&h->mu);
    h->active--;
    h->unary -= unary != 0;
    pthread_mutex_unlock(&h->mu);
}

enum { ST_OPEN, ST_CLOSING, ST_ENDED };

struct rm_stream {
    rm_host *h;
    rm_graph *g;
    rm_session *s;
    rm_stream_callbacks cb;
    pthread_mutex_t mu;  /* held while a callback runs: cancel waits for it */
    pthread_mutex_t ctl; /* serialises session end and teardown */
    pthread_mutex_t seq_mu; /* a push and its count are one step for stream_output */
    atomic_int state;
    atomic_int reported; /* on_closed called (or suppressed by free) */
    atomic_int suppress; /* outputs are dropped */
    atomic_int want_writable;
    _Atomic uint64_t n_pushed;
    _Atomic uint64_t last_push_ns;
    _Atomic uint64_t seqs[SEQ_RING];
    /* pushing thread only: pushes may run the session on that thread, and
     * how many inline pushes in a row went over the budget */
    int push_inline;
    unsigned slow_pushes;
    size_t cap;
    atomic_int refs; /* the transport's, a pending close, the timer's */
    rm_stream *prev, *next; /* host list, guarded by h->mu */
};

const char *rm_stream_end_name(rm_stream_end why)
{
    switch (why) {
    case RM_STREAM_CLOSED: return "closed";
    case RM_STREAM_CANCELED: return "canceled";
    case RM_STREAM_IDLE: return "idle";
    case RM_STREAM_FAILED: return "failed";
    case RM_STREAM_SHUTDOWN: return "shutdown";
    }
    return "?";
}

/* Reports the end once; after this no callback of the stream runs. */
static void report_end(rm_stream *st, rm_stream_end why, const rm_error *err, const char *metrics)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&st->reported, &expect, 1)) return;
    give_slot(st->h, 0);
    /* under st->mu: waits for an on_output in progress, and rm_stream_free
     * waits for this callback */
    pthread_mutex_lock(&st->mu);
    /* rm_stream_free may have come first (it sets suppress under st->mu):
     * then the transport is gone and must not be called */
    int gone = atomic_exchange(&st->suppress, 1);
    if (!gone && st->cb.on_closed) st->cb.on_closed(st->cb.user, why, err, metrics ? metrics : "{}");
    pthread_mutex_unlock(&st->mu);
}

static int queue_has_room(rm_stream *st)
{
    size_t cap = 0;
    size_t q = rm_session_queued(st->s, NULL, &cap);
    return cap == 0 || q <= cap / 2;
}

static void check_writable(rm_stream *st)
{
    if (!atomic_load(&st->want_writable) || !queue_has_room(st)) return;
    int expect = 1;
    if (!atomic_compare_exchange_strong(&st->want_writable, &expect, 0)) return;
    pthread_mutex_lock(&st->mu);
    if (!atomic_load(&st->suppress) && st->cb.on_writable) st->cb.on_writable(st->cb.user);
    pthread_mutex_unlock(&st->mu);
}

/* The push running on this thread (rm_stream_push holds seq_mu around it):
 * an output produced inside it, on this thread, is caused by its frame. */
static _Thread_local const rm_stream *tl_pushing;
static _Thread_local uint64_t tl_push_seq;

static void stream_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    rm_stream *st = user;
    if (atomic_load_explicit(&st->suppress, memory_order_relaxed)) return;
    uint64_t seq;
    if (tl_pushing == st) {
        seq = tl_push_seq;
    } else {
        /* Inputs are taken in push order: the one being processed now is the
         * last taken (pushed minus still queued). */
        pthread_mutex_lock(&st->seq_mu);
        uint64_t pushed = atomic_load(&st->n_pushed);
        size_t queued = rm_session_queued(st->s, NULL, NULL);
        pthread_mutex_unlock(&st->seq_mu);
        uint64_t taken = pushed > queued ? pushed - queued : 0;
        seq = taken ? atomic_load_explicit(&st->seqs[(taken - 1) % SEQ_RING], memory_order_relaxed) : 0;
    }
    pthread_mutex_lock(&st->mu);
    if (!atomic_load(&st->suppress) && st->cb.on_output) st->cb.on_output(st->cb.user, node_id, port, f, seq);
    pthread_mutex_unlock(&st->mu);
    check_writable(st);
}

static void stream_destroy(rm_stream *st);
static void destroy_task(void *arg) { stream_destroy(arg); }

/* Drops a reference; the last one tears the session down on a control thread
 * (closing it joins worker threads, which may be busy in a node call). */
static void stream_unref(rm_stream *st)
{
    if (atomic_fetch_sub(&st->refs, 1) != 1) return;
    if (submit(st->h, destroy_task, st) != 0) stream_destroy(st);
}

static void stream_destroy(rm_stream *st)
{
    pthread_mutex_lock(&st->ctl);
    rm_session_close(st->s);
    pthread_mutex_unlock(&st->ctl);
    pthread_mutex_lock(&st->h->mu);
    st->h->live--;
    pthread_mutex_unlock(&st->h->mu);
    rm_graph_unref(st->g);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->ctl);
    pthread_mutex_destroy(&st->seq_mu);
    free(st);
}

int rm_stream_open(rm_host *h, rm_graph *g, const char *id, const rm_stream_callbacks *cb, rm_stream **out,
                   rm_error *err)
{
    *out = NULL;
    int rc = take_slot(h, 0, err); /* held while the session opens */
    if (rc != 0) return rc;
    rm_stream *st = calloc(1, sizeof *st);
    if (!st) {
        give_slot(h, 0);
        return rm_error_set(err, RM_ENOMEM, NULL, "out of memory opening a stream");
    }
    st->h = h;
    st->g = rm_graph_ref(g);
    atomic_init(&st->refs, 1);
    if (cb) st->cb = *cb;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->ctl, NULL);
    pthread_mutex_init(&st->seq_mu, NULL);
    char idbuf[32];
    if (!id) {
        snprintf(idbuf, sizeof idbuf, "stream-%u", atomic_fetch_add(&h->stream_counter, 1) + 1);
        id = idbuf;
    }
    rm_session_opts so = {0};
    so.session_id = id;
    so.on_output = stream_output;
    so.output_user = st;
    so.pool = h->pool;
    so.queue_capacity = h->opts.queue_capacity;
    if (h->opts.inline_budget_us) so.flags |= RM_SESSION_PUSH_INLINE;
    st->push_inline = h->opts.inline_budget_us != 0;
    rc = rm_session_open(g, &so, &st->s, err);
    if (rc != 0) {
        give_slot(h, 0);
        rm_graph_unref(st->g);
        pthread_mutex_destroy(&st->mu);
        pthread_mutex_destroy(&st->ctl);
        pthread_mutex_destroy(&st->seq_mu);
        free(st);
        return rc;
    }
    rm_session_queued(st->s, NULL, &st->cap);
    atomic_store(&st->last_push_ns, now_ns());
    pthread_mutex_lock(&h->mu);
    h->live++;
    st->next = h->streams;
    if (h->streams) h->streams->prev = st;
    h->streams = st;
    pthread_mutex_unlock(&h->mu);
    *out = st;
    return 0;
}

typedef struct open_job {
    rm_host *h;
    rm_graph *g;
    char *id;
    rm_stream_callbacks cb;
    rm_stream_open_fn done;
    void *user;
} open_job;

static void open_task(void *arg)
{
    open_job *j = arg;
    rm_error err;
    rm_error_clear(&err);
    rm_stream *st = NULL;
    int rc = rm_stream_open(j->h, j->g, j->id, &j->cb, &st, &err);
    j->done(j->user, rc, st, rc ? &err : NULL);
    rm_graph_unref(j->g);
    free(j->id);
    free(j);
}

int rm_stream_open_async(rm_host *h, rm_graph *g, const char *id, const rm_stream_callbacks *cb,
                         rm_stream_open_fn done, void *done_user)
{
    open_job *j = calloc(1, sizeof *j);
    if (!j) return RM_ENOMEM;
    j->h = h;
    j->g = rm_graph_ref(g);
    j->id = id ? strdup(id) : NULL;
    if (cb) j->cb = *cb;
    j->done = done;
    j->user = done_user;
    if ((id && !j->id) || submit(h, open_task, j) != 0) {
        rm_graph_unref(j->g);
        free(j->id);
        free(j);
        return RM_ENOMEM;
    }
    return 0;
}

/* Checks that `node_id` has input `port`; the message names what exists. */
static int check_target(rm_graph *g, const char *node_id, const char *port, rm_error *err)
{
    int idx = node_id ? rm_graph_node_index(g, node_id) : -1;
    if (idx < 0 || rm_graph_node_inserted(g, (size_t)idx)) {
        char list[256] = "";
        size_t n = rm_graph_node_count(g), len = 0;
        for (size_t i = 0; i < n && len < sizeof list - 1; i++) {
            if (rm_graph_node_inserted(g, i)) continue;
            int w = snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", rm_graph_node_id(g, i));
            if (w < 0) break;
            len += (size_t)w;
        }
        return rm_error_set(err, RM_ENOTFOUND, node_id, "no node '%s' in pipeline '%s' (nodes: %s)",
                            node_id ? node_id : "", rm_graph_name(g), list);
    }
    const rm_node_type *t = rm_graph_node_type(g, (size_t)idx);
    if (rm_node_type_n_inputs(t) == 0)
        return rm_error_set(err, RM_ENOTFOUND, node_id, "node '%s' (%s) takes no input", node_id, t->name);
    if (port && *port && rm_node_type_input_index(t, port) < 0) {
        char list[256] = "";
        size_t len = 0;
        for (unsigned i = 0; i < rm_node_type_n_inputs(t) && len < sizeof list - 1; i++) {
            int w = snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", rm_node_type_input(t, i)->name);
            if (w < 0) break;
            len += (size_t)w;
        }
        return rm_error_set(err, RM_ENOTFOUND, node_id, "node '%s' (%s) has no input port '%s' (inputs: %s)", node_id,
                            t->name, port, list);
    }
    return 0;
}

/* A frame of a kind the port does not accept would fail the whole session:
 * refuse it up front instead, naming what the port takes. */
static int check_kind(rm_graph *g, const char *node_id, const char *port, const rm_frame *f, rm_error *err)
{
    const rm_node_type *t = rm_graph_node_type(g, (size_t)rm_graph_node_index(g, node_id));
    int p = port && *port ? rm_node_type_input_index(t, port) : 0;
    const rm_port_def *pd = rm_node_type_input(t, (unsigned)p);
    if (!pd || !pd->kinds || (pd->kinds & RM_KIND_BIT(f->kind))) return 0;
    char want[96] = "";
    size_t len = 0;
    for (int k = RM_FRAME_AUDIO; k <= RM_FRAME_BINARY; k++)
        if (pd->kinds & RM_KIND_BIT(k)) {
            int w = snprintf(want + len, sizeof want - len, "%s%s", len ? ", " : "", rm_frame_kind_name((rm_frame_kind)k));
            if (w > 0 && (size_t)w < sizeof want - len) len += (size_t)w;
        }
    return rm_error_set(err, RM_EFRAMEKIND, node_id, "input port '%s' of node '%s' (%s) accepts %s, got %s",
                        pd->name, node_id, t->name, want, rm_frame_kind_name(f->kind));
}

static int check_size(const rm_host *h, const char *node_id, const rm_frame *f, rm_error *err)
{
    size_t n = rm_frame_payload_size(f);
    if (h->opts.max_frame_bytes && n > h->opts.max_frame_bytes)
        return rm_error_set(err, RM_ELIMIT, node_id, "input for node '%s' is %zu bytes, the limit is %zu bytes",
                            node_id ? node_id : "", n, h->opts.max_frame_bytes);
    return 0;
}

int rm_stream_push(rm_stream *st, const char *node_id, const char *port, rm_frame *frame, uint64_t seq, rm_error *err)
{
    int rc = 0;
    if (!frame) return rm_error_set(err, RM_EINVAL, node_id, "no frame");
    if (atomic_load(&st->state) != ST_OPEN) {
        rc = rm_error_set(err, RM_ESTATE, node_id, "stream %s is %s", rm_session_id(st->s),
                          atomic_load(&st->state) == ST_CLOSING ? "closing" : "closed");
        goto out;
    }
    if ((rc = check_target(st->g, node_id, port, err)) != 0) goto out;
    if ((rc = check_kind(st->g, node_id, port, frame, err)) != 0) goto out;
    if ((rc = check_size(st->h, node_id, frame, err)) != 0) goto out;
    size_t cap = 0, q = rm_session_queued(st->s, node_id, &cap);
    if (cap && q >= cap) {
        rc = rm_error_set(err, RM_EAGAIN, node_id, "input queue of node '%s' is full (%zu frames)", node_id, q);
        goto out;
    }
    /* The queue has room (checked above; only this thread adds to it), so
     * the push does not wait while seq_mu is held; an inline push runs the
     * frame through the graph here (outputs take the tl_pushing path). */
    pthread_mutex_lock(&st->seq_mu);
    uint64_t i = atomic_load(&st->n_pushed);
    atomic_store_explicit(&st->seqs[i % SEQ_RING], seq, memory_order_relaxed);
    const rm_stream *outer = tl_pushing;
    uint64_t outer_seq = tl_push_seq;
    tl_pushing = st;
    tl_push_seq = seq;
    uint64_t t0 = st->push_inline ? now_ns() : 0;
    rc = rm_session_push_to(st->s, node_id, port && *port ? port : NULL, frame);
    uint64_t t1 = now_ns();
    tl_pushing = outer;
    tl_push_seq = outer_seq;
    atomic_store(&st->n_pushed, i + 1);
    pthread_mutex_unlock(&st->seq_mu);
    atomic_store_explicit(&st->last_push_ns, t1, memory_order_relaxed);
    if (st->push_inline) {
        /* Three slow pushes in a row: too slow for the transport's thread,
         * the pool from now on.  One slow push may be this thread being
         * preempted on a loaded machine (wall time, not CPU time). */
        st->slow_pushes = t1 - t0 > st->h->opts.inline_budget_us * 1000u ? st->slow_pushes + 1 : 0;
        if (st->slow_pushes >= 3) {
            st->push_inline = 0;
            rm_session_set_push_inline(st->s, 0);
        }
    }
    if (rc != 0) {
        const rm_error *se = rm_session_error(st->s);
        if (se->code && err) *err = *se;
        else rm_error_set(err, rc, node_id, "push to node '%s' failed: %s", node_id, rm_strerror(rc));
    }
out:
    rm_frame_unref(frame);
    return rc;
}

int rm_stream_writable(rm_stream *st)
{
    if (queue_has_room(st)) return 1;
    atomic_store(&st->want_writable, 1);
    /* it may have drained between the check and the flag */
    if (queue_has_room(st)) {
        int expect = 1;
        if (atomic_compare_exchange_strong(&st->want_writable, &expect, 0)) return 1;
    }
    return 0;
}

static void close_task(void *arg)
{
    rm_stream *st = arg;
    pthread_mutex_lock(&st->ctl);
    int rc = rm_session_end(st->s);
    char *m = rm_session_metrics_json(st->s);
    pthread_mutex_unlock(&st->ctl);
    atomic_store(&st->state, ST_ENDED);
    rm_error err = *rm_session_error(st->s);
    if (rc != 0 && err.code == 0) rm_error_set(&err, rc, NULL, "%s", rm_strerror(rc));
    report_end(st, rc ? RM_STREAM_FAILED : RM_STREAM_CLOSED, rc ? &err : NULL, m);
    free(m);
    stream_unref(st);
}

int rm_stream_close(rm_stream *st)
{
    int expect = ST_OPEN;
    if (!atomic_compare_exchange_strong(&st->state, &expect, ST_CLOSING)) return RM_ESTATE;
    atomic_fetch_add(&st->refs, 1);
    if (submit(st->h, close_task, st) != 0) {
        atomic_fetch_sub(&st->refs, 1);
        atomic_store(&st->state, ST_OPEN);
        return RM_ENOMEM;
    }
    return 0;
}

static void end_now(rm_stream *st, rm_stream_end why)
{
    atomic_store(&st->state, ST_ENDED);
    rm_session_cancel(st->s); /* a node call in progress stops at its next check */
    if (atomic_load(&st->reported)) return;
    char *m = rm_session_metrics_json(st->s);
    report_end(st, why, NULL, m);
    free(m);
}

void rm_stream_cancel(rm_stream *st) { end_now(st, RM_STREAM_CANCELED); }

int rm_stream_interrupt(rm_stream *st, const char *node_id)
{
    /* the session lives until the stream's last reference goes */
    if (atomic_load(&st->state) == ST_ENDED) return RM_ESTATE;
    return rm_session_interrupt(st->s, node_id);
}

void rm_stream_free(rm_stream *st)
{
    if (!st) return;
    rm_host *h = st->h;
    /* no callback after this returns: taking st->mu waits for one in
     * progress (on_output, on_writable or on_closed) */
    if (!atomic_exchange(&st->reported, 1)) give_slot(h, 0);
    pthread_mutex_lock(&st->mu);
    atomic_store(&st->suppress, 1);
    pthread_mutex_unlock(&st->mu);
    int expect = ST_OPEN;
    /* the client is gone: stop the work (a pending close keeps running) */
    if (atomic_compare_exchange_strong(&st->state, &expect, ST_ENDED)) rm_session_cancel(st->s);
    pthread_mutex_lock(&h->mu);
    if (st->prev) st->prev->next = st->next;
    else h->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    st->next = st->prev = NULL;
    pthread_mutex_unlock(&h->mu);
    stream_unref(st);
}

const char *rm_stream_id(const rm_stream *st) { return rm_session_id(st->s); }
rm_graph *rm_stream_graph(const rm_stream *st) { return st->g; }
char *rm_stream_metrics_json(const rm_stream *st) { return rm_session_metrics_json(st->s); }
uint64_t rm_stream_pushed(const rm_stream *st) { return atomic_load(&((rm_stream *)st)->n_pushed); }

void rm_host_shutdown_streams(rm_host *h)
{
    for (;;) {
        rm_stream *victim = NULL;
        pthread_mutex_lock(&h->mu);
        for (rm_stream *st = h->streams; st; st = st->next)
            if (!atomic_load(&st->reported)) {
                victim = st;
                atomic_fetch_add(&st->refs, 1);
                break;
            }
        pthread_mutex_unlock(&h->mu);
        if (!victim) return;
        end_now(victim, RM_STREAM_SHUTDOWN);
        stream_unref(victim);
    }
}

/* ------------------------------------------------------------------ timer --- */

/* Idle timeouts and writability nudges.  Streams needing one are collected
 * (with a reference) under h->mu and handled outside it, so callbacks never
 * run with the host lock held. */
static void *timer_main(void *arg)
{
    rm_host *h = arg;
    enum { BATCH = 64 };
    pthread_mutex_lock(&h->mu);
    while (!h->timer_stop) {
        int waiting = 0;
        rm_stream *act[BATCH];
        int idle[BATCH];
        size_t n = 0;
        uint64_t t = now_ns();
        for (rm_stream *st = h->streams; st && n < BATCH; st = st->next) {
            if (atomic_load(&st->reported)) continue;
            int is_idle = h->opts.idle_timeout_ms && atomic_load(&st->state) == ST_OPEN &&
                          t - atomic_load(&st->last_push_ns) > h->opts.idle_timeout_ms * 1000000ull;
            int wants = atomic_load(&st->want_writable);
            if (wants) waiting = 1;
            if (!is_idle && !wants) continue;
            atomic_fetch_add(&st->refs, 1);
            idle[n] = is_idle;
            act[n++] = st;
        }
        pthread_mutex_unlock(&h->mu);
        for (size_t i = 0; i < n; i++) {
            rm_stream *st = act[i];
            if (idle[i]) {
                int expect = ST_OPEN;
                if (atomic_compare_exchange_strong(&st->state, &expect, ST_ENDED)) {
                    rm_session_cancel(st->s);
                    char *m = rm_session_metrics_json(st->s);
                    rm_error e;
                    rm_error_set(&e, RM_ETIMEDOUT, NULL, "session idle for more than %llu ms (--session-idle-timeout)",
                                 (unsigned long long)h->opts.idle_timeout_ms);
                    report_end(st, RM_STREAM_IDLE, &e, m);
                    free(m);
                }
            } else {
                check_writable(st);
            }
            stream_unref(st);
        }
        pthread_mutex_lock(&h->mu);
        if (h->timer_stop) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long step = waiting ? 1000000L : 50000000L; /* 1 ms while a transport waits for room, else 50 ms */
        ts.tv_nsec += step;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->timer_cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ------------------------------------------------------------------- host --- */

void rm_host_opts_init(rm_host_opts *o)
{
    memset(o, 0, sizeof *o);
}

int rm_host_new(rm_runtime *rt, const rm_host_opts *opts, rm_host **out, rm_error *err)
{
    *out = NULL;
    rm_host *h = calloc(1, sizeof *h);
    if (!h) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    h->rt = rt;
    if (opts) h->opts = *opts;
    /* they mostly wait (a unary run, a flush behind a slow model); more of
     * them cost memory per thread (allocator caches) */
    if (!h->opts.control_threads) h->opts.control_threads = 4;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    pthread_cond_init(&h->idle_cv, NULL);
    pthread_cond_init(&h->timer_cv, NULL);
    int rc = rm_pool_new(h->opts.pool_threads, &h->pool, err);
    if (rc != 0) {
        rm_host_free(h);
        return rc;
    }
    h->threads = calloc(h->opts.control_threads, sizeof *h->threads);
    if (!h->threads) {
        rm_host_free(h);
        return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    }
    for (unsigned i = 0; i < h->opts.control_threads; i++) {
        if (pthread_create(&h->threads[i], NULL, control_main, h) != 0) {
            rm_host_free(h);
            return rm_error_set(err, RM_ELIMIT, NULL, "cannot start a control thread");
        }
        h->n_threads++;
    }
    if (pthread_create(&h->timer, NULL, timer_main, h) != 0) {
        rm_host_free(h);
        return rm_error_set(err, RM_ELIMIT, NULL, "cannot start the timer thread");
    }
    h->timer_started = 1;
    *out = h;
    return 0;
}

void rm_host_free(rm_host *h)
{
    if (!h) return;
    /* the timer first: it may still drop a stream reference (→ teardown task) */
    pthread_mutex_lock(&h->mu);
    h->timer_stop = 1;
    pthread_cond_broadcast(&h->timer_cv);
    pthread_mutex_unlock(&h->mu);
    if (h->timer_started) pthread_join(h->timer, NULL);
    pthread_mutex_lock(&h->mu);
    while (h->busy) pthread_cond_wait(&h->idle_cv, &h->mu); /* pending teardown and runs */
    h->stop = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    for (unsigned i = 0; i < h->n_threads; i++) pthread_join(h->threads[i], NULL);
    free(h->threads);
    rm_pool_free(h->pool);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    pthread_cond_destroy(&h->idle_cv);
    pthread_cond_destroy(&h->timer_cv);
    free(h);
}

rm_runtime *rm_host_runtime(const rm_host *h) { return h->rt; }

int rm_host_submit(rm_host *h, void (*fn)(void *arg), void *arg) { return submit(h, fn, arg) ? RM_ENOMEM : 0; }

size_t rm_host_active_streams(const rm_host *h)
{
    pthread_mutex_lock((pthread_mutex_t *)&h->mu);
    size_t n = h->active - h->unary;
    pthread_mutex_unlock((pthread_mutex_t *)&h->mu);
    return n;
}

size_t rm_host_live_streams(const rm_host *h)
{
    pthread_mutex_lock((pthread_mutex_t *)&h->mu);
    size_t n = h->live;
    pthread_mutex_unlock((pthread_mutex_t *)&h->mu);
    return n;
}

int rm_host_compile(rm_host *h, const char *text, size_t len, const char *name, rm_graph **out, rm_error *err,
                    char **all_diags)
{
    *out = NULL;
    if (all_diags) *all_diags = NULL;
    rm_diags *d = rm_diags_new();
    if (!d) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    int rc = rm_graph_load_string(h->rt, text, len, name ? name : "manifest", NULL, out, d);
    if (rc != 0) {
        rm_diags_to_error(d, err);
        if (all_diags) *all_diags = rm_diags_to_string(d);
        if (err && !err->code) err->code = rc;
    }
    rm_diags_free(d);
    return rc;
}

/* ------------------------------------------------------------------ unary --- */

struct rm_host_result {
    rm_graph *g;
    rm_session *s; /* owns the collected outputs */
    char *metrics;
    double wall_ms;
    size_t n_sinks;
    const char **sink_ids;
    const rm_frame **frames; /* grouped by sink */
    size_t *first, *count;
};

void rm_host_result_free(rm_host_result *r)
{
    if (!r) return;
    rm_session_close(r->s);
    rm_graph_unref(r->g);
    free(r->metrics);
    free(r->sink_ids);
    free(r->frames);
    free(r->first);
    free(r->count);
    free(r);
}

rm_graph *rm_host_result_graph(const rm_host_result *r) { return r->g; }
size_t rm_host_result_sink_count(const rm_host_result *r) { return r->n_sinks; }
const char *rm_host_result_sink(const rm_host_result *r, size_t i) { return i < r->n_sinks ? r->sink_ids[i] : NULL; }
size_t rm_host_result_frames(const rm_host_result *r, size_t sink, const rm_frame *const **frames)
{
    if (sink >= r->n_sinks) {
        *frames = NULL;
        return 0;
    }
    *frames = r->frames + r->first[sink];
    return r->count[sink];
}
const char *rm_host_result_metrics_json(const rm_host_result *r) { return r->metrics ? r->metrics : "{}"; }
double rm_host_result_wall_ms(const rm_host_result *r) { return r->wall_ms; }

/* Groups the session's outputs by sink (sinks in graph order). */
static int group_outputs(rm_host_result *r)
{
    const rm_outputs *o = rm_session_outputs(r->s);
    size_t total = rm_outputs_count(o), ns = rm_graph_sink_count(r->g);
    r->sink_ids = calloc(ns ? ns : 1, sizeof *r->sink_ids);
    r->first = calloc(ns ? ns : 1, sizeof *r->first);
    r->count = calloc(ns ? ns : 1, sizeof *r->count);
    r->frames = calloc(total ? total : 1, sizeof *r->frames);
    if (!r->sink_ids || !r->first || !r->count || !r->frames) return RM_ENOMEM;
    size_t at = 0;
    for (size_t i = 0; i < ns; i++) {
        const char *id = rm_graph_node_id(r->g, rm_graph_sink(r->g, i));
        size_t n = rm_outputs_of(o, id, r->frames + at, total - at);
        if (n == 0) continue;
        r->sink_ids[r->n_sinks] = id;
        r->first[r->n_sinks] = at;
        r->count[r->n_sinks] = n;
        r->n_sinks++;
        at += n;
    }
    return 0;
}

struct rm_host_cancel {
    pthread_mutex_t mu;
    int fired;
    rm_session *s; /* the run's session while it runs */
};

rm_host_cancel *rm_host_cancel_new(void)
{
    rm_host_cancel *c = calloc(1, sizeof *c);
    if (c) pthread_mutex_init(&c->mu, NULL);
    return c;
}

void rm_host_cancel_fire(rm_host_cancel *c)
{
    pthread_mutex_lock(&c->mu);
    c->fired = 1;
    if (c->s) rm_session_cancel(c->s);
    pthread_mutex_unlock(&c->mu);
}

void rm_host_cancel_free(rm_host_cancel *c)
{
    if (!c) return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Attaches the run's session to `c` (NULL: detaches); a fired token
 * cancels it at once. */
static void cancel_attach(rm_host_cancel *c, rm_session *s)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->s = s;
    if (s && c->fired) rm_session_cancel(s);
    pthread_mutex_unlock(&c->mu);
}

int rm_host_run_graph(rm_host *h, rm_graph *g, const rm_host_input *inputs, size_t n_inputs, rm_host_result **out,
                      rm_error *err)
{
    return rm_host_run_graph_cancellable(h, g, inputs, n_inputs, NULL, out, err);
}

int rm_host_run_graph_cancellable(rm_host *h, rm_graph *g, const rm_host_input *inputs, size_t n_inputs,
                                  rm_host_cancel *cancel, rm_host_result **out, rm_error *err)
{
    *out = NULL;
    for (size_t i = 0; i < n_inputs; i++) {
        int rc = check_target(g, inputs[i].node_id, inputs[i].port, err);
        if (rc == 0) rc = check_kind(g, inputs[i].node_id, inputs[i].port, inputs[i].frame, err);
        if (rc == 0) rc = check_size(h, inputs[i].node_id, inputs[i].frame, err);
        if (rc != 0) return rc;
    }
    int rc = take_slot(h, 1, err);
    if (rc != 0) return rc;
    uint64_t t0 = now_ns();
    rm_host_result *r = calloc(1, sizeof *r);
    if (!r) {
        give_slot(h, 1);
        return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    }
    r->g = rm_graph_ref(g);
    rc = rm_session_open(g, NULL, &r->s, err);
    if (rc != 0) {
        give_slot(h, 1);
        rm_host_result_free(r);
        return rc;
    }
    cancel_attach(cancel, r->s);
    for (size_t i = 0; i < n_inputs && rc == 0; i++) {
        const char *port = inputs[i].port && *inputs[i].port ? inputs[i].port : NULL;
        rc = rm_session_push_to(r->s, inputs[i].node_id, port, inputs[i].frame);
    }
    int erc = rm_session_end(r->s);
    cancel_attach(cancel, NULL);
    give_slot(h, 1); /* the session's work is done; its outputs stay in r */
    if (rc == 0) rc = erc;
    if (rc != 0) {
        const rm_error *se = rm_session_error(r->s);
        if (se->code && err) *err = *se;
        else rm_error_set(err, rc, NULL, "%s", rm_strerror(rc));
    }
    r->metrics = rm_session_metrics_json(r->s);
    double ms = (double)(now_ns() - t0) / 1e6;
    r->wall_ms = ms > 0.001 ? ms : 0.001;
    if (group_outputs(r) != 0 && rc == 0) rc = rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    *out = r;
    return rc;
}

typedef struct run_job {
    rm_host *h;
    rm_graph *g;
    rm_host_input *inputs;
    size_t n;
    rm_host_run_done_fn done;
    void *user;
} run_job;

static void run_job_free(run_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        rm_frame_unref((rm_frame *)j->inputs[i].frame);
        free((char *)j->inputs[i].node_id);
        free((char *)j->inputs[i].port);
    }
    free(j->inputs);
    rm_graph_unref(j->g);
    free(j);
}

static void run_task(void *arg)
{
    run_job *j = arg;
    rm_error err;
    rm_error_clear(&err);
    rm_host_result *r = NULL;
    int rc = rm_host_run_graph(j->h, j->g, j->inputs, j->n, &r, &err);
    /* release the inputs before the callback: their memory may belong to
     * the transport's request message */
    rm_host_run_done_fn done = j->done;
    void *user = j->user;
    run_job_free(j);
    done(user, rc, r, rc ? &err : NULL);
}

int rm_host_run_async(rm_host *h, rm_graph *g, const rm_host_input *inputs, size_t n_inputs, rm_host_run_done_fn done,
                      void *user)
{
    rm_error err;
    run_job *j = calloc(1, sizeof *j);
    rm_host_input *copy = calloc(n_inputs ? n_inputs : 1, sizeof *copy);
    if (!j || !copy) {
        free(j);
        free(copy);
        rm_error_set(&err, RM_ENOMEM, NULL, "out of memory");
        done(user, RM_ENOMEM, NULL, &err);
        return RM_ENOMEM;
    }
    j->h = h;
    j->g = rm_graph_ref(g);
    j->inputs = copy;
    j->done = done;
    j->user = user;
    for (size_t i = 0; i < n_inputs; i++) {
        copy[i].node_id = inputs[i].node_id ? strdup(inputs[i].node_id) : NULL;
        copy[i].port = inputs[i].port ? strdup(inputs[i].port) : NULL;
        copy[i].frame = rm_frame_ref(inputs[i].frame);
        j->n++;
    }
    if (submit(h, run_task, j) != 0) {
        run_job_free(j);
        rm_error_set(&err, RM_ENOMEM, NULL, "out of memory");
        done(user, RM_ENOMEM, NULL, &err);
        return RM_ENOMEM;
    }
    return 0;
}
