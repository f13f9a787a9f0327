"""Image transforms shared by the file-backed datasets."""
from __future__ import annotations

from typing import List, Sequence

from torchvision import transforms as T

from .registry import Shape

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _per_channel(stats: Sequence[float], channels: int) -> List[float]:
    if len(stats) == channels:
        return list(stats)
    return [sum(stats) / len(stats)] * channels


def to_model_channels(source_channels: int, shape: Shape) -> List:
    """Grayscale conversion when the model's channel count differs from the data's."""
    channels = shape[0]
    return [] if channels == source_channels else [T.Grayscale(num_output_channels=channels)]


def to_normalised_tensor(mean: Sequence[float], std: Sequence[float], shape: Shape) -> List:
    channels = shape[0]
    return [T.ToTensor(), T.Normalize(_per_channel(mean, channels), _per_channel(std, channels))]


def resize_to(native_size: int, shape: Shape) -> List:
    """A resize only when the model's H/W differ from the data's native square size."""
    size = tuple(shape[1:])
    return [] if size == (native_size, native_size) else [T.Resize(size)]
