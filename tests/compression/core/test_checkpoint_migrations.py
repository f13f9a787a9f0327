import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.core.checkpoint_migrations import FORMAT_VERSION, upgrade
from compressor.compression.core.errors import UserError

V1_QAT = """
version: 1
quantizers:
  ptq: {class: PostTrainLinearQuantizer, bits_activations: 8}
  lsq: {class: LSQQuantizer, bits_activations: 4, bits_weights: 4}
pruners:
  p: {class: AutomatedGradualPruner, initial_sparsity: 0.1, final_sparsity: 0.5, weights: [fc1.weight]}
policies:
  - pruner: {instance_name: p}
    epochs: [0]
  - quantizer: {instance_name: lsq}
    epochs: [0, 1]
"""


def test_a_version_1_payload_gets_its_qat_quantizers_recorded_from_its_schedule():
    state = {"enabled": True, "tensors": {"conv1._qat_w_step": torch.ones(1)}}
    payload = {"arch": "digits_cnn", "schedule_text": V1_QAT, "policies_state": {"0:p": {}, "1:lsq": state}}
    upgraded = upgrade(payload, "old.pt")
    assert upgraded["format_version"] == FORMAT_VERSION
    assert upgraded["qat"] == [{"instance": "lsq", "class": "LSQQuantizer",
                                "config": {"bits_activations": 4, "bits_weights": 4}, "state": state}]
    assert "qat" not in payload  # the caller's payload is left as it was


def test_a_version_1_payload_without_quantizers_records_none():
    assert upgrade({"schedule_text": "version: 1\n"}, "old.pt")["qat"] == []
    assert upgrade({}, "old.pt")["qat"] == []


def test_a_version_1_schedule_that_cannot_be_read_is_a_clear_error():
    with pytest.raises(UserError, match="cannot read the schedule kept in this version-1 checkpoint"):
        upgrade({"schedule_text": "quantizers: [unclosed"}, "old.pt")


def test_this_release_payload_passes_unchanged():
    payload = {"format_version": FORMAT_VERSION, "qat": [], "epoch": 3}
    assert upgrade(payload, "c.pt") == payload


def test_a_newer_version_is_refused_naming_both_versions():
    with pytest.raises(UserError) as error:
        upgrade({"format_version": FORMAT_VERSION + 1}, "new.pt")
    message = str(error.value)
    assert f"format version {FORMAT_VERSION + 1}" in message and f"1 to {FORMAT_VERSION}" in message
    assert "upgrade compressor" in message


@pytest.mark.parametrize("version", [0, -1, "2", 2.0, True, None, [2]])
def test_an_unknown_version_is_refused(version):
    with pytest.raises(UserError, match="unknown checkpoint format version"):
        upgrade({"format_version": version}, "odd.pt")


def test_load_checkpoint_upgrades_what_it_reads(tmp_path):
    torch.save({"format": "compressor-checkpoint", "epoch": 0, "schedule_text": V1_QAT,
                "policies_state": {}}, tmp_path / "v1.pt")
    payload = load_checkpoint(tmp_path / "v1.pt")
    assert payload["format_version"] == FORMAT_VERSION and payload["qat"][0]["class"] == "LSQQuantizer"
