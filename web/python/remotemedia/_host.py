"""The JavaScript side's entry points (web/src/python.ts): instances of
Python node classes as external nodes of the wasm executor.  Not public."""
from __future__ import annotations

import array
import importlib
import inspect
import json
import math
from typing import Any, Dict, List, Tuple

from . import Audio, ManifestError
from ._pynode import _where
from .nodetype import _NO_DEFAULT, NodeTypeInfo, Param, registered_node_types

_FORMATS = {1: "f", 2: "h", 3: "i"}
_CODES = {"f": 1, "h": 2, "i": 3}
_METHOD = ("__init__", "process", "flush", "reset")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _spellings(p: Param) -> List[str]:
    names = [p.name, *p.aliases]
    return names + [_camel(n) for n in names if _camel(n) != n]


def _check(p: Param, value: Any, where: str) -> Any:
    """A manifest value converted to the Param's type, or ManifestError naming `where`."""
    t = p.type

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
        if p.enum and value not in p.enum:
            raise bad(f"expected one of {', '.join(p.enum)}")
    elif t == "string list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("expected a list of strings")
        for v in value if p.enum else ():
            if v not in p.enum:
                raise ManifestError(f"{where}: '{v}' is not one of {', '.join(p.enum)}")
    n = len(value) if t == "string list" else value if t in ("int", "float") else None
    if n is not None and p.min is not None and n < p.min:
        raise bad(f"below the minimum {p.min:g}")
    if n is not None and p.max is not None and n > p.max:
        raise bad(f"above the maximum {p.max:g}")
    return value


def _instantiate(info: NodeTypeInfo, params: Dict[str, Any], node_id: str) -> Any:
    """An instance from manifest params, checked against the class's Params."""
    by_name = {s: p for p in info.params for s in _spellings(p)}
    kw: Dict[str, Any] = {}
    for key, value in params.items():
        p = by_name.get(key)
        if p is None:
            if info.params:
                known = ", ".join(q.name for q in info.params)
                raise ManifestError(f"node '{node_id}' ({info.name}): unknown param '{key}' (known: {known})")
            kw[key] = value  # a class without Params takes what it is given
            continue
        kw[p.name] = _check(p, value, f"node '{node_id}' ({info.name}): param '{key}'")
    for p in info.params:
        if p.name in kw:
            continue
        if p.default is _NO_DEFAULT:
            if p.required:
                raise ManifestError(f"node '{node_id}' ({info.name}): missing required param '{p.name}'")
            kw[p.name] = None
        else:
            kw[p.name] = p.default
    return info.cls(**kw)


class _Instance:
    def __init__(self, info: NodeTypeInfo, obj: Any, node_id: str):
        self.info, self.obj, self.node_id = info, obj, node_id


def _failure(exc: BaseException, op: int, name: str, node_id: str) -> str:
    if isinstance(exc, ManifestError):
        return str(exc)
    return f"{type(exc).__name__}: {exc} (in {_METHOD[op]}() of Python node {name} '{node_id}'{_where(exc)})"


def _run_sync(coro: Any) -> Any:
    """Drives a coroutine that never waits for anything outside (a pipeline
    step is synchronous): `await asyncio.sleep(0)` and awaiting other such
    coroutines work; a real future is an error."""
    try:
        while True:
            waited = coro.send(None)
            if waited is not None:
                coro.close()
                raise RuntimeError(f"awaited {waited!r}, which cannot complete inside a browser pipeline step "
                                   f"(only computation and asyncio.sleep(0) are possible here)")
    except StopIteration as stop:
        return stop.value


def _collect(result: Any) -> List[Any]:
    """What process()/flush() returned, as outputs (the package's rules)."""
    if result is None:
        return []
    if inspect.isgenerator(result):
        return [x for x in result if x is not None]
    if inspect.isasyncgen(result):
        out = []
        while True:
            try:
                x = _run_sync(result.__anext__())
            except StopAsyncIteration:
                return out
            if x is not None:
                out.append(x)
    if inspect.iscoroutine(result):
        return _collect(_run_sync(result))
    return [result]


def _class(spec: str) -> NodeTypeInfo:
    """PythonNode's `class: module:Class` (as natively)."""
    mod, _, attr = spec.partition(":")
    if not mod or not attr:
        raise ManifestError(f"class '{spec}' must be 'module:ClassName'")
    cls = getattr(importlib.import_module(mod), attr, None)
    if cls is None:
        raise ManifestError(f"module '{mod}' has no class '{attr}'")
    if not callable(getattr(cls, "process", None)):
        raise ManifestError(f"class '{spec}' has no process() method")
    name = getattr(cls, "node_type_name", None)
    info = registered_node_types().get(name) if name else None
    return info if info is not None and info.cls is cls else NodeTypeInfo(attr, cls, [], f"Python class {spec}", False)


def create(type_name: str, params_json: str, node_id: str) -> Tuple[Any, str]:
    """(instance, "") or (None, message)."""
    try:
        params: Dict[str, Any] = json.loads(params_json)
        if type_name == "PythonNode":
            info = _class(str(params.pop("class", "")))
            for k in ("timeout_ms", "memory_limit_mb", "ring_mb", "init_timeout_ms", "python", "python_path"):
                params.pop(k, None)  # native worker settings; one interpreter here
            args = params.pop("args", None)
            if isinstance(args, dict):
                params.update(args)
        else:
            info = registered_node_types()[type_name]
        return _Instance(info, _instantiate(info, params, node_id), node_id), ""
    except BaseException as exc:  # noqa: BLE001 - every failure is the node's error
        return None, _failure(exc, 0, type_name, node_id)


def to_python(kind: str, value: Any, data: Any, rate: int, channels: int, fmt: int, ts: float) -> Any:
    """An input frame: json as a Python object (from its JSON text), text as
    str, audio (bytes of the typed array) as Audio."""
    if kind == "audio":
        samples = array.array(_FORMATS.get(fmt, "f"))
        samples.frombytes(data.to_bytes() if hasattr(data, "to_bytes") else data)  # a JS Uint8Array: one copy
        return Audio(samples, rate, None if ts < 0 else int(ts), channels=channels)
    if kind == "json":
        return json.loads(value)
    return value


def _frame(x: Any) -> Tuple[str, Any, int, int, int, float]:
    """(kind, payload, rate, channels, format, timestamp) for JavaScript."""
    if isinstance(x, Audio):
        s = x.samples if isinstance(x.samples, array.array) else array.array("f", x.samples)
        if s.typecode not in _CODES:
            s = array.array("f", s)
        ts = -1.0 if x.timestamp_us is None else float(x.timestamp_us)
        return "audio", s.tobytes(), x.sample_rate, x.channels, _CODES[s.typecode], ts
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], int) and not isinstance(x[0], (str, dict)):
        return _frame(Audio(x[0], x[1]))
    if isinstance(x, str):
        return "text", x, 0, 0, 0, -1.0
    if isinstance(x, (bytes, bytearray, memoryview)):
        raise TypeError("binary outputs are not supported in the browser")
    return "json", json.dumps(x, allow_nan=False), 0, 0, 0, -1.0


def call(inst: _Instance, op: int, arg: Any) -> Tuple[List[Any], str]:
    """(outputs as _frame tuples, "") or ([], message)."""
    try:
        obj = inst.obj
        if op == 1:
            outs = _collect(obj.process(arg))
        else:
            fn = getattr(obj, _METHOD[op], None)
            outs = _collect(fn()) if fn is not None else []
            if op == 3:
                outs = []
        return [_frame(x) for x in outs], ""
    except BaseException as exc:  # noqa: BLE001
        return [], _failure(exc, op, inst.info.name, inst.node_id)
