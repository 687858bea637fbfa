"""The seed's browser nodes (REFERENCE.md §4.6), written with the node API.

The wasm core has its own C TextProcessorNode, so the Python one is
registered as PyTextProcessorNode; DataTransformNode keeps its name.
"""
import remotemedia

_TEXT_OPS = ("uppercase", "lowercase", "word_count", "char_count", "reverse")


@remotemedia.node("PyTextProcessorNode", doc="Text operations in Python (the seed's TextProcessorNode)")
class TextProcessorNode:
    operations = remotemedia.Param(list, ["uppercase"], enum=list(_TEXT_OPS),
                                   doc="operations applied when the input does not name its own")

    def process(self, data):
        if isinstance(data, dict):
            text = str(data.get("text", ""))
            ops = data.get("operations") or self.operations
        else:
            text, ops = str(data), self.operations
        results = {}
        for op in ops:
            if op == "uppercase":
                results[op] = text.upper()
            elif op == "lowercase":
                results[op] = text.lower()
            elif op == "word_count":
                results[op] = len(text.split())
            elif op == "char_count":
                results[op] = len(text)
            elif op == "reverse":
                results[op] = text[::-1]
            else:
                raise ValueError(f"unknown operation '{op}' (known: {', '.join(_TEXT_OPS)})")
        return {"original_text": text, "results": results, "processed_by": "TextProcessorNode"}


@remotemedia.node("DataTransformNode", doc="passthrough, double or increment numbers (the seed's node)")
class DataTransformNode:
    operation = remotemedia.Param("enum", "passthrough", enum=["passthrough", "double", "increment"])

    def _apply(self, v):
        if self.operation == "double":
            return v * 2
        if self.operation == "increment":
            return v + 1
        return v

    def process(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float, list)):
            return {"operation": self.operation, "input": data, "processed_by": "DataTransformNode"}
        if isinstance(data, list):
            return [self._apply(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                    for v in data]
        return self._apply(data)
