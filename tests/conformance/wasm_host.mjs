// The conformance suite's wasm host (run.py --host wasm): one case through
// build/wasm/remotemedia.wasm and the TypeScript package web/, in Node.
//   node wasm_host.mjs WASM SPEC.json
// SPEC: {"manifest": path, "values": [...]} (json inputs, pushed one at a
// time) or {"manifest": path, "audio": raw s16le path, "rate": Hz,
// "channels": n, "chunk_frames": n (0 = one frame)}.  Prints one JSON line
// per output: {"node", "port", "value"} or {"node", "port", "rate",
// "channels", "format", "samples": [...]} (samples as the library gave them).
import { readFileSync } from "node:fs";
import { RemoteMedia } from "../../web/dist/index.js";

const [wasmPath, specPath] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specPath, "utf8"));
const rm = await RemoteMedia.load(readFileSync(wasmPath));
const out = [];
const s = rm.open(readFileSync(spec.manifest, "utf8"), { onOutput: (o) => out.push(o) });
if (spec.values) {
  for (const v of spec.values) s.push(v);
} else {
  const raw = readFileSync(spec.audio);
  const x = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
  const ch = spec.channels, frames = x.length / ch;
  const step = spec.chunk_frames || frames;
  for (let a = 0; a < frames; a += step) {
    s.push({ samples: x.slice(a * ch, Math.min(frames, a + step) * ch), sampleRate: spec.rate, channels: ch,
      timestampUs: Math.round((a * 1e6) / spec.rate) });
  }
}
s.flush();
s.close();
const lines = out.map((o) => {
  if (o.kind !== "audio") return JSON.stringify({ node: o.node, port: o.port, value: o.value ?? null });
  const a = o.audio, format = a.samples instanceof Float32Array ? "f32" : a.samples instanceof Int16Array ? "s16" : "s32";
  return JSON.stringify({ node: o.node, port: o.port, rate: a.sampleRate, channels: a.channels, format,
    samples: Array.from(a.samples) });
});
process.stdout.write(lines.join("\n") + (lines.length ? "\n" : ""));
