/*
 * Pyodide memory snapshots as web/scripts/python-snapshot.mjs writes them,
 * read as they download (PythonHost.load's `snapshotURL`).
 *
 * The file: gzip of "RMSPARSE", the full length and the page size (u32
 * little-endian each), a bitmap of the pages that are not all zero, then
 * those pages.  Most of a fresh interpreter's memory is zero and the rest
 * compresses well: 30 MiB are ~5 MB to read.  Uncompressed files, and raw
 * (not sparse) ones, are read too.
 *
 * In the browser the pages go straight into Pyodide's wasm memory
 * (SnapshotImage), not into a 30 MiB buffer that Pyodide would then copy:
 * on the 2-core VMs this runs on, every page of memory touched for the first
 * time costs ~11 us, and a copy of the whole image touches 7 680 of them.
 */
import { PYTHON_FILES_HASH } from "./python-files.js";

/** What web/scripts/python-snapshot.mjs writes as snapshot.json. */
export interface SnapshotMeta {
  format: 1;
  /** Pyodide's version (the snapshot also carries its build id, checked by Pyodide). */
  pyodide: string;
  /** PYTHON_FILES_HASH of the web/python files imported in the snapshot. */
  python: string;
  /** File names, relative to snapshot.json: the snapshot and the standard
   * library zip it was made with (named by their content hash). */
  snapshot: string;
  stdlib: string;
  /** The snapshot's length once expanded (Pyodide's memory). */
  bytes: number;
}

const SPARSE_MAGIC = [..."RMSPARSE"].map((c) => c.charCodeAt(0));
const LIMIT = 2 ** 31; // bytes: more than a wasm32 Pyodide's memory can be

/** Where a snapshot file's bytes go: `bytes` belong at `pos` of the
 * expanded snapshot.  Called in increasing `pos` order; the pages left out of
 * a sparse file (all zero) are never passed. */
type Sink = (pos: number, bytes: Uint8Array) => void;

/** Parses a snapshot file's bytes, chunk by chunk, into a sink: sparse pages
 * where they belong, or a raw file as is.  `size`: the expanded length. */
class SnapshotWriter {
  private readonly head = new Uint8Array(16);
  private headAt = 0;
  private raw = false;
  private rawAt = 0;
  private bitmap?: Uint8Array;
  private bitmapAt = 0;
  private pageSize = 0;
  private pages = 0;
  private page = -1; // the page being written; pages once done
  private pageAt = 0;

  constructor(private readonly size: number, private readonly put: Sink) {}

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.headAt < 16) {
        const n = Math.min(16 - this.headAt, chunk.length - i);
        this.head.set(chunk.subarray(i, i + n), this.headAt);
        this.headAt += n;
        i += n;
        if (this.headAt === 16) this.start();
      } else if (this.raw) {
        const n = chunk.length - i;
        if (this.rawAt + n > this.size) throw new Error(`snapshot: more than the ${this.size} bytes snapshot.json gives`);
        this.put(this.rawAt, chunk.subarray(i));
        this.rawAt += n;
        i += n;
      } else if (this.bitmapAt < this.bitmap!.length) {
        const n = Math.min(this.bitmap!.length - this.bitmapAt, chunk.length - i);
        this.bitmap!.set(chunk.subarray(i, i + n), this.bitmapAt);
        this.bitmapAt += n;
        i += n;
        if (this.bitmapAt === this.bitmap!.length) this.nextPage();
      } else {
        if (this.page >= this.pages) throw new Error("snapshot: trailing bytes");
        const start = this.page * this.pageSize;
        const len = Math.min(this.pageSize, this.size - start);
        const n = Math.min(len - this.pageAt, chunk.length - i);
        this.put(start + this.pageAt, chunk.subarray(i, i + n));
        this.pageAt += n;
        i += n;
        if (this.pageAt === len) this.nextPage();
      }
    }
  }

  /** Throws unless the whole snapshot was written. */
  end(): void {
    const done = this.headAt === 16 &&
      (this.raw ? this.rawAt === this.size : this.bitmapAt === this.bitmap!.length && this.page >= this.pages);
    if (!done) throw new Error("snapshot: file truncated");
  }

  /** [start, end) of each run of pages the file left out (all zero); after end(). */
  zeroRuns(): [number, number][] {
    const runs: [number, number][] = [];
    const b = this.bitmap;
    if (this.raw || !b) return runs;
    for (let p = 0; p < this.pages; p++) {
      if (b[p >> 3]! & (1 << (p & 7))) continue;
      const a = p * this.pageSize, z = Math.min(a + this.pageSize, this.size);
      const last = runs[runs.length - 1];
      if (last && last[1] === a) last[1] = z;
      else runs.push([a, z]);
    }
    return runs;
  }

  private start(): void {
    if (!SPARSE_MAGIC.every((c, k) => this.head[k] === c)) {
      // raw: these 16 bytes are the start of the memory image
      this.raw = true;
      if (this.size < 16) throw new Error(`snapshot: more than the ${this.size} bytes snapshot.json gives`);
      this.put(0, this.head);
      this.rawAt = 16;
      return;
    }
    const dv = new DataView(this.head.buffer);
    const total = dv.getUint32(8, true);
    this.pageSize = dv.getUint32(12, true);
    if (total !== this.size) throw new Error(`snapshot: ${total} bytes, snapshot.json gives ${this.size}`);
    if (this.pageSize === 0) throw new Error("snapshot: page size 0");
    this.pages = Math.ceil(total / this.pageSize);
    this.bitmap = new Uint8Array(Math.ceil(this.pages / 8));
    if (this.bitmap.length === 0) this.nextPage();
  }

  private nextPage(): void {
    const b = this.bitmap!;
    let p = this.page + 1;
    while (p < this.pages && !(b[p >> 3]! & (1 << (p & 7)))) p++;
    this.page = p;
    this.pageAt = 0;
  }
}

/** Why snapshot.json's `bytes` cannot be a snapshot's size, or "". */
function badSize(size: number): string {
  return Number.isInteger(size) && size > 0 && size % 4 === 0 && size < LIMIT ? "" : `snapshot: bad size ${size} in snapshot.json`;
}

/** Reads a snapshot file (its bytes, or a stream as it downloads) into a new
 * buffer of `size` bytes (snapshot.json's `bytes`).  Rejects on a damaged,
 * truncated or over-long file, naming what is wrong. */
export async function readSnapshot(file: ReadableStream<Uint8Array> | Uint8Array, size: number): Promise<Uint8Array> {
  if (badSize(size)) throw new Error(badSize(size));
  const out = new Uint8Array(size);
  await readSnapshotInto(file, new SnapshotWriter(size, (pos, bytes) => out.set(bytes, pos)));
  return out;
}

/** Feeds a snapshot file to `w`, inflating it if it is gzip'd. */
async function readSnapshotInto(file: ReadableStream<Uint8Array> | Uint8Array, w: SnapshotWriter): Promise<void> {
  const reader = (file instanceof Uint8Array ? new Blob([file]).stream() : file).getReader();
  // the first chunk says whether it is gzip (1f 8b)
  let first = await reader.read();
  while (!first.done && first.value.length < 2) {
    const more = await reader.read();
    if (more.done) break;
    first = { done: false, value: concat(first.value, more.value) };
  }
  if (first.done) throw new Error("snapshot: file truncated");
  let r: ReadableStreamDefaultReader<Uint8Array> = reader;
  let pending: Uint8Array | undefined = first.value;
  if (first.value[0] === 0x1f && first.value[1] === 0x8b) {
    const head = first.value;
    pending = undefined;
    const rest = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(head),
      pull: async (c) => {
        const x = await reader.read();
        if (x.done) c.close();
        else c.enqueue(x.value);
      },
      cancel: (why) => reader.cancel(why),
    });
    r = rest.pipeThrough(new DecompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>).getReader();
  }
  try {
    if (pending) w.push(pending);
    for (;;) {
      const x = await r.read();
      if (x.done) break;
      w.push(x.value);
    }
  } catch (e) {
    await r.cancel().catch(() => {});
    const m = e instanceof Error ? e.message : String(e);
    throw new Error(m.startsWith("snapshot:") ? m : `snapshot: ${m}`);
  }
  w.end();
}

/** Pyodide's parts of a module, as SnapshotImage needs them. */
export interface PyodideMemory {
  HEAP8: Int8Array;
  /** Exports of Pyodide's wasm: the current break, and the C stack's bounds. */
  _sbrk(increment: number): number;
  _emscripten_stack_get_base?(): number;
  _emscripten_stack_get_end?(): number;
}

/** The most of a snapshot kept aside from Pyodide's memory: its header
 * (128 bytes for Pyodide 314) and the image bytes around it. */
const HEADER_LIMIT = 1 << 20;

/**
 * A snapshot written straight into Pyodide's memory as it downloads.
 *
 * A snapshot file is Pyodide's header (its magic, build id and a JSON of its
 * JS-side state), then the memory image.  Pyodide's restoreSnapshot checks
 * the header and copies the whole image over the wasm memory.  Here the pages
 * go into the memory themselves: kept (as the downloaded chunks, not copied)
 * until `attach` gives the memory, written there directly after that.
 * Pyodide's restoreSnapshot is given the header alone (`header`): its checks
 * run, and it copies nothing.  `prepare` then zeroes the image's all-zero
 * pages only where the memory may have been written since it was made: the
 * static data, and the heap up to the current break.  The rest is still as
 * the wasm memory began, zero.  The C stack between its end and base is dead
 * when JS calls into Pyodide (no frame is live), so it is left as it is.
 * (restoreInPlace does all of that.)
 *
 * Thread rules: one Pyodide start, in one thread.  Pages and attach in any
 * order; prepare once the file was read whole and the memory attached.
 */
export class SnapshotImage {
  /** Resolves once the file was read whole; rejects, naming why, if it is bad. */
  readonly filled: Promise<void>;
  private readonly writer: SnapshotWriter;
  private readonly first: Uint8Array;
  private firstAt = 0;
  private imageAt = -1; // where the memory image begins in the file (Pyodide's header length)
  private heap?: Uint8Array;
  private pending: [number, Uint8Array][] = [];
  private misfit = "";

  /** `size`: the expanded snapshot's length (snapshot.json's `bytes`). */
  constructor(readonly size: number, file: Promise<ReadableStream<Uint8Array>>) {
    this.first = new Uint8Array(Math.min(size, HEADER_LIMIT));
    this.writer = new SnapshotWriter(size, (pos, bytes) => this.put(pos, bytes));
    this.filled = file.then((body) => readSnapshotInto(body, this.writer)).then(() => {
      if (this.imageAt < 0) this.findImage(); // the header's page was left out: all zero
      this.flush();
    });
    this.filled.catch(() => {}); // not awaited when the start is given up
  }

  /** Pyodide's memory is there (its module made, its runtime started): pages
   * go into it from now on. */
  attach(m: PyodideMemory): void {
    this.heap = new Uint8Array(m.HEAP8.buffer, m.HEAP8.byteOffset, m.HEAP8.byteLength);
    this.flush();
  }

  /** Zeroes the image's zero pages where Pyodide may have written since its
   * memory was made; after `filled`, from Pyodide's restoreSnapshot (once it
   * checked the header).  Throws if the image does not fit the memory. */
  prepare(m: PyodideMemory): void {
    if (this.misfit) throw new Error(this.misfit);
    const heap = this.heap!;
    const [stackLow, stackHigh] = stack(m);
    const written: [number, number][] = [[0, stackLow], [stackHigh, m._sbrk(0) >>> 0]];
    for (const [a, z] of this.writer.zeroRuns())
      for (const [lo, hi] of written) {
        const from = Math.max(a - this.imageAt, lo, 0), to = Math.min(z - this.imageAt, hi, heap.length);
        if (from < to) heap.fill(0, from, to);
      }
  }

  /** Throws unless Pyodide's memory now holds `expected`'s image (the whole
   * snapshot, as readSnapshot gives it) everywhere but the dead C stack.
   * Slow: for tests (PythonHostOptions.checkSnapshot). */
  verify(m: PyodideMemory, expected: Uint8Array): void {
    const heap = this.heap!;
    const [stackLow, stackHigh] = stack(m);
    if (!equal(this.header(), expected.subarray(0, this.imageAt))) throw new Error("snapshot: the header differs from the file's");
    const image = expected.subarray(this.imageAt);
    for (const [a, z] of [[0, Math.min(stackLow, image.length)], [Math.min(stackHigh, image.length), image.length]] as const) {
      const at = firstDifference(heap.subarray(a, z), image.subarray(a, z));
      if (at >= 0) throw new Error(`snapshot: Pyodide's memory differs from the image at byte ${a + at}`);
    }
    for (let i = image.length; i < heap.length; i++)
      if (heap[i] !== 0) throw new Error(`snapshot: Pyodide's memory is not zero past the image, at byte ${i}`);
  }

  /** Pyodide's snapshot header, for its restoreSnapshot (no image: that is in place). */
  header(): Uint8Array {
    return this.first.subarray(0, this.imageAt);
  }

  private put(pos: number, bytes: Uint8Array): void {
    if (pos < this.first.length) {
      const n = Math.min(this.first.length - pos, bytes.length);
      this.first.set(bytes.subarray(0, n), pos);
      if (pos === this.firstAt) this.firstAt += n;
      if (this.imageAt < 0 && this.firstAt >= 8) this.findImage();
    }
    this.pending.push([pos, bytes]);
    if (this.heap && this.imageAt >= 0) this.flush();
  }

  /** The image's offset, from the header (a u32 at byte 4, Pyodide's layout). */
  private findImage(): void {
    const at = new DataView(this.first.buffer, this.first.byteOffset).getUint32(4, true);
    // A bad offset is left to Pyodide's checks of the header (magic number, build id)
    this.imageAt = at % 4 === 0 && at <= this.first.length ? at : 0;
  }

  private flush(): void {
    const heap = this.heap;
    if (!heap || this.imageAt < 0) return;
    if (this.size - this.imageAt > heap.length) {
      // said by prepare, after Pyodide's checks of the header (a bad header
      // gives a bad offset, and its own message is the clearer)
      this.misfit = `snapshot: an image of ${this.size - this.imageAt} bytes, Pyodide's memory has ${heap.length}`;
      this.pending = [];
      return;
    }
    for (const [pos, bytes] of this.pending) {
      const skip = Math.max(0, this.imageAt - pos);
      if (skip < bytes.length) heap.set(bytes.subarray(skip), pos + skip - this.imageAt);
    }
    this.pending = [];
  }
}

/** Pyodide's module, as its factory gives it (before Pyodide restores). */
export interface PyodideModuleForRestore extends PyodideMemory {
  API?: Record<string, unknown>;
}

/** Called by a createPyodideModule wrapper with the module its factory made
 * (memory set up, runtime started): the image goes into `m`'s memory, and
 * once it is all there, `m`'s restoreSnapshot is made to take it in place
 * (header only).  With `expected` (the whole snapshot: readSnapshot), the
 * memory is checked against it right after the restore, and `checked` is
 * called.  Rejects when the file is bad or this Pyodide has no
 * restoreSnapshot; Pyodide's own header checks throw from its restore. */
export async function restoreInPlace(m: PyodideModuleForRestore, image: SnapshotImage, expected?: Promise<Uint8Array>,
                                     checked?: () => void): Promise<void> {
  const api = m.API;
  const restore = api?.restoreSnapshot;
  if (!api || typeof restore !== "function") throw new Error("snapshot: this Pyodide has no restoreSnapshot");
  image.attach(m);
  await image.filled;
  const whole = await expected;
  api.restoreSnapshot = () => {
    // Pyodide checks the header (magic number, build id) and copies no image
    const config = (restore as (header: Uint8Array) => unknown)(image.header());
    image.prepare(m);
    if (whole) {
      image.verify(m, whole);
      checked?.();
    }
    return config;
  };
}

/** [low, high) of Pyodide's C stack; empty where the exports are missing. */
function stack(m: PyodideMemory): [number, number] {
  const end = m._emscripten_stack_get_end?.(), base = m._emscripten_stack_get_base?.();
  if (end === undefined || base === undefined) return [0, 0];
  return [Math.min(end, base) >>> 0, Math.max(end, base) >>> 0];
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && firstDifference(a, b) < 0;
}

/** The first index where a and b (of one length) differ, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  // 4 bytes at a time where both are aligned, then byte by byte
  const n = a.length & ~3;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const a4 = new Uint32Array(a.buffer, a.byteOffset, n / 4), b4 = new Uint32Array(b.buffer, b.byteOffset, n / 4);
    for (let i = 0; i < a4.length; i++) if (a4[i] !== b4[i]) { for (let k = i * 4; ; k++) if (a[k] !== b[k]) return k; }
  } else {
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  }
  for (let i = n; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}

export interface SnapshotFetch {
  /** What snapshot.json says: the Pyodide version it was made for, the
   * standard library it was made with (compiled for that version; for a
   * normal start too; `stdLib` is its response, asked for at once), and
   * either why the snapshot is refused, or the `image` being
   * downloaded (its `filled` rejects if the file is bad); with `check`, also
   * the whole snapshot read again once the image is in (for
   * SnapshotImage.verify). */
  found: Promise<{ stdLibURL?: string; stdLib?: Promise<Response>; refused?: string; pyodide?: string; image?: SnapshotImage;
                   expected?: Promise<Uint8Array> }>;
  /** Stops the downloads (the files are for another Pyodide). */
  abort(): void;
}

/** Fetches snapshot.json and, when it is for these web/python files, the
 * snapshot itself, at once (before Pyodide's version is known: the caller
 * checks it and aborts on a mismatch). */
export function fetchSnapshot(url: string, base: string, mark: (step: string) => void, check = false): SnapshotFetch {
  const ac = new AbortController();
  const found = (async () => {
    let m: SnapshotMeta;
    try {
      const r = await fetch(url);
      if (!r.ok) return { refused: `${url}: HTTP ${r.status}` };
      m = (await r.json()) as SnapshotMeta;
      if (m.format !== 1 || typeof m.snapshot !== "string" || typeof m.stdlib !== "string" || typeof m.bytes !== "number")
        return { refused: `${url}: not a snapshot description` };
    } catch (e) {
      return { refused: `${url}: ${e instanceof Error ? e.message : String(e)}` };
    }
    const dir = new URL(".", new URL(url, base)).href;
    const stdLibURL = dir + m.stdlib;
    // asked for now, for either start (PythonHost.load hands it to Pyodide)
    const stdLib = fetch(stdLibURL, { signal: ac.signal });
    stdLib.catch(() => {}); // then Pyodide asks again
    const pyodide = m.pyodide;
    if (m.python !== PYTHON_FILES_HASH) return { stdLibURL, stdLib, pyodide, refused: "made with other web/python files" };
    if (badSize(m.bytes)) return { stdLibURL, stdLib, pyodide, refused: badSize(m.bytes) };
    const body = fetch(dir + m.snapshot, { signal: ac.signal }).then((r) => {
      if (!r.ok || !r.body) throw new Error(`${m.snapshot}: HTTP ${r.status}`);
      return r.body;
    });
    const image = new SnapshotImage(m.bytes, body);
    image.filled.then(() => mark(`snapshot read as it arrived (${m.bytes} bytes)`), () => {});
    const expected = check ? image.filled.then(() => fetch(dir + m.snapshot)).then((r) => readSnapshot(r.body!, m.bytes)) : undefined;
    expected?.catch(() => {});
    return { stdLibURL, stdLib, pyodide, image, expected };
  })();
  return { found, abort: () => ac.abort() };
}
