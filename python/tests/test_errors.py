"""Error texts: what str(exception) prints."""
import pytest

import remotemedia as rm


def test_manifest_error_text_has_no_trailing_newline(hint):
    bad = {"version": "v1", "nodes": [{"id": "a", "node_type": "MultiplyNod"},
                                      {"id": "b", "node_type": "AddNode", "params": {"addend": "x"}}]}
    with pytest.raises(rm.ManifestError) as e:
        rm.Pipeline.from_dict(bad, runtime_hint=hint)
    text = str(e.value)
    assert text == text.strip() and not text.endswith("\n"), repr(text)
    assert e.value.message == text
    # every problem is still there, one per line
    assert "MultiplyNod" in text and "addend" in text


def test_manifest_error_built_directly():
    e = rm.ManifestError("x.yaml:1:1: error: bad\n")
    assert str(e) == "x.yaml:1:1: error: bad"
