"""What the datasets a user brings (folder, npz) share: the path, the seeded split, the image pipeline."""
from __future__ import annotations

import hashlib
import os
from typing import Dict, List, Sequence, Tuple

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from compressor.compression.core.errors import DataNotFound, UserError

from .augment import build_augment, step_name
from .config import DatasetConfig
from .registry import Shape

SPLITS = ("train", "val", "test")


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def source_path(config: DatasetConfig, folder: bool) -> str:
    """`path` (or `data_dir`), which must be a folder (folder) or a file (npz)."""
    name = config.name
    path = config.path or config.data_dir
    kind = "folder" if folder else ".npz or .pt file"
    if not path:
        raise DataNotFound(f"dataset '{name}' needs a {kind}: set dataset.path (or pass --data-dir)")
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise DataNotFound(f"dataset '{name}': {path} does not exist (dataset.path should name a {kind})")
    if folder and not os.path.isdir(path):
        raise UserError(f"dataset '{name}': {path} is not a folder (expected class folders in it, "
                        f"or train/, val/ and test/ folders of class folders)")
    if not folder and not os.path.isfile(path):
        raise UserError(f"dataset '{name}': {path} is a folder; dataset.path should name a {kind}")
    return path


def _rank(seed: int, key: str) -> Tuple[bytes, str]:
    return hashlib.sha256(f"{seed}:{key}".encode()).digest(), key


def seeded_split(name: str, where: str, keys: Sequence[str], fractions: Sequence[float],
                 missing: Sequence[str], seed: int) -> Dict[str, List[int]]:
    """Indices of `keys` for train and each `missing` split (val, test), a fixed function of the keys and seed.

    Items are ordered by a seeded hash of their key (a file's path within the dataset, an array
    index): test takes the first `fractions[2]` of them, val the next `fractions[1]`, train the
    rest. The order of the files on disk, the training seed and the other splits play no part.
    """
    count = len(keys)
    order = sorted(range(count), key=lambda i: _rank(seed, keys[i]))
    taken: Dict[str, List[int]] = {}
    start = 0
    for split in ("test", "val"):
        if split in missing:
            size = max(1, round(count * fractions[SPLITS.index(split)]))
            taken[split] = sorted(order[start:start + size])
            start += size
    if start >= count:
        raise UserError(f"dataset '{name}': {where} has {count} images, too few to split off "
                        f"{' and '.join(s for s in ('val', 'test') if s in missing)} and keep some for training")
    taken["train"] = sorted(order[start:])
    return taken


def per_channel(name: str, what: str, values: Sequence[float], channels: int) -> List[float]:
    if len(values) == 1:
        return list(values) * channels
    if len(values) != channels:
        raise UserError(f"dataset '{name}': {what} has {len(values)} values but the model takes {channels} "
                        f"channels (give 1 or {channels})")
    return list(values)


def augment_steps(config: DatasetConfig) -> List:
    try:
        return build_augment(config.augment)
    except ValueError as error:
        raise UserError(f"dataset '{config.name}': {error}") from None


def to_model_tensor(config: DatasetConfig, channels: int) -> List:
    """uint8 (or float) image -> float32 in [0, 1], then normalised when mean/std are set."""
    steps = [v2.ToDtype(torch.float32, scale=True)]
    if config.mean is not None and config.std is not None:
        mean = per_channel(config.name, "mean", config.mean, channels)
        std = per_channel(config.name, "std", config.std, channels)
        steps.append(v2.Normalize(mean, std))
    return steps + [v2.ToPureTensor()]


class Pipeline(Dataset):
    """Items loaded by `load(index) -> (image, label)` and put through `transform` (a v2.Compose)."""

    transform: v2.Compose

    def load(self, index: int):
        raise NotImplementedError

    def __getitem__(self, index: int):
        image, label = self.load(index)
        return self.transform(image), label


def check_first_image(name: str, split: str, dataset: Pipeline, shape: Shape) -> None:
    """Put a split's first image through its transforms step by step: a failing step or a shape
    the model cannot take is reported now, naming the step, rather than in the middle of training."""
    try:
        image, _ = dataset.load(0)
    except OSError as error:  # an unreadable image file
        raise UserError(f"dataset '{name}': cannot open the first {split} image: {error}") from None
    for step in dataset.transform.transforms:
        try:
            image = step(image)
        except Exception as error:  # noqa: BLE001  (any failure of a user-chosen transform)
            text = " ".join(str(error).split()) or type(error).__name__
            raise UserError(f"dataset '{name}': {step_name(step)} failed on the first {split} image: {text}") from None
    if tuple(image.shape) != tuple(shape):
        raise UserError(f"dataset '{name}': {split} images come out {shape_text(image.shape)} but the model takes "
                        f"{shape_text(shape)} (check resize, crop and augment, or set dataset.image_size to "
                        f"feed the model another size)")


def check_class_count(name: str, found: int, where: str, num_classes: int) -> None:
    if found < 2:
        raise UserError(f"dataset '{name}': {where} has {found} class; at least 2 are needed")
    if found > num_classes:
        raise UserError(f"dataset '{name}': {where} has {found} classes but the model predicts {num_classes} "
                        f"(set model.num_classes: {found})")
