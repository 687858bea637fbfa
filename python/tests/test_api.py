"""Loading, builder, catalogue and error types."""
import json

import pytest

import remotemedia as rm
from conftest import manifest

YAML = """\
version: v1
metadata: { name: calc }
nodes:
  - { id: multiply, node_type: MultiplyNode, params: { factor: 2 } }
  - { id: add, node_type: AddNode, params: { addend: 10 } }
connections:
  - { from: multiply, to: add }
"""


def test_from_yaml_json_dict(tmp_path, hint):
    y = tmp_path / "calc.yaml"
    y.write_text(YAML)
    import yaml

    d = yaml.safe_load(YAML)
    j = tmp_path / "calc.json"
    j.write_text(json.dumps(d))
    for p in (rm.Pipeline.from_yaml(str(y), runtime_hint=hint), rm.Pipeline.from_json(str(j), runtime_hint=hint),
              rm.Pipeline.from_json(json.dumps(d), runtime_hint=hint), rm.Pipeline.from_dict(d, runtime_hint=hint)):
        assert p.name == "calc" and p.run_sync(5) == 20 and p.sinks == ["add"]


def test_yaml_errors_name_the_file(tmp_path, hint):
    y = tmp_path / "bad.yaml"
    y.write_text(YAML.replace("factor: 2", "factor: two"))
    with pytest.raises(rm.ManifestError) as e:
        rm.Pipeline.from_yaml(str(y), runtime_hint=hint)
    d = e.value.diagnostics[0]
    assert d["path"] == "nodes[0].params.factor" and d["node_id"] == "multiply"
    assert d["file"].endswith("bad.yaml") and "expected a number" in str(e.value)
    if hint == "native":
        assert d["line"] == 4  # the native loader knows positions


def test_builder(hint):
    p = rm.Pipeline("chain", runtime_hint=hint).add("MultiplyNode", factor=3).add(rm.Node("AddNode", addend=1))
    assert p.manifest["nodes"][0] == {"id": "multiply", "node_type": "MultiplyNode", "params": {"factor": 3}}
    assert p.run_sync([1, [2, 3]]) == [4, [7, 10]]
    assert "multiply" in p.to_dot()


def test_catalogue():
    names = rm.nodes()
    for n in ("PassThrough", "MultiplyNode", "AddNode", "CalculatorNode", "TextProcessorNode", "TextCollectorNode"):
        assert n in names
    d = rm.inspect("MultiplyNode")
    assert d["params"][0]["name"] == "factor" and d["params"][0]["default"] == 2
    assert d["params"][0]["aliases"] == ["multiplier"]
    assert rm.inspect("PassThroughNode")["name"] == "PassThrough"  # aliases resolve
    with pytest.raises(KeyError):
        rm.inspect("NoSuchNode")


def test_error_types(hint):
    with pytest.raises(rm.ManifestError) as e:
        rm.Pipeline.from_dict({"version": "v1", "nodes": [{"id": "a", "node_type": "MultiplyNod"}]},
                              runtime_hint=hint)
    assert isinstance(e.value, rm.RemoteMediaError) and e.value.code == "RM_ENOTFOUND"
    assert "did you mean 'MultiplyNode'?" in e.value.diagnostics[0]["message"]
    with pytest.raises(rm.ManifestError, match="cycle: a → b → a"):
        rm.Pipeline.from_dict(manifest(("a", "PassThrough", None), ("b", "PassThrough", None),
                                       connections=[{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]),
                              runtime_hint=hint)


def test_text_that_is_not_utf8(hint):
    """A str with a lone surrogate (e.g. from os.fsdecode of a bad file name)
    cannot become a UTF-8 text frame: both executors raise before running."""
    p = rm.Pipeline.from_dict(manifest(("t", "TextProcessorNode", {"operations": ["uppercase"]})),
                              runtime_hint=hint)
    with pytest.raises(UnicodeEncodeError):
        p.run_sync("bad \udcff text")
    assert p.run_sync("good text")["results"]["uppercase"] == "GOOD TEXT"


def test_outputs_shape(hint):
    m = manifest(("a", "PassThrough", None), ("b", "AddNode", {"addend": 1}), ("c", "AddNode", {"addend": 2}),
                 connections=[{"from": "a", "to": "b"}, {"from": "a", "to": "c"}])
    p = rm.Pipeline.from_dict(m, runtime_hint=hint)
    assert p.run_sync(1) == {"b": 2, "c": 3}
    assert p.run_sync([1, 2], as_list=True) == {"b": [2, 3], "c": [3, 4]}
    quiet = rm.Pipeline("e", runtime_hint=hint).add("TextCollectorNode", yield_partial_on_end=False)
    assert quiet.run_sync("no sentence end") is None and quiet.run_sync("x", as_list=True) == []
