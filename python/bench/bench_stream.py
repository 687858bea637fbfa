"""Streaming round trip: send one 20 ms float32 chunk into an open session
and wait for its output, chunk after chunk (one session, one asyncio loop).

Usage: /usr/bin/python3 python/bench/bench_stream.py [chunks]"""
import asyncio
import statistics
import sys
import time

import numpy as np

from _common import pct

import remotemedia as rm  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
chunk = rm.Audio(np.zeros(960, dtype=np.float32), 48000)


async def rtt(hint):
    p = rm.Pipeline("rtt", runtime_hint=hint).add("PassThrough")
    lat = []
    async with p.session() as s:
        it = s.outputs().__aiter__()
        for i in range(N):
            t0 = time.perf_counter_ns()
            await s.send(chunk)
            await it.__anext__()
            lat.append(time.perf_counter_ns() - t0)
        await s.end()
    return lat


print(f"{'executor':10s} {'chunks':>7s} {'median µs':>10s} {'p99 µs':>8s}")
for hint in (["native"] if rm.is_native_runtime_available() else []) + ["python"]:
    lat = asyncio.run(rtt(hint))[N // 10:]  # skip warm-up
    print(f"{hint:10s} {len(lat):7d} {statistics.median(lat) / 1000:10.1f} {pct(lat, 99) / 1000:8.1f}")
