#!/usr/bin/env node
// npm run package -- --manifest M.json --output X.rmpkg [--wasm W] [--metadata MD.json] [--python DIR]
// Writes a .rmpkg package (docs/rmpkg.md) with the TypeScript package: to a
// temporary file next to the output, renamed into place when complete.
// The runtime defaults to ../build/wasm/remotemedia.wasm (make wasm).
// SOURCE_DATE_EPOCH sets created_at and the zip timestamps.
import { readFileSync, writeFileSync, renameSync, rmSync, readdirSync, lstatSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createPackage, PackageError } from "../dist/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const usage = "usage: npm run package -- --manifest M.json --output X.rmpkg [--wasm W] [--metadata MD.json] [--python DIR]";
let args;
try {
  args = parseArgs({
    options: {
      manifest: { type: "string" }, output: { type: "string" }, wasm: { type: "string" },
      metadata: { type: "string" }, python: { type: "string" }, help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (e) {
  console.error(`package: ${e.message}\n${usage}`);
  process.exit(2);
}
if (args.help) { console.log(usage); process.exit(0); }
if (!args.manifest || !args.output) { console.error(usage); process.exit(2); }

const read = (p, what) => {
  try { return readFileSync(p); } catch (e) { console.error(`package: cannot read ${what} ${p}: ${e.code ?? e.message}`); process.exit(4); }
};
const wasmPath = args.wasm ?? process.env.RMEDIA_WASM ?? path.join(here, "../../build/wasm/remotemedia.wasm");
const manifest = read(args.manifest, "manifest").toString("utf8");
const wasm = read(wasmPath, "runtime");
let metadata;
if (args.metadata) {
  try { metadata = JSON.parse(read(args.metadata, "metadata").toString("utf8")); } catch (e) {
    console.error(`package: ${args.metadata}: invalid JSON: ${e.message}`); process.exit(1);
  }
}
// python/: regular files under DIR, sorted (symbolic links are refused)
const python = {};
function walk(dir, rel) {
  for (const name of readdirSync(dir).sort()) {
    if (name === "__pycache__") continue;
    const p = path.join(dir, name), r = rel ? `${rel}/${name}` : name, st = lstatSync(p);
    if (st.isDirectory()) walk(p, r);
    else if (st.isFile()) python[r] = readFileSync(p);
    else { console.error(`package: python/${r}: ${p} is not a regular file (symbolic links are not packed)`); process.exit(1); }
  }
}
if (args.python) walk(args.python, "");

const sde = process.env.SOURCE_DATE_EPOCH;
const createdAt = sde ? new Date(Number(sde) * 1000) : new Date();
const tmp = `${args.output}.tmp-${process.pid}`;
try {
  const bytes = await createPackage({ manifest, wasm, metadata, python, createdAt });
  writeFileSync(tmp, bytes);
  renameSync(tmp, args.output);
  console.log(`${args.output}: written (runtime.wasm ${wasm.length} bytes)`);
} catch (e) {
  rmSync(tmp, { force: true });
  if (e instanceof PackageError) {
    console.error(e.problems.map((p) => `${args.manifest}: ${p.text}`).join("\n"));
    process.exit(1);
  }
  console.error(`package: ${e.message}`);
  process.exit(4);
}
