#!/usr/bin/env bash
# `make demo` prints the demo, not the build: a quiet build of only what the
# demo needs, then the transcript (the CLI's --format transcript) and the
# latency table.  Usage: demo_test.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(realpath "$1")
SRC=$2
# a make of its own, not a sub-make of `make test` (its jobserver is not ours)
out=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$SRC" demo RELEASE="$BUILD" 2>&1)
rc=$?
fail() { echo "demo: FAIL: $1"; echo "$out" | head -60; exit 1; }
((rc == 0)) || fail "make demo exited $rc"
n=$(wc -l <<<"$out")
((n <= 40)) || fail "make demo printed $n lines (at most 40: the demo, not the build)"
grep -q 'Building C object\|Linking C\|Built target' <<<"$out" && fail "make demo printed build progress"
grep -Eq '^  \[ *[0-9]+\.[0-9]{2} s – +[0-9]+\.[0-9]{2} s\]  [a-z].*   \(confidence [01]\.[0-9]{2}\)$' <<<"$out" \
  || fail "no transcript lines in the README's layout"
grep -q 'word error rate against the script' <<<"$out" || fail "no word error rate"
grep -q '^wall time' <<<"$out" || fail "no latency table"
echo "demo: $n lines, transcript and latency table present, no build output"
