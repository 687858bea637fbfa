#!/usr/bin/env bash
# CLI audio tests: audio files and raw PCM in and out, chunking, real-time
# pacing, and every kind of bad audio input.  Usage: audio_test.sh RMEDIA
set -u
RMEDIA=$1
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
source "$(dirname "$0")/../lib.sh"

if ! "$RMEDIA" run --help | grep -q -- '--input-format'; then
  echo "audio: this rmedia has no audio support; skipped"
  exit 0
fi

cat >"$T/pass.yaml" <<'EOF'
version: v1
nodes: [{id: p, node_type: PassThrough}]
EOF

# Test inputs, written with Python's wave module: 0.5 s of a 16-bit stereo
# 22.05 kHz tone, an empty file, a file at an absurd rate, raw mono PCM.
cat >"$T/gen.py" <<'EOF'
import math, struct, sys, wave
d = sys.argv[1]
def write(name, rate, ch, n):
    w = wave.open(f"{d}/{name}", "wb")
    w.setnchannels(ch)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(b"".join(struct.pack("<" + "h" * ch, *[int(8000 * math.sin(2 * math.pi * 440 * i / rate + c))
                                                         for c in range(ch)]) for i in range(n)))
    w.close()
write("tone.wav", 22050, 2, 11025)
write("empty.wav", 16000, 1, 0)
write("slow.wav", 200, 1, 100)
open(f"{d}/tone.raw", "wb").write(b"".join(struct.pack("<h", int(1000 * math.sin(i / 10))) for i in range(16000)))
EOF
$PY "$T/gen.py" "$T" || { echo "cannot generate test audio"; exit 1; }

cat >"$T/same.py" <<'EOF'
import sys, wave
a, b = (wave.open(p) for p in sys.argv[1:3])
assert (a.getframerate(), a.getnchannels(), a.getnframes()) == (b.getframerate(), b.getnchannels(), b.getnframes())
assert a.readframes(a.getnframes()) == b.readframes(b.getnframes())
EOF

# ---------------------------------------------------------------- formats --
expect "wav → wav" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o "$T/copy.wav"
$PY "$T/same.py" "$T/tone.wav" "$T/copy.wav" || fail "wav → wav changed the samples"
expect "wav → flac" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o "$T/t.flac"
expect "flac → wav" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/t.flac" -o "$T/t3.wav"
$PY "$T/same.py" "$T/tone.wav" "$T/t3.wav" || fail "wav → flac → wav is not lossless"
expect "flac → ogg" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/t.flac" -o "$T/t.ogg"
expect "ogg → wav (f32)" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/t.ogg" -o "$T/t2.wav" --output-subtype f32
# An output that exists and is not a regular file (/dev/null, a FIFO) is
# written in place: renaming the temporary file onto it would replace the
# device node (this once turned /dev/null into a regular file).
mkfifo "$T/json.fifo"
if mknod "$T/null.wav" c 1 3 2>/dev/null; then   # a private /dev/null (needs root)
  expect "-o a character device (audio)" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o "$T/null.wav"
  [[ -c "$T/null.wav" ]] || fail "-o a character device: the device node was replaced by a file"
fi
cat "$T/json.fifo" >"$T/fifo.json" &
reader=$!
count=$((count + 1))
echo '[1, 2]' | "$RMEDIA" run "$T/pass.yaml" -o "$T/json.fifo" >/dev/null 2>&1 || fail "-o FIFO (json) failed"
if [[ -p "$T/json.fifo" ]]; then
  wait $reader
  [[ $(cat "$T/fifo.json") == "[1,2]" ]] || fail "-o FIFO (json)" "$(cat "$T/fifo.json")"
else
  kill $reader 2>/dev/null; wait $reader 2>/dev/null
  fail "-o FIFO (json): the FIFO was replaced by a file"
fi
ls "$T" | grep -q 'fifo.tmp-' && fail "-o FIFO left a temporary file"
[[ -s "$T/t.ogg" && -s "$T/t2.wav" ]] || fail "ogg outputs missing"
count=$((count + 1))
if ! "$RMEDIA" run "$T/pass.yaml" --input-format s16le:16000:1 --output-format s16le <"$T/tone.raw" >"$T/copy.raw" 2>"$T/err" ||
   ! cmp -s "$T/tone.raw" "$T/copy.raw"; then
  fail "raw PCM through a pipe" "$(cat "$T/err")"
fi
expect "f32 raw out" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" --input-format s16le:16000:1 -i "$T/tone.raw" --output-format f32le:16000:1 -o "$T/f.raw"
[[ $(stat -c %s "$T/f.raw") -eq 64000 ]] || fail "s16 → f32 raw size"

# --------------------------------------------------------- streaming, JSON --
expect "audio not written is not printed either" 0 '' '0.50 s of audio from the sinks was not written' -- "$RMEDIA" -v run "$T/pass.yaml" -i "$T/tone.wav"
[[ ! -s "$T/out" ]] || fail "audio frames were printed as JSON"
cat >"$T/level.yaml" <<'EOF'
version: v1
nodes: [{id: level, node_type: AudioLevel, params: {window_ms: 100}}]
EOF
expect "non-audio outputs print as JSON lines with timestamps" 0 '"node":"level","port":"events"' '' -- "$RMEDIA" run "$T/level.yaml" -i "$T/tone.wav" -o "$T/lvl.wav"
grep -q '"timestamp_ms":100' "$T/out" || fail "events lack timestamps" "$(head -3 "$T/out")"
[[ $(wc -l <"$T/out") -eq 5 ]] || fail "expected 5 level events for 0.5 s in 100 ms windows" "$(cat "$T/out")"
expect "--chunk-ms" 0 '' '' -- "$RMEDIA" run "$T/level.yaml" -i "$T/tone.wav" --chunk-ms 10 -o "$T/c10.wav"
$PY "$T/same.py" "$T/tone.wav" "$T/c10.wav" || fail "10 ms chunks changed the audio"
expect "--realtime reports per-chunk latency" 0 '' 'realtime: 25 chunks of 20 ms' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" --realtime -o "$T/rt.wav"
expect "bad --chunk-ms" 2 '' '--chunk-ms must be' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" --chunk-ms 0

# ------------------------------------------------------------- bad inputs --
head -c 3000 "$T/tone.wav" >"$T/trunc.wav"
expect "truncated wav" 4 '' "'$T/trunc.wav': it is truncated" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/trunc.wav" -o "$T/never.wav"
[[ ! -e "$T/never.wav" ]] || fail "output written for a truncated input"
head -c 5000 "$T/t.flac" >"$T/trunc.flac"
expect "truncated flac" 4 '' "$T/trunc.flac" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/trunc.flac" -o "$T/never.wav"
[[ ! -e "$T/never.wav" ]] || fail "output written for a truncated flac"
printf 'RIFF....WAVEnot really' >"$T/corrupt.wav"
expect "corrupt wav" 4 '' "'$T/corrupt.wav' is not a readable audio file" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/corrupt.wav"
printf '{"not": "audio"}' >"$T/fake.flac"
expect "not audio at all" 4 '' "'$T/fake.flac' is not a readable audio file" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/fake.flac"
expect "zero-length audio" 4 '' "contains no audio" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/empty.wav" -o "$T/never.wav"
[[ ! -e "$T/never.wav" ]] || fail "output written for an empty input"
expect "absurd rate in a file" 4 '' "sample rate 200 Hz is outside 1000–768000 Hz" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/slow.wav"
expect "absurd raw rate" 2 '' "sample rate 5 Hz is outside" -- "$RMEDIA" run "$T/pass.yaml" --input-format s16le:5:1
expect "bad raw spec" 2 '' "is not FORMAT:RATE:CHANNELS" -- "$RMEDIA" run "$T/pass.yaml" --input-format s16le
expect "unknown raw format" 2 '' "unknown sample format 'u8'" -- "$RMEDIA" run "$T/pass.yaml" --input-format u8:8000:1
printf 'abc' >"$T/odd.raw"
expect "stray bytes in raw input" 4 '' "middle of a sample frame" -- "$RMEDIA" run "$T/pass.yaml" --input-format s16le:16000:1 -i "$T/odd.raw" --output-format s16le -o "$T/x.raw"
: >"$T/none.raw"
expect "empty raw input" 4 '' "contains no audio" -- "$RMEDIA" run "$T/pass.yaml" --input-format s16le:16000:1 -i "$T/none.raw"
expect "missing audio file" 4 '' "cannot read input '$T/none.wav'" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/none.wav"
expect "unwritable audio output" 4 '' "cannot write '/nonexistent/x.wav'" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o /nonexistent/x.wav
expect "bad subtype" 2 '' "unknown --output-subtype 'u8'" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o "$T/x.wav" --output-subtype u8
expect "output rate mismatch" 4 '' "pipeline produces 22050 Hz/2 ch" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" --output-format s16le:16000:1 -o "$T/x.raw"
expect "unknown --output-node" 2 '' "--output-node: no node 'zz'" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o "$T/x.wav" --output-node zz
# ---------------------------------------------------- rough edges (#11) --
# audio extensions this build cannot write are refused, listing what it can
expect "unwritable audio extension" 2 '' "cannot write audio as '$T/x.m4a': this build writes .wav, .flac" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o "$T/x.m4a"
[[ ! -e "$T/x.m4a" ]] || fail "something was written into x.m4a"
if "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o "$T/x.m4a" 2>&1 | grep -q '\.mp3'; then
  expect "mp3 out (libsndfile has it)" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o "$T/t.mp3"
  expect "mp3 in" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/t.mp3" -o "$T/mp3.wav"
  $PY -c 'import sys; d = open(sys.argv[1], "rb").read(); assert d[:4] == b"RIFF" and len(d) > 40000' "$T/mp3.wav" || fail "mp3 round trip"
else
  expect "mp3 refused where libsndfile lacks it" 2 '' "cannot write audio as" -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o "$T/t.mp3"
fi
# audio into a pipeline whose sources take no audio
cat >"$T/calc.yaml" <<'EOF'
version: v1
nodes: [{id: m, node_type: MultiplyNode}, {id: a, node_type: AddNode}]
connections: [{from: m, to: a}]
EOF
expect "audio into a pipeline that takes none" 4 '' "the input is audio but no source node of $T/calc.yaml takes audio (sources: m (MultiplyNode))" -- "$RMEDIA" run "$T/calc.yaml" -i "$T/tone.wav"
# audio files on stdin: a streamed WAV header (length unknown, 0x7ffff000 as
# espeak-ng and others write it), FLAC, OGG, AIFF; found without --input-format
$PY - "$T" <<'EOF'
import struct, sys
d = sys.argv[1]
pcm = open(f"{d}/tone.wav", "rb").read()[44:]
hdr = b"RIFF" + struct.pack("<I", 0x7ffff024) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, 22050, 22050 * 4, 4, 16) \
      + b"data" + struct.pack("<I", 0x7ffff000)
open(f"{d}/stream.wav", "wb").write(hdr + pcm)
hdr0 = b"RIFF" + struct.pack("<I", 0) + hdr[8:40] + struct.pack("<I", 0)  # sizes left 0
open(f"{d}/stream0.wav", "wb").write(hdr0 + pcm)
EOF
count=$((count + 1))
cat "$T/stream.wav" | "$RMEDIA" run "$T/pass.yaml" --input-format audio -o "$T/s1.wav" 2>"$T/err" \
  && $PY "$T/same.py" "$T/tone.wav" "$T/s1.wav" || fail "streamed WAV on stdin (--input-format audio)" "$(cat "$T/err")"
expect "streamed WAV header in a file" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/stream.wav" -o "$T/s0.wav"
$PY "$T/same.py" "$T/tone.wav" "$T/s0.wav" || fail "streamed WAV file: samples differ"
"$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o "$T/t.aiff" 2>/dev/null
for f in stream.wav stream0.wav t.flac t.aiff; do
  count=$((count + 1))
  rm -f "$T/s2.wav"
  cat "$T/$f" | "$RMEDIA" run "$T/pass.yaml" -o "$T/s2.wav" 2>"$T/err" \
    && $PY "$T/same.py" "$T/tone.wav" "$T/s2.wav" || fail "$f on stdin, detected by its first bytes" "$(cat "$T/err")"
done
count=$((count + 1))
cat "$T/t.ogg" | "$RMEDIA" run "$T/level.yaml" -o "$T/s3.wav" >"$T/out" 2>"$T/err" && [[ $(wc -l <"$T/out") -eq 5 ]] \
  || fail "OGG on stdin" "$(cat "$T/err")"
cat "$T/t.flac" >"$T/fifo.in" && rm "$T/fifo.in" && mkfifo "$T/fifo.in"
timeout 120 bash -c 'cat "$1" >"$2"' _ "$T/t.flac" "$T/fifo.in" &
expect "FLAC from a FIFO path" 0 '' '' -- timeout 120 "$RMEDIA" run "$T/pass.yaml" -i "$T/fifo.in" -o "$T/s4.wav"
wait
$PY "$T/same.py" "$T/tone.wav" "$T/s4.wav" || fail "FLAC from a FIFO: samples differ"
printf 'RIFFxxxxWAVEjunk' | "$RMEDIA" run "$T/pass.yaml" >"$T/out" 2>"$T/err"; rc=$?
count=$((count + 1))
[[ $rc -eq 4 ]] && grep -q "'stdin' is not a readable audio stream" "$T/err" || fail "corrupt audio on stdin: exit $rc" "$(cat "$T/err")"
# the audio's sample type is kept: f32 in → f32 out, s16 in → s16 out
expect "f32 file" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/tone.wav" -o "$T/f32.wav" --output-subtype f32
expect "f32 in" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/f32.wav" -o "$T/f32b.wav"
cat >"$T/fmt.py" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
i = d.index(b"fmt ")
tag, = struct.unpack("<H", d[i + 8:i + 10]); bits, = struct.unpack("<H", d[i + 22:i + 24])
print({(3, 32): "f32", (1, 16): "s16", (1, 24): "s24", (1, 32): "s32"}.get((tag, bits), f"{tag}/{bits}"))
EOF
[[ $($PY "$T/fmt.py" "$T/f32b.wav") == f32 ]] || fail "f32 input gave $($PY "$T/fmt.py" "$T/f32b.wav") output"
[[ $($PY "$T/fmt.py" "$T/copy.wav") == s16 ]] || fail "s16 input gave $($PY "$T/fmt.py" "$T/copy.wav") output"
expect "--output-subtype still wins" 0 '' '' -- "$RMEDIA" run "$T/pass.yaml" -i "$T/f32.wav" -o "$T/s24.wav" --output-subtype s24
[[ $($PY "$T/fmt.py" "$T/s24.wav") == s24 ]] || fail "--output-subtype s24 gave $($PY "$T/fmt.py" "$T/s24.wav")"

ls "$T" | grep -q '\.tmp-' && fail "temporary audio file left behind"

finish audio
