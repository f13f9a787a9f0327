"""`compressor validate` checks a schedule before torch loads: `--no-build` never loads it, and a
mistake the schedule alone shows is reported before it loads. Run in a subprocess where importing
torch, torchvision, scikit-learn or timm fails."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCHEDULES = Path(__file__).resolve().parents[2] / "schedules"
WITHOUT_TORCH = """
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "sklearn", "timm"):
            raise ImportError("imported without need: " + name)

sys.meta_path.insert(0, Refuse())
from compressor.cli.main import run
sys.exit(run(sys.argv[1:]))
"""
MISSPELLED = """version: 1
pruners:
  agp: {class: AutomatedGradualPruner, initial_sparsity: 0.05, final_sparsity: 0.5, weights: [conv2.weigth]}
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 2
"""


def without_torch(*args):
    """The command's exit status and everything it printed."""
    result = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, *map(str, args)], capture_output=True, text=True,
                            timeout=120)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("schedule", sorted(SCHEDULES.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_schedule_is_checked_without_torch(schedule):
    code, output = without_torch("validate", "--schedule", schedule, "--no-build", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["valid"] and report["built"] is False
    assert any("run without --no-build" in note for note in report["notes"])


def test_a_misspelled_parameter_is_found_without_torch(tmp_path):
    schedule = tmp_path / "bad.yaml"
    schedule.write_text(MISSPELLED)
    code, output = without_torch("validate", "--schedule", schedule, "--no-build")
    assert code == 2 and "unknown parameter 'conv2.weigth'; did you mean 'conv2.weight'" in output


def test_without_no_build_a_mistake_in_the_file_is_reported_before_torch_loads(tmp_path):
    schedule = tmp_path / "bad.yaml"
    schedule.write_text(MISSPELLED.replace("AutomatedGradualPruner", "AutomatedGradualPrunr"))
    code, output = without_torch("validate", "--schedule", schedule)
    assert code == 2 and "did you mean 'AutomatedGradualPruner'" in output
    assert "imported without need" not in output


def test_the_options_apply_before_the_check():
    """--arch changes the model whose names are checked; --epochs what the run would skip."""
    code, output = without_torch("validate", "--schedule", SCHEDULES / "digits_agp.yaml", "--no-build", "--arch",
                                 "resnet18", "--dataset", "fake")
    assert code == 2 and "unknown parameter 'conv2.weight'" in output and "layer4.1.conv2.weight" in output
    code, output = without_torch("validate", "--schedule", SCHEDULES / "digits_agp.yaml", "--no-build", "--epochs", 1,
                                 "--strict")
    assert code == 2 and "but the run ends after epoch 0" in output


def test_a_model_given_by_import_path_is_noted_not_checked():
    code, output = without_torch("validate", "--schedule", SCHEDULES / "digits_baseline.yaml", "--no-build", "--json",
                                 "--arch", "examples.own_model:Net")
    assert code == 0, output
    assert any("parameter names were not checked" in note for note in json.loads(output)["notes"])


def test_a_timm_model_is_noted_not_checked_and_timm_is_not_imported():
    code, output = without_torch("validate", "--schedule", SCHEDULES / "digits_baseline.yaml", "--no-build", "--json",
                                 "--arch", "timm/resnet18")
    assert code == 0, output
    assert any("parameter names were not checked" in note for note in json.loads(output)["notes"])


def test_threads_limit_the_build_and_load_no_torch_without_it(cli):
    """validate takes train's --threads; only the build (which loads torch) uses it."""
    code, output = without_torch("validate", "--schedule", SCHEDULES / "digits_agp.yaml", "--no-build", "--threads", 1)
    assert code == 0, output
    import torch

    before = torch.get_num_threads()
    try:
        built = cli("validate", "--schedule", SCHEDULES / "digits_agp.yaml", "--threads", 1)
        assert built.code == 0, built.err
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
