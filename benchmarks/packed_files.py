"""Packed files (`export --format packed`): how small, how exact, how fast to write and read.

Two parts:

- `resnet18`: torchvision's resnet18 (random weights) as it is, pruned to 90% (magnitude, per layer),
  and pruned plus shared on 16 values per layer (k-means-like levels): packing and unpacking time
  (median and 10th-90th percentile of `--repeats` runs, one thread by default), file sizes against
  the FP32 weights file (torch.save of the state_dict).
- `quality`: per seed, through the real CLI, the dense baseline and a compressing schedule
  (default: digits_baseline.yaml and digits_deep_compression.yaml) trained, exported packed and
  evaluated from the packed file: sparsity, code bits, index bytes, value bytes, codec gain (bytes
  before zstd / after), packed file size, ratio to the dense FP32 weights file, top-1.

    python benchmarks/packed_files.py resnet18 [--repeats 5] [--threads 1]
    python benchmarks/packed_files.py quality [--seeds 0 1 2] [--dense schedules/digits_baseline.yaml]
        [--schedule schedules/digits_deep_compression.yaml] [--out runs/packed_files] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import torch
from torchvision.models import resnet18

from compressor.compression.core.checkpoint import saved_bytes
from compressor.compression.core.packed import pack_bytes, unpack_bytes

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------- resnet18

def pruned(state: Dict[str, torch.Tensor], sparsity: float, levels: int = 0) -> Dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if key.endswith("weight") and value.dim() > 1:
            threshold = value.abs().flatten().kthvalue(max(1, int(sparsity * value.numel()))).values
            value = torch.where(value.abs() > threshold, value, torch.zeros(()))
            if levels:
                grid = torch.linspace(float(value.min()), float(value.max()), levels)
                shared = grid[(value.unsqueeze(-1) - grid).abs().argmin(-1)]
                value = torch.where(value != 0, shared, torch.zeros(()))
        out[key] = value
    return out


def timed(fn, repeats: int) -> Dict[str, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return {"median_s": statistics.median(times), "p10_s": times[len(times) // 10],
            "p90_s": times[min(len(times) - 1, (9 * len(times)) // 10)]}


def resnet18_part(args) -> dict:
    torch.manual_seed(0)
    dense = resnet18().state_dict()
    variants = {"dense": dense, "pruned 90%": pruned(dense, 0.9), "pruned 90% + 16 values": pruned(dense, 0.9, 16)}
    rows = {}
    for name, state in variants.items():
        data = pack_bytes(state)[0]
        rows[name] = {"fp32_bytes": saved_bytes(state), "packed_bytes": len(data),
                      "pack": timed(lambda: pack_bytes(state), args.repeats),
                      "unpack": timed(lambda: unpack_bytes(data), args.repeats)}
    print(f"resnet18 ({sum(v.numel() for v in dense.values()):,} values), {args.repeats} runs, "
          f"{torch.get_num_threads()} thread(s); median (p10-p90)")
    print(f"{'variant':26} {'FP32 file':>12} {'packed':>12} {'ratio':>7} {'pack s':>20} {'unpack s':>20}")
    for name, row in rows.items():
        pack, unpack = row["pack"], row["unpack"]
        print(f"{name:26} {row['fp32_bytes']:>12,} {row['packed_bytes']:>12,} "
              f"{row['fp32_bytes'] / row['packed_bytes']:>6.1f}x "
              f"{pack['median_s']:>7.2f} ({pack['p10_s']:.2f}-{pack['p90_s']:.2f}) "
              f"{unpack['median_s']:>7.2f} ({unpack['p10_s']:.2f}-{unpack['p90_s']:.2f})")
    return {"benchmark": "packed_resnet18", "threads": torch.get_num_threads(), "rows": rows}


# -------------------------------------------------------------------------------------------- quality

def cli(*args: str, threads: int) -> dict:
    command = [sys.executable, "-m", "compressor.cli", *args, "--json", "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def trained(schedule: Path, seed: int, run: Path, threads: int) -> Path:
    if not (run / "best.pt").exists():
        cli("train", "--schedule", str(schedule), "--seed", str(seed), "--out", str(run), "--overwrite",
            threads=threads)
    return run / "best.pt"


def quality_seed(args, seed: int) -> dict:
    folder = args.out / f"s{seed}"
    dense = trained(args.dense, seed, folder / "dense", args.threads)
    compressed = trained(args.schedule, seed, folder / args.schedule.stem, args.threads)
    packed = folder / f"{args.schedule.stem}.cpk"
    export = cli("export", "--checkpoint", str(compressed), "--format", "packed", "--out", str(packed),
                 threads=args.threads)
    weights = [t for t in export["tensors"] if t["name"].endswith("weight") and t["numel"] > 256]  # Conv/Linear
    raw = sum(t["index_bytes"] + t["value_bytes"] for t in export["tensors"])
    return {"seed": seed, "dense_top1": cli("evaluate", "--checkpoint", str(dense), threads=args.threads)["top1"],
            "packed_top1": cli("evaluate", "--checkpoint", str(packed), threads=args.threads)["top1"],
            "sparsity": 1 - sum(t["nnz"] for t in weights) / sum(t["numel"] for t in weights),
            "bits": sorted({t["bits"] for t in weights}),
            "index_bytes": sum(t["index_bytes"] for t in export["tensors"]),
            "value_bytes": sum(t["value_bytes"] for t in export["tensors"]),
            "codec_gain": raw / sum(t["packed_bytes"] for t in export["tensors"]),
            "file_bytes": export["file_bytes"], "dense_fp32_bytes": export["dense_fp32_bytes"],
            "ratio": export["ratio_vs_dense_fp32"]}


def quality_part(args) -> dict:
    rows = [quality_seed(args, seed) for seed in args.seeds]
    print(f"{args.schedule.name} vs {args.dense.name}, seeds {args.seeds}")
    print(f"{'seed':>4} {'dense %':>8} {'packed %':>9} {'sparsity':>9} {'bits':>8} {'index B':>8} {'value B':>8} "
          f"{'codec':>6} {'file B':>8} {'ratio':>7}")
    for r in rows:
        print(f"{r['seed']:>4} {r['dense_top1']:>8.2f} {r['packed_top1']:>9.2f} {r['sparsity']:>9.2%} "
              f"{','.join(map(str, r['bits'])):>8} {r['index_bytes']:>8,} {r['value_bytes']:>8,} "
              f"{r['codec_gain']:>5.2f}x {r['file_bytes']:>8,} {r['ratio']:>6.1f}x")
    mean = {key: statistics.mean(r[key] for r in rows) for key in ("dense_top1", "packed_top1", "ratio")}
    spread = max(r["dense_top1"] - r["packed_top1"] for r in rows) - min(r["dense_top1"] - r["packed_top1"]
                                                                        for r in rows)
    print(f"mean: dense {mean['dense_top1']:.2f}%, packed {mean['packed_top1']:.2f}% "
          f"(drop {mean['dense_top1'] - mean['packed_top1']:+.2f}, spread of drops {spread:.2f}), "
          f"ratio {mean['ratio']:.1f}x")
    return {"benchmark": "packed_quality", "schedule": args.schedule.name, "seeds": args.seeds, "rows": rows,
            "mean": mean}


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["resnet18", "quality"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dense", type=Path, default=ROOT / "schedules" / "digits_baseline.yaml")
    parser.add_argument("--schedule", type=Path, default=ROOT / "schedules" / "digits_deep_compression.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "packed_files")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = resnet18_part(args) if args.part == "resnet18" else quality_part(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
