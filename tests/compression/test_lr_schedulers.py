import pytest
import torch
from torch import nn

from compressor.compression.core.components import LR_SCHEDULERS
from compressor.compression.core.errors import ScheduleError
from compressor.compression.lr_schedulers import build_lr_scheduler
from compressor.compression.schedule import parse_schedule_text


def lrs_over(text, epochs):
    spec = parse_schedule_text(text).component("lr_schedulers", "s")
    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=1.0)
    scheduler = build_lr_scheduler(spec, optimizer)
    values = []
    for _ in range(epochs):
        values.append(round(optimizer.param_groups[0]["lr"], 6))
        optimizer.step()
        scheduler.step()
    return values


def test_every_plain_torch_scheduler_is_registered():
    expected = {"StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR", "CosineAnnealingLR",
                "CosineAnnealingWarmRestarts", "CyclicLR", "OneCycleLR", "ReduceLROnPlateau", "PolynomialLR",
                "MultiStepMultiGammaLR"}
    assert expected <= set(LR_SCHEDULERS.names())


def test_multistep_multigamma_as_distiller():
    text = "lr_schedulers:\n  s: {class: MultiStepMultiGammaLR, milestones: [1, 3], gammas: [0.1, 0.5]}\n"
    assert lrs_over(text, 5) == [1.0, 0.1, 0.1, 0.05, 0.05]


def test_polynomial_accepts_distillers_t_max():
    text = "lr_schedulers:\n  s: {class: PolynomialLR, T_max: 4, power: 2}\n"
    assert lrs_over(text, 5) == [1.0, 0.5625, 0.25, 0.0625, 0.0]


def test_multigamma_lengths_must_match():
    with pytest.raises(ScheduleError, match="same length"):
        parse_schedule_text("lr_schedulers:\n  s: {class: MultiStepMultiGammaLR, milestones: [1], gammas: [1, 2]}\n")


def test_signature_types_are_checked():
    with pytest.raises(ScheduleError, match="milestones"):
        parse_schedule_text("lr_schedulers:\n  s: {class: MultiStepLR, milestones: soon}\n")


@pytest.mark.parametrize("name", ["CyclicLR", "OneCycleLR", "CosineAnnealingWarmRestarts"])
def test_state_dict_survives_weights_only_round_trip(name, tmp_path):
    args = {"CyclicLR": "base_lr: 0.1, max_lr: 1.0", "OneCycleLR": "max_lr: 1.0, total_steps: 10",
            "CosineAnnealingWarmRestarts": "T_0: 3"}[name]
    spec = parse_schedule_text(f"lr_schedulers:\n  s: {{class: {name}, {args}}}\n").component("lr_schedulers", "s")
    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=1.0, momentum=0.9)
    scheduler = build_lr_scheduler(spec, optimizer)
    scheduler.step()
    torch.save(scheduler.state_dict(), tmp_path / "s.pt")
    assert torch.load(tmp_path / "s.pt", weights_only=True)["last_epoch"] == 1
