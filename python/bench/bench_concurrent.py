"""20 concurrent streaming sessions from one asyncio loop.

Each session streams 20 ms chunks in real time (one every 20 ms) and waits
for each chunk's output; per chunk we measure send -> output latency.  Two
workloads:
  audio: 20 ms stereo 48 kHz f32 chunks through AudioResample 16 kHz -> VAD ->
         FormatConverter s16 (the preprocessing chain: real DSP per chunk)
  text:  10 KB text chunks through TextProcessorNode (uppercase, word_count,
         reverse)
Reported: the process's CPU time / wall time (100 % = one core busy) and
per-chunk p50 / p99 latency, on the native runtime and on the fallback.

Usage: /usr/bin/python3 python/bench/bench_concurrent.py [--quick] [sessions] [seconds]"""
import asyncio
import os
import statistics
import time

import numpy as np

from _common import QUICK, args, cpu_seconds, note, pct, row

import remotemedia as rm  # noqa: E402

A = args()
SESSIONS = int(A[0]) if A else 20
SECONDS = float(A[1]) if len(A) > 1 else (1.0 if QUICK else 5.0)
CHUNKS = int(SECONDS / 0.020)
_t = np.arange(960) / 48000
AUDIO = rm.Audio(np.ascontiguousarray(np.stack([0.3 * np.sin(2 * np.pi * 440 * _t)] * 2, 1).astype(np.float32)),
                 48000)
TEXT = ("the quick brown fox jumps over the lazy dog " * 250)[:10000]
CHAIN = {"version": "v1", "nodes": [
    {"id": "r", "node_type": "AudioResample", "params": {"target_rate": 16000, "low_latency": True}},
    {"id": "v", "node_type": "VAD", "params": {"frame_ms": 20}},
    {"id": "s16", "node_type": "FormatConverter", "params": {"target_format": "s16"}}],
    "connections": [{"from": "r", "to": "v"}, {"from": "v", "to": "s16"}]}


async def stream(p, value, lat, lag):
    """Sends a chunk every 20 ms; a consumer task stamps each output against
    the latest send (a resampler may hold audio back or merge chunks, so
    outputs are not one per input)."""
    async with p.session() as s:
        last = [0]

        async def consume():
            async for _ in s.outputs():
                lat.append(time.perf_counter_ns() - last[0])

        reader = asyncio.ensure_future(consume())
        start = time.perf_counter()
        for i in range(CHUNKS):
            delay = start + i * 0.020 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lag.append(-delay)
            last[0] = time.perf_counter_ns()
            await s.send(value)
        await s.end()
        await reader


async def run(p, value):
    lat, lag = [], []
    await asyncio.gather(*(stream(p, value, lat, lag) for _ in range(SESSIONS)))
    return lat, lag


note(f"bench_concurrent: {SESSIONS} sessions x {CHUNKS} chunks (real-time pacing, 20 ms), {os.cpu_count()} CPUs")
for hint in (["native"] if rm.is_native_runtime_available() else []) + ["python"]:
    for name, pipe, value in (("audio chain", rm.Pipeline.from_dict(CHAIN, runtime_hint=hint), AUDIO),
                              ("text", rm.Pipeline("t", runtime_hint=hint).add(
                                  "TextProcessorNode", operations=["uppercase", "word_count", "reverse"]), TEXT)):
        c0, w0 = cpu_seconds(), time.perf_counter()
        lat, lag = asyncio.run(run(pipe, value))
        c1, w1 = cpu_seconds(), time.perf_counter()
        cpu = 100 * (c1 - c0) / (w1 - w0)
        p50, p99 = statistics.median(lat) / 1000, pct(lat, 99) / 1000
        late = 100.0 * len(lag) / (SESSIONS * CHUNKS)
        note(f"bench_concurrent: {hint} {name}: CPU {cpu:.0f} %, p50 {p50:.0f} us, p99 {p99:.0f} us, "
             f"max {max(lat) / 1000:.0f} us, sends behind schedule {late:.1f} %")
        row(f"Python: {SESSIONS} concurrent real-time sessions, one asyncio loop, {name}, {hint}: CPU / p50 / p99",
            f"{cpu:.0f} % / {p50:.0f} / {p99:.0f} us", "real time: 20 ms per chunk", f"{p99 / 20000:.3f}",
            "keeps up" if late < 1.0 and p99 < 20000 else f"FALLS BEHIND ({late:.0f} % late)")
