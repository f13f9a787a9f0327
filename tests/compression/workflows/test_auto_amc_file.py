"""`--amc-file`: Distiller's AMC configurations, and one of our own for the digits CNN."""
import pytest
import torch
import yaml
from torch import nn

from helpers import distiller_example

from compressor.compression.core.errors import UserError
from compressor.compression.models import build_model
from compressor.compression.models.registry import MODELS
from compressor.compression.thinning.detect import LAYER_TYPES
from compressor.compression.workflows.auto_amc_file import listed_layers, unlisted_groups
from compressor.compression.workflows.auto_space import search_space

AMC = "examples/auto_compression/amc/"


def _layers(model: nn.Module):
    return [name for name, module in model.named_modules() if isinstance(module, LAYER_TYPES)]


DIGITS_LAYERS = ["conv1", "conv2", "conv3", "fc1", "fc2"]


def _write(tmp_path, text):
    path = tmp_path / "amc.yaml"
    path.write_text(text)
    return str(path)


def test_our_own_file_lists_layers_with_distillers_prefixes(tmp_path):
    path = _write(tmp_path, "rl_lib: {name: hanlab}\nnetwork:\n  digits_cnn: [module.conv2, module.fc1]\n"
                            "  resnet20_cifar: [module.layer1.0.conv1]\n")
    assert listed_layers(path, "digits_cnn", DIGITS_LAYERS) == {"conv2", "fc1"}
    torch.manual_seed(0)
    model = build_model("digits_cnn")
    groups = search_space(model, torch.zeros(1, 1, 8, 8)).groups
    held = unlisted_groups(groups, {"conv2", "fc1"}, path)
    assert held == {"conv1": f"not listed in --amc-file {path}", "conv3": f"not listed in --amc-file {path}"}


@pytest.mark.parametrize("text, message", [
    ("network:\n  resnet20_cifar: [module.layer1.0.conv1]\n  mobilenet: [module.fc]\n",
     "has no entry for model 'digits_cnn' (it has: resnet20_cifar, mobilenet)"),
    ("network:\n  digits_cnn: [module.conv2, module.cnov3]\n",
     "unknown Conv/Linear layer 'cnov3'; did you mean 'conv3'"),
    ("network:\n  digits_cnn: module.conv2\n", "network.digits_cnn must be a list of layer names"),
    ("- module.conv2\n", "not an AMC configuration"),
    ("version: 1\ntraining: {epochs: 2}\n", "not an AMC configuration"),
    ("network: [digits_cnn]\n", "not an AMC configuration"),
    ("network: {digits_cnn: [conv1\n", "amc.yaml"),
])
def test_a_file_that_does_not_serve_the_model_is_refused(tmp_path, text, message):
    with pytest.raises(UserError) as info:
        listed_layers(_write(tmp_path, text), "digits_cnn", DIGITS_LAYERS)
    assert message in str(info.value)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        listed_layers(str(tmp_path / "absent.yaml"), "digits_cnn", DIGITS_LAYERS)


def test_listing_only_a_layer_no_group_can_serve_is_refused(tmp_path):
    """fc2 is the model's output: it is no group's layer, so nothing is left to search."""
    torch.manual_seed(0)
    groups = search_space(build_model("digits_cnn"), torch.zeros(1, 1, 8, 8)).groups
    with pytest.raises(UserError, match=r"none of its layers \(fc2\) is in a filter group auto can search"):
        unlisted_groups(groups, {"fc2"}, "amc.yaml")


@pytest.mark.parametrize("name", ["auto_compression_channels.yaml", "auto_compression_filters.yaml"])
def test_every_model_of_distillers_files_that_we_have_resolves_its_layers(name):
    """Their names carry DataParallel's 'module.' prefix; every one is a Conv/Linear layer of our model."""
    path = distiller_example(AMC + name)
    network = yaml.safe_load(path.read_text())["network"]
    known = [model for model in network if model in MODELS.names()]
    assert {"resnet20_cifar", "resnet56_cifar", "plain20_cifar", "mobilenet"} <= set(known)
    for model in known:
        layers = _layers(build_model(model))
        listed = listed_layers(str(path), model, layers)
        assert len(listed) == len(set(network[model])) and listed <= set(layers), model


def test_distillers_filters_file_searches_resnet20s_inner_convolutions():
    path = distiller_example(AMC + "auto_compression_filters.yaml")
    model = build_model("resnet20_cifar")
    groups = search_space(model, torch.zeros(1, 3, 32, 32)).groups
    held = unlisted_groups(groups, listed_layers(str(path), "resnet20_cifar", _layers(model)), str(path))
    searched = [group.leader for group in groups if group.leader not in held]
    assert searched == [f"layer{stage}.{block}.conv1" for stage in (1, 2, 3) for block in range(3)]
    assert "conv1" in held  # the residual group of the stem
