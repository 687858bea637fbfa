#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for SECONDS each, starting from
# its committed seed corpus and its crash regressions; fails if any target
# crashes, leaks, times out or runs out of memory.  New corpus entries go to
# BUILD/scratch/<target>/ (kept between runs, never into the committed
# corpus), crash reproducers to BUILD/artifacts/.
#
#   tests/fuzz/run.sh [--fresh] BUILD SECONDS [TARGET...]
#
# FUZZ_TIMEOUT (default 20) is libFuzzer's -timeout, in wall-clock seconds
# per input: raise it when fuzzing nice'd on a loaded machine, where a
# starved target can spend 20 s of wall time on an input that needs 0.2 s
# of CPU.
#
# make fuzz keeps BUILD/scratch between runs, so each run goes on from the
# last; make fuzz-slice passes --fresh (an emptied BUILD/slice/<target>), so
# the slice in make test costs the same every time.
set -uo pipefail

scratch_root=scratch
if [[ ${1:-} == --fresh ]]; then
  scratch_root=slice
  shift
fi

build=${1:?usage: run.sh BUILD SECONDS [TARGET...]}
seconds=${2:?usage: run.sh BUILD SECONDS [TARGET...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)

if (($# == 0)); then
  set --
  for bin in "$build"/fuzz_*; do [[ -x $bin ]] && set -- "$@" "${bin##*/fuzz_}"; done
fi
if (($# == 0)); then
  echo "fuzz: no targets in $build (configure with -DRM_FUZZ=ON)" >&2
  exit 1
fi

# Leak checks stay on; only the third-party leaks listed (with reasons) in
# lsan.supp are suppressed.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export RMEDIA_PLUGIN_PATH=

report=${FUZZ_REPORT:-$build/fuzz-report.txt}
failed=()
printf '%-14s %7s %7s %10s %8s %8s %7s  %s\n' target wall_s cpu_s execs cov ft corpus result > "$report"
for t in "$@"; do
  bin="$build/fuzz_$t"
  if [[ ! -x $bin ]]; then
    echo "fuzz: $bin is missing" >&2
    failed+=("$t")
    continue
  fi
  scratch="$build/$scratch_root/$t"
  [[ $scratch_root == slice ]] && rm -rf "$scratch"
  mkdir -p "$scratch" "$build/artifacts" "$build/logs/$scratch_root"
  dirs=("$scratch" "$here/corpus/$t")
  [[ -d $here/regressions/$t ]] && dirs+=("$here/regressions/$t")
  opts=(-max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-20}" -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$build/artifacts/$t-")
  [[ -f $here/$t.dict ]] && opts+=(-dict="$here/$t.dict")
  case $t in
    manifest_*) opts+=(-max_len=16384) ;;
    audio_file) opts+=(-max_len=32768) ;;
    # the wasm library's runtime logs every node error to stderr (rmw has no
    # log option): libFuzzer closes the target's stderr and keeps its own
    # output and the sanitizer reports on a copy
    rmw) opts+=(-max_len=16384 -close_fd_mask=2) ;;
  esac
  log="$build/logs/$scratch_root/$t.log"
  echo "fuzz: $t for ${seconds}s (log: $log)"
  TIMEFORMAT='%R %U %S' # wall, user and system CPU seconds of the target
  { time "$bin" "${opts[@]}" "${dirs[@]}" > "$log" 2>&1; } 2> "$log.time"
  rc=$?
  read -r wall user sys < "$log.time"
  cpu=$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN { printf "%.0f", u + s }')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse)' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
  result=ok
  if ((rc != 0)); then
    result="FAILED (exit $rc)"
    failed+=("$t")
    grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY|Test unit written' "$log" | head -8 >&2
  fi
  printf '%-14s %7.0f %7s %10s %8s %8s %7s  %s\n' "$t" "${wall:-0}" "${cpu:-?}" "${execs:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}" "$result" \
    >> "$report"
done
cat "$report"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (logs in $build/logs, reproducers in $build/artifacts)" >&2
  exit 1
fi
