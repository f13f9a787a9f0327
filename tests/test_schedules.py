"""Every schedule that ships runs as it is (one epoch on a few fake images)."""
from pathlib import Path

import pytest

from compressor.compression.schedule import load_schedule
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run

SCHEDULES = sorted((Path(__file__).resolve().parents[1] / "schedules").glob("*.yaml"))


@pytest.mark.parametrize("path", SCHEDULES, ids=lambda p: p.stem)
def test_shipped_schedule_runs_one_epoch(path, tmp_path):
    schedule = apply_overrides(load_schedule(path), TrainOptions(out=str(tmp_path), epochs=1, workers=0))
    schedule.dataset = schedule.dataset.model_copy(update={"name": "fake", "size": 8, "batch_size": 4,
                                                           "data_dir": None})
    if schedule.model.arch == "digits_cnn":
        schedule.dataset = schedule.dataset.model_copy(update={"name": "digits"})
    report = fit(prepare_run(schedule, write_tensorboard=False))
    assert report["epochs"] == 1 and 0 <= report["top1"] <= 100
