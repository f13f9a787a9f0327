"""1-bit weights (BWN) and activations ({0, alpha}) in every QAT quantizer, and BinaryQuantizer's defaults."""
import pytest
import torch
from torch import nn

from compressor.compression.core.components import QUANTIZERS, BuildContext
from compressor.compression.core.errors import ScheduleError, UserError
from compressor.compression.pruning.masks import MaskStore
from compressor.compression.quantization.qat import binary_activations, qat_activation_ranges, quantized_weight
from compressor.compression.quantization.qat import fake_quant as fq
from compressor.compression.schedule import parse_schedule_text
from qat_helpers import QUANTIZER_CLASSES, build, qat_schedule

NO_INPUT = {"QuantAwareTrainRangeLinearQuantizer": "quantize_inputs: false"}
SMALL_ALPHA = {"PACTQuantizer": "act_clip_init_val: 1.0"}


def binary_schedule(cls, extra="", overrides=""):
    return qat_schedule(cls, bits=1, extra="\n".join([NO_INPUT.get(cls, ""), SMALL_ALPHA.get(cls, ""), extra]),
                        overrides=overrides)


def expected_binary(weight):
    scale = weight.detach().abs().flatten(1).mean(1).reshape((-1,) + (1,) * (weight.dim() - 1))
    return torch.sign(weight.detach()) * scale


@pytest.mark.parametrize("cls", QUANTIZER_CLASSES + ["BinaryQuantizer"])
def test_one_bit_weights_are_the_sign_times_the_channels_mean_abs(cls):
    scheduler, context = build(binary_schedule(cls))
    scheduler.on_epoch_begin(0)
    for name in ("conv2", "conv3", "fc1"):
        module = context.model.get_submodule(name)
        weight = quantized_weight(module)
        assert torch.equal(weight, expected_binary(module.weight)), name
        assert max(torch.unique(channel).numel() for channel in weight) == 2


def test_binary_quantizer_keeps_the_first_and_last_layers_at_8_bits_and_activations_fp32():
    scheduler, context = build(qat_schedule("BinaryQuantizer", bits=1).replace("    bits_activations: 1\n", ""))
    scheduler.on_epoch_begin(0)
    model = context.model
    assert torch.unique(quantized_weight(model.conv1)).numel() > 16  # 8-bit, per channel
    assert torch.unique(quantized_weight(model.fc2)).numel() > 16
    assert torch.equal(quantized_weight(model.conv2), expected_binary(model.conv2.weight))
    assert qat_activation_ranges(model) == {} and binary_activations(model) == []


def test_binary_quantizer_first_and_last_layers_as_configured():
    scheduler, context = build(qat_schedule("BinaryQuantizer", bits=1, extra="first_last_bits_weights: 2",
                                            overrides="fc2: {bits_weights: 1}\nconv1: {bits_bias: 8}"))
    scheduler.on_epoch_begin(0)
    model = context.model
    assert torch.equal(quantized_weight(model.fc2), expected_binary(model.fc2.weight))  # the override wins
    weight = quantized_weight(model.conv1)  # an override that leaves bits_weights out keeps the 2 bits
    assert max(torch.unique(channel).numel() for channel in weight) in (3, 4)  # not binary, not 8 bits
    scheduler, context = build(qat_schedule("BinaryQuantizer", bits=1, extra="first_last_bits_weights: null"))
    assert quantized_weight(context.model.conv1) is None and quantized_weight(context.model.fc2) is None  # FP32


def test_pruned_weights_stay_zero_and_out_of_the_scale():
    scheduler, context = build(binary_schedule("BinaryQuantizer"))
    scheduler.on_epoch_begin(0)
    conv = context.model.conv2
    with torch.no_grad():
        conv.weight[:, :16] = 0  # as a pruner's mask leaves them
    weight = quantized_weight(conv)
    assert torch.all(weight[:, :16] == 0)
    assert torch.allclose(weight[:, 16:], expected_binary(conv.weight[:, 16:]), rtol=1e-6, atol=0)
    assert max(torch.unique(channel).numel() for channel in weight[:, 16:]) == 2


def test_binary_weight_gradient_is_straight_through_and_cancelled_where_abs_w_exceeds_one():
    weight = torch.tensor([[0.5, -0.25, 2.0, -1.5]], requires_grad=True)
    upstream = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    (fq.binary_weight(weight) * upstream).sum().backward()
    scale, sign = 4.25 / 4, torch.tensor([1.0, -1.0, 1.0, -1.0])
    through_scale = sign / 4 * (upstream * sign).sum()  # d(mean |w|)/dw times sum(g * sign(w))
    through_sign = upstream * scale * torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert torch.allclose(weight.grad, through_scale + through_sign)


@pytest.mark.parametrize("cls", QUANTIZER_CLASSES + ["BinaryQuantizer"])
def test_one_bit_activations_are_zero_or_alpha_and_pass_gradients(cls, digits_batch):
    scheduler, context = build(binary_schedule(cls))
    scheduler.on_epoch_begin(0)
    model = context.model
    seen = {}
    model.relu2.register_forward_hook(lambda module, inputs, output: seen.__setitem__("relu2", output))
    model.train()
    x, y = digits_batch
    nn.functional.cross_entropy(model(x), y).backward()
    alpha = qat_activation_ranges(model)["relu2"][1]
    values = torch.unique(seen["relu2"].detach())
    assert values.numel() == 2 and values[0] == 0 and values[1] == pytest.approx(alpha)
    assert binary_activations(model) == ["relu1", "relu2", "relu3", "relu4"]
    assert model.conv1.weight.grad.abs().sum() > 0  # through every binarized ReLU


def test_binary_level_is_the_l2_nearest_and_follows_a_moving_average(digits_batch):
    half_normal = torch.randn(100_000, generator=torch.Generator().manual_seed(0)).relu()

    def error(alpha):
        return ((half_normal - fq.binary_activation(half_normal, torch.tensor(alpha))) ** 2).mean().item()

    best = min(error(step / 100) for step in range(50, 200))
    assert error(fq.binary_level(half_normal).item()) <= 1.002 * best
    scheduler, context = build(binary_schedule("BinaryQuantizer"))
    scheduler.on_epoch_begin(0)
    model = context.model
    model.train()
    seen = []
    model.relu1.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].detach().relu()))
    for _ in range(2):
        model(digits_batch[0])
    decay = 0.99
    levels = [fq.binary_level(x) for x in seen]
    expected = ((1 - decay) * decay * levels[0] + (1 - decay) * levels[1]) / (1 - decay ** 2)
    assert qat_activation_ranges(model)["relu1"][1] == pytest.approx(expected.item(), rel=1e-5)


def test_one_bit_activations_on_a_module_that_is_no_activation_are_refused():
    with pytest.raises(ScheduleError) as err:
        build(qat_schedule("LSQQuantizer", bits=4, overrides="conv2: {bits_activations: 1}"))
    (problem,) = err.value.problems
    assert problem.path == "quantizers.q"
    assert "'conv2' asks for 1-bit activations" in problem.message and "conv2 (Conv2d)" in problem.message
    assert "relu1, relu2, relu3, relu4" in problem.message
    build(qat_schedule("LSQQuantizer", bits=4, overrides="relu2: {bits_activations: 1}"))  # an activation: fine


class FunctionalReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3), nn.Linear(144, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.mark.parametrize("quantizer, bits", [("BinaryQuantizer", 1), ("LSQQuantizer", 4)])
def test_activations_on_a_model_without_activation_modules_are_refused(quantizer, bits):
    """Activations are quantized at activation modules: a model that calls torch.relu has none, and the request
    would otherwise quantize the weights alone without a word."""
    model = FunctionalReLU()
    context = BuildContext(model, torch.optim.SGD(model.parameters(), lr=0.1), MaskStore(model), (1, 8, 8),
                           torch.device("cpu"))
    entry = QUANTIZERS.get(quantizer)
    with pytest.raises(UserError, match=rf"bits_activations: {bits} quantizes the outputs of activation modules "
                                        r"\(ReLU, ReLU6.*the model has none .* set bits_activations: null"):
        entry.factory(entry.config(bits_activations=bits), context)
    entry.factory(entry.config(bits_activations=None), context)  # the weights alone: fine


def test_range_linear_never_binarizes_the_models_input():
    with pytest.raises(ScheduleError, match=r"quantizers\.q .*input cannot be quantized to 1 bit"):
        parse_schedule_text(qat_schedule("QuantAwareTrainRangeLinearQuantizer", bits=1))
    scheduler, context = build(qat_schedule("QuantAwareTrainRangeLinearQuantizer", bits=1,
                                            extra="num_bits_inputs: 8"))
    assert qat_activation_ranges(context.model).keys() >= {"", "relu1"}
    assert binary_activations(context.model) == ["relu1", "relu2", "relu3", "relu4"]
