"""Which executor runs a pipeline: the native runtime (the C library through
the _native extension) or the pure-Python fallback.

The extension is imported once.  REMOTEMEDIA_FORCE_PYTHON=1 in the
environment makes the package behave as if it were missing (the test suite
runs once that way).  The first pipeline that falls back emits one
RuntimeWarning saying why.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from typing import Any, Dict, Optional

from . import errors
from .data import Audio

log = logging.getLogger("remotemedia")
log.addHandler(logging.NullHandler())  # a library: the application decides what is shown

_native: Any = None
_native_error: Optional[str] = None

if os.environ.get("REMOTEMEDIA_FORCE_PYTHON", "").strip() not in ("", "0"):
    _native_error = "disabled by REMOTEMEDIA_FORCE_PYTHON"
else:
    try:
        from . import _native as _native_mod  # type: ignore[attr-defined]

        _native = _native_mod
    except ImportError as exc:  # not built, or libremotemedia.so.0 not found
        _native_error = None
        _msg = str(exc)
        _pkg = os.path.dirname(os.path.abspath(__file__))
        if "libremotemedia.so" in _msg:
            # The extension is there; the runtime library it links is not.
            _native_error = (f"the native extension is installed but its runtime library "
                             f"libremotemedia.so.0 is missing (expected next to it in {_pkg}; "
                             f"reinstall the package: pip install ./python) [{_msg}]")
        elif getattr(exc, "name", None) == f"{__package__}._native" or "_native" in _msg and "No module" in _msg:
            _native_error = (f"the native extension remotemedia._native is not in {_pkg} (a source "
                             f"checkout without `setup.py build_ext --inplace`, or a pure-Python copy)")
        else:
            _native_error = f"the native extension failed to load: {type(exc).__name__}: {_msg}"

_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.DEBUG, 4: logging.DEBUG}


def _log(level: int, node_id: Optional[str], message: str) -> None:
    log.log(_LEVELS.get(level, logging.INFO), "%s%s", f"[{node_id}] " if node_id else "", message)


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"cannot send a {type(value).__name__} to a pipeline: {exc}; send an Audio, "
                        f"(samples, rate), str, bytes or a JSON-serialisable value") from None


if _native is not None:
    _native._init(audio_type=Audio, json_dumps=_dumps, json_loads=json.loads,
                  base_error=errors.RemoteMediaError, manifest_error=errors.ManifestError,
                  node_error=errors.NodeError, log_fn=_log)


def native_available() -> bool:
    return _native is not None


def native_unavailable_reason() -> Optional[str]:
    return _native_error


_warned = False
_warn_lock = threading.Lock()


def warn_fallback_once() -> None:
    global _warned
    with _warn_lock:
        if _warned:
            return
        _warned = True
    warnings.warn(f"RemoteMedia native runtime unavailable ({_native_error}); running pipelines on the "
                  f"pure-Python fallback executor", RuntimeWarning, stacklevel=4)


def resolve_hint(hint: str) -> str:
    """'auto' | 'native' | 'python' (and the original SDK's 'rust') ->
    'native' or 'python'."""
    if hint == "rust":
        warnings.warn("runtime_hint='rust' is deprecated; use 'native'", DeprecationWarning, stacklevel=4)
        hint = "native"
    if hint == "python":
        return "python"
    if hint == "native":
        if _native is None:
            raise errors.RuntimeUnavailableError(
                f"runtime_hint='native' but the native runtime is unavailable: {_native_error}",
                code="RM_ENOTSUP", errno=-21)
        return "native"
    if hint != "auto":
        raise ValueError(f"runtime_hint must be 'auto', 'native' or 'python', got {hint!r}")
    if _native is None:
        warn_fallback_once()
        return "python"
    return "native"


# ----------------------------------------------------------- native runtime --

_rt_lock = threading.Lock()
_rt: Any = None
_rt_generation = -1


def native_runtime() -> Any:
    """The shared _native.Runtime with every registered Python node type.
    A runtime is read-only once graphs are compiled against it, so a new one
    is made when node types were registered since; graphs keep theirs."""
    global _rt, _rt_generation
    from . import nodetype as node

    with _rt_lock:
        gen = node.generation()
        if _rt is None or gen != _rt_generation:
            types = [info.native() for info in node.registered_node_types().values()]
            _rt = _native.Runtime(types, 1)
            _rt_generation = gen
        return _rt


def check_python_node_name(name: str, replace: bool) -> None:
    """A Python node type may not shadow a built-in node type."""
    from .fallback.nodes import BUILTIN_NODES, NATIVE_ONLY_NODES

    if name in BUILTIN_NODES or name in NATIVE_ONLY_NODES:
        raise ValueError(f"node type {name} is a built-in node type; choose another name")
    if _native is not None and _native.Runtime([], 1).describe(name) is not None:
        raise ValueError(f"node type {name} is a built-in node type; choose another name")


def _loaded_library() -> Optional[str]:
    """Where the process mapped libremotemedia from (Linux), or None."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                if "libremotemedia.so" in line:
                    return line.split(None, 5)[-1].strip()
    except OSError:
        pass
    return None


def build_info() -> Dict[str, Any]:
    from . import __version__

    d: Dict[str, Any] = {"package_version": __version__, "native": _native is not None,
                         "package_dir": os.path.dirname(os.path.abspath(__file__))}
    if _native is None:
        d["reason"] = _native_error
        return d
    d["version"] = _native.version()
    d["features"] = _native.build_features().split()
    d["extension"] = getattr(_native, "__file__", None)
    d["library"] = _loaded_library()
    return d


def info() -> Dict[str, Any]:
    d: Dict[str, Any] = {"native": _native is not None, "fallback": "python"}
    if _native is not None:
        d["version"] = _native.version()
        d["features"] = _native.build_features().split()
        d["extension"] = getattr(_native, "__file__", None)
        d["executor"] = "native"
    else:
        d["reason"] = _native_error
        d["executor"] = "python"
    return d
