// Python nodes in Pyodide (web/src/python.ts) as external nodes of the wasm
// executor, under Node: the browser runs the same code in a Web Worker
// (tests/browser drives that).  The seed's nodes, user nodes with the
// package's API (sync, generator, async generator, Params), PythonNode
// (class: module:Class), hybrid graphs with audio, and the error messages.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { RemoteMedia, RemoteMediaError } from "../dist/index.js";
import { PythonHost } from "../dist/python.js";
import { loadPyodide } from "pyodide";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const wasmBytes = readFileSync(process.env.RMEDIA_WASM || path.join(root, "build/wasm/remotemedia.wasm"));
let py;
before(async () => {
  py = await PythonHost.load({ pyodide: await loadPyodide() });
  py.addFiles({
    "user_nodes.py": `
import asyncio
import remotemedia

@remotemedia.node("Shout")
class Shout:
    suffix = remotemedia.Param(str, "!", doc="appended")
    times = remotemedia.Param(int, 1, min=1, max=3)

    def process(self, text):
        for _ in range(self.times):
            yield text.upper() + self.suffix

@remotemedia.node("Halve")
class Halve:
    async def process(self, audio):
        await asyncio.sleep(0)
        return remotemedia.Audio([s / 2 for s in audio.samples], audio.sample_rate,
                                 timestamp_us=audio.timestamp_us)

@remotemedia.node("Counter")
class Counter:
    def __init__(self):
        self.n = 0
    async def process(self, x):
        self.n += 1
        yield {"count": self.n, "value": x}
    def flush(self):
        return {"total": self.n}
    def reset(self):
        self.n = 0

@remotemedia.node("Broken")
class Broken:
    def process(self, x):
        return {"ratio": 1 / x}

class Plain:
    def __init__(self, prefix="> "):
        self.prefix = prefix
    def process(self, text):
        return self.prefix + text
`,
  });
  py.importModule("user_nodes");
});

async function load() {
  const rm = await RemoteMedia.load(wasmBytes);
  py.attach(rm);
  return rm;
}

function run(rm, manifest, inputs) {
  const s = rm.open(manifest);
  try {
    for (const v of inputs) s.push(v);
    s.flush();
    return s.takeOutputs();
  } finally {
    s.close();
  }
}

test("the seed's Python nodes: PyTextProcessorNode and DataTransformNode", async () => {
  const rm = await load();
  const out = run(rm, {
    version: "v1",
    nodes: [{ id: "t", node_type: "PyTextProcessorNode", params: { operations: ["uppercase", "word_count", "reverse"] } }],
  }, [{ text: "Hello WASM" }, "Python in Browser"]);
  assert.deepEqual(out.map((o) => o.value), [
    { original_text: "Hello WASM", results: { uppercase: "HELLO WASM", word_count: 2, reverse: "MSAW olleH" }, processed_by: "TextProcessorNode" },
    { original_text: "Python in Browser", results: { uppercase: "PYTHON IN BROWSER", word_count: 3, reverse: "resworB ni nohtyP" }, processed_by: "TextProcessorNode" },
  ]);
  const d = run(rm, { version: "v1", nodes: [{ id: "d", node_type: "DataTransformNode", params: { operation: "double" } }] },
    [4, [1, 2.5], { a: 1 }]);
  assert.deepEqual(d.map((o) => o.value), [8, [2, 5], { operation: "double", input: { a: 1 }, processed_by: "DataTransformNode" }]);
  rm.dispose();
});

test("hybrid: MultiplyNode (wasm) → DataTransformNode (Python) → AddNode (wasm)", async () => {
  const rm = await load();
  const out = run(rm, `version: v1
nodes:
  - {id: mul, node_type: MultiplyNode, params: {factor: 3}}
  - {id: py, node_type: DataTransformNode, params: {operation: increment}}
  - {id: add, node_type: AddNode, params: {addend: 10}}
connections:
  - {from: mul, to: py}
  - {from: py, to: add}
`, [5, 7, 10]);
  assert.deepEqual(out.map((o) => o.value), [26, 32, 41]); // (x*3+1)+10
  const m = rm.open("version: v1\nnodes:\n  - {id: a, node_type: MultiplyNode, params: {factor: 2}}\n  - {id: b, node_type: DataTransformNode}\nconnections:\n  - {from: a, to: b}\n");
  m.push(1);
  const metrics = m.metrics();
  m.close();
  assert.ok(metrics.node_metrics?.b, "per-node metrics include the Python node");
  rm.dispose();
});

test("user nodes: Params, generators, async generators, flush and reset", async () => {
  const rm = await load();
  assert.deepEqual(run(rm, { version: "v1", nodes: [{ id: "s", node_type: "Shout", params: { suffix: "?", times: 2 } }] }, ["hi"])
    .map((o) => o.value), ["HI?", "HI?"]);
  assert.deepEqual(run(rm, { version: "v1", nodes: [{ id: "c", node_type: "Counter" }] }, ["a", "b"]).map((o) => o.value),
    [{ count: 1, value: "a" }, { count: 2, value: "b" }, { total: 2 }]);
  // PythonNode with class: module:Class, as natively; other keys are the class's params
  assert.deepEqual(run(rm, { version: "v1", nodes: [{ id: "p", node_type: "PythonNode", params: { class: "user_nodes:Plain", prefix: "# " } }] }, ["x"])
    .map((o) => o.value), ["# x"]);
  rm.dispose();
});

test("audio crosses into Python and back as typed arrays, beside wasm audio nodes", async () => {
  const rm = await load();
  const samples = new Float32Array(320).map((_, i) => Math.sin(i / 5) * 0.5);
  const out = run(rm, `version: v1
nodes:
  - {id: h, node_type: Halve}
  - {id: g, node_type: Gain, params: {gain: 2.0}}
connections:
  - {from: h, to: g}
`, [{ samples, sampleRate: 16000, channels: 1 }]);
  const a = out.find((o) => o.kind === "audio");
  assert.ok(a);
  assert.ok(a.audio.samples instanceof Float32Array);
  assert.equal(a.audio.samples.length, 320);
  let maxErr = 0;
  for (let i = 0; i < 320; i++) maxErr = Math.max(maxErr, Math.abs(a.audio.samples[i] - samples[i]));
  assert.ok(maxErr < 1e-6, `max error ${maxErr}`);
  rm.dispose();
});

test("errors: a Python exception, a bad param, an unknown type", async () => {
  const rm = await load();
  const s = rm.open({ version: "v1", nodes: [{ id: "b", node_type: "Broken" }] });
  assert.throws(() => s.push(0), (e) => e instanceof RemoteMediaError &&
    /node 'b': ZeroDivisionError: division by zero \(in process\(\) of Python node Broken 'b', at .*user_nodes\.py:\d+ in process\)/.test(e.message));
  s.close();
  assert.throws(() => rm.open({ version: "v1", nodes: [{ id: "s", node_type: "Shout", params: { times: 9 } }] }),
    (e) => /node 's' \(Shout\): param 'times': above the maximum 3, got 9/.test(e.message));
  assert.throws(() => rm.open({ version: "v1", nodes: [{ id: "s", node_type: "Shout", params: { volume: 9 } }] }),
    (e) => /unknown param 'volume' \(known: suffix, times\)/.test(e.message));
  assert.throws(() => rm.compile("version: v1\nnodes:\n  - id: s\n    node_type: Shuot\n", "hybrid.yaml"),
    (e) => /hybrid\.yaml:4:16: error: node 's': unknown node type 'Shuot'; did you mean 'Shout'\?/.test(e.message));
  assert.throws(() => rm.open({ version: "v1", nodes: [{ id: "p", node_type: "PythonNode", params: { class: "user_nodes:Nope" } }] }),
    (e) => /module 'user_nodes' has no class 'Nope'/.test(e.message));
  assert.throws(() => py.run("import remotemedia\n@remotemedia.node('X')\nclass X:\n    pass\n"),
    /needs a process\(self, data\) method/);
  rm.dispose();
});
