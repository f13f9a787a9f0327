import os

import pytest
import torch

from compressor.compression.core.errors import UserError
from compressor.compression.models import MODELS, ModelInfo, build_model, model_info

BUILT_IN = ["digits_cnn", "simplenet_mnist", "resnet20_cifar", "resnet32_cifar", "resnet44_cifar",
            "resnet56_cifar"]


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_model_maps_its_input_to_class_scores(name):
    info = model_info(name)
    model = build_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *info.input_shape))
    assert out.shape == (2, info.num_classes)


@pytest.mark.parametrize("name,dataset,shape", [
    ("digits_cnn", "digits", (1, 8, 8)),
    ("simplenet_mnist", "mnist", (1, 28, 28)),
    ("resnet20_cifar", "cifar10", (3, 32, 32)),
])
def test_model_info_of_built_in_models(name, dataset, shape):
    assert model_info(name) == ModelInfo(name, shape, 10, dataset, MODELS.get(name).description)


def test_num_classes_override_changes_the_classifier():
    model = build_model("digits_cnn", num_classes=3).eval()
    assert model(torch.randn(1, 1, 8, 8)).shape == (1, 3)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "10", True])
def test_num_classes_must_be_a_positive_integer(bad):
    with pytest.raises(UserError, match="num_classes"):
        build_model("digits_cnn", num_classes=bad)


def test_digits_cnn_layer_names():
    names = dict(build_model("digits_cnn").named_parameters())
    for layer in ("conv1", "conv2", "conv3", "fc1", "fc2"):
        assert f"{layer}.weight" in names


def test_simplenet_has_distiller_layer_names():
    model = build_model("simplenet_mnist")
    names = {name for name, _ in model.named_modules()}
    assert {"conv1", "conv2", "fc1", "fc2"} <= names
    assert model.fc1.in_features == 4 * 4 * 50


def test_resnet20_cifar_parameter_names_match_distiller():
    names = {name for name, _ in build_model("resnet20_cifar").named_parameters()}
    assert {"conv1.weight", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
            "layer3.2.bn2.weight", "fc.weight"} <= names
    assert "layer1.0.downsample.0.weight" not in names


@pytest.mark.parametrize("depth,blocks", [(20, 3), (32, 5), (44, 7), (56, 9)])
def test_resnet_cifar_depths(depth, blocks):
    model = build_model(f"resnet{depth}_cifar")
    assert [len(layer) for layer in (model.layer1, model.layer2, model.layer3)] == [blocks] * 3


def test_built_in_models_have_no_pretrained_weights():
    with pytest.raises(UserError, match="no pretrained weights"):
        build_model("resnet20_cifar", pretrained=True)


def test_torchvision_classifiers_are_registered():
    assert "resnet18" in MODELS and "mobilenet_v2" in MODELS
    info = model_info("resnet18")
    assert (info.input_shape, info.num_classes, info.default_dataset) == ((3, 224, 224), 1000, "imagenet")
    assert model_info("mobilenet_v2").input_shape == (3, 224, 224)
    assert model_info("inception_v3").input_shape == (3, 299, 299)
    tv_models = [entry for entry in MODELS if entry.extra["default_dataset"] == "imagenet"]
    assert len(tv_models) > 50
    assert not any(name in MODELS for name in ("fasterrcnn_resnet50_fpn", "fcn_resnet50", "r3d_18", "raft_small"))


def test_torchvision_model_with_fewer_classes():
    model = build_model("resnet18", num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_unknown_model_suggests_close_names():
    with pytest.raises(UserError) as error:
        build_model("resnet81")
    assert "did you mean" in str(error.value) and "resnet18" in str(error.value)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    return tmp_path


def test_pretrained_weights_missing_from_the_cache(hub_dir):
    expected = os.path.join(str(hub_dir), "checkpoints", "resnet18-f37072fd.pth")
    with pytest.raises(UserError) as error:
        build_model("resnet18", pretrained=True)
    assert expected in str(error.value)
    assert "never downloaded" in str(error.value)
    assert not os.path.exists(expected)


def test_pretrained_weights_load_from_the_cache(hub_dir):
    reference = build_model("resnet18").state_dict()
    (hub_dir / "checkpoints").mkdir()
    torch.save(reference, hub_dir / "checkpoints" / "resnet18-f37072fd.pth")
    loaded = build_model("resnet18", pretrained=True).state_dict()
    assert loaded.keys() == reference.keys()
    assert all(torch.equal(loaded[key], reference[key]) for key in reference)


def test_pretrained_weights_keep_their_class_count(hub_dir):
    with pytest.raises(UserError, match="1000 classes"):
        build_model("resnet18", num_classes=10, pretrained=True)
