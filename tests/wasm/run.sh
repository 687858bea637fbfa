#!/usr/bin/env bash
# Runs the rmedia CLI built for wasm32-wasi under Node.js's WASI and the
# native CLI on the same manifests and inputs, and requires identical exit
# codes, stdout and stderr (byte for byte).  Fails loudly on any difference.
#
#   tests/wasm/run.sh WASM_BUILD_DIR NATIVE_RMEDIA
#
# WASM_BUILD_DIR holds rmedia.wasm (scripts/build-wasm); NATIVE_RMEDIA is a
# native rmedia binary (any build type; `make test-wasm` picks one).
set -uo pipefail

if (($# != 2)); then
    echo "usage: $0 WASM_BUILD_DIR NATIVE_RMEDIA" >&2
    exit 2
fi
die() { echo "test-wasm: FAIL: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
wasm=$(realpath -e "$1/rmedia.wasm" 2>/dev/null) || die "$1/rmedia.wasm not found (run scripts/build-wasm)"
native=$(realpath -e "$2" 2>/dev/null) || die "native rmedia '$2' not found"
[[ -x $native ]] || die "$native is not executable"
command -v node >/dev/null || die "node not found (run scripts/bootstrap)"

# WASI needs no flag from Node 20 on; older Node (Debian 12 ships 18) does.
node_flags=()
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || node_flags+=(--experimental-wasi-unstable-preview1)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root" || die "cannot cd to $root" # manifests are passed as paths relative to the repo (preopened as ".")
unset RMEDIA_PLUGIN_PATH

failures=0 cases=0

# check NAME WANT_RC INPUT_FILE -- ARGS...
#   Runs `rmedia ARGS` natively and under WASI with stdin from INPUT_FILE;
#   both must exit with WANT_RC and print the same stdout and stderr.  If
#   $outfile is set, it is removed before each run and must be written with
#   the same contents by both.
outfile=
check() {
    local name=$1 want=$2 input=$3
    shift 3
    [[ $1 == -- ]] && shift
    local n=$tmp/$name.native w=$tmp/$name.wasm ok=1 nrc wrc
    cases=$((cases + 1))
    [[ -z $outfile ]] || rm -f "$outfile"
    "$native" "$@" <"$input" >"$n.out" 2>"$n.err"
    nrc=$?
    [[ -z $outfile ]] || mv -f "$outfile" "$n.file" 2>/dev/null || : >"$n.file"
    node "${node_flags[@]}" "$here/run-wasi.mjs" --dir "$tmp" "$wasm" "$@" <"$input" >"$w.out" 2>"$w.err"
    wrc=$?
    [[ -z $outfile ]] || mv -f "$outfile" "$w.file" 2>/dev/null || : >"$w.file"
    if ((nrc != want || wrc != want)); then
        echo "test-wasm: $name: exit codes native=$nrc wasm=$wrc, expected $want" >&2
        ok=0
    fi
    local what
    for what in out err ${outfile:+file}; do
        if ! cmp -s "$n.$what" "$w.$what"; then
            echo "test-wasm: $name: $what differs (native vs wasm):" >&2
            diff -u --label native --label wasm "$n.$what" "$w.$what" | head -40 >&2
            ok=0
        fi
    done
    if ((ok)); then
        echo "test-wasm: ok   $name"
    else
        echo "test-wasm: FAIL $name (rmedia $*)" >&2
        failures=$((failures + 1))
    fi
}

# expect NAME FILE TEXT: FILE (the native output of a case) must be TEXT, so
# a bug common to both builds cannot pass unnoticed.
expect() {
    if [[ "$(cat "$2")" != "$3" ]]; then
        echo "test-wasm: FAIL $1: native output is '$(cat "$2")', expected '$3'" >&2
        failures=$((failures + 1))
    fi
}

cp tests/wasm/calculator.input "$tmp/array.in"
printf '5\n7\n3\n' >"$tmp/lines.in"
printf '[1, 2, 3.5, -4]\n' >"$tmp/floats.in"
printf '{"operation": "divide", "operands": [1, 0]}\n' >"$tmp/div0.in"
printf '[5, 7\n' >"$tmp/truncated.in"
: >"$tmp/empty.in"

check calculator 0 "$tmp/array.in" -- run examples/calculator.json
expect calculator "$tmp/calculator.native.out" "[20,24,16]"
check calculator-lines 0 "$tmp/lines.in" -- run examples/calculator.json
expect calculator-lines "$tmp/calculator-lines.native.out" $'20\n24\n16'
outfile=$tmp/out.json
check calculator-output-file 0 "$tmp/array.in" -- run examples/calculator.json --output "$outfile"
outfile=
expect calculator-output-file "$tmp/calculator-output-file.native.file" "[20,24,16]"
check calculator-yaml 0 "$tmp/floats.in" -- run tests/wasm/calculator.yaml
check text 0 tests/wasm/text.input -- run tests/wasm/text.json
check text-values 0 tests/wasm/text.input -- run tests/wasm/text.json --format values
check validate 0 "$tmp/empty.in" -- validate examples/calculator.json tests/wasm/calculator.yaml tests/wasm/text.json
check validate-errors 1 "$tmp/empty.in" -- validate tests/wasm/invalid.json
check run-invalid 1 "$tmp/array.in" -- run tests/wasm/invalid.json
check node-error 3 "$tmp/div0.in" -- run tests/wasm/calculator.yaml
check truncated-input 4 "$tmp/truncated.in" -- run examples/calculator.json
check missing-manifest 4 "$tmp/empty.in" -- validate tests/wasm/no-such-manifest.json
# The native build has more node families (audio, speech) than the wasm
# core, so `nodes` and `schema` differ by design; the core node types must
# describe themselves identically.
for t in PassThrough MultiplyNode AddNode CalculatorNode TextProcessorNode TextCollectorNode; do
    check "inspect-$t" 0 "$tmp/empty.in" -- inspect "$t"
done
check graph 0 "$tmp/empty.in" -- graph tests/wasm/calculator.yaml
# The audio family is in the wasm build (libsoxr, kissfft from Debian sources).
check validate-audio 0 "$tmp/empty.in" -- validate examples/vad_events.yaml examples/preprocess.yaml tests/wasm/resample_vad.yaml
for t in AudioResample VAD FormatConverter ChannelMixer AudioChunker Gain AudioLevel SpeechSegmenter; do
    check "inspect-$t" 0 "$tmp/empty.in" -- inspect "$t"
done

# wasm_only NAME WANT_RC STDERR_TEXT -- ARGS...: what only the wasm build
# says (native rmedia has no sandbox and all node families).
wasm_only() {
    local name=$1 want=$2 text=$3 w=$tmp/$1.wasm rc
    shift 4
    cases=$((cases + 1))
    node "${node_flags[@]}" "$here/run-wasi.mjs" --dir "$tmp" "$wasm" "$@" <"$tmp/empty.in" >"$w.out" 2>"$w.err"
    rc=$?
    if ((rc != want)) || { [[ -n $text ]] && ! grep -qF -- "$text" "$w.err"; }; then
        echo "test-wasm: FAIL $name: exit $rc (expected $want), stderr: $(head -c 600 "$w.err")" >&2
        failures=$((failures + 1))
    else
        echo "test-wasm: ok   $name"
    fi
}
# A node type left out of the wasm build says so, not "did you mean".
wasm_only speech-not-in-wasm 1 "note: TextToSpeech is not in the wasm build: speech nodes are native only" \
    -- validate examples/speak.yaml
# Packages are made and checked by the native rmedia (libzip) and web/, not here.
wasm_only pack-not-in-wasm 5 "built without .rmpkg packages" -- pack examples/calculator.json -o x.rmpkg
# Absolute and ../ paths outside the preopened directories: the error says why.
wasm_only absolute-path 4 "reaches only the directories the WASI runtime preopens" \
    -- validate "$root/examples/calculator.json"
wasm_only parent-path 4 "reaches only the directories the WASI runtime preopens" \
    -- validate ../calculator.json
# ... and inside a preopened directory an absolute path works.
cp examples/calculator.json "$tmp/calc.json"
wasm_only absolute-preopened 0 "" -- validate "$tmp/calc.json"

if ((failures)); then
    echo "test-wasm: FAILED: $failures of $cases cases differ between native and wasm32-wasi" >&2
    exit 1
fi
echo "test-wasm: all $cases cases identical (native $(basename "$native") vs $(basename "$wasm") under node $(node --version))"
