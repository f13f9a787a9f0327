"""Checkpoints this release cannot load: a clear message, exit 2, nothing written, no traceback."""
from pathlib import Path

import pytest
import torch

from compressor.compression.core.checkpoint_migrations import FORMAT_VERSION

LSQ4 = Path(__file__).resolve().parents[1] / "corpus" / "v1" / "lsq4_digits.pt"


def _raw():
    return torch.load(LSQ4, weights_only=True)


def _record(change):
    payload = {**_raw(), "format_version": FORMAT_VERSION, "qat": [{
        "instance": "qat4", "class": "LSQQuantizer",
        "config": {"bits_activations": 4, "bits_weights": 4, "per_channel_wts": True}, "state": {}}]}
    change(payload)
    return payload


BROKEN = {
    "newer version": (lambda: {**_raw(), "format_version": FORMAT_VERSION + 1},
                      f"newer release of compressor (checkpoint format version {FORMAT_VERSION + 1})"),
    "unknown version": (lambda: {**_raw(), "format_version": "two"}, "unknown checkpoint format version 'two'"),
    "missing QAT record": (lambda: _record(lambda p: p.pop("qat")), "has no QAT record"),
    "corrupted QAT record": (lambda: _record(lambda p: p.update(qat={"qat4": 1})), "QAT record is corrupted"),
    "class this release lacks": (lambda: _record(lambda p: p["qat"][0].update({"class": "TernaryQuantizer"})),
                                 "no QAT quantizer class 'TernaryQuantizer'"),
}


@pytest.mark.parametrize("case", list(BROKEN))
@pytest.mark.parametrize("command", ["evaluate", "thin", "summary"])
def test_a_checkpoint_this_release_cannot_load(cli, tmp_path, case, command):
    make, message = BROKEN[case]
    torch.save(make(), tmp_path / "broken.pt")
    out = tmp_path / "thinned.pt"
    args = ["--out", out] if command == "thin" else []
    result = cli(command, "--checkpoint", tmp_path / "broken.pt", *args)
    assert result.code == 2, result.err
    assert message in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.pt"]
