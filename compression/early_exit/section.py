"""The `early_exit:` section (Distiller's --earlyexit_thresholds / --earlyexit_lossweights) and its
checks against the model."""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Set, Tuple

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from ..core.errors import Problem, ScheduleError, UserError, validation_message

if TYPE_CHECKING:  # the section is read without torch; only the checks against a model need it
    from torch import nn

FLAGS = {"thresholds": "--earlyexit-thresholds", "loss_weights": "--earlyexit-lossweights"}


class EarlyExitSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thresholds: List[float] = Field(
        default_factory=list,
        description="One per early exit, in exit order: in evaluation an image leaves at the first exit whose "
                    "softmax entropy (in nats) is below that exit's threshold; the rest reach the final exit.")
    loss_weights: List[float] = Field(
        default_factory=list,
        description="One per early exit, in exit order: training minimises the sum of each exit's cross-entropy "
                    "times its weight, plus the final exit's loss times 1 - (their sum).")
    _lines: Dict[str, int] = PrivateAttr(default_factory=dict)  # key -> YAML line, where the file gave it

    @field_validator("thresholds", "loss_weights", mode="before")
    @classmethod
    def _one_is_a_list_of_one(cls, value):
        return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @field_validator("thresholds")
    @classmethod
    def _finite_thresholds(cls, values: List[float]) -> List[float]:
        if not all(math.isfinite(value) and value >= 0 for value in values):
            raise ValueError("each threshold is an entropy in nats: a finite number >= 0")
        return values

    @field_validator("loss_weights")
    @classmethod
    def _weights_leave_some_for_the_final_exit(cls, values: List[float]) -> List[float]:
        if not all(math.isfinite(value) and value >= 0 for value in values):
            raise ValueError("each weight must be a finite number >= 0")
        if sum(values) >= 1:
            raise ValueError(f"the early exits' weights sum to {sum(values):.4g}; they must sum to less than 1 "
                             "(the final exit's weight is 1 minus their sum)")
        return values

    @model_validator(mode="after")
    def _says_something(self):
        if not self.thresholds and not self.loss_weights:
            raise ValueError("give thresholds (evaluation) and/or loss_weights (training), one per early exit")
        return self

    _flags: Set[str] = PrivateAttr(default_factory=set)  # keys a command-line flag gave

    def located(self, lines: Dict[str, int], flags: Iterable[str] = ()) -> "EarlyExitSection":
        """This section, knowing where each key came from: `lines` (key -> YAML line; "" for the
        section itself) and the keys given by `flags`."""
        self._lines, self._flags = dict(lines), set(flags)
        return self

    def where(self, key: str) -> Tuple[str, Optional[int]]:
        """(path, line) of `key`: the flag that gave it, or its place in the file."""
        if key in self._flags:
            return FLAGS[key], None
        return f"early_exit.{key}", self._lines.get(key, self._lines.get(""))

    def origin(self) -> Tuple[str, Optional[int]]:
        """Where the section came from: the file's `early_exit:` line, or the flag that gave it."""
        if self._flags and self.model_fields_set <= self._flags:
            return FLAGS[_given(self)], None
        return "early_exit", self._lines.get("")


def flag_values(texts: Dict[str, Optional[str]]) -> Dict[str, List[float]]:
    """{"thresholds"/"loss_weights": the numbers of each flag given}; a bad value is a UserError naming its flag."""
    values = {}
    for key, text in texts.items():
        if text is not None:
            try:
                values[key] = parse_float_list(text)
            except ValueError as err:
                raise UserError(f"{FLAGS[key]}: {err}") from None
    return values


def with_flags(section: Optional[EarlyExitSection], flags: Dict[str, List[float]]) -> EarlyExitSection:
    """`section` (None: none in the file) with the flags' values over its own, validated like the file."""
    values = section.model_dump(exclude_unset=True) if section is not None else {}
    try:
        updated = EarlyExitSection.model_validate({**values, **flags})
    except ValidationError as err:
        error = err.errors()[0]
        key = error["loc"][0] if error["loc"] else ""
        where = FLAGS[key] if key in flags else ("early_exit" if section is not None else " / ".join(FLAGS.values()))
        raise UserError(f"{where}: {validation_message(error)}") from None
    lines = dict(section._lines) if section is not None else {}
    return updated.located({key: line for key, line in lines.items() if key not in flags}, flags)


def parse_float_list(text: str) -> List[float]:
    """'0.4', '1.2,0.9' or '1.2 0.9' -> floats (ValueError otherwise)."""
    parts = [part for part in re.split(r"[,\s]+", text.strip()) if part]
    if not parts:
        raise ValueError("expected one number per early exit, such as 0.4 or 1.2,0.9")
    try:
        return [float(part) for part in parts]
    except ValueError:
        raise ValueError(f"expected numbers separated by commas, such as 1.2,0.9, got {text!r}") from None


def early_exit_models() -> List[str]:
    from ..models import MODELS

    return [entry.name for entry in MODELS if entry.extra.get("early_exits")]


def check_early_exit(section: Optional[EarlyExitSection], model: nn.Module, arch: str,
                     source: str = "schedule") -> None:
    """One threshold and one weight per early exit of the model, and a model that has exits."""
    if section is None:
        return
    from ..models.exits import count_exits, exit_points

    exits = count_exits(model)
    problems: List[Problem] = []
    if exits == 0:
        path, line = section.origin()
        problems.append(Problem(path, f"model '{arch}' has no early exits; models with exits: "
                                      f"{', '.join(early_exit_models())}", line))
    else:
        for key in ("thresholds", "loss_weights"):
            values = getattr(section, key)
            if values and len(values) != exits:
                path, line = section.where(key)
                problems.append(Problem(path, f"{len(values)} values for the {exits} early exit"
                                              f"{'s' if exits > 1 else ''} of '{arch}' "
                                              f"({', '.join(exit_points(model))}): give one per early exit, "
                                              "in exit order", line))
    if problems:
        raise ScheduleError(problems, source)


def _given(section: EarlyExitSection) -> str:
    return "thresholds" if section.thresholds else "loss_weights"
