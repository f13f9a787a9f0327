"""A model rebuilt from a checkpoint's record alone: its arch, its thinning plan and factorized layers,
its weights and its QAT quantizers (no schedule is parsed)."""
from __future__ import annotations

from typing import Any, Dict, Tuple

import torch
from torch import nn

from .core.errors import UserError
from .factorization import replay_structure
from .folding import replay_folding
from .models import ModelInfo, build_model, model_info
from .pruning.masks import zero_pruned
from .quantization.qat import install_from_record, mark_weights_quantized
from .thinning.replay import apply_plan


def model_from_checkpoint(payload: Dict[str, Any]) -> Tuple[nn.Module, ModelInfo]:
    """Rebuild the model named in the checkpoint (thinned and factorized as recorded, with its QAT quantizers)
    with its weights."""
    arch = payload.get("arch")
    if not isinstance(arch, str) or not isinstance(payload.get("model_state"), dict):
        raise UserError("the checkpoint has no model to rebuild (no 'arch' name or no 'model_state')")
    info = model_info(arch, payload.get("input_shape"), payload.get("num_classes"))
    model = build_model(arch, num_classes=info.num_classes, input_shape=info.input_shape)
    restore_structure(model, payload, info.input_shape)
    try:
        model.load_state_dict(payload["model_state"])
    except (RuntimeError, KeyError) as err:
        raise UserError(f"checkpoint weights do not fit model '{arch}': {str(err).splitlines()[0]}") from None
    _zero_forward_only_pruned(model, payload.get("masks"))
    if "qat" not in payload:
        raise UserError("the checkpoint has no QAT record (every checkpoint written since format version 2 has "
                        "one): it is damaged or was not written by compressor")
    install_from_record(model, payload["qat"])  # a QAT model evaluates with its quantizers, as trained
    mark_weights_quantized(model, payload.get("quantized_weights") or [])  # a packed file's, stored as computed
    return model, info


def _zero_forward_only_pruned(model: nn.Module, masks: Any) -> None:
    """Forward-only masks (mask_on_forward_only, use_double_copies) leave the pruned weights' dense values in
    the file, for training to go on from; the model the file describes, the one validated and reported, is the
    masked one. (`train --resume` and `--checkpoint` load the weights as stored.)"""
    if not isinstance(masks, dict) or not isinstance(masks.get("masks"), dict):
        return
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in masks.get("forward_only") or []:
            param, keep = params.get(name), masks["masks"].get(name)
            if param is not None and isinstance(keep, torch.Tensor) and keep.shape == param.shape:
                zero_pruned(param, keep.to(device=param.device, dtype=torch.bool))


def restore_structure(model: nn.Module, payload: Dict[str, Any], input_shape) -> None:
    """Thin and factorize a freshly built model as the checkpoint records, in the order training did, then
    fold its BatchNorms as recorded (in training, or by the int8 kernels of a packed int8 model), so that its
    weights fit (a checkpoint without a `factorization` record has no factorized layer)."""
    device = next((param.device for param in model.parameters()), torch.device("cpu"))
    example = torch.zeros(1, *input_shape, device=device)
    replay_structure(model, payload.get("thinning") or [], payload.get("factorization") or [],
                     lambda ops: apply_plan(model, ops, example))
    replay_folding(model, payload.get("folded_batchnorm") or {})
