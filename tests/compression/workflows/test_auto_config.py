"""`auto`'s target, strategy and option checks."""
import pytest

from compressor.compression.core.errors import UserError
from compressor.compression.workflows.auto_config import (AmcOptions, AutoConfig, Target, check_config, check_strategy,
                                                          parse_target)


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


def test_greedy_and_amc_are_strategies_and_others_are_unknown():
    assert check_strategy("greedy") == "greedy" and check_strategy(" AMC") == "amc"
    with pytest.raises(UserError, match="unknown strategy 'greedi'; did you mean 'greedy'"):
        check_strategy("greedi")


def test_amc_defaults_and_settings_that_pass():
    assert AmcOptions().resolved() == AmcOptions(100, 25, 0.2)
    assert AmcOptions(episodes=8).resolved() == AmcOptions(8, 2, 0.2)
    check_config(AutoConfig(Target("macs", 0.5), 1.0, "amc", amc=AmcOptions(1, 0, 1.0)))
    check_config(AutoConfig(Target("macs", 0.5), 1.0, "amc"))


@pytest.mark.parametrize("strategy, amc, message", [
    ("greedy", AmcOptions(episodes=10), "--amc-episodes: only with --strategy amc"),
    ("greedy", AmcOptions(min_keep=0.5, file="a.yaml"), "--amc-min-keep, --amc-file: only with --strategy amc"),
    ("amc", AmcOptions(episodes=0), "--amc-episodes 0: at least 1"),
    ("amc", AmcOptions(episodes=6, warmup=6), "--amc-warmup 6: 0 or more and fewer than the 6 episodes"),
    ("amc", AmcOptions(warmup=-1), "--amc-warmup -1"),
    ("amc", AmcOptions(min_keep=0.0), r"--amc-min-keep 0: .* in \(0, 1\]"),
    ("amc", AmcOptions(min_keep=1.5), "--amc-min-keep 1.5"),
    ("amc", AmcOptions(min_keep=float("nan")), "--amc-min-keep nan"),
])
def test_amc_settings_are_checked(strategy, amc, message):
    with pytest.raises(UserError, match=message):
        check_config(AutoConfig(Target("macs", 0.5), 1.0, strategy, amc=amc))


@pytest.mark.parametrize("changes, message", [
    ({"step": 0.0}, "--step"), ({"step": 1.0}, "--step"), ({"tolerance": -1.0}, "--tolerance"),
    ({"finetune_epochs": 0}, "--finetune-epochs"), ({"lr": 0.0}, "--lr"),
])
def test_check_config_rejects(changes, message):
    config = AutoConfig(**{"target": Target("macs", 0.5), "tolerance": 1.0, **changes})
    with pytest.raises(UserError, match=message):
        check_config(config)
