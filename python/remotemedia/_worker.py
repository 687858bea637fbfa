"""The Python node worker: one process per (session, PythonNode).

Started by the C runtime (src/nodes/python/worker.c) as `python3 -c <this
file>` with these descriptors:
  3 control socket: JSON lines at start (init request -> "ready" or the
    import error), then one byte per published reply when the runtime
    sleeps (its wake-up; it sees this worker's death there as EOF).  EOF the
    other way = the parent is gone, the worker exits.
  4 memfd holding two byte rings: requests (runtime -> worker) and replies
  5 eventfd: a request was written      6 eventfd: reply space was freed
Frames cross the rings as a fixed binary header and the raw payload (audio
samples, tensor bytes, pixels, text, JSON text for json frames), every kind,
any rate.  The layout matches src/nodes/python/pyw.h.  This file imports
nothing from the remotemedia package, so any interpreter can run it; the
package's Audio class is used when the package is importable.
"""
import asyncio
import importlib
import json
import mmap
import os
import struct
import sys
import threading
import traceback
from types import AsyncGeneratorType, CoroutineType, GeneratorType

CTL, MEM, EV_REQ, EV_SPACE = 3, 4, 5, 6
WAKE = b"\x01"
RING_HDR = 64
WRAP = 0xFFFFFFFF
SLEEPING = 3  # u64 index in the reply ring's header: 1 while the runtime sleeps (pyw.h)
OP_PROCESS, OP_FLUSH, OP_RESET = 1, 2, 3
OP_FRAME, OP_DONE, OP_ERROR, OP_LAST = 10, 11, 12, 13  # LAST: a frame, then done
PREFIX = struct.Struct("<II")
FRAME = struct.Struct("<IIqQIIIIQ8qIIQ")  # 128 bytes, see pyw.h rm__pyw_fhdr
# prefix + frame header in one: (total, op, kind, port, ts, seq, f0, f1, f2, f3,
# n, shape[8], sid_len, meta_len, payload_len) at indexes 0..21
MSG = struct.Struct("<II" + FRAME.format[1:])
U32 = struct.Struct("<I")
Z8 = (0,) * 8
TS_NONE = -(1 << 63)
AUDIO, VIDEO, TENSOR, JSON, TEXT, BINARY = 1, 2, 3, 4, 5, 6
SAMPLE = {1: "<f4", 2: "<i2", 3: "<i4"}
DTYPE = {0: "<f4", 1: "<i4", 2: "<f8", 3: "<i8", 4: "<i2", 5: "i1", 6: "u1", 7: "<f2", 8: "?"}

try:
    import numpy as np
except ImportError:  # text/json/binary nodes work without numpy
    np = None
    SAMPLE_DT = DTYPE_DT = DTYPE_CODE = SAMPLE_CODE = {}
else:
    SAMPLE_DT = {k: np.dtype(v) for k, v in SAMPLE.items()}
    SAMPLE_CODE = {np.dtype(v): k for k, v in SAMPLE.items()}  # keyed by dtype: .name is slow
    DTYPE_DT = {k: np.dtype(v) for k, v in DTYPE.items()}
    DTYPE_CODE = {np.dtype(d).str if d != "?" else "|b1": c for c, d in DTYPE.items()}


class VideoFrame:
    """A video frame: `data` (bytes), `width`, `height`, `format` (the
    runtime's pixel format number) and `stride` (bytes per row, 0 = packed)."""

    def __init__(self, data, width, height, format=1, stride=0):
        self.data, self.width, self.height, self.format, self.stride = data, width, height, format, stride


class _Audio:
    def __init__(self, samples, sample_rate, timestamp_us=None, metadata=None):
        self.samples, self.sample_rate = samples, sample_rate
        self.timestamp_us, self.metadata = timestamp_us, metadata or {}


def _audio_class():
    try:
        from remotemedia.data import Audio
        return Audio
    except Exception:  # noqa: BLE001 - the package is optional here
        return _Audio


def align8(n):
    return (n + 7) & ~7


def _fence():
    """A full memory barrier between the reply's head store and the load of
    the runtime's sleeping flag (pyw.h, Dekker): on x86 every locked
    instruction is one, and an uncontended Lock's acquire and release are
    one each (sem_trywait / sem_post).  Elsewhere None: the worker then
    always sends the wake byte."""
    if os.uname().machine not in ("x86_64", "i386", "i686"):
        return None
    lock = threading.Lock()
    acquire, release = lock.acquire, lock.release

    def fence():
        acquire()
        release()

    return fence


class Ring:
    """The reply ring of the memfd (this process is its producer).  head/tail
    are read and written through a memoryview of the 64-byte header as u64s
    (aligned 8-byte loads and stores), several times cheaper than struct."""

    def __init__(self, mm, base):
        self.mm, self.base = mm, base
        self.hdr = memoryview(mm)[base:base + 32].cast("Q")  # head, tail, cap, sleeping
        self.cap = self.hdr[2]
        self.data = base + RING_HDR
        self.pending = None  # head of written but unpublished messages

    def reserve(self, n):
        """The mapping offset where a message of `n` bytes goes."""
        hdr, cap = self.hdr, self.cap
        if n > cap:
            raise OverflowError(f"a reply of {n} bytes does not fit the {cap}-byte ring (raise ring_mb)")
        if self.pending is None:  # the usual case: the runtime rewound the empty ring to 0 (ring.c)
            h = hdr[0]
            if h == hdr[1] and not h % cap:
                return self.data
        while True:
            h = self.pending
            if h is None:
                h = hdr[0]
            t = hdr[1]
            pos = h % cap
            contig = cap - pos
            empty = h == t
            wrap = n > contig or (empty and pos != 0)  # an empty ring starts over at 0, as in ring.c
            need = contig + n if wrap else n
            if empty or cap - (h - t) >= need:
                if wrap:
                    U32.pack_into(self.mm, self.data + pos, WRAP)
                    if empty:  # publish the marker and skip it: all of the ring is free
                        hdr[0] = h + contig  # (the runtime, skipping it, stores this same tail)
                        hdr[1] = h + contig
                    else:
                        self.pending = h + contig
                    pos = 0
                return self.data + pos
            self.publish()  # the runtime must see what is there before it can free space
            os.eventfd_read(EV_SPACE)  # it wakes us as it consumes

    def commit(self, n):
        """Counts `n` written bytes; the runtime sees them at publish()."""
        self.pending = (self.pending if self.pending is not None else self.hdr[0]) + n

    fence = staticmethod(_fence())

    def publish(self):
        """Makes the committed messages visible and wakes the runtime if it
        sleeps: one byte on the control socket (the runtime's recv() there
        also sees the worker's death as EOF) for a reply frame and its DONE
        together.  A runtime still spinning for the reply sees it without."""
        if self.pending is not None:
            hdr = self.hdr
            hdr[0] = self.pending
            self.pending = None
            fence = self.fence
            if fence is None:
                os.write(CTL, WAKE)
            else:
                fence()
                if hdr[SLEEPING]:
                    os.write(CTL, WAKE)


class Worker:
    def __init__(self):
        self.mm = mmap.mmap(MEM, 0)
        cap_req = struct.unpack_from("<Q", self.mm, 16)[0]
        self.req = memoryview(self.mm)[0:24].cast("Q")  # head, tail, cap of the request ring
        self.rep = Ring(self.mm, RING_HDR + cap_req)
        self.Audio = _audio_class()
        self.obj = None
        self.loop = None
        self.in_rate = None  # sample rate of the last audio input (a bare array returned keeps it)
        self.borrow = False  # the class's zero_copy_inputs: arrays are views into the ring
        self.wait = os.eventfd_read  # serve()'s wait and call; trace() wraps them
        self.process = None

    # ------------------------------------------------------------ decoding --
    def decode(self, h, m):
        """The request `h` (MSG fields) at mapping offset `m` as the node's
        argument.  Payloads are copied out of the ring once, by slicing the
        mapping into bytes, and numpy arrays are read-only views of those
        bytes: the runtime reuses the ring for the next frame, while a node
        may keep what it was given (buffering nodes do)."""
        kind, sid_len, meta_len, plen = h[2], h[19], h[20], h[21]
        mm, off = self.mm, m + MSG.size
        meta = json.loads(mm[off + sid_len:off + sid_len + meta_len]) if meta_len else {}
        off += (sid_len + meta_len + 7) & ~7
        if kind == AUDIO:
            if self.borrow:
                a = self.view(SAMPLE_DT[h[6]], off, plen)
            else:
                a = np.frombuffer(mm[off:off + plen], SAMPLE_DT[h[6]])
            if h[8] > 1:
                a = a.reshape(h[10], h[8])
            self.in_rate = h[7]
            ts = h[4]
            return self.Audio(a, h[7], None if ts == TS_NONE else ts, meta)
        self.in_rate = None
        if kind == TENSOR:
            if self.borrow:
                return self.view(DTYPE_DT[h[6]], off, plen).reshape(h[11:11 + h[7]])
            return np.frombuffer(mm[off:off + plen], DTYPE_DT[h[6]]).reshape(h[11:11 + h[7]])
        raw = mm[off:off + plen]
        if kind == TEXT:
            return raw.decode("utf-8")
        if kind == JSON:
            return json.loads(raw)
        if kind == BINARY:
            return raw
        if kind == VIDEO:
            return VideoFrame(raw, h[7], h[8], h[6], h[9])
        raise ValueError(f"unknown frame kind {kind}")

    def view(self, dt, off, plen):
        """A read-only array over the request's payload in the ring, for a
        class that declares `zero_copy_inputs = True`: valid until its call
        returns (the runtime writes the next request there), so the class
        must copy what it keeps."""
        a = np.frombuffer(self.mm, dt, plen // dt.itemsize, off)
        a.flags.writeable = False
        return a

    # ------------------------------------------------------------ encoding --
    def send(self, op, kind=0, f=(0, 0, 0, 0, 0), shape=Z8, ts=TS_NONE, meta=b"", payload=b"", plen=None):
        """Writes one reply message (not yet visible: see Ring.publish).
        `payload` is anything with a C-contiguous buffer of `plen` bytes."""
        if plen is None:
            plen = len(payload)
        ml = len(meta)
        body = 0 if kind == 0 else MSG.size - PREFIX.size + ((ml + 7) & ~7)
        total = (PREFIX.size + body + plen + 7) & ~7
        mm = self.mm
        o = self.rep.reserve(total)
        if kind == 0:
            PREFIX.pack_into(mm, o, total, op)
        else:
            MSG.pack_into(mm, o, total, op, kind, 0, ts, 0, *f, *shape, 0, ml, plen)
            if ml:
                mm[o + MSG.size:o + MSG.size + ml] = meta
        if plen:
            o += PREFIX.size + body
            mm[o:o + plen] = payload
        self.rep.commit(total)

    def emit_audio(self, v, op):
        """Writes an audio reply straight into the ring (the common reply,
        so not through send())."""
        s = v.samples
        if type(s) is not np.ndarray:
            s = np.asarray(s)
        fmt = SAMPLE_CODE.get(s.dtype)
        if fmt is None:
            s, fmt = s.astype(np.float32), 1
        if not s.flags.c_contiguous:
            s = np.ascontiguousarray(s)
        ts = getattr(v, "timestamp_us", None)
        meta = getattr(v, "metadata", None)
        meta = json.dumps(meta).encode() if meta else b""
        ml, plen = len(meta), s.nbytes
        body = MSG.size + ((ml + 7) & ~7)
        total = (body + plen + 7) & ~7
        mm = self.mm
        o = self.rep.reserve(total)
        MSG.pack_into(mm, o, total, op, AUDIO, 0, TS_NONE if ts is None else int(ts), 0, fmt, int(v.sample_rate),
                      1 if s.ndim == 1 else int(s.shape[1]), 0, s.shape[0], 0, 0, 0, 0, 0, 0, 0, 0, 0, ml, plen)
        if ml:
            mm[o + MSG.size:o + MSG.size + ml] = meta
        if plen:
            mm[o + body:o + body + plen] = s
        self.rep.commit(total)

    def emit(self, v, op=OP_FRAME):
        if type(v) is self.Audio:
            return self.emit_audio(v, op)
        if isinstance(v, tuple) and len(v) == 2 and np is not None and isinstance(v[0], np.ndarray):
            v = self.Audio(v[0], int(v[1]))
        if np is not None and isinstance(v, np.ndarray) and self.in_rate is not None:
            v = self.Audio(v, self.in_rate)
        if hasattr(v, "samples") and hasattr(v, "sample_rate"):
            self.emit_audio(v, op)
        elif isinstance(v, str):
            self.send(op, TEXT, payload=v.encode("utf-8"))
        elif isinstance(v, (bytes, bytearray, memoryview)):
            self.send(op, BINARY, payload=v if isinstance(v, (bytes, bytearray)) else bytes(v))
        elif isinstance(v, VideoFrame):
            self.send(op, VIDEO, (int(v.format), int(v.width), int(v.height), int(v.stride), 0),
                      payload=bytes(v.data))
        elif np is not None and isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v)
            code = DTYPE_CODE.get(a.dtype.str)
            if code is None or a.ndim > 8:
                raise TypeError(f"cannot send a {a.dtype} array of {a.ndim} dimensions as a tensor")
            self.send(op, TENSOR, (code, a.ndim, 0, 0, 0), tuple(int(x) for x in a.shape) + (0,) * (8 - a.ndim),
                      payload=a, plen=a.nbytes)
        else:
            self.send(op, JSON, payload=json.dumps(v, allow_nan=False, separators=(",", ":")).encode())

    # ------------------------------------------------------------- calling --
    def collect(self, r):
        """Sends what a call returned; True when that also said done (a
        single value goes out as one LAST message, not a frame and a DONE)."""
        if r is None:
            return False
        if isinstance(r, GeneratorType):
            for x in r:
                if x is not None:
                    self.emit(x)
                    self.rep.publish()  # a streaming node's outputs leave as they come
            return False
        if isinstance(r, (AsyncGeneratorType, CoroutineType)):
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            if isinstance(r, AsyncGeneratorType):
                async def drain():
                    return [x async for x in r]
                for x in self.loop.run_until_complete(drain()):
                    if x is not None:
                        self.emit(x)
                return False
            return self.collect(self.loop.run_until_complete(r))
        self.emit(r, OP_LAST)
        return True

    def serve(self):
        """The request loop.  The common case (one frame in, one value out)
        stays on a short path: one struct unpack, one slice out of the ring,
        one pack and one slice into it, two system calls (the wait here and
        the wake in publish)."""
        mm, rq, rep = self.mm, self.req, self.rep
        cap, data = rq[2], RING_HDR
        unpack = MSG.unpack_from
        wait = self.wait
        process = self.process
        Audio, emit_audio, collect, decode = self.Audio, self.emit_audio, self.collect, self.decode
        while True:
            wait(EV_REQ)
            while True:
                t = rq[1]
                if t == rq[0]:
                    break
                pos = t % cap
                h = unpack(mm, data + pos)  # (for a short message the tail is unused)
                total, op = h[0], h[1]
                if total == WRAP:
                    rq[1] = t + cap - pos
                    continue
                try:
                    if op == OP_PROCESS:
                        try:
                            arg = decode(h, data + pos)
                        finally:
                            rq[1] = t + total  # (views stay valid: no request comes before our reply)
                        r = process(arg)
                        del arg
                        if type(r) is Audio:
                            emit_audio(r, OP_LAST)
                            done = True
                        else:
                            done = collect(r)
                        del r
                    else:
                        rq[1] = t + total
                        done = False
                        fn = getattr(self.obj, "flush" if op == OP_FLUSH else "reset", None)
                        if fn is not None:
                            r = fn()
                            if op == OP_FLUSH or isinstance(r, CoroutineType):
                                done = collect(r)
                            del r
                    if not done:
                        self.send(OP_DONE)
                    rep.publish()
                except BaseException as exc:  # noqa: BLE001 - reported to the runtime
                    tb = traceback.extract_tb(exc.__traceback__)
                    where = f" at {tb[-1].filename}:{tb[-1].lineno} in {tb[-1].name}" if tb else ""
                    self.send(OP_ERROR, payload=f"{type(exc).__name__}: {exc}{where}".encode())
                    rep.publish()
                    if isinstance(exc, MemoryError):
                        os._exit(3)  # the runtime restarts a worker that ran out of memory


    def trace(self):
        """The debug trace of pyw.h (RM_PYW_TRACE set): wraps serve()'s
        wait, decode, call and publish with CLOCK_MONOTONIC stamps in the
        spare words of the ring headers, which the runtime collects; the
        normal loop carries no stamp code."""
        import time

        clock, mono = time.clock_gettime_ns, time.CLOCK_MONOTONIC
        rs = memoryview(self.mm)[self.rep.base:self.rep.base + RING_HDR].cast("Q")
        qs = memoryview(self.mm)[0:RING_HDR].cast("Q")
        wait, decode, process, publish = self.wait, self.decode, self.process, self.rep.publish
        count = [0]

        def traced_wait(fd):
            v = wait(fd)
            rs[5] = clock(mono)
            return v

        def traced_decode(h, m):
            rs[6] = clock(mono)
            return decode(h, m)

        def traced_process(arg):
            count[0] += 1
            rs[7] = clock(mono)
            r = process(arg)
            qs[3] = clock(mono)
            return r

        def traced_publish():
            qs[4] = clock(mono)
            rs[4] = count[0]
            publish()
            n = count[0]
            qs[5 + (n & 1)] = (n & 0xFFFF) << 48 | clock(mono)

        self.wait, self.decode, self.process = traced_wait, traced_decode, traced_process
        self.rep.publish = traced_publish


def load_class(spec, base_dir):
    """'pkg.module:ClassName' -> (class, None) or (None, error message)."""
    if base_dir and base_dir not in sys.path:
        sys.path.insert(0, base_dir)
    mod_name, _, cls_name = spec.partition(":")
    if not mod_name or not cls_name:
        return None, f"class must be 'module:ClassName', got '{spec}'"
    try:
        mod = importlib.import_module(mod_name)
    except BaseException as exc:  # noqa: BLE001
        return None, f"cannot import module '{mod_name}': {type(exc).__name__}: {exc}"
    cls = mod
    for part in cls_name.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            return None, f"module '{mod_name}' has no class '{cls_name}'"
    if not callable(getattr(cls, "process", None)):
        return None, f"class '{spec}' has no process() method"
    return cls, None


def instantiate(cls, params):
    """Param defaults of an @node class apply to keys the manifest left out."""
    kw = dict(params)
    for k, v in vars(cls).items():
        if type(v).__name__ == "Param" and k not in kw:
            d = getattr(v, "default", None)
            if d is not None and type(d).__name__ != "object":
                kw[k] = d
    try:
        return cls(**kw)
    except TypeError:
        if kw:
            raise
        return cls()


def watch_parent(ctl):
    """Exits when the control socket closes: the runtime is gone or done."""
    while True:
        try:
            if not ctl.recv(4096):
                break
        except OSError:
            break
    os._exit(0)


def main():
    import socket

    ctl = socket.socket(fileno=CTL)
    f = ctl.makefile("rb")
    req = json.loads(f.readline())
    for d in reversed(req.get("sys_path") or []):
        if d not in sys.path:
            sys.path.insert(0, d)
    cls, err = load_class(req["class"], req.get("base_dir"))
    obj = None
    if cls is not None:
        try:
            obj = instantiate(cls, req.get("params") or {})
        except BaseException as exc:  # noqa: BLE001
            err = f"{req['class']}(**params) failed: {type(exc).__name__}: {exc}"
    ctl.sendall((json.dumps({"ok": err is None, "error": err}) + "\n").encode())
    if err is not None:
        os._exit(2)
    threading.Thread(target=watch_parent, args=(ctl,), daemon=True).start()
    w = Worker()
    w.obj = obj
    w.process = obj.process
    if os.environ.get("RM_PYW_TRACE"):
        w.trace()
    w.borrow = bool(getattr(cls, "zero_copy_inputs", False)) and np is not None
    w.serve()


if __name__ == "__main__":
    main()
