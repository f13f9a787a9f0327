"""`compressor auto --strategy amc`: a digits CNN to 0.6 of its MACs by AMC's agent, the schedule that
reproduces it, the same result after an interrupt and --resume, --amc-file, and bad input."""
import json
import signal

import pytest
import torch

from compressor.cli.main import run
from helpers import assert_train_reproduces, sigterm_after_saved_state

ONE_THREAD = ("--threads", "1")
FLAGS = ("--strategy", "amc", "--amc-episodes", "6", "--amc-warmup", "3", "--target", "macs=0.6", "--tolerance", "5",
         "--finetune-epochs", "1", "--round-steps", "0", *ONE_THREAD)


@pytest.fixture(scope="module")
def amc_run(dense_digits):
    """The uninterrupted run: its folder and report."""
    out = dense_digits.parent.parent / "amc"
    assert run(["auto", "--checkpoint", str(dense_digits), *FLAGS, "--out", str(out), "--json"]) == 0
    return out, json.loads((out / "report.json").read_text())


def test_the_best_episode_meets_the_target_and_is_what_the_report_keeps(amc_run):
    out, report = amc_run
    assert report["strategy"] == "amc" and report["target_met"] is True and report["reached"] <= 0.6
    search = report["search"]
    assert (search["strategy"], search["episodes"], search["warmup"]) == ("amc", 6, 3)
    episodes = json.loads((out / "search.json").read_text())[1:]
    assert [e["round"] for e in episodes] == [1, 2, 3, 4, 5, 6] and all(e["ratio"] <= 0.6 for e in episodes)
    best = episodes[search["best_episode"] - 1]
    assert best["val_top1"] == max(e["val_top1"] for e in episodes)
    assert search["best_reward"] == pytest.approx(best["val_top1"] / 100)
    assert {row["layer"]: row["kept"] for row in report["layers"]} == best["channels"]
    assert any(row["kept"] < row["channels"] for row in report["layers"])
    assert (out / "amc_state.pt").is_file() and "--strategy amc --amc-episodes 6" in (out / "schedule.yaml").read_text()


def test_train_runs_the_schedule_to_the_same_architecture(cli, amc_run, tmp_path):
    out, _ = amc_run
    assert_train_reproduces(cli, out, tmp_path / "again")


def test_interrupted_after_episode_2_and_resumed_it_ends_as_the_uninterrupted_run(cli, dense_digits, amc_run,
                                                                                    tmp_path, monkeypatch):
    """Episode 3 is the last warm-up one: the resumed run must bring back the agent's random generator and
    buffer, and then learn as the uninterrupted one did."""
    straight, expected = amc_run
    out = tmp_path / "stopped"
    sent = sigterm_after_saved_state(monkeypatch, lambda state: len(state.rounds) == 3 and state.search_end is None)
    first = cli("auto", "--checkpoint", dense_digits, *FLAGS, "--out", out, "--json")
    assert sent and first.code == 128 + signal.SIGTERM, first.err
    assert "SIGTERM received: stopped the AMC search after 2 episodes of 6" in first.err.replace("\n", "")
    assert len(json.loads((out / "auto_state.json").read_text())["rounds"]) == 3
    assert (out / "amc_state.pt").is_file() and not (out / "report.json").exists()

    monkeypatch.undo()
    second = cli("auto", "--resume", out, "--json", *ONE_THREAD)
    assert second.code == 0, second.err
    resumed = second.json()
    without_seconds = lambda folder: [{**r, "seconds": 0} for r in json.loads((folder / "search.json").read_text())]
    assert without_seconds(out) == without_seconds(straight)
    assert resumed["layers"] == expected["layers"] and resumed["search"]["best_episode"] == \
        expected["search"]["best_episode"]
    mine = torch.load(out / "best.pt", weights_only=True)["model_state"]
    theirs = torch.load(straight / "best.pt", weights_only=True)["model_state"]
    assert all(torch.equal(mine[name], theirs[name]) for name in theirs)


def test_an_amc_file_limits_the_search_to_the_layers_it_lists(cli, dense_digits, tmp_path):
    amc_file = tmp_path / "amc.yaml"
    amc_file.write_text("network:\n  resnet20_cifar: [module.layer1.0.conv1]\n"
                        "  digits_cnn: [module.conv2, module.fc1]\n")
    out = tmp_path / "listed"
    result = cli("auto", "--checkpoint", dense_digits, "--strategy", "amc", "--amc-episodes", "2", "--amc-warmup", "1",
                 "--amc-file", amc_file, "--target", "macs=0.7", "--tolerance", "50", "--finetune-epochs", "1",
                 "--round-steps", "0", "--out", out, "--json", *ONE_THREAD)
    assert result.code == 0, result.err
    report = result.json()
    assert report["left_out"]["conv1"] == report["left_out"]["conv3"] == f"not listed in --amc-file {amc_file}"
    kept = {row["layer"]: (row["kept"], row["channels"]) for row in report["layers"]}
    assert kept["conv1"] == (32, 32) and kept["conv3"] == (128, 128) and kept["conv2"][0] < 64
    schedule = (out / "schedule.yaml").read_text()
    assert "filters_conv2:" in schedule and "filters_conv1:" not in schedule and "filters_conv3:" not in schedule


@pytest.mark.parametrize("flags, message", [
    (["--amc-episodes", "0"], "--amc-episodes 0: at least 1"),
    (["--amc-episodes", "4", "--amc-warmup", "4"], "--amc-warmup 4: 0 or more and fewer than the 4 episodes"),
    (["--amc-min-keep", "0"], "--amc-min-keep 0: the least fraction"),
    (["--amc-min-keep", "1.5"], "--amc-min-keep 1.5: the least fraction"),
    (["--amc-file", "{tmp}/absent.yaml"], "file not found"),
])
def test_bad_amc_settings_exit_2_and_write_nothing(cli, dense_digits, tmp_path, flags, message):
    out = tmp_path / "never"
    flags = [flag.replace("{tmp}", str(tmp_path)) for flag in flags]
    result = cli("auto", "--checkpoint", dense_digits, "--strategy", "amc", "--target", "macs=0.5", "--tolerance", "1",
                 "--out", out, *flags, *ONE_THREAD)
    assert result.code == 2 and message in result.err.replace("\n", ""), result.err
    assert not out.exists()


@pytest.mark.parametrize("text, message", [
    ("network:\n  resnet20_cifar: [module.layer1.0.conv1]\n", "has no entry for model 'digits_cnn' (it has: "
                                                              "resnet20_cifar)"),
    ("network:\n  digits_cnn: [module.conv2, module.fc3]\n", "unknown Conv/Linear layer 'fc3'; did you mean"),
    ("- module.conv2\n", "not an AMC configuration"),
])
def test_an_amc_file_that_does_not_serve_the_model_exits_2_and_writes_nothing(cli, dense_digits, tmp_path, text,
                                                                               message):
    amc_file, out = tmp_path / "amc.yaml", tmp_path / "never"
    amc_file.write_text(text)
    result = cli("auto", "--checkpoint", dense_digits, "--strategy", "amc", "--amc-file", amc_file, "--target",
                 "macs=0.5", "--tolerance", "1", "--out", out, *ONE_THREAD)
    assert result.code == 2 and message in result.err.replace("\n", ""), result.err
    assert not out.exists()
