// Warm-run timing of a WASI command: compiles MODULE once, then instantiates
// and runs it RUNS times (stdout/stderr to /dev/null, empty stdin) and prints
// the median and minimum wall time per run in ms, as JSON.  Later instances
// reuse the compiled (and tiered-up) code, so this is the module's execution
// cost without Node's start-up and the one-time compilation.
//   node bench-wasi.mjs RUNS MODULE.wasm [ARGS...]
import { openSync, readFileSync } from 'node:fs';
import process from 'node:process';

process.emitWarning = () => {}; // only the WASI ExperimentalWarning is expected
const { WASI } = await import('node:wasi');

const [runsArg, modulePath, ...args] = process.argv.slice(2);
const runs = Number(runsArg);
if (!(runs > 0) || !modulePath) {
  process.stderr.write('usage: node bench-wasi.mjs RUNS MODULE.wasm [ARGS...]\n');
  process.exit(2);
}
const module = await WebAssembly.compile(readFileSync(modulePath));
const devnull = openSync('/dev/null', 'r+');
const times = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const wasi = new WASI({
    version: 'preview1', args: ['rmedia', ...args], env: {}, returnOnExit: true,
    preopens: { '.': process.cwd() }, stdin: devnull, stdout: devnull, stderr: devnull,
  });
  const rc = wasi.start(await WebAssembly.instantiate(module, wasi.getImportObject()));
  times.push(performance.now() - t0);
  if (rc !== 0) {
    process.stderr.write(`bench-wasi: run ${i} exited with ${rc}\n`);
    process.exit(1);
  }
}
times.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ runs, median_ms: times[runs >> 1], min_ms: times[0] }) + '\n');
