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
import { PythonHost, expandSnapshot } from "../../dist/python.js";
import { PYTHON_FILES_HASH } from "../../dist/python-files.js";

const demo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const root = path.resolve(demo, "../..");
const dir = path.join(demo, "dist/pyodide");
const meta = JSON.parse(readFileSync(path.join(dir, "snapshot.json"), "utf8"));
const quiet = { stdout: () => {}, stderr: () => {} };

test("snapshot.json: made for this Pyodide and these web/python files", () => {
  assert.equal(meta.pyodide, version);
  assert.equal(meta.python, PYTHON_FILES_HASH);
  const file = readFileSync(path.join(dir, meta.snapshot));
  assert.ok(file.length < meta.bytes * 0.7, `${file.length} bytes on disk for ${meta.bytes}: zero pages left out`);
  assert.equal(expandSnapshot(file).length, meta.bytes);
  assert.throws(() => expandSnapshot(file.subarray(0, file.length - 1)), /snapshot: file truncated/);
  // the zip holds compiled modules only
  const zip = readFileSync(path.join(dir, meta.stdlib)).toString("latin1");
  assert.match(zip, /asyncio\/base_events\.pyc/);
  assert.doesNotMatch(zip, /asyncio\/base_events\.py[^c]/);
});

test("an interpreter restored from the snapshot runs Python nodes in a hybrid graph", async () => {
  const py = await loadPyodide({ ...quiet, stdLibURL: path.join(dir, meta.stdlib), _loadSnapshot: expandSnapshot(readFileSync(path.join(dir, meta.snapshot))) });
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
  const snap = expandSnapshot(readFileSync(path.join(dir, meta.snapshot))).slice();
  const zeros = new Uint8Array(snap.length);
  await assert.rejects(loadPyodide({ ...quiet, _loadSnapshot: zeros }), /Snapshot has invalid magic number/);
  const other = snap.slice();
  other[16] ^= 0xff; // the build id follows the magic and two lengths
  await assert.rejects(loadPyodide({ ...quiet, _loadSnapshot: other }), /Snapshot build id mismatch/);
});
