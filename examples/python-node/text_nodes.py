"""Python nodes for examples/python-node/pipeline.yaml.

A node class is the Python package's node API: parameters arrive as keyword
arguments, process() returns one output, None, or yields several; flush()
runs at end of stream.  Plain classes work; `@remotemedia.node` classes
(with Param declarations) work too when the package is importable.
"""


class Shout:
    """Upper-cases text and appends `suffix`."""

    def __init__(self, suffix: str = "!"):
        self.suffix = suffix

    def process(self, text):
        return text.upper() + self.suffix


class WordStats:
    """Emits {"words": n, "chars": n} per text and a total at the end."""

    def __init__(self):
        self.total = 0

    def process(self, text):
        words = len(text.split())
        self.total += words
        yield {"words": words, "chars": len(text)}

    def flush(self):
        return {"total_words": self.total}
