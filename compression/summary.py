"""Per-layer table: shape, parameters, non-zeros, sparsity, zeroed structures, dense and effective MACs."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .sparsity import PRUNABLE_TYPES


@dataclass(frozen=True)
class LayerSummary:
    name: str
    type: str
    shape: List[int]
    params: int
    nnz: int
    sparsity: float
    zero_filters: int
    zero_channels: int
    macs: int
    effective_macs: int


@dataclass(frozen=True)
class ModelSummary:
    layers: List[LayerSummary]
    total_params: int
    nnz: int
    sparsity: float
    macs: int
    effective_macs: int
    other_macs: int = 0  # of the operations outside Conv/Linear layers (attention products, ...), in `macs`

    def to_dict(self) -> Dict:
        return {"layers": [asdict(layer) for layer in self.layers], "total_params": self.total_params,
                "nnz": self.nnz, "sparsity": self.sparsity, "macs": self.macs,
                "effective_macs": self.effective_macs, "other_macs": self.other_macs}


def summarize(model: nn.Module, input_shape: Sequence[int]) -> ModelSummary:
    """Sparsity of Conv/Linear weights; MACs from torch's flop counter on one input."""
    macs = count_macs(model, input_shape)
    layers = [_layer(name, module, macs.get(name, 0)) for name, module in model.named_modules()
              if isinstance(module, PRUNABLE_TYPES)]
    weights = sum(layer.params for layer in layers)
    zeros = sum(layer.params - layer.nnz for layer in layers)
    all_params = list(model.parameters())
    other = sum(m for name, m in macs.items() if name not in {layer.name for layer in layers})
    return ModelSummary(
        layers=layers,
        total_params=sum(p.numel() for p in all_params),
        nnz=sum(int(torch.count_nonzero(p)) for p in all_params),
        sparsity=zeros / weights if weights else 0.0,
        macs=sum(macs.values()),
        effective_macs=sum(layer.effective_macs for layer in layers) + other,
        other_macs=other,
    )


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: Sequence[int]) -> Dict[str, int]:
    """Multiply-accumulates per leaf module for a batch of one (flops / 2); under "" those a module computes
    outside its leaves (Swin's attention calls F.linear on its qkv layer's weight, attention's matrix
    products), so that the values sum to the whole model's."""
    was_training, fastpath = model.training, torch.backends.mha.get_fastpath_enabled()
    model.eval()
    device = next(model.parameters()).device
    torch.backends.mha.set_fastpath_enabled(False)  # the fused attention kernel escapes the flop counter
    try:
        with FlopCounterMode(display=False, depth=None) as counter:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        model.train(was_training)
    leaves = {name for name, module in model.named_modules() if not list(module.children())}
    result = {}
    for fqn, ops in counter.get_flop_counts().items():
        name = fqn.split(".", 1)[1] if "." in fqn else ""
        if name in leaves:
            result[name] = sum(ops.values()) // 2
    outside = counter.get_total_flops() // 2 - sum(result.values())
    if outside > 0:
        result[""] = result.get("", 0) + outside
    return result


def _layer(name: str, module: nn.Module, macs: int) -> LayerSummary:
    weight = module.weight.detach()
    nnz = int(torch.count_nonzero(weight))
    flat = weight.flatten(2) if weight.dim() > 2 else weight.unsqueeze(-1)
    nonzero = flat.abs().sum(dim=2) != 0  # (out, in)
    return LayerSummary(
        name=name, type=type(module).__name__, shape=list(weight.shape), params=weight.numel(), nnz=nnz,
        sparsity=1.0 - nnz / max(weight.numel(), 1),
        zero_filters=int((~nonzero.any(dim=1)).sum()), zero_channels=int((~nonzero.any(dim=0)).sum()),
        macs=macs, effective_macs=round(macs * nnz / max(weight.numel(), 1)),
    )
