"""What a thinning pass did, as plain data that a weights-only checkpoint can hold."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Dict, List

from torch import nn

from ..core.errors import UserError

OPS_ATTRIBUTE = "_thinning_ops"
OP_KINDS = ("out", "in")


@dataclass
class ThinningPlan:
    """`ops`: the root operation of every pruned group, in order, indices in the layer's
    coordinates at that moment: `{"layer": name, "op": "out"|"in", "idxs": [...]}`.
    Operations recorded on a model also carry `"pass"`: the thinning pass they belong to."""

    kind: str = "filters"
    ops: List[Dict[str, Any]] = field(default_factory=list)
    removed: Dict[str, Dict[str, int]] = field(default_factory=dict)
    skipped: List[Dict[str, str]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    params_before: int = 0
    params_after: int = 0

    def to_list(self) -> List[Dict[str, Any]]:
        return copy.deepcopy(self.ops)

    @classmethod
    def from_list(cls, ops: List[Dict[str, Any]]) -> "ThinningPlan":
        return cls(ops=validated_ops(ops))

    def count_removed(self, layer: str, op: str, count: int) -> None:
        counts = self.removed.setdefault(layer, {"out": 0, "in": 0})
        counts[op] += count

    def skip(self, layer: str, reason: str) -> None:
        self.skipped.append({"layer": layer, "reason": reason})


def validated_ops(ops: Any) -> List[Dict[str, Any]]:
    """A copy of `ops` as plain dicts, or UserError naming what is malformed."""
    if not isinstance(ops, (list, tuple)):
        raise UserError(f"a thinning plan must be a list of operations, got {type(ops).__name__}")
    return [_validated_op(number, op) for number, op in enumerate(ops)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validated_op(number: int, op: Any) -> Dict[str, Any]:
    if (not isinstance(op, dict) or not isinstance(op.get("layer"), str) or op.get("op") not in OP_KINDS
            or not isinstance(op.get("idxs"), (list, tuple)) or not all(_is_int(i) for i in op["idxs"])
            or not _is_int(op.get("pass", 0))):
        raise UserError(f"thinning plan operation {number} is malformed: {op!r} "
                        "(expected {'layer': name, 'op': 'out'|'in', 'idxs': [int, ...]})")
    clean = {"layer": op["layer"], "op": op["op"], "idxs": [int(i) for i in op["idxs"]]}
    if "pass" in op:
        clean["pass"] = int(op["pass"])
    return clean


def recorded_plan(model: nn.Module) -> List[Dict[str, Any]]:
    """Every thinning operation applied to this model so far, in order (empty if none)."""
    return copy.deepcopy(model.__dict__.get(OPS_ATTRIBUTE, []))


def record_ops(model: nn.Module, ops: List[Dict[str, Any]]) -> None:
    """Append one pass's operations to the model's record (ops with a "pass" keep it)."""
    recorded = model.__dict__.setdefault(OPS_ATTRIBUTE, [])
    next_pass = max((op.get("pass", 0) for op in recorded), default=-1) + 1
    recorded.extend({**copy.deepcopy(op), "pass": op.get("pass", next_pass)} for op in ops)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
