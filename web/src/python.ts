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
import { fetchSnapshot, restoreInPlace, type PyodideModuleForRestore, type SnapshotImage } from "./snapshot.js";
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
  /** For tests: after a restore from the snapshot, reads the snapshot again
   * and checks that Pyodide's memory holds exactly its image (slow). */
  checkSnapshot?: boolean;
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
      // Everything a start needs is asked for at once: Pyodide's modules,
      // its wasm, snapshot.json (then the snapshot and the standard library
      // it names).  The wasm's stream compile starts only once the modules
      // and snapshot.json are in: it consumes the wasm's bytes on this
      // thread in long tasks (~0.3 s), and until it is done no other
      // response here moves on.  loadPyodide alone would compile the wasm
      // only once the snapshot is in memory.
      const wasmResponse = typeof fetch === "function" && typeof WebAssembly.compileStreaming === "function"
        ? fetch(`${base}pyodide.asm.wasm`) : undefined;
      wasmResponse?.catch(() => {}); // a failure only means Pyodide fetches its own copy
      const snap = options.snapshotURL ? fetchSnapshot(options.snapshotURL, base, mark, options.checkSnapshot) : undefined;
      // pyodide.asm.mjs imported here (not by loadPyodide) to time its steps
      const [mod, asm] = await Promise.all([
        import(/* @vite-ignore */ `${base}pyodide.mjs`) as Promise<PyodideModuleExports>,
        import(/* @vite-ignore */ `${base}pyodide.asm.mjs`) as Promise<{ default: CreateModule }>,
      ]);
      mark("pyodide.mjs and pyodide.asm.mjs imported");
      const s = snap ? await snap.found : undefined; // the snapshot is asked for when this resolves
      const wasm = compileEarly(wasmResponse, mark);
      const create = timed(asm.default, mark, wasm);
      // the snapshot's standard library is compiled for the Pyodide it names
      const sameVersion = s?.pyodide === mod.version;
      const stdLibURL = sameVersion ? s?.stdLibURL : undefined;
      // the standard library asked for with snapshot.json; Pyodide's first
      // start takes that response instead of asking again (see answerOnce)
      let stdLib = sameVersion ? s?.stdLib : undefined;
      const load = async (settings: Record<string, unknown>) => {
        const answers = new Map<string, Answer>();
        const asked = stdLib;
        if (asked && stdLibURL) answers.set(stdLibURL, (real) => asked.then((r) => (r.ok ? r : real(stdLibURL)), () => real(stdLibURL)));
        stdLib = undefined; // a response is read once
        // the early compile serves Pyodide's wasm: its own download starts
        // only if that compile failed (see instantiateFrom)
        const wasmURL = absolute(`${base}pyodide.asm.wasm`);
        if (wasm) answers.set(wasmURL, (real) => lazyFetch(real, wasmURL));
        const swap = answerOnce(answers);
        try {
          return await mod.loadPyodide(settings);
        } finally {
          swap.restore();
        }
      };
      if (s && !sameVersion && s.pyodide) {
        startup.snapshot = `made for Pyodide ${s.pyodide}, this is ${mod.version}`;
        snap!.abort();
      } else if (s?.refused) startup.snapshot = s.refused;
      else if (s) {
        try {
          // Pyodide is given a buffer of the snapshot's size at once (it
          // only needs the size to set its memory up; the buffer is never
          // written); the pages go straight into its memory as they arrive
          // (SnapshotImage), overlapping the wasm's instantiation and
          // runtime start, and its restore only checks the header.
          const restoring = timed(asm.default, mark, wasm, s.image, s.expected);
          py = await load(pyodideConfig(base, stdLibURL, restoring, Promise.resolve(new Uint8Array(s.image!.size))));
          startup.snapshot = "used";
        } catch (e) {
          startup.snapshot = `failed: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`;
          mark("snapshot failed");
        }
      }
      if (!py) {
        // packageBaseUrl: packages come from the same files, never from
        // Pyodide's default CDN (nothing is fetched from the internet).
        // (A wasm module instantiates any number of times: the early compile
        // serves this start too.)
        py = await load(pyodideConfig(base, stdLibURL, create));
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
 * started or the snapshot restored, Pyodide's bootstrap.  With `early` (the
 * module compileEarly is compiling), Pyodide's instantiation takes it instead
 * of compiling its own copy (see instantiateFrom).  With `image`, the
 * snapshot's pages go into the module's memory, and the module is handed over
 * once they are all there, with a restoreSnapshot that only checks the header
 * (and, given `expected`, checks the memory against the whole snapshot). */
function timed(create: CreateModule, mark: (step: string) => void, early?: Promise<WebAssembly.Module>,
               image?: SnapshotImage, expected?: Promise<Uint8Array>): CreateModule {
  return async (settings) => {
    const inst = settings.instantiateWasm;
    if (typeof inst === "function")
      settings.instantiateWasm = (imports: unknown, done: (i: unknown, m: unknown) => void) => {
        const swap = early ? instantiateFrom(early, imports, mark) : undefined;
        return inst(imports, (i: unknown, m: unknown) => {
          swap?.restore();
          mark(swap?.used() ? "wasm instantiated (the early compile)" : "wasm compiled and instantiated");
          done(i, m);
        });
      };
    settings.onRuntimeInitialized = () => mark("runtime ready (standard library written)");
    const m = await create(settings);
    if (!settings.noInitialRun) mark("interpreter initialised (Py_Initialize)");
    if (image) await restoreInPlace(m as PyodideModuleForRestore, image, expected, () => mark("snapshot checked: Pyodide's memory is its image"));
    const api = m.API;
    for (const [fn, step] of [["restoreSnapshot", "snapshot restored"], ["finalizeBootstrap", "Pyodide bootstrap done"]] as const) {
      const f = api?.[fn];
      if (api && typeof f === "function")
        api[fn] = (...a: unknown[]) => { const r = (f as (...x: unknown[]) => unknown)(...a); mark(step); return r; };
    }
    return m;
  };
}

type InstantiateStreaming = (source: Response | PromiseLike<Response>, imports?: unknown) => Promise<unknown>;

/** Compiles Pyodide's wasm as the rest of its download arrives (undefined
 * where there is no streaming compile).  Never rejects unhandled: a failure
 * only means Pyodide compiles its own copy. */
function compileEarly(response: Promise<Response> | undefined, mark: (step: string) => void): Promise<WebAssembly.Module> | undefined {
  if (!response || typeof WebAssembly.compileStreaming !== "function") return undefined;
  const p = WebAssembly.compileStreaming(response).then((m) => { mark("pyodide.asm.wasm compiled (asked for with the load)"); return m; });
  p.catch(() => {});
  return p;
}

/** Pyodide's instantiateWasm (pinned version: web/package.json) adds two
 * imports and calls WebAssembly.instantiateStreaming(its own fetch, imports).
 * Until that call, instantiateStreaming is swapped for one that, for exactly
 * this imports object, instantiates the early module and cancels Pyodide's
 * download; any other caller, or an early compile that failed, goes to the
 * real one.  `restore` puts the real one back (done on the first call too);
 * `used` says whether the early module was taken.  If a later Pyodide stops
 * calling it, the start is as before, only not sooner. */
function instantiateFrom(early: Promise<WebAssembly.Module>, imports: unknown, mark: (step: string) => void) {
  const wa = WebAssembly as unknown as { instantiateStreaming: InstantiateStreaming };
  const real = wa.instantiateStreaming;
  let used = false;
  const restore = () => { if (wa.instantiateStreaming === swapped) wa.instantiateStreaming = real; };
  const swapped: InstantiateStreaming = async (source, imp) => {
    if (imp !== imports) return real.call(WebAssembly, source, imp);
    restore();
    let module: WebAssembly.Module;
    try {
      module = await early;
    } catch {
      mark("early compile failed: Pyodide compiles");
      return real.call(WebAssembly, source, imp);
    }
    // Pyodide's own download, unless it never started (lazyFetch), is not needed
    if (!notStarted.has(source)) void Promise.resolve(source).then((r) => r.body?.cancel()).catch(() => {});
    used = true;
    return { module, instance: await WebAssembly.instantiate(module, imp as WebAssembly.Imports) };
  };
  wa.instantiateStreaming = swapped;
  return { restore, used: () => used };
}

/** Pyodide fetches its standard library (installStdlib) and its wasm
 * (instantiateWasm) while it sets a start up, each once.  Until it does,
 * fetch() answers those exact URLs from `answers` (the standard library
 * asked for as soon as its name was known; for the wasm, a download that
 * starts only if it is read) instead of downloading them again; any other
 * call goes to the real fetch (as does the standard library's, if the
 * early one failed).  `restore` puts the real fetch back (done once all
 * were asked for).  If a later Pyodide fetches them some other way, the
 * start is as before, only not sooner. */
function answerOnce(answers: Map<string, Answer>) {
  const real = globalThis.fetch;
  const restore = () => { if (globalThis.fetch === swapped) globalThis.fetch = real; };
  const swapped: typeof fetch = (input, init) => {
    const asked = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const answer = answers.get(asked);
    if (!answer) return real(input, init);
    answers.delete(asked);
    if (answers.size === 0) restore();
    return answer(real);
  };
  if (answers.size > 0) globalThis.fetch = swapped;
  return { restore };
}
/** answerOnce's response for one URL, given the real fetch. */
type Answer = (real: typeof fetch) => Promise<Response>;

/** Responses of lazyFetch: a download that has not started. */
const notStarted = new WeakSet<object>();

/** A promise of real(url) that fetches only once something waits on it. */
function lazyFetch(real: typeof fetch, url: string): Promise<Response> {
  let started: Promise<Response> | undefined;
  const lazy = {
    then<A, B>(ok?: (r: Response) => A | PromiseLike<A>, failed?: (e: unknown) => B | PromiseLike<B>) {
      notStarted.delete(lazy);
      return (started ??= real(url)).then(ok, failed);
    },
  };
  notStarted.add(lazy);
  return lazy as unknown as Promise<Response>;
}

/** `url` made absolute against the page, as Pyodide makes it before fetching. */
function absolute(url: string): string {
  try {
    return new URL(url, globalThis.location?.href).href;
  } catch {
    return url;
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
