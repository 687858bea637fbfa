// Node.js clients (@grpc/grpc-js + @grpc/proto-loader, installed by
// scripts/bootstrap from package-lock.json) against `rmedia serve`:
// health, GetVersion, unary calculator and audio, a streaming session sent
// back to back, errors, and bearer tokens on both services.
//
//   node tests/grpc/node/test.js RMEDIA SOURCE_DIR
'use strict';
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [rmedia, root] = process.argv.slice(2);
if (!rmedia || !root) {
  console.error('usage: node test.js RMEDIA SOURCE_DIR');
  process.exit(2);
}

const protoDir = path.join(root, 'proto');
const def = loader.loadSync(
  ['remotemedia/v1/execution.proto', 'remotemedia/v1/streaming.proto', 'grpc/health/v1/health.proto'],
  { includeDirs: [protoDir], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
const pkg = grpc.loadPackageDefinition(def);
const v1 = pkg.remotemedia.v1;
const Health = pkg.grpc.health.v1.Health;

// ------------------------------------------------------------- server --
function startServer(extraArgs, env) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-grpc-node-'));
  const portFile = path.join(dir, 'port');
  const log = fs.openSync(path.join(dir, 'server.log'), 'w');
  const e = { ...process.env, RMEDIA_PLUGIN_PATH: '', ...env };
  if (!env || !('REMOTEMEDIA_AUTH_TOKENS' in env)) delete e.REMOTEMEDIA_AUTH_TOKENS;
  const proc = spawn(rmedia, ['serve', '--listen', '127.0.0.1:0', '--port-file', portFile, ...extraArgs],
    { env: e, stdio: ['ignore', log, log] });
  const server = { dir, proc, exited: null };
  proc.on('exit', (code, sig) => { server.exited = { code, sig }; });
  server.logText = () => fs.readFileSync(path.join(dir, 'server.log'), 'utf8');
  server.ready = (async () => {
    const deadline = Date.now() + 90000;
    for (;;) {
      if (server.exited) throw new Error('rmedia serve exited early:\n' + server.logText());
      const t = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8').trim() : '';
      if (t) { server.address = '127.0.0.1:' + t; break; }
      if (Date.now() > deadline) throw new Error('no port file:\n' + server.logText());
      await sleep(50);
    }
    const h = new Health(server.address, grpc.credentials.createInsecure());
    for (;;) {
      try {
        const r = await unary(h, 'Check', { service: '' });
        if (r.status === 'SERVING') break;
      } catch (err) { /* not yet */ }
      if (server.exited || Date.now() > deadline) throw new Error('never SERVING:\n' + server.logText());
      await sleep(100);
    }
    h.close();
  })();
  server.stop = () => new Promise((resolve) => {
    const done = () => {
      server.lastLog = server.logText();
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(server.exited);
    };
    if (server.exited) return done();
    proc.on('exit', () => done());
    proc.kill('SIGTERM');
  });
  return server;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function unary(client, method, req, md) {
  return new Promise((resolve, reject) => {
    client[method](req, md || new grpc.Metadata(), { deadline: Date.now() + 60000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function auth(token, extra) {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', 'Bearer ' + token);
  for (const [k, v] of Object.entries(extra || {})) md.set(k, v);
  return md;
}

// ------------------------------------------------------------ messages --
const calculator = JSON.parse(fs.readFileSync(path.join(root, 'examples', 'calculator.json'), 'utf8'));

function manifestProto(m) {
  return {
    version: m.version || 'v1',
    metadata: { name: (m.metadata && m.metadata.name) || '' },
    nodes: m.nodes.map((n) => ({ id: n.id, node_type: n.node_type, params: JSON.stringify(n.params || {}) })),
    connections: (m.connections || []).map((c) => ({ from: c.from, to: c.to })),
  };
}
const jsonBuf = (v) => ({ json: { json_payload: JSON.stringify(v) } });
const value = (buf) => JSON.parse(buf.json.json_payload);

function streamAll(client, requests, md) {
  return new Promise((resolve, reject) => {
    const call = client.StreamPipeline(md || new grpc.Metadata());
    const out = [];
    call.on('data', (r) => out.push(r));
    call.on('error', reject);
    call.on('end', () => resolve(out));
    for (const r of requests) call.write(r);
    call.end();
  });
}

// --------------------------------------------------------------- tests --
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test('health, version, calculator, audio, errors, streaming (no auth)', async () => {
  const s = startServer([]);
  try {
    await s.ready;
    const exec = new v1.PipelineExecutionService(s.address, grpc.credentials.createInsecure());
    const ver = await unary(exec, 'GetVersion', { client_version: '' });
    assert.equal(ver.version_info.protocol_version, 'v1');
    assert.ok(ver.version_info.runtime_version);
    assert.ok(ver.version_info.supported_node_types.includes('AddNode'));

    for (const x of [5, 7, 3]) {
      const r = await unary(exec, 'ExecutePipeline', { manifest: manifestProto(calculator), data_inputs: { multiply: jsonBuf(x) }, client_version: 'node' });
      assert.equal(r.outcome, 'result', JSON.stringify(r.error));
      assert.equal(value(r.result.data_outputs.add), 2 * x + 10);
      assert.ok(r.result.metrics.wall_time_ms > 0);
    }

    // I16 in, F32 out through FormatConverter
    const n = 160;
    const pcm = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) pcm.writeInt16LE(Math.round(Math.sin(i / 5) * 16000), i * 2);
    const conv = { version: 'v1', nodes: [{ id: 'conv', node_type: 'FormatConverter', params: { target_format: 'f32' } }], connections: [] };
    const ra = await unary(exec, 'ExecutePipeline', {
      manifest: manifestProto(conv),
      data_inputs: { conv: { audio: { samples: pcm, sample_rate: 16000, channels: 1, format: 'AUDIO_FORMAT_I16', num_samples: n } } },
    });
    assert.equal(ra.outcome, 'result', JSON.stringify(ra.error));
    const a = ra.result.data_outputs.conv.audio;
    assert.equal(a.format, 'AUDIO_FORMAT_F32');
    assert.equal(a.num_samples, n);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(a.samples.readFloatLE(i * 4) - pcm.readInt16LE(i * 2) / 32768) < 1e-6);

    const bad = await unary(exec, 'ExecutePipeline', { manifest: manifestProto(calculator), data_inputs: { nope: jsonBuf(1) } });
    assert.equal(bad.outcome, 'error');
    assert.equal(bad.error.error_type, 'ERROR_TYPE_VALIDATION');
    assert.match(bad.error.message, /nope/);

    await assert.rejects(unary(exec, 'ExecutePipeline', { data_inputs: { multiply: jsonBuf(1) } }),
      (err) => err.code === grpc.status.INVALID_ARGUMENT);

    const st = new v1.StreamingPipelineService(s.address, grpc.credentials.createInsecure());
    const reqs = [{ init: { manifest: manifestProto(calculator), client_version: 'node', expected_chunk_size: 1600 } }];
    for (let i = 0; i < 10; i++) reqs.push({ data_chunk: { node_id: 'multiply', buffer: jsonBuf(i), sequence: i, timestamp_ms: Date.now() } });
    reqs.push({ control: { command: 'COMMAND_CLOSE' } });
    const out = await streamAll(st, reqs);
    const kinds = out.map((r) => r.response);
    assert.equal(kinds[0], 'ready');
    assert.equal(kinds[kinds.length - 1], 'closed');
    const results = out.filter((r) => r.response === 'result').map((r) => r.result);
    assert.deepEqual(results.map((r) => r.sequence), [...Array(10).keys()]);
    assert.deepEqual(results.map((r) => value(r.data_outputs.add)), [...Array(10).keys()].map((i) => 2 * i + 10));

    const early = await streamAll(st, [{ data_chunk: { node_id: 'multiply', buffer: jsonBuf(1), sequence: 0 } }]);
    assert.ok(early.some((r) => r.response === 'error' && /init/i.test(r.error.message)));
    exec.close();
    st.close();
  } finally {
    const ex = await s.stop();
    assert.equal(ex.code, 0, 'rmedia serve exit status:\n' + s.lastLog.slice(-4000));
  }
});

test('bearer tokens on both services; health open; extra metadata ignored', async () => {
  const s = startServer([], { REMOTEMEDIA_AUTH_TOKENS: 'node-secret,other' });
  try {
    await s.ready;
    const exec = new v1.PipelineExecutionService(s.address, grpc.credentials.createInsecure());
    const st = new v1.StreamingPipelineService(s.address, grpc.credentials.createInsecure());
    const req = { manifest: manifestProto(calculator), data_inputs: { multiply: jsonBuf(2) } };
    for (const md of [auth(null), auth('wrong')]) {
      await assert.rejects(unary(exec, 'ExecutePipeline', req, md), (err) => err.code === grpc.status.UNAUTHENTICATED);
      await assert.rejects(unary(exec, 'GetVersion', {}, md), (err) => err.code === grpc.status.UNAUTHENTICATED);
      await assert.rejects(streamAll(st, [{ init: { manifest: manifestProto(calculator) } }], md),
        (err) => err.code === grpc.status.UNAUTHENTICATED);
    }
    const md = auth('node-secret', { 'x-client': 'node-test/1' });
    const r = await unary(exec, 'ExecutePipeline', req, md);
    assert.equal(value(r.result.data_outputs.add), 14);
    const v = await unary(exec, 'GetVersion', { client_version: 'x' }, auth('other'));
    assert.ok(v.version_info.runtime_version);
    const out = await streamAll(st, [{ init: { manifest: manifestProto(calculator) } }, { control: { command: 'COMMAND_CLOSE' } }], auth('node-secret'));
    assert.equal(out[0].response, 'ready');
    const h = new Health(s.address, grpc.credentials.createInsecure());
    assert.equal((await unary(h, 'Check', { service: '' })).status, 'SERVING');
    h.close();
    exec.close();
    st.close();
  } finally {
    const ex = await s.stop();
    assert.equal(ex.code, 0, 'rmedia serve exit status:\n' + s.lastLog.slice(-4000));
  }
});

(async () => {
  let failed = 0;
  for (const t of tests) {
    try {
      await t.fn();
      console.log('ok   ' + t.name);
    } catch (err) {
      failed++;
      console.log('FAIL ' + t.name + '\n' + (err && err.stack ? err.stack : err));
    }
  }
  console.log(`${tests.length - failed}/${tests.length} passed`);
  process.exit(failed ? 1 : 0);
})();
