"""Streaming round trip: send one 20 ms float32 chunk into an open session
and wait for its output, chunk after chunk (one session, one asyncio loop,
a PassThrough).  On the native runtime the chunk crosses to the shared
thread pool and the output comes back through the session's event fd, so
this is the cost of two thread hand-offs plus the asyncio wake-up; the
fallback runs the graph on the session's own worker thread.

Usage: /usr/bin/python3 python/bench/bench_stream.py [--quick] [chunks]"""
import asyncio
import statistics
import time

import numpy as np

from _common import QUICK, args, note, pct, row

import remotemedia as rm  # noqa: E402

N = int(args()[0]) if args() else (500 if QUICK else 5000)
chunk = rm.Audio(np.zeros(960, dtype=np.float32), 48000)


async def rtt(hint, n):
    p = rm.Pipeline("rtt", runtime_hint=hint).add("PassThrough")
    lat = []
    async with p.session() as s:
        it = s.outputs().__aiter__()
        for _ in range(n):
            t0 = time.perf_counter_ns()
            await s.send(chunk)
            await it.__anext__()
            lat.append(time.perf_counter_ns() - t0)
        await s.end()
    return lat[n // 10:]  # without the warm-up


hints = (["native"] if rm.is_native_runtime_available() else []) + ["python"]
lat = {h: [] for h in hints}
for _ in range(2 if QUICK else 5):  # interleaved rounds
    for h in hints:
        lat[h] += asyncio.run(rtt(h, N // 5))
res = {h: (statistics.median(v) / 1000, pct(v, 99) / 1000) for h, v in lat.items()}
for h, (p50, p99) in res.items():
    note(f"bench_stream: {h}: {len(lat[h])} chunks, p50 {p50:.1f} us, p99 {p99:.1f} us")
if "native" in res:
    n50, n99 = res["native"]
    f50, f99 = res["python"]
    row("Python: streaming send -> output round trip, 20 ms f32 chunk, native, p50 / p99",
        f"{n50:.0f} / {n99:.0f} us", f"fallback {f50:.0f} / {f99:.0f} us", f"{n50 / f50:.2f}", "info")
else:
    f50, f99 = res["python"]
    row("Python: streaming send -> output round trip, 20 ms f32 chunk, fallback, p50 / p99",
        f"{f50:.0f} / {f99:.0f} us", "-", "-", "info")
