"""Pure-Python (numpy) implementations of the built-in node types, used when
the native runtime is unavailable or runtime_hint="python".

Each node type is a subclass of :class:`FallbackNode` declaring the same name,
aliases, ports and parameter table as its C twin (a test compares them with
the native descriptions, so they cannot drift) and implementing
``process(port, frame)`` / ``flush()`` / ``reset()``.

Adding a node (e.g. the numpy version of an audio node): write a module here
with a FallbackNode subclass decorated with :func:`register`, import it at
the bottom of this file, and add its manifests to the equivalence tests.
Audio frames carry a :class:`remotemedia.Audio` (``frame.value``); emit new
frames with ``self.emit(Frame.audio(samples, rate))``.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence, Tuple, Type

from ..params import ParamDef

KINDS = ("audio", "video", "tensor", "json", "text", "binary")

# RM_E* codes the nodes use
EINVAL, EPARAM, EFRAMEKIND, EFORMAT, ENODE, ENOMEM = "RM_EINVAL", "RM_EPARAM", "RM_EFRAMEKIND", \
    "RM_EFORMAT", "RM_ENODE", "RM_ENOMEM"


class Frame:
    """A value with its kind: audio (Audio), text (str), json (any JSON
    value), binary (bytes), tensor/video (numpy arrays)."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any):
        self.kind = kind
        self.value = value

    def __repr__(self) -> str:
        return f"Frame({self.kind}, {self.value!r})"


class NodeFailure(Exception):
    """Raised by a node to fail the call: rm_node_fail(node, code, message)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


Port = Tuple[str, Optional[Sequence[str]], str]  # (name, kinds or None = any, doc)


class FallbackNode:
    name: ClassVar[str]
    doc: ClassVar[str] = ""
    family: ClassVar[str] = ""
    aliases: ClassVar[Sequence[str]] = ()
    inputs: ClassVar[Optional[List[Port]]] = None   # None: one "in" port, any kind
    outputs: ClassVar[Optional[List[Port]]] = None  # None: one "out" port, any kind
    params: ClassVar[List[ParamDef]] = []
    blocking: ClassVar[bool] = False
    same_caps: ClassVar[bool] = False  # output kinds = input kinds (negotiate)
    example: ClassVar[Optional[str]] = None

    def __init__(self, node_id: str, session_id: str, config: Dict[str, Any],
                 emit: Callable[[int, Frame], None]):
        self.node_id = node_id
        self.session_id = session_id
        self.config = config
        self._emit = emit

    # --- callbacks (override) ---
    def init(self) -> None:
        pass

    def process(self, port: int, frame: Frame) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass

    # --- helpers ---
    def emit(self, frame: Frame, port: int = 0) -> None:
        self._emit(port, frame)

    @staticmethod
    def fail(code: str, message: str) -> "NodeFailure":
        return NodeFailure(code, message)

    @classmethod
    def input_ports(cls) -> List[Port]:
        return cls.inputs if cls.inputs is not None else [("in", None, "input")]

    @classmethod
    def output_ports(cls) -> List[Port]:
        return cls.outputs if cls.outputs is not None else [("out", None, "output")]

    @classmethod
    def describe(cls) -> Dict[str, Any]:
        """What rm_node_type_describe_json() says for the C twin."""

        def ports(ps: List[Port]) -> List[Dict[str, Any]]:
            return [{"name": n, "kinds": list(k) if k else ["any"], "doc": d} for n, k, d in ps]

        d: Dict[str, Any] = {"name": cls.name, "doc": cls.doc, "family": cls.family,
                             "aliases": list(cls.aliases), "blocking": cls.blocking,
                             "inputs": ports(cls.input_ports()), "outputs": ports(cls.output_ports()),
                             "params": [p.describe() for p in cls.params]}
        if cls.example:
            d["example"] = cls.example
        return d


BUILTIN_NODES: Dict[str, Type[FallbackNode]] = {}  # name and every alias -> class


def register(cls: Type[FallbackNode]) -> Type[FallbackNode]:
    for n in (cls.name, *cls.aliases):
        BUILTIN_NODES[n] = cls
    return cls


def builtin_types() -> List[Type[FallbackNode]]:
    """Each built-in node type once, sorted by name."""
    return sorted(set(BUILTIN_NODES.values()), key=lambda c: c.name)


from . import core, math, text  # noqa: E402,F401  (registration)
