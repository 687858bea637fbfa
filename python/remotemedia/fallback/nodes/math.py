"""MultiplyNode, AddNode, CalculatorNode (src/nodes/math/*.c).

Numbers follow the C nodes exactly: arithmetic in double precision, and a
result that is integral and below 2**53 in magnitude becomes an int."""
from __future__ import annotations

import math as _m
from typing import Any, Callable, Optional

from ..params import ENUM, FLOAT, RUNTIME, ParamDef
from . import EINVAL, ENODE, FallbackNode, Frame, NodeFailure, register

_ANY_IN = [("in", None, "numbers or arrays of numbers (json); anything else passes through")]


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number(x: float) -> Any:
    """rm__math_number() for a finite x."""
    if x == _m.floor(x) and abs(x) < 9007199254740992.0:
        return int(x)
    return x


_NOT_FINITE = "the result is not a finite number"


def math_map(v: Any, fn: Callable[[float], float]) -> Optional[Any]:
    """rm__math_map(): the mapped value, None when there is nothing to map
    (pass the frame through); a non-finite result raises NodeFailure."""
    if is_number(v):
        r = fn(float(v))
        if not _m.isfinite(r):
            raise NodeFailure(ENODE, _NOT_FINITE)
        return number(r)
    if not isinstance(v, list) or not any(is_number(x) for x in v):
        return None
    out = []
    for i, x in enumerate(v):
        if is_number(x):
            r = fn(float(x))
            if not _m.isfinite(r):
                raise NodeFailure(ENODE, f"item {i}: {_NOT_FINITE}")
            x = number(r)
        out.append(x)
    return out


class _MapNode(FallbackNode):
    family = "math"
    same_caps = True

    def fn(self, x: float) -> float:
        raise NotImplementedError

    def process(self, port: int, frame: Frame) -> None:
        if frame.kind != "json":
            return self.emit(frame)
        v = math_map(frame.value, self.fn)
        self.emit(frame if v is None else Frame("json", v, frame))


@register
class MultiplyNode(_MapNode):
    name = "MultiplyNode"
    doc = "Multiplies a number, or each number of an array, by `factor`"
    inputs = _ANY_IN
    outputs = [("out", None, "the products")]
    params = [ParamDef("factor", FLOAT, "number each input number is multiplied by", 2.0,
                       aliases=["multiplier"], flags=RUNTIME)]
    example = "- id: double\n  node_type: MultiplyNode\n  params: { factor: 2 }\n"

    def fn(self, x: float) -> float:
        return x * self.config["factor"]


@register
class AddNode(_MapNode):
    name = "AddNode"
    doc = "Adds `addend` to a number, or to each number of an array"
    inputs = _ANY_IN
    outputs = [("out", None, "the sums")]
    params = [ParamDef("addend", FLOAT, "number added to each input number", 0.0, flags=RUNTIME)]
    example = "- id: plus_ten\n  node_type: AddNode\n  params: { addend: 10 }\n"

    def fn(self, x: float) -> float:
        return x + self.config["addend"]


OPS = ["add", "subtract", "multiply", "divide", "power", "modulo"]


def apply(op: str, a: float, b: float) -> Any:
    """Computes a op b as the C node does; raises NodeFailure."""
    if op == "add":
        r = a + b
    elif op == "subtract":
        r = a - b
    elif op == "multiply":
        r = a * b
    elif op == "divide":
        if b == 0:
            raise NodeFailure(ENODE, "division by zero")
        r = a / b
    elif op == "power":
        try:
            r = _m.pow(a, b)
        except (OverflowError, ValueError):
            r = _m.nan
    else:
        if b == 0:
            raise NodeFailure(ENODE, "modulo by zero")
        r = _m.fmod(a, b)
    if not _m.isfinite(r):
        raise NodeFailure(ENODE, "result is not a finite number")
    return number(r)


@register
class CalculatorNode(FallbackNode):
    name = "CalculatorNode"
    doc = "Evaluates {operation, operands} requests (add, subtract, multiply, divide, power, modulo)"
    family = "math"
    aliases = ("Calculator",)
    inputs = [("in", ["json"], "{\"operation\": add|subtract|multiply|divide|power|modulo, "
                               "\"operands\": [a, b]}, or a number/array")]
    outputs = [("out", ["json"], "{\"result\", \"operation\", \"operands\"}, or the computed number/array")]
    params = [ParamDef("operation", ENUM, "operation applied to bare number inputs (requests name their own)",
                       def_str="add", enum=OPS, flags=RUNTIME),
              ParamDef("operand", FLOAT, "second operand for bare number inputs", 0.0, flags=RUNTIME)]
    example = "- id: calc\n  node_type: CalculatorNode\n"

    def process(self, port: int, frame: Frame) -> None:
        if frame.kind != "json":
            raise NodeFailure(EINVAL, "expects a json request {\"operation\", \"operands\"}, got a "
                                      f"{frame.kind} frame")
        v = frame.value
        if isinstance(v, dict):
            return self.request(v, frame)
        op, operand = self.config["operation"], self.config["operand"]
        if is_number(v):
            return self.emit(Frame("json", apply(op, float(v), operand), frame))
        if not isinstance(v, list):
            return self.emit(frame)
        out = []
        for i, item in enumerate(v):
            if not is_number(item):
                out.append(item)
                continue
            try:
                out.append(apply(op, float(item), operand))
            except NodeFailure as exc:
                raise NodeFailure(exc.code, f"item {i}: {exc.message}") from None
        self.emit(Frame("json", out, frame))

    def request(self, req: dict, frame: Frame) -> None:
        op = req.get("operation")
        args = req.get("operands", req.get("args"))
        if not isinstance(op, str):
            raise NodeFailure(EINVAL, "request needs \"operation\" (one of add, subtract, multiply, divide, "
                                      "power, modulo)")
        if op not in OPS:
            raise NodeFailure(EINVAL, f"unknown operation '{op}' (valid: add, subtract, multiply, divide, "
                                      f"power, modulo)")
        if not isinstance(args, list):
            raise NodeFailure(EINVAL, "request needs \"operands\": [a, b]")
        if len(args) != 2:
            raise NodeFailure(EINVAL, f"\"operands\" must hold exactly 2 numbers, got {len(args)}")
        if not is_number(args[0]) or not is_number(args[1]):
            raise NodeFailure(EINVAL, "\"operands\" must be numbers")
        r = apply(op, float(args[0]), float(args[1]))
        self.emit(Frame("json", {"result": r, "operation": op, "operands": args}, frame))
