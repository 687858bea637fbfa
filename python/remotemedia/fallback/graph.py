"""The fallback executor: compiles a manifest (the same validation and
messages as src/core/graph.c) and runs sessions in pure Python, with the same
semantics as the native executor: topological order, fan-out and fan-in,
every source fed by push, sink outputs collected, end of stream flushing in
topological order, on_error policies fail / skip / retry, reset for barge-in,
and metrics in the same JSON shape."""
from __future__ import annotations

import json
import math
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

from .. import _pynode
from ..errors import ManifestError, NodeError, RemoteMediaError
from . import params as P
from .convert import from_frame, to_frame
from .nodes import BUILTIN_NODES, KINDS, FallbackNode, Frame, NodeFailure

_CLASS = {"RM_EINVAL": "validation", "RM_EPARSE": "validation", "RM_EMANIFEST": "validation",
          "RM_ENOTFOUND": "validation", "RM_EPARAM": "validation", "RM_ECAPS": "validation",
          "RM_ECYCLE": "validation", "RM_EFRAMEKIND": "node_execution", "RM_EFORMAT": "node_execution",
          "RM_ENODE": "node_execution", "RM_ENOMEM": "resource_limit", "RM_ESTATE": "validation",
          "RM_EINTERNAL": "internal", "RM_ECANCELED": "internal"}
_ERRNO = {"RM_EINVAL": -1, "RM_ENOMEM": -2, "RM_EPARSE": -4, "RM_EMANIFEST": -5, "RM_ENOTFOUND": -6,
          "RM_EPARAM": -7, "RM_ECAPS": -8, "RM_ECYCLE": -9, "RM_EFRAMEKIND": -10, "RM_EFORMAT": -11,
          "RM_ENODE": -12, "RM_ECANCELED": -18, "RM_ESTATE": -19, "RM_EINTERNAL": -22}
_PERMANENT = {"RM_EFRAMEKIND", "RM_EFORMAT", "RM_EINVAL", "RM_EPARAM"}


def make_error(code: str, message: str, node_id: Optional[str], session_id: str) -> RemoteMediaError:
    kw = dict(code=code, errno=_ERRNO.get(code, -22), error_class=_CLASS.get(code, "internal"),
              session_id=session_id)
    if node_id:
        return NodeError(message, node_id=node_id, **kw)  # type: ignore[arg-type]
    return RemoteMediaError(message, **kw)  # type: ignore[arg-type]


def _type_name(v: Any) -> str:
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    return "null"


def _valid_id(s: str) -> bool:
    return bool(s) and all(c.isascii() and (c.isalnum() or c in "_-") for c in s)


class NodeSpec:
    """A compiled node."""

    def __init__(self, id: str, cls: Type[FallbackNode], config: Dict[str, Any], on_error: Dict[str, Any]):
        self.id, self.cls, self.config, self.on_error = id, cls, config, on_error
        self.out_edges: List[List[Tuple[int, int]]] = [[] for _ in cls.output_ports()]
        self.n_upstream = 0
        self.is_sink = True
        self.in_kinds: List[Optional[set]] = []
        self.out_kinds: List[Optional[set]] = []


class FallbackGraph:
    """Same interface as _native.Graph."""

    def __init__(self, manifest: Any, name: Optional[str] = None,
                 python_types: Optional[Dict[str, Type[FallbackNode]]] = None):
        self.file = name
        self.types: Dict[str, Type[FallbackNode]] = dict(BUILTIN_NODES)
        for n, cls in (python_types or {}).items():
            self.types[n] = cls
        self.diags: List[Dict[str, Any]] = []
        self._compile(manifest)
        if self.diags:
            text = "".join(d["text"] + "\n" for d in self.diags)
            raise ManifestError(text, self.diags, self.diags[0]["code"])

    # ----------------------------------------------------------- diagnostics --
    def _diag(self, code: str, path: str, node_id: Optional[str], message: str) -> Dict[str, Any]:
        text = (f"{self.file}: " if self.file else "") + "error: " + \
               (f"node '{node_id}': " if node_id else "") + message + (f" (at {path})" if path else "")
        d = {"code": code, "error_class": _CLASS.get(code, "validation"), "file": self.file, "line": 0,
             "column": 0, "path": path, "node_id": node_id, "message": message, "text": text}
        self.diags.append(d)
        return d

    def _suggest(self, name: str) -> Optional[str]:
        best, best_d = None, 32
        for cls in sorted(set(self.types.values()), key=lambda c: c.name):
            for n in (cls.name, *cls.aliases):
                d = P.edit_distance(name, n)
                if d < best_d:
                    best, best_d = n, d
        limit = 2 if len(name) < 6 else len(name) // 3 + 1
        return best if best_d <= limit else None

    # --------------------------------------------------------------- compile --
    def _compile(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            self._diag("RM_EMANIFEST", "", None, "the manifest must be a mapping with version, nodes and "
                                                 f"connections (got {_type_name(doc)})")
            return
        version = doc.get("version")
        if "version" not in doc:
            self._diag("RM_EMANIFEST", "", None, "missing required key 'version' (use version: \"v1\")")
        elif version != "v1":
            self._diag("RM_EMANIFEST", "version", None,
                       f"unsupported manifest version {json.dumps(version, separators=(',', ':'))} "
                       f"(supported: \"v1\")")
        meta = doc.get("metadata")
        name = None
        if "metadata" in doc and not isinstance(meta, dict):
            self._diag("RM_EMANIFEST", "metadata", None, f"metadata must be a mapping, got {_type_name(meta)}")
        elif isinstance(meta, dict) and "name" in meta and not isinstance(meta["name"], str):
            self._diag("RM_EMANIFEST", "metadata.name", None, "metadata.name must be a string")
        elif isinstance(meta, dict):
            name = meta.get("name")
        self.name = name or (self.file.rsplit("/", 1)[-1] if self.file else "pipeline")
        nodes = doc.get("nodes")
        pn: List[Optional[NodeSpec]] = []
        ids: Dict[str, int] = {}
        if "nodes" not in doc:
            self._diag("RM_EMANIFEST", "", None, "missing required key 'nodes' (a list of nodes)")
        elif not isinstance(nodes, list):
            self._diag("RM_EMANIFEST", "nodes", None, f"'nodes' must be a list, got {_type_name(nodes)}")
        elif not nodes:
            self._diag("RM_EMANIFEST", "nodes", None, "the manifest must contain at least one node")
        else:
            pn = self._nodes(nodes, ids)
        conns = doc.get("connections")
        edges: List[Tuple[int, int, int, int]] = []
        if conns is not None and not isinstance(conns, list):
            self._diag("RM_EMANIFEST", "connections", None, f"'connections' must be a list, got {_type_name(conns)}")
        elif pn:
            edges = self._connections(conns or [], pn, ids)
        if self.diags:
            return
        order = self._topo(pn, edges)  # type: ignore[arg-type]
        if order is None:
            return
        pos = {old: new for new, old in enumerate(order)}
        self.nodes: List[NodeSpec] = [pn[i] for i in order]  # type: ignore[misc]
        self.edges = [(pos[a], ap, pos[b], bp) for a, ap, b, bp in edges]
        for a, ap, b, bp in self.edges:
            self.nodes[a].out_edges[ap].append((b, bp))
            self.nodes[a].is_sink = False
            self.nodes[b].n_upstream += 1
        self._caps()

    def _nodes(self, nodes: List[Any], ids: Dict[str, int]) -> List[Optional[NodeSpec]]:
        out: List[Optional[NodeSpec]] = []
        for i, n in enumerate(nodes):
            path = f"nodes[{i}]"
            if not isinstance(n, dict):
                self._diag("RM_EMANIFEST", path, None,
                           f"each node must be a mapping with id and node_type, got {_type_name(n)}")
                out.append(None)
                continue
            nid = None
            if "id" not in n:
                self._diag("RM_EMANIFEST", path, None, "node has no 'id'")
            elif not isinstance(n["id"], str) or not _valid_id(n["id"]):
                got = f"\"{n['id']}\"" if isinstance(n["id"], str) else _type_name(n["id"])
                self._diag("RM_EMANIFEST", f"{path}.id", None, "node id must be a non-empty string of letters, "
                                                               f"digits, '_' or '-' (got {got})")
            elif n["id"] in ids:
                self._diag("RM_EMANIFEST", f"{path}.id", n["id"], f"duplicate node id '{n['id']}' (first "
                                                                  f"defined at nodes[{ids[n['id']]}])")
            else:
                nid = n["id"]
                ids[nid] = i
            cls = None
            t = n.get("node_type")
            if "node_type" not in n:
                self._diag("RM_EMANIFEST", path, nid, "node has no 'node_type'")
            elif not isinstance(t, str) or not t:
                self._diag("RM_EMANIFEST", f"{path}.node_type", nid,
                           f"node_type must be a non-empty string, got {_type_name(t)}")
            else:
                cls = self.types.get(t)
                if cls is None:
                    s = self._suggest(t)
                    if s:
                        self._diag("RM_ENOTFOUND", f"{path}.node_type", nid,
                                   f"unknown node type '{t}'; did you mean '{s}'?")
                    else:
                        self._diag("RM_ENOTFOUND", f"{path}.node_type", nid, f"unknown node type '{t}' (run "
                                                                             f"'rmedia nodes' for the list, or load a plugin)")
            config: Dict[str, Any] = {}
            if cls is not None:
                config = P.parse_params(cls.name, cls.params, n.get("params"), f"{path}.params", nid or path,
                                        self.diags, lambda c, p, nd, m: self._diag_obj(c, p, nd, m))
            on_error = self._on_error(n.get("on_error"), path, nid)
            out.append(NodeSpec(nid, cls, config, on_error) if nid and cls else None)
        return out

    def _diag_obj(self, code: str, path: str, node_id: Optional[str], message: str) -> Dict[str, Any]:
        d = self._diag(code, path, node_id, message)
        self.diags.pop()  # parse_params appends it itself
        return d

    def _on_error(self, v: Any, npath: str, nid: Optional[str]) -> Dict[str, Any]:
        oe = {"policy": "fail", "max_retries": 3, "base_delay_ms": 100.0, "max_delay_ms": 400.0}
        if v is None:
            return oe
        path = f"{npath}.on_error"
        policy = v.get("policy") if isinstance(v, dict) else v
        if policy not in ("fail", "skip", "retry"):
            self._diag("RM_EMANIFEST", path, nid,
                       "on_error must be \"fail\", \"skip\", \"retry\" or a mapping with policy: one of them")
            return oe
        oe["policy"] = policy
        if isinstance(v, dict):
            for key, lo, hi in (("max_retries", 0, 100), ("base_delay_ms", 0, 3600e3), ("max_delay_ms", 0, 3600e3)):
                if key in v:
                    x = v[key]
                    if isinstance(x, bool) or not isinstance(x, (int, float)) or x < lo or x > hi:
                        self._diag("RM_EMANIFEST", f"{path}.{key}", nid,
                                   f"on_error.{key} must be a number in [{lo:g}, {hi:g}]")
                    else:
                        oe[key] = x
        return oe

    def _endpoint(self, conn: dict, key: str, path: str, output: bool, pn: List[Optional[NodeSpec]],
                  ids: Dict[str, int]) -> Optional[Tuple[int, int]]:
        sub = f"{path}.{key}"
        v = conn.get(key)
        if not isinstance(v, str) or not v:
            self._diag("RM_EMANIFEST", sub if key in conn else path, None,
                       f"connection needs '{key}' as a string \"node\" or \"node.port\"")
            return None
        nid, _, port = v.partition(".")
        port_name: Optional[str] = port if "." in v else None
        pv = conn.get(f"{key}_port")
        if port_name is None and isinstance(pv, str) and pv != "default":
            port_name = pv
        idx = ids.get(nid)
        if idx is None:
            best, best_d = None, 3
            for other in ids:
                d = P.edit_distance(nid, other)
                if d < best_d:
                    best, best_d = other, d
            what = "source" if output else "target"
            self._diag("RM_ENOTFOUND", sub, None, f"connection references unknown {what} node '{nid}'"
                       + (f"; did you mean '{best}'?" if best else ""))
            return None
        spec = pn[idx]
        if spec is None:
            return None
        ports = spec.cls.output_ports() if output else spec.cls.input_ports()
        if port_name is None:
            return idx, 0
        names = [p[0] for p in ports]
        if port_name not in names:
            io = "output" if output else "input"
            self._diag("RM_ENOTFOUND", sub, spec.id, f"{spec.cls.name} has no {io} port '{port_name}' "
                                                     f"({io} ports: {', '.join(names) or 'none'})")
            return None
        return idx, names.index(port_name)

    def _connections(self, conns: List[Any], pn: List[Optional[NodeSpec]],
                     ids: Dict[str, int]) -> List[Tuple[int, int, int, int]]:
        edges: List[Tuple[int, int, int, int]] = []
        paths: List[str] = []
        for i, c in enumerate(conns):
            path = f"connections[{i}]"
            if not isinstance(c, dict):
                self._diag("RM_EMANIFEST", path, None,
                           f"each connection must be a mapping with 'from' and 'to', got {_type_name(c)}")
                continue
            a = self._endpoint(c, "from", path, True, pn, ids)
            b = self._endpoint(c, "to", path, False, pn, ids)
            q = c.get("queue")
            ok = a is not None and b is not None
            if q is not None:
                pol = q.get("policy", "block") if isinstance(q, dict) else q
                if pol not in ("block", "drop_oldest", "drop_newest"):
                    self._diag("RM_EMANIFEST", f"{path}.queue", None,
                               "queue policy must be one of: block, drop_oldest, drop_newest")
                    ok = False
            if not ok:
                continue
            e = (a[0], a[1], b[0], b[1])  # type: ignore[index]
            if e in edges:
                self._diag("RM_EMANIFEST", path, pn[b[0]].id,  # type: ignore[index,union-attr]
                           f"duplicate connection (same as {paths[edges.index(e)]})")
                continue
            edges.append(e)
            paths.append(path)
        return edges

    def _topo(self, pn: List[NodeSpec], edges: List[Tuple[int, int, int, int]]) -> Optional[List[int]]:
        n = len(pn)
        indeg = [0] * n
        for _, _, b, _ in edges:
            indeg[b] += 1
        done = [False] * n
        order: List[int] = []
        while True:
            pick = next((i for i in range(n) if not done[i] and indeg[i] == 0), None)
            if pick is None:
                break
            done[pick] = True
            order.append(pick)
            for a, _, b, _ in edges:
                if a == pick:
                    indeg[b] -= 1
        if len(order) == n:
            return order
        start = done.index(False)
        walk, seen, cur = [], set(), start
        while cur not in seen:
            seen.add(cur)
            walk.append(cur)
            nxt = cur
            for a, _, b, _ in edges:
                if a == cur and not done[b]:
                    nxt = b
                    break
            cur = nxt
        cyc = walk[walk.index(cur):]
        self._diag("RM_ECYCLE", "connections", None, "the graph contains a cycle: "
                   + "".join(f"{pn[i].id} → " for i in cyc) + pn[cur].id)
        return None

    def _caps(self) -> None:
        def kinds_str(k: Optional[set]) -> str:
            return "|".join(x for x in KINDS if x in k) if k else "any"

        for i, n in enumerate(self.nodes):
            ins: List[Optional[set]] = []
            for p, (pname, pk, _) in enumerate(n.cls.input_ports()):
                merged: Optional[set] = None
                first = True
                for a, ap, b, bp in self.edges:
                    if b == i and bp == p:
                        up = self.nodes[a].out_kinds[ap]
                        if first:
                            merged = None if up is None else set(up)
                        elif merged is None or up is None:
                            merged = None
                        else:
                            merged |= up
                        first = False
                ins.append(merged)
                n.in_kinds.append(set(pk) if pk else None)
            outs = [set(k) if k else None for _, k, _ in n.cls.output_ports()]
            if n.cls.same_caps and outs:
                outs[0] = ins[0] if ins else None
            n.out_kinds = outs
        for a, ap, b, bp in self.edges:
            up, req = self.nodes[a].out_kinds[ap], self.nodes[b].in_kinds[bp]
            if up and req and not (up & req):
                A, B = self.nodes[a], self.nodes[b]
                aport, bport = A.cls.output_ports()[ap][0], B.cls.input_ports()[bp][0]
                self._diag("RM_ECAPS", "connections", B.id,
                           f"link {A.id}.{aport} → {B.id}.{bport}: {A.id} ({A.cls.name}) produces "
                           f"{kinds_str(up)} but {B.id} ({B.cls.name}) port '{bport}' accepts {kinds_str(req)}")

    # ------------------------------------------------------------ properties --
    @property
    def node_ids(self) -> List[str]:
        return [n.id for n in self.nodes]

    @property
    def sinks(self) -> List[str]:
        return [n.id for n in self.nodes if n.is_sink]

    @property
    def sources(self) -> List[str]:
        return [n.id for n in self.nodes if n.n_upstream == 0]

    @property
    def node_types(self) -> Dict[str, str]:
        return {n.id: n.cls.name for n in self.nodes}

    def to_dot(self) -> str:
        lines = [f'digraph "{self.name}" {{', "  rankdir=LR;"]
        for n in self.nodes:
            lines.append(f'  "{n.id}" [label="{n.id}\\n{n.cls.name}"];')
        for a, ap, b, bp in self.edges:
            lines.append(f'  "{self.nodes[a].id}" -> "{self.nodes[b].id}";')
        return "\n".join(lines) + "\n}\n"

    def run(self, inputs: Sequence[Any], metrics: bool = True, session_id: Optional[str] = None):
        frames = [to_frame(v) for v in inputs]
        outs: List[Tuple[str, str, Any]] = []
        s = FallbackSession(self, session_id, metrics, lambda nid, port, f: outs.append((nid, port, f)))
        err = s.open_error
        if err is None:
            for f in frames:
                if s.push_frame(f) is not None:
                    break
            s.end_stream()
            err = s.failure
        m = json.dumps(s.metrics_dict()) if metrics else None
        s.close()
        return [(nid, port, from_frame(f)) for nid, port, f in outs], m, err


_counter = [0]
_counter_lock = threading.Lock()


class _NodeRT:
    """A node instance in a fallback session, with its metrics."""

    def __init__(self, spec: NodeSpec):
        self.spec = spec
        self.inst: Optional[FallbackNode] = None
        self.calls = self.frames_in = self.frames_out = self.errors = 0
        self.times: List[int] = []
        self.init_ns = 0


class FallbackSession:
    """One running instance of a FallbackGraph.  push/end/reset run on the
    caller's thread (the Python Session wrapper gives each stream its own
    worker thread, like the native pool)."""

    def __init__(self, graph: FallbackGraph, session_id: Optional[str], metrics: bool,
                 on_output: Callable[[str, str, Frame], None]):
        self.g = graph
        if session_id is None:
            with _counter_lock:
                _counter[0] += 1
                session_id = f"py-session-{_counter[0]}"
        self.id = session_id
        self.metrics_on = metrics
        self.on_output = on_output
        self.failure: Optional[RemoteMediaError] = None
        self.open_error: Optional[RemoteMediaError] = None
        self.ended = False
        self.frames_in = self.frames_out = 0
        self.t_open = time.perf_counter_ns()
        self.t_end = 0
        self.edge_frames = {e: 0 for e in graph.edges}
        self.rt = [_NodeRT(n) for n in graph.nodes]
        for i, r in enumerate(self.rt):
            inst = r.spec.cls(r.spec.id, self.id, dict(r.spec.config), self._emitter(i))
            t0 = time.perf_counter_ns()
            try:
                inst.init()
            except NodeFailure as exc:
                self.open_error = make_error(exc.code, f"node '{r.spec.id}' ({r.spec.cls.name}) failed to "
                                                       f"initialise: {exc.message}", r.spec.id, self.id)
                self.close()
                return
            r.init_ns = time.perf_counter_ns() - t0
            r.inst = inst

    def _emitter(self, i: int) -> Callable[[int, Frame], None]:
        def emit(port: int, frame: Frame) -> None:
            if self.failure is not None:
                raise NodeFailure("RM_ECANCELED", "canceled")
            r = self.rt[i]
            r.frames_out += 1
            edges = r.spec.out_edges[port]
            if not edges:
                if r.spec.is_sink:
                    self.frames_out += 1
                    self.on_output(r.spec.id, r.spec.cls.output_ports()[port][0], frame)
                return
            for b, bp in edges:
                self.edge_frames[(i, port, b, bp)] += 1
                self._invoke(b, bp, frame)
                if self.failure is not None:
                    raise NodeFailure("RM_ECANCELED", "canceled")
        return emit

    def _fail(self, r: _NodeRT, code: str, message: str) -> None:
        r.errors += 1
        if self.failure is None:
            self.failure = make_error(code, message, r.spec.id, self.id)

    def _call(self, r: _NodeRT, fn: Callable[[], None]) -> Optional[NodeFailure]:
        t0 = time.perf_counter_ns()
        try:
            fn()
            res = None
        except NodeFailure as exc:
            res = exc
        if self.metrics_on:
            r.calls += 1
            r.times.append(time.perf_counter_ns() - t0)
        return res

    def _invoke(self, i: int, port: int, f: Frame) -> None:
        if self.failure is not None:
            return
        r = self.rt[i]
        r.frames_in += 1
        kinds = r.spec.in_kinds[port]
        if kinds and f.kind not in kinds:
            want = ", ".join(k for k in KINDS if k in kinds)
            msg = (f"input port '{r.spec.cls.input_ports()[port][0]}' of {r.spec.cls.name} accepts {want}, "
                   f"got a {f.kind} frame")
            if r.spec.on_error["policy"] == "fail":
                self._fail(r, "RM_EFRAMEKIND", msg)
            else:
                r.errors += 1
            return
        policy = r.spec.on_error["policy"]
        attempts = 1 + (r.spec.on_error["max_retries"] if policy == "retry" else 0)
        for attempt in range(attempts):
            exc = self._call(r, lambda: r.inst.process(port, f))  # type: ignore[union-attr]
            if exc is None:
                return
            if exc.code == "RM_ECANCELED" and self.failure is not None:
                return
            if policy != "retry" or exc.code in _PERMANENT or attempt + 1 == attempts:
                break
            delay = min(r.spec.on_error["base_delay_ms"] * 2 ** attempt, r.spec.on_error["max_delay_ms"])
            time.sleep(delay / 1000.0)
        if policy == "fail":
            self._fail(r, exc.code, exc.message)
        else:
            r.errors += 1

    def push_frame(self, f: Frame) -> Optional[RemoteMediaError]:
        if self.ended:
            return make_error("RM_ESTATE", "operation not allowed in this state", None, self.id)
        if self.failure is None:
            self.frames_in += 1
            for i, r in enumerate(self.rt):
                if r.spec.n_upstream == 0 and r.spec.cls.input_ports():
                    self._invoke(i, 0, f)
                    if self.failure is not None:
                        break
        return self.failure

    def push(self, value: Any) -> None:
        err = self.push_frame(to_frame(value))
        if err is not None:
            raise err

    def end_stream(self) -> Optional[RemoteMediaError]:
        if self.ended:
            return make_error("RM_ESTATE", "operation not allowed in this state", None, self.id)
        self.ended = True
        for r in self.rt:
            if self.failure is not None:
                break
            if type(r.inst).flush is FallbackNode.flush:
                continue  # no flush callback: not a call (as in the native metrics)
            exc = self._call(r, r.inst.flush)  # type: ignore[union-attr]
            if exc is not None and not (exc.code == "RM_ECANCELED" and self.failure is not None):
                if r.spec.on_error["policy"] == "fail":
                    self._fail(r, exc.code, exc.message)
                else:
                    r.errors += 1
        self.t_end = time.perf_counter_ns()
        return self.failure

    def end(self) -> None:
        err = self.end_stream()
        if err is not None:
            raise err

    def reset(self) -> None:
        if self.ended:
            raise make_error("RM_ESTATE", "operation not allowed in this state", None, self.id)
        for r in self.rt:
            if r.inst is not None:
                r.inst.reset()
        if self.failure is not None:
            raise self.failure

    @property
    def error(self) -> Optional[RemoteMediaError]:
        return self.failure

    def close(self) -> None:
        for r in self.rt:
            if r.inst is not None:
                r.inst.close()
                r.inst = None

    def metrics_dict(self) -> Dict[str, Any]:
        import numpy as np

        end = self.t_end or time.perf_counter_ns()
        nm = {}
        for r in self.rt:
            t = np.asarray(r.times, dtype=np.float64) / 1000.0
            nm[r.spec.id] = {
                "node_type": r.spec.cls.name, "calls": r.calls, "frames_in": r.frames_in,
                "frames_out": r.frames_out, "errors": r.errors,
                "total_us": float(t.sum()), "min_us": float(t.min()) if t.size else 0.0,
                "max_us": float(t.max()) if t.size else 0.0, "mean_us": float(t.mean()) if t.size else 0.0,
                "p50_us": float(np.percentile(t, 50)) if t.size else 0.0,
                "p99_us": float(np.percentile(t, 99)) if t.size else 0.0,
                "init_us": r.init_ns / 1000.0, "worker": 0}
        d: Dict[str, Any] = {
            "pipeline": self.g.name, "session_id": self.id,
            "status": "failed" if self.failure else "ended" if self.ended else "running",
            "total_duration_us": (end - self.t_open) / 1000.0, "frames_in": self.frames_in,
            "frames_out": self.frames_out, "metrics_enabled": self.metrics_on, "executor": "python"}
        if self.failure is not None:
            d["error"] = {"code": self.failure.code, "class": self.failure.error_class,
                          "node_id": self.failure.node_id or "", "message": self.failure.message}
        d["node_metrics"] = nm
        d["links"] = [{"from": f"{self.g.nodes[a].id}.{self.g.nodes[a].cls.output_ports()[ap][0]}",
                       "to": f"{self.g.nodes[b].id}.{self.g.nodes[b].cls.input_ports()[bp][0]}",
                       "frames": self.edge_frames[(a, ap, b, bp)]} for a, ap, b, bp in self.g.edges]
        return d

    def metrics(self) -> str:
        return json.dumps(self.metrics_dict())


# ------------------------------------------------------------ Python nodes --

def python_node_class(info: Any) -> Type[FallbackNode]:
    """A FallbackNode that runs a @remotemedia.node class with the same
    calling convention as inside the native runtime."""
    params = [P.ParamDef.from_spec(p.spec()) for p in info.params]

    class PyNode(FallbackNode):
        name = info.name
        doc = info.doc
        family = "python"
        blocking = info.blocking

        def init(self) -> None:
            self.last_rate: Optional[int] = None
            r = _pynode.invoke(_pynode.OP_INIT, info.cls, self.config, self.session_id, self.node_id)
            if isinstance(r, str):
                raise NodeFailure("RM_ENODE", r)
            self.inst = r[0]

        def _out(self, r: Any, method: str, rate: Optional[int]) -> None:
            if isinstance(r, str):
                raise NodeFailure("RM_ENODE", r)
            frames = []
            for item in r:
                if item is None:
                    continue
                try:
                    frames.append(to_frame(item, rate))
                except Exception as exc:  # noqa: BLE001 - reported like the native node
                    raise NodeFailure("RM_EFORMAT", f"{method}() of Python node {info.name} returned an "
                                                    f"unusable {type(item).__name__} value: "
                                                    f"{type(exc).__name__}: {exc}") from None
            for f in frames:
                self.emit(f)

        def process(self, port: int, frame: Frame) -> None:
            rate = frame.value.sample_rate if frame.kind == "audio" else None
            if rate:
                self.last_rate = rate
            value = from_frame(frame)
            self._out(_pynode.invoke(_pynode.OP_PROCESS, self.inst, value, self.session_id, self.node_id),
                      "process", rate)

        def flush(self) -> None:
            self._out(_pynode.invoke(_pynode.OP_FLUSH, self.inst, None, self.session_id, self.node_id),
                      "flush", self.last_rate)

        def reset(self) -> None:
            r = _pynode.invoke(_pynode.OP_RESET, self.inst, None, self.session_id, self.node_id)
            if isinstance(r, str):
                raise NodeFailure("RM_ENODE", r)

        def close(self) -> None:
            self.inst = None

    PyNode.params = params
    PyNode.__name__ = f"PyNode_{info.name}"
    return PyNode
