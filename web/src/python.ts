/*
 * Python nodes in Pyodide, as external nodes of the wasm executor.
 *
 *   const py = await PythonHost.load({ indexURL: "/pyodide/" });  // served by you
 *   py.addFiles({ "my_nodes.py": source });  py.importModule("my_nodes");
 *   py.attach(rm);              // every @remotemedia.node type, and PythonNode
 *   rm.open(manifestMixingWasmAndPythonNodes) ...
 *
 * The browser-side `remotemedia` module (web/python/, pure Python) gives the
 * Python package's node API; its classes run unchanged.  Pyodide and the
 * executor share one thread (a Web Worker in the demo: web/src/worker.ts), so
 * an external node call is a plain synchronous Python call.  Audio crosses as
 * the typed array's bytes (no JSON); json frames as their JSON text.
 */
import { PYTHON_FILES, PYTHON_FILES_HASH } from "./python-files.js";
import type { AudioFrame, Emit, ExternalInstance, Output, RemoteMedia } from "./index.js";

/** The part of Pyodide's API used here. */
export interface Pyodide {
  runPython(code: string): unknown;
  pyimport(name: string): PyProxy;
  FS: { mkdirTree(p: string): void; writeFile(p: string, data: string | Uint8Array): void };
  version: string;
}
interface PyProxy {
  [k: string]: unknown;
  toJs(opts?: { create_proxies?: boolean }): unknown;
  destroy(): void;
}
type PyFn = (...args: unknown[]) => PyProxy;

export interface PythonHostOptions {
  /** Where pyodide.mjs, pyodide.asm.wasm, python_stdlib.zip, ... are served (same origin). */
  indexURL?: string;
  /** An already loaded Pyodide. */
  pyodide?: Pyodide;
  /** A snapshot.json written by web/scripts/python-snapshot.mjs (served with
   * Pyodide's files): the interpreter's memory with the standard library and
   * remotemedia already imported, and the precompiled standard library it
   * was made with.  Used when it was made for this Pyodide version and these
   * web/python files; any mismatch or failure falls back to a normal start
   * (the reason is in `startup.snapshot`). */
  snapshotURL?: string;
}

/** What web/scripts/python-snapshot.mjs writes as snapshot.json. */
export interface SnapshotMeta {
  format: 1;
  /** Pyodide's version (the snapshot also carries its build id, checked by Pyodide). */
  pyodide: string;
  /** PYTHON_FILES_HASH of the web/python files imported in the snapshot. */
  python: string;
  /** File names, relative to snapshot.json: the snapshot and the standard
   * library zip it was made with (named by their content hash). */
  snapshot: string;
  stdlib: string;
  bytes: number;
}

/** How a PythonHost started: `marks` are [step, ms since load() began]. */
export interface PythonStartup {
  marks: [string, number][];
  /** "used", or why not ("none asked", "made for Pyodide 1.2.3", a load error, ...). */
  snapshot: string;
  /** Resource timing of Pyodide's files in this load, when the host has it. */
  fetches: { file: string; startMs: number; endMs: number; bytes: number }[];
}

const USER_DIR = "/home/pyodide/rm_user";
const FORMAT_ARRAYS = { 1: Float32Array, 2: Int16Array, 3: Int32Array } as const;

export class PythonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PythonError";
  }
}

type Settings = Record<string, unknown>;
type CreateModule = (settings: Settings) => Promise<{ API?: Record<string, unknown> }>;
interface PyodideModuleExports {
  version: string;
  loadPyodide(o: Record<string, unknown>): Promise<Pyodide>;
}

export class PythonHost {
  /** ms spent in loadPyodide + installing the shim. */
  loadMs = 0;
  startup: PythonStartup = { marks: [], snapshot: "none asked", fetches: [] };
  private readonly host: PyProxy;
  private readonly attached = new Map<RemoteMedia, Set<string>>();

  private constructor(readonly pyodide: Pyodide) {
    // remotemedia already imported: restored from a snapshot, which carries
    // the random module's state of the moment it was made
    const restored = pyodide.runPython("import sys\n'remotemedia._host' in sys.modules") === true;
    PythonHost.install(pyodide);
    if (restored) pyodide.runPython("import random\nrandom.seed()");
    this.host = pyodide.pyimport("remotemedia._host");
  }

  /** Writes web/python's files into Pyodide's file system and imports
   * remotemedia (with its shipped nodes).  PythonHost does it; a snapshot
   * maker calls it alone, before taking the snapshot. */
  static install(pyodide: Pyodide): void {
    pyodide.FS.mkdirTree(USER_DIR);
    for (const [file, src] of Object.entries(PYTHON_FILES)) {
      const dir = `${USER_DIR}/${file}`.replace(/\/[^/]*$/, "");
      pyodide.FS.mkdirTree(dir);
      pyodide.FS.writeFile(`${USER_DIR}/${file}`, src);
    }
    pyodide.runPython(`import sys\nif ${JSON.stringify(USER_DIR)} not in sys.path: sys.path.insert(0, ${JSON.stringify(USER_DIR)})\nimport remotemedia, remotemedia_nodes, remotemedia._host`);
  }

  static async load(options: PythonHostOptions = {}): Promise<PythonHost> {
    const t0 = now();
    const startup: PythonStartup = { marks: [], snapshot: "none asked", fetches: [] };
    const mark = (step: string) => startup.marks.push([step, Math.round(now() - t0)]);
    let py = options.pyodide;
    if (!py) {
      // pyodide.mjs from indexURL, served with the page (not bundled).  In
      // Node pass `pyodide` (loadPyodide() of the npm package) instead.
      const base = options.indexURL;
      if (!base) throw new PythonError("PythonHost.load needs indexURL (where Pyodide's files are) or pyodide");
      const metaP = options.snapshotURL ? fetchSnapshotMeta(options.snapshotURL) : undefined;
      // pyodide.asm.mjs imported here (not by loadPyodide) to time its steps
      const [mod, asm] = await Promise.all([
        import(/* @vite-ignore */ `${base}pyodide.mjs`) as Promise<PyodideModuleExports>,
        import(/* @vite-ignore */ `${base}pyodide.asm.mjs`) as Promise<{ default: CreateModule }>,
      ]);
      mark("pyodide.mjs and pyodide.asm.mjs imported");
      const meta = metaP ? await metaP : undefined;
      let stdLibURL: string | undefined;
      if (typeof meta === "string") startup.snapshot = meta;
      else if (meta) {
        const dir = new URL(".", new URL(options.snapshotURL!, base)).href;
        stdLibURL = dir + meta.stdlib;
        if (meta.pyodide !== mod.version) startup.snapshot = `made for Pyodide ${meta.pyodide}, this is ${mod.version}`;
        else if (meta.python !== PYTHON_FILES_HASH) startup.snapshot = "made with other web/python files";
        else {
          const bytes = fetch(dir + meta.snapshot).then(async (r) => {
            if (!r.ok) throw new Error(`${meta.snapshot}: HTTP ${r.status}`);
            const b = expandSnapshot(new Uint8Array(await r.arrayBuffer()));
            mark(`snapshot fetched (${b.byteLength} bytes)`);
            return b;
          });
          try {
            py = await mod.loadPyodide(pyodideConfig(base, stdLibURL, timed(asm.default, mark), bytes));
            startup.snapshot = "used";
          } catch (e) {
            startup.snapshot = `failed: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`;
            mark("snapshot failed");
          }
        }
      }
      if (!py) {
        // packageBaseUrl: packages come from the same files, never from
        // Pyodide's default CDN (nothing is fetched from the internet).
        py = await mod.loadPyodide(pyodideConfig(base, stdLibURL, timed(asm.default, mark)));
      }
      mark("loadPyodide done");
      startup.fetches = resourceTimings(base, t0);
    }
    const h = new PythonHost(py);
    mark("remotemedia imported");
    h.loadMs = now() - t0;
    h.startup = startup;
    return h;
  }

  /** Writes Python files (path relative to the import root: "my_nodes.py",
   * "pkg/__init__.py") where `import` finds them, e.g. a package's python/. */
  addFiles(files: Record<string, string | Uint8Array>): void {
    for (const [file, data] of Object.entries(files)) {
      if (file.split("/").some((p) => p === ".." || p === "") || file.startsWith("/"))
        throw new PythonError(`bad Python file name '${file}'`);
      const full = `${USER_DIR}/${file}`;
      this.pyodide.FS.mkdirTree(full.replace(/\/[^/]*$/, ""));
      this.pyodide.FS.writeFile(full, data);
    }
    this.pyodide.runPython("import importlib; importlib.invalidate_caches()");
  }

  /** Imports a module (its @remotemedia.node classes register) and adds new
   * node types to every attached runtime.  Errors carry the Python traceback's last line. */
  importModule(name: string): void {
    this.run(`import importlib\nimportlib.import_module(${JSON.stringify(name)})`);
  }

  /** Runs Python source (e.g. node classes typed into the page). */
  run(code: string): void {
    try {
      this.pyodide.runPython(code);
    } catch (e) {
      throw new PythonError(pythonMessage(e));
    }
    for (const rm of this.attached.keys()) this.sync(rm);
  }

  /** Names of the registered Python node types. */
  nodeTypes(): string[] {
    const names = this.pyodide.runPython("import remotemedia; remotemedia.nodes()") as PyProxy;
    try {
      return names.toJs() as string[];
    } finally {
      names.destroy();
    }
  }

  /** Registers every Python node type (and PythonNode, `class: module:Class`)
   * in `rm`; types registered later are added as they appear. */
  attach(rm: RemoteMedia): void {
    if (!this.attached.has(rm)) {
      this.attached.set(rm, new Set());
      this.register(rm, "PythonNode", "Runs a Python node class (module:Class) in Pyodide");
    }
    this.sync(rm);
  }

  private sync(rm: RemoteMedia): void {
    const done = this.attached.get(rm);
    if (!done) return;
    for (const name of this.nodeTypes()) if (!done.has(name)) this.register(rm, name, `Python node ${name}`);
  }

  private register(rm: RemoteMedia, name: string, doc: string): void {
    this.attached.get(rm)?.add(name);
    rm.registerExternal(name, { create: (params, nodeId) => this.create(name, params, nodeId) }, doc);
  }

  private create(type: string, params: Record<string, unknown>, nodeId: string): ExternalInstance {
    const r = (this.host.create as PyFn)(type, JSON.stringify(params), nodeId);
    const [inst, err] = r.toJs({ create_proxies: false }) as unknown as [PyProxy | undefined, string];
    // toJs keeps PyProxies for objects it cannot convert: the instance
    r.destroy();
    if (err || !inst) throw new PythonError(err || `Python node ${type} '${nodeId}' could not be created`);
    const call = this.host.call as PyFn;
    const toPython = this.host.to_python as PyFn;
    const run = (op: number, arg: unknown, emit: Emit): void => {
      const res = call(inst, op, arg);
      let outs: [string, unknown, number, number, number, number][];
      let msg: string;
      try {
        [outs, msg] = res.toJs() as [typeof outs, string];
      } finally {
        res.destroy();
      }
      if (msg) throw new PythonError(msg);
      for (const [kind, payload, rate, channels, fmt, ts] of outs) {
        if (kind === "audio") {
          const bytes = payload as Uint8Array;
          const Arr = FORMAT_ARRAYS[fmt as 1 | 2 | 3];
          const samples = new Arr(bytes.buffer, bytes.byteOffset, bytes.byteLength / Arr.BYTES_PER_ELEMENT);
          const frame: AudioFrame = { samples, sampleRate: rate, channels };
          if (ts >= 0) frame.timestampUs = ts;
          emit(frame);
        } else if (kind === "text") emit(payload as string);
        else emit(JSON.parse(payload as string) as object);
      }
    };
    return {
      process: (input: Output, emit: Emit) => {
        let arg: PyProxy;
        if (input.kind === "audio" && input.audio) {
          const s = input.audio.samples;
          const fmt = s instanceof Float32Array ? 1 : s instanceof Int16Array ? 2 : 3;
          arg = toPython("audio", null, new Uint8Array(s.buffer, s.byteOffset, s.byteLength), input.audio.sampleRate,
                         input.audio.channels, fmt, input.timestampUs ?? -1);
        } else if (input.kind === "json") {
          arg = toPython("json", JSON.stringify(input.value), null, 0, 0, 0, -1);
        } else if (input.kind === "text") {
          arg = toPython("text", input.value, null, 0, 0, 0, -1);
        } else {
          throw new PythonError(`Python nodes take audio, text and json frames, not ${input.kind}`);
        }
        try {
          run(1, arg, emit);
        } finally {
          if (arg && typeof arg === "object" && "destroy" in arg) arg.destroy();
        }
      },
      flush: (emit: Emit) => run(2, null, emit),
      reset: () => run(3, null, () => {}),
      dispose: () => inst.destroy(),
    };
  }
}

function pyodideConfig(indexURL: string, stdLibURL: string | undefined, createPyodideModule: CreateModule,
                       snapshot?: Promise<Uint8Array>): Record<string, unknown> {
  const c: Record<string, unknown> = { indexURL, packageBaseUrl: indexURL, createPyodideModule };
  if (stdLibURL) c.stdLibURL = stdLibURL;
  if (snapshot) c._loadSnapshot = snapshot; // Pyodide's (private) memory snapshot option
  return c;
}

/** Wraps Emscripten's module factory to mark the steps of a start: wasm
 * instantiated, runtime ready (the standard library written), the interpreter
 * started or the snapshot restored, Pyodide's bootstrap.  Only observes. */
function timed(create: CreateModule, mark: (step: string) => void): CreateModule {
  return async (settings) => {
    const inst = settings.instantiateWasm;
    if (typeof inst === "function")
      settings.instantiateWasm = (imports: unknown, done: (i: unknown, m: unknown) => void) =>
        inst(imports, (i: unknown, m: unknown) => { mark("wasm compiled and instantiated"); done(i, m); });
    settings.onRuntimeInitialized = () => mark("runtime ready (standard library written)");
    const m = await create(settings);
    if (!settings.noInitialRun) mark("interpreter initialised (Py_Initialize)");
    const api = m.API;
    for (const [fn, step] of [["restoreSnapshot", "snapshot restored"], ["finalizeBootstrap", "Pyodide bootstrap done"]] as const) {
      const f = api?.[fn];
      if (api && typeof f === "function")
        api[fn] = (...a: unknown[]) => { const r = (f as (...x: unknown[]) => unknown)(...a); mark(step); return r; };
    }
    return m;
  };
}

const SPARSE_MAGIC = "RMSPARSE";

/** A snapshot as web/scripts/python-snapshot.mjs writes it: "RMSPARSE", the
 * full length and the page size (u32 little-endian each), a bitmap of the
 * pages that are not all zero, then those pages.  Most of a fresh
 * interpreter's memory is zero: this is ~40 % of the bytes to read.
 * Anything else is returned as it is (Pyodide checks its own format). */
export function expandSnapshot(file: Uint8Array): Uint8Array {
  if (file.length < 16 || String.fromCharCode(...file.subarray(0, 8)) !== SPARSE_MAGIC) return file;
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const total = dv.getUint32(8, true), page = dv.getUint32(12, true);
  if (page === 0) throw new Error("snapshot: page size 0");
  const pages = Math.ceil(total / page);
  const bitmap = file.subarray(16, 16 + Math.ceil(pages / 8));
  const out = new Uint8Array(total);
  let at = 16 + bitmap.length;
  for (let i = 0; i < pages; i++) {
    if (!(bitmap[i >> 3]! & (1 << (i & 7)))) continue;
    const n = Math.min(page, total - i * page);
    if (at + n > file.length) throw new Error("snapshot: file truncated");
    out.set(file.subarray(at, at + n), i * page);
    at += n;
  }
  if (at !== file.length) throw new Error("snapshot: trailing bytes");
  return out;
}

async function fetchSnapshotMeta(url: string): Promise<SnapshotMeta | string> {
  try {
    const r = await fetch(url);
    if (!r.ok) return `${url}: HTTP ${r.status}`;
    const m = (await r.json()) as SnapshotMeta;
    if (m.format !== 1 || typeof m.snapshot !== "string" || typeof m.stdlib !== "string") return `${url}: not a snapshot description`;
    return m;
  } catch (e) {
    return `${url}: ${e instanceof Error ? e.message : String(e)}`;
  }
}

function resourceTimings(base: string, t0: number): PythonStartup["fetches"] {
  if (typeof performance === "undefined" || typeof performance.getEntriesByType !== "function") return [];
  return (performance.getEntriesByType("resource") as PerformanceResourceTiming[])
    .filter((e) => e.name.startsWith(base) && e.startTime >= t0 - 1)
    .map((e) => ({ file: e.name.slice(base.length), startMs: Math.round(e.startTime - t0), endMs: Math.round(e.responseEnd - t0),
                   bytes: e.encodedBodySize }));
}

/** The last line of a Python traceback ("ValueError: ..."), or the message. */
function pythonMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  const lines = m.trim().split("\n");
  return lines[lines.length - 1] || m;
}

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}
