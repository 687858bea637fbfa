/*
 * rmw.h — the C API that JavaScript drives in build/wasm/remotemedia.wasm (a
 * WASI reactor: no _start; call the exported `_initialize` once, then these).
 *
 * Handles are wasm addresses (i32).  0 / a negative RM_E* code means failure;
 * then rmw_error() describes it.
 *
 * Memory ownership across the boundary:
 *  - Strings passed IN (manifest text, names, JSON) are borrowed for the call:
 *    JS allocates them with rmw_alloc, writes UTF-8 and frees them with
 *    rmw_free after the call returns.  Lengths are explicit; no NUL needed.
 *  - Audio passed IN (rmw_session_push_audio) is NOT copied: the buffer must
 *    come from rmw_alloc and its ownership passes to the module with the
 *    call (it becomes the frame's storage and is freed when the last frame
 *    that uses it dies, also on failure).  JS must not touch or free it again.
 *  - Strings returned by rmw_*_json, rmw_output_text and rmw_graph_summary are
 *    the caller's: free them with rmw_free.
 *  - rmw_error() returns a module-owned NUL-terminated string, valid until the
 *    next rmw_* call.
 *  - An output taken with rmw_output_take is the caller's until rmw_output_free;
 *    rmw_output_audio_data points into it (a view on the wasm heap that is
 *    valid until rmw_output_free and only while memory does not grow: JS
 *    copies it out before the next call).  rmw_output_node/_port return
 *    the graph's strings: valid while the graph lives.
 *  - The table rmw_session_drain returns, and the outputs it describes, are
 *    the session's until its next rmw_session_drain or rmw_session_close.
 *  - Free order: outputs and sessions before their graph, graphs before the
 *    runtime.
 * Single-threaded: everything runs on the caller's thread inside the call.
 */
#ifndef REMOTEMEDIA_RMW_H
#define REMOTEMEDIA_RMW_H

#include <stddef.h>
#include <stdint.h>

#include "remotemedia/remotemedia.h"

typedef struct rmw_session rmw_session;
typedef struct rmw_output rmw_output;

const char *rmw_error(void);
const char *rmw_version(void);
void *rmw_alloc(size_t n);
void rmw_free(void *p);
rm_runtime *rmw_runtime_new(void);
void rmw_runtime_free(rm_runtime *rt);
char *rmw_nodes_json(rm_runtime *rt);
char *rmw_inspect_json(rm_runtime *rt, const char *name, size_t len);
char *rmw_schema_json(rm_runtime *rt);
rm_graph *rmw_graph_from_text(rm_runtime *rt, const char *text, size_t len, const char *name, size_t name_len);
void rmw_graph_free(rm_graph *g);
char *rmw_graph_summary(rm_graph *g);
void rmw_output_free(rmw_output *o);
rmw_session *rmw_session_open(rm_graph *g);
int rmw_session_push_audio(rmw_session *ws, const char *node, size_t node_len, int format, uint32_t rate, uint32_t channels, void *data, size_t frames, double timestamp_us);
int rmw_session_push_json(rmw_session *ws, const char *node, size_t node_len, const char *text, size_t len);
int rmw_session_push_text(rmw_session *ws, const char *node, size_t node_len, const char *text, size_t len);
int rmw_session_flush(rmw_session *ws);
int rmw_session_cancel(rmw_session *ws);
char *rmw_metrics_json(rmw_session *ws);
void rmw_session_close(rmw_session *ws);
/*
 * The per-push path: rmw_session_drain takes every waiting output and
 * describes them in one table, so a push costs two calls across the
 * boundary whatever the graph emits.  The table and what it points to (the
 * audio samples, the text, the strings) are the session's and stay valid
 * until the next rmw_session_drain or rmw_session_close on it (and, for JS
 * views, while memory does not grow: read it before the next call).  `node`
 * and `port` are NUL-terminated; `data` is the audio (`size` frames ×
 * `channels` samples of `format`), a text frame's UTF-8 or a JSON frame as
 * compact JSON text (`size` bytes, not NUL-terminated); NULL for other kinds.
 * The wasm32 layout (what web/src/index.ts reads): count at 0, descriptors
 * of 40 bytes from 8, fields at 0 kind, 4 node, 8 port, 12 data, 16 size,
 * 20 channels, 24 rate, 28 format, 32 timestamp_us (f64, -1 = none).
 */
typedef struct rmw_out_desc {
    int32_t kind; /* rm_frame_kind */
    const char *node, *port;
    const void *data;
    uint32_t size, channels, rate;
    int32_t format;
    double timestamp_us;
} rmw_out_desc;
typedef struct rmw_out_table {
    uint32_t count;
    rmw_out_desc item[];
} rmw_out_table;
const rmw_out_table *rmw_session_drain(rmw_session *ws);
#if defined(__wasm32__)
_Static_assert(sizeof(rmw_out_desc) == 40 && offsetof(rmw_out_table, item) == 8 &&
                   offsetof(rmw_out_desc, timestamp_us) == 32 && offsetof(rmw_out_desc, format) == 28,
               "web/src/index.ts reads this layout");
#endif

/* Outputs one at a time, by sink and port (tests, hosts that want some). */
size_t rmw_output_count(rmw_session *ws, const char *sink, size_t sl, const char *port, size_t pl);
rmw_output *rmw_output_take(rmw_session *ws, const char *sink, size_t sl, const char *port, size_t pl);
const char *rmw_output_node(const rmw_output *o);
const char *rmw_output_port(const rmw_output *o);
int rmw_output_kind(const rmw_output *o);
double rmw_output_timestamp_us(const rmw_output *o);
char *rmw_output_text(const rmw_output *o);
void *rmw_output_audio_data(const rmw_output *o);
size_t rmw_output_audio_frames(const rmw_output *o);
uint32_t rmw_output_audio_channels(const rmw_output *o);
uint32_t rmw_output_audio_rate(const rmw_output *o);
int rmw_output_audio_format(const rmw_output *o);

/*
 * External nodes: node types whose work is done by the host (JavaScript; in
 * the browser, Python classes in Pyodide).  They sit in the same registry as
 * the built-in types, so a manifest mixing both is validated (an unknown
 * type is a located error) and scheduled by the one executor.
 *
 * rmw_register_external(rt, name, doc, host_type) adds node type `name`
 * (one input "in" and one output "out", any kind; every manifest parameter
 * is collected into one JSON object).  The executor then calls the host
 * through the single import rmw.host_call (RMW_HOST_* ops):
 *
 *   int host_call(int host_type, int instance, int op, rm_node *node,
 *                 const rmw_output *frame, const char *text, size_t len)
 *
 *   INIT     instance 0, text/len = the parameters as JSON (borrowed);
 *            returns the host's instance id (> 0) or a negative RM_E* code
 *   PROCESS  frame = the input (borrowed view for the call: read it with the
 *            rmw_output_* accessors, never free it); returns 0 or RM_E*
 *   FLUSH    end of stream;  RESET  barge-in;  FINI  instance gone (the
 *            return value is ignored)
 *
 * During INIT..FLUSH the host emits with rmw_node_emit_* (downstream nodes
 * run inside that call) and reports a failure with rmw_node_fail (the
 * message becomes the session's located node error).  Audio crosses as a
 * view: the host reads rmw_output_audio_data in place and emits with a
 * buffer from rmw_alloc whose ownership passes to the frame, as in
 * rmw_session_push_audio.  Descriptors live until rmw_runtime_free.
 */
enum { RMW_HOST_INIT = 0, RMW_HOST_PROCESS = 1, RMW_HOST_FLUSH = 2, RMW_HOST_RESET = 3, RMW_HOST_FINI = 4 };
typedef int (*rmw_host_fn)(int host_type, int instance, int op, rm_node *node, const rmw_output *frame,
                           const char *text, size_t len);
#if !defined(__wasm__)
/* Native builds (tests) have no import: the host function is set here. */
void rmw_set_host(rmw_host_fn fn);
#endif
int rmw_register_external(rm_runtime *rt, const char *name, size_t name_len, const char *doc, size_t doc_len,
                          int host_type);
const char *rmw_node_id(const rm_node *node);
int rmw_node_emit_json(rm_node *node, const char *text, size_t len, double timestamp_us);
int rmw_node_emit_text(rm_node *node, const char *text, size_t len, double timestamp_us);
int rmw_node_emit_audio(rm_node *node, int format, uint32_t rate, uint32_t channels, void *data, size_t frames,
                        double timestamp_us);
int rmw_node_fail(rm_node *node, int code, const char *msg, size_t len);

#endif
