"""A model from `--checkpoint` or `--arch`, and the test data that goes with it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

from torch import nn

from ..datasets import DatasetConfig, build_datasets, build_loaders
from .core.checkpoint import load_checkpoint
from .core.errors import UserError
from .models import ModelInfo, build_model, model_info
from .models.weights import load_weights
from .restore import model_from_checkpoint


@dataclass
class LoadedModel:
    model: nn.Module
    info: ModelInfo
    checkpoint: Optional[Dict[str, Any]] = None

    @property
    def dataset(self) -> str:
        if self.checkpoint and self.checkpoint.get("dataset"):
            return self.checkpoint["dataset"]
        return self.info.default_dataset

    @property
    def dataset_options(self) -> Dict[str, Any]:
        """The dataset options the checkpoint's run was trained with (empty for a built model)."""
        return dict((self.checkpoint or {}).get("dataset_options") or {})


def load_model(checkpoint: Optional[str] = None, arch: Optional[str] = None,
               pretrained: bool = False, weights: Optional[str] = None,
               num_classes: Optional[int] = None, input_shape: Optional[Sequence[int]] = None) -> LoadedModel:
    """A model from a compressor checkpoint, or built by name or import path (with `weights`, a state_dict file).

    `num_classes` and `input_shape` override a built model's own; a checkpoint records its own.
    """
    if bool(checkpoint) == bool(arch):
        raise UserError("give exactly one of --checkpoint CKPT or --arch NAME")
    if weights and (checkpoint or pretrained):
        raise UserError("--weights goes with --arch (a checkpoint holds its own weights; --pretrained is another source)")
    if checkpoint:
        if num_classes or input_shape:
            raise UserError("--num-classes and --input-size go with --arch (a checkpoint records its own)")
        payload = load_checkpoint(checkpoint)
        model, info = model_from_checkpoint(payload)
        return LoadedModel(model, info, payload)
    info = model_info(arch, input_shape, num_classes)
    model = build_model(arch, num_classes=info.num_classes, pretrained=pretrained, input_shape=info.input_shape)
    if weights:
        load_weights(model, weights)
    return LoadedModel(model, info)


def test_loader(loaded: LoadedModel, config: DatasetConfig, seed: int = 0):
    """The test split of `config`'s dataset, shaped for the loaded model."""
    splits = build_datasets(config, loaded.info.input_shape, loaded.info.num_classes, seed)
    return build_loaders(splits, config.batch_size, config.workers, seed).test
