// The browser host of the conformance suite (driven by scripts/conformance.py):
// one chromium page on the demo; each stdin line is a request
//   {"manifest": text, "values": [...]}            json/text inputs, one push each
//   {"manifest": text, "wav": path, "ms": chunk}    16-bit PCM WAV, `ms` chunks (0 = whole)
// and each stdout line the outputs, in the order the page got them:
//   [{"node", "port", "value"} | {"node", "port", "audio": [interleaved...], "channels", "rate"}]
// or {"error": message}.
import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";
import { launch } from "./browser.mjs";

function readWav(file) {
  const b = readFileSync(file);
  let o = 12, fmt;
  while (o + 8 <= b.length) {
    const id = b.toString("ascii", o, o + 4), size = b.readUInt32LE(o + 4);
    if (id === "fmt ") fmt = { channels: b.readUInt16LE(o + 10), rate: b.readUInt32LE(o + 12), bits: b.readUInt16LE(o + 22) };
    if (id === "data") {
      if (!fmt || fmt.bits !== 16) throw new Error(`${file}: not 16-bit PCM`);
      const s = new Int16Array(size / 2);
      for (let i = 0; i < s.length; i++) s[i] = b.readInt16LE(o + 8 + i * 2);
      return { ...fmt, samples: Array.from(s) };
    }
    o += 8 + size + (size & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

const chrome = await launch();
const page = await chrome.open();
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let reply;
  try {
    const req = JSON.parse(line);
    const audio = req.wav ? readWav(req.wav) : undefined;
    reply = await page.evaluate(async ({ manifest, values, audio, ms }) => {
      const w = window.remotemedia.worker;
      const s = await w.open(manifest);
      const outs = [];
      try {
        const frames = [];
        if (audio) {
          const all = Int16Array.from(audio.samples);
          const step = ms ? Math.floor((audio.rate * ms) / 1000) * audio.channels : all.length;
          for (let i = 0; i < all.length; i += step)
            frames.push({ samples: all.slice(i, i + step), sampleRate: audio.rate, channels: audio.channels });
        } else frames.push(...values);
        // one message, one session push per frame: the framing is the frames'
        outs.push(...(await s.push(frames)).outputs);
        outs.push(...(await s.flush()).outputs);
      } finally {
        await s.close();
      }
      const scale = (a) => (a instanceof Float32Array ? 1 : a instanceof Int16Array ? 32768 : 2147483648);
      return outs.map((o) => {
        if (o.kind !== "audio") return { node: o.node, port: o.port, value: o.value };
        const { samples, channels, sampleRate } = o.audio;
        const k = scale(samples);
        return { node: o.node, port: o.port, audio: Array.from(samples, (v) => v / k), channels, rate: sampleRate };
      });
    }, { manifest: req.manifest, values: req.values ?? [], audio, ms: req.ms ?? 20 });
  } catch (e) {
    reply = { error: String(e?.message ?? e).split("\n")[0] };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
await chrome.close();
