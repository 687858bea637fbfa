// The conformance cases (tests/conformance/) run in the demo page in
// chromium and compare with the expected outputs as every other host does
// (scripts/conformance.py adds a "browser" host to tests/conformance/run.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const demo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

test("conformance cases in the browser: calculator, text, vad_events, preprocess (20 ms chunks and whole)", () => {
  const r = spawnSync("/usr/bin/python3", [path.join(demo, "scripts/conformance.py"), "--framing", "20ms,whole"],
    { cwd: demo, encoding: "utf8", timeout: 20 * 60 * 1000 });
  process.stdout.write(r.stdout.replace(/^/gm, "# "));
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /browser vad_events +whole +ok/);
  assert.match(r.stdout, /^0 failure\(s\)$/m);
});
