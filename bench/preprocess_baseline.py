"""Python baseline of the audio preprocessing benchmark (bench/bench_audio_chain.c).

The seed's chain (REFERENCE.md §8.1) done with numpy and scipy, warm:
10 s of stereo 44.1 kHz float32 audio (channel 1 = 0.5·sin(2π·440·t),
channel 2 = 0.5·sin(2π·554.37·t), t = linspace(0, 10, N) as the original
script), then

  1. resample to 16 kHz: scipy.signal.resample_poly(x, 160, 441, axis=-1)
     (scipy's default Kaiser-windowed polyphase FIR, both channels at once);
  2. VAD: the original Python VADNode (REFERENCE.md §4.5): mean of the
     channels, RMS per 30 ms frame (480 samples), a frame is speech when its
     RMS exceeds 0.02; plus the start/end transitions as events.  This is a
     much simpler detector than ours (no noise floor, no bands): a bare
     energy threshold, i.e. the cheapest reasonable numpy VAD;
  3. convert to int16 with our FormatConverter's rule:
     clip(rint(x · 32768), −32768, 32767) (the original did not clamp).

It is driven over stdin/stdout by the C benchmark so that its runs
interleave with ours and both see the same machine load.  Commands, one per
line; each answer is one line:

  run          one timed run of the chain
               -> "time TOTAL RESAMPLE VAD CONVERT WALL" (seconds): CPU
               time of the process (time.process_time) for the total and
               each step, and the wall-clock time of the whole run
  rss          -> "rss BASE_KIB FIRST_RUN_GROWTH_KIB ALL_RUNS_GROWTH_KIB"
               (peak RSS from /proc/self/status VmHWM, reset through
               /proc/self/clear_refs after set-up, minus VmRSS then)
  alias RATE   residual of a 0.5-amplitude 8.5 kHz tone resampled from RATE
               to 16 kHz, energy relative to the input -> "alias DB"
  check        -> "check FRAMES SPEECH_FRAMES EVENTS" of the last run
  quit

On start-up it prints "ready RSS_KIB" once the imports and the input exist.
"""

import sys
import time

import numpy as np
import scipy.signal

RATE_IN, RATE_OUT, SECONDS = 44100, 16000, 10.0
UP, DOWN = 160, 441  # 16000 / 44100 in lowest terms
FRAME = 480  # 30 ms at 16 kHz
ENERGY_THRESHOLD = 0.02


def status_kib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak():
    """Resets VmHWM to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def make_input():
    n = int(RATE_IN * SECONDS)
    t = np.linspace(0, SECONDS, n)
    x = np.empty((2, n), dtype=np.float32)
    x[0] = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    x[1] = 0.5 * np.sin(2 * np.pi * 554.37 * t)
    return x


def vad(y):
    mono = y.mean(axis=0)
    n = mono.shape[0] // FRAME
    frames = mono[: n * FRAME].reshape(n, FRAME)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    speech = rms > ENERGY_THRESHOLD
    edges = np.flatnonzero(np.diff(speech.astype(np.int8)))
    events = [
        {"is_speech_start": bool(speech[i + 1]), "is_speech_end": not speech[i + 1],
         "timestamp_ms": (i + 1) * 30.0}
        for i in edges
    ]
    if n and speech[0]:
        events.insert(0, {"is_speech_start": True, "is_speech_end": False, "timestamp_ms": 0.0})
    return {"speech_frames": int(speech.sum()), "total_frames": n, "events": events}


def to_s16(y):
    return np.clip(np.rint(y * 32768.0), -32768, 32767).astype(np.int16)


def chain(x):
    """The three steps, each timed; returns (output, vad info, stage times)."""
    t0 = time.process_time()
    y = scipy.signal.resample_poly(x, UP, DOWN, axis=-1)
    t1 = time.process_time()
    info = vad(y)
    t2 = time.process_time()
    out = to_s16(y)
    t3 = time.process_time()
    return out, info, (t1 - t0, t2 - t1, t3 - t2)


def alias_db(rate):
    """Energy of what is left of an 8.5 kHz tone (above the new Nyquist)
    after resampling to 16 kHz, relative to the input's, 200 ms at each edge
    excluded.  float32, like the benchmark signal."""
    n = rate * 2
    t = np.arange(n) / rate
    x = (0.5 * np.sin(2 * np.pi * 8500.0 * t)).astype(np.float32)
    g = np.gcd(RATE_OUT, rate)
    y = scipy.signal.resample_poly(x, RATE_OUT // g, rate // g).astype(np.float64)
    edge = RATE_OUT // 5
    y = y[edge:-edge]
    e_in = np.mean(x.astype(np.float64) ** 2)
    e_out = np.mean(y * y)
    return 10 * np.log10(max(e_out, 1e-30) / e_in)


def main():
    x = make_input()
    can_reset = reset_peak()
    base = status_kib("VmRSS")
    if not can_reset:
        base = status_kib("VmHWM")  # best effort: peak so far
    first_growth = None
    last = None
    print("ready", base, flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "run":
            w0, t0 = time.perf_counter(), time.process_time()
            last = chain(x)
            dt, wall = time.process_time() - t0, time.perf_counter() - w0
            if first_growth is None:
                first_growth = status_kib("VmHWM") - base
            print("time", repr(dt), *(repr(s) for s in last[2]), repr(wall), flush=True)
        elif cmd[0] == "rss":
            all_growth = status_kib("VmHWM") - base
            print("rss", base, first_growth if first_growth is not None else -1, all_growth, flush=True)
        elif cmd[0] == "alias":
            print("alias", repr(alias_db(int(cmd[1]))), flush=True)
        elif cmd[0] == "check":
            if last is None:
                print("check 0 0 0", flush=True)
            else:
                out, info, _ = last
                print("check", out.shape[-1], info["speech_frames"], len(info["events"]), flush=True)
        elif cmd[0] == "quit":
            break
        else:
            print("error unknown command", cmd[0], flush=True)


if __name__ == "__main__":
    main()
