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
import { PYTHON_FILES } from "./python-files.js";
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
  /** Where pyodide.asm.wasm, python_stdlib.zip, ... are served (same origin). */
  indexURL?: string;
  /** An already loaded Pyodide. */
  pyodide?: Pyodide;
}

const USER_DIR = "/home/pyodide/rm_user";
const FORMAT_ARRAYS = { 1: Float32Array, 2: Int16Array, 3: Int32Array } as const;

export class PythonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PythonError";
  }
}

export class PythonHost {
  /** ms spent in loadPyodide + installing the shim. */
  loadMs = 0;
  private readonly host: PyProxy;
  private readonly attached = new Map<RemoteMedia, Set<string>>();

  private constructor(readonly pyodide: Pyodide) {
    pyodide.FS.mkdirTree(USER_DIR);
    for (const [file, src] of Object.entries(PYTHON_FILES)) {
      const dir = `${USER_DIR}/${file}`.replace(/\/[^/]*$/, "");
      pyodide.FS.mkdirTree(dir);
      pyodide.FS.writeFile(`${USER_DIR}/${file}`, src);
    }
    pyodide.runPython(`import sys\nif ${JSON.stringify(USER_DIR)} not in sys.path: sys.path.insert(0, ${JSON.stringify(USER_DIR)})\nimport remotemedia, remotemedia_nodes`);
    this.host = pyodide.pyimport("remotemedia._host");
  }

  static async load(options: PythonHostOptions = {}): Promise<PythonHost> {
    const t = now();
    let py = options.pyodide;
    if (!py) {
      // pyodide.mjs from indexURL, served with the page (not bundled).  In
      // Node pass `pyodide` (loadPyodide() of the npm package) instead.
      if (!options.indexURL) throw new PythonError("PythonHost.load needs indexURL (where Pyodide's files are) or pyodide");
      const { loadPyodide } = (await import(/* @vite-ignore */ `${options.indexURL}pyodide.mjs`)) as {
        loadPyodide(o: { indexURL?: string; packageBaseUrl?: string }): Promise<Pyodide>;
      };
      // packageBaseUrl: packages come from the same files, never from
      // Pyodide's default CDN (nothing is fetched from the internet).
      py = await loadPyodide({ indexURL: options.indexURL, packageBaseUrl: options.indexURL });
    }
    const h = new PythonHost(py);
    h.loadMs = now() - t;
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

/** The last line of a Python traceback ("ValueError: ..."), or the message. */
function pythonMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  const lines = m.trim().split("\n");
  return lines[lines.length - 1] || m;
}

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}
