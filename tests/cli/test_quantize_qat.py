"""`compressor quantize --checkpoint` of a QAT checkpoint: the int8 model compared with the QAT model it came from."""
from pathlib import Path

import torch

from compressor.compression.model_source import load_model, test_loader as split_loader
from compressor.datasets import DatasetConfig

LSQ4 = Path(__file__).resolve().parents[1] / "corpus" / "v2" / "lsq4_digits.pt"


def test_int8_model_is_compared_with_the_qat_model(cli, tmp_path):
    result = cli("quantize", "--checkpoint", LSQ4, "--out", tmp_path / "q", "--json")  # conv1 at 8 bits
    assert result.code == 0, result.err
    report = result.json()
    loaded = load_model(checkpoint=str(LSQ4))
    images = torch.cat([batch for batch, *_ in split_loader(loaded, DatasetConfig(name="digits"))])
    torch.backends.quantized.engine = "x86"
    with torch.no_grad():
        qat, int8 = loaded.model.eval()(images), torch.jit.load(str(tmp_path / "q" / "model_int8.pt"))(images)
    agreement = (qat.argmax(1) == int8.argmax(1)).float().mean().item()
    assert abs(report["simulated_top1_agreement"] - agreement) < 1e-6
    assert abs(report["simulated_max_abs_diff"] - (qat - int8).abs().max().item()) < 1e-4
    changes = report["int8_bit_changes"]  # 4-bit QAT: what int8 kernels compute otherwise is said, layer by layer
    assert "4-bit weights" in changes["conv2"] and "not to the 16 levels trained" in changes["relu1"]
    assert "conv1" not in changes
