import pytest
import torch

from compressor.compression.core.errors import UserError
from compressor.compression.models import build_model
from compressor.compression.quantization.ptq import fold_batchnorm, layer_plan, simulate
from compressor.compression.quantization.ptq_config import PostTrainConfig
from compressor.compression.quantization.ranges import clipped_range, fake_quantize, quantization_params
from compressor.compression.quantization.stats import TensorStats, collect_activation_stats
from helpers import give_batchnorms_statistics


def test_symmetric_and_asymmetric_parameters_follow_distiller():
    scale, zero_point = quantization_params(-2.0, 4.0, 8, "SYMMETRIC_RESTRICTED")
    assert scale.item() == pytest.approx(127 / 4) and zero_point.item() == 0
    scale, zero_point = quantization_params(-2.0, 4.0, 8, "ASYMMETRIC_UNSIGNED")
    assert scale.item() == pytest.approx(255 / 6) and zero_point.item() == round(-2.0 * 255 / 6)
    x = torch.linspace(-2, 4, 1000)
    q = fake_quantize(x, scale, zero_point, 8, "ASYMMETRIC_UNSIGNED")
    assert q.unique().numel() <= 256 and (q - x).abs().max() <= 0.5 / scale + 1e-6


def test_four_bits_give_at_most_sixteen_levels():
    x = torch.randn(10_000)
    for mode in ("SYMMETRIC", "SYMMETRIC_RESTRICTED", "ASYMMETRIC_UNSIGNED", "ASYMMETRIC_SIGNED"):
        scale, zero_point = quantization_params(x.min(), x.max(), 4, mode)
        assert fake_quantize(x, scale, zero_point, 4, mode).unique().numel() <= 16


def test_clip_modes_use_their_statistics():
    stats = TensorStats(min=-10.0, max=10.0, avg_min=-4.0, avg_max=5.0, mean=0.5, std=1.0, b=0.8, shape=(8, 4))
    assert clipped_range(stats, "NONE", 8) == (-10.0, 10.0)
    assert clipped_range(stats, "AVG", 8) == (-4.0, 5.0)
    assert clipped_range(stats, "N_STD", 8, n_stds=2) == (-1.5, 2.5)
    low, high = clipped_range(stats, "LAPLACE", 4)
    assert high == pytest.approx(0.5 + 5.03 * 0.8)
    relu = TensorStats(min=0.0, max=6.0, avg_min=0.0, avg_max=5.0, mean=1.0, std=1.0, b=1.0, shape=(8, 4))
    assert clipped_range(relu, "N_STD", 8, n_stds=1)[0] == 0.0


def test_overrides_in_order_first_match_wins_and_null_means_fp32():
    config = PostTrainConfig(overrides={"conv1": None, "conv.*": {"bits_activations": 6}, "fc2": {"bits_parameters": 4}})
    plan = layer_plan(config, build_model("digits_cnn"))
    assert plan["conv1"] is None
    assert plan["conv2"].bits_activations == 6 and plan["conv3"].bits_activations == 6
    assert plan["fc2"].bits_weights == 4 and plan["fc1"].bits_weights == 8


def test_an_override_keyed_by_a_layers_exact_name_wins_over_an_earlier_regex():
    config = PostTrainConfig(overrides={"conv.*": {"bits_weights": 4}, "conv2": None})  # as Distiller decides
    plan = layer_plan(config, build_model("digits_cnn"))
    assert plan["conv2"] is None and plan["conv1"].bits_weights == 4 and plan["conv3"].bits_weights == 4


def test_an_override_matching_nothing_lists_the_modules():
    with pytest.raises(UserError, match="'layer9.*' matches no module.*conv1"):
        layer_plan(PostTrainConfig(overrides={"layer9.*": None}), build_model("digits_cnn"))


def test_batchnorm_folding_keeps_outputs():
    torch.manual_seed(0)
    model = build_model("resnet20_cifar").eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    folded, pairs = fold_batchnorm(model)
    assert pairs["conv1"] == "bn1" and pairs["layer2.0.downsample.0"] == "layer2.0.downsample.1"
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model(x), folded(x), atol=1e-4)


def test_a_batchnorm_that_reads_a_residual_sum_is_not_folded_into_the_conv_registered_before_it():
    model = give_batchnorms_statistics(build_model("preact_resnet20_cifar"))
    folded, pairs = fold_batchnorm(model)
    assert pairs["layer1.0.conv1"] == "layer1.0.bn"
    assert "layer1.0.conv2" not in pairs and "conv1" not in pairs  # layer1.1.pre_bn reads conv2 + shortcut
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), folded(x), atol=1e-4)


def test_simulated_model_quantizes_weights_and_activations_and_writes_params():
    torch.manual_seed(0)
    model = build_model("digits_cnn").eval()
    images = [torch.randn(16, 1, 8, 8) for _ in range(2)]
    stats = collect_activation_stats(model, images)
    config = PostTrainConfig(bits_activations=4, bits_parameters=4, per_channel_wts=True)
    result = simulate(model, config, stats, layer_plan(config, model), images)
    weight = result.model.conv2.weight
    assert all(weight[c].unique().numel() <= 16 for c in range(weight.shape[0]))
    seen = {}
    # fc1's ReLU is fused into it (Distiller's rule): the ReLU's output is fc1's quantized output
    result.model.relu4.register_forward_hook(lambda m, i, o: seen.setdefault("fc1", o))
    result.model.fc2.register_forward_hook(lambda m, i, o: seen.setdefault("fc2", o))
    result.model(images[0])
    assert seen["fc1"].unique().numel() <= 16 and seen["fc1"].min() >= 0
    assert seen["fc2"].unique().numel() <= 16
    params = result.params
    assert {"conv2.w_scale", "conv2.w_zero_point", "conv2.output_scale", "conv2.output_zero_point"} <= set(params)
    assert len(params["conv2.w_scale"]) == 64
    assert not torch.equal(model.conv2.weight, weight)  # the original model is untouched


class FunctionalRelu(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(1, 4, 3), torch.nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.fc(torch.nn.functional.relu(self.conv(x)).flatten(1))


def test_a_functional_relu_after_a_layer_starts_its_range_at_0():
    torch.manual_seed(0)
    model, images = FunctionalRelu().eval(), [torch.randn(16, 1, 8, 8)]
    stats = collect_activation_stats(model, images)
    assert stats["conv"].output.min < 0  # recorded before the ReLU
    config = PostTrainConfig(mode="ASYMMETRIC_UNSIGNED")
    result = simulate(model, config, stats, layer_plan(config, model), images)
    assert result.ranges["conv"] == (0.0, pytest.approx(stats["conv"].output.max))  # all 256 levels above 0
    assert result.params["conv.output_zero_point"] == 0

