import pytest
import torch

from compressor.compression.core.components import BuildContext
from compressor.compression.core.errors import ScheduleError
from compressor.compression.pruning.masks import MaskStore
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.thinning import remove_structures
from compressor.compression.training.setup import build_scheduler
from helpers import give_batchnorms_statistics, scheduler_for, sparsity


def run_epochs(scheduler, context, epochs, steps=2):
    """Drive the scheduler like the training loop does, with random data."""
    model, optimizer = context.model, context.optimizer
    for epoch in epochs:
        scheduler.on_epoch_begin(epoch)
        for step in range(steps):
            scheduler.on_minibatch_begin(epoch, step, steps)
            loss = torch.nn.functional.cross_entropy(model(torch.randn(8, *context.input_shape)),
                                                     torch.randint(0, 10, (8,)))
            loss = scheduler.before_backward_pass(epoch, step, steps, loss)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.on_minibatch_end(epoch, step, steps)
        scheduler.on_epoch_end(epoch, {"val_loss": 1.0})


def pruner_schedule(body, timing="epochs: [0]", args=""):
    return f"pruners:\n  p:\n{body}\npolicies:\n  - pruner: {{instance_name: p{args}}}\n    {timing}\n"


def test_sparsity_level_pruner_reaches_each_level_and_star_default():
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: SparsityLevelParameterPruner\n    levels: {conv2.weight: 0.5, '*': 0.25}"))
    run_epochs(scheduler, context, [0])
    assert sparsity(context.model.conv2.weight) == pytest.approx(0.5, abs=1e-3)
    assert sparsity(context.model.fc1.weight) == pytest.approx(0.25, abs=1e-3)


def test_policy_levels_override_the_pruners():
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: SparsityLevelParameterPruner\n    levels: {conv2.weight: 0.5}",
        args=", args: {levels: {conv2.weight: 0.75}}"))
    run_epochs(scheduler, context, [0])
    assert sparsity(context.model.conv2.weight) == pytest.approx(0.75, abs=1e-3)


def test_magnitude_and_sensitivity_pruners_use_their_thresholds():
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: MagnitudeParameterPruner\n    thresholds: {fc1.weight: 0.02}"))
    small = (context.model.fc1.weight.abs() <= 0.02).float().mean().item()
    run_epochs(scheduler, context, [0], steps=0)
    assert sparsity(context.model.fc1.weight) == pytest.approx(small)
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: SensitivityPruner\n    sensitivities: {conv3.weight: 1.0}"))
    weight = context.model.conv3.weight
    expected = (weight.abs() <= weight.std()).float().mean().item()
    run_epochs(scheduler, context, [0], steps=0)
    assert sparsity(weight) == pytest.approx(expected)


def test_agp_reaches_final_sparsity_at_its_last_epoch_and_keeps_it():
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: AutomatedGradualPruner\n    initial_sparsity: 0.1\n    final_sparsity: 0.8\n"
        "    weights: [conv2.weight, module.fc1.weight]", timing="starting_epoch: 0\n    ending_epoch: 7\n    frequency: 2"))
    seen = []
    for epoch in range(9):
        run_epochs(scheduler, context, [epoch], steps=1)
        seen.append(round(sparsity(context.model.conv2.weight), 3))
    assert seen[0] == pytest.approx(0.1, abs=1e-3)
    assert seen[6] == pytest.approx(0.8, abs=1e-3) and seen[8] == seen[6]  # masks stay after the last epoch
    assert seen == sorted(seen)
    assert sparsity(context.model.fc1.weight) == pytest.approx(0.8, abs=1e-3)


def test_splicing_prunes_low_and_splices_back_high_weights():
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: SplicingPruner\n    sensitivities: {fc1.weight: 0.0}\n    low_thresh_mult: 0.9\n"
        "    hi_thresh_mult: 1.1", args=", args: {mask_on_forward_only: true, mini_batch_pruning_frequency: 1}"))
    run_epochs(scheduler, context, [0], steps=2)
    keep = context.masks.get("fc1.weight")
    magnitude = context.model.fc1.weight.detach().abs()
    assert 0.2 < 1 - keep.float().mean().item() < 0.8
    assert context.masks.forward_only == {"fc1.weight"}
    assert torch.count_nonzero(context.model.fc1.weight) > keep.sum()  # dense values kept for splicing
    assert keep[magnitude > magnitude.max() * 0.99].all()


def test_l1_ranked_filters_remove_the_weakest_filters():
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: L1RankedStructureParameterPruner\n    group_type: Filters\n    desired_sparsity: 0.5\n"
        "    weights: [conv2.weight]"))
    weight = context.model.conv2.weight
    weakest = set(weight.detach().abs().mean(dim=(1, 2, 3)).argsort()[:32].tolist())
    run_epochs(scheduler, context, [0], steps=0)
    zero_filters = set((weight.detach().abs().sum(dim=(1, 2, 3)) == 0).nonzero().flatten().tolist())
    assert zero_filters == weakest


def test_leader_prunes_the_same_filters_everywhere():
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: L2RankedStructureParameterPruner_AGP\n    group_type: Filters\n    initial_sparsity: 0.1\n"
        "    final_sparsity: 0.5\n    group_dependency: Leader\n    weights: [layer1.0.conv2.weight, layer1.1.conv2.weight]",
        timing="epochs: [0, 2]"), arch="resnet20_cifar")
    run_epochs(scheduler, context, [0, 1, 2], steps=0)
    model = context.model

    def zero_filters(w):
        return set((w.detach().abs().sum(dim=(1, 2, 3)) == 0).nonzero().flatten().tolist())

    assert len(zero_filters(model.layer1[0].conv2.weight)) == 8
    assert zero_filters(model.layer1[0].conv2.weight) == zero_filters(model.layer1[1].conv2.weight)


@pytest.mark.parametrize("prune_bias, removed", [(True, 32), (False, 0)])
def test_rows_with_prune_bias_mask_their_bias_too_so_thinning_removes_them(prune_bias, removed):
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: L1RankedStructureParameterPruner\n    group_type: Rows\n    desired_sparsity: 0.25\n"
        f"    weights: [fc1.weight]\n    prune_bias: {str(prune_bias).lower()}"))
    model = context.model
    weakest = model.fc1.weight.detach().abs().mean(dim=1).argsort()[:32]
    run_epochs(scheduler, context, [0], steps=0)
    assert bool((model.fc1.weight[weakest] == 0).all())
    assert bool((model.fc1.bias[weakest] == 0).all()) is prune_bias  # Distiller's pruners leave the bias
    remove_structures(model.eval(), torch.zeros(1, 1, 8, 8), "filters", layers=["fc1"])
    assert model.fc1.out_features == model.fc2.in_features == 128 - removed


def test_filter_pruning_masks_only_a_batchnorm_that_alone_reads_the_filters():
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: L1RankedStructureParameterPruner\n    group_type: Filters\n    desired_sparsity: 0.5\n"
        "    weights: [layer1.0.conv1.weight, layer1.0.conv2.weight]"), arch="preact_resnet20_cifar")
    run_epochs(scheduler, context, [0], steps=0)
    model = context.model
    assert int((model.layer1[0].bn.weight == 0).sum()) == 8  # conv1's own BatchNorm
    # registered right after conv2, but reads conv2's output plus the shortcut
    assert bool((model.layer1[1].pre_bn.weight != 0).all())


def test_rows_mask_the_batchnorm1d_after_a_linear_layer_so_thinning_removes_them():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.BatchNorm1d(16),
                                torch.nn.ReLU(), torch.nn.Linear(16, 10))
    context = BuildContext(model, torch.optim.SGD(model.parameters(), lr=0.1), MaskStore(model), (1, 8, 8),
                           torch.device("cpu"))
    scheduler = build_scheduler(parse_schedule_text(pruner_schedule(
        "    class: L1RankedStructureParameterPruner\n    group_type: Rows\n    desired_sparsity: 0.25\n"
        "    weights: [1.weight]\n    prune_bias: true")), context)
    give_batchnorms_statistics(model)
    run_epochs(scheduler, context, [0], steps=0)
    assert int((model[2].weight == 0).sum()) == int((model[2].bias == 0).sum()) == 4
    x = torch.randn(4, 1, 8, 8)
    before = model(x)
    remove_structures(model, torch.zeros(1, 1, 8, 8), "filters", layers=["1"])
    assert model[1].out_features == model[2].num_features == model[4].in_features == 12
    assert torch.allclose(model(x), before, atol=1e-5)


def test_prune_bias_needs_a_structure_of_whole_outputs():
    with pytest.raises(ScheduleError, match="prune_bias masks whole outputs"):
        scheduler_for(pruner_schedule("    class: L1RankedStructureParameterPruner\n    group_type: Cols\n"
                                      "    desired_sparsity: 0.25\n    weights: [fc1.weight]\n    prune_bias: true"))


@pytest.mark.parametrize("cls", ["RandomRankedFilterPruner", "BernoulliFilterPruner"])
def test_random_filter_pruners(cls):
    scheduler, context = scheduler_for(pruner_schedule(
        f"    class: {cls}\n    group_type: Filters\n    desired_sparsity: 0.5\n    weights: [conv3.weight]"))
    run_epochs(scheduler, context, [0], steps=0)
    zeros = (context.model.conv3.weight.detach().abs().sum(dim=(1, 2, 3)) == 0).sum().item()
    assert zeros == 64 if cls == "RandomRankedFilterPruner" else 30 <= zeros <= 98


def test_random_level_and_threshold_structure_pruners():
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: RandomLevelStructureParameterPruner\n    group_type: Channels\n    sparsity_range: [0.25, 0.5]\n"
        "    weights: [conv3.weight]"))
    run_epochs(scheduler, context, [0], steps=0)
    zero_channels = (context.model.conv3.weight.detach().abs().sum(dim=(0, 2, 3)) == 0).sum().item()
    assert 16 <= zero_channels <= 32
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: StructureParameterPruner\n    reg_regims: {fc1.weight: [0.02, Rows]}\n    threshold_criteria: Mean_Abs"))
    rows = context.model.fc1.weight.detach().abs().mean(dim=1)
    run_epochs(scheduler, context, [0], steps=0)
    assert (context.model.fc1.weight.abs().sum(dim=1) == 0).sum().item() == (rows <= 0.02).sum().item()


@pytest.mark.parametrize("cls", ["ActivationAPoZRankedFilterPruner", "ActivationMeanRankedFilterPruner",
                                 "GradientRankedFilterPruner"])
def test_data_ranked_filter_pruners_decide_after_the_epoch(cls):
    scheduler, context = scheduler_for(pruner_schedule(
        f"    class: {cls}\n    group_type: Filters\n    desired_sparsity: 0.25\n    weights: [conv1.weight, conv2.weight]"))
    scheduler.on_epoch_begin(0)
    assert not scheduler.masks.masks  # nothing decided before the epoch's statistics exist
    scheduler.on_epoch_end(0, {})
    scheduler, context = scheduler_for(pruner_schedule(
        f"    class: {cls}\n    group_type: Filters\n    desired_sparsity: 0.25\n    weights: [conv1.weight, conv2.weight]"))
    run_epochs(scheduler, context, [0], steps=3)
    zeros = (context.model.conv2.weight.detach().abs().sum(dim=(1, 2, 3)) == 0).sum().item()
    assert zeros == 16
    assert not context.model.conv2._forward_hooks and context.model.conv2.weight._backward_hooks in (None, {})


def test_nm_pruner_keeps_two_of_every_four():
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: NMSemiStructuredPruner\n    n: 2\n    m: 4\n    weights: [conv2.weight, fc1.weight]"))
    run_epochs(scheduler, context, [0], steps=0)
    groups = context.model.conv2.weight.detach().movedim(1, -1).reshape(-1, 4)
    assert ((groups != 0).sum(dim=1) == 2).all()
    assert sparsity(context.model.fc1.weight) == 0.5


def test_mini_batch_pruning_discard_and_gradient_masking():
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: SparsityLevelParameterPruner\n    levels: {fc1.weight: 0.5}",
        args=", args: {mini_batch_pruning_frequency: 2, discard_masks_at_minibatch_end: true}"))
    run_epochs(scheduler, context, [0], steps=1)
    assert not scheduler.masks.masks  # discarded after the step
    scheduler, context = scheduler_for(pruner_schedule(
        "    class: SparsityLevelParameterPruner\n    levels: {fc1.weight: 0.5}", args=", args: {mask_gradients: true}"))
    run_epochs(scheduler, context, [0], steps=1)
    grad = context.model.fc1.weight.grad
    assert torch.all(grad[~scheduler.masks.masks["fc1.weight"]] == 0)
