#!/usr/bin/python3
"""Builds the VAD / SpeechSegmenter test audio (deterministic; nothing is committed but this script).

Usage: gen_vad_audio.py OUTDIR

Speech: sentences synthesised with flite (voices slt, rms, awb, kal16) and espeak-ng,
resampled to 16 kHz, each scaled to the same active level (-26 dBFS), laid on a timeline
after 1 s of silence with known silences (>= 300 ms plus the synthesisers' own) between them.
Labels come from the clean signal, by construction:
  * a 10 ms frame is speech when its energy is within LABEL_DB (30 dB) of the peak 10 ms
    energy of its own sentence (ITU-T P.56 counts speech active down to 15.9 dB below the
    active level, about 26 dB below such a peak: 30 dB is a little more inclusive); gaps
    shorter than FILL_MS (100 ms) inside a sentence are filled (stop closures and word joins
    are part of speech for any VAD with a hangover);
  * each sentence is one utterance, from the first to the last 5 ms window (1 ms steps)
    above the same threshold.
Noise: white and pink (1/f power from 20 Hz) Gaussian noise, seeded, mixed at 20 and 10 dB
SNR, where SNR = mean power of the clean signal over the speech-labelled frames / mean noise
power (full band).

Files written to OUTDIR (raw little-endian float32, mono):
  clean.f32 white20.f32 white10.f32 pink20.f32 pink10.f32      16 kHz
  noise_white.f32 noise_pink.f32 (noise only, same length and level as the 10 dB mixes)
  pink20_48k.f32 (48 kHz) and white20_8k.f32 (8 kHz): the same mixes at other rates
  labels.txt: "rate 16000", "frame_ms 10", "labels <0/1 per frame>", "utt <start_ms> <end_ms>" lines
  labels_8k.txt: the same, from the clean speech resampled to 8 kHz (for white20_8k)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

RATE = 16000
FRAME = RATE // 100  # 10 ms
LABEL_DB = 30.0
FILL_MS = 100

SENTENCES = [
    ("flite", "slt", "The quick brown fox jumps over the lazy dog."),
    ("flite", "rms", "Please call Stella and ask her to bring these things with her from the store."),
    ("espeak", "en", "Six spoons of fresh snow peas, five thick slabs of blue cheese."),
    ("flite", "awb", "We also need a small plastic snake and a big toy frog for the kids."),
    ("flite", "kal16", "She can scoop these things into three red bags."),
    ("flite", "slt", "Yes."),
    ("espeak", "en-us", "And we will go meet her Wednesday at the train station."),
    ("flite", "rms", "Is it far from here?"),
    ("flite", "awb", "Thieves who rob friends deserve jail."),
    ("flite", "slt", "A large size in stockings is hard to sell."),
]
# silence inserted after each sentence (the synthesisers add a little of their own)
GAPS_MS = [300, 800, 450, 1200, 350, 600, 1000, 400, 700, 900]
LEAD_MS = 1000


def synth(engine, voice, text, tmp):
    path = os.path.join(tmp, "s.wav")
    if engine == "flite":
        cmd = ["flite", "-voice", voice, "-t", text, "-o", path]
    else:
        cmd = ["espeak-ng", "-v", voice, "-s", "150", "-w", path, text]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rate, x = wavfile.read(path)
    x = x.astype(np.float64) / 32768.0
    if x.ndim > 1:
        x = x.mean(axis=1)
    if rate != RATE:
        g = np.gcd(rate, RATE)
        x = resample_poly(x, RATE // g, rate // g)
    return x


def frame_energy(x, n):
    m = len(x) // n
    return (x[: m * n].reshape(m, n) ** 2).mean(axis=1)


def fill_gaps(lab, max_gap):
    idx = np.flatnonzero(lab)
    out = lab.copy()
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_gap:
            out[a:b] = 1
    return out


def pink(n, rng):
    """Gaussian noise with power ∝ 1/f from 20 Hz up (nothing below: sub-audio drift would
    count as noise power without masking any speech)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / RATE)
    spec[f < 20] = 0.0
    spec[f >= 20] /= np.sqrt(f[f >= 20])
    return np.fft.irfft(spec, n)


def label(clean, rate, spans):
    """Frame labels (10 ms) and utterance bounds (ms) of `clean` at `rate`; spans are the
    sentences' sample ranges (each with its trailing silence), in samples at `rate`."""
    frame = rate // 100
    labels, utts = [], []
    for a, b in spans:
        x = clean[a:b]
        e = frame_energy(x, frame)
        thr = e.max() * 10 ** (-LABEL_DB / 10)
        labels.append(fill_gaps((e > thr).astype(np.int8), FILL_MS // 10))
        # utterance bounds at 1 ms resolution: first/last 5 ms window above the threshold
        w = rate // 200
        hot = np.flatnonzero(np.convolve(x**2, np.ones(w) / w, mode="valid") > thr)
        utts.append(((a + hot[0]) * 1000.0 / rate, (a + hot[-1] + w) * 1000.0 / rate))
    lead = np.zeros(spans[0][0] // frame, dtype=np.int8)
    return np.concatenate([lead] + labels), utts


def write_labels(path, lab, utts):
    with open(path, "w") as f:
        f.write("rate %d\nframe_ms 10\nlabels %s\n" % (RATE, "".join(str(int(v)) for v in lab)))
        for s, e in utts:
            f.write("utt %.1f %.1f\n" % (s, e))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    pieces, spans = [np.zeros(LEAD_MS * RATE // 1000)], []
    pos = LEAD_MS * RATE // 1000
    with tempfile.TemporaryDirectory() as tmp:
        for (engine, voice, text), gap in zip(SENTENCES, GAPS_MS):
            x = synth(engine, voice, text, tmp)
            # every sentence at the same active level (-26 dBFS, as ITU-T P.56 corpora), so
            # that the SNR holds for each one and not only on average
            e = frame_energy(x, FRAME)
            x *= np.sqrt(10 ** (-26 / 10) / e[e > e.max() * 10 ** (-LABEL_DB / 10)].mean())
            x = np.concatenate([x, np.zeros(gap * RATE // 1000)])
            x = np.concatenate([x, np.zeros((-len(x)) % FRAME)])  # whole frames keep labels aligned
            pieces.append(x)
            spans.append((pos, pos + len(x)))
            pos += len(x)
    clean = np.concatenate(pieces)
    lab, utts = label(clean, RATE, spans)
    speech_power = frame_energy(clean, FRAME)[lab == 1].mean()
    rng = np.random.default_rng(20240601)
    noises = {"white": rng.standard_normal(len(clean)), "pink": pink(len(clean), rng)}

    def save(name, x):
        x.astype("<f4").tofile(os.path.join(out, name + ".f32"))

    save("clean", clean)
    for kind, nz in noises.items():
        nz = nz / np.sqrt((nz**2).mean())
        for snr in (20, 10):
            mix = clean + nz * np.sqrt(speech_power * 10 ** (-snr / 10))
            save("%s%d" % (kind, snr), mix)
            if kind == "pink" and snr == 20:
                save("pink20_48k", resample_poly(mix, 3, 1))  # same content: same labels
            if kind == "white" and snr == 20:
                save("white20_8k", resample_poly(mix, 1, 2))
        save("noise_" + kind, nz * np.sqrt(speech_power * 10 ** (-10 / 10)))
    write_labels(os.path.join(out, "labels.txt"), lab, utts)
    # at 8 kHz the speech above 4 kHz (fricatives) is gone: label what is left
    clean8 = resample_poly(clean, 1, 2)
    lab8, utts8 = label(clean8, RATE // 2, [(a // 2, b // 2) for a, b in spans])
    write_labels(os.path.join(out, "labels_8k.txt"), lab8, utts8)


if __name__ == "__main__":
    main()
