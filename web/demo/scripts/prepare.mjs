// Before `vite` / `vite build`: builds the package (web/dist), and puts the
// files the page loads at run time into public/ — remotemedia.wasm (make
// wasm) and Pyodide's runtime from the npm package — so the page is served
// entirely from the project's own files.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const demo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const web = path.dirname(demo);
const root = path.dirname(web);
const wasm = process.env.RMEDIA_WASM || path.join(root, "build/wasm/remotemedia.wasm");
if (!existsSync(wasm)) {
  console.error(`prepare: ${wasm} is missing: run 'make wasm' first`);
  process.exit(1);
}
execFileSync(process.execPath, [path.join(web, "scripts/embed-python.mjs")], { stdio: "inherit" });
execFileSync(process.execPath, [path.join(web, "node_modules/typescript/bin/tsc"), "-p", path.join(web, "tsconfig.json")], { stdio: "inherit" });
const pub = path.join(demo, "public");
mkdirSync(path.join(pub, "pyodide"), { recursive: true });
copyFileSync(wasm, path.join(pub, "remotemedia.wasm"));
// What loadPyodide() fetches for the core interpreter (no packages are used).
for (const f of ["pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"])
  copyFileSync(path.join(web, "node_modules/pyodide", f), path.join(pub, "pyodide", f));
// pyodide.mjs names Pyodide's CDN as the default package address (used only
// when no packageBaseUrl is given; PythonHost.load always gives one).  The
// copy served with the page names none: the default becomes an empty
// address, so even a caller without packageBaseUrl cannot reach the CDN.
const cdn = /`https:\/\/cdn\.jsdelivr\.net\/pyodide\/v\$\{\w+\}\/full\/`/g;
const mjs = readFileSync(path.join(web, "node_modules/pyodide/pyodide.mjs"), "utf8");
const served = mjs.replace(cdn, '""');
if (served === mjs || /cdn\.jsdelivr|https?:\/\/cdn\./.test(served)) {
  console.error("prepare: node_modules/pyodide/pyodide.mjs: its CDN default was not found where expected; " +
    "check the pyodide version (the page must not name a CDN)");
  process.exit(1);
}
writeFileSync(path.join(pub, "pyodide", "pyodide.mjs"), served);
// The precompiled standard library and the memory snapshot Python starts
// from (snapshot.json names them; remade only when an input changed).
execFileSync(process.execPath, [path.join(web, "scripts/python-snapshot.mjs"), path.join(pub, "pyodide")], { stdio: "inherit" });
