// Resample (libsoxr) + VAD (kissfft) in remotemedia.wasm against the native
// rmedia on the same synthesised signal (3 s at 44.1 kHz: noise, a voiced
// harmonic burst from 0.8 s to 2.0 s, noise), pushed in 20 ms chunks as the
// CLI does.  The stated tolerance: resampled samples within 1e-5 of native
// (wasm's soxr runs without SIMD), the same speech events with timestamps
// within one 20 ms VAD frame and probabilities within 0.05.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync, rmSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import path from "node:path";
import { RemoteMedia } from "../dist/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const wasmPath = process.env.RMEDIA_WASM || path.join(root, "build/wasm/remotemedia.wasm");
const native = process.env.RMEDIA_NATIVE ||
  [path.join(root, "build/asan/rmedia"), path.join(root, "build/release/rmedia")].find(existsSync);
const manifest = "tests/wasm/resample_vad.yaml";

function synth(sr, seconds) {
  const n = sr * seconds, x = new Float32Array(n);
  let seed = 1;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
  for (let i = 0; i < n; i++) {
    const t = i / sr;
    let v = 0.002 * rnd();
    if (t > 0.8 && t < 2.0) {
      for (let h = 1; h <= 12; h++) v += 0.12 / h * Math.sin(2 * Math.PI * 140 * h * t * (1 + 0.05 * Math.sin(2 * Math.PI * 3 * t)));
      v *= 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t) ** 2;
      v += 0.02 * rnd();
    }
    x[i] = v;
  }
  return x;
}

test("resample + VAD in wasm match native within tolerance", async (t) => {
  assert.ok(native, "no native rmedia (set RMEDIA_NATIVE)");
  const rm = await RemoteMedia.load(readFileSync(wasmPath));
  if (!rm.nodes().some((n) => n.name === "AudioResample")) {
    t.skip("remotemedia.wasm was built without the audio family (RM_WASM_AUDIO=OFF)");
    return;
  }
  const sr = 44100, x = synth(sr, 3);
  const dir = mkdtempSync(path.join(tmpdir(), "rm-audio-"));
  try {
    writeFileSync(path.join(dir, "in.f32"), Buffer.from(x.buffer));
    const r = spawnSync(native, ["run", manifest, "--input", path.join(dir, "in.f32"), "--input-format", "f32le:44100:1",
      "--output", path.join(dir, "out.f32"), "--output-format", "f32le", "--chunk-ms", "20"], { cwd: root, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const b = readFileSync(path.join(dir, "out.f32"));
    const natAudio = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    const natEvents = r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l).value);

    const s = rm.open(readFileSync(path.join(root, manifest), "utf8"));
    const chunk = sr / 50;
    for (let i = 0; i < x.length; i += chunk)
      s.push({ samples: x.slice(i, Math.min(i + chunk, x.length)), sampleRate: sr, channels: 1 });
    s.flush();
    const outs = s.takeOutputs();
    s.close();
    const audio = outs.filter((o) => o.port === "out" && o.kind === "audio");
    const events = outs.filter((o) => o.port === "events").map((o) => o.value);
    assert.ok(audio.every((o) => o.audio.sampleRate === 16000 && o.audio.channels === 1));
    const wasmAudio = new Float32Array(audio.reduce((n, o) => n + o.audio.samples.length, 0));
    let k = 0;
    for (const o of audio) { wasmAudio.set(o.audio.samples, k); k += o.audio.samples.length; }

    assert.equal(wasmAudio.length, natAudio.length, "resampled length");
    assert.ok(wasmAudio.length > 16000 * 2.9);
    let maxDiff = 0;
    for (let i = 0; i < natAudio.length; i++) maxDiff = Math.max(maxDiff, Math.abs(wasmAudio[i] - natAudio[i]));
    t.diagnostic(`max |wasm - native| = ${maxDiff.toExponential(2)} over ${natAudio.length} samples`);
    assert.ok(maxDiff <= 1e-5, `resampled audio differs by ${maxDiff}`);

    assert.ok(natEvents.length >= 2, "the native VAD found the burst");
    assert.equal(events.length, natEvents.length, JSON.stringify(events));
    events.forEach((e, i) => {
      const n = natEvents[i];
      assert.equal(e.is_speech_start, n.is_speech_start);
      assert.equal(e.is_speech_end, n.is_speech_end);
      assert.ok(Math.abs(e.timestamp_ms - n.timestamp_ms) <= 20, `event ${i}: ${e.timestamp_ms} vs ${n.timestamp_ms}`);
      assert.ok(Math.abs(e.speech_probability - n.speech_probability) <= 0.05);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("audio frames are checked before they enter the module", async () => {
  const rm = await RemoteMedia.load(readFileSync(wasmPath));
  const s = rm.open("version: v1\nnodes:\n  - id: p\n    node_type: PassThrough\n");
  assert.throws(() => s.push({ samples: new Float32Array(5), sampleRate: 16000, channels: 2 }), /do not divide into 2 channels/);
  assert.throws(() => s.push({ samples: new Int16Array(4), sampleRate: 0, channels: 1 }), /invalid audio frame/);
  s.push({ samples: Int16Array.from([1, -2, 3, -4]), sampleRate: 8000, channels: 2 });
  const [o] = s.takeOutputs();
  assert.ok(o.audio.samples instanceof Int16Array);
  assert.deepEqual(Array.from(o.audio.samples), [1, -2, 3, -4]);
  assert.equal(o.audio.channels, 2);
  s.close();
});

test("mixer, converter, gain, chunker and level in wasm give native's s16 output bit for bit", async (t) => {
  assert.ok(native, "no native rmedia (set RMEDIA_NATIVE)");
  const rm = await RemoteMedia.load(readFileSync(wasmPath));
  if (!rm.nodes().some((n) => n.name === "ChannelMixer")) {
    t.skip("remotemedia.wasm was built without the audio family (RM_WASM_AUDIO=OFF)");
    return;
  }
  const sr = 16000, n = sr, x = new Int16Array(n * 2);
  for (let i = 0; i < n; i++) {
    x[2 * i] = Math.round(20000 * Math.sin(2 * Math.PI * 440 * i / sr));
    x[2 * i + 1] = Math.round(12000 * Math.sin(2 * Math.PI * 97 * i / sr) * (i / n));
  }
  const dir = mkdtempSync(path.join(tmpdir(), "rm-chain-"));
  try {
    writeFileSync(path.join(dir, "in.s16"), Buffer.from(x.buffer));
    const r = spawnSync(native, ["run", "tests/wasm/audio_chain.yaml", "--input", path.join(dir, "in.s16"),
      "--input-format", "s16le:16000:2", "--output", path.join(dir, "out.s16"), "--output-format", "s16le"],
      { cwd: root, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const b = readFileSync(path.join(dir, "out.s16"));
    const nat = new Int16Array(b.buffer, b.byteOffset, b.byteLength / 2);
    const natEvents = r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l).value);

    const s = rm.open(readFileSync(path.join(root, "tests/wasm/audio_chain.yaml"), "utf8"));
    const chunk = sr / 50;
    for (let i = 0; i < n; i += chunk) s.push({ samples: x.slice(2 * i, 2 * (i + chunk)), sampleRate: sr, channels: 2 });
    s.flush();
    const outs = s.takeOutputs();
    s.close();
    const audio = outs.filter((o) => o.kind === "audio");
    assert.ok(audio.every((o) => o.audio.samples instanceof Int16Array && o.audio.channels === 1));
    assert.ok(audio.every((o) => o.audio.samples.length === 400), "25 ms chunks");
    const got = new Int16Array(audio.reduce((k, o) => k + o.audio.samples.length, 0));
    let k = 0;
    for (const o of audio) { got.set(o.audio.samples, k); k += o.audio.samples.length; }
    assert.equal(got.length, nat.length);
    assert.ok(nat.some((v) => v !== 0));
    assert.deepEqual(Array.from(got), Array.from(nat));
    const events = outs.filter((o) => o.kind === "json").map((o) => o.value);
    assert.equal(JSON.stringify(events), JSON.stringify(natEvents));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
