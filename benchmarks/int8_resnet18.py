"""resnet18 in int8 on the x86 quantized kernels against FP32 eager: latency and file size.

Random weights, calibrated on 16 FakeData images, converted by the project's int8 backend
(FX graph mode, BatchNorm folded, per-channel weights), saved as the deployable TorchScript
file and loaded back, as the torch.export `.pt2` file (int8 weights, float kernels) loaded
back, and as the int8 ONNX file run in onnxruntime. Batch 8, 3x224x224, interleaved runs, medians. The GMAC/s column is
the model's multiply-accumulates per batch over its median time: set it against the CPU's
peak (cores x MACs per cycle x clock) to see how much room each model leaves. The ceiling
line times the most favourable case for both kernels (eight 3x3 256->256 convolutions at
28x28, where they run near peak) and divides: no whole network can beat that int8/FP32 ratio
by much on the same CPU, whatever the engine.

    python benchmarks/int8_resnet18.py [--repeats 20] [--threads 2]
"""
from __future__ import annotations

import argparse
import copy
import json
import tempfile
from pathlib import Path

import torch
from torch import nn
from torchvision import transforms
from torchvision.datasets import FakeData
from torchvision.models import resnet18

from compressor.compression.benchmark import measure_latency, speedup
from compressor.compression.quantization.int8_backend import convert_to_int8
from compressor.compression.engines.qdq_onnx import save_qdq_onnx
from compressor.compression.quantization.int8_files import load_int8_torchscript, save_int8_torchscript
from compressor.compression.quantization.int8_program import load_program, save_int8_program
from compressor.compression.quiet import CallableModule
from compressor.compression.summary import count_macs

SHAPE = (3, 224, 224)


def calibration_batches(count: int = 16, batch_size: int = 8):
    images = torch.stack([image for image, _ in FakeData(count, SHAPE, transform=transforms.ToTensor())])
    return list(images.split(batch_size))


def onnxruntime_function(path: Path, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads would slow the others
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda batch: torch.from_numpy(session.run(None, {"input": batch.numpy()})[0])


def conv_ceiling(threads: int, repeats: int) -> dict:
    """GMAC/s of FP32 and int8 on a stack of large 3x3 convolutions (the kernels' best case)."""
    layers = []
    for _ in range(8):
        layers += [nn.Conv2d(256, 256, 3, padding=1), nn.ReLU()]
    stack = nn.Sequential(*layers).eval()
    shape = (256, 28, 28)
    images = torch.rand(8, *shape)
    int8 = convert_to_int8(stack, (images,), [images])
    fp32_cl = copy.deepcopy(stack).to(memory_format=torch.channels_last)
    results = measure_latency({"fp32": stack, "fp32 channels-last": fp32_cl, "int8": int8.module}, shape,
                              batch_size=8, warmup=3, repeats=repeats, threads=threads)
    gmacs = 8 * sum(count_macs(stack, shape).values()) / 1e9
    return {name: gmacs / result.median_ms * 1e3 for name, result in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    fp32 = resnet18().eval()
    batches = calibration_batches()
    int8 = convert_to_int8(fp32, (batches[0],), batches)
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path, int8_path = Path(tmp) / "fp32_state_dict.pt", Path(tmp) / "int8.pt"
        torch.save(fp32.state_dict(), fp32_path)
        int8_bytes = save_int8_torchscript(int8, (batches[0],), int8_path)
        fp32_bytes = fp32_path.stat().st_size
        deployed = CallableModule(load_int8_torchscript(int8_path))
        save_qdq_onnx(int8, (batches[0],), Path(tmp) / "int8.onnx")
        onnx_int8 = CallableModule(onnxruntime_function(Path(tmp) / "int8.onnx", args.threads))
        program_bytes = save_int8_program(int8, (batches[0],), Path(tmp) / "int8.pt2")
        exported = load_program(Path(tmp) / "int8.pt2")
        program = CallableModule(lambda batch: exported(batch))  # hidden from .eval(): exported modules refuse it
    models = {"fp32 eager": fp32, "int8 (fx module)": int8.module, "int8 (TorchScript file)": deployed,
              "int8 ONNX (onnxruntime)": onnx_int8, "int8 .pt2 (torch.export)": program}
    results = measure_latency(models, SHAPE, batch_size=8, warmup=3, repeats=args.repeats, threads=args.threads)
    base = results["fp32 eager"]
    batch_gmacs = 8 * sum(count_macs(fp32, SHAPE).values()) / 1e9
    with torch.no_grad():
        probe = torch.randn(8, *SHAPE, generator=torch.Generator().manual_seed(1))
        onnx_diff = (onnx_int8(probe) - int8(probe)).abs().max().item()
        program_agreement = (program(probe).argmax(1) == int8(probe).argmax(1)).float().mean().item()
    print(f"{'model':<26}{'median ms':>11}{'p10 ms':>9}{'p90 ms':>9}{'images/s':>10}{'GMAC/s':>8}{'speedup':>9}")
    for name, result in results.items():
        print(f"{name:<26}{result.median_ms:>11.1f}{result.p10_ms:>9.1f}{result.p90_ms:>9.1f}"
              f"{result.throughput:>10.1f}{batch_gmacs / result.median_ms * 1e3:>8.0f}{speedup(result, base):>8.1f}x")
    ceiling = conv_ceiling(args.threads, args.repeats)
    best_fp32 = max(ceiling["fp32"], ceiling["fp32 channels-last"])
    print(f"kernel ceiling (8x conv3x3 256->256 at 28x28): FP32 {best_fp32:.0f} GMAC/s, int8 {ceiling['int8']:.0f} "
          f"GMAC/s; int8 at that rate over all of resnet18 vs FP32 eager: "
          f"{ceiling['int8'] / (batch_gmacs / base.median_ms * 1e3):.1f}x at most")
    print(f"int8 ONNX in onnxruntime vs the PyTorch int8 model: max abs diff {onnx_diff:.4f}")
    print(f"int8 .pt2 vs the PyTorch int8 model: top-1 agreement {100 * program_agreement:.0f}% (8 images)")
    print(f"file size: FP32 state_dict {fp32_bytes / 1e6:.2f} MB, int8 TorchScript {int8_bytes / 1e6:.2f} MB "
          f"({int8_bytes / fp32_bytes:.3f}x), int8 .pt2 {program_bytes / 1e6:.2f} MB ({program_bytes / fp32_bytes:.3f}x)")
    print(json.dumps({
        "benchmark": "int8_resnet18", "speedup": speedup(results["int8 (TorchScript file)"], base),
        "speedup_fx_module": speedup(results["int8 (fx module)"], base), "size_ratio": int8_bytes / fp32_bytes,
        "fp32_median_ms": base.median_ms, "int8_median_ms": results["int8 (TorchScript file)"].median_ms,
        "onnx_int8_median_ms": results["int8 ONNX (onnxruntime)"].median_ms, "onnx_max_abs_diff": onnx_diff,
        "program_int8_median_ms": results["int8 .pt2 (torch.export)"].median_ms, "program_bytes": program_bytes,
        "program_top1_agreement": program_agreement,
        "batch_gmacs": batch_gmacs, "ceiling_gmacs_per_s": ceiling, "fp32_bytes": fp32_bytes, "int8_bytes": int8_bytes, "fp32_modules": int8.fp32_modules,
        "batch_size": 8, "threads": args.threads, "repeats": args.repeats,
    }))


if __name__ == "__main__":
    main()
