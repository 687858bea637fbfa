"""The audio node family in numpy (src/nodes/audio/*.c): AudioResample,
FormatConverter, ChannelMixer, AudioChunker, Gain, AudioLevel.  The VAD and
SpeechSegmenter are in vad.py.

Same parameter tables, ports, caps, errors, timestamps (audio_util.h's stream
clock) and sample arithmetic as the C nodes.  What is equal and what is not
(tests/test_equivalence.py measures it):

* FormatConverter, ChannelMixer, AudioChunker, Gain and AudioLevel's samples
  are bit-exact with the C nodes: the same scaling, rounding to nearest with
  ties to even, clamping and NaN handling, computed in the same precision.
* AudioResample is a different filter: a linear-phase Kaiser-window
  polyphase FIR (scipy.signal.upfirdn) designed to libsoxr's specification
  for each quality (passband end, stopband at the lower Nyquist, 16/20/28
  bits of rejection), delay-compensated like soxr, so output sample k is the
  signal at k / target_rate and the whole stream has round(n × ratio)
  frames.  Its output equals the native one within a stated SNR, not
  bit-exactly, and it releases output as soon as the filter allows (soxr
  releases in DFT blocks), so the chunking of its output differs; the
  concatenated stream does not depend on the input chunking.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ...data import Audio
from ..params import BOOL, ENUM, FLOAT, INT, REQUIRED, RUNTIME, ParamDef
from . import EFORMAT, ENODE, EPARAM, Caps, FallbackNode, Frame, NodeFailure, register

ECAPS = "RM_ECAPS"
AUDIO = ["audio"]
MIN_RATE, MAX_RATE = 1000, 768000
DB_FLOOR = -200.0

_DTYPE = {"f32": np.dtype(np.float32), "s16": np.dtype(np.int16), "s32": np.dtype(np.int32)}
_F32 = np.float32


def fmt_of(a: np.ndarray) -> str:
    return "f32" if a.dtype == np.float32 else "s16" if a.dtype == np.int16 else "s32"


# ---------------------------------------------------------- audio_util.c --

def to_f32(x: np.ndarray) -> np.ndarray:
    """Any format to f32 with the family's scaling (exact for s16; s32 keeps
    24 significant bits, rounded to nearest)."""
    if x.dtype == np.float32:
        return x
    scale = _F32(1.0 / 32768.0) if x.dtype == np.int16 else _F32(1.0 / 2147483648.0)
    return x.astype(np.float32) * scale


def convert(x: np.ndarray, to: str) -> Tuple[np.ndarray, int]:
    """rm__audio_convert(): (converted array, samples clamped)."""
    src = fmt_of(x)
    if src == to:
        return x.copy(), 0
    if to == "f32":
        return to_f32(x), 0
    if to == "s16":
        if src == "f32":
            with np.errstate(invalid="ignore", over="ignore"):
                y = x * _F32(32768.0)
            clipped = int(np.count_nonzero((y > 32767.0) | (y < -32768.0)))
            y = np.clip(y, _F32(-32768.0), _F32(32767.0))
            y[np.isnan(y)] = 0
            return np.rint(y).astype(np.int16), clipped
        clipped = int(np.count_nonzero(x >= 2147450880))  # 32767.5 x 65536 rounds past 32767
        y = np.rint(x.astype(np.float64) / 65536.0)
        return np.minimum(y, 32767.0).astype(np.int16), clipped
    if src == "f32":
        y = x.astype(np.float64) * 2147483648.0
        clipped = int(np.count_nonzero((y > 2147483647.0) | (y < -2147483648.0)))
        y = np.clip(y, -2147483648.0, 2147483647.0)
        y[np.isnan(y)] = 0
        return np.rint(y).astype(np.int32), clipped
    return x.astype(np.int32) * np.int32(65536), 0


def ms_to_frames(ms: float, rate: int) -> int:
    """Rounded to nearest, ties away from zero (llround)."""
    x = ms * rate / 1000.0
    if x <= 0:
        return 0
    f = math.floor(x)
    return int(f) + (1 if x - f >= 0.5 else 0)


def db(amplitude: float) -> float:
    if not amplitude > 0:
        return DB_FLOOR
    return max(20.0 * math.log10(amplitude), DB_FLOOR)


def db_to_gain(d: float) -> float:
    return math.pow(10.0, d / 20.0)


def llround(x: float) -> int:
    """C llround(): to nearest, ties away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def audio_frame(samples: np.ndarray, rate: int, props: Optional[Frame] = None, ts: Optional[int] = None) -> Frame:
    """A new audio frame (samples owned by it, read-only): shape (frames,) for
    mono, (frames, channels) otherwise, like the native conversion."""
    if samples.ndim == 2 and samples.shape[1] == 1:
        samples = samples.reshape(-1)
    f = Frame("audio", Audio(readonly(samples), rate), props)
    if ts is not None:
        f.ts = ts
    return f


def frames_2d(a: Audio) -> np.ndarray:
    """The samples as (frames, channels)."""
    s = a.samples
    return s.reshape(-1, 1) if s.ndim == 1 else s


class Clock:
    """rm__audio_clock: timestamps of a node's output from its sample count,
    so they stay exact however the input was chunked."""

    __slots__ = ("base_us", "frames", "rate", "seq")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.base_us = 0
        self.frames = 0
        self.rate = 0
        self.seq = 0

    def now(self) -> int:
        if not self.rate:
            return self.base_us
        return self.base_us + (self.frames * 1000000 + self.rate // 2) // self.rate

    def start(self, f: Optional[Frame], rate: int) -> None:
        if self.rate == rate:
            return
        if self.rate:
            self.base_us = self.now()
        else:
            self.base_us = f.ts if f is not None and f.ts is not None else 0
        self.frames = 0
        self.rate = rate

    def stamp(self, out: Frame) -> None:
        out.ts = self.now()
        self.seq += 1
        self.frames += out.value.frames


def _in_port(doc: str) -> List[Tuple[str, List[str], str]]:
    return [("in", AUDIO, doc)]


# ------------------------------------------------------------ FormatConverter --

FORMAT_NAMES = ["f32", "s16", "s32", "i16", "i32"]
FORMAT_VALUES = {"f32": "f32", "s16": "s16", "s32": "s32", "i16": "s16", "i32": "s32"}


@register
class FormatConverter(FallbackNode):
    name = "FormatConverter"
    doc = "Converts audio between f32, s16 and s32 (rounded, clamped)"
    family = "audio"
    aliases = ("RustFormatConverterNode",)
    inputs = _in_port("audio, f32/s16/s32")
    outputs = [("out", AUDIO, "the same audio in target_format")]
    params = [ParamDef("target_format", ENUM, "output sample format: f32, s16 or s32 (i16 / i32 are the "
                                              "original's names for s16 / s32)", def_str="f32", enum=FORMAT_NAMES)]
    example = "- id: to_s16\n  node_type: FormatConverter\n  params: { target_format: s16 }\n"

    @classmethod
    def negotiate(cls, config: Dict[str, Any], ins: List[Caps], in_req: List[Caps], outs: List[Caps]) -> None:
        outs[0] = ins[0].copy()
        outs[0].kinds = {"audio"}
        outs[0].format = FORMAT_VALUES[config["target_format"]]

    def process(self, port: int, frame: Frame) -> None:
        to = FORMAT_VALUES[self.config["target_format"]]
        a = frame.value
        if fmt_of(a.samples) == to:
            return self.emit(frame)  # zero copy
        y, clipped = convert(a.samples, to)
        if clipped:
            self.stat("clipped_samples", "add", clipped)
        self.emit(audio_frame(y, a.sample_rate, frame))


# ---------------------------------------------------------------- Resampler --

QUALITY_NAMES = ["low", "medium", "high", "very_high", "Low", "Medium", "High"]
# libsoxr's quality recipes as documented: the passband ends at 67.6 % (low)
# or 91.3 % (medium and up) of the lower Nyquist, the stopband begins at that
# Nyquist, rejection is 16 / 20 / 28 bits (x 6.02 dB).  (Measured against the
# native node with white noise, the responses agree to about -50 dB.)
_QUALITY = {"low": (1385 / 2048.0, 16), "medium": (0.913, 16), "high": (0.913, 20), "very_high": (0.913, 28)}
MAX_TAPS = 1 << 23  # the prototype filter of L phases; beyond this a ratio is refused


@lru_cache(maxsize=32)
def _design(up: int, down: int, quality: str) -> Tuple[np.ndarray, int]:
    """The prototype low-pass (gain `up`, odd length, linear phase) at the
    rate in_rate x up, and its centre tap."""
    from scipy import signal

    passband, bits = _QUALITY[quality.lower()]
    atten = bits * 20.0 * math.log10(2.0) + 3.0  # a little margin over the spec
    # normalised to the upsampled Nyquist: the lower of the two Nyquists is 1/max(up, down)
    nyq = 1.0 / max(up, down)
    width = (1.0 - passband) * nyq
    numtaps, beta = signal.kaiserord(atten, width)
    per_phase = -(-numtaps // up)
    n = per_phase * up
    if n % 2 == 0:
        n -= 1
    if n > MAX_TAPS:
        raise NodeFailure(ENODE, f"the pure-Python resampler cannot convert with a rate ratio of {up}/{down} "
                                 f"({n} filter taps); use the native runtime")
    cutoff = (1.0 + passband) / 2.0 * nyq
    h = signal.firwin(n, cutoff, window=("kaiser", beta)) * up
    return h, (n - 1) // 2


def _polyphase(h: np.ndarray, up: int, down: int) -> Any:
    """x -> scipy.signal.upfirdn(h, x, up, down, axis=0), with the polyphase
    filter prepared once (upfirdn rearranges h on every call, which costs as
    much as filtering a 20 ms chunk with a long filter)."""
    try:
        from scipy.signal._upfirdn import _UpFIRDn  # scipy's own engine behind upfirdn()

        fir = _UpFIRDn(h, np.float64, up, down)
        return lambda x: fir.apply_filter(x, axis=0)
    except (ImportError, AttributeError, TypeError):  # another scipy: the public function
        from scipy.signal import upfirdn

        return lambda x: upfirdn(h, x, up, down, axis=0)


class StreamResampler:
    """Streaming rational-ratio resampling: y[k] = sum_n x[n] h[k*down - n*up + c]
    with x[n < 0] = 0, so output k is the input signal at k / out_rate (the
    filter's delay is compensated, as soxr does).  Output k is released as
    soon as every input sample it needs has arrived; flush() releases the
    rest, zero-padded, up to round(n_in x ratio) frames.  Each output is the
    same sum over the same samples however the input was chunked."""

    def __init__(self, in_rate: int, out_rate: int, channels: int, quality: str):
        g = math.gcd(in_rate, out_rate)
        self.up, self.down = out_rate // g, in_rate // g
        self.channels = channels
        h, c = _design(self.up, self.down, quality)
        z = (-c) % self.down  # leading zeros so that the centre falls on the output grid
        self.h = np.concatenate([np.zeros(z), h]) if z else h
        self.c = c
        self.d = (c + z) // self.down
        self._fir = _polyphase(self.h, self.up, self.down)
        self.clear()

    def clear(self) -> None:
        self.buf = np.zeros((0, self.channels), np.float32)
        self.s = 0       # input index of buf[0] (a multiple of down)
        self.n_in = 0    # input frames received
        self.k = 0       # next output index

    def delay_frames(self) -> float:
        """Output frames owed for the input received so far."""
        return self.n_in * self.up / self.down - self.k

    def _compute(self, k_end: int, pad: bool) -> np.ndarray:
        up, down, c = self.up, self.down, self.c
        k0 = self.k
        if k_end <= k0:
            return np.zeros((0, self.channels), np.float32)
        n_min = -((c - k0 * down) // up)  # first input the output k0 needs (ceil)
        s = max(0, n_min) // down * down
        if s > self.s:
            self.buf = self.buf[s - self.s:]
            self.s = s
        s = self.s
        n_max = ((k_end - 1) * down + c) // up  # last input the last output needs
        xs = self.buf[: n_max - s + 1]
        if pad and len(xs) < n_max - s + 1:
            xs = np.concatenate([xs, np.zeros((n_max - s + 1 - len(xs), self.channels), np.float32)])
        y = self._fir(xs.astype(np.float64))
        j0 = k0 + self.d - s * up // down
        self.k = k_end
        return y[j0: j0 + (k_end - k0)].astype(np.float32)

    def push(self, x: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf, x]) if len(self.buf) else np.array(x, np.float32)
        self.n_in += len(x)
        top = self.n_in * self.up - 1 - self.c
        k_end = top // self.down + 1 if top >= 0 else 0
        return self._compute(k_end, False)

    def flush(self) -> np.ndarray:
        total = (2 * self.n_in * self.up + self.down) // (2 * self.down)  # round(n_in x ratio)
        y = self._compute(total, True)
        self.clear()
        return y


# ------------------------------------------------------------ AudioResample --

@register
class AudioResample(FallbackNode):
    name = "AudioResample"
    doc = "Streaming sample-rate conversion (libsoxr), any channel count, f32 output"
    family = "audio"
    aliases = ("FastResampleNode", "RustResampleNode")
    inputs = _in_port("audio, f32/s16/s32, any rate and channels")
    outputs = [("out", AUDIO, "f32 audio at target_rate")]
    params = [
        ParamDef("target_rate", INT, "output sample rate in Hz", min=MIN_RATE, max=MAX_RATE, flags=REQUIRED),
        ParamDef("source_rate", INT, "expected input rate in Hz; a frame at another rate is an error (0: take it "
                                     "from the frames)", 0, min=0, max=MAX_RATE),
        ParamDef("quality", ENUM, "libsoxr recipe: low (LQ), medium (MQ), high (HQ, 20-bit), very_high (VHQ, "
                                  "28-bit); Low/Medium/High are the original's spellings", def_str="high",
                 enum=QUALITY_NAMES),
        ParamDef("low_latency", BOOL, "filter in small blocks so every 20 ms input chunk yields output (more CPU)",
                 0),
        ParamDef("channels", INT, "expected channel count; a frame with another count is an error (0: any)", 0,
                 min=0, max=1024),
    ]
    example = "- id: resample\n  node_type: AudioResample\n  params: { target_rate: 16000, quality: high }\n"

    @classmethod
    def negotiate(cls, config: Dict[str, Any], ins: List[Caps], in_req: List[Caps], outs: List[Caps]) -> None:
        src = config["source_rate"]
        if src and src < MIN_RATE:
            raise NodeFailure(EPARAM, f"parameter 'source_rate' of AudioResample: {src} Hz is below {MIN_RATE} Hz "
                                      f"(0 takes the rate from the input frames)")
        in_req[0].rate = src
        in_req[0].channels = config["channels"]
        outs[0].rate = config["target_rate"]
        outs[0].format = "f32"
        outs[0].channels = config["channels"] or ins[0].channels

    def init(self) -> None:
        self.rs: Optional[StreamResampler] = None  # None while passing through or before the first frame
        self.in_rate = 0
        self.channels = 0
        self.clock = Clock()
        self.props: Optional[Frame] = None
        cfg = self.config
        if cfg["source_rate"] and cfg["channels"]:
            self._setup(cfg["source_rate"], cfg["channels"])

    def _setup(self, rate: int, ch: int) -> None:
        target = self.config["target_rate"]
        self.in_rate, self.channels = rate, ch
        if rate == target:
            return
        quality = self.config["quality"].lower()
        try:
            self.rs = StreamResampler(rate, target, ch, quality)
        except NodeFailure:
            self.in_rate = 0
            raise

    def _emit_out(self, y: np.ndarray) -> None:
        if len(y) == 0:
            return
        out = audio_frame(y, self.config["target_rate"], self.props)
        self.clock.stamp(out)
        self.emit(out)

    def _drain(self) -> None:
        if self.rs is None:
            return
        y = self.rs.flush()
        self.rs = None
        self.in_rate = 0
        self._emit_out(y)

    def process(self, port: int, frame: Frame) -> None:
        cfg = self.config
        a = frame.value
        rate, ch, target = a.sample_rate, a.channels, cfg["target_rate"]
        if cfg["source_rate"] and rate != cfg["source_rate"]:
            raise NodeFailure(EFORMAT, f"input frame is at {rate} Hz but source_rate is {cfg['source_rate']} Hz")
        if rate < MIN_RATE or rate > MAX_RATE:
            raise NodeFailure(EFORMAT, f"input rate {rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
        if cfg["channels"] and ch != cfg["channels"]:
            raise NodeFailure(EFORMAT, f"input frame has {ch} channels but channels is {cfg['channels']}")
        if self.in_rate != rate or self.channels != ch:
            self._drain()
            self._setup(rate, ch)
        self.clock.start(frame, target)
        if a.frames == 0:
            return
        self.props = frame
        if self.rs is None:  # already at target_rate
            if a.samples.dtype == np.float32:  # zero copy; the frame keeps its own timestamp
                self.clock.frames += a.frames
                self.clock.seq += 1
                return self.emit(frame)
            return self._emit_out(to_f32(frames_2d(a)))
        y = self.rs.push(to_f32(frames_2d(a)))
        self._emit_out(y)
        self.stat("delay_ms", "sample", self.rs.delay_frames() * 1000.0 / target)

    def flush(self) -> None:
        self._drain()
        self.props = None

    def reset(self) -> None:
        if self.rs is not None:
            self.rs.clear()  # drop the signal, keep the designed filter
        self.clock.reset()
        self.props = None


# ------------------------------------------------------------- ChannelMixer --

MIX_MODES = ["auto", "downmix", "upmix", "pick"]


def _out_channels(cfg: Dict[str, Any], n_in: int) -> Tuple[int, str]:
    want, mode = cfg["channels"], cfg["mode"]
    if mode == "downmix":
        return 1, ""
    if mode == "upmix":
        if n_in != 1:
            return 0, f"mode upmix needs mono input, got {n_in} channels"
        return want, ""
    if mode == "pick":
        if cfg["channel"] >= n_in:
            return 0, (f"channel {cfg['channel']} does not exist in {n_in}-channel input (channels are numbered "
                       f"from 0)")
        return want, ""
    if n_in == want or want == 1 or n_in == 1:
        return want, ""
    return 0, (f"cannot map {n_in} channels to {want} in mode auto; use mode pick, or downmix to 1 channel "
               f"first")


@register
class ChannelMixer(FallbackNode):
    name = "ChannelMixer"
    doc = "Downmixes to mono, upmixes mono, or picks one channel"
    family = "audio"
    inputs = _in_port("audio, f32/s16/s32, any channel count")
    outputs = [("out", AUDIO, "audio with `channels` channels, same format")]
    params = [
        ParamDef("channels", INT, "output channel count", 1, min=1, max=1024),
        ParamDef("mode", ENUM, "auto (by channel counts), downmix (average to mono), upmix (copy mono), pick (one "
                               "channel)", def_str="auto", enum=MIX_MODES),
        ParamDef("channel", INT, "input channel taken by mode pick (0 = first)", 0, min=0, max=1023),
    ]
    example = "- id: mono\n  node_type: ChannelMixer\n  params: { channels: 1 }\n"

    @classmethod
    def negotiate(cls, config: Dict[str, Any], ins: List[Caps], in_req: List[Caps], outs: List[Caps]) -> None:
        mode = config["mode"]
        if mode == "downmix" and config["channels"] != 1:
            raise NodeFailure(EPARAM, f"parameter 'channels' of ChannelMixer: mode downmix always gives 1 channel, "
                                      f"not {config['channels']}")
        if mode == "upmix":
            in_req[0].channels = 1
        outs[0] = ins[0].copy()
        outs[0].kinds = {"audio"}
        outs[0].channels = 1 if mode == "downmix" else config["channels"]
        if ins[0].channels and mode != "upmix":
            n, why = _out_channels(config, ins[0].channels)
            if not n:
                raise NodeFailure(ECAPS, f"ChannelMixer: {why}")

    def process(self, port: int, frame: Frame) -> None:
        a = frame.value
        n_in = a.channels
        out, why = _out_channels(self.config, n_in)
        if not out:
            raise NodeFailure(EFORMAT, why)
        mode = self.config["mode"]
        if mode == "auto":
            mode = "auto" if n_in == out else "downmix" if out == 1 else "upmix"
        if mode == "downmix" and n_in == 1:
            mode = "auto"
        if mode == "auto" or (n_in == 1 and out == 1):
            return self.emit(frame)  # identity
        x = frames_2d(a)
        if mode == "downmix":
            acc = x[:, 0].astype(np.float64)
            with np.errstate(invalid="ignore", over="ignore"):  # NaN / inf samples stay what they are
                for c in range(1, n_in):  # in channel order, like the C loop
                    acc += x[:, c]
                acc /= n_in
            y = acc.astype(np.float32) if x.dtype == np.float32 else np.rint(acc).astype(x.dtype)
        else:
            pick = self.config["channel"] if mode == "pick" else 0  # upmix reads channel 0
            y = np.repeat(x[:, pick:pick + 1], out, axis=1)
        self.emit(audio_frame(np.ascontiguousarray(y), a.sample_rate, frame))


# ------------------------------------------------------------- AudioChunker --

@register
class AudioChunker(FallbackNode):
    name = "AudioChunker"
    doc = "Re-cuts audio into fixed-size chunks (frames or ms); the remainder is flushed at end"
    family = "audio"
    aliases = ("AudioChunkerNode",)
    inputs = _in_port("audio, f32/s16/s32")
    outputs = [("out", AUDIO, "fixed-size chunks, same format")]
    params = [
        ParamDef("chunk_frames", INT, "frames (samples per channel) per chunk; 0: use chunk_ms", 0, min=0, max=1e8),
        ParamDef("chunk_ms", FLOAT, "chunk duration in ms when chunk_frames and chunk_size are 0 (rounded to the "
                                    "nearest frame)", 20, min=0.01, max=600000),
        ParamDef("chunk_size", INT, "the original's size in interleaved samples (frames × channels); 0: unused", 0,
                 min=0, max=1e9, aliases=["chunk_samples"]),
        ParamDef("pad_last", BOOL, "zero-pad the last, partial chunk to full size (else it is emitted shorter)", 0),
    ]
    example = "- id: chunks\n  node_type: AudioChunker\n  params: { chunk_ms: 20 }\n"

    @classmethod
    def negotiate(cls, config: Dict[str, Any], ins: List[Caps], in_req: List[Caps], outs: List[Caps]) -> None:
        size = config["chunk_size"]
        if size and config["chunk_frames"]:
            raise NodeFailure(EPARAM, "parameters 'chunk_size' and 'chunk_frames' of AudioChunker: set one, not both")
        if size and ins[0].channels and size % ins[0].channels:
            raise NodeFailure(EPARAM, f"parameter 'chunk_size' of AudioChunker: {size} interleaved samples is not a "
                                      f"whole number of {ins[0].channels}-channel frames")
        outs[0] = ins[0].copy()
        outs[0].kinds = {"audio"}

    def init(self) -> None:
        self.pending: Optional[np.ndarray] = None  # (frames, channels), less than one chunk
        self.layout: Optional[Tuple[Any, int, int]] = None  # dtype, rate, channels
        self.chunk = 0
        self.clock = Clock()
        self.props: Optional[Frame] = None

    def _chunk_frames(self, a: Audio) -> int:
        cfg, ch = self.config, a.channels
        if cfg["chunk_size"]:
            if cfg["chunk_size"] % ch:
                raise NodeFailure(EFORMAT, f"chunk_size {cfg['chunk_size']} counts interleaved samples and is not a "
                                           f"whole number of {ch}-channel frames; use a multiple of {ch} or set "
                                           f"chunk_frames")
            return cfg["chunk_size"] // ch
        if cfg["chunk_frames"]:
            return cfg["chunk_frames"]
        n = ms_to_frames(cfg["chunk_ms"], a.sample_rate)
        if not n:
            raise NodeFailure(EFORMAT, f"chunk_ms {cfg['chunk_ms']:g} is less than one frame at {a.sample_rate} Hz")
        return n

    def _emit_chunk(self, data: np.ndarray, total: int) -> None:
        if len(data) < total:
            data = np.concatenate([data, np.zeros((total - len(data), data.shape[1]), data.dtype)])
        out = audio_frame(np.array(data), self.layout[1], self.props)  # type: ignore[index]
        self.clock.stamp(out)
        self.emit(out)

    def _emit_rest(self) -> None:
        if self.pending is None or not len(self.pending):
            return
        rest, self.pending = self.pending, None
        self._emit_chunk(rest, self.chunk if self.config["pad_last"] else len(rest))

    def process(self, port: int, frame: Frame) -> None:
        a = frame.value
        layout = (a.samples.dtype, a.sample_rate, a.channels)
        if layout != self.layout:
            n = self._chunk_frames(a)
            self._emit_rest()
            self.layout, self.chunk = layout, n
        self.clock.start(frame, a.sample_rate)
        self.props = frame
        x = frames_2d(a)
        if not len(x):
            return
        if self.pending is not None and len(self.pending):
            take = min(self.chunk - len(self.pending), len(x))
            self.pending = np.concatenate([self.pending, x[:take]])
            x = x[take:]
            if len(self.pending) < self.chunk:
                return
            full, self.pending = self.pending, None
            self._emit_chunk(full, self.chunk)
        i = 0
        while len(x) - i >= self.chunk:
            self._emit_chunk(x[i:i + self.chunk], self.chunk)
            i += self.chunk
        self.pending = np.array(x[i:]) if i < len(x) else None

    def flush(self) -> None:
        self._emit_rest()
        self.props = None

    def reset(self) -> None:
        self.pending = None
        self.layout = None
        self.clock.reset()
        self.props = None


# --------------------------------------------------------------------- Gain --

def _peak(x: np.ndarray) -> float:
    if not x.size:
        return 0.0
    if x.dtype == np.int16:
        return int(np.abs(x.astype(np.int32)).max()) / 32768.0
    if x.dtype == np.int32:
        return int(np.abs(x.astype(np.int64)).max()) / 2147483648.0
    return float(np.fmax.reduce(np.abs(x), axis=None, initial=_F32(0)))  # NaN is skipped, like the C max


def _frame_peaks(x: np.ndarray) -> np.ndarray:
    """max |sample| over the channels of each frame, full scale (float64)."""
    if x.dtype == np.int16:
        return np.abs(x.astype(np.int32)).max(axis=1) / 32768.0
    if x.dtype == np.int32:
        return np.abs(x.astype(np.int64)).max(axis=1) / 2147483648.0
    return np.fmax.reduce(np.abs(x.astype(np.float64)), axis=1, initial=0.0)


@register
class Gain(FallbackNode):
    name = "Gain"
    doc = "Applies a gain in dB or linear, or normalises the running peak; clamps integer samples"
    family = "audio"
    inputs = _in_port("audio, f32/s16/s32")
    outputs = [("out", AUDIO, "scaled audio, same format")]
    params = [
        ParamDef("gain_db", FLOAT, "gain in dB (multiplies with `gain`)", 0, min=-120, max=60, flags=RUNTIME),
        ParamDef("gain", FLOAT, "linear gain factor (multiplies with `gain_db`)", 1, min=0, max=1000, flags=RUNTIME),
        ParamDef("normalize", BOOL, "normalise the running peak to normalize_dbfs instead of a fixed gain", 0),
        ParamDef("normalize_dbfs", FLOAT, "peak level normalisation aims at, dBFS", -1, min=-60, max=0, flags=RUNTIME),
        ParamDef("max_gain_db", FLOAT, "largest gain normalisation applies (to quiet or silent input), dB", 30, min=0,
                 max=60, flags=RUNTIME),
    ]
    example = "- id: louder\n  node_type: Gain\n  params: { gain_db: 6 }\n"

    @classmethod
    def negotiate(cls, config: Dict[str, Any], ins: List[Caps], in_req: List[Caps], outs: List[Caps]) -> None:
        if config["normalize"] and (config["gain"] != 1.0 or config["gain_db"] != 0.0):
            raise NodeFailure(EPARAM, "parameters 'gain'/'gain_db' of Gain: a fixed gain cannot be combined with "
                                      "normalize (the normaliser picks the gain)")
        outs[0] = ins[0].copy()
        outs[0].kinds = {"audio"}

    def init(self) -> None:
        self.peak = 0.0

    def process(self, port: int, frame: Frame) -> None:
        cfg = self.config
        a = frame.value
        x = a.samples
        per_frame = None
        if cfg["normalize"]:
            target, cap = db_to_gain(cfg["normalize_dbfs"]), db_to_gain(cfg["max_gain_db"])
            p = _peak(x)
            if p > self.peak and a.frames:
                # the running peak sample by sample, as the C node (framing-independent)
                m = _frame_peaks(x.reshape(a.frames, -1))
                run = np.maximum.accumulate(np.maximum(m, self.peak))
                with np.errstate(divide="ignore"):
                    q = np.where(run > 0, target / np.where(run > 0, run, 1.0), np.inf)
                per_frame = np.where((run > 0) & (q < cap), q, cap)
                self.peak = float(run[-1])
            g = target / self.peak if self.peak > 0 and target / self.peak < cap else cap
        else:
            g = cfg["gain"] * db_to_gain(cfg["gain_db"])
        self.stat("gain_db", "set", db(g))
        if (g == 1.0 and per_frame is None) or a.frames == 0:
            return self.emit(frame)
        shape = x.shape
        if per_frame is not None:
            x = x.reshape(a.frames, -1)
            g = per_frame[:, None]
        if x.dtype == np.float32:
            with np.errstate(invalid="ignore", over="ignore"):  # NaN / inf samples stay what they are
                y = x * (g.astype(np.float32) if per_frame is not None else _F32(g))
            clipped = int(np.count_nonzero((y > 1.0) | (y < -1.0)))
        else:
            lo, hi = (-32768.0, 32767.0) if x.dtype == np.int16 else (-2147483648.0, 2147483647.0)
            y = x.astype(np.float64) * g  # double: the rounding sees the exact product
            clipped = int(np.count_nonzero((y > hi) | (y < lo)))
            y = np.rint(np.clip(y, lo, hi)).astype(x.dtype)
        y = y.reshape(shape)
        if clipped:
            self.stat("clipped_samples", "add", clipped)
        self.emit(audio_frame(y, a.sample_rate, frame))

    def reset(self) -> None:
        self.peak = 0.0


# --------------------------------------------------------------- AudioLevel --

def _seq_sum(v: np.ndarray) -> float:
    """A sum in the C loop's order (np.cumsum adds strictly left to right)."""
    return float(np.cumsum(v)[-1]) if v.size else 0.0


@register
class AudioLevel(FallbackNode):
    name = "AudioLevel"
    doc = "Measures RMS and peak level (dBFS) and clipping per window; audio passes through"
    family = "audio"
    inputs = _in_port("audio, f32/s16/s32")
    outputs = [("out", AUDIO, "the input audio, unchanged"),
               ("events", ["json"], "{rms_dbfs, peak_dbfs, clipped_samples, timestamp_ms, duration_ms}")]
    params = [ParamDef("window_ms", FLOAT, "length of each measured window in ms (rounded to whole frames)", 100,
                       min=1, max=600000, flags=RUNTIME)]
    example = "- id: level\n  node_type: AudioLevel\n  params: { window_ms: 100 }\n"

    @classmethod
    def negotiate(cls, config: Dict[str, Any], ins: List[Caps], in_req: List[Caps], outs: List[Caps]) -> None:
        outs[0] = ins[0].copy()
        outs[0].kinds = {"audio"}

    def init(self) -> None:
        self.rate = self.channels = 0
        self.window = self.filled = 0
        self.sumsq = self.peak = 0.0
        self.clipped = 0
        self.start_us = 0
        self.clock = Clock()
        self.props: Optional[Frame] = None

    def _accumulate(self, x: np.ndarray) -> None:
        v = x.reshape(-1)
        if v.dtype == np.int16:
            w = v.astype(np.int64)
            self.sumsq += float(int((w * w).sum())) / (32768.0 * 32768.0)  # exact integer sum, as the C node
            m = int(np.abs(w).max()) if w.size else 0
            self.peak = max(self.peak, m / 32768.0)
            self.clipped += int(np.count_nonzero((v == 32767) | (v == -32768)))
            return
        if v.dtype == np.int32:
            d = v.astype(np.float64) / 2147483648.0
            self.clipped += int(np.count_nonzero((v == 2147483647) | (v == -2147483648)))
        else:
            d = v.astype(np.float64)
            self.clipped += int(np.count_nonzero(np.abs(d) > 1.0))
        # onto the window's running sum sample by sample, as the C node (framing-independent)
        self.sumsq = _seq_sum(np.concatenate([[self.sumsq], d * d]))
        if d.size:
            self.peak = max(self.peak, float(np.fmax.reduce(np.abs(d))))

    def _emit_event(self) -> None:
        samples = self.filled * self.channels
        if not (math.isfinite(self.sumsq) and math.isfinite(self.peak)):
            raise NodeFailure(EFORMAT, f"non-finite samples (NaN or infinity) in the window at "
                                       f"{self.start_us / 1000.0:.1f} ms")
        ev = {"rms_dbfs": db(math.sqrt(self.sumsq / samples)), "peak_dbfs": db(self.peak),
              "clipped_samples": self.clipped, "timestamp_ms": self.start_us / 1000.0,
              "duration_ms": self.filled * 1000.0 / self.rate}
        out = Frame("json", ev, self.props)
        out.ts = self.start_us
        self.filled = 0
        self.sumsq = self.peak = 0.0
        self.clipped = 0
        self.emit(out, 1)

    def _emit_audio(self, frame: Frame, x: np.ndarray, a: int, b: int) -> None:
        """Frames [a, b) of the input on `out`: the frame itself when whole,
        else a slice stamped on the frame's clock (as the C node)."""
        if a == 0 and b == len(x):
            return self.emit(frame)
        if a >= b:
            return
        ts = frame.ts
        if ts is not None and a:
            ts = ts + int(math.floor(a * 1e6 / frame.value.sample_rate + 0.5))
        self.emit(audio_frame(x[a:b], frame.value.sample_rate, frame, ts))

    def process(self, port: int, frame: Frame) -> None:
        a = frame.value
        if a.sample_rate != self.rate or a.channels != self.channels:
            if self.filled:
                self._emit_event()
            self.rate, self.channels = a.sample_rate, a.channels
        self.clock.start(frame, self.rate)
        self.props = frame
        x = frames_2d(a)
        i, left, sent = 0, len(x), 0
        while left:
            if self.filled == 0:
                self.window = ms_to_frames(self.config["window_ms"], self.rate) or 1
                self.start_us = self.clock.now()
            take = min(self.window - self.filled, left)
            self._accumulate(x[i:i + take])
            self.filled += take
            self.clock.frames += take
            i += take
            left -= take
            if self.filled == self.window:
                # each event right after the audio up to its window's end
                self._emit_audio(frame, x, sent, i)
                sent = i
                self._emit_event()
        self._emit_audio(frame, x, sent, len(x))

    def flush(self) -> None:
        if self.filled:
            self._emit_event()
        self.props = None

    def reset(self) -> None:
        self.init()


from . import vad  # noqa: E402,F401  (registration: VAD, SpeechSegmenter)
