"""The installed `compressor` console script, run as users run it: one clear line, exit 2, no traceback.

In-process tests go through `run()`, which catches every exception, so they cannot see a traceback
that escapes `main()` or the script itself; these run the real script in a subprocess.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = shutil.which("compressor", path=str(Path(sys.executable).parent))
UNKNOWN_PRUNER = """version: 1
pruners:
  p: {class: AutomatedGradualPrunerr, initial_sparsity: 0.1, final_sparsity: 0.5, weights: [conv1.weight]}
policies:
  - pruner: {instance_name: p}
    epochs: [0]
"""

# command line -> a fragment of the message that says what is wrong; "bad.yaml" holds UNKNOWN_PRUNER
CASES = {
    "train": (["train", "--schedule", "bad.yaml"],
              "unknown pruner class 'AutomatedGradualPrunerr'; did you mean 'AutomatedGradualPruner'"),
    "evaluate": (["evaluate", "--checkpoint", "missing.pt"], "checkpoint not found: missing.pt"),
    "summary": (["summary", "--arch", "alexnett"], "unknown model 'alexnett'; did you mean 'alexnet'"),
    "benchmark": (["benchmark", "--arch", "digits_cnn", "--threads", "0"],
                  "Invalid value for '--threads': 0 is not in the range x>=1"),
    "validate": (["validate", "--schedule", "nope.yaml"], "file not found: nope.yaml"),
    "schema": (["schema", "--frobnicate"], "No such option '--frobnicate'"),
    "list": (["list", "prunerz"], "'prunerz' is not one of 'pruners'"),
    "thin": (["thin", "--checkpoint", "missing.pt", "--out", "thin.pt"], "checkpoint not found: missing.pt"),
    "quantize": (["quantize", "--checkpoint", "missing.pt", "--out", "q"], "checkpoint not found: missing.pt"),
    "export": (["export", "--arch", "resnt18", "--format", "onnx", "--out", "x.onnx"],
               "unknown model 'resnt18'; did you mean 'resnet18'"),
    "sensitivity": (["sensitivity", "--arch", "digits_cnn", "--sparsities", "0,1.5"],
                    "--sparsities: every level must be a number in [0, 1), got 1.5"),
    "unknown command": (["evalute"], "did you mean 'evaluate'"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_mistake_is_one_message_exit_2_and_nothing_written(tmp_path, name):
    assert SCRIPT, "the `compressor` console script is not installed next to this Python"
    args, expected = CASES[name]
    (tmp_path / "bad.yaml").write_text(UNKNOWN_PRUNER)
    env = {key: value for key, value in os.environ.items() if key != "COMPRESSOR_DEBUG"}
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run([SCRIPT, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert expected in result.stderr, result.stderr
    assert result.stdout == ""
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.yaml"]  # no runs/, no outputs
