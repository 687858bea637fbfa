"""Honest versions of the original SDK's 15 compatibility tests
(REFERENCE.md §6.7): detection, automatic selection, fallback, result
consistency, runtime hints and portability.  Unlike the originals, every
assertion checks a real result, and "native" really runs the C runtime."""
import warnings

import numpy as np
import pytest

import remotemedia as rm
from remotemedia import _backend
from conftest import NATIVE, manifest, needs_native

AUDIO = rm.Audio(np.random.default_rng(1).standard_normal(48000).astype(np.float32), 48000)  # 1 s at 48 kHz


class TestRuntimeDetection:
    def test_availability_is_bool(self):
        assert isinstance(rm.is_native_runtime_available(), bool)

    def test_runtime_info_is_consistent(self):
        info = rm.runtime_info()
        assert info["native"] is rm.is_native_runtime_available()
        assert info["executor"] == ("native" if info["native"] else "python")
        if info["native"]:
            assert info["version"].count(".") == 2 and "threads" in info["features"]
        else:
            assert info["reason"]

    def test_deprecated_alias(self):
        with pytest.warns(DeprecationWarning):
            assert rm.is_rust_runtime_available() is rm.is_native_runtime_available()


class TestAutomaticSelection:
    def test_auto_picks_native_when_available(self):
        p = rm.Pipeline.from_dict(manifest(("tap", "PassThrough", None)))
        assert p.backend == ("native" if NATIVE else "python")
        out = p.run_sync(AUDIO)
        assert out == AUDIO

    def test_native_hint(self):
        if NATIVE:
            p = rm.Pipeline.from_dict(manifest(("tap", "PassThrough", None)), runtime_hint="native")
            assert p.backend == "native" and p.run_sync(AUDIO) == AUDIO
        else:
            with pytest.raises(rm.RuntimeUnavailableError, match="native runtime is unavailable"):
                rm.Pipeline.from_dict(manifest(("tap", "PassThrough", None)), runtime_hint="native")


class TestPythonFallback:
    def test_python_hint_runs(self):
        p = rm.Pipeline.from_dict(manifest(("m", "MultiplyNode", {"factor": 3})), runtime_hint="python")
        assert p.backend == "python" and p.run_sync(7) == 21

    def test_unavailable_native_falls_back_without_raising(self, monkeypatch):
        monkeypatch.setattr(_backend, "_native", None)
        monkeypatch.setattr(_backend, "_native_error", "ImportError: simulated")
        monkeypatch.setattr(_backend, "_warned", True)  # the warning is checked below
        p = rm.Pipeline.from_dict(manifest(("m", "MultiplyNode", {"factor": 3})))
        assert p.backend == "python" and p.run_sync(7) == 21
        assert rm.runtime_info()["reason"] == "ImportError: simulated"

    def test_fallback_warns_once_with_the_reason(self, monkeypatch):
        monkeypatch.setattr(_backend, "_native", None)
        monkeypatch.setattr(_backend, "_native_error", "ImportError: simulated")
        monkeypatch.setattr(_backend, "_warned", False)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            rm.Pipeline.from_dict(manifest(("m", "PassThrough", None)))
            rm.Pipeline.from_dict(manifest(("m", "PassThrough", None)))
        msgs = [str(x.message) for x in w if issubclass(x.category, RuntimeWarning)]
        assert len(msgs) == 1 and "native runtime unavailable (ImportError: simulated)" in msgs[0]


class TestResultConsistency:
    @needs_native
    def test_audio_identical(self):
        m = manifest(("a", "PassThrough", None), ("b", "MultiplyNode", {"factor": 2}))
        n = rm.Pipeline.from_dict(m, runtime_hint="native").run_sync(AUDIO)
        p = rm.Pipeline.from_dict(m, runtime_hint="python").run_sync(AUDIO)
        assert n.samples.shape == p.samples.shape == (48000,)
        assert np.array_equal(n.samples, p.samples) and n.sample_rate == p.sample_rate == 48000

    @needs_native
    def test_math_and_text_identical(self):
        m = manifest(("c", "CalculatorNode", None))
        reqs = [{"operation": op, "operands": [7, 3]} for op in ("add", "subtract", "multiply", "divide",
                                                                 "power", "modulo")]
        n = rm.Pipeline.from_dict(m, runtime_hint="native").run_sync(reqs)
        p = rm.Pipeline.from_dict(m, runtime_hint="python").run_sync(reqs)
        assert n == p and [r["result"] for r in n] == [10, 4, 21, 7 / 3, 343, 1]


class TestNodeRuntimeSelection:
    def test_hint_is_kept_per_pipeline(self):
        p = rm.Pipeline("x", runtime_hint="python").add("PassThrough")
        assert p.runtime_hint == "python" and p.backend == "python"

    def test_invalid_hint_raises(self):
        with pytest.raises(ValueError, match="runtime_hint must be"):
            rm.Pipeline("x", runtime_hint="gpu").add("PassThrough").run_sync(1)

    def test_rust_hint_is_deprecated_native(self):
        p = rm.Pipeline("x", runtime_hint="rust").add("AddNode", addend=1)
        if NATIVE:
            with pytest.warns(DeprecationWarning):
                assert p.backend == "native"
        else:
            with pytest.warns(DeprecationWarning), pytest.raises(rm.RuntimeUnavailableError):
                p.backend


class TestCrossPlatformPortability:
    def test_python_hint_needs_nothing_native(self, monkeypatch):
        monkeypatch.setattr(_backend, "_native", None)
        p = rm.Pipeline("x", runtime_hint="python").add("TextProcessorNode", operations=["word_count"])
        assert p.run_sync("one two three")["results"] == {"word_count": 3}

    def test_auto_hint_everywhere(self):
        p = rm.Pipeline("x").add("TextProcessorNode", operations=["uppercase"])
        assert p.run_sync("héllo wörld")["results"]["uppercase"] == "HÉLLO WÖRLD"
