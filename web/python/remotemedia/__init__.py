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
import math
from typing import Any, Callable, Dict, List, Optional, Sequence

__all__ = ["Audio", "ManifestError", "Node", "NodeError", "Param", "RemoteMediaError", "node",
           "nodes", "registered_node_types", "__version__"]
__version__ = "0.1.0"
BROWSER = True


class RemoteMediaError(Exception):
    """Base of this package's errors."""


class ManifestError(RemoteMediaError):
    """A manifest or parameter problem, found before anything runs."""


class NodeError(RemoteMediaError):
    """A node failed while running."""


_TYPES = {bool: "bool", int: "int", float: "float", str: "string", list: "string list", dict: "json",
          "bool": "bool", "int": "int", "float": "float", "string": "string", "str": "string",
          "enum": "enum", "string list": "string list", "json": "json"}
_NO_DEFAULT = object()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class Param:
    """A parameter of a Python node type (the package's signature): ``type``
    bool, int, float, str, list (of str), "enum" or "json"; ``min``/``max``,
    ``enum`` values, ``aliases``, ``doc``, ``required``, ``runtime``."""

    def __init__(self, type: Any, default: Any = _NO_DEFAULT, *, min: Optional[float] = None,
                 max: Optional[float] = None, enum: Optional[Sequence[str]] = None,
                 aliases: Sequence[str] = (), doc: str = "", required: bool = False,
                 runtime: bool = False):
        if type not in _TYPES:
            raise TypeError(f"Param type must be bool, int, float, str, list, 'enum' or 'json', got {type!r}")
        self.type = _TYPES[type]
        if self.type == "enum" and not enum:
            raise ValueError("an enum Param needs enum=[...] values")
        self.default = default
        self.required = required or default is _NO_DEFAULT and self.type in ("bool", "int", "float")
        self.min, self.max = min, max
        self.enum = list(enum) if enum else None
        self.aliases = list(aliases)
        self.doc = doc
        self.runtime = runtime
        self.name = ""

    def __set_name__(self, owner: Any, name: str) -> None:
        self.name = name

    def spellings(self) -> List[str]:
        names = [self.name, *self.aliases]
        return names + [_camel(n) for n in names if _camel(n) != n]

    def check(self, value: Any, where: str) -> Any:
        """The value converted to the declared type, or ManifestError naming `where`."""
        t = self.type

        def bad(why: str) -> ManifestError:
            return ManifestError(f"{where}: {why}, got {value!r}")

        if t == "bool":
            if not isinstance(value, bool):
                raise bad("expected true or false")
        elif t == "int":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                raise bad("expected an integer")
            value = int(value)
        elif t == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise bad("expected a number")
            value = float(value)
        elif t in ("string", "enum"):
            if not isinstance(value, str):
                raise bad("expected a string")
            if self.enum and value not in self.enum:
                raise bad(f"expected one of {', '.join(self.enum)}")
        elif t == "string list":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad("expected a list of strings")
            if self.enum:
                for v in value:
                    if v not in self.enum:
                        raise ManifestError(f"{where}: '{v}' is not one of {', '.join(self.enum)}")
        n = len(value) if t == "string list" else value if t in ("int", "float") else None
        if n is not None and self.min is not None and n < self.min:
            raise bad(f"below the minimum {self.min:g}")
        if n is not None and self.max is not None and n > self.max:
            raise bad(f"above the maximum {self.max:g}")
        return value


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


class NodeTypeInfo:
    def __init__(self, name: str, cls: type, params: List[Param], doc: str):
        self.name, self.cls, self.params, self.doc = name, cls, params, doc

    def create(self, params: Dict[str, Any], node_id: str) -> Any:
        """An instance from manifest params, checked against the Params."""
        by_name = {}
        for p in self.params:
            for s in p.spellings():
                by_name[s] = p
        kw: Dict[str, Any] = {}
        for key, value in params.items():
            p = by_name.get(key)
            where = f"node '{node_id}' ({self.name}): param '{key}'"
            if p is None:
                if self.params:
                    known = ", ".join(q.name for q in self.params)
                    raise ManifestError(f"node '{node_id}' ({self.name}): unknown param '{key}' (known: {known})")
                kw[key] = value  # a class without Params takes what it is given
                continue
            kw[p.name] = p.check(value, where)
        for p in self.params:
            if p.name in kw:
                continue
            if p.default is _NO_DEFAULT:
                if p.required or p.type in ("bool", "int", "float"):
                    raise ManifestError(f"node '{node_id}' ({self.name}): missing required param '{p.name}'")
                kw[p.name] = None
            else:
                kw[p.name] = p.default
        return self.cls(**kw)


_registry: Dict[str, NodeTypeInfo] = {}
_listeners: List[Callable[[NodeTypeInfo], None]] = []


def node(name: Optional[str] = None, *, doc: Optional[str] = None, blocking: bool = False,
         replace: bool = False) -> Callable[[type], type]:
    """Registers the decorated class as node type ``name`` (default: the class
    name).  ``blocking`` is accepted for compatibility (the browser runs one
    thread)."""

    def deco(cls: type) -> type:
        type_name = name or cls.__name__
        if not callable(getattr(cls, "process", None)):
            raise TypeError(f"node class {cls.__name__} needs a process(self, data) method")
        params = _class_params(cls)
        if "__init__" not in cls.__dict__ or cls.__init__ is object.__init__:
            def __init__(self: Any, **kw: Any) -> None:
                for k, v in kw.items():
                    setattr(self, k, v)
            cls.__init__ = __init__  # type: ignore[misc]
        if type_name in _registry and not replace:
            raise ValueError(f"node type {type_name} is already registered (pass replace=True to replace it)")
        info = NodeTypeInfo(type_name, cls, params,
                            doc or (cls.__doc__ or "").strip().split("\n")[0] or f"Python node {cls.__name__}")
        _registry[type_name] = info
        cls.node_type_name = type_name  # type: ignore[attr-defined]
        for fn in list(_listeners):
            fn(info)
        return cls

    return deco


def _class_params(cls: type) -> List[Param]:
    seen: Dict[str, Param] = {}
    for klass in reversed(cls.__mro__):
        for k, v in vars(klass).items():
            if isinstance(v, Param):
                v.name = v.name or k
                seen[k] = v
    return list(seen.values())


def registered_node_types() -> Dict[str, NodeTypeInfo]:
    return dict(_registry)


def nodes() -> List[str]:
    """Names of the registered Python node types."""
    return sorted(_registry)


class Node:
    """One node of a manifest being built: ``Node("MultiplyNode", factor=2)``."""

    def __init__(self, node_type: Any, id: Optional[str] = None, **params: Any):
        self.node_type = node_type if isinstance(node_type, str) else getattr(
            node_type, "node_type_name", node_type.__name__)
        self.id = id
        self.params = params
