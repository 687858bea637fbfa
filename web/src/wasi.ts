/*
 * The few WASI (preview1) imports remotemedia.wasm needs, for browsers and
 * Node alike.  The library reads no files and no environment: there are no
 * preopened directories (fd_prestat_get says EBADF, so libc's start-up finds
 * none), stdout/stderr writes go to a callback (the core's log lines), the
 * clocks come from performance.now() / Date.now(), and anything else fails
 * with ENOSYS instead of trapping.
 */

const ESUCCESS = 0;
const EBADF = 8;
const EINVAL = 28;
const ENOSYS = 52;
const ENOTCAPABLE = 76;

/** Thrown by proc_exit (the library never calls exit; abort() would). */
export class WasiExit extends Error {
  constructor(readonly code: number) {
    super(`remotemedia.wasm exited with code ${code}`);
  }
}

export type WasiImports = Record<string, (...args: never[]) => number | void>;

export function wasiImports(
  memory: () => WebAssembly.Memory,
  write: (fd: number, text: string) => void,
): WasiImports {
  // One DataView per memory buffer (a new one only after memory grows):
  // the clock is read on every push, and allocating views there showed in
  // the per-chunk benchmark (bench/bench_wasm.mjs).
  let dv: DataView | undefined;
  const view = () => {
    const buf = memory().buffer;
    if (!dv || dv.buffer !== buf) dv = new DataView(buf);
    return dv;
  };
  const decoder = new TextDecoder();
  const clock = typeof performance !== "undefined" ? performance.now.bind(performance) : Date.now;
  const t0 = clock();
  return {
    environ_sizes_get: (countPtr: number, sizePtr: number) => {
      view().setUint32(countPtr, 0, true);
      view().setUint32(sizePtr, 0, true);
      return ESUCCESS;
    },
    environ_get: () => ESUCCESS,
    clock_time_get: (id: number, _precision: bigint, out: number) => {
      if (id === 0) { // realtime (rare): BigInt, a double cannot hold it in ns
        view().setBigUint64(out, BigInt(Date.now()) * 1000000n, true);
        return ESUCCESS;
      }
      if (id !== 1) return EINVAL;
      // monotonic, read ~4 times per push (the session's metrics): u64
      // nanoseconds written as two u32 halves, no BigInt per call (a double
      // holds whole nanoseconds exactly up to 2^53, ~104 days after the
      // module was loaded)
      const ns = Math.round((clock() - t0) * 1e6);
      const v = view();
      v.setUint32(out, ns % 4294967296, true);
      v.setUint32(out + 4, Math.floor(ns / 4294967296), true);
      return ESUCCESS;
    },
    fd_write: (fd: number, iovs: number, iovsLen: number, nwritten: number) => {
      if (fd !== 1 && fd !== 2) return EBADF;
      const dv = view();
      let total = 0;
      let text = "";
      for (let i = 0; i < iovsLen; i++) {
        const ptr = dv.getUint32(iovs + i * 8, true);
        const len = dv.getUint32(iovs + i * 8 + 4, true);
        text += decoder.decode(new Uint8Array(memory().buffer, ptr, len), { stream: true });
        total += len;
      }
      write(fd, text);
      dv.setUint32(nwritten, total, true);
      return ESUCCESS;
    },
    fd_close: () => EBADF,
    fd_fdstat_get: (fd: number, out: number) => {
      if (fd > 2) return EBADF;
      const dv = view();
      for (let i = 0; i < 24; i++) dv.setUint8(out + i, 0);
      dv.setUint8(out, 2); // character device
      return ESUCCESS;
    },
    fd_prestat_get: () => EBADF, // no preopened directories
    fd_prestat_dir_name: () => EBADF,
    fd_readdir: () => EBADF,
    fd_seek: () => EBADF,
    path_open: () => ENOTCAPABLE,
    poll_oneoff: () => ENOSYS,
    sched_yield: () => ESUCCESS,
    proc_exit: (code: number) => {
      throw new WasiExit(code);
    },
  };
}
