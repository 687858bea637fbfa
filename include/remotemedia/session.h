/*
 * remotemedia/session.h — running a graph.
 *
 * A session is one running instance of a graph: its own node state, queues
 * and metrics.  Inside a session a frame is pushed through the nodes by plain
 * function calls on the calling thread; each node emits 0..N frames to its
 * downstream nodes, fan-out shares the frame, fan-in delivers from every
 * upstream.  Threads appear only at boundaries: a node type flagged
 * RM_NODE_BLOCKING, or a connection that declares a queue, starts a segment
 * that runs on its own worker thread behind a bounded queue with the
 * connection's policy (block, drop_oldest, drop_newest).
 *
 * Outputs: whatever a sink node (no outgoing connection) emits is an output.
 * With `on_output` set, outputs are delivered to it as they are produced, on
 * the thread that produced them; otherwise they are collected and read with
 * rm_session_outputs().
 *
 * Thread safety: the push/end/reset calls of one session must not run
 * concurrently with each other.  Different sessions are independent.  With a
 * pool (rm_session_opts.pool), pushes are queued and run on the pool's
 * threads, in order per session (or on the pushing thread, see
 * RM_SESSION_PUSH_INLINE); rm_session_end() waits for them.
 */
#ifndef REMOTEMEDIA_SESSION_H
#define REMOTEMEDIA_SESSION_H

#include <stddef.h>

#include "error.h"
#include "frame.h"
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_session rm_session;
typedef struct rm_pool rm_pool;

/* An output callback: `frame` is borrowed (ref it to keep it); `node_id` and
 * `port` are valid while the session lives. */
typedef void (*rm_output_fn)(void *user, const char *node_id, const char *port,
                             const rm_frame *frame);

#define RM_SESSION_NO_METRICS 0x1u /* skip per-call timing (benchmarks only) */
/* With a pool: a push into an idle session runs it on the pushing thread
 * instead of waking a pool thread (one thread hop less per frame), when the
 * graph is one segment (no blocking node, no queued connection), so such a
 * push never waits on a queue.  A busy session still queues for the pool. */
#define RM_SESSION_PUSH_INLINE 0x2u

typedef struct rm_session_opts {
    const char *session_id;   /* NULL = "session-<n>"                        */
    rm_output_fn on_output;   /* NULL = collect outputs                      */
    void *output_user;
    rm_pool *pool;            /* NULL = run pushes on the calling thread     */
    size_t queue_capacity;    /* default capacity of boundary queues (64)   */
    unsigned flags;           /* RM_SESSION_*                                */
} rm_session_opts;

/* Opens a session: allocates and initialises every node (init callbacks run
 * here, on the calling thread).  Takes a reference to `g`.  `opts` may be
 * NULL.  On failure nothing is left allocated and `err` names the node. */
int rm_session_open(rm_graph *g, const rm_session_opts *opts, rm_session **out, rm_error *err);

/* Pushes one frame (borrowed) into every source node.  Returns 0, or the
 * session's error once it has failed (RM_ESTATE after rm_session_end). */
int rm_session_push(rm_session *s, const rm_frame *frame);
/* Pushes into one node's input port (`port` NULL = first input). */
int rm_session_push_to(rm_session *s, const char *node_id, const char *port, const rm_frame *frame);

/* End of stream: flushes every node in topological order (each node flushes
 * after all its upstreams), waits for every worker to drain, and returns the
 * session's final status (0 or the error that failed it).  Further pushes
 * fail with RM_ESTATE. */
int rm_session_end(rm_session *s);

/* Barge-in: drops every queued frame and resets every node (reset callback),
 * so nothing already queued is emitted later.  The session stays usable. */
int rm_session_reset(rm_session *s);

/* Changes a parameter flagged RM_PARAM_RUNTIME while the session runs.
 * `json_value` is the new value as JSON text ("0.7", "\"high\"").  The change
 * takes effect before the node's next call, on the node's own thread. */
int rm_session_set_param(rm_session *s, const char *node_id, const char *param,
                         const char *json_value, rm_error *err);

/* The error that failed the session (code 0 if none).  Borrowed. */
const rm_error *rm_session_error(const rm_session *s);
const char *rm_session_id(const rm_session *s);
rm_graph *rm_session_graph(const rm_session *s); /* borrowed */

/* Metrics as JSON (caller frees): session id, total_duration_us, frames in
 * and out, node_metrics keyed by node id (calls, frames_in, frames_out,
 * errors, total/min/max/mean/p50/p99 in µs, node stats) and links (frames,
 * queue policy, capacity, depth high-water mark, drops).  Safe to call from
 * another thread while the session runs (values are then approximate). */
char *rm_session_metrics_json(const rm_session *s);

/* Frames pushed by the host into `node_id` (NULL = the source nodes) that
 * are queued and not yet taken by the thread that runs that node: with a pool,
 * or when the node sits behind a boundary queue.  0 when pushes to it run on
 * the calling thread.  `capacity` (may be NULL) receives the queue's capacity:
 * with the block policy a push waits while `queued == capacity`, so a host
 * that must never wait (a network event loop) pushes only while there is
 * room.  Thread-safe; the value is a snapshot. */
size_t rm_session_queued(const rm_session *s, const char *node_id, size_t *capacity);

/* Stops the session's work from any thread (a client cancelled or went
 * away): queued frames are dropped, no node is called again, and
 * rm_node_cancelled() turns 1 so a node in a long call (a decode of many
 * blocks) stops at its next check.  Later pushes and rm_session_end() return
 * RM_ECANCELED (or the error that failed the session before).  Free it with
 * rm_session_close() as usual. */
void rm_session_cancel(rm_session *s);

/* Interrupts the call that node `node_id` is making now, from any thread,
 * without ending the session (barge-in: the caller talks over the reply, so
 * the text-to-speech node's current synthesis is no longer wanted).  During
 * that call rm_node_cancelled() returns 1 for that node only; a node that
 * polls it stops at its next check and returns RM_ECANCELED, which ends the
 * call as if it had succeeded (what it emitted before stands; the node's
 * `interrupted` stat counts it) instead of failing the node.  A node that
 * never polls finishes the call as usual.  Only the call in progress is
 * affected: an idle node, later calls and queued frames are not.  Returns 0,
 * or RM_ENOTFOUND if the graph has no such node. */
int rm_session_interrupt(rm_session *s, const char *node_id);

/* Turns RM_SESSION_PUSH_INLINE off (0) or back on for later pushes (a
 * host whose pushing thread must stay responsive turns it off for a session
 * that turned out to be slow).  Thread-safe. */
void rm_session_set_push_inline(rm_session *s, int on);

/* Frees the session.  If it was not ended, queued frames are dropped and
 * nodes are not flushed.  NULL is ignored. */
void rm_session_close(rm_session *s);

/* ------------------------------------------------------------- outputs --- */

typedef struct rm_output {
    const char *node_id; /* sink node */
    const char *port;    /* its output port */
    rm_frame *frame;     /* owned by the output list */
} rm_output;

typedef struct rm_outputs rm_outputs;

/* Collected outputs of a session without an output callback (borrowed,
 * valid until the session is closed), in the order they were produced. */
const rm_outputs *rm_session_outputs(const rm_session *s);
size_t rm_outputs_count(const rm_outputs *o);
const rm_output *rm_outputs_at(const rm_outputs *o, size_t i);
/* Outputs of one sink node, in order: fills up to `cap` frames (borrowed)
 * and returns how many there are. */
size_t rm_outputs_of(const rm_outputs *o, const char *node_id, const rm_frame **frames, size_t cap);
void rm_outputs_free(rm_outputs *o);

/* Unary run: opens a session, pushes `inputs` (borrowed) in order, ends it,
 * and returns the collected outputs (caller frees with rm_outputs_free) and,
 * if `metrics_json` is not NULL, the metrics (caller frees). */
int rm_graph_run(rm_graph *g, const rm_frame *const *inputs, size_t n_inputs, rm_outputs **out,
                 char **metrics_json, rm_error *err);

/* ---------------------------------------------------------------- pool --- */

/* A thread pool that runs many sessions at once.  threads = 0 means one per
 * CPU.  RM_ENOTSUP in single-thread builds.  Free it after the sessions that
 * use it are closed. */
int rm_pool_new(unsigned threads, rm_pool **out, rm_error *err);
void rm_pool_free(rm_pool *p);
unsigned rm_pool_threads(const rm_pool *p);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_SESSION_H */
