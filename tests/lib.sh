# Helpers shared by the shell test suites (sourced).  The suite creates $T,
# a temporary directory.  Stdin of a checked command is $STDIN when set,
# else /dev/null.
failures=0
count=0

fail() {
  echo "FAIL: $1"
  shift
  for line in "$@"; do echo "    $line"; done
  failures=$((failures + 1))
}

# Runs COMMAND... with stdout in $T/out and stderr in $T/err; sets $rc.
run_cmd() {
  if [[ -n "${STDIN+x}" ]]; then
    "$@" >"$T/out" 2>"$T/err" <<<"$STDIN"
  else
    "$@" >"$T/out" 2>"$T/err" </dev/null
  fi
  rc=$?
}

# expect NAME EXIT_CODE STDOUT_SUBSTRING STDERR_SUBSTRING -- COMMAND...
# ('' skips a substring check)
expect() {
  local name=$1 code=$2 want_out=$3 want_err=$4
  shift 5
  count=$((count + 1))
  run_cmd "$@"
  if [[ $rc -ne $code ]]; then
    fail "$name: exit $rc, expected $code" "stdout: $(head -c 400 "$T/out")" "stderr: $(head -c 600 "$T/err")"
  elif [[ -n "$want_out" ]] && ! grep -qF -- "$want_out" "$T/out"; then
    fail "$name: stdout lacks '$want_out'" "stdout: $(head -c 600 "$T/out")"
  elif [[ -n "$want_err" ]] && ! grep -qF -- "$want_err" "$T/err"; then
    fail "$name: stderr lacks '$want_err'" "stderr: $(head -c 600 "$T/err")"
  fi
}

# exact NAME EXPECTED_STDOUT -- COMMAND...  (exit code 0 and exactly that output)
exact() {
  local name=$1 want=$2
  shift 3
  count=$((count + 1))
  run_cmd "$@"
  local out
  out=$(cat "$T/out")
  if [[ $rc -ne 0 || "$out" != "$want" ]]; then
    fail "$name: exit $rc" "stdout:   $(printf '%q' "$out")" "expected: $(printf '%q' "$want")" \
      "stderr: $(head -c 600 "$T/err")"
  fi
}

# Prints the suite's summary; its status is the suite's.
finish() {
  echo "$1: $count checks, $failures failed"
  [[ $failures -eq 0 ]]
}
