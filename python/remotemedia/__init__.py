"""RemoteMedia: real-time media and AI pipelines from Python.

    import remotemedia
    p = remotemedia.Pipeline.from_yaml("pipeline.yaml")
    result = p.run_sync(remotemedia.Audio(samples, 16000))

See python/README.md.  The heavy lifting is the native C runtime (the
_native extension); without it, the same manifests run on a pure-Python
fallback executor.
"""
from __future__ import annotations

import json
import warnings
from typing import Any, Dict, List

from . import _backend
from .data import Audio
from .errors import ManifestError, NodeError, RemoteMediaError, RuntimeUnavailableError
from .nodetype import Param, node
from .pipeline import Node, Pipeline, Session
from .remote import RemotePipeline

__version__ = "0.1.0"

__all__ = ["Audio", "ManifestError", "Node", "NodeError", "Param", "Pipeline", "RemoteMediaError", "RemotePipeline",
           "RuntimeUnavailableError", "Session", "build_info", "inspect", "is_native_runtime_available",
           "is_rust_runtime_available", "node", "nodes", "runtime_info", "__version__"]


def is_native_runtime_available() -> bool:
    """True when the C runtime extension is loaded (and not disabled by
    REMOTEMEDIA_FORCE_PYTHON)."""
    return _backend.native_available()


def is_rust_runtime_available() -> bool:
    """Deprecated alias of :func:`is_native_runtime_available` (the original
    SDK's name)."""
    warnings.warn("is_rust_runtime_available() is deprecated; use is_native_runtime_available()",
                  DeprecationWarning, stacklevel=2)
    return _backend.native_available()


def build_info() -> Dict[str, Any]:
    """How this package was built: {"package_version", "native", "package_dir"}
    and, with the native runtime, "version" (libremotemedia), "features" (its
    build switches: threads, plugins, audio, speech, python-nodes, …),
    "extension" and "library" (the files loaded); else "reason" (what is
    missing)."""
    return _backend.build_info()


def runtime_info() -> Dict[str, Any]:
    """{"native": bool, "executor": "native"|"python", "version", "features",
    "extension"} — or "reason" when the native runtime is unavailable."""
    return _backend.info()


def _describe_all() -> Dict[str, Dict[str, Any]]:
    from . import nodetype as _node

    if _backend.native_available():
        rt = _backend.native_runtime()
        return {n: json.loads(rt.describe(n)) for n in rt.node_types()}
    from .fallback.graph import python_node_class
    from .fallback.nodes import builtin_types

    out = {c.name: c.describe() for c in builtin_types()}
    for name, info in _node.registered_node_types().items():
        out[name] = python_node_class(info).describe()
    return dict(sorted(out.items()))


def nodes() -> List[str]:
    """Names of every node type (built-in, plugin and registered Python)."""
    return list(_describe_all())


def inspect(name: str) -> Dict[str, Any]:
    """A node type's description from its parameter table: name, doc, family,
    aliases, blocking, inputs/outputs (name, kinds, doc) and params (name,
    type, default, min, max, enum, aliases, doc, required, runtime)."""
    all_ = _describe_all()
    for d in all_.values():
        if d["name"] == name or name in d.get("aliases", []):
            return d
    raise KeyError(f"unknown node type '{name}'")
