/*
 * The RemoteMedia browser demo: examples, a manifest editor validated by the
 * wasm core, audio file and live microphone pipelines, Python nodes in
 * Pyodide, metrics.  Everything runs in one Web Worker (../../src/worker.ts).
 */
import { RemoteMediaWorker, type WorkerSession } from "../../dist/worker-client.js";
import type { Output } from "../../dist/index.js";
import { decodeAudio } from "./wav.js";
import { setupPackages } from "./packages.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $("status"), out = $("output"), errorBox = $("error"), diags = $<HTMLUListElement>("diagnostics");
const editor = $<HTMLTextAreaElement>("manifest"), gutter = $("gutter"), input = $<HTMLTextAreaElement>("input");

const CALCULATOR = `{
  "version": "v1",
  "metadata": { "name": "calculator" },
  "nodes": [
    { "id": "multiply", "node_type": "MultiplyNode", "params": { "multiplier": 2 } },
    { "id": "add", "node_type": "AddNode", "params": { "addend": 10 } }
  ],
  "connections": [ { "from": "multiply", "to": "add" } ]
}
`;
const TEXT = `# The seed's text processor, as a Python node in Pyodide
version: v1
metadata: { name: text-processor }
nodes:
  - id: text
    node_type: PyTextProcessorNode
    params: { operations: [uppercase, word_count] }
`;
const HYBRID = `# wasm → Python → wasm: one graph, one executor
version: v1
metadata: { name: hybrid }
nodes:
  - { id: multiply, node_type: MultiplyNode, params: { factor: 3 } }
  - { id: transform, node_type: DataTransformNode, params: { operation: double } }
  - { id: add, node_type: AddNode, params: { addend: 1 } }
connections:
  - { from: multiply, to: transform }
  - { from: transform, to: add }
`;
const AUDIO = `# Any rate in; 16 kHz VAD events; a level meter every 50 ms
version: v1
metadata: { name: live-vad }
nodes:
  - id: resample
    node_type: AudioResample
    params: { target_rate: 16000 }
  - id: vad
    node_type: VAD
    params: { frame_ms: 20, threshold: 0.5, min_speech_ms: 90, min_silence_ms: 300, speech_pad_ms: 30 }
  - id: level
    node_type: AudioLevel
    params: { window_ms: 50 }
  - id: events
    node_type: PassThrough    # the sink of the VAD's speech start/end events
connections:
  - { from: resample, to: vad }
  - { from: vad, to: level }
  - { from: vad.events, to: events }
`;
const PY_DEFAULT = `import remotemedia

@remotemedia.node("Shout")
class Shout:
    suffix = remotemedia.Param(str, "!", doc="appended to the text")

    def process(self, text):
        yield str(text).upper() + self.suffix
`;

const EXAMPLES: Record<string, { manifest: string; input: string; doc: string }> = {
  calculator: { manifest: CALCULATOR, input: "[5, 7, 3]", doc: "MultiplyNode ×2 → AddNode +10, all in wasm." },
  text: {
    manifest: TEXT,
    input: '[{"text": "Hello WASM", "operations": ["uppercase", "word_count"]}, "Python in Browser"]',
    doc: "A Python node (remotemedia API) in Pyodide; the first run loads Pyodide (a few seconds).",
  },
  hybrid: { manifest: HYBRID, input: "[5, 7, 10]", doc: "MultiplyNode (wasm) → DataTransformNode (Python) → AddNode (wasm)." },
  audio: { manifest: AUDIO, input: "[]", doc: "Choose or drop a WAV file below: it runs through the pipeline faster than real time." },
  mic: { manifest: AUDIO, input: "[]", doc: "Press “Start microphone”: 20 ms chunks from an AudioWorklet stream into the session." },
};

// ------------------------------------------------------------------ worker
const base = new URL("./", location.href);
const rmw = new RemoteMediaWorker(new Worker(new URL("./worker.ts", import.meta.url), { type: "module" }));
// Pyodide loads when a manifest first needs it, from the snapshot made by
// `npm run build` (web/scripts/python-snapshot.mjs).  ?pyodide=preload starts
// it at page load instead; ?pyodide=nosnapshot starts the interpreter the
// normal way (the bench compares them); ?pyodide=checksnapshot checks the
// memory restored from the snapshot (a test).  Flags are comma-separated.
const pyodideFlags = (new URLSearchParams(location.search).get("pyodide") ?? "").split(",");
// ?example=NAME opens the page on that example; a Python one starts Pyodide
// at page load, beside the wasm library (the worker sees its manifest).
const requested = new URLSearchParams(location.search).get("example") ?? "";
const initialExample = Object.hasOwn(EXAMPLES, requested) ? requested : "calculator";
const ready = rmw.init({
  manifest: EXAMPLES[initialExample]!.manifest,
  wasmURL: new URL("remotemedia.wasm", base).href,
  pyodideURL: new URL("pyodide/", base).href,
  pythonSnapshotURL: pyodideFlags.includes("nosnapshot") ? undefined : new URL("pyodide/snapshot.json", base).href,
  checkPythonSnapshot: pyodideFlags.includes("checksnapshot"),
  preloadPython: pyodideFlags.includes("preload"),
})
  .then((r) => {
    status.textContent = `wasm library ${r.version} loaded in ${r.loadMs.toFixed(0)} ms.`;
    // for the bench: the library's own load, and when the page was ready (ms since navigation)
    status.dataset.loadMs = r.loadMs.toFixed(1);
    status.dataset.readyAt = performance.now().toFixed(1);
    status.dataset.ready = "1";
    timings.wasmLoadMs = r.loadMs;
    showTimings();
  })
  .catch((e) => showError(e));
const timings: Record<string, number> = {};

function showTimings(): void {
  $("timings").textContent = Object.entries(timings).map(([k, v]) => `${k}: ${v.toFixed(1)}`).join(" · ");
}

function showError(e: unknown): void {
  errorBox.textContent = e instanceof Error ? e.message : String(e);
}

function clearError(): void {
  errorBox.textContent = "";
}

// ------------------------------------------------------------------ editor
function renderGutter(bad: Set<number> = new Set()): void {
  const n = editor.value.split("\n").length;
  gutter.innerHTML = "";
  for (let i = 1; i <= n; i++) {
    const s = document.createElement("span");
    s.textContent = `${i}\n`;
    if (bad.has(i)) s.className = "bad";
    gutter.appendChild(s);
  }
}

/** Marks the diagnostics' lines and lists them as buttons that move the caret there. */
function showDiagnostics(text: string): void {
  diags.innerHTML = "";
  const bad = new Set<number>();
  for (const line of text.split("\n").filter(Boolean)) {
    const m = /^[^:]*:(\d+):(\d+): /.exec(line);
    const li = document.createElement("li");
    if (m) {
      const ln = Number(m[1]), col = Number(m[2]);
      bad.add(ln);
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = line;
      b.dataset.line = String(ln);
      b.dataset.col = String(col);
      b.addEventListener("click", () => goTo(ln, col));
      li.appendChild(b);
    } else li.textContent = line;
    diags.appendChild(li);
  }
  renderGutter(bad);
}

function goTo(line: number, col: number): void {
  const lines = editor.value.split("\n");
  let pos = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i]!.length + 1;
  pos += Math.max(0, col - 1);
  editor.focus();
  editor.setSelectionRange(pos, pos + 1);
}

async function validate(): Promise<boolean> {
  await ready;
  try {
    const r = await rmw.validate(editor.value, "manifest");
    showDiagnostics(r.warnings);
    diags.dataset.state = r.warnings ? "warnings" : "valid";
    if (!r.warnings) {
      const li = document.createElement("li");
      li.className = "ok";
      li.textContent = `valid: ${r.info.nodes} nodes, sinks ${r.info.sinks.join(", ")}`;
      li.style.color = "#060";
      diags.appendChild(li);
    }
    return true;
  } catch (e) {
    showDiagnostics((e as Error).message);
    diags.dataset.state = "invalid";
    return false;
  }
}

let vtimer: ReturnType<typeof setTimeout> | undefined;
editor.addEventListener("input", () => {
  renderGutter();
  clearTimeout(vtimer);
  vtimer = setTimeout(() => void validate(), 300);
});
editor.addEventListener("scroll", () => { gutter.scrollTop = editor.scrollTop; });

// ---------------------------------------------------------------- examples
let current = "calculator";
function selectExample(name: string): void {
  const ex = EXAMPLES[name]!;
  current = name;
  for (const b of document.querySelectorAll<HTMLButtonElement>("[data-example]"))
    b.setAttribute("aria-pressed", String(b.dataset.example === name));
  editor.value = ex.manifest;
  input.value = ex.input;
  $("example-doc").textContent = ex.doc;
  out.textContent = "";
  delete out.dataset.state;
  clearError();
  renderGutter();
  void validate();
  if (name === "audio") $("drop").focus();
  if (name === "mic") $("mic-start").focus();
}
for (const b of document.querySelectorAll<HTMLButtonElement>("[data-example]"))
  b.addEventListener("click", () => selectExample(b.dataset.example!));

function describe(o: Output): string {
  const v = o.kind === "audio" ? `audio ${o.audio!.samples.length} samples @ ${o.audio!.sampleRate} Hz` : JSON.stringify(o.value);
  return `${o.node}.${o.port}: ${v}`;
}

function showMetrics(m: Record<string, unknown>): void {
  const nodes = (m.node_metrics ?? {}) as Record<string, { node_type: string; calls: number; mean_us: number; p99_us: number }>;
  const body = $("metrics").querySelector("tbody")!;
  body.innerHTML = "";
  for (const [id, n] of Object.entries(nodes)) {
    const tr = document.createElement("tr");
    tr.dataset.node = id;
    for (const v of [id, n.node_type, String(n.calls), n.mean_us.toFixed(1), n.p99_us.toFixed(1)]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

$("run").addEventListener("click", async (ev) => {
  if (current === "audio") return $<HTMLInputElement>("audio-file").click();
  if (current === "mic") return void startMic();
  out.dataset.clickedAt = ev.timeStamp.toFixed(1); // for the bench (ms since navigation)
  clearError();
  out.textContent = "running…";
  out.dataset.state = "running";
  await ready;
  try {
    const inputs = JSON.parse(input.value || "[]") as unknown[];
    if (!Array.isArray(inputs)) throw new Error("the input must be a JSON array");
    const t = performance.now();
    const r = await rmw.execute(editor.value, inputs as never[]);
    timings.lastRunMs = performance.now() - t;
    out.textContent = r.outputs.map(describe).join("\n") || "(no outputs)";
    out.dataset.values = JSON.stringify(r.outputs.map((o) => o.value));
    out.dataset.doneAt = performance.now().toFixed(1);
    out.dataset.state = "done";
    showMetrics(r.metrics);
    showTimings();
  } catch (e) {
    out.textContent = "";
    out.dataset.state = "error";
    showError(e);
    if (/:\d+:\d+: /.test((e as Error).message)) showDiagnostics((e as Error).message);
  }
});
$("validate").addEventListener("click", () => void validate());

// ------------------------------------------------------------------ python
const pyCode = $<HTMLTextAreaElement>("py-code");
pyCode.value = PY_DEFAULT;
$("py-load").addEventListener("click", async () => {
  const st = $("py-status");
  st.textContent = "Loading Pyodide and running the code…";
  clearError();
  await ready;
  try {
    const t = performance.now();
    const r = await rmw.python({ code: pyCode.value });
    timings.pythonLoadMs = performance.now() - t;
    st.textContent = `Python node types: ${r.nodeTypes.join(", ")}`;
    st.dataset.state = "loaded";
    showTimings();
    void validate();
  } catch (e) {
    st.textContent = "The Python code failed (see the message).";
    st.dataset.state = "error";
    showError(e);
  }
});

// ------------------------------------------------------------------- audio
const canvas = $<HTMLCanvasElement>("vad-canvas");
const segList = $<HTMLOListElement>("segments");
interface Segment { startMs: number; endMs?: number }
let segments: Segment[] = [];
let levels: { t: number; db: number }[] = [];

function onAudioOutputs(outs: Output[]): void {
  for (const o of outs) {
    const v = o.value as Record<string, number | boolean> | undefined;
    if (o.node === "events" && v) {
      if (v.is_speech_start) segments.push({ startMs: Number(v.timestamp_ms) });
      if (v.is_speech_end) {
        const s = segments[segments.length - 1];
        if (s && s.endMs === undefined) s.endMs = Number(v.timestamp_ms);
        else segments.push({ startMs: Number(v.start_ms ?? v.timestamp_ms), endMs: Number(v.timestamp_ms) });
      }
    } else if (o.node === "level" && o.port === "events" && v) {
      const db = Number(v.rms_dbfs);
      levels.push({ t: Number(v.timestamp_ms), db });
      $<HTMLMeterElement>("level-meter").value = Math.max(-90, db);
      $("level-text").textContent = `${db.toFixed(1)} dBFS`;
    }
  }
}

function renderSegments(): void {
  segList.innerHTML = "";
  for (const s of segments) {
    const li = document.createElement("li");
    li.dataset.startMs = String(s.startMs);
    if (s.endMs !== undefined) li.dataset.endMs = String(s.endMs);
    li.textContent = `speech ${(s.startMs / 1000).toFixed(2)} s – ${s.endMs === undefined ? "…" : `${(s.endMs / 1000).toFixed(2)} s`}`;
    segList.appendChild(li);
  }
}

/** Level (dBFS) over time as the waveform envelope, speech segments shaded. */
function draw(totalMs: number): void {
  const g = canvas.getContext("2d")!;
  const W = canvas.width, H = canvas.height, span = Math.max(totalMs, 1);
  g.clearRect(0, 0, W, H);
  g.fillStyle = "rgba(30, 160, 60, 0.25)";
  for (const s of segments) {
    const x0 = (s.startMs / span) * W, x1 = ((s.endMs ?? totalMs) / span) * W;
    g.fillRect(x0, 0, Math.max(1, x1 - x0), H);
  }
  g.strokeStyle = "#235";
  g.beginPath();
  for (const { t, db } of levels) {
    const x = (t / span) * W, h = Math.max(0, (db + 90) / 90) * (H / 2);
    g.moveTo(x, H / 2 - h);
    g.lineTo(x, H / 2 + h);
  }
  g.stroke();
}

async function runFile(file: File): Promise<void> {
  clearError();
  if (current !== "audio") selectExample("audio");
  await ready;
  const summary = $("audio-summary");
  summary.dataset.state = "running";
  try {
    const a = await decodeAudio(await file.arrayBuffer());
    segments = [];
    levels = [];
    const s = await rmw.open(editor.value, ["level.out", "vad.out"]);
    const chunk = Math.round(a.sampleRate / 50) * a.channels; // 20 ms
    const t = performance.now();
    for (let i = 0; i < a.samples.length; i += chunk * 50) { // 50 chunks per message
      const frames = [];
      for (let k = i; k < Math.min(a.samples.length, i + chunk * 50); k += chunk)
        frames.push({ samples: a.samples.slice(k, Math.min(k + chunk, a.samples.length)), sampleRate: a.sampleRate, channels: a.channels });
      onAudioOutputs((await s.push(frames)).outputs);
    }
    onAudioOutputs((await s.flush()).outputs);
    const ms = performance.now() - t;
    showMetrics(await s.metrics());
    await s.close();
    const durMs = (a.samples.length / a.channels / a.sampleRate) * 1000;
    renderSegments();
    draw(durMs);
    timings.fileRunMs = ms;
    showTimings();
    summary.textContent = `${file.name}: ${(durMs / 1000).toFixed(2)} s of audio at ${a.sampleRate} Hz in ${ms.toFixed(0)} ms ` +
      `(${(durMs / ms).toFixed(0)}× real time), ${segments.length} speech segment(s).`;
    summary.dataset.state = "done";
  } catch (e) {
    summary.dataset.state = "error";
    showError(e);
  }
}

const fileInput = $<HTMLInputElement>("audio-file"), drop = $("drop");
fileInput.addEventListener("change", () => { if (fileInput.files?.[0]) void runFile(fileInput.files[0]); });
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.click(); } });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const f = e.dataTransfer?.files[0];
  if (f) void runFile(f);
});

// -------------------------------------------------------------- microphone
let mic: { ctx: AudioContext; stream: MediaStream; session: WorkerSession; timer: ReturnType<typeof setInterval>; t0: number; pushedMs: number } | undefined;

async function startMic(): Promise<void> {
  if (mic) return;
  clearError();
  if (current !== "mic") selectExample("mic");
  await ready;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    const ctx = new AudioContext();
    await ctx.audioWorklet.addModule(new URL("mic-worklet.js", base).href);
    const session = await rmw.open(editor.value, ["level.out", "vad.out"]);
    segments = [];
    levels = [];
    const src = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "mic-chunker");
    const state = { ctx, stream, session, timer: 0 as unknown as ReturnType<typeof setInterval>, t0: performance.now(), pushedMs: 0 };
    let queue = Promise.resolve();
    node.port.onmessage = (e: MessageEvent<Float32Array>) => {
      const samples = e.data;
      state.pushedMs += (samples.length / ctx.sampleRate) * 1000;
      queue = queue.then(async () => {
        const r = await session.push([{ samples, sampleRate: ctx.sampleRate, channels: 1 }]);
        onAudioOutputs(r.outputs);
        renderSegments();
      }).catch((err) => showError(err));
    };
    src.connect(node);
    state.timer = setInterval(async () => {
      draw(Math.max(state.pushedMs, 1000));
      showMetrics(await session.metrics().catch(() => ({})));
      $("audio-summary").textContent = `live: ${(state.pushedMs / 1000).toFixed(1)} s at ${ctx.sampleRate} Hz, ${segments.length} speech segment(s)`;
      $("audio-summary").dataset.pushedMs = String(state.pushedMs);
    }, 250);
    mic = state;
    $<HTMLButtonElement>("mic-start").disabled = true;
    $<HTMLButtonElement>("mic-stop").disabled = false;
    $("mic-stop").focus();
    status.textContent = `Microphone on (${ctx.sampleRate} Hz).`;
  } catch (e) {
    showError(e);
  }
}

async function stopMic(): Promise<void> {
  const m = mic;
  if (!m) return;
  mic = undefined;
  clearInterval(m.timer);
  m.stream.getTracks().forEach((t) => t.stop());
  await m.ctx.close();
  onAudioOutputs((await m.session.flush()).outputs);
  showMetrics(await m.session.metrics());
  await m.session.close();
  renderSegments();
  draw(m.pushedMs);
  $("audio-summary").textContent = `stopped after ${(m.pushedMs / 1000).toFixed(1)} s, ${segments.length} speech segment(s).`;
  $("audio-summary").dataset.state = "stopped";
  $<HTMLButtonElement>("mic-start").disabled = false;
  $<HTMLButtonElement>("mic-stop").disabled = true;
  $("mic-start").focus();
  status.textContent = "Microphone off.";
}
$("mic-start").addEventListener("click", () => void startMic());
$("mic-stop").addEventListener("click", () => void stopMic());

// ---------------------------------------------------------------- packages
setupPackages({
  rmw, ready, wasmURL: new URL("remotemedia.wasm", base), editor, pyCode,
  pythonLoaded: () => $("py-status").dataset.state === "loaded",
  validate, showError, clearError,
});

// ----------------------------------------------------------------- offline
// Registered once the wasm library is loaded: its install downloads
// Pyodide's files (~27 MB) for offline use, which on a first visit would
// compete with the page's own start.
if ("serviceWorker" in navigator && import.meta.env.PROD)
  void ready.finally(() => navigator.serviceWorker.register(new URL("sw.js", base).href).catch(() => undefined));

// For tests and the console: the worker handle (window.remotemedia.worker).
(window as unknown as { remotemedia: unknown }).remotemedia = { worker: rmw, ready };

selectExample(initialExample);
