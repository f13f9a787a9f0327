"""`auto`'s target, strategy and option checks."""
import pytest

from compressor.compression.core.errors import UserError
from compressor.compression.workflows.auto_config import AutoConfig, Target, check_config, check_strategy, parse_target


def test_parse_target_reads_kind_and_ratio():
    assert parse_target("macs=0.5") == Target("macs", 0.5)
    assert parse_target(" Latency = 0.25") == Target("latency", 0.25)
    assert str(parse_target("size=0.3")) == "size=0.3"


@pytest.mark.parametrize("text, message", [
    ("macs=0", "between 0 and 1"), ("params=1", "between 0 and 1"), ("size=1.5", "between 0 and 1"),
    ("macs=-0.2", "between 0 and 1"), ("macs=nan", "between 0 and 1"), ("flops=0.5", "unknown cost kind 'flops'"),
    ("macs", "expected KIND=RATIO"), ("macs=half", "not a number"),
])
def test_parse_target_rejects(text, message):
    with pytest.raises(UserError, match=message):
        parse_target(text)


def test_amc_is_known_but_not_available_and_others_are_unknown():
    assert check_strategy("greedy") == "greedy"
    with pytest.raises(UserError, match="amc is not available yet"):
        check_strategy("amc")
    with pytest.raises(UserError, match="unknown strategy 'greedi'; did you mean 'greedy'"):
        check_strategy("greedi")


@pytest.mark.parametrize("changes, message", [
    ({"step": 0.0}, "--step"), ({"step": 1.0}, "--step"), ({"tolerance": -1.0}, "--tolerance"),
    ({"finetune_epochs": 0}, "--finetune-epochs"), ({"lr": 0.0}, "--lr"),
])
def test_check_config_rejects(changes, message):
    config = AutoConfig(**{"target": Target("macs", 0.5), "tolerance": 1.0, **changes})
    with pytest.raises(UserError, match=message):
        check_config(config)
