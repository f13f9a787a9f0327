"""Each QAT quantizer builds from a schedule, quantizes weights and activations in place, and trains."""
import pytest
import torch
from torch import nn

from compressor.compression.core.components import QUANTIZERS
from compressor.compression.quantization.qat import qat_activation_ranges, quantized_weight
from qat_helpers import QUANTIZER_CLASSES, build, qat_schedule


def capture_outputs(model, names):
    seen = {}
    modules = dict(model.named_modules())
    handles = [modules[n].register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o.detach()))
               for n in names]
    return seen, handles


@pytest.mark.parametrize("cls", QUANTIZER_CLASSES)
def test_registered_and_off_until_its_first_epoch(cls, digits_batch):
    assert cls in QUANTIZERS
    scheduler, context = build(qat_schedule(cls, start=1, end=3))
    x, _ = digits_batch
    context.model.eval()
    before = context.model(x)
    plain = _plain_model()
    plain.eval()
    assert torch.equal(before, plain(x))
    scheduler.on_epoch_begin(0)
    assert torch.equal(context.model(x), before)
    scheduler.on_epoch_end(0, metrics={"val_loss": 1.0})
    scheduler.on_epoch_begin(1)
    assert not torch.equal(context.model(x), before)


def _plain_model():
    _, context = build("version: 1\n")
    return context.model


@pytest.mark.parametrize("cls", QUANTIZER_CLASSES)
def test_weights_take_at_most_2_to_the_bits_values(cls):
    scheduler, context = build(qat_schedule(cls, bits=3))
    scheduler.on_epoch_begin(0)
    model = context.model
    weight = quantized_weight(model.conv2)
    assert torch.unique(weight).numel() <= 2 ** 3
    probe = torch.randn(2, 32, 8, 8)
    assert torch.allclose(model.conv2(probe), nn.functional.conv2d(probe, weight, model.conv2.bias, padding=1),
                          atol=1e-5)


def test_per_channel_weights_take_at_most_2_to_the_bits_values_per_channel():
    for cls, extra in (("QuantAwareTrainRangeLinearQuantizer", "per_channel_wts: true"),
                       ("LSQQuantizer", "per_channel_wts: true")):
        scheduler, context = build(qat_schedule(cls, bits=2, extra=extra))
        scheduler.on_epoch_begin(0)
        weight = quantized_weight(context.model.conv3)
        assert max(torch.unique(channel).numel() for channel in weight) <= 4
        assert torch.unique(weight).numel() > 4  # the channels' scales differ


@pytest.mark.parametrize("cls", QUANTIZER_CLASSES)
def test_activations_are_quantized(cls, digits_batch):
    scheduler, context = build(qat_schedule(cls, bits=3))
    scheduler.on_epoch_begin(0)
    seen, _ = capture_outputs(context.model, ["relu2", "relu4"])
    context.model.train()
    context.model(digits_batch[0])
    for name in ("relu2", "relu4"):
        assert torch.unique(seen[name]).numel() <= 2 ** 3, name
    assert set(qat_activation_ranges(context.model)) >= {"relu1", "relu2", "relu3", "relu4"}


@pytest.mark.parametrize("cls", QUANTIZER_CLASSES)
def test_gradients_flow_and_parameter_names_are_unchanged(cls, digits_batch):
    plain = _plain_model()
    scheduler, context = build(qat_schedule(cls))
    model = context.model
    if cls == "WRPNQuantizer":  # WRPN's weights live in [-1, 1]: freshly initialised ones all round to 0
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    module.weight.mul_(20)
    scheduler.on_epoch_begin(0)
    x, y = digits_batch
    nn.functional.cross_entropy(model(x), y).backward()
    for name in ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"):
        grad = model.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert list(model.state_dict()) == list(plain.state_dict())
    original = {name for name, _ in plain.named_parameters()}
    assert original <= {name for name, _ in model.named_parameters()}
    assert all(name.rsplit(".", 1)[-1].startswith("qat_")
               for name, _ in model.named_parameters() if name not in original)


@pytest.mark.parametrize("cls, learned", [("PACTQuantizer", "qat_clip_val"), ("LSQQuantizer", "qat_out_step"),
                                          ("LSQQuantizer", "qat_weight_step")])
def test_learned_quantization_parameters_train(cls, learned, digits_batch):
    scheduler, context = build(qat_schedule(cls, extra="act_clip_init_val: 1.0" if cls == "PACTQuantizer" else ""))
    model = context.model
    scheduler.on_epoch_begin(0)
    x, y = digits_batch
    nn.functional.cross_entropy(model(x), y).backward()
    params = [p for n, p in model.named_parameters() if n.endswith(learned)]
    assert params
    in_optimizer = {id(p) for group in context.optimizer.param_groups for p in group["params"]}
    for param in params:
        assert id(param) in in_optimizer
        assert param.grad is not None and param.grad.abs().sum() > 0
    before = [p.detach().clone() for p in params]
    context.optimizer.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, params))


def test_pact_alpha_gets_its_own_weight_decay():
    scheduler, context = build(qat_schedule("PACTQuantizer", extra="act_clip_decay: 0.0005"))
    group = context.optimizer.param_groups[-1]
    assert group["weight_decay"] == 0.0005
    assert [p.item() for p in group["params"]] == [8.0] * 4  # Distiller's act_clip_init_val


def test_overrides_first_match_wins_and_null_leaves_fp32(digits_batch):
    overrides = "conv1: {bits_weights: 8}\nconv.*: {bits_weights: 2}\nfc2: null\nrelu4: null"
    scheduler, context = build(qat_schedule("QuantAwareTrainRangeLinearQuantizer", bits=4, overrides=overrides))
    scheduler.on_epoch_begin(0)
    model = context.model
    assert torch.unique(quantized_weight(model.conv1)).numel() > 16
    assert torch.unique(quantized_weight(model.conv2)).numel() <= 4
    assert torch.unique(quantized_weight(model.fc1)).numel() <= 16
    assert quantized_weight(model.fc2) is None
    assert "relu4" not in qat_activation_ranges(model) and "relu3" in qat_activation_ranges(model)


def test_an_override_keyed_by_a_layers_exact_name_wins_over_an_earlier_regex():
    overrides = "conv.*: {bits_weights: 2}\nconv2: null"
    scheduler, context = build(qat_schedule("QuantAwareTrainRangeLinearQuantizer", bits=4, overrides=overrides))
    scheduler.on_epoch_begin(0)
    assert quantized_weight(context.model.conv2) is None
    assert torch.unique(quantized_weight(context.model.conv1)).numel() <= 4


def test_range_linear_input_and_modes(digits_batch):
    extra = "mode: {activations: ASYMMETRIC_UNSIGNED, weights: symmetric_restricted}\nnum_bits_inputs: 3"
    scheduler, context = build(qat_schedule("QuantAwareTrainRangeLinearQuantizer", bits=4, extra=extra))
    scheduler.on_epoch_begin(0)
    model = context.model
    seen = {}
    model.conv1.register_forward_pre_hook(lambda m, i: seen.__setitem__("input", i[0].detach()))
    model.train()
    model(digits_batch[0])
    assert torch.unique(seen["input"]).numel() <= 8
    low, high = qat_activation_ranges(model)[""]
    assert low < 0 < high
    weight = quantized_weight(model.conv2)
    scale = weight.abs().max() / 7
    assert torch.unique(torch.round(weight / scale)).abs().max() <= 7  # restricted: [-7, 7]
