"""FilterRemover / ChannelRemover / StructureRemover as schedule extensions, in a real run."""
import pytest
import torch

import compressor.compression.thinning  # noqa: F401  (registers the extensions)
from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.restore import model_from_checkpoint
from compressor.compression.core.errors import ScheduleError
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.thinning import recorded_plan, zero_weakest_filter_groups
from compressor.compression.training import Reporter, TrainOptions, apply_overrides, fit, prepare_run

SCHEDULE = """
version: 1
model: {arch: resnet20_cifar}
dataset: {name: fake, size: 16, batch_size: 8}
training: {epochs: 2, optimizer: sgd, lr: 0.01, momentum: 0.9, seed: 1}
extensions:
  net_thinner:
    class: FilterRemover
    thinning_func_str: remove_filters
    arch: resnet20_cifar
    dataset: cifar10
policies:
  - extension: {instance_name: net_thinner}
    epochs: [0]
"""


def params(model):
    return sum(p.numel() for p in model.parameters())


def mask_zeroed(run, zeroed):
    """Masks keep the zeroed filters at zero through the epoch's optimizer steps."""
    for name, idxs in zeroed.items():
        keep = torch.ones_like(run.model.get_parameter(name), dtype=torch.bool)
        keep[idxs] = False
        run.scheduler.masks.set(name, keep)


def test_filter_remover_thins_at_the_end_of_its_epoch_and_training_goes_on(tmp_path):
    schedule = apply_overrides(parse_schedule_text(SCHEDULE), TrainOptions(out=str(tmp_path / "run")))
    run = prepare_run(schedule, write_tensorboard=False)
    mask_zeroed(run, zero_weakest_filter_groups(run.model, torch.zeros(1, 3, 32, 32), 0.5))
    dense = params(run.model)
    policy = run.scheduler.scheduled[0].policy

    report = fit(run)

    assert len(policy.plans) == 1 and policy.plans[0].ops and policy.plans[0].skipped == []
    assert params(run.model) == policy.plans[0].params_after < 0.5 * dense
    assert [record["epoch"] for record in run.history] == [0, 1]
    assert all(torch.isfinite(torch.tensor(record["train_loss"])) for record in run.history)
    masks = run.scheduler.masks
    assert all(masks.masks[name].shape == p.shape for name, p in run.model.named_parameters() if name in masks.masks)
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert saved["thinning"] == recorded_plan(run.model)
    rebuilt, _ = model_from_checkpoint(saved)
    assert params(rebuilt) == params(run.model) and report["params"] == params(run.model)


def test_thinning_at_the_end_of_the_last_epoch_is_the_model_that_epoch_records_and_keeps(tmp_path):
    text = SCHEDULE.replace("epochs: [0]", "epochs: [1]")
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(tmp_path / "run")))
    run = prepare_run(schedule, write_tensorboard=False)
    mask_zeroed(run, zero_weakest_filter_groups(run.model, torch.zeros(1, 3, 32, 32), 0.5))

    report = fit(run)

    first, last = run.history
    assert last["weights"] < first["weights"] and last["nnz"] < first["nnz"]
    assert last["sparsity"] < first["sparsity"]  # the zeroed filters are gone, no longer counted as zeros
    assert run.best_epoch == 1
    best, _ = model_from_checkpoint(load_checkpoint(tmp_path / "run" / "best.pt"))
    assert params(best) == params(run.model) == report["params"]


@pytest.mark.parametrize("arguments,kind", [
    ("class: ChannelRemover", "channels"),
    ("class: StructureRemover\n    thinning_func_str: remove_channels", "channels"),
    ("class: StructureRemover\n    thinning_func_str: remove_filters", "filters"),
])
def test_remover_classes_pick_their_kind(tmp_path, arguments, kind):
    text = SCHEDULE.replace("class: FilterRemover\n    thinning_func_str: remove_filters", arguments)
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(tmp_path / "run")))
    run = prepare_run(schedule, write_tensorboard=False)
    assert run.scheduler.scheduled[0].policy.kind == kind


def test_structure_remover_needs_its_function_and_unknown_arguments_are_refused():
    needs = SCHEDULE.replace("class: FilterRemover", "class: StructureRemover").replace(
        "    thinning_func_str: remove_filters\n", "")
    with pytest.raises(ScheduleError, match="thinning_func_str"):
        parse_schedule_text(needs)
    with pytest.raises(ScheduleError, match="remove_rows|thinning_func_str"):
        parse_schedule_text(SCHEDULE.replace("remove_filters", "remove_rows"))
    with pytest.raises(ScheduleError, match="colour"):
        parse_schedule_text(SCHEDULE.replace("dataset: cifar10", "dataset: cifar10\n    colour: red"))


class _Warnings(Reporter):
    def __init__(self):
        self.messages = []

    def on_warning(self, message):
        self.messages.append(message)


def test_a_thinning_pass_that_keeps_zero_filters_says_which_and_why(tmp_path):
    text = SCHEDULE.replace("arch: resnet20_cifar}", "arch: digits_cnn}").replace("epochs: 2,", "epochs: 1,")
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(tmp_path / "run")))
    run = prepare_run(schedule, write_tensorboard=False)
    with torch.no_grad():
        run.model.conv2.weight[:2] = 0  # its BatchNorm still shifts them: they carry a value
    mask_zeroed(run, {"conv2.weight": [0, 1]})
    warnings = _Warnings()

    fit(run, warnings)

    assert run.model.conv2.out_channels == 64
    assert [m for m in warnings.messages if m.startswith("epoch 0: net_thinner: conv2: 2 zero filters kept")]


def test_a_thinning_pass_with_nothing_to_remove_says_so(tmp_path):
    text = SCHEDULE.replace("arch: resnet20_cifar}", "arch: digits_cnn}").replace("epochs: 2,", "epochs: 1,")
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(tmp_path / "run")))
    warnings = _Warnings()

    fit(prepare_run(schedule, write_tensorboard=False), warnings)

    assert warnings.messages == ["epoch 0: net_thinner: nothing removed: no layer has all-zero filters (prune whole "
                                 "filters first, e.g. L1RankedStructureParameterPruner with group_type: Filters)"]
