"""resnet18 on each engine, FP32 and int8 from the same ranges; then thinned + int8 on the chosen engine.

Random weights (torchvision resnet18), calibrated on 16 FakeData images, converted by the
project's int8 backend; the int8 model is also written as the QDQ ONNX file that onnxruntime and
OpenVINO run (the int8 model's own scales), and the FP32 model as one FP32 ONNX file. Batch 8,
3x224x224, all six timed in one interleaved run, medians:

    PyTorch FP32 eager, onnxruntime FP32, OpenVINO FP32, PyTorch int8, onnxruntime int8, OpenVINO int8

Then resnet18 with 50% of the filters of every channel group removed (ranked by L1 norm and
thinned, the structure schedules/resnet18_filters_thin.yaml gives), converted to int8 and run on
the engine chosen as `quantize --engine auto` chooses (the fastest int8 engine of the first run,
or --engine), timed against dense FP32 eager and dense OpenVINO FP32.

    python benchmarks/int8_engines.py [--repeats 20] [--threads 2] [--engine auto]
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
from compressor.compression.engines.models import int8_engine_model, load_file
from compressor.compression.engines.onnx_fp32 import save_fp32_onnx
from compressor.compression.engines.qdq_onnx import save_qdq_onnx
from compressor.compression.quantization.int8_backend import convert_to_int8
from compressor.compression.thinning import zero_weakest_filter_groups
from compressor.compression.thinning.remove import thin

SHAPE = (3, 224, 224)
ENGINES = ("torch", "onnxruntime", "openvino")
LABELS = {"torch": "PyTorch", "onnxruntime": "onnxruntime", "openvino": "OpenVINO"}


def calibration_batches(count: int = 16, batch_size: int = 8):
    images = torch.stack([image for image, _ in FakeData(count, SHAPE, transform=transforms.ToTensor())])
    return list(images.split(batch_size))


def engine_models(model, batches, folder: Path, tag: str):
    """{"<engine> FP32": ..., "<engine> int8": ...} for `model` on every engine."""
    save_fp32_onnx(model, batches[0][:1], folder / f"{tag}_fp32.onnx")
    int8 = convert_to_int8(model, (batches[0][:1],), batches)
    save_qdq_onnx(int8, (batches[0][:1],), folder / f"{tag}_int8.onnx")
    fp32 = {f"{LABELS[name]} FP32": model if name == "torch" else load_file(name, folder / f"{tag}_fp32.onnx")
            for name in ENGINES}
    quantized = {f"{LABELS[name]} int8": int8_engine_model(name, int8, folder / f"{tag}_int8.onnx")
                 for name in ENGINES}
    return fp32, quantized


def thinned_resnet18(example: torch.Tensor):
    model = resnet18().eval()
    zero_weakest_filter_groups(model, example, 0.5)
    thin(model, example)
    return model.eval()


def print_table(title: str, results, base) -> None:
    print(title)
    print(f"{'model':<34}{'median ms':>11}{'p10 ms':>9}{'p90 ms':>9}{'images/s':>10}{'vs FP32 eager':>15}")
    for name, result in results.items():
        print(f"{name:<34}{result.median_ms:>11.2f}{result.p10_ms:>9.2f}{result.p90_ms:>9.2f}"
              f"{result.throughput:>10.1f}{speedup(result, base):>14.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine", choices=ENGINES + ("auto",), default="auto",
                        help="engine of the thinned int8 model (auto: the fastest int8 engine of the first run)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    options = {"batch_size": 8, "warmup": args.warmup, "repeats": args.repeats, "threads": args.threads}
    batches = calibration_batches()
    with tempfile.TemporaryDirectory() as tmp:
        dense = resnet18().eval()
        fp32, quantized = engine_models(dense, batches, Path(tmp), "dense")
        results = measure_latency({**fp32, **quantized}, SHAPE, **options)
        eager = results["PyTorch FP32"]
        chosen = args.engine if args.engine != "auto" else min(
            ENGINES, key=lambda name: results[f"{LABELS[name]} int8"].median_ms)
        thin_model = thinned_resnet18(batches[0][:1])
        _, thin_quantized = engine_models(thin_model, batches, Path(tmp), "thin")
        thin_name = f"thinned 50% + {LABELS[chosen]} int8"
        second = measure_latency({"PyTorch FP32 (dense)": dense, "OpenVINO FP32 (dense)": fp32["OpenVINO FP32"],
                                  thin_name: thin_quantized[f"{LABELS[chosen]} int8"]}, SHAPE, **options)
    fastest_fp32 = min(fp32, key=lambda name: results[name].median_ms)
    print_table(f"resnet18, batch 8 of 3x224x224, {args.threads} threads, {args.repeats} interleaved runs each",
                results, eager)
    for name in quantized:
        print(f"{name}: {speedup(results[name], eager):.2f}x vs PyTorch eager FP32, "
              f"{speedup(results[name], results[fastest_fp32]):.2f}x vs {fastest_fp32} (fastest FP32 engine here)")
    how = "the fastest int8 engine above" if args.engine == "auto" else "as asked"
    print_table(f"thinned resnet18 + int8 on {LABELS[chosen]} ({how})", second, second["PyTorch FP32 (dense)"])
    thin_result = second[thin_name]
    print(f"{thin_name}: {speedup(thin_result, second['PyTorch FP32 (dense)']):.2f}x vs dense PyTorch eager FP32, "
          f"{speedup(thin_result, second['OpenVINO FP32 (dense)']):.2f}x vs dense OpenVINO FP32")
    print(json.dumps({
        "benchmark": "int8_engines", "batch_size": 8, "threads": args.threads, "repeats": args.repeats,
        "median_ms": {name: result.median_ms for name, result in results.items()},
        "speedup_vs_eager_fp32": {name: speedup(result, eager) for name, result in results.items()},
        "fastest_fp32": fastest_fp32,
        "speedup_vs_fastest_fp32": {name: speedup(results[name], results[fastest_fp32]) for name in quantized},
        "thin_engine": chosen, "thin_int8_median_ms": thin_result.median_ms,
        "thin_dense_median_ms": {name: result.median_ms for name, result in second.items() if name != thin_name},
        "thin_speedup_vs_dense_eager_fp32": speedup(thin_result, second["PyTorch FP32 (dense)"]),
        "thin_speedup_vs_dense_openvino_fp32": speedup(thin_result, second["OpenVINO FP32 (dense)"])}))


if __name__ == "__main__":
    main()
