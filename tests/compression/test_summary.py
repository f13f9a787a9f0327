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
    result = summarize(build_model("resnet18"), (3, 224, 224))
    assert abs(result.macs / 1e9 - 1.82) < 0.03
    assert result.total_params == 11_689_512
    assert result.sparsity == 0.0
