/*
 * Python classes as native node types.
 *
 * remotemedia.node() builds a NodeType object: a heap-allocated rm_node_type
 * (with its parameter table) embedded in a larger struct that also holds the
 * Python class.  The same five C callbacks serve every Python node type;
 * they find their struct through rm_node_type_of().  Parameters are parsed
 * and validated by the runtime from the table, exactly like a C node's, and
 * passed to the class's __init__ as keyword arguments.
 *
 * Threads: callbacks run on whatever thread runs the node's segment (the
 * pushing thread, a pool thread or the node's worker when it is declared
 * blocking).  Each takes the GIL only for the Python call, and releases it
 * before emitting, so downstream native nodes run without it.
 *
 * The Python side (remotemedia/_pynode.py: invoke) does the calling:
 *   invoke(op, target, arg, session_id, node_id) ->
 *     list (init: [instance]; process/flush: outputs; reset: [])
 *     or str: the failure message (the exception, with its traceback, is
 *     kept on the Python side and attached to the NodeError).
 */
#include "rmpy.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

enum { OP_INIT = 0, OP_PROCESS = 1, OP_FLUSH = 2, OP_RESET = 3 };

typedef struct pytype {
    rm_node_type t; /* first: rm_node_type_of() points here */
    PyObject *cls, *invoke;
    rm_param_def *params;
    size_t n_params;
    void **owned; /* malloc'd strings and arrays */
    size_t n_owned, cap_owned;
} pytype;

typedef struct pystate {
    PyObject *inst;
    uint32_t last_rate; /* of the last audio input, for bare arrays from flush() */
} pystate;

typedef struct rmpy_NodeType {
    PyObject_HEAD
    pytype *pt;
} rmpy_NodeType;

const rm_node_type *rmpy_node_type_desc(PyObject *o) { return &((rmpy_NodeType *)o)->pt->t; }

static const pytype *PT(rm_node *node) { return (const pytype *)rm_node_type_of(node); }

/* ------------------------------------------------------------ calling --- */

/* Fails the node with the current Python exception's text. */
static int fail_with_exception(rm_node *node, int code, const char *what)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *s = value ? PyObject_Str(value) : NULL;
    const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
    int rc = rm_node_fail(node, code, "%s: %s: %s", what, type ? ((PyTypeObject *)type)->tp_name : "error",
                          msg ? msg : "?");
    PyErr_Clear();
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return rc;
}

/* Calls invoke(); returns a list (new reference) or NULL after failing the
 * node. */
static PyObject *call(rm_node *node, int op, PyObject *target, PyObject *arg)
{
    const pytype *pt = PT(node);
    PyObject *r = PyObject_CallFunction(pt->invoke, "iOOss", op, target, arg ? arg : Py_None,
                                        rm_node_session_id(node), rm_node_id(node));
    if (!r) {
        fail_with_exception(node, RM_ENODE, "Python node call failed");
        return NULL;
    }
    if (PyUnicode_Check(r)) {
        const char *msg = PyUnicode_AsUTF8(r);
        rm_node_fail(node, RM_ENODE, "%s", msg ? msg : "Python node failed");
        PyErr_Clear();
        Py_DECREF(r);
        return NULL;
    }
    if (!PyList_Check(r)) {
        rm_node_fail(node, RM_EINTERNAL, "Python node helper returned %s", Py_TYPE(r)->tp_name);
        Py_DECREF(r);
        return NULL;
    }
    return r;
}

/* Converts the outputs (GIL held) to frames, releases the GIL, emits them.
 * `g` is released on every path. */
static int emit_outputs(rm_node *node, PyObject *list, const rm_frame *in, uint32_t rate, PyGILState_STATE g,
                        const char *method)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    rm_frame *stack[8];
    rm_frame **frames = n <= 8 ? stack : PyMem_Malloc((size_t)n * sizeof *frames);
    if (!frames) {
        Py_DECREF(list);
        PyGILState_Release(g);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    rm_frame like;
    memset(&like, 0, sizeof like);
    if (rate) {
        like.kind = RM_FRAME_AUDIO;
        like.u.audio.rate = rate;
    }
    int rc = 0;
    Py_ssize_t k = 0;
    for (; k < n; k++) {
        PyObject *item = PyList_GET_ITEM(list, k);
        if (item == Py_None) { /* None means "nothing": skip */
            frames[k] = NULL;
            continue;
        }
        frames[k] = rmpy_to_frame(item, rate ? &like : NULL);
        if (!frames[k]) {
            char what[200];
            const char *tn = Py_TYPE(item)->tp_name, *dot = strrchr(tn, '.');
            snprintf(what, sizeof what, "%s() of Python node %s returned an unusable %s value", method,
                     PT(node)->t.name, dot ? dot + 1 : tn);
            rc = fail_with_exception(node, RM_EFORMAT, what);
            break;
        }
        if (in) {
            /* outputs carry the input's timestamp and metadata, unless an
             * Audio names its own */
            rm_frame_copy_props(frames[k], in);
            if (rmpy.audio_type && PyObject_TypeCheck(item, (PyTypeObject *)rmpy.audio_type) &&
                rmpy_audio_props(item, frames[k]) != 0) {
                char what[200];
                snprintf(what, sizeof what, "%s() of Python node %s returned an Audio with unusable props", method,
                         PT(node)->t.name);
                k++;
                rc = fail_with_exception(node, RM_EFORMAT, what);
                break;
            }
        }
    }
    Py_DECREF(list);
    PyGILState_Release(g);
    for (Py_ssize_t i = 0; i < k; i++) {
        if (!frames[i]) continue;
        if (rc == 0) {
            int e = rm_node_emit(node, 0, frames[i]);
            if (e < 0) rc = e;
        }
        rm_frame_unref(frames[i]); /* may re-enter the GIL for wrapped arrays */
    }
    if (frames != stack) PyMem_Free(frames);
    return rc;
}

/* ----------------------------------------------------------- callbacks --- */

static PyObject *param_value(const rm_param_def *p, const void *config)
{
    const char *slot = (const char *)config + p->offset;
    switch (p->type) {
    case RM_PARAM_BOOL: return PyBool_FromLong(*(const int *)slot);
    case RM_PARAM_INT: return PyLong_FromLongLong((long long)*(const int64_t *)slot);
    case RM_PARAM_FLOAT: return PyFloat_FromDouble(*(const double *)slot);
    case RM_PARAM_STRING: {
        const char *s = *(const char *const *)slot;
        if (!s) Py_RETURN_NONE;
        return PyUnicode_FromString(s);
    }
    case RM_PARAM_ENUM: return PyUnicode_FromString(p->enum_values[*(const int *)slot]);
    case RM_PARAM_STRING_LIST: {
        const char *const *l = *(const char *const *const *)slot;
        PyObject *list = PyList_New(0);
        for (; list && l && *l; l++) {
            PyObject *s = PyUnicode_FromString(*l);
            if (!s || PyList_Append(list, s) != 0) Py_CLEAR(list);
            Py_XDECREF(s);
        }
        return list;
    }
    case RM_PARAM_JSON: {
        const json_t *j = *(const json_t *const *)slot;
        if (!j) Py_RETURN_NONE;
        char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!text) return PyErr_NoMemory();
        PyObject *s = PyUnicode_FromString(text);
        free(text);
        PyObject *v = s ? PyObject_CallOneArg(rmpy.json_loads, s) : NULL;
        Py_XDECREF(s);
        return v;
    }
    }
    Py_RETURN_NONE;
}

static int py_init(rm_node *node, void *state, const void *config)
{
    pystate *st = state;
    const pytype *pt = PT(node);
    if (rmpy_finalizing()) return rm_node_fail(node, RM_ESTATE, "the Python interpreter is shutting down");
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = 0;
    PyObject *kwargs = PyDict_New();
    for (size_t i = 0; kwargs && i < pt->n_params; i++) {
        PyObject *v = param_value(&pt->params[i], config);
        if (!v || PyDict_SetItemString(kwargs, pt->params[i].name, v) != 0) Py_CLEAR(kwargs);
        Py_XDECREF(v);
    }
    if (!kwargs) {
        rc = fail_with_exception(node, RM_ENODE, "building the parameters");
    } else {
        PyObject *r = call(node, OP_INIT, pt->cls, kwargs);
        if (!r) rc = RM_ENODE;
        else if (PyList_GET_SIZE(r) != 1) rc = rm_node_fail(node, RM_EINTERNAL, "init returned no instance");
        else {
            st->inst = PyList_GET_ITEM(r, 0);
            Py_INCREF(st->inst);
        }
        Py_XDECREF(r);
        Py_DECREF(kwargs);
    }
    PyGILState_Release(g);
    return rc;
}

static int py_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    pystate *st = state;
    if (rmpy_finalizing()) return rm_node_fail(node, RM_ECANCELED, "the Python interpreter is shutting down");
    if (f->kind == RM_FRAME_AUDIO) st->last_rate = f->u.audio.rate;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *v = rmpy_from_frame(f);
    if (!v) {
        int rc = fail_with_exception(node, RM_ENODE, "converting the input");
        PyGILState_Release(g);
        return rc;
    }
    PyObject *r = call(node, OP_PROCESS, st->inst, v);
    Py_DECREF(v);
    if (!r) {
        PyGILState_Release(g);
        return RM_ENODE;
    }
    return emit_outputs(node, r, f, f->kind == RM_FRAME_AUDIO ? f->u.audio.rate : 0, g, "process");
}

static int py_flush(rm_node *node, void *state)
{
    pystate *st = state;
    if (rmpy_finalizing()) return 0;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = call(node, OP_FLUSH, st->inst, NULL);
    if (!r) {
        PyGILState_Release(g);
        return RM_ENODE;
    }
    return emit_outputs(node, r, NULL, st->last_rate, g, "flush");
}

static int py_reset(rm_node *node, void *state)
{
    pystate *st = state;
    if (rmpy_finalizing()) return 0;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = call(node, OP_RESET, st->inst, NULL);
    Py_XDECREF(r);
    PyGILState_Release(g);
    return r ? 0 : RM_ENODE;
}

static void py_fini(void *state)
{
    pystate *st = state;
    if (!st->inst || rmpy_finalizing()) return;
    PyGILState_STATE g = PyGILState_Ensure();
    Py_CLEAR(st->inst);
    PyGILState_Release(g);
}

/* ------------------------------------------------------------ NodeType --- */

static void *keep(pytype *pt, void *p)
{
    if (!p) return NULL;
    if (pt->n_owned == pt->cap_owned) {
        size_t cap = pt->cap_owned ? pt->cap_owned * 2 : 16;
        void **n = realloc(pt->owned, cap * sizeof *n);
        if (!n) {
            free(p);
            return NULL;
        }
        pt->owned = n;
        pt->cap_owned = cap;
    }
    pt->owned[pt->n_owned++] = p;
    return p;
}

static const char *keep_str(pytype *pt, PyObject *s)
{
    if (s == Py_None) return NULL;
    const char *u = PyUnicode_AsUTF8(s);
    if (!u) return NULL;
    char *c = keep(pt, strdup(u));
    if (!c) PyErr_NoMemory();
    return c;
}

/* A NULL-terminated list from a Python sequence of str (None -> NULL). */
static const char *const *keep_list(pytype *pt, PyObject *seq, int *err)
{
    *err = 0;
    if (seq == Py_None) return NULL;
    PyObject *fast = PySequence_Fast(seq, "expected a list of str");
    if (!fast) return *err = 1, NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    const char **list = keep(pt, calloc((size_t)n + 1, sizeof *list));
    for (Py_ssize_t i = 0; list && i < n; i++)
        if (!(list[i] = keep_str(pt, PySequence_Fast_GET_ITEM(fast, i)))) list = NULL;
    Py_DECREF(fast);
    if (!list) *err = 1;
    return list;
}

static void pytype_free(pytype *pt)
{
    if (!pt) return;
    for (size_t i = 0; i < pt->n_owned; i++) free(pt->owned[i]);
    free(pt->owned);
    Py_XDECREF(pt->cls);
    Py_XDECREF(pt->invoke);
    free(pt);
}

static const struct {
    const char *name;
    rm_param_type type;
} param_types[] = {{"bool", RM_PARAM_BOOL},     {"int", RM_PARAM_INT},
                   {"float", RM_PARAM_FLOAT},   {"string", RM_PARAM_STRING},
                   {"enum", RM_PARAM_ENUM},     {"string list", RM_PARAM_STRING_LIST},
                   {"json", RM_PARAM_JSON}};

/* Each param: (name, type, doc, def_num, def_str, min, max, enum, aliases, flags) */
static int build_param(pytype *pt, rm_param_def *p, PyObject *spec, size_t index)
{
    PyObject *name, *type, *doc, *def_str, *enums, *aliases;
    double def_num, mn, mx;
    unsigned flags;
    if (!PyArg_ParseTuple(spec, "UUUdOddOOI", &name, &type, &doc, &def_num, &def_str, &mn, &mx, &enums, &aliases,
                          &flags))
        return -1;
    const char *tn = PyUnicode_AsUTF8(type);
    int found = 0;
    for (size_t i = 0; i < sizeof param_types / sizeof param_types[0]; i++)
        if (tn && strcmp(tn, param_types[i].name) == 0) p->type = param_types[i].type, found = 1;
    if (!found) {
        PyErr_Format(PyExc_ValueError, "unknown parameter type %R", type);
        return -1;
    }
    int e1, e2;
    p->name = keep_str(pt, name);
    p->doc = keep_str(pt, doc);
    p->def_num = def_num;
    p->def_str = def_str == Py_None ? NULL : keep_str(pt, def_str);
    p->min = mn;
    p->max = mx;
    p->enum_values = keep_list(pt, enums, &e1);
    p->aliases = keep_list(pt, aliases, &e2);
    p->flags = flags;
    p->offset = index * 8; /* every slot type fits 8 bytes */
    if (!p->name || !p->doc || (def_str != Py_None && !p->def_str) || e1 || e2) return -1;
    return 0;
}

static int nodetype_init(rmpy_NodeType *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", "cls", "invoke", "params", "doc", "family", "blocking", NULL};
    PyObject *name, *cls, *invoke, *params, *doc, *family;
    int blocking = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "UOOOUU|p", kwlist, &name, &cls, &invoke, &params, &doc, &family,
                                     &blocking))
        return -1;
    if (self->pt) {
        PyErr_SetString(PyExc_RuntimeError, "NodeType already initialised");
        return -1;
    }
    pytype *pt = calloc(1, sizeof *pt);
    if (!pt) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(cls);
    Py_INCREF(invoke);
    pt->cls = cls;
    pt->invoke = invoke;
    PyObject *fast = PySequence_Fast(params, "params must be a sequence of tuples");
    if (!fast) {
        pytype_free(pt);
        return -1;
    }
    pt->n_params = (size_t)PySequence_Fast_GET_SIZE(fast);
    pt->params = keep(pt, calloc(pt->n_params + 1, sizeof *pt->params));
    int rc = pt->params ? 0 : (PyErr_NoMemory(), -1);
    for (size_t i = 0; rc == 0 && i < pt->n_params; i++)
        rc = build_param(pt, &pt->params[i], PySequence_Fast_GET_ITEM(fast, (Py_ssize_t)i), i);
    Py_DECREF(fast);
    pt->t.abi_version = RM_NODE_ABI_VERSION;
    pt->t.name = keep_str(pt, name);
    pt->t.doc = keep_str(pt, doc);
    pt->t.family = keep_str(pt, family);
    if (rc != 0 || !pt->t.name || !pt->t.doc || !pt->t.family) {
        pytype_free(pt);
        return -1;
    }
    pt->t.params = pt->n_params ? pt->params : NULL;
    pt->t.config_size = pt->n_params * 8;
    pt->t.state_size = sizeof(pystate);
    pt->t.flags = blocking ? RM_NODE_BLOCKING : 0;
    pt->t.init = py_init;
    pt->t.process = py_process;
    pt->t.flush = py_flush;
    pt->t.reset = py_reset;
    pt->t.fini = py_fini;
    /* let the runtime's own table checks speak now, not at first use */
    rm_runtime *rt;
    rm_runtime_opts opts;
    rm_runtime_opts_init(&opts);
    opts.flags = RM_RUNTIME_NO_BUILTINS | RM_RUNTIME_NO_ENV_PLUGINS;
    rm_error err;
    rm_error_clear(&err);
    if (rm_runtime_new(&opts, &rt, &err) == 0) {
        int r = rm_runtime_register(rt, &pt->t, &err);
        rm_runtime_free(rt);
        if (r != 0) {
            PyErr_Format(PyExc_ValueError, "%s", err.message);
            pytype_free(pt);
            return -1;
        }
    }
    self->pt = pt;
    return 0;
}

static void nodetype_dealloc(rmpy_NodeType *self)
{
    pytype_free(self->pt);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *nodetype_describe(rmpy_NodeType *self, PyObject *unused)
{
    (void)unused;
    char *s = rm_node_type_describe_json(&self->pt->t);
    if (!s) return PyErr_NoMemory();
    PyObject *r = PyUnicode_FromString(s);
    free(s);
    return r;
}

static PyObject *nodetype_name(rmpy_NodeType *self, void *c)
{
    (void)c;
    return PyUnicode_FromString(self->pt->t.name);
}

static PyMethodDef nodetype_methods[] = {
    {"describe", (PyCFunction)nodetype_describe, METH_NOARGS, "describe() -> JSON text"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef nodetype_getset[] = {
    {"name", (getter)nodetype_name, NULL, "node type name", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject rmpy_NodeTypeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "remotemedia._native.NodeType",
    .tp_basicsize = sizeof(rmpy_NodeType),
    .tp_dealloc = (destructor)nodetype_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "NodeType(name, cls, invoke, params, doc, family, blocking=False): a Python node type descriptor.",
    .tp_methods = nodetype_methods,
    .tp_getset = nodetype_getset,
    .tp_init = (initproc)nodetype_init,
    .tp_new = PyType_GenericNew,
};
