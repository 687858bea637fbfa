"""conformance_grpc.run_case_grpc on the golden pipelines (tests/golden/):
the server's outputs equal `rmedia run -f jsonl` of the same binary, value
for value, per sink, in order (bit-exact JSON)."""
import glob
import json
import os

import pytest

import rmgrpc as r
from conformance_grpc import run_case_grpc

CASES = sorted(d for d in glob.glob(os.path.join(r.ROOT, "tests", "golden", "*")) if glob.glob(d + "/manifest.*"))


@pytest.mark.parametrize("case", CASES, ids=[os.path.basename(c) for c in CASES])
def test_golden_case(server, case):
    manifest = glob.glob(case + "/manifest.*")[0]
    args = []
    if os.path.exists(case + "/args"):
        args = open(case + "/args").read().split()
    with open(case + "/input.json") as f:
        text = f.read()
    try:
        inputs = json.loads(text)
        if not isinstance(inputs, list):
            inputs = [inputs]
    except ValueError:  # one value per line
        inputs = [json.loads(line) for line in text.splitlines() if line.strip()]
    if any(a.startswith("--set") or a == "--only" for a in args):
        pytest.skip("case uses CLI-only arguments %s" % args)
    ran = r.rmedia_run(manifest, ["-i", case + "/input.json", "-f", "jsonl"])
    want = {}
    for line in ran.splitlines():
        if line.strip():
            rec = json.loads(line)
            want.setdefault(rec["node"], []).append(rec["value"])
    with open(manifest) as f:
        got = run_case_grpc(r.Server.address_of(server), f.read(), inputs)
    assert got == want
