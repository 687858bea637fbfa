"""Streaming sessions: send / outputs / end, multiple sinks, barge-in reset,
per-session metrics, errors, and many concurrent sessions on one loop."""
import asyncio
import threading

import numpy as np
import pytest

import remotemedia as rm
from conftest import manifest, needs_native


def test_send_end_outputs(hint):
    async def main():
        p = rm.Pipeline.from_dict(manifest(("s", "TextCollectorNode", None)), runtime_hint=hint)
        async with p.session() as s:
            for piece in ["Hello wor", "ld. How are", " you? Fine"]:
                await s.send(piece)
            await s.end()
            outs = [x async for x in s.outputs()]
            m = s.metrics()
        assert outs == ["Hello world.", "How are you?", "Fine"]
        assert m["status"] == "ended" and m["frames_in"] == 3 and m["frames_out"] == 3
        assert m["node_metrics"]["s"]["calls"] == 4  # three pieces and the flush
        assert m["node_metrics"]["s"]["p99_us"] >= m["node_metrics"]["s"]["p50_us"] >= 0

    asyncio.run(main())


def test_consumer_task_and_multiple_sinks(hint):
    async def main():
        m = manifest(("src", "PassThrough", None), ("x2", "MultiplyNode", {"factor": 2}),
                     ("p1", "AddNode", {"addend": 1}),
                     connections=[{"from": "src", "to": "x2"}, {"from": "src", "to": "p1"}])
        p = rm.Pipeline.from_dict(m, runtime_hint=hint)
        got = []
        async with p.session() as s:
            async def consume():
                async for item in s.outputs():
                    got.append(item)

            task = asyncio.create_task(consume())
            for i in range(20):
                await s.send(i)
            await s.end()
            await task
        assert sorted(v for k, v in got if k == "x2") == [2 * i for i in range(20)]
        assert [v for k, v in got if k == "p1"] == [i + 1 for i in range(20)]

    asyncio.run(main())


def test_reset_drops_buffered_state(hint):
    async def main():
        p = rm.Pipeline.from_dict(manifest(("s", "TextCollectorNode", None)), runtime_hint=hint)
        async with p.session() as s:
            await s.send("Stale words that were interr")
            await s.reset()  # barge-in
            await s.send("Fresh start. Again")
            await s.end()
            assert [x async for x in s.outputs()] == ["Fresh start.", "Again"]

    asyncio.run(main())


@needs_native
def test_reset_drops_queued_work(register):
    """Frames queued behind a slow node are dropped by reset(); nothing from
    them is delivered later."""
    gate = threading.Event()

    @register("Slow", blocking=True)
    class Slow:
        def process(self, x):
            gate.wait(30)
            return x

    async def main():
        p = rm.Pipeline("slow", runtime_hint="native").add("Slow")
        async with p.session() as s:
            for i in range(5):
                await s.send(i)  # 0 is in process(), 1..4 queued
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, gate.set)
            await s.reset()
            await s.send(100)
            await s.end()
            outs = [x async for x in s.outputs()]
            ran = s.metrics()["node_metrics"]["slow"]["frames_in"]
        assert outs == [100]
        assert ran <= 2  # at most the in-flight frame and the new one: the queued ones never ran

    asyncio.run(main())


def test_errors_surface(hint):
    async def main():
        p = rm.Pipeline.from_dict(manifest(("c", "CalculatorNode", None)), runtime_hint=hint)
        with pytest.raises(rm.NodeError) as e:
            async with p.session() as s:
                await s.send({"operation": "add", "operands": [1, 2]})
                await s.send({"operation": "divide", "operands": [1, 0]})
                await s.send({"operation": "add", "operands": [3, 4]})
                await s.end()
        assert e.value.node_id == "c" and "division by zero" in e.value.message

    asyncio.run(main())


def test_send_after_end_raises(hint):
    async def main():
        p = rm.Pipeline("p", runtime_hint=hint).add("PassThrough")
        async with p.session() as s:
            await s.end()
            with pytest.raises(rm.RemoteMediaError, match="ended"):
                await s.send(1)

    asyncio.run(main())


def test_many_concurrent_sessions(hint):
    async def one(p, k):
        async with p.session() as s:
            for i in range(50):
                await s.send([k, i])
            await s.end()
            return [x async for x in s.outputs()]

    async def main():
        p = rm.Pipeline("c", runtime_hint=hint).add("MultiplyNode", factor=3)
        results = await asyncio.gather(*(one(p, k) for k in range(12)))
        for k, outs in enumerate(results):
            assert outs == [[3 * k, 3 * i] for i in range(50)]

    asyncio.run(main())


def test_audio_stream_zero_copy(hint):
    async def main():
        p = rm.Pipeline("a", runtime_hint=hint).add("PassThrough")
        chunks = [np.full(320, i, dtype=np.float32) for i in range(10)]
        async with p.session() as s:
            for c in chunks:
                await s.send(rm.Audio(c, 16000))
            await s.end()
            outs = [x async for x in s.outputs()]
        assert [o.samples.__array_interface__["data"][0] for o in outs] == \
               [c.__array_interface__["data"][0] for c in chunks]

    asyncio.run(main())


def test_run_async_and_metrics(hint):
    async def main():
        p = rm.Pipeline("m", runtime_hint=hint, enable_metrics=True).add("MultiplyNode", factor=2).add(
            "AddNode", addend=1)
        assert await p.run([1, 2, 3]) == [3, 5, 7]
        m = p.get_metrics()
        assert m["total_duration_us"] > 0 and set(m["node_metrics"]) == {"multiply", "add"}
        assert m["node_metrics"]["add"]["calls"] == 3
        assert {"p50_us", "p99_us", "mean_us"} <= set(m["node_metrics"]["add"])
        q = rm.Pipeline("m", runtime_hint=hint).add("PassThrough")
        await q.run(1)
        assert q.get_metrics() is None  # metrics not enabled

    asyncio.run(main())
