#!/usr/bin/env bash
# Size and speed of rmedia.wasm against the native CLI, printed as a table
# (a measurement, not a test: nothing is asserted).  The process timings are
# interleaved round-robin so machine load affects every row alike; medians.
#
#   tests/wasm/bench.sh WASM_BUILD_DIR NATIVE_RMEDIA [RUNS]
set -euo pipefail
(($# >= 2)) || { echo "usage: $0 WASM_BUILD_DIR NATIVE_RMEDIA [RUNS]" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
wasm=$(realpath -e "$1/rmedia.wasm")
native=$(realpath -e "$2")
runs=${3:-31}
cd "$root"
node_flags=()
(($(node -p 'process.versions.node.split(".")[0]') >= 20)) || node_flags+=(--experimental-wasi-unstable-preview1)

printf 'rmedia.wasm: %s bytes (%s gzip -9); wasm libremotemedia.a: %s bytes; node %s\n' \
    "$(stat -c %s "$wasm")" "$(gzip -9c "$wasm" | wc -c)" \
    "$(stat -c %s "$(dirname "$wasm")/libremotemedia.a")" "$(node --version)"

/usr/bin/python3 - "$runs" "$native" "$wasm" "$here" "${node_flags[@]}" <<'PY'
import json, statistics, subprocess, sys, time
runs, native, wasm, here, node_flags = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
args = ["run", "examples/calculator.json", "--input", "tests/wasm/calculator.input"]
node = ["node", *node_flags]
rows = [
    ("native: rmedia run calculator", [native, *args]),
    ("native: rmedia version (process cost)", [native, "version"]),
    ("node: rmedia.wasm run calculator", [*node, f"{here}/run-wasi.mjs", wasm, *args]),
    ("node: rmedia.wasm version (process cost)", [*node, f"{here}/run-wasi.mjs", wasm, "version"]),
    # V8 optimises hot wasm functions with TurboFan in the background; for
    # a run this short, the baseline compiler alone is cheaper.
    ("node --liftoff-only: rmedia.wasm run calculator", [*node, "--liftoff-only", f"{here}/run-wasi.mjs", wasm, *args]),
    ("node -e 0 (bare node start-up)", ["node", "-e", "0"]),
]
times = {name: [] for name, _ in rows}
for _ in range(runs):
    for name, cmd in rows:
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
        times[name].append((time.perf_counter() - t0) * 1e3)
        if r.returncode != 0:
            sys.exit(f"bench: {' '.join(cmd)} failed: {r.stderr.decode()}")
med = {k: statistics.median(v) for k, v in times.items()}

def warm(extra):
    out = subprocess.run([*node, f"{here}/bench-wasi.mjs", str(runs * 10), wasm, *extra],
                         check=True, capture_output=True).stdout
    return json.loads(out)["median_ms"]
med["wasm warm: run calculator (module reused)"] = warm(args)
med["wasm warm: version (module reused)"] = warm(["version"])

print(f"calculator manifest, input [5,7,3]; medians of {runs} interleaved process runs "
      f"and {runs * 10} warm runs\n")
print(f"{'':50} {'median ms':>10}")
for k, v in med.items():
    print(f"{k:50} {v:10.2f}")
n, w = med["native: rmedia run calculator"], med["node: rmedia.wasm run calculator"]
print(f"\nnode+wasm process / native process: {w / n:.1f}x")
PY
