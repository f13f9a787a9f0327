"""Check, after each pruned group, that the model still gives the outputs it gave before."""
from __future__ import annotations

from typing import Any, List

import torch
from torch import nn

_SEED = 20240611


def _tensors(output: Any) -> List[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _tensors(item)]
    if isinstance(output, dict):
        return [t for item in output.values() for t in _tensors(item)]
    return []


class OutputProbe:
    """Outputs on a fixed random input (eval mode), compared within float rounding."""

    def __init__(self, model: nn.Module, example_inputs: Any):
        self.model = model
        self.inputs = self._random_like(example_inputs)
        self.reference = self._run()

    @staticmethod
    def _random_like(example: Any) -> Any:
        if not isinstance(example, torch.Tensor) or not example.is_floating_point():
            return example
        generator = torch.Generator().manual_seed(_SEED)
        return torch.randn(example.shape, generator=generator, dtype=example.dtype).to(example.device)

    @torch.no_grad()
    def _run(self) -> List[torch.Tensor]:
        inputs = self.inputs
        if isinstance(inputs, dict):
            return _tensors(self.model(**inputs))
        if isinstance(inputs, (list, tuple)):
            return _tensors(self.model(*inputs))
        return _tensors(self.model(inputs))

    def mismatch(self) -> str:
        """Empty when the outputs are unchanged, otherwise what changed."""
        try:
            outputs = self._run()
        except Exception as err:
            return f"the thinned model no longer runs ({type(err).__name__}: {str(err).splitlines()[0]})"
        if len(outputs) != len(self.reference):
            return "the thinned model returns a different number of outputs"
        for new, old in zip(outputs, self.reference):
            if new.shape != old.shape:
                return f"the model's output shape would change from {tuple(old.shape)} to {tuple(new.shape)}"
            scale = max(1.0, float(old.abs().max())) if old.numel() else 1.0
            if old.is_floating_point() and not torch.allclose(new, old, rtol=1e-3, atol=1e-4 * scale):
                diff = float((new - old).abs().max())
                return (f"the outputs would change (max difference {diff:.3g}): an operation in its "
                        "dependency group is not handled exactly")
        return ""
