"""The fine-tuning settings of a schedule written from a dense checkpoint (`auto`, `sensitivity`'s suggestion)."""
from __future__ import annotations

from typing import Any, Dict, Optional

from ..core.errors import UserError
from ..schedule import parse_schedule_text
from ..schedule.sections import TrainingSection

# Fine-tuning a pruned model starts lower than training it did: the shipped
# fashion_filters_thin schedule fine-tunes at a fifth of its baseline's rate.
FINETUNE_LR_FACTOR = 0.2


def dense_training(payload: Optional[Dict[str, Any]]) -> TrainingSection:
    """The `training:` section the checkpoint's run had (the defaults where it records none)."""
    try:
        return parse_schedule_text((payload or {}).get("schedule_text") or "", "the checkpoint's schedule").training
    except UserError:  # written by an older release and stricter now: only the settings are lost
        return TrainingSection()


def finetune_lr(dense: TrainingSection) -> float:
    return float(f"{dense.lr * FINETUNE_LR_FACTOR:.6g}")
