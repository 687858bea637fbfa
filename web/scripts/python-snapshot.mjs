// Makes what lets a page start Python in a fraction of a normal start
// (PythonHost.load's `snapshotURL`), into OUTDIR (the demo: public/pyodide):
//   python_stdlib-<hash>.zip  Pyodide's standard library compiled to .pyc
//                             (the npm package ships only .py sources, so a
//                             normal start compiles every module it imports);
//   snapshot-<hash>.bin       Pyodide's memory snapshot (its private
//                             _makeSnapshot option) taken after the interpreter
//                             started on that zip and imported remotemedia;
//                             all-zero pages left out, gzip'd (readSnapshot,
//                             web/src/snapshot.ts, reads it as it downloads);
//   snapshot.json             what PythonHost checks before using them: the
//                             Pyodide version, the web/python files' hash.
// Runs under Node with the npm package's Pyodide (same build id as the served
// pyodide.asm.wasm: Pyodide refuses a snapshot of another build).  Does
// nothing when OUTDIR already holds a snapshot for the same inputs.
//   node web/scripts/python-snapshot.mjs OUTDIR
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = process.argv[2];
if (!out) { console.error("usage: python-snapshot.mjs OUTDIR"); process.exit(2); }
const { loadPyodide, version } = await import(pathToFileURL(path.join(web, "node_modules/pyodide/pyodide.mjs")).href);
const { PythonHost } = await import(pathToFileURL(path.join(web, "dist/python.js")).href);
const { PYTHON_FILES_HASH } = await import(pathToFileURL(path.join(web, "dist/python-files.js")).href);

const sha = (b) => createHash("sha256").update(b).digest("hex");
const stdlibIn = readFileSync(path.join(web, "node_modules/pyodide/python_stdlib.zip"));
// Inputs: Pyodide (version + its stdlib), the web/python files, this script
// and PythonHost.install (dist/python.js).
const key = sha([version, PYTHON_FILES_HASH, sha(stdlibIn), sha(readFileSync(fileURLToPath(import.meta.url))),
  sha(readFileSync(path.join(web, "dist/python.js")))].join("\n"));
const metaPath = path.join(out, "snapshot.json");
if (existsSync(metaPath)) {
  try {
    const m = JSON.parse(readFileSync(metaPath, "utf8"));
    if (m.key === key && existsSync(path.join(out, m.snapshot)) && existsSync(path.join(out, m.stdlib))) process.exit(0);
  } catch { /* remake it */ }
}
const t0 = Date.now();
const quiet = { stdout: () => {}, stderr: (m) => console.error(m) };

// 1. The standard library as unchecked hash-based .pyc (nothing to compare
//    with at import: the zip never changes), sources dropped; code objects
//    name the path zipimport would give them, so tracebacks read the same.
const py1 = await loadPyodide(quiet);
py1.runPython(`
import importlib._bootstrap_external as be, importlib.util, io, sys, zipfile
src = "/lib/python%d%d.zip" % sys.version_info[:2]
buf = io.BytesIO()
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
    for info in zin.infolist():
        data = zin.read(info)
        if info.filename.endswith(".py"):
            code = compile(data, src + "/" + info.filename, "exec", dont_inherit=True)
            zi = zipfile.ZipInfo(info.filename + "c", info.date_time)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(zi, bytes(be._code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)))
        else:
            zout.writestr(info, data)
with open("/tmp/stdlib.zip", "wb") as f:
    f.write(buf.getvalue())
`);
const stdlib = py1.FS.readFile("/tmp/stdlib.zip");
const tmp = path.join(tmpdir(), `rm-stdlib-${process.pid}.zip`);
writeFileSync(tmp, stdlib);

// 2. A second interpreter started on that zip, remotemedia imported, then
//    its memory (Python's heap; the file system is not in it: PythonHost
//    writes web/python's files again after a restore).
let snap;
try {
  const py2 = await loadPyodide({ ...quiet, stdLibURL: tmp, _makeSnapshot: true });
  PythonHost.install(py2);
  snap = py2.makeMemorySnapshot();
} finally {
  rmSync(tmp, { force: true });
}

// The file holds only the pages that are not all zero, gzip'd (readSnapshot
// reads it back): "RMSPARSE", length, page size, bitmap, pages.
function sparse(b, page = 65536) {
  const pages = Math.ceil(b.length / page);
  const head = Buffer.alloc(16 + Math.ceil(pages / 8));
  head.write("RMSPARSE", 0, "latin1");
  head.writeUInt32LE(b.length, 8);
  head.writeUInt32LE(page, 12);
  const parts = [head];
  for (let i = 0; i < pages; i++) {
    const p = b.subarray(i * page, Math.min(b.length, (i + 1) * page));
    if (p.some((x) => x !== 0)) { head[16 + (i >> 3)] |= 1 << (i & 7); parts.push(p); }
  }
  return Buffer.concat(parts);
}

mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) if (/^(snapshot-\w+\.bin|python_stdlib-\w+\.zip)$/.test(f)) rmSync(path.join(out, f));
const meta = {
  format: 1, pyodide: version, python: PYTHON_FILES_HASH,
  snapshot: `snapshot-${sha(snap).slice(0, 16)}.bin`, stdlib: `python_stdlib-${sha(stdlib).slice(0, 16)}.zip`,
  bytes: snap.length, key,
};
writeFileSync(path.join(out, meta.stdlib), stdlib);
const file = gzipSync(sparse(snap), { level: 9 });
writeFileSync(path.join(out, meta.snapshot), file);
writeFileSync(metaPath, JSON.stringify(meta, null, 1) + "\n");
console.error(`python-snapshot: ${meta.snapshot} (${(snap.length / 1048576).toFixed(1)} MiB in ${(file.length / 1048576).toFixed(1)}) and ${meta.stdlib} ` +
  `(${(stdlib.length / 1048576).toFixed(1)} MiB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
