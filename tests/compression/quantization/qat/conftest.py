import pytest
import torch

import compressor.compression.quantization.qat  # noqa: F401  (registers the QAT quantizers)
from compressor.compression.components import BuildContext
from compressor.compression.models import build_model, model_info
from compressor.compression.pruning.masks import MaskStore
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training.setup import build_scheduler

QUANTIZER_CLASSES = ["QuantAwareTrainRangeLinearQuantizer", "DorefaQuantizer", "PACTQuantizer", "WRPNQuantizer",
                     "LSQQuantizer"]


def qat_schedule(cls, bits=4, extra="", overrides="", start=0, end=3):
    lines = [f"    {line}" for line in extra.strip().splitlines()]
    if overrides:
        lines.append("    overrides:")
        lines += [f"      {line}" for line in overrides.strip().splitlines()]
    return "\n".join([
        "version: 1",
        "quantizers:",
        "  q:",
        f"    class: {cls}",
        f"    bits_activations: {bits}",
        f"    bits_weights: {bits}",
        *lines,
        "policies:",
        "  - quantizer: {instance_name: q}",
        f"    starting_epoch: {start}",
        f"    ending_epoch: {end}",
        "",
    ])


def build(text, arch="digits_cnn", seed=0):
    torch.manual_seed(seed)
    model = build_model(arch)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    context = BuildContext(model, optimizer, MaskStore(model), model_info(arch).input_shape, torch.device("cpu"))
    return build_scheduler(parse_schedule_text(text), context), context


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread, so a busy two-core machine's thread contention cannot slow them down."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def digits_batch():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, 1, 8, 8, generator=generator), torch.randint(0, 10, (16,), generator=generator)
