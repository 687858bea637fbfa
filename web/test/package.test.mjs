// .rmpkg packages across the two sides: a package made by the TypeScript
// package validates and runs in the native rmedia, and one made by `rmedia
// pack` validates and runs here; crafted bad packages are refused by both
// with the same problem lines.  RMEDIA_WASM / RMEDIA_NATIVE override paths.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, existsSync, mkdtempSync, rmSync, truncateSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import path from "node:path";
import { zipSync } from "fflate";
import { PackageLoader, PackageError, createPackage } from "../dist/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const wasmPath = process.env.RMEDIA_WASM || path.join(root, "build/wasm/remotemedia.wasm");
const native = process.env.RMEDIA_NATIVE ||
  [path.join(root, "build/asan/rmedia"), path.join(root, "build/release/rmedia")].find(existsSync);
assert.ok(native, "no native rmedia (set RMEDIA_NATIVE)");
const wasm = readFileSync(wasmPath);
const tmp = mkdtempSync(path.join(tmpdir(), "rm-pkg-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const enc = new TextEncoder();

function rmedia(args, input = "") {
  const r = spawnSync(native, args, { cwd: root, input, encoding: "utf8",
    env: { ...process.env, RMEDIA_PLUGIN_PATH: "", RMEDIA_WASM: wasmPath } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const example = (name, file) => readFileSync(path.join(root, "examples/packages", name, file), "utf8");
const inputs = {
  calculator: [5, 7, 3],
  "text-processor": JSON.parse(example("text-processor", "input.json")),
};

for (const name of ["calculator", "text-processor"]) {
  test(`${name}: made by TypeScript, checked and run by rmedia`, async () => {
    const bytes = await createPackage({ manifest: example(name, "manifest.json"), wasm,
      metadata: JSON.parse(example(name, "metadata.json")) });
    const file = path.join(tmp, `ts-${name}.rmpkg`);
    writeFileSync(file, bytes);
    const chk = rmedia(["pack", "--check", file]);
    assert.equal(chk.code, 0, chk.err);
    const nat = rmedia(["run", file], JSON.stringify(inputs[name]));
    assert.equal(nat.code, 0, nat.err);
    const pkg = await PackageLoader.loadFromBytes(bytes, `ts-${name}.rmpkg`);
    const { result } = await pkg.runner.execute(pkg.manifest, inputs[name]);
    assert.equal(JSON.stringify(result.outputs), nat.out.trim()); // identical, byte for byte
  });

  test(`${name}: made by rmedia pack, loaded and run here`, async () => {
    const file = path.join(tmp, `c-${name}.rmpkg`);
    const r = rmedia(["pack", `examples/packages/${name}/manifest.json`, "-o", file, "--wasm", wasmPath,
      "--metadata", `examples/packages/${name}/metadata.json`]);
    assert.equal(r.code, 0, r.err);
    const pkg = await PackageLoader.loadFromFile(file);
    assert.deepEqual(pkg.members, ["manifest.json", "runtime.wasm", "metadata.json", "checksums"]);
    assert.equal(pkg.metadata.author, "RemoteMedia");
    assert.equal(pkg.metadata.package_name, name);
    assert.equal(pkg.metadata.runtime_info.wasm_size_bytes, wasm.length);
    assert.equal(Buffer.compare(Buffer.from(pkg.wasm), wasm), 0);
    const { result } = await pkg.runner.execute(pkg.manifest, inputs[name]);
    const nat = rmedia(["run", `examples/packages/${name}/manifest.json`], JSON.stringify(inputs[name]));
    assert.equal(JSON.stringify(result.outputs), nat.out.trim());
  });
}

test("audio-preprocess: both sides make the same members; it runs in wasm", async () => {
  const file = path.join(tmp, "c-audio.rmpkg");
  const r = rmedia(["pack", "examples/packages/audio-preprocess/manifest.json", "-o", file, "--wasm", wasmPath]);
  assert.equal(r.code, 0, r.err);
  const c = await PackageLoader.loadFromFile(file);
  const ts = await PackageLoader.loadFromBytes(await createPackage({ manifest: c.manifestText, wasm }));
  assert.deepEqual(ts.members, c.members);
  assert.deepEqual({ ...ts.metadata, created_at: 0 }, { ...c.metadata, created_at: 0 });
  const sr = 48000, x = new Float32Array(sr); // 1 s: silence, then a 300 Hz tone
  for (let i = sr / 2; i < sr; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * 300 * i) / sr);
  const rm = c.runner.library, s = rm.open(c.manifest);
  for (let i = 0; i < sr; i += 960) s.push({ samples: x.subarray(i, i + 960), sampleRate: sr, channels: 1 });
  s.flush();
  const outs = s.takeOutputs();
  s.close();
  const audio = outs.filter((o) => o.kind === "audio");
  assert.ok(audio.length > 0 && audio.every((o) => o.audio.sampleRate === 16000 && o.audio.samples instanceof Int16Array));
  assert.ok(outs.some((o) => o.node === "events"), "VAD events");
});

// ---------------------------------------------------------- crafted --
const sha = (d) => createHash("sha256").update(d).digest("hex");
const calc = enc.encode(example("calculator", "manifest.json"));
function craft(members, { checksums = true, level = 6 } = {}) {
  const m = members.map(([n, d]) => [n, typeof d === "string" ? enc.encode(d) : d]);
  if (checksums) m.push(["checksums", enc.encode(m.map(([n, d]) => `${sha(d)}  ${n}\n`).join(""))]);
  const z = {};
  for (const [n, d] of m) z[n] = [d, { level }];
  return zipSync(z);
}
const base = (over = {}) => [["manifest.json", over.manifest ?? calc], ["runtime.wasm", over.wasm ?? wasm],
  ["metadata.json", '{"package_name": "calc"}']];

/** Problem lines of both sides for the same bytes (package name stripped). */
async function bothRefuse(bytes) {
  const file = path.join(tmp, "crafted.rmpkg");
  writeFileSync(file, bytes);
  const c = rmedia(["pack", "--check", file]);
  assert.equal(c.code, 1, `rmedia accepted it: ${c.out}`);
  const cLines = c.err.split("\n").filter((l) => l.includes(" error: ") || l.includes(": error: "))
    .map((l) => l.slice(file.length + 2));
  let tsLines;
  await assert.rejects(PackageLoader.loadFromBytes(bytes, "crafted.rmpkg"), (e) => {
    assert.ok(e instanceof PackageError, String(e));
    tsLines = e.problems.filter((p) => p.severity === "error").map((p) => p.text);
    return true;
  });
  return { cLines, tsLines };
}

const cases = [
  ["not a zip", () => enc.encode("PK\x03\x04 but no archive here, only text long enough")],
  ["missing runtime.wasm", () => craft(base().filter(([n]) => n !== "runtime.wasm"))],
  ["missing checksums", () => craft(base(), { checksums: false })],
  ["wasm magic", () => craft(base({ wasm: enc.encode("\0elf\x01\0\0\0") }))],
  ["wasm version", () => craft(base({ wasm: new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]) }))],
  ["invalid parameter", () => craft(base({ manifest: example("calculator", "manifest.json").replace('"addend": 10', '"addend": "ten"') }))],
  ["runtime.target", () => craft(base({ manifest: example("calculator", "manifest.json").replace('"wasm32-wasi"', '"x86"') }))],
  ["node type the runtime lacks", () => craft(base({ manifest: '{"version": "v1", "runtime": {"target": "wasm32-wasi"},\n "nodes": [{"id": "s", "node_type": "SpeechToText"}]}' }))],
  ["manifest syntax", () => craft(base({ manifest: '{\n  "version": "v1",\n  "nodes": [,]\n}' }))],
  ["checksum mismatch", () => {
    const m = base();
    const cs = m.map(([n, d]) => `${sha(typeof d === "string" ? enc.encode(d) : d)}  ${n}\n`).join("");
    m[0] = ["manifest.json", example("calculator", "manifest.json") + " "];
    return craft([...m, ["checksums", cs]], { checksums: false });
  }],
  ["path traversal", () => craft([...base(), ["python/../../evil.py", "x"]])],
  ["absolute path", () => craft([...base(), ["/etc/evil", "x"]])],
  ["unexpected member", () => craft([...base(), ["deps/lib.so", "x"]])],
  ["zip bomb ratio", () => craft([...base(), ["python/bomb.py", new Uint8Array(5 << 20)]])],
  ["zip bomb total", () => craft([...base(), ...Array.from({ length: 130 }, (_, i) => [`python/z${i}.py`, new Uint8Array(1 << 20)])])],
  ["member over its limit", () => craft(base({ manifest: new Uint8Array(4 * (1 << 20) + 1).map((_, i) => 32 + (i * 7919) % 90) }), { level: 0 })],
  ["too many members", () => craft([...base(), ...Array.from({ length: 1000 }, (_, i) => [`python/m${i}.py`, ""])])],
];
for (const [name, make] of cases) {
  test(`crafted: ${name}: both sides refuse with the same problems`, async () => {
    const { cLines, tsLines } = await bothRefuse(make());
    assert.ok(cLines.length > 0);
    assert.deepEqual(tsLines, cLines);
  });
}

test("crafted: invalid metadata.json is refused by both", async () => {
  const { cLines, tsLines } = await bothRefuse(craft([...base().slice(0, 2), ["metadata.json", '{"a": 1,\n "b": }']]));
  assert.match(cLines.join("\n"), /^metadata\.json:2:\d+: error: invalid JSON/m);
  assert.match(tsLines.join("\n"), /^metadata\.json: error: invalid JSON/m);
});

test("limits are options; warnings for a manifest without runtime", async () => {
  const bytes = craft(base({ manifest: example("calculator", "manifest.json").replace(/,\s*"runtime": \{[^}]*\}/, "") }));
  const pkg = await PackageLoader.loadFromBytes(bytes, "w.rmpkg");
  assert.match(pkg.warnings.map((w) => w.text).join("\n"), /manifest\.json: warning: no 'runtime' object/);
  await assert.rejects(PackageLoader.loadFromBytes(bytes, "w.rmpkg", { limits: { maxPackageBytes: 1000 } }),
    /w\.rmpkg: error: the package is \d+ bytes, over the limit of 1000 bytes/);
  await assert.rejects(PackageLoader.loadFromBytes(bytes, "w.rmpkg", { limits: { maxWasmBytes: 1024 } }),
    /runtime\.wasm: error: \d+ bytes uncompressed, over the limit of 1024 bytes/);
  const v = await PackageLoader.loadFromBytes(bytes, "w.rmpkg", { instantiate: false });
  assert.equal(v.runner, undefined);
});

test("loadFromFile: a path over the package limit is refused before reading", async () => {
  const big = path.join(tmp, "huge.rmpkg");
  writeFileSync(big, "");
  truncateSync(big, 100 * (1 << 20) + 1); // sparse: no disk used
  await assert.rejects(PackageLoader.loadFromFile(big), /error: the package is 104857601 bytes, over the limit of 100 MiB/);
  const c = rmedia(["pack", "--check", big]);
  assert.equal(c.code, 1);
  assert.match(c.err, /error: the package is 104857601 bytes, over the limit of 100 MiB/);
});

test("loadFromFile: a File must be named .rmpkg; loadFromUrl over HTTP", async () => {
  const bytes = await createPackage({ manifest: example("calculator", "manifest.json"), wasm });
  await assert.rejects(PackageLoader.loadFromFile(new File([bytes], "calc.zip")), /must end in \.rmpkg/);
  const f = await PackageLoader.loadFromFile(new File([bytes], "calc.rmpkg"));
  assert.equal(f.name, "calc.rmpkg");
  const server = createServer((req, res) => {
    if (req.url === "/calc.rmpkg") res.end(bytes);
    else { res.statusCode = 404; res.end(); }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  try {
    const pkg = await PackageLoader.loadFromUrl(`http://127.0.0.1:${port}/calc.rmpkg`);
    const { result } = await pkg.runner.execute(pkg.manifest, [1]);
    assert.deepEqual(result.outputs, [12]);
    await assert.rejects(PackageLoader.loadFromUrl(`http://127.0.0.1:${port}/none.rmpkg`), /HTTP 404/);
  } finally {
    server.close();
  }
});

test("npm run package / test-package scripts, leaving nothing behind on failure", () => {
  const out = path.join(tmp, "script.rmpkg");
  const node = (script, args) => spawnSync(process.execPath, [path.join(root, "web/scripts", script), ...args],
    { encoding: "utf8", env: { ...process.env, RMEDIA_WASM: wasmPath, SOURCE_DATE_EPOCH: "1700000000" } });
  let r = node("package.mjs", ["--manifest", path.join(root, "examples/packages/calculator/manifest.json"), "--output", out]);
  assert.equal(r.status, 0, r.stderr);
  r = node("test-package.mjs", [out, "--run", "[5, 7, 3]"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split("\n").pop(), "[20,24,16]");
  const bad = path.join(tmp, "bad.json");
  writeFileSync(bad, '{"version": "v1", "runtime": {"target": "wasm32-wasi"},\n "nodes": [{"id": "a", "node_type": "Nope"}]}');
  const badOut = path.join(tmp, "bad.rmpkg");
  r = node("package.mjs", ["--manifest", bad, "--output", badOut]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /manifest\.json:2:\d+: error: .*unknown node type 'Nope'/);
  assert.ok(!existsSync(badOut));
  r = node("test-package.mjs", [path.join(tmp, "none.rmpkg")]);
  assert.equal(r.status, 4);
});

// ------------------------------------- Python node types of a package --
// examples/packages/python-nodes: Normalize and Tagger are defined in its
// python/text_nodes.py and declared in metadata.json
// (runtime_info.python_node_types); they run here in Pyodide.
const pyDir = path.join(root, "examples/packages/python-nodes/python");
const pySrc = readFileSync(path.join(pyDir, "text_nodes.py"), "utf8");
const pyManifest = example("python-nodes", "manifest.json");
const pyInputs = JSON.parse(example("python-nodes", "input.json"));
let host;
async function pythonHost() {
  if (!host) {
    const { PythonHost } = await import("../dist/python.js");
    const { loadPyodide } = await import("pyodide");
    host = await PythonHost.load({ pyodide: await loadPyodide() });
  }
  return host;
}
/** What the package's pipeline gives, from its parts: Normalize (here, in
 * JavaScript), TextProcessorNode (the native rmedia), Tagger (here). */
function expectedPythonNodes() {
  const normalized = pyInputs.map((t) => t.split(/\s+/).filter(Boolean).join(" ").toLowerCase());
  const man = JSON.parse(pyManifest);
  const tp = { version: "v1", nodes: [man.nodes[1]] };
  const file = path.join(tmp, "tp.json");
  writeFileSync(file, JSON.stringify(tp));
  const nat = rmedia(["run", file], JSON.stringify(normalized));
  assert.equal(nat.code, 0, nat.err);
  return JSON.parse(nat.out).map((r, i) => ({ ...r, label: "python-nodes", n: i + 1 }));
}

test("python-nodes: made by rmedia pack, checked here, its Python nodes run in Pyodide", async () => {
  const file = path.join(tmp, "c-python.rmpkg");
  const r = rmedia(["pack", "examples/packages/python-nodes/manifest.json", "-o", file, "--wasm", wasmPath,
    "--metadata", "examples/packages/python-nodes/metadata.json", "--python", "examples/packages/python-nodes/python"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(rmedia(["pack", "--check", file]).code, 0);
  // without a Python host: valid, and a session says where the type runs
  const plain = await PackageLoader.loadFromFile(file);
  assert.deepEqual([...plain.pythonNodeTypes], [["Normalize", "python/text_nodes.py"], ["Tagger", "python/text_nodes.py"]]);
  await assert.rejects(plain.runner.execute(plain.manifest, pyInputs), /Python node type Normalize \(python\/text_nodes\.py\) runs in Pyodide/);
  const pkg = await PackageLoader.loadFromFile(file, { python: await pythonHost() });
  const { result } = await pkg.runner.execute(pkg.manifest, pyInputs);
  assert.deepEqual(result.outputs, expectedPythonNodes());
  // the reference the native run (rmedia run --allow-python, tests/package/test_run_python.py) is checked against
  assert.deepEqual(result.outputs, JSON.parse(example("python-nodes", "expected.json")));
});

test("python-nodes: made by TypeScript, the same metadata as rmedia pack, checked by rmedia", async () => {
  const bytes = await createPackage({ manifest: pyManifest, wasm, python: { "text_nodes.py": pySrc },
    metadata: JSON.parse(example("python-nodes", "metadata.json")) });
  const file = path.join(tmp, "ts-python.rmpkg");
  writeFileSync(file, bytes);
  const chk = rmedia(["pack", "--check", file]);
  assert.equal(chk.code, 0, chk.err);
  const cFile = path.join(tmp, "c-python2.rmpkg");
  assert.equal(rmedia(["pack", "examples/packages/python-nodes/manifest.json", "-o", cFile, "--wasm", wasmPath,
    "--metadata", "examples/packages/python-nodes/metadata.json", "--python", "examples/packages/python-nodes/python"]).code, 0);
  const [ts, c] = [await PackageLoader.loadFromBytes(bytes), await PackageLoader.loadFromFile(cFile)];
  assert.deepEqual({ ...ts.metadata, created_at: 0 }, { ...c.metadata, created_at: 0 });
  assert.deepEqual(ts.metadata.runtime_info.python_node_types, { Normalize: "python/text_nodes.py", Tagger: "python/text_nodes.py" });
  // the TypeScript packer refuses a Python type used but not defined, as rmedia pack does
  await assert.rejects(createPackage({ manifest: pyManifest, wasm, python: { "text_nodes.py": pySrc.replace('"Normalize"', '"Normalise"') } }),
    /manifest\.json:9:\d+: error: node 'clean': unknown node type 'Normalize'/);
});

const pyBase = (src = pySrc, decl = { Normalize: "python/text_nodes.py", Tagger: "python/text_nodes.py" }, manifest = pyManifest) => [
  ["manifest.json", manifest], ["runtime.wasm", wasm], ["python/text_nodes.py", src],
  ["metadata.json", JSON.stringify({ package_name: "py", runtime_info: { python_node_types: decl } })]];
const manyTypes = Array.from({ length: 1001 }, (_, i) => `@node("M${i}")\nclass M${i}: pass\n`).join("");
const pyCases = [
  ["a declared type its python/ file does not define", () => craft(pyBase(pySrc.replace('"Normalize"', '"Normalise"'))),
    /^python\/text_nodes\.py: error: does not define Python node type 'Normalize' \(metadata\.json declares it in runtime_info\.python_node_types\)$/m],
  ["a declared type in a member that is not there", () => craft(pyBase(pySrc, { Normalize: "python/gone.py", Tagger: "python/text_nodes.py" })),
    /^metadata\.json: error: runtime_info\.python_node_types: 'Normalize' is declared in 'python\/gone\.py', which is not a python\/ member$/m],
  ["a declaration that is not an object", () => craft(pyBase(pySrc, ["Normalize"])),
    /^metadata\.json: error: runtime_info\.python_node_types: expected an object/m],
  ["a declared type that is a node type of the runtime", () => craft(pyBase(pySrc.replace('"Normalize"', '"AddNode"'), { AddNode: "python/text_nodes.py" })),
    /^metadata\.json: error: runtime_info\.python_node_types: 'AddNode' is a node type of the runtime already$/m],
  ["a type in neither the runtime nor the package", () => craft(pyBase(pySrc, undefined, pyManifest.replace('"Tagger"', '"Tagge"'))),
    /^manifest\.json:12:\d+: error: node 'tag': unknown node type 'Tagge'; did you mean 'Tagger'\?/m],
  ["a type defined in python/ but not declared", () => craft(pyBase(pySrc, { Normalize: "python/text_nodes.py" })),
    /^manifest\.json:12:\d+: error: node 'tag': unknown node type 'Tagger'/m],
  ["a declaration over the limit of 1000 types", () => craft(pyBase(pySrc,
    Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`T${i}`, "python/text_nodes.py"])))),
    /^metadata\.json: error: runtime_info\.python_node_types: 1001 types, over the limit of 1000$/m],
  ["a python/ file defining over 1000 types", () => craft([...pyBase(), ["python/many.py", manyTypes]].map(([n, d]) =>
    n === "metadata.json" ? [n, JSON.stringify({ runtime_info: { python_node_types: { Normalize: "python/text_nodes.py",
      Tagger: "python/text_nodes.py", M0: "python/many.py" } } })] : [n, d])),
    /^python\/many\.py: error: defines more than 1000 Python node types$/m],
];
for (const [name, make, re] of pyCases) {
  test(`crafted Python node types: ${name}: both sides refuse with the same problems`, async () => {
    const { cLines, tsLines } = await bothRefuse(make());
    assert.match(cLines.join("\n"), re);
    assert.deepEqual(tsLines, cLines);
  });
}

test("both packers refuse python/ files defining over 1000 node types", async () => {
  const dir = mkdtempSync(path.join(tmp, "many-"));
  writeFileSync(path.join(dir, "many.py"), manyTypes);
  const out = path.join(tmp, "many.rmpkg");
  const r = rmedia(["pack", path.join(root, "examples/packages/python-nodes/manifest.json"), "-o", out, "--wasm", wasmPath, "--python", dir]);
  assert.equal(r.code, 1);
  assert.match(r.err, /python\/many\.py: error: defines more than 1000 Python node types/);
  assert.ok(!existsSync(out));
  await assert.rejects(createPackage({ manifest: pyManifest, wasm, python: { "many.py": manyTypes } }),
    /python\/many\.py: error: defines more than 1000 Python node types/);
});

test("pythonNodeTypes reads the decorator lines as rmedia pack does", async () => {
  const { pythonNodeTypes } = await import("../dist/index.js");
  const src = [
    "import remotemedia", "from remotemedia import node",
    "@remotemedia.node('A')", "class X: pass",
    "@node(name=\"B\", doc='x')", "class Y: pass",
    "@ remotemedia . node ( doc='named by the class' )", "# a comment", "", "@dataclass", "class C:\r", "    pass",
    "@node()", "def not_a_class(): pass", "class NotNode: pass",
    "@node(\"bad name\")", "class D: pass",
    "x = node('E')", "@other.nodes('F')", "class F: pass",
  ].join("\n");
  assert.deepEqual(pythonNodeTypes(src), ["A", "B", "C", "D"]);
  // the C packer finds the same ones: it declares them in metadata.json
  const dir = mkdtempSync(path.join(tmp, "scan-"));
  writeFileSync(path.join(dir, "n.py"), src);
  const man = path.join(tmp, "scan.json");
  writeFileSync(man, '{"version": "v1", "runtime": {"target": "wasm32-wasi"}, "nodes": [{"id": "a", "node_type": "A"}]}');
  const out = path.join(tmp, "scan.rmpkg");
  const r = rmedia(["pack", man, "-o", out, "--wasm", wasmPath, "--python", dir]);
  assert.equal(r.code, 0, r.err);
  const pkg = await PackageLoader.loadFromFile(out);
  assert.deepEqual(Object.keys(pkg.metadata.runtime_info.python_node_types), ["A", "B", "C", "D"]);
});
