"""The optimizer keeps working on the thinned parameters, with its state cut to match."""
import pytest
import torch
import torch.nn.functional as F

from compressor.compression.thinning import remove_structures, zero_weakest_filter_groups

EXAMPLE = torch.zeros(1, 3, 32, 32)


def batch():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(16, 3, 32, 32, generator=generator), torch.randint(0, 10, (16,), generator=generator)


def step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def trained_then_zeroed(masked_model, make_optimizer):
    """A few steps build the optimizer state; then half of each filter group is zeroed (as masks would)."""
    model, _ = masked_model("resnet20_cifar", 32, fraction=0.0)
    optimizer = make_optimizer(model.parameters())
    x, y = batch()
    model.train()
    for _ in range(2):
        step(model, optimizer, x, y)
    zero_weakest_filter_groups(model, EXAMPLE, 0.5)
    return model, optimizer, x, y


def test_sgd_momentum_follows_the_kept_filters_and_training_goes_on(masked_model):
    model, optimizer, x, y = trained_then_zeroed(
        masked_model, lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9))
    conv = model.layer1[0].conv1
    old_buffer = optimizer.state[conv.weight]["momentum_buffer"].clone()
    kept = [i for i in range(conv.out_channels) if conv.weight[i].ne(0).any()]
    # its input is the residual stream that the stem conv starts
    kept_inputs = [i for i in range(conv.in_channels) if model.conv1.weight[i].ne(0).any()]

    remove_structures(model, EXAMPLE, optimizer=optimizer)

    params = list(model.parameters())
    assert [id(p) for p in optimizer.param_groups[0]["params"]] == [id(p) for p in params]
    for param in params:
        assert optimizer.state[param]["momentum_buffer"].shape == param.shape
    new_buffer = optimizer.state[conv.weight]["momentum_buffer"]
    assert torch.equal(new_buffer, old_buffer[kept][:, kept_inputs])
    losses = [step(model, optimizer, x, y) for _ in range(8)]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]


def test_adam_moments_follow_the_kept_channels(masked_model):
    model, optimizer, x, y = trained_then_zeroed(masked_model, lambda params: torch.optim.Adam(params, lr=1e-3))
    remove_structures(model, EXAMPLE, optimizer=optimizer)
    for param in model.parameters():
        state = optimizer.state[param]
        assert state["exp_avg"].shape == state["exp_avg_sq"].shape == param.shape
    losses = [step(model, optimizer, x, y) for _ in range(8)]
    assert losses[-1] < losses[0]


def test_a_refused_request_leaves_the_optimizer_as_it_was(masked_model):
    model, optimizer, _, _ = trained_then_zeroed(
        masked_model, lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9))
    params_before = list(optimizer.param_groups[0]["params"])
    from compressor.compression.core.errors import UserError

    with pytest.raises(UserError):
        remove_structures(model, EXAMPLE, optimizer=optimizer, layers=["layer1.0.conv1", "fc"])
    assert optimizer.param_groups[0]["params"] == params_before
    assert all(p in optimizer.state for p in params_before)
