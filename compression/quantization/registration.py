"""PostTrainLinearQuantizer in a schedule's `quantizers:` section (applied by `compressor quantize`)."""
from __future__ import annotations

from ..core.components import QUANTIZERS
from ..core.errors import UserError
from .ptq_config import PostTrainConfig


class _PostTrainQuantizer:
    def __init__(self, config: PostTrainConfig, context):
        self.config = config

    def policy(self, spec):
        raise UserError("PostTrainLinearQuantizer quantizes a trained model: run `compressor quantize "
                        "--checkpoint CKPT --stats STATS --schedule FILE` instead of a training policy")


QUANTIZERS.add("PostTrainLinearQuantizer", _PostTrainQuantizer, PostTrainConfig,
               "Post-training range-linear quantization from activation statistics (compressor quantize).")


def post_train_config(schedule) -> PostTrainConfig:
    """The schedule's PostTrainLinearQuantizer settings, or the defaults when it has none."""
    specs = [spec for spec in schedule.components.get("quantizers", {}).values()
             if spec.class_name == "PostTrainLinearQuantizer"]
    if len(specs) > 1:
        raise UserError("the schedule defines more than one PostTrainLinearQuantizer: keep one")
    if not specs:
        return PostTrainConfig()
    spec = specs[0]
    return spec.config.model_copy(deep=True).located(f"{schedule.source}: {spec.path}", spec.lines)
