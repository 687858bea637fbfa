// The Python start-up files `npm run build` made (web/scripts/python-snapshot.mjs
// into dist/pyodide), under Node: the snapshot restores an interpreter that
// runs the shipped Python nodes and user code in a hybrid graph; modules that
// are not in the snapshot import from the precompiled standard library (the
// zip the snapshot was made with); PythonHost reseeds the random module; Pyodide
// refuses a damaged snapshot (the page then starts normally: browser test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide, version } from "../../node_modules/pyodide/pyodide.mjs";
import { RemoteMedia } from "../../dist/index.js";
import { gunzipSync } from "node:zlib";
import { PythonHost } from "../../dist/python.js";
import { readSnapshot, restoreInPlace, SnapshotImage } from "../../dist/snapshot.js";
import { PYTHON_FILES_HASH } from "../../dist/python-files.js";

const demo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const root = path.resolve(demo, "../..");
const dir = path.join(demo, "dist/pyodide");
const meta = JSON.parse(readFileSync(path.join(dir, "snapshot.json"), "utf8"));
const quiet = { stdout: () => {}, stderr: () => {} };

// a stream in odd chunks (1-byte ones across the header and the bitmap)
const chunked = (b, seed = 7) => new ReadableStream({
  start(c) {
    let at = 0, x = seed;
    while (at < b.length) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const n = at < 2000 ? 1 : 1 + (x % 200000);
      c.enqueue(new Uint8Array(b.subarray(at, at + n)));
      at += n;
    }
    c.close();
  },
});

test("snapshot.json: made for this Pyodide and these web/python files", async () => {
  assert.equal(meta.pyodide, version);
  assert.equal(meta.python, PYTHON_FILES_HASH);
  const file = readFileSync(path.join(dir, meta.snapshot));
  assert.ok(file.length < meta.bytes * 0.3, `${file.length} bytes on disk for ${meta.bytes}: zero pages left out, gzip'd`);
  assert.equal((await readSnapshot(file, meta.bytes)).length, meta.bytes);
  // the zip holds compiled modules only
  const zip = readFileSync(path.join(dir, meta.stdlib)).toString("latin1");
  assert.match(zip, /asyncio\/base_events\.pyc/);
  assert.doesNotMatch(zip, /asyncio\/base_events\.py[^c]/);
});

test("readSnapshot: gzip'd or not, sparse or raw, in chunks of any size; bad files are refused by name", async () => {
  const file = readFileSync(path.join(dir, meta.snapshot));
  const want = await readSnapshot(file, meta.bytes);
  const sparse = gunzipSync(file);
  assert.equal(sparse.subarray(0, 8).toString("latin1"), "RMSPARSE");
  assert.ok(Buffer.from(await readSnapshot(chunked(sparse), meta.bytes)).equals(Buffer.from(want)));
  assert.ok(Buffer.from(await readSnapshot(chunked(file, 3), meta.bytes)).equals(Buffer.from(want)));
  assert.ok(Buffer.from(await readSnapshot(want, meta.bytes)).equals(Buffer.from(want)), "a raw memory image");
  await assert.rejects(readSnapshot(sparse.subarray(0, sparse.length - 1), meta.bytes), /^Error: snapshot: file truncated$/);
  await assert.rejects(readSnapshot(Buffer.concat([sparse, Buffer.from([0])]), meta.bytes), /^Error: snapshot: trailing bytes$/);
  await assert.rejects(readSnapshot(file.subarray(0, file.length >> 1), meta.bytes), /^Error: snapshot: /);
  await assert.rejects(readSnapshot(sparse, meta.bytes + 4), new RegExp(`snapshot: ${meta.bytes} bytes, snapshot.json gives ${meta.bytes + 4}`));
  await assert.rejects(readSnapshot(Buffer.concat([want, Buffer.alloc(4)]), meta.bytes), /snapshot: more than the \d+ bytes snapshot.json gives/);
  await assert.rejects(readSnapshot(new Uint8Array(0), meta.bytes), /snapshot: file truncated/);
  for (const size of [0, -4, 3, 2 ** 31, 1.5]) await assert.rejects(readSnapshot(sparse, size), /snapshot: bad size/);
});

test("SnapshotImage: pages go into the memory before or after it is there; zero pages are zeroed where Pyodide may have written", async () => {
  const file = readFileSync(path.join(dir, meta.snapshot));
  const want = await readSnapshot(file, meta.bytes);
  const at = new DataView(want.buffer).getUint32(4, true); // the image's offset: Pyodide's header length
  const image = want.subarray(at);
  const P = 65536;
  const zeroPage = (p) => want.subarray(p * P, (p + 1) * P).every((b) => b === 0);
  // a memory as Pyodide's runtime start leaves it, but with every zero page
  // of the file dirtied below the break: the static data, the C stack, the heap
  const lo = 4 << 20, hi = 14 << 20, brk = 16 << 20;
  const memory = () => {
    const heap = new Uint8Array(image.length);
    for (let p = 0; p * P < want.length; p++)
      if (zeroPage(p)) heap.fill(0xaa, Math.max(p * P - at, 0), Math.min((p + 1) * P - at, brk));
    return { heap, HEAP8: new Int8Array(heap.buffer), _sbrk: () => brk, _emscripten_stack_get_end: () => lo, _emscripten_stack_get_base: () => hi };
  };
  for (const attachFirst of [true, false]) {
    const m = memory();
    const img = new SnapshotImage(meta.bytes, Promise.resolve(chunked(file, attachFirst ? 5 : 9)));
    if (attachFirst) img.attach(m);
    await img.filled;
    if (!attachFirst) img.attach(m);
    img.prepare(m);
    assert.ok(Buffer.from(img.header()).equals(want.subarray(0, at)));
    img.verify(m, want); // throws where the memory is not the image
    assert.ok(Buffer.from(m.heap.subarray(0, lo)).equals(image.subarray(0, lo)));
    assert.ok(Buffer.from(m.heap.subarray(hi)).equals(image.subarray(hi)));
    // the dead C stack is left as it is
    assert.ok(m.heap.subarray(lo, hi).includes(0xaa));
    // a byte written past the break (where the memory is untouched) is found
    const zp = [...Array(Math.floor(want.length / P)).keys()].find((p) => p * P - at > brk && zeroPage(p));
    m.heap[zp * P - at + 3] = 1;
    assert.throws(() => img.verify(m, want), new RegExp(`memory differs from the image at byte ${zp * P - at + 3}$`));
  }
  // a memory smaller than the image is refused by name
  const small = new SnapshotImage(meta.bytes, Promise.resolve(chunked(file)));
  await small.filled;
  const tiny = { HEAP8: new Int8Array(1 << 20), _sbrk: () => 0 };
  small.attach(tiny);
  assert.throws(() => small.prepare(tiny), /^Error: snapshot: an image of \d+ bytes, Pyodide's memory has 1048576$/);
});

test("Pyodide restored in place from the snapshot (as in the browser) has exactly the snapshot's memory, and runs", async () => {
  const file = readFileSync(path.join(dir, meta.snapshot));
  const image = new SnapshotImage(meta.bytes, Promise.resolve(chunked(file, 11)));
  const createPyodideModule = (await import("../../node_modules/pyodide/pyodide.asm.mjs")).default;
  let checked = false;
  const py = await loadPyodide({
    ...quiet, stdLibURL: path.join(dir, meta.stdlib), _loadSnapshot: new Uint8Array(meta.bytes),
    async createPyodideModule(settings) {
      const m = await createPyodideModule(settings);
      await restoreInPlace(m, image, readSnapshot(file, meta.bytes), () => { checked = true; });
      return m;
    },
  });
  assert.ok(checked, "the memory was checked against the whole snapshot");
  assert.equal(py.runPython("import sys; 'remotemedia._host' in sys.modules"), true);
  assert.equal(py.runPython("import json; json.dumps({'a': [1, 2]})"), '{"a": [1, 2]}');
});

test("an interpreter restored from the snapshot runs Python nodes in a hybrid graph", async () => {
  const py = await loadPyodide({ ...quiet, stdLibURL: path.join(dir, meta.stdlib), _loadSnapshot: await readSnapshot(readFileSync(path.join(dir, meta.snapshot)), meta.bytes) });
  // remotemedia is already imported: restored, not imported again
  assert.equal(py.runPython("import sys; 'remotemedia._host' in sys.modules and 'remotemedia_nodes' in sys.modules"), true);
  const before = py.runPython("import random; random.getstate()[1][:4]").toJs();
  const host = await PythonHost.load({ pyodide: py });
  const rm = await RemoteMedia.load(readFileSync(process.env.RMEDIA_WASM || path.join(root, "build/wasm/remotemedia.wasm")));
  host.attach(rm);
  const run = (manifest, inputs) => {
    const ses = rm.open(manifest);
    try {
      for (const x of inputs) ses.push(x);
      ses.flush();
      return ses.takeOutputs().map((o) => o.value);
    } finally {
      ses.close();
    }
  };
  const out = run(`version: v1
nodes:
  - { id: m, node_type: MultiplyNode, params: { factor: 3 } }
  - { id: t, node_type: DataTransformNode, params: { operation: double } }
connections: [ { from: m, to: t } ]
`, [5, 7]);
  assert.deepEqual(out, [30, 42]);
  // not in the snapshot: imported from the precompiled zip after the restore
  host.run(`
import statistics, fractions, email.parser, sys
assert "statistics" in sys.modules and statistics.__spec__.origin.endswith("statistics.pyc"), statistics.__spec__.origin
import remotemedia

@remotemedia.node("Mean")
class Mean:
    def process(self, xs):
        return float(statistics.mean(fractions.Fraction(x) for x in xs))
`);
  assert.deepEqual(run("version: v1\nnodes: [ { id: a, node_type: Mean } ]\n", [[1, 2, 4]]), [7 / 3]);
  // a user error's traceback still names the line of user code
  assert.throws(() => host.run("def f():\n    return 1 / 0\nf()"), /ZeroDivisionError: division by zero/);
  // the restored random state (the same in every restore) was reseeded
  assert.notDeepEqual(py.runPython("import random; random.getstate()[1][:4]").toJs(), before);
});

test("Pyodide refuses a damaged snapshot and one of another build", async () => {
  const snap = await readSnapshot(readFileSync(path.join(dir, meta.snapshot)), meta.bytes);
  const zeros = new Uint8Array(snap.length);
  await assert.rejects(loadPyodide({ ...quiet, _loadSnapshot: zeros }), /Snapshot has invalid magic number/);
  const other = snap.slice();
  other[16] ^= 0xff; // the build id follows the magic and two lengths
  await assert.rejects(loadPyodide({ ...quiet, _loadSnapshot: other }), /Snapshot build id mismatch/);
});
