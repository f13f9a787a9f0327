"""The `dataset:` section of a schedule.

Every dataset shares the section. `BaseDatasetConfig` holds the options every dataset takes;
`NpzConfig` and `FolderConfig` add those of the datasets a user brings (`npz`, `folder`).
`DatasetConfig`, the section itself, holds all of them, and refuses an option that the named
dataset's registered config lacks (so `resize:` under `name: digits` is an error, not ignored).
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Optional, Tuple, Union

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, WithJsonSchema, field_validator,
                      model_validator)


def _augment_step(step: Any) -> Any:
    from .augment import build_step

    build_step(step)  # a ValueError names the transform and what is wrong with it
    return step


Size = Union[PositiveInt, Tuple[PositiveInt, PositiveInt]]
AugmentStep = Annotated[Any, AfterValidator(_augment_step), WithJsonSchema({
    "anyOf": [{"type": "string"},
              {"type": "object", "minProperties": 1, "maxProperties": 1,
               "additionalProperties": {"anyOf": [{"type": "object"}, {"type": "null"}]}}],
    "description": "a torchvision.transforms.v2 name, or {name: {argument: value}}"})]
DEFAULT_SPLIT = (0.8, 0.1, 0.1)


class BaseDatasetConfig(BaseModel):
    """The options of every dataset."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("digits", description="dataset: digits, mnist, cifar10, imagenet, fake, folder or npz")
    data_dir: Optional[str] = Field(
        None, description="folder holding the files (mnist, cifar10, imagenet; folder and npz when path is unset); "
                          "digits and fake need none")
    batch_size: int = Field(64, ge=1, description="images per training and evaluation batch")
    workers: int = Field(0, ge=0, description="data loading worker processes (0: load in the main process)")
    image_size: Optional[int] = Field(
        None, ge=1, description="square image side fed to the model; defaults to the model's input size")
    download: bool = Field(False, description="download mnist/cifar10 into data_dir when absent")
    size: Optional[int] = Field(
        None, ge=1, description="fake: training images (validation and test get a quarter each); default 256")


class NpzConfig(BaseDatasetConfig):
    """The options of `npz`: arrays in a .npz (or torch.save'd .pt) file."""

    path: Optional[str] = Field(
        None, description="folder: the image folder; npz: the .npz or .pt file (default: data_dir)")
    split: Tuple[float, ...] = Field(
        DEFAULT_SPLIT, description="[train, val, test] fractions of the images taken for a split that has no "
                                   "files of its own (folder without val/ or test/, npz without x_val)")
    split_seed: int = Field(
        0, ge=0, description="seed of the train/val/test split; independent of training.seed, so the split "
                             "stays the same across runs")
    mean: Optional[Tuple[float, ...]] = Field(
        None, description="per-channel mean subtracted after scaling to [0, 1] (one value or one per channel; "
                          "default: none)")
    std: Optional[Tuple[float, ...]] = Field(
        None, description="per-channel standard deviation divided by after subtracting mean (given with mean)")
    augment: Tuple[AugmentStep, ...] = Field(
        (), description="training-only torchvision.transforms.v2 transforms, in order: names "
                        "([RandomHorizontalFlip]) or {name: {argument: value}} "
                        "([{RandomRotation: {degrees: 10}}]); they see uint8 images after resize/crop")

    @field_validator("split")
    @classmethod
    def _split(cls, value: Tuple[float, ...]) -> Tuple[float, ...]:
        if len(value) != 3 or any(not math.isfinite(f) or f <= 0 for f in value) or abs(sum(value) - 1) > 1e-6:
            raise ValueError("split must be 3 positive fractions [train, val, test] summing to 1, "
                             "such as [0.8, 0.1, 0.1]")
        return value

    @field_validator("mean", "std")
    @classmethod
    def _stats(cls, value: Optional[Tuple[float, ...]], info) -> Optional[Tuple[float, ...]]:
        if value is not None and not value:
            raise ValueError(f"{info.field_name} needs one value, or one per channel")
        if value is not None and info.field_name == "std" and any(s <= 0 for s in value):
            raise ValueError("std values must be positive")
        return value

    @model_validator(mode="after")
    def _mean_with_std(self):
        if (self.mean is None) != (self.std is None):
            raise ValueError("give mean and std together (or neither: images are scaled to [0, 1])")
        return self


class FolderConfig(NpzConfig):
    """The options of `folder`: images in class folders."""

    resize: Optional[Size] = Field(
        None, description="resize first: an int sets the shorter side (aspect kept), [h, w] both sides; "
                          "default: the model's input size")
    crop: Optional[Size] = Field(
        None, description="crop size after resize (center crop; see train_crop); default: the model's input size")
    train_crop: Literal["center", "random", "random_resized"] = Field(
        "center", description="training images: center (as val/test), random (resize, then a random crop) or "
                              "random_resized (a RandomResizedCrop of the original image)")
    grayscale: bool = Field(
        False, description="convert images to grayscale (repeated over the model's channels); 1-channel models "
                           "always get grayscale")


class DatasetConfig(FolderConfig):
    """The `dataset:` section: every dataset's options; each dataset takes those of its registered config."""

    @model_validator(mode="after")
    def _options_of_the_dataset(self):
        from .registry import DATASETS

        own = [key for key in self.model_fields_set if key not in BaseDatasetConfig.model_fields]
        if not own:
            return self
        own.sort(key=list(type(self).model_fields).index)
        if "name" not in self.model_fields_set:
            raise ValueError(f"{', '.join(own)}: name the dataset they are for (name: folder or npz)")
        if self.name not in DATASETS:  # the schedule reports the unknown name itself
            return self
        accepted = DATASETS.get(self.name).config.model_fields
        foreign = [key for key in own if key not in accepted]
        if foreign:
            takers = [entry.name for entry in DATASETS if all(key in entry.config.model_fields for key in foreign)]
            whose = f" (options of {', '.join(takers)})" if takers else ""
            raise ValueError(f"dataset '{self.name}' takes no {', '.join(foreign)}{whose}")
        return self


def recorded_options(config: DatasetConfig) -> dict:
    """The options a schedule set, as plain data for a checkpoint; file paths made absolute.

    Commands given the checkpoint rebuild the same data from them (a folder dataset's path,
    resize, mean and std), wherever they run from.
    """
    from pathlib import Path

    options = config.model_dump(mode="json", exclude_unset=True)
    options["name"] = config.name
    for key in ("path", "data_dir"):
        if options.get(key):
            options[key] = str(Path(options[key]).expanduser().resolve())
    return options
