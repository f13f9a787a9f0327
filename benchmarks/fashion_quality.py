"""Fashion-MNIST quality: every compression method of the product against the dense baseline.

Per seed, through the real CLI (`python -m compressor.cli ... --json`, as users call it), scored on
Fashion-MNIST's whole 10,000-image test split:

  dense  `train --schedule schedules/fashion_baseline.yaml` (fashion_cnn, 94k parameters)
  agp    `train --schedule schedules/fashion_agp.yaml --checkpoint <dense best.pt>` (AGP to 90%)
  thin   `train --schedule schedules/fashion_filters_thin.yaml --checkpoint <dense best.pt>` (50% of
         the filters removed and thinned away)
  ptq    `quantize --collect-stats` (the first 256 training images), then `quantize --stats
         --per-channel` (a real int8 TorchScript file); and torch.ao's default x86 PTQ called directly
         on the same FP32 model and the same calibration images
  qat4   `train --schedule schedules/fashion_qat4.yaml --checkpoint <dense best.pt>` (4-bit LSQ), then
         `quantize --checkpoint <qat best.pt>` for its deployable int8 file
  kd     `train --schedule schedules/fashion_student.yaml --kd-teacher <dense best.pt>` (the
         fashion_cnn_small student taught by that seed's dense fashion_cnn)
  small  the same schedule without its `distillation:` section (fashion_cnn_small alone)

Top-1, parameters, non-zeros, MACs and file sizes come from the `train` / `quantize` reports (each
FP32 checkpoint is also scored again by `evaluate --json`, which must agree). Latency: FP32 models by
`compressor benchmark --checkpoint X --compare <dense best.pt>` (interleaved runs, medians), int8
models by the library's `measure_latency`, interleaved with the dense FP32 model; both at batch 64.

Each (method, seed) part writes OUT/METHOD/sSEED/result.json, holding its wall time, and is skipped
when that file exists, so the benchmark runs in parts (`--only`); a part needs its seed's dense
model and runs it first when missing. The table covers every result found for the seeds asked; the
total wall time is the sum of the parts'.

    python benchmarks/fashion_quality.py [--seeds 0 1 2] [--only dense agp thin ptq qat4 kd small]
        [--out runs/fashion_quality] [--batch-size 64] [--repeats 30] [--threads N] [--clip-acts MODE]
    python benchmarks/fashion_quality.py --report-only      # the table of the parts done so far
    python benchmarks/fashion_quality.py --seeds 0 --epochs 1 --repeats 5   # smoke test, not the figures

On a machine other processes share, pass `--threads 1`: with torch's default two threads on two busy
cores a fashion_cnn_small training step ran 7x slower (526 vs 74 ms) and latencies mean nothing.

`--epochs N` trains every schedule N epochs (`train --epochs`; later policies are cut short, so AGP
stops short of 90%), into runs/fashion_quality-epochsN unless --out is given.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
import yaml

from compressor.cli.options import dataset_config
from compressor.compression.benchmark import LatencyResult, measure_latency, speedup_summary
from compressor.compression.evaluation import evaluate
from compressor.compression.model_source import load_model, test_loader
from compressor.compression.quantization.int8_files import load_int8_torchscript
from compressor.compression.quantization.stats import calibration_loader
from compressor.compression.quiet import CallableModule, torch_deprecations_silenced
from torch_ao_reference import torch_ao_int8

SCHEDULES = Path("schedules")
METHODS = ("dense", "agp", "thin", "ptq", "qat4", "kd", "small")
# table rows: (key in a part's result, label, target text)
ROWS = [("dense", "dense fashion_cnn", ">= 91.5%"), ("agp", "AGP 90%", "drop <= 0.5"),
        ("thin", "filters 50% thinned", "-"), ("ptq", "int8 PTQ (compressor)", "drop <= 0.3, >= torch.ao"),
        ("ptq_torch_ao", "int8 PTQ (torch.ao x86)", "-"), ("qat4", "QAT 4-bit LSQ", "drop <= 1.0"),
        ("qat4_int8", "QAT4 as int8 file", "-"), ("kd", "KD student (small)", "> small + spread"),
        ("small", "small alone", "-")]


@dataclass
class Settings:
    out: Path
    epochs: Optional[int]
    batch_size: int
    repeats: int
    threads: Optional[int]
    calibration_size: int
    clip_acts: Optional[str]

    def recorded(self) -> dict:
        """What must match for results to be shown together."""
        return {"epochs": self.epochs, "calibration_size": self.calibration_size, "clip_acts": self.clip_acts}

    def latency(self) -> dict:
        """How a part's latencies were measured (parts measured otherwise are flagged in the report)."""
        return {"batch_size": self.batch_size, "repeats": self.repeats, "threads": self.threads}


# ---------------------------------------------------------------- the command line, run as users run it

def cli(s: Settings, *args: str) -> dict:
    threads = ["--threads", str(s.threads)] if s.threads else []
    command = [sys.executable, "-m", "compressor.cli", *args, *threads, "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"exit {done.returncode}: {' '.join(command)}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def quantize(s: Settings, part: Path, *args: str) -> dict:
    """`compressor quantize ... --json`; its whole report is kept in the part's folder."""
    report = cli(s, "quantize", *args)
    (part / "quantize.json").write_text(json.dumps(report, indent=1))
    return report


def train(s: Settings, schedule: Path, seed: int, run: Path, *extra: str) -> dict:
    epochs = ["--epochs", str(s.epochs)] if s.epochs else []
    return cli(s, "train", "--schedule", str(schedule), "--seed", str(seed), "--out", str(run), *epochs, *extra)


def dense_best(s: Settings, seed: int) -> Path:
    return s.out / "dense" / f"s{seed}" / "run" / "best.pt"


def fp32_row(s: Settings, report: dict, seed: int) -> dict:
    """A trained model's figures: its report, `evaluate` again, latency against the seed's dense model."""
    best = Path(report["out"]) / "best.pt"
    check = cli(s, "evaluate", "--checkpoint", str(best))
    if abs(check["top1"] - report["top1"]) > 1e-6:
        print(f"  ! evaluate gives {check['top1']:.2f}%, train's report {report['top1']:.2f}%", flush=True)
    row = {key: report[key] for key in ("top1", "top5", "params", "nnz", "macs", "effective_macs", "sparsity",
                                        "file_bytes", "best_epoch", "epochs")}
    row.update(test_samples=check["samples"], evaluate_top1=check["top1"])
    return {**row, **fp32_latency(s, best, dense_best(s, seed))}


def fp32_latency(s: Settings, checkpoint: Path, dense: Path) -> dict:
    compare = ["--compare", str(dense)] if checkpoint.resolve() != dense.resolve() else []  # dense: vs a fresh one
    bench = cli(s, "benchmark", "--checkpoint", str(checkpoint), *compare, "--batch-size", str(s.batch_size),
                "--repeats", str(s.repeats))
    model, base = bench["candidate"], bench["baseline"]
    return {"latency_ms": model["median_ms"], "latency_p10_ms": model["p10_ms"], "latency_p90_ms": model["p90_ms"],
            "dense_latency_ms": base["median_ms"], "speedup": bench["speedup"], "speedup_low": bench["speedup_low"],
            "speedup_high": bench["speedup_high"], "latency_warnings": bench["measurement_warnings"]}


# ---------------------------------------------------------------- int8 models, scored and timed in-process

def calibration_images(checkpoint: Path, size: int) -> List[torch.Tensor]:
    """The images `compressor quantize --calibration-size SIZE` calibrates on: the first training images."""
    loaded = load_model(str(checkpoint))
    config = dataset_config(loaded.dataset, None, None, None, None, loaded.dataset_options)
    return [images for images, *_ in calibration_loader(loaded.info, config, size)]


def test_top1(model: Callable, checkpoint: Path) -> tuple:
    """(top-1 %, images) on the test split of the checkpoint's dataset, as `compressor` scores int8 models."""
    loaded = load_model(str(checkpoint))
    config = dataset_config(loaded.dataset, None, None, None, None, loaded.dataset_options)
    with torch.no_grad():
        result = evaluate(CallableModule(model), test_loader(loaded, config), torch.nn.CrossEntropyLoss(),
                          torch.device("cpu"))
    return result.top1, result.samples


def save_torchscript(model: torch.nn.Module, example: torch.Tensor, path: Path) -> int:
    """Traced and frozen, as compressor writes its own int8 file; returns the file's size."""
    with torch.no_grad(), torch_deprecations_silenced():
        torch.jit.save(torch.jit.freeze(torch.jit.trace(model, (example,)).eval()), str(path))
    return path.stat().st_size


def int8_latency(s: Settings, models: Dict[str, Callable], dense: Path) -> Dict[str, dict]:
    """Each int8 model interleaved with the dense FP32 model, same random batch; medians."""
    loaded = load_model(str(dense))
    timed = {"dense": loaded.model.eval(), **{name: CallableModule(m) for name, m in models.items()}}
    results = measure_latency(timed, tuple(loaded.info.input_shape), batch_size=s.batch_size, warmup=3,
                              repeats=s.repeats, threads=s.threads)
    return {name: latency_fields(results[name], results["dense"]) for name in models}


def latency_fields(model: LatencyResult, dense: LatencyResult) -> dict:
    summary = speedup_summary(model, dense, ("int8", "dense"))
    return {"latency_ms": model.median_ms, "latency_p10_ms": model.p10_ms, "latency_p90_ms": model.p90_ms,
            "dense_latency_ms": dense.median_ms, "speedup": summary["speedup"],
            "speedup_low": summary["speedup_low"], "speedup_high": summary["speedup_high"],
            "latency_warnings": summary["measurement_warnings"]}


def int8_report(report: dict) -> dict:
    """What `quantize --json` says of its int8 file: top-1, size, and how it agrees with its .pt2 twin."""
    return {"top1": report["top1"], "fp32_top1": report["fp32_top1"], "file_bytes": report["int8_file_bytes"],
            "int8_activation_bits": report.get("int8_activation_bits"), "fp32_modules": report.get("fp32_modules"),
            "program_top1_agreement": report.get("program_top1_agreement")}


def dense_figures(s: Settings, seed: int) -> dict:
    """Parameters, non-zeros and MACs of the seed's dense model (an int8 file keeps them)."""
    row = load_result(s, "dense", seed)["rows"]["dense"]
    return {key: row[key] for key in ("params", "nnz", "macs", "effective_macs")}


# ---------------------------------------------------------------- the parts: one method, one seed each

def part_dense(s: Settings, seed: int, part: Path) -> dict:
    report = train(s, SCHEDULES / "fashion_baseline.yaml", seed, part / "run")
    return {"dense": fp32_row(s, report, seed)}


def part_agp(s: Settings, seed: int, part: Path) -> dict:
    report = train(s, SCHEDULES / "fashion_agp.yaml", seed, part / "run", "--checkpoint", str(dense_best(s, seed)))
    return {"agp": fp32_row(s, report, seed)}


def part_thin(s: Settings, seed: int, part: Path) -> dict:
    report = train(s, SCHEDULES / "fashion_filters_thin.yaml", seed, part / "run",
                   "--checkpoint", str(dense_best(s, seed)))
    return {"thin": fp32_row(s, report, seed)}


def part_ptq(s: Settings, seed: int, part: Path) -> dict:
    dense, stats = dense_best(s, seed), part / "stats.yaml"
    size = ["--calibration-size", str(s.calibration_size)]
    cli(s, "quantize", "--checkpoint", str(dense), "--collect-stats", str(stats), *size)
    clip = ["--clip-acts", s.clip_acts] if s.clip_acts else []
    ours = quantize(s, part, "--checkpoint", str(dense), "--stats", str(stats), "--per-channel", *clip, *size,
                    "--out", str(part / "int8"))
    ours_model = load_int8_torchscript(ours["files"]["int8_model"])
    calibration = calibration_images(dense, s.calibration_size)
    ao = torch_ao_int8(load_model(str(dense)).model.eval(), calibration)
    ao_bytes = save_torchscript(ao, calibration[0][:1], part / "torch_ao_int8.pt")
    ao_top1, samples = test_top1(ao, dense)
    file_top1, _ = test_top1(ours_model, dense)
    latency = int8_latency(s, {"ours": ours_model, "torch.ao": ao}, dense)
    figures = dense_figures(s, seed)
    return {"ptq": {**int8_report(ours), "file_top1": file_top1, "simulated_top1": ours["simulated_top1"],
                    "clip_acts": ours["clip_acts"], "test_samples": samples, **figures, **latency["ours"]},
            "ptq_torch_ao": {"top1": ao_top1, "file_bytes": ao_bytes, "test_samples": samples, **figures,
                             **latency["torch.ao"]}}


def part_qat4(s: Settings, seed: int, part: Path) -> dict:
    report = train(s, SCHEDULES / "fashion_qat4.yaml", seed, part / "run", "--checkpoint", str(dense_best(s, seed)))
    qat = fp32_row(s, report, seed)  # the QAT model as trained (4-bit weights simulated), timed as it runs
    int8 = quantize(s, part, "--checkpoint", str(part / "run" / "best.pt"), "--out", str(part / "int8"))
    model = load_int8_torchscript(int8["files"]["int8_model"])
    file_top1, samples = test_top1(model, dense_best(s, seed))
    return {"qat4": qat,
            "qat4_int8": {**int8_report(int8), "qat_top1": int8["qat_top1"], "file_top1": file_top1,
                          "test_samples": samples, **dense_figures(s, seed),
                          **int8_latency(s, {"int8": model}, dense_best(s, seed))["int8"]}}


def part_kd(s: Settings, seed: int, part: Path) -> dict:
    report = train(s, SCHEDULES / "fashion_student.yaml", seed, part / "run", "--kd-teacher", str(dense_best(s, seed)))
    return {"kd": fp32_row(s, report, seed)}


def part_small(s: Settings, seed: int, part: Path) -> dict:
    schedule = yaml.safe_load((SCHEDULES / "fashion_student.yaml").read_text())
    schedule.pop("distillation")
    alone = part / "fashion_small_alone.yaml"
    alone.write_text(yaml.safe_dump(schedule, sort_keys=False))
    return {"small": fp32_row(s, train(s, alone, seed, part / "run"), seed)}


PARTS = {"dense": part_dense, "agp": part_agp, "thin": part_thin, "ptq": part_ptq, "qat4": part_qat4,
         "kd": part_kd, "small": part_small}


def result_path(s: Settings, method: str, seed: int) -> Path:
    return s.out / method / f"s{seed}" / "result.json"


def load_result(s: Settings, method: str, seed: int) -> dict:
    return json.loads(result_path(s, method, seed).read_text())


def run_part(s: Settings, method: str, seed: int, dependency: bool = False) -> dict:
    """The part's result, run now (its dense model first, when missing) unless its file exists."""
    path = result_path(s, method, seed)
    if path.exists():
        result = json.loads(path.read_text())
        if result["settings"] != s.recorded():
            sys.exit(f"{path} was measured with {result['settings']}, not {s.recorded()}: give another --out")
        if not dependency:
            print(f"[{method} s{seed}] done before ({result['wall_s']:.0f} s), skipped", flush=True)
        return result
    if method != "dense":
        run_part(s, "dense", seed, dependency=True)
    if path.parent.exists():  # an interrupted part: start it again
        shutil.rmtree(path.parent)
    path.parent.mkdir(parents=True)
    print(f"[{method} s{seed}] running", flush=True)
    start = time.perf_counter()
    rows = PARTS[method](s, seed, path.parent)
    result = {"method": method, "seed": seed, "settings": s.recorded(), "wall_s": time.perf_counter() - start,
              "latency_settings": s.latency(), "rows": rows}
    path.with_suffix(".tmp").write_text(json.dumps(result, indent=1))
    path.with_suffix(".tmp").rename(path)
    print(f"[{method} s{seed}] {result['wall_s']:.0f} s: " + ", ".join(
        f"{key} {row['top1']:.2f}%" for key, row in rows.items()), flush=True)
    return result


# ---------------------------------------------------------------- the table

def collect(s: Settings, seeds: List[int]) -> Dict[str, dict]:
    """Every finished part for these seeds: {method: {seed: result}}."""
    found: Dict[str, dict] = {}
    for method in METHODS:
        for seed in seeds:
            if result_path(s, method, seed).exists():
                found.setdefault(method, {})[seed] = load_result(s, method, seed)
    return found


def summarize_row(per_seed: Dict[int, dict]) -> dict:
    """Mean and spread of top-1 over seeds; median over seeds of the other figures."""
    top1 = [row["top1"] for row in per_seed.values()]
    rows = list(per_seed.values())

    def median(key):
        values = [row[key] for row in rows if row.get(key) is not None]
        return statistics.median(values) if values else None

    return {"top1": statistics.mean(top1), "top1_min": min(top1), "top1_max": max(top1),
            "top1_std": statistics.stdev(top1) if len(top1) > 1 else 0.0, "seeds": sorted(per_seed),
            **{key: median(key) for key in ("params", "nnz", "macs", "effective_macs", "file_bytes", "latency_ms",
                                            "dense_latency_ms", "speedup")},
            "latency_p10_ms": min(row["latency_p10_ms"] for row in rows),
            "latency_p90_ms": max(row["latency_p90_ms"] for row in rows),
            "speedup_low": min(row["speedup_low"] for row in rows),
            "speedup_high": max(row["speedup_high"] for row in rows),
            "per_seed": {seed: row for seed, row in per_seed.items()}}


def rows_by_key(found: Dict[str, dict]) -> Dict[str, dict]:
    per_key: Dict[str, Dict[int, dict]] = {}
    for results in found.values():
        for seed, result in results.items():
            for key, row in result["rows"].items():
                per_key.setdefault(key, {})[seed] = row
    return {key: summarize_row(per_seed) for key, per_seed in per_key.items()}


def verdicts(rows: Dict[str, dict]) -> Dict[str, dict]:
    """The issue's targets: {row key: {"met": bool, "why": text}} for the rows present."""
    dense = rows.get("dense")
    out: Dict[str, dict] = {}
    if dense:
        out["dense"] = {"met": dense["top1"] >= 91.5, "why": f"mean {dense['top1']:.2f}% vs 91.5%"}
    for key, limit in (("agp", 0.5), ("qat4", 1.0)):
        if dense and key in rows:
            drop = dense["top1"] - rows[key]["top1"]
            out[key] = {"met": drop <= limit, "why": f"drop {drop:+.2f} vs {limit}"}
    if dense and "ptq" in rows:
        drop = dense["top1"] - rows["ptq"]["top1"]
        ao = rows.get("ptq_torch_ao", {}).get("top1")
        met = drop <= 0.3 and (ao is None or rows["ptq"]["top1"] >= ao)
        versus = f", {rows['ptq']['top1'] - ao:+.2f} vs torch.ao" if ao is not None else ""
        out["ptq"] = {"met": met, "why": f"drop {drop:+.2f} vs 0.3{versus}"}
    if "kd" in rows and "small" in rows:
        gain = rows["kd"]["top1"] - rows["small"]["top1"]
        spread = max(row["top1_max"] - row["top1_min"] for row in (rows["kd"], rows["small"]))
        out["kd"] = {"met": gain > spread, "why": f"gain {gain:+.2f} vs spread {spread:.2f} (largest min-max)"}
    return out


def print_table(rows: Dict[str, dict], targets: Dict[str, dict]) -> None:
    dense_top1 = rows["dense"]["top1"] if "dense" in rows else None
    header = (f"{'method':<24}{'top-1 %':>8}{'min-max':>14}{'drop':>7}{'params':>9}{'non-zeros':>10}"
              f"{'MACs':>10}{'eff. MACs':>10}{'file kB':>9}  {'latency ms (p10-p90)':<23}"
              f"{'speed-up':<20}{'target':<25}result")
    print(header)
    for key, label, target in ROWS:
        if key not in rows:
            print(f"{label:<24}{'not run':>8}")
            continue
        drop = dense_top1 - rows[key]["top1"] if dense_top1 is not None else None
        verdict = targets.get(key)
        result = ("met" if verdict["met"] else "MISSED") + f" ({verdict['why']})" if verdict else ""
        print(f"{label:<24}{figures(rows[key], drop)}  {target:<25}{result}")


def figures(r: dict, drop: Optional[float]) -> str:
    """One row's figures, in the header's columns."""
    drop_text = f"{drop:>7.2f}" if drop is not None else f"{'-':>7}"
    return (f"{r['top1']:>8.2f}{r['top1_min']:>7.2f}-{r['top1_max']:<6.2f}{drop_text}{int(r['params']):>9,}"
            f"{int(r['nnz']):>10,}{r['macs'] / 1e6:>9.2f}M{r['effective_macs'] / 1e6:>9.2f}M"
            f"{r['file_bytes'] / 1e3:>9.1f}"
            f"{r['latency_ms']:>9.2f} {interval(r['latency_p10_ms'], r['latency_p90_ms']):<15}"
            f"{r['speedup']:>6.2f}x {interval(r['speedup_low'], r['speedup_high']):<12}")


def interval(low: float, high: float) -> str:
    return f"({low:.2f}-{high:.2f})"


def report(s: Settings, seeds: List[int], invocation_s: float) -> None:
    found = collect(s, seeds)
    if not found:
        return
    rows = rows_by_key(found)
    targets = verdicts(rows)
    print(f"\nFashion-MNIST test split (10,000 images), seeds {seeds}; top-1 mean and min-max over seeds; latency "
          f"batch {s.batch_size}, median over seeds of each seed's median (p10-p90: widest over seeds); speed-up "
          f"vs the dense fashion_cnn in the same interleaved run (interval: 10th-90th percentile of per-round "
          f"ratios); file: FP32 state_dict or int8 TorchScript")
    print_table(rows, targets)
    parts = {f"{method}/s{seed}": result["wall_s"] for method, results in found.items()
             for seed, result in results.items()}
    total = sum(parts.values())
    print(f"wall time: {total:.0f} s over {len(parts)} parts ({invocation_s:.0f} s in this invocation)")
    latency = {f"{m}/s{seed}": r.get("latency_settings") for m, results in found.items() for seed, r in results.items()}
    if len({json.dumps(value, sort_keys=True) for value in latency.values()}) > 1:
        print(f"note: latencies measured with different settings: {latency}")
    print(json.dumps({"benchmark": "fashion_quality", "seeds": seeds, "settings": s.recorded(),
                      "batch_size": s.batch_size, "repeats": s.repeats, "threads": s.threads, "rows": rows,
                      "targets": targets, "part_wall_s": parts, "part_latency_settings": latency, "wall_s": total}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", choices=METHODS, default=list(METHODS), help="methods to run")
    parser.add_argument("--out", type=Path, help="results folder (default runs/fashion_quality)")
    parser.add_argument("--epochs", type=int, help="train every schedule this many epochs (smoke tests)")
    parser.add_argument("--batch-size", type=int, default=64, help="latency batch")
    parser.add_argument("--repeats", type=int, default=30, help="interleaved latency runs per model")
    parser.add_argument("--threads", type=int, help="CPU threads of every command (default: the product's)")
    parser.add_argument("--calibration-size", type=int, default=256)
    parser.add_argument("--clip-acts", help="`quantize --clip-acts` for PTQ (default: the product's)")
    parser.add_argument("--report-only", action="store_true", help="print the table of the results found")
    args = parser.parse_args()
    out = args.out or Path("runs/fashion_quality" + (f"-epochs{args.epochs}" if args.epochs else ""))
    s = Settings(out, args.epochs, args.batch_size, args.repeats, args.threads, args.calibration_size, args.clip_acts)
    torch.backends.quantized.engine = "x86"
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if not args.report_only:
        for seed in args.seeds:
            for method in args.only:
                run_part(s, method, seed)
    report(s, args.seeds, time.perf_counter() - start)


if __name__ == "__main__":
    main()
