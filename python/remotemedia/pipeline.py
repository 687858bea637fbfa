"""Pipelines: load a manifest (or build a linear chain), then run it unary
(``await pipeline.run(x)`` / ``pipeline.run_sync(x)``) or streaming
(``async with pipeline.session() as s``)."""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import json
import os
import threading
from typing import Any, AsyncIterator, Dict, List, Optional, Sequence, Tuple, Union

from . import _backend, nodetype as _node
from .errors import RemoteMediaError

__all__ = ["Pipeline", "Session", "Node"]

_ids = itertools.count(1)


class Node:
    """One node of a builder chain: ``Node("MultiplyNode", factor=2)``; the id
    defaults to the lower-cased type name (made unique)."""

    def __init__(self, node_type: Union[str, type], id: Optional[str] = None, **params: Any):
        self.node_type = node_type if isinstance(node_type, str) else getattr(node_type, "node_type_name",
                                                                               node_type.__name__)
        self.id = id
        self.params = params


def _collect(values: List[Any], as_list: bool) -> Any:
    if as_list:
        return values
    return None if not values else values[0] if len(values) == 1 else values


def _isolated_manifest(m: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """`isolation: process` on a Python node type -> a PythonNode running its
    class in a worker process (the runtime's src/nodes/python); `inline` (the
    default) leaves the node as it is.  Returns None when nothing changes."""
    if m is None:
        return None
    import sys

    types = _node.registered_node_types()
    nodes = []
    for n in m["nodes"]:
        if not isinstance(n, dict) or "isolation" not in n:
            nodes.append(n)
            continue
        n = dict(n)
        mode = n.pop("isolation")
        if mode not in ("inline", "process"):
            raise ValueError(f"node '{n.get('id')}': isolation must be 'inline' or 'process', got {mode!r}")
        if mode == "process":
            info = types.get(n.get("node_type"))
            if info is None:
                raise ValueError(f"node '{n.get('id')}': isolation: process needs a registered Python node "
                                 f"type, got node_type {n.get('node_type')!r}")
            cls = info.cls
            params = dict(n.get("params") or {})
            for k, v in list(params.items()):  # the worker's own knobs stay top-level
                if k in ("class", "python_path"):
                    raise ValueError(f"node '{n.get('id')}': parameter '{k}' is reserved by isolation: process")
            params["class"] = f"{cls.__module__}:{cls.__qualname__}"
            params["python_path"] = [p for p in sys.path if p]
            n["node_type"] = "PythonNode"
            n["params"] = params
        nodes.append(n)
    return dict(m, nodes=nodes)


class Pipeline:
    """A pipeline: a manifest compiled for the native runtime or the fallback.

    ``runtime_hint``: "auto" (native when available, else the fallback with
    one RuntimeWarning), "native" (RuntimeUnavailableError without it) or
    "python" (always the fallback).  ``enable_metrics``: keep the metrics of
    the last run for :meth:`get_metrics`.
    """

    def __init__(self, name: str = "pipeline", *, enable_metrics: bool = False, runtime_hint: str = "auto"):
        self.name = name
        self.enable_metrics = enable_metrics
        self.runtime_hint = runtime_hint
        self._chain: List[Node] = []
        self._manifest: Optional[Dict[str, Any]] = None
        self._text: Optional[str] = None
        self._path: Optional[str] = None
        self._graph: Any = None
        self._backend: Optional[str] = None
        self._metrics: Optional[Dict[str, Any]] = None

    # ------------------------------------------------------------- loading --
    @classmethod
    def from_dict(cls, manifest: Dict[str, Any], **kw: Any) -> "Pipeline":
        name = (manifest.get("metadata") or {}).get("name", "pipeline") if isinstance(manifest, dict) else "pipeline"
        p = cls(name if isinstance(name, str) else "pipeline", **kw)
        p._manifest = manifest
        p._compile()
        return p

    @classmethod
    def from_json(cls, path_or_text: str, **kw: Any) -> "Pipeline":
        """A JSON manifest: a file path, or the JSON text itself."""
        if path_or_text.lstrip().startswith("{"):
            p = cls(**kw)
            p._text = path_or_text
        else:
            p = cls(**kw)
            p._path = os.fspath(path_or_text)
        p._compile()
        return p

    @classmethod
    def from_yaml(cls, path: str, **kw: Any) -> "Pipeline":
        """A YAML (or JSON) manifest file.  Diagnostics name file:line:column."""
        p = cls(**kw)
        p._path = os.fspath(path)
        p._compile()
        return p

    # ------------------------------------------------------------- builder --
    def add(self, node: Union[str, type, Node], id: Optional[str] = None, **params: Any) -> "Pipeline":
        """Appends a node to a linear chain: ``.add("MultiplyNode", factor=2)``,
        ``.add(MyPythonNode, gain=0.5)`` or ``.add(Node(...))``."""
        if self._manifest is not None or self._path or self._text:
            raise RemoteMediaError("add() builds linear chains; this pipeline was loaded from a manifest")
        self._chain.append(node if isinstance(node, Node) else Node(node, id, **params))
        self._graph = None
        return self

    @property
    def manifest(self) -> Dict[str, Any]:
        """The manifest as a dict (for loaded files: parsed from the file)."""
        if self._manifest is not None:
            return self._manifest
        if self._text is not None:
            return json.loads(self._text)
        if self._path is not None:
            with open(self._path, encoding="utf-8") as f:
                text = f.read()
            if self._path.endswith((".yaml", ".yml")):
                import yaml

                return yaml.safe_load(text)
            return json.loads(text)
        nodes, used = [], set()
        for n in self._chain:
            nid = n.id or n.node_type.lower().replace("node", "") or "node"
            base, k = nid, 2
            while nid in used:
                nid, k = f"{base}{k}", k + 1
            used.add(nid)
            entry: Dict[str, Any] = {"id": nid, "node_type": n.node_type}
            if n.params:
                entry["params"] = n.params
            nodes.append(entry)
        conns = [{"from": a["id"], "to": b["id"]} for a, b in zip(nodes, nodes[1:])]
        return {"version": "v1", "metadata": {"name": self.name}, "nodes": nodes, "connections": conns}

    # ------------------------------------------------------------- compile --
    @property
    def backend(self) -> str:
        """"native" or "python": the executor this pipeline runs on."""
        self._ensure()
        return self._backend  # type: ignore[return-value]

    def _compile(self) -> None:
        backend = _backend.resolve_hint(self.runtime_hint)
        if backend == "native":
            rt = _backend.native_runtime()
            from . import _native  # type: ignore[attr-defined]

            isolated = _isolated_manifest(self._raw_manifest_if_isolated())
            if isolated is not None:
                self._graph = _native.Graph(rt, text=json.dumps(isolated), name=None)
            elif self._path is not None:
                self._graph = _native.Graph(rt, path=self._path)
            else:
                text = self._text if self._text is not None else json.dumps(self.manifest)
                self._graph = _native.Graph(rt, text=text, name=None)
        else:
            from .fallback.graph import FallbackGraph, python_node_class

            types = {n: python_node_class(i) for n, i in _node.registered_node_types().items()}
            m = self._raw_manifest_if_isolated()
            if m is not None:  # no worker processes here: isolated nodes run inline
                m = dict(m, nodes=[{k: v for k, v in n.items() if k != "isolation"} for n in m["nodes"]])
            self._graph = FallbackGraph(m if m is not None else self.manifest, self._path, types)
        self._backend = backend
        self.name = self._graph.name
        self._single_sink = len(self._graph.sinks) == 1

    def _raw_manifest_if_isolated(self) -> Optional[Dict[str, Any]]:
        """The manifest when a node sets `isolation` (which the runtime's
        manifest schema does not know), else None (no parse for files)."""
        if self._path is not None:
            try:
                with open(self._path, encoding="utf-8") as f:
                    if "isolation" not in f.read():
                        return None
            except OSError:
                return None
        elif self._text is not None and "isolation" not in self._text:
            return None
        try:
            m = self.manifest
        except Exception:  # noqa: BLE001 - the runtime reports the real problem
            return None
        if not isinstance(m, dict) or not isinstance(m.get("nodes"), list):
            return None
        if not any(isinstance(n, dict) and "isolation" in n for n in m["nodes"]):
            return None
        return m

    def _ensure(self) -> Any:
        if self._graph is None:
            self._compile()
        return self._graph

    @property
    def sinks(self) -> List[str]:
        return list(self._ensure().sinks)

    @property
    def node_ids(self) -> List[str]:
        return list(self._ensure().node_ids)

    def to_dot(self) -> str:
        return self._ensure().to_dot()

    # ----------------------------------------------------------------- run --
    def _inputs(self, inputs: Any) -> List[Any]:
        if inputs is None:
            return []
        return list(inputs) if isinstance(inputs, list) else [inputs]

    def _finish(self, res: Tuple[List[Tuple[str, str, Any]], Optional[str], Any], as_list: bool) -> Any:
        outs, mjson, err = res
        if mjson:
            self._metrics = json.loads(mjson)
        if err is not None:
            raise err
        if self._single_sink:  # the common case, kept short: run() is a hot path
            return _collect([o[2] for o in outs], as_list)
        sinks = self.sinks  # RemotePipeline: the remote graph's sinks
        per: Dict[str, List[Any]] = {s: [] for s in sinks}
        for nid, _port, value in outs:
            per.setdefault(nid, []).append(value)
        if len(sinks) == 1:
            return _collect(per[sinks[0]], as_list)
        return {k: _collect(v, as_list) for k, v in per.items()}

    def run_sync(self, inputs: Any = None, *, as_list: bool = False) -> Any:
        """Runs the pipeline once on the calling thread: pushes every input
        (a list is a sequence of inputs; anything else is one input), ends the
        stream and returns the sink outputs — for one sink its value (a list
        if it produced several, None if none), else {sink id: ...}.
        ``as_list=True`` always gives lists.  Raises NodeError / RemoteMediaError."""
        g = self._graph or self._ensure()
        res = g.run(inputs if type(inputs) is list else [] if inputs is None else [inputs], self.enable_metrics, None)
        if res[1] is None and res[2] is None and self._single_sink and not as_list:
            outs = res[0]  # the common case inline: run() is a hot path (python/bench/bench_ffi.py)
            return outs[0][2] if len(outs) == 1 else None if not outs else [o[2] for o in outs]
        return self._finish(res, as_list)

    async def run(self, inputs: Any = None, *, as_list: bool = False) -> Any:
        """Like :meth:`run_sync` on a worker thread (the GIL is released while
        native nodes run), so the event loop stays responsive."""
        g = self._ensure()
        items = self._inputs(inputs)
        loop = asyncio.get_running_loop()
        res = await loop.run_in_executor(None, g.run, items, self.enable_metrics, None)
        return self._finish(res, as_list)

    def get_metrics(self) -> Optional[Dict[str, Any]]:
        """Metrics of the last run (enable_metrics=True): total_duration_us,
        frames_in/out, node_metrics {node id: calls, frames, total/min/max/
        mean/p50/p99 µs, ...}, links.  None when metrics are off."""
        return self._metrics

    # ----------------------------------------------------------- streaming --
    def session(self, *, queue_capacity: int = 0, metrics: bool = True) -> "Session":
        """A streaming session; use it as ``async with pipeline.session() as s``."""
        return Session(self, queue_capacity=queue_capacity, metrics=metrics)


_END = object()


class Session:
    """A streaming session (see Pipeline.session).

    ``await send(x)`` pushes one input; ``await end()`` signals end of stream
    (nodes flush, workers drain); ``outputs()`` yields outputs as they are
    produced and stops after end of stream — a value per output when the
    pipeline has one sink, else ``(node_id, value)``; ``await reset()`` is
    barge-in: queued input and unread output are dropped and nodes reset;
    ``metrics()`` gives this session's metrics.  Exiting the ``async with``
    ends the stream (if not ended) and frees the session.
    """

    def __init__(self, pipeline: Pipeline, queue_capacity: int = 0, metrics: bool = True):
        self.pipeline = pipeline
        self._cap = queue_capacity
        self._metrics_on = metrics
        self._eng: Any = None
        self._buf: "collections.deque[Tuple[str, str, Any]]" = collections.deque()
        self._event: Optional[asyncio.Event] = None
        self._ended = False
        self._finished = False
        self._error: Optional[BaseException] = None
        self._exec: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._lock = threading.Lock()
        self.session_id = f"{pipeline.name}-{next(_ids)}"

    async def open(self) -> "Session":
        g = self.pipeline._ensure()
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._multi = len(g.sinks) != 1
        if self.pipeline.backend == "native":
            from . import _native  # type: ignore[attr-defined]

            self._eng = await self._loop.run_in_executor(
                None, lambda: _native.Session(g, session_id=self.session_id, metrics=self._metrics_on, pooled=True,
                                              queue_capacity=self._cap))
            self._loop.add_reader(self._eng.fileno(), self._on_ready)
        else:
            from .fallback.convert import from_frame
            from .fallback.graph import FallbackSession

            # one worker thread per stream keeps its order, like a pool strand
            self._exec = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="remotemedia-py")

            def on_out(nid: str, port: str, f: Any) -> None:
                item = (nid, port, from_frame(f))
                self._loop.call_soon_threadsafe(self._push_out, item)

            self._eng = await self._loop.run_in_executor(
                self._exec, lambda: FallbackSession(g, self.session_id, self._metrics_on, on_out))
            if self._eng.open_error is not None:
                err, self._eng = self._eng.open_error, None
                self._exec.shutdown(wait=False)
                raise err
        return self

    def _push_out(self, item: Tuple[str, str, Any]) -> None:
        self._buf.append(item)
        self._event.set()  # type: ignore[union-attr]

    def _on_ready(self) -> None:
        if self._eng is None:
            return
        items = self._eng.drain()
        if items:
            self._buf.extend(items)
            self._event.set()  # type: ignore[union-attr]

    async def __aenter__(self) -> "Session":
        return await self.open()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if not self._ended and self._eng is not None and exc_type is None:
                await self.end()
        finally:
            await self.close()

    def _check(self) -> None:
        if self._eng is None:
            raise RemoteMediaError("session is not open (use `async with pipeline.session() as s`)")
        if self._ended:
            raise RemoteMediaError("session has ended: no more input", code="RM_ESTATE", errno=-19,
                                   error_class="validation")

    async def send(self, value: Any, node_id: Optional[str] = None, port: Optional[str] = None) -> None:
        """Pushes one input into every source node, or into `node_id` (its
        input `port`, default the first; KeyError when there is no such
        node or port).  Native sessions only queue it (back-pressure when
        the queue is full); raises NodeError once the session has failed."""
        self._check()
        if self._exec is None:
            if node_id is None:
                self._eng.push(value)
            else:
                self._eng.push(value, node_id, port)
        else:
            await self._loop.run_in_executor(self._exec, self._eng.push, value, node_id, port)

    async def end(self) -> None:
        """End of stream: flushes every node and waits until all output is
        delivered.  Raises the session's error if it failed."""
        if self._eng is None or self._ended:
            return
        self._ended = True
        try:
            await self._loop.run_in_executor(self._exec, self._eng.end)
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            if self._exec is None:
                self._on_ready()
            else:
                await self._loop.run_in_executor(self._exec, lambda: None)  # outputs queued before
                await asyncio.sleep(0)
            self._finished = True
            self._event.set()  # type: ignore[union-attr]

    async def reset(self) -> None:
        """Barge-in: drops every queued input and unread output and resets
        every node; nothing produced from earlier input is delivered later."""
        self._check()
        await self._loop.run_in_executor(self._exec, self._eng.reset)
        if self._exec is not None:
            await asyncio.sleep(0)  # outputs scheduled before the reset land first
        self._buf.clear()

    cancel = reset

    async def outputs(self, with_node: Optional[bool] = None) -> AsyncIterator[Any]:
        """Yields outputs until end of stream (then raises the session's
        error, if any)."""
        tagged = self._multi if with_node is None else with_node
        while True:
            while self._buf:
                nid, _port, value = self._buf.popleft()
                yield (nid, value) if tagged else value
            if self._finished:
                if self._error is not None:
                    raise self._error
                return
            await self._event.wait()  # type: ignore[union-attr]
            self._event.clear()  # type: ignore[union-attr]

    async def receive(self) -> Any:
        """The next output (waits for it); StopAsyncIteration after the end."""
        async for x in self.outputs():
            return x
        raise StopAsyncIteration

    def metrics(self) -> Dict[str, Any]:
        if self._eng is None:
            raise RemoteMediaError("session is not open")
        return json.loads(self._eng.metrics())

    async def close(self) -> None:
        eng, self._eng = self._eng, None
        if eng is None:
            return
        if self._exec is None:
            self._loop.remove_reader(eng.fileno())
            await self._loop.run_in_executor(None, eng.close)
        else:
            await self._loop.run_in_executor(self._exec, eng.close)
            self._exec.shutdown(wait=False)
