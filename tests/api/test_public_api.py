"""`import compressor`: the public names, loaded on first use, as users call them."""
import subprocess
import sys

import pytest

import compressor


def test_every_public_name_resolves_and_is_documented_with_an_example():
    for name in compressor.__all__:
        value = getattr(compressor, name)
        doc = value.__doc__ or ""
        assert doc.strip(), f"compressor.{name} has no docstring"
        if name not in ("UserError", "HookOrderError"):
            assert ">>>" in doc, f"compressor.{name}'s docstring has no example"
    assert set(compressor.__all__) <= set(dir(compressor))
    assert issubclass(compressor.HookOrderError, compressor.UserError)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'prune_everything'"):
        compressor.prune_everything  # noqa: B018


def test_importing_the_package_loads_no_torch():
    script = "import sys, compressor\nprint(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
