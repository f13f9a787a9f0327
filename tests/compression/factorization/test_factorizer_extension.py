"""LowRankFactorizer as a schedule extension: in a real run, in its checkpoints, and what it refuses at build time."""
import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.core.errors import ScheduleError
from compressor.compression.factorization import FactorizedLayer, factorize, recorded_factorization
from compressor.compression.factorization.configs import LowRankFactorizerConfig
from compressor.compression.models import build_model
from compressor.compression.pruning.masks import MaskStore
from compressor.compression.restore import model_from_checkpoint

from helpers import scheduler_for, train_schedule

SCHEDULE = """
version: 1
model: {arch: digits_cnn}
dataset: {name: fake, size: 16, batch_size: 8}
training: {epochs: 2, optimizer: sgd, lr: 0.01, momentum: 0.9, seed: 1}
extensions:
  lowrank:
    class: LowRankFactorizer
    method: spatial_svd
    macs_ratio: 0.5
    overrides: {fc2: null}
policies:
  - extension: {instance_name: lowrank}
    epochs: [0]
"""


def trained_parameters(optimizer):
    return [id(p) for group in optimizer.param_groups for p in group["params"]]


def test_the_factorizer_replaces_its_layers_after_its_epoch_and_training_goes_on(tmp_path):
    run, report = train_schedule(tmp_path, "run", SCHEDULE)
    model = run.model
    assert [type(getattr(model, name)).__name__ for name in ("conv1", "conv2", "conv3", "fc1", "fc2")] == [
        "FactorizedLayer"] * 4 + ["Linear"]
    [plan] = run.scheduler.scheduled[0].policy.plans
    assert all(layer["macs_after"] <= 0.5 * layer["macs_before"] for layer in plan.layers)
    assert plan.skipped == [{"layer": "fc2", "reason": "overrides: 'fc2' is null"}]
    assert trained_parameters(run.optimizer) == [id(p) for p in model.parameters()]  # the new ones, in model order
    assert all(len(run.optimizer.state[p]) > 0 for p in model.conv2.parameters())  # epoch 1 trained them
    first, second = run.history
    assert second["weights"] == first["weights"] < run.dense_weights
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert saved["factorization"] == recorded_factorization(model)
    assert [step["layer"] for step in saved["factorization"]] == ["conv1", "conv2", "conv3", "fc1"]
    rebuilt, _ = model_from_checkpoint(saved)
    x = torch.randn(3, 1, 8, 8)
    assert torch.allclose(rebuilt.eval()(x), model.eval()(x), atol=1e-6)
    assert report["params"] == sum(p.numel() for p in model.parameters())  # best.pt, rebuilt from its file
    assert report["macs"] < 0.6 * report["dense_macs"]


def test_a_factorized_run_resumes_with_its_optimizer_state(tmp_path):
    first, _ = train_schedule(tmp_path, "run", SCHEDULE, epochs=1)
    resumed, _ = train_schedule(tmp_path, "run", SCHEDULE, resume=str(tmp_path / "run" / "checkpoint.pt"),
                                epochs=2)
    assert isinstance(resumed.model.conv2, FactorizedLayer) and resumed.scheduler.scheduled[0].policy.plans == []
    assert [record["epoch"] for record in resumed.history] == [0, 1]
    assert recorded_factorization(resumed.model) == recorded_factorization(first.model)


def test_the_optimizer_trains_the_new_parameters_with_fresh_state():
    torch.manual_seed(0)
    model = build_model("digits_cnn")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 1, 8, 8)).sum().backward()
    optimizer.step()
    old_weight = model.conv2.weight
    factorize(model, LowRankFactorizerConfig(rank_ratio=0.5, layers=["conv2"]), (1, 8, 8), optimizer=optimizer)
    assert old_weight not in optimizer.state and trained_parameters(optimizer) == [id(p) for p in model.parameters()]
    assert not any(p in optimizer.state for p in model.conv2.parameters())
    before = [p.detach().clone() for p in model.conv2.parameters()]
    optimizer.zero_grad()
    model(torch.randn(4, 1, 8, 8)).sum().backward()
    optimizer.step()
    assert all(not torch.equal(p, b) for p, b in zip(model.conv2.parameters(), before))


def test_a_mask_on_a_factorized_weight_is_dropped_with_a_note():
    model = build_model("digits_cnn")
    masks = MaskStore(model)
    masks.set("conv2.weight", model.conv2.weight != 0)
    masks.set("conv3.weight", model.conv3.weight != 0)
    plan = factorize(model, LowRankFactorizerConfig(rank_ratio=0.5, layers=["conv2"]), (1, 8, 8), masks=masks)
    assert sorted(masks.masks) == ["conv3.weight"] and "conv2.0.weight" in masks.params
    assert plan.notes == ["mask of conv2.weight dropped: the factorized layer has no such parameter"]


PRUNER = """
pruners:
  agp:
    class: AutomatedGradualPruner
    initial_sparsity: 0.1
    final_sparsity: 0.5
    weights: [conv1.weight, WHICH]
"""
QAT = """
quantizers:
  qat:
    class: QuantAwareTrainRangeLinearQuantizer
    bits_activations: 8
    bits_weights: 8
    overrides: OVERRIDES
"""
FACTORIZER = """
extensions:
  lowrank:
    class: LowRankFactorizer
    rank_ratio: 0.5
    layers: [conv2, conv3]
"""


def schedule_text(other, other_policy, factorizer_first):
    policies = [other_policy, "  - extension: {instance_name: lowrank}\n    epochs: [1]\n"]
    ordered = policies[::-1] if factorizer_first else policies
    return "version: 1\n" + other + FACTORIZER + "policies:\n" + "".join(ordered)


@pytest.mark.parametrize("factorizer_first", [False, True])
def test_a_pruner_on_a_layer_it_factorizes_is_refused_at_build_time(factorizer_first):
    pruner_policy = "  - pruner: {instance_name: agp}\n    starting_epoch: 0\n    ending_epoch: 1\n"
    text = schedule_text(PRUNER.replace("WHICH", "conv3.weight"), pruner_policy, factorizer_first)
    with pytest.raises(ScheduleError, match="extensions.lowrank.*pruner 'agp' works on conv3.weight, a parameter "
                                            "of layer 'conv3' that is factorized"):
        scheduler_for(text)
    scheduler_for(schedule_text(PRUNER.replace("WHICH", "fc1.weight"), pruner_policy, factorizer_first))


@pytest.mark.parametrize("factorizer_first", [False, True])
def test_a_qat_quantizer_on_a_layer_it_factorizes_is_refused_at_build_time(factorizer_first):
    qat_policy = "  - quantizer: {instance_name: qat}\n    starting_epoch: 0\n    ending_epoch: 2\n"
    text = schedule_text(QAT.replace("OVERRIDES", "{}"), qat_policy, factorizer_first)
    with pytest.raises(ScheduleError, match="layer 'conv2' is fake-quantized by a QAT quantizer and factorized"):
        scheduler_for(text)
    apart = QAT.replace("OVERRIDES", "{'conv[23]': {bits_weights: null, bits_bias: null}}")
    scheduler_for(schedule_text(apart, qat_policy, factorizer_first))


@pytest.mark.parametrize("arguments,message", [
    ("rank: 500\n    layers: [conv2]", "extensions.lowrank.*rank 500 is larger than spatial_svd allows"),
    ("rank: 2\n    layers: [conv9]", "layers: 'conv9' matches no Conv2d or Linear layer"),
    ("rank: 2\n    method: tucker2\n    overrides: {fc1: {method: tucker2}}", "Linear layer 'fc1' with tucker2"),
])
def test_bad_layers_and_ranks_are_schedule_errors_with_their_place(arguments, message):
    text = ("version: 1\nextensions:\n  lowrank:\n    class: LowRankFactorizer\n    " + arguments
            + "\npolicies:\n  - extension: {instance_name: lowrank}\n    epochs: [0]\n")
    with pytest.raises(ScheduleError, match=message) as info:
        scheduler_for(text)
    assert info.value.problems[0].line == 3  # the instance's line

