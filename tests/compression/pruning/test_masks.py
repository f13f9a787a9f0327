import torch
from torch import nn

from compressor.compression.pruning.masks import MaskStore


def model_and_store():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4))
    return model, MaskStore(model)


def step(model, optimizer):
    optimizer.zero_grad()
    model(torch.randn(8, 6)).pow(2).sum().backward()
    optimizer.step()


def test_hard_masks_survive_momentum_and_weight_decay():
    model, store = model_and_store()
    keep = torch.rand(4, 6) > 0.5
    store.set("0.weight", keep)
    store.apply()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    for _ in range(5):
        step(model, optimizer)
        store.apply()
    assert torch.all(model[0].weight[~keep] == 0)
    assert torch.all(model[0].weight[keep] != 0)


def test_dataparallel_prefix_resolves_both_ways():
    model, store = model_and_store()
    store.set("module.0.weight", torch.zeros(4, 6))
    assert "0.weight" in store.masks and store.get("module.0.weight") is not None


def test_forward_only_masks_hide_weights_for_the_step_and_keep_them_learning():
    model, store = model_and_store()
    keep = torch.zeros(4, 6, dtype=torch.bool)
    keep[:, :3] = True
    before = model[0].weight.detach().clone()
    store.set("0.weight", keep, forward_only=True)
    seen = {}
    model.register_forward_pre_hook(lambda m, i: seen.setdefault("w", m[0].weight.detach().clone()))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    store.mask_for_forward()
    step(model, optimizer)
    store.apply()
    assert torch.all(seen["w"][:, 3:] == 0)          # the forward pass saw the pruned weights as zero
    assert torch.equal(model[0].weight[:, 3:], before[:, 3:])  # dense values came back (no gradient reached them)
    with store.forward_masked():
        assert torch.all(model[0].weight[:, 3:] == 0)
    assert torch.equal(model[0].weight[:, 3:], before[:, 3:])
    store.harden(["0.weight"])
    assert torch.all(model[0].weight[:, 3:] == 0) and not store.forward_only


def test_gradient_masking_reads_the_current_mask():
    model, store = model_and_store()
    store.set("0.weight", torch.zeros(4, 6))
    store.mask_gradients(["0.weight"])
    model(torch.randn(2, 6)).sum().backward()
    assert torch.all(model[0].weight.grad == 0)
    store.set("0.weight", torch.ones(4, 6))
    model.zero_grad()
    model(torch.randn(2, 6)).sum().backward()
    assert torch.any(model[0].weight.grad != 0)


def test_state_round_trip_and_shape_refresh(tmp_path):
    model, store = model_and_store()
    keep = torch.rand(4, 6) > 0.5
    store.set("0.weight", keep, forward_only=True)
    torch.save(store.state_dict(), tmp_path / "m.pt")
    other = MaskStore(model)
    other.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    assert torch.equal(other.masks["0.weight"], keep) and other.forward_only == {"0.weight"}
    model[0] = nn.Linear(6, 2)
    with torch.no_grad():
        model[0].weight[0, 0] = 0
    other.refresh_shapes()
    assert other.masks["0.weight"].shape == (2, 6) and not other.masks["0.weight"][0, 0]


def test_pruned_weights_are_positive_zeros():
    """mul_ by the mask would leave -0.0 where a weight was negative: other bits for a packed file to store."""
    model = nn.Linear(4, 4)
    masks = MaskStore(model)
    masks.set("weight", torch.zeros(4, 4, dtype=torch.bool))
    masks.apply()
    assert not torch.signbit(model.weight).any()
