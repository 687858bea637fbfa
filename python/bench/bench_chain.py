"""Native vs fallback on the audio preprocessing chain (issue 3's): 10 s of
stereo 44.1 kHz audio, two sines (440 Hz and 554.37 Hz, amplitude 0.5), in
20 ms chunks -> AudioResample 16 kHz -> VAD (30 ms frames) -> FormatConverter
s16, one run_sync() per round.  Reported: the median time per run on each
executor (interleaved rounds), the ratio, and the real-time factor (run time
/ audio time).  The fallback's outputs are checked against the native ones
first (same length; SNR), so the comparison is between equal work.

Usage: /usr/bin/python3 python/bench/bench_chain.py [--quick]"""
import statistics
import time

import numpy as np

from _common import QUICK, note, row

import remotemedia as rm  # noqa: E402

RATE, SECONDS = 44100, 10.0
t = np.arange(int(RATE * SECONDS)) / RATE
x = np.stack([0.5 * np.sin(2 * np.pi * 440.0 * t), 0.5 * np.sin(2 * np.pi * 554.37 * t)], 1).astype(np.float32)
CHUNK = RATE // 50
chunks = [rm.Audio(np.ascontiguousarray(x[i:i + CHUNK]), RATE) for i in range(0, len(x), CHUNK)]
MANIFEST = {
    "version": "v1", "metadata": {"name": "preprocess"},
    "nodes": [{"id": "resample", "node_type": "AudioResample", "params": {"target_rate": 16000}},
              {"id": "vad", "node_type": "VAD", "params": {"frame_ms": 30}},
              {"id": "s16", "node_type": "FormatConverter", "params": {"target_format": "s16"}}],
    "connections": [{"from": "resample", "to": "vad"}, {"from": "vad", "to": "s16"}]}


def run_once(p):
    t0 = time.perf_counter()
    out = p.run_sync(chunks, as_list=True)
    return time.perf_counter() - t0, out


hints = (["native"] if rm.is_native_runtime_available() else []) + ["python"]
pipes = {h: rm.Pipeline.from_dict(MANIFEST, runtime_hint=h) for h in hints}
outs = {h: np.concatenate([a.samples for a in run_once(p)[1]]) for h, p in pipes.items()}  # warm-up and check
for h, y in outs.items():
    assert y.dtype == np.int16 and y.shape == (160000, 2), (h, y.shape)
if "native" in outs:
    a, b = outs["native"].astype(np.float64), outs["python"].astype(np.float64)
    snr = 10 * np.log10(np.sum(a * a) / max(np.sum((a - b) ** 2), 1e-300))
    note(f"bench_chain: fallback vs native output: SNR {snr:.1f} dB, max |diff| {np.abs(a - b).max():.0f} LSB")
times = {h: [] for h in hints}
for _ in range(2 if QUICK else 7):
    for h, p in pipes.items():
        times[h].append(run_once(p)[0])
med = {h: statistics.median(v) for h, v in times.items()}
for h, v in times.items():
    note(f"bench_chain: {h}: runs {', '.join(f'{s * 1000:.0f}' for s in v)} ms")
if "native" in med:
    row("Python: audio chain native (10 s stereo 44.1 kHz, 20 ms chunks -> resample 16k -> VAD -> s16), per run",
        f"{med['native'] * 1000:.1f} ms", "-", f"RTF {med['native'] / SECONDS:.4f}", "info")
    row("Python: same chain, pure-Python fallback, per run", f"{med['python'] * 1000:.0f} ms",
        f"native {med['native'] * 1000:.1f} ms", f"{med['python'] / med['native']:.0f}",
        f"fallback {med['python'] / med['native']:.0f}x slower (RTF {med['python'] / SECONDS:.3f})")
else:
    row("Python: audio chain, pure-Python fallback, per run", f"{med['python'] * 1000:.0f} ms", "-",
        f"RTF {med['python'] / SECONDS:.3f}", "info")
