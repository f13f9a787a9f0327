"""The sweep's shortcuts (one ranking per weight, data placed once, shared level 0) change nothing it reports."""
import pytest
import torch
from torch import nn

from compressor.compression import sensitivity as sens
from compressor.compression.sensitivity import Row, dense_top1, level_pruner, pruned_weight
from compressor.compression.sensitivity_data import eval_batches
from compressor.compression.sparsity import prunable_weights
from helpers import random_digit_batches, seeded_model

CPU = torch.device("cpu")


_batches = random_digit_batches
_model = seeded_model


def _bits(tensor):
    return tensor.detach().contiguous().view(torch.int32)


@pytest.mark.parametrize("granularity", ["element", "filter", "channel"])
def test_level_pruner_matches_pruned_weight_bit_for_bit(granularity):
    weight = torch.randn(8, 4, 3, 3)
    weight[0, :2] = 0.5  # ties in magnitude: the order among them must not change
    weight[1, :2] = -0.5
    prune = level_pruner(weight, granularity)
    for level in (0.0, 0.01, 0.05, 0.3, 0.5, 0.55, 0.9, 0.95):
        assert torch.equal(_bits(prune(level)), _bits(pruned_weight(weight, level, granularity))), level


def test_level_pruner_keeps_a_channels_last_layout_meaningful():
    weight = torch.randn(6, 3, 3, 3).contiguous(memory_format=torch.channels_last)
    prune = level_pruner(weight, "element")
    assert torch.equal(prune(0.5), pruned_weight(weight, 0.5, "element"))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_sweep_restores_every_tensor_bit_for_bit_layout_included(layout):
    model = _model().to(memory_format=layout)
    with torch.no_grad():
        model.conv2.weight[0, 0, 0, 0] = -0.0
    before = {k: (v.clone(), v.stride(), v.data_ptr()) for k, v in model.state_dict().items()}
    sens.sensitivity_sweep(model, _batches(), [0.0, 0.3, 0.9], "element", CPU)
    for key, value in model.state_dict().items():
        saved, stride, pointer = before[key]
        assert torch.equal(value, saved), key
        assert value.stride() == stride and value.data_ptr() == pointer, key
        if value.is_floating_point():
            assert torch.equal(_bits(value), _bits(saved)), key  # -0.0 stays -0.0


def test_weight_is_restored_when_an_evaluation_fails(monkeypatch):
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []

    def failing(m, loader, criterion, device):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return sens.EvalResult(1.0, 50.0, 90.0, 16)

    monkeypatch.setattr(sens, "evaluate", failing)
    with pytest.raises(RuntimeError):
        sens.sensitivity_sweep(model, _batches(), [0.0, 0.5], "element", CPU)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_progress_starts_at_zero_and_counts_every_row():
    model = _model()
    seen = []
    rows = sens.sensitivity_sweep(model, _batches(1), [0.0, 0.5, 0.9], "filter", CPU,
                                  progress=lambda done, total: seen.append((done, total)))
    total = len(prunable_weights(model)) * 3
    assert seen[0] == (0, total) and seen[-1] == (total, total) and len(seen) == total + 1 == len(rows) + 1


def test_sweep_evaluates_in_inference_mode(monkeypatch):
    modes = []
    real = sens.evaluate

    def spy(m, loader, criterion, device):
        modes.append(torch.is_inference_mode_enabled())
        return real(m, loader, criterion, device)

    monkeypatch.setattr(sens, "evaluate", spy)
    sens.sensitivity_sweep(_model(), _batches(1), [0.0, 0.5], "element", CPU)
    assert modes and all(modes)


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


def test_dense_top1_reads_the_level_zero_row():
    rows = [Row("a.weight", 0.0, 71.5, 90, 1), Row("a.weight", 0.5, 60, 80, 2)]
    assert dense_top1(rows) == 71.5
    assert dense_top1(rows[1:]) is None
    model, batches = _model(), _batches()
    swept = sens.sensitivity_sweep(model, batches, [0.0, 0.5], "element", CPU)
    assert dense_top1(swept) == pytest.approx(sens.baseline_top1(model, batches, CPU))


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
