import pytest
import torch

from compressor.compression.workflows import sensitivity as sens
from compressor.compression.core.components import BuildContext
from compressor.compression.core.errors import UserError
from compressor.compression.pruning.masks import MaskStore
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.workflows.sensitivity import (Row, dense_top1, level_pruner, pruned_weight,
                                                sensitivity_sweep, suggest_schedule)
from compressor.compression.workflows.sensitivity_levels import parse_sparsities
from compressor.compression.workflows.sensitivity_outputs import write_csv, write_plot, write_tensorboard
from compressor.compression.sparsity import prunable_weights
from compressor.compression.training.setup import build_scheduler
from helpers import random_digit_batches, seeded_model


CPU = torch.device("cpu")
_batches = random_digit_batches
_model = seeded_model


def _bits(tensor):
    return tensor.detach().contiguous().view(torch.int32)


def test_parse_sparsities_range_and_list():
    levels = parse_sparsities("0:0.95:0.05")
    assert len(levels) == 20 and levels[0] == 0 and levels[-1] == pytest.approx(0.95)
    assert parse_sparsities("0, 0.5,0.9") == [0, 0.5, 0.9]


@pytest.mark.parametrize("text", ["", "  ", "0,1.0", "-0.1", "0:1:0.1", "a,b", "0:0.5", "0:0.5:0", "0.5:0.1:0.1"])
def test_parse_sparsities_rejects(text):
    with pytest.raises(UserError):
        parse_sparsities(text)


@pytest.mark.parametrize("granularity", ["element", "filter", "channel"])
def test_sweep_restores_weights_exactly_and_counts_rows(granularity):
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    levels = [0.0, 0.5, 0.9]
    rows = sensitivity_sweep(model, _batches(), levels, granularity, torch.device("cpu"))
    assert len(rows) == len(prunable_weights(model)) * len(levels)
    assert [r.sparsity for r in rows[:3]] == levels
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_element_pruning_is_applied_during_evaluation(monkeypatch):
    model = _model()
    seen = []
    real = sens.evaluate

    def spy(m, loader, criterion, device):
        seen.append((model.conv2.weight == 0).float().mean().item())
        return real(m, loader, criterion, device)

    monkeypatch.setattr(sens, "evaluate", spy)
    sensitivity_sweep(model, _batches(1), [0.0, 0.5], "element", torch.device("cpu"))
    # evaluations: conv1 at 0 (the baseline), conv1 at 0.5, conv2 at 0.5 (its level 0 reuses the baseline), ...
    assert len(seen) == 1 + len(prunable_weights(model))
    assert seen[0] == 0.0 and seen[1] == 0.0
    assert seen[2] == pytest.approx(0.5, abs=0.01)
    assert (model.conv2.weight == 0).float().mean().item() == 0.0


def test_filter_pruning_zeroes_whole_filters_and_linear_rows():
    weight = torch.randn(8, 4, 3, 3)
    pruned = sens.pruned_weight(weight, 0.5, "filter")
    zero_filters = (pruned.flatten(1).abs().sum(1) == 0).sum().item()
    assert zero_filters == 4
    linear = sens.pruned_weight(torch.randn(6, 10), 0.5, "channel")
    assert (linear.abs().sum(0) == 0).sum().item() == 5


def _crafted_rows():
    rows = []
    for name, curve in {"a.weight": [80, 79.5, 79.2, 70], "b.weight": [80, 78, 60, 10],
                        "c.weight": [80, 80, 79.1, 79.0]}.items():
        rows += [Row(name, level, top1, 99.0, 1.0) for level, top1 in zip([0.0, 0.3, 0.6, 0.9], curve)]
    return rows


def test_suggest_schedule_picks_largest_level_within_tolerance():
    levels = sens.suggested_levels(_crafted_rows(), 1.0, 80.0)
    assert levels == {"a.weight": 0.6, "b.weight": 0.0, "c.weight": 0.9}
    text = suggest_schedule(_crafted_rows(), 1.0, 80.0, "digits_cnn")
    schedule = parse_schedule_text(text)
    assert schedule is not None
    assert "b.weight" not in text and "final_sparsity: 0.6" in text and "final_sparsity: 0.9" in text
    assert text.count("class: AutomatedGradualPruner") == 2


def test_suggested_filter_pruning_thins_a_convolution_with_a_bias_and_no_batchnorm():
    rows = [Row("0.weight", 0.0, 80, 99, 1), Row("0.weight", 0.5, 80, 99, 1)]
    text = suggest_schedule(rows, 1.0, 80.0, "mine:net", structures={"0.weight": "Filters"})
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3))
    context = BuildContext(model, torch.optim.SGD(model.parameters(), lr=0.1), MaskStore(model), (1, 8, 8), CPU)
    scheduler = build_scheduler(parse_schedule_text(text), context)
    for epoch in range(sens.AGP_END + 1):
        scheduler.on_epoch_begin(epoch)
        scheduler.on_epoch_end(epoch, {"val_loss": 1.0})
    assert model[0].out_channels == model[2].in_channels == 4  # its biases were masked with its filters


def test_suggest_schedule_with_nothing_prunable_is_valid():
    text = suggest_schedule(_crafted_rows(), 0.0, 100.0, "digits_cnn")
    parse_schedule_text(text)
    assert "pruners:" not in text and "No layer" in text


def test_suggest_schedule_keeps_the_datasets_options():
    dataset = {"name": "npz", "path": "/data/it's: mine.npz", "batch_size": 8, "mean": [0.5], "std": [0.25]}
    section = parse_schedule_text(suggest_schedule(_crafted_rows(), 1.0, 80.0, "digits_cnn", dataset=dataset)).dataset
    assert section.model_dump(exclude_unset=True) == {**dataset, "mean": (0.5,), "std": (0.25,)}


def test_small_target_uses_half_as_initial_sparsity():
    rows = [Row("a.weight", 0.0, 80, 99, 1), Row("a.weight", 0.05, 80, 99, 1)]
    text = suggest_schedule(rows, 1.0, 80.0, "digits_cnn")
    parse_schedule_text(text)
    assert "initial_sparsity: 0.025" in text


def test_outputs_csv_png_tensorboard(tmp_path):
    rows = _crafted_rows()
    write_csv(rows, tmp_path / "s.csv")
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "parameter,sparsity,top1,top5,loss" and len(lines) == len(rows) + 1
    many = [Row(f"layer{i}.weight", lvl, 50 - i * lvl, 90, 1) for i in range(24) for lvl in (0, 0.5, 0.9)]
    write_plot(many, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    folder = write_tensorboard(rows, tmp_path / "tb")
    assert any(p.name.startswith("events.out.tfevents") for p in folder.iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("top1, classes, samples, expected", [
    (12.0, 10, 256, True), (60.0, 10, 256, False), (3.0, 10, 256, True),
    (13.7, 10, 256, True), (13.8, 10, 256, False),  # chance 10% + 2 x 1.875% standard error
    (12.0, 10, 100_000, False), (0.0, 1000, 64, True), (100.0, 1, 8, True)])
def test_at_chance_allows_for_the_sampling_error_of_guessing(top1, classes, samples, expected):
    assert sens.at_chance(top1, classes, samples) is expected


def test_baseline_warnings_only_at_chance():
    assert sens.baseline_warnings(60.0, 10, 256) == []
    [warning] = sens.baseline_warnings(12.0, 10, 256)
    assert "12.00%" in warning and "chance level for 10 classes (10.00% on 256 images)" in warning


def test_warnings_become_comments_of_the_csv_and_the_schedule(tmp_path):
    warning = "the baseline is at chance, so this suggestion is meaningless"
    write_csv(_crafted_rows(), tmp_path / "s.csv", [warning])
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[:2] == ["# warning: " + warning, "parameter,sparsity,top1,top5,loss"]
    text = suggest_schedule(_crafted_rows(), 1.0, 80.0, "digits_cnn", warnings=[warning])
    parse_schedule_text(text)
    assert "# warning: " + warning in text.splitlines()[:2]
    assert "warning" not in suggest_schedule(_crafted_rows(), 1.0, 80.0, "digits_cnn")


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


def test_dense_top1_reads_the_level_zero_row():
    rows = [Row("a.weight", 0.0, 71.5, 90, 1), Row("a.weight", 0.5, 60, 80, 2)]
    assert dense_top1(rows) == 71.5
    assert dense_top1(rows[1:]) is None
    model, batches = _model(), _batches()
    swept = sens.sensitivity_sweep(model, batches, [0.0, 0.5], "element", CPU)
    assert dense_top1(swept) == pytest.approx(sens.baseline_top1(model, batches, CPU))
