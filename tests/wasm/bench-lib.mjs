// A measurement, not a test: compile and instantiate time of remotemedia.wasm
// and the cost per 20 ms chunk (48 kHz mono f32 -> resample to 16 kHz -> VAD)
// through the TypeScript package, JS copies included.
//   node tests/wasm/bench-lib.mjs   (after make wasm and web/'s tsc)
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { RemoteMedia } from "../../web/dist/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bytes = readFileSync(path.join(root, "build/wasm/remotemedia.wasm"));
let t = performance.now();
const mod = await WebAssembly.compile(bytes);
const compileMs = performance.now() - t;
t = performance.now();
const rm = await RemoteMedia.load(mod);
const instMs = performance.now() - t;
const s = rm.open(readFileSync(path.join(root, "tests/wasm/resample_vad.yaml"), "utf8"));
const sr = 48000, chunk = sr / 50, x = new Float32Array(chunk);
for (let i = 0; i < chunk; i++) x[i] = 0.1 * Math.sin(i / 7);
const push = () => { s.push({ samples: x, sampleRate: sr, channels: 1 }); s.takeOutputs(); };
for (let i = 0; i < 200; i++) push(); // warm-up: tier-up
const n = 3000;
t = performance.now();
for (let i = 0; i < n; i++) push();
const perUs = ((performance.now() - t) / n) * 1000;
s.close();
console.log(`remotemedia.wasm ${bytes.length} bytes: compile ${compileMs.toFixed(1)} ms, ` +
  `instantiate + runtime ${instMs.toFixed(1)} ms, per 20 ms chunk ${perUs.toFixed(1)} µs`);
