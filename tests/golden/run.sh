#!/usr/bin/env bash
# Golden pipeline tests: each directory holds a manifest, an input and the
# exact expected output of `rmedia run` (plus optional extra arguments in
# args).  Usage: run.sh RMEDIA SOURCE_DIR.  To refresh an expectation after a
# deliberate change: rmedia run DIR/manifest.* -i DIR/input.json > DIR/expected.txt
set -u
RMEDIA=$1
SRC=$2
failures=0
n=0
for dir in "$SRC"/tests/golden/*/; do
  name=$(basename "$dir")
  manifest=$(ls "$dir"manifest.* 2>/dev/null | head -1)
  [[ -n "$manifest" ]] || continue
  n=$((n + 1))
  args=()
  [[ -f "$dir/args" ]] && read -r -a args <"$dir/args"
  got=$("$RMEDIA" run "$manifest" -i "$dir/input.json" "${args[@]}" 2>"$dir/../.stderr-$name")
  rc=$?
  if [[ $rc -ne 0 ]] || [[ "$got" != "$(cat "$dir/expected.txt")" ]]; then
    echo "FAIL: golden/$name (exit $rc)"
    diff <(echo "$got") "$dir/expected.txt" | head -20
    head -5 "$dir/../.stderr-$name"
    failures=$((failures + 1))
  fi
  rm -f "$dir/../.stderr-$name"
done
echo "golden: $n pipelines, $failures failed"
[[ $failures -eq 0 && $n -gt 0 ]]
