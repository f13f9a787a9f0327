"""A model given as `--arch package.module:factory` goes through every command, and bad ones are refused."""
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
ARCH = "examples.own_model:Net"

FILTERS = """version: 1
training: {epochs: 2, lr: 0.05, seed: 0}
pruners:
  filters:
    class: L1RankedStructureParameterPruner
    group_type: Filters
    desired_sparsity: 0.5
    weights: [features.3.weight]
extensions:
  thin: {class: FilterRemover, thinning_func_str: remove_filters, arch: own, dataset: digits}
policies:
  - pruner: {instance_name: filters}
    epochs: [0]
  - extension: {instance_name: thin}
    epochs: [1]
"""


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """A filter-pruned, thinned run of examples/own_model.py's Net, trained through the CLI."""
    from compressor.cli.main import run

    folder = tmp_path_factory.mktemp("own")
    (folder / "schedule.yaml").write_text(FILTERS)
    sys.path.insert(0, str(ROOT))
    code = run(["train", "--schedule", str(folder / "schedule.yaml"), "--arch", ARCH, "--out", str(folder / "run")])
    assert code == 0
    return folder


def test_train_prunes_and_thins_the_users_model(own_run):
    payload = torch.load(own_run / "run" / "checkpoint.pt", weights_only=True)
    assert payload["arch"] == ARCH
    assert payload["model_state"]["features.3.weight"].shape[0] == 16  # 32 filters, half removed


def test_evaluate_thin_quantize_and_export_rebuild_it_from_the_checkpoint(cli, own_run, tmp_path):
    checkpoint = own_run / "run" / "checkpoint.pt"
    evaluated = cli("evaluate", "--checkpoint", checkpoint, "--json")
    assert evaluated.code == 0, evaluated.err
    assert evaluated.json()["arch"] == ARCH and evaluated.json()["top1"] > 50
    stats = tmp_path / "stats.yaml"
    assert cli("quantize", "--checkpoint", checkpoint, "--collect-stats", stats).code == 0
    quantized = cli("quantize", "--checkpoint", checkpoint, "--stats", stats, "--out", tmp_path / "q", "--json")
    assert quantized.code == 0, quantized.err
    assert quantized.json()["int8"].startswith("x86") and (tmp_path / "q" / "model_int8.pt2").is_file()
    exported = cli("export", "--checkpoint", checkpoint, "--format", "onnx", "--out", tmp_path / "net.onnx", "--json")
    assert exported.code == 0, exported.err
    assert exported.json()["max_abs_diff"] < 1e-4


@pytest.mark.parametrize("arch, message", [
    ("no_such_module_xyz:Net", "cannot import no_such_module_xyz: ModuleNotFoundError"),
    ("examples.own_model:Missing", "has no attribute 'Missing'"),
    ("torch:float32", "is not callable"),
])
def test_an_import_path_that_does_not_give_a_model_is_refused(cli, arch, message, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.chdir(tmp_path)
    result = cli("summary", "--arch", arch)
    assert result.code == 2 and message in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_factory_without_input_shape_says_what_to_set(cli, tmp_path, monkeypatch):
    (tmp_path / "shapeless.py").write_text("from torch import nn\n\ndef make():\n    return nn.Linear(4, 2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = cli("summary", "--arch", "shapeless:make")
    assert result.code == 2 and "set `input_shape = (C, H, W)` on make or give --input-size" in result.err


BARE = """from torch import nn


def make(num_classes=10):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, num_classes))
"""


def test_input_size_and_num_classes_stand_in_for_the_factorys_attributes(cli, tmp_path, monkeypatch):
    (tmp_path / "bare.py").write_text(BARE)
    monkeypatch.syspath_prepend(str(tmp_path))
    summary = cli("summary", "--arch", "bare:make", "--input-size", "1x8x8", "--num-classes", "7", "--json")
    assert summary.code == 0, summary.err
    conv, linear = summary.json()["layers"][0], summary.json()["layers"][-1]
    assert linear["shape"] == [7, 256] and conv["macs"] == 4 * 9 * 8 * 8  # 7 classes, 8x8 inputs
    (tmp_path / "s.yaml").write_text("version: 1\ntraining: {epochs: 1}\n")
    trained = cli("train", "--schedule", tmp_path / "s.yaml", "--arch", "bare:make", "--input-size", "1,8,8",
                  "--num-classes", "10", "--dataset", "digits", "--out", tmp_path / "run")
    assert trained.code == 0, trained.err
    payload = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert payload["input_shape"] == [1, 8, 8] and payload["num_classes"] == 10
    evaluated = cli("evaluate", "--checkpoint", tmp_path / "run" / "checkpoint.pt", "--json")  # shape from the record
    assert evaluated.code == 0 and evaluated.json()["samples"] == 360, evaluated.err


@pytest.mark.parametrize("args, message", [
    (["--input-size", "1,8"], "expected C,H,W such as 3,32,32"),
    (["--input-size", "1,8,8", "--num-classes", "0"], "0 is not in the range x>=1"),
])
def test_bad_input_size_or_num_classes_is_refused(cli, tmp_path, monkeypatch, args, message):
    (tmp_path / "bare.py").write_text(BARE)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = cli("summary", "--arch", "bare:make", *args)
    assert result.code == 2 and message in result.err


def test_num_classes_a_factory_cannot_take_is_refused(cli, tmp_path, monkeypatch):
    (tmp_path / "fixed.py").write_text("from torch import nn\n\ndef make():\n    return nn.Linear(64, 3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = cli("summary", "--arch", "fixed:make", "--input-size", "1,8,8", "--num-classes", "5")
    assert result.code == 2 and "takes no num_classes argument and its model has 3" in result.err


def test_a_factory_that_returns_no_module_is_refused(cli, tmp_path, monkeypatch):
    (tmp_path / "notamodel.py").write_text("def make():\n    return [1, 2]\n\nmake.input_shape = (1, 8, 8)\n"
                                           "make.num_classes = 10\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = cli("summary", "--arch", "notamodel:make")
    assert result.code == 2 and "returned list, not a torch.nn.Module" in result.err


def test_weights_load_a_plain_state_dict_into_an_imported_model(cli, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from examples.own_model import Net

    model = Net()
    with torch.no_grad():
        model.features[3].weight[:16] = 0
    torch.save({"state_dict": model.state_dict()}, tmp_path / "w.pt")
    result = cli("summary", "--arch", ARCH, "--weights", tmp_path / "w.pt", "--json")
    assert result.code == 0, result.err
    layer = next(item for item in result.json()["layers"] if item["name"] == "features.3")
    assert layer["zero_filters"] == 16
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "bad.pt")
    refused = cli("evaluate", "--arch", ARCH, "--weights", tmp_path / "bad.pt")
    assert refused.code == 2 and "does not fit the model" in refused.err and "features.0.weight (3,)" in refused.err


def test_train_starts_from_weights(cli, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from examples.own_model import Net

    torch.manual_seed(5)
    start = Net()
    torch.save(start.state_dict(), tmp_path / "start.pt")
    (tmp_path / "s.yaml").write_text("version: 1\ntraining: {epochs: 1, lr: 0.000001}\n")
    result = cli("train", "--schedule", tmp_path / "s.yaml", "--arch", ARCH, "--weights", tmp_path / "start.pt",
                 "--out", tmp_path / "run")
    assert result.code == 0, result.err
    trained = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["model_state"]
    delta = (trained["classifier.3.weight"] - start.state_dict()["classifier.3.weight"]).abs().max()
    assert delta < 1e-3  # a tiny learning rate: still the weights it started from


def test_thin_removes_the_zeroed_filters_of_an_imported_model(cli, tmp_path, monkeypatch):
    from compressor.compression.core.checkpoint import save_checkpoint

    monkeypatch.syspath_prepend(str(ROOT))
    from examples.own_model import Net

    model = Net()
    with torch.no_grad():
        model.features[3].weight[::2] = 0  # 16 of its 32 filters, bias included
        model.features[3].bias[::2] = 0
    save_checkpoint({"arch": ARCH, "num_classes": 10, "model_state": model.state_dict()}, tmp_path / "zeroed.pt")
    result = cli("thin", "--checkpoint", tmp_path / "zeroed.pt", "--out", tmp_path / "thin.pt", "--json")
    assert result.code == 0, result.err
    thinned = torch.load(tmp_path / "thin.pt", weights_only=True)["model_state"]
    assert thinned["features.3.weight"].shape[0] == 16 and thinned["classifier.1.weight"].shape[1] == 16 * 4 * 4


MISFITS = """from torch import nn


class Wide(nn.Module):
    input_shape = (1, 8, 8)
    default_dataset = "digits"

    def __init__(self, num_classes=10):
        super().__init__()
        self.fc = nn.Linear(100, num_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))


class Pair(Wide):
    def __init__(self, num_classes=10):
        super().__init__()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        logits = self.fc(x.flatten(1))
        return logits, logits


class Fixed(Pair):
    def forward(self, x):
        return self.fc(x.flatten(1))[:, :7]
"""


@pytest.mark.parametrize("arch, expected", [
    ("misfits:Wide", "the model does not run on a batch of its input shape (1, 8, 8) (model 'misfits:Wide') of "
                     "shape (2, 1, 8, 8): RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x64 and 100x10); "
                     "give the input shape it takes with --input-size C,H,W (model.input_size)"),
    ("misfits:Pair", "model 'misfits:Pair' returns a tuple on a batch of 2 inputs of shape (1, 8, 8) (C, H, W); "
                     "training needs its logits, a tensor of shape (2, 10): return the logits tensor alone from "
                     "forward"),
    ("misfits:Fixed", "returns a tensor of shape (2, 7) on a batch of 2 inputs of shape (1, 8, 8) (C, H, W), where "
                      "training needs logits of shape (2, 10) (10 classes): give its class count with --num-classes N"),
])
@pytest.mark.parametrize("command", ["validate", "train"])
def test_a_model_that_cannot_train_on_its_input_is_refused_before_the_run_folder(cli, tmp_path, monkeypatch, arch,
                                                                                  expected, command):
    (tmp_path / "misfits.py").write_text(MISFITS)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "s.yaml").write_text("version: 1\ntraining: {epochs: 1}\n")
    out = ["--out", tmp_path / "run"] if command == "train" else []
    result = cli(command, "--schedule", tmp_path / "s.yaml", "--arch", arch, *out)
    assert result.code == 2 and expected in " ".join(result.err.split()), result.err
    assert not (tmp_path / "run").exists()
    if arch == "misfits:Fixed":
        fixed = cli(command, "--schedule", tmp_path / "s.yaml", "--arch", arch, "--num-classes", 7, "--dataset", "fake",
                    *out)
        assert fixed.code == 0, fixed.err
