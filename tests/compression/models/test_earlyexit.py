"""Distiller's early-exit ResNets: names, exits, and the inference path that stops computing."""
import pytest
import torch
import torchvision

from compressor.compression.models import MODELS, build_model, model_info
from compressor.compression.models.exits import (ExitCapture, all_exit_outputs, count_exits, early_exit_forward,
                                                 exit_decisions, exit_points)

CIFAR = ["resnet20_cifar_earlyexit", "resnet32_cifar_earlyexit", "resnet44_cifar_earlyexit",
         "resnet56_cifar_earlyexit", "resnet110_cifar_earlyexit"]


def seeded(arch="resnet20_cifar_earlyexit"):
    torch.manual_seed(0)
    return build_model(arch).eval()


def entropy(logits):
    return torch.distributions.Categorical(logits=logits).entropy()


@pytest.mark.parametrize("arch", CIFAR)
def test_cifar_models_have_distillers_exit_and_names(arch):
    depth = int(arch.split("_")[0][len("resnet"):])
    model = build_model(arch)
    names = {name for name, _ in model.named_parameters()}
    exit_names = {"layer1.2.relu2.branch_net.2.weight", "layer1.2.relu2.branch_net.2.bias"}
    assert exit_points(model) == ["layer1.2.relu2"] and exit_names <= names
    if f"resnet{depth}_cifar" in MODELS:  # the trunk is Distiller's plain CIFAR ResNet of that depth
        assert names - exit_names == {name for name, _ in build_model(f"resnet{depth}_cifar").named_parameters()}
    assert model.layer1[2].relu2.branch_net[2].weight.shape == (10, 1600)
    assert len(model.layer1) == (depth - 2) // 6
    assert model_info(arch).input_shape == (3, 32, 32) and model_info(arch).default_dataset == "cifar10"


def test_resnet50_earlyexit_is_torchvisions_resnet50_with_distillers_names_and_two_exits():
    with torch.device("meta"):  # shapes only: no weights initialised, no arithmetic
        model = build_model("resnet50_earlyexit").eval()
        reference = torchvision.models.resnet50()
    keys = set(model.state_dict())
    exits = {key for key in keys if ".branch_net." in key}
    assert keys - exits == set(reference.state_dict())
    assert {key.rsplit(".", 2)[0] for key in exits} == {"layer1.2.relu3.branch_net", "layer2.3.relu3.branch_net"}
    assert [name for name, _ in model.layer1[0].named_children()] == [
        "conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3", "downsample", "add", "relu3"]
    outputs = all_exit_outputs(model, torch.empty(1, 3, 224, 224, device="meta"))
    assert [tuple(output.shape) for output in outputs] == [(1, 1000)] * 3


def test_forward_returns_the_final_exit_only_and_runs_no_exit():
    model = seeded()
    images = torch.randn(4, 3, 32, 32)
    calls = []
    model.layer1[2].relu2.branch_net.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        out = model(images)
        outputs = all_exit_outputs(model, images)
    assert isinstance(out, torch.Tensor) and out.shape == (4, 10)
    assert len(outputs) == 2 and torch.equal(outputs[-1], out)
    assert len(calls) == 1  # only all_exit_outputs ran the exit


def test_early_exit_path_gives_each_image_the_logits_of_the_exit_it_leaves_at():
    model = seeded()
    images = torch.randn(12, 3, 32, 32)
    with torch.no_grad():
        exit0, final = all_exit_outputs(model, images)
    ordered = entropy(exit0).sort().values  # half the images leave early, none near the threshold
    threshold = ((ordered[5] + ordered[6]) / 2).item()
    logits, taken = early_exit_forward(model, images, [threshold])
    expected = torch.where(entropy(exit0) < threshold, 0, 1)
    assert torch.equal(taken, expected) and 0 < int((taken == 0).sum()) < 12
    assert torch.equal(exit_decisions([exit0], [threshold]), expected)
    chosen = torch.where((expected == 0).unsqueeze(1), exit0, final)
    assert torch.allclose(logits, chosen, atol=1e-5)


@pytest.mark.parametrize("threshold, leaving", [(0.0, 0), (100.0, 6)])
def test_early_exit_path_at_the_extremes(threshold, leaving):
    model = seeded()
    images = torch.randn(6, 3, 32, 32)
    logits, taken = early_exit_forward(model, images, [threshold])
    with torch.no_grad():
        exit0, final = all_exit_outputs(model, images)
    assert int((taken == 0).sum()) == leaving
    assert torch.allclose(logits, exit0 if leaving else final, atol=1e-6)


def test_images_that_left_are_not_computed_further():
    model = seeded()
    images = torch.randn(10, 3, 32, 32)
    seen = []
    model.layer3[0].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].size(0)))
    with torch.no_grad():
        exit0 = all_exit_outputs(model, images)[0]
    seen.clear()
    lowest = entropy(exit0).sort().values
    threshold = ((lowest[5] + lowest[6]) / 2).item()  # the 6 lowest entropies leave (midway: CPUs round differently)
    _, taken = early_exit_forward(model, images, [threshold])
    assert int((taken == 0).sum()) == 6 and seen == [4]


def test_exit_capture_takes_the_exits_of_training_forwards_only():
    model = seeded().train()
    capture = ExitCapture(model)
    model(torch.randn(2, 3, 32, 32))
    taken = capture.take()
    assert len(taken) == 1 and taken[0].shape == (2, 10) and taken[0].requires_grad
    model.eval()
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    assert capture.take() == []
    capture.remove()


def test_models_without_exits_count_none():
    assert count_exits(build_model("resnet20_cifar")) == 0
    assert count_exits(build_model("resnet50_earlyexit")) == 2
