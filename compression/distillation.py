"""Knowledge distillation (Hinton et al.) as the training loss, from the `distillation:` section.

loss = student_weight * CE(student, labels) + distill_weight * T^2 * KL(soft teacher || soft student)
       + sum(hint.weight * hint loss)   for the optional `hints:` between named layers
The teacher runs in eval mode without gradients; before `start_epoch` the loss is plain CE.
A hint compares the outputs of a student module and a teacher module, captured by forward hooks:
`attention` (Zagoruyko & Komodakis attention transfer) or `mse` (FitNets-style, equal shapes).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Literal, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from .errors import UserError, did_you_mean


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


class HintSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student: str = Field(min_length=1, description="Module name in the student (the model being trained).")
    teacher: str = Field(min_length=1, description="Module name in the teacher.")
    weight: float = Field(1.0, ge=0, description="Weight of this hint's loss in the total.")
    loss: Literal["attention", "mse"] = Field(
        "attention", description="attention: attention transfer (any channel counts; the larger spatial map is "
                                 "average-pooled to the smaller); mse: mean squared error of equal-shaped features.")


class DistillationSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    teacher: TeacherSection = Field(description="The trained model to learn from.")
    temperature: float = Field(1.0, gt=0, description="Softmax temperature T.")
    distill_weight: float = Field(0.5, ge=0, description="Weight of T^2 * KL(teacher || student).")
    student_weight: float = Field(0.5, ge=0, description="Weight of the student's cross-entropy.")
    teacher_weight: float = Field(0.0, ge=0, description="Distiller's teacher weight; the teacher is frozen here.")
    start_epoch: int = Field(0, ge=0, description="Plain cross-entropy before this epoch.")
    hints: List[HintSection] = Field(default_factory=list,
                                     description="Feature (hint) losses between named student and teacher modules.")


def teacher_from_flag(value: str) -> TeacherSection:
    """`--kd-teacher` takes a checkpoint file or a model name."""
    if Path(value).suffix in (".pt", ".pth") or Path(value).is_file():
        return TeacherSection(checkpoint=value)
    return TeacherSection(arch=value)


def build_teacher(section: TeacherSection, num_classes: int, device: torch.device) -> nn.Module:
    from .checkpoint import load_checkpoint, model_from_checkpoint
    from .models import build_model, model_info

    if section.checkpoint:
        teacher, info = model_from_checkpoint(load_checkpoint(section.checkpoint))
        if section.arch and section.arch != info.name:
            raise UserError(f"distillation.teacher: the checkpoint holds '{info.name}', not '{section.arch}'")
        classes = load_checkpoint(section.checkpoint).get("num_classes", info.num_classes)
    else:
        classes = model_info(section.arch).num_classes
        teacher = build_model(section.arch, pretrained=section.pretrained)
    if classes != num_classes:
        raise UserError(f"distillation.teacher has {classes} classes but the student has {num_classes}")
    teacher.to(device).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


class TrainingLoss:
    """Cross-entropy; the loop calls it with the inputs too, so a distillation loss can use them."""

    def __init__(self):
        self.criterion = nn.CrossEntropyLoss()

    def __call__(self, images: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor, epoch: int) -> torch.Tensor:
        return self.criterion(outputs, targets)

    def epoch_components(self, steps: int) -> Dict[str, float]:
        return {}


def attention_map(features: torch.Tensor) -> torch.Tensor:
    """Per-sample activation energy: the channel mean of f^2 for (N, C, H, W), f^2 for (N, D)."""
    return features.pow(2).mean(dim=1) if features.dim() == 4 else features.pow(2)


def _pool_to(energy: torch.Tensor, size: Tuple[int, ...]) -> torch.Tensor:
    if tuple(energy.shape[1:]) == size:
        return energy
    pool = F.adaptive_avg_pool2d if energy.dim() == 3 else F.adaptive_avg_pool1d
    return pool(energy.unsqueeze(1), size).squeeze(1)


def attention_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Squared L2 distance between the L2-normalised attention maps, averaged over the batch (0 to 2).

    Channel counts may differ; where spatial sizes differ the larger map is average-pooled to the smaller.
    """
    s, t = attention_map(student), attention_map(teacher)
    size = tuple(min(a, b) for a, b in zip(s.shape[1:], t.shape[1:]))
    s, t = F.normalize(_pool_to(s, size).flatten(1), dim=1), F.normalize(_pool_to(t, size).flatten(1), dim=1)
    return (s - t).pow(2).sum(dim=1).mean()


def mse_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(student, teacher)


HINT_LOSSES = {"attention": attention_loss, "mse": mse_loss}


class FeatureTap:
    """Forward hooks that keep the latest output of named modules until taken."""

    def __init__(self, model: nn.Module, names: Sequence[str]):
        self.outputs: Dict[str, object] = {}
        modules = dict(model.named_modules())
        self.handles = [modules[name].register_forward_hook(_keep_output(self.outputs, name))
                        for name in dict.fromkeys(names)]

    def take(self) -> Dict[str, object]:
        taken = dict(self.outputs)
        self.outputs.clear()
        return taken

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.outputs.clear()


def _keep_output(store: Dict[str, object], name: str):
    # A plain function, not a bound method: a deep copy of the model shares it instead of copying this loss.
    def hook(module, inputs, output):
        store[name] = output
    return hook


class Hints:
    """The section's hints: features captured on both models, one loss per hint."""

    def __init__(self, hints: Sequence[HintSection], student: nn.Module, teacher: nn.Module):
        _check_module_names(hints, student, teacher)
        self.hints = list(hints)
        self.student = FeatureTap(student, [hint.student for hint in hints])
        self.teacher = FeatureTap(teacher, [hint.teacher for hint in hints])

    def losses(self) -> List[torch.Tensor]:
        """After the student's and the teacher's forward passes on the same batch."""
        student, teacher = self.student.take(), self.teacher.take()
        return [HINT_LOSSES[hint.loss](_captured(student, hint.student, "student"),
                                       _captured(teacher, hint.teacher, "teacher")) for hint in self.hints]

    def discard(self) -> None:
        self.student.take()
        self.teacher.take()

    def remove(self) -> None:
        self.student.remove()
        self.teacher.remove()

    def probe(self, student: nn.Module, teacher: nn.Module, input_shape: Sequence[int]) -> None:
        """One forward pass of both models on zeros: every hint must get features its loss accepts."""
        zeros = torch.zeros(2, *input_shape)
        with torch.no_grad(), _eval_mode(student):
            student(zeros.to(_device_of(student)))
        with torch.no_grad():
            teacher(zeros.to(_device_of(teacher)))
        student_features, teacher_features = self.student.take(), self.teacher.take()
        for index, hint in enumerate(self.hints):
            _check_features(index, hint, student_features.get(hint.student), teacher_features.get(hint.teacher))


def _check_module_names(hints: Sequence[HintSection], student: nn.Module, teacher: nn.Module) -> None:
    problems = []
    for role, model in (("student", student), ("teacher", teacher)):
        names = [name for name, _ in model.named_modules() if name]
        for index, hint in enumerate(hints):
            if getattr(hint, role) not in names:
                message = did_you_mean(getattr(hint, role), names, f"{role} module", limit=200)
                problems.append(f"distillation.hints[{index}].{role}: {message}")
    if problems:
        raise UserError("\n".join(problems))


def _captured(features: Dict[str, object], name: str, role: str) -> torch.Tensor:
    if name not in features:
        raise RuntimeError(f"no output of the {role}'s '{name}' was captured: the hint loss must follow "
                           f"the {role}'s forward pass")
    return features[name]


def _check_features(index: int, hint: HintSection, student, teacher) -> None:
    where = f"distillation.hints[{index}] (student '{hint.student}', teacher '{hint.teacher}')"
    for role, name, value in (("student", hint.student, student), ("teacher", hint.teacher, teacher)):
        if value is None:
            raise UserError(f"{where}: the {role}'s '{name}' does not run in the {role}'s forward pass")
        if not isinstance(value, torch.Tensor) or value.dim() not in (2, 4):
            raise UserError(f"{where}: the {role}'s '{name}' gives {_described(value)}; "
                            "hints need 4-D (N, C, H, W) or 2-D (N, D) tensors")
    shapes = f"student {_shape(student)}, teacher {_shape(teacher)} per sample"
    if hint.loss == "mse" and student.shape != teacher.shape:
        raise UserError(f"{where}: loss mse needs equal shapes, got {shapes} (loss attention accepts different "
                        "channel counts and spatial sizes)")
    if student.dim() != teacher.dim():
        raise UserError(f"{where}: loss attention needs both features 4-D or both 2-D, got {shapes}")


def _shape(value: torch.Tensor) -> str:
    return "(" + ", ".join(str(size) for size in value.shape[1:]) + ")"


def _described(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dim()}-D tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _device_of(model: nn.Module) -> torch.device:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the duration (no batch-norm statistics updated), then each module's own mode back."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


class DistillationLoss(TrainingLoss):
    """`student` (the plain module being trained) and `input_shape` are needed when the section has hints."""

    def __init__(self, section: DistillationSection, teacher: nn.Module, student: Optional[nn.Module] = None,
                 input_shape: Optional[Sequence[int]] = None):
        super().__init__()
        self.section = section
        self.teacher = teacher
        self._sums: Dict[str, torch.Tensor] = {}
        self.hints = _hints(section, student, teacher, input_shape)

    def __call__(self, images, outputs, targets, epoch):
        student = self.criterion(outputs, targets)
        if epoch < self.section.start_epoch:
            if self.hints is not None:
                self.hints.discard()
            return student
        with torch.no_grad():
            teacher_logits = self.teacher(images)
        t = self.section.temperature
        distill = F.kl_div(F.log_softmax(outputs / t, dim=1), F.softmax(teacher_logits / t, dim=1),
                           reduction="batchmean") * t * t
        self._add("student_loss", student)
        self._add("distill_loss", distill)
        return self.section.student_weight * student + self.section.distill_weight * distill + self._hint_term()

    def _hint_term(self):
        if self.hints is None:
            return 0.0
        total = 0.0
        for index, (hint, value) in enumerate(zip(self.hints.hints, self.hints.losses())):
            self._add(f"hint_{index}_loss", value)
            total = total + hint.weight * value
        return total

    def _add(self, name: str, value: torch.Tensor) -> None:
        self._sums[name] = self._sums.get(name, 0) + value.detach()

    def epoch_components(self, steps: int) -> Dict[str, float]:
        components = {name: float(total) / max(steps, 1) for name, total in self._sums.items()}
        self._sums = {}
        return components


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
