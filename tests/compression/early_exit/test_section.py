"""The `early_exit:` section: validated with YAML lines, then checked against the model's exits."""
import pytest
import torch

from compressor.compression.core.errors import ScheduleError, UserError
from compressor.compression.early_exit import check_early_exit, flag_values, with_flags
from compressor.compression.models import build_model
from compressor.compression.schedule import parse_schedule_text

HEAD = "version: 1\nmodel: {arch: resnet20_cifar_earlyexit}\n"


def section(body):
    return parse_schedule_text(HEAD + "early_exit:\n" + body).early_exit


def problems(body, arch="resnet20_cifar_earlyexit"):
    with pytest.raises(ScheduleError) as caught:
        check_early_exit(section(body), build_model(arch), arch)
    return str(caught.value)


def test_section_values_and_distillers_single_number():
    parsed = section("  thresholds: 0.8\n  loss_weights: [0.3]\n")
    assert parsed.thresholds == [0.8] and parsed.loss_weights == [0.3]


@pytest.mark.parametrize("body, expected", [
    ("  thresholds: [0.4]\n  loss_weights: [0.6, 0.5]\n", "early_exit.loss_weights (line 5): the early "
                                                          "exits' weights sum to 1.1; they must sum to less than 1"),
    ("  loss_weights: [1.0]\n", "early_exit.loss_weights (line 4)"),
    ("  thresholds: [-0.1]\n", "early_exit.thresholds (line 4)"),
    ("  threshold: [0.4]\n", "did you mean 'thresholds'"),
    ("  {}\n", "give thresholds (evaluation) and/or loss_weights (training)"),
])
def test_bad_values_name_their_line(body, expected):
    with pytest.raises(ScheduleError, match="early_exit") as caught:
        parse_schedule_text(HEAD + "early_exit:\n" + body)
    assert expected in str(caught.value)


def test_a_model_without_exits_is_refused_at_the_sections_line():
    message = problems("  thresholds: [0.4]\n", arch="resnet20_cifar")
    assert "early_exit (line 3): model 'resnet20_cifar' has no early exits" in message
    assert "resnet20_cifar_earlyexit" in message


def test_one_value_per_exit():
    two = "  thresholds: [0.4, 0.2]\n  loss_weights: [0.1, 0.2]\n"
    with torch.device("meta"):
        check_early_exit(section(two), build_model("resnet50_earlyexit"), "resnet50_earlyexit")  # two exits
    message = problems(two)
    assert ("early_exit.thresholds (line 4): 2 values for the 1 early exit of 'resnet20_cifar_earlyexit' "
            "(layer1.2.relu2)") in message
    assert "early_exit.loss_weights (line 5): 2 values" in message


def test_flags_override_the_file_and_are_named_in_problems():
    updated = with_flags(section("  thresholds: [0.4]\n  loss_weights: [0.2]\n"),
                         flag_values({"thresholds": "0.9,0.8", "loss_weights": None}))
    assert updated.thresholds == [0.9, 0.8] and updated.loss_weights == [0.2]
    with pytest.raises(ScheduleError, match="--earlyexit-thresholds: 2 values for the 1 early exit"):
        check_early_exit(updated, build_model("resnet20_cifar_earlyexit"), "resnet20_cifar_earlyexit")
    with pytest.raises(UserError, match="--earlyexit-lossweights: the early exits' weights sum to 1"):
        with_flags(None, flag_values({"loss_weights": "0.5 0.5"}))
    with pytest.raises(UserError, match="--earlyexit-thresholds: expected numbers"):
        flag_values({"thresholds": "0.4;x"})
