/*
 * Python values <-> frames.
 *
 * numpy -> frame: a C-contiguous, aligned, native-endian float32 / int16 /
 * int32 array of shape (frames,) or (frames, channels) with a rate (Audio or
 * (array, rate)) is wrapped, not copied (rm_frame_wrap_audio); the frame
 * holds a reference to the array and drops it, taking the GIL, when the
 * runtime releases the frame.  A bare array is a tensor, wrapped the same way
 * (rm_frame_wrap_tensor; bool, int8/16/32/64, uint8, float16/32/64, up to 8
 * dimensions) — except what a Python node returns for an audio input, which
 * is audio at the input's rate.  Any other array is refused with an error
 * that says how to convert it: we never copy behind the caller's back.
 * Audio.timestamp_us and Audio.metadata become the frame's timestamp and
 * metadata.
 *
 * frame -> numpy: audio (and tensor) frames become read-only arrays viewing
 * the frame's memory; the array's base is a FrameRef that holds one frame
 * reference, so the data stays valid as long as the array lives, even after
 * the pipeline and session are gone.  An audio frame's timestamp (None when
 * it has none) and metadata (a dict of str) come along on the Audio.
 */
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL rmpy_ARRAY_API
#include "rmpy.h"

#include <numpy/arrayobject.h>
#include <string.h>
#include <structmember.h>

int rmpy_numpy_init(void);
int rmpy_numpy_init(void)
{
    import_array1(-1);
    return 0;
}

/* ------------------------------------------------------------ FrameRef --- */

typedef struct FrameRef {
    PyObject_HEAD
    rm_frame *f;
} FrameRef;

static void frameref_dealloc(FrameRef *self)
{
    rm_frame_unref(self->f); /* may run a release callback: it re-enters the GIL */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *frameref_refcount(FrameRef *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(rm_frame_refcount(self->f));
}

static PyObject *frameref_kind(FrameRef *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(rm_frame_kind_name(self->f->kind));
}

static PyGetSetDef frameref_getset[] = {
    {"frame_refcount", (getter)frameref_refcount, NULL, "references held on the native frame", NULL},
    {"kind", (getter)frameref_kind, NULL, "frame kind", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject rmpy_FrameRefType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "remotemedia._native.FrameRef",
    .tp_basicsize = sizeof(FrameRef),
    .tp_dealloc = (destructor)frameref_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Keeps a native frame alive; the base object of arrays that view frame memory.",
    .tp_getset = frameref_getset,
};

static PyObject *frameref_new(const rm_frame *f)
{
    FrameRef *r = PyObject_New(FrameRef, &rmpy_FrameRefType);
    if (!r) return NULL;
    r->f = rm_frame_ref(f);
    return (PyObject *)r;
}

/* ---------------------------------------------------------- to a frame --- */

/* Release callback of frames wrapping Python memory: drops the reference the
 * frame held.  Runs on whichever thread drops the last frame reference. */
static void release_pyobject(void *data, void *user)
{
    (void)data;
    if (rmpy_finalizing()) return; /* leak rather than touch a dying interpreter */
    PyGILState_STATE g = PyGILState_Ensure();
    Py_DECREF((PyObject *)user);
    PyGILState_Release(g);
}

static rm_frame *array_to_audio(PyObject *obj, PyObject *rate_obj)
{
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "audio samples must be a numpy array, got %.80s", Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyArrayObject *a = (PyArrayObject *)obj;
    long rate = PyLong_AsLong(rate_obj);
    if (rate == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "sample_rate must be an int, got %.80s", Py_TYPE(rate_obj)->tp_name);
        return NULL;
    }
    if (rate <= 0 || rate > 10000000) {
        PyErr_Format(PyExc_ValueError, "sample_rate must be in [1, 10000000] Hz, got %ld", rate);
        return NULL;
    }
    int nd = PyArray_NDIM(a);
    if (nd != 1 && nd != 2) {
        PyErr_Format(PyExc_ValueError,
                     "audio must have shape (frames,) or (frames, channels), got %d dimensions", nd);
        return NULL;
    }
    rm_sample_format fmt;
    switch (PyArray_TYPE(a)) {
    case NPY_FLOAT32: fmt = RM_SAMPLE_F32; break;
    case NPY_INT16: fmt = RM_SAMPLE_S16; break;
    case NPY_INT32: fmt = RM_SAMPLE_S32; break;
    default: {
        PyObject *d = PyObject_Str((PyObject *)PyArray_DESCR(a));
        PyErr_Format(PyExc_TypeError,
                     "audio dtype %U is not supported: use float32, int16 or int32 "
                     "(convert explicitly, e.g. samples.astype(numpy.float32))",
                     d ? d : Py_None);
        Py_XDECREF(d);
        return NULL;
    }
    }
    if (!PyArray_ISNOTSWAPPED(a)) {
        PyErr_SetString(PyExc_TypeError,
                        "audio samples are not in native byte order: convert with samples.astype(samples.dtype.newbyteorder('='))");
        return NULL;
    }
    if (!PyArray_IS_C_CONTIGUOUS(a) || !PyArray_ISALIGNED(a)) {
        PyErr_SetString(PyExc_ValueError,
                        "audio array is not C-contiguous (a strided slice or a transpose?): pass "
                        "numpy.ascontiguousarray(samples); RemoteMedia never copies audio silently");
        return NULL;
    }
    npy_intp frames = PyArray_DIM(a, 0);
    npy_intp channels = nd == 2 ? PyArray_DIM(a, 1) : 1;
    if (channels < 1 || channels > 1024) {
        PyErr_Format(PyExc_ValueError, "audio must have 1 to 1024 channels, got %zd", (Py_ssize_t)channels);
        return NULL;
    }
    Py_INCREF(obj);
    rm_frame *f = rm_frame_wrap_audio(fmt, (uint32_t)rate, (uint32_t)channels, (size_t)frames, PyArray_DATA(a),
                                      release_pyobject, obj);
    if (!f) {
        Py_DECREF(obj); /* the callback is never called when a wrap fails */
        PyErr_NoMemory();
    }
    return f;
}

static int tensor_dtype(int typenum)
{
    switch (typenum) {
    case NPY_FLOAT32: return RM_DTYPE_F32;
    case NPY_INT32: return RM_DTYPE_I32;
    case NPY_FLOAT64: return RM_DTYPE_F64;
    case NPY_INT64: return RM_DTYPE_I64;
    case NPY_INT16: return RM_DTYPE_I16;
    case NPY_INT8: return RM_DTYPE_I8;
    case NPY_UINT8: return RM_DTYPE_U8;
    case NPY_FLOAT16: return RM_DTYPE_F16;
    case NPY_BOOL: return RM_DTYPE_BOOL;
    default: return -1;
    }
}

/* A bare array: a tensor frame wrapping the array's memory. */
static rm_frame *array_to_tensor(PyArrayObject *a)
{
    int dt = tensor_dtype(PyArray_TYPE(a));
    if (dt < 0 || (PyArray_TYPE(a) == NPY_INT64 && PyArray_ITEMSIZE(a) != 8)) {
        PyObject *d = PyObject_Str((PyObject *)PyArray_DESCR(a));
        PyErr_Format(PyExc_TypeError,
                     "a numpy array of dtype %U cannot be a tensor frame (bool, int8, int16, int32, int64, uint8, "
                     "float16, float32, float64); for audio pass remotemedia.Audio(samples, sample_rate)",
                     d ? d : Py_None);
        Py_XDECREF(d);
        return NULL;
    }
    if (!PyArray_ISNOTSWAPPED(a)) {
        PyErr_SetString(PyExc_TypeError,
                        "tensor data is not in native byte order: convert with x.astype(x.dtype.newbyteorder('='))");
        return NULL;
    }
    if (!PyArray_IS_C_CONTIGUOUS(a) || !PyArray_ISALIGNED(a)) {
        PyErr_SetString(PyExc_ValueError,
                        "tensor array is not C-contiguous (a strided slice or a transpose?): pass "
                        "numpy.ascontiguousarray(x); RemoteMedia never copies silently");
        return NULL;
    }
    int nd = PyArray_NDIM(a);
    if (nd > RM_TENSOR_MAX_DIMS) {
        PyErr_Format(PyExc_ValueError, "a tensor has at most %d dimensions, got %d", RM_TENSOR_MAX_DIMS, nd);
        return NULL;
    }
    int64_t shape[RM_TENSOR_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = (int64_t)PyArray_DIM(a, i);
    Py_INCREF(a);
    rm_frame *f = rm_frame_wrap_tensor((rm_dtype)dt, (uint32_t)nd, shape, PyArray_DATA(a), release_pyobject, a);
    if (!f) {
        Py_DECREF(a);
        PyErr_NoMemory();
    }
    return f;
}

static PyObject *str_samples, *str_sample_rate, *str_timestamp_us, *str_metadata;

static int intern_names(void)
{
    if (str_samples) return 0;
    str_samples = PyUnicode_InternFromString("samples");
    str_sample_rate = PyUnicode_InternFromString("sample_rate");
    str_timestamp_us = PyUnicode_InternFromString("timestamp_us");
    str_metadata = PyUnicode_InternFromString("metadata");
    return str_samples && str_sample_rate && str_timestamp_us && str_metadata ? 0 : -1;
}

int rmpy_audio_props(PyObject *audio, rm_frame *f)
{
    if (intern_names() != 0) return -1;
    PyObject *ts = PyObject_GetAttr(audio, str_timestamp_us);
    if (!ts) return -1;
    if (ts != Py_None) {
        long long v = PyLong_AsLongLong(ts);
        if (v == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "Audio.timestamp_us must be an int (µs) or None, got %.80s",
                         Py_TYPE(ts)->tp_name);
            Py_DECREF(ts);
            return -1;
        }
        f->timestamp_us = (int64_t)v;
    }
    Py_DECREF(ts);
    PyObject *meta = PyObject_GetAttr(audio, str_metadata);
    if (!meta) return -1;
    int rc = 0;
    if (meta != Py_None && !PyDict_Check(meta)) {
        PyErr_Format(PyExc_TypeError, "Audio.metadata must be a dict of str to str, got %.80s",
                     Py_TYPE(meta)->tp_name);
        rc = -1;
    } else if (meta != Py_None) {
        PyObject *k, *v;
        Py_ssize_t pos = 0;
        while (rc == 0 && PyDict_Next(meta, &pos, &k, &v)) {
            const char *ks = PyUnicode_Check(k) ? PyUnicode_AsUTF8(k) : NULL;
            const char *vs = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
            if (!ks || !vs) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_TypeError, "Audio.metadata must map str to str");
                rc = -1;
            } else if (rm_frame_meta_set(f, ks, vs) != 0) {
                PyErr_NoMemory();
                rc = -1;
            }
        }
    }
    Py_DECREF(meta);
    return rc;
}

rm_frame *rmpy_to_frame(PyObject *v, const rm_frame *like)
{
    if (intern_names() != 0) return NULL;
    if (rmpy.audio_type && PyObject_TypeCheck(v, (PyTypeObject *)rmpy.audio_type)) {
        PyObject *samples = PyObject_GetAttr(v, str_samples);
        PyObject *rate = samples ? PyObject_GetAttr(v, str_sample_rate) : NULL;
        rm_frame *f = rate ? array_to_audio(samples, rate) : NULL;
        Py_XDECREF(samples);
        Py_XDECREF(rate);
        if (f && rmpy_audio_props(v, f) != 0) {
            rm_frame_unref(f); /* drops the array reference (takes the GIL we hold: re-entrant) */
            return NULL;
        }
        return f;
    }
    if (PyUnicode_Check(v)) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(v, &len);
        if (!s) return NULL;
        rm_frame *f = rm_frame_new_text(s, (size_t)len);
        if (!f) PyErr_NoMemory();
        return f;
    }
    if (PyBytes_Check(v)) {
        /* bytes are immutable: wrap them */
        Py_INCREF(v);
        rm_frame *f = rm_frame_wrap_binary(PyBytes_AS_STRING(v), (size_t)PyBytes_GET_SIZE(v), release_pyobject, v);
        if (!f) {
            Py_DECREF(v);
            PyErr_NoMemory();
        }
        return f;
    }
    if (PyByteArray_Check(v) || PyMemoryView_Check(v)) {
        /* mutable buffers are copied, so later writes cannot race the runtime */
        Py_buffer view;
        if (PyObject_GetBuffer(v, &view, PyBUF_C_CONTIGUOUS) != 0) return NULL;
        rm_frame *f = rm_frame_new_binary(view.buf, (size_t)view.len);
        PyBuffer_Release(&view);
        if (!f) PyErr_NoMemory();
        return f;
    }
    if (PyTuple_Check(v) && PyTuple_GET_SIZE(v) == 2 && PyArray_Check(PyTuple_GET_ITEM(v, 0)) &&
        PyLong_Check(PyTuple_GET_ITEM(v, 1)))
        return array_to_audio(PyTuple_GET_ITEM(v, 0), PyTuple_GET_ITEM(v, 1));
    if (PyArray_Check(v)) {
        if (like && like->kind == RM_FRAME_AUDIO) {
            PyObject *rate = PyLong_FromUnsignedLong(like->u.audio.rate);
            rm_frame *f = rate ? array_to_audio(v, rate) : NULL;
            Py_XDECREF(rate);
            return f;
        }
        return array_to_tensor((PyArrayObject *)v);
    }
    /* everything else travels as JSON */
    PyObject *text = PyObject_CallOneArg(rmpy.json_dumps, v);
    if (!text) return NULL;
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(text, &len);
    char msg[200] = "";
    rm_frame *f = s ? rm_frame_new_json_text(s, (size_t)len, msg, sizeof msg) : NULL;
    if (!f && s) PyErr_Format(PyExc_ValueError, "value is not valid JSON: %s", msg);
    Py_DECREF(text);
    return f;
}

/* -------------------------------------------------------- from a frame --- */

static PyObject *view_array(const rm_frame *f, int nd, npy_intp *dims, int typenum, void *data)
{
    PyObject *arr = PyArray_New(&PyArray_Type, nd, dims, typenum, NULL, data, 0,
                                NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED, NULL);
    if (!arr) return NULL;
    PyObject *base = frameref_new(f);
    if (!base || PyArray_SetBaseObject((PyArrayObject *)arr, base) != 0) { /* steals base */
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

static PyObject *empty_args;
/* Byte offsets of Audio's four __slots__ in its instances (0 = unknown: set
 * them by attribute name).  Storing into the slots directly saves four
 * attribute lookups per output frame on the run() hot path. */
static Py_ssize_t slot_off[4];
static PyObject *slot_type;

static void find_slots(PyTypeObject *t)
{
    PyObject *names[4] = {str_samples, str_sample_rate, str_timestamp_us, str_metadata};
    slot_type = (PyObject *)t;
    for (int i = 0; i < 4; i++) {
        PyObject *d = PyObject_GetAttr((PyObject *)t, names[i]);
        slot_off[i] = d && Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                              ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX
                          ? ((PyMemberDescrObject *)d)->d_member->offset
                          : 0;
        Py_XDECREF(d);
        PyErr_Clear();
    }
}

/* Sets attribute i of a fresh Audio; steals `v`.  0 or -1. */
static int set_slot(PyObject *a, int i, PyObject *v)
{
    static PyObject **names[4] = {&str_samples, &str_sample_rate, &str_timestamp_us, &str_metadata};
    if (!v) return -1;
    if (slot_off[i]) {
        PyObject **p = (PyObject **)((char *)a + slot_off[i]);
        Py_XSETREF(*p, v);
        return 0;
    }
    int rc = PyObject_SetAttr(a, *names[i], v);
    Py_DECREF(v);
    return rc;
}

static PyObject *audio_object(PyObject *samples, const rm_frame *f)
{
    PyTypeObject *t = (PyTypeObject *)rmpy.audio_type;
    if (slot_type != (PyObject *)t) find_slots(t);
    if (!empty_args && !(empty_args = PyTuple_New(0))) return NULL;
    PyObject *a = t->tp_new(t, empty_args, NULL); /* skip __init__: values are known good */
    if (!a) return NULL;
    PyObject *meta = PyDict_New();
    size_t nm = rm_frame_meta_count(f);
    for (size_t i = 0; meta && i < nm; i++) {
        const char *k, *v;
        PyObject *vs = NULL;
        if (rm_frame_meta_at(f, i, &k, &v) != 0 || !(vs = PyUnicode_DecodeUTF8(v, (Py_ssize_t)strlen(v), "replace")) ||
            PyDict_SetItemString(meta, k, vs) != 0)
            Py_CLEAR(meta);
        Py_XDECREF(vs);
    }
    /* set_slot steals its value, also on failure: meta is set first so that
     * nothing leaks when a later step fails */
    if (set_slot(a, 3, meta) != 0 || set_slot(a, 0, Py_NewRef(samples)) != 0 ||
        set_slot(a, 1, PyLong_FromUnsignedLong(f->u.audio.rate)) != 0 ||
        set_slot(a, 2, f->timestamp_us == RM_TS_NONE ? Py_NewRef(Py_None) : PyLong_FromLongLong(f->timestamp_us)) != 0) {
        Py_DECREF(a);
        return NULL;
    }
    return a;
}

static int dtype_typenum(rm_dtype d)
{
    switch (d) {
    case RM_DTYPE_F32: return NPY_FLOAT32;
    case RM_DTYPE_I32: return NPY_INT32;
    case RM_DTYPE_F64: return NPY_FLOAT64;
    case RM_DTYPE_I64: return NPY_INT64;
    case RM_DTYPE_I16: return NPY_INT16;
    case RM_DTYPE_I8: return NPY_INT8;
    case RM_DTYPE_U8: return NPY_UINT8;
    case RM_DTYPE_F16: return NPY_FLOAT16;
    case RM_DTYPE_BOOL: return NPY_BOOL;
    }
    return -1;
}

PyObject *rmpy_from_frame(const rm_frame *f)
{
    if (intern_names() != 0) return NULL;
    switch (f->kind) {
    case RM_FRAME_AUDIO: {
        int typenum = f->u.audio.format == RM_SAMPLE_F32 ? NPY_FLOAT32
                    : f->u.audio.format == RM_SAMPLE_S16 ? NPY_INT16
                                                         : NPY_INT32;
        npy_intp dims[2] = {(npy_intp)f->u.audio.frames, (npy_intp)f->u.audio.channels};
        PyObject *arr = view_array(f, f->u.audio.channels == 1 ? 1 : 2, dims, typenum, f->u.audio.data);
        if (!arr) return NULL;
        PyObject *a = audio_object(arr, f);
        Py_DECREF(arr);
        return a;
    }
    case RM_FRAME_TEXT: return PyUnicode_DecodeUTF8(f->u.text.data, (Py_ssize_t)f->u.text.len, "replace");
    case RM_FRAME_JSON: {
        char *s = rm_frame_json_dumps(f);
        if (!s) return PyErr_NoMemory();
        PyObject *text = PyUnicode_FromString(s);
        free(s);
        if (!text) return NULL;
        PyObject *v = PyObject_CallOneArg(rmpy.json_loads, text);
        Py_DECREF(text);
        return v;
    }
    case RM_FRAME_BINARY: return PyBytes_FromStringAndSize(f->u.binary.data, (Py_ssize_t)f->u.binary.size);
    case RM_FRAME_TENSOR: {
        int typenum = dtype_typenum(f->u.tensor.dtype);
        if (typenum < 0) return PyErr_Format(PyExc_ValueError, "tensor with unknown dtype %d", (int)f->u.tensor.dtype);
        npy_intp dims[RM_TENSOR_MAX_DIMS];
        for (uint32_t i = 0; i < f->u.tensor.ndim; i++) dims[i] = (npy_intp)f->u.tensor.shape[i];
        return view_array(f, (int)f->u.tensor.ndim, dims, typenum, f->u.tensor.data);
    }
    case RM_FRAME_VIDEO: {
        npy_intp dims[1] = {(npy_intp)f->u.video.size};
        return view_array(f, 1, dims, NPY_UINT8, f->u.video.data);
    }
    }
    return PyErr_Format(PyExc_ValueError, "frame of unknown kind %d", (int)f->kind);
}
