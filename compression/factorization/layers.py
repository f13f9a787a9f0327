"""The module that takes a factorized layer's place, built from the layer, a method and ranks."""
from __future__ import annotations

from typing import List, Sequence, Tuple

from torch import nn


class FactorizedLayer(nn.Sequential):
    """A Conv2d or Linear layer replaced by a product of smaller ones; `method` and `ranks` say which.

    Its parameters are those of its parts (`conv2.0.weight`, `conv2.1.weight`, `conv2.1.bias`); the
    original bias is on the last part. (Keyword arguments keep nn.Sequential's positional signature,
    which its slicing calls.)
    """

    def __init__(self, *layers: nn.Module, method: str = "", ranks: Sequence[int] = ()):
        super().__init__(*layers)
        self.method = method
        self.ranks = [int(rank) for rank in ranks]

    def extra_repr(self) -> str:
        return f"method={self.method}, ranks={self.ranks}"


def factorized_structure(layer: nn.Module, method: str, ranks: Sequence[int]) -> FactorizedLayer:
    """The factorized layer's parts, their weights left as initialized (the factors are copied in afterwards)."""
    options = {"device": layer.weight.device, "dtype": layer.weight.dtype}
    has_bias = layer.bias is not None
    if isinstance(layer, nn.Linear):
        rank = ranks[0]
        parts = [nn.Linear(layer.in_features, rank, bias=False, **options),
                 nn.Linear(rank, layer.out_features, bias=has_bias, **options)]
    elif method == "svd":
        rank = ranks[0]
        parts = [_conv_like(layer, layer.in_channels, rank, layer.kernel_size, layer.stride, layer.padding,
                            layer.dilation),
                 nn.Conv2d(rank, layer.out_channels, 1, bias=has_bias, **options)]
    elif method == "spatial_svd":
        parts = _spatial(layer, ranks[0], has_bias)
    else:
        r1, r2 = ranks
        parts = [nn.Conv2d(layer.in_channels, r1, 1, bias=False, **options),
                 _conv_like(layer, r1, r2, layer.kernel_size, layer.stride, layer.padding, layer.dilation),
                 nn.Conv2d(r2, layer.out_channels, 1, bias=has_bias, **options)]
    return FactorizedLayer(*parts, method=method, ranks=ranks)


def _spatial(layer: nn.Conv2d, rank: int, has_bias: bool) -> List[nn.Module]:
    """kh x 1 then 1 x kw: each keeps the original stride, padding and dilation along its own axis."""
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.stride, layer.dilation
    vertical_padding, horizontal_padding = _split_padding(layer.padding)
    vertical = _conv_like(layer, layer.in_channels, rank, (kh, 1), (sh, 1), vertical_padding, (dh, 1))
    horizontal = _conv_like(layer, rank, layer.out_channels, (1, kw), (1, sw), horizontal_padding, (1, dw),
                            bias=has_bias)
    return [vertical, horizontal]


def _split_padding(padding) -> Tuple:
    if isinstance(padding, str):  # 'same' / 'valid' mean the same along each axis
        return padding, padding
    ph, pw = padding
    return (ph, 0), (0, pw)


def _conv_like(layer: nn.Conv2d, c_in: int, c_out: int, kernel, stride, padding, dilation,
               bias: bool = False) -> nn.Conv2d:
    """A conv padded as `layer` is (zeros, reflect, ...): padding commutes with a conv along
    the other axis and with a 1x1 conv, so each part pads the axis it convolves."""
    return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, bias=bias,
                     padding_mode=layer.padding_mode, device=layer.weight.device, dtype=layer.weight.dtype)
