#!/usr/bin/python3
"""The conformance suite (tests/conformance/run.py) with a "browser" host:
every case runs in the demo page in chromium (scripts/conformance-host.mjs)
and is compared with the expected outputs exactly as the other hosts are.

    web/demo/scripts/conformance.py [--case NAME ...] [--framing 20ms,whole]

Cases whose node types are native only (speech) are left out by default.
"""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "conformance"))
import run  # noqa: E402

BROWSER_CASES = ["calculator", "text", "vad_events", "preprocess"]  # transcribe: speech is native only


def host_browser(args):
    proc = subprocess.Popen(["node", os.path.join(HERE, "conformance-host.mjs")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(HERE))

    def run_case(case, ms, tmp):
        with open(case.manifest) as f:
            req = {"manifest": f.read()}
        if case.is_audio:
            req.update(wav=case.wav, ms=ms)
        else:
            req["values"] = case.values
        proc.stdin.write(json.dumps(req) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the browser host exited")
        reply = json.loads(line)
        if isinstance(reply, dict):
            raise RuntimeError(reply.get("error", "browser host error"))
        for o in reply:
            if "audio" in o:
                o["audio"] = np.array(o.pop("audio"), dtype=np.float64).reshape(-1, o.pop("channels"))
        return reply

    return run_case


if __name__ == "__main__":
    run.HOSTS["browser"] = host_browser
    argv = sys.argv[1:]
    if "--case" not in argv:
        for c in BROWSER_CASES:
            argv += ["--case", c]
    sys.argv = [sys.argv[0], "--host", "browser"] + argv
    sys.exit(run.main())
