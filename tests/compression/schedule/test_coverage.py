import pytest

from compressor.compression.schedule import parse_schedule_text
from compressor.compression.schedule.coverage import skipped_by_length

SCHEDULE = """
version: 1
pruners:
  agp: {class: AutomatedGradualPruner, initial_sparsity: 0.1, final_sparsity: 0.9, weights: [fc1.weight]}
extensions:
  thin: {class: FilterRemover, thinning_func_str: remove_filters}
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 2
    ending_epoch: 12
    frequency: 2
  - extension: {instance_name: thin}
    epochs: [12]
"""


def test_a_run_long_enough_skips_nothing():
    assert skipped_by_length(parse_schedule_text(SCHEDULE), 13) == []


def test_a_short_run_names_each_policy_it_skips_or_cuts_short_with_the_sparsity_reached():
    problems = skipped_by_length(parse_schedule_text(SCHEDULE), 5)
    assert [p.path for p in problems] == ["policies[0]", "policies[1]"]
    assert [p.line for p in problems] == [8, 12]
    agp, thin = (p.message for p in problems)
    # due at 2, 4, 6, 8, 10: runs at 2 and 4; the cubic rate at 4 of a 2..10 span: 0.9 - 0.8 * 0.75^3
    assert "runs 2 of 5 times" in agp and "reaching sparsity 56.2% instead of 90.0%" in agp
    assert "due at epoch 12" in thin and "never runs" in thin


@pytest.mark.parametrize("epochs", [1, 2])
def test_a_policy_due_only_after_the_last_epoch_never_runs(epochs):
    problems = skipped_by_length(parse_schedule_text(SCHEDULE), epochs)
    assert all("never runs" in p.message for p in problems) and len(problems) == 2
