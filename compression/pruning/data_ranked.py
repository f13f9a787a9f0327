"""Filter pruners ranked by what the data does: activations (APoZ, mean) or weight x gradient.

Statistics are gathered during the training steps of each due epoch and the masks are set at
that epoch's end, so the ranking always reflects the epoch just trained. A checkpoint written
part-way through such an epoch carries what was gathered so far (all processes' together),
and the resumed epoch adds to it.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch

from ..core.components import PRUNERS
from ..core.errors import UserError
from ..distributed import is_main_process, sum_across_ranks
from .base import PruneStep
from .configs import RankedStructureAGPConfig, RankedStructureConfig
from .structure_pruners import RankedStructureAGPPruner, RankedStructurePruner

_FILTER_TYPES = ("Filters", "3D", "Rows")


class DataRankedFilterPruner(RankedStructurePruner):
    decides_at_epoch_end = True

    def __init__(self, config, context):
        if config.group_type not in _FILTER_TYPES:
            raise UserError(f"{type(self).__name__} ranks filters: group_type must be Filters "
                            f"(got '{config.group_type}')")
        super().__init__(config, context)
        self._sums: Dict[str, torch.Tensor] = {}
        self._counts: Dict[str, float] = {}
        self._handles = []
        self._carried: Optional[Dict[str, Dict]] = None  # an interrupted epoch's statistics

    def epoch_begins(self) -> None:
        self.start_collecting()

    def start_collecting(self) -> None:
        self.stop_collecting()
        carried, self._carried = self._carried, None
        self._sums, self._counts = {}, {}
        if carried and is_main_process():  # the other processes add only their own share to it
            self._sums = {name: sums.to(self.weight(name).device) for name, sums in carried["sums"].items()}
            self._counts = dict(carried["counts"])
        self._handles = [self._hook(name) for name in self.weights]

    def state_dict(self) -> Dict[str, Dict]:
        """What this epoch gathered so far, while it is gathering (every process must call this)."""
        if not self._handles:
            return {}
        names = sorted(self._sums)
        sums = {name: sum_across_ranks(self._sums[name]) for name in names}
        counts = sum_across_ranks(torch.tensor([self._counts[name] for name in names], dtype=torch.float64))
        return {"sums": sums, "counts": dict(zip(names, counts.tolist()))}

    def load_state_dict(self, state: Dict[str, Dict]) -> None:
        self._carried = state or None

    def stop_collecting(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def scores(self, name: str, step: PruneStep) -> torch.Tensor:
        if name not in self._sums:  # no step ran this epoch: fall back to the weights' L1 ranking
            return super().scores(name, step)
        # Under torchrun every process saw other images: rank on the statistics of all of them.
        sums = self._sums[name]
        total = sum_across_ranks(torch.cat([sums.flatten(), sums.new_tensor([self._counts[name]])]))
        return total[:-1].view_as(sums) / max(total[-1].item(), 1.0)

    def compute_masks(self, step: PruneStep) -> Dict[str, torch.Tensor]:
        masks = super().compute_masks(step)
        self.stop_collecting()
        return masks

    def _accumulate(self, name: str, values: torch.Tensor, count: float) -> None:
        values = values.detach()
        self._sums[name] = self._sums.get(name, 0) + values
        self._counts[name] = self._counts.get(name, 0.0) + count

    def _hook(self, name: str):
        raise NotImplementedError


class ActivationRanked(DataRankedFilterPruner):
    def _hook(self, name: str):
        module = self.context.model.get_submodule(name.rsplit(".", 1)[0])

        def record(_module, _inputs, output):
            if module.training:
                channels = output.detach().relu().transpose(0, 1).reshape(output.shape[1], -1)
                self._accumulate(name, self.channel_score(channels), 1.0)

        return module.register_forward_hook(record)


class APoZ:
    """Average percentage of zeros after ReLU: a channel that is mostly zero ranks low."""

    @staticmethod
    def channel_score(channels: torch.Tensor) -> torch.Tensor:
        return (channels > 0).float().mean(dim=1)


class MeanActivation:
    @staticmethod
    def channel_score(channels: torch.Tensor) -> torch.Tensor:
        return channels.mean(dim=1)


class GradientRanked(DataRankedFilterPruner):
    """Rank by sum over a filter of |weight x gradient| (a first-order Taylor estimate)."""

    def _hook(self, name: str):
        weight = self.weight(name)

        def record(grad: torch.Tensor) -> None:
            self._accumulate(name, (weight.detach() * grad).abs().flatten(1).sum(dim=1), 1.0)

        return weight.register_hook(record)


_KINDS = {
    "ActivationAPoZRankedFilterPruner": ((APoZ, ActivationRanked), "by the fraction of zero activations (APoZ)"),
    "ActivationMeanRankedFilterPruner": ((MeanActivation, ActivationRanked), "by mean activation"),
    "GradientRankedFilterPruner": ((GradientRanked,), "by |weight x gradient|"),
}
for _name, (_bases, _how) in _KINDS.items():
    PRUNERS.add(_name, type(_name, _bases, {}), RankedStructureConfig,
                f"Remove the desired fraction of filters ranked {_how} over the epoch.")
    PRUNERS.add(f"{_name}_AGP", type(f"{_name}_AGP", _bases,
                                     {"fraction": RankedStructureAGPPruner.fraction}),
                RankedStructureAGPConfig, f"Remove filters ranked {_how}, on AGP's cubic schedule.")
