"""Word error rate of examples/voice-loop.yaml (text → TTS → line at 8, 22.05
or 48 kHz → VAD → STT) on the fixed sentence list, per voice and line rate.

Usage: voice_loop_wer.py RMEDIA SOURCE_DIR

The synthesiser is deterministic, so every run gives the same words; the
thresholds below are the measured rates plus a small margin, not targets.
The issue's goal is ≤ 10 % overall for at least two voices over the three
rates: rms and kal16 meet it (checked below).  slt and awb are the voices the
US English model hears worst, and 8 kHz (telephone band: nothing above
4 kHz reaches a 16 kHz model) costs every voice; their thresholds stay honest
rather than hopeful.  docs/speech.md has the table.
"""
import concurrent.futures
import json
import re
import subprocess
import sys

RMEDIA, SRC = sys.argv[1], sys.argv[2]
RATES = (8000, 22050, 48000)
# voice -> max WER (%) per line rate, measured + 2 points
THRESHOLDS = {
    "rms": {8000: 6, 22050: 6, 48000: 4},
    "kal16": {8000: 28, 22050: 6, 48000: 9},
    "slt": {8000: 35, 22050: 13, 48000: 14},
    "awb": {8000: 22, 22050: 18, 48000: 14},
}
OVERALL_VOICES = ("rms", "kal16")
OVERALL_MAX = 10.0

sentences = [line.strip() for line in open(f"{SRC}/tests/data/sentences.txt")
             if line.strip() and not line.startswith("#")]
assert len(sentences) >= 20, "the sentence list needs at least 20 sentences"


def words(text):
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def errors(ref, hyp):
    """Word-level edit distance."""
    d = list(range(len(hyp) + 1))
    for i, rw in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return d[len(hyp)]


def run(voice, rate):
    proc = subprocess.run(
        [RMEDIA, "run", f"{SRC}/examples/voice-loop.yaml", "--only", "stt.out", "--format", "values",
         "--set", f"tts.voice={voice}", "--set", f"line.target_rate={rate}"],
        input="".join(json.dumps(s) + "\n" for s in sentences), capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"{voice} at {rate} Hz: exit {proc.returncode}: {proc.stderr[-2000:]}")
    transcript = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    ref = words(" ".join(sentences))
    return errors(ref, words(" ".join(transcript))), len(ref), len(transcript)


jobs = [(v, r) for v in THRESHOLDS for r in RATES]
with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    results = dict(zip(jobs, pool.map(lambda j: run(*j), jobs)))

failures = 0
print(f"{'voice':8} {'line rate':>10} {'WER':>7} {'max':>5}  utterances / sentences")
for (voice, rate), (err, n, utts) in results.items():
    wer = 100.0 * err / n
    limit = THRESHOLDS[voice][rate]
    ok = wer <= limit
    failures += not ok
    print(f"{voice:8} {rate:>10} {wer:6.1f}% {limit:4}%  {utts} / {len(sentences)}  {'ok' if ok else 'FAIL'}")
err = sum(results[(v, r)][0] for v in OVERALL_VOICES for r in RATES)
n = sum(results[(v, r)][1] for v in OVERALL_VOICES for r in RATES)
overall = 100.0 * err / n
print(f"overall, {' + '.join(OVERALL_VOICES)} at 8, 22.05 and 48 kHz: {overall:.1f}% (max {OVERALL_MAX}%)")
failures += overall > OVERALL_MAX
sys.exit(1 if failures else 0)
