"""Shared fixtures.  The suite runs twice (see tests/CMakeLists.txt and the
Makefile): with the native runtime, and with REMOTEMEDIA_FORCE_PYTHON=1 where
every "auto" pipeline runs on the fallback executor."""
import gc
import os
import sys

import pytest

_SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
# REMOTEMEDIA_TEST_INSTALLED=1: test the installed package (scripts/test-python
# runs the suite against a wheel installed in a fresh venv), not the checkout.
_INSTALLED = os.environ.get("REMOTEMEDIA_TEST_INSTALLED") == "1"
if not _INSTALLED:
    sys.path.insert(0, _SRC)

import remotemedia  # noqa: E402

if _INSTALLED:
    assert not os.path.abspath(remotemedia.__file__).startswith(_SRC + os.sep), remotemedia.__file__
from remotemedia import nodetype  # noqa: E402

NATIVE = remotemedia.is_native_runtime_available()
needs_native = pytest.mark.skipif(not NATIVE, reason="native runtime not available in this run")
BACKENDS = ["native", "python"] if NATIVE else ["python"]


@pytest.fixture(params=BACKENDS)
def hint(request):
    """Each test using it runs on every available executor."""
    return request.param


@pytest.fixture
def register():
    """Registers Python node types for one test and removes them after."""
    names = []

    def deco(name, **kw):
        def wrap(cls):
            names.append(name)
            return remotemedia.node(name, replace=True, **kw)(cls)
        return wrap

    yield deco
    for n in names:
        nodetype.unregister(n)
    gc.collect()


def manifest(*nodes, connections=None, name="test"):
    """A v1 manifest; nodes are (id, type, params) tuples; a chain by default."""
    ns = [{"id": i, "node_type": t, **({"params": p} if p else {})} for i, t, p in nodes]
    if connections is None:
        connections = [{"from": a["id"], "to": b["id"]} for a, b in zip(ns, ns[1:])]
    return {"version": "v1", "metadata": {"name": name}, "nodes": ns, "connections": connections}


REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


@pytest.fixture(scope="session")
def speech_audio(tmp_path_factory):
    """The VAD test audio of the C tests (tests/audio/gen_vad_audio.py: flite and
    espeak-ng sentences with known silences, mixed with white/pink noise;
    deterministic).  Returns load(name) -> float32 array and the labels."""
    import subprocess

    import numpy as np

    out = tmp_path_factory.mktemp("vad-audio")
    subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tests", "audio", "gen_vad_audio.py"), str(out)],
                   check=True)

    def load(name):
        return np.fromfile(str(out / f"{name}.f32"), dtype="<f4").astype(np.float32)

    return load
