"""resnet18 in int8 on the x86 quantized kernels against FP32 eager: latency and file size.

Random weights, calibrated on 16 FakeData images, converted by the project's int8 backend
(FX graph mode, BatchNorm folded, per-channel weights), saved as the deployable TorchScript
file and loaded back. Batch 8, 3x224x224, interleaved runs, medians.

    python benchmarks/int8_resnet18.py [--repeats 20] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from torchvision import transforms
from torchvision.datasets import FakeData
from torchvision.models import resnet18

from compressor.compression.benchmark import measure_latency, speedup
from compressor.compression.quantization.int8_backend import convert_to_int8
from compressor.compression.quantization.int8_files import load_int8_torchscript, save_int8_torchscript
from compressor.compression.quiet import CallableModule

SHAPE = (3, 224, 224)


def calibration_batches(count: int = 16, batch_size: int = 8):
    images = torch.stack([image for image, _ in FakeData(count, SHAPE, transform=transforms.ToTensor())])
    return list(images.split(batch_size))


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
    models = {"fp32 eager": fp32, "int8 (fx module)": int8.module, "int8 (TorchScript file)": deployed}
    results = measure_latency(models, SHAPE, batch_size=8, warmup=3, repeats=args.repeats, threads=args.threads)
    base = results["fp32 eager"]
    print(f"{'model':<26}{'median ms':>11}{'p10 ms':>9}{'p90 ms':>9}{'images/s':>10}{'speedup':>9}")
    for name, result in results.items():
        print(f"{name:<26}{result.median_ms:>11.1f}{result.p10_ms:>9.1f}{result.p90_ms:>9.1f}"
              f"{result.throughput:>10.1f}{speedup(result, base):>8.1f}x")
    print(f"file size: FP32 state_dict {fp32_bytes / 1e6:.2f} MB, int8 TorchScript {int8_bytes / 1e6:.2f} MB "
          f"({int8_bytes / fp32_bytes:.3f}x)")
    print(json.dumps({
        "benchmark": "int8_resnet18", "speedup": speedup(results["int8 (TorchScript file)"], base),
        "speedup_fx_module": speedup(results["int8 (fx module)"], base), "size_ratio": int8_bytes / fp32_bytes,
        "fp32_median_ms": base.median_ms, "int8_median_ms": results["int8 (TorchScript file)"].median_ms,
        "fp32_bytes": fp32_bytes, "int8_bytes": int8_bytes, "fp32_modules": int8.fp32_modules,
        "batch_size": 8, "threads": args.threads, "repeats": args.repeats,
    }))


if __name__ == "__main__":
    main()
