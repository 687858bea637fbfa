#!/usr/bin/env bash
# PythonNode through rmedia run: import errors at validation, every frame
# kind across the worker, supervision (crash, hang, memory), parallel
# sessions, no worker left behind (also after SIGKILL of rmedia).
# Usage: run.sh RMEDIA SOURCE_DIR
set -u
rmedia=$1
src=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
source "$src/tests/lib.sh"
cp "$src/tests/python_node/nodes.py" "$T/"

manifest() { # manifest FILE CLASS [extra params as YAML flow items] [on_error]
  cat >"$T/$1" <<YAML
version: v1
nodes:
  - id: py
    node_type: PythonNode
    params: {class: "$2"${3:+, $3}}
${4:+    on_error: $4}
YAML
}

# Workers inherit the environment, so this tag tells ours from those of tests
# running at the same time (ctest -j).
export RM_PYTHON_NODE_TEST_TAG="python_node.$$"
workers() { # worker processes started by us that are still alive
  for m in /proc/[0-9]*/maps; do
    grep -qs "memfd:rmedia-pyworker" "$m" && [[ "$(cat "${m%/maps}/comm" 2>/dev/null)" == python3* ]] &&
      tr '\0' '\n' < "${m%/maps}/environ" 2>/dev/null | grep -qx "RM_PYTHON_NODE_TEST_TAG=$RM_PYTHON_NODE_TEST_TAG" &&
      echo "${m%/maps}"
  done
}

# --- the example, from another directory (its manifest's dir is on sys.path)
STDIN=$'"hello world"\n"a b c"'
expect example 0 '{"total_words":5}' '' -- "$rmedia" run "$src/examples/python-node/pipeline.yaml"

# --- validation: the node and the class are named, before any input runs
manifest bad_mod.yaml "no_such_module:X"
STDIN='"x"'
expect import-error 1 '' "no_such_module" -- "$rmedia" run "$T/bad_mod.yaml"
grep -q "'py'" "$T/err" || fail "import error names the node" "$(cat "$T/err")"
manifest noproc.yaml "nodes:NoProcess"
expect no-process 1 '' "has no process() method" -- "$rmedia" run "$T/noproc.yaml"
manifest nocls.yaml "nodes:Missing"
expect no-class 1 '' "has no class 'Missing'" -- "$rmedia" run "$T/nocls.yaml"
REMOTEMEDIA_PYTHON=/nonexistent/python3 expect bad-interp 3 '' "worker" -- "$rmedia" run "$T/noproc.yaml"

# --- the class's own params: loose keys and an explicit args object merge
cat >"$T/kw.yaml" <<'YAML'
version: v1
nodes:
  - {id: a, node_type: PythonNode, params: {first: 1, class: "nodes:Kw", args: {b: 2, first: 0}, last: 3}}
YAML
STDIN='1'
expect rest-params 0 '{"b":2,"first":0,"last":3}' '' -- "$rmedia" run "$T/kw.yaml"

# --- every frame kind crosses: text, json, binary-free json, audio at odd rates, tensors
manifest echo.yaml "nodes:Echo"
STDIN=$'"héllo"\n{"a": [1, 2.5, null]}\n42'
expect echo-text-json 0 '{"a":[1,2.5,null]}' '' -- "$rmedia" run "$T/echo.yaml"
grep -q '"héllo"' "$T/out" || fail "text round trip" "$(cat "$T/out")"
# --- the debug trace (RM_PYW_TRACE): one line per process() call, 14 stamps
# in causal order (host: call <= request written <= kicked <= reply seen <=
# decoded <= emitted; the worker takes the request after the call began and
# writes its reply before the host sees it)
STDIN=$(seq 1 20)
RM_PYW_TRACE="$T/trace.txt" expect trace 0 '20' '' -- "$rmedia" run "$T/echo.yaml"
count=$((count + 1))
/usr/bin/python3 - "$T/trace.txt" <<'PY' || fail "trace: 20 lines of causally ordered stamps" "$(head -3 "$T/trace.txt")"
import sys
rows = [l.split() for l in open(sys.argv[1])]
assert len(rows) == 20, len(rows)
for r in rows:
    assert r[0] == "pyw" and len(r) == 16, r
    (call, put, kick, seen, dec, emit, spun, slept, w_woken, w_seen, w_call, w_ret, w_put, w_sent) = map(int, r[2:])
    assert call <= put <= kick <= spun and kick <= seen <= dec <= emit, r
    assert call <= w_seen <= w_call <= w_ret <= w_put <= seen, r
    assert w_sent == 0 or w_sent >= w_put, r
assert all(int(r[-1]) for r in rows[:-1]), "the publish stamp of each but the last call"
PY

manifest scale.yaml "nodes:Scale" "gain: 0.5"
for rate in 8000 22050 44100; do
  for ch in 1 2; do
    /usr/bin/python3 - "$T/in_${rate}_${ch}.wav" "$rate" "$ch" <<'PY'
import sys, wave, numpy as np
path, rate, ch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
n = rate // 2
t = np.arange(n) / rate
x = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
x = np.repeat(x[:, None], ch, axis=1)
with wave.open(path, "wb") as w:
    w.setnchannels(ch); w.setsampwidth(2); w.setframerate(rate); w.writeframes(x.tobytes())
PY
    unset STDIN
    expect "audio-$rate-$ch" 0 '' '' -- "$rmedia" run "$T/scale.yaml" -i "$T/in_${rate}_${ch}.wav" -o "$T/out_${rate}_${ch}.wav"
    /usr/bin/python3 - "$T/in_${rate}_${ch}.wav" "$T/out_${rate}_${ch}.wav" <<'PY' || fail "audio $rate Hz x $ch: halved, same rate and channels"
import sys, wave, numpy as np
def load(p):
    with wave.open(p) as w:
        r, c, sw = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    dt = {2: "<i2", 4: "<i4"}[sw] if sw != 4 else "<f4"
    return r, c, np.frombuffer(raw, dtype="<i2" if sw == 2 else "<f4")
ri, ci, a = load(sys.argv[1]); ro, co, b = load(sys.argv[2])
assert (ri, ci) == (ro, co), (ri, ci, ro, co)
a = a.astype(np.float64) / (32768 if a.dtype.kind == "i" else 1)
b = b.astype(np.float64) / (32768 if b.dtype.kind == "i" else 1)
assert len(a) == len(b), (len(a), len(b))
assert np.max(np.abs(b - a * 0.5)) < 2e-3, np.max(np.abs(b - a * 0.5))
PY
  done
done

# --- supervision: the node and the cause are named, rmedia exits cleanly
manifest crash.yaml "nodes:CrashOnSecond"
STDIN=$'1\n2\n3'
expect crash 3 '' "crashed: killed by signal 11" -- "$rmedia" run "$T/crash.yaml"
grep -q "PythonNode 'py'" "$T/err" || fail "crash names the node" "$(cat "$T/err")"
# skip policy: the crashed frame is dropped, a new worker takes the next one
manifest crash_skip.yaml "nodes:CrashOnSecond" "" skip
expect crash-skip 0 '3' '' -- "$rmedia" run "$T/crash_skip.yaml"
grep -q '^1$' "$T/out" || fail "frame before the crash" "$(cat "$T/out")"
manifest hang.yaml "nodes:Hang" "timeout_ms: 300"
STDIN='1'
expect hang 3 '' "timed out: no reply within timeout_ms=300" -- "$rmedia" run "$T/hang.yaml"
manifest hog.yaml "nodes:Hog" "memory_limit_mb: 300"
expect memory 3 '' "memory limit exceeded (memory_limit_mb=300)" -- "$rmedia" run "$T/hog.yaml"
manifest raises.yaml "nodes:Raises"
expect exception 3 '' "ValueError: bad input 1" -- "$rmedia" run "$T/raises.yaml"
left=$(workers)
[[ -z "$left" ]] || fail "no workers left after the runs" "$left"

# --- 8 sessions in parallel: 8 rmedia processes, each with its own worker
manifest sleepy.yaml "nodes:Sleepy" "ms: 50, init_timeout_ms: 600000" # 8 imports at once: slow on a loaded machine
pids=()
for i in 1 2 3 4 5 6 7 8; do
  seq 1 10 | "$rmedia" run "$T/sleepy.yaml" >"$T/par$i.out" 2>"$T/par$i.err" &
  pids+=($!)
done
for i in 1 2 3 4 5 6 7 8; do
  count=$((count + 1))
  wait "${pids[$((i - 1))]}" || fail "parallel session $i" "$(cat "$T/par$i.err")"
  [[ $(grep -c '"pid"' "$T/par$i.out") == 10 ]] || fail "parallel session $i: 10 outputs" "$(cat "$T/par$i.out")"
done
n_pids=$(cat "$T"/par*.out | grep -o '"pid":[0-9]*' | sort -u | wc -l)
[[ $n_pids == 8 ]] || fail "8 sessions use 8 workers" "got $n_pids distinct worker pids"

# --- SIGKILL of the host leaves no worker behind
manifest slow.yaml "nodes:Sleepy" "ms: 200"
(for i in $(seq 1 300); do echo $i; sleep 0.1; done) 2>/dev/null | "$rmedia" run "$T/slow.yaml" >"$T/kill.out" 2>&1 &
# wait for the worker's first output (a loaded machine starts Python slowly)
for _ in $(seq 1 300); do grep -q '"pid"' "$T/kill.out" && break; sleep 0.1; done
host=$(pgrep -n -f "rmedia run $T/slow.yaml")
wpid=$(grep -o '"pid":[0-9]*' "$T/kill.out" | head -1 | cut -d: -f2)
count=$((count + 1))
if [[ -z "$host" || -z "$wpid" ]]; then
  fail "SIGKILL test: host and worker running" "host=$host worker=$wpid $(cat "$T/kill.out")"
else
  kill -KILL "$host"
  for _ in $(seq 1 50); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$wpid" 2>/dev/null && { fail "worker $wpid outlived its SIGKILLed host"; kill -KILL "$wpid"; }
fi
wait 2>/dev/null || true

echo "python_node: $count checks, $failures failed"
[[ $failures == 0 ]]
