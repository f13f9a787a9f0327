"""A binary model in whole runs: trained, resumed bit for bit, rebuilt from its checkpoint."""
import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.quantization.qat import qat_activation_ranges, quantized_weight
from compressor.compression.restore import model_from_checkpoint
from helpers import assert_state_dicts_equal, one_thread, train_schedule

RUN = """
version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 128}
training: {epochs: 2, optimizer: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0001, seed: 1}
quantizers:
  binary: {class: BinaryQuantizer, bits_activations: 1}
lr_schedulers:
  step: {class: StepLR, step_size: 1, gamma: 0.5}
policies:
  - quantizer: {instance_name: binary}
    starting_epoch: 0
    ending_epoch: 2
  - lr_scheduler: {instance_name: step}
    starting_epoch: 0
    ending_epoch: 2
"""


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    folder = tmp_path_factory.mktemp("binary")
    with one_thread():  # as the autouse fixture runs the tests: sums over two threads differ in the last bits
        run, _ = train_schedule(folder, "straight", RUN)
    return folder, run


def test_resume_continues_bit_for_bit(straight, tmp_path):
    _, run = straight
    train_schedule(tmp_path, "stopped", RUN, epochs=1)
    resumed, _ = train_schedule(tmp_path, "stopped", RUN, resume=str(tmp_path / "stopped" / "checkpoint.pt"))
    assert resumed.start_epoch == 1
    assert_state_dicts_equal(run.model.named_buffers(), resumed.model.named_buffers())  # the levels' averages
    assert_state_dicts_equal(run.model.state_dict(), resumed.model.state_dict())
    assert qat_activation_ranges(run.model) == qat_activation_ranges(resumed.model)
    assert [r["top1"] for r in run.history] == [r["top1"] for r in resumed.history]


def test_trained_binary_layers_have_two_weights_per_channel_and_rebuild_from_the_checkpoint(straight):
    folder, run = straight
    model, _ = model_from_checkpoint(load_checkpoint(folder / "straight" / "checkpoint.pt"))
    for name in ("conv2", "conv3", "fc1"):
        weight = quantized_weight(model.get_submodule(name))
        scale = model.get_submodule(name).weight.abs().flatten(1).mean(1)
        for channel, value in zip(weight.flatten(1), scale):
            assert set(torch.unique(channel).tolist()) <= {-value.item(), value.item()}, name
    assert torch.unique(quantized_weight(model.fc2)).numel() > 2  # the last layer: 8 bits
    x = torch.randn(8, 1, 8, 8)
    run.model.eval()
    model.eval()
    assert torch.equal(model(x), run.model(x))
    assert qat_activation_ranges(model) == qat_activation_ranges(run.model)
    assert all(high > 0 for low, high in qat_activation_ranges(model).values())
