// The conformance cases (tests/conformance/) run in the demo page in
// chromium on every framing the native suite uses, and are compared with the
// expected outputs as every other host's are (scripts/conformance.py adds a
// "browser" host to tests/conformance/run.py); the native CLI runs the same
// cases and framings against the same expected outputs in this test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const demo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const root = path.resolve(demo, "../..");
const native = process.env.RMEDIA_NATIVE ||
  [path.join(root, "build/asan/rmedia"), path.join(root, "build/release/rmedia")].find(existsSync);
const CASES = ["calculator", "text", "vad_events", "preprocess"]; // transcribe: speech is native only
const FRAMINGS = ["20ms", "10ms", "37ms", "1s", "5s", "whole"]; // tests/conformance/run.py FRAMINGS

function suite(args) {
  const r = spawnSync("/usr/bin/python3", args, { cwd: demo, encoding: "utf8", timeout: 20 * 60 * 1000 });
  process.stdout.write(r.stdout.replace(/^/gm, "# "));
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^0 failure\(s\)$/m);
  return r.stdout;
}

test("conformance cases in the browser and the native CLI: every framing of the native suite", () => {
  const cases = CASES.flatMap((c) => ["--case", c]);
  const page = suite([path.join(demo, "scripts/conformance.py"), "--exact", "--framing", "all"]);
  const cli = suite([path.join(root, "tests/conformance/run.py"), "--host", "cli", "--rmedia", native, "--exact",
    "--framing", "all", ...cases]);
  for (const c of ["vad_events", "preprocess"])
    for (const f of FRAMINGS) {
      assert.match(page, new RegExp(`^browser ${c} +${f} +ok$`, "m"), `${c} ${f} in the browser`);
      assert.match(cli, new RegExp(`^cli +${c} +${f} +ok$`, "m"), `${c} ${f} natively`);
    }
});
