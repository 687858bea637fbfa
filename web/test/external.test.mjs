// External nodes (rmw.h): node types implemented in JavaScript, scheduled by
// the wasm executor beside the built-in ones.  The browser's Python nodes
// (web/src/python) are external nodes of this kind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { RemoteMedia, RemoteMediaError } from "../dist/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const wasmBytes = readFileSync(process.env.RMEDIA_WASM || path.join(root, "build/wasm/remotemedia.wasm"));

const calls = [];
const Offset = {
  create(params, nodeId) {
    if (typeof params.offset !== "number") throw new Error(`param 'offset' must be a number, got ${JSON.stringify(params.offset)}`);
    calls.push(`create ${nodeId}`);
    let n = 0;
    return {
      process(input, emit) {
        if (input.kind === "audio") {
          const s = Float32Array.from(input.audio.samples, (v) => v + params.offset);
          emit({ samples: s, sampleRate: input.audio.sampleRate, channels: input.audio.channels }, input.timestampUs);
          return;
        }
        if (input.value === 13) throw new Error("unlucky input 13");
        n++;
        emit(input.value + params.offset);
        emit(`seen ${n}`);
      },
      flush(emit) { emit({ total: n }); },
      reset() { n = 0; },
      dispose() { calls.push(`dispose ${nodeId}`); },
    };
  },
};

async function load() {
  const rm = await RemoteMedia.load(wasmBytes);
  rm.registerExternal("JsOffset", Offset, "adds params.offset");
  return rm;
}

const hybrid = `version: v1
nodes:
  - {id: m, node_type: MultiplyNode, params: {factor: 2}}
  - {id: off, node_type: JsOffset, params: {offset: 1}}
  - {id: add, node_type: AddNode, params: {addend: 10}}
connections:
  - {from: m, to: off}
  - {from: off, to: add}
`;

test("a hybrid graph: wasm → external JS node → wasm, with flush and fini", async () => {
  const rm = await load();
  calls.length = 0;
  const s = rm.open(hybrid);
  for (const v of [5, 7]) s.push(v);
  s.flush();
  const outs = s.takeOutputs();
  s.close();
  // every emitted frame goes on through AddNode (which adds to numbers only)
  const adds = outs.filter((o) => o.node === "add").map((o) => o.value);
  assert.deepEqual(adds.filter((v) => typeof v === "number"), [21, 25]);
  assert.deepEqual(adds.filter((v) => typeof v !== "number"), ["seen 1", "seen 2", { total: 2 }]);
  assert.deepEqual(calls, ["create off", "dispose off"]);
  assert.ok(rm.nodes().some((n) => n.node_type === "JsOffset" || n.name === "JsOffset"));
  rm.dispose();
});

test("an external node's error is the session's located node error", async () => {
  const rm = await load();
  const s = rm.open(hybrid);
  assert.throws(() => s.push(6.5), (e) => e instanceof RemoteMediaError && /node 'off': unlucky input 13/.test(e.message));
  s.close();
  // bad params fail at open, before any frame
  assert.throws(() => rm.open(hybrid.replace("offset: 1", "offset: one")),
    (e) => e instanceof RemoteMediaError && /param 'offset' must be a number/.test(e.message) && /'off'/.test(e.message));
  rm.dispose();
});

test("an unknown type is a located validation error naming the known ones", async () => {
  const rm = await load();
  assert.throws(() => rm.compile(hybrid.replace("JsOffset", "JsOfset"), "hybrid.yaml"),
    (e) => /hybrid\.yaml:4:\d+: error: node 'off': unknown node type 'JsOfset'; did you mean 'JsOffset'\?/.test(e.message));
  assert.throws(() => rm.registerExternal("JsOffset", Offset), /already registered|JsOffset/);
  rm.dispose();
});

test("audio crosses as typed arrays, in and out", async () => {
  const rm = await load();
  const s = rm.open(`version: v1
nodes:
  - {id: off, node_type: JsOffset, params: {offset: 0.5}}
  - {id: g, node_type: Gain, params: {gain: 1.0}}
connections:
  - {from: off, to: g}
`);
  const samples = new Float32Array([0, 0.1, -0.2, 0.25]);
  s.push({ samples, sampleRate: 16000, channels: 1 });
  const out = s.takeOutputs().find((o) => o.kind === "audio");
  s.close();
  assert.ok(out, "no audio output");
  assert.ok(out.audio.samples instanceof Float32Array);
  assert.deepEqual(Array.from(out.audio.samples), Array.from(samples, (v) => Math.fround(v + 0.5)));
  rm.dispose();
});
