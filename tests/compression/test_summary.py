import torch
from torch import nn

from compressor.compression.models import build_model
from compressor.compression.sparsity import model_sparsity
from compressor.compression.summary import summarize


def test_counts_params_zeros_structures_and_macs():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), nn.Flatten(), nn.Linear(4 * 2 * 2, 3, bias=False))
    with torch.no_grad():
        model[0].weight[1].zero_()          # one whole filter
        model[0].weight[:, 0, 0, 0] = 0     # plus 3 more elements in other filters
        model[2].weight[:, 5].zero_()       # one input column of the Linear
    result = summarize(model, (2, 4, 4))
    conv, linear = result.layers
    assert conv.name == "0" and conv.shape == [4, 2, 3, 3] and conv.params == 72
    assert conv.nnz == 72 - 18 - 3 and conv.zero_filters == 1 and conv.zero_channels == 0
    assert conv.macs == 4 * 2 * 2 * (2 * 3 * 3)  # out elements x kernel volume
    assert conv.effective_macs == round(conv.macs * conv.nnz / 72)
    assert linear.zero_channels == 1 and linear.zero_filters == 0 and linear.macs == 16 * 3
    assert result.macs == conv.macs + linear.macs
    assert abs(result.sparsity - model_sparsity(model)) < 1e-12
    assert result.total_params == 72 + 48


def test_torchvision_resnet18_macs_match_the_published_figure():
    torch.manual_seed(0)  # a random initialization can hold an exact zero or two, which is sparsity
    result = summarize(build_model("resnet18"), (3, 224, 224))
    assert abs(result.macs / 1e9 - 1.82) < 0.03
    assert result.total_params == 11_689_512
    assert result.sparsity == 0.0


class WeightsUsedByTheParent(nn.Module):
    """As Swin's attention: the parent calls F.linear with its child layer's weight."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        q, k, v = nn.functional.linear(x.flatten(1).view(1, 4, 16), self.qkv.weight, self.qkv.bias).chunk(3, -1)
        return self.head((q @ k.transpose(1, 2) @ v).mean(1))


def test_macs_computed_outside_the_layers_forward_are_counted():
    summary = summarize(WeightsUsedByTheParent(), (1, 8, 8))
    qkv = 4 * 16 * 48
    attention = 4 * 4 * 16 + 4 * 4 * 16  # q k^T, then times v
    assert summary.macs == qkv + attention + 16 * 10 and summary.other_macs == qkv + attention


def test_attention_projections_of_nn_multihead_attention_are_counted():
    """Its fused fast path escapes the flop counter: ViT-B/32 by hand, 12 blocks x 50 tokens x (4 x 768^2 + 2 x 768
    x 3072) + the patch convolution + the head. (The attention's own products, 1% more, are not in torch's
    counter for the CPU's fused attention kernel.)"""
    summary = summarize(build_model("vit_b_32"), (3, 224, 224))
    blocks = 12 * 50 * (4 * 768 ** 2 + 2 * 768 * 3072)
    assert summary.macs == blocks + 49 * 768 * 3 * 32 * 32 + 768 * 1000
    assert summary.other_macs == 12 * 50 * 4 * 768 ** 2  # in_proj and out_proj, which MultiheadAttention computes
