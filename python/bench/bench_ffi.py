"""FFI overhead: run() of a one-node PassThrough pipeline on a 20 ms float32
chunk (960 samples at 48 kHz), against a Python no-op call.  The chunk goes
in and comes back zero-copy, so this is the fixed cost of a call through the
binding: conversion, a session open/push/end/close and the output array.

Usage: /usr/bin/python3 python/bench/bench_ffi.py [iterations]"""
import asyncio
import sys

import numpy as np

from _common import per_call_ns

import remotemedia as rm  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
chunk = rm.Audio(np.zeros(960, dtype=np.float32), 48000)


def noop(x):
    return x


rows = []
base = per_call_ns(lambda: noop(chunk), N)
rows.append(("python no-op call (baseline)", base))
if rm.is_native_runtime_available():
    from remotemedia import _native

    rows.append(("C no-op call (_native.noop)", per_call_ns(lambda: _native.noop(chunk), N)))
    p = rm.Pipeline("ffi", runtime_hint="native").add("PassThrough")
    rows.append(("run_sync(chunk)  native PassThrough", per_call_ns(lambda: p.run_sync(chunk), N)))
    g = p._ensure()
    items = [chunk]
    rows.append(("Graph.run([chunk]) native, no Python wrapper",
                 per_call_ns(lambda: g.run(items, False, None), N)))
q = rm.Pipeline("ffi", runtime_hint="python").add("PassThrough")
rows.append(("run_sync(chunk)  fallback PassThrough", per_call_ns(lambda: q.run_sync(chunk), N // 4)))


async def arun(pipe, n):
    import time
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await pipe.run(chunk)
    return (time.perf_counter_ns() - t0) / n

if rm.is_native_runtime_available():
    rows.append(("await run(chunk) native (worker thread hop)", asyncio.run(arun(p, N // 10))))

print(f"{'call':48s} {'ns/call':>10s} {'added vs no-op':>16s}")
for name, ns in rows:
    print(f"{name:48s} {ns:10.0f} {(ns - base) / 1000:13.2f} µs")
