"""Python node types: ``@remotemedia.node("Name")`` registers a class as a
node type that runs inside native graphs (and in the fallback executor).

    @remotemedia.node("Scale", doc="Scales audio by a constant")
    class Scale:
        gain = remotemedia.Param(float, 1.0, min=0.0, max=10.0, doc="linear factor")

        def __init__(self, gain: float):
            self.gain = gain

        def process(self, audio: remotemedia.Audio):
            return remotemedia.Audio(audio.samples * self.gain, audio.sample_rate)

``process`` may be a plain method, ``async def``, or a (async) generator that
yields 0..N outputs; returning None emits nothing.  Optional ``flush()``
(end of stream; same return rules) and ``reset()`` (barge-in).  Parameters
are declared with :class:`Param` class attributes; the runtime validates
manifest values against them exactly like a C node's table (names, camelCase
spellings, aliases, types, ranges, enum values) and passes them to
``__init__`` as keyword arguments.  Without an ``__init__`` the values are
set as instance attributes.  Inputs arrive as described in
:mod:`remotemedia.data`; a bare numpy array returned for an audio input
inherits the input's sample rate.
"""
from __future__ import annotations

import math
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Type, TypeVar

__all__ = ["Param", "node", "registered_node_types"]

_PARAM_TYPES = {bool: "bool", int: "int", float: "float", str: "string", list: "string list",
                "bool": "bool", "int": "int", "float": "float", "string": "string", "str": "string",
                "enum": "enum", "string list": "string list", "json": "json", dict: "json"}

_NO_DEFAULT = object()


class Param:
    """A parameter of a Python node type.

    ``type``: bool, int, float, str, list (list of str), "enum" or "json".
    ``min``/``max`` bound numbers (and the length of lists); ``enum`` lists
    the allowed values of an enum (or of a list's items); ``aliases`` are
    other accepted names; ``runtime=True`` marks it changeable while running.
    """

    def __init__(self, type: Any, default: Any = _NO_DEFAULT, *, min: Optional[float] = None,
                 max: Optional[float] = None, enum: Optional[Sequence[str]] = None,
                 aliases: Sequence[str] = (), doc: str = "", required: bool = False,
                 runtime: bool = False):
        if type not in _PARAM_TYPES:
            raise TypeError(f"Param type must be bool, int, float, str, list, 'enum' or 'json', got {type!r}")
        self.type = _PARAM_TYPES[type]
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

    def spec(self) -> tuple:
        """The tuple NodeType() takes: (name, type, doc, def_num, def_str,
        min, max, enum, aliases, flags)."""
        import json

        d = None if self.default is _NO_DEFAULT else self.default
        def_num, def_str = 0.0, None
        if self.type in ("bool", "int", "float"):
            def_num = float(d or 0)
        elif self.type == "string list":
            def_str = ",".join(d) if d else None
        elif self.type == "json":
            def_str = None if d is None else json.dumps(d)
        else:
            def_str = d
        lo = -math.inf if self.min is None and self.max is not None else (self.min or 0.0)
        hi = math.inf if self.max is None and self.min is not None else (self.max or 0.0)
        if self.min is None and self.max is None:
            lo = hi = 0.0
        flags = (1 if self.required else 0) | (2 if self.runtime else 0)
        return (self.name, self.type, self.doc, def_num, def_str, float(lo), float(hi), self.enum,
                self.aliases or None, flags)


class NodeTypeInfo:
    """What the decorator records for one Python node type."""

    def __init__(self, name: str, cls: type, params: List[Param], doc: str, blocking: bool):
        self.name, self.cls, self.params, self.doc, self.blocking = name, cls, params, doc, blocking
        self._native: Any = None

    def native(self) -> Any:
        """The _native.NodeType descriptor (built once)."""
        if self._native is None:
            from . import _native  # type: ignore[attr-defined]
            from ._pynode import invoke

            self._native = _native.NodeType(self.name, self.cls, invoke, [p.spec() for p in self.params],
                                            self.doc, "python", self.blocking)
        return self._native


_lock = threading.Lock()
_registry: Dict[str, NodeTypeInfo] = {}
_generation = 0

C = TypeVar("C", bound=type)


def node(name: Optional[str] = None, *, doc: Optional[str] = None, blocking: bool = False,
         replace: bool = False) -> Callable[[C], C]:
    """Registers the decorated class as node type ``name`` (default: the class
    name).  ``blocking=True`` runs it on its own worker thread behind a queue
    (use it for slow calls such as model inference).  ``replace=True`` allows
    re-registering a name (pipelines compiled before keep the old class)."""

    def deco(cls: C) -> C:
        type_name = name or cls.__name__
        if not callable(getattr(cls, "process", None)):
            raise TypeError(f"node class {cls.__name__} needs a process(self, data) method")
        params = [v for v in _class_params(cls)]
        if "__init__" not in cls.__dict__ or cls.__init__ is object.__init__:  # type: ignore[misc]
            def __init__(self: Any, **kw: Any) -> None:
                for k, v in kw.items():
                    setattr(self, k, v)
            cls.__init__ = __init__  # type: ignore[misc]
        info = NodeTypeInfo(type_name, cls, params, doc or (cls.__doc__ or "").strip().split("\n")[0]
                            or f"Python node {cls.__name__}", blocking)
        from . import _backend

        _backend.check_python_node_name(type_name, replace)
        if _backend.native_available():
            info.native()  # the runtime checks the table now, not at first use
        global _generation
        with _lock:
            if type_name in _registry and not replace:
                raise ValueError(f"node type {type_name} is already registered (pass replace=True to "
                                 f"replace it)")
            _registry[type_name] = info
            _generation += 1
        cls.node_type_name = type_name  # type: ignore[attr-defined]
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
    with _lock:
        return dict(_registry)


def generation() -> int:
    return _generation


def unregister(name: str) -> None:
    """Removes a Python node type (tests)."""
    global _generation
    with _lock:
        _registry.pop(name, None)
        _generation += 1
