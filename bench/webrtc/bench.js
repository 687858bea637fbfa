// WebRTC voice benchmark (scripts/bench, through bench/webrtc/run.sh inside a
// network namespace with only lo): headless chromium talks to
// `rmedia serve --webrtc-listen` running examples/voice-agent.yaml.
//
//   voice-to-voice latency  end of the caller's utterance → first reply sample
//                           arriving in the page (p50, p99), both measured on
//                           one WebAudio clock (the microphone track and the
//                           remote track in one ScriptProcessor), with the
//                           per-utterance cost of each node from the session
//                           metrics, and each stage on one wall clock (the
//                           server's reply_audio marks, the page's blocks,
//                           getSynchronizationSources and getStats)
//   barge-in                speech start → silence on the return track (the
//                           server's measurement, see docs/webrtc.md)
//   concurrent sessions     the most calls at once whose transcripts stay right
//                           (WER ≤ 20 %) with no caller audio dropped
//
// Usage: node bench.js RMEDIA SOURCE_DIR WORK_DIR [--quick] [--only latency,barge,calls]
'use strict';
const fs = require('fs');
const path = require('path');
const { TOKEN, words, edits, sleep, until, makeMicWav, startServer, stopServer, metric, servePage, launch } =
  require('../../tests/webrtc/lib');

const [RMEDIA, SRC, WORK, ...rest] = process.argv.slice(2);
const quick = rest.includes('--quick');
const onlyArg = rest.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.split('=')[1] || rest[rest.indexOf(onlyArg) + 1] || '').split(',') : null;
const part = (name) => !only || only.includes(name);
const ctx = { RMEDIA, SRC, WORK };
const SENTENCES = ['turn on the kitchen lights', 'please open the front door', 'the weather is cold today',
  'call my sister tomorrow', 'play some quiet music', 'set an alarm for seven'].slice(0, quick ? 2 : 6);
const GAP_S = 3.5;
const BLOCK = 256;

const row = (m, ours, base, ratio, verdict) => console.log(`ROW\t${m}\t${ours}\t${base}\t${ratio}\t${verdict}`);
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };

// Connects a page and records per-block RMS of the microphone (ch 0) and of
// the reply (ch 1) on one AudioContext clock.
async function call(page, pageBase, server, record) {
  await page.goto(`${pageBase}?server=${encodeURIComponent(server.base)}&token=${TOKEN}`);
  await page.evaluate(async (rec) => {
    const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
    await voice.connect(mic);
    if (!rec) return;
    await new Promise((ok) => { const t = setInterval(() => voice.remote && (clearInterval(t), ok()), 20); });
    const ctx = new AudioContext();
    const merge = ctx.createChannelMerger(2);
    ctx.createMediaStreamSource(mic).connect(merge, 0, 0);
    ctx.createMediaStreamSource(voice.remote).connect(merge, 0, 1);
    const proc = ctx.createScriptProcessor(256, 2, 1);
    window.levels = [];
    window.levelRate = ctx.sampleRate;
    const rms = (a) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    const wall = () => performance.timeOrigin + performance.now();
    // [mic RMS, reply RMS, wall-clock ms of the callback]: the wall time
    // places each block against the server's reply_audio marks
    proc.onaudioprocess = (e) => window.levels.push([rms(e.inputBuffer.getChannelData(0)), rms(e.inputBuffer.getChannelData(1)), wall()]);
    // the reply track's receive statistics every 10 ms: when the first
    // packet of a reply arrives, and what the jitter buffer does with it
    window.rx = [];
    window.played = [];
    const recv = voice.pc.getReceivers().find((r) => r.track && r.track.kind === 'audio');
    window.rxTimer = setInterval(async () => {
      // the newest RTP timestamp delivered out of the jitter buffer to the
      // track (getStats is cached for ~50 ms; this is not)
      const src = recv && recv.getSynchronizationSources()[0];
      if (src) window.played.push([wall(), src.rtpTimestamp, src.timestamp]);
      const st = await voice.pc.getStats(recv ? recv.track : null);
      st.forEach((x) => {
        if (x.type === 'inbound-rtp' && x.kind === 'audio')
          window.rx.push({ t: wall(), n: x.packetsReceived, last: x.lastPacketReceivedTimestamp, jbd: x.jitterBufferDelay,
            jbe: x.jitterBufferEmittedCount, jbt: x.jitterBufferTargetDelay, jbm: x.jitterBufferMinimumDelay,
            conc: x.concealedSamples, samples: x.totalSamplesReceived });
      });
    }, 10);
    merge.connect(proc);
    proc.connect(ctx.destination);
  }, record);
}

// Utterance ends on the microphone and the first reply block after each:
// latencies in ms, and the block indices in `at` ([end, reply]).
function latencies(levels, rate, at = []) {
  const thr = 0.01, quiet = Math.ceil((0.5 * rate) / BLOCK), out = [];
  for (let i = 1; i < levels.length; i++) {
    if (!(levels[i - 1][0] > thr && levels[i][0] <= thr)) continue;
    let j = i;
    while (j < levels.length && j - i < quiet && levels[j][0] <= thr) j++;
    if (j - i < quiet) continue; // a pause inside the utterance
    let k = i;
    while (k < levels.length && levels[k][1] <= thr && !(k > i + quiet && levels[k][0] > thr)) k++;
    if (k < levels.length && levels[k][1] > thr) out.push(((k - i) * BLOCK * 1000) / rate), at.push([i, k]);
  }
  return out;
}

// Where each measured latency went, from the wall-clock marks (server and
// page on one host, one clock): the page's mic end (block i) → the
// server's last loud caller audio (uplink: Chromium's encoder, network, the
// server's jitter buffer and decoder) → the VAD's speech end → the
// transcript → TTS's first chunk at the transport → handed to the encoder
// → first RTP packet out of the payloader → first packet of the reply
// received by the page (getStats every 10 ms) → first loud reply block
// (block k): the reply's own leading quiet, then the jitter buffer,
// playout and WebAudio.  Per-stage medians over the utterances.  The page's
// block times lag its audio (ScriptProcessor callbacks run on the main
// thread after the block is captured), so the uplink stage comes out too
// small (even negative) and the browser stage too large by that lag; their
// sum, and the stages between, are exact.  Where a reply's first packet is
// "delivered" (getSynchronizationSources) moves with the jitter buffer's
// state, so the split between the last two stages is rough; their sum is not.
function stages(levels, at, replies, rx, played) {
  const per = [];
  for (const [i, k] of at) {
    const tEnd = levels[i][2], tHeard = levels[k][2];
    const r = replies.find((m) => m.push_ms >= tEnd - 50 && m.push_ms <= tHeard);
    if (!r) continue;
    // the reply's first RTP timestamp delivered to the track (32-bit wrap)
    const p = played.find(([t, ts]) => t >= r.rtp_ms && ((ts - r.rtp_timestamp) >>> 0) < 0x80000000);
    const delivered = p ? p[0] : NaN;
    // the receive poll that first counted a packet after the reply's first
    const j = rx.findIndex((x, q) => q > 0 && x.t >= r.rtp_ms && x.n > rx[q - 1].n);
    const arrive = j >= 0 ? rx[j].t : NaN;
    // jitter buffer during the reply: mean delay of the samples emitted in
    // the 200 ms after the first packet arrived
    const j2 = j >= 0 ? rx.findIndex((x) => x.t >= arrive + 200) : -1;
    const jb = j >= 1 && j2 > j && rx[j2].jbe > rx[j - 1].jbe ? (1000 * (rx[j2].jbd - rx[j - 1].jbd)) / (rx[j2].jbe - rx[j - 1].jbe) : NaN;
    const jbt = j >= 1 && j2 > j && rx[j2].jbe > rx[j - 1].jbe && rx[j2].jbt !== undefined ? (1000 * (rx[j2].jbt - rx[j - 1].jbt)) / (rx[j2].jbe - rx[j - 1].jbe) : NaN;
    per.push({
      'uplink: mic end in the page → server hears the last loud caller audio': r.caller_heard_ms - tEnd,
      'VAD: last loud audio → speech end event': r.speech_end_ms - r.caller_heard_ms,
      'STT: speech end → transcript': r.text_ms - r.speech_end_ms,
      'reply + TTS: transcript → first audio chunk at the transport': r.chunk_ms - r.text_ms,
      'pacer: first chunk → handed to the encoder': r.push_ms - r.chunk_ms,
      'encoder: handed over → first RTP packet out of the payloader': r.rtp_ms - r.push_ms,
      'network + jitter buffer: first RTP packet → delivered to the track (getSynchronizationSources, 10 ms polls)': delivered - r.rtp_ms,
      'reply audio before its first loud block (lead_quiet_ms)': r.lead_quiet_ms,
      'after the server: first RTP packet → loud block heard, minus the lead quiet (network, jitter buffer, playout, WebAudio)': tHeard - r.rtp_ms - r.lead_quiet_ms,
      'browser: delivered → loud block heard, minus the lead quiet (WebAudio, the 256-sample block)': tHeard - delivered - r.lead_quiet_ms,
      'browser jitter buffer delay during the reply start (getStats)': jb,
      'browser jitter buffer target delay (getStats)': jbt,
    });
  }
  return per;
}

const transcripts = (page) => page.evaluate(() => voice.messages.filter((m) => m.node === 'transcript').map((m) => m.data.text));
function wer(heard) {
  let errs = 0, total = 0;
  for (const s of SENTENCES) {
    const ref = words(s);
    errs += heard.length ? Math.min(...heard.map((h) => edits(ref, words(h)))) : ref.length;
    total += ref.length;
  }
  return (100 * errs) / total;
}

async function main() {
  fs.mkdirSync(WORK, { recursive: true });
  const mic = path.join(WORK, 'mic.wav');
  makeMicWav(RMEDIA, SRC, mic, SENTENCES, GAP_S);
  const loopS = fs.statSync(mic).size / 2 / 16000;
  const { server: pageServer, base: pageBase } = await servePage(SRC);
  const browser = await launch(mic);
  try {
    // 1. voice-to-voice latency, one caller, one loop of the sentences
    let server, page;
    if (part('latency')) {
      server = await startServer(ctx, ['--webrtc-peer-timeout', '30']);
      page = await browser.newPage();
      await call(page, pageBase, server, true);
      await sleep((loopS + 3) * 1000);
      const { levels, rate, rx, played, replies } = await page.evaluate(() => ({ levels: window.levels, rate: window.levelRate, rx: window.rx, played: window.played,
        replies: voice.messages.filter((m) => m.type === 'reply_audio') }));
      // DELETE, keeping the connection open until the closing message (with
      // the session metrics) has arrived
      await page.evaluate((t) => fetch(voice.resource, { method: 'DELETE', headers: { Authorization: `Bearer ${t}` } }), TOKEN);
      const closed = await until('the closed message', () => page.evaluate(() => voice.messages.find((m) => m.type === 'closed')), 30000);
      await page.close();
      await stopServer(server);
      const at = [];
      const lat = latencies(levels, rate, at);
      const per = stages(levels, at, replies, rx, played);
      if (process.env.RM_BENCH_WEBRTC_TRACE) fs.writeFileSync(path.join(WORK, 'trace.json'), JSON.stringify({ at, lat, per, replies, rx, played, rate, levels: at.map(([i, k]) => [levels[i], levels[k]]) }, null, 1));
      console.error(`webrtc bench: voice-to-voice latencies (ms): ${lat.map((x) => x.toFixed(0)).join(' ')}`);
      let p50 = NaN;
      if (lat.length) {
        p50 = pct(lat, 50);
        const p99 = pct(lat, 99);
        row(`webrtc voice-to-voice latency p50 (${lat.length} utterances, voice-agent.yaml)`, `${p50.toFixed(0)} ms`, '500 ms (goal)', (p50 / 500).toFixed(2), p50 <= 500 ? 'meets goal' : 'above goal');
        row('webrtc voice-to-voice latency p99', `${p99.toFixed(0)} ms`, '800-1500 ms (cloud agents)', (p99 / 800).toFixed(2), p99 <= 800 ? 'below cloud agents' : 'in cloud range or above');
      } else {
        row('webrtc voice-to-voice latency', 'no reply detected', '500 ms (goal)', '-', 'FAILED');
      }
      // The critical path after the caller stops: the VAD's end-of-speech
      // wait (configured), the STT's final search (final_ms), the reply node's
      // call, TTS text → first chunk (first_audio_ms); the rest is pacing,
      // Opus, RTP, the browser's jitter buffer and WebAudio.
      const nm = (closed.metrics && closed.metrics.node_metrics) || {};
      const utts = Math.max(1, lat.length);
      const yaml = fs.readFileSync(path.join(SRC, 'examples/voice-agent.yaml'), 'utf8');
      const wait = Number((yaml.match(/min_silence_ms:\s*(\d+)/) || [])[1] || 0);
      const stat = (id, k) => (nm[id] && nm[id].stats && nm[id].stats[k] ? nm[id].stats[k].mean : 0);
      const perCall = (id) => (nm[id] && nm[id].calls ? nm[id].total_us / 1000 / nm[id].calls : 0);
      const path_ = [['VAD end-of-speech wait (min_silence_ms, configured)', wait],
        ['stt final search: end of speech → transcript (final_ms mean)', stat('stt', 'final_ms')],
        ['reply (Responder) per call', perCall('reply')],
        ['tts text → first audio chunk (first_audio_ms mean)', stat('tts', 'first_audio_ms')]];
      for (const [what, ms] of path_) row(`webrtc  critical path: ${what}`, `${ms.toFixed(1)} ms`, '-', '-', 'breakdown');
      const known = path_.reduce((a, [, ms]) => a + ms, 0);
      if (lat.length) row('webrtc  critical path: rest (pacing, Opus, RTP, jitter buffer, WebAudio block)', `${(p50 - known).toFixed(0)} ms`, '-', '-', 'breakdown (p50 minus the above)');
      // the same path on one wall clock, stage by stage (medians)
      if (per.length) {
        for (const k of Object.keys(per[0])) {
          const xs = per.map((x) => x[k]).filter((x) => Number.isFinite(x));
          if (xs.length) row(`webrtc  stage: ${k} (median of ${xs.length})`, `${pct(xs, 50).toFixed(1)} ms`, '-', '-', 'breakdown');
        }
      }
      console.error(`webrtc bench: ${per.length} of ${lat.length} latencies matched to a reply_audio message`);
      for (const id of ['vad', 'stt', 'reply', 'tts']) {
        if (!nm[id]) continue;
        row(`webrtc  ${id} (${nm[id].node_type}) CPU time per utterance (not all on the critical path)`, `${(nm[id].total_us / 1000 / utts).toFixed(1)} ms`, '-', '-', 'breakdown');
      }
      const w = closed.metrics && closed.metrics.webrtc;
      if (w) row('webrtc  RTCP jitter / packets lost (loopback)', `${w.jitter_ms.toFixed(2)} ms / ${w.packets_lost}`, '-', '-', 'network');
    }

    // 2. barge-in: replies long enough that the next sentence interrupts them
    if (part('barge')) {
      const barge = path.join(WORK, 'barge.yaml');
      fs.writeFileSync(barge, fs.readFileSync(path.join(SRC, 'examples/voice-agent.yaml'), 'utf8')
        .replace('echo_prefix: "you said"', 'echo_prefix: "you said, and I will now repeat it slowly and at great length, so that you can interrupt me, that the words were"'));
      server = await startServer(ctx, ['--webrtc-peer-timeout', '30'], barge);
      page = await browser.newPage();
      await call(page, pageBase, server, false);
      await sleep((loopS + 2) * 1000);
      const barges = await page.evaluate(() => voice.messages.filter((m) => m.type === 'barge_in').map((m) => m.ms));
      await page.close();
      await stopServer(server);
      if (barges.length) {
        const b50 = pct(barges, 50);
        row(`webrtc barge-in: speech start → silence p50 (${barges.length} barge-ins)`, `${b50.toFixed(0)} ms`, '100 ms (goal)', (b50 / 100).toFixed(2), b50 <= 100 ? 'meets goal' : 'above goal');
      } else {
        row('webrtc barge-in', 'none happened', '100 ms (goal)', '-', 'FAILED');
      }

    }

    // 3. concurrent calls
    if (part('calls')) {
      let held = 0;
      for (const n of quick ? [1, 2] : [1, 2, 4, 8, 12]) {
        server = await startServer(ctx, ['--webrtc-peer-timeout', '60']);
        const pages = [];
        for (let i = 0; i < n; i++) {
          const p = await browser.newPage();
          await call(p, pageBase, server, false);
          pages.push(p);
        }
        await sleep((loopS + 4) * 1000);
        const wers = [];
        for (const p of pages) wers.push(wer(await transcripts(p)));
        for (const p of pages) await p.evaluate(() => voice.hangup()).catch(() => {});
        await until('every call to end', async () => (await metric(server.base, 'rmedia_webrtc_peers')) === 0, 60000);
        const dropped = await metric(server.base, 'rmedia_webrtc_audio_frames_dropped_total');
        for (const p of pages) await p.close();
        await stopServer(server);
        const ok = Math.max(...wers) <= 20 && dropped === 0;
        console.error(`webrtc bench: ${n} calls: worst WER ${Math.max(...wers).toFixed(1)} %, caller audio frames dropped ${dropped}`);
        if (!ok) break;
        held = n;
      }
      row('webrtc concurrent voice calls held (voice-agent.yaml; WER ≤ 20 %, no audio dropped)', `${held}`, '-', '-', 'on this machine');
    }
  } finally {
    await browser.close();
    pageServer.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
