"""SIGTERM/SIGINT finish the step and checkpoint; kill -9 loses at most the epoch in progress."""
import random
import signal
import time

import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint
from processes import compressor_process, final_weights, run_compressor, wait_for

SCHEDULE = """version: 1
model: {arch: digits_cnn_small}
dataset: {name: digits, batch_size: 32}
training: {epochs: 12, lr: 0.05, seed: 1, skip_latency: true}
"""
EPOCHS = 12


@pytest.fixture
def schedule(tmp_path):
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE)
    return path


def started(folder):
    return lambda: (folder / "checkpoint.pt").exists()


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_with_a_checkpoint_and_resume_completes_the_run(schedule, tmp_path, number):
    folder = tmp_path / "run"
    process = compressor_process("train", "--schedule", schedule, "--out", folder)
    wait_for(started(folder))
    process.send_signal(number)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + number
    assert f"{signal.Signals(number).name} received: stopped" in err and "--resume" in err
    assert "Traceback" not in err
    stopped_at = load_checkpoint(folder / "checkpoint.pt")["epoch"]
    assert stopped_at < EPOCHS - 1

    code, out, err = run_compressor("train", "--resume", folder / "checkpoint.pt", "--json")
    assert code == 0, err
    assert (folder / "report.json").exists()
    epochs = [line for line in (folder / "metrics.jsonl").read_text().splitlines() if line]
    assert len(epochs) == EPOCHS


def test_kill_9_then_resume_gives_the_weights_of_an_uninterrupted_run(schedule, tmp_path):
    code, _, err = run_compressor("train", "--schedule", schedule, "--out", tmp_path / "straight")
    assert code == 0, err

    folder = tmp_path / "killed"
    process = compressor_process("train", "--schedule", schedule, "--out", folder)
    wait_for(started(folder))
    time.sleep(random.uniform(0.0, 0.3))  # anywhere in the next epochs: in a step, evaluating, or writing
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert load_checkpoint(folder / "checkpoint.pt")["epoch"] < EPOCHS - 1
    code, _, err = run_compressor("train", "--resume", folder / "checkpoint.pt")
    assert code == 0, err
    straight, resumed = final_weights(tmp_path / "straight"), final_weights(folder)
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
