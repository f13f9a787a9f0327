"""The low-rank factors of a layer's weight, from torch.linalg.svd of the matrices each method reshapes it into.

svd          Linear (out, in) as it is; a conv as (C_out, C_in*kh*kw): a conv with r filters, then a 1x1 conv.
spatial_svd  a conv as (C_in*kh, C_out*kw) (Jaderberg et al., Tai et al.): a kh x 1 conv with r filters, then
             a 1 x kw conv.
tucker2      a conv's mode-1 (C_in, C_out*kh*kw) and mode-0 (C_out, C_in*kh*kw) unfoldings (HOSVD): a 1x1 conv
             C_in -> r1, the kh x kw core r1 -> r2, a 1x1 conv r2 -> C_out.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn

SVD = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def weight_matrices(layer: nn.Module, method: str) -> List[torch.Tensor]:
    """The matrices whose singular vectors give the factors (one per rank the method takes)."""
    weight = layer.weight.detach()
    if isinstance(layer, nn.Linear):
        return [weight]
    c_out, c_in, kh, kw = weight.shape
    if method == "svd":
        return [weight.reshape(c_out, c_in * kh * kw)]
    if method == "spatial_svd":
        # rows (c, y), columns (o, x): W[o, c, y, x] = sum_k V[k, c, y] H[o, k, x]
        return [weight.permute(1, 2, 0, 3).reshape(c_in * kh, c_out * kw)]
    return [weight.transpose(0, 1).reshape(c_in, c_out * kh * kw), weight.reshape(c_out, c_in * kh * kw)]


def full_ranks(layer: nn.Module, method: str) -> List[int]:
    """The largest rank each matrix has: at these ranks the factorized layer computes what the layer does."""
    return [min(matrix.shape) for matrix in weight_matrices(layer, method)]


def singular_values(layer: nn.Module, method: str) -> List[torch.Tensor]:
    return [torch.linalg.svdvals(matrix.double()) for matrix in weight_matrices(layer, method)]


def factor_weights(layer: nn.Module, method: str, ranks: Sequence[int]) -> List[torch.Tensor]:
    """The weights of the factorized layer's convs (or Linear layers), first to last, at `ranks`."""
    dtype = layer.weight.dtype
    svds = [torch.linalg.svd(matrix.double(), full_matrices=False) for matrix in weight_matrices(layer, method)]
    if method == "tucker2":
        weights = _tucker2(layer.weight.detach().double(), svds, ranks)
    else:
        weights = _two_factors(layer, method, svds[0], ranks[0])
    return [weight.to(dtype) for weight in weights]


def _two_factors(layer: nn.Module, method: str, svd: SVD, rank: int) -> List[torch.Tensor]:
    u, s, vh = svd
    root = s[:rank].sqrt()
    left = u[:, :rank] * root  # (rows, r)
    right = root[:, None] * vh[:rank]  # (r, columns)
    if isinstance(layer, nn.Linear):  # W = left @ right: x -> right x -> left (right x)
        return [right, left]
    c_out, c_in, kh, kw = layer.weight.shape
    if method == "svd":
        return [right.reshape(rank, c_in, kh, kw), left.reshape(c_out, rank, 1, 1)]
    vertical = left.t().reshape(rank, c_in, kh, 1)
    horizontal = right.reshape(rank, c_out, kw).transpose(0, 1).unsqueeze(2)  # (c_out, r, 1, kw)
    return [vertical, horizontal]


def _tucker2(weight: torch.Tensor, svds: List[SVD], ranks: Sequence[int]) -> List[torch.Tensor]:
    r1, r2 = ranks
    u_in, u_out = svds[0][0][:, :r1], svds[1][0][:, :r2]
    core = torch.einsum("oiyx,or,is->rsyx", weight, u_out, u_in)  # (r2, r1, kh, kw)
    c_out, c_in = weight.shape[:2]
    return [u_in.t().reshape(r1, c_in, 1, 1), core, u_out.reshape(c_out, r2, 1, 1)]
