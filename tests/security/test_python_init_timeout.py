#!/usr/bin/env python3
"""PythonNode's init_timeout_ms (docs/security.md, docs/python-nodes.md) hit
at and past its bound: a class whose __init__ takes 3 s fails with the
limit named when init_timeout_ms is 300, and runs when it is 20000.
(Workers left behind are checked by tests/python_node/run.sh.)

    test_python_init_timeout.py RMEDIA WORK_DIR
"""
import os
import shutil
import subprocess
import sys
import textwrap

RMEDIA, WORK = sys.argv[1:3]
shutil.rmtree(WORK, True)
os.makedirs(WORK)
with open(os.path.join(WORK, "slow_init.py"), "w") as f:
    f.write(textwrap.dedent("""\
        import time

        class SlowInit:
            def __init__(self):
                time.sleep(3)

            def process(self, x):
                return x
        """))


def run(limit_ms):
    path = os.path.join(WORK, "m%d.yaml" % limit_ms)
    with open(path, "w") as f:
        f.write("version: v1\nnodes:\n  - id: slow\n    node_type: PythonNode\n"
                "    params: {class: \"slow_init:SlowInit\", init_timeout_ms: %d}\n" % limit_ms)
    return subprocess.run([RMEDIA, "run", path], input=b"1\n", capture_output=True, timeout=120)


fails = []
p = run(300)
err = p.stderr.decode(errors="replace")
if p.returncode == 0 or "did not report ready within 300 ms" not in err or "slow" not in err:
    fails.append("init_timeout_ms=300: exit %d, stderr:\n%s" % (p.returncode, err))
p = run(20000)
if p.returncode != 0 or p.stdout.strip() != b"1":
    fails.append("init_timeout_ms=20000: exit %d, stdout %r, stderr:\n%s" % (p.returncode, p.stdout,
                                                                            p.stderr.decode(errors="replace")))
if fails:
    print("FAILED:\n" + "\n".join(fails))
    sys.exit(1)
shutil.rmtree(WORK, True)
print("init_timeout_ms: refused at 300 ms naming the node, runs at 20000 ms")
