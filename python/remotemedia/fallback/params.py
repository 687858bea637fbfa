"""Parameter tables for the fallback executor: the same rules and messages as
the C runtime's table-driven parser (src/core/params.c), so a manifest is
accepted or refused identically by both executors."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

BOOL, INT, FLOAT, STRING, ENUM, STRING_LIST, JSON = ("bool", "int", "float", "string", "enum",
                                                     "string list", "json")
REQUIRED, RUNTIME = 0x1, 0x2


@dataclass
class ParamDef:
    """One row of a node type's parameter table (mirrors rm_param_def)."""
    name: str
    type: str
    doc: str = ""
    def_num: float = 0.0
    def_str: Optional[str] = None
    min: float = 0.0
    max: float = 0.0
    enum: Optional[List[str]] = None
    aliases: List[str] = field(default_factory=list)
    flags: int = 0

    @classmethod
    def from_spec(cls, spec: Tuple) -> "ParamDef":
        name, type_, doc, def_num, def_str, lo, hi, enum, aliases, flags = spec
        return cls(name, type_, doc, def_num, def_str, lo, hi, list(enum) if enum else None,
                   list(aliases or []), flags)

    def has_range(self) -> bool:
        return not (self.min == 0 and self.max == 0)

    def default(self) -> Any:
        if self.type == BOOL:
            return self.def_num != 0
        if self.type == INT:
            return int(self.def_num)
        if self.type == FLOAT:
            return float(self.def_num)
        if self.type == ENUM:
            return self.def_str if self.def_str is not None else self.enum[0]  # type: ignore[index]
        if self.type == STRING_LIST:
            return self.def_str.split(",") if self.def_str else []
        if self.type == JSON:
            return json.loads(self.def_str) if self.def_str is not None else None
        return self.def_str

    def describe(self) -> Dict[str, Any]:
        """The entry rm_node_type_describe_json() gives for this param."""
        d: Dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default(),
                             "doc": self.doc, "required": bool(self.flags & REQUIRED),
                             "runtime": bool(self.flags & RUNTIME)}
        if self.has_range():
            if math.isfinite(self.min):
                d["min"] = float(self.min)
            if math.isfinite(self.max):
                d["max"] = float(self.max)
        if self.enum is not None:
            d["enum"] = list(self.enum)
        if self.aliases:
            d["aliases"] = list(self.aliases)
        return d


def camel_case(snake: str) -> str:
    out, up = [], False
    for i, ch in enumerate(snake):
        if ch == "_" and out:
            up = True
            continue
        out.append(ch.upper() if up else ch)
        up = False
    return "".join(out)


def edit_distance(a: str, b: str) -> int:
    if len(a) > 64 or len(b) > 64:
        return 32
    a, b = a.lower(), b.lower()
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        diag, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            up = row[j]
            row[j] = min(diag + (a[i - 1] != b[j - 1]), up + 1, row[j - 1] + 1)
            diag = up
    return min(row[len(b)], 32)


def find(params: Sequence[ParamDef], key: str) -> Optional[ParamDef]:
    for p in params:
        for n in [p.name, *p.aliases]:
            if key == n or key == camel_case(n):
                return p
    return None


def _g(x: float) -> str:
    return "%g" % x


def describe_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return 'string "%s"' % v[:40]
    if isinstance(v, int):
        return "integer %d" % v
    if isinstance(v, float):
        return "number %s" % _g(v)
    if isinstance(v, list):
        return "a list"
    return "a mapping"


def _range_text(p: ParamDef) -> str:
    lo = "-inf" if math.isinf(p.min) else _g(p.min)
    hi = "inf" if math.isinf(p.max) else _g(p.max)
    return f"[{lo}, {hi}]"


def _bad_enum(p: ParamDef, s: str) -> str:
    values = ", ".join(p.enum or [])
    best, best_d = None, 3
    for e in p.enum or []:
        d = edit_distance(s, e)
        if d < best_d:
            best, best_d = e, d
    if best:
        return f"'{s}' is not one of: {values} (did you mean '{best}'?)"
    return f"'{s}' is not one of: {values}"


class ParamError(ValueError):
    pass


def parse_value(p: ParamDef, v: Any) -> Any:
    """One value, checked like rm__param_set(); raises ParamError(message)."""
    got = describe_value(v)
    if p.type == BOOL:
        if not isinstance(v, bool):
            raise ParamError(f"expected a boolean (true or false), got {got}")
        return v
    if p.type in (INT, FLOAT):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ParamError(f"expected {'an integer' if p.type == INT else 'a number'}, got {got}")
        x = float(v)
        if p.type == INT and (x != math.floor(x) or abs(x) > 9.0e18):
            raise ParamError(f"expected an integer, got {got}")
        if p.has_range() and (x < p.min or x > p.max):
            raise ParamError(f"value {_g(x)} is out of range {_range_text(p)}")
        return (v if isinstance(v, int) else int(x)) if p.type == INT else x
    if p.type == STRING:
        if not isinstance(v, str):
            raise ParamError(f"expected a string, got {got}")
        return v
    if p.type == ENUM:
        if not isinstance(v, str):
            raise ParamError(f"expected one of: {', '.join(p.enum or [])}; got {got}")
        if v not in (p.enum or []):
            raise ParamError(_bad_enum(p, v))
        return v
    if p.type == STRING_LIST:
        if not isinstance(v, (list, str)):
            raise ParamError(f"expected a list of strings, got {got}")
        items = v if isinstance(v, list) else [v]
        n = len(items)
        if p.has_range() and (n < p.min or n > p.max):
            raise ParamError(f"list has {n} item{'' if n == 1 else 's'}; allowed length {_range_text(p)}")
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise ParamError(f"item {i}: expected a string, got {describe_value(item)}")
            if p.enum is not None and item not in p.enum:
                raise ParamError(f"item {i}: {_bad_enum(p, item)}")
        return list(items)
    return v  # JSON: any value


Diag = Dict[str, Any]


def parse_params(type_name: str, params: Sequence[ParamDef], values: Any, path: str,
                 node_id: Optional[str], diags: List[Diag], code_of: Any) -> Dict[str, Any]:
    """A whole params mapping (defaults first), every problem appended to
    `diags` — rm__params_parse()."""
    config = {p.name: p.default() for p in params}
    set_by: Dict[str, str] = {}

    def diag(sub: str, msg: str) -> None:
        diags.append(code_of("RM_EPARAM", sub, node_id, msg))

    if values is not None and not isinstance(values, dict):
        diag(path, f"params must be a mapping, got {describe_value(values)}")
    elif isinstance(values, dict):
        names = ", ".join(p.name for p in params) or "none"
        for key, v in values.items():
            sub = f"{path}.{key}"
            p = find(params, key)
            if p is None:
                best, best_d = None, 3
                for q in params:
                    d = edit_distance(key, q.name)
                    if d < best_d:
                        best, best_d = q.name, d
                if best:
                    diag(sub, f"unknown parameter '{key}' for {type_name}; did you mean '{best}'? (valid: {names})")
                else:
                    diag(sub, f"unknown parameter '{key}' for {type_name} (valid: {names})")
                continue
            if p.name in set_by:
                diag(sub, f"parameter '{p.name}' is set twice (as '{set_by[p.name]}' and '{key}')")
                continue
            set_by[p.name] = key
            try:
                config[p.name] = parse_value(p, v)
            except ParamError as exc:
                diag(sub, f"parameter '{key}' of {type_name}: {exc}")
    for p in params:
        if p.flags & REQUIRED and p.name not in set_by:
            diag(path, f"missing required parameter '{p.name}' ({p.type}) of {type_name}: {p.doc}")
    return config
