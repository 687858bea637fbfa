/*
 * The CPython extension remotemedia._native: a thin layer over the public
 * rm_* API.  Shared declarations of its four files:
 *   module.c   module init, runtime, graph, unary run, errors, logging
 *   convert.c  Python values <-> frames (zero-copy numpy both ways)
 *   session.c  streaming sessions on the shared thread pool
 *   pynode.c   Python classes registered as native node types
 *
 * GIL rules: every call into the runtime that can run nodes or wait
 * (push, end, reset, close, run) releases the GIL, because nodes written in
 * Python take it back (PyGILState_Ensure) on whatever thread runs them.
 */
#ifndef RMPY_H
#define RMPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <remotemedia/remotemedia.h>

/* Objects handed over by remotemedia/_native_glue.py at import (_init). */
typedef struct rmpy_globals {
    PyObject *audio_type;     /* remotemedia.Audio                        */
    PyObject *json_dumps;     /* callable: obj -> str (strict JSON)       */
    PyObject *json_loads;     /* callable: str -> obj                     */
    PyObject *manifest_error; /* remotemedia.ManifestError                */
    PyObject *node_error;     /* remotemedia.NodeError                    */
    PyObject *base_error;     /* remotemedia.RemoteMediaError             */
    PyObject *log_fn;         /* callable(level, node_id, message)       */
    rm_pool *pool;            /* shared by streaming sessions (lazy)      */
} rmpy_globals;

extern rmpy_globals rmpy;

/* True while the interpreter shuts down: callbacks from runtime threads then
 * must not touch Python objects (they leak instead). */
int rmpy_finalizing(void);

/* ---- convert.c ---------------------------------------------------------- */

extern PyTypeObject rmpy_FrameRefType;

/* A new frame (one reference) for a Python value: Audio / (array, rate) ->
 * audio (zero copy for C-contiguous float32/int16/int32), a bare ndarray ->
 * tensor (zero copy), str -> text, bytes/bytearray/memoryview -> binary,
 * other values -> json.  `like` (may be NULL) makes a bare ndarray audio at
 * like's rate (what a Python node returns for an audio input).  NULL with a
 * Python exception set on failure. */
rm_frame *rmpy_to_frame(PyObject *v, const rm_frame *like);
/* Applies an Audio's timestamp_us (when not None) and metadata to `f`
 * (writable).  0, or -1 with an exception set. */
int rmpy_audio_props(PyObject *audio, rm_frame *f);
/* A Python value for a frame (borrowed): audio -> Audio whose samples view
 * the frame's memory (the array keeps a frame reference alive).  NULL with
 * an exception set on failure. */
PyObject *rmpy_from_frame(const rm_frame *f);

/* ---- module.c ----------------------------------------------------------- */

/* Raises the exception that fits `err` (NodeError for node failures, the
 * base error otherwise).  Always returns NULL. */
PyObject *rmpy_raise_error(const rm_error *err, const char *session_id);
/* Builds a Python exception for a session failure without raising it. */
PyObject *rmpy_make_error(const rm_error *err, const char *session_id);

typedef struct rmpy_Runtime {
    PyObject_HEAD
    rm_runtime *rt;
    PyObject *node_types; /* list of NodeType objects registered here */
} rmpy_Runtime;

typedef struct rmpy_Graph {
    PyObject_HEAD
    rm_graph *g;
    PyObject *runtime; /* keeps the runtime (and Python node types) alive */
} rmpy_Graph;

extern PyTypeObject rmpy_RuntimeType;
extern PyTypeObject rmpy_GraphType;

/* ---- session.c ---------------------------------------------------------- */

extern PyTypeObject rmpy_SessionType;
/* Converts a session's collected outputs to [(node_id, port, value)]. */
PyObject *rmpy_outputs_list(const rm_outputs *o);

/* ---- pynode.c ----------------------------------------------------------- */

extern PyTypeObject rmpy_NodeTypeType;
/* The descriptor of a NodeType object (borrowed, lives as long as it). */
const rm_node_type *rmpy_node_type_desc(PyObject *nodetype);

#endif
