/*
 * Pyodide memory snapshots as web/scripts/python-snapshot.mjs writes them,
 * read as they download (PythonHost.load's `snapshotURL`).
 *
 * The file: gzip of "RMSPARSE", the full length and the page size (u32
 * little-endian each), a bitmap of the pages that are not all zero, then
 * those pages.  Most of a fresh interpreter's memory is zero and the rest
 * compresses well: 30 MiB are ~5 MB to read.  Uncompressed files, and raw
 * (not sparse) ones, are read too.
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

/** Writes a snapshot file's bytes, chunk by chunk, into `out` (zeroed, the
 * expanded length): sparse pages where they belong, or a raw file as is. */
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

  constructor(private readonly out: Uint8Array) {}

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
        if (this.rawAt + n > this.out.length) throw new Error(`snapshot: more than the ${this.out.length} bytes snapshot.json gives`);
        this.out.set(chunk.subarray(i), this.rawAt);
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
        const len = Math.min(this.pageSize, this.out.length - start);
        const n = Math.min(len - this.pageAt, chunk.length - i);
        this.out.set(chunk.subarray(i, i + n), start + this.pageAt);
        this.pageAt += n;
        i += n;
        if (this.pageAt === len) this.nextPage();
      }
    }
  }

  /** Throws unless the whole snapshot was written. */
  end(): void {
    const done = this.headAt === 16 &&
      (this.raw ? this.rawAt === this.out.length : this.bitmapAt === this.bitmap!.length && this.page >= this.pages);
    if (!done) throw new Error("snapshot: file truncated");
  }

  private start(): void {
    if (!SPARSE_MAGIC.every((c, k) => this.head[k] === c)) {
      // raw: these 16 bytes are the start of the memory image
      this.raw = true;
      if (this.out.length < 16) throw new Error(`snapshot: more than the ${this.out.length} bytes snapshot.json gives`);
      this.out.set(this.head, 0);
      this.rawAt = 16;
      return;
    }
    const dv = new DataView(this.head.buffer);
    const total = dv.getUint32(8, true);
    this.pageSize = dv.getUint32(12, true);
    if (total !== this.out.length) throw new Error(`snapshot: ${total} bytes, snapshot.json gives ${this.out.length}`);
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
  await readSnapshotInto(file, out);
  return out;
}

/** readSnapshot into `out` (zeroed, the expanded size). */
async function readSnapshotInto(file: ReadableStream<Uint8Array> | Uint8Array, out: Uint8Array): Promise<void> {
  const w = new SnapshotWriter(out);
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
  if (first.value[0] === 0x1f && first.value[1] === 0x8b) {
    const head = first.value;
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
  } else {
    w.push(first.value);
  }
  try {
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

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}

export interface SnapshotFetch {
  /** What snapshot.json says: the standard library to use (the one the
   * snapshot was made with, for a normal start too), and either why the
   * snapshot is refused, or its Pyodide version and `memory`: the buffer
   * Pyodide will restore, of its final size now, filled as the file arrives
   * (`filled` resolves when it is complete, rejects if the file is bad). */
  found: Promise<{ stdLibURL?: string; refused?: string; pyodide?: string; memory?: Uint8Array; filled?: Promise<void> }>;
  /** Stops the download (the snapshot is for another Pyodide). */
  abort(): void;
}

/** Fetches snapshot.json and, when it is for these web/python files, the
 * snapshot itself, at once (before Pyodide's version is known: the caller
 * checks it and aborts on a mismatch). */
export function fetchSnapshot(url: string, base: string, mark: (step: string) => void): SnapshotFetch {
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
    if (m.python !== PYTHON_FILES_HASH) return { stdLibURL, refused: "made with other web/python files" };
    if (badSize(m.bytes)) return { stdLibURL, refused: badSize(m.bytes) };
    const memory = new Uint8Array(m.bytes);
    const filled = fetch(dir + m.snapshot, { signal: ac.signal }).then(async (r) => {
      if (!r.ok || !r.body) throw new Error(`${m.snapshot}: HTTP ${r.status}`);
      await readSnapshotInto(r.body, memory);
      mark(`snapshot read and expanded as it arrived (${m.bytes} bytes)`);
    });
    filled.catch(() => {}); // not awaited when aborted
    return { stdLibURL, pyodide: m.pyodide, memory, filled };
  })();
  return { found, abort: () => ac.abort() };
}
