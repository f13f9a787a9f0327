import re

import pytest

from compressor.compression.core.errors import UserError
from compressor.compression.training.run_folder import check_run_folder, folder_name


def test_a_model_name_becomes_one_folder_name():
    assert folder_name("digits_cnn") == "digits_cnn"
    assert folder_name("timm/resnet18.a1_in1k") == "timm_resnet18.a1_in1k"  # not a nested folder
    assert folder_name("mynet:MyNet") == "mynet_MyNet"
    assert folder_name("examples.own_model:Net") == "examples.own_model_Net"


def test_a_folder_holding_only_this_schedules_copy_is_written_again(tmp_path):
    """A run that stopped before its first checkpoint left only schedule.yaml: the same schedule may run there."""
    (tmp_path / "schedule.yaml").write_text("version: 1\n")
    check_run_folder(tmp_path, None, False, "version: 1\n")
    with pytest.raises(UserError, match="already holds a run") as error:
        check_run_folder(tmp_path, None, False, "version: 1\ntraining: {epochs: 2}\n")
    assert "--resume" not in str(error.value) and "--overwrite" in str(error.value)
    with pytest.raises(UserError, match="already holds a run"):
        check_run_folder(tmp_path, None, False)  # a caller that writes no schedule (auto's search)


def test_only_a_folder_with_a_checkpoint_is_offered_resume(tmp_path):
    (tmp_path / "schedule.yaml").write_text("version: 1\n")
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(UserError, match=re.escape(f"continue it with --resume {tmp_path / 'checkpoint.pt'}")):
        check_run_folder(tmp_path, None, False, "version: 1\n")
    (tmp_path / "checkpoint.pt").unlink()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="already holds a run") as error:
        check_run_folder(tmp_path, None, False, "version: 1\n")
    assert "--resume" not in str(error.value)


def test_a_run_of_another_schedule_is_not_offered_resume(tmp_path):
    (tmp_path / "schedule.yaml").write_text("version: 1\n")
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(UserError, match="a run of another schedule") as error:
        check_run_folder(tmp_path, None, False, "version: 1\ntraining: {epochs: 2}\n")
    assert "--resume" not in str(error.value) and "--overwrite" in str(error.value)
