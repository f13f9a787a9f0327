"""Mixed precision on this CPU: epoch time in bf16 vs FP32, and digits test top-1 in bf16 vs FP32.

Speed: digits_cnn on digits and resnet20_cifar on fake 32x32 images through `compressor`'s own
loop (`epoch_seconds`: training and validation of each epoch), FP32 and bf16 runs interleaved,
the first epoch of each run left out (warm-up), medians over the rest.
Quality: schedules/digits_baseline.yaml in FP32 and in bf16 for each seed, test top-1 of each run's
best model (a bf16 run validates and tests under bf16 autocast too; its best model is also tested
without autocast). Target: the bf16 mean within 0.3 point of the FP32 mean.

    OMP_NUM_THREADS=1 python benchmarks/mixed_precision.py [--rounds 3] [--epochs 3] [--seeds 0 1 2]
        [--resnet-size 512] [--threads 1] [--no-speed]

Whether bf16 is faster depends on the CPU: with AVX-512 BF16 or AMX, oneDNN runs bf16
convolutions and matrix products natively; with AVX2 only they are converted and often slower.
The CPU flags found are printed with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile

import torch

from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.evaluation import evaluate
from compressor.compression.restore import model_from_checkpoint
from compressor.compression.schedule import load_schedule, parse_schedule_text
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run

SPEED = """version: 1
model: {arch: ARCH}
dataset: {name: DATASET, batch_size: 64SIZE}
training: {epochs: EPOCHS, optimizer: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0001, seed: 0}
"""
PRECISIONS = ("fp32", "bf16")
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_fp16")


def cpu_flags() -> list:
    try:
        with open("/proc/cpuinfo", encoding="ascii") as info:
            line = next(line for line in info if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    present = set(line.split(":", 1)[1].split())
    return [flag for flag in FLAGS if flag in present]


def train(text: str, precision: str, out: str, **options):
    schedule = apply_overrides(parse_schedule_text(text) if text.startswith("version") else load_schedule(text),
                               TrainOptions(out=out, precision=precision, **options))
    run = prepare_run(schedule, write_tensorboard=False)
    return run, fit(run)


def run_epochs(text: str, precision: str, out: str, **options):
    run, report = train(text, precision, out, **options)
    return [record["epoch_seconds"] for record in run.history], report


def fp32_test_top1(run) -> float:
    """The run's best model on its test split without autocast."""
    model = model_from_checkpoint(load_checkpoint(run.folder.best_path))[0]
    return evaluate(model, run.loaders.test, torch.nn.CrossEntropyLoss(), torch.device("cpu")).top1


def speed(label: str, text: str, rounds: int, tmp: str) -> dict:
    times = {precision: [] for precision in PRECISIONS}
    for index in range(rounds):
        for precision in PRECISIONS if index % 2 == 0 else reversed(PRECISIONS):
            epochs, _ = run_epochs(text, precision, f"{tmp}/{label}-{precision}-{index}")
            times[precision] += epochs[1:]
    medians = {precision: statistics.median(values) for precision, values in times.items()}
    return {"model": label, "fp32_epoch_s": medians["fp32"], "bf16_epoch_s": medians["bf16"],
            "bf16_speedup": medians["fp32"] / medians["bf16"], "epochs_each": len(times["fp32"])}


def quality(seeds, tmp: str) -> dict:
    top1 = {precision: [] for precision in (*PRECISIONS, "bf16_fp32_test")}
    for seed in seeds:
        for precision in PRECISIONS:
            run, report = train("schedules/digits_baseline.yaml", precision, f"{tmp}/q-{precision}-{seed}",
                                seed=seed)
            top1[precision].append(report["top1"])
            if precision == "bf16":
                top1["bf16_fp32_test"].append(fp32_test_top1(run))
            images = len(run.loaders.test.dataset)
    means = {precision: statistics.mean(values) for precision, values in top1.items()}
    return {"seeds": list(seeds), "fp32_top1": top1["fp32"], "bf16_top1": top1["bf16"],
            "bf16_fp32_test_top1": top1["bf16_fp32_test"], "fp32_mean_top1": means["fp32"],
            "bf16_mean_top1": means["bf16"], "bf16_fp32_test_mean_top1": means["bf16_fp32_test"],
            "bf16_minus_fp32": means["bf16"] - means["fp32"], "test_images": images}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3, help="runs of each precision per model, interleaved")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per speed run (the first is left out)")
    parser.add_argument("--resnet-size", type=int, default=512, help="fake training images for resnet20_cifar")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-speed", action="store_true", help="only the top-1 part")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    models = {"digits_cnn/digits": ("digits_cnn", "digits", ""),
              "resnet20_cifar/fake": ("resnet20_cifar", "fake", f", size: {args.resnet_size}")}
    texts = {label: SPEED.replace("ARCH", arch).replace("DATASET", dataset).replace("SIZE", size)
             .replace("EPOCHS", str(args.epochs)) for label, (arch, dataset, size) in models.items()}
    with tempfile.TemporaryDirectory() as tmp:
        speeds = [] if args.no_speed else [speed(label, text, args.rounds, tmp) for label, text in texts.items()]
        accuracy = quality(args.seeds, tmp)
    load_after = os.getloadavg()[0]

    print(f"CPU flags: {' '.join(cpu_flags()) or 'unknown'}; torch {torch.__version__}, "
          f"{args.threads} thread(s); 1-minute load {load_before:.1f} before, {load_after:.1f} after")
    if speeds:
        print(f"{'model':<22}{'fp32 epoch s':>14}{'bf16 epoch s':>14}{'bf16 speed-up':>15}{'epochs':>8}")
    for row in speeds:
        print(f"{row['model']:<22}{row['fp32_epoch_s']:>14.3f}{row['bf16_epoch_s']:>14.3f}"
              f"{row['bf16_speedup']:>14.2f}x{row['epochs_each']:>8}")
    print(f"{'digits test top-1':<22}{'fp32':>8}{'bf16':>8}{'bf16, tested in fp32':>22}")
    for seed, fp32, bf16, tested in zip(accuracy["seeds"], accuracy["fp32_top1"], accuracy["bf16_top1"],
                                        accuracy["bf16_fp32_test_top1"]):
        print(f"{'seed ' + str(seed):<22}{fp32:>8.2f}{bf16:>8.2f}{tested:>22.2f}")
    difference = accuracy["bf16_minus_fp32"]
    print(f"{'mean':<22}{accuracy['fp32_mean_top1']:>8.2f}{accuracy['bf16_mean_top1']:>8.2f}"
          f"{accuracy['bf16_fp32_test_mean_top1']:>22.2f}")
    print(f"bf16 - fp32 {difference:+.2f} point (target within 0.3: {'met' if abs(difference) <= 0.3 else 'missed'}); "
          f"one test image is {100 / accuracy['test_images']:.2f} point")
    print(json.dumps({"benchmark": "mixed_precision", "threads": args.threads, "cpu_flags": cpu_flags(),
                      "load_before": load_before, "load_after": load_after, "speed": speeds, **accuracy}))


if __name__ == "__main__":
    main()
