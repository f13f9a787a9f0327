"""`compressor auto --target macs=0.3 --tolerance 1` on Fashion-MNIST against uniform L1 filter pruning.

Per seed, from that seed's dense fashion_cnn (benchmarks/fashion_quality.py trains it: OUT of that
script/dense/sSEED/run/best.pt):

  auto     `compressor auto --checkpoint <dense> --target macs=0.3 --tolerance 1 --finetune-epochs F`
  uniform  the schedule auto wrote (same pruner, thinning, fine-tuning epochs and learning rate),
           every searched group keeping the same fraction of its filters instead: the largest
           fraction whose MACs are at most auto's reached MACs; run by `compressor train`

Both are scored on the whole 10,000-image test split. Each (method, seed) part is skipped when
its result exists, so the benchmark runs in parts. Prints a table (test top-1 mean and spread,
MACs ratio) and one JSON line.

    python benchmarks/auto_fashion.py [--seeds 0 1 2] [--dense runs/fashion_quality] [--out runs/auto_fashion]
        [--finetune-epochs 5] [--round-steps 30] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import torch
import yaml

from compressor.compression.model_source import load_model
from compressor.compression.workflows.auto_amc_cost import ChannelCosts
from compressor.compression.workflows.auto_schedule import removed_fraction
from compressor.compression.workflows.auto_space import search_space


def compressor(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "compressor.cli", *args, "--json"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"compressor {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_auto(dense: Path, folder: Path, epochs: int, round_steps: int, threads: int) -> dict:
    report = folder / "report.json"
    if not report.exists():
        compressor("auto", "--checkpoint", str(dense), "--target", "macs=0.3", "--tolerance", "1",
                   "--finetune-epochs", str(epochs), "--round-steps", str(round_steps), "--threads", str(threads),
                   "--out", str(folder))
    data = json.loads(report.read_text())
    return {"test_top1": data["compressed"]["test_top1"], "dense_test_top1": data["dense"]["test_top1"],
            "macs": data["ratios"]["macs"], "target_met": data["target_met"],
            "kept": {row["layer"]: row["kept_fraction"] for row in data["layers"]}}


def uniform_counts(dense: Path, macs_ratio: float) -> Dict[str, int]:
    """Per searched group: its kept filters at the largest common fraction whose MACs ratio <= macs_ratio."""
    loaded = load_model(str(dense))
    example = torch.zeros(1, *loaded.info.input_shape)
    groups = list(search_space(loaded.model, example).groups)
    costs = ChannelCosts(loaded.model, groups, example)
    best = {group.leader: 1 for group in costs.groups}
    for step in range(1000, 0, -1):
        counts = [max(1, round(step / 1000 * group.channels)) for group in costs.groups]
        if costs.cost("macs", counts) / costs.dense["macs"] <= macs_ratio + 1e-12:
            best = {group.leader: count for group, count in zip(costs.groups, counts)}
            break
    return best


def run_uniform(auto_folder: Path, dense: Path, folder: Path, macs_ratio: float, threads: int) -> dict:
    report = folder / "report.json"
    if not report.exists():
        kept = uniform_counts(dense, macs_ratio)
        schedule = yaml.safe_load((auto_folder / "schedule.yaml").read_text())
        pruners = {}
        for pruner in _all_pruners(schedule, dense):
            leader = pruner["weights"][0].rsplit(".", 1)[0]
            pruner["desired_sparsity"] = removed_fraction(pruner["channels"] - kept[leader], pruner.pop("channels"))
            pruners[f"uniform_{leader.replace('.', '_')}"] = pruner
        schedule["pruners"] = pruners
        schedule["policies"] = ([{"pruner": {"instance_name": name}, "epochs": [0]} for name in pruners]
                                + [p for p in schedule["policies"] if "pruner" not in p])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "uniform.yaml").write_text(yaml.safe_dump(schedule, sort_keys=False))
        compressor("train", "--schedule", str(folder / "uniform.yaml"), "--out", str(folder / "run"),
                   "--threads", str(threads))
        (folder / "report.json").write_text((folder / "run" / "report.json").read_text())
    data = json.loads(report.read_text())
    return {"test_top1": data["top1"], "macs": data["effective_macs"] / data["dense_macs"]}


def _all_pruners(schedule: dict, dense: Path) -> List[dict]:
    """One L1 filter pruner per searched group (auto's schedule names only the groups it shrank)."""
    loaded = load_model(str(dense))
    groups = search_space(loaded.model, torch.zeros(1, *loaded.info.input_shape)).groups
    pruners = []
    for group in groups:
        pruner = {"class": "L1RankedStructureParameterPruner", "group_type": group.structure,
                  "weights": [f"{layer}.weight" for layer in group.layers], "channels": group.channels}
        if len(group.layers) > 1:
            pruner["group_dependency"] = "Leader"
        if group.structure == "Rows":
            pruner["prune_bias"] = True
        pruners.append(pruner)
    return pruners


def spread(values: List[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dense", type=Path, default=Path("runs/fashion_quality"))
    parser.add_argument("--out", type=Path, default=Path("runs/auto_fashion"))
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument("--round-steps", type=int, default=30,
                        help="auto's --round-steps: SGD steps each candidate is fine-tuned for before it is scored")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    rows: Dict[str, List[dict]] = {"auto": [], "uniform": []}
    for seed in args.seeds:
        dense = args.dense / "dense" / f"s{seed}" / "run" / "best.pt"
        if not dense.exists():
            print(f"seed {seed}: no dense checkpoint at {dense} (run benchmarks/fashion_quality.py --only dense)")
            continue
        auto = run_auto(dense, args.out / "auto" / f"s{seed}", args.finetune_epochs, args.round_steps, args.threads)
        uniform = run_uniform(args.out / "auto" / f"s{seed}", dense, args.out / "uniform" / f"s{seed}",
                              auto["macs"], args.threads)
        rows["auto"].append(auto)
        rows["uniform"].append(uniform)
        print(f"seed {seed}: dense {auto['dense_test_top1']:.2f}, auto {auto['test_top1']:.2f} (MACs {auto['macs']:.3f}, "
              f"target met {auto['target_met']}), uniform {uniform['test_top1']:.2f} (MACs {uniform['macs']:.3f})")
    if not rows["auto"]:
        return
    dense_top1 = [r["dense_test_top1"] for r in rows["auto"]]
    print(f"{'method':<10}{'test top-1':<18}{'drop':<16}{'MACs ratio':<12}")
    for method, results in rows.items():
        top1 = [r["test_top1"] for r in results]
        drops = [d - t for d, t in zip(dense_top1, top1)]
        print(f"{method:<10}{spread(top1):<18}{spread(drops):<16}{spread([r['macs'] for r in results]):<12}")
    print(json.dumps({"benchmark": "auto_fashion", "seeds": args.seeds, "dense_test_top1": dense_top1,
                      **{method: results for method, results in rows.items()}}))


if __name__ == "__main__":
    main()
