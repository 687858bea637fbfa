// The demo page in Debian's chromium (headless, driven by playwright-core),
// served from web/demo/dist on an ephemeral 127.0.0.1 port by this test:
// every example, the manifest editor's diagnostics (as `rmedia validate`
// prints them), a Python node error, an audio file and the live microphone
// (a fake capture device playing a synthesised speech WAV) against the
// native CLI on the same file, offline reload through the service worker,
// Python started from the build's snapshot or normally when it is unusable,
// keyboard use and accessible names.  `npm run build` first (make test does).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { unzipSync, zipSync } from "../../node_modules/fflate/esm/index.mjs";
import { launch } from "../scripts/browser.mjs";

const demo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const root = path.resolve(demo, "../..");
const native = process.env.RMEDIA_NATIVE ||
  [path.join(root, "build/asan/rmedia"), path.join(root, "build/release/rmedia")].find(existsSync);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
/** Live mic vs the native CLI on the same file.  The page's clock starts at
 * its first 20 ms chunk, which comes some time after the fake capture
 * device started the file (getUserMedia, AudioContext and worklet start-up:
 * up to MIC_MAX_LAG_MS); that lag is taken from the first speech start, and
 * every boundary must then agree within MIC_TOLERANCE_MS (the capture path
 * resamples the file to the device rate, the page back to 16 kHz). */
const MIC_MAX_LAG_MS = 1500;
const MIC_TOLERANCE_MS = 100;
/** The audio file runs the file's own samples: one VAD frame. */
const FILE_TOLERANCE_MS = 20;

let tmp, wav, wavMs, nativeSegments, chrome, browser;

function rmedia(args, input) {
  const r = spawnSync(native, args, { cwd: root, input, encoding: "utf8", env: { ...process.env, RMEDIA_PLUGIN_PATH: "" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Speech, pause, speech (flite's slt voice, 16 kHz s16) with silence around. */
function makeSpeechWav(file) {
  const parts = [];
  const silence = (ms) => parts.push(new Int16Array(16 * ms));
  const say = (text) => {
    const f = path.join(tmp, "tts.wav");
    const r = spawnSync("flite", ["-voice", "slt", "-t", text, "-o", f]);
    assert.equal(r.status, 0, "flite failed (scripts/bootstrap installs it)");
    const b = readFileSync(f);
    const data = b.indexOf("data");
    const n = b.readUInt32LE(data + 4) / 2;
    parts.push(new Int16Array(b.buffer.slice(b.byteOffset + data + 8, b.byteOffset + data + 8 + n * 2)));
  };
  silence(800); say("please schedule a meeting for tomorrow morning"); silence(1500);
  say("turn on the kitchen lights"); silence(1200);
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = Buffer.alloc(44 + total * 2);
  out.write("RIFF", 0); out.writeUInt32LE(36 + total * 2, 4); out.write("WAVEfmt ", 8);
  out.writeUInt32LE(16, 16); out.writeUInt16LE(1, 20); out.writeUInt16LE(1, 22); out.writeUInt32LE(16000, 24);
  out.writeUInt32LE(32000, 28); out.writeUInt16LE(2, 32); out.writeUInt16LE(16, 34); out.write("data", 36);
  out.writeUInt32LE(total * 2, 40);
  let o = 44;
  for (const p of parts) for (const s of p) { out.writeInt16LE(s, o); o += 2; }
  writeFileSync(file, out);
  return (total / 16000) * 1000;
}

/** [start, end] ms of each utterance from VAD event lines (rmedia -f jsonl). */
function segmentsFromEvents(events) {
  const segs = [];
  for (const v of events) {
    if (v.is_speech_start) segs.push([v.timestamp_ms, undefined]);
    if (v.is_speech_end && segs.length) segs[segs.length - 1][1] = v.timestamp_ms;
  }
  return segs;
}

async function pageSegments(page) {
  return page.$$eval("#segments li", (lis) => lis.map((li) => [Number(li.dataset.startMs), li.dataset.endMs === undefined ? undefined : Number(li.dataset.endMs)]));
}

function assertSegmentsClose(got, want, tol, what) {
  assert.equal(got.length, want.length, `${what}: ${JSON.stringify(got)} vs native ${JSON.stringify(want)}`);
  for (let i = 0; i < want.length; i++)
    for (let k = 0; k < 2; k++)
      assert.ok(Math.abs(got[i][k] - want[i][k]) <= tol,
        `${what}: segment ${i} ${k ? "end" : "start"} ${got[i][k]} ms vs native ${want[i][k]} ms (tolerance ${tol} ms)`);
}

before(async () => {
  assert.ok(native, "no native rmedia (set RMEDIA_NATIVE)");
  tmp = mkdtempSync(path.join(tmpdir(), "rm-browser-"));
  wav = path.join(tmp, "speech.wav");
  wavMs = makeSpeechWav(wav);
  const r = rmedia(["run", "examples/vad_events.yaml", "-i", wav, "-f", "jsonl", "--no-progress"]);
  assert.equal(r.code, 0, r.err);
  nativeSegments = segmentsFromEvents(r.out.split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((o) => o.port === "events").map((o) => o.value));
  assert.equal(nativeSegments.length, 2, `the test file should have two utterances natively: ${JSON.stringify(nativeSegments)}`);
  chrome = await launch({ fakeAudio: wav });
  browser = chrome.browser;
});

after(async () => {
  await chrome?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const openPage = (context, query) => chrome.open(context, query);

async function runExample(page, id) {
  await page.click(`#${id}`);
  await page.click("#run");
  // the first Python example loads Pyodide (cold: seconds; minutes on a loaded 2-core machine)
  await page.waitForSelector("#output[data-state=done], #output[data-state=error]", { timeout: 600000 });
  const state = await page.getAttribute("#output", "data-state");
  assert.equal(state, "done", `example ${id}: ${await page.textContent("#error")}`);
  return JSON.parse(await page.getAttribute("#output", "data-values"));
}

test("examples: calculator (wasm), text processor (Python), hybrid", async () => {
  const page = await openPage();
  const calc = await runExample(page, "ex-calculator");
  const nat = rmedia(["run", "examples/calculator.json"], "[5,7,3]");
  assert.equal(nat.code, 0, nat.err);
  assert.deepEqual(calc, JSON.parse(nat.out));

  const text = await runExample(page, "ex-text");
  assert.deepEqual(text, [
    { original_text: "Hello WASM", results: { uppercase: "HELLO WASM", word_count: 2 }, processed_by: "TextProcessorNode" },
    { original_text: "Python in Browser", results: { uppercase: "PYTHON IN BROWSER", word_count: 3 }, processed_by: "TextProcessorNode" },
  ]);

  // Python started from the build's snapshot (web/scripts/python-snapshot.mjs)
  const py = await page.evaluate(() => window.remotemedia.worker.call("pythonStartup"));
  assert.equal(py.startup.snapshot, "used");
  const steps = py.startup.marks.map(([step]) => step);
  assert.ok(steps.includes("snapshot restored"), JSON.stringify(py.startup.marks));
  // Pyodide took the wasm compiled early (not its own copy), and the snapshot
  // read as it arrived, not copies of its own
  assert.ok(steps.includes("wasm instantiated (the early compile)"), JSON.stringify(py.startup.marks));
  assert.ok(steps.some((s) => s.startsWith("snapshot read as it arrived")), JSON.stringify(py.startup.marks));

  const hybrid = await runExample(page, "ex-hybrid");
  assert.deepEqual(hybrid, [5, 7, 10].map((x) => x * 3 * 2 + 1));
  // per-node metrics of the last run, the Python node included
  const rows = await page.$$eval("#metrics tbody tr", (trs) => trs.map((t) => t.dataset.node));
  assert.deepEqual(rows.sort(), ["add", "multiply", "transform"]);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("editor: the wasm core's diagnostics, as rmedia validate prints them, marked at line:column", async () => {
  const page = await openPage();
  const bad = 'version: v1\nnodes:\n  - id: m\n    node_type: MultiplyNod\n  - id: a\n    node_type: AddNode\n    params: {addend: "x"}\nconnections:\n  - {from: m, to: a}\n';
  await page.fill("#manifest", bad);
  await page.click("#validate");
  await page.waitForSelector("#diagnostics[data-state=invalid]");
  const shown = await page.$$eval("#diagnostics li", (lis) => lis.map((l) => l.textContent));
  const f = path.join(tmp, "manifest");
  writeFileSync(f, bad);
  const nat = rmedia(["validate", f]);
  assert.notEqual(nat.code, 0);
  const natLines = nat.err.split("\n").filter((l) => l.startsWith(f + ":") && /^:\d+:\d+: /.test(l.slice(f.length))).map((l) => "manifest" + l.slice(f.length));
  assert.ok(natLines.length >= 2, nat.err);
  assert.deepEqual(shown, natLines);
  // the lines are marked in the gutter; a message moves the caret there
  assert.deepEqual(await page.$$eval("#gutter .bad", (s) => s.map((x) => Number(x.textContent))), [4, 7]);
  const first = await page.$("#diagnostics li button");
  const [line, col] = [Number(await first.getAttribute("data-line")), Number(await first.getAttribute("data-col"))];
  await first.focus();
  await page.keyboard.press("Enter");
  const caret = await page.$eval("#manifest", (t) => t.selectionStart);
  const want = bad.split("\n").slice(0, line - 1).reduce((a, l) => a + l.length + 1, 0) + col - 1;
  assert.equal(caret, want);
  // running it shows the same messages as the error
  await page.click("#run");
  await page.waitForSelector("#output[data-state=error]");
  assert.match(await page.textContent("#error"), /manifest:4:16: error: node 'm': unknown node type 'MultiplyNod'; did you mean 'MultiplyNode'\?/);
  await page.close();
});

test("a Python node's error is a clear message in the page", async () => {
  const page = await openPage();
  await page.fill("#py-code", "import remotemedia\n\n@remotemedia.node('Ratio')\nclass Ratio:\n    def process(self, x):\n        return 1 / x\n");
  await page.click("#py-load");
  await page.waitForSelector("#py-status[data-state=loaded]", { timeout: 600000 });
  assert.match(await page.textContent("#py-status"), /Ratio/);
  await page.click("#ex-calculator");
  await page.fill("#manifest", JSON.stringify({ version: "v1", nodes: [{ id: "r", node_type: "Ratio" }] }));
  await page.fill("#input", "[4, 0]");
  await page.click("#run");
  await page.waitForSelector("#output[data-state=error]");
  assert.match(await page.textContent("#error"),
    /node 'r': ZeroDivisionError: division by zero \(in process\(\) of Python node Ratio 'r', at <exec>:6 in process\)/);
  // code that does not even load
  await page.fill("#py-code", "import remotemedia\n\nclass Broken(:\n    pass\n");
  await page.click("#py-load");
  await page.waitForSelector("#py-status[data-state=error]");
  assert.match(await page.textContent("#error"), /SyntaxError/);
  await page.close();
});

test("audio file → VAD: the page's segments equal the native CLI's on the same file", async () => {
  const page = await openPage();
  await page.click("#ex-audio");
  await page.setInputFiles("#audio-file", wav);
  await page.waitForSelector("#audio-summary[data-state=done], #audio-summary[data-state=error]", { timeout: 60000 });
  assert.equal(await page.getAttribute("#audio-summary", "data-state"), "done", await page.textContent("#error"));
  assertSegmentsClose(await pageSegments(page), nativeSegments, FILE_TOLERANCE_MS, "audio file");
  await page.close();
});

test("live microphone (fake capture of the same file): speech segments as the native CLI finds them", async () => {
  const page = await openPage();
  await page.click("#ex-mic");
  await page.click("#mic-start");
  await page.waitForFunction((ms) => Number(document.querySelector("#audio-summary")?.dataset.pushedMs ?? 0) > ms,
    wavMs + 600, { timeout: wavMs + 30000 });
  // the level meter moved during speech
  await page.click("#mic-stop");
  await page.waitForSelector("#audio-summary[data-state=stopped]");
  const segs = await pageSegments(page);
  assert.ok(segs.length >= 1, "no speech found live");
  const lag = nativeSegments[0][0] - segs[0][0];
  assert.ok(lag > -MIC_TOLERANCE_MS && lag <= MIC_MAX_LAG_MS, `capture lag ${lag} ms`);
  const aligned = segs.map(([a, b]) => [a + lag, b === undefined ? undefined : b + lag]);
  assertSegmentsClose(aligned, nativeSegments, MIC_TOLERANCE_MS, `live microphone (aligned by the capture lag ${lag} ms)`);
  const dev = Math.max(...aligned.flatMap((s, i) => s.map((v, k) => Math.abs(v - nativeSegments[i][k]))));
  console.log(`# live microphone: ${JSON.stringify(segs)} ms, native ${JSON.stringify(nativeSegments)} ms, capture lag ${lag} ms, max deviation after alignment ${dev} ms`);
  const latency = await page.$$eval("#metrics tbody tr", (trs) => trs.map((t) => t.dataset.node));
  assert.deepEqual(latency.sort(), ["events", "level", "resample", "vad"]);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("the snapshot's pages, written straight into Pyodide's memory, make exactly its image", async () => {
  // ?pyodide=checksnapshot: right after the restore, the whole file is read
  // again and compared with the memory (all but the dead C stack)
  const page = await openPage(undefined, "?pyodide=checksnapshot");
  assert.equal((await runExample(page, "ex-text")).length, 2);
  const py = await page.evaluate(() => window.remotemedia.worker.call("pythonStartup"));
  assert.equal(py.startup.snapshot, "used");
  assert.ok(py.startup.marks.some(([step]) => step === "snapshot checked: Pyodide's memory is its image"), JSON.stringify(py.startup.marks));
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("Python starts normally, and says why, when the snapshot is damaged or made for other files", async () => {
  // no service worker: every request reaches the routes below
  const context = await browser.newContext({ serviceWorkers: "block" });
  const dir = path.join(demo, "dist/pyodide");
  const meta = JSON.parse(readFileSync(path.join(dir, "snapshot.json"), "utf8"));
  const file = readFileSync(path.join(dir, meta.snapshot));
  // first a memory image of the right size that is all zeros (Pyodide's own
  // check refuses it), then the real file cut short (the reader refuses it)
  const bodies = [Buffer.alloc(meta.bytes), file.subarray(0, file.length >> 1)];
  const asked = [];
  await context.route(/\/pyodide\/snapshot-\w+\.bin$/, (route) => {
    asked.push(route.request().url());
    return route.fulfill({ status: 200, contentType: "application/octet-stream", body: bodies[asked.length - 1] });
  });
  for (const why of ["failed: Snapshot has invalid magic number", "failed: snapshot: "]) {
    const page = await openPage(context);
    assert.deepEqual((await runExample(page, "ex-text"))[0].results, { uppercase: "HELLO WASM", word_count: 2 });
    const py = await page.evaluate(() => window.remotemedia.worker.call("pythonStartup"));
    assert.ok(py.startup.snapshot.startsWith(why), py.startup.snapshot);
    assert.deepEqual(page.errors, []);
    await page.close();
  }
  assert.equal(asked.length, 2);
  let page, py;

  // a snapshot.json for other web/python files: the snapshot is not even fetched
  await context.route(/\/pyodide\/snapshot\.json$/, async (route) => {
    const meta = await (await route.fetch()).json();
    return route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ ...meta, python: "0".repeat(64) }) });
  });
  page = await openPage(context);
  assert.equal((await runExample(page, "ex-text")).length, 2);
  py = await page.evaluate(() => window.remotemedia.worker.call("pythonStartup"));
  assert.equal(py.startup.snapshot, "made with other web/python files");
  assert.equal(asked.length, 2);
  assert.deepEqual(page.errors, []);
  await page.close();

  // one made for another Pyodide: neither it nor its standard library (compiled
  // for that Python) is used; Pyodide starts on its own python_stdlib.zip
  await context.unroute(/\/pyodide\/snapshot\.json$/);
  await context.route(/\/pyodide\/snapshot\.json$/, async (route) => {
    const meta = await (await route.fetch()).json();
    return route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ ...meta, pyodide: "0.0.1" }) });
  });
  page = await openPage(context);
  assert.equal((await runExample(page, "ex-text")).length, 2);
  py = await page.evaluate(() => window.remotemedia.worker.call("pythonStartup"));
  assert.match(py.startup.snapshot, /^made for Pyodide 0\.0\.1, this is \d+\.\d+\.\d+$/);
  // (the snapshot was asked for before Pyodide's version was known, then given up)
  assert.ok(py.startup.fetches.some((f) => f.file === "python_stdlib.zip"), JSON.stringify(py.startup.fetches));
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("offline: after one visit the service worker serves the page, the wasm and Pyodide", async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  await page.evaluate(async () => { await navigator.serviceWorker.ready; });
  await page.reload();
  await page.waitForSelector("#status[data-ready]");
  await runExample(page, "ex-text"); // Pyodide's files pass through the worker's cache
  await context.setOffline(true);
  await page.reload();
  await page.waitForSelector("#status[data-ready]", { timeout: 60000 });
  assert.deepEqual(await runExample(page, "ex-calculator"), [20, 24, 16]);
  assert.equal((await runExample(page, "ex-hybrid")).length, 3);
  // offline, Python still started from the snapshot (precached at install)
  assert.equal((await page.evaluate(() => window.remotemedia.worker.call("pythonStartup"))).startup.snapshot, "used");
  await context.close();
});

test("keyboard and accessible names", async () => {
  const page = await openPage();
  const unnamed = await page.$$eval("button, input, textarea, select, meter, [role=button]", (els) =>
    els.filter((e) => {
      const label = e.getAttribute("aria-label") || (e.id && document.querySelector(`label[for="${e.id}"]`)?.textContent) ||
        (e.tagName === "BUTTON" && e.textContent?.trim());
      return !label;
    }).map((e) => e.outerHTML.slice(0, 80)));
  assert.deepEqual(unnamed, []);
  await page.focus("#ex-text");
  await page.keyboard.press("Enter");
  assert.equal(await page.getAttribute("#ex-text", "aria-pressed"), "true");
  await page.keyboard.press("Shift+Tab"); // back to the calculator's button
  await page.keyboard.press("Enter");
  assert.equal(await page.getAttribute("#ex-calculator", "aria-pressed"), "true");
  await page.focus("#run");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#output[data-state=done]");
  assert.equal(await page.getAttribute("#output", "data-values"), "[20,24,16]");
  await page.close();
});

test("packages: create and download, load back and run; a damaged package is refused with the validator's message", async () => {
  const page = await openPage();
  await page.click("#ex-calculator");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#pkg-create")]);
  assert.equal(download.suggestedFilename(), "calculator.rmpkg");
  const pkg = path.join(tmp, "calculator.rmpkg");
  await download.saveAs(pkg);
  const check = rmedia(["pack", "--check", pkg]); // made in the browser, valid for the C validator
  assert.equal(check.code, 0, check.err + check.out);
  await page.close();

  const fresh = await openPage();
  await fresh.click("#ex-text"); // the package's manifest replaces the editor's
  await fresh.setInputFiles("#pkg-file", pkg);
  // the text example's manifest (shown first) started Pyodide in the worker:
  // the package load and the run wait behind its start (minutes on a loaded 2-core machine)
  await fresh.waitForSelector("#pkg-status[data-state=loaded], #pkg-status[data-state=error], #pkg-status[data-state=invalid]", { timeout: 600000 });
  assert.equal(await fresh.getAttribute("#pkg-status", "data-state"), "loaded", await fresh.textContent("#error"));
  assert.match(await fresh.inputValue("#manifest"), /"MultiplyNode"/);
  await fresh.fill("#input", "[5, 7, 3]");
  await fresh.click("#run");
  await fresh.waitForSelector("#output[data-state=done], #output[data-state=error]", { timeout: 600000 });
  assert.equal(await fresh.getAttribute("#output", "data-values"), "[20,24,16]", await fresh.textContent("#error"));

  // damaged: one byte flipped in the middle — refused, the member named
  const bytes = readFileSync(pkg);
  bytes[Math.floor(bytes.length / 2)] ^= 0x55;
  const damaged = path.join(tmp, "damaged.rmpkg");
  writeFileSync(damaged, bytes);
  await fresh.setInputFiles("#pkg-file", damaged);
  await fresh.waitForSelector("#pkg-status[data-state=error]");
  assert.match(await fresh.textContent("#error"), /^damaged\.rmpkg: [a-z.]+: error: /);
  assert.notEqual(rmedia(["pack", "--check", damaged]).code, 0, "the native validator accepts the damaged package");

  // altered: manifest.json changed after the checksums were written — the same lines as rmedia pack --check
  const members = unzipSync(new Uint8Array(readFileSync(pkg)));
  members["manifest.json"] = new TextEncoder().encode(new TextDecoder().decode(members["manifest.json"]).replace('"addend": 10', '"addend": 11'));
  const altered = path.join(tmp, "altered.rmpkg");
  writeFileSync(altered, zipSync(members));
  await fresh.setInputFiles("#pkg-file", altered);
  await fresh.waitForSelector("#pkg-status[data-state=error]");
  const shown = (await fresh.textContent("#error")).split("\n").map((l) => l.replace(/^altered\.rmpkg: /, ""));
  const nat = rmedia(["pack", "--check", altered]);
  assert.notEqual(nat.code, 0, "the native validator accepts the altered package");
  const natLines = nat.err.split("\n").filter((l) => l.startsWith(altered + ": ")).map((l) => l.slice(altered.length + 2))
    .filter((l) => !/^\d+ problems?$/.test(l)); // the CLI's count line
  assert.ok(natLines.some((l) => /manifest\.json: error: .*checksum/i.test(l)), nat.err);
  assert.deepEqual(shown, natLines);
  await fresh.close();
});

test("packages: one whose python/ files define its node types (examples/packages/python-nodes) loads and runs; a wrong declaration is refused", async () => {
  const ex = path.join(root, "examples/packages/python-nodes");
  const pkg = path.join(tmp, "python-nodes.rmpkg");
  const made = rmedia(["pack", path.join(ex, "manifest.json"), "--python", path.join(ex, "python"),
    "--metadata", path.join(ex, "metadata.json"), "-o", pkg, "--wasm", path.join(root, "build/wasm/remotemedia.wasm")]);
  assert.equal(made.code, 0, made.err);
  const page = await openPage();
  await page.setInputFiles("#pkg-file", pkg);
  // the package's python/ files load Pyodide (cold: seconds; minutes on a loaded 2-core machine)
  await page.waitForSelector("#pkg-status[data-state=loaded], #pkg-status[data-state=error], #pkg-status[data-state=invalid]", { timeout: 600000 });
  assert.equal(await page.getAttribute("#pkg-status", "data-state"), "loaded", await page.textContent("#error"));
  assert.match(await page.textContent("#pkg-status"), /Python node types Normalize, Tagger/);
  const inputs = readFileSync(path.join(ex, "input.json"), "utf8");
  await page.fill("#input", inputs);
  await page.click("#run");
  await page.waitForSelector("#output[data-state=done], #output[data-state=error]", { timeout: 600000 });
  assert.equal(await page.getAttribute("#output", "data-state"), "done", await page.textContent("#error"));
  // expected from the parts: Normalize (here), TextProcessorNode (native rmedia), Tagger (here)
  const normalized = JSON.parse(inputs).map((t) => t.split(/\s+/).filter(Boolean).join(" ").toLowerCase());
  const tp = path.join(tmp, "tp.json");
  writeFileSync(tp, JSON.stringify({ version: "v1", nodes: [JSON.parse(readFileSync(path.join(ex, "manifest.json"), "utf8")).nodes[1]] }));
  const nat = rmedia(["run", tp], JSON.stringify(normalized));
  assert.equal(nat.code, 0, nat.err);
  assert.deepEqual(JSON.parse(await page.getAttribute("#output", "data-values")),
    JSON.parse(nat.out).map((r, i) => ({ ...r, label: "python-nodes", n: i + 1 })));
  assert.deepEqual(page.errors, []);
  await page.close();

  // python/ altered (checksums redone): the decorator line still names
  // Normalize, but importing the file registers no such type
  const members = unzipSync(new Uint8Array(readFileSync(pkg)));
  const src = new TextDecoder().decode(members["python/text_nodes.py"])
    .replace('@remotemedia.node("Normalize")', '@remotemedia.node("Normalize") if False else (lambda c: c)');
  members["python/text_nodes.py"] = new TextEncoder().encode(src);
  const { createHash } = await import("node:crypto");
  members.checksums = new TextEncoder().encode(Object.entries(members).filter(([n]) => n !== "checksums")
    .map(([n, d]) => `${createHash("sha256").update(d).digest("hex")}  ${n}\n`).join(""));
  const bad = path.join(tmp, "unregistered.rmpkg");
  writeFileSync(bad, zipSync(members));
  assert.equal(rmedia(["pack", "--check", bad]).code, 0, "the declaration is right as text: rmedia cannot import Python");
  const fresh = await openPage();
  await fresh.setInputFiles("#pkg-file", bad);
  await fresh.waitForSelector("#pkg-status[data-state=error]", { timeout: 600000 });
  assert.match(await fresh.textContent("#error"),
    /unregistered\.rmpkg: python\/text_nodes\.py: error: importing it did not register Python node type 'Normalize'/);
  await fresh.close();
});
