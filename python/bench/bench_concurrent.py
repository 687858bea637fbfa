"""20 concurrent streaming sessions from one asyncio loop.

Each session streams 20 ms chunks in real time (one every 20 ms) for the
duration; per chunk we measure send -> output latency.  Two workloads:
  audio: 20 ms float32 chunks through PassThrough -> MultiplyNode (cheap: the
         cost is the binding and the loop)
  text:  10 KB text chunks through TextProcessorNode (uppercase, word_count,
         reverse; real native work per chunk, so the pool's threads matter)
Reported: total CPU time / wall time (100% = one core busy), per-chunk p50 and
p99 latency.

Usage: /usr/bin/python3 python/bench/bench_concurrent.py [sessions] [seconds]"""
import asyncio
import os
import resource
import statistics
import sys
import time

import numpy as np

from _common import pct

import remotemedia as rm  # noqa: E402

SESSIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
CHUNKS = int(SECONDS / 0.020)
AUDIO = rm.Audio(np.zeros(960, dtype=np.float32), 48000)
TEXT = ("the quick brown fox jumps over the lazy dog " * 250)[:10000]


async def stream(p, value, lat):
    async with p.session() as s:
        it = s.outputs().__aiter__()
        start = time.perf_counter()
        for i in range(CHUNKS):
            delay = start + i * 0.020 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = time.perf_counter_ns()
            await s.send(value)
            await it.__anext__()
            lat.append(time.perf_counter_ns() - t0)
        await s.end()


async def run(p, value):
    lat = []
    await asyncio.gather(*(stream(p, value, lat) for _ in range(SESSIONS)))
    return lat


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


print(f"{SESSIONS} sessions x {CHUNKS} chunks (real-time pacing, 20 ms), {os.cpu_count()} CPUs")
print(f"{'executor':9s} {'workload':9s} {'CPU/wall':>9s} {'p50 µs':>9s} {'p99 µs':>9s} {'max µs':>9s}")
for hint in (["native"] if rm.is_native_runtime_available() else []) + ["python"]:
    for name, pipe, value in (
            ("audio", rm.Pipeline("a", runtime_hint=hint).add("PassThrough").add("MultiplyNode", factor=2), AUDIO),
            ("text", rm.Pipeline("t", runtime_hint=hint).add("TextProcessorNode",
                                                              operations=["uppercase", "word_count", "reverse"]),
             TEXT)):
        c0, w0 = cpu(), time.perf_counter()
        lat = asyncio.run(run(pipe, value))
        c1, w1 = cpu(), time.perf_counter()
        print(f"{hint:9s} {name:9s} {100 * (c1 - c0) / (w1 - w0):8.0f}% {statistics.median(lat) / 1000:9.0f} "
              f"{pct(lat, 99) / 1000:9.0f} {max(lat) / 1000:9.0f}")
