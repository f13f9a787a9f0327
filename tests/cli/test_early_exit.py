"""Early exit from the command line: Distiller's flags on train and evaluate, and bad input."""
import json

import pytest

SCHEDULE = """version: 1
model: {arch: ARCH}
dataset: {name: fake, size: 16, batch_size: 8}
training: {epochs: 1, lr: 0.05}
"""


def write(tmp_path, text, arch="resnet20_cifar_earlyexit"):
    path = tmp_path / "s.yaml"
    path.write_text(SCHEDULE.replace("ARCH", arch) + text)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One epoch of resnet20_cifar_earlyexit with Distiller's flag spellings."""
    from compressor.cli.main import run

    tmp_path = tmp_path_factory.mktemp("ee")
    code = run(["train", "--schedule", str(write(tmp_path, "")), "--earlyexit_thresholds", "2.0",
                "--earlyexit_lossweights", "0.4", "--out", str(tmp_path / "run"), "--json"])
    return code, tmp_path / "run"


def test_train_with_distillers_flags_trains_the_exit_and_reports_exits_taken(trained):
    code, out = trained
    assert code == 0
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    expected = 0.4 * record["exit0_loss"] + 0.6 * record["final_exit_loss"]
    assert record["train_loss"] == pytest.approx(expected, rel=1e-4)
    report = json.loads((out / "report.json").read_text())["early_exit"]
    assert report["thresholds"] == [2.0] and sum(report["exit_counts"]) == report["samples"] == 4


def test_evaluate_takes_the_exits_and_times_them(cli, trained):
    _, out = trained
    result = cli("evaluate", "--checkpoint", out / "best.pt", "--earlyexit-thresholds", "100",
                 "--earlyexit-lossweights", "0.4", "--json")
    assert result.code == 0, result.err
    data = result.json()
    early = data["early_exit"]
    assert early["exit_shares"] == [1.0, 0.0] and early["final_top1"] == pytest.approx(data["top1"])
    assert early["timing"]["timed_exit_shares"] == [1.0, 0.0] and early["timing"]["speedup"] > 0
    assert early["weighted_loss"] == pytest.approx(0.4 * early["exit_loss_all"][0] + 0.6 * early["exit_loss_all"][1])
    table = cli("evaluate", "--checkpoint", out / "best.pt", "--earlyexit_thresholds", "0")
    assert table.code == 0 and "layer1.2.relu2" in table.err and "speed-up" in table.err


@pytest.mark.parametrize("arch, text, flags, expected", [
    ("resnet20_cifar", "early_exit:\n  thresholds: [0.4]\n", [],
     "early_exit (line 5): model 'resnet20_cifar' has no early exits"),
    ("resnet20_cifar_earlyexit", "early_exit:\n  thresholds: [0.4, 0.3]\n", [],
     "early_exit.thresholds (line 6): 2 values for the 1 early exit"),
    ("resnet20_cifar_earlyexit", "early_exit:\n  thresholds: [0.4]\n  loss_weights: [0.7]\n",
     ["--earlyexit-lossweights", "0.6,0.5"], "--earlyexit-lossweights: the early exits' weights sum to 1.1"),
    ("resnet20_cifar_earlyexit", "early_exit:\n  loss_weights: [1]\n", [],
     "early_exit.loss_weights (line 6): the early exits' weights sum to 1"),
    ("resnet20_cifar", "", ["--earlyexit-thresholds", "0.4"],
     "--earlyexit-thresholds: model 'resnet20_cifar' has no early exits"),
])
def test_bad_early_exit_input_is_refused_before_anything_is_written(cli, tmp_path, arch, text, flags, expected):
    result = cli("train", "--schedule", write(tmp_path, text, arch), *flags, "--out", tmp_path / "o")
    assert result.code == 2 and expected in result.err and "Traceback" not in result.err
    assert not (tmp_path / "o").exists()


def test_evaluate_refuses_exits_the_model_lacks(cli):
    result = cli("evaluate", "--arch", "resnet20_cifar", "--dataset", "fake", "--earlyexit-thresholds", "0.4")
    assert result.code == 2 and "--earlyexit-thresholds: model 'resnet20_cifar' has no early exits" in result.err


def test_an_early_exit_model_quantizes_with_stats_of_its_trunk(cli, trained, tmp_path):
    """The exits do not run in the deployed forward: their layers have no statistics and need none."""
    _, out = trained
    stats = tmp_path / "stats.yaml"
    collected = cli("quantize", "--checkpoint", out / "best.pt", "--collect-stats", stats, "--calibration-size", "8")
    assert collected.code == 0, collected.err
    assert "branch_net" not in stats.read_text()
    result = cli("quantize", "--checkpoint", out / "best.pt", "--stats", stats, "--calibration-size", "8",
                 "--out", tmp_path / "q", "--json")
    assert result.code == 0, result.err
    assert (tmp_path / "q" / "model_int8.pt").exists()
