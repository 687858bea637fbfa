"""The Python node worker: one process per (session, PythonNode).

Started by the C runtime (src/nodes/python/worker.c) as `python3 -c <this
file>` with these descriptors:
  3 control socket (JSON lines: init request -> "ready" or the import error;
    EOF = the parent is gone, the worker exits)
  4 memfd holding two byte rings: requests (runtime -> worker) and replies
  5 eventfd: a request was written      6 eventfd: a reply was written
  7 eventfd: reply space was freed
Frames cross the rings as a fixed binary header and the raw payload (audio
samples, tensor bytes, pixels, text, JSON text for json frames), every kind,
any rate.  The layout matches src/nodes/python/pyw.h.  This file imports
nothing from the remotemedia package, so any interpreter can run it; the
package's Audio class is used when the package is importable.
"""
import asyncio
import importlib
import inspect
import json
import mmap
import os
import struct
import sys
import threading
import traceback

CTL, MEM, EV_REQ, EV_REP, EV_SPACE = 3, 4, 5, 6, 7
RING_HDR = 64
WRAP = 0xFFFFFFFF
OP_PROCESS, OP_FLUSH, OP_RESET = 1, 2, 3
OP_FRAME, OP_DONE, OP_ERROR, OP_LAST = 10, 11, 12, 13  # LAST: a frame, then done
PREFIX = struct.Struct("<II")
FRAME = struct.Struct("<IIqQIIIIQ8qIIQ")  # 128 bytes, see pyw.h rm__pyw_fhdr
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


class Ring:
    """One ring of the memfd.  head/tail are read and written through a
    memoryview of the 64-byte header as u64s (aligned 8-byte loads and
    stores), which is several times cheaper than struct per access."""

    def __init__(self, mm, base):
        self.mm, self.base = mm, base
        self.hdr = memoryview(mm)[base:base + 24].cast("Q")  # head, tail, cap
        self.cap = self.hdr[2]
        self.data = base + RING_HDR

    # consumer side (requests)
    def next(self):
        """Offset of the next message (after skipping a wrap marker) or None."""
        hdr, cap = self.hdr, self.cap
        while True:
            t = hdr[1]
            if t == hdr[0]:
                return None
            pos = t % cap
            if U32.unpack_from(self.mm, self.data + pos)[0] == WRAP:
                hdr[1] = t + cap - pos
                continue
            return pos

    def consume(self, n):
        self.hdr[1] += n

    # producer side (replies)
    def reserve(self, n):
        if n > self.cap:
            raise OverflowError(f"a reply of {n} bytes does not fit the {self.cap}-byte ring (raise ring_mb)")
        hdr, cap = self.hdr, self.cap
        while True:
            h = self.pending if self.pending is not None else hdr[0]
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
                return pos
            self.publish()  # the runtime must see what is there before it can free space
            os.eventfd_read(EV_SPACE)  # it wakes us as it consumes

    pending = None  # head of written but unpublished messages

    def commit(self, n):
        """Counts `n` written bytes; the runtime sees them at publish()."""
        self.pending = (self.pending if self.pending is not None else self.hdr[0]) + n

    def publish(self):
        """Makes the committed messages visible and wakes the runtime: one
        eventfd write for a reply frame and its DONE together."""
        if self.pending is not None:
            self.hdr[0] = self.pending
            self.pending = None
            os.eventfd_write(EV_REP, 1)


class Worker:
    def __init__(self):
        self.mm = mmap.mmap(MEM, 0)
        cap_req = struct.unpack_from("<Q", self.mm, 16)[0]
        self.req = Ring(self.mm, 0)
        self.rep = Ring(self.mm, RING_HDR + cap_req)
        self.Audio = _audio_class()
        self.obj = None
        self.loop = None
        self.in_audio = None  # (rate, format) of the last audio input

    # ------------------------------------------------------------ decoding --
    def decode(self, pos):
        """The request at `pos` as the node's argument.  Payloads are copied
        out of the ring once (np.frombuffer on the mmap, then copy): the
        runtime reuses the ring after this call, while a node may keep what
        it was given (buffering nodes do)."""
        mm, off = self.mm, self.req.data + pos + PREFIX.size
        (kind, _port, ts, _seq, f0, f1, f2, f3, n, *rest) = FRAME.unpack_from(mm, off)
        sid_len, meta_len, plen = rest[8], rest[9], rest[10]
        off += FRAME.size
        meta = json.loads(mm[off + sid_len:off + sid_len + meta_len]) if meta_len else {}
        off += align8(sid_len + meta_len)
        if kind == AUDIO:
            dt = SAMPLE_DT[f0]
            a = np.frombuffer(mm, dt, plen // dt.itemsize, off).copy()
            a.flags.writeable = False  # as inline: inputs are read-only
            if f2 > 1:
                a = a.reshape(n, f2)
            self.in_audio = (f1, f0)
            return self.Audio(a, f1, None if ts == TS_NONE else ts, meta)
        self.in_audio = None
        if kind == TENSOR:
            dt = DTYPE_DT[f0]
            a = np.frombuffer(mm, dt, plen // dt.itemsize, off).copy().reshape(rest[:f1])
            a.flags.writeable = False
            return a
        raw = mm[off:off + plen]
        if kind == TEXT:
            return raw.decode("utf-8")
        if kind == JSON:
            return json.loads(raw)
        if kind == BINARY:
            return raw
        if kind == VIDEO:
            return VideoFrame(raw, f1, f2, f0, f3)
        raise ValueError(f"unknown frame kind {kind}")

    # ------------------------------------------------------------ encoding --
    def send(self, op, hdr=None, sid=b"", meta=b"", payload=b""):
        """Writes one reply message (not yet visible: see Ring.publish)."""
        body = 0 if hdr is None else FRAME.size + align8(len(sid) + len(meta))
        plen = len(payload)
        total = align8(PREFIX.size + body + plen)
        pos = self.rep.reserve(total)
        base = self.rep.data + pos
        PREFIX.pack_into(self.mm, base, total, op)
        if hdr is not None:
            FRAME.pack_into(self.mm, base + PREFIX.size, *hdr, len(sid), len(meta), plen)
            if sid or meta:
                o = base + PREFIX.size + FRAME.size
                self.mm[o:o + len(sid)] = sid
                self.mm[o + len(sid):o + len(sid) + len(meta)] = meta
        if plen:
            o = base + PREFIX.size + body
            self.mm[o:o + plen] = payload
        self.rep.commit(total)

    def emit(self, v, op=OP_FRAME):
        if isinstance(v, tuple) and len(v) == 2 and np is not None and isinstance(v[0], np.ndarray):
            v = self.Audio(v[0], int(v[1]))
        if np is not None and isinstance(v, np.ndarray) and self.in_audio is not None:
            v = self.Audio(v, self.in_audio[0])
        if hasattr(v, "samples") and hasattr(v, "sample_rate"):
            s = np.ascontiguousarray(v.samples)
            fmt = SAMPLE_CODE.get(s.dtype)
            if fmt is None:
                s, fmt = s.astype(np.float32), 1
            ch = 1 if s.ndim == 1 else int(s.shape[1])
            ts = getattr(v, "timestamp_us", None)
            meta = getattr(v, "metadata", None)
            self.send(op, (AUDIO, 0, TS_NONE if ts is None else int(ts), 0, fmt, int(v.sample_rate),
                                 ch, 0, int(s.shape[0])) + Z8,
                      meta=json.dumps(meta).encode() if meta else b"", payload=memoryview(s).cast("B"))
        elif isinstance(v, str):
            self.send(op, (TEXT, 0, TS_NONE, 0, 0, 0, 0, 0, 0) + Z8, payload=v.encode("utf-8"))
        elif isinstance(v, (bytes, bytearray, memoryview)):
            self.send(op, (BINARY, 0, TS_NONE, 0, 0, 0, 0, 0, 0) + Z8,
                      payload=v if isinstance(v, (bytes, bytearray)) else bytes(v))
        elif isinstance(v, VideoFrame):
            self.send(op, (VIDEO, 0, TS_NONE, 0, int(v.format), int(v.width), int(v.height),
                                 int(v.stride), 0) + Z8, payload=bytes(v.data))
        elif np is not None and isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v)
            code = DTYPE_CODE.get(a.dtype.str)
            if code is None or a.ndim > 8:
                raise TypeError(f"cannot send a {a.dtype} array of {a.ndim} dimensions as a tensor")
            shape = tuple(int(x) for x in a.shape) + (0,) * (8 - a.ndim)
            self.send(op, (TENSOR, 0, TS_NONE, 0, code, a.ndim, 0, 0, 0) + shape,
                      payload=memoryview(a).cast("B") if a.size else b"")
        else:
            self.send(op, (JSON, 0, TS_NONE, 0, 0, 0, 0, 0, 0) + Z8,
                      payload=json.dumps(v, allow_nan=False, separators=(",", ":")).encode())

    # ------------------------------------------------------------- calling --
    def collect(self, r):
        """Sends what a call returned; True when that also said done (a
        single value goes out as one LAST message, not a frame and a DONE)."""
        if r is None:
            return False
        if inspect.isgenerator(r):
            for x in r:
                if x is not None:
                    self.emit(x)
                    self.rep.publish()  # a streaming node's outputs leave as they come
            return False
        if inspect.isasyncgen(r) or inspect.iscoroutine(r):
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            if inspect.isasyncgen(r):
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
        while True:
            os.eventfd_read(EV_REQ)
            while True:
                pos = self.req.next()
                if pos is None:
                    break
                total, op = PREFIX.unpack_from(self.mm, self.req.data + pos)
                try:
                    try:
                        arg = self.decode(pos) if op == OP_PROCESS else None
                    finally:
                        self.req.consume(total)
                    done = False
                    if op == OP_PROCESS:
                        done = self.collect(self.obj.process(arg))
                        del arg
                    else:
                        fn = getattr(self.obj, "flush" if op == OP_FLUSH else "reset", None)
                        if fn is not None:
                            r = fn()
                            if op == OP_FLUSH:
                                done = self.collect(r)
                            elif inspect.iscoroutine(r):
                                done = self.collect(r)
                    if not done:
                        self.send(OP_DONE)
                    self.rep.publish()
                except BaseException as exc:  # noqa: BLE001 - reported to the runtime
                    tb = traceback.extract_tb(exc.__traceback__)
                    where = f" at {tb[-1].filename}:{tb[-1].lineno} in {tb[-1].name}" if tb else ""
                    self.send(OP_ERROR, payload=f"{type(exc).__name__}: {exc}{where}".encode())
                    self.rep.publish()
                    if isinstance(exc, MemoryError):
                        os._exit(3)  # the runtime restarts a worker that ran out of memory


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
    w.serve()


if __name__ == "__main__":
    main()
