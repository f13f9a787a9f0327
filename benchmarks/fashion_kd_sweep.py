"""Knowledge-distillation settings for fashion_cnn_small, chosen on Fashion-MNIST's validation split.

From one seed's dense fashion_cnn (benchmarks/fashion_quality.py trains it: OUT/dense/sSEED/run/best.pt),
`compressor train --schedule schedules/fashion_student.yaml --kd-teacher <dense>` with each
(temperature, distill_weight[, end_epoch]) asked (student_weight = 1 - distill_weight; with an end epoch,
the labels alone from that epoch on), and the same schedule
without its `distillation:` section (the student alone), all for --epochs N. The settings are ranked by
the best validation top-1 of their run (5,000 images held out of the training set); the test top-1
is printed beside it but chooses nothing. Each run is skipped when its report exists.

    python benchmarks/fashion_kd_sweep.py --seed 1 [--epochs 8] [--settings 4:0.7 8:0.9 2:0.5]
        [--settings 4:0.7:10 ...] [--dense runs/fashion_quality] [--out runs/fashion_kd_sweep] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Optional

import yaml

SCHEDULE = Path(__file__).resolve().parents[1] / "schedules" / "fashion_student.yaml"


def run(schedule: Path, folder: Path, args, teacher: Optional[Path]) -> dict:
    report = folder / "run" / "report.json"
    if not report.exists():
        extra = ["--kd-teacher", str(teacher)] if teacher else []
        done = subprocess.run([sys.executable, "-m", "compressor.cli", "train", "--schedule", str(schedule),
                               "--seed", str(args.seed), "--epochs", str(args.epochs), "--threads", str(args.threads),
                               "--out", str(folder / "run"), "--json", *extra], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"train failed in {folder}:\n{done.stderr[-3000:]}")
    metrics = [json.loads(line) for line in (folder / "run" / "metrics.jsonl").read_text().splitlines()]
    return {"val_top1": max(m["top1"] for m in metrics), "test_top1": json.loads(report.read_text())["top1"]}


def schedule_with(folder: Path, temperature: Optional[float], weight: Optional[float],
                  end_epoch: Optional[int] = None) -> Path:
    schedule = yaml.safe_load(SCHEDULE.read_text())
    if temperature is None:
        schedule.pop("distillation")
    else:
        schedule["distillation"].update(temperature=temperature, distill_weight=weight, student_weight=1 - weight,
                                        end_epoch=end_epoch)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "schedule.yaml"
    path.write_text(yaml.safe_dump(schedule, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--settings", nargs="+", default=["4:0.7", "8:0.9", "4:0.9", "2:0.5"],
                        help="TEMPERATURE:DISTILL_WEIGHT[:END_EPOCH]")
    parser.add_argument("--dense", type=Path, default=Path("runs/fashion_quality"))
    parser.add_argument("--out", type=Path, default=Path("runs/fashion_kd_sweep"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    teacher = args.dense / "dense" / f"s{args.seed}" / "run" / "best.pt"
    if not teacher.exists():
        raise SystemExit(f"no dense checkpoint at {teacher} (run benchmarks/fashion_quality.py --only dense)")
    base = args.out / f"s{args.seed}-e{args.epochs}"
    rows = {"alone": run(schedule_with(base / "alone", None, None), base / "alone", args, None)}
    print(f"alone          val {rows['alone']['val_top1']:.2f}  test {rows['alone']['test_top1']:.2f}", flush=True)
    for setting in args.settings:
        temperature, weight, *end = setting.split(":")
        temperature, weight, end_epoch = float(temperature), float(weight), int(end[0]) if end else None
        folder = base / (f"T{temperature:g}-w{weight:g}" + (f"-end{end_epoch}" if end else ""))
        rows[setting] = run(schedule_with(folder, temperature, weight, end_epoch), folder, args, teacher)
        scores = rows[setting]
        print(f"T {temperature:<4g} w {weight:<4g} end {end_epoch or '-':<3} val {scores['val_top1']:.2f}  "
              f"test {scores['test_top1']:.2f}", flush=True)
    best = max(args.settings, key=lambda key: rows[key]["val_top1"])
    print(f"best on validation: {best} ({rows[best]['val_top1'] - rows['alone']['val_top1']:+.2f} over the student alone)")
    print(json.dumps({"benchmark": "fashion_kd_sweep", "seed": args.seed, "epochs": args.epochs, "rows": rows,
                      "best": best}))


if __name__ == "__main__":
    main()
