"""The --amc-* flags as a run records them: defaults written out, so a resumed run compares meanings."""
from compressor.compression.workflows.auto_flags import config_from_flags, contradictions, recorded_flags

BASE = {"checkpoint": "best.pt", "target": "macs=0.5", "tolerance": 1, "step": 0.1}


def test_an_amc_run_records_its_defaults_and_a_greedy_run_none():
    amc = recorded_flags({**BASE, "strategy": "amc", "amc_episodes": 8, "amc_file": "amc.yaml"})
    assert (amc["amc_episodes"], amc["amc_warmup"], amc["amc_min_keep"]) == (8, 2, 0.2)
    assert amc["amc_file"].endswith("/amc.yaml") and amc["amc_file"].startswith("/")
    assert config_from_flags(amc).amc.resolved().warmup == 2
    greedy = recorded_flags({**BASE, "strategy": "greedy"})
    assert [greedy[name] for name in ("amc_episodes", "amc_warmup", "amc_min_keep", "amc_file")] == [None] * 4


def test_a_default_given_again_is_no_contradiction_but_another_value_is():
    saved = recorded_flags({**BASE, "strategy": "amc"})
    assert contradictions(saved, {"amc_episodes": 100, "amc_min_keep": 0.2}) == []
    assert contradictions(saved, {"amc_warmup": 3}) == ["--amc-warmup 3 (the run has 25)"]


def test_a_state_saved_before_the_amc_flags_existed_still_reads():
    saved = recorded_flags({**BASE, "strategy": "greedy"})
    for name in ("amc_episodes", "amc_warmup", "amc_min_keep", "amc_file"):
        del saved[name]
    assert config_from_flags(saved).amc.given() == []
