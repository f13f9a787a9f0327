import torch

from compressor.compression.core.checkpoint import load_checkpoint, save_checkpoint
from compressor.compression.restore import model_from_checkpoint
from compressor.compression.models import build_model


def pruned_checkpoint(path):
    torch.manual_seed(0)
    model = build_model("digits_cnn").eval()
    with torch.no_grad():
        for conv, bn in ((model.conv2, model.bn2), (model.conv3, model.bn3)):
            conv.weight[::2] = 0
            conv.bias[::2] = 0
            bn.weight[::2] = 0
            bn.bias[::2] = 0
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "dataset": "digits", "epoch": 0,
                     "model_state": model.state_dict()}, path)
    return model


def test_thin_a_checkpoint_then_evaluate_summarize_and_benchmark_it(cli, tmp_path):
    masked = pruned_checkpoint(tmp_path / "pruned.pt")
    result = cli("thin", "--checkpoint", tmp_path / "pruned.pt", "--out", tmp_path / "thin.pt", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["params_after"] < data["params_before"]
    thinned, _ = model_from_checkpoint(load_checkpoint(tmp_path / "thin.pt"))
    assert thinned.conv2.out_channels == 32 and thinned.conv3.out_channels == 64
    x = torch.randn(4, 1, 8, 8)
    assert torch.allclose(masked(x), thinned.eval()(x), atol=1e-4)
    assert cli("evaluate", "--checkpoint", tmp_path / "thin.pt", "--json").code == 0
    summary = cli("summary", "--checkpoint", tmp_path / "thin.pt", "--json").json()
    assert summary["total_params"] == data["params_after"]
    bench = cli("benchmark", "--checkpoint", tmp_path / "thin.pt", "--repeats", 2, "--warmup", 1, "--json")
    assert bench.code == 0 and bench.json()["speedup"] > 0


def test_thinned_checkpoint_trains_on(cli, tmp_path):
    pruned_checkpoint(tmp_path / "pruned.pt")
    cli("thin", "--checkpoint", tmp_path / "pruned.pt", "--out", tmp_path / "thin.pt")
    schedule = tmp_path / "s.yaml"
    schedule.write_text("version: 1\ntraining: {epochs: 1}\ndataset: {batch_size: 256}\n")
    result = cli("train", "--schedule", schedule, "--checkpoint", tmp_path / "thin.pt", "--out", tmp_path / "run",
                 "--json")
    assert result.code == 0, result.err
    assert result.json()["params"] < result.json()["dense_params"]
    resumed = cli("train", "--resume", tmp_path / "thin.pt", "--schedule", schedule, "--epochs", 2,
                  "--out", tmp_path / "resumed", "--json")
    assert resumed.code == 0, resumed.err


def test_thin_bad_input(cli, tmp_path):
    assert cli("thin", "--checkpoint", tmp_path / "none.pt", "--out", tmp_path / "x.pt").code == 2
    assert not (tmp_path / "x.pt").exists()


def test_thinning_a_layer_that_would_break_the_graph_is_refused(cli, tmp_path):
    pruned_checkpoint(tmp_path / "pruned.pt")
    result = cli("thin", "--checkpoint", tmp_path / "pruned.pt", "--out", tmp_path / "x.pt", "--layer", "fc2")
    assert result.code == 2 and "fc2" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "x.pt").exists()
    result = cli("thin", "--checkpoint", tmp_path / "pruned.pt", "--out", tmp_path / "y.pt", "--layer", "conv2")
    assert result.code == 0, result.err


def test_zero_filters_left_in_place_are_said_with_why(cli, tmp_path):
    model = build_model("digits_cnn").eval()
    with torch.no_grad():
        model.conv2.weight[:2] = 0  # its BatchNorm still shifts them
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "dataset": "digits", "epoch": 0,
                     "model_state": model.state_dict()}, tmp_path / "pruned.pt")
    result = cli("thin", "--checkpoint", tmp_path / "pruned.pt", "--out", tmp_path / "thin.pt")
    assert result.code == 0, result.err
    assert "note: conv2: 2 zero filters kept" in result.out + result.err
