// Shared by the WebRTC browser test (tests/webrtc/test.js) and benchmark
// (bench/webrtc/bench.js): the fake microphone, rmedia serve on an ephemeral
// port, the page server, chromium, metrics, word error rate.
'use strict';
const assert = require('assert');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { chromium } = require('playwright-core');

const RATE = 16000;
const TOKEN = 'webrtc-test-token';

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

// Waits for `fn` to return something truthy while the server shows
// progress: `progress()` (e.g. the number of data-channel messages) must
// change at least every `idleMs`; `capMs` bounds the whole wait.  A slow
// (ASan, loaded) server gets the time it needs; a stuck one fails after
// idleMs, with the last progress value in the message.
async function untilProgress(what, fn, progress, idleMs, capMs) {
  const start = Date.now();
  let last = await progress(), lastChange = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    const now = Date.now(), p = await progress();
    if (p !== last) last = p, (lastChange = now);
    if (now - lastChange > idleMs) throw new Error(`waiting for ${what}: no progress for ${idleMs} ms (progress ${last})`);
    if (now - start > capMs) throw new Error(`timed out after ${capMs} ms waiting for ${what} (progress ${last})`);
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
// each sentence followed by `gapS` seconds of silence (room for the reply).
function makeMicWav(RMEDIA, SRC, file, sentences, gapS = 2.5) {
  const parts = [new Int16Array(RATE * 2)];
  for (const s of sentences) {
    const r = spawnSync(RMEDIA, ['run', path.join(SRC, 'examples/speak.yaml'), '--set', 'tts.voice=rms',
      '--output-format', `s16le:${RATE}:1`, '-o', '-'], { input: JSON.stringify(s) + '\n', maxBuffer: 1 << 26 });
    assert.strictEqual(r.status, 0, `speak.yaml failed: ${r.stderr}`);
    parts.push(new Int16Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.length / 2));
    parts.push(new Int16Array(Math.round(RATE * gapS)));
  }
  const all = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) all.set(p, at), (at += p.length);
  fs.writeFileSync(file, wav(all, RATE));
}

function transcribe(RMEDIA, SRC, file) {
  const r = spawnSync(RMEDIA, ['run', path.join(SRC, 'examples/transcribe.yaml'), '-i', file, '--only', 'stt.out',
    '-f', 'values'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.strictEqual(r.status, 0, `transcribe.yaml failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).join(' ');
}

// Servers still running when this process ends (a failed test) are killed.
const live = new Set();
process.on('exit', () => { for (const p of live) p.kill('SIGKILL'); });

// rmedia serve --webrtc-listen on an ephemeral port, waited for on /health.
async function startServer({ RMEDIA, SRC, WORK }, extra, manifest) {
  const portFile = path.join(WORK, `port-${Date.now()}`);
  const tokenFile = path.join(WORK, 'tokens');
  fs.writeFileSync(tokenFile, TOKEN + '\n');
  const args = ['serve', '--webrtc-listen', '127.0.0.1:0', '--webrtc-port-file', portFile, '--webrtc-ice-address',
    '127.0.0.1', '--auth-token-file', tokenFile, ...extra, manifest || path.join(SRC, 'examples/voice-agent.yaml')];
  // under ASan: full stacks for GLib's allocations (built without frame
  // pointers), so that lsan.supp can name the one it suppresses
  const env = { ...process.env, ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || ''}:fast_unwind_on_malloc=0` };
  const proc = spawn(RMEDIA, args, { stdio: ['ignore', 'inherit', 'pipe'], env });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; process.stderr.write(d); });
  live.add(proc);
  const exited = new Promise((ok) => proc.on('exit', (code, sig) => { live.delete(proc); ok({ code, sig }); }));
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

// Serves the example page on an ephemeral 127.0.0.1 port.
async function servePage(SRC) {
  const html = fs.readFileSync(path.join(SRC, 'web/voice/index.html'));
  const server = http.createServer((q, r) => { r.setHeader('Content-Type', 'text/html'); r.end(html); });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, base: `http://127.0.0.1:${server.address().port}/` };
}

// Headless Debian chromium with `mic` (a WAV) as the microphone.
function launch(mic) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${mic}`, '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required', '--no-sandbox'],
  });
}

module.exports = { RATE, TOKEN, words, edits, sleep, until, untilProgress, wav, makeMicWav, transcribe, startServer, stopServer,
  metric, peers, ended, servePage, launch };
