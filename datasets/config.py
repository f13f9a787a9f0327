"""The `data:` section of a schedule."""
from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field


class DatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("digits", description="dataset: digits, mnist, cifar10, imagenet or fake")
    data_dir: Optional[str] = Field(
        None, description="folder holding the files (mnist, cifar10, imagenet); digits and fake need none")
    batch_size: int = Field(64, ge=1, description="images per training and evaluation batch")
    workers: int = Field(0, ge=0, description="data loading worker processes (0: load in the main process)")
    image_size: Optional[int] = Field(
        None, ge=1, description="square image side fed to the model; defaults to the model's input size")
    download: bool = Field(False, description="download mnist/cifar10 into data_dir when absent")
    size: Optional[int] = Field(
        None, ge=1, description="fake: training images (validation and test get a quarter each); default 256")
