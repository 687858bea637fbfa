"""Node classes for tests/python_node/run.sh."""
import os
import signal
import time

import numpy as np


class Echo:
    """Returns every input unchanged (audio, tensors, text, json, binary)."""

    def process(self, x):
        return x


class Scale:
    """Audio times `gain`, at the input's rate (a bare array inherits it)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def process(self, audio):
        return (audio.samples * np.float32(self.gain)).astype(audio.samples.dtype)


class Describe:
    """What arrived, as json: kind, rate, channels, dtype, shape."""

    def process(self, x):
        if hasattr(x, "samples"):
            return {"kind": "audio", "rate": x.sample_rate, "channels": x.channels if hasattr(x, "channels")
                    else 1, "dtype": str(x.samples.dtype), "frames": int(x.samples.shape[0])}
        if isinstance(x, np.ndarray):
            return {"kind": "tensor", "dtype": str(x.dtype), "shape": list(x.shape), "sum": float(x.sum())}
        return {"kind": type(x).__name__, "value": x if isinstance(x, (str, int, float, dict, list)) else None}


class CrashOnSecond:
    def __init__(self):
        self.n = 0

    def process(self, x):
        self.n += 1
        if self.n == 2:
            os.kill(os.getpid(), signal.SIGSEGV)
        return x


class Hang:
    def process(self, x):
        while True:
            pass


class Hog:
    def process(self, x):
        blocks = []
        while True:
            blocks.append(bytearray(64 << 20))


class Sleepy:
    """Sleeps `ms` per frame and reports its worker's pid."""

    def __init__(self, ms=0):
        self.ms = ms

    def process(self, x):
        time.sleep(self.ms / 1000.0)
        return {"pid": os.getpid(), "x": x}


class Raises:
    def process(self, x):
        raise ValueError(f"bad input {x!r}")


class NoProcess:
    def run(self, x):
        return x


class Kw:
    """Returns the keyword arguments it was built with."""

    def __init__(self, **kw):
        self.kw = kw

    def process(self, x):
        return self.kw
