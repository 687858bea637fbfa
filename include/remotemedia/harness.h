/*
 * remotemedia/harness.h — drive one node in isolation (tests, plugin
 * development), in the spirit of GstHarness.
 *
 *   rm_harness *h;
 *   rm_harness_new(rt, "MultiplyNode", "{\"factor\": 3}", &h, &err);
 *   rm_harness_push(h, frame);           // runs process() now
 *   rm_harness_end(h);                   // runs flush()
 *   rm_harness_output_count(h);          // what the node emitted, any port
 *   rm_harness_free(h);
 *
 * The node runs in a real one-node session, so params are validated by the
 * same code as manifests and errors carry the same messages.
 */
#ifndef REMOTEMEDIA_HARNESS_H
#define REMOTEMEDIA_HARNESS_H

#include <stddef.h>

#include "error.h"
#include "frame.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_harness rm_harness;

/* Creates a harness for `node_type` with params given as JSON object text
 * (NULL = none).  On invalid params returns the code and `err` carries the
 * validation message. */
int rm_harness_new(rm_runtime *rt, const char *node_type, const char *params_json,
                   rm_harness **out, rm_error *err);
/* Pushes a frame (borrowed) into input port `port` (NULL = first input). */
int rm_harness_push_to(rm_harness *h, const char *port, const rm_frame *frame);
int rm_harness_push(rm_harness *h, const rm_frame *frame);
/* End of stream (flush). */
int rm_harness_end(rm_harness *h);
/* The node's error after a failed push or end (borrowed). */
const rm_error *rm_harness_error(const rm_harness *h);
/* Everything the node emitted, in order (frames borrowed, valid until free). */
size_t rm_harness_output_count(const rm_harness *h);
const rm_frame *rm_harness_output(const rm_harness *h, size_t i);
const char *rm_harness_output_port(const rm_harness *h, size_t i);
/* Drops the collected outputs (to check what the next push emits). */
void rm_harness_clear(rm_harness *h);
/* Metrics JSON of the underlying session (caller frees). */
char *rm_harness_metrics_json(const rm_harness *h);
void rm_harness_free(rm_harness *h);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_HARNESS_H */
