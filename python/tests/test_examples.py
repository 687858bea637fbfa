"""The README's examples run as written (examples/quickstart.py holds them)."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def test_quickstart_runs():
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
    script = os.path.join(HERE, "..", "examples", "quickstart.py")
    # A hang must not go unexplained: the child dumps every thread's stack
    # and exits after 60 s (seen once on a loaded machine, not reproduced).
    boot = ("import faulthandler, runpy, sys; faulthandler.dump_traceback_later(60, exit=True); "
            f"sys.argv = [{script!r}]; runpy.run_path({script!r}, run_name='__main__')")
    out = subprocess.run([sys.executable, "-W", "ignore::RuntimeWarning", "-c", boot],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == ["20", "[12, 14, [16, 18]]", "['add', 'multiply'] 3"]
    assert lines[3].endswith("True") and lines[4] == "[0.5 0.5 0.5 0.5]"
    assert lines[5:10] == ["Hello world.", "How are you?", "Fine", "3", "12"]
    assert lines[10] == "calculator RM_ENODE division by zero"
