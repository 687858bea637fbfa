"""Python node in a worker process (isolation: process, the runtime's
PythonNode: memfd rings + eventfds) vs inline (in this interpreter): the
per-frame send -> output round trip for a 20 ms 48 kHz f32 chunk and for a
1 MiB f32 tensor, the time added by the worker (target <= 30 us per 20 ms
frame), and the speed-up of 2 sessions running a CPU-bound Python node in
parallel (inline they share this process's GIL; isolated they do not)."""
import asyncio
import statistics
import sys
import time

import numpy as np

from _common import QUICK, args, note, row, verdict_max

import remotemedia as rm  # noqa: E402
from _pyworker_nodes import BenchBusy, BenchEcho  # noqa: E402

if not rm.is_native_runtime_available() or "python-nodes" not in rm.build_info().get("features", []):
    note("bench_pyworker: native runtime with python-nodes unavailable; skipped")
    sys.exit(0)

N = int(args()[0]) if args() else (200 if QUICK else 2000)
rm.node("BenchEcho", replace=True)(BenchEcho)
rm.node("BenchBusy", replace=True)(BenchBusy)


def pipeline(node_type, isolation, **params):
    n = {"id": "n", "node_type": node_type, "params": params}
    if isolation:
        n["isolation"] = isolation
    return rm.Pipeline.from_dict({"version": "v1", "nodes": [n], "connections": []})


async def rtt(p, value, n):
    lat = []
    async with p.session() as s:
        it = s.outputs().__aiter__()
        for _ in range(40):  # warm-up: worker start, first touches of the ring pages
            await s.send(value)
            await it.__anext__()
        for _ in range(n):
            t0 = time.perf_counter_ns()
            await s.send(value)
            await it.__anext__()
            lat.append(time.perf_counter_ns() - t0)
        await s.end()
    return lat


def compare(label, value, n):
    res = {"inline": [], "process": []}
    for _ in range(2 if QUICK else 5):
        for iso in res:
            res[iso] += asyncio.run(rtt(pipeline("BenchEcho", iso), value, n // 5))
    med = {k: statistics.median(v) / 1000 for k, v in res.items()}
    added = med["process"] - med["inline"]
    note(f"bench_pyworker: {label}: inline {med['inline']:.1f} us, worker {med['process']:.1f} us")
    return med, added


audio = rm.Audio(np.zeros(960, dtype=np.float32), 48000)
med, added = compare("20 ms audio", audio, N)
row("PythonNode worker vs inline: added per 20 ms f32 audio frame (round trip)", f"{added:.1f} us",
    "<= 30 us", f"{added / 30:.2f}", verdict_max(added, 30))
row("PythonNode round trip, 20 ms audio: worker / inline", f"{med['process']:.0f} us",
    f"inline {med['inline']:.0f} us", f"{med['process'] / med['inline']:.2f}", "info")
tensor = np.zeros(1 << 18, dtype=np.float32)  # 1 MiB
med, added = compare("1 MiB tensor", tensor, max(20, N // 10))
row("PythonNode round trip, 1 MiB f32 tensor: worker / inline (added)",
    f"{med['process']:.0f} us (+{added:.0f})", f"inline {med['inline']:.0f} us",
    f"{med['process'] / med['inline']:.2f}", "info")


async def busy(p, frames, ready):
    """Frames through one session once every session's worker is up (worker
    start-up, seconds on a loaded machine, is not what is compared); returns
    (start, end) of the frames."""
    async with p.session() as s:
        it = s.outputs().__aiter__()
        await s.send(1)  # the worker is up and warm
        await it.__anext__()
        await ready.wait()
        t0 = time.perf_counter()
        for _ in range(frames):
            await s.send(1)
            await it.__anext__()
        t1 = time.perf_counter()
        await s.end()
    return t0, t1


async def sessions(iso, k, frames, loops):
    p = pipeline("BenchBusy", iso, loops=loops)
    ready = asyncio.Barrier(k)
    spans = await asyncio.gather(*(busy(p, frames, ready) for _ in range(k)))
    return max(e for _, e in spans) - min(b for b, _ in spans)


def speedup(iso, frames, loops):
    t = {k: min(asyncio.run(sessions(iso, k, frames, loops)) for _ in range(2)) for k in (1, 2)}
    return 2 * t[1] / t[2]


frames, loops = (10, 100000) if QUICK else (40, 200000)
s_proc = speedup("process", frames, loops)
s_inline = speedup("inline", frames, loops)
note(f"bench_pyworker: 2 sessions, CPU-bound Python node: speed-up {s_proc:.2f}x isolated, {s_inline:.2f}x inline")
row("PythonNode: 2 parallel sessions, CPU-bound node, speed-up over 1 (2 cores)", f"{s_proc:.2f}x isolated",
    f"inline {s_inline:.2f}x", f"{s_proc / s_inline:.2f}", "info")
