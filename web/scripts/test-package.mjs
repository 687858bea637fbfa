#!/usr/bin/env node
// npm run test-package -- X.rmpkg... [--run JSON_INPUT]
// Validates packages as PackageLoader does in a browser (every check of
// docs/rmpkg.md, the manifest compiled by the package's own runtime.wasm)
// and prints every problem as PACKAGE: MEMBER[:LINE:COL]: error: ...
// --run executes each package's pipeline on the JSON input (an array of
// inputs) and prints the outputs as JSON.  Exit 1 if any package is invalid.
import { parseArgs } from "node:util";
import { PackageLoader, PackageError } from "../dist/index.js";

let parsed;
try {
  parsed = parseArgs({ allowPositionals: true, options: { run: { type: "string" }, help: { type: "boolean", short: "h" } } });
} catch (e) {
  console.error(`test-package: ${e.message}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help || positionals.length === 0) {
  console.error("usage: npm run test-package -- X.rmpkg... [--run JSON_INPUT]");
  process.exit(values.help ? 0 : 2);
}
let exit = 0;
for (const file of positionals) {
  try {
    const pkg = await PackageLoader.loadFromFile(file);
    for (const w of pkg.warnings) console.error(`${file}: ${w.text}`);
    console.log(`${file}: ok (${pkg.members.length} members, runtime.wasm ${pkg.wasm.length} bytes)`);
    if (values.run !== undefined) {
      const { result } = await pkg.runner.execute(pkg.manifestText, JSON.parse(values.run));
      console.log(JSON.stringify(result.outputs));
    }
  } catch (e) {
    if (e instanceof PackageError) {
      console.error(e.message);
      console.error(`${file}: ${e.problems.filter((p) => p.severity === "error").length} problem(s)`);
      exit = Math.max(exit, 1);
    } else {
      console.error(`${file}: ${e.code === "ENOENT" ? "cannot open the file" : e.message}`);
      exit = Math.max(exit, e.code === "ENOENT" ? 4 : 1);
    }
  }
}
process.exit(exit);
