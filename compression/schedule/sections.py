"""Typed sections added by compressor to Distiller's format: model, training (dataset lives in datasets)."""
from __future__ import annotations

import re
from typing import Literal, Optional, Tuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DEVICE = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")
MAX_CLASSES = 100_000  # validate and train build the classifier layer: keep it within memory
MAX_SIDE = 16_384


def parse_input_size(text: str) -> Tuple[int, ...]:
    """'3,32,32' or '3x32x32' -> (3, 32, 32); anything else raises ValueError."""
    parts = re.split(r"[x,]", text.strip().lower())
    if len(parts) != 3 or not all(part.strip().isdigit() for part in parts):
        raise ValueError(f"expected C,H,W such as 3,32,32, got {text!r}")
    return tuple(int(part) for part in parts)


class ModelSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arch: Optional[str] = Field(None, description="Model name from `compressor list models`, or "
                                                  "package.module:factory (default: digits_cnn).")
    pretrained: bool = Field(False, description="Load pretrained weights from the local torch cache.")
    checkpoint: Optional[str] = Field(None, description="Start from the weights of this checkpoint.")
    weights: Optional[str] = Field(None, description="Start from this state_dict file (a plain torch.save of "
                                                     "model.state_dict(), or a torchvision weights enum).")
    num_classes: Optional[int] = Field(None, ge=1, le=MAX_CLASSES, description="Override the model's class count.")
    input_size: Optional[Tuple[int, int, int]] = Field(
        None, description="Override the model's input shape: [C, H, W] (on the command line 3,32,32 or 3x32x32).")

    @field_validator("input_size", mode="before")
    @classmethod
    def _input_size(cls, value):
        return parse_input_size(value) if isinstance(value, str) else value

    @field_validator("input_size")
    @classmethod
    def _positive_sides(cls, value):
        if value is not None and not all(0 < side <= MAX_SIDE for side in value):
            raise ValueError(f"each of C, H, W must be between 1 and {MAX_SIDE}")
        return value


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
    pack: bool = Field(False, description="At the end, also write best.cpk, the best model as a packed file "
                                          "(`export --format packed`), and report its size.")
    skip_latency: bool = Field(False, description="Do not time the models for the end-of-run report (its latency "
                                                   "and speed-ups are left empty): a busy machine, or many short runs.")
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="Training precision: fp32, or autocast in bf16 or fp16 around the forward and the loss "
                            "(fp16 with a gradient scaler); validation and the test evaluation use the same.")
    channels_last: bool = Field(False, description="Model and input batches in channels-last memory format.")
    compile: bool = Field(False, description="Train through torch.compile of the model (eager, with a warning, "
                                             "where compiling fails).")

    @field_validator("optimizer", "precision", mode="before")
    @classmethod
    def _lower(cls, value):
        return value.lower() if isinstance(value, str) else value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError("expected cpu, cuda, cuda:N or auto")
        return value
