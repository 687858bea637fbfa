"""Python asyncio baseline for bench_overhead: a chain of pass-through stages
built the way the original Python engine built pipelines (REFERENCE.md §6.2):
one unbounded asyncio.Queue between consecutive stages, each stage a task
that awaits a coroutine `process(frame)` and forwards the result.

Usage: asyncio_chain.py FRAMES STAGES...
Prints, per STAGES value, "STAGES SECONDS" for pushing FRAMES frames (a
640-byte payload, like a 320-sample s16 frame) from the source queue to the
sink queue.  Setup and teardown are outside the timed region.
"""
import asyncio
import sys
import time

END = object()


async def process(frame):
    return frame


async def stage(inq, outq):
    while True:
        x = await inq.get()
        if x is END:
            await outq.put(END)
            return
        await outq.put(await process(x))


async def run(frames, stages):
    queues = [asyncio.Queue() for _ in range(stages + 1)]
    tasks = [asyncio.create_task(stage(queues[i], queues[i + 1])) for i in range(stages)]
    payload = b"\0" * 640

    async def feed():
        for _ in range(frames):
            await queues[0].put(payload)
        await queues[0].put(END)

    t0 = time.perf_counter()
    feeder = asyncio.create_task(feed())
    while (await queues[-1].get()) is not END:
        pass
    elapsed = time.perf_counter() - t0
    await feeder
    for t in tasks:
        await t
    return elapsed


def main():
    frames = int(sys.argv[1])
    for stages in sys.argv[2:]:
        print(stages, asyncio.run(run(frames, int(stages))), flush=True)


if __name__ == "__main__":
    main()
