"""resnet18 with its 3x3 convs factorized by spatial SVD at half their MACs, timed against the dense model.

resnet18 from torchvision with random weights (timing does not depend on the values); every 3x3 conv
of the residual blocks becomes a 3x1 conv then a 1x3 conv at the largest rank within half its MACs
(the 7x7 stem, the 1x1 downsampling convs and the classifier stay dense). Both models are timed in
one interleaved run per batch size (`compression.benchmark.measure_latency`: medians, the order
reversed every other round). Prints a table and one JSON line.

    python benchmarks/lowrank_resnet18.py [--batch-sizes 8 32] [--repeats 20] [--threads 2] [--device cpu]
"""
from __future__ import annotations

import argparse
import copy
import json

import torch

from compressor.compression.benchmark import measure_latency, speedup_summary
from compressor.compression.factorization import factorize
from compressor.compression.factorization.configs import LowRankFactorizerConfig
from compressor.compression.models import build_model
from compressor.compression.summary import count_macs

SHAPE = (3, 224, 224)
BLOCK_CONVS = r"layer\d\.\d\.conv[12]"  # the 3x3 convs of the residual blocks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    dense = build_model("resnet18", num_classes=1000).eval()
    factorized = copy.deepcopy(dense)
    plan = factorize(factorized, LowRankFactorizerConfig(method="spatial_svd", macs_ratio=0.5,
                                                         layers=[BLOCK_CONVS]), SHAPE)
    sizes = {name: {"params": sum(p.numel() for p in model.parameters()),
                    "macs": sum(count_macs(model, SHAPE).values())}
             for name, model in (("dense", dense), ("factorized", factorized))}
    rows = []
    for batch_size in args.batch_sizes:
        results = measure_latency({"dense": dense, "factorized": factorized}, SHAPE, batch_size=batch_size,
                                  warmup=args.warmup, repeats=args.repeats, device=args.device,
                                  threads=args.threads if args.device == "cpu" else None)
        summary = speedup_summary(results["factorized"], results["dense"], names=("factorized", "dense"))
        rows.append({"batch_size": batch_size, "dense_ms": results["dense"].median_ms,
                     "factorized_ms": results["factorized"].median_ms, **summary})
    print(f"{'model':<12}{'params':>12}{'GMACs':>8}" + "".join(f"{'ms @' + str(row['batch_size']):>12}"
                                                           for row in rows))
    for name in ("dense", "factorized"):
        print(f"{name:<12}{sizes[name]['params']:>12,}{sizes[name]['macs'] / 1e9:>8.2f}"
              + "".join(f"{row[f'{name}_ms']:>12.2f}" for row in rows))
    for row in rows:
        print(f"batch {row['batch_size']}: speedup {row['speedup']:.2f}x "
              f"({row['speedup_low']:.2f}-{row['speedup_high']:.2f})")
    print(json.dumps({"benchmark": "lowrank_resnet18", "method": "spatial_svd", "macs_ratio": 0.5,
                      "layers": len(plan.layers), "sizes": sizes, "device": args.device, "threads": args.threads,
                      "repeats": args.repeats, "results": rows}))


if __name__ == "__main__":
    main()
