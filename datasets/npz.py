"""Images and labels as arrays: a .npz file (numpy.savez) or a .pt file (torch.save of a dict of tensors).

Keys: x_train, y_train, x_test, y_test, and optionally x_val, y_val (else val is taken from the
training images by the `split` val fraction and `split_seed`). Images are N x C x H x W or
N x H x W x C (told apart by the model's channel count) or N x H x W, uint8 (0-255) or float
(used as they are); labels are integer class indices.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from typing import Dict, List

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from compressor.compression.core.errors import UserError

from .config import DatasetConfig, NpzConfig
from .registry import DATASETS, DataSplits, Shape
from .user_data import (Pipeline, augment_steps, check_class_count, check_first_image, seeded_split, shape_text,
                        source_path, to_model_tensor)

NAME = "npz"
REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("x_val", "y_val")
NUMPY_SUFFIXES = (".npz",)
TORCH_SUFFIXES = (".pt", ".pth")


class ArrayImages(Pipeline):
    """Images (N x C x H x W, uint8 or float32) and int64 labels, put through `transform` one by one."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: v2.Compose):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def load(self, index: int):
        return tv_tensors.Image(self.images[index]), self.labels[index]


def _read_numpy(path: str) -> Dict[str, torch.Tensor]:
    if not zipfile.is_zipfile(path):  # np.load would take it for a pickle
        raise UserError(f"dataset '{NAME}': cannot read {path} as a .npz file (numpy.savez writes a zip archive)")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                if key in REQUIRED + OPTIONAL:
                    arrays[key] = torch.from_numpy(np.ascontiguousarray(data[key]))
    except ValueError as error:  # object arrays: refused rather than unpickled
        raise UserError(f"dataset '{NAME}': {path}: {' '.join(str(error).split())} "
                        f"(arrays of numbers only)") from None
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"dataset '{NAME}': cannot read {path} as a .npz file: {error}") from None
    return arrays


def _read_torch(path: str) -> Dict[str, torch.Tensor]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first = next(iter(str(error).strip().splitlines()), "")
        raise UserError(f"dataset '{NAME}': {path} holds more than tensors, which are not loaded "
                        f"(save a dict of tensors): {first}") from None
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        raise UserError(f"dataset '{NAME}': cannot read {path} with torch.load: {error}") from None
    if not isinstance(data, dict):
        raise UserError(f"dataset '{NAME}': {path} holds a {type(data).__name__}; expected a dict with keys "
                        f"{', '.join(REQUIRED)}")
    arrays = {}
    for key in REQUIRED + OPTIONAL:
        if key in data:
            try:
                arrays[key] = torch.as_tensor(data[key])
            except (TypeError, ValueError, RuntimeError):
                raise UserError(f"dataset '{NAME}': {path}: {key} is a {type(data[key]).__name__}, "
                                f"not a tensor") from None
    return arrays


def _read(path: str) -> Dict[str, torch.Tensor]:
    suffix = os.path.splitext(path)[1].lower()
    if suffix in NUMPY_SUFFIXES:
        arrays = _read_numpy(path)
    elif suffix in TORCH_SUFFIXES:
        arrays = _read_torch(path)
    else:
        raise UserError(f"dataset '{NAME}': {path} should be a .npz file (numpy.savez) or a .pt file "
                        f"(torch.save of a dict of tensors)")
    missing = [key for key in REQUIRED if key not in arrays]
    if missing:
        raise UserError(f"dataset '{NAME}': {path} lacks {', '.join(missing)} (it needs {', '.join(REQUIRED)}; "
                        f"x_val and y_val are optional)")
    if ("x_val" in arrays) != ("y_val" in arrays):
        have, lack = ("x_val", "y_val") if "x_val" in arrays else ("y_val", "x_val")
        raise UserError(f"dataset '{NAME}': {path} has {have} but no {lack} (give both or neither)")
    return arrays


def _images(key: str, array: torch.Tensor, channels: int) -> torch.Tensor:
    """N x C x H x W, uint8 or float32."""
    if array.dtype == torch.uint8:
        pass
    elif array.is_floating_point():
        array = array.float()
    else:
        raise UserError(f"dataset '{NAME}': {key} holds {str(array.dtype).replace('torch.', '')}; "
                        f"images must be uint8 (0-255) or float")
    if array.dim() == 3:
        return array.unsqueeze(1)
    if array.dim() != 4:
        raise UserError(f"dataset '{NAME}': {key} has shape {tuple(array.shape)}; expected N x C x H x W, "
                        f"N x H x W x C or N x H x W")
    first, last = array.shape[1], array.shape[3]
    if first == channels or (first in (1, 3) and last not in (1, 3, channels)):
        return array
    if last == channels or last in (1, 3):
        return array.permute(0, 3, 1, 2).contiguous()
    raise UserError(f"dataset '{NAME}': {key} has shape {tuple(array.shape)}, with no axis of {channels} "
                    f"channels (the model's) or 1 or 3: expected N x C x H x W or N x H x W x C")


def _labels(key: str, array: torch.Tensor, count: int, images_key: str) -> torch.Tensor:
    if array.dim() == 2 and array.shape[1] == 1:
        array = array.reshape(-1)
    if array.dim() != 1:
        raise UserError(f"dataset '{NAME}': {key} has shape {tuple(array.shape)}; expected one integer class "
                        f"index per image (not one-hot rows)")
    if array.is_floating_point() or array.is_complex() or array.dtype == torch.bool:
        raise UserError(f"dataset '{NAME}': {key} holds {str(array.dtype).replace('torch.', '')}; labels must be "
                        f"integer class indices")
    if len(array) != count:
        raise UserError(f"dataset '{NAME}': {images_key} has {count} images but {key} has {len(array)} labels")
    return array.long()


def _check_labels(labels: Dict[str, torch.Tensor], num_classes: int, path: str) -> int:
    for key, values in labels.items():
        if len(values) == 0:
            raise UserError(f"dataset '{NAME}': {key} in {path} is empty")
        low = int(values.min())
        if low < 0:
            raise UserError(f"dataset '{NAME}': {key} has label {low}; labels must be 0..{num_classes - 1}")
    found = max(int(values.max()) for values in labels.values()) + 1
    if found > num_classes:
        key = max(labels, key=lambda k: int(labels[k].max()))
        raise UserError(f"dataset '{NAME}': {key} has label {found - 1}, so {path} has {found} classes but the "
                        f"model predicts {num_classes} (labels must be 0..{num_classes - 1}; set "
                        f"model.num_classes: {found})")
    distinct = len(torch.unique(labels["y_train"]))
    if distinct < 2:
        check_class_count(NAME, distinct, f"y_train in {path}", num_classes)
    return found


def _transforms(config: DatasetConfig, source: torch.Tensor, shape: Shape) -> Dict[str, v2.Compose]:
    channels, height, width = shape
    have = source.shape[1]
    steps: List = []
    if have != channels:
        if (have, channels) == (3, 1):
            steps.append(v2.Grayscale(num_output_channels=1))
        elif (have, channels) == (1, 3):
            steps.append(v2.RGB())
        else:
            raise UserError(f"dataset '{NAME}': the images have {have} channels but the model takes {channels}")
    if tuple(source.shape[2:]) != (height, width):
        steps.append(v2.Resize([height, width], antialias=True))
    tail = to_model_tensor(config, channels)
    return {"train": v2.Compose(steps + augment_steps(config) + tail), "eval": v2.Compose(steps + tail)}


@DATASETS.register(NAME, config=NpzConfig, reads_file=True,  # `--data-dir` names the file itself
                   description="your arrays: x_train, y_train, x_test, y_test (x_val, y_val) in a .npz or .pt file")
def npz(config: DatasetConfig, input_shape: Shape, num_classes: int) -> DataSplits:
    path = source_path(config, folder=False)
    shape = tuple(input_shape)
    arrays = _read(path)
    splits = ["train", "val", "test"] if "x_val" in arrays else ["train", "test"]
    images = {split: _images(f"x_{split}", arrays[f"x_{split}"], shape[0]) for split in splits}
    labels = {split: _labels(f"y_{split}", arrays[f"y_{split}"], len(images[split]), f"x_{split}")
              for split in splits}
    sizes = {tuple(x.shape[1:]) for x in images.values()}
    if len(sizes) > 1:
        shown = ", ".join(f"x_{split} {shape_text(images[split].shape[1:])}" for split in splits)
        raise UserError(f"dataset '{NAME}': the splits' images differ in shape: {shown}")
    found = _check_labels({f"y_{split}": labels[split] for split in splits}, num_classes, path)
    if "val" not in images:
        keys = [str(index) for index in range(len(labels["train"]))]
        taken = seeded_split(NAME, f"x_train in {path}", keys, config.split, ["val"], config.split_seed)
        train_images, train_labels = images["train"], labels["train"]
        for split in ("train", "val"):
            index = torch.tensor(taken[split], dtype=torch.long)
            images[split], labels[split] = train_images[index], train_labels[index]
    transforms = _transforms(config, images["train"], shape)
    datasets = {split: ArrayImages(images[split], labels[split], transforms["train" if split == "train" else "eval"])
                for split in ("train", "val", "test")}
    for split in ("train", "val"):
        check_first_image(NAME, split, datasets[split], shape)
    return DataSplits(datasets["train"], datasets["val"], datasets["test"], num_classes=found, input_shape=shape)
