"""Evaluation images placed once (channels-last chunks) and weights channels-last while the sweep runs."""
import pytest
import torch
from torch import nn

from compressor.compression.workflows import sensitivity as sens
from compressor.compression.workflows.sensitivity_data import eval_batches
from helpers import random_digit_batches, seeded_model

CPU = torch.device("cpu")
_batches = random_digit_batches
_model = seeded_model


def test_eval_batches_are_channels_last_for_cpu_conv_nets_and_not_copied_twice():
    model = _model()
    placed = eval_batches(model, _batches(), CPU)
    assert all(images.is_contiguous(memory_format=torch.channels_last) for images, _ in placed)
    again = eval_batches(model, placed, CPU)
    assert all(a[0] is b[0] and a[1] is b[1] for a, b in zip(placed, again))
    flat = [(torch.randn(4, 10), torch.zeros(4, dtype=torch.long))]
    assert eval_batches(nn.Linear(10, 3), flat, CPU)[0][0] is flat[0][0]


def test_channels_last_gives_the_same_results_as_nchw():
    model, batches = _model(), _batches()
    fast = sens.sensitivity_sweep(model, batches, [0.0, 0.5], "element", CPU)
    plain = [sens.evaluate(model, batches, nn.CrossEntropyLoss(), CPU)]
    assert fast[0].top1 == pytest.approx(plain[0].top1) and fast[0].loss == pytest.approx(plain[0].loss, rel=1e-5)


def test_conv_weights_are_channels_last_only_while_the_sweep_evaluates(monkeypatch):
    model = _model()
    layouts = []
    real = sens.evaluate

    def spy(m, loader, criterion, device):
        layouts.append(model.conv2.weight.is_contiguous(memory_format=torch.channels_last))
        return real(m, loader, criterion, device)

    monkeypatch.setattr(sens, "evaluate", spy)
    sens.sensitivity_sweep(model, _batches(1), [0.0, 0.5], "element", CPU)
    assert layouts and all(layouts)
    assert model.conv2.weight.is_contiguous() and not model.conv2.weight.is_contiguous(memory_format=torch.channels_last)


def test_large_cpu_image_batches_are_split_into_views():
    images = torch.randn(20, 3, 224, 224).contiguous(memory_format=torch.channels_last)
    targets = torch.arange(20)
    chunks = eval_batches(nn.Sequential(nn.Conv2d(3, 4, 3)), [(images, targets)], CPU)
    assert [len(t) for _, t in chunks] == [8, 8, 4]
    assert chunks[0][0].data_ptr() == images.data_ptr()
    assert torch.equal(torch.cat([i for i, _ in chunks]), images) and torch.equal(torch.cat([t for _, t in chunks]), targets)
    assert len(eval_batches(nn.Sequential(nn.Conv2d(3, 4, 3)), [(images, targets)], torch.device("meta"))) == 1
