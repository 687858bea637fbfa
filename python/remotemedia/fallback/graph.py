"""The fallback executor: compiles a manifest (the same validation and
messages as src/core/graph.c) and runs sessions in pure Python, with the same
semantics as the native executor: topological order, fan-out and fan-in,
every source fed by push, sink outputs collected, end of stream flushing in
topological order, on_error policies fail / skip / retry (with the circuit
breaker), reset for barge-in, and metrics in the same JSON shape.  Compiling
negotiates caps like the native compiler: audio links whose rate, channel
count or sample format differ get an AudioResample / ChannelMixer /
FormatConverter inserted (or a diagnostic when that is not possible)."""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

from .. import _pynode
from ..errors import ManifestError, NodeError, RemoteMediaError, RuntimeUnavailableError
from . import params as P
from .convert import from_frame, to_frame
from .nodes import (BUILTIN_NODES, KINDS, NATIVE_ONLY_FAMILIES, NATIVE_ONLY_NODES, Caps, FallbackNode, Frame,
                    NodeFailure)

log = logging.getLogger("remotemedia")

# converter node types the compiler inserts on mismatched audio links
CONV_CHANNELS, CONV_RATE, CONV_FORMAT = "ChannelMixer", "AudioResample", "FormatConverter"
_MISSING = object()

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


def _brief(v: Any) -> str:
    """A bad value as the native compiler quotes it: a string's first 40
    bytes, a scalar's JSON, a collection's kind (a client's value may be
    huge)."""
    if isinstance(v, str):
        b = v.encode("utf-8")
        if len(b) <= 40:
            return json.dumps(v, ensure_ascii=False)
        k = 40
        while k > 0 and (b[k] & 0xC0) == 0x80:
            k -= 1
        return json.dumps(b[:k].decode("utf-8"), ensure_ascii=False) + "…"
    if isinstance(v, (dict, list)):
        return _type_name(v)
    return json.dumps(v, separators=(",", ":"))


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
    """A compiled node (a pnode, then a graph node once built)."""

    def __init__(self, id: str, cls: Type[FallbackNode], config: Dict[str, Any], on_error: Dict[str, Any],
                 inserted: bool = False):
        self.id, self.cls, self.config, self.on_error = id, cls, config, on_error
        self.inserted = inserted
        self.clear()

    def clear(self) -> None:
        self.out_edges: List[List[Tuple[int, int, int]]] = [[] for _ in self.cls.output_ports()]  # (to, port, edge)
        self.n_upstream = 0
        self.is_sink = True
        self.in_caps: List[Caps] = []
        self.in_req: List[Caps] = []
        self.out_caps: List[Caps] = []


class PEdge:
    """A connection: from node/port to node/port (indexes into the parse-time
    node list), its manifest path and whether it declared a queue."""

    __slots__ = ("frm", "frm_port", "to", "to_port", "path", "queue")

    def __init__(self, frm: int, frm_port: int, to: int, to_port: int, path: str, queue: bool = False):
        self.frm, self.frm_port, self.to, self.to_port, self.path, self.queue = frm, frm_port, to, to_port, path, queue

    def key(self) -> Tuple[int, int, int, int]:
        return (self.frm, self.frm_port, self.to, self.to_port)


def _kinds_str(k: Optional[set]) -> str:
    return "|".join(x for x in KINDS if x in k) if k else "any"


def _merge_caps(into: Optional[Caps], add: Caps) -> Caps:
    """merge_caps(): what several upstream links deliver into one port."""
    if into is None:
        return add.copy()
    into.kinds = None if not into.kinds or not add.kinds else into.kinds | add.kinds
    if into.rate != add.rate:
        into.rate = 0
    if into.channels != add.channels:
        into.channels = 0
    if into.format != add.format:
        into.format = None
    return into


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
                       f"unsupported manifest version {_brief(version)} (supported: \"v1\")")
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
        self.ids: Dict[str, int] = {}
        self.native_only: List[Tuple[str, str, str]] = []  # (node id, type, family)
        if "nodes" not in doc:
            self._diag("RM_EMANIFEST", "", None, "missing required key 'nodes' (a list of nodes)")
        elif not isinstance(nodes, list):
            self._diag("RM_EMANIFEST", "nodes", None, f"'nodes' must be a list, got {_type_name(nodes)}")
        elif not nodes:
            self._diag("RM_EMANIFEST", "nodes", None, "the manifest must contain at least one node")
        else:
            pn = self._nodes(nodes, self.ids)
        if self.native_only:
            self._refuse_native_only()
        conns = doc.get("connections")
        pe: List[PEdge] = []
        if conns is not None and not isinstance(conns, list):
            self._diag("RM_EMANIFEST", "connections", None, f"'connections' must be a list, got {_type_name(conns)}")
        elif pn:
            pe = self._connections(conns or [], pn, self.ids)
        # Order (and find cycles) over the valid links also when something
        # else is wrong: a cycle and the other problems are all reported.
        had_errors = bool(self.diags)
        self.pn: List[NodeSpec] = pn  # type: ignore[assignment]
        self.pe = pe
        order = self._topo(self.pn, self.pe) if pn else None
        if had_errors or not pn:
            return
        if order is None:
            # a check-only build of the rest (caps); converters would fix mismatches
            self._build(self._full_order, may_insert=True)
            return
        # Build; where audio links differ only in rate, channels or sample
        # format, insert converters and build again (a converter may need
        # its own, e.g. a format change ahead of a resampler).
        npass = 0
        while order is not None:
            mm = self._build(order, may_insert=npass < 4)
            if self.diags or not mm:
                break
            self._insert_converters(mm)
            order = self._topo(self.pn, self.pe)
            npass += 1

    def _refuse_native_only(self) -> None:
        nid, t, fam = self.native_only[0]
        why = NATIVE_ONLY_FAMILIES.get(fam, "it has no pure-Python version")
        others = "".join(f", '{i}' ({x})" for i, x, _ in self.native_only[1:])
        raise RuntimeUnavailableError(
            f"node '{nid}': node type {t} ({fam} family) needs the native runtime: {why}, so the pure-Python "
            f"fallback cannot run it{(' (also: ' + others[2:] + ')') if others else ''}; build the native "
            f"extension (python/README.md) and use runtime_hint='auto' or 'native'",
            code="RM_ENOTSUP", errno=-21, error_class="validation", node_id=nid)

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
                if cls is None and t in NATIVE_ONLY_NODES:
                    self.native_only.append((nid or path, t, NATIVE_ONLY_NODES[t]))
                elif cls is None:
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
            on_error = self._on_error(n.get("on_error", _MISSING), path, nid)
            out.append(NodeSpec(nid, cls, config, on_error) if nid and cls else None)
        return out

    def _diag_obj(self, code: str, path: str, node_id: Optional[str], message: str) -> Dict[str, Any]:
        d = self._diag(code, path, node_id, message)
        self.diags.pop()  # parse_params appends it itself
        return d

    @staticmethod
    def default_on_error() -> Dict[str, Any]:
        return {"policy": "fail", "max_retries": 3, "base_delay_ms": 100.0, "max_delay_ms": 400.0,
                "jitter": 0.25, "failure_threshold": 5, "reset_timeout_ms": 60000.0, "success_threshold": 2}

    def _on_error(self, v: Any, npath: str, nid: Optional[str]) -> Dict[str, Any]:
        """parse_on_error(): policy, retry backoff and the circuit breaker."""
        oe = self.default_on_error()
        if v is _MISSING:
            return oe
        path = f"{npath}.on_error"
        policy = v.get("policy") if isinstance(v, dict) else v
        if not isinstance(policy, str) or policy not in ("fail", "skip", "retry"):
            self._diag("RM_EMANIFEST", path, nid,
                       "on_error must be \"fail\", \"skip\", \"retry\" or a mapping with policy: one of them")
            return oe
        oe["policy"] = policy
        if not isinstance(v, dict):
            return oe

        def num(obj: dict, key: str, p: str, lo: float, hi: float) -> None:
            if key not in obj:
                return
            x = obj[key]
            if isinstance(x, bool) or not isinstance(x, (int, float)) or x < lo or x > hi:
                self._diag("RM_EMANIFEST", f"{p}.{key}", nid, f"on_error.{key} must be a number in [{lo:g}, {hi:g}]")
            else:
                oe[key] = int(x) if key in ("max_retries", "failure_threshold", "success_threshold") else float(x)

        num(v, "max_retries", path, 0, 100)
        num(v, "base_delay_ms", path, 0, 3600e3)
        num(v, "max_delay_ms", path, 0, 3600e3)
        num(v, "jitter", path, 0, 1)
        if "circuit_breaker" in v:
            cb = v["circuit_breaker"]
            cpath = f"{path}.circuit_breaker"
            if cb is False:
                oe["failure_threshold"] = 0  # no breaker
            elif not isinstance(cb, dict):
                self._diag("RM_EMANIFEST", cpath, nid, "circuit_breaker must be a mapping or false")
            else:
                num(cb, "failure_threshold", cpath, 1, 1e6)
                num(cb, "reset_timeout_ms", cpath, 0, 86400e3)
                num(cb, "success_threshold", cpath, 1, 1e6)
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
            if not ports:
                self._diag("RM_ENOTFOUND", sub, spec.id,
                           f"{spec.cls.name} has no {'output' if output else 'input'} ports")
                return None
            return idx, 0
        names = [p[0] for p in ports]
        if port_name not in names:
            io = "output" if output else "input"
            self._diag("RM_ENOTFOUND", sub, spec.id, f"{spec.cls.name} has no {io} port '{port_name}' "
                                                     f"({io} ports: {', '.join(names) or 'none'})")
            return None
        return idx, names.index(port_name)

    def _connections(self, conns: List[Any], pn: List[Optional[NodeSpec]], ids: Dict[str, int]) -> List[PEdge]:
        edges: List[PEdge] = []
        for i, c in enumerate(conns):
            path = f"connections[{i}]"
            if not isinstance(c, dict):
                self._diag("RM_EMANIFEST", path, None,
                           f"each connection must be a mapping with 'from' and 'to', got {_type_name(c)}")
                continue
            a = self._endpoint(c, "from", path, True, pn, ids)
            b = self._endpoint(c, "to", path, False, pn, ids)
            ok = a is not None and b is not None
            if "queue" in c:
                q = c["queue"]
                pol = q.get("policy") if isinstance(q, dict) else q
                if not isinstance(pol, str) and isinstance(q, dict):
                    pol = "block"
                if not isinstance(pol, str) or pol not in ("block", "drop_oldest", "drop_newest"):
                    self._diag("RM_EMANIFEST", f"{path}.queue", None,
                               "queue policy must be one of: block, drop_oldest, drop_newest")
                    ok = False
                elif isinstance(q, dict) and "capacity" in q:
                    cap = q["capacity"]
                    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1 or cap > 1000000:
                        self._diag("RM_EMANIFEST", f"{path}.queue", None,
                                   "queue capacity must be an integer in [1, 1000000]")
                        ok = False
            if not ok:
                continue
            e = PEdge(a[0], a[1], b[0], b[1], path, "queue" in c)  # type: ignore[index]
            dup = next((o for o in edges if o.key() == e.key()), None)
            if dup is not None:
                self._diag("RM_EMANIFEST", path, pn[e.to].id,  # type: ignore[union-attr]
                           f"duplicate connection (same as {dup.path})")
                continue
            edges.append(e)
        return edges

    def _topo(self, pn: List[NodeSpec], edges: List[PEdge]) -> Optional[List[int]]:
        """Kahn's algorithm taking the lowest index among ready nodes (the
        manifest order where it can), as topo_order()."""
        n = len(pn)
        indeg = [0] * n
        for e in edges:
            indeg[e.to] += 1
        done = [False] * n
        order: List[int] = []
        while True:
            pick = next((i for i in range(n) if not done[i] and indeg[i] == 0), None)
            if pick is None:
                break
            done[pick] = True
            order.append(pick)
            for e in edges:
                if e.frm == pick:
                    indeg[e.to] -= 1
        if len(order) == n:
            return order
        # Every node left over has a predecessor left over: walking backwards
        # from one repeats a node, and that closes a cycle (as topo_order()).
        start = done.index(False)
        walk, seen, cur = [], set(), start
        while cur not in seen:
            seen.add(cur)
            walk.append(cur)
            cur = next(e.frm for e in edges if e.to == cur and not done[e.frm])
        cyc = walk[walk.index(cur):]
        self._diag("RM_ECYCLE", "connections", None, "the graph contains a cycle: " + pn[cur].id
                   + "".join(f" → {pn[i].id}" for i in reversed(cyc)))
        self._full_order = order + [i for i in range(n) if not done[i]]
        return None

    # ------------------------------------------------------------------ caps --
    def _build(self, order: List[int], may_insert: bool) -> List[Tuple[int, Caps, Caps]]:
        """Orders the nodes, wires the edges and negotiates caps; returns the
        audio links (edge index, upstream caps, required caps) that need
        converters inserted."""
        pos = {old: new for new, old in enumerate(order)}
        self.nodes: List[NodeSpec] = [self.pn[i] for i in order]
        for n in self.nodes:
            n.clear()
        self.edges: List[Tuple[int, int, int, int]] = [(pos[e.frm], e.frm_port, pos[e.to], e.to_port)
                                                        for e in self.pe]
        for k, (a, ap, b, bp) in enumerate(self.edges):
            self.nodes[a].out_edges[ap].append((b, bp, k))
            self.nodes[a].is_sink = False
            self.nodes[b].n_upstream += 1
        for i, n in enumerate(self.nodes):
            ins: List[Caps] = []
            for p in range(len(n.cls.input_ports())):
                merged: Optional[Caps] = None
                for a, ap, b, bp in self.edges:
                    if b == i and bp == p:
                        # a node later in the order (a cycle's check-only build) is not negotiated yet
                        up = self.nodes[a].out_caps
                        merged = _merge_caps(merged, up[ap] if ap < len(up) else Caps())
                ins.append(merged if merged is not None else Caps())
            in_req = [Caps(k) for _, k, _ in n.cls.input_ports()]
            outs = [Caps(k) for _, k, _ in n.cls.output_ports()]
            try:
                n.cls.negotiate(n.config, ins, in_req, outs)
            except NodeFailure as exc:
                self._diag(exc.code, "nodes", n.id, exc.message)
            n.in_caps, n.in_req, n.out_caps = ins, in_req, outs
        mm: List[Tuple[int, Caps, Caps]] = []
        for k in range(len(self.edges)):
            self._check_link(k, may_insert, mm)
        return mm

    def _check_link(self, k: int, may_insert: bool, mm: List[Tuple[int, Caps, Caps]]) -> None:
        a, ap, b, bp = self.edges[k]
        A, B = self.nodes[a], self.nodes[b]
        up, req = A.out_caps[ap], B.in_req[bp]
        aport, bport = A.cls.output_ports()[ap][0], B.cls.input_ports()[bp][0]
        if up.kinds and req.kinds and not (up.kinds & req.kinds):
            self._diag("RM_ECAPS", "connections", B.id,
                       f"link {A.id}.{aport} → {B.id}.{bport}: {A.id} ({A.cls.name}) produces "
                       f"{_kinds_str(up.kinds)} but {B.id} ({B.cls.name}) port '{bport}' accepts "
                       f"{_kinds_str(req.kinds)}")
            return
        if not up.is_audio_only() or not (req.kinds and "audio" in req.kinds):
            return
        d_rate = bool(up.rate and req.rate and up.rate != req.rate)
        d_ch = bool(up.channels and req.channels and up.channels != req.channels)
        d_fmt = bool(up.format and req.format and up.format != req.format)
        if not (d_rate or d_ch or d_fmt):
            return
        if may_insert and (not d_rate or CONV_RATE in self.types) and (not d_ch or CONV_CHANNELS in self.types) \
                and (not d_fmt or CONV_FORMAT in self.types):
            mm.append((k, up.copy(), req.copy()))
            return
        why, fix = [], []
        if d_rate:
            why.append(f"rate {up.rate} Hz vs {req.rate} Hz")
            fix.append(f"an AudioResample node (target_rate: {req.rate})")
        if d_ch:
            why.append(f"channels {up.channels} vs {req.channels}")
            fix.append(f"a ChannelMixer (channels: {req.channels})")
        if d_fmt:
            why.append(f"format {up.format} vs {req.format}")
            fix.append(f"a FormatConverter (target_format: {req.format})")
        self._diag("RM_ECAPS", "connections", B.id, f"link {A.id}.{aport} → {B.id}.{bport}: audio does not match "
                                                    f"({', '.join(why)}); insert {' and '.join(fix)} between them")

    def _add_converter(self, type_name: str, params: Dict[str, Any], to_id: str) -> int:
        cls = self.types[type_name]
        kind = "resample" if type_name == CONV_RATE else "mix" if type_name == CONV_CHANNELS else "convert"
        nid = f"{to_id}-{kind}"
        k = 2
        while nid in self.ids:
            nid = f"{to_id}-{kind}-{k}"
            k += 1
        tmp: List[Dict[str, Any]] = []
        config = P.parse_params(cls.name, cls.params, params, "params", nid, tmp,
                                lambda c, p, nd, m: {"message": m})
        if tmp:
            raise RemoteMediaError(f"node '{nid}': cannot configure an inserted {type_name}: {tmp[0]['message']}")
        self.ids[nid] = len(self.pn)
        self.pn.append(NodeSpec(nid, cls, config, self.default_on_error(), inserted=True))
        return len(self.pn) - 1

    def _insert_converters(self, mm: List[Tuple[int, Caps, Caps]]) -> None:
        for k, up, req in mm:
            orig = self.pe[k]
            to_id = self.pn[orig.to].id
            chain: List[int] = []
            # mix down before resampling (less work), up after it
            down = up.channels and req.channels and up.channels > req.channels
            upmix = up.channels and req.channels and up.channels < req.channels
            if down:
                chain.append(self._add_converter(CONV_CHANNELS, {"channels": req.channels}, to_id))
            if up.rate and req.rate and up.rate != req.rate:
                chain.append(self._add_converter(CONV_RATE, {"target_rate": req.rate}, to_id))
            if upmix:
                chain.append(self._add_converter(CONV_CHANNELS, {"channels": req.channels}, to_id))
            if up.format and req.format and up.format != req.format:
                chain.append(self._add_converter(CONV_FORMAT, {"target_format": req.format}, to_id))
            # from -> chain[0] -> ... -> chain[-1] -> to; a declared queue stays on the link into the target
            self.pe[k] = PEdge(orig.frm, orig.frm_port, chain[0], 0, orig.path)
            for i, c in enumerate(chain):
                last = i + 1 == len(chain)
                self.pe.append(PEdge(c, 0, orig.to if last else chain[i + 1], orig.to_port if last else 0, orig.path,
                                     orig.queue and last))
                cv = self.pn[c]
                log.debug("[%s] inserted %s (%s) on the link %s → %s: it has %d Hz, %d ch, %s; %s needs %d Hz, "
                          "%d ch, %s", cv.id, cv.cls.name, cv.config, self.pn[orig.frm].id, to_id, up.rate,
                          up.channels, up.format or "any", to_id, req.rate, req.channels, req.format or "any")

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
    """A node instance in a fallback session: its metrics, stats, retry
    staging and circuit breaker."""

    def __init__(self, spec: NodeSpec, seed: int):
        self.spec = spec
        self.inst: Optional[FallbackNode] = None
        self.calls = self.frames_in = self.frames_out = self.errors = 0
        self.retries = self.rejected = 0
        self.times: List[int] = []
        self.init_ns = 0
        self.stats: Dict[str, List[Any]] = {}  # key -> [kind, value, count, max]
        self.staging = False
        self.staged: List[Tuple[int, Frame]] = []
        self.breaker = "closed"  # closed | open | half_open
        self.consecutive_failures = 0
        self.half_open_successes = 0
        self.opened_at = 0
        self.rng = random.Random(seed)

    def stat(self, key: str, kind: str, value: float) -> None:
        st = self.stats.get(key)
        if st is None:
            if len(self.stats) == 8:  # RM__MAX_STATS
                return
            st = self.stats[key] = [kind, 0.0, 0, 0.0]
        if kind == "set":
            st[1] = value
        elif kind == "add":
            st[1] += value
        else:
            st[1] += value
            if st[2] == 0 or value > st[3]:
                st[3] = value
        st[2] += 1


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
        self._child = 0  # ns spent in nested calls (exclusive node times, like the native call_node)
        self.edge_frames = [0] * len(graph.edges)
        self.rt = [_NodeRT(n, hash((session_id, i))) for i, n in enumerate(graph.nodes)]
        self._emitters = [self._emitter(i) for i in range(len(self.rt))]
        for i, r in enumerate(self.rt):
            inst = r.spec.cls(r.spec.id, self.id, dict(r.spec.config), self._emitters[i], r.stat, r.spec.in_caps)
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

    # ------------------------------------------------------------- delivery --
    def _emitter(self, i: int) -> Callable[[int, Frame], None]:
        def emit(port: int, frame: Frame) -> None:
            if self.failure is not None:
                raise NodeFailure("RM_ECANCELED", "canceled")
            r = self.rt[i]
            if r.staging:  # a retried attempt: delivered once it succeeds
                r.staged.append((port, frame))
                return
            r.frames_out += 1
            edges = r.spec.out_edges[port]
            if not edges:
                if r.spec.is_sink:
                    self.frames_out += 1
                    t0 = time.perf_counter_ns()
                    self.on_output(r.spec.id, r.spec.cls.output_ports()[port][0], frame)
                    self._child += time.perf_counter_ns() - t0  # the host's time, not the sink's
                return
            for b, bp, k in edges:
                self.edge_frames[k] += 1
                self._invoke(b, bp, frame)
                if self.failure is not None:
                    raise NodeFailure("RM_ECANCELED", "canceled")
        return emit

    def _call(self, r: _NodeRT, fn: Callable[[], None]) -> Optional[NodeFailure]:
        """Calls process/flush; times exclusive time (what downstream nodes
        called synchronously spend is not counted here)."""
        saved, self._child = self._child, 0
        t0 = time.perf_counter_ns()
        try:
            fn()
            res = None
        except NodeFailure as exc:
            res = exc
        except Exception as exc:  # noqa: BLE001 - a bug in a fallback node must not kill the session
            res = NodeFailure("RM_EINTERNAL", f"internal error in the pure-Python {r.spec.cls.name}: "
                                              f"{type(exc).__name__}: {exc}")
        dt = time.perf_counter_ns() - t0
        if self.metrics_on:
            r.calls += 1
            r.times.append(dt - self._child if dt > self._child else 0)
        self._child = saved + dt
        return res

    def _fail(self, r: _NodeRT, code: str, message: str) -> None:
        r.errors += 1
        if self.failure is None:
            self.failure = make_error(code, message, r.spec.id, self.id)
            log.error("[%s] %s (%s)", r.spec.id, message, code)

    def _note_error(self, r: _NodeRT, exc: NodeFailure, what: str) -> None:
        r.errors += 1
        log.log(logging.WARNING if r.errors <= 3 else logging.DEBUG, "[%s] %s: %s (%s)", r.spec.id, what,
                exc.message, exc.code)

    def _invoke(self, i: int, port: int, f: Frame) -> None:
        if self.failure is not None:
            return
        r = self.rt[i]
        r.frames_in += 1
        kinds = r.spec.in_req[port].kinds
        policy = r.spec.on_error["policy"]
        if kinds and f.kind not in kinds:
            want = ", ".join(k for k in KINDS if k in kinds)
            msg = (f"input port '{r.spec.cls.input_ports()[port][0]}' of {r.spec.cls.name} accepts {want}, "
                   f"got a {f.kind} frame")
            if policy == "fail":
                self._fail(r, "RM_EFRAMEKIND", msg)
            else:
                self._note_error(r, NodeFailure("RM_EFRAMEKIND", msg), "frame dropped")
            return
        if policy == "retry":
            return self._invoke_retry(i, r, port, f)
        exc = self._call(r, lambda: r.inst.process(port, f))  # type: ignore[union-attr]
        if exc is None:
            return
        if exc.code == "RM_ECANCELED" and self.failure is not None:
            return  # a downstream failure
        if policy == "skip":
            self._note_error(r, exc, "frame skipped")
        else:
            self._fail(r, exc.code, exc.message)

    def _backoff_s(self, r: _NodeRT, attempt: int) -> float:
        oe = r.spec.on_error
        d = min(oe["base_delay_ms"] * 2.0 ** attempt, oe["max_delay_ms"])
        d *= 1.0 + oe["jitter"] * (2.0 * r.rng.random() - 1.0)
        return max(d, 0.0) / 1000.0

    def _breaker_result(self, r: _NodeRT, ok: bool) -> None:
        """breaker_result(): closed -> open after failure_threshold consecutive
        failures; open rejects frames for reset_timeout_ms, then half_open
        lets frames through: success_threshold successes close it, one
        failure opens it again."""
        oe = r.spec.on_error
        if not oe["failure_threshold"]:
            return
        if ok:
            r.consecutive_failures = 0
            if r.breaker == "half_open":
                r.half_open_successes += 1
                if r.half_open_successes >= oe["success_threshold"]:
                    r.breaker = "closed"
                    log.info("[%s] circuit breaker closed", r.spec.id)
            return
        r.consecutive_failures += 1
        if r.breaker == "half_open" or r.consecutive_failures >= oe["failure_threshold"]:
            if r.breaker != "open":
                log.warning("[%s] circuit breaker open after %d consecutive failures; frames are dropped for "
                            "%.1f s", r.spec.id, r.consecutive_failures, oe["reset_timeout_ms"] / 1000.0)
            r.breaker = "open"
            r.opened_at = time.monotonic_ns()

    def _invoke_retry(self, i: int, r: _NodeRT, port: int, f: Frame) -> None:
        """Retry policy (invoke_retry()): emits of a failed attempt are held
        back and dropped, so a retried frame reaches downstream nodes exactly
        once; the circuit breaker drops frames while it is open."""
        oe = r.spec.on_error
        if r.breaker == "open":
            if time.monotonic_ns() - r.opened_at < oe["reset_timeout_ms"] * 1e6:
                r.rejected += 1
                return
            r.breaker = "half_open"
            r.half_open_successes = 0
        attempt = 0
        while True:
            r.staging = True
            exc = self._call(r, lambda: r.inst.process(port, f))  # type: ignore[union-attr]
            r.staging = False
            if exc is None:
                break
            r.staged.clear()
            if self.failure is not None:
                return
            if exc.code in _PERMANENT or attempt >= oe["max_retries"]:
                break
            r.retries += 1
            log.debug("[%s] attempt %d failed (%s); retrying", r.spec.id, attempt + 1, exc.message)
            time.sleep(self._backoff_s(r, attempt))
            attempt += 1
        self._breaker_result(r, exc is None)
        if exc is not None:
            self._note_error(r, exc, "frame dropped" if exc.code in _PERMANENT else "retries exhausted, frame dropped")
            return
        staged, r.staged = r.staged, []
        for p, fr in staged:  # deliver what the successful attempt emitted
            try:
                self._emitters[i](p, fr)
            except NodeFailure:
                break

    # ------------------------------------------------------------------ API --
    def push_frame(self, f: Frame, node_id: Optional[str] = None, port: Optional[str] = None) \
            -> Optional[RemoteMediaError]:
        """rm_session_push (into every source node) or, with node_id,
        rm_session_push_to (KeyError when there is no such node/port)."""
        if self.ended:
            return make_error("RM_ESTATE", "operation not allowed in this state", None, self.id)
        if self.failure is not None:
            return self.failure
        if node_id is not None:
            idx = next((i for i, r in enumerate(self.rt) if r.spec.id == node_id), None)
            names = [p[0] for p in self.rt[idx].spec.cls.input_ports()] if idx is not None else []
            p = (names.index(port) if port in names else -1) if port is not None else 0
            if idx is None or p < 0 or p >= len(names):
                raise KeyError(f"no node '{node_id}' with input port '{port if port is not None else '(first)'}'")
            self.frames_in += 1
            self._invoke(idx, p, f)
            return self.failure
        self.frames_in += 1
        for i, r in enumerate(self.rt):
            if r.spec.n_upstream == 0 and r.spec.cls.input_ports():
                self._invoke(i, 0, f)
                if self.failure is not None:
                    break
        return self.failure

    def push(self, value: Any, node_id: Optional[str] = None, port: Optional[str] = None) -> None:
        err = self.push_frame(to_frame(value), node_id, port)
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
                    self._note_error(r, exc, "flush failed")
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
            r.staged.clear()
            if r.inst is not None:
                try:
                    r.inst.reset()
                except NodeFailure as exc:
                    log.warning("[%s] reset failed: %s", r.spec.id, exc.message)
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

        def us(ns: float) -> float:
            return round(ns / 1000.0, 3)  # the native JSON prints %.3f

        end = self.t_end or time.perf_counter_ns()
        nm = {}
        for r in self.rt:
            t = np.asarray(r.times, dtype=np.float64)
            m: Dict[str, Any] = {
                "node_type": r.spec.cls.name, "calls": r.calls, "frames_in": r.frames_in,
                "frames_out": r.frames_out, "errors": r.errors,
                "total_us": us(t.sum()), "min_us": us(t.min()) if t.size else 0.0,
                "max_us": us(t.max()) if t.size else 0.0, "mean_us": us(t.mean()) if t.size else 0.0,
                "p50_us": us(np.percentile(t, 50)) if t.size else 0.0,
                "p99_us": us(np.percentile(t, 99)) if t.size else 0.0,
                "init_us": us(r.init_ns), "worker": 0}
            if r.spec.inserted:
                m["inserted"] = True
            if r.spec.on_error["policy"] == "retry":
                m.update(retries=r.retries, rejected=r.rejected, circuit=r.breaker)
            if r.stats:
                st: Dict[str, Any] = {}
                for key, (kind, value, count, mx) in r.stats.items():
                    if kind == "sample":
                        st[key] = {"count": count, "mean": round(value / count if count else 0.0, 3),
                                   "max": round(mx, 3)}
                    else:
                        st[key] = json.loads("%.6g" % (value if np.isfinite(value) else 0))
                m["stats"] = st
            nm[r.spec.id] = m
        d: Dict[str, Any] = {
            "pipeline": self.g.name, "session_id": self.id,
            "status": "failed" if self.failure else "ended" if self.ended else "running",
            "total_duration_us": us(end - self.t_open), "frames_in": self.frames_in,
            "frames_out": self.frames_out, "metrics_enabled": self.metrics_on, "executor": "python"}
        if self.failure is not None:
            d["error"] = {"code": self.failure.code, "class": self.failure.error_class,
                          "node_id": self.failure.node_id or "", "message": self.failure.message}
        d["node_metrics"] = nm
        d["links"] = [{"from": f"{self.g.nodes[a].id}.{self.g.nodes[a].cls.output_ports()[ap][0]}",
                       "to": f"{self.g.nodes[b].id}.{self.g.nodes[b].cls.input_ports()[bp][0]}",
                       "frames": self.edge_frames[k]} for k, (a, ap, b, bp) in enumerate(self.g.edges)]
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

        def _out(self, r: Any, method: str, rate: Optional[int], src: Optional[Frame] = None) -> None:
            if isinstance(r, str):
                raise NodeFailure("RM_ENODE", r)
            frames = []
            for item in r:
                if item is None:
                    continue
                try:
                    f = to_frame(item, rate)
                except Exception as exc:  # noqa: BLE001 - reported like the native node
                    raise NodeFailure("RM_EFORMAT", f"{method}() of Python node {info.name} returned an "
                                                    f"unusable {type(item).__name__} value: "
                                                    f"{type(exc).__name__}: {exc}") from None
                if src is not None:  # the input's props, unless an Audio names its own
                    if f.ts is None:
                        f.ts = src.ts
                    f.meta = dict(src.meta or {}, **(f.meta or {})) or None
                frames.append(f)
            for f in frames:
                self.emit(f)

        def process(self, port: int, frame: Frame) -> None:
            rate = frame.value.sample_rate if frame.kind == "audio" else None
            if rate:
                self.last_rate = rate
            value = from_frame(frame)
            self._out(_pynode.invoke(_pynode.OP_PROCESS, self.inst, value, self.session_id, self.node_id),
                      "process", rate, frame)

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
