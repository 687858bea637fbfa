#!/usr/bin/env bash
# CLI integration tests: run the real rmedia binary and check output, stderr
# and exit codes.  Usage: cli_test.sh RMEDIA SOURCE_DIR EXAMPLE_PLUGIN
set -u
RMEDIA=$1
SRC=$2
PLUGIN=$3
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
source "$(dirname "$0")/../lib.sh"

CALC=$SRC/examples/calculator.json
cat >"$T/calc.yaml" <<'EOF'
version: v1
metadata: {name: calc-yaml}
nodes:
  - {id: multiply, node_type: MultiplyNode, params: {factor: 2}}
  - {id: add, node_type: AddNode, params: {addend: 10}}
connections:
  - {from: multiply, to: add}
EOF

# ------------------------------------------------------------------- run --
STDIN='[5,7,3]' exact "calculator array" '[20,24,16]' -- "$RMEDIA" run "$CALC"
STDIN=$'5\n7\n\n3' exact "calculator lines" $'20\n24\n16' -- "$RMEDIA" run "$CALC"
STDIN='[5,7,3]' exact "calculator yaml" '[20,24,16]' -- "$RMEDIA" run "$T/calc.yaml"
STDIN=$'[1,2]\n[3]' exact "lines that start with an array" $'[12,14]\n[16]' -- "$RMEDIA" run "$CALC"
STDIN='[[1,2],"hi",{"a":1}]' exact "array of mixed inputs" '[[12,14],"hi",{"a":1}]' -- "$RMEDIA" run "$CALC"
STDIN='5' exact "format jsonl" '{"node":"add","port":"out","seq":1,"value":20}' -- "$RMEDIA" run -f jsonl "$CALC"
STDIN='[5,7]' exact "format values" $'20\n24' -- "$RMEDIA" run --format values "$CALC"
echo '[1,2,3]' >"$T/in.json"
expect "--input file, --output file" 0 '' '' -- "$RMEDIA" run "$CALC" --input "$T/in.json" --output "$T/out.json"
[[ "$(cat "$T/out.json" 2>/dev/null)" == "[12,14,16]" ]] || fail "output file content" "$(cat "$T/out.json" 2>&1)"

cat >"$T/fanout.yaml" <<'EOF'
version: v1
nodes:
  - {id: src, node_type: PassThrough}
  - {id: double, node_type: MultiplyNode}
  - {id: plus1, node_type: AddNode, params: {addend: 1}}
connections:
  - {from: src, to: double}
  - {from: src, to: plus1}
EOF
STDIN='[1,2]' exact "two sinks" '{"double":[2,4],"plus1":[2,3]}' -- "$RMEDIA" run "$T/fanout.yaml"
STDIN='1' exact "two sinks, lines" $'{"node":"double","port":"out","seq":1,"value":2}\n{"node":"plus1","port":"out","seq":1,"value":2}' -- "$RMEDIA" run "$T/fanout.yaml"

STDIN='[5]' expect "metrics" 0 '[20]' '"node_metrics":{"multiply":{"node_type":"MultiplyNode","calls":1' -- "$RMEDIA" run --metrics "$CALC"
STDIN='[5]' expect "metrics file" 0 '[20]' '' -- "$RMEDIA" run "--metrics=$T/m.json" "$CALC"
$PY -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["total_duration_us"] >= 0 and "add" in m["node_metrics"]' "$T/m.json" \
  || fail "metrics file is not the metrics JSON"
STDIN='[5]' expect "table" 0 '[20]' 'share' -- "$RMEDIA" run --table "$CALC"

STDIN='[5]' exact "--set overrides a param" '[110]' -- "$RMEDIA" run "$CALC" --set add.addend=100
STDIN='[5]' exact "--set with an alias and JSON" '[25]' -- "$RMEDIA" run "$CALC" --set multiply.multiplier=3 --set add.addend=10
STDIN='[5]' expect "--set validated like the manifest" 1 '' "parameter 'addend' of AddNode: expected a number, got string \"abc\"" -- "$RMEDIA" run "$CALC" --set add.addend=abc
STDIN='[5]' expect "--set unknown node" 2 '' "no node 'zz'" -- "$RMEDIA" run "$CALC" --set zz.addend=1
STDIN='[5]' expect "--set malformed" 2 '' "expected NODE.PARAM=VALUE" -- "$RMEDIA" run "$CALC" --set addend
STDIN='[1,2]' exact "--only one sink" '{"double":[2,4]}' -- "$RMEDIA" run "$T/fanout.yaml" --only double

# ------------------------------------------------------------ bad inputs --
STDIN=$'1\n{"a": \n3' expect "invalid JSON input line" 4 '' 'stdin:2: invalid JSON input' -- "$RMEDIA" run "$CALC"
expect "missing input file" 4 '' "cannot read input '$T/none.json'" -- "$RMEDIA" run "$CALC" -i "$T/none.json"
expect "missing manifest" 4 '' 'cannot open manifest' -- "$RMEDIA" run "$T/nope.yaml"
printf '{"version": "v1", "nodes": [' >"$T/trunc.json"
expect "truncated JSON manifest" 1 '' "$T/trunc.json:1:" -- "$RMEDIA" run "$T/trunc.json"
printf 'version: v1\nnodes:\n  - id: a\n   node_type: AddNode\n' >"$T/bad.yaml"
expect "invalid YAML manifest" 1 '' "$T/bad.yaml:4:" -- "$RMEDIA" validate "$T/bad.yaml"
cat >"$T/div.yaml" <<'EOF'
version: v1
nodes: [{id: calc, node_type: CalculatorNode}]
EOF
STDIN='[{"operation":"divide","operands":[1,0]}]' expect "node failure" 3 '' "node 'calc': division by zero (RM_ENODE)" -- "$RMEDIA" run "$T/div.yaml"
STDIN='["2+2"]' expect "wrong frame kind at run time" 3 '' "accepts json, got a text frame" -- "$RMEDIA" run "$T/div.yaml"
# a failed run leaves no output file (and no temporary file) behind
STDIN='[{"operation":"divide","operands":[1,0]}]' expect "no half-written output" 3 '' '' -- "$RMEDIA" run "$T/div.yaml" -o "$T/never.json"
[[ ! -e "$T/never.json" ]] || fail "output file written by a failed run"
ls "$T" | grep -q 'never.json.tmp' && fail "temporary output file left behind"
expect "unwritable output" 4 '' "cannot write '/nonexistent/dir/o.json'" -- "$RMEDIA" run "$CALC" -i "$T/in.json" -o /nonexistent/dir/o.json

# -------------------------------------------------------------- validate --
expect "validate ok" 0 "calculator.json: ok (2 nodes, 1 sources, 1 sinks)" '' -- "$RMEDIA" validate "$CALC"
cat >"$T/many.yaml" <<'EOF'
version: v2
nodes:
  - {id: a, node_type: MultiplyNod}
  - {id: b, node_type: AddNode, params: {addend: ten}}
connections:
  - {from: a, to: c}
EOF
expect "validate reports every problem" 1 '' "4 problems" -- "$RMEDIA" validate "$T/many.yaml"
for want in "$T/many.yaml:1:10: error: unsupported manifest version" \
            "$T/many.yaml:3:24: error: node 'a': unknown node type 'MultiplyNod'; did you mean 'MultiplyNode'?" \
            "$T/many.yaml:4:50: error: node 'b': parameter 'addend' of AddNode: expected a number" \
            "$T/many.yaml:6:19: error: connection references unknown target node 'c'"; do
  grep -qF -- "$want" "$T/err" || fail "validate message" "missing: $want" "got: $(cat "$T/err")"
done
expect "validate several files" 1 'calculator.json: ok' '' -- "$RMEDIA" validate "$CALC" "$T/many.yaml"
expect "validate missing file" 4 '' 'cannot open manifest' -- "$RMEDIA" validate "$T/absent.yaml"

# Typos in keys: accepted with a located warning and a "did you mean";
# --strict makes warnings fail (validate and run).
cat >"$T/typo.yaml" <<'EOF'
version: v1
nodes:
  - {id: a, node_type: AddNode, parms: {addend: 1}}
conections:
  - {from: a, to: a}
EOF
expect "validate warns about typos and is ok" 0 "typo.yaml: ok (1 nodes" \
  "$T/typo.yaml:5:3: warning: unknown top-level key 'conections' is ignored; did you mean 'connections'? (at conections)" \
  -- "$RMEDIA" validate "$T/typo.yaml"
grep -qF "$T/typo.yaml:3:40: warning: node 'a': unknown node key 'parms' is ignored; did you mean 'params'? (at nodes[0].parms)" "$T/err" \
  || fail "validate: node key warning" "$(cat "$T/err")"
expect "validate --strict fails on warnings" 1 '' "typo.yaml: 2 warnings (--strict)" -- "$RMEDIA" validate --strict "$T/typo.yaml"
expect "validate --strict on a clean manifest" 0 "calculator.json: ok" '' -- "$RMEDIA" validate --strict "$CALC"
STDIN='[5]' expect "run warns about typos and runs" 0 '[5]' "warning: unknown top-level key 'conections'" -- "$RMEDIA" run "$T/typo.yaml"
STDIN='[5]' expect "run --strict fails on warnings" 1 '' "--strict: the manifest has warnings" -- "$RMEDIA" run --strict "$T/typo.yaml"
[[ ! -s "$T/out" ]] || fail "run --strict ran the pipeline" "$(cat "$T/out")"

# A cycle is reported together with the other problems of the file.
cat >"$T/cycle.yaml" <<'EOF'
version: v1
nodes:
  - {id: a, node_type: PassThrough}
  - {id: b, node_type: PassThrough}
  - {id: t, node_type: TextProcessorNode}
  - {id: r, node_type: AudioResample, params: {target_rate: 16000}}
  - {id: c, node_type: AddNode}
connections:
  - {from: a, to: b}
  - {from: b, to: a}
  - {from: t, to: r}
EOF
expect "a cycle does not hide other errors" 1 '' "2 problems" -- "$RMEDIA" validate "$T/cycle.yaml"
for want in "error: the graph contains a cycle: a → b → a" "error: node 'r': link t.out → r.in: t (TextProcessorNode) produces json"; do
  grep -qF -- "$want" "$T/err" || fail "cycle with other errors" "missing: $want" "got: $(cat "$T/err")"
done
sed -i 's/node_type: AddNode}/node_type: AddNode, params: {addend: x}}/' "$T/cycle.yaml"
expect "a cycle and a bad param" 1 '' "error: the graph contains a cycle: a → b → a" -- "$RMEDIA" validate "$T/cycle.yaml"
grep -qF "parameter 'addend' of AddNode: expected a number" "$T/err" || fail "cycle with a bad param" "$(cat "$T/err")"

# What a remote client could send: a YAML alias bomb as the version, a NUL
# escape in a node type, a chain deeper than any C stack.
$PY - "$T" <<'PYEOF'
import sys
t = sys.argv[1]
parts = ["k0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
parts += ["k%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)) for i in range(1, 10)]
open(t + "/bomb.yaml", "w").write("version: {%s}\nnodes: [{id: a, node_type: PassThrough}]\n" % ", ".join(parts))
with open(t + "/deep.yaml", "w") as f:
    f.write("version: v1\nnodes:\n")
    for i in range(20000):
        f.write("  - {id: n%d, node_type: AddNode, params: {addend: 1}}\n" % i)
    f.write("connections:\n")
    for i in range(19999):
        f.write("  - {from: n%d, to: n%d}\n" % (i, i + 1))
PYEOF
expect "YAML alias bomb" 1 '' "bomb.yaml:1:" -- "$RMEDIA" validate "$T/bomb.yaml"
grep -qF "error: YAML aliases expand the manifest to more than 4000000 values" "$T/err" || fail "alias bomb message" "$(head -c 600 "$T/err")"
printf 'version: v1\nnodes: [{id: a, node_type: "AddNode\\0junk"}]\n' >"$T/nul.yaml"
STDIN='[1]' expect "NUL in a YAML string" 1 '' \
  "nul.yaml:2:28: error: a string contains a NUL character (\"\\0\"), which is not allowed in a manifest (at nodes[0].node_type)" \
  -- "$RMEDIA" run "$T/nul.yaml"
STDIN='[1]' exact "a chain of 20000 nodes runs" '[20001]' -- "$RMEDIA" run "$T/deep.yaml"

# --------------------------------------------------------- introspection --
expect "nodes" 0 'MultiplyNode' '' -- "$RMEDIA" nodes
expect "nodes --json" 0 '"name": "TextCollectorNode"' '' -- "$RMEDIA" nodes --json
"$RMEDIA" nodes --json | $PY -c 'import json,sys; assert len(json.load(sys.stdin)) >= 6' || fail "nodes --json is not a JSON list"
expect "inspect" 0 'default 2' '' -- "$RMEDIA" inspect MultiplyNode
for want in 'MultiplyNode — Multiplies' 'Input ports' 'factor' 'aliases: multiplier' 'changeable while running' 'Example'; do
  "$RMEDIA" inspect MultiplyNode | grep -qF -- "$want" || fail "inspect lacks '$want'"
done
expect "inspect enum values" 0 'values: add, subtract, multiply, divide, power, modulo' '' -- "$RMEDIA" inspect CalculatorNode
expect "inspect by alias" 0 'PassThrough —' '' -- "$RMEDIA" inspect PassThroughNode
expect "inspect unknown" 1 '' "unknown node type 'Multiply'; did you mean 'MultiplyNode'?" -- "$RMEDIA" inspect Multiply
"$RMEDIA" inspect --json AddNode | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d["params"][0]["name"]=="addend"' \
  || fail "inspect --json"
"$RMEDIA" schema | $PY -c 'import json,sys; s=json.load(sys.stdin); assert "params_MultiplyNode" in s["definitions"]' \
  || fail "schema is not the manifest JSON Schema"
expect "graph" 0 '"multiply" -> "add"' '' -- "$RMEDIA" graph "$CALC"
expect "graph to file" 0 '' '' -- "$RMEDIA" graph "$CALC" -o "$T/g.dot"
grep -q digraph "$T/g.dot" || fail "graph -o did not write DOT"
expect "graph of invalid manifest" 1 '' 'unsupported manifest version' -- "$RMEDIA" graph "$T/many.yaml"

# ------------------------------------------------------------------- help --
expect "help" 0 'Exit codes:' '' -- "$RMEDIA" --help
for cmd in run validate nodes inspect schema graph; do
  expect "$cmd --help" 0 "Usage: rmedia $cmd" '' -- "$RMEDIA" "$cmd" --help
  expect "help $cmd" 0 "Usage: rmedia $cmd" '' -- "$RMEDIA" help "$cmd"
done
expect "version" 0 'rmedia 0.' '' -- "$RMEDIA" version
expect "no command" 2 '' 'Usage: rmedia' -- "$RMEDIA"
expect "unknown command" 2 '' "unknown command 'frobnicate'" -- "$RMEDIA" frobnicate
expect "unknown option" 2 '' "Try 'rmedia run --help'" -- "$RMEDIA" run --bogus "$CALC"
expect "run without manifest" 2 '' 'run needs a manifest' -- "$RMEDIA" run
expect "bad format" 2 '' "unknown --format 'xml'" -- "$RMEDIA" run -f xml "$CALC"
expect "bad log level" 2 '' "unknown log level 'loud'" -- "$RMEDIA" --log-level loud nodes

# ---------------------------------------------------------------- plugins --
cat >"$T/clamp.yaml" <<'EOF'
version: v1
nodes: [{id: clamp, node_type: ClampNode, params: {min: 0, max: 10}}]
EOF
STDIN='[-3, 4, 12]' exact "plugin via --plugin" '[0,4,10]' -- "$RMEDIA" --plugin "$PLUGIN" run "$T/clamp.yaml"
STDIN='[-3]' exact "plugin via --plugin-dir" '[0]' -- "$RMEDIA" --plugin-dir "$(dirname "$PLUGIN")" run "$T/clamp.yaml"
STDIN='[50]' RMEDIA_PLUGIN_PATH="$(dirname "$PLUGIN")" exact "plugin via RMEDIA_PLUGIN_PATH" '[10]' -- "$RMEDIA" run "$T/clamp.yaml"
expect "plugin node is listed" 0 'ClampNode' '' -- "$RMEDIA" --plugin "$PLUGIN" nodes
expect "plugin node without the plugin" 1 '' "unknown node type 'ClampNode'" -- "$RMEDIA" validate "$T/clamp.yaml"
expect "plugin that fails to load" 5 '' 'plugin /nonexistent/x.so' -- "$RMEDIA" --plugin /nonexistent/x.so nodes
cp "$CALC" "$T/fake.so"
expect "a file that is not a shared object" 5 '' "plugin $T/fake.so" -- "$RMEDIA" --plugin "$T/fake.so" nodes

finish cli
