"""`compressor quantize --stats`: a real int8 model from a trained checkpoint, and its bad input."""
import pytest
import torch
import yaml

from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A digits CNN trained for a few epochs, and its statistics file."""
    folder = tmp_path_factory.mktemp("ptq")
    text = "version: 1\ndataset: {batch_size: 128}\ntraining: {epochs: 4, lr: 0.05, seed: 0}\n"
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(folder / "run")))
    fit(prepare_run(schedule, write_tensorboard=False))
    return folder


@pytest.fixture
def stats(cli, trained):
    path = trained / "stats.yaml"
    if not path.exists():
        assert cli("quantize", "--checkpoint", trained / "run" / "best.pt", "--collect-stats", path).code == 0
    return path


def test_int8_model_from_stats_keeps_accuracy(cli, trained, stats, tmp_path):
    result = cli("quantize", "--checkpoint", trained / "run" / "best.pt", "--stats", stats, "--out", tmp_path, "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert abs(report["fp32_top1"] - report["top1"]) <= 1.0
    assert report["int8"].startswith("x86") and report["int8_file_bytes"] < 0.35 * report["fp32_file_bytes"]
    assert report["speedup"] > 0 and report["fp32_modules"] == {}
    params = yaml.safe_load((tmp_path / "quant_params.yaml").read_text())["linear_quant_params"]
    assert "conv1.output_scale" in params and "fc2.w_zero_point" in params
    deployed = torch.jit.load(str(tmp_path / "model_int8.pt"))
    assert deployed(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    program = torch.export.load(str(tmp_path / "model_int8.pt2")).module()
    assert program(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert report["program_top1_agreement"] >= 0.95 and report["files"]["int8_program"].endswith("model_int8.pt2")
    assert report["file_check_images"] > 0  # the batch the files are compared on is said


def test_schedule_settings_and_fp32_override(cli, trained, stats, tmp_path):
    schedule = tmp_path / "ptq.yaml"
    schedule.write_text("quantizers:\n  ptq:\n    class: PostTrainLinearQuantizer\n    bits_activations: 8\n"
                        "    bits_parameters: 8\n    mode: ASYMMETRIC_UNSIGNED\n    clip_acts: NONE\n"
                        "    per_channel_wts: true\n    clip_acts: AVG\n    overrides:\n      fc2: null\n")
    result = cli("quantize", "--checkpoint", trained / "run" / "best.pt", "--stats", stats, "--schedule", schedule,
                 "--out", tmp_path / "q", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert "duplicate key 'clip_acts' (lines 7 and 9)" in result.err  # warned; the later value is used
    assert report["fp32_layers"] == ["fc2"] and report["clip_acts"] == "AVG"
    assert "fc2" in report["fp32_modules"]
    program = torch.export.load(str(tmp_path / "q" / "model_int8.pt2"))
    fc2_weights = [t for name, t in program.state_dict.items() if name.startswith("fc2.")]
    assert fc2_weights and all(t.is_floating_point() for t in fc2_weights)  # the FP32 layer stays FP32
    assert report["program_top1_agreement"] >= 0.95


def test_tolerance_search_reports_its_choices(cli, trained, stats, tmp_path):
    result = cli("quantize", "--checkpoint", trained / "run" / "best.pt", "--stats", stats, "--bits-activations", 4,
                 "--bits-parameters", 4, "--tolerance", 0.5, "--out", tmp_path, "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert len(report["search"]["tried"]) == 8 and isinstance(report["tolerance_met"], bool)
    assert "not built" in report["int8"]


def bad_stats(stats, tmp_path, edit):
    data = yaml.safe_load(stats.read_text().replace("shape: (", "shape: '(").replace(")\n", ")'\n"))
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("flags, expected", [
    (["--bits-activations", "17"], "--bits-activations"),
    (["--bits-parameters", "1"], "--bits-parameters"),
    (["--mode", "SYMETRIC"], "--mode"),
    (["--clip-acts", "MEDIAN"], "--clip-acts"),
])
def test_bad_settings(cli, trained, stats, tmp_path, flags, expected):
    result = cli("quantize", "--checkpoint", trained / "run" / "best.pt", "--stats", stats, *flags, "--out", tmp_path / "o")
    assert result.code == 2 and expected in result.err and "Traceback" not in result.err
    assert not (tmp_path / "o").exists()


def test_bad_stats_files(cli, trained, stats, tmp_path):
    checkpoint = trained / "run" / "best.pt"
    lacking = bad_stats(stats, tmp_path, lambda data: data.pop("conv2"))
    result = cli("quantize", "--checkpoint", checkpoint, "--stats", lacking, "--out", tmp_path / "o")
    assert result.code == 2 and "conv2" in result.err
    foreign = bad_stats(stats, tmp_path, lambda data: data.update({"layer1.0.conv1": data["conv1"]}))
    result = cli("quantize", "--checkpoint", checkpoint, "--stats", foreign, "--out", tmp_path / "o")
    assert result.code == 2 and "layer1.0.conv1" in result.err
    (tmp_path / "junk.yaml").write_text("- just\n- a list\n")
    result = cli("quantize", "--checkpoint", checkpoint, "--stats", tmp_path / "junk.yaml", "--out", tmp_path / "o")
    assert result.code == 2 and "Traceback" not in result.err


def test_override_regex_matching_nothing(cli, trained, stats, tmp_path):
    schedule = tmp_path / "ptq.yaml"
    schedule.write_text("quantizers:\n  ptq:\n    class: PostTrainLinearQuantizer\n    overrides:\n      'layer9.*': null\n")
    result = cli("quantize", "--checkpoint", trained / "run" / "best.pt", "--stats", stats, "--schedule", schedule,
                 "--out", tmp_path / "o")
    assert result.code == 2 and "matches no module" in result.err and "conv1" in result.err


def quantized_qat_checkpoint(cli, tmp_path, quantizer):
    """`compressor quantize` (no statistics) of digits_cnn trained 2 epochs with the QAT `quantizer` (a YAML flow mapping)."""
    schedule = tmp_path / "qat.yaml"
    schedule.write_text("version: 1\ndataset: {batch_size: 128}\ntraining: {epochs: 2, lr: 0.05, seed: 0}\n"
                        f"quantizers:\n  q: {quantizer}\npolicies:\n  - quantizer: {{instance_name: q}}\n"
                        "    starting_epoch: 0\n    ending_epoch: 2\n")
    assert cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--json").code == 0
    result = cli("quantize", "--checkpoint", tmp_path / "run" / "best.pt", "--out", tmp_path / "q", "--json")
    assert result.code == 0, result.err
    return result.json()


def test_a_qat_checkpoint_converts_to_real_int8(cli, tmp_path):
    report = quantized_qat_checkpoint(
        cli, tmp_path, "{class: QuantAwareTrainRangeLinearQuantizer, bits_activations: 8, bits_weights: 8}")
    assert report["int8"].startswith("x86") and abs(report["qat_top1"] - report["top1"]) <= 2.0
    assert (tmp_path / "q" / "model_int8.pt").exists()


def test_onnx_file_is_the_same_int8_model_with_its_fp32_layers(cli, trained, stats, tmp_path):
    import onnx

    schedule = tmp_path / "ptq.yaml"
    schedule.write_text("quantizers:\n  ptq:\n    class: PostTrainLinearQuantizer\n    bits_activations: 8\n"
                        "    bits_parameters: 8\n    per_channel_wts: true\n    overrides:\n      fc2: null\n")
    result = cli("quantize", "--checkpoint", trained / "run" / "best.pt", "--stats", stats, "--schedule", schedule,
                 "--onnx", "--out", tmp_path / "q", "--json")
    assert result.code == 0, result.err
    report = result.json()
    graph = onnx.load(report["files"]["int8_onnx"]).graph
    gemms = [node for node in graph.node if node.op_type == "Gemm"]
    producers = {output: node.op_type for node in graph.node for output in node.output}
    # fc1 reads int8 weights through DequantizeLinear; fc2 stayed FP32 as the override asked
    assert [producers.get(node.input[1], "initializer") for node in gemms] == ["DequantizeLinear", "initializer"]
    assert report["onnx_max_abs_diff"] < 0.25  # int8 rounding steps, not a different calibration


def test_a_low_bit_qat_checkpoint_keeps_its_trained_weights_in_int8(cli, tmp_path):
    """2-bit LSQ weights: the int8 model computes with the 2-bit weights the QAT model used, not the FP32 ones."""
    report = quantized_qat_checkpoint(cli, tmp_path, "{class: LSQQuantizer, bits_activations: 8, bits_weights: 2}")
    assert abs(report["qat_top1"] - report["top1"]) <= 1.0, report
