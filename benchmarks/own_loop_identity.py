"""examples/own_loop.py against `compressor train` on the same schedule and seed: are the final weights identical?

    python benchmarks/own_loop_identity.py [--schedule schedules/digits_agp.yaml] [--seeds 0 1 2]

Prints, per seed, how many tensors differ and the largest difference, the sparsity both reach,
and the wall time of each; then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compressor.compression.schedule import load_schedule  # noqa: E402
from compressor.compression.sparsity import weight_counts  # noqa: E402
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run  # noqa: E402
from examples import own_loop  # noqa: E402


def compare(schedule_path: str, seed: int) -> dict:
    epochs = load_schedule(schedule_path).training.epochs
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        schedule = apply_overrides(load_schedule(schedule_path), TrainOptions(out=f"{folder}/run", seed=seed))
        run = prepare_run(schedule, write_tensorboard=False)
        fit(run)
        train_s = time.perf_counter() - started
    started = time.perf_counter()
    model = own_loop.main(schedule_path, epochs=epochs, seed=seed)
    loop_s = time.perf_counter() - started
    ours, theirs = run.model.state_dict(), model.state_dict()
    same_keys = set(ours) == set(theirs)
    differing = [key for key in ours if key not in theirs or not torch.equal(ours[key], theirs[key])]
    largest = max(((ours[k].float() - theirs[k].float()).abs().max().item() for k in differing if k in theirs),
                  default=0.0)
    nnz, total = weight_counts(model)
    return {"seed": seed, "same_keys": same_keys, "differing_tensors": len(differing), "tensors": len(ours),
            "max_abs_diff": largest, "sparsity": 1 - nnz / total, "train_s": train_s, "own_loop_s": loop_s}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedule", default=str(ROOT / "schedules" / "digits_agp.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = [compare(args.schedule, seed) for seed in args.seeds]
    print(f"{'seed':>4} {'identical':>9} {'differing':>9} {'max diff':>9} {'sparsity':>8} {'train s':>8} {'loop s':>7}")
    for row in rows:
        identical = row["same_keys"] and row["differing_tensors"] == 0
        print(f"{row['seed']:>4} {str(identical):>9} {row['differing_tensors']:>4}/{row['tensors']:<4} "
              f"{row['max_abs_diff']:>9.2e} {row['sparsity']:>8.3f} {row['train_s']:>8.1f} {row['own_loop_s']:>7.1f}")
    print(json.dumps({"benchmark": "own_loop_identity", "schedule": args.schedule, "rows": rows}))


if __name__ == "__main__":
    main()
