"""Every schedule that ships runs as it is (one epoch on a few fake images)."""
from pathlib import Path

import pytest

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.models import build_model
from compressor.compression.schedule import load_schedule
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run

SCHEDULES = sorted((Path(__file__).resolve().parents[1] / "schedules").glob("*.yaml"))


def teacher_checkpoint(schedule, folder) -> str:
    """A stand-in for the trained teacher a distillation schedule names."""
    teacher = schedule.distillation.teacher.arch
    path = folder / "teacher.pt"
    save_checkpoint({"arch": teacher, "num_classes": 10, "model_state": build_model(teacher).state_dict()}, path)
    return str(path)


@pytest.mark.parametrize("path", SCHEDULES, ids=lambda p: p.stem)
def test_shipped_schedule_runs_one_epoch(path, tmp_path):
    schedule = load_schedule(path)
    teacher = teacher_checkpoint(schedule, tmp_path) if schedule.distillation else None
    schedule = apply_overrides(schedule, TrainOptions(out=str(tmp_path / "run"), epochs=1, workers=0,
                                                      kd_teacher=teacher))
    schedule.dataset = schedule.dataset.model_copy(update={"name": "fake", "size": 8, "batch_size": 4,
                                                           "data_dir": None})
    if schedule.model.arch == "digits_cnn":
        schedule.dataset = schedule.dataset.model_copy(update={"name": "digits"})
    report = fit(prepare_run(schedule, write_tensorboard=False))
    assert report["epochs"] == 1 and 0 <= report["top1"] <= 100
