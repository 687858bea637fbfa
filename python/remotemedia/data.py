"""Data conventions between Python and pipelines.

========================  ==================================================
Python value              frame
========================  ==================================================
``Audio(samples, rate)``  audio; ``samples`` is a numpy array of float32,
or ``(samples, rate)``    int16 or int32, shape ``(frames,)`` (mono) or
                          ``(frames, channels)`` (interleaved).  Wrapped
                          without a copy when C-contiguous; any other array
                          raises (TypeError for the dtype, ValueError for the
                          layout) — convert explicitly with
                          ``numpy.ascontiguousarray(x, dtype=numpy.float32)``.
``str``                   text
``bytes``                 binary (wrapped, zero copy)
``bytearray/memoryview``  binary (copied: the buffer is mutable)
a bare numpy array        tensor (wrapped, zero copy when C-contiguous;
                          bool, int8/16/32/64, uint8, float16/32/64, up to
                          8 dimensions).  Exception: what a Python node
                          returns for an audio input is audio at the
                          input's rate.
anything else             json (dict, list, int, float, bool, None; strict
                          JSON: NaN/Infinity raise ValueError)
========================  ==================================================

Outputs come back the same way: audio as an ``Audio`` whose ``samples`` is a
read-only numpy array viewing the runtime's frame memory (no copy; the array
keeps the frame alive), tensors as read-only numpy arrays (also views), text
as ``str``, json as Python objects and binary as ``bytes``.

An ``Audio`` also carries the frame's ``timestamp_us`` (presentation time in
µs, None when the frame has none) and ``metadata`` (a dict of str to str):
audio nodes stamp their outputs from the sample count, and e.g. the
SpeechSegmenter puts start_ms / end_ms / duration_ms / part there.  Set them
on an input Audio to give the frame a timestamp and metadata.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

__all__ = ["Audio"]


class Audio:
    """An audio chunk: ``samples`` (numpy array, see the module doc) at
    ``sample_rate`` Hz, with the frame's ``timestamp_us`` (None = none) and
    ``metadata``.  Cheap to create: nothing is validated or copied here; the
    checks happen when the chunk enters a pipeline.  Equality compares rate
    and samples only."""

    __slots__ = ("samples", "sample_rate", "timestamp_us", "metadata")

    def __init__(self, samples: np.ndarray, sample_rate: int, timestamp_us: Optional[int] = None,
                 metadata: Optional[Dict[str, str]] = None):
        self.samples = samples
        self.sample_rate = sample_rate
        self.timestamp_us = timestamp_us
        self.metadata: Dict[str, str] = {} if metadata is None else metadata

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.frames / float(self.sample_rate)

    def __iter__(self):  # allows `samples, rate = audio`
        return iter((self.samples, self.sample_rate))

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Audio):
            return NotImplemented
        return (self.sample_rate == other.sample_rate and self.samples.dtype == other.samples.dtype
                and self.samples.shape == other.samples.shape
                and bool(np.array_equal(self.samples, other.samples)))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        ts = "" if self.timestamp_us is None else f", t={self.timestamp_us / 1000.0:g} ms"
        return (f"Audio({self.frames} frames x {self.channels} ch, {self.samples.dtype}, "
                f"{self.sample_rate} Hz{ts})")


AudioLike = Tuple[np.ndarray, int]
