"""`compressor auto --resume`: a run stopped by SIGTERM in its search and again in its fine-tuning
ends where an uninterrupted run ends; flags that contradict the saved run are refused."""
import json
import signal

import pytest
import torch

from compressor.cli.main import run
from helpers import sigterm_after_saved_state

ONE_THREAD = ("--threads", "1")
FLAGS = ("--target", "macs=0.5", "--tolerance", "2", "--step", "0.25", "--round-steps", "2", "--finetune-epochs", "2",
         "--hold-out", "conv1", *ONE_THREAD)


@pytest.fixture(scope="module")
def straight(dense_digits):
    """The uninterrupted run."""
    out = dense_digits.parent.parent / "straight"
    assert run(["auto", "--checkpoint", str(dense_digits), *FLAGS, "--out", str(out), "--json"]) == 0
    return out


def _weights(folder):
    return torch.load(folder / "best.pt", weights_only=True)["model_state"]


def test_interrupted_in_the_search_and_in_the_fine_tuning_ends_as_an_uninterrupted_run(cli, dense_digits, straight,
                                                                                        tmp_path, monkeypatch):
    out = tmp_path / "stopped"
    after_round_1 = sigterm_after_saved_state(monkeypatch, lambda state: len(state.rounds) == 2 and state.search_end is None)
    first = cli("auto", "--checkpoint", dense_digits, *FLAGS, "--out", out, "--json")
    assert after_round_1 and first.code == 128 + signal.SIGTERM, first.err
    assert "SIGTERM received: stopped the search in round 2" in first.err
    assert f"compressor auto --resume {out}" in first.err.replace("\n", "")
    saved = json.loads((out / "auto_state.json").read_text())
    assert len(saved["rounds"]) == 2 and saved["search_end"] is None and not (out / "report.json").exists()

    in_finetune = sigterm_after_saved_state(monkeypatch, lambda state: state.search_end is not None and not state.complete)
    second = cli("auto", "--resume", out, "--json", *ONE_THREAD)
    assert in_finetune and second.code == 128 + signal.SIGTERM, second.err
    assert "of the fine-tuning; resume with compressor auto --resume" in second.err.replace("\n", "")
    assert (out / "checkpoint.pt").exists() and not (out / "report.json").exists()

    monkeypatch.undo()
    third = cli("auto", "--resume", out, "--json", *ONE_THREAD)
    assert third.code == 0, third.err
    resumed, expected = third.json(), json.loads((straight / "report.json").read_text())
    assert json.loads((out / "search.json").read_text()) == _without_seconds(straight / "search.json", out)
    assert resumed["layers"] == expected["layers"] and len(json.loads((out / "search.json").read_text())) > 3
    assert resumed["compressed"]["test_top1"] == expected["compressed"]["test_top1"]
    straight_weights, resumed_weights = _weights(straight), _weights(out)
    assert all(torch.equal(straight_weights[name], resumed_weights[name]) for name in straight_weights)
    assert json.loads((out / "auto_state.json").read_text())["complete"] is True


def _without_seconds(path, other):
    """The straight run's rounds with the resumed run's timings (the only thing that may differ)."""
    rounds, times = json.loads(path.read_text()), json.loads((other / "search.json").read_text())
    for mine, theirs in zip(rounds, times):
        mine["seconds"] = theirs["seconds"]
    return rounds


@pytest.mark.parametrize("flags, message", [
    (["--step", "0.5"], "--step 0.5 (the run has 0.25)"),
    (["--target", "params=0.5"], "--target params=0.5 (the run has macs=0.5)"),
    (["--hold-out", "conv2"], "--hold-out conv2 (the run has conv1)"),
    (["--overwrite"], "not both"),
])
def test_flags_that_contradict_the_saved_run_are_refused(cli, straight, tmp_path, flags, message):
    state = json.loads((straight / "auto_state.json").read_text())
    state["complete"] = False  # as if it had been interrupted
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "auto_state.json").write_text(json.dumps(state))
    result = cli("auto", "--resume", folder, *flags, *ONE_THREAD)
    assert result.code == 2 and message in result.err.replace("\n", ""), result.err
    assert sorted(path.name for path in folder.iterdir()) == ["auto_state.json"]


def test_same_flags_spelt_otherwise_are_no_contradiction_and_a_finished_run_has_nothing_to_resume(cli, straight):
    result = cli("auto", "--resume", straight, "--target", "MACS=0.50", "--tolerance", "2.0", *ONE_THREAD)
    assert result.code == 2 and "nothing to resume" in result.err and "holds a finished" in result.err


def test_a_folder_without_auto_state_is_refused(cli, tmp_path):
    result = cli("auto", "--resume", tmp_path, *ONE_THREAD)
    assert result.code == 2 and "no auto_state.json there" in result.err


def test_checkpoint_target_and_tolerance_are_required_without_resume(cli, tmp_path):
    result = cli("auto", "--target", "macs=0.5", "--out", tmp_path / "never", *ONE_THREAD)
    assert result.code == 2 and "give --checkpoint, --tolerance" in result.err and not (tmp_path / "never").exists()
