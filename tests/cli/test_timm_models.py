"""`--arch timm/<name>` in the commands: a run's checkpoint records it and later commands rebuild the model;
a wrong name or a missing timm is a user error (exit 2)."""
import sys

import pytest

pytest.importorskip("timm")

from compressor.compression.models import timm_zoo  # noqa: E402

SCHEDULE = "version: 1\ndataset: {name: fake, size: 16, batch_size: 8}\ntraining: {epochs: 1, lr: 0.01, seed: 0}\n"


def test_train_records_the_timm_model_and_evaluate_rebuilds_it(cli, tmp_path):
    schedule = tmp_path / "fake.yaml"
    schedule.write_text(SCHEDULE)
    run = tmp_path / "run"
    trained = cli("train", "--schedule", schedule, "--arch", "timm/mobilenetv3_small_050", "--input-size", "3,32,32",
                  "--num-classes", "10", "--out", run, "--threads", "1")
    assert trained.code == 0, trained.err

    evaluated = cli("evaluate", "--checkpoint", run / "best.pt", "--json")

    assert evaluated.code == 0, evaluated.err
    assert evaluated.json()["arch"] == "timm/mobilenetv3_small_050" and evaluated.json()["dataset"] == "fake"


def test_a_vit_trains_at_a_small_input_size_and_teaches_another(cli, tmp_path):
    vit = ("--arch", "timm/deit_tiny_patch16_224", "--input-size", "3,32,32", "--num-classes", "10", "--threads", "1")
    schedule = tmp_path / "fake.yaml"
    schedule.write_text(SCHEDULE)
    teacher = cli("train", "--schedule", schedule, *vit, "--out", tmp_path / "teacher")
    assert teacher.code == 0, teacher.err
    taught = tmp_path / "kd.yaml"
    taught.write_text(SCHEDULE + f"distillation: {{teacher: {{checkpoint: {tmp_path / 'teacher' / 'best.pt'}}}}}\n")

    student = cli("train", "--schedule", taught, *vit, "--out", tmp_path / "student", "--json")

    assert student.code == 0, student.err
    assert student.json()["arch"] == "timm/deit_tiny_patch16_224"


def test_summary_of_a_vit_built_for_small_inputs(cli):
    result = cli("summary", "--arch", "timm/deit_tiny_patch16_224", "--input-size", "3,32,32", "--num-classes", "10",
                 "--json")
    assert result.code == 0, result.err
    assert "deit_tiny_patch16_224" in result.out


def test_an_unknown_timm_name_exits_2_with_close_names(cli):
    result = cli("summary", "--arch", "timm/resnet81")
    assert result.code == 2
    assert "did you mean 'timm/resnet18'" in result.err and "Traceback" not in result.err


def test_without_timm_exits_2_saying_how_to_install_it(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    monkeypatch.setattr(timm_zoo, "_ENTRIES", {})
    result = cli("summary", "--arch", "timm/resnet18")
    assert result.code == 2
    assert "pip install 'compressor[timm]'" in result.err.replace("\n", "")


def test_list_models_names_the_timm_prefix(cli):
    assert "timm/<name>" in cli("list", "models").err
