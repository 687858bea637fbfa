// Browser benchmarks (a measurement, not a test), run by scripts/bench:
// in chromium headless, the same run as the native CLI,
//   - resample 48 → 16 kHz + VAD per 20 ms chunk: wasm in the page's worker
//     vs the native rmedia (same manifest, 60 s of audio in 20 ms chunks,
//     process start subtracted);
//   - the cost of one Python node call from the wasm executor (a chain with
//     DataTransformNode minus the same chain with PassThrough);
//   - time from navigation to the first output: wasm only, and a Python
//     example with Pyodide cold (new browser profile) and cached (reload),
//     started from the build's snapshot or normally, when first needed or at
//     page load (page opened on the example), with where the time goes
//     (PythonHost's start-up marks).
// Prints ROW lines for scripts/bench.   node web/demo/scripts/bench.mjs NATIVE_RMEDIA [--quick] [--startup]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { launch, demoDir } from "./browser.mjs";

const native = process.argv[2];
const quick = process.argv.includes("--quick");
const startupOnly = process.argv.includes("--startup"); // only the page load → first output rows
if (!native) { console.error("usage: bench.mjs NATIVE_RMEDIA [--quick]"); process.exit(2); }
const root = path.resolve(demoDir, "../..");
const manifest = readFileSync(path.join(root, "tests/wasm/resample_vad.yaml"), "utf8");
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const row = (what, ours, base, ratio, verdict) => console.log(["ROW", what, ours, base, ratio, verdict].join("\t"));

// native: 60 s (quick: 10 s) of 48 kHz audio in 20 ms chunks, minus process start-up
const tmp = mkdtempSync(path.join(tmpdir(), "rm-bench-browser-"));
const secs = 60, rate = 48000, chunks = secs * 50; // long enough to dwarf process start-up
const wav = path.join(tmp, "in.wav");
{
  const n = secs * rate, b = Buffer.alloc(44 + n * 4);
  b.write("RIFF", 0); b.writeUInt32LE(36 + n * 4, 4); b.write("WAVEfmt ", 8); b.writeUInt32LE(16, 16);
  b.writeUInt16LE(3, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 4, 28);
  b.writeUInt16LE(4, 32); b.writeUInt16LE(32, 34); b.write("data", 36); b.writeUInt32LE(n * 4, 40);
  for (let i = 0; i < n; i++) b.writeFloatLE(0.1 * Math.sin(i / 7) * (Math.floor(i / rate) % 2), 44 + i * 4);
  writeFileSync(wav, b);
}
const mf = path.join(tmp, "m.yaml");
writeFileSync(mf, manifest);
const timeRun = (args) => {
  const t = process.hrtime.bigint();
  const r = spawnSync(native, args, { encoding: "utf8", env: { ...process.env, RMEDIA_PLUGIN_PATH: "" } });
  if (r.status !== 0) throw new Error(`${native} ${args.join(" ")}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e3;
};
const reps = quick ? 3 : 7;
const runs = [], idles = [];
for (let i = 0; i < (startupOnly ? 0 : reps); i++) {
  runs.push(timeRun(["run", mf, "-i", wav, "--chunk-ms", "20", "-f", "jsonl", "--no-progress", "-o", path.join(tmp, "o.wav")]));
  idles.push(timeRun(["version"]));
}
const nativeUs = [(median(runs) - median(idles)) / chunks];

const chrome = await launch();
try {
  if (!startupOnly) {
  // per chunk in the page's worker
  const page = await chrome.open();
  const wasmUs = [];
  for (let i = 0; i < reps; i++)
    wasmUs.push(await page.evaluate(async ({ manifest, n }) => {
      const samples = new Float32Array(960).map((_, i) => 0.1 * Math.sin(i / 7));
      const r = await window.remotemedia.worker.call("time", { manifest, frame: { samples, sampleRate: 48000, channels: 1 }, repeat: n, warmup: 200 });
      return r.perPushUs;
    }, { manifest, n: quick ? 300 : 1500 }));
  const w = median(wasmUs), nu = median(nativeUs);
  row("browser: resample 48→16 kHz + VAD per 20 ms chunk (wasm in chromium vs native CLI)", `${w.toFixed(1)} µs`,
      `${nu.toFixed(1)} µs native`, `${(w / nu).toFixed(2)}x`, w / nu <= 2 ? "within 2x" : "over 2x");

  // Python node call overhead from wasm
  const chain = (t) => `version: v1\nnodes:\n  - {id: a, node_type: MultiplyNode, params: {factor: 2}}\n  - {id: p, node_type: ${t}}\n  - {id: b, node_type: AddNode, params: {addend: 1}}\nconnections:\n  - {from: a, to: p}\n  - {from: p, to: b}\n`;
  const per = async (t) => page.evaluate(async ({ manifest, n }) =>
    (await window.remotemedia.worker.call("time", { manifest, frame: 21, repeat: n, warmup: 50 })).perPushUs,
    { manifest: chain(t), n: quick ? 200 : 2000 });
  await per("DataTransformNode"); // loads Pyodide
  const py = [], pass = [];
  for (let i = 0; i < reps; i++) { py.push(await per("DataTransformNode")); pass.push(await per("PassThrough")); }
  const call = median(py) - median(pass);
  row("browser: one Python node call from the wasm executor (json frame, Pyodide)", `${call.toFixed(1)} µs`,
      "5-20 ms per Python node (seed)", `${(call / 5000).toFixed(3)}x`, call < 5000 ? "better" : "worse");
  await page.close();
  }

  // time to first output after navigation, on the page's own clock
  // (performance.now() since navigation: the output is in the page, not yet
  // seen by playwright, which adds ~0.1-0.3 s of its own round trips).
  // Python starts from the build's snapshot (the default), or normally
  // (?pyodide=nosnapshot: the baseline, same run); when the first Python
  // manifest needs it (the default) or at page load.  cold = a new browser
  // profile, cached = the next load in it (service worker cache-first).
  // `waited`: from the page ready to the click, the harness's own delay,
  // included in `ms`.
  const firstOutput = async (context, example, query = "") => {
    const p = await context.newPage();
    await p.goto(chrome.server.url + query);
    await p.waitForSelector("#status[data-ready]", { timeout: 600000 });
    await p.click(`#${example}`);
    await p.click("#run");
    await p.waitForSelector("#output[data-state=done]", { timeout: 600000 });
    const at = await p.evaluate(() => {
      const num = (id, key) => Number(document.getElementById(id).dataset[key]);
      return { readyAt: num("status", "readyAt"), loadMs: num("status", "loadMs"), clickedAt: num("output", "clickedAt"), doneAt: num("output", "doneAt") };
    });
    const py = await p.evaluate(() => window.remotemedia.worker.call("pythonStartup"));
    await p.close();
    return { ready: Math.round(at.readyAt), wasmLoadMs: at.loadMs, ms: Math.round(at.doneAt), waited: Math.round(at.clickedAt - at.readyAt), py };
  };
  // the wasm library: 3 loads in each of 3 new profiles.  The first is cold;
  // chromium keeps a compiled wasm module's code from the second load of the
  // same file and uses it from the third.
  const calcs = [[], [], []];
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    const ctx = await chrome.browser.newContext();
    for (const visit of calcs) visit.push(await firstOutput(ctx, "ex-calculator"));
    await ctx.close();
  }
  const medOf = (list, key) => median(list.map((r) => r[key]));
  for (const [k, what] of [[0, "first visit"], [2, "third visit: chromium's code cache"]]) {
    const ms = medOf(calcs[k], "wasmLoadMs");
    row(`browser: wasm library load (remotemedia.wasm compiled + instantiated, in the worker), ${what} (median of ${calcs[k].length})`, `${ms.toFixed(0)} ms`,
        "~50 ms wasm load (seed)", `${(ms / 50).toFixed(2)}x`, ms <= 50 ? "better" : "worse");
  }
  row("browser: page load → wasm library ready, third visit", `${medOf(calcs[2], "ready")} ms`, "-", "-", "page, worker start and the load above");
  row("browser: page load → first wasm output (calculator), third visit", `${medOf(calcs[2], "ms")} ms`, "-", "-",
      `includes the harness's ${medOf(calcs[2], "waited")} ms before the click`);
  // atload: the page opened on the Python example (?example=text), so its
  // graph needs Python from the start and Pyodide starts beside the wasm library
  const MODES = { snapshot: "", normal: "?pyodide=nosnapshot", atload: "?example=text" };
  const runs = Object.fromEntries(Object.keys(MODES).map((m) => [m, { cold: [], cached: [] }]));
  for (let i = 0; i < (quick ? 1 : 3); i++)
    for (const [mode, q] of Object.entries(MODES)) {
      const ctx = await chrome.browser.newContext();
      runs[mode].cold.push(await firstOutput(ctx, "ex-text", q)); // Pyodide never loaded in this profile
      runs[mode].cached.push(await firstOutput(ctx, "ex-text", q)); // its files now in the service worker's cache
      await ctx.close();
    }
  const med = (list) => [...list].sort((a, b) => a.ms - b.ms)[Math.floor(list.length / 2)];
  for (const kind of ["cold", "cached"]) {
    const snap = med(runs.snapshot[kind]), normal = med(runs.normal[kind]), pre = med(runs.atload[kind]);
    const n = runs.snapshot[kind].length;
    row(`browser: page load → first Python output, Pyodide ${kind}, from the snapshot (median of ${n})`, `${snap.ms} ms`,
        `${normal.ms} ms normal start (same run)`, `${(snap.ms / normal.ms).toFixed(2)}x`, snap.ms < normal.ms ? "better" : "worse");
    row(`browser: page load → first Python output, Pyodide ${kind}, snapshot, page opened on it: started at page load (median of ${n})`, `${pre.ms} ms`,
        `${snap.ms} ms started when first needed (same run)`, `${(pre.ms / snap.ms).toFixed(2)}x`, pre.ms < snap.ms ? "better" : "worse");
  }
  // Pyodide's start alone, as the seed's "~1.5 s (Pyodide, cached)" start-up
  // time is (PythonHost.load: Pyodide and the remotemedia module, ready to run)
  const loadMs = (r) => r.py.loadMs;
  const snapStart = median(runs.snapshot.cached.map(loadMs)), normalStart = median(runs.normal.cached.map(loadMs));
  row(`browser: Pyodide start (PythonHost.load), cached, from the snapshot (median of ${runs.snapshot.cached.length})`, `${snapStart.toFixed(0)} ms`,
      `${normalStart.toFixed(0)} ms normal start (same run)`, `${(snapStart / normalStart).toFixed(2)}x`, snapStart < normalStart ? "better" : "worse");
  row("browser: Pyodide start (PythonHost.load), cached, vs the seed", `${snapStart.toFixed(0)} ms`, "~1.5 s Pyodide cached (seed)",
      `${(snapStart / 1500).toFixed(2)}x`, snapStart <= 1500 ? "better" : "worse");
  const best = Math.min(med(runs.snapshot.cached).ms, med(runs.atload.cached).ms);
  row("browser: page load → first Python output, Pyodide cached, vs the seed's Pyodide start", `${best} ms`, "~1.5 s Pyodide cached (seed)",
      `${(best / 1500).toFixed(2)}x`, best <= 1500 ? "better" : "worse");
  row("harness: page ready → click (playwright; inside the page-load figures above)", `${median(runs.snapshot.cached.map((r) => r.waited)).toFixed(0)} ms`, "-", "-", "median, cached from the snapshot");
  const LABEL = { normal: "normal start", snapshot: "from the snapshot" };
  // where the time goes: PythonHost's marks (ms after PythonHost.load began)
  // of the median cached run, normal start and snapshot
  for (const mode of ["normal", "snapshot"]) {
    const r = med(runs[mode].cached);
    let prev = 0;
    for (const [step, at] of r.py?.startup?.marks ?? []) {
      row(`browser: Pyodide cached, ${LABEL[mode]}: ${step}`, `${at - prev} ms`, `at ${at} ms`, "-", "-");
      prev = at;
    }
    for (const f of r.py?.startup?.fetches ?? [])
      row(`browser: Pyodide cached, ${LABEL[mode]}: fetch ${f.file} (${f.bytes} bytes)`, `${f.endMs - f.startMs} ms`, `${f.startMs}-${f.endMs} ms`, "-", "-");
  }
  // the same starts under Node (no fetch, no service worker), a child process each
  const nodeStart = (mode) => {
    const r = spawnSync(process.execPath, [path.join(demoDir, "scripts/node-startup.mjs"), mode], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`node-startup.mjs ${mode}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const nodeRuns = { normal: [], pyc: [], snapshot: [] };
  for (let i = 0; i < (quick ? 1 : 3); i++) for (const m of Object.keys(nodeRuns)) nodeRuns[m].push(nodeStart(m));
  const nodeMs = (m) => median(nodeRuns[m].map((r) => r.loadMs + r.hostMs));
  for (const [m, what] of [["pyc", "standard library compiled to .pyc"], ["snapshot", "from the snapshot"]])
    row(`node: Pyodide start + remotemedia import, ${what} (median of ${nodeRuns[m].length})`, `${nodeMs(m).toFixed(0)} ms`,
        `${nodeMs("normal").toFixed(0)} ms normal start (same run)`, `${(nodeMs(m) / nodeMs("normal")).toFixed(2)}x`, nodeMs(m) < nodeMs("normal") ? "better" : "worse");
} finally {
  await chrome.close();
  rmSync(tmp, { recursive: true, force: true });
}
