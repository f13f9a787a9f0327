"""KMeansWeightSharingQuantizer on small models: clusters, zeros, Han's gradient rule, overrides, errors."""
import copy

import pytest
import torch
from torch import nn

from compressor.compression.core.components import BuildContext
from compressor.compression.core.errors import ScheduleError, UserError
from compressor.compression.pruning.masks import MaskStore
from compressor.compression.quantization.weight_sharing import KMeansWeightSharingQuantizer
from compressor.compression.quantization.weight_sharing_config import KMeansWeightSharingConfig
from compressor.compression.schedule import parse_schedule_text
from helpers import random_digit_batches, scheduler_for


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[0.1, 0.11, -0.5], [0.0, -0.52, 0.1]]))


def tiny_sharing(optimizer_class=torch.optim.SGD, sharing=None, **optimizer_args):
    model = Tiny()
    optimizer = optimizer_class(model.parameters(), **optimizer_args)
    context = BuildContext(model, optimizer, MaskStore(model), (3,), torch.device("cpu"))
    quantizer = KMeansWeightSharingQuantizer(KMeansWeightSharingConfig(clusters=2, **(sharing or {})), context)
    quantizer.cluster()
    return model, optimizer, quantizer


def step(model, optimizer, upstream):
    """One optimizer step on loss = sum(weight * upstream): each weight's own gradient is `upstream`."""
    optimizer.zero_grad()
    (model.fc.weight * upstream).sum().backward()
    optimizer.step()


def test_clustering_replaces_each_weight_by_its_centroid_and_keeps_zeros():
    model, _, quantizer = tiny_sharing(lr=0.1)
    expected = torch.tensor([[0.31 / 3, 0.31 / 3, -0.51], [0.0, -0.51, 0.31 / 3]])
    assert torch.allclose(model.fc.weight, expected)
    assert model.fc.weight[1, 0].item() == 0.0
    assert quantizer.layers["fc"].index.tolist() == [[1, 1, 0], [2, 0, 1]]  # 2: belongs to no cluster


def test_a_centroid_moves_by_the_sum_of_its_members_gradients():
    model, optimizer, _ = tiny_sharing(lr=0.1)
    before = model.fc.weight.detach().clone()
    upstream = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    step(model, optimizer, upstream)
    low, high = before[0, 2] - 0.1 * (3.0 + 5.0), before[0, 0] - 0.1 * (1.0 + 2.0 + 6.0)
    expected = torch.stack([torch.stack([high, high, low]), torch.stack([torch.tensor(0.0), low, high])])
    assert torch.allclose(model.fc.weight, expected)
    assert model.fc.weight[1, 0].item() == 0.0


def test_with_mean_gradients_a_centroid_moves_by_its_members_mean_gradient():
    """A step that does not grow with the cluster: Han's summed gradient, at the lr that trained the
    weights, moved a ~900-member centroid by ~900 weight steps and sent a digits model to chance."""
    model, optimizer, _ = tiny_sharing(lr=0.1, sharing={"centroid_gradient": "mean"})
    before = model.fc.weight.detach().clone()
    step(model, optimizer, torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    assert model.fc.weight[0, 2].item() == pytest.approx(before[0, 2].item() - 0.1 * (3.0 + 5.0) / 2)
    assert model.fc.weight[1, 2].item() == pytest.approx(before[1, 2].item() - 0.1 * (1.0 + 2.0 + 6.0) / 3)


def test_a_weight_pruned_while_shared_adds_no_gradient_to_its_centroid():
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    masks = MaskStore(model)
    context = BuildContext(model, optimizer, masks, (3,), torch.device("cpu"))
    quantizer = KMeansWeightSharingQuantizer(KMeansWeightSharingConfig(clusters=2, centroid_gradient="sum"), context)
    quantizer.cluster()
    high = model.fc.weight[0, 0].item()
    keep = torch.ones(2, 3, dtype=torch.bool)
    keep[0, 0] = keep[1, 0] = False
    masks.set("fc.weight", keep)  # a pruner still due drops a member of the high cluster
    masks.apply()
    step(model, optimizer, torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    masks.apply()
    assert model.fc.weight[0, 1].item() == pytest.approx(high - 0.1 * (2.0 + 6.0))
    assert model.fc.weight[0, 1] == model.fc.weight[1, 2] and model.fc.weight[0, 0] == 0
    assert quantizer.layers["fc"].index[0, 0] == 2


def test_momentum_and_weight_decay_act_on_the_centroid():
    model, optimizer, _ = tiny_sharing(lr=0.1, momentum=0.5, weight_decay=0.01, sharing={"centroid_gradient": "sum"})
    c = model.fc.weight[0, 2].item()
    grads = []
    for upstream in (torch.ones(2, 3), torch.full((2, 3), -2.0)):
        step(model, optimizer, upstream)
        grads.append(2 * upstream[0, 0].item())  # two members
    buffer = grads[0] + 0.01 * c
    c1 = c - 0.1 * buffer
    buffer = 0.5 * buffer + grads[1] + 0.01 * c1
    assert model.fc.weight[0, 2].item() == pytest.approx(c1 - 0.1 * buffer, rel=1e-6)
    assert model.fc.weight[1, 1].item() == model.fc.weight[0, 2].item()


def test_with_adam_every_member_still_takes_its_centroids_step():
    model, optimizer, _ = tiny_sharing(torch.optim.Adam, lr=0.01)
    for seed in range(3):
        step(model, optimizer, torch.randn(2, 3, generator=torch.Generator().manual_seed(seed)))
    weight = model.fc.weight
    assert weight[0, 0] == weight[0, 1] == weight[1, 2] and weight[0, 2] == weight[1, 1] and weight[1, 0] == 0


PRUNE_THEN_SHARE = """
version: 1
pruners:
  agp: {class: AutomatedGradualPruner, initial_sparsity: 0.5, final_sparsity: 0.8, weights: [conv2.weight, fc1.weight]}
quantizers:
  share:
    class: KMeansWeightSharingQuantizer
    clusters: 8
    overrides:
      conv1: {clusters: 4}
      fc2: null
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 2
  - quantizer: {instance_name: share}
    starting_epoch: 1
    ending_epoch: 2
"""


def train(scheduler, context, epochs, steps=2):
    model = context.model
    for epoch in range(epochs):
        scheduler.on_epoch_begin(epoch)
        for index, (images, labels) in enumerate(random_digit_batches(steps)):
            scheduler.on_minibatch_begin(epoch, index, steps)
            loss = nn.functional.cross_entropy(model(images), labels)
            loss = scheduler.before_backward_pass(epoch, index, steps, loss)
            context.optimizer.zero_grad()
            loss.backward()
            context.optimizer.step()
            scheduler.on_minibatch_end(epoch, index, steps)
        scheduler.on_epoch_end(epoch)


def distinct_nonzero(weight):
    return len(torch.unique(weight[weight != 0]))


def test_pruned_layers_share_their_kept_weights_and_the_sharing_outlasts_the_policy():
    scheduler, context = scheduler_for(PRUNE_THEN_SHARE)
    model = context.model
    with torch.no_grad():
        model.conv3.weight[:4] = 0
    fc2 = model.fc2.weight.detach().clone()
    train(scheduler, context, epochs=4)  # the policy's epoch is 1
    for name in ("conv2", "fc1"):
        weight, keep = getattr(model, name).weight, context.masks.get(f"{name}.weight")
        assert torch.equal(weight != 0, keep)
        assert distinct_nonzero(weight) == 8
        assert (quantizer_of(scheduler).layers[name].index[~keep] == 8).all()
    assert (model.conv3.weight[:4] == 0).all() and distinct_nonzero(model.conv3.weight) == 8
    assert distinct_nonzero(model.conv1.weight) == 4
    assert distinct_nonzero(model.fc2.weight) > 100 and not torch.equal(model.fc2.weight, fc2)
    assert set(quantizer_of(scheduler).layers) == {"conv1", "conv2", "conv3", "fc1"}


def test_agp_pruning_on_while_weights_are_shared_keeps_zeros_and_at_most_k_values():
    schedule = PRUNE_THEN_SHARE.replace("ending_epoch: 2\n  - quantizer", "ending_epoch: 4\n  - quantizer")
    scheduler, context = scheduler_for(schedule)
    model = context.model
    train(scheduler, context, epochs=4)  # AGP's masks grow in epochs 2 and 3, after the clustering in 1
    for name in ("conv2", "fc1"):
        weight, keep = getattr(model, name).weight, context.masks.get(f"{name}.weight")
        assert torch.equal(weight != 0, keep) and 1 - keep.float().mean().item() == pytest.approx(0.8, abs=1e-3)
        assert 1 < distinct_nonzero(weight) <= 8
        assert (quantizer_of(scheduler).layers[name].index[~keep] == 8).all()
        assert torch.isfinite(weight).all()


def quantizer_of(scheduler):
    return next(item.policy.quantizer for item in scheduler.scheduled if item.name == "share")


def test_state_dict_restores_assignments_and_centroids():
    scheduler, context = scheduler_for(PRUNE_THEN_SHARE)
    train(scheduler, context, epochs=2)
    state = scheduler.state_dict()
    again, again_context = scheduler_for(PRUNE_THEN_SHARE, seed=1)
    again_context.model.load_state_dict(context.model.state_dict())
    again_context.optimizer.load_state_dict(copy.deepcopy(context.optimizer.state_dict()))
    again.load_state_dict(state)
    for name, layer in quantizer_of(scheduler).layers.items():
        restored = quantizer_of(again).layers[name]
        assert torch.equal(restored.index, layer.index) and torch.equal(restored.centroids, layer.centroids)
    for each, each_context in [(scheduler, context), (again, again_context)]:
        torch.manual_seed(0)  # the same dropout
        train_epoch(each, each_context, 2)
    for (name, a), (_, b) in zip(context.model.named_parameters(), again_context.model.named_parameters()):
        assert torch.equal(a, b), name


def train_epoch(scheduler, context, epoch):
    model = context.model
    scheduler.on_epoch_begin(epoch)
    for index, (images, labels) in enumerate(random_digit_batches(2)):
        scheduler.on_minibatch_begin(epoch, index, 2)
        loss = scheduler.before_backward_pass(epoch, index, 2, nn.functional.cross_entropy(model(images), labels))
        context.optimizer.zero_grad()
        loss.backward()
        context.optimizer.step()
        scheduler.on_minibatch_end(epoch, index, 2)
    scheduler.on_epoch_end(epoch)


def sharing_schedule(arguments):
    return f"""
version: 1
quantizers:
  share: {{class: KMeansWeightSharingQuantizer, {arguments}}}
policies:
  - quantizer: {{instance_name: share}}
    starting_epoch: 0
    ending_epoch: 1
"""


@pytest.mark.parametrize("arguments, path, message", [
    ("clusters: 1", "quantizers.share.clusters", "greater than or equal to 2"),
    ("clusters: 65537", "quantizers.share.clusters", "less than or equal to 65536"),
    ("overrides: {conv1: {clusters: 70000}}", "quantizers.share.overrides.conv1.clusters", "less than or equal"),
    ("overrides: {'conv[': null}", "quantizers.share.overrides", "not a valid regular expression"),
    ("overrides: {conv1: {bits: 4}}", "quantizers.share.overrides.conv1.bits", "unknown argument"),
    ("init: kmeans++", "quantizers.share.init", "'linear', 'density' or 'random'"),
])
def test_bad_config_is_one_message_naming_its_field(arguments, path, message):
    with pytest.raises(ScheduleError) as err:
        parse_schedule_text(sharing_schedule(arguments))
    problem = next(problem for problem in err.value.problems if problem.path == path)
    assert message in problem.message


def test_override_matching_no_module_lists_the_modules():
    with pytest.raises(ScheduleError, match="'conv9' matches no module"):
        scheduler_for(sharing_schedule("overrides: {conv9: null}"))


def test_a_forward_only_mask_is_refused_when_clustering():
    scheduler, context = scheduler_for(sharing_schedule("clusters: 4"))
    context.masks.set("conv2.weight", context.model.conv2.weight.abs() > 0.01, forward_only=True)
    with pytest.raises(UserError, match="conv2.weight' is pruned with a forward-only mask"):
        scheduler.on_epoch_begin(0)


def test_a_layer_thinned_after_its_weights_were_shared_is_refused():
    scheduler, context = scheduler_for(sharing_schedule("clusters: 4"))
    scheduler.on_epoch_begin(0)
    context.model.conv2.weight = nn.Parameter(context.model.conv2.weight.detach()[:32].clone())
    with pytest.raises(UserError, match="layer 'conv2' was thinned or replaced after its weights were shared"):
        context.optimizer.step()
