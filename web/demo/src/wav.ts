/** Audio files for the page: WAV (PCM 8/16/24/32-bit, float 32) read as is,
 * so the browser runs the same samples the native CLI reads; anything else
 * through the browser's decoder (at the AudioContext's rate). */
export interface Decoded {
  samples: Float32Array; // mono mix-down is NOT done: interleaved
  sampleRate: number;
  channels: number;
}

export async function decodeAudio(bytes: ArrayBuffer): Promise<Decoded> {
  const wav = readWav(bytes);
  if (wav) return wav;
  const ctx = new OfflineAudioContext(1, 1, 48000);
  const buf = await ctx.decodeAudioData(bytes.slice(0));
  const ch = buf.numberOfChannels;
  const out = new Float32Array(buf.length * ch);
  for (let c = 0; c < ch; c++) {
    const d = buf.getChannelData(c);
    for (let i = 0; i < buf.length; i++) out[i * ch + c] = d[i]!;
  }
  return { samples: out, sampleRate: buf.sampleRate, channels: ch };
}

function readWav(bytes: ArrayBuffer): Decoded | undefined {
  const v = new DataView(bytes);
  const tag = (o: number) => String.fromCharCode(v.getUint8(o), v.getUint8(o + 1), v.getUint8(o + 2), v.getUint8(o + 3));
  if (bytes.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") return undefined;
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  for (let o = 12; o + 8 <= bytes.byteLength;) {
    const id = tag(o);
    const size = v.getUint32(o + 4, true);
    const body = o + 8;
    if (id === "fmt ") {
      let format = v.getUint16(body, true);
      if (format === 0xfffe && size >= 26) format = v.getUint16(body + 24, true); // WAVE_FORMAT_EXTENSIBLE
      fmt = { format, channels: v.getUint16(body + 2, true), rate: v.getUint32(body + 4, true), bits: v.getUint16(body + 14, true) };
    } else if (id === "data" && fmt) {
      const { format, channels, rate, bits } = fmt;
      const bps = bits / 8;
      const n = Math.floor(Math.min(size, bytes.byteLength - body) / bps);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const p = body + i * bps;
        if (format === 3 && bits === 32) out[i] = v.getFloat32(p, true);
        else if (format !== 1) return undefined;
        else if (bits === 16) out[i] = v.getInt16(p, true) / 32768;
        else if (bits === 8) out[i] = (v.getUint8(p) - 128) / 128;
        else if (bits === 24) out[i] = ((v.getUint8(p) | (v.getUint8(p + 1) << 8) | (v.getInt8(p + 2) << 16))) / 8388608;
        else if (bits === 32) out[i] = v.getInt32(p, true) / 2147483648;
        else return undefined;
      }
      return { samples: out, sampleRate: rate, channels };
    }
    o = body + size + (size & 1);
  }
  return undefined;
}
