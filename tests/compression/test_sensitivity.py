import pytest
import torch

from compressor.compression import sensitivity as sens
from compressor.compression.errors import UserError
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.sensitivity import Row, parse_sparsities, sensitivity_sweep, suggest_schedule
from compressor.compression.sensitivity_outputs import write_csv, write_plot, write_tensorboard
from compressor.compression.sparsity import prunable_weights
from helpers import random_digit_batches, seeded_model


_batches = random_digit_batches
_model = seeded_model


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


def test_suggest_schedule_with_nothing_prunable_is_valid():
    text = suggest_schedule(_crafted_rows(), 0.0, 100.0, "digits_cnn")
    parse_schedule_text(text)
    assert "pruners:" not in text and "No layer" in text


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
