"""The `args:` a policy may carry, per component kind (Distiller's names)."""
from __future__ import annotations

from typing import Dict, Optional

from pydantic import BaseModel, ConfigDict, Field

from ..core.registry import NoArgs


class PruningPolicyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    levels: Optional[Dict[str, float]] = Field(None, description="Per-parameter sparsity levels.")
    keep_mask: bool = Field(False, description="Keep masking after the policy's last epoch.")
    mini_batch_pruning_frequency: int = Field(0, ge=0, description="Prune every N mini-batches (0: per epoch).")
    mask_on_forward_only: bool = Field(False, description="Mask weights for the forward pass only.")
    mask_gradients: bool = Field(False, description="Zero the gradients of pruned weights.")
    use_double_copies: bool = Field(False, description="Keep dense weights, mask a copy for forward.")
    discard_masks_at_minibatch_end: bool = Field(False, description="Drop masks after each mini-batch.")
    skip_first_minibatch: bool = Field(False, description="Do not prune on the first mini-batch.")
    fold_batchnorm: bool = Field(False, description="Fold BatchNorm into the preceding layer before ranking.")


class RegularizationPolicyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_mask: bool = Field(False, description="Turn the regularizer's zeros into a mask at epoch end.")


POLICY_ARGS: Dict[str, type] = {
    "pruner": PruningPolicyArgs,
    "regularizer": RegularizationPolicyArgs,
    "quantizer": NoArgs,
    "lr_scheduler": NoArgs,
    "extension": NoArgs,
}
