from pathlib import Path

import pytest
import torch
from torch import nn

from compressor.compression.core.errors import UserError
from compressor.compression.models import build_model
from compressor.compression.quantization.int8_backend import (NO_KERNEL, REQUESTED, convert_to_int8,
                                                                  full_range_activations)
from compressor.compression.quantization.int8_files import (load_int8_torchscript,
                                                              save_int8_torchscript)
from compressor.datasets import DatasetConfig, build_datasets

QUANTIZED_CONVS = (torch.ao.nn.quantized.Conv2d,)


@pytest.fixture(scope="module")
def digits():
    torch.manual_seed(0)
    splits = build_datasets(DatasetConfig(name="digits"), (1, 8, 8), 10, seed=0)
    train_x, train_y = splits.train.tensors
    model = build_model("digits_cnn")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for inputs, labels in zip(train_x.split(64), train_y.split(64)):  # one quick epoch
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()
    return model.eval(), train_x[:64], splits.test.tensors[0]


def convert(model, calibration, **options):
    return convert_to_int8(model, (calibration[:2],), calibration.split(16), **options)


@pytest.fixture(scope="module")
def int8(digits):
    model, calibration, _ = digits
    return convert(model, calibration)


def test_converted_model_runs_int8_kernels_and_agrees_with_fp32(digits, int8):
    model, _, test_images = digits
    assert any(isinstance(module, QUANTIZED_CONVS) for module in int8.module.modules())
    assert int8.fp32_modules == {} and int8.engine == "x86"
    with torch.no_grad():
        expected = model(test_images).argmax(1)
    agreement = (int8(test_images).argmax(1) == expected).float().mean().item()
    assert agreement >= 0.9


def test_requested_fp32_module_stays_float_and_per_tensor_weights(digits, int8):
    model, calibration, _ = digits
    partial = convert(model, calibration, fp32_modules=["conv2"], per_channel=False)
    assert partial.fp32_modules == {"conv2": REQUESTED}
    conv2 = partial.module.get_submodule("conv2")
    assert not isinstance(conv2, QUANTIZED_CONVS) and conv2[0].weight.dtype == torch.float32
    assert isinstance(partial.module.get_submodule("conv3"), QUANTIZED_CONVS)
    assert partial.module.get_submodule("fc1").weight().qscheme() == torch.per_tensor_affine
    assert int8.module.get_submodule("fc1").weight().qscheme() == torch.per_channel_affine


def test_activation_range_sets_output_scale_of_fused_layer(digits, int8):
    model, calibration, _ = digits
    observed = int8.module.get_submodule("conv1").scale
    fixed = convert(model, calibration, activation_ranges={"relu1": (0.0, 12.7), "conv1": (-1.0, 1.0)})
    conv1 = fixed.module.get_submodule("conv1")  # conv1 + bn1 + relu1 fused: relu1's range is its output
    levels = 2 ** fixed.activation_bits - 1
    assert conv1.scale == pytest.approx(12.7 / levels) and conv1.scale != pytest.approx(observed)
    assert list(fixed.unused_ranges) == ["conv1"] and "fused" in fixed.unused_ranges["conv1"]


def x86_activation_bits_from_cpuinfo():
    """8 where the CPU has AVX512-VNNI (u8 x s8 products summed in int32), 7 where it has no VNNI at all.

    None where /proc/cpuinfo says nothing (not Linux on x86) or the CPU has AVX-VNNI only: torch's
    `_is_vnni_supported` looks at avx512_vnni alone, so there the choice is torch's, not the CPU's.
    """
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), None)
    if flags is None or ("avx_vnni" in flags and "avx512_vnni" not in flags):
        return None
    return 8 if "avx512_vnni" in flags else 7


def test_activations_use_all_8_bits_where_the_engine_allows(digits):
    model, calibration, _ = digits
    fixed = {"relu1": (0.0, 25.5)}
    x86 = convert(model, calibration, activation_ranges=fixed)
    expected_bits = x86_activation_bits_from_cpuinfo()
    if expected_bits is not None:
        assert x86.activation_bits == expected_bits
    assert x86.activation_bits == (8 if full_range_activations("x86") else 7)
    # the converted op's output scale spreads the fixed range over the levels actually used
    levels = 2 ** x86.activation_bits
    conv1 = x86.module.get_submodule("conv1")
    assert conv1.zero_point == 0 and conv1.scale == pytest.approx(25.5 / (levels - 1))
    observers = [module for name, module in x86.calibrated.named_modules()
                 if name.startswith("activation_post_process") and module.dtype == torch.quint8]
    assert observers and all(o.quant_max - o.quant_min + 1 == levels for o in observers)
    onednn = convert(model, calibration, engine="onednn", activation_ranges=fixed)
    assert onednn.activation_bits == 8
    assert onednn.module.get_submodule("conv1").scale == pytest.approx(25.5 / 255)


def test_ops_without_int8_kernel_stay_fp32_and_are_listed():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4), nn.SiLU(), nn.Flatten(), nn.Linear(144, 3)).eval()
    images = torch.randn(8, 1, 8, 8)
    int8 = convert(model, images)
    assert int8.fp32_modules.get("1") == NO_KERNEL and int8.fp32_modules.get("2") == NO_KERNEL
    assert int8(images).shape == (8, 3)


def test_a_flatten_module_stays_in_int8_as_torch_flatten_does():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3)).eval()
    images = torch.randn(8, 1, 8, 8)
    int8 = convert(model, images)
    assert int8.fp32_modules == {}
    assert [n.target for n in int8.module.graph.nodes if n.target == "dequantize"] == ["dequantize"]  # the output's
    assert isinstance(model[3], nn.Flatten)  # the model converted is left as it was
    assert torch.allclose(int8(images), model(images), atol=0.1)


class Concat(nn.Module):
    """Two convolutions whose outputs torch.cat joins: in int8 both share the cat's one scale."""

    def __init__(self):
        super().__init__()
        self.wide, self.narrow = nn.Conv2d(1, 2, 1), nn.Conv2d(1, 2, 1)

    def forward(self, x):
        return torch.cat([self.wide(x), self.narrow(x)], dim=1)


def test_outputs_sharing_one_scale_take_the_union_of_their_ranges():
    images = torch.rand(8, 1, 4, 4)
    int8 = convert(Concat().eval(), images, activation_ranges={"wide": (-20.0, 20.0), "narrow": (-1.0, 1.0)})
    cat = int8.module.graph.find_nodes(op="call_function", target=torch.cat)[0]
    scales = [int8.module.get_submodule(str(arg.target)).scale for arg in cat.args[0]]
    assert scales == [pytest.approx(40.0 / (2 ** int8.activation_bits - 1))] * 2  # neither range clipped


class Branchy(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


def test_untraceable_model_is_a_user_error():
    with pytest.raises(UserError, match="cannot be converted to int8"):
        convert(Branchy(), torch.randn(4, 1, 8, 8))


@pytest.mark.parametrize("options, message", [
    ({"fp32_modules": ["conv9"]}, "unknown module 'conv9'"),
    ({"activation_ranges": {"relu1": (1.0, 0.0)}}, "min 1.0 > max 0.0"),
    ({"engine": "tpu"}, "unknown engine 'tpu'"),
])
def test_bad_options(digits, options, message):
    model, calibration, _ = digits
    with pytest.raises(UserError, match=message):
        convert(model, calibration, **options)


def test_torchscript_round_trip(digits, int8, tmp_path):
    _, calibration, test_images = digits
    path = tmp_path / "int8.pt"
    size = save_int8_torchscript(int8, (calibration[:2],), path)
    assert size == path.stat().st_size > 0
    loaded = load_int8_torchscript(path)
    with torch.no_grad():
        assert torch.equal(loaded(test_images), int8(test_images))


def test_loading_a_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_int8_torchscript(tmp_path / "missing.pt")
