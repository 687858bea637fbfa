"""remotemedia in the browser (Pyodide): the node API of the Python package.

A node written for the ``remotemedia`` package runs here unchanged:

    import remotemedia

    @remotemedia.node("Shout")
    class Shout:
        suffix = remotemedia.Param(str, "!", doc="appended to the text")

        def process(self, text):
            return text.upper() + self.suffix

``process`` may return a value, None (no output), a list of outputs is ONE
json value (as natively), a generator or an async generator yields 0..N
outputs, and ``async def`` works.  Optional ``flush()`` (end of stream, same
rules) and ``reset()`` (barge-in).  Parameters are :class:`Param` class
attributes, checked when a session opens and passed to ``__init__`` as
keyword arguments (without an ``__init__`` they become attributes).

The classes run as external nodes of the wasm executor (src/wasm/rmw.h):
inputs arrive as str (text), Python objects (json) or :class:`Audio`; the
same kinds go back.  Differences from the native package: numpy is not in
the browser build, so ``Audio.samples`` is an ``array.array`` ("f" float32,
"h" int16, "i" int32), and coroutines are driven to completion inside the
pipeline step, so they may ``await asyncio.sleep(0)`` but not wait for I/O.
"""
from __future__ import annotations

import array
from typing import Any, Dict, List, Optional

# The Python package's own modules, shipped as they are (web/scripts/embed-python.mjs)
from .errors import ManifestError, NodeError, RemoteMediaError
from .nodetype import Param, node, registered_node_types

__all__ = ["Audio", "ManifestError", "Node", "NodeError", "Param", "RemoteMediaError", "node",
           "nodes", "registered_node_types", "__version__"]
__version__ = "0.1.0"
BROWSER = True


class Audio:
    """An audio chunk: ``samples`` (array.array of "f", "h" or "i",
    interleaved) at ``sample_rate`` Hz with ``channels``, the frame's
    ``timestamp_us`` (None = none) and ``metadata``."""

    __slots__ = ("samples", "sample_rate", "channels", "timestamp_us", "metadata")

    def __init__(self, samples: Any, sample_rate: int, timestamp_us: Optional[int] = None,
                 metadata: Optional[Dict[str, str]] = None, channels: int = 1):
        if not isinstance(samples, array.array):
            samples = array.array("f", samples)
        self.samples = samples
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.timestamp_us = timestamp_us
        self.metadata: Dict[str, str] = {} if metadata is None else metadata

    @property
    def frames(self) -> int:
        return len(self.samples) // self.channels

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.frames / float(self.sample_rate)

    def __iter__(self):  # allows `samples, rate = audio`
        return iter((self.samples, self.sample_rate))

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Audio):
            return NotImplemented
        return (self.sample_rate == other.sample_rate and self.channels == other.channels
                and self.samples == other.samples)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Audio({self.frames} frames x {self.channels} ch, {self.sample_rate} Hz)"


def nodes() -> List[str]:
    """Names of the registered Python node types."""
    return sorted(registered_node_types())


class Node:
    """One node of a manifest being built: ``Node("MultiplyNode", factor=2)``."""

    def __init__(self, node_type: Any, id: Optional[str] = None, **params: Any):
        self.node_type = node_type if isinstance(node_type, str) else getattr(
            node_type, "node_type_name", node_type.__name__)
        self.id = id
        self.params = params
