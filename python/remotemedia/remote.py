"""Pipelines that run on a remotemedia.v1 server (``rmedia serve``), through
the C client in the native extension — no grpcio.

    p = remotemedia.RemotePipeline("10.0.0.5:50051", "transcribe.yaml", token="…")
    text = await p.run(remotemedia.Audio(samples, 16000))
    async with p.session() as s: ...          # one gRPC stream per session

It is a :class:`Pipeline` whose one node is the runtime's RemotePipeline node
(src/transports/grpc/remote_pipeline_node.c), so run(), run_sync() and
session() behave exactly as for a local pipeline: outputs are keyed by the
sub-manifest's sink ids."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from .errors import ManifestError, RuntimeUnavailableError
from .pipeline import Pipeline, Session

__all__ = ["RemotePipeline"]


def _load(manifest: Any) -> Tuple[Union[Dict[str, Any], str], Dict[str, Any]]:
    """(what the node's `manifest` parameter gets, the manifest as a dict)."""
    if isinstance(manifest, Pipeline):
        manifest = manifest.manifest
    if isinstance(manifest, dict):
        return manifest, manifest
    if isinstance(manifest, (str, os.PathLike)):
        text = os.fspath(manifest)
        if text.lstrip().startswith("{"):
            m = json.loads(text)
            return m, m
        path = os.path.abspath(text)
        with open(path, encoding="utf-8") as f:
            body = f.read()
        if path.endswith((".yaml", ".yml")):
            import yaml

            return path, yaml.safe_load(body)
        return path, json.loads(body)
    raise TypeError(f"manifest must be a dict, a Pipeline, a file path or JSON text, not {type(manifest).__name__}")


def _sinks(m: Dict[str, Any]) -> List[str]:
    feeding = set()
    for c in m.get("connections") or []:
        src = c.get("from", "") if isinstance(c, dict) else ""
        feeding.add(src.split(".", 1)[0])
    return [n["id"] for n in m.get("nodes") or [] if isinstance(n, dict) and n.get("id") not in feeding]


def _sources(m: Dict[str, Any]) -> List[str]:
    fed = set()
    for c in m.get("connections") or []:
        dst = c.get("to", "") if isinstance(c, dict) else ""
        fed.add(dst.split(".", 1)[0])
    return [n["id"] for n in m.get("nodes") or [] if isinstance(n, dict) and n.get("id") not in fed]


class RemotePipeline(Pipeline):
    """A pipeline executed on a remote server.

    ``address``: "host:port", or a list of them (balanced, with failover —
    see the RemotePipeline node in docs/nodes.md).  ``manifest``: a dict, a
    :class:`Pipeline`, a manifest file (JSON or YAML) or JSON text.
    ``token``: bearer token.  ``tls``: None/False (plaintext), True (the
    system's roots), a CA file path, or {"ca": …, "cert": …, "key": …}
    (mTLS).  ``timeout``: seconds per call and per wait.  Connection and
    server errors raise NodeError naming the server and the node.
    Failover events (when a server dies mid-stream) are kept in ``events``.
    """

    def __init__(self, address: Union[str, Iterable[str]], manifest: Any, *, token: Optional[str] = None,
                 tls: Any = None, timeout: float = 30.0, retries: int = 2, enable_metrics: bool = False,
                 **node_params: Any):
        param, sub = _load(manifest)
        name = (sub.get("metadata") or {}).get("name") or "remote"
        super().__init__(name if isinstance(name, str) else "remote", enable_metrics=enable_metrics,
                         runtime_hint="native")
        endpoints = [address] if isinstance(address, str) else list(address)
        params: Dict[str, Any] = {"endpoints": endpoints, "manifest": param,
                                  "timeout_ms": max(1, int(timeout * 1000)), "retries": retries}
        if token is not None:
            params["token"] = token
        if tls is True:
            params["tls"] = True
        elif isinstance(tls, (str, os.PathLike)):
            params["tls_ca"] = os.path.abspath(os.fspath(tls))
        elif isinstance(tls, dict):
            for k in ("ca", "cert", "key"):
                if tls.get(k):
                    params["tls_" + k] = os.path.abspath(os.fspath(tls[k]))
        elif tls not in (None, False):
            raise TypeError("tls must be None, True, a CA file path or a dict with ca/cert/key")
        sources = _sources(sub)
        if len(sources) > 1:  # a push feeds every source, as in a local run
            params["all_sources"] = True
        params.update(node_params)
        self.address = endpoints[0] if len(endpoints) == 1 else endpoints
        self.remote_sinks = _sinks(sub)
        self._remote_single = len(self.remote_sinks) == 1
        self.events: List[Dict[str, Any]] = []
        self._manifest = {"version": "v1", "metadata": {"name": self.name},
                          "nodes": [{"id": "remote", "node_type": "RemotePipeline", "params": params}],
                          "connections": []}
        try:
            self._compile()
        except ManifestError as e:
            if "RemotePipeline" in str(e) and "unknown node type" in str(e):
                raise RuntimeUnavailableError(
                    "remotemedia.RemotePipeline needs a native runtime built with the gRPC transport "
                    "(libremotemedia_remote)") from e
            raise

    def _compile(self) -> None:
        super()._compile()
        self._single_sink = self._remote_single  # outputs are grouped by remote sink

    # outputs of the node "remote" → (sink id, port, value), as a local run gives them
    def _map(self, items: List[Tuple[str, str, Any]]) -> List[Tuple[str, str, Any]]:
        out = []
        multi = len(self.remote_sinks) != 1
        for _nid, port, value in items:
            if port == "remote_events":
                self.events.append(value)
                continue
            if multi:
                sink, _, rest = port.partition(".")
                out.append((sink, rest or "out", value))
            else:
                out.append((self.remote_sinks[0] if self.remote_sinks else "remote", port, value))
        return out

    def _finish(self, res: Tuple[List[Tuple[str, str, Any]], Optional[str], Any], as_list: bool) -> Any:
        return super()._finish((self._map(res[0]), res[1], res[2]), as_list)

    @property
    def sinks(self) -> List[str]:
        return list(self.remote_sinks)

    def run_sync(self, inputs: Any = None, *, as_list: bool = False) -> Any:
        g = self._ensure()
        return self._finish(g.run(self._inputs(inputs), self.enable_metrics, None), as_list)

    def session(self, *, queue_capacity: int = 0, metrics: bool = True) -> "Session":
        return _RemoteSession(self, queue_capacity=queue_capacity, metrics=metrics)


class _RemoteSession(Session):
    """A Session whose outputs are keyed by the remote sink ids."""

    async def open(self) -> "Session":
        await super().open()
        self._multi = len(self.pipeline.remote_sinks) != 1  # type: ignore[attr-defined]
        return self

    def _on_ready(self) -> None:
        if self._eng is None:
            return
        items = self._eng.drain()
        if items:
            self._buf.extend(self.pipeline._map(items))  # type: ignore[attr-defined]
            self._event.set()  # type: ignore[union-attr]
