"""QAT in whole runs: with a pruner, through checkpoints and resume, and handed on to int8 conversion."""
import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.restore import model_from_checkpoint
from compressor.compression.quantization.qat import (
    qat_activation_ranges,
    quantized_weight,
    remove_quantizers,
)
from qat_helpers import build
from helpers import assert_state_dicts_equal, train_schedule

RUN = """
version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 128}
training: {epochs: 2, optimizer: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0001, seed: 1}
quantizers:
  q:
    class: QUANTIZER
    bits_activations: 4
    bits_weights: 4
    overrides:
      conv1: {bits_weights: 8}
      fc2: {bits_weights: 8}
lr_schedulers:
  step: {class: StepLR, step_size: 1, gamma: 0.5}
policies:
  - quantizer: {instance_name: q}
    starting_epoch: 0
    ending_epoch: 2
  - lr_scheduler: {instance_name: step}
    starting_epoch: 0
    ending_epoch: 2
"""


run_schedule = train_schedule


@pytest.mark.parametrize("cls", ["LSQQuantizer", "QuantAwareTrainRangeLinearQuantizer"])
def test_resume_continues_bit_for_bit(tmp_path, cls):
    text = RUN.replace("QUANTIZER", cls)
    straight, _ = run_schedule(tmp_path, "straight", text)
    run_schedule(tmp_path, "stopped", text, epochs=1)
    resumed, _ = run_schedule(tmp_path, "stopped", text, resume=str(tmp_path / "stopped" / "checkpoint.pt"))
    assert resumed.start_epoch == 1
    # also the learned step sizes, which stay out of state_dict()
    assert_state_dicts_equal(straight.model.named_parameters(), resumed.model.named_parameters())
    assert_state_dicts_equal(straight.model.state_dict(), resumed.model.state_dict())
    assert qat_activation_ranges(straight.model) == qat_activation_ranges(resumed.model)
    assert [r["top1"] for r in straight.history] == [r["top1"] for r in resumed.history]


def test_checkpoint_is_a_plain_model_and_reloads_as_the_qat_model(tmp_path):
    run, _ = run_schedule(tmp_path, "a", RUN.replace("QUANTIZER", "PACTQuantizer"), epochs=1)
    payload = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    model, _ = model_from_checkpoint(payload)  # the quantizers come back with the weights
    assert set(payload["model_state"]) == set(model.state_dict())
    x = torch.randn(8, 1, 8, 8)
    run.model.eval()
    model.eval()
    assert torch.equal(model(x), run.model(x))
    assert qat_activation_ranges(model) == qat_activation_ranges(run.model)


def test_remove_quantizers_restores_the_plain_model():
    scheduler, context = build(RUN.replace("QUANTIZER", "LSQQuantizer"))
    model = context.model
    scheduler.on_epoch_begin(0)
    x = torch.randn(8, 1, 8, 8)
    model.eval()
    quantized = model(x)
    names = [name for name, _ in model.named_parameters()]
    assert any("qat_" in name for name in names)
    remove_quantizers(model)
    assert all("qat_" not in name for name, _ in model.named_parameters())
    assert quantized_weight(model.conv2) is None and qat_activation_ranges(model) == {}
    plain = torch.nn.functional.conv2d(x, model.conv1.weight, model.conv1.bias, padding=1)
    assert torch.equal(model.conv1(x), plain)
    assert not torch.equal(model(x), quantized)
    model.load_state_dict(model.state_dict())


def test_qat_composes_with_agp_pruning():
    text = """
version: 1
quantizers:
  q: {class: QuantAwareTrainRangeLinearQuantizer, bits_activations: 4, bits_weights: 4}
pruners:
  agp:
    class: AutomatedGradualPruner
    initial_sparsity: 0.3
    final_sparsity: 0.6
    weights: [conv2.weight, fc1.weight]
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 3
  - quantizer: {instance_name: q}
    starting_epoch: 0
    ending_epoch: 3
"""
    scheduler, context = build(text)
    model = context.model
    generator = torch.Generator().manual_seed(0)
    for epoch in range(3):
        scheduler.on_epoch_begin(epoch)
        for step in range(3):
            scheduler.on_minibatch_begin(epoch, step, 3)
            x, y = torch.randn(16, 1, 8, 8, generator=generator), torch.randint(0, 10, (16,), generator=generator)
            loss = scheduler.before_backward_pass(epoch, step, 3, torch.nn.functional.cross_entropy(model(x), y))
            context.optimizer.zero_grad()
            loss.backward()
            context.optimizer.step()
            scheduler.on_minibatch_end(epoch, step, 3)
            for name in ("conv2.weight", "fc1.weight"):
                pruned = ~context.masks.get(name)
                assert pruned.any() and model.get_parameter(name)[pruned].abs().sum() == 0
                assert quantized_weight(model.get_submodule(name[:-7]))[pruned].abs().sum() == 0
        scheduler.on_epoch_end(epoch, metrics={"val_loss": 1.0})
    sparsity = 1 - torch.count_nonzero(model.conv2.weight).item() / model.conv2.weight.numel()
    assert sparsity == pytest.approx(0.6, abs=0.01)
