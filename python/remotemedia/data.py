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
anything else             json (dict, list, int, float, bool, None; strict
                          JSON: NaN/Infinity raise ValueError)
========================  ==================================================

Outputs come back the same way: audio as an ``Audio`` whose ``samples`` is a
read-only numpy array viewing the runtime's frame memory (no copy; the array
keeps the frame alive), text as ``str``, json as Python objects and binary as
``bytes``.
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

__all__ = ["Audio"]


class Audio:
    """An audio chunk: ``samples`` (numpy array, see the module doc) at
    ``sample_rate`` Hz.  Cheap to create: nothing is validated or copied here;
    the checks happen when the chunk enters a pipeline."""

    __slots__ = ("samples", "sample_rate")

    def __init__(self, samples: np.ndarray, sample_rate: int):
        self.samples = samples
        self.sample_rate = sample_rate

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
        return (f"Audio({self.frames} frames x {self.channels} ch, {self.samples.dtype}, "
                f"{self.sample_rate} Hz)")


AudioLike = Tuple[np.ndarray, int]
