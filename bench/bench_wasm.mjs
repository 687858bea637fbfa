// The wasm library against the native library in the same run (`make
// bench`, scripts/bench): per 20 ms chunk through resample 48 -> 16 kHz +
// VAD (tests/wasm/resample_vad.yaml) in remotemedia.wasm through the
// TypeScript package web/ in Node, and through the same rmw_* C API compiled
// natively (bench/bench_rmw_chunk.c, one child process); rounds alternate
// between the two and the medians are compared (goal: wasm <= 2x native).  Also the module's
// compile + instantiate time and its size.  Prints scripts/bench ROW lines.
//   node bench/bench_wasm.mjs NATIVE_BENCH_RMW_CHUNK [--quick]
import { readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { RemoteMedia } from "../web/dist/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const [nativeBench, ...rest] = process.argv.slice(2);
const quick = rest.includes("--quick");
const wasmPath = process.env.RMEDIA_WASM || path.join(root, "build/wasm/remotemedia.wasm");
const manifestPath = process.env.RM_BENCH_MANIFEST || path.join(root, "tests/wasm/resample_vad.yaml");
const bytes = readFileSync(wasmPath);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const row = (...f) => console.log(["ROW", ...f].join("\t"));

// compile + instantiate (+ the runtime with every node type), fresh each time
const loads = [];
for (let i = 0; i < (quick ? 3 : 9); i++) {
  const t = performance.now();
  const rm = await RemoteMedia.load(new Uint8Array(bytes));
  loads.push(performance.now() - t);
  rm.dispose();
}

// the signal of bench_rmw_chunk.c: 0.5 s of a 300 Hz tone, 0.5 s near silence
const sig = new Float32Array(48000);
for (let i = 0; i < 48000; i++)
  sig[i] = Math.fround(Math.floor(i / 24000) % 2 === 0 ? 0.3 * Math.sin((2 * Math.PI * 300 * i) / 48000) : 0.001 * Math.sin(i));
const rm = await RemoteMedia.load(bytes);
const chunks = quick ? 300 : 1000, rounds = quick ? 5 : 15;

/** The native side: one long-lived child (bench_rmw_chunk --paired) that
 * runs a round each time it is told to; resolves "us_per_chunk WALL CPU". */
function nativeChild(manifestPath) {
  const child = spawn(nativeBench, [manifestPath, String(chunks), String(rounds), "--paired"],
    { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on("line", (l) => waiting.shift()?.(l));
  child.on("exit", (code) => { for (const w of waiting.splice(0)) w(`exit ${code}`); });
  return {
    round: () => new Promise((resolve) => { waiting.push(resolve); child.stdin.write("go\n"); }),
    end: () => child.stdin.end(),
  };
}

/** wasm and native per-chunk µs for one manifest, rounds paired: a native
 * round, then a wasm round, so both see the same machine load.  (The child
 * is started once, before the warm-up: forking made the next wasm rounds
 * 5-8x slower for a while, copy-on-write faults on the wasm heap.) */
async function measure(manifestPath) {
  const nat = nativeChild(manifestPath);
  const s = rm.open(readFileSync(manifestPath, "utf8"));
  let pos = 0;
  const push = () => {
    const at = pos % 48000;
    s.push({ samples: sig.subarray(at, at + 960), sampleRate: 48000, channels: 1, timestampUs: (pos * 1e6) / 48000 });
    pos += 960;
    s.takeOutputs();
  };
  // Warm-up by time: V8 runs wasm in its baseline compiler first and
  // optimises hot functions in the background, which on a busy machine
  // takes a while; the steady state is what a long stream sees.
  // Then until the rounds stop getting faster: at load average ~30 the
  // first rounds after 2 s still ran 2-7x slower (V8's background compiler
  // starved), which polluted the median.  At least 10 s and five steady
  // rounds (tier-up comes in steps), at most 40 s.
  const until = performance.now() + (quick ? 500 : 2000);
  while (performance.now() < until) push();
  const cpuRound = () => {
    const c = process.cpuUsage();
    for (let i = 0; i < chunks; i++) push();
    const d = process.cpuUsage(c);
    return (d.user + d.system) / chunks;
  };
  const settleMin = performance.now() + (quick ? 0 : 10000), settleEnd = performance.now() + (quick ? 3000 : 40000);
  for (let best = Infinity, steady = 0;
       (steady < 5 || performance.now() < settleMin) && performance.now() < settleEnd;) {
    const t = cpuRound();
    steady = t <= best * 1.15 ? steady + 1 : 0;
    best = Math.min(best, t);
  }
  // Wall time and the process's CPU time per chunk (user + system, all
  // threads: after the warm-up V8's compiler threads are idle).  On a
  // shared, busy machine wall time mostly measures the other processes, so
  // the ratio is taken on CPU time.
  const wasmWall = [], wasmCpu = [], natWall = [], natCpu = [];
  for (let r = 0; r < rounds; r++) {
    const m = /us_per_chunk ([\d.]+) ([\d.]+)/.exec(await nat.round());
    if (!m) { console.error(`bench_wasm: ${nativeBench} failed`); process.exit(1); }
    natWall.push(Number(m[1]));
    natCpu.push(Number(m[2]));
    const t = performance.now(), cpu = cpuRound();
    wasmWall.push(((performance.now() - t) * 1000) / chunks);
    wasmCpu.push(cpu);
  }
  nat.end();
  s.close();
  if (process.env.RM_BENCH_VERBOSE) // the rounds in order: is V8 still tiering up?
    console.error(`bench_wasm: ${path.basename(manifestPath)} wasm ${wasmCpu.map((x) => x.toFixed(1)).join(" ")}` +
                  ` | native ${natCpu.map((x) => x.toFixed(1)).join(" ")}`);
  return { w: median(wasmCpu), n: median(natCpu), ww: median(wasmWall), nw: median(natWall),
           wmin: Math.min(...wasmCpu), nmin: Math.min(...natCpu) };
}

const a = await measure(manifestPath);
const ratio = a.w / a.n;
row("wasm (Node): resample 48->16 kHz + VAD, CPU per 20 ms chunk (median)", `${a.w.toFixed(1)} us (wall ${a.ww.toFixed(1)})`,
  `native rmw API ${a.n.toFixed(1)} us (wall ${a.nw.toFixed(1)}); goal <= 2x`, `${ratio.toFixed(2)}x`,
  ratio <= 2 ? "ok" : "over goal");
row("wasm (Node): resample 48->16 kHz + VAD, CPU per 20 ms chunk (best round)", `${a.wmin.toFixed(1)} us`,
  `native rmw API ${a.nmin.toFixed(1)} us; goal <= 2x`, `${(a.wmin / a.nmin).toFixed(2)}x`,
  a.wmin / a.nmin <= 2 ? "ok" : "over goal");
const p = await measure(path.join(root, "bench/passthrough_audio.yaml"));
row("wasm (Node): PassThrough, CPU per 20 ms chunk (the JS boundary: copy in, push, copy out)",
  `${p.w.toFixed(1)} us (best ${p.wmin.toFixed(1)}; wall ${p.ww.toFixed(1)})`, `native rmw API ${p.n.toFixed(1)} us`,
  `${(p.w / p.n).toFixed(1)}x`,
  "measured");
row("wasm: compile + instantiate remotemedia.wasm + runtime", `${median(loads).toFixed(1)} ms`, "-", "-", "measured");
const kb = (n) => `${(n / 1024).toFixed(0)} KB`;
row("wasm: remotemedia.wasm size (core + math + text + audio)", `${kb(bytes.length)} (${kb(gzipSync(bytes, { level: 9 }).length)} gzip)`,
  "goal <= 500 KB", (bytes.length / (500 * 1024)).toFixed(2), bytes.length <= 500 * 1024 ? "ok" : "over goal");
