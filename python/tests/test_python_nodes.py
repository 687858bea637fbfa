"""Python node types inside native graphs (and in the fallback): calling
conventions, parameters from the table, errors with node id and traceback,
wrong return types, GIL release and reference leaks."""
import asyncio
import gc
import sys
import threading

import numpy as np
import pytest

import remotemedia as rm
from conftest import manifest, needs_native


def test_sync_async_generator_and_flush(hint, register):
    @register("Sync")
    class Sync:
        def process(self, x):
            return x + 1

    @register("Async")
    class Async:
        async def process(self, x):
            await asyncio.sleep(0)
            return x * 10

    @register("Gen")
    class Gen:
        def __init__(self):
            self.seen = 0

        def process(self, x):
            self.seen += 1
            yield x
            yield None  # skipped
            yield -x

        def flush(self):
            return {"seen": self.seen}

    @register("AGen")
    class AGen:
        async def process(self, x):
            for i in range(2):
                yield [x, i] if isinstance(x, int) else x

    m = manifest(("s", "Sync", None), ("a", "Async", None), ("g", "Gen", None), ("ag", "AGen", None))
    out = rm.Pipeline.from_dict(m, runtime_hint=hint).run_sync([1, 2])
    assert out == [[20, 0], [20, 1], [-20, 0], [-20, 1], [30, 0], [30, 1], [-30, 0], [-30, 1],
                   {"seen": 2}, {"seen": 2}]


def test_params_from_the_table(hint, register):
    @register("Conf", doc="Echoes its config")
    class Conf:
        gain = rm.Param(float, 1.0, min=0.0, max=4.0, aliases=["volume"], doc="linear gain")
        taps = rm.Param(int, 3, min=1, max=8)
        mode = rm.Param("enum", "fast", enum=["fast", "exact"])
        words = rm.Param(list, ["a", "b"])
        label = rm.Param(str, None)
        on = rm.Param(bool, True)
        extra = rm.Param("json", {"k": [1]})

        def process(self, x):
            return {k: getattr(self, k) for k in ("gain", "taps", "mode", "words", "label", "on", "extra")}

    p = rm.Pipeline.from_dict(manifest(("c", "Conf", {"volume": 2, "mode": "exact", "label": "L"})), runtime_hint=hint)
    assert p.run_sync(0) == {"gain": 2.0, "taps": 3, "mode": "exact", "words": ["a", "b"], "label": "L",
                             "on": True, "extra": {"k": [1]}}
    p = rm.Pipeline("x", runtime_hint=hint).add("Conf", taps=8, words="solo", on=False, extra=None)
    assert p.run_sync(0)["taps"] == 8 and p.run_sync(0)["words"] == ["solo"] and p.run_sync(0)["on"] is False
    with pytest.raises(rm.ManifestError) as e:
        rm.Pipeline.from_dict(manifest(("c", "Conf", {"gain": 9, "mode": "exakt", "taps": 2.5, "bogus": 1})),
                              runtime_hint=hint)
    msgs = [d["message"] for d in e.value.diagnostics]
    assert "parameter 'gain' of Conf: value 9 is out of range [0, 4]" in msgs
    assert any("did you mean 'exact'?" in m for m in msgs)
    assert "parameter 'taps' of Conf: expected an integer, got number 2.5" in msgs
    assert all(d["node_id"] == "c" for d in e.value.diagnostics) and len(msgs) == 4
    desc = rm.inspect("Conf")
    assert desc["doc"] == "Echoes its config" and desc["params"][0]["aliases"] == ["volume"]


def test_required_param(hint, register):
    @register("Needs")
    class Needs:
        level = rm.Param(float, doc="required level")

        def process(self, x):
            return self.level

    with pytest.raises(rm.ManifestError, match="missing required parameter 'level'"):
        rm.Pipeline("x", runtime_hint=hint).add("Needs").run_sync(1)
    assert rm.Pipeline("x", runtime_hint=hint).add("Needs", level=0.5).run_sync(1) == 0.5


def test_audio_in_audio_out(hint, register):
    @register("Scale")
    class Scale:
        gain = rm.Param(float, 0.5)

        def process(self, audio):
            assert isinstance(audio, rm.Audio) and not audio.samples.flags.writeable
            return audio.samples * np.float32(self.gain)  # bare array: inherits the input's rate

    x = np.ones((100, 2), dtype=np.float32)
    out = rm.Pipeline("g", runtime_hint=hint).add("Scale", gain=0.25).run_sync(rm.Audio(x, 22050))
    assert out.sample_rate == 22050 and out.samples.shape == (100, 2) and np.all(out.samples == 0.25)


def test_exception_becomes_node_error_with_traceback(hint, register):
    @register("Boom")
    class Boom:
        def process(self, x):
            if x == 2:
                raise KeyError("no such thing")
            return x

    with pytest.raises(rm.NodeError) as e:
        rm.Pipeline("b", runtime_hint=hint).add("PassThrough").add("Boom", id="bomb").run_sync([1, 2, 3])
    err = e.value
    assert err.node_id == "bomb" and err.code == "RM_ENODE" and err.error_class == "node_execution"
    assert "KeyError: 'no such thing' (in process() of Python node Boom 'bomb'" in err.message
    assert isinstance(err.__cause__, KeyError)
    assert "raise KeyError" in err.python_traceback and "test_python_nodes.py" in err.python_traceback


def test_init_failure(hint, register):
    @register("BadInit")
    class BadInit:
        def __init__(self):
            raise RuntimeError("cannot load model")

        def process(self, x):
            return x

    with pytest.raises(rm.NodeError, match="cannot load model") as e:
        rm.Pipeline("b", runtime_hint=hint).add("BadInit").run_sync(1)
    assert e.value.node_id == "badinit" and "failed to initialise" in e.value.message


@pytest.mark.parametrize("value,what", [(object(), "object"), ({1, 2}, "set"), (float("inf"), "float"),
                                        (np.zeros(3, dtype=np.complex128), "ndarray")])
def test_wrong_return_type(hint, register, value, what):
    @register("Wrong")
    class Wrong:
        def process(self, x):
            return value

    with pytest.raises(rm.NodeError) as e:
        rm.Pipeline("w", runtime_hint=hint).add("Wrong").run_sync(1)
    assert e.value.code == "RM_EFORMAT" and e.value.node_id == "wrong"
    assert f"process() of Python node Wrong returned an unusable {what} value" in e.value.message


def test_no_leaked_references(hint, register):
    @register("Echo")
    class Echo:
        def process(self, x):
            return x

    payload = {"k": list(range(10))}
    x = np.zeros(64, dtype=np.float32)
    p = rm.Pipeline("e", runtime_hint=hint).add("Echo").add("PassThrough")
    p.run_sync([rm.Audio(x, 8000), payload])
    gc.collect()
    rx, rcls = sys.getrefcount(x), sys.getrefcount(Echo)
    for _ in range(100):
        p.run_sync([rm.Audio(x, 8000), payload])
    gc.collect()
    assert sys.getrefcount(x) == rx and sys.getrefcount(Echo) == rcls


@needs_native
def test_gil_is_released_for_blocking_python_node(register):
    """A blocking node runs on its own worker thread and needs the GIL while
    the caller waits in rm_session_end: this only finishes if the caller
    released it (otherwise: deadlock, and the join below times out)."""

    @register("Worker", blocking=True)
    class Worker:
        def process(self, x):
            return [x, threading.current_thread().ident]

    p = rm.Pipeline("w", runtime_hint="native").add("Worker")
    result = {}
    t = threading.Thread(target=lambda: result.update(out=p.run_sync([1, 2, 3])), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "deadlock: the GIL was held while the runtime waited"
    assert [o[0] for o in result["out"]] == [1, 2, 3]
    assert result["out"][0][1] != t.ident  # it really ran on the node's worker thread


def test_name_clash_with_builtin(register):
    with pytest.raises(ValueError, match="built-in node type"):
        rm.node("PassThrough")(type("X", (), {"process": lambda self, x: x}))
    with pytest.raises(TypeError, match="process"):
        rm.node("NoProcess")(type("Y", (), {}))
