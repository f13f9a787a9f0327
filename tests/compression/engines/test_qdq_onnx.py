"""The QDQ ONNX file of the torch int8 model: its scales are the int8 model's (from our ranges), and
onnxruntime and OpenVINO run it as the same model; ops an engine runs in FP32 are named."""
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from compressor.compression.engines import onnxruntime_engine, openvino_engine
from compressor.compression.engines.qdq_onnx import quantized_ops, save_qdq_onnx
from compressor.compression.models import build_model
from compressor.compression.quantization.int8_backend import convert_to_int8

RANGES = {"relu1": (0.0, 3.0), "relu2": (0.0, 5.0), "relu3": (0.0, 7.5), "relu4": (0.0, 11.0)}
INPUT_RANGE = (-2.0, 2.5)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """digits_cnn converted with given ranges (fc2 kept FP32), its QDQ file and images."""
    torch.manual_seed(0)
    model = build_model("digits_cnn").eval()
    images = torch.randn(64, 1, 8, 8)
    int8 = convert_to_int8(model, (images[:1],), list(images.split(16)), fp32_modules=["fc2"],
                           activation_ranges=RANGES, input_range=INPUT_RANGE)
    path = tmp_path_factory.mktemp("qdq") / "digits.onnx"
    save_qdq_onnx(int8, (images[:1],), path)
    return int8, path, images


def expected_quantization(low, high, bits):
    """torch.ao's affine uint8 scale and zero point of a range, at the int8 model's activation levels."""
    quant_max = 2 ** bits - 1
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / quant_max
    return scale, int(min(max(round(-low / scale), 0), quant_max))


def constant(graph, name):
    for tensor in graph.initializer:
        if tensor.name == name:
            return numpy_helper.to_array(tensor)
    for node in graph.node:
        if name in node.output and node.op_type == "Constant":
            return numpy_helper.to_array(node.attribute[0].t)
    raise KeyError(name)


def test_activation_scales_are_those_of_our_ranges(digits):
    int8, path, _ = digits
    graph = onnx.load(str(path)).graph
    found = [(float(constant(graph, node.input[1])), int(constant(graph, node.input[2])))
             for node in graph.node if node.op_type == "QuantizeLinear"]
    for low, high in [INPUT_RANGE, *RANGES.values()]:
        scale, zero_point = expected_quantization(low, high, int8.activation_bits)
        assert any(found_scale == pytest.approx(scale, rel=1e-6) and found_zero == zero_point
                   for found_scale, found_zero in found), (low, high)


def test_weights_are_the_int8_models_values_and_scales(digits):
    int8, path, _ = digits
    model = onnx.load(str(path))
    graph = model.graph
    for layer in ("conv1", "conv2", "conv3", "fc1"):
        weight = int8.module.get_submodule(layer).weight()
        values = constant(graph, f"{layer}.0.weight_int8")
        assert (values == weight.int_repr().numpy()).all()
        dequantize = next(node for node in graph.node
                          if node.op_type == "DequantizeLinear" and node.input[0] == f"{layer}.0.weight_int8")
        scales = constant(graph, dequantize.input[1])
        assert scales == pytest.approx(weight.q_per_channel_scales().numpy(), rel=1e-6)
    assert constant(graph, "fc2.weight").dtype.name == "float32"  # the FP32 layer stays FP32


def test_quantized_ops_name_layers_and_leave_out_fp32_ones(digits):
    _, path, _ = digits
    names = [op.name for op in quantized_ops(path)]
    assert {"conv1", "conv2", "conv3", "fc1"} <= set(names) and "fc2" not in names


@pytest.mark.parametrize("engine", [onnxruntime_engine, openvino_engine])
def test_engines_run_the_file_as_the_int8_model(digits, engine):
    int8, path, images = digits
    actual, expected = engine.load(path)(images), int8(images)
    fc1_step = RANGES["relu4"][1] / (2 ** int8.activation_bits - 1)
    # integer kernels round differently in places: at most one step of fc1's int8 output reaches fc2 (FP32)
    assert (actual - expected).abs().max() < fc1_step


class SmoothCNN(nn.Module):
    """A conv, an ELU (torch.ao has an int8 ELU; onnxruntime and OpenVINO do not) and a linear layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ELU()
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.act(self.conv(x)), 1))


def test_an_op_an_engine_cannot_run_in_int8_is_listed(tmp_path):
    torch.manual_seed(0)
    images = torch.randn(16, 1, 8, 8)
    int8 = convert_to_int8(SmoothCNN().eval(), (images[:1],), [images])
    assert int8.fp32_modules == {}  # torch runs all of it in int8
    save_qdq_onnx(int8, (images[:1],), tmp_path / "elu.onnx")
    ops = quantized_ops(tmp_path / "elu.onnx")
    assert {op.name for op in ops} >= {"conv", "/act/Elu", "fc"}
    for listed in (onnxruntime_engine.fp32_ops(tmp_path / "elu.onnx", ops),
                   openvino_engine.fp32_ops(openvino_engine.load(tmp_path / "elu.onnx"), ops)):
        assert list(listed) == ["/act/Elu"] and "FP32" in listed["/act/Elu"]


def test_per_tensor_weights_have_one_scale_each(tmp_path):
    torch.manual_seed(0)
    images = torch.randn(16, 1, 8, 8)
    int8 = convert_to_int8(build_model("digits_cnn").eval(), (images[:1],), [images], per_channel=False)
    save_qdq_onnx(int8, (images[:1],), tmp_path / "per_tensor.onnx")
    graph = onnx.load(str(tmp_path / "per_tensor.onnx")).graph
    dequantize = next(node for node in graph.node
                      if node.op_type == "DequantizeLinear" and node.input[0] == "conv2.0.weight_int8")
    scale = constant(graph, dequantize.input[1])
    assert scale.size == 1 and float(scale) == pytest.approx(int8.module.conv2.weight().q_scale(), rel=1e-6)
    actual, expected = onnxruntime_engine.load(tmp_path / "per_tensor.onnx")(images), int8(images)
    assert (actual - expected).abs().max() < 0.05


def test_a_model_with_no_onnx_form_is_refused_with_nothing_on_stdout(tmp_path, capfd):
    from compressor.compression.core.errors import UserError

    torch.manual_seed(0)
    images = torch.randn(16, 1, 14, 14)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),  # 14 / 4: no rule
                          nn.Flatten(), nn.Linear(64, 10)).eval()
    int8 = convert_to_int8(model, (images[:1],), [images])
    with pytest.raises(UserError, match="cannot be written as QDQ ONNX: Unsupported: ONNX export of operator "
                                        "adaptive_avg_pool2d"):
        save_qdq_onnx(int8, (images[:1],), tmp_path / "pool.onnx")
    assert capfd.readouterr().out == "" and not (tmp_path / "pool.onnx").exists()


class TwoReaders(nn.Module):
    """Two ELUs read the same quantized convolution output: onnxruntime gives each its own DequantizeLinear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.left, self.right = nn.ELU(), nn.ELU(alpha=0.5)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        x = self.conv(x)
        return self.fc(torch.flatten(torch.cat([self.left(x), self.right(x)], 1), 1))


def test_every_reader_of_a_shared_dequantized_input_is_listed(tmp_path):
    torch.manual_seed(0)
    images = torch.randn(16, 1, 8, 8)
    int8 = convert_to_int8(TwoReaders().eval(), (images[:1],), [images])
    save_qdq_onnx(int8, (images[:1],), tmp_path / "two.onnx")
    listed = onnxruntime_engine.fp32_ops(tmp_path / "two.onnx")
    assert sorted(listed) == ["/left/Elu", "/right/Elu"]
