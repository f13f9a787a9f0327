"""The evaluation images of a sensitivity sweep: on the device once, in the layout the model runs fastest on."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, List, Sequence, Tuple

import torch
from torch import nn

from ..core.errors import UserError

Batches = Sequence[Tuple[torch.Tensor, torch.Tensor]]


# On CPU, an activation larger than the C allocator's mmap threshold (32 MiB in glibc) gets fresh
# pages on every call: ResNet-18 at 224x224 spent about a sixth of its evaluation time on that at
# 64 images a batch. At 8 images its largest activation (64 x 112 x 112 floats each) stays below.
CPU_BATCH_PIXELS = 8 * 224 * 224


def eval_batches(model: nn.Module, batches: Batches, device) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """The batches on `device` once, images in the layout the model runs fastest on (no copy when
    already so); for CPU conv nets, large-image batches split (as views) into CPU_BATCH_PIXELS chunks."""
    fast_cpu = channels_last_input(model, device)
    layout = torch.channels_last if fast_cpu else None
    placed = [(_placed(images, device, layout), targets.to(device)) for images, targets in batches]
    return [chunk for batch in placed for chunk in _chunks(batch, fast_cpu)]


def _chunks(batch: Tuple[torch.Tensor, torch.Tensor], split: bool) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    images, targets = batch
    if not split or images.dim() != 4:
        return [batch]
    size = max(1, CPU_BATCH_PIXELS // max(1, images.shape[-2] * images.shape[-1]))
    if len(images) <= size:
        return [batch]
    return list(zip(images.split(size), targets.split(size)))


def channels_last_input(model: nn.Module, device) -> bool:
    """CPU convolution nets run faster on channels_last (NHWC) images and weights."""
    return torch.device(device).type == "cpu" and any(isinstance(m, nn.Conv2d) for m in model.modules())


@contextmanager
def fast_layout(model: nn.Module, device) -> Iterator[None]:
    """Conv2d weights channels_last inside (else each CPU convolution re-lays its weight out per
    call), then the model's own weight tensors back in place: same storage, strides and bits."""
    swapped = _channels_last_weights(model) if channels_last_input(model, device) else []
    try:
        yield
    finally:
        for weight, original in swapped:
            weight.data = original


def _channels_last_weights(model: nn.Module) -> List[Tuple[nn.Parameter, torch.Tensor]]:
    swapped = []
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if isinstance(module, nn.Conv2d) and isinstance(weight, nn.Parameter) \
                and not weight.is_contiguous(memory_format=torch.channels_last):
            swapped.append((weight, weight.data))
            weight.data = weight.data.contiguous(memory_format=torch.channels_last)
    return swapped


def _placed(images: torch.Tensor, device, layout) -> torch.Tensor:
    if layout is None or images.dim() != 4:
        return images.to(device)
    return images.to(device, memory_format=layout)


def validation_batches(loaded, config, samples: int, device, seed: int = 0) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """The first `samples` images of the validation split, batched and moved to `device` once,
    already in the layout eval_batches() picks for this model."""
    from ...datasets import build_datasets, build_loaders

    layout = torch.channels_last if channels_last_input(loaded.model, device) else None
    splits = build_datasets(config, loaded.info.input_shape, loaded.info.num_classes, seed)
    loader = build_loaders(splits, config.batch_size, config.workers, seed).val
    batches, seen = [], 0
    for images, targets in loader:
        take = min(samples - seen, targets.size(0))
        batches.append((_placed(images[:take], device, layout), targets[:take].to(device)))
        seen += take
        if seen >= samples:
            break
    if not batches:
        raise UserError(f"dataset '{config.name}' has no validation images")
    return batches
