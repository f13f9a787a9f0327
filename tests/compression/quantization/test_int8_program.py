import subprocess
import sys
import textwrap

import pytest
import torch

from compressor.compression.core.errors import UserError
from compressor.compression.model_source import load_model
from compressor.compression.quantization.int8_backend import convert_to_int8
from compressor.compression.quantization.int8_program import fake_quantize, load_program, save_int8_program


@pytest.fixture(scope="module")
def int8_digits():
    loaded = load_model(arch="digits_cnn")
    images = torch.rand(48, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    return convert_to_int8(loaded.model.eval(), (images[:16],), images.split(16)), images


def test_a_plain_torch_process_loads_and_runs_it_like_the_int8_model(int8_digits, tmp_path):
    int8, images = int8_digits
    path = tmp_path / "model_int8.pt2"
    save_int8_program(int8, (images[:1],), path)
    torch.save(images, tmp_path / "images.pt")
    script = textwrap.dedent(f"""
        import sys, torch
        module = torch.export.load({str(path)!r}).module()
        images = torch.load({str(tmp_path / 'images.pt')!r})
        torch.save([module(images), module(images[:5])], {str(tmp_path / 'out.pt')!r})
        print(sorted(name for name in sys.modules if name.startswith('compressor')))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]" and "Warning" not in done.stderr
    full, five = torch.load(tmp_path / "out.pt")
    expected = int8(images)
    assert five.shape == (5, 10) and torch.equal(five, full[:5])  # the batch size is not fixed
    assert (full.argmax(1) == expected.argmax(1)).float().mean() >= 0.95
    assert (full - expected).abs().max() < 0.2


def test_weights_are_stored_as_int8_and_no_custom_op_is_left(int8_digits, tmp_path):
    int8, images = int8_digits
    path = tmp_path / "model_int8.pt2"
    save_int8_program(int8, (images[:1],), path)
    program = torch.export.load(str(path))
    weights = {name: tensor for name, tensor in program.state_dict.items() if name.endswith("weight_int8")}
    convs_and_linears = [name for name, module in load_model(arch="digits_cnn").model.named_modules()
                         if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(weights) == len(convs_and_linears) and all(t.dtype == torch.int8 for t in weights.values())
    assert not [name for name, t in program.state_dict.items() if t.is_floating_point() and t.numel() > 1000]
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert not [target for target in targets if "quantized" in target]
    assert program.example_inputs is None  # the file carries no images


def test_fake_quantize_is_torch_quantize_then_dequantize():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(1)) * 3
    expected = torch.quantize_per_tensor(x, 0.05, 7, torch.quint8).dequantize()
    assert torch.equal(fake_quantize(x, 0.05, 7, 0, 255), expected)


def test_a_file_that_is_not_an_exported_program_is_refused(tmp_path):
    bad = tmp_path / "model.pt2"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="is not an ExportedProgram file"):
        load_program(bad)
    with pytest.raises(UserError, match="model file not found"):
        load_program(tmp_path / "missing.pt2")
