"""Wall time of whole commands (start-up included), this tree against an earlier release.

    python benchmarks/command_wall_time.py --checkpoint runs/x/best.pt --reference /tmp/old [--rounds 10]

Commands: --help, train --help, quantize --help, list models, schema, validate of
schedules/digits_agp.yaml (in full, with --no-build, and of a copy with a misspelled class,
which exits 2), evaluate. A command the
reference does not have (validate --no-build) is timed in this tree only.

`--reference` is a folder holding an earlier release's `compressor` package (for example
`git archive <commit> cli compression datasets` unpacked under FOLDER/compressor/, with an
empty `__init__.py`); it is put first on PYTHONPATH for its runs. Runs alternate between the two
so that a change in the machine's load hits both alike. Prints a table, then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
AGP = ROOT / "schedules" / "digits_agp.yaml"
# name -> (arguments, exit status, whether the reference has the command)
COMMANDS = {
    "--help": (["--help"], 0, True),
    "train --help": (["train", "--help"], 0, True),
    "quantize --help": (["quantize", "--help"], 0, True),
    "list": (["list", "models"], 0, True),
    "schema": (["schema"], 0, True),
    "validate": (["validate", "--schedule", str(AGP)], 0, True),
    "validate --no-build": (["validate", "--schedule", str(AGP), "--no-build"], 0, False),
    "validate (bad class)": (["validate", "--schedule", "{misspelled}"], 2, True),
    "evaluate": (["evaluate", "--checkpoint", "{checkpoint}", "--json"], 0, True),
}


def wall_time(args: List[str], pythonpath: Optional[str], expected: int = 0) -> float:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "compressor.cli", *args], env=env, capture_output=True, text=True,
                          cwd="/")  # not the source tree: the reference must not see this one
    seconds = time.perf_counter() - started
    if done.returncode != expected:
        raise SystemExit(f"{' '.join(args)} failed ({pythonpath or 'this tree'}): {done.stderr.strip()[-500:]}")
    return seconds


def measure(checkpoint: str, reference: str, rounds: int, misspelled: str) -> Dict[str, Dict[str, List[float]]]:
    times: Dict[str, Dict[str, List[float]]] = {
        name: {"this": [], **({"reference": []} if in_reference else {})} for name, (_, _, in_reference) in
        COMMANDS.items()}
    for _ in range(rounds):
        for name, (template, expected, in_reference) in COMMANDS.items():
            args = [part.format(checkpoint=checkpoint, misspelled=misspelled) for part in template]
            times[name]["this"].append(wall_time(args, None, expected))
            if in_reference:
                times[name]["reference"].append(wall_time(args, reference, expected))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a digits checkpoint both releases can read")
    parser.add_argument("--reference", required=True, help="folder holding the earlier release's compressor package")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    checkpoint = str(Path(args.checkpoint).resolve())
    with tempfile.TemporaryDirectory() as folder:
        misspelled = Path(folder) / "misspelled.yaml"
        misspelled.write_text(AGP.read_text().replace("AutomatedGradualPruner", "AutomatedGradualPrunr"))
        times = measure(checkpoint, str(Path(args.reference).resolve()), args.rounds, str(misspelled))
    result = {}
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'command':<22} {'tree':<10} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, by_tree in times.items():
        for tree, values in by_tree.items():
            print(f"{name:<22} {tree:<10} {statistics.median(values):>9.2f} {min(values):>7.2f} {max(values):>7.2f}")
            result[f"{name}_{tree}_median_s"] = round(statistics.median(values), 3)
            result[f"{name}_{tree}_min_s"] = round(min(values), 3)
            result[f"{name}_{tree}_max_s"] = round(max(values), 3)
    print(json.dumps({"benchmark": "command_wall_time", "rounds": args.rounds, **result}))


if __name__ == "__main__":
    main()
