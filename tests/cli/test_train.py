import json

import torch

SCHEDULE = """version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 256}
training: {epochs: 2, lr: 0.05, seed: 1}
"""


def test_train_json_writes_run_folder_and_reports(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE)
    result = cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["arch"] == "digits_cnn" and report["epochs"] == 2 and 0 <= report["top1"] <= 100
    assert (tmp_path / "run" / "best.pt").exists()
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2


def test_train_flags_override_the_schedule_and_resume_continues(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE)
    assert cli("train", "--schedule", schedule, "--out", tmp_path / "r", "--epochs", 1, "--json").code == 0
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["epoch"] == 0
    result = cli("train", "--resume", tmp_path / "r" / "checkpoint.pt", "--epochs", 2, "--json")
    assert result.code == 0, result.err
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1]


def test_train_progress_and_table_go_to_stderr(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE.replace("epochs: 2", "epochs: 1"))
    result = cli("train", "--schedule", schedule, "--out", tmp_path / "run")
    assert result.code == 0
    assert result.out == "" and "epoch   0" in result.err and "top1" in result.err


def test_resume_when_already_finished_is_a_user_error(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE.replace("epochs: 2", "epochs: 1"))
    cli("train", "--schedule", schedule, "--out", tmp_path / "r", "--json")
    result = cli("train", "--resume", tmp_path / "r" / "checkpoint.pt")
    assert result.code == 2 and "nothing to do" in result.err
