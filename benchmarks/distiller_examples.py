"""Every YAML file of Distiller's repository, validated (and trained briefly) as a Distiller user would run it.

    python benchmarks/distiller_examples.py [--validate-only] [--match TEXT] [--examples DIR]

Reads ../shared/distiller-examples (Distiller's tree: examples/..., tests/full_flow_tests/...).
The model of each file is the `--arch X` / `-a X` of its header comment; a few headers name none,
and their model is the one their file name and folder say. Each file is checked with
`compressor validate --schedule F --arch X --dataset fake --json`; the files for a CIFAR, MNIST
or alexnet model that validate are also trained, `compressor train ... --dataset fake --epochs 3`
into a temporary folder. Files that are not for image classifiers (language models, GNMT, NCF,
Mask R-CNN, statistics files, AMC's configurations) are validated only, and expected to be
refused with exit 2. Prints a table, then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, List, Optional

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / ".." / "shared" / "distiller-examples"
ARCH = re.compile(r"(?:^|\s)(?:--arch|-a)(?:=|\s+)([A-Za-z]\w*)")
DATASETS = (("cifar", "cifar10"), ("mnist", "mnist"), ("imagenet", "imagenet"))
# Headers that name no model: the model their file name and folder say.
UNNAMED = {
    "examples/auto_compression/plain20_fine_tune.yaml": "plain20_cifar",
    "examples/auto_compression/amc/adc_vgg16_cifar_finetuning.yaml": "vgg16_cifar",
    "examples/baseline_networks/imagenet/preact_resnet18_imagenet_base_fp32.yaml": "preact_resnet18",
    "examples/quantization/fp32_baselines/preact_resnet18_imagenet_base_fp32.yaml": "preact_resnet18",
    "examples/quantization/quant_aware_train/preact_resnet18_imagenet_dorefa.yaml": "preact_resnet18",
    "examples/quantization/post_train_quant/resnet18_imagenet_post_train_input_overrides.yaml": "resnet18",
    "examples/sensitivity-pruning/alexnet.schedule_sensitivity_direct.yaml": "alexnet",
    "tests/full_flow_tests/preact_resnet20_cifar_pact_test.yaml": "preact_resnet20_cifar",
    "tests/full_flow_tests/simplenet_mnist_pruning.yaml": "simplenet_mnist",
}
# (what the path contains, the kind of file): files that are not schedules for image classifiers
OTHER_KINDS = (("quant_stats", "statistics file"), ("quantization_stats", "statistics file"),
               ("auto_compression/amc/auto_compression", "AMC configuration"), ("word_lang", "language model"),
               ("GNMT/", "GNMT"), ("ncf/", "NCF"), ("object_detection", "Mask R-CNN"))


@dataclass
class Row:
    file: str
    model: str
    dataset: str  # as the header names it ('' when it does not)
    kind: str  # "classifier" or what else the file is for
    validate: str = ""
    train: str = ""
    error: str = ""


def describe(path: Path, examples: Path) -> Row:
    relative = path.relative_to(examples).as_posix()
    header = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if line.lstrip().startswith("#"))
    kind = next((name for marker, name in OTHER_KINDS if marker in relative), "classifier")
    found = ARCH.search(header)
    model = UNNAMED.get(relative) or (found.group(1) if found else "")
    if kind != "classifier":
        model = ""  # validated against the default model, to be refused
    dataset = next((name for marker, name in DATASETS if marker in header.lower()), "")
    return Row(relative, model or "-", dataset, kind)


def trains(model: str) -> bool:
    """CIFAR, MNIST and alexnet models: small enough to train 3 epochs on fake data here."""
    return "_cifar" in model or "mnist" in model or model.startswith("alexnet")


def compressor(args: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compressor.cli", *args], capture_output=True, text=True, cwd=ROOT)


def first_error(stderr: str) -> str:
    """The first problem (the line under `error: FILE: N problems`), or the first line said."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not re.match(r"error: .*: \d+ problems?$", line)] or lines
    text = lines[0].removeprefix("error: ") if lines else ""
    return text if len(text) <= 200 else text[:197] + "..."


def outcome(done: subprocess.CompletedProcess) -> str:
    return "ok" if done.returncode == 0 else f"exit {done.returncode}"


def check(row: Row, path: Path, validate_only: bool) -> Row:
    model_args = ["--arch", row.model] if row.model != "-" and row.kind == "classifier" else []
    validated = compressor(["validate", "--schedule", str(path), *model_args, "--dataset", "fake", "--json"])
    row.validate = outcome(validated)
    if validated.returncode != 0:
        row.error = first_error(validated.stderr)
        return row
    if validate_only or row.kind != "classifier" or not trains(row.model):
        row.train = "-"
        return row
    with tempfile.TemporaryDirectory() as folder:
        trained = compressor(["train", "--schedule", str(path), *model_args, "--dataset", "fake", "--epochs", "3",
                              "--out", str(Path(folder) / "run"), "--json"])
    row.train = outcome(trained)
    if trained.returncode != 0:
        row.error = first_error(trained.stderr)
    return row


def print_table(rows: Iterable[Row]) -> None:
    print(f"{'file':<78} {'model':<22} {'kind':<18} {'validate':<8} {'train':<7} first error")
    for row in rows:
        print(f"{row.file:<78} {row.model:<22} {row.kind:<18} {row.validate:<8} {row.train:<7} {row.error}")


def summary(rows: List[Row]) -> dict:
    classifiers = [row for row in rows if row.kind == "classifier"]
    others = [row for row in rows if row.kind != "classifier"]
    trained = [row for row in classifiers if row.train not in ("", "-")]
    return {"files": len(rows), "classifier_files": len(classifiers),
            "classifier_valid": sum(row.validate == "ok" for row in classifiers),
            "trained": len(trained), "trained_ok": sum(row.train == "ok" for row in trained),
            "other_files": len(others), "other_exit_2": sum(row.validate == "exit 2" for row in others),
            "crashes": [row.file for row in rows if "exit 1" in (row.validate, row.train)]}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validate-only", action="store_true", help="validate every file, train none")
    parser.add_argument("--match", default="", help="only the files whose path contains this text")
    parser.add_argument("--examples", type=Path, default=EXAMPLES, help="Distiller's tree of YAML files")
    args = parser.parse_args(argv)
    examples = args.examples.resolve()
    if not examples.is_dir():
        print(f"skipped: Distiller's example files are not at {examples}")
        return
    paths = [path for path in sorted(examples.rglob("*.yaml")) if args.match in path.relative_to(examples).as_posix()]
    rows = []
    for path in paths:
        row = check(describe(path, examples), path, args.validate_only)
        rows.append(row)
        print(f"{row.file}: validate {row.validate}, train {row.train or '-'} {row.error}", file=sys.stderr, flush=True)
    print_table(rows)
    totals = summary(rows)
    print(f"\n{totals['classifier_valid']} of {totals['classifier_files']} image-classifier files validate; "
          f"{totals['trained_ok']} of {totals['trained']} trained 3 epochs; {totals['other_exit_2']} of "
          f"{totals['other_files']} other files refused with exit 2; crashes: {len(totals['crashes'])}")
    print(json.dumps({"benchmark": "distiller_examples", "validate_only": args.validate_only, **totals,
                      "rows": [asdict(row) for row in rows]}))


if __name__ == "__main__":
    main()
