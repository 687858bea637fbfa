// The wasm library through the TypeScript package, against the native rmedia
// CLI: identical results for math/text, identical validation and node error
// messages.  RMEDIA_WASM / RMEDIA_NATIVE override the paths (make test-wasm
// passes them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { PipelineRunner, RemoteMedia, RemoteMediaError } from "../dist/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const wasmPath = process.env.RMEDIA_WASM || path.join(root, "build/wasm/remotemedia.wasm");
const native = process.env.RMEDIA_NATIVE ||
  [path.join(root, "build/asan/rmedia"), path.join(root, "build/release/rmedia")].find(existsSync);
assert.ok(native, "no native rmedia (set RMEDIA_NATIVE)");
const wasmBytes = readFileSync(wasmPath);

function rmedia(args, input = "") {
  const r = spawnSync(native, args, { cwd: root, input, encoding: "utf8", env: { ...process.env, RMEDIA_PLUGIN_PATH: "" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const src = (p) => readFileSync(path.join(root, p), "utf8");

test("calculator: execute() equals native rmedia run", async () => {
  const runner = new PipelineRunner();
  await runner.loadWasm(wasmBytes);
  const { result, metrics } = await runner.execute(JSON.parse(src("examples/calculator.json")), [5, 7, 3]);
  const nat = rmedia(["run", "examples/calculator.json"], "[5,7,3]");
  assert.equal(nat.code, 0);
  assert.deepEqual(result.outputs, JSON.parse(nat.out));
  assert.equal(JSON.stringify(result.outputs), nat.out.trim()); // byte-identical serialisation
  assert.equal(result.status, "success");
  assert.equal(result.graph_info.sink_count, 1);
  assert.ok(metrics.executionTimeMs >= 0 && metrics.totalTimeMs >= metrics.executionTimeMs);
  assert.ok(metrics.pipeline.node_metrics);
});

test("YAML calculator with floats and a queued connection equals native", async () => {
  const runner = new PipelineRunner();
  await runner.loadWasm(wasmBytes);
  const inputs = [1, 2, 3.5, -4];
  const { result } = await runner.execute(src("tests/wasm/calculator.yaml"), inputs);
  const nat = rmedia(["run", "tests/wasm/calculator.yaml", "--format", "values"], inputs.join("\n") + "\n");
  assert.equal(nat.code, 0);
  assert.equal(result.outputs.map((v) => JSON.stringify(v)).join("\n"), nat.out.trim());
});

test("text nodes on streamed UTF-8 pieces equal native, in the same order", async () => {
  const runner = new PipelineRunner();
  await runner.loadWasm(wasmBytes);
  const input = src("tests/wasm/text.input");
  const pieces = input.trim().split("\n").map((l) => JSON.parse(l));
  const { result } = await runner.execute(src("tests/wasm/text.json"), pieces);
  const nat = rmedia(["run", "tests/wasm/text.json"], input);
  assert.equal(nat.code, 0);
  const lines = nat.out.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(result.details.length, lines.length);
  result.details.forEach((o, i) => {
    assert.equal(o.node, lines[i].node);
    assert.equal(o.port, lines[i].port);
    assert.equal(JSON.stringify(o.value), JSON.stringify(lines[i].value));
  });
});

test("loaded from a URL: streamed when served as application/wasm, from the bytes otherwise; an HTTP error by name", async () => {
  const server = createServer((req, res) => {
    const type = { "/wasm": "application/wasm", "/octet": "application/octet-stream" }[req.url];
    if (!type) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": type }).end(wasmBytes);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const outputs = async (source) => {
      const runner = new PipelineRunner();
      await runner.loadWasm(source);
      return (await runner.execute(JSON.parse(src("examples/calculator.json")), [5, 7, 3])).result.details.map((o) => o.value);
    };
    const want = await outputs(wasmBytes);
    assert.equal(want.length, 3);
    for (const p of ["/wasm", "/octet"]) assert.deepEqual(await outputs(`${base}${p}`), want, p);
    await assert.rejects(RemoteMedia.load(`${base}/none`), /cannot load http:\/\/127\.0\.0\.1:\d+\/none: HTTP 404/);
  } finally {
    server.close();
  }
});

test("validation errors are the native messages, line for line", async () => {
  const rm = await RemoteMedia.load(wasmBytes);
  const name = "tests/wasm/invalid.json";
  const nat = rmedia(["validate", name]);
  assert.equal(nat.code, 1);
  const want = nat.err.trim().split("\n").slice(0, -1).join("\n"); // without "N problems"
  assert.throws(() => rm.compile(src(name), name), (e) => {
    assert.ok(e instanceof RemoteMediaError);
    assert.equal(e.message.trim(), want);
    return true;
  });
  // a YAML syntax error is located too
  const bad = "version: v1\nnodes:\n  - id: a\n    node_type: [\n";
  const natBad = rmedia(["validate", "-"], bad);
  assert.throws(() => rm.compile(bad, "stdin"), (e) => e.message.trim() === natBad.err.trim().split("\n").slice(0, -1).join("\n"));
});

test("a node error throws the native message", async () => {
  const runner = new PipelineRunner();
  await runner.loadWasm(wasmBytes);
  const nat = rmedia(["run", "tests/wasm/calculator.yaml"], '{"operation": "divide", "operands": [1, 0]}\n');
  assert.equal(nat.code, 3);
  await assert.rejects(runner.execute(src("tests/wasm/calculator.yaml"), [{ operation: "divide", operands: [1, 0] }]),
    (e) => e instanceof RemoteMediaError && "rmedia: error: " + e.message === nat.err.trim());
});

test("inspect and nodes equal native --json", async () => {
  const rm = await RemoteMedia.load(wasmBytes);
  for (const t of ["AddNode", "TextProcessorNode"]) {
    const nat = rmedia(["inspect", t, "--json"]);
    assert.deepEqual(rm.inspect(t), JSON.parse(nat.out));
  }
  const names = rm.nodes().map((n) => n.name);
  assert.ok(names.includes("MultiplyNode") && names.includes("TextCollectorNode"));
  assert.throws(() => rm.inspect("MultiplyNod"), /did you mean 'MultiplyNode'/);
});

test("streaming session: callbacks, async iteration, cancel, close", async () => {
  const rm = await RemoteMedia.load(wasmBytes);
  const seen = [];
  const s = rm.open(src("tests/wasm/text.json"), { onOutput: (o) => seen.push(o) });
  const got = [];
  const reader = (async () => { for await (const o of s) got.push(o); })();
  s.push("Hello wor");
  s.push("ld. More");
  s.cancel(); // barge-in: the collector forgets "More"
  s.push("Fresh start. x");
  s.flush();
  await reader;
  assert.deepEqual(got.map((o) => o.value), seen.map((o) => o.value));
  const sentences = seen.filter((o) => o.node === "sentences").map((o) => o.value);
  assert.equal(sentences[0], "Hello world.");
  assert.ok(sentences[1].startsWith("Fresh start."), sentences[1]);
  assert.ok(!sentences.some((x) => x.includes("More")));
  assert.throws(() => s.push("late"), RemoteMediaError); // after end of stream
  s.close();
  assert.throws(() => s.push("closed"), /closed/);
});
