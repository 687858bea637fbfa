"""The audio nodes, native vs the pure-Python fallback, on the same manifests
and inputs.  Tolerances (measured values in the comments; docs/benchmarks.md
and python/README.md repeat them):

* FormatConverter, ChannelMixer, AudioChunker, Gain, AudioLevel,
  SpeechSegmenter: exact — the same samples bit for bit, the same dtypes,
  shapes, timestamps, metadata, events and stats.
* AudioResample: a different (Kaiser polyphase) filter built to libsoxr's
  spec.  SNR of the fallback's output against the native one, whole stream
  including the start and end transients, on two sines (440 and 554.37 Hz):
  >= 90 dB at low/medium (measured 96-101 dB), >= 95 dB at high/very_high
  (measured 100-108 dB), >= 110 dB away from the edges at high/very_high
  (measured 133-170 dB); on white noise >= 40 dB (measured 42-51 dB: the
  transition bands differ slightly); on speech >= 60 dB (measured 77-87 dB).  Lengths are equal (round(n x ratio)); output chunk boundaries
  differ (soxr releases audio in DFT blocks), each chunk's timestamp follows
  its sample count on both.
* VAD: the same events (same count and kind), times within 5 ms (measured:
  identical), per-frame speech state agreement >= 99.5 % (measured 100 %),
  per-frame probability within 1e-3 (measured 2e-6: numpy's FFT instead of
  kissfft).
"""
import json

import numpy as np
import pytest

import remotemedia as rm
from conftest import manifest, needs_native

pytestmark = needs_native


def run(m, inputs, hint):
    p = rm.Pipeline.from_dict(m, runtime_hint=hint, enable_metrics=True)
    try:
        return ("ok", p.run_sync(inputs, as_list=True), p.get_metrics())
    except rm.RemoteMediaError as e:
        return ("error", (type(e).__name__, e.code, e.node_id, e.message), p.get_metrics())


def both(m, inputs):
    return run(m, inputs, "native"), run(m, inputs, "python")


def same_value(a, b):
    if isinstance(a, rm.Audio):
        return (isinstance(b, rm.Audio) and a.sample_rate == b.sample_rate and a.samples.dtype == b.samples.dtype
                and a.samples.shape == b.samples.shape and a.samples.tobytes() == b.samples.tobytes()
                and a.timestamp_us == b.timestamp_us and a.metadata == b.metadata)
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def assert_exact(n, p):
    assert n[0] == p[0], (n[1], p[1])
    if n[0] == "error":
        assert n[1] == p[1]
        return
    assert len(n[1]) == len(p[1])
    for i, (a, b) in enumerate(zip(n[1], p[1])):
        assert same_value(a, b), (i, a, b)
    for nid, nm in n[2]["node_metrics"].items():
        pm = p[2]["node_metrics"][nid]
        for k in ("calls", "frames_in", "frames_out", "errors", "stats", "inserted"):
            assert nm.get(k) == pm.get(k), (nid, k, nm.get(k), pm.get(k))
    assert n[2]["links"] == p[2]["links"]


def chunks(x, rate, sizes, ts=None):
    """x cut into pieces of the given sizes (cycled); each an Audio."""
    out, i, k = [], 0, 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        a = rm.Audio(np.ascontiguousarray(x[i:i + n]), rate)
        if ts is not None:
            a.timestamp_us = ts + i * 1000000 // rate
        out.append(a)
        i += n
        k += 1
    return out


RNG = np.random.default_rng(7)
F32_EDGES = np.array([0.0, -0.0, 1.0, -1.0, 0.5 / 32768, 1.5 / 32768, -2.5 / 32768, 32767.5 / 32768,
                      -32768.5 / 32768, 1.0000001, -1.0000001, 3.0, -3.0, np.nan, np.inf, -np.inf, 1e-9,
                      0.5 / 2147483648, 1.5 / 2147483648, 2147483647.5 / 2147483648], dtype=np.float32)
S16_EDGES = np.array([0, 1, -1, 32767, -32768, 12345, -12345], dtype=np.int16)
S32_EDGES = np.array([0, 1, -1, 2147483647, -2147483648, 2147450879, 2147450880, -2147450880, 32768, -32768,
                      98304, -98304, 16777217, -16777217], dtype=np.int32)


def signal(dtype, frames, channels):
    if dtype == np.float32:
        x = RNG.uniform(-1.2, 1.2, frames * channels).astype(np.float32)
        x[:len(F32_EDGES)] = F32_EDGES
    elif dtype == np.int16:
        x = RNG.integers(-32768, 32768, frames * channels).astype(np.int16)
        x[:len(S16_EDGES)] = S16_EDGES
    else:
        x = RNG.integers(-2**31, 2**31, frames * channels, dtype=np.int64).astype(np.int32)
        x[:len(S32_EDGES)] = S32_EDGES
    return x.reshape(frames, channels) if channels > 1 else x


# ---------------------------------------------------------------- exact --

@pytest.mark.parametrize("src", [np.float32, np.int16, np.int32])
@pytest.mark.parametrize("to", ["f32", "s16", "s32", "i16"])
@pytest.mark.parametrize("channels", [1, 2])
def test_format_converter_is_bit_exact(src, to, channels):
    x = signal(src, 3000, channels)
    n, p = both(manifest(("fc", "FormatConverter", {"target_format": to})), chunks(x, 16000, [441, 1000], ts=5000))
    assert_exact(n, p)


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.int32])
@pytest.mark.parametrize("params,channels", [({"channels": 1}, 2), ({"channels": 1}, 6), ({"mode": "downmix"}, 3),
                                             ({"channels": 2}, 1), ({"mode": "upmix", "channels": 4}, 1),
                                             ({"mode": "pick", "channel": 1, "channels": 2}, 3),
                                             ({"channels": 2}, 2), ({"channels": 2}, 6)])
def test_channel_mixer_is_bit_exact(dtype, params, channels):
    x = signal(dtype, 2000, channels)
    if dtype == np.int16 and channels == 2:  # averages that are ties: 1.5 -> 2, 3.5 -> 4, -1.5 -> -2
        x[:4] = [[1, 2], [3, 4], [-1, -2], [-3, -4]]
    n, p = both(manifest(("mix", "ChannelMixer", params)), chunks(x, 48000, [960]))
    assert_exact(n, p)


@pytest.mark.parametrize("params", [{"chunk_frames": 512}, {"chunk_ms": 25}, {"chunk_size": 1024, "pad_last": True},
                                    {"chunk_ms": 20, "pad_last": True}, {"chunk_size": 3}])
def test_audio_chunker_is_bit_exact(params):
    x = signal(np.int16, 44100, 1)
    y = signal(np.float32, 5000, 1)
    ins = chunks(x, 44100, [100, 2000, 7, 999], ts=1000) + chunks(y, 16000, [333])  # a rate change mid-stream
    n, p = both(manifest(("c", "AudioChunker", params)), ins)
    assert_exact(n, p)


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.int32])
@pytest.mark.parametrize("params", [{"gain_db": 6}, {"gain": 0.25}, {"gain": 3.0, "gain_db": -1.5}, {"gain": 1},
                                    {"normalize": True}, {"normalize": True, "normalize_dbfs": -20,
                                                          "max_gain_db": 12}])
def test_gain_is_bit_exact(dtype, params):
    x = signal(dtype, 4000, 2)
    if dtype == np.float32:
        x[np.isnan(x)] = 0.0  # NaN: the native normaliser's peak would read it (no defined order); keep it out
    ramp = [(x * (0.1 * k) if dtype == np.float32 else (x // (5 - k))).astype(dtype) for k in range(1, 5)]
    n, p = both(manifest(("g", "Gain", params)), [rm.Audio(np.ascontiguousarray(r), 16000) for r in ramp])
    assert_exact(n, p)


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.int32])
@pytest.mark.parametrize("window", [100, 7.3])
def test_audio_level_is_exact(dtype, window):
    x = signal(dtype, 20000, 2)
    if dtype == np.float32:
        x[~np.isfinite(x)] = 1.5
    m = manifest(("lv", "AudioLevel", {"window_ms": window}), ("ev", "PassThrough", None),
                 connections=[{"from": "lv.events", "to": "ev"}])
    ins = chunks(x, 16000, [160, 3000, 1]) + chunks(signal(dtype, 500, 1), 8000, [100])
    assert_exact(*both(m, ins))


def test_speech_segmenter_is_exact():
    rate = 16000
    x = (np.sin(np.arange(rate * 6) * 0.05) * 0.3).astype(np.float32)
    events = [(0.5, {"is_speech_start": True, "timestamp_ms": 1000.0}),
              (2.0, {"is_speech_end": True, "timestamp_ms": 1800.0}),
              (2.1, {"is_speech_start": True, "timestamp_ms": 2000.0}),
              (2.2, {"is_speech_end": True, "timestamp_ms": 2100.0}),  # too short: dropped
              (2.5, {"is_speech_start": True}),  # no timestamp: now
              (5.9, {"is_speech_start": True, "timestamp_ms": 5000.0})]  # ends the one before; open at the end
    ins, t = [], 0
    for at, ev in events:
        stop = int(at * rate)
        ins += chunks(x[t:stop], rate, [320], ts=t * 1000000 // rate) if stop > t else []
        ins.append(ev)
        t = stop
    ins += chunks(x[t:], rate, [320])
    m = manifest(("s", "SpeechSegmenter", {"pad_ms": 50, "max_utterance_ms": 1000, "history_ms": 300}))
    n, p = both(m, ins)
    assert_exact(n, p)
    parts = [(a.metadata["part"], a.metadata.get("continued")) for a in n[1]]
    assert parts[:2] == [("0", "1"), ("1", None)] and len(parts) >= 4  # a long utterance is cut into parts


# ------------------------------------------------------------- resample --

def snr_db(ref, x):
    ref, x = ref.astype(np.float64), x.astype(np.float64)
    return 10 * np.log10(np.sum(ref * ref) / max(np.sum((ref - x) ** 2), 1e-300))


def resampled(x, rate, params, hint, chunk):
    m = manifest(("r", "AudioResample", params))
    outs = rm.Pipeline.from_dict(m, runtime_hint=hint).run_sync(chunks(x, rate, [chunk]), as_list=True)
    done = 0
    for o in outs:  # each chunk's timestamp follows its sample count
        assert o.timestamp_us == (done * 1000000 + o.sample_rate // 2) // o.sample_rate
        done += o.frames
    return np.concatenate([o.samples for o in outs])


def two_sines(rate, seconds):
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 554.37 * t)], 1).astype(np.float32)


@pytest.mark.parametrize("quality,whole", [("low", 90), ("medium", 90), ("high", 95), ("very_high", 95)])
@pytest.mark.parametrize("rates", [(44100, 16000), (16000, 48000), (48000, 8000)])
def test_resample_matches_native_within_snr(quality, whole, rates):
    src, dst = rates
    x = two_sines(src, 2.0)
    n = resampled(x, src, {"target_rate": dst, "quality": quality}, "native", src // 50)
    p = resampled(x, src, {"target_rate": dst, "quality": quality}, "python", src // 50)
    assert n.shape == p.shape == (round(len(x) * dst / src), 2)
    assert snr_db(n, p) >= whole
    if quality in ("high", "very_high"):
        edge = dst // 20
        assert snr_db(n[edge:-edge], p[edge:-edge]) >= 110


def test_resample_noise_and_speech_within_snr(speech_audio):
    x = (np.random.default_rng(3).standard_normal((44100 * 2, 1)) * 0.1).astype(np.float32)
    n = resampled(x, 44100, {"target_rate": 16000}, "native", 882)
    p = resampled(x, 44100, {"target_rate": 16000}, "python", 882)
    assert snr_db(n, p) >= 40
    s = speech_audio("clean")[:16000 * 8]
    n = resampled(s, 16000, {"target_rate": 44100}, "native", 320)
    p = resampled(s, 16000, {"target_rate": 44100}, "python", 320)
    assert n.shape == p.shape and snr_db(n, p) >= 60


# ------------------------------------------------------------------ VAD --

def vad_run(x, rate, params, hint, chunk=320):
    m = manifest(("v", "VAD", dict(params, frame_events=True)), ("ev", "PassThrough", None),
                 connections=[{"from": "v.events", "to": "ev"}])
    outs = rm.Pipeline.from_dict(m, runtime_hint=hint).run_sync(chunks(x, rate, [chunk, chunk // 3 + 1]),
                                                                as_list=True)
    frames = [e for e in outs if not e["is_speech_start"] and not e["is_speech_end"]]
    edges = [e for e in outs if e["is_speech_start"] or e["is_speech_end"]]
    return frames, edges


def assert_vad_close(n, p):
    (fn, en), (fp, ep) = n, p
    assert len(fn) == len(fp)
    state_n = np.array([e["has_speech"] for e in fn])
    state_p = np.array([e["has_speech"] for e in fp])
    assert np.mean(state_n == state_p) >= 0.995
    prob_n = np.array([e["speech_probability"] for e in fn])
    prob_p = np.array([e["speech_probability"] for e in fp])
    assert np.abs(prob_n - prob_p).max() <= 1e-3
    assert [e["is_speech_start"] for e in en] == [e["is_speech_start"] for e in ep]
    for a, b in zip(en, ep):
        assert abs(a["timestamp_ms"] - b["timestamp_ms"]) <= 5.0, (a, b)


@pytest.mark.parametrize("name", ["pink20", "white10", "noise_white"])
@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_vad_events_match_native(speech_audio, name, frame_ms):
    x = speech_audio(name)
    params = {"frame_ms": frame_ms}
    n, p = vad_run(x, 16000, params, "native"), vad_run(x, 16000, params, "python")
    assert_vad_close(n, p)
    if name != "noise_white":
        assert len(n[1]) >= 18  # the ten sentences (some split at long pauses): starts and ends


def test_vad_stereo_s16_and_params(speech_audio):
    x = speech_audio("pink10")[: 16000 * 15]
    st = np.stack([x, x * 0.5], 1)
    s16 = np.clip(np.rint(st * 32768), -32768, 32767).astype(np.int16)
    params = {"threshold": 0.6, "hysteresis": 0.3, "min_speech_ms": 150, "min_silence_ms": 400, "speech_pad_ms": 0,
              "min_energy": 0.003, "noise_window_ms": 2000}
    assert_vad_close(vad_run(s16, 16000, params, "native", 441), vad_run(s16, 16000, params, "python", 441))


# ----------------------------------------------------- the audio chain --

def test_preprocessing_chain_matches_native(speech_audio):
    """48 kHz speech -> AudioResample 16 kHz -> VAD -> FormatConverter s16, with
    the VAD's events tapped and a SpeechSegmenter cutting utterances."""
    x = speech_audio("pink20_48k")
    m = manifest(("r", "AudioResample", {"target_rate": 16000}), ("v", "VAD", {"frame_ms": 30}),
                 ("fc", "FormatConverter", {"target_format": "s16"}), ("ev", "PassThrough", None),
                 ("seg", "SpeechSegmenter", None),
                 connections=[{"from": "r", "to": "v"}, {"from": "v", "to": "fc"}, {"from": "v.events", "to": "ev"},
                              {"from": "v", "to": "seg"}, {"from": "v.events", "to": "seg.events"}])
    ins = chunks(x, 48000, [960])
    res = {}
    for hint in ("native", "python"):
        p = rm.Pipeline.from_dict(m, runtime_hint=hint)
        out = p.run_sync(ins, as_list=True)
        res[hint] = out
    n, p = res["native"], res["python"]
    audio_n = np.concatenate([a.samples for a in n["fc"]]).astype(np.float64) / 32768
    audio_p = np.concatenate([a.samples for a in p["fc"]]).astype(np.float64) / 32768
    assert audio_n.shape == audio_p.shape == (len(x) // 3,)
    assert snr_db(audio_n, audio_p) >= 60  # s16 quantisation: resampler differences mostly vanish
    ev_n, ev_p = n["ev"], p["ev"]
    assert [e["is_speech_start"] for e in ev_n] == [e["is_speech_start"] for e in ev_p] and len(ev_n) >= 18
    for a, b in zip(ev_n, ev_p):
        assert abs(a["timestamp_ms"] - b["timestamp_ms"]) <= 5.0
    assert len(n["seg"]) == len(p["seg"])
    for a, b in zip(n["seg"], p["seg"]):
        assert abs(a.timestamp_us - b.timestamp_us) <= 5000 and abs(a.frames - b.frames) <= 160


# --------------------------------------------------- compile and errors --

def M(nodes, conns=None):
    return manifest(*nodes, connections=conns)


GRAPHS = [
    M([("r", "AudioResample", {"target_rate": 48000}), ("v", "VAD", {"sample_rate": 16000})]),
    M([("f", "FormatConverter", {"target_format": "s16"}), ("r", "AudioResample", {"target_rate": 16000}),
       ("c", "ChannelMixer", {"channels": 2, "mode": "upmix"})]),
    M([("c", "ChannelMixer", {"channels": 2}), ("m", "ChannelMixer", {"mode": "upmix", "channels": 4})]),
    M([("c", "ChannelMixer", {"channels": 6, "mode": "pick"}), ("m", "ChannelMixer", {"channels": 2})]),
    M([("c", "ChannelMixer", {"channels": 3, "mode": "downmix"})]),
    M([("g", "Gain", {"normalize": True, "gain": 2})]),
    M([("a", "AudioChunker", {"chunk_size": 3, "chunk_frames": 2})]),
    M([("r", "AudioResample", {"target_rate": 16000, "channels": 2}), ("a", "AudioChunker", {"chunk_size": 3})]),
    M([("r", "AudioResample", {"target_rate": 16000, "source_rate": 500})]),
    M([("v", "VAD", {"frame_ms": 25, "sample_rate": 4000})]),
    M([("r", "AudioResample", {"target_rate": 1000}), ("v", "VAD", None)]),
    M([("t", "TextProcessorNode", None), ("g", "Gain", None)]),
    M([("r", "AudioResample", {"target_rate": 16000}), ("s", "SpeechSegmenter", None), ("c", "CalculatorNode", None)]),
    M([("r", "AudioResample", {"target_rate": 16000}), ("v", "VAD", {"sample_rate": 8000}),
       ("s", "SpeechSegmenter", None)],
      [{"from": "r", "to": "v"}, {"from": "v", "to": "s"}, {"from": "v.events", "to": "s.events"}]),
    M([("v", "VAD", None), ("x", "PassThrough", None)], [{"from": "v", "to": "x", "queue": {"policy": 5}}]),
    M([("m", "ChannelMixer", {"channels": 2, "mode": "upmix"}), ("r", "AudioResample", {"target_rate": 8000}),
       ("x", "VAD", {"sample_rate": 16000}), ("y", "ChannelMixer", {"channels": 1}),
       ("z", "AudioResample", {"target_rate": 16000, "channels": 1})],
      [{"from": "m", "to": "r"}, {"from": "r", "to": "x"}, {"from": "x", "to": "y"}, {"from": "r", "to": "z"}]),
    {"version": "v1", "nodes": [
        {"id": "a", "node_type": "AddNode", "on_error": {"policy": "retry", "jitter": 2,
                                                          "circuit_breaker": {"failure_threshold": 0,
                                                                              "reset_timeout_ms": "x"}}},
        {"id": "b", "node_type": "AddNode", "on_error": None},
        {"id": "c", "node_type": "AddNode", "on_error": {"policy": "skip", "circuit_breaker": 3}}]},
]


@pytest.mark.parametrize("m", GRAPHS, ids=[f"graph{i}" for i in range(len(GRAPHS))])
def test_same_compile_result(m):
    """Caps negotiation, converter insertion (ids, order) and diagnostics."""
    got = {}
    for hint in ("native", "python"):
        try:
            p = rm.Pipeline.from_dict(m, runtime_hint=hint)
            got[hint] = ("ok", p.node_ids, p.sinks)
        except rm.ManifestError as e:
            got[hint] = ("error", [(d["code"], d["path"], d["node_id"], d["message"]) for d in e.diagnostics])
    assert got["native"] == got["python"]


def test_inserted_converters_run_the_same():
    m = M([("m", "ChannelMixer", {"channels": 2, "mode": "upmix"}), ("f", "FormatConverter", {"target_format": "s16"}),
           ("v", "VAD", {"sample_rate": 16000}), ("g", "Gain", {"gain_db": -6})])
    x = signal(np.float32, 4800, 1)
    x[~np.isfinite(x)] = 0
    n, p = both(m, chunks(x, 16000, [480]))
    assert [k for k, v in n[2]["node_metrics"].items() if v.get("inserted")] == []  # rates match: none inserted
    assert_exact(n, p)
    m2 = M([("f", "FormatConverter", {"target_format": "s16"}), ("r", "AudioResample", {"target_rate": 48000}),
            ("v", "VAD", {"sample_rate": 16000})])
    n, p = both(m2, chunks(x, 16000, [480]))
    assert [k for k, v in n[2]["node_metrics"].items() if v.get("inserted")] == ["v-resample"]
    assert [k for k, v in p[2]["node_metrics"].items() if v.get("inserted")] == ["v-resample"]
    a = np.concatenate([o.samples for o in n[1]])
    b = np.concatenate([o.samples for o in p[1]])
    assert a.shape == b.shape and snr_db(a, b) >= 40  # broadband noise (see the resampler's tolerances)


RUNTIME_ERRORS = [
    (M([("r", "AudioResample", {"target_rate": 16000, "source_rate": 44100})]), [rm.Audio(np.zeros(10, np.float32), 48000)]),
    (M([("r", "AudioResample", {"target_rate": 16000})]), [rm.Audio(np.zeros(10, np.float32), 500)]),
    (M([("r", "AudioResample", {"target_rate": 16000, "channels": 2})]), [rm.Audio(np.zeros(10, np.float32), 8000)]),
    (M([("v", "VAD", None)]), [rm.Audio(np.zeros(10, np.float32), 4000)]),
    (M([("v", "VAD", {"sample_rate": 16000})]), [rm.Audio(np.zeros(10, np.float32), 8000)]),
    (M([("v", "VAD", None)]), [rm.Audio(np.zeros(10, np.float32), 8000), rm.Audio(np.zeros(10, np.float32), 16000)]),
    (M([("c", "ChannelMixer", {"mode": "pick", "channel": 3})]), [rm.Audio(np.zeros((4, 2), np.float32), 8000)]),
    (M([("c", "ChannelMixer", {"mode": "upmix", "channels": 2})]), [rm.Audio(np.zeros((4, 2), np.float32), 8000)]),
    (M([("c", "ChannelMixer", {"channels": 2})]), [rm.Audio(np.zeros((4, 3), np.float32), 8000)]),
    (M([("a", "AudioChunker", {"chunk_size": 3})]), [rm.Audio(np.zeros((4, 2), np.float32), 8000)]),
    (M([("a", "AudioChunker", {"chunk_ms": 0.01})]), [rm.Audio(np.zeros(4, np.float32), 8000)]),
    (M([("s", "SpeechSegmenter", None)]), [rm.Audio(np.zeros(4, np.float32), 8000),
                                            {"is_speech_start": True, "timestamp_ms": "soon"}]),
    (M([("s", "SpeechSegmenter", None)]), [rm.Audio(np.zeros(4, np.float32), 8000),
                                            rm.Audio(np.zeros((4, 2), np.float32), 8000)]),
    (M([("s", "SpeechSegmenter", {"max_utterance_ms": 100, "min_utterance_ms": 200})]), [1]),
    (M([("g", "Gain", None)]), ["text"]),
]


@pytest.mark.parametrize("m,inputs", RUNTIME_ERRORS, ids=[f"error{i}" for i in range(len(RUNTIME_ERRORS))])
def test_same_runtime_errors(m, inputs):
    n, p = both(m, inputs)
    assert n[0] == p[0] == "error"
    assert n[1] == p[1]
