/*
 * remotemedia._native: module init, runtime, graph (compile + unary run)
 * and the mapping of runtime errors to Python exceptions.
 */
#include "rmpy.h"

#include <remotemedia/python_nodes.h>
#ifdef RMPY_WITH_REMOTE
#include <remotemedia/remote_nodes.h>
#endif

#include <string.h>

int rmpy_numpy_init(void);

rmpy_globals rmpy;

int rmpy_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

/* -------------------------------------------------------------- errors --- */

PyObject *rmpy_make_error(const rm_error *err, const char *session_id)
{
    int node = err->node_id[0] != '\0';
    PyObject *cls = node ? rmpy.node_error : rmpy.base_error;
    PyObject *args = Py_BuildValue("(s)", err->message[0] ? err->message : rm_strerror(err->code));
    PyObject *kw = Py_BuildValue("{s:s,s:i,s:s,s:s}", "code", rm_err_name(err->code), "errno", err->code,
                                 "error_class", rm_errclass_name(err->cls), "session_id",
                                 session_id ? session_id : "");
    PyObject *exc = NULL;
    if (args && kw && node) {
        PyObject *id = PyUnicode_FromString(err->node_id);
        if (id && PyDict_SetItemString(kw, "node_id", id) == 0) exc = PyObject_Call(cls, args, kw);
        Py_XDECREF(id);
    } else if (args && kw) {
        exc = PyObject_Call(cls, args, kw);
    }
    Py_XDECREF(args);
    Py_XDECREF(kw);
    return exc;
}

PyObject *rmpy_raise_error(const rm_error *err, const char *session_id)
{
    PyObject *exc = rmpy_make_error(err, session_id);
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static PyObject *raise_manifest_error(rm_diags *d, int rc)
{
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i < rm_diags_count(d); i++) {
        const rm_diag *x = rm_diags_at(d, i);
        char text[1200];
        rm_diag_format(x, text, sizeof text);
        PyObject *item = Py_BuildValue("{s:s,s:s,s:z,s:i,s:i,s:s,s:z,s:s,s:s}", "code", rm_err_name(x->code),
                                       "error_class", rm_errclass_name(rm_err_class(x->code)), "file", x->file,
                                       "line", x->line, "column", x->column, "path", x->path ? x->path : "",
                                       "node_id", x->node_id, "message", x->message, "text", text);
        if (!item || PyList_Append(list, item) != 0) Py_CLEAR(list);
        Py_XDECREF(item);
    }
    if (!list) return NULL;
    char *all = rm_diags_to_string(d);
    PyObject *exc = PyObject_CallFunction(rmpy.manifest_error, "sOs", all && *all ? all : rm_strerror(rc), list,
                                          rm_err_name(rc));
    free(all);
    Py_DECREF(list);
    if (exc) {
        PyErr_SetObject(rmpy.manifest_error, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* ------------------------------------------------------------- logging --- */

static void log_cb(void *user, rm_log_level level, const char *node_id, const char *message)
{
    (void)user;
    if (rmpy_finalizing() || !rmpy.log_fn) {
        fprintf(stderr, "remotemedia: %s: %s%s%s%s\n", rm_log_level_name(level), node_id ? "[" : "",
                node_id ? node_id : "", node_id ? "] " : "", message);
        return;
    }
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(rmpy.log_fn, "izs", (int)level, node_id, message);
    if (!r) PyErr_WriteUnraisable(rmpy.log_fn);
    Py_XDECREF(r);
    PyGILState_Release(g);
}

/* ------------------------------------------------------------- Runtime --- */

static int runtime_init(rmpy_Runtime *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"node_types", "log_level", NULL};
    PyObject *types = NULL;
    int level = RM_LOG_WARN;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|Oi", kwlist, &types, &level)) return -1;
    if (self->rt) {
        PyErr_SetString(PyExc_RuntimeError, "Runtime already initialised");
        return -1;
    }
    PyObject *list = types && types != Py_None ? PySequence_List(types) : PyList_New(0);
    if (!list) return -1;
    rm_runtime_opts opts;
    rm_runtime_opts_init(&opts);
    opts.log_fn = log_cb;
    opts.log_level = (rm_log_level)level;
    rm_error err;
    rm_error_clear(&err);
    if (rm_runtime_new_with_builtins(&opts, &self->rt, &err) != 0) {
        Py_DECREF(list);
        rmpy_raise_error(&err, NULL);
        return -1;
    }
    self->node_types = list;
    /* PythonNode (isolation: process): workers run this interpreter */
    if (strstr(rm_build_features(), "python-nodes")) {
        PyObject *exe = PySys_GetObject("executable"); /* borrowed */
        rm_python_nodes_opts po = {exe && PyUnicode_Check(exe) ? PyUnicode_AsUTF8(exe) : NULL};
        if (rm_register_python_nodes(self->rt, &po, &err) != 0) {
            rmpy_raise_error(&err, NULL);
            return -1;
        }
    }
#ifdef RMPY_WITH_REMOTE
    /* RemotePipeline: remotemedia.RemotePipeline runs through it */
    if (rm_register_remote_nodes(self->rt, &err) != 0) {
        rmpy_raise_error(&err, NULL);
        return -1;
    }
#endif
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *nt = PyList_GET_ITEM(list, i);
        if (!PyObject_TypeCheck(nt, &rmpy_NodeTypeType)) {
            PyErr_SetString(PyExc_TypeError, "node_types must hold NodeType objects");
            return -1;
        }
        if (rm_runtime_register(self->rt, rmpy_node_type_desc(nt), &err) != 0) {
            PyErr_Format(PyExc_ValueError, "%s", err.message);
            return -1;
        }
    }
    return 0;
}

static void runtime_dealloc(rmpy_Runtime *self)
{
    rm_runtime_free(self->rt); /* before the descriptors it borrows */
    Py_XDECREF(self->node_types);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *runtime_node_types(rmpy_Runtime *self, PyObject *unused)
{
    (void)unused;
    size_t n = rm_runtime_node_type_count(self->rt);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *s = PyUnicode_FromString(rm_runtime_node_type_at(self->rt, i)->name);
        if (!s) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    return list;
}

static PyObject *runtime_describe(rmpy_Runtime *self, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name) return NULL;
    const rm_node_type *t = rm_runtime_find_node_type(self->rt, name);
    if (!t) Py_RETURN_NONE;
    char *s = rm_node_type_describe_json(t);
    if (!s) return PyErr_NoMemory();
    PyObject *r = PyUnicode_FromString(s);
    free(s);
    return r;
}

static PyObject *runtime_suggest(rmpy_Runtime *self, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name) return NULL;
    const char *s = rm_runtime_suggest_node_type(self->rt, name);
    if (!s) Py_RETURN_NONE;
    return PyUnicode_FromString(s);
}

static PyObject *runtime_schema(rmpy_Runtime *self, PyObject *unused)
{
    (void)unused;
    char *s = rm_runtime_manifest_schema(self->rt);
    if (!s) return PyErr_NoMemory();
    PyObject *r = PyUnicode_FromString(s);
    free(s);
    return r;
}

static PyMethodDef runtime_methods[] = {
    {"node_types", (PyCFunction)runtime_node_types, METH_NOARGS, "Registered node type names, sorted."},
    {"describe", (PyCFunction)runtime_describe, METH_O, "describe(name) -> JSON text or None."},
    {"suggest", (PyCFunction)runtime_suggest, METH_O, "suggest(name) -> closest node type name or None."},
    {"schema", (PyCFunction)runtime_schema, METH_NOARGS, "Manifest JSON Schema text."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject rmpy_RuntimeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "remotemedia._native.Runtime",
    .tp_basicsize = sizeof(rmpy_Runtime),
    .tp_dealloc = (destructor)runtime_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Runtime(node_types=(), log_level=1): a node registry (built-ins + given Python node types).",
    .tp_methods = runtime_methods,
    .tp_init = (initproc)runtime_init,
    .tp_new = PyType_GenericNew,
};

/* --------------------------------------------------------------- Graph --- */

static int graph_init(rmpy_Graph *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"runtime", "text", "name", "path", NULL};
    PyObject *rt;
    const char *text = NULL, *name = NULL, *path = NULL;
    Py_ssize_t len = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|z#zz", kwlist, &rmpy_RuntimeType, &rt, &text, &len, &name, &path))
        return -1;
    if (self->g) {
        PyErr_SetString(PyExc_RuntimeError, "Graph already initialised");
        return -1;
    }
    if (!text == !path) {
        PyErr_SetString(PyExc_TypeError, "Graph needs exactly one of text= or path=");
        return -1;
    }
    rm_diags *d = rm_diags_new();
    if (!d) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = path ? rm_graph_load_file(((rmpy_Runtime *)rt)->rt, path, NULL, &self->g, d)
                  : rm_graph_load_string(((rmpy_Runtime *)rt)->rt, text, (size_t)len, name, NULL, &self->g, d);
    if (rc != 0) {
        raise_manifest_error(d, rc);
        rm_diags_free(d);
        return -1;
    }
    rm_diags_free(d);
    Py_INCREF(rt);
    self->runtime = rt;
    return 0;
}

static void graph_dealloc(rmpy_Graph *self)
{
    rm_graph_unref(self->g);
    Py_XDECREF(self->runtime);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *graph_name(rmpy_Graph *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(rm_graph_name(self->g));
}

static PyObject *id_list(rmpy_Graph *self, size_t n, size_t (*at)(const rm_graph *, size_t))
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        size_t idx = at ? at(self->g, i) : i;
        PyObject *s = PyUnicode_FromString(rm_graph_node_id(self->g, idx));
        if (!s) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    return list;
}

static PyObject *graph_node_ids(rmpy_Graph *self, void *c)
{
    (void)c;
    return id_list(self, rm_graph_node_count(self->g), NULL);
}
static PyObject *graph_sinks(rmpy_Graph *self, void *c)
{
    (void)c;
    return id_list(self, rm_graph_sink_count(self->g), rm_graph_sink);
}
static PyObject *graph_sources(rmpy_Graph *self, void *c)
{
    (void)c;
    return id_list(self, rm_graph_source_count(self->g), rm_graph_source);
}

static PyObject *graph_node_types(rmpy_Graph *self, void *c)
{
    (void)c;
    size_t n = rm_graph_node_count(self->g);
    PyObject *d = PyDict_New();
    for (size_t i = 0; d && i < n; i++) {
        PyObject *v = PyUnicode_FromString(rm_graph_node_type(self->g, i)->name);
        if (!v || PyDict_SetItemString(d, rm_graph_node_id(self->g, i), v) != 0) Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

static PyObject *graph_to_dot(rmpy_Graph *self, PyObject *unused)
{
    (void)unused;
    char *s = rm_graph_to_dot(self->g);
    if (!s) return PyErr_NoMemory();
    PyObject *r = PyUnicode_FromString(s);
    free(s);
    return r;
}

/* run(inputs, metrics=True, session_id=None) -> (outputs, metrics_json, error)
 * outputs: [(node_id, port, value)]; error: None or an exception object (not
 * raised, so the caller keeps the metrics of a failed run). */
static PyObject *graph_run(rmpy_Graph *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"inputs", "metrics", "session_id", NULL};
    PyObject *inputs;
    int metrics = 1;
    const char *sid = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|pz", kwlist, &inputs, &metrics, &sid)) return NULL;
    PyObject *seq = PySequence_Fast(inputs, "inputs must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    rm_frame *one[4];
    rm_frame **frames = n <= 4 ? one : PyMem_Calloc((size_t)n, sizeof *frames);
    if (!frames) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    Py_ssize_t k = 0;
    for (; k < n; k++) {
        frames[k] = rmpy_to_frame(PySequence_Fast_GET_ITEM(seq, k), NULL);
        if (!frames[k]) break;
    }
    Py_DECREF(seq);
    PyObject *result = NULL;
    if (k == n) {
        rm_session_opts opts = {0};
        opts.session_id = sid;
        opts.flags = metrics ? 0 : RM_SESSION_NO_METRICS;
        rm_session *s = NULL;
        rm_error err;
        rm_error_clear(&err);
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = rm_session_open(self->g, &opts, &s, &err);
        for (Py_ssize_t i = 0; rc == 0 && i < n; i++) rc = rm_session_push(s, frames[i]);
        if (s) {
            int end = rm_session_end(s);
            if (rc == 0) rc = end;
        }
        Py_END_ALLOW_THREADS
        PyObject *exc = NULL, *outs = NULL, *mjson = NULL;
        if (rc != 0) {
            if (s && rm_session_error(s)->code) err = *rm_session_error(s);
            else if (!err.code) rm_error_set(&err, rc, NULL, "%s", rm_strerror(rc));
            exc = rmpy_make_error(&err, s ? rm_session_id(s) : sid);
        }
        if (s) {
            outs = rmpy_outputs_list(rm_session_outputs(s));
            char *m = metrics ? rm_session_metrics_json(s) : NULL;
            mjson = m ? PyUnicode_FromString(m) : (Py_INCREF(Py_None), Py_None);
            free(m);
            /* Workers were joined by rm_session_end, so closing with the GIL
             * held is safe (Python nodes' fini re-enters it on this thread). */
            rm_session_close(s);
        } else {
            outs = PyList_New(0);
            Py_INCREF(Py_None);
            mjson = Py_None;
        }
        if (outs && mjson && (exc || !rc)) result = PyTuple_Pack(3, outs, mjson, exc ? exc : Py_None);
        Py_XDECREF(outs);
        Py_XDECREF(mjson);
        Py_XDECREF(exc);
    }
    for (Py_ssize_t i = 0; i < k; i++) rm_frame_unref(frames[i]);
    if (frames != one) PyMem_Free(frames);
    return result;
}

static PyGetSetDef graph_getset[] = {
    {"name", (getter)graph_name, NULL, "pipeline name (metadata.name)", NULL},
    {"node_ids", (getter)graph_node_ids, NULL, "node ids in topological order", NULL},
    {"sinks", (getter)graph_sinks, NULL, "ids of sink nodes (their outputs are the results)", NULL},
    {"sources", (getter)graph_sources, NULL, "ids of source nodes", NULL},
    {"node_types", (getter)graph_node_types, NULL, "{node id: node type name}", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef graph_methods[] = {
    {"run", (PyCFunction)(void (*)(void))graph_run, METH_VARARGS | METH_KEYWORDS,
     "run(inputs, metrics=True, session_id=None) -> (outputs, metrics_json, error)"},
    {"to_dot", (PyCFunction)graph_to_dot, METH_NOARGS, "Graphviz DOT text of the graph."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject rmpy_GraphType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "remotemedia._native.Graph",
    .tp_basicsize = sizeof(rmpy_Graph),
    .tp_dealloc = (destructor)graph_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Graph(runtime, text=None, name=None, path=None): a compiled manifest.",
    .tp_getset = graph_getset,
    .tp_methods = graph_methods,
    .tp_init = (initproc)graph_init,
    .tp_new = PyType_GenericNew,
};

/* -------------------------------------------------------------- module --- */

static PyObject *mod_init(PyObject *m, PyObject *args, PyObject *kw)
{
    (void)m;
    static char *kwlist[] = {"audio_type", "json_dumps", "json_loads", "base_error", "manifest_error",
                             "node_error", "log_fn", NULL};
    PyObject *a, *d, *l, *be, *me, *ne, *lf;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOO", kwlist, &a, &d, &l, &be, &me, &ne, &lf)) return NULL;
    if (!PyType_Check(a)) return PyErr_Format(PyExc_TypeError, "audio_type must be a class");
    PyObject *olds[] = {rmpy.audio_type, rmpy.json_dumps, rmpy.json_loads, rmpy.base_error,
                        rmpy.manifest_error, rmpy.node_error, rmpy.log_fn};
    Py_INCREF(a), Py_INCREF(d), Py_INCREF(l), Py_INCREF(be), Py_INCREF(me), Py_INCREF(ne), Py_INCREF(lf);
    rmpy.audio_type = a, rmpy.json_dumps = d, rmpy.json_loads = l, rmpy.base_error = be;
    rmpy.manifest_error = me, rmpy.node_error = ne, rmpy.log_fn = lf;
    for (size_t i = 0; i < sizeof olds / sizeof olds[0]; i++) Py_XDECREF(olds[i]);
    Py_RETURN_NONE;
}

static PyObject *mod_version(PyObject *m, PyObject *unused)
{
    (void)m, (void)unused;
    return PyUnicode_FromString(rm_version());
}

static PyObject *mod_features(PyObject *m, PyObject *unused)
{
    (void)m, (void)unused;
    return PyUnicode_FromString(rm_build_features());
}

static PyObject *mod_strerror(PyObject *m, PyObject *arg)
{
    (void)m;
    long code = PyLong_AsLong(arg);
    if (code == -1 && PyErr_Occurred()) return NULL;
    return Py_BuildValue("(ss)", rm_err_name((int)code), rm_strerror((int)code));
}

/* frame_roundtrip(value) -> value: to a frame and back (tests of the
 * conversion rules without a pipeline). */
static PyObject *mod_roundtrip(PyObject *m, PyObject *arg)
{
    (void)m;
    rm_frame *f = rmpy_to_frame(arg, NULL);
    if (!f) return NULL;
    PyObject *r = rmpy_from_frame(f);
    rm_frame_unref(f);
    return r;
}

static PyObject *mod_noop(PyObject *m, PyObject *arg)
{
    (void)m, (void)arg;
    Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
    {"_init", (PyCFunction)(void (*)(void))mod_init, METH_VARARGS | METH_KEYWORDS, "Hands Python types to C."},
    {"version", mod_version, METH_NOARGS, "libremotemedia version."},
    {"build_features", mod_features, METH_NOARGS, "libremotemedia build features."},
    {"strerror", mod_strerror, METH_O, "strerror(code) -> (name, message)."},
    {"frame_roundtrip", mod_roundtrip, METH_O, "Converts a value to a frame and back."},
    {"noop", mod_noop, METH_O, "Does nothing (benchmark baseline of a C call)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "remotemedia._native", "CPython binding of libremotemedia.", -1, mod_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void);
PyMODINIT_FUNC PyInit__native(void)
{
    if (rmpy_numpy_init() != 0) return NULL;
    PyTypeObject *types[] = {&rmpy_RuntimeType, &rmpy_GraphType, &rmpy_SessionType, &rmpy_NodeTypeType,
                             &rmpy_FrameRefType};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (PyType_Ready(types[i]) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    const char *names[] = {"Runtime", "Graph", "Session", "NodeType", "FrameRef"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        Py_INCREF(types[i]);
        if (PyModule_AddObject(m, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(types[i]);
            Py_DECREF(m);
            return NULL;
        }
    }
    PyModule_AddIntConstant(m, "LOG_ERROR", RM_LOG_ERROR);
    PyModule_AddIntConstant(m, "LOG_WARN", RM_LOG_WARN);
    PyModule_AddIntConstant(m, "LOG_INFO", RM_LOG_INFO);
    PyModule_AddIntConstant(m, "LOG_DEBUG", RM_LOG_DEBUG);
    return m;
}
