"""Pure-Python (numpy) implementations of the built-in node types, used when
the native runtime is unavailable or runtime_hint="python".

Each node type is a subclass of :class:`FallbackNode` declaring the same name,
aliases, ports and parameter table as its C twin (a test compares them with
the native descriptions, so they cannot drift), the same caps negotiation
(``negotiate``, the C type's negotiate()) and implementing ``init()`` /
``process(port, frame)`` / ``flush()`` / ``reset()``; it reports errors by
raising :class:`NodeFailure` (rm_node_fail) and stats with ``self.stat``
(rm_node_stat).

Adding a node (e.g. the numpy version of a new C node): write a module here
with a FallbackNode subclass decorated with :func:`register`, import it at
the bottom of this file, and add its manifests to the equivalence tests.
Frames are :class:`Frame` objects: audio carries a
:class:`remotemedia.Audio` (``frame.value``, read-only samples) and the
frame's timestamp and metadata (``frame.ts``, ``frame.meta``); emit new
frames with ``self.emit(Frame(kind, value, props))`` (props: the frame whose
timestamp and metadata the new one keeps, like rm_frame_copy_props).  A node
type that cannot be written in Python belongs in NATIVE_ONLY_NODES below.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, Iterable, List, Optional, Sequence, Tuple, Type

from ..params import ParamDef

KINDS = ("audio", "video", "tensor", "json", "text", "binary")

# RM_E* codes the nodes use
EINVAL, EPARAM, EFRAMEKIND, EFORMAT, ENODE, ENOMEM = "RM_EINVAL", "RM_EPARAM", "RM_EFRAMEKIND", \
    "RM_EFORMAT", "RM_ENODE", "RM_ENOMEM"


class Frame:
    """A value with its kind — audio (an Audio with a read-only samples
    array), text (str), json (any JSON value), binary (bytes), tensor and
    video (read-only numpy arrays) — and the frame properties the native
    frame carries: ``ts`` (timestamp in µs, None = RM_TS_NONE) and ``meta``
    (a dict of string pairs, or None; never modified once the frame exists).
    ``Frame(kind, value, props)`` copies ts and meta from the frame `props`
    (rm_frame_copy_props)."""

    __slots__ = ("kind", "value", "ts", "meta")

    def __init__(self, kind: str, value: Any, props: Optional["Frame"] = None, ts: Optional[int] = None,
                 meta: Optional[Dict[str, str]] = None):
        self.kind = kind
        self.value = value
        if props is not None:
            self.ts, self.meta = props.ts, props.meta
        else:
            self.ts, self.meta = ts, meta

    def __repr__(self) -> str:
        return f"Frame({self.kind}, {self.value!r}, ts={self.ts})"


class Caps:
    """What flows on a link as far as it is known before running (rm_caps):
    ``kinds`` a set of kind names or None (any), audio ``format`` ("f32",
    "s16", "s32" or None = any), ``rate`` and ``channels`` (0 = any)."""

    __slots__ = ("kinds", "format", "rate", "channels")

    def __init__(self, kinds: Optional[Iterable[str]] = None, format: Optional[str] = None, rate: int = 0,
                 channels: int = 0):
        self.kinds = set(kinds) if kinds else None
        self.format = format
        self.rate = rate
        self.channels = channels

    def copy(self) -> "Caps":
        return Caps(self.kinds, self.format, self.rate, self.channels)

    def is_audio_only(self) -> bool:
        return self.kinds == {"audio"}

    def __repr__(self) -> str:
        return f"Caps({self.kinds}, {self.format}, {self.rate}, {self.channels})"


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
                 emit: Callable[[int, Frame], None], stat: Optional[Callable[[str, str, float], None]] = None,
                 in_caps: Optional[List[Caps]] = None):
        self.node_id = node_id
        self.session_id = session_id
        self.config = config
        self._emit = emit
        self._stat = stat
        self.in_caps = in_caps or [Caps() for _ in self.input_ports()]  # rm_node_input_caps()

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

    def stat(self, key: str, kind: str, value: float) -> None:
        """rm_node_stat(): kind "set", "add" or "sample"; shown under
        ``stats`` in the node's metrics."""
        if self._stat is not None:
            self._stat(key, kind, value)

    @staticmethod
    def fail(code: str, message: str) -> "NodeFailure":
        return NodeFailure(code, message)

    @classmethod
    def negotiate(cls, config: Dict[str, Any], ins: List[Caps], in_req: List[Caps], outs: List[Caps]) -> None:
        """The C type's negotiate(): refine in_req (what the inputs must be)
        and outs (what the outputs will be) from the config and the upstream
        caps `ins`; raise NodeFailure(code, message) when they cannot work.
        in_req and outs arrive with the ports' kinds.  The default: none
        (or, with same_caps, the output is what comes in)."""
        if cls.same_caps and outs:
            outs[0] = ins[0].copy() if ins else Caps()

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

# Node families of the native runtime that cannot exist in pure Python: the
# fallback names their node types in a clear error (RuntimeUnavailableError)
# instead of "unknown node type", runtime_hint="auto" never picks the
# fallback for them while the extension is loaded, and the test that compares
# the fallback's tables with the native descriptions leaves these families out.
NATIVE_ONLY_FAMILIES: Dict[str, str] = {
    "speech": "it runs the C speech libraries (pocketsphinx recognition, flite synthesis)",
    "remote": "it runs the C gRPC client (remotemedia.RemotePipeline needs the native runtime)",
}
# Node types (names and aliases) of those families -> family.  A test checks
# that every native node type of a native-only family is listed here.
NATIVE_ONLY_NODES: Dict[str, str] = {
    "SpeechToText": "speech",
    "TextToSpeech": "speech",
    "RemotePipeline": "remote",
}


def register(cls: Type[FallbackNode]) -> Type[FallbackNode]:
    for n in (cls.name, *cls.aliases):
        BUILTIN_NODES[n] = cls
    return cls


def builtin_types() -> List[Type[FallbackNode]]:
    """Each built-in node type once, sorted by name."""
    return sorted(set(BUILTIN_NODES.values()), key=lambda c: c.name)


from . import audio, core, math, text  # noqa: E402,F401  (registration)
