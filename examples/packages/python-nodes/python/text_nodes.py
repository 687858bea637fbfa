"""Node types of the python-nodes package: they run in the browser's Pyodide
(web/python is the `remotemedia` module there) and with the Python package."""
import remotemedia


@remotemedia.node("Normalize")
class Normalize:
    """Collapses runs of whitespace; lower=True also lower-cases."""

    lower = remotemedia.Param(bool, False, doc="lower-case the text")

    def process(self, text):
        text = " ".join(text.split())
        return text.lower() if self.lower else text


@remotemedia.node(doc="adds a label and a running count to each JSON result")
class Tagger:
    label = remotemedia.Param(str, "", doc="the label")

    def __init__(self, label=""):
        self.label = label
        self.count = 0

    def process(self, result):
        self.count += 1
        return {**result, "label": self.label, "n": self.count}
