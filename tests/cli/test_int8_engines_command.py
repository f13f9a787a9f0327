"""`quantize --engine`, `export --format openvino` and `benchmark --exported`, on a trained digits CNN."""
import contextlib
import io
import json

import pytest

from compressor.cli.main import run
from compressor.compression.engines.registry import ENGINES

FAST = ["--batch-size", "2", "--repeats", "3", "--warmup", "1", "--threads", "1"]


def run_json(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run([str(arg) for arg in args]) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def quantized(dense_digits, tmp_path_factory):
    """Statistics of the trained digits CNN, and `quantize --engine auto` with them."""
    folder = tmp_path_factory.mktemp("engines")
    stats = folder / "stats.yaml"
    assert run(["quantize", "--checkpoint", str(dense_digits), "--collect-stats", str(stats), "--threads", "1"]) == 0
    report = run_json("quantize", "--checkpoint", dense_digits, "--stats", stats, "--engine", "auto",
                      "--out", folder / "q", "--threads", "1", "--json")
    return folder, stats, report


def test_auto_times_every_engine_and_keeps_the_fastest(quantized):
    _, _, report = quantized
    timings = report["engine_auto"]["int8_latency_ms"]
    assert set(timings) == {"torch", "onnxruntime", "openvino"}
    assert report["engine"] == report["engine_auto"]["chosen"] == min(timings, key=timings.get)
    assert report["int8_latency_ms"] == timings[report["engine"]]
    assert report["fastest_fp32_engine"] in ("torch", "onnxruntime", "openvino")
    assert set(report["fp32_engines_latency_ms"]) == {"torch", "onnxruntime", "openvino"}
    assert report["vs_fastest_fp32"]["speedup"] > 0


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_each_engine_agrees_with_the_simulated_model(quantized, engine):
    _, _, report = quantized
    data = report["int8_engines"][engine]
    assert data["compared_with"] == "simulated" and data["images"] >= 256
    assert data["top1_agreement"] >= 0.99
    # the same int8 model as torch's: no further from the simulated model than torch's int8 model is
    assert data["max_abs_diff"] <= 1.5 * report["simulated_max_abs_diff"] + 0.05
    assert data["fp32_ops"] == {} and data["file"] == report["files"]["int8_qdq_onnx"]


def test_the_report_names_the_fastest_fp32_engine(quantized, capsys):
    from compressor.cli.engine_render import render_engines

    render_engines(quantized[2])
    err = capsys.readouterr().err
    assert " vs PyTorch eager FP32" in err and "(fastest FP32 engine here)" in err
    assert "engine auto: chose" in err and "OpenVINO int8 vs simulated: top-1 agreement" in err


def test_an_engine_not_installed_exits_2_with_how_to_install_it(cli, quantized, dense_digits, monkeypatch, tmp_path):
    monkeypatch.setattr(ENGINES["onnxruntime"], "is_installed", lambda: False)
    result = cli("quantize", "--checkpoint", dense_digits, "--stats", quantized[1], "--engine", "onnxruntime",
                 "--out", tmp_path / "q")
    assert result.code == 2 and "onnxruntime is not installed: pip install onnxruntime" in result.err
    assert "Traceback" not in result.err and not (tmp_path / "q").exists()


def test_export_openvino_then_benchmark_the_exported_files(cli, quantized, dense_digits):
    folder, _, report = quantized
    exported = run_json("export", "--checkpoint", dense_digits, "--format", "openvino", "--out", folder / "ir",
                        "--threads", "1", "--json")
    assert exported["out"] == str(folder / "ir" / "model.xml") and exported["max_abs_diff"] < 1e-4
    qdq = report["files"]["int8_qdq_onnx"]
    result = cli("benchmark", "--checkpoint", dense_digits, "--exported", qdq, "--exported", exported["out"],
                 *FAST, "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert [(e["name"], e["engine"]) for e in data["exported"]] == [(qdq, "onnxruntime"), (exported["out"], "openvino")]
    for entry in data["exported"]:
        assert entry["repeats"] == 3 and entry["speedup"] > 0 and "vs_fastest_fp32" in entry
    assert data["fastest_fp32_engine"] in data["fp32_engines_latency_ms"]
    on_openvino = cli("benchmark", "--exported", qdq, "--engine", "openvino", "--compare", dense_digits, *FAST)
    assert on_openvino.code == 0, on_openvino.err
    assert "exported (openvino)" in on_openvino.err and "fastest FP32 engine here" in on_openvino.err
    assert len([line for line in on_openvino.err.splitlines() if line.startswith(f"{qdq}: ")]) == 1


@pytest.mark.parametrize("args, expected", [
    (["--exported", "stats.yaml", "--arch", "digits_cnn"], "not a file an engine runs"),
    (["--exported", "model.onnx", "--arch", "digits_cnn"], "exported file not found"),
    (["--arch", "digits_cnn", "--engine", "openvino"], "--engine applies to the .onnx files of --exported"),
])
def test_benchmark_of_a_wrong_file_exits_2(cli, tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stats.yaml").write_text("conv1: {}\n")
    result = cli("benchmark", *args)
    assert result.code == 2 and expected in result.err and "Traceback" not in result.err
