/*
 * .rmpkg packages in JavaScript (docs/rmpkg.md): PackageLoader validates a
 * package and loads its runtime; createPackage() writes one.  The checks and
 * their messages are those of the C side (src/package/package.c, `rmedia
 * pack --check`), so a package is accepted or refused alike by both.
 *
 *   const pkg = await PackageLoader.loadFromUrl("calc.rmpkg");
 *   const { result } = await pkg.runner.execute(pkg.manifest, [5, 7, 3]);
 *
 * Zip reading and writing: fflate.  sha256: WebCrypto (browsers, Node 20).
 */
import { unzipSync, zipSync, type Zippable } from "fflate";

import { PipelineRunner, RemoteMediaError } from "./index.js";

export const PACKAGE_FORMAT_VERSION = "1.0.0";
export const WASM_TARGET = "wasm32-wasi";

const MIB = 1 << 20;

/** What a package may hold (the defaults are the C side's). */
export interface PackageLimits {
  maxPackageBytes: number;
  maxMembers: number;
  maxManifestBytes: number;
  /** metadata.json and checksums, each */
  maxMetadataBytes: number;
  maxWasmBytes: number;
  /** one python/ file */
  maxPythonBytes: number;
  /** all members uncompressed */
  maxTotalBytes: number;
  /** uncompressed / compressed, for members above ratioMinBytes */
  maxRatio: number;
  ratioMinBytes: number;
}

export const DEFAULT_LIMITS: Readonly<PackageLimits> = Object.freeze({
  maxPackageBytes: 100 * MIB,
  maxMembers: 1000,
  maxManifestBytes: 4 * MIB,
  maxMetadataBytes: 1 * MIB,
  maxWasmBytes: 64 * MIB,
  maxPythonBytes: 8 * MIB,
  maxTotalBytes: 128 * MIB,
  maxRatio: 100,
  ratioMinBytes: 1 * MIB,
});

/** One problem, as the C side prints it: `text` is
 * "member[:line:col]: error: message" (member "" = the whole package). */
export interface PackageProblem {
  severity: "error" | "warning";
  member: string;
  text: string;
}

/** A refused package: `message` has every problem, one per line, each
 * prefixed with the package name (as `rmedia pack --check` prints them).
 * (An Error, not a RemoteMediaError: this module is evaluated before
 * index.ts in an import cycle.) */
export class PackageError extends Error {
  readonly code = -1;
  constructor(
    readonly packageName: string,
    readonly problems: PackageProblem[],
  ) {
    super(problems.map((p) => `${packageName}: ${p.text}`).join("\n"));
    this.name = "PackageError";
  }
}

export interface LoadedPackage {
  name: string;
  /** manifest.json, parsed, and as stored */
  manifest: Record<string, unknown>;
  manifestText: string;
  wasm: Uint8Array;
  metadata?: Record<string, unknown>;
  /** python/... members by name */
  python: Map<string, Uint8Array>;
  members: string[];
  warnings: PackageProblem[];
  /** Python node types the package defines (metadata.json
   * runtime_info.python_node_types, checked): type → python/ member. */
  pythonNodeTypes: Map<string, string>;
  /** The package's own runtime, loaded (unless `instantiate: false`). */
  runner?: PipelineRunner;
}

export interface LoadOptions {
  limits?: Partial<PackageLimits>;
  /** Load runtime.wasm and compile the manifest with it (node types the
   * runtime lacks, every manifest check).  Default true. */
  instantiate?: boolean;
  /** Runs the package's Python node types: its python/ files are added to
   * this host, the modules declaring them imported, and the host attached
   * to the package's runtime (which then runs them).  Without it, declared
   * types are accepted by the check and fail when a session opens. */
  python?: PackagePythonHost;
}

const decoder = new TextDecoder("utf-8", { fatal: false });
const encoder = new TextEncoder();

async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", data));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]/g, "?");
}

class Report {
  readonly items: PackageProblem[] = [];
  errors = 0;
  add(severity: "error" | "warning", member: string, message: string, line = 0, col = 0): void {
    const m = printable(member);
    const where = m && line > 0 ? `${m}:${line}:${col}: ` : m ? `${m}: ` : "";
    this.push(severity, m, `${where}${severity}: ${message}`);
  }
  push(severity: "error" | "warning", member: string, text: string): void {
    if (severity === "error") this.errors++;
    if (this.items.length < 200) this.items.push({ severity, member, text });
  }
  error(member: string, message: string, line = 0, col = 0): void {
    this.add("error", member, message, line, col);
  }
}

/** Why a member name is unsafe to extract anywhere, or undefined. */
function unsafeName(s: string): string | undefined {
  if (!s) return "empty name";
  if (encoder.encode(s).length > 255) return "name longer than 255 bytes";
  if (s.startsWith("/")) return "absolute path";
  if (s.includes("\\")) return "backslash in the name";
  if (/[\u0000-\u001f\u007f]/.test(s)) return "control character in the name";
  if (s.includes(":")) return "':' in the name (drive letter or stream)";
  const parts = s.split("/");
  if (parts[parts.length - 1] === "") parts.pop(); // a directory entry
  for (const c of parts) {
    if (c === "..") return "'..' in the path (path traversal)";
    if (c === ".") return "'.' component in the path";
    if (c === "") return "empty path component";
  }
  return undefined;
}

type Kind = "manifest" | "wasm" | "metadata" | "checksums" | "python" | "dir" | "other";

function classify(name: string): Kind {
  if (name === "manifest.json") return "manifest";
  if (name === "runtime.wasm") return "wasm";
  if (name === "metadata.json") return "metadata";
  if (name === "checksums") return "checksums";
  if (name.startsWith("python/")) return name.endsWith("/") || name.length === 7 ? "dir" : "python";
  return "other";
}

function mib(n: number): string {
  return n >= MIB && n % MIB === 0 ? `${n / MIB} MiB` : `${n} bytes`;
}

interface Entry {
  name: string;
  size: number;
  originalSize: number;
  compression: number;
}

/** Lines "manifest.json:3:5: error: ..." from the library → problems. */
function diagLines(report: Report, text: string): void {
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const sev = / warning: /.test(line) && !/ error: /.test(line) ? "warning" : "error";
    report.push(sev, "manifest.json", line);
  }
}

/** Position (1-based line:column) of the value of key `key` after `after`
 * in JSON text, for messages (where the library puts it); [0, 0] if not found. */
function locateKey(text: string, key: string, after = 0): [number, number] {
  let at = text.indexOf(`"${key}"`, after);
  if (at < 0) return [0, 0];
  at += key.length + 2;
  while (at < text.length && /[\s:]/.test(text[at] as string)) at++;
  const before = text.slice(0, at);
  const line = before.split("\n").length;
  return [line, at - before.lastIndexOf("\n")];
}

// ------------------------------------------------- Python node types --
// A package may define node types in its python/ files; metadata.json
// declares them as runtime_info.python_node_types {"Type": "python/f.py"}.
// No Python runs to find them: this reads the decorator lines exactly as
// src/package/package.c does (docs/rmpkg.md, "Python node types"):
//   @remotemedia.node("Name") / @node(name="Name")   → Name
//   @node() / @node(doc="...")  then  class Name:   → Name

const PNT = "runtime_info.python_node_types";
const identStart = (c: string | undefined): boolean => !!c && /[A-Za-z_]/.test(c);
const identChar = (c: string | undefined): boolean => !!c && /[A-Za-z0-9_]/.test(c);
const isIdent = (s: string): boolean => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s);

function skipBlank(l: string, p: number): number {
  while (l[p] === " " || l[p] === "\t" || l[p] === "\r") p++;
  return p;
}

/** "Name" or 'Name' (an identifier in quotes) at p, else undefined. */
function quotedIdent(l: string, p: number): string | undefined {
  const q = l[p];
  if ((q !== '"' && q !== "'") || !identStart(l[p + 1])) return undefined;
  let e = p + 1;
  while (identChar(l[e])) e++;
  return l[e] === q ? l.slice(p + 1, e) : undefined;
}

/** Python node types in one package (declared, or defined by one file):
 * bounds the work a crafted package can cause (as in C). */
export const MAX_PYTHON_NODE_TYPES = 1000;

/** The node types a Python source defines, in order of appearance (the
 * scan stops after MAX_PYTHON_NODE_TYPES + 1). */
export function pythonNodeTypes(source: string, known: string[] = []): string[] {
  const out = known;
  let pending = false; // a @node(...) without a name: the next class names it
  for (const l of source.split("\n")) {
    let p = skipBlank(l, 0);
    let name: string | undefined;
    if (l[p] === "@") {
      let last = "";
      p = skipBlank(l, p + 1);
      while (identStart(l[p])) {
        const s0 = p;
        while (identChar(l[p])) p++;
        last = l.slice(s0, p);
        p = skipBlank(l, p);
        if (l[p] === ".") p = skipBlank(l, p + 1);
        else break;
      }
      if (last === "node" && l[p] === "(") {
        p = skipBlank(l, p + 1);
        name = quotedIdent(l, p);
        for (let q = p; name === undefined && q + 4 <= l.length; q++) {
          if (!l.startsWith("name", q) || (q > p && l[q - 1] !== " " && l[q - 1] !== "," && l[q - 1] !== "(")) continue;
          const v = skipBlank(l, q + 4);
          if (l[v] === "=" && l[v + 1] !== "=") name = quotedIdent(l, skipBlank(l, v + 1));
        }
        pending = name === undefined;
      }
    } else if (pending && l.length - p > 5 && l.startsWith("class", p) && (l[p + 5] === " " || l[p + 5] === "\t")) {
      p = skipBlank(l, p + 5);
      const s0 = p;
      while (identChar(l[p])) p++;
      if (identStart(l[s0])) name = l.slice(s0, p);
      pending = false;
    } else if (pending && p < l.length && l[p] !== "#") {
      pending = false; // @node decorates a class; this is something else
    }
    if (name !== undefined && !out.includes(name)) out.push(name);
    if (out.length > MAX_PYTHON_NODE_TYPES) break;
  }
  return out;
}

/** Reads and checks the declaration in metadata.json: each type must be
 * defined by the python/ member it names. */
function checkPythonTypes(metadata: Record<string, unknown> | undefined, files: Record<string, Uint8Array>,
                          r: Report): Map<string, string> {
  const out = new Map<string, string>();
  const info = metadata?.runtime_info;
  const decl = info && typeof info === "object" && !Array.isArray(info)
    ? (info as Record<string, unknown>).python_node_types : undefined;
  if (decl === undefined) return out;
  if (typeof decl !== "object" || decl === null || Array.isArray(decl)) {
    r.error("metadata.json", `${PNT}: expected an object {"NodeType": "python/FILE.py"}`);
    return out;
  }
  const entries = Object.entries(decl as Record<string, unknown>);
  if (entries.length > MAX_PYTHON_NODE_TYPES) {
    r.add("error", "metadata.json", `${PNT}: ${entries.length} types, over the limit of ${MAX_PYTHON_NODE_TYPES}`);
    return out;
  }
  const found = new Map<string, string[]>(); // each member is read once
  for (const [type, f] of entries) {
    const data = typeof f === "string" && f.startsWith("python/") ? files[f] : undefined;
    if (data && !found.has(f as string)) {
      const types = pythonNodeTypes(decoder.decode(data));
      found.set(f as string, types);
      if (types.length > MAX_PYTHON_NODE_TYPES) r.error(f as string, `defines more than ${MAX_PYTHON_NODE_TYPES} Python node types`);
    }
    if (!isIdent(type)) r.error("metadata.json", `${PNT}: '${type}' is not a node type name`);
    else if (typeof f !== "string") r.error("metadata.json", `${PNT}: '${type}': expected a member name "python/FILE.py"`);
    else if (!data) r.error("metadata.json", `${PNT}: '${type}' is declared in '${f}', which is not a python/ member`);
    else if (!found.get(f)!.includes(type))
      r.error(f, `does not define Python node type '${type}' (metadata.json declares it in ${PNT})`);
    else out.set(type, f);
  }
  return out;
}

/** Python node types of a loaded package are run by a host with Pyodide
 * (PythonHost in python.ts; structurally typed here so that this module
 * does not pull Pyodide in). */
export interface PackagePythonHost {
  addFiles(files: Record<string, string | Uint8Array>): void;
  importModule(name: string): void;
  attach(rm: unknown): void;
  nodeTypes(): string[];
}

/** The module to import for a python/ member ("python/a/b.py" → "a.b";
 * "python/pkg/__init__.py" → "pkg"). */
export function pythonModuleName(member: string): string {
  return member.replace(/^python\//, "").replace(/(\/__init__)?\.py$/, "").replace(/\//g, ".");
}

function checkRuntimeKey(man: Record<string, unknown>, text: string, r: Report): void {
  const rt = man.runtime;
  if (rt === undefined) {
    r.add("warning", "manifest.json", `no 'runtime' object; assuming runtime.target "${WASM_TARGET}"`);
    return;
  }
  const rtAt = text.indexOf('"runtime"');
  let [line, col] = locateKey(text, "runtime");
  if (typeof rt !== "object" || rt === null || Array.isArray(rt)) {
    r.error("manifest.json", "runtime: expected an object", line, col);
    return;
  }
  const target = (rt as Record<string, unknown>).target;
  if (target !== undefined) [line, col] = locateKey(text, "target", rtAt);
  if (target === undefined) r.error("manifest.json", `runtime.target is missing (must be "${WASM_TARGET}")`, line, col);
  else if (target !== WASM_TARGET) r.error("manifest.json", `runtime.target must be "${WASM_TARGET}"`, line, col);
}

/** Validates package bytes; returns the loaded package or throws PackageError. */
async function load(bytes: Uint8Array, name: string, options: LoadOptions = {}): Promise<LoadedPackage> {
  const lim: PackageLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const r = new Report();
  const fail = (): never => {
    throw new PackageError(name, r.items);
  };
  if (bytes.length > lim.maxPackageBytes) {
    r.error("", `the package is ${bytes.length} bytes, over the limit of ${mib(lim.maxPackageBytes)}`);
    fail();
  }
  if (bytes.length < 22) {
    r.error("", `not a zip archive (${bytes.length} bytes)`);
    fail();
  }
  // Pass 1: the central directory only (nothing is decompressed).
  const entries: Entry[] = [];
  try {
    unzipSync(bytes, {
      filter: (f) => {
        entries.push({ name: f.name, size: f.size, originalSize: f.originalSize, compression: f.compression });
        return false;
      },
    });
  } catch (e) {
    r.error("", /invalid zip data|13/.test(String(e)) ? "not a zip archive" : `damaged zip archive: ${String(e)}`);
    fail();
  }
  if (entries.length > lim.maxMembers) {
    r.error("", `the archive has ${entries.length} entries, over the limit of ${lim.maxMembers}`);
    fail();
  }
  const seen = new Set<string>();
  let total = 0;
  let totalReported = false;
  for (const e of entries) {
    const why = unsafeName(e.name);
    if (why) {
      r.error(e.name, `unsafe member name: ${why}`);
      continue;
    }
    if (seen.has(e.name)) r.error("", "two members have the same name");
    seen.add(e.name);
    const kind = classify(e.name);
    if (kind === "other") {
      r.error(e.name, "not part of the format (manifest.json, runtime.wasm, metadata.json, checksums, python/...)");
      continue;
    }
    if (kind === "dir") continue;
    if (e.compression !== 0 && e.compression !== 8) {
      r.error(e.name, `compression method ${e.compression}; only stored and deflate are allowed`);
      continue;
    }
    const limit = kind === "manifest" ? lim.maxManifestBytes : kind === "wasm" ? lim.maxWasmBytes
      : kind === "python" ? lim.maxPythonBytes : lim.maxMetadataBytes;
    if (e.originalSize > limit) {
      r.error(e.name, `${e.originalSize} bytes uncompressed, over the limit of ${mib(limit)}`);
      continue;
    }
    const ratio = Math.floor(e.originalSize / (e.size || 1));
    if (e.originalSize > lim.ratioMinBytes && ratio > lim.maxRatio) {
      r.error(e.name, `compression ratio ${ratio}:1 (${e.originalSize} bytes from ${e.size}) is over the limit of ` +
        `${lim.maxRatio}:1 (zip bomb)`);
      continue;
    }
    total += e.originalSize;
    if (total > lim.maxTotalBytes && !totalReported) {
      totalReported = true;
      r.error(e.name, `the members so far add up to ${total} bytes uncompressed, over the limit of ` +
        `${mib(lim.maxTotalBytes)} (zip bomb)`);
    }
  }
  if (r.errors) fail();

  // Pass 2: the members, each into a buffer of its declared size.
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter: (f) => classify(f.name) !== "dir" });
  } catch (e) {
    r.error("", `damaged zip archive: ${String(e)}`);
    return fail();
  }
  for (const e of entries) {
    const d = files[e.name];
    if (d && d.length !== e.originalSize)
      r.error(e.name, `the data is ${d.length > e.originalSize ? "longer" : "shorter"} than the ${e.originalSize} ` +
        `bytes its header declares`);
  }
  for (const req of ["manifest.json", "runtime.wasm", "checksums"])
    if (!files[req]) r.error(req, "missing (a required member)");
  if (r.errors) fail();

  await checkChecksums(files, r);
  const wasm = files["runtime.wasm"] as Uint8Array;
  checkWasm(wasm, r);
  const manifestText = decoder.decode(files["manifest.json"]);
  let manifest: Record<string, unknown> | undefined;
  try {
    const v: unknown = JSON.parse(manifestText);
    if (typeof v !== "object" || v === null || Array.isArray(v)) r.error("manifest.json", "expected a JSON object", 1, 1);
    else manifest = v as Record<string, unknown>;
  } catch (e) {
    // The library names line:column when it loads (below); without it,
    // JavaScript's own message.
    if (options.instantiate === false) r.error("manifest.json", `invalid JSON: ${(e as Error).message}`);
  }
  let metadata: Record<string, unknown> | undefined;
  if (files["metadata.json"]) {
    try {
      const v: unknown = JSON.parse(decoder.decode(files["metadata.json"]));
      if (typeof v !== "object" || v === null || Array.isArray(v)) r.error("metadata.json", "expected a JSON object");
      else metadata = v as Record<string, unknown>;
    } catch (e) {
      r.error("metadata.json", `invalid JSON: ${(e as Error).message}`);
    }
  }
  const pythonTypes = checkPythonTypes(metadata, files, r);
  if (manifest) checkRuntimeKey(manifest, manifestText, r);
  let runner: PipelineRunner | undefined;
  if (options.instantiate !== false && !r.errors) {
    runner = new PipelineRunner();
    try {
      await runner.loadWasm(wasm);
    } catch (e) {
      r.error("runtime.wasm", `cannot load the runtime: ${(e as Error).message}`);
      runner = undefined;
    }
    if (runner && pythonTypes.size) addPythonTypes(runner, pythonTypes, files, r, options.python);
    if (runner && !r.errors) {
      // Every manifest check of the library, against this runtime's node
      // types, with line:column (the same text as `rmedia validate`).
      try {
        const g = runner.library.compile(manifestText, "manifest.json");
        diagLines(r, g.warnings);
        g.free();
      } catch (e) {
        diagLines(r, (e as Error).message);
      }
    }
  } else if (!manifest && !r.errors) {
    r.error("manifest.json", "invalid JSON");
  }
  if (r.errors) fail();
  const python = new Map<string, Uint8Array>();
  for (const [n, d] of Object.entries(files)) if (classify(n) === "python") python.set(n, d);
  return {
    pythonNodeTypes: pythonTypes,
    name,
    manifest: manifest as Record<string, unknown>,
    manifestText,
    wasm,
    metadata,
    python,
    members: entries.map((e) => e.name),
    warnings: r.items.filter((p) => p.severity === "warning"),
    runner,
  };
}

/** Makes the declared Python types known to the package's runtime: run by
 * `host` (its python/ files imported), else as placeholders that only
 * compile.  A type already in the runtime, or one the import did not
 * register, is a problem naming the member. */
function addPythonTypes(runner: PipelineRunner, types: Map<string, string>, files: Record<string, Uint8Array>,
                        r: Report, host?: PackagePythonHost): void {
  const rm = runner.library;
  const have = new Set((rm.nodes() as { name?: string }[]).map((n) => n.name));
  for (const [type] of types)
    if (have.has(type)) r.error("metadata.json", `${PNT}: '${type}' is a node type of the runtime already`);
  if (r.errors) return;
  if (host) {
    const py: Record<string, Uint8Array> = {};
    for (const [n, d] of Object.entries(files)) if (classify(n) === "python") py[n.slice("python/".length)] = d;
    host.addFiles(py);
    for (const f of new Set(types.values())) {
      try {
        host.importModule(pythonModuleName(f));
      } catch (e) {
        r.error(f, `cannot import: ${(e as Error).message}`);
      }
    }
    host.attach(rm);
    const registered = new Set(host.nodeTypes());
    for (const [type, f] of types)
      if (!registered.has(type)) r.error(f, `importing it did not register Python node type '${type}'`);
    return;
  }
  for (const [type, f] of types)
    rm.registerExternal(type, {
      create: () => {
        throw new RemoteMediaError(`Python node type ${type} (${f}) runs in Pyodide: load the package with ` +
          "{ python: PythonHost } to run it", -7);
      },
    }, `Python node type of this package (${f})`);
}

async function checkChecksums(files: Record<string, Uint8Array>, r: Report): Promise<void> {
  const text = decoder.decode(files.checksums);
  const listed = new Set<string>();
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const n = i + 1;
    if (!line) continue;
    const m = /^(.{64}) {2}(.+)$/.exec(line);
    if (!m) {
      r.error("checksums", "expected '<64 hex digits>  <member name>' (as sha256sum prints it)", n, 1);
      continue;
    }
    const [, hex, member] = m as unknown as [string, string, string];
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      r.error("checksums", "the sha256 is not 64 lowercase hex digits", n, 1);
      continue;
    }
    const data = files[member];
    if (!data || member === "checksums") {
      r.error("checksums", `lists '${member}', which is not a member`, n, 67);
      continue;
    }
    if (listed.has(member)) {
      r.error("checksums", `lists '${member}' twice`, n, 67);
      continue;
    }
    listed.add(member);
    const have = await sha256Hex(data);
    if (have !== hex) r.error(member, `checksum mismatch: sha256 is ${have}, checksums (line ${n}) says ${hex}`);
  }
  for (const name of Object.keys(files))
    if (name !== "checksums" && !listed.has(name)) r.error(name, "has no line in checksums");
}

function checkWasm(w: Uint8Array, r: Report): void {
  if (w.length < 8 || w[0] !== 0 || w[1] !== 0x61 || w[2] !== 0x73 || w[3] !== 0x6d) {
    r.error("runtime.wasm", "not a WebAssembly module: it does not start with the magic \\0asm");
    return;
  }
  const version = new DataView(w.buffer, w.byteOffset, 8).getUint32(4, true);
  if (version !== 1)
    r.error("runtime.wasm", `WebAssembly binary version 0x${version.toString(16).padStart(8, "0")}; ` +
      "the runtime must be a version 1 module");
}

function toBytes(b: ArrayBuffer | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(b) ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array(b);
}

/** Loads .rmpkg packages: validates everything, then loads the runtime. */
export class PackageLoader {
  /** Validates a package held in memory and loads its runtime.  Throws
   * PackageError naming every problem. */
  static loadFromBytes(bytes: ArrayBuffer | ArrayBufferView, name = "package.rmpkg",
                       options?: LoadOptions): Promise<LoadedPackage> {
    return load(toBytes(bytes), name, options);
  }

  /** A File/Blob (browsers: the name must end in .rmpkg) or, in Node, a path. */
  static async loadFromFile(file: Blob | string, options?: LoadOptions): Promise<LoadedPackage> {
    if (typeof file === "string") {
      const fsName = "node:fs/promises"; // not resolved by bundlers for browsers
      const fs = (await import(/* @vite-ignore */ fsName)) as { stat(p: string): Promise<{ size: number }>;
        readFile(p: string): Promise<Uint8Array> };
      const max = options?.limits?.maxPackageBytes ?? DEFAULT_LIMITS.maxPackageBytes;
      const st = await fs.stat(file);
      if (st.size > max)
        throw new PackageError(file, [{ severity: "error", member: "",
          text: `error: the package is ${st.size} bytes, over the limit of ${mib(max)}` }]);
      return load(await fs.readFile(file), file, options);
    }
    const name = (file as File).name ?? "package.rmpkg";
    if ("name" in file && !name.endsWith(".rmpkg"))
      throw new PackageError(name, [{ severity: "error", member: "", text: "error: the file name must end in .rmpkg" }]);
    const max = options?.limits?.maxPackageBytes ?? DEFAULT_LIMITS.maxPackageBytes;
    if (file.size > max)
      throw new PackageError(name, [{ severity: "error", member: "",
        text: `error: the package is ${file.size} bytes, over the limit of ${mib(max)}` }]);
    return load(new Uint8Array(await file.arrayBuffer()), name, options);
  }

  static async loadFromUrl(url: string | URL, options?: LoadOptions): Promise<LoadedPackage> {
    const res = await fetch(url);
    if (!res.ok) throw new RemoteMediaError(`cannot load ${String(url)}: HTTP ${res.status}`, -3);
    const max = options?.limits?.maxPackageBytes ?? DEFAULT_LIMITS.maxPackageBytes;
    const declared = Number(res.headers.get("content-length") ?? "0");
    const name = String(url).split("/").pop() || "package.rmpkg";
    if (declared > max)
      throw new PackageError(name, [{ severity: "error", member: "",
        text: `error: the package is ${declared} bytes, over the limit of ${mib(max)}` }]);
    return load(new Uint8Array(await res.arrayBuffer()), name, options);
  }
}

export interface CreateOptions {
  /** manifest.json as stored (JSON text; an object is serialised) */
  manifest: string | object;
  wasm: Uint8Array;
  /** merged over the generated metadata.json */
  metadata?: Record<string, unknown>;
  /** python/... members: name below python/ → contents */
  python?: Record<string, Uint8Array | string>;
  /** created_at and the zip timestamps (default now) */
  createdAt?: Date;
}

/** metadata.json as REFERENCE.md §7.3 describes it (the same as the C side). */
function makeMetadata(man: Record<string, unknown>, wasmLen: number, hasPython: boolean, when: Date,
                      pythonTypes: Record<string, string>): Record<string, unknown> {
  const md = (man.metadata ?? {}) as Record<string, unknown>;
  const nodes = Array.isArray(man.nodes) ? (man.nodes as Record<string, unknown>[]) : [];
  const types = [...new Set(nodes.map((n) => n?.node_type).filter((t): t is string => typeof t === "string"))]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const pythonNodes = hasPython || types.some((t) => t.includes("Python"));
  return {
    format_version: PACKAGE_FORMAT_VERSION,
    package_name: typeof md.name === "string" ? md.name : "pipeline",
    package_version: typeof md.version === "string" ? md.version : "1.0.0",
    created_at: when.toISOString().replace(/\.\d{3}Z$/, "Z"),
    runtime_info: {
      target: WASM_TARGET,
      wasm_size_bytes: wasmLen,
      has_python_nodes: pythonNodes,
      has_rust_nodes: false,
      node_types: types,
      node_count: nodes.length,
      connection_count: Array.isArray(man.connections) ? man.connections.length : 0,
      ...(hasPython ? { python_node_types: pythonTypes } : {}),
    },
    performance_hints: {
      expected_load_time_ms: wasmLen < 10 * MIB ? 50 : 200,
      expected_execution_time_ms: pythonNodes ? 50 : 10,
      memory_requirement_mb: Math.ceil(wasmLen / MIB) + 20,
    },
  };
}

/** Writes a package (zip bytes).  The manifest is checked by the runtime
 * itself (the package's runtime.wasm) before anything is written; the
 * result is validated with PackageLoader. Throws PackageError. */
export async function createPackage(o: CreateOptions): Promise<Uint8Array> {
  const manifestText = typeof o.manifest === "string" ? o.manifest : JSON.stringify(o.manifest, null, 2);
  const when = o.createdAt ?? new Date();
  const r = new Report();
  let man: Record<string, unknown> = {};
  try {
    man = JSON.parse(manifestText) as Record<string, unknown>;
  } catch (e) {
    r.error("manifest.json", `invalid JSON: ${(e as Error).message}`);
  }
  const members: [string, Uint8Array][] = [
    ["manifest.json", encoder.encode(manifestText)],
    ["runtime.wasm", o.wasm],
  ];
  for (const [n, d] of Object.entries(o.python ?? {})) {
    const name = `python/${n}`;
    const why = unsafeName(name);
    if (why) r.error(name, `unsafe member name: ${why}`);
    members.push([name, typeof d === "string" ? encoder.encode(d) : d]);
  }
  if (r.errors) throw new PackageError("package", r.items);
  const declared: Record<string, string> = {};
  const all: string[] = [];
  for (const [n, d] of members.slice(2)) {
    if (!n.endsWith(".py")) continue;
    const before = all.length;
    pythonNodeTypes(decoder.decode(d), all);
    for (const t of all.slice(before)) declared[t] = n;
    if (all.length > MAX_PYTHON_NODE_TYPES) {
      r.error(n, `defines more than ${MAX_PYTHON_NODE_TYPES} Python node types`);
      throw new PackageError("package", r.items);
    }
  }
  const md = { ...makeMetadata(man, o.wasm.length, members.length > 2, when, declared), ...o.metadata };
  members.push(["metadata.json", encoder.encode(JSON.stringify(md, null, 2))]);
  let sums = "";
  for (const [n, d] of members) sums += `${await sha256Hex(d)}  ${n}\n`;
  members.push(["checksums", encoder.encode(sums)]);
  const zip: Zippable = {};
  for (const [n, d] of members) zip[n] = [d, { level: 9, mtime: when }];
  const bytes = zipSync(zip);
  await load(bytes, "package", { instantiate: true }); // refuses what a loader would refuse
  return bytes;
}
