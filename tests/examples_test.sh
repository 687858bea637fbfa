#!/usr/bin/env bash
# Every manifest in examples/ runs, as its comment says, and does what it
# promises.  Usage: examples_test.sh RMEDIA SOURCE_DIR
set -u
RMEDIA=$1
SRC=$2
source "$(dirname "$0")/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$SRC" || exit 1

# check NAME EXPECTED_SUBSTRING -- COMMAND...  (exit 0 and that in stdout)
check() {
  local name=$1 want=$2
  shift 3
  expect "$name" 0 "$want" '' -- "$@"
}

# every example validates (and `rmedia graph` renders it)
for m in examples/*.json examples/*.yaml; do
  # RemotePipeline (offload.yaml) exists only in builds with the gRPC transport
  if grep -q 'node_type: RemotePipeline' "$m" && ! "$RMEDIA" nodes | grep -q '^RemotePipeline '; then continue; fi
  count=$((count + 1))
  "$RMEDIA" validate "$m" >/dev/null 2>"$T/err" || fail "validate $m" "$(cat "$T/err")"
  "$RMEDIA" graph "$m" >/dev/null 2>"$T/err" || fail "graph $m" "$(cat "$T/err")"
done

STDIN='[5, 7, 3]' check calculator '[20,24,16]' -- "$RMEDIA" run examples/calculator.json
STDIN=$'"Dr. Smi"\n"th arrived. It was la"\n"te!"' check sentences '"DR. SMITH ARRIVED."' -- "$RMEDIA" run examples/sentences.yaml -f values

if "$RMEDIA" nodes | grep -q '^VAD '; then
  # a tone with a burst of noise in the middle: the VAD examples see one burst
  /usr/bin/python3 - "$T" <<'EOF'
import math, random, struct, sys, wave
random.seed(1)
rate = 22050
w = wave.open(sys.argv[1] + "/burst.wav", "wb"); w.setnchannels(2); w.setsampwidth(2); w.setframerate(rate)
frames = []
for i in range(int(3.0 * rate)):
    t = i / rate
    v = 0.0
    if 1.0 <= t < 2.0:  # speech-like: a buzzy vowel with a syllable rhythm
        v = 0.3 * math.sin(2 * math.pi * 140 * t) * (0.5 + 0.5 * math.sin(2 * math.pi * 4 * t)) \
            + 0.15 * math.sin(2 * math.pi * 700 * t) + 0.05 * math.sin(2 * math.pi * 1200 * t)
    v += random.gauss(0, 0.001)
    s = int(max(-1, min(1, v)) * 32767)
    frames.append(struct.pack("<hh", s, s))
w.writeframes(b"".join(frames)); w.close()
EOF
  check preprocess '"node":"events"' -- "$RMEDIA" run examples/preprocess.yaml -i "$T/burst.wav" -o "$T/pre.wav"
  count=$((count + 1))
  /usr/bin/python3 -c 'import sys, wave; w = wave.open(sys.argv[1]); assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (16000, 2, 2), w.getparams()' \
    "$T/pre.wav" 2>"$T/err" || fail "preprocess writes 16 kHz s16" "$(cat "$T/err")"
  check vad_events '"is_speech_start":true' -- "$RMEDIA" run examples/vad_events.yaml -i "$T/burst.wav"
  check utterances '' -- "$RMEDIA" run examples/utterances.yaml -i "$T/burst.wav" -o "$T/utt.wav"
fi

if "$RMEDIA" nodes | grep -q '^SpeechToText '; then
  STDIN='"Turn on the kitchen lights."' check speak '' -- "$RMEDIA" run examples/speak.yaml -o "$T/speech.wav"
  # the voice agent (served over WebRTC in docs/webrtc.md) also runs offline
  STDIN='"Please open the front door."' check speak-question '' -- \
    "$RMEDIA" run examples/speak.yaml --set tts.voice=rms -o "$T/question.wav"
  check voice-agent '"you said please open the front door"' -- \
    "$RMEDIA" run examples/voice-agent.yaml -i "$T/question.wav" -o "$T/answer.wav" -f values
  # text that is not UTF-8 never reaches the synthesiser: the input line is
  # rejected by name and no WAV file is left behind
  STDIN=$'"Turn on the \xff lights."' expect "speak: invalid UTF-8" 4 '' "stdin:1: invalid JSON input: unable to decode byte 0xff" -- \
    "$RMEDIA" run examples/speak.yaml -o "$T/bad-speech.wav"
  count=$((count + 1))
  ! ls "$T" | grep -q 'bad-speech' || fail "speak: invalid UTF-8 left a file: $(ls "$T")"
  check transcribe '"value":"turn on the kitchen lights"' -- "$RMEDIA" run examples/transcribe.yaml -i "$T/speech.wav"
  check transcribe-results '"start_ms"' -- "$RMEDIA" run examples/transcribe.yaml -i "$T/speech.wav" --only stt.results
  STDIN='"Turn on the kitchen lights."' check voice-loop '"turn on the kitchen lights"' -- "$RMEDIA" run examples/voice-loop.yaml --only stt.out -f values
  STDIN='"Turn on the kitchen lights."' expect "voice-loop: the inserted resampler is logged" 0 '' \
    "node 'stt-resample': inserted AudioResample (target_rate: 16000) on the link vad → stt" -- \
    "$RMEDIA" -vv run examples/voice-loop.yaml --only stt.out -f values
  count=$((count + 1))
  "$RMEDIA" graph examples/voice-loop.yaml | grep -q '"stt-resample" \[label=.*style="rounded,dashed"' \
    || fail "voice-loop: rmedia graph marks the inserted resampler"
  STDIN='"Please call me back in ten minutes."' check voice-loop-8k '"please call me back in ten minutes"' -- \
    "$RMEDIA" run examples/voice-loop.yaml --only stt.out -f values --set line.target_rate=8000
  STDIN='"Turn on the kitchen lights."' check speech-roundtrip '"turn on the kitchen lights"' -- "$RMEDIA" run examples/speech-roundtrip.yaml -f values --only stt.out
  for cmd in "lights on" "lights off" "play music"; do
    STDIN="\"$cmd\"" check "commands: $cmd" "\"$cmd\"" -- "$RMEDIA" run examples/commands.yaml -f values --only stt.out
  done
  if "$RMEDIA" nodes | grep -q '^RemotePipeline '; then
    # offload.yaml against a server of our own (ephemeral port, stopped by PID)
    "$RMEDIA" serve --listen 127.0.0.1:0 --port-file "$T/port" >"$T/serve.log" 2>&1 &
    spid=$!
    for _ in $(seq 300); do [[ -s "$T/port" ]] && break; sleep 0.1; done
    addr="127.0.0.1:$(cat "$T/port" 2>/dev/null)"
    for _ in $(seq 100); do "$RMEDIA" remote health --server "$addr" >/dev/null 2>&1 && break; sleep 0.1; done
    "$RMEDIA" run examples/transcribe.yaml -i "$T/speech.wav" -f jsonl >"$T/local.jsonl" 2>/dev/null
    check offload '"value":"turn on the kitchen lights"' -- "$RMEDIA" run examples/offload.yaml -i "$T/speech.wav" \
      -f jsonl --set "asr.endpoints=[\"$addr\"]"
    count=$((count + 1))
    sed 's/"node":"asr"/"node":"stt"/' "$T/out" | cmp -s - "$T/local.jsonl" \
      || fail "offload prints what transcribe prints" "$(diff "$T/local.jsonl" "$T/out")"
    kill -TERM "$spid"
    wait "$spid" || fail "rmedia serve (offload) exited $?" "$(tail -20 "$T/serve.log")"
  fi
fi

finish examples
