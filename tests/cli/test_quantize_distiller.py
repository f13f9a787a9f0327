"""`compressor quantize` with Distiller's own PTQ example and resnet18 stats file, and its bad input."""
from helpers import distiller_example

EXAMPLE = "examples/quantization/post_train_quant/resnet18_imagenet_post_train_input_overrides.yaml"
STATS = "examples/quantization/post_train_quant/stats/resnet18_quant_stats.yaml"
SMALL = ["--arch", "resnet18", "--dataset", "fake", "--input-size", "3,32,32", "--calibration-size", "8"]


def test_distillers_input_overrides_example_on_torchvision_resnet18(cli, tmp_path):
    schedule = distiller_example(EXAMPLE)
    distiller_example(STATS)  # the schedule names it, relative to Distiller's examples/classifier_compression
    result = cli("quantize", *SMALL, "--schedule", schedule, "--out", tmp_path / "q", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["stats_ranges"] == 68 and report["unused_ranges"] == {}
    assert report["ranges_applied"] + len(report["ranges_fused"]) == 68
    shared = "its int8 kernel keeps its input's scale and zero point"
    assert report["int8_unused_ranges"] == {"maxpool": shared, "avgpool": shared,
                                            "fc": "the int8 model keeps it in FP32"}
    # fc's input override needs a quantization step the int8 model does not have: fc stays FP32 there
    assert report["fp32_modules"] == {"fc": "input_overrides on input 0: the int8 model has no quantization "
                                            "step of its own there"}
    assert 0.0 <= report["simulated_top1_agreement"] <= 1.0 and report["clip_acts"] == "AVG"


def test_stats_and_overrides_with_names_the_model_lacks_are_refused(cli, tmp_path):
    stats = distiller_example(STATS)
    bad = tmp_path / "stats.yaml"
    bad.write_text(stats.read_text().replace("layer1.0.relu2:", "layer1.0.relu3:"))
    result = cli("quantize", *SMALL, "--stats", bad, "--out", tmp_path / "o1")
    assert result.code == 2 and "'layer1.0.relu3' (" in result.err and "line 193" in result.err
    schedule = tmp_path / "ptq.yaml"
    schedule.write_text("quantizers:\n  ptq:\n    class: PostTrainLinearQuantizer\n    overrides:\n"
                        "      layer1.0.conv2:\n        input_overrides: {0: {from_output: true}}\n")
    result = cli("quantize", *SMALL, "--stats", stats, "--schedule", schedule, "--out", tmp_path / "o2")
    assert result.code == 2 and "line 6" in result.err and "already quantized by 'layer1.0.conv1'" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
