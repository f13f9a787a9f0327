"""Images in class folders, ImageFolder-style: path/{train,val,test}/<class>/<image>, or path/<class>/<image>.

Classes are the sorted class folder names of the training images (torchvision's ImageFolder
convention; folders whose name starts with a dot are skipped), the same in every split. A split
without a folder of its own (val/, test/, or all but train when the classes lie directly in
path) is taken from the training images by `split` fractions and `split_seed`.
"""
from __future__ import annotations

import os
from typing import Dict, List, Tuple

from torchvision.datasets.folder import IMG_EXTENSIONS, default_loader, find_classes, make_dataset
from torchvision.transforms import v2

from compressor.compression.core.errors import UserError

from .config import DatasetConfig, FolderConfig
from .registry import DATASETS, DataSplits, Shape
from .user_data import (SPLITS, Pipeline, augment_steps, check_class_count, check_first_image, seeded_split,
                        source_path, to_model_tensor)

NAME = "folder"
Samples = List[Tuple[str, int]]


class ImageFiles(Pipeline):
    """(path, class index) samples, opened with torchvision's default loader (PIL, RGB)."""

    def __init__(self, samples: Samples, classes: List[str], transform: v2.Compose):
        self.samples, self.classes, self.transform = samples, classes, transform
        self.targets = [label for _, label in samples]

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int):
        path, label = self.samples[index]
        try:
            return default_loader(path), label
        except (OSError, ValueError) as err:  # PIL's UnidentifiedImageError is an OSError
            raise UserError(f"dataset '{NAME}': cannot read image {path} ({type(err).__name__}): "
                            "remove or replace the file") from None


def _class_folders(folder: str) -> List[str]:
    try:
        classes, _ = find_classes(folder)
    except FileNotFoundError:
        classes = []
    classes = [name for name in classes if not name.startswith(".")]
    if not classes:
        raise UserError(f"dataset '{NAME}': no class folders in {folder} (expected {folder}/<class>/<image>, "
                        f"or train/, val/ and test/ folders of class folders)")
    return classes


def _samples(folder: str, classes: List[str], class_to_idx: Dict[str, int]) -> Samples:
    """The images of `classes` (folders in `folder`), labelled by `class_to_idx`; every class must hold some."""
    samples = make_dataset(folder, {name: class_to_idx[name] for name in classes},
                           extensions=IMG_EXTENSIONS, allow_empty=True)
    present = {label for _, label in samples}
    empty = [os.path.join(folder, name) for name in classes if class_to_idx[name] not in present]
    if empty:
        raise UserError(f"dataset '{NAME}': no images in class folder{'s' if len(empty) > 1 else ''} "
                        f"{', '.join(empty)} (image files end in {', '.join(IMG_EXTENSIONS)})")
    return samples


def _layout(root: str) -> Dict[str, str]:
    """The split folders under root: {split: folder}, or {} when root holds class folders directly."""
    folders = {split: os.path.join(root, split) for split in SPLITS if os.path.isdir(os.path.join(root, split))}
    if folders and "train" not in folders:
        found = ", ".join(f"{split}/" for split in folders)
        raise UserError(f"dataset '{NAME}': {root} has {found} but no train/ (expected {root}/train/<class>/<image>, "
                        f"or class folders directly in {root})")
    return folders


def _read_splits(config: DatasetConfig, root: str, num_classes: int):
    folders = _layout(root)
    source = folders.get("train", root)
    classes = _class_folders(source)
    class_to_idx = {name: index for index, name in enumerate(classes)}
    samples = {"train": _samples(source, classes, class_to_idx)}  # an empty class folder is said first
    check_class_count(NAME, len(classes), source, num_classes)
    for split in ("val", "test"):
        if split not in folders:
            continue
        found = _class_folders(folders[split])
        unknown = [name for name in found if name not in class_to_idx]
        if unknown:
            raise UserError(f"dataset '{NAME}': {folders[split]} has class folder{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(unknown)} that {source} lacks (every class needs training images)")
        samples[split] = _samples(folders[split], found, class_to_idx)
    missing = [split for split in ("val", "test") if split not in samples]
    if missing:
        train = samples["train"]
        keys = [os.path.relpath(path, source).replace(os.sep, "/") for path, _ in train]
        taken = seeded_split(NAME, source, keys, config.split, missing, config.split_seed)
        for split, indices in taken.items():
            samples[split] = [train[i] for i in indices]
    return classes, samples


def _size(value, default: Tuple[int, int]):
    if value is None:
        return list(default)
    return value if isinstance(value, int) else list(value)


def _transforms(config: DatasetConfig, shape: Shape) -> Dict[str, v2.Compose]:
    channels, height, width = shape
    if channels not in (1, 3):
        raise UserError(f"dataset '{NAME}' gives 1- or 3-channel images; the model takes {channels} channels")
    head = [v2.ToImage()]  # PIL RGB -> uint8 image tensor
    if channels == 1 or config.grayscale:
        head.append(v2.Grayscale(num_output_channels=channels))
    resize = v2.Resize(_size(config.resize, (height, width)), antialias=True)
    crop = _size(config.crop, (height, width))
    evaluation = head + [resize, v2.CenterCrop(crop)]
    if config.train_crop == "random":
        train = head + [resize, v2.RandomCrop(crop, pad_if_needed=True)]
    elif config.train_crop == "random_resized":
        train = head + [v2.RandomResizedCrop(crop, antialias=True)]
    else:
        train = list(evaluation)
    tail = to_model_tensor(config, channels)
    return {"train": v2.Compose(train + augment_steps(config) + tail), "eval": v2.Compose(evaluation + tail)}


@DATASETS.register(NAME, config=FolderConfig,
                   description="your images: path/<class>/ (split by fractions) or path/{train,val,test}/<class>/")
def folder(config: DatasetConfig, input_shape: Shape, num_classes: int) -> DataSplits:
    root = source_path(config, folder=True)
    shape = tuple(input_shape)
    transforms = _transforms(config, shape)
    classes, samples = _read_splits(config, root, num_classes)
    splits = {split: ImageFiles(samples[split], classes, transforms["train" if split == "train" else "eval"])
              for split in SPLITS}
    for split in ("train", "val"):
        check_first_image(NAME, split, splits[split], shape)
    return DataSplits(splits["train"], splits["val"], splits["test"], num_classes=len(classes), input_shape=shape)
