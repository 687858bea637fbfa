"""FFI overhead: run_sync() of a one-node PassThrough pipeline on a 20 ms
float32 chunk (960 samples at 48 kHz), against a Python no-op call taking
and returning the same chunk.  The chunk goes in and comes back zero-copy, so
the difference is the fixed cost of a call through the binding: the
conversion both ways, a session open / push / end / close and the output
Audio.  Target (issue 5): at most 2 us added per call.

The variants run interleaved, round after round, and each row is the median
over the rounds.

Usage: /usr/bin/python3 python/bench/bench_ffi.py [--quick] [calls per round]"""
import asyncio
import time

import numpy as np

from _common import QUICK, args, interleaved, note, row, verdict_max

import remotemedia as rm  # noqa: E402

N = int(args()[0]) if args() else (2000 if QUICK else 20000)
ROUNDS = 3 if QUICK else 15
chunk = rm.Audio(np.zeros(960, dtype=np.float32), 48000)


def noop(x):
    return x


q = rm.Pipeline("ffi", runtime_hint="python").add("PassThrough")
ours = None
if not rm.is_native_runtime_available():
    note("bench_ffi: the native extension is not loaded; only the fallback is measured")
    base, fb = interleaved([lambda: noop(chunk), lambda: q.run_sync(chunk)], max(N // 10, 200), ROUNDS)
else:
    from remotemedia import _native

    p = rm.Pipeline("ffi", runtime_hint="native").add("PassThrough")
    g = p._ensure()
    items = [chunk]
    assert p.run_sync(chunk).samples.ctypes.data == chunk.samples.ctypes.data  # zero copy both ways
    base, cnoop, ours, graph = interleaved(
        [lambda: noop(chunk), lambda: _native.noop(chunk), lambda: p.run_sync(chunk),
         lambda: g.run(items, False, None)], N, ROUNDS)
    (fb,) = interleaved([lambda: q.run_sync(chunk)], max(N // 10, 200), ROUNDS)

    async def arun(n):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await p.run(chunk)
        return (time.perf_counter_ns() - t0) / n

    hop = asyncio.run(arun(max(N // 10, 200)))
    added = (ours - base) / 1000.0
    note(f"bench_ffi: no-op {base:.0f} ns, C no-op {cnoop:.0f} ns, run_sync {ours:.0f} ns, Graph.run {graph:.0f} ns, "
         f"fallback {fb:.0f} ns, await run {hop:.0f} ns ({N} calls x {ROUNDS} rounds)")
    row("Python: run_sync() of a PassThrough on a 20 ms f32 chunk, added vs a Python no-op call",
        f"{added:.2f} us", "target <= 2 us", f"{added / 2.0:.2f}", verdict_max(added, 2.0))
    row("  run_sync() / Python no-op call / C no-op call (_native.noop), per call",
        f"{ours / 1000:.2f} us", f"{base:.0f} / {cnoop:.0f} ns", "-", "info")
    row("  of which the Pipeline wrapper (run_sync - Graph.run)", f"{(ours - graph) / 1000:.2f} us", "-", "-", "info")
    row("  await run() (worker-thread hop), per call", f"{hop / 1000:.1f} us", "-", "-", "info")
row("Python: run_sync() of a PassThrough, fallback executor, per call", f"{fb / 1000:.1f} us",
    f"native {ours / 1000:.2f} us" if ours else "-", f"{fb / ours:.1f}" if ours else "-", "info")
