"""Distiller's lenient readings: one weight name as a string, duplicated keys, Distiller's parameter names
in per-parameter mappings; and its YAML files that are not schedules (AMC, statistics) named as such."""
import textwrap

import pytest
import torch
from torch import nn

from compressor.compression.core.components import BuildContext
from compressor.compression.core.errors import ScheduleError
from compressor.compression.pruning.masks import MaskStore
from compressor.compression.schedule.model_check import check_against_model
from compressor.compression.training import TrainOptions, apply_overrides, build_run_parts, prepare_run
from compressor.compression.training.setup import build_scheduler
from helpers import parse, problems, scheduler_for, sparsity

AGP_ONE_NAME = """
    pruners:
      agp:
        class: AutomatedGradualPruner
        initial_sparsity: 0.1
        final_sparsity: 0.5
        weights: module.fc1.weight
    policies:
      - pruner: {instance_name: agp}
        epochs: [0]
"""


def test_weights_written_as_one_string_is_a_list_of_one():
    assert parse(AGP_ONE_NAME).component("pruners", "agp").config.weights == ["module.fc1.weight"]
    scheduler, context = scheduler_for(textwrap.dedent(AGP_ONE_NAME))
    scheduler.on_epoch_begin(0)
    assert sparsity(context.model.fc1.weight) == pytest.approx(0.5, abs=1e-3)
    assert sparsity(context.model.conv2.weight) == 0.0


def test_weights_still_refuses_what_is_not_a_name():
    [problem] = problems(AGP_ONE_NAME.replace("weights: module.fc1.weight", "weights: 3"))
    assert problem.path.startswith("pruners.agp.weights") and problem.line == 7


LEVELS_TWICE = """
    pruners:
      levels:
        class: SparsityLevelParameterPruner
        levels:
          conv2.weight: 0.3
          fc1.weight: 0.2
          conv2.weight: 0.6
    policies:
      - pruner: {instance_name: levels}
        epochs: [0]
"""


def test_a_duplicated_key_is_a_warning_naming_both_lines_and_the_later_value_wins():
    schedule = parse(LEVELS_TWICE)
    assert schedule.component("pruners", "levels").config.levels == {"conv2.weight": 0.6, "fc1.weight": 0.2}
    [warning] = schedule.warnings
    assert warning.path == "pruners.levels.levels.conv2.weight" and warning.line == 8
    assert "duplicate key 'conv2.weight'" in warning.message and "lines 6 and 8" in warning.message


def test_a_duplicated_block_is_replaced_whole_and_its_problems_name_the_later_lines():
    found = problems("""
        pruners:
          p:
            class: MagnitudeParameterPruner
            thresholds: {fc1.weight: 0.1}
          p:
            class: MagnitudePruner
        policies:
          - pruner: {instance_name: p}
            epochs: [0]
    """)
    assert [(problem.path, problem.line) for problem in found] == [("pruners.p.class", 7)]


def test_duplicated_keys_reach_what_validate_and_train_report(tmp_path):
    schedule = apply_overrides(parse(LEVELS_TWICE), TrainOptions(dataset="fake", out=str(tmp_path / "run")))
    checked = build_run_parts(schedule, checking=True)
    run = prepare_run(schedule, write_tensorboard=False)
    for warnings in (checked.warnings, run.warnings):
        assert any("duplicate key 'conv2.weight' (lines 6 and 8)" in warning and "(line 8)" in warning
                   for warning in warnings)


class DataParallelNames(nn.Module):
    """Named like Distiller's alexnet/vgg: `features` and `classifier` Sequentials (Distiller wraps
    `features` in DataParallel, so its schedules say features.module.N)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU())
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(8 * 4 * 4, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def distiller_named(text):
    torch.manual_seed(0)
    model = DataParallelNames()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    context = BuildContext(model, optimizer, MaskStore(model), (1, 8, 8), torch.device("cpu"))
    schedule = parse(text)
    check_against_model(schedule, model)
    return build_scheduler(schedule, context), model


SENSITIVITIES = """
    pruners:
      p:
        class: SensitivityPruner
        sensitivities:
          'features.module.0.weight': 0.5
          'features.module.2.weight': 1.0
          'classifier.1.weight': 0.25
    policies:
      - pruner: {instance_name: p}
        epochs: [0]
"""


def below(weight, sensitivity):
    return (weight.abs() <= sensitivity * weight.std()).float().mean().item()


def test_sensitivities_keyed_by_distillers_names_prune_the_models_parameters():
    scheduler, model = distiller_named(SENSITIVITIES)
    expected = {"features.0.weight": 0.5, "features.2.weight": 1.0, "classifier.1.weight": 0.25}
    params = dict(model.named_parameters())
    before = {name: params[name].detach().clone() for name in expected}
    scheduler.on_epoch_begin(0)
    for name, sensitivity in expected.items():
        assert below(before[name], sensitivity) > 0.1
        assert sparsity(params[name]) == pytest.approx(below(before[name], sensitivity)), name


def test_a_sensitivity_for_a_parameter_the_model_lacks_is_refused_at_its_line():
    with pytest.raises(ScheduleError) as info:
        distiller_named(SENSITIVITIES.replace("features.module.2.weight", "features.module.4.weight"))
    [problem] = info.value.problems
    assert problem.path == "pruners.p.sensitivities.features.module.4.weight" and problem.line == 7
    assert "unknown parameter 'features.module.4.weight'" in problem.message and "features.2.weight" in problem.message


LEVELS_BY_POLICY = """
    pruners:
      p:
        class: SparsityLevelParameterPruner
        levels: {'features.module.0.weight': 0.25, '*': 0.1}
    policies:
      - pruner:
          instance_name: p
          args: {levels: {'features.module.2.weight': 0.75}}
        epochs: [0]
"""


def test_policy_levels_keyed_by_distillers_names_override_the_pruners():
    scheduler, model = distiller_named(LEVELS_BY_POLICY)
    scheduler.on_epoch_begin(0)
    assert sparsity(model.features[0].weight) == pytest.approx(0.25, abs=0.01)
    assert sparsity(model.features[2].weight) == pytest.approx(0.75, abs=0.01)
    assert sparsity(model.classifier[1].weight) == pytest.approx(0.1, abs=0.01)


def test_policy_levels_for_a_parameter_the_model_lacks_are_refused():
    with pytest.raises(ScheduleError) as info:
        distiller_named(LEVELS_BY_POLICY.replace("features.module.2.weight", "features.module.3.weight"))
    [problem] = info.value.problems
    assert problem.path == "policies[0].args.levels.features.module.3.weight" and problem.line == 7  # the policy


def test_an_amc_configuration_is_named_as_such():
    [problem] = problems("""
        # searched by AMC's agent
        network:
          tiny: ["module.conv1", "module.conv2"]
    """)
    assert problem.path == "network" and problem.line == 3
    assert "automated compression (AMC)" in problem.message and "not a schedule" in problem.message
    assert "--strategy amc --amc-file FILE" in problem.message


STATS = """
    conv1:
      inputs:
        0: {min: -1.0, max: 1.0, avg_min: -0.9, avg_max: 0.9, mean: 0.0, std: 0.5, shape: (8, 1, 8, 8)}
      output: {min: -2.0, max: 2.0, avg_min: -1.5, avg_max: 1.5, mean: 0.1, std: 0.7, shape: (8, 8, 6, 6)}
    relu1:
      output: {min: 0.0, max: 2.0, avg_min: 0.0, avg_max: 1.5, mean: 0.3, std: 0.4, shape: (8, 8, 6, 6)}
"""


def test_a_statistics_file_says_what_it_is_and_where_it_belongs():
    [problem] = problems(STATS)
    assert "activation statistics file" in problem.message and "compressor quantize" in problem.message
    assert "--stats" in problem.message and problem.line == 2


def test_a_schedule_with_an_unknown_layer_like_key_is_not_taken_for_statistics():
    found = problems("version: 1\n" + textwrap.dedent(STATS))
    assert [problem.path for problem in found] == ["conv1", "relu1"]
    assert all("unknown top-level key" in problem.message for problem in found)
