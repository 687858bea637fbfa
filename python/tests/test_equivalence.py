"""Native vs fallback on the same manifests: outputs must be identical (math
and text exactly; audio bit-exact for the nodes that exist now), and so must
errors and manifest diagnostics.  Also: the fallback's parameter tables equal
the native descriptions, so the two cannot drift apart."""
import json

import numpy as np
import pytest

import remotemedia as rm
from remotemedia.fallback.nodes import NATIVE_ONLY_FAMILIES, NATIVE_ONLY_NODES, builtin_types
from conftest import manifest, needs_native

pytestmark = needs_native

TEXT = ["The quick brown fox. It jumped over Dr. Smith's", " dog, e.g. twice! Really?! He said \"no.\" ",
        "Ünïcödé ÀÉÎ straße ΑΒΓ αβγ Привет мир\n3.14 is pi. J. K. wrote it", "<|text_end|>tail"]

CASES = [
    (manifest(("m", "MultiplyNode", {"factor": 2.5}), ("a", "AddNode", {"addend": -1})),
     [1, 2.0, -3, [1, "x", 2.5, None], "text", {"k": 1}, True, 1e300, 0.1, [True, 2]]),
    (manifest(("m", "MultiplyNode", {"multiplier": 3})), [[1, 2, 3], [], ["a"], 9007199254740993]),
    (manifest(("c", "CalculatorNode", {"operation": "power", "operand": 0.5})),
     [4, [1, 4, "s", 9.0], {"operation": "modulo", "operands": [-7, 3]},
      {"operation": "subtract", "args": [1.5, 0.25]}, "plain", None, {"operation": "divide", "operands": [1, 3]}]),
    (manifest(("t", "TextProcessorNode", {"operations": ["uppercase", "lowercase", "reverse", "word_count",
                                                          "char_count", "title_case", "remove_spaces",
                                                          "first_word", "last_word"]})),
     TEXT + ["", "  spaced\tout  words\u00a0here ", {"text": "ÿŸ ǅ ĳĲ", "operations": ["uppercase", "lowercase"]},
             {"text": "x", "operations": ["reverse", "reverse"]}]),
    (manifest(("s", "TextCollectorNode", None)), TEXT),
    (manifest(("s", "TextCollectorNode", {"split_pattern": "[.!?,;:\\n]+", "min_sentence_length": 12,
                                          "yield_partial_on_end": False})), TEXT),
    (manifest(("s", "TextCollectorNode", {"boundaries": ".", "abbreviations": ["fox"]})), TEXT),
    (manifest(("a", "PassThrough", None), ("b", "MultiplyNode", {"factor": 2}), ("c", "AddNode", {"addend": 1}),
              ("t", "TextProcessorNode", {"operations": ["word_count"]}),
              connections=[{"from": "a", "to": "b"}, {"from": "a", "to": "c"}, {"from": "a", "to": "t"}]),
     ["one two", 3, [4, 5]]),
    (manifest(("r", "Responder", {"answer_time": False, "min_words": 2})),
     ["hello there", "Hi", "history of hi-fi music", "HELLO, world", "it's late now", "uh", "",
      {"text": "what time is it"}, {"nope": 1}, "Ünïcödé wörds hi", "x" * 1200 + " y"]),
    (manifest(("r", "Responder", {"echo_prefix": "", "greeting": ""})), ["hello you", "just this", {"text": "ok"}]),
]


def run(m, inputs, hint):
    p = rm.Pipeline.from_dict(m, runtime_hint=hint, enable_metrics=True)
    try:
        return ("ok", p.run_sync(inputs, as_list=True), p.get_metrics())
    except rm.RemoteMediaError as e:
        return ("error", (type(e).__name__, e.code, e.node_id, e.message), p.get_metrics())


@pytest.mark.parametrize("m,inputs", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_same_outputs(m, inputs):
    n, p = run(m, inputs, "native"), run(m, inputs, "python")
    assert n[0] == p[0] and n[1] == p[1]
    # the JSON texts are equal too (ints stay ints, floats stay floats)
    assert json.dumps(n[1], sort_keys=True) == json.dumps(p[1], sort_keys=True)
    # metrics have the same shape and the same counts
    for key in ("frames_in", "frames_out", "status"):
        assert n[2][key] == p[2][key], key
    for nid, nm in n[2]["node_metrics"].items():
        pm = p[2]["node_metrics"][nid]
        assert (nm["calls"], nm["frames_in"], nm["frames_out"]) == (pm["calls"], pm["frames_in"], pm["frames_out"])
    assert n[2]["links"] == p[2]["links"]


def test_text_is_chunking_independent_on_both():
    # (markers are only found inside one piece, by both executors: left out)
    whole = "".join(TEXT[:-1])
    m = manifest(("s", "TextCollectorNode", None))
    for hint in ("native", "python"):
        one = rm.Pipeline.from_dict(m, runtime_hint=hint).run_sync([whole], as_list=True)
        chars = rm.Pipeline.from_dict(m, runtime_hint=hint).run_sync(list(whole), as_list=True)
        assert one == chars


ERRORS = [
    (manifest(("c", "CalculatorNode", None)), [{"operation": "divide", "operands": [1, 0]}]),
    (manifest(("c", "CalculatorNode", None)), [{"operation": "root", "operands": [1, 0]}]),
    (manifest(("c", "CalculatorNode", None)), [{"operation": "add", "operands": [1]}]),
    (manifest(("c", "CalculatorNode", None)), ["text is not json"]),
    (manifest(("c", "CalculatorNode", {"operation": "modulo"})), [[1, 2]]),
    (manifest(("t", "TextProcessorNode", None)), [{"text": "x", "operations": ["shout"]}]),
    (manifest(("t", "TextProcessorNode", None)), [{"txt": "x"}]),
    (manifest(("t", "TextProcessorNode", None)), [b"binary"]),
    (manifest(("s", "TextCollectorNode", {"boundaries": " "})), ["x"]),
]


@pytest.mark.parametrize("m,inputs", ERRORS, ids=[f"error{i}" for i in range(len(ERRORS))])
def test_same_errors(m, inputs):
    n, p = run(m, inputs, "native"), run(m, inputs, "python")
    assert n[0] == p[0] == "error"
    assert n[1] == p[1]


BAD = [
    {"version": "v2", "nodes": []},
    {"nodes": [{"id": "a b", "node_type": "PassThrough"}, {"node_type": 3}]},
    manifest(("a", "MultiplyNode", {"factr": 2, "factor": "2"}), ("b", "Calculatr", None)),
    manifest(("a", "TextProcessorNode", {"operations": ["upper", 3]}), ("b", "TextCollectorNode",
                                                                         {"min_sentence_length": 1.5})),
    manifest(("a", "TextProcessorNode", {"operations": []}), ("b", "TextCollectorNode",
                                                               {"min_sentence_length": -1, "minSentenceLength": 2})),
    manifest(("a", "CalculatorNode", {"operation": "ad"}), ("b", "AddNode", None),
             connections=[{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]),
    manifest(("a", "TextProcessorNode", None), ("b", "PassThrough", None),
             connections=[{"from": "a.bogus", "to": "b"}, {"from": "a", "to": "bb"}, {"from": "a", "to": "b"},
                          {"from": "a", "to": "b"}]),
    manifest(("a", "AddNode", None), on_error=None) if False else
    {"version": "v1", "nodes": [{"id": "a", "node_type": "AddNode", "on_error": "explode"}]},
    # a cycle does not hide a caps error; a node downstream of a cycle is not
    # printed as one; a bad version is quoted briefly
    manifest(("a", "PassThrough", None), ("b", "PassThrough", None), ("t", "TextProcessorNode", None),
             ("r", "AudioResample", {"target_rate": 16000}),
             connections=[{"from": "a", "to": "b"}, {"from": "b", "to": "a"}, {"from": "t", "to": "r"}]),
    manifest(("a", "PassThrough", None), ("b", "PassThrough", None), ("z", "PassThrough", None),
             connections=[{"from": "a", "to": "b"}, {"from": "b", "to": "z"}, {"from": "b", "to": "a"}]),
    {"version": "v" + "é" * 30, "nodes": [{"id": "a", "node_type": "PassThrough"}]},
    {"version": {"k": [1, 2]}, "nodes": [{"id": "a", "node_type": "PassThrough"}]},
]


@pytest.mark.parametrize("m", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_same_diagnostics(m):
    got = {}
    for hint in ("native", "python"):
        with pytest.raises(rm.ManifestError) as e:
            rm.Pipeline.from_dict(m, runtime_hint=hint)
        got[hint] = [(d["code"], d["path"], d["node_id"], d["message"]) for d in e.value.diagnostics]
    assert got["native"] == got["python"] and got["native"]


def test_caps_mismatch_diagnostic_matches():
    m = manifest(("t", "TextProcessorNode", None), ("c", "CalculatorNode", None), ("t2", "TextProcessorNode", None))
    # json -> json -> json|text is fine; make a real mismatch through a Python-free path: none among
    # the current built-ins produce a kind another refuses, so check the link check passes on both
    for hint in ("native", "python"):
        assert rm.Pipeline.from_dict(m, runtime_hint=hint).node_ids == ["t", "c", "t2"]


def test_fallback_tables_equal_native_descriptions():
    """Every native node type has a fallback twin with the same description,
    except the families that cannot exist in pure Python (listed, with the
    reason, in fallback/nodes NATIVE_ONLY_FAMILIES) and Python nodes."""
    from remotemedia import _backend

    rt = _backend.native_runtime()
    for cls in builtin_types():
        native = json.loads(rt.describe(cls.name))
        assert cls.describe() == native, cls.name
    native = {n: json.loads(rt.describe(n)) for n in rt.node_types()}
    expected = sorted(n for n, d in native.items() if d["family"] != "python" and d["family"] not in NATIVE_ONLY_FAMILIES)
    assert sorted(c.name for c in builtin_types()) == expected
    # the native-only node types (and aliases) are all known to the fallback, which names them in its error
    for n, d in native.items():
        if d["family"] in NATIVE_ONLY_FAMILIES:
            for name in [n, *d.get("aliases", [])]:
                assert NATIVE_ONLY_NODES.get(name) == d["family"], name


def test_audio_bit_exact_multichannel_int16():
    x = (np.arange(4000, dtype=np.int16).reshape(2000, 2) * 7)
    m = manifest(("a", "PassThrough", None), ("b", "AddNode", {"addend": 1}))
    n = rm.Pipeline.from_dict(m, runtime_hint="native").run_sync(rm.Audio(x, 8000))
    p = rm.Pipeline.from_dict(m, runtime_hint="python").run_sync(rm.Audio(x, 8000))
    assert n == p and n.samples.shape == (2000, 2) and n.samples.dtype == np.int16
