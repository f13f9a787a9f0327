"""The engines' registry: what is installed, how to install what is not; files on the engine that runs them."""
import pytest

from compressor.compression.core.errors import UserError
from compressor.compression.engines.models import load_exported
from compressor.compression.engines.registry import ENGINES, installed_engines, require_engine


def test_every_engine_says_what_it_is_and_how_to_install_it():
    assert set(ENGINES) == {"torch", "onnxruntime", "openvino"}
    for engine in ENGINES.values():
        assert engine.description and engine.install_hint.startswith("pip install")
    assert "torch" in installed_engines()


def test_an_engine_not_installed_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(ENGINES["onnxruntime"], "is_installed", lambda: False)
    with pytest.raises(UserError, match="^onnxruntime is not installed: pip install onnxruntime$"):
        require_engine("onnxruntime")
    assert "onnxruntime" not in installed_engines()


def test_an_unknown_engine_is_named_with_the_known_ones():
    with pytest.raises(UserError, match="did you mean 'openvino'"):
        require_engine("openvno")


@pytest.mark.parametrize("name, expected", [("model.pt", "not a file an engine runs"),
                                            ("missing.onnx", "exported file not found")])
def test_a_file_no_engine_runs_is_refused(tmp_path, name, expected):
    (tmp_path / "model.pt").write_bytes(b"not a graph")
    with pytest.raises(UserError, match=expected):
        load_exported(tmp_path / name)


def test_a_broken_onnx_file_is_a_user_error(tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"not a graph")
    with pytest.raises(UserError, match="cannot load"):
        load_exported(tmp_path / "broken.onnx")
    with pytest.raises(UserError, match="cannot load"):
        load_exported(tmp_path / "broken.onnx", "openvino")
