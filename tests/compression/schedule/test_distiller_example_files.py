"""Distiller's own example files (read from ../shared; skipped where absent) validate as they are written,
and its files that are not schedules are refused, saying what they are."""
import pytest

from compressor.compression.core.errors import ScheduleError
from compressor.compression.pruning.base import PruneStep
from compressor.compression.schedule import load_schedule
from compressor.compression.training import TrainOptions, apply_overrides, build_run_parts
from helpers import distiller_example


def validated(relative, arch):
    """What `compressor validate --schedule F --arch ARCH --dataset fake` builds, in this process."""
    schedule = apply_overrides(load_schedule(distiller_example(relative)), TrainOptions(arch=arch, dataset="fake"))
    return build_run_parts(schedule, checking=True)


@pytest.mark.parametrize("relative, arch", [
    ("examples/agp-pruning/resnet20_filters.schedule_agp.yaml", "resnet20_cifar"),
    ("tests/full_flow_tests/simplenet_mnist_pruning.yaml", "simplenet_mnist"),
    ("examples/hybrid/alexnet.schedule_sensitivity_2D-reg.yaml", "alexnet"),
])
def test_distiller_examples_validate_on_their_models(relative, arch):
    parts = validated(relative, arch)
    assert parts.info.name == arch and parts.scheduler.scheduled


def test_sensitivities_in_distillers_names_prune_alexnet():
    parts = validated("examples/sensitivity-pruning/alexnet.schedule_sensitivity.yaml", "alexnet")
    pruner = parts.scheduler.scheduled[0].policy.pruner
    params = dict(parts.model.named_parameters())
    assert pruner.values["features.0.weight"] == 0.25 and pruner.values["classifier.6.weight"] == 0.625
    assert len(pruner.values) == 8 and set(pruner.values) <= set(params)
    masks = pruner.compute_masks(PruneStep(0, (0,)))
    weight = params["features.0.weight"].detach()
    expected = (weight.abs() > 0.25 * weight.std()).float().mean().item()
    assert masks["features.0.weight"].float().mean().item() == pytest.approx(expected)


def test_a_weight_written_as_one_name_is_its_list():
    parts = validated("examples/agp-pruning/resnet50.schedule_agp.yaml", "resnet50")
    assert parts.schedule.component("pruners", "fc_pruner").config.weights == ["module.fc.weight"]


def test_duplicated_keys_in_distillers_ssl_schedule_are_warnings():
    parts = validated("examples/ssl/ssl_channels-removal_training.yaml", "resnet20_cifar")
    duplicates = [warning for warning in parts.warnings if "duplicate key" in warning]
    assert len(duplicates) == 2 and "module.layer2.1.conv2.weight" in duplicates[0]


@pytest.mark.parametrize("relative, what", [
    ("examples/auto_compression/amc/auto_compression_channels.yaml", "automated compression (AMC)"),
    ("examples/auto_compression/amc/auto_compression_filters.yaml", "automated compression (AMC)"),
    ("examples/quantization/post_train_quant/stats/resnet18_quant_stats.yaml", "activation statistics file"),
    ("examples/ncf/quantization_stats_split.yaml", "activation statistics file"),
])
def test_files_that_are_not_schedules_say_what_they_are(relative, what):
    with pytest.raises(ScheduleError) as info:
        load_schedule(distiller_example(relative))
    [problem] = info.value.problems
    assert what in problem.message and problem.line is not None
