// Runs a WASI command under Node.js's built-in `wasi` module:
//   node run-wasi.mjs [--dir DIR]... MODULE.wasm [ARGS...]
// The current directory is preopened as "." (relative paths in ARGS work
// inside the sandbox) and each --dir DIR under its own absolute path.  The
// module gets this process's stdin, stdout and stderr, an empty environment,
// and its exit code becomes ours.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';

// WASI prints an ExperimentalWarning when first loaded; it would pollute the
// stderr being compared, so drop exactly that warning and keep the others.
const emitWarning = process.emitWarning;
process.emitWarning = (warning, ...rest) => {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type;
  if (type === 'ExperimentalWarning' && String(warning).includes('WASI')) return;
  return emitWarning.call(process, warning, ...rest);
};
const { WASI } = await import('node:wasi');

const argv = process.argv.slice(2);
const preopens = { '.': process.cwd() };
while (argv[0] === '--dir' && argv.length >= 2) {
  const dir = path.resolve(argv[1]);
  preopens[dir] = dir;
  argv.splice(0, 2);
}
const [modulePath, ...args] = argv;
if (!modulePath) {
  process.stderr.write('usage: node run-wasi.mjs [--dir DIR]... MODULE.wasm [ARGS...]\n');
  process.exit(2);
}

const wasi = new WASI({
  version: 'preview1',
  args: [path.basename(modulePath, '.wasm'), ...args],
  env: {},
  preopens,
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(modulePath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
