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
// the reply_audio timing marks; bad SDP, wrong token, too many peers → clear
// HTTP errors; DELETE ends a
// session; a page that is closed frees its session.
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { TOKEN, words, edits, sleep, until, untilProgress, wav, makeMicWav, transcribe, startServer, stopServer, metric, peers, ended,
  servePage, launch } = require('./lib');

const [RMEDIA, SRC, WORK] = process.argv.slice(2);
const ctx = { RMEDIA, SRC, WORK };
// Sentences of tests/data/sentences.txt the responder echoes (no "time",
// "hello" or "hi": those get other answers).
const SENTENCES = ['turn on the kitchen lights', 'please open the front door', 'the weather is cold today'];
// measured 0 % on this machine; the margin covers the Opus round trip
const MAX_WER = 20;
const LONG_PREFIX = 'you said, and I will now repeat it slowly and at great length, so that you can interrupt me ' +
  'while I am still talking about it, that the words were';
const MAX_REPLY_MISSING = 0.4; // share of the echoed words the reply transcription may miss

async function main() {
  fs.mkdirSync(WORK, { recursive: true });
  const mic = path.join(WORK, 'mic.wav');
  makeMicWav(RMEDIA, SRC, mic, SENTENCES);
  const { server: pageServer, base: pageBase } = await servePage(SRC);
  const browser = await launch(mic);
  // Waits follow the server's progress (untilProgress: data-channel messages
  // keep coming while the pipeline works through the audio), not fixed
  // times; the peer timeout is only the fallback for a page that vanished.
  const server = await startServer(ctx, ['--webrtc-max-peers', '1', '--webrtc-peer-timeout', '60']);
  const IDLE_MS = 90000, CAP_MS = 420000;
  const messageCount = (page) => () => page.evaluate(() => voice.messages.length);
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
    await check('bad command lines and manifests: clear errors, exit codes', () => {
      const bad = path.join(WORK, 'bad.yaml');
      fs.writeFileSync(bad, 'version: v1\nnodes:\n  - { id: a, node_type: NoSuchNode }\n');
      const declared = (id, key = 'data_input') => {
        const f = path.join(WORK, `declared-${key}-${id}.yaml`);
        fs.writeFileSync(f, `version: v1\nmetadata: { session: { ${key}: ${id} } }\nnodes:\n  - { id: echo, node_type: PassThrough }\n  - { id: reply, node_type: Responder }\n`);
        return f;
      };
      const noAudio = path.join(WORK, 'noaudio.yaml');
      fs.writeFileSync(noAudio, 'version: v1\nnodes:\n  - { id: t, node_type: TextToSpeech }\n');
      const cases = [
        [['--webrtc-listen', '127.0.0.1:0'], 2, /--webrtc-listen needs a MANIFEST/],
        [['--webrtc-ice-address', '127.0.0.1'], 2, /need --webrtc-listen/],
        [['--webrtc-listen', '127.0.0.1:x', bad], 2, /expected HOST:PORT with a numeric port/],
        [['--webrtc-listen', '127.0.0.1:0', '--webrtc-ice-address', '1.2.3', bad], 2, /'1.2.3' is not an IPv4 or IPv6 address/],
        [['--webrtc-listen', '127.0.0.1:0', '--tls-cert', bad, bad], 2, /TLS needs both --tls-cert and --tls-key/],
        [['--webrtc-listen', '127.0.0.1:0', path.join(WORK, 'missing.yaml')], 4, /missing.yaml/],
        [['--webrtc-listen', '127.0.0.1:0', bad], 1, /bad.yaml:3:.*unknown node type 'NoSuchNode'/],
        [['--webrtc-listen', '127.0.0.1:0', noAudio], 1, /no source node takes audio/],
        [['--webrtc-listen', '127.0.0.1:0', declared('nope')], 1, /metadata.session.data_input: no node 'nope' in the pipeline/],
        [['--webrtc-listen', '127.0.0.1:0', declared('reply', 'audio_input')], 1,
          /metadata.session.audio_input: node 'reply' \(Responder\) does not take audio/],
      ];
      for (const [args, code, msg] of cases) {
        const r = spawnSync(RMEDIA, ['serve', ...args], { encoding: 'utf8', timeout: 60000 });
        assert.strictEqual(r.status, code, `rmedia serve ${args.join(' ')}: exit ${r.status}, want ${code}: ${r.stderr}`);
        assert.match(r.stderr, msg, `rmedia serve ${args.join(' ')}`);
      }
    });
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
      // a session that ended (timeout, error) will send no more: say why at once
      const ended = () => page.evaluate(() => voice.messages.find((m) => m.type === 'closed'));
      const heard = await untilProgress(`${2 * SENTENCES.length} transcripts`, async () => {
        const r = await results();
        if (r.length >= 2 * SENTENCES.length) return r;
        const c = await ended();
        if (c) throw new Error(`the session ended after ${r.length} transcripts: ${c.reason} (${c.detail})`);
        return null;
      }, messageCount(page), IDLE_MS, CAP_MS);
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
      const reply = words(transcribe(RMEDIA, SRC, replyWav));
      console.log(`     reply audio (${(pcm.length / rec.rate).toFixed(1)} s) transcribed: ${reply.join(' ')}`);
      assert.ok(reply.includes('said'), 'the reply audio does not say "you said"');
      const want = SENTENCES.flatMap(words);
      const missing = want.filter((w) => !reply.includes(w));
      assert.ok(missing.length <= want.length * MAX_REPLY_MISSING, `reply misses ${missing.join(', ')}`);
    });
    await check('reply_audio timing marks: in causal order, the reply\'s leading quiet cut', async () => {
      const marks = await page.evaluate(() => voice.messages.filter((m) => m.type === 'reply_audio'));
      assert.ok(marks.length >= SENTENCES.length, `${marks.length} reply_audio messages for ${SENTENCES.length} replies`);
      for (const m of marks) {
        const t = JSON.stringify(m);
        assert.ok(m.caller_heard_ms <= m.speech_end_ms && m.speech_end_ms <= m.chunk_ms, t);
        assert.ok(m.chunk_ms <= m.push_ms && m.push_ms <= m.rtp_ms, t);
        assert.ok(m.rtp_ms - m.speech_end_ms < 60000, t); // one clock, and this reply's
        // flite starts each text with ~170 ms below the level; voice-agent.yaml
        // keeps 10 ms of it (lead_silence_ms), then the first phone rises
        assert.ok(m.lead_quiet_ms >= 0 && m.lead_quiet_ms < 80, t);
      }
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
      // the data channel closes with the page; the peer timeout is the fallback
      await until('the session to be freed', async () => (await peers(server.base)) === 0, 150000);
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
  const server2 = await startServer(ctx, ['--webrtc-peer-timeout', '60'], barge);
  try {
    await check('barge-in: speaking over the reply stops it', async () => {
      const page = await browser.newPage();
      await page.goto(`${pageBase}?server=${encodeURIComponent(server2.base)}&token=${TOKEN}`);
      await page.evaluate(() => voice.connect());
      const msgs = () => page.evaluate(() => voice.messages);
      const all = await untilProgress('a barge_in message', async () => { const m = await msgs(); return m.some((x) => x.type === 'barge_in') && m; }, messageCount(page), IDLE_MS, CAP_MS);
      const b = all.find((x) => x.type === 'barge_in');
      console.log(`     barge_in: ${JSON.stringify(b)}`);
      assert.ok(b.dropped_ms > 0, 'no queued reply audio was dropped');
      assert.ok(b.ms > 0);
      // the interrupting sentence is still heard and answered
      const at = all.indexOf(b);
      await untilProgress('the transcript after the barge-in', async () => (await msgs()).slice(at).some((x) => x.node === 'transcript'), messageCount(page), IDLE_MS, CAP_MS);
      await page.close();
      const n = await metric(server2.base, 'rmedia_webrtc_barge_ins_total');
      assert.ok(n >= 1, `rmedia_webrtc_barge_ins_total is ${n}`);
    });
  } finally {
    await stopServer(server2);
  }
  // Data-channel input, on a light pipeline (no models behind the audio, so
  // the answer does not wait behind a slow recogniser): audio echoed, the
  // Responder as the declared data input node (metadata.session.data_input;
  // without it the default rule would pick `tap`, the first other source
  // that takes json).
  const light = path.join(WORK, 'light.yaml');
  fs.writeFileSync(light, ['version: v1', 'metadata: { name: light, session: { data_input: reply } }', 'nodes:',
    '  - { id: echo, node_type: PassThrough }',
    '  - { id: tap, node_type: PassThrough }',
    '  - { id: reply, node_type: Responder, params: { answer_time: false } }', 'connections: []', ''].join('\n'));
  const server3 = await startServer(ctx, [], light);
  try {
    await check('JSON on the data channel reaches the input node or a named one; bad messages get an error', async () => {
      const page = await browser.newPage();
      await page.goto(`${pageBase}?server=${encodeURIComponent(server3.base)}&token=${TOKEN}`);
      await page.evaluate(() => voice.connect());
      await until('the data channel to open', () => page.evaluate(() => voice.dc.readyState === 'open'), 60000);
      const said = (text) => page.evaluate((t) => voice.messages.some((m) => m.node === 'reply' && m.data === t), text);
      assert.match(server3.log(), /audio in: echo, data in: reply\)/);
      await page.evaluate(() => voice.dc.send(JSON.stringify('open the garage')));
      await until('the reply to a plain message', () => said('you said open the garage'), 60000);
      await page.evaluate(() => voice.dc.send(JSON.stringify({ node: 'reply', data: { text: 'close the window' } })));
      await until('the reply to a message for a named node', () => said('you said close the window'), 60000);
      const errors = () => page.evaluate(() => voice.messages.filter((m) => m.type === 'error').map((m) => m.message));
      await page.evaluate(() => { voice.dc.send(JSON.stringify({ node: 'nope', data: 1 })); voice.dc.send('not json'); });
      const errs = await until('two error messages', async () => { const e = await errors(); return e.length >= 2 && e; }, 60000);
      assert.match(errs.join('\n'), /no node 'nope' in pipeline 'light'/);
      assert.match(errs.join('\n'), /data channel message is not JSON/);
      await page.close();
    });
  } finally {
    await browser.close();
    pageServer.close();
    await stopServer(server3);
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
