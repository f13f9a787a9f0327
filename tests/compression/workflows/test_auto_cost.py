"""The cost ratios `auto` drives down."""
import torch

from compressor.compression.models import build_model
from compressor.compression.workflows.auto_config import LatencyOptions
from compressor.compression.workflows.auto_cost import CostMeter
from compressor.compression.workflows.auto_prune import remove_weakest
from compressor.compression.workflows.auto_space import FilterGroup

CPU = torch.device("cpu")


def test_ratios_of_a_thinned_model_fall_below_one_and_the_dense_is_one():
    torch.manual_seed(0)
    dense = build_model("digits_cnn", num_classes=10).eval()
    thinned = build_model("digits_cnn", num_classes=10).eval()
    thinned.load_state_dict(dense.state_dict())
    remove_weakest(thinned, torch.zeros(1, 1, 8, 8), FilterGroup(("conv2",), 64), 32)
    for kind in ("macs", "params", "size"):
        meter = CostMeter(kind, dense, (1, 8, 8), CPU)
        assert meter.ratio(dense) == 1.0 and 0 < meter.ratio(thinned) < 1, kind
    latency = CostMeter("latency", dense, (1, 8, 8), CPU, LatencyOptions(batch_size=2, repeats=3, warmup=1))
    assert latency.ratio(thinned) > 0
