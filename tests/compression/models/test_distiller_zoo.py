"""Distiller's model zoo: each model builds, maps its input to class scores, and has Distiller's names."""
import json

import pytest
import torch
import torchvision
import yaml

from compressor.cli.main import run
from compressor.compression.core.errors import UserError
from compressor.compression.core.param_names import resolve_parameter_name
from compressor.compression.models import build_model, model_info
from helpers import distiller_example

PREACT_CIFAR = [f"preact_resnet{depth}_cifar{variant}" for depth in (20, 32, 44, 56, 110)
                for variant in ("", "_conv_ds")]
VGG_CIFAR = [f"vgg{depth}{bn}_cifar" for depth in (11, 13, 16, 19) for bn in ("", "_bn")]
CIFAR = ["plain20_cifar", "plain20_cifar_nobn", "simplenet_cifar", "resnet110_cifar", *PREACT_CIFAR, *VGG_CIFAR]
SMALLEST_CIFAR = ["plain20_cifar", "plain20_cifar_nobn", "simplenet_cifar", "preact_resnet20_cifar",
                  "preact_resnet20_cifar_conv_ds", "vgg11_cifar", "vgg11_bn_cifar"]
IMAGENET = ["mobilenet", "mobilenet_025", "mobilenet_050", "mobilenet_075", "mobilenet_v1_dropout", "alexnet_bn",
            *(f"preact_resnet{depth}" for depth in (18, 34, 50, 101, 152))]

# Distiller's example schedules for these models, and the model each is for (its header's --arch,
# or its file name where the header names none).
EXAMPLES = {
    "examples/agp-pruning/mobilenet.imagenet.schedule_agp.yaml": "mobilenet",
    "examples/baseline_networks/cifar/plain20_cifar_baseline_training.yaml": "plain20_cifar",
    "examples/baseline_networks/cifar/preact_resnet_cifar_base_fp32.yaml": "preact_resnet20_cifar",
    "examples/baseline_networks/cifar/vgg16_cifar_baseline_training.yaml": "vgg16_cifar",
    "examples/baseline_networks/imagenet/alexnet_bn_base_fp32.yaml": "alexnet_bn",
    "examples/baseline_networks/imagenet/mobilenet_imagenet_baseline_training.yaml": "mobilenet",
    "examples/baseline_networks/imagenet/preact_resnet18_imagenet_base_fp32.yaml": "preact_resnet18",
    "examples/drop_filter/plain20_cifar_dropfilter_training.yaml": "plain20_cifar",
    "examples/drop_filter/plain20_cifar_dropfilter_training_regularization.yaml": "plain20_cifar",
    "examples/quantization/fp32_baselines/alexnet_bn_base_fp32.yaml": "alexnet_bn",
    "examples/quantization/fp32_baselines/preact_resnet18_imagenet_base_fp32.yaml": "preact_resnet18",
    "examples/quantization/fp32_baselines/preact_resnet_cifar_base_fp32.yaml": "preact_resnet20_cifar",
    "examples/quantization/quant_aware_train/alexnet_bn_dorefa.yaml": "alexnet_bn",
    "examples/quantization/quant_aware_train/preact_resnet18_imagenet_dorefa.yaml": "preact_resnet18",
    "examples/quantization/quant_aware_train/preact_resnet20_cifar_pact.yaml": "preact_resnet20_cifar",
    "examples/quantization/quant_aware_train/preact_resnet_cifar_dorefa.yaml": "preact_resnet20_cifar",
    "examples/ssl/vgg16_cifar_ssl_channels_training.yaml": "vgg16_cifar",
    "examples/auto_compression/plain20_fine_tune.yaml": "plain20_cifar",
    "tests/full_flow_tests/preact_resnet20_cifar_pact_test.yaml": "preact_resnet20_cifar",
}


def parameter_count(model):
    return sum(parameter.numel() for parameter in model.parameters())


def meta_model(name):
    """The model with storage-free tensors: shapes and names only, nothing computed."""
    with torch.device("meta"):
        return build_model(name)


def weight_shapes(model, types=(torch.nn.Conv2d, torch.nn.Linear)):
    return {name: tuple(module.weight.shape) for name, module in model.named_modules() if isinstance(module, types)}


@pytest.mark.parametrize("name", CIFAR)
def test_cifar_model_maps_a_cifar_batch_to_ten_scores(name):
    info = model_info(name)
    assert (info.input_shape, info.num_classes, info.default_dataset) == ((3, 32, 32), 10, "cifar10")
    with torch.device("meta"):  # shapes only: every layer runs, nothing is computed
        assert build_model(name).eval()(torch.empty(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name", SMALLEST_CIFAR)
def test_the_smallest_of_each_cifar_family_computes_finite_scores_and_trains_every_parameter(name):
    torch.manual_seed(0)
    with torch.no_grad():
        out = build_model(name).eval()(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    with torch.device("meta"):
        model = build_model(name).train()
        model(torch.empty(2, 3, 32, 32)).sum().backward()
    assert [name for name, parameter in model.named_parameters() if parameter.grad is None] == []


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_model_maps_an_imagenet_batch_to_a_thousand_scores(name):
    info = model_info(name)
    assert (info.input_shape, info.num_classes, info.default_dataset) == ((3, 224, 224), 1000, "imagenet")
    with torch.device("meta"):
        assert build_model(name).eval()(torch.empty(2, 3, 224, 224)).shape == (2, 1000)


def test_the_smallest_imagenet_model_computes_finite_scores_with_its_own_class_count():
    torch.manual_seed(0)
    with torch.no_grad():
        out = build_model("mobilenet_025", num_classes=7).eval()(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 7) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["plain20_cifar", "vgg16_bn_cifar", "preact_resnet56_cifar_conv_ds"])
def test_cifar_models_take_a_class_count(name):
    with torch.device("meta"):
        assert build_model(name, num_classes=100).eval()(torch.empty(2, 3, 32, 32)).shape == (2, 100)


@pytest.mark.parametrize("name", ["mobilenet", "alexnet_bn", "preact_resnet18", "vgg16_cifar"])
def test_distiller_models_have_no_pretrained_weights(name):
    with pytest.raises(UserError, match="no pretrained weights"):
        build_model(name, pretrained=True)


def test_distiller_names_resolve_to_distiller_architectures_not_torchvision_ones():
    assert type(build_model("mobilenet")).__name__ == "MobileNet"  # v1: torchvision has no "mobilenet"
    assert {"model.13.3.weight", "fc.weight"} <= set(meta_model("mobilenet").state_dict())
    assert type(meta_model("mobilenet_v2")).__name__ == "MobileNetV2"  # still torchvision's
    assert meta_model("alexnet_bn").features[0].kernel_size == (12, 12)
    assert meta_model("alexnet").features[0].kernel_size == (11, 11)


@pytest.mark.parametrize("depth,count", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)])
def test_preact_cifar_resnets_have_the_papers_parameter_counts(depth, count):
    # He et al. 2015, table 6 (identity shortcuts: zero-padded channels, no parameters)
    digits = 1 if depth == 110 else 2
    assert round(parameter_count(meta_model(f"preact_resnet{depth}_cifar")) / 1e6, digits) == count


@pytest.mark.parametrize("depth", [20, 56])
def test_preact_cifar_resnets_have_the_resnets_convolutions_and_distillers_block_names(depth):
    resnet = weight_shapes(meta_model(f"resnet{depth}_cifar"))
    preact = weight_shapes(meta_model(f"preact_resnet{depth}_cifar"))
    conv_ds = weight_shapes(meta_model(f"preact_resnet{depth}_cifar_conv_ds"))
    assert preact == {name: shape for name, shape in resnet.items() if "downsample" not in name}
    assert conv_ds == {name.replace("downsample.0", "downsample"): shape for name, shape in resnet.items()}
    model = meta_model(f"preact_resnet{depth}_cifar")
    block = {name for name, _ in model.named_modules() if name.startswith("layer2.0.")}
    assert block == {"layer2.0." + part for part in ("pre_bn", "pre_relu", "conv1", "bn", "relu", "conv2",
                                                     "downsample", "downsample.0", "downsample.1")}
    top = {name for name, _ in model.named_children()}
    assert top == {"conv1", "layer1", "layer2", "layer3", "final_bn", "final_relu", "avgpool", "fc"}


def test_plain20_is_resnet20_without_shortcuts_and_nobn_without_batchnorm():
    resnet = meta_model("resnet20_cifar").state_dict()
    expected = {name: value.shape for name, value in resnet.items() if "downsample" not in name}
    assert {name: value.shape for name, value in meta_model("plain20_cifar").state_dict().items()} == expected
    nobn = meta_model("plain20_cifar_nobn")
    assert {name for name, _ in nobn.state_dict().items()} == {name for name in expected if "bn" not in name}
    assert not any(isinstance(module, torch.nn.BatchNorm2d) for module in nobn.modules())


@pytest.mark.parametrize("depth", [11, 13, 16, 19])
@pytest.mark.parametrize("bn", ["", "_bn"])
def test_vgg_cifar_features_are_torchvisions_vgg_features(depth, bn):
    with torch.device("meta"):
        reference = getattr(torchvision.models, f"vgg{depth}{bn}")().features
    model = meta_model(f"vgg{depth}{bn}_cifar")
    expected = {f"features.{name}": value.shape for name, value in reference.state_dict().items()}
    expected.update({"classifier.weight": (10, 512), "classifier.bias": (10,)})
    assert {name: tuple(value.shape) for name, value in model.state_dict().items()} == \
        {name: tuple(shape) for name, shape in expected.items()}


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_preact_resnets_have_torchvisions_convolutions_and_preactivation_batchnorms(depth):
    with torch.device("meta"):
        resnet = getattr(torchvision.models, f"resnet{depth}")()
    model = meta_model(f"preact_resnet{depth}")
    assert weight_shapes(model) == weight_shapes(resnet)
    blocks = [f"{stage}.{index}" for stage in ("layer1", "layer2", "layer3", "layer4")
              for index in range(len(getattr(model, stage)))]
    per_block = ["bn1_2"] if depth < 50 else ["bn1_2", "bn2_3"]
    expected = {"bn1", "final_bn"} | {f"{block}.pre_bn" for block in blocks if block != "layer1.0"}
    expected |= {f"{block}.{bn}" for block in blocks for bn in per_block}
    assert set(weight_shapes(model, torch.nn.BatchNorm2d)) == expected


def test_mobilenet_has_the_papers_parameter_count_in_both_layouts():
    # MobileNet v1 1.0-224: 4,209,088 convolution weights and 1,025,000 in the classifier, plus BatchNorm's
    # 2 x 10,944 scales and shifts (Keras' MobileNet reports the same 4,231,976 trainable parameters)
    assert parameter_count(meta_model("mobilenet")) == 4_231_976
    assert parameter_count(meta_model("mobilenet_v1_dropout")) == 4_231_976
    assert set(meta_model("mobilenet_v1_dropout").state_dict()) >= {"conv1.0.weight", "features.12.3.weight",
                                                                    "classifier.1.weight"}


@pytest.mark.parametrize("name,widths", [("mobilenet_025", (8, 16, 32, 64, 128, 256)),
                                         ("mobilenet_050", (16, 32, 64, 128, 256, 512)),
                                         ("mobilenet_075", (24, 48, 96, 192, 384, 768))])
def test_mobilenet_width_multipliers(name, widths):
    model = meta_model(name)
    assert model.model[0][0].out_channels == widths[0]
    assert [model.model[stage][3].out_channels for stage in (1, 2, 4, 6, 12)] == list(widths[1:])
    assert model.model[12][0].groups == widths[4]  # depthwise
    assert model.fc.in_features == widths[5]


def test_alexnet_bn_layers_and_parameter_count():
    convs = 3 * 96 * 12 * 12 + 96 + 256 * 48 * 5 * 5 + 384 * 256 * 3 * 3 + 384 * 192 * 3 * 3 + 256 * 192 * 3 * 3
    linears = 256 * 6 * 6 * 4096 + 4096 * 4096 + 4096 * 1000 + 1000
    batchnorms = 2 * (256 + 384 + 384 + 256 + 4096 + 4096)
    model = meta_model("alexnet_bn")
    assert parameter_count(model) == convs + linears + batchnorms
    assert set(weight_shapes(model)) == {"features.0", "features.2", "features.6", "features.10", "features.13",
                                         "classifier.0", "classifier.3", "classifier.6"}


def test_simplenet_cifar_is_the_lenet_of_pytorchs_cifar_tutorial():
    model = meta_model("simplenet_cifar")
    assert parameter_count(model) == 62_006
    assert set(weight_shapes(model)) == {"conv1", "conv2", "fc1", "fc2", "fc3"}


def schedule_names(path):
    """(parameter names, module names) a Distiller schedule addresses."""
    document = yaml.safe_load(path.read_text()) or {}
    parameters, modules = [], []
    for pruner in (document.get("pruners") or {}).values():
        weights = pruner.get("weights") or []
        parameters += [weights] if isinstance(weights, str) else weights
    for regularizer in (document.get("regularizers") or {}).values():
        parameters += list(regularizer.get("reg_regims") or {})
    for quantizer in (document.get("quantizers") or {}).values():
        modules += list(quantizer.get("overrides") or {})
    return parameters, modules


@pytest.mark.parametrize("relative,arch", sorted(EXAMPLES.items()))
def test_every_name_in_distillers_example_is_in_its_model(relative, arch):
    parameters, modules = schedule_names(distiller_example(relative))
    model = meta_model(arch)
    available = dict(model.named_parameters())
    for name in parameters:
        resolve_parameter_name(name, available)  # KeyError names the missing one
    module_names = {name for name, _ in model.named_modules()}
    assert {name.replace("module.", "") for name in modules} <= module_names


@pytest.mark.parametrize("relative,arch", sorted(EXAMPLES.items()))
def test_distillers_example_validates_on_its_model(relative, arch, capsys):
    path = distiller_example(relative)
    code = run(["validate", "--schedule", str(path), "--arch", arch, "--dataset", "fake", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["arch"] == arch


def test_resnext101_32x4d_has_every_parameter_name_and_shape_of_distillers_table():
    """Distiller's resnext101 schedule lists each weight it prunes with its shape in its header."""
    import re

    text = distiller_example("examples/agp-pruning/prune_resnext101_fine75.yaml").read_text()
    rows = re.findall(r"\|\s+\d+ \| module\.(\S+)\s+\| \(([\d, ]+)\)", text)
    shapes = {name: tuple(p.shape) for name, p in meta_model("resnext101_32x4d").named_parameters()}
    assert len(rows) == 104
    assert {name: tuple(int(v) for v in shape.split(",")) for name, shape in rows} == {
        name: shapes.get(name) for name, _ in rows}
    assert parameter_count(meta_model("resnext101_32x4d")) == 44_177_704  # pretrainedmodels' figure


def test_resnext101_32x4d_computes_scores_for_its_classes():
    model = build_model("resnext101_32x4d", num_classes=7).eval()
    with torch.no_grad():
        scores = model(torch.randn(1, 3, 64, 64))
    assert scores.shape == (1, 7) and torch.isfinite(scores).all()
