"""Typed sections added by compressor to Distiller's format: model, training (dataset lives in datasets)."""
from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DEVICE = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")
MAX_CLASSES = 100_000  # validate and train build the classifier layer: keep it within memory


class ModelSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arch: Optional[str] = Field(None, description="Model name from `compressor list models`, or "
                                                  "package.module:factory (default: digits_cnn).")
    pretrained: bool = Field(False, description="Load pretrained weights from the local torch cache.")
    checkpoint: Optional[str] = Field(None, description="Start from the weights of this checkpoint.")
    weights: Optional[str] = Field(None, description="Start from this state_dict file (a plain torch.save of "
                                                     "model.state_dict(), or a torchvision weights enum).")
    num_classes: Optional[int] = Field(None, ge=1, le=MAX_CLASSES, description="Override the model's class count.")


class TrainingSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(20, ge=1, description="Number of epochs to train.")
    optimizer: Literal["sgd", "adam", "adamw"] = Field("sgd", description="Optimizer: sgd, adam or adamw.")
    lr: float = Field(0.1, gt=0, description="Initial learning rate.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay.")
    seed: int = Field(0, ge=0, description="Seed for weights, data order and dropout.")
    device: str = Field("cpu", description="cpu, cuda, cuda:N or auto.")
    out: Optional[str] = Field(None, description="Run folder (default runs/<schedule>-<timestamp>).")

    @field_validator("optimizer", mode="before")
    @classmethod
    def _lower(cls, value):
        return value.lower() if isinstance(value, str) else value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError("expected cpu, cuda, cuda:N or auto")
        return value
