"""Feature (hint) distillation between named layers of the student and the teacher.

A hint compares the outputs of a student module and a teacher module, captured by forward
hooks: `attention` (Zagoruyko & Komodakis attention transfer, any channel counts) or `mse`
(FitNets-style, equal shapes). Names and shapes are checked by one probe forward before training.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Dict, Iterator, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .core.errors import UserError, did_you_mean
from .distillation_section import HintSection


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
