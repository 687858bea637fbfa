/*
 * remotemedia/transport.h — the transport-neutral host layer.
 *
 * Everything a network transport (gRPC, a JSON-lines socket, WebSocket …)
 * needs to serve pipelines, so that the transport itself only maps its wire
 * format to frames:
 *
 *   rm_host      shared by every request: the runtime, a thread pool that runs
 *                stream sessions, control threads for blocking work (opening
 *                sessions, unary runs, flushing, teardown), limits and counters.
 *   unary run    manifest text → validate/compile (the messages of `rmedia
 *                validate`) → push named inputs → end → outputs grouped by sink
 *                node id, in order, plus the session's metrics JSON.
 *   rm_stream    a long-lived session: push frames to a node id (+ port),
 *                outputs arrive by callback with the sink id, port and the
 *                sequence of the input that caused them; close (flush, then the
 *                remaining outputs and final metrics) or cancel (queued input and
 *                in-flight work dropped, returns at once).
 *
 * Threads: a transport calls rm_stream_push() from its event loop; the call
 * never waits as long as the transport pushes only while
 * rm_stream_writable() says so (rm_stream_callbacks.on_writable tells it when
 * to resume).  Session work runs on the host's pool threads (and the worker
 * threads of blocking nodes); with rm_host_opts.inline_budget_us set, a push
 * into an idle one-segment stream runs it on the caller's thread instead
 * (unless the stream's pushes proved slower than that).  Callbacks run on
 * those threads (on_output then also on
 * the pushing thread, inside rm_stream_push); they must be thread-safe and
 * must not call back into the same stream except
 * rm_stream_writable()/rm_stream_id().
 *
 * Only the public API (remotemedia.h) is used, so other hosts can copy the
 * pattern.  Not available in single-thread builds (RM_ENOTSUP).
 */
#ifndef REMOTEMEDIA_TRANSPORT_H
#define REMOTEMEDIA_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "frame.h"
#include "graph.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_host rm_host;

typedef struct rm_host_opts {
    unsigned pool_threads;    /* threads running stream sessions; 0 = one per CPU   */
    unsigned control_threads; /* threads for blocking work (mostly waiting); 0 = 4    */
    size_t max_sessions;      /* streams open + unary runs running; 0 = unlimited  */
    size_t max_frame_bytes;   /* payload bytes of one pushed frame; 0 = unlimited   */
    uint64_t idle_timeout_ms; /* a stream with no push for this long is closed; 0 = never */
    size_t queue_capacity;    /* frames queued per stream before it is not writable; 0 = 64 */
    /* 0 = every push is queued for the pool.  Else a push into an idle stream
     * whose graph is one segment (no blocking node, no queued connection)
     * runs on the pushing thread (RM_SESSION_PUSH_INLINE: no thread hop), and a
     * stream whose pushes took longer than this many µs three times in a row
     * goes back to the pool for good, so a slow stream delays the transport's
     * thread a few times only. */
    uint64_t inline_budget_us;
} rm_host_opts;

void rm_host_opts_init(rm_host_opts *opts);

/* Creates a host on `rt` (borrowed: it must outlive the host, and node types
 * must all be registered already).  `opts` may be NULL for defaults. */
int rm_host_new(rm_runtime *rt, const rm_host_opts *opts, rm_host **out, rm_error *err);
/* Frees the host.  Every stream must have been freed (rm_stream_free) and
 * every asynchronous run must have completed; pending teardown work is waited
 * for.  NULL is ignored. */
void rm_host_free(rm_host *h);
rm_runtime *rm_host_runtime(const rm_host *h);
/* Open streams right now (for gauges; unary runs are not included). Thread-safe. */
size_t rm_host_active_streams(const rm_host *h);
/* Streams whose session still exists: open ones, and ended or freed ones
 * whose teardown has not finished (it waits for a node call in progress).
 * 0 on an idle host means nothing is stuck.  Thread-safe. */
size_t rm_host_live_streams(const rm_host *h);

/* Runs fn(arg) once on a control thread, for a transport's own blocking
 * work (compiling a request's manifest, writing a large reply).  Returns 0,
 * or RM_ENOMEM (fn is then not called). */
int rm_host_submit(rm_host *h, void (*fn)(void *arg), void *arg);

/* Parses and compiles manifest text (JSON or YAML, detected from the content)
 * with the checks and messages of `rmedia validate`.  On failure `err` holds
 * the first problem (code, node id, "name:line:col: ..." text) and `all_diags`
 * (may be NULL; caller frees) every problem, one per line.  `name` is used as
 * the file name in messages (NULL = "manifest"). */
int rm_host_compile(rm_host *h, const char *text, size_t len, const char *name, rm_graph **out,
                    rm_error *err, char **all_diags);

/* ------------------------------------------------------------- unary --- */

/* One input of a unary run: `frame` (borrowed) is pushed into `node_id`'s
 * input `port` (NULL = its first input). */
typedef struct rm_host_input {
    const char *node_id;
    const char *port;
    const rm_frame *frame;
} rm_host_input;

typedef struct rm_host_result rm_host_result;

/* Runs `g` once on the calling thread (blocking): opens a session, pushes
 * every input in order, ends it.  An input naming a node that is not in the
 * graph, or a port the node does not have, fails with RM_ENOTFOUND and the
 * node id in err->node_id, before anything runs; a frame above
 * max_frame_bytes fails with RM_ELIMIT (err->node_id set).  The run counts
 * against max_sessions like a stream: with max_sessions sessions running it
 * fails with RM_ELIMIT and an empty err->node_id, *out NULL.  On success
 * *out holds the outputs (caller frees); on a node failure *out is still set
 * (partial outputs, metrics) and the error code is returned. */
int rm_host_run_graph(rm_host *h, rm_graph *g, const rm_host_input *inputs, size_t n_inputs,
                      rm_host_result **out, rm_error *err);

/* A way to stop a unary run from another thread (its client went away).
 * Create it before the run, pass it to rm_host_run_graph_cancellable, fire
 * it from any thread at any time (before, during or after the run), free it
 * after the run has returned. */
typedef struct rm_host_cancel rm_host_cancel;
rm_host_cancel *rm_host_cancel_new(void); /* NULL when out of memory */
/* Cancels the run's session (rm_session_cancel): a node call in progress
 * stops at its next rm_node_cancelled() check, the run returns
 * RM_ECANCELED.  A run that has not started yet starts cancelled. */
void rm_host_cancel_fire(rm_host_cancel *c);
void rm_host_cancel_free(rm_host_cancel *c);
/* rm_host_run_graph that `cancel` (may be NULL) can stop. */
int rm_host_run_graph_cancellable(rm_host *h, rm_graph *g, const rm_host_input *inputs, size_t n_inputs,
                                  rm_host_cancel *cancel, rm_host_result **out, rm_error *err);

/* Completion of rm_host_run_async: `result` is owned by the callee (free it
 * with rm_host_result_free), NULL if nothing ran; `err` is borrowed. */
typedef void (*rm_host_run_done_fn)(void *user, int rc, rm_host_result *result, const rm_error *err);

/* Like rm_host_run_graph, on a control thread; returns at once.  `g` and the
 * input frames are referenced and the array and its strings copied, so the
 * caller may release them after this returns (a wrapped frame's release
 * callback may then run on the control thread).  `done` runs exactly
 * once, on a control thread (or on the calling thread if queuing fails). */
int rm_host_run_async(rm_host *h, rm_graph *g, const rm_host_input *inputs, size_t n_inputs,
                      rm_host_run_done_fn done, void *user);

/* The graph the result came from (borrowed). */
rm_graph *rm_host_result_graph(const rm_host_result *r);
/* Sink nodes that produced outputs, in graph order, and their frames in the
 * order produced (borrowed, valid until the result is freed). */
size_t rm_host_result_sink_count(const rm_host_result *r);
const char *rm_host_result_sink(const rm_host_result *r, size_t i);
size_t rm_host_result_frames(const rm_host_result *r, size_t sink, const rm_frame *const **frames);
/* Session metrics JSON (see rm_session_metrics_json), borrowed. */
const char *rm_host_result_metrics_json(const rm_host_result *r);
/* Wall time of the run in ms (> 0). */
double rm_host_result_wall_ms(const rm_host_result *r);
void rm_host_result_free(rm_host_result *r);

/* ------------------------------------------------------------ streams --- */

typedef struct rm_stream rm_stream;

/* Why a stream ended (rm_stream_callbacks.on_closed). */
typedef enum rm_stream_end {
    RM_STREAM_CLOSED = 1,   /* rm_stream_close: flushed, every output delivered */
    RM_STREAM_CANCELED = 2, /* rm_stream_cancel: queued and in-flight work dropped */
    RM_STREAM_IDLE = 3,     /* no push for idle_timeout_ms                        */
    RM_STREAM_FAILED = 4,   /* a node failed; err says which                      */
    RM_STREAM_SHUTDOWN = 5  /* rm_host_shutdown_streams                           */
} rm_stream_end;

const char *rm_stream_end_name(rm_stream_end why); /* "closed", "canceled", … */

/* The callbacks of one stream never run at the same time (the stream's lock
 * serialises them), and must not call rm_stream_close/cancel/free of that
 * stream. */
typedef struct rm_stream_callbacks {
    /* An output of sink `node_id` on `port`.  `frame` is borrowed (ref it to
     * keep it).  `input_seq` is the sequence given to rm_stream_push for the
     * input whose processing produced it (outputs of blocking nodes, which
     * run on their own thread: the input being processed at that moment).
     * Runs on a pool or worker thread (or inside rm_stream_push, see
     * rm_host_opts.inline_budget_us); never after on_closed. */
    void (*on_output)(void *user, const char *node_id, const char *port, const rm_frame *frame,
                      uint64_t input_seq);
    /* The stream became writable again after rm_stream_writable() returned 0.
     * Runs on a pool or host thread. */
    void (*on_writable)(void *user);
    /* The stream ended: called exactly once, with the reason, the error if
     * it failed (borrowed, else NULL) and the final metrics JSON (borrowed).
     * After it returns no callback of this stream runs again.  Runs on a
     * control thread, or on the thread calling rm_stream_cancel /
     * rm_host_shutdown_streams. */
    void (*on_closed)(void *user, rm_stream_end why, const rm_error *err, const char *metrics_json);
    void *user;
} rm_stream_callbacks;

/* Opens a stream on `g` (referenced): opens the session and initialises every
 * node (models are loaded here) on the calling thread.  Fails with
 * RM_ELIMIT when max_sessions streams are open.  `id` may be NULL for a
 * generated one. */
int rm_stream_open(rm_host *h, rm_graph *g, const char *id, const rm_stream_callbacks *cb,
                   rm_stream **out, rm_error *err);

typedef void (*rm_stream_open_fn)(void *user, int rc, rm_stream *stream, const rm_error *err);
/* rm_stream_open on a control thread; `done` runs once there with the new
 * stream (owned by the caller) or the error. */
int rm_stream_open_async(rm_host *h, rm_graph *g, const char *id, const rm_stream_callbacks *cb,
                         rm_stream_open_fn done, void *done_user);

/* Pushes `frame` (takes the reference, also on failure) into `node_id`'s
 * input `port` (NULL = first).  `seq` is reported back with the outputs it
 * causes.  Errors (the stream goes on after each): RM_ENOTFOUND (unknown
 * node or port: err names it and lists what exists), RM_EFRAMEKIND (the port
 * does not take this kind of frame), RM_ELIMIT (frame above
 * max_frame_bytes), RM_EAGAIN (the input queue is full: the caller ignored
 * rm_stream_writable), RM_ESTATE (after close or cancel); or the session's
 * error once a node has failed it.  Never waits for a queue while
 * rm_stream_writable() is true (an inline push does the frame's work, see
 * rm_host_opts.inline_budget_us).  Calls to push, close and cancel of one stream
 * must not run concurrently. */
int rm_stream_push(rm_stream *st, const char *node_id, const char *port, rm_frame *frame, uint64_t seq,
                   rm_error *err);
/* 1 while a push will not wait (the stream's input queue has room for at
 * least half its capacity); once it returns 0, on_writable is called when
 * that changes.  Thread-safe. */
int rm_stream_writable(rm_stream *st);

/* End of input: flushes every node on a control thread, delivers the
 * remaining outputs, then on_closed(RM_STREAM_CLOSED or FAILED).  Returns at
 * once. */
int rm_stream_close(rm_stream *st);
/* Barge-in: no on_output starts after this returns; queued input is dropped;
 * on_closed(RM_STREAM_CANCELED) runs on this thread before it returns (unless
 * the stream had already ended).  The session is cancelled
 * (rm_session_cancel): a node call in progress stops at the node's next
 * rm_node_cancelled() check (speech-to-text: within one 20 ms block), else
 * at the end of the call, and its results are discarded. */
void rm_stream_cancel(rm_stream *st);
/* Barge-in, narrower than rm_stream_cancel: interrupts node `node_id`'s
 * call in progress (rm_session_interrupt) and nothing else; the stream goes
 * on.  0, RM_ENOTFOUND (no such node) or RM_ESTATE (the stream has ended).
 * Thread-safe while the caller holds its stream (before rm_stream_free). */
int rm_stream_interrupt(rm_stream *st, const char *node_id);
/* Releases the caller's stream (client gone, or after on_closed).  No
 * callback runs after it returns (on_closed is not called for a stream that
 * had not ended); queued input is dropped and an open stream's session is
 * cancelled as by rm_stream_cancel (a close in progress runs to its end).  Teardown (joining worker threads,
 * which may be busy in a node call) happens on a control thread; nothing
 * leaks.  Waits for an on_output in progress: do not call it while holding a
 * lock that the callbacks take.  The same holds for rm_stream_cancel, which
 * calls on_closed on the calling thread. */
void rm_stream_free(rm_stream *st);

const char *rm_stream_id(const rm_stream *st);
rm_graph *rm_stream_graph(const rm_stream *st); /* borrowed */
/* Current metrics JSON (caller frees).  Thread-safe; approximate while running. */
char *rm_stream_metrics_json(const rm_stream *st);
/* Frames pushed so far. */
uint64_t rm_stream_pushed(const rm_stream *st);

/* Ends every open stream with RM_STREAM_SHUTDOWN (as cancel, from the calling
 * thread), for a server that is shutting down. */
void rm_host_shutdown_streams(rm_host *h);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_TRANSPORT_H */
