"""resnet18 with 50% of its filters removed by thinning vs dense: parameters, file size, CPU latency.

Half of the channels of every filter group (a conv with its BatchNorm; the residual streams
as a whole) are zeroed by lowest L1 norm, then removed by thinning. Latency: batch 8,
3x224x224, eval mode, no_grad, 2 threads, dense and thinned runs alternating, medians.

    python benchmarks/thinning_resnet18.py [--repeats 20] [--warmup 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import statistics
import time

import torch
import torchvision

from compressor.compression.thinning import remove_structures, zero_weakest_filter_groups


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def file_size(model: torch.nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


@torch.no_grad()
def latency(model: torch.nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    model(x)
    return time.perf_counter() - start


def interleaved_latencies(dense, thinned, x, repeats: int, warmup: int):
    for _ in range(warmup):
        latency(dense, x), latency(thinned, x)
    times = {"dense": [], "thinned": []}
    for _ in range(repeats):
        times["dense"].append(latency(dense, x))
        times["thinned"].append(latency(thinned, x))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    dense = torchvision.models.resnet18().eval()
    thinned = copy.deepcopy(dense)
    example = torch.zeros(1, 3, 224, 224)
    zero_weakest_filter_groups(thinned, example, 0.5)
    plan = remove_structures(thinned, example, "filters")

    x = torch.randn(args.batch_size, 3, 224, 224)
    medians = interleaved_latencies(dense, thinned, x, args.repeats, args.warmup)
    result = {
        "benchmark": "thinning_resnet18",
        "speedup": round(medians["dense"] / medians["thinned"], 3),
        "dense_latency_ms": round(medians["dense"] * 1000, 2),
        "thinned_latency_ms": round(medians["thinned"] * 1000, 2),
        "dense_params": parameters(dense), "thinned_params": parameters(thinned),
        "dense_file_bytes": file_size(dense), "thinned_file_bytes": file_size(thinned),
        "batch_size": args.batch_size, "threads": args.threads, "repeats": args.repeats,
        "skipped_layers": len(plan.skipped),
    }
    print(f"{'':10}{'params':>12}{'file MB':>10}{'latency ms':>12}")
    for name in ("dense", "thinned"):
        print(f"{name:10}{result[name + '_params']:>12,}{result[name + '_file_bytes'] / 2**20:>10.2f}"
              f"{result[name + '_latency_ms']:>12.2f}")
    print(f"speedup {result['speedup']:.2f}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
