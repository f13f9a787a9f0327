"""The `distillation:` section and its hints (read without torch: schedules are checked before it loads)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

NO_TEACHER = ("distillation: no teacher: give distillation.teacher (arch or checkpoint) or --kd-teacher CKPT|ARCH "
              "(a loop of your own may pass teacher= to CompressionScheduler.from_yaml instead)")


class HintSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student: str = Field(min_length=1, description="Module name in the student (the model being trained).")
    teacher: str = Field(min_length=1, description="Module name in the teacher.")
    weight: float = Field(1.0, ge=0, description="Weight of this hint's loss in the total.")
    loss: Literal["attention", "mse"] = Field(
        "attention", description="attention: attention transfer (any channel counts; the larger spatial map is "
                                 "average-pooled to the smaller); mse: mean squared error of equal-shaped features.")


class TeacherSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arch: Optional[str] = Field(None, description="Teacher model name (with checkpoint: must match it).")
    checkpoint: Optional[str] = Field(None, description="A compressor checkpoint holding the trained teacher.")
    pretrained: bool = Field(False, description="With arch only: pretrained weights from the local torch cache.")

    @model_validator(mode="after")
    def _named(self):
        if not self.arch and not self.checkpoint:
            raise ValueError("the teacher needs an arch or a checkpoint")
        return self


class DistillationSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    teacher: Optional[TeacherSection] = Field(
        None, description="The trained model to learn from: `train` needs it here or as --kd-teacher; a loop of "
                          "your own may pass it to from_yaml (teacher=) instead.")
    temperature: float = Field(1.0, gt=0, description="Softmax temperature T.")
    distill_weight: float = Field(0.5, ge=0, description="Weight of T^2 * KL(teacher || student).")
    student_weight: float = Field(0.5, ge=0, description="Weight of the student's cross-entropy.")
    teacher_weight: float = Field(0.0, ge=0, description="Distiller's teacher weight; the teacher is frozen here.")
    start_epoch: int = Field(0, ge=0, description="Plain cross-entropy before this epoch.")
    end_epoch: Optional[int] = Field(
        None, gt=0, description="Plain cross-entropy from this epoch on (exclusive, as a policy's ending_epoch); "
                                "none: distil to the end. A small student can learn faster from the teacher early "
                                "and finish on the labels alone.")
    hints: List[HintSection] = Field(default_factory=list,
                                     description="Feature (hint) losses between named student and teacher modules.")

    @model_validator(mode="after")
    def _epochs_in_order(self):
        if self.end_epoch is not None and self.end_epoch <= self.start_epoch:
            raise ValueError(f"end_epoch ({self.end_epoch}) must be after start_epoch ({self.start_epoch})")
        return self


def teacher_from_flag(value: str) -> TeacherSection:
    """`--kd-teacher` takes a checkpoint file or a model name."""
    if Path(value).suffix in (".pt", ".pth") or Path(value).is_file():
        return TeacherSection(checkpoint=value)
    return TeacherSection(arch=value)
