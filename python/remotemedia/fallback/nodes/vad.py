"""VAD and SpeechSegmenter in numpy (src/nodes/audio/vad.c, vad_dsp.c,
speech_segmenter.c; docs/vad.md explains the detector).

The VAD is the C algorithm step for step — the same bands, quantile noise
floor (0.25 dB histograms, 20th percentile, chi-square bias correction),
one-sided likelihood-ratio statistic, log-odds mapping, hysteresis, minimum
speech and silence durations, 5 ms onset/offset refinement and padding — with
the frame mean, sub-block energies, histogram bins and fast log2 computed in
the same float32 arithmetic.  The one part that is not bit-identical is the
spectrum: numpy's FFT instead of kissfft's float FFT, so band powers differ in
the last bits, which can move a value across a 0.25 dB histogram bin now and
then.  Event times therefore agree with the native node to within a frame or
a refinement block (tests/test_equivalence.py states the tolerance), not to
the sample.

The SpeechSegmenter is exact: it only moves samples and integer indices.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import numpy as np

from ..params import BOOL, FLOAT, INT, RUNTIME, ParamDef
from . import EFORMAT, EINVAL, EPARAM, Caps, FallbackNode, Frame, NodeFailure, register
from .audio import ECAPS, audio_frame, frames_2d, llround

_F = np.float32

# ------------------------------------------------------------------ vad_dsp --

HIST_DB = 0.25
HIST_MIN_DB = -160.0
HIST_BINS = 760
NOISE_Q = 0.2
NOISE_Z = -0.8416
T_Z = 4.0
T_SLOPE = 1.5
LOGODDS_MAX = 8.0
SUB_MS = 5
MAX_BANDS = 17
BAND_EDGES = [100, 300, 500, 700, 900, 1100, 1350, 1650, 2000, 2400, 2850, 3350, 3900, 4600, 5400, 6300, 7300,
              8000]
EDGE_SD = 3.0

_BIN_POWER = [10.0 ** ((HIST_MIN_DB + (h + 0.5) * HIST_DB) / 10.0) for h in range(HIST_BINS)]


def _fft_fast_size(n: int) -> int:
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m <= 1:
            return n
        n += 1


def fft_size_real(n: int) -> int:
    """kiss_fftr_next_fast_size_real()."""
    return _fft_fast_size((n + 1) >> 1) << 1


def chi2_quantile_ratio(dof: float) -> float:
    v = 2.0 / (9.0 * dof)
    c = 1.0 - v + NOISE_Z * math.sqrt(v)
    if c < 0.05:
        c = 0.05
    return c * c * c


_C0, _C1, _C2, _C3, _C4 = _F(-2.49677377), _F(4.02837277), _F(-2.0810602), _F(0.62881573), _F(0.07915037)


def fast_log2(x: float) -> np.float32:
    """The C fast_log2 in float32: the exponent plus a degree-4 fit of the
    mantissa (within 2e-4)."""
    u = int(np.array(x, np.float32).view(np.uint32))
    e = _F((u >> 23) & 0xFF) - _F(127.0)
    m = np.array((u & 0x007FFFFF) | 0x3F800000, np.uint32).view(np.float32)[()]
    return e + (_C0 + m * (_C1 + m * (_C2 + m * (_C3 - _C4 * m))))


_DB_SCALE, _MIN_DB_F, _INV_HIST = _F(3.0103), _F(HIST_MIN_DB), _F(1.0 / HIST_DB)


def db_bin(power: float) -> int:
    d = _DB_SCALE * fast_log2(power if power > 1e-16 else 1e-16)
    h = int((d - _MIN_DB_F) * _INV_HIST)  # truncation toward zero, as the C cast
    return 0 if h < 0 else HIST_BINS - 1 if h >= HIST_BINS else h


class Tracker:
    """A windowed quantile of a log-power value (0.25 dB histogram)."""

    __slots__ = ("hist", "ring", "head", "count", "qi", "below", "inv_bias")

    def __init__(self, window: int, inv_bias: float):
        self.ring = [0] * window
        self.inv_bias = inv_bias
        self.clear()

    def clear(self) -> None:
        self.hist = [0] * HIST_BINS
        self.head = self.count = self.qi = self.below = 0

    def push(self, window: int, h: int) -> None:
        if self.count == window:
            old = self.ring[self.head]
            self.hist[old] -= 1
            if old < self.qi:
                self.below -= 1
        else:
            self.count += 1
        self.ring[self.head] = h
        self.head = 0 if self.head + 1 == window else self.head + 1
        self.hist[h] += 1
        if h < self.qi:
            self.below += 1
        r = int(NOISE_Q * self.count)
        while self.below > r:
            self.qi -= 1
            self.below -= self.hist[self.qi]
        while self.below + self.hist[self.qi] <= r:
            self.below += self.hist[self.qi]
            self.qi += 1

    def mean(self) -> float:
        return _BIN_POWER[self.qi] * self.inv_bias


def _sum4(x: np.ndarray) -> np.float32:
    """sum4(): four float32 accumulators over interleaved positions, the
    remainder into the first, combined as (a0 + a1) + (a2 + a3)."""
    n = len(x)
    q = n // 4 * 4
    acc = [_F(0)] * 4
    if q:
        for j in range(4):
            acc[j] = np.cumsum(x[j:q:4], dtype=np.float32)[-1]
    a0 = acc[0]
    for v in x[q:]:
        a0 = _F(a0 + v)
    return _F(_F(a0 + acc[1]) + _F(acc[2] + acc[3]))


class Result:
    __slots__ = ("prob", "stat", "energy", "noise", "n_sub", "sub")


class Detector:
    """rm__vad_dsp: one detector for frames of `n` mono float32 samples."""

    def __init__(self, rate: int, frame_ms: int, window_ms: int, min_rms: float):
        if rate < 8000 or rate > 192000 or frame_ms not in (10, 20, 30) or window_ms < 100:
            raise NodeFailure(EINVAL, "invalid detector setup")
        self.rate = rate
        self.n = rate * frame_ms // 1000
        self.nfft = fft_size_real(self.n)
        self.window = min(window_ms // frame_ms, 65535)
        self.n_sub = frame_ms // SUB_MS
        self.sub_len = self.n // self.n_sub
        self.min_power = min_rms * min_rms
        bin_hz, top = rate / self.nfft, 0.48 * rate
        self.bands: List[tuple] = []
        self.trk: List[Tracker] = []
        for b in range(MAX_BANDS):
            if not BAND_EDGES[b] < top:
                break
            hi = BAND_EDGES[b + 1] if BAND_EDGES[b + 1] < top else top
            lo_k, hi_k = math.ceil(BAND_EDGES[b] / bin_hz), math.ceil(hi / bin_hz)
            if hi_k <= lo_k:
                continue
            self.bands.append((lo_k, hi_k))
            self.trk.append(Tracker(self.window, 1.0 / chi2_quantile_ratio(2.0 * (hi_k - lo_k))))
        nb = len(self.bands)
        self.full = Tracker(self.window, 1.0 / chi2_quantile_ratio(float(self.n)))
        sd = math.sqrt(1.25 * nb)
        self.t0 = 0.5 * nb + T_Z * sd
        self.t_scale = T_SLOPE / sd
        self.work = np.zeros(self.nfft, np.float32)

    def reset(self) -> None:
        for t in self.trk:
            t.clear()
        self.full.clear()

    def frame(self, x: np.ndarray) -> Result:
        n = self.n
        r = Result()
        mean = _F(_sum4(x) / _F(n))
        w = self.work
        w[:n] = x - mean
        sq = w[:n] * w[:n]
        total = 0.0
        r.n_sub = self.n_sub
        r.sub = []
        for s in range(self.n_sub):
            i = s * self.sub_len
            ln = n - i if s + 1 == self.n_sub else self.sub_len
            acc = float(_sum4(sq[i:i + ln]))
            r.sub.append(acc / ln)
            total += acc
        r.energy = total / n
        X = np.fft.rfft(w)
        pw = X.real * X.real + X.imag * X.imag
        norm = 1.0 / n
        T = 0.0
        for (lo, hi), t in zip(self.bands, self.trk):
            bins = hi - lo
            p = float(pw[lo:hi].sum()) * (norm / bins)
            if t.count:
                g = p / t.mean()
                if g > 1.0:
                    T += 2.0 * bins * (g - 1.0 - 0.69314718 * float(fast_log2(g)))
            t.push(self.window, db_bin(p))
        r.noise = self.full.mean() if self.full.count else r.energy
        self.full.push(self.window, db_bin(r.energy))
        lo = (T - self.t0) * self.t_scale
        if lo > LOGODDS_MAX:
            lo = LOGODDS_MAX
        if lo < -LOGODDS_MAX or r.energy < self.min_power:
            lo = -LOGODDS_MAX
        r.stat = T
        r.prob = float(_F(1.0 / (1.0 + math.exp(-lo))))
        return r


# ---------------------------------------------------------------------- VAD --

def _downmix(x: np.ndarray) -> np.ndarray:
    """(frames, channels) in any format -> mono float32, as vad.c's downmix()."""
    ch = x.shape[1]
    if x.dtype == np.float32:
        if ch == 1:
            return x[:, 0]
        v = x[:, 0].copy()
        for c in range(1, ch):
            v += x[:, c]
        return v * (_F(1.0) / _F(ch))
    if x.dtype == np.int16:
        v = x.astype(np.int32).sum(axis=1)
        return v.astype(np.float32) * (_F(1.0 / 32768.0) / _F(ch))
    scale = float(_F(1.0 / 2147483648.0) / _F(ch))
    v = x[:, 0].astype(np.float64)
    for c in range(1, ch):
        v += x[:, c]
    return (v * scale).astype(np.float32)


@register
class VAD(FallbackNode):
    name = "VAD"
    doc = "Voice activity detection: adaptive noise floor, per-band likelihood ratio, start/end events"
    family = "audio"
    aliases = ("RustVADNode", "SileroVADNode")
    inputs = [("in", ["audio"], "audio: f32, s16 or s32, any channel count, 8-192 kHz")]
    outputs = [("out", ["audio"], "the input audio, unchanged (same frames)"),
               ("events", ["json"], "speech start/end events (JSON)")]
    params = [
        ParamDef("frame_ms", INT, "analysis frame: 10, 20 or 30 ms", 30, min=10, max=30, aliases=["frame_duration_ms"]),
        ParamDef("threshold", FLOAT, "speech probability at or above which a frame counts as speech", 0.5, min=0,
                 max=1, flags=RUNTIME),
        ParamDef("hysteresis", FLOAT, "once speaking, frames down to threshold - hysteresis still count as speech",
                 0.15, min=0, max=1, flags=RUNTIME),
        ParamDef("min_speech_ms", INT, "speech must last this long before a start is reported (shorter bursts are "
                                       "ignored)", 90, min=0, max=10000, aliases=["min_speech_duration_ms"],
                 flags=RUNTIME),
        ParamDef("min_silence_ms", INT, "hangover: silence must last this long before an end is reported (shorter "
                                        "pauses stay inside)", 200, min=0, max=10000,
                 aliases=["min_silence_duration_ms"], flags=RUNTIME),
        ParamDef("speech_pad_ms", INT, "reported starts are this much earlier and ends this much later than the "
                                       "detected speech", 30, min=0, max=5000, flags=RUNTIME),
        ParamDef("sample_rate", INT, "required input rate in Hz (the graph checks links against it); 0 = any rate "
                                     "from 8000 to 192000", 0, min=0, max=192000, aliases=["sampling_rate"]),
        ParamDef("min_energy", FLOAT, "RMS level (full scale 1.0) below which a frame is never speech", 1e-3, min=0,
                 max=1, aliases=["energy_threshold"]),
        ParamDef("frame_events", BOOL, "also emit one probability event per analysis frame", 0, flags=RUNTIME),
        ParamDef("noise_window_ms", INT, "history the noise floor is learned from (its 20th percentile per band)",
                 5000, min=500, max=60000),
    ]
    example = "- id: vad\n  node_type: VAD\n  params: { frame_ms: 20, threshold: 0.5, min_silence_ms: 300 }\n"

    @classmethod
    def negotiate(cls, config: Dict[str, Any], ins: List[Caps], in_req: List[Caps], outs: List[Caps]) -> None:
        fms, sr = config["frame_ms"], config["sample_rate"]
        if fms not in (10, 20, 30):
            raise NodeFailure(EPARAM, f"params.frame_ms: must be 10, 20 or 30 (got {fms})")
        if sr != 0 and sr < 8000:
            raise NodeFailure(EPARAM, f"params.sample_rate: {sr} Hz is below 8000 Hz (0 accepts any rate)")
        if ins[0].rate and (ins[0].rate < 8000 or ins[0].rate > 192000):
            raise NodeFailure(ECAPS, f"VAD needs audio at 8000..192000 Hz; its input is {ins[0].rate} Hz")
        if sr:
            in_req[0].rate = sr
        outs[0] = ins[0].copy()
        outs[0].kinds = {"audio"}
        if sr:
            outs[0].rate = sr

    def init(self) -> None:
        self.dsp: Optional[Detector] = None
        self.rate = 0
        self.edge_factor = 0.0
        self.buf: Optional[np.ndarray] = None
        self.fill = 0
        self.in_index = 0
        self.base_index = 0
        self.base_ms = 0.0
        self.speaking = False
        self.run = self.quiet = 0
        self.onset = self.last_start = 0
        self.last_res: Optional[Result] = None
        self.after_res: Optional[Result] = None
        self.prev_res: Optional[Result] = None
        self.have_prev = False
        self.start_ev = self.floor_ev = 0
        self.speech_ms = 0.0
        self.pending: List[Frame] = []

    def _index_ms(self, idx: int) -> float:
        return self.base_ms + (float(idx) - float(self.base_index)) * 1000.0 / self.rate

    def _queue_event(self, start: bool, end: bool, prob: float, at: int, frm: int) -> None:
        t = self._index_ms(at)
        ev: Dict[str, Any] = {"is_speech_start": start, "is_speech_end": end, "has_speech": self.speaking,
                              "speech_probability": prob, "timestamp_ms": t}
        if end:
            t0 = self._index_ms(frm)
            ev["start_ms"] = t0
            ev["duration_ms"] = t - t0
        self.pending.append(Frame("json", ev, ts=llround(t * 1000.0)))

    def _block_len(self, k: int) -> int:
        d = self.dsp
        return d.n - (d.n_sub - 1) * d.sub_len if k + 1 == d.n_sub else d.sub_len  # type: ignore[union-attr]

    def _refine_onset(self, s: int, r: Result, p: Optional[Result]) -> int:
        thr = r.noise * self.edge_factor
        j = 0
        while j < r.n_sub and r.sub[j] <= thr:
            j += 1
        if j == r.n_sub:
            return s
        if j > 0 or p is None:
            return s + j * self.dsp.sub_len  # type: ignore[union-attr]
        at = s
        k = p.n_sub
        while k > 0 and p.sub[k - 1] > thr:
            at -= self._block_len(k - 1)
            k -= 1
        return at

    def _refine_offset(self, s: int, r: Result, a: Optional[Result]) -> int:
        d = self.dsp
        thr = r.noise * self.edge_factor
        j = r.n_sub
        while j > 0 and r.sub[j - 1] <= thr:
            j -= 1
        if j == 0:
            return s + d.n  # type: ignore[union-attr]
        if j < r.n_sub or a is None:
            return s + j * d.sub_len  # type: ignore[union-attr]
        at = s + d.n  # type: ignore[union-attr]
        k = 0
        while k < a.n_sub and a.sub[k] > thr:
            at += self._block_len(k)
            k += 1
        return at

    def _end_speech(self, prob: float, limit: Optional[int]) -> None:
        cfg = self.config
        end = self._refine_offset(self.last_start, self.last_res, self.after_res if self.quiet else None)
        end += cfg["speech_pad_ms"] * self.rate // 1000
        if limit is not None and end > limit:
            end = limit
        if end < self.start_ev:
            end = self.start_ev
        self.speaking = False
        self.run = self.quiet = 0
        self.floor_ev = end
        self.speech_ms += (end - self.start_ev) * 1000.0 / self.rate
        self._queue_event(False, True, prob, end, self.start_ev)

    def _analyse(self, s: int) -> None:
        cfg = self.config
        r = self.dsp.frame(self.buf)  # type: ignore[union-attr,arg-type]
        strong = r.prob >= cfg["threshold"]
        cont = r.prob >= cfg["threshold"] - cfg["hysteresis"]
        fms = cfg["frame_ms"]
        if cfg["frame_events"]:
            self._queue_event(False, False, r.prob, s, s)
        if not self.speaking:
            if strong or (cont and self.run > 0):
                if self.run == 0:
                    self.onset = self._refine_onset(s, r, self.prev_res if self.have_prev else None)
                self.run += 1 if strong else 0
                self.quiet = 0
                self.last_start = s
                self.last_res = r
                if self.run * fms >= cfg["min_speech_ms"]:
                    pad = cfg["speech_pad_ms"] * self.rate // 1000
                    at = self.onset - pad if self.onset > pad else 0
                    if at < self.floor_ev:
                        at = self.floor_ev
                    self.speaking = True
                    self.start_ev = at
                    self._queue_event(True, False, r.prob, at, at)
            elif self.run > 0:
                self.quiet += 1
                if self.quiet * fms >= cfg["min_silence_ms"]:
                    self.run = 0
                    self.quiet = 0
        else:
            if cont:
                self.quiet = 0
                self.last_start = s
                self.last_res = r
            else:
                if self.quiet == 0:
                    self.after_res = r
                self.quiet += 1
                if self.quiet * fms >= cfg["min_silence_ms"]:
                    self._end_speech(r.prob, None)
        self.prev_res = r
        self.have_prev = True

    def _emit_pending(self) -> None:
        pending, self.pending = self.pending, []
        for f in pending:
            self.emit(f, 1)
        if self.speech_ms > 0:
            self.stat("speech_ms", "set", self.speech_ms)

    def _start_stream(self, rate: int) -> None:
        cfg = self.config
        if rate < 8000 or rate > 192000:
            raise NodeFailure(EFORMAT, f"VAD needs audio at 8000..192000 Hz, got {rate} Hz")
        if cfg["sample_rate"] and rate != cfg["sample_rate"]:
            raise NodeFailure(EFORMAT, f"audio arrives at {rate} Hz but sample_rate is {cfg['sample_rate']} Hz "
                                       f"(resample it, or drop sample_rate to accept any rate)")
        try:
            self.dsp = Detector(rate, cfg["frame_ms"], cfg["noise_window_ms"], cfg["min_energy"])
        except NodeFailure as exc:
            raise NodeFailure(exc.code, f"cannot set up the detector for {rate} Hz") from None
        self.buf = np.zeros(self.dsp.n, np.float32)
        self.rate = rate
        self.edge_factor = 1.0 + EDGE_SD * math.sqrt(2.0 / self.dsp.sub_len)

    def process(self, port: int, frame: Frame) -> None:
        a = frame.value
        if self.dsp is None:
            self._start_stream(a.sample_rate)
        elif a.sample_rate != self.rate:
            raise NodeFailure(EFORMAT, f"audio rate changed from {self.rate} Hz to {a.sample_rate} Hz mid-stream")
        if frame.ts is not None:
            self.base_index = self.in_index
            self.base_ms = frame.ts / 1000.0
        n = self.dsp.n  # type: ignore[union-attr]
        mono = _downmix(frames_2d(a))
        frames = len(mono)
        i = 0
        try:
            while i < frames:
                k = min(n - self.fill, frames - i)
                self.buf[self.fill:self.fill + k] = mono[i:i + k]  # type: ignore[index]
                self.fill += k
                i += k
                if self.fill == n:
                    self.fill = 0
                    self._analyse(self.in_index + i - n)
        finally:
            self.in_index += frames
        try:
            self.emit(frame)
        except NodeFailure:
            self.pending = []
            raise
        self._emit_pending()

    def flush(self) -> None:
        if self.dsp is None or not self.speaking:
            return
        self._end_speech(0.0, self.in_index)
        self._emit_pending()

    def reset(self) -> None:
        self.pending = []
        self.fill = 0
        self.speaking = False
        self.run = self.quiet = 0
        self.have_prev = False
        self.floor_ev = self.in_index


# ---------------------------------------------------------- SpeechSegmenter --

@register
class SpeechSegmenter(FallbackNode):
    name = "SpeechSegmenter"
    doc = "Cuts audio into one frame per utterance from VAD events (pre-roll, min/max length)"
    family = "audio"
    aliases = ("AudioBufferAccumulatorNode", "AudioBufferAccumulator")
    inputs = [("in", ["audio", "json"], "audio (f32, s16 or s32); VAD events are accepted here too"),
              ("events", ["json"], "VAD events: is_speech_start / is_speech_end with timestamp_ms")]
    outputs = [("out", ["audio"], "one f32 frame per utterance")]
    params = [
        ParamDef("pad_ms", INT, "audio kept before each start (pre-roll) and after each end", 100, min=0, max=10000,
                 flags=RUNTIME),
        ParamDef("min_utterance_ms", INT, "shorter utterances (padding included) are dropped", 250, min=0,
                 max=600000, aliases=["min_utterance_duration_ms"], flags=RUNTIME),
        ParamDef("max_utterance_ms", INT, "longer utterances are emitted in parts of this length", 30000, min=100,
                 max=600000, aliases=["max_utterance_duration_ms"], flags=RUNTIME),
        ParamDef("history_ms", INT, "audio kept while no utterance is open: how far back a start event can reach",
                 2000, min=100, max=60000, flags=RUNTIME),
    ]
    example = ("- id: utterances\n  node_type: SpeechSegmenter\n  params: { pad_ms: 200, min_utterance_ms: 300 }\n")

    @classmethod
    def negotiate(cls, config: Dict[str, Any], ins: List[Caps], in_req: List[Caps], outs: List[Caps]) -> None:
        outs[0] = Caps(["audio"], "f32", ins[0].rate, ins[0].channels)

    def init(self) -> None:
        cfg = self.config
        if cfg["max_utterance_ms"] < cfg["min_utterance_ms"]:
            raise NodeFailure(EPARAM, f"params.max_utterance_ms ({cfg['max_utterance_ms']}) is shorter than "
                                      f"params.min_utterance_ms ({cfg['min_utterance_ms']})")
        self.have_fmt = False
        self.rate = self.channels = 0
        self.buf: Optional[np.ndarray] = None  # (cap, channels) f32; buf[0] is sample index buf_start
        self.len = self.cap = 0
        self.buf_start = 0
        self.total = 0
        self.base_index = 0
        self.base_ms = 0.0
        self.open = False
        self.utt_start = 0
        self.closing = False
        self.close_at = 0
        self.last_end = 0
        self.part = 0
        self.pending_start = False

    def _index_ms(self, idx: int) -> float:
        return self.base_ms + (float(idx) - float(self.base_index)) * 1000.0 / self.rate

    def _ms_index(self, ms: float, lo: int, hi: Optional[int]) -> int:
        idx = float(self.base_index) + (ms - self.base_ms) * self.rate / 1000.0
        if idx <= float(lo):
            return lo
        if hi is not None and idx >= float(hi):
            return hi
        return llround(idx)

    def _ms_samples(self, ms: int) -> int:
        return ms * self.rate // 1000

    def _emit_range(self, a: int, b: int, continued: bool) -> None:
        ms = (b - a) * 1000.0 / self.rate
        if self.part == 0 and not continued and ms < self.config["min_utterance_ms"]:
            self.stat("dropped_short", "add", 1)
            return
        lo = a - self.buf_start
        data = np.array(self.buf[lo:lo + (b - a)])  # type: ignore[index]
        t0, t1 = self._index_ms(a), self._index_ms(b)
        meta = {"start_ms": "%.1f" % t0, "end_ms": "%.1f" % t1, "duration_ms": "%.1f" % ms, "part": str(self.part)}
        if continued:
            meta["continued"] = "1"
        out = audio_frame(data, self.rate, ts=llround(t0 * 1000.0))
        out.meta = meta
        self.stat("utterances", "add", 1)
        self.emit(out)

    def _split_long(self, limit: int) -> None:
        mx = self._ms_samples(self.config["max_utterance_ms"])
        while self.open and mx > 0 and limit > self.utt_start and limit - self.utt_start > mx:
            self._emit_range(self.utt_start, self.utt_start + mx, True)
            self.utt_start += mx
            self.part += 1
            self.stat("splits", "add", 1)

    def _close_utterance(self, end: int) -> None:
        try:
            self._split_long(end)
            if end > self.utt_start:
                self._emit_range(self.utt_start, end, False)
        finally:
            self.open = self.closing = False
            self.part = 0
            self.last_end = end

    def _trim(self, incoming: int) -> None:
        hist = self._ms_samples(self.config["history_ms"])
        keep = self.total - hist if self.total > hist else 0
        if self.open and self.utt_start < keep:
            keep = self.utt_start
        if keep <= self.buf_start:
            return
        drop = keep - self.buf_start
        if drop < self.len // 2 and self.len + incoming <= self.cap:
            return  # move only when the dead prefix is large, so the cost is amortised
        self.buf[:self.len - drop] = self.buf[drop:self.len]  # type: ignore[index]
        self.len -= drop
        self.buf_start = keep

    _MISSING = object()

    def _on_event(self, f: Frame) -> None:
        v = f.value
        if not isinstance(v, dict):
            return  # not a VAD event
        start = v.get("is_speech_start") is True
        end = v.get("is_speech_end") is True
        if not start and not end:
            return
        t = v.get("timestamp_ms", self._MISSING)
        has_t = t is not self._MISSING
        if has_t and (isinstance(t, bool) or not isinstance(t, (int, float))):
            raise NodeFailure(EFORMAT, "VAD event: timestamp_ms must be a number, got a "
                                       + ("string" if isinstance(t, str) else "non-number"))
        if not self.have_fmt:  # no clock yet: the utterance starts with the first audio
            if start:
                self.pending_start = True
            if end:
                self.pending_start = False
            return
        hist, now = self._ms_samples(self.config["history_ms"]), self.total
        lo = now - hist if now > hist and now - hist > self.buf_start else self.buf_start
        if end and self.open and not self.closing:
            at = self._ms_index(float(t), self.utt_start, None) if has_t else now
            at += self._ms_samples(self.config["pad_ms"])
            self.closing = True
            self.close_at = at
            if at <= now:
                self._close_utterance(at)
        if start:
            at = self._ms_index(float(t), 0, None) if has_t else now
            pad = self._ms_samples(self.config["pad_ms"])
            at = at - pad if at > pad else 0
            if self.open:  # a new start ends the open utterance there (or now)
                stop = self.close_at if self.closing and self.close_at < at else at
                if stop > now:
                    stop = now
                if stop < self.utt_start:
                    stop = self.utt_start
                self._close_utterance(stop)
            if at < self.last_end:
                at = self.last_end
            if at < lo:
                self.stat("preroll_truncated", "add", 1)
                at = lo
            self.open = True
            self.closing = False
            self.utt_start = at
            self.part = 0

    def _append_audio(self, f: Frame) -> None:
        a = f.value
        if not self.have_fmt:
            self.rate, self.channels = a.sample_rate, a.channels
            self.have_fmt = True
            if self.pending_start:
                self.open = True
                self.utt_start = 0
                self.pending_start = False
        elif a.sample_rate != self.rate or a.channels != self.channels:
            raise NodeFailure(EFORMAT, f"audio changed mid-stream from {self.rate} Hz {self.channels} ch to "
                                       f"{a.sample_rate} Hz {a.channels} ch")
        if f.ts is not None:
            self.base_index = self.total
            self.base_ms = f.ts / 1000.0
        x = frames_2d(a)
        frames = len(x)
        self._trim(frames)
        if self.len + frames > self.cap:
            cap = self.cap or self.rate
            while cap < self.len + frames:
                cap *= 2
            nb = np.zeros((cap, self.channels), np.float32)
            if self.len:
                nb[:self.len] = self.buf[:self.len]  # type: ignore[index]
            self.buf, self.cap = nb, cap
        if x.dtype == np.float32:
            y = x
        elif x.dtype == np.int16:
            y = x.astype(np.float32) * _F(1.0 / 32768.0)
        else:
            y = (x.astype(np.float64) * (1.0 / 2147483648.0)).astype(np.float32)
        self.buf[self.len:self.len + frames] = y  # type: ignore[index]
        self.len += frames
        self.total += frames
        self._split_long(self.close_at if self.closing and self.close_at < self.total else self.total)
        if self.open and self.closing and self.total >= self.close_at:
            self._close_utterance(self.close_at)

    def process(self, port: int, frame: Frame) -> None:
        if frame.kind == "json":
            return self._on_event(frame)
        self._append_audio(frame)

    def flush(self) -> None:
        if not self.open:
            return
        self._close_utterance(self.close_at if self.closing and self.close_at < self.total else self.total)

    def reset(self) -> None:
        self.buf_start += self.len
        self.len = 0
        self.open = self.closing = self.pending_start = False
        self.part = 0
        self.last_end = self.total
