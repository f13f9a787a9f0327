"""The Distiller-format schedule that reproduces an `auto` result from the dense checkpoint.

Epoch 0 begins with one L1RankedStructureParameterPruner per shrunk group (residual partners
and the depthwise convs that pass the channels on share the leader's ranking through
`group_dependency: Leader`) at the fraction the search removed: `Filters` of convolutions,
`Rows` of Linear layers, with `prune_bias` (bias entries masked too, which Distiller's pruners
leave) for Linear layers and for convolutions with a bias and no BatchNorm; the FilterRemover extension thins the
model at the end of epoch 0; the remaining epochs fine-tune it, the learning rate on a cosine
curve.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import yaml

from .auto_space import FilterGroup


@dataclass(frozen=True)
class Training:
    epochs: int
    lr: float
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0


def removed_fraction(removed: int, channels: int) -> float:
    """A desired_sparsity that makes the pruner drop exactly `removed` of `channels` filters
    (it drops round(fraction * channels))."""
    return float(f"{removed / channels:.6g}")


def reproduce_schedule(arch: str, checkpoint: str, dataset: Dict[str, Any], training: Training,
                       groups: Sequence[FilterGroup], kept: Dict[str, int], header: Sequence[str] = (),
                       model: Optional[Dict[str, Any]] = None) -> str:
    """YAML text that `compressor train` runs; `kept`: leader -> output channels to keep; `model`: more keys
    of the model section (the checkpoint's `num_classes` and `input_size`, which may not be the arch's own)."""
    shrunk = [group for group in groups if kept[group.leader] < group.channels]
    document = {
        "version": 1,
        "model": {"arch": arch, "checkpoint": checkpoint, **(model or {})},
        "dataset": dict(dataset),
        "training": {"epochs": training.epochs, "optimizer": training.optimizer, "lr": training.lr,
                     "momentum": training.momentum, "weight_decay": training.weight_decay, "seed": training.seed},
        "pruners": {_pruner_name(group): _pruner(group, kept[group.leader]) for group in shrunk},
        "extensions": {"net_thinner": {"class": "FilterRemover", "thinning_func_str": "remove_filters",
                                       "arch": arch, "dataset": dataset.get("name")}},
        "lr_schedulers": {"cosine": {"class": "CosineAnnealingLR", "T_max": training.epochs}},
        "policies": _policies(shrunk, training.epochs),
    }
    if not shrunk:
        del document["pruners"]
    comments = "".join(f"# {line}\n" for line in header)
    return comments + yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=100)


def _pruner_name(group: FilterGroup) -> str:
    return f"{group.structure.lower()}_" + group.leader.replace(".", "_")


def _pruner(group: FilterGroup, kept: int) -> Dict[str, Any]:
    pruner = {"class": "L1RankedStructureParameterPruner", "group_type": group.structure,
              "desired_sparsity": removed_fraction(group.channels - kept, group.channels),
              "weights": [f"{layer}.weight" for layer in group.members]}
    if len(group.members) > 1:
        pruner["group_dependency"] = "Leader"
    if group.structure == "Rows" or group.prune_bias:
        pruner["prune_bias"] = True
    return pruner


def _policies(shrunk: Sequence[FilterGroup], epochs: int) -> List[Dict[str, Any]]:
    policies: List[Dict[str, Any]] = [{"pruner": {"instance_name": _pruner_name(group)}, "epochs": [0]}
                                      for group in shrunk]
    policies.append({"extension": {"instance_name": "net_thinner"}, "epochs": [0]})
    policies.append({"lr_scheduler": {"instance_name": "cosine"}, "starting_epoch": 0, "ending_epoch": epochs,
                     "frequency": 1})
    return policies
