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


def to_frame(v: Any, like_rate: Optional[int] = None) -> Frame:
    if isinstance(v, Audio):
        return _audio(v.samples, v.sample_rate)
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
        raise TypeError("a numpy array needs a sample rate: pass remotemedia.Audio(samples, sample_rate) "
                        "or a (samples, sample_rate) tuple")
    from .._backend import _dumps

    return Frame("json", json.loads(_dumps(v)))  # the same normalisation as the JSON frame path


def from_frame(f: Frame) -> Any:
    if f.kind == "json":
        return json.loads(json.dumps(f.value))  # callers get their own copy, as from native
    return f.value
