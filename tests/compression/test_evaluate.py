"""evaluate(): top-1/top-5 and loss over a loader, computed without an autograd graph."""
import pytest
import torch
from torch import nn

from compressor.compression.evaluation import evaluate


class Recording(nn.Module):
    """Fixed logits per image; records whether gradients were enabled in each forward."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.grad_enabled = []

    def forward(self, x):
        self.grad_enabled.append(torch.is_grad_enabled())
        return x * self.scale


def test_evaluate_builds_no_graph_and_counts_correctly():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 1.0, 5.0], [4.0, 0.0, 1.0]])
    targets = torch.tensor([0, 2, 2, 1])  # top-1 right for images 0 and 2; every target in the top 3
    loader = [(logits[:2], targets[:2]), (logits[2:], targets[2:])]
    model = Recording()
    result = evaluate(model, loader, nn.CrossEntropyLoss(), torch.device("cpu"))
    assert model.grad_enabled == [False, False] and torch.is_grad_enabled()
    assert result.top1 == 50.0 and result.top5 == 100.0 and result.samples == 4
    assert result.loss == pytest.approx(nn.functional.cross_entropy(logits, targets).item())
    assert model.training  # restored


def test_tied_logits_count_argmax_class_as_top1():
    # an int8 model's logits: three classes tie for the highest value
    row = [-5.1134, -0.5479, 0.9131, 0.9131, -1.8262, -0.3652, -2.3741, -2.5567, -0.7305, 0.9131]
    logits = torch.tensor([row])
    result = evaluate(Recording(), [(logits, torch.tensor([2]))], nn.CrossEntropyLoss(), torch.device("cpu"))
    assert logits.argmax(1).item() == 2 and result.top1 == 100.0
