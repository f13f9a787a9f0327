"""Distillation mistakes on the command line and in the file: message, exit 2, nothing written."""
import pytest

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.models import build_model


def teacher(tmp_path, arch="digits_cnn"):
    path = tmp_path / "teacher.pt"
    save_checkpoint({"arch": arch, "num_classes": 10, "model_state": build_model(arch).state_dict()}, path)
    return str(path)


@pytest.mark.parametrize("flags, expected", [
    (["--kd-temp", "0"], "--kd-temp"),
    (["--kd-distill-wt", "-1"], "--kd-distill-wt"),
    (["--kd-student-wt", "-0.5"], "--kd-student-wt"),
    (["--kd-start-epoch", "3", "--kd-end-epoch", "2"], "end_epoch (2) must be after start_epoch (3)"),
])
def test_bad_distillation_flags(cli, tmp_path, flags, expected):
    schedule = tmp_path / "s.yaml"
    schedule.write_text("version: 1\nmodel: {arch: digits_cnn_small}\ntraining: {epochs: 1}\n")
    result = cli("train", "--schedule", schedule, "--kd-teacher", teacher(tmp_path), *flags, "--out", tmp_path / "o")
    assert result.code == 2 and expected in result.err and "Traceback" not in result.err
    assert not (tmp_path / "o").exists()


def test_teacher_with_another_class_count_or_unreadable(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text("version: 1\nmodel: {arch: digits_cnn_small}\ntraining: {epochs: 1}\n")
    result = cli("train", "--schedule", schedule, "--kd-teacher", "resnet18", "--out", tmp_path / "o")
    assert result.code == 2 and "1000 classes but the student has 10" in result.err
    (tmp_path / "broken.pt").write_bytes(b"garbage")
    result = cli("train", "--schedule", schedule, "--kd-teacher", tmp_path / "broken.pt", "--out", tmp_path / "o")
    assert result.code == 2 and "broken.pt" in result.err
    assert not (tmp_path / "o").exists()


def test_a_distillation_section_without_a_teacher_needs_one_from_the_flag(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text("version: 1\nmodel: {arch: digits_cnn_small}\ntraining: {epochs: 1}\n"
                        "distillation: {temperature: 4.0}\n")
    for command in (["validate"], ["train", "--out", tmp_path / "o"]):
        result = cli(*command, "--schedule", schedule)
        assert result.code == 2 and "distillation: no teacher: give distillation.teacher" in result.err
    assert not (tmp_path / "o").exists()
    result = cli("validate", "--schedule", schedule, "--kd-teacher", teacher(tmp_path))
    assert result.code == 0, result.err


def test_distillation_section_in_the_file_is_validated(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text("version: 1\ndistillation:\n  teacher: {arch: digits_cnn}\n  temperature: -2\n")
    result = cli("validate", "--schedule", schedule)
    assert result.code == 2 and "distillation.temperature (line 4)" in result.err


HINTS = """version: 1
model: {arch: digits_cnn_small}
training: {epochs: 1}
distillation:
  teacher: {checkpoint: TEACHER}
  hints:
    - HINT
"""


@pytest.mark.parametrize("hint, expected", [
    ("{student: conv22, teacher: conv2}", "unknown student module 'conv22'; did you mean 'conv2'"),
    ("{student: conv2, teacher: fc}", "unknown teacher module 'fc'; did you mean 'fc2' or 'fc1'"),
    ("{student: conv2, teacher: conv2, loss: mse}",
     "loss mse needs equal shapes, got student (16, 8, 8), teacher (64, 8, 8)"),
])
def test_bad_hints_stop_train_before_anything_is_written_and_fail_validate(cli, tmp_path, hint, expected):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(HINTS.replace("TEACHER", teacher(tmp_path)).replace("HINT", hint))
    result = cli("train", "--schedule", schedule, "--out", tmp_path / "o")
    assert result.code == 2 and expected in result.err and "Traceback" not in result.err
    assert not (tmp_path / "o").exists()
    checked = cli("validate", "--schedule", schedule)
    assert checked.code == 2 and expected in checked.err


def test_validate_accepts_good_hints_and_checks_a_teacher_not_trained_yet_by_its_arch(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(HINTS.replace("TEACHER", teacher(tmp_path)).replace("HINT", "{student: conv2, teacher: conv2}"))
    assert cli("validate", "--schedule", schedule).code == 0
    later = "{arch: digits_cnn, checkpoint: runs/later/best.pt}"
    schedule.write_text(HINTS.replace("{checkpoint: TEACHER}", later).replace("HINT", "{student: conv2, teacher: fc}"))
    result = cli("validate", "--schedule", schedule)
    assert result.code == 2 and "unknown teacher module 'fc'" in result.err
    schedule.write_text(HINTS.replace("{checkpoint: TEACHER}", later).replace("HINT", "{student: conv2, teacher: conv2}"))
    result = cli("validate", "--schedule", schedule, "--json")
    assert result.code == 0
    assert result.json()["notes"] == ["distillation.teacher.checkpoint runs/later/best.pt does not exist yet: "
                                      "checked against an untrained digits_cnn"]


def test_hint_arguments_are_validated_with_their_line(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(HINTS.replace("TEACHER", "t.pt").replace("HINT", "{student: a, teacher: b, weight: -1}"))
    result = cli("validate", "--schedule", schedule)
    assert result.code == 2 and "distillation.hints[0].weight (line 7)" in result.err
