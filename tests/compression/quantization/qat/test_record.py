import copy
from pathlib import Path

import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.core.errors import UserError
from compressor.compression.quantization.qat import install_from_record, qat_record
from compressor.compression.models import build_model
from compressor.compression.restore import model_from_checkpoint

LSQ4 = Path(__file__).resolve().parents[4] / "tests" / "corpus" / "v1" / "lsq4_digits.pt"


@pytest.fixture(scope="module")
def payload():
    return load_checkpoint(LSQ4)


def _rebuild(payload, change):
    broken = copy.deepcopy(payload)
    change(broken["qat"])
    return model_from_checkpoint(broken)


def test_installed_quantizers_record_what_they_were_installed_from(payload):
    fresh = build_model(payload["arch"], num_classes=payload["num_classes"])
    fresh.load_state_dict(payload["model_state"])
    record = payload["qat"][0]
    quantizers = install_from_record(fresh, payload["qat"])
    again = qat_record([(record["instance"], record["class"], quantizers[0])])[0]
    assert again["config"]["bits_weights"] == 4 and again["config"]["per_channel_wts"] is True
    assert list(again["state"]["tensors"]) == list(record["state"]["tensors"])
    assert all(torch.equal(again["state"]["tensors"][k], v) for k, v in record["state"]["tensors"].items())
    assert again["state"]["enabled"] is True


@pytest.mark.parametrize("change,message", [
    (lambda r: r[0].update({"class": "TernaryQuantizer"}), "this release has no QAT quantizer class 'TernaryQuantizer'"),
    (lambda r: r[0].update({"class": "PostTrainLinearQuantizer"}), "no QAT quantizer class 'PostTrainLinear"),
    (lambda r: r[0].pop("config"), "QAT record is corrupted: entry 0 has no dict 'config'"),
    (lambda r: r.append("lsq"), "QAT record is corrupted: entry 1 is not a mapping"),
    (lambda r: r[0]["config"].update({"bits_weights": 99}), r"config does not fit this release \(bits_weights"),
    (lambda r: r[0]["config"].update({"renamed_argument": 1}), "config does not fit this release"),
    (lambda r: r[0]["state"]["tensors"].popitem(), "state does not fit the model \\(missing"),
    (lambda r: r[0]["state"]["tensors"].update({"fc9._qat_w_step": torch.ones(1)}), "not in the model: fc9"),
    (lambda r: r[0]["state"].update({"tensors": None}), "state is corrupted"),
])
def test_a_record_this_release_cannot_install_is_a_clear_error(payload, change, message):
    with pytest.raises(UserError, match=message):
        _rebuild(payload, change)


def test_a_state_tensor_of_the_wrong_shape_is_refused(payload):
    def reshape(record):
        key = next(iter(record[0]["state"]["tensors"]))
        record[0]["state"]["tensors"][key] = torch.ones(7, 7)

    with pytest.raises(UserError, match="should be a tensor of shape"):
        _rebuild(payload, reshape)


@pytest.mark.parametrize("record", [None, {"lsq": {}}, "LSQQuantizer"])
def test_a_record_that_is_not_a_list_is_corrupted(payload, record):
    broken = {**payload, "qat": record}
    with pytest.raises(UserError, match="QAT record is corrupted"):
        model_from_checkpoint(broken)


def test_a_checkpoint_without_a_record_is_refused(payload):
    broken = {key: value for key, value in payload.items() if key != "qat"}
    with pytest.raises(UserError, match="has no QAT record"):
        model_from_checkpoint(broken)
