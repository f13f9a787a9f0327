"""Knowledge distillation on digits: the student of schedules/digits_student.yaml trained with the
teacher vs the same student trained from scratch, same seeds; the teacher is digits_baseline.

    python benchmarks/digits_kd.py [--seeds 0 1 2] [--schedule schedules/digits_student.yaml]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml


def train(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "compressor.cli", "train", *args, "--json"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--schedule", default="schedules/digits_student.yaml", help="the distilling schedule")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "scratch.yaml"
        schedule = yaml.safe_load(Path(args.schedule).read_text())
        schedule.pop("distillation")
        scratch.write_text(yaml.safe_dump(schedule))
        for seed in args.seeds:
            s = str(seed)
            teacher = train("--schedule", "schedules/digits_baseline.yaml", "--seed", s, "--out", f"{tmp}/t{s}")
            distilled = train("--schedule", args.schedule, "--seed", s, "--out", f"{tmp}/d{s}",
                              "--kd-teacher", f"{tmp}/t{s}/best.pt")
            alone = train("--schedule", str(scratch), "--seed", s, "--out", f"{tmp}/s{s}")
            rows.append((seed, teacher["top1"], distilled["top1"], alone["top1"], distilled["params"]))
    print(f"{'seed':>4}{'teacher':>9}{'distilled student':>19}{'student alone':>15}")
    for seed, teacher, distilled, alone, _ in rows:
        print(f"{seed:>4}{teacher:>9.2f}{distilled:>19.2f}{alone:>15.2f}")
    means = [statistics.mean(row[i] for row in rows) for i in (1, 2, 3)]
    print(f"mean{means[0]:>9.2f}{means[1]:>19.2f}{means[2]:>15.2f}  (student: {rows[0][4]:,} parameters)")
    print(json.dumps({"benchmark": "digits_kd", "schedule": args.schedule, "seeds": args.seeds, "teacher_top1": means[0],
                      "distilled_top1": means[1], "scratch_top1": means[2], "student_params": rows[0][4],
                      "per_seed": [{"seed": r[0], "teacher": r[1], "distilled": r[2], "scratch": r[3]} for r in rows]}))


if __name__ == "__main__":
    main()
