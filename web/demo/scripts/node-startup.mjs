// One Pyodide start under Node, for bench.mjs (a child process per start):
//   node scripts/node-startup.mjs normal|pyc|snapshot
// normal: the npm package's standard library (.py sources); pyc: the build's
// compiled one; snapshot: from the build's snapshot (dist/pyodide).  Prints
// {loadMs, hostMs}: loadPyodide, then PythonHost (remotemedia imported).
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "../../node_modules/pyodide/pyodide.mjs";
import { PythonHost } from "../../dist/python.js";
import { readSnapshot } from "../../dist/snapshot.js";

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "../dist/pyodide");
const meta = JSON.parse(readFileSync(path.join(dir, "snapshot.json"), "utf8"));
const mode = process.argv[2];
const opts = { stdout: () => {} };
if (mode !== "normal") opts.stdLibURL = path.join(dir, meta.stdlib);
if (mode === "snapshot") opts._loadSnapshot = await readSnapshot(readFileSync(path.join(dir, meta.snapshot)), meta.bytes);
const t = performance.now();
const py = await loadPyodide(opts);
const loadMs = performance.now() - t;
await PythonHost.load({ pyodide: py });
console.log(JSON.stringify({ loadMs, hostMs: performance.now() - t - loadMs }));
