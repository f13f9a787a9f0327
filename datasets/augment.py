"""Training augmentation named in a schedule: torchvision.transforms.v2 classes and their arguments.

A step is a transform's name (`RandomHorizontalFlip`) or a one-key mapping of the name to its
keyword arguments (`{RandomRotation: {degrees: 10}}`). Mistakes raise ValueError with a one-line
message naming the step, so a schedule reports them where they are written.
"""
from __future__ import annotations

import difflib
import inspect
import re
from typing import Any, Dict, List, Sequence, Tuple

from compressor.compression.core.errors import did_you_mean

# v2 transforms a list of image steps cannot use: they take other transforms or callables, act on
# boxes, batches or videos, return several images, or change the image type the pipeline relies on
# (mean/std are the dataset's own options, applied after augmentation)
EXCLUDED = frozenset({
    "Transform", "Compose", "RandomApply", "RandomChoice", "RandomOrder", "Lambda", "LinearTransformation",
    "ClampBoundingBoxes", "ClampKeyPoints", "ConvertBoundingBoxFormat", "SanitizeBoundingBoxes",
    "SanitizeKeyPoints", "SetClampingMode", "RandomIoUCrop", "CutMix", "MixUp", "FiveCrop", "TenCrop",
    "UniformTemporalSubsample", "ToPILImage", "ToPureTensor", "ToTensor", "PILToTensor", "ToImage", "ToDtype",
    "ConvertImageDtype", "Normalize",
})
SHOWN = 8  # valid names listed after an unknown one


def transform_classes() -> Dict[str, type]:
    """The v2 transforms an augment step may name."""
    from torchvision.transforms import v2

    return {name: value for name, value in vars(v2).items()
            if inspect.isclass(value) and issubclass(value, v2.Transform) and name not in EXCLUDED}


def _name_and_arguments(step: Any) -> Tuple[str, Dict[str, Any]]:
    if isinstance(step, str):
        return step, {}
    if isinstance(step, dict) and len(step) == 1:
        name, arguments = next(iter(step.items()))
        if arguments is None:
            arguments = {}
        if isinstance(name, str) and isinstance(arguments, dict):
            return name, arguments
        if isinstance(name, str):
            raise ValueError(f"augment {name}: its arguments must be a mapping: {{{name}: {{argument: value}}}}")
    raise ValueError("an augment step is a transform name or {name: {argument: value}}")


def _check_arguments(name: str, cls: type, arguments: Dict[str, Any]) -> None:
    parameters = inspect.signature(cls).parameters
    keywords = [key for key, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    for key in arguments:
        if not isinstance(key, str) or (key not in keywords and not takes_any):
            message = did_you_mean(str(key), keywords, "argument")
            message = message.replace("(none available)", "(it takes none)").replace("(available:", "(takes:")
            raise ValueError(f"augment {name}: {message}")
    missing = [key for key in keywords if parameters[key].default is inspect.Parameter.empty
               and key not in arguments]
    if missing:
        raise ValueError(f"augment {name}: missing argument {', '.join(missing)} "
                         f"(write {{{name}: {{{missing[0]}: ...}}}})")


def build_step(step: Any):
    """The transform of one augment step; ValueError naming it when the name or an argument is wrong."""
    name, arguments = _name_and_arguments(step)
    classes = transform_classes()
    if name not in classes:
        raise ValueError(unknown_transform(name, classes))
    cls = classes[name]
    _check_arguments(name, cls, arguments)
    try:
        return cls(**arguments)
    except (TypeError, ValueError) as error:
        raise ValueError(f"augment {name}: {_one_line(error)}") from None


def unknown_transform(name: str, choices: Sequence[str]) -> str:
    """did_you_mean, also suggesting names holding every word of `name` (RandomFlip: RandomHorizontalFlip)."""
    choices = sorted(choices)
    words = [word.lower() for word in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", name)]
    related = [c for c in choices if words and all(word in c.lower() for word in words)]
    lowered = {c.lower(): c for c in choices}
    close = [lowered[c] for c in difflib.get_close_matches(name.lower(), lowered, n=3, cutoff=0.6)]
    suggested = list(dict.fromkeys(related[:3] + close))[:3]
    message = did_you_mean(name, choices, "augment transform", limit=SHOWN)
    head = f"unknown augment transform '{name}'"
    tail = message[message.index(" (available:"):]
    if suggested:
        head += "; did you mean " + " or ".join(f"'{c}'" for c in suggested) + "?"
    return head + tail


def build_augment(steps: Sequence[Any]) -> List:
    return [build_step(step) for step in steps]


def step_name(transform) -> str:
    return type(transform).__name__


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
