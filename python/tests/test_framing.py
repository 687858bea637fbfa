"""Framing: a unary call hands the runtime a whole file as one audio frame;
speech must come out as it does from 20 ms chunks (issue 11; the C side is
tests/unit/test_framing.c and tests/conformance/)."""
import os
import shutil
import subprocess
import wave

import numpy as np
import pytest

import remotemedia as rm
from conftest import needs_native

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TRANSCRIBE = os.path.join(ROOT, "examples", "transcribe.yaml")
SENTENCE = "please schedule a meeting for tuesday afternoon with the design team"

pytestmark = [needs_native, pytest.mark.skipif(not shutil.which("flite"), reason="flite not installed")]


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("framing") / "slt.wav")
    subprocess.run(["flite", "-voice", "slt", "-t", SENTENCE, "-o", path], check=True)
    with wave.open(path) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()
    return x, rate


def transcripts(outputs):
    return [o for o in outputs if isinstance(o, str)]


def test_whole_file_as_one_frame(speech):
    x, rate = speech
    p = rm.Pipeline.from_yaml(TRANSCRIBE, runtime_hint="native")
    whole = transcripts(p.run_sync(rm.Audio(x, rate), as_list=True))
    # the words of the sentence, not a fragment ("AND", "huh") of its end
    assert len(whole) == 1 and whole[0].split()[-4:] == ["with", "the", "design", "team"], whole
    assert whole[0].startswith("please schedule"), whole
    # and exactly what 20 ms chunks give, results (words, times) included
    step = rate // 50
    chunks = [rm.Audio(x[a:a + step], rate, timestamp_us=round(a * 1e6 / rate)) for a in range(0, len(x), step)]
    streamed = p.run_sync(chunks, as_list=True)
    assert p.run_sync(rm.Audio(x, rate, timestamp_us=0), as_list=True) == streamed
    results = [o for o in streamed if isinstance(o, dict)]
    assert results and all(isinstance(r[k], float) for r in results for k in ("start_ms", "end_ms"))
