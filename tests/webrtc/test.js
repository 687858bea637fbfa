// The WebRTC transport through a real browser: headless Debian chromium
// (playwright-core) with a fake microphone playing a WAV of known sentences,
// against `rmedia serve --webrtc-listen` running examples/voice-agent.yaml.
// Run by run.sh inside a network namespace that has only lo, so media and
// signalling stay on 127.0.0.1.
//
// Usage: node test.js RMEDIA SOURCE_DIR WORK_DIR
//
// Cases: the live transcript on the data channel (word error rate); the reply
// audio recorded in the page and transcribed natively (the reply's words);
// bad SDP, wrong token, too many peers → clear HTTP errors; DELETE ends a
// session; a page that is closed frees its session.
'use strict';
const assert = require('assert');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { chromium } = require('playwright-core');

const [RMEDIA, SRC, WORK] = process.argv.slice(2);
const TOKEN = 'webrtc-test-token';
const RATE = 16000;
// Sentences of tests/data/sentences.txt the responder echoes (no "time",
// "hello" or "hi": those get other answers).
const SENTENCES = ['turn on the kitchen lights', 'please open the front door', 'the weather is cold today'];
// measured 0 % on this machine; the margin covers the Opus round trip
const MAX_WER = 20;
const LONG_PREFIX = 'you said, and I will now repeat it slowly and at great length, so that you can interrupt me ' +
  'while I am still talking about it, that the words were';
const MAX_REPLY_MISSING = 0.4; // share of the echoed words the reply transcription may miss

const words = (t) => t.toLowerCase().replace(/[^a-z' ]/g, ' ').split(/\s+/).filter(Boolean);
function edits(ref, hyp) {
  let d = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const n = [i];
    for (let j = 1; j <= hyp.length; j++) n[j] = Math.min(d[j] + 1, n[j - 1] + 1, d[j - 1] + (ref[i - 1] !== hyp[j - 1]));
    d = n;
  }
  return d[hyp.length];
}
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
async function until(what, fn, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

function wav(samples16, rate) {
  const b = Buffer.alloc(44 + samples16.length * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + samples16.length * 2, 4); b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34); b.write('data', 36);
  b.writeUInt32LE(samples16.length * 2, 40);
  for (let i = 0; i < samples16.length; i++) b.writeInt16LE(samples16[i], 44 + i * 2);
  return b;
}

// The fake microphone: 2 s of silence (the call is still connecting), then
// each sentence followed by 2.5 s of silence (room for the reply).
function makeMicWav(file) {
  const parts = [new Int16Array(RATE * 2)];
  for (const s of SENTENCES) {
    const r = spawnSync(RMEDIA, ['run', path.join(SRC, 'examples/speak.yaml'), '--set', 'tts.voice=rms',
      '--output-format', `s16le:${RATE}:1`, '-o', '-'], { input: JSON.stringify(s) + '\n', maxBuffer: 1 << 26 });
    assert.strictEqual(r.status, 0, `speak.yaml failed: ${r.stderr}`);
    parts.push(new Int16Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.length / 2));
    parts.push(new Int16Array(Math.round(RATE * 2.5)));
  }
  const all = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) all.set(p, at), (at += p.length);
  fs.writeFileSync(file, wav(all, RATE));
}

function transcribe(file) {
  const r = spawnSync(RMEDIA, ['run', path.join(SRC, 'examples/transcribe.yaml'), '-i', file, '--only', 'stt.out',
    '-f', 'values'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.strictEqual(r.status, 0, `transcribe.yaml failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).join(' ');
}

async function startServer(extra, manifest) {
  const portFile = path.join(WORK, `port-${Date.now()}`);
  const tokenFile = path.join(WORK, 'tokens');
  fs.writeFileSync(tokenFile, TOKEN + '\n');
  const args = ['serve', '--webrtc-listen', '127.0.0.1:0', '--webrtc-port-file', portFile, '--webrtc-ice-address',
    '127.0.0.1', '--auth-token-file', tokenFile, ...extra, manifest || path.join(SRC, 'examples/voice-agent.yaml')];
  const proc = spawn(RMEDIA, args, { stdio: ['ignore', 'inherit', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; process.stderr.write(d); });
  const exited = new Promise((ok) => proc.on('exit', (code, sig) => ok({ code, sig })));
  const port = await until('the port file', () => fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim(), 30000);
  const base = `http://127.0.0.1:${port}`;
  await until('the health check', async () => (await fetch(`${base}/health`).catch(() => null))?.status === 200, 30000);
  return { proc, base, exited, log: () => log };
}

async function stopServer(s) {
  s.proc.kill('SIGTERM'); // by PID
  const { code, sig } = await s.exited;
  assert.strictEqual(code, 0, `rmedia serve exited with ${code} (${sig}); log:\n${s.log()}`);
}

async function metric(base, name) {
  const t = await (await fetch(`${base}/metrics`)).text();
  const line = t.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{') && l.includes(name));
  return line ? Number(line.split(' ').pop()) : NaN;
}
const peers = (base) => metric(base, 'rmedia_webrtc_peers');
async function ended(base, reason) {
  const t = await (await fetch(`${base}/metrics`)).text();
  const m = t.match(new RegExp(`rmedia_webrtc_peers_ended_total\\{reason="${reason}"\\} (\\d+)`));
  return m ? Number(m[1]) : 0;
}

async function main() {
  fs.mkdirSync(WORK, { recursive: true });
  const mic = path.join(WORK, 'mic.wav');
  makeMicWav(mic);
  const html = fs.readFileSync(path.join(SRC, 'web/voice/index.html'));
  const pageServer = http.createServer((q, r) => { r.setHeader('Content-Type', 'text/html'); r.end(html); });
  await new Promise((ok) => pageServer.listen(0, '127.0.0.1', ok));
  const pageBase = `http://127.0.0.1:${pageServer.address().port}/`;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${mic}`, '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required', '--no-sandbox'],
  });
  const server = await startServer(['--webrtc-max-peers', '1', '--webrtc-peer-timeout', '5']);
  const open = async (token) => {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(`${pageBase}?server=${encodeURIComponent(server.base)}${token ? `&token=${token}` : ''}`);
    return page;
  };
  const failures = [];
  const check = async (name, fn) => {
    try {
      await fn();
      console.log(`ok   ${name}`);
    } catch (e) {
      failures.push(name);
      console.log(`FAIL ${name}: ${e.stack || e}`);
    }
  };
  try {
    let page;
    await check('bad SDP → 400 naming the problem', async () => {
      const r = await fetch(`${server.base}/whip`, { method: 'POST', body: 'hello',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${TOKEN}` } });
      const t = await r.text();
      assert.strictEqual(r.status, 400, t);
      assert.match(t, /not an SDP offer/);
      const r2 = await fetch(`${server.base}/whip`, { method: 'POST', body: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${TOKEN}` } });
      const t2 = await r2.text();
      assert.strictEqual(r2.status, 400, t2);
      assert.match(t2, /no audio m-line/);
    });
    await check('wrong token → 401 from the page', async () => {
      const p = await open('not-the-token');
      const err = await p.evaluate(() => voice.connect().then(() => null, (e) => String(e)));
      assert.match(err || '', /WHIP 401: invalid bearer token/);
      await p.close();
      assert.strictEqual(await peers(server.base), 0, 'a refused peer holds no session');
    });
    await check('transcript on the data channel; reply audio recorded and transcribed', async () => {
      page = await open(TOKEN);
      await page.evaluate(async () => {
        await voice.connect();
        await new Promise((ok) => { const t = setInterval(() => voice.remote && (clearInterval(t), ok()), 50); });
        // record what the server sends back (the remote track through WebAudio)
        const ctx = new AudioContext();
        const src = ctx.createMediaStreamSource(voice.remote);
        const proc = ctx.createScriptProcessor(4096, 1, 1);
        window.recorded = [];
        window.recordRate = ctx.sampleRate;
        proc.onaudioprocess = (e) => window.recorded.push(Float32Array.from(e.inputBuffer.getChannelData(0)));
        src.connect(proc);
        proc.connect(ctx.destination);
      });
      const results = () => page.evaluate(() => voice.messages.filter((m) => m.type === 'output' && m.node === 'transcript').map((m) => m.data.text));
      const heard = await until(`${2 * SENTENCES.length} transcripts`, async () => { const r = await results(); return r.length >= 2 * SENTENCES.length && r; }, 120000);
      // each sentence against its best transcript (the microphone loops, the
      // call may start mid-file)
      let errs = 0, total = 0;
      for (const s of SENTENCES) {
        const ref = words(s);
        errs += Math.min(...heard.map((h) => edits(ref, words(h))));
        total += ref.length;
      }
      const wer = (100 * errs) / total;
      console.log(`     transcripts: ${JSON.stringify(heard)}; WER ${wer.toFixed(1)} %`);
      assert.ok(wer <= MAX_WER, `WER ${wer.toFixed(1)} % > ${MAX_WER} %`);
      await sleep(4000); // the last reply plays out
      const rec = await page.evaluate(() => { const n = window.recorded.reduce((a, b) => a + b.length, 0); const all = new Float32Array(n); let at = 0; for (const b of window.recorded) all.set(b, at), (at += b.length); return { rate: window.recordRate, data: Array.from(all) }; });
      const pcm = Int16Array.from(rec.data, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32767))));
      const replyWav = path.join(WORK, 'reply.wav');
      fs.writeFileSync(replyWav, wav(pcm, rec.rate));
      const reply = words(transcribe(replyWav));
      console.log(`     reply audio (${(pcm.length / rec.rate).toFixed(1)} s) transcribed: ${reply.join(' ')}`);
      assert.ok(reply.includes('said'), 'the reply audio does not say "you said"');
      const want = SENTENCES.flatMap(words);
      const missing = want.filter((w) => !reply.includes(w));
      assert.ok(missing.length <= want.length * MAX_REPLY_MISSING, `reply misses ${missing.join(', ')}`);
      const msgs = await page.evaluate(() => voice.messages.length);
      assert.ok(msgs > 0);
    });
    await check('too many peers → 503 naming the limit', async () => {
      const p2 = await open(TOKEN);
      const err = await p2.evaluate(() => voice.connect().then(() => null, (e) => String(e)));
      assert.match(err || '', /WHIP 503: too many peers: 1 connected, the limit is 1/);
      await p2.close();
    });
    await check('page closed → session freed', async () => {
      assert.strictEqual(await peers(server.base), 1);
      await page.close();
      await until('the session to be freed', async () => (await peers(server.base)) === 0, 30000);
      assert.ok((await ended(server.base, 'peer_gone')) >= 1, 'ended for another reason than the peer going away');
    });
    await check('DELETE ends the session; the freed slot takes a new peer', async () => {
      const p3 = await open(TOKEN);
      await p3.evaluate(() => voice.connect());
      assert.strictEqual(await peers(server.base), 1);
      const gone = await p3.evaluate(async () => (await fetch(voice.resource, { method: 'DELETE', headers: { Authorization: 'Bearer webrtc-test-token' } })).status);
      assert.strictEqual(gone, 200);
      await until('the session to end', async () => (await peers(server.base)) === 0, 10000);
      assert.strictEqual(await ended(server.base, 'deleted'), 1);
      const again = await fetch(`${server.base}/whip/no-such-session`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } });
      assert.strictEqual(again.status, 404);
      await p3.close();
    });
  } finally {
    await stopServer(server);
  }
  // Barge-in: a reply long enough that the next sentence starts while it
  // plays (examples/voice-agent.yaml with a long echo prefix).
  const barge = path.join(WORK, 'barge.yaml');
  const agent = fs.readFileSync(path.join(SRC, 'examples/voice-agent.yaml'), 'utf8');
  assert.ok(agent.includes('echo_prefix: "you said"') && agent.includes('barge_in: true'));
  fs.writeFileSync(barge, agent.replace('echo_prefix: "you said"', `echo_prefix: "${LONG_PREFIX}"`));
  const server2 = await startServer([], barge);
  try {
    await check('barge-in: speaking over the reply stops it', async () => {
      const page = await browser.newPage();
      await page.goto(`${pageBase}?server=${encodeURIComponent(server2.base)}&token=${TOKEN}`);
      await page.evaluate(() => voice.connect());
      const msgs = () => page.evaluate(() => voice.messages);
      const all = await until('a barge_in message', async () => { const m = await msgs(); return m.some((x) => x.type === 'barge_in') && m; }, 90000);
      const b = all.find((x) => x.type === 'barge_in');
      console.log(`     barge_in: ${JSON.stringify(b)}`);
      assert.ok(b.dropped_ms > 0, 'no queued reply audio was dropped');
      assert.ok(b.ms > 0);
      // the interrupting sentence is still heard and answered
      const at = all.indexOf(b);
      await until('the transcript after the barge-in', async () => (await msgs()).slice(at).some((x) => x.node === 'transcript'), 30000);
      await page.close();
      const n = await metric(server2.base, 'rmedia_webrtc_barge_ins_total');
      assert.ok(n >= 1, `rmedia_webrtc_barge_ins_total is ${n}`);
    });
  } finally {
    await browser.close();
    pageServer.close();
    await stopServer(server2);
  }
  if (failures.length) {
    console.log(`${failures.length} case(s) failed: ${failures.join('; ')}`);
    process.exit(1);
  }
  console.log('all WebRTC cases passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
