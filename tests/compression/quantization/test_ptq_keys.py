"""The PostTrainLinearQuantizer keys of Distiller's examples: bits set to null, bits_weights in overrides,
input_overrides, quantize_inputs, inputs_quant_auto_fallback, in the simulated and the real int8 model."""
import pytest
import torch

from compressor.compression.core.errors import UserError
from compressor.compression.models import build_model
from compressor.compression.quantization.post_train_quantizer import PostTrainLinearQuantizer
from compressor.compression.quantization.ptq import fold_batchnorm, int8_deployable, layer_plan, simulate
from compressor.compression.quantization.ptq_config import PostTrainConfig
from compressor.compression.quantization.registration import post_train_config
from compressor.compression.quantization.stats import collect_activation_stats
from compressor.compression.schedule import parse_schedule_text


@pytest.fixture(scope="module")
def digits():
    torch.manual_seed(0)
    model = build_model("digits_cnn").eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_var.uniform_(0.5, 2.0)
    images = [torch.randn(16, 1, 8, 8) for _ in range(2)]
    return model, images, collect_activation_stats(model, images)


def simulated(digits, **settings):
    model, images, stats = digits
    config = PostTrainConfig.model_validate(settings)
    return simulate(model, config, stats, layer_plan(config, model), images)


def seen(result, module, images, inputs=False):
    """What `module` of the simulated model received (inputs=True) or gave, on `images`."""
    found = []
    target = result.model.get_submodule(module)
    if inputs:
        handle = target.register_forward_pre_hook(lambda m, i: found.append(i[0]))
    else:
        handle = target.register_forward_hook(lambda m, i, o: found.append(o))
    with torch.no_grad():
        result.model(images)
    handle.remove()
    return found[0]


def levels(tensor):
    return tensor.unique().numel()


def test_bits_activations_null_quantizes_weights_only(digits):
    model, images, _ = digits
    result = simulated(digits, bits_activations=None, bits_parameters=4)
    assert result.layout.tensors == []  # no activation is quantized
    assert levels(seen(result, "fc2", torch.cat(images))) > 256  # 320 values, all different
    weight = result.model.conv2.weight
    assert all(levels(weight[c]) <= 16 for c in range(weight.shape[0]))
    assert not int8_deployable(result.plan)  # no layer with both kinds in 8 bits: no int8 model


def test_bits_parameters_null_keeps_fp32_weights_and_the_int8_model_keeps_those_layers(digits):
    model, images, _ = digits
    result = simulated(digits, bits_parameters=None, bits_activations=4)
    folded, _ = fold_batchnorm(model)
    assert torch.equal(result.model.conv2.weight, folded.conv2.weight)
    assert levels(seen(result, "fc2", images[0])) <= 16 and levels(seen(result, "relu2", images[0])) <= 16
    assert result.layout.int8_fp32["conv2"] == "weights not quantized (bits_weights: null)"


def test_bits_weights_null_in_overrides_leaves_that_layer_fp32_weights(digits):
    model, images, stats = digits
    result = simulated(digits, overrides={"fc2": {"bits_weights": None}, "conv.*": {"bits_weights": 4}})
    folded, _ = fold_batchnorm(model)
    assert torch.equal(result.model.fc2.weight, folded.fc2.weight)
    assert levels(result.model.conv1.weight) <= 16 * result.model.conv1.weight.shape[0]
    assert not torch.equal(result.model.fc1.weight, folded.fc1.weight)  # the default 8 bits
    assert levels(seen(result, "fc2", images[0])) <= 256  # its output is still quantized
    quantizer = PostTrainLinearQuantizer(model, model_activation_stats=stats, overrides={"fc2": {"bits_weights": None}})
    quantizer.prepare_model()
    int8 = quantizer.convert_to_int8(images)
    assert int8.fp32_modules["fc2"] == "requested"
    assert quantizer.simulated.layout.int8_fp32 == {"fc2": "weights not quantized (bits_weights: null)"}


def test_input_overrides_quantize_an_unquantized_input_with_their_settings(digits):
    model, images, stats = digits
    plain = simulated(digits)
    four = simulated(digits, overrides={"conv1": {"input_overrides": {0: {"bits_activations": 4}}}})
    assert levels(seen(plain, "conv1", images[0], inputs=True)) > 16
    assert levels(seen(four, "conv1", images[0], inputs=True)) <= 16
    same = simulated(digits, bits_activations=6, overrides={"fc1": {"input_overrides": {0: {"from_output": True}}}})
    assert levels(seen(same, "fc1", images[0], inputs=True)) <= 64  # flatten hands fc1 an unquantized tensor
    # the int8 model has no step of its own there (flatten keeps the pooling's scale): fc1 stays FP32
    assert "fc1" in same.layout.int8_fp32 and "conv1" not in four.layout.int8_fp32  # the model's input: applied
    assert four.input_range == four.ranges["conv1.inputs.0"]


def test_input_overrides_on_an_input_already_quantized_is_refused_with_its_line(digits):
    model, _, _ = digits
    text = ("quantizers:\n  ptq:\n    class: PostTrainLinearQuantizer\n    overrides:\n      conv2:\n"
            "        input_overrides: {0: {bits_activations: 6}}\n")
    config = post_train_config(parse_schedule_text(text, "ptq.yaml"))
    with pytest.raises(UserError, match=r"ptq.yaml: quantizers.ptq.overrides.conv2.input_overrides \(line 6\): "
                                        r"input 0 of 'conv2' is already quantized by 'conv1'"):
        simulate(model, config, digits[2], layer_plan(config, model))


def test_without_auto_fallback_unquantized_inputs_need_input_overrides(digits):
    with pytest.raises(UserError, match="input 0 of 'conv1' comes unquantized from the model's input and "
                                        "inputs_quant_auto_fallback is false"):
        simulated(digits, inputs_quant_auto_fallback=False)
    with pytest.raises(UserError, match="input 0 of 'fc1' comes unquantized from 'flatten'"):
        simulated(digits, inputs_quant_auto_fallback=False,
                  overrides={"conv1": {"input_overrides": {0: {"from_output": True}}}})
    result = simulated(digits, inputs_quant_auto_fallback=False,
                       overrides={"conv1|fc1": {"input_overrides": {0: {"from_output": True}}}})
    assert {t.name for t in result.layout.tensors if ".inputs." in t.name} == {"conv1.inputs.0", "fc1.inputs.0"}


def test_quantize_inputs_false_leaves_a_weightless_operations_input_as_it_comes(digits):
    _, images, _ = digits
    # conv1 in FP32: relu1 reads an unquantized tensor, and quantizes it unless told not to
    quantizing = simulated(digits, overrides={"conv1": None})
    passing = simulated(digits, overrides={"conv1": None, "relu1": {"quantize_inputs": False}})
    assert levels(seen(quantizing, "relu1", images[0], inputs=True)) <= 256
    assert levels(seen(passing, "relu1", images[0], inputs=True)) > 256
    assert levels(seen(passing, "relu1", images[0])) <= 256  # its output is quantized either way
    assert "relu1" in passing.layout.int8_fp32 and "relu1" not in quantizing.layout.int8_fp32


def test_the_python_api_takes_distillers_constructor_arguments(digits):
    model, images, stats = digits
    quantizer = PostTrainLinearQuantizer(model, bits_activations=None, bits_parameters=None,
                                         inputs_quant_auto_fallback=True, model_activation_stats=stats,
                                         overrides={"conv.*": {"bits_activations": 8, "bits_weights": 8}})
    simulated_model = quantizer.prepare_model(images[0][:1])
    assert quantizer.plan["fc1"] is None and quantizer.plan["conv2"].bits_weights == 8
    assert levels(seen(quantizer.simulated, "relu2", images[0])) <= 256
    assert levels(seen(quantizer.simulated, "fc2", torch.cat(images))) > 256
    int8 = quantizer.convert_to_int8(images)
    assert {"fc1", "fc2"} <= set(int8.fp32_modules)
    with torch.no_grad():
        assert int8(images[0]).shape == simulated_model(images[0]).shape


@pytest.mark.parametrize("key, value", [("bits_accum", 16), ("scale_approx_mult_bits", 8)])
def test_accumulator_and_multiplier_settings_the_int8_model_cannot_honour_are_refused_with_their_line(key, value):
    text = f"quantizers:\n  ptq:\n    class: PostTrainLinearQuantizer\n    bits_activations: 8\n    {key}: {value}\n"
    with pytest.raises(UserError, match=rf"(?s)ptq.yaml.*quantizers.ptq.{key} \(line 5\).*(only 32|not approximated)"):
        post_train_config(parse_schedule_text(text, "ptq.yaml"))
