"""Evaluation with exits taken at the thresholds, and the timed comparison with the full model."""
import pytest
import torch

from compressor.compression.early_exit import evaluate_early_exit, time_early_exit
from compressor.compression.models import build_model
from compressor.compression.models.exits import all_exit_outputs

DEVICE = torch.device("cpu")


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = build_model("resnet20_cifar_earlyexit").eval()
    generator = torch.Generator().manual_seed(2)
    batches = [(torch.randn(8, 3, 32, 32, generator=generator), torch.randint(0, 10, (8,), generator=generator))
               for _ in range(2)]
    with torch.no_grad():
        outputs = [all_exit_outputs(model, images) for images, _ in batches]
    return model, batches, outputs


def test_top1_and_shares_follow_the_entropy_rule(setup):
    model, batches, outputs = setup
    exit0 = torch.cat([out[0] for out in outputs])
    final = torch.cat([out[1] for out in outputs])
    targets = torch.cat([t for _, t in batches])
    entropy = torch.distributions.Categorical(logits=exit0).entropy()
    threshold = entropy.median().item()
    leaves = entropy < threshold
    chosen = torch.where(leaves.unsqueeze(1), exit0, final).argmax(1)
    result = evaluate_early_exit(model, batches, [threshold], DEVICE)
    assert result.samples == 16 and result.exit_counts == [int(leaves.sum()), int((~leaves).sum())]
    assert result.exit_shares == pytest.approx([leaves.float().mean().item(), 1 - leaves.float().mean().item()])
    assert result.top1 == pytest.approx(100 * chosen.eq(targets).float().mean().item())
    assert result.final_top1 == pytest.approx(100 * final.argmax(1).eq(targets).float().mean().item())
    correct_early = (chosen.eq(targets) & leaves).sum().item()
    assert result.exit_top1[0] == pytest.approx(100 * correct_early / leaves.sum().item())
    assert result.exits == ["layer1.2.relu2", "final"]


def test_a_threshold_no_entropy_reaches_keeps_every_image_to_the_final_exit(setup):
    model, batches, _ = setup
    result = evaluate_early_exit(model, batches, [0.0], DEVICE)
    assert result.exit_counts == [0, 16] and result.exit_top1[0] is None
    assert result.top1 == result.final_top1


def test_weighted_loss_is_the_training_objective(setup):
    model, batches, _ = setup
    result = evaluate_early_exit(model, batches, [1.0], DEVICE)
    exit0, final = result.exit_loss_all
    assert result.weighted_loss([0.25]) == pytest.approx(0.25 * exit0 + 0.75 * final)


def test_timing_runs_both_paths_on_the_same_images(setup):
    model, batches, outputs = setup
    timing = time_early_exit(model, [images for images, _ in batches], [100.0], rounds=2, warmup=0)
    assert timing["timed_images"] == 16 and timing["timed_exit_shares"] == [1.0, 0.0]
    assert timing["full"]["repeats"] == timing["early_exit"]["repeats"] == 2
    assert timing["speedup"] == pytest.approx(timing["full"]["median_ms"] / timing["early_exit"]["median_ms"])
    assert model.training is False
