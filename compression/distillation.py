"""Knowledge distillation (Hinton et al.) as the training loss, from the `distillation:` section.

loss = student_weight * CE(student, labels) + distill_weight * T^2 * KL(soft teacher || soft student)
       + sum(hint.weight * hint loss)   for the optional `hints:` between named layers
The teacher runs in eval mode without gradients; before `start_epoch` and from `end_epoch` the loss is plain CE.
Hints are in hints.py.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .core.checkpoint import load_checkpoint
from .core.errors import UserError
from .distillation_section import DistillationSection, TeacherSection
from .hints import Hints
from .models import build_model, model_info
from .restore import model_from_checkpoint


def build_teacher(section: TeacherSection, num_classes: Optional[int], device: torch.device,
                  input_shape: Optional[Sequence[int]] = None) -> nn.Module:
    """The frozen teacher, in eval mode on `device`; its class count must be `num_classes` when given.
    `input_shape`: the student's, for a teacher built by name for one input size (timm's ViTs)."""
    if section.checkpoint:
        payload = load_checkpoint(section.checkpoint)
        teacher, info = model_from_checkpoint(payload)
        if section.arch and section.arch != info.name:
            raise UserError(f"distillation.teacher: the checkpoint holds '{info.name}', not '{section.arch}'")
        classes = payload.get("num_classes", info.num_classes)
    else:
        classes = model_info(section.arch).num_classes
        teacher = build_model(section.arch, pretrained=section.pretrained, input_shape=input_shape)
    if num_classes is not None and classes != num_classes:
        raise UserError(f"distillation.teacher has {classes} classes but the student has {num_classes}")
    teacher.to(device).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch (Hinton et al.)."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, dim=1), F.softmax(teacher_logits / t, dim=1),
                    reduction="batchmean") * t * t


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
                      temperature: float = 1.0, distill_weight: float = 0.5, student_weight: float = 0.5
                      ) -> torch.Tensor:
    """Knowledge distillation's loss, as `compressor train` computes it with a `distillation:` section:

    student_weight * cross_entropy(student, targets) + distill_weight * T^2 * KL(teacher || student at T).
    Compute `teacher_logits` under `torch.no_grad()`.

    >>> loss = distillation_loss(model(x), teacher(x).detach(), y, temperature=4.0, distill_weight=0.7,
    ...                          student_weight=0.3)
    """
    if temperature <= 0:
        raise UserError(f"temperature must be above 0, got {temperature}")
    if student_logits.shape != teacher_logits.shape:
        raise UserError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                        f"{tuple(teacher_logits.shape)} differ in shape")
    return (student_weight * F.cross_entropy(student_logits, targets)
            + distill_weight * soft_target_loss(student_logits, teacher_logits, temperature))


class TrainingLoss:
    """Cross-entropy; the loop calls it with the inputs too, so a distillation loss can use them."""

    def __init__(self):
        self.criterion = nn.CrossEntropyLoss()
        self._sums: Dict[str, torch.Tensor] = {}

    def __call__(self, images: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor, epoch: int) -> torch.Tensor:
        return self.criterion(outputs, targets)

    def _add(self, name: str, value: torch.Tensor) -> None:
        """Add one step's value of a loss component to its epoch sum."""
        self._sums[name] = self._sums.get(name, 0) + value.detach()

    def epoch_components(self, steps: int) -> Dict[str, float]:
        """Each component's mean over the epoch's `steps`; the sums start again."""
        components = {name: float(total) / max(steps, 1) for name, total in self._sums.items()}
        self._sums = {}
        return components


class DistillationLoss(TrainingLoss):
    """`student` (the plain module being trained) and `input_shape` are needed when the section has hints."""

    def __init__(self, section: DistillationSection, teacher: nn.Module, student: Optional[nn.Module] = None,
                 input_shape: Optional[Sequence[int]] = None):
        super().__init__()
        self.section = section
        self.teacher = teacher
        self.hints = _hints(section, student, teacher, input_shape)

    def __call__(self, images, outputs, targets, epoch):
        return self.combine(self.criterion(outputs, targets), images, outputs, epoch)

    def combine(self, student: torch.Tensor, images: torch.Tensor, outputs: torch.Tensor,
                epoch: int) -> torch.Tensor:
        """The distillation loss from the student's own loss (`student`) and the batch it was computed on."""
        if not self.distils_in(epoch):
            if self.hints is not None:
                self.hints.discard()
            return student
        with torch.no_grad():
            teacher_logits = self.teacher(images)
        if teacher_logits.shape != outputs.shape:
            raise UserError(f"distillation: the teacher's outputs {tuple(teacher_logits.shape)} and the student's "
                            f"{tuple(outputs.shape)} differ in shape")
        distill = soft_target_loss(outputs, teacher_logits, self.section.temperature)
        self._add("student_loss", student)
        self._add("distill_loss", distill)
        return self.section.student_weight * student + self.section.distill_weight * distill + self._hint_term()

    def distils_in(self, epoch: int) -> bool:
        end = self.section.end_epoch
        return self.section.start_epoch <= epoch and (end is None or epoch < end)

    def _hint_term(self):
        if self.hints is None:
            return 0.0
        total = 0.0
        for index, (hint, value) in enumerate(zip(self.hints.hints, self.hints.losses())):
            self._add(f"hint_{index}_loss", value)
            total = total + hint.weight * value
        return total



def _hints(section: DistillationSection, student: Optional[nn.Module], teacher: nn.Module,
           input_shape: Optional[Sequence[int]]) -> Optional[Hints]:
    """Hooks on the plain student module (they fire through a DistributedDataParallel wrapper too)."""
    if not section.hints:
        return None
    if student is None:
        raise ValueError("distillation hints need the student model")
    hints = Hints(section.hints, student, teacher)
    if input_shape is not None:
        try:
            hints.probe(student, teacher, input_shape)
        except UserError:
            hints.remove()
            raise
    return hints


class ForwardCapture:
    """The inputs and outputs of a model's latest forward in training mode with gradients.

    For a training loop that hands the scheduler only its loss: distillation needs the batch and
    the student's logits too, so they are taken from the forward itself.
    """

    def __init__(self, model: nn.Module):
        self.images: Optional[torch.Tensor] = None
        self.outputs: Optional[torch.Tensor] = None
        self._handle = model.register_forward_hook(self._record)

    def _record(self, module: nn.Module, inputs, output) -> None:
        if module.training and torch.is_grad_enabled() and inputs:
            self.images, self.outputs = inputs[0], output

    def take(self):
        """(images, outputs) of the latest training forward, forgotten once taken; (None, None) when none."""
        captured = (self.images, self.outputs)
        self.images = self.outputs = None
        return captured

    def remove(self) -> None:
        self._handle.remove()
