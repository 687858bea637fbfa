/*
 * Streaming sessions.  A pooled session runs on the shared rm_pool: push()
 * only queues the frame (it blocks only when the session's queue is full —
 * back-pressure), so one asyncio thread can drive many sessions while the
 * pool's threads use every core.  Outputs are delivered by the runtime on
 * pool threads into a small mutex-protected queue and announced through an
 * eventfd that the asyncio loop watches; no pool thread ever needs the GIL
 * (unless the graph contains Python nodes).
 */
#define _GNU_SOURCE
#include "rmpy.h"

#include <string.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct out_item {
    const char *node_id, *port; /* valid while the session lives */
    rm_frame *frame;            /* one reference */
} out_item;

typedef struct rmpy_Session {
    PyObject_HEAD
    rm_session *s;
    PyObject *graph;
    int efd;
    pthread_mutex_t mu;
    out_item *items;
    size_t n, cap;
    int signalled; /* an eventfd write is pending since the last drain */
    int ended;
    int busy;      /* a call that released the GIL is in progress */
    int has_fd;    /* efd and mu are initialised */
} rmpy_Session;

static void on_output(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    rmpy_Session *self = user;
    int wake = 0;
    pthread_mutex_lock(&self->mu);
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 32;
        out_item *p = realloc(self->items, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&self->mu);
            return; /* out of memory: the output is lost (logged by nobody; rare) */
        }
        self->items = p;
        self->cap = cap;
    }
    self->items[self->n].node_id = node_id;
    self->items[self->n].port = port;
    self->items[self->n].frame = rm_frame_ref(f);
    self->n++;
    if (!self->signalled) self->signalled = wake = 1;
    pthread_mutex_unlock(&self->mu);
    if (wake) {
        uint64_t one = 1;
        ssize_t w = write(self->efd, &one, sizeof one);
        (void)w; /* EAGAIN only when the counter is saturated: already readable */
    }
}

static int session_init(rmpy_Session *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"graph", "session_id", "metrics", "pooled", "queue_capacity", NULL};
    PyObject *graph;
    const char *sid = NULL;
    int metrics = 1, pooled = 1;
    Py_ssize_t cap = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|zppn", kwlist, &rmpy_GraphType, &graph, &sid, &metrics, &pooled,
                                     &cap))
        return -1;
    if (self->s) {
        PyErr_SetString(PyExc_RuntimeError, "Session already open");
        return -1;
    }
    if (pooled && !rmpy.pool) {
        rm_error err;
        rm_error_clear(&err);
        if (rm_pool_new(0, &rmpy.pool, &err) != 0) {
            rmpy_raise_error(&err, NULL);
            return -1;
        }
    }
    if (self->has_fd) {
        PyErr_SetString(PyExc_RuntimeError, "Session already initialised");
        return -1;
    }
    self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    pthread_mutex_init(&self->mu, NULL);
    self->has_fd = 1;
    rm_session_opts opts = {0};
    opts.session_id = sid;
    opts.on_output = on_output;
    opts.output_user = self;
    opts.pool = pooled ? rmpy.pool : NULL;
    opts.queue_capacity = (size_t)(cap > 0 ? cap : 0);
    opts.flags = metrics ? 0 : RM_SESSION_NO_METRICS;
    rm_error err;
    rm_error_clear(&err);
    int rc;
    Py_BEGIN_ALLOW_THREADS /* init callbacks of Python nodes take the GIL */
    rc = rm_session_open(((rmpy_Graph *)graph)->g, &opts, &self->s, &err);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        rmpy_raise_error(&err, sid);
        return -1;
    }
    Py_INCREF(graph);
    self->graph = graph;
    return 0;
}

static void drop_items(rmpy_Session *self)
{
    pthread_mutex_lock(&self->mu);
    out_item *items = self->items;
    size_t n = self->n;
    self->items = NULL;
    self->n = self->cap = 0;
    pthread_mutex_unlock(&self->mu);
    for (size_t i = 0; i < n; i++) rm_frame_unref(items[i].frame);
    free(items);
}

static void session_close_native(rmpy_Session *self)
{
    if (!self->s) return;
    rm_session *s = self->s;
    self->s = NULL;
    Py_BEGIN_ALLOW_THREADS
    rm_session_close(s);
    Py_END_ALLOW_THREADS
    drop_items(self);
}

static void session_dealloc(rmpy_Session *self)
{
    if (self->s) session_close_native(self);
    if (self->has_fd) {
        pthread_mutex_destroy(&self->mu);
        close(self->efd);
    }
    free(self->items);
    Py_XDECREF(self->graph);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_open(rmpy_Session *self)
{
    if (!self->s) {
        PyErr_SetString(PyExc_RuntimeError, "session is closed");
        return -1;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "another call on this session is in progress");
        return -1;
    }
    return 0;
}

static PyObject *raise_status(rmpy_Session *self, int rc)
{
    const rm_error *e = rm_session_error(self->s);
    rm_error copy;
    if (e->code) copy = *e;
    else rm_error_set(&copy, rc, NULL, "%s", rm_strerror(rc));
    return rmpy_raise_error(&copy, rm_session_id(self->s));
}

static PyObject *session_push(rmpy_Session *self, PyObject *args)
{
    PyObject *value;
    const char *node = NULL, *port = NULL;
    if (!PyArg_ParseTuple(args, "O|zz", &value, &node, &port)) return NULL;
    if (check_open(self) != 0) return NULL;
    if (self->ended) return PyErr_Format(PyExc_RuntimeError, "session has ended: no more input");
    rm_frame *f = rmpy_to_frame(value, NULL);
    if (!f) return NULL;
    int rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = node ? rm_session_push_to(self->s, node, port, f) : rm_session_push(self->s, f);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    rm_frame_unref(f);
    if (rc == RM_ENOTFOUND && node)
        return PyErr_Format(PyExc_KeyError, "no node '%s' with input port '%s'", node, port ? port : "(first)");
    if (rc != 0) return raise_status(self, rc);
    Py_RETURN_NONE;
}

static PyObject *session_end(rmpy_Session *self, PyObject *unused)
{
    (void)unused;
    if (check_open(self) != 0) return NULL;
    if (self->ended) Py_RETURN_NONE;
    self->ended = 1;
    int rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = rm_session_end(self->s);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (rc != 0) return raise_status(self, rc);
    Py_RETURN_NONE;
}

static PyObject *session_reset(rmpy_Session *self, PyObject *unused)
{
    (void)unused;
    if (check_open(self) != 0) return NULL;
    if (self->ended) return PyErr_Format(PyExc_RuntimeError, "session has ended");
    int rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = rm_session_reset(self->s);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    /* everything produced before the reset is stale: drop what is not read yet */
    drop_items(self);
    if (rc != 0) return raise_status(self, rc);
    Py_RETURN_NONE;
}

PyObject *rmpy_outputs_list(const rm_outputs *o)
{
    size_t n = rm_outputs_count(o);
    PyObject *list = PyList_New((Py_ssize_t)n);
    /* consecutive outputs mostly come from the same node and port: reuse
     * their str objects */
    const char *last_id = NULL, *last_port = NULL;
    PyObject *id_obj = NULL, *port_obj = NULL;
    for (size_t i = 0; list && i < n; i++) {
        const rm_output *x = rm_outputs_at(o, i);
        if (!id_obj || strcmp(x->node_id, last_id) != 0) {
            Py_XSETREF(id_obj, PyUnicode_FromString(x->node_id));
            last_id = x->node_id;
        }
        if (!port_obj || strcmp(x->port, last_port) != 0) {
            Py_XSETREF(port_obj, PyUnicode_FromString(x->port));
            last_port = x->port;
        }
        PyObject *v = id_obj && port_obj ? rmpy_from_frame(x->frame) : NULL;
        PyObject *t = v ? PyTuple_Pack(3, id_obj, port_obj, v) : NULL;
        Py_XDECREF(v);
        if (!t) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    Py_XDECREF(id_obj);
    Py_XDECREF(port_obj);
    return list;
}

/* drain() -> [(node_id, port, value)]: outputs delivered since the last call. */
static PyObject *session_drain(rmpy_Session *self, PyObject *unused)
{
    (void)unused;
    uint64_t cnt;
    ssize_t r = read(self->efd, &cnt, sizeof cnt);
    (void)r; /* EAGAIN when nothing was signalled */
    pthread_mutex_lock(&self->mu);
    out_item *items = self->items;
    size_t n = self->n;
    self->items = NULL;
    self->n = self->cap = 0;
    self->signalled = 0;
    pthread_mutex_unlock(&self->mu);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; i < n; i++) {
        if (list) {
            PyObject *v = rmpy_from_frame(items[i].frame);
            PyObject *t = v ? Py_BuildValue("(ssN)", items[i].node_id, items[i].port, v) : NULL;
            if (t) PyList_SET_ITEM(list, (Py_ssize_t)i, t);
            else Py_CLEAR(list);
        }
        rm_frame_unref(items[i].frame);
    }
    free(items);
    return list;
}

static PyObject *session_fileno(rmpy_Session *self, PyObject *unused)
{
    (void)unused;
    return PyLong_FromLong(self->efd);
}

static PyObject *session_metrics(rmpy_Session *self, PyObject *unused)
{
    (void)unused;
    if (!self->s) return PyErr_Format(PyExc_RuntimeError, "session is closed");
    char *m = rm_session_metrics_json(self->s);
    if (!m) return PyErr_NoMemory();
    PyObject *r = PyUnicode_FromString(m);
    free(m);
    return r;
}

static PyObject *session_close(rmpy_Session *self, PyObject *unused)
{
    (void)unused;
    if (self->busy) return PyErr_Format(PyExc_RuntimeError, "another call on this session is in progress");
    session_close_native(self);
    Py_RETURN_NONE;
}

static PyObject *session_error(rmpy_Session *self, void *c)
{
    (void)c;
    if (!self->s || !rm_session_error(self->s)->code) Py_RETURN_NONE;
    return rmpy_make_error(rm_session_error(self->s), rm_session_id(self->s));
}

static PyObject *session_id(rmpy_Session *self, void *c)
{
    (void)c;
    if (!self->s) Py_RETURN_NONE;
    return PyUnicode_FromString(rm_session_id(self->s));
}

static PyMethodDef session_methods[] = {
    {"push", (PyCFunction)session_push, METH_VARARGS, "push(value, node_id=None, port=None): send one input."},
    {"end", (PyCFunction)session_end, METH_NOARGS, "End of stream: flush and wait (releases the GIL)."},
    {"reset", (PyCFunction)session_reset, METH_NOARGS, "Barge-in: drop queued work and unread outputs."},
    {"drain", (PyCFunction)session_drain, METH_NOARGS, "drain() -> [(node_id, port, value)]"},
    {"fileno", (PyCFunction)session_fileno, METH_NOARGS, "eventfd that becomes readable when outputs arrive."},
    {"metrics", (PyCFunction)session_metrics, METH_NOARGS, "Metrics JSON text."},
    {"close", (PyCFunction)session_close, METH_NOARGS, "Frees the native session."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef session_getset[] = {
    {"error", (getter)session_error, NULL, "the error that failed the session, or None", NULL},
    {"session_id", (getter)session_id, NULL, "session id", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject rmpy_SessionType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "remotemedia._native.Session",
    .tp_basicsize = sizeof(rmpy_Session),
    .tp_dealloc = (destructor)session_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Session(graph, session_id=None, metrics=True, pooled=True, queue_capacity=0)",
    .tp_methods = session_methods,
    .tp_getset = session_getset,
    .tp_init = (initproc)session_init,
    .tp_new = PyType_GenericNew,
};
