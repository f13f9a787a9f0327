import pytest
import torch

from compressor.compression.core.errors import TrainingDiverged
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run
from helpers import train_schedule

SCHEDULE = "version: 1\ndataset: {batch_size: 256}\ntraining: {epochs: 2, lr: 0.05}\n"


def test_a_non_finite_loss_stops_training_and_keeps_the_last_checkpoint(tmp_path):
    train_schedule(tmp_path, "run", SCHEDULE, epochs=1)
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    before = checkpoint.read_bytes()
    schedule = apply_overrides(parse_schedule_text(SCHEDULE), TrainOptions(out=str(tmp_path / "run")))
    run = prepare_run(schedule, resume=str(checkpoint), write_tensorboard=False)
    with torch.no_grad():
        run.model.fc2.weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="the loss became nan at epoch 1, step 0"):
        fit(run)
    assert checkpoint.read_bytes() == before


def test_the_cli_reports_divergence_with_exit_1(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text("version: 1\ndataset: {batch_size: 256}\ntraining: {epochs: 2, lr: 1.0e+30}\n")
    result = cli("train", "--schedule", schedule, "--out", tmp_path / "run")
    assert result.code == 1 and "diverged:" in result.err and "epoch 0" in result.err
    assert "Traceback" not in result.err and not (tmp_path / "run" / "checkpoint.pt").exists()
