/*
 * @remotemedia/web: RemoteMedia pipelines in browsers and Node 20, on the
 * wasm library build/wasm/remotemedia.wasm (its C API: src/wasm/rmw.h).
 *
 *   const rm = await RemoteMedia.load(bytesOrUrl);
 *   const runner = new PipelineRunner(); await runner.loadWasm(bytesOrUrl);
 *   const { result, metrics } = await runner.execute(manifest, [5, 7, 3]);
 *   const session = rm.open(manifest); session.push(frame); ... session.close();
 *
 * Everything runs synchronously inside the calls on the caller's thread; the
 * module keeps no reference to JavaScript memory.  Errors throw
 * RemoteMediaError with the same located message the native CLI prints.
 */
import { wasiImports } from "./wasi.js";

export { WasiExit } from "./wasi.js";
export * from "./package.js";

/** rm_frame_kind values of the core (include/remotemedia/frame.h). */
const KIND_NAMES = ["", "audio", "video", "tensor", "json", "text", "binary"] as const;
export type OutputKind = "audio" | "video" | "tensor" | "json" | "text" | "binary";

/** An error from the library: `message` is the located text (file:line:col,
 * node id, key) exactly as the native CLI prints it; `code` the RM_E* code. */
export class RemoteMediaError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = "RemoteMediaError";
  }
}

export interface AudioFrame {
  /** Interleaved samples: Float32Array (f32, nominal [-1, 1]), Int16Array (s16) or Int32Array (s32). */
  samples: Float32Array | Int16Array | Int32Array;
  sampleRate: number;
  channels: number;
  /** Presentation time of the first sample in µs.  Pushed frames without one
   * are stamped from the samples pushed so far (as `rmedia run` does). */
  timestampUs?: number;
}

export type Frame = AudioFrame | string | number | boolean | null | object;

export interface Output {
  node: string;
  port: string;
  kind: OutputKind;
  /** json frames: the parsed value; text frames: the string. */
  value?: unknown;
  /** audio frames: a copy of the samples. */
  audio?: AudioFrame;
  timestampUs?: number;
}

interface Exports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  rmw_error(): number;
  rmw_version(): number;
  rmw_alloc(n: number): number;
  rmw_free(p: number): void;
  rmw_runtime_new(): number;
  rmw_runtime_free(rt: number): void;
  rmw_nodes_json(rt: number): number;
  rmw_inspect_json(rt: number, name: number, len: number): number;
  rmw_schema_json(rt: number): number;
  rmw_graph_from_text(rt: number, text: number, len: number, name: number, nameLen: number): number;
  rmw_graph_free(g: number): void;
  rmw_graph_summary(g: number): number;
  rmw_session_open(g: number): number;
  rmw_session_push_audio(s: number, node: number, nodeLen: number, fmt: number, rate: number, ch: number,
                         data: number, frames: number, timestampUs: number): number;
  rmw_session_push_json(s: number, node: number, nodeLen: number, text: number, len: number): number;
  rmw_session_push_text(s: number, node: number, nodeLen: number, text: number, len: number): number;
  rmw_session_flush(s: number): number;
  rmw_session_cancel(s: number): number;
  rmw_metrics_json(s: number): number;
  rmw_session_close(s: number): void;
  rmw_session_drain(s: number): number;
  rmw_output_take(s: number, sink: number, sl: number, port: number, pl: number): number;
  rmw_output_free(o: number): void;
  rmw_output_node(o: number): number;
  rmw_output_port(o: number): number;
  rmw_output_kind(o: number): number;
  rmw_output_timestamp_us(o: number): number;
  rmw_output_text(o: number): number;
  rmw_output_audio_data(o: number): number;
  rmw_output_audio_frames(o: number): number;
  rmw_output_audio_channels(o: number): number;
  rmw_output_audio_rate(o: number): number;
  rmw_output_audio_format(o: number): number;
  rmw_register_external(rt: number, name: number, nameLen: number, doc: number, docLen: number, hostType: number): number;
  rmw_node_id(node: number): number;
  rmw_node_emit_json(node: number, text: number, len: number, timestampUs: number): number;
  rmw_node_emit_text(node: number, text: number, len: number, timestampUs: number): number;
  rmw_node_emit_audio(node: number, fmt: number, rate: number, ch: number, data: number, frames: number,
                      timestampUs: number): number;
  rmw_node_fail(node: number, code: number, msg: number, len: number): number;
}

/** rmw.h RMW_HOST_* ops of the host_call import. */
const HOST_INIT = 0, HOST_PROCESS = 1, HOST_FLUSH = 2, HOST_RESET = 3, HOST_FINI = 4;
const RM_ENODE = -12;

/** Sends a node's outputs on (downstream nodes run inside the call). */
export type Emit = (value: Frame, timestampUs?: number) => void;

/** One instance of an external node (one per node per session). */
export interface ExternalInstance {
  /** One input frame (a copy: audio samples are the instance's to keep). */
  process(input: Output, emit: Emit): void;
  /** End of stream. */
  flush?(emit: Emit): void;
  /** Barge-in: drop buffered state. */
  reset?(): void;
  /** The session is closing. */
  dispose?(): void;
}

/** A node type implemented in JavaScript (or Python via Pyodide): see
 * RemoteMedia.registerExternal and rmw.h "External nodes". */
export interface ExternalNodeType {
  /** Called at session open with the node's manifest params; throwing fails
   * the session before any frame runs, with the message located at the node. */
  create(params: Record<string, unknown>, nodeId: string): ExternalInstance;
}

export type WasmSource = ArrayBuffer | ArrayBufferView | WebAssembly.Module | string | URL;

async function compile(source: WasmSource): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (typeof source === "string" || source instanceof URL) {
    const res = await fetch(source);
    if (!res.ok) throw new RemoteMediaError(`cannot load ${String(source)}: HTTP ${res.status}`, -3);
    // compiled as it downloads (and, in chromium, from its code cache on
    // later visits) when served as application/wasm, which streaming needs
    const type = res.headers.get("content-type")?.split(";")[0]?.trim();
    if (type === "application/wasm" && typeof WebAssembly.compileStreaming === "function") return WebAssembly.compileStreaming(res);
    return WebAssembly.compile(await res.arrayBuffer());
  }
  const bytes = ArrayBuffer.isView(source)
    ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
    : new Uint8Array(source);
  return WebAssembly.compile(bytes);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One instance of remotemedia.wasm with its runtime (all built-in node types). */
export class RemoteMedia {
  /** Log lines the library wrote (stderr), for diagnostics. */
  readonly log: string[] = [];
  private readonly x: Exports;
  private readonly rt: number;

  private constructor(instance: WebAssembly.Instance) {
    this.x = instance.exports as unknown as Exports;
    this.x._initialize();
    this.rt = this.x.rmw_runtime_new();
    if (!this.rt) throw this.error(-22);
  }

  static async load(source: WasmSource): Promise<RemoteMedia> {
    const module = await compile(source);
    let mem: WebAssembly.Memory | undefined;
    const log: string[] = [];
    let self: RemoteMedia | undefined;
    const imports = {
      wasi_snapshot_preview1: wasiImports(
        () => mem as WebAssembly.Memory,
        (_fd, text) => log.push(text),
      ),
      rmw: {
        host_call: (hostType: number, instance: number, op: number, node: number, frame: number, text: number,
                    len: number) => (self ? self.hostCall(hostType, instance, op, node, frame, text, len) : -21),
      },
    } as unknown as WebAssembly.Imports;
    const instance = await WebAssembly.instantiate(module, imports);
    mem = (instance.exports as unknown as Exports).memory;
    const rm = new RemoteMedia(instance);
    self = rm;
    rm.log.push(...log);
    return rm;
  }

  get version(): string {
    return this.cstr(this.x.rmw_version(), false);
  }

  /** Every node type: [{node_type, ports, params, ...}] as `rmedia nodes --json`. */
  nodes(): unknown[] {
    return JSON.parse(this.owned(this.x.rmw_nodes_json(this.rt), -2)) as unknown[];
  }

  /** One node type's description, as `rmedia inspect NODE --json`. */
  inspect(nodeType: string): unknown {
    return JSON.parse(this.withStr(nodeType, (p, n) => this.owned(this.x.rmw_inspect_json(this.rt, p, n), -6)));
  }

  /** The JSON schema of manifests for this runtime. */
  schema(): unknown {
    return JSON.parse(this.owned(this.x.rmw_schema_json(this.rt), -2));
  }

  /** Compiles a manifest (object, JSON text or YAML text).  Throws the
   * diagnostics, one per line, exactly as `rmedia validate` prints them. */
  compile(manifest: string | object, name = "manifest"): Graph {
    const text = typeof manifest === "string" ? manifest : JSON.stringify(manifest, null, 2);
    const g = this.withStr(text, (tp, tn) =>
      this.withStr(name, (np, nn) => this.x.rmw_graph_from_text(this.rt, tp, tn, np, nn)),
    );
    if (!g) throw this.error(-5);
    return new Graph(this, g, this.lastError());
  }

  /** Opens a streaming session on a manifest or a compiled graph. */
  open(manifest: string | object | Graph, options: SessionOptions = {}): Session {
    const graph = manifest instanceof Graph ? manifest : this.compile(manifest);
    const own = !(manifest instanceof Graph);
    const s = this.x.rmw_session_open(graph.handle);
    if (!s) {
      const e = this.error(-12);
      if (own) graph.free();
      throw e;
    }
    return new Session(this, s, own ? graph : undefined, options);
  }

  private readonly externalTypes: ExternalNodeType[] = [];
  private readonly externalInstances = new Map<number, ExternalInstance>();
  private nextInstance = 1;

  /** Adds node type `name`, implemented by `type`, to this runtime: manifests
   * may then use it beside the built-in types (one input, one output; its
   * params are passed to create() as one object).  Throws if the name is
   * taken. */
  registerExternal(name: string, type: ExternalNodeType, doc = `external node ${name}`): void {
    const id = this.externalTypes.length;
    const rc = this.withStr(name, (np, nn) =>
      this.withStr(doc, (dp, dn) => this.x.rmw_register_external(this.rt, np, nn, dp, dn, id)));
    if (rc) throw this.error(rc);
    this.externalTypes.push(type);
  }

  /** @internal the rmw.host_call import: the executor calling an external node. */
  hostCall(hostType: number, instance: number, op: number, node: number, frame: number, text: number,
           len: number): number {
    if (op === HOST_FINI) {
      const inst = this.externalInstances.get(instance);
      this.externalInstances.delete(instance);
      try {
        inst?.dispose?.();
      } catch {
        /* nothing can be reported from fini */
      }
      return 0;
    }
    const emit: Emit = (value, ts) => this.emitFrom(node, value, ts);
    try {
      if (op === HOST_INIT) {
        const type = this.externalTypes[hostType];
        if (!type) return this.nodeFail(node, `no external node type ${hostType}`);
        const params = JSON.parse(decoder.decode(new Uint8Array(this.x.memory.buffer, text, len).slice())) as
          Record<string, unknown>;
        const inst = type.create(params, this.cstr(this.x.rmw_node_id(node), false));
        const id = this.nextInstance++;
        this.externalInstances.set(id, inst);
        return id;
      }
      const inst = this.externalInstances.get(instance);
      if (!inst) return this.nodeFail(node, `external node instance ${instance} is gone`);
      if (op === HOST_PROCESS) inst.process(readOutput(this, frame), emit);
      else if (op === HOST_FLUSH) inst.flush?.(emit);
      else if (op === HOST_RESET) inst.reset?.();
      return 0;
    } catch (e) {
      if (e instanceof EmitError) return e.code; // the core has the message already
      return this.nodeFail(node, e instanceof Error ? e.message : String(e));
    }
  }

  private nodeFail(node: number, message: string): number {
    return this.withStr(message, (p, n) => this.x.rmw_node_fail(node, RM_ENODE, p, n));
  }

  private emitFrom(node: number, value: Frame, timestampUs = -1): void {
    const x = this.x;
    let rc: number;
    if (isAudio(value)) {
      const p = this.copyAudioIn(value);
      rc = x.rmw_node_emit_audio(node, sampleFormat(value.samples), value.sampleRate, value.channels, p,
                                 value.samples.length / value.channels, value.timestampUs ?? timestampUs);
    } else if (typeof value === "string") {
      rc = this.withStr(value, (p, n) => x.rmw_node_emit_text(node, p, n, timestampUs));
    } else {
      rc = this.withStr(JSON.stringify(value), (p, n) => x.rmw_node_emit_json(node, p, n, timestampUs));
    }
    if (rc) throw new EmitError(rc);
  }

  /** @internal Copies audio samples into a new rmw_alloc buffer (whose
   * ownership the caller passes to the module). */
  copyAudioIn(frame: AudioFrame): number {
    const ch = frame.channels;
    if (!Number.isInteger(ch) || ch < 1 || frame.samples.length % ch !== 0)
      throw new RemoteMediaError(`audio frame: ${frame.samples.length} samples do not divide into ${ch} channels`, -1);
    const samples = frame.samples;
    const p = this.x.rmw_alloc(samples.byteLength);
    if (!p) throw new RemoteMediaError("out of memory", -2);
    // malloc aligns to 8 at least, so the typed views of the heap index it
    const v = this.views();
    if (samples instanceof Float32Array) v.f32.set(samples, p >> 2);
    else if (samples instanceof Int16Array) v.i16.set(samples, p >> 1);
    else v.i32.set(samples, p >> 2);
    return p;
  }

  private heapViews: HeapViews | undefined;

  /** @internal Typed views of the wasm heap, made again only after memory
   * grew (a new buffer): not one view per call on the per-chunk path. */
  views(): HeapViews {
    const buf = this.x.memory.buffer;
    let v = this.heapViews;
    if (!v || v.u8.buffer !== buf) {
      v = {
        u8: new Uint8Array(buf), i16: new Int16Array(buf), i32: new Int32Array(buf), u32: new Uint32Array(buf),
        f32: new Float32Array(buf), f64: new Float64Array(buf),
      };
      this.heapViews = v;
    }
    return v;
  }

  // ---- internals shared with Graph and Session --------------------------

  /** @internal */
  get exports(): Exports {
    return this.x;
  }

  /** @internal */
  lastError(): string {
    return this.cstr(this.x.rmw_error(), false);
  }

  /** @internal */
  error(code: number): RemoteMediaError {
    return new RemoteMediaError(this.lastError() || "remotemedia.wasm call failed", code);
  }

  /** @internal NUL-terminated string at p; `free` when the caller owns it. */
  cstr(p: number, free: boolean): string {
    if (!p) return "";
    const mem = new Uint8Array(this.x.memory.buffer);
    let end = p;
    while (mem[end] !== 0) end++;
    const s = decoder.decode(mem.subarray(p, end));
    if (free) this.x.rmw_free(p);
    return s;
  }

  /** @internal a caller-owned string result, or throws */
  owned(p: number, code: number): string {
    if (!p) throw this.error(code);
    return this.cstr(p, true);
  }

  /** @internal Passes `s` as (pointer, length), freed after `fn`. */
  withStr<T>(s: string | undefined, fn: (p: number, n: number) => T): T {
    if (s === undefined) return fn(0, 0);
    const bytes = encoder.encode(s);
    const p = this.x.rmw_alloc(bytes.length);
    if (!p) throw new RemoteMediaError("out of memory", -2);
    new Uint8Array(this.x.memory.buffer, p, bytes.length).set(bytes);
    try {
      return fn(p, bytes.length);
    } finally {
      this.x.rmw_free(p);
    }
  }

  /** Frees the runtime; graphs and sessions must be freed first. */
  dispose(): void {
    this.x.rmw_runtime_free(this.rt);
  }
}

/** @internal */
export interface HeapViews {
  u8: Uint8Array;
  i16: Int16Array;
  i32: Int32Array;
  u32: Uint32Array;
  f32: Float32Array;
  f64: Float64Array;
}

export interface GraphInfo {
  name: string;
  nodes: number;
  sources: number;
  sink_count: number;
  sinks: string[];
}

/** A compiled, immutable graph. */
export class Graph {
  readonly info: GraphInfo;
  private freed = false;

  /** @internal */
  constructor(
    private readonly rm: RemoteMedia,
    readonly handle: number,
    /** Warnings from compiling (one per line), "" if none. */
    readonly warnings: string,
  ) {
    this.info = JSON.parse(rm.owned(rm.exports.rmw_graph_summary(handle), -2)) as GraphInfo;
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.rm.exports.rmw_graph_free(this.handle);
  }
}

export interface SessionOptions {
  /** Called with every output as it is produced. */
  onOutput?: (output: Output) => void;
}

const SAMPLE_FORMAT = { f32: 1, s16: 2, s32: 3 } as const;

function sampleFormat(s: AudioFrame["samples"]): number {
  return s instanceof Float32Array ? SAMPLE_FORMAT.f32 : s instanceof Int16Array ? SAMPLE_FORMAT.s16 : SAMPLE_FORMAT.s32;
}

/** Thrown through an external node's code when an emit failed downstream. */
class EmitError extends Error {
  constructor(readonly code: number) {
    super(`emit failed (${code})`);
  }
}

function isAudio(f: Frame): f is AudioFrame {
  return typeof f === "object" && f !== null && "samples" in f && ArrayBuffer.isView((f as AudioFrame).samples);
}

/**
 * A streaming session.  push() runs the frame through the graph inside the
 * call; its outputs go to `onOutput` and to the async iterator.  flush()
 * (end of stream) flushes the nodes; close() frees it; cancel() drops what is
 * queued and resets the nodes (barge-in).
 */
export class Session implements AsyncIterable<Output> {
  private handle: number;
  private readonly pending: Output[] = [];
  private waiters: ((r: IteratorResult<Output>) => void)[] = [];
  private ended = false;
  private audioPos = 0; // samples per channel pushed so far

  /** @internal */
  constructor(
    private readonly rm: RemoteMedia,
    handle: number,
    private readonly ownGraph: Graph | undefined,
    private readonly options: SessionOptions,
  ) {
    this.handle = handle;
  }

  private live(): number {
    if (!this.handle) throw new RemoteMediaError("the session is closed", -19);
    return this.handle;
  }

  /** Pushes one frame into the source nodes (or into `node`): audio as a
   * Float32Array/Int16Array/Int32Array frame, a string as text, anything else
   * as JSON. */
  push(frame: Frame, node?: string): void {
    const s = this.live();
    const x = this.rm.exports;
    let rc: number;
    if (isAudio(frame)) {
      const fmt = sampleFormat(frame.samples);
      const ch = frame.channels;
      const p = this.rm.copyAudioIn(frame);
      const frames = frame.samples.length / ch;
      const ts = frame.timestampUs ?? Math.round((this.audioPos * 1e6) / frame.sampleRate);
      this.audioPos += frames;
      // ownership of p passes to the module (freed with the frame)
      rc = this.rm.withStr(node, (np, nn) =>
        x.rmw_session_push_audio(s, np, nn, fmt, frame.sampleRate, ch, p, frames, ts));
    } else if (typeof frame === "string") {
      rc = this.rm.withStr(node, (np, nn) =>
        this.rm.withStr(frame, (tp, tn) => x.rmw_session_push_text(s, np, nn, tp, tn)));
    } else {
      const text = JSON.stringify(frame);
      rc = this.rm.withStr(node, (np, nn) =>
        this.rm.withStr(text, (tp, tn) => x.rmw_session_push_json(s, np, nn, tp, tn)));
    }
    this.drain();
    if (rc) throw this.rm.error(rc);
  }

  /** End of stream: flushes every node (their last outputs arrive now). */
  flush(): void {
    const rc = this.rm.exports.rmw_session_flush(this.live());
    this.drain();
    this.finish();
    if (rc) throw this.rm.error(rc);
  }

  /** Barge-in: drops frames queued inside the graph and resets every node. */
  cancel(): void {
    // Outputs already produced were delivered (callbacks, iterator queue).
    const rc = this.rm.exports.rmw_session_cancel(this.live());
    if (rc) throw this.rm.error(rc);
  }

  /** Metrics as the native library reports them (per node timings, links). */
  metrics(): Record<string, unknown> {
    return JSON.parse(this.rm.owned(this.rm.exports.rmw_metrics_json(this.live()), -2)) as Record<string, unknown>;
  }

  /** Frees the session (without flushing) and its graph if it made one. */
  close(): void {
    if (!this.handle) return;
    this.rm.exports.rmw_session_close(this.handle);
    this.handle = 0;
    this.ownGraph?.free();
    this.finish();
  }

  /** Outputs produced and not yet consumed by the iterator. */
  takeOutputs(): Output[] {
    return this.pending.splice(0);
  }

  [Symbol.asyncIterator](): AsyncIterator<Output> {
    return {
      next: () => {
        const o = this.pending.shift();
        if (o) return Promise.resolve({ value: o, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
    };
  }

  private finish(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  /** Node ids and port names by address: they are the graph's strings
   * (rmw.h), fixed while this session's graph lives. */
  private readonly names = new Map<number, string>();

  private name(p: number): string {
    let s = this.names.get(p);
    if (s === undefined) {
      s = this.rm.cstr(p, false);
      this.names.set(p, s);
    }
    return s;
  }

  /** Every output the last call produced, from one rmw_session_drain table
   * (layout in rmw.h): audio copied out, JSON parsed, text decoded. */
  private drain(): void {
    const t = this.rm.exports.rmw_session_drain(this.handle);
    if (!t) throw this.rm.error(-2);
    const v = this.rm.views();
    const n = v.u32[t >> 2]!;
    // read the whole table before any callback runs: one may push (a new
    // drain frees this table) or close the session
    const outs: Output[] = [];
    for (let i = 0; i < n; i++) {
      const d = (t + 8 + i * 40) >> 2; // in u32 units; the f64 at +32 bytes
      const kind = (KIND_NAMES[v.i32[d]!] || "binary") as OutputKind;
      const out: Output = { node: this.name(v.u32[d + 1]!), port: this.name(v.u32[d + 2]!), kind };
      const ts = v.f64[(d >> 1) + 4]!;
      if (ts >= 0) out.timestampUs = ts;
      const data = v.u32[d + 3]!, size = v.u32[d + 4]!;
      if (kind === "audio") {
        const channels = v.u32[d + 5]!, fmt = v.i32[d + 7]!, count = size * channels;
        const samples = copySamples(v, fmt, data, count);
        out.audio = { samples, sampleRate: v.u32[d + 6]!, channels };
        if (ts >= 0) out.audio.timestampUs = ts;
      } else if (kind === "json" || kind === "text") {
        const text = decoder.decode(v.u8.subarray(data, data + size));
        out.value = kind === "json" ? JSON.parse(text) : text;
      }
      outs.push(out);
    }
    for (const out of outs) {
      this.options.onOutput?.(out);
      const w = this.waiters.shift();
      if (w) w({ value: out, done: false });
      else this.pending.push(out);
    }
  }

}

/** A copy of `count` samples of format `fmt` at heap address `p`. */
function copySamples(v: HeapViews, fmt: number, p: number, count: number): AudioFrame["samples"] {
  const size = fmt === SAMPLE_FORMAT.s16 ? 2 : 4;
  if (p % size !== 0) { // a frame that starts inside a buffer, unaligned: copy the bytes
    const bytes = v.u8.slice(p, p + count * size).buffer;
    return fmt === SAMPLE_FORMAT.f32 ? new Float32Array(bytes) : size === 2 ? new Int16Array(bytes) : new Int32Array(bytes);
  }
  return fmt === SAMPLE_FORMAT.f32 ? v.f32.slice(p >> 2, (p >> 2) + count)
    : size === 2 ? v.i16.slice(p >> 1, (p >> 1) + count) : v.i32.slice(p >> 2, (p >> 2) + count);
}

/** An output (or an external node's input) as a JS value; audio copied out. */
function readOutput(rm: RemoteMedia, o: number): Output {
  const x = rm.exports;
  const kind = (KIND_NAMES[x.rmw_output_kind(o)] || "binary") as OutputKind;
  const out: Output = {
    node: rm.cstr(x.rmw_output_node(o), false),
    port: rm.cstr(x.rmw_output_port(o), false),
    kind,
  };
  const ts = x.rmw_output_timestamp_us(o);
  if (ts >= 0) out.timestampUs = ts;
  if (kind === "json") out.value = JSON.parse(rm.cstr(x.rmw_output_text(o), true));
  else if (kind === "text") out.value = rm.cstr(x.rmw_output_text(o), true);
  else if (kind === "audio") {
    const p = x.rmw_output_audio_data(o);
    const channels = x.rmw_output_audio_channels(o);
    const n = x.rmw_output_audio_frames(o) * channels;
    const fmt = x.rmw_output_audio_format(o);
    const samples = copySamples(rm.views(), fmt, p, n);
    out.audio = { samples, sampleRate: x.rmw_output_audio_rate(o), channels };
    if (ts >= 0) out.audio.timestampUs = ts;
  }
  return out;
}

export interface ExecuteResult {
  status: "success";
  /** Output values in the order they were produced (`rmedia run --format values`). */
  outputs: unknown[];
  /** Every output with its sink node and port. */
  details: Output[];
  graph_info: GraphInfo;
}

export interface ExecuteMetrics {
  executionTimeMs: number;
  wasmLoadTimeMs: number;
  totalTimeMs: number;
  /** The library's own metrics of the run (per node). */
  pipeline: Record<string, unknown>;
}

/** The seed's surface (REFERENCE.md §7.2): loadWasm, then execute(manifest, input). */
export class PipelineRunner {
  private rm: RemoteMedia | undefined;
  private loadMs = 0;

  async loadWasm(source: WasmSource): Promise<void> {
    const t = now();
    this.rm = await RemoteMedia.load(source);
    this.loadMs = now() - t;
  }

  get library(): RemoteMedia {
    if (!this.rm) throw new RemoteMediaError("loadWasm() has not been called", -19);
    return this.rm;
  }

  /** Runs every input item through the pipeline, then ends the stream.
   * Throws RemoteMediaError (validation diagnostics or the node error). */
  async execute(manifest: string | object, input: Frame[] | Frame = []): Promise<{ result: ExecuteResult; metrics: ExecuteMetrics }> {
    const t0 = now();
    const rm = this.library;
    const graph = rm.compile(manifest);
    try {
      const session = rm.open(graph);
      try {
        const items = Array.isArray(input) ? input : [input];
        for (const item of items) session.push(item as Frame);
        session.flush();
        const details = session.takeOutputs();
        const pipeline = session.metrics();
        const exec = now() - t0;
        return {
          result: {
            status: "success",
            outputs: details.map((o) => (o.kind === "audio" ? o.audio : o.value)),
            details,
            graph_info: graph.info,
          },
          metrics: { executionTimeMs: exec, wasmLoadTimeMs: this.loadMs, totalTimeMs: exec + this.loadMs, pipeline },
        };
      } finally {
        session.close();
      }
    } finally {
      graph.free();
    }
  }
}

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}
