"""Python values <-> fallback frames, with the same rules and errors as the
native conversion (python/src/convert.c)."""
from __future__ import annotations

import json
from typing import Any, Optional

import numpy as np

from ..data import Audio
from .nodes import Frame

_AUDIO_DTYPES = (np.dtype(np.float32), np.dtype(np.int16), np.dtype(np.int32))


def _audio(samples: Any, rate: Any) -> Frame:
    if not isinstance(samples, np.ndarray):
        raise TypeError(f"audio samples must be a numpy array, got {type(samples).__name__}")
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise TypeError(f"sample_rate must be an int, got {type(rate).__name__}")
    if rate <= 0 or rate > 10000000:
        raise ValueError(f"sample_rate must be in [1, 10000000] Hz, got {rate}")
    if samples.ndim not in (1, 2):
        raise ValueError(f"audio must have shape (frames,) or (frames, channels), got {samples.ndim} dimensions")
    if samples.dtype.newbyteorder("=") not in _AUDIO_DTYPES or samples.dtype.kind not in "fi":
        raise TypeError(f"audio dtype {samples.dtype} is not supported: use float32, int16 or int32 "
                        f"(convert explicitly, e.g. samples.astype(numpy.float32))")
    if not samples.dtype.isnative:
        raise TypeError("audio samples are not in native byte order: convert with "
                        "samples.astype(samples.dtype.newbyteorder('='))")
    if not samples.flags.c_contiguous or not samples.flags.aligned:
        raise ValueError("audio array is not C-contiguous (a strided slice or a transpose?): pass "
                         "numpy.ascontiguousarray(samples); RemoteMedia never copies audio silently")
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    if channels < 1 or channels > 1024:
        raise ValueError(f"audio must have 1 to 1024 channels, got {channels}")
    view = samples.view()  # no copy; read-only like a shared native frame
    view.flags.writeable = False
    return Frame("audio", Audio(view, int(rate)))


_TENSOR_DTYPES = tuple(np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                               np.float16, np.float32, np.float64))


def _tensor(a: np.ndarray) -> Frame:
    if a.dtype.newbyteorder("=") not in _TENSOR_DTYPES:
        raise TypeError(f"a numpy array of dtype {a.dtype} cannot be a tensor frame (bool, int8, int16, int32, "
                        f"int64, uint8, float16, float32, float64); for audio pass remotemedia.Audio(samples, "
                        f"sample_rate)")
    if not a.dtype.isnative:
        raise TypeError("tensor data is not in native byte order: convert with x.astype(x.dtype.newbyteorder('='))")
    if not a.flags.c_contiguous or not a.flags.aligned:
        raise ValueError("tensor array is not C-contiguous (a strided slice or a transpose?): pass "
                         "numpy.ascontiguousarray(x); RemoteMedia never copies silently")
    if a.ndim > 8:
        raise ValueError(f"a tensor has at most 8 dimensions, got {a.ndim}")
    view = a.view()
    view.flags.writeable = False
    return Frame("tensor", view)


def _audio_props(f: Frame, a: Audio) -> Frame:
    """Audio.timestamp_us / metadata onto the frame (rmpy_audio_props)."""
    ts = getattr(a, "timestamp_us", None)
    if ts is not None:
        if isinstance(ts, bool) or not isinstance(ts, (int, np.integer)):
            raise TypeError(f"Audio.timestamp_us must be an int (µs) or None, got {type(ts).__name__}")
        f.ts = int(ts)
    meta = getattr(a, "metadata", None)
    if meta:
        if not isinstance(meta, dict):
            raise TypeError(f"Audio.metadata must be a dict of str to str, got {type(meta).__name__}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise TypeError("Audio.metadata must map str to str")
        f.meta = dict(f.meta or {}, **meta)
    return f


def to_frame(v: Any, like_rate: Optional[int] = None) -> Frame:
    if isinstance(v, Audio):
        return _audio_props(_audio(v.samples, v.sample_rate), v)
    if isinstance(v, str):
        v.encode("utf-8")  # same UnicodeEncodeError as the native path for lone surrogates
        return Frame("text", v)
    if isinstance(v, bytes):
        return Frame("binary", v)
    if isinstance(v, (bytearray, memoryview)):
        return Frame("binary", bytes(v))
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], np.ndarray) and isinstance(v[1], int):
        return _audio(v[0], v[1])
    if isinstance(v, np.ndarray):
        if like_rate:
            return _audio(v, like_rate)
        return _tensor(v)
    from .._backend import _dumps

    return Frame("json", json.loads(_dumps(v)))  # the same normalisation as the JSON frame path


def from_frame(f: Frame) -> Any:
    if f.kind == "json":
        return json.loads(json.dumps(f.value))  # callers get their own copy, as from native
    if f.kind == "audio":  # a new Audio viewing the same (read-only) samples, with the frame's props
        return Audio(f.value.samples, f.value.sample_rate, f.ts, dict(f.meta) if f.meta else {})
    return f.value
