"""A factorized run through the CLI: its checkpoints evaluate, summarize, benchmark, export and resume;
bad factorization settings exit 2 before anything is written."""
import pytest

SCHEDULE = """version: 1
model: {arch: digits_cnn}
dataset: {name: fake, size: 16, batch_size: 8}
training: {epochs: 1, lr: 0.01, seed: 0}
extensions:
  lowrank:
    class: LowRankFactorizer
    method: METHOD
    macs_ratio: 0.5
    overrides: {conv1: null, fc2: null}
policies:
  - extension: {instance_name: lowrank}
    epochs: [0]
"""


def schedule_file(tmp_path, text):
    path = tmp_path / "lowrank.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("method", ["spatial_svd", "tucker2"])
def test_a_factorized_checkpoint_works_with_every_command(cli, tmp_path, method):
    schedule = schedule_file(tmp_path, SCHEDULE.replace("METHOD", method))
    trained = cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--json", "--threads", "1")
    assert trained.code == 0, trained.err
    report = trained.json()
    assert report["macs"] <= 0.55 * report["dense_macs"] and report["params"] < report["dense_params"]
    best = tmp_path / "run" / "best.pt"
    summary = cli("summary", "--checkpoint", best, "--json")
    assert summary.code == 0, summary.err
    names = [layer["name"] for layer in summary.json()["layers"]]
    parts = 2 if method == "spatial_svd" else 3
    assert [name for name in names if name.startswith("conv2")] == [f"conv2.{i}" for i in range(parts)]
    assert summary.json()["macs"] == report["macs"]
    evaluated = cli("evaluate", "--checkpoint", best, "--dataset", "fake", "--json")
    assert evaluated.code == 0, evaluated.err
    bench = cli("benchmark", "--checkpoint", best, "--repeats", 2, "--warmup", 1, "--json")
    assert bench.code == 0 and bench.json()["speedup"] > 0, bench.err
    exported = cli("export", "--checkpoint", best, "--format", "onnx", "--out", tmp_path / "m.onnx", "--json")
    assert exported.code == 0 and exported.json()["max_abs_diff"] < 1e-4, exported.err
    resumed = cli("train", "--resume", tmp_path / "run" / "checkpoint.pt", "--schedule", schedule, "--epochs", 2,
                  "--out", tmp_path / "run", "--json", "--threads", "1")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["params"] == report["params"]


@pytest.mark.parametrize("old,new,message", [
    ("macs_ratio: 0.5", "rank_ratio: 1.5", "less than or equal to 1"),
    ("macs_ratio: 0.5", "rank: 100", "rank 100 is larger than spatial_svd allows"),
    ("method: METHOD", "method: cp", "'svd', 'spatial_svd' or 'tucker2'"),
    ("{conv1: null, fc2: null}", "{conv9: null}", "'conv9' matches no Conv2d or Linear layer"),
    ("{conv1: null, fc2: null}", "{fc1: {method: tucker2}}", "Linear layer 'fc1' with tucker2"),
])
def test_bad_factorization_settings_exit_2_and_write_nothing(cli, tmp_path, old, new, message):
    text = SCHEDULE.replace(old, new).replace("METHOD", "spatial_svd")
    result = cli("train", "--schedule", schedule_file(tmp_path, text), "--out", tmp_path / "run")
    assert result.code == 2 and message in result.err, result.err
    assert not (tmp_path / "run").exists()
