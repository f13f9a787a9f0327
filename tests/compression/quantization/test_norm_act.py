"""timm's BatchNormAct2d split for quantization: its BatchNorm folds into the convolution, in the simulated
and in the real int8 model, with the ranges of statistics collected on the original model."""
import copy

import pytest
import torch
from torch import nn

timm_layers = pytest.importorskip("timm.layers")

import compressor  # noqa: E402  (after the skip: these tests need timm)
from compressor.compression.quantization.int8_backend import NO_KERNEL  # noqa: E402
from compressor.compression.quantization.norm_act import NormAct, with_norm_acts_split  # noqa: E402
from helpers import give_batchnorms_statistics  # noqa: E402

BatchNormAct2d = timm_layers.BatchNormAct2d


class Net(nn.Module):
    """Conv + BatchNormAct2d with ReLU, with SiLU (no int8 kernel), and with no activation."""

    def __init__(self, drop_layer=None):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, bias=False), BatchNormAct2d(8, drop_layer=drop_layer)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), BatchNormAct2d(8, act_layer=nn.SiLU)
        self.conv3, self.bn3 = nn.Conv2d(8, 8, 1, bias=False), BatchNormAct2d(8, apply_act=False)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.bn3(self.conv3(self.bn2(self.conv2(self.bn1(self.conv1(x))))))
        return self.fc(x.mean((2, 3)))


class Halve(nn.Module):
    def forward(self, x):
        return x * 0.5


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return give_batchnorms_statistics(Net())


@pytest.fixture(scope="module")
def batches():
    return list(torch.randn(16, 3, 12, 12, generator=torch.Generator().manual_seed(1)).split(8))


@pytest.fixture(scope="module")
def quantizer(model, batches):
    stats = compressor.collect_stats(model, batches)  # on the original model: bn1.drop, bn1.act, ...
    quantizer = compressor.PostTrainLinearQuantizer(copy.deepcopy(model), model_activation_stats=stats)
    quantizer.prepare_model(batches[0][:1])
    return quantizer, stats


def test_split_copy_computes_the_same_and_leaves_the_model_alone(model, batches):
    split = with_norm_acts_split(model)

    assert isinstance(split.bn1, NormAct) and type(split.bn1.bn) is nn.BatchNorm2d
    assert {"bn1.bn", "bn1.drop", "bn1.act", "bn3.act"} <= {name for name, _ in split.named_modules()}
    assert all(isinstance(getattr(model, f"bn{i}"), BatchNormAct2d) for i in (1, 2, 3))
    with torch.no_grad():
        assert torch.allclose(split(batches[0]), model(batches[0]), rtol=0, atol=1e-6)
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    assert with_norm_acts_split(plain) is plain


def test_a_drop_that_changes_its_input_is_not_split():
    split = with_norm_acts_split(Net(drop_layer=Halve))  # its BatchNorm's output has no statistics of its own
    assert isinstance(split.bn1, BatchNormAct2d) and isinstance(split.bn2, NormAct)


def test_simulated_model_folds_it_with_the_ranges_of_the_original_stats(quantizer):
    quantizer, stats = quantizer
    simulated = quantizer.simulated

    assert not any(isinstance(module, nn.BatchNorm2d) for module in quantizer.model.modules())
    assert simulated.ranges["conv1"] == (0.0, stats["bn1.drop"].output.max)  # ReLU fused: from 0
    assert simulated.ranges["conv2"] == (stats["bn2.drop"].output.min, stats["bn2.drop"].output.max)
    assert simulated.layout.stats_use["bn1.drop"][0] == "applied"
    assert quantizer.ranges_report()["ranges_fused"]["conv1"] == "its BatchNorm bn1.bn is folded in; " \
                                                                "bn1.drop's range is used"
    # the int8 model is given each range where its fused op's output is: after the ReLU, after the BatchNorm
    assert {"bn1.act", "bn2.bn", "bn2.act", "bn3.bn"} <= set(simulated.int8_ranges)


def test_int8_model_fuses_it_and_agrees_with_the_simulated_one(model, quantizer, batches):
    quantizer, _ = quantizer
    int8 = quantizer.convert_to_int8(batches)

    nodes = list(int8.module.graph.nodes)
    assert not any("batch_norm" in str(node.target) for node in nodes)
    assert not any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in int8.module.modules())
    conv1 = int8.module.get_submodule("conv1")
    assert isinstance(conv1, torch.ao.nn.intrinsic.quantized.ConvReLU2d)
    levels = 2 ** int8.activation_bits - 1
    assert conv1.scale == pytest.approx(quantizer.simulated.int8_ranges["bn1.act"][1] / levels, rel=1e-5)
    assert int8.fp32_modules == {"bn2.act": NO_KERNEL} and int8.unused_ranges == {}
    x = batches[0]
    with torch.no_grad():
        simulated, actual = quantizer.model(x), int8(x)
    assert float((actual - simulated).norm() / simulated.norm()) < 0.05
    assert isinstance(model.bn1, BatchNormAct2d)
