"""Node classes of bench_pyworker.py (a module the worker can import)."""
import remotemedia as rm


class BenchEcho:
    def process(self, x):
        return x


class BenchBusy:
    """About `loops` iterations of pure-Python work per frame (holds the GIL)."""

    loops = rm.Param(int, 200000)

    def __init__(self, loops=200000):
        self.loops = loops

    def process(self, x):
        s = 0
        for i in range(self.loops):
            s += i * i
        return s & 0xFF
