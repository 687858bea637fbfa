/*
 * The pipeline worker: remotemedia.wasm and (on demand) Pyodide in one Web
 * Worker, so the executor calls Python nodes synchronously and the page never
 * blocks.  The page talks to it through RemoteMediaWorker (worker-client.ts).
 * Start it with `new Worker(url, { type: "module" })` on a module that
 * imports this one.
 *
 * Requests are {id, op, ...}; every reply is {id, ok: true, value} or
 * {id, ok: false, error}.  Session outputs are also pushed unasked as
 * {event: "outputs", session, outputs} (audio as transferred typed arrays).
 */
import { RemoteMedia, type Frame, type Output, type Session } from "./index.js";
import { PythonHost, type PythonStartup } from "./python.js";
import { PYTHON_FILES } from "./python-files.js";

export interface WorkerInit {
  wasmURL: string;
  /** Pyodide's files (pyodide.mjs, pyodide.asm.wasm, python_stdlib.zip, ...). */
  pyodideURL: string;
  /** A snapshot.json of web/scripts/python-snapshot.mjs: Python starts from
   * it (falling back to a normal start), see PythonHost.load. */
  pythonSnapshotURL?: string;
  /** For tests: check the memory restored from the snapshot (PythonHostOptions.checkSnapshot). */
  checkPythonSnapshot?: boolean;
  /** Start Pyodide now, beside the wasm library, instead of when a manifest
   * first names a Python node type.  Its first Python output comes sooner,
   * but the interpreter's start runs on this worker's thread: wasm sessions
   * wait behind it, and Pyodide's files (~45 MB with a snapshot) are read at
   * every page load. */
  preloadPython?: boolean;
  /** The page's first manifest: when it names a shipped Python node type,
   * Pyodide starts now, beside the wasm library (as with preloadPython, but
   * only for a page whose graph needs Python). */
  manifest?: string;
}

type Req = { id: number; op: string; [k: string]: unknown };

interface Scope {
  postMessage(msg: unknown, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent) => void) | null;
}
const scope = globalThis as unknown as Scope;

let init: WorkerInit | undefined;
let rm: RemoteMedia | undefined;
let py: PythonHost | undefined;
let pyLoading: Promise<PythonHost> | undefined;
let rmLoading: Promise<RemoteMedia> | undefined;
let pythonStart: Promise<{ loadMs: number; atMs: number; startup: PythonStartup } | undefined> | undefined;
const sessions = new Map<number, { s: Session; outs: Output[]; drop: Set<string> }>();
let nextSession = 1;

function lib(): RemoteMedia {
  if (!rm) throw new Error("the wasm library is not loaded");
  return rm;
}

async function python(): Promise<PythonHost> {
  if (py) return py;
  if (!init) throw new Error("not initialised");
  pyLoading ??= PythonHost.load({ indexURL: init.pyodideURL, snapshotURL: init.pythonSnapshotURL, checkSnapshot: init.checkPythonSnapshot });
  const h = await pyLoading;
  if (!py) {
    await rmLoading; // a preload may finish first
    h.attach(lib());
    py = h;
  }
  return py;
}

function transferables(outs: Output[]): Transferable[] {
  return outs.flatMap((o) => (o.audio ? [o.audio.samples.buffer as ArrayBuffer] : []));
}

function session(id: unknown) {
  const s = sessions.get(id as number);
  if (!s) throw new Error(`no session ${String(id)}`);
  return s;
}

/** Outputs of a push, without the sinks the page asked to drop ("node.port"). */
function take(entry: { outs: Output[]; drop: Set<string> }): Output[] {
  return entry.outs.splice(0).filter((o) => !entry.drop.has(`${o.node}.${o.port}`) && !entry.drop.has(o.node));
}

const ops: Record<string, (r: Req) => Promise<unknown> | unknown> = {
  async init(r) {
    init = r.init as WorkerInit;
    const t = performance.now();
    rmLoading = RemoteMedia.load(init.wasmURL);
    if (init.preloadPython || (init.manifest && namesPythonType(init.manifest))) pythonStart = python().then((h) => ({ loadMs: h.loadMs, atMs: performance.now() - t, startup: h.startup }), () => undefined);
    rm = await rmLoading;
    return { version: rm.version, loadMs: performance.now() - t };
  },
  async loadPython() {
    const t = performance.now();
    const h = await python();
    return { version: h.pyodide.version, loadMs: h.loadMs, totalMs: performance.now() - t, nodeTypes: h.nodeTypes(), startup: h.startup };
  },
  /** When a preload started at init finished: {loadMs, atMs after init,
   * startup}; without a preload, how the lazy start went (or null). */
  async pythonStartup() {
    if (pythonStart) return (await pythonStart) ?? null;
    return py ? { loadMs: py.loadMs, atMs: null, startup: py.startup } : null;
  },
  async python(r) {
    const h = await python();
    if (r.files) h.addFiles(r.files as Record<string, string>);
    for (const m of (r.modules as string[] | undefined) ?? []) h.importModule(m);
    if (r.code) h.run(r.code as string);
    return { nodeTypes: h.nodeTypes() };
  },
  nodes() {
    return lib().nodes();
  },
  async validate(r) {
    await needsPython(r.manifest as string);
    const g = lib().compile(r.manifest as string, (r.name as string) ?? "manifest");
    const info = g.info;
    const warnings = g.warnings;
    g.free();
    return { info, warnings };
  },
  async execute(r) {
    await needsPython(r.manifest as string);
    const t0 = performance.now();
    const s = lib().open(r.manifest as string);
    try {
      for (const item of (r.inputs as Frame[]) ?? []) s.push(item);
      s.flush();
      const outputs = s.takeOutputs();
      return { outputs, metrics: s.metrics(), timeMs: performance.now() - t0 };
    } finally {
      s.close();
    }
  },
  async open(r) {
    await needsPython(r.manifest as string);
    const id = nextSession++;
    const entry = { s: undefined as unknown as Session, outs: [] as Output[], drop: new Set((r.drop as string[]) ?? []) };
    entry.s = lib().open(r.manifest as string, { onOutput: (o) => entry.outs.push(o) });
    sessions.set(id, entry);
    return { session: id };
  },
  push(r) {
    const e = session(r.session);
    const frames = (r.frames as Frame[] | undefined) ?? [r.frame as Frame];
    const t = performance.now();
    for (const f of frames) e.s.push(f);
    return { outputs: take(e), pushMs: performance.now() - t };
  },
  flush(r) {
    const e = session(r.session);
    e.s.flush();
    return { outputs: take(e) };
  },
  metrics(r) {
    return session(r.session).s.metrics();
  },
  /** Measures inside the worker: pushes `frame` `repeat` times into a new
   * session (after `warmup` pushes) and returns µs per push (outputs taken
   * and dropped).  For benchmarks: no postMessage in the timing. */
  async time(r) {
    await needsPython(r.manifest as string);
    const s = lib().open(r.manifest as string);
    try {
      const frame = r.frame as Frame;
      const push = () => { s.push(frame); s.takeOutputs(); };
      for (let i = 0; i < ((r.warmup as number) ?? 100); i++) push();
      const n = (r.repeat as number) ?? 1000;
      const t = performance.now();
      for (let i = 0; i < n; i++) push();
      return { perPushUs: ((performance.now() - t) / n) * 1000, metrics: s.metrics() };
    } finally {
      s.close();
    }
  },
  close(r) {
    const e = sessions.get(r.session as number);
    sessions.delete(r.session as number);
    e?.s.close();
    return {};
  },
};

/** Python node types available without user code: the shipped nodes of
 * web/python and PythonNode.  Other Python types exist once the page ran
 * their code (op "python"), which loads Pyodide. */
const SHIPPED_PYTHON_TYPES = new Set([
  "PythonNode",
  ...Object.values(PYTHON_FILES).flatMap((src) => [...src.matchAll(/@remotemedia\.node\("(\w+)"/g)].map((m) => m[1]!)),
]);

/** Loads Pyodide first when the manifest names a shipped Python node type,
 * so the validator knows it (a typo of a wasm type stays a fast error). */
async function needsPython(manifest: string): Promise<void> {
  if (!py && namesPythonType(manifest)) await python();
}

function namesPythonType(manifest: string): boolean {
  const named = [...manifest.matchAll(/node_type["']?\s*:\s*["']?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
  return named.some((t) => t !== undefined && SHIPPED_PYTHON_TYPES.has(t));
}

scope.onmessage = async (e: MessageEvent) => {
  const r = e.data as Req;
  try {
    const value = await ops[r.op]!(r);
    const outs = (value as { outputs?: Output[] } | undefined)?.outputs;
    scope.postMessage({ id: r.id, ok: true, value }, outs ? transferables(outs) : []);
  } catch (err) {
    const ex = err as { message?: string; name?: string; code?: number };
    scope.postMessage({ id: r.id, ok: false, error: { message: ex?.message ?? String(err), name: ex?.name, code: ex?.code } });
  }
};
