"""The README's examples, runnable: /usr/bin/python3 python/examples/quickstart.py"""
import asyncio
import os

import numpy as np

import remotemedia as rm

HERE = os.path.dirname(os.path.abspath(__file__))

# --- 1. a manifest, unary run ------------------------------------------------
calc = rm.Pipeline.from_yaml(os.path.join(HERE, "calc.yaml"), enable_metrics=True)
print(calc.run_sync(5))                       # 20
print(calc.run_sync([1, 2, [3, 4]]))          # [12, 14, [16, 18]]   (a list = several inputs)
m = calc.get_metrics()
print(sorted(m["node_metrics"]), m["node_metrics"]["add"]["calls"])  # ['add', 'multiply'] 3

# --- 2. a builder chain, audio in and out without copies ---------------------
tap = rm.Pipeline("tap").add("PassThrough")
chunk = np.zeros(960, dtype=np.float32)       # 20 ms at 48 kHz
out = tap.run_sync(rm.Audio(chunk, 48000))
print(out, out.samples.ctypes.data == chunk.ctypes.data)  # ... True: the same memory


# --- 3. a Python node inside a native graph -----------------------------------
@rm.node("Scale", doc="Scales audio by a constant")
class Scale:
    gain = rm.Param(float, 1.0, min=0.0, max=10.0, doc="linear factor")

    def __init__(self, gain: float):
        self.gain = gain

    def process(self, audio: rm.Audio):
        return audio.samples * np.float32(self.gain)   # a bare array keeps the input's rate


loud = rm.Pipeline("loud").add("Scale", gain=2.0).add("PassThrough")
print(loud.run_sync(rm.Audio(np.full(4, 0.25, np.float32), 16000)).samples)  # [0.5 0.5 0.5 0.5]


# --- 4. streaming, with barge-in ----------------------------------------------
async def stream():
    sentences = rm.Pipeline("sentences").add("TextCollectorNode")
    async with sentences.session() as s:
        await s.send("An interrupted thou")
        await s.reset()                           # barge-in: drop what is buffered or queued
        for piece in ["Hello wor", "ld. How are", " you? Fine"]:
            await s.send(piece)
        await s.end()                             # end of stream: nodes flush
        async for text in s.outputs():
            print(text)                           # Hello world. / How are you? / Fine
        print(s.metrics()["frames_out"])   # 3 (the sentences delivered)

    print(await calc.run(1))                     # 12, from asyncio (GIL released while native code runs)

asyncio.run(stream())

# --- 5. errors are exceptions --------------------------------------------------
try:
    rm.Pipeline("div").add("CalculatorNode").run_sync({"operation": "divide", "operands": [1, 0]})
except rm.NodeError as e:
    print(e.node_id, e.code, e.message)          # calculator RM_ENODE division by zero
try:
    rm.Pipeline("bad").add("MultiplyNode", factr=2).run_sync(1)
except rm.ManifestError as e:
    print(e.diagnostics[0]["message"])           # unknown parameter 'factr' for MultiplyNode; did you mean 'factor'? ...

print(rm.runtime_info()["executor"], len(rm.nodes()) >= 6)
