"""PassThrough (src/nodes/core/passthrough.c)."""
from __future__ import annotations

from . import FallbackNode, Frame, register


@register
class PassThrough(FallbackNode):
    name = "PassThrough"
    doc = "Emits every frame unchanged (any kind, zero copy)"
    family = "core"
    aliases = ("PassThroughNode", "PassthroughNode")
    same_caps = True
    example = "- id: tap\n  node_type: PassThrough\n"

    def process(self, port: int, frame: Frame) -> None:
        self.emit(frame)
