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


def readme_code():
    """Every ```python block of python/README.md, in order."""
    import re

    with open(os.path.join(HERE, "..", "README.md"), encoding="utf-8") as f:
        text = f.read()
    return "\n\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))


def test_readme_runs_as_written():
    """The README's Python blocks, concatenated, run from the repository root
    (on the fallback too: the suite's second pass sets REMOTEMEDIA_FORCE_PYTHON)."""
    code = readme_code()
    assert "rm.Pipeline.from_yaml(\"python/examples/calc.yaml\"" in code and "vad.yaml" in code
    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    env = dict(os.environ, PYTHONPATH=os.path.join(root, "python"))
    boot = "import faulthandler; faulthandler.dump_traceback_later(60, exit=True)\n"
    out = subprocess.run([sys.executable, "-W", "ignore::RuntimeWarning", "-c", boot + code], cwd=root,
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for want in ["int16 (1600,) 16000 0", "True False", "True False 980", "False True 2015", "[980, 2015]",
                 "Hello world.", "How are you?", "Fine", "3"]:
        assert want in lines, (want, lines)
