import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.models import build_model


def test_summary_json_has_the_documented_fields(cli):
    result = cli("summary", "--arch", "digits_cnn", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert {"layers", "total_params", "nnz", "sparsity", "macs"} <= set(data)
    assert {"name", "shape", "params", "nnz", "sparsity", "macs"} <= set(data["layers"][0])
    assert data["layers"][0]["name"] == "conv1" and data["sparsity"] == 0.0


def test_summary_table_of_a_sparse_checkpoint(cli, tmp_path):
    model = build_model("digits_cnn")
    with torch.no_grad():
        model.conv2.weight[:32].zero_()
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "model_state": model.state_dict()}, tmp_path / "c.pt")
    data = cli("summary", "--checkpoint", tmp_path / "c.pt", "--json").json()
    conv2 = next(layer for layer in data["layers"] if layer["name"] == "conv2")
    assert conv2["sparsity"] == 0.5 and conv2["zero_filters"] == 32
    table = cli("summary", "--checkpoint", tmp_path / "c.pt")
    assert table.code == 0 and "conv2" in table.err and "50.0%" in table.err
    total = next(line for line in table.err.splitlines() if "total (all parameters)" in line)
    cells = [cell.strip() for cell in total.split("│")]
    params, nnz = (int(cells[index].replace(",", "")) for index in (3, 4))
    assert params == data["total_params"] and cells[5] == f"{1 - nnz / params:.1%}"  # one basis for the row


def test_evaluate_a_checkpoint(cli, tmp_path):
    model = build_model("digits_cnn")
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "dataset": "digits", "model_state": model.state_dict()},
                    tmp_path / "c.pt")
    data = cli("evaluate", "--checkpoint", tmp_path / "c.pt", "--json").json()
    assert data["dataset"] == "digits" and data["samples"] == 360
    assert 0 <= data["top1"] <= data["top5"] <= 100 and data["sparsity"] == 0.0


def test_evaluate_an_arch_on_fake_data(cli):
    data = cli("evaluate", "--arch", "resnet20_cifar", "--dataset", "fake", "--json").json()
    assert data["dataset"] == "fake" and data["samples"] > 0


def test_validate_reports_counts(cli):
    result = cli("validate", "--schedule", "schedules/digits_baseline.yaml", "--json")
    assert result.code == 0 and result.json()["valid"] is True and result.json()["lr_schedulers"] == 1


def test_every_shipped_schedule_validates(cli):
    from pathlib import Path

    schedules = sorted(Path("schedules").glob("*.yaml"))
    assert schedules
    for path in schedules:
        result = cli("validate", "--schedule", path)
        assert result.code == 0, (path, result.err)


def test_schema_is_json_schema_of_the_file(cli):
    import json

    schema = json.loads(cli("schema").out)
    assert schema["type"] == "object"
    assert {"version", "pruners", "policies", "model", "dataset", "training", "lr_schedulers"} <= set(schema["properties"])
    variants = schema["properties"]["lr_schedulers"]["additionalProperties"]["oneOf"]
    step = next(v for v in variants if v["properties"]["class"] == {"const": "StepLR"})
    assert "step_size" in step["required"]


def test_schema_accepts_the_shipped_schedule(cli):
    import json

    import jsonschema
    import yaml

    schema = json.loads(cli("schema").out)
    jsonschema.validate(yaml.safe_load(open("schedules/digits_baseline.yaml")), schema)


def test_list_kinds(cli):
    models = cli("list", "models", "--json").json()
    names = [item["name"] for item in models["items"]]
    assert {"digits_cnn", "simplenet_mnist", "resnet20_cifar", "resnet18", "alexnet"} <= set(names)
    digits = next(item for item in models["items"] if item["name"] == "digits_cnn")
    assert digits["input_shape"] == [1, 8, 8] and digits["default_dataset"] == "digits"
    assert "resnet18" in cli("list", "models").err
    lrs = cli("list", "lr_schedulers", "--json").json()
    step = next(item for item in lrs["items"] if item["name"] == "StepLR")
    assert "step_size" in step["arguments"] and "gamma=0.1" in step["arguments"]
    assert cli("list", "datasets").code == 0


def test_module_and_console_script_are_the_same_program(tmp_path):
    script = shutil.which("compressor", path=str(Path(sys.executable).parent))
    assert script, "the `compressor` console script is not installed next to this Python"
    env = {key: value for key, value in os.environ.items() if key != "COMPRESSOR_DEBUG"}

    def both(*args):
        return [subprocess.run([*program, *args], capture_output=True, text=True, cwd=tmp_path, env=env)
                for program in ([sys.executable, "-m", "compressor.cli"], [script])]

    module, console = both("list", "datasets", "--json")
    assert module.returncode == console.returncode == 0, (module.stderr, console.stderr)
    assert '"digits"' in module.stdout
    assert json.loads(console.stdout) == json.loads(module.stdout)
    module, console = both("--help")
    assert module.returncode == console.returncode == 0 and "Usage: compressor" in console.stdout
    assert console.stdout == module.stdout
    bad = subprocess.run([sys.executable, "-m", "compressor.cli", "validate", "--schedule", "nope.yaml"],
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "file not found: nope.yaml" in bad.stderr
