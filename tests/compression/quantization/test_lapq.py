"""LAPQ: the joint clip search lowers the calibration loss, its clips reach the quantized model, and its bad input."""
import copy
import json

import pytest
import torch
import yaml
from torch import nn

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.core.errors import UserError
from compressor.compression.models import build_model, model_info
from compressor.compression.quantization.lapq import lapq
from compressor.compression.quantization.lapq_settings import LapqSettings
from compressor.compression.quantization.lapq_clips import ClipSpace
from compressor.compression.quantization.lapq_init import initial_fractions
from compressor.compression.quantization.post_train_quantizer import PostTrainLinearQuantizer
from compressor.compression.quantization.ptq import fold_batchnorm, layer_plan, simulate
from compressor.compression.quantization.ptq_config import PostTrainConfig
from compressor.compression.quantization.stats import calibration_loader, collect_activation_stats
from compressor.compression.quantization.stats_format import write_stats
from compressor.cli.main import run
from compressor.datasets import DatasetConfig, build_datasets
from helpers import distiller_example

LAPQ_SCHEDULE = "examples/quantization/post_train_quant/resnet18_imagenet_post_train_lapq.yaml"


@pytest.fixture(scope="module")
def trained():
    """digits_cnn_small trained briefly on the digits training split, and 32 labelled calibration images."""
    torch.manual_seed(0)
    model = build_model("digits_cnn_small")
    train = build_datasets(DatasetConfig(name="digits"), (1, 8, 8), 10, 0).train
    images, labels = next(iter(torch.utils.data.DataLoader(train, batch_size=256)))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(10):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    model.eval()
    batches = list(calibration_loader(model_info("digits_cnn_small"), DatasetConfig(name="digits", batch_size=16), 32))
    return model, batches


@pytest.fixture
def cli(capsys):
    def invoke(*args):
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def loss_of(model, batches):
    with torch.no_grad():
        return sum(nn.functional.cross_entropy(model(x), y, reduction="sum").item() for x, y in batches) / sum(
            len(y) for _, y in batches)


def test_search_ends_below_the_loss_of_its_starting_clips(trained):
    model, batches = trained
    config = PostTrainConfig(bits_parameters=3, bits_activations=4)
    stats = collect_activation_stats(model, batches)
    plan = layer_plan(config, model)
    result = lapq(model, config, stats, plan, batches, LapqSettings(init_mode="L3", maxfev=25))

    space = ClipSpace(model, config, stats, plan)  # the L3 start, simulated apart from the search
    start = initial_fractions(space, "L3", [images for images, _ in batches])
    start_loss = loss_of(space.simulate(start).model, batches)
    found = simulate(result.model, result.config, stats, result.plan, ranges=result.ranges)
    found_loss = loss_of(found.model, batches)
    assert result.initial_loss == pytest.approx(start_loss)
    assert found_loss == pytest.approx(result.loss)
    assert found_loss < start_loss
    assert result.evaluations >= 25
    assert result.fp32_loss == pytest.approx(loss_of(model, batches))


def test_weight_clips_survive_batchnorm_folding(trained):
    """The clipped weights, folded again as the simulated and int8 models fold them, end at fraction x max."""
    model, batches = trained
    config = PostTrainConfig(bits_parameters=3, bits_activations=8)
    stats = collect_activation_stats(model, batches)
    plan = layer_plan(config, model)
    result = lapq(model, config, stats, plan, batches, LapqSettings(init_mode="L2", maxfev=5))
    original, _ = fold_batchnorm(model)
    clipped, pairs = fold_batchnorm(result.model)
    assert "conv1" in pairs and set(result.weight_clips) == set(plan)
    assert any(fraction < 0.95 for fraction in result.weight_clips.values())
    for name, fraction in result.weight_clips.items():
        full = original.get_submodule(name).weight.abs().max().item()
        assert clipped.get_submodule(name).weight.abs().max().item() == pytest.approx(fraction * full, rel=1e-4)


def test_post_train_quantizer_search_clipping_feeds_prepare_model(trained):
    """The Python API: LAPQ on the quantizer, then the simulated model it prepares has the loss found."""
    model, batches = trained
    quantizer = PostTrainLinearQuantizer(copy.deepcopy(model), bits_parameters=3,
                                         model_activation_stats=collect_activation_stats(model, batches))
    summary = quantizer.search_clipping(batches, init_mode="NONE", maxfev=6)
    simulated = quantizer.prepare_model()
    assert loss_of(simulated, batches) == pytest.approx(summary["loss"])
    assert summary["loss"] <= summary["initial_loss"]
    params = quantizer.linear_quant_params
    saturation = fold_batchnorm(model)[0].conv1.weight.abs().max().item() * summary["weight_clips"]["conv1"]
    assert params["conv1.w_scale"] == pytest.approx(3.5 / saturation, rel=1e-4)  # 3-bit SYMMETRIC


@pytest.mark.parametrize("settings, expected", [
    (dict(init_mode="L9"), "unknown init mode 'L9'"),
    (dict(maxiter=0), "maxiter"),
    (dict(eval_size=-3), "eval_size"),
])
def test_bad_settings_are_refused(settings, expected):
    with pytest.raises(UserError, match=expected):
        LapqSettings(**settings)


def test_no_labelled_images_is_a_user_error(trained):
    model, batches = trained
    config = PostTrainConfig()
    with pytest.raises(UserError, match="LAPQ needs labelled calibration images"):
        lapq(model, config, collect_activation_stats(model, batches), layer_plan(config, model), [])


@pytest.fixture(scope="module")
def checkpoint(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("lapq") / "model.pt"
    save_checkpoint({"arch": "digits_cnn_small", "num_classes": 10, "model_state": trained[0].state_dict()}, path)
    return path


def test_cli_lapq_from_a_schedule_writes_quant_params_with_the_clips_found(cli, checkpoint, trained, tmp_path):
    schedule = tmp_path / "lapq.yaml"
    schedule.write_text("quantizers:\n  ptq:\n    class: PostTrainLinearQuantizer\n    bits_activations: 8\n"
                        "    bits_parameters: 4\n    mode: {activations: ASYMMETRIC_UNSIGNED, weights: SYMMETRIC}\n"
                        "    overrides:\n      fc2: null\n")
    code, out, err = cli("quantize", "--checkpoint", checkpoint, "--schedule", schedule, "--lapq", "--lapq-maxfev", 8,
                         "--calibration-size", 32, "--out", tmp_path / "q", "--json")
    assert code == 0, err
    report = json.loads(out)
    searched = report["lapq"]
    assert report["clip_acts"] == "LAPQ" and report["fp32_layers"] == ["fc2"]
    assert searched["loss"] <= searched["initial_loss"] and searched["images"] == 32
    assert set(searched["weight_clips"]) == {"conv1", "conv2", "conv3", "fc1"}
    params = yaml.safe_load((tmp_path / "q" / "quant_params.yaml").read_text())["linear_quant_params"]
    folded, _ = fold_batchnorm(trained[0])
    for name, fraction in searched["weight_clips"].items():  # 4-bit SYMMETRIC: 7.5 levels each side of 0
        saturation = fraction * folded.get_submodule(name).weight.abs().max().item()
        assert params[f"{name}.w_scale"] == pytest.approx(7.5 / saturation, rel=1e-4)
    assert "fc2.w_scale" not in params


@pytest.mark.parametrize("flags, expected", [
    (["--calibration-size", "0"], "--calibration-size"),
    (["--lapq-eval-size", "0"], "--lapq-eval-size"),
    (["--tolerance", "1"], "choose one"),
])
def test_cli_lapq_bad_input_exits_2_and_writes_nothing(cli, checkpoint, tmp_path, flags, expected):
    code, _out, err = cli("quantize", "--checkpoint", checkpoint, "--lapq", *flags, "--out", tmp_path / "q")
    assert code == 2
    assert expected in err
    assert not (tmp_path / "q").exists()


def test_distiller_lapq_schedule_runs_with_quantize_lapq(cli, tmp_path):
    """Distiller's own LAPQ example: 4-bit weights of the block convolutions, 4-bit ReLU outputs."""
    schedule = distiller_example(LAPQ_SCHEDULE)
    torch.manual_seed(0)
    checkpoint = tmp_path / "resnet18.pt"
    model = build_model("resnet18", num_classes=10).eval()
    save_checkpoint({"arch": "resnet18", "num_classes": 10, "input_shape": (3, 16, 16),
                     "model_state": model.state_dict()}, checkpoint)
    write_stats(collect_activation_stats(model, [torch.randn(8, 3, 16, 16)]), tmp_path / "stats.yaml")
    data = ["--dataset", "fake", "--batch-size", "8", "--calibration-size", "8"]
    code, out, err = cli("quantize", "--checkpoint", checkpoint, "--stats", tmp_path / "stats.yaml", "--schedule",
                         schedule, "--lapq", "--lapq-init-mode", "NONE", "--lapq-maxfev", 2, "--out", tmp_path / "q",
                         "--json", *data)
    assert code == 0, err
    report = json.loads(out)
    clips = report["lapq"]["weight_clips"]
    assert "layer1.0.conv1" in clips and "layer2.0.downsample.0" in clips
    assert "conv1" not in clips and "fc" not in clips  # bits_parameters: null and no override matches them
    params = yaml.safe_load((tmp_path / "q" / "quant_params.yaml").read_text())["linear_quant_params"]
    assert "layer1.0.conv1.w_scale" in params and "conv1.w_scale" not in params
