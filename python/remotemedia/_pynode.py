"""Calling Python node classes (used by the native callbacks in pynode.c and
by the fallback executor): sync, async and generator methods, and the
registry that carries a failed node's exception to the NodeError."""
from __future__ import annotations

import asyncio
import inspect
import threading
import traceback
from collections import OrderedDict
from typing import Any, List, Optional, Tuple, Union

OP_INIT, OP_PROCESS, OP_FLUSH, OP_RESET = 0, 1, 2, 3
_METHOD = {OP_INIT: "__init__", OP_PROCESS: "process", OP_FLUSH: "flush", OP_RESET: "reset"}

_errors: "OrderedDict[Tuple[str, str], BaseException]" = OrderedDict()
_errors_lock = threading.Lock()
_MAX_ERRORS = 256
_tls = threading.local()


def record_error(session_id: str, node_id: str, exc: BaseException) -> None:
    with _errors_lock:
        _errors[(session_id, node_id)] = exc
        while len(_errors) > _MAX_ERRORS:  # failures nobody asked about
            _errors.popitem(last=False)


def take_error(session_id: Optional[str], node_id: Optional[str]) -> Optional[BaseException]:
    with _errors_lock:
        return _errors.pop((session_id or "", node_id or ""), None)


def format_traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return ""
    last = tb[-1]
    return f", at {last.filename}:{last.lineno} in {last.name}"


def failure_message(exc: BaseException, op: int, target: Any, node_id: str) -> str:
    cls = target if isinstance(target, type) else type(target)
    name = getattr(cls, "node_type_name", cls.__name__)
    return (f"{type(exc).__name__}: {exc} (in {_METHOD[op]}() of Python node {name} "
            f"'{node_id}'{_where(exc)}; full traceback in NodeError.python_traceback)")


class _LoopHolder:
    """Owns a thread's private loop and closes it when the thread ends."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        self.loop.close()


def _loop() -> asyncio.AbstractEventLoop:
    """A private event loop for this thread, for async nodes called from
    runtime threads (which never run a loop of their own)."""
    holder = getattr(_tls, "holder", None)
    if holder is None:
        holder = _tls.holder = _LoopHolder()
    return holder.loop


async def _collect_agen(agen: Any) -> List[Any]:
    return [x async for x in agen]


def collect(result: Any) -> List[Any]:
    """Turns what process()/flush() returned into a list of outputs: None ->
    none, a generator or async generator -> what it yields, a coroutine -> its
    result, anything else -> that one value."""
    if result is None:
        return []
    if inspect.isgenerator(result):
        return [x for x in result if x is not None]
    if inspect.isasyncgen(result):
        return [x for x in _loop().run_until_complete(_collect_agen(result)) if x is not None]
    if inspect.iscoroutine(result):
        return collect(_loop().run_until_complete(result))
    return [result]


def invoke(op: int, target: Any, arg: Any, session_id: str, node_id: str) -> Union[List[Any], str]:
    """Called from C.  Returns a list on success (init: [instance]) or the
    failure message (the exception is recorded for the NodeError)."""
    try:
        if op == OP_PROCESS:
            return collect(target.process(arg))
        if op == OP_INIT:
            return [target(**arg)]
        if op == OP_FLUSH:
            fn = getattr(target, "flush", None)
            return collect(fn()) if fn is not None else []
        fn = getattr(target, "reset", None)
        if fn is not None:
            collect(fn())
        return []
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a NodeError
        record_error(session_id, node_id, exc)
        return failure_message(exc, op, target, node_id)
